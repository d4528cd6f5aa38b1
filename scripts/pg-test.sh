#!/usr/bin/env bash
# A throwaway PostgreSQL server for tests: its own cluster in a temp directory, listening only
# on a Unix socket there, with the two Bulwark roles and the migrations applied.
#
#   scripts/pg-test.sh start DIR   creates and starts it; prints shell exports (PGHOST, PGPORT,
#                                  BULWARK_PG_APP, BULWARK_PG_OWNER) to stdout
#   scripts/pg-test.sh stop DIR    stops it and removes DIR (done by a watchdog as well when the
#                                  process that started it exits first)
#   scripts/pg-test.sh pause DIR   stops the server, keeping DIR (a database outage, for tests)
#   scripts/pg-test.sh resume DIR  starts it again on the same socket (PGTEST_PORT as at start)
#
# Roles: bulwark_owner (owns the database and tables, runs migrations, BYPASSRLS for the key
# lookup function only) and bulwark_app (the gateway's runtime role: LOGIN, NOSUPERUSER,
# NOBYPASSRLS, owns nothing, DML grants only). Requires Debian's postgresql package.
set -euo pipefail
cmd=${1:-}
dir=${2:-}
[ -n "$cmd" ] && [ -n "$dir" ] || { echo "usage: $0 start|stop|pause|resume DIR" >&2; exit 2; }
here="$(cd "$(dirname "$0")/.." && pwd)"
pgbin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[ -n "$pgbin" ] || { echo "pg-test: PostgreSQL server binaries not found (apt-get install postgresql)" >&2; exit 1; }
port=${PGTEST_PORT:-5544}

as_pg() {
  # initdb and postgres refuse to run as root: use the postgres system user then.
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

case "$cmd" in
start)
  mkdir -p "$dir"
  [ "$(id -u)" -eq 0 ] && chown postgres "$dir"
  as_pg "$pgbin/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 \
    || { cat "$dir/initdb.log" >&2; exit 1; }
  as_pg "$pgbin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w \
    -o "-c listen_addresses='' -k $dir -p $port -c fsync=off" start >/dev/null \
    || { cat "$dir/server.log" >&2; exit 1; }
  psql=(psql -X -q -v ON_ERROR_STOP=1 -h "$dir" -p "$port")
  "${psql[@]}" -U postgres -d postgres <<'SQL'
CREATE ROLE bulwark_owner LOGIN NOSUPERUSER BYPASSRLS;
CREATE ROLE bulwark_app LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE;
CREATE DATABASE bulwark OWNER bulwark_owner;
SQL
  "${psql[@]}" -U postgres -d bulwark -c "REVOKE CREATE ON SCHEMA public FROM PUBLIC; GRANT ALL ON SCHEMA public TO bulwark_owner;"
  for f in "$here"/src/store/pg/*.sql; do
    "${psql[@]}" -U bulwark_owner -d bulwark -f "$f"
  done
  "${psql[@]}" -U bulwark_owner -d bulwark <<'SQL'
GRANT USAGE ON SCHEMA public TO bulwark_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO bulwark_app;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA public TO bulwark_app;
SQL
  # A watchdog stops the server when the process that started it (a test file's node process:
  # PGTEST_OWNER_PID, default the caller) is gone without calling stop (a crash, a runner
  # timeout), so no test leaves a PostgreSQL running. It leaves on its own once DIR is removed.
  owner=${PGTEST_OWNER_PID:-$PPID}
  setsid bash -c 'while kill -0 "$1" 2>/dev/null && [ -d "$2/data" ]; do sleep 2; done
                  [ -d "$2/data" ] && exec "$0" stop "$2"' \
    "$here/scripts/pg-test.sh" "$owner" "$dir" </dev/null >/dev/null 2>&1 &
  echo "export PGHOST='$dir' PGPORT='$port' PGDATABASE=bulwark BULWARK_PG_APP=bulwark_app BULWARK_PG_OWNER=bulwark_owner"
  ;;
pause)
  as_pg "$pgbin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null
  ;;
resume)
  as_pg "$pgbin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w \
    -o "-c listen_addresses='' -k $dir -p $port -c fsync=off" start >/dev/null \
    || { cat "$dir/server.log" >&2; exit 1; }
  ;;
stop)
  if [ -d "$dir/data" ]; then
    as_pg "$pgbin/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
  fi
  rm -rf "$dir"
  ;;
*) echo "usage: $0 start|stop|pause|resume DIR" >&2; exit 2 ;;
esac
