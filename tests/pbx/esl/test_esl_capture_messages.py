"""What offline ingest hands the one pipeline for a FreeSWITCH capture (SPEC R-PBX-5, R-PBX-6, R-SAFE-1)."""

from __future__ import annotations

import json
from pathlib import Path

from ccagent.core.pbx_events import ChannelsSnapshot, ConnectionLost, UserEvent
from ccagent.pbx.esl.capture import channels_listing, iter_capture_messages
from ccagent.pbx.esl.translate import SNAPSHOT_MARKER, FsTranslator, snapshot_message

TRACES = Path(__file__).resolve().parents[2] / "traces" / "freeswitch"
CHANNEL_ROW = {"uuid": "u1", "name": "sofia/internal/1001@x", "callstate": "ACTIVE", "created_epoch": "10"}
CALL_ROW = {**CHANNEL_ROW, "b_uuid": "u2", "b_name": "sofia/external/5551@x"}


def _listing(*rows: dict[str, str]) -> str:
    return json.dumps({"row_count": len(rows), "rows": list(rows)})


def test_R_PBX_5_only_channel_listings_count_as_snapshots() -> None:
    assert channels_listing(_listing(CHANNEL_ROW), first=False)
    assert not channels_listing(_listing(CALL_ROW), first=True)  # show calls / bridged_calls
    assert channels_listing('{"row_count":0}', first=True)
    assert not channels_listing('{"row_count":0}', first=False)  # ambiguous unless asked first
    for junk in ("+OK\n", "-ERR no\n", "{not json", "[1,2]", '{"rows": 3, "row_count": 1}', ""):
        assert not channels_listing(junk, first=True), junk


def test_R_PBX_5_the_reconnect_capture_yields_one_snapshot_before_its_events() -> None:
    msgs = list(iter_capture_messages(TRACES / "13-esl-reconnect" / "esl.reconnect.log"))
    kinds = ["snap" if SNAPSHOT_MARKER in m else "event" for m in msgs]
    assert kinds.count("snap") == 1  # show calls / show bridged_calls are not taken for channels
    assert kinds[0] == "snap"
    assert len(kinds) > 10


def test_R_PBX_6_translate_takes_the_pipeline_now_and_tracks_the_pbx_time() -> None:
    t = FsTranslator("dialer_campaign")
    assert t.last_ts == 0.0
    snap = t.translate(snapshot_message(_listing(CHANNEL_ROW)), 55.0)  # no PBX time yet: now stamps it
    assert isinstance(snap[0], ChannelsSnapshot) and snap[0].ts == 55.0
    assert [c.extension for c in snap[0].channels] == ["1001"]
    t.translate({"Event-Name": "HEARTBEAT", "Event-Date-Timestamp": "1795546143000000"}, 1.0)
    assert t.last_ts == 1795546143.0
    t.translate({"Event-Name": "HEARTBEAT", "Event-Date-Timestamp": "1795546100000000"})  # older: kept
    assert t.last_ts == 1795546143.0
    snap = t.translate(snapshot_message("{garbage"), 99.0)
    assert snap == [ChannelsSnapshot(ts=1795546143.0, channels=(), complete=False)]
    assert t.connection_lost(t.last_ts) == [ConnectionLost(ts=1795546143.0)]


def test_R_SAFE_1_switch_wide_custom_events_make_no_call() -> None:
    t = FsTranslator("dialer_campaign")
    assert (
        t.translate(
            {"Event-Name": "CUSTOM", "Event-Subclass": "sofia::register", "Event-Date-Timestamp": "1000000"}
        )
        == []
    )
    out = t.translate(
        {
            "Event-Name": "CUSTOM",
            "Event-Subclass": "x::y",
            "Unique-ID": "abc",
            "Event-Date-Timestamp": "1000000",
        }
    )
    assert [type(e) for e in out] == [UserEvent] and out[0].call == "abc"


def test_R_SAFE_1_translate_never_raises_on_odd_mappings() -> None:
    t = FsTranslator("dialer_campaign")
    for msg in (
        {},
        {"Event-Name": "CHANNEL_CREATE"},
        {SNAPSHOT_MARKER: "snapshot"},
        {"Event-Name": "CHANNEL_BRIDGE", "Event-Date-Timestamp": "x"},
        {"Event-Name": "CHANNEL_HANGUP_COMPLETE", "Unique-ID": "u", "Event-Date-Timestamp": "-5"},
    ):
        t.translate(msg)


def test_forget_finished_keeps_recently_ended_channels() -> None:
    t = FsTranslator("dialer_campaign")
    for uid, end in (("a", "1000000"), ("b", "5000000")):
        t.translate(
            {
                "Event-Name": "CHANNEL_CREATE",
                "Unique-ID": uid,
                "Event-Date-Timestamp": "500000",
                "Channel-Name": "sofia/internal/1001@x",
            }
        )
        t.translate(
            {
                "Event-Name": "CHANNEL_HANGUP_COMPLETE",
                "Unique-ID": uid,
                "Event-Date-Timestamp": end,
                "Hangup-Cause": "NORMAL_CLEARING",
            }
        )
    assert t.forget_finished(before_ts=3.0) == 1
    assert t.call_of("a") is None and t.call_of("b") == "b"
    assert t.forget_finished() == 1
