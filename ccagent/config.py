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
from dataclasses import dataclass
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


#: The config every command reads when neither ``-c`` nor ``CCAGENT_CONFIG`` names one.
SYSTEM_CONFIG = Path("/etc/ccagent/ccagent.yaml")
CONFIG_ENV = "CCAGENT_CONFIG"


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


class _DialOut(_Section):
    """Where dialer calls go out on this PBX (issue 13; docs/configuration.md, "Dialing out").
    No trunk by default: a project dials only once one is set here or in its settings."""

    number_format: Literal["e164", "e164_digits", "national"] = "e164"
    strip_prefix: str = Field("", pattern=r"^\+?[0-9*#]{0,16}$")
    add_prefix: str = Field("", pattern=r"^\+?[0-9*#]{0,16}$")
    caller_id: str | None = Field(None, pattern=r"^\+?[0-9]{2,20}$")


def _dial_template(word: str) -> Any:
    """A field validator: a dial string template with ``{number}`` and ``{<word>}``."""

    def check(value: str) -> str:
        from ccagent.core.dialstring import check_template

        check_template(value, word)  # its ValueError names what is wrong
        return value

    return field_validator("dial_string")(lambda cls, v: check(v))


def _trunk_name(value: str | None) -> str | None:
    from ccagent.core.dialstring import TRUNK_RE

    if value is not None and not TRUNK_RE.match(value):
        raise ValueError("1-64 letters, digits, '_', '.', ':', '@' or '-'")
    return value


class AsteriskConfig(_DialOut):
    host: str = "127.0.0.1"
    port: int = Field(5038, ge=1, le=65535)
    username: str = "ccagent"
    secret: SecretStr = SecretStr("")
    ping_interval_s: float = Field(20.0, gt=0, le=3600)
    ping_timeout_s: float = Field(5.0, gt=0, le=600)
    reconnect_min_s: float = Field(0.5, gt=0, le=3600)
    reconnect_max_s: float = Field(30.0, gt=0, le=3600)
    events_filter: list[str] | None = None
    dial_string: str = "PJSIP/{number}@{trunk}"  # FreePBX outbound routes: Local/{number}@from-internal
    trunk: str | None = None
    # queue member interface for pause/unpause (FreePBX: Local/{ext}@from-queue/n)
    agent_interface: str = Field(
        "PJSIP/{ext}", pattern=r"^[A-Za-z0-9_]+/[A-Za-z0-9_./@:;-]*\{ext\}[A-Za-z0-9_./@:;-]*$"
    )

    _secret_text = field_validator("secret", mode="before")(_secret_must_be_text)
    _dial = _dial_template("trunk")
    _trunk = field_validator("trunk")(lambda cls, v: _trunk_name(v))

    @model_validator(mode="after")
    def _backoff_order(self) -> AsteriskConfig:
        if self.reconnect_min_s > self.reconnect_max_s:
            raise ValueError("reconnect_min_s must not exceed reconnect_max_s")
        return self


class FreeswitchConfig(_DialOut):
    host: str = "127.0.0.1"
    port: int = Field(8021, ge=1, le=65535)
    password: SecretStr = SecretStr("")
    event_format: Literal["plain", "json"] = "plain"

    _password_text = field_validator("password", mode="before")(_secret_must_be_text)
    _dial = _dial_template("gateway")
    _gateway = field_validator("gateway")(lambda cls, v: _trunk_name(v))
    ping_interval_s: float = Field(20.0, gt=0, le=3600)
    ping_timeout_s: float = Field(5.0, gt=0, le=600)
    reconnect_min_s: float = Field(0.5, gt=0, le=3600)
    reconnect_max_s: float = Field(30.0, gt=0, le=3600)
    dial_string: str = "sofia/gateway/{gateway}/{number}"
    gateway: str | None = None
    # mod_callcenter agent names: a template ({ext}@{domain} on FusionPBX, with the domain written
    # out) and, for agents named otherwise (FusionPBX UUIDs), an explicit agent name -> extension
    agent_name: str = Field("{ext}@default", pattern=r"^[A-Za-z0-9_.@:-]*\{ext\}[A-Za-z0-9_.@:-]*$")
    agents: dict[str, str] = Field(default_factory=dict)

    @field_validator("agents", mode="before")
    @classmethod
    def _agent_extensions_as_text(cls, value: Any) -> Any:
        if isinstance(value, Mapping):  # YAML reads `uuid: 101` with an int value
            return {
                k: (str(v) if isinstance(v, int) and not isinstance(v, bool) else v) for k, v in value.items()
            }
        return value

    @model_validator(mode="after")
    def _backoff_order(self) -> FreeswitchConfig:
        if self.reconnect_min_s > self.reconnect_max_s:
            raise ValueError("reconnect_min_s must not exceed reconnect_max_s")
        return self


class PbxConfig(_Section):
    type: Literal["asterisk", "freeswitch"] = "asterisk"
    asterisk: AsteriskConfig = AsteriskConfig()
    freeswitch: FreeswitchConfig = FreeswitchConfig()


# host, then an optional port, then the end of the authority: what follows the '@' that ends
# the user:password part of a URL
_AUTHORITY_END = re.compile(r"(?:\[[^\]]*\]|[^/?#:@\[\]]*)(?::\d*)?(?:[/?#]|$)")


def _userinfo_end(rest: str) -> int:
    """Index of the ``@`` that ends ``user:password`` in ``rest`` (a URL after ``://``), or -1.

    The first ``@`` followed by a plausible ``host[:port]`` wins, so a password with an
    unencoded ``@`` (``p@ss@db.example``) is masked whole, where a URL parser reads ``ss@db.example``
    as the host and would print it."""
    start = 0
    while (at := rest.find("@", start)) != -1:
        if _AUTHORITY_END.match(rest, at + 1):
            return at
        start = at + 1
    return -1


def redact_url(url: str) -> str:
    """The URL with its passwords masked, for output and logs: the user part's password and a
    ``password=`` query value become ``***``, whatever characters they hold, and the rest is
    shown as written (the host and database are what an operator needs to see)."""
    scheme, sep, rest = url.partition("://")
    if not sep:  # not a URL: show nothing that could be a password
        return "***" if "@" in url or ":" in url else url
    at = _userinfo_end(rest)
    if at != -1:
        user, colon, _password = rest[:at].partition(":")
        rest = f"{user}{colon and ':***'}{rest[at:]}"
    rest = re.sub(r"([?&]password=)[^&#]*", r"\1***", rest, flags=re.IGNORECASE)
    return f"{scheme}://{rest}"


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
            parsed = make_url(value)
            parsed.port  # noqa: B018 - a port that is not a number fails here, not at run
        except (ArgumentError, ValueError):
            raise ValueError("not a valid database URL (user:password@host:port/database)") from None
        if "@" in (parsed.host or ""):  # the driver would connect to the password's tail as a host
            raise ValueError("the password contains '@': write it as %40 in the URL")
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
    # auto: the sd-daemon priority prefix when stderr is the journal (JOURNAL_STREAM), else a time
    log_format: Literal["auto", "journal", "plain"] = "auto"
    # customers' numbers and names in records at INFO and above (they are always in DEBUG ones)
    log_customer_data: bool = False
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


@dataclass(frozen=True)
class ConfigSource:
    """Which config a command uses and why: ``path`` is None for the built-in defaults."""

    path: Path | None
    origin: Literal["-c", "CCAGENT_CONFIG", "system", "defaults"]

    def describe(self) -> str:
        """For the start line and the CLI's stderr notices."""
        if self.path is None:
            return f"built-in defaults (no -c, no {CONFIG_ENV}, no {SYSTEM_CONFIG})"
        shown = self.path.absolute()  # ``-c c.yaml`` names a file of the directory it was typed in
        return str(shown) if self.origin in ("-c", "system") else f"{shown} (from {CONFIG_ENV})"


def find_config(
    explicit: str | Path | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    system_path: Path | None = None,
) -> ConfigSource:
    """The config a command reads, in the same order for every command: ``-c FILE``, else the
    ``CCAGENT_CONFIG`` file, else ``/etc/ccagent/ccagent.yaml`` when it exists, else the built-in
    defaults.  Without it, a command run by hand from another directory than the service's would
    read other settings and, with SQLite, a different database (``./ccagent.db``)."""
    env = os.environ if environ is None else environ
    if explicit:
        return ConfigSource(Path(explicit), "-c")
    if env.get(CONFIG_ENV):  # named but missing is an error of load_config, not a fall-through
        return ConfigSource(Path(env[CONFIG_ENV]), "CCAGENT_CONFIG")
    system = SYSTEM_CONFIG if system_path is None else system_path
    if system.exists():
        return ConfigSource(system, "system")
    return ConfigSource(None, "defaults")


def redacted_dump(config: Config) -> dict[str, Any]:
    """The effective config as plain data with secrets masked, for ``check-config`` and logs."""
    data = config.model_dump(mode="json")  # SecretStr dumps as '**********'
    data["database"]["url"] = redact_url(config.database.url)
    return data


def check_config_main(
    path: str | Path | None,
    *,
    out: TextIO | None = None,
    err: TextIO | None = None,
    environ: Mapping[str, str] | None = None,
    system_path: Path | None = None,
) -> int:
    """Body of ``ccagent check-config [FILE]``: print every problem, return the exit code.  Without
    FILE it checks the config the other commands would read (:func:`find_config`)."""
    out = out or sys.stdout
    err = err or sys.stderr
    source = find_config(path, environ=environ, system_path=system_path)
    try:
        config = load_config(source.path, environ=environ)
    except ConfigError as exc:
        for line in exc.errors:
            print(line, file=err)
        return EX_CONFIG
    print(f"{source.describe()}: OK", file=out)
    print(yaml.safe_dump(redacted_dump(config), sort_keys=False, allow_unicode=True), file=out, end="")
    return EX_OK
