"""Builders for the AMI actions ccagent sends (R-PBX-1), serialized to wire bytes.

An action is a list of ``(key, value)`` pairs, because AMI allows repeated
keys (``Variable:`` in Originate).  Values can come from users (an operator's
pause reason, a contact's phone number, a project's variable), so every key and
value is sanitized: a CR or LF inside a value would let a caller inject a
second header or a whole second action ("header injection"), so they are
replaced by spaces; keys must be plain tokens.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

__all__ = [
    "Action",
    "ActionError",
    "core_show_channels",
    "filter_add",
    "hangup",
    "login",
    "logoff",
    "originate",
    "ping",
    "queue_add",
    "queue_pause",
    "queue_remove",
    "redirect",
    "serialize",
    "user_event",
]

Action = list[tuple[str, str]]
ActionLike = Mapping[str, str | Sequence[str]] | Sequence[tuple[str, str]]


class ActionError(ValueError):
    """An action that cannot be put on the wire (bad key)."""


_BAD_VALUE_CHARS = str.maketrans({"\r": " ", "\n": " ", "\x00": " "})


def _clean_value(value: object) -> str:
    return str(value).translate(_BAD_VALUE_CHARS)


def _check_key(key: str) -> str:
    if not key or not all(c.isalnum() or c in "-_" for c in key):
        raise ActionError(f"invalid AMI header name {key!r}: only letters, digits, '-' and '_' allowed")
    return key


def to_pairs(action: ActionLike) -> Action:
    """Normalize a dict (list values = repeated keys) or a pair list to pairs."""
    if isinstance(action, Mapping):
        pairs: Action = []
        for key, value in action.items():
            if isinstance(value, (list, tuple)):
                pairs.extend((key, str(v)) for v in value)
            else:
                pairs.append((key, str(value)))
        return pairs
    return [(str(k), str(v)) for k, v in action]


def serialize(action: ActionLike) -> bytes:
    """Wire form: ``Key: Value`` CRLF lines, blank line, UTF-8; values sanitized."""
    lines = [f"{_check_key(k)}: {_clean_value(v)}" for k, v in to_pairs(action)]
    if not lines or lines[0].split(":", 1)[0].lower() != "action":
        raise ActionError("an AMI action must start with its 'Action' header")
    lines.append("\r\n")
    return "\r\n".join(lines).encode("utf-8")


def get_header(action: Action, key: str) -> str | None:
    low = key.lower()
    for k, v in action:
        if k.lower() == low:
            return v
    return None


def with_action_id(action: ActionLike, action_id: str) -> Action:
    """Same action with ``ActionID`` set (replacing any given one)."""
    pairs = [(k, v) for k, v in to_pairs(action) if k.lower() != "actionid"]
    pairs.insert(1, ("ActionID", action_id))
    return pairs


def login(username: str, secret: str, events: str = "on") -> Action:
    return [("Action", "Login"), ("Username", username), ("Secret", secret), ("Events", events)]


def logoff() -> Action:
    return [("Action", "Logoff")]


def ping() -> Action:
    return [("Action", "Ping")]


def core_show_channels() -> Action:
    return [("Action", "CoreShowChannels")]


def filter_add(expression: str) -> Action:
    """Server-side event filter (manager.conf ``eventfilter`` syntax, e.g. ``Event: Newchannel``).

    Cheaper than the client pre-filter when the PBX honours it; the ``!``
    prefix excludes.  Needs ``Events`` not ``off`` at login.
    """
    return [("Action", "Filter"), ("Operation", "Add"), ("Filter", expression)]


def originate(
    channel: str,
    *,
    context: str | None = None,
    exten: str | None = None,
    priority: int | str = 1,
    application: str | None = None,
    data: str | None = None,
    timeout_ms: int | None = None,
    caller_id: str | None = None,
    variables: Mapping[str, str] | Iterable[tuple[str, str]] | None = None,
    account: str | None = None,
    early_media: bool | None = None,
    async_: bool = True,
    codecs: str | None = None,
    channel_id: str | None = None,
    other_channel_id: str | None = None,
) -> Action:
    """Originate; ``async_`` (default) so the result comes as ``OriginateResponse``.

    Either a dialplan target (``context``/``exten``/``priority``) or an
    ``application`` (+ ``data``) is required, as Asterisk demands.
    """
    if application is None and (context is None or exten is None):
        raise ActionError("Originate needs context and exten, or an application")
    act: Action = [("Action", "Originate"), ("Channel", channel)]
    if application is not None:
        act.append(("Application", application))
        if data is not None:
            act.append(("Data", data))
    else:
        act += [("Context", context or ""), ("Exten", exten or ""), ("Priority", str(priority))]
    if timeout_ms is not None:
        act.append(("Timeout", str(int(timeout_ms))))
    if caller_id is not None:
        act.append(("CallerID", caller_id))
    if account is not None:
        act.append(("Account", account))
    if early_media is not None:
        act.append(("EarlyMedia", "true" if early_media else "false"))
    if codecs is not None:
        act.append(("Codecs", codecs))
    if channel_id is not None:
        act.append(("ChannelId", channel_id))
    if other_channel_id is not None:
        act.append(("OtherChannelId", other_channel_id))
    act.append(("Async", "true" if async_ else "false"))
    items = variables.items() if isinstance(variables, Mapping) else (variables or ())
    for name, value in items:
        if "=" in name:
            raise ActionError(f"Originate variable name {name!r} must not contain '='")
        act.append(("Variable", f"{name}={value}"))
    return act


def hangup(channel: str, cause: int | None = None) -> Action:
    act: Action = [("Action", "Hangup"), ("Channel", channel)]
    if cause is not None:
        act.append(("Cause", str(int(cause))))
    return act


def redirect(
    channel: str,
    context: str,
    exten: str,
    priority: int | str = 1,
    *,
    extra_channel: str | None = None,
) -> Action:
    act: Action = [("Action", "Redirect"), ("Channel", channel)]
    if extra_channel is not None:
        act.append(("ExtraChannel", extra_channel))
    act += [("Exten", exten), ("Context", context), ("Priority", str(priority))]
    return act


def queue_add(
    queue: str,
    interface: str,
    *,
    member_name: str | None = None,
    penalty: int | None = None,
    paused: bool | None = None,
    state_interface: str | None = None,
) -> Action:
    act: Action = [("Action", "QueueAdd"), ("Queue", queue), ("Interface", interface)]
    if member_name is not None:
        act.append(("MemberName", member_name))
    if penalty is not None:
        act.append(("Penalty", str(int(penalty))))
    if paused is not None:
        act.append(("Paused", "true" if paused else "false"))
    if state_interface is not None:
        act.append(("StateInterface", state_interface))
    return act


def queue_remove(queue: str, interface: str) -> Action:
    return [("Action", "QueueRemove"), ("Queue", queue), ("Interface", interface)]


def queue_pause(
    interface: str, paused: bool, *, queue: str | None = None, reason: str | None = None
) -> Action:
    act: Action = [
        ("Action", "QueuePause"),
        ("Interface", interface),
        ("Paused", "true" if paused else "false"),
    ]
    if queue is not None:
        act.append(("Queue", queue))
    if reason is not None:
        act.append(("Reason", reason))
    return act


def user_event(name: str, headers: Mapping[str, str] | Iterable[tuple[str, str]] = ()) -> Action:
    act: Action = [("Action", "UserEvent"), ("UserEvent", name)]
    items = headers.items() if isinstance(headers, Mapping) else headers
    act.extend((str(k), str(v)) for k, v in items)
    return act
