"""Simulated FreeSWITCH over real TCP + the asyncio ESL client (R-PBX-2, R-PBX-5, R-SAFE-1, R-SAFE-3)."""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import random
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import pytest

from ccagent.pbx.esl.capture import capture_files, iter_capture_events
from ccagent.pbx.esl.client import ConnectionDown, ConnectionUp, EslAuthError, EslClient
from ccagent.sim.esl_scenarios import synthetic_events
from ccagent.sim.esl_server import EslServer

TRACES = Path(__file__).resolve().parents[1] / "traces" / "freeswitch"
PASSWORD = "s3cr3t-Pa55"


def run_async(fn: Callable[..., Coroutine[Any, Any, None]]) -> Callable[..., None]:
    """No asyncio pytest plugin is installed: run each test in a fresh loop with a hard timeout."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        asyncio.run(asyncio.wait_for(fn(*args, **kwargs), 30))

    return wrapper


def trace_events(folder: str) -> list[dict[str, str]]:
    return [e for p in capture_files(TRACES / folder) for e in iter_capture_events(p)]


async def drain_until(queue: asyncio.Queue, pred, timeout: float = 5.0) -> list:
    got: list = []
    async with asyncio.timeout(timeout):
        while True:
            item = await queue.get()
            got.append(item)
            if pred(item, got):
                return got


def make_client(port: int, queue: asyncio.Queue, fmt: str = "plain", **kw) -> EslClient:
    kw.setdefault("keepalive_s", 5.0)
    return EslClient(
        "127.0.0.1",
        port,
        PASSWORD,
        queue=queue,
        event_format=fmt,
        backoff_min=0.01,
        backoff_max=0.05,
        rng=random.Random(1),
        **kw,
    )


@pytest.mark.parametrize("fmt", ["plain", "json"])
@run_async
async def test_r_pbx_2_replay_reaches_client_in_order_both_formats(fmt: str) -> None:
    events = trace_events("17-cyrillic-caller-name")
    async with EslServer(events, password=PASSWORD) as srv:
        q: asyncio.Queue = asyncio.Queue(maxsize=64)  # small: back-pressure path exercised
        client = make_client(srv.port, q, fmt)
        task = asyncio.create_task(client.run())
        got = await drain_until(
            q,
            lambda _i, g: (
                sum(isinstance(x, dict) for x in g) == len(events)
                and any(isinstance(x, ConnectionUp) for x in g)
            ),
        )
        await client.close()
        await task
    # the snapshot is taken after subscribing (nothing lost) and sits in the stream where it was taken
    assert [type(x) for x in got if not isinstance(x, dict)] == [ConnectionUp]
    received = [x for x in got if isinstance(x, dict)]
    assert [e["Event-Sequence"] for e in received] == [e["Event-Sequence"] for e in events]
    assert received == events  # plain and json decode to the very same flat dicts
    assert srv.commands[0] == "auth ********"


@run_async
async def test_api_bgapi_job_correlation_and_show_channels() -> None:
    events = trace_events("01-inbound-answered")
    cut = next(i for i, e in enumerate(events) if e["Event-Name"] == "CHANNEL_BRIDGE") + 1
    async with EslServer(events[:cut], password=PASSWORD) as srv:
        q: asyncio.Queue = asyncio.Queue()
        client = make_client(srv.port, q)
        task = asyncio.create_task(client.run())
        await drain_until(q, lambda _i, g: sum(isinstance(x, dict) for x in g) == cut)
        rows = json.loads(await client.api("show channels as json"))
        assert rows["row_count"] == 2
        assert {r["callstate"] for r in rows["rows"]} == {"ACTIVE"}
        bridged = json.loads(await client.api("show bridged_calls as json"))
        assert bridged["row_count"] == 1
        job, fut = await client.bgapi("originate {origination_uuid=abc-1}sofia/gateway/carrier/555 x XML d")
        assert (await asyncio.wait_for(fut, 2)).startswith("+OK abc-1")
        bg = await drain_until(
            q, lambda i, _g: isinstance(i, dict) and i.get("Event-Name") == "BACKGROUND_JOB"
        )
        assert bg[-1]["Job-UUID"] == job
        assert (await client.api("no_such_thing")).startswith("-ERR")
        await client.close()
        await client.close()  # idempotent
        await task


@run_async
async def test_r_safe_3_wrong_password_fails_without_leaking_it(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    async with EslServer([], password="right-one") as srv:
        q: asyncio.Queue = asyncio.Queue()
        client = make_client(srv.port, q)
        with pytest.raises(EslAuthError) as err:
            await asyncio.wait_for(client.run(), 5)
    assert PASSWORD not in str(err.value) and PASSWORD not in repr(client)
    assert PASSWORD not in caplog.text
    assert all(PASSWORD not in c for c in srv.commands)


@run_async
async def test_r_pbx_5_reconnect_after_drop_and_restart_with_snapshot() -> None:
    events = trace_events("13-esl-reconnect")
    async with EslServer(events, password=PASSWORD, speed=50.0) as srv:
        q: asyncio.Queue = asyncio.Queue()
        client = make_client(srv.port, q)
        task = asyncio.create_task(client.run())
        await drain_until(q, lambda i, _g: isinstance(i, dict) and i["Event-Name"] == "CHANNEL_BRIDGE")
        srv.drop_clients()
        seq = await drain_until(q, lambda i, _g: isinstance(i, ConnectionUp) and i.connection == 2)
        assert any(isinstance(x, ConnectionDown) for x in seq)
        snap = json.loads(seq[-1].channels_json)
        assert snap["row_count"] >= 1  # the call in progress is visible to reconcile
        await srv.restart()
        seq = await drain_until(q, lambda i, _g: isinstance(i, ConnectionUp) and i.connection == 3)
        assert isinstance(next(x for x in seq if not isinstance(x, dict)), ConnectionDown)
        await client.close()
        await task
    assert client.connection == 3


@run_async
async def test_silent_peer_detected_by_keepalive() -> None:
    async with EslServer([], password=PASSWORD) as srv:
        q: asyncio.Queue = asyncio.Queue()
        client = make_client(srv.port, q, keepalive_s=0.05, keepalive_timeout_s=0.1)
        task = asyncio.create_task(client.run())
        await drain_until(q, lambda i, _g: isinstance(i, ConnectionUp))

        # a peer that accepts bytes but never answers: swap the command handler for a black hole
        async def black_hole(_c, _cmd) -> bool:
            return True

        srv._command = black_hole  # type: ignore[method-assign]
        got = await drain_until(q, lambda i, _g: isinstance(i, ConnectionDown), timeout=3)
        assert isinstance(got[-1], ConnectionDown)
        await client.close()
        await task


@run_async
async def test_synthetic_stream_restamps_uuids() -> None:
    evs = list(synthetic_events(4, traces=TRACES, folders=("01-inbound-answered",)))
    first = {e["Unique-ID"] for e in evs[: len(evs) // 4] if "Unique-ID" in e}
    last = {e["Unique-ID"] for e in evs[-len(evs) // 4 :] if "Unique-ID" in e}
    assert first and last and not (first & last)
    ts = [int(e["Event-Date-Timestamp"]) for e in evs]
    assert ts[len(ts) // 4] > ts[0]
