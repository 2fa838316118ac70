"""`ccagent run` as a real process: SIGTERM drains and exits 0, a bad config never connects,
secrets never reach the logs, a database outage loses nothing.

SPEC R-OPS-2 (exit 78 before connecting), R-SAFE-3 (secrets), R-SAFE-2 (outage, back-pressure),
R-OPS-5 (systemd stop semantics), R-PBX-1.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy.exc import OperationalError

from ccagent.app.bootstrap import build_daemon
from ccagent.app.daemon import NullNotifier
from tests.acceptance.legs_oracle import TRACES, expected, mismatches, stored
from tests.e2e.harness import SECRET, capture_events, daemon_config, live_daemon, play_files, wait_for

ROOT = Path(__file__).resolve().parents[2]
ONE_CALL = TRACES / "asterisk" / "01-inbound-direct-answered"


def _config_text(port: int, db_url: str, extra: str = "") -> str:
    return (
        "pbx:\n  type: asterisk\n  asterisk:\n"
        f'    port: {port}\n    username: ccagent\n    secret: "{SECRET}"\n'
        "    reconnect_min_s: 0.05\n    reconnect_max_s: 0.2\n"
        f'database:\n  url: "{db_url}"\nlegs:\n  project_variable: LAB_PROJECT\n'
        "daemon:\n  log_level: DEBUG\n" + extra
    )


async def _spawn(config: Path) -> asyncio.subprocess.Process:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "ccagent.cli",
        "run",
        "-c",
        str(config),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
        cwd=str(ROOT),
    )


def test_R_OPS_5_sigterm_drains_and_exits_zero_without_leaking_the_secret(
    tmp_path: Path, sqlite_url: str
) -> None:
    from ccagent.sim.ami_server import SimAsterisk

    async def scenario() -> tuple[int, bytes]:
        sim = SimAsterisk(username="ccagent", secret=SECRET)
        await sim.start()
        cfg = tmp_path / "ccagent.yaml"
        cfg.write_text(_config_text(sim.port, sqlite_url), encoding="utf-8")
        proc = await _spawn(cfg)
        try:
            await sim.wait_logged_in(1, timeout=30)
            await asyncio.sleep(0.3)
            proc.send_signal(signal.SIGHUP)  # no reload: ignored, not a death without the last commit
            await asyncio.sleep(0.5)
            assert proc.returncode is None
            await sim.play(capture_events(ONE_CALL / "ami.log"))
            await asyncio.sleep(1.0)
            proc.send_signal(signal.SIGTERM)
            _, err = await asyncio.wait_for(proc.communicate(), 30)
        finally:
            if proc.returncode is None:
                proc.kill()
            await sim.stop()
        return proc.returncode or 0, err

    code, err = asyncio.run(scenario())
    assert code == 0, err.decode()
    assert SECRET.encode() not in err
    assert b"AMI connected" in err and b"SIGHUP ignored" in err
    legs, calls = stored(sqlite_url)
    assert mismatches(expected(ONE_CALL), legs, calls) == []


def test_R_OPS_2_a_refused_ami_login_exits_78_so_systemd_stops_retrying(
    tmp_path: Path, sqlite_url: str
) -> None:
    """A wrong secret will not mend itself: restarting every 2 s only gets the host banned."""
    from ccagent.sim.ami_server import SimAsterisk

    async def scenario() -> tuple[int, bytes]:
        sim = SimAsterisk(username="ccagent", secret="the-right-one")
        await sim.start()
        cfg = tmp_path / "ccagent.yaml"
        cfg.write_text(_config_text(sim.port, sqlite_url), encoding="utf-8")
        proc = await _spawn(cfg)
        try:
            _, err = await asyncio.wait_for(proc.communicate(), 30)
        finally:
            if proc.returncode is None:
                proc.kill()
            await sim.stop()
        return proc.returncode or 0, err

    code, err = asyncio.run(scenario())
    assert code == 78, err.decode()
    assert SECRET.encode() not in err


def test_R_OPS_2_bad_config_exits_78_before_connecting(tmp_path: Path, sqlite_url: str) -> None:
    from ccagent.sim.ami_server import SimAsterisk

    async def scenario() -> tuple[int, bytes, int]:
        sim = SimAsterisk(username="ccagent", secret=SECRET)
        await sim.start()
        cfg = tmp_path / "bad.yaml"
        cfg.write_text(
            _config_text(sim.port, sqlite_url, "employees:\n  save_all_calls: true\nfoo: 1\n"),
            encoding="utf-8",
        )
        proc = await _spawn(cfg)
        _, err = await asyncio.wait_for(proc.communicate(), 30)
        await sim.stop()
        return proc.returncode or 0, err, sim.stats.connections

    code, err, connections = asyncio.run(scenario())
    assert code == 78
    text = err.decode()
    assert "foo:" in text and "employees" in text
    assert connections == 0
    assert SECRET not in text


def test_R_SAFE_2_database_outage_delays_but_loses_nothing(sqlite_url: str) -> None:
    """The store refuses writes for a while: the consumer retries, the queue pushes back, all calls land."""
    folder = TRACES / "asterisk" / "15-concurrent-calls"

    async def scenario() -> tuple[int, int]:
        async with live_daemon(sqlite_url) as live:
            store = live.daemon.pipeline.store
            real = store.save_calls
            failures = 0

            def flaky(records, **kw):  # type: ignore[no-untyped-def]
                nonlocal failures
                if failures < 4:
                    failures += 1
                    raise OperationalError("INSERT", {}, Exception("database is locked"))
                return real(records, **kw)

            store.save_calls = flaky  # type: ignore[method-assign]
            await play_files(live, [folder / "ami.log"])
            await wait_for(lambda: failures >= 4, 10, "the outage was never hit")
            await live.settle()
            return await live.stop(), live.daemon.stats.flush_failures

    code, flush_failures = asyncio.run(scenario())
    assert code == 0
    assert flush_failures >= 4
    legs, calls = stored(sqlite_url)
    assert mismatches(expected(folder), legs, calls) == []


def test_R_OPS_5_the_watchdog_stops_while_a_database_call_hangs_and_resumes_after(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A server gone silent blocks the writer in a call that never returns; the consumer task is
    still alive, so pinging on "alive" kept systemd from ever restarting the wedged daemon."""
    from ccagent.app import daemon as daemon_mod

    monkeypatch.setattr(daemon_mod, "WATCHDOG_PING_S", 0.05)
    monkeypatch.setattr(daemon_mod, "CONSUMER_STALL_S", 0.5)
    pings: list[float] = []

    class Counting(daemon_mod.NullNotifier):
        def watchdog(self) -> None:
            pings.append(time.monotonic())

    async def scenario() -> tuple[int, int, int]:
        async with live_daemon(sqlite_url) as live:
            live.daemon.notifier = Counting()
            store = live.daemon.pipeline.store
            real, hung = store.save_calls, threading.Event()

            def hangs(records, **kw):  # type: ignore[no-untyped-def]
                hung.wait(3.0)  # the silent server, for 3 s
                return real(records, **kw)

            store.save_calls = hangs  # type: ignore[method-assign]
            await asyncio.sleep(0.3)
            before = len(pings)
            await live.sim.play(capture_events(ONE_CALL / "ami.log"))
            await asyncio.sleep(1.5)  # the writer is stuck: past the stall limit
            t = time.monotonic()
            await asyncio.sleep(1.0)
            during = sum(1 for p in pings if p >= t)
            hung.set()
            await live.settle()
            await asyncio.sleep(0.5)
            after = sum(1 for p in pings if p >= time.monotonic() - 0.4)
            return before, during, after

    before, during, after = asyncio.run(scenario())
    assert before > 0 and during == 0 and after > 0, (before, during, after)
    legs, calls = stored(sqlite_url)
    assert mismatches(expected(ONE_CALL), legs, calls) == []


def test_R_OPS_5_stopping_with_the_database_down_ends_within_the_grace_and_says_so(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SIGTERM during an outage used to retry forever, until systemd's SIGKILL."""
    from ccagent.app import daemon as daemon_mod

    monkeypatch.setattr(daemon_mod, "STOP_WRITE_GRACE_S", 0.5)

    async def scenario() -> tuple[int, float]:
        async with live_daemon(sqlite_url) as live:

            def down(records, **kw):  # type: ignore[no-untyped-def]
                raise OperationalError("INSERT", {}, Exception("server closed the connection"))

            live.daemon.pipeline.store.save_calls = down  # type: ignore[method-assign]
            await live.sim.play(capture_events(ONE_CALL / "ami.log"))
            await wait_for(lambda: live.daemon.stats.flush_failures > 0, 10, "the outage was never hit")
            t0 = time.monotonic()
            return await live.stop(), time.monotonic() - t0

    code, took = asyncio.run(scenario())
    assert code == 69 and took < 10.0, (code, took)


def test_R_SAFE_2_kill_9_mid_call_then_restart_resumes_from_the_journal(
    tmp_path: Path, sqlite_url: str
) -> None:
    """The daemon dies hard while calls are up; a new one finishes them with exactly their legs."""
    from ccagent.sim.ami_server import SimAsterisk

    folder = TRACES / "asterisk" / "15-concurrent-calls"
    events = capture_events(folder / "ami.log")
    half = next(i for i, m in enumerate(events) if m.get("Event") == "BridgeEnter") + 40

    async def scenario() -> tuple[int, bytes]:
        sim = SimAsterisk(username="ccagent", secret=SECRET)
        await sim.start()
        cfg = tmp_path / "ccagent.yaml"
        cfg.write_text(_config_text(sim.port, sqlite_url), encoding="utf-8")
        first = await _spawn(cfg)
        second: asyncio.subprocess.Process | None = None
        try:
            await sim.wait_logged_in(1, timeout=30)
            await asyncio.sleep(0.3)
            await sim.play(events[:half])
            await asyncio.sleep(1.0)  # > one flush interval: the journal holds the open calls
            first.kill()
            await first.wait()
            await wait_for(lambda: sim.logged_in == 0, 10, "the dead daemon is still logged in")
            second = await _spawn(cfg)
            await sim.wait_logged_in(1, timeout=30)
            await asyncio.sleep(0.5)  # its CoreShowChannels answer lists the calls still up
            await sim.play(events[half:])
            await asyncio.sleep(1.0)
            second.send_signal(signal.SIGTERM)
            _, err = await asyncio.wait_for(second.communicate(), 30)
        finally:
            for p in (first, second):
                if p is not None and p.returncode is None:
                    p.kill()
            await sim.stop()
        assert second is not None
        return second.returncode or 0, err

    code, err = asyncio.run(scenario())
    assert code == 0, err.decode()
    assert b"resumed" in err  # the second daemon re-opened journaled calls
    legs, calls = stored(sqlite_url)
    assert mismatches(expected(folder), legs, calls) == []


def test_R_OPS_5_metrics_export_pipeline_and_client_counters(sqlite_url: str) -> None:
    from prometheus_client import generate_latest

    async def scenario() -> bytes:
        async with live_daemon(sqlite_url) as live:
            await play_files(live, [ONE_CALL / "ami.log"])
            text = generate_latest(live.daemon.metrics.registry)
            await live.stop()
            return text

    text = asyncio.run(scenario()).decode()
    assert "ccagent_calls_written_total 1.0" in text
    assert "ccagent_legs_written_total 1.0" in text
    assert "ccagent_pbx_client_connects_total 1.0" in text  # a Counter since issue 13
    assert SECRET not in text


def test_R_SAFE_2_a_second_daemon_on_the_same_database_refuses_to_start(db_url: str) -> None:
    """Two daemons on one database each dial every contact (each knows only its own calls in
    flight): the second one must not start, and must once the first has stopped."""

    async def scenario() -> tuple[int, int]:
        async with live_daemon(db_url) as live:
            second = build_daemon(daemon_config(live.sim.port, db_url), notifier=NullNotifier())
            refused = await asyncio.wait_for(second.run(), 20)
            await live.stop()
        third = build_daemon(daemon_config(1, db_url), notifier=NullNotifier())
        task = asyncio.create_task(third.run())
        await asyncio.sleep(0.5)
        third.request_stop()
        return refused, await asyncio.wait_for(task, 20)

    refused, later = asyncio.run(scenario())
    assert refused == 75  # EX_TEMPFAIL: systemd tries again, and takes over once the first is gone
    assert later == 0
