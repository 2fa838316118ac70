"""A 200-contact project with 5 agents dialled through the simulated Asterisk, end to end (issue 6).

The daemon (translator -> leg engine -> store, with the dialer plugged in) originates over AMI;
the simulated Asterisk answers each Originate with a re-stamped copy of the lab's real dialer
capture for the scripted outcome, and its simulated agents take the answered calls.  Everything
runs 40x faster than real time on an accelerated clock shared by the dialer and the simulator.
(R-PRJ-1, R-PRJ-5, R-PRJ-8, R-PACE-1, R-LEG-4, R-SAFE-2)
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
from tests.waiting import wait_for as _wait

SPEED = 40.0
AGENTS = ("101", "102", "103", "104", "105")
RULES = {"max_attempts": 3, "retry_s": {"busy": 15.0, "no_answer": 20.0, "failed": 10.0, "abandoned": 10.0}}
# contact i: the customer's behaviour on its 1st, 2nd, 3rd originate
SCRIPT = {
    0: ("answered",),
    1: ("answered",),
    2: ("answered",),
    3: ("answered",),
    9: ("answered",),
    4: ("busy", "answered"),
    5: ("no_answer", "no_answer", "no_answer"),
    6: ("failed", "no_answer", "answered"),
    7: ("busy", "busy", "busy"),
    8: ("no_answer", "answered"),
}


def number_of(i: int) -> str:
    return f"0441{i:06d}"


def scripted(number: str, nth: int) -> str:
    """The customer's behaviour on its nth originate (the last one repeats: after a kill -9 an attempt
    cut short is retried, so a number may be dialled more often than its script is long)."""
    seq = SCRIPT[int(number[4:]) % 10]
    return seq[min(nth, len(seq)) - 1]


def expected_contact(i: int) -> tuple[str, int]:
    seq = SCRIPT[i % 10]
    return ("reached", len(seq)) if seq[-1] == "answered" else ("not_reached", len(seq))


@pytest.mark.timeout(120)
def test_R_PRJ_1_200_contacts_5_agents_run_to_completion_on_asterisk(tmp_path: Path) -> None:
    asyncio.run(_run(tmp_path))


async def _run(tmp_path: Path) -> None:
    db_url = f"sqlite:///{tmp_path / 'dialer.db'}"
    clock = AccelClock(SPEED, t0=1_800_000_000.0)
    pbx = SimPbx("asterisk", scripted, agents=AGENTS, clock=clock, speed=SPEED, wrap_s=3.0)
    script = pbx.script
    await pbx.start()
    contacts = make_contacts({"p1": [(f"c{i}", number_of(i)) for i in range(200)]}, RULES)
    daemon = DialerDaemon(config_for(pbx.port, db_url), contacts=contacts, clock=clock)
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
                    "caller_id": "2000",
                    "max_lines": 10,
                    "dial_timeout_s": 20,
                    "wrap_up_s": 3.0,
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

    store = AttemptStore(daemon.wiring.engine)
    attempts = store.list("p1")
    sent = [c for c in script.log if c.attempt_id]
    # no attempt sent twice, none lost: the PBX saw each stored attempt exactly once
    assert Counter(c.attempt_id for c in sent).most_common(1)[0][1] == 1
    assert {c.attempt_id for c in sent} == {a.attempt_id for a in attempts}
    assert all(a.status == "settled" for a in attempts)
    sim_of = {c.attempt_id: c for c in sent}
    # each attempt's outcome is what the PBX did
    for a in attempts:
        c = sim_of[a.attempt_id]
        assert a.outcome == c.outcome, (a, c)
        assert a.number == c.number and a.project_id == "p1" and a.call_id
    # the simulated customers behaved as scripted (an answer may only become an abandon)
    by_number: dict[str, list[str]] = defaultdict(list)
    for c in sorted(sent, key=lambda c: c.nth):
        by_number[c.number].append(c.outcome)
    abandoned = 0
    for i in range(200):
        got = by_number[number_of(i)]
        want = SCRIPT[i % 10]
        if "abandoned" not in got:
            assert tuple(got) == want, (i, got)
            state, n = expected_contact(i)
            assert (contacts.states("p1")[f"c{i}"].state, contacts.states("p1")[f"c{i}"].attempts) == (
                state,
                n,
            )
        abandoned += got.count("abandoned")
    answered = sum(1 for c in sent if c.outcome in ("answered", "abandoned"))
    assert abandoned <= 0.03 * answered  # progressive dialing: a free agent for every call
    # project figures
    states = Counter(c.state for c in contacts.states("p1").values())
    if not abandoned:
        assert states == {"reached": 160, "not_reached": 40}
    assert len(attempts) == 360 + abandoned
    # every leg, with its project: the customer leg, and the agent who took the call
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
        want_disp = {
            "answered": "answered",
            "abandoned": "abandoned",
            "busy": "busy",
            "no_answer": "no_answer",
            "failed": "failed",
        }[c.outcome]
        assert rows[0]["disposition"] == want_disp
    # the agents shared the work: every answered call was taken by one of the project's agents
    per_agent = Counter(c.agent for c in sent if c.agent)
    assert set(per_agent) <= set(AGENTS) and len(per_agent) >= 3
    assert sum(per_agent.values()) == sum(1 for c in sent if c.outcome == "answered")


INFORM = {  # contact i of the autoinformer project: behaviour on each originate
    0: ("dtmf:1",),
    1: ("dtmf:2",),
    2: ("no_digit",),
    3: ("machine", "dtmf:1"),
    4: ("busy", "dtmf:2"),
}
RESULTS = {
    "dtmf:1": {"autoinformer_digit": "1", "autoinformer_result": "confirmed"},
    "dtmf:2": {"autoinformer_digit": "2", "autoinformer_result": "declined"},
    "no_digit": {"autoinformer_digit": None, "autoinformer_result": "hangup_no_digit"},
    "machine": {"amd_status": "MACHINE", "amd_cause": "TOOLONG-4900"},
}


def scripted_two(number: str, nth: int) -> str:
    i = int(number[4:])
    if number.startswith("0442"):  # operators project: answers after 2, 7 or 12 s of ringing
        return f"answered:{(2, 7, 12)[i % 3]}"
    seq = INFORM[i % 5]
    return seq[min(nth, len(seq)) - 1]


@pytest.mark.timeout(120)
def test_R_PRJ_1_autoinformer_and_operators_projects_at_once_with_scripted_results(tmp_path: Path) -> None:
    asyncio.run(_run_two(tmp_path))


async def _run_two(tmp_path: Path) -> None:
    db_url = f"sqlite:///{tmp_path / 'dialer.db'}"
    clock = AccelClock(SPEED, t0=1_800_000_000.0)
    pbx = SimPbx("asterisk", scripted_two, agents=AGENTS, clock=clock, speed=SPEED, wrap_s=2.0)
    script = pbx.script
    await pbx.start()
    contacts = make_contacts(
        {
            "inform": [(f"i{i}", f"0441{i:06d}") for i in range(40)],
            "ops": [(f"o{i}", f"0442{i:06d}") for i in range(15)],
        },
        {"max_attempts": 2, "retry_s": {"busy": 5.0, "machine": 5.0}},
    )
    daemon = DialerDaemon(config_for(pbx.port, db_url), contacts=contacts, clock=clock)
    task = asyncio.create_task(daemon.run())
    try:
        await pbx.daemon_ready_and_agents_in()
        await _wait(lambda: len(daemon.dialer.agents.in_queue("support")) == 5, 30, "agents not logged in")
        start_projects(
            daemon,
            [
                {"project_id": "inform", "kind": "autoinformer", "max_lines": 8, "dial_timeout_s": 20},
                {
                    "project_id": "ops",
                    "queue": "support",
                    "max_lines": 5,
                    "dial_timeout_s": 20,
                    "wrap_up_s": 2.0,
                },
            ],
        )
        await _wait(
            lambda: contacts.done("inform") and contacts.done("ops") and not daemon.dialer.engine.attempts,
            100,
            "projects not done",
        )
        await script.wait_idle()
    finally:
        daemon.request_stop()
        await asyncio.wait_for(task, 20)
        await pbx.stop()

    store = AttemptStore(daemon.wiring.engine)
    sim_of = {c.attempt_id: c for c in script.log if c.attempt_id}
    assert not [c for c in script.log if not c.attempt_id]
    inform = store.list("inform")
    assert len(inform) == 40 + 16  # contacts 3 and 4 (mod 5) are dialled twice
    for a in inform:
        c = sim_of[a.attempt_id]
        assert a.outcome == c.expected, (a, c)
        if c.scripted in RESULTS:
            assert a.result == RESULTS[c.scripted], (a, c)
    for i in range(40):
        st = contacts.states("inform")[f"i{i}"]
        final = INFORM[i % 5][-1]
        assert (st.state, st.results) == ("reached", RESULTS[final]), (i, st)
    ops = store.list("ops")
    assert len(ops) == 15 and {a.outcome for a in ops} <= {"answered", "abandoned"}
    with daemon.wiring.engine.connect() as conn:
        legs = {
            r["call_id"]: dict(r)
            for r in conn.execute(select(report_call_legs)).mappings()
            if r["project"] == "ops" and r["leg_seq"] == 0
        }
    for a in ops:
        ring = float(sim_of[a.attempt_id].scripted.split(":")[1])
        assert legs[a.call_id]["ring_s"] == pytest.approx(ring, abs=0.05)  # the customer rang N s (leg of 08)
