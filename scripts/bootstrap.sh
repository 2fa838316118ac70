#!/usr/bin/env bash
# Install ccagent into ./.venv on a fresh Debian (bookworm, Python 3.11).
#   scripts/bootstrap.sh        -> runtime install (enough for `ccagent demo`)
#   scripts/bootstrap.sh test   -> + test tools, PostgreSQL 15 started with the test role/database
# System packages come from apt-get (as root, or through sudo when available).
set -euo pipefail
cd "$(dirname "$0")/.."
mode="${1:-run}"

as_root() {
  if [ "$(id -u)" = "0" ]; then "$@"; elif command -v sudo >/dev/null 2>&1; then sudo "$@"; else
    echo "need root (or sudo) to run: $*" >&2; exit 1; fi
}

need_apt=()
python3 -c 'import sys; assert sys.version_info >= (3, 11)' 2>/dev/null || need_apt+=(python3)
python3 -c 'import ensurepip, venv' 2>/dev/null || need_apt+=(python3-venv)
if [ "$mode" = "test" ] && ! command -v pg_ctlcluster >/dev/null 2>&1; then need_apt+=(postgresql); fi
if [ ${#need_apt[@]} -gt 0 ]; then
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "${need_apt[@]}"
fi

[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
if [ "$mode" = "test" ]; then
  .venv/bin/python -m pip install -q -e '.[test]'
  as_root bash .ci/pg-setup.sh
else
  .venv/bin/python -m pip install -q .
fi
