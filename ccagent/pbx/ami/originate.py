"""Dialer originates, pauses and supervisor spying on Asterisk over AMI (issue 6; R-PRJ-1, R-PRJ-6).

The dialer's :class:`~ccagent.core.dialer.engine.Originate` becomes an async AMI ``Originate``:
``ChannelId`` is the id chosen (and stored) before sending, so the customer channel's Uniqueid is
known in advance and a restarted daemon finds it among the live channels; the project, attempt and
contact travel as channel variables (``CCAGENT_PROJECT`` is what the leg engine reads; the
dialplan in ``dialplan/asterisk`` reports results with UserEvents).  The answered customer runs the
project's context/exten (queue with the 2 s safe harbour, autoinformer, robot).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any

from ccagent.core.dialer.engine import Originate, OriginateUncertain
from ccagent.pbx.ami import actions as A
from ccagent.pbx.ami.client import AmiActionTimeout, AmiConnectionLost

__all__ = ["AmiOriginator", "originate_action", "pause_action", "spy_action"]

_IFACE = re.compile(r"^[A-Za-z0-9_]+/[A-Za-z0-9_.+*#@:-]+$")
#: A queue member interface: ``PJSIP/101``, FreePBX ``Local/101@from-queue/n`` (issue 13).
_MEMBER = re.compile(r"^[A-Za-z0-9_]+/[A-Za-z0-9_.+*#@:/-]+$")
#: A complete dial string (``PJSIP/0441234567@trunk``, ``Local/0441234567@from-internal/n``): the
#: config's template checked its literal text; this keeps any other value off the wire.
_DIAL = re.compile(r"^[A-Za-z0-9_]+/[A-Za-z0-9_./@:;+*#=-]+$")
#: The channel variable carrying the dial string, for a dialplan that dials the customer itself
#: (``ccagent-callback`` in dialplan/asterisk/extensions_ccagent.conf).
DIAL_VARIABLE = "CCAGENT_DIAL"
_SPY_OPTIONS = {"listen": "qE", "whisper": "qwE", "barge": "qBE"}  # E: end when the agent hangs up


def originate_action(cmd: Originate) -> A.Action:
    """The AMI action for one attempt (``Async`` so the outcome arrives as ``OriginateResponse``).

    The channel is the attempt's dial string, built from the configured template and trunk
    (``pbx.asterisk.dial_string``, ``trunk``; a project's settings override them)."""
    number = cmd.number.strip()
    if not re.fullmatch(r"\+?[0-9*#]{2,32}", number):
        raise A.ActionError(f"number: {number[:40]!r} is not a dialable number (attempt {cmd.attempt_id})")
    if not cmd.dial:
        raise A.ActionError(
            f"no dial string for attempt {cmd.attempt_id}: the project has no trunk "
            "(pbx.asterisk.trunk) or its number does not take the number_format"
        )
    if not _DIAL.match(cmd.dial):
        raise A.ActionError(f"dial string {cmd.dial[:60]!r} is not a channel (attempt {cmd.attempt_id})")
    caller_id = f'"Dialer" <{cmd.caller_id}>' if cmd.caller_id else None
    return A.originate(
        cmd.dial,
        context=cmd.context,
        exten=cmd.exten,
        priority=1,
        timeout_ms=int(cmd.timeout_s) * 1000,
        caller_id=caller_id,
        variables=(*cmd.variables, (DIAL_VARIABLE, cmd.dial)),
        channel_id=cmd.channel_id,
        async_=True,
    )


def pause_action(
    interface: str, paused: bool, *, queue: str | None = None, reason: str | None = None
) -> A.Action:
    """``ccagent agent pause|ready``: QueuePause on the PBX (the PBX's own event updates the state)."""
    if not _MEMBER.match(interface):
        raise A.ActionError(f"interface: {interface[:40]!r} must look like PJSIP/101")
    return A.queue_pause(interface, paused, queue=queue, reason=reason if paused else None)


def spy_action(
    supervisor_interface: str, agent_interface: str, mode: str = "listen", *, caller_id: str | None = None
) -> A.Action:
    """Ring the supervisor's phone into ChanSpy on the agent's channel (R-PRJ-6): q / qw / qB.

    Exactly the lab's actions (captures 13 and 29): ``q`` quiet (no beep), ``w`` whisper to the
    agent, ``B`` barge (both hear the supervisor), ``E`` end when the spied channel hangs up.

    The supervisor call is a leg of its own (``supervisor_listen|whisper|barge``, R-LEG-4): the
    translator reads the ChanSpy options back from this Originate's ``Data``.
    """
    opts = _SPY_OPTIONS.get(mode)
    if opts is None:
        raise A.ActionError(f"mode: {mode!r} must be listen, whisper or barge")
    for name, value in (("supervisor_interface", supervisor_interface), ("agent_interface", agent_interface)):
        if not _IFACE.match(value):
            raise A.ActionError(f"{name}: {value[:40]!r} must look like PJSIP/101")
    return A.originate(
        supervisor_interface,
        application="ChanSpy",
        data=f"{agent_interface},{opts}",
        caller_id=caller_id,
        async_=True,
    )


class AmiOriginator:
    """:class:`~ccagent.app.dialer.OriginatePort` over a connected AMI client.

    ``send_action`` is any ``AmiClient.send_action``: it writes the action at once and awaits the
    ``Response`` (never the call's outcome, which comes later as an event in the queue).
    """

    def __init__(
        self,
        send_action: Callable[..., Awaitable[Any]],
        *,
        timeout: float = 10.0,
    ) -> None:
        self._send = send_action
        self.timeout = timeout

    async def originate(self, cmd: Originate) -> str | None:
        action = originate_action(cmd)
        try:
            response = await self._send(action, timeout=self.timeout)
        except (AmiConnectionLost, AmiActionTimeout) as exc:  # written: Asterisk may be dialing
            raise OriginateUncertain(str(exc)) from exc
        if response.get("Response") != "Success":
            raise RuntimeError(
                f"Originate to {A.get_header(action, 'Channel')} refused: {response.get('Message', '')[:120]}"
            )
        aid: str | None = response.get("ActionID")
        return aid
