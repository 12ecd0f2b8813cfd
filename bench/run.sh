#!/usr/bin/env bash
# `make bench`: installs what the benchmark needs (idempotently, under bench/), builds oachat,
# runs every benchmark on this machine and writes bench/RESULTS.md. About 15 minutes.
#   bash bench/run.sh            the full run
#   bash bench/run.sh --smoke    seconds of load (direct + plain workerd, tiny points); writes
#                                bench/out/RESULTS-smoke.md and exits non-zero if a contender fails
#   bash bench/run.sh --only ledger   the ledger part alone (1,000,000 generated rows; ~5 minutes after the builds): builds only
#                                the widget and the worker, and merges its section into RESULTS.md
#   extra flags go to bench/bench.mjs: --only proxy,widget,render,routing,ledger  --contenders direct,workerd,...
# Everything it starts listens on 127.0.0.1 only, and every load loop is bounded in count and time.
set -euo pipefail
bench="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$bench/.." && pwd)"
cd "$root"
smoke=0
only=""
prev=""
for arg in "$@"; do
  [ "$arg" = --smoke ] && smoke=1
  [ "$prev" = --only ] && only=$arg
  prev=$arg
done
say() { printf '\033[1;34mbench:\033[0m %s\n' "$*"; }

# Thousands of concurrent streams need file descriptors (two per proxied stream, on each side).
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

if [ "$smoke" = 1 ]; then
  OACHAT_SETUP_PYTHON=0 OACHAT_SETUP_BROWSER=0 bash .ci/setup.sh
  [ -f worker/build/index.js ] || bash .ci/build-worker.sh
  [ -f widget/dist/widget.js ] || bash .ci/build-widget.sh
  [ -x target/release/mock-openai ] || cargo build --quiet --release -p mock-openai
  for part in oha loadgen render node; do bash bench/install.sh "$part"; done
elif [ "$only" = ledger ]; then
  python3 -c 'import sqlite3' || { say "the ledger part needs python3 with sqlite3"; exit 1; }
  OACHAT_SETUP_PYTHON=0 OACHAT_SETUP_BROWSER=0 bash .ci/setup.sh
  say "building oachat (widget, worker bundle) from this tree"
  bash .ci/build-widget.sh
  bash .ci/build-worker.sh
else
  OACHAT_SETUP_PYTHON=0 bash .ci/setup.sh
  say "building oachat (widget, worker bundle, mock-openai) from this tree"
  bash .ci/build-widget.sh
  bash .ci/build-worker.sh
  cargo build --quiet --release -p mock-openai
  bash bench/install.sh all
  say "building the routing eval"
  cargo build --quiet --release -p oachat-routing-eval
fi

others=$(pgrep -af "cargo|rustc|wrangler|workerd|chromium" | grep -vc binary_backend || true)
[ "${others:-0}" -gt 0 ] && say "note: $others other cargo/rustc/wrangler/workerd/chromium processes are running; figures will be noisier"
exec node bench/bench.mjs "$@"
