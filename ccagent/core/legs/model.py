"""What the leg engine produces (SPEC R-LEG-1..4): calls, legs, agent offers.

Plain frozen dataclasses: storage maps them to rows, reports read the rows.
Times are PBX epoch seconds (floats); storage converts them to UTC datetimes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

# The outcome words live with the rest of the neutral vocabulary (issue 12); imported here so
# ``model.Disposition`` stays where readers of the legs look for it.
from ccagent.core.outcomes import AmdResult
from ccagent.core.outcomes import Disposition as Disposition
from ccagent.core.outcomes import OfferOutcome as OfferOutcome
from ccagent.core.pbx_events import TransferKind


class Direction(StrEnum):
    INBOUND = "inbound"
    OUTBOUND = "outbound"
    INTERNAL = "internal"


class HangupBy(StrEnum):
    """Whose request ended a leg (stored as is; the reports group by it)."""

    CALLER = "caller"  # the customer of an inbound call, the dialling employee of an internal one
    CALLEE = "callee"  # the customer of an outbound call, the dialled employee of an internal one
    AGENT = "agent"  # the employee of the leg (or, in a consultation, its transferor)
    TRANSFER = "transfer"  # not a hang-up: the call moved on to another employee
    PBX = "pbx"  # a manager action (AMI Hangup / uuid_kill): the daemon, an API, a timeout


class Role(StrEnum):
    MAIN = "main"
    CONSULTATION = "consultation"
    SUPERVISOR_LISTEN = "supervisor_listen"
    SUPERVISOR_WHISPER = "supervisor_whisper"
    SUPERVISOR_BARGE = "supervisor_barge"


@dataclass(frozen=True, slots=True)
class Leg:
    call_id: str
    leg_seq: int
    direction: Direction
    caller: str | None
    caller_name: str | None
    callee: str | None
    extension: str | None
    answered: bool
    disposition: Disposition
    transfer_from_leg: int | None
    transfer_kind: TransferKind | None
    role: Role
    queue: str | None
    project: str | None
    started_at: float
    answered_at: float | None
    ended_at: float
    ring_s: float
    talk_s: float
    hangup_cause: int | None
    hangup_by: HangupBy | None
    channel: str | None = None  # the PBX unique id of the agent/customer channel the leg follows
    reconciled: bool = False  # closed by reconciliation after a lost connection (R-PBX-5)
    employee: str | None = None  # filled by the mapping rules (R-MAP), not by the engine
    recording: str | None = None  # file name of the recording covering the leg (R-LEG-1)


@dataclass(frozen=True, slots=True)
class AgentOffer:
    call_id: str
    extension: str
    queue: str | None
    offered_at: float
    ring_s: float
    outcome: OfferOutcome


@dataclass(frozen=True, slots=True)
class CallRecord:
    """One finished call: the unit the store replaces atomically (idempotent re-folds)."""

    call_id: str
    pbx: str
    direction: Direction
    disposition: Disposition
    caller: str | None
    callee: str | None
    started_at: float
    ended_at: float
    legs: tuple[Leg, ...]
    offers: tuple[AgentOffer, ...] = ()
    project: str | None = None
    results: dict[str, str | None] = field(default_factory=dict)
    reconciled: bool = False
    amd: AmdResult | None = None  # answering-machine detection's conclusion, if it ran
