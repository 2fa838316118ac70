"""systemd notify over a real AF_UNIX datagram socket, and the hardened unit file (R-OPS-5)."""

from __future__ import annotations

import configparser
import os
import socket
from pathlib import Path

from ccagent.sysd import SystemdNotifier, watchdog_interval

UNIT = Path(__file__).resolve().parents[2] / "systemd" / "ccagent.service"


def test_r_ops_5_ready_watchdog_stopping_reach_the_socket(tmp_path: Path) -> None:
    path = str(tmp_path / "notify.sock")
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    srv.bind(path)
    srv.settimeout(2)
    try:
        env = {"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "30000000", "WATCHDOG_PID": str(os.getpid())}
        n = SystemdNotifier(env)
        assert n.enabled and n.watchdog_interval == 15.0
        n.ready()
        n.status("listening to asterisk\nsecond line")
        n.watchdog()
        n.stopping()
        got = [srv.recv(4096).decode() for _ in range(4)]
        assert got == ["READY=1", "STATUS=listening to asterisk second line", "WATCHDOG=1", "STOPPING=1"]
        n.close()
    finally:
        srv.close()


def test_abstract_namespace_socket() -> None:
    name = f"ccagent-test-{os.getpid()}"
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    srv.bind("\0" + name)
    srv.settimeout(2)
    try:
        SystemdNotifier({"NOTIFY_SOCKET": "@" + name}).ready()
        assert srv.recv(64) == b"READY=1"
    finally:
        srv.close()


def test_noop_without_notify_socket_and_survives_a_dead_socket(tmp_path: Path) -> None:
    n = SystemdNotifier({})
    assert not n.enabled and n.notify("READY=1") is False
    dead = SystemdNotifier({"NOTIFY_SOCKET": str(tmp_path / "gone.sock")})
    assert dead.notify("READY=1") is False  # logged, not raised
    dead.watchdog()


def test_watchdog_interval_rules() -> None:
    assert watchdog_interval({}) is None
    assert watchdog_interval({"WATCHDOG_USEC": "0"}) is None
    assert watchdog_interval({"WATCHDOG_USEC": "10000000"}) == 5.0
    assert watchdog_interval({"WATCHDOG_USEC": "10000000", "WATCHDOG_PID": "1"}) is None


def test_r_ops_5_unit_file_is_notify_watchdog_and_hardened() -> None:
    cp = configparser.ConfigParser(strict=False, interpolation=None)
    cp.optionxform = str  # type: ignore[assignment,method-assign]
    cp.read_string(UNIT.read_text())
    s = cp["Service"]
    expected = {
        "Type": "notify",
        "NotifyAccess": "main",
        "WatchdogSec": "30",
        "Restart": "on-failure",
        "RestartSec": "2",
        "ExecStart": "/opt/ccagent/bin/ccagent run --config /etc/ccagent/ccagent.yaml",  # scripts/install.sh
        "User": "ccagent",
        "StateDirectory": "ccagent",
        "WorkingDirectory": "/var/lib/ccagent",
        "NoNewPrivileges": "yes",
        "ProtectSystem": "strict",
        "ProtectHome": "yes",
        "PrivateTmp": "yes",
        "PrivateDevices": "yes",
        "ProtectKernelTunables": "yes",
        "ProtectKernelModules": "yes",
        "ProtectKernelLogs": "yes",
        "ProtectControlGroups": "yes",
        "RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX",
        "RestrictNamespaces": "yes",
        "LockPersonality": "yes",
        "MemoryDenyWriteExecute": "yes",
        "SystemCallArchitectures": "native",
        "SystemCallFilter": "@system-service",
        "CapabilityBoundingSet": "",
        "ReadWritePaths": "/var/lib/ccagent",
    }
    for key, value in expected.items():
        assert s.get(key) == value, key
    assert cp["Install"]["WantedBy"] == "multi-user.target"
