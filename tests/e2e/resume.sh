#!/usr/bin/env bash
# resume.sh - the coordinator is killed (SIGKILL) in the middle of a run,
# then `etcd-dr restore --resume RUN` finishes it: checked on the hosts.
# While the first still runs, a second `--resume RUN` or `rollback RUN` is
# refused, naming the first's pid, on this machine (the journal's lock) and
# from a second machine (the hosts' locks name the first coordinator).
# Once while prepare runs (nothing changed: prepare starts over), once in
# the middle of apply (finished steps are not redone, the host that had
# installed its restored member is recognised).
. "$(dirname "$0")/lib.sh"
LAB=eresume
lab_up 3 3.4
lab put-data 300 1000 --prefix /r/ >/dev/null 2>&1
lab snapshot "$WORK/snap.db" >/dev/null 2>&1
want=$(checksum_on 1 /r/)
lab put-data 20 100 --prefix /after/ >/dev/null 2>&1
export ETCD_DR_STATE_DIR=$WORK/state

# m3's stop waits for a go-ahead, so the run is caught in the middle of
# apply whatever the timing: m1 and m2 installed, m3 not yet.  The cluster
# is down first, as in a disaster: with it running, its leader would be
# stopped last (after m3), and the kill would find it not yet installed.
lab disaster >/dev/null 2>&1
write_spec "$WORK/cluster.json"
python3 - "$WORK/cluster.json" <<'PY'
import json, sys
p = sys.argv[1]; s = json.load(open(p))
s["members"][2]["stop_command"] = ["/bin/sh", "-c", "while [ ! -e /tmp/edr-go ]; do sleep 0.1; done; exec /etc/etcd-lab/service stop"]
json.dump(s, open(p, "w"))
PY

journal_has() { # journal_has RUN PATTERN
  grep -q "$2" "$ETCD_DR_STATE_DIR/runs/$1/journal.jsonl" 2>/dev/null
}
run_id_of() { sed -n 's/^etcd-dr: run \([0-9a-f-]*\): restoring.*/\1/p' "$1"; }

# 1. killed in the middle of apply: m1 and m2 have installed, m3 is stopping
"$ETCD_DR" restore --yes --cluster "$WORK/cluster.json" --snapshot "$WORK/snap.db" \
  >"$WORK/a.out" 2>"$WORK/a.err" &
a=$!
run=""
for _ in $(seq 1 300); do
  [[ -z $run ]] && run=$(run_id_of "$WORK/a.err")
  if [[ -n $run ]] && journal_has "$run" '"host":"m1","index":[0-9]*,"step":"install","event":"done"' &&
     journal_has "$run" '"host":"m2","index":[0-9]*,"step":"install","event":"done"'; then
    break
  fi
  sleep 0.05
done
# a second coordinator on the same run, while the first waits on m3: refused
"$ETCD_DR" restore --yes --resume "$run" >"$WORK/two.out" 2>"$WORK/two.err"; rc=$?
check "second coordinator, resume: refused with exit 4 (got $rc)" test "$rc" = 4
check "second coordinator, resume: names the run and the pid holding it" \
  contains "$(cat "$WORK/two.err")" "run $run is in use by another etcd-dr on this machine: pid $a ("
[[ $rc == 4 ]] || cat "$WORK/two.err"
"$ETCD_DR" rollback --yes "$run" --cluster "$WORK/cluster.json" >"$WORK/two.out" 2>"$WORK/two.err"; rc=$?
check "second coordinator, rollback: refused with exit 4 (got $rc), naming the pid" \
  eval 'test "$rc" = 4 && contains "$(cat "$WORK/two.err")" "pid $a ("'
check "second coordinator: wrote nothing to the run's journal" \
  test -z "$(grep -E '"event":"(resume|begin)"' "$ETCD_DR_STATE_DIR/runs/$run/journal.jsonl" | sed -n 2p)"
check "second coordinator: the first still runs" kill -0 "$a"
# the same rollback from a second machine (its own host name, its own state
# dir: no journal lock to meet): the hosts' locks name the first coordinator
# and refuse it; nothing is rolled back under the running restore
# (not host_state: all_states below is lib.sh's, etcd running and the data dir)
lock_state() { on_host "$1" sh -c 'ls -d /var/lib/etcd/member* /var/lib/etcd/.etcd-dr-* 2>/dev/null; cat /var/lib/etcd/.etcd-dr-lock'; }
m1_before=$(lock_state 1) m3_before=$(lock_state 3)
unshare --uts sh -c 'hostname edr-second-machine && exec "$@"' sh \
  env ETCD_DR_STATE_DIR="$WORK/state-second" "$ETCD_DR" rollback --yes "$run" \
  --cluster "$WORK/cluster.json" >"$WORK/far.out" 2>"$WORK/far.err"; rc=$?
check "second machine, rollback: refused with exit 4 (got $rc)" test "$rc" = 4
check "second machine, rollback: names the first coordinator, its machine and pid" \
  contains "$(cat "$WORK/far.err")" "another coordinator drives run $run: pid $a on $(hostname) (restore, since "
check "second machine, rollback: says how to take the lock if the first is gone" \
  contains "$(cat "$WORK/far.err")" "--break-lock"
[[ $rc == 4 ]] || cat "$WORK/far.err"
check "second machine: m1's member dirs, marker and lock are as the first left them" \
  test "$(lock_state 1)" = "$m1_before"
check "second machine: m3's staging (the first's restored member) and lock are untouched" \
  eval 'test "$(lock_state 3)" = "$m3_before" && grep -q "/.etcd-dr-$run\$" <<<"$m3_before"'
check "second machine: the first still runs" kill -0 "$a"
kill -KILL "$a"; wait "$a" 2>/dev/null
on_host 3 touch /tmp/edr-go   # the agent on m3 finishes its stop on its own
check "killed in apply: the run had an id ($run)" test -n "$run"
check "killed in apply: m3 had not installed" test -z "$(grep '"host":"m3".*"step":"install","event":"done"' "$ETCD_DR_STATE_DIR/runs/$run/journal.jsonl")"
check "killed in apply: the lock stays on the hosts" on_host 1 grep -q "$run" /var/lib/etcd/.etcd-dr-lock
check "killed in apply: m1 itself records its install as done" on_host 1 grep -q " install$" "/var/lib/etcd/.etcd-dr-$run.done"
check "killed in apply: m3 records no install" test -z "$(on_host 3 grep ' install$' "/var/lib/etcd/.etcd-dr-$run.done" 2>/dev/null)"

"$ETCD_DR" restore --yes --resume "$run" >"$WORK/r.out" 2>"$WORK/r.err"; rc=$?
check "resume: exit 0 (got $rc)" test "$rc" = 0
[[ $rc == 0 ]] || cat "$WORK/r.err"
check "resume: says apply had started" contains "$(cat "$WORK/r.err")" "apply had started"
check "resume: m1's finished steps were not redone" test -z "$(grep -E '"host":"m1","step":"(move-aside|install|stop)","event":"start"' "$WORK/r.out")"
check "resume: m3's unfinished steps were done" grep -q '"host":"m3","step":"install","event":"done"' "$WORK/r.out"
for i in 1 2 3; do
  check "m$i: every key and value of the snapshot" test "$(checksum_on "$i" /r/)" = "$want"
  check "m$i: nothing written after it" test "$(checksum_on "$i" /after/ | cut -d' ' -f1)" = 0
  check "m$i: exactly one old member dir kept" test "$(on_host "$i" sh -c 'ls -d /var/lib/etcd/member.etcd-dr-* | wc -l')" = 1
  check "m$i: old member dir kept holds the data written after the snapshot" on_host "$i" sh -c "grep -qa /after/000001 /var/lib/etcd/member.etcd-dr-$run/snap/db /var/lib/etcd/member.etcd-dr-$run/wal/*.wal"
  check "m$i: healthy" healthy_on "$i"
  check "m$i: no lock or staging left" test -z "$(leftovers "$i")$(on_host "$i" ls /var/lib/etcd/.etcd-dr-lock 2>/dev/null)"
done
check "one cluster" test "$(cluster_id_on 1)" = "$(cluster_id_on 3)"
check "the hosts' markers are removed at the end" \
  test -z "$(on_host 1 ls /var/lib/etcd/.etcd-dr-$run.done 2>/dev/null)$(on_host 3 ls /var/lib/etcd/.etcd-dr-$run.done 2>/dev/null)"
check "the report names the run" grep -q "\"run_id\": \"$run\"" "$ETCD_DR_STATE_DIR/runs/$run/report.json"

"$ETCD_DR" restore --yes --resume "$run" >"$WORK/r2.out" 2>"$WORK/r2.err"; rc=$?
check "resume of a finished run: exit 0, nothing to do (got $rc)" test "$rc" = 0
check "resume of a finished run: says so" contains "$(cat "$WORK/r2.err")" "nothing to resume"

# 2. killed during prepare (the push): nothing had changed; resume starts prepare over
lab put-data 300 50000 --prefix /p/ >/dev/null 2>&1
lab snapshot "$WORK/snap2.db" >/dev/null 2>&1
want2=$(checksum_on 1 /p/)
write_spec "$WORK/plain.json"
before=$(all_states)
"$ETCD_DR" restore --yes --cluster "$WORK/plain.json" --snapshot "$WORK/snap2.db" \
  >"$WORK/b.out" 2>"$WORK/b.err" &
b=$!
run2=""
for _ in $(seq 1 300); do
  [[ -z $run2 ]] && run2=$(run_id_of "$WORK/b.err")
  [[ -n $run2 ]] && journal_has "$run2" '"step":"push-snapshot","event":"start"' && break
  sleep 0.02
done
kill -KILL "$b"; wait "$b" 2>/dev/null
sleep 1
after=$(all_states)
check "killed in prepare: etcd still running, member dirs untouched" \
  test "$(echo "$before" | cut -d' ' -f1-3)" = "$(echo "$after" | cut -d' ' -f1-3)"
[[ $(echo "$before" | cut -d' ' -f1-3) == $(echo "$after" | cut -d' ' -f1-3) ]] ||
  printf 'before the run:\n%s\n1 s after the kill:\n%s\n' "$before" "$after"
"$ETCD_DR" restore --yes --resume "$run2" >"$WORK/r3.out" 2>"$WORK/r3.err"; rc=$?
check "resume after prepare: exit 0 (got $rc)" test "$rc" = 0
[[ $rc == 0 ]] || cat "$WORK/r3.err"
check "resume after prepare: says prepare starts again" contains "$(cat "$WORK/r3.err")" "prepare starts again"
for i in 1 2 3; do
  check "m$i: data of the second snapshot" test "$(checksum_on "$i" /p/)" = "$want2"
  check "m$i: nothing left" test -z "$(leftovers "$i")"
done
