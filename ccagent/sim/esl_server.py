"""A simulated FreeSWITCH: a real TCP Event Socket server (inbound mode) for tests, demo and benchmarks.

It speaks the real wire protocol (``auth/request``, ``command/reply``, ``api/response``,
``text/event-plain`` / ``text/event-json``, ``BACKGROUND_JOB``, ``text/disconnect-notice``) and replays
event dicts (a capture, or :mod:`ccagent.sim.esl_scenarios`) at their recorded pace, faster, or as
fast as the socket takes them.  It keeps a channel model from the events it plays, so
``show channels as json`` / ``show bridged_calls as json`` answer like a real switch would after a
reconnect (R-PBX-5).  Fault hooks: :meth:`drop_clients`, :meth:`restart`, :meth:`pause`.

Like FreeSWITCH, events played while no client listens are lost for that client: the daemon must
reconcile from ``show channels``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid as uuidlib
from collections.abc import Iterable
from dataclasses import dataclass, field

from ccagent.sim.esl_scenarios import encode_event

__all__ = ["EslServer"]

_DISCONNECT = b"Disconnected, goodbye.\nSee you at ClueCon! http://www.cluecon.com/\n"


@dataclass(eq=False)
class _Client:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    authed: bool = False
    fmt: str | None = None  # None = not subscribed
    filters: list[tuple[str, str]] = field(default_factory=list)
    linger: bool = False

    def wants(self, event: dict[str, str]) -> bool:
        if self.fmt is None:
            return False
        if not self.filters:
            return True
        return any(event.get(k) == v for k, v in self.filters)


class EslServer:
    """In-process simulated FreeSWITCH event socket on 127.0.0.1."""

    def __init__(
        self,
        events: Iterable[dict[str, str]] = (),
        *,
        password: str = "ClueCon",
        host: str = "127.0.0.1",
        port: int = 0,
        speed: float | None = None,
        autoplay: bool = True,
        wait_for_client: bool = True,
        preencode: tuple[str, ...] = (),
        gateways: Iterable[str] = ("carrier",),
    ) -> None:
        self._password = password
        #: mod_sofia gateways an ``originate sofia/gateway/<name>/...`` may use: anything else is
        #: answered ``-ERR INVALID_GATEWAY`` as mod_sofia does.  The lab's by default.
        self.gateways = set(gateways)
        self.host = host
        self.port = port
        self.speed = speed  # None = as fast as possible; 1.0 = recorded timing; 10.0 = ten times faster
        self._pending: list[dict[str, str]] = list(events)
        self._server: asyncio.Server | None = None
        self._clients: set[_Client] = set()
        self._player: asyncio.Task[None] | None = None
        self._running = asyncio.Event()
        self._running.set()
        self._has_client = asyncio.Event()
        self._more = asyncio.Event()
        self._autoplay = autoplay
        self._wait_for_client = wait_for_client
        self.channels: dict[str, dict[str, str]] = {}
        self.bridges: dict[str, str] = {}  # a-leg -> b-leg
        self.played = 0
        self.sent = 0
        self.connections = 0
        self.commands: list[str] = []  # every command received (auth redacted)
        self.done = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        # benchmarks: encode the stream once up front so the server is not what is being measured
        self._encoded: dict[tuple[int, str], bytes] = {
            (id(e), fmt): encode_event(e, fmt) for fmt in preencode for e in self._pending
        }

    # -- lifecycle -----------------------------------------------------------------------------------

    async def start(self) -> EslServer:
        self._server = await asyncio.start_server(self._on_client, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        if self._autoplay and self._player is None:
            self._player = asyncio.create_task(self._play())
        return self

    async def stop(self) -> None:
        if self._player is not None:
            self._player.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._player
            self._player = None
        await self._close_listener()
        self.drop_clients()
        for t in list(self._tasks):
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def __aenter__(self) -> EslServer:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def _close_listener(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 1.0)
            self._server = None

    # -- fault hooks ---------------------------------------------------------------------------------

    def drop_clients(self) -> None:
        """Cut every client socket abruptly (no disconnect notice), like a network failure."""
        for c in list(self._clients):
            transport = c.writer.transport
            if transport is not None:
                transport.abort()
        self._clients.clear()
        self._has_client.clear()

    async def restart(self, downtime_s: float = 0.05) -> None:
        """A PBX restart: clients dropped, listener closed for ``downtime_s``, channel model lost."""
        await self._close_listener()
        self.drop_clients()
        self.channels.clear()
        self.bridges.clear()
        await asyncio.sleep(downtime_s)
        self._server = await asyncio.start_server(self._on_client, self.host, self.port)

    def pause(self, on: bool) -> None:
        """Stop (or resume) playing events; the socket stays up, like a silent peer."""
        if on:
            self._running.clear()
        else:
            self._running.set()

    async def send_raw(self, data: bytes) -> int:
        """Write raw bytes to every subscribed client, outside the event stream (fault injection:
        garbage, a frame cut short, a lying Content-Length).  Returns how many clients got them."""
        targets = [c for c in self._clients if c.fmt is not None]
        for c in targets:
            await self._send(c, data)
            with contextlib.suppress(Exception):
                await c.writer.drain()
        return len(targets)

    def feed(self, events: Iterable[dict[str, str]]) -> None:
        self._pending.extend(events)
        self._more.set()

    # -- playing -------------------------------------------------------------------------------------

    async def _play(self) -> None:
        i = 0
        prev_ts: int | None = None
        loop = asyncio.get_running_loop()
        t_wall0 = loop.time()
        t_evt0: int | None = None
        while True:
            if i >= len(self._pending):
                self.done.set()
                self._more.clear()
                await self._more.wait()
                continue
            self.done.clear()
            if self._wait_for_client and not self.subscribed:
                await self._has_client.wait()
                await asyncio.sleep(0)
                continue
            if not self._running.is_set():
                await self._running.wait()
                t_evt0 = None
            event = self._pending[i]
            i += 1
            ts = event.get("Event-Date-Timestamp", "")
            if self.speed and ts.isdigit():
                now_evt = int(ts)
                if t_evt0 is None or prev_ts is None or now_evt < prev_ts:
                    t_evt0, t_wall0 = now_evt, loop.time()
                prev_ts = now_evt
                delay = t_wall0 + (now_evt - t_evt0) / 1e6 / self.speed - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
            self._apply(event)
            await self._broadcast(event)
            self.played += 1
            if self.played % 256 == 0:
                await asyncio.sleep(0)

    @property
    def subscribed(self) -> bool:
        """A client is connected and has asked for events (a daemon in another process is ready)."""
        return any(c.fmt is not None for c in self._clients)

    def _apply(self, e: dict[str, str]) -> None:
        name = e.get("Event-Name")
        uid = e.get("Unique-ID", "")
        if name == "CHANNEL_CREATE" and uid:
            self.channels[uid] = {
                "uuid": uid,
                "direction": e.get("Call-Direction", ""),
                "created_epoch": str(int(e.get("Event-Date-Timestamp", "0") or 0) // 1_000_000),
                "name": e.get("Channel-Name", ""),
                "state": "CS_INIT",
                "cid_name": e.get("Caller-Caller-ID-Name", ""),
                "cid_num": e.get("Caller-Caller-ID-Number", ""),
                "dest": e.get("Caller-Destination-Number", ""),
                "context": e.get("Caller-Context", ""),
                "callstate": "DOWN",
                "call_uuid": e.get("Channel-Call-UUID", uid),
            }
        elif name in ("CHANNEL_PROGRESS", "CHANNEL_PROGRESS_MEDIA") and uid in self.channels:
            if self.channels[uid]["callstate"] == "DOWN":
                self.channels[uid]["callstate"] = "RINGING"
        elif name == "CHANNEL_ANSWER" and uid in self.channels:
            self.channels[uid]["callstate"] = "ACTIVE"
        elif name == "CHANNEL_BRIDGE":
            a, b = e.get("Bridge-A-Unique-ID", ""), e.get("Bridge-B-Unique-ID", "")
            if a and b:
                self.bridges[a] = b
        elif name == "CHANNEL_UNBRIDGE":
            self.bridges.pop(e.get("Bridge-A-Unique-ID", ""), None)
        elif name in ("CHANNEL_HANGUP_COMPLETE", "CHANNEL_DESTROY") and uid:
            self.channels.pop(uid, None)
            self.bridges.pop(uid, None)
            for a, b in list(self.bridges.items()):
                if b == uid:
                    del self.bridges[a]

    async def _broadcast(self, event: dict[str, str]) -> None:
        cache: dict[str, bytes] = {}
        for c in list(self._clients):
            if not c.wants(event):
                continue
            fmt = c.fmt or "plain"
            frame = cache.get(fmt) or self._encoded.get((id(event), fmt))
            if frame is None:
                frame = cache[fmt] = encode_event(event, fmt)
            await self._send(c, frame)
            self.sent += 1

    async def _send(self, c: _Client, data: bytes) -> None:
        try:
            c.writer.write(data)
            if c.writer.transport.get_write_buffer_size() > 1 << 20:
                await c.writer.drain()
        except (ConnectionError, RuntimeError, AttributeError):
            self._clients.discard(c)

    # -- protocol ------------------------------------------------------------------------------------

    def _show_channels(self) -> str:
        rows = list(self.channels.values())
        return json.dumps({"row_count": len(rows), "rows": rows})

    def _show_bridged(self) -> str:
        rows = []
        for a, b in self.bridges.items():
            if a in self.channels and b in self.channels:
                row = dict(self.channels[a])
                row.update({"b_" + k: v for k, v in self.channels[b].items()})
                rows.append(row)
        return json.dumps({"row_count": len(rows), "rows": rows})

    def _api(self, cmd: str) -> str:
        c = " ".join(cmd.split())
        if c == "show channels as json":
            return self._show_channels()
        if c in ("show bridged_calls as json", "show calls as json"):
            return self._show_bridged()
        if c == "status":
            return "UP 0 years, 0 days, 0 hours, 1 minute, 0 seconds\nFreeSWITCH (sim) is ready\n"
        if c.startswith(("uuid_kill", "uuid_transfer", "uuid_bridge", "callcenter_config", "uuid_setvar")):
            return "+OK\n"
        if c.startswith("originate"):
            refused = self.originate_refusal(c)
            return refused or f"+OK {self._origination_uuid(c)}\n"
        return "-ERR " + (c.split(" ", 1)[0] or "empty") + " Command not found!\n"

    def originate_refusal(self, cmd: str) -> str | None:
        """mod_sofia's answer to an originate through a gateway it does not have, else ``None``."""
        endpoint = cmd.removeprefix("originate").strip()
        if endpoint.startswith("{"):
            endpoint = endpoint.split("}", 1)[-1]
        parts = endpoint.split(" ", 1)[0].split("/")
        if (
            len(parts) >= 3
            and parts[0] == "sofia"
            and parts[1] == "gateway"
            and parts[2] not in self.gateways
        ):
            return "-ERR INVALID_GATEWAY\n"
        return None

    @staticmethod
    def _origination_uuid(cmd: str) -> str:
        marker = "origination_uuid="
        if marker in cmd:
            return cmd.split(marker, 1)[1].split(",", 1)[0].split("}", 1)[0]
        return str(uuidlib.uuid4())

    async def _on_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        client = _Client(reader, writer)
        self._clients.add(client)
        self.connections += 1
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        try:
            writer.write(b"Content-Type: auth/request\n\n")
            buf = b""
            while True:
                data = await reader.read(65536)
                if not data:
                    break
                buf += data
                while b"\n\n" in buf:
                    raw, buf = buf.split(b"\n\n", 1)
                    cmd = raw.decode("utf-8", errors="replace").strip()
                    if not await self._command(client, cmd):
                        return
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            self._clients.discard(client)
            if not self._clients:
                self._has_client.clear()
            with contextlib.suppress(Exception):
                writer.close()
            if task is not None:
                self._tasks.discard(task)

    async def _reply(self, c: _Client, text: str, extra: str = "") -> None:
        await self._send(c, f"Content-Type: command/reply\nReply-Text: {text}\n{extra}\n".encode())

    async def _command(self, c: _Client, cmd: str) -> bool:
        """Handle one command; False closes the connection."""
        self.commands.append("auth ********" if cmd.startswith("auth ") else cmd)
        if not c.authed:
            if cmd.startswith("auth ") and cmd[5:].strip() == self._password:
                c.authed = True
                await self._reply(c, "+OK accepted")
                return True
            if cmd.startswith("auth "):
                await self._reply(c, "-ERR invalid")
                await self._disconnect(c)
                return False
            await self._reply(c, "-ERR command not found")
            return True
        word, _, rest = cmd.partition(" ")
        if word == "event":
            parts = rest.split()
            fmt = parts[0] if parts else "plain"
            if fmt not in ("plain", "json"):
                await self._reply(c, "-ERR unsupported format")
                return True
            c.fmt = fmt
            await self._reply(c, f"+OK event listener enabled {fmt}")
            self._has_client.set()
        elif word == "noevents":
            c.fmt = None
            await self._reply(c, "+OK no longer listening for events")
        elif word == "filter":
            k, _, v = rest.partition(" ")
            c.filters.append((k.strip(), v.strip()))
            await self._reply(c, f"+OK filter added. [{k.strip()}]=[{v.strip()}]")
        elif word == "linger":
            c.linger = True
            await self._reply(c, "+OK will linger")
        elif word == "api":
            body = self._api(rest).encode("utf-8")
            await self._send(c, b"Content-Type: api/response\nContent-Length: %d\n\n" % len(body) + body)
        elif word == "bgapi":
            job = str(uuidlib.uuid4())
            await self._reply(c, f"+OK Job-UUID: {job}", f"Job-UUID: {job}\n")
            result = self._api(rest)
            now_us = str(int(asyncio.get_running_loop().time() * 1e6))
            ev = {
                "Event-Name": "BACKGROUND_JOB",
                "Event-Date-Timestamp": now_us,
                "Job-UUID": job,
                "Job-Command": rest.split(" ", 1)[0],
                "Job-Command-Arg": rest.split(" ", 1)[1] if " " in rest else "",
                "_body": result,
            }
            if c.fmt is not None:
                await self._send(c, encode_event(ev, c.fmt))
        elif word == "exit":
            await self._reply(c, "+OK bye")
            await self._disconnect(c)
            return False
        else:
            await self._reply(c, "-ERR command not found")
        return True

    async def _disconnect(self, c: _Client) -> None:
        notice = b"Content-Type: text/disconnect-notice\nContent-Length: %d\n\n" % len(_DISCONNECT)
        await self._send(c, notice + _DISCONNECT)
        with contextlib.suppress(Exception):
            await c.writer.drain()
