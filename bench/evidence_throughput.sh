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
# Usage: [ROUNDS=5] [DURATION=8] bench/evidence_throughput.sh
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
for r in $(seq "$ROUNDS"); do
    for mode in on off; do
        bin="$ON"; [ "$mode" = off ] && bin="$OFF"
        BULWARK_BIN="$repo/$bin" RESULTS=- TARGETS=bulwark DURATION="$DURATION" bench/run.sh \
            >"$out/$mode$r.txt" 2>"$out/$mode$r.err" || { cat "$out/$mode$r.err" >&2; exit 1; }
        read -r lrps lp50 <<<"$(row load "$out/$mode$r.txt")"
        read -r irps ip50 <<<"$(row idle "$out/$mode$r.txt")"
        read -r lcpu icpu <<<"$(cpu "$out/$mode$r.txt")"
        echo "round $r evidence $mode: load $lrps req/s (p50 $lp50 ms, $lcpu us CPU/req), idle $irps req/s (p50 $ip50 ms)"
        echo "$r $mode $lrps $lp50 $irps $ip50 $lcpu" >>"$out/all"
    done
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
