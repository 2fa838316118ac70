"""The simulated Asterisk replays each real capture over TCP to the live daemon: same legs as legs.json.

SPEC R-PBX-1 (live AMI), R-PBX-4 (real traces as oracle), R-PBX-5 (16: reconnect mid-call resumes the
call through CoreShowChannels), R-OPS-6 (the simulated PBX speaks real AMI over TCP).
"""

from __future__ import annotations

import asyncio

import pytest

from tests.acceptance.legs_oracle import TRACES, capture_files, expected, folders, mismatches, stored
from tests.e2e.harness import live_daemon, play_files


@pytest.mark.parametrize("folder", folders("asterisk"))
def test_R_PBX_4_live_daemon_stores_the_legs_json_rows(folder: str, sqlite_url: str) -> None:
    path = TRACES / "asterisk" / folder

    async def scenario() -> int:
        async with live_daemon(sqlite_url) as live:
            await play_files(live, capture_files(path))
            return await live.stop()

    assert asyncio.run(scenario()) == 0
    legs, calls = stored(sqlite_url)
    assert mismatches(expected(path), legs, calls) == []


def test_R_LEG_1_cyrillic_names_split_across_tcp_reads_survive(sqlite_url: str) -> None:
    """Every multi-byte character of the names is cut between two TCP writes; names arrive intact."""
    from tests.e2e.harness import capture_events, wait_for

    path = TRACES / "asterisk" / "23-cyrillic-caller-name"
    data = b"".join(m.to_bytes() for m in capture_events(path / "ami.log"))
    cuts: list[int] = []
    for name in ("Іван Петренко", "Мария Иванова"):
        enc = name.encode()
        start = data.find(enc)
        while start >= 0:
            cuts.append(start + 1)  # inside the first two-byte character
            start = data.find(enc, start + 1)
    cuts.sort()
    assert cuts, "the capture carries the names"

    async def scenario() -> int:
        async with live_daemon(sqlite_url) as live:
            # The simulated PBX writes whole messages, but raw writes are ours: let the daemon's
            # own CoreShowChannels answer go out first so it cannot land inside a cut message.
            await wait_for(lambda: live.sim.stats.actions.get("coreshowchannels", 0) >= 1, 10, "no listing")
            await asyncio.sleep(0.2)
            prev = 0
            for cut in [*cuts, len(data)]:
                await live.sim.send_raw(data[prev:cut])
                await asyncio.sleep(0.001)
                prev = cut
            await live.settle()
            return await live.stop()

    assert asyncio.run(scenario()) == 0
    legs, calls = stored(sqlite_url)
    assert mismatches(expected(path), legs, calls) == []
    assert [r["caller_name"] for r in legs] == ["Іван Петренко", "Мария Иванова"]
