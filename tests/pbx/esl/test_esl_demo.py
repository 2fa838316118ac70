"""`ccagent demo --pbx freeswitch`: a busy hour through the real daemon, then the report (R-OPS-6)."""

from __future__ import annotations

import io
from pathlib import Path

from sqlalchemy import create_engine, text

from ccagent.app.demo import run_demo
from ccagent.pbx.esl.adapter import demo_stream


def test_R_OPS_6_freeswitch_demo_stores_every_call_and_prints_the_report(tmp_path: Path) -> None:
    out = io.StringIO()
    db = tmp_path / "demo.db"
    assert run_demo(pbx="freeswitch", db_path=str(db), calls=30, seconds=1.0, seed=3, out=out) == 0
    _events, expected = demo_stream(30, seed=3)
    engine = create_engine(f"sqlite:///{db}")
    with engine.connect() as conn:
        stored = conn.execute(text("SELECT count(*) FROM report_calls")).scalar_one()
        employees = {r[0] for r in conn.execute(text("SELECT DISTINCT employee FROM report_call_legs"))}
    engine.dispose()
    assert stored == len(expected)
    assert "Мария Сидорова" in employees and "Ivan Petrov" in employees
    shown = out.getvalue()
    assert "Simulated FreeSWITCH (Event Socket)" in shown
    assert "Results of all calls" in shown and f"{stored} calls (" in shown
    assert "Іван Петренко" in shown  # the Cyrillic caller name reaches the printed report
