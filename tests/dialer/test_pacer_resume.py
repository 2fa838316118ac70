"""A restart or a pause/resume hands the project's abandon record to its new pacer (R-PACE-2)."""

from __future__ import annotations

from pathlib import Path

from ccagent.app.bootstrap import build
from ccagent.app.dialer import AttemptContacts, DialerService, RetryRules
from ccagent.config import parse_config
from ccagent.core.dialer.engine import Attempt, AttemptStatus, Originate, Outcome, Settlement
from ccagent.core.dialer.pacer import PredictivePacer
from ccagent.storage.attempts_repo import AttemptStore
from tests.dialer.helpers import lab_run

NOW = 1_800_000_000.0


class _NoPort:
    async def originate(self, cmd: Originate) -> str | None:  # pragma: no cover - nothing is dialled here
        raise AssertionError("no originate expected")


def _stored(store: AttemptStore, project: str, outcomes: list[tuple[Outcome, float]]) -> None:
    """Settled attempts of ``project``: (outcome, seconds before NOW it ended)."""
    attempts = [
        Attempt(
            f"{project}-{i}",
            project,
            f"c{i}",
            f"04410{i:05d}",
            f"ch-{project}-{i}",
            NOW - ago - 30.0,
            AttemptStatus.PLANNED,
        )
        for i, (_o, ago) in enumerate(outcomes)
    ]
    store.plan(attempts)
    store.settle(
        [
            Settlement(a.attempt_id, project, a.contact_id, a.number, outcome, NOW - ago, None, None, {})
            for a, (outcome, ago) in zip(attempts, outcomes, strict=True)
        ]
    )


def test_R_PACE_2_restart_and_pause_keep_the_projects_abandon_record(tmp_path: Path) -> None:
    wiring = build(parse_config({}), pbx="asterisk", db_url=f"sqlite:///{tmp_path / 'x.db'}")
    store = AttemptStore(wiring.engine)
    answered, abandoned, machine, busy = Outcome.ANSWERED, Outcome.ABANDONED, Outcome.MACHINE, Outcome.BUSY
    _stored(
        store,
        "p1",
        [(answered, 7200.0)] * 40  # two hours ago: counts for the run, not for the window
        + [(abandoned, 7000.0)] * 2
        + [(answered, 600.0)] * 18  # the last 30 minutes
        + [(abandoned, 300.0), (abandoned, 60.0)]
        + [(machine, 100.0), (busy, 50.0)],  # not live answers
    )
    _stored(store, "other", [(abandoned, 60.0)] * 5)  # another project's record is not ours
    service = DialerService(
        store=store,
        contacts=AttemptContacts({"p1": []}, RetryRules(max_attempts=1)),
        port=_NoPort(),
        clock=lambda: NOW,
    )
    pacer = PredictivePacer()
    service.start_project(lab_run("p1", queue="q"), pacer)
    assert (pacer.answered, pacer.abandoned) == (62, 4)
    # the window: 20 answers and 2 abandons of the last 30 minutes, at their times in the pacer's clock
    assert sorted(pacer._answer_times)[0] == -600.0 and len(pacer._answer_times) == 20
    assert sorted(pacer._abandon_times) == [-300.0, -60.0]
    # a pause and a resume builds a new pacer: it gets the same record
    service.stop_project("p1")
    again = PredictivePacer()
    service.start_project(lab_run("p1", queue="q"), again)
    assert (again.answered, again.abandoned) == (62, 4)
    # a project already running keeps its pacer; the one passed again is not seeded twice
    third = PredictivePacer()
    service.start_project(lab_run("p1", queue="q"), third)
    assert service.engine.projects["p1"].pacer is again and third.answered == 0
