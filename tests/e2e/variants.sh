#!/usr/bin/env bash
# variants.sh - the other ways operators run a restore, on etcd 3.5:
# etcd's own --initial-cluster string with command-line settings, a snapshot
# without a sha-256 trailer (a member/snap/db copied out of a data dir) with
# --skip-hash-check, and a restore tool pushed from this machine.
. "$(dirname "$0")/lib.sh"
LAB=evar
lab_up 3 3.5
lab put-data 200 500 --prefix /v/ >/dev/null 2>&1
want=$(checksum_on 1 /v/)

# A db copied out of a stopped member's data dir has no trailer.
on_host 1 /etc/etcd-lab/service stop >/dev/null
on_host 1 cat /var/lib/etcd/member/snap/db >"$WORK/copied.db"
on_host 1 /etc/etcd-lab/service start >/dev/null
check "copied db has no trailer" test $(( $(stat -c %s "$WORK/copied.db") % 512 )) = 0
lab disaster >/dev/null 2>&1

settings=(--ssh-user root --identity "$LAB_KEY" --known-hosts "$LAB_KNOWN_HOSTS"
          --stop-command "$LAB_HOST_SERVICE stop" --start-command "$LAB_HOST_SERVICE start")

"$ETCD_DR" plan --initial-cluster "$LAB_INITIAL_CLUSTER" "${settings[@]}" \
  --snapshot "$WORK/copied.db" --skip-hash-check --format json >"$WORK/plan.json"
check "plan --format json is JSON with 3 hosts" \
  python3 -c 'import json,sys; p=json.load(open(sys.argv[1])); assert len(p["hosts"]) == 3' "$WORK/plan.json"
check "plan shows --skip-hash-check in every restore command" \
  test "$(grep -c -- '"--skip-hash-check"' "$WORK/plan.json")" = 3

"$ETCD_DR" restore --yes --initial-cluster "$LAB_INITIAL_CLUSTER" "${settings[@]}" \
  --snapshot "$WORK/copied.db" >"$WORK/out" 2>"$WORK/err"
rc=$?
check "without --skip-hash-check: refused with 3 (got $rc)" test "$rc" = 3
check "without --skip-hash-check: says how to proceed" contains "$(cat "$WORK/err")" "pass --skip-hash-check"

"$ETCD_DR" restore --yes --initial-cluster "$LAB_INITIAL_CLUSTER" "${settings[@]}" \
  --snapshot "$WORK/copied.db" --skip-hash-check >"$WORK/out" 2>"$WORK/err"
rc=$?
check "--skip-hash-check with --initial-cluster: exit 0 (got $rc)" test "$rc" = 0
[[ $rc == 0 ]] || cat "$WORK/err"
for i in 1 2 3; do
  check "m$i: data back" test "$(checksum_on "$i" /v/)" = "$want"
done

# A restore tool pushed from this machine (etcd 3.5's etcdutl).
lab put-data 20 100 --prefix /w/ >/dev/null 2>&1
lab snapshot "$WORK/snap.db" >/dev/null 2>&1
want_w=$(checksum_on 1 /w/)
etcdutl=/var/cache/etcd-dr/etcd-3.5/usr/bin/etcdutl
write_spec "$WORK/push.json" "$LAB_KNOWN_HOSTS"
sed -i "s|\"ssh_user\": \"root\",|\"ssh_user\": \"root\", \"restore_tool_push\": \"$etcdutl\",|" "$WORK/push.json"
"$ETCD_DR" restore --yes --cluster "$WORK/push.json" --snapshot "$WORK/snap.db" >"$WORK/out" 2>"$WORK/err"
rc=$?
check "restore_tool_push: exit 0 (got $rc)" test "$rc" = 0
[[ $rc == 0 ]] || cat "$WORK/err"
check "restore_tool_push: the tool was pushed" contains "$(cat "$WORK/out")" '"step":"push-tool","event":"done"'
for i in 1 2 3; do
  check "m$i: data back (pushed tool)" test "$(checksum_on "$i" /w/)" = "$want_w"
  check "m$i: no staging left" test -z "$(leftovers "$i")"
done

# Every data dir wiped (the demo's disaster): nothing to move aside, the
# restored member is installed, owner and mode come from the empty data dir.
lab disaster --wipe >/dev/null 2>&1
check "wiped: the data dirs are empty" test -z "$(on_host 1 ls -A /var/lib/etcd)"
"$ETCD_DR" restore --yes --cluster "$WORK/push.json" --snapshot "$WORK/snap.db" --report "$WORK/report.json" >"$WORK/out" 2>"$WORK/err"
rc=$?
check "wiped: restore exits 0 (got $rc)" test "$rc" = 0
check "wiped: the report names no leader (nothing ran)" \
  python3 -c 'import json,sys; assert json.load(open(sys.argv[1]))["leader"] is None' "$WORK/report.json"
check "wiped: the summary says there was no old member dir" contains "$(cat "$WORK/err")" "m2: had no old member dir; the restored one is installed"
for i in 1 2 3; do
  check "m$i: data back after the wipe" test "$(checksum_on "$i" /w/)" = "$want_w"
  check "m$i: data dir still etcd:etcd 700" test "$(on_host "$i" stat -c '%U:%G %a' /var/lib/etcd)" = "etcd:etcd 700"
done

# The lab's leader, as etcdctl sees it: sets leader_url and leader (mN).
find_leader() {
  leader_url=$(ETCDCTL_API=3 "$LAB_ETCDCTL" --endpoints="$LAB_ENDPOINTS" endpoint status -w json |
    python3 -c 'import json,sys; print([e["Endpoint"] for e in json.load(sys.stdin) if e["Status"]["leader"] == e["Status"]["header"]["member_id"]][0])')
  leader=m$(i=0; for ip in $LAB_HOSTS; do i=$((i+1)); [[ "http://$ip:2379" == "$leader_url" ]] && echo $i; done)
}
# Did LEADER's stop start only after both other stops finished (the run's
# JSON events in OUT)?  On failure, the stop order and etcd-dr's own lines.
stopped_last() { # OUT LEADER
  python3 - "$1" "$2" <<'PY' || { grep -h "leads\|error" "$WORK/err"; return 1; }
import json, sys
ev = [json.loads(l) for l in open(sys.argv[1])]
leader = sys.argv[2]
start = [i for i, e in enumerate(ev) if e.get("host") == leader and e.get("step") == "stop" and e["event"] == "start"][0]
others = [i for i, e in enumerate(ev) if e.get("host") not in (leader, "cluster") and e.get("step") == "stop" and e["event"] == "done"]
assert len(others) == 2 and max(others) < start, \
    " ".join("%s:%s" % (e["host"], e["event"]) for e in ev if e.get("step") == "stop")
PY
}

# A running, healthy cluster: the leader is stopped after the others (all at
# once makes etcd 3.5 stall ~7 s handing leadership to members going away).
find_leader
"$ETCD_DR" restore --yes --cluster "$WORK/push.json" --snapshot "$WORK/snap.db" --report "$WORK/report.json" >"$WORK/out" 2>"$WORK/err"
rc=$?
check "running cluster: restore exits 0 (got $rc)" test "$rc" = 0
check "running cluster: the report names $leader as the leader stopped last" \
  python3 -c 'import json,sys; assert json.load(open(sys.argv[1]))["leader"] == sys.argv[2]' "$WORK/report.json" "$leader"
check "running cluster: names the leader ($leader) and stops it last" contains "$(cat "$WORK/err")" "$leader leads the running cluster: it stops last"
check "running cluster: one leader named, once" test "$(grep -c 'leads the running cluster' "$WORK/err")" = 1
check "running cluster: $leader's stop started after every other stop finished" stopped_last "$WORK/out" "$leader"
for i in 1 2 3; do
  check "m$i: data back (running cluster)" test "$(checksum_on "$i" /w/)" = "$want_w"
done

# The same, with the leader lookup outlasting prepare.  The lookup (one
# HTTP ask per running member, at most 1.5 s) runs on a worker thread while
# the hosts push and restore; when prepare ends first, the run must wait for
# it before stopping anything, then go on and still stop the leader last.
# A proxy in front of the leader's client URL holds its answer for 1.2 s;
# the small snapshot's prepare takes a fraction of that.
pkill -f "slow_proxy.py --tag $LAB " 2>/dev/null
find_leader
python3 "$E2E_DIR/slow_proxy.py" --tag "$LAB" "${leader_url#http://}" 1.2 "$WORK/proxy.port" "$WORK/proxy.log" &
BG_PIDS+=($!)
for _ in $(seq 50); do [[ -s $WORK/proxy.port ]] && break; sleep 0.1; done
write_spec "$WORK/slow.json"
python3 - "$WORK/slow.json" "$leader" "http://127.0.0.1:$(cat "$WORK/proxy.port")" <<'PY'
import json, sys
spec = json.load(open(sys.argv[1]))
for m in spec["members"]:
    if m["name"] == sys.argv[2]:
        m["client_urls"] = [sys.argv[3]]
json.dump(spec, open(sys.argv[1], "w"), indent=2)
PY
"$ETCD_DR" restore --yes --cluster "$WORK/slow.json" --snapshot "$WORK/snap.db" --report "$WORK/report.json" >"$WORK/out" 2>"$WORK/err"
rc=$?
check "slow leader lookup: restore exits 0 (got $rc)" test "$rc" = 0
check "slow leader lookup: the report and the journal name $leader" python3 - "$WORK/report.json" "$leader" <<'PY'
import json, os, sys
rep = json.load(open(sys.argv[1]))
assert rep["leader"] == sys.argv[2], rep["leader"]
jl = os.path.join(os.environ.get("ETCD_DR_STATE_DIR") or "/var/lib/etcd-dr", "runs", rep["run_id"], "journal.jsonl")
ev = [json.loads(l) for l in open(jl)]
assert [e.get("member") for e in ev if e.get("event") == "leader"] == [sys.argv[2]], jl
PY
[[ $rc == 0 ]] || cat "$WORK/err"
check "slow leader lookup: names the leader ($leader) and stops it last" contains "$(cat "$WORK/err")" "$leader leads the running cluster: it stops last"
check "slow leader lookup: one leader named, once" test "$(grep -c 'leads the running cluster' "$WORK/err")" = 1
python3 - "$WORK/out" "$WORK/proxy.log" <<'PY' && pass "slow leader lookup: asked during prepare, answered after it, nothing stopped before the answer" || fail "slow leader lookup: the run did not wait for the lookup (see above)"
import datetime, json, sys
ev = [json.loads(l) for l in open(sys.argv[1])]
log = dict(l.split() for l in open(sys.argv[2]))
accept, release = float(log["accept"]), float(log["release"])
def t(e):
    return datetime.datetime.strptime(e["t"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=datetime.timezone.utc).timestamp()
# apply opens with hold-lock on every host: all before it is check and prepare
apply = [i for i, e in enumerate(ev) if e.get("step") == "hold-lock" and e["event"] == "start"][0]
prep_end = max(t(e) for e in ev[:apply] if e.get("event") == "done")
apply_start = t(ev[apply])
print("lookup asked %.3f s before prepare ended, answered %.3f s after it; apply began %.3f s after the answer"
      % (prep_end - accept, release - prep_end, apply_start - release))
assert accept < prep_end < release, "the lookup did not outlast prepare: nothing tested"
assert apply_start >= release - 0.002, "apply began before the lookup answered"
PY
check "slow leader lookup: $leader's stop started after every other stop finished" stopped_last "$WORK/out" "$leader"
for i in 1 2 3; do
  check "m$i: data back (slow leader lookup)" test "$(checksum_on "$i" /w/)" = "$want_w"
done

# A host tool that does not know --skip-hash-check.  etcd-dr passes the flag
# to every restore (the agent has checked the file's sha-256 and trailer);
# where the probe finds the tool without it, the restore runs without it.
# Stand-in on m2: /usr/local/bin/etcdutl hides the flag from --help and
# refuses it, as an old tool would, and logs its arguments.
bin2=$LAB_DIR/h2/usr-local-bin
mv "$bin2/etcdutl" "$bin2/etcdutl.real"
cat >"$bin2/etcdutl" <<'SH'
#!/bin/sh
echo "$*" >>/tmp/etcdutl-args.log
case " $* " in
  *" --skip-hash-check "*) echo "Error: unknown flag: --skip-hash-check" >&2; exit 1 ;;
  *" --help "*) /usr/local/bin/etcdutl.real "$@" | grep -v -- --skip-hash-check; exit 0 ;;
esac
exec /usr/local/bin/etcdutl.real "$@"
SH
chmod 755 "$bin2/etcdutl"
write_spec "$WORK/plain.json" "$LAB_KNOWN_HOSTS"
"$ETCD_DR" plan --cluster "$WORK/plain.json" --snapshot "$WORK/snap.db" --format json >"$WORK/plan2.json"
check "plan: --skip-hash-check in every restore (the agent checks the hash)" \
  test "$(grep -c -- '"--skip-hash-check"' "$WORK/plan2.json")" = 3
"$ETCD_DR" restore --yes --cluster "$WORK/plain.json" --snapshot "$WORK/snap.db" >"$WORK/out" 2>"$WORK/err"
rc=$?
check "a host tool without --skip-hash-check: exit 0 (got $rc)" test "$rc" = 0
[[ $rc == 0 ]] || tail -5 "$WORK/err"
log=$(on_host 2 cat /tmp/etcdutl-args.log 2>/dev/null)
check "m2's tool ran the restore without the flag" grep -q "^snapshot restore .*--name m2" <<<"$log"
check "m2's tool never got --skip-hash-check" test -z "$(grep -- --skip-hash-check <<<"$log")"
for i in 1 2 3; do
  check "m$i: data back (tool without --skip-hash-check on m2)" test "$(checksum_on "$i" /w/)" = "$want_w"
done
rm -f "$bin2/etcdutl"
mv "$bin2/etcdutl.real" "$bin2/etcdutl"
