"""The daemon side of the dialer: ticks, the attempts outbox, originates, restart (issue 6, R-SAFE-2).

The pure :class:`~ccagent.core.dialer.engine.DialerEngine` decides; this module does the I/O around
it, in the order that makes a crash harmless:

1. ``tick``: the engine decides (pacer) and plans attempts for eligible contacts;
2. the attempts are committed ``planned``, then ``originating`` -- both BEFORE anything is sent, so
   a crash before the commit loses nothing that was dialled, and a crash after it can never dial
   the attempt again (on restart an ``originating`` attempt is only reconciled, never re-sent);
3. the originates are written on the PBX socket in a task (the consumer never waits for a PBX
   answer: while the event queue is full the answer could not arrive, STYLE lesson 8);
4. PBX events and finished calls settle attempts; each settlement is written with the contact's
   new state in one transaction.

Wiring (``ccagent.app.bootstrap.attach_dialer``, through ``ccagent.app.dialer_runtime``): the
pipeline calls :meth:`DialerService.on_event` for every normalized event after the leg engine; the
daemon awaits :meth:`DialerService.on_calls` with each commit's calls, on the event loop; its ONE
consumer awaits :meth:`DialerService.tick` once per ``tick_s``.  Everything that mutates the engine
runs on the loop, in the consumer; database writes run in a worker thread while the consumer waits.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from sqlalchemy.exc import OperationalError

from ccagent.core import pbx_events as ev
from ccagent.core.agents import AgentBoard
from ccagent.core.dialer.engine import (
    Attempt,
    AttemptStatus,
    DialerEngine,
    DialTarget,
    Originate,
    OriginateUncertain,
    Outcome,
    PacerLike,
    ProjectRun,
    Settlement,
)
from ccagent.core.legs.model import CallRecord
from ccagent.log import customer
from ccagent.pbx.port import DialPlan, Originator
from ccagent.storage.attempts_repo import AttemptStore

log = logging.getLogger(__name__)

__all__ = [
    "AttemptContacts",
    "ContactSource",
    "DialerService",
    "OriginatePort",
    "ProjectContacts",
    "RetryRules",
    "pacer_for",
    "project_run",
]


#: The PBX adapter's originator (``ccagent.pbx.port.Originator``), under the dialer's older name.
OriginatePort = Originator


class ContactSource(Protocol):
    """The data side: which contacts may be dialled now, and what an attempt's end does to them."""

    def eligible(self, project_id: str, now: float, limit: int, exclude: set[str]) -> list[DialTarget]: ...
    def launched(self, attempts: Sequence[Attempt]) -> None: ...
    def settled(self, settlements: Sequence[Settlement]) -> None: ...


# -- a persistent contact source derived from the attempts outbox ---------------------------------


@dataclass(frozen=True)
class RetryRules:
    """Attempts limit and retry interval per outcome (R-PRJ-8): the subset the engine needs.

    The full rules (calling hours per time zone, DNC) live in ``ccagent.core.dialing_rules``;
    :class:`AttemptContacts` is the contact source of tests, the benchmark and the demo.
    """

    max_attempts: int = 3
    retry_s: Mapping[str, float] = field(
        default_factory=lambda: {
            "busy": 120.0,
            "no_answer": 600.0,
            "failed": 300.0,
            "abandoned": 300.0,
            "machine": 1800.0,
        }
    )
    reached: frozenset[str] = frozenset({Outcome.ANSWERED.value})


@dataclass
class _ContactState:
    contact_id: str
    number: str
    attempts: int = 0
    state: str = "not_called"  # reached | not_reached | will_call_again | not_called
    next_at: float = 0.0
    last_outcome: str | None = None
    results: dict[str, str | None] = field(default_factory=dict)


class AttemptContacts:
    """Contact states kept from the attempts outbox itself: survives a kill -9 with no other table.

    ``contacts`` are ``(contact_id, number)`` per project, in dialling order.  :meth:`load` rebuilds
    the states from stored attempts (a settled attempt counts with its outcome; one still in flight
    counts as an attempt made).
    """

    def __init__(self, contacts: Mapping[str, Sequence[tuple[str, str]]], rules: RetryRules) -> None:
        self.rules = rules
        self.projects: dict[str, dict[str, _ContactState]] = {
            pid: {cid: _ContactState(cid, num) for cid, num in items} for pid, items in contacts.items()
        }

    def load(self, store: AttemptStore) -> None:
        for rec in store.list():
            c = self.projects.get(rec.project_id, {}).get(rec.contact_id)
            if c is None:
                continue
            c.attempts += 1
            if rec.status == AttemptStatus.SETTLED.value and rec.outcome and rec.settled_at is not None:
                self._apply(c, rec.outcome, rec.settled_at.timestamp(), rec.result)
            else:  # still in flight: the engine follows it; not eligible until it settles
                c.state = "will_call_again"
                c.next_at = float("inf")

    def _apply(self, c: _ContactState, outcome: str, at: float, results: Mapping[str, Any]) -> None:
        c.last_outcome = outcome
        if results:
            c.results = dict(results)
        if outcome in self.rules.reached:
            c.state = "reached"
        elif c.attempts >= self.rules.max_attempts:
            c.state = "not_reached"
        else:
            c.state = "will_call_again"
            c.next_at = at + self.rules.retry_s.get(outcome, 300.0)

    def eligible(self, project_id: str, now: float, limit: int, exclude: set[str]) -> list[DialTarget]:
        out: list[DialTarget] = []
        for c in self.projects.get(project_id, {}).values():
            if len(out) >= limit:
                break
            if c.contact_id in exclude or c.state in ("reached", "not_reached"):
                continue
            if c.state == "will_call_again" and c.next_at > now:
                continue
            out.append(DialTarget(c.contact_id, c.number))
        return out

    def launched(self, attempts: Sequence[Attempt]) -> None:
        for a in attempts:
            c = self.projects.get(a.project_id, {}).get(a.contact_id)
            if c is not None:
                c.attempts += 1
                c.state = "will_call_again"
                c.next_at = float("inf")  # until the attempt settles

    def settled(self, settlements: Sequence[Settlement]) -> None:
        for s in settlements:
            c = self.projects.get(s.project_id, {}).get(s.contact_id)
            if c is not None:
                self._apply(c, s.outcome.value, s.settled_at, s.results)

    def states(self, project_id: str) -> dict[str, _ContactState]:
        return self.projects.get(project_id, {})

    def done(self, project_id: str) -> bool:
        return all(c.state in ("reached", "not_reached") for c in self.states(project_id).values())


# -- the service -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Planned:
    """What a tick's planning returns: the commands to send, and what the database refused, to be
    tried again first at the next tick."""

    send: list[Originate]
    unsaved: list[Settlement]
    action_ids: list[tuple[str, str]]
    resend: list[str]


@dataclass
class DialerStats:
    ticks: int = 0
    planned: int = 0
    sent: int = 0
    send_errors: int = 0
    send_uncertain: int = 0  # written, answer lost: left waiting for the call's channel
    settled: int = 0
    resent_after_restart: int = 0
    pacer_faults: int = 0
    db_retries: int = 0  # writes the database refused for a while (locked, restarting)
    decide_to_write_s: list[float] = field(default_factory=list)  # pacer decision -> bytes on the socket


class DialerService:
    """One per daemon.  See the module docstring for the hooks and the outbox order."""

    def __init__(
        self,
        *,
        store: AttemptStore,
        contacts: ContactSource,
        port: OriginatePort,
        clock: Callable[[], float] = time.time,
        agents: AgentBoard | None = None,
        new_id: Callable[[], str] | None = None,
        project_variable: str = "CCAGENT_PROJECT",
        monotonic: Callable[[], float] = time.perf_counter,
        keep_latencies: bool = False,
    ) -> None:
        self.store = store
        self.contacts = contacts
        self.port = port
        self.clock = clock
        self.agents = agents or AgentBoard()
        self.project_variable = project_variable
        self.engine = DialerEngine(
            agents=self.agents, new_id=new_id or (lambda: uuid.uuid4().hex), project_variable=project_variable
        )
        self.stats = DialerStats()
        self._monotonic = monotonic
        self._keep_latencies = keep_latencies
        self._pending: list[Settlement] = []
        self._sent: list[tuple[str, str | None, str | None]] = []  # (attempt, request id, error)
        self._tasks: set[asyncio.Task[Any]] = set()
        self._resend: list[str] = []  # attempt ids planned by a previous run, not sent yet
        self._action_ids: list[tuple[str, str]] = []  # written with the next tick's outbox commit
        self._fault_logged: dict[tuple[str, str], float] = {}  # (project, stage) -> when last logged
        self._contact_faults: list[tuple[str, str, Exception]] = []  # from the planning thread

    # -- projects ------------------------------------------------------------------------------
    def start_project(self, run: ProjectRun, pacer: PacerLike) -> None:
        """Start dialing ``run``; a pacer that can ``resume`` gets the project's abandon record so
        far (R-PACE-2: a restart or a pause must not reset the run's budget or its window)."""
        now = self.clock()
        fresh = run.project_id not in self.engine.projects
        self.engine.start_project(run, pacer, now)
        resume = getattr(pacer, "resume", None)
        if not fresh or resume is None:
            return
        window = float(getattr(pacer, "window_s", 1800.0))
        rec = self.store.abandon_record(run.project_id, now - window)
        resume(
            answered=rec.answered,
            abandoned=rec.abandoned,
            recent_answers=[t - now for t in rec.answer_times],
            recent_abandons=[t - now for t in rec.abandon_times],
        )
        if rec.answered:
            log.info(
                "dialer: project %s resumes its record: %d abandoned of %d answered (%d of %d in %.0f min)",
                run.project_id,
                rec.abandoned,
                rec.answered,
                len(rec.abandon_times),
                len(rec.answer_times),
                window / 60.0,
            )

    def stop_project(self, project_id: str) -> None:
        self.engine.stop_project(project_id)

    # -- restart (R-SAFE-2) ---------------------------------------------------------------------
    def restore(self) -> list[Originate]:
        """Adopt the outbox a previous run left; PLANNED attempts (never sent) are sent again at the
        next tick, ORIGINATING ones wait for the PBX's channel list and their calls."""
        open_ = self.store.load_open()
        resend = self.engine.restore(open_, self.clock())
        self._resend = [c.attempt_id for c in resend]
        if open_:
            log.info("dialer: resumed %d attempts in flight (%d never sent)", len(open_), len(resend))
        return resend

    def _due_resends(self, now: float) -> list[Originate]:
        """Attempts a previous run planned but never sent, built now that their project runs (its
        dialplan, caller ID and queue); a project not dialing (paused meanwhile) keeps them until
        it is started again, and one settled meanwhile (timed out) is dropped."""
        due: list[Originate] = []
        keep: list[str] = []
        for aid in self._resend:
            a = self.engine.attempts.get(aid)
            if a is None or a.status is not AttemptStatus.PLANNED:
                continue
            if a.project_id in self.engine.projects:
                a.launched_at = now  # sent now: its timers start now
                due.append(self.engine.command(a))
            else:
                keep.append(aid)
        self._resend = keep
        return due

    # -- hooks ------------------------------------------------------------------------------------
    def on_event(self, e: ev.PbxEvent) -> None:
        """Every normalized PBX event, in stream order, after the leg engine applied it."""
        self._drain_sent()
        try:
            self.agents.apply(e, self.project_variable)
            self._pending += self.engine.on_event(e)
        except Exception:  # one bad event never stops the dialer (R-SAFE-1)
            log.exception("dialer: skipping PBX event %s", type(e).__name__)

    def settle(self, records: Sequence[CallRecord]) -> list[Settlement]:
        """The attempts these committed calls end (the engine only: no I/O, on the consumer's thread)."""
        settled: list[Settlement] = []
        for rec in records:
            try:
                settled += self.engine.on_call(rec)
            except Exception:
                log.exception("dialer: could not settle call %s", rec.call_id)
        return settled

    async def on_calls(self, records: Sequence[CallRecord]) -> None:
        """Committed calls, on the event loop: their attempts are settled, and written at once in a
        worker thread the consumer awaits (what the database refuses is written by the next tick)."""
        settled = self.settle(records)
        if settled:
            unsaved = await asyncio.to_thread(self._write_settlements, settled)
            self._pending += unsaved

    def on_call(self, rec: CallRecord) -> None:
        """One committed call, settled and written on the caller's thread (offline replays, tests)."""
        settled = self.settle([rec])
        if settled:
            self._pending += self._write_settlements(settled)

    def _drain_sent(self) -> None:
        sent, self._sent = self._sent, []
        now = None
        for aid, request_id, error in sent:
            if error is not None:
                now = now or self.clock()
                self._pending += self.engine.send_failed(aid, now, error)
            else:
                self._pending += self.engine.mark_sent(aid, request_id)
                if request_id:
                    self._action_ids.append((aid, request_id))

    def _write_settlements(self, settled: Sequence[Settlement]) -> list[Settlement]:
        """Write the outcomes; returns those the database refused for now (locked by a long import,
        restarting), which the next tick writes again.  Writing one twice is harmless (the attempt
        row gets the same values); each contact moves once, in its own transaction."""
        try:
            self.store.settle(settled)
        except OperationalError as exc:
            self.db_busy(exc)
            return list(settled)
        for i, s in enumerate(settled):
            try:
                self.contacts.settled([s])
            except OperationalError as exc:
                self.db_busy(exc)
                return list(settled[i:])
            self.stats.settled += 1
            log.info(
                "dialer: attempt %s project=%s contact=%s -> %s call=%s",
                s.attempt_id,
                s.project_id,
                s.contact_id,
                s.outcome.value,
                s.call_id,
            )
        return []

    def db_busy(self, exc: Exception) -> None:
        """Count a write the database refused for now, logged once a minute (also the runtime's)."""
        self.stats.db_retries += 1
        now = self.clock()
        last = self._fault_logged.get(("*", "database"))
        if last is None or now - last >= 60.0:
            self._fault_logged[("*", "database")] = now
            reason = str(getattr(exc, "orig", None) or exc).splitlines()[0]
            log.warning(
                "dialer: the database refused a write (%s); nothing is lost, the next tick retries", reason
            )

    # -- the tick -----------------------------------------------------------------------------------
    async def tick(self, now: float | None = None) -> list[Originate]:
        """Decide, write the outbox, send.  Returns the commands sent (tests, metrics)."""
        now = self.clock() if now is None else now
        self.stats.ticks += 1
        self._drain_sent()
        resend = self._due_resends(now)  # first: their timers restart before the engine's run
        settled = self._pending + self.engine.tick(now)
        self._pending = []
        action_ids, self._action_ids = self._action_ids, []
        t_decide = self._monotonic()
        wants = self.engine.decide(now)
        faults, self.engine.pacer_faults = self.engine.pacer_faults, []
        self.stats.pacer_faults += len(faults)
        cmds: list[Originate] = []
        if wants or settled or resend or action_ids:
            out = await asyncio.to_thread(self._plan, now, wants, settled, resend, action_ids)
            cmds = out.send
            # what the database refused this tick goes first next tick
            self._pending[:0] = out.unsaved
            self._action_ids[:0] = out.action_ids
            self._resend[:0] = out.resend
            self.stats.resent_after_restart += len(resend) - len(out.resend)
            faults += self._contact_faults
            self._contact_faults = []
        self._log_faults(now, faults)
        for cmd in cmds:
            self._send(cmd, t_decide)
        return cmds

    def _log_faults(self, now: float, faults: Sequence[tuple[str, str, Exception]]) -> None:
        """A broken pacer or contact list costs its own project's dialing, logged with the traceback
        once a minute per project and stage (a failure every tick must not flood the journal)."""
        for pid, stage, exc in faults:
            key = (pid, stage)
            last = self._fault_logged.get(key)
            if last is not None and now - last < 60.0:
                continue
            self._fault_logged[key] = now
            what = "reading its contacts" if stage == "contacts" else f"the pacer's {stage}"
            log.error(
                "dialer: project %s: %s raised%s",
                pid,
                what,
                "; the project dials nothing while it does" if stage in ("decide", "contacts") else "",
                exc_info=exc,
            )

    def _plan(
        self,
        now: float,
        wants: Mapping[str, int],
        settled: Sequence[Settlement],
        resend: Sequence[Originate],
        action_ids: Sequence[tuple[str, str]],
    ) -> _Planned:
        """In a worker thread while the consumer waits: settle, pick contacts, commit the outbox.

        A database that refuses a write (locked by a long import, restarting) loses nothing: what
        it refused comes back in the result for the next tick, and attempts it did not take are
        forgotten before anything is sent.  One project's contacts that do not read cost that
        project's calls this tick, not every project's.
        """
        unsaved = self._write_settlements(settled) if settled else []
        try:
            self.store.set_action_ids(action_ids)
        except OperationalError as exc:
            self.db_busy(exc)
            return _Planned([], unsaved, list(action_ids), [c.attempt_id for c in resend])
        cmds: list[Originate] = []
        for pid, n in wants.items():
            try:
                targets = self.contacts.eligible(pid, now, n, self.engine.busy_contacts(pid))
            except OperationalError as exc:
                self.db_busy(exc)
                continue
            except Exception as exc:
                self._contact_faults.append((pid, "contacts", exc))  # logged once a minute
                continue
            cmds += self.engine.launch(now, pid, targets)
        planned = [self.engine.attempts[c.attempt_id] for c in cmds]
        try:
            # committed before any byte is sent: an attempt is never sent twice (R-SAFE-2)
            self.store.commit_outbox(planned, [c.attempt_id for c in resend])
        except Exception as exc:
            # not written, so not sent: forget the new attempts (they must not settle as failed calls
            # nobody placed) and keep the restored ones for the next tick
            self.engine.withdraw([a.attempt_id for a in planned])
            if not isinstance(exc, OperationalError):
                raise
            self.db_busy(exc)
            return _Planned([], unsaved, [], [c.attempt_id for c in resend])
        if planned:
            self.contacts.launched(planned)
            self.stats.planned += len(planned)
        return _Planned(cmds + list(resend), unsaved, [], [])

    def _send(self, cmd: Originate, t_decide: float) -> None:
        a = self.engine.attempts.get(cmd.attempt_id)
        if a is not None:
            a.status = AttemptStatus.ORIGINATING
        task = asyncio.ensure_future(self._send_one(cmd, t_decide))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _send_one(self, cmd: Originate, t_decide: float) -> None:
        try:
            coro = self.port.originate(cmd)
            fut = asyncio.ensure_future(coro)
            await asyncio.sleep(0)  # let the port write the bytes (its first step) before we time it
            if self._keep_latencies:
                self.stats.decide_to_write_s.append(self._monotonic() - t_decide)
            request_id = await fut
        except OriginateUncertain as exc:
            # written, answer lost: the PBX may be ringing the customer right now.  Failing the
            # attempt would dial them again; it waits for its channel id or ``lost_after_s``.
            self.stats.send_uncertain += 1
            log.warning(
                "dialer: originate of attempt %s: %s; waiting for its channel %s",
                cmd.attempt_id,
                exc,
                cmd.channel_id,
            )
            self._sent.append((cmd.attempt_id, None, None))
            return
        except Exception as exc:  # the PBX refused it or is down: the attempt ends failed, not lost
            self.stats.send_errors += 1
            # the reason may quote the number dialled: the attempt's row keeps it, the log its type
            log.warning(
                "dialer: originate of attempt %s failed: %s: %s",
                cmd.attempt_id,
                type(exc).__name__,
                customer(exc),
            )
            self._sent.append((cmd.attempt_id, None, f"{type(exc).__name__}: {exc}"))
            return
        self.stats.sent += 1
        self._sent.append((cmd.attempt_id, request_id, None))

    async def drain(self) -> None:
        """Wait for the originates in flight to be answered (tests, shutdown)."""
        if self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
        self._drain_sent()


# -- the contact source of a real deployment: the projects' own tables (issue 6 items 1-3) --------


def _utc(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


class ProjectContacts:
    """:class:`ContactSource` over ``project_contacts`` (``ccagent.storage.projects_repo``).

    Candidates come from ``ProjectRepo.due_contacts``; each is checked right before dialling
    with ``dialing_rules.eligible`` -- calling hours in the contact's own zone, attempts limit and
    the DNC list as it is *now*, so a number added to DNC mid-run is never dialled again
    (R-PRJ-8).  A settled attempt moves the contact with ``dialing_rules.after_attempt`` and its
    results (digit, AMD, robot...) are merged into the contact's results (R-PRJ-1, R-PRJ-5).
    """

    def __init__(
        self,
        repo: Any,
        rules: Mapping[str, Any] | None = None,
        *,
        scan_factor: int = 4,
        rules_of: Callable[[str], Any] | None = None,
    ) -> None:
        self.repo = repo
        self.rules: dict[str, Any] = dict(rules or {})  # project id -> dialing_rules.DialingRules
        # for a call that ends while its project is not dialing (paused when the daemon restarted):
        # its contact must still move, or it would be called again
        self.rules_of = rules_of
        self.scan_factor = scan_factor
        self._snap: dict[tuple[str, str], Any] = {}  # (project, contact) -> ProjectContact at launch
        self.refused: dict[str, int] = {}  # refusal reason -> count (metrics, tests)

    def set_rules(self, project_id: str, rules: Any) -> None:
        self.rules[project_id] = rules

    def eligible(self, project_id: str, now: float, limit: int, exclude: set[str]) -> list[DialTarget]:
        from ccagent.core import dialing_rules as dr

        rules = self.rules.get(project_id)
        if rules is None or limit <= 0:
            return []
        when = _utc(now)
        due = self.repo.due_contacts(project_id, when, limit * self.scan_factor + len(exclude))
        dnc = self.repo.dnc_among([pc.phone_e164 for pc in due])
        out: list[DialTarget] = []
        for pc in due:
            cid = str(pc.contact_id)
            if cid in exclude:
                continue
            snap = dr.ContactSnapshot(
                pc.phone_e164, pc.state, pc.attempts, pc.next_attempt_at, pc.last_result, pc.time_zone
            )
            verdict = dr.eligible(snap, when, rules, dnc)
            if not verdict:
                key = verdict.reason.value if verdict.reason else "refused"
                self.refused[key] = self.refused.get(key, 0) + 1
                continue
            self._snap[(project_id, cid)] = pc
            out.append(DialTarget(cid, pc.phone_e164))
            if len(out) >= limit:
                break
        return out

    def launched(self, attempts: Sequence[Attempt]) -> None:
        return None  # the attempt row is the in-flight mark; the engine never offers a busy contact

    def _current(self, project_id: str, contact_id: str) -> Any:
        pc = self._snap.get((project_id, contact_id))
        if pc is not None or not contact_id.isdigit():
            return pc
        return self.repo.project_contact(project_id, int(contact_id))  # after a restart: not cached

    def _rules(self, project_id: str) -> Any:
        rules = self.rules.get(project_id)
        if rules is None and self.rules_of is not None:
            rules = self.rules_of(project_id)
        return rules

    def settled(self, settlements: Sequence[Settlement]) -> None:
        """Move each contact; a database error stops here and propagates (the caller retries the
        rest: each contact's move is its own transaction, so none is applied twice); a contact or
        project that does not read is logged and skipped, since retrying cannot mend it."""
        for s in settlements:
            try:
                self._settle_one(s)
            except OperationalError:
                raise
            except Exception:
                log.exception(
                    "dialer: attempt %s: contact %s of project %s not updated",
                    s.attempt_id,
                    s.contact_id,
                    s.project_id,
                )
            self._snap.pop((s.project_id, s.contact_id), None)

    def _settle_one(self, s: Settlement) -> None:
        from ccagent.core import dialing_rules as dr

        rules = self._rules(s.project_id)
        pc = self._current(s.project_id, s.contact_id)
        if rules is None or pc is None:
            log.warning(
                "dialer: attempt %s: contact %s of project %s unknown, state not updated",
                s.attempt_id,
                s.contact_id,
                s.project_id,
            )
            return
        snap = dr.ContactSnapshot(
            pc.phone_e164, pc.state, pc.attempts, pc.next_attempt_at, pc.last_result, pc.time_zone
        )
        upd = dr.after_attempt(snap, dr.Outcome(s.outcome.value), _utc(s.settled_at), rules)
        self.repo.record_attempt(
            s.project_id,
            int(s.contact_id),
            upd,
            _utc(s.settled_at),
            call_id=s.call_id,
            results=dict(s.results),
        )


# -- a project row -> what the engine needs, for the dialplans shipped in dialplan/ ------------------


def project_run(
    project: Any, dial_plan: Callable[..., DialPlan], *, connect_deadline_s: float = 2.0
) -> ProjectRun:
    """The engine's view of a project (``ccagent.core.projects.Project``); ``dial_plan`` is the PBX
    adapter's (``PbxAdapter.dial_plan``): where the dialplan ccagent ships runs the answered call."""
    s: Mapping[str, Any] = project.settings or {}
    kind = str(getattr(project.type, "value", project.type))
    plan = dial_plan(project, connect_deadline_s=connect_deadline_s)
    return ProjectRun(
        project.id,
        kind=kind,
        queue=project.queue if kind == "operators" else None,
        caller_id=project.caller_id or plan.caller_id,
        context=plan.context,
        exten=plan.exten,
        max_lines=int(s.get("max_channels") or 30),
        connect_deadline_s=connect_deadline_s,
        amd=bool(s.get("amd")),
        wrap_up_s=float(s.get("wrap_up_s") or 0.0),
        variables=plan.variables,
        dial=plan.dial,
        number_format=plan.number_format,
    )


def pacer_for(project: Any) -> PacerLike:
    """Predictive for operator projects in predictive mode (target from ``abandon_target_pct``),
    else progressive: one call per free line / agent (R-PACE-1)."""
    from ccagent.core.dialer.pacer import PredictivePacer, ProgressivePacer

    mode = str(getattr(project.mode, "value", project.mode) or "")
    kind = str(getattr(project.type, "value", project.type))
    if kind == "operators" and mode == "predictive":
        pct = float((project.settings or {}).get("abandon_target_pct") or 3.0)
        return PredictivePacer(target_abandon=pct / 100.0)
    return ProgressivePacer()
