# Sourced by the scripts that start servers (local-function.sh, xray-smoke.sh, sam-local.sh):
# what they start in the background is stopped when they exit, and they wait for a server's port.

pids=()

# Stops every process started with `pids+=($!)`.
stop_started() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait "${pids[@]}" 2>/dev/null || true
}

# Waits up to 2 minutes for a TCP listener: wait_for_port HOST PORT WHAT.
wait_for_port() {
    for _ in $(seq 1 600); do
        (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null && return 0
        sleep 0.2
    done
    echo "error: $3 did not listen on $1:$2" >&2
    return 1
}
