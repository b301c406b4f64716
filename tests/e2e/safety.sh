#!/usr/bin/env bash
# safety.sh - the safety net on etcd 3.5, checked on the hosts: a run refused
# while another holds the host lock (named: who, from where, since when), a
# stale lock broken on request, two runs at once, --bump-revision auto, a
# member whose etcd fails to start (exit 5, the next command printed) and the
# rollback that follows, a host without the disk space, and a host whose
# sshd dies in the middle of the push.
. "$(dirname "$0")/lib.sh"
LAB=esafe
lab_up 3 3.5
lab put-data 200 1000 --prefix /s/ >/dev/null 2>&1
lab snapshot "$WORK/snap.db" >/dev/null 2>&1
want=$(checksum_on 1 /s/)
lab put-data 30 100 --prefix /after/ >/dev/null 2>&1
after=$(checksum_on 1 /after/)
write_spec "$WORK/cluster.json"
restore=(restore --yes --cluster "$WORK/cluster.json" --snapshot "$WORK/snap.db")

# 1. a lock left by another run: refused, named, nothing changed anywhere
on_host 2 sh -c 'printf "%s\n" "{\"run_id\":\"20260101-000000-dead\",\"user\":\"alice\",\"host\":\"laptop\",\"pid\":4242,\"command\":\"restore\",\"since\":\"2026-01-01T00:00:00Z\"}" > /var/lib/etcd/.etcd-dr-lock'
before=$(all_states)
"$ETCD_DR" "${restore[@]}" >"$WORK/out" 2>"$WORK/err"; rc=$?
check "foreign lock: exit 4 (got $rc)" test "$rc" = 4
check "foreign lock: names holder, host and time" \
  contains "$(cat "$WORK/err")" "locked by run 20260101-000000-dead of alice on laptop (pid 4242, restore) since 2026-01-01T00:00:00Z"
check "foreign lock: hosts unchanged" test "$before" = "$(all_states)"
check "foreign lock: m1 and m3 released their locks" \
  test -z "$(on_host 1 ls /var/lib/etcd/.etcd-dr-lock 2>/dev/null)$(on_host 3 ls /var/lib/etcd/.etcd-dr-lock 2>/dev/null)"
check "foreign lock: the foreign lock is untouched" on_host 2 grep -q alice /var/lib/etcd/.etcd-dr-lock

# 2. --break-lock takes it, the restore runs, and no lock is left after
"$ETCD_DR" "${restore[@]}" --break-lock >"$WORK/out" 2>"$WORK/err"; rc=$?
check "--break-lock: exit 0 (got $rc)" test "$rc" = 0
[[ $rc == 0 ]] || cat "$WORK/err"
check "--break-lock: data back" test "$(checksum_on 3 /s/)" = "$want"
for i in 1 2 3; do
  check "m$i: no lock left after success" test -z "$(on_host "$i" ls /var/lib/etcd/.etcd-dr-lock 2>/dev/null)"
done

# 3. two runs at once: the second is refused and names the first
lab put-data 10 100 --prefix /x/ >/dev/null 2>&1
"$ETCD_DR" "${restore[@]}" >"$WORK/a.out" 2>"$WORK/a.err" &
a=$!
for _ in $(seq 1 100); do
  on_host 1 test -e /var/lib/etcd/.etcd-dr-lock && break
  sleep 0.05
done
"$ETCD_DR" "${restore[@]}" >"$WORK/b.out" 2>"$WORK/b.err"; rcb=$?
wait "$a"; rca=$?
run_a=$(sed -n 's/^etcd-dr: run \([0-9a-f-]*\): restoring.*/\1/p' "$WORK/a.err")
check "two runs: the first succeeds (got $rca)" test "$rca" = 0
check "two runs: the second is refused with 4 (got $rcb)" test "$rcb" = 4
check "two runs: the refusal names the first run ($run_a)" contains "$(cat "$WORK/b.err")" "locked by run $run_a"

# 4. --bump-revision auto: revisions never go backwards, old ones compacted
old_rev=$(curl -s -X POST -d '{}' "http://$(host_ip 1):2379/v3/maintenance/status" |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["header"]["revision"])')
"$ETCD_DR" "${restore[@]}" --bump-revision auto >"$WORK/out" 2>"$WORK/err"; rc=$?
check "bump auto: exit 0 (got $rc)" test "$rc" = 0
[[ $rc == 0 ]] || cat "$WORK/err"
check "bump auto: says how much" contains "$(cat "$WORK/err")" "--bump-revision auto: highest old revision"
for i in 1 2 3; do
  new_rev=$(curl -s -X POST -d '{}' "http://$(host_ip "$i"):2379/v3/maintenance/status" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["header"]["revision"])')
  check "m$i: revision $new_rev is past the old $old_rev" test "$new_rev" -gt "$old_rev"
done
check "bump auto: data is the snapshot's" test "$(checksum_on 2 /s/)" = "$want"
check "bump auto: old revisions are compacted" contains \
  "$(ETCDCTL_API=3 "$LAB_ETCDCTL" --endpoints="http://$(host_ip 1):2379" get /s/000001 --rev=2 2>&1)" compacted

# 5. etcd fails to start on m3: exit 5, the rollback command; then roll back
lab put-data 5 100 --prefix /pre/ >/dev/null 2>&1
pre=$(checksum_on 1 /pre/)
write_spec "$WORK/badstart.json" "$LAB_KNOWN_HOSTS"
python3 - "$WORK/badstart.json" <<'PY'
import json, sys
p = sys.argv[1]; s = json.load(open(p))
s["members"][2]["start_command"] = ["/bin/sh", "-c", "echo 'etcd: cannot bind 2380' >&2; exit 1"]
json.dump(s, open(p, "w"))
PY
"$ETCD_DR" restore --yes --cluster "$WORK/badstart.json" --snapshot "$WORK/snap.db" >"$WORK/out" 2>"$WORK/err"; rc=$?
run=$(sed -n 's/^etcd-dr: run \([0-9a-f-]*\): restoring.*/\1/p' "$WORK/err")
check "bad start: exit 5 (got $rc)" test "$rc" = 5
check "bad start: names m3, the step and etcd's words" contains "$(cat "$WORK/err")" "m3 ($(host_ip 3)): start:"
check "bad start: shows the start command's stderr" contains "$(cat "$WORK/err")" "cannot bind 2380"
check "bad start: prints the rollback command" contains "$(cat "$WORK/err")" "etcd-dr rollback $run --cluster"
# Hosts stop at their next step boundary: each has its old member either
# moved aside (kept) or still in place, never lost.
moved=()
for i in 1 2 3; do
  if on_host "$i" test -d "/var/lib/etcd/member.etcd-dr-$run"; then
    moved[$i]=1
    pass "bad start: m$i old member kept aside"
  else
    moved[$i]=0
    check "bad start: m$i old member still in place" on_host "$i" test -s /var/lib/etcd/member/snap/db
    check "bad start: summary says m$i's data is in place" contains "$(cat "$WORK/err")" "m$i: old data still in place"
  fi
done
check "bad start: m3 (the failed one) got as far as moving its member aside" test "${moved[3]}" = 1
"$ETCD_DR" rollback --yes "$run" --cluster "$WORK/cluster.json" >"$WORK/out" 2>"$WORK/err"; rc=$?
check "rollback: exit 0 (got $rc)" test "$rc" = 0
[[ $rc == 0 ]] || cat "$WORK/err"
for i in 1 2 3; do
  check "rollback: m$i serves the data from before the restore" test "$(checksum_on "$i" /pre/)" = "$pre"
  if [[ ${moved[$i]} == 1 ]]; then
    check "rollback: m$i keeps the restored member aside" on_host "$i" test -d "/var/lib/etcd/member.etcd-dr-$run-restored"
  fi
  check "rollback: m$i healthy" healthy_on "$i"
  check "rollback: m$i keeps no lock, staging or marker of the run" test -z "$(leftovers "$i")"
done
before=$(all_states)
"$ETCD_DR" rollback --yes "$run" --cluster "$WORK/cluster.json" >"$WORK/out" 2>"$WORK/err"; rc=$?
check "second rollback: a no-op, exit 0 (got $rc)" test "$rc" = 0
check "second rollback: says there is nothing to do" contains "$(cat "$WORK/err")" "etcd runs: nothing to do"
check "second rollback: hosts unchanged (etcd not even restarted)" test "$before" = "$(all_states)"
check "second rollback: data unchanged" test "$(checksum_on 2 /pre/)" = "$pre"

# 6. not enough disk on m2 (its data dir on a 16 MB tmpfs): refused before anything
on_host 2 mkdir -p /var/lib/etcd-small
on_host 2 mount -t tmpfs -o size=16m tmpfs /var/lib/etcd-small
python3 - "$WORK/cluster.json" "$WORK/small.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[1])); s["members"][1]["data_dir"] = "/var/lib/etcd-small"
s["members"][1]["data_dir_owner"] = "etcd:etcd"
json.dump(s, open(sys.argv[2], "w"))
PY
before=$(all_states)
"$ETCD_DR" restore --yes --cluster "$WORK/small.json" --snapshot "$WORK/snap.db" >"$WORK/out" 2>"$WORK/err"; rc=$?
check "small disk: exit 4 (got $rc)" test "$rc" = 4
check "small disk: says how much is needed and free" contains "$(cat "$WORK/err")" "m2 ($(host_ip 2)): probe: not enough free disk space on '/var/lib/etcd-small'"
check "small disk: hosts unchanged" test "$before" = "$(all_states)"
on_host 2 umount /var/lib/etcd-small

# 7. m2's sshd dies while the snapshot is pushed: refused, nothing changed
lab put-data 400 100000 --prefix /big/ >/dev/null 2>&1
lab snapshot "$WORK/big.db" >/dev/null 2>&1
before=$(all_states)
"$ETCD_DR" restore --yes --cluster "$WORK/cluster.json" --snapshot "$WORK/big.db" >"$WORK/out" 2>"$WORK/err" &
a=$!
for _ in $(seq 1 200); do
  on_host 2 sh -c 'ls /var/lib/etcd/.etcd-dr-*/snapshot.db.part' >/dev/null 2>&1 && break
  sleep 0.02
done
# only m2's sshd processes: those in its network namespace
for p in $(ip netns pids "edr-$LAB-2"); do
  [[ $(cat "/proc/$p/comm" 2>/dev/null) == sshd ]] && kill -KILL "$p"
done
wait "$a"; rc=$?
check "sshd killed: exit 4 (got $rc)" test "$rc" = 4
check "sshd killed: names m2" contains "$(cat "$WORK/err")" "m2 ($(host_ip 2))"
after_states=$(all_states)
check "sshd killed: etcd still running everywhere, member dirs unchanged (no lock, no staging)" \
  test "$before" = "$after_states"
[[ $before == "$after_states" ]] || { echo "before: $before"; echo "after:  $after_states"; cat "$WORK/err"; }
left=$(leftovers 1)$(leftovers 3)
check "sshd killed: m1 and m3 cleaned up" test -z "$left"
[[ -z $left ]] || echo "left behind: $left"
check "sshd killed: data intact" test "$(checksum_on 1 /pre/)" = "$pre"
