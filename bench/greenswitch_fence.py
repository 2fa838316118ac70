"""greenswitch fenced into one dedicated thread with its own gevent hub (SPEC R-PBX-2) - the losing candidate.

Kept beside ``bench/esl_client_compare.py`` so it can re-measure it (not shipped in the package);
the daemon uses :mod:`ccagent.pbx.esl.client`.
gevent is imported only inside the fence thread (never at module import, never in the asyncio thread, no
monkey-patching).  Events cross to asyncio with ``loop.call_soon_threadsafe``; a bounded asyncio queue
cannot push back on a gevent thread without blocking its hub, so the hand-off queue must be unbounded -
one of the reasons it lost (docs/decisions.md).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from typing import Any

__all__ = ["GreenswitchFence"]

log = logging.getLogger(__name__)


class GreenswitchFence:
    def __init__(
        self,
        host: str,
        port: int,
        password: str,
        *,
        queue: asyncio.Queue[Any],
        loop: asyncio.AbstractEventLoop,
        event_format: str = "plain",
        backoff_s: float = 0.2,
    ) -> None:
        if event_format != "plain":
            raise ValueError("greenswitch parses only 'event plain' (its ESLEvent unquotes a text body)")
        self.host, self.port = host, port
        self._password = password
        self.queue = queue
        self.loop = loop
        self.backoff_s = backoff_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.connections = 0
        self.events = 0

    def __repr__(self) -> str:
        return f"GreenswitchFence({self.host}:{self.port})"

    def start(self) -> None:
        self._thread = threading.Thread(target=self._main, name="greenswitch-fence", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> bool:
        """Ask the fence to leave; True when its thread really ended."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            return not self._thread.is_alive()
        return True

    def _emit(self, item: Any) -> None:
        try:
            self.loop.call_soon_threadsafe(self.queue.put_nowait, item)
        except RuntimeError:  # loop closed: the daemon is gone
            self._stop.set()

    def _main(self) -> None:
        import gevent
        import greenswitch

        def on_event(event: Any) -> None:
            headers = dict(event.headers)
            self.events += 1
            self._emit(headers)

        while not self._stop.is_set():
            con = greenswitch.InboundESL(host=self.host, port=self.port, password=self._password)
            try:
                con.connect()
                con.register_handle("*", on_event)
                con.send("event plain ALL")
                self.connections += 1
                self._emit(("up", self.connections))
                while con.connected and not self._stop.is_set():
                    gevent.sleep(0.02)
            except Exception as exc:  # greenswitch raises bare ValueError / socket errors
                log.warning("greenswitch fence: %s", type(exc).__name__)
            finally:
                try:
                    con._run = False
                    if getattr(con, "sock", None) is not None:
                        con.sock.close()
                except Exception:
                    pass
            self._emit(("down", self.connections))
            if not self._stop.is_set():
                time.sleep(self.backoff_s)
        gevent.get_hub().destroy(destroy_loop=True)
