"""CallStore on SQLite and PostgreSQL: idempotent replace-by-call, UTC times, views (R-REP-1/2, R-PBX-5)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Engine, select, text
from sqlalchemy.exc import IntegrityError, OperationalError

from ccagent.core.legs.model import Direction, Disposition, OfferOutcome, Role
from ccagent.core.pbx_events import AgentStatus
from ccagent.storage.repositories import CallStore, save_isolating
from ccagent.storage.views import (
    report_agent_offers,
    report_agent_states,
    report_call_legs,
    report_calls,
    report_missed_calls,
)


def _view(engine: Engine, view: Any, **where: Any) -> list[dict[str, Any]]:
    stmt = select(view)
    for k, v in where.items():
        stmt = stmt.where(view.c[k] == v)
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(stmt).mappings()]


def _transfer_call(build: Any, call_id: str = "c1") -> Any:
    first = build.leg(call_id, 0, extension="101", employee="Ivan")
    second = build.leg(
        call_id, 1, extension="102", employee=None, callee="102", transfer_from_leg=0, transfer_kind="blind"
    )
    offers = (build.offer(call_id, "103"), build.offer(call_id, "101", OfferOutcome.ANSWERED))
    return build.record(call_id, (first, second), offers=offers, results={"order": "42", "note": None})


def test_R_REP_1_round_trip_gives_back_the_same_record(store: CallStore, build: Any) -> None:
    record = _transfer_call(build)
    store.save_calls([record])
    assert store.load_calls(["c1", "missing"]) == [record]


def test_R_PBX_5_saving_again_writes_nothing_new(store: CallStore, build: Any) -> None:
    records = [_transfer_call(build, f"c{i}") for i in range(3)]
    store.save_calls(records)
    store.save_calls(records)
    assert (store.count_calls(), store.count_legs(), store.count_offers()) == (3, 6, 6)


def test_R_PBX_5_refold_replaces_legs_and_offers(store: CallStore, build: Any) -> None:
    store.save_calls([_transfer_call(build)])
    refolded = build.record("c1", (build.leg("c1", 0, extension="105", reconciled=True),), reconciled=True)
    store.save_calls([refolded])
    assert store.load_calls(["c1"]) == [refolded]
    assert (store.count_legs(), store.count_offers()) == (1, 0)


def test_R_PBX_5_same_call_twice_in_one_batch_last_wins(store: CallStore, build: Any) -> None:
    a = build.record("c1")
    b = build.record("c1", (build.leg("c1", 0, extension="109"),))
    store.save_calls([a, b])
    assert store.load_calls(["c1"]) == [b]


def test_R_REP_1_a_batch_is_one_transaction(store: CallStore, build: Any) -> None:
    store.save_calls([build.record("keep")])
    broken = build.record("bad", (build.leg("bad", 0), build.leg("bad", 0)))  # duplicate leg_seq
    with pytest.raises(IntegrityError):
        store.save_calls([build.record("new"), broken])
    assert store.call_ids() == ["keep"]


def test_R_REP_1_times_are_utc_instants_on_both_dialects(
    migrated_engine: Engine, store: CallStore, build: Any
) -> None:
    store.save_calls([build.record("c1")])
    (row,) = _view(migrated_engine, report_call_legs)
    assert row["started_at"] == datetime(2024, 5, 1, 10, 0, 0, tzinfo=UTC)
    assert row["started_at"].utcoffset().total_seconds() == 0
    assert row["answered_at"] == datetime(2024, 5, 1, 10, 0, 5, 250000, tzinfo=UTC)
    assert row["answered"] is True


def test_R_REP_1_deleting_a_call_cascades_to_its_rows(
    migrated_engine: Engine, store: CallStore, build: Any
) -> None:
    store.save_calls([_transfer_call(build)])
    with migrated_engine.begin() as conn:
        conn.execute(text("DELETE FROM calls WHERE call_id = 'c1'"))
    assert (store.count_legs(), store.count_offers()) == (0, 0)


def test_R_REP_2_report_call_legs_one_row_per_leg(
    migrated_engine: Engine, store: CallStore, build: Any
) -> None:
    store.save_calls([_transfer_call(build)])
    rows = sorted(_view(migrated_engine, report_call_legs), key=lambda r: r["leg_seq"])
    assert [(r["leg_seq"], r["extension"], r["employee"]) for r in rows] == [
        (0, "101", "Ivan"),
        (1, "102", None),
    ]
    assert rows[1]["transfer_from_leg"] == 0 and rows[1]["transfer_kind"] == "blind"
    assert rows[0]["caller_name"] == "Иван Петров"
    assert rows[0]["pbx"] == "asterisk"
    assert isinstance(rows[0]["ring_s"], float) and rows[0]["ring_s"] == 5.25


def test_R_REP_2_report_calls_aggregates_legs(migrated_engine: Engine, store: CallStore, build: Any) -> None:
    empty = build.record("c0", ())
    store.save_calls([_transfer_call(build), empty])
    c1 = _view(migrated_engine, report_calls, call_id="c1")[0]
    assert (c1["legs_count"], c1["answered_legs"]) == (2, 2)
    assert c1["talk_s"] == pytest.approx(60.5)
    assert c1["ring_s"] == 5.25
    assert (c1["first_extension"], c1["first_employee"]) == ("101", "Ivan")
    assert (c1["last_extension"], c1["last_employee"]) == ("102", None)
    assert c1["results"] == {"order": "42", "note": None}
    assert c1["reconciled"] is False
    c0 = _view(migrated_engine, report_calls, call_id="c0")[0]
    assert (c0["legs_count"], c0["answered_legs"], c0["talk_s"], c0["first_extension"]) == (0, 0, 0.0, None)


def test_R_REP_2_report_missed_calls_lists_lost_inbound_only(
    migrated_engine: Engine, store: CallStore, build: Any
) -> None:
    missed = build.record(
        "m1",
        (build.leg("m1", 0, answered=False, extension="101", employee="Ivan"),),
        offers=(build.offer("m1", "101"), build.offer("m1", "102")),
    )
    abandoned_leg = build.leg(
        "a1", 0, answered=False, disposition=Disposition.ABANDONED, extension=None, queue="sales", ring_s=12.0
    )
    abandoned = build.record("a1", (abandoned_leg,))
    outbound_leg = build.leg(
        "o1", 0, answered=False, direction=Direction.OUTBOUND, disposition=Disposition.NO_ANSWER
    )
    outbound = build.record("o1", (outbound_leg,))
    store.save_calls([missed, abandoned, outbound, _transfer_call(build)])
    rows = {r["call_id"]: r for r in _view(migrated_engine, report_missed_calls)}
    assert set(rows) == {"m1", "a1"}
    assert (rows["m1"]["disposition"], rows["m1"]["employee"], rows["m1"]["offers_count"]) == (
        "missed",
        "Ivan",
        2,
    )
    assert (rows["a1"]["queue"], rows["a1"]["extension"], rows["a1"]["wait_s"]) == ("sales", None, 12.0)


def test_R_REP_2_report_agent_offers_named_by_mapping(
    migrated_engine: Engine, store: CallStore, build: Any
) -> None:
    store.save_calls([_transfer_call(build)], offer_employee={"101": "Ivan"}.get)
    rows = sorted(_view(migrated_engine, report_agent_offers), key=lambda r: r["extension"])
    assert [(r["extension"], r["employee"], r["outcome"]) for r in rows] == [
        ("101", "Ivan", "answered"),
        ("103", None, "no_answer"),
    ]
    assert rows[0]["offered_at"] == datetime(2024, 5, 1, 10, 0, 1, tzinfo=UTC)
    assert rows[0]["caller"] == "0601020304"


def test_R_REP_2_agent_states_are_idempotent(migrated_engine: Engine, store: CallStore, build: Any) -> None:
    statuses = [
        AgentStatus(ts=build.T0, extension="101", queue="sales", action="login"),
        AgentStatus(ts=build.T0 + 60, extension="101", queue="sales", action="pause", reason="lunch"),
        AgentStatus(ts=build.T0 + 60, extension="102", queue=None, action="pause"),
    ]
    assert store.save_agent_statuses(statuses, pbx="asterisk", employee_of={"101": "Ivan"}.get) == 3
    assert store.save_agent_statuses(statuses, pbx="asterisk") == 0
    assert store.save_agent_statuses(statuses[:1] + statuses[:1], pbx="freeswitch") == 1
    rows = _view(migrated_engine, report_agent_states, pbx="asterisk", extension="101")
    assert sorted((r["action"], r["reason"], r["employee"]) for r in rows) == [
        ("login", None, "Ivan"),
        ("pause", "lunch", "Ivan"),
    ]
    assert min(r["at"] for r in rows) == datetime(2024, 5, 1, 10, 0, tzinfo=UTC)


def test_R_REP_1_roles_and_projects_survive(store: CallStore, build: Any) -> None:
    leg = build.leg(
        "s1",
        0,
        role=Role.SUPERVISOR_WHISPER,
        direction=Direction.INTERNAL,
        project="spring",
        hangup_cause=None,
    )
    record = build.record("s1", (leg,), project="spring", pbx="freeswitch")
    store.save_calls([record])
    assert store.load_calls(["s1"]) == [record]


def test_R_REP_1_large_batch_in_chunks(store: CallStore, build: Any) -> None:
    """More calls than one IN-list chunk: every call replaced, none duplicated."""
    records = [build.record(f"b{i:04d}", (build.leg(f"b{i:04d}", 0),)) for i in range(1200)]
    store.save_calls(records)
    store.save_calls([replace(r, reconciled=True) for r in records])
    assert (store.count_calls(), store.count_legs()) == (1200, 1200)
    assert all(r.reconciled for r in store.load_calls(["b0000", "b1199"]))


def test_R_SAFE_1_hostile_pbx_text_is_stored_on_both_dialects(store: CallStore, build: Any) -> None:
    """A NUL byte or an over-long display name must not make PostgreSQL refuse the batch."""
    name = "Оля\x00" + "x" * 400
    record = build.record("n1", (build.leg("n1", 0, caller_name=name, caller="0601\x00"),))
    store.save_calls([record])
    (leg,) = store.load_calls(["n1"])[0].legs
    assert leg.caller == "0601"
    assert (
        leg.caller_name is not None and leg.caller_name.startswith("Оляxxx") and len(leg.caller_name) == 256
    )


def test_R_SAFE_1_one_unstorable_call_does_not_lose_the_batch(store: CallStore, build: Any) -> None:
    good = [build.record(f"g{i}") for i in range(3)]
    broken = build.record("bad", (build.leg("bad", 0), build.leg("bad", 0)))  # duplicate leg_seq
    failed = store.save_calls_isolating([good[0], broken, *good[1:]])
    assert list(failed) == ["bad"] and "unique" in failed["bad"].lower()
    assert store.call_ids() == ["g0", "g1", "g2"]
    assert store.save_calls_isolating(good) == {}


def test_R_SAFE_1_a_call_no_row_can_hold_fails_alone(store: CallStore, build: Any) -> None:
    """A value the driver or datetime cannot take (not a database refusal) must not lose the batch."""
    good = [build.record(f"g{i}") for i in range(2)]
    nan_leg = build.record("nan", (build.leg("nan", 0, started_at=float("nan")),))
    huge_cause = build.record("cause", (build.leg("cause", 0, hangup_cause=10**20),))
    failed = store.save_calls_isolating([good[0], nan_leg, huge_cause, good[1]])
    assert sorted(failed) == ["cause", "nan"]
    assert store.call_ids() == ["g0", "g1"]


def test_R_SAFE_2_an_unreachable_database_mid_isolation_raises_so_nothing_is_dropped() -> None:
    """Isolating item by item must not mistake an outage for a bad item: the caller retries all."""
    saved: list[str] = []

    def save(batch: Sequence[str]) -> None:
        if len(batch) > 1:
            raise IntegrityError("INSERT", {}, Exception("duplicate key"))
        if batch[0] == "down":
            raise OperationalError("INSERT", {}, Exception("server closed the connection"))
        if batch[0] == "refused":
            raise IntegrityError("INSERT", {}, Exception("duplicate key\nDETAIL: secret"))
        saved.extend(batch)

    assert save_isolating(save, ["a", "refused", "b"], str) == {"refused": "Exception: duplicate key"}
    assert saved == ["a", "b"]
    with pytest.raises(OperationalError):
        save_isolating(save, ["c", "down", "d"], str)


def test_R_REP_1_sqlite_time_text_is_sqlalchemys_storage_format(sqlite_url: str, build: Any) -> None:
    """The fast SQLite time binder must write exactly what SQLAlchemy's DATETIME reads and compares."""
    from ccagent.storage.db import make_engine, upgrade

    engine = make_engine(sqlite_url)
    upgrade(engine)
    kyiv_leg = build.leg("k1", 0, started_at=build.T0 + 0.123456)
    CallStore(engine).save_calls([build.record("k1", (kyiv_leg,))])
    with engine.connect() as conn:
        raw = conn.exec_driver_sql("SELECT started_at, answered_at FROM call_legs").one()
    engine.dispose()
    assert tuple(raw) == ("2024-05-01 10:00:00.123456", "2024-05-01 10:00:05.373456")
