#!/usr/bin/env bash
# save_ssh.sh VERSION - `etcd-dr snapshot save --via ssh|auto`: the snapshot
# is taken on a member's host by its agent (from the member's client URL,
# no etcd tool used there) and streamed back.  What an operator would check: the file's sha-256
# trailer holds, `etcd-dr snapshot status` agrees with etcd's own tool, a
# restore from it gives back every key, and no host keeps anything of it;
# on failure (etcd stopped or frozen, a wrong TLS path on the host) a message naming
# the host and the reason, no FILE or FILE.part here, nothing on the host.
# A client URL naming the host: resolved here (a private /etc/hosts), or,
# where it does not resolve, refused before the host is asked.
. "$(dirname "$0")/lib.sh"
case ${1:-} in
  3.4) LAB=sva ;;
  3.5) LAB=svb ;;
  *) echo "usage: $0 3.4|3.5" >&2; exit 2 ;;
esac
lab_up 3 "$1"

lab put-data 400 200 >/dev/null
want=$(checksum_on 1 /lab/)
check "the lab holds 400 keys ($want)" contains "$want" "400 "
write_spec "$WORK/cluster.json"
ip2=$(host_ip 2)
no_leftovers() { # no_leftovers WHAT: no host keeps a staging or an agent dir
  local i l
  for i in 1 2 3; do
    l=$(leftovers "$i")
    check "$1: host $i keeps nothing of etcd-dr${l:+ (found $l)}" test -z "$l"
  done
}
etcd_tool() { # etcd's own snapshot status, as the version ships it
  if [[ -n $LAB_ETCDUTL ]]; then "$LAB_ETCDUTL" snapshot status "$@"; else ETCDCTL_API=3 "$LAB_ETCDCTL" snapshot status "$@"; fi
}

# --- through m2's host ---------------------------------------------------
"$ETCD_DR" snapshot save -o "$WORK/s.db" --cluster "$WORK/cluster.json" --via ssh --member m2 \
  >"$WORK/out" 2>"$WORK/err"; rc=$?
check "save --via ssh --member m2: exit 0 (got $rc)" test "$rc" = 0
[[ $rc == 0 ]] || cat "$WORK/err"
check "it says it came through m2's host $ip2" grep -q "member 'm2' through its host $ip2" "$WORK/out"
check "it says via ssh" grep -qE '^  via +ssh$' "$WORK/out"
check "no .part is left here" test ! -e "$WORK/s.db.part"
size=$(stat -c %s "$WORK/s.db" 2>/dev/null || echo 0)
check "the file has etcd's sha-256 trailer (size $size, % 512 == 32)" test $((size % 512)) = 32
check "etcd-dr snapshot verify accepts it" "$ETCD_DR" snapshot verify "$WORK/s.db"
check "the printed sha-256 is the file's" grep -q "$(sha256sum "$WORK/s.db" | cut -d' ' -f1)" "$WORK/out"
ours=$("$ETCD_DR" snapshot status -w simple "$WORK/s.db" 2>&1)
theirs=$(etcd_tool "$WORK/s.db" 2>/dev/null)
check "snapshot status agrees with etcd $1's tool ('$ours' vs '$theirs')" test -n "$ours" -a "$ours" = "$theirs"
no_leftovers "after a save"

# --- a snapshot larger than the room here: refused when announced --------
# The output dir is a 64 KiB file system (a tmpfs in a mount namespace of
# its own): the agent announces the size before any byte, and the save
# ends there, naming both figures, without filling the disk here.
mkdir -p "$WORK/tiny"
unshare -m sh -c 'mount -t tmpfs -o size=64k edr-e2e-tiny "$1" && shift && exec "$@"' sh \
  "$WORK/tiny" "$ETCD_DR" snapshot save -o "$WORK/tiny/s.db" --cluster "$WORK/cluster.json" \
  --via ssh --member m2 >"$WORK/out" 2>"$WORK/err"; rc=$?
check "save into 64 KiB of free space: refused, exit 1: a failure here (got $rc)" test "$rc" = 1
check "the message names m2's host, the announced size and the room here" \
  grep -qE "member 'm2' on host $ip2: .*the snapshot does not fit here: the agent announced [0-9.]+ [kKM]i?B, more than the [0-9.]+ [kK]i?B this machine takes \(free space where the snapshot goes\)" "$WORK/err"
[[ $rc == 1 ]] || cat "$WORK/err"
check "no file and no .part were left (on the real dir under the mount)" \
  test -z "$(ls -A "$WORK/tiny")"
no_leftovers "after a save larger than the room here"

# --- restoring it gives back every key, and nothing written after -------
"$LAB_ETCDCTL" --endpoints="http://$(host_ip 1):2379" put /after x >/dev/null
lab disaster >/dev/null 2>&1
"$ETCD_DR" restore --yes --cluster "$WORK/cluster.json" --snapshot "$WORK/s.db" >"$WORK/rout" 2>"$WORK/rerr"; rc=$?
check "restore from the snapshot taken over ssh: exit 0 (got $rc)" test "$rc" = 0
[[ $rc == 0 ]] || tail -5 "$WORK/rerr"
check "every key is back ($want)" test "$(checksum_on 1 /lab/)" = "$want"
check "nothing written after the snapshot" test -z "$("$LAB_ETCDCTL" --endpoints="http://$(host_ip 2):2379" get /after)"

# --- failure: etcd stopped on m1 -----------------------------------------
lab etcd 1 stop >/dev/null
"$ETCD_DR" snapshot save -o "$WORK/f.db" --cluster "$WORK/cluster.json" --via ssh --member m1 \
  >"$WORK/out" 2>"$WORK/err"; rc=$?
check "etcd stopped on m1: exit 4 (got $rc)" test "$rc" = 4
check "the message names m1's host $(host_ip 1) and the step" grep -q "member 'm1' on host $(host_ip 1): take-snapshot:" "$WORK/err"
check "the message gives the reason" grep -q "http://$(host_ip 1):2379: connection refused" "$WORK/err"
check "no file and no .part here" test ! -e "$WORK/f.db" -a ! -e "$WORK/f.db.part"
no_leftovers "after etcd stopped"

# --- without --member: m1 fails, the next member's host gives it --------
"$ETCD_DR" snapshot save -o "$WORK/n.db" --cluster "$WORK/cluster.json" --via ssh \
  >"$WORK/out" 2>"$WORK/err"; rc=$?
check "--via ssh without --member, m1 down: exit 0 from m2 (got $rc)" test "$rc" = 0
check "it came from m2" grep -q "member 'm2' through its host" "$WORK/out"
check "m1's failure was said, naming its host" grep -q "m1 ($(host_ip 1))" "$WORK/err"
check "the file is sound" "$ETCD_DR" snapshot verify "$WORK/n.db"
lab etcd 1 start >/dev/null
lab health --timeout 60 >/dev/null 2>&1

# --- failure: a wrong TLS path on the host -------------------------------
# refused_m2 WHAT SPEC MESSAGE_RE: a save through m2's host that fails:
# exit 4, the message, no file here, nothing on any host
AS=() # a prefix for the refused save: none, or `named ...`
refused_m2() {
  "${AS[@]}" "$ETCD_DR" snapshot save -o "$WORK/f.db" --cluster "$2" --via ssh --member m2 \
    >"$WORK/out" 2>"$WORK/err"; rc=$?
  check "$1: exit 4 (got $rc)" test "$rc" = 4
  check "$1: the message names m2's host and the reason" grep -q "$3" "$WORK/err"
  check "$1: no file and no .part here" test ! -e "$WORK/f.db" -a ! -e "$WORK/f.db.part"
  no_leftovers "after $1"
}
write_spec "$WORK/badtls.json" "$LAB_KNOWN_HOSTS" '"etcdctl_cacert": "/etc/etcd-lab/no-such-ca.crt"'
refused_m2 "a wrong etcdctl_cacert" "$WORK/badtls.json" \
  "member 'm2' on host $ip2: take-snapshot: cannot read the CA certificate '/etc/etcd-lab/no-such-ca.crt': no such file"

# --- failure: the member stops answering --------------------------------
# m3's etcd frozen (SIGSTOP): its port still accepts, nothing answers.  The
# agent gives up after --stall-timeout and the run says so, leaving nothing
# anywhere.
pid3=$(sed -n 1p "$LAB_DIR/h3/run-etcd/etcd.pid" 2>/dev/null)
check "m3's etcd found (pid ${pid3:-none})" test -n "$pid3"
kill -STOP "$pid3"
t0=$(date +%s)
timeout 120 "$ETCD_DR" snapshot save -o "$WORK/h.db" --cluster "$WORK/cluster.json" --via ssh \
  --member m3 --stall-timeout 2 >"$WORK/out" 2>"$WORK/err"; rc=$?
el=$(( $(date +%s) - t0 ))
kill -CONT "$pid3"
check "a member that does not answer: exit 4 (got $rc)" test "$rc" = 4
check "it gave up soon after --stall-timeout 2 (${el}s)" test "$el" -lt 30
check "the message names m3's host, the step and the stall" \
  grep -q "member 'm3' on host $(host_ip 3): take-snapshot: http://$(host_ip 3):2379: no answer to /v3/maintenance/snapshot within the stall timeout" "$WORK/err"
[[ $rc == 4 ]] || cat "$WORK/err"
check "no file and no .part here" test ! -e "$WORK/h.db" -a ! -e "$WORK/h.db.part"
no_leftovers "after a member that did not answer"
lab health --timeout 60 >/dev/null 2>&1

# --- --via auto: no client URL answers from here ------------------------
# A rule in each lab host's own network namespace refuses the coordinator
# (the lab bridge's address) on the client port; the host itself still gets
# through.  The namespaces are this test's: `lab down` removes them.
for i in 1 2 3; do
  on_host "$i" nft -f - <<EOF
table inet edrtest {
  chain in { type filter hook input priority 0; ip saddr $LAB_GATEWAY tcp dport 2379 reject with tcp reset; }
}
EOF
done
check "the coordinator cannot reach m1's client URL any more" \
  test "$(curl -s -o /dev/null -w '%{http_code}' --max-time 3 "http://$(host_ip 1):2379/health")" = 000
"$ETCD_DR" snapshot save -o "$WORK/a.db" --cluster "$WORK/cluster.json" >"$WORK/out" 2>"$WORK/err"; rc=$?
check "--via direct (the default) with no URL answering: exit 4 (got $rc)" test "$rc" = 4
check "and it does not go through the hosts" test -z "$(leftovers 1)$(grep -l 'through its host' "$WORK/out")"
"$ETCD_DR" snapshot save -o "$WORK/a.db" --cluster "$WORK/cluster.json" --via auto >"$WORK/out" 2>"$WORK/err"; rc=$?
check "--via auto with no URL answering: exit 0 through a host (got $rc)" test "$rc" = 0
[[ $rc == 0 ]] || cat "$WORK/err"
check "--via auto: from m1's host" grep -q "member 'm1' through its host" "$WORK/out"
check "--via auto: a sound file" "$ETCD_DR" snapshot verify "$WORK/a.db"
no_leftovers "after --via auto"

# --- a client URL that names m2's host: resolved here ---------------------
# The agent resolves no names; this machine does, once, and the agent
# connects to that address.  The name is known to this command only: a
# private /etc/hosts in its own mount namespace (the machine's is untouched).
write_spec "$WORK/named.json" "$LAB_KNOWN_HOSTS" '"client_urls": ["http://etcd-m2.lab:2379"]'
printf '127.0.0.1 localhost\n%s etcd-m2.lab\n' "$ip2" >"$WORK/hosts"
printf '127.0.0.1 localhost\n' >"$WORK/hosts-none"
printf 'hosts: files\n' >"$WORK/nsswitch.conf"
named "$WORK/hosts" "$WORK/nsswitch.conf" \
  "$ETCD_DR" snapshot save -o "$WORK/named.db" --cluster "$WORK/named.json" --via ssh --member m2 \
  >"$WORK/out" 2>"$WORK/err"; rc=$?
check "a client URL naming m2's host, resolved here: exit 0 (got $rc)" test "$rc" = 0
[[ $rc == 0 ]] || cat "$WORK/err"
check "its agent asked the URL with the name" \
  grep -q "member 'm2' through its host $ip2 (its agent asked http://etcd-m2.lab:2379)" "$WORK/out"
check "a sound file" "$ETCD_DR" snapshot verify "$WORK/named.db"
AS=(named "$WORK/hosts-none" "$WORK/nsswitch.conf")
refused_m2 "the same name, not resolvable here" "$WORK/named.json" \
  "member 'm2' on host $ip2: cannot resolve 'etcd-m2.lab' .*put an IP address in the spec's client_urls, or use --via direct"
