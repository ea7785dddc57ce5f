#!/bin/sh
# One origin of the stream experiments: nginx (Debian's) serving the test media on
# 127.0.0.1:PORT, made first when missing (make-media.sh, cached in media/).
#
#   sh origin/serve.sh PORT          (from experiments/streams/)
set -eu
port=${1:?usage: serve.sh PORT}
here=$(cd "$(dirname "$0")" && pwd)
sh "$here/make-media.sh" "$here/media"
run="$here/run-$port"
mkdir -p "$run"
cat >"$run/nginx.conf" <<CONF
daemon off; master_process off; worker_processes 1; pid $run/nginx.pid; error_log stderr;
events { worker_connections 1024; }
http {
  access_log off; sendfile on; tcp_nodelay on; keepalive_requests 100000;
  client_body_temp_path $run/body; proxy_temp_path $run/proxy; fastcgi_temp_path $run/fastcgi;
  uwsgi_temp_path $run/uwsgi; scgi_temp_path $run/scgi;
  types { application/vnd.apple.mpegurl m3u8; application/dash+xml mpd; video/mp2t ts; video/iso.segment m4s; }
  server { listen 127.0.0.1:$port; root $here/media; }
}
CONF
nginx=$(command -v nginx || echo /usr/sbin/nginx)
exec "$nginx" -p "$run" -c "$run/nginx.conf"
