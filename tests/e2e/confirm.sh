#!/usr/bin/env bash
# confirm.sh - on a terminal, etcd-dr shows the plan and asks before the
# first step that changes a host; "no" ends the run with exit 7 and nothing
# changed (checked on the hosts), "yes" goes on, --yes never asks.  A
# playbook's confirm step asks too, mid-run; without a terminal nobody can
# be asked, so restore, run and rollback refuse to start without --yes.  The terminal is a pty (tests/e2e/pty_answer.py).  Last, the other
# way an operator stops a run: SIGINT/SIGTERM, before and after a change
# (exit 130, the hosts as the summary says, no lock left).
. "$(dirname "$0")/lib.sh"
LAB=econfirm
lab_up 3 3.5
lab put-data 50 100 --prefix /pre/ >/dev/null 2>&1
lab snapshot "$WORK/snap.db" >/dev/null 2>&1
pre=$(checksum_on 1 /pre/)
lab put-data 20 100 --prefix /post/ >/dev/null 2>&1
write_spec "$WORK/cluster.json"
sed -i 's|^{|{\n  "env_file": "/etc/etcd-lab/etcd.env",|' "$WORK/cluster.json"
PTY=(python3 "$E2E_DIR/pty_answer.py")

# 1. restore, answered "no": exit 7, the plan was shown, nothing changed
before=$(all_states)
"${PTY[@]}" no "$ETCD_DR" restore --cluster "$WORK/cluster.json" --snapshot "$WORK/snap.db" \
  >"$WORK/out" 2>&1
out=$(cat "$WORK/out")
check "no: exit 7, asked once" contains "$out" "EXIT 7 ASKED 1"
check "no: the plan was shown before the question" contains "$out" "etcd-dr restore plan"
check "no: says nothing was changed" contains "$out" "no host has been changed"
check "no: hosts unchanged (etcd running, same member dirs)" test "$before" = "$(all_states)"
for i in 1 2 3; do check "no: nothing left on m$i" test -z "$(leftovers "$i")"; done
check "no: data unchanged (post-snapshot keys still there)" \
  test "$(checksum_on 2 /post/ | cut -d' ' -f1)" = 20
contains "$out" "EXIT 7 ASKED 1" || echo "$out" | tail -20

# 2. restore, answered "yes": done
"${PTY[@]}" yes "$ETCD_DR" restore --cluster "$WORK/cluster.json" --snapshot "$WORK/snap.db" \
  >"$WORK/out" 2>&1
out=$(cat "$WORK/out")
check "yes: exit 0, asked once" contains "$out" "EXIT 0 ASKED 1"
check "yes: the snapshot's data is back" test "$(checksum_on 3 /pre/)" = "$pre"
check "yes: keys written after the snapshot are gone" \
  test "$(checksum_on 3 /post/ | cut -d' ' -f1)" = 0
contains "$out" "EXIT 0 ASKED 1" || echo "$out" | tail -20

# 3. --yes on a terminal: never asked
"${PTY[@]}" no "$ETCD_DR" restore --yes --cluster "$WORK/cluster.json" \
  --snapshot "$WORK/snap.db" >"$WORK/out" 2>&1
check "--yes: exit 0 without a question" contains "$(cat "$WORK/out")" "EXIT 0 ASKED 0"

# 4. a playbook's confirm step after a destructive one, answered "no"
cat >"$WORK/pb.json" <<'PB'
{"playbook": 1, "name": "stop-ask-start",
 "steps": [
   {"name": "stop-m2", "kind": "stop", "target": "m2"},
   {"name": "ask", "kind": "confirm", "message": "m2 is stopped; start it again?"},
   {"name": "start-m2", "kind": "start", "target": "m2"}
 ]}
PB
"${PTY[@]}" yes,no "$ETCD_DR" run "$WORK/pb.json" --cluster "$WORK/cluster.json" \
  >"$WORK/out" 2>&1
out=$(cat "$WORK/out")
check "confirm step: asked twice (before the stop, at the step), exit 7" \
  contains "$out" "EXIT 7 ASKED 2"
check "confirm step: the step's message was shown" contains "$out" "m2 is stopped; start it again?"
check "confirm step: the summary says where m2 stands" contains "$out" "m2: stop"
check "confirm step: m2 stays stopped (start-m2 did not run)" \
  contains "$(host_state 2)" stopped
check "confirm step: m1 and m3 untouched" \
  test "$(host_state 1 | sed -n 1p)$(host_state 3 | sed -n 1p)" = runningrunning
check "confirm step: m2's lock released" test -z "$(leftovers 2)"
contains "$out" "EXIT 7 ASKED 2" || echo "$out" | tail -25

# 5. without a terminal nobody can answer: restore, run and rollback refuse
# without --yes (exit 2, nothing contacted), naming --yes; read-only
# commands are unaffected; with --yes the run goes on
export ETCD_DR_STATE_DIR=$WORK/state
before=$(all_states)
"$ETCD_DR" run "$WORK/pb.json" --cluster "$WORK/cluster.json" >"$WORK/out" 2>"$WORK/err"; rc=$?
err=$(cat "$WORK/err")
check "no terminal, run: refused with exit 2 (got $rc)" test "$rc" = 2
check "no terminal, run: the message names --yes" contains "$err" "run it again with --yes"
check "no terminal, run: the message says why" \
  contains "$err" "standard input and standard error are not a terminal"
[[ $rc == 2 ]] || echo "$err" | tail -20
"$ETCD_DR" restore --cluster "$WORK/cluster.json" --snapshot "$WORK/snap.db" >"$WORK/out" 2>"$WORK/err"; rc=$?
check "no terminal, restore: refused with exit 2 (got $rc), naming --yes" \
  eval 'test "$rc" = 2 && contains "$(cat "$WORK/err")" "with --yes"'
"$ETCD_DR" rollback 20260101-000000-dead --cluster "$WORK/cluster.json" >"$WORK/out" 2>"$WORK/err"; rc=$?
check "no terminal, rollback: refused with exit 2 (got $rc), naming --yes" \
  eval 'test "$rc" = 2 && contains "$(cat "$WORK/err")" "with --yes"'
# an operator's terminal, with the output going through '2>&1 | tee log'
"${PTY[@]}" yes "$(command -v bash)" -c 'set -o pipefail; "$@" 2>&1 | tee "$0" >/dev/null' "$WORK/tee.log" \
  "$ETCD_DR" restore --cluster "$WORK/cluster.json" --snapshot "$WORK/snap.db" >"$WORK/out" 2>&1
check "2>&1 | tee: refused with exit 2, nothing asked" contains "$(cat "$WORK/out")" "EXIT 2 ASKED 0"
check "2>&1 | tee: the log says standard error is not a terminal, and --yes" \
  eval 'contains "$(cat "$WORK/tee.log")" "standard error is not a terminal" &&
        contains "$(cat "$WORK/tee.log")" "with --yes"'
check "refused: every host unchanged (etcd running, same member dirs)" test "$before" = "$(all_states)"
for i in 1 2 3; do check "refused: nothing left on m$i (no lock, no staging)" test -z "$(leftovers "$i")"; done
check "refused: no run was started (no run directory)" test -z "$(ls -A "$WORK/state/runs" 2>/dev/null)"
"$ETCD_DR" run "$WORK/pb.json" --cluster "$WORK/cluster.json" --dry-run >"$WORK/out" 2>"$WORK/err"; rc=$?
check "no terminal, run --dry-run: still works without --yes (got $rc)" test "$rc" = 0
"$ETCD_DR" status --cluster "$WORK/cluster.json" >"$WORK/out" 2>"$WORK/err"; rc=$?
check "no terminal, status: still works without --yes (m2 stopped: degraded, got $rc)" \
  eval 'test "$rc" = 6 && grep -q "^verdict: degraded" "$WORK/out"'
"$ETCD_DR" run "$WORK/pb.json" --cluster "$WORK/cluster.json" --yes >"$WORK/out" 2>"$WORK/err"; rc=$?
check "no terminal, --yes: exit 0 (got $rc)" test "$rc" = 0
check "no terminal, --yes: says it went on without asking" contains "$(cat "$WORK/err")" \
  "going on without asking (--yes)"
check "no terminal, --yes: m2 running again" contains "$(host_state 2)" running
check "no terminal, --yes: the cluster serves the data" test "$(checksum_on 2 /pre/)" = "$pre"

# 6. interrupted: during a pause before any change, and after m2 was stopped
interrupt() { # interrupt SIGNAL PLAYBOOK: run it, signal it during its pause
  "$ETCD_DR" run "$2" --cluster "$WORK/cluster.json" --yes >"$WORK/out" 2>"$WORK/err" &
  local pid=$! t
  for t in $(seq 100); do grep -q "step wait:" "$WORK/err" && break; sleep 0.1; done
  kill -"$1" "$pid"
  wait "$pid"
}
cat >"$WORK/int1.json" <<'PB'
{"playbook": 1, "name": "wait-then-stop", "steps": [
   {"name": "wait", "kind": "pause", "seconds": 30},
   {"name": "stop-m2", "kind": "stop", "target": "m2"}]}
PB
before=$(all_states)
interrupt INT "$WORK/int1.json"; rc=$?
check "interrupted before any change: exit 130 (got $rc)" test "$rc" = 130
check "interrupted before any change: says no host was changed" \
  contains "$(cat "$WORK/err")" "no host was changed"
check "interrupted before any change: hosts unchanged, m2 still running" test "$before" = "$(all_states)"
for i in 1 2 3; do check "interrupted before any change: nothing left on m$i" test -z "$(leftovers "$i")"; done
cat >"$WORK/int2.json" <<'PB'
{"playbook": 1, "name": "stop-then-wait", "steps": [
   {"name": "stop-m2", "kind": "stop", "target": "m2"},
   {"name": "wait", "kind": "pause", "seconds": 30},
   {"name": "start-m2", "kind": "start", "target": "m2"}]}
PB
interrupt TERM "$WORK/int2.json"; rc=$?
check "interrupted after stopping m2: exit 130 (got $rc)" test "$rc" = 130
check "interrupted after stopping m2: the summary says etcd is stopped there" \
  contains "$(cat "$WORK/err")" "m2: stop; etcd is STOPPED there"
check "interrupted after stopping m2: m2 stopped, start-m2 did not run" contains "$(host_state 2)" stopped
check "interrupted after stopping m2: m1, m3 running" \
  test "$(host_state 1 | sed -n 1p)$(host_state 3 | sed -n 1p)" = runningrunning
for i in 1 2 3; do check "interrupted after stopping m2: no lock or staging left on m$i" test -z "$(leftovers "$i")"; done
lab etcd 2 start >/dev/null 2>&1
check "m2 started again: the cluster serves the data" test "$(checksum_on 2 /pre/)" = "$pre"
