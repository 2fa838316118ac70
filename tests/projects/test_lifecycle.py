"""Project lifecycle, actions and global contact-status rules as pure decisions (R-PRJ-1..3, R-PRJ-9)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ccagent.core.projects import (
    Action,
    ActionNotAllowed,
    CallKind,
    ContactState,
    DialMode,
    GlobalStatusRules,
    Membership,
    ProjectError,
    ProjectStatus,
    ProjectType,
    RuleScope,
    UserRole,
    allowed_actions,
    may_change_global_rules,
    new_project,
    projects_to_mark_reached,
)

T0 = datetime(2024, 5, 1, 9, 0, tzinfo=UTC)


def _draft(**kw: object):
    return new_project("spring", "Весна", ProjectType.OPERATORS, T0, queue="sales", **kw)  # type: ignore[arg-type]


def test_R_PRJ_2_start_pause_toggle_and_dates() -> None:
    p = _draft()
    assert p.status is ProjectStatus.DRAFT and p.mode is DialMode.PREDICTIVE
    running = p.start(T0 + timedelta(hours=1))
    assert running.status is ProjectStatus.RUNNING and running.started_at == T0 + timedelta(hours=1)
    paused = running.pause(T0 + timedelta(hours=2))
    again = paused.start(T0 + timedelta(hours=3))
    assert again.status is ProjectStatus.RUNNING
    assert again.started_at == T0 + timedelta(hours=1)  # the first start stays the start date


def test_R_PRJ_2_completed_is_final() -> None:
    done = _draft().start(T0).complete(T0 + timedelta(days=1))
    assert done.completed_at == T0 + timedelta(days=1)
    for action in (done.start, done.pause, done.complete):
        with pytest.raises(ActionNotAllowed, match="completed"):
            action(T0)
    with pytest.raises(ActionNotAllowed):
        done.edit({"name": "again"}, T0)
    assert set(allowed_actions(ProjectStatus.COMPLETED)) == {Action.COPY, Action.DELETE, Action.REPORT}


def test_R_PRJ_2_error_carries_a_reason_and_start_clears_it() -> None:
    running = _draft().start(T0)
    failed = running.fail("no_agents", T0)
    assert (failed.status, failed.error_reason) == (ProjectStatus.ERROR, "no_agents")
    assert failed.start(T0).error_reason is None
    with pytest.raises(ProjectError, match="reason"):
        running.fail("  ", T0)
    with pytest.raises(ActionNotAllowed):
        _draft().fail("pbx_down", T0)  # a draft is not dialling, so it cannot fail


def test_R_PRJ_3_running_project_cannot_be_deleted_paused_can() -> None:
    running = _draft().start(T0)
    with pytest.raises(ActionNotAllowed, match="running"):
        running.delete(T0)
    deleted = running.pause(T0).delete(T0)
    assert deleted.deleted_at == T0
    with pytest.raises(ProjectError, match="deleted"):
        deleted.start(T0)


def test_R_PRJ_3_copy_keeps_settings_not_status_or_dates() -> None:
    original = _draft(caller_id="+380441234567", settings={"max_attempts": 5}).start(T0).complete(T0)
    copy = original.copy("spring-2", T0 + timedelta(days=2), by="olga")
    assert (copy.status, copy.started_at, copy.completed_at) == (ProjectStatus.DRAFT, None, None)
    assert (copy.type, copy.mode, copy.queue, copy.caller_id) == (
        original.type,
        original.mode,
        original.queue,
        original.caller_id,
    )
    assert copy.settings == {"max_attempts": 5} and copy.settings is not original.settings
    assert copy.name == "Весна (copy)" and copy.created_by == "olga"


def test_R_PRJ_1_field_validation_names_the_field() -> None:
    with pytest.raises(ProjectError, match=r"^id:"):
        new_project("bad id!", "x", "operators", T0)
    with pytest.raises(ProjectError, match=r"^type:"):
        new_project("x", "x", "fax", T0)
    with pytest.raises(ProjectError, match=r"^mode:"):
        new_project("x", "x", "autoinformer", T0, mode="predictive")
    with pytest.raises(ProjectError, match=r"^caller_id:"):
        new_project("x", "x", "robot", T0, caller_id="abc")
    assert new_project("x", "x", "autoinformer", T0).mode is None
    for name in ("Line1\nLine2", "\x1b[31mRED", "tab\there", "c1\x85"):
        with pytest.raises(ProjectError, match=r"^name: control characters"):
            new_project("x", name, "autoinformer", T0)
    assert new_project("x", "Весна 2026 — «продажі»", "autoinformer", T0).name == "Весна 2026 — «продажі»"


def test_R_PRJ_3_edit_merges_settings_and_type_only_changes_in_draft() -> None:
    p = _draft(settings={"max_attempts": 2, "wrap_up_s": 10})
    e = p.edit({"settings": {"max_attempts": 4, "wrap_up_s": None}, "name": "New"}, T0)
    assert e.settings == {"max_attempts": 4} and e.name == "New"
    assert p.edit({"type": "robot", "mode": None}, T0).type is ProjectType.ROBOT
    with pytest.raises(ProjectError, match="draft"):
        p.start(T0).edit({"type": "robot", "mode": None}, T0)
    with pytest.raises(ProjectError, match="cannot edit status"):
        p.edit({"status": "running"}, T0)


M = Membership
D1, D2 = T0, T0 + timedelta(hours=1)


def _members() -> list[Membership]:
    return [
        M("a", ProjectStatus.RUNNING, ContactState.WILL_CALL_AGAIN, D1),
        M("b", ProjectStatus.PAUSED, ContactState.NOT_CALLED, D2),
        M("c", ProjectStatus.RUNNING, ContactState.NOT_CALLED, None),
        M("done", ProjectStatus.COMPLETED, ContactState.NOT_REACHED, D1),
    ]


def test_R_PRJ_9_scopes_choose_the_projects() -> None:
    rules = GlobalStatusRules(
        inbound_answered=RuleScope.LAST_PROJECT,
        manual_outbound=RuleScope.ALL_PROJECTS,
        project_call=RuleScope.DO_NOT_CHANGE,
    )
    assert projects_to_mark_reached(rules, CallKind.INBOUND_ANSWERED, 30, _members()) == ["b"]
    assert projects_to_mark_reached(rules, CallKind.MANUAL_OUTBOUND, 30, _members()) == ["a", "b", "c"]
    assert projects_to_mark_reached(rules, CallKind.PROJECT_CALL, 30, _members()) == []


def test_R_PRJ_9_shorter_than_one_second_changes_nothing() -> None:
    rules = GlobalStatusRules(RuleScope.ALL_PROJECTS, RuleScope.ALL_PROJECTS, RuleScope.ALL_PROJECTS)
    assert projects_to_mark_reached(rules, CallKind.MANUAL_OUTBOUND, 0.9, _members()) == []
    assert projects_to_mark_reached(rules, CallKind.MANUAL_OUTBOUND, 1.0, _members()) == ["a", "b", "c"]


def test_R_PRJ_9_last_project_of_a_project_call_is_the_calling_project() -> None:
    rules = GlobalStatusRules(project_call=RuleScope.LAST_PROJECT)
    got = projects_to_mark_reached(rules, CallKind.PROJECT_CALL, 5, _members(), calling_project="c")
    assert got == ["c"]


def test_R_PRJ_9_completed_last_project_is_left_alone() -> None:
    rules = GlobalStatusRules(inbound_answered=RuleScope.LAST_PROJECT)
    members = [*_members(), M("late", ProjectStatus.COMPLETED, ContactState.NOT_REACHED, D2 + timedelta(1))]
    assert projects_to_mark_reached(rules, CallKind.INBOUND_ANSWERED, 30, members) == []


def test_R_PRJ_9_rules_round_trip_and_refuse_bad_values() -> None:
    rules = GlobalStatusRules(RuleScope.ALL_PROJECTS, RuleScope.LAST_PROJECT, RuleScope.DO_NOT_CHANGE)
    assert GlobalStatusRules.from_json(rules.to_json()) == rules
    with pytest.raises(ProjectError, match="inbound_answered"):
        GlobalStatusRules.from_json({"inbound_answered": "sometimes"})
    with pytest.raises(ProjectError, match="unknown call kind"):
        GlobalStatusRules.from_json({"fax": "all_projects"})


@pytest.mark.parametrize(
    ("role", "ok"),
    [("creator", True), ("admin", True), ("supervisor", False), ("agent", False), ("x", False)],
)
def test_R_PRJ_9_only_creator_and_admin_change_the_rules(role: str, ok: bool) -> None:
    assert may_change_global_rules(role) is ok
    if ok:
        assert UserRole(role) in (UserRole.CREATOR, UserRole.ADMIN)
