#!/usr/bin/env bash
# Self-test of the lab itself (not of etcd-dr): brings up a 3-host lab with
# the given etcd version, checks SSH/sudo/isolation/etcd/data/snapshot/
# disaster, takes it down and checks that nothing is left.
#
#   tests/lab/selftest.sh [3.4|3.5]...      (default: 3.4 3.5)
#
# Needs root and scripts/deps.sh. Prints "N passed, N failed"; exit 0 iff none failed.
set -uo pipefail

LAB=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lab.sh
pass=0 fail=0
ok()  { pass=$((pass + 1)); printf 'ok   %s\n' "$*"; }
bad() { fail=$((fail + 1)); printf 'FAIL %s\n' "$*"; }
check() {  # DESCRIPTION CMD...
    local d=$1; shift
    if "$@" >/tmp/lab-selftest.$$.out 2>&1; then ok "$d"; else bad "$d"; sed 's/^/     | /' /tmp/lab-selftest.$$.out | tail -n 15; fi
}

run_version() {
    local v=$1 name t0 t snap i ip
    name=st$((RANDOM % 1000))${v/./}
    snap=$(mktemp /tmp/lab-selftest-snap.XXXXXX)
    t0=$SECONDS
    check "[$v] up --hosts 3" "$LAB" up --name "$name" --hosts 3 --etcd "$v"
    t=$((SECONDS - t0))
    echo "     (up took ${t} s)"
    local env
    if ! env=$("$LAB" env --name "$name"); then bad "[$v] env"; return; fi
    eval "$env"
    check "[$v] env has 3 hosts" test "$(wc -w <<<"$LAB_HOSTS")" -eq 3
    local base=(-i "$LAB_KEY" -o IdentitiesOnly=yes -o IdentityAgent=none -o BatchMode=yes -o ConnectTimeout=5
                -o GlobalKnownHostsFile=/dev/null -o StrictHostKeyChecking=yes)
    local sshopt=("${base[@]}" -o UserKnownHostsFile="$LAB_KNOWN_HOSTS")
    i=0
    for ip in $LAB_HOSTS; do
        i=$((i + 1))
        check "[$v] host $i: OpenSSH as root, strict known_hosts (ed25519 only), hostname" \
            bash -c '[[ $(ssh "${@:2}" root@'"$ip"' hostname) == "$1" ]]' _ "$name-m$i" "${sshopt[@]}"
        check "[$v] host $i: ecdsa host key via LAB_KNOWN_HOSTS_ALL" \
            ssh "${base[@]}" -o UserKnownHostsFile="$LAB_KNOWN_HOSTS_ALL" -o HostKeyAlgorithms=ecdsa-sha2-nistp256 "root@$ip" true
        check "[$v] host $i: edrlab sudo -n true" ssh "${sshopt[@]}" "edrlab@$ip" sudo -n true
        check "[$v] host $i: edrnosudo sudo -n fails" bash -c '! ssh "$@" sudo -n true' _ "${sshopt[@]}" "edrnosudo@$ip"
        check "[$v] host $i: etcd on PATH (also under sudo) is $v" \
            bash -c 'grep -q "^etcd Version: '"$v"'\." <<<"$(ssh "$@" "sudo -n etcd --version")"' _ "${sshopt[@]}" "edrlab@$ip"
        check "[$v] host $i: service status" ssh "${sshopt[@]}" "root@$ip" /etc/etcd-lab/service status
        check "[$v] host $i: /var/lib/etcd etcd:etcd 0700" \
            bash -c '[[ $(ssh "$@" stat -c %U:%G:%a /var/lib/etcd) == etcd:etcd:700 ]]' _ "${sshopt[@]}" "root@$ip"
        "$LAB" exec --name "$name" "$i" sh -c "echo $i > /var/lib/etcd/lab-marker; echo $i > /tmp/lab-marker"
    done
    for i in 1 2 3; do
        check "[$v] host $i: own /var/lib/etcd and /tmp" \
            bash -c '[[ $("$1" exec --name "$2" "$3" cat /var/lib/etcd/lab-marker /tmp/lab-marker) == "$3"$'"'\n'"'"$3" ]]' _ "$LAB" "$name" "$i"
        "$LAB" exec --name "$name" "$i" rm -f /var/lib/etcd/lab-marker
    done
    check "[$v] root namespace /var/lib/etcd untouched" test ! -e /var/lib/etcd/lab-marker
    check "[$v] sftp" bash -c 'echo "ls /var/lib/etcd" | sftp -b - "$@"' _ "${sshopt[@]}" "root@${LAB_HOSTS%% *}"
    check "[$v] unreachable address does not answer" bash -c "! timeout 5 bash -c 'exec 3<>/dev/tcp/$LAB_UNREACHABLE/22'"
    check "[$v] health" "$LAB" health --name "$name"
    check "[$v] put-data 3000 x 200" "$LAB" put-data --name "$name" 3000 200
    check "[$v] verify-data" "$LAB" verify-data --name "$name" 3000 200
    local sum
    sum=$("$LAB" checksum --name "$name")
    check "[$v] checksum counts 3000 keys" test "${sum%% *}" = 3000
    check "[$v] snapshot" "$LAB" snapshot --name "$name" "$snap"
    check "[$v] snapshot has the sha256 trailer (size % 512 == 32)" test $(( $(stat -c %s "$snap") % 512 )) -eq 32
    check "[$v] etcd stop/start/status on host 2" bash -c '
        "$1" etcd --name "$2" 2 stop && ! "$1" etcd --name "$2" 2 status && "$1" etcd --name "$2" 2 stop &&
        "$1" etcd --name "$2" 2 start && "$1" etcd --name "$2" 2 status && "$1" health --name "$2" --timeout 30' _ "$LAB" "$name"
    check "[$v] disaster --wipe" "$LAB" disaster --name "$name" --wipe
    for i in 1 2 3; do
        check "[$v] host $i: etcd stopped and /var/lib/etcd empty after disaster" bash -c '
            ! "$1" etcd --name "$2" "$3" status && [[ -z $("$1" exec --name "$2" "$3" ls -A /var/lib/etcd) ]]' _ "$LAB" "$name" "$i"
    done
    t0=$SECONDS
    check "[$v] down" "$LAB" down --name "$name"
    echo "     (down took $((SECONDS - t0)) s)"
    check "[$v] no netns left" bash -c "! grep -q 'edr-$name-' <<<\"\$(ip netns list)\""
    check "[$v] no links left" bash -c "! grep -qE 'edr[bv]-$name(-|:|@)' <<<\"\$(ip -o link)\""
    check "[$v] no mounts left" bash -c "! grep -q '/$name/' <<<\"\$(findmnt -rn -o TARGET)\""
    check "[$v] no processes left" bash -c "! pgrep -af -- '/$name/h[0-9]'"
    check "[$v] lab dir removed" test ! -e "$LAB_DIR"
    rm -f "$snap"
}

[[ $(id -u) -eq 0 ]] || { echo "selftest: must run as root" >&2; exit 2; }
versions=("$@")
((${#versions[@]})) || versions=(3.4 3.5)
for v in "${versions[@]}"; do run_version "$v"; done
rm -f /tmp/lab-selftest.$$.out
echo "$pass passed, $fail failed"
((fail == 0))
