#!/usr/bin/env bash
# bench/run.sh: throughput and latency of Bulwark against the same mock upstream reached
# directly and through nginx (a plain reverse proxy, as the reference for "proxy overhead").
#
# Starts `bulwark mock-upstream`, nginx (reverse proxy to the mock, keep-alive upstream), and
# `bulwark serve` (fresh `bulwark init` data dir, upstream = the mock); runs wrk with
# bench/chat.lua (a small chat completion POST) for the same duration and connections against
# each; prints a markdown table and writes it to bench/RESULTS.md. Every process it starts is
# stopped on exit.
#
# LIMITS=1 runs the gateway with every admission limit on (per-key, per-agent and org rate
# limits far above the load, an org in-flight cap, a monthly token and cost budget with prices),
# so the ratio shows what admission costs; its results go to their own section of RESULTS.md.
#
# RACE=1 runs issue 15's race: a fourth target, Portkey's open-source gateway (`portkey`, pinned
# in bench/portkey/package.json, installed by `scripts/deps.sh bench`), wrk -t1 -c32 unless
# THREADS/CONNS say otherwise, the targets of issue 15 checked in the summary, and its results
# in their own section of RESULTS.md ("The race (issue 15)"). Portkey listens on every
# interface, so any run with the portkey target re-executes this script inside a private
# network namespace (`unshare --net`, then `ip link set lo up`) and refuses to start Portkey
# unless loopback is the only interface there; before measuring, every listening socket (ss) is
# checked to be reachable from loopback only (outside a namespace: bound to 127.0.0.1).
#
# Env: DURATION (seconds per target, default 10), CONNS (default 50; race 32), THREADS (wrk
# threads, default 2; race 1), WARMUP (seconds, default 2), BULWARK_BIN (default build/bulwark;
# `make` is run if it is missing), RESULTS (path to write, default bench/RESULTS.md; "-" to skip
# writing), TARGETS (default "direct nginx bulwark", with RACE=1 "direct nginx bulwark portkey";
# a subset only with RESULTS=-, for scripts such as bench/evidence_throughput.sh that compare
# builds of Bulwark), START_AT (Unix time in seconds: wait until then before the first warmup,
# so two runs started together measure the same seconds), FSYNC_N (fdatasyncs the disk probe
# times, default 500).
# Besides the table it prints each target's own CPU time per request in each phase (utime +
# stime of the serving processes over the measured seconds: the mock, nginx's master and
# workers, the gateway, Portkey's node), steadier than throughput on a shared box, and the p50
# of one fdatasync on the disk that holds the gateway's ledger (bench/fsync_probe.c, run
# between the two phases), the yardstick of issue 15's latency target.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/.." && pwd)"
RACE="${RACE:-0}"
# The race measures Bulwark with everything on (issue 15): auth, policy, limits, budgets and
# durable signed receipts.
[ "$RACE" = 1 ] && LIMITS=1
DEFAULT_TARGETS="direct nginx bulwark"
[ "$RACE" = 1 ] && DEFAULT_TARGETS="direct nginx bulwark portkey"
DURATION="${DURATION:-10}"
CONNS="${CONNS:-$([ "$RACE" = 1 ] && echo 32 || echo 50)}"
THREADS="${THREADS:-$([ "$RACE" = 1 ] && echo 1 || echo 2)}"
WARMUP="${WARMUP:-2}"
FSYNC_N="${FSYNC_N:-500}"
BIN="${BULWARK_BIN:-$repo/build/bulwark}"
RESULTS="${RESULTS:-$here/RESULTS.md}"
LUA="$here/chat.lua"
PORTKEY_DIR="$here/portkey"
PORTKEY_JS="$PORTKEY_DIR/node_modules/@portkey-ai/gateway/build/start-server.js"

die() { echo "bench: $*" >&2; exit 1; }
. "$here/lib.sh" # wait_listen
case "$RACE" in 0|1) ;; *) die "RACE must be 0 or 1" ;; esac
read -r -a TARGETS <<<"${TARGETS:-$DEFAULT_TARGETS}"
[ "${#TARGETS[@]}" -gt 0 ] || die "TARGETS is empty"
want_portkey=0
for t in "${TARGETS[@]}"; do [ "$t" = portkey ] && want_portkey=1; done
for n in DURATION CONNS THREADS WARMUP FSYNC_N; do
    [[ "${!n}" =~ ^[0-9]+$ ]] && [ "${!n}" -gt 0 ] || die "$n must be a positive integer"
done
command -v wrk >/dev/null || die "wrk is not installed (apt-get install wrk)"
command -v nginx >/dev/null || die "nginx is not installed (apt-get install nginx-light)"
command -v curl >/dev/null || die "curl is not installed"
if [ ! -x "$BIN" ]; then
    echo "bench: $BIN missing, running make" >&2
    make -C "$repo" >&2
fi
[ -x "$BIN" ] || die "$BIN is not executable"
command -v cc >/dev/null || die "cc is not installed (scripts/deps.sh build)"

# Only loopback: true when the only network interface is lo (a private network namespace).
only_loopback() {
    local links
    links="$(ip -o link show | awk -F': ' '{print $2}' | sed 's/@.*//')"
    [ "$links" = lo ]
}
if [ "$want_portkey" = 1 ]; then
    command -v node >/dev/null || die "node is not installed (scripts/deps.sh bench)"
    [ -f "$PORTKEY_JS" ] || die "Portkey is not installed in bench/portkey (scripts/deps.sh bench)"
    command -v ip >/dev/null || die "ip is not installed (apt-get install iproute2)"
    command -v ss >/dev/null || die "ss is not installed (apt-get install iproute2)"
    if [ -z "${BENCH_NETNS:-}" ]; then
        # Portkey binds every interface: the whole race runs in a network namespace of its own,
        # where loopback is the only interface. Root makes one directly; anyone else through a
        # user namespace (-r maps the caller to root inside it).
        command -v unshare >/dev/null || die "unshare is not installed (apt-get install util-linux)"
        ns=(unshare --net)
        how=root
        [ "$(id -u)" = 0 ] || { ns=(unshare --user --map-root-user --net); how=user; }
        echo "bench: entering a private network namespace (${ns[*]})" >&2
        # TARGETS is an array by now (bash exports no arrays): pass it on as a string.
        exec env BENCH_NETNS="$how" TARGETS="${TARGETS[*]}" "${ns[@]}" -- "$0" "$@"
    fi
    ip link set lo up || die "could not bring lo up in the network namespace"
    # Fail closed: whatever BENCH_NETNS says, Portkey starts only where lo is all there is.
    only_loopback || die "the portkey target needs a network namespace with loopback only; found: $(ip -o link show | awk -F': ' '{print $2}' | tr '\n' ' ')"
fi

tmp="$(mktemp -d /tmp/bulwark-bench.XXXXXX)"
pids=()
wrk_pid=""
cleanup() {
    local p
    [ -n "$wrk_pid" ] && kill -TERM "$wrk_pid" 2>/dev/null
    for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    for _ in $(seq 50); do
        local alive=0
        for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
        [ "$alive" = 0 ] && break
        sleep 0.1
    done
    for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM


free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# 1. The mock upstream (one thread if it can be told so, to leave cores to the proxies).
mock_args=(mock-upstream --listen 127.0.0.1:0)
if "$BIN" mock-upstream --help 2>/dev/null | grep -q -- '--threads'; then
    mock_args+=(--threads 1)
fi
: >"$tmp/mock.log"
"$BIN" "${mock_args[@]}" 2>"$tmp/mock.log" &
pids+=("$!")
mock_pid="$!"
mock_port="$(wait_listen "$tmp/mock.log" mock-upstream "$!")"

# 2. Bulwark: a fresh data dir, the default config, upstream = the mock.
"$BIN" init --data "$tmp/data" >"$tmp/init.json"
agent_key="$(sed -n 's/.*"agent_key":"\([^"]*\)".*/\1/p' "$tmp/init.json")"
[ -n "$agent_key" ] || die "no agent_key in init output"
mark="bench/run.sh"
title="Gateway vs nginx (bench/run.sh)"
if [ "${LIMITS:-0}" = 1 ]; then
    mark="bench/run.sh LIMITS=1"
    title="Gateway vs nginx (bench/run.sh LIMITS=1)"
    [ "$RACE" = 1 ] && mark="bench/run.sh RACE=1" && title="The race (issue 15)"
    sed -i 's/^limits:$/limits:\n  key_requests_per_minute: 100000000\n  agent_requests_per_minute: 100000000\n  org_requests_per_minute: 100000000\n  key_tokens_per_minute: 1000000000\n  org_max_concurrent: 100000\n  default_max_tokens: 256/' "$tmp/data/bulwark.yaml"
    cat >>"$tmp/data/bulwark.yaml" <<'YAML'
prices:
  gpt-4o-mini: {prompt_per_1m_micros: 150000, completion_per_1m_micros: 600000}
budgets:
  default:
    monthly_tokens: 100000000000
    monthly_cost_micros: 100000000000
YAML
fi
: >"$tmp/serve.log"
"$BIN" serve --data "$tmp/data" --listen 127.0.0.1:0 \
    --upstream "http://127.0.0.1:$mock_port/v1" 2>"$tmp/serve.log" &
pids+=("$!")
bulwark_pid="$!"
bulwark_port="$(wait_listen "$tmp/serve.log" bulwark "$!")"

# 3. nginx as a plain keep-alive reverse proxy to the mock.
nginx_port="$(free_port)"
mkdir -p "$tmp/nginx"
# In a user namespace (RACE=1 by a non-root caller) nginx believes it is root but cannot chown
# its temp dirs to its default worker user, which is not mapped there: it stays "root" (the
# caller) instead.
nginx_user=""
[ "${BENCH_NETNS:-}" = user ] && nginx_user="user root root;"
cat >"$tmp/nginx/nginx.conf" <<EOF
$nginx_user
daemon off;
worker_processes auto;
error_log stderr warn;
pid $tmp/nginx/nginx.pid;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $tmp/nginx/body;
    proxy_temp_path $tmp/nginx/proxy;
    fastcgi_temp_path $tmp/nginx/fastcgi;
    uwsgi_temp_path $tmp/nginx/uwsgi;
    scgi_temp_path $tmp/nginx/scgi;
    upstream m { server 127.0.0.1:$mock_port; keepalive 64; }
    server {
        listen 127.0.0.1:$nginx_port;
        location / {
            proxy_pass http://m;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
    }
}
EOF
nginx -e stderr -p "$tmp/nginx/" -c "$tmp/nginx/nginx.conf" 2>"$tmp/nginx.log" &
pids+=("$!")
nginx_pid="$!"

# 4. Portkey's gateway (node), forwarding to the mock as an OpenAI-compatible custom host.
portkey_pid=""
portkey_port=""
portkey_host="http://127.0.0.1:$mock_port/v1"
if [ "$want_portkey" = 1 ]; then
    portkey_port="$(free_port)"
    # Third-party code gets no more than it needs: as root, it runs as nobody, without the
    # right to gain privileges (setpriv execs node, so $! is node's pid).
    drop=()
    if [ "$(id -u)" = 0 ] && [ "${BENCH_NETNS:-}" = root ] && command -v setpriv >/dev/null; then
        drop=(setpriv --reuid=65534 --regid=65534 --clear-groups --no-new-privs)
    fi
    "${drop[@]}" node "$PORTKEY_JS" --port="$portkey_port" --headless >"$tmp/portkey.log" 2>&1 &
    pids+=("$!")
    portkey_pid="$!"
fi

body='{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Say hello in five words."}],"max_tokens":16}'
check() { # name url: one request must answer 200 before we measure
    local code extra=()
    [ "$1" = portkey ] && extra=(-H 'x-portkey-provider: openai' -H "x-portkey-custom-host: $portkey_host")
    for _ in $(seq 200); do
        code="$(curl -s -o "$tmp/check.out" -w '%{http_code}' -X POST "$2" \
            -H 'Content-Type: application/json' -H "Authorization: Bearer $agent_key" \
            "${extra[@]}" --data "$body" || true)"
        [ "$code" = 200 ] && return 0
        [ "$1" = portkey ] && ! kill -0 "$portkey_pid" 2>/dev/null && break
        sleep 0.1
    done
    cat "$tmp/check.out" "$tmp/nginx.log" >&2 || true
    [ "$1" = portkey ] && cat "$tmp/portkey.log" >&2
    die "$1 ($2) answered $code, not 200"
}

declare -A URL=(
    [direct]="http://127.0.0.1:$mock_port/v1/chat/completions"
    [nginx]="http://127.0.0.1:$nginx_port/v1/chat/completions"
    [bulwark]="http://127.0.0.1:$bulwark_port/v1/chat/completions"
    [portkey]="http://127.0.0.1:$portkey_port/v1/chat/completions"
)
for t in "${TARGETS[@]}"; do [ -n "${URL[$t]:-}" ] || die "unknown target $t"; done
[ "${TARGETS[*]}" = "$DEFAULT_TARGETS" ] || [ "$RESULTS" = "-" ] ||
    die "TARGETS other than \"$DEFAULT_TARGETS\" need RESULTS=-"
for t in "${TARGETS[@]}"; do check "$t" "${URL[$t]}"; done

# Nothing may listen beyond loopback. In the namespace every socket is ours and lo is the only
# interface, so a wildcard bind (Portkey's) reaches loopback only; outside one, each socket of
# the processes started here must be bound to 127.0.0.1.
ss -H -ltnup >"$tmp/listeners.txt" || die "ss failed"
if [ "$want_portkey" = 1 ]; then
    only_loopback || die "an interface other than lo appeared in the namespace"
    # "ADDRESS (process)" once per socket address (several workers may share one).
    listeners="$(awk '{p = $7; sub(/^users:\(\("/, "", p); sub(/".*/, "", p); print $5 " (" p ")"}' \
        "$tmp/listeners.txt" | sort -u | paste -sd, | sed 's/,/, /g')"
    listen_note="in a private network namespace (loopback the only interface); listening: ${listeners}"
else
    for p in "${pids[@]}"; do
        bad="$(grep "pid=$p," "$tmp/listeners.txt" | awk '$5 !~ /^127\.0\.0\.1:/ {print $5}' || true)"
        [ -z "$bad" ] || die "process $p listens beyond loopback: $bad"
    done
    listen_note="host network; every socket of the processes started here bound to 127.0.0.1"
fi
echo "bench: listeners checked: $listen_note" >&2

# The disk probe: the p50 of one fdatasync where the gateway's ledger lives.
cc -O2 -std=c11 -D_GNU_SOURCE "$here/fsync_probe.c" -o "$tmp/fsync_probe" || die "could not build fsync_probe"

# The race waits up to 10 s per request (wrk's default is 2 s): Portkey's p99 under 32
# connections can pass 2 s on this box, and a timed-out request would drop out of its latency.
wrk_opt=()
[ "$RACE" = 1 ] && wrk_opt=(--timeout 10s)
wrk_cmd="wrk -t$THREADS -c$CONNS -d${DURATION}s${wrk_opt[*]:+ ${wrk_opt[*]}} --latency -s bench/chat.lua <url>"
lat_cmd="wrk -t1 -c1 -d${DURATION}s${wrk_opt[*]:+ ${wrk_opt[*]}} --latency -s bench/chat.lua <url>"
declare -A RPS P50 P90 P99 NON2XX SOCKERR CPU_US TCPU
declare -A SERVER_PID=([direct]="$mock_pid" [nginx]="$nginx_pid" [bulwark]="$bulwark_pid" [portkey]="$portkey_pid")
# CPU ticks (utime + stime) so far of a target's serving process and its children (nginx's
# workers); for the direct target that is the mock.
target_ticks() {
    local p="${SERVER_PID[$1]}" all kids
    all="$p"
    kids="$(cat /proc/"$p"/task/*/children 2>/dev/null || true)"
    all+=" $kids"
    local sum=0 q
    for q in $all; do
        [ -r "/proc/$q/stat" ] || continue
        sum=$(( sum + $(awk '{print $14 + $15}' "/proc/$q/stat") ))
    done
    echo "$sum"
}
# measure PHASE TARGET THREADS CONNS: warm up, run wrk, store its numbers under "PHASE:TARGET".
measure() {
    local phase="$1" t="$2" th="$3" co="$4" k="$1:$2"
    echo "bench: $phase $t: warmup ${WARMUP}s, then ${DURATION}s (${co} connections, $th threads)" >&2
    # Only Portkey's requests carry its two headers (chat.lua adds them when this is set).
    local ph=""
    [ "$t" = portkey ] && ph="$portkey_host"
    # wrk runs in the background and is waited for, so a signal to this script stops it too.
    BULWARK_AGENT_KEY="$agent_key" PORTKEY_CUSTOM_HOST="$ph" wrk -t"$th" -c"$co" \
        "${wrk_opt[@]}" -d"${WARMUP}s" -s "$LUA" "${URL[$t]}" >/dev/null &
    wrk_pid="$!"
    wait "$wrk_pid" || true
    wrk_pid=""
    local t0
    t0="$(target_ticks "$t")"
    BULWARK_AGENT_KEY="$agent_key" PORTKEY_CUSTOM_HOST="$ph" wrk -t"$th" -c"$co" \
        "${wrk_opt[@]}" -d"${DURATION}s" --latency -s "$LUA" "${URL[$t]}" >"$tmp/wrk-$phase-$t.txt" &
    wrk_pid="$!"
    wait "$wrk_pid" || die "wrk failed against $t: $(cat "$tmp/wrk-$phase-$t.txt")"
    wrk_pid=""
    local ticks=$(( $(target_ticks "$t") - t0 ))
    line="$(grep '^BENCH ' "$tmp/wrk-$phase-$t.txt" || true)"
    [ -n "$line" ] || { cat "$tmp/wrk-$phase-$t.txt" >&2; die "no result line from wrk for $t"; }
    get() { sed -n "s/.* $1=\([0-9.]*\).*/\1/p" <<<"$line"; }
    RPS[$k]="$(get rps)"
    TCPU[$k]="$(awk -v n="$ticks" -v hz="$(getconf CLK_TCK)" \
        -v r="${RPS[$k]}" -v d="$DURATION" 'BEGIN{printf "%.1f", (r>0)?n*1e6/hz/(r*d):0}')"
    [ "$t" = bulwark ] && CPU_US[$phase]="${TCPU[$k]}"
    P50[$k]="$(awk -v u="$(get p50_us)" 'BEGIN{printf "%.3f", u/1000}')"
    P90[$k]="$(awk -v u="$(get p90_us)" 'BEGIN{printf "%.3f", u/1000}')"
    P99[$k]="$(awk -v u="$(get p99_us)" 'BEGIN{printf "%.3f", u/1000}')"
    NON2XX[$k]="$(get err_status)"
    SOCKERR[$k]=$(( $(get err_connect) + $(get err_read) + $(get err_write) + $(get err_timeout) ))
}
# Phase "load": throughput under concurrency. Phase "idle": one connection, so latency is the
# cost each hop adds, not queueing behind other requests.
if [ -n "${START_AT:-}" ]; then
    now="$(date +%s.%N)"
    awk -v a="$START_AT" -v n="$now" 'BEGIN{exit !(a > n)}' || die "START_AT is in the past"
    sleep "$(awk -v a="$START_AT" -v n="$now" 'BEGIN{printf "%.3f", a - n}')"
fi
load_start="$(cut -d' ' -f1-3 /proc/loadavg)"
for t in "${TARGETS[@]}"; do measure load "$t" "$THREADS" "$CONNS"; done
# Between the phases, so the probe neither slows a measured target nor is slowed by one.
echo "bench: fdatasync probe: $FSYNC_N appends of 512 bytes in the ledger's directory" >&2
fsync_line="$("$tmp/fsync_probe" "$tmp/data" "$FSYNC_N" 512)" || die "fsync_probe failed"
FSYNC_P50="$(awk -v u="$(sed -n 's/.* p50_us=\([0-9.]*\).*/\1/p' <<<"$fsync_line")" 'BEGIN{printf "%.3f", u/1000}')"
FSYNC_P99="$(awk -v u="$(sed -n 's/.* p99_us=\([0-9.]*\).*/\1/p' <<<"$fsync_line")" 'BEGIN{printf "%.3f", u/1000}')"
for t in "${TARGETS[@]}"; do measure idle "$t" 1 1; done
load_end="$(cut -d' ' -f1-3 /proc/loadavg)"

# A target left out (TARGETS) counts as 0 here; such runs are never written to RESULTS.
ratio="$(awk -v a="${RPS[load:bulwark]:-0}" -v b="${RPS[load:nginx]:-0}" 'BEGIN{printf "%.2f", (b>0)?a/b:0}')"
ratio_direct="$(awk -v a="${RPS[load:bulwark]:-0}" -v b="${RPS[load:direct]:-0}" 'BEGIN{printf "%.2f", (b>0)?a/b:0}')"
p50_over="$(awk -v a="${P50[idle:bulwark]:-0}" -v b="${P50[idle:direct]:-0}" 'BEGIN{printf "%+.3f", a-b}')"
p50_over_nginx="$(awk -v a="${P50[idle:bulwark]:-0}" -v b="${P50[idle:nginx]:-0}" 'BEGIN{printf "%+.3f", a-b}')"
p50_over_load="$(awk -v a="${P50[load:bulwark]:-0}" -v b="${P50[load:direct]:-0}" 'BEGIN{printf "%+.2f", a-b}')"

table="| phase | target | requests/s | p50 ms | p90 ms | p99 ms | non-2xx | socket errors | server CPU µs/req |
|---|---|---:|---:|---:|---:|---:|---:|---:|"
for k in "${TARGETS[@]/#/load:}" "${TARGETS[@]/#/idle:}"; do
    t="${k#*:}"
    phase="${k%%:*}"
    label="$t"
    case "$t" in
        direct) label="mock direct" ;;
        nginx) label="nginx → mock" ;;
        bulwark) label="bulwark → mock" ;;
        portkey) label="portkey → mock" ;;
        *) ;;
    esac
    table+="
| $phase | $label | $(printf '%.0f' "${RPS[$k]}") | ${P50[$k]} | ${P90[$k]} | ${P99[$k]} | ${NON2XX[$k]} | ${SOCKERR[$k]} | ${TCPU[$k]} |"
done
summary="- load phase ($CONNS connections): bulwark / nginx throughput **${ratio}** (bulwark / direct: ${ratio_direct}); p50 over direct under load ${p50_over_load} ms (queueing included)
- idle phase (1 connection): bulwark p50 − direct p50 **${p50_over} ms** added per call (bulwark − nginx: ${p50_over_nginx} ms)
- bulwark CPU per request (utime + stime of the gateway process): load ${CPU_US[load]:-?} µs, idle ${CPU_US[idle]:-?} µs
- one fdatasync on the ledger's disk (bench/fsync_probe.c, ${FSYNC_N} appends of 512 bytes, between the phases): p50 **${FSYNC_P50} ms**, p99 ${FSYNC_P99} ms"
# met VALUE OP LIMIT: "met" or "NOT met" (OP is >= or <=).
met() { awk -v v="$1" -v l="$3" -v op="$2" 'BEGIN{ok = (op == ">=") ? v >= l : v <= l; print ok ? "met" : "NOT met"}'; }
if [ "$RACE" = 1 ]; then
    r_nginx="$ratio"
    r_portkey="$(awk -v a="${RPS[load:bulwark]:-0}" -v b="${RPS[load:portkey]:-0}" 'BEGIN{printf "%.1f", (b>0)?a/b:0}')"
    added="$(awk -v a="${P50[idle:bulwark]:-0}" -v b="${P50[idle:direct]:-0}" 'BEGIN{printf "%.3f", a-b}')"
    r_fsync="$(awk -v a="$added" -v f="$FSYNC_P50" 'BEGIN{printf "%.2f", (f>0)?a/f:0}')"
    r_p99="$(awk -v a="${P99[load:bulwark]:-0}" -v b="${P99[load:nginx]:-0}" 'BEGIN{printf "%.2f", (b>0)?a/b:0}')"
    summary+="

Issue 15's targets, this run:

| target | measured | goal | |
|---|---:|---:|---|
| throughput, bulwark / nginx ($CONNS connections) | ${r_nginx}x | ≥ 0.75x | $(met "$r_nginx" '>=' 0.75) |
| throughput, bulwark / portkey ($CONNS connections) | ${r_portkey}x | ≥ 20x | $(met "$r_portkey" '>=' 20) |
| added p50 at 1 connection (bulwark − direct) / p50 of one fdatasync | ${added} ms / ${FSYNC_P50} ms = ${r_fsync}x | ≤ 1.5x | $(met "$r_fsync" '<=' 1.5) |
| p99 under load, bulwark / nginx | ${P99[load:bulwark]} ms / ${P99[load:nginx]} ms = ${r_p99}x | ≤ 2x | $(met "$r_p99" '<=' 2) |"
fi

echo
echo "$table"
echo
echo "$summary"
warn=""
for k in "${!RPS[@]}"; do
    if [ "${NON2XX[$k]}" != 0 ] || [ "${SOCKERR[$k]}" != 0 ]; then
        warn+="- WARNING: $k had ${NON2XX[$k]} non-2xx answers and ${SOCKERR[$k]} socket errors: its numbers are not comparable.
"
    fi
done
[ -n "$warn" ] && printf '\n%s' "$warn"

if [ "$RESULTS" != "-" ]; then
    cpu="$(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //' || echo unknown)"
    commit="$(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo 'none')"
    if [ -n "$(git -C "$repo" status --porcelain -- src Makefile 2>/dev/null)" ]; then
        commit+="+uncommitted changes"
    fi
    version="$("$BIN" version 2>/dev/null || echo unknown)"
    cmd="DURATION=$DURATION CONNS=$CONNS THREADS=$THREADS bench/run.sh"
    [ "${LIMITS:-0}" = 1 ] && [ "$RACE" != 1 ] && cmd="LIMITS=1 $cmd"
    [ "$RACE" = 1 ] && cmd="RACE=1 $cmd"
    limits_note=""
    [ "${LIMITS:-0}" = 1 ] && limits_note="; every admission limit on (rates, in-flight cap, token and cost budget with prices)"
    race_lines=""
    if [ "$RACE" = 1 ]; then
        pk_version="$(node -p "require('$PORTKEY_DIR/node_modules/@portkey-ai/gateway/package.json').version")"
        race_lines="- portkey: @portkey-ai/gateway ${pk_version} on node $(node --version)${drop[*]:+ as nobody (setpriv)}, \`node .../build/start-server.js --port=P --headless\`, requests with \`x-portkey-provider: openai\` and \`x-portkey-custom-host: ${portkey_host/$mock_port/MOCK}\`
- network: ${listen_note}
- disk probe: \`bench/fsync_probe.c\` (built by the script), ${FSYNC_N} × (append 512 bytes, time one fdatasync) in the gateway's data directory, between the load and idle phases: ${fsync_line#FSYNC }
- one run: on this shared VM ratios move from run to run; a target counts as met only when several runs agree
"
    fi
    [ -n "${BULWARK_BIN:-}" ] && cmd="BULWARK_BIN=$BULWARK_BIN $cmd"
    # Only the section between the markers is this script's: other benchmarks' results in the
    # same file are kept.
    section="$tmp/section.md"
    cat >"$section" <<EOF
<!-- ${mark}:start -->
## ${title}

Latest run of \`bench/run.sh\` (what it measures: bench/README.md). wrk, the mock upstream, nginx
and Bulwark$([ "$want_portkey" = 1 ] && echo " (and Portkey)") all share this machine's cores, so compare the rows with each other, not with
numbers from another machine.

- date: $(date -u '+%Y-%m-%d %H:%M UTC')
- machine: $(nproc) cores, ${cpu}, $(free -g | awk '/^Mem:/{print $2}') GiB RAM, Linux $(uname -r)
- build: ${version} (commit ${commit}), default \`bulwark init\` config (ledger fdatasync on)${limits_note}
- command: \`$cmd\`
- load average (1, 5, 15 min) at the first warmup: ${load_start}; after the last phase: ${load_end}
${race_lines}- each target, load phase: \`$wrk_cmd\`; idle phase: \`$lat_cmd\`; each after a ${WARMUP}s warmup

$table

$summary
${warn:+
$warn}
<!-- ${mark}:end -->
EOF
    if [ -f "$RESULTS" ] && grep -qF "<!-- ${mark}:start -->" "$RESULTS"; then
        awk -v f="$section" -v s="<!-- ${mark}:start -->" -v e="<!-- ${mark}:end -->" '
            $0 == s { while ((getline l < f) > 0) print l; skip = 1; next }
            $0 == e { skip = 0; next }
            !skip { print }' "$RESULTS" >"$tmp/results.md"
    elif [ -f "$RESULTS" ]; then
        { cat "$RESULTS"; echo; cat "$section"; } >"$tmp/results.md"
    else
        { echo "# Bulwark benchmark results"; echo; cat "$section"; } >"$tmp/results.md"
    fi
    cp "$tmp/results.md" "$RESULTS"
    echo >&2
    echo "bench: wrote $RESULTS" >&2
fi
