"""`ccagent demo`: the whole pipeline with no PBX at hand (SPEC R-OPS-6).

The chosen PBX adapter's simulator (real AMI or Event Socket over TCP on
127.0.0.1) plays a compressed busy hour made of re-stamped copies of the real
lab captures: direct and queue calls, blind and attended transfers, missed and
abandoned calls, dialer calls, Cyrillic caller names.  The real daemon
(`ccagent run` internals) listens to it and writes SQLite; then the "Results of
all calls" report is printed.  One module for every PBX: what differs is the
adapter's :class:`~ccagent.pbx.port.DemoStream`.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from collections import Counter
from os import EX_CANTCREAT
from pathlib import Path
from typing import TextIO

from ccagent.app.bootstrap import build_daemon, pbx_adapter
from ccagent.app.daemon import Daemon, NullNotifier
from ccagent.app.reports import query_calls, report
from ccagent.config import parse_config

__all__ = ["run_demo"]


def _bar(done: int, total: int, out: TextIO, last: list[int], width: int = 40) -> None:
    """Redraw in place on a terminal; a pipe gets a line per tenth instead of a smear of \\r."""
    filled = int(width * done / max(1, total))
    line = f"  [{'#' * filled}{'.' * (width - filled)}] {done}/{total} PBX events"
    if out.isatty():
        out.write("\r" + line)
    else:
        tenth = done * 10 // max(1, total)
        if tenth == last[0] and done != total:
            return
        last[0] = tenth
        out.write(line + "\n")
    out.flush()


async def _play(pbx: str, db_path: Path, calls: int, seconds: float, seed: int, out: TextIO) -> Daemon:
    """The busy hour on the chosen simulated PBX through the real daemon (`ccagent run` internals)."""
    stream = pbx_adapter(parse_config({"pbx": {"type": pbx}}, environ={})).demo(
        calls=calls, seconds=seconds, seed=seed
    )
    await stream.start()
    config = parse_config(
        {
            "pbx": stream.pbx_config(),
            "database": {"url": f"sqlite:///{db_path}"},
            "legs": {"project_variable": stream.project_variable},
            "employees": {"mapping": dict(stream.employees)},
        },
        environ={},
    )
    daemon = build_daemon(config, notifier=NullNotifier())
    task = asyncio.create_task(daemon.run())
    try:
        print(stream.describe(), file=out)
        last = [-1]
        play = asyncio.create_task(stream.play(lambda done: _bar(done, stream.total, out, last)))
        await asyncio.wait({play, task}, return_when=asyncio.FIRST_COMPLETED)
        if not play.done():  # the daemon stopped early: its exit code tells why
            play.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await play
        if out.isatty():
            out.write("\n")
        deadline = time.monotonic() + 15
        while (
            not task.done()
            and time.monotonic() < deadline
            and (daemon.pipeline.tracker.calls or daemon.pipeline.pending or not daemon.session.queue.empty())
        ):
            await asyncio.sleep(0.05)
    finally:
        daemon.request_stop()
        await asyncio.wait_for(task, 30)
        await stream.stop()
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
    path = Path(db_path).resolve()
    refusal = _not_ours(path)
    if refusal:
        print(f"ccagent demo: {path}: {refusal}; choose another --db-path", file=sys.stderr)
        return EX_CANTCREAT
    for suffix in ("", "-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)
    _mark_as_demo(path)
    started = time.monotonic()
    daemon = asyncio.run(_play(pbx, path, calls, seconds, seed, out))
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
