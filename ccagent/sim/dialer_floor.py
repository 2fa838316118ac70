"""Event-by-event outbound shift simulator with the harness contract of shared/dialer/INTERFACE.md.

Any pacer with ``decide(state) -> int`` and ``on_event(event)`` runs here unchanged, exactly
as in the external harness and in the daemon (SPEC R-PACE-3).  The model of a shift:

* ``n_agents`` agents are logged in for the whole shift (``horizon_s``).
* Every tick (1 s) the harness delivers every event up to that instant, asks ``decide``,
  truncates the answer to the free trunk lines and launches that many calls to the next
  numbers on the list, in order.
* Each number's fate is drawn from the scenario's seeded stream, by list position: a live
  person (probability ``answer_rate``, which may change at ``change_at_s``), an answering
  machine (``machine_rate``) or no answer (busy/failed quickly, or rings out at the dial
  timeout).  With AMD on, live answers arrive after an extra analysis time and machines are
  released as ``machine`` events; with AMD off a machine is an ``answer`` that needs an
  agent for a short moment.
* An answered customer is bridged to the agent idle longest, else waits in FIFO order; at
  ``connect_deadline_s`` (2 s) without an agent it is abandoned.
* Talk and wrap-up times are lognormal (skewed, with the given mean and coefficient of
  variation); a freed agent takes the oldest waiting customer at once.

Outcomes are drawn per list position (not per pacer decision), so every pacer in a scenario
and seed faces the same list, which is what lets the clairvoyant reference peek ahead.

Shared by the pacer tests (tests/core/dialer) and the benchmark (``python -m bench.dialer``), so
it lives in the package beside the simulated PBXs, and like them it imports nothing from
``ccagent.core``: the floor that measures a pacer must not share code with it.  The two reference
pacers the tests compare against (``FixedRatioPacer``, ``ClairvoyantPacer``) need no pacer model
and live here too; the benchmark's other baselines stay in ``bench/dialer/baselines.py``.
"""

from __future__ import annotations

import heapq
import math
import random
import time as _time
from collections import deque, namedtuple
from dataclasses import dataclass, field
from typing import Any, Protocol

Event = namedtuple("Event", "time kind call_id agent_id duration")

# internal heap event codes
_RESOLVE, _DEADLINE, _TALK_END, _WRAP_END = 0, 1, 2, 3
# call outcomes
LIVE, MACHINE, NO_ANSWER = 0, 1, 2


class Pacer(Protocol):
    def decide(self, state: Any) -> int: ...

    def on_event(self, event: Any) -> None: ...


@dataclass(frozen=True)
class Scenario:
    name: str
    n_agents: int
    answer_rate: float
    answer_rate_after: float | None = None
    change_at_s: float = 4 * 3600.0
    machine_rate: float = 0.12
    amd: bool = False
    aht_s: float = 90.0
    talk_cv: float = 0.9
    wrap_s: float = 12.0
    wrap_cv: float = 0.5
    ring_mean_s: float = 9.0
    ring_cv: float = 0.5
    busy_rate: float = 0.2  # share of unanswered calls that end quickly (busy, failed)
    amd_s: tuple[float, float] = (1.5, 3.5)
    machine_talk_s: tuple[float, float] = (4.0, 15.0)
    horizon_s: float = 8 * 3600.0
    dial_timeout_s: float = 25.0
    connect_deadline_s: float = 2.0
    tick_s: float = 1.0
    max_lines: int = 0  # 0: derived from the team size and the lowest answer rate

    def lines(self) -> int:
        if self.max_lines > 0:
            return self.max_lines
        p = min(self.answer_rate, self.answer_rate_after or self.answer_rate)
        if not self.amd:
            p += self.machine_rate
        return int(max(10, math.ceil(self.n_agents * 2.5 / max(p, 0.05))))

    def answer_rate_at(self, t: float) -> float:
        if self.answer_rate_after is not None and t >= self.change_at_s:
            return self.answer_rate_after
        return self.answer_rate


def _lognormal(rng: random.Random, mean: float, cv: float) -> float:
    s2 = math.log(1.0 + cv * cv)
    return rng.lognormvariate(math.log(mean) - s2 / 2.0, math.sqrt(s2))


@dataclass
class CallDraw:
    """Everything chance decides about one list position, drawn before anyone dials it."""

    u: float
    ring_live: float
    ring_machine: float
    amd_t: float
    noans_t: float
    talk: float
    wrap: float
    machine_talk: float

    def fate(self, sc: Scenario, t: float) -> tuple[int, float, bool, float, float]:
        """(outcome, resolve delay, needs an agent, talk, wrap) if this number is dialed at ``t``."""
        p = sc.answer_rate_at(t)
        if self.u < p:
            delay = self.ring_live + (self.amd_t if sc.amd else 0.0)
            return LIVE, delay, True, self.talk, self.wrap
        if self.u < p + sc.machine_rate:
            if sc.amd:
                return MACHINE, self.ring_machine + self.amd_t, False, 0.0, 0.0
            return LIVE, self.ring_machine, True, self.machine_talk, self.wrap * 0.3
        return NO_ANSWER, self.noans_t, False, 0.0, 0.0


class Stats:
    """Running totals, readable as attributes or as keys."""

    __slots__ = (
        "abandoned",
        "answered",
        "connected",
        "machines",
        "no_answer",
        "placed",
        "resolved",
        "ring_to_answer_sum",
        "talk_n",
        "talk_sum",
        "wrap_n",
        "wrap_sum",
    )

    def __init__(self) -> None:
        self.abandoned = 0
        self.answered = 0
        self.connected = 0
        self.machines = 0
        self.no_answer = 0
        self.placed = 0
        self.resolved = 0
        self.ring_to_answer_sum = 0.0
        self.talk_n = 0
        self.talk_sum = 0.0
        self.wrap_n = 0
        self.wrap_sum = 0.0

    @property
    def answer_rate(self) -> float:
        return self.answered / self.resolved if self.resolved else 0.0

    @property
    def abandon_rate(self) -> float:
        return self.abandoned / self.answered if self.answered else 0.0

    @property
    def aht(self) -> float:
        return self.talk_sum / self.talk_n if self.talk_n else 0.0

    @property
    def mean_wrap(self) -> float:
        return self.wrap_sum / self.wrap_n if self.wrap_n else 0.0

    @property
    def mean_ring_to_answer(self) -> float:
        return self.ring_to_answer_sum / self.answered if self.answered else 0.0

    def __getitem__(self, key: str) -> Any:
        return getattr(self, key)


class SimState:
    """Read-only snapshot handed to ``decide``; tuple attributes are built when read."""

    __slots__ = ("_sim", "config", "stats")

    def __init__(self, sim: Simulator) -> None:
        self._sim = sim
        self.stats = sim.stats
        self.config = sim.config

    @property
    def time(self) -> float:
        return self._sim.now

    @property
    def n_agents(self) -> int:
        return self._sim.scenario.n_agents

    @property
    def agents_free(self) -> int:
        return len(self._sim.free)

    @property
    def agents_talking(self) -> tuple[float, ...]:
        now = self._sim.now
        return tuple(now - v[0] for v in self._sim.talking.values())

    @property
    def agents_in_wrap(self) -> tuple[float, ...]:
        now = self._sim.now
        return tuple(now - v[0] for v in self._sim.wrapping.values())

    @property
    def calls_ringing(self) -> tuple[float, ...]:
        now = self._sim.now
        return tuple(now - v for v in self._sim.ringing.values())

    @property
    def calls_waiting(self) -> tuple[float, ...]:
        now = self._sim.now
        return tuple(now - v for v in self._sim.waiting.values())

    @property
    def n_talking(self) -> int:
        return len(self._sim.talking)

    @property
    def n_wrap(self) -> int:
        return len(self._sim.wrapping)

    @property
    def n_ringing(self) -> int:
        return len(self._sim.ringing)

    @property
    def n_waiting(self) -> int:
        return len(self._sim.waiting)


@dataclass
class Result:
    scenario: str
    pacer: str
    seed: int
    occupancy: float
    abandon_rate: float
    worst_window_abandon: float
    contacts_per_agent_hour: float
    placed: int
    answered: int
    abandoned: int
    connected: int
    decide_mean_us: float
    decide_max_us: float
    wall_s: float
    extra: dict[str, float] = field(default_factory=dict)


class Simulator:
    def __init__(self, scenario: Scenario, seed: int) -> None:
        self.scenario = scenario
        self.seed = seed
        self._draw_rng = random.Random(f"calls:{scenario.name}:{seed}")
        self._draws: deque[CallDraw] = deque()
        self.now = 0.0
        self.free: deque[int] = deque(range(scenario.n_agents))
        self.talking: dict[int, tuple[float, float, float, int]] = {}  # agent -> (start, end, wrap, call)
        self.wrapping: dict[int, tuple[float, float]] = {}  # agent -> (start, end)
        self.ringing: dict[int, float] = {}  # call -> launch time
        self.call_fate: dict[int, tuple[int, float, bool, float, float]] = {}
        self.waiting: dict[int, float] = {}  # call -> answer time (FIFO by insertion)
        self.stats = Stats()
        self.config: dict[str, Any] = {
            "dial_timeout_s": scenario.dial_timeout_s,
            "connect_deadline_s": scenario.connect_deadline_s,
            "tick_s": scenario.tick_s,
            "amd": scenario.amd,
            "max_lines": scenario.lines(),
            "horizon_s": scenario.horizon_s,
            "n_agents": scenario.n_agents,
        }
        self._heap: list[tuple[float, int, int, int]] = []
        self._seq = 0
        self._next_call = 0
        self.busy_s = 0.0
        self.answer_times: list[float] = []
        self.abandon_times: list[float] = []

    # ----- the list of numbers -------------------------------------------------------------
    def _new_draw(self) -> CallDraw:
        r = self._draw_rng
        sc = self.scenario
        cap = sc.dial_timeout_s - 0.5
        ring_live = min(cap, max(1.5, _lognormal(r, sc.ring_mean_s, sc.ring_cv)))
        ring_machine = min(cap, max(2.0, _lognormal(r, sc.ring_mean_s * 1.4, sc.ring_cv)))
        amd_t = r.uniform(*sc.amd_s)
        noans_t = r.uniform(0.5, 6.0) if r.random() < sc.busy_rate else sc.dial_timeout_s
        talk = max(3.0, _lognormal(r, sc.aht_s, sc.talk_cv))
        wrap = max(1.0, _lognormal(r, sc.wrap_s, sc.wrap_cv))
        machine_talk = r.uniform(*sc.machine_talk_s)
        return CallDraw(r.random(), ring_live, ring_machine, amd_t, noans_t, talk, wrap, machine_talk)

    def peek(self, k: int) -> CallDraw:
        """The draw of the k-th next number on the list (0 = the next one dialed); for the oracle."""
        while len(self._draws) <= k:
            self._draws.append(self._new_draw())
        return self._draws[k]

    def _take_draw(self) -> CallDraw:
        if self._draws:
            return self._draws.popleft()
        return self._new_draw()

    # ----- event machinery -----------------------------------------------------------------
    def _push(self, t: float, code: int, ident: int) -> None:
        self._seq += 1
        heapq.heappush(self._heap, (t, self._seq, code, ident))

    def _start_talk(self, agent: int, call: int, t: float, talk: float, wrap: float) -> None:
        self.talking[agent] = (t, t + talk, wrap, call)
        self._push(t + talk, _TALK_END, agent)

    def _launch(self, t: float, emit: Any) -> None:
        cid = self._next_call
        self._next_call += 1
        fate = self._take_draw().fate(self.scenario, t)
        self.ringing[cid] = t
        self.call_fate[cid] = fate
        self.stats.placed += 1
        self._push(t + fate[1], _RESOLVE, cid)
        emit(Event(t, "launch", cid, None, 0.0))

    def _process(self, t: float, code: int, ident: int, emit: Any) -> None:
        st = self.stats
        if code == _RESOLVE:
            launch_t = self.ringing.pop(ident)
            outcome, delay, needs_agent, talk, wrap = self.call_fate.pop(ident)
            st.resolved += 1
            if needs_agent:
                st.answered += 1
                st.ring_to_answer_sum += delay
                self.answer_times.append(t)
                emit(Event(t, "answer", ident, None, t - launch_t))
                if self.free:
                    agent = self.free.popleft()
                    st.connected += 1
                    emit(Event(t, "connect", ident, agent, 0.0))
                    self._start_talk(agent, ident, t, talk, wrap)
                else:
                    self.waiting[ident] = t
                    self.call_fate[ident] = (outcome, delay, needs_agent, talk, wrap)
                    self._push(t + self.scenario.connect_deadline_s, _DEADLINE, ident)
            elif outcome == MACHINE:
                st.machines += 1
                emit(Event(t, "machine", ident, None, t - launch_t))
            else:
                st.no_answer += 1
                emit(Event(t, "no_answer", ident, None, t - launch_t))
        elif code == _DEADLINE:
            ans_t = self.waiting.pop(ident, None)
            if ans_t is not None:
                self.call_fate.pop(ident, None)
                st.abandoned += 1
                self.abandon_times.append(t)
                emit(Event(t, "abandon", ident, None, t - ans_t))
        elif code == _TALK_END:
            start, _end, wrap, call = self.talking.pop(ident)
            talk = t - start
            self.busy_s += talk
            st.talk_sum += talk
            st.talk_n += 1
            self.wrapping[ident] = (t, t + wrap)
            self._push(t + wrap, _WRAP_END, ident)
            emit(Event(t, "talk_end", call, ident, talk))
        else:  # _WRAP_END
            start, _end = self.wrapping.pop(ident)
            wrap = t - start
            self.busy_s += wrap
            st.wrap_sum += wrap
            st.wrap_n += 1
            emit(Event(t, "wrap_end", None, ident, wrap))
            deadline = self.scenario.connect_deadline_s
            while self.waiting:
                call, ans_t = next(iter(self.waiting.items()))
                del self.waiting[call]
                if t - ans_t >= deadline:  # its abandon is due at this very instant
                    st.abandoned += 1
                    self.abandon_times.append(t)
                    self.call_fate.pop(call, None)
                    emit(Event(t, "abandon", call, None, t - ans_t))
                    continue
                _o, _d, _n, talk, wrap2 = self.call_fate.pop(call)
                st.connected += 1
                emit(Event(t, "connect", call, ident, t - ans_t))
                self._start_talk(ident, call, t, talk, wrap2)
                return
            self.free.append(ident)

    # ----- the shift -----------------------------------------------------------------------
    def run(self, pacer: Pacer, name: str = "") -> Result:
        sc = self.scenario
        if hasattr(pacer, "bind_oracle"):
            pacer.bind_oracle(self)
        on_event = pacer.on_event
        decide = pacer.decide
        state = SimState(self)
        heap = self._heap
        max_lines = self.config["max_lines"]
        n_ticks = int(sc.horizon_s / sc.tick_s)
        decide_ns = 0
        decide_max = 0
        perf = _time.perf_counter_ns
        wall0 = _time.perf_counter()
        for tick in range(n_ticks):
            t = tick * sc.tick_s
            while heap and heap[0][0] <= t:
                et, _s, code, ident = heapq.heappop(heap)
                self.now = et
                self._process(et, code, ident, on_event)
            self.now = t
            t0 = perf()
            n = decide(state)
            dt = perf() - t0
            decide_ns += dt
            if dt > decide_max:
                decide_max = dt
            n = int(n) if n is not None else 0
            in_progress = len(self.ringing) + len(self.waiting) + len(self.talking)
            n = min(n, max_lines - in_progress)
            for _ in range(n):
                self._launch(t, on_event)
        wall = _time.perf_counter() - wall0
        end = sc.horizon_s
        # busy time of calls still in progress at the end of the shift
        busy = self.busy_s
        for start, _e, _w, _c in self.talking.values():
            busy += max(0.0, end - start)
        for start, _e in self.wrapping.values():
            busy += max(0.0, end - start)
        st = self.stats
        agent_s = sc.n_agents * end
        occ = busy / agent_s if agent_s > 0 else 0.0
        return Result(
            scenario=sc.name,
            pacer=name or type(pacer).__name__,
            seed=self.seed,
            occupancy=occ,
            abandon_rate=st.abandoned / st.answered if st.answered else 0.0,
            worst_window_abandon=worst_window(self.answer_times, self.abandon_times, end),
            contacts_per_agent_hour=st.connected / (agent_s / 3600.0) if agent_s > 0 else 0.0,
            placed=st.placed,
            answered=st.answered,
            abandoned=st.abandoned,
            connected=st.connected,
            decide_mean_us=decide_ns / max(1, n_ticks) / 1000.0,
            decide_max_us=decide_max / 1000.0,
            wall_s=wall,
        )


def worst_window(
    answers: list[float],
    abandons: list[float],
    horizon_s: float,
    window_s: float = 1800.0,
    step_s: float = 60.0,
) -> float:
    """Worst abandon rate over every window of ``window_s`` sliding by ``step_s`` inside the shift."""
    n_bins = math.ceil(horizon_s / step_s)
    a = [0] * n_bins
    b = [0] * n_bins
    for x in answers:
        a[min(n_bins - 1, int(x / step_s))] += 1
    for x in abandons:
        b[min(n_bins - 1, int(x / step_s))] += 1
    w = max(1, int(window_s / step_s))
    if w >= n_bins:
        tot = sum(a)
        return sum(b) / tot if tot else 0.0
    worst = 0.0
    sa = sum(a[:w])
    sb = sum(b[:w])
    for i in range(w, n_bins + 1):
        if sa > 0:
            worst = max(worst, sb / sa)
        if i < n_bins:
            sa += a[i] - a[i - w]
            sb += b[i] - b[i - w]
    return worst


def run_shift(pacer: Pacer, scenario: Scenario, seed: int, name: str = "") -> Result:
    return Simulator(scenario, seed).run(pacer, name)


# --- the reference pacers that need no model of the floor: the tests' and the benchmark's yardsticks ---


class FixedRatioPacer:
    """A fixed number of lines per idle agent (VICIdial's RATIO method with "available only" tally):
    the classic predictive dialer without feedback."""

    def __init__(self, ratio: float = 2.0) -> None:
        self.ratio = ratio

    def on_event(self, event: Any) -> None:
        return None

    def decide(self, state: Any) -> int:
        if state.n_agents <= 0 or state.agents_free <= 0:
            return 0
        return max(0, math.ceil(self.ratio * state.agents_free) - state.n_ringing - state.n_waiting)


class ClairvoyantPacer:
    """Reference ceiling: knows every number's fate and every call's durations in advance.

    It reads the simulator's own books (``bind_oracle``), and launches a call only when an agent
    will surely be there within the connect deadline: no abandons, the absolute ceiling.
    """

    def __init__(self, margin_s: float = 0.25) -> None:
        self.margin_s = margin_s
        self.sim: Any = None

    def bind_oracle(self, sim: Any) -> None:
        self.sim = sim

    def on_event(self, event: Any) -> None:
        return None

    def decide(self, state: Any) -> int:
        sim = self.sim
        t = sim.now
        sc = sim.scenario
        dl = sc.connect_deadline_s - self.margin_s
        frees = [t] * len(sim.free)
        frees.extend(end + wrap for _s, end, wrap, _c in sim.talking.values())
        frees.extend(end for _s, end in sim.wrapping.values())
        if not frees:
            return 0
        heapq.heapify(frees)
        commits = []
        for call, ans_t in sim.waiting.items():
            fate = sim.call_fate[call]
            commits.append((ans_t, fate[3], fate[4]))
        for call, launch_t in sim.ringing.items():
            fate = sim.call_fate[call]
            if fate[2]:
                commits.append((launch_t + fate[1], fate[3], fate[4]))
        commits.sort()
        for a, talk, wrap in commits:
            f = frees[0]
            if f > a + sc.connect_deadline_s:
                continue  # it will be abandoned anyway; it takes no agent
            heapq.heapreplace(frees, max(a, f) + talk + wrap)
        lines = sim.config["max_lines"] - len(sim.ringing) - len(sim.waiting) - len(sim.talking)
        n = 0
        while n < lines:
            _o, delay, needs_agent, talk, wrap = sim.peek(n).fate(sc, t)
            if needs_agent:
                a = t + delay
                f = frees[0]
                if f > a + dl:
                    break
                heapq.heapreplace(frees, max(a, f) + talk + wrap)
            n += 1
        return n
