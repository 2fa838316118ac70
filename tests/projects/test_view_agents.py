"""Project view: agents of the project with their PBX-reported status and talk time (R-PRJ-5)."""

from __future__ import annotations

from sqlalchemy import Engine

from ccagent.app.projects import ProjectService
from ccagent.core.pbx_events import AgentStatus
from ccagent.storage.repositories import CallStore


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
