#!/bin/sh
# Runs NGINX in the foreground with deploy/nginx/chat.conf in front of a chat server on this machine,
# without touching /etc/nginx: pid, logs and temp files live under NGINX_PREFIX (a new temporary
# directory by default). Ctrl-C stops it. test/e2e/nginx.test.ts starts NGINX through this script too.
#   JWT_SECRET=dev-secret npm start &     # the server on 127.0.0.1:3000
#   sh deploy/nginx/run-local.sh          # NGINX on 127.0.0.1:8080: ws://127.0.0.1:8080/ws
# Takes render.sh's variables; here NGINX_LISTEN defaults to 127.0.0.1:8080 and NGINX_TLS_LISTEN to
# 127.0.0.1:8443 (used only with TLS_CERT and TLS_KEY). NGINX_BIN picks the binary.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
prefix=${NGINX_PREFIX:-$(mktemp -d "${TMPDIR:-/tmp}/chat-nginx.XXXXXX")}
chmod 755 "$prefix" # started as root, the workers run as nobody and must reach the temp dirs
export NGINX_LISTEN="${NGINX_LISTEN:-127.0.0.1:8080}"
export NGINX_TLS_LISTEN="${NGINX_TLS_LISTEN:-127.0.0.1:8443}"
sh "$here/render.sh" > "$prefix/chat.conf"
cat > "$prefix/nginx.conf" <<CONF
daemon off;
worker_processes 1;
pid $prefix/nginx.pid;
error_log $prefix/error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $prefix/client_body;
    proxy_temp_path $prefix/proxy;
    fastcgi_temp_path $prefix/fastcgi;
    uwsgi_temp_path $prefix/uwsgi;
    scgi_temp_path $prefix/scgi;
    include $prefix/chat.conf;
}
CONF
bin=${NGINX_BIN:-$(command -v nginx || echo /usr/sbin/nginx)}
echo "run-local.sh: nginx on $NGINX_LISTEN -> ${CHAT_UPSTREAM:-127.0.0.1:3000}, config and logs in $prefix" >&2
exec "$bin" -p "$prefix" -e "$prefix/error.log" -c "$prefix/nginx.conf"
