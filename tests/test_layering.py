"""The design, guarded (issue 12): one place chooses the PBX, PBX code never imports the
application or the database, and nothing outside the simulators probes what a translator or a
session can do.  A scan of the source, so a violation fails the suite where it is written."""

from __future__ import annotations

import ast
import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "ccagent"
REGISTRY = PACKAGE / "pbx" / "registry.py"


def _sources() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def test_only_the_registry_compares_with_a_pbx_name() -> None:
    branch = re.compile(r"""[!=]=\s*["'](asterisk|freeswitch)["']|["'](asterisk|freeswitch)["']\s*[!=]=""")
    found = [
        f"{p.relative_to(PACKAGE.parent)}:{n}: {line.strip()}"
        for p in _sources()
        if p != REGISTRY
        for n, line in enumerate(p.read_text("utf-8").splitlines(), 1)
        if branch.search(line)
    ]
    assert found == [], "choose the PBX through ccagent.pbx.registry, not a branch:\n" + "\n".join(found)


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text("utf-8"), str(path))
    names: set[str] = set()
    for node in ast.walk(tree):  # function-level imports count too: they are imports all the same
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_pbx_code_imports_neither_the_application_nor_storage() -> None:
    bad = [
        f"{p.relative_to(PACKAGE.parent)} imports {m}"
        for p in sorted((PACKAGE / "pbx").rglob("*.py"))
        for m in sorted(_imports(p))
        if m.startswith(("ccagent.app", "ccagent.storage"))
    ]
    assert bad == [], "\n".join(bad)


def test_no_capability_probing_of_translators_or_sessions_outside_the_simulators() -> None:
    probe = re.compile(r"\b(getattr|hasattr)\(\s*[\w.]*(translator|session|client)\b")
    found = [
        f"{p.relative_to(PACKAGE.parent)}:{n}: {line.strip()}"
        for p in _sources()
        if "sim" not in p.relative_to(PACKAGE).parts
        for n, line in enumerate(p.read_text("utf-8").splitlines(), 1)
        if probe.search(line)
    ]
    assert found == [], "declare it in ccagent.pbx.port instead:\n" + "\n".join(found)


def test_the_scans_see_a_violation() -> None:
    """The scans are not vacuous: each pattern matches the line it exists to refuse."""
    assert re.search(r"""[!=]=\s*["'](asterisk|freeswitch)["']""", 'if config.pbx.type == "asterisk":')
    assert re.search(
        r"\b(getattr|hasattr)\(\s*[\w.]*(translator|session|client)\b", 'getattr(self.translator, "x")'
    )
    assert len(_sources()) > 50
