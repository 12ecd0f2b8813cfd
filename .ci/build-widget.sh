#!/usr/bin/env bash
# Builds the widget into widget/dist/ (the worker's static assets):
#   wasm32 build -> wasm-bindgen (--target web) -> wasm-opt -Oz --converge -> widget/build.mjs
# which content-hashes the core, writes the loader with the hashed names, and the _headers.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
cargo_bin="${CARGO_HOME:-$HOME/.cargo}/bin"
out="$root/target/widget-bindgen"

cargo build -p oachat-widget --target wasm32-unknown-unknown --profile widget --quiet
rm -rf "$out" && mkdir -p "$out"
"$cargo_bin/wasm-bindgen" --target web --no-typescript --out-dir "$out" \
  target/wasm32-unknown-unknown/widget/oachat_widget.wasm
# Feature flags: binaryen 132 must be told what rustc 1.95 emits (BUILD-NOTES).
# --converge repeats the passes until the size stops shrinking: ~0.7 KiB gzip for ~20 s.
node_modules/.bin/wasm-opt -Oz --converge \
  --enable-bulk-memory --enable-bulk-memory-opt --enable-nontrapping-float-to-int \
  --enable-sign-ext --enable-reference-types --enable-multivalue --enable-mutable-globals \
  --enable-call-indirect-overlong \
  "$out/oachat_widget_bg.wasm" -o "$out/oachat_widget_bg.opt.wasm"
node widget/build.mjs "$out"
