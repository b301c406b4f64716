#!/usr/bin/env bash
# refuse.sh - bad input and unready hosts end the run before any host is
# changed, with a message that names the host and the reason.  Each case
# compares, on every host, what an operator would look at (etcd running, the
# member dir's inode, the data dir's entries) before and after, and checks
# that nothing of etcd-dr is left behind.
. "$(dirname "$0")/lib.sh"
LAB=erefuse
lab_up 3 3.4
lab put-data 100 100 --prefix /k/ >/dev/null 2>&1
lab snapshot "$WORK/snap.db" >/dev/null 2>&1
data_before=$(checksum_on 1 /k/)
write_spec "$WORK/cluster.json"

# expect_refusal NAME WANT_STATUS WANT_TEXT -- etcd-dr ARGS...
expect_refusal() {
  local name=$1 want_rc=$2 want=$3
  shift 4
  local before after rc
  before=$(all_states)
  "$ETCD_DR" "$@" >"$WORK/out" 2>"$WORK/err"
  rc=$?
  after=$(all_states)
  check "$name: exit status $want_rc (got $rc)" test "$rc" = "$want_rc"
  check "$name: message says '$want'" contains "$(cat "$WORK/err")" "$want"
  [[ $rc == "$want_rc" ]] && contains "$(cat "$WORK/err")" "$want" || cat "$WORK/err"
  check "$name: every host unchanged (etcd running, same member dir)" test "$before" = "$after"
  contains "$before" stopped && fail "$name: etcd was not running before"
  local i
  for i in 1 2 3; do
    check "$name: nothing left on m$i" test -z "$(leftovers "$i")"
  done
}

restore=(restore --yes --cluster "$WORK/cluster.json")

# 1. a snapshot whose bytes do not match its sha-256 trailer
cp "$WORK/snap.db" "$WORK/bad.db"
printf 'X' | dd of="$WORK/bad.db" bs=1 seek=5000 conv=notrunc status=none
expect_refusal "damaged snapshot" 3 "is damaged" -- "${restore[@]}" --snapshot "$WORK/bad.db"

# 2. a snapshot without a trailer, without --skip-hash-check
head -c $(( $(stat -c %s "$WORK/snap.db") - 32 )) "$WORK/snap.db" >"$WORK/notrailer.db"
expect_refusal "no trailer" 3 "no sha-256 trailer" -- "${restore[@]}" --snapshot "$WORK/notrailer.db"

# 3. a host that cannot be reached: nothing changes on the two that can
sed "s|\"peer_urls\": \\[\"http://$(host_ip 3):2380\"\\]|&, \"ssh_host\": \"$LAB_UNREACHABLE\"|" \
  "$WORK/cluster.json" >"$WORK/unreach.json"
expect_refusal "unreachable host" 4 "m3 ($LAB_UNREACHABLE): connect" -- \
  restore --yes --cluster "$WORK/unreach.json" --snapshot "$WORK/snap.db"

# 4. a host whose key is not in known_hosts
grep -v "^$(host_ip 2) " "$LAB_KNOWN_HOSTS" >"$WORK/kh-missing"
write_spec "$WORK/kh1.json" "$WORK/kh-missing"
expect_refusal "unknown host key" 4 "host key for '$(host_ip 2)' is not in" -- \
  restore --yes --cluster "$WORK/kh1.json" --snapshot "$WORK/snap.db"

# 5. a host whose key changed (known_hosts has another host's key for it)
key3=$(grep "^$(host_ip 3) " "$LAB_KNOWN_HOSTS" | cut -d' ' -f2-)
{ grep -v "^$(host_ip 1) " "$LAB_KNOWN_HOSTS"; echo "$(host_ip 1) $key3"; } >"$WORK/kh-changed"
write_spec "$WORK/kh2.json" "$WORK/kh-changed"
expect_refusal "changed host key" 4 "HOST KEY CHANGED for '$(host_ip 1)'" -- \
  restore --yes --cluster "$WORK/kh2.json" --snapshot "$WORK/snap.db" --accept-new-host-keys

# 6. a user for whom sudo -n asks for a password
write_spec "$WORK/nosudo.json" "$LAB_KNOWN_HOSTS" '"ssh_user": "edrnosudo", "sudo": true'
expect_refusal "sudo refused" 4 "m2 ($(host_ip 2)): push-agent: sudo -n refused" -- \
  restore --yes --cluster "$WORK/nosudo.json" --snapshot "$WORK/snap.db"

# 7. no restore tool where the spec says it is
write_spec "$WORK/notool.json" "$LAB_KNOWN_HOSTS" '"restore_tool": "/opt/none/etcdutl"'
expect_refusal "missing restore tool" 4 "m2 ($(host_ip 2)): probe: no usable restore tool" -- \
  restore --yes --cluster "$WORK/notool.json" --snapshot "$WORK/snap.db"

# 8. a spec value that would change a command's meaning
write_spec "$WORK/evil.json" "$LAB_KNOWN_HOSTS" "\"data_dir\": \"/var/lib/etcd'; touch /tmp/pwned; '\""
expect_refusal "hostile data_dir" 2 "member 'm2': field 'data_dir'" -- \
  restore --yes --cluster "$WORK/evil.json" --snapshot "$WORK/snap.db"
check "hostile data_dir: nothing ran on m2" test -z "$(on_host 2 ls /tmp/pwned 2>/dev/null)"

# 9. a host of an architecture no agent is built for (uname -m says ppc64le
# there; aarch64 has its own agent, tests/e2e/arch.sh)
# (written inside the host: each lab host has its own /tmp)
on_host 3 sh -c 'printf "#!/bin/sh\necho ppc64le\n" > /tmp/fake-uname && chmod 755 /tmp/fake-uname &&
  mount --bind /tmp/fake-uname /usr/bin/uname'
check "other architecture: the host now says ppc64le" test "$(on_host 3 uname -m)" = ppc64le
expect_refusal "other architecture" 4 "m3 ($(host_ip 3)): push-agent: the host's architecture is ppc64le; etcd-dr-agent is built for x86-64" -- \
  restore --yes --cluster "$WORK/cluster.json" --snapshot "$WORK/snap.db"
on_host 3 umount /usr/bin/uname

check "data unchanged through every refusal" test "$(checksum_on 1 /k/)" = "$data_before"

# 10. --accept-new-host-keys records unknown keys (one line each, file kept),
#     in a file edited by hand whose last line (m1's key) has no newline
{ echo "# the operator's own comment"; printf '%s' "$(grep "^$(host_ip 1) " "$LAB_KNOWN_HOSTS")"; } >"$WORK/kh-new"
write_spec "$WORK/new.json" "$WORK/kh-new"
"$ETCD_DR" restore --yes --cluster "$WORK/new.json" --snapshot "$WORK/snap.db" --accept-new-host-keys \
  >"$WORK/out" 2>"$WORK/err"
rc=$?
check "accept-new-host-keys: restore exits 0 (got $rc)" test "$rc" = 0
check "accept-new-host-keys: 3 keys in the file, one a line, comment kept" \
  test "$(awk '/^10\./ && NF == 3' "$WORK/kh-new" | wc -l),$(wc -l <"$WORK/kh-new"),$(sed -n 1p "$WORK/kh-new")" = "3,4,# the operator's own comment"
check "accept-new-host-keys: warned about each recorded key (m2, m3)" \
  test "$(grep -c 'recorded new' "$WORK/err")" = 2
for i in 1 2 3; do
  check "accept-new-host-keys: OpenSSH's ssh reaches m$i with that file alone (strict checking)" \
    ssh -o BatchMode=yes -o StrictHostKeyChecking=yes -o UserKnownHostsFile="$WORK/kh-new" \
      -o IdentitiesOnly=yes -o IdentityAgent=none -o LogLevel=ERROR \
      -o GlobalKnownHostsFile=/dev/null -o ConnectTimeout=5 -i "$LAB_KEY" "root@$(host_ip "$i")" true
done
check "data back after the restore" test "$(checksum_on 2 /k/)" = "$data_before"

# 11. a port etcd needs is taken by another program while etcd is down on m3
lab etcd 3 stop >/dev/null 2>&1
on_host 3 sh -c "nohup python3 -m http.server 2380 --bind $(host_ip 3) >/dev/null 2>&1 & echo \$! > /tmp/squatter.pid"
sleep 1
before=$(all_states)
"$ETCD_DR" plan --cluster "$WORK/cluster.json" --check >"$WORK/out" 2>"$WORK/err"; rc=$?
check "port taken: plan --check exits 4 (got $rc)" test "$rc" = 4
check "port taken: names the port and the program" contains "$(cat "$WORK/out")$(cat "$WORK/err")" "port 2380 is in use by 'python3'"
check "port taken: m1 and m2 are ready" test "$(grep -c ' ready$' "$WORK/out")" = 2
check "port taken: hosts unchanged" test "$before" = "$(all_states)"
on_host 3 sh -c 'kill $(cat /tmp/squatter.pid)'

# 12. --bump-revision with bookworm's etcdctl 3.4.23 (bump came in 3.4.27):
#     refused in the check phase, before any host is touched
lab etcd 3 start >/dev/null 2>&1
lab health --timeout 30 >/dev/null 2>&1
expect_refusal "bump on etcd 3.4.23" 4 "etcdctl 3.4.23 on the host cannot --bump-revision with --mark-compacted" -- \
  restore --yes --cluster "$WORK/cluster.json" --snapshot "$WORK/snap.db" --bump-revision 1000
