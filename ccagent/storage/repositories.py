"""Writing finished calls and agent states (SPEC R-REP-1, R-PBX-5).

A call is the unit of idempotency: saving a call replaces all its rows, so a
re-fold after reconnection or a replayed capture never duplicates a leg.
Rows are written with Core ``executemany`` batches, one transaction per
``save_calls`` call, because the ingest path writes tens of thousands of legs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar, cast

from sqlalchemy import Engine, Table, delete, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from ccagent.core.legs.model import AgentOffer, CallRecord, Direction, Disposition, Leg, OfferOutcome, Role
from ccagent.core.pbx_events import AgentStatus
from ccagent.storage.models import AgentOfferRow, AgentStateRow, CallLegRow, CallRow

EmployeeOf = Callable[[str], str | None]

# Stay under SQLite's bound-parameter limit (32766) and PostgreSQL's (65535) for IN lists.
_ID_CHUNK = 500

_calls = cast(Table, CallRow.__table__)
_legs = cast(Table, CallLegRow.__table__)
_offers = cast(Table, AgentOfferRow.__table__)
_states = cast(Table, AgentStateRow.__table__)


_T = TypeVar("_T")

# The database cannot be reached right now: retry everything later, never drop anything.
TRANSIENT_DB_ERRORS = (OperationalError, InterfaceError)


def _reason(exc: Exception) -> str:
    """One line naming why a row failed: the driver's message, never the bound parameters."""
    inner = exc.orig if isinstance(exc, DBAPIError) else exc
    text = str(inner).splitlines()[0] if str(inner) else ""
    return f"{type(inner).__name__}: {text}"


def save_isolating(
    save: Callable[[Sequence[_T]], object], items: Sequence[_T], name: Callable[[_T], str]
) -> dict[str, str]:
    """``save(items)``, or, if that fails for any reason but an unreachable database, each alone.

    Returns ``{name(item): reason}`` for the items that could not be stored: one the database
    refuses, or whose row cannot even be built (a value no column holds), fails alone and the
    others are stored.  An unreachable database (``TRANSIENT_DB_ERRORS``) raises instead, so the
    caller keeps everything and retries; the saves are idempotent, so an item stored before the
    outage is stored again identically.
    """
    try:
        save(items)
        return {}
    except TRANSIENT_DB_ERRORS:
        raise
    except Exception:  # isolated item by item below
        pass
    failed: dict[str, str] = {}
    for item in items:
        try:
            save([item])
        except TRANSIENT_DB_ERRORS:
            raise
        except Exception as exc:  # named in the result, the others still stored
            failed[name(item)] = _reason(exc)
    return failed


def utc(ts: float) -> datetime:
    """PBX epoch seconds -> aware UTC datetime (the store's only time representation)."""
    return datetime.fromtimestamp(ts, UTC)


def _utc_opt(ts: float | None) -> datetime | None:
    return None if ts is None else datetime.fromtimestamp(ts, UTC)


def _t(value: str | None, limit: int) -> str | None:
    """PBX-supplied text made storable on both dialects: no NUL (PostgreSQL refuses it), bounded length.

    A 300-character SIP display name must not make PostgreSQL reject a whole batch
    while SQLite (which ignores VARCHAR lengths) would have kept it.
    """
    if value is None:
        return None
    if "\x00" in value:
        value = value.replace("\x00", "")
    return value if len(value) <= limit else value[:limit]


def _chunks(items: Sequence[str], size: int) -> Iterator[Sequence[str]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _leg_from_row(row: Any) -> Leg:
    return Leg(
        call_id=row["call_id"],
        leg_seq=row["leg_seq"],
        direction=Direction(row["direction"]),
        caller=row["caller"],
        caller_name=row["caller_name"],
        callee=row["callee"],
        extension=row["extension"],
        answered=bool(row["answered"]),
        disposition=Disposition(row["disposition"]),
        transfer_from_leg=row["transfer_from_leg"],
        transfer_kind=row["transfer_kind"],
        role=Role(row["role"]),
        queue=row["queue"],
        project=row["project"],
        started_at=row["started_at"].timestamp(),
        answered_at=None if row["answered_at"] is None else row["answered_at"].timestamp(),
        ended_at=row["ended_at"].timestamp(),
        ring_s=row["ring_s"],
        talk_s=row["talk_s"],
        hangup_cause=row["hangup_cause"],
        hangup_by=row["hangup_by"],
        channel=row["channel"],
        reconciled=bool(row["reconciled"]),
        employee=row["employee"],
        recording=row["recording"],
    )


def agent_status_key(pbx: str, status: AgentStatus) -> str:
    """The PBX facts that identify one state change, so replays are no-ops."""
    return f"{pbx}|{status.extension}|{status.queue or ''}|{status.action}|{status.ts:.6f}"


class CallStore:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    @property
    def engine(self) -> Engine:
        return self._engine

    def save_calls(self, records: Sequence[CallRecord], *, offer_employee: EmployeeOf | None = None) -> None:
        """Store finished calls, replacing any earlier version of each (one transaction).

        Legs carry ``employee`` as the caller set it (mapping is applied before
        saving); offers have no employee in the leg model, so ``offer_employee``
        (usually ``EmployeeMapper.employee_of``) names them for reports.
        """
        if not records:
            return
        latest: dict[str, CallRecord] = {}
        for record in records:  # the same call twice in one batch: the last fold wins
            latest[record.call_id] = record
        ids = list(latest)
        call_rows: list[dict[str, Any]] = []
        leg_rows: list[dict[str, Any]] = []
        offer_rows: list[dict[str, Any]] = []
        for r in latest.values():
            call_rows.append(
                {
                    "call_id": _t(r.call_id, 64),
                    "pbx": r.pbx,
                    "direction": r.direction.value,
                    "disposition": r.disposition.value,
                    "caller": _t(r.caller, 128),
                    "callee": _t(r.callee, 128),
                    "project": _t(r.project, 128),
                    "started_at": utc(r.started_at),
                    "ended_at": utc(r.ended_at),
                    "results": dict(r.results),
                    "reconciled": r.reconciled,
                }
            )
            for leg in r.legs:
                leg_rows.append(
                    {
                        "call_id": _t(r.call_id, 64),
                        "leg_seq": leg.leg_seq,
                        "direction": leg.direction.value,
                        "caller": _t(leg.caller, 128),
                        "caller_name": _t(leg.caller_name, 256),
                        "callee": _t(leg.callee, 128),
                        "extension": _t(leg.extension, 64),
                        "employee": _t(leg.employee, 256),
                        "answered": leg.answered,
                        "disposition": leg.disposition.value,
                        "transfer_from_leg": leg.transfer_from_leg,
                        "transfer_kind": leg.transfer_kind,
                        "role": leg.role.value,
                        "queue": _t(leg.queue, 128),
                        "project": _t(leg.project, 128),
                        "started_at": utc(leg.started_at),
                        "answered_at": _utc_opt(leg.answered_at),
                        "ended_at": utc(leg.ended_at),
                        "ring_s": float(leg.ring_s),
                        "talk_s": float(leg.talk_s),
                        "hangup_cause": leg.hangup_cause,
                        "hangup_by": leg.hangup_by,
                        "channel": _t(leg.channel, 128),
                        "reconciled": leg.reconciled,
                        "recording": _t(leg.recording, 512),
                    }
                )
            for offer in r.offers:
                offer_rows.append(
                    {
                        "call_id": _t(r.call_id, 64),
                        "extension": _t(offer.extension, 64),
                        "employee": _t(offer_employee(offer.extension), 256) if offer_employee else None,
                        "queue": _t(offer.queue, 128),
                        "offered_at": utc(offer.offered_at),
                        "ring_s": float(offer.ring_s),
                        "outcome": offer.outcome.value,
                    }
                )
        with self._engine.begin() as conn:
            # Children are deleted explicitly: cascades need foreign_keys=ON, which a
            # foreign engine (not made by make_engine) may lack.
            for chunk in _chunks(ids, _ID_CHUNK):
                conn.execute(delete(_offers).where(_offers.c.call_id.in_(chunk)))
                conn.execute(delete(_legs).where(_legs.c.call_id.in_(chunk)))
                conn.execute(delete(_calls).where(_calls.c.call_id.in_(chunk)))
            conn.execute(_calls.insert(), call_rows)
            if leg_rows:
                conn.execute(_legs.insert(), leg_rows)
            if offer_rows:
                conn.execute(_offers.insert(), offer_rows)

    def save_calls_isolating(
        self, records: Sequence[CallRecord], *, offer_employee: EmployeeOf | None = None
    ) -> dict[str, str]:
        """Like ``save_calls``, but one unstorable call does not lose the others (see ``save_isolating``)."""
        return save_isolating(
            lambda batch: self.save_calls(batch, offer_employee=offer_employee), records, lambda r: r.call_id
        )

    def delete_calls(self, call_ids: Sequence[str]) -> None:
        with self._engine.begin() as conn:
            for chunk in _chunks(list(call_ids), _ID_CHUNK):
                conn.execute(delete(_offers).where(_offers.c.call_id.in_(chunk)))
                conn.execute(delete(_legs).where(_legs.c.call_id.in_(chunk)))
                conn.execute(delete(_calls).where(_calls.c.call_id.in_(chunk)))

    def save_agent_statuses(
        self, statuses: Sequence[AgentStatus], *, pbx: str, employee_of: EmployeeOf | None = None
    ) -> int:
        """Record queue login/logout/pause changes; a status already stored is skipped. Returns rows added."""
        if not statuses:
            return 0
        rows: dict[str, dict[str, Any]] = {}
        for s in statuses:
            key = agent_status_key(pbx, s)
            rows[key] = {
                "pbx": pbx,
                "extension": _t(s.extension, 64),
                "employee": _t(employee_of(s.extension), 256) if employee_of else None,
                "queue": _t(s.queue, 128),
                "action": _t(s.action, 16),
                "reason": _t(s.reason, 256),
                "at": utc(s.ts),
                "event_key": _t(key, 512),
            }
        dialect = self._engine.dialect.name
        if dialect == "postgresql":
            stmt: Any = postgresql.insert(_states).on_conflict_do_nothing(index_elements=["event_key"])
        elif dialect == "sqlite":
            stmt = sqlite.insert(_states).on_conflict_do_nothing(index_elements=["event_key"])
        else:  # pragma: no cover - only the two supported dialects reach here
            raise RuntimeError(f"unsupported dialect {dialect}")
        with self._engine.begin() as conn:
            before = conn.execute(select(func.count()).select_from(_states)).scalar_one()
            conn.execute(stmt, list(rows.values()))
            after = conn.execute(select(func.count()).select_from(_states)).scalar_one()
        return int(after - before)

    def load_calls(self, call_ids: Sequence[str]) -> list[CallRecord]:
        """Stored calls back as domain records (missing ids are skipped), in the order asked."""
        records: dict[str, CallRecord] = {}
        with self._engine.connect() as conn:
            for chunk in _chunks(list(call_ids), _ID_CHUNK):
                legs: dict[str, list[Leg]] = {}
                for row in conn.execute(
                    select(_legs).where(_legs.c.call_id.in_(chunk)).order_by(_legs.c.call_id, _legs.c.leg_seq)
                ).mappings():
                    legs.setdefault(row["call_id"], []).append(_leg_from_row(row))
                offers: dict[str, list[AgentOffer]] = {}
                for row in conn.execute(
                    select(_offers).where(_offers.c.call_id.in_(chunk)).order_by(_offers.c.id)
                ).mappings():
                    offers.setdefault(row["call_id"], []).append(
                        AgentOffer(
                            call_id=row["call_id"],
                            extension=row["extension"],
                            queue=row["queue"],
                            offered_at=row["offered_at"].timestamp(),
                            ring_s=row["ring_s"],
                            outcome=OfferOutcome(row["outcome"]),
                        )
                    )
                for row in conn.execute(select(_calls).where(_calls.c.call_id.in_(chunk))).mappings():
                    cid = row["call_id"]
                    records[cid] = CallRecord(
                        call_id=cid,
                        pbx=row["pbx"],
                        direction=Direction(row["direction"]),
                        disposition=Disposition(row["disposition"]),
                        caller=row["caller"],
                        callee=row["callee"],
                        started_at=row["started_at"].timestamp(),
                        ended_at=row["ended_at"].timestamp(),
                        legs=tuple(legs.get(cid, ())),
                        offers=tuple(offers.get(cid, ())),
                        project=row["project"],
                        results=dict(row["results"] or {}),
                        reconciled=bool(row["reconciled"]),
                    )
        return [records[c] for c in call_ids if c in records]

    def stored_among(self, call_ids: Sequence[str]) -> set[str]:
        """Which of these calls are already stored."""
        found: set[str] = set()
        with self._engine.connect() as conn:
            for chunk in _chunks(list(call_ids), _ID_CHUNK):
                found.update(
                    conn.execute(select(_calls.c.call_id).where(_calls.c.call_id.in_(chunk))).scalars()
                )
        return found

    def call_ids(self) -> list[str]:
        with self._engine.connect() as conn:
            return list(conn.execute(select(_calls.c.call_id).order_by(_calls.c.call_id)).scalars())

    def count_calls(self) -> int:
        return self._count(_calls)

    def count_legs(self) -> int:
        return self._count(_legs)

    def count_offers(self) -> int:
        return self._count(_offers)

    def count_agent_states(self) -> int:
        return self._count(_states)

    def _count(self, table: Any) -> int:
        with self._engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(table)).scalar_one())
