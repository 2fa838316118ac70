#!/usr/bin/env bash
# Remove what scripts/install.sh installed, keeping the config, the data and the user (issue 13).
#
#   scripts/uninstall.sh [--root DIR]
#
# Stops and disables ccagent.service (when systemd is running), removes the unit, the venv
# /opt/ccagent, /usr/local/bin/ccagent and /usr/share/ccagent.  Kept: /etc/ccagent (the config and
# its secrets), /var/lib/ccagent (the SQLite database) and the user ccagent, which owns that data,
# so a later install.sh picks up where this one stopped.  To remove those as well, by hand:
#   rm -r /etc/ccagent /var/lib/ccagent && userdel ccagent
set -euo pipefail

root=/
while [ $# -gt 0 ]; do
  case "$1" in
    --root) root="$2"; shift 2 ;;
    --root=*) root="${1#*=}"; shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "uninstall.sh: unknown argument: $1 (see --help)" >&2; exit 64 ;;
  esac
done
say() { echo "uninstall.sh: $*"; }
[ "$(id -u)" = "0" ] || { echo "uninstall.sh: run as root" >&2; exit 77; }
root="$(cd "$root" 2>/dev/null && pwd)" || { echo "uninstall.sh: --root: no such directory" >&2; exit 66; }
p="${root%/}"

unit="$p/etc/systemd/system/ccagent.service"
if [ -z "$p" ] && [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
  systemctl disable --now --quiet ccagent.service 2>/dev/null || true
  rm -f "$unit"
  systemctl daemon-reload
else
  rm -f "$p/etc/systemd/system/multi-user.target.wants/ccagent.service" "$unit"
  rmdir "$p/etc/systemd/system/multi-user.target.wants" 2>/dev/null || true
fi
if [ "$(readlink "$p/usr/local/bin/ccagent" 2>/dev/null)" = /opt/ccagent/bin/ccagent ]; then
  rm -f "$p/usr/local/bin/ccagent"
fi
rm -rf "$p/opt/ccagent" "$p/usr/share/ccagent"
say "removed the unit, /opt/ccagent and /usr/share/ccagent"
say "kept /etc/ccagent, /var/lib/ccagent and the user ccagent (remove by hand: see the script's header)"
