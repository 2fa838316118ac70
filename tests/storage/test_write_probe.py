"""The start-up write probe: a database that reads but refuses writes is named, not retried (issue 13).

Real refusals, not mocks: SQLite opened read-only (``mode=ro``: the tests run as root, whom file
modes do not stop) and a PostgreSQL session whose transactions are read-only.
"""

from __future__ import annotations

from os import EX_CANTCREAT
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from ccagent.storage import db


def read_only(url: str) -> str:
    """The same database, refusing every write."""
    u = make_url(url)
    if u.get_backend_name() == "sqlite":
        return f"sqlite:///file:{u.database}?mode=ro&uri=true"
    options = str(u.query.get("options", ""))
    return u.update_query_dict(
        {"options": f"{options} -cdefault_transaction_read_only=on".strip()}
    ).render_as_string(hide_password=False)


def test_a_writable_database_passes_and_the_probe_changes_nothing(db_url: str) -> None:
    engine = db.make_engine(db_url)
    try:
        db.upgrade(engine)
        with engine.begin() as conn:
            conn.execute(
                text("INSERT INTO settings (key, value, updated_at) VALUES ('k', '1', CURRENT_TIMESTAMP)")
            )
        assert db.write_problem(engine) is None
        with engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM settings")).scalar_one() == 1
    finally:
        engine.dispose()


def test_a_read_only_database_is_named_with_its_cause(db_url: str) -> None:
    db.upgrade(db_url)
    engine = db.make_engine(read_only(db_url))
    try:
        problem = db.write_problem(engine)
    finally:
        engine.dispose()
    assert problem is not None
    assert "readonly database" in problem or "read-only transaction" in problem
    assert "\n" not in problem and "[SQL" not in problem


def test_a_read_only_sqlite_file_says_who_may_write_it(sqlite_url: str) -> None:
    db.upgrade(sqlite_url)
    engine = db.make_engine(read_only(sqlite_url))
    try:
        problem = db.write_problem(engine)
    finally:
        engine.dispose()
    path = Path(make_url(sqlite_url).database or "")
    assert problem is not None and str(path) in problem and "mode 0" in problem and "uid" in problem


@pytest.mark.parametrize(
    "message",
    [
        "attempt to write a readonly database",
        "cannot execute UPDATE in a read-only transaction",
        "permission denied for table calls",
    ],
)
def test_a_refused_write_exits_73_and_is_not_retried_by_systemd(message: str) -> None:
    from sqlalchemy.exc import OperationalError

    explained = db.explain_error(
        OperationalError("UPDATE calls", {"caller": "+380501234567"}, Exception(message))
    )
    assert explained is not None
    code, reason, transient = explained
    assert (code, transient) == (EX_CANTCREAT, False)
    assert message in reason and "+380" not in reason
