#!/usr/bin/env bash
# status_agent.sh VERSION - `etcd-dr status` asks through the agent a member
# whose client URL does not answer from here, a client URL that names its
# host is asked through the host at the address resolved here (status and a
# restore with --health-via hosts), and `snapshot save --via ssh` works with
# client certificates that exist only on the hosts.
#
# A rule inside one lab host's own network namespace refuses the
# coordinator (the lab bridge's address) on that host's client port; the
# host itself still reaches its member.  Then, on TLS with client
# certificates required, the spec's etcdctl_cacert/_cert/_key (paths on the
# hosts) are what the hosts' agents ask with (status) and the hosts' etcdctl
# uses (snapshot save --via ssh); without a certificate here, every member
# is asked through its host.
. "$(dirname "$0")/lib.sh"
case ${1:-} in
  3.4) LAB=stw ;;
  3.5) LAB=stv ;;
  *) echo "usage: $0 3.4|3.5" >&2; exit 2 ;;
esac
lab_up 3 "$1"
ip3=$(host_ip 3)

block_client_port() { # block_client_port I: the coordinator is refused on host I's 2379
  on_host "$1" nft -f - <<EOF
table inet edrtest {
  chain in { type filter hook input priority 0; ip saddr $LAB_GATEWAY tcp dport 2379 reject with tcp reset; }
}
EOF
}
col() { awk -v m="$1" -v c="$2" '$1 == m { print $c }' "$WORK/out"; }
js() { python3 -c "import json,sys; d=json.load(open('$WORK/json')); m={r['name']: r for r in d['members']}; print($1)"; }
# The member ID etcd itself gives member NAME, in hex (as status prints it).
member_id_hex() { # member_id_hex NAME ENDPOINT [etcdctl TLS flags...]
  ETCDCTL_API=3 "$LAB_ETCDCTL" --endpoints="$2" "${@:3}" member list -w fields |
    python3 -c "import sys,re; t=sys.stdin.read(); print('\n'.join('%x' % int(i) for i in re.findall(r'\"ID\" : (\d+)\n\"Name\" : \"$1\"', t)))"
}

write_spec "$WORK/cluster.json"
block_client_port 3
check "the coordinator is refused on m3's client URL" \
  test "$(curl -s -o /dev/null -w '%{http_code}' --max-time 3 "http://$ip3:2379/health")" = 000
check "m3's host still reaches its member" on_host 3 "$LAB_HOST_ETCDCTL" --endpoints="http://$ip3:2379" endpoint health

# --- healthy cluster, m3 asked through its host --------------------------
"$ETCD_DR" status --cluster "$WORK/cluster.json" >"$WORK/out" 2>"$WORK/err"; rc=$?
check "status: healthy, exit 0 (got $rc)" test "$rc" = 0
[[ $rc == 0 ]] || cat "$WORK/out" "$WORK/err"
check "status: the VIA column says ssh for m3" test "$(col m3 14)" = ssh
check "status: and http for m1" test "$(col m1 14)" = http
check "status: m3's health came through its host" test "$(col m3 4)" = true
check "status: m3's revision is m1's" test "$(col m3 8)" = "$(col m1 8)"
check "status: a note says m3 was asked through the agent" grep -q "^m3: asked through the agent on its host" "$WORK/out"
want=$(member_id_hex m3 "http://$(host_ip 1):2379")
check "status: m3's member ID is the one etcd gives m3 ($want)" test -n "$want" -a "$(col m3 6)" = "$want"
"$ETCD_DR" status --cluster "$WORK/cluster.json" -w json >"$WORK/json" 2>"$WORK/err"
check "status -w json: m3 via ssh, reachable, healthy; m1 via http; none not asked" \
  test "$(js "m['m3']['via'], m['m3']['reachable'], m['m3']['health'], m['m1']['via'], d['not_asked']")" = "ssh True True http []"
check "status -w json: the leader is named" test "$(js "d['leader'] in ('m1','m2','m3')")" = True

# --- m3 stopped: its host cannot ask it either ------------------------------
lab etcd 3 stop >/dev/null
"$ETCD_DR" status --cluster "$WORK/cluster.json" >"$WORK/out" 2>"$WORK/err"; rc=$?
check "m3 stopped: degraded, exit 6 (got $rc)" test "$rc" = 6
check "m3 stopped: m3 unreachable" test "$(col m3 4)" = unreachable
check "m3 stopped: the notes say its host's agent got no answer" grep -q "^m3: nor through its host's agent: " "$WORK/out"
check "m3 stopped: the verdict says 2 of 3" grep -q "verdict: degraded, quorum held (2 of 3 healthy)" "$WORK/out"
lab etcd 3 start >/dev/null

# --- a client URL that names m2's host: looked up here, once per run ---------
# The agents resolve no names; this machine does, before anything is asked
# through a host, and the agent connects to that address.  The name is
# known to these commands only: a private /etc/hosts (and, where the name
# must not resolve, a private nsswitch.conf that asks no DNS server) in
# their own mount namespace; the machine's files are untouched.
ip2=$(host_ip 2)
write_spec "$WORK/named.json" "$LAB_KNOWN_HOSTS" '"client_urls": ["http://etcd-m2.lab:2379"]'
printf '127.0.0.1 localhost\n%s etcd-m2.lab\n%s etcd-m3.lab\n' "$ip2" "$ip3" >"$WORK/hosts"
printf '127.0.0.1 localhost\n' >"$WORK/hosts-none"
printf 'hosts: files\n' >"$WORK/nsswitch.conf"
for _ in $(seq 1 60); do
  on_host 3 "$LAB_HOST_ETCDCTL" --endpoints="http://$ip3:2379" endpoint health >/dev/null 2>&1 && break
  sleep 0.5
done
named "$WORK/hosts" "$WORK/nsswitch.conf" "$ETCD_DR" status --cluster "$WORK/named.json" \
  --health-via hosts >"$WORK/out" 2>"$WORK/err"; rc=$?
check "named: status through the hosts: healthy, exit 0 (got $rc)" test "$rc" = 0
[[ $rc == 0 ]] || cat "$WORK/out" "$WORK/err"
check "named: m2 asked through its host, healthy" test "$(col m2 14) $(col m2 4)" = "ssh true"
check "named: m2's revision is m1's" test "$(col m2 8)" = "$(col m1 8)"
check "named: the note says where m2's agent asked, resolved here" grep -qF \
  "m2: asked through the agent on its host, with its certificates (--health-via hosts; its client URL at $ip2, resolved here)" \
  "$WORK/out"
named "$WORK/hosts-none" "$WORK/nsswitch.conf" "$ETCD_DR" status --cluster "$WORK/named.json" \
  --health-via hosts >"$WORK/out" 2>"$WORK/err"; rc=$?
check "named, not resolvable: status degraded, exit 6 (got $rc)" test "$rc" = 6
check "named, not resolvable: m2 unreachable, the others healthy through their hosts" \
  test "$(col m2 4) $(col m1 4) $(col m3 4)" = "unreachable true true"
check "named, not resolvable: the note says why m2 could not be asked through its host" grep -qF \
  "m2: nor through its host's agent: member 'm2' on host $ip2 is asked through its host (--health-via hosts), but cannot resolve 'etcd-m2.lab' (the host of client URL http://etcd-m2.lab:2379) here: " \
  "$WORK/out"

# auto: m3, refused here, named too: moved to its host, asked at its address.
python3 - "$WORK/named.json" "$WORK/named3.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
s["members"][2]["client_urls"] = ["http://etcd-m3.lab:2379"]
json.dump(s, open(sys.argv[2], "w"))
PY
named "$WORK/hosts" "$WORK/nsswitch.conf" "$ETCD_DR" status --cluster "$WORK/named3.json" \
  >"$WORK/out" 2>"$WORK/err"; rc=$?
check "named, auto: healthy, exit 0 (got $rc)" test "$rc" = 0
[[ $rc == 0 ]] || cat "$WORK/out" "$WORK/err"
check "named, auto: m3 through its host, healthy; m2 from here" \
  test "$(col m3 14) $(col m3 4) $(col m2 14)" = "ssh true http"
check "named, auto: the note says why and where m3's agent asked" grep -qF \
  "m3: asked through the agent on its host, with its certificates (http://etcd-m3.lab:2379 gave no answer from here: " \
  "$WORK/out"
check "named, auto: ... at m3's address, resolved here" grep -qF "; its client URL at $ip3, resolved here)" "$WORK/out"

lab put-data 20 100 --prefix /named/ >/dev/null 2>&1
want=$(checksum_on 1 /named/)
lab snapshot "$WORK/snap.db" >/dev/null 2>&1
lab put-data 5 100 --prefix /after/ >/dev/null 2>&1
# The name not resolvable here: refused before any host is changed.
before=$(all_states)
named "$WORK/hosts-none" "$WORK/nsswitch.conf" "$ETCD_DR" restore --yes --health-via hosts \
  --cluster "$WORK/named.json" --snapshot "$WORK/snap.db" >"$WORK/out" 2>"$WORK/err"; rc=$?
check "named, not resolvable: restore --health-via hosts refused, exit 4 (got $rc)" test "$rc" = 4
check "named, not resolvable: the error names m2, the name, the URL and what to do" grep -qF \
  "etcd-dr: error: member 'm2' on host $ip2 is asked through its host (--health-via hosts), but cannot resolve 'etcd-m2.lab' (the host of client URL http://etcd-m2.lab:2379) here: " \
  "$WORK/err"
check "named, not resolvable: ... put an IP address, or --health-via here" grep -qF \
  "so this machine does: put an IP address in the spec's client_urls, or use --health-via here" "$WORK/err"
[[ $rc == 4 ]] || cat "$WORK/err"
check "named, not resolvable: every host as it was" test "$(all_states)" = "$before"

named "$WORK/hosts" "$WORK/nsswitch.conf" "$ETCD_DR" restore --yes --health-via hosts \
  --health-timeout 60s --cluster "$WORK/named.json" --snapshot "$WORK/snap.db" \
  >"$WORK/out" 2>"$WORK/err"; rc=$?
check "named: restore --health-via hosts: exit 0 (got $rc)" test "$rc" = 0
[[ $rc == 0 ]] || tail -n 40 "$WORK/err"
check "named: the run says m2's address, resolved here" grep -qF \
  "m2: its client URL http://etcd-m2.lab:2379 is at $ip2 (resolved here, for its host's agent)" "$WORK/err"
check "named: m2's health checked through its host at that address" grep -qF \
  "m2: health checked through $ip2's agent, with its certificates (--health-via hosts; its client URL at $ip2, resolved here)" \
  "$WORK/err"
check "named: the leader lookup asked every member through its host" grep -qF \
  "the leader lookup asked every member through its host's agent" "$WORK/err"
for i in 1 2 3; do
  check "named: m$i healthy after the restore (asked on its host)" \
    on_host "$i" "$LAB_HOST_ETCDCTL" --endpoints="http://$(host_ip "$i"):2379" endpoint health
done
check "named: m1 serves the snapshot's keys, nothing after" \
  test "$(checksum_on 1 /named/) $(checksum_on 1 /after/ | cut -d' ' -f1)" = "$want 0"

# --- TLS with client certificates, which the hosts have ---------------------
tls=$WORK/tls
make_lab_certs "$tls"
check "certificates made" test -s "$tls/server.pem" -a -s "$tls/client.pem"
i=0
for ip in $LAB_HOSTS; do
  i=$((i + 1))
  on_host "$i" mkdir -p /etc/etcd-lab/tls
  for f in ca.pem server.pem server-key.pem client.pem client-key.pem; do
    on_host "$i" sh -c "cat > /etc/etcd-lab/tls/$f" <"$tls/$f"
  done
  on_host "$i" chown -R etcd:etcd /etc/etcd-lab/tls
  on_host "$i" sed -i \
    -e "s|^ETCD_LISTEN_CLIENT_URLS=.*|ETCD_LISTEN_CLIENT_URLS=https://$ip:2379|" \
    -e "s|^ETCD_ADVERTISE_CLIENT_URLS=.*|ETCD_ADVERTISE_CLIENT_URLS=https://$ip:2379|" \
    /etc/etcd-lab/etcd.env
  on_host "$i" sh -c 'printf "%s\n" ETCD_CERT_FILE=/etc/etcd-lab/tls/server.pem \
    ETCD_KEY_FILE=/etc/etcd-lab/tls/server-key.pem ETCD_TRUSTED_CA_FILE=/etc/etcd-lab/tls/ca.pem \
    ETCD_CLIENT_CERT_AUTH=true >> /etc/etcd-lab/etcd.env'
done
lab disaster >/dev/null 2>&1
for i in 1 2 3; do lab etcd "$i" start >/dev/null 2>&1; done
export ETCDCTL_CACERT=$tls/ca.pem ETCDCTL_CERT=$tls/client.pem ETCDCTL_KEY=$tls/client-key.pem
ep1=https://$(host_ip 1):2379
for _ in $(seq 1 60); do ETCDCTL_API=3 "$LAB_ETCDCTL" --endpoints="$ep1" endpoint health >/dev/null 2>&1 && break; sleep 0.5; done
ETCDCTL_API=3 "$LAB_ETCDCTL" --endpoints="$ep1" put /tls/k v >/dev/null
check "the lab serves https with client certificates" test "$(ETCDCTL_API=3 "$LAB_ETCDCTL" --endpoints="$ep1" get /tls/k --print-value-only)" = v

hostpki='"etcdctl_cacert": "/etc/etcd-lab/tls/ca.pem", "etcdctl_cert": "/etc/etcd-lab/tls/client.pem", "etcdctl_key": "/etc/etcd-lab/tls/client-key.pem"'
mkspec() { # mkspec FILE [WITH_HOST_PKI]: https client URLs
  write_spec "$1"
  python3 - "$1" "${2:-}" <<'PY'
import json, sys
p = sys.argv[1]; s = json.load(open(p))
for m in s["members"]:
    m["client_urls"] = [m["peer_urls"][0].replace("http://", "https://").replace(":2380", ":2379")]
if sys.argv[2]:
    s.update(json.loads("{" + sys.argv[2] + "}"))
json.dump(s, open(p, "w"))
PY
}
mkspec "$WORK/tls.json" "$hostpki"
mkspec "$WORK/tls-nopki.json"

"$ETCD_DR" status --cluster "$WORK/tls.json" >"$WORK/out" 2>"$WORK/err"; rc=$?
check "tls: healthy, exit 0, m3 through its host with the host's certificates (got $rc)" test "$rc" = 0
[[ $rc == 0 ]] || cat "$WORK/out" "$WORK/err"
check "tls: m3 via ssh" test "$(col m3 14)" = ssh
check "tls: m3 healthy" test "$(col m3 4)" = true
want=$(member_id_hex m3 "$ep1")
check "tls: m3's member ID is etcd's ($want)" test -n "$want" -a "$(col m3 6)" = "$want"

"$ETCD_DR" status --cluster "$WORK/tls-nopki.json" >"$WORK/out" 2>"$WORK/err"; rc=$?
check "tls without host certificate paths: m3 cannot be asked, degraded, exit 6 (got $rc)" test "$rc" = 6
check "tls without host certificate paths: m3 unreachable" test "$(col m3 4)" = unreachable

# No client certificate here, the hosts have one: every member through its host.
env -u ETCDCTL_CERT -u ETCDCTL_KEY "$ETCD_DR" status --cluster "$WORK/tls.json" >"$WORK/out" \
  2>"$WORK/err"; rc=$?
check "tls, no client certificate here: healthy through the hosts, exit 0 (got $rc)" test "$rc" = 0
[[ $rc == 0 ]] || cat "$WORK/out" "$WORK/err"
check "tls, no client certificate here: every member via ssh" \
  test "$(col m1 14) $(col m2 14) $(col m3 14)" = "ssh ssh ssh"
check "tls, no client certificate here: the notes say why" \
  grep -q "^m1: asked through the agent on its host, with its certificates (no client certificate here" "$WORK/out"
# From here only (--health-via here): our own certificate refused is not gone around.
env -u ETCDCTL_CERT -u ETCDCTL_KEY "$ETCD_DR" status --cluster "$WORK/tls.json" -w json \
  --health-via here >"$WORK/json" 2>"$WORK/err"; rc=$?
check "tls, no client certificate here, --health-via here: unknown, exit 4 (got $rc)" test "$rc" = 4
check "tls, no client certificate here, --health-via here: m1 and m2 not asked through their hosts" \
  test "$(js "m['m1']['via'], m['m2']['via']")" = "None None"

"$ETCD_DR" snapshot save -o "$WORK/s.db" --cluster "$WORK/tls.json" --via ssh --member m3 \
  >"$WORK/out" 2>"$WORK/err"; rc=$?
check "tls: snapshot save --via ssh from m3 with the host's certificates: exit 0 (got $rc)" test "$rc" = 0
[[ $rc == 0 ]] || cat "$WORK/err"
check "tls: the snapshot is sound" "$ETCD_DR" snapshot verify "$WORK/s.db"
check "tls: it holds the key written over TLS" \
  test "$("$ETCD_DR" snapshot status -w json "$WORK/s.db" | python3 -c 'import json,sys; print(json.load(sys.stdin)["revision"] >= 2)')" = True
"$ETCD_DR" snapshot save -o "$WORK/n.db" --cluster "$WORK/tls-nopki.json" --via ssh --member m3 \
  >"$WORK/out" 2>"$WORK/err"; rc=$?
check "tls: --via ssh without host certificate paths: exit 4 (got $rc)" test "$rc" = 4
check "tls: the message names m3's host" grep -q "member 'm3' on host $ip3: take-snapshot:" "$WORK/err"
check "tls: no file, no .part" test ! -e "$WORK/n.db" -a ! -e "$WORK/n.db.part"
for i in 1 2 3; do
  l=$(leftovers "$i")
  check "host $i keeps nothing of etcd-dr${l:+ (found $l)}" test -z "$l"
done
