#!/usr/bin/env bash
# Installs everything oachat's build and tests need, idempotently, from package registries only
# (crates.io, npm, Debian). Safe to run again: each step checks before it installs.
# See ../shared/BUILD-NOTES.md for why each pin and flag is what it is.
set -euo pipefail
cd "$(dirname "$0")/.."

WORKER_BUILD_VERSION=0.8.7
WASM_BINDGEN_VERSION=0.2.130   # must equal the `wasm-bindgen` crate pin in Cargo.toml
want_browser=${OACHAT_SETUP_BROWSER:-1}
want_python=${OACHAT_SETUP_PYTHON:-1}
want_php=${OACHAT_SETUP_PHP:-1}

say() { printf '\033[1;34msetup:\033[0m %s\n' "$*"; }

if ! rustup target list --installed 2>/dev/null | grep -q '^wasm32-unknown-unknown$'; then
  say "adding the wasm32-unknown-unknown target"
  rustup target add wasm32-unknown-unknown
fi
rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy
rustup component list --installed 2>/dev/null | grep -q '^rustfmt' || rustup component add rustfmt

cargo_bin="${CARGO_HOME:-$HOME/.cargo}/bin"
if ! "$cargo_bin/worker-build" --version 2>/dev/null | grep -q "$WORKER_BUILD_VERSION"; then
  say "installing worker-build $WORKER_BUILD_VERSION (about 4 minutes cold)"
  cargo install worker-build --version "=$WORKER_BUILD_VERSION" --locked
fi
if ! "$cargo_bin/wasm-bindgen" --version 2>/dev/null | grep -q "$WASM_BINDGEN_VERSION"; then
  say "installing wasm-bindgen-cli $WASM_BINDGEN_VERSION (about 4 minutes cold)"
  # Not --locked: its lockfile wants a webpki-roots version the registry no longer has.
  cargo install wasm-bindgen-cli --version "=$WASM_BINDGEN_VERSION"
fi

# wrangler (+ workerd, esbuild), Node 22 for wrangler, wasm-opt, playwright-core, the OpenAI SDK.
# `npm ci` cannot work here (the lockfile lists platform packages the registry does not serve).
if [ ! -x node_modules/.bin/wrangler ] || [ ! -x node_modules/.bin/wasm-opt ] \
   || [ package.json -nt node_modules/.package-lock.json ]; then
  say "npm install"
  npm install --no-audit --no-fund --loglevel=error
fi

if [ "$want_browser" = 1 ] && [ ! -x /usr/bin/chromium ]; then
  say "installing Debian chromium (for the widget's end-to-end tests)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq chromium >/dev/null
fi
if [ "$want_browser" = 1 ] && [ ! -d /usr/share/fonts/truetype/wqy ]; then
  # A CJK font, so screenshots of Chinese answers show text instead of boxes.
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq fonts-wqy-microhei >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq fonts-wqy-microhei >/dev/null; }
fi

if [ "$want_php" = 1 ] && ! command -v php >/dev/null 2>&1; then
  # Runs examples/tokens/mint.php in the token-minting test (the first OA backend was PHP).
  say "installing Debian php-cli (for examples/tokens/mint.php)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq php-cli >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq php-cli >/dev/null; }
fi

if [ ! -x /usr/sbin/nginx ]; then
  # Debian's nginx in front of the self-hosted build (worker/tests/selfhost-nginx.test.mjs runs
  # it unprivileged with a generated config; the package's own service is not used).
  say "installing Debian nginx-light (for the self-hosted build's nginx test)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq nginx-light >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq nginx-light >/dev/null; }
fi

if [ "$want_python" = 1 ]; then
  # The official Python OpenAI SDK runs as a real client in the integration tests.
  if [ ! -x worker/tests/.venv/bin/python ] || ! worker/tests/.venv/bin/python -c 'import openai' 2>/dev/null; then
    say "creating worker/tests/.venv with the openai SDK"
    python3 -m venv worker/tests/.venv
    worker/tests/.venv/bin/pip install -q --disable-pip-version-check 'openai==3.57.0'
  fi
fi
say "tools ready"
