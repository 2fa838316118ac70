"""Compare what ccagent stored (report_call_legs / report_calls) with a capture's legs.json.

Shared by the offline-ingest and live-daemon acceptance tests (R-PBX-4, R-LEG-4):
exact fields, ring_s / talk_s within 1 s.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text

TRACES = Path(__file__).resolve().parents[1] / "traces"
EXACT = (
    "caller",
    "callee",
    "agent",
    "direction",
    "answered",
    "disposition",
    "transfer_from_leg",
    "transfer_kind",
    "role",
)
OPTIONAL = ("queue", "project", "caller_name", "recording")
TOLERANCE_S = 1.0


def folders(pbx: str) -> list[str]:
    return sorted(p.name for p in (TRACES / pbx).iterdir() if p.is_dir())


def capture_files(folder: Path) -> list[Path]:
    """``ami.log`` then ``ami.2.log`` (or ``esl.log`` then ``esl.reconnect.log``): connection order."""
    logs = [p for p in folder.iterdir() if p.suffix == ".log" and p.stem.split(".")[0] in ("ami", "esl")]
    return sorted(logs, key=lambda p: (len(p.name), p.name))


def expected(folder: Path) -> dict[str, Any]:
    return json.loads((folder / "legs.json").read_text(encoding="utf-8"))


def stored(db_url: str) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]]]:
    engine = create_engine(db_url)
    try:
        with engine.connect() as conn:
            legs = [
                dict(r._mapping)
                for r in conn.execute(text("SELECT * FROM report_call_legs ORDER BY call_id, leg_seq"))
            ]
            calls = {r.call_id: dict(r._mapping) for r in conn.execute(text("SELECT * FROM report_calls"))}
    finally:
        engine.dispose()
    return legs, calls


def mismatches(
    exp: dict[str, Any], legs: list[dict[str, Any]], calls: dict[str, dict[str, Any]]
) -> list[str]:
    """Every difference between legs.json and the stored rows, as readable lines (empty = equal)."""
    problems: list[str] = []
    by_call: dict[str, list[dict[str, Any]]] = {}
    for row in legs:
        by_call.setdefault(row["call_id"], []).append(row)
    want_ids = [c["call_id"] for c in exp["calls"]]
    extra = sorted(set(by_call) - set(want_ids))
    if extra:
        problems.append(f"unexpected calls stored: {extra}")
    for call in exp["calls"]:
        cid = call["call_id"]
        rows = by_call.get(cid, [])
        if len(rows) != len(call["legs"]):
            problems.append(f"{cid}: {len(rows)} legs stored, {len(call['legs'])} expected")
            continue
        crow = calls.get(cid)
        if crow is None:
            problems.append(f"{cid}: no report_calls row")
        else:
            for key in ("direction", "disposition"):
                if crow[key] != call[key]:
                    problems.append(f"{cid}: call {key} {crow[key]!r} != {call[key]!r}")
            if "results" in call:
                got_results = crow["results"]
                if isinstance(got_results, str):
                    got_results = json.loads(got_results)
                wanted = call["results"]
                if {k: (got_results or {}).get(k) for k in wanted} != wanted:
                    problems.append(f"{cid}: results {got_results!r} != {wanted!r}")
        for i, (row, want) in enumerate(zip(rows, call["legs"], strict=True)):
            got = dict(row, agent=row["extension"], answered=bool(row["answered"]))
            if row["leg_seq"] != i:
                problems.append(f"{cid} leg {i}: leg_seq {row['leg_seq']}")
            for key in EXACT:
                if got[key] != want[key]:
                    problems.append(f"{cid} leg {i}: {key} {got[key]!r} != {want[key]!r}")
            for key in OPTIONAL:
                if key in want and got[key] != want[key]:
                    problems.append(f"{cid} leg {i}: {key} {got[key]!r} != {want[key]!r}")
            for key in ("ring_s", "talk_s"):
                if abs(float(got[key]) - float(want[key])) > TOLERANCE_S:
                    problems.append(f"{cid} leg {i}: {key} {got[key]} vs {want[key]} (> {TOLERANCE_S} s)")
    return problems
