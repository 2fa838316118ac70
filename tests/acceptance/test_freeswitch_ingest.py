"""`ccagent ingest --pbx freeswitch` leaves exactly each capture's legs.json in report_call_legs.

SPEC R-PBX-4 (real traces are the oracle), R-PBX-6 (offline ingest, several files = successive
connections), R-LEG-1..4 (the leg model), R-REP-1 (same result on SQLite and PostgreSQL),
R-PBX-5 (re-ingesting writes nothing new; a reconnect's ``show channels`` reconciles).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from ccagent.app.bootstrap import pbx_adapter
from ccagent.app.ingest import ingest_files
from ccagent.config import Config, parse_config
from tests.acceptance.legs_oracle import TRACES, capture_files, expected, folders, mismatches, stored

FREESWITCH = TRACES / "freeswitch"


def lab_config() -> Config:
    # The FreeSWITCH lab's dialer passed the project in dialer_campaign (see commands.log files).
    return parse_config({"legs": {"project_variable": "dialer_campaign"}})


def _journal_rows(url: str) -> int:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(text("SELECT count(*) FROM event_journal")).scalar_one())
    finally:
        engine.dispose()


@pytest.mark.parametrize("folder", folders("freeswitch"))
def test_R_PBX_4_ingest_stores_exactly_the_legs_json_rows(folder: str, db_url: str) -> None:
    path = FREESWITCH / folder
    result = ingest_files(lab_config(), capture_files(path), pbx="freeswitch", db_url=db_url)
    legs, calls = stored(db_url)
    assert mismatches(expected(path), legs, calls) == []
    assert result.open_calls == 0
    assert result.bad_messages == 0


def test_R_PBX_5_ingesting_the_same_capture_twice_adds_nothing(db_url: str) -> None:
    path = FREESWITCH / "12-overlapping-calls"
    ingest_files(lab_config(), capture_files(path), pbx="freeswitch", db_url=db_url)
    first = stored(db_url)
    again = ingest_files(lab_config(), capture_files(path), pbx="freeswitch", db_url=db_url)
    assert stored(db_url) == first
    assert len(first[1]) == 3 and len(first[0]) == 3
    assert again.open_calls == 0


def test_R_PBX_5_the_reconnect_listing_keeps_the_call_alive_across_files(sqlite_url: str) -> None:
    """13-esl-reconnect in one command: the second file's ``show channels`` lists the call, so the
    lost connection ends nothing and the call finishes with its real hangup (not reconciled)."""
    path = FREESWITCH / "13-esl-reconnect"
    files = capture_files(path)
    assert [f.name for f in files] == ["esl.log", "esl.reconnect.log"]
    ingest_files(lab_config(), files, pbx="freeswitch", db_url=sqlite_url)
    legs, calls = stored(sqlite_url)
    assert mismatches(expected(path), legs, calls) == []
    assert [bool(c["reconciled"]) for c in calls.values()] == [False]


def test_R_PBX_6_successive_files_resume_a_call_across_invocations(sqlite_url: str) -> None:
    """esl.log and esl.reconnect.log ingested by two separate commands still make one call (journal)."""
    path = FREESWITCH / "13-esl-reconnect"
    first = ingest_files(lab_config(), [path / "esl.log"], pbx="freeswitch", db_url=sqlite_url)
    assert first.open_calls == 1 and stored(sqlite_url)[0] == []
    assert _journal_rows(sqlite_url) > 0
    ingest_files(lab_config(), [path / "esl.reconnect.log"], pbx="freeswitch", db_url=sqlite_url)
    legs, calls = stored(sqlite_url)
    assert mismatches(expected(path), legs, calls) == []
    assert _journal_rows(sqlite_url) == 0


def test_R_LEG_1_cyrillic_names_are_stored_as_utf8(db_url: str) -> None:
    path = FREESWITCH / "17-cyrillic-caller-name"
    ingest_files(lab_config(), capture_files(path), pbx="freeswitch", db_url=db_url)
    names = [row["caller_name"] for row in sorted(stored(db_url)[0], key=lambda r: r["started_at"])]
    assert names == ["Іван Петренко", "Мария Иванова"]


def test_R_PBX_6_a_capture_of_the_other_pbx_is_refused_with_its_name() -> None:
    ami = capture_files(TRACES / "asterisk" / "01-inbound-direct-answered")[0]
    with pytest.raises(ValueError, match=r"ami\.log.*AMI capture.*--pbx asterisk"):
        pbx_adapter(lab_config(), "freeswitch").read_capture(ami)
    esl = capture_files(FREESWITCH / "01-inbound-answered")[0]
    with pytest.raises(ValueError, match=r"esl\.log.*--pbx freeswitch"):
        pbx_adapter(lab_config(), "asterisk").read_capture(esl)


def test_R_SAFE_1_a_damaged_capture_is_ingested_around_the_damage(tmp_path: Path, sqlite_url: str) -> None:
    """Garbage and a frame whose Content-Length lies sit between two real calls: both calls are kept."""
    a = (FREESWITCH / "01-inbound-answered" / "esl.log").read_bytes()
    b = (FREESWITCH / "02-inbound-missed" / "esl.log").read_bytes()
    junk = (
        b"Content-Type: text/event-plain\nContent-Length: 12\n\nEvent-Name: X\n\n"
        b"\x00\xff garbage line without colon\n\n"
        b'Content-Type: text/event-json\nContent-Length: 9\n\n{"Event-N\n\n'
    )
    capture = tmp_path / "esl.log"
    # the second capture's greeting/auth replies are dropped so the file reads as one connection
    capture.write_bytes(a + junk + b[b.index(b"Content-Length") :])
    result = ingest_files(lab_config(), [capture], pbx="freeswitch", db_url=sqlite_url)
    legs, calls = stored(sqlite_url)
    want = {
        "calls": expected(FREESWITCH / "01-inbound-answered")["calls"]
        + expected(FREESWITCH / "02-inbound-missed")["calls"]
    }
    assert mismatches(want, legs, calls) == []
    assert result.open_calls == 0
