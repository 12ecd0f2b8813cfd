# oachat: the two commands are `make dev` and `make test`. Both install what is missing.
.PHONY: dev test build bench setup lint unit integration e2e fmt clean

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

bench:
	@bash bench/run.sh

fmt:
	cargo fmt --all

clean:
	rm -rf target worker/build widget/dist .wrangler test-results
