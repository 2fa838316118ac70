"""ESL command builders: the lab's real commands, sanitizing, and a round trip to the simulated switch.

SPEC R-PBX-2 (bgapi originate, uuid_kill, uuid_transfer, callcenter agent status, show channels),
R-PRJ-6 (eavesdrop listen/whisper/barge), R-SAFE-2 (origination_uuid chosen by ccagent), R-SAFE-3
(values from users can never inject a second command).
"""

from __future__ import annotations

import asyncio

import pytest

from ccagent.core.outcomes import OriginateOutcome
from ccagent.core.pbx_events import OriginateResult
from ccagent.pbx.esl import commands as c
from ccagent.pbx.esl.client import EslClient
from ccagent.pbx.esl.translate import FsTranslator
from ccagent.sim.esl_server import EslServer

U = "524542f5-0fdc-463e-92b8-f1a3d0a548b1"
TARGET = "4bb66a9d-9766-44c0-91c0-615f0577b46d"


def test_R_PBX_2_builders_give_the_commands_the_lab_sent_to_a_real_freeswitch() -> None:
    # verbatim from tests/traces/freeswitch/*/commands.log
    lab_vars = {
        "ignore_early_media": "true",
        "originate_timeout": 20,
        "dialer_campaign": "spring-promo",
        "hangup_after_bridge": "true",
    }
    assert c.originate(
        "sofia/gateway/carrier/5552001",
        uuid=U,
        dest="agent_1002",
        context="dialer",
        caller_id_number="8000",
        caller_id_name="ACME",
        variables=lab_vars,
    ) == (
        "originate {origination_uuid=524542f5-0fdc-463e-92b8-f1a3d0a548b1,origination_caller_id_number=8000,"
        "origination_caller_id_name=ACME,ignore_early_media=true,originate_timeout=20,"
        "dialer_campaign=spring-promo,hangup_after_bridge=true}sofia/gateway/carrier/5552001 "
        "agent_1002 XML dialer"
    )
    assert ",originate_timeout=8}" in c.originate("user/1001", uuid=U, dest="x", timeout_s=8)
    assert c.uuid_kill("35302b71-910a-4eb7-8878-356363846948") == (
        "uuid_kill 35302b71-910a-4eb7-8878-356363846948 NORMAL_CLEARING"
    )
    assert c.uuid_transfer("1fc7c729-a09a-47ea-bbed-7fa9508276cc", "1002", leg="bleg") == (
        "uuid_transfer 1fc7c729-a09a-47ea-bbed-7fa9508276cc -bleg 1002 XML default"
    )
    assert c.agent_set_status("1002@default", "On Break") == (
        "callcenter_config agent set status 1002@default 'On Break'"
    )
    assert c.eavesdrop(
        "user/1004@127.0.0.1", TARGET, "whisper", uuid=U, caller_id_number="1004", caller_id_name="Supervisor"
    ) == (
        "originate {origination_uuid=524542f5-0fdc-463e-92b8-f1a3d0a548b1,origination_caller_id_number=1004,"
        "origination_caller_id_name=Supervisor,eavesdrop_whisper_aleg=true}user/1004@127.0.0.1 "
        "&eavesdrop(4bb66a9d-9766-44c0-91c0-615f0577b46d)"
    )
    listen = c.eavesdrop("user/1004@127.0.0.1", TARGET, uuid=U)
    assert "whisper" not in listen and listen.endswith(f"&eavesdrop({TARGET})")
    barge = c.eavesdrop("user/1004@127.0.0.1", TARGET, "barge", uuid=U)
    assert "eavesdrop_whisper_aleg=true,eavesdrop_whisper_bleg=true}" in barge
    assert c.show_channels() == "show channels as json"


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("ACME", "ACME"),
        ("Олена Коваль", "'Олена Коваль'"),
        ("a,b", "a\\,b"),
        ("O'Brien", "O’Brien"),
        ("x}sofia/gateway/evil/1 &park", "'x sofia/gateway/evil/1 &park'"),
        ("line1\r\n\r\napi shutdown", "'line1    api shutdown'"),
        ("nul\x00byte", "'nul byte'"),
        ("back\\slash", "back\\\\slash"),
    ],
)
def test_R_SAFE_3_free_text_values_are_cleaned(raw: str, clean: str) -> None:
    assert c.clean_value(raw) == clean


@pytest.mark.parametrize(
    "call",
    [
        lambda: c.uuid_kill("abc def"),
        lambda: c.uuid_kill(U, "NOT_A_CAUSE"),
        lambda: c.uuid_kill("x\n\napi shutdown"),
        lambda: c.uuid_transfer(U, "1002 XML evil"),
        lambda: c.uuid_transfer(U, "1002", context="de fault"),
        lambda: c.uuid_transfer(U, "1002", dialplan="LUA"),
        lambda: c.agent_set_status("1002@default", "Lunch"),
        lambda: c.agent_set_status("1002@default\n\napi x", "On Break"),
        lambda: c.originate("sofia/gateway/carrier/555 1", uuid=U, dest="x"),
        lambda: c.originate("user/1001", uuid=U),  # neither dest nor app
        lambda: c.originate("user/1001", uuid=U, dest="x", app="park"),
        lambda: c.originate("user/1001", uuid=U, dest="x", variables={"bad name": "1"}),
        lambda: c.originate("user/1001", uuid=U, dest="x", timeout_s=0),
        lambda: c.eavesdrop("user/1004", "t) &evil(", uuid=U),
        lambda: c.wire("api", "status\n\nexit"),
    ],
)
def test_R_SAFE_3_bad_identifiers_are_refused_with_the_field_named(call: object) -> None:
    with pytest.raises(c.EslCommandError) as err:
        call()  # type: ignore[operator]
    assert ":" in str(err.value)


def test_R_SAFE_3_one_frame_whatever_the_user_typed() -> None:
    cmd = c.originate(
        "user/1001@127.0.0.1",
        uuid=U,
        dest="1002",
        caller_id_name="Eve\n\napi shutdown",
        variables={"ccagent_project": "spring, promo}{x=1"},
    )
    frame = c.wire("bgapi", cmd)
    assert frame.count(b"\n\n") == 1 and frame.endswith(b"\n\n")
    assert "}user/1001@127.0.0.1 1002 XML default" in cmd and cmd.count("}") == 1


def test_R_PBX_2_bgapi_originate_round_trip_gives_the_chosen_uuid_back() -> None:
    async def scenario() -> tuple[str, str, str, list[str]]:
        async with EslServer(password="pw") as srv:
            q: asyncio.Queue = asyncio.Queue()
            client = EslClient("127.0.0.1", srv.port, "pw", queue=q, backoff_min=0.01, backoff_max=0.05)
            task = asyncio.create_task(client.run())
            while client.state.value != "connected" or not any(not isinstance(i, dict) for i in q._queue):
                await asyncio.sleep(0.01)
            _job, fut = await client.bgapi(
                c.originate(
                    "sofia/gateway/carrier/5552001",
                    uuid=U,
                    dest="agent_1002",
                    context="dialer",
                    variables={"ccagent_project": "spring promo"},
                )
            )
            body = await asyncio.wait_for(fut, 5)
            killed = await client.api(c.uuid_kill(U))
            status = await client.api(c.agent_set_status("1002@default", "Available"))
            while True:  # the BACKGROUND_JOB event sits in the queue too
                item = await asyncio.wait_for(q.get(), 5)
                if isinstance(item, dict) and item.get("Event-Name") == "BACKGROUND_JOB":
                    break
            await client.close()
            await task
            results = FsTranslator("dialer_campaign").translate(item)
            assert results == [
                OriginateResult(
                    ts=results[0].ts, request_id=_job, channel=U, outcome=OriginateOutcome.ANSWERED
                )
            ]
            return body, killed, status, srv.commands

    body, killed, status, commands = asyncio.run(scenario())
    assert body.strip() == f"+OK {U}"
    assert killed.strip() == "+OK" and status.strip() == "+OK"
    assert any(cmd.startswith("bgapi originate {origination_uuid=" + U) for cmd in commands)
    assert "ccagent_project='spring promo'" in next(cmd for cmd in commands if "originate" in cmd)
