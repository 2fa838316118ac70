"""``ccagent files``: the unit, config examples and dialplan travel in the wheel (issue 13 item 7)."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from ccagent.app.files import shipped
from ccagent.cli import main

REPO = Path(__file__).resolve().parents[2]


def test_the_shipped_files_are_the_repositorys_unit_config_examples_and_dialplan() -> None:
    files = shipped()
    on_disk = sorted(
        str(p.relative_to(REPO))
        for d in ("systemd", "config", "dialplan")
        for p in (REPO / d).rglob("*")
        if p.is_file()
    )
    assert sorted(files) == on_disk
    assert files["systemd/ccagent.service"] == (REPO / "systemd/ccagent.service").read_bytes()


def test_write_creates_the_tree_then_leaves_identical_files_alone(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["files", "write", str(tmp_path)]) == 0
    unit = tmp_path / "systemd/ccagent.service"
    assert unit.read_bytes() == shipped()["systemd/ccagent.service"]
    assert stat.S_IMODE(unit.stat().st_mode) == 0o644
    assert stat.S_IMODE((tmp_path / "dialplan/asterisk").stat().st_mode) == 0o755
    capsys.readouterr()
    mtime = unit.stat().st_mtime_ns
    assert main(["files", "write", str(tmp_path)]) == 0
    assert capsys.readouterr().out == ""  # nothing written
    assert unit.stat().st_mtime_ns == mtime


def test_write_keeps_an_edited_copy_unless_forced(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "config/ccagent.example.yaml"
    config.parent.mkdir()
    config.write_text("edited\n")
    assert main(["files", "write", str(tmp_path), "--only", "config"]) == 73
    assert config.read_text() == "edited\n"
    assert "kept" in capsys.readouterr().err
    assert not (tmp_path / "systemd").exists()  # --only config
    assert main(["files", "write", str(tmp_path), "--only", "config", "--force"]) == 0
    assert config.read_bytes() == shipped()["config/ccagent.example.yaml"]


def test_show_prints_one_file_and_refuses_an_unknown_name(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["files", "show", "dialplan/asterisk/manager_ccagent.conf"]) == 0
    assert capsys.readouterr().out == shipped()["dialplan/asterisk/manager_ccagent.conf"].decode()
    assert main(["files", "show", "etc/passwd"]) == 64
    assert main(["files", "write", "/nonexistent-dir", "--only", "nope"]) == 64
