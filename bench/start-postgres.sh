#!/usr/bin/env bash
# Starts a throwaway PostgreSQL cluster for benchmarks, like the tests' one: a temp directory owned by the
# postgres user (initdb refuses root), a free loopback port, fsync=on and synchronous_commit=on (production
# durability), track_wal_io_timing=on (pg_stat_wal times each WAL flush), trust authentication on 127.0.0.1 only, the unix socket inside the temp directory.
# Prints the --store setting to pass to the benchmark and the command that stops and deletes the cluster.
#
#   bench/start-postgres.sh            # e.g. prints: store: postgres:Host=127.0.0.1;Port=41234;Username=postgres;Database=bench
#   dotnet bench/Middleware.Bench/bin/Release/net10.0/Middleware.Bench.dll local --store "postgres:..." --concurrency 64
#
# Settings (environment): PGBIN (default: newest /usr/lib/postgresql/*/bin), PORT (default: a free one).
set -euo pipefail

PGBIN="${PGBIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)}"
if [ -z "$PGBIN" ] || [ ! -x "$PGBIN/initdb" ]; then
  echo "PostgreSQL server binaries not found under /usr/lib/postgresql/*/bin; install them: apt-get update && apt-get install -y postgresql" >&2
  exit 1
fi
PORT="${PORT:-$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')}"
DIR="$(mktemp -d /tmp/mw-bench-pg-XXXXXX)"
as_pg=()
if [ "$(id -u)" = 0 ]; then
  chown postgres:postgres "$DIR"
  chmod 755 "$DIR"
  as_pg=(runuser -u postgres --)
fi

"${as_pg[@]}" "$PGBIN/initdb" -D "$DIR/data" -U postgres -A trust -E UTF8 --locale=C --no-sync >"$DIR/initdb.log"
cat >>"$DIR/data/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $PORT
unix_socket_directories = '$DIR'
fsync = on
synchronous_commit = on
max_connections = 300
track_wal_io_timing = on
CONF
"${as_pg[@]}" "$PGBIN/pg_ctl" -D "$DIR/data" -l "$DIR/server.log" -w -t 60 start >/dev/null
"$PGBIN/psql" -h 127.0.0.1 -p "$PORT" -U postgres -d postgres -qc "CREATE DATABASE bench" >/dev/null

echo "PostgreSQL $("$PGBIN/postgres" --version | awk '{print $3}') running in $DIR (log: $DIR/server.log)"
echo "store: postgres:Host=127.0.0.1;Port=$PORT;Username=postgres;Database=bench"
echo "stop:  ${as_pg[*]} $PGBIN/pg_ctl -D $DIR/data -m immediate stop && rm -rf $DIR"
