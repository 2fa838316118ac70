"""YAML config validated before anything connects (R-OPS-2, R-SAFE-3)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from ccagent.config import (
    EX_CONFIG,
    ConfigError,
    check_config_main,
    load_config,
    parse_config,
    redact_url,
    redacted_dump,
)

REPO = Path(__file__).resolve().parents[1]
NO_ENV: dict[str, str] = {}


def errors_of(text: str, tmp_path: Path, environ: dict[str, str] | None = None) -> list[str]:
    path = tmp_path / "ccagent.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(path, environ=NO_ENV if environ is None else environ)
    return info.value.errors


def test_R_OPS_2_no_file_gives_builtin_defaults() -> None:
    config = load_config(None, environ=NO_ENV)
    assert config.database.url == "sqlite:///ccagent.db"
    assert (config.pbx.type, config.pbx.asterisk.port, config.pbx.freeswitch.port) == ("asterisk", 5038, 8021)
    assert config.legs.project_variable == "CCAGENT_PROJECT"
    assert config.employees.save_all_calls is False and config.employees.mapping == {}


def test_R_OPS_2_empty_file_gives_defaults(tmp_path: Path) -> None:
    path = tmp_path / "empty.yaml"
    path.write_text("# nothing yet\n")
    assert load_config(path, environ=NO_ENV) == load_config(None, environ=NO_ENV)


def test_R_OPS_2_example_config_is_valid_and_documents_every_key() -> None:
    example = REPO / "config" / "ccagent.example.yaml"
    config = load_config(example, environ=NO_ENV)
    assert config.employees.mapping["101"]
    text = example.read_text(encoding="utf-8")
    dumped = redacted_dump(config)

    def keys(d: dict[str, object], prefix: str = "") -> list[str]:
        out = []
        for k, v in d.items():
            out.append(k)
            if isinstance(v, dict) and k != "mapping":
                out.extend(keys(v, f"{prefix}{k}."))
        return out

    missing = [k for k in keys(dumped) if f"{k}:" not in text]
    assert missing == []


def test_R_OPS_2_every_error_is_reported_with_its_key_path(tmp_path: Path) -> None:
    errors = errors_of(
        """
pbx:
  type: asterisk
  asterisk:
    port: 70000
    prot: 5038
    ping_interval_s: soon
daemon:
  queue_size: 0
language: fr
""",
        tmp_path,
    )
    assert "pbx.asterisk.port: Input should be less than or equal to 65535" in errors
    assert "daemon.queue_size: Input should be greater than or equal to 1" in errors
    assert "language: Input should be 'en', 'ru' or 'uk'" in errors
    assert any(e.startswith("pbx.asterisk.ping_interval_s: Input should be a valid number") for e in errors)
    (unknown,) = [e for e in errors if e.startswith("pbx.asterisk.prot:")]
    assert "unknown key" in unknown and "port" in unknown
    assert len(errors) == 5


def test_R_OPS_2_unknown_section_is_an_error(tmp_path: Path) -> None:
    assert errors_of("databse:\n  url: sqlite:///x.db\n", tmp_path)[0].startswith("databse: unknown key")


def test_R_OPS_2_yaml_syntax_error_names_line_and_column(tmp_path: Path) -> None:
    (error,) = errors_of("pbx:\n  type: asterisk\n  asterisk: [1, 2\n", tmp_path)
    assert error.startswith(f"{tmp_path / 'ccagent.yaml'}:4:1: YAML syntax error")


def test_R_OPS_2_top_level_must_be_a_mapping(tmp_path: Path) -> None:
    assert errors_of("- a\n- b\n", tmp_path) == ["(root): expected a mapping of sections, got list"]


def test_R_OPS_2_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found"):
        load_config(tmp_path / "nope.yaml")


def test_R_MAP_2_save_all_calls_requires_fallback_employee() -> None:
    with pytest.raises(ConfigError) as info:
        parse_config({"employees": {"save_all_calls": True}}, environ=NO_ENV)
    assert info.value.errors == ["employees: save_all_calls: true requires fallback_employee"]


def test_R_MAP_1_mapping_keys_read_as_extensions(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("employees:\n  mapping:\n    101: Іван\n    '0102': Olena\n", encoding="utf-8")
    assert load_config(path, environ=NO_ENV).employees.mapping == {"101": "Іван", "0102": "Olena"}


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"legs": {"extension_pattern": "(["}}, "legs.extension_pattern: not a valid regular expression"),
        ({"legs": {"project_variable": "BAD-NAME"}}, "legs.project_variable: String should match pattern"),
        (
            {"pbx": {"asterisk": {"reconnect_min_s": 60, "reconnect_max_s": 5}}},
            "pbx.asterisk: reconnect_min_s",
        ),
        ({"database": {"url": "mysql://x"}}, "database.url: must start with sqlite:// or postgresql://"),
        ({"daemon": {"metrics_port": 0}}, "daemon.metrics_port: Input should be greater than or equal to 1"),
        ({"pbx": {"freeswitch": {"event_format": "xml"}}}, "pbx.freeswitch.event_format: Input should be"),
        (
            {"projects": {"default_time_zone": "America"}},
            "projects.default_time_zone: not an IANA time zone",
        ),
    ],
)
def test_R_OPS_2_out_of_range_values(data: dict[str, object], expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(data, environ=NO_ENV)
    assert len(info.value.errors) == 1 and info.value.errors[0].startswith(expected)


def test_R_OPS_2_log_level_is_case_insensitive() -> None:
    assert parse_config({"daemon": {"log_level": "debug"}}, environ=NO_ENV).daemon.log_level == "DEBUG"


def test_R_SAFE_3_secrets_never_echoed_by_errors(tmp_path: Path) -> None:
    secret = "hunter2-Very-Secret"
    for bad in (f"[{secret}]", f"{{pw: {secret}}}"):
        errors = errors_of(
            f"pbx:\n  asterisk:\n    secret: {bad}\n  freeswitch:\n    password: {bad}\n", tmp_path
        )
        assert len(errors) == 2
        assert secret not in "\n".join(errors)
    errors = errors_of("pbx:\n  asterisk:\n    secret: 123456789\n", tmp_path)
    assert errors == ["pbx.asterisk.secret: must be a string: quote it in YAML"]


def test_R_SAFE_3_a_secret_typed_unquoted_that_reads_as_yaml_syntax_is_not_echoed(tmp_path: Path) -> None:
    secret = "Hunter2secret"
    for typed in (f"!{secret}", f"!!{secret}", f"*{secret}"):
        (error,) = errors_of(f"pbx:\n  asterisk:\n    secret: {typed}\n", tmp_path)
        assert secret not in error and ":3:" in error, error  # the position still says where


def test_R_OPS_2_yaml_merge_keys_still_work(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(
        "pbx:\n  freeswitch: &timers {reconnect_min_s: 1, reconnect_max_s: 9}\n"
        "  asterisk:\n    <<: *timers\n    reconnect_max_s: 20\n",
        encoding="utf-8",
    )
    config = load_config(path, environ=NO_ENV)  # the explicit key wins over the merged one, as YAML says
    assert (config.pbx.asterisk.reconnect_min_s, config.pbx.asterisk.reconnect_max_s) == (1, 20)


def test_R_OPS_2_a_database_url_with_a_port_that_is_not_a_number_is_a_config_error() -> None:
    with pytest.raises(ConfigError) as info:
        parse_config({"database": {"url": "postgresql://u:pw@h:abc/db"}}, environ=NO_ENV)
    assert info.value.errors == ["database.url: not a valid database URL (user:password@host:port/database)"]


def test_R_OPS_2_a_key_given_twice_is_an_error_not_a_silent_override(tmp_path: Path) -> None:
    errors = errors_of(
        "pbx:\n  asterisk:\n    host: 10.0.0.5\n    secret: 's3cr3t-pw'\n"
        "database: {}\npbx:\n  type: asterisk\n",
        tmp_path,
    )
    assert errors == [
        f"{tmp_path / 'ccagent.yaml'}:6:1: duplicate key 'pbx' (the later one would replace the first)"
    ]
    (error,) = errors_of("daemon:\n  log_level: INFO\n  log_level: DEBUG\n", tmp_path)
    assert error.endswith(":3:3: duplicate key 'log_level' (the later one would replace the first)")


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql+psycopg://u:hun/ter2-Pa55@h:1/db", "postgresql+psycopg://u:***@h:1/db"),
        ("postgresql+psycopg://u@h:1/db?password=ter2-Pa55", "postgresql+psycopg://u@h:1/db?password=***"),
        ("postgresql://u:p%40ter2-Pa55@h/db", "postgresql://u:***@h/db"),
        ("postgresql+psycopg://u@h/db?password=ter2%21Pa55", "postgresql+psycopg://u@h/db?password=***"),
        ("postgresql+psycopg://postgres:postgres@db:5432/cc", "postgresql+psycopg://postgres:***@db:5432/cc"),
        ("postgresql://u:1@h/ccagent1", "postgresql://u:***@h/ccagent1"),
        ("sqlite:////var/lib/ccagent/ccagent.db", "sqlite:////var/lib/ccagent/ccagent.db"),
    ],
)
def test_R_SAFE_3_database_passwords_are_hidden_in_every_url_form(url: str, shown: str) -> None:
    assert redact_url(url) == shown


def test_R_SAFE_3_secrets_hidden_in_repr_dump_and_check_output(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(
        "pbx:\n  asterisk:\n    secret: 'ami-Pa55'\n  freeswitch:\n    password: 'esl-Pa55'\n"
        "database:\n  url: 'postgresql+psycopg://cc:db-Pa55@127.0.0.1/cc'\n"
    )
    config = load_config(path, environ=NO_ENV)
    assert config.pbx.asterisk.secret.get_secret_value() == "ami-Pa55"
    out, err = io.StringIO(), io.StringIO()
    with pytest.MonkeyPatch.context() as mp:
        for var in ("CCAGENT_AMI_SECRET", "CCAGENT_ESL_PASSWORD", "CCAGENT_DB_URL"):
            mp.delenv(var, raising=False)
        assert check_config_main(path, out=out, err=err) == 0
    shown = "\n".join([repr(config), str(config), str(redacted_dump(config)), out.getvalue(), err.getvalue()])
    for secret in ("ami-Pa55", "esl-Pa55", "db-Pa55"):
        assert secret not in shown
    assert "postgresql+psycopg://cc:***@127.0.0.1/cc" in out.getvalue()


def test_R_SAFE_3_secrets_from_environment() -> None:
    env = {"CCAGENT_AMI_SECRET": "from-env", "CCAGENT_DB_URL": "postgresql+psycopg://u:p@h/d"}
    config = parse_config({"pbx": {"asterisk": {"secret": "from-file"}}}, environ=env)
    assert config.pbx.asterisk.secret.get_secret_value() == "from-env"
    assert config.database.url == "postgresql+psycopg://u:p@h/d"


def test_R_OPS_2_check_config_exits_78_listing_every_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("pbx:\n  asterisk:\n    port: 0\nlanguage: de\n")
    out, err = io.StringIO(), io.StringIO()
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("CCAGENT_DB_URL", raising=False)
        assert check_config_main(path, out=out, err=err) == EX_CONFIG == 78
    assert err.getvalue().splitlines() == [
        "pbx.asterisk.port: Input should be greater than or equal to 1",
        "language: Input should be 'en', 'ru' or 'uk'",
    ]
    assert out.getvalue() == ""
