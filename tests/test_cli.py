"""The `ccagent` command line (SPEC R-OPS-1, R-OPS-2, R-REP-3, R-PBX-6)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect, text

from ccagent.cli import main
from tests.conftest import pg_base_url

TRACES = Path(__file__).resolve().parent / "traces" / "asterisk"


def test_R_PBX_6_ingest_then_report_calls_and_legs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = f"sqlite:///{tmp_path / 'cli.db'}"
    folder = TRACES / "05-blind-transfer"
    assert (
        main(
            [
                "ingest",
                "--pbx",
                "asterisk",
                "--db",
                db,
                "--project-variable",
                "LAB_PROJECT",
                str(folder / "ami.log"),
            ]
        )
        == 0
    )
    assert "1 calls written" in capsys.readouterr().out

    assert main(["report", "calls", "--db", db, "--format", "json"]) == 0
    calls = json.loads(capsys.readouterr().out)
    assert [c["call_id"] for c in calls] == ["1795546369.12"] and calls[0]["legs_count"] == 2

    assert main(["report", "legs", "--db", db, "--format", "csv", "--extension", "102"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    got = [(r["extension"], r["transfer_kind"], r["transfer_from_leg"]) for r in rows]
    assert got == [("102", "blind", "0")]

    assert main(["report", "legs", "--db", db, "--to", "2026-11-24T18:52:00Z"]) == 0
    assert "(0 rows)" in capsys.readouterr().out


def test_R_OPS_2_check_config_reports_every_error_with_its_path(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "pbx:\n  asterisk:\n    port: 70000\n    secret: 12345\ndatabase:\n  urll: x\n", encoding="utf-8"
    )
    assert main(["check-config", str(bad)]) == 78
    err = capsys.readouterr().err
    assert "pbx.asterisk.port" in err and "pbx.asterisk.secret" in err and "database.urll" in err
    assert "12345" not in err


def test_R_PBX_6_ingest_of_a_missing_or_foreign_file_is_a_data_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = f"sqlite:///{tmp_path / 'x.db'}"
    assert main(["ingest", "--pbx", "asterisk", "--db", db, str(tmp_path / "nope.log")]) == 66
    assert main(["ingest", "--pbx", "asterisk", "--db", db, str(tmp_path)]) == 66
    assert "a directory, not a capture file" in capsys.readouterr().err
    junk = tmp_path / "junk.log"
    junk.write_bytes(b"\x00\x01\x02 not a capture")
    assert main(["ingest", "--pbx", "asterisk", "--db", db, str(junk)]) == 65
    assert "junk.log" in capsys.readouterr().err
    # a good capture followed by a bad file: refused before anything is written
    good = TRACES / "15-concurrent-calls" / "ami.log"
    assert main(["ingest", "--pbx", "asterisk", "--db", db, str(good), str(junk)]) == 65
    engine = create_engine(db)
    with engine.connect() as conn:
        written = (
            "calls" in inspect(conn).get_table_names() and conn.execute(text("SELECT 1 FROM calls")).first()
        )
    engine.dispose()
    assert not written
    for bad in ("bad var!", ""):
        assert main(["ingest", "--pbx", "asterisk", "--db", db, "--project-variable", bad, str(good)]) == 65
        assert "--project-variable: String should match pattern" in capsys.readouterr().err


def test_R_OPS_1_db_upgrade(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = f"sqlite:///{tmp_path / 'up.db'}"
    assert main(["db", "upgrade", "--db", db]) == 0
    assert "latest schema" in capsys.readouterr().out


def test_R_SAFE_2_run_with_the_database_down_exits_69_naming_it_without_the_password(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = tmp_path / "pgdown.yaml"
    cfg.write_text(
        'database:\n  url: "postgresql+psycopg://ccagent:Sekr3tPw@127.0.0.1:1/nope"\n', encoding="utf-8"
    )
    assert main(["run", "-c", str(cfg)]) == 69
    err = capsys.readouterr().err
    assert "unreachable" in err and "127.0.0.1:1/nope" in err
    assert "Sekr3tPw" not in err


@pytest.mark.parametrize(
    ("store", "code", "says"),
    [
        ("fresh.db", 66, "no database at"),
        ("other.db", 65, "not a ccagent database yet (`ccagent db upgrade` creates it)"),
        ("notes.txt", 65, "file is not a database"),
        ("adir", 66, "unable to open database file"),
        ("mysql://u:Sekr3tPw@h/db", 78, "ccagent stores in sqlite:// or postgresql:// only"),
        ("not a url", 78, "URL: Could not parse"),
        ("postgresql+psycopg://u:Sekr3tPw@127.0.0.1:1/db", 69, "unreachable"),
        ("postgresql://u:Sekr3tPw@h:abc/db", 78, "not a valid database URL"),
        (f"{pg_base_url().rsplit('/', 1)[0]}/no_such_database_here", 78, "refused: "),
    ],
)
def test_R_OPS_1_a_database_that_is_not_one_gives_one_line_and_an_exit_code(
    store: str, code: int, says: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "notes.txt").write_text("keep me", "utf-8")
    (tmp_path / "adir").mkdir()
    other = create_engine(f"sqlite:///{tmp_path / 'other.db'}")  # some other application's database
    with other.begin() as conn:
        conn.execute(text("CREATE TABLE inventory (id INTEGER)"))
    other.dispose()
    url = store if ":" in store or " " in store else f"sqlite:///{tmp_path / store}"
    commands = [["report", "calls"], ["agent", "list"]]
    if store not in ("fresh.db", "other.db"):  # project commands create the schema themselves
        commands.append(["project", "list"])
    else:  # a read-only command never creates a database at a mistyped path
        commands.append(["report", "legs"])
    for argv in commands:
        assert main([*argv, "--db", url]) == code, argv
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and says in err and "Traceback" not in err, err
        assert "Sekr3tPw" not in err
    assert (tmp_path / "notes.txt").read_text("utf-8") == "keep me"
    assert not (tmp_path / "fresh.db").exists()


def test_R_SAFE_1_run_on_a_file_that_is_not_a_database_exits_78_so_systemd_stops_restarting(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "notes.txt").write_text("keep me", "utf-8")
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f'database:\n  url: "sqlite:///{tmp_path / "notes.txt"}"\n', encoding="utf-8")
    assert main(["run", "-c", str(cfg)]) == 78
    assert "file is not a database" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv",
    [
        ["--log-level", "bogus", "report", "calls"],
        ["report", "nonsense"],
        ["report", "calls", "--format", "xml"],
        ["project", "create", "x", "X", "--type", "bogus"],
        ["demo", "--calls", "0"],
        ["demo", "--seconds", "nan"],
    ],
)
def test_R_OPS_1_a_usage_error_exits_64_with_the_reason(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 64
    err = capsys.readouterr().err
    assert "error: argument" in err and "Traceback" not in err


def test_R_REP_2_report_refuses_a_period_that_ends_before_it_starts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = f"sqlite:///{tmp_path / 'r.db'}"
    assert main(["db", "upgrade", "--db", db]) == 0
    assert main(["report", "calls", "--db", db, "--from", "2030-01-01", "--to", "2020-01-01"]) == 65
    assert "--to: '2020-01-01' is before --from '2030-01-01'" in capsys.readouterr().err
