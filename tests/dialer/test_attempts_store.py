"""The attempts outbox on SQLite and PostgreSQL (issue 6; R-SAFE-2, R-REP-1)."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError

from ccagent.core.dialer.engine import Attempt, AttemptStatus, Outcome, Settlement
from ccagent.storage.attempts_repo import AttemptStore

T0 = 1_714_557_600.0


def test_R_SAFE_2_outbox_lifecycle_planned_originating_settled(migrated_engine: Engine) -> None:
    store = AttemptStore(migrated_engine)
    a1 = Attempt("a1", "p1", "7", "+380441234567", "a1", T0)
    a2 = Attempt("a2", "p1", "8", "+380441234568", "a2", T0 + 1)
    a3 = Attempt("a3", "p2", "9", "+380441234569", "a3", T0 + 2)
    store.plan([a2])  # left planned by a run that stopped before sending it (an older version)
    store.commit_outbox([a1, a3], [])
    store.set_action_ids([("a1", "ccagent-1-0001-5")])
    store.settle(
        [
            Settlement(
                "a3",
                "p2",
                "9",
                a3.number,
                Outcome.BUSY,
                T0 + 9,
                "call-3",
                "chan-3",
                {"amd_status": None},
                reason="",
            )
        ]
    )
    open_ = {a.attempt_id: a for a in store.load_open()}
    assert set(open_) == {"a1", "a2"}
    assert open_["a1"].status is AttemptStatus.ORIGINATING and open_["a1"].request_id == "ccagent-1-0001-5"
    assert open_["a2"].status is AttemptStatus.PLANNED
    assert open_["a1"].launched_at == T0 and open_["a1"].channel_id == "a1"
    rows = {r.attempt_id: r for r in store.list()}
    assert rows["a3"].status == "settled" and rows["a3"].outcome == "busy"
    assert rows["a3"].result == {"amd_status": None} and rows["a3"].call_id == "call-3"
    assert [r.attempt_id for r in store.list("p1")] == ["a1", "a2"]
    # sending again never moves a settled attempt back
    store.commit_outbox([], ["a3"])
    assert {r.attempt_id: r.status for r in store.list()}["a3"] == "settled"


def test_R_SAFE_2_one_ticks_outbox_commits_whole_or_not_at_all(migrated_engine: Engine) -> None:
    store = AttemptStore(migrated_engine)
    restored = Attempt("r1", "p1", "6", "+380441234566", "r1", T0)
    store.plan([restored])  # left planned by a run that stopped before sending it
    new = [Attempt("n1", "p1", "7", "+380441234567", "n1", T0 + 1)]
    store.commit_outbox(new, ["r1"])
    assert {r.attempt_id: r.status for r in store.list()} == {"r1": "originating", "n1": "originating"}
    # a clash inside the transaction (an id already taken) leaves nothing of it behind
    clash = [
        Attempt("n2", "p1", "8", "+380441234568", "n2", T0 + 2),
        Attempt("n1", "p1", "9", "+3804", "n1", T0),
    ]
    store.plan([Attempt("r2", "p1", "5", "+380441234565", "r2", T0)])
    with pytest.raises(IntegrityError):
        store.commit_outbox(clash, ["r2"])
    rows = {r.attempt_id: r.status for r in store.list()}
    assert "n2" not in rows and rows["r2"] == "planned"
