"""The ESL pre-filter never hides an event the translator would use (R-PBX-2 event filtering).

For every event of every real FreeSWITCH capture (plain and JSON): if ``FsTranslator.wants``
rejects the raw body, translating the decoded event yields nothing.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ccagent.pbx.esl.parser import EslParser
from ccagent.pbx.esl.translate import FsTranslator

TRACES = Path(__file__).resolve().parents[2] / "traces" / "freeswitch"
CAPTURES = sorted(TRACES.glob("*/esl*.log"))


@pytest.mark.parametrize("capture", CAPTURES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_R_PBX_2_prefilter_only_drops_what_translate_ignores(capture: Path) -> None:
    frames = EslParser().feed(capture.read_bytes())
    judge = FsTranslator(project_variable="dialer_campaign")
    translate = FsTranslator(project_variable="dialer_campaign")
    events = [f for f in frames if f.event is not None]
    assert events
    for frame in events:
        produced = translate.translate(frame.event)
        if not judge.wants(frame.body):
            assert produced == [], f"filter would lose {frame.event.get('Event-Name')}: {produced}"


def test_R_PBX_2_prefilter_skips_most_of_a_stream_and_keeps_the_rest_decoded() -> None:
    data = (TRACES / "12-overlapping-calls" / "esl.log").read_bytes()
    t = FsTranslator(project_variable="dialer_campaign")
    filtered = EslParser(keep=t.wants).feed(data)
    full = EslParser().feed(data)
    kept = [f.event for f in filtered if f.event is not None]
    assert kept == [f.event for f in full if f.event is not None and t.wants(f.body)]
    assert len(kept) < 0.6 * sum(1 for f in full if f.event is not None)
