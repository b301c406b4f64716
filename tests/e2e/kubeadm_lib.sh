# kubeadm_lib.sh - a kubeadm-style lab for the end-to-end tests: on top of
# tests/lab/lab.sh's hosts (brought up without etcd), each host gets its own
# /etc/kubernetes (a bind mount in its mount namespace, like the lab's other
# per-host paths) with kubeadm's PKI layout and a static pod manifest
# /etc/kubernetes/manifests/etcd.yaml, and runs tests/e2e/kubelet.py, the
# stand-in kubelet that starts etcd from that manifest.  Client-certificate
# TLS everywhere, https peer URLs, and no etcd tools on the hosts: etcdctl
# and etcdutl are hidden (bookworm's /usr/bin ones under an empty file, the
# 3.5 copies removed), and etcd itself is the "image", $LAB_DIR/image/etcd,
# which only the stand-in runs.
#
# Source after lib.sh; set LAB, then kubeadm_lab_up HOSTS VERSION.  The lab's
# own teardown removes it all (every process in the hosts' namespaces).
# A kube-apiserver manifest runs a stand-in (a process named kube-apiserver)
# next to etcd.  Sets KPKI (this machine's copy of the PKI: ca.crt,
# healthcheck-client.*) and KUBELET_INTERVAL.
#
# Every wait here has a bound of its own in seconds (not in tries: one try
# of a hung member takes curl's whole --max-time), and kdr bounds each
# etcd-dr command, so a test that fails does so with a message well before
# ctest's 600 s.

KUBELET_INTERVAL=${KUBELET_INTERVAL:-2}
KMANIFEST=/etc/kubernetes/manifests/etcd.yaml

# kubeadm's PKI for the lab, in $KPKI: one CA, and per host a server and a
# peer certificate for its address; the health-check client certificate.
kubeadm_pki() {
  local i ip
  mkdir -p "$KPKI"
  (
    cd "$KPKI"
    req() { openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "$@" 2>/dev/null; }
    req -x509 -days 2 -subj /CN=etcd-ca -keyout ca.key -out ca.crt \
      -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign
    sign() { # NAME SUBJECT EXTENSIONS
      req -subj "$2" -keyout "$1.key" -out "$1.csr"
      printf '%s\n' "$3" >"$1.ext"
      openssl x509 -req -in "$1.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 \
        -extfile "$1.ext" -out "$1.crt" 2>/dev/null
    }
    i=1
    for ip in $LAB_HOSTS; do
      sign "server-$i" "/CN=$LAB-m$i" "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:$ip
extendedKeyUsage=serverAuth,clientAuth"
      sign "peer-$i" "/CN=$LAB-m$i" "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:$ip
extendedKeyUsage=serverAuth,clientAuth"
      i=$((i + 1))
    done
    sign healthcheck-client "/O=system:masters/CN=kube-etcd-healthcheck-client" \
      "extendedKeyUsage=clientAuth"
    sign apiserver-etcd-client "/O=system:masters/CN=kube-apiserver-etcd-client" \
      "extendedKeyUsage=clientAuth"
  )
}

kubeadm_initial_cluster() {
  local i=1 ip sep="" out=""
  for ip in $LAB_HOSTS; do out="$out${sep}m$i=https://$ip:2380"; sep=,; i=$((i + 1)); done
  echo "$out"
}

# The manifest kubeadm writes for a stacked etcd member (fields it does not
# need left out), the command list in kubeadm's order.
kubeadm_manifest() { # I
  local i=$1 ip
  ip=$(host_ip "$i")
  cat <<EOF
apiVersion: v1
kind: Pod
metadata:
  annotations:
    kubeadm.kubernetes.io/etcd.advertise-client-urls: https://$ip:2379
  labels:
    component: etcd
    tier: control-plane
  name: etcd
  namespace: kube-system
spec:
  containers:
  - command:
    - etcd
    - --advertise-client-urls=https://$ip:2379
    - --cert-file=/etc/kubernetes/pki/etcd/server.crt
    - --client-cert-auth=true
    - --data-dir=/var/lib/etcd
    - --initial-advertise-peer-urls=https://$ip:2380
    - --initial-cluster=$(kubeadm_initial_cluster)
    - --initial-cluster-token=$LAB_TOKEN
    - --key-file=/etc/kubernetes/pki/etcd/server.key
    - --listen-client-urls=https://127.0.0.1:2379,https://$ip:2379
    - --listen-metrics-urls=http://127.0.0.1:2381
    - --listen-peer-urls=https://$ip:2380
    - --name=m$i
    - --peer-cert-file=/etc/kubernetes/pki/etcd/peer.crt
    - --peer-client-cert-auth=true
    - --peer-key-file=/etc/kubernetes/pki/etcd/peer.key
    - --peer-trusted-ca-file=/etc/kubernetes/pki/etcd/ca.crt
    - --snapshot-count=10000
    - --trusted-ca-file=/etc/kubernetes/pki/etcd/ca.crt
    image: registry.k8s.io/etcd:$KETCD_IMAGE_TAG
    imagePullPolicy: IfNotPresent
    name: etcd
    volumeMounts:
    - mountPath: /var/lib/etcd
      name: etcd-data
    - mountPath: /etc/kubernetes/pki/etcd
      name: etcd-certs
  hostNetwork: true
  priorityClassName: system-node-critical
  volumes:
  - hostPath:
      path: /etc/kubernetes/pki/etcd
      type: DirectoryOrCreate
    name: etcd-certs
  - hostPath:
      path: /var/lib/etcd
      type: DirectoryOrCreate
    name: etcd-data
status: {}
EOF
}

kubelet_start() { # I
  on_host "$1" setsid /usr/bin/python3 "$E2E_DIR/kubelet.py" --manifests /etc/kubernetes/manifests \
    --image "etcd=$LAB_DIR/image/etcd" --image "kube-apiserver=$LAB_DIR/image/kube-apiserver" \
    --interval "$KUBELET_INTERVAL" \
    --log /var/log/etcd-lab/etcd.log --events /var/log/etcd-lab/kubelet.events \
    </dev/null >>"$LAB_DIR/h$1/var-log-etcd-lab/kubelet.out" 2>&1 &
}

# https to member I with the health-check client certificate, from here.
kcurl() { # I PATH [curl args...] (at most 5 s)
  local i=$1 p=$2; shift 2
  curl -s --max-time 5 --cacert "$KPKI/ca.crt" --cert "$KPKI/healthcheck-client.crt" \
    --key "$KPKI/healthcheck-client.key" "$@" "https://$(host_ip "$i"):2379$p"
}
khealthy_on() { [[ $(kcurl "$1" /health) == *'"health":"true"'* ]]; }
kmember_names_on() {
  kcurl "$1" /v3/cluster/member/list -X POST -d '{}' |
    python3 -c 'import json,sys; print(" ".join(sorted(m.get("name","") for m in json.load(sys.stdin)["members"])))'
}
klabdata() { # put|checksum|verify I ARGS... (at most 60 s)
  local op=$1 i=$2 rc; shift 2
  LABDATA_CACERT=$KPKI/ca.crt LABDATA_CERT=$KPKI/healthcheck-client.crt \
    LABDATA_KEY=$KPKI/healthcheck-client.key \
    timeout -k 5 60 python3 "$REPO/tests/lab/labdata.py" "$op" "https://$(host_ip "$i"):2379" "$@"
  rc=$?
  ((rc == 124)) && echo "klabdata $op on m$i: no answer within 60 s" >&2
  return $rc
}
# etcd-dr ARGS..., killed after KDR_TIMEOUT seconds (default 240) with a
# message: its own step timeouts are longer than this test can wait.
kdr() {
  local t=${KDR_TIMEOUT:-240} rc
  timeout -k 10 "$t" "$ETCD_DR" "$@"
  rc=$?
  ((rc == 124)) && echo "etcd-dr $1 did not end within $t s: killed" >&2
  return $rc
}
ketcdctl() { # ARGS... (etcdctl of the lab's version, from this machine)
  # etcdctl refuses a flag that an ETCDCTL_* variable also sets
  env -u ETCDCTL_CACERT -u ETCDCTL_CERT -u ETCDCTL_KEY ETCDCTL_API=3 "$LAB_ETCDCTL" --cacert "$KPKI/ca.crt" --cert "$KPKI/healthcheck-client.crt" \
    --key "$KPKI/healthcheck-client.key" --dial-timeout=5s --command-timeout=60s "$@"
}
kwait_healthy() { # SECONDS [I...]: a deadline, whatever one try takes
  local t=$1 i bad end; shift
  local which=("$@")
  ((${#which[@]})) || which=($(seq 1 "$(nhosts)"))
  end=$((SECONDS + t))
  while :; do
    bad=
    for i in "${which[@]}"; do khealthy_on "$i" || { bad=$i; break; }; done
    [[ -z $bad ]] && return 0
    ((SECONDS < end)) || { echo "kwait_healthy: m$bad not healthy within $t s" >&2; return 1; }
    sleep 0.2
  done
}
# Does etcd run on host I (a process of the image in its network namespace)?
ketcd_running() {
  on_host "$1" sh -c 'test -n "$(ss -Hltn "sport = :2380")"'
}

kubeadm_lab_up() { # HOSTS VERSION
  local n=$1 v=$2 i hd
  need_root
  "$LABSH" up --name "$LAB" --hosts "$n" --etcd "$v" --no-etcd >"$WORK/lab-up.log" 2>&1 || {
    cat "$WORK/lab-up.log"; fail "lab up"; exit 1; }
  eval "$("$LABSH" env --name "$LAB")"
  KPKI=$LAB_DIR/kpki
  mkdir -p "$LAB_DIR/image" /etc/kubernetes
  if [[ $v == 3.5 ]]; then
    cp /var/cache/etcd-dr/etcd-3.5/usr/bin/etcd "$LAB_DIR/image/etcd"
    KETCD_IMAGE_TAG=$("$LAB_DIR/image/etcd" --version | sed -n 's/^etcd Version: //p')-0
  else
    cp /usr/bin/etcd "$LAB_DIR/image/etcd"
    KETCD_IMAGE_TAG=$(/usr/bin/etcd --version | sed -n 's/^etcd Version: //p')-0
  fi
  # kube-apiserver's stand-in: a process named kube-apiserver, nothing more
  printf '#!/bin/sh\nwhile :; do sleep 1; done\n' >"$LAB_DIR/image/kube-apiserver"
  chmod 755 "$LAB_DIR/image/kube-apiserver"
  : >"$LAB_DIR/hidden"
  chmod 0644 "$LAB_DIR/hidden"
  kubeadm_pki
  for i in $(seq 1 "$n"); do
    hd=$LAB_DIR/h$i
    rm -f "$hd/usr-local-bin/etcd" "$hd/usr-local-bin/etcdctl" "$hd/usr-local-bin/etcdutl"
    mkdir -p "$hd/etc-kubernetes/manifests" "$hd/etc-kubernetes/pki/etcd"
    cp "$KPKI/ca.crt" "$KPKI/ca.key" "$KPKI/healthcheck-client.crt" "$KPKI/healthcheck-client.key" \
      "$hd/etc-kubernetes/pki/etcd/"
    cp "$KPKI/server-$i.crt" "$hd/etc-kubernetes/pki/etcd/server.crt"
    cp "$KPKI/server-$i.key" "$hd/etc-kubernetes/pki/etcd/server.key"
    cp "$KPKI/peer-$i.crt" "$hd/etc-kubernetes/pki/etcd/peer.crt"
    cp "$KPKI/peer-$i.key" "$hd/etc-kubernetes/pki/etcd/peer.key"
    cp "$KPKI/apiserver-etcd-client.crt" "$KPKI/apiserver-etcd-client.key" "$hd/etc-kubernetes/pki/"
    chmod 0600 "$hd"/etc-kubernetes/pki/etcd/*.key "$hd"/etc-kubernetes/pki/*.key
    # kubeadm's etcd runs as root on a root-owned 0700 data dir
    chown root:root "$hd/var-lib-etcd"
    chmod 0700 "$hd/var-lib-etcd"
    nsenter --mount="$LAB_DIR/ns/mnt-$i" -- /bin/sh -ec '
      mount --bind "$1/etc-kubernetes" /etc/kubernetes
      for f in /usr/bin/etcd /usr/bin/etcdctl /usr/bin/etcdutl; do
        [ -e "$f" ] && mount --bind "$2" "$f"
      done
      true' _ "$hd" "$LAB_DIR/hidden"
    kubeadm_manifest "$i" >"$hd/etc-kubernetes/manifests/etcd.yaml"
    printf 'apiVersion: v1\nkind: Pod\nmetadata:\n  name: kube-apiserver\nspec:\n  containers:\n  - command:\n    - kube-apiserver\n    - --etcd-servers=https://127.0.0.1:2379\n' \
      >"$hd/etc-kubernetes/manifests/kube-apiserver.yaml"
    chmod 0600 "$hd"/etc-kubernetes/manifests/*.yaml
    kubelet_start "$i"
  done
  kwait_healthy 90 || { fail "kubeadm lab: etcd did not become healthy"; tail -n 20 "$LAB_DIR"/h*/var-log-etcd-lab/etcd.log; exit 1; }
}

# A cluster spec for the kubeadm lab: the preset, root with the lab key.
write_kubeadm_spec() { # FILE
  local f=$1 i=1 sep="" ip
  {
    printf '{\n  "preset": "kubeadm",\n  "ssh_user": "root", "identity_file": "%s", "known_hosts": "%s",\n' \
      "$LAB_KEY" "$LAB_KNOWN_HOSTS"
    printf '  "members": [\n'
    for ip in $LAB_HOSTS; do
      printf '%s    {"name": "m%d", "peer_urls": ["https://%s:2380"]}' "$sep" "$i" "$ip"
      sep=$',\n'
      i=$((i + 1))
    done
    printf '\n  ]\n}\n'
  } >"$f"
}
