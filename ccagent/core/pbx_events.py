"""The one normalized PBX event model (SPEC R-PBX-3).

Both adapters (``ccagent.pbx.ami`` and ``ccagent.pbx.esl``) translate their raw
protocol messages into these frozen dataclasses; everything above the adapters
(leg engine, dialer, cards, reports) sees only these.  The model is
channel-centric because both PBXs are: a channel is one party's connection to
the switch, identified by the PBX's own unique id (Asterisk ``Uniqueid``,
FreeSWITCH ``Unique-ID``).  ``call`` is the PBX's grouping of channels into one
call (Asterisk ``Linkedid``; FreeSWITCH: the Unique-ID of the call's first
channel, resolved by the ESL translator from Other-Leg / bridge linkage).

Every event carries ``ts``: the PBX's own timestamp (epoch seconds).  Durations
are always computed from these, never from the daemon's clock (STYLE lesson 4).

``PbxEvent`` is a closed union, not an open base class: every consumer matches it
exhaustively and ends with ``typing.assert_never``, so adding an event kind makes
the type checker list every place that must decide what to do with it (issue 12).
Values that need a meaning (hangup causes, AMD, originate results) use the
neutral enums of ``ccagent.core.outcomes``; PBX words stay in the adapters.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import TypeAlias

from ccagent.core.outcomes import AmdResult, OriginateOutcome
from ccagent.core.outcomes import DialStatus as DialStatus  # re-exported: events carry it


class TransferKind(StrEnum):
    """How a call moved from one employee to another (stored as is on the leg)."""

    BLIND = "blind"  # the transferer left before the target answered (REFER, BlindTransfer, Redirect)
    ATTENDED = "attended"  # the transferer talked to the target first (a consultation)


class SpyMode(StrEnum):
    """What a supervisor's spy channel does to the spied call."""

    LISTEN = "listen"
    WHISPER = "whisper"  # the employee hears the supervisor, the customer does not
    BARGE = "barge"  # both hear the supervisor


class JoinHow(StrEnum):
    """How a channel came to join a call it did not dial (pickup, park and retrieve; R-LEG-4)."""

    PICKUP = "pickup"  # Asterisk Pickup, FreeSWITCH intercept: the moment of the handover is known
    UNPARK = "unpark"  # Asterisk UnParkedCall, FreeSWITCH valet bridge: likewise
    LINKEDID = "linkedid"  # only the channel's Asterisk Linkedid changed: the moment is unknown
    BRIDGE = "bridge"  # the handover was not seen, the taker's bridge with the caller was (FreeSWITCH)


class PartyKind(StrEnum):
    """What sits at the far end of a channel, as far as the translator can tell."""

    EXTENSION = "extension"  # an employee's phone (PJSIP/101, sofia/internal/101@)
    EXTERNAL = "external"  # a trunk / customer
    LOCAL = "local"  # Asterisk Local/ half or FreeSWITCH loopback
    OTHER = "other"


@dataclass(frozen=True, slots=True)
class EventBase:
    """What every event has; not an event itself (see the ``PbxEvent`` union at the end)."""

    ts: float


@dataclass(frozen=True, slots=True)
class ChannelEvent(EventBase):
    """An event about one channel; ``call`` is the PBX call grouping (Linkedid)."""

    channel: str
    call: str


@dataclass(frozen=True, slots=True)
class ChannelCreated(ChannelEvent):
    name: str  # PBX channel name, e.g. PJSIP/101-00000001
    party: PartyKind
    extension: str | None  # employee extension when party is EXTENSION
    caller_num: str | None
    caller_name: str | None
    exten: str | None  # the number dialled / dialplan extension at creation
    context: str | None
    originated: bool  # created by the PBX on request (Originate / originate), not by an incoming INVITE


@dataclass(frozen=True, slots=True)
class CallerIdChanged(ChannelEvent):
    caller_num: str | None
    caller_name: str | None


@dataclass(frozen=True, slots=True)
class ChannelRinging(ChannelEvent):
    pass


@dataclass(frozen=True, slots=True)
class ChannelAnswered(ChannelEvent):
    pass


@dataclass(frozen=True, slots=True)
class HangupRequested(ChannelEvent):
    """First request to end a channel: the end of its party's segment (R-LEG-4)."""

    cause: int | None
    by_ami: bool = False  # requested by a manager action (AMI Hangup / uuid_kill)


@dataclass(frozen=True, slots=True)
class ChannelHangup(ChannelEvent):
    cause: int
    cause_text: str = ""
    reconciled: bool = False  # synthesized by reconciliation, not reported by the PBX


@dataclass(frozen=True, slots=True)
class DialBegin(ChannelEvent):
    """``channel`` dials ``dest``; ``channel`` is "" for an originate with no source."""

    dest: str
    dial_string: str | None


@dataclass(frozen=True, slots=True)
class DialEnd(ChannelEvent):
    dest: str
    status: DialStatus


@dataclass(frozen=True, slots=True)
class BridgeEnter(ChannelEvent):
    bridge: str


@dataclass(frozen=True, slots=True)
class BridgeLeave(ChannelEvent):
    bridge: str


@dataclass(frozen=True, slots=True)
class LocalPair(ChannelEvent):
    """Two halves of one Local/loopback channel (``channel`` = ;1, ``other`` = ;2)."""

    other: str


@dataclass(frozen=True, slots=True)
class AppStarted(ChannelEvent):
    """A dialplan application began on the channel (Queue, ChanSpy, Playback, eavesdrop...)."""

    app: str
    data: str
    context: str | None = None
    exten: str | None = None


@dataclass(frozen=True, slots=True)
class VariableSet(ChannelEvent):
    name: str
    value: str


@dataclass(frozen=True, slots=True)
class Dtmf(ChannelEvent):
    digit: str


@dataclass(frozen=True, slots=True)
class Hold(ChannelEvent):
    on: bool


@dataclass(frozen=True, slots=True)
class UserEvent(ChannelEvent):
    """A dialplan-reported result (Asterisk UserEvent / FreeSWITCH CUSTOM event)."""

    name: str
    fields: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class QueueJoin(ChannelEvent):
    queue: str


@dataclass(frozen=True, slots=True)
class QueueLeave(ChannelEvent):
    queue: str


@dataclass(frozen=True, slots=True)
class QueueAgentCalled(ChannelEvent):
    """The queue rings a member: ``channel`` = the waiting caller, ``member`` = the member's channel."""

    queue: str
    member: str
    extension: str | None


@dataclass(frozen=True, slots=True)
class QueueAgentConnect(ChannelEvent):
    queue: str
    member: str
    extension: str | None
    hold_s: float | None = None


@dataclass(frozen=True, slots=True)
class QueueAgentNoAnswer(ChannelEvent):
    queue: str
    member: str
    extension: str | None
    ring_s: float | None = None


@dataclass(frozen=True, slots=True)
class QueueAbandon(ChannelEvent):
    """The caller left the queue unserved (hang-up or the queue's own timeout)."""

    queue: str
    hold_s: float | None = None


@dataclass(frozen=True, slots=True)
class Transfer(ChannelEvent):
    """A transfer reported by the PBX; ``channel`` = the transferee (customer)."""

    kind: TransferKind
    transferer: str
    target_exten: str | None = None
    target_channel: str | None = None


@dataclass(frozen=True, slots=True)
class ChannelJoinsCall(ChannelEvent):
    """The PBX handed ``channel`` a call it did not dial (R-LEG-4 pickup, park and retrieve).

    The picker of a ringing call (Asterisk ``Pickup``, FreeSWITCH intercept) and the retriever of a
    parked one (Asterisk ``UnParkedCall``, FreeSWITCH valet retrieval) first dial a feature code on
    a call of their own; from this event on, ``channel`` and everything of that call belong to
    ``call``.  ``target`` is the channel taken over (the ringing phone, or the parked caller).
    ``how`` LINKEDID: only the channel's call changed (Asterisk Linkedid), the handover event
    itself was not seen: the moment is unknown and ``target`` is "".  BRIDGE: the handover
    event was not seen, but the bridge of the taker with the caller (FreeSWITCH) was.
    """

    target: str
    how: JoinHow


@dataclass(frozen=True, slots=True)
class Parked(ChannelEvent):
    """``channel`` (the caller) was put in a parking lot: whoever had it is done with it (R-LEG-4)."""

    lot: str | None = None


@dataclass(frozen=True, slots=True)
class SpyStarted(ChannelEvent):
    """``channel`` (the supervisor) starts listening to ``spyee``."""

    spyee: str
    mode: SpyMode
    spyee_extension: str | None = None  # the spied employee (the spyee's channel is another call)


@dataclass(frozen=True, slots=True)
class AmdDetected(ChannelEvent):
    """Answering-machine detection on ``channel`` concluded (Asterisk AMD(), FreeSWITCH avmd)."""

    result: AmdResult


@dataclass(frozen=True, slots=True)
class OriginateResult(EventBase):
    """Outcome of an asynchronous originate request, correlated by ``request_id``.

    ``reason`` is the PBX's own text (AMI Reason code, ESL -ERR text), kept for the log and the
    attempt's note only: decisions read ``outcome``.
    """

    request_id: str
    channel: str | None
    outcome: OriginateOutcome
    reason: str = ""

    @property
    def success(self) -> bool:
        return self.outcome is OriginateOutcome.ANSWERED


@dataclass(frozen=True, slots=True)
class AgentStatus(EventBase):
    """Queue membership / pause state of an agent as the PBX reports it."""

    extension: str
    queue: str | None
    action: str  # "login" | "logout" | "pause" | "unpause"
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class ChannelSnapshotItem:
    channel: str
    call: str
    name: str
    party: PartyKind
    extension: str | None
    caller_num: str | None
    caller_name: str | None
    exten: str | None
    up: bool
    started_ts: float | None = None  # when the PBX created it, if known
    bridged_with: str | None = None


@dataclass(frozen=True, slots=True)
class ChannelsSnapshot(EventBase):
    """The PBX's list of live channels (CoreShowChannels / show channels), R-PBX-5.

    ``complete`` is False when the listing was cut short; reconciliation then
    closes nothing.
    """

    channels: tuple[ChannelSnapshotItem, ...] = field(default_factory=tuple)
    complete: bool = True


@dataclass(frozen=True, slots=True)
class ConnectionLost(EventBase):
    """The daemon lost its PBX connection (or a capture file ended)."""


@dataclass(frozen=True, slots=True)
class Connected(EventBase):
    """A (re)connection was established; a ChannelsSnapshot follows."""

    pbx_version: str | None = None


# The events a channel carries, then the connection-level ones: every kind there is.
ChannelPbxEvent: TypeAlias = (
    ChannelCreated
    | CallerIdChanged
    | ChannelRinging
    | ChannelAnswered
    | HangupRequested
    | ChannelHangup
    | DialBegin
    | DialEnd
    | BridgeEnter
    | BridgeLeave
    | LocalPair
    | AppStarted
    | VariableSet
    | Dtmf
    | Hold
    | UserEvent
    | AmdDetected
    | QueueJoin
    | QueueLeave
    | QueueAgentCalled
    | QueueAgentConnect
    | QueueAgentNoAnswer
    | QueueAbandon
    | Transfer
    | ChannelJoinsCall
    | Parked
    | SpyStarted
)
PbxEvent: TypeAlias = (
    ChannelPbxEvent | OriginateResult | AgentStatus | ChannelsSnapshot | ConnectionLost | Connected
)
