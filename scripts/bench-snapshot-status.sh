#!/usr/bin/env bash
# bench-snapshot-status.sh [SIZE_MB] [SECONDS] - time `etcd-dr snapshot
# status` against etcdctl 3.4's and etcdutl 3.5's `snapshot status` on one
# big snapshot, side by side: wall time and peak RSS (/usr/bin/time -v),
# best of RUNS runs after one warm-up each (page cache warm for everyone).
#
# The snapshot is made by a real etcd 3.4 on loopback: 20000 keys of 1 KB,
# then 100 KB values until the db reaches SIZE_MB (default 1024) or SECONDS
# (default 600) pass; the size reached is printed - report it honestly.
#
# Env: EDR_BIN (default build/etcd-dr, else build-bbolt/tests/edr-snapshot),
#      BENCH_DIR (default a temp dir, removed unless KEEP=1), RUNS (3),
#      SNAPSHOT=FILE to reuse an existing snapshot instead of making one.
set -euo pipefail
size_mb=${1:-1024} secs=${2:-600} runs=${RUNS:-3}
root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/tests/snapshot/lib.sh"
export ETCDCTL_API=3

bin=${EDR_BIN:-}
if [[ -z $bin ]]; then
  if [[ -x $root/build/etcd-dr ]] && "$root/build/etcd-dr" snapshot --help >/dev/null 2>&1; then
    bin="$root/build/etcd-dr snapshot"
  else
    bin="$root/build-bbolt/tests/edr-snapshot"
  fi
fi
dir=${BENCH_DIR:-$(mktemp -d /var/tmp/edr-bench.XXXXXX)}
cleanup() { etcd_stop_all; [[ ${KEEP:-0} == 1 || -n ${BENCH_DIR:-} ]] || rm -rf "$dir"; }
trap cleanup EXIT

snap=${SNAPSHOT:-$dir/big.db}
if [[ ! -f $snap ]]; then
  etcd_start /usr/bin/etcd "$dir/etcd"
  python3 "$root/tests/snapshot/etcdload.py" "$ETCD_EP" put small 20000 1024 \
    until-bytes big 102400 $((size_mb << 20)) "$secs"
  etcdctl --endpoints "$ETCD_EP" snapshot save "$snap" >/dev/null 2>&1
  etcd_stop_all
  rm -rf "$dir/etcd" # the WAL and db: as big again as the snapshot
fi

# measure NAME CMD...: best wall time and its peak RSS over $runs runs.
measure() {
  local name=$1 best="" rss="" t r i
  shift
  "$@" >/dev/null 2>&1 || { echo "$name failed: $*" >&2; return 1; }
  for i in $(seq "$runs"); do
    /usr/bin/time -v "$@" >/dev/null 2>"$dir/time.txt"
    t=$(sed -n 's/.*Elapsed (wall clock) time (h:mm:ss or m:ss): //p' "$dir/time.txt" |
        awk -F: '{ s = 0; for (i = 1; i <= NF; i++) s = s * 60 + $i; print s }')
    r=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$dir/time.txt")
    if [[ -z $best ]] || awk "BEGIN { exit !($t < $best) }"; then best=$t rss=$r; fi
  done
  printf '| %-46s | %8.2f s | %8.1f MB |\n' "$name" "$best" "$(awk "BEGIN { print $rss / 1024 }")"
}

echo "snapshot: $snap, $(stat -c %s "$snap") bytes; $(nproc) cores; $(date -u +%F)"
$bin status -w simple "$snap"
echo
echo "| command | wall (best of $runs) | peak RSS |"
echo "|---|---|---|"
# shellcheck disable=SC2086
measure "etcd-dr snapshot status" $bin status "$snap"
# shellcheck disable=SC2086
measure "etcd-dr snapshot status --skip-hash-check" $bin status --skip-hash-check "$snap"
# shellcheck disable=SC2086
measure "etcd-dr snapshot verify" $bin verify "$snap"
measure "etcdctl 3.4.23 snapshot status" /usr/bin/etcdctl snapshot status "$snap"
b35=$(edr_etcd35_bindir)
[[ -n $b35 ]] && measure "etcdutl 3.5.16 snapshot status" "$b35/etcdutl" snapshot status "$snap"
exit 0
