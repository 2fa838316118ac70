"""Shared fixtures: a fresh database per test on SQLite and on a real PostgreSQL (R-REP-1).

``db_url`` is parametrized ``sqlite`` / ``postgres``.  PostgreSQL comes from
``CCAGENT_TEST_PG_URL`` (default: the role/database ``.ci/pg-setup.sh``
creates); each test gets its own schema (selected with ``search_path`` in
the URL), dropped afterwards.  An unreachable server FAILS the postgres
variant when ``CI`` is set, and skips it with the reason otherwise.
"""

from __future__ import annotations

import json
import logging
import os
import re
import uuid
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

DEFAULT_PG_URL = "postgresql+psycopg://ccagent:ccagent@127.0.0.1:5432/ccagent_test"


def pg_base_url() -> str:
    return os.environ.get("CCAGENT_TEST_PG_URL", DEFAULT_PG_URL)


@cache
def _pg_unreachable_reason() -> str | None:
    url = pg_base_url()
    engine = create_engine(url, connect_args={"connect_timeout": 3})
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:  # any failure means "no server for this run"
        shown = make_url(url).render_as_string(hide_password=True)
        return f"PostgreSQL not reachable at {shown} ({exc.__class__.__name__}); run .ci/pg-setup.sh"
    finally:
        engine.dispose()
    return None


def _require_pg() -> None:
    reason = _pg_unreachable_reason()
    if reason is None:
        return
    if os.environ.get("CI"):
        pytest.fail(f"CI is set and {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A URL whose connections use a fresh, private schema on the test PostgreSQL server."""
    _require_pg()
    schema = f"t_{uuid.uuid4().hex[:16]}"
    admin = create_engine(pg_base_url())
    try:
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        url = make_url(pg_base_url()).update_query_dict({"options": f"-csearch_path={schema}"})
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'ccagent.db'}"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest) -> str:
    if request.param == "sqlite":
        return str(request.getfixturevalue("sqlite_url"))
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
def migrated_engine(db_url: str) -> Iterator[Engine]:
    """An engine on a database upgraded to the head revision."""
    from ccagent.storage.db import make_engine, upgrade

    engine = make_engine(db_url)
    upgrade(engine)
    try:
        yield engine
    finally:
        engine.dispose()


# --- every test: the config discovery of a clean machine (R-OPS-2) -------------------------------


@pytest.fixture(autouse=True)
def _no_system_config(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """A CLI test must not read the test machine's /etc/ccagent/ccagent.yaml (an install test may
    have written one) nor a CCAGENT_CONFIG of the developer's shell: both point to nothing here."""
    import ccagent.config

    monkeypatch.setattr(ccagent.config, "SYSTEM_CONFIG", tmp_path_factory.getbasetemp() / "no-etc.yaml")
    monkeypatch.delenv("CCAGENT_CONFIG", raising=False)


# --- the whole suite: no customer number in a log record at INFO or above (R-SAFE-3) --------------

#: A phone number as the captures and the tests write them (0601020304, +380501234567): 7 to 15
#: digits that are not part of an id (a Linkedid 1795546326.12, a UUID, a hex attempt id).
PHONE = re.compile(r"(?<![\w.-])\+?\d{7,15}(?![\w.-])")


@cache
def _capture_numbers() -> re.Pattern[str]:
    """Every customer number of the real captures' legs.json, wherever it stands in a record (inside
    a FreeSWITCH channel name ``sofia/external/0601020304@...`` too)."""
    found: set[str] = set()
    for legs in Path(__file__).parent.glob("traces/*/*/legs.json"):
        for call in json.loads(legs.read_text(encoding="utf-8"))["calls"]:
            for leg in call["legs"]:
                for key in ("caller", "callee"):
                    value = leg.get(key) or ""
                    if len(re.sub(r"\D", "", value)) >= 7:
                        found.add(value)
    return re.compile("|".join(sorted(map(re.escape, found), key=len, reverse=True)) or "(?!)")


class _CustomerLeakCatcher(logging.Handler):
    """Reads each record at INFO and above as the journal would get it (customer values wrapped
    with ``ccagent.log.customer`` masked, the traceback folded in) and keeps those that show a
    phone number.  Installed once on the root logger; ``ccagent.log.setup_logging`` leaves it."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.leaks: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        from ccagent.log import message_for

        try:
            text = f"{record.name}: {message_for(record)}"
        except Exception:  # a broken record is the logging module's to report
            return
        if record.exc_info and record.exc_info[1] is not None:
            text += f" | {record.exc_info[0].__name__ if record.exc_info[0] else ''}: {record.exc_info[1]}"
        if PHONE.search(text) or _capture_numbers().search(text):
            self.leaks.append(f"{record.levelname} {text[:300]}")


_LEAKS = _CustomerLeakCatcher()


@pytest.fixture(autouse=True)
def _no_customer_number_at_info() -> Iterator[None]:
    """Fails the test during which an INFO+ record carried a phone number.  The root logger is
    lowered to INFO for the test (left alone when a test already asked for more), so INFO records
    are made and read even where nothing configured logging."""
    from ccagent.log import _Handler

    root = logging.getLogger()
    if _LEAKS not in root.handlers:
        root.addHandler(_LEAKS)
    level, before = root.level, set(root.handlers)
    if level > logging.INFO:
        root.setLevel(logging.INFO)
    _LEAKS.leaks.clear()
    yield
    root.setLevel(level)
    for handler in set(root.handlers) - before:  # a CLI test's stderr handler: that stderr is closed now
        if isinstance(handler, _Handler):
            root.removeHandler(handler)
    leaks, _LEAKS.leaks[:] = list(_LEAKS.leaks), []
    if leaks:
        pytest.fail(
            f"{len(leaks)} log record(s) at INFO or above show a customer number "
            f"(log it at DEBUG or wrap it in ccagent.log.customer()):\n" + "\n".join(leaks[:5]),
            pytrace=False,
        )
