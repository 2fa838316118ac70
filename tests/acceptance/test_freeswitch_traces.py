"""Every FreeSWITCH capture folds to its legs.json through the ESL translator and the one leg engine.

SPEC R-PBX-3 (one normalized model, one engine for both PBXs), R-PBX-4 (real traces are the oracle),
R-LEG-1..4 (leg fields), R-PBX-6 (several capture files = successive connections).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ccagent.config import LegsConfig
from ccagent.core.legs.model import CallRecord
from ccagent.core.legs.tracker import CallTracker
from ccagent.pbx.esl.capture import capture_files, iter_esl_capture
from ccagent.pbx.esl.translate import FsTranslator
from tests.acceptance.legs_oracle import EXACT, OPTIONAL, TOLERANCE_S
from tests.acceptance.legs_oracle import TRACES as ORACLE_TRACES

TRACES = ORACLE_TRACES / "freeswitch"
FOLDERS = sorted(p.name for p in TRACES.iterdir() if p.is_dir())


def fold_folder(folder: Path) -> list[CallRecord]:
    """Capture files -> translator -> tracker, the offline-ingest path without storage."""
    translator = FsTranslator(
        project_variable="dialer_campaign", extension_pattern=LegsConfig().extension_pattern
    )
    tracker = CallTracker(pbx="freeswitch", project_variable="dialer_campaign")
    records: list[CallRecord] = []
    last_ts = 0.0
    for path in capture_files(folder):
        for frame in iter_esl_capture(path):
            if frame.event is None:
                if frame.content_type == "api/response" and frame.body_text.lstrip().startswith("{"):
                    body = frame.body_text
                    if '"name"' in body and '"b_uuid"' not in body:  # show channels (not bridged_calls)
                        records += tracker.apply(translator.snapshot(body, last_ts)).calls
                continue
            for event in translator.translate(frame.event):
                last_ts = max(last_ts, event.ts)
                records += tracker.apply(event).calls
        for event in translator.connection_lost(last_ts):
            records += tracker.apply(event).calls
    return records


def _leg_view(rec: CallRecord) -> list[dict]:
    out = []
    for leg in rec.legs:
        out.append(
            {
                "caller": leg.caller,
                "callee": leg.callee,
                "agent": leg.extension,
                "direction": str(leg.direction),
                "answered": leg.answered,
                "disposition": str(leg.disposition),
                "transfer_from_leg": leg.transfer_from_leg,
                "transfer_kind": leg.transfer_kind,
                "role": str(leg.role),
                "ring_s": leg.ring_s,
                "talk_s": leg.talk_s,
                "queue": leg.queue,
                "project": leg.project,
                "caller_name": leg.caller_name,
                "recording": leg.recording,
            }
        )
    return out


@pytest.mark.parametrize("folder", FOLDERS)
def test_r_pbx_4_freeswitch_capture_folds_to_legs_json(folder: str) -> None:
    expected = json.loads((TRACES / folder / "legs.json").read_text(encoding="utf-8"))
    got = {rec.call_id: rec for rec in fold_folder(TRACES / folder)}
    assert sorted(got) == sorted(c["call_id"] for c in expected["calls"]), folder
    for call in expected["calls"]:
        rec = got[call["call_id"]]
        assert str(rec.direction) == call["direction"], call["call_id"]
        assert str(rec.disposition) == call["disposition"], call["call_id"]
        legs = _leg_view(rec)
        assert len(legs) == len(call["legs"]), (call["call_id"], legs)
        for want, have in zip(call["legs"], legs, strict=True):
            for key in EXACT:
                assert have[key] == want[key], (call["call_id"], key, have, want)
            for key in OPTIONAL:
                if key in want:
                    assert have[key] == want[key], (call["call_id"], key, have, want)
            for key in ("ring_s", "talk_s"):
                assert abs(have[key] - want[key]) <= TOLERANCE_S, (call["call_id"], key, have, want)


def test_r_pbx_5_replaying_a_capture_twice_writes_nothing_new() -> None:
    folder = TRACES / "05-blind-transfer"
    translator = FsTranslator(project_variable="dialer_campaign")
    tracker = CallTracker(pbx="freeswitch", project_variable="dialer_campaign")
    first: list[CallRecord] = []
    again: list[CallRecord] = []
    for sink in (first, again):
        for path in capture_files(folder):
            for frame in iter_esl_capture(path):
                if frame.event is not None:
                    for event in translator.translate(frame.event):
                        sink.extend(tracker.apply(event).calls)
    assert len(first) == 1
    assert again == []
