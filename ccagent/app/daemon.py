"""`ccagent run`: the live daemon (SPEC R-PBX-1, R-PBX-5, R-SAFE-1/2, R-OPS-5).

Shape (STYLE lesson 8): the PBX client reads the socket and puts every item,
in arrival order, into ONE bounded queue; ONE consumer task here takes them
out, feeds the synchronous pipeline and commits.  Database writes run in a
worker thread while the consumer waits for them, so the event loop never
stalls on I/O and the pipeline is never touched by two threads at once.
When the database is down, the flush is retried with backoff while the
bounded queue fills and back-pressure reaches the PBX socket: nothing is
dropped on our side.

Reconnect: on every (re)connection the session asks the PBX for its channels;
the answer arrives in the same queue, at its place in the stream, and reconciles
the open calls (R-PBX-5).

Nothing here knows which PBX it listens to: the session, and the step that turns
its queue items into pipeline operations, come from the PBX adapter through the
composition root (``ccagent.app.bootstrap``, which also builds this class).
Committed calls go to :attr:`Daemon.commit_listeners` on the event loop after each
commit, never in the commit's worker thread; a listener that writes to the
database does so in a worker thread of its own, awaited (the consumer waits).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from os import EX_CANTCREAT, EX_CONFIG, EX_TEMPFAIL, EX_UNAVAILABLE
from typing import Protocol

from ccagent.app.wiring import Wiring
from ccagent.config import redact_url
from ccagent.core.legs.model import CallRecord
from ccagent.pbx.port import Live
from ccagent.storage.db import daemon_lock, write_problem

log = logging.getLogger(__name__)

FLUSH_INTERVAL_S = 0.05
FLUSH_MAX_PENDING = 2_000
# systemd's WatchdogSec is 30: a consumer that has not moved for this long is wedged (a database
# call that never returns, a frozen loop), and the missing pings get it restarted.
CONSUMER_STALL_S = 20.0
# After a stop request, how long writes are retried against a database that is down; under
# systemd's TimeoutStopSec=30, so the daemon says what it could not write instead of being killed.
STOP_WRITE_GRACE_S = 20.0
# ``daemon.write_failure_limit_s``: writes failing this long are not an outage to wait out but a
# database that will not take them (a read-only file, a revoked grant): stop, so systemd restarts
# the daemon and its start-up write probe says why, instead of a healthy-looking unit storing nothing.
WRITE_FAILURE_LIMIT_S = 300.0
WATCHDOG_PING_S = 5.0


class Notifier(Protocol):
    def ready(self) -> None: ...
    def watchdog(self) -> None: ...
    def stopping(self) -> None: ...
    def status(self, text: str) -> None: ...


class NullNotifier:
    """No systemd (tests, demo, benchmarks, or a plain terminal)."""

    def ready(self) -> None: ...
    def watchdog(self) -> None: ...
    def stopping(self) -> None: ...
    def status(self, text: str) -> None: ...


def default_notifier() -> Notifier:
    try:
        from ccagent.sysd import SystemdNotifier
    except ImportError:  # pragma: no cover - the module ships with ccagent
        return NullNotifier()
    return SystemdNotifier()


@dataclass
class DaemonStats:
    items: int = 0
    flushes: int = 0
    flush_failures: int = 0


#: Called on the event loop with the calls of each commit, in commit order; awaited by the consumer.
CommitListener = Callable[[Sequence[CallRecord]], Awaitable[None]]


class Daemon:
    """Built by ``ccagent.app.bootstrap.build_daemon`` (or ``daemon_parts`` for a subclass)."""

    def __init__(
        self,
        wiring: Wiring,
        live: Live,
        *,
        clock: Callable[[], float] = time.time,
        notifier: Notifier | None = None,
        write_failure_limit_s: float = WRITE_FAILURE_LIMIT_S,
    ) -> None:
        self.wiring = wiring
        self.adapter = wiring.adapter
        self.pbx = wiring.adapter.name
        self.pipeline = self.wiring.pipeline
        self.metrics = self.wiring.metrics
        self.live = live
        self.session = live.session
        self._step = live.step
        self.clock = clock
        self.notifier = notifier or default_notifier()
        self.stats = DaemonStats()
        # Committed calls, handed over on the loop after each commit (the dialer settles attempts).
        self.commit_listeners: list[CommitListener] = []
        self._stop = asyncio.Event()
        self._stop_at = 0.0
        self._writes_abandoned = False  # stopping with the database down: gave up after the grace
        self.write_failure_limit_s = write_failure_limit_s
        self._failing_since: float | None = None  # monotonic time of the first failed write in a row
        self.write_limit_hit = False  # writes failed past the limit: no more pings, stopping
        self._last_flush = time.monotonic()
        self._progress = time.monotonic()  # the consumer's last step: the watchdog's evidence of life
        # Periodic work run BY the one consumer (the dialer): ``await ticker(now)`` every tick_s of
        # the injected clock while the PBX is connected, after pending calls are committed.
        self.tickers: list[Callable[[float], Awaitable[None]]] = []
        self.tick_s = 1.0
        self._next_tick = 0.0
        self.idle_wait_s = FLUSH_INTERVAL_S  # how long the consumer waits for an item before ticking

    # -- lifecycle -------------------------------------------------------------------------
    def request_stop(self) -> None:
        if not self._stop.is_set():
            self._stop_at = time.monotonic()
        self._stop.set()

    async def run(self) -> int:
        """Run until SIGTERM/SIGINT or :meth:`request_stop`; drain the queue; return the exit code."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(sig, self.request_stop)
        # SIGHUP (a closed terminal, `systemctl kill -s HUP`, a reload habit) is ignored: its default
        # kills without the final commit, and a clean exit 0 would not be restarted by systemd
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(signal.SIGHUP, _hup_ignored)
        engine = self.wiring.engine
        problem = await asyncio.to_thread(write_problem, engine)
        if problem is not None:  # one line, and a code systemd can be told not to restart on
            log.error(
                "database %s cannot be written: %s", redact_url(engine.url.render_as_string(False)), problem
            )
            engine.dispose()
            return EX_CANTCREAT
        release = daemon_lock(self.wiring.engine)
        if release is None:
            log.error(
                "another ccagent daemon is running on this database; not starting a second one "
                "(both would dial every contact)"
            )
            self.wiring.engine.dispose()
            return EX_TEMPFAIL
        try:
            return await self._run()
        finally:
            release()

    async def _run(self) -> int:
        restored = self.pipeline.restore()
        if restored:
            log.info("resumed %d open calls from the journal", restored)
        session = self.session
        self.metrics.watch_client(lambda: session.metrics)
        self.metrics.pbx_connected.set_function(lambda: 1.0 if session.connected else 0.0)
        client_task = asyncio.create_task(self.session.run(), name="pbx-client")
        consumer = asyncio.create_task(self._consume(), name="pbx-consumer")
        watchdog = asyncio.create_task(self._watchdog(consumer), name="watchdog")
        self.notifier.ready()
        self.notifier.status(f"listening to {self.pbx}")
        stop_wait = asyncio.create_task(self._stop.wait())
        done, _ = await asyncio.wait({client_task, consumer, stop_wait}, return_when=asyncio.FIRST_COMPLETED)
        code = 0
        if client_task in done and client_task.exception() is not None:
            exc = client_task.exception()
            log.error("PBX client stopped: %s", exc)
            # a refused login is configuration: 78 stops systemd's restart loop, which would
            # otherwise retry the bad secret every 2 s until the PBX's fail2ban bans this host
            code = EX_CONFIG if exc is not None and self.adapter.is_auth_error(exc) else 1
        if consumer in done and not consumer.cancelled() and consumer.exception() is not None:
            log.error("event consumer died: %r", consumer.exception())
            code = 1
        self.notifier.stopping()
        log.info(
            "stopping: closing the PBX connection and draining %d queued items", self.session.queue.qsize()
        )
        await self.session.close()
        if not client_task.done():
            client_task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await client_task
        stop_wait.cancel()
        watchdog.cancel()
        if not consumer.done():
            await self.session.queue.put(_STOP)
            await consumer
        await self._flush_until_done()
        self.wiring.engine.dispose()
        if self._writes_abandoned:
            return EX_UNAVAILABLE
        log.info("stopped; %d calls still open are kept in the journal", len(self.pipeline.tracker.calls))
        return code

    # -- the single consumer ----------------------------------------------------------------------
    async def _consume(self) -> None:
        queue = self.session.queue
        handle = self._step
        while True:
            try:
                item = await asyncio.wait_for(queue.get(), timeout=self.idle_wait_s)
            except TimeoutError:
                item = None
            self._progress = time.monotonic()
            if item is _STOP:
                return
            if item is not None:
                self.stats.items += 1
                handle(item)
                self.metrics.queue_depth.set(queue.qsize())
            pending = self.pipeline.pending
            if pending and (
                pending >= FLUSH_MAX_PENDING
                or queue.empty()
                or time.monotonic() - self._last_flush >= FLUSH_INTERVAL_S
            ):
                await self._flush_until_done()
            if self.tickers:
                await self._tick()

    async def _tick(self) -> None:
        now = self.clock()
        if now < self._next_tick or not self.session.connected:
            return
        self._next_tick = now + self.tick_s
        await self._flush_until_done()  # finished calls settle before the next decision
        for ticker in self.tickers:
            try:
                await ticker(now)
            except Exception:  # one failing tick must not stop the consumer (and the floor)
                log.exception("periodic task %r failed", ticker)

    async def _flush_until_done(self) -> None:
        delay = 0.1
        while self.pipeline.pending and not self._writes_abandoned:
            try:
                records = await asyncio.to_thread(self.pipeline.commit)
            except Exception as exc:  # the database is down: keep everything, retry
                self.stats.flush_failures += 1
                self.metrics.write_failures.inc()
                if self._write_failed(exc):
                    return
                if self._stop.is_set() and time.monotonic() - self._stop_at >= STOP_WRITE_GRACE_S:
                    self._writes_abandoned = True
                    log.error(
                        "stopping with the database unreachable (%s: %s): %d pending item(s) not "
                        "written; calls journaled before the outage resume at the next start",
                        type(exc).__name__,
                        _first_line(exc),
                        self.pipeline.pending,
                    )
                    return
                log.error(  # the driver's line only: the statement's parameters hold phone numbers
                    "database write failed (%s: %s); retrying in %.1fs, nothing is dropped",
                    type(exc).__name__,
                    _first_line(exc),
                    delay,
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)
                continue
            self.stats.flushes += 1
            self._last_flush = self._progress = time.monotonic()
            self._failing_since = None
            self.metrics.write_failing_s.set(0)
            await self._dispatch(records)
            return

    def _write_failed(self, exc: Exception) -> bool:
        """Account for one failed flush; True once failures have lasted past the limit.

        Until the limit, failing fast and retrying is an outage waited out (progress: the watchdog
        pings).  Past it, the retry loop is no longer life: the watchdog stops, one line says why,
        and the daemon stops at once (exit 69; no stop grace: the database has had its chance),
        so systemd restarts it and the start-up probe names the cause.
        """
        now = time.monotonic()
        if self._failing_since is None:
            self._failing_since = now
        failing = now - self._failing_since
        self.metrics.write_failing_s.set(failing)
        if failing < self.write_failure_limit_s:
            self._progress = now
            return False
        self.write_limit_hit = self._writes_abandoned = True
        self.metrics.healthy.set(0)
        log.error(
            "database writes have failed for %.0f s (daemon.write_failure_limit_s), last %s: %s; "
            "stopping the watchdog and the daemon (%d pending item(s) not written; calls journaled "
            "before the failures resume at the next start, the PBX's channel list closes the rest)",
            failing,
            type(exc).__name__,
            _first_line(exc),
            self.pipeline.pending,
        )
        self.request_stop()
        return True

    async def _dispatch(self, records: Sequence[CallRecord]) -> None:
        """Committed calls to the listeners, here on the loop (not in the commit's worker thread)."""
        if not records:
            return
        self.pipeline.dispatch(records)
        for listener in self.commit_listeners:
            try:
                await listener(records)
            except Exception:  # the calls are stored; a listener bug must not undo or repeat that
                self.metrics.bad_events.labels("listener").inc()
                log.exception("call listener %r failed on %d call(s)", listener, len(records))
        self._progress = time.monotonic()

    async def _watchdog(self, consumer: asyncio.Task[None]) -> None:
        """Ping systemd only while the consumer moves: a wedged daemon gets restarted.

        Alive is not enough: a consumer blocked in a database call that never returns (a server
        gone silent) is alive forever.  Each step of the consumer, and each failed write it
        retries, is progress; none for ``CONSUMER_STALL_S`` stops the pings.
        """
        while not consumer.done():
            alive = time.monotonic() - self._progress < CONSUMER_STALL_S and not self.write_limit_hit
            self.metrics.healthy.set(1 if alive else 0)
            if alive:
                self.notifier.watchdog()
            await asyncio.sleep(WATCHDOG_PING_S)


_STOP = object()


def _first_line(exc: BaseException) -> str:
    """The driver's own message, without SQLAlchemy's statement and background lines."""
    orig = getattr(exc, "orig", None)
    lines = str(orig if orig is not None else exc).strip().splitlines()
    return lines[0] if lines else ""


def _hup_ignored() -> None:
    log.warning("SIGHUP ignored: ccagent has no reload; use systemctl restart ccagent")
