"""The dialer engine never breaks on odd or hostile PBX input (R-SAFE-1): random event soups,
with ids that collide with the attempts', never raise; each attempt settles at most once and gives
the pacer each event kind at most once."""

from __future__ import annotations

from collections import Counter

from hypothesis import given, settings
from hypothesis import strategies as st

from ccagent.core import pbx_events as ev
from ccagent.core.agents import AgentBoard
from ccagent.core.dialer.engine import ATTEMPT_VARIABLE, DialerEngine, DialTarget
from ccagent.core.legs.model import CallRecord, Direction, Disposition, Leg, Role
from ccagent.core.outcomes import AmdResult, OriginateOutcome
from tests.dialer.helpers import FixedPacer, counter_ids, lab_run

IDS = st.sampled_from(["a1", "a2", "a3", "c1", "x", "", "0601020300", "0601020301", "ch-1", "ch-2"])
TS = st.floats(min_value=0, max_value=500, allow_nan=False)


def _leg(call: str, chan: str, ext: str | None, answered: bool, t: float) -> Leg:
    return Leg(
        call,
        0,
        Direction.OUTBOUND,
        "2000",
        None,
        "0601020300",
        ext,
        answered,
        Disposition.ANSWERED if answered else Disposition.NO_ANSWER,
        None,
        None,
        Role.MAIN,
        "q",
        "p1",
        t,
        t + 1 if answered else None,
        t + 5,
        1.0,
        4.0 if answered else 0.0,
        16,
        "caller",
        chan,
    )


EVENTS = st.one_of(
    st.builds(
        ev.OriginateResult,
        ts=TS,
        request_id=IDS,
        channel=st.one_of(st.none(), IDS),
        outcome=st.sampled_from(list(OriginateOutcome)),
        reason=st.sampled_from(["0", "3", "5", "8", "USER_BUSY", "", "junk"]),
    ),
    st.builds(ev.AmdDetected, ts=TS, channel=IDS, call=IDS, result=st.sampled_from(list(AmdResult))),
    st.builds(
        ev.ChannelCreated,
        ts=TS,
        channel=IDS,
        call=IDS,
        name=IDS,
        party=st.sampled_from(list(ev.PartyKind)),
        extension=st.one_of(st.none(), st.just("101")),
        caller_num=IDS,
        caller_name=st.none(),
        exten=IDS,
        context=st.none(),
        originated=st.booleans(),
    ),
    st.builds(
        ev.VariableSet,
        ts=TS,
        channel=IDS,
        call=IDS,
        name=st.sampled_from([ATTEMPT_VARIABLE, "AMDSTATUS", "CCAGENT_PROJECT"]),
        value=IDS,
    ),
    st.builds(
        ev.DialBegin,
        ts=TS,
        channel=st.just(""),
        call=IDS,
        dest=IDS,
        dial_string=st.one_of(st.none(), IDS.map(lambda x: f"{x}@customers")),
    ),
    st.builds(ev.ChannelAnswered, ts=TS, channel=IDS, call=IDS),
    st.builds(
        ev.QueueAgentConnect,
        ts=TS,
        channel=IDS,
        call=IDS,
        queue=st.just("q"),
        member=IDS,
        extension=st.one_of(st.none(), st.just("101")),
        hold_s=st.one_of(st.none(), TS),
    ),
    st.builds(ev.QueueAbandon, ts=TS, channel=IDS, call=IDS, queue=st.just("q")),
    st.builds(ev.ChannelHangup, ts=TS, channel=IDS, call=IDS, cause=st.integers(0, 200)),
    st.builds(
        ev.AgentStatus,
        ts=TS,
        extension=st.just("101"),
        queue=st.one_of(st.none(), st.just("q")),
        action=st.sampled_from(["login", "logout", "pause", "unpause", "bogus"]),
    ),
    st.builds(ev.ChannelsSnapshot, ts=TS, channels=st.just(()), complete=st.booleans()),
)
STEPS = st.lists(
    st.one_of(
        EVENTS, st.tuples(st.just("call"), IDS, IDS, st.booleans(), TS), st.tuples(st.just("tick"), TS)
    ),
    max_size=60,
)


@settings(max_examples=150, deadline=None)
@given(STEPS)
def test_R_SAFE_1_random_pbx_input_never_breaks_the_engine(steps: list[object]) -> None:
    board = AgentBoard()
    pacer = FixedPacer(3, need_free_agent=False)
    eng = DialerEngine(agents=board, new_id=counter_ids())
    eng.start_project(lab_run("p1", queue="q", max_lines=3), pacer, 0.0)
    eng.decide(0.0)
    cmds = eng.launch(0.0, "p1", [DialTarget("c1", "0601020300"), DialTarget("c2", "0601020301")])
    eng.mark_sent(cmds[0].attempt_id, "a1")
    settled = []
    for step in steps:
        if isinstance(step, tuple) and step[0] == "tick":
            settled += eng.tick(float(step[1]))
        elif isinstance(step, tuple):
            _, call, chan, answered, t = step
            leg = _leg(str(call), str(chan), "101" if answered else None, bool(answered), float(t))
            rec = CallRecord(
                str(call),
                "asterisk",
                Direction.OUTBOUND,
                Disposition.ANSWERED if answered else Disposition.NO_ANSWER,
                "2000",
                "0601020300",
                float(t),
                float(t) + 5,
                (leg,),
                project="p1",
            )
            settled += eng.on_call(rec)
        else:
            board.apply(step)  # type: ignore[arg-type]
            settled += eng.on_event(step)  # type: ignore[arg-type]
    settled += eng.tick(1e9)  # every timer fires: nothing stays in flight forever
    ids = Counter(s.attempt_id for s in settled)
    assert all(n == 1 for n in ids.values())
    assert set(ids) == {c.attempt_id for c in cmds}
    assert not eng.attempts
    per_attempt = Counter((e.call_id, e.kind) for e in pacer.events if e.call_id is not None)
    assert all(n == 1 for n in per_attempt.values())
