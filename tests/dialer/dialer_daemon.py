"""The daemon with the dialer plugged in, composed the way the integrator will wire it (issue 6).

``DialerDaemon`` is the real :class:`~ccagent.app.daemon.Daemon`, built from the composition
root's parts, plus the three hooks documented in ``ccagent.app.dialer``: every normalized event
goes to ``service.on_event`` after the leg engine, the daemon's committed-call listener
``service.on_calls`` settles attempts (on the loop), and the ONE consumer ticks the dialer once per
``tick_s`` of the (accelerated) clock between queue items.

Run as a script (the kill -9 test): ``python -m tests.dialer.dialer_daemon SPEC.json``.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from ccagent.app.bootstrap import daemon_parts
from ccagent.app.daemon import Daemon, NullNotifier
from ccagent.app.dialer import AttemptContacts, DialerService, RetryRules
from ccagent.config import Config, parse_config
from ccagent.core.dialer.pacer import PredictivePacer, ProgressivePacer
from ccagent.sim.ami_server import SimAsterisk
from ccagent.sim.dialer_script import AmiDialerScript
from ccagent.sim.esl_dialer_script import DialerEslServer, FsDialerScript
from ccagent.storage.attempts_repo import AttemptStore
from tests.dialer.helpers import lab_run
from tests.waiting import wait_for

SECRET = "dialer-s3cret"


class AccelClock:
    """PBX-like epoch time running ``speed`` times faster than the wall, continuous across processes."""

    def __init__(self, speed: float, t0: float, w0: float | None = None) -> None:
        self.speed, self.t0 = speed, t0
        self.w0 = time.time() if w0 is None else w0

    def __call__(self) -> float:
        return self.t0 + (time.time() - self.w0) * self.speed


class SimPbx:
    """A simulated PBX of either kind with its scripted customers and agents, and how to wait for a
    daemon -- in this process or another one -- to be connected before announcing the agents."""

    def __init__(
        self,
        kind: str,
        outcome: Callable[[str, int], str],
        *,
        agents: Sequence[str],
        clock: AccelClock,
        speed: float,
        wrap_s: float = 3.0,
    ) -> None:
        self.kind = kind
        self.sim: Any
        self.script: Any
        if kind == "asterisk":
            self.sim = SimAsterisk(username="ccagent", secret=SECRET, trunks=(TRUNK,))
            self.script = AmiDialerScript(
                self.sim, outcome, agents=agents, clock=clock, speed=speed, wrap_s=wrap_s
            )
        else:
            self.sim = DialerEslServer(password=SECRET, gateways=(TRUNK,))
            self.script = FsDialerScript(
                self.sim, outcome, agents=agents, clock=clock, speed=speed, wrap_s=wrap_s
            )

    @property
    def port(self) -> int:
        return int(self.sim.port)

    async def start(self) -> None:
        await self.sim.start()
        self.script.install()

    async def stop(self) -> None:
        await self.sim.stop()

    async def daemon_ready_and_agents_in(self, queue: str = "support") -> None:
        """The daemon is connected; the agents (logged in at the PBX) are announced to it."""
        if self.kind == "asterisk":
            await self.sim.wait_logged_in(1, timeout=20.0)
            await self.script.login_agents(queue)
        else:
            await wait_for(lambda: self.sim.subscribed, 20, "daemon did not subscribe to events")
            await asyncio.sleep(0.2)
            self.script.login_agents()


#: The trunk (Asterisk) / gateway (FreeSWITCH) of the e2e floor: a name in no capture, so the
#: originates on the wire can only carry it because the config said so (issue 13).
TRUNK = "acme-out"


def config_for(port: int, db_url: str, pbx: str = "asterisk") -> Config:
    if pbx == "asterisk":
        pbx_cfg: dict[str, Any] = {
            "type": "asterisk",
            "asterisk": {
                "port": port,
                "username": "ccagent",
                "secret": SECRET,
                "trunk": TRUNK,
                "ping_interval_s": 5.0,
                "ping_timeout_s": 5.0,
                "reconnect_min_s": 0.05,
                "reconnect_max_s": 0.3,
            },
        }
    else:
        pbx_cfg = {
            "type": "freeswitch",
            "freeswitch": {
                "port": port,
                "password": SECRET,
                "gateway": TRUNK,
                "ping_interval_s": 5.0,
                "ping_timeout_s": 5.0,
                "reconnect_min_s": 0.05,
                "reconnect_max_s": 0.3,
            },
        }
    return parse_config({"pbx": pbx_cfg, "database": {"url": db_url}})


class DialerDaemon(Daemon):
    def __init__(
        self,
        config: Config,
        *,
        contacts: AttemptContacts,
        clock: Callable[[], float],
        tick_s: float = 1.0,
        port: Any = None,
        keep_latencies: bool = False,
    ) -> None:
        wiring, live = daemon_parts(config, clock=clock)
        super().__init__(wiring, live, notifier=NullNotifier(), clock=clock)
        self.config = config
        store = AttemptStore(self.wiring.engine)
        self.dialer = DialerService(
            store=store,
            contacts=contacts,
            port=port or live.originator,
            clock=clock,
            keep_latencies=keep_latencies,
        )
        contacts.load(store)
        self.dialer.restore()
        # The daemon's own hooks, exactly as ccagent.app.bootstrap.attach_dialer uses them.
        self.tick_s = tick_s
        self.idle_wait_s = 0.02  # the clock runs fast: let the one consumer tick often enough
        self.pipeline.event_listeners.append(self.dialer.on_event)
        self.commit_listeners.append(self.dialer.on_calls)
        self.tickers.append(self.dialer.tick)


def make_contacts(spec: Mapping[str, Sequence[Sequence[str]]], rules: Mapping[str, Any]) -> AttemptContacts:
    return AttemptContacts(
        {pid: [(c[0], c[1]) for c in items] for pid, items in spec.items()},
        RetryRules(max_attempts=int(rules.get("max_attempts", 3)), retry_s=dict(rules.get("retry_s", {}))),
    )


def dial_for(config: Config) -> str:
    """The e2e floor's dial string: the configured template with its trunk (issue 13)."""
    if config.pbx.type == "asterisk":
        return config.pbx.asterisk.dial_string.replace("{trunk}", TRUNK)
    return config.pbx.freeswitch.dial_string.replace("{gateway}", TRUNK)


def start_projects(daemon: DialerDaemon, projects: Sequence[Mapping[str, Any]]) -> None:
    for p in projects:
        p = dict(p)
        pacer = PredictivePacer() if p.pop("pacer", "progressive") == "predictive" else ProgressivePacer()
        if "variables" in p:
            p["variables"] = tuple(tuple(x) for x in p["variables"])
        p.setdefault("dial", dial_for(daemon.config))  # what the adapter's dial plan would give
        daemon.dialer.start_project(lab_run(**p), pacer)


async def _main(spec: dict[str, Any]) -> int:
    clock = AccelClock(spec["speed"], spec["t0"], spec["w0"])
    contacts = make_contacts(spec["contacts"], spec["rules"])
    config = config_for(spec["port"], spec["db_url"], spec.get("pbx", "asterisk"))
    daemon = DialerDaemon(config, contacts=contacts, clock=clock)
    start_projects(daemon, spec["projects"])
    return await daemon.run()


if __name__ == "__main__":
    import logging

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    sys.exit(asyncio.run(_main(json.loads(Path(sys.argv[1]).read_text("utf-8")))))
