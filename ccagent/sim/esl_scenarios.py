"""Synthetic FreeSWITCH event streams made from the real traces (demo, tests, benchmarks).

A real capture is a template: every UUID in it is replaced by a fresh one and
every microsecond timestamp is shifted, so one recorded call becomes any number
of distinct, realistic calls.  UUIDs and timestamps keep their length, so the
rewrite can work on already-encoded frames without touching Content-Length:
that is what makes a >= 1M-event benchmark stream cheap to produce.
"""

from __future__ import annotations

import heapq
import json
import random
import re
import uuid as uuidlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import quote

from ccagent.pbx.esl.capture import capture_files, iter_capture_events
from ccagent.sim.scenarios import ExpectedCall

__all__ = [
    "MIXED_FOLDERS",
    "TRACES_DIR",
    "CallTemplate",
    "ExpectedCall",
    "build_stream",
    "encode_event",
    "iter_capture_chunks",
    "load_template",
    "restamp_events",
    "synthetic_events",
    "synthetic_frames",
]

_REPO_TRACES = Path(__file__).resolve().parents[2] / "tests" / "traces" / "freeswitch"
# A source checkout uses every lab capture; an installed package would ship the demo's templates as
# package data under ccagent/sim/templates/freeswitch (same layout: <folder>/esl.log + legs.json).
_PACKAGED = Path(__file__).resolve().parent / "templates" / "freeswitch"
TRACES_DIR = _REPO_TRACES if _REPO_TRACES.is_dir() else _PACKAGED

_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_UUID_B = re.compile(rb"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_TS_KEYS = re.compile(r"^(Event-Date-Timestamp|Caller-.*-Time|CC-.*-Time|variable_.*_(?:epoch|uepoch))$")
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
# Every single-connection lab scenario (13-esl-reconnect spans two connections): a busy hour's mix.
MIXED_FOLDERS = (
    "01-inbound-answered",
    "01-inbound-answered-json",
    "02-inbound-missed",
    "03-queue-answered",
    "04-queue-abandon",
    "05-blind-transfer",
    "05b-blind-transfer-refer",
    "06-attended-transfer",
    "07-attended-transfer-abandoned",
    "08a-dialer-answered",
    "08b-dialer-no-answer",
    "08c-dialer-busy",
    "08d-dialer-failed",
    "09-callback",
    "10-eavesdrop",
    "11-internal-call",
    "12-overlapping-calls",
    "14-queue-rollover",
    "15-dialer-to-queue",
    "16-inbound-agent-rejects",
    "17-cyrillic-caller-name",
    "18-dialer-abandon-safe-harbour",
    "19-autoinformer-dtmf",
    "20-autoinformer-no-digit",
    "22-avmd",
    "23-eavesdrop-barge",
    "24-dialog-robot",
    "25-queue-wrapup",
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


def restamp_events(
    tpl: CallTemplate, start_us: int, rng: random.Random, mapping: dict[str, str] | None = None
) -> list[dict[str, str]]:
    """A fresh copy of the template's call: new UUIDs everywhere, times moved to ``start_us``.

    ``mapping`` (old UUID -> new), when given, is filled so callers can rename expected call ids.
    """
    mapping = {} if mapping is None else mapping

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


def build_stream(
    n_calls: int,
    *,
    traces: str | Path = TRACES_DIR,
    folders: Iterable[str] = MIXED_FOLDERS,
    seed: int = 1,
    start_us: int = 1_800_000_000_000_000,
    gap_us: int = 3_000_000,
) -> tuple[list[dict[str, str]], list[ExpectedCall]]:
    """``n_calls`` re-stamped scenario copies started ``gap_us`` apart, their events merged in PBX-time
    order (calls overlap like a busy hour), and the legs each copy must give (its ``legs.json``).

    Templates are picked at random (seeded); each copy's own event order is kept as recorded.
    """
    rng = random.Random(seed)
    names = list(folders)
    base = Path(traces)
    templates = {n: load_template(base / n) for n in names}
    legs_json = {n: json.loads((base / n / "legs.json").read_text(encoding="utf-8")) for n in names}
    copies: list[_Keyed] = []
    expected: list[ExpectedCall] = []
    t = start_us
    for i in range(n_calls):
        name = names[i % len(names)] if i < len(names) else rng.choice(names)
        mapping: dict[str, str] = {}
        events = restamp_events(templates[name], t, rng, mapping)
        key = [(_stamp(e), i, e) for e in events]
        copies.append(key)
        for call in legs_json[name]["calls"]:
            expected.append(
                ExpectedCall(
                    call_id=mapping.get(call["call_id"], call["call_id"]),
                    scenario=name,
                    direction=call["direction"],
                    disposition=call["disposition"],
                    legs=tuple(call["legs"]),
                )
            )
        t += gap_us + rng.randrange(gap_us)
    merged = heapq.merge(*_monotonic(copies), key=lambda x: (x[0], x[1]))
    return [e for _, _, e in merged], expected


def _stamp(e: dict[str, str]) -> int:
    raw = e.get("Event-Date-Timestamp", "")
    return int(raw) if raw.isdigit() else 0


_Keyed = list[tuple[int, int, dict[str, str]]]


def _monotonic(copies: list[_Keyed]) -> list[_Keyed]:
    """heapq.merge wants sorted inputs: a recorded event stamped a hair earlier than its predecessor keeps
    its place (sort key raised to the running max), so a copy's own order is never changed."""
    out = []
    for copy in copies:
        top = 0
        fixed = []
        for ts, i, e in copy:
            top = max(top, ts)
            fixed.append((top, i, e))
        out.append(fixed)
    return out


def iter_capture_chunks(
    n_events: int,
    seed: int = 1,
    fmt: Literal["plain", "json"] = "plain",
    *,
    traces: str | Path = TRACES_DIR,
    folders: Iterable[str] = MIXED_FOLDERS,
    chunk_bytes: int = 1 << 22,
    gap_us: int = 200_000,
) -> Iterator[bytes]:
    """A raw ESL capture (as ``esl.log`` holds it) of at least ``n_events`` events, streamed in chunks.

    For the ingest benchmark (>= 1M events): every template is encoded once and cut at its UUIDs and
    timestamps; each copy only splices in fresh UUIDs and moved-forward stamps of the same length, so
    Content-Length stays right and nothing is re-encoded or re-scanned.  Read it back with
    ``EslParser().feed(chunk)`` -> frames -> ``frame.event``, or ``ccagent ingest --pbx freeswitch``.
    """
    rng = random.Random(seed)
    base = Path(traces)
    cut = [_cut_template(load_template(base / f), fmt) for f in folders]
    reply = b"Reply-Text: +OK event listener enabled %s\n\n" % fmt.encode()
    buf = [
        b"Content-Type: auth/request\n\n",
        b"Content-Type: command/reply\nReply-Text: +OK accepted\n\n",
        b"Content-Type: command/reply\n" + reply,
    ]
    size = 0
    produced = 0
    t = 1_800_000_000_000_000
    i = 0
    while produced < n_events:
        tpl = cut[i % len(cut)]
        i += 1
        d_us = t - tpl.t0_us
        d_s = d_us // 1_000_000
        fresh = {u: str(uuidlib.UUID(int=rng.getrandbits(128), version=4)).encode() for u in tpl.uuids}
        parts: list[bytes] = []
        for text, kind, value in tpl.pieces:
            parts.append(text)
            if kind == 1:
                parts.append(fresh[value])  # type: ignore[index]
            elif kind == 2:
                parts.append(b"%d" % (value + d_us))  # type: ignore[operator]
            elif kind == 3:
                parts.append(b"%d" % (value + d_s))  # type: ignore[operator]
        blob = b"".join(parts)
        buf.append(blob)
        size += len(blob)
        produced += tpl.events
        t += gap_us
        if size >= chunk_bytes:
            yield b"".join(buf)
            buf, size = [], 0
    if buf:
        yield b"".join(buf)


@dataclass(frozen=True, slots=True)
class _CutTemplate:
    t0_us: int
    events: int
    uuids: frozenset[bytes]
    pieces: tuple[tuple[bytes, int, bytes | int | None], ...]  # (literal, 0 end | 1 uuid | 2 us | 3 s, value)


_TOKEN = re.compile(
    rb"(?P<u>[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})"
    rb"|(?<![0-9A-Za-z-])(?P<us>1[0-9]{15})(?![0-9A-Za-z])"  # microsecond stamps (2001..2286)
    rb"|(?<![0-9A-Za-z-])(?P<s>1[0-9]{9})(?![0-9A-Za-z])"  # second stamps (CC-*-Time, *_epoch)
)


def _cut_template(tpl: CallTemplate, fmt: str) -> _CutTemplate:
    blob = b"".join(encode_event(e, fmt) for e in tpl.events)
    pieces: list[tuple[bytes, int, bytes | int | None]] = []
    uuids: set[bytes] = set()
    pos = 0
    for m in _TOKEN.finditer(blob):
        literal = blob[pos : m.start()]
        if m.group("u"):
            uuids.add(m.group("u"))
            pieces.append((literal, 1, m.group("u")))
        elif m.group("us"):
            pieces.append((literal, 2, int(m.group("us"))))
        else:
            pieces.append((literal, 3, int(m.group("s"))))
        pos = m.end()
    pieces.append((blob[pos:], 0, None))
    return _CutTemplate(tpl.t0_us, len(tpl.events), frozenset(uuids), tuple(pieces))
