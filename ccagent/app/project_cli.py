"""``ccagent project list|show|create|edit|copy|start|pause|complete|delete|import|report`` (R-PRJ-1..9).

Argument parsing and printing only; the work is in ``ProjectService`` and
``import_contacts``.  Exit codes: 0 done, 65 refused input (bad value, action
not allowed in this status, unreadable file), 66 no such project.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
from os import EX_DATAERR, EX_NOINPUT
from typing import Any


def _value(text: str) -> Any:
    """``--set key=value``: the value is JSON when it parses as JSON, else text."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def _settings(pairs: list[str] | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--set {pair!r}: expected key=value")
        out[key.strip()] = _value(value)
    return out


def _service(args: argparse.Namespace) -> Any:
    from ccagent.app.projects import ProjectService, RulesDefaults
    from ccagent.config import load_config
    from ccagent.core.dialing_rules import CallingHours
    from ccagent.storage import db
    from ccagent.storage.projects_repo import ProjectRepo

    config = load_config(getattr(args, "config", None))
    engine = db.make_engine(args.db or config.database.url)
    db.upgrade(engine)
    pc = config.projects
    defaults = RulesDefaults(
        default_region=pc.default_region,
        default_time_zone=pc.default_time_zone,
        calling_hours=CallingHours.parse(pc.calling_hours),
        max_attempts=pc.max_attempts,
    )
    return ProjectService(ProjectRepo(engine), defaults=defaults)


def _fmt(v: Any) -> str:
    if v is None:
        return ""
    if hasattr(v, "isoformat"):
        return v.astimezone().strftime("%Y-%m-%d %H:%M")
    if isinstance(v, float):
        return f"{v:.1f}"
    return str(v)


def _table(rows: list[dict[str, Any]], columns: list[str]) -> str:
    cells = [[_fmt(r[c]) for c in columns] for r in rows]
    widths = [max([len(c), *(len(row[i]) for row in cells)]) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True))]
    lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)) for row in cells]
    return "\n".join(lines) + "\n"


def _render(rows: list[dict[str, Any]], columns: list[str], fmt: str) -> str:
    if fmt == "json":
        return json.dumps(rows, default=lambda v: v.isoformat() if hasattr(v, "isoformat") else str(v),
                          ensure_ascii=False, indent=2) + "\n"  # fmt: skip
    if fmt == "csv":
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=columns, extrasaction="ignore")
        w.writeheader()
        for r in rows:
            w.writerow({k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in r.items()})
        return buf.getvalue()
    return _table(rows, columns)


LIST_COLUMNS = [
    "project_id",
    "status",
    "name",
    "type",
    "started_at",
    "completed_at",
    "contacts",
    "processed_pct",
]


def _figures_rows(figs: list[Any]) -> list[dict[str, Any]]:
    from dataclasses import asdict

    return [asdict(f) for f in figs]


def _cmd(args: argparse.Namespace) -> int:
    from ccagent.app.contacts_import import ImportFileError, import_contacts
    from ccagent.app.projects import UnknownProject
    from ccagent.core.projects import Action, ProjectError, allowed
    from ccagent.storage.contacts_repo import ContactsRepo

    try:
        svc = _service(args)
        action = args.project_command
        if action == "list":
            sys.stdout.write(_render(_figures_rows(svc.list_projects()), LIST_COLUMNS, args.format))
        elif action in ("show", "report"):
            view = svc.view(args.project)
            rows = _figures_rows([view.figures])
            if args.format != "table":
                sys.stdout.write(_render(rows, list(rows[0]), args.format))
                return 0
            p = view.project
            f = view.figures
            print(f"{p.id}: {p.name} [{p.type.value}{'/' + p.mode.value if p.mode else ''}] {p.status.value}"
                  + (f" ({p.error_reason})" if p.error_reason else ""))  # fmt: skip
            print(
                f"queue {p.queue or '-'}  caller ID {p.caller_id or '-'}  "
                f"settings {json.dumps(dict(p.settings), ensure_ascii=False)}"
            )
            print(f"contacts {f.contacts}: reached {f.reached}, not reached {f.not_reached}, "
                  f"will call again {f.will_call_again}, not called {f.not_called}; attempts {f.attempts}; "
                  f"processed {_fmt(f.processed_pct) or '-'} %")  # fmt: skip
            for a in view.agents:
                wait = "-" if a.wait_s is None else f"{a.wait_s:.0f} s"
                print(f"  agent {a.extension} {a.employee or ''} [{a.status or '-'}]: {a.calls} calls, "
                      f"talk {a.talk_s:.0f} s, waiting {wait}")  # fmt: skip
        elif action == "create":
            p = svc.create(args.id, args.name, args.type, mode=args.mode, queue=args.queue,
                           caller_id=args.caller_id, settings=_settings(args.set))  # fmt: skip
            print(f"project {p.id} created ({p.status.value})")
        elif action == "edit":
            changes: dict[str, Any] = {k: getattr(args, k) for k in ("name", "queue", "caller_id", "mode")
                                       if getattr(args, k) is not None}  # fmt: skip
            if args.set:
                changes["settings"] = _settings(args.set)
            p = svc.edit(args.project, changes)
            print(f"project {p.id} edited")
        elif action == "copy":
            p = svc.copy(args.project, args.new_id, name=args.name)
            print(f"project {p.id} created as a copy of {args.project}")
        elif action in ("start", "pause", "complete", "delete"):
            p = getattr(svc, action)(args.project)
            print(f"project {p.id}: {'deleted' if action == 'delete' else p.status.value}")
        elif action == "import":
            project = svc.get(args.project)
            if not allowed(Action.UPLOAD, project.status):
                raise ProjectError(
                    f"project {project.id}: cannot upload contacts to a {project.status.value} project"
                )
            progress = _progress_bar() if sys.stderr.isatty() and not args.quiet else None
            rep = import_contacts(ContactsRepo(svc.repo.engine), args.file, project_id=project.id,
                                  default_region=svc.defaults.default_region, progress=progress)  # fmt: skip
            if progress:
                sys.stderr.write("\n")
            for err in rep.errors:
                print(f"{args.file}: {err}", file=sys.stderr)
            if rep.bad_rows > len(rep.errors):
                print(f"... {rep.bad_rows - len(rep.errors)} more bad rows", file=sys.stderr)
            print(f"{args.file}: {rep.rows} rows ({rep.format}, {rep.encoding or '-'}, delimiter "
                  f"{rep.delimiter!r}, phone column {rep.phone_column!r}): {rep.created} new contacts, "
                  f"{rep.merged} merged with the base, {rep.duplicates} duplicates in the file, "
                  f"{rep.bad_rows} bad rows; {rep.added_to_project} added to {project.id}, "
                  f"{rep.already_in_project} already in it")  # fmt: skip
            if rep.rows and rep.bad_rows == rep.rows:
                # a wrong column layout or region makes every row bad: a script must not take
                # that for a successful upload
                print(f"{args.file}: every row is bad, nothing was imported", file=sys.stderr)
                return EX_DATAERR
        return 0
    except UnknownProject as exc:
        print(str(exc), file=sys.stderr)
        return EX_NOINPUT
    except (ProjectError, ImportFileError, ValueError) as exc:
        print(str(exc), file=sys.stderr)
        return EX_DATAERR


def _progress_bar() -> Any:
    def show(rows: int, fraction: float | None) -> None:
        if fraction is None:
            sys.stderr.write(f"\r{rows} rows")
        else:
            done = int(fraction * 30)
            sys.stderr.write(f"\r[{'#' * done}{'.' * (30 - done)}] {fraction * 100:5.1f}% {rows} rows")
        sys.stderr.flush()

    return show


def register(subparsers: Any) -> None:
    """Add ``ccagent project ...`` to the top-level parser's subparsers."""
    from ccagent.core.projects import DialMode, ProjectType

    sp = subparsers.add_parser("project", help="outbound projects: list, create, start, import contacts...")
    sub = sp.add_subparsers(dest="project_command", required=True)

    def common(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
        p.add_argument("-c", "--config", help="YAML config file (default: built-in defaults)")
        p.add_argument("--db", help="database URL (default: from config)")
        p.set_defaults(func=_cmd)
        return p

    p = common(sub.add_parser("list", help="projects with status, dates, contacts, %% processed"))
    p.add_argument("--format", choices=("table", "csv", "json"), default="table")
    for name, text in (
        ("show", "a project: status, contact states, agents"),
        ("report", "figures of a project"),
    ):
        p = common(sub.add_parser(name, help=text))
        p.add_argument("project")
        p.add_argument("--format", choices=("table", "csv", "json"), default="table")
    p = common(sub.add_parser("create", help="a new draft project"))
    p.add_argument("id", help="short key (letters, digits . _ -): the channel variable's value")
    p.add_argument("name")
    p.add_argument("--type", choices=[t.value for t in ProjectType], default=ProjectType.OPERATORS.value)
    p.add_argument("--mode", choices=[m.value for m in DialMode])
    p.add_argument("--queue")
    p.add_argument("--caller-id")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="a setting (JSON value), repeatable")
    p = common(sub.add_parser("edit", help="change name, queue, caller ID, mode or settings"))
    p.add_argument("project")
    p.add_argument("--name")
    p.add_argument("--mode", choices=[m.value for m in DialMode])
    p.add_argument("--queue")
    p.add_argument("--caller-id")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="a setting (JSON value; null removes)")
    p = common(sub.add_parser("copy", help="a new draft with the same settings"))
    p.add_argument("project")
    p.add_argument("new_id", nargs="?")
    p.add_argument("--name")
    for name in ("start", "pause", "complete", "delete"):
        p = common(sub.add_parser(name, help=f"{name} a project"))
        p.add_argument("project")
    p = common(sub.add_parser("import", help="load contacts from a CSV or XLSX file into a project"))
    p.add_argument("project")
    p.add_argument("file")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
