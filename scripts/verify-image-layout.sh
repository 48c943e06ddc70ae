#!/usr/bin/env bash
# Checks the Dockerfile without a Docker engine: lints it, builds the context the way .dockerignore
# does, performs every stage's FROM/WORKDIR/ENV/COPY/RUN steps in a temporary directory (the host's
# Node 20 standing in for the node:20-bookworm-slim base), then starts the runtime stage's CMD with the
# production env as an unprivileged user, runs its HEALTHCHECK, and stops it with its STOPSIGNAL.
# Proves the runtime stage has everything the server needs and nothing from dev dependencies.
# Prints one PASS:/FAIL: line per check; exits 1 if any failed. Usage: bash scripts/verify-image-layout.sh
# (KEEP=1 keeps the temporary directory; CHECK_PORT=<n> starts the server on that port).
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
WORK=$(mktemp -d /tmp/image-layout.XXXXXX)
chmod 755 "$WORK"
failures=0
server_pid=''
cleanup() {
  [[ -n $server_pid ]] && kill -KILL "$server_pid" 2>/dev/null
  [[ ${KEEP:-} == 1 ]] && echo "kept $WORK" || rm -rf "$WORK"
}
trap cleanup EXIT
pass() { echo "PASS: $*"; }
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
check() { local name=$1; shift; if "$@"; then pass "$name"; else fail "$name"; fi; }
die() { fail "$*"; echo "image layout: stopped early, $failures failed"; exit 1; }

# --- lint -------------------------------------------------------------------------------------------
lint() {
  local bin=node_modules/.bin/dockerfile-utils
  if [[ -x $bin ]]; then "$bin" lint Dockerfile; else npx --yes dockerfile-utils@0.16.3 lint Dockerfile; fi
} >"$WORK/lint.log" 2>&1
check "Dockerfile lints clean (dockerfile-utils)" lint || cat "$WORK/lint.log"

# --- build context ----------------------------------------------------------------------------------
# The subset of .dockerignore syntax the file uses: `*`, plain paths (a directory covers its contents),
# globs, and `!` re-includes; the last matching rule wins, as in Docker.
mapfile -t RULES < <(grep -v '^\s*\(#\|$\)' .dockerignore)
ignored() {
  local path=$1 verdict=1 rule negate pat
  for rule in "${RULES[@]}"; do
    negate=0; pat=$rule
    [[ $pat == '!'* ]] && negate=1 && pat=${pat:1}
    pat=${pat%/}
    # shellcheck disable=SC2053 # the rule is a glob on purpose
    if [[ $path == $pat || $path == "$pat"/* ]]; then ((negate)) && verdict=1 || verdict=0; fi
  done
  return $verdict
}
CONTEXT="$WORK/context"
mkdir -p "$CONTEXT"
while IFS= read -r file; do
  [[ -e $file ]] || continue
  ignored "$file" && continue
  mkdir -p "$CONTEXT/$(dirname "$file")" && cp -p "$file" "$CONTEXT/$file"
done < <(find . \( -path ./node_modules -o -path ./.git \) -prune -o -type f -print | sed 's|^\./||')
# node_modules and .git are too big to walk file by file: ask the rules about them as directories.
leaks=$(cd "$CONTEXT" && find . -path ./test -o -path ./bench -o -path ./dist -o -name '.env*' | head -5)
for dir in node_modules .git; do ignored "$dir" && ignored "$dir/x" || leaks+=" $dir"; done
check "build context (.dockerignore) holds no node_modules, dist, tests, benchmarks, .git or .env" test -z "$leaks"

# --- the stages -------------------------------------------------------------------------------------
# Instructions with continuation lines joined; comments and blank lines dropped.
mapfile -t INSTRUCTIONS < <(sed -e '/^\s*#/d' -e '/^\s*$/d' Dockerfile | sed -e ':a' -e '/\\$/N; s/\\\n\s*/ /; ta')
declare -A STAGE_ROOT=()
stage='' cwd='' user='' cmd='' healthcheck='' stopsignal='' expose='' base=''
declare -A ENVS=()
for line in "${INSTRUCTIONS[@]}"; do
  instr=${line%% *}; args=${line#* }
  case ${instr^^} in
    FROM)
      read -r base _ stage <<<"$args"
      [[ $base == node:20-bookworm-slim ]] || die "stage $stage is based on $base, not node:20-bookworm-slim"
      STAGE_ROOT[$stage]="$WORK/stages/$stage"; mkdir -p "${STAGE_ROOT[$stage]}"
      cwd=${STAGE_ROOT[$stage]}; user=''; cmd=''; healthcheck=''; stopsignal=''; expose=''; ENVS=() ;;
    WORKDIR) cwd="${STAGE_ROOT[$stage]}$args"; mkdir -p "$cwd" ;;
    ENV) ENVS[${args%%=*}]=${args#*=} ;;
    COPY)
      from="$CONTEXT" src_stage=''
      if [[ $args == --from=* ]]; then
        src_stage=${args%% *}; src_stage=${src_stage#--from=}; from=${STAGE_ROOT[$src_stage]}; args=${args#* }
      fi
      read -r -a parts <<<"$args"
      dest=${parts[-1]}; unset 'parts[-1]'
      [[ $dest == /* ]] && dest="${STAGE_ROOT[$stage]}$dest" || dest="$cwd/$dest"
      for src in "${parts[@]}"; do
        [[ $from != "$CONTEXT" ]] && src_path="$from$src" || src_path="$CONTEXT/$src"
        [[ -e $src_path ]] || die "[$stage] COPY $src: no such file in ${src_stage:-the build context}"
        if [[ -d $src_path ]]; then mkdir -p "$dest" && cp -a "$src_path/." "$dest/"
        elif [[ $dest == */ ]]; then mkdir -p "$dest" && cp -p "$src_path" "$dest"
        else mkdir -p "$(dirname "$dest")" && cp -p "$src_path" "$dest"; fi
      done ;;
    RUN)
      env_args=(); for k in "${!ENVS[@]}"; do env_args+=("$k=${ENVS[$k]}"); done
      echo "[$stage] RUN $args" >>"$WORK/run.log"
      # A clean environment like the base image's, plus the stage's ENV (npm's cache stays the host's).
      (cd "$cwd" && env -i PATH="$PATH" HOME="$HOME" "${env_args[@]}" bash -c "$args") >>"$WORK/run.log" 2>&1 || { tail -30 "$WORK/run.log"; die "[$stage] RUN $args"; } ;;
    USER) user=$args ;;
    EXPOSE) expose=$args ;;
    HEALTHCHECK) healthcheck=${args#*CMD } ;;
    STOPSIGNAL) stopsignal=$args ;;
    CMD) cmd=$args ;;
    *) die "unknown instruction $instr: teach scripts/verify-image-layout.sh what it does" ;;
  esac
done
pass "every stage's steps ran (npm ci, build, npm ci --omit=dev)"
APP=$cwd
RUNTIME=${STAGE_ROOT[$stage]}

# --- the runtime stage's contents ---------------------------------------------------------------------
check "runtime stage is '$stage', sets NODE_ENV=production, runs as a non-root user, EXPOSE 3000, STOPSIGNAL SIGTERM" \
  test "${ENVS[NODE_ENV]:-}" = production -a -n "$user" -a "$user" != root -a "$expose" = 3000 -a "$stopsignal" = SIGTERM
dev_paths=$(cd "$APP" && node -e '
  const fs = require("node:fs");
  const lock = JSON.parse(fs.readFileSync("package-lock.json", "utf8"));
  const dev = Object.entries(lock.packages).filter(([p, m]) => p && m.dev && fs.existsSync(p)).map(([p]) => p);
  console.log(dev.join("\n"));')
check "runtime node_modules holds no dev dependency (package-lock dev:true)" test -z "$dev_paths" || echo "$dev_paths" | head
check "runtime holds dist/ and production dependencies only (no src/, test/, bench/, tsx, typescript)" \
  test -f "$APP/dist/main.js" -a ! -e "$APP/src" -a ! -e "$APP/test" -a ! -e "$APP/bench" -a ! -e "$APP/node_modules/tsx" -a ! -e "$APP/node_modules/typescript"
check "runtime holds the built demo page (dist/demo/: served only with SERVE_DEMO=true)" \
  test -s "$APP/dist/demo/index.html" -a -s "$APP/dist/demo/demo.js" -a -s "$APP/dist/demo/demo.css"
check "CMD runs node directly (exec form, no npm or shell)" bash -c "[[ '$cmd' == '[\"node\",'* ]]"

# --- start it the way Docker would ---------------------------------------------------------------------
# On a free port the kernel picks; on a shared host CHECK_PORT=<n> pins it (as production-check.sh).
if [[ -n ${CHECK_PORT:-} ]]; then
  if ! [[ $CHECK_PORT =~ ^[0-9]+$ ]] || ((CHECK_PORT < 1 || CHECK_PORT > 65535)); then
    echo "CHECK_PORT must be a port number, not '$CHECK_PORT'" >&2; exit 2
  fi
  port=$CHECK_PORT
else
  port=$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
fi
run_env=(PATH="$PATH" HOME=/tmp NODE_ENV="${ENVS[NODE_ENV]}" PORT="$port" JWT_SECRET=secret DB_URI=mem
  COOKIE_DOMAIN=.localhost CORS_ORIGIN=http://localhost:3000 WS_PATH=/ws METRICS_SECRET=change-me)
mapfile -t argv < <(node -e 'for (const a of JSON.parse(process.argv[1])) console.log(a)' "$cmd")
mapfile -t hc_argv < <(node -e 'for (const a of JSON.parse(process.argv[1])) console.log(a)' "$healthcheck")
as_user=() run_as=$(id -un)
if [[ $(id -u) == 0 ]]; then
  # The image's `node` user does not exist here; `nobody` proves the same: no write access is needed.
  chmod -R a+rX "$RUNTIME"
  as_user=(setpriv --reuid=nobody --regid=nogroup --clear-groups) run_as=nobody
fi
(cd "$APP" && exec env -i "${run_env[@]}" "${as_user[@]}" "${argv[@]}") >"$WORK/server.out" 2>"$WORK/server.err" &
server_pid=$!
for _ in $(seq 1 100); do grep -q '"msg":"listening"' "$WORK/server.out" && break; kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
if grep -q '"msg":"listening"' "$WORK/server.out"; then
  pass "runtime stage starts in production as $run_as ($(grep -o '"mode":"[a-z]*"\|"uws":"[a-z]*"' "$WORK/server.out" | tr '\n' ' '))"
  check "uWS native binary loads from the runtime node_modules" grep -q '"uws":"native"' "$WORK/server.out"
  check "HEALTHCHECK command succeeds against the running server" \
    bash -c 'cd "$1" && shift && env -i "$@"' _ "$APP" "${run_env[@]}" "${hc_argv[@]}"
  kill -s "${stopsignal#SIG}" "$server_pid"
  wait "$server_pid"; code=$?; server_pid=''
  check "STOPSIGNAL ends the server with exit code 0" test "$code" = 0
  check "HEALTHCHECK fails once the server is gone" bash -c '! (cd "$1" && shift && env -i "$@")' _ "$APP" "${run_env[@]}" "${hc_argv[@]}"
else
  fail "runtime stage starts in production"; cat "$WORK/server.err" "$WORK/server.out" | tail -20
fi

if ((failures)); then echo "image layout: $failures failed"; exit 1; fi
echo "image layout: all checks passed"
