"""systemd ``Type=notify`` support (R-OPS-5): READY, WATCHDOG, STOPPING, STATUS.

A raw datagram to ``$NOTIFY_SOCKET`` is the whole protocol (sd_notify(3)), so
this needs no library; with no ``$NOTIFY_SOCKET`` (not under systemd, tests)
every call is a no-op.  A failed send is logged once and never raised: the
daemon must not die because its supervisor's socket went away.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Mapping

__all__ = ["SystemdNotifier", "watchdog_interval"]

log = logging.getLogger("ccagent.sysd")


def watchdog_interval(env: Mapping[str, str] | None = None) -> float | None:
    """Seconds between WATCHDOG=1 pings: half of ``$WATCHDOG_USEC`` (None when no watchdog).

    ``$WATCHDOG_PID``, when set, must be our pid (the variable may be inherited by a child).
    """
    e = os.environ if env is None else env
    usec = e.get("WATCHDOG_USEC", "")
    pid = e.get("WATCHDOG_PID", "")
    if not usec.isdigit() or int(usec) <= 0:
        return None
    if pid and pid != str(os.getpid()):
        return None
    return int(usec) / 1_000_000 / 2


class SystemdNotifier:
    """``ready()``, ``watchdog()``, ``stopping()``, ``status(text)`` for the daemon."""

    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        e = os.environ if env is None else env
        path = e.get("NOTIFY_SOCKET", "")
        self.address: str | None = None
        if path:
            # "@name" is an abstract-namespace socket: the kernel wants a leading NUL.
            self.address = "\0" + path[1:] if path.startswith("@") else path
        self.watchdog_interval = watchdog_interval(e)
        self._sock: socket.socket | None = None
        self._warned = False

    @property
    def enabled(self) -> bool:
        return self.address is not None

    def notify(self, state: str) -> bool:
        if self.address is None:
            return False
        try:
            if self._sock is None:
                self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
            self._sock.sendto(state.encode("utf-8"), self.address)
            return True
        except OSError as exc:
            if not self._warned:
                log.warning("systemd notify failed (%s); continuing without it", exc)
                self._warned = True
            return False

    def ready(self) -> None:
        self.notify("READY=1")

    def watchdog(self) -> None:
        self.notify("WATCHDOG=1")

    def stopping(self) -> None:
        self.notify("STOPPING=1")

    def status(self, text: str) -> None:
        self.notify("STATUS=" + text.replace("\n", " "))

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
