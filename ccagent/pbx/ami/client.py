"""Live AMI connection: a small asyncio client over the sans-I/O parser (R-PBX-1, R-PBX-5, R-SAFE-1/2/3).

Why not panoramisk's ``Manager`` (measured, see ``docs/decisions.md``): it
decodes each TCP read separately (a UTF-8 character split across two reads is
lost), fires async handlers as loose tasks (order and exceptions lost) and
reconnects after a fixed delay with no reconciliation hook.  This client keeps
what matters for a contact centre:

* every message goes, IN ARRIVAL ORDER, into ONE bounded ``asyncio.Queue``
  (back-pressure: the reader awaits ``put``, so TCP flow control reaches the
  PBX instead of memory growing);
* connection changes are items of that same queue (:class:`ConnectionUp`,
  :class:`ConnectionDown`) so the consumer reconciles exactly after the events
  that preceded a drop; a list action can also deliver its result
  (:class:`ListResult`) at its place in the stream, which is what a
  CoreShowChannels reconciliation needs;
* a silent peer is detected with ``Ping`` + timeout; reconnects use capped
  exponential backoff with jitter (injectable ``rng``);
* the secret never reaches a log line, an exception or a ``repr``.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import itertools
import logging
import os
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from ccagent.log import customer
from ccagent.pbx.ami import actions as A
from ccagent.pbx.ami.parser import DEFAULT_MAX_MESSAGE_BYTES, AmiMessage, AmiParser, describe

__all__ = [
    "AmiActionError",
    "AmiActionTimeout",
    "AmiAuthError",
    "AmiClient",
    "AmiConnectionLost",
    "AmiError",
    "AmiMetrics",
    "AmiNotConnected",
    "ConnState",
    "ConnectionDown",
    "ConnectionUp",
    "ListResult",
    "QueueItem",
]

log = logging.getLogger("ccagent.pbx.ami")


class ConnState(StrEnum):
    DISCONNECTED = "disconnected"
    CONNECTING = "connecting"
    CONNECTED = "connected"
    CLOSING = "closing"


@dataclass(frozen=True, slots=True)
class ConnectionUp:
    """Logged in on connection number ``connection`` (1 = first)."""

    pbx_version: str | None
    connection: int


@dataclass(frozen=True, slots=True)
class ConnectionDown:
    """The connection ended; events after this and before the next ConnectionUp were lost."""

    reason: str
    connection: int


@dataclass(frozen=True, slots=True)
class ListResult:
    """The complete result of a list action, queued where its ``...Complete`` arrived."""

    action: str
    action_id: str
    items: tuple[AmiMessage, ...]
    complete: AmiMessage | None
    connection: int


QueueItem = AmiMessage | ConnectionUp | ConnectionDown | ListResult
OnMessage = Callable[[QueueItem], Awaitable[None] | None]
OnConnected = Callable[["AmiClient"], Awaitable[None] | None]


class AmiError(Exception):
    """Base of AMI client errors."""


class AmiAuthError(AmiError):
    """Login refused: a configuration error, not retried."""


class AmiNotConnected(AmiError):
    pass


class AmiConnectionLost(AmiError):
    pass


class AmiActionTimeout(AmiError, TimeoutError):
    pass


class AmiActionError(AmiError):
    """A list action answered ``Response: Error``."""

    def __init__(self, message: str, response: AmiMessage) -> None:
        super().__init__(message)
        self.response = response


@dataclass(slots=True)
class AmiMetrics:
    """Plain counters; the composition root exports them (Prometheus)."""

    messages: int = 0  # well-formed messages read
    skipped: int = 0  # dropped by the ``keep`` pre-filter before decoding
    events_queued: int = 0
    malformed: int = 0  # blocks dropped (no kind header, oversize)
    bad_lines: int = 0
    decode_errors: int = 0
    bytes_in: int = 0
    connects: int = 0
    reconnects: int = 0  # successful connects after the first
    disconnects: int = 0
    connect_failures: int = 0
    ping_timeouts: int = 0
    handler_errors: int = 0
    queue_high_water: int = 0


class _Secret:
    """Holds the AMI secret so that no repr/str/log ever shows it."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "'********'"

    __str__ = __repr__


@dataclass(slots=True)
class _Pending:
    name: str
    future: asyncio.Future[Any]
    is_list: bool = False
    enqueue: bool = False
    response: AmiMessage | None = None
    items: list[AmiMessage] = field(default_factory=list)


_STOP = object()


class AmiClient:
    """One long-lived AMI session with reconnect; see the module docstring for the contract."""

    def __init__(
        self,
        host: str,
        port: int,
        username: str,
        secret: str,
        *,
        on_message: OnMessage | asyncio.Queue[QueueItem] | None = None,
        on_connected: OnConnected | None = None,
        queue_size: int = 10_000,
        events: str = "on",
        ping_interval: float = 10.0,
        ping_timeout: float = 5.0,
        backoff_min: float = 0.5,
        backoff_max: float = 30.0,
        jitter: float = 0.2,
        connect_timeout: float = 5.0,
        action_timeout: float = 10.0,
        rng: random.Random | None = None,
        max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
        read_size: int = 65536,
        keep: Callable[[bytes], bool] | None = None,
    ) -> None:
        for name, value in (
            ("ping_interval", ping_interval),
            ("ping_timeout", ping_timeout),
            ("backoff_min", backoff_min),
            ("connect_timeout", connect_timeout),
            ("action_timeout", action_timeout),
        ):
            if not value > 0:
                raise ValueError(f"AmiClient {name} must be > 0, got {value!r}")
        if backoff_max < backoff_min:
            raise ValueError(f"AmiClient backoff_max ({backoff_max}) must be >= backoff_min ({backoff_min})")
        if not 0 <= jitter < 1:
            raise ValueError(f"AmiClient jitter must be in [0, 1), got {jitter!r}")
        if queue_size < 1 and not isinstance(on_message, asyncio.Queue):
            raise ValueError(f"AmiClient queue_size must be >= 1 (bounded), got {queue_size!r}")
        self.host = host
        self.port = port
        self.username = username
        self._secret = _Secret(secret)
        self.events = events
        self.ping_interval = ping_interval
        self.ping_timeout = ping_timeout
        self.backoff_min = backoff_min
        self.backoff_max = backoff_max
        self.jitter = jitter
        self.connect_timeout = connect_timeout
        self.action_timeout = action_timeout
        self.rng = rng or random.Random()
        self.max_message_bytes = max_message_bytes
        self.read_size = read_size
        # Optional raw pre-filter (AmiParser(keep=...)): must keep responses and ActionID'd messages.
        self.keep = keep
        self.on_connected = on_connected
        self._handler: OnMessage | None
        if isinstance(on_message, asyncio.Queue):
            self.queue: asyncio.Queue[Any] = on_message
            self._handler = None
        else:
            self.queue = asyncio.Queue(maxsize=queue_size)
            self._handler = on_message
        self.metrics = AmiMetrics()
        self.state = ConnState.DISCONNECTED
        self.pbx_version: str | None = None
        self.connection_no = 0
        self.last_backoff: float | None = None
        self._ids = itertools.count(1)
        self._id_prefix = f"ccagent-{os.getpid()}-{id(self) & 0xFFFF:04x}"
        self._pending: dict[str, _Pending] = {}
        self._writer: asyncio.StreamWriter | None = None
        self._parser: AmiParser | None = None
        self._closing = False
        self._wakeup = asyncio.Event()
        self._connected = asyncio.Event()
        self._run_task: asyncio.Task[None] | None = None
        self._blocked = False
        self._drop_reason: str | None = None
        self._aux_tasks: set[asyncio.Task[Any]] = set()
        # Parser counters of finished connections (each connection has a fresh parser).
        self._base_messages = 0
        self._base_malformed = 0
        self._base_bad_lines = 0
        self._base_decode_errors = 0
        self._base_skipped = 0

    @property
    def connected(self) -> bool:
        """Logged in now (the port's ``Session.connected``)."""
        return self.state is ConnState.CONNECTED

    def __repr__(self) -> str:
        return f"AmiClient({self.host}:{self.port} user={self.username!r} state={self.state})"

    # ------------------------------------------------------------------ lifecycle

    async def run(self) -> None:
        """Keep the session up until :meth:`close`; raises only :class:`AmiAuthError`."""
        if self._run_task is not None:
            raise RuntimeError("AmiClient.run() is already running")
        self._run_task = asyncio.current_task()
        consumer = asyncio.create_task(self._consume()) if self._handler is not None else None
        attempt = 0
        try:
            while not self._closing:
                self.state = ConnState.CONNECTING
                try:
                    reader, leftover = await self._connect_and_login()
                except AmiAuthError:
                    raise
                except (OSError, EOFError, TimeoutError, AmiError) as exc:
                    self.metrics.connect_failures += 1
                    self.state = ConnState.DISCONNECTED
                    log.warning("AMI connect to %s:%s failed (%s); retrying", self.host, self.port, _why(exc))
                    await self._backoff(attempt)
                    attempt += 1
                    continue
                attempt = 0
                self.connection_no += 1
                self.metrics.connects += 1
                if self.connection_no > 1:
                    self.metrics.reconnects += 1
                self.state = ConnState.CONNECTED
                self._connected.set()
                log.info(
                    "AMI connected to %s:%s as %s (Asterisk Call Manager/%s, connection %d)",
                    self.host,
                    self.port,
                    self.username,
                    self.pbx_version,
                    self.connection_no,
                )
                reason = await self._session(reader, leftover)
                self._teardown(reason)
                await self._emit(ConnectionDown(reason, self.connection_no))
                if self._closing:
                    break
                self.metrics.disconnects += 1
                log.warning("AMI connection %d lost: %s; reconnecting", self.connection_no, reason)
                await self._backoff(attempt)
                attempt += 1
        finally:
            self._teardown("client closed")
            self.state = ConnState.DISCONNECTED
            if consumer is not None:
                await self._stop_consumer(consumer)
            self._run_task = None

    async def close(self) -> None:
        """Stop the session (idempotent). Queued items stay for the consumer to drain."""
        if self._closing and self._run_task is None:
            return
        self._closing = True
        if self.state != ConnState.DISCONNECTED:
            self.state = ConnState.CLOSING
        self._wakeup.set()
        if self._writer is not None:
            self._writer.close()
        task = self._run_task
        if task is not None and task is not asyncio.current_task():
            done, _ = await asyncio.wait({task}, timeout=5.0)
            if not done:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        self.state = ConnState.DISCONNECTED

    async def wait_connected(self, timeout: float | None = None) -> None:
        """Wait until logged in (the next time, if currently disconnected)."""
        await asyncio.wait_for(self._connected.wait(), timeout)

    def next_backoff(self, attempt: int) -> float:
        """Capped exponential delay with +-jitter (fraction) for reconnect number ``attempt``."""
        base = min(self.backoff_max, self.backoff_min * (2 ** min(attempt, 32)))
        return float(max(0.0, base * (1.0 + self.rng.uniform(-self.jitter, self.jitter))))

    async def _backoff(self, attempt: int) -> None:
        delay = self.next_backoff(attempt)
        self.last_backoff = delay
        self._wakeup.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wakeup.wait(), delay)

    async def _connect_and_login(self) -> tuple[asyncio.StreamReader, list[AmiMessage]]:
        parser = AmiParser(
            max_message_bytes=self.max_message_bytes, on_malformed=self._on_malformed, keep=self.keep
        )
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(self.host, self.port), self.connect_timeout
        )
        try:
            leftover = await asyncio.wait_for(self._login(reader, writer, parser), self.connect_timeout)
        except BaseException:
            writer.close()
            raise
        self._writer = writer
        self._parser = parser
        self.pbx_version = parser.version
        return reader, leftover

    async def _login(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, parser: AmiParser
    ) -> list[AmiMessage]:
        action_id = self._next_id()
        action = A.with_action_id(A.login(self.username, self._secret.reveal(), self.events), action_id)
        writer.write(A.serialize(action))
        buffered: list[AmiMessage] = []
        while True:
            data = await reader.read(self.read_size)
            if not data:
                raise AmiConnectionLost("connection closed during login")
            self.metrics.bytes_in += len(data)
            msgs = parser.feed(data)
            self._count(parser)
            for i, msg in enumerate(msgs):
                if msg.get("ActionID") == action_id and "Response" in msg:
                    if msg["Response"] != "Success":
                        reason = msg.get("Message") or msg["Response"]
                        raise AmiAuthError(
                            f"AMI login as {self.username!r} on {self.host}:{self.port} refused: {reason}"
                        )
                    return buffered + msgs[i + 1 :]
                buffered.append(msg)

    async def _session(self, reader: asyncio.StreamReader, leftover: list[AmiMessage]) -> str:
        self._drop_reason = None
        await self._emit(ConnectionUp(self.pbx_version, self.connection_no))
        for msg in leftover:
            await self._route(msg)
        pinger = asyncio.create_task(self._pinger())
        if self.on_connected is not None:
            self._spawn(self.on_connected(self), "on_connected")
        parser = self._parser
        assert parser is not None
        try:
            while True:
                try:
                    data = await reader.read(self.read_size)
                except (ConnectionError, OSError) as exc:
                    return self._drop_reason or f"connection error: {_why(exc)}"
                if not data:
                    if self._closing:
                        return "client closed"
                    return self._drop_reason or "connection closed by peer"
                self.metrics.bytes_in += len(data)
                msgs = parser.feed(data)
                self._count(parser)
                for msg in msgs:
                    await self._route(msg)
        finally:
            pinger.cancel()
            for task in list(self._aux_tasks):
                task.cancel()

    def _teardown(self, reason: str) -> None:
        self._connected.clear()
        parser, self._parser = self._parser, None
        if parser is not None:
            self._base_messages += parser.messages
            self._base_malformed += parser.malformed
            self._base_bad_lines += parser.bad_lines
            self._base_decode_errors += parser.decode_errors
            self._base_skipped += parser.skipped
        writer, self._writer = self._writer, None
        if writer is not None:
            writer.close()
        pending, self._pending = self._pending, {}
        for p in pending.values():
            if not p.future.done():
                p.future.set_exception(AmiConnectionLost(f"AMI connection lost before {p.name} completed"))
                p.future.exception()  # mark retrieved: nobody may be awaiting any more

    # ------------------------------------------------------------------ reading

    def _count(self, parser: AmiParser) -> None:
        m = self.metrics
        m.messages = self._base_messages + parser.messages
        m.malformed = self._base_malformed + parser.malformed
        m.bad_lines = self._base_bad_lines + parser.bad_lines
        m.decode_errors = self._base_decode_errors + parser.decode_errors
        m.skipped = self._base_skipped + parser.skipped

    def _on_malformed(self, reason: str, excerpt: str) -> None:
        log.warning(
            "AMI: skipped malformed input from %s:%s: %s %r", self.host, self.port, reason, customer(excerpt)
        )

    async def _route(self, msg: AmiMessage) -> None:
        action_id = msg.get("ActionID")
        if action_id is not None:
            pending = self._pending.get(action_id)
            if pending is not None:
                await self._complete(action_id, pending, msg)
                return
        if "Event" in msg:
            await self._emit(msg)
        elif "Response" in msg:
            log.debug("AMI: response with no waiting action: %s", describe(msg))

    async def _complete(self, action_id: str, pending: _Pending, msg: AmiMessage) -> None:
        fut = pending.future
        if not pending.is_list:
            if "Response" in msg:
                del self._pending[action_id]
                if not fut.done():
                    fut.set_result(msg)
            elif "Event" in msg:  # e.g. OriginateResponse before the response: pass through
                await self._emit(msg)
            return
        if pending.response is None and "Response" in msg:
            pending.response = msg
            if msg["Response"] not in ("Success", "Follows"):
                del self._pending[action_id]
                if not fut.done():
                    why = msg.get("Message", msg["Response"])
                    fut.set_exception(AmiActionError(f"AMI {pending.name} failed: {why}", msg))
            return
        event = msg.get("Event", "")
        if event.endswith("Complete") or msg.get("EventList") == "Complete":
            del self._pending[action_id]
            items = tuple(pending.items)
            if pending.enqueue:
                await self._emit(ListResult(pending.name, action_id, items, msg, self.connection_no))
            if not fut.done():
                fut.set_result(list(items))
            return
        pending.items.append(msg)

    async def _emit(self, item: QueueItem) -> None:
        q = self.queue
        try:
            q.put_nowait(item)
        except asyncio.QueueFull:
            self._blocked = True
            try:
                await q.put(item)
            finally:
                self._blocked = False
        if isinstance(item, AmiMessage):
            self.metrics.events_queued += 1
        size = q.qsize()
        if size > self.metrics.queue_high_water:
            self.metrics.queue_high_water = size

    async def _consume(self) -> None:
        """The ONE consumer when ``on_message`` is a callable: strictly in order."""
        handler = self._handler
        assert handler is not None
        while True:
            item = await self.queue.get()
            if item is _STOP:
                return
            try:
                result = handler(item)
                if inspect.isawaitable(result):
                    await result
            except Exception:
                self.metrics.handler_errors += 1
                what = describe(item) if isinstance(item, AmiMessage) else type(item).__name__
                log.exception("AMI: handler failed on %s; skipped", customer(what))  # Channel=Local/<number>@

    async def _stop_consumer(self, consumer: asyncio.Task[None]) -> None:
        """Drain what is queued (SIGTERM path), then stop the consumer."""
        try:
            await self.queue.put(_STOP)
            await consumer
        except asyncio.CancelledError:
            consumer.cancel()
            raise

    # ------------------------------------------------------------------ actions

    def _next_id(self) -> str:
        return f"{self._id_prefix}-{next(self._ids)}"

    async def send_action(self, action: A.ActionLike, *, timeout: float | None = None) -> AmiMessage:
        """Send ``action`` with a fresh ActionID and return its ``Response`` message."""
        fut = self._send(action, is_list=False, enqueue=False)
        response: AmiMessage = await self._await(fut, action, timeout)
        return response

    async def send_list_action(
        self, action: A.ActionLike, *, timeout: float | None = None, enqueue: bool = False
    ) -> list[AmiMessage]:
        """Send a list-producing action (CoreShowChannels...) and collect its events.

        With ``enqueue=True`` the result is also queued as a :class:`ListResult`
        at the position of its ``...Complete`` event, so the consumer sees the
        snapshot in order with the live events around it (R-PBX-5).
        """
        fut = self._send(action, is_list=True, enqueue=enqueue)
        result: list[AmiMessage] = await self._await(fut, action, timeout)
        return result

    def _send(self, action: A.ActionLike, *, is_list: bool, enqueue: bool) -> asyncio.Future[Any]:
        writer = self._writer
        if writer is None or self.state != ConnState.CONNECTED:
            raise AmiNotConnected(f"AMI not connected to {self.host}:{self.port}")
        action_id = self._next_id()
        pairs = A.with_action_id(action, action_id)
        name = A.get_header(pairs, "Action") or "?"
        data = A.serialize(pairs)
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[action_id] = _Pending(name, fut, is_list, enqueue)
        writer.write(data)
        return fut

    async def _await(self, fut: asyncio.Future[Any], action: A.ActionLike, timeout: float | None) -> Any:
        limit = self.action_timeout if timeout is None else timeout
        try:
            return await asyncio.wait_for(asyncio.shield(fut), limit)
        except TimeoutError:
            for aid, p in list(self._pending.items()):
                if p.future is fut:
                    del self._pending[aid]
                    name = p.name
                    break
            else:
                name = "action"
            raise AmiActionTimeout(f"AMI {name} got no response within {limit:g}s") from None

    async def _pinger(self) -> None:
        while True:
            await asyncio.sleep(self.ping_interval)
            try:
                await self.send_action(A.ping(), timeout=self.ping_timeout)
            except AmiActionTimeout:
                if self._blocked:
                    # Our own consumer is slow: the Pong is sitting unread behind
                    # queued events. The peer is not silent; do not drop it.
                    continue
                self.metrics.ping_timeouts += 1
                self._drop_reason = f"no Pong within {self.ping_timeout:g}s (silent peer)"
                log.warning("AMI %s:%s: %s; dropping the connection", self.host, self.port, self._drop_reason)
                writer = self._writer
                if writer is not None:
                    writer.transport.abort()
                return
            except AmiError:
                return

    def _spawn(self, coro_or_none: Awaitable[None] | None, what: str) -> None:
        if coro_or_none is None or not inspect.isawaitable(coro_or_none):
            return
        task = asyncio.ensure_future(coro_or_none)
        self._aux_tasks.add(task)

        def done(t: asyncio.Future[None]) -> None:
            self._aux_tasks.discard(t)
            if t.cancelled():
                return
            exc = t.exception()
            if isinstance(exc, AmiError):
                log.warning("AMI %s did not complete: %s", what, exc)
            elif exc is not None:
                log.error("AMI %s failed: %s", what, _why(exc), exc_info=exc)

        task.add_done_callback(done)


def _why(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
