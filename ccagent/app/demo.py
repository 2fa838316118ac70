"""`ccagent demo`: the whole pipeline with no PBX at hand (SPEC R-OPS-6).

A simulated Asterisk (real AMI over TCP on 127.0.0.1) plays a compressed busy
hour made of re-stamped copies of the real lab captures: direct and queue
calls, blind and attended transfers, missed and abandoned calls, dialer calls,
Cyrillic caller names.  The real daemon (`ccagent run` internals) listens to
it and writes SQLite; then the "Results of all calls" report is printed.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections import Counter
from collections.abc import Iterator
from os import EX_CANTCREAT
from pathlib import Path
from typing import TextIO

from ccagent.app.daemon import Daemon, NullNotifier
from ccagent.app.reports import query_calls, report
from ccagent.config import parse_config

DEMO_SECRET = "demo-only-secret"

# A busy hour's mix, weighted by repetition (the real captures are the templates).
DEMO_SCENARIOS = [
    "01-inbound-direct-answered",
    "01-inbound-direct-answered",
    "03-queue-ringall-answered",
    "03-queue-ringall-answered",
    "18-queue-rrmemory-ringnoanswer",
    "02-inbound-direct-missed",
    "04-queue-abandoned",
    "05-blind-transfer",
    "05b-blind-transfer-sip-refer",
    "06-attended-transfer",
    "07-attended-transfer-abandoned",
    "08-dialer-answered-queue",
    "09-dialer-no-answer",
    "10-dialer-busy",
    "12-callback",
    "14-internal-call",
    "22-ami-redirect-transfer",
    "23-cyrillic-caller-name",
    "24-dialer-abandon-safe-harbour",
    "25-autoinformer-dtmf",
    "31-queue-wrapup",
    "32-inbound-agent-rejects-busy",
]

EMPLOYEES = {"101": "Олена Коваль", "102": "Ivan Petrov", "103": "Мария Сидорова", "104": "Supervisor Anna"}


def _bar(done: int, total: int, out: TextIO, width: int = 40) -> None:
    """Redraw in place on a terminal; a pipe gets a line per tenth instead of a smear of \\r."""
    filled = int(width * done / max(1, total))
    line = f"  [{'#' * filled}{'.' * (width - filled)}] {done}/{total} PBX events"
    if out.isatty():
        out.write("\r" + line)
    elif done == total or done % max(1, total // 10) < 200:
        out.write(line + "\n")
    out.flush()


async def _run(db_path: Path, calls: int, seconds: float, seed: int, out: TextIO) -> Daemon:
    from ccagent.sim.ami_server import SimAsterisk
    from ccagent.sim.scenarios import build_stream

    messages, expected = build_stream(
        DEMO_SCENARIOS, n_calls=calls, seed=seed, overlap=0.6, new_numbers=True, start_ts=time.time() - 3600
    )
    stamps = [float(m["Timestamp"]) for m in messages if m.get("Timestamp")]
    span = (max(stamps) - min(stamps)) if stamps else 1.0
    speed = max(1.0, span / max(1.0, seconds))
    sim = SimAsterisk(username="ccagent", secret=DEMO_SECRET)
    await sim.start()
    config = parse_config(
        {
            "pbx": {
                "type": "asterisk",
                "asterisk": {
                    "port": sim.port,
                    "secret": DEMO_SECRET,
                    "reconnect_min_s": 0.1,
                    "reconnect_max_s": 1.0,
                },
            },
            "database": {"url": f"sqlite:///{db_path}"},
            "legs": {"project_variable": "LAB_PROJECT"},
            "employees": {"mapping": EMPLOYEES},
        }
    )
    daemon = Daemon(config, notifier=NullNotifier())
    task = asyncio.create_task(daemon.run())
    try:
        await sim.wait_logged_in(1, timeout=10.0)
        print(
            f"Simulated Asterisk on 127.0.0.1:{sim.port}: a busy hour of {len(expected)} calls "
            f"({span / 60:.0f} PBX minutes) played {speed:.0f}x faster",
            file=out,
        )
        total = len(messages)

        def progress() -> Iterator:
            for i, m in enumerate(messages, 1):
                if i % 200 == 0 or i == total:
                    _bar(i, total, out)
                yield m

        await sim.play(progress(), speed=speed)
        if out.isatty():
            out.write("\n")
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and (
            daemon.pipeline.tracker.calls
            or daemon.pipeline.pending
            or (daemon.session is not None and not daemon.session.queue.empty())
        ):
            await asyncio.sleep(0.05)
    finally:
        daemon.request_stop()
        await asyncio.wait_for(task, 30)
        await sim.stop()
    return daemon


DEMO_MARK = "ccagent_demo_database"


def _not_ours(path: Path) -> str | None:
    """Why the demo must not replace ``path`` (None: absent, empty, or a database a demo made).

    The demo starts from a fresh file; deleting whatever sits at a mistyped ``--db-path`` (the
    production ``ccagent.db``, any file) would lose data, so only its own database is replaced.
    """
    if not path.exists():
        return None
    if path.is_dir():
        return "is a directory"
    if path.stat().st_size == 0:
        return None
    from sqlalchemy import create_engine, text
    from sqlalchemy.exc import SQLAlchemyError

    # not db.make_engine: its pragmas switch the file to WAL, a write to a file that may not be ours
    engine = create_engine(f"sqlite:///file:{path}?mode=ro&uri=true")
    try:
        with engine.connect() as conn:
            mark = conn.execute(text("SELECT 1 FROM settings WHERE key = :k"), {"k": DEMO_MARK}).first()
    except SQLAlchemyError:
        mark = None
    finally:
        engine.dispose()
    return None if mark else "exists and is not a database made by ccagent demo"


def _mark_as_demo(path: Path) -> None:
    from datetime import UTC, datetime

    from ccagent.storage import db
    from ccagent.storage.projects_repo import ProjectRepo

    engine = db.make_engine(f"sqlite:///{path}")
    try:
        db.upgrade(engine)
        ProjectRepo(engine).put_setting(DEMO_MARK, {"by": "ccagent demo"}, datetime.now(UTC), "demo")
    finally:
        engine.dispose()


def run_demo(
    *,
    pbx: str = "asterisk",
    db_path: str = "ccagent-demo.db",
    calls: int = 120,
    seconds: float = 30.0,
    seed: int = 7,
    out: TextIO | None = None,
) -> int:
    """Play the busy hour on the chosen simulated PBX, print the report; returns the exit code."""
    out = out or sys.stdout
    if pbx == "asterisk":
        play = _run
    else:
        from ccagent.pbx.esl.demo import play_busy_hour as play
    path = Path(db_path).resolve()
    refusal = _not_ours(path)
    if refusal:
        print(f"ccagent demo: {path}: {refusal}; choose another --db-path", file=sys.stderr)
        return EX_CANTCREAT
    for suffix in ("", "-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)
    _mark_as_demo(path)
    started = time.monotonic()
    daemon = asyncio.run(play(path, calls, seconds, seed, out))
    engine = daemon.wiring.engine
    text = report(engine, "legs", "table")
    print("\nResults of all calls", file=out)
    print("====================", file=out)
    out.write(text)
    rows = daemon.wiring.pipeline.store.count_calls()
    dispositions = Counter(r["disposition"] for r in query_calls(engine))
    engine.dispose()
    summary = ", ".join(f"{k} {v}" for k, v in sorted(dispositions.items()))
    print(f"\n{rows} calls ({summary}) in {time.monotonic() - started:.1f} s", file=out)
    print(f"Database: {path}  (try: ccagent report calls --db sqlite:///{path} --format csv)", file=out)
    return 0 if rows else 1
