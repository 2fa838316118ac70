"""The live AMI client against the simulated Asterisk over real TCP (R-PBX-1, R-PBX-5, R-SAFE-1..3)."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from ccagent.pbx.ami import actions as A
from ccagent.pbx.ami.client import (
    AmiActionError,
    AmiAuthError,
    AmiClient,
    AmiNotConnected,
    ConnectionDown,
    ConnectionUp,
    ConnState,
    ListResult,
    QueueItem,
)
from ccagent.pbx.ami.parser import AmiMessage
from ccagent.sim.ami_server import SimAsterisk

SECRET = "s3cr3t-Пароль-42"


def run(coro_fn: Callable[[], Awaitable[Any]], timeout: float = 20.0) -> Any:
    async def main() -> Any:
        return await asyncio.wait_for(coro_fn(), timeout)

    return asyncio.run(main())


def ev(seq: int, event: str = "UserEvent", **extra: str) -> AmiMessage:
    pairs = [("Event", event), ("Privilege", "user,all"), ("Timestamp", f"{1795546000 + seq * 0.001:.6f}")]
    pairs += [("SeqNo", str(seq))]
    pairs += list(extra.items())
    return AmiMessage.from_pairs(pairs)


def newchannel(uid: str, chan: str, name: str = "Customer", ts: float = 1795546000.0) -> AmiMessage:
    return AmiMessage.from_pairs(
        [
            ("Event", "Newchannel"),
            ("Privilege", "call,all"),
            ("Timestamp", f"{ts:.6f}"),
            ("Channel", chan),
            ("ChannelState", "4"),
            ("ChannelStateDesc", "Ring"),
            ("CallerIDNum", "0601020300"),
            ("CallerIDName", name),
            ("ConnectedLineNum", "<unknown>"),
            ("ConnectedLineName", "<unknown>"),
            ("Language", "en"),
            ("AccountCode", ""),
            ("Context", "from-customers"),
            ("Exten", "101"),
            ("Priority", "1"),
            ("Uniqueid", uid),
            ("Linkedid", uid),
        ]
    )


def hangup(uid: str, chan: str, ts: float = 1795546001.0) -> AmiMessage:
    return AmiMessage.from_pairs(
        [
            ("Event", "Hangup"),
            ("Privilege", "call,all"),
            ("Timestamp", f"{ts:.6f}"),
            ("Channel", chan),
            ("Uniqueid", uid),
            ("Linkedid", uid),
            ("Cause", "16"),
            ("Cause-txt", "Normal Clearing"),
        ]
    )


def client_for(sim: SimAsterisk, **kw: Any) -> AmiClient:
    params: dict[str, Any] = dict(
        ping_interval=30.0,
        ping_timeout=5.0,
        backoff_min=0.01,
        backoff_max=0.05,
        jitter=0.2,
        connect_timeout=2.0,
        rng=random.Random(7),
    )
    params.update(kw)
    return AmiClient("127.0.0.1", sim.port, "ccagent", SECRET, **params)


async def next_of(q: asyncio.Queue[QueueItem], kind: type, timeout: float = 5.0) -> Any:
    """Pop items until one of ``kind`` (others are discarded)."""
    while True:
        item = await asyncio.wait_for(q.get(), timeout)
        if isinstance(item, kind):
            return item


async def until(cond: Callable[[], bool], timeout: float = 5.0) -> None:
    for _ in range(int(timeout / 0.005)):
        if cond():
            return
        await asyncio.sleep(0.005)
    raise AssertionError("condition not reached")


async def drain(q: asyncio.Queue[QueueItem]) -> list[QueueItem]:
    out: list[QueueItem] = []
    while not q.empty():
        out.append(q.get_nowait())
    return out


def test_r_pbx_1_login_connection_up_first_then_events() -> None:
    async def main() -> None:
        async with SimAsterisk(secret=SECRET) as sim:
            c = client_for(sim)
            task = asyncio.create_task(c.run())
            up = await asyncio.wait_for(c.queue.get(), 5)
            assert up == ConnectionUp("11.0.0", 1)
            booted = await asyncio.wait_for(c.queue.get(), 5)
            assert isinstance(booted, AmiMessage) and booted.event == "FullyBooted"
            assert c.state is ConnState.CONNECTED and c.pbx_version == "11.0.0"
            pong = await c.send_action(A.ping())
            assert pong["Ping"] == "Pong" and pong.action_id is not None
            err = await c.send_action({"Action": "NoSuchThing"})
            assert err.response == "Error" and err["Message"] == "Invalid/unknown command"
            await c.close()
            await c.close()  # idempotent
            await asyncio.wait_for(task, 5)
            assert c.state is ConnState.DISCONNECTED
            items = await drain(c.queue)
            assert isinstance(items[-1], ConnectionDown)
            with pytest.raises(AmiNotConnected):
                await c.send_action(A.ping())

    run(main)


def test_r_safe_3_bad_secret_clear_error_without_secret(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)

    async def main() -> None:
        async with SimAsterisk(secret="the-right-one") as sim:
            c = client_for(sim)
            with pytest.raises(AmiAuthError) as info:
                await c.run()
            text = str(info.value)
            assert "Authentication failed" in text and "ccagent" in text
            assert SECRET not in text and SECRET not in repr(info.value)
            assert SECRET not in repr(c) and SECRET not in repr(vars(c))
            assert sim.stats.failed_logins == 1

    run(main)
    assert SECRET not in caplog.text
    assert "Пароль" not in caplog.text


def test_r_pbx_1_ten_thousand_events_in_order() -> None:
    async def main() -> None:
        async with SimAsterisk(secret=SECRET) as sim:
            c = client_for(sim, queue_size=500)
            task = asyncio.create_task(c.run())
            await sim.wait_logged_in()
            n = 10_000
            got: list[int] = []

            async def consume() -> None:
                while len(got) < n:
                    item = await c.queue.get()
                    if isinstance(item, AmiMessage) and item.event == "UserEvent":
                        got.append(int(item["SeqNo"]))

            consumer = asyncio.create_task(consume())
            await sim.play([ev(i) for i in range(n)])
            await asyncio.wait_for(consumer, 15)
            assert got == list(range(n))
            assert c.metrics.queue_high_water <= 500
            await c.close()
            await task

    run(main)


def test_r_pbx_1_callable_handler_sequential_and_contained() -> None:
    """An async handler is awaited in order (not fired as loose tasks); its exceptions are contained."""

    async def main() -> None:
        seen: list[int] = []
        active = 0

        async def handler(item: QueueItem) -> None:
            nonlocal active
            if not (isinstance(item, AmiMessage) and item.event == "UserEvent"):
                return
            active += 1
            assert active == 1, "handler ran concurrently"
            await asyncio.sleep(0)
            seq = int(item["SeqNo"])
            active -= 1
            if seq == 3:
                raise RuntimeError("boom")
            seen.append(seq)

        async with SimAsterisk(secret=SECRET) as sim:
            c = client_for(sim, on_message=handler)
            task = asyncio.create_task(c.run())
            await sim.wait_logged_in()
            await sim.play([ev(i) for i in range(200)])
            for _ in range(500):
                if len(seen) == 199:
                    break
                await asyncio.sleep(0.01)
            await c.close()
            await task
        assert seen == [i for i in range(200) if i != 3]
        assert c.metrics.handler_errors == 1

    run(main)


def test_r_pbx_1_cyrillic_name_split_across_tcp_reads() -> None:
    async def main() -> None:
        async with SimAsterisk(secret=SECRET) as sim:
            c = client_for(sim)
            task = asyncio.create_task(c.run())
            await sim.wait_logged_in()
            data = newchannel("1795546000.1", "PJSIP/customers-00000001", "Іван Петренко").to_bytes()
            cut = data.index("Іван".encode()) + 1  # inside the two-byte "І"
            await sim.send_raw(data[:cut])
            await asyncio.sleep(0.05)
            await sim.send_raw(data[cut:])
            msg = await next_of(c.queue, AmiMessage)
            while msg.event != "Newchannel":
                msg = await next_of(c.queue, AmiMessage)
            assert msg["CallerIDName"] == "Іван Петренко"
            assert c.metrics.decode_errors == 0
            await c.close()
            await task

    run(main)


def test_r_safe_1_malformed_bytes_counted_and_skipped_connection_survives() -> None:
    async def main() -> None:
        async with SimAsterisk(secret=SECRET) as sim:
            c = client_for(sim)
            task = asyncio.create_task(c.run())
            await sim.wait_logged_in()
            await sim.send_raw(b"\x00\xffgarbage without colon\r\n\r\nEvent: Ok\r\nName: \xff\r\n\r\n")
            await sim.play([ev(1)])
            msg = await next_of(c.queue, AmiMessage)
            while msg.event == "FullyBooted":
                msg = await next_of(c.queue, AmiMessage)
            assert msg.event == "Ok" and msg["Name"] == "\ufffd"
            nxt = await next_of(c.queue, AmiMessage)
            assert nxt["SeqNo"] == "1"
            assert c.metrics.malformed == 1 and c.metrics.decode_errors == 2
            assert c.state is ConnState.CONNECTED and c.connection_no == 1
            await c.close()
            await task

    run(main)


def test_r_pbx_5_server_cut_reconnects_with_backoff_and_signals_in_order() -> None:
    async def main() -> None:
        async with SimAsterisk(secret=SECRET) as sim:
            c = client_for(sim)
            task = asyncio.create_task(c.run())
            await sim.wait_logged_in()
            await sim.play([ev(1), ev(2)])
            await sim.play([ev(3)], faults={0: "cut_mid"})  # half of event 3, then the cut
            down = await next_of(c.queue, ConnectionDown)
            assert down.connection == 1
            up = await next_of(c.queue, ConnectionUp)
            assert up.connection == 2
            assert c.metrics.reconnects == 1 and c.metrics.disconnects == 1
            assert c.last_backoff is not None and 0.01 * 0.8 <= c.last_backoff <= 0.01 * 1.2
            await sim.wait_logged_in()
            await sim.play([ev(4)])
            msg = await next_of(c.queue, AmiMessage)
            while msg.event != "UserEvent":
                msg = await next_of(c.queue, AmiMessage)
            assert msg["SeqNo"] == "4"  # the half message of connection 1 did not leak into connection 2
            await c.close()
            await task

    run(main)


def test_r_pbx_5_order_of_items_around_a_drop() -> None:
    async def main2() -> None:
        async with SimAsterisk(secret=SECRET) as sim:
            c = client_for(sim)
            task = asyncio.create_task(c.run())
            await sim.wait_logged_in()
            await sim.play([ev(1), ev(2)])
            await asyncio.sleep(0.05)
            sim.drop_clients()
            await until(lambda: c.connection_no == 2 and c.state is ConnState.CONNECTED)
            await c.close()
            await task
            kinds = []
            for item in await drain(c.queue):
                if isinstance(item, AmiMessage):
                    kinds.append(item.get("SeqNo", item.event))
                else:
                    kinds.append(type(item).__name__ + str(item.connection))
            assert kinds == [
                "ConnectionUp1",
                "FullyBooted",
                "1",
                "2",
                "ConnectionDown1",
                "ConnectionUp2",
                "FullyBooted",
                "ConnectionDown2",
            ]

    run(main2)


def test_r_pbx_5_silent_peer_ping_timeout_reconnects() -> None:
    async def main() -> None:
        async with SimAsterisk(secret=SECRET) as sim:
            c = client_for(sim, ping_interval=0.05, ping_timeout=0.1)
            task = asyncio.create_task(c.run())
            await next_of(c.queue, ConnectionUp)
            sim.pause_pings(True)
            down = await next_of(c.queue, ConnectionDown)
            assert "Pong" in down.reason
            assert c.metrics.ping_timeouts >= 1
            sim.pause_pings(False)
            up = await next_of(c.queue, ConnectionUp)
            assert up.connection >= 2
            await c.close()
            await task

    run(main)


def test_r_safe_2_backpressure_bounded_queue_no_false_ping_timeout() -> None:
    """A slow consumer blocks the reader (bounded queue) without the pinger calling the peer dead."""

    async def main() -> None:
        async with SimAsterisk(secret=SECRET) as sim:
            c = client_for(sim, queue_size=20, ping_interval=0.05, ping_timeout=0.05)
            task = asyncio.create_task(c.run())
            await sim.wait_logged_in()
            player = asyncio.create_task(sim.play([ev(i) for i in range(3000)]))
            await asyncio.sleep(0.4)  # consumer asleep: queue full, reader blocked
            assert c.queue.qsize() <= 20
            got: list[int] = []
            while len(got) < 3000:
                item = await asyncio.wait_for(c.queue.get(), 5)
                assert not isinstance(item, ConnectionDown), item
                if isinstance(item, AmiMessage) and item.event == "UserEvent":
                    got.append(int(item["SeqNo"]))
            await player
            assert got == list(range(3000))
            assert c.metrics.ping_timeouts == 0 and c.connection_no == 1
            await c.close()
            await task

    run(main)


def test_r_pbx_5_list_action_collects_and_enqueues_in_order() -> None:
    async def main() -> None:
        async with SimAsterisk(secret=SECRET) as sim:
            c = client_for(sim)
            task = asyncio.create_task(c.run())
            await c.wait_connected(5)
            await sim.play(
                [
                    newchannel("1795546000.1", "PJSIP/customers-00000001", "Іван Петренко"),
                    newchannel("1795546000.2", "PJSIP/101-00000002"),
                    newchannel("1795546000.3", "PJSIP/102-00000003"),
                    hangup("1795546000.2", "PJSIP/101-00000002"),
                ]
            )
            items = await c.send_list_action(A.core_show_channels(), enqueue=True)
            assert [m["Uniqueid"] for m in items] == ["1795546000.1", "1795546000.3"]
            assert items[0]["CallerIDName"] == "Іван Петренко" and items[0].event == "CoreShowChannel"
            order = []
            while True:
                item = await asyncio.wait_for(c.queue.get(), 5)
                if isinstance(item, ListResult):
                    assert item.action == "CoreShowChannels" and len(item.items) == 2
                    assert item.complete is not None and item.complete["ListItems"] == "2"
                    order.append("snapshot")
                    break
                if isinstance(item, AmiMessage) and item.event in ("Newchannel", "Hangup"):
                    order.append(item.event)
            assert order == ["Newchannel", "Newchannel", "Newchannel", "Hangup", "snapshot"]
            # list items were routed to the action, never duplicated into the event queue
            assert not any(
                isinstance(i, AmiMessage) and i.event == "CoreShowChannel" for i in await drain(c.queue)
            )
            with pytest.raises(AmiActionError):
                await c.send_list_action({"Action": "NoSuchList"})
            await c.close()
            await task

    run(main)


def test_on_connected_called_on_every_connect() -> None:
    async def main() -> None:
        calls: list[int] = []
        async with SimAsterisk(secret=SECRET) as sim:

            async def on_connected(client: AmiClient) -> None:
                calls.append(client.connection_no)
                await client.send_list_action(A.core_show_channels(), enqueue=True)

            c = client_for(sim, on_connected=on_connected)
            task = asyncio.create_task(c.run())
            await next_of(c.queue, ListResult)
            sim.restart()
            snap = await next_of(c.queue, ListResult)
            assert snap.connection == 2
            assert calls == [1, 2]
            await c.close()
            await task

    run(main)


def test_backoff_is_capped_exponential_with_jitter() -> None:
    c = AmiClient(
        "127.0.0.1", 1, "u", "p", backoff_min=0.5, backoff_max=30.0, jitter=0.2, rng=random.Random(1)
    )
    delays = [c.next_backoff(i) for i in range(12)]
    bases = [min(30.0, 0.5 * 2**i) for i in range(12)]
    for d, b in zip(delays, bases, strict=True):
        assert b * 0.8 <= d <= b * 1.2
    assert max(delays) <= 36.0 and delays[-1] >= 24.0
    assert len(set(delays)) == len(delays)  # jitter spreads reconnect storms
    c0 = AmiClient("127.0.0.1", 1, "u", "p", jitter=0.0)
    assert [c0.next_backoff(i) for i in range(3)] == [0.5, 1.0, 2.0]


def test_connect_refused_retries_until_server_appears() -> None:
    async def main() -> None:
        sim = SimAsterisk(secret=SECRET)
        await sim.start()
        port = sim.port
        await sim.stop()
        c = AmiClient(
            "127.0.0.1", port, "ccagent", SECRET, backoff_min=0.01, backoff_max=0.02, rng=random.Random(3)
        )
        task = asyncio.create_task(c.run())
        await asyncio.sleep(0.1)
        assert c.metrics.connect_failures >= 2 and c.state in (ConnState.CONNECTING, ConnState.DISCONNECTED)
        sim2 = SimAsterisk(secret=SECRET, port=port)
        await sim2.start()
        up = await next_of(c.queue, ConnectionUp)
        assert up.connection == 1
        await c.close()
        await task
        await sim2.stop()

    run(main)


def test_r_pbx_1_keep_prefilter_skips_before_decoding_but_never_responses() -> None:
    async def main() -> None:
        async with SimAsterisk(secret=SECRET) as sim:
            c = client_for(sim, keep=lambda block: not block.startswith(b"Event: VarSet"))
            task = asyncio.create_task(c.run())
            await c.wait_connected(5)
            await sim.play([ev(1, "VarSet"), ev(2), ev(3, "VarSet"), ev(4)])
            got = []
            while len(got) < 2:
                item = await asyncio.wait_for(c.queue.get(), 5)
                if isinstance(item, AmiMessage) and "SeqNo" in item:
                    got.append(item["SeqNo"])
            assert got == ["2", "4"]
            assert c.metrics.skipped == 2
            assert (await c.send_action(A.ping()))["Ping"] == "Pong"
            await c.close()
            await task

    run(main)


def test_r_safe_3_no_secret_in_debug_logs_of_a_normal_session(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)

    async def main() -> None:
        async with SimAsterisk(secret=SECRET) as sim:
            c = client_for(sim)
            task = asyncio.create_task(c.run())
            await c.wait_connected(5)
            await c.send_action(A.ping())
            sim.drop_clients()
            await until(lambda: c.connection_no == 2 and c.state is ConnState.CONNECTED)
            await c.close()
            await task

    run(main)
    assert "AMI connected" in caplog.text  # the session was logged...
    assert SECRET not in caplog.text and "Пароль" not in caplog.text  # ...without the secret


def test_close_during_backoff_returns_promptly() -> None:
    async def main() -> None:
        c = AmiClient("127.0.0.1", 1, "u", "p", backoff_min=30.0, backoff_max=60.0, connect_timeout=0.5)
        task = asyncio.create_task(c.run())
        await asyncio.sleep(0.1)  # connection refused: now sleeping ~30 s
        loop = asyncio.get_running_loop()
        t = loop.time()
        await c.close()
        await asyncio.wait_for(task, 2)
        assert loop.time() - t < 1.0
        assert c.state is ConnState.DISCONNECTED

    run(main)


@pytest.mark.parametrize(
    ("kw", "name"),
    [
        ({"ping_timeout": 0}, "ping_timeout"),
        ({"backoff_min": 2.0, "backoff_max": 1.0}, "backoff_max"),
        ({"jitter": 1.5}, "jitter"),
        ({"queue_size": 0}, "queue_size"),
    ],
)
def test_bad_parameters_named(kw: dict[str, Any], name: str) -> None:
    with pytest.raises(ValueError, match=name):
        AmiClient("127.0.0.1", 1, "u", "p", **kw)


def test_pending_action_fails_on_timeout_and_on_connection_loss() -> None:
    from ccagent.pbx.ami.client import AmiActionTimeout, AmiConnectionLost

    async def main() -> None:
        async with SimAsterisk(secret=SECRET) as sim:
            c = client_for(sim)
            task = asyncio.create_task(c.run())
            await c.wait_connected(5)
            sim.pause_pings(True)
            with pytest.raises(AmiActionTimeout, match="Ping"):
                await c.send_action(A.ping(), timeout=0.05)
            pending = asyncio.create_task(c.send_action(A.ping(), timeout=10))
            await asyncio.sleep(0.05)
            sim.drop_clients()
            with pytest.raises(AmiConnectionLost):
                await pending
            assert not task.done()  # the session goes on
            await c.close()
            await task

    run(main)
