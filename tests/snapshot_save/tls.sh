#!/usr/bin/env bash
# tls.sh VERSION ETCD_DR - `etcd-dr snapshot save` from an etcd VERSION
# serving https with --client-cert-auth (certificates from
# tests/health/mkcerts.sh): ETCDCTL_CACERT/CERT/KEY are honoured, --cacert/
# --cert/--key win over them, and a missing client certificate or a wrong
# CA fails with a message naming the URL, leaving no file.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
[[ $# -eq 2 ]] || { echo "usage: $0 VERSION ETCD_DR" >&2; exit 2; }
EDR=$2
etcd_bins "$1"
command -v openssl >/dev/null || { echo "SKIP: no openssl"; exit 77; }
save_workdir
T=$W/tls
mkdir -p "$T" "$W/out"
sh "$here/../health/mkcerts.sh" "$T" || { bad "mkcerts.sh failed"; exit 1; }
CTL_TLS="--cacert $T/ca.pem --cert $T/client.pem --key $T/client-key.pem"
CURL_TLS=$CTL_TLS
TLS_DIR=$T etcd_start m1 || exit 1
url=$URL
put_keys "$url" 10 3 || { bad "cannot put keys"; exit 1; }
rev=$(current_revision "$url")
echo "etcd $1 at $url (client certificates required), revision $rev"
cat >"$W/cluster.json" <<JSON
{"members": [{"name": "m1", "peer_urls": ["$PEER"], "client_urls": ["$url"]}]}
JSON

# expect_fail NAME PATTERN -- command...: non-zero, message names the URL
# and matches PATTERN, no file left.
expect_fail() {
  local name=$1 pat=$2 rc
  shift 3
  "$@" -o "$W/out/f.db" >/dev/null 2>"$W/err"
  rc=$?
  if [[ $rc -ne 0 ]] && grep -qF "$url" "$W/err" && grep -qE "$pat" "$W/err" &&
    [[ ! -e $W/out/f.db && ! -e $W/out/f.db.part ]]; then
    ok "$name: exit $rc, $(tail -1 "$W/err")"
  else
    bad "$name: exit $rc, $(cat "$W/err")"
  fi
}

# The environment, as etcdctl reads it.
if ETCDCTL_CACERT=$T/ca.pem ETCDCTL_CERT=$T/client.pem ETCDCTL_KEY=$T/client-key.pem \
  "$EDR" snapshot save -o "$W/out/env.db" --cluster "$W/cluster.json" >"$W/out.txt" 2>"$W/err"; then
  ok "ETCDCTL_CACERT/CERT/KEY: $(head -1 "$W/out.txt")"
  check_file "$W/out/env.db" "$rev"
else
  bad "save with ETCDCTL_* certificates: $(cat "$W/err")"
fi

# Flags win over a wrong environment.
if ETCDCTL_CACERT=$T/other-ca.pem ETCDCTL_CERT=/nonexistent ETCDCTL_KEY=/nonexistent \
  "$EDR" snapshot save -o "$W/out/flags.db" --endpoint "$url" --cacert "$T/ca.pem" \
  --cert "$T/client.pem" --key "$T/client-key.pem" >/dev/null 2>"$W/err"; then
  ok "--cacert/--cert/--key win over ETCDCTL_*"
  check_file "$W/out/flags.db" "$rev"
else
  bad "flags over a wrong environment: $(cat "$W/err")"
fi

expect_fail "no client certificate" "certificate|tls" -- \
  env ETCDCTL_CACERT="$T/ca.pem" "$EDR" snapshot save --endpoint "$url"
expect_fail "--cacert wins over a right ETCDCTL_CACERT" "CA|verif|certificate" -- \
  env ETCDCTL_CACERT="$T/ca.pem" ETCDCTL_CERT="$T/client.pem" ETCDCTL_KEY="$T/client-key.pem" \
  "$EDR" snapshot save --endpoint "$url" --cacert "$T/other-ca.pem"
expect_fail "no CA (the system's do not know ours)" "CA|verif|certificate" -- \
  env -u ETCDCTL_CACERT "$EDR" snapshot save --endpoint "$url" \
  --cert "$T/client.pem" --key "$T/client-key.pem"

[[ $fails -eq 0 ]] && echo "PASS" || echo "$fails failure(s)"
exit $((fails > 0))
