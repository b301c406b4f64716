#!/usr/bin/env bash
# save.sh VERSION ETCD_DR - `etcd-dr snapshot save` against a real etcd
# VERSION (3.4 or 3.5) on loopback:
#   - keys, among them 40 values of 1 MB (a snapshot of ~40 MB), then
#     `save -o` from a cluster file whose first member is down: the first
#     member answering /health true is used; the file is what etcd's own
#     tool accepts (status, revision, trailer, size % 512 == 32), and a
#     restore of it serves the keys;
#   - --member, --endpoint, an unknown member;
#   - failures leave no FILE and no FILE.part and an existing FILE as it
#     was: unreachable URL, the member stopped mid-stream (stall timeout),
#     the member killed mid-stream;
#   - --dir DIR --keep 2 after 3 saves: 2 snapshots, other files kept.
# Exits 77 when that etcd is not installed.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
[[ $# -eq 2 ]] || { echo "usage: $0 VERSION ETCD_DR" >&2; exit 2; }
EDR=$2
etcd_bins "$1"
save_workdir
out=$W/out
mkdir -p "$out"

etcd_start m1 || exit 1
m1_url=$URL m1_pid=$PID
put_keys "$m1_url" 20 40 || { bad "cannot put keys"; exit 1; }
"$ETCDCTL" --endpoints "$m1_url" del small20 >/dev/null
rev=$(current_revision "$m1_url")
echo "etcd $1 at $m1_url, revision $rev"

# A closed port for the member that is down.
dead=$((20000 + RANDOM % 30000))
while (echo >/dev/tcp/127.0.0.1/$dead) 2>/dev/null; do dead=$((dead + 1)); done
cat >"$W/cluster.json" <<JSON
{"members": [
  {"name": "down", "peer_urls": ["http://127.0.0.1:$((dead + 1))"],
   "client_urls": ["http://127.0.0.1:$dead"], "data_dir": "/var/lib/etcd-down"},
  {"name": "m1", "peer_urls": ["$PEER"], "client_urls": ["$m1_url"],
   "data_dir": "/var/lib/etcd-m1"}
]}
JSON

# --- save -o from the first healthy member --------------------------------
if "$EDR" snapshot save -o "$out/snap.db" --cluster "$W/cluster.json" >"$W/save.out" 2>"$W/save.err"; then
  ok "save -o: $(tr '\n' ' ' <"$W/save.out")"
  grep -q "member 'm1'" "$W/save.out" || bad "save -o did not say it used member 'm1'"
  grep -q "revision  $rev\$" "$W/save.out" || bad "save -o did not print revision $rev"
  [[ $(awk '/sha-256/ {print $2}' "$W/save.out") == $(sha256sum "$out/snap.db" | cut -d' ' -f1) ]] ||
    bad "printed sha-256 is not sha256sum's"
  check_file "$out/snap.db" "$rev"
  size=$(stat -c %s "$out/snap.db")
  [[ $size -gt 40000000 ]] || bad "snapshot is only $size bytes"
else
  bad "save -o failed: $(cat "$W/save.err")"
fi

# --- restore it and read the keys back ------------------------------------
rp=$((20000 + RANDOM % 30000))
if "$ETCDUTL" snapshot restore "$out/snap.db" --name r --data-dir "$W/r.etcd" \
  --initial-cluster "r=http://127.0.0.1:$((rp + 1))" \
  --initial-advertise-peer-urls "http://127.0.0.1:$((rp + 1))" >"$W/restore.log" 2>&1; then
  if FIXED_PORT=$rp etcd_start r; then
    r_pid=$PID
    got=$("$ETCDCTL" --endpoints "$URL" get small7 --print-value-only)
    [[ $got == "value 7" ]] || bad "restored member: small7 = '$got'"
    [[ -z $("$ETCDCTL" --endpoints "$URL" get small20) ]] || bad "restored member has the deleted key"
    "$ETCDCTL" --endpoints "$URL" get big0 --print-value-only | tr -d '\n' >"$W/big0.got"
    cmp -s "$W/big0.got" "$W/big0.value" || bad "restored member: big0 differs"
    n=$("$ETCDCTL" --endpoints "$URL" get big --prefix --keys-only | grep -c big)
    [[ $n -eq 40 ]] || bad "restored member has $n big keys, not 40"
    [[ $(current_revision "$URL") -ge $rev ]] || bad "restored member's revision < $rev"
    ok "restored with $(basename "$ETCDUTL") and served: small7, big0 (1 MB) and 40 big keys"
    etcd_kill "$r_pid"
  else
    bad "etcd does not start on the restored data dir"
  fi
else
  bad "snapshot restore: $(tail -3 "$W/restore.log")"
fi

# --- --member, --endpoint, an unknown member --------------------------------
"$EDR" snapshot save -o "$out/m.db" --cluster "$W/cluster.json" --member m1 >/dev/null 2>"$W/err" &&
  check_file "$out/m.db" "$rev" || bad "--member m1: $(cat "$W/err")"
"$EDR" snapshot save -o "$out/e.db" --endpoint "$m1_url/" >/dev/null 2>"$W/err" &&
  check_file "$out/e.db" "$rev" || bad "--endpoint: $(cat "$W/err")"
# -w json: what was saved as one object; ETCDCTL_ENDPOINTS names the member
ETCDCTL_ENDPOINTS=$m1_url "$EDR" snapshot save -o "$out/j.db" -w json >"$W/j.out" 2>"$W/err" &&
  python3 -c '
import hashlib, json, os, sys
d = json.load(open(sys.argv[1]))
want = {"path": sys.argv[2], "via": "http", "revision": int(sys.argv[3]),
        "size": os.path.getsize(sys.argv[2]),
        "sha256": hashlib.sha256(open(sys.argv[2], "rb").read()).hexdigest()}
sys.exit(any(d.get(k) != v for k, v in want.items()) or sys.argv[4] not in d["from"])
' "$W/j.out" "$out/j.db" "$rev" "$m1_url" &&
  ok "ETCDCTL_ENDPOINTS, -w json: $(tr -d '\n ' <"$W/j.out" | cut -c1-120)" ||
  bad "ETCDCTL_ENDPOINTS, -w json: $(cat "$W/j.out" "$W/err")"
"$EDR" snapshot save -o "$out/x.db" --cluster "$W/cluster.json" --member nosuch 2>"$W/err"
rc=$?
[[ $rc -eq 2 ]] && grep -q "no member 'nosuch'" "$W/err" && ok "unknown member: exit 2, $(cat "$W/err")" ||
  bad "unknown member: exit $rc, $(cat "$W/err")"
rm -f "$out/m.db" "$out/e.db" "$out/j.db"

# --- failures: no FILE, no FILE.part, an existing FILE untouched ----------
echo precious >"$out/keep.db"
"$EDR" snapshot save -o "$out/keep.db" --endpoint "http://127.0.0.1:$dead" 2>"$W/err"
rc=$?
[[ $rc -ne 0 ]] && grep -q "http://127.0.0.1:$dead" "$W/err" &&
  ok "unreachable endpoint: exit $rc, $(cat "$W/err")" || bad "unreachable endpoint: exit $rc, $(cat "$W/err")"
[[ $(cat "$out/keep.db") == precious && ! -e $out/keep.db.part ]] || bad "unreachable endpoint: FILE changed or .part left"
"$EDR" snapshot save -o "$out/none.db" --cluster "$W/cluster.json" --member down 2>"$W/err"
rc=$?
[[ $rc -ne 0 ]] && grep -q "member 'down' (http://127.0.0.1:$dead)" "$W/err" && [[ ! -e $out/none.db && ! -e $out/none.db.part ]] &&
  ok "unreachable member: exit $rc, $(cat "$W/err")" || bad "unreachable member: exit $rc, $(cat "$W/err")"

# mid_stream SIGNAL: start a save into keep.db, wait until its .part has
# grown, freeze etcd-dr, send SIGNAL to etcd, let etcd-dr go on.  Freezing
# etcd-dr first makes it certain the stream is cut in the middle.
mid_stream() {
  local sig=$1 try pid sz rc
  for try in 1 2 3; do
    "$EDR" snapshot save -o "$out/keep.db" --endpoint "$m1_url" --stall-timeout 2 \
      >/dev/null 2>"$W/err" &
    pid=$!
    sz=0
    for _ in $(seq 2000); do
      sz=$(stat -c %s "$out/keep.db.part" 2>/dev/null || echo 0)
      [[ $sz -gt 1000000 ]] && break
      kill -0 $pid 2>/dev/null || break
      sleep 0.005
    done
    if kill -STOP $pid 2>/dev/null && [[ $sz -gt 1000000 ]]; then
      kill -"$sig" "$m1_pid"
      kill -CONT $pid
      wait $pid
      rc=$?
      [[ $rc -ne 0 ]] && grep -q "$m1_url" "$W/err" && ok "etcd got SIG$sig mid-stream (at $sz bytes): exit $rc, $(cat "$W/err")" ||
        bad "SIG$sig mid-stream: exit $rc, $(cat "$W/err")"
      [[ $(cat "$out/keep.db") == precious && ! -e $out/keep.db.part ]] || bad "SIG$sig mid-stream: FILE changed or .part left"
      return
    fi
    kill -CONT $pid 2>/dev/null; wait $pid
    echo "note: the save ended before it could be cut (try $try)" >&2
    echo precious >"$out/keep.db"
  done
  bad "could not cut a save mid-stream in 3 tries"
}
mid_stream STOP
kill -CONT "$m1_pid"
sleep 0.5
mid_stream KILL
wait "$m1_pid" 2>/dev/null

# --- --dir --keep 2 --------------------------------------------------------
etcd_start m1 || exit 1   # the same data dir, new ports
m1_url=$URL
rev=$(current_revision "$m1_url")
mkdir -p "$out/dir"
echo "mine" >"$out/dir/notes.txt"
echo "also mine" >"$out/dir/snapshot-manual.db"
for i in 1 2 3; do
  [[ $i -gt 1 ]] && sleep 1.1   # names have whole seconds
  "$EDR" snapshot save --dir "$out/dir" --keep 2 --endpoint "$m1_url" >"$W/dir$i.out" 2>"$W/err" ||
    bad "--dir save $i: $(cat "$W/err")"
done
mapfile -t snaps < <(cd "$out/dir" && ls | grep -E '^snapshot-[0-9]{8}-[0-9]{6}Z\.db$')
[[ ${#snaps[@]} -eq 2 ]] && ok "--dir --keep 2 after 3 saves: ${snaps[*]}" || bad "--keep 2: ${#snaps[@]} snapshots: ${snaps[*]}"
[[ -f $out/dir/notes.txt && -f $out/dir/snapshot-manual.db ]] || bad "--keep removed an unrelated file"
grep -q "^removed '" "$W/dir3.out" || bad "the third save did not say what it removed"
for s in "${snaps[@]}"; do check_file "$out/dir/$s" "$rev"; done
[[ $(ls "$out/dir" | wc -l) -eq 4 ]] || bad "--dir: unexpected files: $(ls "$out/dir")"

[[ $fails -eq 0 ]] && echo "PASS" || echo "$fails failure(s)"
exit $((fails > 0))
