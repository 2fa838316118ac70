"""Project service on SQLite and PostgreSQL: lifecycle, figures, DNC, global rules (R-PRJ-2..9)."""

from __future__ import annotations

import json
import logging
from dataclasses import replace

import pytest
from sqlalchemy import Engine, select, text

from ccagent.app.projects import SYSTEM, Actor, NotPermitted, ProjectService, UnknownProject
from ccagent.core.dialing_rules import ContactSnapshot, Outcome, after_attempt, eligible
from ccagent.core.legs.model import CallRecord, Direction, Disposition, Leg, Role
from ccagent.core.projects import (
    ActionNotAllowed,
    ContactState,
    GlobalStatusRules,
    ProjectError,
    ProjectStatus,
    RuleScope,
    UserRole,
)
from ccagent.storage.models import ContactRow
from ccagent.storage.projects_repo import ProjectRepo
from tests.projects.conftest import FakeClock

PHONES = ["+380501234567", "+380671234567", "+380931234567", "+380441234567"]


def _contacts(engine: Engine, phones: list[str], now) -> list[int]:  # type: ignore[no-untyped-def]
    with engine.begin() as conn:
        conn.execute(
            ContactRow.__table__.insert(),
            [{"phone_e164": p, "fields": {}, "created_at": now, "updated_at": now} for p in phones],
        )
        rows = conn.execute(select(ContactRow.id, ContactRow.phone_e164)).all()
    by = {r.phone_e164: r.id for r in rows}
    return [by[p] for p in phones]


def test_R_PRJ_2_lifecycle_persists(service: ProjectService, clock: FakeClock) -> None:
    service.create("spring", "Весна", "operators", queue="sales", settings={"max_attempts": 2})
    clock.advance(hours=1)
    started = service.start("spring")
    assert service.get("spring") == started and started.started_at == clock.now
    service.fail("spring", "pbx_down")
    assert (service.get("spring").status, service.get("spring").error_reason) == (
        ProjectStatus.ERROR,
        "pbx_down",
    )
    service.start("spring")
    service.complete("spring")
    with pytest.raises(ActionNotAllowed):
        service.start("spring")
    assert service.get("spring").status is ProjectStatus.COMPLETED


def test_R_PRJ_1_operators_project_needs_a_queue_to_start(service: ProjectService) -> None:
    service.create("noq", "No queue", "operators")
    with pytest.raises(ProjectError, match="queue"):
        service.start("noq")
    assert service.get("noq").status is ProjectStatus.DRAFT


def test_R_SAFE_1_running_rows_that_do_not_read_are_reported_not_raised(
    service: ProjectService, repo: ProjectRepo, migrated_engine: Engine, clock: FakeClock
) -> None:
    for pid in ("a", "b", "c"):
        service.create(pid, pid, "autoinformer")
        service.start(pid)
    service.pause("c")
    with migrated_engine.begin() as conn:
        conn.execute(text("UPDATE projects SET type = 'callback' WHERE id = 'a'"))
    good, bad = repo.running()
    assert [p.id for p in good] == ["b"]
    assert list(bad) == ["a"] and "callback" in bad["a"]
    assert repo.mark_error("a", "cannot dial: " + "x" * 400, clock.now)  # fits the column, on PostgreSQL too
    assert not repo.mark_error("c", "late", clock.now)  # paused meanwhile: the pause stands
    assert service.get("c").status.value == "paused"
    with migrated_engine.connect() as conn:
        status, reason = conn.execute(text("SELECT status, error_reason FROM projects WHERE id = 'a'")).one()
    assert status == "error" and reason.startswith("cannot dial: xxx") and len(reason) == 256


def test_R_PRJ_3_ids_are_unique_and_never_reused(service: ProjectService) -> None:
    service.create("a", "A", "autoinformer")
    with pytest.raises(ProjectError, match="already exists"):
        service.create("a", "A again", "robot")
    service.delete("a")
    with pytest.raises(UnknownProject):
        service.get("a")
    with pytest.raises(ProjectError, match="already exists"):
        service.create("a", "A reborn", "robot")


def test_R_PRJ_3_copy_keeps_settings_not_contact_states(
    service: ProjectService, repo: ProjectRepo, migrated_engine: Engine, clock: FakeClock
) -> None:
    service.create(
        "p1", "P1", "operators", queue="q1", caller_id="+380441110000", settings={"max_attempts": 4}
    )
    ids = _contacts(migrated_engine, PHONES[:2], clock.now)
    repo.add_contacts("p1", ids, clock.now)
    service.start("p1")
    upd = after_attempt(ContactSnapshot(PHONES[0], ContactState.NOT_CALLED), Outcome.ANSWERED, clock.now,
                        service.rules_for(service.get("p1")))  # fmt: skip
    repo.record_attempt("p1", ids[0], upd, clock.now, call_id="c1", results={"digit": "1"})
    copy = service.copy("p1", by=Actor("olga", UserRole.SUPERVISOR))
    assert copy.id == "p1-copy" and service.copy("p1").id == "p1-copy-2"
    assert (copy.settings, copy.queue, copy.caller_id, copy.status) == (
        {"max_attempts": 4}, "q1", "+380441110000", ProjectStatus.DRAFT,
    )  # fmt: skip
    assert repo.project_contacts(copy.id) == []
    [fig] = repo.figures("p1-copy")
    assert (fig.contacts, fig.processed_pct) == (0, None)


def test_R_PRJ_3_delete_keeps_contacts_in_the_base(
    service: ProjectService, repo: ProjectRepo, migrated_engine: Engine, clock: FakeClock
) -> None:
    service.create("old", "Old", "autoinformer")
    ids = _contacts(migrated_engine, PHONES, clock.now)
    assert repo.add_contacts("old", ids, clock.now) == 4
    service.start("old")
    with pytest.raises(ActionNotAllowed):
        service.delete("old")
    service.pause("old")
    service.delete("old")
    assert repo.contacts_count() == 4
    assert [f.project_id for f in service.list_projects()] == []
    service.create("new", "New", "autoinformer")
    assert repo.add_contacts("new", ids, clock.now) == 4  # the same contacts go into another project


def test_R_PRJ_4_R_PRJ_5_figures_per_state(
    service: ProjectService, repo: ProjectRepo, migrated_engine: Engine, clock: FakeClock
) -> None:
    service.create(
        "f", "Figures", "autoinformer", settings={"max_attempts": 1, "calling_hours": "00:00-24:00"}
    )
    ids = _contacts(migrated_engine, PHONES, clock.now)
    repo.add_contacts("f", ids, clock.now)
    assert repo.add_contacts("f", ids[:2], clock.now) == 0  # already there: states kept
    rules = service.rules_for(service.get("f"))
    for cid, phone, outcome in [(ids[0], PHONES[0], Outcome.ANSWERED), (ids[1], PHONES[1], Outcome.BUSY)]:
        repo.record_attempt("f", cid, after_attempt(ContactSnapshot(phone, ContactState.NOT_CALLED), outcome,
                                                    clock.now, rules), clock.now)  # fmt: skip
    snap = ContactSnapshot(PHONES[2], ContactState.NOT_CALLED)
    cb = after_attempt(snap, Outcome.CALLBACK, clock.now, rules, callback_at=clock.now.replace(hour=15))
    repo.record_attempt("f", ids[2], cb, clock.now)
    [fig] = service.list_projects()
    got = (fig.contacts, fig.reached, fig.not_reached, fig.will_call_again, fig.not_called, fig.attempts)
    assert got == (4, 1, 1, 1, 1, 3)
    assert fig.processed_pct == pytest.approx(25.0)
    view = service.view("f")
    assert view.figures == fig and view.project.id == "f"


def test_R_PRJ_8_due_contacts_and_dnc_added_mid_run(
    service: ProjectService, repo: ProjectRepo, migrated_engine: Engine, clock: FakeClock
) -> None:
    service.create("d", "DNC", "autoinformer", settings={"calling_hours": "00:00-24:00"})
    ids = _contacts(migrated_engine, PHONES[:3], clock.now)
    repo.add_contacts("d", ids, clock.now)
    rules = service.rules_for(service.get("d"))
    busy = after_attempt(ContactSnapshot(PHONES[1], ContactState.NOT_CALLED), Outcome.BUSY, clock.now, rules)
    repo.record_attempt("d", ids[1], busy, clock.now)
    due = repo.due_contacts("d", clock.now, 10)
    assert [c.phone_e164 for c in due] == [PHONES[0], PHONES[2]]  # the busy one waits for its retry
    clock.advance(minutes=15)
    due = repo.due_contacts("d", clock.now, 10)
    assert [c.phone_e164 for c in due] == [PHONES[0], PHONES[2], PHONES[1]]
    repo.dnc_add([PHONES[2]], clock.now, "asked not to be called")
    dnc = repo.dnc_among(c.phone_e164 for c in due)
    snaps = [
        ContactSnapshot(c.phone_e164, c.state, c.attempts, c.next_attempt_at, c.last_result) for c in due
    ]
    assert [bool(eligible(s, clock.now, rules, dnc)) for s in snaps] == [True, False, True]
    assert repo.dnc_remove(PHONES[2]) and repo.dnc_among([PHONES[2]]) == set()


def _leg(direction: Direction, talk: float, ext: str | None = "101", **kw: object) -> Leg:
    base = Leg(
        call_id="c", leg_seq=0, direction=direction, caller="0501234567", caller_name=None, callee="5000",
        extension=ext, answered=talk > 0, disposition=Disposition.ANSWERED if talk else Disposition.MISSED,
        transfer_from_leg=None, transfer_kind=None, role=Role.MAIN, queue=None, project=None,
        started_at=1.0, answered_at=2.0 if talk else None, ended_at=2.0 + talk, ring_s=1.0, talk_s=talk,
        hangup_cause=16, hangup_by="caller",
    )  # fmt: skip
    return replace(base, **kw)  # type: ignore[arg-type]


def _record(direction: Direction, talk: float, *, project: str | None = None, **kw: object) -> CallRecord:
    leg = _leg(direction, talk, **kw)
    return CallRecord(
        call_id="c", pbx="asterisk", direction=direction, disposition=leg.disposition, caller=leg.caller,
        callee=leg.callee, started_at=1.0, ended_at=leg.ended_at, legs=(leg,), project=project,
    )  # fmt: skip


def test_R_PRJ_9_only_creator_and_admin_change_the_rules(service: ProjectService) -> None:
    rules = GlobalStatusRules(RuleScope.ALL_PROJECTS, RuleScope.LAST_PROJECT, RuleScope.DO_NOT_CHANGE)
    for role in (UserRole.AGENT, UserRole.SUPERVISOR):
        with pytest.raises(NotPermitted, match="creator and admin"):
            service.set_global_rules(rules, Actor("x", role))
        assert isinstance(NotPermitted("x"), PermissionError)
    assert service.global_rules() == GlobalStatusRules()
    service.set_global_rules(rules, Actor("boss", UserRole.CREATOR))
    assert service.global_rules() == rules
    service.set_global_rules(GlobalStatusRules(), Actor("root", UserRole.ADMIN))
    assert service.global_rules() == GlobalStatusRules()


def test_R_PRJ_9_inbound_answered_marks_the_last_calling_project(
    service: ProjectService, repo: ProjectRepo, migrated_engine: Engine, clock: FakeClock
) -> None:
    for pid in ("p1", "p2", "p3"):
        service.create(pid, pid, "autoinformer", settings={"calling_hours": "00:00-24:00"})
    [cid] = _contacts(migrated_engine, [PHONES[0]], clock.now)
    for pid in ("p1", "p2", "p3"):
        repo.add_contacts(pid, [cid], clock.now)
    rules = service.rules_for(service.get("p1"))
    snap = ContactSnapshot(PHONES[0], ContactState.NOT_CALLED)
    repo.record_attempt("p1", cid, after_attempt(snap, Outcome.BUSY, clock.now, rules), clock.now)
    clock.advance(minutes=5)
    repo.record_attempt("p2", cid, after_attempt(snap, Outcome.NO_ANSWER, clock.now, rules), clock.now)
    service.set_global_rules(GlobalStatusRules(inbound_answered=RuleScope.LAST_PROJECT), SYSTEM)
    # The customer calls back (national format, region UA) and an operator answers for 30 s.
    assert service.apply_call_rules(_record(Direction.INBOUND, 30, caller="0501234567")) == ["p2"]
    states = {pid: repo.project_contacts(pid)[0].state for pid in ("p1", "p2", "p3")}
    assert states == {
        "p1": ContactState.WILL_CALL_AGAIN,
        "p2": ContactState.REACHED,
        "p3": ContactState.NOT_CALLED,
    }
    # Nobody answered: not an "inbound answered by an operator" call.
    service.set_global_rules(GlobalStatusRules(inbound_answered=RuleScope.ALL_PROJECTS), SYSTEM)
    assert service.apply_call_rules(_record(Direction.INBOUND, 0, caller="0501234567", ext=None)) == []
    # Manual outbound call of 0.5 s: too short; project call rule off: nothing.
    service.set_global_rules(GlobalStatusRules(RuleScope.ALL_PROJECTS, RuleScope.ALL_PROJECTS), SYSTEM)
    assert service.apply_call_rules(_record(Direction.OUTBOUND, 0.5, callee="+380501234567")) == []
    assert service.apply_call_rules(_record(Direction.OUTBOUND, 3, callee="+380501234567")) == ["p1", "p3"]
    assert {c.state for pid in ("p1", "p2", "p3") for c in repo.project_contacts(pid)} == {
        ContactState.REACHED
    }


def test_R_SAFE_1_unreadable_rules_or_memberships_cost_only_themselves(
    service: ProjectService,
    repo: ProjectRepo,
    migrated_engine: Engine,
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    for pid in ("p1", "p2"):
        service.create(pid, pid, "autoinformer", settings={"calling_hours": "00:00-24:00"})
    [cid] = _contacts(migrated_engine, [PHONES[0]], clock.now)
    for pid in ("p1", "p2"):
        repo.add_contacts(pid, [cid], clock.now)
    service.set_global_rules(GlobalStatusRules(inbound_answered=RuleScope.ALL_PROJECTS), SYSTEM)
    with migrated_engine.begin() as conn:  # rows a newer version or a hand edit left behind
        conn.execute(text("UPDATE projects SET status = 'archived' WHERE id = 'p1'"))
    call = _record(Direction.INBOUND, 30, caller="0501234567")
    assert service.apply_call_rules(call) == ["p2"]  # p1 does not read: the other project still counts
    with migrated_engine.begin() as conn:
        conn.execute(
            text("UPDATE settings SET value = :v WHERE key = 'global_contact_status_rules'"),
            {"v": json.dumps({"inbound_answered": "every_galaxy"})},
        )
    with caplog.at_level(logging.ERROR, logger="ccagent"):
        for _ in range(3):  # "do not change", said once, not a failure per call
            assert service.apply_call_rules(call) == []
    assert service.global_rules() == GlobalStatusRules()
    assert len([r for r in caplog.records if "rules unreadable" in r.getMessage()]) == 1


def test_R_PRJ_9_project_call_in_all_projects(
    service: ProjectService, repo: ProjectRepo, migrated_engine: Engine, clock: FakeClock
) -> None:
    for pid in ("a", "b"):
        service.create(pid, pid, "autoinformer")
    [cid] = _contacts(migrated_engine, [PHONES[1]], clock.now)
    repo.add_contacts("a", [cid], clock.now)
    repo.add_contacts("b", [cid], clock.now)
    service.set_global_rules(GlobalStatusRules(project_call=RuleScope.ALL_PROJECTS), SYSTEM)
    rec = _record(Direction.OUTBOUND, 12, project="a", callee="+380671234567")
    assert service.apply_call_rules(rec) == ["a", "b"]
    assert service.apply_call_rules(rec) == []  # idempotent: already reached
