"""Agent names from config, both directions (issue 13 item 3): ccagent -> PBX for pause/unpause
(the queue member interface on Asterisk, the mod_callcenter agent name on FreeSWITCH) and PBX ->
ccagent extension for agent state, on the real FreePBX (33) and FusionPBX (26) captures."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from ccagent.app.agent_cli import set_paused
from ccagent.app.bootstrap import pbx_adapter
from ccagent.config import parse_config
from ccagent.core import pbx_events as ev
from ccagent.sim.ami_server import SimAsterisk
from ccagent.sim.esl_server import EslServer

TRACES = Path(__file__).resolve().parents[1] / "traces"
FUSION_AGENTS = {  # capture 26: FusionPBX names its agents by call_center_agent_uuid
    "892b5362-aade-4ed6-9b29-2fd2913946a1": "101",
    "b28a19e3-f70c-46b2-9d56-1b4e56dcff65": "102",
}


def _agent_events(pbx: str, folder: str, **section: Any) -> list[Any]:
    """The events that name an agent for the agent board and the dialer: state and connect."""
    adapter = pbx_adapter(parse_config({"pbx": {pbx: section}}), pbx)
    name = "ami.log" if pbx == "asterisk" else "esl.log"
    out: list[Any] = []
    for msg in adapter.read_capture(TRACES / pbx / folder / name):
        kinds = (ev.AgentStatus, ev.QueueAgentConnect)
        out += [e for e in adapter.translator.translate(msg) if isinstance(e, kinds)]
    return out


def test_fusionpbx_uuid_agents_are_their_extensions_with_the_mapping() -> None:
    folder = "26-fusionpbx-callcenter-uuid-agents-answered"
    mapped = _agent_events("freeswitch", folder, agents=FUSION_AGENTS)
    assert [e.extension for e in mapped] == ["102"]  # 102 answered (scenario.md)
    bare = _agent_events("freeswitch", folder)  # without it, the dialer would see a UUID
    assert [e.extension for e in bare] == ["b28a19e3-f70c-46b2-9d56-1b4e56dcff65"]


def test_freepbx_local_members_are_their_extensions() -> None:
    statuses = _agent_events(
        "asterisk", "33-freepbx-queue-local-members-answered", agent_interface="Local/{ext}@from-queue/n"
    )
    assert statuses and {e.extension for e in statuses} <= {"101", "102", "103", "104"}
    assert not [e for e in statuses if "/" in e.extension or "@" in e.extension]


def test_pause_names_the_freepbx_member_interface() -> None:
    async def scenario() -> list[str]:
        sim = SimAsterisk(username="ccagent", secret="pw-123456")
        await sim.start()
        seen: list[str] = []
        real = sim._dispatch

        async def dispatch(conn: Any, action: Any) -> Any:
            if (action.get("Action") or "").lower() == "queuepause":
                seen.append(action.get("Interface", ""))
            return await real(conn, action)

        sim._dispatch = dispatch  # type: ignore[method-assign]
        config = parse_config(
            {
                "pbx": {
                    "type": "asterisk",
                    "asterisk": {
                        "port": sim.port,
                        "secret": "pw-123456",
                        "agent_interface": "Local/{ext}@from-queue/n",
                    },
                }
            }
        )
        try:
            await set_paused(config, "101", True, reason="Lunch", timeout=5)
            await set_paused(config, "102", False, interface_template="PJSIP/{ext}", timeout=5)
        finally:
            await sim.stop()
        return seen

    assert asyncio.run(scenario()) == ["Local/101@from-queue/n", "PJSIP/102"]


def test_pause_names_the_mod_callcenter_agent_from_the_mapping() -> None:
    async def scenario() -> list[str]:
        fs = EslServer(password="pw-123456")
        await fs.start()
        config = parse_config(
            {
                "pbx": {
                    "type": "freeswitch",
                    "freeswitch": {
                        "port": fs.port,
                        "password": "pw-123456",
                        "agent_name": "{ext}@pbx.example.com",
                        "agents": FUSION_AGENTS,
                    },
                }
            }
        )
        try:
            await set_paused(config, "101", True, timeout=5)
            await set_paused(config, "103", False, timeout=5)  # not in the mapping: the template
        finally:
            await fs.stop()
        return [c for c in fs.commands if "callcenter_config" in c]

    assert asyncio.run(scenario()) == [
        "api callcenter_config agent set status 892b5362-aade-4ed6-9b29-2fd2913946a1 'On Break'",
        "api callcenter_config agent set status 103@pbx.example.com 'Available'",
    ]
