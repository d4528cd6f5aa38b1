#!/usr/bin/env bash
# bench/cpu_per_req.sh: CPU time and system calls per request of the gateway process, A/B
# between builds, alternated in the same minutes. On a shared machine requests/s moves with
# everyone else's load; the CPU one request costs the gateway (task-clock of all its threads:
# workers, ledger, log writer) moves much less, so this is the figure to compare builds by.
#
# Usage: [ROUNDS=4] [DURATION=5] [CONNS=32] [THREADS=1] [WARMUP=1] [STRACE=1] \
#        bench/cpu_per_req.sh NAME=path/to/bulwark [NAME=path/to/bulwark ...]
#
# Every build runs with the race's configuration (bench/run.sh RACE=1): a fresh `bulwark init`
# data dir (auth, policy, durable signed receipts: decision receipt fdatasynced by group commit
# before forwarding, outcome receipt, signed checkpoints), every admission limit on, prices and a
# token and cost budget. All builds forward to one `bulwark mock-upstream` (of the first build,
# one thread). Each round measures every build once, the order reversed every other round (A B,
# B A, ...): wrk -tTHREADS -cCONNS with bench/chat.lua, WARMUP s, then DURATION s counted by
# `perf stat -p PID` (task-clock, raw_syscalls:sys_enter, context-switches) for exactly wrk's
# run. The tracepoint costs every syscall a little, the same for every build.
# Per round and build it prints requests/s, CPU µs per request, syscalls and context switches
# per request; then each build's median and the ratio of medians to the first build.
# STRACE=1 adds, per build, one short run (2 s) under `strace -c -f` for the syscall breakdown
# (strace slows the gateway a lot: read its counts per request, not its times).
# PROFILE=FILE adds one run of the first build under `perf record -g` into FILE (build with
# frame pointers: make BUILD=build/fp CFLAGS="-O2 -g -fno-omit-frame-pointer" build/fp/bulwark;
# PROFILE_CG=dwarf also unwinds the libraries built without them).
# Nothing here can turn evidence off: the builds are run with the race's config as they are.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
ROUNDS="${ROUNDS:-4}"
DURATION="${DURATION:-5}"
CONNS="${CONNS:-32}"
THREADS="${THREADS:-1}"
WARMUP="${WARMUP:-1}"
STRACE="${STRACE:-0}"
PROFILE="${PROFILE:-}"
LUA="$here/chat.lua"

die() { echo "cpu_per_req: $*" >&2; exit 1; }
. "$here/lib.sh" # wait_listen
[ "$#" -ge 1 ] || die "usage: bench/cpu_per_req.sh NAME=path/to/bulwark [NAME=path ...]"
for n in ROUNDS DURATION CONNS THREADS WARMUP; do
    [[ "${!n}" =~ ^[0-9]+$ ]] && [ "${!n}" -gt 0 ] || die "$n must be a positive integer"
done
command -v wrk >/dev/null || die "wrk is not installed (apt-get install wrk)"
command -v perf >/dev/null || die "perf is not installed (apt-get install linux-perf)"
[ "$STRACE" = 0 ] || command -v strace >/dev/null || die "strace is not installed"

names=()
declare -A BIN
for a in "$@"; do
    [[ "$a" =~ ^([A-Za-z0-9_.-]+)=(.+)$ ]] || die "argument '$a' is not NAME=path"
    n="${BASH_REMATCH[1]}"
    [ -z "${BIN[$n]:-}" ] || die "build name $n given twice"
    BIN[$n]="$(realpath "${BASH_REMATCH[2]}")"
    [ -x "${BIN[$n]}" ] || die "${BIN[$n]} is not executable"
    names+=("$n")
done

tmp="$(mktemp -d /tmp/bw-cpureq.XXXXXX)"
pids=()
wrk_pid=""
cleanup() {
    [ -n "$wrk_pid" ] && kill -TERM "$wrk_pid" 2>/dev/null
    local p
    for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    sleep 0.5
    for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM


first="${BIN[${names[0]}]}"
"$first" mock-upstream --listen 127.0.0.1:0 --threads 1 2>"$tmp/mock.log" &
pids+=("$!")
mock_port="$(wait_listen "$tmp/mock.log" mock-upstream "$!")"

# The race's configuration (bench/run.sh, LIMITS=1): keep the two in step.
declare -A PID PORT KEY
for n in "${names[@]}"; do
    d="$tmp/data-$n"
    "${BIN[$n]}" init --data "$d" >"$tmp/init-$n.json"
    KEY[$n]="$(sed -n 's/.*"agent_key":"\([^"]*\)".*/\1/p' "$tmp/init-$n.json")"
    [ -n "${KEY[$n]}" ] || die "no agent_key from $n's init"
    sed -i 's/^limits:$/limits:\n  key_requests_per_minute: 100000000\n  agent_requests_per_minute: 100000000\n  org_requests_per_minute: 100000000\n  key_tokens_per_minute: 1000000000\n  org_max_concurrent: 100000\n  default_max_tokens: 256/' "$d/bulwark.yaml"
    grep -q '^  org_max_concurrent: 100000$' "$d/bulwark.yaml" || die "could not set the limits"
    cat >>"$d/bulwark.yaml" <<'YAML'
prices:
  gpt-4o-mini: {prompt_per_1m_micros: 150000, completion_per_1m_micros: 600000}
budgets:
  default:
    monthly_tokens: 100000000000
    monthly_cost_micros: 100000000000
YAML
    "${BIN[$n]}" serve --data "$d" --listen 127.0.0.1:0 \
        --upstream "http://127.0.0.1:$mock_port/v1" 2>"$tmp/serve-$n.log" &
    pids+=("$!")
    PID[$n]="$!"
    PORT[$n]="$(wait_listen "$tmp/serve-$n.log" bulwark "$!")"
    code="$(curl -s -o "$tmp/check.out" -w '%{http_code}' -X POST \
        "http://127.0.0.1:${PORT[$n]}/v1/chat/completions" -H 'Content-Type: application/json' \
        -H "Authorization: Bearer ${KEY[$n]}" \
        --data '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}],"max_tokens":16}')"
    [ "$code" = 200 ] || { cat "$tmp/check.out" >&2; die "$n answered $code, not 200"; }
done

run_wrk() { # NAME SECONDS OUT [PREFIX...]: wrk against NAME, optionally under a counter
    local n="$1" s="$2" out="$3"
    shift 3
    BULWARK_AGENT_KEY="${KEY[$n]}" "$@" wrk -t"$THREADS" -c"$CONNS" -d"${s}s" -s "$LUA" \
        "http://127.0.0.1:${PORT[$n]}/v1/chat/completions" >"$out" 2>&1 &
    wrk_pid="$!"
    wait "$wrk_pid" || { cat "$out" >&2; die "wrk failed against $n"; }
    wrk_pid=""
}
field() { sed -n "s/.* $1=\([0-9.]*\).*/\1/p" "$2"; }
# perf's CSV: value,unit,event,...
counter() { awk -F, -v e="$1" '$3 ~ e {print $1}' "$2"; }

echo "cpu_per_req: builds: $(for n in "${names[@]}"; do printf '%s=%s ' "$n" "${BIN[$n]}"; done)"
echo "cpu_per_req: wrk -t$THREADS -c$CONNS, ${WARMUP}s warmup + ${DURATION}s counted, $ROUNDS rounds; load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-5s %-12s %9s %9s %9s %9s %6s\n' round build "req/s" "cpu_us" "sys/req" "cs/req" errors
for r in $(seq "$ROUNDS"); do
    order=("${names[@]}")
    if [ $((r % 2)) = 0 ]; then
        order=()
        for ((i = ${#names[@]} - 1; i >= 0; i--)); do order+=("${names[$i]}"); done
    fi
    for n in "${order[@]}"; do
        run_wrk "$n" "$WARMUP" "$tmp/warm.txt"
        run_wrk "$n" "$DURATION" "$tmp/wrk.txt" perf stat -x, -o "$tmp/perf.txt" \
            -e task-clock,raw_syscalls:sys_enter,context-switches -p "${PID[$n]}" --
        reqs="$(field requests "$tmp/wrk.txt")"
        errs=$(( $(field err_status "$tmp/wrk.txt") + $(field err_connect "$tmp/wrk.txt") +
                 $(field err_read "$tmp/wrk.txt") + $(field err_timeout "$tmp/wrk.txt") ))
        rps="$(field rps "$tmp/wrk.txt")"
        tc="$(counter task-clock "$tmp/perf.txt")"
        sc="$(counter raw_syscalls "$tmp/perf.txt")"
        cs="$(counter context-switches "$tmp/perf.txt")"
        [ -n "$reqs" ] && [ "$reqs" -gt 0 ] && [ -n "$tc" ] || { cat "$tmp/wrk.txt" "$tmp/perf.txt" >&2; die "no numbers for $n"; }
        awk -v r="$r" -v n="$n" -v rps="$rps" -v tc="$tc" -v sc="$sc" -v cs="$cs" -v q="$reqs" -v e="$errs" \
            'BEGIN{printf "%-5s %-12s %9.0f %9.1f %9.2f %9.2f %6d\n", r, n, rps, tc*1000/q, sc/q, cs/q, e}' |
            tee -a "$tmp/rows"
    done
done
echo "cpu_per_req: load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "median per build (ratio to ${names[0]}):"
awk -v base="${names[0]}" '
    function med(s,   a, m, i, j, t) { m = split(s, a, " ");
        for (i = 1; i <= m; i++) for (j = i + 1; j <= m; j++) if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }
        return (m % 2) ? a[(m + 1) / 2] : (a[m / 2] + a[m / 2 + 1]) / 2 }
    { rps[$2] = rps[$2] " " $3; cpu[$2] = cpu[$2] " " $4; sys[$2] = sys[$2] " " $5; cs[$2] = cs[$2] " " $6;
      if (!($2 in seen)) { seen[$2] = 1; order[++k] = $2 } }
    END { b = med(cpu[base]); br = med(rps[base]);
        for (i = 1; i <= k; i++) { n = order[i];
            printf "  %-12s cpu %.1f us/req (%.3f)  req/s %.0f (%.3f)  syscalls %.2f/req  ctxsw %.2f/req\n",
                n, med(cpu[n]), med(cpu[n]) / b, med(rps[n]), med(rps[n]) / br, med(sys[n]), med(cs[n]) } }' "$tmp/rows"

if [ -n "$PROFILE" ]; then
    n="${names[0]}"
    echo
    echo "perf record -g of $n under the same load (${DURATION}s) into $PROFILE"
    run_wrk "$n" "$DURATION" "$tmp/wrk.txt" perf record -q --call-graph "${PROFILE_CG:-fp}" -o "$PROFILE" -p "${PID[$n]}" --
    echo "  requests in the profiled run: $(field requests "$tmp/wrk.txt")"
fi

if [ "$STRACE" = 1 ]; then
    for n in "${names[@]}"; do
        echo
        echo "strace -c -f, $n (2 s under the same load; counts per request):"
        strace -c -f -o "$tmp/strace.txt" -p "${PID[$n]}" 2>/dev/null &
        st_pid="$!"
        pids+=("$st_pid")
        sleep 0.5 # attach to every thread before the load starts
        run_wrk "$n" 2 "$tmp/wrk.txt"
        kill -INT "$st_pid"
        wait "$st_pid" || true
        reqs="$(field requests "$tmp/wrk.txt")"
        awk -v q="$reqs" '$1 ~ /^[0-9.]+$/ && NF >= 5 { c = $4; s = $NF; printf "  %-20s %7.2f/req\n", s, c / q }' \
            "$tmp/strace.txt" | sort -k2 -nr | head -15
    done
fi
