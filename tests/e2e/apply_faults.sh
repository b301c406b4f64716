#!/usr/bin/env bash
# apply_faults.sh - nothing fails after a stop that a check could have caught,
# and rollback brings back the pre-run state from a failure at any apply step.
#
# 1. Spec mistakes that used to fail only after every member was stopped are
#    refused first: a wal_dir inside the member dir (by the spec check, before
#    any connection), a wal_dir that is a mount point, a data_dir_owner the
#    host does not know, a stop command that does not exist (by the check
#    phase).  Each time every member still runs and serves its data.
# 2. For every apply step of a restore with its own WAL dir (read from the
#    plan, so a new step is walked too), a failure is injected at that step on
#    m2 (EDR_FAILPOINTS, test builds only); the restore exits 5, then
#    `rollback RUN` exits 0 and every member serves the data it had before
#    the run, healthy, one cluster.
. "$(dirname "$0")/lib.sh"
LAB=eflt
need_root
if [[ $(grep -c EDR_FAILPOINTS "$ETCD_DR") == 0 ]]; then
  fail "$ETCD_DR was built without -DEDR_FAILPOINTS=ON (scripts/test.sh builds with it)"
  exit 1
fi
lab_up 3 3.5
lab put-data 40 200 --prefix /a/ >/dev/null 2>&1
lab snapshot "$WORK/snap.db" >/dev/null 2>&1

# Members with their WAL in a directory of its own, as the restore sets up.
lab disaster --wipe >/dev/null 2>&1
for i in 1 2 3; do
  on_host "$i" sh -c 'echo ETCD_WAL_DIR=/etc/etcd-lab/wal >> /etc/etcd-lab/etcd.env'
done
write_spec "$WORK/cluster.json"
set_field() { # set_field IN OUT KEY JSON-VALUE
  python3 - "$@" <<'PY'
import json, sys
s = json.load(open(sys.argv[1])); s[sys.argv[3]] = json.loads(sys.argv[4])
json.dump(s, open(sys.argv[2], "w"))
PY
}
set_field "$WORK/cluster.json" "$WORK/cluster.json" wal_dir '"/etc/etcd-lab/wal"'
"$ETCD_DR" restore --yes --cluster "$WORK/cluster.json" --snapshot "$WORK/snap.db" >"$WORK/out" 2>"$WORK/err"
rc=$?
check "setup: restore with a wal dir exits 0 (got $rc)" test "$rc" = 0
[[ $rc == 0 ]] || { cat "$WORK/err"; exit 1; }
lab put-data 30 100 --prefix /b/ >/dev/null 2>&1
want_a=$(checksum_on 1 /a/)
want_b=$(checksum_on 1 /b/)

# Every member runs and serves the pre-run data, and nothing of a run is left.
same_as_before() { # same_as_before WHAT
  local i
  for i in 1 2 3; do
    check "$1: m$i runs and is healthy" healthy_on "$i"
    check "$1: m$i serves the old /a/ keys" test "$(checksum_on "$i" /a/)" = "$want_a"
    check "$1: m$i serves the keys written after the snapshot" \
      test "$(checksum_on "$i" /b/)" = "$want_b"
  done
  check "$1: one cluster of m1 m2 m3" test "$(member_names_on 1)" = "m1 m2 m3"
}
same_as_before "before"
states_before=$(all_states)

# ---- 1. spec mistakes refused before anything is stopped -------------------
set_field "$WORK/cluster.json" "$WORK/inside.json" wal_dir '"/var/lib/etcd/member/wal"'
"$ETCD_DR" restore --yes --cluster "$WORK/inside.json" --snapshot "$WORK/snap.db" >"$WORK/out" 2>"$WORK/err"
rc=$?
check "wal_dir inside member: exit 2 (got $rc)" test "$rc" = 2
check "wal_dir inside member: the message names the member, the field and why" \
  grep -q "member 'm1': field 'wal_dir': '/var/lib/etcd/member/wal' is inside the member dir '/var/lib/etcd/member', which a restore moves aside" "$WORK/err"
"$ETCD_DR" plan --cluster "$WORK/inside.json" >"$WORK/out" 2>"$WORK/err"
check "wal_dir inside member: plan refuses it too" test "$?" = 2
check "wal_dir inside member: no host changed" test "$(all_states)" = "$states_before"

refused_at_check() { # refused_at_check WHAT SPEC HOST-NAME REASON
  local rc
  "$ETCD_DR" restore --yes --cluster "$2" --snapshot "$WORK/snap.db" >"$WORK/out" 2>"$WORK/err"
  rc=$?
  check "$1: exit 4, refused in the check phase (got $rc)" test "$rc" = 4
  check "$1: the message names $3 and the reason" grep -q "$3 (.*$4" "$WORK/err"
  [[ $rc == 4 ]] && grep -q "$3 (.*$4" "$WORK/err" || sed 's/^/    /' "$WORK/err"
  check "$1: no member was stopped" test "$(grep -c '"step": *"stop"' "$WORK/out")" = 0
  check "$1: no host changed" test "$(all_states)" = "$states_before"
  local i
  for i in 1 2 3; do check "$1: m$i healthy" healthy_on "$i"; done
}

# A wal dir that is a mount point cannot be renamed (EBUSY).
on_host 3 mount --bind /etc/etcd-lab/wal /etc/etcd-lab/wal
refused_at_check "wal_dir a mount point" "$WORK/cluster.json" m3 \
  "wal_dir '/etc/etcd-lab/wal' is a mount point"
on_host 3 umount /etc/etcd-lab/wal

set_field "$WORK/cluster.json" "$WORK/owner.json" data_dir_owner '"etcdx:etcd"'
refused_at_check "unknown data_dir_owner" "$WORK/owner.json" m1 \
  "data_dir_owner 'etcdx:etcd': user 'etcdx' not found"

set_field "$WORK/cluster.json" "$WORK/stop.json" stop_command '["/usr/local/bin/no-such-stop"]'
refused_at_check "missing stop command" "$WORK/stop.json" m1 \
  "stop_command: .*no-such-stop"
same_as_before "after the refused runs"

# ---- 2. a failure at every apply step, then rollback -----------------------
# EDR_FAULT_MATRIX=FILE: append one Markdown row per fault (the table in
# docs/safety.md is made this way).
matrix_row() { # matrix_row STEP EXIT ROLLBACK-EXIT
  [[ -n ${EDR_FAULT_MATRIX:-} ]] || return 0
  local stands
  stands=$(sed -n '/^where each host stands:/,/^$/s/^  \(m[0-9]: .*\)/\1/p' "$WORK/err" |
    sed 's/etcd-dr-[0-9]\{8\}-[0-9]\{6\}-[0-9a-f]\{4\}/etcd-dr-RUN/g' |
    awk 'NR > 1 { printf "<br>" } { printf "%s", $0 }')
  printf '| %s | %s | %s | %s |\n' "$1" "$2" "${stands:-no host was changed}" \
    "exit $3; every member serves its pre-run data" >>"$EDR_FAULT_MATRIX"
}
"$ETCD_DR" plan --cluster "$WORK/cluster.json" --snapshot "$WORK/snap.db" --format json \
  >"$WORK/plan.json" 2>/dev/null
mapfile -t steps < <(python3 - "$WORK/plan.json" <<'PY'
import json, sys
plan = json.load(open(sys.argv[1]))
m2 = next(h for h in plan["hosts"] if h["member"] == "m2")
for s in m2["steps"]:
    if s["phase"] == "apply":
        print(s["kind"])
PY
)
check "the plan has the apply steps to walk (${steps[*]})" test "${#steps[@]}" -ge 9
for step in "${steps[@]}"; do
  EDR_FAILPOINTS="$step@m2" "$ETCD_DR" restore --yes --cluster "$WORK/cluster.json" \
    --snapshot "$WORK/snap.db" >"$WORK/out" 2>"$WORK/err"
  rc=$?
  rc_restore=$rc
  run=$(sed -n 's/^etcd-dr: run \([0-9a-f-]*\): restoring.*/\1/p' "$WORK/err")
  check "fault at $step: the message names m2 and the step" grep -q "m2 (.*): $step: failpoint" "$WORK/err"
  if [[ $rc == 4 ]]; then # before anything changed (the apply stage's lock)
    check "fault at $step: exit 4 says no host was changed" grep -q "no host was changed" "$WORK/err"
  else
    check "fault at $step: the restore exits 5 (got $rc)" test "$rc" = 5
    check "fault at $step: it names the rollback command" grep -q "etcd-dr rollback $run" "$WORK/err"
  fi
  "$ETCD_DR" rollback "$run" --yes --cluster "$WORK/cluster.json" >"$WORK/rout" 2>"$WORK/rerr"
  rc=$?
  check "fault at $step: rollback exits 0 (got $rc)" test "$rc" = 0
  [[ $rc == 0 ]] || sed 's/^/    /' "$WORK/err" "$WORK/rerr"
  same_as_before "after rollback of a fault at $step"
  matrix_row "$step" "$rc_restore" "$rc"
  for i in 1 2 3; do
    check "fault at $step: m$i has no lock left" \
      test -z "$(on_host "$i" sh -c 'ls /var/lib/etcd/.etcd-dr-lock 2>/dev/null')"
  done
done
