#!/usr/bin/env bash
# waldir.sh - members whose WAL lives in its own directory (--wal-dir): the
# restore stages the WAL beside it, moves an old one aside, installs the new
# one, gives it the data dir's owner, and etcd starts on both.
. "$(dirname "$0")/lib.sh"
LAB=ewal
lab_up 3 3.4
lab put-data 100 500 --prefix /w/ >/dev/null 2>&1
lab snapshot "$WORK/snap.db" >/dev/null 2>&1
want=$(checksum_on 1 /w/)
lab disaster --wipe >/dev/null 2>&1

# /etc/etcd-lab is per host (the root file system is shared between lab
# hosts): the WAL dir goes there, and etcd is told about it.
for i in 1 2 3; do
  on_host "$i" sh -c 'echo ETCD_WAL_DIR=/etc/etcd-lab/wal >> /etc/etcd-lab/etcd.env'
done
write_spec "$WORK/cluster.json"
python3 - "$WORK/cluster.json" <<'PY'
import json, sys
p = sys.argv[1]; s = json.load(open(p)); s["wal_dir"] = "/etc/etcd-lab/wal"
json.dump(s, open(p, "w"))
PY
"$ETCD_DR" restore --yes --cluster "$WORK/cluster.json" --snapshot "$WORK/snap.db" >"$WORK/out" 2>"$WORK/err"
rc=$?
check "wal dir: restore exits 0 (got $rc)" test "$rc" = 0
[[ $rc == 0 ]] || cat "$WORK/err"
check "wal dir: the restore was given --wal-dir" grep -q -- '"--wal-dir"' "$(sed -n 's/^report: //p' "$WORK/err")"
for i in 1 2 3; do
  check "m$i: data back" test "$(checksum_on "$i" /w/)" = "$want"
  check "m$i: the WAL is in the wal dir" on_host "$i" sh -c 'ls /etc/etcd-lab/wal/*.wal >/dev/null'
  check "m$i: no WAL inside the member dir" test -z "$(on_host "$i" sh -c 'ls /var/lib/etcd/member/wal 2>/dev/null')"
  check "m$i: the wal dir belongs to etcd" test "$(on_host "$i" stat -c %U /etc/etcd-lab/wal)" = etcd
  check "m$i: nothing left" test -z "$(leftovers "$i")$(on_host "$i" sh -c 'ls -d /etc/etcd-lab/.etcd-dr-* 2>/dev/null')"
done

# Again, now with an old WAL dir to move aside.
lab put-data 10 100 --prefix /x/ >/dev/null 2>&1
lab disaster >/dev/null 2>&1
"$ETCD_DR" restore --yes --cluster "$WORK/cluster.json" --snapshot "$WORK/snap.db" >"$WORK/out" 2>"$WORK/err"
rc=$?
run=$(sed -n 's/^etcd-dr: run \([0-9a-f-]*\): restoring.*/\1/p' "$WORK/err")
check "wal dir again: restore exits 0 (got $rc)" test "$rc" = 0
for i in 1 2 3; do
  check "m$i: the old wal dir is kept aside" on_host "$i" sh -c "ls /etc/etcd-lab/wal.etcd-dr-$run/*.wal >/dev/null"
  check "m$i: data is the snapshot's" test "$(checksum_on "$i" /w/)" = "$want"
done
