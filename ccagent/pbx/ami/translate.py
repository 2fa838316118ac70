"""Asterisk AMI message -> normalized PBX events (SPEC R-PBX-1, R-PBX-3).

Pure and synchronous: no sockets, no clock.  The only state kept is what the
AMI protocol itself spreads over several messages: ChanSpy options (given in
the Originate / Newexten, needed at ChanSpyStart) and the CoreShowChannel
list being collected for a reconciliation snapshot.

Dispatch is a table keyed by the ``Event`` header (STYLE lesson 5); events we
do not need (DeviceStateChange, RTCPSent, most VarSets...) cost one dict
lookup.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from ccagent.core import pbx_events as ev
from ccagent.core.outcomes import AmdResult, DialStatus, OriginateOutcome
from ccagent.core.pbx_events import PartyKind, SpyMode, TransferKind
from ccagent.pbx.values import epoch_seconds, hangup_cause

Msg = Mapping[str, str]

UNKNOWN = {"", "<unknown>", "<none>"}

# Variables worth a VariableSet event besides the configured project variable.
DEFAULT_RESULT_VARIABLES = frozenset(
    {"QUEUESTATUS", "AMDSTATUS", "AMDCAUSE", "ROBOT_RESULT", "READSTATUS", "CCAGENT_ATTEMPT"}
)

# Dialplan applications the leg engine cares about (Newexten -> AppStarted).
INTERESTING_APPS = frozenset(
    {"Queue", "ChanSpy", "ExtenSpy", "Playback", "Read", "AMD", "AGI", "BackGround", "Hangup", "Dial"}
)

_INTERESTING_APPS_B = frozenset(a.encode() for a in INTERESTING_APPS)

_DIAL_STATUS = {s.value: s for s in DialStatus}

# AMDSTATUS values of Asterisk's AMD() (HANGUP and anything else: not sure).
_AMD_RESULT = {"MACHINE": AmdResult.MACHINE, "HUMAN": AmdResult.HUMAN}

# OriginateResponse ``Reason`` (the last control frame: 1 hangup, 3 ringing, 4 answer, 5 busy,
# 8 congestion, 0 failure) -> neutral outcome.
_ORIGINATE_REASON = {
    "3": OriginateOutcome.NO_ANSWER,
    "4": OriginateOutcome.ANSWERED,
    "5": OriginateOutcome.BUSY,
}


def _field(block: bytes, key: bytes) -> bytes:
    """The raw value of header ``key`` (given with its leading newline) in an LF-joined block."""
    i = block.find(key)
    if i < 0:
        return b""
    i += len(key)
    j = block.find(b"\n", i)
    return block[i:j] if j >= 0 else block[i:]


# Headers every channel-carrying event has; a UserEvent's own fields are the rest.
_CHANNEL_HEADERS = frozenset(
    {
        "Event",
        "Privilege",
        "Timestamp",
        "Channel",
        "ChannelState",
        "ChannelStateDesc",
        "CallerIDNum",
        "CallerIDName",
        "ConnectedLineNum",
        "ConnectedLineName",
        "Language",
        "AccountCode",
        "Context",
        "Exten",
        "Priority",
        "Uniqueid",
        "Linkedid",
        "UserEvent",
        "SystemName",
    }
)


def _clean(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip()
    return None if value in UNKNOWN else value


# A CoreShowChannels answer arrives within the client's 30-s list timeout or never.
LIST_ABANDONED_AFTER_S = 120.0


def _int(value: str | None, default: int = 0) -> int:
    try:
        return int(value) if value not in (None, "") else default
    except ValueError:
        return default


def _float(value: str | None) -> float | None:
    """A finite number, or None: ``nan``/``inf`` parse as floats but no figure can use them."""
    try:
        x = float(value) if value not in (None, "") else None
    except ValueError:
        return None
    return x if x is not None and math.isfinite(x) else None


def _on_channel(m: Msg, ts: float) -> dict[str, Any]:
    """The fields every channel event shares: PBX time, the channel's Uniqueid, its call (Linkedid)."""
    uid = m["Uniqueid"]
    return {"ts": ts, "channel": uid, "call": m.get("Linkedid") or uid}


def _originate_outcome(m: Msg) -> OriginateOutcome:
    """An OriginateResponse's outcome: ``Response: Success`` is answered whatever the Reason."""
    if m.get("Response") == "Success":
        return OriginateOutcome.ANSWERED
    outcome = _ORIGINATE_REASON.get(m.get("Reason", ""), OriginateOutcome.FAILED)
    return OriginateOutcome.FAILED if outcome is OriginateOutcome.ANSWERED else outcome


def spy_mode(options: str) -> SpyMode:
    """ChanSpy options -> supervisor mode (B = barge, w = whisper, else listen)."""
    if "B" in options:
        return SpyMode.BARGE
    if "w" in options:
        return SpyMode.WHISPER
    return SpyMode.LISTEN


class AmiTranslator:
    """Turns raw AMI messages into :mod:`ccagent.core.pbx_events`.

    ``extension_pattern`` tells an employee's phone endpoint (``PJSIP/101``)
    from a trunk (``PJSIP/customers``); it is matched against the endpoint
    part of the channel name.
    """

    def __init__(
        self,
        project_variable: str = "CCAGENT_PROJECT",
        extension_pattern: str = r"^\d{2,6}$",
        result_variables: frozenset[str] = DEFAULT_RESULT_VARIABLES,
        recording_variable: str = "MIXMONITOR_FILENAME",
        member_interface: str = "PJSIP/{ext}",
    ) -> None:
        self.project_variable = project_variable
        self._ext_re = re.compile(extension_pattern)
        # the queue member interface (``pbx.asterisk.agent_interface``; FreePBX
        # ``Local/{ext}@from-queue/n``) read back to its extension (issue 13)
        head, _, tail = member_interface.partition("{ext}")
        self._member_re = re.compile(re.escape(head) + r"([^/@;,\s]+)" + re.escape(tail))
        # the recording file name MixMonitor (or the configured variable) sets: a leg's recording
        self._variables = frozenset(result_variables | {project_variable, recording_variable})
        self._variable_bytes = frozenset(v.encode() for v in self._variables)
        self._spy_options: dict[str, str] = {}  # spyer Uniqueid -> ChanSpy options
        self._snapshot_items: dict[str, list[ev.ChannelSnapshotItem]] = {}
        self._created_during_list: set[str] = set()
        self._listing = 0
        # PBX time of the first channel created while the list runs (the PBX clock of the
        # request itself is unknown: a Response carries no Timestamp)
        self._listing_since: float | None = None
        self.last_ts = 0.0
        # Uniqueid -> the Linkedid its events carry: a change means the channel joined another call
        self._linkedid: dict[str, str] = {}
        self._dispatch: dict[str, Callable[[Msg, float], list[ev.PbxEvent]]] = {
            "Newchannel": self._newchannel,
            "NewCallerid": self._newcallerid,
            "Newstate": self._newstate,
            "HangupRequest": self._hangup_request,
            "SoftHangupRequest": self._hangup_request,
            "Hangup": self._hangup,
            "DialBegin": self._dial_begin,
            "DialEnd": self._dial_end,
            "BridgeEnter": self._bridge_enter,
            "BridgeLeave": self._bridge_leave,
            "LocalBridge": self._local_bridge,
            "Newexten": self._newexten,
            "VarSet": self._varset,
            "UserEvent": self._user_event,
            "DTMFEnd": self._dtmf,
            "Hold": self._hold,
            "Unhold": self._hold,
            "QueueCallerJoin": self._queue_join,
            "QueueCallerLeave": self._queue_leave,
            "AgentCalled": self._agent_called,
            "AgentConnect": self._agent_connect,
            "AgentRingNoAnswer": self._agent_noanswer,
            "QueueCallerAbandon": self._queue_abandon,
            "BlindTransfer": self._blind_transfer,
            "AttendedTransfer": self._attended_transfer,
            "ChanSpyStart": self._chanspy_start,
            "Pickup": self._pickup,
            "ParkedCall": self._parked_call,
            "UnParkedCall": self._unparked_call,
            "OriginateResponse": self._originate_response,
            "QueueMemberAdded": self._member_added,
            "QueueMemberRemoved": self._member_removed,
            "QueueMemberPause": self._member_pause,
            "CoreShowChannel": self._core_show_channel,
            "CoreShowChannelsComplete": self._core_show_complete,
        }

    # -- public -----------------------------------------------------------
    def wants(self, block: bytes) -> bool:
        """Pre-filter for ``AmiParser(keep=...)``: would :meth:`translate` use this raw message?

        Most of an AMI stream is VarSet, DeviceStateChange, Newexten, RTCP...
        that the leg engine never reads; skipping them before decoding is the
        cheapest "event filter" there is.  Responses and anything carrying an
        ActionID are always kept (the client correlates them).
        """
        if not block.startswith(b"Event: "):
            return True
        end = block.find(b"\n")
        name = (block[7:end] if end >= 0 else block[7:]).decode("ascii", "replace")
        if name not in self._dispatch:
            return b"\nActionID: " in block
        if name == "VarSet":
            return _field(block, b"\nVariable: ") in self._variable_bytes
        if name == "Newexten":
            return _field(block, b"\nApplication: ") in _INTERESTING_APPS_B
        return True

    def translate(self, msg: Msg, now: float | None = None) -> list[ev.PbxEvent]:
        """Translate one AMI message; ``now`` stamps snapshots (list items carry no Timestamp).

        Raises ``KeyError``/``ValueError`` on a message missing what its type
        requires: the caller logs it with its ids, counts it and skips it
        (R-SAFE-1).
        """
        name = msg.get("Event")
        if name is None:
            if msg.get("EventList") == "start" and msg.get("Response") == "Success":
                # A list (CoreShowChannels) begins: channels created from now on
                # are live even if the list, taken earlier, misses them.
                self.begin_snapshot()
                self._snapshot_items.setdefault(msg.get("ActionID", ""), [])
            return []
        ts_or_none = epoch_seconds(_float(msg.get("Timestamp")))
        if ts_or_none is not None:
            ts = ts_or_none
            if ts > self.last_ts:
                self.last_ts = ts
        else:  # no timestamp, or one no clock can show (nan, year 30000): the newest we know
            ts = now if now is not None else self.last_ts
        handler = self._dispatch.get(name)
        if handler is None:
            return []
        out = handler(msg, ts)
        if not out:  # only what the translator uses: the pre-filter must not change the outcome
            return out
        joined = self._follow_linkedid(msg, ts)
        return joined + out if joined else out

    def restore(self, events: Iterable[ev.PbxEvent]) -> None:
        """Take back what a restarted daemon's journal says of calls in progress (R-SAFE-2).

        AMI events carry their call (Linkedid), so the state that matters is a spy's ChanSpy
        options (without them a whisper or barge that starts after the restart was stored as
        plain listening) and each channel's call, so that a Linkedid change after the restart
        is still seen as the channel joining another call.
        """
        for e in sorted(events, key=lambda x: x.ts):
            self.last_ts = max(self.last_ts, e.ts)
            if isinstance(e, ev.AppStarted) and e.app in ("ChanSpy", "ExtenSpy"):
                self._spy_options[e.channel] = e.data.partition(",")[2]
            elif isinstance(e, ev.ChannelHangup):
                self._spy_options.pop(e.channel, None)
            if isinstance(e, ev.ChannelHangup):
                self._linkedid.pop(e.channel, None)
            elif isinstance(e, ev.ChannelEvent) and e.channel:
                self._linkedid[e.channel] = e.call  # the call the journal keeps it in

    def begin_snapshot(self) -> None:
        """A (re)connection asks CoreShowChannels: channels created from now on are live.

        Only the current connection's listing counts: a list cut short by a
        drop is forgotten, or its channels would be kept alive forever.
        """
        self._listing = 1
        self._listing_since = None
        self._created_during_list.clear()
        self._snapshot_items.clear()

    def party_of(self, channel_name: str) -> tuple[PartyKind, str | None]:
        """``PJSIP/101-0000001f`` -> (EXTENSION, "101"); trunks are EXTERNAL."""
        tech, _, rest = channel_name.partition("/")
        if tech == "Local":
            return PartyKind.LOCAL, None
        if not rest:
            return PartyKind.OTHER, None
        endpoint = rest.rsplit("-", 1)[0] if "-" in rest else rest
        if self._ext_re.match(endpoint):
            return PartyKind.EXTENSION, endpoint
        return PartyKind.EXTERNAL, None

    def _interface_extension(self, interface: str | None) -> str | None:
        if not interface:
            return None
        member = self._member_re.fullmatch(interface)
        if member is not None and self._ext_re.match(member.group(1)):
            return member.group(1)
        party, ext = self.party_of(interface if "-" in interface else interface + "-0")
        return ext if party is PartyKind.EXTENSION else None

    def _follow_linkedid(self, m: Msg, ts: float) -> list[ev.PbxEvent]:
        """A channel whose Linkedid changes has joined that call (R-LEG-4 pickup, park).

        Asterisk moves a channel to another call's Linkedid when it takes that call: a picker
        (``Pickup``) or a parked call's retriever (``UnParkedCall``), which dialled on a call of
        their own.  Those events say so first (and carry the moment); the channel's own events
        switch Linkedid a few messages later.  When the first is lost (a reconnect gap), the
        switch still tells, so the call is not split into a missed call and a phantom one.
        Only the channel's own headers are followed: the switch is seen once.
        """
        uid = m.get("Uniqueid")
        linked = m.get("Linkedid")
        if not uid or not linked or m.get("Event") in ("Hangup", "CoreShowChannel"):
            return []  # a listing item states, it does not happen in stream order
        was = self._linkedid.get(uid)
        self._linkedid[uid] = linked
        if was is None or was == linked:
            return []
        return [ev.ChannelJoinsCall(ts=ts, channel=uid, call=linked, target="", how=ev.JoinHow.LINKEDID)]

    # -- channel lifecycle ---------------------------------------------------
    def _newchannel(self, m: Msg, ts: float) -> list[ev.PbxEvent]:
        uid = m["Uniqueid"]
        name = m["Channel"]
        party, ext = self.party_of(name)
        state = m.get("ChannelState", "")
        if self._listing:
            if self._listing_since is None:
                self._listing_since = ts
            if ts - self._listing_since <= LIST_ABANDONED_AFTER_S:
                self._created_during_list.add(uid)
            else:
                # the list never completed (refused for lack of privilege, timed out): without
                # this, every channel of the connection would be remembered, for days
                self._listing = 0
                self._created_during_list.clear()
        return [
            ev.ChannelCreated(
                **_on_channel(m, ts),
                name=name,
                party=party,
                extension=ext,
                caller_num=_clean(m.get("CallerIDNum")),
                caller_name=_clean(m.get("CallerIDName")),
                exten=_clean(m.get("Exten")),
                context=_clean(m.get("Context")),
                # A channel the PBX creates on its own (Originate) starts Down and
                # heads its own Linkedid; dialled members are Down but inherit one.
                originated=state == "0" and m.get("Linkedid", uid) == uid,
            )
        ]

    def _newcallerid(self, m: Msg, ts: float) -> list[ev.PbxEvent]:
        return [
            ev.CallerIdChanged(
                **_on_channel(m, ts),
                caller_num=_clean(m.get("CallerIDNum")),
                caller_name=_clean(m.get("CallerIDName")),
            )
        ]

    def _newstate(self, m: Msg, ts: float) -> list[ev.PbxEvent]:
        desc = m.get("ChannelStateDesc")
        uid = m["Uniqueid"]
        call = m.get("Linkedid") or uid
        if desc == "Up":
            return [ev.ChannelAnswered(ts=ts, channel=uid, call=call)]
        if desc == "Ringing":
            return [ev.ChannelRinging(ts=ts, channel=uid, call=call)]
        return []

    def _hangup_request(self, m: Msg, ts: float) -> list[ev.PbxEvent]:
        cause = m.get("Cause")
        return [
            ev.HangupRequested(
                **_on_channel(m, ts),
                cause=hangup_cause(_int(cause)) if cause else None,
                # SoftHangupRequest: asked from inside the PBX (AMI, dialplan, bridge peer).
                by_ami=m.get("Event") == "SoftHangupRequest",
            )
        ]

    def _hangup(self, m: Msg, ts: float) -> list[ev.PbxEvent]:
        uid = m["Uniqueid"]
        self._spy_options.pop(uid, None)
        self._linkedid.pop(uid, None)
        return [
            ev.ChannelHangup(
                **_on_channel(m, ts),
                cause=hangup_cause(_int(m.get("Cause"))),
                cause_text=m.get("Cause-txt", ""),
            )
        ]

    # -- dialing and bridging -------------------------------------------------
    def _dial_begin(self, m: Msg, ts: float) -> list[ev.PbxEvent]:
        dest = m["DestUniqueid"]
        src = m.get("Uniqueid", "")
        return [
            ev.DialBegin(
                ts=ts,
                channel=src,
                call=m.get("Linkedid") or m.get("DestLinkedid") or dest,
                dest=dest,
                dial_string=_clean(m.get("DialString")),
            )
        ]

    def _dial_end(self, m: Msg, ts: float) -> list[ev.PbxEvent]:
        dest = m["DestUniqueid"]
        status = _DIAL_STATUS.get(m.get("DialStatus", ""), DialStatus.OTHER)
        return [
            ev.DialEnd(
                ts=ts,
                channel=m.get("Uniqueid", ""),
                call=m.get("Linkedid") or m.get("DestLinkedid") or dest,
                dest=dest,
                status=status,
            )
        ]

    def _bridge_enter(self, m: Msg, ts: float) -> list[ev.PbxEvent]:
        return [ev.BridgeEnter(**_on_channel(m, ts), bridge=m["BridgeUniqueid"])]

    def _bridge_leave(self, m: Msg, ts: float) -> list[ev.PbxEvent]:
        return [ev.BridgeLeave(**_on_channel(m, ts), bridge=m["BridgeUniqueid"])]

    def _local_bridge(self, m: Msg, ts: float) -> list[ev.PbxEvent]:
        one = m["LocalOneUniqueid"]
        return [
            ev.LocalPair(
                ts=ts, channel=one, call=m.get("LocalOneLinkedid") or one, other=m["LocalTwoUniqueid"]
            )
        ]

    # -- dialplan ---------------------------------------------------------------
    def _newexten(self, m: Msg, ts: float) -> list[ev.PbxEvent]:
        app = m.get("Application", "")
        if app not in INTERESTING_APPS:
            return []
        uid = m["Uniqueid"]
        data = m.get("AppData", "")
        if app in ("ChanSpy", "ExtenSpy"):
            self._spy_options[uid] = data.partition(",")[2]
        return [
            ev.AppStarted(
                **_on_channel(m, ts),
                app=app,
                data=data,
                context=_clean(m.get("Context")),
                exten=_clean(m.get("Extension") or m.get("Exten")),
            )
        ]

    def _varset(self, m: Msg, ts: float) -> list[ev.PbxEvent]:
        var = m.get("Variable", "")
        if var not in self._variables:
            return []
        uid = m.get("Uniqueid")
        if not uid:
            return []  # a global variable, not a channel's
        value = m.get("Value", "")
        if var == "AMDSTATUS":
            return [ev.AmdDetected(**_on_channel(m, ts), result=_AMD_RESULT.get(value, AmdResult.NOT_SURE))]
        return [ev.VariableSet(**_on_channel(m, ts), name=var, value=value)]

    def _user_event(self, m: Msg, ts: float) -> list[ev.PbxEvent]:
        uid = m.get("Uniqueid")
        if not uid:
            return []
        fields = tuple((k, v) for k, v in m.items() if k not in _CHANNEL_HEADERS)
        return [ev.UserEvent(**_on_channel(m, ts), name=m.get("UserEvent", ""), fields=fields)]

    def _dtmf(self, m: Msg, ts: float) -> list[ev.PbxEvent]:
        return [ev.Dtmf(**_on_channel(m, ts), digit=m.get("Digit", ""))]

    def _hold(self, m: Msg, ts: float) -> list[ev.PbxEvent]:
        return [ev.Hold(**_on_channel(m, ts), on=m.get("Event") == "Hold")]

    # -- queues -----------------------------------------------------------------
    def _queue_join(self, m: Msg, ts: float) -> list[ev.PbxEvent]:
        return [ev.QueueJoin(**_on_channel(m, ts), queue=m.get("Queue", ""))]

    def _queue_leave(self, m: Msg, ts: float) -> list[ev.PbxEvent]:
        return [ev.QueueLeave(**_on_channel(m, ts), queue=m.get("Queue", ""))]

    def _member_ext(self, m: Msg) -> str | None:
        dest = m.get("DestChannel")
        if dest:
            party, ext = self.party_of(dest)
            if party is PartyKind.EXTENSION:
                return ext
        return self._interface_extension(m.get("Interface"))

    def _agent_called(self, m: Msg, ts: float) -> list[ev.PbxEvent]:
        return [
            ev.QueueAgentCalled(
                **_on_channel(m, ts),
                queue=m.get("Queue", ""),
                member=m.get("DestUniqueid", ""),
                extension=self._member_ext(m),
            )
        ]

    def _agent_connect(self, m: Msg, ts: float) -> list[ev.PbxEvent]:
        return [
            ev.QueueAgentConnect(
                **_on_channel(m, ts),
                queue=m.get("Queue", ""),
                member=m.get("DestUniqueid", ""),
                extension=self._member_ext(m),
                hold_s=_float(m.get("HoldTime")),
            )
        ]

    def _agent_noanswer(self, m: Msg, ts: float) -> list[ev.PbxEvent]:
        ring_ms = _float(m.get("RingTime"))
        return [
            ev.QueueAgentNoAnswer(
                **_on_channel(m, ts),
                queue=m.get("Queue", ""),
                member=m.get("DestUniqueid", ""),
                extension=self._member_ext(m),
                ring_s=ring_ms / 1000.0 if ring_ms is not None else None,
            )
        ]

    def _queue_abandon(self, m: Msg, ts: float) -> list[ev.PbxEvent]:
        return [
            ev.QueueAbandon(
                **_on_channel(m, ts),
                queue=m.get("Queue", ""),
                hold_s=_float(m.get("HoldTime")),
            )
        ]

    # -- transfers and supervision ---------------------------------------------------
    def _blind_transfer(self, m: Msg, ts: float) -> list[ev.PbxEvent]:
        if m.get("Result", "Success") != "Success":
            return []
        transferee = m["TransfereeUniqueid"]
        return [
            ev.Transfer(
                ts=ts,
                channel=transferee,
                call=m.get("TransfereeLinkedid") or transferee,
                kind=TransferKind.BLIND,
                transferer=m.get("TransfererUniqueid", ""),
                target_exten=_clean(m.get("Extension")),
            )
        ]

    def _attended_transfer(self, m: Msg, ts: float) -> list[ev.PbxEvent]:
        if m.get("Result", "Success") != "Success":
            return []
        transferee = m.get("TransfereeUniqueid")
        if not transferee:
            return []
        return [
            ev.Transfer(
                ts=ts,
                channel=transferee,
                call=m.get("TransfereeLinkedid") or transferee,
                kind=TransferKind.ATTENDED,
                transferer=m.get("OrigTransfererUniqueid", ""),
                target_channel=m.get("TransferTargetUniqueid"),
            )
        ]

    def _pickup(self, m: Msg, ts: float) -> list[ev.PbxEvent]:
        """``Pickup``: the picker's channel (its own Linkedid, from dialling ``**101`` or ``*8``)
        takes the ringing ``Target`` channel's call; later events carry the target's Linkedid
        with nothing else announcing the change (R-LEG-4 pickup)."""
        target = m["TargetUniqueid"]
        call = m.get("TargetLinkedid") or target
        return [
            ev.ChannelJoinsCall(
                ts=ts,
                channel=m["Uniqueid"],
                call=call,
                target=target,
                how=ev.JoinHow.PICKUP,
            )
        ]

    def _parked_call(self, m: Msg, ts: float) -> list[ev.PbxEvent]:
        """``ParkedCall``: the parkee waits in a lot; the parker's segment is over (R-LEG-4 park)."""
        parkee = m["ParkeeUniqueid"]
        return [
            ev.Parked(
                ts=ts,
                channel=parkee,
                call=m.get("ParkeeLinkedid") or parkee,
                lot=_clean(m.get("ParkingSpace")) or _clean(m.get("Parkinglot")),
            )
        ]

    def _unparked_call(self, m: Msg, ts: float) -> list[ev.PbxEvent]:
        """``UnParkedCall``: the retriever, who dialled the slot on a call of its own, takes the
        parkee's call (R-LEG-4 park and retrieve)."""
        retriever = _clean(m.get("RetrieverUniqueid"))
        parkee = m["ParkeeUniqueid"]
        if not retriever:
            return []
        call = m.get("ParkeeLinkedid") or parkee
        return [
            ev.ChannelJoinsCall(
                ts=ts,
                channel=retriever,
                call=call,
                target=parkee,
                how=ev.JoinHow.UNPARK,
            )
        ]

    def _chanspy_start(self, m: Msg, ts: float) -> list[ev.PbxEvent]:
        spyer = m["SpyerUniqueid"]
        party, spyee_ext = self.party_of(m.get("SpyeeChannel", ""))
        return [
            ev.SpyStarted(
                ts=ts,
                channel=spyer,
                call=m.get("SpyerLinkedid") or spyer,
                spyee=m.get("SpyeeUniqueid", ""),
                mode=spy_mode(self._spy_options.get(spyer, "")),
                spyee_extension=spyee_ext if party is PartyKind.EXTENSION else None,
            )
        ]

    def _originate_response(self, m: Msg, ts: float) -> list[ev.PbxEvent]:
        uid = _clean(m.get("Uniqueid"))
        out: list[ev.PbxEvent] = []
        app = m.get("Application")
        if uid and app in ("ChanSpy", "ExtenSpy"):
            data = m.get("Data", "")
            self._spy_options[uid] = data.partition(",")[2]
            out.append(ev.AppStarted(ts=ts, channel=uid, call=uid, app=app, data=data))
        out.append(
            ev.OriginateResult(
                ts=ts,
                request_id=m.get("ActionID", ""),
                channel=uid,
                outcome=_originate_outcome(m),
                reason=m.get("Reason", ""),
            )
        )
        return out

    # -- agents -------------------------------------------------------------------
    def _member_status(self, m: Msg, ts: float, action: str, reason: str | None = None) -> list[ev.PbxEvent]:
        iface = m.get("StateInterface") or m.get("Interface")
        ext = self._interface_extension(iface) or _clean(m.get("MemberName"))
        if not ext:
            return []
        queue = _clean(m.get("Queue"))
        return [ev.AgentStatus(ts=ts, extension=ext, queue=queue, action=action, reason=reason)]

    def _member_added(self, m: Msg, ts: float) -> list[ev.PbxEvent]:
        return self._member_status(m, ts, "login")

    def _member_removed(self, m: Msg, ts: float) -> list[ev.PbxEvent]:
        return self._member_status(m, ts, "logout")

    def _member_pause(self, m: Msg, ts: float) -> list[ev.PbxEvent]:
        paused = m.get("Paused") == "1"
        reason = _clean(m.get("PausedReason") or m.get("Reason")) if paused else None
        return self._member_status(m, ts, "pause" if paused else "unpause", reason)

    # -- reconciliation snapshot (R-PBX-5) ------------------------------------------
    def _core_show_channel(self, m: Msg, ts: float) -> list[ev.PbxEvent]:
        uid = m.get("Uniqueid")
        name = m.get("Channel")
        if not uid or not name:
            return []
        party, ext = self.party_of(name)
        started = None
        duration = m.get("Duration", "")
        parts = duration.split(":")
        if len(parts) == 3 and all(p.isdigit() for p in parts):
            started = ts - (int(parts[0]) * 3600 + int(parts[1]) * 60 + int(parts[2]))
        item = ev.ChannelSnapshotItem(
            channel=uid,
            call=m.get("Linkedid") or uid,
            name=name,
            party=party,
            extension=ext,
            caller_num=_clean(m.get("CallerIDNum")),
            caller_name=_clean(m.get("CallerIDName")),
            exten=_clean(m.get("Exten")),
            up=m.get("ChannelStateDesc") == "Up",
            started_ts=started,
            bridged_with=_clean(m.get("BridgeId")),
        )
        self._snapshot_items.setdefault(m.get("ActionID", ""), []).append(item)
        return []

    def _core_show_complete(self, m: Msg, ts: float) -> list[ev.PbxEvent]:
        items = self._snapshot_items.pop(m.get("ActionID", ""), [])
        listed = {i.channel for i in items}
        # Channels created while the list was being produced are alive too.
        extra = tuple(
            ev.ChannelSnapshotItem(
                channel=c,
                call="",
                name="",
                party=PartyKind.OTHER,
                extension=None,
                caller_num=None,
                caller_name=None,
                exten=None,
                up=False,
            )
            for c in sorted(self._created_during_list - listed)
        )
        expected = _int(m.get("ListItems"), len(items))
        if expected == len(items):  # channels the PBX no longer has: forget their Linkedid
            alive = listed | self._created_during_list
            self._linkedid = {u: c for u, c in self._linkedid.items() if u in alive}
        self._listing = 0
        self._created_during_list.clear()
        return [ev.ChannelsSnapshot(ts=ts, channels=tuple(items) + extra, complete=expected == len(items))]
