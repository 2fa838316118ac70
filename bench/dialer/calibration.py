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

The scoring is ``ccagent.sim.dialer_calibration.calibrate`` (the pacer tests use it too);
this prints it for the benchmark's scenarios.
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import replace

if __package__ in (None, ""):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

from bench.dialer.run import SCENARIOS
from ccagent.core.dialer.pacer import PredictivePacer
from ccagent.sim.dialer_calibration import calibrate


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
        cal = calibrate(PredictivePacer, replace(sc, horizon_s=opts.hours * 3600.0), opts.seed)
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
