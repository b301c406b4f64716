#!/usr/bin/env bash
# playbook_rotate.sh [VERSION] - playbooks/snapshot-rotate.json against a lab
# of 3 real hosts, run 5 times with keep=3 into a dir that already holds two
# old snapshots and an unrelated file.  Checks: exactly 3 snapshot files
# remain, the last 3 runs' (their revisions, read by etcdctl, are those the
# cluster served just before each run), each passes `etcd-dr snapshot
# verify`; the old ones went first; the unrelated file is untouched; with m1
# down the snapshot comes from another member; the default keep is 7.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/playbook_lib.sh"
VERSION=${1:-3.4}
LAB=pbs${VERSION/./}
lab_up 3 "$VERSION"
write_pb_spec "$WORK/cluster.json"
DIR=$WORK/snaps
mkdir -p "$DIR"

lab put-data 100 1000 --prefix /kept/ >/dev/null 2>&1
lab snapshot "$DIR/snapshot-20200101-000000Z.db" >/dev/null 2>&1
cp "$DIR/snapshot-20200101-000000Z.db" "$DIR/snapshot-20200102-000000Z.db"
echo "not a snapshot" >"$DIR/README.txt"
snaps() { (cd "$DIR" && ls snapshot-*.db 2>/dev/null); }
verify() { "$ETCD_DR" snapshot verify "$1" >/dev/null 2>&1; }
snap_rev() { ETCDCTL_API=3 "$LAB_ETCDCTL" snapshot status "$1" -w json 2>/dev/null |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["revision"])'; }

for n in 1 2 3 4 5; do
  ctl put /rotate/last "$n" >/dev/null
  rev[$n]=$(revision_on 1)
  pb_run snapshot-rotate s$n --var dir="$DIR" --var keep=3
  check "run $n: snapshot-rotate exits 0 (got $RC)" test "$RC" = 0
  sleep 1.1   # snapshot names have one-second resolution
done
check "exactly 3 snapshots kept: $(snaps | tr '\n' ' ')" test "$(snaps | wc -l)" = 3
check "the two old ones (2020) were removed first" eval '! grep -q ^snapshot-2020 <<<"$(snaps)"'
for f in $(snaps); do
  check "$f passes etcd-dr snapshot verify" verify "$DIR/$f"
done
kept_revs=$(for f in $(snaps); do snap_rev "$DIR/$f"; done | tr '\n' ' ')
check "the 3 kept are the last 3 runs' (revisions $kept_revs; served before them: ${rev[3]} ${rev[4]} ${rev[5]})" \
  test "$kept_revs" = "${rev[3]} ${rev[4]} ${rev[5]} "
check "the unrelated file is untouched" test "$(cat "$DIR/README.txt")" = "not a snapshot"
check "no partial file left" test -z "$(ls "$DIR" | grep -v -e '^snapshot-.*\.db$' -e '^README.txt$')"

# m1 down: the snapshot comes from the first healthy member
lab etcd 1 stop >/dev/null 2>&1
pb_run snapshot-rotate s6 --var dir="$DIR" --var keep=3
check "with m1 down: exits 0 (got $RC)" test "$RC" = 0
check "with m1 down: saved from another member ($(grep -ho "saved [^\"]*" "$WORK/out" "$WORK/err" | sed -n 1p))" \
  grep -qE "saved .* from (member )?'?m[23]" "$WORK/out" "$WORK/err"
check "with m1 down: still 3 snapshots" test "$(snaps | wc -l)" = 3
lab etcd 1 start >/dev/null 2>&1
sleep 1.1

# default keep (7): 3 + 5 more runs -> 7
for n in 7 8 9 10 11; do
  pb_run snapshot-rotate s$n --var dir="$DIR"
  sleep 1.1
done
check "default keep: 7 snapshots after 5 more runs (got $(snaps | wc -l))" test "$(snaps | wc -l)" = 7
