"""``ccagent report legs|calls``: read the report views and render them (SPEC R-REP-2, R-REP-3).

Reports read the documented views, never the tables (``storage/reports_repo.py`` holds the SQL).
Periods are half-open ``[date_from, date_to)`` on the start time.  The database keeps UTC
instants; a report shows them, and reads dates without a zone, in ONE zone (``--tz``, default
the machine's), so a day's report means that day on the office's wall clock.

``--excel`` is CSV for a spreadsheet opened by double-click, not for scripts: UTF-8 with a BOM
(Excel reads BOM-less UTF-8 as the ANSI code page and garbles Cyrillic), ``;`` between cells and
a decimal comma (what Excel expects in ru/uk/de locales, where ``,`` is the decimal separator),
times without the ``T`` and offset so Excel takes them as date-times, and formula-safe text cells
(OWASP CSV injection: a caller name is PBX-supplied, i.e. anyone who can call chooses it).
Plain CSV stays exact (RFC 4180, ``,``, ISO times, values untouched) for scripts and BI imports.
"""

from __future__ import annotations

import csv
import io
import json
import os
import unicodedata
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ccagent.storage.reports_repo import ReportFilters, ReportRepo
from ccagent.storage.views import report_call_legs, report_calls

if TYPE_CHECKING:  # the SQL is the repository's; this module only passes the engine on
    from sqlalchemy import Engine

Format = Literal["table", "csv", "json"]
FORMATS: tuple[str, ...] = ("table", "csv", "json")

#: Columns shown by the ``table`` format (the full width is in csv/json).
TABLE_COLUMNS: dict[str, tuple[str, ...]] = {
    "legs": (
        "call_id",
        "leg_seq",
        "started_at",
        "direction",
        "caller",
        "caller_name",
        "callee",
        "extension",
        "employee",
        "disposition",
        "ring_s",
        "talk_s",
        "transfer_from_leg",
        "transfer_kind",
        "role",
        "queue",
    ),
    "calls": (
        "call_id",
        "started_at",
        "direction",
        "disposition",
        "caller",
        "caller_name",
        "callee",
        "queue",
        "legs_count",
        "ring_s",
        "talk_s",
        "first_extension",
        "first_employee",
        "last_extension",
        "last_employee",
    ),
}


def zone_name(tz: tzinfo) -> str:
    """How a report names its zone: the IANA key when there is one (``Europe/Kyiv``)."""
    key = getattr(tz, "key", None)
    return key if isinstance(key, str) else (tz.tzname(None) or str(tz))


def parse_zone(name: str, option: str = "--tz") -> ZoneInfo:
    """An IANA zone name (``Europe/Kyiv``, ``UTC``); anything else is an error naming the option."""
    try:
        return ZoneInfo(name.strip())
    except (ZoneInfoNotFoundError, ValueError, OSError):  # ValueError: '../x', absolute paths
        raise ValueError(
            f"{option}: unknown time zone {name!r} (an IANA name such as Europe/Kyiv, Europe/Moscow or UTC)"
        ) from None


def local_zone(environ: Mapping[str, str] | None = None, localtime: Path = Path("/etc/localtime")) -> tzinfo:
    """The machine's zone with its DST rules, as the C library finds it: ``TZ`` (set but empty
    means UTC), else ``/etc/localtime`` (by the name it links to, else its content), else UTC.

    ``datetime.astimezone()`` alone would give today's fixed offset, which is wrong by an hour for
    half of the year's rows where the zone has summer time.
    """
    env = os.environ if environ is None else environ
    if "TZ" in env and not env["TZ"].strip(":"):
        return UTC
    tz_env = env.get("TZ", "").removeprefix(":")
    if tz_env:
        try:
            if tz_env.startswith("/"):
                with open(tz_env, "rb") as fh:
                    return ZoneInfo.from_file(fh, key=tz_env)
            return ZoneInfo(tz_env)
        except (ZoneInfoNotFoundError, ValueError, OSError):
            # a POSIX rule string such as 'EET-2': the C library's offset for now is the best known
            return datetime.now().astimezone().tzinfo or UTC
    try:
        target = str(localtime.resolve())
        if "/zoneinfo/" in target:
            return ZoneInfo(target.split("/zoneinfo/", 1)[1].removeprefix("posix/"))
    except (ZoneInfoNotFoundError, ValueError, OSError):
        pass
    try:
        with localtime.open("rb") as fh:
            return ZoneInfo.from_file(fh, key="localtime")
    except (ValueError, OSError):
        return UTC


def parse_time_bound(text: str, name: str = "time", tz: tzinfo = UTC) -> datetime:
    """CLI ``--from/--to``: ``YYYY-MM-DD`` or an ISO datetime; without an offset it is a wall-clock
    time in ``tz`` (a date is its midnight there)."""
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
        return value.replace(tzinfo=tz).astimezone(UTC) if value.tzinfo is None else value.astimezone(UTC)
    except ValueError:
        raise ValueError(f"{name}: expected YYYY-MM-DD or an ISO 8601 time, got {text!r}") from None
    except OverflowError:  # 0001-01-01 east of UTC, 9999-12-31 west of it
        raise ValueError(f"{name}: {text!r} is out of range") from None


def _values(value: str | Sequence[str] | None) -> tuple[str, ...]:
    if value is None:
        return ()
    return (value,) if isinstance(value, str) else tuple(value)


def _filters(
    date_from: datetime | None,
    date_to: datetime | None,
    extension: str | Sequence[str] | None,
    disposition: str | Sequence[str] | None,
    employee: str | Sequence[str] | None,
    queue: str | Sequence[str] | None,
    project: str | Sequence[str] | None,
) -> ReportFilters:
    return ReportFilters(
        date_from=date_from,
        date_to=date_to,
        extensions=_values(extension),
        employees=_values(employee),
        queues=_values(queue),
        projects=_values(project),
        dispositions=_values(disposition),
    )


def query_legs(
    engine: Engine,
    *,
    date_from: datetime | None = None,
    date_to: datetime | None = None,
    extension: str | Sequence[str] | None = None,
    disposition: str | Sequence[str] | None = None,
    employee: str | Sequence[str] | None = None,
    queue: str | Sequence[str] | None = None,
    project: str | Sequence[str] | None = None,
) -> list[dict[str, Any]]:
    """Rows of ``report_call_legs`` started in ``[date_from, date_to)`` matching every filter given
    (a list is any of its values), oldest first."""
    f = _filters(date_from, date_to, extension, disposition, employee, queue, project)
    return ReportRepo(engine).legs(f)


def query_calls(
    engine: Engine,
    *,
    date_from: datetime | None = None,
    date_to: datetime | None = None,
    extension: str | Sequence[str] | None = None,
    disposition: str | Sequence[str] | None = None,
    employee: str | Sequence[str] | None = None,
    queue: str | Sequence[str] | None = None,
    project: str | Sequence[str] | None = None,
) -> list[dict[str, Any]]:
    """Rows of ``report_calls``; extension, employee and queue keep calls with ANY leg matching."""
    f = _filters(date_from, date_to, extension, disposition, employee, queue, project)
    return ReportRepo(engine).calls(f)


# --- rendering ---------------------------------------------------------------------------------------------

#: First characters that make Excel, LibreOffice or Google Sheets read a cell as a formula (OWASP
#: "CSV Injection"; ASVS 1.2.10 adds NUL).  ``-`` and ``+`` included: ``+1+cmd|...`` runs too.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\0")

#: ``--excel``: the cell separator Excel expects where the decimal separator is a comma (ru, uk).
EXCEL_DELIMITER = ";"


def formula_safe(text: str) -> str:
    """A text cell a spreadsheet shows as text: prefixed with ``'`` when it would start a formula."""
    return "'" + text if text.startswith(FORMULA_START) else text


def _iso(value: datetime, tz: tzinfo) -> str:
    return value.astimezone(tz).isoformat().replace("+00:00", "Z")


def _json_value(value: Any, tz: tzinfo) -> Any:
    if isinstance(value, datetime):
        return _iso(value, tz)
    return value


def _text_value(value: Any, *, for_table: bool, tz: tzinfo = UTC) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return ("yes" if value else "no") if for_table else ("true" if value else "false")
    if isinstance(value, datetime):
        if for_table:
            return value.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S")
        return _iso(value, tz)
    if isinstance(value, float):
        return f"{value:.1f}" if for_table else repr(round(value, 3))
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    return str(value)


def _excel_value(value: Any, tz: tzinfo) -> str:
    """A cell as Excel reads it in a decimal-comma locale.  Only text cells are neutralized: the
    numbers, times and booleans ccagent formats itself cannot start a formula, and a number
    prefixed with ``'`` would no longer sum."""
    if isinstance(value, datetime):
        return value.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, float):
        return f"{value:.3f}".rstrip("0").rstrip(".").replace(".", ",")
    if isinstance(value, str | dict | list):
        return formula_safe(_text_value(value, for_table=False))
    return _text_value(value, for_table=False)


def display_width(text: str) -> int:
    """Terminal columns a string takes: wide CJK count 2, combining marks 0 (Cyrillic is 1)."""
    width = 0
    for ch in text:
        if unicodedata.combining(ch) or unicodedata.category(ch) in ("Mn", "Me", "Cf"):
            continue
        width += 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1
    return width


def _pad(text: str, width: int, right: bool) -> str:
    fill = " " * (width - display_width(text))
    return fill + text if right else text + fill


def _sanitize_cell(text: str) -> str:
    # A caller name is PBX-supplied: keep a row on one line and no terminal escapes.
    return "".join(ch if ch.isprintable() else " " for ch in text)


def render(
    rows: Sequence[dict[str, Any]],
    fmt: Format,
    columns: Sequence[str] | None = None,
    *,
    tz: tzinfo | None = None,
    excel: bool = False,
) -> str:
    """Rows as an aligned text table, CSV (header row, RFC 4180) or a JSON list of objects, times
    in ``tz`` (UTC when None; a table then names no zone, else its footer names it).  ``excel``
    (CSV only): BOM, ``;``, decimal comma, formula-safe text cells."""
    zone = UTC if tz is None else tz
    cols = list(columns) if columns is not None else (list(rows[0]) if rows else [])
    if excel and fmt != "csv":
        raise ValueError(f"--excel: writes CSV, not {fmt}")
    if fmt == "json":
        return json.dumps(
            [{c: _json_value(row.get(c), zone) for c in cols} for row in rows], ensure_ascii=False, indent=2
        )
    if fmt == "csv":
        buf = io.StringIO()
        if excel:
            buf.write("\ufeff")
            writer = csv.writer(buf, delimiter=EXCEL_DELIMITER, lineterminator="\r\n")
            writer.writerow(cols)
            for row in rows:
                writer.writerow([_excel_value(row.get(c), zone) for c in cols])
            return buf.getvalue()
        writer = csv.writer(buf, lineterminator="\r\n")
        writer.writerow(cols)
        for row in rows:
            writer.writerow([_text_value(row.get(c), for_table=False, tz=zone) for c in cols])
        return buf.getvalue()
    if fmt == "table":
        if not cols:
            return "(no rows)\n"
        cells = [
            [_sanitize_cell(_text_value(row.get(c), for_table=True, tz=zone)) for c in cols] for row in rows
        ]
        numeric = [
            bool(rows) and all(isinstance(row.get(c), int | float) or row.get(c) is None for row in rows)
            for c in cols
        ]
        widths = [max([display_width(c)] + [display_width(r[i]) for r in cells]) for i, c in enumerate(cols)]
        lines = [
            "  ".join(_pad(c, widths[i], False) for i, c in enumerate(cols)).rstrip(),
            "  ".join("-" * w for w in widths),
        ]
        for r in cells:
            lines.append("  ".join(_pad(v, widths[i], numeric[i]) for i, v in enumerate(r)).rstrip())
        footer = f"({len(rows)} row{'s' if len(rows) != 1 else ''})"
        if tz is not None:
            footer += f" times in {zone_name(tz)}"
        lines.append(footer)
        return "\n".join(lines) + "\n"
    raise ValueError(f"format: must be one of {', '.join(FORMATS)}, not {fmt!r}")


def report(
    engine: Engine,
    kind: Literal["legs", "calls"],
    fmt: Format = "table",
    *,
    date_from: datetime | None = None,
    date_to: datetime | None = None,
    extension: str | Sequence[str] | None = None,
    disposition: str | Sequence[str] | None = None,
    employee: str | Sequence[str] | None = None,
    queue: str | Sequence[str] | None = None,
    project: str | Sequence[str] | None = None,
    tz: tzinfo | None = None,
    excel: bool = False,
) -> str:
    """What ``ccagent report legs|calls`` prints; the CLI only parses arguments and opens the engine.
    ``tz`` is the zone times are shown in; the bounds are instants already (``parse_time_bound``)."""
    query = {"legs": query_legs, "calls": query_calls}[kind]
    rows = query(
        engine,
        date_from=date_from,
        date_to=date_to,
        extension=extension,
        disposition=disposition,
        employee=employee,
        queue=queue,
        project=project,
    )
    columns = TABLE_COLUMNS[kind] if fmt == "table" else tuple(c.name for c in _VIEW_OF[kind].columns)
    return render(rows, fmt, columns, tz=tz, excel=excel)


_VIEW_OF = {"legs": report_call_legs, "calls": report_calls}
