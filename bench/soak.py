"""Leak finder: which of the daemon's containers grow with the number of calls?  (R-SAFE-2)

    python bench/soak.py                          # 3,000 dialer calls through the simulated Asterisk
    python bench/soak.py --pbx freeswitch --calls 6000

The daemon runs for months, so every dict, list, set and deque it keeps must either forget what
it no longer needs or be capped.  This drives the daemon with the dialer attached (the same
hooks ``ccagent run`` uses) through the simulated PBX on an accelerated clock: 10 agents, one
predictive project, a mix of answered, busy, failed and unanswered calls.  It snapshots the size
of every container reachable from the daemon after a third, two thirds and all of the calls, and
prints those that kept growing, with the process RSS.

A container that grows in step with the calls is a leak unless it is capped (the tracker's
memory of finished calls, ``_FINISHED_MEMORY``; the agent board's call -> project map,
``CALL_PROJECT_CAP``) or windowed by time (the pacer's 30-minute abandon window, which fills at
30 simulated minutes), or forgotten a while after the call ended (the FreeSWITCH translator's
channel maps, ``forget_finished`` after ``FORGET_AFTER_S`` of PBX time: a short run still shows
them growing).  The two leaks this found are fixed: the engine's ``pacer_log`` and the
board's call -> project map.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import resource
import sys
import tempfile
import time
from itertools import pairwise
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.dialer.dialer_daemon import (
    AccelClock,
    DialerDaemon,
    SimPbx,
    config_for,
    make_contacts,
    start_projects,
)

AGENTS = tuple(str(101 + i) for i in range(10))
OUTCOMES = ("answered", "no_answer", "busy", "no_answer", "answered", "failed", "no_answer", "answered")
_CONTAINERS = (dict, list, set, frozenset, collections.deque)


def _scripted(number: str, nth: int) -> str:
    return OUTCOMES[int(number[4:]) % len(OUTCOMES)]


def sizes(root: Any, name: str = "daemon") -> dict[str, int]:
    """len() of every container attribute reachable from ``root`` through ccagent objects."""
    out: dict[str, int] = {}
    seen: set[int] = set()

    def walk(obj: Any, path: str, depth: int) -> None:
        if id(obj) in seen or depth > 5:
            return
        seen.add(id(obj))
        attrs = dict(vars(obj)) if hasattr(obj, "__dict__") else {}
        for slot in getattr(type(obj), "__slots__", ()):
            if hasattr(obj, slot):
                attrs[slot] = getattr(obj, slot)
        for key, value in attrs.items():
            sub = f"{path}.{key}"
            if isinstance(value, _CONTAINERS):
                out[sub] = len(value)
                if isinstance(value, dict):  # look inside the values of keyed registries (projects)
                    for v in list(value.values())[:2]:
                        if _ours(v):
                            walk(v, f"{sub}[*]", depth + 1)
            elif _ours(value):
                walk(value, sub, depth + 1)

    walk(root, name, 0)
    return out


def _ours(obj: Any) -> bool:
    return type(obj).__module__.startswith(("ccagent", "tests")) and (
        hasattr(obj, "__dict__") or bool(getattr(type(obj), "__slots__", ()))
    )


async def soak(pbx: str, calls: int, speed: float) -> list[tuple[int, int, dict[str, int]]]:
    tmp = Path(tempfile.mkdtemp(prefix="ccagent-soak-"))
    clock = AccelClock(speed, t0=1_800_000_000.0)
    pbx_sim = SimPbx(pbx, _scripted, agents=AGENTS, clock=clock, speed=speed)
    await pbx_sim.start()
    contacts = make_contacts({"p1": [(f"c{i}", f"0441{i:06d}") for i in range(calls)]}, {"max_attempts": 1})
    daemon = DialerDaemon(
        config_for(pbx_sim.port, f"sqlite:///{tmp / 'soak.db'}", pbx), contacts=contacts, clock=clock
    )
    task = asyncio.create_task(daemon.run())
    snaps: list[tuple[int, int, dict[str, int]]] = []
    try:
        await pbx_sim.daemon_ready_and_agents_in()
        while len(daemon.dialer.agents.in_queue("support")) < len(AGENTS):
            await asyncio.sleep(0.05)
        start_projects(
            daemon,
            [
                {
                    "project_id": "p1",
                    "queue": "support",
                    "caller_id": "2000",
                    "max_lines": 30,
                    "dial_timeout_s": 20,
                    "wrap_up_s": 3.0,
                    "pacer": "predictive",
                }
            ],
        )
        marks = [calls // 3, 2 * calls // 3]
        while not contacts.done("p1") or daemon.dialer.engine.attempts:
            await asyncio.sleep(0.2)
            settled = daemon.dialer.stats.settled
            if marks and settled >= marks[0]:
                marks.pop(0)
                snaps.append((settled, _rss_kb(), sizes(daemon)))
        await asyncio.sleep(1.0)
        snaps.append((daemon.dialer.stats.settled, _rss_kb(), sizes(daemon)))
    finally:
        daemon.request_stop()
        await asyncio.wait_for(task, 20)
        await pbx_sim.stop()
    return snaps


def _rss_kb() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pbx", choices=("asterisk", "freeswitch"), default="asterisk")
    ap.add_argument("--calls", type=int, default=3000)
    ap.add_argument("--speed", type=float, default=60.0, help="simulated seconds per wall second")
    opts = ap.parse_args(argv)
    t0 = time.perf_counter()
    snaps = asyncio.run(soak(opts.pbx, opts.calls, opts.speed))
    wall = time.perf_counter() - t0
    print(f"# soak: {opts.pbx}, {opts.calls} dialer calls at {opts.speed:g}x, {wall:.0f} s wall")
    print("calls settled at each snapshot: " + ", ".join(str(s) for s, _r, _z in snaps))
    print("peak RSS (MB): " + ", ".join(f"{r / 1024:.0f}" for _s, r, _z in snaps))
    print("\n| container | sizes at the snapshots |\n|---|---|")
    keys = sorted(set().union(*(z for _s, _r, z in snaps)))
    grew = 0
    for k in keys:
        vals = [z.get(k, 0) for _s, _r, z in snaps]
        if all(b > a for a, b in pairwise(vals)) and vals[-1] >= 20:
            grew += 1
            print(f"| `{k}` | {' -> '.join(map(str, vals))} |")
    print(f"\n{grew} container(s) kept growing: each must be capped or time-windowed (see the docstring)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
