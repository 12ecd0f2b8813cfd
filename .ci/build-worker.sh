#!/usr/bin/env bash
# Builds the worker bundle (worker/build/) with worker-build, pointing it at the tools
# .ci/setup.sh installed, so it never tries to download them from GitHub.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cargo_bin="${CARGO_HOME:-$HOME/.cargo}/bin"
export WASM_BINDGEN_BIN="$cargo_bin/wasm-bindgen"
export WASM_OPT_BIN="$root/node_modules/.bin/wasm-opt"
export ESBUILD_BIN="$root/node_modules/.bin/esbuild"
cd "$root/worker"
exec "$cargo_bin/worker-build" --release
