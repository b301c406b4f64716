#!/usr/bin/env bash
# bench-bastion.sh - what a bastion costs a restore, and libssh2 1.10 against
# 1.11 through it, on the lab (tests/lab): real sshd and etcd per host.
#
# A lab of 4 hosts: m1-m3 are the cluster, host 4 the bastion (its etcd
# stopped).  Four variants of the same `etcd-dr restore -v` of a 3-member
# cluster from the same snapshot, every round running each once, in an
# order that rotates from round to round, from the same starting state
# (quorum lost: m2 and m3 stopped):
#   d11  the default build (bundled libssh2 1.11), direct
#   j11  the default build, through the bastion (proxy_jump: OpenSSH's ssh -W)
#   d10  a -DEDR_LIBSSH2=system build (bookworm's libssh2 1.10), direct
#   j10  the system build, through the bastion
# Measured per run: wall time, the push-snapshot step (slowest host), and
# the CPU seconds of etcd-dr and its children (the ssh -W processes), from
# /usr/bin/time -v; medians over the rounds, with the load average seen.
#
#   scripts/bench-bastion.sh [--size-mb 75] [--rounds 5] [--etcd 3.4|3.5]
#
# Builds both from the working tree in build-bench/obj and
# build-bench/obj-system (RelWithDebInfo, -j2), or uses EDR_BENCH_BIN=DIR and
# EDR_BENCH_BIN_SYSTEM=DIR as they are.  Needs root (the lab, named bchb,
# removed on exit).  Prints a markdown table on stdout, progress on stderr.
set -euo pipefail
export LC_ALL=C
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
lab="$repo/tests/lab/lab.sh"
size_mb=75 rounds=5 version=3.4 name=bchb
usage() { sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//' >&2; exit 2; }
while (($#)); do
  case $1 in
    --size-mb) size_mb=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --etcd) version=$2; shift 2 ;;
    *) usage ;;
  esac
done
[[ $(id -u) -eq 0 ]] || { echo "bench-bastion: needs root (the lab)" >&2; exit 2; }
log() { printf 'bench-bastion: %s\n' "$*" >&2; }
work=$(mktemp -d /var/tmp/edr-bench-bastion.XXXXXX)
cleanup() { timeout 120 "$lab" down --name "$name" >/dev/null 2>&1 || true; rm -rf "$work"; }
trap cleanup EXIT

build() { # DIR [cmake args...]
  local dir=$1
  shift
  log "building etcd-dr in $dir $*"
  { cmake -S "$repo" -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DBUILD_TESTING=OFF "$@" &&
    cmake --build "$dir" -j2 --target etcd-dr etcd-dr-agent; } >"$work/build.log" 2>&1 ||
    { tail -30 "$work/build.log" >&2; exit 1; }
}
if [[ -n ${EDR_BENCH_BIN:-} ]]; then
  bin11=$EDR_BENCH_BIN bin10=${EDR_BENCH_BIN_SYSTEM:?EDR_BENCH_BIN_SYSTEM=DIR goes with EDR_BENCH_BIN}
else
  bin11=$repo/build-bench/obj bin10=$repo/build-bench/obj-system
  build "$bin11"
  build "$bin10" -DEDR_LIBSSH2=system
fi
. "$repo/scripts/bench/libssh2-of.sh" # libssh2_of BINARY: "1.11.1"
v11=$(libssh2_of "$bin11/etcd-dr") v10=$(libssh2_of "$bin10/etcd-dr")

log "lab $name: 4 hosts, etcd $version"
timeout 300 "$lab" up --name "$name" --hosts 4 --etcd "$version" >"$work/lab.log" 2>&1 ||
  { tail -20 "$work/lab.log" >&2; exit 1; }
eval "$("$lab" env --name "$name")"
"$lab" etcd --name "$name" 4 stop >/dev/null 2>&1
log "writing ~$size_mb MB of 100 kB values"
"$lab" put-data --name "$name" $((size_mb * 10)) 100000 --prefix /bench/ >/dev/null 2>&1
"$lab" snapshot --name "$name" "$work/snap.db" >/dev/null 2>&1
snap_bytes=$(stat -c %s "$work/snap.db")
want=$("$lab" checksum --name "$name" --prefix /bench/)
B=$(echo "$LAB_HOSTS" | awk '{print $4}')
members=$(echo "$LAB_HOSTS" | awk '{
  for (i = 1; i <= 3; i++) printf "%s{\"name\": \"m%d\", \"peer_urls\": [\"http://%s:2380\"]}", (i > 1 ? ", " : ""), i, $i }')
for v in direct jump; do
  { printf '{"ssh_user": "root", "identity_file": "%s", "known_hosts": "%s",\n' "$LAB_KEY" "$LAB_KNOWN_HOSTS"
    [[ $v == jump ]] && printf ' "proxy_jump": "root@%s",\n' "$B"
    printf ' "stop_command": ["%s", "stop"], "start_command": ["%s", "start"],\n' \
      "$LAB_HOST_SERVICE" "$LAB_HOST_SERVICE"
    printf ' "members": [%s]}\n' "$members"; } >"$work/$v.json"
done

# Before every run: what earlier runs kept removed; m1-m3 up, then m3 and
# m2 stopped (quorum lost, the state a disaster restore starts from).
reset_hosts() {
  local i
  for i in 1 2 3; do
    "$lab" exec --name "$name" "$i" sh -c \
      'rm -rf /var/lib/etcd/member.etcd-dr-* /var/lib/etcd/.etcd-dr-*'
    timeout 60 "$lab" etcd --name "$name" "$i" start >/dev/null 2>&1 || true
  done
  for i in 3 2; do timeout 60 "$lab" etcd --name "$name" "$i" stop >/dev/null 2>&1; done
  rm -rf "$work/state"
  sync
  sleep 1
}
# push-snapshot of the slowest host in a `restore -v` output, in seconds
push_s() {
  awk '$2 == "push-snapshot" && $3 == "ok" { s = $4; sub(/s,?$/, "", s); if (s + 0 > m) m = s + 0 }
       /"step":"push-snapshot","event":"done"/ { d = $0; sub(/.*"duration_ms":/, "", d)
         sub(/[^0-9].*/, "", d); if (d / 1000 > m) m = d / 1000 }
       END { printf "%.2f", m }' "$1"
}
cpu_s() { awk -F': ' '/User time|System time/ {t += $2} END {printf "%.2f", t}' "$1"; }
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {if (NR) printf "%.2f", (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

declare -A wall push cpu
variants=(d11 j11 d10 j10)
loads=()
for r in $(seq 1 "$rounds"); do
  for k in 0 1 2 3; do
    v=${variants[$(((k + r - 1) % 4))]}
    bin=$([[ $v == *11 ]] && echo "$bin11" || echo "$bin10")
    spec=$([[ $v == j* ]] && echo jump || echo direct)
    reset_hosts
    loads+=("$(cut -d' ' -f1 /proc/loadavg)")
    # what else keeps the machine busy (shared machines: say so with the figures)
    log "busiest before round $r $v: $(top -bn2 -d0.5 -o %CPU -w 200 |
      awk '/^top -/ {n++} n == 2 && $1 ~ /^[0-9]+$/ && c < 4 {printf "%s %s%%; ", $12, $9; c++}')"
    t0=$(date +%s.%N)
    ETCD_DR_STATE_DIR=$work/state timeout 900 /usr/bin/time -v -o "$work/$v.$r.time" \
      "$bin/etcd-dr" restore -v --yes --cluster "$work/$spec.json" --snapshot "$work/snap.db" \
      >"$work/$v.$r.out" 2>&1 || { tail -30 "$work/$v.$r.out" >&2; exit 1; }
    t1=$(date +%s.%N)
    got=$("$lab" checksum --name "$name" --prefix /bench/)
    [[ $got == "$want" ]] || { echo "round $r $v: data differs after restore" >&2; exit 1; }
    w=$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.2f", b - a}')
    wall[$v]+="$w " push[$v]+="$(push_s "$work/$v.$r.out") " cpu[$v]+="$(cpu_s "$work/$v.$r.time") "
    log "round $r $v: ${w}s, push $(push_s "$work/$v.$r.out")s, cpu $(cpu_s "$work/$v.$r.time")s, load ${loads[-1]}"
  done
done

mb=$(awk -v b="$snap_bytes" 'BEGIN {printf "%.0f", b / 1e6}')
printf '%s rounds, a %s MB snapshot, 3 members, etcd %s, load average %s-%s at the runs'"'"' starts\n\n' \
  "$rounds" "$mb" "$version" "$(printf '%s\n' "${loads[@]}" | sort -g | sed -n 1p)" \
  "$(printf '%s\n' "${loads[@]}" | sort -g | tail -1)"
printf '| variant | libssh2 | route | restore, wall | push-snapshot (slowest host) | push MB/s | etcd-dr + ssh -W CPU |\n'
printf '|---|---|---|---|---|---|---|\n'
for v in "${variants[@]}"; do
  # shellcheck disable=SC2086
  mw=$(median ${wall[$v]}) mp=$(median ${push[$v]}) mc=$(median ${cpu[$v]})
  printf '| %s | %s | %s | %s s | %s s | %s | %s s |\n' "$v" \
    "$([[ $v == *11 ]] && echo "$v11" || echo "$v10")" \
    "$([[ $v == j* ]] && echo "bastion (ssh -W)" || echo direct)" "$mw" "$mp" \
    "$(awk -v b="$snap_bytes" -v s="$mp" 'BEGIN {printf "%.0f", (s > 0 ? b / 1e6 / s : 0)}')" "$mc"
done
printf '\nevery run: %s\n' "$(for v in "${variants[@]}"; do printf '%s wall [%s] ' "$v" "${wall[$v]% }"; done)"
