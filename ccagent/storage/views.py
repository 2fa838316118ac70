"""Column descriptions of the report views, for typed reads (SPEC R-REP-2).

The views themselves are created by Alembic migrations (SQL frozen in the
revision that introduced them); these ``Table`` objects only tell SQLAlchemy
the column types so reads give UTC datetimes, bools and floats on both
dialects.  They live in their own ``MetaData`` so ``create_all`` and
``alembic check`` never mistake them for tables.  docs/reports.md documents
every column; tests compare these definitions with the real views.
"""

from __future__ import annotations

from sqlalchemy import JSON, Boolean, Column, Float, Integer, MetaData, String, Table

from ccagent.storage.models import UtcDateTime

view_metadata = MetaData()

report_calls = Table(
    "report_calls",
    view_metadata,
    Column("call_id", String),
    Column("pbx", String),
    Column("direction", String),
    Column("disposition", String),
    Column("caller", String),
    Column("caller_name", String),
    Column("callee", String),
    Column("queue", String),
    Column("project", String),
    Column("started_at", UtcDateTime),
    Column("ended_at", UtcDateTime),
    Column("legs_count", Integer),
    Column("answered_legs", Integer),
    Column("ring_s", Float),
    Column("talk_s", Float),
    Column("first_extension", String),
    Column("first_employee", String),
    Column("last_extension", String),
    Column("last_employee", String),
    Column("results", JSON),
    Column("reconciled", Boolean),
)

report_call_legs = Table(
    "report_call_legs",
    view_metadata,
    Column("call_id", String),
    Column("leg_seq", Integer),
    Column("pbx", String),
    Column("direction", String),
    Column("caller", String),
    Column("caller_name", String),
    Column("callee", String),
    Column("extension", String),
    Column("employee", String),
    Column("answered", Boolean),
    Column("disposition", String),
    Column("transfer_from_leg", Integer),
    Column("transfer_kind", String),
    Column("role", String),
    Column("queue", String),
    Column("project", String),
    Column("ring_s", Float),
    Column("talk_s", Float),
    Column("started_at", UtcDateTime),
    Column("answered_at", UtcDateTime),
    Column("ended_at", UtcDateTime),
    Column("hangup_cause", Integer),
    Column("hangup_by", String),
    Column("channel", String),
    Column("reconciled", Boolean),
    Column("recording", String),
)

report_agent_offers = Table(
    "report_agent_offers",
    view_metadata,
    Column("offer_id", Integer),
    Column("call_id", String),
    Column("pbx", String),
    Column("direction", String),
    Column("caller", String),
    Column("extension", String),
    Column("employee", String),
    Column("queue", String),
    Column("offered_at", UtcDateTime),
    Column("ring_s", Float),
    Column("outcome", String),
)

report_missed_calls = Table(
    "report_missed_calls",
    view_metadata,
    Column("call_id", String),
    Column("pbx", String),
    Column("disposition", String),
    Column("caller", String),
    Column("caller_name", String),
    Column("callee", String),
    Column("queue", String),
    Column("extension", String),
    Column("employee", String),
    Column("project", String),
    Column("started_at", UtcDateTime),
    Column("ended_at", UtcDateTime),
    Column("wait_s", Float),
    Column("offers_count", Integer),
    Column("reconciled", Boolean),
)

report_agent_states = Table(
    "report_agent_states",
    view_metadata,
    Column("state_id", Integer),
    Column("pbx", String),
    Column("extension", String),
    Column("employee", String),
    Column("queue", String),
    Column("action", String),
    Column("reason", String),
    Column("at", UtcDateTime),
)

report_projects = Table(
    "report_projects",
    view_metadata,
    Column("project_id", String),
    Column("name", String),
    Column("type", String),
    Column("mode", String),
    Column("status", String),
    Column("error_reason", String),
    Column("queue", String),
    Column("caller_id", String),
    Column("created_at", UtcDateTime),
    Column("started_at", UtcDateTime),
    Column("completed_at", UtcDateTime),
    Column("contacts", Integer),
    Column("reached", Integer),
    Column("not_reached", Integer),
    Column("will_call_again", Integer),
    Column("not_called", Integer),
    Column("attempts", Integer),
    Column("processed_pct", Float),
)

VIEWS: dict[str, Table] = {t.name: t for t in view_metadata.sorted_tables}
VIEW_NAMES: frozenset[str] = frozenset(VIEWS)
