#!/usr/bin/env bash
# Runs Bulwark's integration tests (node's built-in test runner) against the real binary.
# Usage: BULWARK_BIN=/abs/path/to/bulwark tests/integration/run.sh [test files...]
# (`make integration` sets BULWARK_BIN.) Exits non-zero on any failure.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
export BULWARK_BIN="${BULWARK_BIN:-$repo/build/bulwark}"

if [ ! -x "$BULWARK_BIN" ]; then
    echo "run.sh: $BULWARK_BIN is not an executable (run make first)" >&2
    exit 1
fi
command -v node >/dev/null || { echo "run.sh: node is not installed" >&2; exit 1; }

if [ -f "$here/package-lock.json" ]; then
    (cd "$here" && npm ci --no-audit --no-fund --loglevel=error)
fi

cd "$repo"
# Files run two at a time; BULWARK_TEST_CONCURRENCY=1 (make tsan) runs them one at a time, so a
# sanitizer build ten times slower does not also fight another file for the two cores.
jobs="${BULWARK_TEST_CONCURRENCY:-2}"
if [ "$#" -gt 0 ]; then
    exec node --test --test-concurrency="$jobs" --test-timeout=90000 "$@"
fi
exec node --test --test-concurrency="$jobs" --test-timeout=90000 tests/integration/
