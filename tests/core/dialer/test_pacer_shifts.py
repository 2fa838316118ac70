"""Short simulated shifts through ccagent/sim/dialer_floor.py (SPEC R-PACE-2, R-PACE-3).

The simulator implements the harness contract of INTERFACE.md, so these are the same
pacer objects the daemon drives.  Shifts are short and few to keep the suite fast; the
8-hour, many-seed figures come from ``python -m bench.dialer``.
"""

from __future__ import annotations

from dataclasses import replace

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from ccagent.core.dialer.pacer import PredictivePacer, ProgressivePacer
from ccagent.sim.dialer_calibration import calibrate
from ccagent.sim.dialer_floor import (
    ClairvoyantPacer,
    FixedRatioPacer,
    Scenario,
    Simulator,
    run_shift,
    worst_window,
)


class Recorder:
    """Wraps a pacer and checks what the harness promises: events in time order, valid decisions."""

    def __init__(self, inner: object) -> None:
        self.inner = inner
        self.last_t = -1.0
        self.kinds: dict[str, int] = {}
        self.decisions: list[int] = []

    def on_event(self, event: object) -> None:
        assert event.time >= self.last_t  # type: ignore[attr-defined]
        self.last_t = event.time  # type: ignore[attr-defined]
        kind = event.kind  # type: ignore[attr-defined]
        self.kinds[kind] = self.kinds.get(kind, 0) + 1
        self.inner.on_event(event)  # type: ignore[attr-defined]

    def decide(self, state: object) -> int:
        n = self.inner.decide(state)  # type: ignore[attr-defined]
        assert isinstance(n, int) and n >= 0
        self.decisions.append(n)
        return n


def test_simulator_books_balance_and_are_reproducible() -> None:
    sc = Scenario("t", 8, 0.4, aht_s=60.0, horizon_s=1800.0)
    sim = Simulator(sc, 3)
    rec = Recorder(FixedRatioPacer(2.0))
    r = sim.run(rec)
    s = sim.stats
    assert s.placed == rec.kinds["launch"] == sum(rec.decisions)
    assert s.resolved == s.answered + s.machines + s.no_answer
    assert s.answered == s.connected + s.abandoned + len(sim.waiting)
    assert s.abandoned == rec.kinds.get("abandon", 0) > 0  # a 2.0 ratio at 40% answers overdials
    assert 0.0 < r.occupancy <= 1.0
    again = run_shift(FixedRatioPacer(2.0), sc, 3)
    assert (again.placed, again.abandoned, again.occupancy) == (r.placed, r.abandoned, r.occupancy)


def test_worst_window_finds_the_bad_half_hour() -> None:
    answers = [float(t) for t in range(0, 7200, 10)]  # 720 answers over 2 h, 180 per half hour
    abandons = [3600.0 + i for i in range(9)]  # 9 abandons clustered in one minute
    assert abs(worst_window(answers, abandons, 7200.0) - 9 / 180) < 1e-9
    assert worst_window(answers, [], 7200.0) == 0.0


def test_r_pace_3_no_calls_when_no_agent_is_logged_in() -> None:
    sc = Scenario("empty", 0, 0.3, horizon_s=600.0, max_lines=50)
    for pacer in (PredictivePacer(), ProgressivePacer()):
        assert run_shift(pacer, sc, 1).placed == 0


def test_r_pace_1_progressive_never_abandons() -> None:
    sc = Scenario("prog", 10, 0.5, aht_s=60.0, horizon_s=3600.0)
    r = run_shift(ProgressivePacer(), sc, 2)
    assert r.abandoned == 0 and r.connected > 100


def test_clairvoyant_reference_is_a_ceiling() -> None:
    sc = Scenario("ref", 20, 0.3, aht_s=90.0, horizon_s=3600.0)
    ref = run_shift(ClairvoyantPacer(), sc, 1)
    pred = run_shift(PredictivePacer(), sc, 1)
    assert ref.abandoned <= 1
    assert ref.occupancy >= 0.95
    assert pred.occupancy < ref.occupancy


@settings(
    max_examples=8,
    deadline=None,
    derandomize=True,
    phases=[Phase.explicit, Phase.generate],  # a failing shift is already small; shrinking one costs minutes
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    n_agents=st.sampled_from([5, 8, 12, 20, 35]),
    answer_rate=st.floats(min_value=0.1, max_value=0.6),
    aht=st.sampled_from([45.0, 90.0, 180.0, 300.0]),
    amd=st.booleans(),
    drift=st.sampled_from([None, 0.5, 2.0]),
    seed=st.integers(min_value=1, max_value=10_000),
)
def test_r_pace_2_abandons_stay_under_target_on_random_short_shifts(
    n_agents: int, answer_rate: float, aht: float, amd: bool, drift: float | None, seed: int
) -> None:
    after = None if drift is None else min(0.65, max(0.08, answer_rate * drift))
    sc = Scenario(
        "rnd",
        n_agents,
        answer_rate,
        answer_rate_after=after,
        change_at_s=3600.0,
        aht_s=aht,
        amd=amd,
        horizon_s=2 * 3600.0,
    )
    r = run_shift(PredictivePacer(), sc, seed)
    prog = run_shift(ProgressivePacer(), sc, seed)
    # 3% of answers, plus one abandon of slack for the discreteness of a small 2-hour sample
    assert r.abandoned <= 0.03 * r.answered + 1, (r.abandoned, r.answered)
    assert r.worst_window_abandon <= 0.08 or r.abandoned <= 3
    # and it must actually be predictive: busier agents than one call per idle agent
    assert r.occupancy >= prog.occupancy


def test_r_pace_2_learned_estimates_converge() -> None:
    sc = Scenario("conv", 30, 0.25, aht_s=120.0, wrap_s=15.0, amd=True, horizon_s=2 * 3600.0)
    pacer = PredictivePacer()
    sim = Simulator(sc, 5)
    sim.run(pacer)
    est = pacer.estimates()
    s = sim.stats
    assert abs(est["answer_rate"] - 0.25) < 0.03
    assert abs(est["machine_rate"] - sc.machine_rate) < 0.03  # AMD verdicts among all calls
    assert abs(est["aht_s"] - s.aht) / s.aht < 0.05
    assert abs(est["mean_wrap_s"] - s.mean_wrap) / s.mean_wrap < 0.1
    assert abs(est["mean_ring_to_answer_s"] - s.mean_ring_to_answer) < 1.0
    assert est["answer_rate_sd"] < 0.03


def test_r_pace_2_answer_rate_estimate_follows_a_mid_shift_drop_and_rise() -> None:
    for before, after in ((0.45, 0.15), (0.12, 0.40)):
        sc = Scenario("drift", 25, before, answer_rate_after=after, change_at_s=1800.0, horizon_s=3600.0)
        pacer = PredictivePacer()
        r = run_shift(pacer, sc, 11)
        live_after = after + sc.machine_rate  # AMD off: a machine needs an agent like a person
        assert abs(pacer.estimates()["answer_rate"] - live_after) < 0.05, (before, after)
        assert r.abandoned <= 0.03 * r.answered + 1


def test_same_pacer_twice_gives_identical_decisions() -> None:
    sc = replace(Scenario("det", 12, 0.35, aht_s=75.0), horizon_s=1800.0)
    a, b = Recorder(PredictivePacer()), Recorder(PredictivePacer())
    run_shift(a, sc, 4)
    run_shift(b, sc, 4)
    assert a.decisions == b.decisions


def test_r_pace_2_load_and_capacity_predictions_are_calibrated() -> None:
    """The risk the pacer compares with its threshold is a normal tail of ``L - D``: it is only
    as right as the means and variances it is built from.  Scored against what the simulator
    then did, the z-scores must look standard normal (a call's age must count as evidence, the
    Bernoulli variances must be right) -- not merely the learned averages converging."""
    sc = Scenario("calib", 20, 0.15, aht_s=90.0, wrap_s=10.0, amd=True, horizon_s=2.5 * 3600.0)
    cal = calibrate(PredictivePacer, sc, seed=2, horizons=(10, 18), warmup_s=1800.0)
    for what in ("load", "capacity", "load-capacity"):
        for tau, z in cal.z[what].items():
            assert z.n > 3000, (what, tau, z)
            assert abs(z.mean) < 0.15, (what, tau, z)
            assert 0.85 < z.sd < 1.15, (what, tau, z)
    # abandons the pacer expected for its launches vs those they met: right within a factor of 2
    # (later launches that answer first add to an earlier call's risk; the calibration feedback
    # of the threshold absorbs that share)
    predicted = sum(p for p, _o in cal.abandons_by_free.values())
    met = sum(o for _p, o in cal.abandons_by_free.values())
    assert predicted > 5 and 0.5 * predicted <= met <= 2.0 * predicted, (predicted, met)
