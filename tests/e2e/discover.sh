#!/usr/bin/env bash
# discover.sh VERSION - `etcd-dr discover HOST` on a lab cluster started
# four ways, and the spec it prints restoring that cluster:
#   1. systemd-style: a unit (read with `systemctl cat`) whose
#      EnvironmentFile= is the lab's etcd.env;
#   2. etcd's YAML config file (ETCD_CONFIG_FILE), etcd restarted from it;
#   3. a kubeadm-style static pod manifest with the member's flags in its
#      `command:` (read with --manifest; no kubelet: the restore is given the
#      lab's stop and start commands, which keep the kubeadm preset out;
#      kubeadm.sh restores through the preset);
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
  awk -v f="$2" '/^FIELD / { c = index($0, "FROM") } c && $1 == f { print substr($0, c); exit }' "$1"
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

keys() { lab checksum --prefix "$1" | awk '{print $1}'; }
restored() { # restored CASE: the snapshot's keys are back, the later ones gone
  check "$1: every key of the snapshot is back" lab verify-data 200 100 --prefix /disc/
  check "$1: the keys written after the snapshot are gone" test "$(keys /after/)" = 0
  lab put-data 20 100 --prefix /after/ >/dev/null
}
discover() { # discover CASE N HOST ARGS...: the spec to $WORK/sN.json, the table to sN.err
  local what=$1 n=$2 rc
  "$ETCD_DR" discover "${@:3}" "${SSH[@]}" >"$WORK/s$n.json" 2>"$WORK/s$n.err"
  rc=$?
  check "$what: discover exits 0" test $rc = 0
  [[ $rc = 0 ]] || cat "$WORK/s$n.err"
}
line_of() { awk -v p="$2" 'index($0, p) == 1 { print NR; exit }' "$1"; } # line_of FILE PREFIX

lab put-data 200 100 --prefix /disc/ >/dev/null
lab snapshot "$WORK/snap.db" >/dev/null
lab put-data 20 100 --prefix /after/ >/dev/null
check "keys written after the snapshot are there" test "$(keys /after/)" = 20
envfile=$(hostdir 1)/etc-etcd-lab/etcd.env
for i in 1 2 3; do cp "$(hostdir $i)/etc-etcd-lab/etcd.env" "$WORK/etcd.env.$i"; done

# ---- 1. systemd unit + EnvironmentFile -------------------------------------------
discover systemd 1 "$ip1"
check "systemd: members m1 m2 m3 from m1's db" \
  test "$(field "$WORK/s1.json" "' '.join(m['name'] for m in s['members'])")" = "m1 m2 m3"
check "systemd: m2's peer URL and SSH host" \
  test "$(field "$WORK/s1.json" "s['members'][1]['peer_urls'][0] + ' ' + s['members'][1]['ssh_host']")" = \
  "http://$(host_ip 2):2380 $(host_ip 2)"
check "systemd: the members came from m1's db" \
  contains "$(from_of "$WORK/s1.err" 'members[1].name')" "/var/lib/etcd/member/snap/db (bucket members, id "
check "systemd: stop command" \
  test "$(field "$WORK/s1.json" "' '.join(s['stop_command'])")" = "systemctl stop etcd.service"
check "systemd: data_dir came from the env file the unit names" \
  test "$(from_of "$WORK/s1.err" data_dir)" = "/etc/etcd-lab/etcd.env:$(line_of "$envfile" ETCD_DATA_DIR=) (ETCD_DATA_DIR)"
check "systemd: stop_command came from the unit" \
  test "$(from_of "$WORK/s1.err" stop_command)" = "etcd runs as systemd unit etcd.service (systemctl cat etcd.service)"
check "systemd: env_file" test "$(field "$WORK/s1.json" "s['env_file']")" = /etc/etcd-lab/etcd.env
"$ETCD_DR" discover "$ip1" "${SSH[@]}" -w yaml >"$WORK/s1.yaml" 2>/dev/null
check "systemd: -w yaml says where data_dir came from" \
  grep -qxF "data_dir: \"/var/lib/etcd\"  # from /etc/etcd-lab/etcd.env:$(line_of "$envfile" ETCD_DATA_DIR=) (ETCD_DATA_DIR)" "$WORK/s1.yaml"
"$ETCD_DR" plan --discover "$ip1" "${SSH[@]}" --snapshot "$WORK/snap.db" >"$WORK/p1.out" 2>&1
"$ETCD_DR" plan --discover "$ip1" --preset kubeadm "${SSH[@]}" --snapshot "$WORK/snap.db" \
  >"$WORK/pk.out" 2>&1
rc=$?
check "systemd: --preset kubeadm with --discover is refused (exit 4, was $rc)" test $rc = 4
check "systemd: the refusal says what runs etcd there, word for word" \
  contains "$(cat "$WORK/pk.out")" "etcd-dr: error: discover: $ip1: --preset kubeadm, but etcd there is not a kubeadm static pod: no manifest at /etc/kubernetes/manifests/etcd.yaml, and etcd runs as systemd unit etcd.service (systemctl cat etcd.service); leave out --preset, or name the manifest with --manifest FILE"
check "systemd: plan --discover names where its spec came from" \
  grep -qF "cluster spec:      the spec read off $ip1 (--discover) (3 members)" "$WORK/p1.out"
# restore straight from --discover: the spec is never written down
"$ETCD_DR" restore --discover "$ip1" "${SSH[@]}" --snapshot "$WORK/snap.db" --yes \
  >"$WORK/r1.out" 2>&1
rc=$?
check "systemd: restore --discover exits 0" test $rc = 0
[[ $rc = 0 ]] || tail -20 "$WORK/r1.out"
restored systemd

# ---- 2. etcd's YAML config file ----------------------------------------------------
for i in 1 2 3; do
  d=$(hostdir $i)/etc-etcd-lab
  { echo "# etcd member m$i, from etcd's own config file"
    grep '^ETCD_' "$WORK/etcd.env.$i" | sed -E 's/^ETCD_([A-Z_]+)=(.*)$/\1: \2/' |
      awk -F': ' '{ k = tolower($1); gsub("_", "-", k); print k ": " $2 }'
  } >"$d/etcd.conf.yml"
  echo "enable-grpc-gateway: true" >>"$d/etcd.conf.yml" # 3.4: off in a config file
  echo "ETCD_CONFIG_FILE=/etc/etcd-lab/etcd.conf.yml" >"$d/etcd.env"
  lab etcd "$i" restart >/dev/null
done
check "config file: the cluster is healthy, started from it" lab health --timeout 60
check "config file: etcd runs with --config-file's settings only" \
  test "$(on_host 1 cat /etc/etcd-lab/etcd.env)" = "ETCD_CONFIG_FILE=/etc/etcd-lab/etcd.conf.yml"
discover "config file" 2 "$ip1"
cfg=$(hostdir 1)/etc-etcd-lab/etcd.conf.yml
check "config file: data_dir came from the config file" \
  test "$(from_of "$WORK/s2.err" data_dir)" = "/etc/etcd-lab/etcd.conf.yml:$(line_of "$cfg" data-dir:) (data-dir)"
check "config file: m1's client URL came from the config file" \
  test "$(from_of "$WORK/s2.err" 'members[0].client_urls')" = \
  "/etc/etcd-lab/etcd.conf.yml:$(line_of "$cfg" advertise-client-urls:) (advertise-client-urls)"
check "config file: members m1 m2 m3" \
  test "$(field "$WORK/s2.json" "' '.join(m['name'] for m in s['members'])")" = "m1 m2 m3"
"$ETCD_DR" restore --cluster "$WORK/s2.json" --snapshot "$WORK/snap.db" --yes >"$WORK/r2.out" 2>&1
rc=$?
check "config file: restore with the printed spec exits 0" test $rc = 0
[[ $rc = 0 ]] || tail -20 "$WORK/r2.out"
restored "config file"

# ---- 3. kubeadm-style manifest -------------------------------------------------------
for i in 1 2 3; do
  d=$(hostdir $i)/etc-etcd-lab
  mkdir -p "$d/manifests"
  { printf 'apiVersion: v1\nkind: Pod\nmetadata:\n  name: etcd\n  namespace: kube-system\n'
    printf 'spec:\n  containers:\n  - command:\n    - etcd\n'
    grep '^ETCD_' "$WORK/etcd.env.$i" | grep -v LOGGER |
      sed -E 's/^ETCD_([A-Z_]+)=(.*)$/\1=\2/' |
      awk -F= '{ k = tolower($1); gsub("_", "-", k); v = substr($0, length($1) + 2); print "    - --" k "=" v }'
    printf '    image: registry.k8s.io/etcd:3.5.16-0\n    name: etcd\n'
  } >"$d/manifests/etcd.yaml"
  rm -f "$d/etcd.service" # no unit: kubelet starts this etcd
done
man=$(hostdir 1)/etc-etcd-lab/manifests/etcd.yaml
discover manifest 3 "$ip1" --manifest /etc/etcd-lab/manifests/etcd.yaml \
  --stop-command "$LAB_HOST_SERVICE stop" --start-command "$LAB_HOST_SERVICE start"
check "manifest: data_dir came from the manifest's command" \
  test "$(from_of "$WORK/s3.err" data_dir)" = \
  "/etc/etcd-lab/manifests/etcd.yaml:$(line_of "$man" '  - command:') command (--data-dir)"
check "manifest: says the given commands replace the kubeadm preset" \
  contains "$(cat "$WORK/s3.err")" "etcd-dr: warning: etcd runs as a kubeadm static pod on $ip1, but --stop-command or --start-command is given: the spec stops and starts etcd with them, not with the kubeadm preset's moves of its manifest"
check "manifest: no preset in the spec (the commands are given)" \
  test "$(field "$WORK/s3.json" "s.get('preset')")" = None
check "manifest: the stop command given on the command line is in the spec" \
  test "$(field "$WORK/s3.json" "s['stop_command']")" = "$LAB_HOST_SERVICE stop"
"$ETCD_DR" restore --cluster "$WORK/s3.json" --snapshot "$WORK/snap.db" --yes >"$WORK/r3.out" 2>&1
rc=$?
check "manifest: restore with the printed spec exits 0" test $rc = 0
[[ $rc = 0 ]] || tail -20 "$WORK/r3.out"
restored manifest
# --manifest on a command that takes --discover: the spec is read off that
# manifest as discover reads it
"$ETCD_DR" plan --discover "$ip1" "${SSH[@]}" --manifest /etc/etcd-lab/manifests/etcd.yaml \
  --stop-command "$LAB_HOST_SERVICE stop" --start-command "$LAB_HOST_SERVICE start" \
  --snapshot "$WORK/snap.db" >"$WORK/pm.out" 2>&1
rc=$?
check "manifest: plan --discover --manifest exits 0" test $rc = 0
[[ $rc = 0 ]] || tail -20 "$WORK/pm.out"
check "manifest: plan --discover says data_dir came from the named manifest" \
  test "$(from_of "$WORK/pm.out" data_dir)" = \
  "/etc/etcd-lab/manifests/etcd.yaml:$(line_of "$man" '  - command:') command (--data-dir)"

# ---- status on a dead cluster: revisions read offline, the freshest member ----------
for i in 1 2 3; do
  rm -rf "$(hostdir $i)/etc-etcd-lab/manifests"
  cp "$WORK/etcd.env.$i" "$(hostdir $i)/etc-etcd-lab/etcd.env"
done
rev_of() { # rev_of I: member I's revision as etcd says
  ETCDCTL_API=3 "$LAB_ETCDCTL" --endpoints="http://$(host_ip "$1"):2379" endpoint status -w json |
    python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["Status"]["header"]["revision"])'
}
r3=$(rev_of 3)
lab etcd 3 stop >/dev/null
lab put-data 30 100 --prefix /late/ >/dev/null
r2=$(rev_of 2)
lab etcd 1 stop >/dev/null
lab etcd 2 stop >/dev/null
rm -rf "$(hostdir 1)/var-lib-etcd/member" # m1's disk is lost
"$ETCD_DR" status --discover "$(host_ip 2)" "${SSH[@]}" >"$WORK/st.out" 2>"$WORK/st.err"
rc=$?
check "status: quorum lost (exit 8)" test $rc = 8
[[ $rc = 8 ]] || cat "$WORK/st.out" "$WORK/st.err"
dbrev() { awk -v m="$1" '$1 == m { print $NF }' "$WORK/st.out"; }
check "status: m1's db revision unknown (no db)" test "$(dbrev m1)" = -
check "status: m2's db revision read offline ($r2)" test "$(dbrev m2)" = "$r2"
check "status: m3's db revision read offline ($r3)" test "$(dbrev m3)" = "$r3"
check "status: m3 is behind m2" test "$r3" -lt "$r2"
want="freshest member by its own db (read offline on its host): m2 at revision $r2.
To restore every member from m2's db instead of a snapshot file:
  etcd-dr restore --discover $(host_ip 2) --ssh-user root --identity $LAB_KEY --known-hosts $LAB_KNOWN_HOSTS --from-member m2 --skip-hash-check"
check "status: names the freshest member and the command, word for word" \
  test "$(tail -3 "$WORK/st.out")" = "$want"
[[ $(tail -3 "$WORK/st.out") == "$want" ]] || { echo "want:"; echo "$want"; echo "got:"; tail -3 "$WORK/st.out"; }

# ---- 4. nothing left but the db ------------------------------------------------------
# etcd is down everywhere, no unit, no manifest, no env file anywhere discover looks
discover "db only" 4 "$(host_ip 2)"
check "db only: members m1 m2 m3 from m2's db" \
  test "$(field "$WORK/s4.json" "' '.join(m['name'] for m in s['members'])")" = "m1 m2 m3"
check "db only: m3's host from its peer URL" \
  test "$(from_of "$WORK/s4.err" 'members[2].ssh_host')" = "the host of its peer URL"
check "db only: data_dir is the default, and says so" \
  test "$(from_of "$WORK/s4.err" data_dir)" = "default: no --data-dir in how etcd is started on the host"
check "db only: says stop and start keep their defaults" \
  contains "$(cat "$WORK/s4.err")" "etcd-dr: warning: no unit, env file, manifest or container found on $(host_ip 2): stop_command and start_command keep their defaults (systemctl stop|start etcd)"
"$ETCD_DR" restore --cluster "$WORK/s4.json" --snapshot "$WORK/snap.db" --yes >"$WORK/r4.out" 2>&1
rc=$?
check "db only: restore with the printed spec exits 0" test $rc = 0
[[ $rc = 0 ]] || tail -20 "$WORK/r4.out"
check "db only: every key of the snapshot is back" lab verify-data 200 100 --prefix /disc/
check "db only: the keys written later are gone" test "$(keys /late/)" = 0
