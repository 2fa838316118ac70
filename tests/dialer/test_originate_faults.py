"""An originate whose answer is lost must not get the customer dialed twice (R-SAFE-2, docs/dialer.md).

The PBX takes the Originate and places the call, but the link drops before its Response is read
(or the Response never comes).  Settling the attempt as failed at once untied the real call from
its attempt: the customer talked to an agent, and the contact was scheduled for a retry and
dialed again.  The attempt now waits for its channel id, as after a restart.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from ccagent.core.dialer.engine import Originate, OriginateUncertain
from ccagent.pbx.esl.client import EslCommandTimeout, EslConnectionLost, EslNotConnected
from ccagent.pbx.esl.originate import EslOriginator
from ccagent.storage.attempts_repo import AttemptStore
from tests.dialer.dialer_daemon import (
    AccelClock,
    DialerDaemon,
    SimPbx,
    config_for,
    make_contacts,
    start_projects,
)
from tests.waiting import wait_for

SPEED = 10.0
NUMBER = "04410000001"
RULES = {"max_attempts": 3, "retry_s": {"failed": 30.0, "no_answer": 30.0, "busy": 30.0, "abandoned": 30.0}}


@pytest.mark.timeout(120)
def test_R_SAFE_2_an_originate_whose_response_is_lost_is_not_dialed_again(tmp_path: Path) -> None:
    clock = AccelClock(SPEED, t0=1_800_000_000.0)

    async def scenario() -> tuple[Counter[str], list[Any], str]:
        pbx = SimPbx("asterisk", lambda number, nth: "answered", agents=("101",), clock=clock, speed=SPEED)
        sim = pbx.sim
        await pbx.start()
        real_dispatch = sim._dispatch
        taken = False

        async def dispatch(conn: Any, action: Any) -> Any:
            nonlocal taken
            if (action.get("Action") or "").lower() == "originate" and not taken:
                taken = True
                sim.on_originate(action)  # Asterisk takes the action and places the call...
                sim.drop_clients()  # ...and the link drops before its Response is read
                return False
            return await real_dispatch(conn, action)

        sim._dispatch = dispatch
        contacts = make_contacts({"p1": [("c0", NUMBER)]}, RULES)
        daemon = DialerDaemon(
            config_for(pbx.port, f"sqlite:///{tmp_path / 'd.db'}"), contacts=contacts, clock=clock
        )
        task = asyncio.create_task(daemon.run())
        try:
            await pbx.daemon_ready_and_agents_in()
            await wait_for(lambda: len(daemon.dialer.agents.in_queue("support")) == 1, 20, "agents")
            start_projects(
                daemon,
                [
                    {
                        "project_id": "p1",
                        "queue": "support",
                        "caller_id": "2000",
                        "max_lines": 1,
                        "dial_timeout_s": 20,
                    }
                ],
            )
            await wait_for(lambda: contacts.states("p1")["c0"].state == "reached", 30, "the call to settle")
            await asyncio.sleep(60 / SPEED)  # past the failed-retry interval: no second dial
        finally:
            daemon.request_stop()
            await asyncio.wait_for(task, 20)
            await pbx.stop()
        placed = Counter(c.number for c in pbx.script.log)
        rows = AttemptStore(daemon.wiring.engine).list("p1")
        return placed, [(a.status, a.outcome) for a in rows], contacts.states("p1")["c0"].state

    placed, attempts, state = asyncio.run(scenario())
    assert placed[NUMBER] == 1, placed
    assert attempts == [("settled", "answered")] and state == "reached", (attempts, state)


@pytest.mark.parametrize(
    ("error", "uncertain"),
    [
        (EslConnectionLost("connection lost"), True),
        (EslCommandTimeout("no reply to 'bgapi' within 10.0s"), True),
        (EslNotConnected("not connected to FreeSWITCH"), False),  # never written: a plain failure
    ],
)
def test_R_SAFE_2_freeswitch_originate_written_but_unanswered_is_uncertain(
    error: Exception, uncertain: bool
) -> None:
    async def bgapi(_cmd: str) -> Any:
        raise error

    cmd = Originate("a1", "p1", "c0", "+380441000000", None, "ctx", "s", 20, "a1", (), "sofia/gateway/gw/1")
    with pytest.raises(OriginateUncertain if uncertain else EslNotConnected):
        asyncio.run(EslOriginator(bgapi).originate(cmd))
