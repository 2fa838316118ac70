"""The composition root (STYLE lesson 7): config in, wired objects out.

Nothing else in ccagent builds adapters, stores or engines; tests build the
same objects through here with their own config.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine

from ccagent.app.metrics import Metrics
from ccagent.app.pipeline import Pipeline, Translator
from ccagent.config import Config
from ccagent.core.legs.tracker import CallTracker
from ccagent.core.mapping import EmployeeMapper
from ccagent.storage import db
from ccagent.storage.journal import EventJournal
from ccagent.storage.repositories import CallStore


@dataclass
class Wiring:
    engine: Engine
    pipeline: Pipeline
    metrics: Metrics


def make_translator(config: Config, pbx: str) -> Translator:
    if pbx == "asterisk":
        from ccagent.pbx.ami.translate import AmiTranslator

        return AmiTranslator(
            project_variable=config.legs.project_variable,
            extension_pattern=config.legs.extension_pattern,
            recording_variable=config.legs.recording_variable,
        )
    if pbx == "freeswitch":
        from ccagent.pbx.esl.translate import FsTranslator

        return FsTranslator(
            project_variable=config.legs.project_variable,
            extension_pattern=config.legs.extension_pattern,
            recording_variable=config.legs.recording_variable,
        )
    raise ValueError(f"unknown pbx {pbx!r} (asterisk or freeswitch)")


def make_mapper(config: Config) -> EmployeeMapper:
    e = config.employees
    return EmployeeMapper(
        e.mapping,
        save_all_calls=e.save_all_calls,
        fallback_employee=e.fallback_employee,
        responsible_on_missed_group_calls=e.responsible_on_missed_group_calls,
    )


def build(
    config: Config,
    *,
    pbx: str | None = None,
    db_url: str | None = None,
    upgrade: bool = True,
    journal_open_calls: bool = True,
    metrics: Metrics | None = None,
) -> Wiring:
    """Wire a pipeline for ``pbx`` on ``db_url`` (defaults from config); migrates the schema first."""
    pbx = pbx or config.pbx.type
    url = db_url or config.database.url
    engine = db.make_engine(url, echo=config.database.echo)
    if upgrade:
        db.upgrade(engine)
    metrics = metrics or Metrics()
    pipeline = Pipeline(
        pbx=pbx,
        translator=make_translator(config, pbx),
        tracker=CallTracker(
            pbx=pbx,
            project_variable=config.legs.project_variable,
            recording_variable=config.legs.recording_variable,
        ),
        store=CallStore(engine),
        # ingest resumes only its own open calls, never a running daemon's
        journal=EventJournal(engine, owner="daemon" if journal_open_calls else "ingest"),
        mapper=make_mapper(config),
        metrics=metrics,
        journal_open_calls=journal_open_calls,
    )
    return Wiring(engine=engine, pipeline=pipeline, metrics=metrics)
