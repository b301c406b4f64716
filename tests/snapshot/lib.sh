# lib.sh - start and stop a throwaway etcd on loopback for the snapshot
# tests and the benchmark.  Sourced; needs bash.  Every etcd started here
# is stopped by its pid (etcd_stop_all, also on EXIT via the caller's trap).

EDR_ETCD_PIDS=()

# Find etcdutl 3.5: $EDR_ETCDUTL, the cache that scripts/get-etcd.sh fills,
# or (as root) get-etcd.sh itself.  Prints the bin dir or nothing.
edr_etcd35_bindir() {
  local root d
  root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
  if [[ -n ${EDR_ETCDUTL:-} && -x $EDR_ETCDUTL ]]; then dirname "$EDR_ETCDUTL"; return; fi
  d=${EDR_ETCD35_DIR:-/var/cache/etcd-dr/etcd-3.5}/usr/bin
  if [[ -x $d/etcdutl ]]; then echo "$d"; return; fi
  if [[ $(id -u) -eq 0 && -x $root/scripts/get-etcd.sh ]]; then
    "$root/scripts/get-etcd.sh" 2>/dev/null || true
  fi
}

# etcd_start ETCD_BIN DATA_DIR: start one member on random high loopback
# ports; sets ETCD_EP (host:port) and ETCD_PID.  Retries other ports.
etcd_start() {
  local bin=$1 dir=$2 try p q
  for try in 1 2 3 4 5; do
    p=$((20000 + RANDOM % 30000)); q=$((p + 1))
    mkdir -p "$dir"
    "$bin" --name t --data-dir "$dir/data" \
      --listen-client-urls "http://127.0.0.1:$p" --advertise-client-urls "http://127.0.0.1:$p" \
      --listen-peer-urls "http://127.0.0.1:$q" --initial-advertise-peer-urls "http://127.0.0.1:$q" \
      --initial-cluster "t=http://127.0.0.1:$q" --quota-backend-bytes $((4 << 30)) \
      >"$dir/etcd.log" 2>&1 &
    ETCD_PID=$!
    EDR_ETCD_PIDS+=("$ETCD_PID")
    ETCD_EP=127.0.0.1:$p
    for _ in $(seq 100); do
      if grep -q '"health":"true"' <<<"$(curl -fs "http://$ETCD_EP/health" 2>/dev/null)"; then
        return 0
      fi
      kill -0 "$ETCD_PID" 2>/dev/null || break
      sleep 0.1
    done
    etcd_stop "$ETCD_PID"
    rm -rf "$dir/data"
  done
  echo "could not start '$bin' (see $dir/etcd.log)" >&2
  return 1
}

etcd_stop() {
  kill "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}

etcd_stop_all() {
  local p
  for p in "${EDR_ETCD_PIDS[@]}"; do etcd_stop "$p"; done
  EDR_ETCD_PIDS=()
}
