#!/usr/bin/env bash
# playbook_k8s.sh [VERSION] - playbooks/restore-kubernetes.json on a lab of 3
# real hosts, each with a (fake) kube-apiserver static pod manifest.  The
# cluster is running, as under Kubernetes, when the restore starts.  Checks:
# the snapshot's keys and values back on every member, nothing written after
# it; revisions bumped past every revision the old cluster served, and the
# snapshot's revisions marked compacted (so watchers relist); every member
# healthy and started; each manifest back with its own content, nothing left
# where it was parked, and - from the run's journal - parked on every host
# before etcd was stopped anywhere and put back only after the cluster was
# healthy again.  Each host runs stand-ins for kubelet (starts
# kube-apiserver while the manifest is in the manifests dir, stops it 2 s
# after it is gone, as a pod's graceful termination) and kube-apiserver
# (logs whenever its host's etcd is not running while it is): no
# kube-apiserver may see its etcd down, and every one runs again at the end.
# Needs etcd >= 3.5.10 (--bump-revision): 3.5 only.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/playbook_lib.sh"
VERSION=${1:-3.5}
LAB=pbk${VERSION/./}

# The lab's hosts share the machine's PID namespace, so the playbook's
# `pgrep -x kube-apiserver` sees every stand-in on the machine.  Stand-ins
# left by an earlier run of this test whose lab is gone (their mount
# namespace is no longer any lab's) would make it wait in vain: remove them.
# Ours only: the command lines this test writes, outside every live lab.
live_mnt=" $(for f in /run/edr-lab/*/ns/mnt-*; do stat -L -c %i "$f" 2>/dev/null; done | tr '\n' ' ') "
for p in $(pgrep -f '^/bin/bash /etc/etcd-lab/k8s/(kubelet|kube-apiserver)( |$)' || true); do
  ino=$(stat -L -c %i "/proc/$p/ns/mnt" 2>/dev/null) || continue
  [[ $live_mnt == *" $ino "* ]] || { echo "info: removing a stand-in left by an earlier run: pid $p"; kill -KILL "$p" 2>/dev/null; }
done
lab_up 3 "$VERSION"
write_pb_spec "$WORK/cluster.json"
MANIFEST=/etc/etcd-lab/k8s/manifests/kube-apiserver.yaml
PARKED=/etc/etcd-lab/k8s/kube-apiserver.yaml.etcd-dr-parked

for i in 1 2 3; do
  on_host "$i" sh -c "mkdir -p /etc/etcd-lab/k8s/manifests &&
    printf 'apiVersion: v1\nkind: Pod\nmetadata: {name: kube-apiserver-m$i}\n' >$MANIFEST"
done
manifest_sums=$(for i in 1 2 3; do on_host "$i" sha256sum "$MANIFEST"; done)

# The stand-ins (named so that `pgrep -x kube-apiserver` finds them).
for i in 1 2 3; do
  on_host "$i" sh -c 'cat >/etc/etcd-lab/k8s/kube-apiserver <<"EOS"
#!/bin/bash
echo "$(date +%s.%N) kube-apiserver started" >>/etc/etcd-lab/k8s/log
while :; do
  /etc/etcd-lab/service status >/dev/null 2>&1 ||
    echo "$(date +%s.%N) VIOLATION: etcd not running while kube-apiserver runs" >>/etc/etcd-lab/k8s/log
  sleep 0.1
done
EOS
cat >/etc/etcd-lab/k8s/kubelet <<"EOS"
#!/bin/bash
M=$1 apid=
while :; do
  if [ -e "$M" ]; then
    if [ -z "$apid" ] || ! kill -0 "$apid" 2>/dev/null; then /etc/etcd-lab/k8s/kube-apiserver & apid=$!; fi
  elif [ -n "$apid" ] && kill -0 "$apid" 2>/dev/null; then
    sleep 2; kill "$apid"; wait "$apid" 2>/dev/null
    echo "$(date +%s.%N) kube-apiserver stopped" >>/etc/etcd-lab/k8s/log
  fi
  sleep 0.2
done
EOS
chmod 755 /etc/etcd-lab/k8s/kube-apiserver /etc/etcd-lab/k8s/kubelet'
  on_host "$i" setsid /etc/etcd-lab/k8s/kubelet "$MANIFEST" </dev/null >/dev/null 2>&1 &
done
apiservers_up() { # every host's log says its kube-apiserver started (again) last
  local i
  for i in 1 2 3; do
    [[ $(on_host "$i" sh -c 'grep -v VIOLATION /etc/etcd-lab/k8s/log 2>/dev/null | tail -1') == *started ]] || return 1
  done
}
for _ in $(seq 50); do apiservers_up && break; sleep 0.1; done
check "kube-apiserver stand-ins run on every host" apiservers_up

lab put-data 200 500 --prefix /kept/ >/dev/null 2>&1
before=$(checksum_on 1 /kept/)
lab snapshot "$WORK/snap.db" >/dev/null 2>&1
snap_rev=$(revision_on 1)
lab put-data 300 100 --prefix /after/ >/dev/null 2>&1
for k in $(seq 20); do ctl put /churn/x "$k" >/dev/null; done
old_rev=$(revision_on 1)

pb_run restore-kubernetes k1 --snapshot "$WORK/snap.db" --var manifest="$MANIFEST" --var parked="$PARKED"
check "run restore-kubernetes.json exits 0 (got $RC)" test "$RC" = 0

for i in 1 2 3; do
  check "m$i healthy" healthy_on "$i"
  check "m$i serves every key and value of the snapshot" test "$(checksum_on "$i" /kept/)" = "$before"
  check "m$i has nothing written after the snapshot" test "$(checksum_on "$i" /after/ | cut -d' ' -f1)" = 0
  check "m$i: manifest back, its own content" \
    test "$(on_host "$i" sha256sum "$MANIFEST")" = "$(sed -n "${i}p" <<<"$manifest_sums")"
  check "m$i: nothing left where it was parked" on_host "$i" test ! -e "$PARKED"
  check "m$i: the manifests dir holds only the manifest" \
    test "$(on_host "$i" ls -A /etc/etcd-lab/k8s/manifests)" = "kube-apiserver.yaml"
  check "m$i: revision bumped past the old cluster's ($old_rev)" test "$(revision_on "$i")" -gt "$old_rev"
  check "m$i: no staging or agent left" test -z "$(leftovers "$i")"
done
check "etcdctl: members m1 m2 m3, all started, their URLs" test "$(ctl_members)" = "$(want_members)"
check "etcdctl: endpoint health on all 3" all_endpoints_healthy
for i in 1 2 3; do
  check "m$i: kube-apiserver was stopped during the run" on_host "$i" grep -q "kube-apiserver stopped" /etc/etcd-lab/k8s/log
  check "m$i: kube-apiserver never ran while its etcd was down" \
    eval '! on_host $i grep VIOLATION /etc/etcd-lab/k8s/log'
done
for _ in $(seq 30); do apiservers_up && break; sleep 0.1; done
check "every kube-apiserver runs again after the run" apiservers_up
out=$(ctl get /kept/000000 --rev="$snap_rev" 2>&1)
check "the snapshot's revision $snap_rev is marked compacted (watchers relist)" \
  contains "$out" "required revision has been compacted"
contains "$out" "required revision has been compacted" || echo "$out" | tail -3

# From the journal (one writer, appended line by line in the order things
# happened; its clock has only milliseconds): per host, its first move-aside
# is the parking (the restore's own swap of the member dir comes later), its
# move-back the return.
check "journal: every manifest parked before etcd was stopped anywhere; back only after the cluster was healthy" \
  python3 - "$(journal k1)" <<'PY'
import json, sys
ev = [json.loads(l) for l in open(sys.argv[1])]
hosts = sorted({e["host"] for e in ev if "host" in e})
def at(pred):
    return [k for k, e in enumerate(ev) if pred(e)]
parked = [at(lambda e: e.get("host") == h and e.get("step") == "move-aside" and e.get("event") == "done")[0] for h in hosts]
stops = at(lambda e: e.get("step") == "stop" and e.get("event") == "start")
gone = at(lambda e: e.get("step") == "exec" and e.get("event") == "done")
assert len(gone) == 3 and max(parked) < min(gone) and max(gone) < min(stops), \
    "the wait for kube-apiserver to go did not run between parking and stopping"
healthy = at(lambda e: e.get("event") == "gate" and e.get("gate") == "health" and e.get("state") == "done")
backs = at(lambda e: e.get("step") == "move-back" and e.get("event") == "start")
print("journal lines: parked", parked, "stops", stops, "healthy", healthy, "move-backs", backs)
assert len(hosts) == 3 and len(stops) == 3 and len(backs) == 3 and len(healthy) == 1
assert max(parked) < min(stops), "a manifest was still in place when etcd was stopped"
assert min(backs) > healthy[0], "a manifest came back before the cluster was healthy"
t = lambda k: ev[k]["t"]
assert t(max(parked)) <= t(min(stops)) and t(healthy[0]) <= t(min(backs)), "journal clock goes backwards"
PY
