"""AMI captures on disk (R-PBX-4, R-PBX-6), read as the live client reads the socket.

Captures can be large (a day of a busy PBX), so the reader streams the file in blocks through the
same sans-I/O parser the live client uses: what ingest sees is byte-for-byte what the daemon would
have seen.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from ccagent.pbx.ami.parser import AmiMessage, AmiParser

__all__ = ["iter_ami_capture"]

_READ_BYTES = 256 * 1024


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
