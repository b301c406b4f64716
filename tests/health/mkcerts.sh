#!/bin/sh
# mkcerts.sh DIR [NAME] - a throwaway CA and, signed by it, a server certificate
# for 127.0.0.1/localhost (and the host name NAME, if given) and a client
# certificate, as PEM files in DIR:
# ca.pem, server.pem, server-key.pem, client.pem, client-key.pem,
# and other-ca.pem (a CA that signed nothing, for "wrong CA" tests).
# Used by the health tests to run etcd with --client-cert-auth on loopback.
set -eu
dir=$1
name=${2:+,DNS:$2}
cd "$dir"
days=2
subj() { openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "$@"; }

subj -x509 -days $days -subj /CN=edr-test-ca -keyout ca-key.pem -out ca.pem \
  -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null
subj -x509 -days $days -subj /CN=edr-other-ca -keyout other-ca-key.pem -out other-ca.pem \
  -addext basicConstraints=critical,CA:TRUE 2>/dev/null

sign() {  # name subject extensions
  subj -subj "$2" -keyout "$1-key.pem" -out "$1.csr" 2>/dev/null
  printf '%s\n' "$3" > "$1.ext"
  openssl x509 -req -in "$1.csr" -CA ca.pem -CAkey ca-key.pem -CAcreateserial \
    -days $days -extfile "$1.ext" -out "$1.pem" 2>/dev/null
}
sign server /CN=127.0.0.1 "subjectAltName=IP:127.0.0.1,DNS:localhost$name
extendedKeyUsage=serverAuth,clientAuth"
sign client /CN=edr-client "extendedKeyUsage=clientAuth"
chmod 600 ./*-key.pem
