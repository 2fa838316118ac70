"""Shapes outside the ten benchmark scenarios: does the predictive pacer keep the limits there too?

    python -m bench.dialer.stress              # 4-hour shifts, seeds 1-3 (~40 s on 2 cores)
    python -m bench.dialer.stress --hours 8 --seeds 6

The external harness runs its own scenarios, so the 3% limit must not depend on ours.  These
are the odd shapes an operator will meet: one to three agents, 200 agents, very low and very
high answer rates, a surge and a crash of the answer rate, long ring times and short
timeouts, too few trunk lines, many machines, a heavy talk-time tail, a 2-second tick, slow AMD.
Prints occupancy, the worst whole-run and 30-minute abandon rates and decide() time, and
exits 1 if any run breaks 3% over the shift.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace

if __package__ in (None, ""):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

from ccagent.core.dialer.pacer import PredictivePacer
from ccagent.sim.dialer_floor import Result, Scenario, run_shift

SHAPES: list[Scenario] = [
    Scenario("1-agent", 1, 0.30, aht_s=60.0, wrap_s=10.0),
    Scenario("2-agents-50%", 2, 0.50, aht_s=30.0, wrap_s=5.0),
    Scenario("3-agents-amd", 3, 0.20, aht_s=120.0, amd=True),
    Scenario("5-agents-80%", 5, 0.80, aht_s=90.0),
    Scenario("talk-20s", 10, 0.40, aht_s=20.0, wrap_s=3.0),
    Scenario("answer-5%-amd", 30, 0.05, aht_s=120.0, amd=True),
    Scenario("surge-10-to-60%", 20, 0.10, answer_rate_after=0.60, change_at_s=3600.0, aht_s=90.0),
    Scenario("crash-60-to-5%", 20, 0.60, answer_rate_after=0.05, change_at_s=3600.0, aht_s=90.0),
    Scenario("ring-20s-timeout-40s", 10, 0.30, ring_mean_s=20.0, ring_cv=0.8, dial_timeout_s=40.0),
    Scenario("timeout-15s", 10, 0.30, dial_timeout_s=15.0),
    Scenario("25-lines-20-agents", 20, 0.25, max_lines=25),
    Scenario("machines-40%", 10, 0.20, machine_rate=0.40),
    Scenario("talk-cv-2.5", 10, 0.30, talk_cv=2.5, aht_s=120.0),
    Scenario("tick-2s", 15, 0.30, tick_s=2.0),
    Scenario("slow-amd", 50, 0.25, amd=True, amd_s=(3.0, 6.0)),
    Scenario("200-agents", 200, 0.20, aht_s=120.0),
]


def _job(args: tuple[Scenario, int]) -> Result:
    sc, seed = args
    return run_shift(PredictivePacer(), sc, seed, "predictive")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--hours", type=float, default=4.0)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    opts = ap.parse_args(argv)
    shapes = [replace(s, horizon_s=opts.hours * 3600.0) for s in SHAPES]
    jobs = [(s, seed) for s in shapes for seed in range(1, opts.seeds + 1)]
    with ProcessPoolExecutor(max_workers=max(1, opts.jobs)) as ex:
        results = list(ex.map(_job, jobs))
    print(f"# predictive pacer on {len(shapes)} shapes x {opts.seeds} seed(s), {opts.hours:g} h shifts")
    print("| shape | agents | occupancy | abandon (worst seed) | worst 30-min | decide() mean us |")
    print("|---|---:|---:|---:|---:|---:|")
    broken = []
    for s in shapes:
        rs = [r for r in results if r.scenario == s.name]
        worst = max(r.abandon_rate for r in rs)
        if worst > 0.03:
            broken.append(s.name)
        print(
            f"| {s.name} | {s.n_agents} | {statistics.fmean(r.occupancy for r in rs):.3f} | "
            f"{worst * 100:.2f}% | {max(r.worst_window_abandon for r in rs) * 100:.2f}% | "
            f"{statistics.fmean(r.decide_mean_us for r in rs):.0f} |"
        )
    print("whole-run abandon <= 3% in every run" if not broken else f"BROKE 3%: {', '.join(broken)}")
    return 1 if broken else 0


if __name__ == "__main__":
    raise SystemExit(main())
