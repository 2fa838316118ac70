"""Event journal: every event class round-trips; open calls survive a restart (R-SAFE-2, R-PBX-5)."""

from __future__ import annotations

import dataclasses
import logging
import types
import typing
from enum import Enum
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine

from ccagent.core import pbx_events as pe
from ccagent.storage.journal import EventJournal, JournalFormatError, decode_event, encode_event
from ccagent.storage.models import EventJournalRow

EVENT_CLASSES = sorted(
    (
        obj
        for obj in vars(pe).values()
        if isinstance(obj, type) and issubclass(obj, pe.PbxEvent) and obj.__module__ == pe.__name__
    ),
    key=lambda c: c.__name__,
)

_text = st.text(max_size=12)


def _strategy(hint: Any) -> st.SearchStrategy[Any]:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return st.one_of(*(_strategy(a) for a in typing.get_args(hint)))
    if origin is tuple:
        args = typing.get_args(hint)
        if len(args) == 2 and args[1] is Ellipsis:
            return st.lists(_strategy(args[0]), max_size=3).map(tuple)
        return st.tuples(*(_strategy(a) for a in args))
    if hint is type(None):
        return st.none()
    if isinstance(hint, type) and issubclass(hint, Enum):
        return st.sampled_from(list(hint))
    if hint is float:
        return st.floats(allow_nan=False, allow_infinity=False)
    if hint is int:
        return st.integers(-(2**40), 2**40)
    if hint is bool:
        return st.booleans()
    if hint is str:
        return _text
    if dataclasses.is_dataclass(hint):
        return _builds(hint)
    raise AssertionError(f"no strategy for {hint!r}: extend the test")


def _builds(cls: type) -> st.SearchStrategy[Any]:
    hints = typing.get_type_hints(cls, vars(pe))
    return st.builds(cls, **{f.name: _strategy(hints[f.name]) for f in dataclasses.fields(cls)})


def test_the_model_has_events() -> None:
    assert len(EVENT_CLASSES) >= 25  # guards the discovery above against silently testing nothing


@pytest.mark.parametrize("cls", EVENT_CLASSES, ids=lambda c: c.__name__)
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_R_SAFE_2_every_event_class_round_trips(cls: type, data: st.DataObject) -> None:
    event = data.draw(_builds(cls))
    kind, payload = encode_event(event)
    restored = decode_event(kind, payload)
    assert restored == event
    assert type(restored) is cls


def test_R_SAFE_2_nested_snapshot_restores_tuples_and_enums() -> None:
    item = pe.ChannelSnapshotItem(
        channel="u1",
        call="c1",
        name="PJSIP/101-1",
        party=pe.PartyKind.EXTENSION,
        extension="101",
        caller_num="101",
        caller_name="Оля",
        exten="5000",
        up=True,
        started_ts=1.5,
        bridged_with="u2",
    )
    event = pe.ChannelsSnapshot(ts=2.0, channels=(item,), complete=False)
    restored = decode_event(*encode_event(event))
    assert isinstance(restored, pe.ChannelsSnapshot)
    assert isinstance(restored.channels, tuple) and restored.channels[0].party is pe.PartyKind.EXTENSION
    ue = decode_event(
        *encode_event(pe.UserEvent(ts=1, channel="u", call="c", name="R", fields=(("a", "1"),)))
    )
    assert isinstance(ue, pe.UserEvent) and ue.fields == (("a", "1"),) and isinstance(ue.ts, float)


@pytest.mark.parametrize(
    ("kind", "payload"),
    [
        ("NoSuchEvent", "{}"),
        ("Dtmf", "not json"),
        ("Dtmf", "[]"),
        ("Dtmf", '{"ts": 1}'),
        ("Hold", '{"ts": 1}'),
    ],
)
def test_R_SAFE_1_malformed_journal_rows_raise_a_clear_error(kind: str, payload: str) -> None:
    with pytest.raises(JournalFormatError):
        decode_event(kind, payload)


def test_encode_refuses_foreign_objects() -> None:
    @dataclasses.dataclass(frozen=True)
    class Fake(pe.EventBase):  # PbxEvent is a closed union now (issue 12): subclass the base
        pass

    with pytest.raises(TypeError):
        encode_event(Fake(ts=1.0))


def test_R_SAFE_2_journal_resumes_open_calls(
    migrated_engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    journal = EventJournal(migrated_engine)
    a1 = [
        pe.ChannelCreated(
            ts=1.0,
            channel="u1",
            call="A",
            name="PJSIP/trunk-1",
            party=pe.PartyKind.EXTERNAL,
            extension=None,
            caller_num="0601",
            caller_name="Петро",
            exten="5000",
            context="from-trunk",
            originated=False,
        ),
        pe.QueueJoin(ts=2.0, channel="u1", call="A", queue="sales"),
    ]
    a2 = [pe.HangupRequested(ts=9.0, channel="u1", call="A", cause=16)]
    b = [pe.Dtmf(ts=3.0, channel="u9", call="B", digit="5")]
    journal.append("A", a1)
    journal.append("B", b)
    journal.append("A", a2)
    journal.append("A", [])
    with migrated_engine.begin() as conn:
        conn.execute(
            EventJournalRow.__table__.insert(), [{"call_id": "B", "seq": 1, "kind": "Bogus", "payload": "{}"}]
        )
    with caplog.at_level(logging.WARNING, logger="ccagent.storage.journal"):
        opened = EventJournal(migrated_engine).load_open()  # a "restarted" reader
    assert opened == {"A": a1 + a2, "B": b}
    assert "call_id=B" in caplog.text and "Bogus" in caplog.text
    journal.drop(["A"])
    assert set(journal.load_open()) == {"B"}
    assert journal.count() == 2


def test_R_SAFE_2_append_many_keeps_per_call_order(migrated_engine: Engine) -> None:
    journal = EventJournal(migrated_engine)
    d = [pe.Dtmf(ts=float(i), channel="u", call="X", digit=str(i)) for i in range(6)]
    journal.append("X", d[:2])
    journal.append_many({"X": d[2:4], "Y": d[4:5], "Z": []})
    journal.append_many({"X": d[5:]})
    assert journal.load_open() == {"X": d[:4] + d[5:], "Y": d[4:5]}
