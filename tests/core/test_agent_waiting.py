"""An agent's time waiting (R-PRJ-5): ready spans from PBX states, minus calls and wrap-up."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from ccagent.core import pbx_events as ev
from ccagent.core.agents import AgentState, replay_statuses, waiting_seconds
from tests.dialer.helpers import agent_status as _st
from tests.dialer.helpers import replay_asterisk


def test_R_PRJ_5_ready_spans_of_a_real_capture() -> None:
    statuses = [e for e, _ in replay_asterisk("27-queue-agent-login-pause") if isinstance(e, ev.AgentStatus)]
    actions = {(s.extension, s.action): s.ts for s in statuses}
    board, spans = replay_statuses(statuses, until=actions[("101", "logout")] + 100.0)
    # 101: login -> pause, then unpause -> logout; 102: login -> logout; nothing runs past a logout
    assert spans["101"] == [
        (actions[("101", "login")], actions[("101", "pause")]),
        (actions[("101", "unpause")], actions[("101", "logout")]),
    ]
    assert spans["102"] == [(actions[("102", "login")], actions[("102", "logout")])]
    assert board.state_of("101") is AgentState.LOGGED_OUT


def test_R_PRJ_5_a_span_still_open_runs_to_until_and_a_second_queue_keeps_the_agent_in() -> None:
    statuses = [
        _st("101", "login", 10.0, "a"),
        _st("101", "login", 20.0, "b"),
        _st("101", "logout", 30.0, "a"),  # still in b: ready all along
        _st("102", "pause", 15.0, None, "Lunch"),  # a pause first: a member, paused
        _st("102", "unpause", 40.0, None),
    ]
    statuses.sort(key=lambda s: s.ts)
    board, spans = replay_statuses(statuses, until=100.0)
    assert spans == {"101": [(10.0, 100.0)], "102": [(40.0, 100.0)]}
    assert board.state_of("101") is AgentState.READY


def test_R_PRJ_5_waiting_takes_off_the_union_of_calls_and_clips_to_the_period() -> None:
    ready = [(0.0, 100.0), (200.0, 300.0)]
    busy = [(10.0, 40.0), (30.0, 50.0), (90.0, 210.0), (250.0, 260.0)]  # overlap; one spans a pause
    # ready 200 s; busy inside ready: 10-50 (40), 90-100 (10), 200-210 (10), 250-260 (10)
    assert waiting_seconds(ready, busy, 0.0, 1000.0) == 130.0
    # the project started at 45 and the view is read at 255
    assert waiting_seconds(ready, busy, 45.0, 255.0) == (90 - 50) + (250 - 210)
    assert waiting_seconds(ready, [], 500.0, 600.0) == 0.0


_span = st.tuples(st.integers(0, 60), st.integers(1, 20)).map(lambda t: (float(t[0]), float(t[0] + t[1])))


@given(
    ready=st.lists(_span, max_size=6),
    busy=st.lists(_span, max_size=6),
    since=st.integers(0, 40),
    length=st.integers(0, 60),
)
def test_R_PRJ_5_waiting_equals_counting_second_by_second(
    ready: list[tuple[float, float]], busy: list[tuple[float, float]], since: int, length: int
) -> None:
    until = since + length
    expected = sum(
        1
        for t in range(since, until)
        if any(a <= t < b for a, b in ready) and not any(a <= t < b for a, b in busy)
    )
    assert waiting_seconds(ready, busy, float(since), float(until)) == expected
