"""AMI action builders: wire format and CR/LF injection safety (R-PBX-1, R-SAFE-3)."""

from __future__ import annotations

import pytest

from ccagent.pbx.ami import actions as A
from ccagent.pbx.ami.parser import AmiParser


def parse_one(data: bytes):  # type: ignore[no-untyped-def]
    msgs = AmiParser().feed(data)
    assert len(msgs) == 1, msgs
    return msgs[0]


def test_serialize_crlf_utf8() -> None:
    data = A.serialize(A.queue_pause("PJSIP/101", True, queue="hotline", reason="Перерва"))
    assert data.endswith(b"\r\n\r\n") and b"\n" not in data.replace(b"\r\n", b"")
    m = parse_one(data)
    assert m.action == "QueuePause" and m["Paused"] == "true" and m["Reason"] == "Перерва"


def test_r_safe_3_value_cannot_inject_headers_or_actions() -> None:
    evil = "Break\r\n\r\nAction: Originate\r\nChannel: PJSIP/premium"
    data = A.serialize(A.queue_pause("PJSIP/101", True, reason=evil))
    msgs = AmiParser().feed(data)
    assert len(msgs) == 1
    assert msgs[0].get("Channel") is None
    assert "Action: Originate" in msgs[0]["Reason"]
    assert data.count(b"\r\n") == 5  # 4 header lines + the blank line


def test_bad_header_name_refused() -> None:
    with pytest.raises(A.ActionError, match="header name"):
        A.serialize([("Action", "Ping"), ("Bad\r\nKey", "x")])
    with pytest.raises(A.ActionError, match="start with"):
        A.serialize([("Channel", "x")])


def test_originate_async_variables_and_action_id() -> None:
    act = A.originate(
        "PJSIP/0601020310@customers",
        context="dialer",
        exten="support",
        timeout_ms=8000,
        caller_id='"Project" <2000>',
        variables={"LAB_PROJECT": "spring", "CCAGENT_ATTEMPT": "42"},
    )
    m = parse_one(A.serialize(A.with_action_id(act, "x-1")))
    assert m.action == "Originate" and m.action_id == "x-1"
    assert m["Async"] == "true" and m["Timeout"] == "8000" and m["Priority"] == "1"
    assert m.get_all("Variable") == ["LAB_PROJECT=spring", "CCAGENT_ATTEMPT=42"]
    assert [k for k, _ in m.raw_headers][:2] == ["Action", "ActionID"]
    with pytest.raises(A.ActionError):
        A.originate("PJSIP/1")
    with pytest.raises(A.ActionError, match="="):
        A.originate("PJSIP/1", application="Playback", variables={"A=B": "1"})


def test_with_action_id_replaces_existing() -> None:
    pairs = A.with_action_id({"Action": "Ping", "ActionID": "old"}, "new")
    assert pairs == [("Action", "Ping"), ("ActionID", "new")]


def test_dict_list_values_become_repeated_headers() -> None:
    m = parse_one(A.serialize({"Action": "Setvar", "Variable": ["A=1", "B=2"]}))
    assert m.get_all("Variable") == ["A=1", "B=2"]


@pytest.mark.parametrize(
    ("act", "name", "expect"),
    [
        (A.login("u", "s", "call,agent"), "Login", {"Username": "u", "Events": "call,agent"}),
        (A.ping(), "Ping", {}),
        (A.logoff(), "Logoff", {}),
        (A.core_show_channels(), "CoreShowChannels", {}),
        (A.filter_add("!Event: RTCP*"), "Filter", {"Operation": "Add", "Filter": "!Event: RTCP*"}),
        (A.hangup("PJSIP/101-00000001", 16), "Hangup", {"Channel": "PJSIP/101-00000001", "Cause": "16"}),
        (
            A.redirect("PJSIP/c-1", "transfer", "102", extra_channel="PJSIP/101-2"),
            "Redirect",
            {"Exten": "102", "Context": "transfer", "Priority": "1", "ExtraChannel": "PJSIP/101-2"},
        ),
        (
            A.queue_add("hotline", "PJSIP/101", member_name="Agent 101", paused=False),
            "QueueAdd",
            {"Paused": "false"},
        ),
        (A.queue_remove("hotline", "PJSIP/101"), "QueueRemove", {"Queue": "hotline"}),
        (
            A.user_event("CcagentResult", {"Result": "ok"}),
            "UserEvent",
            {"UserEvent": "CcagentResult", "Result": "ok"},
        ),
    ],
)
def test_builders(act: A.Action, name: str, expect: dict[str, str]) -> None:
    m = parse_one(A.serialize(act))
    assert m.action == name
    for k, v in expect.items():
        assert m[k] == v
