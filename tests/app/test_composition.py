"""Threads and ownership (issue 12): committed calls reach their listeners on the event loop, never
in the commit's worker thread; the dialer runtime is built from what it needs, without a Daemon."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ccagent.app.bootstrap import build, build_daemon, pbx_adapter
from ccagent.app.daemon import NullNotifier
from ccagent.app.dialer_runtime import DialerRuntime
from ccagent.app.projects import ProjectService
from ccagent.config import ProjectsConfig, parse_config
from ccagent.core.dialer.engine import Originate
from ccagent.core.legs.model import CallRecord
from ccagent.pbx.ami.capture import iter_ami_capture
from tests.acceptance.legs_oracle import TRACES
from tests.dialer.helpers import one_contact

ONE_CALL = TRACES / "asterisk" / "01-inbound-direct-answered"
T0 = datetime(2026, 3, 10, 12, 0, tzinfo=UTC).timestamp()  # a Tuesday, 14:00 in Kyiv


def test_R_SAFE_2_committed_call_listeners_run_on_the_loop_thread_not_the_flush_worker(
    tmp_path: Path,
) -> None:
    config = parse_config(
        {
            "pbx": {"type": "asterisk", "asterisk": {"port": 1}},
            "database": {"url": f"sqlite:///{tmp_path / 'threads.db'}"},
            "legs": {"project_variable": "LAB_PROJECT"},
        }
    )
    daemon = build_daemon(config, notifier=NullNotifier())
    pipe = daemon.pipeline
    seen: dict[str, list[threading.Thread]] = {"store": [], "sync": [], "async": []}
    store_save = pipe.store.save_calls_isolating

    def save(records: Any, **kw: Any) -> Any:
        seen["store"].append(threading.current_thread())
        return store_save(records, **kw)

    pipe.store.save_calls_isolating = save  # type: ignore[method-assign]
    pipe.call_listeners.append(lambda rec: seen["sync"].append(threading.current_thread()))
    got: list[str] = []

    async def on_calls(records: Sequence[CallRecord]) -> None:
        seen["async"].append(threading.current_thread())
        got.extend(r.call_id for r in records)

    daemon.commit_listeners.append(on_calls)
    for msg in iter_ami_capture(ONE_CALL / "ami.log"):
        pipe.feed(msg)
    assert pipe.pending

    async def flush() -> threading.Thread:
        await daemon._flush_until_done()
        return threading.current_thread()

    loop_thread = asyncio.run(flush())
    daemon.wiring.engine.dispose()
    assert len(got) == 1 and pipe.pending == 0
    assert seen["store"] and all(t is not loop_thread for t in seen["store"])  # the write: a worker
    assert seen["sync"] == [loop_thread]  # the listeners: the loop, after the commit
    assert seen["async"] == [loop_thread]


class _Recorder:
    """An originator port that only remembers what it was asked to dial."""

    def __init__(self) -> None:
        self.sent: list[Originate] = []

    async def originate(self, cmd: Originate) -> str | None:
        self.sent.append(cmd)
        return f"req-{len(self.sent)}"


def test_R_PRJ_5_the_dialer_runtime_is_built_from_its_parts_without_a_daemon(tmp_path: Path) -> None:
    config = parse_config(
        {
            "pbx": {"type": "freeswitch", "freeswitch": {"gateway": "acme-gw"}},
            "database": {"url": f"sqlite:///{tmp_path / 'd.db'}"},
        }
    )
    wiring = build(config)
    engine = wiring.engine
    port = _Recorder()
    runtime = DialerRuntime(
        engine=engine,
        clock=lambda: T0,
        originator=port,
        dial_plan=pbx_adapter(config).dial_plan,
        projects=ProjectsConfig(),
        project_variable="CCAGENT_PROJECT",
    )
    service = ProjectService(runtime.repo, clock=lambda: datetime.fromtimestamp(T0, UTC))
    service.create("ai", "AI", "autoinformer", settings={"message": "ccagent/promo"})
    now = datetime.fromtimestamp(T0, UTC)
    cid = one_contact(engine, "+380501234567", now)
    runtime.repo.add_contacts("ai", [cid], now)
    service.start("ai")

    async def one_tick() -> None:
        await runtime.tick(T0)
        await runtime.dialer.drain()

    asyncio.run(one_tick())
    engine.dispose()
    assert [(c.number, c.context, c.exten) for c in port.sent] == [
        ("+380501234567", "ccagent", "autoinformer")
    ]
    assert ("ccagent_message", "ccagent/promo") in port.sent[0].variables  # the FreeSWITCH dial plan's
