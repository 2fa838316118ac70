"""What the leg engine produces (SPEC R-LEG-1..4): calls, legs, agent offers.

Plain frozen dataclasses: storage maps them to rows, reports read the rows.
Times are PBX epoch seconds (floats); storage converts them to UTC datetimes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Direction(StrEnum):
    INBOUND = "inbound"
    OUTBOUND = "outbound"
    INTERNAL = "internal"


class Disposition(StrEnum):
    ANSWERED = "answered"
    MISSED = "missed"
    ABANDONED = "abandoned"
    BUSY = "busy"
    NO_ANSWER = "no_answer"
    FAILED = "failed"


class Role(StrEnum):
    MAIN = "main"
    CONSULTATION = "consultation"
    SUPERVISOR_LISTEN = "supervisor_listen"
    SUPERVISOR_WHISPER = "supervisor_whisper"
    SUPERVISOR_BARGE = "supervisor_barge"


class OfferOutcome(StrEnum):
    """Why a ring to an agent did not become (or did become) a leg."""

    ANSWERED = "answered"
    NO_ANSWER = "no_answer"  # ring-no-answer / member timeout
    REJECTED = "rejected"  # the phone declined (486 / busy)
    ANSWERED_ELSEWHERE = "answered_elsewhere"  # ring-all: another member took it
    CALLER_HANGUP = "caller_hangup"  # the caller gave up while it rang


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
    transfer_kind: str | None  # "blind" | "attended" | None
    role: Role
    queue: str | None
    project: str | None
    started_at: float
    answered_at: float | None
    ended_at: float
    ring_s: float
    talk_s: float
    hangup_cause: int | None
    hangup_by: str | None  # caller | callee | agent | transfer | ami | pbx
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
