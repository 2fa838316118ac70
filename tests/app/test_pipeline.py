"""Pipeline: a bad PBX message is logged with its ids, counted, skipped; the rest goes on (R-SAFE-1)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from ccagent.app.bootstrap import build
from ccagent.config import parse_config
from ccagent.pbx.ami.capture import iter_ami_capture
from ccagent.pbx.ami.parser import AmiMessage
from tests.acceptance.legs_oracle import TRACES, expected, mismatches, stored

ONE_CALL = TRACES / "asterisk" / "01-inbound-direct-answered"


def _bad(event: str, **headers: str) -> AmiMessage:
    return AmiMessage.from_pairs([("Event", event), *headers.items()])


def test_R_SAFE_1_bad_messages_are_logged_with_ids_counted_and_skipped(
    sqlite_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    config = parse_config({"legs": {"project_variable": "LAB_PROJECT"}})
    wiring = build(config, pbx="asterisk", db_url=sqlite_url)
    pipe = wiring.pipeline
    garbage = [
        _bad("Newchannel", Linkedid="9.9", ActionID="a-1"),  # no Uniqueid / Channel
        _bad("Hangup", Uniqueid="9.8", Cause="not-a-number"),  # tolerated: cause 0
        _bad("BridgeEnter", Uniqueid="9.7"),  # no BridgeUniqueid
        _bad("DialBegin", Uniqueid="9.6"),  # no DestUniqueid
        _bad("Newstate", Timestamp="yesterday", Uniqueid="9.5"),  # tolerated: the newest PBX time
        _bad("Hangup", Timestamp="nan", Uniqueid="9.4", Cause="99999999999999999999"),  # same, cause 0
    ]
    caplog.set_level(logging.WARNING)
    messages = list(iter_ami_capture(ONE_CALL / "ami.log"))
    for i, msg in enumerate(messages):
        pipe.feed(msg)
        if i == 10:
            for g in garbage:
                pipe.feed(g)
    pipe.flush()
    bad = wiring.metrics.bad_events.labels("translate")._value.get()
    assert bad == 3
    logged = caplog.text
    assert "Event=Newchannel" in logged and "Linkedid=9.9" in logged and "ActionID=a-1" in logged
    assert "Uniqueid=9.5" not in logged and "Uniqueid=9.4" not in logged
    legs, calls = stored(sqlite_url)
    assert mismatches(expected(ONE_CALL), legs, calls) == []


def test_R_SAFE_1_absurd_pbx_numbers_cannot_wedge_the_store(sqlite_url: str) -> None:
    """``Timestamp: nan`` or a 20-digit cause parse as numbers, yet no row can hold them.

    They reached the store, which could not write the call, and the daemon retried that batch
    forever: every later call went unrecorded.  The call is kept, the absurd number replaced.
    """
    wiring = build(
        parse_config({"legs": {"project_variable": "LAB_PROJECT"}}), pbx="asterisk", db_url=sqlite_url
    )
    for msg in iter_ami_capture(ONE_CALL / "ami.log"):
        if msg.get("Event") == "Hangup":
            absurd = {"Timestamp": "nan", "Cause": "99999999999999999999"}
            msg = AmiMessage.from_pairs([(k, absurd.get(k, v)) for k, v in msg.items()])
        wiring.pipeline.feed(msg)
    assert wiring.pipeline.flush() == 1
    legs, calls = stored(sqlite_url)
    problems = mismatches(expected(ONE_CALL), legs, calls)
    assert problems == [], problems  # talk time from the events before: within the 1 s tolerance
    assert {row["hangup_cause"] for row in legs} <= {0, 16, None}


def test_R_SAFE_3_a_message_carrying_a_secret_is_never_logged_whole(
    sqlite_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    wiring = build(parse_config({}), pbx="asterisk", db_url=sqlite_url)
    caplog.set_level(logging.DEBUG)
    wiring.pipeline.feed(_bad("Newchannel", Secret="hunter2-hunter2", Linkedid="1.1"))
    assert "hunter2" not in caplog.text
    assert "Linkedid=1.1" in caplog.text


def test_R_PBX_6_ingest_refuses_a_capture_of_the_other_pbx(tmp_path: Path, sqlite_url: str) -> None:
    from ccagent.app.ingest import ingest_files

    esl = next((TRACES / "freeswitch").glob("*/esl.log"))
    with pytest.raises(ValueError, match="not AMI"):
        ingest_files(parse_config({}), [esl], pbx="asterisk", db_url=sqlite_url)


def test_R_SAFE_2_a_crash_between_storing_a_call_and_dropping_its_journal_changes_nothing(
    sqlite_url: str,
) -> None:
    """The restarted daemon must not re-open a call it already stored and re-close it by guess."""
    from ccagent.core import pbx_events as ev

    config = parse_config({"legs": {"project_variable": "LAB_PROJECT"}})
    first = build(config, pbx="asterisk", db_url=sqlite_url).pipeline
    messages = list(iter_ami_capture(ONE_CALL / "ami.log"))
    for msg in messages[: len(messages) // 2]:
        first.feed(msg)
    first.flush()  # mid-call: the call's events are journaled
    for msg in messages[len(messages) // 2 :]:
        first.feed(msg)

    def crash(_ids: object) -> None:
        raise SystemExit("killed after the call was committed")

    first.journal.drop = crash  # type: ignore[method-assign]
    with pytest.raises(SystemExit):
        first.flush()
    good = stored(sqlite_url)
    assert mismatches(expected(ONE_CALL), *good) == []

    again = build(config, pbx="asterisk", db_url=sqlite_url).pipeline
    assert again.restore() == 0
    assert again.journal.count() == 0
    last = max(float(m["Timestamp"]) for m in messages if m.get("Timestamp"))
    again.apply(ev.ChannelsSnapshot(ts=last + 60, channels=(), complete=True))  # the reconnect's listing
    again.flush()
    assert stored(sqlite_url) == good


def test_R_SAFE_1_a_call_the_journal_refuses_is_left_unjournaled_and_the_rest_goes_on(
    sqlite_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A Linkedid longer than the column (a CRM's own ChannelId) made PostgreSQL refuse the journal
    insert, and the daemon retried that flush forever: no call was recorded after it."""
    from sqlalchemy.exc import DataError

    config = parse_config({"legs": {"project_variable": "LAB_PROJECT"}})
    pipe = build(config, pbx="asterisk", db_url=sqlite_url).pipeline
    messages = list(iter_ami_capture(TRACES / "asterisk" / "15-concurrent-calls" / "ami.log"))
    for msg in messages[: len(messages) // 2]:
        pipe.feed(msg)
    refused, *others = pipe.tracker.open_call_ids()
    real = pipe.journal.append_many

    def append_many(batch, **kw):  # type: ignore[no-untyped-def]
        if refused in batch:
            raise DataError("INSERT", {}, Exception("value too long for type character varying(64)"))
        return real(batch, **kw)

    pipe.journal.append_many = append_many  # type: ignore[method-assign]
    caplog.set_level(logging.ERROR)
    pipe.flush()
    assert sorted(pipe.journal.load_open()) == sorted(others)
    assert f"events of call {refused} could not be journaled" in caplog.text
    for msg in messages[len(messages) // 2 :]:
        pipe.feed(msg)
    pipe.flush()
    legs, calls = stored(sqlite_url)
    assert mismatches(expected(TRACES / "asterisk" / "15-concurrent-calls"), legs, calls) == []


def test_R_SAFE_2_a_journaled_call_whose_channels_all_ended_is_folded_at_restart(sqlite_url: str) -> None:
    """A call whose fold failed keeps its events in the journal for a fixed version; restored, no
    event ever comes for it again, so it must be folded then, not stay open at every restart."""
    from ccagent.core import pbx_events as ev

    config = parse_config({"legs": {"project_variable": "LAB_PROJECT"}})
    wiring = build(config, pbx="asterisk", db_url=sqlite_url)
    translator = wiring.pipeline.translator
    events = [e for m in iter_ami_capture(ONE_CALL / "ami.log") for e in translator.translate(m)]
    (call_id,) = {e.call for e in events if isinstance(e, ev.ChannelCreated)}
    wiring.pipeline.journal.append(call_id, [e for e in events if isinstance(e, ev.ChannelEvent)])
    wiring.engine.dispose()

    again = build(config, pbx="asterisk", db_url=sqlite_url).pipeline
    assert again.restore() == 1
    again.flush()
    assert again.tracker.open_call_ids() == [] and again.journal.count() == 0
    assert mismatches(expected(ONE_CALL), *stored(sqlite_url)) == []
