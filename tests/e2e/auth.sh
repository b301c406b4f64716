#!/usr/bin/env bash
# auth.sh VERSION - etcd authentication (docs/auth.md) on a lab of 3 real
# hosts whose cluster has it enabled (etcdctl user add root, auth enable):
# - snapshot save without a user: refused by etcd, the message says to set
#   ETCDCTL_USER; with a wrong password: the error says so word for word
#   and names the member, no file left; a password given to --user and a
#   user without a password are refused before anything is asked;
# - snapshot save with ETCDCTL_USER=root:PW and with --user root and
#   ETCDCTL_PASSWORD: a sound snapshot; --via ssh too (the agent on the
#   member's host authenticates there and takes it), refused without a user
#   (the message says what to set) and with a wrong password (it says so);
# - restore from it with ETCDCTL_USER set: every key back, nothing written
#   after it, authentication still enabled (the snapshot's auth state), the
#   health gate passes without a token;
# - status with ETCDCTL_USER: healthy, every member at the snapshot's
#   revision;
# - a playbook's member-remove and member-add: refused without a user (the
#   message says what to set) and with a wrong password (it says so), done
#   with run --user root and ETCDCTL_PASSWORD (with retries: etcd refuses a change until the
#   restored members have been connected for 5 s);
# - the same through the hosts (--health-via hosts: each member asked by the
#   agent on its host, the token fetched there too): refused without a user,
#   a wrong password in the same words as from here, done with ETCDCTL_USER;
# - the password appears nowhere in the state dir (journal, report, run
#   dir) or in anything etcd-dr printed.
. "$(dirname "$0")/lib.sh"
case ${1:-} in
  3.4) LAB=eauth4 ;;
  3.5) LAB=eauth5 ;;
  *) echo "usage: $0 3.4|3.5" >&2; exit 2 ;;
esac
lab_up 3 "$1"
export ETCDCTL_API=3 ETCD_DR_STATE_DIR=$WORK/state
unset ETCDCTL_USER ETCDCTL_PASSWORD
PW='Pw-9f2c-s3cret-e2e'
ip1=$(host_ip 1)
ctl() { "$LAB_ETCDCTL" --endpoints="http://$ip1:2379" "$@"; }
count_on() { # count_on I PREFIX: keys under PREFIX on member I, as root
  "$LAB_ETCDCTL" --endpoints="http://$(host_ip "$1"):2379" --user "root:$PW" get "$2" --prefix \
    -w json 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin).get("count", 0))'
}
col() { awk -v m="$1" -v c="$2" '$1 == m { print $c }' "$WORK/out"; }
write_spec "$WORK/cluster.json"
lab put-data 40 100 --prefix /kept/ >/dev/null 2>&1
ctl user add "root:$PW" >/dev/null 2>&1
ctl auth enable >/dev/null 2>&1
check "auth enabled: a read without a user is refused" \
  contains "$(ctl get /kept/ --prefix --keys-only 2>&1)" "user name is empty"
check "40 keys as root" test "$(count_on 1 /kept/)" = 40

# ---- snapshot save ---------------------------------------------------------
save() { "$ETCD_DR" snapshot save --cluster "$WORK/cluster.json" "$@" >"$WORK/out" 2>"$WORK/err"; rc=$?; cat "$WORK/out" "$WORK/err" >>"$WORK/printed"; }
save -o "$WORK/none.db"
check "no user: exit 4 (got $rc)" test "$rc" = 4
check "no user: etcd's refusal, and what to set" contains "$(cat "$WORK/err")" \
  "auth: user name is empty (authentication is enabled: set ETCDCTL_USER, or --user with ETCDCTL_PASSWORD)"
check "no user: no file, no .part" test ! -e "$WORK/none.db" -a ! -e "$WORK/none.db.part"
ETCDCTL_USER=root:wrong save -o "$WORK/wrong.db"
check "wrong password: exit 4 (got $rc)" test "$rc" = 4
check "wrong password: the error, word for word, names the member" test "$(cat "$WORK/err")" = \
  "etcd-dr: error: member 'm1' (http://$ip1:2379): authentication as 'root' failed: etcdserver: authentication failed, invalid user ID or password (check ETCDCTL_USER, or --user and ETCDCTL_PASSWORD)"
[[ $rc == 4 ]] || cat "$WORK/err"
check "wrong password: no file, no .part" test ! -e "$WORK/wrong.db" -a ! -e "$WORK/wrong.db.part"
save -o "$WORK/x.db" --user "root:$PW"
check "--user NAME:PASSWORD: exit 2 (got $rc)" test "$rc" = 2
check "--user NAME:PASSWORD: refused, word for word" test "$(cat "$WORK/err")" = \
  "etcd-dr: error: snapshot save: --user takes a user name only: put the password in ETCDCTL_PASSWORD, never on a command line"
ETCDCTL_USER=root save -o "$WORK/x.db"
check "ETCDCTL_USER without a password: exit 2 (got $rc)" test "$rc" = 2
check "ETCDCTL_USER without a password: says what to set" test "$(cat "$WORK/err")" = \
  "etcd-dr: error: snapshot save: ETCDCTL_USER 'root' has no password: set ETCDCTL_PASSWORD (or ETCDCTL_USER=root:PASSWORD)"
ETCDCTL_PASSWORD=$PW save -o "$WORK/user.db" --user root
check "--user root with ETCDCTL_PASSWORD: exit 0 (got $rc)" test "$rc" = 0
[[ $rc == 0 ]] || cat "$WORK/err"
ETCDCTL_USER=root:$PW save -o "$WORK/snap.db" -w json
check "ETCDCTL_USER=root:PW: exit 0 (got $rc)" test "$rc" = 0
[[ $rc == 0 ]] || cat "$WORK/err"
check "the snapshots are sound" "$ETCD_DR" snapshot verify "$WORK/snap.db"
# through m2's host: its agent authenticates at m2 (the password in the
# request on its SSH session only) and takes the snapshot itself
ip2=$(host_ip 2)
save -o "$WORK/ssh-none.db" --via ssh --member m2
check "--via ssh, no user: exit 4 (got $rc)" test "$rc" = 4
check "--via ssh, no user: etcd's refusal, naming m2's host, and what to set" \
  contains "$(cat "$WORK/err")" "member 'm2' on host $ip2: take-snapshot: http://$ip2:2379 refused the snapshot: http 500: auth: user name is empty (authentication is enabled: set ETCDCTL_USER, or --user with ETCDCTL_PASSWORD)"
[[ $rc == 4 ]] || cat "$WORK/err"
check "--via ssh, no user: no file, no .part" test ! -e "$WORK/ssh-none.db" -a ! -e "$WORK/ssh-none.db.part"
ETCDCTL_USER=root:wrong save -o "$WORK/ssh-wrong.db" --via ssh --member m2
check "--via ssh, wrong password: exit 4 (got $rc)" test "$rc" = 4
check "--via ssh, wrong password: says so, naming the member's URL" contains "$(cat "$WORK/err")" \
  "take-snapshot: http://$ip2:2379: authentication as 'root' failed: etcdserver: authentication failed, invalid user ID or password (check ETCDCTL_USER, or --user and ETCDCTL_PASSWORD)"
ETCDCTL_USER=root:$PW save -o "$WORK/ssh.db" --via ssh --member m2
check "--via ssh with ETCDCTL_USER: exit 0 (got $rc)" test "$rc" = 0
[[ $rc == 0 ]] || cat "$WORK/err"
check "--via ssh with ETCDCTL_USER: a sound snapshot" "$ETCD_DR" snapshot verify "$WORK/ssh.db"
ETCDCTL_PASSWORD=$PW save -o "$WORK/ssh-user.db" --via ssh --member m2 --user root
check "--via ssh with --user root and ETCDCTL_PASSWORD: exit 0 (got $rc)" test "$rc" = 0
check "--via ssh: the snapshot holds the 40 keys" test "$("$ETCD_DR" snapshot status -w json "$WORK/ssh-user.db" | python3 -c 'import json,sys; print(json.load(sys.stdin)["liveKeys"])')" = 40
snaprev=$("$ETCD_DR" snapshot status -w json "$WORK/snap.db" | python3 -c 'import json,sys; print(json.load(sys.stdin)["revision"])')
check "the snapshot's revision is the cluster's ($snaprev)" \
  test "$snaprev" = "$(ctl --user "root:$PW" endpoint status -w json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["Status"]["header"]["revision"])')"

# ---- restore and status with ETCDCTL_USER set -------------------------------
ctl --user "root:$PW" put /after/k v >/dev/null
lab disaster >/dev/null 2>&1
ETCDCTL_USER=root:$PW "$ETCD_DR" restore --yes --cluster "$WORK/cluster.json" --snapshot "$WORK/snap.db" \
  >"$WORK/out" 2>"$WORK/err"; rc=$?
cat "$WORK/out" "$WORK/err" >>"$WORK/printed"
check "restore with ETCDCTL_USER: exit 0 (got $rc)" test "$rc" = 0
[[ $rc == 0 ]] || tail -20 "$WORK/err"
check "restore: the health gate passed" grep -q "healthy in " "$WORK/out" "$WORK/err"
for i in 1 2 3; do
  check "m$i: every key back" test "$(count_on "$i" /kept/)" = 40
  check "m$i: nothing written after the snapshot" test "$(count_on "$i" /after/)" = 0
done
check "authentication still enabled after the restore" \
  contains "$("$LAB_ETCDCTL" --endpoints="http://$(host_ip 2):2379" get /kept/ --prefix 2>&1)" "user name is empty"
ETCDCTL_USER=root:$PW "$ETCD_DR" status --cluster "$WORK/cluster.json" >"$WORK/out" 2>"$WORK/err"; rc=$?
cat "$WORK/out" "$WORK/err" >>"$WORK/printed"
check "status with ETCDCTL_USER: healthy, exit 0 (got $rc)" test "$rc" = 0
[[ $rc == 0 ]] || cat "$WORK/out" "$WORK/err"
for i in 1 2 3; do
  check "status: m$i at the snapshot's revision $snaprev" test "$(col "m$i" 8)" = "$snaprev"
done

# ---- a playbook's member-remove and member-add (from here) -------------------
cat >"$WORK/members.json" <<'PB'
{"playbook": 1, "name": "members",
 "steps": [{"name": "remove", "kind": "member-remove", "target": "m3", "retries": 5, "retry_delay": 3},
           {"name": "add", "kind": "member-add", "target": "m3", "retries": 5, "retry_delay": 3}]}
PB
# the failures need no retry: the same playbook without them
sed 's/, "retries": 5, "retry_delay": 3//' "$WORK/members.json" >"$WORK/members-once.json"
ids() { ctl --user "root:$PW" member list -w fields | awk '/"ID"/ {print $3}' | sort | tr '\n' ' '; }
before=$(ids)
run_pb() { "$ETCD_DR" run "$WORK/${PB:-members-once}.json" --cluster "$WORK/cluster.json" --yes "$@" >"$WORK/out" 2>"$WORK/err"; rc=$?; cat "$WORK/out" "$WORK/err" >>"$WORK/printed"; }
run_pb
check "member-remove without a user: fails (exit $rc)" test "$rc" != 0
check "member-remove without a user: says to set ETCDCTL_USER" \
  contains "$(cat "$WORK/err")" "refused by http://$ip1:2379: etcdserver: user name is empty (authentication is enabled: set ETCDCTL_USER, or --user with ETCDCTL_PASSWORD)"
ETCDCTL_USER=root:wrong run_pb
check "member-remove, wrong password: fails (exit $rc)" test "$rc" != 0
check "member-remove, wrong password: says so, naming the member asked" contains "$(cat "$WORK/err")" \
  "cannot remove member 'm3': http://$ip1:2379: authentication as 'root' failed: etcdserver: authentication failed, invalid user ID or password"
check "nothing changed in the membership" test "$(ids)" = "$before"
run_pb --user "root:$PW"
check "run --user NAME:PASSWORD: refused, exit 2 (got $rc)" test "$rc" = 2
ETCDCTL_PASSWORD=$PW PB=members run_pb --user root
check "member-remove and member-add with --user root and ETCDCTL_PASSWORD: exit 0 (got $rc)" test "$rc" = 0
[[ $rc == 0 ]] || grep -a "error" "$WORK/err"
check "m3 has a new member id" test "$(ids)" != "$before" -a "$(ids | wc -w)" = 3
before_hosts=$(ids)

# ---- the same through the hosts (--health-via hosts) -------------------------
# Every other member asked by the agent on its host (etcd-http): the token
# too comes through that host, from the member the change goes to.
PB=members-once run_pb --health-via hosts
check "through the hosts, no user: fails (exit $rc)" test "$rc" != 0
check "through the hosts: the members were asked on their hosts" \
  contains "$(cat "$WORK/out" "$WORK/err")" "m1 through $ip1's agent"
check "through the hosts, no user: says to set ETCDCTL_USER" \
  contains "$(cat "$WORK/err")" "refused by http://$ip1:2379: etcdserver: user name is empty (authentication is enabled: set ETCDCTL_USER, or --user with ETCDCTL_PASSWORD)"
ETCDCTL_USER=root:wrong run_pb --health-via hosts
check "through the hosts, wrong password: fails (exit $rc)" test "$rc" != 0
want="etcd-dr: error: remove: member-remove m3: cannot remove member 'm3': http://$ip1:2379: authentication as 'root' failed: etcdserver: authentication failed, invalid user ID or password (check ETCDCTL_USER, or --user and ETCDCTL_PASSWORD)"
check "through the hosts, wrong password: the same words as from here, naming the member" \
  grep -qxF -- "$want" "$WORK/err"
grep -qxF -- "$want" "$WORK/err" || grep -a "error" "$WORK/err"
check "through the hosts: nothing changed in the membership" test "$(ids)" = "$before_hosts"
ETCDCTL_USER=root:$PW PB=members run_pb --health-via hosts
check "through the hosts with ETCDCTL_USER: member-remove and member-add, exit 0 (got $rc)" test "$rc" = 0
[[ $rc == 0 ]] || grep -a "error" "$WORK/err"
check "through the hosts: m3 has a new member id again" \
  test "$(ids)" != "$before_hosts" -a "$(ids | wc -w)" = 3

# ---- the password, nowhere --------------------------------------------------
check "the state dir has the run's journal and report" \
  test -n "$(find "$WORK/state" -name 'journal.jsonl')" -a -n "$(find "$WORK/state" -name 'report*')"
check "the password is nowhere in the state dir" test -z "$(grep -rlF -- "$PW" "$WORK/state")"
check "nor in anything etcd-dr printed" test -z "$(grep -F -- "$PW" "$WORK/printed")"
check "nor in the hosts' logs (etcd's, sshd's)" test -z "$(grep -rlF -- "$PW" "$LAB_DIR"/h*/var-log-etcd-lab 2>/dev/null)"
for i in 1 2 3; do
  check "m$i: nothing of etcd-dr left on the host" test -z "$(leftovers "$i")"
done
