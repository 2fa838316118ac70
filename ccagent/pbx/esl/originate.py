"""Dialer originates and agent pause on FreeSWITCH over ESL (issue 6; R-PRJ-1, R-PRJ-6).

``bgapi originate`` with ``origination_uuid`` = the channel id the dialer chose and stored before
sending (so the customer channel's Unique-ID, and the call id, are known in advance and a restarted
daemon recognises the call in ``show channels``).  The BACKGROUND_JOB comes back through the event
stream as an ``OriginateResult`` keyed by the Job-UUID this port returns.  Command text is built
and sanitized by :mod:`ccagent.pbx.esl.commands`.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from typing import Any

from ccagent.core.dialer.engine import Originate, OriginateUncertain
from ccagent.pbx.esl import commands
from ccagent.pbx.esl.client import EslCommandTimeout, EslConnectionLost

__all__ = ["EslOriginator", "originate_command", "pause_command"]

_NUMBER = re.compile(r"\+?[0-9*#]{2,32}")
_DIAL = re.compile(r"[A-Za-z0-9_]+/[A-Za-z0-9_./@:;+*#=-]+")


def originate_command(cmd: Originate) -> str:
    """``originate`` to the attempt's dial string, built from the configured template and gateway
    (``pbx.freeswitch.dial_string``, ``gateway``; a project's settings override them)."""
    number = cmd.number.strip()
    if not _NUMBER.fullmatch(number):
        raise commands.EslCommandError(
            f"number: {number[:40]!r} is not a dialable number (attempt {cmd.attempt_id})"
        )
    if not cmd.dial:
        raise commands.EslCommandError(
            f"no dial string for attempt {cmd.attempt_id}: the project has no gateway "
            "(pbx.freeswitch.gateway) or its number does not take the number_format"
        )
    if not _DIAL.fullmatch(cmd.dial):
        raise commands.EslCommandError(f"dial string {cmd.dial[:60]!r} is not an endpoint")
    return commands.originate(
        cmd.dial,
        uuid=cmd.channel_id,
        dest=cmd.exten,
        context=cmd.context,
        caller_id_number=cmd.caller_id,
        timeout_s=cmd.timeout_s,
        variables={**dict(cmd.variables), "ignore_early_media": "true"},
    )


def pause_command(agent: str, paused: bool) -> str:
    """``ccagent agent pause|ready``: mod_callcenter ``On Break`` / ``Available``."""
    return commands.agent_set_status(agent, "On Break" if paused else "Available")


class EslOriginator:
    """:class:`~ccagent.app.dialer.OriginatePort` over ``EslClient.bgapi`` (returns the Job-UUID)."""

    def __init__(
        self,
        bgapi: Callable[[str], Awaitable[tuple[str, asyncio.Future[Any]]]],
    ) -> None:
        self._bgapi = bgapi

    async def originate(self, cmd: Originate) -> str | None:
        command = originate_command(cmd)
        try:
            job, _result = await self._bgapi(command)
        except (EslConnectionLost, EslCommandTimeout) as exc:  # written: FreeSWITCH may be dialing
            raise OriginateUncertain(str(exc)) from exc
        return job
