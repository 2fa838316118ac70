"""The FreeSWITCH adapter through the PBX port: its session, and its queue items -> pipeline step
of `ccagent run` (SPEC R-PBX-2, R-PBX-5, R-SAFE-3; issue 12)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ccagent.app.bootstrap import build_daemon
from ccagent.app.daemon import Daemon, NullNotifier
from ccagent.config import parse_config
from ccagent.pbx.esl import adapter as esl_adapter
from ccagent.pbx.esl.adapter import EslAdapter
from ccagent.pbx.esl.capture import capture_files, iter_capture_events
from ccagent.pbx.esl.client import ConnectionDown, ConnectionUp, EslClient

TRACES = Path(__file__).resolve().parents[2] / "traces" / "freeswitch"
PASSWORD = "glue-S3cret-pw"


def make_daemon(tmp_path: Path) -> Daemon:
    config = parse_config(
        {
            "pbx": {
                "type": "freeswitch",
                "freeswitch": {
                    "host": "127.0.0.1",
                    "port": 8022,
                    "password": PASSWORD,
                    "event_format": "json",
                    "ping_interval_s": 7.0,
                    "ping_timeout_s": 3.0,
                    "reconnect_min_s": 0.2,
                    "reconnect_max_s": 9.0,
                },
            },
            "database": {"url": f"sqlite:///{tmp_path / 'glue.db'}"},
            "daemon": {"queue_size": 123},
            "legs": {"project_variable": "dialer_campaign"},
        }
    )
    return build_daemon(config, clock=lambda: 4_000_000_000.0, notifier=NullNotifier())


def test_R_PBX_2_the_session_is_built_from_the_freeswitch_config(tmp_path: Path) -> None:
    daemon = make_daemon(tmp_path)
    assert isinstance(daemon.adapter, EslAdapter)  # the registry's choice from pbx.type
    client = daemon.session
    assert isinstance(client, EslClient)
    assert client.keep == daemon.pipeline.translator.wants  # the pre-filter is the translator's
    assert (client.host, client.port, client.event_format) == ("127.0.0.1", 8022, "json")
    assert (client.keepalive_s, client.keepalive_timeout_s) == (7.0, 3.0)
    assert (client.backoff_min, client.backoff_max) == (0.2, 9.0)
    assert client.queue.maxsize == 123
    assert PASSWORD not in repr(client) and PASSWORD not in repr(vars(client))
    daemon.wiring.engine.dispose()


def test_R_PBX_5_items_apply_in_order_and_a_vanished_call_is_reconciled_at_pbx_time(tmp_path: Path) -> None:
    daemon = make_daemon(tmp_path)
    handle = daemon.live.step
    events = list(iter_capture_events(capture_files(TRACES / "01-inbound-answered")[0]))
    answered = next(i for i, e in enumerate(events) if e.get("Event-Name") == "CHANNEL_BRIDGE")
    handle(ConnectionUp(connection=1, channels_json='{"row_count":0}'))
    for e in events[: answered + 1]:
        handle(e)
    tracker = daemon.pipeline.tracker
    assert len(tracker.calls) == 1
    last_pbx_ts = daemon.pipeline.translator.last_ts
    handle(ConnectionDown(connection=1, reason="connection lost"))
    assert tracker._lost_at == last_pbx_ts  # the PBX's time, not the daemon clock (4e9)
    handle(ConnectionUp(connection=2, channels_json=json.dumps({"row_count": 0})))  # the switch restarted
    assert tracker.calls == {}
    assert daemon.metrics.reconnects._value.get() == 1  # connection 1 is not a reconnect
    assert daemon.pipeline.flush() == 1
    rows = daemon.pipeline.store.count_calls()
    assert rows == 1
    handle({"Event-Name": "CHANNEL_HANGUP_COMPLETE", "Unique-ID": events[0]["Unique-ID"]})  # late: dropped
    assert tracker.calls == {}
    handle(object())  # an unknown item is logged, not fatal
    daemon.wiring.engine.dispose()


def test_translator_memory_is_trimmed_on_a_long_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(esl_adapter, "FORGET_EVERY", 50)
    monkeypatch.setattr(esl_adapter, "FORGET_AFTER_S", 0.0)
    daemon = make_daemon(tmp_path)
    handle = daemon.live.step
    events = list(iter_capture_events(capture_files(TRACES / "01-inbound-answered")[0]))
    for e in events:
        handle(e)
    first = events[0]["Unique-ID"]
    for _ in range(60):
        handle({"Event-Name": "HEARTBEAT", "Event-Date-Timestamp": str(int(9e15))})
    assert daemon.pipeline.translator.call_of(first) is None  # type: ignore[attr-defined]
    daemon.wiring.engine.dispose()
