"""``ccagent agent list|pause|ready`` (issue 6 item 5, R-PRJ-5, R-OPS-1).

``pause`` / ``ready`` go to the PBX, never straight to the database, through the PBX adapter
(``PbxAdapter.set_paused``: Asterisk ``QueuePause`` over AMI, FreeSWITCH ``callcenter_config agent
set status`` over ESL).  The PBX then reports the change
like any other (QueueMemberPause / callcenter::info), so the running daemon's agent states and
``report_agent_states`` follow from the PBX's own word, whoever paused the agent.

``list`` prints each agent's latest PBX-reported state from ``report_agent_states`` (talking and
wrap-up live in the running daemon's memory: see docs/dialer.md).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import sys
from collections.abc import Sequence
from os import EX_DATAERR, EX_NOINPUT, EX_UNAVAILABLE
from typing import Any

from ccagent.config import Config, load_config

__all__ = ["agent_states", "register", "set_paused"]


def agent_states(db_url: str) -> list[dict[str, Any]]:
    """Latest state per (pbx, extension) from ``report_agent_states``.

    The history is replayed through the dialer's own agent board, so the list means what the live
    board makes of the same facts (a logout from one of two queues keeps the agent in).
    """
    from datetime import UTC, datetime

    from sqlalchemy import select

    from ccagent.core.agents import replay_statuses
    from ccagent.core.pbx_events import AgentStatus
    from ccagent.storage import db
    from ccagent.storage.views import report_agent_states as v

    engine = db.make_engine(db_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(select(v).order_by(v.c.at, v.c.state_id)).mappings().all()
    finally:
        engine.dispose()
    out: list[dict[str, Any]] = []
    for pbx in sorted({r["pbx"] for r in rows}):
        mine = [r for r in rows if r["pbx"] == pbx]
        employee = {r["extension"]: r["employee"] for r in mine}  # the latest mapping wins
        history = [
            AgentStatus(r["at"].timestamp(), r["extension"], r["queue"], r["action"], r["reason"])
            for r in mine
        ]
        board, _ = replay_statuses(history, until=history[-1].ts)
        out += [
            {
                "pbx": pbx,
                "extension": a.extension,
                "employee": employee[a.extension],
                "state": a.state.value,
                "reason": a.reason,
                "queues": list(a.queues),
                "since": datetime.fromtimestamp(a.since, UTC).isoformat(),
            }
            for a in board.view()
        ]
    return out


async def set_paused(
    config: Config,
    extension: str,
    paused: bool,
    *,
    queue: str | None = None,
    reason: str | None = None,
    interface_template: str | None = None,
    agent_template: str | None = None,
    timeout: float = 10.0,
) -> str:
    """Pause (with a reason code) or unpause an agent on the configured PBX; returns its answer.

    The agent's PBX name comes from the config (``pbx.asterisk.agent_interface``,
    ``pbx.freeswitch.agent_name`` / ``agents``) unless a template is given on the command line."""
    if not extension.strip():
        raise ValueError("extension: empty")
    if not (timeout > 0 and math.isfinite(timeout)):
        raise ValueError(f"--timeout: must be a number of seconds above 0, got {timeout!r}")
    from ccagent.app.bootstrap import pbx_adapter

    adapter = pbx_adapter(config)
    option, _default = adapter.agent_option  # the PBX names its agents its own way
    template = {"--interface": interface_template, "--agent": agent_template}[option]
    if template is None:
        target = adapter.agent_name(extension)
    else:
        try:
            target = template.format(ext=extension)
        except (KeyError, IndexError, ValueError):
            raise ValueError(f"{option}: {template!r} may only use {{ext}}") from None
    return await adapter.set_paused(target, paused, queue=queue, reason=reason, timeout=timeout)


def _cmd_list(args: argparse.Namespace) -> int:
    from ccagent.storage.db import missing_sqlite_file

    config = load_config(args.config)
    url = args.db or config.database.url
    missing = missing_sqlite_file(url)
    if missing is not None:
        print(f"ccagent agent: no database at {missing}", file=sys.stderr)
        return EX_NOINPUT
    rows = agent_states(url)
    if args.format == "json":
        print(json.dumps(rows, ensure_ascii=False, indent=1))
        return 0
    print(f"{'extension':<10} {'state':<11} {'reason':<16} {'queues':<24} since")
    for r in rows:
        print(
            f"{r['extension']:<10} {r['state']:<11} {(r['reason'] or ''):<16} "
            f"{','.join(r['queues']):<24} {r['since']}"
        )
    return 0


def _cmd_pause(args: argparse.Namespace, paused: bool) -> int:
    config = load_config(args.config)
    try:
        answer = asyncio.run(
            set_paused(
                config,
                args.extension,
                paused,
                queue=args.queue,
                reason=getattr(args, "reason", None),
                interface_template=args.interface,
                agent_template=args.agent,
                timeout=args.timeout,
            )
        )
    except ValueError as exc:  # a bad extension / reason (names the field)
        print(f"ccagent agent: {exc}", file=sys.stderr)
        return EX_DATAERR
    except (OSError, TimeoutError, RuntimeError) as exc:
        print(f"ccagent agent: {exc}", file=sys.stderr)
        return EX_UNAVAILABLE
    print(answer)
    return 0


def register(subparsers: Any) -> None:
    """Add ``ccagent agent ...`` to the main parser (one line in ``ccagent.cli.build_parser``)."""
    sp = subparsers.add_parser("agent", help="operators: list states, pause, make ready (via the PBX)")
    asub = sp.add_subparsers(dest="agent_command", required=True)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("-c", "--config", help="YAML config file (default: built-in defaults)")

    ls = asub.add_parser("list", help="each agent's latest state as the PBX reported it")
    common(ls)
    ls.add_argument("--db", help="database URL (default: from config)")
    ls.add_argument("--format", choices=("table", "json"), default="table")
    ls.set_defaults(func=_cmd_list)

    for name, paused, text in (
        ("pause", True, "pause an agent (QueuePause / On Break)"),
        ("ready", False, "unpause an agent (QueuePause false / Available)"),
    ):
        p = asub.add_parser(name, help=text)
        common(p)
        p.add_argument("extension")
        p.add_argument("--queue", help="Asterisk: only this queue (default: all the agent's queues)")
        if paused:
            p.add_argument("--reason", help="pause reason code (Asterisk PausedReason)")
        p.add_argument(
            "--interface", help="Asterisk member interface template (default: pbx.asterisk.agent_interface)"
        )
        p.add_argument(
            "--agent",
            help="FreeSWITCH agent name template (default: pbx.freeswitch.agents, then agent_name)",
        )
        p.add_argument(
            "--timeout", type=float, default=10.0, help="seconds to reach the PBX (default: %(default)s)"
        )
        p.set_defaults(func=lambda a, paused=paused: _cmd_pause(a, paused))


def main(argv: Sequence[str] | None = None) -> int:  # pragma: no cover - ccagent.cli is the entry point
    parser = argparse.ArgumentParser(prog="ccagent")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return int(args.func(args))
