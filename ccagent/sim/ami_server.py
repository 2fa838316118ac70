"""A simulated Asterisk speaking real AMI over TCP (R-OPS-6, R-PBX-5 tests).

It exists so the live daemon can be tested, demoed and benchmarked with no PBX
at hand, including the failures a real PBX inflicts: connections cut in the
middle of a message, a PBX restart that forgets every channel, a peer that
stops answering pings.  Like a real Asterisk, events played while nobody is
logged in are lost: that is exactly what makes reconciliation necessary, so
the server keeps a truthful model of live channels (fed by the events it
plays) and answers ``CoreShowChannels`` from it at any moment.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from ccagent.pbx.ami.parser import AmiMessage, AmiParser

__all__ = ["Fault", "SimAsterisk"]

log = logging.getLogger("ccagent.sim.ami")

BANNER = b"Asterisk Call Manager/11.0.0\r\n"
Fault = Literal["cut", "cut_mid", "restart"]
OriginateHook = Callable[[AmiMessage], Awaitable[None] | None]

# Channel snapshot fields every channel event carries; a channel's state is the latest of them.
_SNAPSHOT_KEYS = (
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
)


@dataclass(slots=True)
class _Channel:
    fields: dict[str, str]
    created: float
    application: str = ""
    app_data: str = ""
    bridge: str = ""


@dataclass(eq=False, slots=True)
class _Conn:
    writer: asyncio.StreamWriter
    authed: bool = False
    events: bool = True
    username: str = ""


@dataclass(slots=True)
class SimStats:
    events_played: int = 0
    events_sent: int = 0  # event deliveries (x connections)
    events_lost: int = 0  # played while no client was logged in
    logins: int = 0
    failed_logins: int = 0
    connections: int = 0
    actions: dict[str, int] = field(default_factory=dict)
    originates_refused: int = 0  # to a trunk this Asterisk does not have


class SimAsterisk:
    """``sim = SimAsterisk(username=..., secret=...); await sim.start(); sim.port; await sim.play(msgs)``."""

    def __init__(
        self,
        *,
        username: str = "ccagent",
        secret: str = "ccagent",
        host: str = "127.0.0.1",
        port: int = 0,
        on_originate: OriginateHook | None = None,
        version: str = "11.0.0",
        trunks: Iterable[str] = ("customers",),
    ) -> None:
        self.username = username
        #: Endpoints a ``TECH/number@endpoint`` Originate may dial through (and contexts for
        #: ``Local/number@context``): anything else is refused as a real Asterisk refuses a
        #: channel it cannot create.  The lab's trunk by default; tests name their own.
        self.trunks = set(trunks)
        self.originated: list[str] = []  # the Channel of every Originate received, refused or not
        self._secret = secret
        self.host = host
        self.port = port
        self.on_originate = on_originate
        self.banner = f"Asterisk Call Manager/{version}\r\n".encode()
        self.channels: dict[str, _Channel] = {}
        self.stats = SimStats()
        self.pings_paused = False
        self.clock: float = 0.0  # PBX time: the Timestamp of the last played event
        self._conns: set[_Conn] = set()
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._originate_seq = 0
        self._login_event = asyncio.Event()

    def knows_channel(self, channel: str) -> bool:
        """Can this Asterisk create ``channel``?  ``PJSIP/101`` (an endpoint of its own) always;
        ``TECH/number@trunk`` only through a trunk (or Local context) it has."""
        _tech, _, rest = channel.partition("/")
        if not rest:
            return False
        if "@" not in rest:
            return True
        return rest.split("@", 1)[1].split("/", 1)[0] in self.trunks

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        self.drop_clients()
        for t in list(self._tasks):
            t.cancel()
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2.0)
            self._server = None

    async def __aenter__(self) -> SimAsterisk:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def logged_in(self) -> int:
        return sum(1 for c in self._conns if c.authed)

    async def wait_logged_in(self, n: int = 1, timeout: float = 5.0) -> None:
        """Wait until ``n`` authenticated connections exist (test helper)."""
        deadline = time.monotonic() + timeout
        while self.logged_in < n:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no {n} AMI login(s) within {timeout}s")
            self._login_event.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._login_event.wait(), min(left, 0.05))

    # ------------------------------------------------------------------ faults

    def drop_clients(self) -> int:
        """Cut every TCP connection now (bytes not yet sent are lost, as in a real cut)."""
        n = 0
        for conn in list(self._conns):
            with contextlib.suppress(Exception):
                conn.writer.transport.abort()
            self._conns.discard(conn)
            n += 1
        return n

    async def _cut_mid(self, partial: bytes) -> None:
        """Deliver the first bytes of a message, then cut: the client holds half a message."""
        for conn in list(self._conns):
            if conn.authed and conn.events:
                with contextlib.suppress(Exception):
                    conn.writer.write(partial)
                    await conn.writer.drain()
        self.drop_clients()

    def restart(self) -> None:
        """A PBX restart: every connection dropped and every live channel forgotten."""
        self.drop_clients()
        self.channels.clear()

    def script_originates(
        self,
        outcome: str | Callable[[AmiMessage], str] = "answered",
        *,
        speed: float | None = 1.0,
        seed: int = 0,
    ) -> None:
        """Answer each Originate with a whole simulated call (a re-stamped lab capture).

        ``outcome`` (or a function of the action) picks answered / no_answer /
        busy / failed; the call is played in the background at ``speed``.
        """
        from ccagent.sim.scenarios import OriginateScript

        script = OriginateScript(seed)

        async def hook(action: AmiMessage) -> None:
            which = outcome(action) if callable(outcome) else outcome
            start = max(self.clock, time.time())
            msgs, _ = script.call(action, which, start)
            await self.play(msgs, speed=speed)

        self.on_originate = hook

    def pause_pings(self, paused: bool = True) -> None:
        """Silent peer: Ping actions get no answer while paused."""
        self.pings_paused = paused

    # ------------------------------------------------------------------ playback

    async def play(
        self,
        messages: Iterable[AmiMessage],
        speed: float | None = None,
        *,
        faults: Mapping[int, Fault] | None = None,
        flush_every: int = 32,
        rate: float | None = None,
        stamp: str | None = None,
    ) -> int:
        """Play events to logged-in clients; returns how many were played.

        ``speed=None``: as fast as the sockets take them; ``1.0``: the original
        ``Timestamp`` spacing; ``10.0``: ten times faster.  ``faults`` maps a
        message index to a fault applied *at* that message: ``cut`` (drop
        clients before sending it), ``cut_mid`` (send half of it, then cut) or
        ``restart`` (PBX restart before it).  ``rate`` paces at a fixed number of
        events per second instead of the timestamps (live-path benchmarks).
        ``stamp`` names a header added to every event carrying the loop time
        at which it was written (event-to-consumer latency measurement).
        """
        faults = faults or {}
        loop = asyncio.get_running_loop()
        t0_wall: float | None = None
        t0_pbx: float | None = None
        played = 0
        t_rate = loop.time()
        for i, msg in enumerate(messages):
            ts_text = msg.get("Timestamp")
            if rate is not None:
                due = t_rate + i / rate
                if due - loop.time() > 0.002:
                    await self._flush()
                    await asyncio.sleep(max(0.0, due - loop.time()))
            elif speed is not None and ts_text is not None:
                try:
                    ts = float(ts_text)
                except ValueError:
                    ts = None
                if ts is not None:
                    if t0_wall is None or t0_pbx is None:
                        t0_wall, t0_pbx = loop.time(), ts
                    delay = t0_wall + (ts - t0_pbx) / speed - loop.time()
                    if delay > 0:
                        await self._flush()
                        await asyncio.sleep(delay)
            fault = faults.get(i)
            if stamp is not None:
                msg = AmiMessage.from_pairs([*msg.raw_headers, (stamp, f"{loop.time():.6f}")])
            data = msg.to_bytes()
            if fault == "restart":
                self.restart()
            elif fault == "cut":
                self.drop_clients()
            elif fault == "cut_mid":
                self._observe(msg)
                await self._flush()
                await self._cut_mid(data[: max(1, len(data) // 2)])
                self.stats.events_played += 1
                self.stats.events_lost += 1
                played += 1
                continue
            self._observe(msg)
            self._broadcast(data)
            played += 1
            if played % flush_every == 0:
                await self._flush()
        await self._flush()
        return played

    async def send_raw(self, data: bytes) -> None:
        """Write bytes as-is to every logged-in client (malformed-input tests)."""
        for conn in list(self._conns):
            if conn.authed:
                conn.writer.write(data)
        await self._flush()

    def _broadcast(self, data: bytes) -> None:
        self.stats.events_played += 1
        sent = 0
        for conn in self._conns:
            if conn.authed and conn.events:
                conn.writer.write(data)
                sent += 1
        if sent:
            self.stats.events_sent += sent
        else:
            self.stats.events_lost += 1

    async def _flush(self) -> None:
        for conn in list(self._conns):
            try:
                await conn.writer.drain()
            except (ConnectionError, OSError):
                self._conns.discard(conn)
        # Let connection handlers run: a real PBX answers actions while events flow.
        await asyncio.sleep(0)

    def _observe(self, msg: AmiMessage) -> None:
        """Keep the live-channel model truthful (CoreShowChannels answers from it)."""
        ts_text = msg.get("Timestamp")
        if ts_text:
            with contextlib.suppress(ValueError):
                self.clock = float(ts_text)
        event = msg.get("Event")
        uid = msg.get("Uniqueid")
        if event is None or uid is None:
            return
        if event == "Newchannel":
            self.channels[uid] = _Channel({k: msg.get(k, "") for k in _SNAPSHOT_KEYS}, self.clock)
            return
        chan = self.channels.get(uid)
        if chan is None:
            return
        if event == "Hangup":
            del self.channels[uid]
            return
        f = chan.fields
        for k in _SNAPSHOT_KEYS:
            v = msg.get(k)
            if v is not None:
                f[k] = v
        if event == "Newexten":
            chan.application = msg.get("Application", chan.application)
            chan.app_data = msg.get("AppData", chan.app_data)
        elif event == "BridgeEnter":
            chan.bridge = msg.get("BridgeUniqueid", "")
        elif event == "BridgeLeave":
            chan.bridge = ""

    # ------------------------------------------------------------------ connections

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = _Conn(writer)
        self._conns.add(conn)
        self.stats.connections += 1
        parser = AmiParser()
        try:
            writer.write(self.banner)
            while True:
                data = await reader.read(65536)
                if not data:
                    break
                for action in parser.feed(data):
                    if not await self._dispatch(conn, action):
                        return
                await writer.drain()
        except (ConnectionError, OSError, asyncio.CancelledError):
            pass
        finally:
            self._conns.discard(conn)
            with contextlib.suppress(Exception):
                writer.close()

    def _reply(self, conn: _Conn, action: AmiMessage, pairs: list[tuple[str, str]]) -> None:
        aid = action.get("ActionID")
        if aid is not None:
            pairs.insert(1, ("ActionID", aid))
        conn.writer.write(AmiMessage.from_pairs(pairs).to_bytes())

    async def _dispatch(self, conn: _Conn, action: AmiMessage) -> bool:
        name = (action.get("Action") or "").lower()
        self.stats.actions[name] = self.stats.actions.get(name, 0) + 1
        if name == "login":
            if action.get("Username") == self.username and action.get("Secret") == self._secret:
                conn.authed = True
                conn.username = self.username
                conn.events = (action.get("Events") or "on").lower() != "off"
                self.stats.logins += 1
                self._login_event.set()
                self._reply(conn, action, [("Response", "Success"), ("Message", "Authentication accepted")])
                if conn.events:
                    conn.writer.write(
                        AmiMessage.from_pairs(
                            [
                                ("Event", "FullyBooted"),
                                ("Privilege", "system,all"),
                                ("Uptime", "10"),
                                ("LastReload", "10"),
                                ("Status", "Fully Booted"),
                            ]
                        ).to_bytes()
                    )
            else:
                self.stats.failed_logins += 1
                self._reply(conn, action, [("Response", "Error"), ("Message", "Authentication failed")])
                await conn.writer.drain()
                return False
            return True
        if not conn.authed:
            self._reply(conn, action, [("Response", "Error"), ("Message", "Authentication Required")])
            return True
        if name == "ping":
            if not self.pings_paused:
                self._reply(
                    conn,
                    action,
                    [("Response", "Success"), ("Ping", "Pong"), ("Timestamp", f"{time.time():.6f}")],
                )
        elif name == "logoff":
            self._reply(conn, action, [("Response", "Goodbye"), ("Message", "Thanks for all the fish.")])
            await conn.writer.drain()
            return False
        elif name == "coreshowchannels":
            self._core_show_channels(conn, action)
        elif name == "originate":
            self.originated.append(action.get("Channel", ""))
            if not self.knows_channel(action.get("Channel", "")):
                self.stats.originates_refused += 1
                self._reply(conn, action, [("Response", "Error"), ("Message", "Originate failed")])
                return True
            self._reply(conn, action, [("Response", "Success"), ("Message", "Originate successfully queued")])
            if self.on_originate is not None:
                result = self.on_originate(action)
                if inspect.isawaitable(result):
                    task = asyncio.ensure_future(result)
                    self._tasks.add(task)
                    task.add_done_callback(self._tasks.discard)
        elif name in ("hangup", "redirect", "queuepause", "queueadd", "queueremove", "userevent"):
            self._reply(conn, action, [("Response", "Success"), ("Message", _OK_MESSAGES[name])])
        else:
            self._reply(conn, action, [("Response", "Error"), ("Message", "Invalid/unknown command")])
        return True

    def _core_show_channels(self, conn: _Conn, action: AmiMessage) -> None:
        aid = action.get("ActionID")
        self._reply(
            conn,
            action,
            [("Response", "Success"), ("EventList", "start"), ("Message", "Channels will follow")],
        )
        out: list[bytes] = []
        for chan in self.channels.values():
            f = chan.fields
            pairs = [("Event", "CoreShowChannel")]
            if aid is not None:
                pairs.append(("ActionID", aid))
            pairs += [(k, f.get(k, "")) for k in _SNAPSHOT_KEYS if k not in ("Uniqueid", "Linkedid")]
            pairs += [
                ("Uniqueid", f.get("Uniqueid", "")),
                ("Linkedid", f.get("Linkedid", "")),
                ("Application", chan.application),
                ("ApplicationData", chan.app_data),
                ("Duration", _hhmmss(self.clock - chan.created)),
                ("BridgeId", chan.bridge),
            ]
            out.append(AmiMessage.from_pairs(pairs).to_bytes())
        done = [("Event", "CoreShowChannelsComplete")]
        if aid is not None:
            done.append(("ActionID", aid))
        done += [("EventList", "Complete"), ("ListItems", str(len(out)))]
        out.append(AmiMessage.from_pairs(done).to_bytes())
        conn.writer.write(b"".join(out))


_OK_MESSAGES = {
    "hangup": "Channel Hungup",
    "redirect": "Redirect successful",
    "queuepause": "Interface paused successfully",
    "queueadd": "Added interface to queue",
    "queueremove": "Removed interface from queue",
    "userevent": "Event Sent",
}


def _hhmmss(seconds: float) -> str:
    s = max(0, int(seconds))
    return f"{s // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d}"
