# Prepended to every runInNamespace() script (lib/mcp.mjs): loopback up, bw_start, cleanup at exit.
set -euo pipefail
ip link set lo up
bw_pids=()
bw_names=()
bw_logs=()
bw_cleanup() {
    local i
    for i in "${!bw_pids[@]}"; do kill "${bw_pids[$i]}" 2>/dev/null || true; done
    for i in "${!bw_pids[@]}"; do
        wait "${bw_pids[$i]}" 2>/dev/null || true
        echo "== ${bw_names[$i]} stderr ==" >&2
        cat "${bw_logs[$i]}" >&2 || true
        rm -f "${bw_logs[$i]}"
    done
}
trap bw_cleanup EXIT
bw_start() {
    local name=$1 re=$2 log pid i
    shift 2
    log=$(mktemp)
    "$@" 2>"$log" >/dev/null &
    pid=$!
    bw_pids+=("$pid"); bw_names+=("$name"); bw_logs+=("$log")
    for i in $(seq 1 300); do
        grep -qE "$re" "$log" && return 0
        kill -0 "$pid" 2>/dev/null || { echo "$name exited before it listened" >&2; return 1; }
        sleep 0.05
    done
    echo "$name did not listen within 15 s" >&2
    return 1
}
