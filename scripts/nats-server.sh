#!/usr/bin/env bash
# A nats-server binary for the fault tests that stop, kill and freeze their own NATS (test/cluster/):
# never the machine's shared one on 4222. Prints the binary's path.
#
# Usage: scripts/nats-server.sh path    # NATS_SERVER_BIN, else nats-server on PATH or /usr/sbin, else build
#        scripts/nats-server.sh build   # go install nats-server into the cache (once; ~1 min, ~25 MB)
#
# The build is cached outside the work tree ($NATS_SERVER_CACHE_DIR, default
# ~/.cache/uws-chat-backend/nats-server-<version>/nats-server), so fresh clones (CI) on this machine reuse it.
set -euo pipefail

VERSION=v2.15.3
CACHE="${NATS_SERVER_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/uws-chat-backend}/nats-server-$VERSION"

log() { echo "nats-server.sh: $*" >&2; }

find_go() {
  command -v go 2>/dev/null || { [[ -x /usr/local/go/bin/go ]] && echo /usr/local/go/bin/go; } || { log "Go not found (need it to build nats-server)"; exit 1; }
}

build() {
  [[ -x "$CACHE/nats-server" ]] && { echo "$CACHE/nats-server"; return 0; }
  local go_bin tmp start=$SECONDS
  go_bin="$(find_go)"
  tmp="$CACHE.tmp.$$"
  mkdir -p "$tmp"
  log "building nats-server $VERSION with $("$go_bin" version) (first time only, ~1 min)..."
  if ! (cd "$tmp" && GOBIN="$tmp" GOFLAGS=-trimpath GOTOOLCHAIN="${GOTOOLCHAIN:-local}" "$go_bin" install "github.com/nats-io/nats-server/v2@$VERSION" >&2); then
    rm -rf "$tmp"
    log "go install failed"
    exit 1
  fi
  rm -rf "$CACHE"
  mv "$tmp" "$CACHE"
  log "built $CACHE/nats-server in $((SECONDS - start))s"
  echo "$CACHE/nats-server"
}

path() {
  if [[ -n "${NATS_SERVER_BIN:-}" ]]; then echo "$NATS_SERVER_BIN"; return 0; fi
  local found
  found="$(command -v nats-server 2>/dev/null || true)"
  [[ -z "$found" && -x /usr/sbin/nats-server ]] && found=/usr/sbin/nats-server
  [[ -z "$found" && -x "$CACHE/nats-server" ]] && found="$CACHE/nats-server"
  if [[ -n "$found" ]]; then echo "$found"; else build; fi
}

case "${1:-}" in
  path) path ;;
  build) build ;;
  *) echo "usage: $0 path|build" >&2; exit 2 ;;
esac
