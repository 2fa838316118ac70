"""The PBX port: what the application needs of a PBX, and nothing more (issue 12).

The application (``ccagent.app``) never learns which PBX it runs on: the composition root
(``ccagent.app.bootstrap``) picks ONE adapter from ``pbx.type`` through
:mod:`ccagent.pbx.registry`, and everything PBX-specific comes from that adapter, already built.
An adapter is bound to one configuration (its translator is built from ``legs``, its session from
``pbx.<name>``), so no method here takes a PBX name and none returns something to be probed.

Threads: everything here runs on the daemon's event loop (sessions, steps, originators) or in the
single-threaded offline ingest (translators, capture readers).  A step is called by the daemon's
ONE consumer, in queue order, so the translator and the pipeline are never touched concurrently.

Listen / whisper / barge are not part of the port: the translators read supervisor legs from the
stream, but no code of ccagent asks a PBX to start one today (``pbx.ami.originate.spy_action`` and
``pbx.esl.commands.eavesdrop`` build the commands; nothing sends them).  They join the port with
their first caller.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from ccagent.core import pbx_events as ev
from ccagent.core.dialer.engine import Originate
from ccagent.core.dialstring import NumberFormat
from ccagent.core.projects import Project

__all__ = [
    "DemoStream",
    "DialPlan",
    "Live",
    "Originator",
    "PbxAdapter",
    "PipelineOps",
    "Session",
    "Step",
    "Translator",
    "dial_format",
]


class Translator(Protocol):
    """Raw PBX messages -> normalized events; the pipeline's only view of the PBX's vocabulary."""

    #: Newest PBX time seen (0.0 before the first event): a lost connection is stamped with it.
    last_ts: float

    def translate(self, msg: Mapping[str, str], now: float | None = None) -> list[ev.PbxEvent]:
        """Events of one raw message; ``now`` stamps what carries no PBX time (listings)."""
        ...

    def wants(self, raw: bytes, /) -> bool:
        """Raw pre-filter: would :meth:`translate` use this undecoded message?  Skipping the rest
        before decoding is most of the ingest's speed; the adapter hands it to its parsers."""
        ...

    def restore(self, events: Iterable[ev.PbxEvent]) -> None:
        """Take back the state of calls in progress from a restarted daemon's journal (R-SAFE-2)."""
        ...


class PipelineOps(Protocol):
    """The neutral operations a step turns its PBX's queue items into (``Pipeline`` implements them)."""

    def feed(self, msg: Mapping[str, str], now: float | None = None, arrived: float | None = None) -> None:
        """One raw PBX message (an event, or a listing the translator reads as a snapshot)."""
        ...

    def connection_lost(self, now: float | None = None) -> None:
        """The connection ended at ``now`` (PBX time when known): events until the next snapshot are lost."""
        ...

    def reconnected(self) -> None:
        """A connection after the first came up (counted; its snapshot reconciles)."""
        ...


#: The daemon consumer's per-item step: one queue item -> :class:`PipelineOps` calls.  Never raises
#: on PBX data (R-SAFE-1); an item it does not know is logged and skipped.
Step = Callable[[object], None]


class Session(Protocol):
    """A live PBX connection: fills ONE bounded queue, in stream order, until closed (STYLE lesson 8).

    The queue holds the adapter's own items (raw messages, connection changes, listings); only the
    adapter's :data:`Step` reads them.  The reconcile request is the session's own business: on
    every (re)connection it asks the PBX for its live channels and queues the answer at its place
    in the stream, so the step can feed it after the events that preceded it (R-PBX-5).
    """

    @property
    def queue(self) -> asyncio.Queue[Any]: ...

    @property
    def connected(self) -> bool:
        """Logged in and subscribed now (the dialer ticks only then)."""
        ...

    @property
    def metrics(self) -> object:
        """A dataclass of plain counters, exported as ``ccagent_pbx_client_<field>``."""
        ...

    async def run(self) -> None:
        """Connect and stay connected (reconnecting with backoff) until :meth:`close`; raises only
        on what no retry mends, e.g. a refused login (:meth:`PbxAdapter.is_auth_error`)."""
        ...

    async def close(self) -> None: ...


class Originator(Protocol):
    """Puts one dialer originate on the PBX socket; returns the PBX request id (ActionID, Job-UUID).

    Raises ``OriginateUncertain`` when the command was written but its answer lost (the PBX may be
    dialing), any other exception when it surely was not placed.
    """

    async def originate(self, cmd: Originate) -> str | None: ...


@dataclass(frozen=True, slots=True)
class Live:
    """What ``ccagent run`` needs of the PBX, built together so they share one connection."""

    session: Session
    step: Step
    originator: Originator


@dataclass(frozen=True, slots=True)
class DialPlan:
    """Where an answered dialer call goes, in the dialplan ccagent ships for this PBX (``dialplan/``)."""

    context: str
    exten: str
    variables: tuple[tuple[str, str], ...] = ()
    #: Where the call goes out: the configured dial string with its trunk filled in (``{number}``
    #: left), the number's format and the caller ID when the project sets none (issue 13).
    dial: str = ""
    number_format: NumberFormat = field(default_factory=NumberFormat)
    caller_id: str | None = None


def dial_format(section: Any, region: str) -> NumberFormat:
    """A PBX section's number format (``pbx.asterisk`` / ``pbx.freeswitch``: ``number_format``,
    ``strip_prefix``, ``add_prefix``); ``national`` writes numbers of ``region`` nationally."""
    return NumberFormat(section.number_format, section.strip_prefix, section.add_prefix, region)


class DemoStream(Protocol):
    """A simulated PBX playing a compressed busy hour of re-stamped lab captures (``ccagent demo``)."""

    @property
    def total(self) -> int:
        """How many raw PBX messages the stream plays."""
        ...

    @property
    def project_variable(self) -> str:
        """The ``legs.project_variable`` the lab's captures were made with."""
        ...

    @property
    def employees(self) -> Mapping[str, str]:
        """``employees.mapping`` for the demo's extensions."""
        ...

    async def start(self) -> None:
        """Listen on 127.0.0.1 (a free port)."""
        ...

    def pbx_config(self) -> dict[str, Any]:
        """The ``pbx`` config section that points the daemon at the started simulator."""
        ...

    def describe(self) -> str:
        """One line for the user: what plays, where, how fast."""
        ...

    async def play(self, progress: Callable[[int], None]) -> None:
        """Play every message once the daemon is connected; ``progress(done)`` now and then."""
        ...

    async def stop(self) -> None: ...


class PbxAdapter(Protocol):
    """Everything PBX-specific, bound to one configuration.  See docs/architecture.md, "Adding a
    third PBX": an adapter implements exactly this, and registers in :mod:`ccagent.pbx.registry`."""

    @property
    def name(self) -> str:
        """The registry's name of this PBX (``pbx.type``), also stored with each call."""
        ...

    @property
    def translator(self) -> Translator:
        """The one translator of this configuration: the pipeline's, the session's pre-filter's."""
        ...

    @property
    def agent_option(self) -> tuple[str, str]:
        """How ``ccagent agent pause`` names an agent on this PBX: (option, configured template)."""
        ...

    def agent_name(self, extension: str) -> str:
        """The PBX's name of the agent at ``extension`` for pause/unpause (the configured queue
        member interface or mod_callcenter agent name / mapping; issue 13)."""
        ...

    def live(self, ops: PipelineOps, *, clock: Callable[[], float], queue_size: int) -> Live:
        """The daemon's session, its per-item step over ``ops`` (stamping with ``clock``), and the
        dialer's originator over that same session."""
        ...

    def is_auth_error(self, exc: BaseException) -> bool:
        """Did the session stop on a refused login (configuration: exit 78, no restart loop)?"""
        ...

    def check_capture(self, path: str | Path) -> None:
        """Refuse (``ValueError``) a file that is not a capture of this PBX, naming the right one."""
        ...

    def read_capture(self, path: str | Path) -> Iterator[Mapping[str, str]]:
        """A capture file's raw messages in stream order, as a live session would have fed them."""
        ...

    def dial_plan(self, project: Project, *, connect_deadline_s: float) -> DialPlan:
        """Where the shipped dialplan runs this project's answered calls, and the dial string its
        originates use.  Raises ``ProjectError`` naming the key when the project has no usable
        target (no trunk configured, a template that does not read)."""
        ...

    async def set_paused(
        self, agent: str, paused: bool, *, queue: str | None, reason: str | None, timeout: float
    ) -> str:
        """Pause or unpause a queue agent on the PBX (a short connection of its own); returns the
        PBX's answer.  The PBX then reports the change in its own stream."""
        ...

    def demo(self, *, calls: int, seconds: float, seed: int) -> DemoStream:
        """The simulated PBX of ``ccagent demo``."""
        ...
