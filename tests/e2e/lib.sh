# lib.sh - shared pieces of the end-to-end tests: a lab of real hosts
# (network namespaces with sshd and etcd, tests/lab/lab.sh), assertions that
# look at the hosts themselves, and the closing "N passed, N failed" line.
#
# A test sources this file, sets LAB (its own lab name) and calls lab_up.
# The lab is torn down at exit, and any leftover of an earlier crashed run
# with the same name is removed by lab_up before it starts.
set -uo pipefail
# etcd-dr asks before changing hosts when stdin and stderr are terminals;
# tests run from a terminal must not stop at that question.
exec </dev/null

E2E_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$E2E_DIR/../.." && pwd)
LABSH=$REPO/tests/lab/lab.sh
ETCD_DR=${ETCD_DR:-$REPO/build/etcd-dr}
PASSED=0
FAILED=0
WORK=$(mktemp -d /tmp/edr-e2e.XXXXXX)
BG_PIDS=() # helpers a test started in the background (proxies): killed at exit

pass() { PASSED=$((PASSED + 1)); printf 'ok   %s\n' "$*"; }
fail() { FAILED=$((FAILED + 1)); printf 'FAIL %s\n' "$*"; }
check() { # check DESCRIPTION COMMAND...
  local d=$1; shift
  if "$@"; then pass "$d"; else fail "$d"; fi
}
contains() { grep -qF -- "$2" <<<"$1"; }

finish() {
  local rc=$? p
  for p in "${BG_PIDS[@]}"; do kill "$p" 2>/dev/null; done
  if [[ -n ${LAB:-} && -z ${KEEP_LAB:-} ]]; then "$LABSH" down --name "$LAB" >/dev/null 2>&1; fi
  rm -rf "$WORK"
  echo "$(basename "$0"): $PASSED passed, $FAILED failed"
  if ((FAILED > 0 || PASSED == 0)); then exit 1; fi
  exit $((rc == 0 ? 0 : rc))
}
trap finish EXIT

need_root() {
  if [[ $(id -u) != 0 ]]; then
    echo "$(basename "$0"): skipped: needs root (network namespaces)"
    trap - EXIT
    exit 77
  fi
}

lab_up() { # lab_up HOSTS VERSION
  need_root
  "$LABSH" up --name "$LAB" --hosts "$1" --etcd "$2" >"$WORK/lab-up.log" 2>&1 || {
    cat "$WORK/lab-up.log"; fail "lab up"; exit 1; }
  eval "$("$LABSH" env --name "$LAB")"
}

lab() { "$LABSH" "$1" --name "$LAB" "${@:2}"; }
on_host() { local i=$1; shift; "$LABSH" exec --name "$LAB" "$i" "$@"; }
host_ip() { echo "$LAB_HOSTS" | tr ' ' '\n' | sed -n "${1}p"; }
nhosts() { echo "$LAB_HOSTS" | wc -w; }

# A cluster file for the lab: root over SSH with the lab key, the lab's
# service script, and (optionally) member 2 through the sudo user.
write_spec() { # write_spec FILE [KNOWN_HOSTS] [extra jq-free JSON for member 2]
  local f=$1 kh=${2:-$LAB_KNOWN_HOSTS} m2extra=${3:-} i=1 sep=""
  {
    printf '{\n  "ssh_user": "root", "identity_file": "%s", "known_hosts": "%s",\n' "$LAB_KEY" "$kh"
    printf '  "stop_command": ["%s", "stop"], "start_command": ["%s", "start"],\n' \
      "$LAB_HOST_SERVICE" "$LAB_HOST_SERVICE"
    printf '  "members": [\n'
    for ip in $LAB_HOSTS; do
      printf '%s    {"name": "m%d", "peer_urls": ["http://%s:2380"]%s}' "$sep" "$i" "$ip" \
        "$( ((i == 2)) && [[ -n $m2extra ]] && printf ', %s' "$m2extra")"
      sep=$',\n'
      i=$((i + 1))
    done
    printf '\n  ]\n}\n'
  } >"$f"
}

# What an operator would look at on a host, to compare before and after a
# run that must change nothing: etcd running, the inode of the member dir,
# the data dir's entries.
host_state() { # host_state I
  on_host "$1" sh -c '/etc/etcd-lab/service status >/dev/null 2>&1 && echo running || echo stopped;
    stat -c "%i %U:%G %a" /var/lib/etcd/member 2>/dev/null || echo "no member";
    ls -a /var/lib/etcd | sort | tr "\n" " "; echo'
}
all_states() { local i; for i in $(seq 1 "$(nhosts)"); do echo "h$i: $(host_state "$i")"; done; }

# The pids of etcd-dr-agent processes in host I's namespace.
agents_on() { # agents_on I
  local p
  for p in $(ip netns pids "edr-$LAB-$1"); do
    [[ $(cat "/proc/$p/comm" 2>/dev/null) == etcd-dr-agent ]] && echo "$p"
  done
}

# Leftovers of etcd-dr on a host: staging or agent directories.
leftovers() { # leftovers I
  on_host "$1" sh -c 'ls -d /var/lib/etcd/.etcd-dr-* /var/lib/.etcd-dr-* /tmp/etcd-dr.* 2>/dev/null' || true
}

checksum_on() { # checksum_on I PREFIX -> "COUNT SHA"
  python3 "$REPO/tests/lab/labdata.py" checksum "http://$(host_ip "$1"):2379" "$2"
}

# A disaster after a snapshot: COUNT keys of SIZE bytes under PREFIX, a
# real `etcdctl snapshot save` to $WORK/snap.db, keys under /after/ written
# after it, then every member stopped.  Prints PREFIX's checksum as it was
# in the snapshot (checksum_on).
snapshot_then_disaster() { # snapshot_then_disaster PREFIX COUNT SIZE
  lab put-data "$2" "$3" --prefix "$1" >/dev/null 2>&1
  checksum_on 1 "$1"
  lab snapshot "$WORK/snap.db" >/dev/null 2>&1
  lab put-data 10 100 --prefix /after/ >/dev/null 2>&1
  lab disaster >/dev/null 2>&1
}

# restore_from SPEC SNAPSHOT: `etcd-dr restore --yes` into $WORK/out and
# $WORK/err, checked to exit 0 (its stderr shown when not); then on every
# member: healthy, serving exactly PREFIX's keys of the snapshot (checksum
# WANT) and nothing under /after/ (written after it), no agent left.
restore_from() { # restore_from SPEC SNAPSHOT PREFIX WANT
  local rc i
  "$ETCD_DR" restore --yes --cluster "$1" --snapshot "$2" >"$WORK/out" 2>"$WORK/err"
  rc=$?
  check "restore from $(basename "$1") exits 0 (got $rc)" test "$rc" = 0
  [[ $rc == 0 ]] || cat "$WORK/err"
  for i in $(seq 1 "$(nhosts)"); do
    check "m$i healthy" healthy_on "$i"
    check "m$i serves every key of the snapshot" test "$(checksum_on "$i" "$3")" = "$4"
    check "m$i has nothing written after it" test "$(checksum_on "$i" /after/ | cut -d' ' -f1)" = 0
    check "m$i: no agent left" test -z "$(leftovers "$i")"
  done
}

# Cluster id and member names as the gateway reports them on member I.
cluster_id_on() {
  curl -s --max-time 5 -X POST -d '{}' "http://$(host_ip "$1"):2379/v3/cluster/member/list" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["header"]["cluster_id"])'
}
member_names_on() {
  curl -s --max-time 5 -X POST -d '{}' "http://$(host_ip "$1"):2379/v3/cluster/member/list" |
    python3 -c 'import json,sys; print(" ".join(sorted(m.get("name","") for m in json.load(sys.stdin)["members"])))'
}
healthy_on() {
  [[ $(curl -s --max-time 5 "http://$(host_ip "$1"):2379/health") == *'"health":"true"'* ]]
}

# sshd_reload PORT I...: each host's sshd rereads its sshd_config (one
# SIGHUP each: sshd re-executes itself; a second one races its pid file's
# rewrite), then waits until every one listens on PORT again.
sshd_reload() {
  local port=$1 i
  shift
  for i in "$@"; do kill -HUP "$(cat "$LAB_DIR/h$i/sshd.pid")"; done
  for i in "$@"; do
    for _ in $(seq 50); do
      timeout 1 bash -c "</dev/tcp/$(host_ip "$i")/$port" 2>/dev/null && break
      sleep 0.2
    done
  done
}

# bastion_lab_up CUT PREFIX: 3 members and a bastion (host 4, its etcd
# stopped, B its address); an nft table CUT in this namespace, removed at
# exit, for the test's rules; $WORK/snap.db holds 50 keys under PREFIX (WANT:
# their checksum), and 10 keys under /late/ are written after it.
bastion_lab_up() {
  CUT=$1
  need_root
  nft delete table inet "$CUT" 2>/dev/null
  # finish takes the test's exit status from $?: the delete's must not replace it
  trap 'edr_rc=$?; nft delete table inet "$CUT" 2>/dev/null; (exit $edr_rc); finish' EXIT
  lab_up 4 3.5
  lab etcd 4 stop >/dev/null 2>&1
  lab put-data 50 200 --prefix "$2" >/dev/null 2>&1
  lab snapshot "$WORK/snap.db" >/dev/null 2>&1
  want=$(checksum_on 1 "$2")
  lab put-data 10 100 --prefix /late/ >/dev/null 2>&1 # after the snapshot: gone after it
  B=$(host_ip 4)
}

# make_lab_certs DIR: a CA (ca.pem), a server certificate for 127.0.0.1 and
# every lab address (server.pem, server-key.pem) and a client certificate
# (client.pem, client-key.pem), EC P-256, valid 2 days.
make_lab_certs() {
  local tls=$1 san="IP:127.0.0.1" ip
  mkdir -p "$tls"
  for ip in $LAB_HOSTS; do san="$san,IP:$ip"; done
  (
    cd "$tls"
    req() { openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "$@" 2>/dev/null; }
    req -x509 -days 2 -subj /CN=edr-lab-ca -keyout ca-key.pem -out ca.pem \
      -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign
    sign() {
      req -subj "$2" -keyout "$1-key.pem" -out "$1.csr"
      printf '%s\n' "$3" >"$1.ext"
      openssl x509 -req -in "$1.csr" -CA ca.pem -CAkey ca-key.pem -CAcreateserial -days 2 \
        -extfile "$1.ext" -out "$1.pem" 2>/dev/null
    }
    sign server /CN=etcd "subjectAltName=$san
extendedKeyUsage=serverAuth,clientAuth"
    sign client /CN=edr-client "extendedKeyUsage=clientAuth"
  )
}

# named HOSTS NSSWITCH CMD...: CMD in its own mount namespace with HOSTS as
# its /etc/hosts and NSSWITCH (e.g. "hosts: files") as its nsswitch.conf, so
# a name a test makes up resolves from HOSTS or not at all, and no query
# goes to a DNS server; the machine's files are untouched.
named() {
  unshare -m sh -c 'mount --bind "$1" /etc/hosts && mount --bind "$2" /etc/nsswitch.conf &&
    shift 2 && exec "$@"' sh "$@"
}
