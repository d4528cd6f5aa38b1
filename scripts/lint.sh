#!/usr/bin/env bash
# make lint: every static check; fails on any finding. Run by scripts/test.sh, usable alone.
#   scripts/check-state.sh   mutable statics say who owns them
#   scripts/check-layers.sh  api/ and proxy/ include nothing of each other
#   scripts/checksrc.py      banned C functions (allowlist: scripts/checksrc.allow)
#   clang-format             every .c/.h under src/ tests/ fuzz/ is formatted (.clang-format)
#   cppcheck                 src/ (suppressions with reasons: scripts/cppcheck.supp)
#   clang-tidy               src/ with .clang-tidy, over a compile database made from the
#                            Makefile's flags (scripts/compile-db.sh)
# Environment: LINT_CFLAGS (set by make: the compiler flags), LINT_JOBS (default nproc),
# LINT_BUILD (default build/lint). Each step runs even if an earlier one failed, so one run
# lists every finding; the exit status is 1 if any step failed.
set -uo pipefail
cd "$(dirname "$0")/.."
: "${LINT_CFLAGS:?run through make lint (it sets LINT_CFLAGS)}"
jobs=${LINT_JOBS:-$(nproc 2>/dev/null || echo 2)}
out=${LINT_BUILD:-build/lint}
mkdir -p "$out/cppcheck"
failed=()
step() {
    local name=$1 t0=$SECONDS
    shift
    if "$@"; then
        echo "lint: $name ok ($((SECONDS - t0)) s)"
    else
        echo "lint: $name FAILED ($((SECONDS - t0)) s)" >&2
        failed+=("$name")
    fi
}

format_check() {
    local files n
    mapfile -t files < <(find src tests fuzz -name '*.[ch]' -not -path '*/node_modules/*' | sort)
    clang-format --dry-run -Werror "${files[@]}" >"$out/format.log" 2>&1 && return 0
    grep 'error:' "$out/format.log" | cut -d: -f1 | sort | uniq -c | sed 's/^/  /' >&2
    echo "clang-format: $(grep -c 'error:' "$out/format.log") place(s) in" \
        "$(grep 'error:' "$out/format.log" | cut -d: -f1 | sort -u | wc -l) file(s) differ" \
        "from .clang-format; run make format" >&2
    return 1
}

cppcheck_run() {
    # -I only src/: system headers would make cppcheck ~10x slower; scripts/cppcheck-defs.h
    # declares the few library macros it must understand (jansson's foreach loops).
    cppcheck -q --std=c11 --enable=warning,portability,performance --inline-suppr \
        --error-exitcode=1 -j "$jobs" -D_GNU_SOURCE -Isrc --include=scripts/cppcheck-defs.h \
        --suppressions-list=scripts/cppcheck.supp --cppcheck-build-dir="$out/cppcheck" \
        --template='{file}:{line}: {severity} [{id}] {message}' src
}

tidy_run() {
    scripts/compile-db.sh "$out/compile_commands.json" || return 1
    # xargs runs $jobs clang-tidy processes at once; the log keeps the notes.
    find src -name '*.c' | sort | xargs -P "$jobs" -n 4 clang-tidy -p "$out" --quiet \
        >"$out/tidy.log" 2>&1
    # Findings as "file check" (no line numbers, so edits elsewhere in a file do not matter),
    # compared with the triaged list scripts/clang-tidy.known: any finding not listed there
    # fails, and so does a listed one that no longer occurs (the list only shrinks).
    grep -E ': (warning|error): ' "$out/tidy.log" | sed "s#^$PWD/##" | sort -u >"$out/tidy.findings"
    sed -E 's/^([^:]+):[0-9]+:[0-9]+: (warning|error): .*\[([A-Za-z0-9.-]+)[],].*$/\1 \3/' \
        "$out/tidy.findings" | sort | uniq -c | awk '{print $2, $3, $1}' >"$out/tidy.got"
    grep -vE '^[[:space:]]*(#|$)' scripts/clang-tidy.known | awk '{print $1, $2, $3}' | sort \
        >"$out/tidy.want"
    if ! diff -u "$out/tidy.want" <(sort "$out/tidy.got") >"$out/tidy.diff"; then
        grep -E '^\+[^+]' "$out/tidy.diff" | sed 's/^+/  new: /' >&2
        grep -E '^-[^-]' "$out/tidy.diff" | sed 's/^-/  gone or changed (update scripts\/clang-tidy.known): /' >&2
        grep -F -f <(grep -E '^\+[^+]' "$out/tidy.diff" | cut -c2- | awk '{print $1}') \
            "$out/tidy.findings" >&2 || true
        echo "clang-tidy: findings differ from scripts/clang-tidy.known; details in $out/tidy.log" >&2
        return 1
    fi
    echo "clang-tidy: $(awk '{n += $3} END {print n + 0}' "$out/tidy.got") known finding(s)," \
        "listed with their triage in scripts/clang-tidy.known"
}

step check-state scripts/check-state.sh
step check-layers scripts/check-layers.sh
step checksrc scripts/checksrc.py
step clang-format format_check
step cppcheck cppcheck_run
step clang-tidy tidy_run
if [ ${#failed[@]} -ne 0 ]; then
    echo "lint: failed: ${failed[*]}" >&2
    exit 1
fi
echo "lint: all checks passed"
