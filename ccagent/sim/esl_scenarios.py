"""Synthetic FreeSWITCH event streams made from the real traces (demo, tests, benchmarks).

A real capture is a template: every UUID in it is replaced by a fresh one and
every microsecond timestamp is shifted, so one recorded call becomes any number
of distinct, realistic calls.  UUIDs and timestamps keep their length, so the
rewrite can work on already-encoded frames without touching Content-Length:
that is what makes a >= 1M-event benchmark stream cheap to produce.
"""

from __future__ import annotations

import json
import random
import re
import uuid as uuidlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from ccagent.pbx.esl.capture import capture_files, iter_capture_events

__all__ = [
    "CallTemplate",
    "encode_event",
    "load_template",
    "restamp_events",
    "synthetic_events",
    "synthetic_frames",
]

_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_UUID_B = re.compile(rb"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_TS_KEYS = re.compile(r"^(Event-Date-Timestamp|Caller-.*-Time|variable_.*_(?:epoch|uepoch))$")
_SAFE = "-_.~/@,+=!*'()[]{}"
DEFAULT_FOLDERS = (
    "01-inbound-answered",
    "03-queue-answered",
    "05-blind-transfer",
    "06-attended-transfer",
    "08a-dialer-answered",
    "12-overlapping-calls",
    "17-cyrillic-caller-name",
)


def encode_event(event: dict[str, str], fmt: str = "plain") -> bytes:
    """One ESL event frame as FreeSWITCH sends it (plain: URL-encoded lines; json: one object)."""
    if fmt == "json":
        body = json.dumps(event, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        return b"Content-Length: %d\nContent-Type: text/event-json\n\n" % len(body) + body
    inner = event.get("_body")
    lines = [f"{k}: {quote(v, safe=_SAFE)}\n" for k, v in event.items() if k != "_body"]
    text = "".join(lines)
    if inner is not None:
        raw = inner.encode("utf-8")
        body = (text + f"Content-Length: {len(raw)}\n\n").encode("utf-8") + raw
    else:
        body = (text + "\n").encode("utf-8")
    return b"Content-Length: %d\nContent-Type: text/event-plain\n\n" % len(body) + body


@dataclass(frozen=True, slots=True)
class CallTemplate:
    name: str
    events: tuple[dict[str, str], ...]
    t0_us: int  # first event's Event-Date-Timestamp
    span_us: int


def load_template(folder: str | Path, *, only_channels: bool = True) -> CallTemplate:
    """A trace folder's events (first connection only) as a re-stampable template."""
    path = capture_files(folder)[0]
    events = []
    for e in iter_capture_events(path):
        if only_channels and e.get("Event-Name") in ("HEARTBEAT", "RE_SCHEDULE", "API"):
            continue
        events.append(e)
    stamps = [int(e["Event-Date-Timestamp"]) for e in events if e.get("Event-Date-Timestamp", "").isdigit()]
    t0 = min(stamps) if stamps else 0
    return CallTemplate(Path(folder).name, tuple(events), t0, (max(stamps) - t0) if stamps else 0)


def _shift(value: str, delta_us: int) -> str:
    if value.isdigit() and len(value) >= 10 and value != "0":
        n = int(value)
        return str(n + delta_us if len(value) >= 16 else n + delta_us // 1_000_000)
    return value


def restamp_events(tpl: CallTemplate, start_us: int, rng: random.Random) -> list[dict[str, str]]:
    """A fresh copy of the template's call: new UUIDs everywhere, times moved to ``start_us``."""
    mapping: dict[str, str] = {}

    def new(m: re.Match[str]) -> str:
        old = m.group(0)
        got = mapping.get(old)
        if got is None:
            got = mapping[old] = str(uuidlib.UUID(int=rng.getrandbits(128), version=4))
        return got

    delta = start_us - tpl.t0_us
    out = []
    for e in tpl.events:
        ne: dict[str, str] = {}
        for k, v in e.items():
            if _TS_KEYS.match(k):
                v = _shift(v, delta)
            elif "-" in v and _UUID.search(v):
                v = _UUID.sub(new, v)
            ne[k] = v
        out.append(ne)
    return out


def synthetic_events(
    n_calls: int,
    *,
    traces: str | Path,
    folders: Iterable[str] = DEFAULT_FOLDERS,
    start_us: int = 1_800_000_000_000_000,
    gap_us: int = 200_000,
    seed: int = 1,
) -> Iterator[dict[str, str]]:
    """``n_calls`` re-stamped calls, round-robin over ``folders``, started ``gap_us`` apart."""
    rng = random.Random(seed)
    templates = [load_template(Path(traces) / f) for f in folders]
    t = start_us
    for i in range(n_calls):
        tpl = templates[i % len(templates)]
        yield from restamp_events(tpl, t, rng)
        t += gap_us


def synthetic_frames(
    n_events: int,
    *,
    traces: str | Path,
    fmt: str = "plain",
    folders: Iterable[str] = DEFAULT_FOLDERS,
    seed: int = 1,
) -> Iterator[bytes]:
    """At least ``n_events`` encoded event frames, cheaply: each template is encoded once, then only
    its UUIDs are rewritten per copy (same length, so Content-Length stays right)."""
    rng = random.Random(seed)
    encoded = [[encode_event(e, fmt) for e in load_template(Path(traces) / f).events] for f in folders]
    produced = 0
    i = 0
    while produced < n_events:
        frames = encoded[i % len(encoded)]
        i += 1
        mapping: dict[bytes, bytes] = {}

        def new(m: re.Match[bytes], mapping: dict[bytes, bytes] = mapping) -> bytes:
            old = m.group(0)
            got = mapping.get(old)
            if got is None:
                got = mapping[old] = str(uuidlib.UUID(int=rng.getrandbits(128), version=4)).encode()
            return got

        for fr in frames:
            yield _UUID_B.sub(new, fr)
        produced += len(frames)
