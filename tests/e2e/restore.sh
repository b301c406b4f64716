#!/usr/bin/env bash
# restore.sh VERSION - the main job, end to end, on a lab of 3 real hosts:
# data, a real `etcdctl snapshot save`, more data after it, a disaster, then
# `etcd-dr restore`.  Checks what an operator would: every key and value of
# the snapshot is back on every member and nothing written after it, every
# member is healthy, one cluster under a new cluster id with exactly the
# expected members, the old data is still on disk, owner and mode kept, and
# nothing of etcd-dr is left behind.  Member 2 goes through `sudo -n`;
# member 3's etcd user set special bits on its data dir, which are dropped;
# member 3 has no gzip, and gets the agent raw (the others gzip'd); before
# that, its gzip fails and the run stops in the check with nothing changed.
. "$(dirname "$0")/lib.sh"
VERSION=${1:?usage: restore.sh 3.4|3.5}
LAB=er${VERSION/./}
lab_up 3 "$VERSION"

lab put-data 300 1000 --prefix /kept/ >/dev/null 2>&1
lab put-data 20 200000 --prefix /big/ >/dev/null 2>&1   # values that overflow bbolt pages
before_kept=$(checksum_on 1 /kept/)
before_big=$(checksum_on 1 /big/)
lab snapshot "$WORK/snap.db" >/dev/null 2>&1
check "snapshot taken with etcdctl ${VERSION}" test -s "$WORK/snap.db"
lab put-data 50 100 --prefix /after/ >/dev/null 2>&1      # written after the snapshot
old_cluster=$(cluster_id_on 1)
old_inode=$(on_host 1 stat -c %i /var/lib/etcd/member)

lab disaster >/dev/null 2>&1                               # every member stopped
# The etcd user owns the data dir and sets its mode, which etcd-dr takes
# over for the restored one: setuid, setgid and sticky must not survive.
on_host 3 setpriv --reuid=etcd --regid=etcd --init-groups chmod 7700 /var/lib/etcd
check "m3: the etcd user made its data dir 7700" test "$(on_host 3 stat -c %a /var/lib/etcd)" = 7700
write_spec "$WORK/cluster.json" "$LAB_KNOWN_HOSTS" '"ssh_user": "edrlab", "sudo": true'
# Host 3's gzip fails (false mounted over it in its own mount namespace):
# the agent does not arrive whole, the run stops in the check naming the
# host, and nothing is started or left there.
before=$(all_states)
on_host 3 mount --bind /bin/false /usr/bin/gzip
"$ETCD_DR" restore --yes --cluster "$WORK/cluster.json" --snapshot "$WORK/snap.db" \
  >"$WORK/out0" 2>"$WORK/err0"
rc=$?
on_host 3 umount /usr/bin/gzip
check "a host whose gzip fails: exit 4, in the check (got $rc)" test "$rc" = 4
check "... the message names the host and that the agent did not arrive whole" \
  contains "$(cat "$WORK/err0")" "m3 ($(host_ip 3)): push-agent: the agent did not arrive whole"
check "... nothing changed on any host" test "$(all_states)" = "$before"
check "... m3: no agent directory left" test -z "$(leftovers 3)"
# Host 3 has no gzip (a file that is not executable mounted over it in its
# own mount namespace): it gets the agent raw, the others its gzip.
on_host 3 sh -c ': > /tmp/no-gzip && chmod 644 /tmp/no-gzip && mount --bind /tmp/no-gzip /usr/bin/gzip'
check "m3: no gzip on its PATH" test -z "$(on_host 3 sh -c 'command -v gzip' || true)"

"$ETCD_DR" restore --yes --cluster "$WORK/cluster.json" --snapshot "$WORK/snap.db" \
  >"$WORK/out" 2>"$WORK/err"
rc=$?
check "restore exits 0 (got $rc)" test "$rc" = 0
[[ $rc == 0 ]] || cat "$WORK/err"
check "summary says restored and healthy" contains "$(cat "$WORK/err")" "cluster restored and healthy"
on_host 3 sh -c 'umount /usr/bin/gzip; rm -f /tmp/no-gzip'
check "report: the agent without tls (http members) went gzip'd to m1 and m2, raw to m3 (no gzip there), its bytes as sent" \
  python3 - "$(sed -n 's/^report: //p' "$WORK/err")" "$(dirname "$ETCD_DR")" <<'PY'
import json, os, sys
r = json.load(open(sys.argv[1]))
for h in r["hosts"]:
    s = next(s for s in h["steps"] if s["kind"] == "push-agent")
    gz = h["member"] != "m3"
    f = os.path.join(sys.argv[2], s["agent"] + (".gz" if gz else ""))
    assert s["agent"] == "etcd-dr-agent-notls", s
    assert s["gzip"] is gz and s["bytes_pushed"] == os.path.getsize(f), (h["member"], s)
PY

for i in 1 2 3; do
  check "m$i healthy" healthy_on "$i"
  check "m$i serves every key and value of the snapshot (/kept/)" test "$(checksum_on "$i" /kept/)" = "$before_kept"
  check "m$i serves the large values (/big/)" test "$(checksum_on "$i" /big/)" = "$before_big"
  check "m$i has nothing written after the snapshot" test "$(checksum_on "$i" /after/ | cut -d' ' -f1)" = 0
  check "m$i sees members m1 m2 m3" test "$(member_names_on "$i")" = "m1 m2 m3"
  check "m$i: old member dir kept" on_host "$i" sh -c 'test -s /var/lib/etcd/member.etcd-dr-*/snap/db && ls /var/lib/etcd/member.etcd-dr-*/wal/*.wal >/dev/null'
  check "m$i: data dir still etcd:etcd 700" test "$(on_host "$i" stat -c '%U:%G %a' /var/lib/etcd)" = "etcd:etcd 700"
  check "m$i: restored member owned by etcd" test "$(on_host "$i" find /var/lib/etcd/member ! -user etcd | wc -l)" = 0
  check "m$i: no staging or agent left" test -z "$(leftovers "$i")"
done
new_cluster=$(cluster_id_on 1)
check "one cluster: same id on every member" test "$(cluster_id_on 2)" = "$new_cluster" -a "$(cluster_id_on 3)" = "$new_cluster"
check "new cluster id ($old_cluster -> $new_cluster)" test "$old_cluster" != "$new_cluster"
check "old member dir is the original one (same inode)" test "$(on_host 1 sh -c 'stat -c %i /var/lib/etcd/member.etcd-dr-*')" = "$old_inode"
# the kept data is the pre-restore data: it has the key written after the snapshot
check "kept data holds what was written after the snapshot" on_host 1 sh -c 'grep -qa /after/000001 /var/lib/etcd/member.etcd-dr-*/snap/db /var/lib/etcd/member.etcd-dr-*/wal/*.wal'
# the cluster is writable
check "cluster accepts writes" sh -c "ETCDCTL_API=3 $LAB_ETCDCTL --endpoints=$LAB_ENDPOINTS put /post/x y >/dev/null"
case $VERSION in
  3.4) want_tool="etcdctl 3.4" ;;
  3.5) want_tool="etcdutl 3.5" ;;
esac
check "the restore used $want_tool on the hosts" contains "$(cat "$WORK/out")" "\"detail\":\"$want_tool"
check "progress: a JSON event per step start and end on stdout (not a terminal)" \
  test "$(grep -c '"event":"start"' "$WORK/out")" -ge 40 -a "$(grep -c '"event":"done"' "$WORK/out")" -ge 40
check "progress: every line is JSON" python3 -c 'import json,sys; [json.loads(l) for l in open(sys.argv[1])]' "$WORK/out"
check "report: written, with host key fingerprints and the run's exit code" python3 - "$(sed -n 's/^report: //p' "$WORK/err")" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
assert r["exit_code"] == 0 and r["command"] == "restore"
assert all(h["host_key_fingerprint"].startswith("SHA256:") for h in r["hosts"])
assert all(any(s["kind"] == "restore" and s["exit"] == 0 for s in h["steps"]) for h in r["hosts"])
assert any(s.get("bytes_pushed") for s in r["hosts"][0]["steps"])
text = open(sys.argv[1]).read()
assert "PRIVATE KEY" not in text
PY
