"""Synthetic AMI streams built from the real traces' shapes (R-PBX-4 tests, benchmarks, demo).

A real capture is a *template*: its events are kept byte for byte except the
values that identify one call instance, which are re-stamped per copy so that
thousands of copies can overlap in one stream without colliding:

* ``Uniqueid``/``Linkedid`` values (``<epoch>.<seq>``) wherever they appear
  (any ``...Uniqueid``/``...Linkedid`` header, and inside other values);
* the hex sequence suffix of channel names (``PJSIP/101-0000001f``,
  ``Local/102@transfer-00000000;1``), also inside values such as
  ``BRIDGEPEER`` or ``TransfererChannel``;
* UUIDs (bridge ids, SIP call ids);
* ``Timestamp`` (and epoch-second fields such as ``LastCall``), shifted;
* optionally the customer numbers (``06...``/``07...``), also in legs.json.

Templates are compiled once into ``str.format`` strings (one slot per value
to re-stamp), so a copy costs one ``format`` call per event: a million-event
stream is generated in seconds.
"""

from __future__ import annotations

import functools
import heapq
import itertools
import random
import re
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from ccagent.pbx.ami.capture import iter_ami_capture
from ccagent.pbx.ami.parser import AmiMessage, AmiParser

__all__ = [
    "DEFAULT_EXCLUDED",
    "DIALER_OUTCOMES",
    "ExpectedCall",
    "OriginateScript",
    "Template",
    "build_capture_bytes",
    "build_stream",
    "iter_capture_chunks",
    "iter_stream_text",
    "load_template",
    "scenario_names",
    "to_bytes",
    "write_capture",
]

_REPO_TRACES = Path(__file__).resolve().parents[2] / "tests" / "traces" / "asterisk"
# A source checkout uses every lab capture; an installed package ships the demo's
# templates (ccagent/sim/templates, package data) so `ccagent demo` works anywhere.
_PACKAGED = Path(__file__).resolve().parent / "templates" / "asterisk"
TRACES_DIR = _REPO_TRACES if _REPO_TRACES.is_dir() else _PACKAGED
DEFAULT_EXCLUDED = frozenset({"16-ami-reconnect", "17-status-actions"})

# Events that are answers to the recorder's own actions, not call activity.
_SKIP_EVENTS = frozenset(
    {
        "FullyBooted",
        "SuccessfulAuth",
        "ChallengeSent",
        "CoreShowChannel",
        "CoreShowChannelsComplete",
        "QueueParams",
        "QueueMember",
        "QueueEntry",
        "QueueStatusComplete",
        "QueueSummary",
        "QueueSummaryComplete",
    }
)
_EPOCH_INT_KEYS = ("LastCall", "LastPause", "LoginTime")

_CHAN_RE = r"(?P<chan>\b[A-Za-z][A-Za-z0-9]*/[^\s,;()]*?-)(?P<hex>[0-9a-f]{8})(?![0-9A-Za-z])"
_UUID_RE = r"(?P<uuid>\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b)"
_TS_RE = r"(?P<tsk>^(?:Timestamp): )(?P<ts>\d+\.\d+)(?=\r?$)"
_EPI_RE = r"(?P<epk>^(?:" + "|".join(_EPOCH_INT_KEYS) + r"): )(?P<ep>[1-9]\d{9})(?=\r?$)"
_AID_RE = r"(?P<aidk>^ActionID: )(?P<aid>[^\r\n]+)"
_ID_VALUE = re.compile(r"^\d+\.\d+$")
_NUM_RE = r"(?P<num>(?<![\d.])0[67]\d{8}(?!\d))"


@dataclass(frozen=True, slots=True)
class ExpectedCall:
    """One call of a generated stream and the legs ccagent must store for it (legs.json shape)."""

    call_id: str
    scenario: str
    direction: str
    disposition: str
    legs: tuple[dict[str, Any], ...]


@dataclass(frozen=True, slots=True)
class _Slot:
    kind: str  # id | hex | uuid | num | ts | ep | aid
    token: str  # the original value
    offset: float = 0.0  # seconds from the template start (ts, ep, id epoch)


@dataclass(frozen=True, slots=True)
class Template:
    """A compiled scenario: per-event format strings plus what each slot stands for."""

    name: str
    events: tuple[str, ...]  # str.format templates, one per event
    keys: tuple[float, ...]  # each event's offset from the template start (monotonic)
    slots: tuple[_Slot, ...]
    duration: float
    calls: tuple[dict[str, Any], ...]  # legs.json calls, ids as in the original

    def __len__(self) -> int:
        return len(self.events)


def scenario_names(traces_dir: Path | None = None, *, include_excluded: bool = False) -> list[str]:
    base = traces_dir or TRACES_DIR
    names = sorted(p.name for p in base.iterdir() if (p / "ami.log").is_file())
    return names if include_excluded else [n for n in names if n not in DEFAULT_EXCLUDED]


def _keep(msg: AmiMessage) -> bool:
    event = msg.get("Event")
    return event is not None and event not in _SKIP_EVENTS


@cache
def load_template(name: str, traces_dir: Path | None = None, new_numbers: bool = False) -> Template:
    """Compile a trace folder's ``ami.log`` into a re-stampable template (cached)."""
    import json

    folder = (traces_dir or TRACES_DIR) / name
    msgs = [m for m in iter_ami_capture(folder / "ami.log") if _keep(m)]
    if not msgs:
        raise ValueError(f"{folder / 'ami.log'}: no call events to build a template from")
    legs_path = folder / "legs.json"
    calls = tuple(json.loads(legs_path.read_text("utf-8"))["calls"]) if legs_path.is_file() else ()

    ids: set[str] = set()
    for m in msgs:
        for k, v in m.raw_headers:
            if (k.endswith("Uniqueid") or k.endswith("Linkedid")) and _ID_VALUE.match(v):
                ids.add(v)
    parts = [_TS_RE, _EPI_RE, _AID_RE, _CHAN_RE, _UUID_RE]
    if ids:
        alt = "|".join(re.escape(i) for i in sorted(ids, key=len, reverse=True))
        parts.append(r"(?P<id>(?<![\d.])(?:" + alt + r")(?!\d))")
    if new_numbers:
        parts.append(_NUM_RE)
    rx = re.compile("|".join(parts), re.M)

    t0: float | None = None
    for m in msgs:
        if "Timestamp" in m:
            t0 = float(m["Timestamp"])
            break
    t0 = t0 or 0.0
    slot_of: dict[tuple[str, str], int] = {}
    slots: list[_Slot] = []

    def slot(kind: str, token: str, offset: float = 0.0, *, unique: bool = False) -> int:
        key = (kind, f"{len(slots)}" if unique else token)
        idx = slot_of.get(key)
        if idx is None:
            idx = slot_of[key] = len(slots)
            slots.append(_Slot(kind, token, offset))
        return idx

    events: list[str] = []
    keys: list[float] = []
    last = 0.0
    for m in msgs:
        text = m.to_bytes().decode("utf-8")
        out: list[str] = []
        pos = 0
        for mt in rx.finditer(text):
            g = mt.lastgroup
            assert g is not None
            # The value group is the one to re-stamp; its prefix group (tsk, epk, chan) stays literal.
            kind = {"tsk": "ts", "epk": "ep", "aidk": "aid", "chan": "hex"}.get(g, g)
            token = mt[kind]
            if kind == "ts":
                idx = slot("ts", token, float(token) - t0, unique=True)
            elif kind == "ep":
                idx = slot("ep", token, int(token) - t0)
            elif kind == "id":
                idx = slot("id", token, float(token.split(".", 1)[0]) - t0)
            else:
                idx = slot(kind, token)
            out.append(_esc(text[pos : mt.start(kind)]))
            out.append("{" + str(idx) + "}")
            pos = mt.end(kind)
        out.append(_esc(text[pos:]))
        events.append("".join(out))
        ts = m.get("Timestamp")
        if ts is not None:
            last = max(last, float(ts) - t0)
        keys.append(last)
    return Template(name, tuple(events), tuple(keys), tuple(slots), last, calls)


def _esc(s: str) -> str:
    return s.replace("{", "{{").replace("}", "}}")


class _Stamper:
    """Issues fresh, globally unique values for every slot of every copy."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.seq = itertools.count(1)
        self.hex = itertools.count(1)
        self.num = itertools.count(self.rng.randrange(10**6))

    def values(
        self, tpl: Template, start: float, fixed: Mapping[str, str] | None = None
    ) -> tuple[list[str], dict[str, str]]:
        """Fresh values for every slot; ``fixed`` forces a kind's value (``num``, ``aid``)."""
        vals: list[str] = []
        remap: dict[str, str] = {}
        rng = self.rng
        for s in tpl.slots:
            k = s.kind
            if k == "ts":
                v = f"{start + s.offset:.6f}"
            elif k == "id":
                v = f"{int(start + s.offset)}.{next(self.seq)}"
                remap[s.token] = v
            elif k == "hex":
                v = f"{next(self.hex) & 0xFFFFFFFF:08x}"
            elif k == "aid":
                v = f"sim-{next(self.seq)}"
            elif k == "uuid":
                v = str(uuid.UUID(int=rng.getrandbits(128), version=4))
            elif k == "num":
                v = f"06{next(self.num) % 10**8:08d}"
                remap[s.token] = v
            else:  # ep
                v = str(int(start + s.offset))
            if fixed is not None and k in fixed:
                v = fixed[k]
                if k == "num":
                    remap[s.token] = v
            vals.append(v)
        return vals, remap


def _instances(
    names: Sequence[str],
    n_calls: int | None,
    seed: int,
    start_ts: float,
    overlap: float,
    traces_dir: Path | None,
    new_numbers: bool,
) -> Iterator[tuple[Template, float]]:
    rng = random.Random(seed ^ 0x5EED)
    templates = [load_template(n, traces_dir, new_numbers) for n in names]
    start = start_ts
    i = 0
    while n_calls is None or i < n_calls:
        tpl = templates[i % len(templates)] if rng.random() < 0.5 else rng.choice(templates)
        yield tpl, start
        start += max(0.001, tpl.duration * (1.0 - overlap))
        i += 1


def iter_stream_text(
    scenarios: Sequence[str] | None = None,
    n_calls: int | None = None,
    seed: int = 1,
    start_ts: float = 1_800_000_000.0,
    overlap: float = 0.5,
    *,
    traces_dir: Path | None = None,
    new_numbers: bool = False,
    expected: list[ExpectedCall] | None = None,
) -> Iterator[str]:
    """Yield the events (wire text) of ``n_calls`` overlapping copies, merged by Timestamp."""
    names = list(scenarios) if scenarios is not None else scenario_names(traces_dir)
    stamper = _Stamper(seed)
    heap: list[tuple[float, int, str, Iterator[tuple[float, str]]]] = []
    tie = itertools.count()
    source = _instances(names, n_calls, seed, start_ts, overlap, traces_dir, new_numbers)
    pending = next(source, None)

    def copy(tpl: Template, start: float) -> Iterator[tuple[float, str]]:
        vals, remap = stamper.values(tpl, start)
        if expected is not None:
            expected.extend(_expected(tpl, remap))
        for fmt, key in zip(tpl.events, tpl.keys, strict=True):
            yield start + key, fmt.format(*vals)

    while heap or pending is not None:
        # Start copies lazily, when the merged stream reaches their start time.
        while pending is not None and (not heap or pending[1] <= heap[0][0]):
            it = copy(*pending)
            first = next(it, None)
            if first is not None:
                heapq.heappush(heap, (first[0], next(tie), first[1], it))
            pending = next(source, None)
        _, _, text, it = heapq.heappop(heap)
        yield text
        nxt = next(it, None)
        if nxt is not None:
            heapq.heappush(heap, (nxt[0], next(tie), nxt[1], it))


def _expected(tpl: Template, remap: dict[str, str]) -> list[ExpectedCall]:
    out = []
    for call in tpl.calls:
        legs = []
        for leg in call.get("legs", []):
            leg = dict(leg)
            for f in ("caller", "callee"):
                v = leg.get(f)
                if isinstance(v, str) and v in remap:
                    leg[f] = remap[v]
            # a recording's file name embeds ids and a date the copy re-stamps: not the capture's
            leg.pop("recording", None)
            legs.append(leg)
        cid = call["call_id"]
        out.append(
            ExpectedCall(
                remap.get(cid, cid),
                tpl.name,
                call.get("direction", ""),
                call.get("disposition", ""),
                tuple(legs),
            )
        )
    return out


def build_stream(
    scenarios: list[str] | None = None,
    n_calls: int = 10,
    seed: int = 1,
    start_ts: float = 1_800_000_000.0,
    overlap: float = 0.5,
    *,
    traces_dir: Path | None = None,
    new_numbers: bool = False,
) -> tuple[list[AmiMessage], list[ExpectedCall]]:
    """Messages of ``n_calls`` re-stamped, overlapping scenario copies, and their expected calls."""
    expected: list[ExpectedCall] = []
    text = "".join(
        iter_stream_text(
            scenarios,
            n_calls,
            seed,
            start_ts,
            overlap,
            traces_dir=traces_dir,
            new_numbers=new_numbers,
            expected=expected,
        )
    )
    return AmiParser().feed(text.encode("utf-8")), expected


def iter_capture_chunks(
    n_events: int, seed: int = 1, *, chunk_bytes: int = 1 << 20, banner: bool = True, **kw: Any
) -> Iterator[bytes]:
    """A capture of exactly ``n_events`` events as byte chunks (streamed: ~420 bytes/event)."""
    if banner:
        yield b"Asterisk Call Manager/11.0.0\r\n"
    buf: list[str] = []
    size = 0
    for text in itertools.islice(iter_stream_text(seed=seed, **kw), n_events):
        buf.append(text)
        size += len(text)
        if size >= chunk_bytes:
            yield "".join(buf).encode("utf-8")
            buf, size = [], 0
    if buf:
        yield "".join(buf).encode("utf-8")


def build_capture_bytes(n_events: int, seed: int = 1, **kw: Any) -> bytes:
    """The whole capture in memory (mind the size: ~420 MB per million events)."""
    return b"".join(iter_capture_chunks(n_events, seed, **kw))


def write_capture(path: str | Path, n_events: int, seed: int = 1, **kw: Any) -> int:
    """Write a capture file; returns its size in bytes."""
    n = 0
    with Path(path).open("wb") as fh:
        for chunk in iter_capture_chunks(n_events, seed, **kw):
            fh.write(chunk)
            n += len(chunk)
    return n


def to_bytes(messages: Iterable[AmiMessage], *, banner: bool = True) -> bytes:
    """Wire bytes of ``messages`` (a capture file's content)."""
    head = [b"Asterisk Call Manager/11.0.0\r\n"] if banner else []
    return b"".join(head + [m.to_bytes() for m in messages])


# Which real capture a simulated dialer call copies, per outcome (R-PRJ-1 / dialer tests).
DIALER_OUTCOMES = {
    "answered": "08-dialer-answered-queue",
    "no_answer": "09-dialer-no-answer",
    "busy": "10-dialer-busy",
    "failed": "11-dialer-failed",
}
_DEST_NUMBER = re.compile(r"/(\+?\d{3,})@")


class OriginateScript:
    """Turns an ``Originate`` action into the event stream a real Asterisk produced for it.

    The call is a re-stamped copy of the lab capture for the chosen outcome,
    with the action's destination number, its ActionID (so
    ``OriginateResponse`` correlates) and its ``Variable:`` values (e.g. the
    project) in place of the lab's.
    """

    def __init__(self, seed: int = 0, traces_dir: Path | None = None) -> None:
        self._stamper = _Stamper(seed)
        self._traces_dir = traces_dir

    def call(
        self, action: Mapping[str, str] | AmiMessage, outcome: str, start_ts: float
    ) -> tuple[list[AmiMessage], ExpectedCall]:
        if outcome not in DIALER_OUTCOMES:
            raise ValueError(f"unknown dialer outcome {outcome!r}; one of {sorted(DIALER_OUTCOMES)}")
        tpl = load_template(DIALER_OUTCOMES[outcome], self._traces_dir, True)
        fixed: dict[str, str] = {}
        m = _DEST_NUMBER.search(action.get("Channel", ""))
        if m:
            fixed["num"] = m.group(1)
        if action.get("ActionID"):
            fixed["aid"] = action["ActionID"]
        vals, remap = self._stamper.values(tpl, start_ts, fixed)
        text = "".join(fmt.format(*vals) for fmt in tpl.events)
        variables = action.get_all("Variable") if isinstance(action, AmiMessage) else []
        if not variables and action.get("Variable"):
            variables = [action["Variable"]]
        renamed: dict[str, str] = {}
        for var in variables:
            name, _, value = var.partition("=")
            pattern = r"Variable: " + re.escape(name) + r"\r\nValue: ([^\r]*)"
            for orig in set(re.findall(pattern, text)):
                renamed[orig] = value
            text = re.sub(
                r"(Variable: " + re.escape(name) + r"\r\nValue: )[^\r]*",
                functools.partial(_after_prefix, value),
                text,
            )
        msgs = AmiParser().feed(text.encode("utf-8"))
        (expected,) = _expected(tpl, remap)
        legs = tuple(
            {**leg, "project": renamed.get(leg["project"], leg["project"])} if "project" in leg else leg
            for leg in expected.legs
        )
        return msgs, ExpectedCall(expected.call_id, tpl.name, expected.direction, expected.disposition, legs)


def _after_prefix(value: str, mt: re.Match[str]) -> str:
    """A ``re.sub`` replacement keeping group 1 (the header prefix) and putting ``value`` after it
    (a function, not a template: ``value`` may hold backslashes)."""
    return mt.group(1) + value
