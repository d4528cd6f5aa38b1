#!/usr/bin/env bash
# Lists mutable static state in src/ that does not say who owns it or what protects it.
# Every file-scope or function-static variable that is not const must carry a comment on its
# own line or on the line(s) just above it (docs/INTERNALS.md, "Threads and shared state").
# Exits 1 if any is undocumented. Run by scripts/test.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
bad=$(find src -name '*.c' | sort | xargs awk '
    FNR == 1 { prev = "" }
    # a static variable declaration: "static" (any indent), not const, no "(" before "=" or ";"
    /^[ \t]*static[ \t]/ && !/const/ && !/^[^=;]*\(/ && /;[ \t]*(\/\*.*)?$/ {
        if ($0 !~ /\/\*/ && prev !~ /\*\/[ \t]*$/ && prev !~ /^[ \t]*static[ \t]/)
            printf "%s:%d: %s\n", FILENAME, FNR, $0
    }
    { if ($0 !~ /^[ \t]*$/) prev = $0 }
')
if [ -n "$bad" ]; then
    echo "check-state: mutable static state without a comment saying who owns or protects it:" >&2
    echo "$bad" >&2
    exit 1
fi
echo "check-state: every mutable static says who owns it"
