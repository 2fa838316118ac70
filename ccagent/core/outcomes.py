"""The PBX-neutral words for how a ring, a dial or an originate ended (issue 12).

Why one module: Asterisk and FreeSWITCH describe the same facts in different words (a Q.850
cause number or a FreeSWITCH cause name, ``AMDSTATUS=MACHINE`` or an ``avmd::beep`` event,
AMI ``Reason: 5`` or ``-ERR USER_BUSY``).  The adapters in ``ccagent.pbx`` translate their words
into the enums below; the leg fold and the dialer engine read only these, so a third PBX needs
a translator and nothing in the core changes.

The Q.850 cause table (:data:`CAUSE_CLASS`) is the one place a cause number gets a meaning.  A
cause does not mean the same thing in every context, and the contexts are spelled out here
rather than left to whichever module happens to read the number:

* **a dial that ended** (:func:`dial_status_of_cause`): what Asterisk's ``DialStatus`` would have
  said; FreeSWITCH reports no dial status, so its translator derives one from the cause.
  Cause 21 (CALL_REJECTED) is BUSY here: the ring was refused by the far end.
* **a customer who never answered** (:func:`customer_disposition`): the retry class of the call.
  Cause 21 is NO_ANSWER: a customer whose phone declined did not take the call, and the contact
  is retried as a no-answer, not as busy.
* **an agent offer that did not become a leg** (:func:`offer_outcome`): cause 21 is REJECTED:
  the employee's phone declined the ring, which is not the same as letting it ring out.
* **an internal call nobody took** (:func:`internal_busy`): only a real busy (17) is BUSY.

These meanings are exactly the ones the 76 real captures under ``tests/traces`` were verified
with; changing one changes stored legs.
"""

from __future__ import annotations

from enum import Enum, StrEnum, auto

__all__ = [
    "CAUSE_CLASS",
    "Q850",
    "AmdResult",
    "CauseClass",
    "DialStatus",
    "Disposition",
    "OfferOutcome",
    "OriginateOutcome",
    "cause_class",
    "customer_disposition",
    "dial_status_of_cause",
    "internal_busy",
    "offer_outcome",
]


class DialStatus(StrEnum):
    """How a dial to one destination ended (Asterisk's DialStatus words; derived for FreeSWITCH)."""

    ANSWER = "ANSWER"
    BUSY = "BUSY"
    NOANSWER = "NOANSWER"
    CANCEL = "CANCEL"
    CONGESTION = "CONGESTION"
    CHANUNAVAIL = "CHANUNAVAIL"
    OTHER = "OTHER"


class Disposition(StrEnum):
    ANSWERED = "answered"
    MISSED = "missed"
    ABANDONED = "abandoned"
    BUSY = "busy"
    NO_ANSWER = "no_answer"
    FAILED = "failed"


class OfferOutcome(StrEnum):
    """Why a ring to an agent did not become (or did become) a leg."""

    ANSWERED = "answered"
    NO_ANSWER = "no_answer"  # ring-no-answer / member timeout
    REJECTED = "rejected"  # the phone declined (486 / busy)
    ANSWERED_ELSEWHERE = "answered_elsewhere"  # ring-all: another member took it
    CALLER_HANGUP = "caller_hangup"  # the caller gave up while it rang


class Q850:
    """The cause numbers the core gives a meaning to (ITU-T Q.850, FreeSWITCH's own above 127)."""

    UNKNOWN = 0  # no cause reported (also: reconciled, the PBX never said)
    UNALLOCATED_NUMBER = 1
    NO_ROUTE_DESTINATION = 3
    NORMAL_CLEARING = 16
    USER_BUSY = 17
    NO_USER_RESPONSE = 18
    NO_ANSWER = 19
    SUBSCRIBER_ABSENT = 20
    CALL_REJECTED = 21
    ANSWERED_ELSEWHERE = 26  # "non-selected user clearing": ring-all, another phone took it
    DESTINATION_OUT_OF_ORDER = 27
    NORMAL_UNSPECIFIED = 31
    NORMAL_CIRCUIT_CONGESTION = 34
    NETWORK_OUT_OF_ORDER = 38
    NORMAL_TEMPORARY_FAILURE = 41
    SWITCH_CONGESTION = 42
    REQUESTED_CHAN_UNAVAIL = 44
    ORIGINATOR_CANCEL = 487  # FreeSWITCH: the caller stopped the ring
    ALLOTTED_TIMEOUT = 602  # FreeSWITCH: its own ring timer expired
    PROGRESS_TIMEOUT = 607
    USER_NOT_REGISTERED = 606
    GATEWAY_DOWN = 609


class CauseClass(Enum):
    """What a hangup cause says about a ring that was not answered."""

    CLEARED = auto()  # 16: someone hung up normally (a cancelled ring, for a dial)
    UNSPECIFIED = auto()  # 31: normal, unspecified
    BUSY = auto()  # 17
    REJECTED = auto()  # 21: the phone declined
    NO_ANSWER = auto()  # 18, 19: rang out
    TIMEOUT = auto()  # 602, 607: FreeSWITCH's own ring/progress timers
    ANSWERED_ELSEWHERE = auto()  # 26
    CANCELLED = auto()  # 487
    CONGESTION = auto()  # 34, 38, 41, 42: the network could not carry it
    UNREACHABLE = auto()  # 1, 3, 20, 27, 44, 606, 609: no such number / phone / route
    UNKNOWN = auto()  # 0 or no cause at all
    OTHER = auto()  # any other cause


# The one Q.850 table: cause number -> class.  Causes not listed are OTHER.
CAUSE_CLASS: dict[int, CauseClass] = {
    Q850.UNKNOWN: CauseClass.UNKNOWN,
    Q850.NORMAL_CLEARING: CauseClass.CLEARED,
    Q850.NORMAL_UNSPECIFIED: CauseClass.UNSPECIFIED,
    Q850.USER_BUSY: CauseClass.BUSY,
    Q850.CALL_REJECTED: CauseClass.REJECTED,
    Q850.NO_USER_RESPONSE: CauseClass.NO_ANSWER,
    Q850.NO_ANSWER: CauseClass.NO_ANSWER,
    Q850.ALLOTTED_TIMEOUT: CauseClass.TIMEOUT,
    Q850.PROGRESS_TIMEOUT: CauseClass.TIMEOUT,
    Q850.ANSWERED_ELSEWHERE: CauseClass.ANSWERED_ELSEWHERE,
    Q850.ORIGINATOR_CANCEL: CauseClass.CANCELLED,
    Q850.NORMAL_CIRCUIT_CONGESTION: CauseClass.CONGESTION,
    Q850.NETWORK_OUT_OF_ORDER: CauseClass.CONGESTION,
    Q850.NORMAL_TEMPORARY_FAILURE: CauseClass.CONGESTION,
    Q850.SWITCH_CONGESTION: CauseClass.CONGESTION,
    Q850.UNALLOCATED_NUMBER: CauseClass.UNREACHABLE,
    Q850.NO_ROUTE_DESTINATION: CauseClass.UNREACHABLE,
    Q850.SUBSCRIBER_ABSENT: CauseClass.UNREACHABLE,
    Q850.DESTINATION_OUT_OF_ORDER: CauseClass.UNREACHABLE,
    Q850.REQUESTED_CHAN_UNAVAIL: CauseClass.UNREACHABLE,
    Q850.USER_NOT_REGISTERED: CauseClass.UNREACHABLE,
    Q850.GATEWAY_DOWN: CauseClass.UNREACHABLE,
}


def cause_class(cause: int | None) -> CauseClass:
    """The class of a hangup cause; None (no cause reported) is UNKNOWN like 0."""
    if cause is None:
        return CauseClass.UNKNOWN
    return CAUSE_CLASS.get(cause, CauseClass.OTHER)


# -- a dial that ended ---------------------------------------------------------------------------

_DIAL_STATUS_OF_CLASS: dict[CauseClass, DialStatus] = {
    CauseClass.BUSY: DialStatus.BUSY,
    CauseClass.REJECTED: DialStatus.BUSY,
    CauseClass.NO_ANSWER: DialStatus.NOANSWER,
    CauseClass.TIMEOUT: DialStatus.NOANSWER,
    CauseClass.CANCELLED: DialStatus.CANCEL,
    CauseClass.CLEARED: DialStatus.CANCEL,  # the dialling side hung up while it rang
    CauseClass.CONGESTION: DialStatus.CONGESTION,
    CauseClass.UNREACHABLE: DialStatus.CHANUNAVAIL,
}


def dial_status_of_cause(cause: int | None) -> DialStatus:
    """The dial status a ring that ended with ``cause`` has (for PBXs that report only a cause)."""
    return _DIAL_STATUS_OF_CLASS.get(cause_class(cause), DialStatus.OTHER)


# -- a customer who never answered -----------------------------------------------------------------

_CUSTOMER_BY_CAUSE: dict[CauseClass, Disposition] = {
    CauseClass.BUSY: Disposition.BUSY,
    CauseClass.NO_ANSWER: Disposition.NO_ANSWER,
    CauseClass.REJECTED: Disposition.NO_ANSWER,
    CauseClass.UNSPECIFIED: Disposition.NO_ANSWER,
}
_CUSTOMER_BY_DIAL: dict[DialStatus, Disposition] = {
    DialStatus.BUSY: Disposition.BUSY,
    DialStatus.NOANSWER: Disposition.NO_ANSWER,
    DialStatus.CONGESTION: Disposition.FAILED,
    DialStatus.CHANUNAVAIL: Disposition.FAILED,
}


def customer_disposition(cause: int | None, dial_status: DialStatus | None) -> Disposition:
    """Disposition of an outbound call whose customer never answered (the contact's retry class).

    The cause decides first when it is conclusive, then the dial status; a cleared or unknown
    end (the ring was stopped) is a no-answer, anything else a failure.
    """
    cls = cause_class(cause)
    by_cause = _CUSTOMER_BY_CAUSE.get(cls)
    if by_cause is not None:
        return by_cause
    if dial_status is not None and dial_status in _CUSTOMER_BY_DIAL:
        return _CUSTOMER_BY_DIAL[dial_status]
    if cls in (CauseClass.CLEARED, CauseClass.UNKNOWN) or dial_status is DialStatus.CANCEL:
        return Disposition.NO_ANSWER
    return Disposition.FAILED


# -- an agent offer that did not become a leg ----------------------------------------------------


def offer_outcome(cause: int | None, dial_status: DialStatus | None) -> OfferOutcome:
    """Why an employee's phone that rang never took the call."""
    cls = cause_class(cause)
    if cls is CauseClass.ANSWERED_ELSEWHERE:
        return OfferOutcome.ANSWERED_ELSEWHERE
    if cls in (CauseClass.BUSY, CauseClass.REJECTED) or dial_status is DialStatus.BUSY:
        return OfferOutcome.REJECTED
    if dial_status is DialStatus.NOANSWER or cls is CauseClass.NO_ANSWER:
        return OfferOutcome.NO_ANSWER
    return OfferOutcome.CALLER_HANGUP


# -- an internal call nobody took ------------------------------------------------------------------


def internal_busy(cause: int | None, dial_status: DialStatus | None) -> bool:
    """An unanswered internal call was BUSY (else MISSED): a real busy only, not a decline."""
    return cause_class(cause) is CauseClass.BUSY or dial_status is DialStatus.BUSY


# -- answering-machine detection and originate results ---------------------------------------------


class AmdResult(StrEnum):
    """What answering-machine detection concluded (Asterisk AMD(), FreeSWITCH avmd)."""

    HUMAN = "human"
    MACHINE = "machine"
    NOT_SURE = "not_sure"  # the detector gave up or the PBX word is unknown: treated as a human


class OriginateOutcome(StrEnum):
    """How an asynchronous originate request ended, before any call record says more."""

    ANSWERED = "answered"  # the channel was placed and answered
    BUSY = "busy"
    NO_ANSWER = "no_answer"  # rang out, or the ring was cancelled
    FAILED = "failed"  # anything else: no route, congestion, refused command
