"""The project service: what the CLI and the HTTP API call (R-PRJ-1..9).

It glues the pure rules (``ccagent.core.projects`` / ``dialing_rules``) to
the repository and the injected clock.  Role checks live here, not in the
API, so every entry point enforces them: only the roles creator and admin may
change the global contact-status rules (R-PRJ-9).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import phonenumbers

from ccagent.core.agents import replay_statuses, waiting_seconds
from ccagent.core.dialing_rules import CallingHours, DialingRules, check_settings, rules_from_settings
from ccagent.core.legs.model import CallRecord, Direction
from ccagent.core.projects import (
    CallKind,
    DialMode,
    GlobalStatusRules,
    Project,
    ProjectError,
    ProjectFigures,
    ProjectType,
    UserRole,
    may_change_global_rules,
    new_project,
    projects_to_mark_reached,
    validate_project,
)
from ccagent.storage.projects_repo import ProjectRepo

log = logging.getLogger(__name__)

GLOBAL_RULES_KEY = "global_contact_status_rules"

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


class NotPermitted(PermissionError):
    """The actor's role may not do this (R-PRJ-9, R-OPS-3)."""


class UnknownProject(ProjectError, LookupError):
    pass


@dataclass(frozen=True, slots=True)
class Actor:
    """Who asks: the API's authenticated user, or the CLI's operator (``--as NAME --role admin``)."""

    name: str
    role: UserRole


SYSTEM = Actor("system", UserRole.ADMIN)


@dataclass(frozen=True, slots=True)
class RulesDefaults:
    """Config ``projects:`` values the service needs (see ``ccagent.config.ProjectsConfig``)."""

    default_region: str = "UA"
    default_time_zone: str = "Europe/Kyiv"
    calling_hours: CallingHours = field(default_factory=lambda: CallingHours.parse("09:00-20:00"))
    max_attempts: int = 3


@dataclass(frozen=True, slots=True)
class AgentFigure:
    """An agent's work in a project, from the stored legs and PBX-reported states (R-PRJ-5).

    ``wait_s``: seconds the agent was ready (logged in to the project's queue, not paused) and not
    on a call or in its wrap-up, since the project started; None for a project never started.
    """

    extension: str
    employee: str | None
    status: str | None
    calls: int
    talk_s: float
    wait_s: float | None = None


@dataclass(frozen=True, slots=True)
class ProjectView:
    """R-PRJ-5: the project, its figures per contact state, its agents."""

    project: Project
    figures: ProjectFigures
    agents: list[AgentFigure]


class ProjectService:
    def __init__(
        self,
        repo: ProjectRepo,
        *,
        clock: Clock = utc_now,
        defaults: RulesDefaults | None = None,
    ) -> None:
        self.repo = repo
        self.clock = clock
        self.defaults = defaults or RulesDefaults()
        self._bad_rules_seen: str | None = None

    # --- lookups ---

    def get(self, project_id: str) -> Project:
        p = self.repo.get(project_id)
        if p is None:
            raise UnknownProject(f"project {project_id!r}: no such project")
        return p

    def list_projects(self) -> list[ProjectFigures]:
        return self.repo.figures()

    def view(self, project_id: str) -> ProjectView:
        project = self.get(project_id)
        (figures,) = self.repo.figures(project_id)
        return ProjectView(project, figures, self._agents_of(project))

    def _agents_of(self, project: Project) -> list[AgentFigure]:
        """Agents who worked the project's calls, and its queue's members even before their first call.

        Status and waiting time come from replaying the PBX-reported states of the project's queue
        (R-PRJ-5).  mod_callcenter reports agent states without a queue (tiers are configuration):
        such a state counts for every queue, as on the dialer's live board.
        """
        since = project.started_at.timestamp() if project.started_at else None
        until = (project.completed_at or self.clock()).timestamp()
        worked = self.repo.agent_work(project.id)
        board, ready = replay_statuses(self.repo.agent_states(project.queue), until)
        views = {v.extension: v for v in board.view()}
        extensions = sorted(worked.keys() | views.keys())
        busy = self._busy(extensions, since, until) if since is not None else {}
        figures = []
        for ext in extensions:
            work = worked.get(ext)
            view = views.get(ext)
            status = view.state.value + (f" ({view.reason})" if view.reason else "") if view else None
            wait = None
            if since is not None:
                wait = round(waiting_seconds(ready.get(ext, ()), busy.get(ext, ()), since, until), 1)
            if work is None:
                figures.append(AgentFigure(ext, None, status, 0, 0.0, wait))
            else:
                figures.append(AgentFigure(ext, work.employee, status, work.calls, work.talk_s, wait))
        return figures

    def _busy(
        self, extensions: list[str], since: float, until: float
    ) -> dict[str, list[tuple[float, float]]]:
        """Each agent's calls as busy spans: offered or talking, then the call's project wrap-up."""
        out: dict[str, list[tuple[float, float]]] = {}
        for call in self.repo.agent_calls(extensions, since, until):
            out.setdefault(call.extension, []).append((call.started, call.ended + call.wrap_up_s))
        return out

    def rules_for(self, project: Project) -> DialingRules:
        d = self.defaults
        return rules_from_settings(
            project.settings,
            caller_id=project.caller_id,
            default_time_zone=d.default_time_zone,
            default_calling_hours=d.calling_hours,
            default_max_attempts=d.max_attempts,
        )

    # --- lifecycle (R-PRJ-2, R-PRJ-3) ---

    def create(
        self,
        project_id: str,
        name: str,
        type: ProjectType | str,
        *,
        mode: DialMode | str | None = None,
        queue: str | None = None,
        caller_id: str | None = None,
        settings: Mapping[str, Any] | None = None,
        by: Actor | None = None,
    ) -> Project:
        check_settings(settings or {})
        p = new_project(
            project_id,
            name,
            type,
            self.clock(),
            mode=mode,
            queue=queue,
            caller_id=caller_id,
            settings=settings,
            created_by=by.name if by else None,
        )
        self.repo.add(p)
        log.info("project %s created (%s)", p.id, p.type.value)
        return p

    def edit(self, project_id: str, changes: Mapping[str, Any]) -> Project:
        p = self.get(project_id).edit(changes, self.clock())
        check_settings(p.settings)
        self.repo.save(p)
        return p

    def copy(
        self, project_id: str, new_id: str | None = None, *, name: str | None = None, by: Actor | None = None
    ) -> Project:
        original = self.get(project_id)
        if new_id is None:
            new_id = self._free_id(f"{project_id[:58]}-copy")
        p = original.copy(new_id, self.clock(), name=name, by=by.name if by else None)
        self.repo.add(p)
        return p

    def _free_id(self, base: str) -> str:
        candidate, n = base, 2
        while self.repo.exists(candidate):
            candidate, n = f"{base}-{n}", n + 1
        return candidate

    def start(self, project_id: str) -> Project:
        p = validate_project(self.get(project_id).start(self.clock()))
        self.rules_for(p)  # settings that no longer parse must not start dialing
        self.repo.save(p)
        log.info("project %s started", p.id)
        return p

    def pause(self, project_id: str) -> Project:
        p = self.get(project_id).pause(self.clock())
        self.repo.save(p)
        log.info("project %s paused", p.id)
        return p

    def complete(self, project_id: str) -> Project:
        p = self.get(project_id).complete(self.clock())
        self.repo.save(p)
        log.info("project %s completed", p.id)
        return p

    def fail(self, project_id: str, reason: str) -> Project:
        """The dialer reports it cannot go on (``ErrorReason`` values, or free text)."""
        p = self.get(project_id).fail(reason, self.clock())
        self.repo.save(p)
        log.warning("project %s in error: %s", p.id, p.error_reason)
        return p

    def delete(self, project_id: str) -> Project:
        p = self.get(project_id).delete(self.clock())
        self.repo.delete(p)
        log.info("project %s deleted; its contacts stay in the base", p.id)
        return p

    # --- global contact-status rules (R-PRJ-9) ---

    def global_rules(self) -> GlobalStatusRules:
        """The stored R-PRJ-9 rules; a stored value that does not read (a hand edit, a newer
        version's scope) means "do not change", said once per value, instead of a failure per call."""
        stored = self.repo.get_setting(GLOBAL_RULES_KEY)
        try:
            return GlobalStatusRules.from_json(stored)
        except ProjectError as exc:
            seen = repr(stored)
            if seen != self._bad_rules_seen:
                self._bad_rules_seen = seen
                log.error("global contact-status rules unreadable (%s): no status is changed by calls", exc)
            return GlobalStatusRules()

    def set_global_rules(self, rules: GlobalStatusRules, by: Actor) -> GlobalStatusRules:
        """Replace all three rules at once; creator and admin only."""
        if not may_change_global_rules(by.role):
            raise NotPermitted(
                f"{by.name} ({by.role}): only the roles creator and admin may change the global "
                "contact-status rules"
            )
        self.repo.put_setting(GLOBAL_RULES_KEY, rules.to_json(), self.clock(), by.name)
        log.info("global contact-status rules changed by %s: %s", by.name, rules.to_json())
        return rules

    def apply_call_rules(self, record: CallRecord, *, contact_id: int | None = None) -> list[str]:
        """After a call ends, mark the contact reached where the global rules say; returns the projects.

        The caller (the pump, after storing the call) calls this right away,
        well within the spec's "5 minutes at the latest".  The contact is the
        customer's number (caller of an inbound call, callee of an outbound one)
        normalized with ``projects.default_region``, unless ``contact_id`` is given.
        """
        classified = classify_call(record)
        if classified is None:
            return []
        kind, talk_s, phone = classified
        if contact_id is None:
            e164 = normalize_phone(phone, self.defaults.default_region) if phone else None
            contact = self.repo.contact_by_phone(e164) if e164 else None
            if contact is None:
                return []
            contact_id = contact.id
        marked = projects_to_mark_reached(
            self.global_rules(),
            kind,
            talk_s,
            self.repo.memberships(contact_id),
            calling_project=record.project if kind is CallKind.PROJECT_CALL else None,
        )
        if marked:
            self.repo.mark_reached(marked, contact_id, self.clock(), f"rule:{kind.value}")
            log.info(
                "call %s: contact %s marked reached in %s (%s)", record.call_id, contact_id, marked, kind
            )
        return marked


def classify_call(record: CallRecord) -> tuple[CallKind, float, str | None] | None:
    """Which R-PRJ-9 call kind a finished call is, its connected seconds and the customer's number."""
    main = [leg for leg in record.legs if leg.role.value == "main"]
    if record.direction is Direction.INBOUND:
        taken = [leg for leg in main if leg.answered and leg.extension]
        if not taken:
            return None
        return CallKind.INBOUND_ANSWERED, sum(leg.talk_s for leg in taken), record.caller
    if record.direction is Direction.OUTBOUND:
        talk = sum(leg.talk_s for leg in main if leg.answered)
        kind = CallKind.PROJECT_CALL if record.project else CallKind.MANUAL_OUTBOUND
        return kind, talk, record.callee
    return None


def normalize_phone(raw: str, region: str) -> str | None:
    """E.164 of a valid number, else None (the customer's number as the PBX gave it)."""
    try:
        num = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(num):
        return None
    return phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.E164)
