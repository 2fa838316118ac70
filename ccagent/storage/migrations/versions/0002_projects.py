"""Outbound projects: projects, contact base, per-project contact states, DNC, settings, report_projects.

Revision ID: 0002
Revises: 0001
Create Date: 2025-01-02 00:00:00

R-PRJ-1..9, R-REP-2.  No attempts/outbox table here: the dialer's ``attempts``
arrive in revision 0003 (down_revision "0002").  The view SQL is frozen in
this file, written once for SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC_DT = sa.DateTime(timezone=True)

REPORT_PROJECTS_SQL = """
CREATE VIEW report_projects AS
SELECT p.id AS project_id, p.name, p.type, p.mode, p.status, p.error_reason, p.queue, p.caller_id,
       p.created_at, p.started_at, p.completed_at,
       COALESCE(s.contacts, 0) AS contacts,
       COALESCE(s.reached, 0) AS reached,
       COALESCE(s.not_reached, 0) AS not_reached,
       COALESCE(s.will_call_again, 0) AS will_call_again,
       COALESCE(s.not_called, 0) AS not_called,
       COALESCE(s.attempts, 0) AS attempts,
       CASE WHEN COALESCE(s.contacts, 0) = 0 THEN NULL
            ELSE CAST(s.reached AS DOUBLE PRECISION) * 100 / s.contacts END AS processed_pct
FROM projects p
LEFT JOIN (
    SELECT project_id, COUNT(*) AS contacts,
           SUM(CASE WHEN state = 'reached' THEN 1 ELSE 0 END) AS reached,
           SUM(CASE WHEN state = 'not_reached' THEN 1 ELSE 0 END) AS not_reached,
           SUM(CASE WHEN state = 'will_call_again' THEN 1 ELSE 0 END) AS will_call_again,
           SUM(CASE WHEN state = 'not_called' THEN 1 ELSE 0 END) AS not_called,
           SUM(attempts) AS attempts
    FROM project_contacts GROUP BY project_id
) s ON s.project_id = p.id
WHERE p.deleted_at IS NULL
"""


def upgrade() -> None:
    op.create_table(
        "projects",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.Column("type", sa.String(length=16), nullable=False),
        sa.Column("mode", sa.String(length=16), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("error_reason", sa.String(length=256), nullable=True),
        sa.Column("queue", sa.String(length=128), nullable=True),
        sa.Column("caller_id", sa.String(length=64), nullable=True),
        sa.Column("settings", sa.JSON(), nullable=False),
        sa.Column("created_by", sa.String(length=128), nullable=True),
        sa.Column("created_at", UTC_DT, nullable=False),
        sa.Column("updated_at", UTC_DT, nullable=False),
        sa.Column("started_at", UTC_DT, nullable=True),
        sa.Column("completed_at", UTC_DT, nullable=True),
        sa.Column("deleted_at", UTC_DT, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_projects")),
    )
    op.create_index("ix_projects_status", "projects", ["status"], unique=False)

    op.create_table(
        "contacts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("phone_e164", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=256), nullable=True),
        sa.Column("time_zone", sa.String(length=64), nullable=True),
        sa.Column("fields", sa.JSON(), nullable=False),
        sa.Column("created_at", UTC_DT, nullable=False),
        sa.Column("updated_at", UTC_DT, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contacts")),
        sa.UniqueConstraint("phone_e164", name=op.f("uq_contacts_phone_e164")),
    )

    op.create_table(
        "project_contacts",
        sa.Column("project_id", sa.String(length=64), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=24), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", UTC_DT, nullable=True),
        sa.Column("last_attempt_at", UTC_DT, nullable=True),
        sa.Column("last_result", sa.String(length=32), nullable=True),
        sa.Column("last_call_id", sa.String(length=64), nullable=True),
        sa.Column("results", sa.JSON(), nullable=False),
        sa.Column("added_at", UTC_DT, nullable=False),
        sa.Column("updated_at", UTC_DT, nullable=False),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contacts.id"],
            name=op.f("fk_project_contacts_contact_id_contacts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_project_contacts_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("project_id", "contact_id", name=op.f("pk_project_contacts")),
    )
    op.create_index(
        "ix_project_contacts_project_id_state_next_attempt_at",
        "project_contacts",
        ["project_id", "state", "next_attempt_at"],
        unique=False,
    )
    op.create_index("ix_project_contacts_contact_id", "project_contacts", ["contact_id"], unique=False)

    op.create_table(
        "dnc",
        sa.Column("phone_e164", sa.String(length=32), nullable=False),
        sa.Column("reason", sa.String(length=256), nullable=True),
        sa.Column("added_at", UTC_DT, nullable=False),
        sa.PrimaryKeyConstraint("phone_e164", name=op.f("pk_dnc")),
    )

    op.create_table(
        "settings",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("value", sa.JSON(), nullable=False),
        sa.Column("updated_at", UTC_DT, nullable=False),
        sa.Column("updated_by", sa.String(length=128), nullable=True),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_settings")),
    )

    op.execute(REPORT_PROJECTS_SQL)


def downgrade() -> None:
    op.execute("DROP VIEW IF EXISTS report_projects")
    op.drop_table("settings")
    op.drop_table("dnc")
    op.drop_index("ix_project_contacts_contact_id", table_name="project_contacts")
    op.drop_index("ix_project_contacts_project_id_state_next_attempt_at", table_name="project_contacts")
    op.drop_table("project_contacts")
    op.drop_table("contacts")
    op.drop_index("ix_projects_status", table_name="projects")
    op.drop_table("projects")
