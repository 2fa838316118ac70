"""Logging set-up: one line per record on stderr, which systemd hands to the journal (R-OPS-5).

Why one line: journald stores each line of a service's stderr as its own entry, so a traceback or
a SQLAlchemy error spread over four lines becomes four entries, three of them without a
priority and without the logger's name.  Every record is therefore written as one line; newlines
and other control characters inside it (a traceback, a PBX's message) are escaped as ``\\n``.

Why the ``<N>`` prefix: when stderr is the journal, a line that starts with ``<3>`` is stored at
priority 3 (``err``), as ``sd-daemon(3)`` describes; without it every line is ``info`` and
``journalctl -p err`` finds nothing.  The prefix is written only to the journal (``JOURNAL_STREAM``
names the very file stderr is, or the config / ``--log-format`` asks for it), never on a terminal.

Why customer data is wrapped rather than searched for: a phone number or a caller's name may be
logged at DEBUG (an operator chasing one call needs it) but not at INFO or above, which go to the
journal of every running daemon and are kept for weeks (R-SAFE-3).  Call sites wrap such values in
:func:`customer`; the formatter shows them at DEBUG and masks them at INFO and above, unless the
config sets ``daemon.log_customer_data``.  Secrets are not handled here at all: each place that uses
one masks it there (``config.redact_url``, the PBX clients' login), so nothing in a log line is
replaced by a search for the secret's text (which turned ``ccagent.app`` into ``********.app``
when the database password was ``ccagent``, and would hide a phone number equal to a PIN).
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping
from typing import Any, Literal, TextIO

LogFormat = Literal["auto", "journal", "plain"]

#: sd-daemon(3) priorities (``SD_CRIT`` .. ``SD_DEBUG``) by logging level.
PRIORITIES: dict[int, int] = {
    logging.CRITICAL: 2,
    logging.ERROR: 3,
    logging.WARNING: 4,
    logging.INFO: 6,
    logging.DEBUG: 7,
}

#: What a customer's number or name reads as in a record at INFO or above.
CUSTOMER_MASK = "<customer>"

# \n, \r and every other C0 control character (and DEL) written as an escape, so a record is one line
_ESCAPES = {c: f"\\x{c:02x}" for c in (*range(0x20), 0x7F)}
_ESCAPES.update({ord("\n"): "\\n", ord("\r"): "\\r", ord("\t"): "\t"})


def priority(levelno: int) -> int:
    """The journal priority of a logging level (a level between two named ones takes the lower's)."""
    for level in (logging.CRITICAL, logging.ERROR, logging.WARNING, logging.INFO):
        if levelno >= level:
            return PRIORITIES[level]
    return PRIORITIES[logging.DEBUG]


def one_line(text: str) -> str:
    """``text`` with newlines and control characters escaped: one journal entry, whatever it held."""
    return text.translate(_ESCAPES)


class Customer:
    """A customer's phone number or name inside a log record: shown at DEBUG, masked above.

    ``str()`` gives the value itself, so a handler that does not know the class (a test's
    ``caplog``) still reads it; :class:`OneLineFormatter` is what masks it."""

    __slots__ = ("value",)

    def __init__(self, value: object) -> None:
        self.value = value

    def __str__(self) -> str:
        return str(self.value)

    def __repr__(self) -> str:
        return repr(self.value)


def customer(value: object) -> Customer:
    """Mark ``value`` (a phone number, a caller's name) as customer data for the log formatter."""
    return value if isinstance(value, Customer) else Customer(value)


def _masked(arg: Any) -> Any:
    return CUSTOMER_MASK if isinstance(arg, Customer) else arg


def message_for(record: logging.LogRecord, *, customer_data: bool = False) -> str:
    """The record's message as the journal would read it: customer values masked at INFO and above
    unless ``customer_data`` (shared with the test that scans every record of the suite)."""
    args = record.args
    if customer_data or record.levelno < logging.INFO or not args:
        return record.getMessage()
    if isinstance(args, Mapping):
        masked: Any = {k: _masked(v) for k, v in args.items()}
    else:
        masked = tuple(_masked(a) for a in args)
    msg = str(record.msg)
    return msg % masked


class OneLineFormatter(logging.Formatter):
    """One line per record: the traceback, if any, folded in with escaped newlines; the sd-daemon
    priority in front when writing to the journal; customer values masked at INFO and above."""

    def __init__(self, fmt: str, *, journal: bool = False, customer_data: bool = False) -> None:
        super().__init__(fmt)
        self.journal = journal
        self.customer_data = customer_data

    def format(self, record: logging.LogRecord) -> str:
        record.message = message_for(record, customer_data=self.customer_data)
        if self.usesTime():
            record.asctime = self.formatTime(record, self.datefmt)
        text = self.formatMessage(record)
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            text = f"{text} | {record.exc_text}"
        if record.stack_info:
            text = f"{text} | {self.formatStack(record.stack_info)}"
        line = one_line(text)
        return f"<{priority(record.levelno)}>{line}" if self.journal else line


def stderr_is_journal(environ: Mapping[str, str] | None = None, stream: TextIO | None = None) -> bool:
    """True when ``stream`` (stderr) is the journal's socket: ``JOURNAL_STREAM`` is ``dev:inode`` of
    the stream systemd connected, and is inherited by children whose stderr may be elsewhere, so
    it is compared with the stream's own ``fstat`` as systemd.exec(5) advises."""
    env = os.environ if environ is None else environ
    value = env.get("JOURNAL_STREAM", "")
    dev, sep, ino = value.partition(":")
    if not sep or not dev.isdigit() or not ino.isdigit():
        return False
    try:
        st = os.fstat((stream or sys.stderr).fileno())
    except (OSError, ValueError, AttributeError):
        return False
    return (st.st_dev, st.st_ino) == (int(dev), int(ino))


class _Handler(logging.StreamHandler):  # type: ignore[type-arg,unused-ignore]
    """ccagent's own handler, so a second set-up replaces it and leaves other handlers alone."""


def setup_logging(
    level: str = "INFO",
    *,
    log_format: LogFormat = "auto",
    customer_data: bool = False,
    stream: TextIO | None = None,
    environ: Mapping[str, str] | None = None,
) -> logging.Handler:
    """Install the one-line stderr handler on the root logger; returns it.

    ``log_format``: ``journal`` writes the sd-daemon priority prefix and no time (journald stamps
    each entry), ``plain`` a time and no prefix, ``auto`` picks ``journal`` when stderr is the
    journal (:func:`stderr_is_journal`).
    """
    stream = stream or sys.stderr
    journal = log_format == "journal" or (log_format == "auto" and stderr_is_journal(environ, stream))
    fmt = "%(levelname)s %(name)s: %(message)s"
    if not journal:
        fmt = "%(asctime)s " + fmt
    handler = _Handler(stream)
    handler.setFormatter(OneLineFormatter(fmt, journal=journal, customer_data=customer_data))
    root = logging.getLogger()
    root.handlers[:] = [h for h in root.handlers if not isinstance(h, _Handler)] + [handler]
    root.setLevel(level.upper())
    if level.upper() != "DEBUG":
        logging.getLogger("alembic").setLevel(logging.WARNING)
    return handler
