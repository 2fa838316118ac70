"""Fail loudly, lose nothing (issue 13 item 5, R-OPS-5, R-SAFE-2).

A database that reads but refuses writes used to be retried every 10 s forever while the watchdog
stayed satisfied: systemd showed a healthy service that stored nothing.  Now the start-up probe
exits 73 with one line, and writes failing past ``daemon.write_failure_limit_s`` stop the watchdog
and the daemon; the calls are recovered by the next start (journal, then the PBX's channel list).
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import generate_latest
from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from ccagent.app import daemon as daemon_mod
from ccagent.app.bootstrap import build_daemon
from ccagent.storage import db
from tests.acceptance.legs_oracle import TRACES, expected, mismatches, stored
from tests.e2e.harness import SECRET, Live, capture_events, daemon_config, live_daemon
from tests.e2e.test_daemon_process import ONE_CALL, _config_text, _spawn
from tests.storage.test_write_probe import read_only
from tests.waiting import wait_for


def test_a_database_that_cannot_be_written_stops_the_start_with_73_and_one_line(
    tmp_path: Path, db_url: str
) -> None:
    from ccagent.sim.ami_server import SimAsterisk

    db.upgrade(db_url)  # a schema at head: starting needs no write, so only the probe notices
    url = read_only(db_url)

    async def scenario() -> tuple[int, bytes]:
        sim = SimAsterisk(username="ccagent", secret=SECRET)
        await sim.start()
        cfg = tmp_path / "ccagent.yaml"
        cfg.write_text(_config_text(sim.port, url), encoding="utf-8")
        proc = await _spawn(cfg)
        try:
            _, err = await asyncio.wait_for(proc.communicate(), 60)
        finally:
            if proc.returncode is None:
                proc.kill()
            await sim.stop()
        return proc.returncode or 0, err

    code, err = asyncio.run(scenario())
    text = err.decode()
    assert code == 73, text
    lines = [line for line in text.splitlines() if "cannot be written" in line]
    assert len(lines) == 1, text
    assert "readonly database" in lines[0] or "read-only transaction" in lines[0]
    parsed = make_url(db_url)
    # the SQLite path, or PostgreSQL's host and database (the password masked where URLs are logged)
    names = (
        [parsed.database] if parsed.get_backend_name() == "sqlite" else ["127.0.0.1:", f"/{parsed.database}"]
    )
    assert all(name in lines[0] for name in names), lines[0]
    if parsed.password:  # the test role's password is also its name: look for it where a URL holds it
        assert f":{parsed.password}@" not in text
    assert "Traceback" not in text and "AMI connected" not in text


def _refuse_writes(engine: Any) -> None:
    """From now on this engine's writes fail as a read-only SQLite file's do."""

    def refuse(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().split(" ", 1)[0].upper() in ("INSERT", "UPDATE", "DELETE"):
            raise sqlite3.OperationalError("attempt to write a readonly database")

    event.listen(engine, "before_cursor_execute", refuse)


def _refuse_commits(daemon: daemon_mod.Daemon) -> None:
    """Every flush from now on fails as a read-only SQLite file's does."""

    def refused() -> None:
        raise OperationalError(
            "INSERT INTO calls", {}, sqlite3.OperationalError("attempt to write a readonly database")
        )

    daemon.pipeline.commit = refused  # type: ignore[method-assign]


def test_writes_failing_past_the_limit_stop_the_watchdog_and_the_daemon_and_metrics_say_so(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(daemon_mod, "WATCHDOG_PING_S", 0.05)
    pings: list[float] = []

    class Counting(daemon_mod.NullNotifier):
        def watchdog(self) -> None:
            pings.append(time.monotonic())

    async def scenario() -> tuple[int, float, float, bytes, bytes]:
        async with live_daemon(sqlite_url) as live:
            d = live.daemon
            d.notifier = Counting()
            d.write_failure_limit_s = 1.0
            await asyncio.sleep(0.3)
            before = generate_latest(d.metrics.registry)
            _refuse_writes(d.wiring.engine)
            t0 = time.monotonic()
            await live.sim.play(capture_events(ONE_CALL / "ami.log"))
            # still alive inside the limit: an outage waited out keeps the pings going
            await wait_for(lambda: d.stats.flush_failures > 0, 10, "the refusal was never hit")
            await asyncio.sleep(0.3)
            assert not d.write_limit_hit and pings[-1] > t0
            after = generate_latest(d.metrics.registry)
            code = await asyncio.wait_for(live.task, 10)
            took = time.monotonic() - t0
            return code, took, max(pings) - t0, before, after + generate_latest(d.metrics.registry)

    code, took, last_ping, before, after = asyncio.run(scenario())
    assert code == 69 and took < 5.0, (code, took)
    assert last_ping < took  # no ping once the limit passed
    limit_lines = [r for r in caplog.records if "write_failure_limit_s" in r.getMessage()]
    assert len(limit_lines) == 1 and limit_lines[0].levelname == "ERROR"
    assert "readonly database" in limit_lines[0].getMessage()
    for r in caplog.records:  # the driver's line only: no SQL, no parameters
        assert "\n" not in r.getMessage() and "[SQL" not in r.getMessage(), r.getMessage()
    text = before.decode()
    assert "ccagent_pbx_connected 1.0" in text and "ccagent_healthy 1.0" in text
    assert "ccagent_db_write_failures_total 0.0" in text
    text = after.decode()
    assert "ccagent_healthy 0.0" in text
    assert "ccagent_db_write_failures_total 0.0" not in text
    assert "# TYPE ccagent_db_write_failures_total counter" in text
    assert "ccagent_db_write_failing_seconds 0.0" not in text


def test_calls_of_a_daemon_whose_database_became_unwritable_are_stored_after_the_restart(
    sqlite_url: str,
) -> None:
    """Recovered by the journal (calls open at the last good flush) and the reconnect's channel
    list (what ended meanwhile is closed; what is still up is adopted); events that arrived while
    writes failed were held in memory only and are lost with the process."""
    from ccagent.sim.ami_server import SimAsterisk

    folder = TRACES / "asterisk" / "15-concurrent-calls"
    events = capture_events(folder / "ami.log")
    half = next(i for i, m in enumerate(events) if m.get("Event") == "BridgeEnter") + 40
    outage_end = half + 60

    async def scenario() -> tuple[int, int]:
        sim = SimAsterisk(username="ccagent", secret=SECRET)
        await sim.start()
        try:
            first = build_daemon(daemon_config(sim.port, sqlite_url), notifier=daemon_mod.NullNotifier())
            first.write_failure_limit_s = 0.5
            task = asyncio.create_task(first.run())
            await sim.wait_logged_in(1, timeout=10)
            await sim.play(events[:half])
            await Live(sim, first, task).settle()  # the journal holds the calls open so far
            _refuse_commits(first)  # e.g. the file turned read-only
            await sim.play(events[half:outage_end])  # held in memory, never written
            code = await asyncio.wait_for(task, 10)
            await wait_for(lambda: sim.logged_in == 0, 10, "the stopped daemon is still logged in")
            second = build_daemon(daemon_config(sim.port, sqlite_url), notifier=daemon_mod.NullNotifier())
            task = asyncio.create_task(second.run())
            await sim.wait_logged_in(1, timeout=10)
            await asyncio.sleep(0.5)  # its CoreShowChannels answer lists the calls still up
            await sim.play(events[outage_end:])
            await asyncio.sleep(1.0)
            second.request_stop()
            return code, await asyncio.wait_for(task, 20)
        finally:
            await sim.stop()

    first_code, second_code = asyncio.run(scenario())
    assert (first_code, second_code) == (69, 0)
    legs, calls = stored(sqlite_url)
    want = expected(folder)
    assert sorted(calls) == sorted(c["call_id"] for c in want["calls"])  # every call, once
    # the calls whose events fell in the lost batch are stored from the journal and the PBX's
    # channel list (an answer lost there reads as abandoned); every other call is exact
    lost = {m.get("Linkedid") for m in events[half:outage_end]}
    problems = mismatches(want, legs, calls)
    assert [p for p in problems if p.split(" ")[0].rstrip(":") not in lost] == []
    assert lost & set(calls) and len(lost & set(calls)) < len(calls)
