#!/usr/bin/env bash
# Benchmark: `etcd-dr restore` against the same restore as a parallel OpenSSH
# shell script (scripts/bench/openssh-restore.sh), on a lab of real hosts,
# alternating A B A B from the same starting state, with medians and ratio.
#
#   scripts/bench-restore.sh [--members N] [--size-mb MB] [--rounds R] [--etcd 3.4|3.5]
#
# Defaults: 3 members, a ~75 MB snapshot, 3 rounds, etcd 3.4.  Prints a
# markdown table for docs/BENCHMARKS.md.  Run it on a quiet machine.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
members=3 size_mb=75 rounds=3 version=3.4
while (($#)); do
  case $1 in
    --members) members=$2; shift 2 ;;
    --size-mb) size_mb=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --etcd) version=$2; shift 2 ;;
    *) echo "usage: $0 [--members N] [--size-mb MB] [--rounds R] [--etcd 3.4|3.5]" >&2; exit 2 ;;
  esac
done
lab="$repo/tests/lab/lab.sh"
name=bench
work=$(mktemp -d /tmp/edr-bench.XXXXXX)
cleanup() { "$lab" down --name "$name" >/dev/null 2>&1 || true; rm -rf "$work"; }
trap cleanup EXIT

"$repo/scripts/deps.sh" >/dev/null 2>&1
cmake -S "$repo" -B "$repo/build-bench" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$repo/build-bench" -j"$(nproc)" >/dev/null
etcd_dr=$repo/build-bench/etcd-dr

"$lab" up --name "$name" --hosts "$members" --etcd "$version" >/dev/null 2>&1
eval "$("$lab" env --name "$name")"
# ~size_mb of 100 kB values
"$lab" put-data --name "$name" $((size_mb * 10)) 100000 --prefix /bench/ >/dev/null 2>&1
"$lab" snapshot --name "$name" "$work/snap.db" >/dev/null 2>&1
snap_bytes=$(stat -c %s "$work/snap.db")
want=$("$lab" checksum --name "$name" --prefix /bench/)

cat >"$work/cluster.json" <<JSON
{"ssh_user": "root", "identity_file": "$LAB_KEY", "known_hosts": "$LAB_KNOWN_HOSTS",
 "stop_command": ["$LAB_HOST_SERVICE", "stop"], "start_command": ["$LAB_HOST_SERVICE", "start"],
 "members": [$(i=0; for ip in $LAB_HOSTS; do i=$((i+1)); [[ $i -gt 1 ]] && printf ','; printf '{"name": "m%d", "peer_urls": ["http://%s:2380"]}' $i "$ip"; done)]}
JSON

# Between runs: drop the kept old member dirs so every run starts alike.
reset_hosts() {
  local i
  for i in $(seq 1 "$members"); do
    "$lab" exec --name "$name" "$i" sh -c 'rm -rf /var/lib/etcd/member.etcd-dr-* /var/lib/etcd/member.bak-*'
  done
  sync
}

now() { date +%s.%N; }
run_a() {
  "$etcd_dr" restore -q --yes --cluster "$work/cluster.json" --snapshot "$work/snap.db" >/dev/null 2>"$work/a.err" ||
    { cat "$work/a.err" >&2; return 1; }
}
run_b() {
  "$repo/scripts/bench/openssh-restore.sh" "$work/snap.db" "$LAB_KEY" "$LAB_KNOWN_HOSTS" \
    "$LAB_INITIAL_CLUSTER" "$LAB_ENDPOINTS" "$LAB_HOST_SERVICE"
}

declare -a ta tb
for r in $(seq 1 "$rounds"); do
  for which in a b; do
    reset_hosts
    t0=$(now)
    "run_$which"
    t1=$(now)
    got=$("$lab" checksum --name "$name" --prefix /bench/)
    [[ $got == "$want" ]] || { echo "round $r $which: data differs after restore" >&2; exit 1; }
    d=$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.3f", b - a}')
    if [[ $which == a ]]; then ta+=("$d"); else tb+=("$d"); fi
    printf 'round %d %-8s %6.2fs\n' "$r" "$([[ $which == a ]] && echo etcd-dr || echo openssh)" "$d" >&2
  done
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
ma=$(median "${ta[@]}") mb=$(median "${tb[@]}")
printf '\n| members | snapshot | etcd | rounds | etcd-dr restore (median) | OpenSSH script (median) | ratio |\n'
printf '|---|---|---|---|---|---|---|\n'
printf '| %d | %d MB | %s | %d | %.2f s | %.2f s | %.2f |\n' "$members" $((snap_bytes / 1000000)) \
  "$version" "$rounds" "$ma" "$mb" "$(awk -v a="$ma" -v b="$mb" 'BEGIN {print a / b}')"
