"""Shared helpers of the dialer tests: a scripted pacer and capture replays through the leg engine."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from ccagent.core import pbx_events as ev
from ccagent.core.dialer.engine import ProjectRun
from ccagent.core.legs.model import CallRecord
from ccagent.core.legs.tracker import CallTracker
from ccagent.pbx.ami.capture import iter_ami_capture
from ccagent.pbx.ami.translate import AmiTranslator

TRACES = Path(__file__).resolve().parents[1] / "traces"

# The lab's dialplan target (the captures' ``dialer`` context, ``support`` extension): a test value,
# not a production default (issue 12); a deployment's comes from its PBX adapter's dial plan.
LAB_DIALPLAN = {"context": "dialer", "exten": "support", "dial": "PJSIP/{number}@customers"}


def lab_run(project_id: str, **kw: Any) -> ProjectRun:
    """A :class:`ProjectRun` aimed at the lab's dialplan unless the test names its own target."""
    return ProjectRun(project_id, **{**LAB_DIALPLAN, **kw})


class FixedPacer:
    """Launches ``per_tick`` calls whenever an agent is free (or always, for no-agent projects)."""

    def __init__(self, per_tick: int = 1, need_free_agent: bool = True) -> None:
        self.per_tick = per_tick
        self.need_free_agent = need_free_agent
        self.events: list[Any] = []
        self.states: list[Any] = []

    def decide(self, state: Any) -> int:
        self.states.append(state)
        if self.need_free_agent and state.agents_free <= state.n_ringing + state.n_waiting:
            return 0
        return self.per_tick

    def on_event(self, event: Any) -> None:
        self.events.append(event)


def agent_status(
    ext: str, action: str, ts: float, queue: str | None = "q", reason: str | None = None
) -> ev.AgentStatus:
    return ev.AgentStatus(ts=ts, extension=ext, queue=queue, action=action, reason=reason)


def counter_ids(prefix: str = "a") -> Callable[[], str]:
    it = itertools.count(1)
    return lambda: f"{prefix}{next(it)}"


def replay_asterisk(
    name: str, project_variable: str = "LAB_PROJECT"
) -> Iterator[tuple[ev.PbxEvent, list[CallRecord]]]:
    """Each normalized event of a real capture with the calls it finished."""
    tr = AmiTranslator(project_variable=project_variable)
    tracker = CallTracker(pbx="asterisk", project_variable=project_variable)
    for msg in iter_ami_capture(TRACES / "asterisk" / name / "ami.log"):
        for e in tr.translate(msg):
            out = tracker.apply(e)
            yield e, list(out.calls)


def one_contact(engine: Any, phone_e164: str, now: Any) -> str:
    """A contact row in the base (no project yet), written as the import would; its id."""
    from sqlalchemy import select

    from ccagent.storage.models import ContactRow

    row = {"phone_e164": phone_e164, "name": "I", "time_zone": None, "fields": {}}
    with engine.begin() as conn:
        conn.execute(ContactRow.__table__.insert(), [{**row, "created_at": now, "updated_at": now}])
        return str(
            conn.execute(select(ContactRow.id).where(ContactRow.phone_e164 == phone_e164)).scalar_one()
        )
