"""Engines and schema migration for the store (SPEC R-REP-1).

SQLite is the embedded default: WAL so report readers never block the single
writer, ``synchronous=NORMAL`` (durable at checkpoints, fast commits),
foreign keys on (SQLite ships them off) and a busy timeout so a reader's
brief lock is waited for rather than failing.  PostgreSQL gets
``pool_pre_ping`` so a restarted server does not surface as a failed write.
Both hide statement parameters from errors and echo: a failed write's message would otherwise
quote the customer's number it was storing into the journal (R-SAFE-3).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Callable
from os import EX_CANTCREAT, EX_CONFIG, EX_DATAERR, EX_NOINPUT, EX_UNAVAILABLE
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import Engine, create_engine, event, func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DatabaseError, OperationalError, SQLAlchemyError

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
SQLITE_BUSY_TIMEOUT_MS = 10_000


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    finally:
        cursor.close()


PG_CONNECT_ARGS: dict[str, int] = {
    "connect_timeout": 10,
    "keepalives": 1,
    "keepalives_idle": 15,
    "keepalives_interval": 5,
    "keepalives_count": 3,
    "tcp_user_timeout": 45_000,  # ms: unacknowledged data (a write to a dead server) gives up too
}


def make_engine(url: str, *, echo: bool = False) -> Engine:
    """An engine tuned for the dialect; the only place engines are made."""
    try:
        parsed = make_url(url)
        parsed.port  # noqa: B018 - a port that is not a number fails here, not at connect
    except ValueError as exc:
        raise ArgumentError(f"not a valid database URL ({exc})") from None
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        raise ArgumentError(f"{parsed.get_backend_name()}: ccagent stores in sqlite:// or postgresql:// only")
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        if database and database != ":memory:" and not database.startswith("file:"):
            Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            parsed,
            echo=echo,
            hide_parameters=True,
            connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    # A server that goes silent (powered off, a partition without a reset) must fail a write in
    # about a minute, not block the writer for the kernel's ~15-minute retransmission timeout:
    # libpq's connect timeout and TCP keepalives (the URL's own query options still win).
    connect_args = {k: v for k, v in PG_CONNECT_ARGS.items() if k not in parsed.query}
    return create_engine(
        parsed, echo=echo, hide_parameters=True, pool_pre_ping=True, connect_args=connect_args
    )


# what the advisory lock of "the daemon of this database" is named after (hashed with the schema)
_DAEMON_LOCK_NAME = "ccagent daemon "


def daemon_lock(engine: Engine) -> Callable[[], None] | None:
    """Claim the database for one daemon; returns the release, or None if another daemon has it.

    Two daemons on one database both dial every contact (each knows only its own calls in
    flight) and both write every call.  PostgreSQL: a session advisory lock, held by one
    connection for the daemon's life (the server frees it if the process dies).  SQLite: an
    exclusive ``flock`` on ``<file>.lock`` beside the database (freed by the kernel likewise).
    """
    if engine.dialect.name == "postgresql":
        conn = engine.connect()
        try:
            # one per schema: the database may hold several ccagent schemas (search_path)
            key = func.hashtext(_DAEMON_LOCK_NAME + func.current_schema())
            got = conn.execute(select(func.pg_try_advisory_lock(key))).scalar_one()
        except Exception:
            conn.close()
            raise
        if not got:
            conn.close()
            return None

        def release_pg() -> None:  # end the session (back to the pool it would keep the lock)
            with contextlib.suppress(Exception):
                conn.invalidate()
            conn.close()

        return release_pg
    database = engine.url.database or ""
    if not database or database == ":memory:" or database.startswith("file:"):
        return lambda: None
    lock_file = open(Path(database).expanduser().with_name(Path(database).name + ".lock"), "a+b")  # noqa: SIM115
    try:
        fcntl.flock(lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock_file.close()
        return None

    def release() -> None:
        with contextlib.suppress(OSError):
            fcntl.flock(lock_file, fcntl.LOCK_UN)
        lock_file.close()

    return release


def missing_sqlite_file(url: str) -> Path | None:
    """The file of a SQLite URL when it does not exist: a command that only reads (a report) says so
    instead of creating an empty database at a mistyped path."""
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):
        return None  # make_engine says what is wrong with it
    database = parsed.database or ""
    if (
        parsed.get_backend_name() != "sqlite"
        or not database
        or database == ":memory:"
        or database.startswith("file:")
    ):
        return None
    path = Path(database).expanduser()
    return None if path.exists() else path


def alembic_config() -> AlembicConfig:
    """Alembic config pointing at the migrations shipped inside the package (no alembic.ini needed)."""
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    return cfg


def upgrade(url_or_engine: str | Engine, revision: str = "head") -> None:
    """``ccagent db upgrade``: migrate the database to ``revision`` (idempotent)."""
    engine = make_engine(url_or_engine) if isinstance(url_or_engine, str) else url_or_engine
    try:
        with engine.begin() as connection:
            cfg = alembic_config()
            cfg.attributes["connection"] = connection
            command.upgrade(cfg, revision)
    finally:
        if isinstance(url_or_engine, str):
            engine.dispose()


def downgrade(url_or_engine: str | Engine, revision: str) -> None:
    engine = make_engine(url_or_engine) if isinstance(url_or_engine, str) else url_or_engine
    try:
        with engine.begin() as connection:
            cfg = alembic_config()
            cfg.attributes["connection"] = connection
            command.downgrade(cfg, revision)
    finally:
        if isinstance(url_or_engine, str):
            engine.dispose()


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def write_problem(engine: Engine) -> str | None:
    """Why the daemon could not write this database, or None when it can.

    A schema already at head needs no write to start, so a read-only SQLite file (or directory, for
    the WAL files) or a PostgreSQL role without write grants used to surface only at the first
    flush, retried forever behind a satisfied watchdog.  Each table the daemon writes gets an
    INSERT, UPDATE and DELETE that touch no row, in one transaction rolled back: the database
    checks the right (and SQLite takes its write lock) without a row changing.
    """
    from ccagent.storage.models import Base

    try:
        with engine.connect() as conn, conn.begin() as tx:
            try:
                for table in Base.metadata.sorted_tables:
                    name = conn.dialect.identifier_preparer.quote(table.name)
                    col = conn.dialect.identifier_preparer.quote(next(iter(table.columns)).name)
                    conn.execute(text(f"INSERT INTO {name} SELECT * FROM {name} WHERE 1 = 0"))
                    conn.execute(text(f"UPDATE {name} SET {col} = {col} WHERE 1 = 0"))
                    conn.execute(text(f"DELETE FROM {name} WHERE 1 = 0"))
            finally:
                tx.rollback()
    except SQLAlchemyError as exc:
        orig = getattr(exc, "orig", None)
        lines = (str(orig) if orig is not None else str(exc)).strip().splitlines()
        reason = lines[0] if lines else type(exc).__name__
        return reason + _sqlite_file_hint(engine)
    return None


def _sqlite_file_hint(engine: Engine) -> str:
    """Who may write a SQLite file and its directory (the WAL and lock files live beside it)."""
    database = engine.url.database or ""
    if engine.dialect.name != "sqlite" or not database or database == ":memory:":
        return ""
    path = Path(database.removeprefix("file:").split("?", 1)[0]).expanduser()
    try:
        st, dst = path.stat(), path.parent.stat()
    except OSError:
        return ""
    return (
        f" (file {path}: uid {st.st_uid} mode {st.st_mode & 0o7777:04o}, "
        f"directory uid {dst.st_uid} mode {dst.st_mode & 0o7777:04o}; this process runs as uid {os.getuid()})"
    )


# A database that answers but refuses writes: a restart does not mend it, an admin's chown/GRANT does.
_CANNOT_WRITE = (
    "readonly database",
    "read-only transaction",
    "permission denied for table",
    "permission denied for relation",
    "permission denied for schema",
    "permission denied for sequence",
)

# PostgreSQL's answers that no restart changes: wrong credentials, a database or role that is missing
_PERMANENT = ("password authentication failed", "does not exist", "no password supplied", "permission denied")


def explain_error(exc: Exception) -> tuple[int, str, bool] | None:
    """(exit code, one-line reason, transient) for a database failure, None for anything else.

    Every command that opens the store ends this way instead of with a traceback; the daemon also
    tells systemd whether a restart can help (the server is down) or cannot (not a database).
    """
    from alembic.util.exc import CommandError

    if isinstance(exc, CommandError):
        return EX_DATAERR, f"schema: {exc} (written by a newer ccagent?)", False
    if isinstance(exc, ArgumentError):
        return EX_CONFIG, f"URL: {exc}", False
    if not isinstance(exc, SQLAlchemyError):
        return None
    orig = getattr(exc, "orig", None)
    text = (str(orig) if orig is not None else str(exc)).strip().splitlines()
    reason = text[0] if text else type(exc).__name__
    if "no such table" in reason or ("relation" in reason and "does not exist" in reason):
        return EX_DATAERR, f"{reason}: not a ccagent database yet (`ccagent db upgrade` creates it)", False
    if any(x in reason for x in _CANNOT_WRITE):
        return EX_CANTCREAT, f"cannot be written: {reason}", False
    if isinstance(exc, OperationalError):
        if "unable to open database file" in reason:
            return EX_NOINPUT, f"{reason} (a directory, or no permission?)", False
        if any(x in reason for x in _PERMANENT):  # the server answered: a restart cannot mend it
            return EX_CONFIG, f"refused: {reason}", False
        return EX_UNAVAILABLE, f"unreachable: {reason}", True
    if isinstance(exc, DatabaseError):
        return EX_DATAERR, reason, False
    return EX_UNAVAILABLE, reason, True
