"""Measure the two ESL client candidates on the same simulated FreeSWITCH stream (SPEC R-PBX-2).

    python bench/esl_client_compare.py [--events 100000]

For each candidate (asyncio client over the sans-I/O parser; greenswitch fenced in its own thread),
a fresh child process connects to a simulated FreeSWITCH (itself another child process), receives
the stream, and reports: events/s, asyncio loop lag p50/p99/max (a 5 ms ticker measuring its own
scheduling delay while events flow), whether it reconnected after the server cut every client, and
how it exited (exit code, any traceback / "Exception ignored" on stderr at interpreter exit).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
TRACES = ROOT / "tests" / "traces" / "freeswitch"
PASSWORD = "bench-secret"


async def _serve(n_events: int) -> None:
    from ccagent.sim.esl_scenarios import synthetic_events
    from ccagent.sim.esl_server import EslServer

    events: list[dict[str, str]] = []
    calls = 0
    while len(events) < n_events:
        events += list(synthetic_events(50, traces=TRACES, seed=calls))
        calls += 50
    events = events[:n_events]
    srv = await EslServer(events, password=PASSWORD, preencode=("plain",)).start()
    print(srv.port, flush=True)
    loop = asyncio.get_running_loop()
    while True:
        line = await loop.run_in_executor(None, sys.stdin.readline)
        cmd = line.strip()
        if cmd == "drop":
            srv.drop_clients()
            srv.feed(events[:2000])  # something to receive after the reconnect
        elif cmd in ("quit", ""):
            await srv.stop()
            return


async def _client(candidate: str, port: int, n_events: int) -> dict[str, object]:
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue = asyncio.Queue() if candidate == "greenswitch" else asyncio.Queue(maxsize=10_000)
    lags: list[float] = []
    stop = asyncio.Event()

    async def ticker() -> None:
        period = 0.005
        while not stop.is_set():
            t0 = loop.time()
            await asyncio.sleep(period)
            lags.append(max(0.0, loop.time() - t0 - period))

    tick = asyncio.create_task(ticker())
    if candidate == "asyncio":
        from ccagent.pbx.esl.client import ConnectionDown, ConnectionUp, EslClient

        client = EslClient("127.0.0.1", port, PASSWORD, queue=queue, backoff_min=0.05, backoff_max=0.2)
        runner = asyncio.create_task(client.run())

        def is_up(x: object) -> bool:
            return isinstance(x, ConnectionUp)

        def is_down(x: object) -> bool:
            return isinstance(x, ConnectionDown)
    else:
        from greenswitch_fence import GreenswitchFence  # bench/: the losing candidate, kept to re-measure

        fence = GreenswitchFence("127.0.0.1", port, PASSWORD, queue=queue, loop=loop, backoff_s=0.05)
        fence.start()

        def is_up(x: object) -> bool:
            return isinstance(x, tuple) and x[0] == "up"

        def is_down(x: object) -> bool:
            return isinstance(x, tuple) and x[0] == "down"

    got = 0
    t_first = None
    async with asyncio.timeout(600):
        while got < n_events:
            item = await queue.get()
            if isinstance(item, dict):
                if t_first is None:
                    t_first = time.perf_counter()
                got += 1
    elapsed = time.perf_counter() - (t_first or time.perf_counter())
    stop.set()
    await tick
    lags.sort()
    # reconnect: ask the server to cut us, then wait for a new connection and events on it
    print("drop", flush=True)
    reconnected = False
    t0 = time.perf_counter()
    try:
        async with asyncio.timeout(10):
            seen_down = False
            while True:
                item = await queue.get()
                seen_down = seen_down or is_down(item)
                if seen_down and is_up(item):
                    reconnected = True
                    break
    except TimeoutError:
        pass
    reconnect_s = time.perf_counter() - t0
    if candidate == "asyncio":
        await client.close()
        await runner
        clean_stop = True
    else:
        clean_stop = fence.stop(5.0)

    def pct(p: float) -> float:
        return round(1000 * lags[min(len(lags) - 1, int(p * len(lags)))], 2) if lags else 0.0

    return {
        "candidate": candidate,
        "events": got,
        "events_per_s": round(got / elapsed) if elapsed else None,
        "lag_p50_ms": pct(0.50),
        "lag_p99_ms": pct(0.99),
        "lag_max_ms": round(1000 * lags[-1], 2) if lags else 0.0,
        "reconnected": reconnected,
        "reconnect_s": round(reconnect_s, 3),
        "clean_stop": clean_stop,
    }


def _run_candidate(candidate: str, n_events: int) -> dict[str, object]:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    server = subprocess.Popen(
        [sys.executable, __file__, "--serve", str(n_events)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert server.stdout is not None and server.stdin is not None
    port = int(server.stdout.readline())
    client = subprocess.Popen(
        [sys.executable, __file__, "--client", candidate, str(port), str(n_events)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert client.stdout is not None
    result: dict[str, object] = {}
    for line in client.stdout:
        if line.strip() == "drop":
            server.stdin.write("drop\n")
            server.stdin.flush()
        elif line.startswith("{"):
            result = json.loads(line)
    client.wait(60)
    stderr = client.stderr.read() if client.stderr else ""
    server.stdin.write("quit\n")
    server.stdin.flush()
    server.wait(30)
    result["exit_code"] = client.returncode
    result["traceback_at_exit"] = "Traceback" in stderr or "Exception ignored" in stderr
    return result


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=100_000)
    ap.add_argument("--serve", type=int)
    ap.add_argument("--client", nargs=3)
    ap.add_argument("--runs", type=int, default=1)
    args = ap.parse_args()
    if args.serve:
        asyncio.run(_serve(args.serve))
        return
    if args.client:
        cand, port, n = args.client
        print(json.dumps(asyncio.run(_client(cand, int(port), int(n)))), flush=True)
        return
    for _ in range(args.runs):
        for cand in ("asyncio", "greenswitch"):
            print(json.dumps(_run_candidate(cand, args.events)), flush=True)


if __name__ == "__main__":
    main()
