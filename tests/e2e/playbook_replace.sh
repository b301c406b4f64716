#!/usr/bin/env bash
# playbook_replace.sh VERSION - playbooks/replace-member.json on a lab of 3
# real hosts.  First the job: m2's data is lost (etcd stopped, member dir
# left as it was); m1 and m3 hold quorum.  Checks: m1 m2 m3 all started and
# healthy, m2 under a new member id, every key on every member (m2's own
# endpoint too), m2's old member dir kept aside, its env file byte for byte
# as before.  Then a failure: m2 and m3 down, replace m1 - quorum is gone:
# the playbook's first step (the others healthy and a quorum) fails before
# anything is changed (exit 4): etcd still running on m1, member dir in
# place, env file untouched, no copy of it, no lock.  Last, a
# host step (exec) failing on m2 between two steps on all hosts: with
# on_failure stop no host runs the later step, with continue every host does.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/playbook_lib.sh"
VERSION=${1:?usage: playbook_replace.sh 3.4|3.5}
LAB=pbp${VERSION/./}
lab_up 3 "$VERSION"
write_pb_spec "$WORK/cluster.json"

lab put-data 300 1000 --prefix /kept/ >/dev/null 2>&1
before=$(checksum_on 1 /kept/)
old_cluster=$(cluster_id_on 1)
old_id2=$(member_id_of m2)
m2_inode=$(on_host 2 stat -c %i /var/lib/etcd/member)
env_before=$(for i in 1 2 3; do env_sum "$i"; done)

lab etcd 2 stop >/dev/null 2>&1                   # m2 is lost
lab put-data 50 100 --prefix /while-m2-down/ >/dev/null 2>&1
while_down=$(checksum_on 1 /while-m2-down/)

# by name (the shipped playbook), and -w json: the report on stdout too
ETCD_DR_PLAYBOOKS=$PLAYBOOKS "$ETCD_DR" run replace-member --cluster "$WORK/cluster.json" --yes \
  --run-id p1 --report "$WORK/report-p1.json" --var member=m2 -w json >"$WORK/out" 2>"$WORK/err"
RC=$?
[[ $RC == 0 ]] || { echo "--- etcd-dr run replace-member (exit $RC), stderr:"; tail -n 40 "$WORK/err"; }
check "run replace-member --var member=m2 exits 0 (got $RC)" test "$RC" = 0
check "-w json: stdout is the run's report, as --report wrote it" python3 -c '
import json, sys
a, b = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
sys.exit(a != b or a["exit_code"] != 0)' "$WORK/out" "$WORK/report-p1.json"
check "etcdctl: members m1 m2 m3, all started, their URLs" test "$(ctl_members)" = "$(want_members)"
check "etcdctl: endpoint health on all 3" all_endpoints_healthy
new_id2=$(member_id_of m2)
check "m2 is a new member ($old_id2 -> $new_id2)" test -n "$new_id2" -a "$new_id2" != "$old_id2"
for i in 1 2 3; do
  check "m$i healthy, same cluster" eval 'healthy_on $i && test "$(cluster_id_on $i)" = "$old_cluster"'
  check "m$i serves every key and value" test "$(checksum_on "$i" /kept/)" = "$before"
  check "m$i serves what was written while m2 was down" test "$(checksum_on "$i" /while-m2-down/)" = "$while_down"
  check "m$i: env file byte for byte as before" test "$(env_sum "$i")" = "$(sed -n "${i}p" <<<"$env_before")"
  check "m$i: no copy of the env file left" test -z "$(env_leftovers "$i")"
  check "m$i: no staging or agent left" test -z "$(leftovers "$i")"
done
check "m2: old member dir kept aside as member.etcd-dr-p1 (same inode)" \
  test "$(on_host 2 stat -c %i /var/lib/etcd/member.etcd-dr-p1)" = "$m2_inode"
check "m1, m3: nothing moved aside" \
  eval '! on_host 1 sh -c "ls -d /var/lib/etcd/member.etcd-dr-*" 2>/dev/null && ! on_host 3 sh -c "ls -d /var/lib/etcd/member.etcd-dr-*" 2>/dev/null'
lab etcd 2 restart >/dev/null 2>&1
check "m2 restarted as configured: still one healthy cluster of 3" \
  eval 'lab health --timeout 60 >/dev/null 2>&1 && test "$(ctl_members)" = "$(want_members)"'

# ---- the failure: m2 and m3 down, m1 named.  Quorum is gone: the playbook's
# first step (quorum: the others healthy and a quorum of the cluster) fails
# before anything is changed.
lab etcd 3 stop >/dev/null 2>&1
lab etcd 2 stop >/dev/null 2>&1
m1_inode=$(on_host 1 stat -c %i /var/lib/etcd/member)
m1_env=$(env_sum 1)
PB_WANT=4 pb_run replace-member p2 --var member=m1
check "replace m1 with m2, m3 down: exits 4, nothing changed (got $RC)" test "$RC" = 4
summary=$(cat "$WORK/err")
check "summary names the failed step 'quorum'" contains "$summary" "step quorum FAILED"
check "summary says no host was changed" contains "$summary" "no host was changed"
check "m1: etcd still running (stop did not run)" contains "$(host_state 1)" running
check "m1: member dir in place (aside did not run)" \
  eval 'test "$(on_host 1 stat -c %i /var/lib/etcd/member)" = "$m1_inode" && ! on_host 1 sh -c "ls -d /var/lib/etcd/member.etcd-dr-*" 2>/dev/null'
check "m1: env file untouched (set-env did not run), no copy of it" \
  test "$(env_sum 1)" = "$m1_env" -a -z "$(env_leftovers 1)"
check "report: quorum failed; stop, remove, aside, env, add, start did not run" \
  python3 - "$WORK/report-p2.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
assert r["exit_code"] == 4, r["exit_code"]
m1 = next(h for h in r["hosts"] if h["member"] == "m1")
kinds = [s["kind"] for s in m1["steps"]]
print("m1 steps:", kinds, "cluster steps:", [(s["name"], s["status"]) for s in r.get("cluster_steps", [])])
for k in ("stop", "move-aside", "set-env", "start", "reset-env"):
    assert k not in kinds, k + " ran"
cs = {s["name"]: s["status"] for s in r.get("cluster_steps", [])}
assert cs.get("quorum") == "failed" and "remove" not in cs and "add" not in cs, cs
PY
check "m1: host lock released" on_host 1 test ! -e /var/lib/etcd/.etcd-dr-lock
echo "info: the summary of the failed run:"; sed 's/^/info:   /' "$WORK/err"
for i in 1 2 3; do lab etcd "$i" start >/dev/null 2>&1; done
check "after the failed run, the members started again form the cluster they were" \
  eval 'lab health --timeout 60 >/dev/null 2>&1 && test "$(ctl_members)" = "$(want_members)" && test "$(checksum_on 1 /kept/)" = "$before"'

# ---- a host step that fails: the summary names the host and the step; with
# on_failure "stop" no later step runs anywhere (each step is a barrier, also
# for the hosts it does not target), with "continue" it does.
cat >"$WORK/boom.json" <<'JSON'
{"playbook": 1, "name": "boom", "description": "a step that fails on m2",
 "vars": {"then": {"required": true, "description": "file the last step creates"}},
 "steps": [
  {"name": "before", "kind": "exec", "target": "all", "argv": ["/bin/sh", "-c", "echo x > /etc/etcd-lab/before"]},
  {"name": "boom", "kind": "exec", "target": "m2", "argv": ["/bin/sh", "-c", "sleep 1; echo kaboom >&2; exit 3"]},
  {"name": "after", "kind": "exec", "target": "all", "argv": ["/bin/sh", "-c", "echo x > ${then}"]}
 ]}
JSON
run_boom() { # run_boom RUN_ID THEN [on_failure]
  local f=$WORK/boom-$1.json
  if [[ -n ${3:-} ]]; then
    python3 - "$WORK/boom.json" "$f" "$3" <<'PY'
import json, sys
p = json.load(open(sys.argv[1]))
p["steps"][1]["on_failure"] = sys.argv[3]
json.dump(p, open(sys.argv[2], "w"))
PY
  else cp "$WORK/boom.json" "$f"; fi
  "$ETCD_DR" run "$f" --cluster "$WORK/cluster.json" --yes --run-id "$1" --var then="$2" >"$WORK/out" 2>"$WORK/err"
  RC=$?
}
run_boom x1 /etc/etcd-lab/after-stop
check "exec exiting 3 on m2 (on_failure stop): exits 5 (got $RC)" test "$RC" = 5
check "summary: step 'boom' failed on m2, with its stderr" \
  eval 'grep -qE "boom" "$WORK/err" && grep -qE "^ *m2 .*(failed|FAILED)|m2.*boom|boom.*m2" "$WORK/err" && grep -q kaboom "$WORK/err"'
for i in 1 2 3; do
  check "m$i: the step before ran" on_host "$i" test -e /etc/etcd-lab/before
  check "m$i: the step after did not run" on_host "$i" test ! -e /etc/etcd-lab/after-stop
done
run_boom x2 /etc/etcd-lab/after-continue continue
check "the same with on_failure continue: exits 0 (got $RC)" test "$RC" = 0
check "on_failure continue: a warning names m2 and the step" eval 'grep -q boom <<<"$(grep -i "warn" "$WORK/err")"'
for i in 1 2 3; do
  check "m$i: with continue, the step after ran" on_host "$i" test -e /etc/etcd-lab/after-continue
done
echo "info: the summary of the stopped exec run:"; sed 's/^/info:   /' "$WORK/err"
