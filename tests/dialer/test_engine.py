"""Pure dialer engine (issue 6 item 4; R-PACE-3, R-PRJ-1, R-PRJ-8 outcomes, R-LEG-4)."""

from __future__ import annotations

from typing import Any

import pytest

from ccagent.core import pbx_events as ev
from ccagent.core.agents import AgentBoard
from ccagent.core.dialer.engine import (
    ATTEMPT_VARIABLE,
    EARLY_RESULT_TTL_S,
    EARLY_RESULTS_MAX,
    Attempt,
    AttemptStatus,
    DialerEngine,
    DialTarget,
    Outcome,
    Settlement,
)
from ccagent.core.dialer.pacer import ProgressivePacer
from ccagent.core.outcomes import AmdResult, OriginateOutcome
from tests.dialer.helpers import FixedPacer, counter_ids, lab_run, replay_asterisk

T0 = 1_000.0


def _board(*exts: str, queue: str = "support", wrap: float = 0.0) -> AgentBoard:
    b = AgentBoard(default_wrap_s=wrap)
    for x in exts:
        b.apply(ev.AgentStatus(ts=T0, extension=x, queue=queue, action="login"))
    return b


def _engine(board: AgentBoard, pacer: object, **run: object) -> DialerEngine:
    eng = DialerEngine(agents=board, new_id=counter_ids())
    eng.start_project(lab_run("p1", queue="support", caller_id="2000", **run), pacer, T0)  # type: ignore[arg-type]
    return eng


def _targets(n: int, start: int = 0) -> list[DialTarget]:
    return [DialTarget(f"c{i}", f"06010203{i:02d}") for i in range(start, start + n)]


def test_R_PACE_3_progressive_pacer_launches_one_call_per_free_agent() -> None:
    eng = _engine(_board("101", "102"), ProgressivePacer())
    wants = eng.decide(T0 + 1)
    assert wants == {"p1": 2}
    cmds = eng.launch(T0 + 1, "p1", _targets(5))
    assert [c.contact_id for c in cmds] == ["c0", "c1"]  # capped by the free lines of the decision
    assert eng.decide(T0 + 2) == {}  # both calls ringing: no agent left to promise
    c = cmds[0]
    assert dict(c.variables)["CCAGENT_PROJECT"] == "p1"
    assert dict(c.variables)[ATTEMPT_VARIABLE] == c.attempt_id
    assert c.channel_id == c.attempt_id and c.caller_id == "2000"


def test_R_PRJ_8_a_contact_or_number_in_flight_is_never_dialled_twice() -> None:
    eng = _engine(_board("101"), FixedPacer(5, need_free_agent=False), max_lines=10)
    eng.decide(T0)
    first = eng.launch(T0, "p1", _targets(2))
    eng.decide(T0 + 1)
    again = eng.launch(T0 + 1, "p1", [*_targets(2), DialTarget("c9", "+06 0102 0300")])
    assert len(first) == 2
    assert again == []  # same contacts, and a different contact with the same number


def test_R_PACE_2_max_lines_caps_launches() -> None:
    eng = _engine(_board("101"), FixedPacer(50, need_free_agent=False), max_lines=3)
    assert eng.decide(T0) == {"p1": 3}
    assert len(eng.launch(T0, "p1", _targets(10))) == 3
    assert eng.decide(T0 + 1) == {}


def _attempt_for(eng: DialerEngine, number: str, ts: float) -> str:
    eng.decide(ts)
    (cmd,) = eng.launch(ts, "p1", [DialTarget("c-" + number, number)])
    eng.mark_sent(cmd.attempt_id, "lab-14935-2")
    return cmd.attempt_id


def _play(
    eng: DialerEngine,
    events: list[tuple[ev.PbxEvent, list[Any]]],
    agents_variable: str | None = "CCAGENT_PROJECT",
) -> list[Settlement]:
    """Feed a replayed capture as the service does: agent board, engine, finished calls."""
    settled: list[Settlement] = []
    for e, calls in events:
        if agents_variable is not None:
            eng.agents.apply(e, agents_variable)
        settled += eng.on_event(e)
        for rec in calls:
            settled += eng.on_call(rec)
    return settled


@pytest.mark.parametrize(
    ("capture", "number", "outcome", "kinds"),
    [
        (
            "08-dialer-answered-queue",
            "0601020310",
            Outcome.ANSWERED,
            ["launch", "answer", "connect", "talk_end"],
        ),
        ("09-dialer-no-answer", "0601020315", Outcome.NO_ANSWER, ["launch", "no_answer"]),
        ("10-dialer-busy", "0601020316", Outcome.BUSY, ["launch", "no_answer"]),
        ("11-dialer-failed", "0601020317", Outcome.FAILED, ["launch", "no_answer"]),
        ("24-dialer-abandon-safe-harbour", "0601020340", Outcome.ABANDONED, ["launch", "answer", "abandon"]),
    ],
)
def test_R_LEG_4_real_dialer_captures_settle_their_attempt(
    capture: str, number: str, outcome: Outcome, kinds: list[str]
) -> None:
    """The lab's real Asterisk calls, replayed through translator + leg engine + dialer engine."""
    pacer = FixedPacer()
    eng = _engine(_board("101", "102", "103"), pacer)
    events = list(replay_asterisk(capture))
    start = events[0][0].ts - 0.5
    aid = _attempt_for(eng, number, start)
    (s,) = _play(eng, events)
    assert s.attempt_id == aid and s.outcome is outcome
    assert s.call_id == calls_id(events)
    assert [e.kind for e in pacer.events] == kinds
    assert not eng.attempts
    # every pacer event is in PBX time relative to the project's start, and in order
    times = [e.time for e in pacer.events]
    assert times == sorted(times)
    if outcome is Outcome.ANSWERED:
        connect = next(e for e in pacer.events if e.kind == "connect")
        assert connect.agent_id == "102" and connect.duration == pytest.approx(2.0)
        talk = next(e for e in pacer.events if e.kind == "talk_end")
        assert talk.duration == pytest.approx(5.0, abs=0.01)


def calls_id(events: list[tuple[ev.PbxEvent, list[object]]]) -> str:
    ids = [c.call_id for _, cs in events for c in cs]  # type: ignore[attr-defined]
    assert len(ids) == 1
    return ids[0]


@pytest.mark.parametrize(
    ("capture", "number", "results", "outcome"),
    [
        (
            "25-autoinformer-dtmf",
            "0601020341",
            {"autoinformer_digit": "1", "autoinformer_result": "confirmed"},
            Outcome.ANSWERED,
        ),
        (
            "26-autoinformer-no-digit",
            "0601020349",
            {"autoinformer_digit": None, "autoinformer_result": "hangup_no_digit"},
            Outcome.ANSWERED,
        ),
        ("28-amd", "0601020342", {"amd_status": "NOTSURE", "amd_cause": "TOOLONG-4900"}, Outcome.ANSWERED),
        ("30-dialog-robot", "0601020343", {"robot_result": "callback_requested"}, Outcome.ANSWERED),
    ],
)
def test_R_PRJ_1_autoinformer_amd_robot_results_land_on_the_attempt(
    capture: str, number: str, results: dict[str, str | None], outcome: Outcome
) -> None:
    pacer = FixedPacer(need_free_agent=False)
    eng = DialerEngine(agents=AgentBoard(), new_id=counter_ids())
    eng.start_project(lab_run("p1", kind="autoinformer", amd=capture == "28-amd"), pacer, T0)
    events = list(replay_asterisk(capture))
    nums = {e.dial_string for e, _ in events if isinstance(e, ev.DialBegin) and not e.channel}
    number = next(iter(nums)).split("@")[0]
    eng.decide(events[0][0].ts - 0.5)
    (cmd,) = eng.launch(events[0][0].ts - 0.5, "p1", [DialTarget("c1", number)])
    (s,) = _play(eng, events, agents_variable=None)
    assert s.attempt_id == cmd.attempt_id
    assert dict(s.results) == results
    assert s.outcome is outcome
    assert [e.kind for e in pacer.events][:2] == ["launch", "answer"]


def test_R_PRJ_8_machine_outcome_from_amd_status() -> None:
    from ccagent.core.legs.model import CallRecord, Direction, Disposition

    rec = CallRecord(
        "x",
        "asterisk",
        Direction.OUTBOUND,
        Disposition.ANSWERED,
        "2000",
        "0601",
        0.0,
        1.0,
        (),
        results={"amd_status": "MACHINE", "amd_cause": "LONGGREETING"},
        amd=AmdResult.MACHINE,  # the adapter's translation of the PBX's word (AMDSTATUS / avmd)
    )
    assert DialerEngine.outcome_of(rec) is Outcome.MACHINE


def test_R_SAFE_2_failed_originate_with_no_call_settles_after_grace_from_its_reason() -> None:
    pacer = FixedPacer()
    eng = _engine(_board("101"), pacer)
    eng.decide(T0)
    (cmd,) = eng.launch(T0, "p1", _targets(1))
    eng.mark_sent(cmd.attempt_id, "act-1")
    assert (
        eng.on_event(
            ev.OriginateResult(
                ts=T0 + 1, request_id="act-1", channel=None, outcome=OriginateOutcome.BUSY, reason="5"
            )
        )
        == []
    )
    assert eng.tick(T0 + 5) == []  # a finished call may still come and say more
    (s,) = eng.tick(T0 + 11.5)
    assert s.outcome is Outcome.BUSY and s.reason == "originate: 5"
    assert [e.kind for e in pacer.events] == ["launch", "no_answer"]


def test_R_SAFE_2_result_before_request_id_is_known_is_kept() -> None:
    eng = _engine(_board("101"), FixedPacer())
    eng.decide(T0)
    (cmd,) = eng.launch(T0, "p1", _targets(1))
    eng.on_event(
        ev.OriginateResult(
            ts=T0 + 1, request_id="act-9", channel=None, outcome=OriginateOutcome.NO_ANSWER, reason="3"
        )
    )
    eng.mark_sent(cmd.attempt_id, "act-9")
    (s,) = eng.tick(T0 + 20)
    assert s.outcome is Outcome.NO_ANSWER


def test_R_SAFE_1_results_that_match_nothing_do_not_pile_up() -> None:
    """FreeSWITCH reports a busy originate after its attempt settled, and another AMI client's
    originates report here too: kept for ever, they filled the map, which then refused the ones
    that do match."""
    eng = _engine(_board("101"), FixedPacer())
    eng.tick(T0)
    for i in range(EARLY_RESULTS_MAX + 500):
        eng.on_event(
            ev.OriginateResult(
                ts=T0, request_id=f"foreign-{i}", channel=None, outcome=OriginateOutcome.FAILED, reason="17"
            )
        )
    eng.decide(T0)
    (cmd,) = eng.launch(T0, "p1", _targets(1))
    eng.on_event(
        ev.OriginateResult(
            ts=T0 + 1, request_id="act-9", channel=None, outcome=OriginateOutcome.NO_ANSWER, reason="3"
        )
    )
    eng.mark_sent(cmd.attempt_id, "act-9")  # still found: the full map made room, it did not refuse
    (s,) = eng.tick(T0 + 20)
    assert s.outcome is Outcome.NO_ANSWER
    eng.tick(T0 + 20 + EARLY_RESULT_TTL_S + 1)
    assert len(eng._early_results) == 0


def test_R_SAFE_2_restart_resends_planned_only_and_reconciles_originating() -> None:
    eng = DialerEngine(agents=_board("101"), new_id=counter_ids("b"))
    eng.start_project(lab_run("p1", queue="support"), FixedPacer(), T0)
    planned = Attempt("a1", "p1", "c1", "0601", "a1", T0, AttemptStatus.PLANNED)
    sent_gone = Attempt("a2", "p1", "c2", "0602", "a2", T0, AttemptStatus.ORIGINATING)
    sent_alive = Attempt("a3", "p1", "c3", "0603", "a3", T0, AttemptStatus.ORIGINATING)
    resend = eng.restore([planned, sent_gone, sent_alive], T0 + 5)
    assert [c.attempt_id for c in resend] == ["a1"]
    item = ev.ChannelSnapshotItem(
        channel="a3",
        call="a3",
        name="PJSIP/customers-1",
        party=ev.PartyKind.EXTERNAL,
        extension=None,
        caller_num="2000",
        caller_name=None,
        exten="s",
        up=True,
    )
    assert eng.on_event(ev.ChannelsSnapshot(ts=T0 + 6, channels=(item,))) == []
    assert set(eng.attempts) == {"a1", "a2", "a3"} and eng.attempts["a3"].channel == "a3"
    # a2 is gone from the PBX: its call (if the journal had it) may still settle it; else, after grace:
    out = eng.tick(T0 + 17)
    assert [(s.attempt_id, s.outcome, s.reason) for s in out] == [
        ("a2", Outcome.FAILED, "originate: no live channel after restart")
    ]
    assert set(eng.attempts) == {"a1", "a3"}
    # an incomplete listing proves nothing
    eng2 = DialerEngine(agents=_board("101"), new_id=counter_ids())
    eng2.restore([Attempt("a2", "p1", "c2", "0602", "a2", T0, AttemptStatus.ORIGINATING)], T0)
    assert eng2.on_event(ev.ChannelsSnapshot(ts=T0 + 6, channels=(), complete=False)) == []


def test_R_SAFE_2_attempt_with_no_sign_of_life_ends_failed_not_lost() -> None:
    eng = _engine(_board("101"), FixedPacer())
    eng.decide(T0)
    (cmd,) = eng.launch(T0, "p1", _targets(1))
    eng.mark_sent(cmd.attempt_id, None)
    assert eng.tick(T0 + 100) == []
    (s,) = eng.tick(T0 + 121)
    assert s.outcome is Outcome.FAILED and s.attempt_id == cmd.attempt_id


def test_R_PACE_3_wrap_end_reaches_the_pacer_and_frees_the_agent() -> None:
    pacer = FixedPacer()
    board = _board("102", wrap=0.0)
    eng = _engine(board, pacer)
    board.wrap_up_s["campaign-1"] = 10.0  # the lab call's project (its LAB_PROJECT variable)
    events = list(replay_asterisk("08-dialer-answered-queue"))
    _attempt_for(eng, "0601020310", events[0][0].ts - 0.5)
    _play(eng, events, agents_variable="LAB_PROJECT")
    end = events[-1][0].ts
    st = eng.state("p1", end + 1)
    assert st.agents_free == 0 and st.n_wrap == 1
    eng.tick(end + 5)
    assert not [e for e in pacer.events if e.kind == "wrap_end"]
    eng.tick(end + 10.5)
    (w,) = [e for e in pacer.events if e.kind == "wrap_end"]
    assert w.agent_id == "102" and w.duration == pytest.approx(10.0)
    assert eng.state("p1", end + 11).agents_free == 1


def test_R_PRJ_2_stopped_project_launches_nothing_but_its_calls_still_settle() -> None:
    eng = _engine(_board("101"), FixedPacer(need_free_agent=False))
    eng.decide(T0)
    (cmd,) = eng.launch(T0, "p1", _targets(1))
    eng.mark_sent(cmd.attempt_id, "r1")
    eng.stop_project("p1")
    assert eng.decide(T0 + 1) == {}
    assert eng.launch(T0 + 1, "p1", _targets(1, 5)) == []  # no decision granted it
    eng.on_event(
        ev.OriginateResult(
            ts=T0 + 2, request_id="r1", channel=None, outcome=OriginateOutcome.FAILED, reason="0"
        )
    )
    (s,) = eng.tick(T0 + 20)
    assert s.outcome is Outcome.FAILED


def test_R_PACE_1_two_projects_on_one_team_do_not_both_dial_for_the_same_free_agent() -> None:
    board = _board("101", "102")
    eng = DialerEngine(agents=board, new_id=counter_ids())
    eng.start_project(lab_run("p1", queue="support"), ProgressivePacer(), T0)
    eng.start_project(lab_run("p2", queue="support"), ProgressivePacer(), T0)
    eng.start_project(lab_run("p3", queue="sales"), ProgressivePacer(), T0)
    wants = eng.decide(T0)
    assert wants["p1"] == 2
    eng.launch(T0, "p1", _targets(2))
    assert eng.state("p2", T0 + 1).agents_free == 0  # p1's two ringing calls claim both agents
    assert eng.decide(T0 + 1).get("p2", 0) == 0
    assert eng.state("p3", T0 + 1).agents_free == 0  # nobody logged into "sales"


class _BrokenPacer(FixedPacer):
    """A pacer with a bug: ``decide`` and/or ``on_event`` raise."""

    def __init__(self, *, decide_ok: bool) -> None:
        super().__init__()
        self.decide_ok = decide_ok

    def decide(self, state: object) -> int:
        if not self.decide_ok:
            raise ZeroDivisionError("pacer bug")
        return super().decide(state)

    def on_event(self, event: object) -> None:
        raise ValueError("pacer bug in on_event")


def test_R_SAFE_1_a_broken_pacer_stops_only_its_own_project() -> None:
    eng = DialerEngine(agents=_board("101", "102"), new_id=counter_ids())
    eng.start_project(lab_run("bad", queue="support", caller_id="2000"), _BrokenPacer(decide_ok=False), T0)
    eng.start_project(lab_run("good", queue="support", caller_id="2000"), ProgressivePacer(), T0)
    assert eng.decide(T0 + 1) == {"good": 2}
    assert [(pid, stage) for pid, stage, _exc in eng.pacer_faults] == [("bad", "decide")]


def test_R_SAFE_1_a_pacer_raising_on_events_does_not_lose_the_attempt() -> None:
    """The attempt is the money: it settles from the real capture even if the pacer chokes."""
    eng = _engine(_board("101", "102", "103"), _BrokenPacer(decide_ok=True))
    events = list(replay_asterisk("08-dialer-answered-queue"))
    aid = _attempt_for(eng, "0601020310", events[0][0].ts - 0.5)
    (s,) = _play(eng, events)
    assert s.attempt_id == aid and s.outcome is Outcome.ANSWERED
    kinds = [stage for _pid, stage, _exc in eng.pacer_faults]
    assert kinds and set(kinds) == {"on_event"}
