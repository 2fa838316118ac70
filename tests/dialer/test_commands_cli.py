"""Originate / pause / spy builders on both PBXs and ``ccagent agent list|pause|ready`` (issue 6;
R-PRJ-5, R-PRJ-6, R-SAFE-3, R-OPS-1)."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from ccagent.app.ingest import ingest_files
from ccagent.cli import main as cli_main
from ccagent.config import parse_config
from ccagent.core.dialer.engine import Originate
from ccagent.pbx.ami import actions as A
from ccagent.pbx.ami.originate import originate_action, pause_action, spy_action
from ccagent.pbx.esl import commands
from ccagent.pbx.esl.originate import originate_command, pause_command
from ccagent.sim.ami_server import SimAsterisk
from ccagent.sim.esl_server import EslServer

TRACES = Path(__file__).resolve().parents[1] / "traces"


def _cmd(**kw: object) -> Originate:
    base: dict[str, object] = dict(
        attempt_id="a1",
        project_id="spring",
        contact_id="7",
        number="+380441234567",
        caller_id="2000",
        context="dialer",
        exten="support",
        timeout_s=20,
        channel_id="a1",
        variables=(("CCAGENT_PROJECT", "spring"), ("CCAGENT_ATTEMPT", "a1")),
        dial="PJSIP/+380441234567@customers",  # the lab's trunk: a test value (issue 13)
    )
    base.update(kw)
    return Originate(**base)  # type: ignore[arg-type]


def test_R_PRJ_1_ami_originate_carries_channel_id_project_and_attempt() -> None:
    act = originate_action(_cmd())
    assert act[:2] == [("Action", "Originate"), ("Channel", "PJSIP/+380441234567@customers")]
    assert A.get_header(act, "ChannelId") == "a1"
    assert A.get_header(act, "Async") == "true" and A.get_header(act, "Timeout") == "20000"
    assert A.get_header(act, "CallerID") == '"Dialer" <2000>'
    assert [v for k, v in act if k == "Variable"] == [
        "CCAGENT_PROJECT=spring",
        "CCAGENT_ATTEMPT=a1",
        "CCAGENT_DIAL=PJSIP/+380441234567@customers",  # for a dialplan that dials the customer itself
    ]


def test_R_SAFE_3_a_project_value_cannot_inject_a_second_action() -> None:
    act = originate_action(_cmd(variables=(("CCAGENT_PROJECT", "x\r\n\r\nAction: Hangup\r\nChannel: all"),)))
    wire = A.serialize(act)
    assert wire.count(b"\r\n\r\n") == 1  # one action only
    assert b"Action: Hangup" not in wire.split(b"\r\n")
    with pytest.raises(A.ActionError, match="number"):
        originate_action(_cmd(number="0441\r\nAction: Hangup"))


def test_R_PRJ_6_chanspy_listen_whisper_barge_match_the_lab() -> None:
    """The lab's own Originates (captures 13 and 29) for listen, whisper and barge."""
    lab = {
        "listen": [
            ("Action", "Originate"),
            ("Channel", "PJSIP/104"),
            ("Application", "ChanSpy"),
            ("Data", "PJSIP/101,qE"),
            ("CallerID", '"Supervisor" <104>'),
            ("Async", "true"),
        ],
        "whisper": [
            ("Action", "Originate"),
            ("Channel", "PJSIP/104"),
            ("Application", "ChanSpy"),
            ("Data", "PJSIP/101,qwE"),
            ("CallerID", '"Supervisor" <104>'),
            ("Async", "true"),
        ],
        "barge": [
            ("Action", "Originate"),
            ("Channel", "PJSIP/104"),
            ("Application", "ChanSpy"),
            ("Data", "PJSIP/101,qBE"),
            ("CallerID", '"Supervisor" <104>'),
            ("Async", "true"),
        ],
    }
    for mode, want in lab.items():
        assert spy_action("PJSIP/104", "PJSIP/101", mode, caller_id='"Supervisor" <104>') == want
    with pytest.raises(A.ActionError, match="mode"):
        spy_action("PJSIP/104", "PJSIP/101", "shout")
    with pytest.raises(A.ActionError, match="agent_interface"):
        spy_action("PJSIP/104", "PJSIP/101,qB\r\n", "listen")


def test_R_PRJ_6_freeswitch_eavesdrop_barge_matches_the_lab() -> None:
    got = commands.eavesdrop(
        "user/1004@127.0.0.1",
        "e1ae3d26-0502-47d3-99ce-85dd61b952b3",
        "barge",
        uuid="22eba79a-a457-4c25-9654-1600e86c8259",
        caller_id_number="1004",
        caller_id_name="Supervisor",
    )
    lab = (
        "originate {origination_uuid=22eba79a-a457-4c25-9654-1600e86c8259,origination_caller_id_number=1004,"
        "origination_caller_id_name=Supervisor,eavesdrop_whisper_aleg=true,eavesdrop_whisper_bleg=true}"
        "user/1004@127.0.0.1 &eavesdrop(e1ae3d26-0502-47d3-99ce-85dd61b952b3)"
    )
    assert got == lab


def test_R_PBX_2_esl_originate_command() -> None:
    got = originate_command(
        _cmd(channel_id="5c4ad06e-396c-43f5-a83a-1cbdb7229c83", dial="sofia/gateway/carrier/+380441234567")
    )
    assert got == (
        "originate {origination_uuid=5c4ad06e-396c-43f5-a83a-1cbdb7229c83,origination_caller_id_number=2000,"
        "originate_timeout=20,CCAGENT_PROJECT=spring,CCAGENT_ATTEMPT=a1,ignore_early_media=true}"
        "sofia/gateway/carrier/+380441234567 support XML dialer"
    )
    with pytest.raises(commands.EslCommandError, match="number"):
        originate_command(_cmd(number="5552001 &park()"))


def test_R_PRJ_5_pause_builders() -> None:
    assert pause_action("PJSIP/101", True, reason="Lunch") == [
        ("Action", "QueuePause"),
        ("Interface", "PJSIP/101"),
        ("Paused", "true"),
        ("Reason", "Lunch"),
    ]
    assert pause_action("PJSIP/101", False, queue="support", reason="ignored") == [
        ("Action", "QueuePause"),
        ("Interface", "PJSIP/101"),
        ("Paused", "false"),
        ("Queue", "support"),
    ]
    with pytest.raises(A.ActionError, match="interface"):
        pause_action("101\r\n", True)
    assert pause_command("1002@default", True) == "callcenter_config agent set status 1002@default 'On Break'"
    assert (
        pause_command("1002@default", False) == "callcenter_config agent set status 1002@default 'Available'"
    )


# -- the CLI ---------------------------------------------------------------------------------------


class _ThreadLoop:
    """A simulated PBX on its own event loop thread, so the CLI can run its own asyncio.run."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coro: object) -> object:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(10)  # type: ignore[arg-type]

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


@pytest.fixture
def pbx_thread() -> Iterator[_ThreadLoop]:
    t = _ThreadLoop()
    yield t
    t.close()


def test_R_PRJ_5_cli_pause_and_ready_go_to_asterisk(pbx_thread: _ThreadLoop, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    sim = SimAsterisk(username="ccagent", secret="pw-123456")
    pbx_thread.run(sim.start())
    cfg = tmp_path / "c.yaml"
    cfg.write_text(
        f"pbx:\n  type: asterisk\n  asterisk:\n    port: {sim.port}\n    username: ccagent\n"
        f"    secret: pw-123456\n",
        "utf-8",
    )
    assert cli_main(["agent", "pause", "101", "--reason", "Lunch", "-c", str(cfg)]) == 0
    assert cli_main(["agent", "ready", "101", "-c", str(cfg)]) == 0
    assert sim.stats.actions.get("queuepause") == 2
    assert "Interface paused successfully" in capsys.readouterr().out
    assert cli_main(["agent", "pause", "10 1", "-c", str(cfg)]) == 65  # a bad extension names the field
    assert "interface" in capsys.readouterr().err
    pbx_thread.run(sim.stop())


def test_R_PRJ_5_cli_pause_and_ready_go_to_freeswitch(pbx_thread: _ThreadLoop, tmp_path: Path) -> None:
    fs = EslServer(password="pw-123456")
    pbx_thread.run(fs.start())
    cfg = tmp_path / "c.yaml"
    cfg.write_text(
        f"pbx:\n  type: freeswitch\n  freeswitch:\n    port: {fs.port}\n    password: pw-123456\n", "utf-8"
    )
    assert cli_main(["agent", "pause", "1002", "-c", str(cfg)]) == 0
    assert cli_main(["agent", "ready", "1002", "-c", str(cfg)]) == 0
    sent = [c for c in fs.commands if "callcenter_config" in c]
    assert sent == [
        "api callcenter_config agent set status 1002@default 'On Break'",
        "api callcenter_config agent set status 1002@default 'Available'",
    ]
    pbx_thread.run(fs.stop())


def test_R_PRJ_5_cli_pause_unreachable_pbx_exits_69(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    cfg = tmp_path / "c.yaml"
    cfg.write_text("pbx:\n  type: freeswitch\n  freeswitch:\n    port: 1\n    password: pw-123456\n", "utf-8")
    assert cli_main(["agent", "pause", "1002", "-c", str(cfg), "--timeout", "0.5"]) == 69
    cfg.write_text("pbx:\n  type: asterisk\n  asterisk:\n    port: 1\n    secret: pw-123456\n", "utf-8")
    capsys.readouterr()
    assert cli_main(["agent", "pause", "101", "-c", str(cfg), "--timeout", "0.5"]) == 69
    assert "Asterisk 127.0.0.1:1 not reachable within 0.5 s" in capsys.readouterr().err
    # refused before anything connects: the extension, the template, the timeout
    for argv, says in (
        (["agent", "pause", ""], "extension: empty"),
        (["agent", "pause", "101", "--interface", "{foo}"], "--interface: '{foo}' may only use {ext}"),
        (["agent", "pause", "101", "--timeout", "-1"], "--timeout: must be a number of seconds above 0"),
    ):
        assert cli_main([*argv, "-c", str(cfg)]) == 65
        assert says in capsys.readouterr().err


def test_R_PRJ_5_cli_pause_with_a_wrong_secret_says_the_login_was_refused(
    pbx_thread: _ThreadLoop, tmp_path: Path, capsys
) -> None:  # type: ignore[no-untyped-def]
    sim = SimAsterisk(username="ccagent", secret="pw-123456")
    pbx_thread.run(sim.start())
    cfg = tmp_path / "c.yaml"
    cfg.write_text(
        f"pbx:\n  type: asterisk\n  asterisk:\n    port: {sim.port}\n    username: ccagent\n"
        "    secret: not-the-secret\n",
        "utf-8",
    )
    assert cli_main(["agent", "pause", "101", "-c", str(cfg), "--timeout", "2"]) == 69
    err = capsys.readouterr().err
    assert f"Asterisk 127.0.0.1:{sim.port}:" in err and "not-the-secret" not in err
    assert err.strip() != "ccagent agent:"
    pbx_thread.run(sim.stop())


def test_R_PRJ_5_cli_list_shows_the_latest_pbx_state(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    db_url = f"sqlite:///{tmp_path / 'x.db'}"
    config = parse_config({"legs": {"project_variable": "LAB_PROJECT"}})
    folder = TRACES / "asterisk" / "27-queue-agent-login-pause"
    ingest_files(config, [folder / "ami.log"], pbx="asterisk", db_url=db_url)
    assert cli_main(["agent", "list", "--db", db_url, "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["extension"], r["state"], r["queues"]) for r in rows] == [
        ("101", "logged_out", []),
        ("102", "logged_out", []),
    ]
    # cut the capture before the logouts: 101 paused with its reason, then ready
    db2 = f"sqlite:///{tmp_path / 'y.db'}"
    text = (folder / "ami.log").read_text("utf-8")
    cut = text.index("Event: QueueMemberRemoved")
    part = tmp_path / "part.log"
    part.write_text(text[: text.rfind("\n\n", 0, cut) + 2], "utf-8")
    ingest_files(config, [part], pbx="asterisk", db_url=db2)
    assert cli_main(["agent", "list", "--db", db2]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[1].split()[:3] == ["101", "ready", "hotline"]
    assert out[2].split()[:3] == ["102", "ready", "hotline"]


def test_R_PRJ_1_project_rows_target_the_shipped_dialplans() -> None:
    from datetime import UTC, datetime

    from ccagent.app.bootstrap import pbx_adapter
    from ccagent.app.dialer import pacer_for, project_run
    from ccagent.config import parse_config
    from ccagent.core.agents import AgentBoard
    from ccagent.core.dialer.engine import Attempt, DialerEngine
    from ccagent.core.dialer.pacer import PredictivePacer, ProgressivePacer
    from ccagent.core.projects import new_project

    now = datetime(2026, 3, 10, tzinfo=UTC)
    ops = new_project(
        "spring",
        "Spring",
        "operators",
        now,
        mode="predictive",
        queue="support",
        caller_id="2000",
        settings={"message": "ccagent/sorry", "wrap_up_s": 15, "max_channels": 12, "abandon_target_pct": 2},
    )
    robot = new_project("bot", "Bot", "robot", now, settings={"robot_context": "agi://bot/run", "amd": True})
    ai = new_project("ai", "AI", "autoinformer", now, settings={"amd": True, "message": "ccagent/promo"})
    trunks = parse_config({"pbx": {"asterisk": {"trunk": "lab-out"}, "freeswitch": {"gateway": "lab-gw"}}})
    asterisk = pbx_adapter(trunks, "asterisk").dial_plan
    freeswitch = pbx_adapter(trunks, "freeswitch").dial_plan
    run = project_run(ops, asterisk)
    assert (run.context, run.queue, run.max_lines, run.wrap_up_s) == ("ccagent-dialer", "support", 12, 15.0)
    assert dict(run.variables) == {
        "CCAGENT_QUEUE": "support",
        "CCAGENT_QLIMIT": "2",
        "CCAGENT_MESSAGE": "ccagent/sorry",
    }
    eng = DialerEngine(agents=AgentBoard(), new_id=lambda: "x")
    eng.start_project(run, ProgressivePacer(), 0.0)
    cmd = eng.command(Attempt("a1", "spring", "7", "+380441234567", "a1", 0.0))
    assert (cmd.context, cmd.exten) == ("ccagent-dialer", "380441234567")  # the dialplan's _X. extension
    assert originate_action(cmd)[2:5] == [
        ("Context", "ccagent-dialer"),
        ("Exten", "380441234567"),
        ("Priority", "1"),
    ]
    assert dict(project_run(robot, asterisk).variables)["CCAGENT_ROBOT_AGI"] == "agi://bot/run"
    assert (
        project_run(robot, asterisk).context == "ccagent-robot" and project_run(robot, asterisk).queue is None
    )
    fs = project_run(ops, freeswitch)
    assert (fs.context, fs.exten) == ("ccagent", "dialer_support")
    assert dict(fs.variables) == {"ccagent_project": "spring", "ccagent_message": "ccagent/sorry"}
    assert (
        project_run(ai, freeswitch).exten == "avmd"
        and project_run(ai, asterisk).context == "ccagent-autoinformer"
    )
    p = pacer_for(ops)
    assert isinstance(p, PredictivePacer) and p.target == 0.02
    assert isinstance(pacer_for(ai), ProgressivePacer)
