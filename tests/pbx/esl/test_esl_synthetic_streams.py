"""Synthetic FreeSWITCH streams made from the real traces (fault injection, demo, ingest benchmark).

SPEC R-PBX-4 (the real captures are the templates), R-PBX-5 / R-SAFE-1 (the fault tests' oracle must be
exact), R-PBX-6 (a >= 1M-event capture for the ingest benchmark, streamed).
"""

from __future__ import annotations

import json
from collections import Counter

from ccagent.core.legs.model import CallRecord
from ccagent.core.legs.tracker import CallTracker
from ccagent.pbx.esl.parser import EslParser
from ccagent.pbx.esl.translate import FsTranslator
from ccagent.sim.esl_scenarios import MIXED_FOLDERS, TRACES_DIR, build_stream, iter_capture_chunks


def _fold(events: list[dict[str, str]]) -> tuple[dict[str, CallRecord], int]:
    t = FsTranslator(project_variable="dialer_campaign")
    tracker = CallTracker(pbx="freeswitch", project_variable="dialer_campaign")
    done: dict[str, CallRecord] = {}
    for e in events:
        for x in t.translate(e):
            for rec in tracker.apply(x).calls:
                assert rec.call_id not in done, "a call finished twice"
                done[rec.call_id] = rec
    return done, len(tracker.calls)


def test_R_PBX_4_a_mixed_overlapping_stream_folds_to_each_copys_legs_json() -> None:
    events, expected = build_stream(len(MIXED_FOLDERS) + 12, seed=5)
    assert {c.scenario for c in expected} == set(MIXED_FOLDERS)
    stamps = [int(e["Event-Date-Timestamp"]) for e in events]
    # overlapping: some event of a later call comes before the last event of an earlier one
    assert stamps != sorted(stamps) or len({e["Unique-ID"] for e in events[:200] if "Unique-ID" in e}) > 3
    done, still_open = _fold(events)
    assert still_open == 0
    assert set(done) == {c.call_id for c in expected}
    for c in expected:
        rec = done[c.call_id]
        assert (str(rec.direction), str(rec.disposition)) == (c.direction, c.disposition), c.scenario
        got = [(g.extension, str(g.role), str(g.disposition), g.transfer_from_leg) for g in rec.legs]
        want = [(w["agent"], w["role"], w["disposition"], w["transfer_from_leg"]) for w in c.legs]
        assert got == want, c.scenario
        for leg, w in zip(rec.legs, c.legs, strict=True):
            assert abs(leg.ring_s - w["ring_s"]) <= 1.0 and abs(leg.talk_s - w["talk_s"]) <= 1.0, c.scenario


def test_R_PBX_4_copies_get_fresh_ids_and_their_own_times() -> None:
    events, expected = build_stream(6, seed=1, folders=("01-inbound-answered",))
    assert len({c.call_id for c in expected}) == 6
    original = json.loads((TRACES_DIR / "01-inbound-answered" / "legs.json").read_text())["calls"][0]
    assert original["call_id"] not in {c.call_id for c in expected}
    starts = sorted(
        {
            min(int(e["Event-Date-Timestamp"]) for e in events if e.get("Unique-ID") == c.call_id)
            for c in expected
        }
    )
    assert len(starts) == 6 and starts[0] >= 1_800_000_000_000_000


def test_R_PBX_6_benchmark_capture_chunks_parse_back_to_whole_calls() -> None:
    for fmt in ("plain", "json"):
        parser = EslParser()
        events: list[dict[str, str]] = []
        first = True
        for chunk in iter_capture_chunks(3000, seed=2, fmt=fmt, chunk_bytes=1 << 16):
            if first:
                assert chunk.startswith(b"Content-Type: auth/request\n\n")
                first = False
            events += [f.event for f in parser.feed(chunk) if f.event is not None]
        assert parser.malformed == 0
        assert len(events) >= 3000
        done, still_open = _fold(events)
        assert still_open == 0
        dispositions = Counter(str(r.disposition) for r in done.values())
        assert {"answered", "missed", "abandoned"} <= set(dispositions), dispositions
        # the stamps moved forward copy after copy: no two calls of one template start together
        starts = [min(leg.started_at for leg in r.legs) for r in done.values()]
        assert len(set(starts)) == len(starts)
