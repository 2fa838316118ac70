"""Route normalized events to calls and finish calls (SPEC R-LEG-1, R-PBX-5).

``CallTracker.apply(event)`` is the single entry point of the leg engine for
both PBXs.  It keeps the events of every open call; when the last channel of a
call hangs up, the call is folded (``fold.fold_call``) and returned.  The
tracker never reads a clock: reconciliation closes vanished channels at the
snapshot's timestamp, which the adapter supplies.

Idempotency: a finished call id is remembered (bounded), so late or replayed
events for it are dropped instead of producing a second, partial record.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import assert_never

from ccagent.core import pbx_events as ev
from ccagent.core.legs.fold import fold_call
from ccagent.core.legs.model import CallRecord

_FINISHED_MEMORY = 50_000


@dataclass(slots=True)
class OpenCall:
    call_id: str
    events: list[ev.PbxEvent] = field(default_factory=list)
    live: set[str] = field(default_factory=set)
    ended: set[str] = field(default_factory=set)


@dataclass(slots=True)
class Applied:
    """What one applied event produced: finished calls and agent status changes."""

    calls: list[CallRecord] = field(default_factory=list)
    agent_statuses: list[ev.AgentStatus] = field(default_factory=list)
    originate_results: list[ev.OriginateResult] = field(default_factory=list)
    dropped: int = 0  # events for calls already finished (late / replayed)
    failed: list[tuple[str, str]] = field(default_factory=list)  # (call id, error) the fold choked on
    failed_events: dict[str, list[ev.PbxEvent]] = field(default_factory=dict)
    # (absorbed call id, call id it went into): a picker's / retriever's own call merged into the
    # call it took (R-LEG-4); whoever journals calls drops the first and rewrites the second
    merged: list[tuple[str, str]] = field(default_factory=list)


class FoldError(Exception):
    def __init__(self, call_id: str, events: list[ev.PbxEvent]) -> None:
        super().__init__(call_id)
        self.call_id = call_id
        self.events = events


class CallTracker:
    def __init__(
        self,
        *,
        pbx: str,
        project_variable: str = "CCAGENT_PROJECT",
        recording_variable: str = "MIXMONITOR_FILENAME",
    ) -> None:
        self.pbx = pbx
        self.project_variable = project_variable
        self.recording_variable = recording_variable
        self.calls: dict[str, OpenCall] = {}
        self._chan_call: dict[str, str] = {}
        self._finished: OrderedDict[str, None] = OrderedDict()
        self._dead_channels: OrderedDict[str, None] = OrderedDict()
        self._lost_at: float | None = None  # when the connection dropped, until the next snapshot
        # channels adopted from a snapshot, under the call the listing guessed, until an event
        # of their own says which call they belong to
        self._adopted: dict[str, str] = {}

    # -- queries ---------------------------------------------------------------------
    def open_call_ids(self) -> list[str]:
        return list(self.calls)

    def events_of(self, call_id: str) -> list[ev.PbxEvent]:
        call = self.calls.get(call_id)
        return list(call.events) if call else []

    def call_of(self, channel: str) -> str | None:
        return self._chan_call.get(channel)

    # -- restoring from the journal --------------------------------------------------------
    def restore(self, call_id: str, events: Iterable[ev.PbxEvent]) -> None:
        """Re-open a call from journaled events after a daemon restart."""
        for e in events:
            self._route(e, call_id=call_id, journal_only=True)

    def finish_ended(self) -> Applied:
        """Fold the restored calls whose every channel has already hung up.

        The journal keeps a call whose fold failed (its events wait for a fixed version); once
        restored, no event will ever come for it, so it is folded now or it stays open, and
        re-loaded, at every restart.
        """
        out = Applied()
        for call in [c for c in self.calls.values() if not c.live and c.events]:
            try:
                out.calls.extend(self._finish(call))
            except FoldError as err:
                out.failed.append((err.call_id, str(err.__cause__)))
        return out

    def mark_finished(self, call_ids: Iterable[str]) -> None:
        for cid in call_ids:
            self._remember_finished(cid)

    # -- the engine ------------------------------------------------------------------------
    def apply(self, e: ev.PbxEvent) -> Applied:
        out = Applied()
        match e:
            case ev.ChannelEvent():  # every kind of event on a channel: the hot path, first and inline
                if isinstance(e, ev.ChannelCreated) and e.channel in self._adopted:
                    self._rehome(e.channel, e.call)
                if isinstance(e, ev.ChannelJoinsCall):
                    out.merged.extend(self._absorb(e.channel, e.call))
                try:
                    finished = self._route(e)
                except FoldError as err:
                    out.failed.append((err.call_id, str(err.__cause__)))
                    out.failed_events[err.call_id] = err.events
                    return out
                if finished is None:
                    out.dropped += 1
                elif finished:
                    out.calls.extend(finished)
            case ev.ChannelsSnapshot():
                out.calls.extend(self._reconcile(e))
                self._lost_at = None
            case ev.ConnectionLost():
                if self._lost_at is None:
                    self._lost_at = e.ts
            case ev.AgentStatus():
                out.agent_statuses.append(e)
            case ev.OriginateResult():
                out.originate_results.append(e)
                if e.channel and e.channel in self._chan_call:
                    self._route(e, call_id=self._chan_call[e.channel])
            case ev.Connected():
                pass  # the snapshot that follows is what counts
            case _:
                assert_never(e)
        return out

    def _call_for(self, e: ev.ChannelEvent) -> str:
        known = self._chan_call.get(e.channel)
        if known is not None:
            return known
        # An originate's DialBegin has no source channel: use the destination's call.
        if isinstance(e, ev.DialBegin) and (known := self._chan_call.get(e.dest)) is not None:
            return known
        return e.call

    def _route(
        self, e: ev.PbxEvent, *, call_id: str | None = None, journal_only: bool = False
    ) -> list[CallRecord] | None:
        if call_id is not None:
            cid = call_id
        elif isinstance(e, ev.ChannelEvent):
            cid = self._call_for(e)
        else:
            return None  # nothing ties it to a call
        if cid in self._finished:
            return None
        call = self.calls.get(cid)
        if call is None:
            if isinstance(e, ev.ChannelEvent) and e.channel in self._dead_channels:
                return None
            call = self.calls[cid] = OpenCall(call_id=cid)
        call.events.append(e)
        moved: list[OpenCall] = []
        for uid in _channels_of(e):
            if uid in self._adopted and not (isinstance(e, ev.ChannelEvent) and uid == e.channel):
                # an event of another channel (a queue connecting its agent, a dial) names the
                # call of a channel the listing had to guess
                self._rehome(uid, cid)
            if uid and uid not in call.ended and uid not in self._dead_channels and uid not in call.live:
                call.live.add(uid)
                previous = self._chan_call.get(uid)
                self._chan_call[uid] = cid
                if previous is not None and previous != cid and previous in self.calls:
                    # Damaged input claimed the channel for two calls: the newest wins.
                    other = self.calls[previous]
                    other.live.discard(uid)
                    if not other.live:
                        moved.append(other)
        finished: list[CallRecord] = []
        for other in moved:
            finished.extend(self._finish(other))
        if isinstance(e, ev.ChannelHangup):
            call.live.discard(e.channel)
            call.ended.add(e.channel)
            self._forget_channel(e.channel)
            if not call.live and not journal_only:
                return finished + self._finish(call)
        return finished

    def _absorb(self, uid: str, call_id: str) -> list[tuple[str, str]]:
        """A picker or a parked call's retriever takes ``call_id``: its own call becomes part of it.

        Dialling ``**101`` or a parking slot starts a call of the employee's own (its own Linkedid
        / call UUID); when the PBX hands over the ringing or parked caller, that dialling is not a
        call (R-LEG-4): its events join the taken call in time order, so the fold sees the
        employee's channel from its creation and the merged call finishes when both sides end.
        Returns the (absorbed, into) pair, or nothing when there is nothing to merge.
        """
        source_id = self._chan_call.get(uid)
        if source_id is None or source_id == call_id or call_id in self._finished:
            return []
        source = self.calls.get(source_id)
        first = next((x for x in source.events if isinstance(x, ev.ChannelEvent)), None) if source else None
        if source is None or first is None or first.channel != uid:
            return []  # not a call the channel started on its own: nothing of it is handed over
        del self.calls[source_id]
        target = self.calls.get(call_id)
        if target is None:
            target = self.calls[call_id] = OpenCall(call_id=call_id)
        for x in source.events:  # into time order, leaving the target's own events as they came
            at = next((i for i, y in enumerate(target.events) if y.ts > x.ts), len(target.events))
            target.events.insert(at, replace(x, call=call_id) if isinstance(x, ev.ChannelEvent) else x)
        target.live |= source.live
        target.ended |= source.ended
        for moved in source.live:
            self._chan_call[moved] = call_id
            if moved in self._adopted:
                self._adopted[moved] = call_id
        return [(source_id, call_id)]

    def _rehome(self, uid: str, call_id: str) -> None:
        """Move a snapshot-adopted channel to the call its first real event names (or claims it).

        A channel listed after a reconnect, whose creation fell in the gap, is adopted under
        the listing's call id; FreeSWITCH lists a mod_callcenter agent leg under its own uuid,
        not its customer's call.  Left there, the agent leg became a phantom missed call and
        the customer's call an abandoned one.  The listing's events (its creation time, its
        answer) go along, so the leg keeps its times.
        """
        guess = self._adopted.pop(uid)
        if guess == call_id:
            return
        source = self.calls.get(guess)
        if source is None or source.live != {uid}:
            return
        moving = [x for x in source.events if isinstance(x, ev.ChannelEvent) and x.channel == uid]
        if len(moving) != len(source.events):
            return  # the guess holds more than this channel: a call of its own, left as it is
        del self.calls[guess]  # it only ever held the guess: no call to finish
        del self._chan_call[uid]
        target = self.calls.get(call_id)
        if target is None:
            if call_id in self._finished:
                return
            target = self.calls[call_id] = OpenCall(call_id=call_id)
        for x in moving:  # into time order, leaving the target's own events as they came
            at = next((i for i, y in enumerate(target.events) if y.ts > x.ts), len(target.events))
            target.events.insert(at, replace(x, call=call_id))
        target.live.add(uid)
        self._chan_call[uid] = call_id

    def _forget_channel(self, uid: str) -> None:
        self._adopted.pop(uid, None)
        self._chan_call.pop(uid, None)
        self._dead_channels[uid] = None
        if len(self._dead_channels) > _FINISHED_MEMORY:
            self._dead_channels.popitem(last=False)

    def _remember_finished(self, cid: str) -> None:
        self._finished[cid] = None
        if len(self._finished) > _FINISHED_MEMORY:
            self._finished.popitem(last=False)

    def _finish(self, call: OpenCall) -> list[CallRecord]:
        self.calls.pop(call.call_id, None)
        self._remember_finished(call.call_id)
        for uid in call.live:
            self._forget_channel(uid)
        try:
            rec = fold_call(
                call.call_id,
                call.events,
                pbx=self.pbx,
                project_variable=self.project_variable,
                recording_variable=self.recording_variable,
            )
        except Exception as exc:
            # Contain a fold bug to its call and hand its events back (nothing lost).
            raise FoldError(call.call_id, call.events) from exc
        return [rec] if rec is not None else []

    # -- reconciliation (R-PBX-5) ---------------------------------------------------------------
    def _reconcile(self, snap: ev.ChannelsSnapshot) -> list[CallRecord]:
        """Close channels the PBX no longer has; adopt live ones we never saw."""
        listed = {item.channel: item for item in snap.channels}
        done: list[CallRecord] = []
        for item in snap.channels:
            if not item.call or item.channel in self._chan_call or item.channel in self._dead_channels:
                continue
            if item.call in self._finished:
                continue
            created = ev.ChannelCreated(
                ts=item.started_ts if item.started_ts is not None else snap.ts,
                channel=item.channel,
                call=item.call,
                name=item.name,
                party=item.party,
                extension=item.extension,
                caller_num=item.caller_num,
                caller_name=item.caller_name,
                exten=item.exten,
                context=None,
                originated=False,
            )
            self._route(created)
            self._adopted[item.channel] = item.call
            if item.up:
                self._route(ev.ChannelAnswered(ts=snap.ts, channel=item.channel, call=item.call))
        if not snap.complete:
            return done
        # A channel that vanished ended somewhere between the last event we saw
        # and now; the moment the connection dropped is the best estimate.
        closed_at = self._lost_at if self._lost_at is not None else snap.ts
        for call in list(self.calls.values()):
            for uid in sorted(call.live - listed.keys()):
                last = call.events[-1].ts if call.events else closed_at
                result = self._route(
                    ev.ChannelHangup(
                        ts=max(closed_at, last),
                        channel=uid,
                        call=call.call_id,
                        cause=0,
                        cause_text="reconciled",
                        reconciled=True,
                    ),
                    call_id=call.call_id,
                )
                if result:
                    done.extend(result)
        return done


def _channels_of(e: ev.PbxEvent) -> tuple[str, ...]:
    """Channels an event proves alive (and so belonging to its call)."""
    match e:
        case ev.DialBegin():
            return (e.channel, e.dest)
        case ev.LocalPair():
            return (e.channel, e.other)
        case ev.QueueAgentCalled() | ev.QueueAgentConnect():
            return (e.channel, e.member)
        case ev.ChannelEvent():
            return (e.channel,)
        case (
            ev.OriginateResult()
            | ev.AgentStatus()
            | ev.ChannelsSnapshot()
            | ev.ConnectionLost()
            | ev.Connected()
        ):
            return ()
        case _:
            assert_never(e)
