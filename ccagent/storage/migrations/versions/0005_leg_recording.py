"""Each leg keeps its recording reference (R-LEG-1): a column of call_legs and of report_call_legs.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-05 00:00:00

The file name of the recording that covers the leg (Asterisk MixMonitor's MIXMONITOR_FILENAME, or
the configured ``legs.recording_variable``; FreeSWITCH ``record_session``), without its directory:
FreePBX stores that name as CDR(recordingfile) and files it under a dated folder.  Rows stored
before this revision have none.  The view SQL is frozen here, as in 0001.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_LEGS_VIEW = """
CREATE VIEW report_call_legs AS
SELECT l.call_id, l.leg_seq, c.pbx, l.direction, l.caller, l.caller_name, l.callee,
       l.extension, l.employee, l.answered, l.disposition, l.transfer_from_leg, l.transfer_kind,
       l.role, l.queue, l.project, l.ring_s, l.talk_s, l.started_at, l.answered_at, l.ended_at,
       l.hangup_cause, l.hangup_by, l.channel, l.reconciled{extra}
FROM call_legs l
JOIN calls c ON c.call_id = l.call_id
"""


def upgrade() -> None:
    op.add_column("call_legs", sa.Column("recording", sa.String(512), nullable=True))
    op.execute("DROP VIEW report_call_legs")
    op.execute(_LEGS_VIEW.format(extra=", l.recording"))


def downgrade() -> None:
    op.execute("DROP VIEW report_call_legs")
    op.execute(_LEGS_VIEW.format(extra=""))
    # plain ALTER (SQLite >= 3.35 and PostgreSQL): a batch copy of call_legs would trip over the
    # other views that read it
    op.execute("ALTER TABLE call_legs DROP COLUMN recording")
