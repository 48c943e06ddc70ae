#!/usr/bin/env bash
# The scale-out deployment on one machine, without Docker: N chat server processes (node dist/main.js,
# built first when stale) on one MongoDB-wire store (FerretDB, scripts/mongo-test-server.sh), the
# machine's NATS as the live bus, and a real NGINX (deploy/nginx/chat.conf through run-local.sh) in
# front with an upstream of the N instances. docker-compose.cluster.yml is the same shape with Docker.
#
# Usage: scripts/cluster.sh start|stop|status
#   bash scripts/cluster.sh start     # prints ws://127.0.0.1:<port>/ws and how to sign a token
#   bash scripts/cluster.sh status    # each process, its pid, port and /readyz answer
#   bash scripts/cluster.sh stop      # SIGTERM (graceful: 1001 to clients) to the instances, then NGINX
#
# Environment (defaults in brackets):
#   CLUSTER_INSTANCES [3]        server processes
#   CLUSTER_PORT [8080]          NGINX's port on 127.0.0.1; the next free one upwards if taken
#   CLUSTER_APP_PORT [3101]      first instance's port; each instance takes the next free port upwards
#   MONGO_TEST_PORT [27017]      FerretDB's port (started when nothing answers there, stopped by `stop`
#                                only if this script started it)
#   CLUSTER_DB [chat_cluster]    database name on it; DB_URI overrides the whole store URI
#   BUS_URI [nats://127.0.0.1:4222]
#   JWT_SECRET [random, kept in the state directory]  WS_PATH [/ws]
#   SHUTDOWN_DRAIN_DELAY_MS [0] SHUTDOWN_GRACE_MS [10000]: a rolling restart's drain (stop one
#                                instance with `kill -TERM <pid>` from `status`); 0, as the runbook says
#                                behind this NGINX, which does not poll /readyz: a delay only keeps
#                                clients on a stopping instance longer
#   CLUSTER_DIR [.cache/cluster] pid files, logs (instance-<n>.log, nginx/error.log) and cluster.env
# Any other server variable exported here (LOG_LEVEL, DB_BATCH_MAX_OPS, ...) reaches every instance.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DIR="${CLUSTER_DIR:-$REPO/.cache/cluster}"
STATE="$DIR/cluster.env"
N="${CLUSTER_INSTANCES:-3}"

log() { echo "cluster: $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
# The first port from $1 upwards that nothing listens on and that is not in the rest of the arguments.
free_port_from() {
  local port=$1
  shift
  while port_in_use "$port" || [[ " $* " == *" $port "* ]]; do port=$((port + 1)); done
  echo "$port"
}

alive() { [[ -f "$1" ]] && kill -0 "$(cat "$1")" 2>/dev/null; }

readyz() { curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://127.0.0.1:$1/readyz" 2>/dev/null || true; }

# Waits until `$1` answers /readyz 200, or fails with the log's tail.
wait_ready() {
  local port=$1 pidfile=$2 logfile=$3 deadline=$((SECONDS + 60))
  while ((SECONDS < deadline)); do
    alive "$pidfile" || { tail -n 30 "$logfile" >&2; die "the process of $logfile exited during startup"; }
    [[ "$(readyz "$port")" == 200 ]] && return 0
    sleep 0.2
  done
  tail -n 30 "$logfile" >&2
  die "nothing ready on port $port after 60 s"
}

cmd_start() {
  mkdir -p "$DIR"
  if alive "$DIR/nginx.pid"; then
    log "already running (see status); stop it first"
    cmd_status
    return 0
  fi
  command -v curl >/dev/null || die "curl not found"
  local nginx_bin
  nginx_bin="$(command -v nginx || true)"
  [[ -n "$nginx_bin" ]] || nginx_bin=/usr/sbin/nginx
  [[ -x "$nginx_bin" ]] || die "nginx not installed (apt-get install -y nginx)"

  # 1. The store: FerretDB on MONGO_TEST_PORT, started unless something answers there already.
  local mongo_port="${MONGO_TEST_PORT:-27017}" started_mongo=0
  if [[ -z "${DB_URI:-}" ]]; then
    if ! bash "$REPO/scripts/mongo-test-server.sh" status >/dev/null 2>&1; then
      if port_in_use "$mongo_port"; then
        log "something already listens on $mongo_port: using it as the store"
      else
        MONGO_TEST_PORT="$mongo_port" bash "$REPO/scripts/mongo-test-server.sh" start >/dev/null
        started_mongo=1
      fi
    fi
  fi
  local db_uri="${DB_URI:-mongodb://127.0.0.1:$mongo_port/${CLUSTER_DB:-chat_cluster}}"
  local bus_uri="${BUS_URI:-nats://127.0.0.1:4222}"
  local host_port="${bus_uri#nats://}"
  host_port="${host_port##*@}"
  (exec 3<>"/dev/tcp/${host_port%:*}/${host_port##*:}") 2>/dev/null || log "WARNING: nothing answers at $bus_uri: instances start anyway and deliver across each other only by replay until it does"

  # 2. The build: dist/ (node dist/main.js is what the Dockerfile, PM2 and this script run).
  (cd "$REPO" && node scripts/build.mjs --if-stale) >&2

  # 3. The instances.
  local secret="${JWT_SECRET:-}"
  if [[ -z "$secret" ]]; then
    secret="$(grep -s '^JWT_SECRET=' "$STATE" | cut -d= -f2- || true)"
    [[ -n "$secret" ]] || secret="$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')"
  fi
  local ws_path="${WS_PATH:-/ws}" ports=() port="${CLUSTER_APP_PORT:-3101}" i
  for ((i = 1; i <= N; i++)); do
    port="$(free_port_from "$port" "${ports[@]}")"
    ports+=("$port")
    port=$((port + 1))
  done
  local nginx_port
  nginx_port="$(free_port_from "${CLUSTER_PORT:-8080}" "${ports[@]}")"
  {
    echo "JWT_SECRET=$secret"
    echo "DB_URI=$db_uri"
    echo "BUS_URI=$bus_uri"
    echo "WS_PATH=$ws_path"
    echo "INSTANCE_PORTS=${ports[*]}"
    echo "NGINX_PORT=$nginx_port"
    echo "STARTED_MONGO=$started_mongo"
    echo "MONGO_TEST_PORT=$mongo_port"
  } >"$STATE"
  for ((i = 1; i <= N; i++)); do
    port="${ports[$((i - 1))]}"
    # setsid: each instance is its own process group, outliving this shell; stop signals it by pid.
    HOST=127.0.0.1 PORT="$port" JWT_SECRET="$secret" DB_URI="$db_uri" BUS_URI="$bus_uri" WS_PATH="$ws_path" \
      TRUST_PROXY=true SHUTDOWN_DRAIN_DELAY_MS="${SHUTDOWN_DRAIN_DELAY_MS:-0}" SHUTDOWN_GRACE_MS="${SHUTDOWN_GRACE_MS:-10000}" \
      setsid node "$REPO/dist/main.js" </dev/null >"$DIR/instance-$i.log" 2>&1 &
    echo $! >"$DIR/instance-$i.pid"
    log "instance $i: pid $! on 127.0.0.1:$port, log $DIR/instance-$i.log"
  done
  for ((i = 1; i <= N; i++)); do wait_ready "${ports[$((i - 1))]}" "$DIR/instance-$i.pid" "$DIR/instance-$i.log"; done

  # 4. NGINX: the project's template with all N instances as the upstream.
  local upstream
  upstream="$(printf '127.0.0.1:%s,' "${ports[@]}")"
  mkdir -p "$DIR/nginx"
  CHAT_UPSTREAM="${upstream%,}" NGINX_LISTEN="127.0.0.1:$nginx_port" WS_PATH="$ws_path" NGINX_PREFIX="$DIR/nginx" NGINX_BIN="$nginx_bin" \
    setsid sh "$REPO/deploy/nginx/run-local.sh" </dev/null >"$DIR/nginx.log" 2>&1 &
  echo $! >"$DIR/nginx.pid" # run-local.sh execs nginx: this is the master's pid
  local deadline=$((SECONDS + 10))
  until [[ "$(readyz "$nginx_port")" == 200 ]]; do
    alive "$DIR/nginx.pid" || { cat "$DIR/nginx.log" "$DIR/nginx/error.log" >&2 2>/dev/null; die "nginx exited"; }
    ((SECONDS < deadline)) || die "nginx not answering on $nginx_port"
    sleep 0.2
  done
  log "nginx: pid $(cat "$DIR/nginx.pid") on 127.0.0.1:$nginx_port -> ${upstream%,}"
  echo "ws://127.0.0.1:$nginx_port$ws_path"
  log "a token: JWT_SECRET=$secret node -e \"import('jose').then(async ({SignJWT}) => console.log(await new SignJWT({sub: 'alice'}).setProtectedHeader({alg: 'HS256'}).setExpirationTime('1h').sign(new TextEncoder().encode(process.env.JWT_SECRET))))\""
}

# Sends $2 to the pid in $1 and waits up to $3 seconds for it to exit (then SIGKILL).
stop_pid() {
  local pidfile=$1 signal=$2 wait_s=$3 pid i
  alive "$pidfile" || { rm -f "$pidfile"; return 0; }
  pid="$(cat "$pidfile")"
  kill "-$signal" "$pid" 2>/dev/null || true
  for ((i = 0; i < wait_s * 10; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    log "pid $pid still running after ${wait_s}s: SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$pidfile"
}

cmd_stop() {
  local f
  for f in "$DIR"/instance-*.pid; do
    [[ -e "$f" ]] || continue
    stop_pid "$f" TERM 20 &
  done
  wait
  stop_pid "$DIR/nginx.pid" TERM 5
  if [[ "$(grep -s '^STARTED_MONGO=' "$STATE" | cut -d= -f2)" == 1 ]]; then
    MONGO_TEST_PORT="$(grep '^MONGO_TEST_PORT=' "$STATE" | cut -d= -f2)" bash "$REPO/scripts/mongo-test-server.sh" stop
    sed -i 's/^STARTED_MONGO=1/STARTED_MONGO=0/' "$STATE"
  fi
  log "stopped"
}

cmd_status() {
  [[ -f "$STATE" ]] || { log "never started (no $STATE)"; return 1; }
  local ports running=0 i=1 port
  read -r -a ports <<<"$(grep '^INSTANCE_PORTS=' "$STATE" | cut -d= -f2)"
  for port in "${ports[@]}"; do
    if alive "$DIR/instance-$i.pid"; then
      echo "instance $i: pid $(cat "$DIR/instance-$i.pid") 127.0.0.1:$port readyz $(readyz "$port")"
      running=$((running + 1))
    else
      echo "instance $i: not running (127.0.0.1:$port)"
    fi
    i=$((i + 1))
  done
  local nginx_port
  nginx_port="$(grep '^NGINX_PORT=' "$STATE" | cut -d= -f2)"
  if alive "$DIR/nginx.pid"; then
    echo "nginx: pid $(cat "$DIR/nginx.pid") 127.0.0.1:$nginx_port readyz $(readyz "$nginx_port") ws://127.0.0.1:$nginx_port$(grep '^WS_PATH=' "$STATE" | cut -d= -f2)"
    running=$((running + 1))
  else
    echo "nginx: not running"
  fi
  echo "store: $(grep '^DB_URI=' "$STATE" | cut -d= -f2-)  bus: $(grep '^BUS_URI=' "$STATE" | cut -d= -f2-)  state: $DIR"
  ((running > 0))
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
