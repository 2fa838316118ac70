"""Are the predictive pacer's probabilities right?  (issue 5 analysis)

    python -m bench.dialer.calibration [--hours 8] [--seed 1] [--scenarios s05-short,s20-low-amd,s100-low]

The pacer decides from two predictions per horizon ``tau``: the agents able to take a
customer by ``tau + deadline`` (capacity ``D``) and the live answers the calls already
ringing will bring by ``tau`` (load ``L``), each as a mean and a variance.  This replays a
shift, records those predictions at every decision after the first half hour, and then
checks them against what the simulator actually did:

* z-scores ``(actual - predicted) / sd`` of ``D``, ``L`` and ``L - D``: a calibrated model
  gives mean ~0, sd ~1 and about 2.3% of scores above 2 (the normal tail the risk uses);
* abandons the pacer predicted for the calls it launched against the abandons those calls
  met, by how many agents were idle at the decision.

If the predictions are calibrated but the pacer still trails the reference, the gap is in
what the pacer cannot know (which ringing calls will answer), not in how it learns.
"""

from __future__ import annotations

import argparse
import bisect
import math
import os
import statistics
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

from bench.dialer.run import SCENARIOS
from bench.dialer.sim import Scenario, Simulator
from ccagent.core.dialer.pacer import PredictivePacer


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


class _RecordingPacer(PredictivePacer):
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


def _zstats(z: list[float]) -> ZStats:
    if not z:
        return ZStats(0, float("nan"), float("nan"), float("nan"))
    return ZStats(len(z), statistics.fmean(z), statistics.pstdev(z), sum(1 for x in z if x > 2.0) / len(z))


def calibrate(
    scenario: Scenario, seed: int = 1, horizons: Sequence[int] = (10, 18), warmup_s: float = 1800.0
) -> Calibration:
    """Replay one shift and score the pacer's capacity and load predictions against the truth."""
    pacer = _RecordingPacer(warmup_s)
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


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--hours", type=float, default=8.0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--scenarios", default="s05-short,s20-low-amd,s100-low")
    opts = ap.parse_args(argv)
    names = opts.scenarios.split(",")
    print("| scenario | prediction | tau | n | z mean | z sd | P(z > 2) |")
    print("|---|---|---:|---:|---:|---:|---:|")
    cals = {}
    for sc in SCENARIOS:
        if sc.name not in names:
            continue
        cal = calibrate(replace(sc, horizon_s=opts.hours * 3600.0), opts.seed)
        cals[sc.name] = cal
        for what, per_tau in cal.z.items():
            for tau, s in per_tau.items():
                cells = f"{s.n} | {s.mean:+.3f} | {s.sd:.3f} | {s.above_2:.4f}"
                print(f"| {sc.name} | {what} | {tau} | {cells} |")
    print("\n(standard normal: z sd 1.000, P(z > 2) 0.0228)\n")
    print("| scenario | idle agents at the decision | abandons predicted | abandons met | met / predicted |")
    print("|---|---:|---:|---:|---:|")
    for name, cal in cals.items():
        for free, (pred, obs) in cal.abandons_by_free.items():
            ratio = obs / pred if pred > 0 else float("nan")
            label = f"{free}+" if free == 4 else str(free)
            print(f"| {name} | {label} | {pred:.1f} | {obs} | {ratio:.2f} |")
        tot_p = sum(p for p, _o in cal.abandons_by_free.values())
        tot_o = sum(o for _p, o in cal.abandons_by_free.values())
        print(f"| {name} | all | {tot_p:.1f} | {tot_o} | {tot_o / tot_p if tot_p else float('nan'):.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
