#!/usr/bin/env bash
# run_lock.sh ETCD_DR - one coordinator per run: while another process
# holds run R's journal lock (a python3 flock here, as a running etcd-dr
# would),
# `rollback R` and `restore --resume R` are refused before any host is
# contacted (exit 4), naming the pid that holds it; once it is released,
# the refusal is gone.  No host is needed: the spec's only member is on a
# loopback port where nothing listens.
set -uo pipefail
edr=$1
work=$(mktemp -d /tmp/edr-runlock.XXXXXX)
holder=
trap '[[ -n $holder ]] && kill "$holder" 2>/dev/null; rm -rf "$work"' EXIT
export ETCD_DR_STATE_DIR=$work/state
fails=0
bad() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }
run=20260101-000000-beef
mkdir -p "$ETCD_DR_STATE_DIR/runs/$run"
: >"$ETCD_DR_STATE_DIR/runs/$run/journal.jsonl"
: >"$work/known_hosts"
spec=(--initial-cluster m1=http://127.0.0.1:2380 --ssh-port 9 --known-hosts "$work/known_hosts")

python3 -c 'import fcntl, sys, time
f = open(sys.argv[1])
fcntl.flock(f, fcntl.LOCK_EX)
time.sleep(60)' "$ETCD_DR_STATE_DIR/runs/$run/journal.jsonl" >/dev/null 2>&1 &
holder=$!
for _ in $(seq 50); do grep -q " $holder " /proc/locks && break; sleep 0.1; done

"$edr" rollback --yes "$run" "${spec[@]}" >"$work/out" 2>"$work/err"; rc=$?
[[ $rc == 4 ]] || bad "rollback while held: exit $rc, want 4: $(cat "$work/err")"
grep -qF "cannot roll back: run $run is in use by another etcd-dr on this machine: pid $holder (" "$work/err" && grep -q "python3" "$work/err" ||
  bad "rollback while held: the message does not name pid $holder: $(cat "$work/err")"
grep -q "connect" "$work/err" && bad "rollback while held: it tried to connect"

"$edr" restore --yes --resume "$run" >"$work/out" 2>"$work/err"; rc=$?
[[ $rc == 4 ]] || bad "resume while held: exit $rc, want 4: $(cat "$work/err")"
grep -qF "cannot resume: run $run is in use by another etcd-dr on this machine: pid $holder" "$work/err" ||
  bad "resume while held: the message does not name pid $holder: $(cat "$work/err")"

kill "$holder"; wait "$holder" 2>/dev/null; holder=
"$edr" rollback --yes "$run" "${spec[@]}" >"$work/out" 2>"$work/err"; rc=$?
grep -q "in use by another" "$work/err" && bad "rollback after release: still refused"
[[ $rc == 4 ]] && grep -q "127.0.0.1 port 9" "$work/err" ||
  bad "rollback after release: did not go on to the host (exit $rc): $(cat "$work/err")"
echo "run_lock: $fails failures"
((fails == 0))
