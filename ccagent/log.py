"""Logging set-up: one line per record to stderr, which systemd sends to the journal (R-OPS-5).

Secrets (AMI secret, ESL password, database passwords) are registered at start
and masked in every formatted line, as a last line of defence behind the code
never logging them in the first place (R-SAFE-3).
"""

from __future__ import annotations

import logging
import os
import sys

_SECRETS: set[str] = set()
MASK = "********"


def register_secret(value: str | None) -> None:
    """Mask ``value`` wherever it would appear in a log line (ignored when too short to be useful)."""
    if value and len(value) >= 4:
        _SECRETS.add(value)


def redact(text: str) -> str:
    for secret in _SECRETS:
        if secret in text:
            text = text.replace(secret, MASK)
    return text


class RedactingFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


def setup_logging(level: str = "INFO") -> None:
    """Journal-friendly format: systemd adds the time, so only when not under systemd do we print it."""
    under_systemd = "JOURNAL_STREAM" in os.environ or "INVOCATION_ID" in os.environ
    fmt = (
        "%(levelname)s %(name)s: %(message)s"
        if under_systemd
        else ("%(asctime)s %(levelname)s %(name)s: %(message)s")
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(RedactingFormatter(fmt))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    if level.upper() != "DEBUG":
        logging.getLogger("alembic").setLevel(logging.WARNING)
