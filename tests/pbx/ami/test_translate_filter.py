"""The AMI pre-filter never hides a message the translator would use (R-PBX-1 event filtering).

For every message of every real capture: if ``AmiTranslator.wants`` rejects the raw block, then
``translate`` of that message yields nothing.  And ingest with the filter gives the same legs as
without it (the acceptance tests run with it on).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ccagent.pbx.ami.parser import AmiParser
from ccagent.pbx.ami.translate import AmiTranslator

TRACES = Path(__file__).resolve().parents[2] / "traces" / "asterisk"
CAPTURES = sorted(TRACES.glob("*/ami*.log"))


@pytest.mark.parametrize("capture", CAPTURES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_R_PBX_1_prefilter_only_drops_what_translate_ignores(capture: Path) -> None:
    blocks: list[bytes] = []
    parser = AmiParser(keep=lambda b: blocks.append(b) or True)
    messages = parser.feed(capture.read_bytes() + b"\r\n\r\n")
    assert len(blocks) == len(messages)
    judge = AmiTranslator(project_variable="LAB_PROJECT")
    translate = AmiTranslator(project_variable="LAB_PROJECT")
    for block, msg in zip(blocks, messages, strict=True):
        produced = translate.translate(msg)
        if not judge.wants(block):
            assert produced == [], f"filter would lose {msg.get('Event')}: {produced}"


def test_R_PBX_1_prefilter_skips_most_of_a_busy_stream() -> None:
    capture = TRACES / "15-concurrent-calls" / "ami.log"
    t = AmiTranslator(project_variable="LAB_PROJECT")
    parser = AmiParser(keep=t.wants)
    kept = parser.feed(capture.read_bytes() + b"\r\n\r\n")
    assert parser.skipped > 2 * len(kept)


def test_R_PBX_1_prefilter_keeps_correlated_answers_and_the_project_variable() -> None:
    t = AmiTranslator(project_variable="MY_PROJECT")
    assert t.wants(b"Response: Success\nActionID: x")
    assert t.wants(b"Event: QueueMember\nActionID: 7\nQueue: q")  # a list answer the client awaits
    assert not t.wants(b"Event: DeviceStateChange\nDevice: PJSIP/101")
    assert t.wants(b"Event: VarSet\nChannel: PJSIP/1-1\nVariable: MY_PROJECT\nValue: p1")
    assert not t.wants(b"Event: VarSet\nChannel: PJSIP/1-1\nVariable: BRIDGEPEER\nValue: x")
    assert t.wants(b"Event: Newexten\nApplication: Queue\nAppData: support")
    assert not t.wants(b"Event: Newexten\nApplication: NoOp\nAppData: hi")
