"""Asterisk over AMI behind the PBX port (:mod:`ccagent.pbx.port`): everything ccagent knows of
Asterisk that is not the translator's vocabulary lives here or below (issue 12).

The AMI session's queue carries raw messages, :class:`ConnectionUp` / :class:`ConnectionDown`,
and the CoreShowChannels answer as one :class:`ListResult` queued where its ``...Complete``
arrived (R-PBX-5): the step below applies them in that order, so reconciliation sees the events
before and after a reconnect exactly where they happened.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from ccagent.config import Config
from ccagent.core.dialstring import fill_dial_string, number_format_of
from ccagent.core.projects import Project
from ccagent.pbx.ami import actions
from ccagent.pbx.ami.capture import iter_ami_capture
from ccagent.pbx.ami.client import AmiAuthError, AmiClient, ConnectionDown, ConnectionUp, ListResult
from ccagent.pbx.ami.originate import AmiOriginator, pause_action
from ccagent.pbx.ami.parser import AmiMessage, AmiParser
from ccagent.pbx.ami.translate import AmiTranslator
from ccagent.pbx.capture import detect_format
from ccagent.pbx.port import DialPlan, Live, PipelineOps, Step, dial_format

__all__ = ["DEMO_EMPLOYEES", "DEMO_SCENARIOS", "AmiAdapter", "AmiDemo", "make_step"]

log = logging.getLogger(__name__)

# The demo's busy-hour mix, weighted by repetition (the real lab captures are the templates).
DEMO_SCENARIOS = [
    "01-inbound-direct-answered",
    "01-inbound-direct-answered",
    "03-queue-ringall-answered",
    "03-queue-ringall-answered",
    "18-queue-rrmemory-ringnoanswer",
    "02-inbound-direct-missed",
    "04-queue-abandoned",
    "05-blind-transfer",
    "05b-blind-transfer-sip-refer",
    "06-attended-transfer",
    "07-attended-transfer-abandoned",
    "08-dialer-answered-queue",
    "09-dialer-no-answer",
    "10-dialer-busy",
    "12-callback",
    "14-internal-call",
    "22-ami-redirect-transfer",
    "23-cyrillic-caller-name",
    "24-dialer-abandon-safe-harbour",
    "25-autoinformer-dtmf",
    "31-queue-wrapup",
    "32-inbound-agent-rejects-busy",
]
DEMO_EMPLOYEES = {
    "101": "Олена Коваль",
    "102": "Ivan Petrov",
    "103": "Мария Сидорова",
    "104": "Supervisor Anna",
}
DEMO_SECRET = "demo-only-secret"
DEMO_PROJECT_VARIABLE = "LAB_PROJECT"  # what the lab's dialplan set when the captures were made


def make_step(ops: PipelineOps, translator: AmiTranslator, clock: Callable[[], float]) -> Step:
    """The consumer's per-item step for AMI; never raises on PBX data (R-SAFE-1)."""

    def step(item: object) -> None:
        now = clock()
        if isinstance(item, dict):  # the hot path: a raw message
            ops.feed(item, now, time.monotonic())
        elif isinstance(item, ConnectionUp):
            if item.connection > 1:
                ops.reconnected()
            # the reconnect asks CoreShowChannels: channels created from here on are live even if
            # the listing, taken a moment earlier, misses them
            translator.begin_snapshot()
        elif isinstance(item, ConnectionDown):
            ops.connection_lost(now)
        elif isinstance(item, ListResult):
            arrived = time.monotonic()
            for msg in item.items:
                ops.feed(msg, now, arrived)
            if item.complete is not None:
                ops.feed(item.complete, now, arrived)
        else:
            log.error("ignoring an unknown item on the AMI queue: %s", type(item).__name__)

    return step


class AmiAdapter:
    """The Asterisk adapter, bound to one configuration (``pbx.asterisk``, ``legs``)."""

    name = "asterisk"

    def __init__(self, config: Config) -> None:
        self.config = config
        self.agent_option = ("--interface", config.pbx.asterisk.agent_interface)
        self.translator = AmiTranslator(
            project_variable=config.legs.project_variable,
            extension_pattern=config.legs.extension_pattern,
            recording_variable=config.legs.recording_variable,
            member_interface=config.pbx.asterisk.agent_interface,
        )

    def agent_name(self, extension: str) -> str:
        """The queue member interface of ``extension`` (``pbx.asterisk.agent_interface``:
        ``PJSIP/101``, FreePBX ``Local/101@from-queue/n``)."""
        return self.config.pbx.asterisk.agent_interface.replace("{ext}", extension)

    # -- the live daemon ---------------------------------------------------------------------------
    def live(self, ops: PipelineOps, *, clock: Callable[[], float], queue_size: int) -> Live:
        a = self.config.pbx.asterisk

        async def on_connected(client: AmiClient) -> None:
            # The answer is queued where it arrives, so reconciliation sees the
            # events before and after it in order (R-PBX-5).
            await client.send_list_action(actions.core_show_channels(), enqueue=True, timeout=30.0)

        client = AmiClient(
            a.host,
            a.port,
            a.username,
            a.secret.get_secret_value(),
            on_connected=on_connected,
            queue_size=queue_size,
            keep=self.translator.wants,  # skip unread events before decoding
            ping_interval=a.ping_interval_s,
            ping_timeout=a.ping_timeout_s,
            backoff_min=a.reconnect_min_s,
            backoff_max=a.reconnect_max_s,
        )
        return Live(
            session=client,
            step=make_step(ops, self.translator, clock),
            originator=AmiOriginator(client.send_action),
        )

    def is_auth_error(self, exc: BaseException) -> bool:
        return isinstance(exc, AmiAuthError)

    # -- offline ingest ----------------------------------------------------------------------------
    def check_capture(self, path: str | Path) -> None:
        fmt = detect_format(path)
        if fmt != "ami":
            raise ValueError(f"{path}: this is an ESL ({fmt}) capture, not AMI: use --pbx freeswitch")

    def read_capture(self, path: str | Path) -> Iterator[Mapping[str, str]]:
        self.check_capture(path)
        return iter_ami_capture(path, AmiParser(keep=self.translator.wants))

    # -- dialer ------------------------------------------------------------------------------------
    def dial_plan(self, project: Project, *, connect_deadline_s: float) -> DialPlan:
        """The contexts of ``dialplan/asterisk/extensions_ccagent.conf``: ``ccagent-dialer`` (queue
        with the safe harbour), ``ccagent-amd``, ``ccagent-autoinformer``, ``ccagent-robot``; the
        extension is the dialled number."""
        s: Mapping[str, Any] = project.settings or {}
        kind = str(getattr(project.type, "value", project.type))
        context = {
            "operators": "ccagent-amd" if s.get("amd") else "ccagent-dialer",
            "autoinformer": "ccagent-autoinformer",
            "robot": "ccagent-robot",
        }.get(kind, "ccagent-dialer")
        variables: list[tuple[str, str]] = []
        if project.queue:
            variables.append(("CCAGENT_QUEUE", project.queue))
        variables.append(("CCAGENT_QLIMIT", str(int(connect_deadline_s))))
        if s.get("message"):
            variables.append(("CCAGENT_MESSAGE", str(s["message"])))
        if kind == "robot" and s.get("robot_context"):
            variables.append(("CCAGENT_ROBOT_AGI", str(s["robot_context"])))
        a = self.config.pbx.asterisk
        return DialPlan(
            context=context,
            exten="{number}",
            variables=tuple(variables),
            dial=fill_dial_string(
                str(s.get("dial_string", a.dial_string)),
                s.get("trunk", a.trunk),
                trunk_word="trunk",
                where="pbx.asterisk.trunk",
            ),
            number_format=number_format_of(s, dial_format(a, self.config.projects.default_region)),
            caller_id=a.caller_id,
        )

    async def set_paused(
        self, agent: str, paused: bool, *, queue: str | None, reason: str | None, timeout: float
    ) -> str:
        """QueuePause over a short AMI session with events off."""
        a = self.config.pbx.asterisk
        client = AmiClient(
            a.host,
            a.port,
            a.username,
            a.secret.get_secret_value(),
            events="off",
            backoff_min=0.05,
            backoff_max=0.5,
        )
        task = asyncio.create_task(client.run())
        try:
            try:
                await client.wait_connected(timeout=timeout)
            except TimeoutError:
                failed = task.exception() if task.done() and not task.cancelled() else None
                if failed is not None:  # the login was refused: say so, not just "timed out"
                    raise RuntimeError(f"Asterisk {a.host}:{a.port}: {failed}") from None
                raise TimeoutError(f"Asterisk {a.host}:{a.port} not reachable within {timeout:g} s") from None
            resp = await client.send_action(
                pause_action(agent, paused, queue=queue, reason=reason), timeout=timeout
            )
        finally:
            await client.close()
            await asyncio.gather(task, return_exceptions=True)
        if resp.get("Response") != "Success":
            raise RuntimeError(f"Asterisk refused QueuePause: {resp.get('Message', '')[:200]}")
        return resp.get("Message", "") or "ok"

    # -- demo --------------------------------------------------------------------------------------
    def demo(self, *, calls: int, seconds: float, seed: int) -> AmiDemo:
        return AmiDemo(calls=calls, seconds=seconds, seed=seed)


class AmiDemo:
    """A simulated Asterisk (real AMI over TCP on 127.0.0.1) playing the busy hour (R-OPS-6)."""

    project_variable = DEMO_PROJECT_VARIABLE
    employees = DEMO_EMPLOYEES

    def __init__(self, *, calls: int, seconds: float, seed: int) -> None:
        from ccagent.sim.ami_server import SimAsterisk
        from ccagent.sim.scenarios import build_stream

        self.messages, self.expected = build_stream(
            DEMO_SCENARIOS,
            n_calls=calls,
            seed=seed,
            overlap=0.6,
            new_numbers=True,
            start_ts=time.time() - 3600,
        )
        stamps = [float(m["Timestamp"]) for m in self.messages if m.get("Timestamp")]
        self.span = (max(stamps) - min(stamps)) if stamps else 1.0
        self.speed = max(1.0, self.span / max(1.0, seconds))
        self.total = len(self.messages)
        self.sim = SimAsterisk(username="ccagent", secret=DEMO_SECRET)

    async def start(self) -> None:
        await self.sim.start()

    def pbx_config(self) -> dict[str, Any]:
        return {
            "type": "asterisk",
            "asterisk": {
                "port": self.sim.port,
                "secret": DEMO_SECRET,
                "reconnect_min_s": 0.1,
                "reconnect_max_s": 1.0,
            },
        }

    def describe(self) -> str:
        return (
            f"Simulated Asterisk on 127.0.0.1:{self.sim.port}: a busy hour of {len(self.expected)} calls "
            f"({self.span / 60:.0f} PBX minutes) played {self.speed:.0f}x faster"
        )

    async def play(self, progress: Callable[[int], None]) -> None:
        await self.sim.wait_logged_in(1, timeout=10.0)

        def counted() -> Iterator[AmiMessage]:
            for i, m in enumerate(self.messages, 1):
                if i % 200 == 0 or i == self.total:
                    progress(i)
                yield m

        await self.sim.play(counted(), speed=self.speed)

    async def stop(self) -> None:
        await self.sim.stop()
