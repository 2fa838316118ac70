"""Event journal rows belong to their writer: the daemon, or offline ingest (R-SAFE-2, R-PBX-6).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26 00:00:00

Both resume the calls they journaled, and each used to resume every journaled call.  An ingest run
beside a live daemon (back-filling a gap, as docs/operations.md suggests) then re-opened the
daemon's calls in progress, closed them against the capture's channel listing with an invented end
and deleted their rows.  Existing rows were written by the daemon or by an ingest; they keep the
daemon's name, which is what the code before this revision meant by them.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("event_journal", sa.Column("owner", sa.String(16), nullable=False, server_default="daemon"))
    op.drop_index("ix_event_journal_call_id_seq", table_name="event_journal")
    op.create_index(
        "ix_event_journal_owner_call_id_seq", "event_journal", ["owner", "call_id", "seq"], unique=True
    )


def downgrade() -> None:
    op.execute("DELETE FROM event_journal WHERE owner <> 'daemon'")
    op.drop_index("ix_event_journal_owner_call_id_seq", table_name="event_journal")
    op.create_index("ix_event_journal_call_id_seq", "event_journal", ["call_id", "seq"], unique=True)
    with op.batch_alter_table("event_journal") as batch:
        batch.drop_column("owner")
