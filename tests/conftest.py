"""Shared fixtures: a fresh database per test on SQLite and on a real PostgreSQL (R-REP-1).

``db_url`` is parametrized ``sqlite`` / ``postgres``.  PostgreSQL comes from
``CCAGENT_TEST_PG_URL`` (default: the role/database ``.ci/pg-setup.sh``
creates); each test gets its own schema (selected with ``search_path`` in
the URL), dropped afterwards.  An unreachable server FAILS the postgres
variant when ``CI`` is set, and skips it with the reason otherwise.
"""

from __future__ import annotations

import os
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
