"""asyncio FreeSWITCH Event Socket client (inbound mode) over the sans-I/O parser (SPEC R-PBX-2, R-PBX-5).

Chosen over a fenced greenswitch by measurement (docs/decisions.md, bench/esl_client_compare.py): it runs
in the daemon's own loop, so no gevent hub, no thread hand-off, no interpreter-exit crash.

Contract with the daemon: every event is pushed IN ORDER into ONE bounded ``asyncio.Queue``
(``await put`` = back-pressure onto the socket), interleaved with :class:`ConnectionUp` (carrying the
``show channels as json`` snapshot taken right after subscribing, for reconciliation) and
:class:`ConnectionDown` sentinels, so the single consumer sees connection changes exactly where they
happened in the stream.  Reconnects use capped exponential backoff with jitter; a keep-alive
``api status`` that gets no answer in time declares the peer silent and reconnects.

The password is only ever written to the socket: it is not stored in reprs, logs or exceptions
(R-SAFE-3).
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import random
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from ccagent.pbx.esl.parser import EslFrame, EslParser

__all__ = [
    "ConnectionDown",
    "ConnectionUp",
    "EslAuthError",
    "EslClient",
    "EslError",
    "EslMetrics",
    "EslNotConnected",
    "EslState",
]

log = logging.getLogger(__name__)


class EslError(Exception):
    pass


class EslNotConnected(EslError):
    pass


class EslConnectionLost(EslNotConnected):
    """The connection dropped after the command was written: the switch may have run it."""


class EslCommandTimeout(EslError):
    """No reply in time to a command already written: the switch may have run it."""


class EslAuthError(EslError):
    """The switch refused the password (the password itself is never in the message)."""


class EslState(enum.Enum):
    IDLE = "idle"
    CONNECTING = "connecting"
    CONNECTED = "connected"
    BACKOFF = "backoff"
    CLOSED = "closed"


@dataclass(frozen=True, slots=True)
class ConnectionUp:
    """Subscribed; ``channels_json`` is the ``show channels as json`` reply taken just after (R-PBX-5)."""

    connection: int
    channels_json: str
    bridged_json: str = ""


@dataclass(frozen=True, slots=True)
class ConnectionDown:
    connection: int
    reason: str


@dataclass(frozen=True, slots=True)
class EslMetrics:
    """The client's counters at one instant, exported as ``ccagent_pbx_client_<field>``."""

    events_received: int
    events_skipped: int  # dropped by the ``keep`` pre-filter before decoding
    malformed: int
    connects: int


class _Secret:
    """Keeps the password out of ``repr``/tracebacks' locals."""

    __slots__ = ("_v",)

    def __init__(self, v: str) -> None:
        self._v = v

    def get(self) -> str:
        return self._v

    def __repr__(self) -> str:
        return "_Secret('********')"


QueueItem = dict[str, str] | ConnectionUp | ConnectionDown


class EslClient:
    def __init__(
        self,
        host: str,
        port: int,
        password: str,
        *,
        queue: asyncio.Queue[QueueItem],
        event_format: str = "plain",
        events: str = "ALL",
        filters: tuple[tuple[str, str], ...] = (),
        keepalive_s: float = 10.0,
        keepalive_timeout_s: float = 5.0,
        connect_timeout_s: float = 5.0,
        backoff_min: float = 0.5,
        backoff_max: float = 30.0,
        jitter: float = 0.2,
        rng: random.Random | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        reconcile: bool = True,
        keep: Callable[[bytes], bool] | None = None,
    ) -> None:
        if event_format not in ("plain", "json"):
            raise ValueError("pbx.event_format: must be 'plain' or 'json'")
        self.host = host
        self.port = port
        self._secret = _Secret(password)
        self.queue = queue
        self.event_format = event_format
        self.events = events
        self.filters = filters
        self.keepalive_s = keepalive_s
        self.keepalive_timeout_s = keepalive_timeout_s
        self.connect_timeout_s = connect_timeout_s
        self.backoff_min = backoff_min
        self.backoff_max = backoff_max
        self.jitter = jitter
        self._rng = rng or random.Random()
        self._sleep = sleep
        self._reconcile = reconcile
        self.keep = keep  # raw event pre-filter (FsTranslator.wants); skipped events are counted
        self.events_skipped = 0
        self.state = EslState.IDLE
        self.connection = 0
        self.malformed = 0
        self.events_received = 0
        self._writer: asyncio.StreamWriter | None = None
        self._pending: deque[tuple[asyncio.Future[EslFrame], str]] = deque()
        self._blocked = False  # the reader waits for room in the full queue (a slow consumer)
        self._jobs: dict[str, asyncio.Future[str]] = {}  # awaiting BACKGROUND_JOB
        self._job_handoff: dict[str, asyncio.Future[str]] = {}  # reply seen, bgapi() not resumed yet
        self._closing = False
        self._run_task: asyncio.Task[None] | None = None
        self._conn_lost: asyncio.Event | None = None

    @property
    def connected(self) -> bool:
        """Subscribed now (the port's ``Session.connected``)."""
        return self.state is EslState.CONNECTED

    @property
    def metrics(self) -> EslMetrics:
        return EslMetrics(self.events_received, self.events_skipped, self.malformed, self.connection)

    def __repr__(self) -> str:
        return f"EslClient({self.host}:{self.port}, state={self.state.value})"

    # -- public API ----------------------------------------------------------------------------------

    async def run(self) -> None:
        """Connect, and stay connected until :meth:`close`; raises :class:`EslAuthError` on a bad password."""
        self._run_task = asyncio.current_task()
        attempt = 0
        try:
            while not self._closing:
                self.state = EslState.CONNECTING
                try:
                    await self._session()
                except EslAuthError:
                    self.state = EslState.CLOSED
                    raise
                except (TimeoutError, OSError, EslError, asyncio.IncompleteReadError) as exc:
                    log.warning("esl %s:%s connection failed: %s", self.host, self.port, type(exc).__name__)
                if self._closing:
                    break
                if self._authed_once:
                    attempt = 0
                    self._authed_once = False
                self.state = EslState.BACKOFF
                await self._sleep(self._backoff(attempt))
                attempt += 1
        finally:
            self.state = EslState.CLOSED

    def _backoff(self, attempt: int) -> float:
        base = min(self.backoff_max, self.backoff_min * (2 ** min(attempt, 30)))
        spread = base * self.jitter
        return float(max(0.0, min(self.backoff_max, base + self._rng.uniform(-spread, spread))))

    async def api(self, cmd: str, timeout: float = 10.0) -> str:
        frame = await self._command(f"api {cmd}", "api/response", timeout)
        return frame.body_text

    async def bgapi(self, cmd: str, timeout: float = 10.0) -> tuple[str, asyncio.Future[str]]:
        """Start a background job; the future resolves with its BACKGROUND_JOB body (``+OK``/``-ERR``)."""
        frame = await self._command(f"bgapi {cmd}", "command/reply#bgapi", timeout)
        job = _job_uuid(frame)
        fut = self._job_handoff.pop(job, None) if job else None  # resolved (or not yet) by the reader
        if fut is None:
            raise EslError(f"bgapi refused: {frame.reply_text[:200]}")
        return job, fut

    async def send(self, cmd: str, timeout: float = 10.0) -> str:
        """Any other command (``filter``, ``linger``, ``nolinger``...); returns Reply-Text."""
        frame = await self._command(cmd, "command/reply", timeout)
        return frame.reply_text

    async def close(self) -> None:
        """Idempotent: say ``exit`` if connected, close the socket, end :meth:`run`."""
        if self._closing:
            if self._run_task is not None and not self._run_task.done():
                with contextlib.suppress(BaseException):
                    await asyncio.wait_for(asyncio.shield(self._run_task), 2.0)
            return
        self._closing = True
        if self._writer is not None and self.state is EslState.CONNECTED:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._command("exit", "command/reply", 1.0), 1.0)
        self._abort()
        task = self._run_task
        if task is not None and not task.done() and task is not asyncio.current_task():
            try:
                await asyncio.wait_for(asyncio.shield(task), 2.0)
            except (TimeoutError, asyncio.CancelledError):
                task.cancel()
                with contextlib.suppress(BaseException):
                    await task
            except Exception:
                pass

    def drop(self) -> None:
        """Abort the current connection (tests / fault injection); run() reconnects."""
        self._abort()

    # -- internals -----------------------------------------------------------------------------------

    _authed_once = False

    def _abort(self) -> None:
        w = self._writer
        if w is not None and w.transport is not None:
            w.transport.abort()

    async def _command(self, cmd: str, expect: str, timeout: float) -> EslFrame:
        w = self._writer
        if w is None or (self.state is not EslState.CONNECTED and not cmd.startswith(("auth ", "event "))):
            raise EslNotConnected("not connected to FreeSWITCH")
        fut: asyncio.Future[EslFrame] = asyncio.get_running_loop().create_future()
        self._pending.append((fut, expect))
        w.write(cmd.encode("utf-8") + b"\n\n")
        while True:
            try:
                return await asyncio.wait_for(asyncio.shield(fut), timeout)
            except TimeoutError:
                if self._blocked:
                    # our own consumer is slow (a busy database): the reply sits unread behind the
                    # events we cannot queue yet; the peer is not silent, so dropping it would only
                    # lose everything it sends until we are back (the AMI client does the same)
                    continue
                verb = cmd.split(" ", 1)[0] if not cmd.startswith("api ") else " ".join(cmd.split(" ", 2)[:2])
                raise EslCommandTimeout(f"no reply to '{verb}' within {timeout:.1f}s") from None

    async def _session(self) -> None:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(self.host, self.port), self.connect_timeout_s
        )
        self.connection += 1
        conn = self.connection
        self._writer = writer
        parser = EslParser(keep=self.keep)
        lost = asyncio.Event()
        self._conn_lost = lost
        reader_task = asyncio.create_task(self._read_loop(reader, parser, conn, lost))
        up_sent = False
        ka_task: asyncio.Task[None] | None = None
        try:
            auth = await self._first_frame(lost)
            if auth != "auth/request":
                raise EslError(f"unexpected greeting {auth!r}")
            reply = await self._command_raw("auth " + self._secret.get(), lost)
            if not reply.reply_text.startswith("+OK"):
                raise EslAuthError(f"FreeSWITCH refused the ESL password ({self.host}:{self.port})")
            self._authed_once = True
            self.state = EslState.CONNECTED
            for k, v in self.filters:
                await self.send(f"filter {k} {v}")
            reply = await self._command(f"event {self.event_format} {self.events}", "command/reply", 10.0)
            if not reply.reply_text.startswith("+OK"):
                raise EslError(f"event subscription refused: {reply.reply_text[:200]}")
            # The reader pushes ConnectionUp in stream order when this reply arrives (see _read_loop).
            await self._command("api show channels as json", "api/response#snapshot", 10.0)
            up_sent = True
            log.info("esl connected to %s:%s (connection %d)", self.host, self.port, conn)
            ka_task = asyncio.create_task(self._keepalive(lost))
            await lost.wait()
        finally:
            if ka_task is not None:
                ka_task.cancel()
                with contextlib.suppress(BaseException):
                    await ka_task
            self._abort()
            self._writer = None
            if not reader_task.done():
                reader_task.cancel()
            with contextlib.suppress(BaseException):
                await reader_task
            self._fail_pending()
            if self.state is EslState.CONNECTED:
                self.state = EslState.CONNECTING
            if up_sent:
                reason = "closed" if self._closing else "connection lost"
                await self.queue.put(ConnectionDown(connection=conn, reason=reason))
        if not self._closing and up_sent:
            log.warning("esl connection %d to %s:%s lost", conn, self.host, self.port)

    _greeting: asyncio.Future[str] | None = None

    async def _first_frame(self, lost: asyncio.Event) -> str:
        fut: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._greeting = fut
        lost_wait = asyncio.create_task(lost.wait())
        waiting: set[asyncio.Future[Any]] = {fut, lost_wait}
        try:
            done, _ = await asyncio.wait(
                waiting, timeout=self.connect_timeout_s, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            lost_wait.cancel()
        if fut not in done:
            raise EslError("no auth/request from FreeSWITCH")
        return fut.result()

    async def _command_raw(self, cmd: str, lost: asyncio.Event) -> EslFrame:
        w = self._writer
        if w is None:
            raise EslNotConnected("not connected to FreeSWITCH")
        fut: asyncio.Future[EslFrame] = asyncio.get_running_loop().create_future()
        self._pending.append((fut, "command/reply"))
        w.write(cmd.encode("utf-8") + b"\n\n")
        try:
            return await asyncio.wait_for(asyncio.shield(fut), self.connect_timeout_s)
        except TimeoutError:
            raise EslError("no reply to 'auth'") from None

    async def _keepalive(self, lost: asyncio.Event) -> None:
        while not lost.is_set():
            await asyncio.sleep(self.keepalive_s)
            try:
                await self._command("api status", "api/response", self.keepalive_timeout_s)
            except EslError:
                log.warning(
                    "esl peer %s:%s silent for %.1fs: reconnecting",
                    self.host,
                    self.port,
                    self.keepalive_timeout_s,
                )
                self._abort()
                return

    def _fail_pending(self) -> None:
        while self._pending:
            fut, _ = self._pending.popleft()
            if not fut.done():
                fut.set_exception(EslConnectionLost("connection lost"))
                fut.exception()  # mark retrieved
        for job, job_fut in list(self._jobs.items()):
            if not job_fut.done():
                job_fut.set_exception(EslNotConnected("connection lost before BACKGROUND_JOB"))
                job_fut.exception()
            del self._jobs[job]
        self._job_handoff.clear()

    async def _read_loop(
        self, reader: asyncio.StreamReader, parser: EslParser, conn: int, lost: asyncio.Event
    ) -> None:
        try:
            while True:
                data = await reader.read(262144)
                if not data:
                    break
                skipped = parser.skipped
                for frame in parser.feed(data):
                    await self._dispatch(frame, conn)
                self.events_skipped += parser.skipped - skipped
                self.malformed = parser.malformed
        except (ConnectionError, OSError):
            pass
        finally:
            lost.set()

    async def _dispatch(self, frame: EslFrame, conn: int) -> None:
        ctype = frame.content_type
        if frame.event is not None:
            self.events_received += 1
            if frame.event.get("Event-Name") == "BACKGROUND_JOB":
                job_fut = self._jobs.pop(frame.event.get("Job-UUID", ""), None)
                if job_fut is not None and not job_fut.done():
                    job_fut.set_result(frame.event.get("_body", ""))
            try:
                self.queue.put_nowait(frame.event)
            except asyncio.QueueFull:
                self._blocked = True
                try:
                    await self.queue.put(frame.event)
                finally:
                    self._blocked = False
            return
        if ctype == "auth/request":
            g = self._greeting
            if g is not None and not g.done():
                g.set_result(ctype)
            return
        if ctype in ("command/reply", "api/response"):
            if not self._pending:
                return
            fut, expect = self._pending.popleft()
            if expect == "command/reply#bgapi" and (job := _job_uuid(frame)):
                # registered here, in stream order, because BACKGROUND_JOB may follow in the same read
                self._jobs[job] = self._job_handoff[job] = asyncio.get_running_loop().create_future()
            if expect == "api/response#snapshot":
                text = frame.body_text
                await self.queue.put(ConnectionUp(connection=conn, channels_json=text))
            if not fut.done():
                fut.set_result(frame)
            return
        if ctype == "text/disconnect-notice":
            if frame.headers.get("Content-Disposition") == "linger":
                return
            log.info("esl %s:%s sent a disconnect notice", self.host, self.port)
            self._abort()
            return
        # log/data, text/rude-rejection, unknown: nothing for the daemon
        if ctype == "text/rude-rejection":
            log.error("esl %s:%s rejected this host (event_socket ACL)", self.host, self.port)


def _job_uuid(frame: EslFrame) -> str:
    return frame.headers.get("Job-UUID") or frame.reply_text.partition("Job-UUID: ")[2].strip()
