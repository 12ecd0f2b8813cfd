#!/usr/bin/env bash
# Installs the benchmark's tools idempotently, from package registries only (crates.io, npm, PyPI).
# Everything lands under bench/ (see bench/.gitignore): nothing global, nothing from other hosts.
#   oha 1.16.0 (load tool)                -> bench/.tools/bin/oha   (cargo install; native-tls: Debian libssl-dev, no C toolchain for aws-lc)
#   Portkey gateway 1.15.2                -> bench/.portkey        (npm, @hono/node-server pinned 1.13.8)
#   LiteLLM proxy 1.100.5                 -> bench/.venv           (pip, virtualenv)
#   markdown-it 15.0.3 + peer widgets     -> bench/.node, bench/.peers (npm)
#   bench/loadgen (streaming TTFB tool)   -> bench/target/release/oachat-loadgen
#   bench/render (native render bench)    -> bench/target/release/oachat-render-bench
#   bench/render-wasm (in-browser renders) -> bench/target/render-wasm-pkg
set -euo pipefail
bench="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$bench/.." && pwd)"
say() { printf '\033[1;34mbench install:\033[0m %s\n' "$*"; }
what="${1:-all}"

OHA_VERSION=1.16.0
PORTKEY_VERSION=1.15.2
LITELLM_VERSION=1.100.5
MARKDOWN_IT_VERSION=15.0.3

if [ "$what" = all ] || [ "$what" = oha ]; then
  if ! "$bench/.tools/bin/oha" --version 2>/dev/null | grep -q "$OHA_VERSION"; then
    if ! dpkg -s libssl-dev pkg-config >/dev/null 2>&1; then
      say "apt-get install libssl-dev pkg-config (oha's TLS backend links OpenSSL)"
      export DEBIAN_FRONTEND=noninteractive
      apt-get install -y -qq libssl-dev pkg-config >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq libssl-dev pkg-config >/dev/null; }
    fi
    say "cargo install oha $OHA_VERSION (a few minutes cold)"
    nice -n 10 cargo install oha --version "=$OHA_VERSION" --locked --no-default-features --features native-tls \
      --root "$bench/.tools" --quiet
  fi
fi

if [ "$what" = all ] || [ "$what" = loadgen ]; then
  say "building bench/loadgen"
  (cd "$bench/loadgen" && nice -n 10 cargo build --release --quiet --target-dir "$bench/target")
fi

if [ "$what" = all ] || [ "$what" = render ]; then
  say "building bench/render"
  (cd "$bench/render" && nice -n 10 cargo build --release --quiet --target-dir "$bench/target")
  say "building bench/render-wasm (the renderers as the widget ships them: wasm, opt-level z, wasm-opt -Oz)"
  (cd "$bench/render-wasm" && nice -n 10 cargo build --release --quiet --target wasm32-unknown-unknown --target-dir "$bench/target")
  pkg="$bench/target/render-wasm-pkg"
  rm -rf "$pkg" && mkdir -p "$pkg"
  "${CARGO_HOME:-$HOME/.cargo}/bin/wasm-bindgen" --target no-modules --no-typescript --out-dir "$pkg" \
    "$bench/target/wasm32-unknown-unknown/release/oachat_render_wasm.wasm"
  # The same wasm-opt flags as .ci/build-widget.sh (binaryen 132 and rustc 1.95, BUILD-NOTES).
  "$root/node_modules/.bin/wasm-opt" -Oz --converge \
    --enable-bulk-memory --enable-bulk-memory-opt --enable-nontrapping-float-to-int \
    --enable-sign-ext --enable-reference-types --enable-multivalue --enable-mutable-globals \
    --enable-call-indirect-overlong \
    "$pkg/oachat_render_wasm_bg.wasm" -o "$pkg/oachat_render_wasm_bg.wasm"
fi

if [ "$what" = all ] || [ "$what" = portkey ]; then
  if [ ! -f "$bench/.portkey/node_modules/@portkey-ai/gateway/package.json" ] \
     || ! grep -q "\"version\": \"$PORTKEY_VERSION\"" "$bench/.portkey/node_modules/@portkey-ai/gateway/package.json"; then
    say "npm install @portkey-ai/gateway@$PORTKEY_VERSION"
    mkdir -p "$bench/.portkey"
    cat > "$bench/.portkey/package.json" <<JSON
{ "name": "oachat-bench-portkey", "private": true,
  "dependencies": { "@portkey-ai/gateway": "$PORTKEY_VERSION" },
  "overrides": { "@hono/node-server": "1.13.8" } }
JSON
    (cd "$bench/.portkey" && npm install --no-audit --no-fund --loglevel=error)
  fi
fi

if [ "$what" = all ] || [ "$what" = litellm ]; then
  if ! "$bench/.venv/bin/python" -c "import importlib.metadata as m, sys; sys.exit(m.version('litellm') != '$LITELLM_VERSION')" 2>/dev/null; then
    say "pip install litellm[proxy]==$LITELLM_VERSION into bench/.venv"
    python3 -m venv "$bench/.venv"
    "$bench/.venv/bin/pip" install -q --disable-pip-version-check "litellm[proxy]==$LITELLM_VERSION"
  fi
fi

if [ "$what" = all ] || [ "$what" = node ]; then
  if [ ! -f "$bench/.node/node_modules/markdown-it/package.json" ]; then
    say "npm install markdown-it@$MARKDOWN_IT_VERSION into bench/.node"
    mkdir -p "$bench/.node"
    echo '{ "name": "oachat-bench-node", "private": true }' > "$bench/.node/package.json"
    (cd "$bench/.node" && npm install --no-audit --no-fund --loglevel=error "markdown-it@$MARKDOWN_IT_VERSION")
  fi
fi
say "done ($what)"
