"""Logs for journald, secrets masked where used, one config for every command (issue 13 item 6)."""

from __future__ import annotations

import importlib.metadata
import io
import logging
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import ccagent.config
from ccagent.cli import main
from ccagent.config import ConfigError, find_config, load_config, parse_config, redact_url
from ccagent.log import CUSTOMER_MASK, customer, setup_logging, stderr_is_journal

NO_ENV: dict[str, str] = {}


@pytest.fixture
def restore_root() -> Iterator[None]:
    """setup_logging changes the root logger: put it back so later tests see what they expect."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def _log_all(stream: io.StringIO, **kwargs: object) -> list[str]:
    setup_logging("DEBUG", stream=stream, **kwargs)  # type: ignore[arg-type]
    log = logging.getLogger("ccagent.app.dialer")
    log.debug("d")
    log.info("i")
    log.warning("w")
    log.error("e")
    log.critical("c")
    return stream.getvalue().splitlines()


def test_R_OPS_5_journal_lines_carry_the_sd_daemon_priority(restore_root: None) -> None:
    lines = _log_all(io.StringIO(), log_format="journal")
    assert [line[:3] for line in lines] == ["<7>", "<6>", "<4>", "<3>", "<2>"]
    assert lines[3] == "<3>ERROR ccagent.app.dialer: e"  # journald stamps the time itself


def test_R_OPS_5_plain_lines_have_a_time_and_no_prefix(restore_root: None) -> None:
    lines = _log_all(io.StringIO(), log_format="plain")
    assert len(lines) == 5
    assert all(not line.startswith("<") and " ccagent.app.dialer: " in line for line in lines)
    assert lines[3][:4].isdigit() and lines[3].endswith("ERROR ccagent.app.dialer: e")


def test_R_OPS_5_auto_prefixes_only_when_stderr_is_the_journal_stream(
    restore_root: None, tmp_path: Path
) -> None:
    with open(tmp_path / "journal", "w+") as stream, open(tmp_path / "other", "w+") as other:
        st = os.fstat(stream.fileno())
        env = {"JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino}"}
        assert stderr_is_journal(env, stream)
        assert not stderr_is_journal(env, other)  # inherited by a child whose stderr is elsewhere
        assert not stderr_is_journal({}, stream)
        assert not stderr_is_journal({"JOURNAL_STREAM": "garbage"}, stream)
        setup_logging("INFO", stream=stream, environ=env)
        logging.getLogger("ccagent.x").error("boom")
        setup_logging("INFO", stream=other, environ=env)
        logging.getLogger("ccagent.x").error("boom")
        stream.seek(0)
        other.seek(0)
        assert stream.read() == "<3>ERROR ccagent.x: boom\n"
        assert not other.read().startswith("<")


def test_R_OPS_5_a_traceback_and_a_multi_line_message_stay_one_line(restore_root: None) -> None:
    stream = io.StringIO()
    setup_logging("INFO", log_format="journal", stream=stream)
    log = logging.getLogger("ccagent.app.daemon")
    try:
        raise RuntimeError("attempt to write a readonly database\n[SQL: INSERT INTO calls ...]")
    except RuntimeError:
        log.exception("database write failed")
    log.warning("PBX said:\r\nline two\x00")
    lines = stream.getvalue().split("\n")
    assert lines[-1] == "" and len(lines) == 3, lines  # two records, two lines
    first, second = lines[:2]
    assert first.startswith("<3>ERROR ccagent.app.daemon: database write failed | Traceback")
    assert "RuntimeError: attempt to write a readonly database\\n[SQL: INSERT" in first
    assert second == "<4>WARNING ccagent.app.daemon: PBX said:\\r\\nline two\\x00"


def test_R_SAFE_3_customer_values_show_at_debug_and_are_masked_above(restore_root: None) -> None:
    stream = io.StringIO()
    setup_logging("DEBUG", log_format="journal", stream=stream)
    log = logging.getLogger("ccagent.app.dialer")
    log.debug("attempt a1 dials %s (%s)", customer("0601020304"), customer("Іван"))
    log.info("attempt a1 dials %s (%s)", customer("0601020304"), customer("Іван"))
    log.info("attempt %(id)s dials %(n)s", {"id": "a1", "n": customer("0601020304")})
    debug, info, mapped = stream.getvalue().splitlines()
    assert debug.endswith("attempt a1 dials 0601020304 (Іван)")
    assert info.endswith(f"attempt a1 dials {CUSTOMER_MASK} ({CUSTOMER_MASK})")
    assert mapped.endswith(f"attempt a1 dials {CUSTOMER_MASK}")
    stream = io.StringIO()
    setup_logging("INFO", log_format="journal", stream=stream, customer_data=True)  # the config asks
    log.info("attempt a1 dials %s", customer("0601020304"))
    assert stream.getvalue().endswith("attempt a1 dials 0601020304\n")


def test_R_SAFE_3_the_suite_wide_scan_catches_a_number_and_passes_a_masked_one() -> None:
    from tests.conftest import _CustomerLeakCatcher

    catcher = _CustomerLeakCatcher()

    def record(level: int, msg: str, *args: object) -> logging.LogRecord:
        return logging.LogRecord("ccagent.x", level, __file__, 1, msg, args, None)

    catcher.handle(record(logging.INFO, "dialing %s", "+380501234567"))
    catcher.handle(record(logging.WARNING, "channel sofia/external/0601020304@10.0.0.1 lost"))
    assert len(catcher.leaks) == 2
    catcher.leaks.clear()
    catcher.handle(record(logging.INFO, "dialing %s", customer("+380501234567")))
    catcher.handle(record(logging.INFO, "call 1795546326.12 attempt 4f2c1d0e-5223-8607-aaaa-0123456789ab"))
    assert catcher.leaks == []
    assert catcher.level == logging.INFO  # DEBUG records may carry numbers


# --- secrets are masked where they are used -------------------------------------------------------


def test_R_SAFE_3_a_short_or_numeric_secret_no_longer_hides_names_or_numbers(
    restore_root: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The old redactor replaced any registered secret's text in every line: a database password
    ``ccagent`` turned ``ccagent.app.dialer`` into ``********.app.dialer``, and a numeric AMI secret
    hid the same digits in a phone number.  Each use site masks its own secret now."""
    cfg = tmp_path / "ccagent.yaml"
    db_url = f"postgresql+psycopg://ccagent:ccagent@127.0.0.1:5432/ccagent?host={tmp_path}"
    cfg.write_text(
        "pbx:\n  asterisk:\n    secret: '0601020304'\n  freeswitch:\n    password: '1234'\n"
        f"database:\n  url: '{db_url}'\n"
    )
    assert main(["-c", str(cfg), "check-config"]) == 0
    out = capsys.readouterr().out
    assert "0601020304" not in out and "'1234'" not in out and "ccagent:ccagent@" not in out
    assert "postgresql+psycopg://ccagent:***@127.0.0.1:5432/ccagent" in out

    from ccagent.app.bootstrap import start_line

    config = load_config(cfg, environ=NO_ENV)
    line = start_line(config, find_config(cfg))
    assert "ccagent:***@127.0.0.1" in line and "ccagent:ccagent" not in line
    stream = io.StringIO()
    setup_logging("DEBUG", log_format="journal", stream=stream)
    logging.getLogger("ccagent.app.dialer").debug("dialing %s", customer("0601020304"))
    assert stream.getvalue() == "<7>DEBUG ccagent.app.dialer: dialing 0601020304\n"


@pytest.mark.parametrize(
    "url",
    [
        "postgresql+psycopg://cc:p@ss@db.example:5432/cc",  # an unencoded @ in the password
        "postgresql+psycopg://cc:a/b?c:d@db.example/cc",
        "postgresql+psycopg://cc@db.example/cc?sslmode=require&password=p@ss",
    ],
)
def test_R_SAFE_3_redact_url_masks_the_whole_password_whatever_it_holds(url: str) -> None:
    shown = redact_url(url)
    assert "***" in shown and "p@ss" not in shown and "ss@" not in shown and "a/b" not in shown
    assert "db.example" in shown and shown.endswith(("/cc", "&password=***"))


def test_R_OPS_2_a_password_with_an_unencoded_at_is_refused_without_echoing_it() -> None:
    with pytest.raises(ConfigError) as exc:
        parse_config({"database": {"url": "postgresql+psycopg://cc:p@ss@db.example/cc"}}, environ=NO_ENV)
    assert exc.value.errors == ["database.url: the password contains '@': write it as %40 in the URL"]


def test_R_OPS_5_the_daemon_says_version_config_database_and_pbx_first(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from ccagent.app.bootstrap import run_daemon

    cfg = tmp_path / "ccagent.yaml"
    # a directory where the SQLite file should be: the daemon stops at once, after its start line
    (tmp_path / "db").mkdir()
    cfg.write_text(
        f"pbx:\n  type: freeswitch\n  freeswitch:\n    host: 10.1.2.3\n    port: 8022\n"
        f"database:\n  url: 'sqlite:///{tmp_path / 'db'}'\n"
    )
    caplog.set_level(logging.INFO, logger="ccagent")
    code = run_daemon(load_config(cfg, environ=NO_ENV), source=find_config(cfg))
    assert code != 0
    first = caplog.records[0].getMessage()
    version = importlib.metadata.version("ccagent")
    assert first == (
        f"ccagent {version} starting: config {cfg}, database sqlite:///{tmp_path / 'db'}, "
        "PBX freeswitch 10.1.2.3:8022"
    )


# --- every command finds the same config ----------------------------------------------------------


def test_R_OPS_2_config_is_found_in_one_order(tmp_path: Path) -> None:
    etc = tmp_path / "etc.yaml"
    env_file = tmp_path / "env.yaml"
    assert find_config(None, environ={}, system_path=etc).path is None  # nothing: built-in defaults
    etc.write_text("{}\n")
    assert find_config(None, environ={}, system_path=etc).path == etc
    env = {"CCAGENT_CONFIG": str(env_file)}
    found = find_config(None, environ=env, system_path=etc)
    assert found.path == env_file and found.origin == "CCAGENT_CONFIG"
    assert find_config("given.yaml", environ=env, system_path=etc).path == Path("given.yaml")
    with pytest.raises(ConfigError, match="file not found"):  # named but missing: no fall-through
        load_config(found.path)


def test_R_OPS_2_a_read_only_command_in_an_empty_directory_creates_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    for argv in (["project", "list"], ["report", "calls"], ["agent", "list"], ["project", "show", "p1"]):
        assert main(argv) == os.EX_NOINPUT == 66, argv
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and f"no database at {tmp_path / 'ccagent.db'}" in err, err
        assert "built-in defaults" in err and "CCAGENT_CONFIG" in err
    assert list(tmp_path.iterdir()) == []


def test_R_OPS_2_every_command_reads_ccagent_config_then_etc(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    work = tmp_path / "elsewhere"
    work.mkdir()
    monkeypatch.chdir(work)
    etc_db, env_db = tmp_path / "etc.db", tmp_path / "env.db"
    etc = tmp_path / "etc" / "ccagent.yaml"
    etc.parent.mkdir()
    etc.write_text(f"database:\n  url: 'sqlite:///{etc_db}'\n")
    monkeypatch.setattr(ccagent.config, "SYSTEM_CONFIG", etc)

    assert main(["project", "create", "p1", "Spring"]) == 0  # a writing command says what it creates
    err = capsys.readouterr().err
    assert f"creating database sqlite:///{etc_db}" in err and f"config: {etc}" in err
    assert etc_db.exists() and not (work / "ccagent.db").exists()
    assert main(["project", "list"]) == 0
    assert "p1" in capsys.readouterr().out
    assert main(["project", "create", "p2", "Summer"]) == 0
    assert "creating" not in capsys.readouterr().err  # said once, when it did

    env_cfg = tmp_path / "env.yaml"
    env_cfg.write_text(f"database:\n  url: 'sqlite:///{env_db}'\n")
    monkeypatch.setenv("CCAGENT_CONFIG", str(env_cfg))
    assert main(["project", "list"]) == 66  # CCAGENT_CONFIG wins over /etc: its database is new
    assert f"(config: {env_cfg} (from CCAGENT_CONFIG))" in capsys.readouterr().err
    assert main(["-c", str(etc), "project", "list"]) == 0  # -c (before or after the command) wins
    assert main(["project", "list", "-c", str(etc)]) == 0
    assert main(["check-config"]) == 0
    assert capsys.readouterr().out.count(f"{env_cfg} (from CCAGENT_CONFIG): OK") == 1


def test_R_OPS_1_version_is_the_installed_package_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out == f"ccagent {importlib.metadata.version('ccagent')}\n"


def test_R_OPS_1_version_from_the_installed_entry_point() -> None:
    import subprocess

    exe = Path(sys.executable).with_name("ccagent")
    out = subprocess.run([str(exe), "--version"], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == f"ccagent {importlib.metadata.version('ccagent')}"


def test_R_SAFE_3_a_bad_pbx_message_logs_its_ids_not_the_number_it_quotes(
    restore_root: None, sqlite_url: str
) -> None:
    """A translator's error may quote a field (``int('0601020304x')``): the WARNING line keeps the
    message's ids and the error's type, the journal never gets the value."""
    from ccagent.app.bootstrap import build
    from ccagent.pbx.ami.parser import AmiMessage

    wiring = build(parse_config({}, environ=NO_ENV), pbx="asterisk", db_url=sqlite_url)

    def refuse(msg: object, now: float | None = None) -> list[object]:
        raise ValueError("caller 0601020304 is not a number")

    wiring.pipeline.translator.translate = refuse  # type: ignore[method-assign]
    stream = io.StringIO()
    setup_logging("INFO", log_format="journal", stream=stream)
    wiring.pipeline.feed(AmiMessage.from_pairs([("Event", "Newchannel"), ("Linkedid", "9.9")]))
    wiring.engine.dispose()
    line = stream.getvalue()
    assert line.startswith("<4>WARNING ccagent.app.pipeline: skipping untranslatable PBX message")
    assert "Linkedid=9.9" in line and f"ValueError: {CUSTOMER_MASK}" in line and "0601020304" not in line


def test_R_SAFE_3_a_refused_write_logs_one_line_without_the_number_it_was_writing(
    restore_root: None, tmp_path: Path
) -> None:
    """The issue's read-only database: "attempt to write a readonly database" came as four lines
    per record, the statement's parameters (a customer's number) among them."""
    import sqlite3

    from sqlalchemy import text
    from sqlalchemy.exc import OperationalError

    from ccagent.storage.db import make_engine

    path = tmp_path / "ro.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE calls (caller TEXT)")
    engine = make_engine(f"sqlite:///file:{path}?mode=ro&uri=true")
    stream = io.StringIO()
    setup_logging("INFO", log_format="journal", stream=stream)
    try:
        with pytest.raises(OperationalError) as exc, engine.begin() as conn:
            conn.execute(text("INSERT INTO calls (caller) VALUES (:caller)"), {"caller": "0601020304"})
    finally:
        engine.dispose()
    logging.getLogger("ccagent.app.daemon").error(
        "database write failed (%s: %s)", "OperationalError", exc.value
    )
    line = stream.getvalue()
    assert "readonly database" in line and "0601020304" not in line
    assert line.count("\n") == 1 and line.startswith("<3>ERROR ccagent.app.daemon: database write failed")
