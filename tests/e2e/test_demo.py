"""`ccagent demo` runs the whole pipeline on the embedded default (SPEC R-OPS-6)."""

from __future__ import annotations

import io
from pathlib import Path

from sqlalchemy import create_engine, text

from ccagent.app.demo import run_demo


def test_R_OPS_6_demo_plays_a_busy_hour_and_prints_the_results(tmp_path: Path) -> None:
    out = io.StringIO()
    db = tmp_path / "demo.db"
    assert run_demo(db_path=str(db), calls=50, seconds=3.0, seed=2, out=out) == 0
    printed = out.getvalue()
    assert "Results of all calls" in printed
    assert f"Database: {db.resolve()}" in printed
    engine = create_engine(f"sqlite:///{db}")
    with engine.connect() as conn:
        calls = conn.execute(text("SELECT count(*) FROM report_calls")).scalar_one()
        dispositions = {r[0] for r in conn.execute(text("SELECT DISTINCT disposition FROM report_call_legs"))}
        kinds = {r[0] for r in conn.execute(text("SELECT DISTINCT transfer_kind FROM report_call_legs"))}
        employees = {r[0] for r in conn.execute(text("SELECT DISTINCT employee FROM report_call_legs"))}
        open_journal = conn.execute(text("SELECT count(*) FROM event_journal")).scalar_one()
    engine.dispose()
    assert calls >= 50  # some templates hold two calls
    assert {"answered", "missed", "abandoned"} <= dispositions
    assert {"blind", "attended"} <= kinds
    assert "Олена Коваль" in employees  # the demo maps extension 101 (R-MAP-1)
    assert open_journal == 0, "every call of the busy hour finished"
    assert "(" in printed and "rows)" in printed


def test_R_SAFE_3_demo_never_replaces_a_file_it_did_not_make(tmp_path: Path) -> None:
    precious = tmp_path / "ccagent.db"  # a mistyped --db-path: the production database
    engine = create_engine(f"sqlite:///{precious}")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE contacts (id INTEGER)"))
        conn.execute(text("INSERT INTO contacts VALUES (1)"))
    engine.dispose()
    notes = tmp_path / "notes.txt"
    notes.write_text("keep me", "utf-8")
    for path in (precious, notes, tmp_path):
        assert run_demo(db_path=str(path), calls=2, seconds=0.5, out=io.StringIO()) == 73
    assert notes.read_text("utf-8") == "keep me"
    engine = create_engine(f"sqlite:///{precious}")
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM contacts")).scalar_one() == 1
    engine.dispose()
    # its own database from an earlier run is replaced, as the quick start expects
    own = tmp_path / "demo.db"
    assert run_demo(db_path=str(own), calls=3, seconds=0.5, out=io.StringIO()) == 0
    assert run_demo(db_path=str(own), calls=3, seconds=0.5, out=io.StringIO()) == 0
