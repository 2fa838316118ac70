"""The same 200-contact, 5-agent project dialled through the simulated FreeSWITCH (issue 6).

``bgapi originate`` with origination_uuid; the simulated switch plays the lab's real FreeSWITCH
captures (mod_callcenter queue, busy, no answer, failure, safe harbour) for each scripted outcome.
(R-PRJ-1, R-PRJ-5, R-PRJ-8, R-PACE-1, R-LEG-4, R-PBX-2, R-SAFE-2)
"""

from __future__ import annotations

import asyncio
from collections import Counter, defaultdict
from pathlib import Path

import pytest
from sqlalchemy import select

from ccagent.storage.attempts_repo import AttemptStore
from ccagent.storage.views import report_call_legs
from tests.dialer.dialer_daemon import (
    AccelClock,
    DialerDaemon,
    SimPbx,
    config_for,
    make_contacts,
    start_projects,
)
from tests.dialer.test_e2e_asterisk import RULES, SCRIPT, number_of, scripted
from tests.waiting import wait_for as _wait

SPEED = 40.0
AGENTS = ("1001", "1002", "1003", "1004", "1005")


@pytest.mark.timeout(120)
def test_R_PBX_2_200_contacts_5_agents_run_to_completion_on_freeswitch(tmp_path: Path) -> None:
    asyncio.run(_run(tmp_path))


async def _run(tmp_path: Path) -> None:
    db_url = f"sqlite:///{tmp_path / 'dialer.db'}"
    clock = AccelClock(SPEED, t0=1_800_000_000.0)
    pbx = SimPbx("freeswitch", scripted, agents=AGENTS, clock=clock, speed=SPEED, wrap_s=3.0)
    script = pbx.script
    await pbx.start()
    contacts = make_contacts({"p1": [(f"c{i}", number_of(i)) for i in range(200)]}, RULES)
    daemon = DialerDaemon(config_for(pbx.port, db_url, "freeswitch"), contacts=contacts, clock=clock)
    task = asyncio.create_task(daemon.run())
    try:
        await pbx.daemon_ready_and_agents_in()
        await _wait(lambda: len(daemon.dialer.agents.in_queue("support")) == 5, 30, "agents not logged in")
        start_projects(
            daemon,
            [
                {
                    "project_id": "p1",
                    "queue": "support",
                    "caller_id": "8000",
                    "max_lines": 10,
                    "dial_timeout_s": 20,
                    "wrap_up_s": 3.0,
                    "exten": "support",
                    "context": "dialer",
                }
            ],
        )
        await _wait(
            lambda: contacts.done("p1") and not daemon.dialer.engine.attempts, 100, "project not done"
        )
        await script.wait_idle()
    finally:
        daemon.request_stop()
        await asyncio.wait_for(task, 20)
        await pbx.stop()

    attempts = AttemptStore(daemon.wiring.engine).list("p1")
    sent = [c for c in script.log if c.attempt_id]
    assert not [c for c in script.log if not c.attempt_id]
    assert max(Counter(c.attempt_id for c in sent).values()) == 1
    assert {c.attempt_id for c in sent} == {a.attempt_id for a in attempts}
    assert all(a.status == "settled" for a in attempts)
    sim_of = {c.attempt_id: c for c in sent}
    for a in attempts:
        c = sim_of[a.attempt_id]
        assert a.outcome == c.outcome, (a, c)
        assert (
            a.call_id == c.variables["origination_uuid"] == a.pbx_request_id
        )  # the id chosen before sending
        assert a.action_id and a.action_id == c.action_id  # the Job-UUID
    by_number: dict[str, list[str]] = defaultdict(list)
    for c in sorted(sent, key=lambda c: c.nth):
        by_number[c.number].append(c.outcome)
    abandoned = sum(v.count("abandoned") for v in by_number.values())
    answered = sum(1 for c in sent if c.outcome in ("answered", "abandoned"))
    assert abandoned <= 0.03 * answered
    for i in range(200):
        got = by_number[number_of(i)]
        if "abandoned" not in got:
            assert tuple(got) == SCRIPT[i % 10], (i, got)
    if not abandoned:
        assert Counter(c.state for c in contacts.states("p1").values()) == {"reached": 160, "not_reached": 40}
        assert len(attempts) == 360
    with daemon.wiring.engine.connect() as conn:
        legs = conn.execute(select(report_call_legs)).mappings().all()
    by_call: dict[str, list[dict[str, object]]] = defaultdict(list)
    for leg in legs:
        by_call[str(leg["call_id"])].append(dict(leg))
    assert set(by_call) == {a.call_id for a in attempts}
    for a in attempts:
        c = sim_of[a.attempt_id]
        rows = by_call[str(a.call_id)]
        assert all(r["project"] == "p1" for r in rows), rows
        assert rows[0]["callee"] == a.number and rows[0]["direction"] == "outbound"
        talked = [r["extension"] for r in rows if r["extension"] and r["answered"]]
        assert talked == ([c.agent] if c.outcome == "answered" else []), (a, rows)
        assert rows[0]["disposition"] == c.outcome


def _rings(number: str, nth: int) -> str:
    return f"answered:{(2, 7, 12)[int(number[4:]) % 3]}"


@pytest.mark.timeout(60)
def test_R_LEG_4_scripted_ring_times_on_freeswitch(tmp_path: Path) -> None:
    asyncio.run(_run_rings(tmp_path))


async def _run_rings(tmp_path: Path) -> None:
    db_url = f"sqlite:///{tmp_path / 'dialer.db'}"
    clock = AccelClock(SPEED, t0=1_800_000_000.0)
    pbx = SimPbx("freeswitch", _rings, agents=AGENTS, clock=clock, speed=SPEED, wrap_s=2.0)
    script = pbx.script
    await pbx.start()
    contacts = make_contacts({"p2": [(f"c{i}", f"0442{i:06d}") for i in range(12)]}, RULES)
    daemon = DialerDaemon(config_for(pbx.port, db_url, "freeswitch"), contacts=contacts, clock=clock)
    task = asyncio.create_task(daemon.run())
    try:
        await pbx.daemon_ready_and_agents_in()
        await _wait(lambda: len(daemon.dialer.agents.in_queue("support")) == 5, 30, "agents not logged in")
        start_projects(daemon, [{"project_id": "p2", "queue": "support", "max_lines": 5, "wrap_up_s": 2.0}])
        await _wait(lambda: contacts.done("p2") and not daemon.dialer.engine.attempts, 50, "project not done")
        await script.wait_idle()
    finally:
        daemon.request_stop()
        await asyncio.wait_for(task, 20)
        await pbx.stop()
    sim_of = {c.attempt_id: c for c in script.log if c.attempt_id}
    attempts = AttemptStore(daemon.wiring.engine).list("p2")
    assert len(attempts) == 12 and all(a.outcome == "answered" for a in attempts)
    with daemon.wiring.engine.connect() as conn:
        first = {
            r["call_id"]: dict(r)
            for r in conn.execute(select(report_call_legs)).mappings()
            if r["leg_seq"] == 0
        }
    for a in attempts:
        ring = float(sim_of[a.attempt_id].scripted.split(":")[1])
        assert first[a.call_id]["ring_s"] == pytest.approx(ring, abs=0.05)
        assert first[a.call_id]["extension"] == sim_of[a.attempt_id].agent
