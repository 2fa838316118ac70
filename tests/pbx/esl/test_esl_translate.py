"""FreeSWITCH translator on real traces: call grouping, transfers, spy, originate, results (R-PBX-3)."""

from __future__ import annotations

import json
from pathlib import Path

from ccagent.core import pbx_events as ev
from ccagent.pbx.esl.capture import capture_files, iter_capture_events
from ccagent.pbx.esl.translate import FsTranslator, cause_code

TRACES = Path(__file__).resolve().parents[2] / "traces" / "freeswitch"


def stream(folder: str) -> list[ev.PbxEvent]:
    t = FsTranslator(project_variable="dialer_campaign", extension_pattern=r"\d{4}")
    out: list[ev.PbxEvent] = []
    for path in capture_files(TRACES / folder):
        for e in iter_capture_events(path):
            out += t.translate(e)
    return out


def of(events: list[ev.PbxEvent], kind: type) -> list:
    return [e for e in events if isinstance(e, kind)]


def test_r_leg_4_queue_agent_legs_join_the_member_call_not_channel_call_uuid() -> None:
    events = stream("14-queue-rollover")
    created = of(events, ev.ChannelCreated)
    customer = created[0]
    assert customer.party is ev.PartyKind.EXTERNAL and customer.exten == "8100"
    agents = [c for c in created if c.party is ev.PartyKind.EXTENSION]
    assert [a.extension for a in agents] == ["1001", "1002"]
    assert {a.call for a in agents} == {customer.channel}
    assert not any(a.originated for a in agents)
    called = of(events, ev.QueueAgentCalled)
    assert [(c.queue, c.extension) for c in called] == [("support", "1001"), ("support", "1002")]
    no_answer = of(events, ev.QueueAgentNoAnswer)
    assert [n.extension for n in no_answer] == ["1001"]
    assert 9 < (no_answer[0].ring_s or 0) < 10
    assert [c.extension for c in of(events, ev.QueueAgentConnect)] == ["1002"]


def test_r_leg_2_blind_transfer_uuid_transfer_and_refer() -> None:
    for folder, target in (("05-blind-transfer", "1002"), ("05b-blind-transfer-refer", "1003")):
        events = stream(folder)
        transfers = of(events, ev.Transfer)
        assert len(transfers) == 1, folder
        tr = transfers[0]
        agents = [c for c in of(events, ev.ChannelCreated) if c.party is ev.PartyKind.EXTENSION]
        assert tr.kind == "blind" and tr.target_exten == target
        assert tr.transferer == agents[0].channel and tr.channel == agents[0].call
        # the transfer is known before the target's channel appears
        assert events.index(tr) < events.index(agents[1])


def test_r_leg_2_attended_transfer_completed_vs_abandoned() -> None:
    done = of(stream("06-attended-transfer"), ev.Transfer)
    assert [(t.kind, t.target_exten) for t in done] == [("attended", "1002")]
    assert of(stream("07-attended-transfer-abandoned"), ev.Transfer) == []  # att_xfer_result=success lies


def test_dialer_originate_result_project_and_no_fake_transfer() -> None:
    events = stream("18-dialer-abandon-safe-harbour")
    first = of(events, ev.ChannelCreated)[0]
    assert first.originated and first.party is ev.PartyKind.EXTERNAL
    res = of(events, ev.OriginateResult)
    assert res and res[0].success and res[0].channel == first.channel
    assert [v.value for v in of(events, ev.VariableSet) if v.name == "dialer_campaign"][:1] == [
        "spring-promo"
    ]
    assert of(events, ev.Transfer) == []  # the originate's own bl_xfer into the dialer context
    assert [type(e).__name__ for e in events if isinstance(e, ev.QueueAbandon | ev.QueueLeave)] == [
        "QueueAbandon",
        "QueueLeave",
    ]


def test_failed_originates_report_the_cause() -> None:
    reasons = {
        f: [r.reason for r in of(stream(f), ev.OriginateResult)]
        for f in ("08b-dialer-no-answer", "08c-dialer-busy")
    }
    assert reasons == {"08b-dialer-no-answer": ["NO_ANSWER"], "08c-dialer-busy": ["USER_BUSY"]}
    assert cause_code("USER_BUSY") == 17 and cause_code("NORMAL_TEMPORARY_FAILURE") == 41


def test_r_prj_6_eavesdrop_modes_and_barge() -> None:
    spies = of(stream("10-eavesdrop"), ev.SpyStarted)
    assert [(s.mode, s.spyee_extension) for s in spies] == [("listen", "1001"), ("whisper", "1001")]
    assert all(s.call == s.channel for s in spies)  # a supervisor's channel is its own call
    barges = of(stream("23-eavesdrop-barge"), ev.SpyStarted)
    assert [s.mode for s in barges] == ["barge", "barge"]


def test_r_leg_1_cyrillic_caller_name_survives() -> None:
    names = [c.caller_name for c in of(stream("17-cyrillic-caller-name"), ev.ChannelCreated)]
    assert "Іван Петренко" in names and "Мария Иванова" in names


def test_dialplan_results_become_neutral_user_events() -> None:
    res = of(stream("19-autoinformer-dtmf"), ev.UserEvent)
    assert ("CcagentResult", ("Digit", "1"), ("Result", "confirmed")) in [
        (u.name, *u.fields[:2]) for u in res
    ]
    late = [u for u in of(stream("20-autoinformer-no-digit"), ev.UserEvent) if u.name == "CcagentResult"]
    assert late and dict(late[-1].fields)["Result"] == "hangup_no_digit"
    robot = [u for u in of(stream("24-dialog-robot"), ev.UserEvent) if u.name == "CcagentRobotResult"]
    assert dict(robot[0].fields)["Result"] == "callback_requested"


def test_agent_status_changes() -> None:
    st = of(stream("21-agent-status-changes"), ev.AgentStatus)
    assert [(s.extension, s.action) for s in st][:3] == [
        ("1002", "pause"),
        ("1002", "unpause"),
        ("1002", "logout"),
    ]
    assert ("1003", "pause") in [(s.extension, s.action) for s in st]  # max-no-answer put 1003 On Break


def test_every_channel_ends_with_one_hangup_and_hangup_requested_first() -> None:
    for folder in ("12-overlapping-calls", "16-inbound-agent-rejects", "06-attended-transfer-json"):
        events = stream(folder)
        created = {c.channel for c in of(events, ev.ChannelCreated)}
        hung = [h.channel for h in of(events, ev.ChannelHangup)]
        assert sorted(hung) == sorted(created), folder
        for h in of(events, ev.ChannelHangup):
            req = [r for r in of(events, ev.HangupRequested) if r.channel == h.channel]
            assert len(req) == 1 and events.index(req[0]) < events.index(h)


def test_r_safe_1_malformed_events_never_raise() -> None:
    t = FsTranslator("dialer_campaign")
    junk: list[dict[str, str]] = [
        {},
        {"Event-Name": "CHANNEL_CREATE"},
        {"Event-Name": "CHANNEL_ANSWER", "Unique-ID": "x", "Event-Date-Timestamp": "garbage"},
        {"Event-Name": "CHANNEL_BRIDGE", "Bridge-A-Unique-ID": "a"},
        {"Event-Name": "CUSTOM", "Event-Subclass": "callcenter::info", "CC-Action": "bridge-agent-start"},
        {"Event-Name": "BACKGROUND_JOB", "_body": ""},
        {"Event-Name": "CHANNEL_HANGUP_COMPLETE", "Unique-ID": "y", "Hangup-Cause": "NOT_A_CAUSE"},
    ]
    for e in junk:
        t.translate(e)
    hang = t.translate(
        {"Event-Name": "CHANNEL_HANGUP_COMPLETE", "Unique-ID": "z", "Event-Date-Timestamp": "1"}
    )
    assert [type(x).__name__ for x in hang][-1] == "ChannelHangup"


def test_r_pbx_5_show_channels_snapshot_links_known_channels() -> None:
    t = FsTranslator("dialer_campaign", extension_pattern=r"\d{4}")
    folder = TRACES / "13-esl-reconnect"
    for e in iter_capture_events(folder / "esl.log"):
        t.translate(e)
    from ccagent.pbx.esl.capture import iter_esl_capture

    api = next(f for f in iter_esl_capture(folder / "esl.reconnect.log") if f.content_type == "api/response")
    snap = t.snapshot(api.body_text, 1.0)
    assert snap.complete and len(snap.channels) == 2
    cust, agent = snap.channels
    assert agent.extension == "1001" and agent.call == cust.channel and agent.up
    assert t.snapshot("not json", 1.0).complete is False


def test_r_safe_1_a_missing_or_absurd_timestamp_takes_the_newest_pbx_time() -> None:
    """Not 0.0 (a leg would end in 1970, before it began) and not year 30000 (no row holds it)."""
    t = FsTranslator("dialer_campaign")
    at = {"Event-Date-Timestamp": "1700000000500000"}
    for i, raw in enumerate(("", "garbage", "99999999999999999999999", "-5")):
        t.translate(
            {"Event-Name": "CHANNEL_CREATE", "Unique-ID": f"c{i}", "Caller-Caller-ID-Number": "100", **at}
        )
        events = t.translate(
            {"Event-Name": "CHANNEL_ANSWER", "Unique-ID": f"c{i}", "Event-Date-Timestamp": raw}
        )
        assert events and {e.ts for e in events} == {1_700_000_000.5}, raw
    assert cause_code("99999999999999") == 0 and cause_code("16") == 16


def test_r_safe_1_channels_that_ended_during_a_disconnect_are_forgotten() -> None:
    """Their hangup never comes: without the listing's word they were kept for the process's life."""
    t = FsTranslator("dialer_campaign")
    at = {"Event-Date-Timestamp": "1700000000000000"}
    for uuid in ("gone", "alive"):
        t.translate({"Event-Name": "CHANNEL_CREATE", "Unique-ID": uuid, "Channel-Name": "sofia/x/100", **at})
    listing = json.dumps(
        {"row_count": 1, "rows": [{"uuid": "alive", "name": "sofia/x/100", "call_uuid": "alive"}]}
    )
    assert t.snapshot(listing, 1_700_000_060.0).complete
    assert t.forget_finished() == 1
    assert t.call_of("gone") is None and t.call_of("alive") == "alive"
