# shellcheck shell=bash disable=SC2034  # the PG_ variables are for the scripts that source this
# A throwaway PostgreSQL cluster from the machine's Debian packages, for .ci/run (the suites
# on PostgreSQL) and bench/run.sh (--database postgres). Source this file, then:
#
#   pg_find               sets PG_BIN to the bin directory of the newest installed server
#                         (/usr/lib/postgresql/<version>/bin), or to '' when there is none
#   pg_start FSYNC [SETTING...]
#                         initdb into a new temporary directory and start a server there,
#                         listening only on a unix socket in that directory (no port to
#                         collide with, nothing reachable from outside); FSYNC is on or off
#                         (off: nothing is flushed to disk, for data that dies with the run);
#                         each SETTING is one more `name=value` server setting. Sets PG_DIR,
#                         PG_PID, PG_VERSION and PG_URL (libpq URL of the `postgres` database
#                         as the superuser `postgres`, trusted on the socket). On failure it
#                         prints the server's log, removes the directory and returns 1.
#   pg_psql SQL...        runs psql as the superuser on that server, quietly, stopping at the
#                         first error
#   pg_stop               fast shutdown by the server's pid (SIGINT), waits for it to exit,
#                         removes the directory; does nothing when no server was started
#
# initdb refuses to run as root, so as root the cluster belongs to `postgres`.

PG_BIN=""
PG_DIR=""
PG_PID=""
PG_URL=""
PG_VERSION=""
PG_AS=()

pg_find() {
  local dir
  PG_BIN=""
  for dir in /usr/lib/postgresql/*/bin; do
    [ -x "$dir/initdb" ] && PG_BIN="$dir"
  done
  return 0
}

pg_start() {
  local fsync="$1" options setting no_sync=()
  shift
  [ -n "$PG_BIN" ] || pg_find
  if [ -z "$PG_BIN" ]; then
    echo "no PostgreSQL server is installed (apt-get install postgresql)" >&2
    return 1
  fi
  case "$fsync" in
    on) ;;
    off) no_sync=(--no-sync) ;;
    *)
      echo "pg_start: FSYNC is on or off, not '$fsync'" >&2
      return 1
      ;;
  esac
  PG_DIR="$(mktemp -d "${TMPDIR:-/tmp}/pg.XXXXXX")"
  PG_AS=()
  if [ "$(id -u)" -eq 0 ]; then
    chown postgres "$PG_DIR"
    PG_AS=(runuser -u postgres --)
  fi
  if ! "${PG_AS[@]}" "$PG_BIN/initdb" -D "$PG_DIR/data" -U postgres -A trust "${no_sync[@]}" \
    >"$PG_DIR/initdb.log" 2>&1; then
    echo "initdb failed:" >&2
    cat "$PG_DIR/initdb.log" >&2
    rm -rf "$PG_DIR"
    PG_DIR=""
    return 1
  fi
  options="-c listen_addresses='' -k $PG_DIR -c fsync=$fsync"
  for setting in "$@"; do
    options+=" -c $setting"
  done
  if ! "${PG_AS[@]}" "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/server.log" -w -s \
    -o "$options" start; then
    echo "PostgreSQL did not start:" >&2
    cat "$PG_DIR/server.log" >&2
    pg_stop
    return 1
  fi
  PG_PID="$(head -1 "$PG_DIR/data/postmaster.pid")"
  PG_VERSION="$("$PG_BIN/postgres" --version | awk '{print $3}')"
  PG_URL="postgres:///postgres?host=$PG_DIR&user=postgres"
}

pg_psql() {
  "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 "$PG_URL" "$@"
}

# shellcheck disable=SC2317  # also runs from traps
pg_stop() {
  [ -n "$PG_DIR" ] || return 0
  local pid_file="$PG_DIR/data/postmaster.pid" pid
  if [ -f "$pid_file" ]; then
    pid="$(head -1 "$pid_file")"
    # SIGINT is PostgreSQL's fast shutdown; wait for it to go.
    kill -INT "$pid" 2>/dev/null || true
    while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
  fi
  rm -rf "$PG_DIR"
  PG_DIR=""
  PG_PID=""
  PG_URL=""
}
