"""The composition root (STYLE lesson 7): config in, wired objects out.

The PBX adapter is picked here, once, from ``pbx.type`` (``ccagent.pbx.registry``); the daemon,
the pipeline, the dialer runtime, ingest and the demo get everything PBX-specific from it through
their constructors.  Nothing else in ccagent builds adapters, sessions, translators, stores or
engines; tests build the same objects through here with their own config.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from ccagent.app.daemon import Daemon, Notifier
from ccagent.app.dialer_runtime import DialerRuntime
from ccagent.app.metrics import Metrics
from ccagent.app.pipeline import Pipeline
from ccagent.app.wiring import Wiring
from ccagent.config import Config, ConfigSource
from ccagent.core.legs.tracker import CallTracker
from ccagent.core.mapping import EmployeeMapper
from ccagent.pbx.port import Live, PbxAdapter
from ccagent.pbx.registry import adapter_for
from ccagent.storage import db
from ccagent.storage.journal import EventJournal
from ccagent.storage.repositories import CallStore

__all__ = [
    "Wiring",
    "attach_dialer",
    "build",
    "build_daemon",
    "daemon_parts",
    "make_mapper",
    "pbx_adapter",
    "run_daemon",
]

log = logging.getLogger(__name__)


def make_mapper(config: Config) -> EmployeeMapper:
    e = config.employees
    return EmployeeMapper(
        e.mapping,
        save_all_calls=e.save_all_calls,
        fallback_employee=e.fallback_employee,
        responsible_on_missed_group_calls=e.responsible_on_missed_group_calls,
    )


def pbx_adapter(config: Config, pbx: str | None = None) -> PbxAdapter:
    """The adapter of ``pbx`` (default: ``pbx.type``), bound to ``config``: the one choice of PBX."""
    return adapter_for(config, pbx)


def build(
    config: Config,
    *,
    pbx: str | None = None,
    adapter: PbxAdapter | None = None,
    db_url: str | None = None,
    upgrade: bool = True,
    journal_open_calls: bool = True,
    metrics: Metrics | None = None,
) -> Wiring:
    """Wire a pipeline for ``pbx`` (or an ``adapter`` already chosen) on ``db_url`` (defaults from
    config); migrates the schema first."""
    adapter = adapter or pbx_adapter(config, pbx)
    url = db_url or config.database.url
    engine = db.make_engine(url, echo=config.database.echo)
    if upgrade:
        db.upgrade(engine)
    metrics = metrics or Metrics()
    pipeline = Pipeline(
        pbx=adapter.name,
        translator=adapter.translator,
        tracker=CallTracker(
            pbx=adapter.name,
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
    return Wiring(engine=engine, pipeline=pipeline, metrics=metrics, adapter=adapter)


def daemon_parts(
    config: Config, *, clock: Callable[[], float] = time.time, wiring: Wiring | None = None
) -> tuple[Wiring, Live]:
    """The pipeline and the PBX session, step and originator a :class:`Daemon` is built from."""
    wiring = wiring or build(config)
    live = wiring.adapter.live(wiring.pipeline, clock=clock, queue_size=config.daemon.queue_size)
    return wiring, live


def build_daemon(
    config: Config,
    *,
    clock: Callable[[], float] = time.time,
    notifier: Notifier | None = None,
    wiring: Wiring | None = None,
) -> Daemon:
    """The live daemon of ``ccagent run`` (without the dialer: see :func:`attach_dialer`)."""
    wiring, live = daemon_parts(config, clock=clock, wiring=wiring)
    limit = config.daemon.write_failure_limit_s
    return Daemon(wiring, live, clock=clock, notifier=notifier, write_failure_limit_s=limit)


def attach_dialer(config: Config, daemon: Daemon) -> DialerRuntime:
    """Wire the dialer into ``daemon`` before it runs: the outbox a previous run left is adopted
    first, so the reconnect's channel list and journaled calls can settle it (R-SAFE-2)."""
    runtime = DialerRuntime(
        engine=daemon.wiring.engine,
        clock=daemon.clock,
        originator=daemon.live.originator,
        dial_plan=daemon.adapter.dial_plan,
        projects=config.projects,
        project_variable=config.legs.project_variable,
    )
    runtime.dialer.restore()
    runtime.sync_projects()
    daemon.pipeline.event_listeners.append(runtime.dialer.on_event)
    daemon.commit_listeners.append(runtime.on_calls)
    daemon.tickers.append(runtime.tick)
    daemon.metrics.watch_dialer(runtime.dialer.engine)
    return runtime


def start_line(config: Config, source: ConfigSource | None = None) -> str:
    """What the daemon says first: enough to tell, from the journal alone, which build ran with
    which config against which database and PBX (the password masked where the URL is shown)."""
    from ccagent import package_version
    from ccagent.config import redact_url

    pbx = dict(config.pbx)[config.pbx.type]  # the connection section named by pbx.type
    return (
        f"ccagent {package_version()} starting: config {source.describe() if source else 'given'}, "
        f"database {redact_url(config.database.url)}, "
        f"PBX {config.pbx.type} {pbx.host}:{pbx.port}"
    )


def run_daemon(config: Config, *, source: ConfigSource | None = None) -> int:
    """``ccagent run``: the daemon with the dialer, until SIGTERM; returns the exit code."""
    from os import EX_CANTCREAT, EX_CONFIG, EX_UNAVAILABLE

    from ccagent.config import redact_url
    from ccagent.storage.db import explain_error

    log.info("%s", start_line(config, source))
    try:
        daemon = build_daemon(config)
        attach_dialer(config, daemon)
    except Exception as exc:
        explained = explain_error(exc)
        if explained is None:
            raise
        code, reason, transient = explained
        log.error("database %s %s", redact_url(config.database.url), reason)
        # systemd restarts us on 69 (the server may come back); 78 stops the loop
        # (RestartPreventExitStatus): no restart mends a file that is not a database;
        # 73: a database that refuses writes (read-only file, no grants), as the daemon's probe says
        if code == EX_CANTCREAT:
            return code
        return EX_UNAVAILABLE if transient else EX_CONFIG
    if port := config.daemon.metrics_port:
        from prometheus_client import start_http_server

        start_http_server(port, addr=config.daemon.metrics_address, registry=daemon.metrics.registry)
    return asyncio.run(daemon.run())
