#!/usr/bin/env bash
# kubeadm.sh [VERSION] - the kubeadm preset on a kubeadm-style lab of 3 hosts
# (kubeadm_lib.sh: static pod manifests run by a stand-in kubelet that looks
# every 2 s, client-certificate TLS with kubeadm's PKI layout, https peer
# URLs, no etcd tools on the hosts, a kube-apiserver stand-in).  This
# machine checks health with the health-check client certificate
# (ETCDCTL_CACERT/CERT/KEY).  Checks, on the hosts:
# - `snapshot save --via ssh` with no certificate here (ETCDCTL_* unset):
#   the agent on m2's host takes it from m2's client URL with the host's
#   certificate; `snapshot status` accepts the file, its revision and live
#   keys are the cluster's, nothing is left on the host;
# - a pushed restore tool of another etcd version than the manifests' image
#   is refused in the check phase, nothing changed;
# - `plan --discover HOST --preset kubeadm`: the spec read off m1's
#   manifest and db, each value with where it came from; the same with
#   m1's manifest parked as a run that stopped etcd leaves it;
# - the one-command restore with no spec written and NO client certificate
#   on this machine (ETCDCTL_* unset), `restore --discover HOST
#   --preset kubeadm --snapshot FILE` (the restore tool from this machine's
#   PATH), from a real snapshot: every key back on every member and nothing
#   written after it, the old member dirs kept, manifests back as they were
#   and nothing left parked, kube-apiserver stopped by kubelet before etcd
#   was and started again after it;
# - `rollback` of that restore: the old data back (the keys written after
#   the snapshot too), kube-apiserver parked while etcd was down and back
#   after it, the manifests as they were;
#   `plan` says each member is checked through its host's agent, the run
#   ends healthy checked that way and says so;
# - `status --discover HOST --preset kubeadm` without a certificate here:
#   every member healthy at etcd's revision, one leader, each asked through
#   its host (the hosts have no etcdctl); with m3's etcd stopped, m3 down
#   (its db revision read offline) and m1, m2 up;
# - a playbook's wait-healthy without a certificate here: healthy through
#   the hosts; from here (--health-via here) it cannot be; and with m3's
#   etcd not answering (SIGSTOP) it is reported unhealthy through the
#   hosts, naming m3 and why;
# - that restore, with no certificate here, finds the leader through the
#   hosts and stops it after the others' etcd has exited (the run's log);
# - `run replace-member` on it with no certificate here: member-remove and
#   -add through the hosts' agents, as `run --dry-run` and the run say; a new
#   member id in the member list, its data back, its old member dir kept,
#   the manifest as it was;
# - `run rebuild-from-one` seeded by m3, no certificate here: the leader
#   stopped last, m1's add passing over m2 (down then) for m3, 3 members
#   again, the seed's data everywhere, the old member dirs kept.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/kubeadm_lib.sh"
VERSION=${1:-3.5}
LAB=kadm${VERSION/./}

kubeadm_lab_up 3 "$VERSION"
ip1=$(host_ip 1)
SSH=(--ssh-user root --identity "$LAB_KEY" --known-hosts "$LAB_KNOWN_HOSTS")
export ETCDCTL_CACERT=$KPKI/ca.crt ETCDCTL_CERT=$KPKI/healthcheck-client.crt \
  ETCDCTL_KEY=$KPKI/healthcheck-client.key
spec=$WORK/cluster.json
write_kubeadm_spec "$spec"

check "no etcdctl or etcdutl on the hosts" \
  test -z "$(on_host 1 sh -c 'command -v etcdctl etcdutl; test -x /usr/bin/etcdctl && echo x; true')"

klabdata put 1 300 200 /kept/ >/dev/null
before=$(klabdata checksum 1 /kept/)
ketcdctl --endpoints "https://$ip1:2379" snapshot save "$WORK/snap.db" >"$WORK/save.log" 2>&1 || cat "$WORK/save.log"
check "snapshot taken over TLS" test -s "$WORK/snap.db"

# ---- snapshot save --via ssh: no certificate here, no etcd tool on the hosts
# The agent on m2's host asks m2's client URL with the host's health-check
# certificate (the preset's) and streams the snapshot back.
cluster_rev=$(kcurl 1 /v3/maintenance/status -X POST -d '{}' |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["header"]["revision"])')
cluster_keys=$(kcurl 1 /v3/kv/range -X POST -d '{"key":"AA==","range_end":"AA==","count_only":true}' |
  python3 -c 'import json,sys; print(json.load(sys.stdin).get("count", 0))')
(unset ETCDCTL_CACERT ETCDCTL_CERT ETCDCTL_KEY ETCDCTL_ENDPOINTS ETCDCTL_USER
 kdr snapshot save -o "$WORK/ssh.db" --cluster "$spec" --via ssh --member m2) \
  >"$WORK/out" 2>"$WORK/err"; rc=$?
check "snapshot save --via ssh with ETCDCTL_* unset: exit 0 (got $rc)" test "$rc" = 0
[[ $rc == 0 ]] || cat "$WORK/err"
check "--via ssh: it came through m2's host" grep -q "member 'm2' through its host $(host_ip 2)" "$WORK/out"
check "--via ssh: etcd-dr snapshot status accepts the file" "$ETCD_DR" snapshot status "$WORK/ssh.db"
"$ETCD_DR" snapshot status -w json "$WORK/ssh.db" >"$WORK/ssh.json" 2>/dev/null
snap_field() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$WORK/ssh.json" "$1" 2>/dev/null; }
check "--via ssh: its revision is the cluster's ($(snap_field revision) vs $cluster_rev)" \
  test "$(snap_field revision)" = "$cluster_rev"
check "--via ssh: its live keys are the cluster's ($(snap_field liveKeys) vs $cluster_keys)" \
  test "$(snap_field liveKeys)" = "$cluster_keys"
check "--via ssh: its sha-256 trailer is valid" test "$(snap_field sha256Trailer)" = valid
check "--via ssh: the same keys as etcdctl's snapshot of before" \
  test "$("$ETCD_DR" snapshot status -w json "$WORK/snap.db" | python3 -c 'import json,sys; j=json.load(sys.stdin); print(j["revision"], j["liveKeys"])')" \
  = "$(snap_field revision) $(snap_field liveKeys)"
l=$(leftovers 2)
check "--via ssh: m2's host keeps nothing of etcd-dr${l:+ (found $l)}" test -z "$l"
# the same with no spec written: the spec read off m1 (docs/kubeadm.md step 1)
(unset ETCDCTL_CACERT ETCDCTL_CERT ETCDCTL_KEY ETCDCTL_ENDPOINTS ETCDCTL_USER
 kdr snapshot save -o "$WORK/ssh-d.db" --discover "$ip1" --preset kubeadm "${SSH[@]}" --via ssh) \
  >"$WORK/out" 2>"$WORK/err"; rc=$?
check "snapshot save --discover NODE --preset kubeadm --via ssh: exit 0 (got $rc)" test "$rc" = 0
[[ $rc == 0 ]] || cat "$WORK/err"
check "--discover --via ssh: through a member's host" grep -q "^  from .* through its host " "$WORK/out"
check "--discover --via ssh: a sound file at the cluster's revision" \
  test "$("$ETCD_DR" snapshot status -w json "$WORK/ssh-d.db" | python3 -c 'import json,sys; j=json.load(sys.stdin); print(j["sha256Trailer"], j["revision"])')" = "valid $cluster_rev"
klabdata put 1 50 100 /after/ >/dev/null
# What kubelet did on host I since its events were emptied: kube-apiserver
# stopped, then etcd, etcd started, then kube-apiserver (up to 10 s after
# the run: kubelet looks every 2 s).
check_kubelet_order() { # I WHAT
  local i=$1 ev=$LAB_DIR/h$1/var-log-etcd-lab/kubelet.events t_api_stop t_etcd_stop t_etcd_start t_api_start
  for _ in $(seq 50); do grep -q 'kube-apiserver started' "$ev" && break; sleep 0.2; done
  t_api_stop=$(awk '/kube-apiserver stopped/ {print $1; exit}' "$ev")
  t_etcd_stop=$(awk '/^[0-9.]+ etcd stopped/ {print $1; exit}' "$ev")
  t_etcd_start=$(awk '/^[0-9.]+ etcd started/ {print $1; exit}' "$ev")
  t_api_start=$(awk '/kube-apiserver started/ {print $1; exit}' "$ev")
  check "m$i ($2): kubelet stopped kube-apiserver, then etcd, started etcd, then kube-apiserver" \
    python3 -c 'import sys; t=[float(x) for x in sys.argv[1:]]; sys.exit(t != sorted(t))' \
    "${t_api_stop:-x}" "${t_etcd_stop:-x}" "${t_etcd_start:-x}" "${t_api_start:-x}" 2>/dev/null
}
manifest_sums() { local i; for i in 1 2 3; do on_host "$i" sha256sum "$KMANIFEST" /etc/kubernetes/manifests/kube-apiserver.yaml; done; }
sums=$(manifest_sums)
member_dirs() { local i; for i in 1 2 3; do on_host "$i" stat -c %i /var/lib/etcd/member; done; }
inodes=$(member_dirs)

# The right tool for this cluster, and one of the other version.
if [[ $VERSION == 3.5 ]]; then tool=$LAB_ETCDUTL wrong=/usr/bin/etcdctl wrongv=3.4
else tool=/usr/bin/etcdctl wrong=/var/cache/etcd-dr/etcd-3.5/usr/bin/etcdutl wrongv=3.5; fi
sed "s|\"preset\": \"kubeadm\",|\"preset\": \"kubeadm\", \"restore_tool_push\": \"$wrong\",|" "$spec" >"$WORK/wrong.json"
out=$(kdr restore --cluster "$WORK/wrong.json" --snapshot "$WORK/snap.db" --yes 2>&1)
rc=$?
check "a restore tool of etcd $wrongv is refused (exit 4, was $rc)" test "$rc" = 4
check "the refusal names both versions and the way out" \
  contains "$out" "is etcd $wrongv"
contains "$out" "set restore_tool_push to an etcdutl" || echo "$out" | tail -5
check "nothing changed after the refusal" test "$(member_dirs)" = "$inodes"
check "every member still healthy after the refusal" kwait_healthy 5

sed -i "s|\"preset\": \"kubeadm\",|\"preset\": \"kubeadm\", \"restore_tool_push\": \"$tool\",|" "$spec"

# ---- no spec written: plan and restore --discover HOST --preset kubeadm --------------
# The restore tool comes from this machine's PATH (the preset's default): the
# lab's etcdutl first for 3.5; for 3.4, /usr/bin/etcdctl.
KPATH=$(dirname "$tool"):$PATH
from_of() { # from_of TABLE FIELD: the FROM column of FIELD in discover's side table
  awk -v f="$2" '/^FIELD / { c = index($0, "FROM") } c && $1 == f { print substr($0, c); exit }' <<<"$1"
}
value_of() { # value_of TABLE FIELD: the VALUE column
  awk -v f="$2" '/^FIELD / { c = index($0, "VALUE"); e = index($0, "FROM") } c && $1 == f { v = substr($0, c, e - c); sub(/ +$/, "", v); print v; exit }' <<<"$1"
}
check_from() { # check_from FIELD VALUE FROM: in the plan's side table ($out)
  local got
  got="$(value_of "$out" "$1")|$(from_of "$out" "$1")"
  check "plan: $1 is $2, from: $3" test "$got" = "$2|$3"
  [[ $got == "$2|$3" ]] || { echo "  got: $got"; echo "$out" | sed -n '/^the spec read off/,/^$/p'; }
}
out=$(PATH=$KPATH kdr plan --discover "$ip1" --preset kubeadm --snapshot "$WORK/snap.db" "${SSH[@]}" 2>&1)
rc=$?
check "plan --discover $ip1 --preset kubeadm exits 0 (was $rc)" test "$rc" = 0
((rc == 0)) || echo "$out" | tail -30
cmdline=$(on_host 1 grep -n -- '- command:' "$KMANIFEST" | cut -d: -f1)
check "plan: says the spec was read off $ip1" \
  contains "$out" "the spec read off $ip1 (--discover), each value and where it came from:"
check_from preset "kubeadm" "etcd runs as a kubeadm static pod: $KMANIFEST on $ip1"
check_from manifest "$KMANIFEST" "the manifest discover read on $ip1"
check_from data_dir /var/lib/etcd "$KMANIFEST:$cmdline command (--data-dir)"
check_from etcdctl_cacert /etc/kubernetes/pki/etcd/ca.crt "$KMANIFEST:$cmdline command (--trusted-ca-file)"
check_from etcdctl_cert /etc/kubernetes/pki/etcd/healthcheck-client.crt \
  "kubeadm's layout: its health-check client certificate"
for i in 1 2 3; do
  k=$((i - 1))
  check "plan: members[$k] is m$i, from m1's db" \
    test "$(value_of "$out" "members[$k].name")|$(from_of "$out" "members[$k].name" | cut -d'(' -f1)" = \
    "m$i|/var/lib/etcd/member/snap/db "
  check "plan: members[$k]'s peer URL https://$(host_ip "$i"):2380" \
    test "$(value_of "$out" "members[$k].peer_urls")" = "https://$(host_ip "$i"):2380"
done
check_from "members[0].ssh_host" "$ip1" "the host discover reached"
check_from "members[1].ssh_host" "$(host_ip 2)" "the host of its peer URL"
check "plan: etcd stopped by moving its manifest" \
  contains "$out" "move its static pod manifest $KMANIFEST out of the manifests dir to /etc/kubernetes/etcd.yaml.etcd-dr-stopped"
check "plan: kube-apiserver parked" contains "$out" "park kube-apiserver: move its manifest"
check "plan: the restore tool pushed from this machine's PATH" \
  contains "$out" "push restore tool $tool to "

# a run that stopped etcd on m1 and did not finish left its manifest parked:
# discover reads it there and says so
on_host 1 mv "$KMANIFEST" /etc/kubernetes/etcd.yaml.etcd-dr-stopped
out=$(PATH=$KPATH kdr plan --discover "$ip1" --preset kubeadm --snapshot "$WORK/snap.db" "${SSH[@]}" 2>&1)
rc=$?
check "plan --discover with m1's manifest parked exits 0 (was $rc)" test "$rc" = 0
check_from preset "kubeadm" \
  "etcd runs as a kubeadm static pod: $KMANIFEST on $ip1, parked at /etc/kubernetes/etcd.yaml.etcd-dr-stopped"
check_from manifest "$KMANIFEST" "the manifest discover read on $ip1"
check "plan: the parked manifest is said, word for word" \
  contains "$out" "etcd-dr: warning: etcd's manifest on $ip1 is parked at /etc/kubernetes/etcd.yaml.etcd-dr-stopped: a run of etcd-dr stopped etcd there and did not finish; etcd-dr restore --resume RUN or etcd-dr rollback RUN puts it back"
on_host 1 mv /etc/kubernetes/etcd.yaml.etcd-dr-stopped "$KMANIFEST"
check "m1 healthy again, its manifest back" kwait_healthy 60

# From here on this machine has no client certificate the members accept,
# for health: the waits ask through the hosts' agents.
nocert() { (unset ETCDCTL_CACERT ETCDCTL_CERT ETCDCTL_KEY; "$@"); }
not_contains() { ! contains "$@"; }
# The leader was found through the hosts and stopped last: the run's log
# names it, and its stop began only after every other member's etcd had
# exited (their check-stopped done: no process holds the data dir, nothing
# listens), in the order the run logged them (run OUT, WHAT).  kubelet's
# events are no measure here: it writes "stopped" when its poll of the
# process returns, up to tens of ms late.
check_leader_last() {
  local out=$1 what=$2 leader i at_stop at_exit later=1
  leader=$(sed -n 's/.*: \(m[0-9]\) leads the running cluster: it stops last, after the others.*/\1/p' <<<"$out" | sed -n 1p)
  check "$what: the leader found with no certificate here (the run says who)" test -n "$leader"
  check "$what: no 'leader could not be found'" not_contains "$out" "could not be found"
  [[ -n $leader ]] || { grep -i leader <<<"$out"; return; }
  at_stop=$(grep -n "\"host\":\"$leader\",\"step\":\"stop\",\"event\":\"start\"" <<<"$out" | sed -n '1s/:.*//p')
  for i in 1 2 3; do
    [[ m$i == "$leader" ]] && continue
    at_exit=$(grep -n "\"host\":\"m$i\",\"step\":\"check-stopped\",\"event\":\"done\"" <<<"$out" | sed -n '1s/:.*//p')
    ((${at_exit:-999999} < ${at_stop:-0})) || { later=; echo "  m$i's etcd gone at log line ${at_exit:-?}, $leader's stop began at ${at_stop:-?}"; }
  done
  check "$what: $leader's stop began after every other member's etcd had exited (the run's log)" test -n "$later"
  [[ -n $later ]] || grep -E '"step":"(stop|check-stopped)"' <<<"$out"
}
out=$(PATH=$KPATH nocert kdr plan --discover "$ip1" --preset kubeadm --snapshot "$WORK/snap.db" "${SSH[@]}" 2>&1)
for i in 1 2 3; do
  check "plan: m$i health checked through its host's agent, with its certificates" \
    contains "$out" "m$i: health checked through $(host_ip "$i")'s agent, with its certificates"
done
for i in 1 2 3; do : >"$LAB_DIR/h$i/var-log-etcd-lab/kubelet.events"; done
out=$(PATH=$KPATH nocert kdr restore --discover "$ip1" --preset kubeadm --snapshot "$WORK/snap.db" --yes "${SSH[@]}" 2>&1)
rc=$?
check "restore --discover $ip1 --preset kubeadm, no client certificate here, exits 0 (was $rc)" test "$rc" = 0
((rc == 0)) || echo "$out" | tail -30
check "the restore says its health was checked through the hosts' agents" \
  contains "$out" "; checked through the hosts' agents"
check "the restore says how m2 was checked" \
  contains "$out" "m2: health checked through $(host_ip 2)'s agent, with its certificates"
check "report: every host got the agent with tls (its https member is asked through it)" \
  python3 -c 'import json,sys; r = json.load(open(sys.argv[1]))
assert all(s["agent"] == "etcd-dr-agent" for h in r["hosts"] for s in h["steps"]
           if s["kind"] == "push-agent"), r["hosts"]' "$(sed -n 's/^report: //p' <<<"$out")"
run=$(sed -n 's/.*run \([0-9]\{8\}-[0-9]\{6\}-[0-9a-f]\{4\}\).*/\1/p' <<<"$out" | sed -n 1p)
check_leader_last "$out" "restore"
check "every member healthy" kwait_healthy 30
for i in 1 2 3; do
  check "m$i: every key back" test "$(klabdata checksum "$i" /kept/)" = "$before"
  check "m$i: nothing written after the snapshot" test "$(klabdata checksum "$i" /after/ | cut -d' ' -f1)" = 0
  check "m$i: the old member dir kept as member.etcd-dr-$run" \
    on_host "$i" test -d "/var/lib/etcd/member.etcd-dr-$run/snap"
  check "m$i: nothing left parked" \
    test -z "$(on_host "$i" sh -c 'ls /etc/kubernetes/*.etcd-dr-stopped 2>/dev/null; true')"
  check_kubelet_order "$i" "restore"
done
check "the manifests are back as they were" test "$(manifest_sums)" = "$sums"
check "3 members: m1 m2 m3" test "$(kmember_names_on 1)" = "m1 m2 m3"
check "kube-apiserver runs again on every host, once" \
  test "$(for i in 1 2 3; do on_host "$i" pgrep -c -x --ns $$ --nslist net kube-apiserver 2>/dev/null; done | wc -l)" = 3

# ---- rollback of that restore: the old data back, kube-apiserver parked meanwhile ----
for i in 1 2 3; do : >"$LAB_DIR/h$i/var-log-etcd-lab/kubelet.events"; done
out=$(nocert kdr rollback "$run" --discover "$ip1" --preset kubeadm --yes "${SSH[@]}" 2>&1)
rc=$?
check "rollback $run --discover $ip1 --preset kubeadm exits 0 (was $rc)" test "$rc" = 0
((rc == 0)) || echo "$out" | tail -30
check "every member healthy after the rollback" kwait_healthy 30
for i in 1 2 3; do
  check "m$i: after the rollback, every key of before the snapshot" \
    test "$(klabdata checksum "$i" /kept/)" = "$before"
  check "m$i: after the rollback, the 50 keys written after the snapshot back too" \
    test "$(klabdata checksum "$i" /after/ | cut -d' ' -f1)" = 50
  check "m$i: the restored member dir kept aside" \
    on_host "$i" test -d "/var/lib/etcd/member.etcd-dr-$run-restored/snap"
  check "m$i: nothing left parked after the rollback" \
    test -z "$(on_host "$i" sh -c 'ls /etc/kubernetes/*.etcd-dr-stopped 2>/dev/null; true')"
  check_kubelet_order "$i" "rollback"
done
check "the manifests are as they were after the rollback" test "$(manifest_sums)" = "$sums"
check "kube-apiserver runs again on every host after the rollback" \
  test "$(for i in 1 2 3; do on_host "$i" pgrep -c -x --ns $$ --nslist net kube-apiserver 2>/dev/null; done | wc -l)" = 3

# ---- status through the hosts: no certificate here, no etcd tool on the hosts ----
scol() { awk -v m="$1" -v c="$2" '$1 == m { print $c }' <<<"$out"; }
rev=$(kcurl 1 /v3/maintenance/status -X POST -d '{}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["header"]["revision"])')
out=$(nocert kdr status --discover "$ip1" --preset kubeadm "${SSH[@]}" 2>&1)
rc=$?
check "status --discover $ip1 --preset kubeadm, no certificate here: healthy, exit 0 (was $rc)" test "$rc" = 0
((rc == 0)) || echo "$out" | tail -20
check "status: the verdict is healthy" contains "$out" "verdict: healthy"
for i in 1 2 3; do
  check "status: m$i healthy, asked through its host (VIA ssh)" \
    test "$(scol "m$i" 4) $(scol "m$i" 14)" = "true ssh"
  check "status: m$i at revision $rev (etcd's, asked from here with the certificate)" \
    test "$(scol "m$i" 8)" = "$rev"
  check "status: the notes say m$i was asked through its host with its certificates" \
    contains "$out" "m$i: asked through the agent on its host, with its certificates (no client certificate here"
done
check "status: exactly one leader" test "$(awk '$1 ~ /^m[123]$/ && $5 == "yes"' <<<"$out" | wc -l)" = 1
# m3's etcd stopped (its manifest moved out; kubelet stops the pod)
on_host 3 mv "$KMANIFEST" /etc/kubernetes/etcd.yaml.test-stopped
for _ in $(seq 50); do kcurl 3 /health >/dev/null 2>&1 || break; sleep 0.2; done
out=$(nocert kdr status --discover "$ip1" --preset kubeadm "${SSH[@]}" 2>&1)
rc=$?
on_host 3 mv /etc/kubernetes/etcd.yaml.test-stopped "$KMANIFEST"
check "status with m3's etcd stopped: degraded, exit 6 (was $rc)" test "$rc" = 6
((rc == 6)) || echo "$out" | tail -20
check "status: m3 down (etcd stopped, unreachable)" test "$(scol m3 3) $(scol m3 4)" = "stopped unreachable"
for i in 1 2; do
  check "status: m$i still up through its host" test "$(scol "m$i" 4) $(scol "m$i" 14)" = "true ssh"
done
check "status: m3's db revision read offline ($rev)" test "$(scol m3 15)" = "$rev"
check "status: the verdict says 2 of 3" contains "$out" "verdict: degraded, quorum held (2 of 3 healthy)"
check "status: the notes say m3's host got no answer" contains "$out" "m3: nor through its host's agent: "
check "every member healthy again, m3's manifest back" kwait_healthy 60

# wait-healthy in a playbook, without a certificate here
cat >"$WORK/healthy.json" <<'PB'
{"playbook": 1, "name": "healthy",
 "steps": [{"name": "healthy", "kind": "wait-healthy", "target": "all", "timeout": 6}]}
PB
out=$(nocert kdr run "$WORK/healthy.json" --cluster "$spec" --yes 2>&1)
rc=$?
check "run wait-healthy without a client certificate here exits 0 (was $rc)" test "$rc" = 0
((rc == 0)) || echo "$out" | tail -20
check "wait-healthy says it checked through the hosts' agents" \
  contains "$out" "3 members, one cluster, revision >= "
check "... checked through the hosts' agents" contains "$out" "; checked through the hosts' agents"
out=$(nocert kdr run "$WORK/healthy.json" --cluster "$spec" --yes --health-via here -v 2>&1)
rc=$?
check "from here (--health-via here) the same wait cannot see them healthy (exit $rc)" test "$rc" != 0
check "from here, no host needs the agent with tls (-v says so)" \
  test "$(grep -c 'the agent without tls: nothing this run does asks an https URL' <<<"$out")" = 3
# m3 really not answering (its etcd stopped with SIGSTOP: kubelet keeps it,
# its manifest stays, the port accepts and nothing answers): still unhealthy
# when asked through its host, and the run says which member and why.
m3pid=$(pgrep -f -- "^$LAB_DIR/image/etcd .*--name=m3( |\$)" | sed -n 1p)
check "m3's etcd found" test -n "$m3pid"
kill -STOP "$m3pid"
out=$(nocert kdr run "$WORK/healthy.json" --cluster "$spec" --yes 2>&1)
rc=$?
kill -CONT "$m3pid"
check "wait-healthy with m3 not answering fails through the hosts (exit $rc)" test "$rc" != 0
check "it names m3, asked on its host" contains "$out" "m3 (https://$(host_ip 3):2379, asked on its host): "
check "and why: timed out" contains "$out" "asked on its host): timed out"
contains "$out" "asked on its host): timed out" || echo "$out" | tail -15
check "every member healthy again with m3 going on" kwait_healthy 30

# replace-member m2 with no client certificate here: member-remove and -add
# and the leader lookup ask through the hosts' agents.  Checked on the hosts:
# a new member id in the member list, healthy, its keys back, its old member
# dir kept, the manifest as it was.
old_id=$(kcurl 1 /v3/cluster/member/list -X POST -d '{}' | python3 -c 'import json,sys; print([m["ID"] for m in json.load(sys.stdin)["members"] if m.get("name")=="m2"][0])')
out=$(nocert kdr run "$REPO/playbooks/replace-member.json" --cluster "$spec" --var member=m2 --dry-run 2>&1)
check "plan: replace-member's remove asks m1 and m3 through their hosts' agents" \
  contains "$out" "asks, in turn until one answers: m1 through $ip1's agent; m3 through $(host_ip 3)'s agent"
check "plan: the leader is looked up through the hosts" \
  contains "$out" "asks m1 through $ip1's agent; m2 through $(host_ip 2)'s agent; m3 through $(host_ip 3)'s agent"
out=$(nocert kdr run "$REPO/playbooks/replace-member.json" --cluster "$spec" --var member=m2 --yes 2>&1)
rc=$?
check "run replace-member m2, no client certificate here, exits 0 (was $rc)" test "$rc" = 0
((rc == 0)) || echo "$out" | tail -30
check "the run says the remove asked through the hosts' agents" \
  contains "$out" "member-remove m2: asks m1 through $ip1's agent, with its certificates"
check "the run says the add asked through the hosts' agents" \
  contains "$out" "member-add m2: asks m1 through $ip1's agent, with its certificates"
check "no 'leader could not be found'" not_contains "$out" "could not be found"
run=$(sed -n 's/.*run \([0-9]\{8\}-[0-9]\{6\}-[0-9a-f]\{4\}\).*/\1/p' <<<"$out" | sed -n 1p)
new_id=$(kcurl 1 /v3/cluster/member/list -X POST -d '{}' | python3 -c 'import json,sys; print([m["ID"] for m in json.load(sys.stdin)["members"] if m.get("name")=="m2"][0])')
check "m2 is a new member ($old_id -> $new_id)" test -n "$new_id" -a "$new_id" != "$old_id"
check "every member healthy after replace-member" kwait_healthy 30
check "3 members after replace-member, as m3 lists them" test "$(kmember_names_on 3)" = "m1 m2 m3"
check "m2 has every key again" test "$(klabdata checksum 2 /kept/)" = "$before"
check "m2's old member dir kept as member.etcd-dr-$run" \
  on_host 2 test -d "/var/lib/etcd/member.etcd-dr-$run/snap"
check "the manifests are as they were after replace-member" test "$(manifest_sums)" = "$sums"

# rebuild-from-one with m3 as the seed, no client certificate here: every
# member stopped (the leader last); m1's add asks m2 first, through its host,
# where etcd is down then: passed over for m3, through its host.
ip3=$(host_ip 3)
klabdata put 3 20 100 /seed/ >/dev/null
seed=$(klabdata checksum 3 /seed/)
out=$(nocert kdr run "$REPO/playbooks/rebuild-from-one.json" --cluster "$spec" --var seed=m3 --yes 2>&1)
rc=$?
check "run rebuild-from-one seed=m3, no client certificate here, exits 0 (was $rc)" test "$rc" = 0
((rc == 0)) || echo "$out" | tail -30
check_leader_last "$out" "rebuild-from-one"
check "m1's add asks m2 first, through its host's agent (its etcd down then)" \
  contains "$out" "member-add m1: asks m2 through $(host_ip 2)'s agent, with its certificates"
check "... then m3 through its host's agent" \
  contains "$out" "; m3 through $ip3's agent, with its certificates"
run=$(sed -n 's/.*run \([0-9]\{8\}-[0-9]\{6\}-[0-9a-f]\{4\}\).*/\1/p' <<<"$out" | sed -n 1p)
check "every member healthy after rebuild-from-one" kwait_healthy 30
check "3 members after rebuild-from-one, as m1 lists them" test "$(kmember_names_on 1)" = "m1 m2 m3"
for i in 1 2; do
  check "m$i has the seed's data" test "$(klabdata checksum "$i" /seed/)" = "$seed"
  check "m$i has every key of before" test "$(klabdata checksum "$i" /kept/)" = "$before"
  check "m$i's old member dir kept as member.etcd-dr-$run" \
    on_host "$i" test -d "/var/lib/etcd/member.etcd-dr-$run/snap"
done
check "the manifests are as they were after rebuild-from-one (no --force-new-cluster left)" \
  test "$(manifest_sums)" = "$sums"
