#!/usr/bin/env bash
# yaml.sh - a restore from a YAML cluster spec written the way an operator
# writes one (comments, `sudo: yes`, an unquoted port, a block list), on a
# lab of 3 real hosts: every key of the snapshot back on every member.  Then
# the same file with one bad value: refused before anything is contacted,
# the message naming the file and line, nothing changed on any host.
. "$(dirname "$0")/lib.sh"
LAB=eyaml
lab_up 3 3.5
want=$(snapshot_then_disaster /y/ 150 400)

set -- $LAB_HOSTS
cat >"$WORK/cluster.yaml" <<YAML
# lab cluster for etcd-dr (tests/e2e/yaml.sh)
ssh_user: root
identity_file: $LAB_KEY
known_hosts: $LAB_KNOWN_HOSTS
stop_command: [$LAB_HOST_SERVICE, stop]     # the lab's service script
start_command:
  - $LAB_HOST_SERVICE
  - start
members:
  - name: m1
    peer_urls: [http://$1:2380]
  - name: m2
    peer_urls:
      - http://$2:2380
    ssh_user: edrlab   # through sudo -n
    sudo: yes
    ssh_port: 22
  - name: m3
    peer_urls: ["http://$3:2380"]
YAML
restore_from "$WORK/cluster.yaml" "$WORK/snap.db" /y/ "$want"
check "m2 went through sudo -n as edrlab" python3 - "$(sed -n 's/^report: //p' "$WORK/err")" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
assert [h["member"] for h in r["hosts"]] == ["m1", "m2", "m3"], r["hosts"]
assert r["exit_code"] == 0
PY
check "the plan shows m2 as edrlab with sudo -n" \
  contains "$("$ETCD_DR" plan --cluster "$WORK/cluster.yaml" 2>&1)" "member m2  (edrlab@$2:22, sudo -n)"

# One bad value: line 17 of the file, in the same words as JSON's.
lab disaster >/dev/null 2>&1
before=$(all_states)
sed 's/^    ssh_port: 22$/    ssh_port: 022x/' "$WORK/cluster.yaml" >"$WORK/bad.yaml"
"$ETCD_DR" restore --yes --cluster "$WORK/bad.yaml" --snapshot "$WORK/snap.db" \
  >"$WORK/out2" 2>"$WORK/err2"
rc=$?
check "a bad port: exit 2 (got $rc)" test "$rc" = 2
check "the message names the file, line, member and field" \
  test "$(cat "$WORK/err2")" = "etcd-dr: error: $WORK/bad.yaml:17: member 'm2': field 'ssh_port': expected a port number 1-65535"
check "nothing changed on any host" test "$(all_states)" = "$before"
