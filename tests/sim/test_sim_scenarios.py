"""Synthetic streams re-stamped from the real traces (R-PBX-4): ids consistent, nothing original left."""

from __future__ import annotations

import itertools
import re
from collections import Counter
from pathlib import Path

from ccagent.pbx.ami.capture import iter_ami_capture
from ccagent.pbx.ami.parser import AmiParser
from ccagent.sim import scenarios as S

AST = Path(__file__).resolve().parents[1] / "traces" / "asterisk"


def original_tokens(name: str) -> tuple[set[str], set[str], set[str]]:
    ids: set[str] = set()
    chans: set[str] = set()
    uuids: set[str] = set()
    for m in iter_ami_capture(AST / name / "ami.log"):
        for k, v in m.raw_headers:
            if (k.endswith("Uniqueid") or k.endswith("Linkedid")) and re.fullmatch(r"\d+\.\d+", v):
                ids.add(v)
            chans.update(re.findall(r"[A-Za-z]+/[^\s,;()]*-[0-9a-f]{8}", v))
            uuids.update(re.findall(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", v))
    return ids, chans, uuids


def test_r_pbx_4_restamped_copy_has_no_original_ids() -> None:
    name = "06-attended-transfer"
    msgs, expected = S.build_stream([name], n_calls=2, seed=3, overlap=0.0)
    ids, chans, uuids = original_tokens(name)
    assert ids and chans and uuids
    text = S.to_bytes(msgs).decode()
    for tok in ids:
        assert not re.search(r"(?<![\d.])" + re.escape(tok) + r"(?!\d)", text), tok
    for tok in chans | uuids:
        assert tok not in text, tok
    assert len(expected) == 2 and expected[0].call_id != expected[1].call_id


def test_r_pbx_4_ids_consistent_within_a_copy() -> None:
    """The structure of the original is preserved under the renaming (a bijection per copy)."""
    name = "06-attended-transfer"
    orig = [m for m in iter_ami_capture(AST / name / "ami.log") if m.event and S._keep(m)]
    msgs, (exp,) = S.build_stream([name], n_calls=1, seed=5)
    assert [m.event for m in msgs] == [m.event for m in orig]
    mapping: dict[str, str] = {}
    for a, b in zip(orig, msgs, strict=True):
        assert [k for k, _ in a.raw_headers] == [k for k, _ in b.raw_headers]
        for (k, va), (_, vb) in zip(a.raw_headers, b.raw_headers, strict=True):
            if (
                k.endswith("Uniqueid")
                or k.endswith("Linkedid")
                or k.endswith("Channel")
                or k == "BridgeUniqueid"
            ):
                assert mapping.setdefault(va, vb) == vb, (k, va, vb)
            elif k not in ("Timestamp", "ActionID", "Value", "LastCall", "LastPause", "LoginTime"):
                assert va == vb, (k, va, vb)
    # injective: two different originals never map to the same new value
    assert len(set(mapping.values())) == len(mapping)
    # the expected call id is the copy's Linkedid
    orig_call = next(iter(orig[0]["Linkedid"] for _ in [0]))
    assert exp.call_id == mapping[orig_call]
    # timestamps shifted by one constant
    deltas = {
        round(float(b["Timestamp"]) - float(a["Timestamp"]), 5)
        for a, b in zip(orig, msgs, strict=True)
        if "Timestamp" in a
    }
    assert len(deltas) == 1


def test_r_pbx_4_copies_overlap_and_merge_by_timestamp() -> None:
    msgs, expected = S.build_stream(None, n_calls=40, seed=9, overlap=0.8)
    ts = [float(m["Timestamp"]) for m in msgs if "Timestamp" in m]
    # merged by time; the only inversions are the real PBX's own (< 0.1 ms, kept in each copy's order)
    running = 0.0
    for t in ts:
        assert t >= running - 1e-4
        running = max(running, t)
    assert ts[-1] - ts[0] > 10
    linked = [m["Linkedid"] for m in msgs if "Linkedid" in m]
    # calls are interleaved: the Linkedid changes far more often than once per call
    changes = sum(1 for a, b in itertools.pairwise(linked) if a != b)
    assert changes > 3 * len(expected)
    call_ids = {e.call_id for e in expected}
    assert call_ids <= set(linked)
    assert len(call_ids) == len(expected)
    # excluded scenarios are not used by default
    assert not {e.scenario for e in expected} & S.DEFAULT_EXCLUDED
    # no two copies share a Uniqueid
    first_seen = Counter(m["Uniqueid"] for m in msgs if m.event == "Newchannel")
    assert max(first_seen.values()) == 1


def test_new_numbers_remaps_stream_and_legs_consistently() -> None:
    msgs, calls = S.build_stream(["23-cyrillic-caller-name"], n_calls=1, seed=2, new_numbers=True)
    assert len(calls) == 2  # "Іван Петренко" answered, "Мария Иванова" missed
    exp = calls[0]
    text = S.to_bytes(msgs).decode()
    assert "0671234501" not in text
    caller = exp.legs[0]["caller"]
    assert caller != "0671234501" and re.fullmatch(r"06\d{8}", caller)
    first = next(m for m in msgs if m.event == "Newchannel")
    assert first["CallerIDNum"] == caller
    assert first["CallerIDName"] == "Іван Петренко"


def test_capture_bytes_exact_event_count_and_parseable() -> None:
    data = S.build_capture_bytes(5000, seed=4)
    p = AmiParser()
    msgs = p.feed(data)
    assert len(msgs) == 5000 and p.malformed == 0 and p.version == "11.0.0"
    assert S.build_capture_bytes(300, seed=4) == data[: len(S.build_capture_bytes(300, seed=4))]


def test_write_capture_roundtrip(tmp_path: Path) -> None:
    path = tmp_path / "big.log"
    size = S.write_capture(path, 2000, seed=1)
    assert size == path.stat().st_size
    assert sum(1 for _ in iter_ami_capture(path)) == 2000


def test_originate_script_copies_the_lab_call_for_the_action() -> None:
    from ccagent.pbx.ami import actions as A

    raw = A.serialize(
        A.with_action_id(
            A.originate(
                "PJSIP/0671112233@customers",
                context="dialer",
                exten="support",
                variables={"LAB_PROJECT": "spring"},
            ),
            "ccagent-1-7",
        )
    )
    (action,) = AmiParser().feed(raw)
    script = S.OriginateScript(seed=1)
    for outcome, disposition in (("answered", "answered"), ("no_answer", "no_answer"), ("busy", "busy")):
        msgs, exp = script.call(action, outcome, 1.8e9)
        resp = [m for m in msgs if m.event == "OriginateResponse"]
        assert resp and resp[0].action_id == "ccagent-1-7"
        if outcome != "answered":  # a failed originate names the dial string, a success the channel
            assert resp[0]["Channel"] == "PJSIP/0671112233@customers"
        assert exp.disposition == disposition and exp.legs[0]["callee"] == "0671112233"
        assert exp.legs[0]["project"] == "spring"
        assert {m["Value"] for m in msgs if m.event == "VarSet" and m["Variable"] == "LAB_PROJECT"} == {
            "spring"
        }
        assert exp.call_id in {m.get("Linkedid") for m in msgs}
    # two calls never share ids
    a, _ = script.call(action, "busy", 1.8e9)
    b, _ = script.call(action, "busy", 1.8e9)
    assert not {m["Uniqueid"] for m in a if m.event == "Newchannel"} & {
        m["Uniqueid"] for m in b if m.event == "Newchannel"
    }
