"""``ccagent files``: the unit, config examples and dialplan the package ships (issue 13).

A wheel installed into a venv has no source tree beside it, so the files an admin needs next to
the daemon (``systemd/ccagent.service``, ``config/*.example.yaml``, ``dialplan/asterisk|freeswitch``)
travel as package data under ``ccagent/share`` and this command writes them out; the
install script (``scripts/install.sh``) uses it, so what it installs is what the wheel carries.

Writing never replaces a file that differs unless asked (``--force``): the admin may have edited
a copy in place, and a re-run that silently undid the edit would be a surprise.  An identical file
is left untouched (not even its mtime), so a second run changes nothing.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterator
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path, PurePosixPath
from typing import Any

EX_CANTCREAT = 73  # sysexits: what `demo` also returns when it will not replace a file


def _share() -> Traversable:
    return files("ccagent") / "share"


def shipped() -> dict[str, bytes]:
    """Every shipped file by its relative POSIX path (``systemd/ccagent.service``), sorted."""

    def walk(node: Traversable, prefix: PurePosixPath) -> Iterator[tuple[str, bytes]]:
        for child in sorted(node.iterdir(), key=lambda c: c.name):
            if child.name.startswith((".", "__")):
                continue
            if child.is_dir():
                yield from walk(child, prefix / child.name)
            else:
                yield str(prefix / child.name), child.read_bytes()

    return dict(walk(_share(), PurePosixPath()))


def write_files(dest: Path, *, force: bool = False, only: str | None = None) -> tuple[list[str], list[str]]:
    """Write the shipped files (or those under ``only``) into ``dest``.

    Returns (written, refused): refused are existing files that differ and were kept (no --force).
    Files are 0644 and directories 0755 whatever the umask, so the result is the same on every host.
    """
    written: list[str] = []
    refused: list[str] = []
    for rel, data in shipped().items():
        if only is not None and not (rel == only or rel.startswith(only.rstrip("/") + "/")):
            continue
        target = dest / rel
        if target.is_file() and target.read_bytes() == data:
            continue
        if target.exists() and not force:
            refused.append(rel)
            continue
        for parent in reversed(target.relative_to(dest).parents):
            d = dest / parent
            if not d.is_dir():
                d.mkdir(parents=True, exist_ok=True)
                os.chmod(d, 0o755)
        tmp = target.with_name(f".{target.name}.ccagent-tmp")
        tmp.write_bytes(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
        written.append(rel)
    return written, refused


def _cmd_list(args: argparse.Namespace) -> int:
    for rel in shipped():
        print(rel)
    return 0


def _cmd_show(args: argparse.Namespace) -> int:
    data = shipped().get(args.name)
    if data is None:
        print(f"ccagent files show: {args.name}: not shipped (see `ccagent files list`)", file=sys.stderr)
        return os.EX_USAGE
    sys.stdout.buffer.write(data)
    return 0


def _cmd_write(args: argparse.Namespace) -> int:
    only = args.only
    if only is not None and not any(r == only or r.startswith(only.rstrip("/") + "/") for r in shipped()):
        print(f"ccagent files write: {only}: not shipped (see `ccagent files list`)", file=sys.stderr)
        return os.EX_USAGE
    dest = Path(args.dir)
    try:
        written, refused = write_files(dest, force=args.force, only=only)
    except OSError as exc:
        print(f"ccagent files write: {exc}", file=sys.stderr)
        return EX_CANTCREAT
    for rel in written:
        print(f"wrote {dest / rel}")
    for rel in refused:
        print(f"kept {dest / rel}: it differs from the shipped file (--force replaces it)", file=sys.stderr)
    return EX_CANTCREAT if refused else 0


def register(sub: Any) -> None:
    """Add ``files list|show|write`` to the ``ccagent`` command (``sub``: its subparsers)."""
    sp = sub.add_parser("files", help="the shipped systemd unit, config examples and dialplan")
    fsub = sp.add_subparsers(dest="files_command", required=True)
    p = fsub.add_parser("list", help="list the shipped files")
    p.set_defaults(func=_cmd_list)
    p = fsub.add_parser("show", help="print one shipped file (e.g. systemd/ccagent.service)")
    p.add_argument("name")
    p.set_defaults(func=_cmd_show)
    p = fsub.add_parser("write", help="write the shipped files into DIR (systemd/, config/, dialplan/)")
    p.add_argument("dir")
    p.add_argument("--only", help="one file or directory of the listing, e.g. dialplan/asterisk")
    p.add_argument("--force", action="store_true", help="replace files that differ")
    p.set_defaults(func=_cmd_write)
