#!/usr/bin/env bash
# playbook_rebuild.sh VERSION - playbooks/rebuild-from-one.json on a lab of 3
# real hosts after quorum was lost for good: every member down, m3's disk
# gone (no member dir), m2's data stale.  m1 is the seed.  Checks: the same
# cluster (id) with m1 m2 m3 all started and healthy, every key and value on
# every member; m1 kept its own member dir (same inode), m2's old one is kept
# aside; every env file byte for byte as before and no copy of it left; m1
# restarted later stays in the 3-member cluster (ETCD_FORCE_NEW_CLUSTER is
# gone); the members joined one after the other.  First, m3 (no db) as the
# seed is refused before anything changes.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/playbook_lib.sh"
VERSION=${1:?usage: playbook_rebuild.sh 3.4|3.5}
LAB=pbb${VERSION/./}
lab_up 3 "$VERSION"
write_pb_spec "$WORK/cluster.json"

lab put-data 300 1000 --prefix /kept/ >/dev/null 2>&1
before=$(checksum_on 1 /kept/)
old_cluster=$(cluster_id_on 1)
m1_inode=$(on_host 1 stat -c %i /var/lib/etcd/member)
m2_inode=$(on_host 2 stat -c %i /var/lib/etcd/member)
env_before=$(for i in 1 2 3; do env_sum "$i"; done)

lab disaster >/dev/null 2>&1
on_host 3 rm -rf /var/lib/etcd/member          # m3's disk is gone

# A seed without data (m3 lost its disk) is refused before anything is
# stopped or moved: every host exactly as it was.
states=$(all_states)
PB_WANT=4 pb_run rebuild-from-one b0 --var seed=m3
check "seed m3 (no db): exits 4 (got $RC)" test "$RC" = 4
check "seed m3 (no db): the summary names the step seed-has-data on m3" \
  grep -qE 'm3.*seed-has-data|seed-has-data.*m3|m3 .*exec' "$WORK/err"
check "seed m3 (no db): every host unchanged (nothing stopped or moved)" test "$states" = "$(all_states)"
for i in 1 2 3; do check "seed m3 (no db): nothing left on m$i" test -z "$(leftovers "$i")"; done

pb_run rebuild-from-one b1 --var seed=m1
check "run rebuild-from-one.json --var seed=m1 exits 0 (got $RC)" test "$RC" = 0

check "etcdctl: members m1 m2 m3, all started, their URLs" test "$(ctl_members)" = "$(want_members)"
check "etcdctl: endpoint health on all 3" all_endpoints_healthy
for i in 1 2 3; do
  check "m$i healthy" healthy_on "$i"
  check "m$i serves every key and value" test "$(checksum_on "$i" /kept/)" = "$before"
  check "m$i: the same cluster as before ($old_cluster)" test "$(cluster_id_on "$i")" = "$old_cluster"
  check "m$i: env file byte for byte as before" test "$(env_sum "$i")" = "$(sed -n "${i}p" <<<"$env_before")"
  check "m$i: no copy of the env file left" test -z "$(env_leftovers "$i")"
  check "m$i: no staging or agent left" test -z "$(leftovers "$i")"
done
check "m1 (the seed) kept its own member dir (same inode)" test "$(on_host 1 stat -c %i /var/lib/etcd/member)" = "$m1_inode"
check "m1: nothing moved aside" eval '! grep -q . <<<"$(on_host 1 sh -c "ls -d /var/lib/etcd/member.etcd-dr-* 2>/dev/null")"'
check "m2: its old member dir kept aside as member.etcd-dr-b1 (same inode)" \
  test "$(on_host 2 stat -c %i /var/lib/etcd/member.etcd-dr-b1)" = "$m2_inode"
check "m2: a new member dir" test "$(on_host 2 stat -c %i /var/lib/etcd/member)" != "$m2_inode"
check "m3: a new member dir, nothing aside (it had none)" \
  on_host 3 sh -c 'test -d /var/lib/etcd/member/wal && ! ls -d /var/lib/etcd/member.etcd-dr-* 2>/dev/null'
check "report: m2 was added and caught up before m3 was added" python3 - "$WORK/report-b1.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
steps = [(s["name"], s["status"]) for s in r.get("cluster_steps", [])]
print(steps)
names = [n for n, st in steps if st == "ok"]
order = ["seed-healthy", "add[m2]", "caught-up[m2]", "add[m3]", "caught-up[m3]"]
assert all(o in names for o in order), "missing: %s" % [o for o in order if o not in names]
assert [names.index(o) for o in order] == sorted(names.index(o) for o in order)
PY

check "writes on m1 reach m3" eval 'ctl put /post/x after-rebuild >/dev/null && test "$(checksum_on 3 /post/ | cut -d" " -f1)" = 1'
lab etcd 1 restart >/dev/null 2>&1
check "m1 restarted as configured: still healthy" eval 'lab health --timeout 60 >/dev/null 2>&1'
check "m1 restarted: still one cluster of m1 m2 m3 (not forced again)" \
  test "$(member_names_on 1)" = "m1 m2 m3" -a "$(cluster_id_on 1)" = "$old_cluster"
python3 - "$WORK/report-b1.json" "$(journal b1)" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
for s in r.get("cluster_steps", []):
    if s["name"].startswith("add["):
        print("info: %s: %s (%s ms)" % (s["name"], s.get("message"), s.get("duration_ms")))
for l in open(sys.argv[2]):
    if "add[" in l or "retry" in l:
        print("info: journal:", l.strip())
PY
