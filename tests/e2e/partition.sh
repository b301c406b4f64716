#!/usr/bin/env bash
# partition.sh - a host cut off the network (nft drops every packet in its
# namespace) while the snapshot is pushed, on etcd 3.5: the run ends with no
# host changed and a message that names the host and says the connection was
# lost; once the network is back, with no cleanup by hand, the orphaned agent
# ends itself within its idle bound, taking its lock and staging with it, and
# the same restore run again succeeds.  Then locks of runs whose coordinator
# died on this machine: taken when the run's journal shows it changed no
# host, else refused with the exact command to run.  Bounds are shortened
# through ETCD_DR_KEEPALIVE_MS and ETCD_DR_AGENT_IDLE_MS.
. "$(dirname "$0")/lib.sh"
LAB=epart
lab_up 3 3.5
lab put-data 200 100000 --prefix /p/ >/dev/null 2>&1
lab snapshot "$WORK/snap.db" >/dev/null 2>&1
want=$(checksum_on 1 /p/)
lab put-data 20 100 --prefix /after/ >/dev/null 2>&1
write_spec "$WORK/cluster.json"
restore=(restore --yes --cluster "$WORK/cluster.json" --snapshot "$WORK/snap.db")
export ETCD_DR_STATE_DIR=$WORK/state ETCD_DR_KEEPALIVE_MS=1000 ETCD_DR_AGENT_IDLE_MS=6000
bridge=edrb-$LAB
ip2=$(host_ip 2)

not_contains() { ! grep -qF -- "$2" <<<"$1"; }
cut_off() { # cut_off I: drop every packet in and out of host I
  on_host "$1" nft -f - <<'EOF'
table inet cut {
  chain cin  { type filter hook input  priority 0; policy drop; }
  chain cout { type filter hook output priority 0; policy drop; }
}
EOF
}
lock_line() { # lock_line RUN PID: a lock file's content as etcd-dr writes it
  printf '{"run_id":"%s","user":"root","host":"%s","pid":%s,"command":"restore","since":"2026-01-01T00:00:00Z"}\n' \
    "$1" "$(hostname)" "$2"
}
fake_run() { # fake_run RUN STEP...: a journal in the state dir whose run started STEPs on m1
  local d=$ETCD_DR_STATE_DIR/runs/$1 s i=0
  mkdir -p "$d"
  echo '{"argv": ["--cluster", "x"]}' >"$d/command.json"
  : >"$d/journal.jsonl"
  for s in "${@:2}"; do
    printf '{"t":"2026-01-01T00:00:0%dZ","host":"m1","index":%d,"step":"%s","event":"start"}\n' \
      "$i" "$i" "$s" >>"$d/journal.jsonl"
    i=$((i + 1))
  done
}
dead_pid() { sh -c 'echo $$'; } # a pid that existed and is gone
restore_with_lock() { # restore_with_lock RUN PID: that run's lock on m2, then restore; sets before, rc, err
  lock_line "$1" "$2" | on_host 2 sh -c 'cat > /var/lib/etcd/.etcd-dr-lock'
  before=$(all_states)
  "$ETCD_DR" "${restore[@]}" >"$WORK/out" 2>"$WORK/err"; rc=$?
  err=$(cat "$WORK/err")
}

# 1. m2 cut off mid-push: a true message, in bounded time, no host changed.
#    The coordinator's own push to m2 (--transfer direct): with the relay m2
#    gets its bytes from m1, whose forward waits out its idle bound (15 s)
#    before it fails (relay.sh covers a relay host that dies).
before=$(all_states)
tc qdisc add dev "$bridge" root tbf rate 24mbit burst 256kb latency 100ms
"$ETCD_DR" "${restore[@]}" --transfer direct >"$WORK/out" 2>"$WORK/err" &
a=$!
for _ in $(seq 1 300); do
  size=$(on_host 2 sh -c 'stat -c %s /var/lib/etcd/.etcd-dr-*/snapshot.db.part' 2>/dev/null)
  [[ ${size:-0} -gt 2000000 ]] && break
  sleep 0.1
done
check "the push to m2 is under way when m2 is cut off (${size:-0} bytes there)" test "${size:-0}" -gt 2000000
cut_off 2
check "m2 is cut off (its nft table is loaded)" on_host 2 nft list table inet cut
t_cut=$(date +%s)
wait "$a"; rc=$?
took=$(($(date +%s) - t_cut))
tc qdisc del dev "$bridge" root
err=$(cat "$WORK/err")
check "partition: exit 4 (got $rc)" test "$rc" = 4
check "partition: the run ended within 20s of the cut (took ${took}s)" test "$took" -le 20
check "partition: the message names m2, the step, and says the connection was lost" \
  contains "$err" "m2 ($ip2): push-snapshot: connection to $ip2 lost: nothing came back for"
check "partition: no word of a step timeout that did not pass" not_contains "$err" "no answer within"
check "partition: says no host was changed" contains "$err" "no host was changed"
[[ $rc == 4 ]] || cat "$WORK/err"
grep -F "m2 ($ip2)" "$WORK/err" | sed 's/^/  | /'
for i in 1 3; do
  check "partition: m$i cleaned up (no lock, no staging)" test -z "$(leftovers "$i")$(on_host "$i" ls /var/lib/etcd/.etcd-dr-lock 2>/dev/null)"
done

# 2. the orphaned agent on m2 ends by itself within its idle bound (6s from
#    its last byte), still cut off: no network is needed to end it; then the
#    network comes back and nothing is cleaned by hand
for _ in $(seq 1 150); do
  [[ -z $(agents_on 2) ]] && break
  sleep 0.1
done
gone=$(($(date +%s) - t_cut))
check "orphan: no etcd-dr-agent left on m2 within the idle bound (${gone}s after the cut)" \
  test -z "$(agents_on 2)"
check "orphan: m2's lock is released" on_host 2 test ! -e /var/lib/etcd/.etcd-dr-lock
check "orphan: m2's staging is removed" test -z "$(leftovers 2)"
on_host 2 nft delete table inet cut
after=$(all_states)
check "every host as before the run (etcd running, member dirs, data dir entries)" test "$before" = "$after"
[[ $before == "$after" ]] || { echo "before: $before"; echo "after:  $after"; }

# 3. the same command again, at once: it succeeds
"$ETCD_DR" "${restore[@]}" >"$WORK/out" 2>"$WORK/err"; rc=$?
check "retry: exit 0 (got $rc)" test "$rc" = 0
[[ $rc == 0 ]] || cat "$WORK/err"
check "retry: the snapshot's data on m2" test "$(checksum_on 2 /p/)" = "$want"
for i in 1 2 3; do
  check "retry: m$i keeps no lock or staging" test -z "$(leftovers "$i")$(on_host "$i" ls /var/lib/etcd/.etcd-dr-lock 2>/dev/null)"
done

# 4. a lock of a run that died on this machine before changing any host: taken
fake_run 20260101-000000-aaaa lock probe push-snapshot
restore_with_lock 20260101-000000-aaaa "$(dead_pid)"
check "dead holder, nothing changed: exit 0 (got $rc)" test "$rc" = 0
[[ $rc == 0 ]] || echo "$err"
check "dead holder, nothing changed: says so and takes the lock" \
  contains "$err" "m2: run 20260101-000000-aaaa (pid"
check "dead holder, nothing changed: ... naming the journal" \
  contains "$err" "shows it never changed a host: taking its lock"
check "dead holder, nothing changed: no lock left" on_host 2 test ! -e /var/lib/etcd/.etcd-dr-lock

# 5. ... that changed hosts: refused, with the rollback and resume commands
fake_run 20260101-000000-bbbb lock probe push-snapshot restore hold-lock stop
restore_with_lock 20260101-000000-bbbb "$(dead_pid)"
check "dead holder, hosts changed: exit 4 (got $rc)" test "$rc" = 4
check "dead holder, hosts changed: the rollback command" \
  contains "$err" "etcd-dr rollback 20260101-000000-bbbb --cluster $WORK/cluster.json"
check "dead holder, hosts changed: the resume command" \
  contains "$err" "etcd-dr restore --resume 20260101-000000-bbbb"
check "dead holder, hosts changed: hosts unchanged, the lock kept" test "$before" = "$(all_states)"

# 6. ... that left no journal here: refused, with the exact --break-lock command
restore_with_lock 20260101-000000-cccc "$(dead_pid)"
check "dead holder, no journal: exit 4 (got $rc)" test "$rc" = 4
check "dead holder, no journal: says the run is gone" \
  contains "$err" "run 20260101-000000-cccc (pid"
check "dead holder, no journal: the exact command to run" \
  contains "$err" "etcd-dr restore --yes --cluster $WORK/cluster.json --snapshot $WORK/snap.db --break-lock"
"$ETCD_DR" "${restore[@]}" --break-lock >"$WORK/out" 2>"$WORK/err"; rc=$?
check "dead holder, no journal: that command works (got $rc)" test "$rc" = 0

# 7. a holder that still lives on this machine: refused, nothing about it being gone
sleep 300 &
live=$!
BG_PIDS+=("$live")
restore_with_lock 20260101-000000-dddd "$live"
check "live holder: exit 4 (got $rc)" test "$rc" = 4
check "live holder: named" contains "$err" "locked by run 20260101-000000-dddd"
check "live holder: not called gone" not_contains "$err" "is gone"
check "live holder: its lock untouched" on_host 2 grep -q 20260101-000000-dddd /var/lib/etcd/.etcd-dr-lock

# 8. m2 cut off while every host waits at a barrier (a playbook's pause):
#    noticed through the heartbeat within the bound, no host changed
kill "$live" 2>/dev/null
on_host 2 rm -f /var/lib/etcd/.etcd-dr-lock
cat >"$WORK/wait.json" <<'PB'
{"playbook": 1, "name": "wait-then-stop", "steps": [
   {"name": "wait", "kind": "pause", "seconds": 20},
   {"name": "stop-m2", "kind": "stop", "target": "m2"}]}
PB
before=$(all_states)
"$ETCD_DR" run "$WORK/wait.json" --cluster "$WORK/cluster.json" --yes >"$WORK/out" 2>"$WORK/err" &
a=$!
for _ in $(seq 100); do grep -q "step wait:" "$WORK/err" && break; sleep 0.1; done
cut_off 2
t_cut=$(date +%s)
for _ in $(seq 150); do grep -q "connection to $ip2 lost" "$WORK/err" && break; sleep 0.1; done
noticed=$(($(date +%s) - t_cut))
wait "$a"; rc=$?
on_host 2 nft delete table inet cut
grep -F "m2 ($ip2)" "$WORK/err" | sed 's/^/  | /'
check "barrier: exit 4 (got $rc)" test "$rc" = 4
[[ $rc == 4 ]] || cat "$WORK/err"
check "barrier: the loss of m2 noticed within 10s while idle (${noticed}s)" test "$noticed" -le 10
check "barrier: the message says m2 was lost while it waited" \
  contains "$(cat "$WORK/err")" "connection to $ip2 lost: nothing came back for"
for _ in $(seq 100); do [[ -z $(agents_on 2) ]] && break; sleep 0.1; done
check "barrier: no etcd-dr-agent left on m2" test -z "$(agents_on 2)"
check "barrier: every host as before, no lock anywhere" test "$before" = "$(all_states)"
