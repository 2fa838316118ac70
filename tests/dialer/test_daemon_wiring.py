"""The shipped daemon wiring (``ccagent run`` = build_daemon + attach_dialer) dials a project stored in the
database: contacts imported from a CSV, the project started by the project service, the simulated
Asterisk answering, every contact ending in the state the script implies (issue 6; R-PRJ-2, R-PRJ-5,
R-PRJ-7, R-PRJ-8, R-PRJ-9).
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from ccagent.app import dialer_runtime
from ccagent.app.bootstrap import attach_dialer, build_daemon
from ccagent.app.contacts_import import import_contacts
from ccagent.app.daemon import NullNotifier
from ccagent.app.projects import ProjectService
from ccagent.sim.ami_server import SimAsterisk
from ccagent.sim.dialer_script import AmiDialerScript
from ccagent.storage.contacts_repo import ContactsRepo
from ccagent.storage.projects_repo import ProjectRepo
from tests.dialer.dialer_daemon import SECRET, TRUNK, AccelClock, config_for
from tests.dialer.helpers import one_contact

SPEED = 40.0
T0 = datetime(2026, 3, 10, 12, 0, tzinfo=UTC).timestamp()  # a Tuesday, 14:00 in Kyiv
AGENTS = ("101", "102")
# national numbers as an admin's spreadsheet has them; the import makes them E.164 (+380...)
NUMBERS = [f"050{i:07d}" for i in range(1, 9)]
SCRIPT = {0: ("answered",), 1: ("busy", "answered"), 2: ("no_answer", "no_answer")}


def scripted(number: str, nth: int) -> str:
    seq = SCRIPT[int(number[-1]) % 3]
    return seq[min(nth, len(seq)) - 1]


@pytest.mark.timeout(120)
def test_R_PRJ_5_the_shipped_wiring_dials_a_stored_project_to_completion(tmp_path: Path) -> None:
    db_url = f"sqlite:///{tmp_path / 'run.db'}"
    csv_file = tmp_path / "contacts.csv"
    csv_file.write_text(
        "phone;name\n" + "".join(f"{n};Client {i}\n" for i, n in enumerate(NUMBERS)), encoding="utf-8"
    )
    clock = AccelClock(SPEED, t0=T0)

    async def scenario() -> dict[str, tuple[str, int]]:
        sim = SimAsterisk(username="ccagent", secret=SECRET, trunks=(TRUNK,))
        await sim.start()
        script = AmiDialerScript(sim, scripted, agents=AGENTS, clock=clock, speed=SPEED, wrap_s=2.0)
        script.install()
        config = config_for(sim.port, db_url)
        daemon = build_daemon(config, notifier=NullNotifier(), clock=clock)
        daemon.idle_wait_s = 0.02  # the accelerated clock needs frequent ticks
        runtime = attach_dialer(config, daemon)
        repo = ProjectRepo(daemon.wiring.engine)
        service = ProjectService(repo, clock=lambda: datetime.fromtimestamp(clock(), UTC))
        service.create(
            "spring",
            "Spring",
            "operators",
            mode="progressive",
            queue="support",
            caller_id="2000",
            settings={
                "max_attempts": 2,
                "retry_minutes": {"busy": 1, "no_answer": 1},
                "calling_hours": "09:00-20:00",
            },
        )
        report = import_contacts(
            ContactsRepo(daemon.wiring.engine), csv_file, project_id="spring", default_region="UA"
        )
        assert report.added_to_project == len(NUMBERS) and report.bad_rows == 0
        task = asyncio.create_task(daemon.run())
        try:
            await sim.wait_logged_in(1, timeout=10)
            await script.login_agents("support")
            service.start("spring")  # the daemon notices the running project at its next sync
            deadline = time.monotonic() + 90
            while time.monotonic() < deadline:
                states = {
                    pc.phone_e164: (pc.state.value, pc.attempts) for pc in repo.project_contacts("spring")
                }
                if all(s in ("reached", "not_reached") for s, _ in states.values()):
                    break
                await asyncio.sleep(0.1)
            await script.wait_idle()
        finally:
            daemon.request_stop()
            assert await asyncio.wait_for(task, 20) == 0
            await sim.stop()
        assert runtime.dialer.stats.settled >= len(NUMBERS)
        return states

    states = asyncio.run(scenario())
    for i, n in enumerate(NUMBERS):
        e164 = "+380" + n[1:]
        seq = SCRIPT[int(n[-1]) % 3]
        want = ("reached", len(seq)) if seq[-1] == "answered" else ("not_reached", 2)
        assert states[e164] == want, (i, n)


def _offline_runtime(tmp_path: Path) -> tuple[Any, ProjectService]:
    """The shipped wiring on a fresh database with no PBX: its runtime and a project service."""
    clock = AccelClock(1.0, t0=T0)
    config = config_for(1, f"sqlite:///{tmp_path / 'run.db'}")
    daemon = build_daemon(config, notifier=NullNotifier(), clock=clock)
    service = ProjectService(
        ProjectRepo(daemon.wiring.engine), clock=lambda: datetime.fromtimestamp(clock(), UTC)
    )
    return attach_dialer(config, daemon), service


def test_R_SAFE_1_a_running_project_that_cannot_be_dialed_goes_to_error_and_the_others_go_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runtime, service = _offline_runtime(tmp_path)
    repo = service.repo
    engine = repo.engine
    broken = {  # rows an older version or a hand-written UPDATE can leave, and what they break
        "a-pct": "UPDATE projects SET settings = '{\"abandon_target_pct\": 100}' WHERE id = 'a-pct'",
        "c-type": "UPDATE projects SET type = 'callback' WHERE id = 'c-type'",
        "d-queue": "UPDATE projects SET queue = NULL WHERE id = 'd-queue'",
        "e-lines": "UPDATE projects SET settings = '{\"max_channels\": [5]}' WHERE id = 'e-lines'",
        "f-json": "UPDATE projects SET settings = '[1, 2]' WHERE id = 'f-json'",
    }
    real_pacer_for = dialer_runtime.pacer_for

    def pacer_for(project: Any) -> Any:  # a failure nobody foresaw, past every check
        if project.id == "i-boom":
            raise RuntimeError("boom")
        return real_pacer_for(project)

    monkeypatch.setattr(dialer_runtime, "pacer_for", pacer_for)
    for pid in ("a-pct", "b-good", "c-type", "d-queue", "e-lines", "f-json", "g-good", "i-boom"):
        service.create(pid, pid, "operators", mode="predictive", queue="support")
        service.start(pid)
    with engine.begin() as conn:
        for sql in broken.values():
            conn.execute(text(sql))
    runtime.sync_projects()
    assert set(runtime.dialer.engine.projects) == {"b-good", "g-good"}
    with engine.connect() as conn:
        rows = dict(
            conn.execute(text("SELECT id, status || ': ' || coalesce(error_reason, '') FROM projects")).all()
        )
    for pid, reason in {
        "a-pct": "settings.abandon_target_pct: must be a number above 0 and at most 5",
        "c-type": "callback",
        "d-queue": "queue",
        "e-lines": "settings.max_channels: must be an integer",
        "f-json": "unreadable project row",
        "i-boom": "RuntimeError: boom",
    }.items():
        assert rows[pid].startswith("error: cannot dial: ") and reason in rows[pid], rows[pid]
    # in error, not running: not tried again; and pausing a dialing project still stops it, with a
    # new broken row beside it
    service.pause("b-good")
    service.create("h-type", "h", "operators", mode="predictive", queue="support")
    service.start("h-type")
    with engine.begin() as conn:
        conn.execute(text("UPDATE projects SET mode = 'preview' WHERE id = 'h-type'"))
    runtime.sync_projects()
    assert set(runtime.dialer.engine.projects) == {"g-good"}
    assert service.get("b-good").status.value == "paused"
    engine.dispose()


def test_R_SAFE_2_a_project_whose_start_the_database_refuses_is_not_left_dialing_untracked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runtime, service = _offline_runtime(tmp_path)
    for pid in ("a", "b"):
        service.create(pid, pid, "operators", mode="predictive", queue="support")
        service.start(pid)
    real = runtime.dialer.store.abandon_record
    refused = {"a"}

    def abandon_record(project_id: str, since: float) -> Any:
        if project_id in refused:
            raise OperationalError("SELECT", {}, Exception("database is locked"))
        return real(project_id, since)

    monkeypatch.setattr(runtime.dialer.store, "abandon_record", abandon_record)
    runtime.sync_projects()
    assert set(runtime.dialer.engine.projects) == {"b"}  # a is not dialing half-started
    refused.clear()
    runtime.sync_projects()  # the next sync starts it, with its record
    assert set(runtime.dialer.engine.projects) == {"a", "b"}
    service.pause("a")
    runtime.sync_projects()
    assert set(runtime.dialer.engine.projects) == {"b"}  # and a pause still stops it
    service.repo.engine.dispose()


def test_R_PRJ_9_a_contact_status_update_the_database_refuses_is_retried_not_lost(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An import holding the SQLite write lock, or PostgreSQL restarting, right after a call is
    stored: the rule that marks its contact reached must still land, or the dialer calls back a
    customer who already got through."""
    from ccagent.app.projects import SYSTEM
    from ccagent.core.projects import GlobalStatusRules, RuleScope
    from tests.storage.conftest import make_leg, make_record

    runtime, service = _offline_runtime(tmp_path)
    repo = service.repo
    engine = repo.engine
    service.create("spring", "spring", "operators", mode="progressive", queue="support")
    now = datetime.fromtimestamp(T0, UTC)
    cid = one_contact(engine, "+380501234567", now)
    repo.add_contacts("spring", [cid], now)
    service.set_global_rules(GlobalStatusRules(inbound_answered=RuleScope.ALL_PROJECTS), SYSTEM)
    real = repo.mark_reached
    busy = [2]

    def mark_reached(*args: Any, **kwargs: Any) -> Any:
        if busy[0]:
            busy[0] -= 1
            raise OperationalError("UPDATE", {}, Exception("database is locked"))
        return real(*args, **kwargs)

    monkeypatch.setattr(runtime.projects.repo, "mark_reached", mark_reached)
    inbound = make_record(
        "in-1", (make_leg("in-1", 0, caller="0501234567", extension="101"),), caller="0501234567"
    )
    asyncio.run(runtime.on_calls([inbound]))  # as the daemon's call listener does, after the commit
    assert repo.project_contact("spring", cid).state.value == "not_called"
    asyncio.run(runtime.tick(runtime.clock()))  # still locked
    assert repo.project_contact("spring", cid).state.value == "not_called"
    asyncio.run(runtime.tick(runtime.clock()))
    assert repo.project_contact("spring", cid).state.value == "reached"
    assert runtime.dialer.stats.db_retries == 2  # counted and logged as the dialer's own retries
    engine.dispose()
