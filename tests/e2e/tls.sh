#!/usr/bin/env bash
# tls.sh - a TLS cluster on the lab (https client URLs, client certificates
# required): `etcd-dr status`, `etcd-dr snapshot save` and `etcd-dr restore`
# (its health polling) work against it with ETCDCTL_CACERT/CERT/KEY, and
# without the client certificate they fail clearly.
. "$(dirname "$0")/lib.sh"
LAB=etls
lab_up 3 3.4

# A CA, one server certificate for every lab address, a client certificate.
tls=$WORK/tls
make_lab_certs "$tls"
check "certificates made" test -s "$tls/server.pem" -a -s "$tls/client.pem"

# Every member serves clients over https only, with client certificates.
i=0
for ip in $LAB_HOSTS; do
  i=$((i + 1))
  on_host "$i" mkdir -p /etc/etcd-lab/tls
  for f in ca.pem server.pem server-key.pem; do
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

export ETCDCTL_API=3 ETCDCTL_CACERT=$tls/ca.pem ETCDCTL_CERT=$tls/client.pem ETCDCTL_KEY=$tls/client-key.pem
eps=$(for ip in $LAB_HOSTS; do printf 'https://%s:2379,' "$ip"; done)
eps=${eps%,}
ectl() { "$LAB_ETCDCTL" --endpoints="$eps" --dial-timeout=5s "$@"; }
for _ in $(seq 1 60); do ectl endpoint health >/dev/null 2>&1 && break; sleep 0.5; done
check "the lab serves https with client certificates" ectl endpoint health
for k in $(seq 1 50); do echo "put /t/$k v$k"; done | ectl txn >/dev/null 2>&1 ||
  for k in $(seq 1 50); do ectl put "/t/$k" "v$k" >/dev/null; done
check "50 keys written over TLS" test "$(ectl get /t/ --prefix --keys-only | grep -c /t/)" = 50

write_spec "$WORK/cluster.json"
python3 - "$WORK/cluster.json" <<'PY'
import json, sys
p = sys.argv[1]; s = json.load(open(p))
for m in s["members"]:
    m["client_urls"] = [m["peer_urls"][0].replace("http://", "https://").replace(":2380", ":2379")]
json.dump(s, open(p, "w"))
PY

"$ETCD_DR" status --cluster "$WORK/cluster.json" >"$WORK/out" 2>"$WORK/err"; rc=$?
check "status over TLS: healthy, exit 0 (got $rc)" test "$rc" = 0
check "status over TLS: verdict healthy" grep -q "verdict: healthy" "$WORK/out"
env -u ETCDCTL_CERT -u ETCDCTL_KEY "$ETCD_DR" status --cluster "$WORK/cluster.json" >"$WORK/out" 2>"$WORK/err"; rc=$?
check "status without the client certificate: unknown, exit 4, not 'quorum lost' (got $rc)" test "$rc" = 4
check "status without the client certificate: says the members refused our TLS" grep -q "refused this client's TLS" "$WORK/out"
check "status without the client certificate: suggests no restore" test -z "$(grep 'etcd-dr restore' "$WORK/out")"

"$ETCD_DR" snapshot save -o "$WORK/snap.db" --cluster "$WORK/cluster.json" >"$WORK/out" 2>"$WORK/err"; rc=$?
check "snapshot save over TLS: exit 0 (got $rc)" test "$rc" = 0
[[ $rc == 0 ]] || cat "$WORK/err"
check "snapshot save over TLS: a sound snapshot" "$ETCD_DR" snapshot verify "$WORK/snap.db"

ectl put /t/after x >/dev/null
lab disaster >/dev/null 2>&1
"$ETCD_DR" restore --yes --cluster "$WORK/cluster.json" --snapshot "$WORK/snap.db" >"$WORK/out" 2>"$WORK/err"; rc=$?
check "restore of a TLS cluster: exit 0 (got $rc)" test "$rc" = 0
[[ $rc == 0 ]] || cat "$WORK/err"
check "restore of a TLS cluster: the health wait spoke TLS" grep -q "cluster restored and healthy" "$WORK/err"
for ip in $LAB_HOSTS; do
  check "$ip: healthy over TLS" "$LAB_ETCDCTL" --endpoints="https://$ip:2379" endpoint health
  check "$ip: the 50 keys are back" test "$("$LAB_ETCDCTL" --endpoints="https://$ip:2379" get /t/ --prefix --keys-only | grep -c '^/t/[0-9]')" = 50
  check "$ip: nothing written after the snapshot" test -z "$("$LAB_ETCDCTL" --endpoints="https://$ip:2379" get /t/after)"
done
