"""Contract tests of the pacers (SPEC R-PACE-1, R-PACE-3; shared/dialer/INTERFACE.md)."""

from __future__ import annotations

import math
from collections import namedtuple
from dataclasses import dataclass, field, replace
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ccagent.core.dialer.pacer import PredictivePacer, ProgressivePacer
from ccagent.sim.dialer_floor import Event

PACERS = [PredictivePacer, ProgressivePacer]


@dataclass
class FakeState:
    time: float = 0.0
    n_agents: int = 10
    agents_free: int = 10
    agents_talking: tuple[float, ...] = ()
    agents_in_wrap: tuple[float, ...] = ()
    calls_ringing: tuple[float, ...] = ()
    calls_waiting: tuple[float, ...] = ()
    config: dict[str, Any] = field(
        default_factory=lambda: {
            "dial_timeout_s": 25.0,
            "connect_deadline_s": 2.0,
            "tick_s": 1.0,
            "amd": False,
            "max_lines": 60,
            "horizon_s": 3600.0,
            "n_agents": 10,
        }
    )
    stats: dict[str, Any] = field(default_factory=dict)

    @property
    def n_talking(self) -> int:
        return len(self.agents_talking)

    @property
    def n_wrap(self) -> int:
        return len(self.agents_in_wrap)

    @property
    def n_ringing(self) -> int:
        return len(self.calls_ringing)

    @property
    def n_waiting(self) -> int:
        return len(self.calls_waiting)


@pytest.mark.parametrize("cls", PACERS)
def test_r_pace_1_constructible_without_arguments_and_returns_an_int(cls: type) -> None:
    pacer = cls()
    n = pacer.decide(FakeState())
    assert isinstance(n, int)
    assert 1 <= n <= 60  # ten idle agents and nothing in flight: it must dial something


def test_r_pace_1_settings_are_keyword_only_and_validated() -> None:
    PredictivePacer(target_abandon=0.02, safety_margin=0.2, window_s=900.0)
    with pytest.raises(ValueError, match="target_abandon"):
        PredictivePacer(target_abandon=0.0)
    with pytest.raises(ValueError, match="safety_margin"):
        PredictivePacer(safety_margin=1.5)
    with pytest.raises(TypeError):
        PredictivePacer(0.03)  # type: ignore[misc]
    with pytest.raises(TypeError, match="unknown"):
        ProgressivePacer(ratio=3)


@pytest.mark.parametrize("cls", PACERS)
def test_r_pace_3_no_dialing_with_no_agent_logged_in(cls: type) -> None:
    pacer = cls()
    st0 = FakeState(n_agents=0, agents_free=0)
    for t in range(30):
        st0.time = float(t)
        assert pacer.decide(st0) == 0


def test_progressive_one_call_per_free_operator() -> None:
    pacer = ProgressivePacer()
    assert pacer.decide(FakeState(agents_free=4, calls_ringing=(1.0, 2.0))) == 2
    assert pacer.decide(FakeState(agents_free=2, calls_ringing=(1.0,), calls_waiting=(0.5,))) == 0
    assert pacer.decide(FakeState(agents_free=0, agents_talking=(10.0,) * 10)) == 0


ages = st.floats(min_value=0.0, max_value=4000.0, allow_nan=False)


@st.composite
def states(draw: Any) -> FakeState:
    n_agents = draw(st.integers(min_value=0, max_value=120))
    talking = draw(st.lists(ages, max_size=n_agents))
    rest = n_agents - len(talking)
    wrap = draw(st.lists(st.floats(min_value=0.0, max_value=300.0), max_size=rest))
    free = rest - len(wrap)
    ringing = draw(st.lists(st.integers(min_value=0, max_value=40).map(float), max_size=300))
    waiting = draw(st.lists(st.floats(min_value=0.0, max_value=1.99), max_size=10))
    max_lines = draw(st.integers(min_value=0, max_value=600))
    state = FakeState(
        time=draw(st.floats(min_value=0.0, max_value=30000.0)),
        n_agents=n_agents,
        agents_free=free,
        agents_talking=tuple(talking),
        agents_in_wrap=tuple(wrap),
        calls_ringing=tuple(ringing),
        calls_waiting=tuple(waiting),
    )
    state.config["max_lines"] = max_lines
    state.config["amd"] = draw(st.booleans())
    return state


@pytest.mark.parametrize("cls", PACERS)
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True)
@given(state=states())
def test_r_pace_3_never_negative_never_more_than_free_lines(cls: type, state: FakeState) -> None:
    pacer = cls()
    n = pacer.decide(state)
    assert isinstance(n, int)
    assert n >= 0
    in_progress = state.n_ringing + state.n_waiting + state.n_talking
    assert n <= max(0, state.config["max_lines"] - in_progress)
    if state.n_agents == 0:
        assert n == 0


kinds = st.sampled_from(
    ["launch", "answer", "machine", "no_answer", "connect", "abandon", "talk_end", "wrap_end", "bogus", None]
)
weird_numbers = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(-(10**6), 10**6),
    st.none(),
    st.text(max_size=3),
)


@settings(max_examples=200, deadline=None, derandomize=True)
@given(events=st.lists(st.tuples(kinds, weird_numbers, weird_numbers), max_size=60))
def test_malformed_events_never_crash_and_decide_stays_valid(events: list[tuple[Any, Any, Any]]) -> None:
    pacer = PredictivePacer()
    for i, (kind, t, d) in enumerate(events):
        call_id: Any = [i] if i % 7 == 3 else i  # an unhashable id must not crash it either
        pacer.on_event(Event(t, kind, call_id, None, d))
    n = pacer.decide(FakeState(time=100.0))
    assert isinstance(n, int) and n >= 0
    for v in pacer.estimates().values():
        assert math.isfinite(v)


def test_decide_tolerates_a_state_without_config_or_stats() -> None:
    Bare = namedtuple(
        "Bare", "time n_agents agents_free agents_talking agents_in_wrap calls_ringing calls_waiting config"
    )
    state = Bare(5.0, 3, 3, (), (), (), (), None)
    n = PredictivePacer().decide(state)
    assert isinstance(n, int) and n >= 1


def test_r_pace_2_a_resumed_pacer_keeps_the_run_and_window_record() -> None:
    """A pacer rebuilt after a restart or a pause must not start from a blank record: a window
    already at its limit allows only the calls an idle agent is reserved for, a clean record
    of the run buys risk back (R-PACE-2, over the whole run and every 30-minute window)."""
    busy = FakeState(time=60.0, agents_free=3, agents_talking=(50.0, 80.0, 100.0, 20.0, 30.0, 60.0, 90.0))
    state = replace(busy, calls_ringing=(1.0, 2.0))
    reserved = state.agents_free - state.n_ringing
    answers = [-10.0 * i for i in range(100)]  # the last 1000 s before the restart
    spent = PredictivePacer()
    spent.resume(
        answered=120, abandoned=7, recent_answers=answers, recent_abandons=[-60.0 * i for i in range(7)]
    )
    clean = PredictivePacer()
    clean.resume(answered=5000, abandoned=20, recent_answers=answers)
    assert (spent.answered, spent.abandoned) == (120, 7)
    assert spent.decide(state) == reserved
    assert clean.decide(state) > reserved
    with pytest.raises(ValueError, match="abandoned"):
        PredictivePacer().resume(answered=3, abandoned=4)
    with pytest.raises(ValueError, match="recent_answers"):
        PredictivePacer().resume(answered=3, abandoned=0, recent_answers=[math.nan])


def test_launches_whose_outcome_never_comes_are_forgotten() -> None:
    """An attempt withdrawn, failed to send or settled lost sends the pacer no outcome: its launch
    time was kept for the life of the project (15 MB per 100,000 such attempts)."""
    pacer = PredictivePacer()
    state = FakeState()
    for t in range(20_000):
        pacer.on_event(Event(float(t), "launch", f"c{t}", None, 0.0))
        state.time = float(t)
        pacer.decide(state)
    assert len(pacer._launched) <= 2 * 40  # the last two ring windows of launches at most
