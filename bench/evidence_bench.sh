#!/usr/bin/env bash
# evidence_bench.sh: evidence-pack and ledger latency numbers at 10^3 and 10^6 receipts.
# Usage: bench/evidence_bench.sh [BUILD dir, default build] [sizes, default "1000 1000000"]
# Needs the built binary and library: make BUILD=<dir> <dir>/bulwark <dir>/libbulwark.a
# Scratch space under ${TMPDIR:-/tmp} (about 3.5 GB for 10^6), removed at the end.
set -euo pipefail
B="${1:-build}"
SIZES="${2:-1000 1000000}"
repo="$(cd "$(dirname "$0")/.." && pwd)"
cd "$repo"
PKGS="libevent libevent_pthreads libcurl libsodium openssl jansson sqlite3 yaml-0.1 libpq libpcre2-8"
cc -O2 -std=c11 -D_GNU_SOURCE -Isrc -Itests/unit/evidence bench/evidence_bench.c "$B/libbulwark.a" \
    $(pkg-config --cflags --libs $PKGS) -lidn2 -lpthread -lm -o "$B/evidence_bench"
work="$(mktemp -d "${TMPDIR:-/tmp}/bw-evbench.XXXXXX")"
trap 'rm -rf "$work"' EXIT
for n in $SIZES; do
    d="$work/d$n"
    mkdir -p "$d"
    vkey="$("$B/evidence_bench" gen "$d" "$n" 1000)"
    t0=$(date +%s.%N)
    "$B/bulwark" export --data "$d" --out "$work/p$n.tar"
    t1=$(date +%s.%N)
    "$B/bulwark" verify --trust "$vkey" "$work/p$n.tar" >"$work/v$n.txt"
    t2=$(date +%s.%N)
    tail -1 "$work/v$n.txt"
    printf 'receipts %s: pack %s bytes, export %.2f s, verify %.2f s\n' "$n" \
        "$(stat -c %s "$work/p$n.tar")" "$(echo "$t1 - $t0" | bc)" "$(echo "$t2 - $t1" | bc)"
    rm -f "$work/p$n.tar"
    "$B/evidence_bench" latency "$d" 200
done
