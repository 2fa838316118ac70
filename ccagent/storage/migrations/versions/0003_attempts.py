"""Dialer attempts: the outbox every originate is written to before it is sent (issue 6, R-SAFE-2).

Revision ID: 0003
Revises: 0002
Create Date: 2025-01-03 00:00:00

``status`` planned -> originating -> settled.  A row is committed as ``originating`` before its
originate goes on the wire, so a crash can never send it twice; ``pbx_request_id`` is the channel
id chosen for the customer channel (AMI ChannelId / ESL origination_uuid), by which a restarted
daemon recognises the call among the PBX's live channels.  Agent states reuse ``agent_states``
(revision 0001).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC_DT = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "attempts",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("project_id", sa.String(length=64), nullable=False),
        sa.Column("contact_id", sa.String(length=64), nullable=False),
        sa.Column("number", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=True),
        sa.Column("pbx_request_id", sa.String(length=128), nullable=True),
        sa.Column("action_id", sa.String(length=128), nullable=True),
        sa.Column("call_id", sa.String(length=64), nullable=True),
        sa.Column("channel", sa.String(length=128), nullable=True),
        sa.Column("started_at", UTC_DT, nullable=False),
        sa.Column("settled_at", UTC_DT, nullable=True),
        sa.Column("reason", sa.String(length=256), nullable=True),
        sa.Column("result", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_attempts")),
    )
    op.create_index("ix_attempts_status", "attempts", ["status"], unique=False)
    op.create_index(
        "ix_attempts_project_id_contact_id", "attempts", ["project_id", "contact_id"], unique=False
    )
    op.create_index("ix_attempts_call_id", "attempts", ["call_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_attempts_call_id", table_name="attempts")
    op.drop_index("ix_attempts_project_id_contact_id", table_name="attempts")
    op.drop_index("ix_attempts_status", table_name="attempts")
    op.drop_table("attempts")
