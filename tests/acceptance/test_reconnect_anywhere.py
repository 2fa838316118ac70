"""A PBX connection lost at any message, with events lost until the reconnect, still stores
the capture's calls (R-PBX-5).

On reconnect the daemon lists the live channels (AMI CoreShowChannels, ESL ``show channels as
json``) and the tracker adopts the ones whose creation fell in the gap.  The listing can only
guess a channel's call: FreeSWITCH gives a mod_callcenter agent leg its own uuid as call, and
before the tracker moved such a channel to the call its next event names, one answered queue
call was stored as an abandoned call plus a phantom missed one.  The listing here is what the
PBX would answer: the channels created and not yet hung up when the connection comes back.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from ccagent.core import pbx_events as ev
from ccagent.core.legs.model import CallRecord
from ccagent.pbx.esl.translate import snapshot_message
from tests.acceptance.test_restart_anywhere import CUTS_PER_CAPTURE, _messages, _pair, _single_connection

GAPS = (0, 3, 10)  # messages lost while the connection is down


def _ts(pbx: str, m: Any) -> float | None:
    if pbx == "asterisk":
        return float(m["Timestamp"]) if m.get("Timestamp") else None
    raw = m.get("Event-Date-Timestamp")
    return int(raw) / 1e6 if raw else None


def _listing(pbx: str, before: list[Any]) -> list[Any]:
    """The PBX's answer to the reconnect's channel listing, as its own protocol says it."""
    created, gone = (
        ("Newchannel", "Hangup") if pbx == "asterisk" else ("CHANNEL_CREATE", "CHANNEL_HANGUP_COMPLETE")
    )
    uid = "Uniqueid" if pbx == "asterisk" else "Unique-ID"
    name = "Event" if pbx == "asterisk" else "Event-Name"
    alive: dict[str, Any] = {}
    for m in before:
        if m.get(name) == created:
            alive[m[uid]] = m
        elif m.get(name) == gone:
            alive.pop(m.get(uid), None)
    if pbx == "freeswitch":
        rows = [
            {"uuid": u, "name": m.get("Channel-Name", ""), "callstate": "ACTIVE",
             "call_uuid": m.get("Channel-Call-UUID") or u}
            for u, m in alive.items()
        ]  # fmt: skip
        return [snapshot_message(json.dumps({"row_count": len(rows), "rows": rows}))]
    ts = max([t for t in (_ts(pbx, m) for m in before) if t] or [0.0])
    items: list[dict[str, str]] = [{"Response": "Success", "EventList": "start", "ActionID": "r1"}]
    items += [
        {"Event": "CoreShowChannel", "ActionID": "r1", "Uniqueid": u, "Linkedid": m.get("Linkedid", u),
         "Channel": m["Channel"], "ChannelStateDesc": "Up", "Duration": "00:00:01", "Timestamp": f"{ts:.6f}"}
        for u, m in alive.items()
    ]  # fmt: skip
    items.append({"Event": "CoreShowChannelsComplete", "ActionID": "r1", "ListItems": str(len(alive)),
                  "Timestamp": f"{ts:.6f}"})  # fmt: skip
    return items


def _run(pbx: str, connections: list[list[Any]]) -> list[str]:
    """The call ids stored: a gap may blur a leg's times, never split or merge a call."""
    tr, tk = _pair(pbx)
    done: list[CallRecord] = []
    for msgs in connections:
        done += [r for m in msgs for e in tr.translate(m) for r in tk.apply(e).calls]
        done += tk.apply(ev.ConnectionLost(ts=tr.last_ts)).calls
    done += tk.apply(ev.ChannelsSnapshot(ts=tr.last_ts + 1, channels=(), complete=True)).calls
    return sorted(r.call_id for r in done)


@pytest.mark.parametrize(
    ("pbx", "folder"),
    [("asterisk", f) for f in _single_connection("asterisk")]
    + [("freeswitch", f) for f in _single_connection("freeswitch")],
)
def test_R_PBX_5_a_reconnect_at_any_message_keeps_each_call_whole(pbx: str, folder: str) -> None:
    msgs = _messages(pbx, folder)
    whole = _run(pbx, [msgs])
    for cut in range(1, len(msgs), max(1, len(msgs) // CUTS_PER_CAPTURE)):
        for gap in GAPS:
            back = min(len(msgs), cut + gap)
            got = _run(pbx, [msgs[:cut], _listing(pbx, msgs[:back]) + msgs[back:]])
            assert got == whole, (folder, cut, gap)
