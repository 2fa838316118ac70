"""Builders of leg-engine output for store/report tests."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from ccagent.core.legs.model import AgentOffer, CallRecord, Direction, Disposition, Leg, OfferOutcome, Role
from ccagent.storage.repositories import CallStore

T0 = 1_714_557_600.0  # 2024-05-01T10:00:00Z


def make_leg(call_id: str, seq: int = 0, **kw: Any) -> Leg:
    start = kw.pop("started_at", T0 + seq * 60)
    answered = kw.pop("answered", True)
    base = Leg(
        call_id=call_id,
        leg_seq=seq,
        direction=Direction.INBOUND,
        caller="0601020304",
        caller_name="Иван Петров",
        callee="5000",
        extension="101",
        answered=answered,
        disposition=Disposition.ANSWERED if answered else Disposition.MISSED,
        transfer_from_leg=None,
        transfer_kind=None,
        role=Role.MAIN,
        queue=None,
        project=None,
        started_at=start,
        answered_at=start + 5.25 if answered else None,
        ended_at=start + 35.5,
        ring_s=5.25 if answered else 35.5,
        talk_s=30.25 if answered else 0.0,
        hangup_cause=16,
        hangup_by="caller",
        channel=f"{call_id}-ch{seq}",
    )
    return replace(base, **kw)


def make_record(call_id: str, legs: tuple[Leg, ...] | None = None, **kw: Any) -> CallRecord:
    legs = legs if legs is not None else (make_leg(call_id),)
    base = CallRecord(
        call_id=call_id,
        pbx="asterisk",
        direction=legs[0].direction if legs else Direction.INBOUND,
        disposition=legs[0].disposition if legs else Disposition.ANSWERED,
        caller=legs[0].caller if legs else None,
        callee=legs[0].callee if legs else None,
        started_at=min((leg.started_at for leg in legs), default=T0),
        ended_at=max((leg.ended_at for leg in legs), default=T0),
        legs=legs,
    )
    return replace(base, **kw)


def make_offer(
    call_id: str, ext: str, outcome: OfferOutcome = OfferOutcome.NO_ANSWER, **kw: Any
) -> AgentOffer:
    base = AgentOffer(
        call_id=call_id, extension=ext, queue=None, offered_at=T0 + 1, ring_s=15.0, outcome=outcome
    )
    return replace(base, **kw)


class Build:
    T0 = T0
    leg = staticmethod(make_leg)
    record = staticmethod(make_record)
    offer = staticmethod(make_offer)


@pytest.fixture
def build() -> type[Build]:
    return Build


@pytest.fixture
def store(migrated_engine: Any) -> CallStore:
    return CallStore(migrated_engine)
