"""Run the real daemon (`ccagent run` internals) against the simulated Asterisk over TCP."""

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
from ccagent.pbx.ami.capture import iter_ami_capture
from ccagent.pbx.ami.parser import AmiMessage
from ccagent.sim.ami_server import SimAsterisk
from tests.waiting import wait_for

SECRET = "s3cr3t-Pa55word"

# Answers to the lab recorder's own actions: the daemon asks its own questions.
_LAB_ANSWERS = frozenset(
    {
        "CoreShowChannel",
        "CoreShowChannelsComplete",
        "QueueMember",
        "QueueParams",
        "QueueEntry",
        "QueueStatusComplete",
        "QueueSummary",
        "QueueSummaryComplete",
        "FullyBooted",
        "SuccessfulAuth",
    }
)


def capture_events(path: Path) -> list[AmiMessage]:
    """The PBX's spontaneous events of a capture (what a simulated PBX should replay)."""
    return [m for m in iter_ami_capture(path) if "Event" in m and m["Event"] not in _LAB_ANSWERS]


def daemon_config(port: int, db_url: str, **legs: str) -> Config:
    return parse_config(
        {
            "pbx": {
                "type": "asterisk",
                "asterisk": {
                    "port": port,
                    "username": "ccagent",
                    "secret": SECRET,
                    "ping_interval_s": 2.0,
                    "ping_timeout_s": 2.0,
                    "reconnect_min_s": 0.05,
                    "reconnect_max_s": 0.3,
                },
            },
            "database": {"url": db_url},
            "legs": {"project_variable": "LAB_PROJECT", **legs},
        }
    )


@dataclass
class Live:
    sim: SimAsterisk
    daemon: Daemon
    task: asyncio.Task[int]

    async def reconnected(self, timeout: float = 10.0) -> None:
        """Wait until the daemon is logged in again after a cut or restart."""
        await wait_for(lambda: self.sim.logged_in >= 1, timeout, "daemon did not reconnect")

    async def settle(self, timeout: float = 20.0) -> None:
        """Wait until the daemon has applied and committed everything it received."""
        last = -1.0
        stable_since = time.monotonic()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            seen = self.daemon.metrics.messages._value.get()
            idle = self.daemon.session is not None and self.daemon.session.queue.empty()
            if seen != last or not idle or self.daemon.pipeline.pending:
                last, stable_since = seen, time.monotonic()
            elif time.monotonic() - stable_since > 0.3:
                return
            await asyncio.sleep(0.02)
        raise TimeoutError("daemon did not settle")

    async def stop(self) -> int:
        self.daemon.request_stop()
        return await asyncio.wait_for(self.task, 20.0)


@asynccontextmanager
async def live_daemon(db_url: str, **legs: str) -> AsyncIterator[Live]:
    sim = SimAsterisk(username="ccagent", secret=SECRET)
    await sim.start()
    daemon = build_daemon(daemon_config(sim.port, db_url, **legs), notifier=NullNotifier())
    task = asyncio.create_task(daemon.run())
    live = Live(sim, daemon, task)
    try:
        await sim.wait_logged_in(1, timeout=10.0)
        yield live
    finally:
        if not task.done():
            daemon.request_stop()
            await asyncio.wait_for(task, 20.0)
        await sim.stop()


async def play_files(live: Live, files: Iterable[Path]) -> None:
    """Each file is one connection: cut between files, as the lab's recorder saw it."""
    for i, path in enumerate(files):
        if i:
            live.sim.drop_clients()
            await live.reconnected()
            await live.settle()
        await live.sim.play(capture_events(path))
    await live.settle()
