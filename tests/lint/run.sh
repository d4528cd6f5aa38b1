#!/usr/bin/env bash
# Tests of make lint's own checks (make lint-test): each check runs on a copy of the tree, first
# clean, then with one planted violation, and must pass on the first and fail on the second.
# Covers the layering rule (api/ <-> proxy/), the banned-function check and its BW_IGNORE rule,
# cppcheck (a planted NULL dereference) and the clang-format check.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
ok() { echo "ok - $1"; }
not_ok() { echo "not ok - $1" >&2; fails=$((fails + 1)); }
# expect PASS|FAIL NAME CMD...: runs CMD quietly and checks its status.
expect() {
    local want=$1 name=$2
    shift 2
    if "$@" >"$tmp/out" 2>&1; then got=PASS; else got=FAIL; fi
    if [ "$got" = "$want" ]; then ok "$name"; else not_ok "$name (got $got)"; cat "$tmp/out" >&2; fi
}
fresh() { # a copy of the tracked tree (as it is in the work tree) in $tmp/tree
    rm -rf "$tmp/tree"
    mkdir -p "$tmp/tree"
    git ls-files -z src scripts .clang-format | xargs -0 cp --parents -t "$tmp/tree"
}

fresh
expect PASS "layers: the tree as it is" scripts/check-layers.sh "$tmp/tree"
echo '#include "proxy/proxy.h"' >>"$tmp/tree/src/api/api.c"
expect FAIL "layers: api/ including proxy/ fails" scripts/check-layers.sh "$tmp/tree"
fresh
printf '#include "../api/api.h"\n' >>"$tmp/tree/src/proxy/proxy_call.c"
expect FAIL "layers: proxy/ including api/ (relative path) fails" scripts/check-layers.sh "$tmp/tree"
fresh
printf '#include <api/api.h>\n' >>"$tmp/tree/src/proxy/proxy_call.c"
expect FAIL "layers: proxy/ including <api/...> fails" scripts/check-layers.sh "$tmp/tree"

fresh
expect PASS "checksrc: the tree as it is" scripts/checksrc.py "$tmp/tree"
printf 'static void f(char *d) { strcpy(d, "x"); }\n' >>"$tmp/tree/src/util/buf.c"
expect FAIL "checksrc: strcpy fails" scripts/checksrc.py "$tmp/tree"
fresh
printf '/* never strcpy(d, s) or sprintf(d, "x") here */\nstatic const char *s = "atoi(x)";\n' \
    >>"$tmp/tree/src/util/buf.c"
expect PASS "checksrc: names in comments and strings do not count" scripts/checksrc.py "$tmp/tree"
fresh
printf 'static int g(void) { return atoi("1"); }\n' >>"$tmp/tree/src/util/buf.c"
printf 'src/util/buf.c atoi  # test: allowed\n' >"$tmp/tree/scripts/checksrc.allow"
expect PASS "checksrc: an allowlisted use passes" scripts/checksrc.py "$tmp/tree"
printf 'src/util/json.c atoi  # test: matches nothing\n' >>"$tmp/tree/scripts/checksrc.allow"
expect FAIL "checksrc: a stale allowlist line fails" scripts/checksrc.py "$tmp/tree"
fresh
printf 'static void h(void) {\n    BW_IGNORE(bw_buf_reserve(0, 0));\n}\n' >>"$tmp/tree/src/util/buf.c"
expect FAIL "checksrc: BW_IGNORE without a reason fails" scripts/checksrc.py "$tmp/tree"

# cppcheck on one planted file (the whole tree is make lint's job; this keeps the test short)
mkdir -p "$tmp/cpp"
printf 'int f(void) {\n    int *p = 0;\n    return *p;\n}\n' >"$tmp/cpp/bad.c"
cpp() {
    cppcheck -q --std=c11 --enable=warning --error-exitcode=1 \
        --suppressions-list="$root/scripts/cppcheck.supp" "$@"
}
expect FAIL "cppcheck: a NULL dereference fails" cpp "$tmp/cpp/bad.c"
expect PASS "cppcheck: a clean file passes" cpp "$root/src/util/time.c"

# clang-format --dry-run -Werror with the checked-in style
printf 'int  f( void ){return 1;}\n' >"$tmp/tree/src/util/ugly.c"
expect FAIL "clang-format: a misformatted file fails" \
    clang-format --style=file:"$root/.clang-format" --dry-run -Werror "$tmp/tree/src/util/ugly.c"
printf 'int f(void) {\n    return 1;\n}\n' >"$tmp/tree/src/util/ugly.c"
expect PASS "clang-format: a formatted file passes" \
    clang-format --style=file:"$root/.clang-format" --dry-run -Werror "$tmp/tree/src/util/ugly.c"

[ "$fails" -eq 0 ] || { echo "lint-test: $fails failed" >&2; exit 1; }
echo "lint-test: all passed"
