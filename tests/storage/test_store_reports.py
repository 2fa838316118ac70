"""Report queries over the views and their rendering (R-REP-2, R-REP-3)."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import Engine

from ccagent.app.reports import (
    display_width,
    parse_time_bound,
    query_calls,
    query_legs,
    render,
    report,
)
from ccagent.core.legs.model import Disposition
from ccagent.storage.repositories import CallStore

DAY = datetime(2024, 5, 1, tzinfo=UTC)


@pytest.fixture
def filled(store: CallStore, build: Any) -> Engine:
    t0 = build.T0  # 2024-05-01T10:00Z
    calls = [
        build.record("early", (build.leg("early", 0, started_at=t0 - 86400, extension="101"),)),
        build.record(
            "xfer",
            (
                build.leg("xfer", 0, started_at=t0, extension="101", employee="Ivan"),
                build.leg(
                    "xfer", 1, started_at=t0 + 40, extension="102", transfer_from_leg=0, transfer_kind="blind"
                ),
            ),
        ),
        build.record("miss", (build.leg("miss", 0, started_at=t0 + 3600, answered=False, extension="103"),)),
        build.record("late", (build.leg("late", 0, started_at=t0 + 86400, extension="102"),)),
    ]
    store.save_calls(calls)
    return store.engine


def test_R_REP_3_legs_period_is_half_open_and_ordered(filled: Engine) -> None:
    rows = query_legs(filled, date_from=DAY, date_to=DAY + timedelta(days=1))
    assert [(r["call_id"], r["leg_seq"]) for r in rows] == [("xfer", 0), ("xfer", 1), ("miss", 0)]
    at_end = query_legs(
        filled, date_from=DAY + timedelta(hours=11), date_to=DAY + timedelta(days=1, hours=10)
    )
    assert [r["call_id"] for r in at_end] == ["miss"]  # 'late' starts exactly at date_to: excluded


def test_R_REP_3_legs_filters_by_extension_and_disposition(filled: Engine) -> None:
    assert [r["call_id"] for r in query_legs(filled, extension="102")] == ["xfer", "late"]
    assert [r["call_id"] for r in query_legs(filled, disposition=Disposition.MISSED)] == ["miss"]
    assert query_legs(filled, extension="102", disposition="missed") == []


def test_R_REP_3_period_bounds_in_other_zones_are_instants(filled: Engine) -> None:
    kyiv = timezone(timedelta(hours=3))
    rows = query_legs(filled, date_from=datetime(2024, 5, 1, 13, 0, 1, tzinfo=kyiv))  # 10:00:01Z
    assert [(r["call_id"], r["leg_seq"]) for r in rows] == [("xfer", 1), ("miss", 0), ("late", 0)]


def test_R_REP_3_calls_extension_filter_matches_any_leg(filled: Engine) -> None:
    rows = query_calls(filled, extension="102")
    assert [r["call_id"] for r in rows] == ["xfer", "late"]
    assert rows[0]["legs_count"] == 2 and rows[0]["last_extension"] == "102"
    assert [r["call_id"] for r in query_calls(filled, disposition="missed", date_from=DAY)] == ["miss"]


def test_naive_period_bounds_are_refused(filled: Engine) -> None:
    with pytest.raises(ValueError, match="date_from"):
        query_legs(filled, date_from=datetime(2024, 5, 1))


def test_R_REP_3_csv_has_header_and_iso_utc_times(filled: Engine) -> None:
    out = report(filled, "legs", "csv", date_from=DAY, date_to=DAY + timedelta(days=1))
    rows = list(csv.DictReader(io.StringIO(out)))
    assert len(rows) == 3
    assert rows[0]["started_at"] == "2024-05-01T10:00:00Z"
    assert rows[0]["answered"] == "true" and rows[2]["answered"] == "false"
    assert rows[0]["caller_name"] == "Иван Петров"
    assert rows[1]["transfer_from_leg"] == "0" and rows[0]["transfer_from_leg"] == ""
    assert float(rows[0]["ring_s"]) == 5.25


def test_R_REP_3_json_is_a_list_of_objects(filled: Engine) -> None:
    data = json.loads(report(filled, "calls", "json", extension="101"))
    assert [d["call_id"] for d in data] == ["early", "xfer"]
    assert data[1]["started_at"] == "2024-05-01T10:00:00Z"
    assert data[1]["caller_name"] == "Иван Петров"
    assert data[1]["first_employee"] == "Ivan" and data[1]["reconciled"] is False


def test_R_REP_3_table_aligns_unicode_columns() -> None:
    rows = [
        {"name": "Иван Петров", "ext": "101", "talk_s": 5.5, "when": datetime(2024, 5, 1, 10, tzinfo=UTC)},
        {"name": "王小明", "ext": "10222", "talk_s": 120.0, "when": None},
        {"name": "a\x1b[31mb\nc", "ext": None, "talk_s": None, "when": None},
    ]
    lines = render(rows, "table").splitlines()
    header, rule, body, footer = lines[0], lines[1], lines[2:-1], lines[-1]
    assert header.split() == ["name", "ext", "talk_s", "when"]
    assert [len(group) for group in rule.split("  ")] == [11, 5, 6, 19]
    assert footer == "(3 rows)" and len(body) == 3
    # columns start at the same terminal cell whatever the script (Cyrillic 1 cell, CJK 2 cells)
    assert display_width(body[0][: body[0].index("101")]) == 13
    assert display_width(body[1][: body[1].index("10222")]) == 13
    # numbers are right-aligned under their header
    talk_end = display_width(header[: header.index("talk_s") + len("talk_s")])
    assert display_width(body[0][: body[0].index("5.5") + 3]) == talk_end
    assert display_width(body[1][: body[1].index("120.0") + 5]) == talk_end
    assert body[0].endswith("2024-05-01 10:00:00")
    # PBX-supplied text cannot break the layout or inject terminal escapes
    assert "\x1b" not in body[2] and body[2].startswith("a [31mb c")


def test_display_width_counts_terminal_cells() -> None:
    assert display_width("Иван") == 4
    assert display_width("王小明") == 6
    assert display_width("e\u0301") == 1


def test_render_empty_and_unknown_format() -> None:
    assert render([], "table") == "(no rows)\n"
    assert json.loads(render([], "json")) == []
    assert render([], "csv", ["a", "b"]) == "a,b\r\n"
    with pytest.raises(ValueError, match="format"):
        render([{"a": 1}], "xml")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-05-01", datetime(2024, 5, 1, tzinfo=UTC)),
        ("2024-05-01T12:30:00Z", datetime(2024, 5, 1, 12, 30, tzinfo=UTC)),
        ("2024-05-01T15:30:00+03:00", datetime(2024, 5, 1, 12, 30, tzinfo=UTC)),
    ],
)
def test_parse_time_bound(text: str, expected: datetime) -> None:
    assert parse_time_bound(text) == expected


def test_parse_time_bound_names_the_option() -> None:
    with pytest.raises(ValueError, match="--from"):
        parse_time_bound("yesterday", "--from")


@pytest.mark.parametrize("text", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:00:00-05:00"])
def test_R_REP_2_a_bound_beyond_the_calendar_is_a_clear_error(text: str) -> None:
    with pytest.raises(ValueError, match=r"--to: .* is out of range"):
        parse_time_bound(text, "--to")
