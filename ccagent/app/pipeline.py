"""Raw PBX message -> translator -> leg engine -> store: the one path for ingest and daemon.

Single-threaded by design (STYLE lesson 8): the daemon's one consumer and the
offline ingest both call :meth:`Pipeline.feed` in arrival order and
:meth:`Pipeline.flush` to commit.  Failures are contained at the smallest unit
(one message, one call) and logged with the PBX ids; nothing raises out of
``feed`` for bad PBX data (R-SAFE-1).

Threads: :meth:`Pipeline.commit` is the only part that may run in a worker thread (the daemon
awaits it there so the event loop never blocks on the database); it returns the calls it stored,
and the caller hands them to :meth:`Pipeline.dispatch` on its own thread.  Listeners above the leg
engine (the dialer, project rules) thus never run in the flush worker thread.

Durability (R-PBX-5, R-SAFE-2): events of calls still open are journaled at
each flush; a finished call's rows replace any earlier version and its journal
entries are dropped in the same flush, so a crash between two flushes at worst
re-folds a call from its journal, never duplicates it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from ccagent.app.metrics import Metrics
from ccagent.core import pbx_events as ev
from ccagent.core.legs.model import CallRecord
from ccagent.core.legs.tracker import CallTracker
from ccagent.core.mapping import EmployeeMapper
from ccagent.log import customer
from ccagent.pbx.port import Translator
from ccagent.storage.journal import EventJournal
from ccagent.storage.repositories import CallStore, save_isolating

log = logging.getLogger(__name__)

_ID_HEADERS = ("Event", "Uniqueid", "Linkedid", "ActionID", "Unique-ID", "Event-Name", "Job-UUID")


def message_ids(msg: Mapping[str, str]) -> str:
    """The ids worth logging for a message (never its whole content: it may carry secrets)."""
    return " ".join(f"{k}={msg.get(k)}" for k in _ID_HEADERS if msg.get(k))


@dataclass
class _Pending:
    calls: dict[str, CallRecord] = field(default_factory=dict)
    statuses: list[ev.AgentStatus] = field(default_factory=list)
    journal: dict[str, list[ev.PbxEvent]] = field(default_factory=dict)
    drop: set[str] = field(default_factory=set)
    rewrite: set[str] = field(default_factory=set)  # journal rows replaced by ``journal``'s, not added to
    arrivals: list[float] = field(default_factory=list)  # monotonic arrival times (latency metric)

    def __len__(self) -> int:
        return len(self.calls) + len(self.statuses) + sum(len(v) for v in self.journal.values())


class Pipeline:
    def __init__(
        self,
        *,
        pbx: str,
        translator: Translator,
        tracker: CallTracker,
        store: CallStore,
        journal: EventJournal,
        mapper: EmployeeMapper,
        metrics: Metrics | None = None,
        journal_open_calls: bool = True,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.pbx = pbx
        self.translator = translator
        self.tracker = tracker
        self.store = store
        self.journal = journal
        self.mapper = mapper
        self.metrics = metrics or Metrics()
        self.journal_open_calls = journal_open_calls
        self._monotonic = monotonic
        self._pending = _Pending()
        self._journaled: set[str] = set()  # calls with rows in the journal table
        self.on_call: Callable[[CallRecord], None] | None = None  # single hook (benchmarks, tests)
        # Consumers above the leg engine: events as applied, calls as committed (by dispatch, on the
        # caller's thread: never the flush worker's).
        self.event_listeners: list[Callable[[ev.PbxEvent], None]] = []
        self.call_listeners: list[Callable[[CallRecord], None]] = []

    # -- start-up ---------------------------------------------------------------------------
    def restore(self) -> int:
        """Re-open calls journaled by a previous run; returns how many."""
        open_calls = self.journal.load_open()
        # A flush stores a finished call, then drops its journal rows: a crash between the two
        # leaves rows of a call already stored.  Re-opened, the reconnect's listing would close
        # it again, with a guessed end, over the right row.
        stored = self.store.stored_among(list(open_calls))
        if stored:
            log.warning("journal held %d call(s) already stored (a crash mid-flush); dropped", len(stored))
            self.journal.drop(sorted(stored))
            self.tracker.mark_finished(stored)
            open_calls = {cid: evs for cid, evs in open_calls.items() if cid not in stored}
        for call_id, events in open_calls.items():
            self.tracker.restore(call_id, events)
            self._journaled.add(call_id)
        # FreeSWITCH: which channel is whose lives in the translator; AMI: a spy's ChanSpy options
        self.translator.restore([e for events in open_calls.values() for e in events])
        ended = self.tracker.finish_ended()  # calls whose fold failed last time: tried again
        for rec in ended.calls:
            self._pending.calls[rec.call_id] = self.mapper.assign(rec)
            self._pending.drop.add(rec.call_id)
        for cid, error in ended.failed:
            self.metrics.bad_events.labels("fold").inc()
            log.error("could not fold call %s (its events stay in the journal): %s", cid, error)
        self.metrics.open_calls.set(len(self.tracker.calls))
        return len(open_calls)

    # -- the hot path -------------------------------------------------------------------------
    def feed(self, msg: Mapping[str, str], now: float | None = None, arrived: float | None = None) -> None:
        """Translate and apply one raw PBX message; bad ones are logged, counted, skipped."""
        self.metrics.messages.inc()
        try:
            events = self.translator.translate(msg, now)
        except Exception as exc:
            self.metrics.bad_events.labels("translate").inc()
            log.warning(
                "skipping untranslatable PBX message %s: %s: %s",
                message_ids(msg),
                type(exc).__name__,
                customer(exc),  # it may quote a field's value: a number, a caller's name
            )
            return
        for e in events:
            self.apply(e, arrived)

    def apply(self, e: ev.PbxEvent, arrived: float | None = None) -> None:
        self.metrics.events.inc()
        try:
            out = self.tracker.apply(e)
        except Exception as exc:
            self.metrics.bad_events.labels("apply").inc()
            log.exception(
                "skipping PBX event that broke the leg engine: %s call=%s channel=%s: %s",
                type(e).__name__,
                getattr(e, "call", None),
                customer(getattr(e, "channel", None)),  # Local/0601020304@from-internal-...
                customer(exc),
            )
            return
        p = self._pending
        if out.dropped:
            self.metrics.dropped_late.inc(out.dropped)
        if arrived is not None:
            p.arrivals.append(arrived)
        if isinstance(e, ev.ChannelEvent) and self.journal_open_calls:
            cid = self.tracker.call_of(e.channel) or e.call
            if cid in self.tracker.calls:
                p.journal.setdefault(cid, []).append(e)
        for absorbed, into in out.merged:
            self._journal_merge(absorbed, into)
        for rec in out.calls:
            if rec.reconciled:
                self.metrics.reconciled.inc()
            p.calls[rec.call_id] = self.mapper.assign(rec)
            p.journal.pop(rec.call_id, None)
            if rec.call_id in self._journaled:
                p.drop.add(rec.call_id)
        for cid, error in out.failed:
            self.metrics.bad_events.labels("fold").inc()
            log.error("could not fold call %s (its events stay in the journal): %s", cid, error)
            p.journal.setdefault(cid, []).extend(out.failed_events.get(cid, []))
        p.statuses.extend(out.agent_statuses)
        for listener in self.event_listeners:
            try:
                listener(e)
            except Exception:  # a listener bug must not stop the leg engine
                self.metrics.bad_events.labels("listener").inc()
                log.exception("event listener %r failed on %s", listener, type(e).__name__)

    def _journal_merge(self, absorbed: str, into: str) -> None:
        """A pickup / park retrieval merged call ``absorbed`` into ``into`` (R-LEG-4, R-SAFE-2).

        The absorbed call's journal rows would be resumed after a restart as a call of its own,
        and the merged call's rows would lack the events it took over: the first are dropped and
        the second rewritten whole, in the same flush.
        """
        p = self._pending
        p.journal.pop(absorbed, None)
        if absorbed in self._journaled:
            p.drop.add(absorbed)
        if self.journal_open_calls and into in self.tracker.calls:
            p.journal[into] = self.tracker.events_of(into)
            p.rewrite.add(into)

    def connection_lost(self, now: float | None = None) -> None:
        """The PBX connection (or capture file) ended: events from here to the next snapshot are lost."""
        self.apply(ev.ConnectionLost(ts=self.translator.last_ts if now is None else now))

    def reconnected(self) -> None:
        """A connection after the first is up; its snapshot (fed next) reconciles the open calls."""
        self.metrics.reconnects.inc()

    # -- commit ---------------------------------------------------------------------------------
    @property
    def pending(self) -> int:
        return len(self._pending)

    def flush(self, *, final: bool = False) -> int:
        """:meth:`commit` then :meth:`dispatch` on this thread (ingest, tests); returns the calls written."""
        records = self.commit(final=final)
        self.dispatch(records)
        return len(records)

    def commit(self, *, final: bool = False) -> list[CallRecord]:
        """Write what is pending; returns the calls written, for :meth:`dispatch`.

        ``final`` (end of an ingest) journals every call still open, so a later
        run can finish it (successive connections, R-PBX-6).  Raises on a
        database error with the pending work kept for the next attempt.  Touches
        no listener: safe in a worker thread while the owner of the pipeline waits.
        """
        p = self._pending
        if final and not self.journal_open_calls:
            for cid in self.tracker.open_call_ids():
                # a call restored from the journal has this run's events after its old ones:
                # its rows are rewritten whole, or the next run would resume it without them
                p.journal[cid] = self.tracker.events_of(cid)
                if cid in self._journaled:
                    p.rewrite.add(cid)
        if not p.calls and not p.statuses and not p.journal and not p.drop:
            return []
        records = list(p.calls.values())
        # An unreachable database raises here and the caller retries with everything kept; a call
        # the database refuses, or one no row can hold, is named and skipped: retrying it would
        # wedge every later call behind it.
        failed = self.store.save_calls_isolating(records, offer_employee=self.mapper.employee_of)
        for cid, reason in failed.items():
            self.metrics.bad_events.labels("store").inc()
            log.error("call %s could not be stored and was skipped: %s", cid, reason)
        if p.statuses:
            bad = save_isolating(
                lambda batch: self.store.save_agent_statuses(
                    batch, pbx=self.pbx, employee_of=self.mapper.employee_of
                ),
                p.statuses,
                lambda s: f"{s.extension} {s.action} at {s.ts}",
            )
            for status, reason in bad.items():
                self.metrics.bad_events.labels("store").inc()
                log.error("agent status %s could not be stored and was skipped: %s", status, reason)
        if p.drop:
            self.journal.drop(sorted(p.drop))
            self._journaled -= p.drop
        if p.journal:
            # one call whose rows the database refuses (an id longer than the column, say) is
            # left unjournaled with an error line: retrying it would stop every write after it
            bad_journal = save_isolating(
                lambda cids: self.journal.append_many({c: p.journal[c] for c in cids}, replace=p.rewrite),
                list(p.journal),
                str,
            )
            for cid, reason in bad_journal.items():
                self.metrics.bad_events.labels("store").inc()
                log.error("events of call %s could not be journaled: %s", cid, reason)
            self._journaled.update(
                cid for cid, events in p.journal.items() if events and cid not in bad_journal
            )
        now = self._monotonic()
        for t in p.arrivals:
            self.metrics.commit_latency.observe(now - t)
        self.metrics.calls_written.inc(len(records))
        self.metrics.legs_written.inc(sum(len(r.legs) for r in records))
        self.metrics.open_calls.set(len(self.tracker.calls))
        self._pending = _Pending()
        return records

    def dispatch(self, records: Sequence[CallRecord]) -> None:
        """Hand committed calls to the call listeners, on the caller's thread."""
        hooks = [*self.call_listeners, *([self.on_call] if self.on_call is not None else [])]
        for rec in records:
            for hook in hooks:
                try:
                    hook(rec)
                except Exception:  # the call is stored; a hook bug must not undo or repeat that
                    self.metrics.bad_events.labels("listener").inc()
                    log.exception("call listener %r failed on call %s", hook, rec.call_id)
