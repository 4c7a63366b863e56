#!/usr/bin/env bash
# A throw-away Garage (S3-compatible object store) cluster for tests and benchmarks, on
# 127.0.0.1 and free ports.
#   scripts/garage.sh start DIR [NODES]  builds Garage 2.5.0 once if missing (cargo install),
#                                        starts NODES nodes (1 or 3; 3 replicate every block
#                                        three times), creates a bucket and a key, and prints
#                                        shell assignments: GARAGE_ENDPOINTS (one S3 endpoint
#                                        per node, space-separated), GARAGE_BUCKET,
#                                        GARAGE_REGION, GARAGE_KEY_ID, GARAGE_SECRET
#   scripts/garage.sh stop DIR           stops every node (DIR can then be removed)
#   scripts/garage.sh restart DIR I      starts node I again after it was stopped alone
# Node I's pid is in DIR/nodeI/pid, so a test can stop one node alone.
set -euo pipefail
cmd="${1:?usage: garage.sh start DIR [NODES] | stop DIR}"
dir="${2:?usage: garage.sh start DIR [NODES] | stop DIR}"
nodes="${3:-1}"
region=garage
bucket=glacier
key_id="GK$(python3 -c "import secrets; print(secrets.token_hex(12))")"
secret="$(python3 -c "import secrets; print(secrets.token_hex(32))")"

garage_bin() {
  if command -v garage >/dev/null; then command -v garage; return; fi
  if [ -x "$HOME/.cargo/bin/garage" ]; then echo "$HOME/.cargo/bin/garage"; return; fi
  echo "garage.sh: building Garage 2.5.0 (once; about 12 minutes)" >&2
  cargo install garage --locked --version 2.5.0 >&2
  echo "$HOME/.cargo/bin/garage"
}

free_ports() {
  python3 - "$1" <<'PY'
import socket, sys
socks = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))
PY
}

# Runs a garage CLI command against node 1 until it succeeds (the cluster settles in a few
# seconds), or gives up after 30 s.
admin() {
  local tries=0
  until "$bin" -c "$dir/node1/garage.toml" "$@" >"$dir/admin.out" 2>&1; do
    tries=$((tries + 1))
    if [ "$tries" -ge 60 ]; then cat "$dir/admin.out" >&2; return 1; fi
    sleep 0.5
  done
  cat "$dir/admin.out"
}

case "$cmd" in
start)
  bin="$(garage_bin)"
  rpc_secret="$(python3 -c 'import secrets; print(secrets.token_hex(32))')"
  endpoints=""
  for i in $(seq 1 "$nodes"); do
    read -r rpc s3 <<<"$(free_ports 2)"
    mkdir -p "$dir/node$i/meta" "$dir/node$i/data"
    cat >"$dir/node$i/garage.toml" <<TOML
metadata_dir = "$dir/node$i/meta"
data_dir = "$dir/node$i/data"
db_engine = "lmdb"
replication_factor = $nodes
rpc_secret = "$rpc_secret"
rpc_bind_addr = "127.0.0.1:$rpc"
rpc_public_addr = "127.0.0.1:$rpc"

[s3_api]
s3_region = "$region"
api_bind_addr = "127.0.0.1:$s3"
TOML
    RUST_LOG=warn "$bin" -c "$dir/node$i/garage.toml" server >"$dir/node$i/log" 2>&1 &
    echo $! >"$dir/node$i/pid"
    endpoints="$endpoints http://127.0.0.1:$s3"
  done
  ids=()
  for i in $(seq 1 "$nodes"); do
    tries=0
    until id="$("$bin" -c "$dir/node$i/garage.toml" node id -q 2>/dev/null)"; do
      tries=$((tries + 1))
      if [ "$tries" -ge 60 ]; then cat "$dir/node$i/log" >&2; exit 1; fi
      sleep 0.5
    done
    ids+=("$id")
  done
  for id in "${ids[@]:1}"; do admin node connect "$id" >/dev/null; done
  for i in $(seq 1 "$nodes"); do
    admin layout assign -z "dc$i" -c 1G "${ids[$((i - 1))]%@*}" >/dev/null
  done
  admin layout apply --version 1 >/dev/null
  admin key import --yes -n glacier "$key_id" "$secret" >/dev/null
  admin bucket create "$bucket" >/dev/null
  admin bucket allow --read --write --owner "$bucket" --key glacier >/dev/null
  echo "GARAGE_ENDPOINTS='${endpoints# }'"
  echo "GARAGE_BUCKET=$bucket"
  echo "GARAGE_REGION=$region"
  echo "GARAGE_KEY_ID=$key_id"
  echo "GARAGE_SECRET=$secret"
  ;;
restart)
  bin="$(garage_bin)"
  node="$dir/node${3:?usage: garage.sh restart DIR I}"
  RUST_LOG=warn "$bin" -c "$node/garage.toml" server >>"$node/log" 2>&1 &
  echo $! >"$node/pid"
  ;;
stop)
  for pidfile in "$dir"/node*/pid; do
    [ -f "$pidfile" ] || continue
    kill "$(cat "$pidfile")" 2>/dev/null || true
  done
  for pidfile in "$dir"/node*/pid; do
    [ -f "$pidfile" ] || continue
    while kill -0 "$(cat "$pidfile")" 2>/dev/null; do sleep 0.1; done
  done
  ;;
*)
  echo "usage: garage.sh start DIR [NODES] | stop DIR | restart DIR I" >&2
  exit 2
  ;;
esac
