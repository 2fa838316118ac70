"""Dialer pacing benchmark: our predictive pacer against baselines and a clairvoyant ceiling.

    python -m bench.dialer            # full: 8-hour shifts, every scenario, 3 seeds (~10 min, 2 cores)
    python -m bench.dialer --quick    # 2-hour shifts, 1 seed
    python bench/dialer/run.py --scenarios s05-short,s100-mid --seeds 1 --pacers predictive,clairvoyant

Prints one row per scenario and pacer (means over seeds, worst case for the abandon rates),
then the goal checks of issue 5 (R-PACE-2).  Figures go to docs/pacer.md.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

from bench.dialer.baselines import (
    ClairvoyantPacer,
    FixedRatioPacer,
    OutcomeClairvoyantPacer,
    VicidialAdaptPacer,
)
from ccagent.core.dialer.pacer import PredictivePacer, ProgressivePacer
from ccagent.sim.dialer_floor import Result, Scenario, run_shift

SCENARIOS: list[Scenario] = [
    Scenario("s05-short", 5, 0.30, aht_s=60.0, wrap_s=10.0),
    Scenario("s05-long-amd", 5, 0.15, aht_s=240.0, wrap_s=20.0, amd=True),
    Scenario("s10-high", 10, 0.50, aht_s=120.0, wrap_s=15.0),
    Scenario("s20-low-amd", 20, 0.10, aht_s=90.0, wrap_s=10.0, amd=True),
    Scenario("s20-drift-down", 20, 0.35, answer_rate_after=0.15, aht_s=120.0),
    Scenario("s50-high-short", 50, 0.60, aht_s=60.0, wrap_s=10.0),
    Scenario(
        "s50-drift-up-amd", 50, 0.12, answer_rate_after=0.40, change_at_s=3 * 3600.0, aht_s=150.0, amd=True
    ),
    Scenario("s100-low", 100, 0.10, aht_s=180.0, wrap_s=15.0),
    Scenario("s100-mid-amd", 100, 0.30, aht_s=90.0, wrap_s=12.0, amd=True),
    Scenario("s100-long", 100, 0.25, aht_s=300.0, wrap_s=30.0),
]

PACERS: dict[str, Callable[[], Any]] = {
    "predictive": PredictivePacer,
    "progressive": ProgressivePacer,
    "ratio2.0": lambda: FixedRatioPacer(2.0),
    "vicidial-adapt": VicidialAdaptPacer,
    # the reference: knows outcomes and ring times; spends the full 3% like a ceiling should
    "reference": lambda: OutcomeClairvoyantPacer(safety_margin=0.0),
    # a stronger oracle that also knows every talk and wrap time (no abandons at all)
    "oracle": ClairvoyantPacer,
}


def _job(args: tuple[Scenario, str, int]) -> Result:
    sc, pacer_name, seed = args
    return run_shift(PACERS[pacer_name](), sc, seed, pacer_name)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="2-hour shifts, one seed")
    ap.add_argument("--seeds", type=int, default=None, help="number of seeds (default 3, quick 1)")
    ap.add_argument("--hours", type=float, default=None, help="shift length (default 8, quick 2)")
    ap.add_argument("--scenarios", default="", help="comma-separated scenario names (default all)")
    ap.add_argument("--pacers", default="", help="comma-separated pacer names (default all)")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    opts = ap.parse_args(argv)
    seeds = opts.seeds if opts.seeds is not None else (1 if opts.quick else 3)
    hours = opts.hours if opts.hours is not None else (2.0 if opts.quick else 8.0)
    wanted = set(filter(None, opts.scenarios.split(",")))
    scenarios = [replace(s, horizon_s=hours * 3600.0) for s in SCENARIOS if not wanted or s.name in wanted]
    pacers = [p for p in PACERS if not opts.pacers or p in opts.pacers.split(",")]
    unknown = set(filter(None, opts.pacers.split(","))) - set(PACERS)
    if unknown or (wanted and not scenarios):
        print(f"unknown pacer(s) {sorted(unknown)} or scenario(s) {sorted(wanted)}", file=sys.stderr)
        return 2
    jobs = [(sc, p, seed) for sc in scenarios for seed in range(1, seeds + 1) for p in pacers]
    # longest first keeps both cores busy to the end
    jobs.sort(key=lambda j: -(j[0].n_agents / j[0].answer_rate) * (2 if j[1] == "oracle" else 1))
    t0 = time.perf_counter()
    if opts.jobs > 1:
        with ProcessPoolExecutor(max_workers=opts.jobs) as ex:
            results = list(ex.map(_job, jobs))
    else:
        results = [_job(j) for j in jobs]
    elapsed = time.perf_counter() - t0
    print(
        f"# dialer benchmark: {len(scenarios)} scenarios x {seeds} seed(s) x {len(pacers)} pacers, "
        f"{hours:g} h shifts, {elapsed:.0f} s wall"
    )
    report(scenarios, pacers, results)
    return 0


def _agg(rs: list[Result]) -> dict[str, float]:
    return {
        "occ": statistics.fmean(r.occupancy for r in rs),
        "ab": max(r.abandon_rate for r in rs),
        "ab_mean": statistics.fmean(r.abandon_rate for r in rs),
        "win": max(r.worst_window_abandon for r in rs),
        "cph": statistics.fmean(r.contacts_per_agent_hour for r in rs),
        "placed": statistics.fmean(r.placed for r in rs),
        "dec": statistics.fmean(r.decide_mean_us for r in rs),
        "dec_max": max(r.decide_max_us for r in rs),
    }


def report(scenarios: list[Scenario], pacers: list[str], results: list[Result]) -> None:
    by: dict[tuple[str, str], list[Result]] = {}
    for r in results:
        by.setdefault((r.scenario, r.pacer), []).append(r)
    print()
    print(
        "| scenario | agents | pacer | occupancy | occ/ref | occ/oracle | abandon (max seed) | "
        "worst 30-min | contacts/agent-h | calls placed | decide() mean us |"
    )
    print("|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    ratios: list[tuple[Scenario, float, float]] = []
    failures: list[str] = []
    for sc in scenarios:
        ref = by.get((sc.name, "reference"))
        ref_occ = _agg(ref)["occ"] if ref else float("nan")
        orc = by.get((sc.name, "oracle"))
        orc_occ = _agg(orc)["occ"] if orc else float("nan")
        aggs = {p: _agg(by[(sc.name, p)]) for p in pacers if (sc.name, p) in by}
        for p, a in aggs.items():
            rel = a["occ"] / ref_occ if ref else float("nan")
            rel_o = a["occ"] / orc_occ if orc else float("nan")
            print(
                f"| {sc.name} | {sc.n_agents} | {p} | {a['occ']:.3f} | {rel:.3f} | {rel_o:.3f} | "
                f"{a['ab'] * 100:.2f}% | {a['win'] * 100:.2f}% | {a['cph']:.1f} | "
                f"{a['placed']:.0f} | {a['dec']:.0f} |"
            )
        if "predictive" in aggs:
            a = aggs["predictive"]
            rel = a["occ"] / ref_occ if ref else float("nan")
            ratios.append((sc, rel, a["occ"]))
            if a["ab"] > 0.03:
                failures.append(f"{sc.name}: whole-run abandon {a['ab']:.2%} > 3%")
            wlim = 0.05 if sc.n_agents >= 20 else 0.08
            if a["win"] > wlim:
                failures.append(f"{sc.name}: worst window {a['win']:.2%} > {wlim:.0%}")
            if ref and sc.n_agents >= 20 and rel < 0.90:
                failures.append(f"{sc.name}: occupancy/ref {rel:.3f} < 0.90")
            if "vicidial-adapt" in aggs and a["occ"] <= aggs["vicidial-adapt"]["occ"]:
                failures.append(f"{sc.name}: occupancy not above the VICIdial-style baseline")
            if a["dec"] >= 1000.0:
                failures.append(f"{sc.name}: decide() mean {a['dec']:.0f} us >= 1 ms")
    print()
    if ratios and all(r == r for _s, r, _o in ratios):
        mean_rel = statistics.fmean(r for _s, r, _o in ratios)
        print(f"predictive occupancy / reference, mean over scenarios: {mean_rel:.3f} (goal >= 0.95)")
        if mean_rel < 0.95:
            failures.append(f"mean occupancy/ref {mean_rel:.3f} < 0.95")
    if "predictive" in pacers:
        print("goal checks: " + ("all met" if not failures else f"{len(failures)} missed"))
        for f in failures:
            print(f"  MISSED {f}")


if __name__ == "__main__":
    raise SystemExit(main())
