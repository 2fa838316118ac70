"""The project report's queries on SQLite and PostgreSQL: set-based, no query per row (R-PRJ-5, R-REP-1)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine

from ccagent.core.pbx_events import AgentStatus
from ccagent.core.projects import new_project
from ccagent.storage.projects_repo import AgentCall, AgentWork, ProjectRepo
from ccagent.storage.repositories import CallStore
from tests.statements import statements
from tests.storage.conftest import Build

T0 = Build.T0
NOW = datetime.fromtimestamp(T0, UTC)


def _project(repo: ProjectRepo, pid: str, wrap_up_s: float | None = None, *, deleted: bool = False) -> None:
    settings = {"wrap_up_s": wrap_up_s} if wrap_up_s is not None else None
    p = new_project(pid, pid.upper(), "operators", NOW, mode="progressive", queue="q", settings=settings)
    repo.add(p)
    if deleted:
        repo.delete(p.delete(NOW + timedelta(seconds=1)))


def _call(build: type[Build], call: str, ext: str, start: float, project: str | None, **kw: object) -> object:
    leg = build.leg(call, extension=ext, started_at=start, ended_at=start + 60.0, project=project, **kw)
    return build.record(call, (leg,), project=project)


def test_R_PRJ_5_listing_costs_one_statement_however_many_projects(migrated_engine: Engine) -> None:
    repo = ProjectRepo(migrated_engine)
    _project(repo, "p0")
    with statements(migrated_engine) as one:
        assert [f.project_id for f in repo.figures()] == ["p0"]
    for i in range(1, 8):
        _project(repo, f"p{i}", deleted=i == 7)
    with statements(migrated_engine) as many:
        assert [f.project_id for f in repo.figures()] == [f"p{i}" for i in range(7)]
    assert len(one) == len(many) == 1


def test_R_PRJ_5_agent_work_counts_the_projects_answered_legs(
    migrated_engine: Engine, build: type[Build]
) -> None:
    repo = ProjectRepo(migrated_engine)
    calls = [
        _call(build, "c1", "101", T0, "p", employee="Оля"),
        _call(build, "c2", "101", T0 + 100, "p"),
        _call(build, "c3", "102", T0 + 200, "p", answered=False),  # offered, not taken
        _call(build, "c4", "103", T0 + 300, "other"),
        _call(build, "c5", None, T0 + 400, "p"),  # type: ignore[arg-type]  # no agent
    ]
    CallStore(migrated_engine).save_calls(calls)  # type: ignore[arg-type]
    assert repo.agent_work("p") == {"101": AgentWork("Оля", 2, 2 * 30.25)}
    assert repo.agent_work("nobody") == {}


def test_R_PRJ_5_agent_states_of_a_queue_include_those_reported_without_one(migrated_engine: Engine) -> None:
    CallStore(migrated_engine).save_agent_statuses(
        [
            AgentStatus(ts=T0 + 2, extension="101", queue="hot", action="pause", reason="Break"),
            AgentStatus(ts=T0, extension="101", queue="hot", action="login"),
            AgentStatus(ts=T0 + 1, extension="102", queue=None, action="login"),  # mod_callcenter
            AgentStatus(ts=T0 + 3, extension="103", queue="other", action="login"),
        ],
        pbx="asterisk",
    )
    repo = ProjectRepo(migrated_engine)
    seen = [(s.ts - T0, s.extension, s.action) for s in repo.agent_states("hot")]
    assert seen == [(0, "101", "login"), (1, "102", "login"), (2, "101", "pause")]  # in time order
    assert [s.extension for s in repo.agent_states(None)] == ["101", "102", "101", "103"]
    assert repo.agent_states("hot")[-1].reason == "Break"


def test_R_PRJ_5_agent_calls_carry_their_projects_wrap_up(
    migrated_engine: Engine, build: type[Build]
) -> None:
    repo = ProjectRepo(migrated_engine)
    _project(repo, "a", 10)
    _project(repo, "gone", 20, deleted=True)  # a deleted project's calls still took the agent's time
    _project(repo, "plain")
    calls = [
        _call(build, "c1", "101", T0, "a"),
        _call(build, "c2", "101", T0 + 100, "gone"),
        _call(build, "c3", "101", T0 + 200, "plain"),
        _call(build, "c4", "101", T0 + 300, None),
        _call(build, "c5", "101", T0 + 400, "unknown"),  # a project id with no project row
        _call(build, "c6", "101", T0 - 3700, "a"),  # ended more than an hour before ``since``
        _call(build, "c7", "101", T0 + 5000, "a"),  # started after ``until``
        _call(build, "c8", "102", T0, "a"),  # not asked for
    ]
    CallStore(migrated_engine).save_calls(calls)  # type: ignore[arg-type]
    got = sorted(repo.agent_calls(["101", "103"], T0, T0 + 1000), key=lambda c: c.started)
    assert got == [
        AgentCall("101", T0 + s, T0 + s + 60.0, wrap)
        for s, wrap in [(0, 10), (100, 20), (200, 0), (300, 0), (400, 0)]
    ]
    assert repo.agent_calls([], T0, T0 + 1000) == []


@pytest.mark.parametrize("projects", [1, 6])
def test_R_PRJ_5_agent_calls_cost_two_statements_however_many_projects_and_legs(
    migrated_engine: Engine, build: type[Build], projects: int
) -> None:
    """The old report read each leg's project on its own (a query per project met): now two, always."""
    repo = ProjectRepo(migrated_engine)
    calls = []
    for i in range(projects):
        _project(repo, f"p{i}", i)
        calls += [_call(build, f"c{i}-{k}", f"10{k}", T0 + 100 * i + k, f"p{i}") for k in range(3)]
    CallStore(migrated_engine).save_calls(calls)  # type: ignore[arg-type]
    with statements(migrated_engine) as sent:
        got = repo.agent_calls(["100", "101", "102"], T0, T0 + 3600)
    assert len(got) == 3 * projects
    assert {c.wrap_up_s for c in got} == {float(i) for i in range(projects)}
    assert len(sent) == 2
