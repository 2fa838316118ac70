"""Project view: agents of the project with their PBX-reported status, talk and waiting time (R-PRJ-5)."""

from __future__ import annotations

from sqlalchemy import Engine

from ccagent.app.projects import ProjectService
from ccagent.core.legs.model import CallRecord, Direction, Disposition, Leg, Role
from ccagent.core.pbx_events import AgentStatus
from ccagent.storage.repositories import CallStore
from tests.projects.conftest import FakeClock
from tests.statements import statements


def test_R_PRJ_5_view_lists_queue_agents_with_their_latest_state(
    service: ProjectService, migrated_engine: Engine
) -> None:
    service.create("hot", "Hotline", "operators", mode="progressive", queue="hotline")
    t = 1_800_000_000.0
    CallStore(migrated_engine).save_agent_statuses(
        [
            AgentStatus(ts=t, extension="101", queue="hotline", action="login"),
            AgentStatus(ts=t + 1, extension="102", queue="hotline", action="login"),
            AgentStatus(ts=t + 2, extension="101", queue="hotline", action="pause", reason="Break"),
            AgentStatus(ts=t + 3, extension="103", queue="other", action="login"),
            AgentStatus(ts=t + 4, extension="102", queue="hotline", action="logout"),
        ],
        pbx="asterisk",
    )
    agents = {a.extension: (a.status, a.calls, a.talk_s) for a in service.view("hot").agents}
    assert agents == {"101": ("paused (Break)", 0, 0.0), "102": ("logged_out", 0, 0.0)}


def _leg(call: str, ext: str, start: float, end: float, project: str | None) -> CallRecord:
    leg = Leg(
        call_id=call, leg_seq=0, direction=Direction.OUTBOUND, caller="5000", caller_name=None,
        callee="0501234567", extension=ext, answered=True, disposition=Disposition.ANSWERED,
        transfer_from_leg=None, transfer_kind=None, role=Role.MAIN, queue=None, project=project,
        started_at=start, answered_at=start + 5.0, ended_at=end, ring_s=5.0, talk_s=end - start - 5.0,
        hangup_cause=16, hangup_by="callee",
    )  # fmt: skip
    return CallRecord(
        call_id=call, pbx="asterisk", direction=leg.direction, disposition=leg.disposition, caller=leg.caller,
        callee=leg.callee, started_at=start, ended_at=end, legs=(leg,), project=project,
    )  # fmt: skip


def test_R_PRJ_5_view_shows_each_agents_time_waiting_since_the_project_started(
    service: ProjectService, migrated_engine: Engine, clock: FakeClock
) -> None:
    service.create(
        "hot", "Hotline", "operators", mode="progressive", queue="hotline", settings={"wrap_up_s": 10}
    )
    assert {a.extension: a.wait_s for a in service.view("hot").agents} == {}
    t0 = clock.now.timestamp()
    store = CallStore(migrated_engine)
    store.save_agent_statuses(
        [
            AgentStatus(ts=t0 - 200, extension="101", queue="hotline", action="login"),  # before the start
            AgentStatus(ts=t0 + 300, extension="101", queue="hotline", action="pause", reason="Break"),
            AgentStatus(ts=t0 + 400, extension="101", queue="hotline", action="unpause"),
            AgentStatus(ts=t0 + 50, extension="102", queue=None, action="login"),  # mod_callcenter: no queue
            AgentStatus(ts=t0, extension="103", queue="other", action="login"),
        ],
        pbx="asterisk",
    )
    store.save_calls(
        [
            _leg("c1", "101", t0 + 100, t0 + 160, "hot"),  # + the project's 10 s wrap-up
            _leg("c2", "101", t0 + 450, t0 + 480, None),  # an inbound call outside the project: busy too
        ]
    )
    assert {a.extension: a.wait_s for a in service.view("hot").agents} == {"101": None, "102": None}
    service.start("hot")
    clock.advance(seconds=600)
    agents = {a.extension: (a.status, a.calls, a.talk_s, a.wait_s) for a in service.view("hot").agents}
    # 101: ready 0-300 and 400-600 (500 s) less the call and its wrap-up (70 s) and the other call (30 s)
    assert agents == {"101": ("ready", 1, 55.0, 400.0), "102": ("ready", 0, 0.0, 550.0)}
    service.complete("hot")
    clock.advance(seconds=600)  # a completed project's figures stop growing
    assert {a.extension: a.wait_s for a in service.view("hot").agents} == {"101": 400.0, "102": 550.0}


def test_R_PRJ_5_listing_and_view_cost_the_same_statements_however_many_projects_and_calls(
    service: ProjectService, migrated_engine: Engine, clock: FakeClock
) -> None:
    """No query per project or per call (issue 12): the report reads sets, a fixed number of times."""
    store = CallStore(migrated_engine)
    t0 = clock.now.timestamp()

    def grow(n: int) -> None:
        for i in range(n):
            pid = f"p{len(service.list_projects())}"
            service.create(
                pid, pid, "operators", mode="progressive", queue="hotline", settings={"wrap_up_s": i}
            )
            store.save_calls(
                [_leg(f"{pid}-c{k}", f"10{k}", t0 + 60 * k, t0 + 60 * k + 30, pid) for k in range(3)]
            )

    store.save_agent_statuses(
        [AgentStatus(ts=t0 - 10, extension=f"10{k}", queue="hotline", action="login") for k in range(3)],
        pbx="asterisk",
    )
    grow(1)
    service.start("p0")
    clock.advance(seconds=600)
    with statements(migrated_engine) as listing_one:
        assert len(service.list_projects()) == 1
    with statements(migrated_engine) as view_one:
        assert len(service.view("p0").agents) == 3
    grow(6)
    with statements(migrated_engine) as listing_many:
        assert len(service.list_projects()) == 7
    with statements(migrated_engine) as view_many:
        # each agent's calls in the other projects keep it busy too: their wrap-ups are read as a set
        assert len(service.view("p0").agents) == 3
    assert len(listing_one) == len(listing_many) == 1
    assert len(view_one) == len(view_many)
