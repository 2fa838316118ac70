"""Raw PBX captures on disk (R-PBX-4, R-PBX-6): which PBX wrote a file, from its first bytes.

The readers live with their adapters (``pbx/ami/capture.py``, ``pbx/esl/capture.py``); this sniff
depends on neither, so the adapters can use it without the PBX packages importing each other.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

__all__ = ["CaptureFormatError", "detect_format"]

CaptureFormat = Literal["ami", "esl-plain", "esl-json"]

_SNIFF_BYTES = 64 * 1024
# What an AMI session starts with (``ccagent.pbx.ami.parser.BANNER_PREFIX``; a test keeps them equal).
_AMI_BANNER = "Asterisk Call Manager/"


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
    if text.startswith(_AMI_BANNER):
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
