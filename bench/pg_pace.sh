#!/usr/bin/env bash
# pg_pace.sh: does a replica on PostgreSQL keep pace with the SQLite gateway? (issue 15,
# "PostgreSQL keeps pace"). In one run, on this machine's cores:
#   - the mock upstream (one thread);
#   - gateway S: `bulwark init` on SQLite (the embedded default);
#   - gateway P: a replica on a throwaway PostgreSQL (scripts/pg-test.sh: its own cluster on a
#     Unix socket, fsync=off), with a second replica joined and idle, as in a real deployment;
# both with every admission limit on (as bench/run.sh LIMITS=1: rates, in-flight cap, token and
# cost budgets with prices) and durable signed receipts. ROUNDS rounds of wrk against S then P
# (alternating which goes first), each DURATION seconds at CONNS connections. Per target:
# requests/s, p50/p99, gateway CPU µs per request, PostgreSQL CPU µs per request (P only) and
# PostgreSQL transactions per call (pg_stat_database.xact_commit delta over requests).
#
#   ROUNDS=3 DURATION=10 CONNS=32 bench/pg_pace.sh
#
# Needs wrk, PostgreSQL's server binaries (scripts/deps.sh test) and build/bulwark. Prints a
# Markdown table; record it in bench/RESULTS.md with the load average it prints.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/.." && pwd)"
ROUNDS="${ROUNDS:-3}"
DURATION="${DURATION:-10}"
CONNS="${CONNS:-32}"
THREADS="${THREADS:-1}"
WARMUP="${WARMUP:-2}"
BIN="${BULWARK_BIN:-$repo/build/bulwark}"
LUA="$here/chat.lua"
die() { echo "pg_pace: $*" >&2; exit 1; }
. "$here/lib.sh" # wait_listen
for n in ROUNDS DURATION CONNS THREADS WARMUP; do
    [[ "${!n}" =~ ^[0-9]+$ ]] && [ "${!n}" -gt 0 ] || die "$n must be a positive integer"
done
command -v wrk >/dev/null || die "wrk is not installed (apt-get install wrk)"
[ -x "$BIN" ] || die "$BIN is missing (make)"

tmp="$(mktemp -d /tmp/bulwark-pgpace.XXXXXX)"
chmod 755 "$tmp"
pids=()
cleanup() {
    local p
    for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    sleep 0.5
    for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    [ -d "$tmp/pg/data" ] && "$repo/scripts/pg-test.sh" stop "$tmp/pg" >/dev/null 2>&1 || true
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM


limits() { # the same limits as bench/run.sh LIMITS=1
    sed -i 's/^limits:$/limits:\n  key_requests_per_minute: 100000000\n  agent_requests_per_minute: 100000000\n  org_requests_per_minute: 100000000\n  key_tokens_per_minute: 1000000000\n  org_max_concurrent: 100000\n  default_max_tokens: 256/' "$1/bulwark.yaml"
    cat >>"$1/bulwark.yaml" <<'YAML'
prices:
  gpt-4o-mini: {prompt_per_1m_micros: 150000, completion_per_1m_micros: 600000}
budgets:
  default:
    monthly_tokens: 100000000000
    monthly_cost_micros: 100000000000
YAML
}

# PostgreSQL
pgport=$(( 20000 + RANDOM % 20000 ))
mkdir -p "$tmp/pg"
PGTEST_PORT="$pgport" PGTEST_OWNER_PID="$$" "$repo/scripts/pg-test.sh" start "$tmp/pg" >/dev/null
url="postgresql://bulwark_app@/bulwark?host=$tmp/pg&port=$pgport"
psql_pg() { psql -X -q -At -h "$tmp/pg" -p "$pgport" -U postgres -d bulwark -c "$1"; }

# the mock
"$BIN" mock-upstream --listen 127.0.0.1:0 --threads 1 2>"$tmp/mock.log" &
pids+=("$!")
mock_port="$(wait_listen "$tmp/mock.log" mock-upstream "$!" 300)"

# gateways
"$BIN" init --data "$tmp/s" >"$tmp/s.json"
"$BIN" init --data "$tmp/p1" --database "$url" >"$tmp/p1.json"
"$BIN" init --data "$tmp/p2" --database "$url" --join --master-key "$tmp/p1/master.key" >/dev/null
for d in s p1 p2; do limits "$tmp/$d"; done
key_of() { sed -n 's/.*"agent_key":"\([^"]*\)".*/\1/p' "$1"; }
declare -A KEY PORT PID
KEY[sqlite]="$(key_of "$tmp/s.json")"
KEY[pg]="$(key_of "$tmp/p1.json")"
serve() { # name dir
    "$BIN" serve --data "$tmp/$2" --listen 127.0.0.1:0 --upstream "http://127.0.0.1:$mock_port/v1" \
        2>"$tmp/$1.log" &
    pids+=("$!")
    PID[$1]="$!"
    PORT[$1]="$(wait_listen "$tmp/$1.log" bulwark "$!" 300)"
}
serve sqlite s
serve pg p1
serve idle p2

ticks() { # CPU ticks (utime + stime) of the given pids
    local sum=0 q
    for q in "$@"; do
        [ -r "/proc/$q/stat" ] && sum=$(( sum + $(awk '{print $14 + $15}' "/proc/$q/stat") ))
    done
    echo "$sum"
}
pg_pids() { # the postmaster and its backends
    local pm; pm="$(head -1 "$tmp/pg/data/postmaster.pid" 2>/dev/null)" || return 0
    echo "$pm $(pgrep -P "$pm" | tr '\n' ' ')"
}
hz=$(getconf CLK_TCK)

declare -A RPS P50 P99 CPU PGCPU TX SESS
run_one() { # target
    local t="$1" url="http://127.0.0.1:${PORT[$1]}/v1/chat/completions"
    BULWARK_AGENT_KEY="${KEY[$t]}" wrk -t"$THREADS" -c"$CONNS" -d"${WARMUP}s" -s "$LUA" "$url" >/dev/null
    local g0 p0 x0 g1 p1 x1
    declare -A before=()
    local q
    for q in $(pg_pids); do before[$q]=$(ticks "$q"); done
    g0=$(ticks "${PID[$t]}"); p0=$(ticks $(pg_pids)); x0=$(psql_pg "SELECT xact_commit || ' ' || sessions FROM pg_stat_database WHERE datname = 'bulwark'")
    BULWARK_AGENT_KEY="${KEY[$t]}" wrk -t"$THREADS" -c"$CONNS" -d"${DURATION}s" --latency -s "$LUA" "$url" >"$tmp/wrk.txt"
    g1=$(ticks "${PID[$t]}"); p1=$(ticks $(pg_pids)); x1=$(psql_pg "SELECT xact_commit || ' ' || sessions FROM pg_stat_database WHERE datname = 'bulwark'")
    local line; line="$(grep '^BENCH ' "$tmp/wrk.txt")" || die "no result from wrk against $t"
    get() { sed -n "s/.* $1=\([0-9.]*\).*/\1/p" <<<"$line"; }
    local req; req="$(get requests)"
    [ "$(get err_status)" = 0 ] || die "$t answered non-2xx: $line"
    if [ "$t" = pg ] && [ "${PG_STATS:-0}" = 1 ]; then # where PostgreSQL's work goes, per call
        psql_pg "SELECT pid, state, xact_start, left(regexp_replace(query, '\s+', ' ', 'g'), 300) FROM pg_stat_activity WHERE datname = 'bulwark' AND backend_type = 'client backend' AND state <> 'idle'" | sed 's/^/pg_pace: activity /' >&2
        for q in $(pg_pids); do
            echo "pg_pace: pid $q $(( $(ticks "$q") - ${before[$q]:-0} )) ticks: $(tr '\0' ' ' </proc/$q/cmdline 2>/dev/null | cut -c1-80)" >&2
        done
        psql_pg "SELECT relname, seq_scan, idx_scan, n_tup_ins, n_tup_upd, n_tup_del FROM pg_stat_user_tables ORDER BY seq_scan + coalesce(idx_scan, 0) DESC LIMIT 8" |
            awk -F'|' -v n="$req" '{printf "pg_pace: %-22s scans/call %.3f  idx/call %.3f  ins %.3f  upd %.3f  del %.3f (cumulative)\n", $1, $2/n, $3/n, $4/n, $5/n, $6/n}' >&2
        psql_pg "SELECT sessions, xact_commit, xact_rollback, tup_returned, tup_fetched, blks_hit FROM pg_stat_database WHERE datname = 'bulwark'" |
            awk -F'|' -v n="$req" '{printf "pg_pace: sessions/call %.4f  commits/call %.4f  rollbacks/call %.4f  tup_returned/call %.1f  tup_fetched/call %.1f  blks_hit/call %.1f (cumulative)\n", $1/n, $2/n, $3/n, $4/n, $5/n, $6/n}' >&2
    fi
    RPS[$t]="${RPS[$t]:-} $(get rps)"
    P50[$t]="${P50[$t]:-} $(get p50_us)"
    P99[$t]="${P99[$t]:-} $(get p99_us)"
    CPU[$t]="${CPU[$t]:-} $(( (g1 - g0) * 1000000 / hz / req ))"
    PGCPU[$t]="${PGCPU[$t]:-} $(( (p1 - p0) * 1000000 / hz / req ))"
    TX[$t]="${TX[$t]:-} $(awk -v a="${x0% *}" -v b="${x1% *}" -v n="$req" 'BEGIN{printf "%.4f", (b-a)/n}')"
    SESS[$t]="${SESS[$t]:-} $(( ${x1#* } - ${x0#* } ))"
}

load_before="$(cut -d' ' -f1-3 /proc/loadavg)"
ratios=""
for r in $(seq "$ROUNDS"); do
    echo "pg_pace: round $r of $ROUNDS" >&2
    if [ $(( r % 2 )) = 1 ]; then run_one sqlite; run_one pg; else run_one pg; run_one sqlite; fi
    s=$(awk '{print $NF}' <<<"${RPS[sqlite]}"); p=$(awk '{print $NF}' <<<"${RPS[pg]}")
    ratios="$ratios $(awk -v a="$p" -v b="$s" 'BEGIN{printf "%.2f", a/b}')"
done
load_after="$(cut -d' ' -f1-3 /proc/loadavg)"

echo
echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC'); commit $(git -C "$repo" rev-parse --short HEAD); load average before: $load_before, after: $load_after"
echo "- command: \`ROUNDS=$ROUNDS DURATION=$DURATION CONNS=$CONNS THREADS=$THREADS bench/pg_pace.sh\` (wrk -t$THREADS -c$CONNS, bench/chat.lua)"
echo
echo "| target | requests/s per round | p50 µs | p99 µs | gateway CPU µs/req | PostgreSQL CPU µs/req | PG transactions/call | new PG sessions |"
echo "|---|---|---|---|---|---|---|---|"
for t in sqlite pg; do
    echo "| $t |${RPS[$t]} |${P50[$t]} |${P99[$t]} |${CPU[$t]} |${PGCPU[$t]} |${TX[$t]} |${SESS[$t]} |"
done
echo
echo "- pg / sqlite throughput per round:$ratios"
