"""docs/reports.md documents every view column; docs/configuration.md every key (R-REP-2, R-OPS-2)."""

from __future__ import annotations

import re
from pathlib import Path

from ccagent.config import Config, redacted_dump
from ccagent.storage.views import VIEWS

DOCS = Path(__file__).resolve().parents[2] / "docs"


def _documented_columns(markdown: str) -> dict[str, list[str]]:
    sections: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in markdown.splitlines():
        if m := re.match(r"^## (report_\w+)", line):
            current = sections.setdefault(m.group(1), [])
        elif line.startswith("## "):
            current = None
        elif current is not None and (m := re.match(r"^\| (\w+) \|", line)) and m.group(1) != "column":
            current.append(m.group(1))
    return sections


def test_R_REP_2_every_view_column_is_documented_in_order() -> None:
    documented = _documented_columns((DOCS / "reports.md").read_text(encoding="utf-8"))
    assert {name: [c.name for c in view.columns] for name, view in VIEWS.items()} == documented


def test_R_OPS_2_every_config_key_is_documented() -> None:
    text = (DOCS / "configuration.md").read_text(encoding="utf-8")

    def leaves(d: dict[str, object]) -> list[str]:
        out: list[str] = []
        for k, v in d.items():
            out.extend(leaves(v) if isinstance(v, dict) and v and k != "mapping" else [k])
        return out

    missing = [k for k in leaves(redacted_dump(Config())) if not re.search(rf"[`.]{k}[`,]", text)]
    assert missing == []
