"""A leg's recording reference (R-LEG-1): the newest file started on its parties before it ended.

FreePBX starts MixMonitor on the customer's channel before any agent answers (37); a blind
transfer to a recording extension starts a second file on the same channel while the first keeps
running, and the transfer leg's recording is the new one.  FreeSWITCH: ``record_session <path>``.
"""

from __future__ import annotations

from dataclasses import replace

from ccagent.core import pbx_events as ev
from ccagent.core.legs.fold import fold_call
from ccagent.pbx.ami.capture import iter_ami_capture
from ccagent.pbx.ami.translate import AmiTranslator
from ccagent.pbx.esl.capture import iter_capture_messages
from ccagent.pbx.esl.translate import FsTranslator
from tests.acceptance.legs_oracle import TRACES


def _recording(at: float, channel: str, call: str, path: str) -> ev.VariableSet:
    return ev.VariableSet(ts=at, channel=channel, call=call, name="MIXMONITOR_FILENAME", value=path)


def test_R_LEG_1_a_blind_transfer_leg_gets_the_file_started_after_the_transfer() -> None:
    tr = AmiTranslator()
    events = [
        e
        for m in iter_ami_capture(TRACES / "asterisk" / "05-blind-transfer" / "ami.log")
        for e in tr.translate(m)
    ]
    customer = next(e for e in events if isinstance(e, ev.ChannelCreated))
    transfer = next(e for e in events if isinstance(e, ev.Transfer))
    first = _recording(
        customer.ts + 0.001, customer.channel, customer.call, "/var/spool/monitor/2026/in-1.wav"
    )
    second = _recording(
        transfer.ts + 0.5, customer.channel, customer.call, "/var/spool/monitor/2026/ext-2.wav"
    )
    stream = sorted([*events, first, second], key=lambda e: e.ts)
    rec = fold_call(customer.call, stream, pbx="asterisk")
    assert rec is not None
    assert [leg.recording for leg in rec.legs] == ["in-1.wav", "ext-2.wav"]
    assert fold_call(customer.call, events, pbx="asterisk").legs[0].recording is None  # type: ignore[union-attr]


def test_R_LEG_1_the_recording_variable_is_configurable() -> None:
    tr = AmiTranslator(recording_variable="CALLFILENAME")
    events = [
        e
        for m in iter_ami_capture(TRACES / "asterisk" / "01-inbound-direct-answered" / "ami.log")
        for e in tr.translate(m)
    ]
    customer = next(e for e in events if isinstance(e, ev.ChannelCreated))
    named = replace(
        _recording(customer.ts + 0.001, customer.channel, customer.call, "in-7"), name="CALLFILENAME"
    )
    stream = sorted([*events, named], key=lambda e: e.ts)
    assert fold_call(customer.call, stream, pbx="asterisk").legs[0].recording is None  # type: ignore[union-attr]
    rec = fold_call(customer.call, stream, pbx="asterisk", recording_variable="CALLFILENAME")
    assert rec is not None and rec.legs[0].recording == "in-7"


def test_R_LEG_1_freeswitch_record_session_names_the_file() -> None:
    messages = list(iter_capture_messages(TRACES / "freeswitch" / "01-inbound-answered" / "esl.log"))
    tr = FsTranslator()
    events = [e for m in messages for e in tr.translate(m)]
    customer = next(e for e in events if isinstance(e, ev.ChannelCreated))
    answer = next(m for m in messages if m.get("Event-Name") == "CHANNEL_ANSWER")
    record = dict(
        answer,
        **{"Event-Name": "CHANNEL_EXECUTE", "Unique-ID": customer.channel, "Application": "record_session",
           "Application-Data": "/var/lib/freeswitch/recordings/pbx.example.com/archive/2026/Dec/05/abc.wav"},
    )  # fmt: skip
    (var,) = [e for e in tr.translate(record) if isinstance(e, ev.VariableSet)]
    rec = fold_call(customer.call, sorted([*events, var], key=lambda e: e.ts), pbx="freeswitch")
    assert rec is not None and [leg.recording for leg in rec.legs] == ["abc.wav"]
