"""AMI parse-rate benchmark, and the panoramisk-vs-own-client measurement behind docs/decisions.md.

    python bench/ami_parse.py                       # 1M-event synthetic stream, parse rates
    python bench/ami_parse.py --events 200000       # quicker
    python bench/ami_parse.py --clients --events 100000   # live TCP: ours vs panoramisk (raw and fenced)
    python bench/ami_parse.py --live --rate 5000 --seconds 30  # sustained rate: latency p99, RSS

Part 1 feeds the SAME bytes (a synthetic stream re-stamped from the real
traces, see ccagent/sim/scenarios.py), in 64 KiB reads, to (a) our sans-I/O
parser and (b) panoramisk's own parsing path (``AMIProtocol.data_received``
with ``Message.from_line``, dispatch stubbed out), and prints events/s.

Part 2 (``--clients``) plays a stream from the simulated Asterisk over TCP to
(a) our AmiClient, (b) panoramisk's Manager as shipped (utf8, sync callback),
(c) panoramisk's Manager fenced (its protocol's ``data_received`` replaced by
our parser), and prints events/s, order violations and Cyrillic names
damaged, with the stream's Cyrillic names split across TCP writes on purpose.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import itertools
import os
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ccagent.pbx.ami.parser import AmiMessage, AmiParser
from ccagent.sim import scenarios

READ = 65536


def make_capture(n_events: int, seed: int) -> tuple[Path, float]:
    fd, name = tempfile.mkstemp(prefix="ami-bench-", suffix=".log")
    os.close(fd)
    t = time.perf_counter()
    scenarios.write_capture(name, n_events, seed)
    return Path(name), time.perf_counter() - t


def chunks(path: Path) -> list[bytes]:
    with path.open("rb") as fh:
        return list(iter(lambda: fh.read(READ), b""))


def rate_ours(blocks: list[bytes]) -> tuple[int, float]:
    p = AmiParser()
    n = 0
    t = time.perf_counter()
    for b in blocks:
        n += len(p.feed(b))
    dt = time.perf_counter() - t
    assert p.malformed == 0
    return n, dt


def rate_panoramisk(blocks: list[bytes]) -> tuple[int, float]:
    from panoramisk.ami_protocol import AMIProtocol

    count = 0

    class Factory:
        save_stream = None

        def dispatch(self, message: object) -> None:
            nonlocal count
            count += 1

    proto = AMIProtocol()

    class _T:
        def write(self, data: bytes) -> None:
            pass

        def close(self) -> None:
            pass

    proto.connection_made(_T())
    proto.factory = Factory()
    proto.encoding = "utf8"
    import logging

    proto.log = logging.getLogger("bench.panoramisk")
    proto.log.setLevel(logging.WARNING)
    t = time.perf_counter()
    for b in blocks:
        proto.data_received(b)
    return count, time.perf_counter() - t


# ---------------------------------------------------------------- part 2: live clients


def cyrillic_stream(n: int, seed: int) -> list[AmiMessage]:
    """Synthetic events whose names straddle the write boundaries (see play_split)."""
    rng = random.Random(seed)
    names = ["Іван Петренко", "Мария Иванова", "Олена Ковальчук", "Agent 101"]
    out = []
    for i in range(n):
        out.append(
            AmiMessage.from_pairs(
                [
                    ("Event", "Newchannel"),
                    ("Privilege", "call,all"),
                    ("Timestamp", f"{1800000000 + i * 0.0002:.6f}"),
                    ("Channel", f"PJSIP/customers-{i:08x}"),
                    ("CallerIDName", names[rng.randrange(len(names))]),
                    ("SeqNo", str(i)),
                    ("Uniqueid", f"1800000000.{i}"),
                    ("Linkedid", f"1800000000.{i}"),
                ]
            )
        )
    return out


async def play_split(sim: object, msgs: list[AmiMessage]) -> None:
    """Write the stream in pieces cut inside a two-byte Cyrillic character, as TCP may deliver it."""
    data = b"".join(m.to_bytes() for m in msgs)
    cuts = []
    pos = 0
    while True:
        i = data.find("І".encode(), pos + 50_000)
        if i < 0:
            break
        cuts.append(i + 1)
        pos = i
    prev = 0
    for c in [*cuts, len(data)]:
        await sim.send_raw(data[prev:c])  # type: ignore[attr-defined]
        await asyncio.sleep(0.002)
        prev = c


def check(seqs: list[int], names: list[str], n: int) -> tuple[int, int, int]:
    order = sum(1 for a, b in itertools.pairwise(seqs) if b != a + 1)
    bad = sum(1 for x in names if x not in ("Іван Петренко", "Мария Иванова", "Олена Ковальчук", "Agent 101"))
    return len(seqs), order, bad


async def bench_ours(msgs: list[AmiMessage]) -> tuple[float, tuple[int, int, int]]:
    from ccagent.pbx.ami.client import AmiClient
    from ccagent.sim.ami_server import SimAsterisk

    async with SimAsterisk(secret="b") as sim:
        c = AmiClient("127.0.0.1", sim.port, "ccagent", "b", queue_size=10_000)
        task = asyncio.create_task(c.run())
        await sim.wait_logged_in()
        seqs: list[int] = []
        names: list[str] = []

        async def consume() -> None:
            while len(seqs) < len(msgs):
                item = await c.queue.get()
                if isinstance(item, AmiMessage) and item.get("Event") == "Newchannel":
                    seqs.append(int(item["SeqNo"]))
                    names.append(item["CallerIDName"])

        cons = asyncio.create_task(consume())
        t = time.perf_counter()
        await play_split(sim, msgs)
        await asyncio.wait_for(cons, 120)
        dt = time.perf_counter() - t
        await c.close()
        await task
        return len(msgs) / dt, check(seqs, names, len(msgs))


async def bench_panoramisk(msgs: list[AmiMessage], fenced: bool) -> tuple[float, tuple[int, int, int]]:
    from panoramisk import Manager
    from panoramisk.ami_protocol import AMIProtocol

    from ccagent.sim.ami_server import SimAsterisk

    class FencedProtocol(AMIProtocol):
        """panoramisk's protocol with its per-read decoding replaced by our byte-level parser."""

        def connection_made(self, transport):  # type: ignore[no-untyped-def]
            super().connection_made(transport)
            self._parser = AmiParser()

        def data_received(self, data: bytes) -> None:
            for m in self._parser.feed(data):
                from panoramisk.message import Message

                self.handle_message(Message(dict(m)))

    seqs: list[int] = []
    names: list[str] = []
    done = asyncio.Event()

    def on_event(manager: object, message: object) -> None:  # sync: enqueue-only callback
        seqs.append(int(message["SeqNo"]))  # type: ignore[index]
        names.append(message["CallerIDName"])  # type: ignore[index]
        if len(seqs) >= len(msgs):
            done.set()

    async with SimAsterisk(secret="b") as sim:
        mgr = Manager(
            host="127.0.0.1",
            port=sim.port,
            username="ccagent",
            secret="b",
            encoding="utf8",
            ping_delay=1000,
            loop=asyncio.get_running_loop(),
            protocol_factory=FencedProtocol if fenced else AMIProtocol,
        )
        mgr.register_event("Newchannel", on_event)
        await mgr.connect()
        await sim.wait_logged_in()
        t = time.perf_counter()
        await play_split(sim, msgs)
        with contextlib.suppress(TimeoutError):  # panoramisk as shipped may drop mangled messages
            await asyncio.wait_for(done.wait(), 30)
        dt = time.perf_counter() - t
        mgr.close()
        return len(seqs) / dt, check(seqs, names, len(msgs))


def rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6


async def bench_live(rate: float, seconds: float, seed: int) -> None:
    """Sustained ``rate`` events/s from the simulated PBX into AmiClient's queue, for ``seconds``."""
    from ccagent.pbx.ami.client import AmiClient
    from ccagent.sim.ami_server import SimAsterisk

    n = int(rate * seconds)
    msgs = []
    for text in itertools.islice(scenarios.iter_stream_text(seed=seed, overlap=0.9), n):
        msgs.extend(AmiParser().feed(text.encode()))
    loop = asyncio.get_running_loop()
    lat: list[float] = []
    rss: list[float] = []
    async with SimAsterisk(secret="b") as sim:
        c = AmiClient("127.0.0.1", sim.port, "ccagent", "b", queue_size=10_000)
        task = asyncio.create_task(c.run())
        await c.wait_connected(5)

        async def consume() -> None:
            while len(lat) < n:
                item = await c.queue.get()
                if isinstance(item, AmiMessage) and "BenchSentAt" in item:
                    lat.append(loop.time() - float(item["BenchSentAt"]))

        async def sample() -> None:
            while True:
                rss.append(rss_mb())
                await asyncio.sleep(1.0)

        cons = asyncio.create_task(consume())
        sampler = asyncio.create_task(sample())
        t = time.perf_counter()
        await sim.play(msgs, rate=rate, stamp="BenchSentAt")
        await asyncio.wait_for(cons, 60)
        dt = time.perf_counter() - t
        sampler.cancel()
        await c.close()
        await task
    lat.sort()
    q = lambda f: lat[min(len(lat) - 1, int(f * len(lat)))] * 1000  # noqa: E731
    print(f"live: {n:,} events at target {rate:,.0f}/s took {dt:.1f} s ({n / dt:,.0f} events/s achieved)")
    print(f"event-to-consumer latency ms: p50 {q(0.5):.2f}  p99 {q(0.99):.2f}  max {lat[-1] * 1000:.2f}")
    half = len(rss) // 2
    print(f"RSS MB: start {rss[0]:.0f}  mid {rss[half]:.0f}  end {rss[-1]:.0f}  max {max(rss):.0f}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--clients", action="store_true", help="live TCP comparison instead of parse rate")
    ap.add_argument("--live", action="store_true", help="sustained rate from the simulated PBX")
    ap.add_argument("--rate", type=float, default=5000.0)
    ap.add_argument("--seconds", type=float, default=30.0)
    args = ap.parse_args()

    if args.live:
        asyncio.run(bench_live(args.rate, args.seconds, args.seed))
        return

    if args.clients:
        msgs = cyrillic_stream(args.events, args.seed)
        for label, coro in (
            ("ours: AmiClient (asyncio + sans-I/O parser)", bench_ours(msgs)),
            ("panoramisk Manager as shipped (utf8)", bench_panoramisk(msgs, fenced=False)),
            ("panoramisk Manager fenced (our parser)", bench_panoramisk(msgs, fenced=True)),
        ):
            rate, (got, order, bad) = asyncio.run(coro)
            print(
                f"{label:48s} {rate:10,.0f} events/s  received {got}/{len(msgs)}  "
                f"order breaks {order}  damaged names {bad}"
            )
        return

    path, gen_s = make_capture(args.events, args.seed)
    try:
        size = path.stat().st_size
        print(f"stream: {args.events:,} events, {size / 1e6:,.0f} MB, generated in {gen_s:.1f} s")
        blocks = chunks(path)
        gc.collect()
        n1, dt1 = rate_ours(blocks)
        gc.collect()
        n2, dt2 = rate_panoramisk(blocks)
        rows = (("ours (AmiParser.feed)", n1, dt1), ("panoramisk (AMIProtocol.data_received)", n2, dt2))
        for label, n, dt in rows:
            print(f"{label:40s} {n / dt:12,.0f} events/s  ({n:,} messages, {dt:.2f} s)")
        print(f"ratio ours/panoramisk: {(n1 / dt1) / (n2 / dt2):.2f}")
    finally:
        path.unlink()


if __name__ == "__main__":
    main()
