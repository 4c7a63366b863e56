#!/usr/bin/env bash
# A throw-away PostgreSQL server for tests and benchmarks, on 127.0.0.1 and a free port.
#   scripts/postgres.sh start DIR [durable]
#                                   installs PostgreSQL from Debian if missing, creates a
#                                   cluster in DIR, starts it, prints its URL; without
#                                   `durable` it runs with fsync off (tests), with it as
#                                   shipped (benchmarks); TLS is on, with a server
#                                   certificate for 127.0.0.1 signed by DIR/ca.pem (and
#                                   DIR/other-ca.pem a CA that signed nothing)
#   scripts/postgres.sh stop DIR    stops it (DIR can then be removed)
#   scripts/postgres.sh restart DIR starts a stopped cluster again, on the same port
# PostgreSQL refuses to run as root, so as root the server runs as the `postgres` user.
set -euo pipefail
cmd="${1:?usage: postgres.sh start|stop DIR}"
dir="${2:?usage: postgres.sh start|stop DIR}"
fsync=off
[ "${3:-}" = durable ] && fsync=on

bindir() {
  local d
  for d in /usr/lib/postgresql/*/bin; do
    [ -x "$d/initdb" ] && { echo "$d"; return; }
  done
  return 1
}

as_owner() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

# A CA, a server certificate it signed for 127.0.0.1, and a second CA that signed nothing.
certificates() {
  local d="$1" ec=(-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes)
  openssl req -x509 "${ec[@]}" -keyout "$d/ca.key" -out "$d/ca.pem" -days 7 \
    -subj /CN=glacier-test-ca 2>/dev/null
  openssl req -x509 "${ec[@]}" -keyout "$d/other-ca.key" -out "$d/other-ca.pem" -days 7 \
    -subj /CN=glacier-other-ca 2>/dev/null
  openssl req "${ec[@]}" -keyout "$d/server.key" -out "$d/server.csr" \
    -subj /CN=127.0.0.1 2>/dev/null
  printf 'subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' \
    >"$d/server.ext"
  openssl x509 -req -in "$d/server.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" -CAcreateserial \
    -days 7 -extfile "$d/server.ext" -out "$d/server.pem" 2>/dev/null
  chmod 600 "$d/server.key"
  [ "$(id -u)" = 0 ] && chown postgres "$d/server.key" "$d/server.pem"
  return 0
}

case "$cmd" in
start)
  if ! bin="$(bindir)"; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql) >/dev/null
    bin="$(bindir)"
  fi
  mkdir -p "$dir"
  [ "$(id -u)" = 0 ] && chown postgres "$dir"
  port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
  as_owner "$bin/initdb" -D "$dir/data" -U glacier --auth=trust -E UTF8 >/dev/null
  certificates "$dir"
  echo "-h 127.0.0.1 -p $port -k $dir -c fsync=$fsync -c max_connections=200" \
    "-c ssl=on -c ssl_cert_file=$dir/server.pem -c ssl_key_file=$dir/server.key" >"$dir/options"
  as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/log" -w -o "$(cat "$dir/options")" start >/dev/null
  as_owner "$bin/createdb" -h 127.0.0.1 -p "$port" -U glacier glacier
  echo "postgres://glacier@127.0.0.1:$port/glacier"
  ;;
restart)
  bin="$(bindir)"
  as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/log" -w -o "$(cat "$dir/options")" start >/dev/null
  ;;
stop)
  bin="$(bindir)"
  [ -d "$dir/data" ] && as_owner "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null || true
  ;;
*)
  echo "usage: postgres.sh start|stop|restart DIR" >&2
  exit 2
  ;;
esac
