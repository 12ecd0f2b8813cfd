#!/usr/bin/env bash
# `make dev`: installs what is missing, builds, starts mock-openai (when no real keys are
# configured) and the worker under `wrangler dev`, prints the demo URL. Ctrl-C stops all.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
OACHAT_SETUP_PYTHON=0 OACHAT_SETUP_BROWSER=0 OACHAT_SETUP_PHP=0 bash .ci/setup.sh
export WRANGLER_SEND_METRICS=false CLOUDFLARE_CF_FETCH_ENABLED=false

if [ ! -f .dev.vars ]; then
  # Local-only secrets, created once. Real keys go here too (OPENAI_API_KEYS, OPENAI_BASE_URL).
  cat > .dev.vars <<VARS
OPENAI_BASE_URL=http://127.0.0.1:9999/v1
OPENAI_API_KEYS=sk-mock-ok,sk-mock-ok-2
OACHAT_SIGNING_SECRET=$(od -An -tx1 -N24 /dev/urandom | tr -d ' \n')
OACHAT_ADMIN_TOKEN=$(od -An -tx1 -N24 /dev/urandom | tr -d ' \n')
OACHAT_DEMO=1
VARS
  echo "dev: wrote .dev.vars (local secrets; git ignores it)"
fi

cargo run --quiet --release -p oachat-worker --bin oachat-check-config -- wrangler.toml .dev.vars
bash .ci/build-widget.sh
bash .ci/build-worker.sh >/dev/null
# wrangler runs the build again on start; skip that one (just done), keep rebuilds on edit.
touch .wrangler-skip-build

pids=()
# Each service runs in its own process group (setsid), so stopping it stops its children too
# (npx → wrangler → workerd).
cleanup() {
  for pid in "${pids[@]}"; do kill -TERM -- "-$pid" 2>/dev/null || kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM

keys=$(grep -E '^OPENAI_API_KEYS=' .dev.vars | cut -d= -f2- || true)
if [ -z "$keys" ] || [[ "$keys" == sk-mock-* ]]; then
  cargo build --quiet --release -p mock-openai
  setsid target/release/mock-openai --port 9999 --chunks 40 --delay-ms 15 &
  pids+=($!)
fi

setsid npx wrangler dev --ip 127.0.0.1 --port 8787 --var OACHAT_DEMO:1 &
wrangler_pid=$!
pids+=($wrangler_pid)
until curl -fsS -o /dev/null http://127.0.0.1:8787/healthz 2>/dev/null; do
  kill -0 "$wrangler_pid" 2>/dev/null || { echo "dev: wrangler dev exited" >&2; exit 1; }
  sleep 0.5
done
printf '\n\033[1;32moachat is running.\033[0m Demo OA page: http://127.0.0.1:8787/demo\n'
printf 'Embed anywhere: <script src="http://127.0.0.1:8787/widget.js" defer></script>\n\n'
wait
