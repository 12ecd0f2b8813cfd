#!/usr/bin/env bash
# wrangler's [build] command (so `npx wrangler deploy` and `wrangler dev` build everything):
# the widget's static assets, then the worker bundle.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
if [ -f "$root/.wrangler-skip-build" ]; then
  rm -f "$root/.wrangler-skip-build"   # `make dev` built everything just before starting wrangler
  exit 0
fi
if [ "${OACHAT_PREBUILT:-0}" = 1 ] && [ -f "$root/worker/build/index.js" ] && [ -f "$root/widget/dist/widget.js" ]; then
  exit 0   # test and dev runners built up front
fi
bash "$root/.ci/build-widget.sh"
bash "$root/.ci/build-worker.sh"
