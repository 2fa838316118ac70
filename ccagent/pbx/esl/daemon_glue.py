"""`ccagent run` on FreeSWITCH: the ESL client as the daemon's PBX session, and its queue items
turned into pipeline calls (SPEC R-PBX-2, R-PBX-5, R-SAFE-1..3).

The daemon owns ONE bounded queue and ONE consumer (STYLE lesson 8).  The ESL client fills the
queue in stream order with event dicts, :class:`ConnectionUp` (carrying the ``show channels as
json`` reply taken right after subscribing) and :class:`ConnectionDown`; the handler here applies
them in that same order, so reconciliation sees the events before and after a reconnect exactly
where they happened.  The snapshot goes through ``Pipeline.feed`` like any message (wrapped by
:func:`snapshot_message`), so a snapshot the translator cannot read is contained and counted like
any bad PBX message instead of stopping the consumer.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ccagent.pbx.esl.client import ConnectionDown, ConnectionUp, EslClient, QueueItem
from ccagent.pbx.esl.translate import FsTranslator, snapshot_message

if TYPE_CHECKING:
    from ccagent.app.daemon import Daemon

__all__ = ["FORGET_AFTER_S", "FORGET_EVERY", "make_handler", "make_session"]

log = logging.getLogger(__name__)

# Translator memory: ended channels are forgotten once they have been gone this long in PBX time
# (late mod_callcenter events still name a channel for a moment after its hangup), checked every
# FORGET_EVERY events so a months-long daemon keeps flat memory.
FORGET_AFTER_S = 300.0
FORGET_EVERY = 20_000


def make_session(daemon: Daemon) -> EslClient:
    """The ESL client the daemon runs, built from ``pbx.freeswitch`` (the password is unwrapped only here)."""
    fs = daemon.config.pbx.freeswitch
    queue: asyncio.Queue[QueueItem] = asyncio.Queue(maxsize=daemon.config.daemon.queue_size)
    return EslClient(
        fs.host,
        fs.port,
        fs.password.get_secret_value(),
        queue=queue,
        event_format=fs.event_format,
        keepalive_s=fs.ping_interval_s,
        keepalive_timeout_s=fs.ping_timeout_s,
        backoff_min=fs.reconnect_min_s,
        backoff_max=fs.reconnect_max_s,
        keep=getattr(daemon.pipeline.translator, "wants", None),  # skip unread events before decoding
    )


def make_handler(daemon: Daemon) -> Callable[[Any], None]:
    """The consumer's per-item step for FreeSWITCH; never raises on PBX data (R-SAFE-1)."""
    pipeline = daemon.pipeline
    translator = pipeline.translator
    seen = 0

    def handle(item: Any) -> None:
        nonlocal seen
        if isinstance(item, dict):
            pipeline.feed(item, daemon.clock(), time.monotonic())
            seen += 1
            if seen % FORGET_EVERY == 0 and isinstance(translator, FsTranslator) and translator.last_ts:
                translator.forget_finished(before_ts=translator.last_ts - FORGET_AFTER_S)
        elif isinstance(item, ConnectionUp):
            if item.connection > 1:
                daemon.metrics.reconnects.inc()
                log.info("esl connection %d up: reconciling open calls with show channels", item.connection)
            pipeline.feed(snapshot_message(item.channels_json), daemon.clock(), time.monotonic())
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
            pipeline.connection_lost(_pbx_now(translator, daemon.clock()))
        else:
            log.error("ignoring an unknown item on the ESL queue: %s", type(item).__name__)

    return handle


def _pbx_now(translator: object, fallback: float) -> float:
    last = getattr(translator, "last_ts", 0.0)
    return last if last else fallback
