"""Plug the outbound dialer and the project rules into the live daemon (issue 6).

Built by the composition root (``ccagent.app.bootstrap.attach_dialer``) from what it needs --
the database engine, the clock, the PBX adapter's originator and dial plan, config pieces -- never
the daemon itself.  The dialer (``ccagent.app.dialer.DialerService``) sees every normalized event
after the leg engine, settles attempts from committed calls (:meth:`DialerRuntime.on_calls`, on
the event loop after each commit, its writes in a worker thread the consumer awaits), and is
ticked by the daemon's ONE consumer, so dialer state and leg state are never touched concurrently.
Which projects run is read from the database every few seconds: ``ccagent project
start|pause|complete`` (or the API) change the row, the daemon follows, as VICIdial's campaign
settings do.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError

from ccagent.app.dialer import DialerService, ProjectContacts, pacer_for, project_run
from ccagent.app.projects import ProjectService, RulesDefaults
from ccagent.config import ProjectsConfig
from ccagent.core.dialing_rules import CallingHours, check_settings
from ccagent.core.legs.model import CallRecord
from ccagent.core.projects import ProjectError, validate_project
from ccagent.pbx.port import DialPlan, Originator
from ccagent.storage.attempts_repo import AttemptStore
from ccagent.storage.projects_repo import ProjectRepo

log = logging.getLogger(__name__)

SYNC_EVERY_S = 5.0


class DialerRuntime:
    def __init__(
        self,
        *,
        engine: Engine,
        clock: Callable[[], float],
        originator: Originator,
        dial_plan: Callable[..., DialPlan],
        projects: ProjectsConfig,
        project_variable: str,
    ) -> None:
        """``dial_plan(project, connect_deadline_s=...)`` is the PBX adapter's: where answered calls go."""
        pc = projects
        self.clock = clock
        self.dial_plan = dial_plan
        self.repo = ProjectRepo(engine)
        self.projects = ProjectService(
            self.repo,
            clock=lambda: datetime.fromtimestamp(clock(), UTC),  # the daemon's injected clock
            defaults=RulesDefaults(
                default_region=pc.default_region,
                default_time_zone=pc.default_time_zone,
                calling_hours=CallingHours.parse(pc.calling_hours),
                max_attempts=pc.max_attempts,
            ),
        )
        self.contacts = ProjectContacts(self.repo, rules_of=self._rules_of)
        self.dialer = DialerService(
            store=AttemptStore(engine),
            contacts=self.contacts,
            port=originator,
            clock=clock,
            project_variable=project_variable,
        )
        self._running: set[str] = set()
        self._next_sync = 0.0
        self._rules_due: list[CallRecord] = []  # calls whose R-PRJ-9 rules the database refused

    async def on_calls(self, records: Sequence[CallRecord]) -> None:
        """Committed calls (on the event loop, after the commit): settle their attempts, then the
        global contact-status rules (R-PRJ-9); the writes run in a worker thread, awaited."""
        await self.dialer.on_calls(records)
        await asyncio.to_thread(self._apply_rules, list(records))

    def _apply_rules(self, records: list[CallRecord]) -> None:
        """Mark contacts reached by these calls; what a busy database refuses waits for the next tick.

        A lost update is a customer who got through being dialed again: the call is stored by
        then, so nothing else would ever apply it.  Applying a call's rules twice changes nothing.
        """
        for i, record in enumerate(records):
            try:
                self.projects.apply_call_rules(record)
            except OperationalError as exc:  # locked by an import, PostgreSQL restarting
                self._rules_due.extend(records[i:])
                self.dialer.db_busy(exc)  # the dialer's own once-a-minute line and retry count
                return

    def sync_projects(self) -> None:
        """Start projects that became running, stop the ones that no longer are.

        A running project that cannot be dialed (a row or settings that do not read, a pacer that
        refuses its target: written before a check existed, or by hand in the database) goes to
        ``error`` with the reason and a log line; every other project starts and stops as usual.
        """
        projects, unreadable = self.repo.running()
        running = {p.id: p for p in projects}
        for pid in sorted(self._running - running.keys()):
            self.dialer.stop_project(pid)
            log.info("project %s stopped dialing", pid)
        for pid, why in sorted(unreadable.items()):
            self._refuse(pid, f"unreadable project row: {why}")
        started: set[str] = set()
        for pid in sorted(running.keys() - self._running):
            project = running[pid]
            try:
                validate_project(project)
                check_settings(project.settings, unknown_ok=True)  # errors name the key
                rules = self.projects.rules_for(project)
                run, pacer = project_run(project, self.dial_plan), pacer_for(project)
            except Exception as exc:  # any bad stored value: this project only, never the floor
                self._refuse(
                    pid, str(exc) if isinstance(exc, ProjectError) else f"{type(exc).__name__}: {exc}"
                )
                continue
            try:
                self.contacts.set_rules(pid, rules)
                self.dialer.start_project(run, pacer)  # reads the project's abandon record
            except Exception:  # the database refused: not dialing, tried again at the next sync
                log.exception("project %s could not start dialing; the next sync tries again", pid)
                self.dialer.stop_project(pid)
                continue
            started.add(pid)
            log.info("project %s started dialing", pid)
        self._running = (self._running & running.keys()) | started

    def _rules_of(self, project_id: str) -> Any:
        """Rules of a project that is not dialing, for the calls it still has in flight."""
        project = self.repo.get(project_id, include_deleted=True)
        return self.projects.rules_for(project) if project is not None else None

    def _refuse(self, project_id: str, reason: str) -> None:
        log.error("project %s cannot dial, set to error: %s", project_id, reason)
        now = datetime.fromtimestamp(self.clock(), UTC)
        try:
            self.repo.mark_error(project_id, f"cannot dial: {reason}", now)
        except Exception:  # the database refused: the next sync tries again
            log.exception("project %s: could not record the error", project_id)

    async def tick(self, now: float) -> None:
        if self._rules_due:
            due, self._rules_due = self._rules_due, []
            await asyncio.to_thread(self._apply_rules, due)
        if now >= self._next_sync:
            self._next_sync = now + SYNC_EVERY_S
            # off the event loop: a database that hangs must not freeze the PBX reader and the
            # watchdog with it (the consumer awaits this, so nothing else touches the engine)
            await asyncio.to_thread(self.sync_projects)
        await self.dialer.tick(now)
