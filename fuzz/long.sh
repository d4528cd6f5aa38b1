#!/usr/bin/env bash
# fuzz/long.sh: the long fuzz run (fuzz/RESULTS.md has the schedule and the last results).
# Runs each named target (default: all of fuzz/*.c) for its time budget, one at a time, in one
# process (the project's machines are small), from the committed seeds plus the run's own
# corpus in build/fuzz/long-<target>. A failing input is written straight into
# fuzz/corpus/<target>/ as regress-crash-* / regress-leak-* / regress-timeout-* / regress-oom-*,
# so it becomes a committed regression seed (commit it with the fix). Prints one Markdown table
# row per target: target, seconds, executions, coverage (edges), features, corpus, result.
# Budget per target: FUZZ_SECONDS (default 300), or FUZZ_SECONDS_<target> to override one.
set -u
cd "$(dirname "$0")/.."
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=($(ls fuzz/*.c | xargs -n1 basename | sed 's/\.c$//'))
status=0
echo "| target | seconds | executions | cov | ft | corpus | result |"
echo "|---|---:|---:|---:|---:|---:|---|"
for t in "${targets[@]}"; do
    var="FUZZ_SECONDS_$t"
    secs="${!var:-${FUZZ_SECONDS:-300}}"
    mkdir -p "build/fuzz/long-$t" "fuzz/corpus/$t"
    log="build/fuzz/long-$t.log"
    start=$(date +%s)
    "build/fuzz/$t" -max_total_time="$secs" -rss_limit_mb=2048 -timeout=10 \
        -print_final_stats=1 -artifact_prefix="fuzz/corpus/$t/regress-" \
        "build/fuzz/long-$t" "fuzz/corpus/$t" >"$log" 2>&1
    rc=$?
    took=$(( $(date +%s) - start ))
    execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
    last=$(grep -E '^#[0-9]+' "$log" | tail -1)
    cov=$(echo "$last" | grep -o 'cov: [0-9]*' | grep -o '[0-9]*')
    ft=$(echo "$last" | grep -o 'ft: [0-9]*' | grep -o '[0-9]*')
    corp=$(echo "$last" | grep -o 'corp: [0-9]*/[0-9A-Za-z]*' | sed 's/corp: //')
    if [ $rc -eq 0 ]; then result=ok; else result="FAILED (rc $rc, see $log)"; status=1; fi
    echo "| $t | $took | ${execs:-?} | ${cov:-?} | ${ft:-?} | ${corp:-?} | $result |"
done
exit $status
