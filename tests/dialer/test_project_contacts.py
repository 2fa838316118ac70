"""The dialer on the projects' own tables (issue 6 items 1-4): eligible contacts from
``project_contacts`` checked at dial time (calling hours in the contact's zone, DNC added mid-run,
attempts limit), settled attempts move the contact and fill ``report_projects``.
(R-PRJ-4, R-PRJ-5, R-PRJ-8; SQLite and PostgreSQL)"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Engine, select, text

from ccagent.app.dialer import ProjectContacts
from ccagent.app.projects import ProjectService
from ccagent.core.agents import AgentBoard
from ccagent.core.dialer.engine import DialerEngine, Outcome
from ccagent.storage.models import ContactRow
from ccagent.storage.projects_repo import ProjectRepo
from tests.dialer.helpers import FixedPacer, counter_ids, lab_run

# Tuesday 2026-03-10 12:00 UTC: 14:00 in Kyiv, 08:00 in New York (before its 09:00 opening)
NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC).timestamp()
PHONES = ["+380501234567", "+380671234567", "+12125550100", "+380931234567"]


def _setup(engine: Engine) -> tuple[ProjectService, ProjectRepo, dict[str, int]]:
    repo = ProjectRepo(engine)
    service = ProjectService(repo, clock=lambda: datetime.fromtimestamp(NOW, UTC))
    service.create(
        "p1",
        "Spring",
        "operators",
        mode="progressive",
        queue="support",
        caller_id="2000",
        settings={"max_attempts": 2, "retry_minutes": {"busy": 1}, "calling_hours": "09:00-20:00"},
    )
    now = datetime.fromtimestamp(NOW, UTC)
    with engine.begin() as conn:
        conn.execute(
            ContactRow.__table__.insert(),
            [{"phone_e164": p, "fields": {}, "created_at": now, "updated_at": now} for p in PHONES],
        )
        ids = {r.phone_e164: r.id for r in conn.execute(select(ContactRow.id, ContactRow.phone_e164))}
    repo.add_contacts("p1", [ids[p] for p in PHONES], now)
    service.start("p1")
    return service, repo, ids


def test_R_PRJ_8_dial_time_rules_and_contact_states(migrated_engine: Engine) -> None:
    service, repo, _ = _setup(migrated_engine)
    source = ProjectContacts(repo, {"p1": service.rules_for(service.get("p1"))})
    eng = DialerEngine(agents=AgentBoard(), new_id=counter_ids())
    eng.start_project(
        lab_run("p1", queue=None, kind="autoinformer", max_lines=10), FixedPacer(10, False), NOW
    )
    eng.decide(NOW)
    targets = source.eligible("p1", NOW, 10, eng.busy_contacts("p1"))
    # New York is at 08:00: outside its calling hours in its own zone
    assert [t.number for t in targets] == [PHONES[0], PHONES[1], PHONES[3]]
    assert source.refused == {"outside_calling_hours": 1}
    cmds = eng.launch(NOW, "p1", targets)
    assert source.eligible("p1", NOW, 10, eng.busy_contacts("p1")) == []  # all in flight (or refused)

    def settle(i: int, outcome: Outcome, at: float, results: dict[str, str | None] | None = None) -> None:
        s = eng.settle(cmds[i].attempt_id, outcome, at, call_id=f"call-{i}", results=results)
        assert s is not None
        source.settled([s])

    settle(0, Outcome.ANSWERED, NOW + 30, {"autoinformer_digit": "1"})
    settle(1, Outcome.BUSY, NOW + 5)
    settle(2, Outcome.BUSY, NOW + 5)
    states = {pc.phone_e164: pc for pc in repo.project_contacts("p1")}
    assert states[PHONES[0]].state.value == "reached" and dict(states[PHONES[0]].results) == {
        "autoinformer_digit": "1"
    }
    assert states[PHONES[1]].state.value == "will_call_again" and states[PHONES[1]].attempts == 1
    assert states[PHONES[0]].last_call_id == "call-0"
    # a number put on the do-not-call list mid-run is not dialled again
    repo.dnc_add([PHONES[3]], datetime.fromtimestamp(NOW + 10, UTC), "customer asked")
    source.refused.clear()
    later = NOW + 120
    again = source.eligible("p1", later, 10, eng.busy_contacts("p1"))
    assert [t.number for t in again] == [PHONES[1]]
    assert source.refused == {"dnc": 1, "outside_calling_hours": 1}
    # the second busy exhausts the attempts limit: not reached
    eng.decide(later)
    (cmd,) = eng.launch(later, "p1", again)
    last = eng.settle(cmd.attempt_id, Outcome.BUSY, later + 3, call_id="call-9")
    assert last is not None
    source.settled([last])
    (fig,) = repo.figures("p1")
    assert (fig.contacts, fig.reached, fig.not_reached, fig.will_call_again, fig.not_called) == (
        4,
        1,
        1,
        1,
        1,
    )
    assert fig.attempts == 4 and fig.processed_pct == 25.0


def test_R_SAFE_2_a_call_ending_after_a_restart_moves_its_contact_even_if_the_project_is_paused(
    migrated_engine: Engine,
) -> None:
    service, repo, ids = _setup(migrated_engine)
    eng = DialerEngine(agents=AgentBoard(), new_id=counter_ids())
    eng.start_project(
        lab_run("p1", queue=None, kind="autoinformer", max_lines=10), FixedPacer(10, False), NOW
    )
    eng.decide(NOW)
    before = ProjectContacts(repo, {"p1": service.rules_for(service.get("p1"))})
    (cmd,) = eng.launch(NOW, "p1", before.eligible("p1", NOW, 1, set()))
    service.pause("p1")
    # the daemon restarts: the new source has no rules for the paused project and no cached contact,
    # and another contact of the project carries a state this version does not know
    with migrated_engine.begin() as conn:
        conn.execute(
            text("UPDATE project_contacts SET state = 'archived' WHERE contact_id = :c"),
            {"c": ids[PHONES[3]]},
        )
    after = ProjectContacts(repo, rules_of=lambda pid: service.rules_for(service.get(pid)))
    settled = eng.settle(cmd.attempt_id, Outcome.ANSWERED, NOW + 40, call_id="call-x")
    assert settled is not None
    after.settled([settled])
    pc = repo.project_contact("p1", int(settled.contact_id))
    assert pc is not None and (pc.state.value, pc.attempts, pc.last_call_id) == ("reached", 1, "call-x")
