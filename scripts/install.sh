#!/usr/bin/env bash
# Install ccagent as a systemd service on Debian 12 (issue 13; docs/operations.md "Install as a service").
#
#   scripts/install.sh [--root DIR] [--wheel FILE] [--python PYTHON] [--now]
#
# As root.  Idempotent: a second run with the same ccagent changes no file, owner or mode.
#   - system user and group `ccagent` (no login, home /var/lib/ccagent)
#   - ccagent in the venv /opt/ccagent; the unit's ExecStart is /opt/ccagent/bin/ccagent, and
#     /usr/local/bin/ccagent links to it for the admin's shell
#   - /usr/share/ccagent: the shipped unit, config examples and dialplan (`ccagent files write`)
#   - /etc/ccagent 0750 root:ccagent; ccagent.yaml 0640 root:ccagent, written from the example only
#     when absent (its database: /var/lib/ccagent/ccagent.db), never overwritten
#   - /var/lib/ccagent 0750 ccagent:ccagent, and `ccagent db upgrade` run AS ccagent, so a SQLite
#     database and its WAL files belong to the service
#   - /etc/systemd/system/ccagent.service, enabled; started only with --now (the example config's
#     PBX secret must be set first); restarted when it was running and ccagent or the unit changed.
#     systemctl's runtime calls are made only when systemd is running (not in a container or chroot).
#
# --root DIR   install into DIR as if it were / (tests, images).  The venv's scripts name their
#              interpreter by its path on this host (DIR/opt/ccagent/bin/python), and the database
#              is created at DIR/var/lib/ccagent/ccagent.db whatever the config names.
# --wheel FILE install this wheel (default: build one from this source tree)
# --python PY  interpreter for the venv (default: /usr/bin/python3; 3.11 or newer, and one the
#              service user can run: not a pyenv build under /root)
# --now        start the service now (when systemd is running)
# Undo with scripts/uninstall.sh (keeps the config, the data and the user).
set -euo pipefail

umask 022  # the venv and /usr/share/ccagent readable by the service whatever root's umask is
src="$(cd "$(dirname "$0")/.." && pwd)"
root=/
wheel=
python=/usr/bin/python3
now=0
while [ $# -gt 0 ]; do
  case "$1" in
    --root) root="$2"; shift 2 ;;
    --root=*) root="${1#*=}"; shift ;;
    --wheel) wheel="$2"; shift 2 ;;
    --wheel=*) wheel="${1#*=}"; shift ;;
    --python) python="$2"; shift 2 ;;
    --python=*) python="${1#*=}"; shift ;;
    --now) now=1; shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "install.sh: unknown argument: $1 (see --help)" >&2; exit 64 ;;
  esac
done

say() { echo "install.sh: $*"; }
die() { echo "install.sh: $*" >&2; exit "${2:-1}"; }

[ "$(id -u)" = "0" ] || die "run as root (it creates a system user and writes /etc, /opt, /var/lib)" 77
root="$(cd "$root" 2>/dev/null && pwd)" || die "--root: no such directory" 66
p="${root%/}"   # prefix of every path: empty for a real install
if [ -n "$p" ] && [ ! -f "$p/etc/passwd" ]; then
  die "--root $root has no etc/passwd: not a system root" 66
fi
"$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null \
  || die "$python is missing or older than 3.11 (apt-get install python3 python3-venv)" 69

# systemd's runtime (daemon-reload, start) exists only on the real root of a booted systemd host
live_systemd=0
if [ -z "$p" ] && [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then live_systemd=1; fi

# --- the service user and group --------------------------------------------------------------------
lookup() {  # lookup passwd|group NAME -> the entry's numeric id, from the root being installed
  if [ -z "$p" ]; then getent "$1" "$2" | cut -d: -f3; else awk -F: -v n="$2" '$1 == n { print $3 }' "$p/etc/$1"; fi
}
if [ -z "$(lookup passwd ccagent)" ]; then
  prefix=(); [ -n "$p" ] && prefix=(--prefix "$p")
  if [ -z "$(lookup group ccagent)" ]; then group=(--user-group); else group=(--gid ccagent); fi
  useradd "${prefix[@]}" --system "${group[@]}" --home-dir /var/lib/ccagent --no-create-home \
    --shell /usr/sbin/nologin --comment "ccagent contact-centre daemon" ccagent
  say "created the system user ccagent"
fi
uid="$(lookup passwd ccagent)"
gid="$(lookup group ccagent)"
[ -n "$uid" ] && [ -n "$gid" ] || die "user or group ccagent not found after creating it"

# --- ccagent in its venv ---------------------------------------------------------------------------
venv="$p/opt/ccagent"
[ -x "$venv/bin/python" ] || { "$python" -m venv "$venv"; say "created the venv /opt/ccagent"; }
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
if [ -z "$wheel" ]; then
  "$venv/bin/python" -m pip wheel -q --no-deps -w "$tmp" "$src"
  wheel="$(ls "$tmp"/ccagent-*.whl)"
fi
[ -f "$wheel" ] || die "--wheel $wheel: no such file" 66
# A wheel's identity is its RECORD (the hash of every file it carries): two builds of one tree
# have different zip timestamps but the same RECORD, so a re-run with the same code installs nothing.
record_hash="$("$python" - "$wheel" <<'EOF'
import hashlib, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z:
    name = next(n for n in z.namelist() if n.endswith(".dist-info/RECORD"))
    print(hashlib.sha256(z.read(name)).hexdigest(), name.split("/")[0])
EOF
)"
marker="$venv/.ccagent-wheel-record"
changed=0
if [ ! -f "$marker" ] || [ "$(cat "$marker")" != "$record_hash" ] || [ ! -x "$venv/bin/ccagent" ]; then
  "$venv/bin/python" -m pip uninstall -q -y ccagent >/dev/null 2>&1 || true
  "$venv/bin/python" -m pip install -q "$wheel"
  echo "$record_hash" > "$marker"
  changed=1
  say "installed ${record_hash#* } into /opt/ccagent"
fi
as_service() {  # run a command as ccagent, in its state directory, with the unit's umask
  (cd "$p/var/lib/ccagent" && umask 0027 && setpriv --reuid="$uid" --regid="$gid" --clear-groups \
    env -i HOME="$p/var/lib/ccagent" PATH=/usr/bin:/bin LANG=C.UTF-8 "${pass_env[@]}" "$@")
}
pass_env=()
[ -n "${CCAGENT_DB_URL:-}" ] && pass_env=("CCAGENT_DB_URL=$CCAGENT_DB_URL")
mkdir -p "$p/usr/local/bin"
if [ "$(readlink "$p/usr/local/bin/ccagent" 2>/dev/null)" != /opt/ccagent/bin/ccagent ]; then
  ln -sfn /opt/ccagent/bin/ccagent "$p/usr/local/bin/ccagent"
fi

# --- the shipped files, the config, the state directory --------------------------------------------
"$venv/bin/ccagent" files write --force "$p/usr/share/ccagent" | sed 's/^/install.sh: /'
mkdir -p "$p/etc" "$p/var/lib"  # (existing system directories keep their modes)
install -d -m 0750 -o 0 -g "$gid" "$p/etc/ccagent"
install -d -m 0750 -o "$uid" -g "$gid" "$p/var/lib/ccagent"
config="$p/etc/ccagent/ccagent.yaml"
if [ ! -e "$config" ]; then
  # the example's relative sqlite:///ccagent.db would follow whatever directory a command runs in
  sed 's|^\(  url: \)sqlite:///ccagent\.db$|\1sqlite:////var/lib/ccagent/ccagent.db|' \
    "$p/usr/share/ccagent/config/ccagent.example.yaml" > "$tmp/ccagent.yaml"
  grep -q '^  url: sqlite:////var/lib/ccagent/ccagent.db$' "$tmp/ccagent.yaml" \
    || die "the shipped example no longer has 'url: sqlite:///ccagent.db'; update install.sh"
  install -m 0640 -o 0 -g "$gid" "$tmp/ccagent.yaml" "$config"
  say "wrote /etc/ccagent/ccagent.yaml from the example: set the PBX host and secret there"
fi
# readable by the service, by no one else (it holds the PBX secret); an existing file too
chown 0:"$gid" "$config"
chmod 0640 "$config"

# --- the schema, migrated by the service user -------------------------------------------------------
db_args=()
[ -n "$p" ] && db_args=(--db "sqlite:///$p/var/lib/ccagent/ccagent.db")
as_service "$venv/bin/python" -c '' \
  || die "the user ccagent cannot run $venv/bin/python (is $python readable by all? --python)" 77
as_service "$venv/bin/ccagent" db upgrade -c "$config" "${db_args[@]}" | sed 's/^/install.sh: /'

# --- the unit ---------------------------------------------------------------------------------------
unit="$p/etc/systemd/system/ccagent.service"
mkdir -p "$p/etc/systemd/system"
if ! cmp -s "$p/usr/share/ccagent/systemd/ccagent.service" "$unit"; then  # local edits: a drop-in
  install -m 0644 -o 0 -g 0 "$p/usr/share/ccagent/systemd/ccagent.service" "$unit"
  changed=1
  say "installed /etc/systemd/system/ccagent.service"
fi
wants="$p/etc/systemd/system/multi-user.target.wants"
if [ "$(readlink "$wants/ccagent.service" 2>/dev/null)" != /etc/systemd/system/ccagent.service ]; then
  if command -v systemctl >/dev/null 2>&1 && [ -n "$p" ]; then
    systemctl --root="$p" --quiet enable ccagent.service
  elif command -v systemctl >/dev/null 2>&1 && [ "$live_systemd" = 1 ]; then
    systemctl daemon-reload
    systemctl --quiet enable ccagent.service
  else  # what `systemctl enable` does for WantedBy=multi-user.target
    install -d -m 0755 "$wants"
    ln -sfn /etc/systemd/system/ccagent.service "$wants/ccagent.service"
  fi
  say "enabled ccagent.service"
fi
if [ "$live_systemd" = 1 ]; then
  if [ "$changed" = 1 ]; then
    systemctl daemon-reload
    systemctl try-restart ccagent.service  # an upgrade: restart a running daemon, start nothing
  fi
  if [ "$now" = 1 ]; then systemctl start ccagent.service; fi
else
  say "systemd is not running here: the unit is enabled for the next boot, nothing was started"
fi
say "done. Next: edit /etc/ccagent/ccagent.yaml, ccagent check-config /etc/ccagent/ccagent.yaml," \
  "systemctl start ccagent, journalctl -u ccagent -f"
