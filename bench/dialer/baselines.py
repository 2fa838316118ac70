"""Baseline pacers and the clairvoyant reference for the dialer benchmark.

* ``FixedRatioPacer``: a fixed number of lines per idle agent (VICIdial's RATIO method with
  "available only" tally): the classic predictive dialer without feedback.  In
  ``ccagent.sim.dialer_floor`` (the pacer tests use it too), re-exported here.
* ``VicidialAdaptPacer``: a re-implementation (from its documented behaviour, not its code)
  of VICIdial's AST_VDadapt dial-level loop with ``ADAPT_HARD_LIMIT``: every 15 s the dial
  level is scaled by the one-minute average of (ready agents - waiting calls) / agents,
  weighted by the intensity setting, clamped to [1, max level], halved when more than half of
  the last minute's answers were dropped, and forced to 1.0 while the day's drop rate is over
  the limit.  AST_VDauto_dial then keeps ``ceil(level * (agents in call + ready))`` lines
  busy.  Defaults are the best of a sweep (max level 3/6, drop limit 1/2 %, diff target 0/-2,
  intensity 0/-30) whose worst whole-run abandon rate stayed under 3% in every scenario:
  max level 3.0, drop limit 2%, target two agents waiting (-2), intensity -30.
* ``OutcomeClairvoyantPacer``: the reference ceiling of issue 5 -- it knows each number's
  outcome and ring time in advance, and must predict agent availability like anyone else.
* ``ClairvoyantPacer``: a stronger, "full" oracle that also reads every call's talk and wrap
  time, and launches a call only when an agent will surely be there within the connect
  deadline: the absolute ceiling, reported alongside.  In ``ccagent.sim.dialer_floor`` with
  ``FixedRatioPacer``, re-exported here.
"""

from __future__ import annotations

import math
from collections import deque
from typing import Any

from ccagent.core.dialer.estimators import normal_cdf
from ccagent.core.dialer.pacer import PredictivePacer
from ccagent.sim.dialer_floor import ClairvoyantPacer, FixedRatioPacer

__all__ = [
    "ClairvoyantPacer",
    "FixedRatioPacer",
    "OutcomeClairvoyantPacer",
    "VicidialAdaptPacer",
]


class VicidialAdaptPacer:
    def __init__(
        self,
        dropped_percentage: float = 2.0,
        max_level: float = 3.0,
        intensity: float = -30.0,
        dl_diff_target: float = -2.0,
        adapt_every_s: float = 15.0,
        start_level: float = 1.0,
    ) -> None:
        self.limit = dropped_percentage / 100.0
        self.max_level = max_level
        self.intensity = intensity
        self.dl_diff_target = dl_diff_target
        self.adapt_every_s = adapt_every_s
        self.level = start_level
        self._samples: deque[tuple[float, float, float]] = deque(maxlen=60)
        self._next_adapt = adapt_every_s
        self.answered = 0
        self.dropped = 0
        self._recent: deque[tuple[float, bool]] = deque()

    def on_event(self, event: Any) -> None:
        if event.kind == "answer":
            self.answered += 1
            self._recent.append((event.time, False))
        elif event.kind == "abandon":
            self.dropped += 1
            self._recent.append((event.time, True))

    def _adapt(self, now: float) -> None:
        s = self._samples
        if not s:
            return
        ready = sum(x[0] for x in s) / len(s)
        waiting = sum(x[1] for x in s) / len(s)
        agents = sum(x[2] for x in s) / len(s)
        if agents > 0:
            diff_mul = (ready - waiting + self.dl_diff_target) / agents
            pct = diff_mul * 100.0
            imul = self.intensity / 100.0
            idiff = pct * abs(imul - 1.0) if pct < 0 else pct * (imul + 1.0)
            level = self.level * (idiff / 100.0 + 1.0)
        else:
            level = self.level
        level = min(level, self.max_level)
        level = max(level, 1.0)
        while self._recent and self._recent[0][0] < now - 60.0:
            self._recent.popleft()
        calls_one = sum(1 for _t, d in self._recent if not d)
        drops_one = sum(1 for _t, d in self._recent if d)
        if calls_one > 20 and drops_one / calls_one > 0.5:
            level /= 2.0
        if self.answered > 50 and self.dropped / self.answered > self.limit:
            level = 1.0  # ADAPT_HARD_LIMIT
        self.level = max(level, 1.0)

    def decide(self, state: Any) -> int:
        now = state.time
        free = state.agents_free
        talking = state.n_talking
        waiting = state.n_waiting
        self._samples.append((free, waiting, free + talking))
        if len(self._samples) > 15:
            self._samples.popleft()
        if now >= self._next_adapt:
            self._adapt(now)
            self._next_adapt = now + self.adapt_every_s
        if state.n_agents <= 0:
            return 0
        goal = math.ceil(self.level * (talking + free))
        return max(0, goal - (state.n_ringing + waiting + talking))


class OutcomeClairvoyantPacer(PredictivePacer):
    """The issue's reference ceiling: knows every number's outcome and ring time in advance.

    It does not know how long anyone will talk or wrap up: like any real pacer it predicts
    when busy agents free up (from the same learned distributions as ``PredictivePacer``) and
    keeps its abandon rate on target with the same feedback.  The difference to a real pacer
    is exactly the information the issue names: which numbers will be answered, and when.
    """

    sim: Any = None

    def bind_oracle(self, sim: Any) -> None:
        self.sim = sim

    def decide(self, state: Any) -> int:
        sim = self.sim
        if state.n_agents <= 0:
            return 0
        now = sim.now
        sc = sim.scenario
        self._prepare(state, now)
        free_lines = sim.config["max_lines"] - len(sim.ringing) - len(sim.waiting) - len(sim.talking)
        if free_lines <= 0:
            return 0
        cap, cap_var = self._capacity(state.agents_free, state.agents_talking, state.agents_in_wrap)
        taus = self._taus
        m_n = len(taus)
        sd = [math.sqrt(v + 1e-3) for v in cap_var]
        known = [0.0] * len(sim.waiting)
        for call, t0 in sim.ringing.items():
            fate = sim.call_fate[call]
            if fate[2]:
                known.append(t0 + fate[1] - now)
        counts = [float(sum(1 for a in known if a <= tau)) for tau in taus]
        theta = self._theta(now, sc.horizon_s)
        n = 0
        while n < free_lines:
            _o, delay, needs_agent, _talk, _wrap = sim.peek(n).fate(sc, now)
            if needs_agent:
                first = next((m for m in range(m_n) if taus[m] >= delay), m_n - 1)
                trial = [c + 1.0 if m >= first else c for m, c in enumerate(counts)]
                risk = max(normal_cdf((trial[m] - cap[m] - 0.5) / sd[m]) for m in range(first, m_n))
                if risk > theta:
                    break
                counts = trial
                self.predicted_abandons += risk
                self._cal_pred += risk
            n += 1
        return n
