#!/usr/bin/env bash
# discover.sh VERSION - `etcd-dr discover HOST` on a lab cluster started
# four ways, and the spec it prints restoring that cluster:
#   1. systemd-style: a unit (read with `systemctl cat`) whose
#      EnvironmentFile= is the lab's etcd.env;
#   2. etcd's YAML config file (ETCD_CONFIG_FILE), etcd restarted from it;
#   3. a kubeadm-style static pod manifest with the member's flags in its
#      `command:` (read with --manifest; no kubelet: the restore is given the
#      lab's stop and start commands);
#   4. everything gone but the db: etcd stopped on every host, no unit, no
#      manifest: the members come from the db alone.
# Then `status` on the dead cluster: each member's revision read offline
# from its db, and the line naming the freshest member, word for word.
#
# The lab has no systemd: each host gets a stand-in `systemctl` in its own
# /usr/local/bin (cat prints /etc/etcd-lab/etcd.service as systemctl cat
# does, stop and start run the lab's service script).
. "$(dirname "$0")/lib.sh"
case ${1:-} in
  3.4) LAB=dsw ;;
  3.5) LAB=dsv ;;
  *) echo "usage: $0 3.4|3.5" >&2; exit 2 ;;
esac
lab_up 3 "$1"
ip1=$(host_ip 1)
SSH=(--ssh-user root --identity "$LAB_KEY" --known-hosts "$LAB_KNOWN_HOSTS")
hostdir() { echo "$LAB_DIR/h$1"; }
field() { # field FILE EXPR: a value of the spec JSON in FILE
  python3 -c "import json,sys; s=json.load(open(sys.argv[1])); print($2)" "$1"
}
from_of() { # from_of TABLE FIELD: the FROM column of FIELD in a side table
  awk -v f="$2" '$1 == f { sub(/^[^ ]+ +[^ ]+ +/, ""); print; exit }' "$1"
}

for i in 1 2 3; do
  cat >"$(hostdir $i)/usr-local-bin/systemctl" <<'EOF'
#!/bin/sh
# stand-in systemctl of a lab host: etcd's unit is /etc/etcd-lab/etcd.service
case $1 in
  cat)
    shift; [ "$1" = -- ] && shift
    u=/etc/etcd-lab/${1%.service}.service
    [ -f "$u" ] || { echo "No files found for $1." >&2; exit 1; }
    echo "# /etc/systemd/system/${1%.service}.service"; cat "$u" ;;
  stop | start) exec /etc/etcd-lab/service "$1" ;;
  *) echo "systemctl (lab): $1 not supported" >&2; exit 1 ;;
esac
EOF
  chmod 755 "$(hostdir $i)/usr-local-bin/systemctl"
  cat >"$(hostdir $i)/etc-etcd-lab/etcd.service" <<'EOF'
[Unit]
Description=etcd (lab)

[Service]
Type=notify
Environment=DAEMON_ARGS=
EnvironmentFile=-/etc/etcd-lab/etcd.env
ExecStart=/usr/bin/etcd $DAEMON_ARGS
EOF
done

# ---- 1. systemd unit + EnvironmentFile -------------------------------------------
"$ETCD_DR" discover "$ip1" "${SSH[@]}" >"$WORK/s1.json" 2>"$WORK/s1.err"
rc=$?
check "systemd: discover exits 0" test $rc = 0 || cat "$WORK/s1.err"
check "systemd: members m1 m2 m3 from m1's db" \
  test "$(field "$WORK/s1.json" "' '.join(m['name'] for m in s['members'])")" = "m1 m2 m3"
check "systemd: m2's peer URL and SSH host" \
  test "$(field "$WORK/s1.json" "s['members'][1]['peer_urls'][0] + ' ' + s['members'][1]['ssh_host']")" = \
  "http://$(host_ip 2):2380 $(host_ip 2)"
check "systemd: stop command" \
  test "$(field "$WORK/s1.json" "' '.join(s['stop_command'])")" = "systemctl stop etcd.service"
check "systemd: data_dir came from the env file the unit names" \
  test "$(from_of "$WORK/s1.err" data_dir)" = "/etc/etcd-lab/etcd.env:2 (ETCD_DATA_DIR)"
check "systemd: stop_command came from the unit" \
  test "$(from_of "$WORK/s1.err" stop_command)" = "etcd runs as systemd unit etcd.service (systemctl cat etcd.service)"
check "systemd: env_file" test "$(field "$WORK/s1.json" "s['env_file']")" = /etc/etcd-lab/etcd.env
cat "$WORK/s1.json" "$WORK/s1.err"
