"""The dialer's figures as scraped (issue 13 item 5): read from a real engine at scrape time."""

from __future__ import annotations

import itertools

from prometheus_client import generate_latest

from ccagent.app.metrics import Metrics
from ccagent.core.agents import AgentBoard
from ccagent.core.dialer.engine import DialerEngine, DialTarget
from tests.dialer.helpers import lab_run as project_run


class _Always:
    def decide(self, state: object) -> int:
        return 3

    def on_event(self, event: object) -> None: ...


def test_dialer_gauges_follow_the_engine_projects_lines_and_abandon_rate() -> None:
    ids = itertools.count()
    engine = DialerEngine(agents=AgentBoard(), new_id=lambda: f"a{next(ids)}")
    metrics = Metrics()
    metrics.watch_dialer(engine)
    assert "ccagent_dialer_projects_running 0.0" in generate_latest(metrics.registry).decode()

    engine.start_project(project_run("spring", kind="autoinformer", max_lines=5), _Always(), 0.0)
    engine.start_project(project_run("idle", kind="autoinformer"), _Always(), 0.0)
    engine.decide(1.0)
    engine.launch(1.0, "spring", [DialTarget(f"c{i}", f"+38050123456{i}") for i in range(4)])
    engine.projects["spring"].stats.update(answered=4.0, abandoned=1.0)

    text = generate_latest(metrics.registry).decode()
    assert "ccagent_dialer_projects_running 2.0" in text
    assert 'ccagent_dialer_lines_in_use{project="spring"} 3.0' in text  # the pacer granted 3 of 4
    assert 'ccagent_dialer_lines_in_use{project="idle"} 0.0' in text
    assert 'ccagent_dialer_abandon_rate{project="spring"} 0.25' in text
    assert 'ccagent_dialer_abandon_rate{project="idle"} 0.0' in text
