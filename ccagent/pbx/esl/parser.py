"""Sans-I/O parser for the FreeSWITCH Event Socket (ESL) wire format (SPEC R-PBX-2, R-SAFE-1).

The parser works on bytes, never on sockets, so the asyncio client, the gevent
fence, the offline ``ingest`` reader, the simulated server and the benchmarks
all share one implementation and one set of tests.

Wire format: a frame is a block of ``Name: value`` header lines ended by a
blank line, optionally followed by ``Content-Length`` bytes of body.  Events
arrive as ``text/event-plain`` (body = URL-encoded header lines, optionally an
inner ``Content-Length`` and an inner body) or ``text/event-json`` (body = one
JSON object, ``_body`` for the inner body).  Both are returned as the same flat
``dict[str, str]`` so the translator never cares which format was subscribed.

Robustness: lengths are counted in BYTES (a Cyrillic caller name in JSON makes
characters != bytes) and the buffer is decoded only once a frame is complete,
so a frame split at any byte (even inside a multi-byte character) parses the
same.  A lying or garbage Content-Length never crashes or wedges the parser:
lengths above ``max_frame`` are rejected at once, a body that turns out to
contain the start of the next frame is cut and the remainder re-parsed, and
junk between frames is skipped up to the next plausible header block.  Every
such repair is counted in ``malformed`` so the client can expose it as a metric.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from urllib.parse import unquote

__all__ = ["EslFrame", "EslParser", "parse_json_event", "parse_plain_event"]

DEFAULT_MAX_FRAME = 4 * 1024 * 1024
DEFAULT_MAX_HEADER = 64 * 1024

# A plausible start of a frame header block: what resync looks for.
_FRAME_START = re.compile(rb"(Content-(?:Length: \d|Type: [a-z]))")
_HEADER_NAME = re.compile(rb"[A-Za-z0-9_-]+")
# Inside an over-long body: the next frame glued after it by a lying Content-Length.
_EMBEDDED_FRAME = re.compile(rb"\n\n?(Content-Length: \d+\nContent-Type: |Content-Type: [a-z/-]+\n)")
_KNOWN_TYPES = frozenset(
    {
        "auth/request",
        "command/reply",
        "api/response",
        "text/event-plain",
        "text/event-json",
        "text/event-xml",
        "text/disconnect-notice",
        "text/rude-rejection",
        "log/data",
    }
)


@dataclass(slots=True)
class EslFrame:
    """One ESL frame: its outer headers, its raw body and, for events, the flat event headers."""

    headers: dict[str, str]
    body: bytes = b""
    event: dict[str, str] | None = None
    malformed: bool = False  # salvaged from a damaged stream (body cut / undecodable)
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def content_type(self) -> str:
        return self.headers.get("Content-Type", "")

    @property
    def reply_text(self) -> str:
        return self.headers.get("Reply-Text", "")

    @property
    def body_text(self) -> str:
        return self.body.decode("utf-8", errors="replace")


@lru_cache(maxsize=8192)
def _unquote(raw: str) -> str:
    # Many values repeat from event to event (dates, host, channel names): cache the decoding.
    return unquote(raw, errors="replace")


def _plain_headers_slow(lines: list[str]) -> dict[str, str]:
    """Tolerant path: ``Name:value`` without the space, lines without a colon skipped."""
    event: dict[str, str] = {}
    for line in lines:
        name, colon, value = line.partition(": ")
        if not colon:
            name, colon, value = line.partition(":")
            if not colon:
                continue
        event[name] = value
    return event


def parse_plain_event(body: bytes) -> dict[str, str]:
    """Decode a ``text/event-plain`` body: URL-encoded headers, optional inner body as ``_body``.

    Hot path (an event is ~120 header lines): one C-level ``dict()`` over split lines, then
    URL-decoding only the values that need it; anything irregular takes the tolerant path.
    """
    head, sep, rest = body.partition(b"\n\n")
    text = head.decode("utf-8", errors="replace")
    lines = text.split("\n")
    try:
        event = dict(line.split(": ", 1) for line in lines)
    except ValueError:
        event = _plain_headers_slow(lines)
    for name, value in event.items():
        if "%" in value:
            event[name] = _unquote(value)
    inner = event.pop("Content-Length", None)
    if inner is not None and sep:
        try:
            n = int(inner)
        except ValueError:
            n = len(rest)
        if n < 0:
            n = len(rest)
        event["_body"] = rest[:n].decode("utf-8", errors="replace")
    return event


def parse_json_event(body: bytes) -> dict[str, str]:
    """Decode a ``text/event-json`` body into the same flat shape as a plain event."""
    obj = json.loads(body.decode("utf-8", errors="replace"))
    if not isinstance(obj, dict):
        raise ValueError("event-json body is not a JSON object")
    event: dict[str, str] = {}
    for key, value in obj.items():
        if isinstance(value, str):
            event[str(key)] = value
        elif value is None:
            event[str(key)] = ""
        else:
            event[str(key)] = json.dumps(value, ensure_ascii=False)
    return event


class EslParser:
    """Incremental ESL frame parser: ``feed(bytes) -> list[EslFrame]``; never raises on bad input."""

    __slots__ = ("_buf", "_pending", "frames", "keep", "malformed", "max_frame", "max_header", "skipped")

    def __init__(
        self,
        *,
        max_frame: int = DEFAULT_MAX_FRAME,
        max_header: int = DEFAULT_MAX_HEADER,
        keep: Callable[[bytes], bool] | None = None,
    ) -> None:
        # ``keep(event_body) -> bool``: a pre-filter on the raw event body; False leaves the
        # frame's ``event`` undecoded (None), so events nobody reads cost a bytes scan.
        self.keep = keep
        self.skipped = 0
        self._buf = bytearray()
        self._pending: tuple[dict[str, str], int] | None = None  # headers + body length awaited
        self.max_frame = max_frame
        self.max_header = max_header
        self.malformed = 0
        self.frames = 0

    @property
    def buffered(self) -> int:
        return len(self._buf)

    def feed(self, data: bytes) -> list[EslFrame]:
        if data:
            self._buf += data
        out: list[EslFrame] = []
        while True:
            frame = self._next()
            if frame is None:
                return out
            out.append(frame)

    def feed_eof(self) -> list[EslFrame]:
        """End of stream: salvage a frame whose body was cut short (a lying Content-Length)."""
        out = self.feed(b"")
        while self._pending is not None:
            headers, _n = self._pending
            self._pending = None
            body = bytes(self._buf)
            self._buf.clear()
            out.append(self._finish(headers, body, damaged=True))
            out += self.feed(b"")  # a cut-back over-long body may have given bytes back
        if self._buf.strip():
            self.malformed += 1
        self._buf.clear()
        return out

    # -- internals -----------------------------------------------------------------------------------

    def _next(self) -> EslFrame | None:
        """The next complete frame, or None until more bytes come.

        A loop, not recursion: a read may hold thousands of unusable frames in a row (a
        flood of junk, a lying Content-Length repeated), and each one only advances the buffer.
        """
        buf = self._buf
        while self._pending is None:
            # skip blank lines between frames
            i = 0
            n = len(buf)
            while i < n and buf[i] in (10, 13):
                i += 1
            if i:
                del buf[:i]
            end = buf.find(b"\n\n")
            if end < 0:
                if len(buf) > self.max_header:
                    self._resync(1)
                    continue
                return None
            headers = self._parse_headers(bytes(buf[:end]))
            if headers is None:
                self._resync(1)
                continue
            del buf[: end + 2]
            raw_len = headers.get("Content-Length")
            if raw_len is None:
                return self._finish(headers, b"")
            try:
                length = int(raw_len)
            except ValueError:
                length = -1
            if length < 0 or length > self.max_frame:
                self.malformed += 1
                continue
            self._pending = (headers, length)
        headers, length = self._pending
        if len(buf) < length:
            return None
        body = bytes(buf[:length])
        del buf[:length]
        self._pending = None
        return self._finish(headers, body)

    def _parse_headers(self, block: bytes) -> dict[str, str] | None:
        """Outer headers; None when the block is not a plausible ESL header block (garbage)."""
        headers: dict[str, str] = {}
        for line in block.split(b"\n"):
            name, colon, value = line.partition(b": ")
            if not colon or _HEADER_NAME.fullmatch(name) is None:
                return None
            headers[name.decode("latin-1")] = value.rstrip(b"\r").decode("utf-8", errors="replace")
        if "Content-Type" not in headers and "Content-Length" not in headers:
            return None
        return headers

    def _resync(self, start: int) -> None:
        """Drop junk up to the next plausible frame start (never the current position: progress)."""
        self.malformed += 1
        m = _FRAME_START.search(self._buf, start)
        if m is None:
            # keep a short tail: a header name may be split across feeds
            keep = 32
            if len(self._buf) > keep:
                del self._buf[: len(self._buf) - keep]
            # the kept tail must not be re-examined as a frame start at offset 0 forever
            tail = bytes(self._buf)
            idx = tail.rfind(b"\n")
            del self._buf[: idx + 1 if idx >= 0 else len(self._buf)]
            return
        del self._buf[: m.start(1)]

    def _finish(self, headers: dict[str, str], body: bytes, *, damaged: bool = False) -> EslFrame:
        ctype = headers.get("Content-Type", "")
        event: dict[str, str] | None = None
        if ctype in ("text/event-plain", "text/event-json") and body:
            body = self._cut_overlong(ctype, body)
            if self.keep is not None and not damaged and not self.keep(body):
                self.skipped += 1
                self.frames += 1
                return EslFrame(headers=headers, body=body, event=None, malformed=False)
            try:
                event = parse_plain_event(body) if ctype == "text/event-plain" else parse_json_event(body)
            except (ValueError, UnicodeError, RecursionError):
                damaged = True
                event = None
            if event is not None and "Event-Name" not in event:
                damaged = True
        elif ctype not in _KNOWN_TYPES:
            damaged = True
        if damaged:
            self.malformed += 1
        self.frames += 1
        return EslFrame(headers=headers, body=body, event=event, malformed=damaged)

    def _cut_overlong(self, ctype: str, body: bytes) -> bytes:
        """A Content-Length larger than the real body swallowed the next frame(s): give them back."""
        if b"Content-Type: " not in body:
            return body
        if ctype == "text/event-json":
            end = _json_object_end(body)
            if end is None or end >= len(body.rstrip()):
                return body
            cut = end
        else:
            head_end = body.find(b"\n\n")
            if head_end < 0:
                return body
            start = head_end + 2
            m = re.search(rb"(?:^|\n)Content-Length: (\d+)\n", body[:head_end])
            if m is not None:
                start += int(m.group(1))
            m2 = _EMBEDDED_FRAME.search(body, max(start - 2, head_end))
            if m2 is None:
                return body
            cut = m2.start(1)
        rest = body[cut:]
        if not rest.strip():
            return body
        self.malformed += 1
        self._buf[:0] = rest
        return body[:cut]


_DECODER = json.JSONDecoder()


def _json_object_end(body: bytes) -> int | None:
    """Byte offset just after the first JSON object in ``body`` (None if it does not parse)."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return None
    stripped = len(text) - len(text.lstrip())
    try:
        _obj, end = _DECODER.raw_decode(text, stripped)
    except ValueError:
        return None
    if end >= len(text):
        return len(body)
    return len(text[:end].encode("utf-8"))
