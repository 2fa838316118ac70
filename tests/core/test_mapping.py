"""Employee attribution of legs (R-MAP-1..4, R-MAP-6)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from ccagent.core.legs.model import AgentOffer, CallRecord, Direction, Disposition, Leg, OfferOutcome, Role
from ccagent.core.mapping import EmployeeMapper

MAPPING = {"101": "Ivan", "102": "Olena"}


def leg(seq: int = 0, ext: str | None = "101", **kw: object) -> Leg:
    base = Leg(
        call_id="c",
        leg_seq=seq,
        direction=Direction.INBOUND,
        caller="0601",
        caller_name=None,
        callee="5000",
        extension=ext,
        answered=True,
        disposition=Disposition.ANSWERED,
        transfer_from_leg=None,
        transfer_kind=None,
        role=Role.MAIN,
        queue=None,
        project=None,
        started_at=0.0,
        answered_at=1.0,
        ended_at=9.0,
        ring_s=1.0,
        talk_s=8.0,
        hangup_cause=16,
        hangup_by="caller",
    )
    return replace(base, **kw)  # type: ignore[arg-type]


def missed(ext: str | None, **kw: object) -> Leg:
    return leg(ext=ext, answered=False, disposition=Disposition.MISSED, answered_at=None, talk_s=0.0, **kw)


def record(*legs: Leg, offers: tuple[AgentOffer, ...] = ()) -> CallRecord:
    return CallRecord(
        call_id="c",
        pbx="asterisk",
        direction=Direction.INBOUND,
        disposition=legs[0].disposition,
        caller="0601",
        callee="5000",
        started_at=0.0,
        ended_at=9.0,
        legs=legs,
        offers=offers,
    )


def offer(ext: str, queue: str | None = None) -> AgentOffer:
    return AgentOffer(
        call_id="c", extension=ext, queue=queue, offered_at=0.0, ring_s=5.0, outcome=OfferOutcome.NO_ANSWER
    )


def employees(mapper: EmployeeMapper, rec: CallRecord) -> list[str | None]:
    return [lg.employee for lg in mapper.assign(rec).legs]


def test_R_MAP_1_mapped_extension_gives_its_employee() -> None:
    mapper = EmployeeMapper(MAPPING)
    assert employees(mapper, record(leg(ext="101"), leg(1, ext="102"))) == ["Ivan", "Olena"]


def test_R_MAP_2_off_unmapped_legs_keep_extension_but_no_employee() -> None:
    mapper = EmployeeMapper(MAPPING)
    out = mapper.assign(record(leg(ext="555"), leg(1, ext=None)))
    assert [(lg.extension, lg.employee) for lg in out.legs] == [("555", None), (None, None)]
    assert not mapper.is_attributed(out.legs[0])


def test_R_MAP_2_on_unmapped_legs_go_to_the_fallback() -> None:
    mapper = EmployeeMapper(MAPPING, save_all_calls=True, fallback_employee="Front desk")
    out = mapper.assign(record(leg(ext="555"), leg(1, ext="101")))
    assert [(lg.extension, lg.employee) for lg in out.legs] == [("555", "Front desk"), ("101", "Ivan")]
    assert mapper.is_attributed(out.legs[0])


def test_R_MAP_2_save_all_calls_needs_a_fallback() -> None:
    with pytest.raises(ValueError, match="fallback"):
        EmployeeMapper(MAPPING, save_all_calls=True)


def test_assign_returns_a_copy_and_keeps_every_other_field() -> None:
    mapper = EmployeeMapper(MAPPING)
    original = record(leg(ext="101", employee="stale"))
    out = mapper.assign(original)
    assert original.legs[0].employee == "stale"
    assert out.legs[0] == replace(original.legs[0], employee="Ivan")
    assert replace(out, legs=original.legs) == original


@pytest.mark.parametrize("save_all", [False, True])
def test_R_MAP_3_missed_queue_call_goes_to_the_responsible(save_all: bool) -> None:
    mapper = EmployeeMapper(
        MAPPING,
        save_all_calls=save_all,
        fallback_employee="Fallback" if save_all else None,
        responsible_on_missed_group_calls="Supervisor",
    )
    abandoned = leg(ext=None, answered=False, disposition=Disposition.ABANDONED, queue="sales", talk_s=0.0)
    assert employees(mapper, record(abandoned)) == ["Supervisor"]
    assert employees(mapper, record(missed("555", queue="sales"))) == ["Supervisor"]


def test_R_MAP_3_missed_group_call_without_responsible_goes_to_fallback() -> None:
    mapper = EmployeeMapper(MAPPING, save_all_calls=True, fallback_employee="Fallback")
    assert employees(mapper, record(missed("555", queue="sales"))) == ["Fallback"]
    off = EmployeeMapper(MAPPING)
    assert employees(off, record(missed("555", queue="sales"))) == [None]


def test_R_MAP_3_ring_group_without_queue_counts_as_group() -> None:
    mapper = EmployeeMapper(MAPPING, responsible_on_missed_group_calls="Supervisor")
    rec = record(missed("555"), offers=(offer("555"), offer("556")))
    assert employees(mapper, rec) == ["Supervisor"]


def test_R_MAP_3_responsible_does_not_take_direct_or_mapped_or_answered_calls() -> None:
    mapper = EmployeeMapper(MAPPING, responsible_on_missed_group_calls="Supervisor")
    assert employees(mapper, record(missed("555"), offers=(offer("555"),))) == [None]  # direct, one phone
    assert employees(mapper, record(missed("101", queue="sales"))) == ["Ivan"]  # ended on a mapped phone
    assert employees(mapper, record(leg(ext="555", queue="sales"))) == [None]  # answered


def test_R_MAP_4_transfer_unmapped_to_mapped_and_back() -> None:
    mapper = EmployeeMapper(MAPPING, save_all_calls=True, fallback_employee="Fallback")
    xfer_in = record(leg(ext="555"), leg(1, ext="101", transfer_from_leg=0, transfer_kind="blind"))
    assert employees(mapper, xfer_in) == ["Fallback", "Ivan"]
    xfer_out = record(leg(ext="102"), leg(1, ext="777", transfer_from_leg=0, transfer_kind="attended"))
    assert employees(mapper, xfer_out) == ["Olena", "Fallback"]


def test_R_MAP_6_cards_pop_only_for_mapped_extensions() -> None:
    mapper = EmployeeMapper(MAPPING, save_all_calls=True, fallback_employee="Fallback")
    assert mapper.pops_card("101")
    assert not mapper.pops_card("555")  # attributed to the fallback, but nobody at a desk for it
    assert not mapper.pops_card(None)
    assert mapper.employee_of("102") == "Olena" and mapper.employee_of("555") is None
