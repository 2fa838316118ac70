"""The neutral vocabulary (core/outcomes.py) and the adapters' translation into it (issue 12).

One Q.850 table, one meaning per context: these tests pin the contexts where a cause means
different things (21 above all), and show that each PBX's own words reach the core only as the
neutral enums.
"""

from __future__ import annotations

import pytest

from ccagent.core import pbx_events as ev
from ccagent.core.outcomes import (
    Q850,
    AmdResult,
    DialStatus,
    Disposition,
    OfferOutcome,
    OriginateOutcome,
    customer_disposition,
    dial_status_of_cause,
    internal_busy,
    offer_outcome,
)
from ccagent.pbx.ami.translate import AmiTranslator
from ccagent.pbx.esl.translate import FsTranslator


def test_cause_21_has_one_documented_meaning_per_context() -> None:
    assert dial_status_of_cause(Q850.CALL_REJECTED) is DialStatus.BUSY  # what Dial would report
    assert customer_disposition(Q850.CALL_REJECTED, None) is Disposition.NO_ANSWER  # retry class
    assert offer_outcome(Q850.CALL_REJECTED, None) is OfferOutcome.REJECTED  # the phone declined
    assert not internal_busy(Q850.CALL_REJECTED, None)  # a colleague's decline is a missed call


@pytest.mark.parametrize(
    ("cause", "status"),
    [
        (Q850.USER_BUSY, DialStatus.BUSY),
        (Q850.NO_ANSWER, DialStatus.NOANSWER),
        (Q850.ALLOTTED_TIMEOUT, DialStatus.NOANSWER),
        (Q850.NORMAL_CLEARING, DialStatus.CANCEL),
        (Q850.ORIGINATOR_CANCEL, DialStatus.CANCEL),
        (Q850.SWITCH_CONGESTION, DialStatus.CONGESTION),
        (Q850.GATEWAY_DOWN, DialStatus.CHANUNAVAIL),
        (Q850.NORMAL_UNSPECIFIED, DialStatus.OTHER),
        (Q850.UNKNOWN, DialStatus.OTHER),
    ],
)
def test_dial_status_derived_from_a_cause(cause: int, status: DialStatus) -> None:
    assert dial_status_of_cause(cause) is status


def test_customer_cause_decides_before_the_dial_status_and_a_stopped_ring_is_no_answer() -> None:
    assert customer_disposition(Q850.USER_BUSY, DialStatus.NOANSWER) is Disposition.BUSY
    assert customer_disposition(99, DialStatus.CHANUNAVAIL) is Disposition.FAILED
    assert customer_disposition(None, DialStatus.CANCEL) is Disposition.NO_ANSWER
    assert customer_disposition(Q850.NORMAL_CLEARING, None) is Disposition.NO_ANSWER
    assert customer_disposition(99, None) is Disposition.FAILED


def _ami(**fields: str) -> dict[str, str]:
    return {"Timestamp": "1700000000.0", **fields}


@pytest.mark.parametrize(
    ("response", "reason", "outcome"),
    [
        ("Success", "4", OriginateOutcome.ANSWERED),
        ("Failure", "5", OriginateOutcome.BUSY),
        ("Failure", "3", OriginateOutcome.NO_ANSWER),
        ("Failure", "8", OriginateOutcome.FAILED),
        ("Failure", "0", OriginateOutcome.FAILED),
        ("Failure", "4", OriginateOutcome.FAILED),  # a failure is never answered, whatever its code
    ],
)
def test_ami_originate_reason_codes_become_neutral_outcomes(
    response: str, reason: str, outcome: OriginateOutcome
) -> None:
    (res,) = AmiTranslator().translate(
        _ami(Event="OriginateResponse", Response=response, Reason=reason, ActionID="a1", Uniqueid="<null>")
    )
    assert isinstance(res, ev.OriginateResult)
    assert res.outcome is outcome and res.reason == reason  # the PBX's words stay as the note only


@pytest.mark.parametrize(
    ("status", "result"),
    [("MACHINE", AmdResult.MACHINE), ("HUMAN", AmdResult.HUMAN), ("NOTSURE", AmdResult.NOT_SURE)],
)
def test_ami_amdstatus_becomes_an_amd_event(status: str, result: AmdResult) -> None:
    (amd,) = AmiTranslator().translate(
        _ami(Event="VarSet", Variable="AMDSTATUS", Value=status, Uniqueid="u1", Linkedid="u1", Channel="X/1")
    )
    assert amd == ev.AmdDetected(ts=1700000000.0, channel="u1", call="u1", result=result)


def _job(body: str) -> dict[str, str]:
    return {
        "Event-Name": "BACKGROUND_JOB",
        "Event-Date-Timestamp": "1700000000000000",
        "Job-UUID": "job-1",
        "Job-Command-Arg": "{origination_uuid=0123abcd-0000-0000-0000-000000000000}sofia/x",
        "_body": body,
    }


@pytest.mark.parametrize(
    ("body", "outcome"),
    [
        ("+OK 0123abcd-0000-0000-0000-000000000000", OriginateOutcome.ANSWERED),
        ("-ERR USER_BUSY", OriginateOutcome.BUSY),
        ("-ERR NO_ANSWER", OriginateOutcome.NO_ANSWER),
        ("-ERR ORIGINATOR_CANCEL", OriginateOutcome.NO_ANSWER),
        ("-ERR GATEWAY_DOWN", OriginateOutcome.FAILED),
    ],
)
def test_esl_originate_replies_become_neutral_outcomes(body: str, outcome: OriginateOutcome) -> None:
    (res,) = FsTranslator().translate(_job(body))
    assert isinstance(res, ev.OriginateResult)
    assert res.outcome is outcome and res.channel == "0123abcd-0000-0000-0000-000000000000"


@pytest.mark.parametrize(
    ("subclass", "beep", "result"),
    [
        ("avmd::beep", "", AmdResult.MACHINE),
        ("avmd::stop", "DETECTED", AmdResult.MACHINE),
        ("avmd::stop", "NOTDETECTED", AmdResult.HUMAN),
    ],
)
def test_esl_avmd_becomes_an_amd_event_beside_the_dialplan_result(
    subclass: str, beep: str, result: AmdResult
) -> None:
    out = FsTranslator().translate(
        {
            "Event-Name": "CUSTOM",
            "Event-Subclass": subclass,
            "Event-Date-Timestamp": "1700000000000000",
            "Unique-ID": "u1",
            "Beep-Status": beep,
        }
    )
    assert [type(e) for e in out] == [ev.UserEvent, ev.AmdDetected]
    assert out[1] == ev.AmdDetected(ts=1700000000.0, channel="u1", call="u1", result=result)
