"""Simulated customers and agents for the dialer on the simulated FreeSWITCH (issue 6 acceptance).

The FreeSWITCH twin of :mod:`ccagent.sim.dialer_script`: each ``bgapi originate`` is answered with
``+OK Job-UUID`` at once, then a re-stamped copy of the lab's real capture for the scripted outcome
is played -- its BACKGROUND_JOB carries this Job-UUID, its customer channel the command's
``origination_uuid``, its number and project variable the command's:

===========  ================================  ============================================
outcome      lab capture                       what happens
===========  ================================  ============================================
answered[:N] 15-dialer-to-queue                (rings N s) mod_callcenter connects an agent
busy         08c-dialer-busy                   -ERR USER_BUSY
no_answer    08b-dialer-no-answer              -ERR NO_ANSWER
failed       08d-dialer-failed                 -ERR NORMAL_TEMPORARY_FAILURE
abandoned    18-dialer-abandon-safe-harbour    answered, no agent in 2 s, message, hang-up
dtmf         19-autoinformer-dtmf              the customer presses the lab's digit
no_digit     20-autoinformer-no-digit          hangs up without a digit
machine      22-avmd                           avmd detects a machine (as recorded)
robot        24-dialog-robot                   the robot reports the lab's result
===========  ================================  ============================================

Calls overlap: events of all calls are merged by time and played ``speed`` times faster than
recorded.  The simulated agents behave as in the Asterisk twin (lowest-numbered free agent takes an
answered call, then is busy until the call ends plus the wrap-up; none free: safe harbour).
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import random
import re
import uuid as uuidlib
from collections.abc import Callable, Sequence
from typing import Any

from ccagent.sim.dialer_script import SimAgents, SimCall, _swap
from ccagent.sim.esl_scenarios import TRACES_DIR as _FS_TRACES
from ccagent.sim.esl_scenarios import CallTemplate, load_template, restamp_events
from ccagent.sim.esl_server import EslServer

__all__ = ["DialerEslServer", "FsDialerScript", "fs_agent_status_event"]

_TEMPLATES = {
    "answered": "15-dialer-to-queue",
    "busy": "08c-dialer-busy",
    "no_answer": "08b-dialer-no-answer",
    "failed": "08d-dialer-failed",
    "abandoned": "18-dialer-abandon-safe-harbour",
    "dtmf": "19-autoinformer-dtmf",
    "no_digit": "20-autoinformer-no-digit",
    "machine": "22-avmd",
    "robot": "24-dialog-robot",
}
_LAB_AGENT = "1004"
_VARS = re.compile(r"\{([^}]*)\}")
_ENDPOINT_NUMBER = re.compile(r"\}\S*?/(\+?[0-9*#]{2,32})(?:@\S*)?\s")


def fs_agent_status_event(agent: str, status: str, ts: float) -> dict[str, str]:
    """mod_callcenter's ``agent-status-change`` (as in capture 21): Available / On Break / Logged Out."""
    return {
        "Event-Subclass": "callcenter::info",
        "Event-Name": "CUSTOM",
        "Event-Date-Timestamp": str(int(ts * 1e6)),
        "Event-Calling-File": "mod_callcenter.c",
        "CC-Agent": f"{agent}@default",
        "CC-Action": "agent-status-change",
        "CC-Agent-Status": status,
    }


class DialerEslServer(EslServer):
    """The simulated FreeSWITCH plus an originate hook and a time-merging player for overlapping calls."""

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.on_originate: Callable[[str, str], None] | None = None
        self._heap: list[tuple[float, int, dict[str, str]]] = []
        self._seq = itertools.count()
        self._wake = asyncio.Event()
        self._heap_player: asyncio.Task[None] | None = None

    async def _command(self, c: Any, cmd: str) -> bool:
        word, _, rest = cmd.partition(" ")
        if (
            c.authed
            and word == "bgapi"
            and rest.startswith("originate ")
            and self.on_originate is not None
            and self.originate_refusal(rest) is None  # refused: the plain BACKGROUND_JOB -ERR
        ):
            self.commands.append(cmd)
            job = str(uuidlib.uuid4())
            await self._reply(c, f"+OK Job-UUID: {job}", f"Job-UUID: {job}\n")
            self.on_originate(rest, job)
            return True
        return await super()._command(c, cmd)

    def schedule(self, events: Sequence[dict[str, str]], at_wall: Sequence[float]) -> None:
        """Play each event at its wall-clock (loop) time, merged with every other scheduled call."""
        for e, t in zip(events, at_wall, strict=True):
            heapq.heappush(self._heap, (t, next(self._seq), e))
        self._wake.set()
        if self._heap_player is None or self._heap_player.done():
            self._heap_player = asyncio.ensure_future(self._play_heap())

    @property
    def scheduled(self) -> int:
        return len(self._heap)

    async def _play_heap(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            if not self._heap:
                self._wake.clear()
                await self._wake.wait()
                continue
            due = self._heap[0][0]
            delay = due - loop.time()
            if delay > 0:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), delay)
                continue
            _, _, e = heapq.heappop(self._heap)
            self._apply(e)
            await self._broadcast(e)
            self.played += 1

    async def stop(self) -> None:
        if self._heap_player is not None:
            self._heap_player.cancel()
        await super().stop()


class FsDialerScript:
    """Answers the daemon's ``bgapi originate`` on a :class:`DialerEslServer` (module docstring)."""

    def __init__(
        self,
        server: DialerEslServer,
        outcome: Callable[[str, int], str],
        *,
        agents: Sequence[str] = (),
        clock: Callable[[], float],
        speed: float = 1.0,
        wrap_s: float = 0.0,
        seed: int = 0,
    ) -> None:
        self.server = server
        self.outcome = outcome
        self.agents = list(agents)
        self.clock = clock
        self.speed = speed
        self.wrap_s = wrap_s
        self.rng = random.Random(seed)
        self.pool = SimAgents(self.agents, wrap_s)
        self.log: list[SimCall] = []
        self._count: dict[str, int] = {}
        self._templates: dict[str, CallTemplate] = {}
        self._ends: list[float] = []

    def install(self) -> None:
        self.server.on_originate = self._hook

    def login_agents(self) -> None:
        now = self.clock()
        wall = asyncio.get_running_loop().time()
        events = [fs_agent_status_event(a, "Available", now + i * 0.001) for i, a in enumerate(self.agents)]
        self.server.schedule(events, [wall] * len(events))

    def _template(self, name: str) -> CallTemplate:
        tpl = self._templates.get(name)
        if tpl is None:
            tpl = self._templates[name] = load_template(_FS_TRACES / name)
        return tpl

    @property
    def playing(self) -> int:
        now = asyncio.get_running_loop().time()
        return sum(1 for t in self._ends if t > now)

    def _hook(self, command: str, job: str) -> None:
        try:
            self._build(command, job)
        except Exception as exc:
            self.log.append(SimCall(job, "", "", "", 0, f"error: {exc}", None, 0, 0))

    def _build(self, command: str, job: str) -> None:
        m = _VARS.search(command)
        variables = dict(kv.partition("=")[::2] for kv in (m.group(1).split(",") if m else []))
        num = _ENDPOINT_NUMBER.search(command + " ")
        if not num:
            raise ValueError("no number in the originate endpoint")
        number = num.group(1)
        nth = self._count[number] = self._count.get(number, 0) + 1
        wanted = self.outcome(number, nth)
        kind, _, arg = wanted.partition(":")
        if kind not in _TEMPLATES:
            raise ValueError(f"unknown scripted outcome {kind!r}")
        start = self.clock()
        ring = float(arg) if kind == "answered" and arg else None
        events, agent = self._copy(kind, number, job, variables, start, ring)
        if kind == "answered" and agent is None:
            kind = "abandoned"
            events, agent = self._copy(kind, number, job, variables, start, ring)
        stamps = [
            int(e["Event-Date-Timestamp"]) / 1e6
            for e in events
            if e.get("Event-Date-Timestamp", "").isdigit()
        ]
        end = max(stamps) if stamps else start
        if agent is not None:
            self.pool.busy_until(agent, end)
        loop_now = asyncio.get_running_loop().time()
        walls = [
            loop_now + max(0.0, int(e.get("Event-Date-Timestamp") or 0) / 1e6 - start) / self.speed
            for e in events
        ]
        self._ends.append(max(walls) if walls else loop_now)
        self.server.schedule(events, walls)
        self.log.append(
            SimCall(
                job,
                variables.get("CCAGENT_ATTEMPT", ""),
                variables.get("CCAGENT_PROJECT", ""),
                number,
                nth,
                kind,
                agent,
                start,
                end,
                variables,
                wanted,
            )
        )

    def _copy(
        self,
        kind: str,
        number: str,
        job: str,
        variables: dict[str, str],
        start: float,
        ring: float | None = None,
    ) -> tuple[list[dict[str, str]], str | None]:
        tpl = self._template(_TEMPLATES[kind])
        first = tpl.events[0]
        lab_uuid = first.get("Unique-ID", "")
        lab_number = first.get("Caller-Destination-Number", "")
        lab_job = next(
            (e.get("Job-UUID", "") for e in tpl.events if e.get("Event-Name") == "BACKGROUND_JOB"), ""
        )
        mapping = {lab_uuid: variables.get("origination_uuid") or str(uuidlib.uuid4()), lab_job: job}
        events = restamp_events(tpl, int(start * 1e6), self.rng, mapping)
        if ring is not None:
            events = _stretch_ring(events, mapping[lab_uuid], ring)
        agent: str | None = None
        if kind == "answered":
            connect = next(
                int(e["Event-Date-Timestamp"]) / 1e6
                for e in events
                if e.get("CC-Action") == "bridge-agent-start"
            )
            agent = self.pool.free_at_connect(connect)
            if agent is None:
                return [], None
        renames = {lab_number: number} if lab_number else {}
        if agent and agent != _LAB_AGENT:
            renames.update({_LAB_AGENT: agent, agent: _LAB_AGENT})
        swap = _swap(renames)
        project = variables.get("CCAGENT_PROJECT", "")
        out = []
        for e in events:
            ne: dict[str, str] = {}
            for k, v in e.items():
                if k == "variable_dialer_campaign":
                    ne["variable_CCAGENT_PROJECT"] = project
                    continue
                ne[k] = swap(v)
            out.append(ne)
        return out, agent

    async def wait_idle(self) -> None:
        while self.server.scheduled:
            await asyncio.sleep(0.02)


_TIME_KEY = re.compile(r"^(Event-Date-Timestamp|Caller-.*-Time|CC-.*-Time|variable_.*_uepoch)$")


def _stretch_ring(events: list[dict[str, str]], customer: str, ring_s: float) -> list[dict[str, str]]:
    """The customer answers ``ring_s`` after the originate: every time from the answer on moves."""
    t0 = int(events[0].get("Event-Date-Timestamp") or 0)
    t_ans = next(
        (
            int(e["Event-Date-Timestamp"])
            for e in events
            if e.get("Event-Name") == "CHANNEL_ANSWER" and e.get("Unique-ID") == customer
        ),
        None,
    )
    if t_ans is None:
        return events
    delta = int(ring_s * 1e6) - (t_ans - t0)
    out = []
    for e in events:
        ne = dict(e)
        for k, v in e.items():
            if _TIME_KEY.match(k) and v.isdigit() and len(v) >= 16 and int(v) >= t_ans:
                ne[k] = str(int(v) + delta)
        out.append(ne)
    return out
