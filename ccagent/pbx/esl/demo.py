"""`ccagent demo --pbx freeswitch`: the whole pipeline with no FreeSWITCH at hand (SPEC R-OPS-6, R-PBX-2).

The FreeSWITCH twin of :mod:`ccagent.app.demo`: a simulated FreeSWITCH (the real Event Socket
protocol over TCP on 127.0.0.1) plays a compressed busy hour made of re-stamped copies of the real
lab captures (direct and queue calls, blind and attended transfers, missed and abandoned calls,
dialer, autoinformer and robot calls, supervisor listen/whisper/barge, Cyrillic caller names).  The
real daemon (`ccagent run` internals, ESL client included) listens to it and writes SQLite; then the
"Results of all calls" report is printed.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from ccagent.app.daemon import Daemon, NullNotifier
from ccagent.config import parse_config

if TYPE_CHECKING:
    from ccagent.sim.scenarios import ExpectedCall

__all__ = ["DEMO_SCENARIOS", "EMPLOYEES", "demo_stream", "play_busy_hour", "run_fs_demo"]

DEMO_PASSWORD = "demo-only-esl-password"

# A busy hour's mix, weighted by repetition (the real captures are the templates).
DEMO_SCENARIOS = (
    "01-inbound-answered",
    "01-inbound-answered",
    "03-queue-answered",
    "03-queue-answered",
    "14-queue-rollover",
    "02-inbound-missed",
    "04-queue-abandon",
    "05-blind-transfer",
    "05b-blind-transfer-refer",
    "06-attended-transfer",
    "07-attended-transfer-abandoned",
    "08a-dialer-answered",
    "08b-dialer-no-answer",
    "08c-dialer-busy",
    "09-callback",
    "10-eavesdrop",
    "11-internal-call",
    "15-dialer-to-queue",
    "16-inbound-agent-rejects",
    "17-cyrillic-caller-name",
    "18-dialer-abandon-safe-harbour",
    "19-autoinformer-dtmf",
    "24-dialog-robot",
    "25-queue-wrapup",
)

EMPLOYEES = {
    "1001": "Олена Коваль",
    "1002": "Ivan Petrov",
    "1003": "Мария Сидорова",
    "1004": "Supervisor Anna",
}


def _bar(done: int, total: int, out: TextIO, last: list[int], width: int = 40) -> None:
    """Redraw in place on a terminal; a pipe gets a line per tenth instead of a smear of \\r."""
    filled = int(width * done / max(1, total))
    line = f"  [{'#' * filled}{'.' * (width - filled)}] {done}/{total} ESL events"
    if out.isatty():
        out.write("\r" + line)
    else:
        tenth = done * 10 // max(1, total)
        if tenth == last[0] and done != total:
            return
        last[0] = tenth
        out.write(line + "\n")
    out.flush()


def demo_stream(
    calls: int, seed: int, start_us: int = 1_800_000_000_000_000
) -> tuple[list[dict[str, str]], list[ExpectedCall]]:
    """The demo's events and the calls they make (``calls`` scenario copies, about 3 s apart)."""
    from ccagent.sim.esl_scenarios import build_stream

    return build_stream(calls, folders=DEMO_SCENARIOS, seed=seed, start_us=start_us, gap_us=2_000_000)


async def play_busy_hour(db_path: Path, calls: int, seconds: float, seed: int, out: TextIO) -> Daemon:
    from ccagent.sim.esl_server import EslServer

    events, expected = demo_stream(calls, seed, int((time.time() - 3600) * 1_000_000))
    stamps = [int(e["Event-Date-Timestamp"]) for e in events if e.get("Event-Date-Timestamp", "").isdigit()]
    span = (max(stamps) - min(stamps)) / 1e6 if stamps else 1.0
    speed = max(1.0, span / max(1.0, seconds))
    server = EslServer(events, password=DEMO_PASSWORD, speed=speed)
    await server.start()
    config = parse_config(
        {
            "pbx": {
                "type": "freeswitch",
                "freeswitch": {
                    "port": server.port,
                    "password": DEMO_PASSWORD,
                    "reconnect_min_s": 0.1,
                    "reconnect_max_s": 1.0,
                },
            },
            "database": {"url": f"sqlite:///{db_path}"},
            "legs": {"project_variable": "dialer_campaign"},
            "employees": {"mapping": EMPLOYEES},
        }
    )
    daemon = Daemon(config, notifier=NullNotifier())
    task = asyncio.create_task(daemon.run())
    try:
        print(
            f"Simulated FreeSWITCH (Event Socket) on 127.0.0.1:{server.port}: a busy hour of "
            f"{len(expected)} calls ({span / 60:.0f} PBX minutes) played {speed:.0f}x faster",
            file=out,
        )
        total = len(events)
        last = [-1]
        while server.played < total and not task.done():
            _bar(server.played, total, out, last)
            await asyncio.sleep(0.1)
        _bar(server.played, total, out, last)
        if out.isatty():
            out.write("\n")
        deadline = time.monotonic() + 15
        while (
            not task.done()
            and time.monotonic() < deadline
            and (
                daemon.pipeline.tracker.calls
                or daemon.pipeline.pending
                or (daemon.session is not None and not daemon.session.queue.empty())
            )
        ):
            await asyncio.sleep(0.05)
    finally:
        daemon.request_stop()
        await asyncio.wait_for(task, 30)
        await server.stop()
    return daemon


def run_fs_demo(
    *,
    db_path: str = "ccagent-demo.db",
    calls: int = 120,
    seconds: float = 30.0,
    seed: int = 7,
    out: TextIO | None = None,
) -> int:
    """`ccagent demo --pbx freeswitch` (the report part is shared with the Asterisk demo)."""
    from ccagent.app.demo import run_demo

    return run_demo(pbx="freeswitch", db_path=db_path, calls=calls, seconds=seconds, seed=seed, out=out)
