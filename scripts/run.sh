#!/usr/bin/env bash
# Installs the build dependencies, builds, and runs the gateway on the embedded default: SQLite
# plus the built-in mock upstream. The first run creates the data directory and prints the keys
# (shown once) and a curl line to try. Data directory: $BULWARK_DATA (default ./.bulwark-data).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh build
make -j"$(nproc 2>/dev/null || echo 2)" >/dev/null
data=${BULWARK_DATA:-./.bulwark-data}
listen=${BULWARK_LISTEN:-127.0.0.1:8080}
if [ ! -d "$data" ]; then
  keys=$(build/bulwark init --data "$data")
  agent_key=$(printf '%s' "$keys" | sed -n 's/.*"agent_key":"\([^"]*\)".*/\1/p')
  echo "Created $data. Keys (shown only now, only their hashes are stored):"
  echo "$keys"
  echo
  echo "Try it:"
  echo "  curl -s http://$listen/v1/chat/completions -H 'Authorization: Bearer $agent_key' \\"
  echo "    -H 'Content-Type: application/json' \\"
  echo "    -d '{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"user\",\"content\":\"Hello\"}]}'"
  echo
else
  echo "Using existing $data (its agent key was printed when it was created)."
fi
exec build/bulwark serve --data "$data" --listen "$listen" --upstream mock
