#!/usr/bin/env bash
# oachat, self-hosted: one workerd process serving the worker, its Durable Objects, the ledger
# and the widget's assets from this folder (README "Self-hosting").
#
#   run [ENV_FILE]               start (in the foreground; systemd or a container supervises it)
#   run backup DIR [ENV_FILE]    copy the data, consistent, while serving
#   run restore DIR [ENV_FILE]   put a backup back (only while stopped)
#   run check [ENV_FILE]         validate the environment and OACHAT_CONFIG, then exit
#
# Everything comes from the environment, as on Cloudflare: OPENAI_API_KEYS, OPENAI_BASE_URL,
# OACHAT_SIGNING_SECRET, OACHAT_ADMIN_TOKEN, OACHAT_CONFIG (and any secret the config names),
# plus OACHAT_LISTEN (default 127.0.0.1:8080) and OACHAT_DATA (default ./data). An ENV_FILE of
# NAME=value lines overrides the environment. Values are passed to workerd by name
# (`fromEnvironment` bindings): no secret is ever written to disk.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
die() { printf 'oachat: %s\n' "$*" >&2; exit 1; }

command=serve
case "${1:-}" in
  backup|restore) command=$1; [ $# -ge 2 ] || die "usage: run $1 DIR [ENV_FILE]"; target=$2; shift 2 ;;
  check) command=check; shift ;;
  -h|--help|help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
esac

# NAME=value lines; blank lines and # comments skipped; one pair of surrounding quotes dropped.
# `only_unset` keeps values the environment already has (for wrangler.toml's [vars] defaults).
load_env_file() {
  local file=$1 only_unset=${2:-0} line name value
  [ -r "$file" ] || die "cannot read the env file $file"
  while IFS= read -r line || [ -n "$line" ]; do
    line="${line%$'\r'}"
    case "$line" in ''|'#'*) continue ;; esac
    line="${line#export }"
    name="${line%%=*}"
    [ "$name" != "$line" ] || die "$file: not a NAME=value line: ${line:0:20}..."
    [[ "$name" =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] || die "$file: not a variable name: $name"
    value="${line#*=}"
    if [[ "$value" =~ ^\"(.*)\"$ || "$value" =~ ^\'(.*)\'$ ]]; then value="${BASH_REMATCH[1]}"; fi
    if [ "$only_unset" = 1 ] && [ -n "${!name+set}" ]; then continue; fi
    export "$name=$value"
  done < "$file"
}

[ $# -ge 1 ] && { load_env_file "$1"; shift; }
[ $# -eq 0 ] || die "unexpected arguments: $* (see run --help)"
load_env_file "$here/vars.defaults" 1
listen="${OACHAT_LISTEN:-127.0.0.1:8080}"
data="${OACHAT_DATA:-./data}"

if [ "$command" != check ]; then
  mkdir -p "$data" || die "cannot create OACHAT_DATA $data"
  data="$(cd "$data" && pwd)"
fi
lock="$data/oachat.lock"

# The lock is held by the serving workerd for its whole life (it inherits descriptor 9), so
# `restore` and a second `run` see it; the kernel drops it when the process dies, even by kill -9.
is_running() {
  ( exec 8>>"$lock"; ! flock -n 8 )
}

case "$command" in
backup)
  [ -d "$data/do" ] || die "no data in $data"
  [ ! -e "$target" ] || [ -z "$(ls -A "$target")" ] || die "$target exists and is not empty"
  mkdir -p "$target"
  pid=""
  if is_running; then
    pid="$(cat "$data/oachat.pid" 2>/dev/null || true)"
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || die "oachat is running on $data but its pid file is missing"
  fi
  # One instant for every database: workerd is paused (SIGSTOP) while the files are copied,
  # so the copy is what a power cut at that instant would leave, which SQLite recovers from
  # (its WAL is copied with it); then it resumes. Requests wait for the copy, none fails.
  resume() { [ -z "$pid" ] || kill -CONT "$pid" 2>/dev/null || true; }
  trap resume EXIT
  [ -z "$pid" ] || kill -STOP "$pid"
  started=$(date +%s%N)
  cp -a --reflink=auto "$data/do" "$data/ledger" "$target/"
  resume
  trap - EXIT
  paused_ms=$(( ($(date +%s%N) - started) / 1000000 ))
  { echo "oachat backup"; date -u +%FT%TZ; cat "$here/VERSION"; } > "$target/BACKUP-INFO"
  echo "oachat: backed up $data to $target (${pid:+serving paused }${paused_ms} ms)"
  exit 0
  ;;
restore)
  [ -f "$target/BACKUP-INFO" ] && [ -d "$target/do" ] || die "$target is not an oachat backup (no BACKUP-INFO)"
  is_running && die "oachat is running on $data: stop it before restoring"
  aside=""
  if [ -e "$data/do" ] || [ -e "$data/ledger" ]; then
    aside="$data/replaced-$(date -u +%Y%m%dT%H%M%SZ)"
    mkdir -p "$aside"
    for part in do ledger; do [ ! -e "$data/$part" ] || mv "$data/$part" "$aside/"; done
  fi
  cp -a "$target/do" "$target/ledger" "$data/"
  echo "oachat: restored $target into $data${aside:+ (the data it replaced is in $aside)}"
  exit 0
  ;;
esac

# ---- check and serve ----------------------------------------------------------------------
for secret in OACHAT_SIGNING_SECRET OACHAT_ADMIN_TOKEN; do
  [ -n "${!secret:-}" ] || die "$secret is not set: set it in the environment or the env file (see README \"Self-hosting\")"
done
"$here/bin/oachat-check-config" --env >&2 || die "refusing to start: fix the configuration above"
[ "$command" = check ] && exit 0

is_running && die "another oachat is already serving $data"
exec 9>>"$lock"
flock -n 9 || die "another oachat is already serving $data"
mkdir -p "$data/do" "$data/ledger"
echo $$ > "$data/oachat.pid"

# One binding per variable the worker may read, by name: workerd looks the value up itself.
bindings=""
while IFS= read -r name; do
  case " @RUN_ONLY@ " in *" $name "*) continue ;; esac
  [[ "$name" =~ @ENV_PATTERN@ ]] || continue
  bindings+="      (name = \"$name\", fromEnvironment = \"$name\"),"$'\n'
done < <(compgen -e)
template="$(cat "$here/oachat.capnp.in")"
# Names only, never values: the file may be read by anyone who can read the data folder.
printf '%s\n' "${template/@ENV_BINDINGS@/$bindings}" > "$data/workerd.capnp"

echo "oachat: serving on http://$listen, data in $data" >&2
# The config names the bundle on the import path (-I this folder), so it may live anywhere.
exec "$here/bin/workerd" serve "$data/workerd.capnp" -I "$here" --experimental \
  -s "http=$listen" -d "do-storage=$data/do" -d "d1-storage=$data/ledger" -d "assets=$here/assets"
