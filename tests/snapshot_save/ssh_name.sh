#!/usr/bin/env bash
# ssh_name.sh ETCD_DR - `snapshot save --via ssh` for a member whose client
# URL names its host: the agent on the host resolves no names, so this
# machine looks the name up before the run.  A name that does not resolve
# here fails at once, naming the member and the name and saying what to do,
# before anything is asked of the host: a listener standing in for the
# host's sshd counts the connections (none); with an IP address in the URL
# the same save does reach it (the listener works).  No root, no etcd.
EDR=${1:?usage: ssh_name.sh ETCD_DR}
L_PID=
stop_listener() { [[ -z $L_PID ]] || kill "$L_PID" 2>/dev/null; }
NAME=ssh_name STOP=stop_listener
. "$(dirname "$0")/check.sh"

# the host's "sshd": accepts, notes it, hangs up
python3 - "$W/port" "$W/conns" <<'PY' &
import socket, sys
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(8)
open(sys.argv[1] + ".tmp", "w").write(str(s.getsockname()[1]))
__import__("os").rename(sys.argv[1] + ".tmp", sys.argv[1])
while True:
    c, _ = s.accept()
    open(sys.argv[2], "a").write("x\n")
    c.close()
PY
L_PID=$!
for _ in $(seq 100); do [[ -s $W/port ]] && break; sleep 0.1; done
port=$(cat "$W/port")
touch "$W/known_hosts" "$W/key"

save() { # save CLIENT_URL: RC; the connections so far in CONNS
  printf '{"members": [{"name": "m1", "peer_urls": ["https://10.0.0.1:2380"],
  "client_urls": ["%s"], "ssh_host": "127.0.0.1", "ssh_port": %s,
  "known_hosts": "%s/known_hosts", "identity_file": "%s/key"}]}\n' \
    "$1" "$port" "$W" "$W" >"$W/spec.json"
  mkdir -p "$W/out"
  "$EDR" snapshot save -o "$W/out/s.db" --cluster "$W/spec.json" --via ssh --member m1 \
    >/dev/null 2>"$W/err"
  RC=$?
  CONNS=$(cat "$W/conns" 2>/dev/null | wc -l)
}

save https://etcd-test.invalid:2379
check "a name not resolvable here: exit 4 (got $RC)" test "$RC" = 4
check "the message names the member, the name, and what to do" grep -q \
  "member 'm1' on host 127.0.0.1: cannot resolve 'etcd-test.invalid' (the host of client URL https://etcd-test.invalid:2379) here: .*put an IP address in the spec's client_urls, or use --via direct" \
  "$W/err"
check "nothing was asked of the host: no connection (got $CONNS)" test "$CONNS" = 0
check "no file, no .part" test -z "$(ls -A "$W/out")"

save https://127.0.0.1:2379
check "an IP address in the URL: the save goes on to the host ($CONNS connection(s))" \
  test "$CONNS" -ge 1
check "and fails there, not on a name" bash -c "! grep -q 'cannot resolve' '$W/err'"
