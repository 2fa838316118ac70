"""A daemon restart at any message of a real capture stores the same calls and legs (R-SAFE-2).

The restart is what systemd does after a crash or an upgrade: a new translator and tracker, the
tracker re-opened from the journal (the normalized events of the calls in progress), the
translator given those events back, then the rest of the stream.  Asterisk events name their
call; FreeSWITCH events name only a channel, so which channel belongs to which call must come
back from the journal too: before it did, an agent leg created after the restart became a call
of its own and a bridge to a channel the new translator had not seen was dropped.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest

from ccagent.config import LegsConfig
from ccagent.core import pbx_events as ev
from ccagent.core.legs.model import CallRecord
from ccagent.core.legs.tracker import CallTracker
from ccagent.pbx.ami.capture import iter_ami_capture
from ccagent.pbx.ami.translate import AmiTranslator
from ccagent.pbx.esl.capture import iter_capture_messages
from ccagent.pbx.esl.translate import FsTranslator
from tests.acceptance.legs_oracle import TRACES, capture_files, folders

CUTS_PER_CAPTURE = 24


def _single_connection(pbx: str) -> list[str]:
    return [f for f in folders(pbx) if len(capture_files(TRACES / pbx / f)) == 1]


def _messages(pbx: str, folder: str) -> list[Any]:
    (path,) = capture_files(TRACES / pbx / folder)
    read: Callable[[Path], Iterator[Any]] = iter_ami_capture if pbx == "asterisk" else iter_capture_messages
    return list(read(path))


def _pair(pbx: str) -> tuple[AmiTranslator | FsTranslator, CallTracker]:
    if pbx == "asterisk":
        return AmiTranslator(project_variable="LAB_PROJECT"), CallTracker(
            pbx=pbx, project_variable="LAB_PROJECT"
        )
    translator = FsTranslator(
        project_variable="dialer_campaign", extension_pattern=LegsConfig().extension_pattern
    )
    return translator, CallTracker(pbx=pbx, project_variable="dialer_campaign")


def _feed(tr: AmiTranslator | FsTranslator, tk: CallTracker, msgs: Iterable[Any]) -> list[CallRecord]:
    return [r for m in msgs for e in tr.translate(m) for r in tk.apply(e).calls]


def _close(tr: AmiTranslator | FsTranslator, tk: CallTracker) -> list[CallRecord]:
    """End of the stream: whatever is still open is closed the same way in both runs."""
    return tk.apply(ev.ChannelsSnapshot(ts=tr.last_ts + 1, channels=(), complete=True)).calls


def _view(records: list[CallRecord]) -> list[tuple[Any, ...]]:
    return sorted(
        (r.call_id, str(r.disposition), tuple((leg.extension, str(leg.disposition), str(leg.role),
                                               leg.transfer_kind, round(leg.talk_s)) for leg in r.legs))
        for r in records
    )  # fmt: skip


@pytest.mark.parametrize(
    ("pbx", "folder"),
    [("asterisk", f) for f in _single_connection("asterisk")]
    + [("freeswitch", f) for f in _single_connection("freeswitch")],
)
def test_R_SAFE_2_a_restart_at_any_message_stores_the_same_calls(pbx: str, folder: str) -> None:
    msgs = _messages(pbx, folder)
    tr, tk = _pair(pbx)
    whole = _view(_feed(tr, tk, msgs) + _close(tr, tk))
    step = max(1, len(msgs) // CUTS_PER_CAPTURE)
    for cut in range(1, len(msgs), step):
        tr1, tk1 = _pair(pbx)
        done = _feed(tr1, tk1, msgs[:cut])
        journal = {cid: tk1.events_of(cid) for cid in tk1.open_call_ids()}
        tr2, tk2 = _pair(pbx)
        for cid, events in journal.items():
            tk2.restore(cid, events)
        tk2.mark_finished(r.call_id for r in done)
        tr2.restore([e for events in journal.values() for e in events])
        done += _feed(tr2, tk2, msgs[cut:]) + _close(tr2, tk2)
        assert _view(done) == whole, (folder, cut)
