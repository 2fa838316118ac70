"""The runtime dependencies are exactly what run-time code imports (issue 13 item 7).

Both ways: every third-party module the package imports is declared, and every declared
dependency is imported when the package's run-time paths are exercised, in a fresh interpreter
(every ccagent module imported, a PostgreSQL engine made, a time zone read where the OS has no
zoneinfo, an XLSX contact file opened).  The benchmark-only clients (panoramisk, greenswitch and
its gevent) are an extra.
"""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
import tomllib
from importlib.metadata import PackageNotFoundError, distribution, packages_distributions
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def _name(req: str) -> str:
    return re.split(r"[\s\[<>=!~;]", req, maxsplit=1)[0].lower().replace("_", "-")


def _runtime() -> list[str]:
    return [_name(r) for r in PYPROJECT["project"]["dependencies"]]


def _import_names() -> dict[str, set[str]]:
    """distribution name -> its top-level import names (installed metadata)."""
    out: dict[str, set[str]] = {}
    for module, dists in packages_distributions().items():
        for d in dists:
            out.setdefault(d.lower().replace("_", "-"), set()).add(module)
    return out


def _third_party_imports(source: str) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return {m for m in found if m not in sys.stdlib_module_names and m not in ("ccagent", "__future__")}


# Run-time paths, in a fresh interpreter: what a daemon, a CLI command or the demo can import.
_PROBE = r"""
import json, pkgutil, sys, importlib, zoneinfo
import ccagent
for m in pkgutil.walk_packages(ccagent.__path__, "ccagent."):
    importlib.import_module(m.name)
from ccagent.storage.db import make_engine
make_engine("postgresql+psycopg://ccagent@127.0.0.1:9/ccagent").dispose()  # database.url: postgresql
zoneinfo.reset_tzpath([])  # a host without /usr/share/zoneinfo: calling hours still need the zone
zoneinfo.ZoneInfo("Europe/Kyiv")
import tempfile, pathlib  # `ccagent project import contacts.xlsx`
from ccagent.app.contacts_import import ImportFileError, ImportReport, _open_xlsx
xlsx = pathlib.Path(tempfile.mkdtemp()) / "contacts.xlsx"
xlsx.write_bytes(b"PK\x03\x04 not a workbook")
try:
    _open_xlsx(str(xlsx), ImportReport(str(xlsx), "xlsx"))
except ImportFileError:
    pass
print(json.dumps(sorted({name.split(".")[0] for name in sys.modules})))
"""


def test_every_third_party_module_the_package_imports_is_declared() -> None:
    names = _import_names()
    declared = {m for d in _runtime() for m in names.get(d, set())}
    undeclared = {
        f"{path.relative_to(ROOT)}: {m}"
        for path in sorted((ROOT / "ccagent").rglob("*.py"))
        for m in _third_party_imports(path.read_text())
        if m not in declared
    }
    assert not undeclared


def test_the_static_check_sees_an_undeclared_import() -> None:
    assert _third_party_imports(
        "import gevent\nfrom os import path\nfrom . import x\nimport ccagent.cli\n"
    ) == {"gevent"}


def test_every_runtime_dependency_is_imported_by_a_run_time_path() -> None:
    out = subprocess.run(
        [sys.executable, "-c", _PROBE], capture_output=True, text=True, timeout=120, check=True
    ).stdout
    imported = set(json.loads(out.splitlines()[-1]))
    names = _import_names()
    never = [d for d in _runtime() if not names.get(d, set()) & imported]
    assert never == [], f"declared but never imported at run time: {never}"
    # and what only the benchmarks use stays out of the daemon's process
    assert not imported & {"panoramisk", "greenswitch", "gevent", "apscheduler", "fastapi", "uvicorn"}


def _closure(reqs: list[str]) -> set[str]:
    """Every distribution `pip install` of these requirements pulls in (installed metadata)."""
    seen: set[str] = set()
    todo = [(Requirement(r), "") for r in reqs]
    while todo:
        req, extra = todo.pop()
        if req.marker is not None and not req.marker.evaluate({"extra": extra}):
            continue
        name = req.name.lower().replace("_", "-")
        extras = req.extras
        if name in seen and not extras:
            continue
        seen.add(name)
        try:
            dist = distribution(name)
        except PackageNotFoundError:
            continue
        for sub in dist.requires or []:
            sub_req = Requirement(sub)
            for e in ["", *sorted(extras)]:
                todo.append((sub_req, e))
    return seen


def test_pip_install_dot_no_longer_installs_gevent() -> None:
    runtime = _closure(PYPROJECT["project"]["dependencies"])
    assert {"sqlalchemy", "psycopg-binary", "mako"} <= runtime  # the walk follows extras and depth
    assert not runtime & {"gevent", "greenswitch", "panoramisk", "apscheduler", "fastapi", "uvicorn"}
    bench = {_name(r) for r in PYPROJECT["project"]["optional-dependencies"]["bench"]}
    assert bench == {"panoramisk", "greenswitch"}
