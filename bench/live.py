"""Live-path benchmark (issue 3): the daemon under a sustained event rate from the simulated PBX.

    python bench/live.py                      # 5,000 events/s for 60 s
    python bench/live.py --rate 8000 --seconds 30
    python bench/live.py --pbx freeswitch     # the simulated FreeSWITCH (plain events)

The simulated Asterisk runs in a CHILD process (its own core, as a real PBX
would) and plays a synthetic stream (re-stamped real captures) at a constant
rate over TCP.  The parent runs the real daemon (``ccagent run`` internals) on
SQLite.  Measured:

* event-to-commit latency: for every call, from the moment the PBX wrote the
  call's last event on the socket to the commit of its legs (both sides use
  CLOCK_MONOTONIC, which is system-wide), p50 / p99 / max;
* achieved rate (events/s played);
* RSS of the daemon process after warm-up and at the end (growth).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

SECRET = "bench-secret"
_CALL_KEYS = (
    "Linkedid",
    "DestLinkedid",
    "LocalOneLinkedid",
    "TransfereeLinkedid",
    "SpyerLinkedid",
    "Uniqueid",
)


def _rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def _call_of(msg: dict) -> str | None:
    for key in _CALL_KEYS:
        v = msg.get(key)
        if v and v[0].isdigit():
            return v
    return None


def pbx_process(conn: object, rate: float, seconds: float, seed: int) -> None:
    """Child: simulated Asterisk playing ``rate * seconds`` events at a constant rate."""
    from ccagent.sim.ami_server import SimAsterisk
    from ccagent.sim.scenarios import build_stream

    n_events = int(rate * seconds)
    calls = max(10, n_events // 85)
    messages, _ = build_stream(n_calls=calls, seed=seed, overlap=0.8, start_ts=time.time())
    messages = messages[:n_events]
    last_index: dict[str, int] = {}
    for i, m in enumerate(messages):
        c = _call_of(m)
        if c:
            last_index[c] = i
    final_of = {i: c for c, i in last_index.items()}

    async def main() -> None:
        sim = SimAsterisk(username="ccagent", secret=SECRET)
        await sim.start()
        conn.send(("port", sim.port))  # type: ignore[attr-defined]
        await sim.wait_logged_in(1, timeout=30)
        await asyncio.sleep(1.0)
        sent_at: dict[str, float] = {}
        batch = max(1, int(rate / 200))  # 5 ms slices
        t0 = time.monotonic()
        for start in range(0, len(messages), batch):
            due = t0 + start / rate
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            chunk = messages[start : start + batch]
            await sim.play(chunk)
            now = time.monotonic()
            for i in range(start, start + len(chunk)):
                c = final_of.get(i)
                if c is not None:
                    sent_at[c] = now
        elapsed = time.monotonic() - t0
        conn.send(("done", len(messages), elapsed, sent_at))  # type: ignore[attr-defined]
        await asyncio.sleep(5.0)
        await sim.stop()

    asyncio.run(main())


def fs_pbx_process(conn: object, rate: float, seconds: float, seed: int) -> None:
    """Child: simulated FreeSWITCH playing ``rate * seconds`` events at a constant rate (plain events)."""
    from ccagent.core.legs.tracker import CallTracker
    from ccagent.pbx.esl.translate import FsTranslator
    from ccagent.sim.esl_scenarios import build_stream
    from ccagent.sim.esl_server import EslServer

    n_events = int(rate * seconds)
    events, _ = build_stream(max(10, n_events // 60), seed=seed, gap_us=int(1e6 * 60 / rate * 10))
    events = events[:n_events]
    # Which event finishes each call: fold the stream once, offline, with the product's own engine.
    translator = FsTranslator(project_variable="dialer_campaign")
    tracker = CallTracker(pbx="freeswitch", project_variable="dialer_campaign")
    final_of: dict[int, str] = {}
    for i, e in enumerate(events):
        for ne in translator.translate(e):
            for rec in tracker.apply(ne).calls:
                final_of[i] = rec.call_id

    async def main() -> None:
        from ccagent.sim.esl_scenarios import encode_event

        server = EslServer([], password=SECRET)
        # Encode once up front (as EslServer(preencode=...) does for its initial events) so the
        # simulated switch's own encoding is not what limits the rate.
        server._encoded.update({(id(e), "plain"): encode_event(e, "plain") for e in events})
        await server.start()
        conn.send(("port", server.port))  # type: ignore[attr-defined]
        while not server._subscribed():
            await asyncio.sleep(0.01)
        await asyncio.sleep(1.0)
        sent_at: dict[str, float] = {}
        batch = max(1, int(rate / 200))
        t0 = time.monotonic()
        for start in range(0, len(events), batch):
            due = t0 + start / rate
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            chunk = events[start : start + batch]
            server.feed(chunk)
            target = start + len(chunk)
            while server.played < target:
                await asyncio.sleep(0)
            now = time.monotonic()
            for i in range(start, target):
                c = final_of.get(i)
                if c is not None:
                    sent_at[c] = now
        elapsed = time.monotonic() - t0
        conn.send(("done", len(events), elapsed, sent_at))  # type: ignore[attr-defined]
        await asyncio.sleep(5.0)
        await server.stop()

    asyncio.run(main())


async def daemon_side(port: int, db: Path, conn: object, seconds: float, pbx: str = "asterisk") -> dict:
    from ccagent.app.bootstrap import build_daemon
    from ccagent.app.daemon import NullNotifier
    from ccagent.config import parse_config

    pbx_section = (
        {"type": "asterisk", "asterisk": {"port": port, "secret": SECRET}}
        if pbx == "asterisk"
        else {"type": "freeswitch", "freeswitch": {"port": port, "password": SECRET}}
    )
    config = parse_config(
        {
            "pbx": pbx_section,
            "database": {"url": f"sqlite:///{db}"},
            "legs": {"project_variable": "LAB_PROJECT" if pbx == "asterisk" else "dialer_campaign"},
            "daemon": {"log_level": "WARNING"},
        }
    )
    daemon = build_daemon(config, notifier=NullNotifier())
    committed: dict[str, float] = {}
    daemon.pipeline.on_call = lambda rec: committed.__setitem__(rec.call_id, time.monotonic())
    task = asyncio.create_task(daemon.run())
    rss: list[tuple[float, float]] = []
    lag: list[float] = []
    t0 = time.monotonic()
    result = None
    while result is None:
        before = time.monotonic()
        await asyncio.sleep(0.05)
        lag.append(time.monotonic() - before - 0.05)
        if not rss or time.monotonic() - rss[-1][0] >= 1.0:
            rss.append((time.monotonic(), _rss_mb()))
        if conn.poll():  # type: ignore[attr-defined]
            result = conn.recv()  # type: ignore[attr-defined]
        if time.monotonic() - t0 > seconds * 4 + 60:
            raise TimeoutError("PBX side never finished")
    await asyncio.sleep(2.0)
    daemon.request_stop()
    await task
    _, n, elapsed, sent_at = result
    lat = sorted(committed[c] - t for c, t in sent_at.items() if c in committed)
    warm = [m for t, m in rss if t - t0 > seconds * 0.2] or [rss[-1][1]]
    lag.sort()
    return {
        "events": n,
        "elapsed_s": elapsed,
        "rate": n / elapsed,
        "calls_sent": len(sent_at),
        "calls_committed": len(lat),
        "p50_ms": 1000 * statistics.median(lat) if lat else None,
        "p99_ms": 1000 * lat[int(0.99 * (len(lat) - 1))] if lat else None,
        "max_ms": 1000 * lat[-1] if lat else None,
        "rss_warm_mb": warm[0],
        "rss_end_mb": rss[-1][1],
        "rss_growth_mb": rss[-1][1] - warm[0],
        "loop_lag_p99_ms": 1000 * lag[int(0.99 * (len(lag) - 1))],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rate", type=float, default=5000.0)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--seed", type=int, default=5)
    ap.add_argument("--pbx", choices=("asterisk", "freeswitch"), default="asterisk")
    args = ap.parse_args()
    parent, child = mp.Pipe()
    proc = mp.get_context("spawn").Process(
        target=pbx_process if args.pbx == "asterisk" else fs_pbx_process,
        args=(child, args.rate, args.seconds, args.seed),
    )
    proc.start()
    kind, port = parent.recv()
    assert kind == "port"
    tmp = Path(tempfile.mkdtemp(prefix="ccagent-live-"))
    res = asyncio.run(daemon_side(port, tmp / "live.db", parent, args.seconds, args.pbx))
    proc.join(30)
    print(json.dumps(res, indent=2))
    print(
        f"sustained {res['rate']:,.0f} events/s for {res['elapsed_s']:.0f} s; "
        f"event-to-commit p50 {res['p50_ms']:.0f} ms, p99 {res['p99_ms']:.0f} ms (goal <= 250), "
        f"max {res['max_ms']:.0f} ms; {res['calls_committed']}/{res['calls_sent']} calls committed; "
        f"RSS {res['rss_warm_mb']:.0f} -> {res['rss_end_mb']:.0f} MB "
        f"(growth {res['rss_growth_mb']:+.0f} MB, goal < 50); loop lag p99 {res['loop_lag_p99_ms']:.1f} ms"
    )
    for p in tmp.iterdir():
        p.unlink()
    os.rmdir(tmp)


if __name__ == "__main__":
    main()
