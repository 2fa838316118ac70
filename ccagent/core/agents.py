"""Operator (agent) states for the dialer and the supervisor view (issue 6 item 5, R-PRJ-5, R-PACE).

The PBX knows membership and pause (Asterisk QueueMemberAdded/Removed/Pause, FreeSWITCH
mod_callcenter agent status: the adapters turn both into :class:`AgentStatus`); it does not know
ccagent's own wrap-up, which is per project and must hold an agent out of the dialer's reach until
it ends.  This module joins the two: PBX facts move the login/pause flags, call events move the
activity (ringing, talking), and wrap-up ends when the injected ``now`` passes its deadline, never
by reading a clock.  Pure and synchronous (STYLE lesson 1).

A pause does not interrupt a call in progress: the agent stays ``talking`` and is shown ``paused``
once the call (and its wrap-up) is over, which is also how both PBXs behave.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import assert_never

from ccagent.core import pbx_events as ev

__all__ = [
    "CALL_PROJECT_CAP",
    "Activity",
    "AgentBoard",
    "AgentState",
    "AgentView",
    "replay_statuses",
    "waiting_seconds",
]

CALL_PROJECT_CAP = 20_000  # project-tagged calls remembered (~3 h at 100 dialer calls a minute)


class AgentState(StrEnum):
    LOGGED_OUT = "logged_out"
    READY = "ready"
    RINGING = "ringing"
    TALKING = "talking"
    WRAP_UP = "wrap_up"
    PAUSED = "paused"


class Activity(StrEnum):
    IDLE = "idle"
    RINGING = "ringing"
    TALKING = "talking"
    WRAP_UP = "wrap_up"


@dataclass
class _Agent:
    extension: str
    queues: set[str] = field(default_factory=set)
    logged_in: bool = False
    pause_reason: str | None = None
    paused: bool = False
    activity: Activity = Activity.IDLE
    since: float = 0.0  # when the current activity began (PBX time)
    wrap_until: float | None = None
    call: str | None = None  # the call being offered / talked
    channel: str | None = None  # the agent's own channel on that call
    project: str | None = None


@dataclass(frozen=True, slots=True)
class AgentView:
    """One row of ``ccagent agent list`` and of the project view's agent table."""

    extension: str
    state: AgentState
    queues: tuple[str, ...]
    reason: str | None
    since: float
    call: str | None
    project: str | None


class AgentBoard:
    """All agents' states, fed with PBX events in order; ``tick(now)`` ends wrap-ups.

    ``wrap_up_s`` maps a project (the ``CCAGENT_PROJECT`` of the call) to its wrap-up seconds;
    calls of no project use ``default_wrap_s``.
    """

    def __init__(self, *, wrap_up_s: dict[str, float] | None = None, default_wrap_s: float = 0.0) -> None:
        self.wrap_up_s = dict(wrap_up_s or {})
        self.default_wrap_s = default_wrap_s
        self._agents: dict[str, _Agent] = {}
        self._by_channel: dict[str, str] = {}  # agent channel -> extension
        # call -> project, from VariableSet.  Only a call that reaches an agent is forgotten by its
        # hang-up (most dialer calls never do: no answer, busy, machine), so the oldest entries go
        # once there are more than any floor has calls waiting for an agent
        self._call_project: dict[str, str] = {}

    # -- inputs -------------------------------------------------------------------------------
    def _get(self, ext: str) -> _Agent:
        a = self._agents.get(ext)
        if a is None:
            a = self._agents[ext] = _Agent(ext)
        return a

    def apply(self, e: ev.PbxEvent, project_variable: str = "CCAGENT_PROJECT") -> list[str]:
        """Apply one PBX event; returns the extensions whose state changed."""
        match e:
            case ev.AgentStatus():
                return self._status(e)
            case ev.VariableSet():
                if e.name == project_variable and e.value:
                    cp = self._call_project
                    cp[e.call] = e.value
                    if len(cp) > CALL_PROJECT_CAP:
                        del cp[next(iter(cp))]  # the oldest call tagged (dicts keep insertion order)
            case ev.QueueAgentCalled():
                return self._queue_rings(e)
            case ev.QueueAgentNoAnswer():
                return self._queue_ring_ended(e)
            case ev.QueueAgentConnect():
                if e.extension:
                    a = self._get(e.extension)
                    self._set(a, Activity.TALKING, e.ts, e.call, e.member)
                    return [a.extension]
            case ev.ChannelCreated():
                return self._phone_created(e)
            case ev.ChannelAnswered():
                return self._phone_answered(e)
            case ev.ChannelHangup():
                return self._channel_gone(e.channel, e.call, e.ts)
            case ev.ChannelsSnapshot():
                return self._reconcile(e) if e.complete else []
            case (
                ev.CallerIdChanged()
                | ev.ChannelRinging()
                | ev.HangupRequested()
                | ev.DialBegin()
                | ev.DialEnd()
                | ev.BridgeEnter()
                | ev.BridgeLeave()
                | ev.LocalPair()
                | ev.AppStarted()
                | ev.Dtmf()
                | ev.Hold()
                | ev.UserEvent()
                | ev.AmdDetected()
                | ev.QueueJoin()
                | ev.QueueLeave()
                | ev.QueueAbandon()
                | ev.Transfer()
                | ev.ChannelJoinsCall()
                | ev.Parked()
                | ev.SpyStarted()
                | ev.OriginateResult()
                | ev.ConnectionLost()
                | ev.Connected()
            ):
                pass  # no change to what an agent is doing
            case _:
                assert_never(e)
        return []

    def _queue_rings(self, e: ev.QueueAgentCalled) -> list[str]:
        if not e.extension:
            return []
        a = self._get(e.extension)
        if a.activity is Activity.IDLE:
            self._set(a, Activity.RINGING, e.ts, e.call, e.member)
            return [a.extension]
        return []

    def _queue_ring_ended(self, e: ev.QueueAgentNoAnswer) -> list[str]:
        if not e.extension:
            return []
        a = self._get(e.extension)
        if a.activity is Activity.RINGING and a.call == e.call:
            self._set(a, Activity.IDLE, e.ts, None, None)
            return [a.extension]
        return []

    def _phone_created(self, e: ev.ChannelCreated) -> list[str]:
        """A known agent's phone rings or dials outside any queue (direct bridge from the
        dialplan, a manual call): busy all the same."""
        if not e.extension or e.extension not in self._agents:
            return []
        a = self._agents[e.extension]
        if a.activity is Activity.IDLE:
            self._set(a, Activity.RINGING, e.ts, e.call, e.channel)
            return [a.extension]
        return []

    def _phone_answered(self, e: ev.ChannelAnswered) -> list[str]:
        ext = self._by_channel.get(e.channel)
        if ext is None:
            return []
        a = self._agents[ext]
        if a.activity is Activity.RINGING and a.channel == e.channel:
            self._set(a, Activity.TALKING, e.ts, a.call, e.channel)
            return [a.extension]
        return []

    def _reconcile(self, e: ev.ChannelsSnapshot) -> list[str]:
        live = {c.channel for c in e.channels}
        changed: list[str] = []
        for chan in [c for c in self._by_channel if c not in live]:
            changed += self._channel_gone(chan, None, e.ts)
        return changed

    def _status(self, e: ev.AgentStatus) -> list[str]:
        a = self._get(e.extension)
        match e.action:
            case "login":
                if e.queue:
                    a.queues.add(e.queue)
                a.logged_in = True
            case "logout":
                if e.queue:
                    a.queues.discard(e.queue)
                if not e.queue or not a.queues:
                    a.logged_in = False
                    a.queues.clear()
                    a.paused = False
                    a.pause_reason = None
            case "pause":
                a.logged_in = True
                a.paused = True
                a.pause_reason = e.reason
            case "unpause":
                a.logged_in = True
                a.paused = False
                a.pause_reason = None
            case _:
                return []
        if e.queue and e.action != "logout":
            a.queues.add(e.queue)
        if a.activity is Activity.IDLE:
            a.since = e.ts
        return [a.extension]

    def _set(self, a: _Agent, act: Activity, ts: float, call: str | None, channel: str | None) -> None:
        if a.channel and self._by_channel.get(a.channel) == a.extension:
            del self._by_channel[a.channel]
        a.activity, a.since, a.call, a.channel = act, ts, call, channel
        a.wrap_until = None
        a.project = self._call_project.get(call) if call else None
        if channel:
            self._by_channel[channel] = a.extension

    def _channel_gone(self, channel: str, call: str | None, ts: float) -> list[str]:
        ext = self._by_channel.get(channel)
        if ext is None:
            return []
        a = self._agents[ext]
        if a.activity is Activity.TALKING:
            project = a.project
            wrap = self.wrap_up_s.get(project, self.default_wrap_s) if project else self.default_wrap_s
            del self._by_channel[channel]
            a.channel = None
            if wrap > 0:
                a.activity, a.since, a.wrap_until = Activity.WRAP_UP, ts, ts + wrap
            else:
                a.activity, a.since, a.call, a.project = Activity.IDLE, ts, None, None
        else:
            self._set(a, Activity.IDLE, ts, None, None)
        if call is not None and not any(x.call == call for x in self._agents.values()):
            self._call_project.pop(call, None)
        return [ext]

    def tick(self, now: float) -> list[tuple[str, float]]:
        """End the wrap-ups due by ``now``; returns ``(extension, wrap seconds)`` of each ended one."""
        ended: list[tuple[str, float]] = []
        for a in self._agents.values():
            if a.activity is Activity.WRAP_UP and a.wrap_until is not None and a.wrap_until <= now:
                ended.append((a.extension, a.wrap_until - a.since))
                a.activity, a.since, a.call, a.project = Activity.IDLE, a.wrap_until, None, None
                a.wrap_until = None
        return ended

    # -- reads ------------------------------------------------------------------------------
    def state_of(self, ext: str) -> AgentState:
        a = self._agents.get(ext)
        if a is None or (not a.logged_in and a.activity is Activity.IDLE):
            return AgentState.LOGGED_OUT
        if a.activity is not Activity.IDLE:
            return AgentState(a.activity.value)
        return AgentState.PAUSED if a.paused else AgentState.READY

    def view(self) -> list[AgentView]:
        return [
            AgentView(
                a.extension,
                self.state_of(a.extension),
                tuple(sorted(a.queues)),
                a.pause_reason if a.paused else None,
                a.since,
                a.call,
                a.project,
            )
            for a in sorted(self._agents.values(), key=lambda x: x.extension)
        ]

    def in_queue(self, queue: str | None) -> list[_Agent]:
        """Logged-in agents serving ``queue`` (all logged-in agents when ``queue`` is None).

        mod_callcenter reports an agent's status without its queues (tiers are configuration):
        an agent whose queues are unknown is counted for every queue.
        """
        return [
            a
            for a in self._agents.values()
            if a.logged_in and (queue is None or not a.queues or queue in a.queues)
        ]

    def figures(self, queue: str | None, now: float) -> tuple[int, int, tuple[float, ...], tuple[float, ...]]:
        """``(n_agents, free, talking ages, wrap ages)`` for the pacer's state (INTERFACE.md)."""
        members = self.in_queue(queue)
        free = 0
        talking: list[float] = []
        wrapping: list[float] = []
        n = 0
        for a in members:
            if a.paused and a.activity is Activity.IDLE:
                continue  # a paused agent is not part of the team the pacer plans for
            n += 1
            if a.activity is Activity.IDLE:
                free += 1
            elif a.activity is Activity.WRAP_UP:
                wrapping.append(max(0.0, now - a.since))
            else:  # ringing counts as busy: the queue has picked this agent
                talking.append(max(0.0, now - a.since))
        return n, free, tuple(talking), tuple(wrapping)


def replay_statuses(
    statuses: Iterable[ev.AgentStatus], until: float
) -> tuple[AgentBoard, dict[str, list[tuple[float, float]]]]:
    """Replay stored PBX statuses (time order): the board as they leave it, and when each agent was ready.

    Going through an :class:`AgentBoard` gives a stored history exactly the meaning the live
    board gives it (a logout from one of two queues keeps the agent in; a pause seen before any
    login means the agent was a member).  "Ready" is logged in and not paused; a span still
    open runs to ``until``.
    """
    board = AgentBoard()
    spans: dict[str, list[tuple[float, float]]] = {}
    opened: dict[str, float] = {}
    for s in statuses:
        board.apply(s)
        ext = s.extension
        ready = board.state_of(ext) is AgentState.READY
        if ready and ext not in opened:
            opened[ext] = s.ts
        elif not ready and ext in opened:
            spans.setdefault(ext, []).append((opened.pop(ext), s.ts))
    for ext, t in opened.items():
        if t < until:
            spans.setdefault(ext, []).append((t, until))
    return board, spans


def waiting_seconds(
    ready: Iterable[tuple[float, float]], busy: Iterable[tuple[float, float]], since: float, until: float
) -> float:
    """Seconds within ``[since, until)`` an agent was ready and not busy (R-PRJ-5 "time waiting").

    ``busy`` are the agent's calls (offered, talked, and the wrap-up after them), which may
    overlap one another (a consult call during a call); only their union is taken off.
    """

    def clipped(spans: Iterable[tuple[float, float]]) -> list[tuple[float, float]]:
        out: list[tuple[float, float]] = []
        for a, b in sorted((max(a, since), min(b, until)) for a, b in spans):
            if b <= a:
                continue
            if out and a <= out[-1][1]:
                out[-1] = (out[-1][0], max(out[-1][1], b))
            else:
                out.append((a, b))
        return out

    r, b = clipped(ready), clipped(busy)
    total = sum(y - x for x, y in r)
    i = 0
    for x, y in r:  # both lists are sorted and disjoint: one merge pass
        while i < len(b) and b[i][1] <= x:
            i += 1
        j = i
        while j < len(b) and b[j][0] < y:
            total -= min(y, b[j][1]) - max(x, b[j][0])
            j += 1
    return max(0.0, total)
