#!/usr/bin/env bash
# MongoDB-wire test server: FerretDB v1.24.2 (embedded, PostgreSQL handler)
# on the local PostgreSQL. See docs/ferretdb.md.
#
# Usage: scripts/mongo-test-server.sh start|stop|status
#
# Environment:
#   MONGO_TEST_PORT        listen port on 127.0.0.1 (default 27017)
#   FERRETDB_PG_DATABASE   PostgreSQL database used as storage (default ferretdb)
#   FERRETDB_START_TIMEOUT seconds to wait for a successful ping (default 60)
#
# Files: $FERRETDB_CACHE_DIR (default ~/.cache/uws-chat-backend)/ferretdb-1.24.2 (binary, built once),
# .cache/ferretdb/ferretdb-<port>.pid, .cache/ferretdb/ferretdb-<port>.log
set -euo pipefail

FERRETDB_VERSION=1.24.2
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SRC_DIR="$REPO/scripts/ferretdb"
CACHE_DIR="$REPO/.cache/ferretdb"
# The binary is cached outside the work tree so that fresh clones (CI) on this machine reuse it.
BIN_DIR="${FERRETDB_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/uws-chat-backend}"
BIN="$BIN_DIR/ferretdb-$FERRETDB_VERSION"

PORT="${MONGO_TEST_PORT:-27017}"
HOST=127.0.0.1
ADDR="$HOST:$PORT"
URI="mongodb://$ADDR/"
PID_FILE="$CACHE_DIR/ferretdb-$PORT.pid"
LOG_FILE="$CACHE_DIR/ferretdb-$PORT.log"

PG_HOST=127.0.0.1
PG_PORT=5432
PG_USER=postgres
PG_DB="${FERRETDB_PG_DATABASE:-ferretdb}"
# PostgreSQL allows 100 connections here: cap each FerretDB's pool so that two instances (the shared
# one and an outage-test one) and the tests' own psql calls fit. Override with FERRETDB_PG_POOL.
PG_URL="postgres://$PG_USER@$PG_HOST:$PG_PORT/$PG_DB?pool_max_conns=${FERRETDB_PG_POOL:-20}"
START_TIMEOUT="${FERRETDB_START_TIMEOUT:-60}"

log() { echo "mongo-test-server: $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

log_tail() {
  if [[ -f "$LOG_FILE" ]]; then
    log "last lines of $LOG_FILE:"
    tail -n 40 "$LOG_FILE" >&2 || true
  fi
}

# Prints the pid of our running FerretDB (from the pid file) or fails.
running_pid() {
  [[ -f "$PID_FILE" ]] || return 1
  local pid
  pid="$(cat "$PID_FILE" 2>/dev/null || true)"
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  # Guard against pid reuse: the process must be our binary.
  local exe
  exe="$(readlink "/proc/$pid/exe" 2>/dev/null || true)"
  [[ -z "$exe" || "$(basename "${exe% (deleted)}")" == "ferretdb-$FERRETDB_VERSION" ]] || return 1
  echo "$pid"
}

# One MongoDB ping through the installed Node driver (exit 0 on success).
mongo_ping() {
  (cd "$REPO" && node -e '
    const { MongoClient } = require("mongodb");
    const c = new MongoClient(process.argv[1], {
      serverSelectionTimeoutMS: 1500, connectTimeoutMS: 1500, directConnection: true,
    });
    c.connect()
      .then(() => c.db("admin").command({ ping: 1 }))
      .then((r) => c.close().then(() => process.exit(r && r.ok === 1 ? 0 : 1)))
      .catch((e) => { if (process.env.PING_VERBOSE) console.error(String(e)); process.exit(1); });
  ' "$URI") >/dev/null 2>&1
}

port_in_use() {
  (exec 3<>"/dev/tcp/$HOST/$PORT") 2>/dev/null
}

find_go() {
  if command -v go >/dev/null 2>&1; then
    command -v go
  elif [[ -x /usr/local/go/bin/go ]]; then
    echo /usr/local/go/bin/go
  else
    die "Go toolchain not found (need Go >= 1.24 in PATH or /usr/local/go)"
  fi
}

build() {
  if [[ -x "$BIN" ]]; then
    return 0
  fi
  local go_bin start tmp
  go_bin="$(find_go)"
  mkdir -p "$CACHE_DIR" "$BIN_DIR"
  tmp="$BIN.tmp.$$"
  log "building FerretDB $FERRETDB_VERSION with $("$go_bin" version) (first time only, ~1-2 min)..."
  start=$SECONDS
  # ferretdb_no_sqlite: only the PostgreSQL backend is needed (smaller, faster build).
  if ! (cd "$SRC_DIR" && GOTOOLCHAIN="${GOTOOLCHAIN:-local}" \
        "$go_bin" build -buildvcs=false -trimpath -tags ferretdb_no_sqlite -o "$tmp" .); then
    rm -f "$tmp"
    die "go build failed in $SRC_DIR"
  fi
  mv -f "$tmp" "$BIN"
  log "built $BIN in $((SECONDS - start))s ($(du -h "$BIN" | cut -f1))"
}

ensure_postgres() {
  command -v pg_isready >/dev/null 2>&1 || die "pg_isready not found (PostgreSQL client tools missing)"
  if ! pg_isready -q -h "$PG_HOST" -p "$PG_PORT"; then
    log "PostgreSQL is not answering on $PG_HOST:$PG_PORT, starting it..."
    local ver
    ver="$(ls /etc/postgresql 2>/dev/null | sort -V | tail -n 1)"
    [[ -n "$ver" ]] || die "no cluster under /etc/postgresql; start PostgreSQL manually"
    pg_ctlcluster --skip-systemctl-redirect "$ver" main start || die "pg_ctlcluster $ver main start failed"
    local i
    for ((i = 0; i < 30; i++)); do
      pg_isready -q -h "$PG_HOST" -p "$PG_PORT" && break
      sleep 1
    done
    pg_isready -q -h "$PG_HOST" -p "$PG_PORT" || die "PostgreSQL still not answering on $PG_HOST:$PG_PORT"
  fi
  local exists
  exists="$(psql -h "$PG_HOST" -p "$PG_PORT" -U "$PG_USER" -d postgres -tAX \
    -c "SELECT 1 FROM pg_database WHERE datname = '$PG_DB'")" \
    || die "cannot query PostgreSQL as $PG_USER@$PG_HOST:$PG_PORT"
  if [[ "$exists" != "1" ]]; then
    log "creating PostgreSQL database $PG_DB"
    createdb -h "$PG_HOST" -p "$PG_PORT" -U "$PG_USER" -T template0 -E UTF8 \
      --lc-collate=C --lc-ctype=C "$PG_DB" || die "createdb $PG_DB failed"
  fi
}

cmd_start() {
  local pid
  if pid="$(running_pid)"; then
    if mongo_ping; then
      log "already running (pid $pid)"
      echo "$URI"
      return 0
    fi
    log "process $pid is running but does not answer ping yet; waiting"
  else
    rm -f "$PID_FILE"
    command -v node >/dev/null 2>&1 || die "node not found"
    [[ -d "$REPO/node_modules/mongodb" ]] || die "node_modules/mongodb missing; run npm install"
    build
    ensure_postgres
    if port_in_use; then
      die "$ADDR is already in use by another process (not managed by this script; no live pid in $PID_FILE)"
    fi
    mkdir -p "$CACHE_DIR"
    : >"$LOG_FILE"
    # setsid: detach from the caller's process group so the server outlives the calling shell.
    FERRETDB_LOG_LEVEL="${FERRETDB_LOG_LEVEL:-info}" \
      setsid "$BIN" -listen "$ADDR" -postgres "$PG_URL" </dev/null >>"$LOG_FILE" 2>&1 &
    pid=$!
    echo "$pid" >"$PID_FILE"
    log "started FerretDB $FERRETDB_VERSION (pid $pid) on $ADDR, storage $PG_URL, log $LOG_FILE"
  fi

  local deadline=$((SECONDS + START_TIMEOUT))
  while ((SECONDS < deadline)); do
    if ! kill -0 "$pid" 2>/dev/null; then
      rm -f "$PID_FILE"
      log_tail
      die "FerretDB exited during startup"
    fi
    if mongo_ping; then
      log "ready"
      echo "$URI"
      return 0
    fi
    sleep 0.5
  done
  log_tail
  die "FerretDB did not answer ping on $ADDR within ${START_TIMEOUT}s (pid $pid still running; use '$0 stop')"
}

cmd_stop() {
  local pid
  if ! pid="$(running_pid)"; then
    rm -f "$PID_FILE"
    log "not running"
    return 0
  fi
  log "stopping pid $pid"
  kill -TERM "$pid" 2>/dev/null || true
  local i
  for ((i = 0; i < 150; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    log "pid $pid did not exit after 15s, sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -0 "$pid" 2>/dev/null && die "pid $pid still alive"
  fi
  rm -f "$PID_FILE"
  log "stopped"
}

cmd_status() {
  local pid
  if pid="$(running_pid)"; then
    if mongo_ping; then
      log "running (pid $pid) at $URI"
    else
      log "process running (pid $pid) but not answering ping at $URI"
    fi
    return 0
  fi
  log "not running"
  return 1
}

case "${1:-}" in
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  *)
    echo "usage: $0 start|stop|status" >&2
    exit 2
    ;;
esac
