"""Reading raw ESL captures (the traces' ``esl.log`` / ``esl.reconnect.log``), SPEC R-PBX-4, R-PBX-6.

A capture is the exact byte stream one ESL connection received.  Several files
are successive connections (13-esl-reconnect): callers iterate them in order
and treat the end of each file as a lost connection.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from ccagent.pbx.esl.parser import EslFrame, EslParser
from ccagent.pbx.esl.snapshot import snapshot_message

__all__ = [
    "capture_files",
    "channels_listing",
    "iter_capture_events",
    "iter_capture_messages",
    "iter_esl_capture",
]

_CHUNK = 256 * 1024


def iter_esl_capture(
    path: str | Path, *, chunk: int = _CHUNK, parser: EslParser | None = None
) -> Iterator[EslFrame]:
    """Every frame of one capture file, in order; damaged frames are yielded with ``malformed=True``."""
    p = parser or EslParser()
    with open(path, "rb") as fh:
        while True:
            data = fh.read(chunk)
            if not data:
                break
            yield from p.feed(data)
    yield from p.feed_eof()


def iter_capture_events(path: str | Path) -> Iterator[dict[str, str]]:
    """Only the events (plain or JSON, already flattened) of one capture file."""
    for frame in iter_esl_capture(path):
        if frame.event is not None:
            yield frame.event


def capture_files(folder: str | Path) -> list[Path]:
    """A trace folder's capture files in connection order (``esl.log`` then ``esl.reconnect.log``)."""
    base = Path(folder)
    files = [base / "esl.log"]
    files += sorted(p for p in base.glob("esl.*.log") if p.name != "esl.log")
    return [f for f in files if f.exists()]


def iter_files_frames(paths: Iterable[str | Path]) -> Iterator[tuple[int, EslFrame | None]]:
    """Frames of several captures; ``(index, None)`` marks the end of connection ``index``."""
    for i, path in enumerate(paths):
        yield from ((i, f) for f in iter_esl_capture(path))
        yield i, None


def channels_listing(body: str, *, first: bool) -> bool:
    """Is this ``api/response`` body the answer to ``show channels as json`` (R-PBX-5)?

    A capture holds only what the switch sent, not which command was asked, and
    ``show calls`` / ``show bridged_calls`` answer in the same JSON shape.  Their rows
    carry ``b_uuid`` columns; channel rows do not.  An empty listing (``{"row_count":0}``)
    looks the same for every ``show``: it is taken as the channel listing only when it is
    the connection's first JSON answer, which is where a reconnecting client (ccagent's
    own, and the lab's recorder) asks for the channels.
    """
    text = body.strip()
    if not text.startswith("{"):
        return False
    try:
        obj = json.loads(text)
    except ValueError:
        return False
    if not isinstance(obj, dict) or "row_count" not in obj:
        return False
    rows = obj.get("rows") or []
    if not isinstance(rows, list):
        return False
    if not rows:
        return first
    row = rows[0]
    return isinstance(row, dict) and "uuid" in row and "name" in row and "b_uuid" not in row


def iter_capture_messages(
    path: str | Path, keep: Callable[[bytes], bool] | None = None
) -> Iterator[dict[str, str]]:
    """What the one pipeline's translator takes from a capture: events, and channel listings
    wrapped by :func:`~ccagent.pbx.esl.snapshot.snapshot_message` (offline ingest, R-PBX-6).
    ``keep`` is the translator's raw pre-filter (``FsTranslator.wants``)."""
    first_json = True
    for frame in iter_esl_capture(path, parser=EslParser(keep=keep)):
        if frame.event is not None:
            yield frame.event
        elif frame.content_type == "api/response" and not frame.malformed:
            body = frame.body_text
            if not body.lstrip().startswith("{"):
                continue
            if channels_listing(body, first=first_json):
                yield snapshot_message(body)
            first_json = False
