"""The simulated FreeSWITCH replays each real capture over TCP to the live daemon: same legs as legs.json.

SPEC R-PBX-2 (live ESL, plain and JSON event formats), R-PBX-4 (real traces as oracle), R-PBX-5
(13-esl-reconnect: the line drops mid-call, the daemon reconnects and ``show channels`` keeps the call),
R-OPS-6 (the simulated switch speaks the real Event Socket protocol over TCP).
"""

from __future__ import annotations

import asyncio

import pytest

from tests.acceptance.legs_oracle import TRACES, capture_files, expected, folders, mismatches, stored
from tests.e2e.fs_harness import folder_format, live_fs_daemon, play_files


@pytest.mark.parametrize("folder", folders("freeswitch"))
def test_R_PBX_4_live_daemon_stores_the_legs_json_rows(folder: str, sqlite_url: str) -> None:
    path = TRACES / "freeswitch" / folder
    files = capture_files(path)
    fmt = folder_format(folder)

    async def scenario() -> tuple[int, int, str]:
        async with live_fs_daemon(sqlite_url, event_format=fmt) as live:
            await play_files(live, files)
            subscribed = [c for c in live.server.commands if c.startswith("event ")]
            code = await live.stop()
            return code, live.server.connections, subscribed[-1]

    code, connections, subscribed = asyncio.run(scenario())
    assert code == 0
    assert connections == len(files)
    assert subscribed == f"event {fmt} ALL"
    legs, calls = stored(sqlite_url)
    assert mismatches(expected(path), legs, calls) == []
    if len(files) > 1:
        assert not any(c["reconciled"] for c in calls.values()), "the call survived the reconnect"
