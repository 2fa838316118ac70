"""FreeSWITCH ESL events -> the normalized PBX event model (SPEC R-PBX-3, R-LEG-1..4).

Pure and synchronous: a flat ``dict[str, str]`` of event headers in (plain and
JSON look the same after :mod:`ccagent.pbx.esl.parser`), a list of
:mod:`ccagent.core.pbx_events` out.  No I/O, no clock: every ``ts`` is the
event's own ``Event-Date-Timestamp``.

The translator is stateful only for identity: FreeSWITCH has no Linkedid, so
each channel is mapped to its call's root Unique-ID as channels appear, through
``Other-Leg-Unique-ID`` (bridge/originate B-legs, att_xfer consultations) and
``variable_cc_member_session_uuid`` (mod_callcenter agent legs).  It never uses
``Channel-Call-UUID``: that one changes after ``uuid_bridge``.

Transfers are inferred, because FreeSWITCH fires no transfer event:
blind = a new ``bl_xfer`` entry in ``variable_transfer_history`` on a channel
that was bridged before (the dialer's own originate-into-context also writes a
``bl_xfer`` entry, but that channel never had a partner); attended = after
``att_xfer`` on a transferor, a CHANNEL_BRIDGE pairing the consulted channel
with the transferor's former partner (``att_xfer_result=success`` is also set
when the consultation was abandoned, so it is not trusted).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from ccagent.core.outcomes import AmdResult, OriginateOutcome, dial_status_of_cause
from ccagent.core.pbx_events import (
    AgentStatus,
    AmdDetected,
    AppStarted,
    BridgeEnter,
    BridgeLeave,
    ChannelAnswered,
    ChannelCreated,
    ChannelHangup,
    ChannelJoinsCall,
    ChannelRinging,
    ChannelSnapshotItem,
    ChannelsSnapshot,
    ConnectionLost,
    DialBegin,
    DialEnd,
    DialStatus,
    Dtmf,
    HangupRequested,
    Hold,
    JoinHow,
    LocalPair,
    OriginateResult,
    Parked,
    PartyKind,
    PbxEvent,
    QueueAbandon,
    QueueAgentCalled,
    QueueAgentConnect,
    QueueAgentNoAnswer,
    QueueJoin,
    QueueLeave,
    SpyMode,
    SpyStarted,
    Transfer,
    TransferKind,
    UserEvent,
    VariableSet,
)
from ccagent.pbx.esl.snapshot import SNAPSHOT_MARKER, snapshot_message
from ccagent.pbx.values import epoch_seconds, hangup_cause

__all__ = [
    "HANGUP_CAUSES",
    "SNAPSHOT_MARKER",
    "FsTranslator",
    "cause_code",
    "snapshot_from_show_channels",
    "snapshot_message",
]


# Q.850 codes of FreeSWITCH's Hangup-Cause names (switch_types.h, switch_channel.c CAUSE_CHART).
HANGUP_CAUSES: dict[str, int] = {
    "UNSPECIFIED": 0,
    "UNALLOCATED_NUMBER": 1,
    "NO_ROUTE_TRANSIT_NET": 2,
    "NO_ROUTE_DESTINATION": 3,
    "CHANNEL_UNACCEPTABLE": 6,
    "CALL_AWARDED_DELIVERED": 7,
    "NORMAL_CLEARING": 16,
    "USER_BUSY": 17,
    "NO_USER_RESPONSE": 18,
    "NO_ANSWER": 19,
    "SUBSCRIBER_ABSENT": 20,
    "CALL_REJECTED": 21,
    "NUMBER_CHANGED": 22,
    "REDIRECTION_TO_NEW_DESTINATION": 23,
    "EXCHANGE_ROUTING_ERROR": 25,
    "DESTINATION_OUT_OF_ORDER": 27,
    "INVALID_NUMBER_FORMAT": 28,
    "FACILITY_REJECTED": 29,
    "RESPONSE_TO_STATUS_ENQUIRY": 30,
    "NORMAL_UNSPECIFIED": 31,
    "NORMAL_CIRCUIT_CONGESTION": 34,
    "NETWORK_OUT_OF_ORDER": 38,
    "NORMAL_TEMPORARY_FAILURE": 41,
    "SWITCH_CONGESTION": 42,
    "ACCESS_INFO_DISCARDED": 43,
    "REQUESTED_CHAN_UNAVAIL": 44,
    "PRE_EMPTED": 45,
    "FACILITY_NOT_SUBSCRIBED": 50,
    "OUTGOING_CALL_BARRED": 52,
    "INCOMING_CALL_BARRED": 54,
    "BEARERCAPABILITY_NOTAUTH": 57,
    "BEARERCAPABILITY_NOTAVAIL": 58,
    "SERVICE_UNAVAILABLE": 63,
    "BEARERCAPABILITY_NOTIMPL": 65,
    "CHAN_NOT_IMPLEMENTED": 66,
    "FACILITY_NOT_IMPLEMENTED": 69,
    "SERVICE_NOT_IMPLEMENTED": 79,
    "INVALID_CALL_REFERENCE": 81,
    "INCOMPATIBLE_DESTINATION": 88,
    "INVALID_MSG_UNSPECIFIED": 95,
    "MANDATORY_IE_MISSING": 96,
    "MESSAGE_TYPE_NONEXIST": 97,
    "WRONG_MESSAGE": 98,
    "IE_NONEXIST": 99,
    "INVALID_IE_CONTENTS": 100,
    "WRONG_CALL_STATE": 101,
    "RECOVERY_ON_TIMER_EXPIRE": 102,
    "MANDATORY_IE_LENGTH_ERROR": 103,
    "PROTOCOL_ERROR": 111,
    "INTERWORKING": 127,
    "ORIGINATOR_CANCEL": 487,
    "CRASH": 700,
    "SYSTEM_SHUTDOWN": 701,
    "LOSE_RACE": 502,
    "MANAGER_REQUEST": 503,
    "BLIND_TRANSFER": 600,
    "ATTENDED_TRANSFER": 601,
    "ALLOTTED_TIMEOUT": 602,
    "USER_CHALLENGE": 603,
    "MEDIA_TIMEOUT": 604,
    "PICKED_OFF": 605,
    "USER_NOT_REGISTERED": 606,
    "PROGRESS_TIMEOUT": 607,
    "GATEWAY_DOWN": 609,
}


# -ERR text of a failed ``bgapi originate`` (a FreeSWITCH cause name) -> neutral outcome.
_ORIGINATE_FAILURE: dict[str, OriginateOutcome] = {
    "USER_BUSY": OriginateOutcome.BUSY,
    "NO_ANSWER": OriginateOutcome.NO_ANSWER,
    "NO_USER_RESPONSE": OriginateOutcome.NO_ANSWER,
    "ORIGINATOR_CANCEL": OriginateOutcome.NO_ANSWER,
}

# avmd CUSTOM subclasses -> what the detector concluded (Beep-Status: DETECTED / NOTDETECTED).
_AVMD_RESULT: dict[str, Callable[[Mapping[str, str]], AmdResult]] = {
    "avmd::beep": lambda e: AmdResult.MACHINE,
    "avmd::stop": lambda e: {"DETECTED": AmdResult.MACHINE, "NOTDETECTED": AmdResult.HUMAN}.get(
        e.get("Beep-Status", ""), AmdResult.NOT_SURE
    ),
}

# CC-Agent-Status values of mod_callcenter -> AgentStatus.action
_AGENT_STATUS: dict[str, str] = {
    "Available": "unpause",
    "Available (On Demand)": "unpause",
    "On Break": "pause",
    "Logged Out": "logout",
}

_JSON_EVENT_NAME = re.compile(rb'"Event-Name"\s*:\s*"([^"]*)"')

_STANDARD_PREFIXES = (
    "Event-",
    "Core-UUID",
    "FreeSWITCH-",
    "Channel-",
    "Caller-",
    "Other-",
    "Unique-ID",
    "Call-Direction",
    "Presence-",
    "Answer-State",
    "Hangup-Cause",
    "variable_",
    "Bridge-",
    "Application",
    "Session-",
)


def cause_code(name: str | None) -> int:
    """Q.850 number of a FreeSWITCH Hangup-Cause name (0 when unknown or missing)."""
    if not name:
        return 0
    if name.isdigit():
        return hangup_cause(int(name))
    return HANGUP_CAUSES.get(name, 0)


def _ts(e: Mapping[str, str]) -> float | None:
    """The event's PBX time in epoch seconds; None when missing or not a time the store can hold."""
    raw = e.get("Event-Date-Timestamp", "")
    try:
        return epoch_seconds(int(raw) / 1_000_000)
    except (ValueError, OverflowError):
        return None


def _short_queue(name: str | None) -> str | None:
    """``support@default`` -> ``support`` (the report's queue name has no callcenter domain)."""
    if not name:
        return None
    return name.split("@", 1)[0]


def _agent_ext(name: str | None) -> str | None:
    """``1003@default`` / ``user/1003@127.0.0.1`` -> ``1003``."""
    if not name:
        return None
    name = name.rsplit("/", 1)[-1]
    return name.split("@", 1)[0] or None


@dataclass(slots=True)
class _Chan:
    call: str
    name: str
    party: PartyKind
    extension: str | None
    parent: str | None = None  # the A-leg that dialled this channel ("" for an originate)
    dial_open: bool = False
    rang: bool = False
    answered: bool = False
    hangup_req: bool = False
    done: bool = False
    partner: str | None = None  # current / last bridge partner
    bridges: set[str] = field(default_factory=set)
    xfer_seen: int = 0  # number of bl_xfer entries already handled
    vars_seen: dict[str, str] = field(default_factory=dict)
    done_ts: float = 0.0  # PBX time of CHANNEL_HANGUP_COMPLETE (forget_finished ages on it)
    att_xfer_from: str | None = None  # consult channel: the transferor that ran att_xfer
    result_reported: bool = False  # a ccagent::result CUSTOM event was seen for this channel
    created: float = 0.0  # PBX time of its creation (which of two bridged calls is newer)


class FsTranslator:
    """Stateful (ids only) translator of raw ESL event headers into normalized PBX events."""

    def __init__(
        self,
        project_variable: str = "CCAGENT_PROJECT",
        extension_pattern: str = r"\d{2,5}",
        *,
        external_profiles: tuple[str, ...] = ("external",),
        result_variables: tuple[str, ...] = ("ai_result", "robot_result", "ai_digit"),
        recording_variable: str = "MIXMONITOR_FILENAME",
        agents: Mapping[str, str] | None = None,
    ) -> None:
        self.project_variable = project_variable
        # mod_callcenter agent name -> extension, for agents not named ``ext@domain`` (FusionPBX
        # names them by UUID): ``pbx.freeswitch.agents`` (issue 13)
        self._agents = dict(agents or {})
        self.recording_variable = recording_variable
        self._ext_re = re.compile(extension_pattern)
        self._external_profiles = frozenset(external_profiles)
        self._watch_vars = (project_variable, *result_variables)
        self._chans: dict[str, _Chan] = {}
        self._att_xfer: dict[str, str] = {}  # transferor channel -> its partner (customer) at att_xfer time
        self._consults: dict[str, str] = {}  # consult channel -> transferor
        self._member_queue: dict[str, str] = {}  # member session -> queue
        self._agent_calls: dict[
            str, tuple[str, str, str | None, float]
        ] = {}  # agent uuid -> member, q, ext, t
        self.unknown_events = 0
        self.last_ts = 0.0  # newest PBX event time seen: the pipeline stamps ConnectionLost with it
        self._dispatch: dict[str, Callable[[dict[str, str], float], list[PbxEvent]]] = {
            "CHANNEL_CREATE": self._on_create,
            "CHANNEL_OUTGOING": self._on_seen,
            "CHANNEL_ORIGINATE": self._on_seen,
            "CHANNEL_PROGRESS": self._on_progress,
            "CHANNEL_PROGRESS_MEDIA": self._on_progress,
            "CHANNEL_ANSWER": self._on_answer,
            "CHANNEL_BRIDGE": self._on_bridge,
            "CHANNEL_UNBRIDGE": self._on_unbridge,
            "CHANNEL_HANGUP": self._on_hangup,
            "CHANNEL_HANGUP_COMPLETE": self._on_hangup_complete,
            "CHANNEL_EXECUTE": self._on_execute,
            "CHANNEL_HOLD": self._on_hold,
            "CHANNEL_UNHOLD": self._on_hold,
            "CUSTOM": self._on_custom,
            "BACKGROUND_JOB": self._on_background_job,
            "DTMF": self._on_dtmf,
        }
        # HEARTBEAT and CHANNEL_DESTROY are kept though nothing translates them: they move
        # ``last_ts`` (the PBX time a lost connection and a capture's end are stamped with).
        self._wanted = frozenset(name.encode() for name in self._dispatch) | {
            b"HEARTBEAT",
            b"CHANNEL_DESTROY",
        }

    def _agent_ext(self, name: str | None) -> str | None:
        """The configured mapping first, else the name's own extension (``1003@default``)."""
        return self._agents.get(name or "") or _agent_ext(name)

    # -- public API ----------------------------------------------------------------------------------

    def wants(self, body: bytes) -> bool:
        """Pre-filter for ``EslParser(keep=...)``: would :meth:`translate` use this raw event body?

        Most of an ESL stream is CHANNEL_STATE, CHANNEL_CALLSTATE, CODEC, PRESENCE_IN,
        EXECUTE_COMPLETE...; decoding their ~120 URL-encoded headers is the bulk of the cost.
        HEARTBEAT is kept: it moves ``last_ts`` (the PBX time a lost connection is stamped with).
        """
        i = body.find(b"Event-Name: ")
        if i >= 0:
            i += 12
            j = body.find(b"\n", i)
            name = body[i:j] if j >= 0 else body[i:]
        else:  # event-json
            m = _JSON_EVENT_NAME.search(body)
            if m is None:
                return True  # cannot tell: let the full decoder judge
            name = m.group(1)
        return name in self._wanted

    def translate(self, headers: Mapping[str, str], now: float | None = None) -> list[PbxEvent]:
        """Normalized events for one raw ESL event; never raises on malformed input (R-SAFE-1).

        ``now`` only stamps a :func:`snapshot_message` when no PBX event was seen yet: everything else
        carries the PBX's own ``Event-Date-Timestamp`` (durations come from the PBX, R-LEG-4).
        """
        try:
            if headers.get(SNAPSHOT_MARKER) == "snapshot":
                ts = self.last_ts or (now if now is not None else 0.0)
                return [self.snapshot(str(headers.get("_body", "")), ts)]
            ts_or_none = _ts(headers)
            if ts_or_none is None:  # no usable timestamp: the newest PBX time we know
                ts = self.last_ts or (now if now is not None else 0.0)
            else:
                ts = ts_or_none
                if ts > self.last_ts:
                    self.last_ts = ts
            handler = self._dispatch.get(headers.get("Event-Name", ""))
            if handler is None:
                return []
            return handler(headers, ts)  # type: ignore[arg-type]
        except (KeyError, ValueError, TypeError, IndexError, AttributeError):
            self.unknown_events += 1
            return []

    def restore(self, events: Iterable[PbxEvent]) -> None:
        """Rebuild the channel map of calls in progress from a restarted daemon's journal (R-SAFE-2).

        ESL events name a channel, not its call: which call a channel belongs to, who dialled
        it, whether it answered, what it is bridged with, all live only here.  The tracker is
        restored from the journal; without this the agent leg created after a restart became a
        call of its own, and the bridge between a known and an unknown channel was dropped.
        The journal holds the normalized events this translator produced, so replaying them in
        time order gives back the same state.
        """
        for e in sorted(events, key=lambda x: x.ts):
            self.last_ts = max(self.last_ts, e.ts)
            if isinstance(e, ChannelCreated):
                self._chans.setdefault(
                    e.channel,
                    _Chan(call=e.call, name=e.name, party=e.party, extension=e.extension, created=e.ts),
                )
                continue
            chan = self._chans.get(getattr(e, "channel", ""))
            match e:
                case DialBegin():
                    dest = self._chans.get(e.dest)
                    if dest is not None:
                        dest.dial_open = True
                        dest.parent = e.channel or None
                        if e.channel in self._att_xfer:
                            dest.att_xfer_from = e.channel
                            self._consults[e.dest] = e.channel
                case DialEnd():
                    dest = self._chans.get(e.dest)
                    if dest is not None:
                        dest.dial_open = False
                case QueueJoin():
                    self._member_queue[e.channel] = e.queue
                case QueueAgentCalled():
                    self._agent_calls[e.member] = (e.channel, e.queue, e.extension, e.ts)
                case Transfer(kind=TransferKind.ATTENDED):
                    self._att_xfer.pop(e.transferer, None)
                    if e.target_channel is not None:
                        self._consults.pop(e.target_channel, None)
            if chan is None:
                continue
            match e:
                case ChannelRinging():
                    chan.rang = True
                case ChannelAnswered():
                    chan.answered = True
                case HangupRequested():
                    chan.hangup_req = True
                case ChannelHangup():
                    chan.done = True
                    chan.done_ts = e.ts
                case BridgeEnter():
                    chan.bridges.add(e.bridge)
                    a, _, b = e.bridge.partition("/")
                    chan.partner = b if a == e.channel else a
                case BridgeLeave():
                    chan.bridges.discard(e.bridge)
                case VariableSet():
                    chan.vars_seen[e.name] = e.value
                case Transfer(kind=TransferKind.BLIND):
                    chan.xfer_seen += 1
                case AppStarted(app="att_xfer") if chan.partner is not None:
                    self._att_xfer[e.channel] = chan.partner
                case UserEvent(name="CcagentResult"):
                    chan.result_reported = True
                case ChannelJoinsCall():
                    chan.call = e.call  # a picker / retriever took another call

    def connection_lost(self, ts: float) -> list[PbxEvent]:
        """End of a connection / capture file: the engine reconciles on the next snapshot."""
        return [ConnectionLost(ts=ts)]

    def call_of(self, uuid: str) -> str | None:
        chan = self._chans.get(uuid)
        return chan.call if chan else None

    def snapshot(self, show_channels_json: str, ts: float) -> ChannelsSnapshot:
        """``api show channels as json`` reply -> ChannelsSnapshot, linking channels to known calls."""
        snap = snapshot_from_show_channels(show_channels_json, ts, self._classify, self.call_of)
        if snap.complete:
            # channels that ended while the connection was down never send their hangup: they
            # end now (the tracker closes their calls from the same listing), so that
            # forget_finished drops them instead of keeping them for the life of the process
            listed = {item.channel for item in snap.channels}
            for uuid, chan in self._chans.items():
                if not chan.done and uuid not in listed:
                    chan.done = True
                    chan.done_ts = ts
        return snap

    def forget_finished(self, before_ts: float | None = None) -> int:
        """Drop the state of channels that are fully gone (keeps memory flat on a long-running daemon).

        ``before_ts`` keeps channels that ended at or after that PBX time: late callcenter events
        still name a channel for a moment after its hangup.  Returns how many were dropped.
        """
        gone = [u for u, c in self._chans.items() if c.done and (before_ts is None or c.done_ts < before_ts)]
        for uuid in gone:
            del self._chans[uuid]
            self._att_xfer.pop(uuid, None)
            self._consults.pop(uuid, None)
            self._member_queue.pop(uuid, None)
            self._agent_calls.pop(uuid, None)
        return len(gone)

    # -- classification -------------------------------------------------------------------------------

    def _classify(self, name: str) -> tuple[PartyKind, str | None]:
        """Party and employee extension from a channel name like ``sofia/internal/1001@127.0.0.1:5071``."""
        parts = name.split("/")
        tech = parts[0] if parts else ""
        if tech == "loopback":
            return PartyKind.LOCAL, None
        if tech != "sofia" or len(parts) < 3:
            return PartyKind.OTHER, None
        profile = parts[1]
        if profile == "gateway" or profile in self._external_profiles:
            return PartyKind.EXTERNAL, None
        user = parts[-1].split("@", 1)[0]
        if self._ext_re.fullmatch(user):
            return PartyKind.EXTENSION, user
        return PartyKind.EXTERNAL, None

    # -- channel lifecycle ----------------------------------------------------------------------------

    def _ensure(self, e: dict[str, str], ts: float) -> tuple[_Chan | None, list[PbxEvent]]:
        """The channel's state, creating it (with its ChannelCreated) if CHANNEL_CREATE was missed."""
        uuid = e.get("Unique-ID", "")
        if not uuid:
            return None, []
        chan = self._chans.get(uuid)
        if chan is not None:
            return chan, []
        out = self._create(e, ts)
        return self._chans.get(uuid), out

    def _on_create(self, e: dict[str, str], ts: float) -> list[PbxEvent]:
        uuid = e.get("Unique-ID", "")
        if not uuid or uuid in self._chans:
            return []
        return self._create(e, ts)

    def _create(self, e: dict[str, str], ts: float) -> list[PbxEvent]:
        uuid = e["Unique-ID"]
        name = e.get("Channel-Name", "")
        party, ext = self._classify(name)
        other = e.get("Other-Leg-Unique-ID") or ""
        member = e.get("variable_cc_member_session_uuid") or ""
        parent: str | None = None
        if other and other in self._chans:
            call = self._chans[other].call
            parent = other
        elif member and member in self._chans:
            call = self._chans[member].call
            parent = member
        elif (loop_a := self._loopback_a_leg(e)) is not None:
            call = self._chans[loop_a].call
        else:
            call = uuid
        outbound = e.get("Call-Direction") == "outbound"
        dest = e.get("Caller-Destination-Number") or ""
        originated = parent is None and outbound
        chan = _Chan(call=call, name=name, party=party, extension=ext, parent=parent, created=ts)
        self._chans[uuid] = chan
        out: list[PbxEvent] = [
            ChannelCreated(
                ts=ts,
                channel=uuid,
                call=call,
                name=name,
                party=party,
                extension=ext,
                caller_num=e.get("Caller-Caller-ID-Number") or None,
                caller_name=e.get("Caller-Caller-ID-Name") or None,
                exten=e.get("Caller-Destination-Number") or None,
                context=e.get("Caller-Context") or None,
                originated=originated,
            )
        ]
        if (loop_a := self._loopback_a_leg(e)) is not None:
            out.append(LocalPair(ts=ts, channel=loop_a, call=call, other=uuid))
        if parent is not None:
            chan.dial_open = True
            if parent == member and other != member:
                queue = _short_queue(e.get("variable_cc_queue")) or self._member_queue.get(member, "")
                agent_ext = ext or self._agent_ext(e.get("variable_cc_agent"))
                self._agent_calls[uuid] = (member, queue, agent_ext, ts)
                out.append(
                    QueueAgentCalled(
                        ts=ts, channel=member, call=call, queue=queue, member=uuid, extension=agent_ext
                    )
                )
            if parent in self._att_xfer:
                chan.att_xfer_from = parent
                self._consults[uuid] = parent
            out.append(
                DialBegin(ts=ts, channel=parent, call=call, dest=uuid, dial_string=dest or name or None)
            )
        elif originated:
            chan.dial_open = True
            out.append(DialBegin(ts=ts, channel="", call=call, dest=uuid, dial_string=dest or name or None))
        out += self._vars(e, ts, chan, uuid)
        return out

    def _loopback_a_leg(self, e: dict[str, str]) -> str | None:
        """The known ``loopback/...-a`` half of a ``loopback/...-b`` channel being created, if any.

        A loopback B leg (FusionPBX dials a ring-group member that is not a directory user, or a
        nested group, through ``loopback/``) starts with its own call UUID and no Other-Leg: only
        ``variable_other_loopback_leg_uuid`` ties it to its A half, which the customer dialled.
        Put in the A half's call and paired with it (LocalPair), the phone the B half rings is
        the customer's agent, and the pair's mid-call exit ends nothing (R-LEG-4).
        """
        if e.get("variable_loopback_leg") != "B":
            return None
        peer = e.get("variable_other_loopback_leg_uuid") or ""
        return peer if peer in self._chans and peer != e.get("Unique-ID") else None

    def _on_seen(self, e: dict[str, str], ts: float) -> list[PbxEvent]:
        # CHANNEL_OUTGOING can precede CHANNEL_CREATE and lacks the cc_* variables: never create from it
        return []

    def _on_progress(self, e: dict[str, str], ts: float) -> list[PbxEvent]:
        chan, out = self._ensure(e, ts)
        if chan is None or chan.rang or chan.answered:
            return out
        chan.rang = True
        out.append(ChannelRinging(ts=ts, channel=e["Unique-ID"], call=chan.call))
        return out

    def _on_answer(self, e: dict[str, str], ts: float) -> list[PbxEvent]:
        chan, out = self._ensure(e, ts)
        if chan is None or chan.answered:
            return out
        uuid = e["Unique-ID"]
        chan.answered = True
        out.append(ChannelAnswered(ts=ts, channel=uuid, call=chan.call))
        if chan.dial_open:
            chan.dial_open = False
            out.append(
                DialEnd(ts=ts, channel=chan.parent or "", call=chan.call, dest=uuid, status=DialStatus.ANSWER)
            )
        return out

    def _on_hangup(self, e: dict[str, str], ts: float) -> list[PbxEvent]:
        chan, out = self._ensure(e, ts)
        if chan is None:
            return out
        out += self._xfer_check(e, ts, chan)
        if chan.hangup_req:
            return out
        uuid = e["Unique-ID"]
        chan.hangup_req = True
        cause = cause_code(e.get("Hangup-Cause"))
        if chan.dial_open:
            chan.dial_open = False
            status = dial_status_of_cause(cause)
            out.append(DialEnd(ts=ts, channel=chan.parent or "", call=chan.call, dest=uuid, status=status))
        agent = self._agent_calls.get(uuid)
        if agent is not None and not chan.answered:
            member, queue, ext, t0 = agent
            out.append(
                QueueAgentNoAnswer(
                    ts=ts,
                    channel=member,
                    call=chan.call,
                    queue=queue,
                    member=uuid,
                    extension=ext,
                    ring_s=round(ts - t0, 6),
                )
            )
        by_api = (
            e.get("variable_sip_hangup_disposition") is None and e.get("Hangup-Cause") == "MANAGER_REQUEST"
        )
        out.append(HangupRequested(ts=ts, channel=uuid, call=chan.call, cause=cause, by_ami=by_api))
        return out

    def _on_hangup_complete(self, e: dict[str, str], ts: float) -> list[PbxEvent]:
        chan, out = self._ensure(e, ts)
        if chan is None or chan.done:
            return out
        if not chan.hangup_req:
            out += self._on_hangup(e, ts)
        uuid = e["Unique-ID"]
        out += self._vars(e, ts, chan, uuid)
        ai_result = e.get("variable_ai_result")
        if ai_result and not chan.result_reported:
            # the customer hung up before the dialplan could fire ccagent::result: the preset variable says it
            fields = (("Result", ai_result), ("Digit", e.get("variable_ai_digit", "")))
            out.append(UserEvent(ts=ts, channel=uuid, call=chan.call, name="CcagentResult", fields=fields))
        for bridge in sorted(chan.bridges):
            out.append(BridgeLeave(ts=ts, channel=uuid, call=chan.call, bridge=bridge))
        chan.bridges.clear()
        chan.done = True
        chan.done_ts = ts
        cause_text = e.get("Hangup-Cause", "")
        out.append(
            ChannelHangup(
                ts=ts, channel=uuid, call=chan.call, cause=cause_code(cause_text), cause_text=cause_text
            )
        )
        return out

    # -- bridges and transfers ------------------------------------------------------------------------

    def _on_bridge(self, e: dict[str, str], ts: float) -> list[PbxEvent]:
        a = e.get("Bridge-A-Unique-ID") or e.get("Unique-ID", "")
        b = e.get("Bridge-B-Unique-ID") or e.get("Other-Leg-Unique-ID", "")
        _chan, out = self._ensure(e, ts)
        ca, cb = self._chans.get(a), self._chans.get(b)
        if ca is None or cb is None or a == b:
            return out
        bridge = f"{a}/{b}"
        out += self._bridged_across_calls(ts, a, ca, b, cb)
        # attended transfer completed: the consulted channel is bridged with the transferor's old partner
        for consult, other in ((a, b), (b, a)):
            transferor = self._consults.get(consult)
            if transferor is None:
                continue
            customer = self._att_xfer.get(transferor)
            if customer == other:
                out.append(
                    Transfer(
                        ts=ts,
                        channel=customer,
                        call=self._chans[customer].call,
                        kind=TransferKind.ATTENDED,
                        transferer=transferor,
                        target_exten=self._chans[consult].extension,
                        target_channel=consult,
                    )
                )
                self._att_xfer.pop(transferor, None)
                self._consults.pop(consult, None)
        for uuid, chan, partner in ((a, ca, b), (b, cb, a)):
            if bridge in chan.bridges:
                continue
            chan.bridges.add(bridge)
            chan.partner = partner
            out.append(BridgeEnter(ts=ts, channel=uuid, call=chan.call, bridge=bridge))
        # an att_xfer consult abandoned: the transferor is re-bridged with its customer
        for x, y in ((a, b), (b, a)):
            if self._att_xfer.get(x) == y:
                self._att_xfer.pop(x, None)
                for c in [c for c, t in self._consults.items() if t == x]:
                    self._consults.pop(c, None)
        return out

    def _bridged_across_calls(self, ts: float, a: str, ca: _Chan, b: str, cb: _Chan) -> list[PbxEvent]:
        """A bridge between two calls: the newer channel, if it started its own call, joins the other.

        The intercept or valet ``bridge`` event says so first; when it was lost (a reconnect gap),
        the bridge of the picker / retriever with the caller still tells, so the call is not split
        into a missed call and a phantom one (R-LEG-4, R-PBX-5).
        """
        if ca.call == cb.call:
            return []
        newer, nchan, older = (a, ca, b) if ca.created > cb.created else (b, cb, a)
        if nchan.call != newer:
            return []
        return self._joins(ts, newer, nchan, older, JoinHow.BRIDGE)

    def _on_unbridge(self, e: dict[str, str], ts: float) -> list[PbxEvent]:
        a = e.get("Bridge-A-Unique-ID") or e.get("Unique-ID", "")
        b = e.get("Bridge-B-Unique-ID") or e.get("Other-Leg-Unique-ID", "")
        chan, out = self._ensure(e, ts)
        bridge = f"{a}/{b}"
        for uuid in (a, b):
            c = self._chans.get(uuid)
            if c is not None and bridge in c.bridges:
                c.bridges.discard(bridge)
                out.append(BridgeLeave(ts=ts, channel=uuid, call=c.call, bridge=bridge))
        if chan is not None:
            out += self._xfer_check(e, ts, chan)
        return out

    def _xfer_check(self, e: dict[str, str], ts: float, chan: _Chan) -> list[PbxEvent]:
        """A new ``bl_xfer`` entry on a channel that had a bridge partner: a blind transfer."""
        hist = e.get("variable_transfer_history")
        if not hist or "bl_xfer" not in hist:
            return []
        entries = [h for h in hist.replace("|:", "\n").replace("ARRAY::", "").split("\n") if ":bl_xfer:" in h]
        if len(entries) <= chan.xfer_seen:
            return []
        new = entries[chan.xfer_seen :]
        chan.xfer_seen = len(entries)
        if chan.partner is None:
            return []  # the originate's own transfer into its dialplan context
        out: list[PbxEvent] = []
        for entry in new:
            target = entry.split(":bl_xfer:", 1)[1].split("/", 1)[0]
            out.append(
                Transfer(
                    ts=ts,
                    channel=e["Unique-ID"],
                    call=chan.call,
                    kind=TransferKind.BLIND,
                    transferer=chan.partner,
                    target_exten=target or None,
                )
            )
        return out

    def _on_execute(self, e: dict[str, str], ts: float) -> list[PbxEvent]:
        chan, out = self._ensure(e, ts)
        if chan is None:
            return out
        uuid = e["Unique-ID"]
        out += self._xfer_check(e, ts, chan)
        app = e.get("Application", "")
        data = e.get("Application-Data", "")
        if app in ("set", "export", "set_profile_var", "multiset"):
            return out + self._vars(e, ts, chan, uuid)
        out.append(
            AppStarted(
                ts=ts,
                channel=uuid,
                call=chan.call,
                app=app,
                data=data,
                context=e.get("Caller-Context") or None,
                exten=e.get("Caller-Destination-Number") or None,
            )
        )
        if app == "eavesdrop":
            a = e.get("variable_eavesdrop_whisper_aleg") == "true"
            b = e.get("variable_eavesdrop_whisper_bleg") == "true"
            mode = SpyMode.BARGE if a and b else SpyMode.WHISPER if (a or b) else SpyMode.LISTEN
            out.append(self._spy(ts, uuid, chan, data.strip(), mode))
        elif app == "three_way":
            out.append(self._spy(ts, uuid, chan, data.strip(), SpyMode.BARGE))
        elif app == "att_xfer" and chan.partner is not None:
            self._att_xfer[uuid] = chan.partner
        elif app == "intercept":
            out += self._intercept(ts, uuid, chan, data)
        elif app == "record_session" and data.strip():
            # the leg's recording reference (R-LEG-1): record_session's argument is the file path
            path = data.strip().split()[0]
            out.append(
                VariableSet(ts=ts, channel=uuid, call=chan.call, name=self.recording_variable, value=path)
            )
        return out

    def _intercept(self, ts: float, uuid: str, chan: _Chan, data: str) -> list[PbxEvent]:
        """``intercept [-bleg] <uuid>`` on the picker's channel: it takes that call (R-LEG-4 pickup).

        FusionPBX's ``**101`` / group intercept (and a bare dialplan ``intercept``) run it on the
        picker's own, answered, call; FreeSWITCH then answers the caller, hangs up the ringing
        phone (PICKED_OFF) and bridges the caller with the picker.
        """
        target = data.split()[-1] if data.split() else ""
        return self._joins(ts, uuid, chan, target, JoinHow.PICKUP)

    def _joins(self, ts: float, uuid: str, chan: _Chan, target: str, how: JoinHow) -> list[PbxEvent]:
        """``uuid`` (a picker / retriever on a call of its own) now belongs to ``target``'s call."""
        taken = self._chans.get(target)
        if taken is None or taken.call == chan.call:
            return []
        chan.call = taken.call
        return [ChannelJoinsCall(ts=ts, channel=uuid, call=taken.call, target=target, how=how)]

    def _spy(self, ts: float, uuid: str, chan: _Chan, spyee: str, mode: SpyMode) -> SpyStarted:
        target = self._chans.get(spyee)
        return SpyStarted(
            ts=ts,
            channel=uuid,
            call=chan.call,
            spyee=spyee,
            mode=mode,
            spyee_extension=target.extension if target is not None else None,
        )

    # -- variables, custom events, jobs ---------------------------------------------------------------

    def _vars(self, e: dict[str, str], ts: float, chan: _Chan, uuid: str) -> list[PbxEvent]:
        out: list[PbxEvent] = []
        for name in self._watch_vars:
            value = e.get("variable_" + name)
            if value is None or chan.vars_seen.get(name) == value:
                continue
            chan.vars_seen[name] = value
            out.append(VariableSet(ts=ts, channel=uuid, call=chan.call, name=name, value=value))
        return out

    def _on_hold(self, e: dict[str, str], ts: float) -> list[PbxEvent]:
        chan, out = self._ensure(e, ts)
        if chan is None:
            return out
        on = e.get("Event-Name") == "CHANNEL_HOLD"
        return [*out, Hold(ts=ts, channel=e["Unique-ID"], call=chan.call, on=on)]

    def _on_dtmf(self, e: dict[str, str], ts: float) -> list[PbxEvent]:
        chan, out = self._ensure(e, ts)
        if chan is None:
            return out
        return [*out, Dtmf(ts=ts, channel=e["Unique-ID"], call=chan.call, digit=e.get("DTMF-Digit", ""))]

    def _on_background_job(self, e: dict[str, str], ts: float) -> list[PbxEvent]:
        body = e.get("_body", "").strip()
        job = e.get("Job-UUID", "")
        if body.startswith("+OK"):
            uuid = body[3:].strip().split()[0] if body[3:].strip() else None
            return [OriginateResult(ts=ts, request_id=job, channel=uuid, outcome=OriginateOutcome.ANSWERED)]
        m = re.search(r"origination_uuid=([0-9a-fA-F-]{8,})", e.get("Job-Command-Arg", ""))
        reason = body[4:].strip() if body.startswith("-ERR") else body
        return [
            OriginateResult(
                ts=ts,
                request_id=job,
                channel=m.group(1) if m else None,
                outcome=_ORIGINATE_FAILURE.get(reason, OriginateOutcome.FAILED),
                reason=reason,
            )
        ]

    def _on_custom(self, e: dict[str, str], ts: float) -> list[PbxEvent]:
        sub = e.get("Event-Subclass", "")
        if sub == "callcenter::info":
            return self._on_callcenter(e, ts)
        if sub == "valet_parking::info":
            return self._on_valet(e, ts)
        uuid = e.get("Unique-ID", "")
        if not uuid:
            return []  # a switch-wide CUSTOM event (sofia::register...): no call to attach it to
        chan = self._chans.get(uuid)
        call = chan.call if chan is not None else uuid
        fields = tuple((k, v) for k, v in e.items() if not k.startswith(_STANDARD_PREFIXES) and k != "_body")
        name, mapped = _result_fields(sub, e)
        if chan is not None and name == "CcagentResult":
            chan.result_reported = True
        out: list[PbxEvent] = [UserEvent(ts=ts, channel=uuid, call=call, name=name, fields=mapped + fields)]
        amd = _AVMD_RESULT.get(sub)
        if amd is not None:
            out.append(AmdDetected(ts=ts, channel=uuid, call=call, result=amd(e)))
        if chan is not None:
            out += self._vars(e, ts, chan, uuid)
        return out

    def _on_valet(self, e: dict[str, str], ts: float) -> list[PbxEvent]:
        """mod_valet_parking: ``hold`` parks the caller, ``bridge`` hands it to its retriever.

        A park by SIP REFER to the valet extension has no transfer event of its own; the
        retriever dials the lot on a call of its own, and ``Bridge-To-UUID`` names its channel
        (R-LEG-4 park and retrieve).
        """
        uuid = e.get("Unique-ID", "")
        chan = self._chans.get(uuid)
        if chan is None:
            return []
        action = e.get("Action", "")
        if action == "hold":
            return [Parked(ts=ts, channel=uuid, call=chan.call, lot=e.get("Valet-Extension") or None)]
        retriever = e.get("Bridge-To-UUID", "")
        rchan = self._chans.get(retriever)
        if action == "bridge" and rchan is not None:
            return self._joins(ts, retriever, rchan, uuid, JoinHow.UNPARK)
        return []

    def _on_callcenter(self, e: dict[str, str], ts: float) -> list[PbxEvent]:
        action = e.get("CC-Action", "")
        queue = _short_queue(e.get("CC-Queue")) or ""
        member = e.get("CC-Member-Session-UUID", "")
        mchan = self._chans.get(member)
        call = mchan.call if mchan is not None else member
        if action == "member-queue-start":
            if not member:
                return []
            self._member_queue[member] = queue
            return [QueueJoin(ts=ts, channel=member, call=call, queue=queue)]
        if action == "bridge-agent-start":
            agent = e.get("CC-Agent-UUID", "")
            ext = self._agent_ext(e.get("CC-Agent"))
            t0 = self._agent_calls.get(agent, (member, queue, ext, ts))[3]
            return [
                QueueAgentConnect(
                    ts=ts,
                    channel=member,
                    call=call,
                    queue=queue,
                    member=agent,
                    extension=ext,
                    hold_s=self._member_hold(e, ts, t0),
                )
            ]
        if action == "member-queue-end":
            out: list[PbxEvent] = []
            if e.get("CC-Cause") == "Cancel":
                out.append(
                    QueueAbandon(
                        ts=ts, channel=member, call=call, queue=queue, hold_s=self._member_hold(e, ts, None)
                    )
                )
            out.append(QueueLeave(ts=ts, channel=member, call=call, queue=queue))
            return out
        if action == "agent-status-change":
            status = e.get("CC-Agent-Status", "")
            act = _AGENT_STATUS.get(status)
            ext = self._agent_ext(e.get("CC-Agent"))
            if act is None or ext is None:
                return []
            return [AgentStatus(ts=ts, extension=ext, queue=None, action=act, reason=status)]
        return []

    @staticmethod
    def _member_hold(e: dict[str, str], ts: float, _t0: float | None) -> float | None:
        joined = e.get("CC-Member-Joined-Time")
        if not joined or not joined.isdigit():
            return None
        return max(0.0, ts - int(joined))


def _result_fields(subclass: str, e: dict[str, str]) -> tuple[str, tuple[tuple[str, str], ...]]:
    """Dialplan result CUSTOM events -> the PBX-neutral UserEvent names/fields the leg engine reads.

    The Asterisk dialplans report ``UserEvent(CcagentResult,Digit=..,Result=..)``; the FreeSWITCH ones fire
    ``CUSTOM ccagent::result`` / ``ccagent::robot_result`` / ``avmd::*``: same meaning, so the same name.
    """
    if subclass == "ccagent::result":
        return "CcagentResult", (
            ("Digit", e.get("ccagent-digit", "")),
            ("Result", e.get("ccagent-result", "")),
        )
    if subclass == "ccagent::robot_result":
        return "CcagentRobotResult", (("Result", e.get("robot_result", e.get("ccagent-result", ""))),)
    if subclass == "avmd::stop":
        return "CcagentAmd", (("Status", e.get("Beep-Status", "")), ("Cause", "avmd"))
    if subclass == "avmd::beep":
        return "CcagentAmd", (("Status", "DETECTED"), ("Cause", "avmd::beep"))
    return subclass, ()


def snapshot_from_show_channels(
    text: str,
    ts: float,
    classify: Callable[[str], tuple[PartyKind, str | None]],
    call_of: Callable[[str], str | None],
) -> ChannelsSnapshot:
    """``show channels as json`` -> ChannelsSnapshot; unparseable replies give an incomplete snapshot."""
    try:
        obj = json.loads(text) if text.strip() else {"row_count": 0}
    except ValueError:
        return ChannelsSnapshot(ts=ts, channels=(), complete=False)
    if not isinstance(obj, dict):
        return ChannelsSnapshot(ts=ts, channels=(), complete=False)
    rows = obj.get("rows") or []
    items: list[ChannelSnapshotItem] = []
    for row in rows:
        if not isinstance(row, dict) or not row.get("uuid"):
            continue
        uuid = str(row["uuid"])
        name = str(row.get("name", ""))
        party, ext = classify(name)
        epoch = row.get("created_epoch")
        items.append(
            ChannelSnapshotItem(
                channel=uuid,
                call=call_of(uuid) or str(row.get("call_uuid") or uuid),
                name=name,
                party=party,
                extension=ext,
                caller_num=row.get("cid_num") or None,
                caller_name=row.get("cid_name") or None,
                exten=row.get("dest") or None,
                up=row.get("callstate") in ("ACTIVE", "HELD"),
                started_ts=float(epoch) if isinstance(epoch, str) and epoch.isdigit() else None,
                bridged_with=row.get("b_uuid") or None,
            )
        )
    complete = len(items) == int(obj.get("row_count", len(items)) or 0)
    return ChannelsSnapshot(ts=ts, channels=tuple(items), complete=complete)
