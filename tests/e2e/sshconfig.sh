#!/usr/bin/env bash
# sshconfig.sh - the operator's ssh_config, read through OpenSSH's ssh -G.
#
# Lab of 4 hosts: m1-m3 are the cluster, host 4 a bastion (its etcd
# stopped).  m1-m3's sshd also listen on port 2222.  An ssh_config (given
# with --ssh-config) names the members by Host aliases db1-db3 with
# HostName, User edrlab (sudo -n), Port 2222, IdentityFile an RSA 3072 key
# no spec mentions, IdentitiesOnly and UserKnownHostsFile; the spec names
# only the aliases (ssh_host) and m3's own port:
#   - plan shows where each value came from, word for word;
#   - restore connects with it: sshd on each member accepted edrlab's RSA
#     key on port 2222; every key back, healthy;
#   - ProxyJump in the ssh_config (the bastion) reaches the members while a
#     rule here drops every direct SSH route: restore through OpenSSH's ssh
#     -W, no ssh left running; the member's own key is still checked against
#     the known_hosts the file names (one member's key missing there: exit 4
#     before anything, the bastion's key known);
#   - StrictHostKeyChecking no for one alias: refused before anything (exit
#     2, message naming host, file and setting; no sshd saw a connection).
. "$(dirname "$0")/lib.sh"
LAB=esshc
bastion_lab_up edr_esshc_cut /s/ # nft table edr_esshc_cut in this namespace: ours alone
export ETCD_DR_STATE_DIR=$WORK/state
unset SSH_AUTH_SOCK # the operator's agent must not help

# sshd on m1-m3 on port 2222 too
for i in 1 2 3; do
  echo "ListenAddress $(host_ip "$i"):2222" >>"$LAB_DIR/h$i/sshd_config"
done
sshd_reload 2222 1 2 3

ssh-keygen -q -t rsa -b 3072 -N '' -C edr-e2e-sshconfig -f "$WORK/id_rsa_ops"
cat "$WORK/id_rsa_ops.pub" >>"$LAB_DIR/authorized_keys"
# known_hosts for port 2222 is "[ip]:2222 key"; the bastion's on port 22
sed -E 's/^([0-9.]+) /[\1]:2222 /' "$LAB_KNOWN_HOSTS" >"$WORK/kh_ops"
grep "^$B " "$LAB_KNOWN_HOSTS" >>"$WORK/kh_ops"

# ssh_config: aliases db1-db3; JUMP adds a ProxyJump through the bastion,
# LAX a StrictHostKeyChecking no for db2
write_config() { # FILE [jump|lax]
  local i
  {
    for i in 1 2 3; do
      printf 'Host db%d\n  HostName %s\n' "$i" "$(host_ip "$i")"
      [[ ${2:-} == lax && $i == 2 ]] && printf '  StrictHostKeyChecking no\n'
    done
    printf 'Host db*\n  User edrlab\n  Port 2222\n  IdentityFile %s\n' "$WORK/id_rsa_ops"
    printf '  IdentitiesOnly yes\n  UserKnownHostsFile %s\n' "$WORK/kh_ops"
    [[ ${2:-} == jump ]] && printf '  ProxyJump root@%s\n' "$B"
  } >"$1"
}
write_config "$WORK/ssh_config"
write_config "$WORK/ssh_config_jump" jump
write_config "$WORK/ssh_config_lax" lax
{
  printf '{\n  "stop_command": ["%s", "stop"], "start_command": ["%s", "start"],\n' \
    "$LAB_HOST_SERVICE" "$LAB_HOST_SERVICE"
  printf '  "members": [\n'
  printf '    {"name": "m1", "peer_urls": ["http://%s:2380"], "ssh_host": "db1"},\n' "$(host_ip 1)"
  printf '    {"name": "m2", "peer_urls": ["http://%s:2380"], "ssh_host": "db2"},\n' "$(host_ip 2)"
  printf '    {"name": "m3", "peer_urls": ["http://%s:2380"], "ssh_host": "db3", "ssh_port": 2222}\n' "$(host_ip 3)"
  printf '  ]\n}\n'
} >"$WORK/cluster.json"

# restore_with CONFIG [SPEC]: restore with that ssh_config; rc, $WORK/out, $WORK/err
restore_with() {
  "$ETCD_DR" restore --yes --cluster "${2:-$WORK/cluster.json}" --ssh-config "$1" \
    --snapshot "$WORK/snap.db" >"$WORK/out" 2>"$WORK/err"
  rc=$?
}

# ---- plan: where each value came from ------------------------------------
"$ETCD_DR" plan --cluster "$WORK/cluster.json" --ssh-config "$WORK/ssh_config" \
  >"$WORK/out" 2>"$WORK/err"
rc=$?
check "plan exits 0 (got $rc)" test "$rc" = 0
[[ $rc == 0 ]] || cat "$WORK/err"
common="user edrlab (ssh_config), port 2222 (ssh_config), identity $WORK/id_rsa_ops (ssh_config), no ssh-agent (ssh_config IdentitiesOnly), known_hosts $WORK/kh_ops (ssh_config)"
check "plan: the ssh_config line" \
  grep -qxF "  ssh_config:        $WORK/ssh_config (--ssh-config), as ssh -G reads it" "$WORK/out"
check "plan: m1's header" grep -qxF "member m1  (edrlab@$(host_ip 1):2222, sudo -n)" "$WORK/out"
check "plan: m1's settings and their origin, word for word" grep -qxF \
  "  ssh: host $(host_ip 1) (ssh_config HostName of db1), $common" "$WORK/out"
check "plan: m3's port is its own (spec member)" grep -qxF \
  "  ssh: host $(host_ip 3) (ssh_config HostName of db3), user edrlab (ssh_config), port 2222 (spec member), identity $WORK/id_rsa_ops (ssh_config), no ssh-agent (ssh_config IdentitiesOnly), known_hosts $WORK/kh_ops (ssh_config)" \
  "$WORK/out"
# the command line beats ssh_config, a member's own value beats both
"$ETCD_DR" plan --cluster "$WORK/cluster.json" --ssh-config "$WORK/ssh_config" --ssh-port 2200 \
  >"$WORK/out" 2>"$WORK/err"
check "plan --ssh-port 2200: m1's port from the command line" grep -qF \
  "HostName of db1), user edrlab (ssh_config), port 2200 (command line)," "$WORK/out"
check "plan --ssh-port 2200: m3 keeps its own" grep -qF \
  "HostName of db3), user edrlab (ssh_config), port 2222 (spec member)," "$WORK/out"
"$ETCD_DR" plan --cluster "$WORK/cluster.json" --ssh-config none >"$WORK/out" 2>"$WORK/err"
check "plan --ssh-config none: db1 as it stands, defaults" grep -qxF \
  "  ssh: host db1 (spec member), user root (default), port 22 (default), identity ssh-agent, then ~/.ssh/id_ed25519, id_ecdsa, id_rsa (default), known_hosts $HOME/.ssh/known_hosts (default)" \
  "$WORK/out"

# ---- restore with it -----------------------------------------------------
for i in 1 2 3; do cp "$LAB_DIR/h$i/sshd.log" "$WORK/h$i-sshd.before"; done
restore_with "$WORK/ssh_config"
check "restore with the ssh_config: exit 0 (got $rc)" test "$rc" = 0
[[ $rc == 0 ]] || sed 's/^/    /' "$WORK/err"
for i in 1 2 3; do
  new_log=$(diff "$WORK/h$i-sshd.before" "$LAB_DIR/h$i/sshd.log" | grep '^>' || true)
  check "m$i: sshd accepted edrlab's RSA key on port 2222" \
    grep -q "Accepted publickey for edrlab from .* ssh2: RSA SHA256:" <<<"$new_log"
  check "m$i: ... connected on port 2222, never 22" \
    test "$(grep -c "Connection from .* on $(host_ip "$i") port 2222 " <<<"$new_log") \
      $(grep -c "Connection from .* on $(host_ip "$i") port 22 " <<<"$new_log")" != "0 0" -a \
      "$(grep -c "Connection from .* on $(host_ip "$i") port 22 " <<<"$new_log")" = 0
  check "m$i serves the snapshot's keys" test "$(checksum_on "$i" /s/)" = "$want"
  check "m$i has no key written after the snapshot" \
    test "$(checksum_on "$i" /late/ | cut -d' ' -f1)" = 0
  check "m$i healthy" healthy_on "$i"
done

# ---- ProxyJump in the ssh_config, direct routes cut ----------------------
nft -f - <<EOF
table inet $CUT {
  chain out {
    type filter hook output priority 0; policy accept;
    ip daddr { $(host_ip 1), $(host_ip 2), $(host_ip 3) } tcp dport { 22, 2222 } drop
  }
}
EOF
"$ETCD_DR" plan --check --cluster "$WORK/cluster.json" --ssh-config "$WORK/ssh_config" \
  >"$WORK/out" 2>"$WORK/err"
rc=$?
check "routes cut, no ProxyJump: the check fails (exit $rc)" test "$rc" = 4
lab put-data 10 100 --prefix /late2/ >/dev/null 2>&1
ssh_procs() { pgrep -f -- "-W .*:2222 ssh://root@$B" | wc -l; }
"$ETCD_DR" plan --cluster "$WORK/cluster.json" --ssh-config "$WORK/ssh_config_jump" \
  >"$WORK/out" 2>"$WORK/err"
check "plan: the route through the ssh_config's jump host (OpenSSH's ssh -W)" grep -qF \
  "connect to edrlab@$(host_ip 1):2222 through jump host root@$B (OpenSSH's ssh -W; their host keys checked against $WORK/kh_ops too), check its host key against $WORK/kh_ops" \
  "$WORK/out"
check "plan: the jump host's origin" grep -qF ", jump host root@$B (ssh_config)" "$WORK/out"
restore_with "$WORK/ssh_config_jump"
check "ProxyJump from ssh_config: restore exits 0 (got $rc)" test "$rc" = 0
[[ $rc == 0 ]] || sed 's/^/    /' "$WORK/err"
for i in 1 2 3; do
  check "ProxyJump: m$i serves the snapshot's keys" test "$(checksum_on "$i" /s/)" = "$want"
  check "ProxyJump: m$i lost what was written since" \
    test "$(checksum_on "$i" /late2/ | cut -d' ' -f1)" = 0
  check "ProxyJump: m$i healthy" healthy_on "$i"
done
check "ProxyJump: no ssh -W left running" test "$(ssh_procs)" = 0

# the member's key is still etcd-dr's to check: m1's missing from the file
grep -v "^\[$(host_ip 1)\]:2222 " "$WORK/kh_ops" >"$WORK/kh_no_m1"
sed "s|$WORK/kh_ops|$WORK/kh_no_m1|" "$WORK/ssh_config_jump" >"$WORK/ssh_config_jump2"
states_before=$(for i in 1 2 3; do echo "h$i: $(host_state "$i")"; done)
restore_with "$WORK/ssh_config_jump2"
check "m1's key unknown (through the jump host): exit 4 (got $rc)" test "$rc" = 4
# etcd-dr's own check of the member's key (libssh2, through the relay), not
# OpenSSH's of the bastion's
kh_msg="host key for '[$(host_ip 1)]:2222' is not in '$WORK/kh_no_m1'"
check "m1's key unknown: etcd-dr's message names m1's key and the file" \
  grep -qF "$kh_msg" "$WORK/err"
[[ $rc == 4 ]] && grep -qF "$kh_msg" "$WORK/err" || sed 's/^/    /' "$WORK/err"
check "m1's key unknown: no host changed" \
  test "$(for i in 1 2 3; do echo "h$i: $(host_state "$i")"; done)" = "$states_before"
nft delete table inet "$CUT"

# ---- StrictHostKeyChecking no: refused before anything -------------------
for i in 1 2 3 4; do cp "$LAB_DIR/h$i/sshd.log" "$WORK/h$i-sshd.before"; done
restore_with "$WORK/ssh_config_lax"
check "StrictHostKeyChecking no: exit 2 (got $rc)" test "$rc" = 2
check "StrictHostKeyChecking no: the message names host, file and setting" grep -qF \
  "member 'm2': ssh_config $WORK/ssh_config_lax sets StrictHostKeyChecking no (any host key accepted) for host 'db2'" \
  "$WORK/err"
[[ $rc == 2 ]] || sed 's/^/    /' "$WORK/err"
seen=0
for i in 1 2 3 4; do
  [[ -n $(diff "$WORK/h$i-sshd.before" "$LAB_DIR/h$i/sshd.log" | grep '^>') ]] && seen=$((seen + 1))
done
check "StrictHostKeyChecking no: no sshd saw a connection" test "$seen" = 0
check "StrictHostKeyChecking no: no host changed" \
  test "$(for i in 1 2 3; do echo "h$i: $(host_state "$i")"; done)" = "$states_before"
