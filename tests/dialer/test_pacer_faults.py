"""Faults in the daemon's dialer: a pacer bug or contacts that do not read stop their own project
only (R-SAFE-1); a database that refuses writes for a while loses no attempt and no outcome, and
attempts planned before a restart go out with their own project's dialplan (R-SAFE-2)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Sequence
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError

from ccagent.app.bootstrap import build
from ccagent.app.dialer import AttemptContacts, ContactSource, DialerService, RetryRules
from ccagent.config import parse_config
from ccagent.core import pbx_events as ev
from ccagent.core.agents import AgentBoard
from ccagent.core.dialer.engine import Attempt, DialTarget, Originate, Settlement
from ccagent.core.dialer.pacer import ProgressivePacer
from ccagent.storage.attempts_repo import AttemptStore
from tests.dialer.helpers import lab_run


class _Raising:
    def decide(self, state: object) -> int:
        raise ZeroDivisionError("pacer bug")

    def on_event(self, event: object) -> None:
        return None


class _Port:
    def __init__(self) -> None:
        self.sent: list[Originate] = []

    async def originate(self, cmd: Originate) -> str | None:
        self.sent.append(cmd)
        return None


def test_R_SAFE_1_broken_pacer_is_logged_once_a_minute_and_the_other_project_dials(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    wiring = build(parse_config({}), pbx="asterisk", db_url=f"sqlite:///{tmp_path / 'x.db'}")
    board = AgentBoard()
    for ext in ("101", "102"):
        board.apply(ev.AgentStatus(ts=0.0, extension=ext, queue="sales", action="login"))
    contacts = AttemptContacts(
        {"bad": [("b1", "0601020301")], "good": [("g1", "0601020302"), ("g2", "0601020303")]},
        RetryRules(max_attempts=1),
    )
    port = _Port()
    now = 0.0
    service = DialerService(
        store=AttemptStore(wiring.engine), contacts=contacts, port=port, clock=lambda: now, agents=board
    )
    contacts.load(service.store)
    service.start_project(lab_run("bad", queue="sales", caller_id="2000"), _Raising())
    service.start_project(lab_run("good", queue="sales", caller_id="2000"), ProgressivePacer())

    async def run() -> None:
        nonlocal now
        for _ in range(90):  # 90 ticks of 1 s: the bad pacer raises on every one
            now += 1.0
            await service.tick(now)
        await service.drain()

    with caplog.at_level(logging.ERROR, logger="ccagent"):
        asyncio.run(run())
    assert sorted(c.contact_id for c in port.sent) == ["g1", "g2"]
    assert service.stats.pacer_faults == 90
    errors = [r for r in caplog.records if "pacer's decide raised" in r.getMessage()]
    assert len(errors) == 2  # at t=1 and t=61, each with its traceback
    assert all(r.exc_info and r.exc_info[0] is ZeroDivisionError for r in errors)


def _service(
    tmp_path: Path, contacts: ContactSource, store: AttemptStore | None = None, port: _Port | None = None
) -> tuple[DialerService, _Port, list[float]]:
    wiring = build(parse_config({}), pbx="asterisk", db_url=f"sqlite:///{tmp_path / 'x.db'}")
    board = AgentBoard()
    for ext in ("101", "102", "103"):
        board.apply(ev.AgentStatus(ts=0.0, extension=ext, queue="sales", action="login"))
    port = port or _Port()
    clock = [0.0]
    service = DialerService(
        store=store or AttemptStore(wiring.engine),
        contacts=contacts,
        port=port,
        clock=lambda: clock[0],
        agents=board,
    )
    return service, port, clock


def _ticks(service: DialerService, clock: list[float], n: int) -> list[Exception]:
    """n ticks of 1 s, as the daemon runs them: a tick that raises is logged there and the next runs."""
    errors: list[Exception] = []

    async def run() -> None:
        for _ in range(n):
            clock[0] += 1.0
            try:
                await service.tick(clock[0])
            except Exception as exc:
                errors.append(exc)
            await service.drain()

    asyncio.run(run())
    return errors


class _BadContacts(AttemptContacts):
    def eligible(self, project_id: str, now: float, limit: int, exclude: set[str]) -> list[DialTarget]:
        if project_id == "bad":
            raise ValueError("'callback' is not a valid ContactState")
        return super().eligible(project_id, now, limit, exclude)


def test_R_SAFE_1_contacts_that_do_not_read_stop_their_project_only(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    contacts = _BadContacts(
        {"bad": [("b1", "0601020301")], "good": [("g1", "0601020302"), ("g2", "0601020303")]},
        RetryRules(max_attempts=1),
    )
    service, port, clock = _service(tmp_path, contacts)
    for pid in ("bad", "good"):
        service.start_project(lab_run(pid, queue="sales", caller_id="2000"), ProgressivePacer())
    with caplog.at_level(logging.ERROR, logger="ccagent"):
        assert _ticks(service, clock, 70) == []
    assert sorted(c.contact_id for c in port.sent) == ["g1", "g2"]
    errors = [r for r in caplog.records if "project bad: reading its contacts raised" in r.getMessage()]
    assert len(errors) == 2 and all(r.exc_info and r.exc_info[0] is ValueError for r in errors)


class _LockedStore(AttemptStore):
    """Every write is refused while ``locked`` (SQLite held by a long import past its busy timeout)."""

    def __init__(self, engine: Engine) -> None:
        super().__init__(engine)
        self.locked = False

    def _gate(self) -> None:
        if self.locked:
            raise OperationalError("UPDATE", {}, Exception("database is locked"))

    def commit_outbox(self, new: Sequence[Attempt], sending: Iterable[str]) -> None:
        self._gate()
        super().commit_outbox(new, sending)

    def set_action_ids(self, pairs: Iterable[tuple[str, str]]) -> None:
        self._gate()
        super().set_action_ids(pairs)

    def settle(self, settlements: Sequence[Settlement]) -> None:
        self._gate()
        super().settle(settlements)


class _HalfPort(_Port):
    """The PBX refuses the first contact's originate and accepts the others with a request id."""

    async def originate(self, cmd: Originate) -> str | None:
        self.sent.append(cmd)
        if cmd.contact_id == "c1":
            raise ConnectionError("PBX refused the originate")
        return f"req-{cmd.contact_id}"


def test_R_SAFE_2_a_locked_database_loses_no_attempt_and_no_outcome(tmp_path: Path) -> None:
    contacts = AttemptContacts(
        {"p": [(f"c{i}", f"060102030{i}") for i in range(1, 5)]}, RetryRules(max_attempts=1)
    )
    wiring = build(parse_config({}), pbx="asterisk", db_url=f"sqlite:///{tmp_path / 'y.db'}")
    store = _LockedStore(wiring.engine)
    service, port, clock = _service(tmp_path, contacts, store=store, port=_HalfPort())
    service.start_project(lab_run("p", queue="sales", caller_id="2000"), ProgressivePacer())
    assert _ticks(service, clock, 1) == []  # c1..c3 for the three free agents
    # locked for 15 s: the request ids of c2 and c3, c1's failed outcome (after its 10-s grace) and
    # the attempt for c4 (planned when c1 freed its agent) are all refused, in the same ticks
    store.locked = True
    assert _ticks(service, clock, 15) == []
    store.locked = False
    assert _ticks(service, clock, 5) == []
    assert sorted(c.contact_id for c in port.sent) == ["c1", "c2", "c3", "c4"]  # each sent once
    rows = {r.contact_id: r for r in store.list()}
    assert sorted(rows) == ["c1", "c2", "c3", "c4"]
    assert (rows["c1"].status, rows["c1"].outcome) == ("settled", "failed")
    assert [rows[c].action_id for c in ("c2", "c3", "c4")] == ["req-c2", "req-c3", "req-c4"]
    c1 = contacts.states("p")["c1"]
    assert (c1.attempts, c1.state, c1.last_outcome) == (1, "not_reached", "failed")
    assert service.stats.db_retries >= 3 and service.stats.settled == 1


def test_R_SAFE_2_attempts_planned_before_a_restart_are_sent_with_their_projects_own_dialplan(
    tmp_path: Path,
) -> None:
    wiring = build(parse_config({}), pbx="asterisk", db_url=f"sqlite:///{tmp_path / 'z.db'}")
    store = AttemptStore(wiring.engine)
    store.plan(
        [
            Attempt(f"a-{pid}", pid, "c1", f"06010203{i}", channel_id=f"a-{pid}", launched_at=0.0)
            for i, pid in ((1, "p1"), (2, "p2"))
        ]
    )
    contacts = AttemptContacts({}, RetryRules())
    service, port, clock = _service(tmp_path, contacts, store=store)
    service.restore()
    run = lab_run("p1", queue="sales", caller_id="2000", context="ccagent-dialer", exten="{number}")
    service.start_project(run, ProgressivePacer())  # p2 stays paused
    _ticks(service, clock, 150)  # p2 stays paused past lost_after_s: its attempt waits, it is no lost call
    assert [(c.attempt_id, c.context, c.caller_id) for c in port.sent] == [("a-p1", "ccagent-dialer", "2000")]
    assert {r.contact_id: r.status for r in store.list() if r.project_id == "p2"} == {"c1": "planned"}
    service.start_project(replace(run, project_id="p2", caller_id="3000"), ProgressivePacer())
    _ticks(service, clock, 1)
    assert [(c.attempt_id, c.caller_id) for c in port.sent] == [("a-p1", "2000"), ("a-p2", "3000")]
    assert service.stats.resent_after_restart == 2
