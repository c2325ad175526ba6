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
# The samconfig.toml environment that deploy, delete, logs and traces use: default (dev) or prod.
CONFIG_ENV ?= default

# cfn-guard (CloudFormation Guard, a Rust crate) checks the translated template against policies/.
# Installed into .tools/ by `make tools`, not into ~/.cargo/bin.
CFN_GUARD_VERSION := 3.2.1
CFN_GUARD := .tools/bin/cfn-guard
TRANSLATED_TEMPLATE := target/translated-template.json
# checkov (the IaC scanner security reviews run) in a venv of its own, .tools/checkov, from
# requirements-checkov.txt: its pinned boto3 cannot share .venv with the SAM CLI's. Its settings
# and the design-wide suppressions, each with its reason, are in .checkov.yaml.
CHECKOV := .tools/checkov/bin/checkov

.PHONY: help venv tools demo dev token redrive functions test lint exam-guide-check validate build deploy canary-rehearsal delete logs traces watch invoke sam-invoke sam-check xray-smoke bench clean

help:
	@echo "make demo                  the local stack + the exam scenarios, narrated (exits non-zero if one misbehaves)"
	@echo "           [STEP=<name>]   ... one step, after the steps it builds on (target/debug/orders-demo --list)"
	@echo "make dev                   the local stack in the foreground: API on http://127.0.0.1:3000, Ctrl-C stops it"
	@echo "make token EMAIL=<email>   sign a customer up and in to make dev's user pool; prints the ID token"
	@echo "           [GROUP=support] ... a member of the support group; TOKEN=\$$(make -s token EMAIL=...)"
	@echo "make invoke FN=<function>  run one function against moto with a sample event (default: create-order)"
	@echo "           [EVENT=<file>]  ... with another event, e.g. EVENT=events/fulfill-order-batch.json"
	@echo "make sam-invoke FN=<function> [EVENT=<file>]"
	@echo "                           sam local invoke (Docker) what make build built, against moto on Docker's bridge"
	@echo "make sam-check             every function under sam local invoke with its sample events, and sam local"
	@echo "                           start-api, asserted (a debug sam build; Docker is installed and started if missing)"
	@echo "make xray-smoke            the release create-order, traced: its X-Ray documents printed as a tree"
	@echo "make bench                 the release functions beside a Python + boto3 port: init, CPU, memory, zip size,"
	@echo "           [BENCH_ARGS=...] KMS calls, orders/s end to end; writes docs/performance.md (e.g. --runs 3)"
	@echo "make watch                 moto + cargo lambda watch in the foreground (invoke from another shell)"
	@echo "make redrive [QUEUE=...]   dead-letter queues back to their source queues, stream failures replayed from the"
	@echo "                           stream (QUEUE=fulfillment|audit|stream, default all), on make dev's stack"
	@echo "           [STACK=<name>]  ... on a deployed stack (e.g. STACK=orders-on-lambda), found by its outputs"
	@echo "make test                  every unit and integration test (starts moto itself)"
	@echo "make lint                  rustfmt check + clippy -D warnings + rustdoc -D warnings + exam-guide-check"
	@echo "make exam-guide-check      every file, test and demo step docs/exam-guide.md names exists; the [CORE] count"
	@echo "make validate              sam validate --lint, sam validate, cfn-lint, then cfn-guard and checkov on the"
	@echo "                           translated template (offline; fails on any finding not suppressed)"
	@echo "make build                 sam build with cargo-lambda, no Docker (ARCH=$(ARCH))"
	@echo "make deploy                sam deploy what make build built (AWS credentials; see docs/deploy.md)"
	@echo "           [GUIDED=1]      ... with sam deploy --guided: review every setting and parameter"
	@echo "           [CONFIG_ENV=prod] ... the prod stack (any command below too)"
	@echo "make canary-rehearsal      exam scenario 15 on the deployed stack: a new release, its canary rolled back by"
	@echo "           [MODE=promote]  ... an alarm set to ALARM (promote: no alarm); DRY_RUN=1 prints, changes nothing"
	@echo "make logs FN=<function>    tail a deployed function's logs (binary or logical id, e.g. FN=fulfill-order)"
	@echo "make traces                tail the X-Ray traces of the stack's account and Region"
	@echo "make delete                sam delete: remove the deployed stack (the KMS keys are retained)"
	@echo "make tools                 install cfn-guard $(CFN_GUARD_VERSION) (cargo install, a few minutes) and checkov into .tools/"
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

# The exam scenarios, narrated, against a local stack of their own. STEP=<name> runs one step (after
# the steps it builds on); `target/debug/orders-demo --list` lists them.
demo: venv functions
	target/debug/orders-demo $(if $(STEP),--step '$(STEP)')

# An ID token of the running `make dev` stack's user pool (sign-up, confirmation and sign-in on
# moto's Cognito), for `curl -H "Authorization: $$TOKEN" -H "x-api-key: ..."`. Only the token goes
# to standard output.
token:
	@test -n "$(EMAIL)" || { echo "usage: make token EMAIL=ada@example.com [GROUP=support]" >&2; exit 2; }
	@cargo build --quiet -p orders-local --bin orders-local
	@target/debug/orders-local token '$(EMAIL)' $(if $(GROUP),--group '$(GROUP)')

# Replays what the event pipeline could not process (tools/redrive). Without STACK: the running
# `make dev` stack (moto on 127.0.0.1:5000, resources named orders-local-<LogicalId>). With STACK:
# that deployed stack, whose queues and topic are read from its outputs.
QUEUE ?= all
REDRIVE_OUTPUTS := target/stack-outputs.json
redrive:
	@cargo build --quiet -p orders-redrive --bin orders-redrive
ifdef STACK
	@$(MAKE) --no-print-directory venv
	@mkdir -p target
	sam list stack-outputs --config-env $(CONFIG_ENV) --stack-name '$(STACK)' --output json > $(REDRIVE_OUTPUTS)
	target/debug/orders-redrive --stack-outputs $(REDRIVE_OUTPUTS) --queue '$(QUEUE)'
else
	AWS_ENDPOINT_URL=$${AWS_ENDPOINT_URL:-http://127.0.0.1:5000} AWS_REGION=us-east-1 \
		AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing \
		target/debug/orders-redrive --local-stack $${ORDERS_LOCAL_STACK:-orders-local} --queue '$(QUEUE)'
endif

test: venv
	cargo test --workspace

# The doc comments are the guided tour of the code: a broken doc link fails lint too, and so does
# an exam guide that names a file or test that does not exist.
lint: exam-guide-check
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings
	RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --quiet

# docs/exam-guide.md and the README's exam table: every file, test (path.rs::fn) and demo step
# they name must exist (scripts/check_exam_guide.py, its own fixture first). Python 3 only.
exam-guide-check:
	python3 scripts/check_exam_guide.py --self-test
	python3 scripts/check_exam_guide.py

tools: $(CHECKOV)
	@$(CFN_GUARD) --version 2>/dev/null | grep -qx 'cfn-guard $(CFN_GUARD_VERSION)' || \
		cargo install --root $(CURDIR)/.tools cfn-guard --locked --version $(CFN_GUARD_VERSION)

$(CHECKOV): requirements-checkov.txt
	python3 -m venv .tools/checkov
	.tools/checkov/bin/pip install --quiet --upgrade pip
	.tools/checkov/bin/pip install --quiet -r requirements-checkov.txt
	touch $@

# cfn-lint checks resource properties and references; cfn-guard checks this project's own policies
# (policies/*.guard) on the CloudFormation that the SAM transform makes of the template, where the
# roles, aliases and deployment groups exist (scripts/translate-template.py, offline); checkov,
# the scanner a security review runs, checks the same CloudFormation against its own rules and
# fails on any finding that is not suppressed (.checkov.yaml, and Metadata in template.yaml).
validate: venv tools
	$(SAM_OFFLINE) sam validate --lint
	$(SAM_OFFLINE) sam validate --region us-east-1
	cfn-lint template.yaml
	$(VENV)/bin/python scripts/translate-template.py --output $(TRANSLATED_TEMPLATE)
	$(CFN_GUARD) validate --rules policies/ --data $(TRANSLATED_TEMPLATE) --show-summary pass,fail
	$(CHECKOV) --config-file .checkov.yaml --file $(TRANSLATED_TEMPLATE)

build: venv
	sam build --parameter-overrides Architecture=$(ARCH)
	@for dir in .aws-sam/build/*Function; do \
		printf '%-28s %8s bytes bootstrap\n' "$$(basename $$dir)" "$$(stat -c %s $$dir/bootstrap)"; \
	done

# Deploys .aws-sam/build, as `make build` left it, with samconfig.toml's settings. The functions'
# Architecture is the one the bootstrap binaries were compiled for (ELF machine 0x3e x86_64, 0xb7
# aarch64): the template's default (arm64) would not run an x86_64 build. A --parameter-overrides on
# the command line replaces samconfig's parameter_overrides rather than adding to them, so they are
# read from samconfig.toml and passed along. `sam deploy` needs no --guided the first time (samconfig
# has every setting); GUIDED=1 reviews them (answer N to saving, or samconfig.toml is rewritten).
BUILT_BOOTSTRAP := .aws-sam/build/CreateOrderFunction/bootstrap
deploy: venv
	@test -f .aws-sam/build/template.yaml -a -f $(BUILT_BOOTSTRAP) || { echo "nothing built: run make build first" >&2; exit 1; }
	@machine=$$(od -An -tx2 -j18 -N2 $(BUILT_BOOTSTRAP) | tr -d ' '); \
	case $$machine in 003e) arch=x86_64 ;; 00b7) arch=arm64 ;; *) echo "$(BUILT_BOOTSTRAP): unknown ELF machine $$machine" >&2; exit 1 ;; esac; \
	overrides=$$($(VENV)/bin/python -c 'import sys, tomllib; \
		config = tomllib.load(open("samconfig.toml", "rb")); \
		print(config[sys.argv[1]]["deploy"]["parameters"].get("parameter_overrides", ""))' $(CONFIG_ENV)); \
	echo "deploying the $$arch build with: $$overrides"; \
	sam deploy --config-env $(CONFIG_ENV) $(if $(GUIDED),--guided) \
		--parameter-overrides "$$overrides Architecture=$$arch"

# Exam scenario 15 on a deployed stack (docs/deploy.md, "Rehearsing a canary"): builds and deploys a
# new release (ORDERS_RELEASE), waits for CodeDeploy's canary, then forces the function's alias errors
# alarm into ALARM (MODE=rollback) or lets the canary finish (MODE=promote). About 10 to 20 minutes.
MODE ?= rollback
canary-rehearsal: venv
	scripts/canary-rehearsal.sh $(MODE) --config-env $(CONFIG_ENV) $(if $(DRY_RUN),--dry-run)

delete: venv
	sam delete --config-env $(CONFIG_ENV)

# FN is a binary (fulfill-order) or a logical id (FulfillOrderFunction); sam logs wants the latter.
logs: venv
	sam logs --config-env $(CONFIG_ENV) --tail \
		-n $(if $(filter %Function,$(FN)),$(FN),$(shell echo '$(FN)' | sed -E 's/(^|-)([a-z])/\U\2/g')Function)

traces: venv
	sam traces --config-env $(CONFIG_ENV) --tail

watch: venv
	scripts/local-function.sh watch

invoke: venv
	scripts/local-function.sh invoke $(FN) $(EVENT)

# sam local invoke with Docker: the architecture make build built, AWS_ENDPOINT_URL and the
# resources' names through --env-vars, moto on Docker's bridge (scripts/sam-local.sh says why).
sam-invoke: venv
	scripts/sam-local.sh invoke $(FN) $(EVENT)

# What CI runs: a debug sam build (target/sam-build), then every function with its sample events
# and sam local start-api, each answer asserted (scripts/sam_local_check.py).
sam-check: venv
	scripts/sam-local.sh check

# Builds the release create-order (cargo lambda, as sam build does) and runs it against moto with the
# local stack's X-Ray daemon (orders-local xray-daemon): fails unless the function sends its
# subsegments.
xray-smoke: venv
	scripts/xray-smoke.sh

# The release functions as `sam build` builds them (cargo lambda), zipped as Lambda stores them,
# then orders-bench (bench/) measures them beside the Python port and writes docs/performance.md.
# Benchmarks, not tests: nothing fails on a slow figure.
FUNCTION_NAMES := $(notdir $(wildcard functions/*))
bench: venv
	cargo lambda build --release --output-format zip --lambda-dir target/bench-lambda $(addprefix -p ,$(FUNCTION_NAMES))
	cargo build -p orders-bench
	target/debug/orders-bench $(BENCH_ARGS)

clean:
	cargo clean
	rm -rf .aws-sam
