# Two commands do all the set-up on a fresh Debian 12 machine: `make run` and `make test`.
# Tools and the compiled dependencies are cached outside the clone ($(CACHE)), so a fresh
# clone rebuilds only the project itself.

SHELL := /bin/bash
.SHELLFLAGS := -eo pipefail -c
CACHE ?= $(HOME)/.cache/joygate
export JG_CACHE := $(CACHE)
export CARGO_TARGET_DIR ?= $(CACHE)/target
WITH_TOOLS := source $(CACHE)/env.sh &&
E2E_PORT ?= 3107

.PHONY: setup build run cluster test test-rust test-rust-sqlite test-rust-postgres test-cluster test-e2e bench bench-postgres fuzz chaos test-contract clean-site

setup:
	@scripts/setup

build: setup
	$(WITH_TOOLS) cargo leptos build

## Serve the app on the embedded default (SQLite under ./data, sandbox on).
run: setup
	$(WITH_TOOLS) cargo leptos build --release
	$(CARGO_TARGET_DIR)/release/joygate serve

## PostgreSQL, three instances and nginx in front on :3000 (README, "PostgreSQL and several instances").
cluster: setup
	$(WITH_TOOLS) cargo leptos build --release
	scripts/cluster $(CARGO_TARGET_DIR)/release/joygate

## Every test: unit, integration (on SQLite, then on PostgreSQL), the multi-instance test, then
## the browser tests in headless Chromium.
test: build
	$(MAKE) --no-print-directory test-rust test-contract test-cluster test-e2e

## The Rust suite twice: on SQLite, then on PostgreSQL (a throwaway cluster from Debian's
## packages, or the server in JOYGATE_TEST_POSTGRES_URL).
test-rust: test-rust-sqlite test-rust-postgres

test-rust-sqlite:
	$(WITH_TOOLS) env -u JOYGATE_TEST_POSTGRES_URL cargo test --workspace --no-fail-fast

test-rust-postgres:
	$(WITH_TOOLS) scripts/with-postgres cargo test --workspace --no-fail-fast

## Every partner API against its generated OpenAPI document (GET /openapi.json), fuzzed by schemathesis (README, "Robustness").
test-contract:
	scripts/contract $(CARGO_TARGET_DIR)/debug/joygate

## Three `joygate serve` processes on one PostgreSQL behind nginx (server/tests/cluster.rs).
test-cluster:
	scripts/need-nginx
	$(WITH_TOOLS) scripts/with-postgres cargo test --workspace --test cluster -- --nocapture --test-threads=1

## kill -9 under load, long: CHAOS_KILLS SIGKILLs of random instances during postings with
## retries (`make test` runs 10; README, "Robustness").
CHAOS_KILLS ?= 50
chaos: build
	scripts/need-nginx
	$(WITH_TOOLS) JOYGATE_CHAOS_KILLS=$(CHAOS_KILLS) scripts/with-postgres cargo test --workspace --test cluster -- --nocapture kill_minus_nine

## Load figures for the release build (README, "Benchmarks").
bench: setup
	$(WITH_TOOLS) cargo leptos build --release
	$(WITH_TOOLS) cargo build --release -p joygate --example bench_mint --example bench_rewards --example bench_benefits
	scripts/bench $(CARGO_TARGET_DIR)/release/joygate $(CARGO_TARGET_DIR)/release/examples/bench_mint $(CARGO_TARGET_DIR)/release/examples/bench_rewards $(CARGO_TARGET_DIR)/release/examples/bench_benefits

## The PostgreSQL rows: one instance, then three behind nginx (README, "Benchmarks").
bench-postgres: setup
	$(WITH_TOOLS) cargo leptos build --release
	scripts/bench-postgres $(CARGO_TARGET_DIR)/release/joygate

## The parser properties (domain/tests/fuzz_parsers.rs, signing_properties.rs) with many more
## cases than `make test` runs (README, "Robustness"). FUZZ_CASES=… to change.
FUZZ_CASES ?= 50000
fuzz: setup
	$(WITH_TOOLS) PROPTEST_CASES=$(FUZZ_CASES) cargo test -p domain --test fuzz_parsers --test signing_properties -- --test-threads=2

test-e2e:
	cd end2end && E2E_PORT=$(E2E_PORT) E2E_JOYGATE_BIN=$(CARGO_TARGET_DIR)/debug/joygate npx playwright test
