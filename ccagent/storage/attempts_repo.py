"""The dialer's outbox: attempts written before their originate (issue 6, R-SAFE-2).

``AttemptRow`` is declared with the other tables in ``storage/models.py`` (it was declared here
once, which made the two modules import each other).  Every method is one short transaction: the dialer's
outbox guarantees hold only if each state change is committed before the next step is taken.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, func, select, update
from sqlalchemy.orm import Session

from ccagent.core.dialer.engine import Attempt, AttemptStatus, Outcome, Settlement
from ccagent.storage.models import AttemptRow

__all__ = ["AbandonRecord", "AttemptRecord", "AttemptRow", "AttemptStore"]


@dataclass(frozen=True, slots=True)
class AttemptRecord:
    """An attempt as stored (reports, tests, ``ccagent project report``)."""

    attempt_id: str
    project_id: str
    contact_id: str
    number: str
    status: str
    outcome: str | None
    pbx_request_id: str | None
    action_id: str | None
    call_id: str | None
    channel: str | None
    started_at: datetime
    settled_at: datetime | None
    reason: str | None
    result: dict[str, Any]


@dataclass(frozen=True, slots=True)
class AbandonRecord:
    """A project's live answers and abandons so far (R-PACE-2), for a pacer that resumes it."""

    answered: int  # live answers, abandoned ones included (the rate's denominator)
    abandoned: int
    answer_times: list[float]  # epoch seconds, the recent ones only
    abandon_times: list[float]


# attempt outcomes of a live answer (a machine with AMD off is "answered")
_LIVE = (Outcome.ANSWERED.value, Outcome.ABANDONED.value)


def _dt(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def _row(a: Attempt, status: AttemptStatus) -> AttemptRow:
    return AttemptRow(
        id=a.attempt_id,
        project_id=a.project_id,
        contact_id=a.contact_id,
        number=a.number,
        status=status.value,
        pbx_request_id=a.channel_id,
        started_at=_dt(a.launched_at),
        result={},
    )


class AttemptStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def plan(self, attempts: Sequence[Attempt]) -> None:
        """Write attempts as ``planned``, as a run that stopped between writing and sending them left
        them (the daemon itself writes through :meth:`commit_outbox`); a restart sends them."""
        if not attempts:
            return
        with Session(self.engine) as s, s.begin():
            s.add_all(_row(a, AttemptStatus.PLANNED) for a in attempts)

    def commit_outbox(self, new: Sequence[Attempt], sending: Iterable[str]) -> None:
        """One tick's outbox in one transaction: the new attempts, and every attempt about to be
        sent (new or restored) marked ``originating`` before a byte is written.  All or nothing: a
        refused commit leaves no ``planned`` row behind that a restart would send a second time."""
        ids = [a.attempt_id for a in new] + list(sending)
        if not ids:
            return
        with Session(self.engine) as s, s.begin():
            s.add_all(_row(a, AttemptStatus.ORIGINATING) for a in new)
            s.execute(
                update(AttemptRow)
                .where(AttemptRow.id.in_(ids), AttemptRow.status == AttemptStatus.PLANNED.value)
                .values(status=AttemptStatus.ORIGINATING.value)
            )

    def set_action_ids(self, pairs: Iterable[tuple[str, str]]) -> None:
        items = [(a, r) for a, r in pairs if r]
        if not items:
            return
        with Session(self.engine) as s, s.begin():
            for aid, rid in items:
                s.execute(update(AttemptRow).where(AttemptRow.id == aid).values(action_id=rid))

    def settle(self, settlements: Sequence[Settlement]) -> None:
        if not settlements:
            return
        with Session(self.engine) as s, s.begin():
            for st in settlements:
                s.execute(
                    update(AttemptRow)
                    .where(AttemptRow.id == st.attempt_id)
                    .values(
                        status=AttemptStatus.SETTLED.value,
                        outcome=st.outcome.value,
                        call_id=st.call_id,
                        channel=st.channel,
                        settled_at=_dt(st.settled_at),
                        reason=st.reason or None,
                        result=dict(st.results),
                    )
                )

    def abandon_record(self, project_id: str, recent_since: float) -> AbandonRecord:
        """Counts over all the project's settled attempts; times of those settled since ``recent_since``."""
        live = (AttemptRow.project_id == project_id) & AttemptRow.outcome.in_(_LIVE)
        with Session(self.engine) as s:
            counts = dict(
                s.execute(
                    select(AttemptRow.outcome, func.count()).where(live).group_by(AttemptRow.outcome)
                ).all()
            )
            recent = s.execute(
                select(AttemptRow.outcome, AttemptRow.settled_at)
                .where(live, AttemptRow.settled_at >= _dt(recent_since))
                .order_by(AttemptRow.settled_at)
            ).all()
        return AbandonRecord(
            answered=sum(int(counts.get(o, 0)) for o in _LIVE),
            abandoned=int(counts.get(Outcome.ABANDONED.value, 0)),
            # settled_at is set on every settled attempt (and the query compares it): never None here
            answer_times=[at.timestamp() for _o, at in recent if at is not None],
            abandon_times=[
                at.timestamp() for o, at in recent if at is not None and o == Outcome.ABANDONED.value
            ],
        )

    def load_open(self) -> list[Attempt]:
        """Attempts a previous run left planned or originating (the outbox to resume)."""
        with Session(self.engine) as s:
            rows = s.scalars(
                select(AttemptRow)
                .where(AttemptRow.status.in_([AttemptStatus.PLANNED.value, AttemptStatus.ORIGINATING.value]))
                .order_by(AttemptRow.started_at, AttemptRow.id)
            ).all()
            return [
                Attempt(
                    r.id,
                    r.project_id,
                    r.contact_id,
                    r.number,
                    r.pbx_request_id or r.id,
                    r.started_at.timestamp(),
                    AttemptStatus(r.status),
                    request_id=r.action_id,
                )
                for r in rows
            ]

    def list(self, project_id: str | None = None) -> list[AttemptRecord]:
        with Session(self.engine) as s:
            q = select(AttemptRow).order_by(AttemptRow.started_at, AttemptRow.id)
            if project_id is not None:
                q = q.where(AttemptRow.project_id == project_id)
            return [
                AttemptRecord(
                    r.id,
                    r.project_id,
                    r.contact_id,
                    r.number,
                    r.status,
                    r.outcome,
                    r.pbx_request_id,
                    r.action_id,
                    r.call_id,
                    r.channel,
                    r.started_at,
                    r.settled_at,
                    r.reason,
                    dict(r.result or {}),
                )
                for r in s.scalars(q)
            ]
