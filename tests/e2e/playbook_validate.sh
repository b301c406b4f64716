#!/usr/bin/env bash
# playbook_validate.sh - `etcd-dr run` before it touches anything, no lab
# needed: --dry-run of every shipped playbook prints a fully resolved plan
# (no "${" left) and exits 0 without opening a single connection (the
# cluster's SSH and client ports are listeners on loopback that count
# connections); a playbook or variables that are wrong exit 2 with one
# message naming the step and the field (or the variable), also without a
# connection.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/playbook_lib.sh"

# Listeners on 127.0.0.1-3 (one port for SSH, one for etcd's client URLs)
# that count every connection made to them.
python3 - "$WORK/ports" "$WORK/conns" <<'PY' &
import socket, sys, threading, os
def listen(addr, port):
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((addr, port)); s.listen(64); return s
socks, ports = [], []
while len(ports) < 2:
    try:
        first = listen("127.0.0.1", 0)
        port = first.getsockname()[1]
        group = [first] + [listen("127.0.0.%d" % k, port) for k in (2, 3)]
    except OSError:
        continue
    socks += group; ports.append(port)
open(sys.argv[1] + ".tmp", "w").write(" ".join(map(str, ports)))
os.rename(sys.argv[1] + ".tmp", sys.argv[1])
def serve(s):
    while True:
        c, _ = s.accept()
        with open(sys.argv[2], "a") as f: f.write("%s:%d\n" % s.getsockname())
        c.close()
for s in socks: threading.Thread(target=serve, args=(s,), daemon=True).start()
threading.Event().wait()
PY
LISTENER=$!
trap 'kill $LISTENER 2>/dev/null; finish' EXIT
for _ in $(seq 50); do [[ -s $WORK/ports ]] && break; sleep 0.1; done
read -r SSH_PORT HTTP_PORT <"$WORK/ports"
: >"$WORK/conns"

# Three members whose SSH and client URLs are the listeners.
cat >"$WORK/cluster.json" <<JSON
{"ssh_user": "root", "ssh_port": $SSH_PORT, "env_file": "/etc/etcd-lab/etcd.env",
 "known_hosts": "$WORK/known_hosts",
 "stop_command": ["/etc/etcd-lab/service", "stop"], "start_command": ["/etc/etcd-lab/service", "start"],
 "members": [
  {"name": "m1", "peer_urls": ["http://127.0.0.1:2380"], "client_urls": ["http://127.0.0.1:$HTTP_PORT"], "ssh_host": "127.0.0.1"},
  {"name": "m2", "peer_urls": ["http://127.0.0.2:2380"], "client_urls": ["http://127.0.0.2:$HTTP_PORT"], "ssh_host": "127.0.0.2"},
  {"name": "m3", "peer_urls": ["http://127.0.0.3:2380"], "client_urls": ["http://127.0.0.3:$HTTP_PORT"], "ssh_host": "127.0.0.3"}]}
JSON
: >"$WORK/known_hosts"
# A real snapshot (bbolt image + sha-256 trailer) from a one-member etcd on
# loopback: the restore playbooks' dry runs check it on this machine.
SNAP=
if [[ -x /usr/bin/etcd && -x /usr/bin/etcdctl ]]; then
  read -r cport pport < <(python3 -c 'import socket
ss = [socket.socket() for _ in range(2)]
for s in ss: s.bind(("127.0.0.1", 0))
print(*[s.getsockname()[1] for s in ss])')
  /usr/bin/etcd --name snap --data-dir "$WORK/etcd" --listen-client-urls "http://127.0.0.1:$cport" \
    --advertise-client-urls "http://127.0.0.1:$cport" --listen-peer-urls "http://127.0.0.1:$pport" \
    --initial-advertise-peer-urls "http://127.0.0.1:$pport" --initial-cluster "snap=http://127.0.0.1:$pport" \
    >"$WORK/etcd.log" 2>&1 &
  ETCD_PID=$!
  for _ in $(seq 100); do
    ETCDCTL_API=3 /usr/bin/etcdctl --endpoints "http://127.0.0.1:$cport" put /k v >/dev/null 2>&1 && break
    sleep 0.1
  done
  ETCDCTL_API=3 /usr/bin/etcdctl --endpoints "http://127.0.0.1:$cport" snapshot save "$WORK/snap.db" >/dev/null 2>&1 &&
    SNAP=$WORK/snap.db
  kill "$ETCD_PID"; wait "$ETCD_PID" 2>/dev/null
fi
dry() { # dry PLAYBOOK ARGS... -> $WORK/out, $WORK/err, RC
  "$ETCD_DR" run "$PLAYBOOKS/$1.json" --cluster "$WORK/cluster.json" --dry-run --run-id dry "${@:2}" \
    >"$WORK/out" 2>"$WORK/err"
  RC=$?
}
no_conn() { test ! -s "$WORK/conns"; }

# ---- --dry-run of every shipped playbook
if [[ -n $SNAP ]]; then
  for pb in restore restore-kubernetes; do
    dry "$pb" --snapshot "$SNAP"
    check "$pb --dry-run exits 0 (got $RC: $(head -c 300 "$WORK/err"))" test "$RC" = 0
    check "$pb --dry-run prints the plan" grep -q "restore" "$WORK/out"
    check "$pb --dry-run: every value resolved (no \${)" eval 'test -s "$WORK/out" && ! grep -n "\${" "$WORK/out"'
  done
  check "restore-kubernetes --dry-run: the manifest moved to the default parked path" \
    grep -q "/etc/kubernetes/manifests/kube-apiserver.yaml.*/etc/kubernetes/kube-apiserver.yaml.etcd-dr-dry" "$WORK/out"
  check "restore-kubernetes --dry-run: the restore bumps revisions and marks them compacted" \
    grep -qi "bump" "$WORK/out"
else
  fail "no snapshot for the restore playbooks' dry runs (etcd 3.4 in /usr/bin?)"
fi
dry rebuild-from-one --var seed=m2
check "rebuild-from-one --dry-run exits 0 (got $RC: $(head -c 300 "$WORK/err"))" test "$RC" = 0
check "rebuild-from-one --dry-run: every value resolved (no \${)" eval 'test -s "$WORK/out" && ! grep -n "\${" "$WORK/out"'
check "rebuild-from-one --dry-run: m1 joins with the seed and itself as initial cluster" \
  grep -qE "ETCD_INITIAL_CLUSTER=(m2=http://127.0.0.2:2380,m1=http://127.0.0.1:2380|m1=http://127.0.0.1:2380,m2=http://127.0.0.2:2380)$" "$WORK/out"
check "rebuild-from-one --dry-run: the seed is forced, the others are not" \
  test "$(grep -c "ETCD_FORCE_NEW_CLUSTER=true" "$WORK/out")" = 1
dry replace-member --var member=m3
check "replace-member --dry-run exits 0 (got $RC: $(head -c 300 "$WORK/err"))" test "$RC" = 0
check "replace-member --dry-run: every value resolved, about m3" \
  eval '! grep -n "\${" "$WORK/out" && grep -q "member remove m3" "$WORK/out"'
dry snapshot-rotate --var dir="$WORK/snaps"
check "snapshot-rotate --dry-run exits 0 (got $RC: $(head -c 300 "$WORK/err"))" test "$RC" = 0
check "snapshot-rotate --dry-run: every value resolved, the dir" \
  eval '! grep -n "\${" "$WORK/out" && grep -q "$WORK/snaps" "$WORK/out"'
dry snapshot-rotate --var dir="$WORK/snaps" --var keep=3 --format json
check "snapshot-rotate --dry-run --format json is JSON (got $RC)" python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$WORK/out"
check "no --dry-run opened a connection (SSH or HTTP)" no_conn

# ---- playbooks and variables that are wrong: exit 2, the step and the field named
bad() { # bad NAME STEPS_JSON [VARS_JSON]: write $WORK/NAME.json
  printf '{"playbook": 1, "name": "%s", "description": "a bad one", "vars": %s, "steps": %s}\n' \
    "$1" "${3:-{\}}" "$2" >"$WORK/$1.json"
}
bad_run() { # bad_run NAME ARGS...
  "$ETCD_DR" run "$WORK/$1.json" --cluster "$WORK/cluster.json" --yes "${@:2}" >"$WORK/out" 2>"$WORK/err"
  RC=$?
}
expect2() { # expect2 DESCRIPTION WORDS...: exit 2 and stderr has every word
  local d=$1 w ok=1; shift
  [[ $RC == 2 ]] || ok=
  for w in "$@"; do grep -qF -- "$w" "$WORK/err" || ok=; done
  if [[ -n $ok ]]; then pass "$d: $(head -c 300 "$WORK/err")"; else fail "$d (exit $RC, want 2 naming: $*): $(head -c 400 "$WORK/err")"; fi
}

bad unknown_kind '[{"name": "stop-all", "kind": "stop"}, {"name": "frob", "kind": "frobnicate"}]'
bad_run unknown_kind
expect2 "unknown kind: exit 2 naming the step and the field" "step 'frob'" "field 'kind'" "frobnicate"
bad unknown_field '[{"name": "halt", "kind": "stop", "colour": "red"}]'
bad_run unknown_field
expect2 "unknown field: exit 2 naming the step and the field" "step 'halt'" "field 'colour'"
bad undefined_var '[{"name": "halt", "kind": "stop", "target": "${nosuch}"}]'
bad_run undefined_var
expect2 "undefined variable: exit 2 naming the step, the field and the variable" "step 'halt'" "field 'target'" "nosuch"
bad undefined_in_env '[{"name": "envy", "kind": "set-env", "target": "m1", "env": {"ETCD_X": "${typo}"}}]'
bad_run undefined_in_env
expect2 "undefined variable inside env: exit 2 naming the step, the field and the variable" "step 'envy'" "field 'env'" "typo"
"$ETCD_DR" run "$PLAYBOOKS/replace-member.json" --cluster "$WORK/cluster.json" --yes >"$WORK/out" 2>"$WORK/err"; RC=$?
expect2 "replace-member without --var member: exit 2 naming the variable" "--var member="
"$ETCD_DR" run "$PLAYBOOKS/rebuild-from-one.json" --cluster "$WORK/cluster.json" --yes --var seed=m7 >"$WORK/out" 2>"$WORK/err"; RC=$?
expect2 "rebuild-from-one with a seed that is not a member: exit 2 naming it" "'m7'"
"$ETCD_DR" run "$PLAYBOOKS/replace-member.json" --cluster "$WORK/cluster.json" --yes --var member=m1 --var colour=red >"$WORK/out" 2>"$WORK/err"; RC=$?
expect2 "a --var the playbook does not declare: exit 2 naming it" "'colour'"
"$ETCD_DR" run "$PLAYBOOKS/replace-member.json" --cluster "$WORK/cluster.json" --yes --var "member=m1$(printf '\t')x" >"$WORK/out" 2>"$WORK/err"; RC=$?
expect2 "a control character in a --var value: exit 2" "--var member"
"$ETCD_DR" run "$PLAYBOOKS/restore.json" --cluster "$WORK/cluster.json" --yes >"$WORK/out" 2>"$WORK/err"; RC=$?
expect2 "restore.json without --snapshot: exit 2 naming --snapshot" "--snapshot"
bad dup '[{"name": "halt", "kind": "stop"}, {"name": "halt", "kind": "start"}]'
bad_run dup
expect2 "duplicate step names: exit 2 naming the step" "step 'halt'"
bad nested '[{"name": "outer", "target": "each", "steps": [{"name": "inner", "target": "each", "steps": [{"name": "s", "kind": "stop"}]}]}]'
bad_run nested
expect2 "each inside each: exit 2 naming the inner step" "step 'inner'"
bad notmember '[{"name": "halt", "kind": "stop", "target": "m9"}]'
bad_run notmember
expect2 "a target that is not a member: exit 2 naming the step and the member" "step 'halt'" "'m9'"
python3 - "$WORK/cluster.json" "$WORK/cluster-noenv.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[1])); del s["env_file"]; json.dump(s, open(sys.argv[2], "w"))
PY
"$ETCD_DR" run "$PLAYBOOKS/replace-member.json" --cluster "$WORK/cluster-noenv.json" --yes --var member=m2 >"$WORK/out" 2>"$WORK/err"; RC=$?
expect2 "set-env on a member without env_file: exit 2 naming the step and env_file" "step 'env'" "env_file"
check "no validation error opened a connection" no_conn
