"""Extension -> employee attribution of legs (SPEC R-MAP-1..4, R-MAP-6).

Pure: the leg engine reports PBX facts (the extension); this decides who, in
the business's terms, owns each leg.  Every leg keeps its extension whatever
the decision (R-MAP-2: PBX facts are never dropped); only ``employee`` changes.

Rules, per leg (a transfer makes each leg an independent decision, R-MAP-4):

1. A mapped extension gives its employee (R-MAP-1).
2. A missed/abandoned *group* call that did not end on a mapped extension goes
   to ``responsible_on_missed_group_calls`` when set (R-MAP-3).  A group call
   is one a queue handled, or one that rang more than one extension (ring
   group / parallel dial).
3. Otherwise, with ``save_all_calls`` on, the fallback employee (R-MAP-2, R-MAP-3).
4. Otherwise nobody: the leg is stored but not attributed (no card, no automation).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from ccagent.core.legs.model import CallRecord, Disposition, Leg

_LOST = frozenset({Disposition.MISSED, Disposition.ABANDONED})


class EmployeeMapper:
    def __init__(
        self,
        mapping: Mapping[str, str],
        save_all_calls: bool = False,
        fallback_employee: str | None = None,
        responsible_on_missed_group_calls: str | None = None,
    ) -> None:
        if save_all_calls and not fallback_employee:
            raise ValueError("save_all_calls requires fallback_employee")
        self._mapping = dict(mapping)
        self._save_all_calls = save_all_calls
        self._fallback = fallback_employee
        self._responsible_missed_group = responsible_on_missed_group_calls

    def employee_of(self, extension: str | None) -> str | None:
        """The mapped employee of an extension, or None (no fallback applied)."""
        if extension is None:
            return None
        return self._mapping.get(extension)

    def is_mapped(self, extension: str | None) -> bool:
        return extension is not None and extension in self._mapping

    def pops_card(self, extension: str | None) -> bool:
        """R-MAP-6: a card pops only at a mapped employee's desk, never for the fallback."""
        return self.is_mapped(extension)

    def employee_for(self, leg: Leg, *, group_call: bool = False) -> str | None:
        mapped = self.employee_of(leg.extension)
        if mapped is not None:
            return mapped
        if group_call and leg.disposition in _LOST and self._responsible_missed_group:
            return self._responsible_missed_group
        if self._save_all_calls:
            return self._fallback
        return None

    def is_attributed(self, leg: Leg, *, group_call: bool = False) -> bool:
        """Whether the leg belongs to an employee at all (else: stored, but no automation)."""
        return self.employee_for(leg, group_call=group_call) is not None

    def assign(self, record: CallRecord) -> CallRecord:
        """A copy of ``record`` with every leg's ``employee`` set by the rules above."""
        group = _is_group_call(record)
        legs = tuple(replace(leg, employee=self.employee_for(leg, group_call=group)) for leg in record.legs)
        return replace(record, legs=legs)


def _is_group_call(record: CallRecord) -> bool:
    if any(leg.queue for leg in record.legs) or any(offer.queue for offer in record.offers):
        return True
    rang = {offer.extension for offer in record.offers}
    rang.update(leg.extension for leg in record.legs if leg.extension)
    return len(rang) > 1
