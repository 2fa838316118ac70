"""SQLAlchemy 2 typed models of the store (SPEC R-REP-1).

One schema for SQLite and PostgreSQL: portable column types only, a naming
convention so Alembic batch operations on SQLite can address constraints by
name, and times stored as UTC (``UtcDateTime``) whatever the dialect does with
time zones.  Staff read the views (``ccagent.storage.views``), not these tables.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING_CONVENTION: dict[str, str] = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UtcDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on both dialects.

    PostgreSQL stores ``timestamptz``; SQLite has no time zones, so the value is
    stored as naive UTC text and re-labelled UTC on the way out.  Naive inputs
    are refused: a naive time is ambiguous and would silently shift reports.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column; pass an aware datetime")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def bind_processor(self, dialect: Dialect) -> Any:
        if dialect.name != "sqlite":
            return super().bind_processor(dialect)

        # Hot path of bulk ingest: one C-level isoformat instead of two stacked
        # Python processors.  Same text as SQLAlchemy's SQLite DATETIME storage
        # format ("YYYY-MM-DD HH:MM:SS.ffffff"), so comparisons stay consistent.
        def process(value: datetime | None) -> str | None:
            if value is None:
                return None
            if value.tzinfo is None:
                raise ValueError("naive datetime given to a UTC column; pass an aware datetime")
            if value.tzinfo is not UTC:
                value = value.astimezone(UTC)
            return value.isoformat(" ", "microseconds")[:26]  # drop the "+00:00" suffix

        return process

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, str):  # raw SQLite text, e.g. through a view without type info
            value = datetime.fromisoformat(value)
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class CallRow(Base):
    """One call (Asterisk Linkedid / FreeSWITCH first Unique-ID), R-LEG-1."""

    __tablename__ = "calls"

    call_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    pbx: Mapped[str] = mapped_column(String(16))
    direction: Mapped[str] = mapped_column(String(16))
    disposition: Mapped[str] = mapped_column(String(16))
    caller: Mapped[str | None] = mapped_column(String(128))
    callee: Mapped[str | None] = mapped_column(String(128))
    project: Mapped[str | None] = mapped_column(String(128))
    started_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    ended_at: Mapped[datetime] = mapped_column(UtcDateTime)
    results: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    reconciled: Mapped[bool] = mapped_column(Boolean, default=False)


class CallLegRow(Base):
    """One party's segment of a call (R-LEG-1..4); ``employee`` per the mapping rules (R-MAP)."""

    __tablename__ = "call_legs"

    call_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("calls.call_id", ondelete="CASCADE"), primary_key=True
    )
    leg_seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    direction: Mapped[str] = mapped_column(String(16))
    caller: Mapped[str | None] = mapped_column(String(128))
    caller_name: Mapped[str | None] = mapped_column(String(256))
    callee: Mapped[str | None] = mapped_column(String(128))
    extension: Mapped[str | None] = mapped_column(String(64))
    employee: Mapped[str | None] = mapped_column(String(256))
    answered: Mapped[bool] = mapped_column(Boolean)
    disposition: Mapped[str] = mapped_column(String(16))
    transfer_from_leg: Mapped[int | None] = mapped_column(Integer)
    transfer_kind: Mapped[str | None] = mapped_column(String(16))
    role: Mapped[str] = mapped_column(String(32))
    queue: Mapped[str | None] = mapped_column(String(128))
    project: Mapped[str | None] = mapped_column(String(128))
    started_at: Mapped[datetime] = mapped_column(UtcDateTime)
    answered_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    ended_at: Mapped[datetime] = mapped_column(UtcDateTime)
    ring_s: Mapped[float] = mapped_column(Float)
    talk_s: Mapped[float] = mapped_column(Float)
    hangup_cause: Mapped[int | None] = mapped_column(Integer)
    hangup_by: Mapped[str | None] = mapped_column(String(16))
    channel: Mapped[str | None] = mapped_column(String(128))
    reconciled: Mapped[bool] = mapped_column(Boolean, default=False)
    recording: Mapped[str | None] = mapped_column(String(512))

    __table_args__ = (
        Index("ix_call_legs_started_at", "started_at"),
        Index("ix_call_legs_extension_started_at", "extension", "started_at"),
    )


class AgentOfferRow(Base):
    """A ring to an agent that did not become a leg (or did: outcome answered), R-LEG-4."""

    __tablename__ = "agent_offers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    call_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("calls.call_id", ondelete="CASCADE"), index=True
    )
    extension: Mapped[str] = mapped_column(String(64))
    employee: Mapped[str | None] = mapped_column(String(256))
    queue: Mapped[str | None] = mapped_column(String(128))
    offered_at: Mapped[datetime] = mapped_column(UtcDateTime)
    ring_s: Mapped[float] = mapped_column(Float)
    outcome: Mapped[str] = mapped_column(String(32))


class AgentStateRow(Base):
    """Queue login/logout/pause changes as the PBX reported them (report_agent_states)."""

    __tablename__ = "agent_states"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    pbx: Mapped[str] = mapped_column(String(16))
    extension: Mapped[str] = mapped_column(String(64))
    employee: Mapped[str | None] = mapped_column(String(256))
    queue: Mapped[str | None] = mapped_column(String(128))
    action: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(String(256))
    at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    # Replaying a capture must not duplicate states (R-PBX-5): the PBX facts form the key.
    event_key: Mapped[str] = mapped_column(String(512), unique=True)


class EventJournalRow(Base):
    """Raw normalized events of calls still open, so a restarted daemon can resume them (R-SAFE-2)."""

    __tablename__ = "event_journal"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    # who resumes these calls: "daemon" or "ingest" (revision 0004); neither touches the other's
    owner: Mapped[str] = mapped_column(String(16), server_default="daemon")
    call_id: Mapped[str] = mapped_column(String(64))
    seq: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(64))
    payload: Mapped[str] = mapped_column(Text)

    __table_args__ = (Index("ix_event_journal_owner_call_id_seq", "owner", "call_id", "seq", unique=True),)


# --- Outbound projects, the contact base, DNC and global settings (R-PRJ-1..9; revision 0002) ---


class ProjectRow(Base):
    """An outbound project (R-PRJ-1..3).

    ``id`` is a short text key (``spring-promo``), not a surrogate number: it is
    the value the dialer puts in the ``CCAGENT_PROJECT`` channel variable and
    the leg engine stores in ``call_legs.project``, so legs join projects without
    a lookup.  Deleting a project is soft (``deleted_at``): its id is never
    reused, so old legs and attempts never point at a different project.
    """

    __tablename__ = "projects"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(256))
    type: Mapped[str] = mapped_column(String(16))
    mode: Mapped[str | None] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    error_reason: Mapped[str | None] = mapped_column(String(256))
    queue: Mapped[str | None] = mapped_column(String(128))
    caller_id: Mapped[str | None] = mapped_column(String(64))
    settings: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_by: Mapped[str | None] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)
    started_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    completed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    deleted_at: Mapped[datetime | None] = mapped_column(UtcDateTime)

    __table_args__ = (Index("ix_projects_status", "status"),)


class ContactRow(Base):
    """The contact base: outlives projects (R-PRJ-3), one row per E.164 number."""

    __tablename__ = "contacts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    phone_e164: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str | None] = mapped_column(String(256))
    time_zone: Mapped[str | None] = mapped_column(String(64))
    fields: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class ProjectContactRow(Base):
    """A contact's state inside one project (R-PRJ-5, R-PRJ-8)."""

    __tablename__ = "project_contacts"

    project_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True
    )
    contact_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("contacts.id", ondelete="CASCADE"), primary_key=True
    )
    state: Mapped[str] = mapped_column(String(24))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_attempt_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_result: Mapped[str | None] = mapped_column(String(32))
    last_call_id: Mapped[str | None] = mapped_column(String(64))
    results: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    added_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)

    __table_args__ = (
        # The dialer's pick: "contacts of project P in state S due before T, oldest first".
        Index(
            "ix_project_contacts_project_id_state_next_attempt_at", "project_id", "state", "next_attempt_at"
        ),
        # Global status rules (R-PRJ-9): "every project containing this contact".
        Index("ix_project_contacts_contact_id", "contact_id"),
    )


class DncRow(Base):
    """Do-not-call list (R-PRJ-8), checked at dial time."""

    __tablename__ = "dnc"

    phone_e164: Mapped[str] = mapped_column(String(32), primary_key=True)
    reason: Mapped[str | None] = mapped_column(String(256))
    added_at: Mapped[datetime] = mapped_column(UtcDateTime)


class SettingRow(Base):
    """Global settings as JSON values (the contact-status rules of R-PRJ-9 live under one key)."""

    __tablename__ = "settings"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[dict[str, Any]] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_by: Mapped[str | None] = mapped_column(String(128))


class AttemptRow(Base):
    """One dial attempt of one contact in one project (revision 0003)."""

    __tablename__ = "attempts"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    project_id: Mapped[str] = mapped_column(String(64))
    contact_id: Mapped[str] = mapped_column(String(64))
    number: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), index=True)
    outcome: Mapped[str | None] = mapped_column(String(16))
    pbx_request_id: Mapped[str | None] = mapped_column(String(128))
    action_id: Mapped[str | None] = mapped_column(String(128))
    call_id: Mapped[str | None] = mapped_column(String(64), index=True)
    channel: Mapped[str | None] = mapped_column(String(128))
    started_at: Mapped[datetime] = mapped_column(UtcDateTime)
    settled_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    reason: Mapped[str | None] = mapped_column(String(256))
    result: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    __table_args__ = (Index("ix_attempts_project_id_contact_id", "project_id", "contact_id"),)
