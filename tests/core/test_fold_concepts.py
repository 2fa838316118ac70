"""What the fold does, one concept per test, on hand-built normalized events (issue 12).

The 76 real captures (tests/acceptance) are the oracle; these are the documentation: each test
builds the smallest event list that shows one concept, folds it, and asserts the legs.  Times
are seconds after ``T``; ``C`` is the customer's channel, ``A``/``B`` employee phones 101/102.
"""

from __future__ import annotations

import pytest

from ccagent.core import pbx_events as ev
from ccagent.core.legs.fold import fold_call
from ccagent.core.legs.model import (
    CallRecord,
    Direction,
    Disposition,
    HangupBy,
    OfferOutcome,
    Role,
)
from ccagent.core.outcomes import Q850, AmdResult
from ccagent.core.pbx_events import JoinHow, PartyKind, SpyMode, TransferKind

T = 1_700_000_000.0
CALL = "call-1"


def customer(at: float, *, originated: bool = False) -> ev.ChannelCreated:
    return ev.ChannelCreated(
        ts=T + at,
        channel="C",
        call=CALL,
        name="PJSIP/trunk-1",
        party=PartyKind.EXTERNAL,
        extension=None,
        caller_num="0601020300",
        caller_name="Customer",
        exten="555",
        context="from-trunk",
        originated=originated,
    )


def phone(at: float, uid: str, ext: str) -> ev.ChannelCreated:
    return ev.ChannelCreated(
        ts=T + at,
        channel=uid,
        call=CALL,
        name=f"PJSIP/{ext}-1",
        party=PartyKind.EXTENSION,
        extension=ext,
        caller_num=ext,
        caller_name=None,
        exten=None,
        context=None,
        originated=False,
    )


def dial(at: float, src: str, dest: str) -> ev.DialBegin:
    return ev.DialBegin(ts=T + at, channel=src, call=CALL, dest=dest, dial_string=None)


def answer(at: float, uid: str) -> ev.ChannelAnswered:
    return ev.ChannelAnswered(ts=T + at, channel=uid, call=CALL)


def bridge(at: float, uid: str, b: str) -> ev.BridgeEnter:
    return ev.BridgeEnter(ts=T + at, channel=uid, call=CALL, bridge=b)


def unbridge(at: float, uid: str, b: str) -> ev.BridgeLeave:
    return ev.BridgeLeave(ts=T + at, channel=uid, call=CALL, bridge=b)


def hangup(at: float, uid: str, cause: int = Q850.NORMAL_CLEARING) -> list[ev.PbxEvent]:
    """The party asks to end (its segment ends), then the channel is gone."""
    return [
        ev.HangupRequested(ts=T + at, channel=uid, call=CALL, cause=cause),
        ev.ChannelHangup(ts=T + at, channel=uid, call=CALL, cause=cause),
    ]


def fold(*events: ev.PbxEvent | list[ev.PbxEvent]) -> CallRecord:
    flat: list[ev.PbxEvent] = []
    for e in events:
        flat.extend(e if isinstance(e, list) else [e])
    rec = fold_call(CALL, flat, pbx="test")
    assert rec is not None
    return rec


def test_direct_answered_call_is_one_leg_ringing_from_the_call_start() -> None:
    rec = fold(
        customer(0),
        phone(1, "A", "101"),
        dial(1, "C", "A"),
        answer(5, "A"),
        bridge(5, "C", "b1"),
        bridge(5, "A", "b1"),
        hangup(65, "C"),
        hangup(65, "A"),
    )
    assert rec.direction is Direction.INBOUND and rec.disposition is Disposition.ANSWERED
    (leg,) = rec.legs
    assert (leg.caller, leg.callee, leg.extension) == ("0601020300", "555", "101")
    assert (leg.ring_s, leg.talk_s) == (5.0, 60.0)
    assert leg.hangup_by is HangupBy.CALLER and leg.role is Role.MAIN
    assert [o.outcome for o in rec.offers] == [OfferOutcome.ANSWERED]


def test_missed_call_names_the_phone_that_rang_and_why_it_did_not_answer() -> None:
    rec = fold(
        customer(0),
        phone(1, "A", "101"),
        dial(1, "C", "A"),
        hangup(21, "A", Q850.NO_ANSWER),
        hangup(22, "C"),
    )
    (leg,) = rec.legs
    assert leg.disposition is Disposition.MISSED and not leg.answered
    assert leg.extension == "101" and leg.ring_s == 22.0 and leg.talk_s == 0.0
    assert [(o.extension, o.outcome, o.ring_s) for o in rec.offers] == [("101", OfferOutcome.NO_ANSWER, 20.0)]


@pytest.mark.parametrize(
    ("cause", "offer"),
    [
        (Q850.USER_BUSY, OfferOutcome.REJECTED),
        (Q850.CALL_REJECTED, OfferOutcome.REJECTED),  # the phone declined: REJECTED for an offer
        (Q850.ANSWERED_ELSEWHERE, OfferOutcome.ANSWERED_ELSEWHERE),
        (Q850.NORMAL_CLEARING, OfferOutcome.CALLER_HANGUP),
    ],
)
def test_an_offer_that_did_not_become_a_leg_says_why_from_its_cause(cause: int, offer: OfferOutcome) -> None:
    rec = fold(customer(0), phone(1, "A", "101"), dial(1, "C", "A"), hangup(10, "A", cause), hangup(12, "C"))
    assert [o.outcome for o in rec.offers] == [offer]


def test_queue_abandon_rings_from_the_queue_join_and_names_no_employee() -> None:
    rec = fold(
        customer(0),
        ev.QueueJoin(ts=T + 2, channel="C", call=CALL, queue="support"),
        phone(3, "A", "101"),
        ev.QueueAgentCalled(ts=T + 3, channel="C", call=CALL, queue="support", member="A", extension="101"),
        dial(3, "C", "A"),
        hangup(20, "C"),
        hangup(20, "A"),
        ev.QueueAbandon(ts=T + 20, channel="C", call=CALL, queue="support"),
    )
    (leg,) = rec.legs
    assert leg.disposition is Disposition.ABANDONED and leg.extension is None
    assert leg.queue == "support" and leg.ring_s == 18.0
    assert [(o.queue, o.outcome) for o in rec.offers] == [("support", OfferOutcome.CALLER_HANGUP)]


def test_blind_transfer_ends_the_first_leg_and_the_next_rings_from_that_moment() -> None:
    rec = fold(
        customer(0),
        phone(1, "A", "101"),
        dial(1, "C", "A"),
        answer(5, "A"),
        bridge(5, "C", "b1"),
        bridge(5, "A", "b1"),
        ev.Transfer(
            ts=T + 30, channel="C", call=CALL, kind=TransferKind.BLIND, transferer="A", target_exten="102"
        ),
        hangup(30, "A"),
        phone(31, "B", "102"),
        dial(31, "C", "B"),
        answer(35, "B"),
        bridge(35, "B", "b1"),
        hangup(95, "C"),
        hangup(95, "B"),
    )
    first, second = rec.legs
    assert (first.extension, first.talk_s, first.hangup_by) == ("101", 25.0, HangupBy.TRANSFER)
    assert second.extension == "102" and second.callee == "102"
    assert second.transfer_kind is TransferKind.BLIND and second.transfer_from_leg == 0
    assert (second.ring_s, second.talk_s, second.hangup_by) == (5.0, 60.0, HangupBy.CALLER)


def test_attended_transfer_keeps_the_consultation_as_its_own_internal_leg() -> None:
    rec = fold(
        customer(0),
        phone(1, "A", "101"),
        dial(1, "C", "A"),
        answer(5, "A"),
        bridge(5, "C", "b1"),
        bridge(5, "A", "b1"),
        # A puts the customer aside and calls B: B is reached from A, not from the customer
        unbridge(30, "A", "b1"),
        phone(31, "B", "102"),
        dial(31, "A", "B"),
        answer(34, "B"),
        bridge(34, "A", "b2"),
        bridge(34, "B", "b2"),
        # A hangs up: B gets the customer
        hangup(50, "A"),
        bridge(50, "C", "b2"),
        hangup(110, "C"),
        hangup(110, "B"),
    )
    a_leg, consult, b_leg = rec.legs
    assert a_leg.extension == "101" and a_leg.talk_s == 45.0 and a_leg.hangup_by is HangupBy.AGENT
    assert consult.role is Role.CONSULTATION and consult.direction is Direction.INTERNAL
    assert (consult.caller, consult.callee, consult.ring_s, consult.talk_s) == ("101", "102", 3.0, 16.0)
    assert b_leg.transfer_kind is TransferKind.ATTENDED and b_leg.transfer_from_leg == 0
    assert (b_leg.extension, b_leg.ring_s, b_leg.talk_s) == ("102", 0.0, 60.0)


@pytest.mark.parametrize(
    ("mode", "role"),
    [
        (SpyMode.LISTEN, Role.SUPERVISOR_LISTEN),
        (SpyMode.WHISPER, Role.SUPERVISOR_WHISPER),
        (SpyMode.BARGE, Role.SUPERVISOR_BARGE),
    ],
)
def test_supervisor_spy_is_one_internal_leg_whose_role_is_the_mode(mode: SpyMode, role: Role) -> None:
    rec = fold(
        phone(0, "S", "200"),
        ev.SpyStarted(ts=T + 1, channel="S", call=CALL, spyee="A", mode=mode, spyee_extension="101"),
        answer(1, "S"),
        hangup(41, "S"),
    )
    (leg,) = rec.legs
    assert leg.role is role and leg.direction is Direction.INTERNAL
    assert (leg.caller, leg.callee, leg.talk_s, leg.project) == ("200", "101", 40.0, None)


def test_dialer_call_answered_with_no_operator_free_is_abandoned_with_no_talk() -> None:
    rec = fold(
        customer(0, originated=True),
        ev.DialBegin(ts=T, channel="", call=CALL, dest="C", dial_string="0601020300@customers"),
        ev.VariableSet(ts=T, channel="C", call=CALL, name="CCAGENT_PROJECT", value="spring"),
        answer(10, "C"),
        ev.QueueJoin(ts=T + 10, channel="C", call=CALL, queue="sales"),
        hangup(14, "C"),
    )
    assert rec.direction is Direction.OUTBOUND and rec.project == "spring"
    (leg,) = rec.legs
    assert leg.disposition is Disposition.ABANDONED and leg.answered
    assert (leg.callee, leg.ring_s, leg.talk_s) == ("0601020300", 10.0, 0.0)


@pytest.mark.parametrize(
    ("cause", "disposition"),
    [
        (Q850.USER_BUSY, Disposition.BUSY),
        (Q850.CALL_REJECTED, Disposition.NO_ANSWER),  # a customer who declined: the no-answer retry
        (Q850.NO_ANSWER, Disposition.NO_ANSWER),
        (Q850.NORMAL_CIRCUIT_CONGESTION, Disposition.FAILED),
    ],
)
def test_dialer_call_never_answered_gets_the_retry_class_of_its_cause(
    cause: int, disposition: Disposition
) -> None:
    rec = fold(
        customer(0, originated=True),
        ev.DialBegin(ts=T, channel="", call=CALL, dest="C", dial_string="0601020300@customers"),
        hangup(20, "C", cause),
    )
    (leg,) = rec.legs
    assert leg.disposition is disposition and leg.hangup_cause == cause


def test_answering_machine_detection_is_on_the_record() -> None:
    rec = fold(
        customer(0, originated=True),
        answer(5, "C"),
        ev.AmdDetected(ts=T + 8, channel="C", call=CALL, result=AmdResult.MACHINE),
        hangup(20, "C"),
    )
    assert rec.amd is AmdResult.MACHINE
    assert rec.legs[0].disposition is Disposition.ANSWERED  # the PBX talked to it: answered


def test_local_pair_connects_the_customer_to_the_phone_behind_it() -> None:
    local = ev.ChannelCreated(
        ts=T + 1,
        channel="L1",
        call=CALL,
        name="Local/101@agents-1;1",
        party=PartyKind.LOCAL,
        extension=None,
        caller_num=None,
        caller_name=None,
        exten="101",
        context="agents",
        originated=False,
    )
    rec = fold(
        customer(0),
        local,
        ev.LocalPair(ts=T + 1, channel="L1", call=CALL, other="L2"),
        dial(1, "C", "L1"),
        phone(2, "A", "101"),
        dial(2, "L2", "A"),
        answer(6, "A"),
        answer(6, "L1"),
        bridge(6, "L2", "b2"),
        bridge(6, "A", "b2"),
        bridge(6, "C", "b1"),
        bridge(6, "L1", "b1"),
        hangup(66, "C"),
        hangup(66, "L1"),
        hangup(66, "L2"),
        hangup(66, "A"),
    )
    (leg,) = rec.legs  # the Local halves are plumbing: no leg, no offer
    assert (leg.extension, leg.answered, leg.ring_s, leg.talk_s) == ("101", True, 6.0, 60.0)
    assert [o.extension for o in rec.offers] == ["101"]


def _join(at: float, uid: str, target: str, how: JoinHow) -> ev.ChannelJoinsCall:
    return ev.ChannelJoinsCall(ts=T + at, channel=uid, call=CALL, target=target, how=how)


@pytest.mark.parametrize(("how", "ring"), [(JoinHow.PICKUP, 8.0), (JoinHow.LINKEDID, 4.0)])
def test_a_picker_answers_at_the_handover_unless_only_its_linkedid_said_so(how: JoinHow, ring: float) -> None:
    """102 dials a pickup code at 3 (its own call, merged here by the tracker), its phone answers
    that at 4, and the PBX hands it the caller ringing 101 at 8: the leg rings to the handover.
    A bare Linkedid switch (the Pickup event lost) carries no moment: the phone's answer counts."""
    rec = fold(
        customer(0),
        phone(1, "A", "101"),
        dial(1, "C", "A"),
        phone(3, "B", "102"),
        answer(4, "B"),
        _join(8, "B", "A", how),
        hangup(8, "A", Q850.ANSWERED_ELSEWHERE),
        bridge(8, "C", "b1"),
        bridge(8, "B", "b1"),
        hangup(68, "C"),
        hangup(68, "B"),
    )
    (leg,) = rec.legs
    assert (leg.extension, leg.transfer_kind, leg.ring_s, leg.talk_s) == ("102", None, ring, 60.0)
    assert [(o.extension, o.outcome) for o in rec.offers] == [("101", OfferOutcome.ANSWERED_ELSEWHERE)]


def test_a_parked_customer_ends_the_parkers_leg_and_the_retriever_rings_from_the_park() -> None:
    """A park with no transfer event (FreeSWITCH valet by REFER): the park ends 101's leg; 102
    dials the slot on a call of its own and takes the caller, a blind transfer ringing since the park."""
    rec = fold(
        customer(0),
        phone(1, "A", "101"),
        dial(1, "C", "A"),
        answer(5, "A"),
        bridge(5, "C", "b1"),
        bridge(5, "A", "b1"),
        unbridge(20, "C", "b1"),
        ev.Parked(ts=T + 20, channel="C", call=CALL, lot="5901"),
        hangup(21, "A"),
        phone(25, "B", "102"),
        answer(25, "B"),
        _join(30, "B", "C", JoinHow.UNPARK),
        bridge(30, "C", "b2"),
        bridge(30, "B", "b2"),
        hangup(90, "C"),
        hangup(90, "B"),
    )
    first, second = rec.legs
    assert (first.extension, first.talk_s, first.hangup_by) == ("101", 15.0, HangupBy.TRANSFER)
    assert (second.extension, second.transfer_kind, second.transfer_from_leg) == (
        "102",
        TransferKind.BLIND,
        0,
    )
    assert (second.ring_s, second.talk_s) == (10.0, 60.0)


def _recording(at: float, uid: str, path: str) -> ev.VariableSet:
    return ev.VariableSet(ts=T + at, channel=uid, call=CALL, name="MIXMONITOR_FILENAME", value=path)


def test_a_leg_keeps_the_newest_recording_started_on_its_parties_before_it_ended() -> None:
    """R-LEG-1: the file name only; a file started on another channel, or after the leg ended,
    is not this leg's."""
    rec = fold(
        customer(0),
        _recording(0.5, "C", "/var/spool/asterisk/monitor/2026/12/05/in-1.wav"),
        _recording(0.6, "X", "/var/spool/asterisk/monitor/other.wav"),
        phone(1, "A", "101"),
        dial(1, "C", "A"),
        answer(5, "A"),
        bridge(5, "C", "b1"),
        bridge(5, "A", "b1"),
        hangup(65, "C"),
        _recording(66, "A", "/late.wav"),
        hangup(66, "A"),
    )
    assert [leg.recording for leg in rec.legs] == ["in-1.wav"]
    unrecorded = fold(customer(0), phone(1, "A", "101"), dial(1, "C", "A"), hangup(20, "C"), hangup(20, "A"))
    assert [leg.recording for leg in unrecorded.legs] == [None]
