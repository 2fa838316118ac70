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
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace

from ccagent.core import pbx_events as ev
from ccagent.core.legs.model import (
    AgentOffer,
    CallRecord,
    Direction,
    Disposition,
    Leg,
    OfferOutcome,
    Role,
)
from ccagent.core.pbx_events import DialStatus, PartyKind

# Q.850 causes -> disposition of an unanswered outbound attempt.
_BUSY_CAUSES = frozenset({17})
_NO_ANSWER_CAUSES = frozenset({18, 19, 21, 31})
_FAILED_DIAL = {
    DialStatus.BUSY: Disposition.BUSY,
    DialStatus.NOANSWER: Disposition.NO_ANSWER,
    DialStatus.CONGESTION: Disposition.FAILED,
    DialStatus.CHANUNAVAIL: Disposition.FAILED,
}

# UserEvent name -> {field: result key}: what the dialplans in dialplan/ report.
RESULT_EVENTS: dict[str, dict[str, str]] = {
    "CcagentResult": {"Digit": "autoinformer_digit", "Result": "autoinformer_result"},
    "CcagentAmd": {"Status": "amd_status", "Cause": "amd_cause"},
    "CcagentRobotResult": {"Result": "robot_result"},
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
    queue_abandoned: bool = False
    offered_queue: str | None = None  # queue that rang this member channel
    offer_outcome: OfferOutcome | None = None
    spy: tuple[str, str] | None = None  # (spyee extension, mode)
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
    ended_by: str | None = None  # uid of the channel whose request ended it, or "transfer"
    transfer_from: int | None = None  # index into legs
    transfer_kind: str | None = None
    ring_ref: float | None = None  # blind transfer: when the previous leg ended
    queue: str | None = None


@dataclass(slots=True)
class _Fold:
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

    # -- topology ----------------------------------------------------------------
    def component(self, start: str) -> set[str]:
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

    def close_leg(self, leg: _OpenLeg, ts: float, by: str) -> None:
        if leg.end is None:
            leg.end = ts
            leg.ended_by = by

    def relink(self, ts: float) -> None:
        """Open legs for employees newly connected to the customer or to a leg's employee."""
        cust = self.customer
        if cust is None:
            return
        comp = self.component(cust)
        open_main = {leg.agent: leg for leg in self._open(Role.MAIN)}
        for uid in sorted(comp, key=self.rank.__getitem__):
            if not self._is_agent(uid) or uid in open_main:
                continue
            c = self.chans[uid]
            if c.answered is None:
                continue
            # A consultation whose transferor left (or is still there) turns into
            # the attended transfer once its agent reaches the customer.
            consult = next(
                (
                    leg
                    for leg in reversed(self.legs)
                    if leg.role is Role.CONSULTATION and leg.agent == uid and leg.ended_by in (None, leg.peer)
                ),
                None,
            )
            previous = [leg for leg in self.legs if leg.role is Role.MAIN]
            new = _OpenLeg(agent=uid, role=Role.MAIN, connected=ts, queue=c.offered_queue)
            if consult is not None:
                # Attended transfer completed: the consulted agent now has the customer.
                self.close_leg(consult, ts, "transfer")
                new.transfer_kind = "attended"
                src = next(
                    (
                        i
                        for i, leg in enumerate(self.legs)
                        if leg.role is Role.MAIN and leg.agent == consult.peer
                    ),
                    None,
                )
                new.transfer_from = src
            elif previous and all(leg.end is not None for leg in previous):
                # The customer moved on from an employee who left: blind transfer
                # (BlindTransfer, SIP REFER or a bare AMI Redirect).
                last = max(previous, key=lambda leg: leg.end or 0.0)
                new.transfer_kind = "blind"
                new.transfer_from = self.legs.index(last)
                new.ring_ref = last.end
            self.legs.append(new)
            open_main[uid] = new
        # Consultations: an employee reached from a leg's employee, not from the customer.
        for leg in list(self._open(Role.MAIN)):
            if leg.agent in comp:
                continue
            for uid in self.component(leg.agent):
                if uid == leg.agent or uid in comp or not self._is_agent(uid):
                    continue
                c = self.chans[uid]
                if c.answered is None:
                    continue
                if any(x.agent == uid and x.end is None for x in self.legs):
                    continue
                self.legs.append(_OpenLeg(agent=uid, role=Role.CONSULTATION, connected=ts, peer=leg.agent))

    # -- event application -------------------------------------------------------------
    def apply(self, e: ev.PbxEvent) -> None:
        ts = e.ts
        if ts > self.last_ts:
            self.last_ts = ts
        match e:
            case ev.ChannelCreated():
                c = self.chan(e.channel, ts)
                c.created = ts if c.created is None or not c.name else c.created
                c.name, c.party, c.extension = e.name, e.party, e.extension
                c.caller_num = c.first_caller_num = e.caller_num
                c.caller_name = c.first_caller_name = e.caller_name
                c.exten, c.originated = e.exten, e.originated
                if self.customer is None and e.party is PartyKind.EXTERNAL:
                    self.customer = e.channel
            case ev.CallerIdChanged():
                c = self.chan(e.channel, ts)
                c.caller_num = e.caller_num or c.caller_num
                c.caller_name = e.caller_name or c.caller_name
            case ev.ChannelRinging():
                c = self.chan(e.channel, ts)
                if c.ringing is None:
                    c.ringing = ts
            case ev.ChannelAnswered():
                c = self.chan(e.channel, ts)
                if c.answered is None:
                    c.answered = ts
                    self.relink(ts)
            case ev.HangupRequested():
                c = self.chan(e.channel, ts)
                if c.hangup_req is None:
                    c.hangup_req = ts
                    c.hangup_req_soft = e.by_ami
                    self._party_left(e.channel, ts)
            case ev.ChannelHangup():
                c = self.chan(e.channel, ts)
                if c.hangup is None:
                    c.hangup, c.cause, c.reconciled = ts, e.cause, e.reconciled
                    if c.hangup_req is None:
                        self._party_left(e.channel, ts)
                    b = self.in_bridge.pop(e.channel, None)
                    if b is not None:
                        self.bridges.get(b, set()).discard(e.channel)
                    if c.offer_outcome is None and c.answered is None and c.party is PartyKind.EXTENSION:
                        c.offer_outcome = _offer_outcome(c)
            case ev.DialBegin():
                c = self.chan(e.dest, ts)
                c.dialed_by = e.channel
                c.dial_begin = ts
                c.dial_string = e.dial_string
                src = self.chans.get(e.channel)
                if src is not None:
                    c.presented = (src.caller_num, src.caller_name)
            case ev.DialEnd():
                c = self.chan(e.dest, ts)
                if c.dial_status is None or c.dial_status is DialStatus.CANCEL:
                    c.dial_status = e.status
            case ev.BridgeEnter():
                self.chan(e.channel, ts)
                old = self.in_bridge.get(e.channel)
                if old is not None:
                    self.bridges.get(old, set()).discard(e.channel)
                self.bridges.setdefault(e.bridge, set()).add(e.channel)
                self.in_bridge[e.channel] = e.bridge
                self.relink(ts)
            case ev.BridgeLeave():
                if self.in_bridge.get(e.channel) == e.bridge:
                    del self.in_bridge[e.channel]
                self.bridges.get(e.bridge, set()).discard(e.channel)
            case ev.LocalPair():
                self.chan(e.channel, ts)
                self.chan(e.other, ts)
                self.pairs[e.channel] = e.other
                self.pairs[e.other] = e.channel
                self.relink(ts)
            case ev.QueueJoin():
                c = self.chan(e.channel, ts)
                if c.queue_join is None:
                    c.queue, c.queue_join = e.queue, ts
            case ev.QueueAgentCalled():
                if e.member:
                    self.chan(e.member, ts).offered_queue = e.queue
            case ev.QueueAgentNoAnswer():
                if e.member:
                    self.chan(e.member, ts).offer_outcome = OfferOutcome.NO_ANSWER
            case ev.QueueAbandon():
                self.chan(e.channel, ts).queue_abandoned = True
            case ev.Transfer():
                if e.kind == "blind":
                    for leg in self._open(Role.MAIN):
                        if leg.agent == e.transferer:
                            self.close_leg(leg, ts, "transfer")
            case ev.ChannelJoinsCall() if e.how != "linkedid":  # a bare Linkedid switch has no moment
                self._taken_over(e.channel, ts)
            case ev.Parked():
                self._parked(e.channel, ts)
            case ev.SpyStarted():
                c = self.chan(e.channel, ts)
                if c.spy is None:
                    c.spy = (e.spyee_extension or "", e.mode)
            case ev.VariableSet():
                if e.name == self.project_variable and e.value:
                    self.project = e.value
                elif e.name == self.recording_variable and e.value:
                    self._recording_started(e.channel, e.value, ts)
            case ev.UserEvent():
                keys = RESULT_EVENTS.get(e.name)
                if keys:
                    for k, v in e.fields:
                        if k in keys:
                            self.results[keys[k]] = v or None
            case _:
                pass

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
            self.close_leg(leg, ts, "transfer")

    def _party_left(self, uid: str, ts: float) -> None:
        if uid == self.customer:
            for leg in self._open(Role.MAIN):
                self.close_leg(leg, ts, uid)
        for leg in self._open():
            if leg.agent == uid or (leg.role is Role.CONSULTATION and leg.peer == uid):
                self.close_leg(leg, ts, uid)


def _offer_outcome(c: _Chan) -> OfferOutcome:
    if c.cause == 26:
        return OfferOutcome.ANSWERED_ELSEWHERE
    if c.cause in _BUSY_CAUSES or c.cause == 21 or c.dial_status is DialStatus.BUSY:
        return OfferOutcome.REJECTED
    if c.dial_status is DialStatus.NOANSWER or c.cause in (18, 19):
        return OfferOutcome.NO_ANSWER
    return OfferOutcome.CALLER_HANGUP


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
    reconciled = any(c.reconciled for c in f.chans.values())
    call_start = min(c.created for c in f.chans.values() if c.created is not None)

    legs: list[Leg] = []
    offers: list[AgentOffer] = []
    legged_agents = {leg.agent for leg in f.legs}

    if cust is None:
        direction = Direction.INTERNAL
        legs = _internal_legs(f, first, call_id)
    else:
        inbound = cust.uid == first.uid and not cust.originated
        direction = Direction.INBOUND if inbound else Direction.OUTBOUND
        legs = _customer_legs(f, cust, first, call_id, direction)

    for uid in f.order:
        c = f.chans[uid]
        if c.party is not PartyKind.EXTENSION or c.dial_begin is None:
            continue
        if uid in legged_agents or c.answered is not None:
            outcome = OfferOutcome.ANSWERED
        else:
            outcome = c.offer_outcome or _offer_outcome(c)
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

    if not legs:
        return None
    legs.sort(key=lambda leg: (leg.started_at, leg.leg_seq))
    renumber = {leg.leg_seq: i for i, leg in enumerate(legs)}
    legs = [
        _replace_seq(
            leg,
            renumber[leg.leg_seq],
            None if leg.transfer_from_leg is None else renumber.get(leg.transfer_from_leg),
        )
        for leg in legs
    ]
    if any(leg.disposition is Disposition.ANSWERED for leg in legs):
        disposition = Disposition.ANSWERED
    else:
        disposition = legs[0].disposition
    return CallRecord(
        call_id=call_id,
        pbx=pbx,
        direction=direction,
        disposition=disposition,
        caller=legs[0].caller,
        callee=legs[0].callee,
        started_at=call_start,
        ended_at=call_end,
        legs=tuple(legs),
        offers=tuple(offers),
        project=f.project,
        results=dict(f.results),
        reconciled=reconciled,
    )


def _replace_seq(leg: Leg, seq: int, tfrom: int | None) -> Leg:
    return replace(leg, leg_seq=seq, transfer_from_leg=tfrom)


def _hangup_by(f: _Fold, leg: _OpenLeg, cust: _Chan | None, customer_word: str) -> str | None:
    if leg.ended_by == "transfer":
        return "transfer"
    by = f.chans.get(leg.ended_by or "")
    if by is None:
        return None
    if by.hangup_req_soft:
        return "pbx"
    if cust is not None and by.uid == cust.uid:
        return customer_word
    return "agent"


def _ended_cause(f: _Fold, leg: _OpenLeg) -> int | None:
    by = f.chans.get(leg.ended_by or "")
    if by is not None:
        return by.cause
    return f.chans[leg.agent].cause


def _customer_legs(f: _Fold, cust: _Chan, first: _Chan, call_id: str, direction: Direction) -> list[Leg]:
    inbound = direction is Direction.INBOUND
    customer_word = "caller" if inbound else "callee"
    # Who presented the call to the customer: the dialling side's caller ID for
    # a dialer call, the employee's extension for callbacks and manual calls.
    dialer_src = f.chans.get(cust.dialed_by or "")
    agent_src: _Chan | None = None
    if inbound:
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
    queue = queue_chan.queue if queue_chan else None
    cust_end = cust.end if cust.end is not None else f.last_ts
    legs: list[Leg] = []
    main_index: dict[int, int] = {}
    for i, ol in enumerate(f.legs):
        a = f.chans[ol.agent]
        end = ol.end if ol.end is not None else (a.end or cust_end)
        reconciled = (f.chans.get(ol.ended_by or "") or a).reconciled
        if ol.role is Role.CONSULTATION:
            peer = f.chans.get(ol.peer or "")
            ring = (a.answered or ol.connected) - (a.dial_begin or a.created or ol.connected)
            legs.append(
                Leg(
                    call_id=call_id,
                    leg_seq=i,
                    direction=Direction.INTERNAL,
                    caller=peer.extension if peer else None,
                    caller_name=None,
                    callee=a.extension,
                    extension=a.extension,
                    answered=True,
                    disposition=Disposition.ANSWERED,
                    transfer_from_leg=None,
                    transfer_kind=None,
                    role=Role.CONSULTATION,
                    queue=None,
                    project=f.project,
                    started_at=a.dial_begin or ol.connected,
                    answered_at=a.answered,
                    ended_at=end,
                    ring_s=_r(ring),
                    talk_s=_r(end - max(ol.connected, a.answered or 0.0)),
                    hangup_cause=_ended_cause(f, ol),
                    hangup_by=_hangup_by(f, ol, cust, customer_word),
                    channel=a.uid,
                    reconciled=reconciled,
                    recording=f.recording_of((a.uid, ol.peer), end),
                )
            )
            continue
        main_index[i] = len(legs)
        if inbound:
            if ol.transfer_kind == "attended":
                ring, started = 0.0, ol.connected
            elif ol.transfer_kind == "blind":
                ref = ol.ring_ref if ol.ring_ref is not None else (a.dial_begin or ol.connected)
                ring, started = (a.answered or ol.connected) - ref, ref
            else:
                ref = (
                    cust.queue_join
                    if cust.queue_join is not None and (cust.queue_join <= (a.answered or ol.connected))
                    else cust.created
                )
                if ref is None:
                    ref = ol.connected
                ring, started = (a.answered or ol.connected) - ref, ref
            leg_caller, leg_callee = caller, (callee if ol.transfer_kind is None else a.extension)
        else:
            ring = (cust.answered or ol.connected) - (cust.dial_begin or cust.created or ol.connected)
            started = cust.dial_begin or cust.created or ol.connected
            leg_caller, leg_callee = caller, callee
            if ol.transfer_kind is not None:
                leg_callee = a.extension
        legs.append(
            Leg(
                call_id=call_id,
                leg_seq=i,
                direction=direction,
                caller=leg_caller,
                caller_name=caller_name,
                callee=leg_callee,
                extension=a.extension,
                answered=True,
                disposition=Disposition.ANSWERED,
                transfer_from_leg=ol.transfer_from,
                transfer_kind=ol.transfer_kind,
                role=Role.MAIN,
                queue=ol.queue or queue,
                project=f.project,
                started_at=started,
                answered_at=a.answered,
                ended_at=end,
                ring_s=_r(ring),
                talk_s=_r(end - ol.connected),
                hangup_cause=_ended_cause(f, ol),
                hangup_by=_hangup_by(f, ol, cust, customer_word),
                channel=a.uid,
                reconciled=reconciled,
                recording=f.recording_of((cust.uid, a.uid), end),
            )
        )
    if any(leg.role is Role.MAIN for leg in legs):
        return legs

    # Nobody took the customer: exactly one leg says what happened.
    end = cust_end
    ring_started = cust.created if cust.created is not None else end
    by = "pbx" if cust.hangup_req_soft else customer_word

    def only_leg(
        ext: str | None,
        answered: bool,
        disp: Disposition,
        started: float,
        answered_at: float | None,
        ring: float,
        talk: float,
    ) -> list[Leg]:
        leg = Leg(
            call_id=call_id,
            leg_seq=0,
            direction=direction,
            caller=caller,
            caller_name=caller_name,
            callee=callee,
            extension=ext,
            answered=answered,
            disposition=disp,
            transfer_from_leg=None,
            transfer_kind=None,
            role=Role.MAIN,
            queue=queue,
            project=f.project,
            started_at=started,
            answered_at=answered_at,
            ended_at=end,
            ring_s=_r(ring),
            talk_s=_r(talk),
            hangup_cause=cust.cause,
            hangup_by=by,
            channel=cust.uid,
            reconciled=cust.reconciled,
            recording=f.recording_of((cust.uid,), end),
        )
        return [*legs, leg]

    if inbound:
        rang = [
            f.chans[u]
            for u in f.order
            if f.chans[u].party is PartyKind.EXTENSION and f.chans[u].dial_begin is not None
        ]
        if queue_chan is not None:
            disp, ext, ring_from = Disposition.ABANDONED, None, queue_chan.queue_join or ring_started
        else:
            disp, ext, ring_from = Disposition.MISSED, (rang[-1].extension if rang else None), ring_started
        return only_leg(ext, False, disp, ring_started, None, end - ring_from, 0.0)
    dial_start = cust.dial_begin or cust.created or end
    ext = agent_src.extension if agent_src else None
    if cust.answered is None:
        return only_leg(ext, False, _unanswered_disposition(cust), dial_start, None, end - dial_start, 0.0)
    if queue_chan is not None:
        # Answered, queued for an operator, never connected: abandoned even if
        # the PBX played a message (FTC safe harbour), talk 0 (R-LEG-4).
        disp, talk = Disposition.ABANDONED, 0.0
    else:
        # Autoinformer / robot / AMD: the customer talked to the PBX.
        disp, talk = Disposition.ANSWERED, end - cust.answered
    return only_leg(ext, True, disp, dial_start, cust.answered, cust.answered - dial_start, talk)


def _unanswered_disposition(c: _Chan) -> Disposition:
    if c.cause in _BUSY_CAUSES:
        return Disposition.BUSY
    if c.cause in _NO_ANSWER_CAUSES:
        return Disposition.NO_ANSWER
    if c.dial_status in _FAILED_DIAL:
        return _FAILED_DIAL[c.dial_status]
    if c.cause in (16, 0, None) or c.dial_status is DialStatus.CANCEL:
        return Disposition.NO_ANSWER
    return Disposition.FAILED


def _internal_legs(f: _Fold, first: _Chan, call_id: str) -> list[Leg]:
    end_all = first.end if first.end is not None else f.last_ts
    if first.spy is not None:
        role = {
            "listen": Role.SUPERVISOR_LISTEN,
            "whisper": Role.SUPERVISOR_WHISPER,
            "barge": Role.SUPERVISOR_BARGE,
        }[first.spy[1]]
        start = first.dial_begin or first.created or end_all
        ans = first.answered
        return [
            Leg(
                call_id=call_id,
                leg_seq=0,
                direction=Direction.INTERNAL,
                caller=first.extension,
                caller_name=None,
                callee=first.spy[0] or None,
                extension=first.extension,
                answered=ans is not None,
                disposition=Disposition.ANSWERED if ans else Disposition.MISSED,
                transfer_from_leg=None,
                transfer_kind=None,
                role=role,
                queue=None,
                project=None,
                started_at=start,
                answered_at=ans,
                ended_at=end_all,
                ring_s=_r((ans or end_all) - start),
                talk_s=_r(end_all - ans) if ans else 0.0,
                hangup_cause=first.cause,
                hangup_by="caller" if not first.hangup_req_soft else "pbx",
                channel=first.uid,
                reconciled=first.reconciled,
                recording=f.recording_of((first.uid,), end_all),
            )
        ]
    if first.party is not PartyKind.EXTENSION:
        return []
    # The employee phones the caller dialled (directly or through Local channels).
    targets = [f.chans[u] for u in f.order if u != first.uid and f.chans[u].party is PartyKind.EXTENSION]
    answered = next((t for t in targets if t.answered is not None), None)
    start = first.created if first.created is not None else end_all
    callee = first.exten if first.exten and first.exten != "s" else None
    if callee is None and targets:
        callee = targets[-1].extension
    if answered is not None:
        ended = min(x for x in (first.end, answered.end, end_all) if x is not None)
        by = "caller" if first.end is not None and first.end <= (answered.end or ended) else "callee"
        return [
            Leg(
                call_id=call_id,
                leg_seq=0,
                direction=Direction.INTERNAL,
                caller=first.extension,
                caller_name=first.first_caller_name,
                callee=answered.extension or callee,
                extension=first.extension,
                answered=True,
                disposition=Disposition.ANSWERED,
                transfer_from_leg=None,
                transfer_kind=None,
                role=Role.MAIN,
                queue=None,
                project=f.project,
                started_at=start,
                answered_at=answered.answered,
                ended_at=ended,
                ring_s=_r(answered.answered - start),
                talk_s=_r(ended - answered.answered),
                hangup_cause=first.cause,
                hangup_by=by,
                channel=first.uid,
                reconciled=first.reconciled,
                recording=f.recording_of((first.uid, answered.uid), ended),
            )
        ]
    last = targets[-1] if targets else None
    disp = Disposition.MISSED
    if last is not None and (last.cause in _BUSY_CAUSES or last.dial_status is DialStatus.BUSY):
        disp = Disposition.BUSY
    return [
        Leg(
            call_id=call_id,
            leg_seq=0,
            direction=Direction.INTERNAL,
            caller=first.extension,
            caller_name=first.first_caller_name,
            callee=(last.extension if last else callee),
            extension=first.extension,
            answered=False,
            disposition=disp,
            transfer_from_leg=None,
            transfer_kind=None,
            role=Role.MAIN,
            queue=None,
            project=f.project,
            started_at=start,
            answered_at=None,
            ended_at=end_all,
            ring_s=_r(end_all - start),
            talk_s=0.0,
            hangup_cause=first.cause,
            hangup_by="caller",
            channel=first.uid,
            reconciled=first.reconciled,
            recording=f.recording_of((first.uid,), end_all),
        )
    ]
