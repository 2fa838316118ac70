"""scripts/install.sh into a scratch root, as on Debian (issue 13 item 4).

The recipe it replaces failed as written: no service user, a config the service could not read
(exit 78), a root-owned SQLite file after `db upgrade` as root, and an ExecStart naming a path no
install made.  This runs the script as root into a fresh root (its own etc/passwd, so the user
is created there with `useradd --prefix`), then checks what the service would meet.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SYSTEM_PYTHON = Path("/usr/bin/python3")

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or not all(shutil.which(t) for t in ("useradd", "setpriv", "install")),
    reason="installing as a service needs root, useradd and setpriv",
)


def _system_python_has_venv() -> bool:
    if not SYSTEM_PYTHON.exists():
        return False
    probe = "import sys, ensurepip, venv; sys.exit(sys.version_info < (3, 11))"
    return subprocess.run([str(SYSTEM_PYTHON), "-c", probe], capture_output=True).returncode == 0


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel `pip install .` would install, built once."""
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(out), str(REPO)],
        check=True,
        capture_output=True,
    )
    (found,) = out.glob("ccagent-*.whl")
    return found


@pytest.fixture
def root() -> Iterator[Path]:
    """A fresh system root the service user can traverse (pytest's own tmp dirs are 0700)."""
    path = Path(tempfile.mkdtemp(prefix="ccagent-root-"))
    path.chmod(0o755)
    (path / "etc").mkdir(mode=0o755)
    (path / "etc/passwd").write_text("root:x:0:0:root:/root:/bin/bash\n")
    (path / "etc/group").write_text("root:x:0:\n")
    yield path
    shutil.rmtree(path)


def _install(root: Path, wheel: Path) -> str:
    done = subprocess.run(
        [str(REPO / "scripts/install.sh"), "--root", str(root), "--wheel", str(wheel)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def _ids(root: Path, name: str) -> tuple[int, int]:
    (uid,) = [
        int(e.split(":")[2])
        for e in (root / "etc/passwd").read_text().splitlines()
        if e.startswith(name + ":")
    ]
    (gid,) = [
        int(e.split(":")[2])
        for e in (root / "etc/group").read_text().splitlines()
        if e.startswith(name + ":")
    ]
    return uid, gid


def _listing(root: Path) -> list[tuple[str, str, int, int, str]]:
    """Every path under root with its mode, owner, group and content (hash or link target)."""
    out = []
    for dirpath, dirs, files in os.walk(root):
        for name in sorted(dirs + files):
            path = Path(dirpath) / name
            st = path.lstat()
            if stat.S_ISLNK(st.st_mode):
                what = "-> " + os.readlink(path)
            elif stat.S_ISREG(st.st_mode):
                what = hashlib.sha256(path.read_bytes()).hexdigest()
            else:
                what = ""
            out.append((str(path.relative_to(root)), stat.filemode(st.st_mode), st.st_uid, st.st_gid, what))
    return sorted(out)


def _mode(path: Path) -> tuple[str, int, int]:
    st = path.lstat()
    return stat.filemode(st.st_mode), st.st_uid, st.st_gid


@pytest.mark.skipif(not _system_python_has_venv(), reason="/usr/bin/python3 (3.11+) with venv is needed")
def test_install_into_a_scratch_root_is_what_the_service_needs_and_runs_twice_the_same(
    root: Path, wheel: Path
) -> None:
    out = _install(root, wheel)
    assert "created the system user ccagent" in out
    uid, gid = _ids(root, "ccagent")
    assert uid != 0 and gid != 0
    assert "ccagent:!:" in (root / "etc/passwd").read_text()  # no password, no login
    assert ":/var/lib/ccagent:/usr/sbin/nologin" in (root / "etc/passwd").read_text()

    # the unit's ExecStart names the executable the install put there
    unit = (root / "etc/systemd/system/ccagent.service").read_text()
    (exec_start,) = [line.split("=", 1)[1] for line in unit.splitlines() if line.startswith("ExecStart=")]
    program = exec_start.split()[0]
    assert program == "/opt/ccagent/bin/ccagent"
    installed = root / program.lstrip("/")
    assert installed.is_file() and os.access(installed, os.X_OK)
    assert unit == (REPO / "systemd/ccagent.service").read_text()
    assert "User=ccagent" in unit and "Group=ccagent" in unit
    assert os.readlink(root / "etc/systemd/system/multi-user.target.wants/ccagent.service") == (
        "/etc/systemd/system/ccagent.service"
    )
    assert os.readlink(root / "usr/local/bin/ccagent") == "/opt/ccagent/bin/ccagent"
    listed = subprocess.run([str(installed), "files", "list"], capture_output=True, text=True, check=True)
    assert "systemd/ccagent.service" in listed.stdout.splitlines()

    # config: readable by the service group, by no one else; the database at an absolute path
    assert _mode(root / "etc/ccagent") == ("drwxr-x---", 0, gid)
    config = root / "etc/ccagent/ccagent.yaml"
    assert _mode(config) == ("-rw-r-----", 0, gid)
    assert "  url: sqlite:////var/lib/ccagent/ccagent.db\n" in config.read_text()
    # the state directory and the database belong to the service (db upgrade ran as ccagent)
    assert _mode(root / "var/lib/ccagent") == ("drwxr-x---", uid, gid)
    db = root / "var/lib/ccagent/ccagent.db"
    assert _mode(db) == ("-rw-r-----", uid, gid)
    assert not [p.name for p in (root / "var/lib/ccagent").iterdir() if p.stat().st_uid != uid]
    # the service user reads the config (exit 78 before: root-owned 0640)
    as_service = ["setpriv", f"--reuid={uid}", f"--regid={gid}", "--clear-groups"]
    checked = subprocess.run(
        [*as_service, str(installed), "check-config", str(config)], capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stderr
    # the shipped files, written out of the wheel
    shared = root / "usr/share/ccagent"
    assert (shared / "dialplan/asterisk/extensions_ccagent.conf").read_bytes() == (
        REPO / "dialplan/asterisk/extensions_ccagent.conf"
    ).read_bytes()

    # a second run changes nothing: same files, modes, owners and contents
    before = _listing(root)
    again = _install(root, wheel)
    assert "installed" not in again and "created" not in again
    assert _listing(root) == before

    # an admin's own config is kept, and made readable by the service again
    config.write_text("pbx:\n  type: freeswitch\n")
    config.chmod(0o600)
    os.chown(config, 0, 0)
    _install(root, wheel)
    assert config.read_text() == "pbx:\n  type: freeswitch\n"
    assert _mode(config) == ("-rw-r-----", 0, gid)

    # uninstall removes the program and the unit, keeps the config, the data and the user
    done = subprocess.run(
        [str(REPO / "scripts/uninstall.sh"), "--root", str(root)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert not (root / "opt/ccagent").exists()
    assert not (root / "etc/systemd/system/ccagent.service").exists()
    assert not (root / "etc/systemd/system/multi-user.target.wants/ccagent.service").is_symlink()
    assert not (root / "usr/local/bin/ccagent").is_symlink()
    assert not shared.exists()
    assert config.read_text() == "pbx:\n  type: freeswitch\n"
    assert _mode(db) == ("-rw-r-----", uid, gid)
    assert _ids(root, "ccagent") == (uid, gid)


def test_install_refuses_a_root_that_is_not_a_system_root(tmp_path: Path) -> None:
    done = subprocess.run(
        [str(REPO / "scripts/install.sh"), "--root", str(tmp_path)], capture_output=True, text=True
    )
    assert done.returncode == 66
    assert "not a system root" in done.stderr
    assert list(tmp_path.iterdir()) == []
