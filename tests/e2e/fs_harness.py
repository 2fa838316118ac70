"""Run the real daemon (`ccagent run` internals) against the simulated FreeSWITCH over TCP (R-PBX-2)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from ccagent.app.bootstrap import build_daemon
from ccagent.app.daemon import Daemon, NullNotifier
from ccagent.config import Config, parse_config
from ccagent.pbx.esl.capture import iter_capture_events
from ccagent.pbx.esl.client import EslClient
from ccagent.sim.esl_server import EslServer
from tests.waiting import wait_for

PASSWORD = "Fs-Esl-s3cr3t-9d2"
PROJECT_VARIABLE = "dialer_campaign"  # what the FreeSWITCH lab's originates set


def capture_events(path: Path) -> list[dict[str, str]]:
    """Every event of a capture (what the simulated switch replays; api replies are not events)."""
    return list(iter_capture_events(path))


def folder_format(folder: str) -> str:
    """The lab captured ``-json`` folders with ``event json ALL``: replay them the same way."""
    return "json" if folder.endswith("-json") else "plain"


def fs_config(port: int, db_url: str, *, event_format: str = "plain", **legs: str) -> Config:
    return parse_config(
        {
            "pbx": {
                "type": "freeswitch",
                "freeswitch": {
                    "port": port,
                    "password": PASSWORD,
                    "event_format": event_format,
                    "ping_interval_s": 2.0,
                    "ping_timeout_s": 2.0,
                    "reconnect_min_s": 0.02,
                    "reconnect_max_s": 0.2,
                },
            },
            "database": {"url": db_url},
            "legs": {"project_variable": PROJECT_VARIABLE, **legs},
        }
    )


def counter(c: object) -> float:
    return float(c._value.get())  # type: ignore[attr-defined]


@dataclass
class LiveFs:
    server: EslServer
    daemon: Daemon
    task: asyncio.Task[int]
    config: Config
    fed: int = 0  # events handed to the server so far

    @property
    def client(self) -> EslClient:
        session = self.daemon.session
        assert isinstance(session, EslClient)
        return session

    def connections_up(self) -> int:
        """Connections whose snapshot the daemon has applied (the first one counts as 1)."""
        return 1 + int(counter(self.daemon.metrics.reconnects)) if self.daemon.stats.items else 0

    async def play(self, events: Iterable[dict[str, str]], timeout: float = 30.0) -> None:
        """Hand events to the switch and wait until every one reached the daemon's queue."""
        batch = list(events)
        self.fed += len(batch)
        self.server.feed(batch)
        await wait_for(lambda: self.server.played >= self.fed, timeout, "the switch did not play everything")
        await self.delivered(timeout)

    async def delivered(self, timeout: float = 10.0) -> None:
        await wait_for(
            lambda: self.client.events_received + self.client.events_skipped >= self.server.sent,
            timeout,
            "events in flight never arrived",
        )

    async def cut(self, *, restart: bool = False) -> None:
        """Drop the line (or restart the switch) and wait until the daemon is back and reconciled.

        The switch holds its events meanwhile, so the new connection's snapshot is taken before any
        new event is sent (a real switch would interleave; the daemon handles both, but the test's
        expected legs need a fixed order)."""
        before = int(counter(self.daemon.metrics.reconnects))
        self.server.pause(True)
        if restart:
            await self.server.restart(downtime_s=0.01)
        else:
            self.server.drop_clients()
        await wait_for(
            lambda: counter(self.daemon.metrics.reconnects) > before, 10.0, "the daemon did not reconnect"
        )
        self.server.pause(False)

    async def settle(self, timeout: float = 20.0) -> None:
        """Wait until the daemon has applied and committed everything it received."""
        last = -1.0
        stable_since = time.monotonic()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            seen = counter(self.daemon.metrics.messages)
            idle = self.daemon.session is not None and self.daemon.session.queue.empty()
            if seen != last or not idle or self.daemon.pipeline.pending:
                last, stable_since = seen, time.monotonic()
            elif time.monotonic() - stable_since > 0.2:
                return
            await asyncio.sleep(0.01)
        raise TimeoutError("daemon did not settle")

    async def stop(self) -> int:
        self.daemon.request_stop()
        return await asyncio.wait_for(self.task, 20.0)


@asynccontextmanager
async def live_fs_daemon(db_url: str, *, event_format: str = "plain", **legs: str) -> AsyncIterator[LiveFs]:
    server = EslServer(password=PASSWORD)
    await server.start()
    config = fs_config(server.port, db_url, event_format=event_format, **legs)
    daemon = build_daemon(config, notifier=NullNotifier())
    task = asyncio.create_task(daemon.run())
    live = LiveFs(server, daemon, task, config)
    try:
        # up = subscribed AND the first snapshot applied by the consumer
        await wait_for(lambda: daemon.stats.items >= 1 or task.done(), 10.0, "daemon never connected")
        if task.done():
            raise RuntimeError(f"the daemon stopped at start-up with code {task.result()}")
        yield live
    finally:
        if not task.done():
            daemon.request_stop()
            await asyncio.wait_for(task, 20.0)
        await server.stop()


async def play_files(live: LiveFs, files: Iterable[Path]) -> None:
    """Each file is one connection: cut between files, as the lab's recorder saw it."""
    for i, path in enumerate(files):
        if i:
            await live.settle()
            await live.cut()
        await live.play(capture_events(path))
    await live.settle()
