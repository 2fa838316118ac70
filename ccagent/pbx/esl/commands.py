"""Builders for the FreeSWITCH commands ccagent sends over ESL (SPEC R-PBX-2, R-PRJ-6, R-SAFE-3).

Each builder returns the text after ``api `` / ``bgapi `` (:meth:`EslClient.api` / ``bgapi`` add the
verb), in the exact shape the lab used against a real FreeSWITCH (``tests/traces/freeswitch/*/
commands.log``).  Values come from users and contact files (a caller name, a phone number, a project
name), and an ESL command ends at a blank line, so sanitizing is not optional:

* identifiers (UUIDs, endpoints, extensions, contexts, agent names, variable names) must match a
  strict pattern, otherwise :class:`EslCommandError` names the field: a bad one is a bug upstream;
* free-text values (caller id name, project, any channel variable) are cleaned: control characters
  (CR/LF/NUL first: they would end the command and start another) become spaces; ``'`` becomes ``’``
  and ``{ } [ ] < >`` become spaces (they would close the variable block or start a per-leg block);
  ``,`` is escaped ``\\,`` (FreeSWITCH's separator of variables); a value with a space is quoted
  ``'...'``.

No builder does I/O; the daemon's dialer decides ``origination_uuid`` itself (and persists it before
sending) so a retried originate after a crash is recognised, never duplicated (R-SAFE-2).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Literal

from ccagent.pbx.esl.translate import HANGUP_CAUSES

__all__ = [
    "AGENT_STATUSES",
    "EslCommandError",
    "agent_set_status",
    "clean_value",
    "eavesdrop",
    "originate",
    "show_channels",
    "uuid_kill",
    "uuid_transfer",
    "wire",
]

AGENT_STATUSES = ("Logged Out", "Available", "Available (On Demand)", "On Break")
SpyMode = Literal["listen", "whisper", "barge"]


class EslCommandError(ValueError):
    """A command that cannot be put on the wire (the message names the field, never a secret)."""


_UUID = re.compile(r"[0-9A-Za-z][0-9A-Za-z-]{0,63}")
_VAR_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
# sofia/gateway/carrier/5552001, user/1003@127.0.0.1, loopback/1001/default, sofia/internal/1001@host:5060
_ENDPOINT = re.compile(r"[A-Za-z0-9_.+*#@:/=;-]{1,256}")
_DEST = re.compile(r"[A-Za-z0-9_.+*#@-]{1,128}")  # an extension in a dialplan context
_CONTEXT = re.compile(r"[A-Za-z0-9_.-]{1,64}")
_AGENT = re.compile(r"[A-Za-z0-9_.+-]{1,64}@[A-Za-z0-9_.-]{1,64}|[A-Za-z0-9_.+-]{1,64}")
_DIALPLANS = ("XML", "inline", "enum")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_BLOCK_CHARS = str.maketrans({"{": " ", "}": " ", "[": " ", "]": " ", "<": " ", ">": " ", "'": "’"})


def _check(pattern: re.Pattern[str], value: object, field: str) -> str:
    text = str(value)
    if not pattern.fullmatch(text):
        raise EslCommandError(f"{field}: {text[:80]!r} is not a valid value here")
    return text


def clean_value(value: object) -> str:
    """A free-text channel variable value made safe for ``{name=value,...}`` (see the module doc)."""
    text = _CONTROL.sub(" ", str(value)).translate(_BLOCK_CHARS).strip()
    text = text.replace("\\", "\\\\").replace(",", "\\,")
    return f"'{text}'" if " " in text else text


def _vars(variables: Mapping[str, object]) -> str:
    parts = []
    for name, value in variables.items():
        if value is None:
            continue
        parts.append(f"{_check(_VAR_NAME, name, f'variable name {name!r}')}={clean_value(value)}")
    return "{" + ",".join(parts) + "}" if parts else ""


def originate(
    endpoint: str,
    *,
    uuid: str,
    dest: str | None = None,
    context: str = "default",
    dialplan: str = "XML",
    app: str | None = None,
    app_arg: str | None = None,
    caller_id_number: str | None = None,
    caller_id_name: str | None = None,
    timeout_s: int | None = None,
    variables: Mapping[str, object] | None = None,
) -> str:
    """``originate {origination_uuid=..,..}<endpoint> <dest> XML <context>`` or ``... &app(arg)``.

    Send it with ``bgapi`` (the answer comes as BACKGROUND_JOB, the translator's OriginateResult).
    """
    if (dest is None) == (app is None):
        raise EslCommandError("originate: give exactly one of dest (dialplan extension) or app")
    all_vars: dict[str, object] = {"origination_uuid": _check(_UUID, uuid, "origination_uuid")}
    if caller_id_number is not None:
        all_vars["origination_caller_id_number"] = caller_id_number
    if caller_id_name is not None:
        all_vars["origination_caller_id_name"] = caller_id_name
    if timeout_s is not None:
        if not 1 <= int(timeout_s) <= 3600:
            raise EslCommandError(f"originate_timeout: {timeout_s!r} must be 1..3600 seconds")
        all_vars["originate_timeout"] = int(timeout_s)
    for name, value in (variables or {}).items():
        all_vars.setdefault(name, value)
    head = _vars(all_vars) + _check(_ENDPOINT, endpoint, "endpoint")
    if app is not None:
        name = _check(_VAR_NAME, app, "app")
        arg = "" if app_arg is None else _check(_ENDPOINT, app_arg, "app_arg")
        return f"originate {head} &{name}({arg})"
    if dialplan not in _DIALPLANS:
        raise EslCommandError(f"dialplan: {dialplan!r} must be one of {', '.join(_DIALPLANS)}")
    return f"originate {head} {_check(_DEST, dest, 'dest')} {dialplan} {_check(_CONTEXT, context, 'context')}"


def uuid_kill(uuid: str, cause: str = "NORMAL_CLEARING") -> str:
    """Hang a channel up (a supervisor's or the dialer's hangup)."""
    if cause not in HANGUP_CAUSES:
        raise EslCommandError(f"cause: {cause[:40]!r} is not a FreeSWITCH hangup cause name")
    return f"uuid_kill {_check(_UUID, uuid, 'uuid')} {cause}"


def uuid_transfer(
    uuid: str,
    dest: str,
    *,
    context: str = "default",
    dialplan: str = "XML",
    leg: Literal["self", "bleg", "both"] = "self",
) -> str:
    """Blind-transfer a channel (``-bleg``: its bridged partner; ``-both``: both ends) to ``dest``."""
    if dialplan not in _DIALPLANS:
        raise EslCommandError(f"dialplan: {dialplan!r} must be one of {', '.join(_DIALPLANS)}")
    flag = {"self": "", "bleg": " -bleg", "both": " -both"}.get(leg)
    if flag is None:
        raise EslCommandError(f"leg: {leg!r} must be self, bleg or both")
    return (
        f"uuid_transfer {_check(_UUID, uuid, 'uuid')}{flag} {_check(_DEST, dest, 'dest')} {dialplan} "
        f"{_check(_CONTEXT, context, 'context')}"
    )


def agent_set_status(agent: str, status: str) -> str:
    """mod_callcenter agent status (pause = ``On Break``, unpause = ``Available``, logout)."""
    if status not in AGENT_STATUSES:
        raise EslCommandError(f"status: {status[:40]!r} must be one of {', '.join(AGENT_STATUSES)}")
    return f"callcenter_config agent set status {_check(_AGENT, agent, 'agent')} '{status}'"


def eavesdrop(
    supervisor_endpoint: str,
    target_uuid: str,
    mode: SpyMode = "listen",
    *,
    uuid: str,
    caller_id_number: str | None = None,
    caller_id_name: str | None = None,
) -> str:
    """Ring the supervisor's phone and attach it to an agent's live channel (R-PRJ-6).

    listen: hear both sides; whisper: the agent hears the supervisor (``eavesdrop_whisper_aleg``);
    barge: both sides hear the supervisor.  The translator reads the same variables back into
    ``supervisor_listen`` / ``_whisper`` / ``_barge`` legs.
    """
    flags: dict[str, object] = {}
    if mode == "whisper":
        flags["eavesdrop_whisper_aleg"] = "true"
    elif mode == "barge":
        flags = {"eavesdrop_whisper_aleg": "true", "eavesdrop_whisper_bleg": "true"}
    elif mode != "listen":
        raise EslCommandError(f"mode: {mode!r} must be listen, whisper or barge")
    return originate(
        supervisor_endpoint,
        uuid=uuid,
        app="eavesdrop",
        app_arg=_check(_UUID, target_uuid, "target_uuid"),
        caller_id_number=caller_id_number,
        caller_id_name=caller_id_name,
        variables=flags,
    )


def show_channels() -> str:
    """The reconciliation listing (R-PBX-5)."""
    return "show channels as json"


def wire(verb: Literal["api", "bgapi"], command: str) -> bytes:
    """The bytes of one command frame; refuses anything that would end it early (a second command)."""
    if verb not in ("api", "bgapi"):
        raise EslCommandError(f"verb: {verb!r} must be api or bgapi")
    if _CONTROL.search(command):
        raise EslCommandError("command: contains a control character (CR/LF would start another command)")
    return f"{verb} {command}\n\n".encode()
