#!/usr/bin/env bash
# playbook_restore.sh VERSION - playbooks/restore.json end to end on a lab of
# 3 real hosts: its plan is `etcd-dr restore --transfer direct`'s, step for
# step (only the lock's holder says "run"); then data, a real snapshot, more data, a
# disaster, `etcd-dr run playbooks/restore.json`.  Checks what an operator
# would: every key and value of the snapshot back on every member and
# nothing written after it, every member healthy and started under its name,
# a new cluster id, the old member dirs kept aside, nothing of etcd-dr left.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/playbook_lib.sh"
VERSION=${1:-3.5}
LAB=pbr${VERSION/./}
lab_up 3 "$VERSION"
write_pb_spec "$WORK/cluster.json"

lab put-data 300 1000 --prefix /kept/ >/dev/null 2>&1
before=$(checksum_on 1 /kept/)
lab snapshot "$WORK/snap.db" >/dev/null 2>&1
lab put-data 50 100 --prefix /after/ >/dev/null 2>&1
old_cluster=$(cluster_id_on 1)
old_inodes=$(for i in 1 2 3; do on_host "$i" stat -c %i /var/lib/etcd/member; done)

# The playbook's plan is restore's (the same run id, the lock holder aside)
# with the snapshot pushed to every host from here: a playbook's push steps
# do not relay (docs/transfer.md, "Playbooks").
"$ETCD_DR" plan --cluster "$WORK/cluster.json" --snapshot "$WORK/snap.db" --format json \
  --transfer direct --run-id same >"$WORK/plan-restore.json" 2>"$WORK/err"
"$ETCD_DR" run "$PLAYBOOKS/restore.json" --cluster "$WORK/cluster.json" --snapshot "$WORK/snap.db" \
  --dry-run --format json --run-id same >"$WORK/plan-run.json" 2>>"$WORK/err"
rc=$?
check "run --dry-run --format json exits 0 (got $rc)" test "$rc" = 0
check "restore.json: every host's steps (kinds, commands, agent requests) are etcd-dr restore's" \
  python3 - "$WORK/plan-restore.json" "$WORK/plan-run.json" <<'PY'
import json, sys
def steps(f):
    p = json.load(open(f))
    out = []
    for h in p["hosts"]:
        for s in h["steps"]:
            req = s.get("request") or {}
            if isinstance(req.get("holder"), dict):
                req["holder"].pop("command", None)
            out.append((h["member"], s["kind"], s.get("command"), json.dumps(req, sort_keys=True)))
    return out
a, b = steps(sys.argv[1]), steps(sys.argv[2])
for x, y in zip(a, b):
    if x != y:
        print("restore:", x, "\nrun:    ", y)
sys.exit(0 if a == b and a else 1)
PY

lab disaster >/dev/null 2>&1
pb_run restore r1 --snapshot "$WORK/snap.db"
check "run restore.json exits 0 (got $RC)" test "$RC" = 0
check "summary says every member done" test "$(grep -cE '^  m[123] .* done ' "$WORK/err")" = 3

for i in 1 2 3; do
  check "m$i healthy" healthy_on "$i"
  check "m$i serves every key and value of the snapshot" test "$(checksum_on "$i" /kept/)" = "$before"
  check "m$i has nothing written after the snapshot" test "$(checksum_on "$i" /after/ | cut -d' ' -f1)" = 0
  check "m$i: old member dir kept aside as member.etcd-dr-r1 (same inode)" \
    test "$(on_host "$i" stat -c %i /var/lib/etcd/member.etcd-dr-r1)" = "$(sed -n "${i}p" <<<"$old_inodes")"
  check "m$i: no staging or agent left" test -z "$(leftovers "$i")"
  check "m$i: host lock released" on_host "$i" test ! -e /var/lib/etcd/.etcd-dr-lock
done
check "etcdctl: members m1 m2 m3, all started, their URLs" test "$(ctl_members)" = "$(want_members)"
check "etcdctl: endpoint health on all 3" all_endpoints_healthy
new_cluster=$(cluster_id_on 1)
check "one cluster under a new id ($old_cluster -> $new_cluster)" \
  test "$(cluster_id_on 2)" = "$new_cluster" -a "$(cluster_id_on 3)" = "$new_cluster" -a "$new_cluster" != "$old_cluster"
check "cluster accepts writes" ctl put /post/x y
check "report: command run, playbook restore, exit 0, every host's restore step ok" \
  python3 - "$WORK/report-r1.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
assert r["command"] == "run" and r["exit_code"] == 0, (r["command"], r["exit_code"])
assert r["plan"].get("playbook"), "no playbook in the plan"
for h in r["hosts"]:
    assert any(s["kind"] == "restore" and s["status"] == "ok" for s in h["steps"]), h["member"]
PY
