"""Fault injection on the live FreeSWITCH path (SPEC R-PBX-2, R-PBX-5, R-SAFE-1, R-SAFE-2).

A long mixed stream (re-stamped copies of every single-connection lab capture, overlapping) is
replayed by the simulated FreeSWITCH to the live daemon while the switch:

* cuts the TCP connection at 200 random points (half of them in the middle of an event frame), and
* restarts itself three times (channel table lost, as after a switch crash).

A cut loses no event (the switch holds its stream until the daemon is subscribed again, and the
test waits until everything sent was received before cutting); a half-sent frame is an event the
leg engine ignores (CHANNEL_STATE and friends), so every call's legs stay exactly determined.  A
restart kills the calls in progress: their later events are removed from the stream, and the
daemon must close them through the empty ``show channels`` listing, flagged ``reconciled``, once.

Afterwards: every call is stored exactly once; calls that did not straddle a restart have exactly
their legs.json legs; the daemon never stopped (same task, exit code 0).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time

import pytest

from ccagent.app.bootstrap import build_daemon
from ccagent.app.daemon import NullNotifier
from ccagent.core import pbx_events as ev
from ccagent.core.legs.tracker import CallTracker
from ccagent.pbx.esl.translate import FsTranslator
from ccagent.sim.esl_scenarios import build_stream, encode_event
from ccagent.sim.esl_server import EslServer
from tests.acceptance.legs_oracle import mismatches, stored
from tests.e2e.fs_harness import (
    PASSWORD,
    PROJECT_VARIABLE,
    LiveFs,
    counter,
    fs_config,
    live_fs_daemon,
)

N_CUTS = 100  # clean cuts; as many again in the middle of a frame
N_RESTARTS = 3


def calls_touched(events: list[dict[str, str]]) -> tuple[list[set[str]], dict[str, int], dict[str, int]]:
    """For each raw event, the calls its normalized events belong to; and for each call the stream
    positions of its first event and of the event that finished it (what the daemon will see)."""
    t = FsTranslator(project_variable=PROJECT_VARIABLE)
    tracker = CallTracker(pbx="freeswitch", project_variable=PROJECT_VARIABLE)
    touched: list[set[str]] = []
    first: dict[str, int] = {}
    finished: dict[str, int] = {}
    for i, e in enumerate(events):
        calls: set[str] = set()
        for x in t.translate(e):
            if isinstance(x, ev.ChannelEvent):
                cid = tracker.call_of(x.channel) or x.call
                calls.add(cid)
                first.setdefault(cid, i)
            for rec in tracker.apply(x).calls:
                finished[rec.call_id] = i
        touched.append(calls)
    return touched, first, finished


def is_quiet(e: dict[str, str]) -> bool:
    return not FsTranslator("dialer_campaign").translate(e) and e.get("Event-Name") not in (
        "CUSTOM",
        "BACKGROUND_JOB",
    )


async def mid_frame_cut(live: LiveFs, event: dict[str, str]) -> None:
    """Half of an event frame reaches the daemon, then the line drops."""
    before = counter(live.daemon.metrics.reconnects)
    live.server.pause(True)
    frame = encode_event(event, "plain")
    assert await live.server.send_raw(frame[: len(frame) // 2]) == 1
    await asyncio.sleep(0.002)
    live.server.drop_clients()
    deadline = asyncio.get_running_loop().time() + 10
    while counter(live.daemon.metrics.reconnects) <= before:
        assert asyncio.get_running_loop().time() < deadline, "the daemon did not reconnect"
        await asyncio.sleep(0.005)
    live.server.pause(False)


@pytest.mark.slow
def test_R_PBX_5_cuts_and_restarts_lose_and_duplicate_nothing(sqlite_url: str) -> None:
    rng = random.Random(20261125)
    events, expected_calls = build_stream(120, seed=11, gap_us=1_500_000)
    n = len(events)
    touched, first, finished = calls_touched(events)
    assert set(finished) == {c.call_id for c in expected_calls}
    restarts = sorted(rng.sample(range(n // 5, n - n // 5), N_RESTARTS))

    # Calls in progress at a restart die with it: drop their later events from the stream.
    kill_at: dict[str, int] = {}
    for cid, start in first.items():
        hits = [r for r in restarts if start < r <= finished.get(cid, n)]
        if hits:
            kill_at[cid] = min(hits)
    stream = [
        (i, e) for i, e in enumerate(events) if not any(c in kill_at and i >= kill_at[c] for c in touched[i])
    ]

    restart_at = {next(p for p, (i, _) in enumerate(stream) if i >= r) for r in restarts}
    quiet = [p for p, (_, e) in enumerate(stream) if p not in restart_at and is_quiet(e)]
    mid_cuts = set(rng.sample(quiet, N_CUTS))
    clean_cuts = set(rng.sample(sorted(set(range(1, len(stream))) - mid_cuts - restart_at), N_CUTS))

    async def scenario() -> int:
        async with live_fs_daemon(sqlite_url) as live:
            task = live.task
            segment: list[dict[str, str]] = []
            for pos, (_, e) in enumerate(stream):
                fault = (
                    "restart"
                    if pos in restart_at
                    else "mid"
                    if pos in mid_cuts
                    else "cut"
                    if pos in clean_cuts
                    else None
                )
                if fault is None:
                    segment.append(e)
                    continue
                await live.play(segment)
                segment = []
                if fault == "restart":
                    await live.cut(restart=True)
                    segment.append(e)
                elif fault == "cut":
                    await live.cut()
                    segment.append(e)
                else:
                    await mid_frame_cut(live, e)
            await live.play(segment)
            await live.settle()
            assert not task.done(), "the daemon stopped during the faults"
            assert counter(live.daemon.metrics.reconnects) == 2 * N_CUTS + N_RESTARTS
            assert live.server.connections == 2 * N_CUTS + N_RESTARTS + 1
            return await live.stop()

    assert asyncio.run(scenario()) == 0
    legs, calls = stored(sqlite_url)
    by_call: dict[str, list[dict]] = {}
    for row in legs:
        by_call.setdefault(row["call_id"], []).append(row)
    want_ids = {c.call_id for c in expected_calls}
    missing = sorted((c.scenario, c.call_id) for c in expected_calls if c.call_id not in by_call)
    assert set(by_call) == want_ids, f"a call was lost or invented: {missing} / {set(by_call) - want_ids}"
    assert len(calls) == len(want_ids)
    killed = set(kill_at)
    assert killed, "the restarts hit no call: the test proves nothing about reconciliation"
    intact = {
        "calls": [
            {
                "call_id": c.call_id,
                "direction": c.direction,
                "disposition": c.disposition,
                "legs": list(c.legs),
            }
            for c in expected_calls
            if c.call_id not in killed
        ]
    }
    scenario_of = {c.call_id: c.scenario for c in expected_calls}
    problems = mismatches(intact, [r for r in legs if r["call_id"] not in killed], calls)
    assert problems == [], (
        sorted({scenario_of.get(p.split(":")[0].split()[0], "?") for p in problems}),
        problems[:5],
    )
    for cid in sorted(killed):
        assert calls[cid]["reconciled"] in (1, True), f"{scenario_of[cid]} {cid} was not flagged reconciled"
        seqs = [r["leg_seq"] for r in by_call[cid]]
        assert seqs == list(range(len(seqs))), f"{cid} has duplicated or missing leg numbers"
    assert not any(calls[c]["reconciled"] for c in want_ids - killed), "a cut closed a call that lived on"


# -- bad input on the live path (R-SAFE-1, R-SAFE-3) ------------------------------------------------------


def _frame(body: bytes, *, ctype: bytes = b"text/event-plain", length: int | None = None) -> bytes:
    n = len(body) if length is None else length
    return b"Content-Length: %d\nContent-Type: %s\n\n" % (n, ctype) + body


def damaged_frames() -> list[bytes]:
    """Garbage, truncated and Content-Length-lying frames, as a broken proxy or switch could send."""
    quiet = encode_event(
        {
            "Event-Name": "CHANNEL_CALLSTATE",
            "Unique-ID": "0-quiet",
            "Event-Date-Timestamp": "1800000000000000",
        },
        "plain",
    )
    quiet_body = quiet.split(b"\n\n", 1)[1]
    return [
        b"\x00\xff\xfe\x80 binary junk \x81\n\n",
        b"this is not a header\nnor this one\n\n",
        b"Content-Length: abc\nContent-Type: text/event-plain\n\n",
        b"Content-Length: 99999999999\nContent-Type: text/event-plain\n\n",  # above max_frame
        _frame(b'{"Event-Name": "CHANNEL_CREATE", "Unique-ID": "trunc', ctype=b"text/event-json"),
        _frame(b"[1, 2, 3]", ctype=b"text/event-json"),
        _frame(b"Foo: bar\nBaz: %ZZ\n\n"),  # no Event-Name, bad percent-escape
        _frame(quiet_body, length=len(quiet_body) + 700),  # lies long: swallows the next frames' bytes
        _frame(quiet_body, length=12),  # lies short: the rest of the body is junk
        quiet[: len(quiet) // 2],  # cut short, the next frame glued on
        b"Content-Type: text/weird-type\n\n",
        b"Content-Type: text/event-plain\n\n",  # an event with no body at all
    ]


def test_R_SAFE_1_damaged_frames_never_stop_the_daemon_and_good_calls_stay_exact(
    sqlite_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    before, want_before = build_stream(4, seed=3, folders=("01-inbound-answered", "03-queue-answered"))
    later = ("05-blind-transfer", "02-inbound-missed", "17-cyrillic-caller-name")
    after, want_after = build_stream(6, seed=4, start_us=1_800_001_000_000_000, folders=later)

    async def scenario() -> tuple[int, int, list[str]]:
        async with live_fs_daemon(sqlite_url) as live:
            await live.play(before)
            await live.settle()
            for junk in damaged_frames():
                assert await live.server.send_raw(junk) == 1
            await live.play(after)
            await live.settle()
            assert not live.task.done(), "bad frames stopped the daemon"
            shown = [
                repr(live.client),
                repr(live.config),
                str(live.config),
                repr(live.config.pbx.freeswitch),
                str(live.config.model_dump()),
                repr(vars(live.daemon.adapter)),  # the adapter holds the config the daemon runs on
            ]
            return await live.stop(), live.client.malformed, shown

    code, malformed, shown = asyncio.run(scenario())
    assert code == 0
    assert malformed >= 8, "the damaged frames were not even seen as damaged"
    legs, calls = stored(sqlite_url)
    want = {
        "calls": [
            {
                "call_id": c.call_id,
                "direction": c.direction,
                "disposition": c.disposition,
                "legs": list(c.legs),
            }
            for c in want_before + want_after
        ]
    }
    assert mismatches(want, legs, calls) == []
    assert not any(PASSWORD in text for text in shown)
    assert PASSWORD not in caplog.text
    assert "esl connected" in caplog.text  # the logs were captured at all


def test_R_SAFE_3_a_refused_password_stops_the_daemon_without_saying_it(
    sqlite_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)

    async def scenario() -> tuple[int, list[str]]:
        server = EslServer(password="the-right-one")
        await server.start()
        try:
            daemon = build_daemon(fs_config(server.port, sqlite_url), notifier=NullNotifier())
            code = await asyncio.wait_for(daemon.run(), 20.0)
        finally:
            await server.stop()
        return code, server.commands

    code, commands = asyncio.run(scenario())
    assert code == 78  # EX_CONFIG: systemd does not retry a wrong password every 2 s
    assert "refused the ESL password" in caplog.text
    assert PASSWORD not in caplog.text
    assert commands[0] == "auth ********"


def test_R_PBX_5_a_slow_database_does_not_make_the_esl_client_drop_a_healthy_freeswitch(
    sqlite_url: str,
) -> None:
    """While the reader waits for room in the full queue, the keep-alive's reply sits unread behind
    the events: taking that for a silent peer aborted the socket, and FreeSWITCH's events were lost
    until the database came back."""
    events, _ = build_stream(40, seed=3, gap_us=500_000)

    async def scenario() -> tuple[int, int, int]:
        server = EslServer(password=PASSWORD)
        await server.start()
        cfg = fs_config(server.port, sqlite_url)
        cfg = cfg.model_copy(
            update={
                "pbx": cfg.pbx.model_copy(
                    update={
                        "freeswitch": cfg.pbx.freeswitch.model_copy(
                            update={"ping_interval_s": 0.5, "ping_timeout_s": 0.5}
                        )
                    }
                ),
                "daemon": cfg.daemon.model_copy(update={"queue_size": 50}),
            }
        )
        daemon = build_daemon(cfg, notifier=NullNotifier())
        task = asyncio.create_task(daemon.run())
        try:
            for _ in range(500):
                if daemon.stats.items:
                    break
                await asyncio.sleep(0.01)
            real = daemon.pipeline.flush
            slow_until = time.monotonic() + 3.0

            def slow_flush(**kw):  # type: ignore[no-untyped-def]
                time.sleep(max(0.0, slow_until - time.monotonic()))
                return real(**kw)

            daemon.pipeline.flush = slow_flush  # type: ignore[method-assign]
            server.feed(events)
            await asyncio.sleep(6.0)  # 3 s of a slow database, then healthy again
            received = daemon.session.events_received + daemon.session.events_skipped  # type: ignore[union-attr]
        finally:
            daemon.request_stop()
            await asyncio.wait_for(task, 20)
            await server.stop()
        return server.connections, server.played, received

    connections, played, received = asyncio.run(scenario())
    assert connections == 1 and received == played, (connections, played, received)
