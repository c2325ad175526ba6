# Orders on Lambda: the entry points. `make help` lists them.
#
# Python tools (moto, SAM CLI, cargo-lambda, zig) are pinned in requirements-dev.txt and installed
# into .venv by `make venv`; every target that needs them depends on it.

SHELL := /bin/bash
VENV := .venv
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
# The SAM CLI works offline; keep it from trying to send telemetry.
export SAM_CLI_TELEMETRY := 0
# `sam validate` wants credentials and a region even offline: dummy ones, never real.
SAM_OFFLINE := AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_DEFAULT_REGION=us-east-1

# The architecture `make build` compiles for: this machine's, unless told otherwise. The template
# deploys arm64 (Graviton) by default; building arm64 on an x86_64 machine needs the Rust
# aarch64 target installed (`rustup target add aarch64-unknown-linux-gnu`).
ARCH ?= $(if $(filter aarch64 arm64,$(shell uname -m)),arm64,x86_64)
FN ?= create-order
EVENT ?= events/$(FN).json

.PHONY: help venv demo dev functions test lint validate build watch invoke xray-smoke clean

help:
	@echo "make demo                  the local stack + the exam scenarios, narrated (exits non-zero if one misbehaves)"
	@echo "make dev                   the local stack in the foreground: API on http://127.0.0.1:3000, Ctrl-C stops it"
	@echo "make invoke FN=<function>  run one function against moto with a sample event (default: create-order)"
	@echo "           [EVENT=<file>]  ... with another event, e.g. EVENT=events/fulfill-order-batch.json"
	@echo "make xray-smoke            the release create-order, traced: its X-Ray documents printed as a tree"
	@echo "make watch                 moto + cargo lambda watch in the foreground (invoke from another shell)"
	@echo "make test                  every unit and integration test (starts moto itself)"
	@echo "make lint                  rustfmt check + clippy -D warnings + rustdoc -D warnings"
	@echo "make validate              sam validate --lint and sam validate (offline)"
	@echo "make build                 sam build with cargo-lambda, no Docker (ARCH=$(ARCH))"
	@echo "functions: $$(ls functions | tr '\n' ' ')"

venv: $(VENV)/.installed

$(VENV)/.installed: requirements-dev.txt
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -r requirements-dev.txt
	touch $@

# The functions' binaries, as the local stack runs them (one process per function).
functions:
	cargo build --workspace --bins

# The whole system from template.yaml, without Docker (local/): moto, the resources, every function.
dev: venv functions
	target/debug/orders-local

demo: venv functions
	target/debug/orders-demo

test: venv
	cargo test --workspace

# The doc comments are the guided tour of the code: a broken doc link fails lint too.
lint:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings
	RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --quiet

validate: venv
	$(SAM_OFFLINE) sam validate --lint
	$(SAM_OFFLINE) sam validate --region us-east-1

build: venv
	sam build --parameter-overrides Architecture=$(ARCH)
	@for dir in .aws-sam/build/*Function; do \
		printf '%-28s %8s bytes bootstrap\n' "$$(basename $$dir)" "$$(stat -c %s $$dir/bootstrap)"; \
	done

watch: venv
	scripts/local-function.sh watch

invoke: venv
	scripts/local-function.sh invoke $(FN) $(EVENT)

# Builds the release create-order (cargo lambda, as sam build does) and runs it against moto with a
# stand-in X-Ray daemon: fails unless the function sends its subsegments.
xray-smoke: venv
	scripts/xray-smoke.sh

clean:
	cargo clean
	rm -rf .aws-sam
