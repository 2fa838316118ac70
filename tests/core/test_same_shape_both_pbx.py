"""One leg engine for both PBXs: the same scenario recorded on Asterisk and on FreeSWITCH gives legs of
the same shape (issue 4 acceptance; SPEC R-PBX-3, R-LEG-4).

Both captures go through their own translator (AMI / ESL) and the ONE CallTracker, exactly as the
pipeline does (``ccagent.app.ingest.iter_capture`` per file, a lost connection between files).  The
*shape* of a call is what must not depend on the PBX: per leg direction, answered, disposition, role,
transfer kind, which leg it was transferred from, whether an agent took it; and how many legs and
calls.  Numbers, names and ids differ (101 vs 1001, Linkedid vs UUID) and are not compared.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from ccagent.app.bootstrap import pbx_adapter
from ccagent.config import parse_config
from ccagent.core import pbx_events as ev
from ccagent.core.legs.model import CallRecord
from ccagent.core.legs.tracker import CallTracker
from tests.acceptance.legs_oracle import TRACES, capture_files

PROJECT_VARIABLE = {"asterisk": "LAB_PROJECT", "freeswitch": "dialer_campaign"}  # what each lab set

# (asterisk folder, freeswitch folder): the same thing done on both PBXs (see both traces/README.md)
PAIRS = [
    ("01-inbound-direct-answered", "01-inbound-answered"),
    ("01-inbound-direct-answered", "01-inbound-answered-json"),
    ("02-inbound-direct-missed", "02-inbound-missed"),
    ("03-queue-ringall-answered", "03-queue-answered"),
    ("03-queue-ringall-answered", "03-queue-answered-json"),
    ("04-queue-abandoned", "04-queue-abandon"),
    ("05-blind-transfer", "05-blind-transfer"),
    ("05-blind-transfer", "05-blind-transfer-json"),
    ("05b-blind-transfer-sip-refer", "05b-blind-transfer-refer"),
    ("06-attended-transfer", "06-attended-transfer"),
    ("06-attended-transfer", "06-attended-transfer-json"),
    ("07-attended-transfer-abandoned", "07-attended-transfer-abandoned"),
    ("08-dialer-answered-queue", "08a-dialer-answered"),
    ("19-dialer-local-channel-queue", "15-dialer-to-queue"),
    ("09-dialer-no-answer", "08b-dialer-no-answer"),
    ("10-dialer-busy", "08c-dialer-busy"),
    ("11-dialer-failed", "08d-dialer-failed"),
    ("12-callback", "09-callback"),
    ("13-chanspy-listen-whisper", "10-eavesdrop"),
    ("14-internal-call", "11-internal-call"),
    ("16-ami-reconnect", "13-esl-reconnect"),
    ("18-queue-rrmemory-ringnoanswer", "14-queue-rollover"),
    ("32-inbound-agent-rejects-busy", "16-inbound-agent-rejects"),
    ("23-cyrillic-caller-name", "17-cyrillic-caller-name"),
    ("24-dialer-abandon-safe-harbour", "18-dialer-abandon-safe-harbour"),
    ("25-autoinformer-dtmf", "19-autoinformer-dtmf"),
    ("26-autoinformer-no-digit", "20-autoinformer-no-digit"),
    ("28-amd", "22-avmd"),
    ("30-dialog-robot", "24-dialog-robot"),
    ("31-queue-wrapup", "25-queue-wrapup"),
]
# The FreeSWITCH lab barged twice (three_way, then eavesdrop with both whisper flags), the Asterisk
# lab once (ChanSpy qB): the kinds of calls must match, not their count.
KINDS_ONLY = [("29-chanspy-barge", "23-eavesdrop-barge")]

LegShape = tuple[str, bool, str, str, str | None, int | None, bool]
CallShape = tuple[str, str, tuple[LegShape, ...]]


def fold(pbx: str, folder: str) -> list[CallRecord]:
    """A trace folder through its PBX's translator and the one tracker (the pipeline without storage)."""
    config = parse_config({"legs": {"project_variable": PROJECT_VARIABLE[pbx]}})
    adapter = pbx_adapter(config, pbx)
    translator = adapter.translator
    tracker = CallTracker(pbx=pbx, project_variable=PROJECT_VARIABLE[pbx])
    records: list[CallRecord] = []
    for path in capture_files(TRACES / pbx / folder):
        for msg in adapter.read_capture(Path(path)):
            for e in translator.translate(msg, None):
                records += tracker.apply(e).calls
        records += tracker.apply(ev.ConnectionLost(ts=translator.last_ts)).calls
    assert not tracker.calls, f"{pbx}/{folder}: calls left open"
    return records


def shapes(records: list[CallRecord]) -> Counter[CallShape]:
    return Counter(
        (
            str(rec.direction),
            str(rec.disposition),
            tuple(
                (
                    str(leg.direction),
                    leg.answered,
                    str(leg.disposition),
                    str(leg.role),
                    leg.transfer_kind,
                    leg.transfer_from_leg,
                    leg.extension is None,
                )
                for leg in rec.legs
            ),
        )
        for rec in records
    )


@pytest.mark.parametrize(("asterisk", "freeswitch"), PAIRS, ids=[f"{a}~{f}" for a, f in PAIRS])
def test_R_PBX_3_same_scenario_same_leg_shapes_on_both_pbx(asterisk: str, freeswitch: str) -> None:
    ami, esl = shapes(fold("asterisk", asterisk)), shapes(fold("freeswitch", freeswitch))
    assert ami, "the Asterisk capture made no call"
    assert ami == esl


@pytest.mark.parametrize(("asterisk", "freeswitch"), KINDS_ONLY)
def test_R_PBX_3_supervisor_barge_gives_the_same_kinds_of_calls(asterisk: str, freeswitch: str) -> None:
    ami, esl = shapes(fold("asterisk", asterisk)), shapes(fold("freeswitch", freeswitch))
    assert set(ami) == set(esl)
    roles = {leg[3] for shape in ami for leg in shape[2]}
    assert roles == {"main", "supervisor_barge"}


def test_R_PBX_3_the_pairs_cover_every_scenario_kind_the_issue_names() -> None:
    """Direct answered, missed, queue, blind, attended, dialer outcomes, internal, listen/whisper."""
    covered: Counter[tuple[str, str, str, str | None]] = Counter()
    for _a, f in PAIRS:
        for shape in shapes(fold("freeswitch", f)):
            for leg in shape[2]:
                covered[(leg[0], leg[2], leg[3], leg[4])] += 1
    kinds = {(d, disp, role, tk) for d, disp, role, tk in covered}
    for needed in [
        ("inbound", "answered", "main", None),
        ("inbound", "missed", "main", None),
        ("inbound", "abandoned", "main", None),
        ("inbound", "answered", "main", "blind"),
        ("inbound", "answered", "main", "attended"),
        ("internal", "answered", "consultation", None),
        ("outbound", "answered", "main", None),
        ("outbound", "no_answer", "main", None),
        ("outbound", "busy", "main", None),
        ("outbound", "failed", "main", None),
        ("outbound", "abandoned", "main", None),
        ("internal", "answered", "main", None),
        ("internal", "answered", "supervisor_listen", None),
        ("internal", "answered", "supervisor_whisper", None),
    ]:
        assert needed in kinds, needed
