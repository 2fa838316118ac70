"""YAML configuration, validated completely before anything connects (SPEC R-OPS-2).

Every section forbids unknown keys so a typo (``prot:`` for ``port:``) is an
error rather than a silently ignored setting.  Validation errors are turned
into one ``dotted.key.path: reason`` line each; the offending *input* is never
printed, because it may be a password (R-SAFE-3).  Callers exit with
``EX_CONFIG`` (78, sysexits ``EX_CONFIG``) so systemd does not restart-loop a
daemon whose config cannot work.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterable, Mapping
from os import EX_CONFIG, EX_OK  # sysexits, as every ccagent command uses them
from pathlib import Path
from typing import Any, Literal, TextIO

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

#: Environment variables that override secrets, so they can stay out of the YAML file
#: (systemd ``EnvironmentFile=`` / credentials).  Maps env var -> dotted config path.
SECRET_ENV_OVERRIDES: dict[str, tuple[str, ...]] = {
    "CCAGENT_AMI_SECRET": ("pbx", "asterisk", "secret"),
    "CCAGENT_ESL_PASSWORD": ("pbx", "freeswitch", "password"),
    "CCAGENT_DB_URL": ("database", "url"),
}


class ConfigError(Exception):
    """The configuration cannot be used; ``errors`` holds one printable line per problem."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("\n".join(errors))
        self.errors = errors


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _secret_must_be_text(value: Any) -> Any:
    # YAML turns `secret: 0123` into the int 123: refuse rather than log in with a wrong password.
    if isinstance(value, int | float) and not isinstance(value, bool):
        raise ValueError("must be a string: quote it in YAML")
    return value


class AsteriskConfig(_Section):
    host: str = "127.0.0.1"
    port: int = Field(5038, ge=1, le=65535)
    username: str = "ccagent"
    secret: SecretStr = SecretStr("")
    ping_interval_s: float = Field(20.0, gt=0, le=3600)
    ping_timeout_s: float = Field(5.0, gt=0, le=600)
    reconnect_min_s: float = Field(0.5, gt=0, le=3600)
    reconnect_max_s: float = Field(30.0, gt=0, le=3600)
    events_filter: list[str] | None = None

    _secret_text = field_validator("secret", mode="before")(_secret_must_be_text)

    @model_validator(mode="after")
    def _backoff_order(self) -> AsteriskConfig:
        if self.reconnect_min_s > self.reconnect_max_s:
            raise ValueError("reconnect_min_s must not exceed reconnect_max_s")
        return self


class FreeswitchConfig(_Section):
    host: str = "127.0.0.1"
    port: int = Field(8021, ge=1, le=65535)
    password: SecretStr = SecretStr("")
    event_format: Literal["plain", "json"] = "plain"

    _password_text = field_validator("password", mode="before")(_secret_must_be_text)
    ping_interval_s: float = Field(20.0, gt=0, le=3600)
    ping_timeout_s: float = Field(5.0, gt=0, le=600)
    reconnect_min_s: float = Field(0.5, gt=0, le=3600)
    reconnect_max_s: float = Field(30.0, gt=0, le=3600)

    @model_validator(mode="after")
    def _backoff_order(self) -> FreeswitchConfig:
        if self.reconnect_min_s > self.reconnect_max_s:
            raise ValueError("reconnect_min_s must not exceed reconnect_max_s")
        return self


class PbxConfig(_Section):
    type: Literal["asterisk", "freeswitch"] = "asterisk"
    asterisk: AsteriskConfig = AsteriskConfig()
    freeswitch: FreeswitchConfig = FreeswitchConfig()


def url_secrets(url: str) -> list[str]:
    """The passwords a database URL carries (user part or ``password=`` query), for the log redactor."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        u = make_url(url)
    except (ArgumentError, ValueError):
        return []
    found = [str(u.password)] if u.password else []
    value = u.query.get("password")
    found += [value] if isinstance(value, str) else list(value or ())
    return [x for x in found if x]


def redact_url(url: str) -> str:
    """The URL with its passwords masked, for output and logs.  Rendered by SQLAlchemy itself, so a
    ``/`` or ``%xx`` in a password and a ``?password=`` query are masked, and nothing else is."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        u = make_url(url)
    except (ArgumentError, ValueError):  # not a URL we can read: hide everything between : and @
        return re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", url)
    if "password" in u.query:
        u = u.update_query_dict({"password": "MASKED"})
    return u.render_as_string(hide_password=True).replace("password=MASKED", "password=***")


class DatabaseConfig(_Section):
    url: str = "sqlite:///ccagent.db"
    echo: bool = False

    @field_validator("url")
    @classmethod
    def _known_dialect(cls, value: str) -> str:
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError

        scheme = value.split(":", 1)[0].split("+", 1)[0]
        if scheme not in ("sqlite", "postgresql"):
            raise ValueError("must start with sqlite:// or postgresql:// (e.g. postgresql+psycopg://...)")
        try:
            make_url(value).port  # noqa: B018 - a port that is not a number fails here, not at run
        except (ArgumentError, ValueError):
            raise ValueError("not a valid database URL (user:password@host:port/database)") from None
        return value

    def __repr_args__(self) -> Iterable[tuple[str | None, Any]]:
        # A PostgreSQL URL usually embeds a password: keep it out of repr()/str().
        yield "url", redact_url(self.url)
        yield "echo", self.echo


class LegsConfig(_Section):
    project_variable: str = Field("CCAGENT_PROJECT", pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    extension_pattern: str = r"^\d{2,6}$"
    # channel variable naming a leg's recording file (R-LEG-1); Asterisk's MixMonitor sets this one
    recording_variable: str = Field("MIXMONITOR_FILENAME", pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")

    @field_validator("extension_pattern")
    @classmethod
    def _compiles(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"not a valid regular expression ({exc})") from None
        return value


class EmployeesConfig(_Section):
    mapping: dict[str, str] = Field(default_factory=dict)
    save_all_calls: bool = False
    fallback_employee: str | None = None
    responsible_on_missed_group_calls: str | None = None
    save_speech_analytics: bool = False

    @field_validator("mapping", mode="before")
    @classmethod
    def _extensions_as_text(cls, value: Any) -> Any:
        # YAML reads `101: Ivan` with an int key; extensions are identifiers, not numbers.
        if isinstance(value, Mapping):
            return {
                (str(k) if isinstance(k, int) and not isinstance(k, bool) else k): v for k, v in value.items()
            }
        return value

    @field_validator("mapping")
    @classmethod
    def _non_empty(cls, value: dict[str, str]) -> dict[str, str]:
        for ext, name in value.items():
            if not ext.strip():
                raise ValueError("an extension must not be empty")
            if not name.strip():
                raise ValueError(f"extension {ext}: employee name must not be empty")
        return value

    @model_validator(mode="after")
    def _fallback_required(self) -> EmployeesConfig:
        if self.save_all_calls and not self.fallback_employee:
            raise ValueError("save_all_calls: true requires fallback_employee")
        return self


class DaemonConfig(_Section):
    queue_size: int = Field(10_000, ge=1, le=10_000_000)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    metrics_port: int | None = Field(None, ge=1, le=65535)
    metrics_address: str = "127.0.0.1"  # 0.0.0.0 / :: to let a Prometheus on another host scrape
    # writes failing this long stop the watchdog and the daemon (exit 69): systemd restarts it
    write_failure_limit_s: float = Field(300.0, gt=0, le=86_400)

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @field_validator("metrics_address")
    @classmethod
    def _address(cls, value: str) -> str:
        import ipaddress

        try:
            return str(ipaddress.ip_address(value))
        except ValueError:
            raise ValueError("not an IP address (127.0.0.1, 0.0.0.0, ::)") from None


class ProjectsConfig(_Section):
    """Defaults of outbound projects (R-PRJ-7, R-PRJ-8); a project's own settings override them."""

    default_region: str = "UA"
    default_time_zone: str = "Europe/Kyiv"
    calling_hours: str = "09:00-20:00"
    max_attempts: int = Field(3, ge=1, le=100)

    @field_validator("default_region")
    @classmethod
    def _region(cls, value: str) -> str:
        import phonenumbers

        if value.upper() not in phonenumbers.SUPPORTED_REGIONS:
            raise ValueError("not a region code known to phonenumbers (e.g. UA, RU, US, GB)")
        return value.upper()

    @field_validator("default_time_zone")
    @classmethod
    def _zone(cls, value: str) -> str:
        from ccagent.core.dialing_rules import find_zone

        if find_zone(value) is None:
            raise ValueError("not an IANA time zone (e.g. Europe/Kyiv)")
        return value

    @field_validator("calling_hours")
    @classmethod
    def _hours(cls, value: str) -> str:
        from ccagent.core.dialing_rules import CallingHours
        from ccagent.core.projects import ProjectError

        try:
            CallingHours.parse(value)
        except ProjectError as exc:
            raise ValueError(str(exc).removeprefix("calling_hours: ")) from None
        return value


class Config(_Section):
    pbx: PbxConfig = PbxConfig()
    database: DatabaseConfig = DatabaseConfig()
    legs: LegsConfig = LegsConfig()
    employees: EmployeesConfig = EmployeesConfig()
    daemon: DaemonConfig = DaemonConfig()
    projects: ProjectsConfig = ProjectsConfig()
    language: Literal["en", "ru", "uk"] = "en"


def _loc_path(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(part) for part in loc) or "(root)"


def _allowed_keys(loc: tuple[int | str, ...]) -> list[str] | None:
    """Field names of the section that holds ``loc``'s last key (for 'unknown key' hints)."""
    model: Any = Config
    for part in loc[:-1]:
        field = model.model_fields.get(part) if isinstance(part, str) else None
        if field is None or not (
            isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel)
        ):
            return None
        model = field.annotation
    return sorted(model.model_fields)


def format_validation_errors(exc: ValidationError) -> list[str]:
    """One ``dotted.path: reason`` line per error, never echoing the input value (R-SAFE-3)."""
    lines: list[str] = []
    for err in exc.errors(include_input=False, include_url=False, include_context=False):
        loc = tuple(err["loc"])
        if err["type"] == "extra_forbidden":
            allowed = _allowed_keys(loc)
            reason = "unknown key" + (f" (allowed: {', '.join(allowed)})" if allowed else "")
        else:
            reason = err["msg"].removeprefix("Value error, ")
        lines.append(f"{_loc_path(loc)}: {reason}")
    return lines


def _apply_env_overrides(data: dict[str, Any], environ: Mapping[str, str]) -> None:
    for var, path in SECRET_ENV_OVERRIDES.items():
        value = environ.get(var)
        if not value:
            continue
        node = data
        for key in path[:-1]:
            child = node.get(key)
            if child is None:
                child = node[key] = {}
            if not isinstance(child, dict):
                return  # the YAML shape is wrong; validation reports it
            node = child
        node[path[-1]] = value


def parse_config(data: Any, *, environ: Mapping[str, str] | None = None) -> Config:
    """Validate already-parsed YAML data; raise ``ConfigError`` listing every problem."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError([f"(root): expected a mapping of sections, got {type(data).__name__}"])
    data = dict(data)
    _apply_env_overrides(data, os.environ if environ is None else environ)
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_validation_errors(exc)) from None


class _DuplicateKey(yaml.YAMLError):
    def __init__(self, key: object, mark: yaml.Mark) -> None:
        super().__init__(key)
        self.key, self.mark = key, mark


class _Loader(yaml.SafeLoader):
    """``safe_load`` that refuses a key given twice: PyYAML keeps the later one silently, so a
    section written twice (a second ``pbx:``) would drop the first one's host and secret."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _value in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":  # ``<<: *defaults``: explicit keys win, by design
                continue
            key = self.construct_object(key_node, deep=deep)
            try:
                if key in seen:
                    raise _DuplicateKey(key, key_node.start_mark)
                seen.add(key)
            except TypeError:  # an unhashable key: the base constructor reports it
                pass
        return super().construct_mapping(node, deep)


def load_config(path: str | Path | None, *, environ: Mapping[str, str] | None = None) -> Config:
    """Read and validate a YAML config; ``None`` gives the built-in defaults (SQLite in the cwd)."""
    if path is None:
        return parse_config({}, environ=environ)
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([f"{p}: file not found"]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([f"{p}: cannot read ({exc.__class__.__name__})"]) from None
    try:
        data = yaml.load(text, Loader=_Loader)  # a SafeLoader subclass: no arbitrary objects
    except _DuplicateKey as exc:
        where = f"{p}:{exc.mark.line + 1}:{exc.mark.column + 1}"
        raise ConfigError(
            [f"{where}: duplicate key {exc.key!r} (the later one would replace the first)"]
        ) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{p}:{mark.line + 1}:{mark.column + 1}" if mark else str(p)
        problem = exc.problem or exc.context or "invalid YAML"
        # PyYAML quotes the text it choked on, which may be a secret typed unquoted
        # (``secret: !x...`` reads as a tag, ``*x...`` as an alias): the position is enough
        problem = re.sub(r"'[^']*'", "'...'", problem)
        raise ConfigError([f"{where}: YAML syntax error: {problem}"]) from None
    except yaml.YAMLError as exc:
        raise ConfigError([f"{p}: YAML error: {exc.__class__.__name__}"]) from None
    return parse_config(data, environ=environ)


def redacted_dump(config: Config) -> dict[str, Any]:
    """The effective config as plain data with secrets masked, for ``check-config`` and logs."""
    data = config.model_dump(mode="json")  # SecretStr dumps as '**********'
    data["database"]["url"] = redact_url(config.database.url)
    return data


def check_config_main(
    path: str | Path | None, *, out: TextIO | None = None, err: TextIO | None = None
) -> int:
    """Body of ``ccagent check-config FILE``: print every problem, return the exit code."""
    out = out or sys.stdout
    err = err or sys.stderr
    try:
        config = load_config(path)
    except ConfigError as exc:
        for line in exc.errors:
            print(line, file=err)
        return EX_CONFIG
    print(f"{path or '(built-in defaults)'}: OK", file=out)
    print(yaml.safe_dump(redacted_dump(config), sort_keys=False, allow_unicode=True), file=out, end="")
    return EX_OK
