"""Reads of the report views for ``ccagent report`` (SPEC R-REP-2, R-REP-3).

Reports read the documented views, never the tables, so what staff see in
``psql`` and what the CLI prints are the same columns.  The period is
half-open ``[date_from, date_to)`` on ``started_at``, given as aware instants:
the caller decides which zone a date means (``--tz``), storage only compares
UTC instants, so the same filter selects the same rows on SQLite (UTC text)
and PostgreSQL (``timestamptz``) whatever the session's zone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, Engine, Select, Table, exists, select

from ccagent.storage.views import report_call_legs, report_calls


@dataclass(frozen=True, slots=True)
class ReportFilters:
    """What a report keeps.  Within one field the values are alternatives (any of them); the
    fields combine (all of them).  An empty tuple does not filter."""

    date_from: datetime | None = None
    date_to: datetime | None = None
    extensions: tuple[str, ...] = ()
    employees: tuple[str, ...] = ()
    queues: tuple[str, ...] = ()
    projects: tuple[str, ...] = ()
    dispositions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        # A naive bound would be read as UTC on one dialect and as the session zone on the other.
        for name in ("date_from", "date_to"):
            value = getattr(self, name)
            if value is not None and value.tzinfo is None:
                raise ValueError(f"{name}: give a time zone (e.g. 2024-05-01T00:00:00+00:00)")


def _in(column: Any, values: Sequence[str]) -> ColumnElement[bool]:
    return column == values[0] if len(values) == 1 else column.in_(values)


def _period(stmt: Select[Any], v: Table, f: ReportFilters) -> Select[Any]:
    if f.date_from is not None:
        stmt = stmt.where(v.c.started_at >= f.date_from.astimezone(UTC))
    if f.date_to is not None:
        stmt = stmt.where(v.c.started_at < f.date_to.astimezone(UTC))
    return stmt


class ReportRepo:
    """The rows of ``report_call_legs`` and ``report_calls`` a report shows, oldest first."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def _rows(self, stmt: Select[Any]) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            return [dict(row) for row in conn.execute(stmt).mappings()]

    def legs(self, f: ReportFilters) -> list[dict[str, Any]]:
        """Legs started in the period that match every given filter, on the leg's own columns."""
        v = report_call_legs
        stmt = _period(select(v), v, f)
        for column, values in (
            (v.c.extension, f.extensions),
            (v.c.employee, f.employees),
            (v.c.queue, f.queues),
            (v.c.project, f.projects),
            (v.c.disposition, f.dispositions),
        ):
            if values:
                stmt = stmt.where(_in(column, values))
        return self._rows(stmt.order_by(v.c.started_at, v.c.call_id, v.c.leg_seq))

    def calls(self, f: ReportFilters) -> list[dict[str, Any]]:
        """Calls started in the period.  Extension, employee and queue keep a call when ANY of its
        legs matches (a call transferred from 101 to 102 is 102's call too, a call that went
        through two queues belongs to both); project and disposition are the call's own."""
        v = report_calls
        legs = report_call_legs
        stmt = _period(select(v), v, f)
        for column, values in (
            (legs.c.extension, f.extensions),
            (legs.c.employee, f.employees),
            (legs.c.queue, f.queues),
        ):
            if values:
                stmt = stmt.where(exists().where(legs.c.call_id == v.c.call_id).where(_in(column, values)))
        if f.projects:
            stmt = stmt.where(_in(v.c.project, f.projects))
        if f.dispositions:
            stmt = stmt.where(_in(v.c.disposition, f.dispositions))
        return self._rows(stmt.order_by(v.c.started_at, v.c.call_id))
