#!/usr/bin/env bash
# route.sh VERSION - how the runs ask each member (--health-via, plan/
# health_route.c) when this machine cannot reach one member's client URL,
# on a lab of 4 real hosts with plain http.  A rule in this (the
# coordinator's) namespace drops its traffic to one member's port 2379; the
# hosts still reach each other.  One lab serves every case:
# - restore with the default --health-via auto and m2 cut: the plan says m2
#   is asked from here unless it gives no answer; the leader lookup looks
#   at it before anything stops and moves it to its host, the run says so
#   and why; the restore ends healthy (checked on m2's own host too), every
#   key back, nothing newer, the old member dirs kept;
# - the same restore with m2's client port REJECTED from here (a TCP reset,
#   as a host firewall's): the leader lookup finds m2 refused although its
#   host's probe found etcd running, asks it on its host and moves it
#   there; with m2's etcd stopped too, the health wait does so once m2 is
#   still refused a few seconds in; each run says so and why and ends
#   healthy, every key back;
# - --health-via here with the same cut: refused before anything stops,
#   naming m2 and the reason, no host changed;
# - playbooks/replace-member.json on m2 with m1 (the first member its
#   member changes ask) cut from here: m1 is asked through its host, the
#   member list and every key checked;
# - replace-member on m2 again with m3's SSH port refused from here and its
#   etcd healthy: m3 only joins so that the quorum wait can ask it through
#   its host (auto), so the run warns once, leaves m3 out and replaces m2;
#   m3 is untouched (no lock file, no agent dir), the report says why it
#   was left out; with m3's client port cut from here too, the quorum wait
#   fails at once naming both, before anything changes; with m3's lock
#   held by another run, the run is refused (not m3 left out), no host
#   changed, the other run's lock untouched;
# - quorum lost (m3 and m4 stopped, m1 and m2 running with no leader):
#   the leader lookup finds nobody, the run says so and why, every stop
#   begins before any member's etcd has exited (the run's log), and the
#   restore ends healthy.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/playbook_lib.sh"
case ${1:-} in
  3.4) LAB=rt34 ;;
  3.5) LAB=rt35 ;;
  *) echo "usage: $0 3.4|3.5" >&2; exit 2 ;;
esac
CUT=edr_${LAB}_cut # nft table in this namespace: ours alone, removed at exit
need_root
nft delete table inet "$CUT" 2>/dev/null
trap 'edr_rc=$?; nft delete table inet "$CUT" 2>/dev/null; (exit $edr_rc); finish' EXIT
lab_up 4 "$1"
N=4
write_pb_spec "$WORK/cluster.json"
not_contains() { ! contains "$@"; }
ipof() { host_ip "$1"; }

# nft_cut RULE...: this machine's traffic matching each nft RULE stopped
# (it replaces the previous cut); uncut lifts it.
nft_cut() {
  nft delete table inet "$CUT" 2>/dev/null
  nft -f - <<EOF
table inet $CUT {
  chain out {
    type filter hook output priority 0; policy accept;
$(printf '    %s\n' "$@")
  }
}
EOF
}
# cut_here I: drop this machine's traffic to member I's client port; uncut.
cut_here() { nft_cut "ip daddr $(ipof "$1") tcp dport 2379 drop"; }
uncut() { nft delete table inet "$CUT" 2>/dev/null; }
# What member I serves, asked on its own host (this machine may be cut).
checksum_in() { # checksum_in I PREFIX
  on_host "$1" python3 "$REPO/tests/lab/labdata.py" checksum "http://$(ipof "$1"):2379" "$2"
}
healthy_in() {
  [[ $(on_host "$1" curl -s --max-time 5 "http://$(ipof "$1"):2379/health") == *'"health":"true"'* ]]
}
# restore WANT=N WHAT=TEXT [ARGS...]: etcd-dr restore of $WORK/snap.db,
# its output in $WORK/out and $WORK/err (and $err), checked to exit N; the
# end of its stderr shown when not.  The health wait is bounded (40 s) so a
# route that never answers fails in seconds, not minutes.
restore() {
  local want=${1#WANT=} what
  [[ $1 == WANT=* ]] && shift || want=0
  what=${1#WHAT=}; shift
  "$ETCD_DR" restore --yes --health-timeout 40s --cluster "$WORK/cluster.json" \
    --snapshot "$WORK/snap.db" "$@" >"$WORK/out" 2>"$WORK/err"
  rc=$?
  check "$what: exit $want (got $rc)" test "$rc" = "$want"
  [[ $rc == "$want" ]] || tail -n 40 "$WORK/err"
  err=$(cat "$WORK/err")
}
run_id() { sed -n 's/^etcd-dr: run \([0-9a-f-]*\): .*/\1/p' "$1" | sed -n 1p; }
# Every member healthy, PREFIX's keys as WANT, nothing under /after/, its
# old member dir kept as member.etcd-dr-RUN (checked on each host: WHAT).
check_restored() { # check_restored WHAT PREFIX WANT RUN
  local i
  for i in $(seq 1 $N); do
    check "$1: m$i healthy (asked on its host)" healthy_in "$i"
    check "$1: m$i serves every key of the snapshot" test "$(checksum_in "$i" "$2")" = "$3"
    check "$1: m$i has nothing written after it" \
      test "$(checksum_in "$i" /after/ | cut -d' ' -f1)" = 0
    check "$1: m$i kept its old member dir" on_host "$i" test -d "/var/lib/etcd/member.etcd-dr-$4"
    check "$1: m$i: no staging or agent left" test -z "$(leftovers "$i")"
  done
}

lab put-data 100 300 --prefix /kept/ >/dev/null 2>&1
want=$(checksum_on 1 /kept/)
lab snapshot "$WORK/snap.db" >/dev/null 2>&1
lab put-data 10 100 --prefix /after/ >/dev/null 2>&1

# ---- auto: m2 cut from here, the cluster running ----------------------------
ip2=$(ipof 2)
cut_here 2
check "the cut works: m2's client URL gives no answer from here" \
  test "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://$ip2:2379/health")" = 000
check "m2's host still reaches it" healthy_in 2
check "m1 still answers from here" healthy_on 1

"$ETCD_DR" plan --cluster "$WORK/cluster.json" --snapshot "$WORK/snap.db" >"$WORK/out" 2>"$WORK/err"
check "plan (auto): m2 asked from here unless its client URL gives no answer" \
  grep -qF "m2: health checked from here, or through $ip2's agent if its client URL gives no answer from here before anything stops" "$WORK/out"
check "plan (auto): the leader lookup asks m2 from here, else through its host" \
  grep -qF "m2 from here, else through $ip2's agent" "$WORK/out"

restore WHAT="auto restore, m2 cut from here"
check "auto: the leader was found (some members through their hosts)" \
  contains "$err" "the leader lookup asked some members through their hosts' agents"
check "auto: the run says m2 moved to its host, and why" \
  contains "$err" "m2: health checked through $ip2's agent, with its certificates (no answer from here: "
check "auto: m1 checked from here" contains "$err" "m1: health checked from here"
check "auto: the report's health line says 1 of 4 through the hosts" \
  grep -qE "4 members, one cluster, revision >= [0-9]+; checked through the hosts' agents for 1 of them" \
  "$(sed -n 's/^report: //p' "$WORK/err")"
check "auto: nothing asked from here only with a warning" not_contains "$err" "is not connected"
uncut
check_restored "auto" /kept/ "$want" "$(run_id "$WORK/err")"

# The stop order from the run's journal (RUN): "parallel" when every
# member's stop began before any member's etcd had exited (check-stopped
# done), else "LEADER last" when only LEADER's stop began after the others'
# had exited.
stop_order() { # stop_order RUN
  python3 - "$(journal "$1")" <<'PY'
import json, sys
ev = [json.loads(l) for l in open(sys.argv[1])]
line = lambda h, s, e: next((i for i, x in enumerate(ev)
                             if x.get("host") == h and x.get("step") == s and x.get("event") == e), None)
hosts = sorted({x["host"] for x in ev if x.get("step") == "stop"})
start = {h: line(h, "stop", "start") for h in hosts}
gone = {h: line(h, "check-stopped", "done") for h in hosts}
if None in start.values() or None in gone.values():
    print("incomplete:", start, gone); sys.exit()
late = [h for h in hosts if all(start[h] > gone[o] for o in hosts if o != h)]
if max(start.values()) < min(gone.values()):
    print("parallel")
elif len(late) == 1:
    print(late[0], "last")
else:
    print("other:", start, gone)
PY
}
leader=$(sed -n 's/^etcd-dr: \(m[0-9]\) leads the running cluster: it stops last, after the others$/\1/p' "$WORK/err")
check "auto: the leader named ($leader) stopped last (the run's journal)" \
  test -n "$leader" -a "$(stop_order "$(run_id "$WORK/err")")" = "$leader last"

# ---- here: the same cut, refused before anything stops ----------------------
cut_here 2
before=$(all_states)
restore WANT=4 WHAT="--health-via here, m2 cut, before anything stops" --health-via here
check "here: the error names m2, the reason and what to do" contains "$err" \
  "etcd-dr: error: m2 ($ip2): its client URL http://$ip2:2379 gives no answer from here (Connection timed out after "
check "here: ... and why it matters, and what to do" contains "$err" \
  "), and its health is asked from here (--health-via here): it could not be checked once etcd is started again, so nothing is stopped; leave --health-via at auto (or give hosts), which asks it through its host's agent, or let this machine reach it"
check "here: no stop order is said for a run that stops nothing" not_contains "$err" "stops last"
check "here: the summary says no host was changed" \
  contains "$err" "no host was changed: etcd was not stopped and no data was moved."
[[ $rc == 4 ]] || tail -n 30 "$WORK/err"
check "here: every host as it was (etcd running, member dirs in place)" test "$(all_states)" = "$before"
uncut

# ---- auto: m2's client port REJECTED from here (a host firewall's reset) ---
# reject_here I: this machine's connections to member I's client port
# refused with a TCP reset, as firewalld, ufw or iptables REJECT do: from
# here that looks like a member whose etcd is not running.
reject_here() { nft_cut "ip daddr $(ipof "$1") tcp dport 2379 reject with tcp reset"; }
refused_here() { # curl's exit 7: connection refused, at once
  curl -s -o /dev/null --max-time 5 "http://$(ipof "$1"):2379/health"
  test $? = 7
}
moved2="m2: health checked through $ip2's agent, with its certificates (refused from here, answered on its host: something between this machine and it rejects connections)"
reject_here 2
check "the reject works: m2's client URL refuses connections from here" refused_here 2
check "m2's host still reaches it" healthy_in 2
# the cluster runs: the leader lookup is refused by m2 whose host's probe
# found its etcd running, asks it on its host and moves it there
restore WHAT="auto restore, m2 rejected from here, the cluster running"
check "rejected: the leader lookup asked m2 on its host, and says why" contains "$err" \
  "m2: refused from here although $ip2's probe found etcd running, and answered on its host: its health is asked through its host"
check "rejected: the run says m2 is checked through its host, and why" contains "$err" "$moved2"
check "rejected: moved by the leader lookup, before anything stopped" \
  not_contains "$err" "m2: still refused from here"
check "rejected: the report's health line says 1 of 4 through the hosts" \
  grep -qE "4 members, one cluster, revision >= [0-9]+; checked through the hosts' agents for 1 of them" \
  "$(sed -n 's/^report: //p' "$WORK/err")"
uncut
check_restored "rejected" /kept/ "$want" "$(run_id "$WORK/err")"

# m2's etcd stopped too: its refusal agrees with its host's probe, so it
# stays here until the health wait finds it still refused a few seconds
# after the start, asks it on its host and moves it there
lab etcd 2 stop >/dev/null 2>&1
reject_here 2
restore WHAT="auto restore, m2 rejected from here and its etcd stopped"
check "rejected, m2 stopped: the leader lookup kept m2 here (its etcd was stopped)" \
  not_contains "$err" "m2: refused from here although"
check "rejected, m2 stopped: the wait moves m2 to its host a few seconds in, and says why" \
  grep -qE "m2: still refused from here [5-9]s into the wait, answered on its host: health checked through ${ip2//./\\.}'s agent, with its certificates \(refused from here, answered on its host: something between this machine and it rejects connections\)" "$WORK/err"
check "rejected, m2 stopped: the report's health line says 1 of 4 through the hosts" \
  grep -qE "4 members, one cluster, revision >= [0-9]+; checked through the hosts' agents for 1 of them" \
  "$(sed -n 's/^report: //p' "$WORK/err")"
uncut
check_restored "rejected, m2 stopped" /kept/ "$want" "$(run_id "$WORK/err")"

# ---- replace-member with m1, the first member its changes ask, cut ----------
# The member list is m1-m4, all started, and m2 is a new member (its id
# not OLD_ID): WHAT.
check_m2_replaced() { # check_m2_replaced WHAT OLD_ID
  local id
  check "$1: members m1-m4, all started, their URLs" test "$(ctl_members)" = "$(want_members)"
  id=$(member_id_of m2)
  check "$1: m2 is a new member ($2 -> $id)" test -n "$id" -a "$id" != "$2"
}
ip1=$(ipof 1)
old_id2=$(member_id_of m2)
lab etcd 2 stop >/dev/null 2>&1 # m2 is lost
lab put-data 20 100 --prefix /while-down/ >/dev/null 2>&1
while_down=$(checksum_on 1 /while-down/)
cut_here 1
pb_run replace-member p1 --var member=m2
check "replace-member m2, m1 cut from here: exit 0 (got $RC)" test "$RC" = 0
err=$(cat "$WORK/err")
via1="m1 through $ip1's agent, with its certificates (no answer from here: "
check "replace-member: member-remove asks m1 through its host, and says why" \
  grep -qF "member-remove m2: asks $via1" "$WORK/err"
check "replace-member: member-add too" grep -qF "member-add m2: asks $via1" "$WORK/err"
check "replace-member: the others from here" grep -qF "; m3 from here; m4 from here (in turn, until one answers)" "$WORK/err"
# only m2 stops: the leader's line says whether this run stops it, never "last"
pbleader=$(sed -n 's/^etcd-dr: \(m[0-9]\) leads the running cluster; .*/\1/p' "$WORK/err")
if [ "$pbleader" = m2 ]; then pbsays="m2 leads the running cluster; it is the only member this run stops"
else pbsays="${pbleader:-m?} leads the running cluster; this run does not stop it"; fi
check "replace-member: the leader ($pbleader) named, and whether this run stops it" contains "$err" "$pbsays"
check "replace-member: no 'stops last' with one member stopped" not_contains "$err" "it stops last"
uncut
check_m2_replaced replace-member "$old_id2"
for i in $(seq 1 $N); do
  check "replace-member: m$i serves every key" test "$(checksum_on "$i" /kept/)" = "$want"
  check "replace-member: m$i serves what was written while m2 was down" \
    test "$(checksum_on "$i" /while-down/)" = "$while_down"
done
lab etcd 2 restart >/dev/null 2>&1 # as configured again (the playbook reset its env)
check "replace-member: m2 restarted as configured, one healthy cluster" \
  eval 'lab health --timeout 60 >/dev/null 2>&1 && test "$(ctl_members)" = "$(want_members)"'

# ---- replace-member with m3's SSH port refused from here, its etcd healthy --
# refuse_ssh I [client]: this machine's connections to member I's SSH port
# refused (a TCP reset, as from a host with no sshd); with "client", its
# client port dropped too.
refuse_ssh() {
  nft_cut "ip daddr $(ipof "$1") tcp dport 22 reject with tcp reset" \
    ${2:+"ip daddr $(ipof "$1") tcp dport 2379 drop"}
}
ssh_refused() { ! timeout 5 bash -c "exec 3<>/dev/tcp/$1/22" 2>/dev/null; }
ip3=$(ipof 3)
refuse_ssh 3
check "the cut works: m3's SSH port refused from here" ssh_refused "$ip3"
check "m3 still answers from here" healthy_on 3
state3=$(host_state 3)
old_id2=$(member_id_of m2)
pb_run replace-member p2 --var member=m2
check "replace-member m2, m3's SSH refused: exit 0 (got $RC)" test "$RC" = 0
left3="etcd-dr: warning: m3 ($ip3): cannot connect to $ip3 port 22: connection refused"
check "m3 left out: one warning naming the host and the reason" \
  test "$(grep -cF "$left3" "$WORK/err")" = 1
check "... and that its member is asked from here" \
  grep -qF "; it has no step in this run, so it is left out and its member is asked from here" "$WORK/err"
check "the report says m3 was left out, and why" python3 -c '
import json, sys
h = {x["member"]: x for x in json.load(open(sys.argv[1]))["hosts"]}
m3 = h["m3"]
sys.exit(not (m3["outcome"] == "left out" and "connection refused" in (m3["message"] or "")
              and h["m2"]["outcome"] == "done"))' "$WORK/report-p2.json"
uncut
check_m2_replaced "replace-member (m3 left out)" "$old_id2"
for i in $(seq 1 $N); do
  check "replace-member (m3 left out): m$i serves every key" test "$(checksum_on "$i" /kept/)" = "$want"
  check "replace-member (m3 left out): m$i: no lock, staging or agent left" test -z "$(leftovers "$i")"
done
check "m3 untouched: etcd running, its member dir as it was" test "$(host_state 3)" = "$state3"
check "m3 untouched: no agent ran there" test -z "$(agents_on 3)"
lab etcd 2 restart >/dev/null 2>&1
check "replace-member (m3 left out): one healthy cluster again" \
  eval 'lab health --timeout 60 >/dev/null 2>&1 && test "$(ctl_members)" = "$(want_members)"'

# m3's client port cut from here too: it can be asked neither way
refuse_ssh 3 client
before=$(all_states)
PB_WANT=4 pb_run replace-member p3 --var member=m2
check "replace-member, m3 asked neither way: exit 4 (got $RC)" test "$RC" = 4
check "the wait names m3's client URL from here and its host left out" grep -qF \
  "m3 cannot be asked: its client URL http://$ip3:2379 cannot be asked from here (no answer from here: " "$WORK/err"
check "... and why the host was left out" grep -qF \
  "and its host $ip3 could not be checked, so it was left out of the run (cannot connect to $ip3 port 22: connection refused" "$WORK/err"
check "... before anything changed" grep -qF "no host was changed" "$WORK/err"
uncut
check "m3 asked neither way: every host as it was" test "$(all_states)" = "$before"
for i in $(seq 1 $N); do
  check "m3 asked neither way: m$i: no lock, staging or agent left" test -z "$(leftovers "$i")"
done

# m3's lock held by another run (on another machine, so alive for all this
# one knows): not a reason to leave m3 out but to refuse the run, since that
# run may be changing the cluster right now
held='{"run_id":"20260101-000000-held","user":"alice","host":"laptop","pid":4242,"command":"restore","since":"2026-01-01T00:00:00Z"}'
printf '%s\n' "$held" | on_host 3 sh -c 'cat > /var/lib/etcd/.etcd-dr-lock'
before=$(all_states)
PB_WANT=4 pb_run replace-member p4 --var member=m2
check "replace-member, m3's lock held by another run: exit 4 (got $RC)" test "$RC" = 4
err=$(cat "$WORK/err")
check "... the message names m3 and the run that holds its lock" \
  grep -qE "m3 .*locked by run 20260101-000000-held of alice on laptop" "$WORK/err"
check "... m3 is not left out for it" not_contains "$err" "so it is left out"
check "... before anything changed" contains "$err" "no host was changed"
check "m3's lock held: every host as it was" test "$(all_states)" = "$before"
check "m3's lock held: the other run's lock untouched" \
  test "$(on_host 3 cat /var/lib/etcd/.etcd-dr-lock)" = "$held"
on_host 3 rm -f /var/lib/etcd/.etcd-dr-lock
for i in $(seq 1 $N); do
  check "m3's lock held: m$i: no lock, staging or agent left" test -z "$(leftovers "$i")"
done

# ---- quorum lost: m3 and m4 stopped, m1 and m2 run without a leader ---------
lab etcd 3 stop >/dev/null 2>&1
lab etcd 4 stop >/dev/null 2>&1
no_leader() { # member I answers and follows no leader
  curl -s --max-time 2 -X POST -d '{}' "http://$(ipof "$1"):2379/v3/maintenance/status" |
    python3 -c 'import json,sys; d = json.load(sys.stdin); sys.exit(int(d.get("leader", "0")) != 0)' 2>/dev/null
}
for _ in $(seq 50); do no_leader 1 && no_leader 2 && break; sleep 0.2; done
check "m1 and m2 run and know no leader" eval 'no_leader 1 && no_leader 2'
restore WHAT="quorum lost: restore"
check "quorum lost: the lookup says why it found nobody" contains "$err" \
  "etcd-dr: warning: leader lookup: no member said it leads: m1 (http://$ip1:2379) knows no leader; m2 (http://$ip2:2379) knows no leader; m3 (http://$(ipof 3):2379): "
check "quorum lost: the run says the members stop in parallel" contains "$err" \
  "etcd-dr: warning: the leader of the running cluster could not be found: the members stop in parallel"
check "quorum lost: no member named the leader" not_contains "$err" "leads the running cluster"
run=$(run_id "$WORK/err")
check "quorum lost: every stop began before any member's etcd had exited (the run's journal)" \
  test "$(stop_order "$run")" = parallel
check_restored "quorum lost" /kept/ "$want" "$run"
