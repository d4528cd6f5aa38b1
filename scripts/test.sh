#!/usr/bin/env bash
# Installs what the tests need, runs the static checks (make lint, which includes
# scripts/check-state.sh, and the lint checks' own tests), builds, and runs every test: unit +
# integration, then the same
# under AddressSanitizer + UndefinedBehaviorSanitizer, then under ThreadSanitizer, then a short
# libFuzzer smoke run.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh test
jobs=$(nproc 2>/dev/null || echo 2)
make lint LINT_JOBS="$jobs"
make lint-test
make -j"$jobs"
make test
make asan
make tsan
make -j"$jobs" fuzz-run
echo "all tests passed"
