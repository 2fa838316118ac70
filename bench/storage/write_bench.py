"""Store write throughput (R-REP-1): legs/s through CallStore.save_calls, journal events/s.

Prints figures; asserts nothing.  Usage:
    python bench/storage/write_bench.py [--calls 20000] [--batch 500] [--db URL]
Default DB: a fresh SQLite file in a temp dir (WAL, synchronous=NORMAL). With --db on
PostgreSQL, pass a scratch database: the rows written are left there.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from ccagent.core.legs.model import (
    AgentOffer,
    CallRecord,
    Direction,
    Disposition,
    Leg,
    OfferOutcome,
    Role,
)
from ccagent.core.pbx_events import ChannelAnswered, Dtmf, QueueJoin
from ccagent.storage.db import make_engine, upgrade
from ccagent.storage.journal import EventJournal
from ccagent.storage.repositories import CallStore


def make_calls(n: int, legs_per_call: int = 3) -> list[CallRecord]:
    t0 = 1_714_557_600.0
    out = []
    for i in range(n):
        cid = f"{t0 + i:.0f}.{i}"
        base = Leg(
            call_id=cid,
            leg_seq=0,
            direction=Direction.INBOUND,
            caller="0601020304",
            caller_name="Іван",
            callee="5000",
            extension="101",
            answered=True,
            disposition=Disposition.ANSWERED,
            transfer_from_leg=None,
            transfer_kind=None,
            role=Role.MAIN,
            queue="sales",
            project=None,
            started_at=t0 + i,
            answered_at=t0 + i + 3.5,
            ended_at=t0 + i + 60.25,
            ring_s=3.5,
            talk_s=56.75,
            hangup_cause=16,
            hangup_by="caller",
            channel=f"{cid}-a",
            employee="Ivan",
        )
        legs = tuple(
            replace(base, leg_seq=s, extension=str(101 + s), transfer_from_leg=s - 1 if s else None)
            for s in range(legs_per_call)
        )
        offers = (
            AgentOffer(cid, "104", "sales", t0 + i, 10.0, OfferOutcome.NO_ANSWER),
            AgentOffer(cid, "101", "sales", t0 + i, 3.5, OfferOutcome.ANSWERED),
        )
        out.append(
            CallRecord(
                cid,
                "asterisk",
                Direction.INBOUND,
                Disposition.ANSWERED,
                "0601020304",
                "5000",
                t0 + i,
                t0 + i + 60.25,
                legs,
                offers,
            )
        )
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--calls", type=int, default=20_000)
    ap.add_argument("--batch", type=int, default=500)
    ap.add_argument("--db", default=None)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.db or f"sqlite:///{Path(tmp) / 'bench.db'}"
        engine = make_engine(url)
        upgrade(engine)
        store = CallStore(engine)
        calls = make_calls(args.calls)
        legs = sum(len(c.legs) for c in calls)

        t = time.perf_counter()
        for i in range(0, len(calls), args.batch):
            store.save_calls(calls[i : i + args.batch])
        first = time.perf_counter() - t
        t = time.perf_counter()
        for i in range(0, len(calls), args.batch):
            store.save_calls(calls[i : i + args.batch])  # re-fold: delete + insert
        again = time.perf_counter() - t

        journal = EventJournal(engine)
        events = {
            f"j{i}": [
                QueueJoin(ts=1.0, channel="u", call=f"j{i}", queue="sales"),
                ChannelAnswered(ts=2.0, channel="u", call=f"j{i}"),
                Dtmf(ts=3.0, channel="u", call=f"j{i}", digit="1"),
            ]
            for i in range(args.calls // 4)
        }
        ids = list(events)
        t = time.perf_counter()
        for i in range(0, len(ids), args.batch):
            journal.append_many({k: events[k] for k in ids[i : i + args.batch]})
        jt = time.perf_counter() - t
        jn = sum(len(v) for v in events.values())
        engine.dispose()

    print(f"db={engine.dialect.name} calls={args.calls} legs={legs} batch={args.batch}")
    for label, secs in (("first write", first), ("re-fold    ", again)):
        print(
            f"save_calls {label} : {legs / secs:8.0f} legs/s ({args.calls / secs:.0f} calls/s, {secs:.2f} s)"
        )
    print(f"journal append_many    : {jn / jt:10.0f} events/s ({jt:.2f} s)")


if __name__ == "__main__":
    main()
