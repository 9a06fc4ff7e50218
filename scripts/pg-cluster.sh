#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for tests, demos and benchmarks (never the system's own):
#   scripts/pg-cluster.sh start DIR PORT   initdb in DIR (if new), listen on 127.0.0.1:PORT and a socket in DIR
#   scripts/pg-cluster.sh stop DIR         fast shutdown
#   scripts/pg-cluster.sh kill DIR         immediate stop (no checkpoint; as if killed)
#   scripts/pg-cluster.sh destroy DIR      stop and remove DIR
# PostgreSQL refuses to run as root, so as root the server runs as the `postgres` user that
# Debian's package creates (scripts/setup.sh installs it).
set -euo pipefail
BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[ -n "$BIN" ] || { echo "pg-cluster: PostgreSQL is not installed (run scripts/setup.sh)" >&2; exit 3; }
as_pg() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
cmd=${1:?start|stop|kill|destroy}; dir=${2:?DIR}
case "$cmd" in
start)
  port=${3:?PORT}
  mkdir -p "$dir"
  [ "$(id -u)" -eq 0 ] && chown postgres: "$dir" && chmod 700 "$dir"
  if [ ! -f "$dir/data/PG_VERSION" ]; then
    as_pg "$BIN/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 --locale=C.UTF-8 --no-sync >"$dir/initdb.log" 2>&1 \
      || { cat "$dir/initdb.log" >&2; exit 3; }
  fi
  as_pg "$BIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
    -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c max_connections=300 -c shared_buffers=64MB -c fsync=on -c synchronous_commit=on" \
    start </dev/null >"$dir/pg_ctl.log" 2>&1 || { cat "$dir/pg_ctl.log" >&2; tail -20 "$dir/server.log" >&2; exit 3; }
  ;;
stop) as_pg "$BIN/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true ;;
kill)
  # As a crash would: SIGKILL the postmaster and its children (by pid), no shutdown checkpoint.
  pid=$(head -1 "$dir/data/postmaster.pid" 2>/dev/null || true)
  if [ -n "$pid" ]; then
    children=$(pgrep -P "$pid" || true)
    kill -9 "$pid" $children 2>/dev/null || true
    for _ in $(seq 1 200); do
      alive=0
      for c in $pid $children; do kill -0 "$c" 2>/dev/null && alive=1; done
      [ $alive -eq 0 ] && break
      sleep 0.05
    done
  fi
  ;;
destroy)
  as_pg "$BIN/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
  rm -rf "$dir"
  ;;
*) echo "usage: $0 start DIR PORT | stop DIR | kill DIR | destroy DIR" >&2; exit 2 ;;
esac
