#!/usr/bin/env bash
# evidence_http.sh: latency of GET /api/v1/receipts/{id} (receipt + C2SP inclusion proof against
# the latest checkpoint) over real HTTP from `bulwark serve`, at several log sizes.
# Usage: bench/evidence_http.sh [BUILD dir, default build] [sizes, default "1000 1000000"]
# For each size: `bulwark init` a data dir, replace its ledger with N synthetic receipts of the
# init org (bench/evidence_bench.c gen, one checkpoint per 1,000), serve it, then
# `wrk -t1 -c1 -d${DURATION:-5}s --latency -s bench/evidence_receipts.lua` over random indices.
# Needs the built binary and library (make BUILD=<dir> <dir>/bulwark <dir>/libbulwark.a) and wrk.
# BULWARK_BIN overrides the gateway binary (e.g. an older build, for before/after numbers).
set -euo pipefail
B="${1:-build}"
SIZES="${2:-1000 1000000}"
BIN="${BULWARK_BIN:-$B/bulwark}"
DURATION="${DURATION:-5}"
repo="$(cd "$(dirname "$0")/.." && pwd)"
cd "$repo"
PKGS="libevent libevent_pthreads libcurl libsodium openssl jansson sqlite3 yaml-0.1 libpq libpcre2-8"
cc -O2 -std=c11 -D_GNU_SOURCE -Isrc -Itests/unit/evidence bench/evidence_bench.c "$B/libbulwark.a" \
    $(pkg-config --cflags --libs $PKGS) -lidn2 -lpthread -lm -o "$B/evidence_bench"
work="$(mktemp -d "${TMPDIR:-/tmp}/bw-evhttp.XXXXXX")"
serve_pid=""
cleanup() {
    [ -n "$serve_pid" ] && kill -TERM "$serve_pid" 2>/dev/null && wait "$serve_pid" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT
field() { sed -n "s/.*\"$1\":\"\([^\"]*\)\".*/\1/p" "$2"; }
for n in $SIZES; do
    d="$work/d$n"
    "$BIN" init --data "$d" >"$work/init$n.json"
    org="$(field org_id "$work/init$n.json")"
    key="$(field agent_key "$work/init$n.json")"
    rm -rf "$d/ledger"
    mkdir -p "$work/g$n"
    vkey="$(GEN_ORG="$org" "$B/evidence_bench" gen "$work/g$n" "$n" 1000)"
    mv "$work/g$n/ledger" "$d/ledger"
    keyid="$(cut -d+ -f2 <<<"$vkey")"
    : >"$work/serve$n.log"
    "$BIN" serve --data "$d" --listen 127.0.0.1:0 2>"$work/serve$n.log" &
    serve_pid="$!"
    port=""
    for _ in $(seq 200); do
        port="$(sed -n 's/.*bulwark listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$work/serve$n.log")"
        [ -n "$port" ] && break
        sleep 0.05
    done
    [ -n "$port" ] || { cat "$work/serve$n.log" >&2; exit 1; }
    code="$(curl -s -o "$work/one.json" -w '%{http_code}' -H "Authorization: Bearer $key" \
        "http://127.0.0.1:$port/api/v1/receipts/$keyid.$((n - 1))")"
    [ "$code" = 200 ] || { cat "$work/one.json" >&2; exit 1; }
    line="$(BULWARK_AGENT_KEY="$key" RECEIPT_KEYID="$keyid" RECEIPT_N="$n" \
        wrk -t1 -c1 -d"${DURATION}s" --latency -s bench/evidence_receipts.lua \
        "http://127.0.0.1:$port" | grep '^BENCH ')"
    get() { sed -n "s/.* $1=\([0-9.]*\).*/\1/p" <<<"$line"; }
    printf 'receipts %s: GET /api/v1/receipts/{id} p50 %.3f ms, p90 %.3f ms, p99 %.3f ms, %s req/s, %s non-2xx\n' \
        "$n" "$(awk -v u="$(get p50_us)" 'BEGIN{print u/1000}')" \
        "$(awk -v u="$(get p90_us)" 'BEGIN{print u/1000}')" \
        "$(awk -v u="$(get p99_us)" 'BEGIN{print u/1000}')" "$(get rps)" "$(get err_status)"
    kill -TERM "$serve_pid"
    wait "$serve_pid" 2>/dev/null || true
    serve_pid=""
    rm -rf "$d" "$work/g$n"
done
