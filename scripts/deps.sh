#!/usr/bin/env bash
# Installs the Debian packages Bulwark's build, tests and benchmark need, when missing.
# Usage: scripts/deps.sh [build|test|bench]   (default: test, which includes build)
set -euo pipefail
what=${1:-test}
build_pkgs="build-essential pkg-config libevent-dev libevent-openssl-2.1-7 libcurl4-openssl-dev libsodium-dev libssl-dev
  libjansson-dev libsqlite3-dev libpq-dev libyaml-dev libpcre2-dev libidn2-dev"
test_pkgs="libcmocka-dev clang libclang-rt-14-dev curl openssl nodejs npm util-linux iproute2 postgresql sqlite3 wrk
  groff-base man-db python3-prometheus-client chromium"
bench_pkgs="nginx-light"
pkgs=$build_pkgs
case "$what" in
  build) ;;
  test) pkgs="$pkgs $test_pkgs" ;;
  bench) pkgs="$pkgs $test_pkgs $bench_pkgs" ;;
  *) echo "deps.sh: unknown set '$what' (build|test|bench)" >&2; exit 2 ;;
esac
missing=()
for p in $pkgs; do
  # node/npm may come from outside Debian (nvm, nodesource): accept the commands.
  case "$p" in
    nodejs) command -v node >/dev/null && continue ;;
    npm) command -v npm >/dev/null && continue ;;
  esac
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# bench: Portkey's gateway for bench/run.sh's race (RACE=1), at the version pinned by
# bench/portkey/package-lock.json; its install script (patch-package, no patches shipped) is
# not run. Skipped when node_modules was installed from this very lockfile.
bench_npm() {
  [ "$what" = bench ] || return 0
  local dir
  dir="$(cd "$(dirname "$0")/../bench/portkey" && pwd)"
  cmp -s "$dir/package-lock.json" "$dir/node_modules/.installed-lock.json" && return 0
  echo "deps.sh: installing bench/portkey's pinned packages (npm ci)" >&2
  (cd "$dir" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error &&
    cp package-lock.json node_modules/.installed-lock.json)
}
[ ${#missing[@]} -eq 0 ] && { bench_npm; exit 0; }
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "deps.sh: installing ${missing[*]}" >&2
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
bench_npm
