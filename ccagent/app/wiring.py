"""What the composition root hands every user of the one pipeline (daemon, ingest, demo, tests)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine

from ccagent.app.metrics import Metrics
from ccagent.app.pipeline import Pipeline
from ccagent.pbx.port import PbxAdapter

__all__ = ["Wiring"]


@dataclass
class Wiring:
    engine: Engine
    pipeline: Pipeline
    metrics: Metrics
    adapter: PbxAdapter  # the PBX chosen once from config; its translator is the pipeline's
