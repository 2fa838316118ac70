"""Initial store: calls, legs, agent offers, agent states, event journal and report views.

Revision ID: 0001
Revises:
Create Date: 2025-01-01 00:00:00

The view SQL is frozen here (not imported) so this revision builds the same
schema forever; a later change to a view is a new revision that drops and
recreates it.  It is written to run unchanged on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC_DT = sa.DateTime(timezone=True)

VIEWS_SQL: dict[str, str] = {
    "report_call_legs": """
CREATE VIEW report_call_legs AS
SELECT l.call_id, l.leg_seq, c.pbx, l.direction, l.caller, l.caller_name, l.callee,
       l.extension, l.employee, l.answered, l.disposition, l.transfer_from_leg, l.transfer_kind,
       l.role, l.queue, l.project, l.ring_s, l.talk_s, l.started_at, l.answered_at, l.ended_at,
       l.hangup_cause, l.hangup_by, l.channel, l.reconciled
FROM call_legs l
JOIN calls c ON c.call_id = l.call_id
""",
    "report_calls": """
CREATE VIEW report_calls AS
SELECT c.call_id, c.pbx, c.direction, c.disposition, c.caller, f.caller_name, c.callee, f.queue,
       c.project, c.started_at, c.ended_at,
       COALESCE(agg.legs_count, 0) AS legs_count,
       COALESCE(agg.answered_legs, 0) AS answered_legs,
       f.ring_s AS ring_s,
       COALESCE(agg.talk_s, 0.0) AS talk_s,
       f.extension AS first_extension, f.employee AS first_employee,
       z.extension AS last_extension, z.employee AS last_employee,
       c.results, c.reconciled
FROM calls c
LEFT JOIN (
    SELECT call_id, COUNT(*) AS legs_count,
           SUM(CASE WHEN answered THEN 1 ELSE 0 END) AS answered_legs,
           SUM(talk_s) AS talk_s, MAX(leg_seq) AS last_seq
    FROM call_legs GROUP BY call_id
) agg ON agg.call_id = c.call_id
LEFT JOIN call_legs f ON f.call_id = c.call_id AND f.leg_seq = 0
LEFT JOIN call_legs z ON z.call_id = c.call_id AND z.leg_seq = agg.last_seq
""",
    "report_agent_offers": """
CREATE VIEW report_agent_offers AS
SELECT o.id AS offer_id, o.call_id, c.pbx, c.direction, c.caller, o.extension, o.employee, o.queue,
       o.offered_at, o.ring_s, o.outcome
FROM agent_offers o
JOIN calls c ON c.call_id = o.call_id
""",
    "report_missed_calls": """
CREATE VIEW report_missed_calls AS
SELECT c.call_id, c.pbx, c.disposition, c.caller, f.caller_name, c.callee, f.queue, f.extension,
       f.employee, c.project, c.started_at, c.ended_at, f.ring_s AS wait_s,
       (SELECT COUNT(*) FROM agent_offers o WHERE o.call_id = c.call_id) AS offers_count,
       c.reconciled
FROM calls c
LEFT JOIN call_legs f ON f.call_id = c.call_id AND f.leg_seq = 0
WHERE c.direction = 'inbound' AND c.disposition IN ('missed', 'abandoned')
""",
    "report_agent_states": """
CREATE VIEW report_agent_states AS
SELECT s.id AS state_id, s.pbx, s.extension, s.employee, s.queue, s.action, s.reason, s.at
FROM agent_states s
""",
}


def upgrade() -> None:
    op.create_table(
        "calls",
        sa.Column("call_id", sa.String(length=64), nullable=False),
        sa.Column("pbx", sa.String(length=16), nullable=False),
        sa.Column("direction", sa.String(length=16), nullable=False),
        sa.Column("disposition", sa.String(length=16), nullable=False),
        sa.Column("caller", sa.String(length=128), nullable=True),
        sa.Column("callee", sa.String(length=128), nullable=True),
        sa.Column("project", sa.String(length=128), nullable=True),
        sa.Column("started_at", UTC_DT, nullable=False),
        sa.Column("ended_at", UTC_DT, nullable=False),
        sa.Column("results", sa.JSON(), nullable=False),
        sa.Column("reconciled", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("call_id", name=op.f("pk_calls")),
    )
    op.create_index(op.f("ix_calls_started_at"), "calls", ["started_at"], unique=False)

    op.create_table(
        "call_legs",
        sa.Column("call_id", sa.String(length=64), nullable=False),
        sa.Column("leg_seq", sa.Integer(), nullable=False),
        sa.Column("direction", sa.String(length=16), nullable=False),
        sa.Column("caller", sa.String(length=128), nullable=True),
        sa.Column("caller_name", sa.String(length=256), nullable=True),
        sa.Column("callee", sa.String(length=128), nullable=True),
        sa.Column("extension", sa.String(length=64), nullable=True),
        sa.Column("employee", sa.String(length=256), nullable=True),
        sa.Column("answered", sa.Boolean(), nullable=False),
        sa.Column("disposition", sa.String(length=16), nullable=False),
        sa.Column("transfer_from_leg", sa.Integer(), nullable=True),
        sa.Column("transfer_kind", sa.String(length=16), nullable=True),
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.Column("queue", sa.String(length=128), nullable=True),
        sa.Column("project", sa.String(length=128), nullable=True),
        sa.Column("started_at", UTC_DT, nullable=False),
        sa.Column("answered_at", UTC_DT, nullable=True),
        sa.Column("ended_at", UTC_DT, nullable=False),
        sa.Column("ring_s", sa.Float(), nullable=False),
        sa.Column("talk_s", sa.Float(), nullable=False),
        sa.Column("hangup_cause", sa.Integer(), nullable=True),
        sa.Column("hangup_by", sa.String(length=16), nullable=True),
        sa.Column("channel", sa.String(length=128), nullable=True),
        sa.Column("reconciled", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["call_id"], ["calls.call_id"], name=op.f("fk_call_legs_call_id_calls"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("call_id", "leg_seq", name=op.f("pk_call_legs")),
    )
    op.create_index("ix_call_legs_started_at", "call_legs", ["started_at"], unique=False)
    op.create_index(
        "ix_call_legs_extension_started_at", "call_legs", ["extension", "started_at"], unique=False
    )

    op.create_table(
        "agent_offers",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("call_id", sa.String(length=64), nullable=False),
        sa.Column("extension", sa.String(length=64), nullable=False),
        sa.Column("employee", sa.String(length=256), nullable=True),
        sa.Column("queue", sa.String(length=128), nullable=True),
        sa.Column("offered_at", UTC_DT, nullable=False),
        sa.Column("ring_s", sa.Float(), nullable=False),
        sa.Column("outcome", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(
            ["call_id"], ["calls.call_id"], name=op.f("fk_agent_offers_call_id_calls"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agent_offers")),
    )
    op.create_index(op.f("ix_agent_offers_call_id"), "agent_offers", ["call_id"], unique=False)

    op.create_table(
        "agent_states",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("pbx", sa.String(length=16), nullable=False),
        sa.Column("extension", sa.String(length=64), nullable=False),
        sa.Column("employee", sa.String(length=256), nullable=True),
        sa.Column("queue", sa.String(length=128), nullable=True),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=256), nullable=True),
        sa.Column("at", UTC_DT, nullable=False),
        sa.Column("event_key", sa.String(length=512), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agent_states")),
        sa.UniqueConstraint("event_key", name=op.f("uq_agent_states_event_key")),
    )
    op.create_index(op.f("ix_agent_states_at"), "agent_states", ["at"], unique=False)

    op.create_table(
        "event_journal",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("call_id", sa.String(length=64), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_event_journal")),
    )
    op.create_index("ix_event_journal_call_id_seq", "event_journal", ["call_id", "seq"], unique=True)

    for sql in VIEWS_SQL.values():
        op.execute(sql)


def downgrade() -> None:
    for name in reversed(list(VIEWS_SQL)):
        op.execute(f"DROP VIEW IF EXISTS {name}")
    op.drop_index("ix_event_journal_call_id_seq", table_name="event_journal")
    op.drop_table("event_journal")
    op.drop_index(op.f("ix_agent_states_at"), table_name="agent_states")
    op.drop_table("agent_states")
    op.drop_index(op.f("ix_agent_offers_call_id"), table_name="agent_offers")
    op.drop_table("agent_offers")
    op.drop_index("ix_call_legs_extension_started_at", table_name="call_legs")
    op.drop_index("ix_call_legs_started_at", table_name="call_legs")
    op.drop_table("call_legs")
    op.drop_index(op.f("ix_calls_started_at"), table_name="calls")
    op.drop_table("calls")
