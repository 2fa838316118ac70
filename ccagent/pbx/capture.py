"""Raw PBX captures on disk (R-PBX-4, R-PBX-6): format sniffing and streamed AMI reading.

Captures can be large (a day of a busy PBX), so the AMI reader streams the file
in blocks through the same sans-I/O parser the live client uses: what ingest
sees is byte-for-byte what the daemon would have seen.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Literal

from ccagent.pbx.ami.parser import BANNER_PREFIX, AmiMessage, AmiParser

__all__ = ["CaptureFormatError", "detect_format", "iter_ami_capture"]

CaptureFormat = Literal["ami", "esl-plain", "esl-json"]

_SNIFF_BYTES = 64 * 1024
_READ_BYTES = 256 * 1024


class CaptureFormatError(ValueError):
    """The file is not a capture we know how to read."""


def detect_format(path: str | Path) -> CaptureFormat:
    """Tell an AMI capture from a FreeSWITCH ESL one by its first bytes.

    An AMI stream starts with the banner (or, for a capture cut mid-session,
    with ``Event:``/``Response:`` headers); an ESL stream is framed by
    ``Content-Type:`` headers, and its event frames say ``text/event-json`` or
    ``text/event-plain``.
    """
    p = Path(path)
    with p.open("rb") as fh:
        head = fh.read(_SNIFF_BYTES)
    text = head.lstrip(b"\xef\xbb\xbf").lstrip().decode("utf-8", "replace")
    if not text:
        raise CaptureFormatError(f"{p}: empty file, cannot tell its format")
    if text.startswith(BANNER_PREFIX):
        return "ami"
    first_key = text.split(":", 1)[0]
    if first_key in ("Content-Type", "Content-Length"):
        if "text/event-json" in text:
            return "esl-json"
        return "esl-plain"
    if first_key in ("Event", "Response", "Action", "Privilege", "ActionID"):
        return "ami"
    raise CaptureFormatError(
        f"{p}: line 1: neither an AMI banner/header nor an ESL Content-Type header: {text[:40]!r}"
    )


def iter_ami_capture(path: str | Path, parser: AmiParser | None = None) -> Iterator[AmiMessage]:
    """Yield the AMI messages of a capture file in order, reading it in blocks.

    A truncated last message (capture stopped mid-write) is still yielded if it
    has a kind header; garbage is counted on ``parser`` and skipped.
    """
    p = parser or AmiParser()
    with Path(path).open("rb") as fh:
        while True:
            block = fh.read(_READ_BYTES)
            if not block:
                break
            yield from p.feed(block)
    yield from p.feed(b"\r\n\r\n")
