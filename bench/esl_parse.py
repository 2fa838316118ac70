"""Raw ESL frame parse rate on a synthetic stream built from the real traces (SPEC R-PBX-2).

    python bench/esl_parse.py [--events 1000000] [--format plain|json|both] [--translate]

Prints frames/s for the sans-I/O parser fed in 64 KiB chunks (as a socket would), and with
``--translate`` also the parse + FsTranslator rate (the ESL half of the ingest pipeline).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ccagent.pbx.esl.parser import EslParser  # noqa: E402
from ccagent.pbx.esl.translate import FsTranslator  # noqa: E402
from ccagent.sim.esl_scenarios import synthetic_frames  # noqa: E402

TRACES = ROOT / "tests" / "traces" / "freeswitch"


def _blocks(fmt: str, n: int, size: int = 1 << 16):
    """The synthetic stream in ~64 KiB socket-sized blocks, generated lazily (1M events ~ 5 GB)."""
    buf: list[bytes] = []
    have = 0
    for fr in synthetic_frames(n, traces=TRACES, fmt=fmt):
        buf.append(fr)
        have += len(fr)
        if have >= size:
            yield b"".join(buf)
            buf, have = [], 0
    if buf:
        yield b"".join(buf)


def run(fmt: str, n: int, translate: bool) -> None:
    parser = EslParser()
    tr = FsTranslator("dialer_campaign") if translate else None
    frames = out = 0
    nbytes = 0
    busy = 0.0
    clock = time.perf_counter
    for block in _blocks(fmt, n):  # generation time is excluded: only feed (+translate) is timed
        nbytes += len(block)
        t0 = clock()
        got = parser.feed(block)
        if tr is not None:
            for f in got:
                if f.event is not None:
                    out += len(tr.translate(f.event))
            tr.forget_finished()
        busy += clock() - t0
        frames += len(got)
    what = "parse+translate" if translate else "parse"
    print(
        f"{fmt}: {frames:,} frames, {nbytes / 1e9:.2f} GB; {what} {frames / busy:,.0f} frames/s "
        f"({nbytes / busy / 1e6:.1f} MB/s), malformed={parser.malformed}"
        + (f", {out:,} normalized events" if translate else "")
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--format", choices=("plain", "json", "both"), default="both")
    ap.add_argument("--translate", action="store_true")
    args = ap.parse_args()
    for fmt in ("plain", "json") if args.format == "both" else (args.format,):
        run(fmt, args.events, False)
        if args.translate:
            run(fmt, args.events, True)


if __name__ == "__main__":
    main()
