"""Are a predictive pacer's probabilities right?  Its predictions scored against the simulated floor.

The pacer decides from two predictions per horizon ``tau``: the agents able to take a
customer by ``tau + deadline`` (capacity ``D``) and the live answers the calls already
ringing will bring by ``tau`` (load ``L``), each as a mean and a variance.  ``calibrate``
replays a shift on ``ccagent.sim.dialer_floor``, records those predictions at every decision
after the warm-up, and then checks them against what the floor actually did:

* z-scores ``(actual - predicted) / sd`` of ``D``, ``L`` and ``L - D``: a calibrated model
  gives mean ~0, sd ~1 and about 2.3% of scores above 2 (the normal tail the risk uses);
* abandons the pacer predicted for the calls it launched against the abandons those calls
  met, by how many agents were idle at the decision.

The pacer class is passed in, not imported: like the floor, this imports nothing from
``ccagent.core`` (the tests and ``python -m bench.dialer.calibration`` pass ``PredictivePacer``).
"""

from __future__ import annotations

import bisect
import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ccagent.sim.dialer_floor import Scenario, Simulator


@dataclass
class _Decision:
    time: float
    free: int
    cap: list[float]
    cap_var: list[float]
    load: list[float]  # answers from the calls ringing at the decision (waiting ones left out)
    load_var: list[float]
    ringing: frozenset[Any]
    busy: frozenset[Any]
    predicted_abandons: float
    abandons: int = 0


@dataclass
class ZStats:
    n: int
    mean: float
    sd: float
    above_2: float  # share of scores > 2 (0.0228 for a standard normal)


@dataclass
class Calibration:
    occupancy: float
    abandon_rate: float
    z: dict[str, dict[int, ZStats]]  # "capacity" / "load" / "load-capacity" -> tau -> stats
    abandons_by_free: dict[int, tuple[float, int]] = field(default_factory=dict)  # predicted, observed


def _recording(pacer_class: type[Any]) -> type[Any]:
    """``pacer_class`` with its per-tick predictions and the call/agent book kept.

    A subclass made here, not a wrapper: the predictions are intermediate results of
    ``decide`` (its ``_capacity`` and ``_load`` calls), seen only from inside the class.
    """

    class Recording(pacer_class):
        """The shipped pacer, unchanged, with its per-tick predictions and the call/agent book kept."""

        def __init__(self, warmup_s: float) -> None:
            super().__init__()
            self.warmup_s = warmup_s
            self.decisions: list[_Decision] = []
            self._ringing_ids: set[Any] = set()
            self._busy_ids: set[Any] = set()
            self.answer_at: dict[Any, float] = {}
            self.frees: list[tuple[float, Any]] = []
            self._launch_decision: dict[Any, int] = {}
            self._cur = -1
            self._cap: tuple[list[float], list[float], int] | None = None
            self._ld: tuple[list[float], list[float], int] | None = None

        def _capacity(
            self, free: int, talking: Sequence[float], wrapping: Sequence[float]
        ) -> tuple[list[float], list[float]]:
            cap, var = super()._capacity(free, talking, wrapping)
            self._cap = (cap, var, free)
            return cap, var

        def _load(
            self, now: float, p: float, ringing: Sequence[float], n_wait: int
        ) -> tuple[list[float], list[float]]:
            load, var = super()._load(now, p, ringing, n_wait)
            self._ld = (load, var, n_wait)
            return load, var

        def decide(self, state: Any) -> int:
            self._cap = self._ld = None
            before = self.predicted_abandons
            n = super().decide(state)
            self._cur = -1
            if self._cap is not None and self._ld is not None and state.time >= self.warmup_s:
                cap, cap_var, free = self._cap
                load, load_var, n_wait = self._ld
                self.decisions.append(
                    _Decision(
                        state.time,
                        free,
                        cap,
                        cap_var,
                        [x - n_wait for x in load],
                        load_var,
                        frozenset(self._ringing_ids),
                        frozenset(self._busy_ids),
                        self.predicted_abandons - before,
                    )
                )
                self._cur = len(self.decisions) - 1
            return n

        def on_event(self, event: Any) -> None:
            kind = event.kind
            if kind == "launch":
                self._ringing_ids.add(event.call_id)
                if self._cur >= 0:
                    self._launch_decision[event.call_id] = self._cur
            elif kind in ("answer", "machine", "no_answer"):
                self._ringing_ids.discard(event.call_id)
                if kind == "answer":
                    self.answer_at[event.call_id] = event.time
            elif kind == "connect":
                self._busy_ids.add(event.agent_id)
            elif kind == "wrap_end":
                self._busy_ids.discard(event.agent_id)
                self.frees.append((event.time, event.agent_id))
            elif kind == "abandon":
                i = self._launch_decision.get(event.call_id)
                if i is not None:
                    self.decisions[i].abandons += 1
            super().on_event(event)

    return Recording


def _zstats(z: list[float]) -> ZStats:
    if not z:
        return ZStats(0, float("nan"), float("nan"), float("nan"))
    return ZStats(len(z), statistics.fmean(z), statistics.pstdev(z), sum(1 for x in z if x > 2.0) / len(z))


def calibrate(
    pacer_class: type[Any],
    scenario: Scenario,
    seed: int = 1,
    horizons: Sequence[int] = (10, 18),
    warmup_s: float = 1800.0,
) -> Calibration:
    """Replay one shift and score the pacer's capacity and load predictions against the truth.

    ``pacer_class`` is ``ccagent.core.dialer.pacer.PredictivePacer`` or a pacer with its
    prediction steps (``_capacity``, ``_load``, ``_taus``, ``_dl``, ``predicted_abandons``),
    built with no arguments.
    """
    pacer = _recording(pacer_class)(warmup_s)
    result = Simulator(scenario, seed).run(pacer)
    taus = pacer._taus
    frees = sorted(pacer.frees, key=lambda x: x[0])
    free_times = [t for t, _a in frees]
    z: dict[str, dict[int, ZStats]] = {"capacity": {}, "load": {}, "load-capacity": {}}
    for tau in horizons:
        m = taus.index(tau)
        zc: list[float] = []
        zl: list[float] = []
        zd: list[float] = []
        for d in pacer.decisions:
            lo = bisect.bisect_right(free_times, d.time)
            hi = bisect.bisect_right(free_times, d.time + tau + pacer._dl)
            freed = {a for _t, a in frees[lo:hi] if a in d.busy}
            cap = d.free + len(freed)
            load = sum(1 for c in d.ringing if pacer.answer_at.get(c, math.inf) <= d.time + tau)
            if d.cap_var[m] > 0.05:
                zc.append((cap - d.cap[m]) / math.sqrt(d.cap_var[m]))
            if d.load_var[m] > 0.05:
                zl.append((load - d.load[m]) / math.sqrt(d.load_var[m]))
            var = d.cap_var[m] + d.load_var[m]
            if var > 0.05:
                zd.append(((load - cap) - (d.load[m] - d.cap[m])) / math.sqrt(var))
        z["capacity"][tau] = _zstats(zc)
        z["load"][tau] = _zstats(zl)
        z["load-capacity"][tau] = _zstats(zd)
    by_free: dict[int, tuple[float, int]] = {}
    for d in pacer.decisions:
        k = min(d.free, 4)
        pred, obs = by_free.get(k, (0.0, 0))
        by_free[k] = (pred + d.predicted_abandons, obs + d.abandons)
    return Calibration(result.occupancy, result.abandon_rate, z, dict(sorted(by_free.items())))
