#!/usr/bin/env bash
# Runs one function locally against moto, the way Lambda would run it, without Docker:
#
#   moto server (DynamoDB, KMS, SNS, SQS)  <-  cargo lambda watch (Lambda Runtime API emulator, runs the function)
#        ^ template.yaml's resources                ^
#          (orders-local resources, as make dev)    cargo lambda invoke --data-file events/<fn>.json
#
# Usage: scripts/local-function.sh watch            moto + cargo lambda watch, in the foreground
#        scripts/local-function.sh invoke <fn> [event-file]
#                                                   the same in the background, one invocation
#                                                   (default event: events/<fn>.json), stop
#
# The resources are the template's, deployed as `make dev` deploys them (stack
# ${ORDERS_LOCAL_STACK:-orders-local}), plus the order the sample events name. Each function gets the environment the template gives it
# (TABLE_NAME, PAYMENT_KEY_ID, TOPIC_ARN, ... resolved to the resources) plus AWS_ENDPOINT_URL:
# `invoke` that function's alone (target/local-function/<fn>.env); `watch` runs every function in
# one environment, so it gets every function's variables (target/local-function.env).
#
# Addresses (overridable): moto on 127.0.0.1:${MOTO_PORT:-5000}, the runtime API on ${WATCH_PORT:-9000}.
set -euo pipefail
cd "$(dirname "$0")/.."

mode=${1:?usage: $0 watch | invoke <function>}
fn=${2:-}
event_file=${3:-events/$fn.json}
venv=$PWD/.venv
export PATH=$venv/bin:$PATH
moto_port=${MOTO_PORT:-5000}
watch_port=${WATCH_PORT:-9000}
# The SDK reads AWS_ENDPOINT_URL itself: no code path differs from AWS.
export AWS_ENDPOINT_URL=${AWS_ENDPOINT_URL:-http://127.0.0.1:$moto_port}
all_env=target/local-function.env
env_dir=target/local-function
binaries=${CARGO_TARGET_DIR:-target}/debug

# shellcheck source=scripts/processes.sh
. scripts/processes.sh
trap stop_started EXIT INT TERM

if [ "$mode" = invoke ]; then
    [ -n "$fn" ] || { echo "usage: $0 invoke <function>" >&2; exit 2; }
    [ -f "$event_file" ] || { echo "error: no event file $event_file" >&2; exit 2; }
    # Compile first, so the first invocation does not wait for the build.
    cargo build --quiet -p "$fn" --bin "$fn"
fi
cargo build --quiet -p orders-local --bin orders-local

if (exec 3<>"/dev/tcp/127.0.0.1/$moto_port") 2>/dev/null; then
    echo "==> using the server already on 127.0.0.1:$moto_port"
else
    echo "==> moto on 127.0.0.1:$moto_port (log: target/moto.log)"
    mkdir -p target
    "$venv/bin/python" scripts/moto_server.py --port "$moto_port" >target/moto.log 2>&1 &
    pids+=($!)
    wait_for_port 127.0.0.1 "$moto_port" moto
fi
echo "==> orders-local resources: template.yaml's resources on $AWS_ENDPOINT_URL"
# --sample-order: the order the sample events name, stored with create-order's table and key.
"$binaries/orders-local" resources --sample-order --env-file "$all_env" --env-dir "$env_dir"

env_file=$all_env
[ "$mode" = invoke ] && env_file=$env_dir/$fn.env
[ -f "$env_file" ] || { echo "error: template.yaml has no function $fn" >&2; exit 2; }
echo "==> cargo lambda watch on 127.0.0.1:$watch_port (--env-file $env_file)"
sed 's/^/    /' "$env_file"
watch_args=(--invoke-port "$watch_port" --env-file "$env_file")
if [ "$mode" = watch ]; then
    echo "    invoke with: make invoke FN=<function>   (or cargo lambda invoke <function> --data-file events/<function>.json)"
    cargo lambda watch "${watch_args[@]}"
    exit
fi

cargo lambda watch "${watch_args[@]}" >target/cargo-lambda-watch.log 2>&1 &
pids+=($!)
wait_for_port 127.0.0.1 "$watch_port" "cargo lambda watch"
echo "==> cargo lambda invoke $fn --data-file $event_file"
cargo lambda invoke "$fn" --invoke-port "$watch_port" --data-file "$event_file" --output-format json
