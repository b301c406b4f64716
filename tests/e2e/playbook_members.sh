#!/usr/bin/env bash
# playbook_members.sh VERSION - orchestrator/members.c (the member-list,
# member-add and member-remove of playbooks) against a real 3-member cluster
# on the lab, through tests/members/members_cli.c, checked with etcdctl:
# the list matches `etcdctl member list` (ids, names, URLs, cluster id); a
# lost member is removed and added back, and its host rejoins with an empty
# data dir; add and remove are idempotent; etcd's refusals come back with
# etcd's own words and the URL asked; no answer at all names every URL.
. "$(dirname "$0")/lib.sh"
VERSION=${1:?usage: playbook_members.sh 3.4|3.5}
CLI=${MEMBERS_CLI:-$REPO/build/tests/members_cli}
LAB=pbm${VERSION/./}
need_root
[[ -x $CLI ]] || { fail "members_cli not built ($CLI)"; exit 1; }
lab_up 3 "$VERSION"

etcdctl() { ETCDCTL_API=3 "$LAB_ETCDCTL" --endpoints="$LAB_ENDPOINTS" --dial-timeout=3s --command-timeout=10s "$@"; }
URLS=$(echo "$LAB_ENDPOINTS")
peer() { echo "http://$(host_ip "$1"):2380"; }
client() { echo "http://$(host_ip "$1"):2379"; }
jget() { python3 -c 'import json,sys; v=json.loads(sys.argv[1]); print(eval(sys.argv[2]))' "$1" "$2"; }
# etcdctl's view, normalised: "hexid name peer1,.. client1,..", one per member, sorted.
ctl_members() {
  etcdctl member list -w json | python3 -c '
import json, sys
j = json.load(sys.stdin)
for m in sorted(j["members"], key=lambda m: m["ID"]):
    print("%x|%s|%s|%s" % (m["ID"], m.get("name", ""), ",".join(m.get("peerURLs", [])), ",".join(m.get("clientURLs", []))))'
}
cli_members() {
  python3 -c '
import json, sys
j = json.loads(sys.argv[1])
for m in sorted(j["members"], key=lambda m: int(m["id"], 16)):
    print("%s|%s|%s|%s" % (m["id"], m["name"], ",".join(m["peer_urls"]), ",".join(m["client_urls"])))' "$1"
}
wait_healthy() { lab health --timeout "${1:-60}" >/dev/null 2>&1; }
# etcd refuses a member add ("etcdserver: unhealthy cluster") until the member
# asked has been connected to every peer for 5 s: after a member stopped,
# joined or was removed, try again for a while (as a playbook's retries do).
add_retrying() { # add_retrying URLS PEERS -> sets out, rc
  local t
  for t in $(seq 20); do
    out=$("$CLI" add "$1" "$2"); rc=$?
    [[ $rc != 0 && $out == *'etcdserver: unhealthy cluster'* ]] || return 0
    sleep 1
  done
}

# ---- list
out=$("$CLI" list "$URLS"); rc=$?
check "list exits 0 (got $rc)" test "$rc" = 0
check "list: same members, ids, names and URLs as etcdctl" test "$(cli_members "$out")" = "$(ctl_members)"
[[ $(cli_members "$out") == "$(ctl_members)" ]] || { echo "cli:"; cli_members "$out"; echo "etcdctl:"; ctl_members; }
check "list: 3 members" test "$(cli_members "$out" | wc -l)" = 3
ctl_cluster=$(etcdctl member list -w json | python3 -c 'import json,sys; print("%x" % json.load(sys.stdin)["header"]["cluster_id"])')
check "list: cluster id is etcdctl's ($ctl_cluster)" test "$(jget "$out" 'v["cluster_id"]')" = "$ctl_cluster"
check "list: asked the first URL" test "$(jget "$out" 'v["asked"]')" = "$(client 1)"
out=$("$CLI" list "http://127.0.0.1:9,$(client 2)")
check "list: a URL that refuses is passed over for the next" test "$(jget "$out" 'v["asked"]')" = "$(client 2)"
out=$(EDR_MEMBERS_TIMEOUT_MS=1500 "$CLI" list "http://127.0.0.1:9,http://$LAB_UNREACHABLE:2379"); rc=$?
check "list: no member answers -> exit 1" test "$rc" = 1
err=$(jget "$out" 'v["err"]')
check "list: the error names every URL asked and why ($err)" \
  eval 'contains "$err" "http://127.0.0.1:9: connection refused" && contains "$err" "http://$LAB_UNREACHABLE:2379: "'
id1=$(ctl_members | awk -F'|' '$2 == "m1" {print $1}')
id3=$(ctl_members | awk -F'|' '$2 == "m3" {print $1}')

# ---- a lost member: removed by name, then added back and rejoined empty
lab etcd 3 stop >/dev/null 2>&1
out=$("$CLI" remove "$URLS" m3 "$(peer 3)"); rc=$?
check "remove m3 (stopped) exits 0 (got $rc: $(jget "$out" 'v["err"]'))" test "$rc" = 0
check "remove m3: not reported absent" test "$(jget "$out" 'v["absent"]')" = False
check "etcdctl: m1 m2 left, m3's id gone" test "$(ctl_members | awk -F'|' '{print $2}' | sort | tr '\n' ' ')" = "m1 m2 "
check "etcdctl: no member has m3's id" eval '! grep -q "^$id3|" <<<"$(ctl_members)"'
out=$("$CLI" remove "$URLS" m3 "$(peer 3)"); rc=$?
check "remove m3 again: exits 0, absent (idempotent)" test "$rc:$(jget "$out" 'v["absent"]')" = "0:True"
check "remove again changed nothing: 2 members" test "$(ctl_members | wc -l)" = 2

add_retrying "$URLS" "$(peer 3)"
check "add m3's peer URL exits 0 (got $rc: $(jget "$out" 'v["err"]'))" test "$rc" = 0
new3=$(jget "$out" 'v["id"]')
check "add: not reported already" test "$(jget "$out" 'v["already"]')" = False
check "etcdctl: a new unstarted member $new3 with m3's peer URL" \
  test "$(ctl_members | awk -F'|' -v id="$new3" '$1 == id {print $2 "|" $3}')" = "|$(peer 3)"
check "the new member has a new id ($id3 -> $new3)" test -n "$new3" -a "$new3" != "$id3"
out=$("$CLI" add "$URLS" "$(peer 3)/"); rc=$?
check "add again (same URL, trailing slash): exits 0, already, same id" \
  test "$rc:$(jget "$out" 'v["already"]'):$(jget "$out" 'v["id"]')" = "0:True:$new3"
check "add again changed nothing: 3 members" test "$(ctl_members | wc -l)" = 3

# etcd refuses a 4th member while only 2 of 3 are started: its words, the URL asked
out=$("$CLI" add "http://127.0.0.1:9,$URLS" "http://$LAB_UNREACHABLE:2380"); rc=$?
err=$(jget "$out" 'v["err"]')
check "refused add exits 1, EDR_EUNHEALTHY" test "$rc:$(jget "$out" 'v["code"]')" = "1:EDR_EUNHEALTHY"
check "refused add: etcd's reason and the member asked ($err)" \
  eval 'contains "$err" "etcdserver: re-configuration failed due to not enough started members" && contains "$err" "refused by $(client 1)"'
check "refused add changed nothing: 3 members" test "$(ctl_members | wc -l)" = 3

# host 3 rejoins as the added member: empty data dir, initial-cluster-state existing
on_host 3 sh -c 'mv /var/lib/etcd/member /var/lib/etcd/member.pbm-old &&
  cp -p /etc/etcd-lab/etcd.env /etc/etcd-lab/etcd.env.pbm &&
  sed -i s/^ETCD_INITIAL_CLUSTER_STATE=.*/ETCD_INITIAL_CLUSTER_STATE=existing/ /etc/etcd-lab/etcd.env'
lab etcd 3 start >/dev/null 2>&1
check "m3 rejoined: cluster healthy" wait_healthy 60
check "etcdctl: m3 started under the added id $new3" \
  test "$(ctl_members | awk -F'|' '$2 == "m3" {print $1}')" = "$new3"
on_host 3 mv /etc/etcd-lab/etcd.env.pbm /etc/etcd-lab/etcd.env
out=$("$CLI" list "$URLS")
check "list after the rejoin matches etcdctl" test "$(cli_members "$out")" = "$(ctl_members)"

# ---- an added member that never started is found by peer URL (it has no name)
add_retrying "$URLS" "http://$LAB_UNREACHABLE:2380"
extra=$(jget "$out" 'v["id"]')
check "add a 4th member with all 3 started: exits 0 (got $rc: $(jget "$out" 'v["err"]'))" test "$rc" = 0
out=$("$CLI" remove "$URLS" m4 "http://$LAB_UNREACHABLE:2380"); rc=$?
check "remove by peer URL of a member with no name yet: exits 0, not absent" \
  test "$rc:$(jget "$out" 'v["absent"]')" = "0:False"
check "etcdctl: the 4th member ($extra) is gone, 3 left" \
  eval '! grep -q "^$extra|" <<<"$(ctl_members)" && test "$(ctl_members | wc -l)" = 3'

# ---- a refused remove: with m3 stopped, removing m1 would leave m2 alone
check "healthy before the refused remove" wait_healthy 30
lab etcd 3 stop >/dev/null 2>&1
out=$("$CLI" remove "$URLS" m1); rc=$?
err=$(jget "$out" 'v["err"]')
check "refused remove exits 1, EDR_EUNHEALTHY" test "$rc:$(jget "$out" 'v["code"]')" = "1:EDR_EUNHEALTHY"
want_who="'m1' (id $id1)"
check "refused remove: etcd's reason, the member and its id ($err)" \
  eval 'contains "$err" "etcdserver: unhealthy cluster" && contains "$err" "$want_who" && contains "$err" "refused by $(client 1)"'
check "refused remove changed nothing: m1 still a member" test "$(ctl_members | awk -F'|' '$2 == "m1" {print $1}')" = "$id1"
lab etcd 3 start >/dev/null 2>&1
check "healthy again" wait_healthy 60

# ---- no leaks.  An ASan build (scripts/test.sh) finds them itself: LeakSanitizer
# makes every call above exit 86.  Otherwise valgrind, when there is one; a
# valgrind that could not run the program (it says so on stderr) is a failure,
# not a pass.
if grep -q libasan <<<"$(ldd "$CLI" 2>/dev/null)"; then
  echo "info: leaks: checked by LeakSanitizer (ASan build), not valgrind"
elif command -v valgrind >/dev/null; then
  vg() {
    valgrind -q --leak-check=full --errors-for-leak-kinds=definite --error-exitcode=99 \
      "$CLI" "$@" >/dev/null 2>"$WORK/vg"
    local rc=$?
    if [[ $rc == 99 ]] || grep -qE '^==[0-9]+== (valgrind|Fatal|ASan)|runtime does not come first' "$WORK/vg"; then
      cat "$WORK/vg"; return 1
    fi
  }
  check "valgrind: list leaks nothing" vg list "http://127.0.0.1:9,$URLS"
  check "valgrind: add (already) leaks nothing" vg add "$URLS" "$(peer 3)"
  check "valgrind: remove (absent) leaks nothing" vg remove "$URLS" nosuch "http://$LAB_UNREACHABLE:2381"
  check "valgrind: refused add leaks nothing" vg add "$(client 1)" "http://$(host_ip 2):2380"
fi
