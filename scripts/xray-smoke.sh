#!/usr/bin/env bash
# The release binary as Lambda runs it, traced: shows that create-order sends its X-Ray documents
# to the daemon address Lambda gives it (AWS_XRAY_DAEMON_ADDRESS) and prints the trace as a tree.
#
#   moto (template.yaml's resources)  <-  release bootstrap  <-  cargo lambda watch --only-lambda-apis (Runtime API)
#                                              |                      ^ cargo lambda invoke (with a sampled trace id)
#                                              +-> UDP -> orders-local xray-daemon (the local stack's daemon)
#
# The resources and create-order's environment come from template.yaml, deployed as `make dev`
# deploys them (orders-local resources, stack orders-xray). The daemon fails unless at least three
# documents arrive, each one whole, and if it dropped a datagram (no daemon header, or not JSON).
#
# Ports (overridable): moto ${MOTO_PORT:-5010}, Runtime API ${RUNTIME_PORT:-9010}, daemon ${XRAY_PORT:-2010}.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=$PWD/.venv/bin:$PATH
moto_port=${MOTO_PORT:-5010} runtime_port=${RUNTIME_PORT:-9010} xray_port=${XRAY_PORT:-2010}
export AWS_ENDPOINT_URL=http://127.0.0.1:$moto_port
binaries=${CARGO_TARGET_DIR:-target}/debug
daemon_log=target/xray-smoke-daemon.log

# shellcheck source=scripts/processes.sh
. scripts/processes.sh
trap stop_started EXIT INT TERM

echo "==> cargo lambda build --release --bin create-order (the same build sam build runs)"
cargo lambda build --release --bin create-order
cargo build --quiet -p orders-local --bin orders-local
mkdir -p target
.venv/bin/python scripts/moto_server.py --port "$moto_port" >target/xray-smoke-moto.log 2>&1 &
pids+=($!)
wait_for_port 127.0.0.1 "$moto_port" moto
"$binaries/orders-local" resources --stack-name orders-xray --env-dir target/xray-smoke-env \
    2>target/xray-smoke-resources.log || { cat target/xray-smoke-resources.log >&2; exit 1; }
cargo lambda watch --only-lambda-apis -P "$runtime_port" >target/xray-smoke-watch.log 2>&1 &
pids+=($!)
wait_for_port 127.0.0.1 "$runtime_port" "the Runtime API (cargo lambda watch)"
"$binaries/orders-local" xray-daemon --port "$xray_port" --expect 3 >"$daemon_log" 2>&1 &
daemon=$!
# The function sends each subsegment as it ends: the daemon's socket must be bound before it runs.
for _ in $(seq 1 100); do grep -q '^listening' "$daemon_log" && break; sleep 0.1; done
grep -q '^listening' "$daemon_log" || { cat "$daemon_log" >&2; echo "error: the daemon did not start" >&2; exit 1; }

# create-order's environment from the template, and what Lambda sets.
mapfile -t environment <target/xray-smoke-env/create-order.env
env "${environment[@]}" AWS_XRAY_DAEMON_ADDRESS=127.0.0.1:$xray_port \
    AWS_LAMBDA_RUNTIME_API=http://127.0.0.1:$runtime_port/.rt AWS_LAMBDA_FUNCTION_NAME=create-order \
    AWS_LAMBDA_FUNCTION_MEMORY_SIZE=256 AWS_LAMBDA_FUNCTION_VERSION=1 \
    target/lambda/create-order/bootstrap &
pids+=($!)
echo "==> cargo lambda invoke create-order --data-file events/create-order.json"
cargo lambda invoke _ -P "$runtime_port" --data-file events/create-order.json | head -c 200
echo
echo "==> the X-Ray documents the function sent"
status=0
wait "$daemon" || status=$?
cat "$daemon_log"
exit "$status"
