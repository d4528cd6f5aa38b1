#!/usr/bin/env bash
# Checks the module layering (docs/INTERNALS.md): api/ and proxy/ are peers, so no file in
# src/api/ includes a header of src/proxy/ and no file in src/proxy/ includes one of src/api/.
# What both need (the gateway object, the router) lives in a module below both.
# Usage: scripts/check-layers.sh [ROOT]   (ROOT defaults to the repository). Exits 1 on any finding.
set -euo pipefail
root=${1:-"$(dirname "$0")/.."}
cd "$root"
# "from to": a file under src/<from>/ must not include anything from src/<to>/.
rules=("api proxy" "proxy api")
bad=0
for rule in "${rules[@]}"; do
    read -r from to <<<"$rule"
    [ -d "src/$from" ] || continue
    # Both spellings: "to/x.h" (from -Isrc) and a relative "../to/x.h"; <to/x.h> too.
    hits=$(grep -rnE "^[[:space:]]*#[[:space:]]*include[[:space:]]*[\"<](\.\./)*$to/" \
        --include='*.c' --include='*.h' "src/$from" || true)
    if [ -n "$hits" ]; then
        echo "check-layers: src/$from/ must not include src/$to/:" >&2
        echo "$hits" >&2
        bad=1
    fi
done
[ "$bad" -eq 0 ] || exit 1
echo "check-layers: api/ and proxy/ include nothing of each other"
