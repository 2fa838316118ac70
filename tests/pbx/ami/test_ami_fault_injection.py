"""Fault injection over TCP (R-PBX-5, R-SAFE-1/2): 200 cuts (some mid-message) and PBX restarts.

A long mixed stream re-stamped from the real traces is played by the simulated
Asterisk while it cuts the connection at 200 random points and restarts itself
(all channels gone) a few times.  The consumer here is a minimal channel
tracker that reconciles with CoreShowChannels on every connect, as the daemon
does.  Afterwards: the client never stopped, events arrived in order and
never twice, every channel the consumer opened was closed exactly once, and
its view of live channels equals the PBX's.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter

from ccagent.pbx.ami import actions as A
from ccagent.pbx.ami.client import AmiClient, ConnectionDown, ConnectionUp, ListResult
from ccagent.pbx.ami.parser import AmiMessage
from ccagent.sim import scenarios
from ccagent.sim.ami_server import Fault, SimAsterisk


class Tracker:
    def __init__(self) -> None:
        self.live: set[str] = set()
        self.closed: Counter[str] = Counter()
        self.reconciled = 0
        self.adopted = 0
        self.last_seq = -1
        self.out_of_order = 0
        self.events = 0
        self.ups = 0
        self.downs = 0
        self.snapshots = 0

    def apply(self, item: object) -> None:
        if isinstance(item, ConnectionUp):
            self.ups += 1
        elif isinstance(item, ConnectionDown):
            self.downs += 1
        elif isinstance(item, ListResult):
            self.snapshots += 1
            snap = {m["Uniqueid"] for m in item.items}
            for uid in self.live - snap:  # vanished while we were away: close, flagged reconciled
                self.live.discard(uid)
                self.closed[uid] += 1
                self.reconciled += 1
            for uid in snap - self.live:  # born while we were away: resume it
                assert not self.closed[uid], f"snapshot resurrects closed channel {uid}"
                self.live.add(uid)
                self.adopted += 1
        elif isinstance(item, AmiMessage):
            seq = item.get("SimSeq")
            if seq is None:
                return
            self.events += 1
            if int(seq) <= self.last_seq:
                self.out_of_order += 1
            self.last_seq = int(seq)
            uid = item.get("Uniqueid", "")
            if item.event == "Newchannel":
                assert uid not in self.live and not self.closed[uid], f"channel {uid} opened twice"
                self.live.add(uid)
            elif item.event == "Hangup" and uid in self.live:
                self.live.discard(uid)
                self.closed[uid] += 1


def test_r_pbx_5_two_hundred_cuts_and_restarts_nothing_lost_or_doubled() -> None:
    msgs, _ = scenarios.build_stream(None, n_calls=150, seed=11, overlap=0.9)
    for i, m in enumerate(msgs):  # a sequence number to check order and duplicates end to end
        m.raw_headers.append(("SimSeq", str(i)))
        m["SimSeq"] = str(i)
    rng = random.Random(2024)
    points = sorted(rng.sample(range(100, len(msgs) - 100), 204))
    faults: dict[int, Fault] = {}
    for j, p in enumerate(points):
        faults[p] = "restart" if j % 51 == 25 else ("cut_mid" if j % 2 else "cut")
    assert sum(1 for f in faults.values() if f == "restart") == 4 and len(faults) == 204

    async def main() -> Tracker:
        tracker = Tracker()
        async with SimAsterisk(secret="pw") as sim:

            async def on_connected(client: AmiClient) -> None:
                await client.send_list_action(A.core_show_channels(), enqueue=True)

            client = AmiClient(
                "127.0.0.1",
                sim.port,
                "ccagent",
                "pw",
                on_message=tracker.apply,
                on_connected=on_connected,
                backoff_min=0.002,
                backoff_max=0.01,
                ping_interval=0.5,
                ping_timeout=2.0,
                rng=random.Random(5),
            )
            task = asyncio.create_task(client.run())
            await sim.wait_logged_in()
            # Play up to each fault point, make sure a client is logged in, then inject the fault:
            # every one of the 204 faults hits a live connection.
            # After each fault a few events are played while nobody is logged in: they are lost,
            # as with a real PBX, and only the reconciliation can repair what they changed.
            prev = 0
            for p in [*points, len(msgs)]:
                lost = min(p, prev + rng.randrange(0, 40))
                await sim.play(msgs[prev:lost])
                await sim.wait_logged_in()
                await sim.play(msgs[lost:p])
                if p == len(msgs):
                    break
                await sim.play(msgs[p : p + 1], faults={0: faults[p]})
                assert not task.done(), "the client stopped"
                prev = p + 1
            # settle: one more reconnect gives a final truthful snapshot
            await asyncio.sleep(0.05)
            sim.drop_clients()
            await sim.wait_logged_in()
            before = tracker.snapshots
            for _ in range(300):
                if tracker.snapshots > before and client.queue.empty():
                    break
                await asyncio.sleep(0.01)
            assert tracker.live == set(sim.channels)
            assert not task.done()
            await client.close()
            await task
            assert client.metrics.reconnects >= 204, client.metrics
            assert sim.stats.events_lost > 0
        return tracker

    t = asyncio.run(asyncio.wait_for(main(), 120))
    assert t.out_of_order == 0
    assert t.events > len(msgs) // 2
    assert max(t.closed.values()) == 1  # never closed twice
    assert t.reconciled > 0 and t.adopted > 0
    assert t.ups >= 205 and t.downs == t.ups
