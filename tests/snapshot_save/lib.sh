# lib.sh - shared by the `etcd-dr snapshot save` tests: a work dir, real
# etcd members on random high loopback ports, and cleanup.  Sourced; bash.
#
# Each run works in /tmp/edr-save-test.XXXXXX holding "owner" (the test
# shell's pid), "pids" (every etcd it started) and the members' data and
# logs.  A run first removes what a crashed earlier run of these tests
# left: directories by that name whose owner is gone, after killing the
# etcd processes listed there whose command line names that directory (so
# never anybody else's etcd).  Everything started is killed by its pid.
set -uo pipefail

fails=0
bad() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }
ok() { echo "ok: $*"; }

# etcd_bins VERSION: sets ETCD, ETCDCTL and STATUS_TOOL/RESTORE_TOOL (etcdctl
# for 3.4, etcdutl for 3.5); exits 77 when that etcd is not installed.
etcd_bins() {
  local d
  case $1 in
  3.4) d=/usr/bin; ETCDUTL=$d/etcdctl ;;
  3.5) d=${EDR_ETCD35_DIR:-/var/cache/etcd-dr/etcd-3.5}/usr/bin; ETCDUTL=$d/etcdutl ;;
  *) echo "unknown etcd version '$1'" >&2; exit 2 ;;
  esac
  ETCD=$d/etcd ETCDCTL=$d/etcdctl
  for b in "$ETCD" "$ETCDCTL" "$ETCDUTL"; do
    [[ -x $b ]] || { echo "SKIP: '$b' not installed"; exit 77; }
  done
  export ETCDCTL_API=3
}

save_clean_leftovers() {
  local d owner pid
  for d in /tmp/edr-save-test.*; do
    [[ -d $d ]] || continue
    owner=$(cat "$d/owner" 2>/dev/null || echo 0)
    if [[ $owner -gt 0 && -r /proc/$owner/cmdline ]] &&
      grep -q snapshot_save <<<"$(tr '\0' ' ' </proc/"$owner"/cmdline)"; then
      continue  # a run in progress (ctest -j): not ours to touch
    fi
    if [[ -f $d/pids ]]; then
      while read -r pid; do
        if [[ $pid -gt 0 && -r /proc/$pid/cmdline ]] &&
          grep -qF "$d" <<<"$(tr '\0' ' ' </proc/"$pid"/cmdline)"; then
          echo "killing etcd $pid left by a crashed run" >&2
          kill -KILL "$pid" 2>/dev/null
        fi
      done <"$d/pids"
    fi
    rm -rf "$d"
  done
}

SAVE_PIDS=()
save_cleanup() {
  local p
  for p in "${SAVE_PIDS[@]}"; do
    kill -CONT "$p" 2>/dev/null
    kill -KILL "$p" 2>/dev/null
    wait "$p" 2>/dev/null
  done
  if [[ -n ${W:-} && -z ${EDR_KEEP_TEST_DIR:-} ]]; then rm -rf "$W"; fi
}

# save_workdir: sets W, the run's directory, and the traps.
save_workdir() {
  save_clean_leftovers
  W=$(mktemp -d /tmp/edr-save-test.XXXXXX) || exit 1
  echo $$ >"$W/owner"
  trap save_cleanup EXIT
  trap 'exit 130' INT TERM
}

# etcd_start NAME [extra etcd flags...]: one member on random high ports,
# data in $W/NAME.etcd.  Sets PORT (client), URL, PID.  https when
# $TLS_DIR is set (server.pem etc. from tests/health/mkcerts.sh, client
# certificates required).  Retries other ports when one is taken, unless
# FIXED_PORT is set (a restored member whose peer URL is PORT+1).
etcd_start() {
  local name=$1 try p q scheme=http tlsargs=() curlargs=()
  shift
  if [[ -n ${TLS_DIR:-} ]]; then
    scheme=https
    tlsargs=(--cert-file "$TLS_DIR/server.pem" --key-file "$TLS_DIR/server-key.pem"
      --client-cert-auth --trusted-ca-file "$TLS_DIR/ca.pem")
    curlargs=(--cacert "$TLS_DIR/ca.pem" --cert "$TLS_DIR/client.pem" --key "$TLS_DIR/client-key.pem")
  fi
  for try in 1 2 3 4 5; do
    p=${FIXED_PORT:-$((20000 + RANDOM % 30000))}; q=$((p + 1))
    "$ETCD" --name "$name" --data-dir "$W/$name.etcd" \
      --listen-client-urls "$scheme://127.0.0.1:$p" --advertise-client-urls "$scheme://127.0.0.1:$p" \
      --listen-peer-urls "http://127.0.0.1:$q" --initial-advertise-peer-urls "http://127.0.0.1:$q" \
      --initial-cluster "$name=http://127.0.0.1:$q" --initial-cluster-token "edr-save-$$" \
      "${tlsargs[@]}" "$@" >>"$W/$name.log" 2>&1 &
    PID=$!
    echo "$PID" >>"$W/pids"
    SAVE_PIDS+=("$PID")
    PORT=$p URL=$scheme://127.0.0.1:$p PEER=http://127.0.0.1:$q
    for _ in $(seq 600); do  # 60 s: a restored member on a loaded 2-core machine is slow
      if grep -q '"health":"true"' <<<"$(curl -s "${curlargs[@]}" "$URL/health" 2>/dev/null)"; then
        return 0
      fi
      kill -0 "$PID" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$PID" 2>/dev/null; wait "$PID" 2>/dev/null
    # FIXED_PORT: a restored data dir, whose peer URL is in its data
    if [[ -n ${FIXED_PORT:-} ]]; then break; fi
    rm -rf "$W/$name.etcd"
  done
  echo "could not start '$ETCD' (see $W/$name.log)" >&2
  tail -5 "$W/$name.log" >&2
  return 1
}

etcd_kill() {
  kill -CONT "$1" 2>/dev/null
  kill -KILL "$1" 2>/dev/null
  wait "$1" 2>/dev/null
}

# put_keys ENDPOINT N_SMALL N_BIG: N_SMALL small keys, N_BIG 1 MB random
# values (big0..); big0's value is kept in $W/big0.value.
put_keys() {
  local ep=$1 i
  for i in $(seq "$2"); do
    "$ETCDCTL" --endpoints "$ep" ${CTL_TLS:-} put "small$i" "value $i" >/dev/null || return 1
  done
  for i in $(seq 0 $(($3 - 1))); do
    head -c 750000 /dev/urandom | base64 -w0 >"$W/big.value"   # 750000 bytes: 1000000 characters
    "$ETCDCTL" --endpoints "$ep" ${CTL_TLS:-} put "big$i" <"$W/big.value" >/dev/null || return 1
    [[ $i -eq 0 ]] && cp "$W/big.value" "$W/big0.value"
  done
  rm -f "$W/big.value"
}

# current_revision ENDPOINT: the member's revision, from the JSON gateway.
current_revision() {
  curl -s ${CURL_TLS:-} -X POST -d '{"key":"AA=="}' "$1/v3/kv/range" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["header"]["revision"])'
}

# status_revision FILE: the REVISION etcd's own tool reads from FILE.
status_revision() {
  "$ETCDUTL" snapshot status -w json "$1" 2>/dev/null |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["revision"])'
}

# check_file FILE REVISION: what every saved file must be.
check_file() {
  local f=$1 rev=$2 size
  [[ -f $f ]] || { bad "'$f' missing"; return; }
  [[ ! -e $f.part ]] || bad "'$f.part' left behind"
  size=$(stat -c %s "$f")
  [[ $((size % 512)) -eq 32 ]] && ok "$(basename "$f"): $size bytes, size % 512 == 32" ||
    bad "$f: size $size, size % 512 = $((size % 512)), not 32"
  [[ $(stat -c %a "$f") == 600 ]] || bad "$f: mode $(stat -c %a "$f"), not 600"
  "$EDR" snapshot verify "$f" >/dev/null || bad "etcd-dr snapshot verify '$f'"
  local r
  r=$(status_revision "$f")
  [[ $r == "$rev" ]] && ok "$(basename "$ETCDUTL") snapshot status: revision $r" ||
    bad "$(basename "$ETCDUTL") snapshot status '$f': revision '$r', want $rev"
  # the trailer: sha-256 of everything before the last 32 bytes
  python3 - "$f" <<'PY' || bad "$f: sha-256 trailer does not match"
import hashlib, sys
d = open(sys.argv[1], 'rb').read()
sys.exit(0 if hashlib.sha256(d[:-32]).digest() == d[-32:] else 1)
PY
}
