"""Pickup and park retrieval: the employee's own feature-code call joins the caller's (R-LEG-4).

Asterisk: the ``Pickup`` / ``UnParkedCall`` event says so; when it is lost, the channel's switch to
the caller's Linkedid still does, once, and never the other way round.  FreeSWITCH: ``intercept``
and the valet ``bridge`` event say so; when lost, the bridge of the taker with the caller does."""

from __future__ import annotations

from collections.abc import Callable

from ccagent.core import pbx_events as ev
from ccagent.core.legs.model import CallRecord
from ccagent.core.legs.tracker import CallTracker
from ccagent.pbx.ami.capture import iter_ami_capture
from ccagent.pbx.ami.translate import AmiTranslator
from ccagent.pbx.esl.capture import iter_capture_messages
from ccagent.pbx.esl.translate import FsTranslator
from tests.acceptance.legs_oracle import TRACES

PICKUP = TRACES / "asterisk" / "35-freepbx-directed-pickup" / "ami.log"
PARK = TRACES / "asterisk" / "36-freepbx-park-and-retrieve" / "ami.log"


def _fold(messages: list) -> tuple[list[ev.PbxEvent], list[CallRecord]]:
    tr, tk = AmiTranslator(), CallTracker(pbx="asterisk")
    events = [e for m in messages for e in tr.translate(m)]
    return events, [r for e in events for r in tk.apply(e).calls]


def test_R_LEG_4_a_pickup_is_one_answered_call_of_the_picker() -> None:
    events, (rec,) = _fold(list(iter_ami_capture(PICKUP)))
    joins = [e for e in events if isinstance(e, ev.ChannelJoinsCall)]
    assert [j.how for j in joins] == ["pickup", "linkedid"]  # the event, then the Linkedid switch
    assert [(leg.extension, leg.callee, leg.transfer_kind) for leg in rec.legs] == [("102", "101", None)]
    assert [(o.extension, str(o.outcome)) for o in rec.offers] == [("101", "answered_elsewhere")]


def test_R_LEG_4_without_the_pickup_event_the_linkedid_switch_still_merges() -> None:
    messages = [m for m in iter_ami_capture(PICKUP) if m.get("Event") != "Pickup"]
    _events, records = _fold(messages)
    assert [r.call_id for r in records] == ["1796430907.65"]
    assert [leg.extension for leg in records[0].legs] == ["102"]


def test_R_LEG_4_a_park_retrieval_is_a_blind_transfer_leg_even_without_unparkedcall() -> None:
    for drop in ("", "UnParkedCall"):
        messages = [m for m in iter_ami_capture(PARK) if m.get("Event") != drop]
        _events, (rec,) = _fold(messages)
        assert [(leg.extension, leg.transfer_kind, leg.transfer_from_leg) for leg in rec.legs] == [
            ("101", None, None),
            ("102", "blind", 0),
        ]


def test_R_LEG_4_a_stale_linkedid_never_moves_the_caller_into_the_pickers_call() -> None:
    """After the merge, an event still carrying the picker's old Linkedid (Asterisk sends a few)
    must not hand the caller's call to the picker's: only a call the channel started is absorbed."""
    tk = CallTracker(pbx="asterisk")
    tr = AmiTranslator()
    events = [e for m in iter_ami_capture(PICKUP) for e in tr.translate(m)]
    picker = next(e for e in events if isinstance(e, ev.ChannelJoinsCall)).channel
    at = next(i for i, e in enumerate(events) if isinstance(e, ev.ChannelJoinsCall)) + 1
    back = ev.ChannelJoinsCall(
        ts=events[at].ts, channel=picker, call="1796430910.67", target="", how=ev.JoinHow.LINKEDID
    )
    records = [r for e in [*events[:at], back, *events[at:]] for r in tk.apply(e).calls]
    assert [r.call_id for r in records] == ["1796430907.65"]


# -- FreeSWITCH (FusionPBX): intercept, valet park, loopback ring-group member ------------------------
FS = TRACES / "freeswitch"


def _fs_fold(folder: str, drop: Callable[[dict[str, str]], bool] = lambda m: False) -> list[CallRecord]:
    tr, tk = FsTranslator(), CallTracker(pbx="freeswitch")
    messages = [m for m in iter_capture_messages(FS / folder / "esl.log") if not drop(m)]
    return [r for m in messages for e in tr.translate(m) for r in tk.apply(e).calls]


def _intercept(m: dict[str, str]) -> bool:
    return m.get("Application") == "intercept"


def _valet_bridge(m: dict[str, str]) -> bool:
    return m.get("Event-Subclass") == "valet_parking::info" and m.get("Action") == "bridge"


def test_R_LEG_4_an_intercept_is_one_call_of_the_picker_even_when_the_event_is_lost() -> None:
    for drop in (lambda m: False, _intercept):
        (rec,) = _fs_fold("28-fusionpbx-intercept-pickup", drop)
        assert [(leg.extension, leg.callee, leg.transfer_kind) for leg in rec.legs] == [
            ("102", "5550101", None)
        ]


def test_R_LEG_4_a_valet_retrieval_is_a_blind_transfer_leg_even_when_its_event_is_lost() -> None:
    for drop in (lambda m: False, _valet_bridge):
        (rec,) = _fs_fold("29-fusionpbx-valet-park-retrieve", drop)
        assert [(leg.extension, leg.transfer_kind, leg.transfer_from_leg) for leg in rec.legs] == [
            ("101", None, None),
            ("102", "blind", 0),
        ]
        assert 3.5 < rec.legs[1].ring_s < 5.0  # from the park, not from the call's start


def test_R_LEG_4_a_loopback_member_is_the_callers_leg_and_its_exit_ends_nothing() -> None:
    (rec,) = _fs_fold("27-fusionpbx-ringgroup-loopback-answered")
    assert [(leg.extension, str(leg.disposition)) for leg in rec.legs] == [("102", "answered")]
    assert rec.legs[0].talk_s > 5.0  # the loopback pair hung up 2 s in; the leg ran to the end
