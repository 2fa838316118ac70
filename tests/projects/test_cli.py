"""``ccagent project ...`` end to end on a SQLite file (R-PRJ-2, R-PRJ-3, R-PRJ-5, R-PRJ-7, R-OPS-1)."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine

from ccagent.cli import main
from ccagent.core.pbx_events import AgentStatus
from ccagent.storage.repositories import CallStore


def test_R_PRJ_7_cli_create_import_start_list_complete(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = ["--db", f"sqlite:///{tmp_path / 'x.db'}"]
    csv_file = tmp_path / "c.csv"
    csv_file.write_bytes("Телефон;ФИО\n050 123 45 67;Іван\nbad;X\n".encode("cp1251"))
    assert (
        main(["project", "create", "spring", "Весна", "--queue", "sales", "--set", "max_attempts=2", *db])
        == 0
    )
    assert main(["project", "import", "spring", str(csv_file), "-q", *db]) == 0
    out = capsys.readouterr()
    assert "1 new contacts" in out.out and "line 3: not a phone number" in out.err
    assert main(["project", "start", "spring", *db]) == 0
    capsys.readouterr()
    assert main(["project", "list", "--format", "json", *db]) == 0
    [row] = json.loads(capsys.readouterr().out)
    assert (row["project_id"], row["status"], row["contacts"], row["not_called"]) == (
        "spring",
        "running",
        1,
        1,
    )
    started = time.time()
    CallStore(create_engine(db[1])).save_agent_statuses(
        [AgentStatus(ts=started - 60, extension="101", queue="sales", action="login")], pbx="asterisk"
    )
    assert main(["project", "show", "spring", *db]) == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if "agent 101" in x)
    waited = re.search(r"\[ready\]: 0 calls, talk 0 s, waiting (\d+) s", line)
    assert waited is not None, line  # ready since before the start: waiting counts from the start
    assert 0 <= int(waited.group(1)) <= time.time() - started + 1
    assert main(["project", "complete", "spring", *db]) == 0
    assert main(["project", "start", "spring", *db]) == 65
    assert "completed" in capsys.readouterr().err
    assert main(["project", "import", "spring", str(csv_file), *db]) == 65  # no upload to a completed project
    assert main(["project", "show", "nope", *db]) == 66
    assert main(["project", "create", "x", "X", "--set", "colour=red", *db]) == 65
    assert "settings.colour" in capsys.readouterr().err


def test_R_PRJ_7_cli_import_where_every_row_is_bad_fails(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A file whose every row is refused must not exit 0: an upload script would call it done."""
    db = ["--db", f"sqlite:///{tmp_path / 'x.db'}"]
    bad = tmp_path / "bad.csv"
    bad.write_text("phone;name\n12;A\nabc;B\n", encoding="utf-8")
    assert main(["project", "create", "p", "P", "--queue", "sales", *db]) == 0
    assert main(["project", "import", "p", str(bad), "-q", *db]) == 65
    err = capsys.readouterr().err
    assert "line 2:" in err and "line 3:" in err and "every row is bad, nothing was imported" in err
    mixed = tmp_path / "mixed.csv"
    mixed.write_text("phone;name\n12;A\n0501234567;B\n", encoding="utf-8")
    assert main(["project", "import", "p", str(mixed), "-q", *db]) == 0
    assert "1 new contacts" in capsys.readouterr().out
