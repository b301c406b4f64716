# playbook_lib.sh - shared pieces of the playbook end-to-end tests
# (tests/e2e/playbook_*.sh), sourced after lib.sh: a cluster file whose
# members have the lab's env file, `etcd-dr run` with its own state dir,
# and what an operator looks at after a run: etcdctl's member list and
# health, env files, the run's journal and report.
PLAYBOOKS=${EDR_PLAYBOOKS:-$REPO/playbooks}   # another dir: to see a test catch a broken playbook
export ETCD_DR_STATE_DIR=$WORK/state   # journals and reports of these runs

# A cluster file for the lab: lib.sh's, plus every member's env file (the
# lab's service reads etcd's flags from /etc/etcd-lab/etcd.env).
write_pb_spec() { # write_pb_spec FILE
  write_spec "$1.tmp"
  python3 - "$1.tmp" "$1" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
s["env_file"] = "/etc/etcd-lab/etcd.env"
json.dump(s, open(sys.argv[2], "w"), indent=2)
PY
  rm -f "$1.tmp"
}

# pb_run PLAYBOOK RUN_ID [ARGS...]: etcd-dr run, --yes, the report in
# $WORK/report-RUN_ID.json; stdout in $WORK/out, stderr in $WORK/err;
# sets RC.  Prints stderr when the status is not what PB_WANT says (0).
pb_run() {
  local pb=$1 run=$2; shift 2
  "$ETCD_DR" run "$PLAYBOOKS/$pb.json" --cluster "$WORK/cluster.json" --yes \
    --run-id "$run" --report "$WORK/report-$run.json" "$@" >"$WORK/out" 2>"$WORK/err"
  RC=$?
  if [[ $RC != "${PB_WANT:-0}" ]]; then
    echo "--- etcd-dr run $pb (exit $RC), stderr:"; tail -n 40 "$WORK/err"
  fi
}
journal() { echo "$ETCD_DR_STATE_DIR/runs/$1/journal.jsonl"; }

ctl() { ETCDCTL_API=3 "$LAB_ETCDCTL" --endpoints="$LAB_ENDPOINTS" --dial-timeout=3s --command-timeout=10s "$@"; }

# Every member of etcdctl's member list: "name|peerURL|clientURL" sorted
# (an added member that never started has no name and no client URL).
ctl_members() {
  ctl member list -w json | python3 -c '
import json, sys
for m in sorted(json.load(sys.stdin)["members"], key=lambda m: m.get("name", "")):
    print("%s|%s|%s" % (m.get("name", ""), ",".join(m.get("peerURLs", [])), ",".join(m.get("clientURLs", []))))'
}
# What etcdctl must list for the lab's members m1..mN, all started.
want_members() {
  local i
  for i in $(seq 1 "$(nhosts)"); do
    echo "m$i|http://$(host_ip "$i"):2380|http://$(host_ip "$i"):2379"
  done
}
all_endpoints_healthy() { ctl endpoint health >/dev/null 2>&1; }
member_id_of() { # member_id_of NAME -> hex id from etcdctl
  ctl member list -w json | python3 -c '
import json, sys
print(" ".join("%x" % m["ID"] for m in json.load(sys.stdin)["members"] if m.get("name") == sys.argv[1]))' "$1"
}
revision_on() { # revision_on I -> the member's header revision
  curl -s --max-time 5 -X POST -d '{}' "http://$(host_ip "$1"):2379/v3/maintenance/status" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["header"]["revision"])'
}

env_sum() { on_host "$1" sha256sum /etc/etcd-lab/etcd.env | cut -d' ' -f1; }
env_leftovers() { on_host "$1" sh -c 'ls /etc/etcd-lab/etcd.env?* 2>/dev/null' || true; }

# The journal's events as "T HOST STEP EVENT" lines for steps whose name
# matches the regex RE (the journal names kinds; T in milliseconds).
journal_events() { # journal_events RUN_ID
  python3 - "$(journal "$1")" <<'PY'
import json, sys, datetime
for line in open(sys.argv[1]):
    e = json.loads(line)
    t = datetime.datetime.strptime(e["t"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=datetime.timezone.utc)
    ms = int(t.timestamp() * 1000)
    print(ms, e.get("host", "-"), e.get("step", e.get("event")), e.get("event"), e.get("stage", ""))
PY
}
