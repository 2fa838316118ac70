"""Tests import what they test from the package, never from bench/ through sys.path (issue 12).

Code the tests and the benchmarks share lives in the package (``ccagent/sim/dialer_floor.py``,
``ccagent/sim/dialer_calibration.py``); a test that edits ``sys.path`` or imports ``bench``
would tie the suite to the working tree's layout again.
"""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parent


def _offences(source: str) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [f"import {a.name}" for a in node.names if a.name.split(".")[0] == "bench"]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "bench":
            found.append(f"from {node.module} import ...")
        elif (
            isinstance(node, ast.Attribute)
            and node.attr == "path"
            and isinstance(node.value, ast.Name)
            and node.value.id == "sys"
        ):
            found.append(f"sys.path (line {node.lineno})")
    return sorted(found)


def test_the_check_sees_both_ways_of_reaching_into_bench() -> None:
    assert _offences("import sys\nsys.path.insert(0, '..')\nfrom bench.dialer.sim import Event\n") == [
        "from bench.dialer.sim import ...",
        "sys.path (line 2)",
    ]
    assert _offences("import bench.dialer\n") == ["import bench.dialer"]
    assert _offences("from ccagent.sim.dialer_floor import Event\nimport os\nos.path.join('a')\n") == []


def test_no_test_edits_sys_path_or_imports_bench() -> None:
    offenders = {
        str(path.relative_to(TESTS)): found
        for path in sorted(TESTS.rglob("*.py"))
        if "traces" not in path.relative_to(TESTS).parts
        and (found := _offences(path.read_text(encoding="utf-8")))
    }
    assert offenders == {}
