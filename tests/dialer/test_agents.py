"""Agent state machine (issue 6 item 5; R-PRJ-5): PBX facts + ccagent's own wrap-up by injected time."""

from __future__ import annotations

from ccagent.core import pbx_events as ev
from ccagent.core.agents import CALL_PROJECT_CAP, AgentBoard, AgentState
from tests.dialer.helpers import agent_status as _st
from tests.dialer.helpers import replay_asterisk


def test_R_PRJ_5_real_capture_login_pause_unpause_logout() -> None:
    board = AgentBoard()
    seen: list[tuple[str, AgentState, str | None]] = []
    for e, _ in replay_asterisk("27-queue-agent-login-pause"):
        for ext in board.apply(e):
            if isinstance(e, ev.AgentStatus):
                v = next(x for x in board.view() if x.extension == ext)
                seen.append((ext, v.state, v.reason))
    assert seen == [
        ("101", AgentState.READY, None),
        ("102", AgentState.READY, None),
        ("101", AgentState.PAUSED, "Break"),
        ("101", AgentState.READY, None),
        ("101", AgentState.LOGGED_OUT, None),
        ("102", AgentState.LOGGED_OUT, None),
    ]


def test_R_PRJ_5_offer_talk_wrap_up_then_ready_by_injected_time() -> None:
    board = AgentBoard(wrap_up_s={"p1": 15.0})
    board.apply(_st("101", "login", 0.0))
    board.apply(ev.VariableSet(ts=1.0, channel="cust", call="call1", name="CCAGENT_PROJECT", value="p1"))
    board.apply(
        ev.QueueAgentCalled(ts=2.0, channel="cust", call="call1", queue="q", member="m1", extension="101")
    )
    assert board.state_of("101") is AgentState.RINGING
    board.apply(
        ev.QueueAgentConnect(ts=3.0, channel="cust", call="call1", queue="q", member="m1", extension="101")
    )
    assert board.state_of("101") is AgentState.TALKING
    assert board.figures("q", 10.0) == (1, 0, (7.0,), ())
    board.apply(ev.ChannelHangup(ts=20.0, channel="m1", call="call1", cause=16))
    assert board.state_of("101") is AgentState.WRAP_UP
    assert board.figures("q", 25.0) == (1, 0, (), (5.0,))
    assert board.tick(34.9) == []
    assert board.tick(35.0) == [("101", 15.0)]
    assert board.state_of("101") is AgentState.READY
    assert board.figures("q", 36.0) == (1, 1, (), ())


def test_R_PRJ_5_no_answer_returns_the_agent_and_calls_without_project_get_default_wrap() -> None:
    board = AgentBoard(default_wrap_s=0.0)
    board.apply(_st("101", "login", 0.0))
    board.apply(ev.QueueAgentCalled(ts=2.0, channel="c", call="k", queue="q", member="m", extension="101"))
    board.apply(ev.QueueAgentNoAnswer(ts=17.0, channel="c", call="k", queue="q", member="m", extension="101"))
    assert board.state_of("101") is AgentState.READY
    board.apply(ev.QueueAgentConnect(ts=20.0, channel="c", call="k", queue="q", member="m2", extension="101"))
    board.apply(ev.ChannelHangup(ts=30.0, channel="m2", call="k", cause=16))
    assert board.state_of("101") is AgentState.READY  # no wrap-up configured: free at once


def test_R_PRJ_5_pause_during_a_call_shows_after_the_call_and_excludes_the_agent() -> None:
    board = AgentBoard()
    board.apply(_st("101", "login", 0.0))
    board.apply(_st("102", "login", 0.0))
    board.apply(ev.QueueAgentConnect(ts=1.0, channel="c", call="k", queue="q", member="m", extension="101"))
    board.apply(_st("101", "pause", 2.0, reason="Lunch"))
    assert board.state_of("101") is AgentState.TALKING
    board.apply(ev.ChannelHangup(ts=5.0, channel="m", call="k", cause=16))
    assert board.state_of("101") is AgentState.PAUSED
    (v,) = [x for x in board.view() if x.extension == "101"]
    assert v.reason == "Lunch"
    assert board.figures("q", 6.0) == (1, 1, (), ())  # the paused agent is not in the pacer's team
    assert board.figures("other", 6.0) == (0, 0, (), ())


def test_R_PBX_5_snapshot_without_the_agent_channel_ends_its_call() -> None:
    board = AgentBoard()
    board.apply(_st("101", "login", 0.0))
    board.apply(ev.QueueAgentConnect(ts=1.0, channel="c", call="k", queue="q", member="m", extension="101"))
    board.apply(ev.ChannelsSnapshot(ts=50.0, channels=(), complete=False))
    assert board.state_of("101") is AgentState.TALKING
    board.apply(ev.ChannelsSnapshot(ts=60.0, channels=()))
    assert board.state_of("101") is AgentState.READY


def test_R_PRJ_5_logout_from_one_queue_keeps_the_other() -> None:
    board = AgentBoard()
    board.apply(_st("101", "login", 0.0, queue="a"))
    board.apply(_st("101", "login", 0.0, queue="b"))
    board.apply(_st("101", "logout", 1.0, queue="a"))
    assert board.state_of("101") is AgentState.READY
    assert [v.queues for v in board.view()] == [("b",)]


def test_R_SAFE_2_calls_that_never_reach_an_agent_do_not_grow_the_board() -> None:
    """Most dialer calls (no answer, busy, machine) never reach an agent, so no agent hang-up
    forgets their project; a daemon running for months must still hold a bounded map."""
    board = AgentBoard(wrap_up_s={"p1": 15.0})
    board.apply(_st("101", "login", 0.0))
    for i in range(CALL_PROJECT_CAP + 5_000):
        board.apply(
            ev.VariableSet(ts=1.0, channel=f"c{i}", call=f"call{i}", name="CCAGENT_PROJECT", value="p2")
        )
        board.apply(ev.ChannelHangup(ts=2.0, channel=f"c{i}", call=f"call{i}", cause=19))
    assert len(board._call_project) <= CALL_PROJECT_CAP  # the bound itself is what is tested
    # and a call tagged now still carries its project to the agent (its wrap-up of 15 s)
    board.apply(ev.VariableSet(ts=3.0, channel="cust", call="new", name="CCAGENT_PROJECT", value="p1"))
    board.apply(
        ev.QueueAgentConnect(ts=4.0, channel="cust", call="new", queue="q", member="m1", extension="101")
    )
    board.apply(ev.ChannelHangup(ts=10.0, channel="m1", call="new", cause=16))
    assert board.state_of("101") is AgentState.WRAP_UP
    assert board.tick(24.9) == [] and board.tick(25.0) == [("101", 15.0)]
