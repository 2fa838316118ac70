"""Where does the gap to the clairvoyant reference come from?  (issue 5 analysis)

    python -m bench.dialer.gap [--hours 2] [--scenarios s05-short,s20-low-amd,s100-low]

Runs the predictive pacer with parts of its prediction replaced by the simulator's truth:

* ``+agents``: the exact moment each busy agent will be free (talk and wrap end known);
* ``+ringing``: exactly which ringing calls will be answered, and when;
* ``+both``: both.  New calls stay unknown, which is what is left to the clairvoyants
  (``reference``: outcomes and ring times of every number; ``oracle``: talk and wrap times too).

If an oracle part barely moves occupancy, better learning of that part cannot help either.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

from bench.dialer.baselines import ClairvoyantPacer, OutcomeClairvoyantPacer
from bench.dialer.run import SCENARIOS
from ccagent.core.dialer.pacer import PredictivePacer
from ccagent.sim.dialer_floor import run_shift


class AgentsOracle(PredictivePacer):
    sim: Any = None

    def bind_oracle(self, sim: Any) -> None:
        self.sim = sim

    def _capacity(
        self, free: int, talking: Sequence[float], wrapping: Sequence[float]
    ) -> tuple[list[float], list[float]]:
        now, dl = self.sim.now, self._dl
        ends = [e + w for _s, e, w, _c in self.sim.talking.values()]
        ends += [e for _s, e in self.sim.wrapping.values()]
        cap = [float(free + sum(1 for x in ends if x <= now + tau + dl)) for tau in self._taus]
        return cap, [0.0] * len(cap)


class RingingOracle(PredictivePacer):
    sim: Any = None

    def bind_oracle(self, sim: Any) -> None:
        self.sim = sim

    def _load(
        self, now: float, p: float, ringing: Sequence[float], n_wait: int
    ) -> tuple[list[float], list[float]]:
        sim = self.sim
        ans = [t0 + sim.call_fate[c][1] for c, t0 in sim.ringing.items() if sim.call_fate[c][2]]
        load = [float(n_wait + sum(1 for a in ans if a <= now + tau)) for tau in self._taus]
        return load, [0.0] * len(load)


class BothOracle(AgentsOracle, RingingOracle):
    pass


VARIANTS = {
    "predictive": PredictivePacer,
    "+agents": AgentsOracle,
    "+ringing": RingingOracle,
    "+both": BothOracle,
    "reference": lambda: OutcomeClairvoyantPacer(safety_margin=0.0),
    "oracle": ClairvoyantPacer,
}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--hours", type=float, default=2.0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--scenarios", default="s05-short,s20-low-amd,s100-low")
    opts = ap.parse_args(argv)
    names = opts.scenarios.split(",")
    print("| scenario | " + " | ".join(VARIANTS) + " |")
    print("|---|" + "---:|" * len(VARIANTS))
    for sc in SCENARIOS:
        if sc.name not in names:
            continue
        sc = replace(sc, horizon_s=opts.hours * 3600.0)
        cells = []
        for cls in VARIANTS.values():
            r = run_shift(cls(), sc, opts.seed)
            cells.append(f"{r.occupancy:.3f} ({r.abandon_rate:.1%})")
        print(f"| {sc.name} | " + " | ".join(cells) + " |")
    print("\noccupancy (whole-run abandon rate)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
