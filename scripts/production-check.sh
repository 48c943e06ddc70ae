#!/usr/bin/env bash
# The production runbook (docs/production-runbook.md), run automatically against fresh production-mode
# processes: the good start (`npm run start:prod`, the runbook one-liner on a free port), health and
# metrics, connect/send/reconnect/replay, a graceful stop, the exit for every missing variable with its
# exact line, and the ack-drop gate. One PASS:/FAIL: line per step; exits 1 if any step failed.
# Usage, from anywhere: bash scripts/production-check.sh
# The servers it starts listen on two free ports the kernel picks; on a shared host, CHECK_PORT=<n> pins
# them to n (production) and n+1 (development) instead. (The ack-drop gate's in-process server still
# takes an ephemeral port of the kernel's range.)
set -uo pipefail
cd "$(dirname "$0")/.."
WORK=$(mktemp -d /tmp/production-check.XXXXXX)
failures=0
server_pid=''
cleanup() {
  [[ -n $server_pid ]] && kill -KILL -- "-$server_pid" 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT
pass() { echo "PASS: $*"; }
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
free_port() { node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }
status_of() { curl -s -o /dev/null -w '%{http_code}' "$@"; }

if [[ -n ${CHECK_PORT:-} ]]; then
  if ! [[ $CHECK_PORT =~ ^[0-9]+$ ]] || ((CHECK_PORT < 1 || CHECK_PORT > 65534)); then
    echo "CHECK_PORT must be a port number below 65535 (it uses CHECK_PORT and CHECK_PORT+1), not '$CHECK_PORT'" >&2; exit 2
  fi
  PORT=$CHECK_PORT
else
  PORT=$(free_port)
fi
# The runbook one-liner's values (Step 1), on a free port. Everything else comes from nowhere: each
# process starts from an empty environment, so nothing exported in this shell changes the result.
PROD=(NODE_ENV=production PORT="$PORT" JWT_SECRET=secret DB_URI=mem COOKIE_DOMAIN=.localhost
  CORS_ORIGIN=http://localhost:3000 WS_PATH=/ws METRICS_SECRET=change-me)
BASE=(PATH="$PATH" HOME="${HOME:-/tmp}")
value_of() { local kv; for kv in "${PROD[@]}"; do [[ $kv == "$1="* ]] && echo "${kv#*=}"; done; }

# --- Step 1: start in production mode ---------------------------------------------------------------
: >"$WORK/start.out"
setsid env -i "${BASE[@]}" "${PROD[@]}" npm run start:prod >"$WORK/start.out" 2>"$WORK/start.err" &
server_pid=$!
for _ in $(seq 1 600); do
  grep -q '"msg":"listening"' "$WORK/start.out" && break
  kill -0 "$server_pid" 2>/dev/null || break
  sleep 0.1
done
listening=$(grep -m1 '"msg":"listening"' "$WORK/start.out")
if [[ $listening == *"\"port\":$PORT,"* && $listening == *'"mode":"production"'* && $listening == *'"uws":"native"'* ]]; then
  pass "start: npm run start:prod listens on PORT=$PORT in production mode on the native uWS binary"
else
  fail "start: npm run start:prod did not listen in production mode"; tail -20 "$WORK/start.err" "$WORK/start.out"
fi
node_pid=$(sed -n 's/.*"pid":\([0-9]*\).*"msg":"listening".*/\1/p' "$WORK/start.out" | head -1)

if grep -q 'JWT_SECRET is shorter than 32 bytes' "$WORK/start.out"; then
  pass "start: the one-liner's short JWT_SECRET starts with a warning in the log"
else fail "start: no weak-secret warning for JWT_SECRET=secret"; fi

if ! grep -qE 'change-me|"secret"' "$WORK/start.out" "$WORK/start.err"; then pass "start: no secret value in the logs"
else fail "start: a secret value appears in the logs"; fi

URL="http://127.0.0.1:$PORT"
if [[ $(status_of "$URL/healthz") == 200 && $(status_of "$URL/readyz") == 200 ]]; then pass "health: /healthz and /readyz answer 200"
else fail "health: /healthz $(status_of "$URL/healthz"), /readyz $(status_of "$URL/readyz")"; fi

metrics_key=$(value_of METRICS_SECRET)
# The body is read whole before grep: `curl | grep -q` under pipefail fails at random (grep exits at the
# first match, curl gets SIGPIPE writing the rest, and the pipeline's status is curl's 23).
metrics_body=$(curl -sf -H "x-metrics-key: $metrics_key" "$URL/metrics")
if [[ $(status_of "$URL/metrics") == 401 && $(status_of -H "x-metrics-key: wrong" "$URL/metrics") == 401 ]] &&
  grep -q '^chat_' <<<"$metrics_body"; then
  pass "metrics: /metrics needs x-metrics-key (401 without or wrong), serves chat_* metrics with it"
else fail "metrics: secret mode not enforced or no chat_* metrics"; fi

# --- Step 4: what must still work ----------------------------------------------------------------------
env -i "${BASE[@]}" CHECK_URL="$URL" WS_PATH="$(value_of WS_PATH)" JWT_SECRET="$(value_of JWT_SECRET)" \
  CORS_ORIGIN="$(value_of CORS_ORIGIN)" node --import tsx scripts/production-check-flow.ts >"$WORK/flow.out" 2>&1
flow_code=$?
sed -n '/^\(PASS\|FAIL\): /p' "$WORK/flow.out"
failures=$((failures + $(grep -c '^FAIL: ' "$WORK/flow.out")))
if ((flow_code != 0)) && ! grep -q '^FAIL: ' "$WORK/flow.out"; then fail "flow: exited $flow_code"; tail -20 "$WORK/flow.out"; fi

# --- graceful stop -----------------------------------------------------------------------------------
if [[ -n $node_pid ]]; then
  stopped=$(date +%s%N)
  # To npm, as an operator stopping `npm run start:prod` would: the script execs node, so node gets it.
  kill -TERM "$server_pid"
  wait "$server_pid"; code=$?
  ms=$((($(date +%s%N) - stopped) / 1000000))
  sleep 0.2
  if kill -0 "$node_pid" 2>/dev/null; then
    fail "stop: SIGTERM to npm left node $node_pid running (npm exit code $code): start:prod must exec node"
    kill -KILL -- "-$server_pid" "$node_pid" 2>/dev/null
  elif ((code == 0)) && grep -q '"msg":"shutdown complete"' "$WORK/start.out"; then pass "stop: SIGTERM to npm reaches node: it drains and exits 0 (${ms} ms)"
  else fail "stop: SIGTERM gave exit code $code"; fi
  server_pid=''
else
  fail "stop: no server process to stop"
fi

# --- Step 3: what fails when a variable is missing ---------------------------------------------------
# What start:prod runs once built: `NODE_ENV=production node dist/main.js`.
refused() { # name, then the env; prints why not if the refusal is not exactly right
  local name=$1 line="Missing required environment variable for production: $1" code; shift
  timeout 30 env -i "${BASE[@]}" "$@" node dist/main.js >"$WORK/refused.out" 2>"$WORK/refused.err"; code=$?
  if ((code != 1)); then echo "exit code $code"; return 1; fi
  if ! grep -qxF "$line" "$WORK/refused.err"; then echo "stderr lacks the line: $(head -3 "$WORK/refused.err")"; return 1; fi
  if grep -q '"msg":"listening"' "$WORK/refused.out"; then echo "it listened"; return 1; fi
  if [[ $name == JWT_SECRET ]] && ! grep -qF 'JWT_SECRET is required and must be a non-empty string.' "$WORK/refused.err"; then
    echo "no 'JWT_SECRET is required and must be a non-empty string.'"; return 1
  fi
}
for name in PORT JWT_SECRET DB_URI COOKIE_DOMAIN CORS_ORIGIN WS_PATH METRICS_SECRET; do
  without=() empty=()
  for kv in "${PROD[@]}"; do
    if [[ $kv == "$name="* ]]; then empty+=("$name="); else without+=("$kv"); empty+=("$kv"); fi
  done
  if why=$(refused "$name" "${without[@]}") && why=$(refused "$name" "${empty[@]}"); then
    extra=''; [[ $name == JWT_SECRET ]] && extra=", then 'JWT_SECRET is required and must be a non-empty string.'"
    pass "missing $name (unset or empty): exit 1, 'Missing required environment variable for production: $name'$extra, never listens"
  else
    fail "missing $name: $why"
  fi
done
# NODE_ENV cannot be missing under `npm run start:prod` or in the image (both set it); without it the
# process is simply not in production mode, and says so in its start line.
without_node_env=()
for kv in "${PROD[@]}"; do [[ $kv == NODE_ENV=* || $kv == PORT=* ]] || without_node_env+=("$kv"); done
: >"$WORK/dev.out"
# Development serves the demo page by default: the build (`npm run build`, or start:prod's) made it too.
if [[ -n ${CHECK_PORT:-} ]]; then dev_port=$((CHECK_PORT + 1)); else dev_port=$(free_port); fi
setsid env -i "${BASE[@]}" "${without_node_env[@]}" PORT="$dev_port" node dist/main.js >"$WORK/dev.out" 2>&1 &
server_pid=$!
for _ in $(seq 1 100); do grep -q '"msg":"listening"' "$WORK/dev.out" && break; kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
if grep '"msg":"listening"' "$WORK/dev.out" | grep '"mode":"development"' >/dev/null &&
  [[ $(status_of "http://127.0.0.1:$dev_port/") == 200 && $(status_of "http://127.0.0.1:$dev_port/demo.js") == 200 ]]; then
  pass "missing NODE_ENV: not production (start line says \"mode\":\"development\", the built demo page is served); start:prod and the image always set it"
else fail "missing NODE_ENV: no development start line, or no demo page"; tail -5 "$WORK/dev.out"; fi
kill -TERM -- "-$server_pid" 2>/dev/null; wait "$server_pid" 2>/dev/null; server_pid=''

# --- Step 5: the invariant proof ---------------------------------------------------------------------
EXPECTED='PASS: DB contains exactly one message
PASS: messageId unchanged
PASS: Message content unchanged
PASS: Message marked DELIVERED for B
PASS: Delivery marked exactly once
PASS: No duplicate rows, no duplicate delivery entries
PASS: Second reconnect returns zero messages; DB unchanged
Tier-0.6: ACK-drop test passed — exactly-once persistence and delivery; CI gate OK'
npm run test:ack-drop >"$WORK/gate.out" 2>&1
gate_code=$?
gate_lines=$(grep -E '^(PASS|FAIL): |^Tier-0\.6: ' "$WORK/gate.out")
if ((gate_code == 0)) && [[ $gate_lines == "$EXPECTED" ]]; then
  pass "ack-drop gate: npm run test:ack-drop exits 0 with the runbook's eight lines"
else
  fail "ack-drop gate: exit code $gate_code — STOP, do not deploy"; cat "$WORK/gate.out"
fi

# --- deploy files --------------------------------------------------------------------------------------
# Every variable the server reads, set in the shell that runs `pm2 start`, must reach the process.
pm2_problem=$(env -i "${BASE[@]}" node --import tsx -e '
  import("./src/config-specs.ts").then(({ ENV_SPECS }) => {
    const names = Object.keys(ENV_SPECS).filter((n) => n !== "NODE_ENV" && n !== "LOG_PRETTY");
    for (const n of names) process.env[n] = "x";
    process.env.SHUTDOWN_GRACE_MS = "10000";
    const app = require("./deploy/pm2/ecosystem.config.cjs").apps[0];
    const lost = names.filter((n) => app.env[n] === undefined);
    if (lost.length) return console.log("not passed on: " + lost.join(", "));
    if (!(app.instances === 1 && app.exec_mode === "fork")) return console.log("not one fork-mode process");
    if (!(app.kill_timeout > 10000)) return console.log("kill_timeout " + app.kill_timeout + " <= SHUTDOWN_GRACE_MS");
    if (app.env.NODE_ENV !== "production") return console.log("NODE_ENV is not production");
  });' 2>&1)
if [[ -z $pm2_problem ]] && ! grep -qE "(SECRET|DB_URI)['\"]?: *['\"]" deploy/pm2/ecosystem.config.cjs; then
  pass "pm2: one fork-mode process, every server variable passed on from the shell, kill_timeout above SHUTDOWN_GRACE_MS, no secret values in the file"
else fail "pm2: deploy/pm2/ecosystem.config.cjs: ${pm2_problem:-a secret value is written in it}"; fi

if ((failures)); then echo "production check: $failures failed — do not deploy"; exit 1; fi
echo "production check: all steps passed"
