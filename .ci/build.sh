#!/usr/bin/env bash
# wrangler's [build] command (so `npx wrangler deploy` and `wrangler dev` build everything):
# the widget's static assets, then the worker bundle.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
if [ "${OACHAT_PREBUILT:-0}" = 1 ] && [ -f "$root/worker/build/index.js" ] && [ -f "$root/widget/dist/widget.js" ]; then
  exit 0   # test and dev runners built up front
fi
bash "$root/.ci/build-widget.sh"
bash "$root/.ci/build-worker.sh"
