"""Offline ingest of raw PBX captures (SPEC R-PBX-6).

The same pipeline as the live daemon; each file is one connection, so between
files the tracker is told the connection was lost, and the next file's own
CoreShowChannels answer (if the capture has one) reconciles, exactly as after
a live reconnect.  Re-ingesting a capture replaces its calls' rows: nothing is
added twice (idempotent by the PBX's ids, R-PBX-5).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from ccagent.app.bootstrap import build, pbx_adapter
from ccagent.config import Config

log = logging.getLogger(__name__)

FLUSH_EVERY = 20_000  # messages between commits: big transactions, bounded memory


@dataclass
class IngestResult:
    files: int
    messages: int
    calls_written: int
    open_calls: int
    bad_messages: int


def ingest_files(
    config: Config,
    paths: Sequence[str | Path],
    *,
    pbx: str,
    db_url: str | None = None,
    project_variable: str | None = None,
    progress: Callable[[int], None] | None = None,
) -> IngestResult:
    if project_variable is not None:
        try:  # validated as the config's own key is (a copy would skip the pattern)
            legs = type(config.legs).model_validate(
                {**config.legs.model_dump(), "project_variable": project_variable}
            )
        except ValidationError as exc:
            raise ValueError(f"--project-variable: {exc.errors()[0]['msg']}") from None
        config = config.model_copy(update={"legs": legs})
    capture = pbx_adapter(config, pbx)
    for path in paths:  # every file is checked before the first is written: all or nothing refused
        capture.check_capture(path)
    wiring = build(config, adapter=capture, db_url=db_url, journal_open_calls=False)
    pipe = wiring.pipeline
    pipe.restore()
    messages = written = 0
    try:
        for path in paths:
            for msg in capture.read_capture(path):
                pipe.feed(msg)
                messages += 1
                if messages % FLUSH_EVERY == 0:
                    written += pipe.flush()
                    if progress is not None:
                        progress(messages)
            pipe.connection_lost()
        written += pipe.flush(final=True)
    finally:
        wiring.engine.dispose()
    bad = int(
        sum(
            s.value
            for m in wiring.metrics.bad_events.collect()
            for s in m.samples
            if s.name.endswith("_total")
        )
    )
    return IngestResult(
        files=len(paths),
        messages=messages,
        calls_written=written,
        open_calls=len(pipe.tracker.calls),
        bad_messages=bad,
    )
