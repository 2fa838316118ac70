"""`ccagent ingest --pbx asterisk` leaves exactly each capture's legs.json in report_call_legs.

SPEC R-PBX-4 (real traces are the oracle), R-PBX-6 (offline ingest, several files = successive
connections), R-LEG-1..4 (the leg model), R-REP-1 (same result on SQLite and PostgreSQL),
R-PBX-5 (re-ingesting writes nothing new).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from ccagent.app.ingest import ingest_files
from ccagent.config import Config, parse_config
from tests.acceptance.legs_oracle import TRACES, capture_files, expected, folders, mismatches, stored

ASTERISK = TRACES / "asterisk"


def lab_config() -> Config:
    # The lab's dialplan passes the project in LAB_PROJECT (see traces/asterisk/README.md).
    return parse_config({"legs": {"project_variable": "LAB_PROJECT"}})


@pytest.mark.parametrize("folder", folders("asterisk"))
def test_R_PBX_4_ingest_stores_exactly_the_legs_json_rows(folder: str, db_url: str) -> None:
    path = ASTERISK / folder
    ingest_files(lab_config(), capture_files(path), pbx="asterisk", db_url=db_url)
    legs, calls = stored(db_url)
    assert mismatches(expected(path), legs, calls) == []


def test_R_PBX_5_ingesting_the_same_capture_twice_adds_nothing(db_url: str) -> None:
    path = ASTERISK / "15-concurrent-calls"
    ingest_files(lab_config(), capture_files(path), pbx="asterisk", db_url=db_url)
    first = stored(db_url)
    ingest_files(lab_config(), capture_files(path), pbx="asterisk", db_url=db_url)
    assert stored(db_url) == first
    assert len(first[0]) == 3


def test_R_PBX_6_successive_files_resume_a_call_across_invocations(sqlite_url: str) -> None:
    """ami.log and ami.2.log ingested by two separate commands still make one call (journal)."""
    path = ASTERISK / "16-ami-reconnect"
    first = ingest_files(lab_config(), [path / "ami.log"], pbx="asterisk", db_url=sqlite_url)
    assert first.open_calls == 1 and stored(sqlite_url)[0] == []
    ingest_files(lab_config(), [path / "ami.2.log"], pbx="asterisk", db_url=sqlite_url)
    legs, calls = stored(sqlite_url)
    assert mismatches(expected(path), legs, calls) == []
    engine = create_engine(sqlite_url)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM event_journal")).scalar_one() == 0
    engine.dispose()


def test_R_PBX_6_a_call_spanning_three_files_ingested_one_by_one(db_url: str, tmp_path: Path) -> None:
    """The middle run must journal what it added to the call it resumed, or the third run loses it."""
    path = ASTERISK / "05-blind-transfer"
    head, _, body = (path / "ami.log").read_text(encoding="utf-8").partition("\n\n")  # banner + login
    messages = body.rstrip("\n").split("\n\n")
    cuts = (0, len(messages) // 3, 2 * len(messages) // 3, len(messages))
    parts = []
    for n in range(3):
        part = tmp_path / f"ami.{n}.log"
        part.write_text(
            head + "\n\n" + "\n\n".join(messages[cuts[n] : cuts[n + 1]]) + "\n\n", encoding="utf-8"
        )
        parts.append(part)
    runs = [ingest_files(lab_config(), [part], pbx="asterisk", db_url=db_url) for part in parts]
    assert [r.open_calls for r in runs] == [1, 1, 0]  # the call is open at both cuts
    legs, calls = stored(db_url)
    assert mismatches(expected(path), legs, calls) == []


def test_R_SAFE_2_an_ingest_beside_a_running_daemon_leaves_its_calls_alone(db_url: str) -> None:
    """Back-filling a gap while the daemon runs: the capture's channel listing must not close,
    store or un-journal a call the daemon still has in progress."""
    from ccagent.app.bootstrap import build
    from ccagent.pbx.ami.capture import iter_ami_capture

    daemon = build(lab_config(), pbx="asterisk", db_url=db_url)
    live = list(iter_ami_capture(ASTERISK / "01-inbound-direct-answered" / "ami.log"))
    for msg in live[: len(live) // 2]:
        daemon.pipeline.feed(msg)
    daemon.pipeline.flush()  # the call in progress is journaled
    (call_id,) = daemon.pipeline.tracker.open_call_ids()
    journaled = daemon.pipeline.journal.count()
    ingest_files(lab_config(), [ASTERISK / "16-ami-reconnect" / "ami.2.log"], pbx="asterisk", db_url=db_url)
    assert daemon.pipeline.journal.count() == journaled
    assert daemon.pipeline.store.stored_among([call_id]) == set()
    for msg in live[len(live) // 2 :]:  # and the daemon finishes it as if nothing happened
        daemon.pipeline.feed(msg)
    daemon.pipeline.flush()
    daemon.engine.dispose()
    legs, calls = stored(db_url)
    one_call = [row for row in legs if row["call_id"] == call_id]
    assert mismatches(expected(ASTERISK / "01-inbound-direct-answered"), one_call, calls) == []


def test_R_LEG_1_cyrillic_names_are_stored_as_utf8(sqlite_url: str) -> None:
    path = ASTERISK / "23-cyrillic-caller-name"
    ingest_files(lab_config(), capture_files(path), pbx="asterisk", db_url=sqlite_url)
    names = [row["caller_name"] for row in stored(sqlite_url)[0]]
    assert names == ["Іван Петренко", "Мария Иванова"]


def test_R_PRJ_5_queue_login_pause_logout_land_in_report_agent_states(db_url: str) -> None:
    """27: QueueMemberAdded / QueueMemberPause / QueueMemberRemoved -> report_agent_states, in order."""
    import json
    from datetime import UTC, datetime

    path = ASTERISK / "27-queue-agent-login-pause"
    want = json.loads((path / "expected.json").read_text(encoding="utf-8"))["agent_events"]
    ingest_files(lab_config(), capture_files(path), pbx="asterisk", db_url=db_url)
    ingest_files(lab_config(), capture_files(path), pbx="asterisk", db_url=db_url)  # idempotent
    engine = create_engine(db_url)
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT extension, action, queue, reason, at FROM report_agent_states ORDER BY at")
        ).all()
    engine.dispose()
    got = []
    for ext, action, queue, reason, at in rows:
        if isinstance(at, str):
            at = datetime.fromisoformat(at)
        at = at if at.tzinfo else at.replace(tzinfo=UTC)
        stamp = at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z"
        got.append({"extension": ext, "action": action, "queue": queue, "reason": reason, "time": stamp})
    assert got == want
