#!/usr/bin/env bash
# prune.sh - `etcd-dr prune` on a lab of 3 real hosts: three restores leave
# three old member dirs on every host; the dry run lists them and removes
# nothing; --remove without a terminal and without --yes refuses; --keep 1
# --remove --yes removes the two older runs and keeps the newest; what must
# survive does: a decoy named almost like a run (member.etcd-dr-notarun), a
# symlink named like a run's dir (and what it points to), an old run whose
# marker says it is unfinished.  The cluster stays healthy with its data.
. "$(dirname "$0")/lib.sh"
LAB=eprune
lab_up 3 3.5
lab put-data 200 500 --prefix /p/ >/dev/null 2>&1
lab snapshot "$WORK/snap.db" >/dev/null 2>&1
want=$(checksum_on 1 /p/)
write_spec "$WORK/cluster.json"

runs=()
for k in 1 2 3; do
  "$ETCD_DR" restore --yes --cluster "$WORK/cluster.json" --snapshot "$WORK/snap.db" \
    >"$WORK/out" 2>"$WORK/err"
  rc=$?
  check "restore $k exits 0 (got $rc)" test "$rc" = 0
  [[ $rc == 0 ]] || cat "$WORK/err"
  runs+=("$(sed -n 's/^etcd-dr: run \([0-9a-f-]*\): restoring.*/\1/p' "$WORK/err")")
  sleep 1 # run ids have one-second resolution: keep their order unambiguous
done
r1=${runs[0]} r2=${runs[1]} r3=${runs[2]}
for i in 1 2 3; do
  check "m$i: three old member dirs before the prune" \
    on_host "$i" test -d "/var/lib/etcd/member.etcd-dr-$r1" -a -d "/var/lib/etcd/member.etcd-dr-$r2" -a -d "/var/lib/etcd/member.etcd-dr-$r3"
done

# What must survive whatever the policy says.
on_host 1 sh -c 'mkdir -p /var/lib/etcd/member.etcd-dr-notarun && echo decoy > /var/lib/etcd/member.etcd-dr-notarun/f
  mkdir -p /etc/etcd-lab/elsewhere && echo precious > /etc/etcd-lab/elsewhere/f
  ln -s /etc/etcd-lab/elsewhere /var/lib/etcd/member.etcd-dr-20200101-000000-abcd'
unfinished=20200102-000000-abcd
on_host 2 sh -c "mkdir -p /var/lib/etcd/member.etcd-dr-$unfinished && echo x > /var/lib/etcd/member.etcd-dr-$unfinished/f
  echo '5 stop' > /var/lib/etcd/.etcd-dr-$unfinished.done"
before=$(all_states)

# 1. the dry run: lists, removes nothing
"$ETCD_DR" prune --keep 1 --cluster "$WORK/cluster.json" >"$WORK/out" 2>"$WORK/err"
rc=$?
out=$(cat "$WORK/out")
check "dry run exits 0 (got $rc)" test "$rc" = 0
[[ $rc == 0 ]] || cat "$WORK/err"
check "dry run: the older runs are marked REMOVE" contains "$out" "REMOVE  $r1"
check "dry run: ... both of them" contains "$out" "REMOVE  $r2"
check "dry run: the newest is kept" contains "$out" "keep    $r3"
check "dry run: sizes and ages shown" grep -qE "REMOVE  $r1  [0-9]+[sm].* old, [0-9.]+ [kMG]?B" "$WORK/out"
check "dry run: the decoy is named and left alone" contains "$out" "member.etcd-dr-notarun: not a name etcd-dr gives"
check "dry run: the symlink is left alone" contains "$out" "member.etcd-dr-20200101-000000-abcd  (left alone: a symlink)"
check "dry run: the unfinished run is kept" contains "$out" "keep    $unfinished"
check "dry run: says nothing was removed" contains "$out" "dry run: nothing was removed"
check "dry run: nothing changed on any host" test "$(all_states)" = "$before"
"$ETCD_DR" prune --keep 1 -w json --cluster "$WORK/cluster.json" >"$WORK/out" 2>"$WORK/err"; rc=$?
check "dry run -w json: exit 0, stdout one document: every host would remove $r1 and $r2, not $r3" \
  python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
ok = d["dry_run"] is True and len(d["hosts"]) == 3 and all(
    set(h["decision"]["remove"]) == {sys.argv[2], sys.argv[3]} for h in d["hosts"])
sys.exit(not ok or sys.argv[4] != "0")' "$WORK/out" "$r1" "$r2" "$rc"
check "dry run -w json: nothing changed on any host" test "$(all_states)" = "$before"

# 2. --remove without a terminal and without --yes: refused before any host
"$ETCD_DR" prune --keep 1 --remove --cluster "$WORK/cluster.json" >"$WORK/out" 2>"$WORK/err"
rc=$?
check "--remove without --yes off a terminal exits 2 (got $rc)" test "$rc" = 2
check "... and says to add --yes" grep -q -- "--yes" "$WORK/err"
check "... nothing changed on any host" test "$(all_states)" = "$before"

# 3. on a terminal, the table is shown and asked for; "no" removes nothing
python3 "$E2E_DIR/pty_answer.py" no "$ETCD_DR" prune --keep 1 --remove \
  --cluster "$WORK/cluster.json" >"$WORK/out" 2>&1
out=$(cat "$WORK/out")
check "answered no: exit 7, asked once" contains "$out" "EXIT 7 ASKED 1"
check "answered no: the table was shown before the question" \
  python3 -c 'import sys; o = open(sys.argv[1]).read(); i = o.find("REMOVE  " + sys.argv[2]); sys.exit(not (0 <= i < o.find("Type \"yes\"")))' "$WORK/out" "$r1"
check "answered no: nothing changed on any host (no lock left)" test "$(all_states)" = "$before"

# 4. another run holds a host's lock: refused in the check, nothing removed anywhere
on_host 3 sh -c 'echo "{\"run_id\":\"20261201-000000-0bad\",\"user\":\"alice\",\"command\":\"restore\"}" > /var/lib/etcd/.etcd-dr-lock'
locked=$(all_states)
"$ETCD_DR" prune --keep 1 --remove --yes --cluster "$WORK/cluster.json" >"$WORK/out" 2>"$WORK/err"
rc=$?
check "another run's lock on m3: exit 4 (got $rc)" test "$rc" = 4
check "... the message names that run" grep -q "locked by run 20261201-000000-0bad" "$WORK/err"
check "... nothing removed on any host" test "$(all_states)" = "$locked"
on_host 3 rm /var/lib/etcd/.etcd-dr-lock

# 5. the prune
"$ETCD_DR" prune --keep 1 --remove --yes --cluster "$WORK/cluster.json" >"$WORK/out" 2>"$WORK/err"
rc=$?
check "prune --keep 1 --remove --yes exits 0 (got $rc)" test "$rc" = 0
[[ $rc == 0 ]] || cat "$WORK/err"
check "summary: prune done" grep -q "prune done" "$WORK/err"
report=$(sed -n 's/^report: //p' "$WORK/err")
check "a report was written" test -s "$report"
check "a journal was written" test -s "$(dirname "$report")/journal.jsonl"
check "the report lists what was removed" grep -q "member.etcd-dr-$r1\"" "$report"
check "the report says pruned" grep -q '"outcome": "pruned"' "$report"
for i in 1 2 3; do
  check "m$i: run $r1's member dir removed" on_host "$i" test ! -e "/var/lib/etcd/member.etcd-dr-$r1"
  check "m$i: run $r2's member dir removed" on_host "$i" test ! -e "/var/lib/etcd/member.etcd-dr-$r2"
  check "m$i: the newest run's member dir kept" on_host "$i" test -s "/var/lib/etcd/member.etcd-dr-$r3/snap/db"
  check "m$i: the member dir in use untouched" on_host "$i" test -s /var/lib/etcd/member/snap/db
  check "m$i: no lock, trash or agent left" test -z "$(on_host "$i" sh -c \
    'ls -d /var/lib/etcd/.etcd-dr-lock /var/lib/etcd/.etcd-dr-pruning-* /tmp/etcd-dr.* 2>/dev/null')"
  check "m$i healthy" healthy_on "$i"
  check "m$i serves its data" test "$(checksum_on "$i" /p/)" = "$want"
done
check "m1: the decoy survives" on_host 1 grep -q decoy /var/lib/etcd/member.etcd-dr-notarun/f
check "m1: the symlink survives" on_host 1 test -L /var/lib/etcd/member.etcd-dr-20200101-000000-abcd
check "m1: what it points to survives" on_host 1 grep -q precious /etc/etcd-lab/elsewhere/f
check "m2: the unfinished run survives" on_host 2 test -s "/var/lib/etcd/member.etcd-dr-$unfinished/f"
check "m2: its marker survives" on_host 2 test -s "/var/lib/etcd/.etcd-dr-$unfinished.done"
check "cluster accepts writes" sh -c "ETCDCTL_API=3 $LAB_ETCDCTL --endpoints=$LAB_ENDPOINTS put /post/x y >/dev/null"

# 6. the newest run can still be rolled back after the prune
"$ETCD_DR" rollback "$r3" --yes --cluster "$WORK/cluster.json" >"$WORK/out" 2>"$WORK/err"
rc=$?
check "rollback of the kept run exits 0 (got $rc)" test "$rc" = 0
[[ $rc == 0 ]] || cat "$WORK/err"
check "after the rollback: data served" test "$(checksum_on 1 /p/)" = "$want"

# 7. a second prune: nothing of the policy's left to remove but the run the
# rollback set aside (r3 is the newest and keeps both of its dirs)
"$ETCD_DR" prune --keep 1 --remove --yes --cluster "$WORK/cluster.json" >"$WORK/out" 2>"$WORK/err"
rc=$?
check "second prune exits 0 (got $rc)" test "$rc" = 0
check "second prune: nothing to remove" grep -q "nothing to remove on any host" "$WORK/err"
for i in 1 2 3; do
  check "m$i: the rolled-back run's dirs are kept" on_host "$i" test -d "/var/lib/etcd/member.etcd-dr-$r3-restored"
done
