"""The adapter registry: the ONE place that maps a PBX name to its adapter (issue 12).

``pbx.type`` in the config (and ``--pbx`` on the command line) name an entry here; the composition
root (``ccagent.app.bootstrap``) looks it up once and the rest of ccagent only sees the
:class:`~ccagent.pbx.port.PbxAdapter` it returns.  A third PBX is one more entry (and its name in
``ccagent.config.PbxConfig.type``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from ccagent.config import Config

if TYPE_CHECKING:  # the command line lists the names without loading any PBX code
    from ccagent.pbx.port import PbxAdapter

__all__ = ["ADAPTERS", "adapter_for", "names"]


def _asterisk(config: Config) -> PbxAdapter:
    from ccagent.pbx.ami.adapter import AmiAdapter

    return AmiAdapter(config)


def _freeswitch(config: Config) -> PbxAdapter:
    from ccagent.pbx.esl.adapter import EslAdapter

    return EslAdapter(config)


#: PBX name -> adapter factory (imported on first use: a daemon loads only its own PBX's code).
ADAPTERS: dict[str, Callable[[Config], PbxAdapter]] = {
    "asterisk": _asterisk,
    "freeswitch": _freeswitch,
}


def names() -> tuple[str, ...]:
    """The PBX names ccagent can run on (``--pbx`` choices)."""
    return tuple(ADAPTERS)


def adapter_for(config: Config, pbx: str | None = None) -> PbxAdapter:
    """The adapter of ``pbx`` (default: ``config.pbx.type``) bound to ``config``."""
    name = pbx or config.pbx.type
    factory = ADAPTERS.get(name)
    if factory is None:
        raise ValueError(f"unknown pbx {name!r} ({' or '.join(ADAPTERS)})")
    return factory(config)
