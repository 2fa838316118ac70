"""Outbound projects as a pure domain: types, lifecycle, contact states, global status rules (R-PRJ-1..9).

Nothing here reads the clock or a database: callers pass ``now`` (an aware
UTC ``datetime``) and get new frozen values back.  The service layer
(``ccagent.app.projects``) persists them; the dialer engine reads them.

Choices where the spec is silent (see docs/projects.md):

- ``completed`` is final: the only ways forward are copy (a new draft) and delete.
- A running project cannot be deleted: pause it first, so no call is in flight
  for a project that no longer exists.
- ``error`` behaves like an automatic pause with a reason; ``start`` clears it.
- Edits are allowed in every state but ``completed``; the type can change only
  in ``draft`` (contacts already called under one type must not be reinterpreted).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

PROJECT_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


class ProjectType(StrEnum):
    OPERATORS = "operators"  # calls connected to agents (predictive or progressive)
    AUTOINFORMER = "autoinformer"  # plays a recording, optional DTMF, optional AMD
    ROBOT = "robot"  # dialog robot: dialplan context / AGI / external voice bot


class DialMode(StrEnum):
    PREDICTIVE = "predictive"
    PROGRESSIVE = "progressive"


class ProjectStatus(StrEnum):
    DRAFT = "draft"
    RUNNING = "running"
    PAUSED = "paused"
    COMPLETED = "completed"
    ERROR = "error"


class ErrorReason(StrEnum):
    """The reasons the dialer sets; free text is accepted too (shown as given)."""

    PBX_DOWN = "pbx_down"
    NO_TRUNK = "no_trunk"
    NO_AGENTS = "no_agents"


class Action(StrEnum):
    START = "start"
    PAUSE = "pause"
    COMPLETE = "complete"
    FAIL = "fail"  # the dialer puts a project in error
    EDIT = "edit"
    COPY = "copy"
    DELETE = "delete"
    UPLOAD = "upload"  # add contacts
    REPORT = "report"


class ContactState(StrEnum):
    """A contact's state inside one project (R-PRJ-5)."""

    NOT_CALLED = "not_called"
    WILL_CALL_AGAIN = "will_call_again"  # retry pending or postponed to a callback
    REACHED = "reached"
    NOT_REACHED = "not_reached"  # attempts exhausted

    @property
    def final(self) -> bool:
        return self in (ContactState.REACHED, ContactState.NOT_REACHED)


class ProjectError(ValueError):
    """A request that the project's rules refuse; the message says why, for the CLI / API."""


class ActionNotAllowed(ProjectError):
    def __init__(self, project_id: str, action: Action, status: ProjectStatus) -> None:
        super().__init__(f"project {project_id}: cannot {action.value} a project that is {status.value}")
        self.project_id = project_id
        self.action = action
        self.status = status


_S = ProjectStatus
_A = Action
#: action -> statuses it is allowed from.  REPORT and COPY work from every status.
ALLOWED_FROM: dict[Action, frozenset[ProjectStatus]] = {
    _A.START: frozenset({_S.DRAFT, _S.PAUSED, _S.ERROR}),
    _A.PAUSE: frozenset({_S.RUNNING, _S.ERROR}),
    _A.COMPLETE: frozenset({_S.DRAFT, _S.RUNNING, _S.PAUSED, _S.ERROR}),
    _A.FAIL: frozenset({_S.RUNNING, _S.ERROR}),
    _A.EDIT: frozenset({_S.DRAFT, _S.RUNNING, _S.PAUSED, _S.ERROR}),
    _A.UPLOAD: frozenset({_S.DRAFT, _S.RUNNING, _S.PAUSED, _S.ERROR}),
    _A.DELETE: frozenset({_S.DRAFT, _S.PAUSED, _S.COMPLETED, _S.ERROR}),
    _A.COPY: frozenset(_S),
    _A.REPORT: frozenset(_S),
}


def allowed(action: Action, status: ProjectStatus) -> bool:
    return status in ALLOWED_FROM[action]


def allowed_actions(status: ProjectStatus) -> list[Action]:
    """What the UI should offer for a project in ``status`` (R-PRJ-3)."""
    return [a for a in Action if status in ALLOWED_FROM[a]]


@dataclass(frozen=True, slots=True)
class Project:
    """One outbound project.  ``settings`` is the raw JSON dict (see ``dialing_rules.DialingRules``).

    ``id`` is the key the dialer puts into the project channel variable and the
    leg engine stores as ``Leg.project``.
    """

    id: str
    name: str
    type: ProjectType
    mode: DialMode | None
    status: ProjectStatus
    created_at: datetime
    updated_at: datetime
    error_reason: str | None = None
    queue: str | None = None
    caller_id: str | None = None
    settings: Mapping[str, Any] = field(default_factory=dict)
    created_by: str | None = None
    started_at: datetime | None = None
    completed_at: datetime | None = None
    deleted_at: datetime | None = None

    def _check(self, action: Action) -> None:
        if self.deleted_at is not None:
            raise ProjectError(f"project {self.id}: deleted")
        if not allowed(action, self.status):
            raise ActionNotAllowed(self.id, action, self.status)

    def start(self, now: datetime) -> Project:
        self._check(Action.START)
        return replace(
            self,
            status=ProjectStatus.RUNNING,
            error_reason=None,
            started_at=self.started_at or now,
            updated_at=now,
        )

    def pause(self, now: datetime) -> Project:
        self._check(Action.PAUSE)
        return replace(self, status=ProjectStatus.PAUSED, error_reason=None, updated_at=now)

    def complete(self, now: datetime) -> Project:
        self._check(Action.COMPLETE)
        return replace(
            self, status=ProjectStatus.COMPLETED, error_reason=None, completed_at=now, updated_at=now
        )

    def fail(self, reason: str, now: datetime) -> Project:
        """The dialer cannot go on (PBX down, no trunk, no agents); ``start`` resumes it."""
        if not reason.strip():
            raise ProjectError(f"project {self.id}: an error needs a reason")
        self._check(Action.FAIL)
        return replace(self, status=ProjectStatus.ERROR, error_reason=reason.strip()[:256], updated_at=now)

    def edit(self, changes: Mapping[str, Any], now: datetime) -> Project:
        """Apply field changes; ``settings`` changes are merged key by key (``None`` removes a key)."""
        self._check(Action.EDIT)
        unknown = set(changes) - EDITABLE_FIELDS
        if unknown:
            raise ProjectError(f"project {self.id}: cannot edit {', '.join(sorted(unknown))}")
        kw: dict[str, Any] = {}
        for key, value in changes.items():
            if key == "settings":
                merged = dict(self.settings)
                for k, v in dict(value or {}).items():
                    if v is None:
                        merged.pop(k, None)
                    else:
                        merged[k] = v
                kw["settings"] = merged
            else:
                kw[key] = value
        if "type" in kw and ProjectType(kw["type"]) != self.type and self.status != ProjectStatus.DRAFT:
            raise ProjectError(f"project {self.id}: the type can only change while the project is a draft")
        new = replace(self, **kw, updated_at=now)
        return validate_project(new)

    def copy(self, new_id: str, now: datetime, *, name: str | None = None, by: str | None = None) -> Project:
        """Same settings, a new draft; no contact states, no dates of the original (R-PRJ-3)."""
        if self.deleted_at is not None:
            raise ProjectError(f"project {self.id}: deleted")
        return validate_project(
            Project(
                id=new_id,
                name=name or f"{self.name} (copy)",
                type=self.type,
                mode=self.mode,
                status=ProjectStatus.DRAFT,
                created_at=now,
                updated_at=now,
                queue=self.queue,
                caller_id=self.caller_id,
                settings=dict(self.settings),
                created_by=by,
            )
        )

    def delete(self, now: datetime) -> Project:
        self._check(Action.DELETE)
        return replace(self, deleted_at=now, updated_at=now)


EDITABLE_FIELDS = frozenset({"name", "type", "mode", "queue", "caller_id", "settings"})


def validate_project(p: Project) -> Project:
    """Field-level checks shared by create, edit and copy; errors name the field."""
    if not PROJECT_ID_RE.match(p.id):
        raise ProjectError(
            f"id: {p.id!r} must be 1-64 characters of letters, digits, '.', '_' or '-' (it becomes a "
            "channel variable)"
        )
    if not p.name.strip():
        raise ProjectError("name: must not be empty")
    if any(ord(ch) < 32 or 127 <= ord(ch) < 160 for ch in p.name):
        # a newline or an escape sequence would break every list and table that shows the name
        raise ProjectError("name: control characters (newline, tab, escape...) are not allowed")
    if len(p.name) > 256:
        raise ProjectError("name: longer than 256 characters")
    try:
        ptype = ProjectType(p.type)
    except ValueError:
        raise ProjectError(f"type: must be one of {', '.join(ProjectType)}") from None
    mode: DialMode | None
    if ptype is ProjectType.OPERATORS:
        try:
            mode = DialMode(p.mode or DialMode.PREDICTIVE)
        except ValueError:
            raise ProjectError(f"mode: must be one of {', '.join(DialMode)}") from None
    else:
        if p.mode is not None:
            raise ProjectError(
                f"mode: only projects of type {ProjectType.OPERATORS.value} have a dialing mode"
            )
        mode = None
    if p.caller_id is not None and not re.match(r"^\+?[0-9]{2,20}$", p.caller_id):
        raise ProjectError("caller_id: must be 2-20 digits, optionally with a leading +")
    if p.queue is not None and not re.match(r"^[A-Za-z0-9@._-]{1,128}$", p.queue):
        raise ProjectError("queue: must be 1-128 characters of letters, digits, '@', '.', '_' or '-'")
    if ptype is ProjectType.OPERATORS and p.queue is None and p.status == ProjectStatus.RUNNING:
        raise ProjectError("queue: a project with operators needs a queue to run")
    return replace(p, type=ptype, mode=mode)


def new_project(
    id: str,
    name: str,
    type: ProjectType | str,
    now: datetime,
    *,
    mode: DialMode | str | None = None,
    queue: str | None = None,
    caller_id: str | None = None,
    settings: Mapping[str, Any] | None = None,
    created_by: str | None = None,
) -> Project:
    """A validated draft project."""
    return validate_project(
        Project(
            id=id,
            name=name,
            type=type,  # type: ignore[arg-type]  # validated below
            mode=mode,  # type: ignore[arg-type]
            status=ProjectStatus.DRAFT,
            created_at=now,
            updated_at=now,
            queue=queue,
            caller_id=caller_id,
            settings=dict(settings or {}),
            created_by=created_by,
        )
    )


# --- Global contact-status rules (R-PRJ-9) ---


class UserRole(StrEnum):
    CREATOR = "creator"
    ADMIN = "admin"
    SUPERVISOR = "supervisor"
    AGENT = "agent"


#: Only these roles may change the global contact-status rules (R-PRJ-9, seed 002).
RULE_EDITORS: frozenset[UserRole] = frozenset({UserRole.CREATOR, UserRole.ADMIN})


def may_change_global_rules(role: UserRole | str) -> bool:
    try:
        return UserRole(role) in RULE_EDITORS
    except ValueError:
        return False


class CallKind(StrEnum):
    INBOUND_ANSWERED = "inbound_answered"  # inbound from the client, answered by an operator
    MANUAL_OUTBOUND = "manual_outbound"  # an operator dialled the client by hand
    PROJECT_CALL = "project_call"  # a dialer call of a project


class RuleScope(StrEnum):
    DO_NOT_CHANGE = "do_not_change"
    LAST_PROJECT = "last_project"  # the project that called the contact most recently
    ALL_PROJECTS = "all_projects"  # every project containing the contact


#: A call must have been connected at least this long to count (seed 002: "от 1 секунды").
MIN_TALK_S = 1.0


@dataclass(frozen=True, slots=True)
class GlobalStatusRules:
    """One setting for the three call kinds; saved and changed as a whole (R-PRJ-9)."""

    inbound_answered: RuleScope = RuleScope.DO_NOT_CHANGE
    manual_outbound: RuleScope = RuleScope.DO_NOT_CHANGE
    project_call: RuleScope = RuleScope.DO_NOT_CHANGE

    def scope(self, kind: CallKind) -> RuleScope:
        return RuleScope(getattr(self, kind.value))

    def to_json(self) -> dict[str, str]:
        return {k.value: self.scope(k).value for k in CallKind}

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> GlobalStatusRules:
        data = dict(data or {})
        unknown = set(data) - {k.value for k in CallKind}
        if unknown:
            raise ProjectError(f"global rules: unknown call kind {', '.join(sorted(unknown))}")
        kw: dict[str, RuleScope] = {}
        for key, value in data.items():
            try:
                kw[key] = RuleScope(value)
            except ValueError:
                raise ProjectError(f"global rules.{key}: must be one of {', '.join(RuleScope)}") from None
        return cls(**kw)


@dataclass(frozen=True, slots=True)
class Membership:
    """The contact's place in one project, as the rule decision needs it."""

    project_id: str
    project_status: ProjectStatus
    state: ContactState
    last_attempt_at: datetime | None


def projects_to_mark_reached(
    rules: GlobalStatusRules,
    kind: CallKind,
    talk_s: float,
    memberships: Iterable[Membership],
    *,
    calling_project: str | None = None,
) -> list[str]:
    """Projects in which the contact becomes ``reached`` after a finished call (R-PRJ-9).

    ``calling_project`` is the project that made a project call: it is the
    "last project that called the contact" whatever the stored attempt times say.
    Completed projects are never changed (their figures are final), nor are
    projects where the contact is already reached.  The result is sorted.
    """
    if talk_s < MIN_TALK_S:
        return []
    scope = rules.scope(kind)
    if scope is RuleScope.DO_NOT_CHANGE:
        return []
    members = list(memberships)
    if scope is RuleScope.LAST_PROJECT:
        if calling_project is not None:
            members = [m for m in members if m.project_id == calling_project]
        else:
            called = [m for m in members if m.last_attempt_at is not None]
            if not called:
                return []
            # The last caller even if it is completed: then nothing changes (not the one before it).
            members = [max(called, key=lambda m: (m.last_attempt_at, m.project_id))]
    return sorted(
        {
            m.project_id
            for m in members
            if m.project_status is not ProjectStatus.COMPLETED and m.state is not ContactState.REACHED
        }
    )


# --- The contact base as the domain sees it ---


@dataclass(frozen=True, slots=True)
class Contact:
    """A contact of the base (outlives projects, R-PRJ-3); ``fields`` are the import's extra columns."""

    id: int
    phone_e164: str
    name: str | None = None
    time_zone: str | None = None
    fields: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ProjectContact:
    """A contact inside one project: what the dialer picks from and updates after each attempt."""

    project_id: str
    contact_id: int
    phone_e164: str
    state: ContactState
    attempts: int = 0
    next_attempt_at: datetime | None = None
    last_attempt_at: datetime | None = None
    last_result: str | None = None
    last_call_id: str | None = None
    time_zone: str | None = None
    results: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ProjectFigures:
    """The list-view figures of a project (R-PRJ-4, R-PRJ-5), as ``report_projects`` computes them."""

    project_id: str
    name: str
    type: str
    mode: str | None
    status: str
    error_reason: str | None
    started_at: datetime | None
    completed_at: datetime | None
    contacts: int
    reached: int
    not_reached: int
    will_call_again: int
    not_called: int
    attempts: int
    processed_pct: float | None
