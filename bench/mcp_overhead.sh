#!/usr/bin/env bash
# bench/mcp_overhead.sh: what the MCP gateway adds to a `tools/call`. The same `echo` call
# (bench/mcp_call.lua) goes to `bulwark mock-mcp` directly and through `bulwark serve`
# (policy decision, decision receipt durable before forwarding, outcome receipt, session
# mapping), in the same run, alternated ROUNDS times so both targets see the same machine load:
# each round runs direct then gateway under load (CONNS connections) and then idle (1
# connection). Prints one line per measurement and a markdown summary (throughput ratio
# gateway / direct under load; p50 added per call when idle) with the spread over the rounds.
#
# Env: DURATION (seconds per measurement, default 5), ROUNDS (default 3), CONNS (default 20),
# THREADS (default 2), WARMUP (seconds, default 1), BULWARK_BIN (default build/bulwark).
# Every process it starts is stopped on exit. Needs wrk and curl.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/.." && pwd)"
DURATION="${DURATION:-5}"
ROUNDS="${ROUNDS:-3}"
CONNS="${CONNS:-20}"
THREADS="${THREADS:-2}"
WARMUP="${WARMUP:-1}"
BIN="${BULWARK_BIN:-$repo/build/bulwark}"
LUA="$here/mcp_call.lua"

die() { echo "mcp_overhead: $*" >&2; exit 1; }
for n in DURATION ROUNDS CONNS THREADS WARMUP; do
    [[ "${!n}" =~ ^[0-9]+$ ]] && [ "${!n}" -gt 0 ] || die "$n must be a positive integer"
done
command -v wrk >/dev/null || die "wrk is not installed (apt-get install wrk)"
command -v curl >/dev/null || die "curl is not installed"
[ -x "$BIN" ] || die "$BIN is not executable (run make)"

tmp="$(mktemp -d /tmp/bulwark-mcp-bench.XXXXXX)"
pids=()
cleanup() {
    local p
    for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
    rm -rf "$tmp"
}
trap cleanup EXIT

# Waits for "<what> listening on 127.0.0.1:PORT" in a log; prints PORT.
port_of() {
    local what=$1 log=$2 pid=$3 port=""
    for _ in $(seq 300); do
        port="$(sed -n "s/.*$what listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p" "$log" | head -1)"
        [ -n "$port" ] && { echo "$port"; return 0; }
        kill -0 "$pid" 2>/dev/null || { cat "$log" >&2; die "$what exited before listening"; }
        sleep 0.05
    done
    die "$what did not listen"
}

"$BIN" mock-mcp --listen 127.0.0.1:0 2>"$tmp/mock.log" &
pids+=($!)
mock_port="$(port_of mock-mcp "$tmp/mock.log" "${pids[-1]}")"

"$BIN" init --data "$tmp/data" >"$tmp/init.json"
agent_key="$(sed -n 's/.*"agent_key":"\([^"]*\)".*/\1/p' "$tmp/init.json")"
[ -n "$agent_key" ] || die "no agent_key in init output"
cat >"$tmp/data/policy.yaml" <<POLICY
version: 1
rules:
  - {id: list, match: {route: mcp.tools_list}, effect: allow}
  - {id: echo, match: {route: mcp.tools_call, tool: echo}, effect: allow}
POLICY
cat >"$tmp/config.yaml" <<CONFIG
listen: 127.0.0.1:0
upstream:
  url: mock
policy: $tmp/data/policy.yaml
egress:
  allow: ["127.0.0.1:$mock_port"]
mcp:
  calls_per_minute: 1000000   # the per-(principal, tool) limit far above the load (its check stays on)
  servers:
    - name: mock
      url: http://127.0.0.1:$mock_port/mcp
CONFIG
BULWARK_UPSTREAM_KEY=unused "$BIN" serve --data "$tmp/data" --config "$tmp/config.yaml" \
    2>"$tmp/serve.log" &
pids+=($!)
gw_port="$(port_of bulwark "$tmp/serve.log" "${pids[-1]}")"

# initialize + notifications/initialized; prints the session id the answer named.
session_of() {
    local url=$1 auth=$2 sid
    sid="$(curl -sS -D - -o /dev/null "$url" -H 'Content-Type: application/json' \
        -H 'Accept: application/json, text/event-stream' ${auth:+-H "Authorization: Bearer $auth"} \
        -d '{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"bench","version":"1"}}}' |
        tr -d '\r' | sed -n 's/^[Mm]cp-[Ss]ession-[Ii]d: //p')"
    [ -n "$sid" ] || die "no session from $url"
    curl -sS -o /dev/null "$url" -H 'Content-Type: application/json' \
        -H 'Accept: application/json, text/event-stream' -H "Mcp-Session-Id: $sid" \
        -H 'MCP-Protocol-Version: 2025-11-25' ${auth:+-H "Authorization: Bearer $auth"} \
        -d '{"jsonrpc":"2.0","method":"notifications/initialized"}'
    echo "$sid"
}
direct_url="http://127.0.0.1:$mock_port/mcp"
gw_url="http://127.0.0.1:$gw_port/mcp/mock"
direct_sid="$(session_of "$direct_url" "")"
gw_sid="$(session_of "$gw_url" "$agent_key")"
# one call each way must answer the echo before anything is measured
for t in direct gateway; do
    if [ "$t" = direct ]; then u=$direct_url s=$direct_sid k=""; else u=$gw_url s=$gw_sid k=$agent_key; fi
    curl -sS "$u" -H 'Content-Type: application/json' -H 'Accept: application/json, text/event-stream' \
        -H "Mcp-Session-Id: $s" -H 'MCP-Protocol-Version: 2025-11-25' ${k:+-H "Authorization: Bearer $k"} \
        -d '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hello from wrk"}}}' \
        | grep -q 'hello from wrk' || die "the $t echo call failed"
done

# measure TARGET PHASE: one wrk run; prints "rps p50_us" (non-2xx or socket errors: die).
measure() {
    local t=$1 phase=$2 u s k th co line
    if [ "$t" = direct ]; then u=$direct_url s=$direct_sid k=""; else u=$gw_url s=$gw_sid k=$agent_key; fi
    if [ "$phase" = load ]; then th=$THREADS co=$CONNS; else th=1 co=1; fi
    MCP_SESSION=$s BULWARK_AGENT_KEY=$k wrk -t"$th" -c"$co" -d"${WARMUP}s" -s "$LUA" "$u" >/dev/null
    MCP_SESSION=$s BULWARK_AGENT_KEY=$k wrk -t"$th" -c"$co" -d"${DURATION}s" --latency -s "$LUA" "$u" \
        >"$tmp/wrk.txt"
    line="$(grep '^BENCH ' "$tmp/wrk.txt")" || { cat "$tmp/wrk.txt" >&2; die "no result from wrk"; }
    for f in err_connect err_read err_write err_status err_timeout; do
        [[ "$line" =~ $f=0 ]] || die "$t $phase: $line"
    done
    echo "$(sed -n 's/.* rps=\([0-9.]*\).*/\1/p' <<<"$line") $(sed -n 's/.* p50_us=\([0-9]*\).*/\1/p' <<<"$line")"
}

echo "date: $(date -u '+%Y-%m-%d %H:%M UTC'); load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "build: $("$BIN" version 2>/dev/null | head -1)"
ratios=()
added=()
for r in $(seq "$ROUNDS"); do
    read -r d_rps d_p50_load < <(measure direct load)
    read -r g_rps g_p50_load < <(measure gateway load)
    read -r d_rps1 d_p50 < <(measure direct idle)
    read -r g_rps1 g_p50 < <(measure gateway idle)
    ratio="$(awk -v g="$g_rps" -v d="$d_rps" 'BEGIN{printf "%.2f", g/d}')"
    add="$(awk -v g="$g_p50" -v d="$d_p50" 'BEGIN{printf "%.3f", (g-d)/1000}')"
    ratios+=("$ratio")
    added+=("$add")
    echo "round $r: load direct $d_rps rps (p50 $((d_p50_load)) us), gateway $g_rps rps (p50 $((g_p50_load)) us), ratio $ratio;" \
         "idle p50 direct $d_p50 us, gateway $g_p50 us, added $add ms"
done
echo "load throughput gateway/direct: ${ratios[*]}"
echo "idle p50 added (ms): ${added[*]}"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
