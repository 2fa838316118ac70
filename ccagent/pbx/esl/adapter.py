"""FreeSWITCH over the Event Socket behind the PBX port (:mod:`ccagent.pbx.port`), issue 12.

The ESL session's queue carries event dicts, :class:`ConnectionUp` (with the ``show channels as
json`` reply taken right after subscribing) and :class:`ConnectionDown`; the step below applies
them in that same order, so reconciliation sees the events before and after a reconnect exactly
where they happened (R-PBX-5).  The listing goes through ``feed`` like any message (wrapped by
:func:`snapshot_message`), so a listing the translator cannot read is contained and counted like
any bad PBX message instead of stopping the consumer (R-SAFE-1).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ccagent.config import Config
from ccagent.core.dialstring import fill_dial_string, number_format_of
from ccagent.core.projects import Project
from ccagent.pbx.capture import detect_format
from ccagent.pbx.esl.capture import iter_capture_messages
from ccagent.pbx.esl.client import ConnectionDown, ConnectionUp, EslAuthError, EslClient, EslState, QueueItem
from ccagent.pbx.esl.originate import EslOriginator, pause_command
from ccagent.pbx.esl.translate import FsTranslator, snapshot_message
from ccagent.pbx.port import DialPlan, Live, PipelineOps, Step, dial_format

if TYPE_CHECKING:
    from ccagent.sim.scenarios import ExpectedCall

__all__ = [
    "DEMO_EMPLOYEES",
    "DEMO_SCENARIOS",
    "FORGET_AFTER_S",
    "FORGET_EVERY",
    "EslAdapter",
    "EslDemo",
    "demo_stream",
    "make_step",
]

log = logging.getLogger(__name__)

# Translator memory: ended channels are forgotten once they have been gone this long in PBX time
# (late mod_callcenter events still name a channel for a moment after its hangup), checked every
# FORGET_EVERY events so a months-long daemon keeps flat memory.
FORGET_AFTER_S = 300.0
FORGET_EVERY = 20_000

# The demo's busy-hour mix, weighted by repetition (the real lab captures are the templates).
DEMO_SCENARIOS = (
    "01-inbound-answered",
    "01-inbound-answered",
    "03-queue-answered",
    "03-queue-answered",
    "14-queue-rollover",
    "02-inbound-missed",
    "04-queue-abandon",
    "05-blind-transfer",
    "05b-blind-transfer-refer",
    "06-attended-transfer",
    "07-attended-transfer-abandoned",
    "08a-dialer-answered",
    "08b-dialer-no-answer",
    "08c-dialer-busy",
    "09-callback",
    "10-eavesdrop",
    "11-internal-call",
    "15-dialer-to-queue",
    "16-inbound-agent-rejects",
    "17-cyrillic-caller-name",
    "18-dialer-abandon-safe-harbour",
    "19-autoinformer-dtmf",
    "24-dialog-robot",
    "25-queue-wrapup",
)
DEMO_EMPLOYEES = {
    "1001": "Олена Коваль",
    "1002": "Ivan Petrov",
    "1003": "Мария Сидорова",
    "1004": "Supervisor Anna",
}
DEMO_PASSWORD = "demo-only-esl-password"
DEMO_PROJECT_VARIABLE = "dialer_campaign"  # what the lab's dialplan set when the captures were made


def make_step(ops: PipelineOps, translator: FsTranslator, clock: Callable[[], float]) -> Step:
    """The consumer's per-item step for FreeSWITCH; never raises on PBX data (R-SAFE-1)."""
    seen = 0

    def step(item: object) -> None:
        nonlocal seen
        if isinstance(item, dict):
            ops.feed(item, clock(), time.monotonic())
            seen += 1
            if seen % FORGET_EVERY == 0 and translator.last_ts:
                translator.forget_finished(before_ts=translator.last_ts - FORGET_AFTER_S)
        elif isinstance(item, ConnectionUp):
            if item.connection > 1:
                ops.reconnected()
                log.info("esl connection %d up: reconciling open calls with show channels", item.connection)
            ops.feed(snapshot_message(item.channels_json), clock(), time.monotonic())
        elif isinstance(item, ConnectionDown):
            level = logging.INFO if item.reason == "closed" else logging.WARNING
            log.log(
                level,
                "esl connection %d down (%s): open calls wait for the next snapshot",
                item.connection,
                item.reason,
            )
            # Stamped with the PBX's own time of its last event (FreeSWITCH sends a HEARTBEAT every
            # 20 s, so it is close to the drop) rather than our clock: a reconciled leg's durations
            # then never mix two clocks (R-LEG-4).  Before any event, our clock is all there is.
            ops.connection_lost(translator.last_ts or clock())
        else:
            log.error("ignoring an unknown item on the ESL queue: %s", type(item).__name__)

    return step


class EslAdapter:
    """The FreeSWITCH adapter, bound to one configuration (``pbx.freeswitch``, ``legs``)."""

    name = "freeswitch"

    def __init__(self, config: Config) -> None:
        self.config = config
        fs = config.pbx.freeswitch
        self.agent_option = ("--agent", fs.agent_name)
        self._agent_of_ext = {ext: name for name, ext in fs.agents.items()}
        self.translator = FsTranslator(
            project_variable=config.legs.project_variable,
            extension_pattern=config.legs.extension_pattern,
            recording_variable=config.legs.recording_variable,
            agents=fs.agents,
        )

    def agent_name(self, extension: str) -> str:
        """mod_callcenter's name of the agent at ``extension``: ``pbx.freeswitch.agents`` (UUID
        names, FusionPBX) else the ``agent_name`` template."""
        return self._agent_of_ext.get(extension) or self.config.pbx.freeswitch.agent_name.replace(
            "{ext}", extension
        )

    # -- the live daemon ---------------------------------------------------------------------------
    def live(self, ops: PipelineOps, *, clock: Callable[[], float], queue_size: int) -> Live:
        """The ESL client (the password is unwrapped only here), its step and originator."""
        fs = self.config.pbx.freeswitch
        queue: asyncio.Queue[QueueItem] = asyncio.Queue(maxsize=queue_size)
        client = EslClient(
            fs.host,
            fs.port,
            fs.password.get_secret_value(),
            queue=queue,
            event_format=fs.event_format,
            keepalive_s=fs.ping_interval_s,
            keepalive_timeout_s=fs.ping_timeout_s,
            backoff_min=fs.reconnect_min_s,
            backoff_max=fs.reconnect_max_s,
            keep=self.translator.wants,  # skip unread events before decoding
        )
        return Live(
            session=client,
            step=make_step(ops, self.translator, clock),
            originator=EslOriginator(client.bgapi),
        )

    def is_auth_error(self, exc: BaseException) -> bool:
        return isinstance(exc, EslAuthError)

    # -- offline ingest ----------------------------------------------------------------------------
    def check_capture(self, path: str | Path) -> None:
        if detect_format(path) == "ami":
            raise ValueError(f"{path}: this is an AMI capture, not ESL: use --pbx asterisk")

    def read_capture(self, path: str | Path) -> Iterator[Mapping[str, str]]:
        self.check_capture(path)
        return iter_capture_messages(path, self.translator.wants)

    # -- dialer ------------------------------------------------------------------------------------
    def dial_plan(self, project: Project, *, connect_deadline_s: float) -> DialPlan:
        """The extensions of ``dialplan/freeswitch/ccagent_dialer.xml`` (context ``ccagent``):
        ``dialer_<queue>``, ``autoinformer``, ``avmd``, ``robot``."""
        s: Mapping[str, Any] = project.settings or {}
        kind = str(getattr(project.type, "value", project.type))
        queue = project.queue
        exten = {
            "operators": f"dialer_{queue}" if queue else "dialer_default",
            "autoinformer": "avmd" if s.get("amd") else "autoinformer",
            "robot": "robot",
        }.get(kind, "autoinformer")
        variables = [("ccagent_project", project.id)]
        if s.get("message"):
            variables.append(("ccagent_message", str(s["message"])))
        fs = self.config.pbx.freeswitch
        return DialPlan(
            context="ccagent",
            exten=exten,
            variables=tuple(variables),
            dial=fill_dial_string(
                str(s.get("dial_string", fs.dial_string)),
                s.get("trunk", fs.gateway),
                trunk_word="gateway",
                where="pbx.freeswitch.gateway",
            ),
            number_format=number_format_of(s, dial_format(fs, self.config.projects.default_region)),
            caller_id=fs.caller_id,
        )

    async def set_paused(
        self, agent: str, paused: bool, *, queue: str | None, reason: str | None, timeout: float
    ) -> str:
        """mod_callcenter ``On Break`` / ``Available`` over a short ESL session (no queue or reason:
        mod_callcenter's status is per agent)."""
        fs = self.config.pbx.freeswitch
        client = EslClient(
            fs.host,
            fs.port,
            fs.password.get_secret_value(),
            queue=asyncio.Queue(maxsize=1000),
            backoff_min=0.05,
            backoff_max=0.5,
        )
        task = asyncio.create_task(client.run())
        try:
            for _ in range(max(1, int(timeout * 100))):
                if client.state is EslState.CONNECTED:
                    break
                await asyncio.sleep(0.01)
            else:
                raise TimeoutError(f"FreeSWITCH {fs.host}:{fs.port} not reachable")
            reply = await client.api(pause_command(agent, paused), timeout=timeout)
        finally:
            await client.close()
            await asyncio.gather(task, return_exceptions=True)
        if not reply.startswith("+OK"):
            raise RuntimeError(f"FreeSWITCH refused: {reply.strip()[:200]}")
        return reply.strip()

    # -- demo --------------------------------------------------------------------------------------
    def demo(self, *, calls: int, seconds: float, seed: int) -> EslDemo:
        return EslDemo(calls=calls, seconds=seconds, seed=seed)


def demo_stream(
    calls: int, seed: int, start_us: int = 1_800_000_000_000_000
) -> tuple[list[dict[str, str]], list[ExpectedCall]]:
    """The demo's events and the calls they make (``calls`` scenario copies, about 3 s apart)."""
    from ccagent.sim.esl_scenarios import build_stream

    return build_stream(calls, folders=DEMO_SCENARIOS, seed=seed, start_us=start_us, gap_us=2_000_000)


class EslDemo:
    """A simulated FreeSWITCH (the real Event Socket protocol over TCP on 127.0.0.1) playing the
    busy hour, supervisor listen/whisper/barge and robot calls included (R-OPS-6, R-PBX-2)."""

    project_variable = DEMO_PROJECT_VARIABLE
    employees = DEMO_EMPLOYEES

    def __init__(self, *, calls: int, seconds: float, seed: int) -> None:
        from ccagent.sim.esl_server import EslServer

        events, self.expected = demo_stream(calls, seed, int((time.time() - 3600) * 1_000_000))
        stamps = [
            int(e["Event-Date-Timestamp"]) for e in events if e.get("Event-Date-Timestamp", "").isdigit()
        ]
        self.span = (max(stamps) - min(stamps)) / 1e6 if stamps else 1.0
        self.speed = max(1.0, self.span / max(1.0, seconds))
        self.total = len(events)
        self.server = EslServer(events, password=DEMO_PASSWORD, speed=self.speed)

    async def start(self) -> None:
        await self.server.start()

    def pbx_config(self) -> dict[str, Any]:
        return {
            "type": "freeswitch",
            "freeswitch": {
                "port": self.server.port,
                "password": DEMO_PASSWORD,
                "reconnect_min_s": 0.1,
                "reconnect_max_s": 1.0,
            },
        }

    def describe(self) -> str:
        return (
            f"Simulated FreeSWITCH (Event Socket) on 127.0.0.1:{self.server.port}: a busy hour of "
            f"{len(self.expected)} calls ({self.span / 60:.0f} PBX minutes) played {self.speed:.0f}x faster"
        )

    async def play(self, progress: Callable[[int], None]) -> None:
        """The simulator plays by itself once the daemon subscribes; this follows it."""
        while self.server.played < self.total:
            progress(self.server.played)
            await asyncio.sleep(0.1)
        progress(self.server.played)

    async def stop(self) -> None:
        await self.server.stop()
