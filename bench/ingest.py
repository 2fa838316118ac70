"""Ingest benchmark (issue 3 / issue 4 performance): raw parse rate vs the full pipeline, same run.

    python bench/ingest.py                       # Asterisk, 1M events
    python bench/ingest.py --events 200000       # quicker
    python bench/ingest.py --pbx freeswitch      # FreeSWITCH ESL (plain)

A synthetic capture is built from the real traces' shapes (re-stamped copies of
the lab captures, overlapping: ``ccagent/sim/scenarios.py`` /
``ccagent/sim/esl_scenarios.py``) and written to a temporary file.  Then, on
the same bytes:

* raw parse rate: Asterisk: panoramisk's own ``AMIProtocol.data_received``
  parsing (dispatch stubbed), the "panoramisk-style" baseline; FreeSWITCH: our
  sans-I/O ESL frame parser alone;
* full pipeline rate: ``ccagent.app.ingest.ingest_files`` = our parser +
  translator + leg engine + mapping + SQLite (WAL) commits of every call;

and their ratio (goal >= 0.3).  Figures go to docs/performance.md.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

READ = 65536


def _blocks(path: Path) -> Iterator[bytes]:
    with path.open("rb") as fh:
        yield from iter(lambda: fh.read(READ), b"")


def asterisk_capture(n: int, seed: int, path: Path) -> int:
    from ccagent.sim import scenarios

    return scenarios.write_capture(path, n, seed)


def freeswitch_capture(n: int, seed: int, path: Path) -> int:
    from ccagent.sim import esl_scenarios

    size = 0
    with path.open("wb") as fh:
        for chunk in esl_scenarios.iter_capture_chunks(n, seed, fmt="plain"):
            fh.write(chunk)
            size += len(chunk)
    return size


def raw_asterisk(path: Path) -> tuple[int, float]:
    from ami_parse import rate_panoramisk

    return rate_panoramisk(_blocks(path))  # streamed: a 1M-event capture is GBs


def raw_freeswitch(path: Path) -> tuple[int, float]:
    from ccagent.pbx.esl.parser import EslParser

    parser = EslParser()
    n = 0
    t = time.perf_counter()
    for b in _blocks(path):
        n += sum(1 for f in parser.feed(b) if f.event is not None)
    return n, time.perf_counter() - t


def full_pipeline(path: Path, pbx: str, db: Path) -> tuple[int, float, int]:
    from ccagent.app.ingest import ingest_files
    from ccagent.config import parse_config

    variable = "LAB_PROJECT" if pbx == "asterisk" else "dialer_campaign"
    config = parse_config({"legs": {"project_variable": variable}})
    t = time.perf_counter()
    result = ingest_files(config, [path], pbx=pbx, db_url=f"sqlite:///{db}")
    return result.messages, time.perf_counter() - t, result.calls_written


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pbx", choices=("asterisk", "freeswitch"), default="asterisk")
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="ccagent-bench-"))
    capture = tmp / ("ami.log" if args.pbx == "asterisk" else "esl.log")
    t = time.perf_counter()
    build = asterisk_capture if args.pbx == "asterisk" else freeswitch_capture
    size = build(args.events, args.seed, capture)
    print(f"capture: {args.events:,} events, {size / 1e6:.0f} MB, built in {time.perf_counter() - t:.1f} s")

    n_raw, dt_raw = (raw_asterisk if args.pbx == "asterisk" else raw_freeswitch)(capture)
    raw_rate = n_raw / dt_raw
    label = "panoramisk AMIProtocol parse" if args.pbx == "asterisk" else "ESL frame parse (sans-I/O)"
    print(f"raw {label}: {n_raw:,} events in {dt_raw:.1f} s = {raw_rate:,.0f} events/s")

    n_full, dt_full, calls = full_pipeline(capture, args.pbx, tmp / "bench.db")
    full_rate = n_raw / dt_full  # every event of the capture went through the pipeline's parser
    print(
        f"full pipeline (parse + pre-filter + translate + leg engine + SQLite commit): {n_raw:,} events "
        f"({n_full:,} kept after the event filter), {calls:,} calls in {dt_full:.1f} s "
        f"= {full_rate:,.0f} events/s"
    )
    print(f"ratio full / raw = {full_rate / raw_rate:.2f}  (goal >= 0.3)")
    for p in tmp.iterdir():
        p.unlink()
    os.rmdir(tmp)


if __name__ == "__main__":
    main()
