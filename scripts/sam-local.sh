#!/usr/bin/env bash
# `sam local` (Docker) against moto, as a SAM user runs it, made to work where it otherwise fails:
#
#   moto on Docker's bridge (172.17.0.1:$MOTO_PORT)  <-  function container (SAM's emulator image)
#        ^ template.yaml's resources (orders-local resources, as make dev deploys them)
#          and the order the sample events name
#
#   sam local invoke <Fn> --parameter-overrides Architecture=<built> --skip-pull-image
#                         --env-vars target/sam-env.json   (AWS_ENDPOINT_URL, TABLE_NAME, ...)
#
# Three things a plain `sam local invoke` gets wrong here, and what this script does instead:
# - the built template keeps Architecture's default (arm64): the architecture the binaries were
#   built for is passed again (read from the bootstrap's ELF header);
# - --env-vars only overrides variables the template declares: the template declares
#   AWS_ENDPOINT_URL as AWS::NoValue (absent from every deployed function), and the env-vars file
#   sets it, with each function's variables resolved to the resources deployed on moto (SAM alone
#   would give !Ref OrdersTable the logical id);
# - a container cannot reach 127.0.0.1 of the host: moto listens on the Docker bridge's address.
#
# Usage: scripts/sam-local.sh invoke <function> [event-file]   one function, built by `make build`
#        scripts/sam-local.sh check                           every function with its sample events,
#                                                             and `sam local start-api`, asserted
#
# Docker: if no engine answers, Debian's docker.io is installed (as root) where dockerd is
# missing, and dockerd is started (--iptables=false) and stopped at the end. The base image
# public.ecr.aws/lambda/provided:al2023-<arch> is pulled if it can be; where no registry is
# reachable, a labelled stand-in is built from a Debian minbase root (debootstrap, with the CA
# certificates) with the real image's environment and working directory; SAM adds its emulator
# layer on top either way.
#
# The merchant notifier exists only with a webhook URL: the resources are deployed, and every
# function invoked, with MerchantWebhookUrl=http://<bridge>:$SAM_MERCHANT_PORT/webhook, where the
# check listens as the merchant (with `invoke`, nothing listens there: notify-merchant fails).
#
# Ports (overridable): moto ${MOTO_PORT:-5011}, start-api ${SAM_API_PORT:-3011}, the merchant
# ${SAM_MERCHANT_PORT:-5012}.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=$PWD/.venv/bin:$PATH SAM_CLI_TELEMETRY=0
export AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing
mode=${1:?usage: $0 invoke <function> [event] | check}
moto_port=${MOTO_PORT:-5011}
api_port=${SAM_API_PORT:-3011}
merchant_port=${SAM_MERCHANT_PORT:-5012}
base_repository=public.ecr.aws/lambda/provided
mkdir -p target

# shellcheck source=scripts/processes.sh
. scripts/processes.sh
started_dockerd=
cleanup() {
    stop_started
    if [ -n "$started_dockerd" ]; then
        echo "==> stopping the dockerd this script started"
        kill "$started_dockerd" 2>/dev/null || true
        wait "$started_dockerd" 2>/dev/null || true
    fi
}
trap cleanup EXIT INT TERM

apt_install() { # packages...
    if [ "$(id -u)" != 0 ]; then
        echo "error: $* missing; install them (apt-get install $*) or run as root" >&2
        return 1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >target/apt.log 2>&1 ||
        { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >target/apt.log 2>&1; }
}

ensure_docker() {
    if docker info >/dev/null 2>&1; then
        return 0
    fi
    if ! command -v dockerd >/dev/null; then
        echo "==> installing Debian's docker.io"
        apt_install docker.io
    fi
    echo "==> starting dockerd (log: target/dockerd.log)"
    dockerd --iptables=false >target/dockerd.log 2>&1 &
    started_dockerd=$!
    for _ in $(seq 1 150); do
        docker info >/dev/null 2>&1 && return 0
        kill -0 "$started_dockerd" 2>/dev/null || break
        sleep 0.2
    done
    echo "error: dockerd did not start; see target/dockerd.log" >&2
    return 1
}

# The base image SAM builds its emulator image on, for `arch` (x86_64, arm64).
ensure_base_image() { # arch
    local arch=$1 image=$base_repository:al2023-$1
    docker image inspect "$image" >/dev/null 2>&1 && return 0
    echo "==> pulling $image"
    if timeout 120 docker pull "$image" >target/docker-pull.log 2>&1; then
        docker tag "$image" "$base_repository:al2023"
        return 0
    fi
    local host_arch
    host_arch=$(uname -m); [ "$host_arch" = aarch64 ] && host_arch=arm64
    if [ "$arch" != "$host_arch" ]; then
        echo "error: cannot pull $image, and a stand-in can only be built for $host_arch" >&2
        return 1
    fi
    echo "==> no registry reachable: building a stand-in $image from a Debian minbase root"
    command -v debootstrap >/dev/null || apt_install debootstrap
    local root=target/lambda-base/root
    # The CA certificates too: the functions' TLS stack (rustls with the system's roots) needs them,
    # and the real image has them.
    if [ ! -f "$root/etc/ssl/certs/ca-certificates.crt" ]; then
        rm -rf "$root"
        mkdir -p "$root"
        debootstrap --variant=minbase --include=ca-certificates bookworm "$root" \
            http://deb.debian.org/debian >target/debootstrap.log 2>&1
    fi
    mkdir -p "$root/var/task" "$root/var/runtime" "$root/opt"
    # The environment and working directory of the real image.
    tar -C "$root" -c . | docker import \
        --change 'ENV LANG=en_US.UTF-8' \
        --change 'ENV TZ=:/etc/localtime' \
        --change 'ENV PATH=/var/lang/bin:/usr/local/bin:/usr/bin/:/bin:/opt/bin' \
        --change 'ENV LD_LIBRARY_PATH=/var/lang/lib:/lib64:/usr/lib64:/var/runtime:/var/runtime/lib:/var/task:/var/task/lib:/opt/lib' \
        --change 'ENV LAMBDA_TASK_ROOT=/var/task' \
        --change 'ENV LAMBDA_RUNTIME_DIR=/var/runtime' \
        --change 'WORKDIR /var/task' \
        --change 'LABEL orders-on-lambda.stand-in="Debian bookworm minbase standing in for provided:al2023 (no registry reachable)"' \
        - "$image" >/dev/null
    docker tag "$image" "$base_repository:al2023"
    # SAM's emulator image built on an earlier base would be used as it is: remove it.
    docker images --format '{{.Repository}}:{{.Tag}}' "$base_repository" | { grep -- '-rapid-' || true; } |
        xargs -r docker rmi -f >/dev/null
}

# x86_64 or arm64, from a bootstrap's ELF header (e_machine 0x3e or 0xb7).
architecture_of() { # bootstrap
    case $(od -An -tx2 -j18 -N2 "$1" | tr -d ' ') in
        003e) echo x86_64 ;;
        00b7) echo arm64 ;;
        *) echo "error: $1 is not an x86_64 or arm64 executable" >&2; return 1 ;;
    esac
}

# moto on the Docker bridge, with the template's resources and the order the sample events name;
# writes the env-vars file (one object per function's logical id).
start_moto() {
    # The host's address on the bridge (docker0): the gateway every container reaches.
    bridge=$(docker network inspect bridge --format '{{range .IPAM.Config}}{{.Gateway}}{{end}}')
    if [ -z "$bridge" ]; then
        local name
        name=$(docker network inspect bridge --format '{{index .Options "com.docker.network.bridge.name"}}')
        bridge=$(ip -4 -o addr show "${name:-docker0}" 2>/dev/null | awk '{print $4}' | cut -d/ -f1 | head -1)
    fi
    [ -n "$bridge" ] || { echo "error: cannot tell the host's address on Docker's bridge" >&2; return 1; }
    endpoint=http://$bridge:$moto_port
    echo "==> moto on $endpoint (log: target/sam-moto.log)"
    python scripts/moto_server.py --host "$bridge" --port "$moto_port" >target/sam-moto.log 2>&1 &
    pids+=($!)
    wait_for_port "$bridge" "$moto_port" moto
    cargo build --quiet -p orders-local --bin orders-local
    local binaries=${CARGO_TARGET_DIR:-target}/debug
    merchant_url=http://$bridge:$merchant_port/webhook
    ORDERS_LOCAL_PARAMETER_OVERRIDES="MerchantWebhookUrl=$merchant_url" AWS_ENDPOINT_URL=$endpoint \
        "$binaries/orders-local" resources --sample-order \
        --sam-env-vars target/sam-env.json --env-dir target/sam-env
}

# The logical id of a function: create-order -> CreateOrderFunction (a logical id stays as it is).
logical_id() {
    case $1 in
        *Function) echo "$1" ;;
        *) echo "$1" | sed -E 's/(^|-)([a-z])/\U\2/g; s/$/Function/' ;;
    esac
}

sam_invoke() { # template architecture logical-id event
    sam local invoke "$3" --template "$1" --event "$4" --env-vars target/sam-env.json \
        --parameter-overrides "Architecture=$2 MerchantWebhookUrl=$merchant_url" \
        --skip-pull-image --region us-east-1
}

case $mode in
invoke)
    fn=${2:?usage: $0 invoke <function> [event-file]}
    event=${3:-events/$fn.json}
    template=.aws-sam/build/template.yaml
    bootstrap=.aws-sam/build/$(logical_id "$fn")/bootstrap
    [ -f "$template" ] && [ -f "$bootstrap" ] || { echo "error: nothing built for $fn: run make build first" >&2; exit 1; }
    arch=$(architecture_of "$bootstrap")
    ensure_docker
    ensure_base_image "$arch"
    start_moto
    echo "==> sam local invoke $(logical_id "$fn") --event $event --env-vars target/sam-env.json (Architecture=$arch)"
    sam_invoke "$template" "$arch" "$(logical_id "$fn")" "$event"
    ;;
check)
    ensure_docker
    build=target/sam-build
    host_arch=$(uname -m); [ "$host_arch" = aarch64 ] && host_arch=arm64
    echo "==> SAM_BUILD_MODE=debug sam build --build-dir $build (Architecture=$host_arch)"
    SAM_BUILD_MODE=debug sam build --build-dir "$build" --cache-dir target/sam-build-cache \
        --parameter-overrides "Architecture=$host_arch" >target/sam-build.log 2>&1 ||
        { tail -40 target/sam-build.log >&2; exit 1; }
    arch=$(architecture_of "$build/CreateOrderFunction/bootstrap")
    ensure_base_image "$arch"
    start_moto
    python scripts/sam_local_check.py --template "$build/template.yaml" --architecture "$arch" \
        --api-port "$api_port" --merchant-url "$merchant_url" --moto-endpoint "$endpoint"
    ;;
*)
    echo "usage: $0 invoke <function> [event] | check" >&2
    exit 2
    ;;
esac
