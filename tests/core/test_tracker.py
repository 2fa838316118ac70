"""CallTracker: journal restore, reconciliation, adoption (SPEC R-PBX-5, R-SAFE-2).

Driven by the normalized events of real captures (translated once), so these are PBX-agnostic
engine tests on realistic streams.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ccagent.core import pbx_events as ev
from ccagent.core.legs.model import CallRecord
from ccagent.core.legs.tracker import CallTracker
from ccagent.pbx.ami.capture import iter_ami_capture
from ccagent.pbx.ami.translate import AmiTranslator

TRACES = Path(__file__).resolve().parents[1] / "traces" / "asterisk"


def events_of(folder: str) -> list[ev.PbxEvent]:
    tr = AmiTranslator(project_variable="LAB_PROJECT")
    return [e for m in iter_ami_capture(TRACES / folder / "ami.log") for e in tr.translate(m)]


def run(events: list[ev.PbxEvent], tracker: CallTracker | None = None) -> list[CallRecord]:
    tracker = tracker or CallTracker(pbx="asterisk", project_variable="LAB_PROJECT")
    return [r for e in events for r in tracker.apply(e).calls]


@pytest.mark.parametrize(
    "folder", ["06-attended-transfer", "15-concurrent-calls", "19-dialer-local-channel-queue"]
)
def test_R_SAFE_2_a_restarted_tracker_resumes_calls_from_the_journal(folder: str) -> None:
    events = events_of(folder)
    whole = run(events)
    for cut in range(5, len(events), max(1, len(events) // 7)):
        first = CallTracker(pbx="asterisk", project_variable="LAB_PROJECT")
        done = run(events[:cut], first)
        journal = {cid: first.events_of(cid) for cid in first.open_call_ids()}
        second = CallTracker(pbx="asterisk", project_variable="LAB_PROJECT")
        for cid, evs in journal.items():
            second.restore(cid, evs)
        second.mark_finished(r.call_id for r in done)
        done += run(events[cut:], second)
        assert sorted(done, key=lambda r: r.call_id) == sorted(whole, key=lambda r: r.call_id), cut


def test_R_PBX_5_vanished_channels_close_at_the_drop_and_are_flagged() -> None:
    events = events_of("01-inbound-direct-answered")
    bridged = next(
        i
        for i, e in enumerate(events)
        if isinstance(e, ev.BridgeEnter) and any(isinstance(x, ev.BridgeEnter) for x in events[:i])
    )
    tracker = CallTracker(pbx="asterisk")
    assert run(events[: bridged + 1], tracker) == []
    drop = events[bridged].ts + 1.5
    tracker.apply(ev.ConnectionLost(ts=drop))
    out = tracker.apply(ev.ChannelsSnapshot(ts=drop + 60.0, channels=(), complete=True))
    (rec,) = out.calls
    assert rec.reconciled and rec.legs[0].reconciled
    assert rec.legs[0].ended_at == pytest.approx(drop)
    assert rec.legs[0].talk_s == pytest.approx(1.5, abs=0.01)
    assert tracker.open_call_ids() == []


def test_R_PBX_5_an_incomplete_listing_closes_nothing() -> None:
    events = events_of("01-inbound-direct-answered")
    tracker = CallTracker(pbx="asterisk")
    run(events[:10], tracker)
    assert tracker.apply(ev.ChannelsSnapshot(ts=events[9].ts + 5, channels=(), complete=False)).calls == []
    assert tracker.open_call_ids() == ["1795546326.0"]


def test_R_PBX_5_a_live_channel_never_seen_is_adopted_and_finished_by_its_hangup() -> None:
    item = ev.ChannelSnapshotItem(
        channel="9.1",
        call="9.1",
        name="PJSIP/customers-00000009",
        party=ev.PartyKind.EXTERNAL,
        extension=None,
        caller_num="0600000001",
        caller_name="Late",
        exten="2000",
        up=True,
        started_ts=100.0,
    )
    tracker = CallTracker(pbx="asterisk")
    assert tracker.apply(ev.ChannelsSnapshot(ts=130.0, channels=(item,))).calls == []
    (rec,) = tracker.apply(ev.ChannelHangup(ts=140.0, channel="9.1", call="9.1", cause=16)).calls
    assert rec.call_id == "9.1" and rec.started_at == 100.0
    assert rec.legs[0].caller == "0600000001"


def test_R_PBX_5_late_events_of_a_finished_call_are_dropped_and_counted() -> None:
    events = events_of("01-inbound-direct-answered")
    tracker = CallTracker(pbx="asterisk")
    assert len(run(events, tracker)) == 1
    late = ev.HangupRequested(ts=events[-1].ts + 1, channel="1795546326.0", call="1795546326.0", cause=16)
    out = tracker.apply(late)
    assert out.calls == [] and out.dropped == 1
