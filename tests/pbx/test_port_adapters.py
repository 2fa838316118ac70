"""The PBX port's seams (issue 12): the registry picks the adapter from config, and each adapter's
step turns its own queue items into the port's neutral pipeline operations (R-PBX-5, R-SAFE-1)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from ccagent.app.bootstrap import build, pbx_adapter
from ccagent.config import parse_config
from ccagent.pbx import registry
from ccagent.pbx.ami.adapter import AmiAdapter
from ccagent.pbx.ami.client import ConnectionDown as AmiDown
from ccagent.pbx.ami.client import ConnectionUp as AmiUp
from ccagent.pbx.ami.client import ListResult
from ccagent.pbx.ami.parser import AmiMessage
from ccagent.pbx.esl.adapter import EslAdapter
from ccagent.pbx.esl.client import ConnectionDown as EslDown
from ccagent.pbx.esl.client import ConnectionUp as EslUp
from ccagent.pbx.esl.translate import SNAPSHOT_MARKER

NOW = 4_000_000_000.0


class Ops:
    """A recording :class:`~ccagent.pbx.port.PipelineOps`: what the step asked of the pipeline."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []

    def feed(self, msg: Mapping[str, str], now: float | None = None, arrived: float | None = None) -> None:
        self.calls.append(("feed", dict(msg), now))

    def connection_lost(self, now: float | None = None) -> None:
        self.calls.append(("lost", now))

    def reconnected(self) -> None:
        self.calls.append(("reconnected",))


@pytest.mark.parametrize(("pbx", "kind"), [("asterisk", AmiAdapter), ("freeswitch", EslAdapter)])
def test_the_registry_picks_the_adapter_named_by_the_config(pbx: str, kind: type, tmp_path: Path) -> None:
    config = parse_config({"pbx": {"type": pbx}, "legs": {"project_variable": "MY_PROJECT"}})
    adapter = pbx_adapter(config)
    assert isinstance(adapter, kind) and adapter.name == pbx
    assert adapter.translator.project_variable == "MY_PROJECT"  # type: ignore[attr-defined]
    wiring = build(config, db_url=f"sqlite:///{tmp_path / 'r.db'}")
    try:  # the one choice reaches the pipeline: its translator, and the PBX its rows are stored under
        assert isinstance(wiring.adapter, kind)
        assert wiring.pipeline.translator is wiring.adapter.translator
        assert wiring.pipeline.pbx == pbx
    finally:
        wiring.engine.dispose()


def test_the_registry_refuses_a_pbx_it_does_not_know() -> None:
    with pytest.raises(ValueError, match="unknown pbx 'yate'"):
        registry.adapter_for(parse_config({}), "yate")
    assert registry.names() == ("asterisk", "freeswitch")


def _ami_step(ops: Ops) -> tuple[Any, AmiAdapter]:
    adapter = AmiAdapter(parse_config({}))
    live = adapter.live(ops, clock=lambda: NOW, queue_size=10)
    return live.step, adapter


def test_R_PBX_5_ami_items_become_port_operations_in_queue_order() -> None:
    ops = Ops()
    step, _adapter = _ami_step(ops)
    event = AmiMessage({"Event": "Newchannel", "Uniqueid": "1.1"})
    step(AmiUp(pbx_version="20", connection=1))  # the first connection is not a reconnect
    step(event)
    step(AmiDown(reason="eof", connection=1))
    step(AmiUp(pbx_version="20", connection=2))
    listed = (AmiMessage({"Event": "CoreShowChannel", "Uniqueid": "1.1"}),)
    done = AmiMessage({"Event": "CoreShowChannelsComplete"})
    step(ListResult("CoreShowChannels", "a1", listed, done, 2))
    step(object())  # unknown: logged and skipped, never raised
    assert ops.calls == [
        ("feed", dict(event), NOW),
        ("lost", NOW),
        ("reconnected",),
        ("feed", dict(listed[0]), NOW),
        ("feed", dict(done), NOW),
    ]


def test_R_PBX_5_an_ami_connection_up_starts_a_new_listing_in_the_translator() -> None:
    ops = Ops()
    step, adapter = _ami_step(ops)
    translator = adapter.translator
    translator.translate(
        AmiMessage({"Response": "Success", "EventList": "start", "ActionID": "old"}), NOW
    )  # a listing the drop cut short
    assert translator._snapshot_items
    step(AmiUp(pbx_version="20", connection=2))
    assert translator._snapshot_items == {}  # forgotten: its channels are not kept alive forever


def test_R_PBX_5_esl_items_become_port_operations_stamped_with_pbx_time() -> None:
    ops = Ops()
    adapter = EslAdapter(parse_config({"pbx": {"type": "freeswitch"}}))
    step = adapter.live(ops, clock=lambda: NOW, queue_size=10).step
    step(EslDown(connection=1, reason="connection lost"))  # no PBX time yet: our clock
    heartbeat = {"Event-Name": "HEARTBEAT", "Event-Date-Timestamp": "1800000000000000"}
    step(heartbeat)
    adapter.translator.translate(heartbeat)  # what the pipeline's feed does with it
    step(EslDown(connection=1, reason="connection lost"))
    step(EslUp(connection=2, channels_json=json.dumps({"row_count": 0})))
    step(object())
    assert ops.calls[0] == ("lost", NOW)
    assert ops.calls[1] == ("feed", heartbeat, NOW)
    assert ops.calls[2] == ("lost", 1_800_000_000.0)  # the PBX's own time of its last event
    assert ops.calls[3] == ("reconnected",)
    kind, snapshot, _ = ops.calls[4]
    assert kind == "feed" and snapshot[SNAPSHOT_MARKER] == "snapshot"  # the listing, fed as a message
    assert len(ops.calls) == 5


@pytest.mark.parametrize("pbx", ["asterisk", "freeswitch"])
def test_R_SAFE_3_an_adapter_session_reads_its_own_config_and_knows_its_refused_login(pbx: str) -> None:
    secret = "port-S3cret-x"
    section = {"asterisk": {"secret": secret, "port": 5039}, "freeswitch": {"password": secret, "port": 8023}}
    adapter = pbx_adapter(parse_config({"pbx": {"type": pbx, pbx: section[pbx]}}))
    live = adapter.live(Ops(), clock=lambda: NOW, queue_size=7)
    assert live.session.queue.maxsize == 7
    assert live.session.connected is False
    assert secret not in repr(live.session)
    from ccagent.pbx.ami.client import AmiAuthError
    from ccagent.pbx.esl.client import EslAuthError

    own, other = (AmiAuthError, EslAuthError) if pbx == "asterisk" else (EslAuthError, AmiAuthError)
    assert adapter.is_auth_error(own("refused")) and not adapter.is_auth_error(other("refused"))
    assert not adapter.is_auth_error(OSError("refused"))
