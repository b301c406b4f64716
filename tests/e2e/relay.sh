#!/usr/bin/env bash
# relay.sh VERSION HOSTS - the snapshot relayed host to host (docs/transfer.md)
# on a lab of real hosts: every key back on every member; a host its
# predecessor cannot reach (an nft rule in its namespace) pushed directly and
# the run says so; a host whose relay port another process holds said at
# once, pushed directly, and the check not waiting for it; a byte flipped between two hosts (a proxy on the lab
# bridge) refused by the receiving host, nothing changed; a relay host's
# agent killed mid-stream, every host as it was (the killed one cleaned over
# a new connection); --snapshot HOST:PATH refused before any stop when the
# file is empty, damaged or no bbolt file, or a host has no room for it, and
# on --resume when it changed; --snapshot HOST:PATH with no byte
# pushed from here; --from-member on a cluster whose other members' data is
# wiped.
. "$(dirname "$0")/lib.sh"
VERSION=${1:?usage: relay.sh 3.4|3.5 HOSTS}
HOSTS=${2:-3}
LAB=rl${VERSION/./}$HOSTS
lab_up "$HOSTS" "$VERSION"
export ETCD_DR_STATE_DIR=$WORK/state
PORT=45$((RANDOM % 900 + 100))
last=$HOSTS

not_contains() { ! grep -qF -- "$2" <<<"$1"; }
# spec FILE [PYTHON]: the lab's spec with relay_port set, then PYTHON run on
# the dict s (members in s["members"]).
spec() {
  write_spec "$1" "$LAB_KNOWN_HOSTS"
  python3 - "$1" "$PORT" "${2:-}" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
s["relay_port"] = int(sys.argv[2])
exec(sys.argv[3])
json.dump(s, open(sys.argv[1], "w"), indent=1)
PY
}
every_key_back() { # every_key_back WHAT
  local i
  for i in $(seq 1 "$HOSTS"); do
    check "$1: m$i healthy" healthy_on "$i"
    check "$1: m$i serves every key of the snapshot" test "$(checksum_on "$i" /kept/)" = "$before_kept"
    check "$1: m$i serves the large values" test "$(checksum_on "$i" /big/)" = "$before_big"
    check "$1: m$i: no staging or agent left" test -z "$(leftovers "$i")"
  done
}
restore() { # restore OUT ARGS...: etcd-dr restore; sets rc, out and err
  local o=$1; shift
  "$ETCD_DR" restore --yes --cluster "$WORK/cluster.json" "$@" >"$WORK/$o.out" 2>"$WORK/$o.err"
  rc=$?
  err=$(cat "$WORK/$o.err")
}
route_want() { # the route line when every host is relayed from the one before
  local i r="m1 from this machine"
  for i in $(seq 2 "$HOSTS"); do r="$r, m$i from m$((i - 1))"; done
  echo "snapshot route: $r"
}

lab put-data 300 1000 --prefix /kept/ >/dev/null 2>&1
lab put-data 40 1000000 --prefix /big/ >/dev/null 2>&1   # ~40 MB: the stream lasts
before_kept=$(checksum_on 1 /kept/)
before_big=$(checksum_on 1 /big/)
lab snapshot "$WORK/snap.db" >/dev/null 2>&1
check "snapshot taken with etcdctl $VERSION" test -s "$WORK/snap.db"
lab disaster >/dev/null 2>&1
spec "$WORK/cluster.json"

# --- plan shows the route -----------------------------------------------------
plan=$("$ETCD_DR" plan --cluster "$WORK/cluster.json" --snapshot "$WORK/snap.db" 2>&1)
check "plan: the transfer is a relay" contains "$plan" "transfer:          auto: relay between hosts"
check "plan: m$last relayed from m$((last - 1)) on port $PORT" contains "$plan" \
  "relayed from m$((last - 1)) to port $PORT (a direct push if m$((last - 1)) cannot reach it)"
check "plan: a relay-check step in the check phase" contains "$plan" "relay-check    relay check with the run's key"
plan=$("$ETCD_DR" plan --cluster "$WORK/cluster.json" --snapshot "$WORK/snap.db" --transfer direct 2>&1)
check "plan --transfer direct: every host from this machine" contains "$plan" "direct: every host from this machine"

# --- relay to every member ------------------------------------------------------
restore relay --snapshot "$WORK/snap.db"
check "relay: restore exits 0 (got $rc)" test "$rc" = 0
[[ $rc == 0 ]] || echo "$err"
check "relay: the run says the route it took" contains "$err" "$(route_want)"
every_key_back relay
check "relay: only m1's push crossed this machine's link" python3 - "$(sed -n 's/^report: //p' "$WORK/relay.err")" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
pushed = [h["member"] for h in r["hosts"]
          if any(s.get("kind") == "push-snapshot" and s.get("bytes_pushed") for s in h["steps"])]
assert len(pushed) == 1, pushed
PY

# --- a host its predecessor cannot reach: direct push -------------------------
lab disaster >/dev/null 2>&1
on_host "$last" nft -f - <<CUT
table inet relaycut {
  chain cin { type filter hook input priority 0; policy accept; ip saddr $(host_ip $((last - 1))) tcp dport $PORT drop; }
}
CUT
check "m$last drops m$((last - 1))'s packets to port $PORT" on_host "$last" nft list table inet relaycut
restore cut --snapshot "$WORK/snap.db"
check "cut: restore exits 0 (got $rc)" test "$rc" = 0
[[ $rc == 0 ]] || echo "$err"
check "cut: the run says m$((last - 1)) cannot reach m$last" contains "$err" \
  "m$last: m$((last - 1)) cannot reach it on the relay port"
check "cut: m$last gets a direct push" contains "$err" "m$last from this machine"
every_key_back cut
restore cutrelay --snapshot "$WORK/snap.db" --transfer relay
check "cut, --transfer relay: refused in the check phase (exit 4, got $rc)" test "$rc" = 4
check "cut, --transfer relay: says why" contains "$err" "cannot reach this host's relay port"
on_host "$last" nft delete table inet relaycut

# --- a host whose relay port another process holds: said at once ---------------
# A socket bound to the port and not listening, as a host's own outgoing
# connection holds its local port: m$last cannot listen, and m$((last - 1))'s
# connects there are refused until its check's wait (10 s) ends, unless the
# run knows first and does not send it to knock.  A port of its own (below
# the ephemeral range), which no earlier run's connection holds in TIME_WAIT.
TAKEN=21$((RANDOM % 900 + 100))
lab disaster >/dev/null 2>&1
spec "$WORK/cluster.json" "s['relay_port'] = $TAKEN"
on_host "$last" python3 -c '
import os, socket, sys, time
s = socket.socket()
s.bind(("0.0.0.0", int(sys.argv[1])))
print(os.getpid(), flush=True)
time.sleep(120)' "$TAKEN" >"$WORK/holder.pid" &
for _ in $(seq 50); do [[ -s $WORK/holder.pid ]] && break; sleep 0.1; done
check "m$last: another process holds port $TAKEN" test -s "$WORK/holder.pid"
restore taken --snapshot "$WORK/snap.db"
kill "$(cat "$WORK/holder.pid")" 2>/dev/null
spec "$WORK/cluster.json"
check "taken: restore exits 0 (got $rc)" test "$rc" = 0
[[ $rc == 0 ]] || echo "$err"
check "taken: the run names m$last, the port and the reason" contains "$err" \
  "m$last: cannot listen on port $TAKEN: address already in use"
check "taken: m$last gets a direct push" contains "$err" "m$last from this machine"
check "taken: the check phase did not wait for m$((last - 1))'s connects (its relay-check < 3 s)" \
  python3 - "$(sed -n 's/^report: //p' "$WORK/taken.err")" "m$((last - 1))" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
h = next(h for h in r["hosts"] if h["member"] == sys.argv[2])
s = next(s for s in h["steps"] if s["kind"] == "relay-check")
assert s["duration_ms"] < 3000, s
PY
every_key_back taken

# --- a byte flipped between two hosts -----------------------------------------
before=$(all_states)
python3 "$E2E_DIR/tamper_proxy.py" "$LAB_GATEWAY" "$PORT" "$(host_ip "$last")" 3000000 &
proxy=$!
BG_PIDS+=("$proxy")
sleep 0.5
spec "$WORK/cluster.json" "s['members'][-1]['relay_address'] = '$LAB_GATEWAY'"
restore tamper --snapshot "$WORK/snap.db" --transfer relay
check "tamper: refused before any stop (exit 4, got $rc)" test "$rc" = 4
check "tamper: m$last refused the stream" contains "$err" "failed its authentication"
check "tamper: nothing changed on any host" test "$(all_states)" = "$before"
for i in $(seq 1 "$HOSTS"); do check "tamper: m$i: no staging left" test -z "$(leftovers "$i")"; done
kill "$proxy" 2>/dev/null
spec "$WORK/cluster.json"

# --- a relay host's agent killed mid-stream -------------------------------------
# The link into the last host is slowed (tbf on its bridge port) so the stream
# lasts, and sent plain (--compress off): auto may compress, and a stream half
# as long can end before the kill lands, which then fails the run at its
# first apply step instead (locks pinned, as after any apply failure);
# m2's agent is killed once the last host has started writing.
tc qdisc add dev "edrv-$LAB-$last" root tbf rate 40mbit burst 64kb latency 400ms
before_kill=()
kill_failed=$FAILED
for i in $(seq 1 "$HOSTS"); do before_kill[i]=$(host_state "$i"); done
"$ETCD_DR" restore --yes --compress off --cluster "$WORK/cluster.json" --snapshot "$WORK/snap.db" \
  >"$WORK/kill.out" 2>"$WORK/kill.err" &
rpid=$!
killed=
for _ in $(seq 1 600); do
  size=$(on_host "$last" sh -c 'stat -c %s /var/lib/etcd/.etcd-dr-*/snapshot.db.part' 2>/dev/null)
  if [[ ${size:-0} -gt 4000000 ]]; then
    for p in $(agents_on 2); do kill -9 "$p" && killed="$killed $p"; done
    break
  fi
  sleep 0.05
done
wait "$rpid"
rc=$?
err=$(cat "$WORK/kill.err")
tc qdisc del dev "edrv-$LAB-$last" root
check "kill: m2's agent (${killed:-none}) was killed while m$last received (${size:-0} bytes there)" test -n "$killed"
check "kill: the run ends before any stop (exit 4, got $rc)" test "$rc" = 4
[[ $rc == 4 ]] || echo "$err"
# m2's connection is lost with its lock held: the run connects again, takes
# the lock back, removes its staging and releases the lock.  Every host is as
# it was: etcd, the member dir, /var/lib/etcd's entries, no staging or agent.
for i in $(seq 1 "$HOSTS"); do
  check "kill: m$i: etcd, its member dir and /var/lib/etcd as they were" \
    test "$(host_state "$i")" = "${before_kill[$i]}"
  check "kill: m$i: no staging, lock or agent dir left" test -z "$(leftovers "$i")"
done
check "kill: m2's staging removed over a new connection" contains "$err" \
  "m2: the connection was lost; connecting again to remove this run's staging"
check "kill: no stop was sent" not_contains "$(cat "$WORK/kill.out")" '"step":"stop"'
if ((FAILED > kill_failed)); then # what the run said, and what it left where
  echo "$err"
  for i in $(seq 1 "$HOSTS"); do echo "m$i left: $(leftovers "$i" | tr '\n' ' ')"; done
fi

# --- a snapshot already on a host ---------------------------------------------
on_host 1 mkdir -p /var/tmp/etcd-backups
on_host 1 sh -c 'cat > /var/tmp/etcd-backups/snap.db' <"$WORK/snap.db"
plan=$("$ETCD_DR" plan --cluster "$WORK/cluster.json" --snapshot m1:/var/tmp/etcd-backups/snap.db 2>&1)
check "plan HOST:PATH: the snapshot is on m1" contains "$plan" "/var/tmp/etcd-backups/snap.db on m1"
restore onhost --snapshot m1:/var/tmp/etcd-backups/snap.db
check "HOST:PATH: restore exits 0 (got $rc)" test "$rc" = 0
[[ $rc == 0 ]] || echo "$err"
check "HOST:PATH: m1's agent verified the trailer" contains "$err" "integrity trailer verified"
every_key_back HOST:PATH
check "HOST:PATH: no byte of the snapshot pushed from here" python3 - "$(sed -n 's/^report: //p' "$WORK/onhost.err")" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
assert not any(s.get("kind") == "push-snapshot" and s.get("bytes_pushed")
               for h in r["hosts"] for s in h["steps"])
PY
# a copy with 8 bytes changed in the middle: its trailer no longer matches
on_host 1 sh -c 'cp /var/tmp/etcd-backups/snap.db /var/tmp/etcd-backups/bad.db &&
  printf EDRTAMPR | dd of=/var/tmp/etcd-backups/bad.db bs=1 seek=5000000 conv=notrunc 2>/dev/null'
before=$(all_states)
restore onhostbad --snapshot m1:/var/tmp/etcd-backups/bad.db
check "HOST:PATH damaged: refused in the check phase (exit 4, got $rc)" test "$rc" = 4
check "HOST:PATH damaged: says why" contains "$err" "is damaged: its sha-256 trailer does not match"
check "HOST:PATH damaged: nothing changed on any host" test "$(all_states)" = "$before"

# The checks of a snapshot here, on the host's file, before anything is
# stopped: each refusal leaves every host as it was.
before=$(all_states)
on_host 1 sh -c ': > /var/tmp/etcd-backups/empty.db; head -c 100001 /dev/urandom > /var/tmp/etcd-backups/junk.db'
restore onhostempty --snapshot m1:/var/tmp/etcd-backups/empty.db --skip-hash-check
check "HOST:PATH 0 bytes: refused in the check phase (exit 4, got $rc)" test "$rc" = 4
check "HOST:PATH 0 bytes: says why" contains "$err" "is empty (0 bytes)"
check "HOST:PATH 0 bytes: nothing changed on any host" test "$(all_states)" = "$before"
restore onhostjunk --snapshot m1:/var/tmp/etcd-backups/junk.db --skip-hash-check
check "HOST:PATH not bbolt: refused in the check phase (exit 4, got $rc)" test "$rc" = 4
check "HOST:PATH not bbolt: says why" contains "$err" "is not a sound bbolt file"
check "HOST:PATH not bbolt: nothing changed on any host" test "$(all_states)" = "$before"
for i in $(seq 1 "$HOSTS"); do check "HOST:PATH refused: m$i: no staging left" test -z "$(leftovers "$i")"; done

# Room: m2's data dir on a 100 MB tmpfs holds the 64 MB WAL but not two
# copies of the snapshot besides; its size is known only once m1 read it.
on_host 2 mkdir -p /var/lib/etcd-small
on_host 2 mount -t tmpfs -o size=100m tmpfs /var/lib/etcd-small
spec "$WORK/small.json" "s['members'][1]['data_dir'] = '/var/lib/etcd-small'; s['members'][1]['data_dir_owner'] = 'etcd:etcd'"
"$ETCD_DR" restore --yes --cluster "$WORK/small.json" --snapshot m1:/var/tmp/etcd-backups/snap.db \
  >"$WORK/room.out" 2>"$WORK/room.err"
rc=$?
err=$(cat "$WORK/room.err")
run=$(sed -n 's/^etcd-dr: run \([0-9]\{8\}-[0-9]\{6\}-[0-9a-f]\{4\}\):.*/\1/p' <<<"$err")
check "HOST:PATH, no room on m2: refused before any stop (exit 4, got $rc)" test "$rc" = 4
check "HOST:PATH, no room on m2: says why" contains "$err" \
  "m2 ($(host_ip 2)): not enough free disk space on '/var/lib/etcd-small'"
check "HOST:PATH, no room on m2: nothing changed on any host" test "$(all_states)" = "$before"
check "HOST:PATH, no room on m2: nothing written there" test -z "$(on_host 2 ls -A /var/lib/etcd-small)"
for i in $(seq 1 "$HOSTS"); do check "HOST:PATH, no room: m$i: no staging left" test -z "$(leftovers "$i")"; done
on_host 2 umount /var/lib/etcd-small
image_sha=$(python3 -c 'import sys, hashlib; print(hashlib.sha256(open(sys.argv[1], "rb").read()[:-32]).hexdigest())' "$WORK/snap.db")
check "HOST:PATH: the run recorded the file's sha-256 in its journal" \
  grep -q "\"event\":\"snapshot\".*\"sha256\":\"$image_sha\"" "$ETCD_DR_STATE_DIR/runs/$run/journal.jsonl"

# --resume checks it is still the same file: another snapshot in its place
# is refused, the same one goes on.
spec "$WORK/small.json"
lab snapshot "$WORK/other.db" >/dev/null 2>&1
on_host 1 sh -c 'cat > /var/tmp/etcd-backups/snap.db' <"$WORK/other.db"
"$ETCD_DR" restore --yes --resume "$run" >"$WORK/resume_other.out" 2>"$WORK/resume_other.err"
rc=$?
err=$(cat "$WORK/resume_other.err")
check "HOST:PATH resume, another file: refused (exit 4, got $rc)" test "$rc" = 4
check "HOST:PATH resume, another file: says the snapshot changed" contains "$err" "changed since run $run started"
check "HOST:PATH resume, another file: nothing changed on any host" test "$(all_states)" = "$before"
on_host 1 sh -c 'cat > /var/tmp/etcd-backups/snap.db' <"$WORK/snap.db"
lab disaster >/dev/null 2>&1
"$ETCD_DR" restore --yes --resume "$run" >"$WORK/resume_same.out" 2>"$WORK/resume_same.err"
rc=$?
err=$(cat "$WORK/resume_same.err")
check "HOST:PATH resume, the same file: exit 0 (got $rc)" test "$rc" = 0
[[ $rc == 0 ]] || echo "$err"
every_key_back "HOST:PATH resume"

# --- --from-member on a cluster whose other members' data is wiped --------------
lab put-data 30 1000 --prefix /late/ >/dev/null 2>&1   # after the snapshot: m1's db has it
before_late=$(checksum_on 1 /late/)
lab disaster >/dev/null 2>&1
for i in $(seq 2 "$HOSTS"); do on_host "$i" rm -rf /var/lib/etcd/member; done
restore frommember_nohash --from-member m1
check "--from-member without --skip-hash-check: refused before contact (exit 3, got $rc)" test "$rc" = 3
check "--from-member without --skip-hash-check: says why" contains "$err" "no sha-256 trailer"
restore frommember --from-member m1 --skip-hash-check
check "--from-member: restore exits 0 (got $rc)" test "$rc" = 0
[[ $rc == 0 ]] || echo "$err"
check "--from-member: the run says the db has no trailer" contains "$err" "has no sha-256 trailer"
for i in $(seq 1 "$HOSTS"); do
  check "--from-member: m$i healthy" healthy_on "$i"
  check "--from-member: m$i serves what m1 had (/late/)" test "$(checksum_on "$i" /late/)" = "$before_late"
  check "--from-member: m$i serves /kept/" test "$(checksum_on "$i" /kept/)" = "$before_kept"
done

# --- what the relay saves on a capped coordinator link ----------------------------
# tbf on the lab bridge caps what this machine sends to every host together
# (host-to-host traffic is bridged port to port and never passes it). Printed,
# and the relay must beat one copy per host.
lab disaster >/dev/null 2>&1
tc qdisc add dev "edrb-$LAB" root tbf rate 200mbit burst 256kb latency 100ms
t0=$(date +%s%N)
restore capped_direct --snapshot "$WORK/snap.db" --transfer direct
t_direct=$((($(date +%s%N) - t0) / 1000000))
check "capped link, direct: exit 0 (got $rc)" test "$rc" = 0
lab disaster >/dev/null 2>&1
t0=$(date +%s%N)
restore capped_relay --snapshot "$WORK/snap.db"
t_relay=$((($(date +%s%N) - t0) / 1000000))
check "capped link, relay: exit 0 (got $rc)" test "$rc" = 0
tc qdisc del dev "edrb-$LAB" root
echo "measured: $HOSTS members, $(stat -c %s "$WORK/snap.db") bytes, coordinator link 200 Mbit/s: direct ${t_direct} ms, relay ${t_relay} ms (whole restore)"
check "capped link: the relay is faster than a copy per host (${t_relay} ms < ${t_direct} ms)" test "$t_relay" -lt "$t_direct"
