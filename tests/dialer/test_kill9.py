"""kill -9 of the daemon in the middle of a running project, then restart (issue 6; R-SAFE-2, R-PBX-5).

The daemon runs as a real process (``tests/dialer/dialer_daemon.py``) against the simulated
Asterisk or FreeSWITCH in this process; it is killed with SIGKILL while calls are in flight, and a new process
takes over the same database.  The simulated PBX goes on with the calls it had: some end while no
daemon listens, some are still up at the restart (the CoreShowChannels snapshot finds them).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from collections import Counter
from pathlib import Path

import pytest

from ccagent.app.dialer import AttemptContacts, RetryRules
from ccagent.storage import db
from ccagent.storage.attempts_repo import AttemptStore
from tests.dialer.dialer_daemon import AccelClock, SimPbx
from tests.dialer.test_e2e_asterisk import AGENTS, RULES, number_of, scripted
from tests.waiting import wait_for as _until

REPO = Path(__file__).resolve().parents[2]
SPEED = 40.0
N = 120


async def _spawn(spec_path: Path, log: Path) -> asyncio.subprocess.Process:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.dialer.dialer_daemon",
        str(spec_path),
        cwd=REPO,
        env=env,
        stdout=log.open("ab"),
        stderr=asyncio.subprocess.STDOUT,
    )


@pytest.mark.timeout(150)
@pytest.mark.parametrize("pbx", ["asterisk", "freeswitch"])
def test_R_SAFE_2_kill_9_mid_project_then_restart(pbx: str, tmp_path: Path) -> None:
    asyncio.run(_run(pbx, tmp_path))


async def _run(pbx: str, tmp_path: Path) -> None:
    db_url = f"sqlite:///{tmp_path / 'dialer.db'}"
    engine = db.make_engine(db_url)
    db.upgrade(engine)
    clock = AccelClock(SPEED, t0=1_800_000_000.0)
    the_pbx = SimPbx(pbx, scripted, agents=AGENTS, clock=clock, speed=SPEED)
    script = the_pbx.script
    await the_pbx.start()
    contacts = {"p1": [[f"c{i}", number_of(i)] for i in range(N)]}
    spec = {
        "pbx": pbx,
        "speed": SPEED,
        "t0": clock.t0,
        "w0": clock.w0,
        "port": the_pbx.port,
        "db_url": db_url,
        "contacts": contacts,
        "rules": RULES,
        "projects": [
            {
                "project_id": "p1",
                "queue": "support",
                "caller_id": "2000",
                "max_lines": 10,
                "dial_timeout_s": 20,
                "wrap_up_s": 3.0,
            }
        ],
    }
    spec_path = tmp_path / "spec.json"
    spec_path.write_text(json.dumps(spec), "utf-8")
    log = tmp_path / "daemon.log"
    store = AttemptStore(engine)

    def done() -> bool:
        state = AttemptContacts(
            {"p1": [tuple(c) for c in contacts["p1"]]},  # type: ignore[misc]
            RetryRules(RULES["max_attempts"], RULES["retry_s"]),
        )  # type: ignore[arg-type]
        state.load(store)
        return state.done("p1") and not store.load_open()

    proc = await _spawn(spec_path, log)
    try:
        await the_pbx.daemon_ready_and_agents_in()
        # kill -9 while calls are in flight
        await _until(lambda: len(script.log) >= 60 and script.playing >= 3, 60, "project did not get going")
        in_flight_at_kill = script.playing
        proc.send_signal(signal.SIGKILL)
        assert await proc.wait() == -signal.SIGKILL
        killed_sent = len(script.log)
        await asyncio.sleep(0.3)  # the PBX goes on: some calls end while nobody listens
        proc = await _spawn(spec_path, log)
        await the_pbx.daemon_ready_and_agents_in()  # the agents are still there: the PBX re-announces them
        await _until(done, 100, "project did not complete after the restart")
        await script.wait_idle()
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
            await asyncio.wait_for(proc.wait(), 20)
        await the_pbx.stop()

    attempts = store.list("p1")
    sent = [c for c in script.log if c.attempt_id]
    assert not [c for c in script.log if not c.attempt_id]  # the PBX understood every Originate
    assert in_flight_at_kill >= 3 and killed_sent < len(sent)  # the restarted daemon went on dialling
    # no contact dialled twice for one attempt
    assert max(Counter(c.attempt_id for c in sent).values()) == 1
    # no attempt lost: every originate the PBX saw is a stored attempt, and every stored one is settled
    assert {c.attempt_id for c in sent} <= {a.attempt_id for a in attempts}
    assert all(a.status == "settled" and a.outcome for a in attempts), [
        a for a in attempts if a.status != "settled"
    ]
    never_sent = {a.attempt_id for a in attempts} - {c.attempt_id for c in sent}
    assert all(a.outcome == "failed" for a in attempts if a.attempt_id in never_sent)
    # a contact is never dialled again once reached, and never more than the limit
    per_contact = Counter(a.contact_id for a in attempts)
    assert max(per_contact.values()) <= RULES["max_attempts"]  # type: ignore[operator]
    reached = {a.contact_id for a in attempts if a.outcome == "answered"}
    for cid in reached:
        mine = sorted((a for a in attempts if a.contact_id == cid), key=lambda a: a.started_at)
        assert mine[-1].outcome == "answered"
    # attempts not cut by the kill ended as the PBX played them
    sim_of = {c.attempt_id: c for c in sent}
    cut = [a for a in attempts if a.reason and "restart" in a.reason]
    agree = [a for a in attempts if a.attempt_id in sim_of and a.outcome == sim_of[a.attempt_id].outcome]
    assert len(agree) >= len(sent) - in_flight_at_kill - len(cut)
