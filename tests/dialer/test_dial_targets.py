"""Originate targets from config (issue 13 item 1): the admin's trunk, the number as it wants it, the
project's overrides; a project with no usable target is refused naming the key; the simulated PBXs
refuse a trunk they do not have, as a real one does, and the attempt ends failed with their words."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from ccagent.app.bootstrap import pbx_adapter
from ccagent.app.dialer import project_run
from ccagent.config import ConfigError, parse_config
from ccagent.core.dialer.pacer import ProgressivePacer
from ccagent.core.dialing_rules import check_settings
from ccagent.core.dialstring import NumberFormat
from ccagent.core.projects import ProjectError, new_project
from ccagent.storage.attempts_repo import AttemptStore
from tests.dialer.dialer_daemon import TRUNK, AccelClock, DialerDaemon, SimPbx, config_for, make_contacts
from tests.waiting import wait_for

NOW = datetime(2026, 3, 10, tzinfo=UTC)


def _project(**settings: Any) -> Any:
    return new_project("spring", "Spring", "operators", NOW, queue="support", settings=settings)


def test_number_formats() -> None:
    n = "+380441234567"
    assert NumberFormat().apply(n) == n
    assert NumberFormat("e164_digits").apply(n) == "380441234567"
    assert NumberFormat("national", region="UA").apply(n) == "0441234567"
    assert NumberFormat("national", region="UA").apply("+12025550123") == "0012025550123"  # IDD abroad
    assert NumberFormat("national", region="US").apply("+12025550123") == "12025550123"
    assert NumberFormat("e164_digits", strip_prefix="380", add_prefix="9").apply(n) == "9441234567"
    with pytest.raises(ValueError):
        NumberFormat("national").apply("not a number")


def test_no_usable_target_is_refused_naming_the_key() -> None:
    for pbx, key in (("asterisk", "pbx.asterisk.trunk"), ("freeswitch", "pbx.freeswitch.gateway")):
        plan = pbx_adapter(parse_config({}), pbx).dial_plan
        with pytest.raises(ProjectError, match=f"^{key}: no"):
            project_run(_project(), plan)
        # the project's own trunk is enough
        assert "my-sip" in project_run(_project(trunk="my-sip"), plan).dial
    with pytest.raises(ProjectError, match="dial_string: unknown placeholder"):
        project_run(_project(dial_string="PJSIP/{number}@{gateway}"), pbx_adapter(parse_config({})).dial_plan)
    for bad, key in (
        ({"trunk": "a b"}, "settings.trunk"),
        ({"dial_string": "PJSIP/{number}@x,tT"}, "settings.dial_string"),
        ({"dial_string": "PJSIP/@x"}, "settings.dial_string"),
        ({"number_format": "e.164"}, "settings.number_format"),
        ({"add_prefix": "9;"}, "settings.add_prefix"),
    ):
        with pytest.raises(ProjectError, match=f"^{key}:"):
            check_settings(bad)


def test_config_keys_are_validated() -> None:
    for section, bad, field in (
        ("asterisk", {"dial_string": "PJSIP/{num}@{trunk}"}, "dial_string"),
        ("asterisk", {"dial_string": "PJSIP/{number}@{trunk} &park()"}, "dial_string"),
        ("asterisk", {"trunk": "x\r\nAction: Hangup"}, "trunk"),
        ("freeswitch", {"dial_string": "sofia/gateway/{trunk}/{number}"}, "dial_string"),
        ("freeswitch", {"number_format": "intl"}, "number_format"),
    ):
        with pytest.raises(ConfigError, match=f"^pbx.{section}.{field}: "):
            parse_config({"pbx": {section: bad}})


def test_targets_per_pbx_and_per_project() -> None:
    cfg = parse_config(
        {
            "pbx": {
                "asterisk": {"dial_string": "Local/{number}@from-internal", "number_format": "national"},
                "freeswitch": {"gateway": "acme-gw", "number_format": "e164_digits", "caller_id": "+3804400"},
            }
        }
    )
    ami, fs = pbx_adapter(cfg, "asterisk").dial_plan, pbx_adapter(cfg, "freeswitch").dial_plan
    from ccagent.core.agents import AgentBoard
    from ccagent.core.dialer.engine import Attempt, DialerEngine

    def dial(run: Any) -> str:
        eng = DialerEngine(agents=AgentBoard(), new_id=lambda: "x")
        eng.start_project(run, ProgressivePacer(), 0.0)
        return eng.command(Attempt("a1", "spring", "7", "+380441234567", "a1", 0.0)).dial

    assert dial(project_run(_project(), ami)) == "Local/0441234567@from-internal"  # a FreePBX route
    run = project_run(_project(), fs)
    assert dial(run) == "sofia/gateway/acme-gw/380441234567" and run.caller_id == "+3804400"
    over = _project(trunk="other-gw", number_format="e164", dial_string="sofia/gateway/{gateway}/{number}")
    assert dial(project_run(over, fs)) == "sofia/gateway/other-gw/+380441234567"


@pytest.mark.timeout(120)
@pytest.mark.parametrize("pbx", ["asterisk", "freeswitch"])
def test_the_configured_trunk_reaches_the_wire_and_an_unknown_one_fails(pbx: str, tmp_path: Path) -> None:
    """Project ``good`` dials through the configured trunk (a name in no capture); project ``bad``
    names a trunk the PBX does not have: its attempt ends ``failed`` with the PBX's reason."""
    speed = 10.0
    clock = AccelClock(speed, t0=1_800_000_000.0)

    async def scenario() -> tuple[list[str], list[Any]]:
        the_pbx = SimPbx(pbx, lambda number, nth: "answered", agents=("101",), clock=clock, speed=speed)
        await the_pbx.start()
        config = config_for(the_pbx.port, f"sqlite:///{tmp_path / 'd.db'}", pbx)
        rules = {"max_attempts": 1, "retry_s": {}}
        contacts = make_contacts({"good": [("c0", "+380441000001")], "bad": [("c1", "+380441000002")]}, rules)
        daemon = DialerDaemon(config, contacts=contacts, clock=clock)
        plan = pbx_adapter(config).dial_plan
        task = asyncio.create_task(daemon.run())
        try:
            await the_pbx.daemon_ready_and_agents_in()
            await wait_for(lambda: len(daemon.dialer.agents.in_queue("support")) == 1, 20, "agents")
            for pid, settings in (("good", {}), ("bad", {"trunk": "nobody-has-it"})):
                p = dataclasses.replace(_project(**settings), id=pid)
                run = dataclasses.replace(project_run(p, plan), context="dialer", exten="support")
                daemon.dialer.start_project(run, ProgressivePacer())
            await wait_for(lambda: contacts.done("good") and contacts.done("bad"), 60, "both projects done")
        finally:
            daemon.request_stop()
            await asyncio.wait_for(task, 20)
            await the_pbx.stop()
        sim = the_pbx.sim
        wire = list(sim.originated) if pbx == "asterisk" else [c for c in sim.commands if "originate" in c]
        store = AttemptStore(daemon.wiring.engine)
        return wire, [(a.project_id, a.outcome, a.reason) for pid in ("good", "bad") for a in store.list(pid)]

    wire, attempts = asyncio.run(scenario())
    if pbx == "asterisk":
        assert f"PJSIP/+380441000001@{TRUNK}" in wire and "PJSIP/+380441000002@nobody-has-it" in wire
        refused = "Originate failed"
    else:
        assert any(f"}}sofia/gateway/{TRUNK}/+380441000001 " in c for c in wire), wire
        assert any("}sofia/gateway/nobody-has-it/+380441000002 " in c for c in wire), wire
        refused = "INVALID_GATEWAY"
    assert not any("customers" in c or "carrier" in c for c in wire)  # no lab name anywhere
    good = [a for a in attempts if a[0] == "good"]
    bad = [a for a in attempts if a[0] == "bad"]
    assert [a[1] for a in good] == ["answered"], attempts
    assert [a[1] for a in bad] == ["failed"] and refused in (bad[0][2] or ""), attempts
