#!/usr/bin/env bash
# The same restore as `etcd-dr restore`, written the way operators write it
# with OpenSSH: per host in parallel, copy the snapshot with scp, then one ssh
# that stops etcd, moves the old member dir aside, restores, fixes ownership
# and starts etcd; then poll `etcdctl endpoint health` until all are healthy.
# Used by scripts/bench.sh and scripts/bench-restore.sh as the baseline; not
# part of etcd-dr.  (A member dir that is already gone is fine; health is
# polled once a second for up to 120 s, like etcd-dr's default timeout.)
#
#   openssh-restore.sh SNAPSHOT KEY KNOWN_HOSTS INITIAL_CLUSTER ENDPOINTS SERVICE
set -euo pipefail
snap=$1 key=$2 kh=$3 ic=$4 eps=$5 service=$6
token=restore-$(date +%s%N)
opts=(-i "$key" -o UserKnownHostsFile="$kh" -o StrictHostKeyChecking=yes -o BatchMode=yes)

restore_one() {
  local name=$1 url=$2 ip
  ip=${url#http://}; ip=${ip%:*}
  scp -q "${opts[@]}" "$snap" "root@$ip:/var/lib/etcd/snapshot-$token.db"
  ssh "${opts[@]}" "root@$ip" "set -e
    tool=\$(command -v etcdutl || command -v etcdctl)
    $service stop
    if [ -d /var/lib/etcd/member ]; then mv /var/lib/etcd/member /var/lib/etcd/member.bak-$token; fi
    ETCDCTL_API=3 \$tool snapshot restore /var/lib/etcd/snapshot-$token.db \
      --name $name --initial-cluster $ic --initial-cluster-token $token \
      --initial-advertise-peer-urls $url --data-dir /var/lib/etcd/restore-$token >/dev/null 2>&1
    mv /var/lib/etcd/restore-$token/member /var/lib/etcd/member
    rmdir /var/lib/etcd/restore-$token
    rm -f /var/lib/etcd/snapshot-$token.db
    chown -R etcd:etcd /var/lib/etcd
    $service start"
}

pids=()
IFS=, read -ra members <<<"$ic"
for m in "${members[@]}"; do
  restore_one "${m%%=*}" "${m#*=}" &
  pids+=($!)
done
for p in "${pids[@]}"; do wait "$p"; done

etcdctl=$(command -v etcdctl)
for _ in $(seq 120); do
  ETCDCTL_API=3 "$etcdctl" --endpoints="$eps" endpoint health >/dev/null 2>&1 && exit 0
  sleep 1
done
echo "openssh-restore: cluster not healthy after 120 tries" >&2
exit 1
