"""The ``ccagent`` command (SPEC R-OPS-1).

Only argument parsing and exit codes live here; every command calls into
``ccagent.app``.  Exit codes follow sysexits: 64 for a usage error, 78 for a bad
config (R-OPS-2), 65 for bad input data, 66 for a database file that does not exist
(a command that only reads never creates one), 69 for an unreachable service.

Every command reads the same config (``config.find_config``: ``-c``, ``CCAGENT_CONFIG``,
``/etc/ccagent/ccagent.yaml``, the built-in defaults), so ``ccagent project list`` typed in any
directory shows the daemon's database, not a new ``./ccagent.db``.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import math
import sys
from collections.abc import Callable, Sequence
from datetime import tzinfo
from os import EX_DATAERR, EX_NOINPUT, EX_USAGE
from pathlib import Path
from typing import NoReturn

from ccagent import package_version
from ccagent.config import (
    CONFIG_ENV,
    EX_CONFIG,
    Config,
    ConfigError,
    ConfigSource,
    check_config_main,
    find_config,
    load_config,
    redact_url,
)
from ccagent.log import LogFormat
from ccagent.pbx.registry import names as pbx_names

log = logging.getLogger("ccagent")

#: Commands that only read the database: on a SQLite file that does not exist they say so and
#: exit 66 instead of creating an empty database (keyed by the command's words).
READ_ONLY = {
    ("report",),
    ("project", "list"),
    ("project", "show"),
    ("project", "report"),
    ("agent", "list"),
}
#: Commands that open (and may create) the configured database.
OPENS_DATABASE = {("run",), ("db", "upgrade"), ("ingest",), ("project",)}


def _setup_logging(level: str, config: Config | None = None, log_format: LogFormat | None = None) -> None:
    from ccagent.log import setup_logging

    daemon = config.daemon if config is not None else None
    setup_logging(
        level,
        log_format=log_format or (daemon.log_format if daemon else "auto"),
        customer_data=daemon.log_customer_data if daemon else False,
    )


def _load(args: argparse.Namespace) -> Config:
    return load_config(getattr(args, "config", None))


def _words(args: argparse.Namespace) -> tuple[str, ...]:
    sub = getattr(args, f"{args.command.replace('-', '_')}_command", None)
    return (args.command, sub) if sub else (args.command,)


def _database_check(args: argparse.Namespace, config: Config, source: ConfigSource) -> int | None:
    """Refuse a read-only command on a SQLite file that does not exist (66), and say on stderr which
    config chose the database a writing command is about to create: a database made in the wrong
    place is otherwise found weeks later, empty."""
    from ccagent.storage.db import missing_sqlite_file

    words = _words(args)
    if words not in READ_ONLY and words[:1] not in OPENS_DATABASE and words not in OPENS_DATABASE:
        return None
    url = getattr(args, "db", None) or config.database.url
    missing = missing_sqlite_file(url)
    if missing is None:
        return None
    cmd = f"ccagent {' '.join(words)}"
    why = "--db" if getattr(args, "db", None) else f"config: {source.describe()}"
    if words in READ_ONLY:
        hint = "" if why == "--db" else f"; name the config with -c or {CONFIG_ENV}"
        print(f"{cmd}: no database at {missing.resolve()} ({why}){hint}", file=sys.stderr)
        return EX_NOINPUT
    print(f"{cmd}: creating database {redact_url(url)} at {missing.resolve()} ({why})", file=sys.stderr)
    return None


def _cmd_check_config(args: argparse.Namespace) -> int:
    return check_config_main(args.file)


def _cmd_db_upgrade(args: argparse.Namespace) -> int:
    from ccagent.storage import db

    config = _load(args)
    url = args.db or config.database.url
    db.upgrade(url)
    print(f"database {redact_url(url)} is at the latest schema")
    return 0


def _cmd_ingest(args: argparse.Namespace) -> int:
    from ccagent.app.ingest import ingest_files
    from ccagent.pbx.capture import CaptureFormatError

    config = _load(args)
    missing = [p for p in args.files if not Path(p).is_file()]
    if missing:
        for p in missing:
            print(
                f"{p}: {'a directory, not a capture file' if Path(p).is_dir() else 'no such file'}",
                file=sys.stderr,
            )
        return EX_NOINPUT
    try:
        result = ingest_files(
            config,
            args.files,
            pbx=args.pbx or config.pbx.type,
            db_url=args.db,
            project_variable=args.project_variable,
        )
    except (CaptureFormatError, ValueError) as exc:
        print(str(exc), file=sys.stderr)
        return EX_DATAERR
    print(
        f"ingested {result.messages} messages from {result.files} file(s): {result.calls_written} calls "
        f"written, {result.open_calls} still open (kept for the next file), "
        f"{result.bad_messages} bad messages skipped"
    )
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    from ccagent.app.reports import local_zone, parse_time_bound, report
    from ccagent.storage import db

    config = _load(args)
    url = args.db or config.database.url
    missing = db.missing_sqlite_file(url)
    if missing is not None:
        print(f"ccagent report: no database at {missing}", file=sys.stderr)
        return EX_NOINPUT
    tz = args.tz if args.tz is not None else local_zone()
    engine = db.make_engine(url)
    try:
        date_from = parse_time_bound(args.date_from, "--from", tz) if args.date_from is not None else None
        date_to = parse_time_bound(args.date_to, "--to", tz) if args.date_to is not None else None
        if date_from and date_to and date_to < date_from:
            raise ValueError(f"--to: {args.date_to!r} is before --from {args.date_from!r}")
        text = report(
            engine,
            args.kind,
            "csv" if args.excel else (args.format or "table"),
            date_from=date_from,
            date_to=date_to,
            extension=args.extension,
            disposition=args.disposition,
            employee=args.employee,
            queue=args.queue,
            project=args.project,
            tz=tz,
            excel=args.excel,
        )
    except ValueError as exc:
        print(str(exc), file=sys.stderr)
        return EX_DATAERR
    finally:
        engine.dispose()
    out = getattr(sys.stdout, "buffer", None) if args.excel else None
    if out is not None:
        # bytes, whatever the terminal's locale: the BOM and the Cyrillic must reach the file as UTF-8
        sys.stdout.flush()
        out.write(text.encode("utf-8"))
        out.flush()
    else:
        sys.stdout.write(text)
    return 0


def _zone_arg(text: str) -> tzinfo:
    """argparse type of ``--tz``: the error names the option (argparse adds 'argument --tz:')."""
    from ccagent.app.reports import parse_zone

    try:
        return parse_zone(text, option="time zone")
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc).removeprefix("time zone: ")) from None


def _cmd_run(args: argparse.Namespace) -> int:
    from ccagent.app.bootstrap import run_daemon

    config = _load(args)
    return run_daemon(config, source=getattr(args, "config_source", None) or find_config(args.config))


def _cmd_demo(args: argparse.Namespace) -> int:
    from ccagent.app.demo import run_demo

    return run_demo(
        pbx=args.pbx, db_path=args.db_path, calls=args.calls, seconds=args.seconds, seed=args.seed
    )


def _positive(kind: type[int] | type[float]) -> Callable[[str], float]:
    """argparse type: a finite number above 0 (a demo of -5 calls or nan seconds is a usage error)."""

    def parse(text: str) -> float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
        if not (value > 0 and math.isfinite(value)):
            raise argparse.ArgumentTypeError(f"must be above 0, got {text!r}")
        return value

    return parse


class _Parser(argparse.ArgumentParser):
    """argparse with the sysexits code for a usage error (64, as every other refusal of ccagent
    follows sysexits) instead of argparse's 2; subcommand parsers inherit the class."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(EX_USAGE, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="ccagent", description="Contact-centre agent daemon for Asterisk/FreeSWITCH")
    p.add_argument("--version", action="version", version=f"ccagent {package_version()}")
    p.add_argument(
        "-c",
        "--config",
        dest="global_config",
        metavar="CONFIG",
        help=f"YAML config file for any command (default: ${CONFIG_ENV}, else /etc/ccagent/ccagent.yaml "
        "when it exists, else the built-in defaults)",
    )
    p.add_argument(
        "--log-level",
        default=None,
        type=str.upper,
        choices=("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"),
        help="DEBUG, INFO, WARNING, ERROR or CRITICAL (default: config or INFO)",
    )
    p.add_argument(
        "--log-format",
        default=None,
        choices=("auto", "journal", "plain"),
        help="journal: sd-daemon priority prefixes, no time; plain: a time, no prefix; "
        "auto: journal when stderr is the journal (default: config or auto)",
    )
    sub = p.add_subparsers(dest="command", required=True)

    def with_config(sp: argparse.ArgumentParser) -> None:
        sp.add_argument(
            "-c",
            "--config",
            help=f"YAML config file (default: ${CONFIG_ENV}, else /etc/ccagent/ccagent.yaml, else built-in)",
        )

    sp = sub.add_parser("run", help="run the daemon against the configured PBX")
    with_config(sp)
    sp.set_defaults(func=_cmd_run)

    sp = sub.add_parser("check-config", help="validate a config file and print it with secrets masked")
    sp.add_argument("file", nargs="?", help="YAML config file")
    sp.set_defaults(func=_cmd_check_config)

    sp = sub.add_parser("db", help="database maintenance")
    dbsub = sp.add_subparsers(dest="db_command", required=True)
    up = dbsub.add_parser("upgrade", help="apply the schema migrations")
    with_config(up)
    up.add_argument("--db", help="database URL (default: from config)")
    up.set_defaults(func=_cmd_db_upgrade)

    sp = sub.add_parser("ingest", help="feed raw PBX captures (ami.log / esl.log) into the database")
    with_config(sp)
    sp.add_argument("--pbx", choices=pbx_names(), help="default: config pbx.type")
    sp.add_argument("--db", help="database URL (default: from config)")
    sp.add_argument("--project-variable", help="channel variable carrying the project (default: config)")
    sp.add_argument("files", nargs="+", help="capture files; several = successive connections")
    sp.set_defaults(func=_cmd_ingest)

    sp = sub.add_parser(
        "report",
        help="print a report from the database",
        description="Filters combine (all must hold); a repeated filter is any of its values.",
    )
    with_config(sp)
    sp.add_argument("kind", choices=("legs", "calls"))
    sp.add_argument("--db", help="database URL (default: from config)")
    sp.add_argument(
        "--tz",
        type=_zone_arg,
        metavar="ZONE",
        help="IANA time zone for the times shown and for --from/--to without an offset "
        "(default: this machine's zone, from TZ or /etc/localtime)",
    )
    sp.add_argument("--from", dest="date_from", help="start (ISO date/time, in --tz), inclusive")
    sp.add_argument("--to", dest="date_to", help="end (ISO date/time, in --tz), exclusive")
    sp.add_argument("--extension", action="append", help="the leg's extension (calls: any leg); repeatable")
    sp.add_argument(
        "--employee", action="append", help="the mapped employee name (calls: any leg); repeatable"
    )
    sp.add_argument("--queue", action="append", help="the queue (calls: any leg); repeatable")
    sp.add_argument("--project", action="append", help="the outbound project's id; repeatable")
    sp.add_argument(
        "--disposition",
        "--result",
        action="append",
        choices=("answered", "missed", "abandoned", "busy", "no_answer", "failed"),
        metavar="RESULT",
        help="answered, missed, abandoned, busy, no_answer or failed (calls: the call's result, "
        "legs: the leg's); repeatable",
    )
    fmt = sp.add_mutually_exclusive_group()
    fmt.add_argument("--format", choices=("table", "csv", "json"), default=None, help="default: table")
    fmt.add_argument(
        "--excel",
        action="store_true",
        help="CSV for Excel (ru/uk locales): UTF-8 with BOM, ';', decimal comma, formula-safe cells",
    )
    sp.set_defaults(func=_cmd_report)

    sp = sub.add_parser("demo", help="simulated PBX + daemon + SQLite: a compressed busy hour")
    sp.add_argument("--pbx", choices=pbx_names(), default=pbx_names()[0])
    sp.add_argument(
        "--db-path", default="ccagent-demo.db", help="SQLite file to create (default: %(default)s)"
    )
    sp.add_argument(
        "--calls", type=_positive(int), default=120, help="calls in the busy hour (default: %(default)s)"
    )
    sp.add_argument(
        "--seconds", type=_positive(float), default=30.0, help="wall-clock length (default: %(default)s)"
    )
    sp.add_argument("--seed", type=int, default=7)
    sp.set_defaults(func=_cmd_demo)
    __import__("ccagent.app.project_cli", fromlist=["register"]).register(sub)
    __import__("ccagent.app.agent_cli", fromlist=["register"]).register(sub)
    __import__("ccagent.app.files", fromlist=["register"]).register(sub)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    source: ConfigSource | None = None
    config: Config | None = None
    if args.command != "demo":  # the demo runs on its own simulated PBX and database
        explicit = getattr(args, "config", None) or args.global_config
        if args.command == "check-config":
            explicit = args.file = args.file or explicit
        source = args.config_source = find_config(explicit)
        # the commands read ``args.config``: the one config found here, whichever way it was named
        args.config = str(source.path) if source.path is not None else None
        with contextlib.suppress(ConfigError):  # the command itself reports config errors
            config = load_config(source.path)
    _setup_logging(args.log_level or (config.daemon.log_level if config else "INFO"), config, args.log_format)
    try:
        if config is not None and source is not None:
            refused = _database_check(args, config, source)
            if refused is not None:
                return refused
        return int(args.func(args))
    except ConfigError as exc:
        for line in exc.errors:
            print(line, file=sys.stderr)
        return EX_CONFIG
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        from ccagent.storage.db import explain_error

        explained = explain_error(exc)
        if explained is None:
            raise
        code, reason, _transient = explained
        # a URL that did not parse is quoted whole in the reason: mask the one this command used
        for url in {getattr(args, "db", None), config.database.url if config else None} - {None}:
            reason = reason.replace(str(url), redact_url(str(url)))
        print(f"ccagent {args.command}: database {reason}", file=sys.stderr)
        return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
