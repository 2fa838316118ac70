"""A pickup or park retrieval that spans a daemon restart still stores one call (R-LEG-4, R-SAFE-2).

The picker / retriever dials a feature code on a call of its own, which the daemon journals like
any open call; when the PBX hands it the ringing or parked caller, that call is merged into the
caller's.  Before the journal followed the merge, a restart resumed the absorbed call as a call of
its own (a phantom missed call) and the merged call without the employee's first events.
"""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from ccagent.app.bootstrap import build, pbx_adapter
from ccagent.config import parse_config
from ccagent.core import pbx_events as ev
from tests.acceptance.legs_oracle import TRACES, capture_files, expected, mismatches, stored

CASES = [
    ("asterisk", "35-freepbx-directed-pickup"),
    ("asterisk", "36-freepbx-park-and-retrieve"),
    ("freeswitch", "28-fusionpbx-intercept-pickup"),
    ("freeswitch", "29-fusionpbx-valet-park-retrieve"),
]
PROJECT_VARIABLE = {"asterisk": "LAB_PROJECT", "freeswitch": "dialer_campaign"}


def _messages(pbx: str, folder: str) -> list[Mapping[str, str]]:
    (path,) = capture_files(TRACES / pbx / folder)
    return list(pbx_adapter(parse_config({}), pbx).read_capture(path))


@pytest.mark.parametrize(("pbx", "folder"), CASES)
def test_R_SAFE_2_a_restart_after_the_handover_resumes_one_merged_call(
    pbx: str, folder: str, sqlite_url: str
) -> None:
    config = parse_config({"legs": {"project_variable": PROJECT_VARIABLE[pbx]}})
    messages = _messages(pbx, folder)
    first = build(config, pbx=pbx, db_url=sqlite_url).pipeline
    cut = None
    for i, msg in enumerate(messages):
        events = first.translator.translate(msg)
        for e in events:
            first.apply(e)
        first.flush()  # every message journaled: the employee's own call is in the journal too
        if any(isinstance(e, ev.ChannelJoinsCall) and e.how is not ev.JoinHow.LINKEDID for e in events):
            cut = i + 1
            break
    assert cut is not None, "the capture hands a caller over"
    journaled = first.journal.load_open()
    assert len(journaled) == 1, "the employee's own call went into the caller's"

    again = build(config, pbx=pbx, db_url=sqlite_url).pipeline
    assert again.restore() == 1
    for msg in messages[cut:]:
        again.feed(msg)
    again.flush()
    legs, calls = stored(sqlite_url)
    assert mismatches(expected(TRACES / pbx / folder), legs, calls) == []
    assert again.journal.count() == 0
