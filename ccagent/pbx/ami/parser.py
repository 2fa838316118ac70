"""Sans-I/O parser for the Asterisk Manager Interface byte stream (R-PBX-1, R-SAFE-1).

Why our own parser instead of panoramisk's: panoramisk decodes every TCP read on
its own (``ascii``/``ignore`` by default, and even with ``utf8`` a multi-byte
character split across two reads is dropped), so Cyrillic caller names get
mangled.  Here the stream is split into messages on *bytes* and each complete
message is decoded once, so a split anywhere (inside a UTF-8 character, inside
the ``\\r\\n\\r\\n`` separator) cannot change the result.

The parser never raises on PBX data: invalid UTF-8 is replaced per message,
lines without a colon are kept as free text (``Response: Follows`` output) and
counted, a block with no ``Event``/``Response``/``Action`` header is dropped and
counted, and a message that grows past ``max_message_bytes`` without a blank
line is discarded (not buffered forever) and counted.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

__all__ = ["BANNER_PREFIX", "DEFAULT_MAX_MESSAGE_BYTES", "AmiMessage", "AmiParser"]

BANNER_PREFIX = "Asterisk Call Manager/"
_BANNER_PREFIX_B = BANNER_PREFIX.encode()
DEFAULT_MAX_MESSAGE_BYTES = 1 << 20

# Headers that make a block a message; a block with none of them is garbage.
_KIND_KEYS = ("Event", "Response", "Action")


class AmiMessage(dict[str, str]):
    """One AMI message: a plain ``dict`` of its headers for fast access.

    A repeated header (``Variable:`` in actions, ``ChanVariable:`` in events)
    keeps its *first* value in the dict and every value in :meth:`get_all`, so the
    common single-valued lookup stays a dict lookup.  ``raw_headers`` keeps the
    original order (needed to re-serialize a message byte-for-byte, e.g. by the
    simulated PBX); its items are 2-item sequences (lists on the parser's fast
    path, tuples from :meth:`from_pairs`): unpack them, do not compare them to
    tuples.  ``content`` holds free-text lines (old-style ``Response:
    Follows`` command output).
    """

    __slots__ = ("_multi", "content", "raw_headers")

    raw_headers: list[tuple[str, str]]
    content: str
    _multi: dict[str, list[str]] | None

    @classmethod
    def from_pairs(cls, pairs: list[tuple[str, str]], content: str = "") -> AmiMessage:
        """Build from ordered header pairs (repeated keys allowed)."""
        msg = cls()
        multi: dict[str, list[str]] | None = None
        for key, value in pairs:
            if key in msg:
                if multi is None:
                    multi = {}
                multi.setdefault(key, [msg[key]]).append(value)
            else:
                msg[key] = value
        msg.raw_headers = list(pairs)
        msg.content = content
        msg._multi = multi
        return msg

    def get_all(self, key: str) -> list[str]:
        """Every value of ``key`` in arrival order ([] when absent)."""
        if self._multi is not None and key in self._multi:
            return list(self._multi[key])
        value = self.get(key)
        return [] if value is None else [value]

    @property
    def event(self) -> str | None:
        return self.get("Event")

    @property
    def response(self) -> str | None:
        return self.get("Response")

    @property
    def action(self) -> str | None:
        return self.get("Action")

    @property
    def action_id(self) -> str | None:
        return self.get("ActionID")

    def to_bytes(self) -> bytes:
        """Serialize back to wire form (CRLF lines, blank-line terminated)."""
        lines = [f"{k}: {v}" for k, v in self.raw_headers]
        if self.content:
            lines.extend(self.content.split("\n"))
        lines.append("")
        lines.append("")
        return "\r\n".join(lines).encode("utf-8")

    def __reduce__(self) -> tuple[object, ...]:
        return (AmiMessage.from_pairs, (self.raw_headers, self.content))

    def __repr__(self) -> str:
        return f"AmiMessage({self.raw_headers!r})"


MalformedHook = Callable[[str, str], None]


class AmiParser:
    """Incremental AMI stream parser: ``feed(bytes) -> list[AmiMessage]``.

    Counters (plain ints, exported as metrics by the caller): ``messages``,
    ``malformed`` (blocks dropped: no kind header, oversize), ``bad_lines``
    (lines without a colon outside a ``Follows`` response), ``decode_errors``
    (messages with invalid UTF-8, kept with U+FFFD), ``oversize`` (messages
    dropped by the size guard).  ``on_malformed(reason, excerpt)`` lets the I/O
    shell log the bad input with whatever ids it carries.
    """

    __slots__ = (
        "_at_start",
        "_chunks",
        "_discarding",
        "_size",
        "_tail",
        "bad_lines",
        "decode_errors",
        "keep",
        "malformed",
        "max_message_bytes",
        "messages",
        "on_malformed",
        "oversize",
        "skipped",
        "version",
    )

    def __init__(
        self,
        *,
        max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
        on_malformed: MalformedHook | None = None,
        keep: Callable[[bytes], bool] | None = None,
    ) -> None:
        self.max_message_bytes = max_message_bytes
        self.on_malformed = on_malformed
        # Optional pre-filter on the raw block (LF line ends): False skips the
        # message before it is decoded, so events nobody reads cost a bytes scan.
        self.keep = keep
        self.skipped = 0
        self.version: str | None = None
        self._chunks: list[bytes] = []
        self._size = 0
        self._tail = b""
        self._discarding = False
        self._at_start = True
        self.messages = 0
        self.malformed = 0
        self.bad_lines = 0
        self.decode_errors = 0
        self.oversize = 0

    @property
    def buffered(self) -> int:
        """Bytes held waiting for the end of a message."""
        return self._size

    def reset(self) -> None:
        """Forget a partial message (a new connection starts clean)."""
        self._chunks = []
        self._size = 0
        self._tail = b""
        self._discarding = False
        self._at_start = True
        self.version = None

    def feed(self, data: bytes) -> list[AmiMessage]:
        if not data:
            return []
        if self._at_start:
            data = self._banner(data)
            if not data:
                return []
        if self._discarding:
            data = self._skip_oversize(data)
            if not data:
                return []
        chunks = self._chunks
        if chunks:
            # With a big pending buffer, look for a separator around the seam
            # first: re-joining it on every small read would be quadratic.
            if self._size > 8192 and b"\n\n" not in (self._tail + data).replace(b"\r\n", b"\n"):
                return self._hold(data)
            chunks.append(data)
            buf = b"".join(chunks)
            self._chunks = []
            self._size = 0
            self._tail = b""
        else:
            buf = data
        parts = buf.replace(b"\r\n", b"\n").split(b"\n\n")
        rest = parts.pop()
        out: list[AmiMessage] = []
        keep = self.keep
        for part in parts:
            if part:
                if keep is not None and not keep(part):
                    self.skipped += 1
                    continue
                msg = self._parse_block(part)
                if msg is not None:
                    out.append(msg)
        if rest:
            self._hold(rest)
        return out

    def _banner(self, data: bytes) -> bytes:
        """Consume the banner line, which Asterisk ends with one CRLF, not a blank line."""
        if self._chunks:
            data = b"".join(self._chunks) + data
            self._chunks = []
            self._size = 0
            self._tail = b""
        if data.startswith(_BANNER_PREFIX_B):
            line, nl, rest = data.partition(b"\n")
            if not nl:
                if len(data) > 200:  # not a banner after all; parse it as data
                    self._at_start = False
                    return data
                self._chunks.append(data)
                self._size = len(data)
                self._tail = data[-3:]
                return b""
            self.version = line[len(_BANNER_PREFIX_B) :].decode("utf-8", "replace").strip()
            self._at_start = False
            return rest
        if len(data) < len(_BANNER_PREFIX_B) and _BANNER_PREFIX_B.startswith(data):
            self._chunks.append(data)
            self._size = len(data)
            self._tail = data[-3:]
            return b""
        self._at_start = False
        return data

    def _skip_oversize(self, data: bytes) -> bytes:
        """Drop bytes up to the end of the oversize message; return what follows it."""
        probe = self._tail + data
        ends = [i + n for i, n in ((probe.find(b"\n\n"), 2), (probe.find(b"\n\r\n"), 3)) if i >= 0]
        if not ends:
            self._tail = probe[-3:]
            return b""
        self._discarding = False
        self._tail = b""
        return probe[min(ends) :]

    def _hold(self, data: bytes) -> list[AmiMessage]:
        self._chunks.append(data)
        self._size += len(data)
        self._tail = (self._tail + data)[-3:] if len(data) < 3 else data[-3:]
        if self._size > self.max_message_bytes:
            # A banner line never ends with a blank line; accept it if that is all we hold.
            self._chunks = []
            self._size = 0
            self._tail = data[-3:]  # the end of the message may straddle this read
            self._discarding = True
            self.oversize += 1
            self.malformed += 1
            if self.on_malformed is not None:
                self.on_malformed(f"message larger than {self.max_message_bytes} bytes dropped", "")
        return []

    def _parse_block(self, block: bytes) -> AmiMessage | None:
        if block[:1] == b"\n":
            block = block.lstrip(b"\n")
            if not block:
                return None
        if block.startswith(_BANNER_PREFIX_B):
            line, _, block = block.partition(b"\n")
            self.version = line[len(_BANNER_PREFIX_B) :].decode("utf-8", "replace").strip()
            if not block:
                return None
        try:
            text = block.decode("utf-8")
        except UnicodeDecodeError:
            self.decode_errors += 1
            text = block.decode("utf-8", "replace")
        lines = text.split("\n")
        pairs = [line.split(": ", 1) for line in lines]
        try:
            msg = AmiMessage(pairs)
        except ValueError:
            return self._parse_slow(lines)
        if len(msg) != len(pairs):
            return self._parse_slow(lines)
        if "Event" not in msg and "Response" not in msg and "Action" not in msg:
            self._reject("no Event/Response/Action header", text)
            return None
        # two-item lists, not tuples: converting each header would cost the hot path a copy
        msg.raw_headers = pairs  # type: ignore[assignment]
        msg.content = ""
        msg._multi = None
        self.messages += 1
        return msg

    def _parse_slow(self, lines: list[str]) -> AmiMessage | None:
        """Tolerant path: ``Key:`` without a space, free text, repeated keys."""
        pairs: list[tuple[str, str]] = []
        free: list[str] = []
        for line in lines:
            key, sep, value = line.partition(":")
            if sep and key and " " not in key:
                if value[:1] == " ":
                    value = value[1:]
                pairs.append((key, value.rstrip("\r")))
            elif line.strip():
                free.append(line.rstrip("\r"))
        msg = AmiMessage.from_pairs(pairs, "\n".join(free))
        if "Event" not in msg and "Response" not in msg and "Action" not in msg:
            self._reject("no Event/Response/Action header", "\n".join(lines))
            return None
        if free and msg.get("Response") != "Follows":
            self.bad_lines += len(free)
            if self.on_malformed is not None:
                self.on_malformed(f"line without a colon in {describe(msg)}", free[0][:80])
        self.messages += 1
        return msg

    def _reject(self, reason: str, text: str) -> None:
        self.malformed += 1
        if self.on_malformed is not None:
            self.on_malformed(reason, text[:80])
        return None


def describe(msg: AmiMessage) -> str:
    """Short identity of a message for logs: kind and the ids it carries (never values)."""
    kind = msg.get("Event") or msg.get("Response") or msg.get("Action") or "?"
    ids = [f"{k}={msg[k]}" for k in ("ActionID", "Uniqueid", "Linkedid", "Channel") if k in msg]
    return " ".join([kind, *ids])


def iter_messages(chunks: Iterator[bytes], parser: AmiParser | None = None) -> Iterator[AmiMessage]:
    """Parse an iterable of byte chunks (a file read in blocks, a socket drain)."""
    p = parser or AmiParser()
    for chunk in chunks:
        yield from p.feed(chunk)
    yield from p.feed(b"\r\n\r\n")
