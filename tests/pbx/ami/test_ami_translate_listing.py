"""CoreShowChannels bookkeeping of the AMI translator (R-PBX-5 reconciliation, R-SAFE-1)."""

from __future__ import annotations

from ccagent.core import pbx_events as ev
from ccagent.pbx.ami.translate import LIST_ABANDONED_AFTER_S, AmiTranslator


def _channel(t: AmiTranslator, i: int, ts: float) -> None:
    uid = f"1700000000.{i}"
    chan = {"Uniqueid": uid, "Linkedid": uid, "Channel": f"PJSIP/trunk-{i:08x}", "Timestamp": f"{ts}"}
    t.translate({"Event": "Newchannel", "ChannelState": "4", **chan})
    t.translate({"Event": "Hangup", "Cause": "16", **chan})


def _complete(t: AmiTranslator) -> ev.ChannelsSnapshot:
    (snap,) = t.translate({"Event": "CoreShowChannelsComplete", "ActionID": "l1", "ListItems": "0"})
    assert isinstance(snap, ev.ChannelsSnapshot)
    return snap


def test_r_pbx_5_a_channel_created_while_the_list_runs_counts_as_live() -> None:
    t = AmiTranslator()
    t.begin_snapshot()
    t.translate({"Response": "Success", "EventList": "start", "ActionID": "l1"})
    _channel(t, 1, 1_700_000_000.0)
    assert [c.channel for c in _complete(t).channels] == ["1700000000.1"]


def test_r_safe_1_a_list_that_never_completes_does_not_remember_every_channel() -> None:
    """A refused or timed-out CoreShowChannels left the translator listing for the whole connection."""
    t = AmiTranslator()
    t.begin_snapshot()  # the answer is Response: Error, or never comes
    for i in range(5000):
        _channel(t, i, 1_700_000_000.0 + i)
    assert len(t._created_during_list) <= LIST_ABANDONED_AFTER_S + 1
    t.begin_snapshot()  # the next connection lists again, and that list works
    _channel(t, 9999, 1_700_010_000.0)
    assert [c.channel for c in _complete(t).channels] == ["1700000000.9999"]
