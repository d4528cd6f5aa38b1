#!/usr/bin/env bash
# evidence_throughput.sh: what evidence costs the gateway: bench/run.sh's harness (mock
# upstream, wrk with bench/chat.lua, load phase 50 connections and idle phase 1 connection)
# against the normal build (evidence on: a decision and an outcome receipt per call, group
# commit, fdatasync, one signed checkpoint per batch) and against a benchmark-only build with
# evidence off (-DBW_BENCH_DISCARD_RECEIPTS: the ledger thread acknowledges receipts without
# encoding, hashing, signing, writing or syncing them; no config switch can do this in a normal
# build). Runs ROUNDS rounds alternating on/off so machine noise hits both (only the bulwark
# target of run.sh: TARGETS=bulwark). Prints every round, then: the median of the rounds' on/off
# ratios (paired, the steadiest figure on a shared machine), best vs best, and the gateway's CPU
# per request with evidence on and off (utime + stime of the process, from run.sh).
# PARALLEL=1 runs both builds at the same time instead (each its own mock and wrk with half the
# connections and one wrk thread, phases aligned with run.sh's START_AT): both then see the
# same machine noise, so each round's ratio is much steadier on a shared VM; a build that waits
# longer (for its fdatasync) leaves the CPU to the other, so latency counts as well as CPU.
# ON_BIN (default build/bulwark) is the evidence-on binary, e.g. an older build to compare.
# Usage: [ROUNDS=5] [DURATION=8] [PARALLEL=1] [ON_BIN=path] bench/evidence_throughput.sh
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
cd "$repo"
ROUNDS="${ROUNDS:-5}"
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
# cpu FILE: "load_us idle_us" from run.sh's CPU line
cpu() { sed -n 's/.*CPU per request.*: load \([0-9.]*\) µs, idle \([0-9.]*\) µs.*/\1 \2/p' "$1"; }
# bench MODE ROUND [ENV...]: one run.sh of the build for MODE (on/off) into $out/MODEROUND.txt
bench() {
    local mode="$1" r="$2" bin="$ON"
    shift 2
    [ "$mode" = off ] && bin="$OFF"
    case "$bin" in /*) ;; *) bin="$repo/$bin" ;; esac
    env "$@" BULWARK_BIN="$bin" RESULTS=- TARGETS=bulwark DURATION="$DURATION" bench/run.sh \
        >"$out/$mode$r.txt" 2>"$out/$mode$r.err" || { cat "$out/$mode$r.err" >&2; return 1; }
}
report() { # MODE ROUND
    local lrps lp50 irps ip50 lcpu icpu
    read -r lrps lp50 <<<"$(row load "$out/$1$2.txt")"
    read -r irps ip50 <<<"$(row idle "$out/$1$2.txt")"
    read -r lcpu icpu <<<"$(cpu "$out/$1$2.txt")"
    echo "round $2 evidence $1: load $lrps req/s (p50 $lp50 ms, $lcpu us CPU/req), idle $irps req/s (p50 $ip50 ms)"
    echo "$2 $1 $lrps $lp50 $irps $ip50 $lcpu" >>"$out/all"
}
for r in $(seq "$ROUNDS"); do
    if [ "${PARALLEL:-0}" = 1 ]; then
        at="$(( $(date +%s) + 4 ))"
        half="$(( ${CONNS:-50} / 2 ))"
        bench on "$r" START_AT="$at" CONNS="$half" THREADS=1 & pon=$!
        bench off "$r" START_AT="$at" CONNS="$half" THREADS=1 & poff=$!
        wait "$pon" && wait "$poff" || exit 1
        report on "$r"
        report off "$r"
    else
        for mode in on off; do
            bench "$mode" "$r" || exit 1
            report "$mode" "$r"
        done
    fi
done
awk '{ rps[$2, $1] = $3; if ($3 > best[$2]) best[$2] = $3;
       if (ip[$2] == "" || $6 < ip[$2]) ip[$2] = $6; cpu[$2] += $7; n[$2]++ }
     END { for (r = 1; r <= n["on"]; r++) q[r] = rps["on", r] / rps["off", r];
           for (i = 1; i <= n["on"]; i++) for (j = i + 1; j <= n["on"]; j++)
               if (q[j] < q[i]) { t = q[i]; q[i] = q[j]; q[j] = t }
           m = n["on"]; med = (m % 2) ? q[(m + 1) / 2] : (q[m / 2] + q[m / 2 + 1]) / 2;
           printf "median of the rounds on/off: %.3f (cost %.1f%%); lowest %.3f, highest %.3f\n",
                  med, 100 * (1 - med), q[1], q[m];
           printf "best load: evidence on %d req/s, off %d req/s: on/off %.3f (cost %.1f%%)\n",
                  best["on"], best["off"], best["on"] / best["off"], 100 * (1 - best["on"] / best["off"]);
           con = cpu["on"] / n["on"]; coff = cpu["off"] / n["off"];
           printf "gateway CPU per request under load (mean): on %.1f us, off %.1f us (evidence %.1f us, %.1f%% of on)\n",
                  con, coff, con - coff, 100 * (con - coff) / con;
           printf "best idle p50: on %.3f ms, off %.3f ms (+%.3f ms per call)\n", ip["on"], ip["off"],
                  ip["on"] - ip["off"] }' "$out/all"
