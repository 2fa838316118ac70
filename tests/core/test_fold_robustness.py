"""The leg engine never crashes on malformed, duplicated or out-of-order events (SPEC R-SAFE-1).

Hypothesis builds arbitrary sequences of normalized events over a small id alphabet (so events
collide on the same channels and calls) and also shuffles / duplicates / truncates the events of
real captures.  Whatever comes in, CallTracker.apply returns an Outcome and every record it
produces is internally consistent.
"""

from __future__ import annotations

import random
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ccagent.core import pbx_events as ev
from ccagent.core.legs.model import CallRecord
from ccagent.core.legs.tracker import CallTracker
from ccagent.pbx.ami.capture import iter_ami_capture
from ccagent.pbx.ami.translate import AmiTranslator

TRACES = Path(__file__).resolve().parents[1] / "traces" / "asterisk"

ids = st.sampled_from(["1.1", "1.2", "1.3", "2.1", "2.2", ""])
calls = st.sampled_from(["1.1", "2.1", "9.9"])
ts = st.floats(min_value=0, max_value=100, allow_nan=False)
text = st.one_of(st.none(), st.sampled_from(["101", "102", "0601", "", "Іван"]))

event = st.one_of(
    st.builds(
        ev.ChannelCreated,
        ts=ts,
        channel=ids,
        call=calls,
        name=st.sampled_from(["PJSIP/101-1", "PJSIP/customers-2", "Local/1@x-1;1", "weird"]),
        party=st.sampled_from(list(ev.PartyKind)),
        extension=text,
        caller_num=text,
        caller_name=text,
        exten=text,
        context=text,
        originated=st.booleans(),
    ),
    st.builds(ev.ChannelAnswered, ts=ts, channel=ids, call=calls),
    st.builds(ev.ChannelRinging, ts=ts, channel=ids, call=calls),
    st.builds(
        ev.HangupRequested,
        ts=ts,
        channel=ids,
        call=calls,
        cause=st.one_of(st.none(), st.integers(0, 127)),
        by_ami=st.booleans(),
    ),
    st.builds(ev.ChannelHangup, ts=ts, channel=ids, call=calls, cause=st.integers(0, 127)),
    st.builds(ev.DialBegin, ts=ts, channel=ids, call=calls, dest=ids, dial_string=text),
    st.builds(
        ev.DialEnd, ts=ts, channel=ids, call=calls, dest=ids, status=st.sampled_from(list(ev.DialStatus))
    ),
    st.builds(ev.BridgeEnter, ts=ts, channel=ids, call=calls, bridge=st.sampled_from(["b1", "b2"])),
    st.builds(ev.BridgeLeave, ts=ts, channel=ids, call=calls, bridge=st.sampled_from(["b1", "b2"])),
    st.builds(ev.LocalPair, ts=ts, channel=ids, call=calls, other=ids),
    st.builds(ev.QueueJoin, ts=ts, channel=ids, call=calls, queue=st.just("q")),
    st.builds(
        ev.QueueAgentCalled, ts=ts, channel=ids, call=calls, queue=st.just("q"), member=ids, extension=text
    ),
    st.builds(ev.QueueAbandon, ts=ts, channel=ids, call=calls, queue=st.just("q")),
    st.builds(
        ev.Transfer,
        ts=ts,
        channel=ids,
        call=calls,
        kind=st.sampled_from(["blind", "attended"]),
        transferer=ids,
    ),
    st.builds(
        ev.SpyStarted,
        ts=ts,
        channel=ids,
        call=calls,
        spyee=ids,
        mode=st.sampled_from(["listen", "whisper", "barge"]),
    ),
    st.builds(
        ev.UserEvent,
        ts=ts,
        channel=ids,
        call=calls,
        name=st.sampled_from(["CcagentResult", "X"]),
        fields=st.just((("Digit", "1"), ("Result", ""))),
    ),
    st.builds(ev.ChannelsSnapshot, ts=ts, channels=st.just(()), complete=st.booleans()),
    st.builds(ev.ConnectionLost, ts=ts),
)


def _consistent(rec: CallRecord) -> None:
    assert rec.legs, "a stored call always has a leg"
    assert [leg.leg_seq for leg in rec.legs] == list(range(len(rec.legs)))
    for leg in rec.legs:
        assert leg.ring_s >= 0 and leg.talk_s >= 0
        assert leg.transfer_from_leg is None or 0 <= leg.transfer_from_leg < len(rec.legs)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(event, max_size=60))
def test_R_SAFE_1_arbitrary_event_sequences_never_crash_the_engine(events: list[ev.PbxEvent]) -> None:
    tracker = CallTracker(pbx="asterisk")
    for e in events:
        out = tracker.apply(e)
        assert out.failed == []
        for rec in out.calls:
            _consistent(rec)
    # Ending every call that is still open must work too (reconciliation with an empty PBX).
    for rec in tracker.apply(ev.ChannelsSnapshot(ts=200.0, channels=(), complete=True)).calls:
        _consistent(rec)
    assert tracker.open_call_ids() == [] or all(not tracker.calls[c].live for c in tracker.open_call_ids())


def _trace_events(folder: str) -> list[ev.PbxEvent]:
    tr = AmiTranslator(project_variable="LAB_PROJECT")
    out: list[ev.PbxEvent] = []
    for msg in iter_ami_capture(TRACES / folder / "ami.log"):
        out.extend(tr.translate(msg))
    return out


REAL = {
    name: _trace_events(name)
    for name in (
        "05-blind-transfer",
        "06-attended-transfer",
        "15-concurrent-calls",
        "19-dialer-local-channel-queue",
    )
}


@settings(max_examples=120, deadline=None)
@given(
    st.sampled_from(sorted(REAL)),
    st.integers(0, 2**32 - 1),
    st.sampled_from(["shuffle", "dup", "cut", "drop"]),
)
def test_R_SAFE_1_damaged_real_streams_never_crash_the_engine(name: str, seed: int, damage: str) -> None:
    events = list(REAL[name])
    rng = random.Random(seed)
    if damage == "shuffle":
        i = rng.randrange(len(events))
        j = min(len(events), i + rng.randrange(1, 30))
        window = events[i:j]
        rng.shuffle(window)
        events[i:j] = window
    elif damage == "dup":
        events = [e for e in events for _ in range(1 + (rng.random() < 0.2))]
    elif damage == "cut":
        events = events[: rng.randrange(len(events))]
    else:
        events = [e for e in events if rng.random() > 0.1]
    tracker = CallTracker(pbx="asterisk", project_variable="LAB_PROJECT")
    for e in events:
        out = tracker.apply(e)
        assert out.failed == []
        for rec in out.calls:
            _consistent(rec)


def test_R_PBX_5_duplicated_stream_writes_each_call_once() -> None:
    """Replaying a whole capture twice yields each call once: late copies are dropped, counted."""
    events = REAL["15-concurrent-calls"]
    tracker = CallTracker(pbx="asterisk")
    records = [r for e in events + events for r in tracker.apply(e).calls]
    assert sorted(r.call_id for r in records) == ["1795546521.40", "1795546522.42", "1795546523.45"]
