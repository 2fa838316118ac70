"""``ccagent report legs|calls``: read the report views and render them (SPEC R-REP-2, R-REP-3).

Reports read the documented views, never the tables, so what staff see in
``psql`` and what the CLI prints are the same columns.  Periods are half-open
``[date_from, date_to)`` on the start time, in UTC.
"""

from __future__ import annotations

import csv
import io
import json
import unicodedata
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Literal

from sqlalchemy import Engine, Select, exists, select

from ccagent.storage.views import report_call_legs, report_calls

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


def parse_time_bound(text: str, name: str = "time") -> datetime:
    """CLI ``--from/--to``: ``YYYY-MM-DD`` or an ISO datetime; no zone given means UTC."""
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    except ValueError:
        raise ValueError(f"{name}: expected YYYY-MM-DD or an ISO 8601 time, got {text!r}") from None
    except OverflowError:  # 0001-01-01 east of UTC, 9999-12-31 west of it
        raise ValueError(f"{name}: {text!r} is out of range") from None


def _aware(value: datetime | None, name: str) -> datetime | None:
    if value is None:
        return None
    if value.tzinfo is None:
        raise ValueError(f"{name}: give a time zone (e.g. 2024-05-01T00:00:00+00:00)")
    return value.astimezone(UTC)


def _rows(engine: Engine, stmt: Select[Any]) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        return [dict(row) for row in conn.execute(stmt).mappings()]


def _period(stmt: Select[Any], v: Any, date_from: datetime | None, date_to: datetime | None) -> Select[Any]:
    """Half-open ``[date_from, date_to)`` on the start time, aware datetimes only."""
    if (start := _aware(date_from, "date_from")) is not None:
        stmt = stmt.where(v.c.started_at >= start)
    if (end := _aware(date_to, "date_to")) is not None:
        stmt = stmt.where(v.c.started_at < end)
    return stmt


def query_legs(
    engine: Engine,
    *,
    date_from: datetime | None = None,
    date_to: datetime | None = None,
    extension: str | None = None,
    disposition: str | None = None,
) -> list[dict[str, Any]]:
    """Rows of ``report_call_legs`` started in ``[date_from, date_to)``, oldest first."""
    v = report_call_legs
    stmt = _period(select(v), v, date_from, date_to)
    if extension is not None:
        stmt = stmt.where(v.c.extension == extension)
    if disposition is not None:
        stmt = stmt.where(v.c.disposition == disposition)
    return _rows(engine, stmt.order_by(v.c.started_at, v.c.call_id, v.c.leg_seq))


def query_calls(
    engine: Engine,
    *,
    date_from: datetime | None = None,
    date_to: datetime | None = None,
    extension: str | None = None,
    disposition: str | None = None,
) -> list[dict[str, Any]]:
    """Rows of ``report_calls``; ``extension`` keeps calls with any leg on that extension."""
    v = report_calls
    stmt = _period(select(v), v, date_from, date_to)
    if extension is not None:
        legs = report_call_legs
        stmt = stmt.where(exists().where(legs.c.call_id == v.c.call_id).where(legs.c.extension == extension))
    if disposition is not None:
        stmt = stmt.where(v.c.disposition == disposition)
    return _rows(engine, stmt.order_by(v.c.started_at, v.c.call_id))


# --- rendering ---------------------------------------------------------------------------------------------


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    return value


def _text_value(value: Any, *, for_table: bool) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return ("yes" if value else "no") if for_table else ("true" if value else "false")
    if isinstance(value, datetime):
        value = value.astimezone(UTC)
        if for_table:
            return value.strftime("%Y-%m-%d %H:%M:%S")
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, float):
        return f"{value:.1f}" if for_table else repr(round(value, 3))
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    return str(value)


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


def render(rows: Sequence[dict[str, Any]], fmt: Format, columns: Sequence[str] | None = None) -> str:
    """Rows as an aligned text table, CSV (header row, RFC 4180) or a JSON list of objects (UTC ISO times)."""
    cols = list(columns) if columns is not None else (list(rows[0]) if rows else [])
    if fmt == "json":
        return json.dumps(
            [{c: _json_value(row.get(c)) for c in cols} for row in rows], ensure_ascii=False, indent=2
        )
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\r\n")
        writer.writerow(cols)
        for row in rows:
            writer.writerow([_text_value(row.get(c), for_table=False) for c in cols])
        return buf.getvalue()
    if fmt == "table":
        if not cols:
            return "(no rows)\n"
        cells = [[_sanitize_cell(_text_value(row.get(c), for_table=True)) for c in cols] for row in rows]
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
        lines.append(f"({len(rows)} row{'s' if len(rows) != 1 else ''})")
        return "\n".join(lines) + "\n"
    raise ValueError(f"format: must be one of {', '.join(FORMATS)}, not {fmt!r}")


def report(
    engine: Engine,
    kind: Literal["legs", "calls"],
    fmt: Format = "table",
    *,
    date_from: datetime | None = None,
    date_to: datetime | None = None,
    extension: str | None = None,
    disposition: str | None = None,
) -> str:
    """What ``ccagent report legs|calls`` prints; the CLI only parses arguments and opens the engine."""
    query = {"legs": query_legs, "calls": query_calls}[kind]
    rows = query(engine, date_from=date_from, date_to=date_to, extension=extension, disposition=disposition)
    columns = TABLE_COLUMNS[kind] if fmt == "table" else tuple(c.name for c in _VIEW_OF[kind].columns)
    return render(rows, fmt, columns)


_VIEW_OF = {"legs": report_call_legs, "calls": report_calls}
