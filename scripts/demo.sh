#!/usr/bin/env bash
# The main job on a local demo cluster, from a fresh Debian machine, as root:
# install what is missing, build, bring up 3 hosts (network namespaces, each
# with its own sshd and etcd member), write data, take a snapshot, cause a
# disaster (every member stopped, every data dir wiped), and bring the
# cluster back with one `etcd-dr restore`.  Then show the data is there.
#
#   scripts/demo.sh             etcd 3.4 (Debian bookworm's)
#   scripts/demo.sh 3.5         etcd 3.5 (Debian trixie's, fetched)
#   KEEP_LAB=1 scripts/demo.sh  leave the demo hosts up afterwards
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
version=${1:-3.4}
lab="$repo/tests/lab/lab.sh"
name=demo

say() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }

"$repo/scripts/deps.sh"
say "building etcd-dr"
cmake -S "$repo" -B "$repo/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$repo/build" -j"$(nproc)" >/dev/null
etcd_dr=$repo/build/etcd-dr

cleanup() { [[ -n ${KEEP_LAB:-} ]] || "$lab" down --name "$name" >/dev/null 2>&1 || true; }
trap cleanup EXIT

say "bringing up 3 hosts with etcd $version (sshd and etcd in each)"
"$lab" up --name "$name" --hosts 3 --etcd "$version"
eval "$("$lab" env --name "$name")"
work=$(mktemp -d /tmp/etcd-dr-demo.XXXXXX)

say "writing 1000 keys"
"$lab" put-data --name "$name" 1000 512 --prefix /demo/
before=$("$lab" checksum --name "$name" --prefix /demo/)
echo "keys and their sha-256: $before"

say "taking a snapshot with etcdctl snapshot save"
"$lab" snapshot --name "$name" "$work/snapshot.db"
"$etcd_dr" snapshot status "$work/snapshot.db" -w table

say "disaster: every member stopped, every data dir wiped"
"$lab" disaster --name "$name" --wipe
for i in 1 2 3; do
  printf 'm%d: %s\n' "$i" "$("$lab" exec --name "$name" "$i" sh -c 'ls -A /var/lib/etcd | wc -l') entries in /var/lib/etcd"
done

cat >"$work/cluster.json" <<JSON
{
  "ssh_user": "root",
  "identity_file": "$LAB_KEY",
  "known_hosts": "$LAB_KNOWN_HOSTS",
  "stop_command": ["$LAB_HOST_SERVICE", "stop"],
  "start_command": ["$LAB_HOST_SERVICE", "start"],
  "members": [
$(i=0; for ip in $LAB_HOSTS; do i=$((i+1)); [[ $i -gt 1 ]] && echo ","; printf '    {"name": "m%d", "peer_urls": ["http://%s:2380"]}' $i "$ip"; done)
  ]
}
JSON
say "the cluster spec"
cat "$work/cluster.json"

say "etcd-dr restore"
echo "\$ etcd-dr restore --cluster cluster.json --snapshot snapshot.db --yes"
"$etcd_dr" restore --cluster "$work/cluster.json" --snapshot "$work/snapshot.db" --yes

say "the data is back"
after=$("$lab" checksum --name "$name" --prefix /demo/)
echo "before the disaster: $before"
echo "after the restore:   $after"
ETCDCTL_API=3 "$LAB_ETCDCTL" --endpoints="$LAB_ENDPOINTS" endpoint status -w table
ETCDCTL_API=3 "$LAB_ETCDCTL" --endpoints="$LAB_ENDPOINTS" get /demo/000042
rm -rf "$work"
if [[ $before == "$after" ]]; then
  say "demo complete: every key and value is back"
else
  echo "demo FAILED: the data differs" >&2
  exit 1
fi
