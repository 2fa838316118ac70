"""Counting the SQL statements an operation sends, to catch a query per row (N+1) in a test.

Counted at SQLAlchemy's ``before_cursor_execute``: an executemany is one statement (one round of
the driver), and PostgreSQL COPY, which bypasses SQLAlchemy's cursor, is not counted at all.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, event


@contextmanager
def statements(engine: Engine) -> Iterator[list[str]]:
    """The statements sent on ``engine`` while the block runs, in order."""
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)
