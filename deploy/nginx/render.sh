#!/bin/sh
# Renders deploy/nginx/chat.conf to stdout: fills every {{NAME}} from the environment (or the default
# below) and keeps the TLS server block only when TLS_CERT and TLS_KEY are both set. POSIX sh + sed, so
# it also runs inside the nginx image (docker-compose.yml). Exits 1 on a value that would break the file.
#   deploy/nginx/render.sh > /etc/nginx/conf.d/chat.conf
#   CHAT_UPSTREAM=127.0.0.1:3000 NGINX_LISTEN=127.0.0.1:8080 WS_PATH=/ws deploy/nginx/render.sh
set -eu
here=$(dirname "$0")
template=${CHAT_CONF_TEMPLATE:-$here/chat.conf}

CHAT_UPSTREAM=${CHAT_UPSTREAM:-127.0.0.1:3000}   # host:port of the chat server, or several: a:3000,b:3000,c:3000
UPSTREAM_FAIL_TIMEOUT=${UPSTREAM_FAIL_TIMEOUT:-5s} # how long an instance that failed a connection is skipped
NGINX_LISTEN=${NGINX_LISTEN:-80}                 # plain HTTP listen ([address:]port)
NGINX_TLS_LISTEN=${NGINX_TLS_LISTEN:-443}        # TLS listen ([address:]port), used with TLS_CERT/TLS_KEY
SERVER_NAME=${SERVER_NAME:-_}                    # `_`: any host name
WS_PATH=${WS_PATH:-/ws}                          # must equal the server's WS_PATH
TLS_CERT=${TLS_CERT:-}
TLS_KEY=${TLS_KEY:-}
# What the plain listener does: serve (everything, as without TLS) or redirect (to https). Default:
# redirect when the TLS block is rendered, so passwords and tokens never cross in plain text by accident;
# serve otherwise. PLAIN_HTTP=serve with TLS: plain is also served (tests, a trusted private network).
PLAIN_HTTP=${PLAIN_HTTP:-}
# The server's defaults: MAX_HTTP_BODY_BYTES = 6 x MAX_MESSAGE_BYTES + 4096 (src/config.ts escapedSendBytes), idle timeout 120 s.
MAX_MESSAGE_BYTES=${MAX_MESSAGE_BYTES:-16384}
MAX_HTTP_BODY_BYTES=${MAX_HTTP_BODY_BYTES:-$((MAX_MESSAGE_BYTES * 6 + 4096))}
WS_IDLE_TIMEOUT_SEC=${WS_IDLE_TIMEOUT_SEC:-120}
PROXY_READ_TIMEOUT=$((WS_IDLE_TIMEOUT_SEC + 30))s

bad() { echo "render.sh: $1" >&2; exit 1; }
printf '%s' "$CHAT_UPSTREAM" | grep -Eq '^[][A-Za-z0-9.:_-]+:[0-9]+(,[][A-Za-z0-9.:_-]+:[0-9]+)*$' || bad "CHAT_UPSTREAM must be host:port[,host:port...], got '$CHAT_UPSTREAM'"
printf '%s' "$UPSTREAM_FAIL_TIMEOUT" | grep -Eq '^[0-9]+(ms|s)?$' || bad "UPSTREAM_FAIL_TIMEOUT must be a time such as 5s, got '$UPSTREAM_FAIL_TIMEOUT'"
# One `server` line per instance: the template's line is `server {{CHAT_UPSTREAM}} <options>;`, so the
# instances are joined by "<options>;" + newline + "server " (a backslash-newline is POSIX sed's newline).
# CHAT_UPSTREAM_BACKUP is the same list for the template's last-resort line `server {{..}} backup max_fails=0;`.
sep=" max_fails=1 fail_timeout=$UPSTREAM_FAIL_TIMEOUT;\\
    server "
backup_sep=" backup max_fails=0;\\
    server "
upstreams=
backups=
old_ifs=$IFS
IFS=,
for instance in $CHAT_UPSTREAM; do
  upstreams="${upstreams:+$upstreams$sep}$instance"
  backups="${backups:+$backups$backup_sep}$instance"
done
IFS=$old_ifs
for listen in "$NGINX_LISTEN" "$NGINX_TLS_LISTEN"; do
  printf '%s' "$listen" | grep -Eq '^([][A-Za-z0-9.:-]+:)?[0-9]+$' || bad "a listen value must be [address:]port, got '$listen'"
done
printf '%s' "$SERVER_NAME" | grep -Eq '^[A-Za-z0-9._* -]+$' || bad "SERVER_NAME has characters nginx would misread: '$SERVER_NAME'"
printf '%s' "$WS_PATH" | grep -Eq '^/[A-Za-z0-9/_.~-]*$' || bad "WS_PATH must start with / and hold only URL path characters, got '$WS_PATH'"
printf '%s' "$MAX_HTTP_BODY_BYTES" | grep -Eq '^[0-9]+$' || bad "MAX_HTTP_BODY_BYTES must be a number of bytes"
if [ -n "$TLS_CERT$TLS_KEY" ]; then
  [ -n "$TLS_CERT" ] && [ -n "$TLS_KEY" ] || bad "set both TLS_CERT and TLS_KEY, or neither"
  for path in "$TLS_CERT" "$TLS_KEY"; do
    printf '%s' "$path" | grep -Eq '^/[A-Za-z0-9/_.@-]+$' || bad "TLS paths must be absolute plain paths, got '$path'"
  done
  tls='/{{[#/]TLS}}/d'                         # keep the block, drop the marker lines
  PLAIN_HTTP=${PLAIN_HTTP:-redirect}
else
  tls='/{{#TLS}}/,/{{\/TLS}}/d'                # drop the whole TLS block
  PLAIN_HTTP=${PLAIN_HTTP:-serve}
  [ "$PLAIN_HTTP" = serve ] || bad "PLAIN_HTTP=$PLAIN_HTTP needs the TLS block (TLS_CERT and TLS_KEY) to send clients to"
fi
case $PLAIN_HTTP in
  serve) plain='/{{#PLAIN_REDIRECT}}/,/{{\/PLAIN_REDIRECT}}/d; /{{[#/]PLAIN_SERVE}}/d' ;;
  redirect) plain='/{{#PLAIN_SERVE}}/,/{{\/PLAIN_SERVE}}/d; /{{[#/]PLAIN_REDIRECT}}/d' ;;
  *) bad "PLAIN_HTTP must be serve or redirect, got '$PLAIN_HTTP'" ;;
esac
# The redirect names the TLS port unless it is https' own.
tls_port=${NGINX_TLS_LISTEN##*:}
if [ "$tls_port" = 443 ]; then TLS_REDIRECT_PORT=; else TLS_REDIRECT_PORT=":$tls_port"; fi

out=$(sed -e "$tls" -e "$plain" \
  -e "s|{{TLS_REDIRECT_PORT}}|$TLS_REDIRECT_PORT|g" \
  -e "s|{{CHAT_UPSTREAM}}|$upstreams|g" \
  -e "s|{{CHAT_UPSTREAM_BACKUP}}|$backups|g" \
  -e "s|{{UPSTREAM_FAIL_TIMEOUT}}|$UPSTREAM_FAIL_TIMEOUT|g" \
  -e "s|{{NGINX_LISTEN}}|$NGINX_LISTEN|g" \
  -e "s|{{NGINX_TLS_LISTEN}}|$NGINX_TLS_LISTEN|g" \
  -e "s|{{SERVER_NAME}}|$SERVER_NAME|g" \
  -e "s|{{WS_PATH}}|$WS_PATH|g" \
  -e "s|{{TLS_CERT}}|$TLS_CERT|g" \
  -e "s|{{TLS_KEY}}|$TLS_KEY|g" \
  -e "s|{{MAX_HTTP_BODY_BYTES}}|$MAX_HTTP_BODY_BYTES|g" \
  -e "s|{{PROXY_READ_TIMEOUT}}|$PROXY_READ_TIMEOUT|g" \
  "$template")
case $out in *'{{'*) bad "placeholders left unfilled in $template" ;; esac
printf '%s\n' "$out"
