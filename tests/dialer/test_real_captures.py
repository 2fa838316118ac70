"""The lab's real outbound captures replayed through ccagent with the dialer attached (issue 6).

Asterisk 24-31 and FreeSWITCH 18-25: the call's result (``results`` in legs.json: DTMF digit,
autoinformer result, AMD / avmd status and cause, robot result) lands on the dialer's attempt and
on the contact; agent login / pause with reason / unpause / logout (and mod_callcenter's own
On Break) land in ``report_agent_states``.  (R-PRJ-1, R-PRJ-5, R-LEG-4, R-PBX-3, R-REP-2)
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from ccagent.app.bootstrap import build
from ccagent.app.dialer import AttemptContacts, DialerService, RetryRules
from ccagent.config import parse_config
from ccagent.core.dialer.engine import Attempt, AttemptStatus, Originate
from ccagent.core.dialer.pacer import ProgressivePacer
from ccagent.pbx.esl.capture import capture_files
from ccagent.storage.attempts_repo import AttemptStore
from ccagent.storage.views import report_agent_states
from tests.dialer.helpers import lab_run

TRACES = Path(__file__).resolve().parents[1] / "traces"
PROJECT_VAR = {"asterisk": "LAB_PROJECT", "freeswitch": "dialer_campaign"}

DIALER_CAPTURES = [
    ("asterisk", "24-dialer-abandon-safe-harbour", "abandoned"),
    ("asterisk", "25-autoinformer-dtmf", "answered"),
    ("asterisk", "26-autoinformer-no-digit", "answered"),
    ("asterisk", "28-amd", "answered"),
    ("asterisk", "30-dialog-robot", "answered"),
    ("freeswitch", "18-dialer-abandon-safe-harbour", "abandoned"),
    ("freeswitch", "19-autoinformer-dtmf", "answered"),
    ("freeswitch", "20-autoinformer-no-digit", "answered"),
    ("freeswitch", "22-avmd", "answered"),
    ("freeswitch", "24-dialog-robot", "answered"),
]
AGENT_CAPTURES = [
    ("asterisk", "27-queue-agent-login-pause"),
    ("asterisk", "31-queue-wrapup"),
    ("freeswitch", "21-agent-status-changes"),
    ("freeswitch", "25-queue-wrapup"),
]


class _NoPort:
    async def originate(self, cmd: Originate) -> str | None:  # pragma: no cover - nothing is dialled here
        raise AssertionError("a replay must not originate")


def _files(pbx: str, name: str) -> list[Path]:
    folder = TRACES / pbx / name
    return [folder / "ami.log"] if pbx == "asterisk" else capture_files(folder)


def _replay(pbx: str, name: str, db_url: str, attempt: Attempt | None, contacts: AttemptContacts) -> Any:
    config = parse_config({"legs": {"project_variable": PROJECT_VAR[pbx]}})
    wiring = build(config, pbx=pbx, db_url=db_url, journal_open_calls=False)
    store = AttemptStore(wiring.engine)
    service = DialerService(
        store=store, contacts=contacts, port=_NoPort(), clock=lambda: 0.0, project_variable=PROJECT_VAR[pbx]
    )
    pipe = wiring.pipeline
    inner = pipe.apply

    def apply(e: Any, arrived: float | None = None) -> None:
        inner(e, arrived)
        service.on_event(e)

    pipe.apply = apply  # type: ignore[method-assign]
    pipe.on_call = service.on_call
    if attempt is not None:
        store.commit_outbox([attempt], [])  # sent by the previous run
        contacts.load(store)  # as the daemon does at start: the attempt in flight counts
        service.start_project(lab_run(attempt.project_id, kind="autoinformer"), ProgressivePacer())
        service.restore()
    for path in _files(pbx, name):
        for msg in wiring.adapter.read_capture(path):
            pipe.feed(msg)
        pipe.flush()
    pipe.flush(final=True)
    asyncio.run(service.tick(4e9))  # any timer left (none expected: every call finished)
    return wiring, store


@pytest.mark.parametrize(
    ("pbx", "name", "outcome"), DIALER_CAPTURES, ids=[f"{p}-{n[:2]}" for p, n, _ in DIALER_CAPTURES]
)
def test_R_PRJ_1_capture_result_lands_on_attempt_and_contact(
    pbx: str, name: str, outcome: str, tmp_path: Path
) -> None:
    legs = json.loads((TRACES / pbx / name / "legs.json").read_text("utf-8"))
    (call,) = legs["calls"]
    number = call["legs"][0]["callee"]
    project = call["legs"][0]["project"]
    contacts = AttemptContacts({project: [("contact-1", number)]}, RetryRules(max_attempts=1))
    # the dialer had originated this call before the capture began
    attempt = Attempt(
        "att-1", project, "contact-1", number, "not-the-lab-uuid", 0.0, AttemptStatus.ORIGINATING
    )
    wiring, store = _replay(pbx, name, f"sqlite:///{tmp_path / 'x.db'}", attempt, contacts)
    (stored,) = store.list()
    assert stored.status == "settled" and stored.outcome == outcome
    assert stored.call_id == call["call_id"]
    expected_results = call.get("results") or {}
    # every result of legs.json, as stored by the leg engine (FreeSWITCH's avmd also names its
    # detector as the cause: {"amd_cause": "avmd"}, beyond legs.json)
    assert stored.result.items() >= expected_results.items()
    assert set(stored.result) - set(expected_results) <= ({"amd_cause"} if name == "22-avmd" else set())
    c = contacts.states(project)["contact-1"]
    assert c.results == stored.result
    assert c.state == ("reached" if outcome == "answered" else "not_reached")
    wiring.engine.dispose()


def _when(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


_FS_STATUS = {
    "On Break": "pause",
    "Available": "unpause",
    "Available (On Demand)": "unpause",
    "Logged Out": "logout",
}


@pytest.mark.parametrize(("pbx", "name"), AGENT_CAPTURES, ids=[f"{p}-{n[:2]}" for p, n in AGENT_CAPTURES])
def test_R_PRJ_5_capture_agent_events_land_in_report_agent_states(
    pbx: str, name: str, tmp_path: Path
) -> None:
    expected = (
        json.loads((TRACES / pbx / name / "expected.json").read_text("utf-8")).get("agent_events") or []
    )
    contacts = AttemptContacts({}, RetryRules())
    wiring, _ = _replay(pbx, name, f"sqlite:///{tmp_path / 'x.db'}", None, contacts)
    with wiring.engine.connect() as conn:
        rows = conn.execute(select(report_agent_states).order_by(report_agent_states.c.at)).mappings().all()
    got = [(r["extension"], r["action"], r["reason"], r["at"]) for r in rows]
    if pbx == "asterisk":
        want = [(e["extension"], e["action"], e["reason"], _when(e["time"])) for e in expected]
    else:
        want = [
            (e["agent"], _FS_STATUS[e["status"]], e["status"], _when(e["time"]))
            for e in expected
            if e["event"] == "agent-status-change"
        ]
    assert [g[:3] for g in got] == [w[:3] for w in want]
    for g, w in zip(got, want, strict=True):
        assert abs((g[3] - w[3]).total_seconds()) < 0.001
    wiring.engine.dispose()
