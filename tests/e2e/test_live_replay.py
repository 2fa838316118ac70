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
