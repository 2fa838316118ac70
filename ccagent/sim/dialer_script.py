"""Simulated customers and agents for the dialer on the simulated Asterisk (issue 6 acceptance).

Each ``Originate`` the daemon sends is answered with a re-stamped copy of the lab's real capture
for the scripted outcome (``ccagent.sim.scenarios.OriginateScript``), so the leg engine sees
exactly what a real Asterisk produced:

=============  =============================================  ==========================
outcome        lab capture                                     what the customer does
=============  =============================================  ==========================
answered[:N]   08-dialer-answered-queue                        answers (after N s), an agent takes it
busy           10-dialer-busy                                  486 Busy Here
no_answer      09-dialer-no-answer                             rings out
failed         11-dialer-failed                                503 (congestion)
abandoned      24-dialer-abandon-safe-harbour                  answers, no agent in 2 s
dtmf:<d>       25-autoinformer-dtmf                            presses <d>
no_digit       26-autoinformer-no-digit                        hangs up without a digit
machine        28-amd                                          AMD says MACHINE
amd_notsure    28-amd                                          AMD says NOTSURE (as in the lab)
robot:<r>      30-dialog-robot                                 the robot reports <r>
=============  =============================================  ==========================

Simulated agents: an ``answered`` call is taken by the lowest-numbered agent free at the moment
the queue would connect it (the lab's agent 102 is renamed to that agent); the agent is then busy
until the call ends plus the project's wrap-up.  With no agent free the customer is abandoned
with the safe-harbour message (capture 24), as the dialplan in ``dialplan/asterisk`` does.

Every decision is logged in :attr:`AmiDialerScript.log` so tests can compare what ccagent stored
with what the script did.
"""

from __future__ import annotations

import asyncio
import functools
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ccagent.pbx.ami.parser import AmiMessage, AmiParser
from ccagent.sim.ami_server import SimAsterisk
from ccagent.sim.scenarios import _after_prefix, _Stamper, load_template

__all__ = ["AmiDialerScript", "SimCall", "agent_login_events"]

_TEMPLATES = {
    "answered": "08-dialer-answered-queue",
    "busy": "10-dialer-busy",
    "no_answer": "09-dialer-no-answer",
    "failed": "11-dialer-failed",
    "abandoned": "24-dialer-abandon-safe-harbour",
    "dtmf": "25-autoinformer-dtmf",
    "no_digit": "26-autoinformer-no-digit",
    "machine": "28-amd",
    "amd_notsure": "28-amd",
    "robot": "30-dialog-robot",
}
_LAB_AGENT = "102"
_RENAMES = {"LAB_PROJECT": "CCAGENT_PROJECT", "LAB_CONTACT": "CCAGENT_ATTEMPT"}
_NUMBER = re.compile(r"/(\+?\d{3,})@")


@dataclass
class SimCall:
    """What the simulated PBX did with one Originate."""

    action_id: str
    attempt_id: str
    project: str
    number: str
    nth: int  # 1 = the first originate of this number
    outcome: str  # the template played (answered may become abandoned when no agent is free)
    agent: str | None
    start: float
    end: float
    variables: dict[str, str] = field(default_factory=dict)
    scripted: str = ""  # the script's word, e.g. "dtmf:2", "answered:7"

    @property
    def expected(self) -> str:
        """The dialer outcome this call must settle with."""
        return {
            "dtmf": "answered",
            "no_digit": "answered",
            "robot": "answered",
            "amd_notsure": "answered",
        }.get(self.outcome, self.outcome)


def agent_login_events(agents: Sequence[str], queue: str, ts: float) -> list[AmiMessage]:
    """``QueueMemberAdded`` for each agent (the PBX's own login events, as in capture 27)."""
    return [
        AmiMessage.from_pairs(
            [
                ("Event", "QueueMemberAdded"),
                ("Privilege", "agent,all"),
                ("Timestamp", f"{ts + i * 0.001:.6f}"),
                ("Queue", queue),
                ("MemberName", f"Agent {a}"),
                ("Interface", f"PJSIP/{a}"),
                ("StateInterface", f"PJSIP/{a}"),
                ("Membership", "dynamic"),
                ("Penalty", "0"),
                ("CallsTaken", "0"),
                ("LastCall", "0"),
                ("LastPause", "0"),
                ("LoginTime", str(int(ts))),
                ("InCall", "0"),
                ("Status", "1"),
                ("Paused", "0"),
                ("PausedReason", ""),
                ("Ringinuse", "0"),
                ("Wrapuptime", "0"),
            ]
        )
        for i, a in enumerate(agents)
    ]


def _swap(mapping: dict[str, str]) -> Callable[[str], str]:
    if not mapping:
        return lambda s: s
    rx = re.compile(r"(?<![0-9A-Za-z.])(" + "|".join(map(re.escape, mapping)) + r")(?![0-9A-Za-z.])")
    return lambda s: rx.sub(lambda m: mapping[m.group(1)], s)


class SimAgents:
    """The simulated operators of both simulated PBXs: the first free agent (by extension) takes an
    answered customer, and stays busy until the call ends plus its wrap-up."""

    def __init__(self, agents: Sequence[str], wrap_s: float) -> None:
        self.wrap_s = wrap_s
        self.free_at: dict[str, float] = dict.fromkeys(agents, 0.0)

    def free_at_connect(self, connect: float) -> str | None:
        return next((a for a in sorted(self.free_at) if self.free_at[a] <= connect), None)

    def busy_until(self, agent: str, end: float) -> None:
        self.free_at[agent] = end + self.wrap_s


class AmiDialerScript:
    """Answers the daemon's originates on a :class:`SimAsterisk` (see the module docstring).

    ``outcome(number, nth)`` scripts the customer: ``nth`` counts this number's originates.
    ``clock`` gives the PBX time a call starts at (the tests' accelerated clock); calls are played
    ``speed`` times faster than the lab recorded them.
    """

    def __init__(
        self,
        sim: SimAsterisk,
        outcome: Callable[[str, int], str],
        *,
        agents: Sequence[str] = (),
        clock: Callable[[], float],
        speed: float = 1.0,
        wrap_s: float = 0.0,
        seed: int = 0,
    ) -> None:
        self.sim = sim
        self.outcome = outcome
        self.agents = list(agents)
        self.clock = clock
        self.speed = speed
        self.wrap_s = wrap_s
        self._stamper = _Stamper(seed)
        self.pool = SimAgents(self.agents, wrap_s)
        self.log: list[SimCall] = []
        self._count: dict[str, int] = {}
        self._tasks: set[asyncio.Task[Any]] = set()

    def install(self) -> None:
        self.sim.on_originate = self._hook

    async def login_agents(self, queue: str) -> None:
        await self.sim.play(agent_login_events(self.agents, queue, self.clock()))

    @property
    def playing(self) -> int:
        return len(self._tasks)

    def _hook(self, action: AmiMessage) -> None:
        # Decide synchronously (in the order the originates arrive), play in the background.
        try:
            msgs, call = self._build(action)
        except Exception as exc:  # a malformed Originate: the real PBX would refuse it too
            self.log.append(SimCall(action.get("ActionID") or "", "", "", "", 0, f"error: {exc}", None, 0, 0))
            return
        self.log.append(call)
        task = asyncio.ensure_future(self.sim.play(msgs, speed=self.speed))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _build(self, action: AmiMessage) -> tuple[list[AmiMessage], SimCall]:
        variables = dict(v.partition("=")[::2] for v in action.get_all("Variable"))
        m = _NUMBER.search(action.get("Channel", ""))
        if not m:
            raise ValueError("no number in Channel")
        number = m.group(1)
        nth = self._count[number] = self._count.get(number, 0) + 1
        wanted = self.outcome(number, nth)
        kind, _, arg = wanted.partition(":")
        if kind not in _TEMPLATES:
            raise ValueError(f"unknown scripted outcome {wanted!r}")
        start = self.clock()
        template = _TEMPLATES[kind]
        chan_id = action.get("ChannelId") or ""
        msgs = self._copy(template, number, action.get("ActionID") or "", variables, start, chan_id)
        ring = float(arg) if kind == "answered" and arg else None
        if ring is not None:
            msgs = _stretch_ring(msgs, ring)
        agent: str | None = None
        if kind == "answered":
            connect = next(float(x["Timestamp"]) for x in msgs if x.get("Event") == "AgentConnect")
            agent = self.pool.free_at_connect(connect)
            if agent is None:  # nobody to take it: the 2 s safe harbour, as the dialplan does
                kind = "abandoned"
                msgs = self._copy(
                    _TEMPLATES[kind], number, action.get("ActionID") or "", variables, start, chan_id
                )
                if ring is not None:
                    msgs = _stretch_ring(msgs, ring)
        swap = _swap({_LAB_AGENT: agent, agent: _LAB_AGENT} if agent and agent != _LAB_AGENT else {})
        digit = arg if kind == "dtmf" and arg else None
        out: list[AmiMessage] = []
        for msg in msgs:
            pairs = []
            for k, v in msg.raw_headers:
                if k == "Variable" and v in _RENAMES:
                    v = _RENAMES[v]
                elif kind == "machine":
                    v = v.replace("NOTSURE", "MACHINE")
                elif digit is not None and k == "Digit" and v == "1":
                    v = digit
                elif digit is not None and v.startswith("CcagentResult,Digit: 1,"):  # the UserEvent's AppData
                    v = v.replace(
                        "Digit: 1,Result: confirmed", f"Digit: {digit},Result: {_dtmf_result(digit)}"
                    )
                elif digit is not None and k == "Result" and v == "confirmed":
                    v = _dtmf_result(digit)
                elif kind == "robot" and arg:
                    v = v.replace("callback_requested", arg)
                pairs.append((k, swap(v)))
            out.append(AmiMessage.from_pairs(pairs))
        end = float(out[-1]["Timestamp"])
        if agent is not None:
            self.pool.busy_until(agent, end)
        call = SimCall(
            action.get("ActionID") or "",
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
        return out, call

    def _copy(
        self,
        template: str,
        number: str,
        action_id: str,
        variables: dict[str, str],
        start: float,
        channel_id: str = "",
    ) -> list[AmiMessage]:
        """A re-stamped copy of a lab capture carrying this originate's number, ActionID and
        project/attempt (the lab's LAB_PROJECT / LAB_CONTACT values, renamed later).  Like a real
        Asterisk, the originated channel's Uniqueid (and so the call's Linkedid) is the action's
        ``ChannelId`` when one is given."""
        tpl = load_template(template, None, True)
        vals, _ = self._stamper.values(tpl, start, {"num": number, "aid": action_id})
        text = "".join(fmt.format(*vals) for fmt in tpl.events)
        for lab, ours in (("LAB_PROJECT", "CCAGENT_PROJECT"), ("LAB_CONTACT", "CCAGENT_ATTEMPT")):
            value = variables.get(ours, "").replace("\\", "")
            text = re.sub(
                r"(Variable: " + lab + r"\r\nValue: )[^\r]*", functools.partial(_after_prefix, value), text
            )
        first = re.search(r"\r\nUniqueid: ([^\r]+)", text)
        if channel_id and first:
            text = re.sub(r"(?<![\w.])" + re.escape(first.group(1)) + r"(?![\w.])", channel_id, text)
        return AmiParser().feed(text.encode("utf-8"))

    async def wait_idle(self) -> None:
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)


def _stretch_ring(msgs: list[AmiMessage], ring_s: float) -> list[AmiMessage]:
    """The customer answers ``ring_s`` after the originate: every event from the answer on moves."""
    first = msgs[0].get("Uniqueid")
    t0 = float(msgs[0]["Timestamp"])
    t_ans = next(
        (
            float(m["Timestamp"])
            for m in msgs
            if m.get("Event") == "Newstate"
            and m.get("Uniqueid") == first
            and m.get("ChannelStateDesc") == "Up"
        ),
        None,
    )
    if t_ans is None:
        return msgs
    delta = ring_s - (t_ans - t0)
    out = []
    for m in msgs:
        ts = float(m.get("Timestamp") or 0.0)
        if ts >= t_ans - 1e-6:
            pairs = [(k, f"{ts + delta:.6f}" if k == "Timestamp" else v) for k, v in m.raw_headers]
            m = AmiMessage.from_pairs(pairs)
        out.append(m)
    return out


def _dtmf_result(digit: str) -> str:
    """What ``dialplan/asterisk`` ``ccagent-autoinformer`` reports for a digit."""
    return {"1": "confirmed", "2": "declined"}.get(digit, "other")
