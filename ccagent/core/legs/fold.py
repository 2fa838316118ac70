"""Fold one call's normalized events into its legs (SPEC R-LEG-1..4).

A call is re-folded from its complete event list every time, never patched
incrementally: the result depends only on the events, so re-ingesting a capture
or replaying a journal gives the same rows (idempotent, R-PBX-5), and the same
fold serves Asterisk and FreeSWITCH (R-PBX-3, R-LEG-4).

The model: the *customer* is the call's first external channel.  Walking the
events in order, we keep the bridge/Local-pair topology and, after every
change, look at which employee phones are connected to the customer.  An
employee newly connected opens a leg; it closes when that party hangs up or is
transferred away.  A phone connected to an employee in a leg but not to the
customer is a consultation.  Everything that rang and never became a leg is an
agent offer.

Reading order: :func:`fold_call` runs the two phases.  Phase 1, :class:`_Fold`,
applies the events one by one (``apply`` dispatches per event kind to one small
step each) and opens/closes :class:`_OpenLeg` s in ``relink``/``_party_left``.
Phase 2 turns the open legs and channels into rows: :func:`_customer_legs`
(inbound/outbound calls), :func:`_internal_legs` (employee to employee,
supervisors), :func:`_offers`; every row is made by :func:`_leg`.  What a
hangup cause means is decided in ``ccagent.core.outcomes``, not here.
The hand-written tests in ``tests/core/test_fold_concepts.py`` show each
concept on a minimal event list.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import assert_never

from ccagent.core import pbx_events as ev
from ccagent.core.legs.model import (
    AgentOffer,
    CallRecord,
    Direction,
    Disposition,
    HangupBy,
    Leg,
    OfferOutcome,
    Role,
)
from ccagent.core.outcomes import AmdResult, customer_disposition, internal_busy, offer_outcome
from ccagent.core.pbx_events import DialStatus, JoinHow, PartyKind, SpyMode, TransferKind

# UserEvent name -> {field: result key}: what the dialplans in dialplan/ report.
RESULT_EVENTS: dict[str, dict[str, str]] = {
    "CcagentResult": {"Digit": "autoinformer_digit", "Result": "autoinformer_result"},
    "CcagentAmd": {"Status": "amd_status", "Cause": "amd_cause"},
    "CcagentRobotResult": {"Result": "robot_result"},
}

_SPY_ROLE = {
    SpyMode.LISTEN: Role.SUPERVISOR_LISTEN,
    SpyMode.WHISPER: Role.SUPERVISOR_WHISPER,
    SpyMode.BARGE: Role.SUPERVISOR_BARGE,
}


@dataclass(slots=True)
class _Chan:
    uid: str
    name: str = ""
    party: PartyKind = PartyKind.OTHER
    extension: str | None = None
    created: float | None = None
    caller_num: str | None = None
    caller_name: str | None = None
    first_caller_num: str | None = None
    first_caller_name: str | None = None
    exten: str | None = None
    originated: bool = False
    ringing: float | None = None
    answered: float | None = None
    hangup_req: float | None = None
    hangup_req_soft: bool = False
    hangup: float | None = None
    cause: int | None = None
    reconciled: bool = False
    dialed_by: str | None = None  # uid of the channel that dialled it ("" = originate)
    dial_begin: float | None = None
    dial_string: str | None = None
    presented: tuple[str | None, str | None] | None = None  # dialler's caller ID when it dialled this
    dial_status: DialStatus | None = None
    queue: str | None = None
    queue_join: float | None = None
    offered_queue: str | None = None  # queue that rang this member channel
    offer_outcome: OfferOutcome | None = None
    spy: tuple[str, SpyMode] | None = None  # (spyee extension, mode)
    taken_over: float | None = None  # picked up / retrieved the call from a lot (R-LEG-4)

    @property
    def end(self) -> float | None:
        """When this party's segment ended: first hangup request, else hangup (R-LEG-4)."""
        return self.hangup_req if self.hangup_req is not None else self.hangup


@dataclass(slots=True)
class _OpenLeg:
    agent: str  # uid of the employee's channel
    role: Role
    connected: float
    peer: str | None = None  # consultation: the transferor's uid
    end: float | None = None
    ended_by: str | None = None  # uid of the channel whose request ended it (None: transfer, or open)
    transferred: bool = False  # ended because the call moved on to another employee
    transfer_from: int | None = None  # index into legs
    transfer_kind: TransferKind | None = None
    ring_ref: float | None = None  # blind transfer: when the previous leg ended
    queue: str | None = None


@dataclass(slots=True)
class _Fold:
    """Phase 1: the channels, the topology and the open legs, as the events go by."""

    call_id: str
    chans: dict[str, _Chan] = field(default_factory=dict)
    order: list[str] = field(default_factory=list)
    rank: dict[str, int] = field(default_factory=dict)  # uid -> position in order
    bridges: dict[str, set[str]] = field(default_factory=dict)
    in_bridge: dict[str, str] = field(default_factory=dict)
    pairs: dict[str, str] = field(default_factory=dict)
    legs: list[_OpenLeg] = field(default_factory=list)
    project: str | None = None
    project_variable: str = "CCAGENT_PROJECT"
    recording_variable: str = "MIXMONITOR_FILENAME"
    recordings: list[tuple[float, str, str]] = field(default_factory=list)  # (ts, channel, file name)
    results: dict[str, str | None] = field(default_factory=dict)
    amd: AmdResult | None = None
    customer: str | None = None
    last_ts: float = 0.0

    def chan(self, uid: str, ts: float) -> _Chan:
        c = self.chans.get(uid)
        if c is None:
            c = _Chan(uid=uid, created=ts)
            self.chans[uid] = c
            self.rank[uid] = len(self.order)
            self.order.append(uid)
        return c

    # -- event application: one step per event kind -------------------------------------------
    def apply(self, e: ev.PbxEvent) -> None:
        """Apply one event.  Longer than the rest on purpose: one case per kind of the closed
        ``PbxEvent`` union, each a line or a call to a named step, so a reader sees in one place
        every kind there is and what it does to the fold (and ``assert_never`` proves none is
        forgotten).  The cases run in the order of their frequency in real streams: a match
        tries them one by one, and this is the hot path of ingest."""
        if e.ts > self.last_ts:
            self.last_ts = e.ts
        match e:
            case ev.ChannelCreated():
                self._created(e)
            case ev.ChannelHangup():
                self._hangup(e)
            case ev.HangupRequested():
                self._hangup_requested(e)
            case ev.DialEnd():
                c = self.chan(e.dest, e.ts)
                if c.dial_status is None or c.dial_status is DialStatus.CANCEL:
                    c.dial_status = e.status
            case ev.ChannelAnswered():
                c = self.chan(e.channel, e.ts)
                if c.answered is None:
                    c.answered = e.ts
                    self.relink(e.ts)
            case ev.BridgeEnter():
                self._bridge_enter(e)
            case ev.BridgeLeave():
                if self.in_bridge.get(e.channel) == e.bridge:
                    del self.in_bridge[e.channel]
                self.bridges.get(e.bridge, set()).discard(e.channel)
            case ev.ChannelRinging():
                c = self.chan(e.channel, e.ts)
                if c.ringing is None:
                    c.ringing = e.ts
            case ev.DialBegin():
                self._dial_begin(e)
            case (
                ev.AppStarted()
                | ev.OriginateResult()
                | ev.Dtmf()
                | ev.QueueLeave()
                | ev.QueueAgentConnect()
                | ev.Hold()
                | ev.AgentStatus()
                | ev.ChannelsSnapshot()
                | ev.ConnectionLost()
                | ev.Connected()
            ):
                pass  # the legs follow from the topology and the ends; these add nothing to them
            case ev.CallerIdChanged():
                c = self.chan(e.channel, e.ts)
                c.caller_num = e.caller_num or c.caller_num
                c.caller_name = e.caller_name or c.caller_name
            case ev.QueueAgentCalled():
                if e.member:
                    self.chan(e.member, e.ts).offered_queue = e.queue
            case ev.QueueJoin():
                c = self.chan(e.channel, e.ts)
                if c.queue_join is None:
                    c.queue, c.queue_join = e.queue, e.ts
            case ev.VariableSet():
                self._variable_set(e)
            case ev.UserEvent():
                self._user_event(e)
            case ev.LocalPair():
                self._local_pair(e)
            case ev.Transfer():
                self._transfer(e)
            case ev.ChannelJoinsCall():
                if e.how is not JoinHow.LINKEDID:  # a bare Linkedid switch has no moment
                    self._taken_over(e.channel, e.ts)
            case ev.Parked():
                self._parked(e.channel, e.ts)
            case ev.SpyStarted():
                c = self.chan(e.channel, e.ts)
                if c.spy is None:
                    c.spy = (e.spyee_extension or "", e.mode)
            case ev.QueueAgentNoAnswer():
                if e.member:
                    self.chan(e.member, e.ts).offer_outcome = OfferOutcome.NO_ANSWER
            case ev.QueueAbandon():
                # Only proves the channel exists (a reconnect may have hidden its creation);
                # the abandon itself is read from the topology: nobody took the customer.
                self.chan(e.channel, e.ts)
            case ev.AmdDetected():
                self.amd = e.result
            case _:
                assert_never(e)

    def _created(self, e: ev.ChannelCreated) -> None:
        c = self.chan(e.channel, e.ts)
        c.created = e.ts if c.created is None or not c.name else c.created
        c.name, c.party, c.extension = e.name, e.party, e.extension
        c.caller_num = c.first_caller_num = e.caller_num
        c.caller_name = c.first_caller_name = e.caller_name
        c.exten, c.originated = e.exten, e.originated
        if self.customer is None and e.party is PartyKind.EXTERNAL:
            self.customer = e.channel

    def _hangup_requested(self, e: ev.HangupRequested) -> None:
        c = self.chan(e.channel, e.ts)
        if c.hangup_req is None:
            c.hangup_req = e.ts
            c.hangup_req_soft = e.by_ami
            self._party_left(e.channel, e.ts)

    def _hangup(self, e: ev.ChannelHangup) -> None:
        c = self.chan(e.channel, e.ts)
        if c.hangup is not None:
            return
        c.hangup, c.cause, c.reconciled = e.ts, e.cause, e.reconciled
        if c.hangup_req is None:
            self._party_left(e.channel, e.ts)
        b = self.in_bridge.pop(e.channel, None)
        if b is not None:
            self.bridges.get(b, set()).discard(e.channel)
        if c.offer_outcome is None and c.answered is None and c.party is PartyKind.EXTENSION:
            c.offer_outcome = offer_outcome(c.cause, c.dial_status)

    def _dial_begin(self, e: ev.DialBegin) -> None:
        c = self.chan(e.dest, e.ts)
        c.dialed_by = e.channel
        c.dial_begin = e.ts
        c.dial_string = e.dial_string
        src = self.chans.get(e.channel)
        if src is not None:
            c.presented = (src.caller_num, src.caller_name)

    def _bridge_enter(self, e: ev.BridgeEnter) -> None:
        self.chan(e.channel, e.ts)
        old = self.in_bridge.get(e.channel)
        if old is not None:
            self.bridges.get(old, set()).discard(e.channel)
        self.bridges.setdefault(e.bridge, set()).add(e.channel)
        self.in_bridge[e.channel] = e.bridge
        self.relink(e.ts)

    def _local_pair(self, e: ev.LocalPair) -> None:
        self.chan(e.channel, e.ts)
        self.chan(e.other, e.ts)
        self.pairs[e.channel] = e.other
        self.pairs[e.other] = e.channel
        self.relink(e.ts)

    def _transfer(self, e: ev.Transfer) -> None:
        """A blind transfer ends the transferer's leg now; an attended one ends it when the
        consulted employee reaches the customer (``relink``)."""
        if e.kind == TransferKind.BLIND:
            for leg in self._open(Role.MAIN):
                if leg.agent == e.transferer:
                    self.close_leg(leg, e.ts, None)

    def _variable_set(self, e: ev.VariableSet) -> None:
        """The two channel variables the fold reads: the project, and a recording's file."""
        if not e.value:
            return
        if e.name == self.project_variable:
            self.project = e.value
        elif e.name == self.recording_variable:
            self._recording_started(e.channel, e.value, e.ts)

    def _recording_started(self, uid: str, value: str, ts: float) -> None:
        """A recording began on ``uid`` (R-LEG-1); the reference kept is the file name.

        FreePBX starts MixMonitor on the customer's channel (at queue entry, before any agent
        answers) and stores only the name (CDR recordingfile), filing it in a dated folder; a blind
        transfer to a recording extension starts a second file on the same channel.
        """
        name = value.strip().replace("\\", "/").rsplit("/", 1)[-1]
        if name:
            self.recordings.append((ts, uid, name))

    def recording_of(self, uids: Iterable[str | None], end: float) -> str | None:
        """The newest recording started on one of ``uids`` (the leg's parties) before ``end``.

        Channels created later inherit FreePBX's recording variables, so a name is only taken
        from where the recording itself started; a file started after the leg ended (the next
        leg's, after a transfer) is not this leg's.
        """
        parties = {u for u in uids if u}
        found = None
        for ts, uid, name in self.recordings:
            if uid in parties and ts <= end:
                found = name
        return found

    def _taken_over(self, uid: str, ts: float) -> None:
        """A picker / retriever got the call (R-LEG-4 pickup, park and retrieve).

        Its phone answered its own feature-code call earlier (Asterisk) or answers only after
        the bridge (FreeSWITCH valet): for this call it answers when the PBX hands the caller
        over, so the leg's ring runs to that moment and a bridge already made counts now.
        Only the first handover carrying a moment counts.
        """
        c = self.chan(uid, ts)
        if c.taken_over is not None:
            return
        c.taken_over = ts
        if c.answered is None or c.answered < ts:
            c.answered = ts
            self.relink(ts)

    def _parked(self, uid: str, ts: float) -> None:
        """The customer went into a parking lot: the parker's leg ends there (R-LEG-4).

        A park by SIP REFER on FreeSWITCH has no transfer event; Asterisk's BlindTransfer to
        the lot already closed the leg and this changes nothing.  Whoever takes the caller from
        the lot then opens a blind-transfer leg whose ring runs from the park.
        """
        if uid != self.customer:
            return
        for leg in self._open(Role.MAIN):
            self.close_leg(leg, ts, None)

    def _user_event(self, e: ev.UserEvent) -> None:
        keys = RESULT_EVENTS.get(e.name)
        if keys:
            for k, v in e.fields:
                if k in keys:
                    self.results[keys[k]] = v or None

    def _party_left(self, uid: str, ts: float) -> None:
        """A party's segment ended: its legs close, and all legs close when the customer left."""
        if uid == self.customer:
            for leg in self._open(Role.MAIN):
                self.close_leg(leg, ts, uid)
        for leg in self._open():
            if leg.agent == uid or (leg.role is Role.CONSULTATION and leg.peer == uid):
                self.close_leg(leg, ts, uid)

    # -- topology and legs ----------------------------------------------------------------------
    def component(self, start: str) -> set[str]:
        """Every channel connected to ``start`` through bridges and Local/loopback pairs."""
        seen = {start}
        todo = [start]
        while todo:
            u = todo.pop()
            nbrs: list[str] = []
            b = self.in_bridge.get(u)
            if b is not None:
                nbrs.extend(self.bridges.get(b, ()))
            p = self.pairs.get(u)
            if p is not None:
                nbrs.append(p)
            for n in nbrs:
                if n not in seen:
                    seen.add(n)
                    todo.append(n)
        return seen

    def _is_agent(self, uid: str) -> bool:
        c = self.chans.get(uid)
        return c is not None and c.party is PartyKind.EXTENSION and c.hangup is None

    def _open(self, role: Role | None = None) -> Iterable[_OpenLeg]:
        return (leg for leg in self.legs if leg.end is None and (role is None or leg.role is role))

    def close_leg(self, leg: _OpenLeg, ts: float, by: str | None) -> None:
        """End ``leg`` at ``ts``; ``by`` is the uid whose request ended it, None for a transfer."""
        if leg.end is None:
            leg.end = ts
            leg.ended_by = by
            leg.transferred = by is None

    def relink(self, ts: float) -> None:
        """Open legs for employees newly connected to the customer or to a leg's employee."""
        cust = self.customer
        if cust is None:
            return
        comp = self.component(cust)
        self._open_main_legs(comp, ts)
        self._open_consultations(comp, ts)

    def _open_main_legs(self, comp: set[str], ts: float) -> None:
        """An answered employee phone connected to the customer, with no open leg, opens one."""
        open_main = {leg.agent for leg in self._open(Role.MAIN)}
        for uid in sorted(comp, key=self.rank.__getitem__):
            if not self._is_agent(uid) or uid in open_main or self.chans[uid].answered is None:
                continue
            new = _OpenLeg(agent=uid, role=Role.MAIN, connected=ts, queue=self.chans[uid].offered_queue)
            consult = self._pending_consultation(uid)
            previous = [leg for leg in self.legs if leg.role is Role.MAIN]
            if consult is not None:
                # Attended transfer completed: the consulted agent now has the customer.
                self.close_leg(consult, ts, None)
                new.transfer_kind = TransferKind.ATTENDED
                new.transfer_from = next(
                    (
                        i
                        for i, leg in enumerate(self.legs)
                        if leg.role is Role.MAIN and leg.agent == consult.peer
                    ),
                    None,
                )
            elif previous and all(leg.end is not None for leg in previous):
                # The customer moved on from an employee who left: blind transfer
                # (BlindTransfer, SIP REFER or a bare AMI Redirect).
                last = max(previous, key=lambda leg: leg.end or 0.0)
                new.transfer_kind = TransferKind.BLIND
                new.transfer_from = self.legs.index(last)
                new.ring_ref = last.end
            self.legs.append(new)
            open_main.add(uid)

    def _pending_consultation(self, uid: str) -> _OpenLeg | None:
        """The consultation of ``uid`` that can still become an attended transfer: the latest one,
        open or ended only by its transferor leaving (which is how the transfer completes)."""
        return next(
            (
                leg
                for leg in reversed(self.legs)
                if leg.role is Role.CONSULTATION
                and leg.agent == uid
                and not leg.transferred
                and leg.ended_by in (None, leg.peer)
            ),
            None,
        )

    def _open_consultations(self, comp: set[str], ts: float) -> None:
        """An employee reached from a leg's employee, not from the customer, is a consultation."""
        for leg in list(self._open(Role.MAIN)):
            if leg.agent in comp:
                continue
            for uid in self.component(leg.agent):
                if uid == leg.agent or uid in comp or not self._is_agent(uid):
                    continue
                if self.chans[uid].answered is None:
                    continue
                if any(x.agent == uid and x.end is None for x in self.legs):
                    continue
                self.legs.append(_OpenLeg(agent=uid, role=Role.CONSULTATION, connected=ts, peer=leg.agent))


# -- phase 2: rows ----------------------------------------------------------------------------------


def _number(dial_string: str | None) -> str | None:
    """``0601020310@customers`` / ``PJSIP/0601@trunk`` / ``customers/0601`` -> the number."""
    if not dial_string:
        return None
    s = dial_string.split(",", 1)[0]
    if "@" in s:
        s = s.split("@", 1)[0]
    return s.rsplit("/", 1)[-1] or None


def _r(x: float) -> float:
    return round(max(0.0, x), 3)


def _leg(
    call_id: str,
    *,
    seq: int = 0,
    direction: Direction,
    role: Role = Role.MAIN,
    caller: str | None,
    caller_name: str | None,
    callee: str | None,
    extension: str | None,
    disposition: Disposition,
    started: float,
    answered_at: float | None,
    ended: float,
    ring: float,
    talk: float,
    cause: int | None,
    by: HangupBy | None,
    chan: _Chan,
    reconciled: bool,
    project: str | None,
    queue: str | None = None,
    transfer_from: int | None = None,
    transfer_kind: TransferKind | None = None,
    recording: str | None = None,
) -> Leg:
    """The one place a :class:`Leg` row is made: answered iff it has an answer time, durations
    rounded to the millisecond and never negative.  ``recording``: see ``_Fold.recording_of``."""
    return Leg(
        call_id=call_id,
        leg_seq=seq,
        direction=direction,
        caller=caller,
        caller_name=caller_name,
        callee=callee,
        extension=extension,
        answered=answered_at is not None,
        disposition=disposition,
        transfer_from_leg=transfer_from,
        transfer_kind=transfer_kind,
        role=role,
        queue=queue,
        project=project,
        started_at=started,
        answered_at=answered_at,
        ended_at=ended,
        ring_s=_r(ring),
        talk_s=_r(talk),
        hangup_cause=cause,
        hangup_by=by,
        channel=chan.uid,
        reconciled=reconciled,
        recording=recording,
    )


@dataclass(frozen=True, slots=True)
class _Customer:
    """What every row of a customer call shares: who it is, who presented it, who was called."""

    chan: _Chan
    direction: Direction
    caller: str | None
    caller_name: str | None
    callee: str | None
    agent_src: _Chan | None  # the employee who dialled the customer (callbacks, manual calls)
    queue_chan: _Chan | None  # the first channel that waited in a queue
    end: float  # when the customer's segment ended (or the last event, if it never did)

    @property
    def inbound(self) -> bool:
        return self.direction is Direction.INBOUND

    @property
    def word(self) -> HangupBy:
        """What the customer is called in ``hangup_by``."""
        return HangupBy.CALLER if self.inbound else HangupBy.CALLEE

    @property
    def queue(self) -> str | None:
        return self.queue_chan.queue if self.queue_chan else None


def _customer(f: _Fold, cust: _Chan, direction: Direction) -> _Customer:
    """Who presented the call to the customer: the dialling side's caller ID for a dialer call,
    the employee's extension for callbacks and manual calls, the caller's own for inbound."""
    dialer_src = f.chans.get(cust.dialed_by or "")
    agent_src: _Chan | None = None
    if direction is Direction.INBOUND:
        caller, caller_name, callee = cust.first_caller_num, cust.first_caller_name, cust.exten
    else:
        callee = _number(cust.dial_string) or cust.caller_num
        if dialer_src is not None and dialer_src.party is PartyKind.EXTENSION:
            agent_src = dialer_src
            caller, caller_name = dialer_src.extension, None
        elif dialer_src is not None and cust.presented is not None:
            caller, caller_name = cust.presented
        else:
            caller, caller_name = cust.caller_num, cust.caller_name
    queue_chan = next((f.chans[u] for u in f.order if f.chans[u].queue_join is not None), None)
    end = cust.end if cust.end is not None else f.last_ts
    return _Customer(cust, direction, caller, caller_name, callee, agent_src, queue_chan, end)


def _hangup_by(f: _Fold, leg: _OpenLeg, cust: _Customer) -> HangupBy | None:
    if leg.transferred:
        return HangupBy.TRANSFER
    by = f.chans.get(leg.ended_by or "")
    if by is None:
        return None
    if by.hangup_req_soft:
        return HangupBy.PBX
    if by.uid == cust.chan.uid:
        return cust.word
    return HangupBy.AGENT


def _ended_cause(f: _Fold, leg: _OpenLeg) -> int | None:
    """The cause of whoever ended the leg, else the leg's employee's own."""
    by = f.chans.get(leg.ended_by or "")
    if by is not None:
        return by.cause
    return f.chans[leg.agent].cause


def _customer_legs(f: _Fold, cust: _Customer, call_id: str) -> list[Leg]:
    """One row per employee leg; if no employee ever took the customer, one row saying why."""
    legs = [_employee_leg(f, cust, call_id, i, ol) for i, ol in enumerate(f.legs)]
    if any(leg.role is Role.MAIN for leg in legs):
        return legs
    return [*legs, _unserved_leg(f, cust, call_id)]


def _employee_leg(f: _Fold, cust: _Customer, call_id: str, i: int, ol: _OpenLeg) -> Leg:
    a = f.chans[ol.agent]
    end = ol.end if ol.end is not None else (a.end or cust.end)
    reconciled = (f.chans.get(ol.ended_by or "") or a).reconciled
    if ol.role is Role.CONSULTATION:
        peer = f.chans.get(ol.peer or "")
        return _leg(
            call_id,
            seq=i,
            direction=Direction.INTERNAL,
            role=Role.CONSULTATION,
            caller=peer.extension if peer else None,
            caller_name=None,
            callee=a.extension,
            extension=a.extension,
            disposition=Disposition.ANSWERED,
            started=a.dial_begin or ol.connected,
            answered_at=a.answered,
            ended=end,
            ring=(a.answered or ol.connected) - (a.dial_begin or a.created or ol.connected),
            talk=end - max(ol.connected, a.answered or 0.0),
            cause=_ended_cause(f, ol),
            by=_hangup_by(f, ol, cust),
            chan=a,
            reconciled=reconciled,
            project=f.project,
            recording=f.recording_of((a.uid, ol.peer), end),
        )
    ring, started = _main_ring(cust, a, ol)
    return _leg(
        call_id,
        seq=i,
        direction=cust.direction,
        caller=cust.caller,
        caller_name=cust.caller_name,
        callee=cust.callee if ol.transfer_kind is None else a.extension,
        extension=a.extension,
        disposition=Disposition.ANSWERED,
        started=started,
        answered_at=a.answered,
        ended=end,
        ring=ring,
        talk=end - ol.connected,
        cause=_ended_cause(f, ol),
        by=_hangup_by(f, ol, cust),
        chan=a,
        reconciled=reconciled,
        project=f.project,
        queue=ol.queue or cust.queue,
        transfer_from=ol.transfer_from,
        transfer_kind=ol.transfer_kind,
        recording=f.recording_of((cust.chan.uid, a.uid), end),
    )


def _main_ring(cust: _Customer, a: _Chan, ol: _OpenLeg) -> tuple[float, float]:
    """(ring seconds, start) of an employee's main leg.

    Outbound: the customer's ring.  Inbound: from the queue join (or the call's start) to the
    answer; a blind transfer rings from the previous leg's end; an attended one was already
    talking (the consultation), so it does not ring.
    """
    c = cust.chan
    connected = a.answered or ol.connected
    if not cust.inbound:
        started = c.dial_begin or c.created or ol.connected
        return (c.answered or ol.connected) - started, started
    if ol.transfer_kind is TransferKind.ATTENDED:
        return 0.0, ol.connected
    if ol.transfer_kind is TransferKind.BLIND:
        ref = ol.ring_ref if ol.ring_ref is not None else (a.dial_begin or ol.connected)
        return connected - ref, ref
    ref_or_none = c.queue_join if c.queue_join is not None and c.queue_join <= connected else c.created
    ref = ref_or_none if ref_or_none is not None else ol.connected
    return connected - ref, ref


def _unserved_leg(f: _Fold, cust: _Customer, call_id: str) -> Leg:
    """Nobody took the customer: the one row says what happened (missed, abandoned, busy...)."""
    c = cust.chan
    end = cust.end
    ring_started = c.created if c.created is not None else end
    if cust.inbound:
        if cust.queue_chan is not None:
            disp, ext, ring_from = Disposition.ABANDONED, None, cust.queue_chan.queue_join or ring_started
        else:
            rang = [
                f.chans[u]
                for u in f.order
                if f.chans[u].party is PartyKind.EXTENSION and f.chans[u].dial_begin is not None
            ]
            disp, ext, ring_from = Disposition.MISSED, (rang[-1].extension if rang else None), ring_started
        started, answered_at, ring, talk = ring_started, None, end - ring_from, 0.0
    else:
        started = c.dial_begin or c.created or end
        ext = cust.agent_src.extension if cust.agent_src else None
        answered_at = c.answered
        if answered_at is None:
            disp, ring, talk = customer_disposition(c.cause, c.dial_status), end - started, 0.0
        elif cust.queue_chan is not None:
            # Answered, queued for an operator, never connected: abandoned even if
            # the PBX played a message (FTC safe harbour), talk 0 (R-LEG-4).
            disp, ring, talk = Disposition.ABANDONED, answered_at - started, 0.0
        else:
            # Autoinformer / robot / AMD: the customer talked to the PBX.
            disp, ring, talk = Disposition.ANSWERED, answered_at - started, end - answered_at
    return _leg(
        call_id,
        direction=cust.direction,
        caller=cust.caller,
        caller_name=cust.caller_name,
        callee=cust.callee,
        extension=ext,
        disposition=disp,
        queue=cust.queue,
        started=started,
        answered_at=answered_at,
        ended=end,
        ring=ring,
        talk=talk,
        cause=c.cause,
        by=HangupBy.PBX if c.hangup_req_soft else cust.word,
        chan=c,
        reconciled=c.reconciled,
        project=f.project,
        recording=f.recording_of((c.uid,), end),
    )


def _internal_legs(f: _Fold, first: _Chan, call_id: str) -> list[Leg]:
    """A call with no customer: a supervisor's spy, or one employee calling another."""
    end_all = first.end if first.end is not None else f.last_ts
    if first.spy is not None:
        return [_spy_leg(f, first, call_id, first.spy, end_all)]
    if first.party is not PartyKind.EXTENSION:
        return []
    # The employee phones the caller dialled (directly or through Local channels).
    targets = [f.chans[u] for u in f.order if u != first.uid and f.chans[u].party is PartyKind.EXTENSION]
    start = first.created if first.created is not None else end_all
    callee = first.exten if first.exten and first.exten != "s" else None
    if callee is None and targets:
        callee = targets[-1].extension
    taken = next(((t, t.answered) for t in targets if t.answered is not None), None)
    if taken is not None:
        answered, answered_at = taken
        ended = min(x for x in (first.end, answered.end, end_all) if x is not None)
        first_left = first.end is not None and first.end <= (answered.end or ended)
        callee = answered.extension or callee
        disp, ring, talk = Disposition.ANSWERED, answered_at - start, ended - answered_at
        by = HangupBy.CALLER if first_left else HangupBy.CALLEE
        parties: tuple[str, ...] = (first.uid, answered.uid)
    else:
        last = targets[-1] if targets else None
        busy = last is not None and internal_busy(last.cause, last.dial_status)
        callee = last.extension if last else callee
        disp = Disposition.BUSY if busy else Disposition.MISSED
        answered_at, ended, ring, talk, by = None, end_all, end_all - start, 0.0, HangupBy.CALLER
        parties = (first.uid,)
    return [
        _leg(
            call_id,
            direction=Direction.INTERNAL,
            caller=first.extension,
            caller_name=first.first_caller_name,
            callee=callee,
            extension=first.extension,
            disposition=disp,
            started=start,
            answered_at=answered_at,
            ended=ended,
            ring=ring,
            talk=talk,
            cause=first.cause,
            by=by,
            chan=first,
            reconciled=first.reconciled,
            project=f.project,
            recording=f.recording_of(parties, ended),
        )
    ]


def _spy_leg(f: _Fold, first: _Chan, call_id: str, spy: tuple[str, SpyMode], end_all: float) -> Leg:
    """A supervisor listening, whispering or barging: one row, the spied employee as callee."""
    start = first.dial_begin or first.created or end_all
    ans = first.answered
    return _leg(
        call_id,
        direction=Direction.INTERNAL,
        role=_SPY_ROLE[spy[1]],
        caller=first.extension,
        caller_name=None,
        callee=spy[0] or None,
        extension=first.extension,
        disposition=Disposition.ANSWERED if ans else Disposition.MISSED,
        started=start,
        answered_at=ans,
        ended=end_all,
        ring=(ans or end_all) - start,
        talk=end_all - ans if ans else 0.0,
        cause=first.cause,
        by=HangupBy.PBX if first.hangup_req_soft else HangupBy.CALLER,
        chan=first,
        reconciled=first.reconciled,
        project=None,
        recording=f.recording_of((first.uid,), end_all),
    )


def _offers(f: _Fold, call_id: str, call_end: float) -> list[AgentOffer]:
    """Every employee phone the call rang: answered, or why not (R-LEG-3)."""
    legged_agents = {leg.agent for leg in f.legs}
    offers: list[AgentOffer] = []
    for uid in f.order:
        c = f.chans[uid]
        if c.party is not PartyKind.EXTENSION or c.dial_begin is None:
            continue
        if uid in legged_agents or c.answered is not None:
            outcome = OfferOutcome.ANSWERED
        else:
            outcome = c.offer_outcome or offer_outcome(c.cause, c.dial_status)
        ring_end = c.answered or c.end or call_end
        offers.append(
            AgentOffer(
                call_id=call_id,
                extension=c.extension or "",
                queue=c.offered_queue,
                offered_at=c.dial_begin,
                ring_s=_r(ring_end - c.dial_begin),
                outcome=outcome,
            )
        )
    return offers


def _in_time_order(legs: list[Leg]) -> list[Leg]:
    """Rows sorted by start, ``leg_seq`` renumbered 0.. and transfer links following them."""
    legs.sort(key=lambda leg: (leg.started_at, leg.leg_seq))
    renumber = {leg.leg_seq: i for i, leg in enumerate(legs)}
    return [
        replace(
            leg,
            leg_seq=renumber[leg.leg_seq],
            transfer_from_leg=None if leg.transfer_from_leg is None else renumber.get(leg.transfer_from_leg),
        )
        for leg in legs
    ]


def fold_call(
    call_id: str,
    events: Sequence[ev.PbxEvent],
    *,
    pbx: str,
    project_variable: str = "CCAGENT_PROJECT",
    recording_variable: str = "MIXMONITOR_FILENAME",
) -> CallRecord | None:
    """Fold a finished call; None when the events describe nothing worth a row."""
    f = _Fold(call_id=call_id, project_variable=project_variable, recording_variable=recording_variable)
    for e in events:
        f.apply(e)
    if not f.order:
        return None
    first = f.chans[f.order[0]]
    cust = f.chans.get(f.customer) if f.customer else None
    call_end = max((c.hangup or c.end or f.last_ts) for c in f.chans.values())
    call_start = min(c.created for c in f.chans.values() if c.created is not None)
    if cust is None:
        direction = Direction.INTERNAL
        legs = _internal_legs(f, first, call_id)
    else:
        inbound = cust.uid == first.uid and not cust.originated
        direction = Direction.INBOUND if inbound else Direction.OUTBOUND
        legs = _customer_legs(f, _customer(f, cust, direction), call_id)
    offers = _offers(f, call_id, call_end)
    if not legs:
        return None
    legs = _in_time_order(legs)
    answered = any(leg.disposition is Disposition.ANSWERED for leg in legs)
    return CallRecord(
        call_id=call_id,
        pbx=pbx,
        direction=direction,
        disposition=Disposition.ANSWERED if answered else legs[0].disposition,
        caller=legs[0].caller,
        callee=legs[0].callee,
        started_at=call_start,
        ended_at=call_end,
        legs=tuple(legs),
        offers=tuple(offers),
        project=f.project,
        results=dict(f.results),
        reconciled=any(c.reconciled for c in f.chans.values()),
        amd=f.amd,
    )
