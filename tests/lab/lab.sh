#!/usr/bin/env bash
# etcd-dr test lab: N "hosts" on one machine, each a network namespace plus a
# mount namespace with its own sshd and etcd member. See tests/lab/README.md.
#
#   lab.sh up       --name NAME --hosts N --etcd 3.4|3.5 [--no-etcd]
#   lab.sh down     --name NAME
#   lab.sh env      --name NAME
#   lab.sh status   --name NAME
#   lab.sh list
#   lab.sh exec     --name NAME I CMD...
#   lab.sh ssh      --name NAME [--user USER] I CMD...
#   lab.sh etcd     --name NAME I start|stop|status|restart
#   lab.sh health   --name NAME [--timeout SECONDS]
#   lab.sh disaster --name NAME [--wipe]
#   lab.sh put-data --name NAME COUNT [SIZE] [--prefix P]
#   lab.sh checksum --name NAME [--prefix P]
#   lab.sh verify-data --name NAME COUNT [SIZE] [--prefix P]
#   lab.sh snapshot --name NAME FILE
set -euo pipefail
umask 022

LAB_SH=$(readlink -f "${BASH_SOURCE[0]}")
LAB_HERE=$(dirname "$LAB_SH")
REPO_ROOT=$(cd "$LAB_HERE/../.." && pwd)
ETCD35_DIR=${EDR_ETCD35_DIR:-/var/cache/etcd-dr/etcd-3.5}
PY=/usr/bin/python3
[[ -x $PY ]] || PY=python3
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:$PATH
export LC_ALL=C

# Host-side fixed paths (inside each host's mount namespace).
H_DATA=/var/lib/etcd
H_RUN=/run/etcd
H_CONF=/etc/etcd-lab
H_LOG=/var/log/etcd-lab
H_BIN=/usr/local/bin
H_SERVICE=$H_CONF/service

USER_SUDO=edrlab
USER_NOSUDO=edrnosudo
SUDOERS_FILE=/etc/sudoers.d/edr-lab

log() { printf 'lab: %s\n' "$*" >&2; }
die() { printf 'lab: error: %s\n' "$*" >&2; exit 1; }
usage() { sed -n '2,/^set -euo/p' "$LAB_SH" | sed '$d; s/^# \{0,1\}//' >&2; exit 2; }

lab_root() {
    if [[ -n ${EDR_LAB_ROOT:-} ]]; then
        echo "$EDR_LAB_ROOT"
    elif [[ $(findmnt -n -o FSTYPE -T /run 2>/dev/null || true) == tmpfs ]]; then
        # Debian's /run is a small tmpfs: etcd data (snapshots of ~100 MB,
        # 64 MB WAL files) belongs on disk.
        echo /var/lib/edr-lab
    else
        echo /run/edr-lab
    fi
}
LAB_ROOT=$(lab_root)

need_root() {
    [[ $(id -u) -eq 0 ]] || die "must run as root (network namespaces, mounts, sshd); try: sudo $0 $*"
}

check_name() {
    [[ ${1:-} =~ ^[a-z][a-z0-9]{0,7}$ ]] \
        || die "bad lab name '${1:-}': 1-8 characters, [a-z][a-z0-9]* (it goes into interface names)"
}

# ---------------------------------------------------------------- naming
ns_name()    { echo "edr-$NAME-$1"; }          # network namespace
veth_name()  { echo "edrv-$NAME-$1"; }         # root-side veth (<= 15 chars)
bridge_name(){ echo "edrb-$NAME"; }            # bridge in the root namespace
host_dir()   { echo "$LAB_DIR/h$1"; }
mnt_file()   { echo "$LAB_DIR/ns/mnt-$1"; }
uts_file()   { echo "$LAB_DIR/ns/uts-$1"; }
host_name()  { echo "$NAME-m$1"; }             # hostname inside host I
host_ip()    { echo "10.250.$SUBNET.$1"; }

load_conf() {
    LAB_DIR=$LAB_ROOT/$NAME
    [[ -f $LAB_DIR/lab.conf ]] || die "lab '$NAME' is not up (no $LAB_DIR/lab.conf); start it with: $LAB_SH up --name $NAME --hosts 3 --etcd 3.4"
    # shellcheck disable=SC1091
    . "$LAB_DIR/lab.conf"
}

etcdctl_path() {
    if [[ $1 == 3.5 ]]; then echo "$ETCD35_DIR/usr/bin/etcdctl"; else echo /usr/bin/etcdctl; fi
}

endpoints() {
    local i out=
    for ((i = 1; i <= HOSTS; i++)); do out+="${out:+,}http://$(host_ip "$i"):2379"; done
    echo "$out"
}

initial_cluster() {
    local i out=
    for ((i = 1; i <= HOSTS; i++)); do out+="${out:+,}m$i=http://$(host_ip "$i"):2380"; done
    echo "$out"
}

host_index() {  # accepts 2 or m2
    local i=${1:-}
    i=${i#m}
    [[ $i =~ ^[0-9]+$ ]] && ((i >= 1 && i <= HOSTS)) || die "bad host '${1:-}': expected 1..$HOSTS (or m1..m$HOSTS)"
    echo "$i"
}

# Run a command inside host I (its network and mount namespaces).
in_host() {
    local i=$1; shift
    [[ -e /run/netns/$(ns_name "$i") ]] || die "host $i of lab '$NAME' has no network namespace /run/netns/$(ns_name "$i")"
    nsenter --net="/run/netns/$(ns_name "$i")" --mount="$(mnt_file "$i")" --uts="$(uts_file "$i")" -- "$@"
}

# ---------------------------------------------------------------- down
ns_inode() { stat -L -c %i "$1" 2>/dev/null || true; }

pids_in_ns() {  # TYPE INODE...: every pid whose /proc/P/ns/TYPE is one of these inodes
    local type=$1; shift
    (($#)) || return 0
    stat -L -c '%n %i' /proc/[0-9]*/ns/"$type" 2>/dev/null \
        | awk -v want=" $* " 'index(want, " " $2 " ") { split($1, a, "/"); print a[3] }' || true
}

alive() {  # PID: exists and is not a zombie
    local s
    s=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    s=${s##*) }
    [[ ${s%% *} != Z ]]
}

kill_pids() {  # PIDS...: TERM, wait up to 1 s, KILL (the lab is being discarded)
    local p left t
    (($#)) || return 0
    kill -TERM "$@" 2>/dev/null || true
    for ((t = 0; t < 10; t++)); do
        left=()
        for p in "$@"; do alive "$p" && left+=("$p"); done
        ((${#left[@]})) || return 0
        sleep 0.1
    done
    kill -KILL "${left[@]}" 2>/dev/null || true
    sleep 0.2
}

do_down() {
    local quiet=${1:-}
    LAB_DIR=$LAB_ROOT/$NAME
    local pids=() left=() i f p hosts=() inos=()
    # Hosts: from lab.conf, plus whatever namespaces/links of this lab exist.
    if [[ -f $LAB_DIR/lab.conf ]]; then
        # shellcheck disable=SC1091
        HOSTS=$(. "$LAB_DIR/lab.conf"; echo "${HOSTS:-0}")
        for ((i = 1; i <= HOSTS; i++)); do hosts+=("$i"); done
    fi
    for f in /run/netns/edr-"$NAME"-*; do
        [[ -e $f && ${f##*/} =~ ^edr-$NAME-([0-9]+)$ ]] && hosts+=("${BASH_REMATCH[1]}")
    done
    for f in "$LAB_DIR"/ns/mnt-* "$LAB_DIR"/ns/uts-*; do
        [[ -e $f && ${f##*/} =~ ^(mnt|uts)-([0-9]+)$ ]] && hosts+=("${BASH_REMATCH[2]}")
    done
    while read -r f; do
        [[ $f =~ ^edrv-$NAME-([0-9]+)$ ]] && hosts+=("${BASH_REMATCH[1]}")
    done < <(ip -o link show 2>/dev/null | awk -F': ' '{sub(/@.*/, "", $2); print $2}')
    mapfile -t hosts < <(printf '%s\n' "${hosts[@]}" | sort -un | sed '/^$/d')

    if ((${#hosts[@]} == 0)) && [[ ! -e $LAB_DIR ]] && ! ip link show "$(bridge_name)" >/dev/null 2>&1; then
        [[ -n $quiet ]] || log "lab '$NAME' is not up: nothing to do"
        return 0
    fi
    [[ -n $quiet ]] || log "taking lab '$NAME' down (hosts: ${hosts[*]:-none})"

    # 1. processes: everything in the hosts' network or mount namespaces, and
    #    the pids in this lab's pidfiles if they are still ours.  Swept again
    #    until a sweep finds nothing: a process of the lab may start another
    #    between the listing and the kill (the k8s test's stand-in kubelet
    #    restarts its kube-apiserver), and that one, missed, would keep the
    #    namespace alive after its files are gone, where no later `down` can
    #    find it.
    for i in "${hosts[@]}"; do
        if mountpoint -q "$(mnt_file "$i")" 2>/dev/null; then
            inos+=("$(ns_inode "$(mnt_file "$i")")")
        fi
    done
    local pass
    for ((pass = 1; pass <= 10; pass++)); do
        pids=()
        for i in "${hosts[@]}"; do
            if [[ -e /run/netns/$(ns_name "$i") ]]; then
                mapfile -t -O "${#pids[@]}" pids < <(ip netns pids "$(ns_name "$i")" 2>/dev/null || true)
            fi
            for f in "$LAB_DIR/h$i/sshd.pid" "$LAB_DIR/h$i/run-etcd/etcd.pid"; do
                p=$(cat "$f" 2>/dev/null || true)
                [[ $p =~ ^[0-9]+$ ]] && alive "$p" || continue
                if grep -qF "$LAB_DIR/" <<<"$(tr '\0' '\n' <"/proc/$p/cmdline" 2>/dev/null)" \
                   || grep -qx "ETCD_INITIAL_CLUSTER_TOKEN=lab-$NAME" <<<"$(tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null)"; then
                    pids+=("$p")
                fi
            done
        done
        mapfile -t -O "${#pids[@]}" pids < <(pids_in_ns mnt "${inos[@]}")
        mapfile -t pids < <(printf '%s\n' "${pids[@]}" | sed '/^$/d' | sort -un | grep -vx "$$" || true)
        left=()
        for p in "${pids[@]}"; do alive "$p" && left+=("$p"); done
        ((${#left[@]})) || break
        [[ -n $quiet ]] || log "killing ${#left[@]} process(es): ${left[*]}"
        kill_pids "${left[@]}"
    done

    # 2. mounts, namespaces, links
    for i in "${hosts[@]}"; do
        for f in "$(mnt_file "$i")" "$(uts_file "$i")"; do
            if mountpoint -q "$f" 2>/dev/null; then umount "$f" || umount -l "$f"; fi
        done
        ip link del "$(veth_name "$i")" 2>/dev/null || true
        if [[ -e /run/netns/$(ns_name "$i") ]]; then
            ip netns del "$(ns_name "$i")" || log "warning: could not delete netns $(ns_name "$i")"
        fi
    done
    ip link del "$(bridge_name)" 2>/dev/null || true
    if [[ -d $LAB_DIR ]]; then
        # any mount left under the lab dir (ours only) goes first
        while read -r f; do
            [[ $f == "$LAB_DIR"/* || $f == "$LAB_DIR" ]] && { umount "$f" 2>/dev/null || umount -l "$f"; }
        done < <(findmnt -rn -o TARGET | sort -r)
        rm -rf --one-file-system "$LAB_DIR"
    fi
    [[ -n $quiet ]] || log "lab '$NAME' is down"
}

# ---------------------------------------------------------------- up
ensure_users() {
    if ! getent passwd etcd >/dev/null; then
        getent group etcd >/dev/null || groupadd --system etcd
        useradd --system --gid etcd --home-dir /var/lib/etcd --no-create-home --shell /usr/sbin/nologin etcd
    fi
    local u
    for u in "$USER_SUDO" "$USER_NOSUDO"; do
        if ! getent passwd "$u" >/dev/null; then
            useradd --create-home --shell /bin/bash "$u"
        fi
        # '*': no password, but not "locked" ('!'), so sshd (UsePAM no) lets keys in
        [[ $(getent shadow "$u" | cut -d: -f2) == '*' ]] || usermod -p '*' "$u"
    done
    command -v sudo >/dev/null || die "sudo is not installed: run scripts/deps.sh"
    local want="# etcd-dr test lab (tests/lab/lab.sh): $USER_SUDO may sudo without a password
$USER_SUDO ALL=(ALL:ALL) NOPASSWD: ALL"
    if [[ "$(cat "$SUDOERS_FILE" 2>/dev/null || true)" != "$want" ]]; then
        printf '%s\n' "$want" >"$SUDOERS_FILE.tmp"
        chmod 0440 "$SUDOERS_FILE.tmp"
        visudo -cqf "$SUDOERS_FILE.tmp" || die "generated sudoers file is invalid"
        mv "$SUDOERS_FILE.tmp" "$SUDOERS_FILE"
    fi
}

pick_subnet() {  # third octet for 10.250.X.0/24, from the name, first free one
    local h k n f used
    h=$(printf '%s' "$NAME" | cksum | awk '{print $1}')
    for ((n = 0; n < 250; n++)); do
        k=$(( (h + n) % 250 + 1 ))
        used=
        for f in "$LAB_ROOT"/*/lab.conf; do
            [[ -f $f ]] || continue
            [[ $(. "$f"; echo "${SUBNET:-}") == "$k" ]] && used=1
        done
        [[ -z $used ]] || continue
        grep -q "^10\.250\.$k\." <<<"$(ip -4 route show)" && continue
        grep -q "inet 10\.250\.$k\." <<<"$(ip -4 addr show)" && continue
        echo "$k"
        return 0
    done
    die "no free 10.250.X.0/24 subnet"
}

write_service() {  # I: the per-host service script and etcd.env
    local i=$1 hd ip etcd_bin
    hd=$(host_dir "$i")
    ip=$(host_ip "$i")
    if [[ $ETCD_VERSION == 3.5 ]]; then etcd_bin=$H_BIN/etcd; else etcd_bin=/usr/bin/etcd; fi
    cat >"$hd/etc-etcd-lab/etcd.env" <<EOF
# etcd member m$i of lab $NAME (plain KEY=value lines, read by $H_SERVICE)
ETCD_NAME=m$i
ETCD_DATA_DIR=$H_DATA
ETCD_LISTEN_CLIENT_URLS=http://$ip:2379,http://127.0.0.1:2379
ETCD_ADVERTISE_CLIENT_URLS=http://$ip:2379
ETCD_LISTEN_PEER_URLS=http://$ip:2380
ETCD_INITIAL_ADVERTISE_PEER_URLS=http://$ip:2380
ETCD_INITIAL_CLUSTER=$(initial_cluster)
ETCD_INITIAL_CLUSTER_STATE=new
ETCD_INITIAL_CLUSTER_TOKEN=lab-$NAME
ETCD_LOGGER=zap
EOF
    cat >"$hd/etc-etcd-lab/service" <<'EOF'
#!/bin/bash
# Stand-in for the service manager on an etcd-dr lab host (no systemd here).
#   /etc/etcd-lab/service start|stop|status|restart
# start:   runs etcd as user etcd, daemonized, config from /etc/etcd-lab/etcd.env,
#          pid in /run/etcd/etcd.pid, log /var/log/etcd-lab/etcd.log; returns
#          once the process is up (does not wait for health). 0 if already up.
# stop:    SIGTERM, up to 10 s, then SIGKILL; 0 once etcd is not running.
# status:  exit 0 iff etcd is running.
set -u
ETCD_BIN=@ETCD_BIN@
ENV_FILE=/etc/etcd-lab/etcd.env
PID_FILE=/run/etcd/etcd.pid
LOG_FILE=/var/log/etcd-lab/etcd.log
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

if [ "$(id -u)" != 0 ]; then
    echo "etcd service: must run as root (use sudo)" >&2
    exit 4
fi

# every etcd process of this host: the pidfile's, plus any etcd in this netns
etcd_pids() {
    local p myns
    myns=$(readlink /proc/self/ns/net)
    p=$(cat "$PID_FILE" 2>/dev/null || true)
    if [ -n "$p" ] && [ "$(cat /proc/"$p"/comm 2>/dev/null)" = etcd ] && alive "$p"; then echo "$p"; fi
    for p in $(pgrep -x etcd 2>/dev/null); do
        [ "$(readlink /proc/"$p"/ns/net 2>/dev/null)" = "$myns" ] && alive "$p" && echo "$p"
    done | sort -u
    return 0
}

alive() {  # PID: exists and is not a zombie
    local s
    s=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    s=${s##*) }
    [ "${s%% *}" != Z ]
}

do_status() {
    local p
    p=$(etcd_pids | sed -n 1p)
    if [ -n "$p" ]; then echo "etcd is running (pid $p)"; return 0; fi
    echo "etcd is not running"
    return 3
}

do_start() {
    local p vars t
    p=$(etcd_pids | sed -n 1p)
    if [ -n "$p" ]; then echo "etcd is already running (pid $p)"; return 0; fi
    [ -r "$ENV_FILE" ] || { echo "etcd service: $ENV_FILE missing" >&2; return 1; }
    [ -x "$ETCD_BIN" ] || { echo "etcd service: $ETCD_BIN missing" >&2; return 1; }
    mapfile -t vars < <(grep -E '^[A-Za-z_][A-Za-z0-9_]*=' "$ENV_FILE")
    mkdir -p /run/etcd /var/log/etcd-lab
    echo "=== $(date -u '+%F %T') service start: $ETCD_BIN" >>"$LOG_FILE"
    # not a process-group leader (no job control here), so setsid does not fork: $! is etcd
    env -i PATH=/usr/local/bin:/usr/bin:/bin LANG=C.UTF-8 HOME=/var/lib/etcd "${vars[@]}" \
        setsid setpriv --reuid=etcd --regid=etcd --init-groups --inh-caps=-all \
        nohup "$ETCD_BIN" </dev/null >>"$LOG_FILE" 2>&1 &
    p=$!
    echo "$p" >"$PID_FILE"
    for t in 1 2 3; do
        sleep 0.1
        alive "$p" || break
    done
    if ! alive "$p"; then
        wait "$p" 2>/dev/null
        rm -f "$PID_FILE"
        echo "etcd service: etcd exited at once; last lines of $LOG_FILE:" >&2
        tail -n 15 "$LOG_FILE" >&2
        return 1
    fi
    echo "etcd started (pid $p)"
    return 0
}

do_stop() {
    local pids t left
    pids=$(etcd_pids)
    if [ -z "$pids" ]; then rm -f "$PID_FILE"; echo "etcd is not running"; return 0; fi
    kill -TERM $pids 2>/dev/null
    for t in $(seq 100); do
        left=
        for p in $pids; do alive "$p" && left="$left $p"; done
        [ -z "$left" ] && break
        sleep 0.1
    done
    if [ -n "$left" ]; then
        echo "etcd service: etcd did not stop in 10 s, SIGKILL$left" >&2
        kill -KILL $left 2>/dev/null
        sleep 0.2
    fi
    rm -f "$PID_FILE"
    echo "etcd stopped"
    return 0
}

case "${1:-}" in
    start) do_start ;;
    stop) do_stop ;;
    status) do_status ;;
    restart) do_stop && do_start ;;
    *) echo "usage: $0 start|stop|status|restart" >&2; exit 2 ;;
esac
EOF
    sed -i "s|@ETCD_BIN@|$etcd_bin|" "$hd/etc-etcd-lab/service"
    chmod 755 "$hd/etc-etcd-lab/service"
}

write_sshd() {  # I
    local i=$1 hd ip
    hd=$(host_dir "$i")
    ip=$(host_ip "$i")
    ssh-keygen -q -t ed25519 -N '' -C "lab-$NAME-h$i" -f "$hd/ssh_host_ed25519_key"
    ssh-keygen -q -t ecdsa -b 256 -N '' -C "lab-$NAME-h$i" -f "$hd/ssh_host_ecdsa_key"
    cat >"$hd/sshd_config" <<EOF
# sshd of host $i (m$i, $ip) of etcd-dr lab $NAME
ListenAddress $ip:22
HostKey $hd/ssh_host_ed25519_key
HostKey $hd/ssh_host_ecdsa_key
PidFile $hd/sshd.pid
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
AuthorizedKeysFile $LAB_DIR/authorized_keys
StrictModes no
UsePAM no
UseDNS no
PrintMotd no
AcceptEnv LANG LC_*
MaxStartups 100:30:200
MaxSessions 64
LogLevel VERBOSE
Subsystem sftp internal-sftp
EOF
    printf '%s %s\n' "$ip" "$(cut -d' ' -f1,2 "$hd/ssh_host_ed25519_key.pub")" >>"$LAB_DIR/known_hosts"
    printf '%s %s\n' "$ip" "$(cut -d' ' -f1,2 "$hd/ssh_host_ed25519_key.pub")" >>"$LAB_DIR/known_hosts_all"
    printf '%s %s\n' "$ip" "$(cut -d' ' -f1,2 "$hd/ssh_host_ecdsa_key.pub")" >>"$LAB_DIR/known_hosts_all"
}

setup_host() {  # I: netns, veth, mount ns, per-host dirs
    local i=$1 hd ns mf d
    hd=$(host_dir "$i")
    ns=$(ns_name "$i")
    mf=$(mnt_file "$i")
    mkdir -p "$hd"/{var-lib-etcd,run-etcd,etc-etcd-lab,var-log-etcd-lab,usr-local-bin,tmp,var-tmp,home,root}
    chmod 1777 "$hd/tmp" "$hd/var-tmp"
    chmod 0700 "$hd/root"
    for d in "$USER_SUDO" "$USER_NOSUDO"; do
        cp -rT /etc/skel "$hd/home/$d"
        chown -R "$d:" "$hd/home/$d"
        chmod 0750 "$hd/home/$d"
    done
    chown etcd:etcd "$hd/var-lib-etcd"
    chmod 0700 "$hd/var-lib-etcd"
    if [[ $ETCD_VERSION == 3.5 ]]; then
        for d in etcd etcdctl etcdutl; do cp "$ETCD35_DIR/usr/bin/$d" "$hd/usr-local-bin/$d"; done
    fi

    ip netns add "$ns"
    ip link add "$(veth_name "$i")" type veth peer name eth0 netns "$ns"
    ip link set "$(veth_name "$i")" master "$(bridge_name)" up
    ip -n "$ns" addr add "$(host_ip "$i")/24" dev eth0
    ip -n "$ns" link set lo up
    ip -n "$ns" link set eth0 up

    {
        cat /etc/hosts
        echo "# etcd-dr lab $NAME"
        echo "127.0.1.1 $(host_name "$i")"
        for ((d = 1; d <= HOSTS; d++)); do echo "$(host_ip "$d") $(host_name "$d")"; done
    } >"$hd/etc-hosts"
    touch "$mf" "$(uts_file "$i")"
    unshare --mount="$mf" --uts="$(uts_file "$i")" --propagation private true
    nsenter --uts="$(uts_file "$i")" -- hostname "$(host_name "$i")"
    # Inside: drop the copies of every namespace file (ours and other labs'),
    # so this mount namespace keeps no other namespace alive; then the
    # per-host directories over the standard paths.
    nsenter --mount="$mf" -- /bin/bash -euc '
        findmnt -rn -t nsfs -o TARGET | sort -r | while read -r t; do umount -l "$t" 2>/dev/null || true; done
        mount --bind "$1/var-lib-etcd"     /var/lib/etcd
        mount --bind "$1/run-etcd"         /run/etcd
        mount --bind "$1/etc-etcd-lab"     /etc/etcd-lab
        mount --bind "$1/var-log-etcd-lab" /var/log/etcd-lab
        mount --bind "$1/usr-local-bin"    /usr/local/bin
        mount --bind "$1/etc-hosts"        /etc/hosts
        mount --bind "$1/tmp"              /tmp
        mount --bind "$1/var-tmp"          /var/tmp
        mount --bind "$1/home"             /home
        mount --bind "$1/root"             /root
    ' _ "$hd"
    write_service "$i"
    write_sshd "$i"
    stat -L -c %i "/run/netns/$ns" >"$hd/netns.inode"
}

start_sshd() {  # I
    local i=$1 hd t
    hd=$(host_dir "$i")
    in_host "$i" /usr/sbin/sshd -f "$hd/sshd_config" -E "$hd/sshd.log" 8>&- 9>&- \
        || { tail -n 20 "$hd/sshd.log" >&2 || true; die "sshd of host $i did not start"; }
}

wait_port() {  # IP PORT SECONDS
    local t
    for ((t = 0; t < $3 * 10; t++)); do
        if timeout 1 bash -c "exec 3<>/dev/tcp/$1/$2" 2>/dev/null; then return 0; fi
        sleep 0.1
    done
    return 1
}

wait_healthy() {  # SECONDS
    local out=
    local deadline=$((SECONDS + $1))
    while ((SECONDS < deadline)); do
        if out=$(ETCDCTL_API=3 "$(etcdctl_path "$ETCD_VERSION")" --endpoints="$(endpoints)" \
                 --dial-timeout=2s --command-timeout=3s endpoint health 2>&1); then
            [[ -z ${HEALTH_VERBOSE:-} ]] || printf '%s\n' "$out"
            return 0
        fi
        sleep 0.3
    done
    printf '%s\n' "$out" >&2
    return 1
}

up_failed() {
    local rc=$?
    trap - EXIT
    [[ $rc -eq 0 ]] && return 0
    log "up failed (status $rc)"
    if [[ -n ${EDR_LAB_KEEP_ON_FAIL:-} ]]; then
        log "EDR_LAB_KEEP_ON_FAIL set: leaving lab '$NAME' as it is ($LAB_DIR); remove it with: $LAB_SH down --name $NAME"
    else
        log "removing what was set up (set EDR_LAB_KEEP_ON_FAIL=1 to keep it for inspection)"
        do_down quiet || true
    fi
    exit "$rc"
}

cmd_up() {
    local no_etcd= t0=$SECONDS i d
    HOSTS= ETCD_VERSION=
    while (($#)); do
        case $1 in
            --name) NAME=${2:-}; shift 2 ;;
            --hosts) HOSTS=${2:-}; shift 2 ;;
            --etcd) ETCD_VERSION=${2:-}; shift 2 ;;
            --no-etcd) no_etcd=1; shift ;;
            *) die "up: unknown argument '$1'" ;;
        esac
    done
    check_name "${NAME:-}"
    [[ $HOSTS =~ ^[1-7]$ ]] || die "up: --hosts must be 1..7 (got '${HOSTS}')"
    [[ $ETCD_VERSION == 3.4 || $ETCD_VERSION == 3.5 ]] || die "up: --etcd must be 3.4 or 3.5 (got '${ETCD_VERSION}')"
    for d in ip nsenter unshare setpriv findmnt ssh-keygen /usr/sbin/sshd; do
        command -v "$d" >/dev/null || die "$d not found: run $REPO_ROOT/scripts/deps.sh"
    done
    if [[ $ETCD_VERSION == 3.4 ]]; then
        [[ -x /usr/bin/etcd && -x /usr/bin/etcdctl ]] || die "etcd 3.4 (/usr/bin/etcd, /usr/bin/etcdctl) missing: run $REPO_ROOT/scripts/deps.sh"
    else
        [[ -x $ETCD35_DIR/usr/bin/etcd ]] || "$REPO_ROOT/scripts/get-etcd.sh" "$ETCD35_DIR" >/dev/null \
            || die "etcd 3.5 missing in $ETCD35_DIR and scripts/get-etcd.sh failed"
    fi

    case $LAB_ROOT/ in
        /tmp/*|/var/tmp/*|/home/*|/root/*|/var/lib/etcd/*|/run/etcd/*|/etc/etcd-lab/*|/var/log/etcd-lab/*|/usr/local/bin/*)
            die "lab root $LAB_ROOT is hidden inside the hosts (per-host mounts): choose another EDR_LAB_ROOT" ;;
        /*) ;;
        *) die "EDR_LAB_ROOT must be an absolute path" ;;
    esac
    do_down quiet
    LAB_DIR=$LAB_ROOT/$NAME
    trap up_failed EXIT

    mkdir -p "$LAB_ROOT" /run/sshd "$H_DATA" "$H_RUN" "$H_CONF" "$H_LOG" "$H_BIN"
    chmod 0755 /run/sshd

    # Users, network + namespaces under a global lock (useradd, subnet choice:
    # labs may come up in parallel).
    exec 8>"$LAB_ROOT/.lock"
    flock -w 120 8 || die "timed out waiting for $LAB_ROOT/.lock"
    ensure_users
    SUBNET=$(pick_subnet)
    mkdir -p "$LAB_DIR/ns"
    chmod 0755 "$LAB_DIR"
    cat >"$LAB_DIR/lab.conf" <<EOF
NAME=$NAME
HOSTS=$HOSTS
ETCD_VERSION=$ETCD_VERSION
SUBNET=$SUBNET
EOF
    mount --bind "$LAB_DIR/ns" "$LAB_DIR/ns"
    mount --make-private "$LAB_DIR/ns"

    ssh-keygen -q -t ed25519 -N '' -C "edr-lab-$NAME" -f "$LAB_DIR/id_ed25519"
    cp "$LAB_DIR/id_ed25519.pub" "$LAB_DIR/authorized_keys"
    : >"$LAB_DIR/known_hosts"
    : >"$LAB_DIR/known_hosts_all"

    ip link add "$(bridge_name)" type bridge
    ip addr add "10.250.$SUBNET.254/24" dev "$(bridge_name)"
    ip link set "$(bridge_name)" up
    for ((i = 1; i <= HOSTS; i++)); do setup_host "$i"; done
    flock -u 8
    exec 8>&-

    for ((i = 1; i <= HOSTS; i++)); do start_sshd "$i"; done
    for ((i = 1; i <= HOSTS; i++)); do
        wait_port "$(host_ip "$i")" 22 10 || {
            tail -n 20 "$(host_dir "$i")/sshd.log" >&2 || true
            die "sshd of host $i ($(host_ip "$i"):22) does not answer"
        }
    done

    if [[ -z $no_etcd ]]; then
        for ((i = 1; i <= HOSTS; i++)); do
            in_host "$i" "$H_SERVICE" start >/dev/null 9>&- \
                || die "etcd of host $i did not start (log: $(host_dir "$i")/var-log-etcd-lab/etcd.log)"
        done
        if ! wait_healthy 90; then
            for ((i = 1; i <= HOSTS; i++)); do
                log "--- host $i: $(host_dir "$i")/var-log-etcd-lab/etcd.log (last lines)"
                tail -n 8 "$(host_dir "$i")/var-log-etcd-lab/etcd.log" >&2 || true
            done
            die "etcd cluster of lab '$NAME' not healthy after 90 s"
        fi
    fi
    trap - EXIT
    log "lab '$NAME' up: $HOSTS hosts, etcd $ETCD_VERSION$([[ -n $no_etcd ]] && echo ' (not started)'), 10.250.$SUBNET.0/24, in $((SECONDS - t0)) s"
    log "use: eval \"\$($LAB_SH env --name $NAME)\""
}

# ---------------------------------------------------------------- other commands
cmd_env() {
    load_conf
    local ips=() i names=()
    for ((i = 1; i <= HOSTS; i++)); do ips+=("$(host_ip "$i")"); names+=("m$i"); done
    local etcdutl= host_etcdutl=
    if [[ $ETCD_VERSION == 3.5 ]]; then
        etcdutl=$ETCD35_DIR/usr/bin/etcdutl
        host_etcdutl=$H_BIN/etcdutl
    fi
    cat <<EOF
LAB_NAME='$NAME'
LAB_DIR='$LAB_DIR'
LAB_HOSTS='${ips[*]}'
LAB_MEMBERS='${names[*]}'
LAB_KEY='$LAB_DIR/id_ed25519'
LAB_KNOWN_HOSTS='$LAB_DIR/known_hosts'
LAB_KNOWN_HOSTS_ALL='$LAB_DIR/known_hosts_all'
LAB_INITIAL_CLUSTER='$(initial_cluster)'
LAB_ENDPOINTS='$(endpoints)'
LAB_ETCDCTL='$(etcdctl_path "$ETCD_VERSION")'
LAB_ETCDUTL='$etcdutl'
LAB_ETCD_VERSION='$ETCD_VERSION'
LAB_SUBNET='10.250.$SUBNET.0/24'
LAB_GATEWAY='10.250.$SUBNET.254'
LAB_UNREACHABLE='10.250.$SUBNET.200'
LAB_SSH_USER_SUDO='$USER_SUDO'
LAB_SSH_USER_NOSUDO='$USER_NOSUDO'
LAB_HOST_DATA_DIR='$H_DATA'
LAB_HOST_SERVICE='$H_SERVICE'
LAB_HOST_ETCDCTL='$([[ $ETCD_VERSION == 3.5 ]] && echo "$H_BIN/etcdctl" || echo /usr/bin/etcdctl)'
LAB_HOST_ETCDUTL='$host_etcdutl'
LAB_TOKEN='lab-$NAME'
LAB_SH='$LAB_SH'
EOF
}

cmd_status() {
    load_conf
    local i p
    echo "lab $NAME: $HOSTS hosts, etcd $ETCD_VERSION, 10.250.$SUBNET.0/24, dir $LAB_DIR"
    for ((i = 1; i <= HOSTS; i++)); do
        p=$(cat "$(host_dir "$i")/sshd.pid" 2>/dev/null || true)
        printf 'host %d m%d %-14s sshd:%s  %s\n' "$i" "$i" "$(host_ip "$i")" \
            "$([[ -n $p ]] && kill -0 "$p" 2>/dev/null && echo "up(pid $p)" || echo down)" \
            "$(in_host "$i" "$H_SERVICE" status 2>&1 || true)"
    done
}

cmd_list() {
    local f
    for f in "$LAB_ROOT"/*/lab.conf; do
        [[ -f $f ]] || continue
        (. "$f"; echo "$NAME hosts=$HOSTS etcd=$ETCD_VERSION subnet=10.250.$SUBNET.0/24")
    done
}

cmd_exec() {
    load_conf
    local i
    i=$(host_index "${1:-}"); shift
    (($#)) || die "exec: no command"
    in_host "$i" "$@"
}

ssh_opts() {
    echo -i "$LAB_DIR/id_ed25519" -o IdentitiesOnly=yes -o IdentityAgent=none \
        -o UserKnownHostsFile="$LAB_DIR/known_hosts" -o GlobalKnownHostsFile=/dev/null \
        -o StrictHostKeyChecking=yes -o BatchMode=yes -o ConnectTimeout=5 -o LogLevel=ERROR
}

cmd_ssh() {
    local user=${SSH_USER:-root}
    [[ $user =~ ^[a-z_][a-z0-9_-]*$ ]] || die "ssh: bad user '$user'"
    load_conf
    local i
    i=$(host_index "${1:-}"); shift
    # shellcheck disable=SC2046
    ssh $(ssh_opts) "$user@$(host_ip "$i")" "$@"
}

cmd_etcd() {
    load_conf
    local i
    i=$(host_index "${1:-}")
    case ${2:-} in start|stop|status|restart) ;; *) die "etcd: expected start|stop|status|restart" ;; esac
    in_host "$i" "$H_SERVICE" "$2"
}

cmd_health() {
    local timeout=0
    if [[ ${1:-} == --timeout ]]; then timeout=${2:-0}; shift 2; fi
    load_conf
    if ((timeout > 0)); then
        HEALTH_VERBOSE=1 wait_healthy "$timeout"
    else
        ETCDCTL_API=3 "$(etcdctl_path "$ETCD_VERSION")" --endpoints="$(endpoints)" \
            --dial-timeout=2s --command-timeout=3s endpoint health
    fi
}

cmd_disaster() {
    local wipe=
    [[ ${1:-} == --wipe ]] && wipe=1
    load_conf
    local i
    # One member after the other, last member first: stopping all members at
    # the same moment makes etcd 3.5's leader wait ~7 s for a leadership
    # transfer that cannot happen ("leader transfer took too long").
    for ((i = HOSTS; i >= 1; i--)); do
        in_host "$i" "$H_SERVICE" stop >/dev/null || die "disaster: stopping etcd on host $i failed"
    done
    if [[ -n $wipe ]]; then
        for ((i = 1; i <= HOSTS; i++)); do
            in_host "$i" find "$H_DATA" -mindepth 1 -delete || die "disaster: wiping $H_DATA on host $i failed"
        done
    fi
    log "disaster: etcd stopped on all $HOSTS hosts$([[ -n $wipe ]] && echo ", $H_DATA emptied on each")"
}

parse_prefix() {  # sets PREFIX, remaining args in ARGS
    PREFIX=/lab/
    ARGS=()
    while (($#)); do
        case $1 in
            --prefix) PREFIX=${2:-}; shift 2 ;;
            *) ARGS+=("$1"); shift ;;
        esac
    done
}

cmd_put_data() {
    parse_prefix "$@"
    load_conf
    local count=${ARGS[0]:-} size=${ARGS[1]:-100}
    [[ $count =~ ^[0-9]+$ && $size =~ ^[0-9]+$ ]] || die "put-data: usage: put-data --name NAME COUNT [SIZE] [--prefix P]"
    "$PY" "$LAB_HERE/labdata.py" put "http://$(host_ip 1):2379" "$count" "$size" "$PREFIX" 4
}

cmd_checksum() {
    parse_prefix "$@"
    load_conf
    "$PY" "$LAB_HERE/labdata.py" checksum "http://$(host_ip 1):2379" "$PREFIX"
}

cmd_verify_data() {
    parse_prefix "$@"
    load_conf
    local count=${ARGS[0]:-} size=${ARGS[1]:-100}
    [[ $count =~ ^[0-9]+$ && $size =~ ^[0-9]+$ ]] || die "verify-data: usage: verify-data --name NAME COUNT [SIZE] [--prefix P]"
    "$PY" "$LAB_HERE/labdata.py" verify "http://$(host_ip 1):2379" "$count" "$size" "$PREFIX"
}

cmd_snapshot() {
    load_conf
    local file=${1:-}
    [[ -n $file ]] || die "snapshot: usage: snapshot --name NAME FILE"
    ETCDCTL_API=3 "$(etcdctl_path "$ETCD_VERSION")" --endpoints="http://$(host_ip 1):2379" \
        --dial-timeout=5s --command-timeout=120s snapshot save "$file" >&2
    log "snapshot of member m1 saved to $file ($(stat -c %s "$file") bytes)"
}

# ---------------------------------------------------------------- main
main() {
    local cmd=${1:-}
    (($#)) && shift
    case $cmd in ""|-h|--help|help) usage ;; esac
    need_root "$cmd"
    NAME=${EDR_LAB_NAME:-}
    SSH_USER=root
    # --name may come anywhere before the positional arguments
    local args=()
    while (($#)); do
        case $1 in
            --name) NAME=${2:-}; shift 2 ;;
            --name=*) NAME=${1#--name=}; shift ;;
            --user) [[ $cmd == ssh ]] || die "--user is only for ssh"; SSH_USER=${2:-}; shift 2 ;;
            *) if [[ $cmd == exec || $cmd == ssh ]] && [[ ${1:0:2} != -- ]]; then args+=("$@"); break; fi
               args+=("$1"); shift ;;
        esac
    done
    [[ $cmd == list ]] || check_name "$NAME"
    case $cmd in
        up) cmd_up --name "$NAME" "${args[@]}" ;;
        down) do_down ;;
        env) cmd_env ;;
        status) cmd_status ;;
        list) cmd_list ;;
        exec) cmd_exec "${args[@]}" ;;
        ssh) cmd_ssh "${args[@]}" ;;
        etcd) cmd_etcd "${args[@]}" ;;
        health) cmd_health "${args[@]}" ;;
        disaster) cmd_disaster "${args[@]}" ;;
        put-data) cmd_put_data "${args[@]}" ;;
        checksum) cmd_checksum "${args[@]}" ;;
        verify-data) cmd_verify_data "${args[@]}" ;;
        snapshot) cmd_snapshot "${args[@]}" ;;
        *) die "unknown command '$cmd' (try: $LAB_SH help)" ;;
    esac
}

main "$@"
