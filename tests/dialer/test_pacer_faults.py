"""A pacer bug in the daemon: its project stops dialing, the others and the daemon go on (R-SAFE-1)."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from ccagent.app.bootstrap import build
from ccagent.app.dialer import AttemptContacts, DialerService, RetryRules
from ccagent.config import parse_config
from ccagent.core import pbx_events as ev
from ccagent.core.agents import AgentBoard
from ccagent.core.dialer.engine import Originate, ProjectRun
from ccagent.core.dialer.pacer import ProgressivePacer
from ccagent.storage.attempts_repo import AttemptStore


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
    service.start_project(ProjectRun("bad", queue="sales", caller_id="2000"), _Raising())
    service.start_project(ProjectRun("good", queue="sales", caller_id="2000"), ProgressivePacer())

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
