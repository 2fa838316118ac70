"""The dialer engine: pacer decisions -> originate commands; PBX facts -> settled attempts (issue 6).

Pure and synchronous (STYLE lesson 1): the daemon-side loop (``ccagent.app.dialer``) gives it the
time, the eligible contacts it read from the store and the PBX events in order, and carries out
the :class:`Originate` commands it returns.  Nothing here reads a clock, a socket or a database.

Why the engine follows attempts through *live* events and not only finished calls: the pacer
(R-PACE-2, ``shared/dialer/INTERFACE.md``) needs ``answer``/``connect``/``abandon`` as they
happen, with the PBX's timestamps, to keep the abandon rate under target; a finished CallRecord
comes seconds or minutes later.  The finished :class:`CallRecord` is still what *settles* an
attempt (its legs are the truth, R-LEG-4), and it also supplies any pacer event the live stream
did not show (a replayed capture, a reconnect gap), so every attempt gives the pacer each of its
events exactly once.

How a PBX channel is tied to an attempt, strongest first:

1. the channel id chosen before the originate (``Originate`` ``ChannelId`` / FreeSWITCH
   ``origination_uuid``): persisted with the attempt, so even a restarted daemon recognises it;
2. the ``CCAGENT_ATTEMPT`` channel variable carried by the originate;
3. the ``OriginateResult`` correlated by its request id (AMI ActionID / ESL Job-UUID);
4. the dialled number (``DialBegin`` of an originate, or a finished call's callee): one contact is
   never dialled twice at once, so among attempts in flight a number is unique.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, NamedTuple, Protocol, assert_never

from ccagent.core import pbx_events as ev
from ccagent.core.agents import AgentBoard
from ccagent.core.dialing_rules import Outcome  # one attempt-outcome vocabulary, shared with the rules
from ccagent.core.dialstring import NumberFormat
from ccagent.core.legs.model import CallRecord, Disposition
from ccagent.core.outcomes import AmdResult, OriginateOutcome

__all__ = [
    "Attempt",
    "AttemptStatus",
    "DialTarget",
    "DialerEngine",
    "Originate",
    "Outcome",
    "PacerEvent",
    "ProjectRun",
    "Settlement",
]

ATTEMPT_VARIABLE = "CCAGENT_ATTEMPT"
PROJECT_VARIABLE = "CCAGENT_PROJECT"
CONTACT_VARIABLE = "CCAGENT_CONTACT"

# An originate's answer (its request id) is read within milliseconds of its result event.
EARLY_RESULT_TTL_S = 30.0
EARLY_RESULTS_MAX = 10_000


class AttemptStatus(StrEnum):
    PLANNED = "planned"  # written, originate not sent yet: safe to send after a crash
    ORIGINATING = "originating"  # written as sent: never sent again (R-SAFE-2)
    SETTLED = "settled"


class PacerEvent(NamedTuple):
    """The event tuple of INTERFACE.md (``time`` in seconds since the project's run started)."""

    time: float
    kind: str
    call_id: Any
    agent_id: Any
    duration: float


class PacerLike(Protocol):
    def decide(self, state: Any) -> int: ...
    def on_event(self, event: Any) -> None: ...


@dataclass(frozen=True, slots=True)
class ProjectRun:
    """What the engine needs of a running project (the data side keeps the rest)."""

    project_id: str
    kind: str = "operators"  # operators | autoinformer | robot
    queue: str | None = None  # agents serving the project (operators type)
    caller_id: str | None = None
    # Where the PBX runs the answered call: from the PBX adapter's dial plan (``PbxAdapter.dial_plan``),
    # never a default that only fits one lab's dialplan.  ``{number}`` in ``exten``: the dialled digits.
    context: str = field(kw_only=True)
    exten: str = field(kw_only=True)
    max_lines: int = 30
    dial_timeout_s: int = 25
    connect_deadline_s: float = 2.0
    amd: bool = False
    wrap_up_s: float = 0.0
    variables: tuple[tuple[str, str], ...] = ()
    # The PBX dial string with the trunk filled in and ``{number}`` left (the adapter's, from config
    # and the project's settings; issue 13), and how the contact's E.164 number is written into it.
    dial: str = ""
    number_format: NumberFormat = field(default_factory=NumberFormat)


@dataclass(frozen=True, slots=True)
class DialTarget:
    """An eligible contact, as the dialing rules chose it (R-PRJ-8)."""

    contact_id: str
    number: str


class OriginateUncertain(Exception):
    """An originate was written to the PBX, but its answer was lost (the link dropped, no reply).

    The PBX may be placing the call: the attempt must wait for its channel (``channel_id``) or
    for ``lost_after_s``, never be settled as failed and dialed again.
    """


@dataclass(frozen=True, slots=True)
class Originate:
    """Command: dial ``number`` for an attempt.  ``channel_id`` is the id the PBX must give the
    customer channel (AMI ``ChannelId`` / ESL ``origination_uuid``), chosen and stored first."""

    attempt_id: str
    project_id: str
    contact_id: str
    number: str
    caller_id: str | None
    context: str
    exten: str
    timeout_s: int
    channel_id: str
    variables: tuple[tuple[str, str], ...]
    #: The complete dial string (``PJSIP/0441234567@my-trunk``); empty when the project has no
    #: usable target or the number does not format: the originator refuses it, the attempt fails.
    dial: str = ""


@dataclass
class Attempt:
    attempt_id: str
    project_id: str
    contact_id: str
    number: str
    channel_id: str
    launched_at: float
    status: AttemptStatus = AttemptStatus.PLANNED
    request_id: str | None = None
    channel: str | None = None
    call_id: str | None = None
    answered_at: float | None = None
    connected_at: float | None = None
    agent: str | None = None
    failed_reason: str | None = None  # the PBX's words, for the attempt's note
    failed_outcome: OriginateOutcome = OriginateOutcome.FAILED
    failed_at: float | None = None
    restored: bool = False
    emitted: set[str] = field(default_factory=set)


@dataclass(frozen=True, slots=True)
class Settlement:
    """An attempt's end: what the store writes on the attempt and the contact."""

    attempt_id: str
    project_id: str
    contact_id: str
    number: str
    outcome: Outcome
    settled_at: float
    call_id: str | None
    channel: str | None
    results: Mapping[str, str | None]
    talk_s: float = 0.0
    reason: str = ""


@dataclass
class _PacerState:
    """The read-only snapshot of INTERFACE.md."""

    time: float
    n_agents: int
    agents_free: int
    agents_talking: tuple[float, ...]
    agents_in_wrap: tuple[float, ...]
    calls_ringing: tuple[float, ...]
    calls_waiting: tuple[float, ...]
    stats: dict[str, float]
    config: dict[str, Any]

    @property
    def n_talking(self) -> int:
        return len(self.agents_talking)

    @property
    def n_wrap(self) -> int:
        return len(self.agents_in_wrap)

    @property
    def n_ringing(self) -> int:
        return len(self.calls_ringing)

    @property
    def n_waiting(self) -> int:
        return len(self.calls_waiting)


@dataclass
class _Project:
    run: ProjectRun
    pacer: PacerLike
    t0: float
    stats: dict[str, float] = field(
        default_factory=lambda: dict.fromkeys(
            ("placed", "resolved", "answered", "machines", "no_answer", "abandoned", "connected"), 0.0
        )
    )


_DIGITS = re.compile(r"\D")
_ANY = object()


def number_key(number: str | None) -> str:
    """Digits only, so ``+380 44...`` dialled and ``38044...`` reported compare equal."""
    return _DIGITS.sub("", number or "")


# A failed originate with no call to say more: the attempt's outcome from the result alone.
_ORIGINATE_FAIL: dict[OriginateOutcome, Outcome] = {
    OriginateOutcome.BUSY: Outcome.BUSY,
    OriginateOutcome.NO_ANSWER: Outcome.NO_ANSWER,
    OriginateOutcome.FAILED: Outcome.FAILED,
}


class DialerEngine:
    """Attempts of all running projects.  See the module docstring for the correlation rules.

    ``new_id`` makes attempt ids (uuid4 in the daemon, a counter in tests).  ``failed_grace_s``:
    how long after a failed ``OriginateResult`` a finished call may still arrive to say why
    (busy / no answer) before the attempt is settled from the result's reason alone.
    ``lost_after_s``: an attempt with no sign of life that long after its launch was never placed;
    ``stale_after_s``: a safety net for a call the leg engine never finished.
    """

    def __init__(
        self,
        *,
        agents: AgentBoard,
        new_id: Callable[[], str],
        failed_grace_s: float = 10.0,
        lost_after_s: float = 120.0,
        stale_after_s: float = 4 * 3600.0,
        project_variable: str = PROJECT_VARIABLE,
    ) -> None:
        self.agents = agents
        self.new_id = new_id
        self.failed_grace_s = failed_grace_s
        self.lost_after_s = lost_after_s
        self.stale_after_s = stale_after_s
        self.project_variable = project_variable
        self.projects: dict[str, _Project] = {}
        self.attempts: dict[str, Attempt] = {}  # in flight only
        self._by_channel: dict[str, str] = {}  # PBX channel id (or chosen id) -> attempt
        self._by_call: dict[str, str] = {}
        self._by_request: dict[str, str] = {}
        self._by_number: dict[str, str] = {}
        # a result that came before its request id (the originate's answer is read a moment later);
        # kept by arrival (the engine's last tick time) and dropped after EARLY_RESULT_TTL_S: busy
        # and failed FreeSWITCH originates report after their attempt settled, and another AMI
        # client's originates report here too, so most never match and must not pile up
        self._early_results: OrderedDict[str, tuple[float, ev.OriginateResult]] = OrderedDict()
        self._now = 0.0
        self._granted: dict[str, int] = {}  # the last decision, consumed by launch
        # pacer exceptions, for the service to log: one project's broken pacer must not stop the
        # others (or the engine's own bookkeeping); bounded, the service drains it every tick
        self.pacer_faults: list[tuple[str, str, Exception]] = []

    # -- projects --------------------------------------------------------------------------------
    def start_project(self, run: ProjectRun, pacer: PacerLike, now: float) -> None:
        if run.project_id in self.projects:
            self.projects[run.project_id].run = run
            return
        self.projects[run.project_id] = _Project(run, pacer, now)
        if run.wrap_up_s:
            self.agents.wrap_up_s[run.project_id] = run.wrap_up_s

    def stop_project(self, project_id: str) -> None:
        """Pause/complete: no new launches; calls in flight still settle."""
        self.projects.pop(project_id, None)

    def busy_contacts(self, project_id: str) -> set[str]:
        return {a.contact_id for a in self.attempts.values() if a.project_id == project_id}

    # -- pacing ------------------------------------------------------------------------------
    def state(self, project_id: str, now: float) -> _PacerState:
        p = self.projects[project_id]
        run = p.run
        ringing: list[float] = []
        waiting: list[float] = []
        connected = 0
        for a in self.attempts.values():
            if a.project_id != project_id:
                continue
            if a.connected_at is not None:
                connected += 1
            elif a.answered_at is not None:
                waiting.append(max(0.0, now - a.answered_at))
            else:
                ringing.append(max(0.0, now - a.launched_at))
        if run.kind == "operators":
            n, free, talking, wrapping = self.agents.figures(run.queue, now)
            # Agents serving two running projects: the other project's calls not yet connected
            # have a claim on the same free agents (else both would dial for them).
            claimed = sum(
                1
                for a in self.attempts.values()
                if a.project_id != project_id
                and a.connected_at is None
                and (q := self._queue_of(a.project_id)) is not None
                and (q == run.queue or q is _ANY or run.queue is None)
            )
            free = max(0, free - claimed)
        else:  # autoinformer / robot: the lines are the only limit; answered calls need no agent
            n, free, talking, wrapping = run.max_lines, run.max_lines - len(ringing) - connected, (), ()
        st = p.stats
        resolved = st["resolved"] or 1.0
        stats = {
            **st,
            "answer_rate": st["answered"] / resolved,
            "abandon_rate": st["abandoned"] / (st["answered"] or 1.0),
        }
        config = {
            "dial_timeout_s": run.dial_timeout_s,
            "connect_deadline_s": run.connect_deadline_s,
            "tick_s": 1.0,
            "amd": run.amd,
            "max_lines": run.max_lines,
            "horizon_s": 8 * 3600.0,
            "n_agents": n,
        }
        return _PacerState(
            now - p.t0, n, free, talking, wrapping, tuple(ringing), tuple(waiting), stats, config
        )

    def _queue_of(self, project_id: str) -> object | None:
        """The agents' queue of an operators project (``_ANY`` for all queues), None otherwise."""
        p = self.projects.get(project_id)
        if p is None or p.run.kind != "operators":
            return None
        return p.run.queue if p.run.queue is not None else _ANY

    def in_flight(self, project_id: str) -> int:
        return sum(1 for a in self.attempts.values() if a.project_id == project_id)

    def decide(self, now: float) -> dict[str, int]:
        """How many calls each running project launches now (pacer decision, capped by free lines)."""
        wants: dict[str, int] = {}
        for pid, p in self.projects.items():
            try:
                n = int(p.pacer.decide(self.state(pid, now)))
            except Exception as exc:  # this project dials nothing this tick; the others go on
                self._fault(pid, "decide", exc)
                n = 0
            n = min(max(0, n), p.run.max_lines - self.in_flight(pid))
            self._granted[pid] = max(0, n)
            if n > 0:
                wants[pid] = n
        return wants

    def launch(self, now: float, project_id: str, targets: Iterable[DialTarget]) -> list[Originate]:
        """Plan one attempt per target, at most what :meth:`decide` granted (skipping contacts and
        numbers already in flight)."""
        p = self.projects.get(project_id)
        if p is None:
            return []
        run = p.run
        busy = self.busy_contacts(project_id)
        out: list[Originate] = []
        room = min(self._granted.pop(project_id, 0), run.max_lines - self.in_flight(project_id))
        for t in targets:
            if len(out) >= room:
                break
            key = number_key(t.number)
            if t.contact_id in busy or not key or key in self._by_number:
                continue
            aid = self.new_id()
            a = Attempt(aid, project_id, t.contact_id, t.number, channel_id=aid, launched_at=now)
            self._track(a)
            busy.add(t.contact_id)
            out.append(self.command(a))
            p.stats["placed"] += 1
            self._pacer(a, "launch", now, 0.0)
        return out

    def command(self, a: Attempt) -> Originate:
        # a project not dialing (an attempt restored before its project starts) has no target yet:
        # the command is built again, with its project's own dial plan, when it is sent
        project = self.projects.get(a.project_id)
        run = project.run if project is not None else ProjectRun(a.project_id, context="", exten="")
        variables = (
            (self.project_variable, a.project_id),
            (ATTEMPT_VARIABLE, a.attempt_id),
            (CONTACT_VARIABLE, a.contact_id),
            *run.variables,
        )
        return Originate(
            a.attempt_id,
            a.project_id,
            a.contact_id,
            a.number,
            run.caller_id,
            run.context,
            run.exten.replace("{number}", number_key(a.number) or a.number),
            run.dial_timeout_s,
            a.channel_id,
            variables,
            self._dial(run, a.number),
        )

    @staticmethod
    def _dial(run: ProjectRun, number: str) -> str:
        if not run.dial:
            return ""
        try:
            return run.dial.replace("{number}", run.number_format.apply(number))
        except ValueError:
            return ""

    def _track(self, a: Attempt) -> None:
        self.attempts[a.attempt_id] = a
        self._by_channel[a.channel_id] = a.attempt_id
        self._by_number[number_key(a.number)] = a.attempt_id
        if a.request_id:
            self._by_request[a.request_id] = a.attempt_id
        if a.channel:
            self._by_channel[a.channel] = a.attempt_id
        if a.call_id:
            self._by_call[a.call_id] = a.attempt_id

    def _untrack(self, a: Attempt) -> None:
        self.attempts.pop(a.attempt_id, None)
        for index, key in (
            (self._by_channel, a.channel_id),
            (self._by_channel, a.channel),
            (self._by_call, a.call_id),
            (self._by_request, a.request_id),
            (self._by_number, number_key(a.number)),
        ):
            if key and index.get(key) == a.attempt_id:
                del index[key]

    def _waits_for_project(self, a: Attempt) -> bool:
        """A restored attempt never sent, of a project not dialing (paused when the daemon restarted):
        it is sent when the project dials again, and is no lost call meanwhile."""
        return a.restored and a.status is AttemptStatus.PLANNED and a.project_id not in self.projects

    def withdraw(self, attempt_ids: Iterable[str]) -> None:
        """Forget attempts :meth:`launch` planned that never reached the outbox (the database
        refused the write): nothing was sent, so they must not settle as calls that failed."""
        for aid in attempt_ids:
            a = self.attempts.get(aid)
            if a is None or a.status is not AttemptStatus.PLANNED:
                continue
            self._untrack(a)
            p = self.projects.get(a.project_id)
            if p is not None:
                p.stats["placed"] -= 1

    # -- outbox bookkeeping -----------------------------------------------------------------
    def mark_sent(self, attempt_id: str, request_id: str | None) -> list[Settlement]:
        """The originate went out (``request_id``: ActionID / Job-UUID, when the port knows it)."""
        a = self.attempts.get(attempt_id)
        if a is None:
            return []
        a.status = AttemptStatus.ORIGINATING
        if request_id:
            a.request_id = request_id
            self._by_request[request_id] = attempt_id
            early = self._early_results.pop(request_id, None)
            if early is not None:
                return self._originate_result(early[1])
        return []

    def send_failed(self, attempt_id: str, now: float, reason: str) -> list[Settlement]:
        """The originate could not be sent (PBX down): the attempt ends failed, it is not lost."""
        a = self.attempts.get(attempt_id)
        if a is None:
            return []
        return [self._settle(a, Outcome.FAILED, now, None, reason=f"not sent: {reason}")]

    def restore(self, attempts: Iterable[Attempt], now: float) -> list[Originate]:
        """Re-adopt attempts a previous run left in flight; returns the PLANNED ones to send.

        ORIGINATING ones are never sent again: they wait for their call, for reconciliation with
        the PBX's live channels (:class:`ChannelsSnapshot`) or for ``lost_after_s``.
        """
        resend: list[Originate] = []
        for a in attempts:
            a.restored = True
            self._track(a)
            if a.status is AttemptStatus.PLANNED:
                a.launched_at = now  # (re)launched now: its timers start over
                resend.append(self.command(a))
        return resend

    # -- PBX facts ----------------------------------------------------------------------------
    def _attempt_of(self, channel: str | None, call: str | None = None) -> Attempt | None:
        aid = self._by_channel.get(channel or "") or self._by_call.get(call or "")
        return self.attempts.get(aid) if aid else None

    def _bind(self, a: Attempt, channel: str | None, call: str | None) -> None:
        if channel and a.channel is None:
            a.channel = channel
            self._by_channel[channel] = a.attempt_id
        if call and a.call_id is None:
            a.call_id = call
            self._by_call[call] = a.attempt_id

    def on_event(self, e: ev.PbxEvent) -> list[Settlement]:
        """One normalized PBX event, in stream order (after the leg engine saw it)."""
        match e:
            case ev.OriginateResult():
                return self._originate_result(e)
            case ev.ChannelCreated():
                self._on_created(e)
            case ev.VariableSet():
                self._on_variable(e)
            case ev.AmdDetected():
                self._on_amd(e)
            case ev.DialBegin():
                self._on_dial_begin(e)
            case ev.ChannelAnswered():
                self._on_answered(e)
            case ev.QueueAgentConnect():
                self._on_connect(e)
            case ev.QueueAbandon():
                a = self._attempt_of(e.channel)
                if a is not None and a.connected_at is None:
                    self._pacer(a, "abandon", e.ts, e.hold_s if e.hold_s is not None else 0.0)
            case ev.ChannelHangup():
                self._on_hangup(e)
            case ev.ChannelsSnapshot():
                return self._reconcile(e) if e.complete else []
            case (
                ev.CallerIdChanged()
                | ev.ChannelRinging()
                | ev.HangupRequested()
                | ev.DialEnd()
                | ev.BridgeEnter()
                | ev.BridgeLeave()
                | ev.LocalPair()
                | ev.AppStarted()
                | ev.Dtmf()
                | ev.Hold()
                | ev.UserEvent()
                | ev.QueueJoin()
                | ev.QueueLeave()
                | ev.QueueAgentCalled()
                | ev.QueueAgentNoAnswer()
                | ev.Transfer()
                | ev.ChannelJoinsCall()
                | ev.Parked()
                | ev.SpyStarted()
                | ev.AgentStatus()
                | ev.ConnectionLost()
                | ev.Connected()
            ):
                pass  # nothing an attempt is waiting for
            case _:
                assert_never(e)
        return []

    def _on_created(self, e: ev.ChannelCreated) -> None:
        aid = self._by_channel.get(e.channel)
        a = self.attempts.get(aid) if aid else None
        if a is not None:
            self._bind(a, e.channel, e.call)

    def _on_variable(self, e: ev.VariableSet) -> None:
        if e.name == ATTEMPT_VARIABLE:
            a = self.attempts.get(e.value)
            if a is not None:
                self._bind(a, e.channel, e.call)

    def _on_amd(self, e: ev.AmdDetected) -> None:
        a = self._attempt_of(e.channel, e.call)
        if a is not None and not a.emitted & {"answer", "machine"}:
            a.answered_at = a.answered_at or e.ts
            kind = "machine" if e.result is AmdResult.MACHINE else "answer"
            self._pacer(a, kind, e.ts, e.ts - a.launched_at)

    def _on_dial_begin(self, e: ev.DialBegin) -> None:
        if e.channel or not e.dial_string:
            return  # only an originate's dial (no source channel) names an attempt's number
        aid = self._by_number.get(number_key(e.dial_string.split("@", 1)[0].rsplit("/", 1)[-1]))
        a = self.attempts.get(aid) if aid else None
        if a is not None:
            self._bind(a, e.dest, e.call)

    def _on_answered(self, e: ev.ChannelAnswered) -> None:
        a = self._attempt_of(e.channel)
        if a is not None and a.channel == e.channel and a.answered_at is None:
            run = self.projects.get(a.project_id)
            a.answered_at = e.ts
            if run is None or not run.run.amd:
                self._pacer(a, "answer", e.ts, e.ts - a.launched_at)

    def _on_connect(self, e: ev.QueueAgentConnect) -> None:
        a = self._attempt_of(e.channel)
        if a is not None and a.connected_at is None:
            a.connected_at = e.ts
            a.agent = e.extension
            wait = e.ts - (a.answered_at or e.ts)
            self._pacer(a, "connect", e.ts, e.hold_s if e.hold_s is not None else wait, e.extension)

    def _on_hangup(self, e: ev.ChannelHangup) -> None:
        a = self._attempt_of(e.channel)
        if a is not None and a.channel == e.channel:
            if a.connected_at is not None:
                self._pacer(a, "talk_end", e.ts, e.ts - a.connected_at, a.agent)
            elif a.answered_at is None:
                self._pacer(a, "no_answer", e.ts, e.ts - a.launched_at)

    def _originate_result(self, e: ev.OriginateResult) -> list[Settlement]:
        aid = self._by_request.get(e.request_id)
        if aid is None and e.channel:
            aid = self._by_channel.get(e.channel)
        a = self.attempts.get(aid) if aid else None
        if a is None:
            if e.request_id:
                if len(self._early_results) >= EARLY_RESULTS_MAX:
                    self._early_results.popitem(last=False)
                self._early_results[e.request_id] = (self._now, e)
            return []
        if e.success:
            self._bind(a, e.channel, e.channel if a.call_id is None else None)
        elif a.failed_at is None:
            a.failed_reason = e.reason or "failed"
            a.failed_outcome = e.outcome
            a.failed_at = e.ts
        return []

    def _reconcile(self, snap: ev.ChannelsSnapshot) -> list[Settlement]:
        """After a restart: an ORIGINATING attempt with no live channel was placed and is over."""
        live = {c.channel for c in snap.channels}
        by_num: dict[str, ev.ChannelSnapshotItem] = {}
        for c in snap.channels:
            for n in (c.exten, c.caller_num):
                if n:
                    by_num.setdefault(number_key(n), c)
        out: list[Settlement] = []
        for a in list(self.attempts.values()):
            if not a.restored or a.status is not AttemptStatus.ORIGINATING:
                continue
            if a.channel_id in live or (a.channel and a.channel in live):
                self._bind(a, a.channel_id if a.channel_id in live else a.channel, None)
                continue
            item = by_num.get(number_key(a.number))
            if item is not None:
                self._bind(a, item.channel, item.call)
                continue
            if a.call_id is None and a.failed_at is None:
                # No live channel: it ended while we were away.  Its call, if the journal had it
                # open, is being closed by the same snapshot and settles it from its legs; failing
                # that, the grace period ends it failed -- counted, never dialled again.
                a.failed_at, a.failed_reason = snap.ts, "no live channel after restart"
        return out

    def on_call(self, rec: CallRecord) -> list[Settlement]:
        """A finished call (after commit): settles the attempt it belongs to."""
        aid = self._by_call.get(rec.call_id)
        if aid is None:
            for leg in rec.legs:
                if leg.channel and leg.channel in self._by_channel:
                    aid = self._by_channel[leg.channel]
                    break
        if aid is None and rec.callee:
            cand = self._by_number.get(number_key(rec.callee))
            if cand is not None and self.attempts[cand].project_id == (
                rec.project or self.attempts[cand].project_id
            ):
                aid = cand
        a = self.attempts.get(aid) if aid else None
        if a is None:
            return []
        self._bind(a, None, rec.call_id)
        outcome = self.outcome_of(rec, a)
        main = [leg for leg in rec.legs if leg.extension is None or leg.role == "main"]
        answered_at = next((leg.answered_at for leg in rec.legs if leg.answered_at is not None), None)
        talk = sum(leg.talk_s for leg in rec.legs if leg.extension)
        # Events the live stream did not show (replayed captures, reconnect gaps), at PBX times.
        end = rec.ended_at
        if answered_at is not None and not a.emitted & {"answer", "machine"}:
            a.answered_at = a.answered_at or answered_at
            kind = "machine" if outcome is Outcome.MACHINE else "answer"
            self._pacer(a, kind, answered_at, answered_at - a.launched_at)
        agent_leg = next((leg for leg in rec.legs if leg.extension and leg.answered), None)
        if agent_leg is not None and "connect" not in a.emitted and agent_leg.answered_at is not None:
            a.connected_at = agent_leg.answered_at
            a.agent = agent_leg.extension
            self._pacer(
                a,
                "connect",
                agent_leg.answered_at,
                agent_leg.answered_at - (a.answered_at or end),
                agent_leg.extension,
            )
        if outcome is Outcome.ABANDONED and "abandon" not in a.emitted:
            p = self.projects.get(a.project_id)
            self._pacer(a, "abandon", end, p.run.connect_deadline_s if p else 2.0)
        if a.connected_at is not None and "talk_end" not in a.emitted:
            self._pacer(a, "talk_end", agent_leg.ended_at if agent_leg else end, talk, a.agent)
        if answered_at is None and "no_answer" not in a.emitted:
            self._pacer(a, "no_answer", end, end - a.launched_at)
        customer = next((leg.channel for leg in main if leg.channel), None)
        return [self._settle(a, outcome, end, rec.call_id, customer or a.channel, dict(rec.results), talk)]

    @staticmethod
    def outcome_of(rec: CallRecord, a: Attempt | None = None) -> Outcome:
        """A finished call's outcome for its contact (R-PRJ-8 retry classes)."""
        match rec.disposition:
            case Disposition.ANSWERED:
                return Outcome.MACHINE if rec.amd is AmdResult.MACHINE else Outcome.ANSWERED
            case Disposition.ABANDONED:
                answered = any(leg.answered for leg in rec.legs)
                return Outcome.ABANDONED if answered else Outcome.NO_ANSWER
            case Disposition.BUSY:
                return Outcome.BUSY
            case Disposition.NO_ANSWER | Disposition.MISSED:
                return Outcome.NO_ANSWER
            case Disposition.FAILED:
                return Outcome.FAILED
        return Outcome.FAILED  # pragma: no cover - closed enum

    def tick(self, now: float) -> list[Settlement]:
        """Timers by injected time: wrap-up ends (pacer ``wrap_end``), failed originates with no
        call, attempts that never showed a sign of life."""
        self._now = now
        early = self._early_results
        while early and next(iter(early.values()))[0] < now - EARLY_RESULT_TTL_S:
            early.popitem(last=False)
        for ext, wrap in self.agents.tick(now):
            for pid, p in self.projects.items():
                if p.run.kind == "operators" and any(
                    a.extension == ext for a in self.agents.in_queue(p.run.queue)
                ):
                    self._feed(pid, p, PacerEvent(now - p.t0, "wrap_end", None, ext, wrap))
        out: list[Settlement] = []
        for a in list(self.attempts.values()):
            # With a channel seen, the leg engine will finish the call (hang-up or reconciliation)
            # and its legs say more than the originate's reason code (busy vs failed): wait for it.
            no_call = a.call_id is None and a.channel is None
            if (
                a.failed_at is not None
                and a.answered_at is None
                and no_call
                and now - a.failed_at >= self.failed_grace_s
            ):
                outcome = _ORIGINATE_FAIL.get(a.failed_outcome, Outcome.FAILED)
                if "no_answer" not in a.emitted:
                    self._pacer(a, "no_answer", now, now - a.launched_at)
                out.append(self._settle(a, outcome, now, None, None, reason=f"originate: {a.failed_reason}"))
            elif no_call and now - a.launched_at >= self.lost_after_s and not self._waits_for_project(a):
                out.append(
                    self._settle(a, Outcome.FAILED, now, None, reason="no sign of the call on the PBX")
                )
            elif not no_call and now - a.launched_at >= self.stale_after_s:
                out.append(self._settle(a, Outcome.FAILED, now, None, reason="the call never finished"))
        return out

    def settle(
        self,
        attempt_id: str,
        outcome: Outcome,
        now: float,
        *,
        call_id: str | None = None,
        results: Mapping[str, str | None] | None = None,
        reason: str = "",
    ) -> Settlement | None:
        """Settle an attempt from outside the PBX stream (an operator's or the API's decision)."""
        a = self.attempts.get(attempt_id)
        if a is None:
            return None
        return self._settle(a, outcome, now, call_id, None, results, reason=reason)

    # -- internals ------------------------------------------------------------------------------
    def _pacer(self, a: Attempt, kind: str, ts: float, duration: float, agent: str | None = None) -> None:
        if kind in a.emitted:
            return
        a.emitted.add(kind)
        p = self.projects.get(a.project_id)
        if p is None:
            return
        st = p.stats
        if kind in ("answer", "machine", "no_answer"):
            st["resolved"] += 1
        if kind == "answer":
            st["answered"] += 1
        elif kind == "machine":
            st["machines"] += 1
        elif kind == "no_answer":
            st["no_answer"] += 1
        elif kind == "abandon":
            st["abandoned"] += 1
        elif kind == "connect":
            st["connected"] += 1
        e = PacerEvent(ts - p.t0, kind, a.attempt_id, agent, max(0.0, float(duration)))
        self._feed(a.project_id, p, e)

    def _feed(self, project_id: str, p: _Project, e: PacerEvent) -> None:
        try:
            p.pacer.on_event(e)
        except Exception as exc:
            self._fault(project_id, "on_event", exc)

    def _fault(self, project_id: str, stage: str, exc: Exception) -> None:
        if len(self.pacer_faults) < 1000:
            self.pacer_faults.append((project_id, stage, exc))

    def _settle(
        self,
        a: Attempt,
        outcome: Outcome,
        now: float,
        call_id: str | None,
        channel: str | None = None,
        results: Mapping[str, str | None] | None = None,
        talk_s: float = 0.0,
        reason: str = "",
    ) -> Settlement:
        self._untrack(a)
        a.status = AttemptStatus.SETTLED
        return Settlement(
            a.attempt_id,
            a.project_id,
            a.contact_id,
            a.number,
            outcome,
            now,
            call_id or a.call_id,
            channel or a.channel,
            dict(results or {}),
            talk_s,
            reason,
        )
