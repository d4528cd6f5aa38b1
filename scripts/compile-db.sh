#!/usr/bin/env bash
# Writes a compile database (compile_commands.json) for clang-tidy from the Makefile's own flags,
# without building: every src/ file with exactly the flags `make` compiles it with (the lint
# target passes ALL_CFLAGS in LINT_CFLAGS). Usage: scripts/compile-db.sh OUT.json
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:?usage: compile-db.sh OUT.json}
: "${LINT_CFLAGS:?LINT_CFLAGS must hold the compiler flags (make lint sets it)}"
dir=$PWD
esc() { printf '%s' "$1" | sed 's/\\/\\\\/g; s/"/\\"/g'; }
mkdir -p "$(dirname "$out")"
{
    echo "["
    sep=""
    while IFS= read -r f; do
        printf '%s{"directory":"%s","file":"%s","command":"cc %s -c -o /dev/null %s"}\n' \
            "$sep" "$(esc "$dir")" "$(esc "$f")" "$(esc "$LINT_CFLAGS")" "$(esc "$f")"
        sep=","
    done < <(find src -name '*.c' | sort)
    echo "]"
} >"$out.tmp"
mv "$out.tmp" "$out"
