#!/usr/bin/env bash
# Checks the module layering (docs/INTERNALS.md "The layout"): api/, proxy/ and mcp/ are peers,
# so no file in src/api/ includes a header of src/proxy/ and none in src/proxy/ one of src/api/;
# likewise proxy/ <-> mcp/ and mcp/ -> api/. What they share (the gateway object, the router)
# lives in gateway/, below them. (api/ -> mcp/ is not checked yet: api_mcp_servers.c and
# api_mcp_pins.c include mcp/ headers today.)
# Usage: scripts/check-layers.sh [ROOT]   (ROOT defaults to the repository). Exits 1 on any finding.
set -euo pipefail
root=${1:-"$(dirname "$0")/.."}
cd "$root"
# "from to": a file under src/<from>/ must not include anything from src/<to>/.
rules=("api proxy" "proxy api" "proxy mcp" "mcp proxy" "mcp api")
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
echo "check-layers: api/, proxy/ and mcp/ keep to the layout (${#rules[@]} rules)"
