#!/usr/bin/env bash
# status.sh VERSION - `etcd-dr status` on a lab of 3 real hosts: healthy
# (the revision, IDs and leader agree with etcdctl), a raised NOSPACE alarm,
# one member stopped (degraded, exit 6), two stopped (QUORUM LOST, exit 8,
# the restore command to consider), -w json with the same verdict, a host
# whose SSH is unreachable while its etcd answers, --no-ssh, usage errors;
# then TLS on loopback: a one-member https etcd with client certificates,
# reached with ETCDCTL_CACERT/CERT/KEY and with --cacert/--cert/--key (the
# flags win).
. "$(dirname "$0")/lib.sh"
VERSION=${1:?usage: status.sh 3.4|3.5}
LAB=estat
TLS_PID=
# vpn_down/vpn_up: this machine loses its routes to the lab hosts (the
# hosts and their cluster stay as they are), as when a VPN drops
NET=
vpn_down() { NET=${LAB_SUBNET%.0/24}; ip route add unreachable "$NET.0/25" && ip route add unreachable "$NET.128/25"; }
vpn_up() { [[ -z $NET ]] || { ip route del unreachable "$NET.0/25"; ip route del unreachable "$NET.128/25"; } 2>/dev/null; NET=; }
trap 'rc=$?; vpn_up; if [[ -n $TLS_PID ]]; then kill "$TLS_PID" 2>/dev/null; wait "$TLS_PID" 2>/dev/null; fi; (exit $rc); finish' EXIT
lab_up 3 "$VERSION"
ETCDCTL="$LAB_ETCDCTL"
export ETCDCTL_API=3

# st ARGS...: run status; $rc, $WORK/out, $WORK/err
st() { "$ETCD_DR" status "$@" >"$WORK/out" 2>"$WORK/err"; rc=$?; }
out() { cat "$WORK/out"; }
# col MEMBER N: the Nth column of MEMBER's table row (no cell has a blank)
col() { awk -v m="$1" -v c="$2" '$1 == m { print $c }' "$WORK/out"; }
# js EXPR: a Python expression over the JSON output d
js() { python3 -c "import json,sys; d=json.load(open('$WORK/out')); m={x['name']: x for x in d['members']}; print($1)"; }
show() { echo "--- rc=$rc"; cat "$WORK/out" "$WORK/err"; }

write_spec "$WORK/cluster.json"
lab put-data 40 100 >/dev/null 2>&1

# ---- healthy --------------------------------------------------------------
st --cluster "$WORK/cluster.json"
check "healthy: exit 0 (got $rc)" test "$rc" = 0
[[ $rc == 0 ]] || show
check "healthy: verdict line" grep -qx "verdict: healthy" "$WORK/out"
check "healthy: 3 rows" test "$(grep -cE '^m[123] ' "$WORK/out")" = 3
check "healthy: one cluster id on the 3 rows" test "$(for m in m1 m2 m3; do col $m 7; done | sort -u | wc -l)" = 1
check "healthy: exactly one leader" test "$(for m in m1 m2 m3; do col $m 5; done | grep -c yes)" = 1
check "healthy: ssh ok and etcd running everywhere" test "$(for m in m1 m2 m3; do echo "$(col $m 2) $(col $m 3) $(col $m 4)"; done | sort -u)" = "ok running true"
check "healthy: alarms none" test "$(for m in m1 m2 m3; do col $m 12; done | sort -u)" = none
"$ETCDCTL" --endpoints="$LAB_ENDPOINTS" endpoint status -w json >"$WORK/ectl.json" 2>/dev/null
ectl() { python3 -c "import json; d=json.load(open('$WORK/ectl.json')); $1"; }
for i in 1 2 3; do
  ip=$(host_ip $i)
  want_rev=$(ectl "print([e for e in d if '$ip:' in e['Endpoint']][0]['Status']['header']['revision'])")
  want_id=$(ectl "print(format([e for e in d if '$ip:' in e['Endpoint']][0]['Status']['header']['member_id'], 'x'))")
  want_cl=$(ectl "print(format([e for e in d if '$ip:' in e['Endpoint']][0]['Status']['header']['cluster_id'], 'x'))")
  check "m$i: revision $(col m$i 8) = etcdctl's $want_rev" test "$(col m$i 8)" = "$want_rev"
  check "m$i: member id $(col m$i 6) = etcdctl's $want_id" test "$(col m$i 6)" = "$want_id"
  check "m$i: cluster id = etcdctl's" test "$(col m$i 7)" = "$want_cl"
done
check "revision > 1 after put-data" test "$(col m1 8)" -gt 1
want_leader=$(ectl "print(format(d[0]['Status']['leader'], 'x'))")
leader_row=$(awk '$5 == "yes" { print $6 }' "$WORK/out")
check "leader is etcdctl's ($want_leader)" test "$leader_row" = "$want_leader"
check "version column is $VERSION.x" test "$(col m1 13 | cut -d. -f1-2)" = "$VERSION"

st --cluster "$WORK/cluster.json" -w json
check "healthy json: exit 0" test "$rc" = 0
check "healthy json: verdict healthy" test "$(js "d['verdict'], d['verdict_line'], d['healthy'], d['total']")" = "healthy healthy 3 3"
check "healthy json: one leader, one cluster" test "$(js "sum(1 for x in d['members'] if x['is_leader']), len(set(x['cluster_id'] for x in d['members']))")" = "1 1"
check "healthy json: ids are hex strings (value)" test "$(js "all(isinstance(x['member_id'], str) and int(x['member_id'], 16) > 0 for x in d['members'])")" = True
check "healthy json: revision matches etcdctl" test "$(js "m['m1']['revision']")" = "$(ectl "print([e for e in d if '$(host_ip 1):' in e['Endpoint']][0]['Status']['header']['revision'])")"

# ---- an alarm: NOSPACE raised on m2 through the gateway --------------------
id2=$(curl -s --max-time 5 -X POST -d '{}' "http://$(host_ip 2):2379/v3/maintenance/status" |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["header"]["member_id"])')
curl -s --max-time 5 -X POST -d "{\"action\":\"ACTIVATE\",\"memberID\":\"$id2\",\"alarm\":\"NOSPACE\"}" \
  "http://$(host_ip 1):2379/v3/maintenance/alarm" >/dev/null
st --cluster "$WORK/cluster.json" --no-ssh
check "alarm: exit 6 (got $rc)" test "$rc" = 6
[[ $rc == 6 ]] || show
check "alarm: degraded, quorum held, alarm named" grep -q "^verdict: degraded, quorum held (3 of 3 healthy; alarm NOSPACE)" "$WORK/out"
check "alarm: m2's row says NOSPACE" test "$(col m2 12)" = NOSPACE
check "alarm: m1's row says none" test "$(col m1 12)" = none
check "alarm: etcdctl sees it too" contains "$("$ETCDCTL" --endpoints="$LAB_ENDPOINTS" alarm list 2>/dev/null)" NOSPACE
st --cluster "$WORK/cluster.json" --no-ssh -w json
check "alarm json: alarms [NOSPACE] on m2, [] on m1" test "$(js "m['m2']['alarms'], m['m1']['alarms']")" = "['NOSPACE'] []"
"$ETCDCTL" --endpoints="$LAB_ENDPOINTS" alarm disarm >/dev/null 2>&1
st --cluster "$WORK/cluster.json" --no-ssh
check "alarm disarmed: healthy again (rc $rc)" test "$rc" = 0

# ---- one member stopped -----------------------------------------------------
lab etcd 2 stop >/dev/null
st --cluster "$WORK/cluster.json"
check "one stopped: exit 6 (got $rc)" test "$rc" = 6
[[ $rc == 6 ]] || show
check "one stopped: degraded, quorum held (2 of 3 healthy)" grep -qx "verdict: degraded, quorum held (2 of 3 healthy)" "$WORK/out"
check "one stopped: m2 unreachable, ssh ok, etcd stopped" test "$(col m2 2) $(col m2 3) $(col m2 4)" = "ok stopped unreachable"
check "one stopped: m1 and m3 healthy" test "$(col m1 4) $(col m3 4)" = "true true"
check "one stopped: says m2 could not be asked" grep -q "^m2: could not be asked at http://$(host_ip 2):2379: connection refused" "$WORK/out"
check "one stopped: not-asked line names m2" grep -q "^not asked over HTTP: m2 " "$WORK/out"
check "one stopped: no restore suggested" sh -c "! grep -q 'etcd-dr restore' '$WORK/out'"
st --cluster "$WORK/cluster.json" -w json
check "one stopped json: same verdict" test "$(js "d['verdict'], d['verdict_line']")" = "degraded degraded, quorum held (2 of 3 healthy)"
check "one stopped json: m2 not asked, etcd not running, ssh ok" test "$(js "d['not_asked'], m['m2']['etcd_running'], m['m2']['ssh'], m['m2']['reachable']")" = "['m2'] False ok False"

# ---- two stopped: quorum lost -------------------------------------------------
lab etcd 3 stop >/dev/null
st --cluster "$WORK/cluster.json"
check "two stopped: exit 8 (got $rc)" test "$rc" = 8
[[ $rc == 8 ]] || show
check "two stopped: QUORUM LOST (0 of 3 healthy)" grep -qx "verdict: QUORUM LOST (0 of 3 healthy)" "$WORK/out"
# right after the stop, 3.5's /health may time out instead of saying false
check "two stopped: m1 running, /health false or timeout ($(col m1 4))" \
  grep -qE "^m1 +ok +running +(false|timeout) " "$WORK/out"
check "two stopped: suggests plan --check" grep -qxF "  etcd-dr plan --cluster $WORK/cluster.json --snapshot FILE --check" "$WORK/out"
check "two stopped: suggests the restore" grep -qxF "  etcd-dr restore --cluster $WORK/cluster.json --snapshot FILE" "$WORK/out"
st --cluster "$WORK/cluster.json" -w json
check "two stopped json: exit 8, quorum-lost" test "$rc $(js "d['verdict'], d['verdict_line']")" = "8 quorum-lost QUORUM LOST (0 of 3 healthy)"
check "two stopped json: suggested restore" test "$(js "d['suggested_commands'][1]")" = "etcd-dr restore --cluster $WORK/cluster.json --snapshot FILE"
# the suggestion repeats the operator's own spec options, quoted for a shell
st --initial-cluster "$LAB_INITIAL_CLUSTER" --ssh-user root --identity "$LAB_KEY" \
  --known-hosts "$LAB_KNOWN_HOSTS" --no-ssh
check "initial-cluster: exit 8" test "$rc" = 8
want="  etcd-dr restore --initial-cluster $LAB_INITIAL_CLUSTER --ssh-user root --identity $LAB_KEY --known-hosts $LAB_KNOWN_HOSTS --snapshot FILE"
check "initial-cluster: the restore names the cluster the same way" grep -qxF "$want" "$WORK/out"
[[ $(grep -c 'etcd-dr restore' "$WORK/out") == 1 ]] || show
check "initial-cluster --no-ssh: ssh column '-'" test "$(col m1 2) $(col m1 3)" = "- -"

lab etcd 2 start >/dev/null
lab etcd 3 start >/dev/null
lab health --timeout 30 >/dev/null 2>&1

# ---- a host whose SSH is unreachable, its etcd fine ----------------------------
write_spec "$WORK/unreach.json" "$LAB_KNOWN_HOSTS" "\"ssh_host\": \"$LAB_UNREACHABLE\""
st --cluster "$WORK/unreach.json"
check "ssh unreachable: exit 0 (cluster healthy) (got $rc)" test "$rc" = 0
[[ $rc == 0 ]] || show
check "ssh unreachable: m2 ssh FAILED, etcd ?, health true" test "$(col m2 2) $(col m2 3) $(col m2 4)" = "FAILED ? true"
check "ssh unreachable: m2's http facts came (member id)" test -n "$(col m2 6 | tr -d -- -)"
check "ssh unreachable: the reason names the address" grep -q "^m2: ssh: .*$LAB_UNREACHABLE" "$WORK/out"
check "ssh unreachable: m1 ssh ok" test "$(col m1 2) $(col m1 3)" = "ok running"

# ---- no member reachable from here (a VPN down): UNKNOWN, not QUORUM LOST ------
check "vpn down: routes to the lab taken away" vpn_down
st --cluster "$WORK/cluster.json"
cp "$WORK/out" "$WORK/vpn.out"
st --cluster "$WORK/cluster.json" -w json
cp "$WORK/out" "$WORK/vpn.json"; vpnrc=$rc
st --cluster "$WORK/cluster.json" --no-ssh
vpn_up
cp "$WORK/vpn.out" "$WORK/out"
check "vpn down: exit 4, unknown (got $vpnrc)" test "$vpnrc" = 4
check "vpn down: the verdict is UNKNOWN and says what to check" grep -qxF \
  "verdict: UNKNOWN: no member could be reached (check the network or VPN between this machine and the hosts)" "$WORK/out"
check "vpn down: no QUORUM LOST, no restore suggested" \
  eval '! grep -qE "QUORUM LOST|etcd-dr restore" "$WORK/out"'
for i in 1 2 3; do
  check "vpn down: names the URL tried for m$i" grep -qF "m$i at http://$(host_ip "$i"):2379" "$WORK/out"
done
check "vpn down: says to check the way to the hosts, not to restore" \
  eval 'grep -qF "(VPN, firewall, routes, DNS" "$WORK/out" && grep -qF "Do not restore on this verdict." "$WORK/out"'
[[ $vpnrc == 4 ]] || { echo "--- vpn down:"; cat "$WORK/out"; }
cp "$WORK/vpn.json" "$WORK/out"
check "vpn down json: unknown, every member unreached, no command suggested" \
  test "$(js "d['verdict'], d['unreached'], d['suggested_commands']")" = "unknown ['m1', 'm2', 'm3'] []"
check "vpn down --no-ssh: exit 4 as well (got $rc)" test "$rc" = 4
check "vpn down: the cluster was serving all along (etcdctl on m1's host)" \
  on_host 1 sh -c "ETCDCTL_API=3 $LAB_HOST_ETCDCTL --endpoints=http://$(host_ip 1):2379 endpoint health --cluster"
st --cluster "$WORK/cluster.json"
check "network back: healthy again (got $rc)" test "$rc" = 0

# ---- plan --check --format json: one JSON document on stdout -------------------
# pj EXPR: a Python expression over the JSON document d in $WORK/out
pj() { python3 -c "import json; d=json.load(open('$WORK/out')); print($1)"; }
"$ETCD_DR" plan --cluster "$WORK/cluster.json" --check --format json >"$WORK/out" 2>"$WORK/err"; rc=$?
check "plan --check --format json: exit 0, every host ready (got $rc)" test "$rc" = 0
check "plan --check --format json: stdout is one JSON document (python3 -m json.tool)" \
  python3 -m json.tool "$WORK/out" /dev/null
check "plan --check --format json: the check is inside it, every host ready, etcd running, root" \
  test "$(pj "d['check']['ready'], [(h['member'], h['ready'], h['etcd'], h['root']) for h in d['check']['hosts']]")" \
  = "True [('m1', True, 'running', True), ('m2', True, 'running', True), ('m3', True, 'running', True)]"
check "plan --check --format json: the run's events went to stderr" grep -q '"step":"probe"' "$WORK/err"
"$ETCD_DR" plan --cluster "$WORK/unreach.json" --check --format json >"$WORK/out" 2>"$WORK/err"; rc=$?
check "plan --check --format json, m2's host unreachable: exit 4 (got $rc)" test "$rc" = 4
check "plan --check --format json, m2's host unreachable: still one JSON document" \
  python3 -m json.tool "$WORK/out" /dev/null
check "plan --check --format json, m2's host unreachable: m2 not ready, the reason names its address" \
  test "$(pj "[(h['member'], h['ready']) for h in d['check']['hosts']], '$LAB_UNREACHABLE' in d['check']['hosts'][1]['message']")" \
  = "[('m1', True), ('m2', False), ('m3', True)] True"

# ---- usage --------------------------------------------------------------------
st
check "no spec: exit 2" test "$rc" = 2
st --cluster "$WORK/cluster.json" -w yaml
check "bad -w: exit 2" test "$rc" = 2
st --cluster "$WORK/nonexistent.json"
check "missing spec file: exit 2" test "$rc" = 2
st --help
check "--help documents the exit statuses" grep -q "8 quorum lost" "$WORK/out"

# ---- TLS on loopback ------------------------------------------------------------
etcd_bin=$(dirname "$LAB_ETCDCTL")/etcd
mkdir -p "$WORK/pki"
sh "$REPO/tests/health/mkcerts.sh" "$WORK/pki"
P=$WORK/pki
# Free ports can be taken by someone else before etcd binds them: on
# "address already in use" (etcd exits), try other ports.
start_tls_etcd() {
  local try
  for try in 1 2 3 4 5; do
    read -r cport pport < <(python3 -c 'import socket
s=[socket.socket() for _ in range(2)]
[x.bind(("127.0.0.1", 0)) for x in s]
print(*[x.getsockname()[1] for x in s])')
    rm -rf "$WORK/tls-data"
    "$etcd_bin" --name t1 --data-dir "$WORK/tls-data" \
      --listen-client-urls "https://127.0.0.1:$cport" --advertise-client-urls "https://127.0.0.1:$cport" \
      --listen-peer-urls "http://127.0.0.1:$pport" --initial-advertise-peer-urls "http://127.0.0.1:$pport" \
      --initial-cluster "t1=http://127.0.0.1:$pport" --cert-file "$P/server.pem" \
      --key-file "$P/server-key.pem" --client-cert-auth --trusted-ca-file "$P/ca.pem" \
      >"$WORK/tls-etcd.log" 2>&1 &
    TLS_PID=$!
    for _ in $(seq 150); do
      kill -0 "$TLS_PID" 2>/dev/null || break
      curl -s --max-time 1 --cacert "$P/ca.pem" --cert "$P/client.pem" --key "$P/client-key.pem" \
        "https://127.0.0.1:$cport/health" >"$WORK/tls-health" && grep -q true "$WORK/tls-health" && return 0
      sleep 0.2
    done
    kill "$TLS_PID" 2>/dev/null; wait "$TLS_PID" 2>/dev/null; TLS_PID=
    grep -q "address already in use" "$WORK/tls-etcd.log" || break
  done
  tail -5 "$WORK/tls-etcd.log"
  return 1
}
check "tls: a one-member https etcd with client-cert-auth on loopback" start_tls_etcd
cat >"$WORK/tls.json" <<EOF
{"members": [{"name": "t1", "peer_urls": ["http://127.0.0.1:$pport"],
              "client_urls": ["https://127.0.0.1:$cport"]}]}
EOF
ETCDCTL_CACERT=$P/ca.pem ETCDCTL_CERT=$P/client.pem ETCDCTL_KEY=$P/client-key.pem \
  st --cluster "$WORK/tls.json" --no-ssh
check "tls: ETCDCTL_* from the environment: healthy (rc $rc)" test "$rc" = 0
[[ $rc == 0 ]] || { show; tail -5 "$WORK/tls-etcd.log"; }
check "tls: version column filled" test "$(col t1 13 | cut -d. -f1-2)" = "$VERSION"
st --cluster "$WORK/tls.json" --no-ssh
check "tls: no CA, no client cert: unknown, exit 4, not 'quorum lost' (rc $rc)" test "$rc" = 4
check "tls: the failure says tls" grep -q "^t1: could not be asked at https://127.0.0.1:$cport: tls error" "$WORK/out"
ETCDCTL_CACERT=$P/other-ca.pem ETCDCTL_CERT=$P/client.pem ETCDCTL_KEY=$P/client-key.pem \
  st --cluster "$WORK/tls.json" --no-ssh --cacert "$P/ca.pem"
check "tls: --cacert wins over a wrong ETCDCTL_CACERT (rc $rc)" test "$rc" = 0
ETCDCTL_CACERT=$P/ca.pem ETCDCTL_CERT=$P/client.pem ETCDCTL_KEY=$P/client-key.pem \
  st --cluster "$WORK/tls.json" --no-ssh --cacert "$P/other-ca.pem"
check "tls: a wrong --cacert wins over a right ETCDCTL_CACERT (rc $rc)" test "$rc" = 4
st --cluster "$WORK/tls.json" --no-ssh --cacert "$P/ca.pem" --cert "$P/client.pem" --key "$P/client-key.pem"
check "tls: flags alone: healthy (rc $rc)" test "$rc" = 0
st --cluster "$WORK/tls.json" --no-ssh --cacert "$P/ca.pem"
check "tls: no client cert against --client-cert-auth: exit 4 (rc $rc)" test "$rc" = 4
