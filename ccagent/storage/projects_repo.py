"""Projects, the contact base, per-project contact states, DNC and settings in SQL (R-PRJ-1..9, R-REP-1).

Repositories return the frozen domain objects of ``ccagent.core.projects``;
callers never see rows.  Every method is one short transaction; the contact
import's bulk writes, one transaction per file, are ``ccagent.storage.contacts_repo``'s.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from sqlalchemy import Connection, Engine, Table, and_, delete, func, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from ccagent.core.dialing_rules import ContactUpdate
from ccagent.core.pbx_events import AgentStatus
from ccagent.core.projects import (
    Contact,
    ContactState,
    DialMode,
    Membership,
    Project,
    ProjectContact,
    ProjectError,
    ProjectFigures,
    ProjectStatus,
    ProjectType,
)
from ccagent.storage.models import (
    AgentStateRow,
    CallLegRow,
    ContactRow,
    DncRow,
    ProjectContactRow,
    ProjectRow,
    SettingRow,
)
from ccagent.storage.views import report_projects

log = logging.getLogger(__name__)

_projects = cast(Table, ProjectRow.__table__)
_contacts = cast(Table, ContactRow.__table__)
_pc = cast(Table, ProjectContactRow.__table__)
_dnc = cast(Table, DncRow.__table__)
_settings = cast(Table, SettingRow.__table__)
_legs = cast(Table, CallLegRow.__table__)
_states = cast(Table, AgentStateRow.__table__)

#: Rows per IN-list / executemany batch (under SQLite's and PostgreSQL's parameter limits).
CHUNK = 500


def insert_ignore(
    conn: Connection, table: Any, rows: Sequence[Mapping[str, Any]], keys: Sequence[str]
) -> None:
    """``INSERT ... ON CONFLICT (keys) DO NOTHING`` on both dialects."""
    if not rows:
        return
    if conn.dialect.name == "postgresql":
        stmt: Any = postgresql.insert(table).on_conflict_do_nothing(index_elements=list(keys))
    else:
        stmt = sqlite.insert(table).on_conflict_do_nothing(index_elements=list(keys))
    conn.execute(stmt, list(rows))


def _project(row: Any) -> Project:
    return Project(
        id=row.id,
        name=row.name,
        type=ProjectType(row.type),
        mode=DialMode(row.mode) if row.mode else None,
        status=ProjectStatus(row.status),
        created_at=row.created_at,
        updated_at=row.updated_at,
        error_reason=row.error_reason,
        queue=row.queue,
        caller_id=row.caller_id,
        settings=dict(row.settings or {}),
        created_by=row.created_by,
        started_at=row.started_at,
        completed_at=row.completed_at,
        deleted_at=row.deleted_at,
    )


@dataclass(frozen=True, slots=True)
class AgentWork:
    """An agent's answered calls in one project, from the stored legs (R-PRJ-5)."""

    employee: str | None
    calls: int
    talk_s: float


@dataclass(frozen=True, slots=True)
class AgentCall:
    """One leg an agent was offered or took, with the wrap-up its project grants after it."""

    extension: str
    started: float  # epoch seconds
    ended: float
    wrap_up_s: float  # the project's ``wrap_up_s`` setting; 0 without a project or a setting


#: How long after a call a project's wrap-up may run at most: legs that ended this long before a period
#: cannot keep an agent busy inside it.
MAX_WRAP_UP = timedelta(hours=1)


def _wrap_up_s(settings: Any) -> float:
    return float((settings if isinstance(settings, dict) else {}).get("wrap_up_s") or 0.0)


def _project_values(p: Project) -> dict[str, Any]:
    return {
        "id": p.id,
        "name": p.name,
        "type": p.type.value,
        "mode": p.mode.value if p.mode else None,
        "status": p.status.value,
        "error_reason": p.error_reason,
        "queue": p.queue,
        "caller_id": p.caller_id,
        "settings": dict(p.settings),
        "created_by": p.created_by,
        "created_at": p.created_at,
        "updated_at": p.updated_at,
        "started_at": p.started_at,
        "completed_at": p.completed_at,
        "deleted_at": p.deleted_at,
    }


_PC_COLUMNS = (
    _pc.c.project_id,
    _pc.c.contact_id,
    _contacts.c.phone_e164,
    _pc.c.state,
    _pc.c.attempts,
    _pc.c.next_attempt_at,
    _pc.c.last_attempt_at,
    _pc.c.last_result,
    _pc.c.last_call_id,
    _contacts.c.time_zone,
    _pc.c.results,
)


def _pc_obj(row: Any) -> ProjectContact:
    return ProjectContact(
        project_id=row.project_id,
        contact_id=row.contact_id,
        phone_e164=row.phone_e164,
        state=ContactState(row.state),
        attempts=row.attempts,
        next_attempt_at=row.next_attempt_at,
        last_attempt_at=row.last_attempt_at,
        last_result=row.last_result,
        last_call_id=row.last_call_id,
        time_zone=row.time_zone,
        results=dict(row.results or {}),
    )


class ProjectRepo:
    """All SQL of projects and contacts.  Thread-safe as far as the engine is."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # --- projects ---

    def add(self, project: Project) -> None:
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(_projects), [_project_values(project)])
        except IntegrityError:
            raise ProjectError(
                f"id: a project {project.id!r} already exists (ids are never reused)"
            ) from None

    def save(self, project: Project) -> None:
        values = _project_values(project)
        with self.engine.begin() as conn:
            conn.execute(update(_projects).where(_projects.c.id == project.id).values(**values))

    def get(self, project_id: str, *, include_deleted: bool = False) -> Project | None:
        q = select(_projects).where(_projects.c.id == project_id)
        if not include_deleted:
            q = q.where(_projects.c.deleted_at.is_(None))
        with self.engine.connect() as conn:
            row = conn.execute(q).first()
        return _project(row) if row else None

    def exists(self, project_id: str) -> bool:
        """Also true for a deleted project: its id stays taken."""
        return self.get(project_id, include_deleted=True) is not None

    def list_projects(
        self, *, include_deleted: bool = False, statuses: Iterable[str] | None = None
    ) -> list[Project]:
        q = select(_projects).order_by(_projects.c.created_at, _projects.c.id)
        if not include_deleted:
            q = q.where(_projects.c.deleted_at.is_(None))
        if statuses is not None:
            q = q.where(_projects.c.status.in_([str(s) for s in statuses]))
        with self.engine.connect() as conn:
            return [_project(r) for r in conn.execute(q)]

    def running(self) -> tuple[list[Project], dict[str, str]]:
        """Running projects, and the running rows that do not read as a project (id -> why).

        The daemon reads this every few seconds: one row an older version or a hand-written
        UPDATE left behind (an unknown type, settings that are not an object) must cost only
        that project, not every project's dialing.
        """
        q = select(_projects).where(_projects.c.deleted_at.is_(None), _projects.c.status == "running")
        good: list[Project] = []
        bad: dict[str, str] = {}
        with self.engine.connect() as conn:
            for row in conn.execute(q.order_by(_projects.c.id)):
                try:
                    good.append(_project(row))
                except (TypeError, ValueError) as exc:
                    bad[row.id] = f"{type(exc).__name__}: {exc}"
        return good, bad

    def mark_error(self, project_id: str, reason: str, now: datetime) -> bool:
        """Put a running project in ``error`` without reading it (it may not read); False if it was
        no longer running (paused or completed meanwhile: that choice stands)."""
        stmt = (
            update(_projects)
            .where(_projects.c.id == project_id, _projects.c.status == "running")
            .values(status="error", error_reason=reason[:256], updated_at=now)
        )
        with self.engine.begin() as conn:
            return bool(conn.execute(stmt).rowcount)

    def delete(self, project: Project) -> None:
        """Soft-delete the project and drop its contact states; the contacts stay in the base (R-PRJ-3)."""
        with self.engine.begin() as conn:
            conn.execute(delete(_pc).where(_pc.c.project_id == project.id))
            conn.execute(
                update(_projects).where(_projects.c.id == project.id).values(**_project_values(project))
            )

    def figures(self, project_id: str | None = None) -> list[ProjectFigures]:
        v = report_projects
        q = select(v).order_by(v.c.created_at, v.c.project_id)
        if project_id is not None:
            q = q.where(v.c.project_id == project_id)
        with self.engine.connect() as conn:
            rows = conn.execute(q).all()
        return [
            ProjectFigures(
                project_id=r.project_id,
                name=r.name,
                type=r.type,
                mode=r.mode,
                status=r.status,
                error_reason=r.error_reason,
                started_at=r.started_at,
                completed_at=r.completed_at,
                contacts=int(r.contacts),
                reached=int(r.reached),
                not_reached=int(r.not_reached),
                will_call_again=int(r.will_call_again),
                not_called=int(r.not_called),
                attempts=int(r.attempts),
                processed_pct=None if r.processed_pct is None else float(r.processed_pct),
            )
            for r in rows
        ]

    # --- agents' work in projects (R-PRJ-5): a fixed number of statements, whatever the rows ---

    def agent_work(self, project_id: str) -> dict[str, AgentWork]:
        """Per extension: the answered legs of the project's calls (count, talk, an employee name)."""
        q = (
            select(_legs.c.extension, func.max(_legs.c.employee), func.count(), func.sum(_legs.c.talk_s))
            .where(_legs.c.project == project_id, _legs.c.extension.is_not(None), _legs.c.answered)
            .group_by(_legs.c.extension)
        )
        with self.engine.connect() as conn:
            return {r[0]: AgentWork(r[1], int(r[2]), float(r[3] or 0.0)) for r in conn.execute(q)}

    def agent_states(self, queue: str | None) -> list[AgentStatus]:
        """The PBX-reported agent states in the order they happened: all of them without a queue, else
        the queue's and those reported without a queue (mod_callcenter's: tiers are configuration)."""
        q = select(_states.c.extension, _states.c.queue, _states.c.action, _states.c.reason, _states.c.at)
        q = q.order_by(_states.c.at, _states.c.id)
        if queue:
            q = q.where(or_(_states.c.queue == queue, _states.c.queue.is_(None)))
        with self.engine.connect() as conn:
            return [
                AgentStatus(ts=at.timestamp(), extension=ext, queue=qu, action=action, reason=reason)
                for ext, qu, action, reason, at in conn.execute(q)
            ]

    def agent_calls(self, extensions: Sequence[str], since: float, until: float) -> list[AgentCall]:
        """The legs of these extensions that can keep them busy between ``since`` and ``until`` (epoch
        seconds), in any project, each with its project's wrap-up.

        Two statements whatever the number of legs and projects: the legs, then the settings of the
        projects they belong to (deleted ones included: their calls still took the agent's time).
        """
        if not extensions:
            return []
        legs = _legs.c
        period = (
            legs.extension.in_(list(extensions)),
            legs.ended_at >= datetime.fromtimestamp(since, UTC) - MAX_WRAP_UP,
            legs.started_at <= datetime.fromtimestamp(until, UTC),
        )
        legs_q = select(legs.extension, legs.project, legs.started_at, legs.ended_at).where(*period)
        wraps_q = select(_projects.c.id, _projects.c.settings).where(
            _projects.c.id.in_(select(legs.project).where(*period).distinct())
        )
        with self.engine.connect() as conn:
            rows = conn.execute(legs_q).all()
            wrap = {pid: _wrap_up_s(settings) for pid, settings in conn.execute(wraps_q)}
        return [
            AgentCall(ext, started.timestamp(), ended.timestamp(), wrap.get(project_id, 0.0))
            for ext, project_id, started, ended in rows
        ]

    # --- contacts ---

    def contact_by_phone(self, phone_e164: str) -> Contact | None:
        with self.engine.connect() as conn:
            r = conn.execute(select(_contacts).where(_contacts.c.phone_e164 == phone_e164)).first()
        return Contact(r.id, r.phone_e164, r.name, r.time_zone, dict(r.fields or {})) if r else None

    def contacts_count(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(_contacts)).scalar_one())

    def add_contacts(self, project_id: str, contact_ids: Iterable[int], now: datetime) -> int:
        """Put base contacts into a project as ``not_called``; contacts already in it are left as they are."""
        ids = list(contact_ids)
        with self.engine.begin() as conn:
            before = self._count_in(conn, project_id)
            for i in range(0, len(ids), CHUNK):
                insert_ignore(
                    conn,
                    _pc,
                    [new_membership(project_id, c, now) for c in ids[i : i + CHUNK]],
                    ("project_id", "contact_id"),
                )
            return self._count_in(conn, project_id) - before

    @staticmethod
    def _count_in(conn: Connection, project_id: str) -> int:
        q = select(func.count()).select_from(_pc).where(_pc.c.project_id == project_id)
        return int(conn.execute(q).scalar_one())

    def project_contacts(
        self, project_id: str, *, states: Iterable[ContactState] | None = None, limit: int | None = None
    ) -> list[ProjectContact]:
        q = (
            select(*_PC_COLUMNS)
            .join(_contacts, _contacts.c.id == _pc.c.contact_id)
            .where(_pc.c.project_id == project_id)
            .order_by(_pc.c.contact_id)
        )
        if states is not None:
            q = q.where(_pc.c.state.in_([s.value for s in states]))
        if limit is not None:
            q = q.limit(limit)
        with self.engine.connect() as conn:
            return [_pc_obj(r) for r in conn.execute(q)]

    def project_contact(self, project_id: str, contact_id: int) -> ProjectContact | None:
        q = (
            select(*_PC_COLUMNS)
            .join(_contacts, _contacts.c.id == _pc.c.contact_id)
            .where(_pc.c.project_id == project_id, _pc.c.contact_id == contact_id)
        )
        with self.engine.connect() as conn:
            row = conn.execute(q).first()
        return _pc_obj(row) if row else None

    def due_contacts(self, project_id: str, now: datetime, limit: int) -> list[ProjectContact]:
        """Candidates for the dialer: not final, retry time passed; oldest due first, never-called first.

        Calling hours and DNC are *not* applied here (they depend on the
        contact's zone and on the moment of dialing): run ``dialing_rules.eligible``
        on each candidate right before originating.
        """
        q = (
            select(*_PC_COLUMNS)
            .join(_contacts, _contacts.c.id == _pc.c.contact_id)
            .where(
                _pc.c.project_id == project_id,
                _pc.c.state.in_([ContactState.NOT_CALLED.value, ContactState.WILL_CALL_AGAIN.value]),
                or_(_pc.c.next_attempt_at.is_(None), _pc.c.next_attempt_at <= now),
            )
            .order_by(_pc.c.next_attempt_at.is_not(None), _pc.c.next_attempt_at, _pc.c.contact_id)
            .limit(limit)
        )
        with self.engine.connect() as conn:
            return [_pc_obj(r) for r in conn.execute(q)]

    def record_attempt(
        self,
        project_id: str,
        contact_id: int,
        upd: ContactUpdate,
        now: datetime,
        *,
        call_id: str | None = None,
        results: Mapping[str, Any] | None = None,
    ) -> None:
        """Write a contact's state after an attempt (``dialing_rules.after_attempt``); results are merged."""
        with self.engine.begin() as conn:
            cur = conn.execute(
                select(_pc.c.results).where(_pc.c.project_id == project_id, _pc.c.contact_id == contact_id)
            ).first()
            if cur is None:
                raise ProjectError(f"contact {contact_id} is not in project {project_id}")
            merged = {**dict(cur.results or {}), **dict(results or {})}
            conn.execute(
                update(_pc)
                .where(_pc.c.project_id == project_id, _pc.c.contact_id == contact_id)
                .values(
                    state=upd.state.value,
                    attempts=upd.attempts,
                    next_attempt_at=upd.next_attempt_at,
                    last_attempt_at=now,
                    last_result=upd.last_result,
                    last_call_id=call_id,
                    results=merged,
                    updated_at=now,
                )
            )

    def memberships(self, contact_id: int) -> list[Membership]:
        q = (
            select(_pc.c.project_id, _projects.c.status, _pc.c.state, _pc.c.last_attempt_at)
            .join(_projects, _projects.c.id == _pc.c.project_id)
            .where(_pc.c.contact_id == contact_id, _projects.c.deleted_at.is_(None))
        )
        out: list[Membership] = []
        with self.engine.connect() as conn:
            for r in conn.execute(q):
                try:
                    out.append(
                        Membership(
                            r.project_id, ProjectStatus(r.status), ContactState(r.state), r.last_attempt_at
                        )
                    )
                except ValueError:  # a status or state this version does not know: not a membership
                    log.warning(
                        "project %s: contact %s: unreadable status or state", r.project_id, contact_id
                    )
        return out

    def mark_reached(self, project_ids: Sequence[str], contact_id: int, now: datetime, reason: str) -> int:
        """Global status rules (R-PRJ-9): the contact becomes reached in these projects."""
        if not project_ids:
            return 0
        with self.engine.begin() as conn:
            res = conn.execute(
                update(_pc)
                .where(
                    and_(
                        _pc.c.contact_id == contact_id,
                        _pc.c.project_id.in_(list(project_ids)),
                        _pc.c.state != ContactState.REACHED.value,
                    )
                )
                .values(
                    state=ContactState.REACHED.value, next_attempt_at=None, last_result=reason, updated_at=now
                )
            )
            return int(res.rowcount or 0)

    # --- DNC ---

    def dnc_add(self, phones: Iterable[str], now: datetime, reason: str | None = None) -> None:
        rows = [{"phone_e164": p, "reason": reason, "added_at": now} for p in phones]
        with self.engine.begin() as conn:
            for i in range(0, len(rows), CHUNK):
                insert_ignore(conn, _dnc, rows[i : i + CHUNK], ("phone_e164",))

    def dnc_remove(self, phone: str) -> bool:
        with self.engine.begin() as conn:
            return bool(conn.execute(delete(_dnc).where(_dnc.c.phone_e164 == phone)).rowcount)

    def dnc_among(self, phones: Iterable[str]) -> set[str]:
        """Which of these numbers are on the DNC list now (one query per batch; call at dial time)."""
        wanted = list(phones)
        found: set[str] = set()
        with self.engine.connect() as conn:
            for i in range(0, len(wanted), CHUNK):
                q = select(_dnc.c.phone_e164).where(_dnc.c.phone_e164.in_(wanted[i : i + CHUNK]))
                found.update(conn.execute(q).scalars())
        return found

    # --- settings ---

    def get_setting(self, key: str) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            r = conn.execute(select(_settings.c.value).where(_settings.c.key == key)).first()
        return dict(r.value) if r else None

    def put_setting(self, key: str, value: Mapping[str, Any], now: datetime, by: str | None) -> None:
        with self.engine.begin() as conn:
            done = conn.execute(
                update(_settings)
                .where(_settings.c.key == key)
                .values(value=dict(value), updated_at=now, updated_by=by)
            ).rowcount
            if not done:
                conn.execute(
                    insert(_settings),
                    [{"key": key, "value": dict(value), "updated_at": now, "updated_by": by}],
                )


def new_membership(project_id: str, contact_id: int, now: datetime) -> dict[str, Any]:
    return {
        "project_id": project_id,
        "contact_id": contact_id,
        "state": ContactState.NOT_CALLED.value,
        "attempts": 0,
        "results": {},
        "added_at": now,
        "updated_at": now,
    }
