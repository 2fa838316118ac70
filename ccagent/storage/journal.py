"""Journal of the normalized events of calls still open (SPEC R-SAFE-2, R-PBX-5).

A restarted daemon re-feeds each open call's journalled events to the leg
engine, then reconciles with the PBX's channel list, so a call that spanned
the restart is completed rather than lost.  Events are serialized generically
from the ``ccagent.core.pbx_events`` dataclasses (class name + fields, enums
by value, tuples restored from the type hints), so adding an event class to
the model needs no change here.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import types
import typing
from collections.abc import Iterable, Mapping, Sequence
from enum import Enum
from functools import cache
from typing import Any, cast

from sqlalchemy import Connection, Engine, Table, delete, func, select

from ccagent.core import pbx_events
from ccagent.core.pbx_events import PbxEvent
from ccagent.storage.models import EventJournalRow

log = logging.getLogger(__name__)

_journal = cast(Table, EventJournalRow.__table__)
_ID_CHUNK = 500


class JournalFormatError(ValueError):
    """A journal row that cannot be turned back into an event."""


@cache
def _event_classes() -> dict[str, type[PbxEvent]]:
    return {
        name: obj
        for name, obj in vars(pbx_events).items()
        if isinstance(obj, type) and issubclass(obj, PbxEvent) and dataclasses.is_dataclass(obj)
    }


@cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls, vars(pbx_events))


def _encode(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _encode(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, tuple | list):
        return [_encode(v) for v in value]
    return value


def _decode(value: Any, hint: Any) -> Any:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None:
            return None
        options = [a for a in typing.get_args(hint) if a is not type(None)]
        return _decode(value, options[0]) if len(options) == 1 else value
    if origin is tuple:
        args = typing.get_args(hint)
        if not isinstance(value, list):
            raise JournalFormatError(f"expected a list for {hint}, got {type(value).__name__}")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_decode(v, args[0]) for v in value)
        return tuple(_decode(v, a) for v, a in zip(value, args, strict=True))
    if isinstance(hint, type):
        if issubclass(hint, Enum):
            return hint(value)
        if dataclasses.is_dataclass(hint):
            return _build(hint, value)
        if hint is float and isinstance(value, int) and not isinstance(value, bool):
            return float(value)
    return value


def _build(cls: type, data: Any) -> Any:
    if not isinstance(data, dict):
        raise JournalFormatError(f"{cls.__name__}: expected an object")
    hints = _hints(cls)
    kwargs = {f.name: _decode(data[f.name], hints[f.name]) for f in dataclasses.fields(cls) if f.name in data}
    return cls(**kwargs)


def encode_event(event: PbxEvent) -> tuple[str, str]:
    """(kind, JSON payload) of an event."""
    kind = type(event).__name__
    if _event_classes().get(kind) is not type(event):
        raise TypeError(f"{kind} is not an event class of ccagent.core.pbx_events")
    return kind, json.dumps(_encode(event), ensure_ascii=False, separators=(",", ":"))


def decode_event(kind: str, payload: str) -> PbxEvent:
    cls = _event_classes().get(kind)
    if cls is None:
        raise JournalFormatError(f"unknown event kind {kind!r}")
    try:
        event = _build(cls, json.loads(payload))
    except (TypeError, ValueError, KeyError) as exc:
        if isinstance(exc, JournalFormatError):
            raise
        raise JournalFormatError(f"{kind}: {exc}") from None
    return typing.cast(PbxEvent, event)


class EventJournal:
    """The events of calls in progress, per writer.

    ``owner`` is "daemon" or "ingest": each resumes only the calls it journaled, so an ingest
    back-filling a gap beside a running daemon never re-opens (and closes by guess) a live call.
    """

    def __init__(self, engine: Engine, *, owner: str = "daemon") -> None:
        self._engine = engine
        self.owner = owner

    def append(self, call_id: str, events: Sequence[PbxEvent]) -> None:
        self.append_many({call_id: events})

    def append_many(self, batch: Mapping[str, Sequence[PbxEvent]], *, replace: Iterable[str] = ()) -> None:
        """Append events of several calls in one transaction (a pump flush), keeping per-call order.

        The calls in ``replace`` have their rows replaced by the batch's, in the same transaction,
        so a crash leaves either the old rows or the new ones, never neither.
        """
        encoded = {cid: [encode_event(e) for e in events] for cid, events in batch.items() if events}
        gone = [cid for cid in replace if cid in encoded]
        if not encoded:
            return
        ids = list(encoded)
        rows: list[dict[str, Any]] = []
        with self._engine.begin() as conn:
            self._delete(conn, gone)
            last: dict[str, int] = {}
            for i in range(0, len(ids), _ID_CHUNK):
                chunk = ids[i : i + _ID_CHUNK]
                stmt = (
                    select(_journal.c.call_id, func.max(_journal.c.seq))
                    .where(self._mine, _journal.c.call_id.in_(chunk))
                    .group_by(_journal.c.call_id)
                )
                last.update({cid: seq for cid, seq in conn.execute(stmt)})
            for cid, items in encoded.items():
                start = last.get(cid, -1) + 1
                rows.extend(
                    {"owner": self.owner, "call_id": cid, "seq": start + n, "kind": kind, "payload": payload}
                    for n, (kind, payload) in enumerate(items)
                )
            conn.execute(_journal.insert(), rows)

    def load_open(self) -> dict[str, list[PbxEvent]]:
        """Every journalled call's events in append order; unreadable rows are logged and skipped."""
        calls: dict[str, list[PbxEvent]] = {}
        with self._engine.connect() as conn:
            rows = conn.execute(
                select(_journal.c.call_id, _journal.c.seq, _journal.c.kind, _journal.c.payload)
                .where(self._mine)
                .order_by(_journal.c.call_id, _journal.c.seq)
            )
            for call_id, seq, kind, payload in rows:
                try:
                    event = decode_event(kind, payload)
                except JournalFormatError as exc:
                    log.warning("journal: skipping call_id=%s seq=%s: %s", call_id, seq, exc)
                    continue
                calls.setdefault(call_id, []).append(event)
        return calls

    def drop(self, call_ids: Iterable[str]) -> None:
        """Forget calls that are finished and stored."""
        ids = list(call_ids)
        with self._engine.begin() as conn:
            self._delete(conn, ids)

    def count(self) -> int:
        with self._engine.connect() as conn:
            return int(
                conn.execute(select(func.count()).select_from(_journal).where(self._mine)).scalar_one()
            )

    @property
    def _mine(self) -> Any:
        return _journal.c.owner == self.owner

    def _delete(self, conn: Connection, call_ids: Sequence[str]) -> None:
        for i in range(0, len(call_ids), _ID_CHUNK):
            chunk = call_ids[i : i + _ID_CHUNK]
            conn.execute(delete(_journal).where(self._mine, _journal.c.call_id.in_(chunk)))
