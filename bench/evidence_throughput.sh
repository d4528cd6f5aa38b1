#!/usr/bin/env bash
# evidence_throughput.sh: what evidence costs the gateway: bench/run.sh's harness (mock
# upstream, wrk with bench/chat.lua, load phase 50 connections and idle phase 1 connection)
# against the normal build (evidence on: a decision and an outcome receipt per call, group
# commit, fdatasync, one signed checkpoint per batch) and against a benchmark-only build with
# evidence off (-DBW_BENCH_DISCARD_RECEIPTS: the ledger thread acknowledges receipts without
# encoding, hashing, signing, writing or syncing them; no config switch can do this in a normal
# build). Runs ROUNDS rounds alternating on/off so machine noise hits both; prints every round
# and the best of each.
# Usage: [ROUNDS=3] [DURATION=8] bench/evidence_throughput.sh
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
cd "$repo"
ROUNDS="${ROUNDS:-3}"
DURATION="${DURATION:-8}"
ON="${ON_BIN:-build/bulwark}"
OFF_BUILD="build/bench-noevidence"
make -s build/bulwark >&2
make -s BUILD="$OFF_BUILD" CFLAGS="-O2 -g -DBW_BENCH_DISCARD_RECEIPTS" "$OFF_BUILD/bulwark" >&2
OFF="$OFF_BUILD/bulwark"
out="$(mktemp -d "${TMPDIR:-/tmp}/bw-evthr.XXXXXX")"
trap 'rm -rf "$out"' EXIT
# row PHASE FILE: "rps p50" of the bulwark row of run.sh's table
row() { awk -F'|' -v ph="$1" '$2 ~ ph && $3 ~ /bulwark/ {gsub(/ /,"",$4); gsub(/ /,"",$5); print $4, $5}' "$2"; }
for r in $(seq "$ROUNDS"); do
    for mode in on off; do
        bin="$ON"; [ "$mode" = off ] && bin="$OFF"
        BULWARK_BIN="$repo/$bin" RESULTS=- DURATION="$DURATION" bench/run.sh >"$out/$mode$r.txt" 2>"$out/$mode$r.err" \
            || { cat "$out/$mode$r.err" >&2; exit 1; }
        read -r lrps lp50 <<<"$(row load "$out/$mode$r.txt")"
        read -r irps ip50 <<<"$(row idle "$out/$mode$r.txt")"
        echo "round $r evidence $mode: load $lrps req/s (p50 $lp50 ms), idle $irps req/s (p50 $ip50 ms)"
        echo "$mode $lrps $lp50 $irps $ip50" >>"$out/all"
    done
done
awk '{ if ($2 > best[$1]) best[$1] = $2; if (min[$1] == "" || $2 < min[$1]) min[$1] = $2;
       if (ip[$1] == "" || $5 < ip[$1]) ip[$1] = $5 }
     END { printf "best load: evidence on %d req/s (min %d), off %d req/s (min %d): on/off %.3f (cost %.1f%%)\n",
                  best["on"], min["on"], best["off"], min["off"], best["on"] / best["off"],
                  100 * (1 - best["on"] / best["off"]);
           printf "best idle p50: on %.3f ms, off %.3f ms (+%.3f ms per call)\n", ip["on"], ip["off"],
                  ip["on"] - ip["off"] }' "$out/all"
