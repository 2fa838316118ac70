"""The in-band snapshot message: a ``show channels as json`` reply carried as a message.

Its own module so the capture reader (which the simulated FreeSWITCH also uses) does not import the
translator, and through it the domain.
"""

from __future__ import annotations

__all__ = ["SNAPSHOT_MARKER", "snapshot_message"]

# A message that is not a FreeSWITCH event but a ``show channels as json`` reply, carried through the
# same ``translate`` entry point so the one pipeline (ingest and daemon) needs no ESL-specific branch.
SNAPSHOT_MARKER = "_ccagent"


def snapshot_message(show_channels_json: str) -> dict[str, str]:
    """Wrap a ``show channels as json`` reply so :meth:`FsTranslator.translate` turns it into a snapshot."""
    return {SNAPSHOT_MARKER: "snapshot", "_body": show_channels_json}
