#!/usr/bin/env bash
# bastion.sh - members reachable only through a jump host.
#
# Lab of 4 hosts: m1-m3 are the cluster, host 4 is the bastion (its etcd
# stopped).  A rule in this (the coordinator's) namespace drops SSH to
# m1-m3, so only the bastion reaches them:
#   - without a proxy the check fails (the rule works);
#   - restore with proxy_jump in the spec: every key back, healthy, the old
#     data kept; status with --proxy-jump and the client URLs cut too (so it
#     asks through the hosts);
#   - a proxy_command (ssh -W by hand) and a two-hop chain pass the check;
#   - a bastion whose host key is not in known_hosts stops the run before
#     anything: exit 4, the message names the jump host and why, no host
#     changed.
. "$(dirname "$0")/lib.sh"
LAB=ebst
bastion_lab_up edr_ebst_cut /b/ # nft table edr_ebst_cut in this namespace: ours alone

# A 3-member spec (host 4 is no member).
write_spec "$WORK/all.json"
python3 - "$WORK/all.json" "$WORK/cluster.json" "$B" <<'PY'
import json, sys
s = json.load(open(sys.argv[1])); s["members"] = s["members"][:3]
json.dump(s, open(sys.argv[2], "w"))
s["proxy_jump"] = "root@" + sys.argv[3]
json.dump(s, open(sys.argv[2].replace("cluster", "jump"), "w"))
PY

nft -f - <<EOF
table inet $CUT {
  chain out {
    type filter hook output priority 0; policy accept;
    ip daddr { $(host_ip 1), $(host_ip 2), $(host_ip 3) } tcp dport 22 drop
  }
}
EOF

"$ETCD_DR" plan --check --cluster "$WORK/cluster.json" >"$WORK/out" 2>"$WORK/err"
rc=$?
check "no proxy: the check fails, SSH to the members is cut (exit $rc)" test "$rc" = 4

# Two runs through the bastion must not leave OpenSSH clients behind.
ssh_procs() { pgrep -f -- "-W .*:22 ssh://root@$B" | wc -l; }

"$ETCD_DR" restore --yes --cluster "$WORK/jump.json" --snapshot "$WORK/snap.db" >"$WORK/out" 2>"$WORK/err"
rc=$?
check "proxy_jump: restore exits 0 (got $rc)" test "$rc" = 0
[[ $rc == 0 ]] || sed 's/^/    /' "$WORK/err"
run=$(sed -n 's/^etcd-dr: run \([0-9a-f-]*\): restoring.*/\1/p' "$WORK/err")
for i in 1 2 3; do
  check "proxy_jump: m$i serves the snapshot's keys" test "$(checksum_on "$i" /b/)" = "$want"
  check "proxy_jump: m$i has no key written after the snapshot" \
    test "$(checksum_on "$i" /late/ | cut -d' ' -f1)" = 0
  check "proxy_jump: m$i healthy" healthy_on "$i"
  check "proxy_jump: m$i kept its old member dir" on_host "$i" test -d "/var/lib/etcd/member.etcd-dr-$run"
done
check "proxy_jump: no ssh -W left running" test "$(ssh_procs)" = 0

"$ETCD_DR" plan --cluster "$WORK/jump.json" >"$WORK/out" 2>"$WORK/err"
check "proxy_jump: the plan shows the route" \
  grep -q "connect to root@$(host_ip 1):22 through jump host root@$B (OpenSSH's ssh -W" "$WORK/out"

# Client URLs cut too: status must ask each member through its host.
nft add rule inet "$CUT" out ip daddr "{ $(host_ip 1), $(host_ip 2), $(host_ip 3) }" tcp dport 2379 drop
"$ETCD_DR" status --cluster "$WORK/cluster.json" --proxy-jump "root@$B" >"$WORK/out" 2>"$WORK/err"
rc=$?
check "--proxy-jump: status through the hosts exits 0 (got $rc)" test "$rc" = 0
check "--proxy-jump: status says healthy" grep -qx "verdict: healthy" "$WORK/out"
[[ $rc == 0 ]] || sed 's/^/    /' "$WORK/out" "$WORK/err"

pc="ssh -F none -o BatchMode=yes -i $LAB_KEY -o UserKnownHostsFile=$LAB_KNOWN_HOSTS -o GlobalKnownHostsFile=/dev/null -W %h:%p root@$B"
"$ETCD_DR" plan --check --cluster "$WORK/cluster.json" --proxy-command "$pc" >"$WORK/out" 2>"$WORK/err"
rc=$?
check "proxy_command: the check passes through it (exit $rc)" test "$rc" = 0
[[ $rc == 0 ]] || sed 's/^/    /' "$WORK/err"

"$ETCD_DR" plan --check --cluster "$WORK/cluster.json" --identity "$LAB_KEY" \
  --proxy-jump "root@$B,root@$(host_ip 1)" >"$WORK/out" 2>"$WORK/err"
rc=$?
check "two hops (bastion, then m1): the check passes (exit $rc)" test "$rc" = 0
[[ $rc == 0 ]] || sed 's/^/    /' "$WORK/err"

# The bastion's key unknown: stop before anything.
grep -v "^$B " "$LAB_KNOWN_HOSTS" >"$WORK/kh-nobastion"
states_before=$(for i in 1 2 3; do echo "h$i: $(host_state "$i")"; done)
"$ETCD_DR" restore --yes --cluster "$WORK/jump.json" --known-hosts "$WORK/kh-nobastion" \
  --snapshot "$WORK/snap.db" >"$WORK/out" 2>"$WORK/err"
rc=$?
check "unknown bastion key: exit 4 (got $rc)" test "$rc" = 4
check "unknown bastion key: the message names the jump host and why" \
  grep -q "m1 (.*through jump host root@$B: .*Host key verification failed" "$WORK/err"
[[ $rc == 4 ]] || sed 's/^/    /' "$WORK/err"
check "unknown bastion key: no host changed" \
  test "$(for i in 1 2 3; do echo "h$i: $(host_state "$i")"; done)" = "$states_before"
check "unknown bastion key: no ssh -W left running" test "$(ssh_procs)" = 0
