#!/usr/bin/env bash
# bench.sh - etcd-dr against the alternatives, side by side, on the lab
# (tests/lab): real sshd and etcd per host.  One run measures:
#
#   restore   A `etcd-dr restore`, B the same restore as a parallel OpenSSH
#             script (scripts/bench/openssh-restore.sh), C as an Ansible
#             playbook (scripts/bench/restore.yml); alternating A B C A B C
#             from the same starting state, at 3, 5 and 7 members; medians,
#             ratios, and where etcd-dr's time goes (`restore -v` steps)
#   push      etcd-dr's push-snapshot step against `scp` of the same file to
#             the same host (a 1-member lab), alternating
#   rss       peak RSS of `etcd-dr restore` (/usr/bin/time -v) with a big
#             snapshot (default 1 GiB) to --rss-members hosts (default 3),
#             etcd-dr's defaults or --rss-compress MODE, and the largest peak
#             RSS (VmHWM) of any etcd-dr-agent on the hosts, sampled every
#             0.1 s while it runs
#   status    `etcd-dr snapshot status` against etcdctl/etcdutl's on the big
#             snapshot (scripts/bench-snapshot-status.sh)
#   --vs-system-libssh2: etcd-dr is built twice, with the bundled libssh2
#             1.11 (AES-GCM; the default build) and with -DEDR_LIBSSH2=system
#             (bookworm's 1.10: aes128-ctr + hmac-sha2-256), and push and
#             restore run both, alternating A A' within each round: wall time,
#             push throughput and etcd-dr's own CPU seconds (user + system,
#             /usr/bin/time), medians; EDR_BENCH_BIN_SYSTEM=DIR (with
#             EDR_BENCH_BIN) compares two given builds, EDR_BENCH_LABEL and
#             EDR_BENCH_LABEL_SYSTEM name them in the table
#   shaped    (not in the default set) the coordinator's link capped with tc
#             tbf on the lab bridge (what this machine sends to all hosts
#             together; host to host stays uncapped) at each of --rates
#             Mbit/s, for each of --datasets (random: 100 kB values of random
#             bytes; k8s: scripts/bench/dataset.py, objects as JSON and
#             protobuf-like records, secrets, leases and events rewritten),
#             at each of --members: etcd-dr with each of --compress's modes,
#             the OpenSSH script and Ansible (--shaped-tools) alternating, and
#             the floor (one copy through the capped link + the slowest host's
#             restore + start + election, from etcd-dr's own steps); prints
#             each data set's zstd -1 ratio.  A rate "off" is the uncapped
#             lab; a mode "host" is etcd-dr's default with the snapshot
#             already on m1's host (`--snapshot m1:PATH`, the file placed
#             there untimed first)
#   cpu       (not in the default set) where the machine's CPU goes during
#             A and B: `perf record -a` of each run, CPU seconds per program
#             (etcd-dr, agent, sshd, ssh/scp, restore tool, etcd, other) and
#             idle, at each of --members; medians over rounds
#
#   scripts/bench.sh [--quick] [--members "3 5 7"] [--size-mb 75] [--rounds 3]
#                    [--rss-mb 1024] [--rss-members 3] [--rss-compress MODE]
#                    [--etcd 3.4|3.5] [--start lost|healthy]
#                    [--only restore,push,rss,status,cpu,shaped] [--rev REV|--working-tree]
#                    [--max-minutes 60] [--keep-logs] [--vs-system-libssh2]
#                    [--rates "100 200 1000"] [--datasets "random k8s"]
#                    [--compress "off on"] [--shaped-sizes "76 1024"]
#                    [--shaped-tools "openssh ansible"] [--data-cache DIR]
#
# The shaped matrix of issue 17: --only shaped --members "3 5 7" (the
# defaults of --rates, --datasets, --compress and --shaped-sizes).
#
# --quick: 3 members, a ~10 MB snapshot, 1 round, a ~50 MB "big" snapshot.
# --start lost (default): before every timed run a majority of members is
#   stopped (quorum lost, the state a disaster restore starts from); healthy:
#   the cluster is healthy and serving (then every tool pays etcd's leader
#   transfer on stop).
# --rev: etcd-dr is built from that commit (default HEAD, via git archive,
#   so others' uncommitted edits do not leak in) in build-bench/;
#   --working-tree builds the working tree instead.  EDR_BENCH_BIN=DIR uses
#   DIR/etcd-dr and DIR/etcd-dr-agent as they are.
# --data-cache DIR: the shaped data sets' snapshots with their checksums,
#   and the big snapshot of rss/status (with --only rss,status), are kept in
#   DIR and reused by later runs, so a matrix can run as several short runs.
#
# Needs root (the lab).  Installs what is missing: scripts/deps.sh, and
# Debian's ansible-core.  Labs bch1, bch3, bch5, bch7 (removed on exit, also
# on error or ^C); work files in /var/tmp/edr-bench.*.  Everything has a time
# limit; the whole run is killed after --max-minutes.  Prints markdown
# tables for docs/BENCHMARKS.md on stdout, progress on stderr.
set -euo pipefail
export LC_ALL=C
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
lab="$repo/tests/lab/lab.sh"

orig_args="$*"
members_list="3 5 7" size_mb=75 rounds=3 rss_mb=1024 version=3.4 start=lost
only=restore,push,rss,status rev=HEAD max_min=60 keep_logs=0 quick=0 vs_sys=0
rates="100 200 1000" datasets="random k8s" compress_modes="off on" shaped_sizes="76 1024"
shaped_tools="openssh ansible" data_cache='' rss_members=3 rss_compress=''
usage() { sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//' >&2; exit 2; }
while (($#)); do
  case $1 in
    --quick) quick=1 members_list=3 size_mb=10 rounds=1 rss_mb=50 max_min=20; shift ;;
    --members) members_list=$2; shift 2 ;;
    --size-mb) size_mb=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --rss-mb) rss_mb=$2; shift 2 ;;
    --etcd) version=$2; shift 2 ;;
    --start) start=$2; shift 2 ;;
    --only) only=$2; shift 2 ;;
    --rev) rev=$2; shift 2 ;;
    --working-tree) rev=; shift ;;
    --max-minutes) max_min=$2; shift 2 ;;
    --keep-logs) keep_logs=1; shift ;;
    --vs-system-libssh2) vs_sys=1; shift ;;
    --rates) rates=$2; shift 2 ;;
    --datasets) datasets=$2; shift 2 ;;
    --compress) compress_modes=$2; shift 2 ;;
    --shaped-sizes) shaped_sizes=$2; shift 2 ;;
    --shaped-tools) shaped_tools=$2; shift 2 ;;
    --data-cache) data_cache=$2; shift 2 ;;
    --rss-members) rss_members=$2; shift 2 ;;
    --rss-compress) rss_compress=$2; shift 2 ;;
    -h|--help) usage ;;
    *) echo "bench: unknown option '$1'" >&2; usage ;;
  esac
done
[[ $(id -u) -eq 0 ]] || { echo "bench: needs root (the lab)" >&2; exit 2; }
[[ $start == lost || $start == healthy ]] || usage
for n in $members_list $rss_members; do [[ $n =~ ^[1-7]$ ]] || { echo "bench: members 1-7" >&2; exit 2; }; done
for t in $shaped_tools; do [[ $t == openssh || $t == ansible ]] || { echo "bench: --shaped-tools: openssh, ansible" >&2; exit 2; }; done
want() { [[ ,$only, == *,$1,* ]]; }

log() { printf 'bench: %s\n' "$*" >&2; }
work=$(mktemp -d /var/tmp/edr-bench.XXXXXX)
labs_up=()
watchdog=
cleanup() {
  local rc=$? l
  trap - EXIT INT TERM
  [[ -n $watchdog ]] && kill "$watchdog" 2>/dev/null
  for l in "${labs_up[@]}"; do "$lab" down --name "$l" >/dev/null 2>&1 || true; done
  # ssh ControlPersist masters of the Ansible runs (our own sockets only)
  for s in "$work"/cp/*; do [[ -S $s ]] && ssh -o ControlPath="$s" -O exit x >/dev/null 2>&1; done
  if ((keep_logs)); then log "logs kept in $work"; else rm -rf "$work"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'log "failed (status $?) at line $LINENO: $BASH_COMMAND"' ERR
trap 'log interrupted; exit 130' INT
trap 'log "time limit (--max-minutes $max_min) reached or terminated"; exit 124' TERM
# The watchdog: TERM to this script after max_min (the EXIT trap cleans up).
# It also TERMs this script's children (by pid), so a long step ends at once.
main_pid=$$
(
  trap 'kill "$sp" 2>/dev/null; exit 0' TERM
  sleep $((max_min * 60)) & sp=$!
  wait "$sp"
  kill -TERM "$main_pid"
  for c in $(pgrep -P "$main_pid"); do [[ $c == "$BASHPID" ]] || kill -TERM "$c"; done
) 2>/dev/null &
watchdog=$!

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", b - a}'; }
median() { (($#)) || return 0; printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {if (NR) printf "%.2f", (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", (b > 0 ? a / b : 0)}'; }
loads=()
sample_load() { loads+=("$(cut -d' ' -f1 /proc/loadavg)"); }

# ------------------------------------------------------------ prerequisites
t_begin=$(now)
log "work dir $work; $(nproc) cores; load $(cut -d' ' -f1-3 /proc/loadavg)"
timeout 600 "$repo/scripts/deps.sh" >"$work/deps.log" 2>&1 || { cat "$work/deps.log" >&2; exit 1; }
apt_install() { # PACKAGE: from Debian, updating the lists only if needed
  local l=$work/apt-$1.log
  log "installing Debian's $1"
  export DEBIAN_FRONTEND=noninteractive
  timeout 600 apt-get install -y -q "$1" >"$l" 2>&1 ||
    { timeout 300 apt-get update -q >>"$l" 2>&1 && timeout 600 apt-get install -y -q "$1" >>"$l" 2>&1; } ||
    { cat "$l" >&2; exit 1; }
}
if want cpu && ! command -v perf >/dev/null; then apt_install linux-perf; fi
if { want restore || want shaped; } && ! command -v ansible-playbook >/dev/null; then apt_install ansible-core; fi

if [[ -n ${EDR_BENCH_BIN:-} ]]; then
  bindir=$EDR_BENCH_BIN built="$EDR_BENCH_BIN (as given)"
else
  if [[ -n $rev ]]; then
    src=$repo/build-bench/src commit=$(git -C "$repo" rev-parse --short "$rev")
    rm -rf "$src" && mkdir -p "$src"
    git -C "$repo" archive "$rev" | tar -x -C "$src"
    built="commit $commit"
  else
    src=$repo built="working tree of $(git -C "$repo" rev-parse --short HEAD)"
  fi
  bindir=$repo/build-bench/obj
  [[ -f $bindir/CMakeCache.txt ]] && ! grep -q "^CMAKE_HOME_DIRECTORY:INTERNAL=$src\$" "$bindir/CMakeCache.txt" &&
    rm -rf "$bindir"
  log "building etcd-dr ($built, RelWithDebInfo) in $bindir"
  { cmake -S "$src" -B "$bindir" -DCMAKE_BUILD_TYPE=RelWithDebInfo &&
    cmake --build "$bindir" -j"$(nproc)" --target etcd-dr etcd-dr-agent; } >"$work/build.log" 2>&1 ||
    { tail -30 "$work/build.log" >&2; exit 1; }
  if ((vs_sys)); then
    log "building etcd-dr ($built, RelWithDebInfo, -DEDR_LIBSSH2=system) in $bindir-system"
    { cmake -S "$src" -B "$bindir-system" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DEDR_LIBSSH2=system &&
      cmake --build "$bindir-system" -j"$(nproc)" --target etcd-dr etcd-dr-agent; } >"$work/build-system.log" 2>&1 ||
      { tail -30 "$work/build-system.log" >&2; exit 1; }
  fi
fi
edr=$bindir/etcd-dr edr_sys=
[[ -x $edr ]] || { echo "bench: no $edr" >&2; exit 1; }
if ((vs_sys)); then
  edr_sys=${EDR_BENCH_BIN_SYSTEM:-$bindir-system}/etcd-dr
  [[ -x $edr_sys ]] || { echo "bench: no $edr_sys (EDR_BENCH_BIN_SYSTEM=DIR with EDR_BENCH_BIN)" >&2; exit 1; }
fi
# libssh2_of BINARY: "1.11.1", the libssh2 an etcd-dr binary runs with
. "$repo/scripts/bench/libssh2-of.sh"
ansible_v=$( (LC_ALL=C.UTF-8 ansible-playbook --version 2>/dev/null || true) | sed -n 1p)
ssh_v=$(ssh -V 2>&1)

lab_up() { # NAME HOSTS
  log "lab $1: up, $2 hosts, etcd $version"
  labs_up+=("$1")
  timeout 300 "$lab" up --name "$1" --hosts "$2" --etcd "$version" >"$work/lab-$1.log" 2>&1 ||
    { tail -20 "$work/lab-$1.log" >&2; exit 1; }
}
lab_down() {
  local l keep=()
  timeout 120 "$lab" down --name "$1" >/dev/null 2>&1 || true
  for l in "${labs_up[@]}"; do [[ $l == "$1" ]] || keep+=("$l"); done
  labs_up=("${keep[@]}")
}
lab_env() { eval "$("$lab" env --name "$1")"; }

# cluster.json for etcd-dr, inventory + ansible.cfg for Ansible (of the lab in env)
write_specs() {
  local d=$1 i=0 ip sep=
  mkdir -p "$d" "$work/cp"
  { printf '{"ssh_user": "root", "identity_file": "%s", "known_hosts": "%s",\n' "$LAB_KEY" "$LAB_KNOWN_HOSTS"
    printf ' "stop_command": ["%s", "stop"], "start_command": ["%s", "start"],\n "members": [' "$LAB_HOST_SERVICE" "$LAB_HOST_SERVICE"
    for ip in $LAB_HOSTS; do
      i=$((i + 1)); printf '%s{"name": "m%d", "peer_urls": ["http://%s:2380"]}' "$sep" $i "$ip"; sep=', '
    done
    printf ']}\n'; } >"$d/cluster.json"
  i=0
  { echo "[etcd]"
    for ip in $LAB_HOSTS; do i=$((i + 1)); echo "m$i ansible_host=$ip peer_url=http://$ip:2380"; done
    echo
    echo "[etcd:vars]"
    echo "ansible_user=root"
    echo "ansible_ssh_private_key_file=$LAB_KEY"
    echo "ansible_ssh_common_args='-o UserKnownHostsFile=$LAB_KNOWN_HOSTS -o StrictHostKeyChecking=yes'"
    echo "ansible_python_interpreter=/usr/bin/python3"
    echo "etcd_service=$LAB_HOST_SERVICE"
    echo "etcd_data_dir=$LAB_HOST_DATA_DIR"; } >"$d/inventory.ini"
  # forks >= members (default 5), pipelining on (the usual speed-up);
  # ControlPersist is Ansible's default, with a socket dir per run (cold start).
  { echo "[defaults]"
    echo "forks = 10"
    echo "host_key_checking = True"
    echo "stdout_callback = default"
    echo "retry_files_enabled = False"
    echo "[ssh_connection]"
    echo "pipelining = True"; } >"$d/ansible.cfg"
}

# Before every timed run: remove what earlier runs kept (old member dirs,
# staging), then set the starting state (see --start).
reset_hosts() { # N
  local n=$1 i q
  for i in $(seq 1 "$n"); do
    "$lab" exec --name "$LAB_NAME" "$i" sh -c \
      'rm -rf /var/lib/etcd/member.etcd-dr-* /var/lib/etcd/member.bak-* /var/lib/etcd/.etcd-dr-* /var/lib/etcd/restore-* /var/lib/etcd/snapshot-*.db'
  done
  if [[ $start == lost ]]; then
    # all members up and healthy first (a failed earlier run may have left some down)
    for i in $(seq 1 "$n"); do timeout 60 "$lab" etcd --name "$LAB_NAME" "$i" start >/dev/null 2>&1 || true; done
    timeout 60 "$lab" health --name "$LAB_NAME" --timeout 50 >/dev/null 2>&1 || true
    # then a majority stops, last members first: the rest runs without quorum
    q=$((n / 2 + 1))
    if ((n > 1)); then
      for ((i = n; i > n - q; i--)); do timeout 60 "$lab" etcd --name "$LAB_NAME" "$i" stop >/dev/null 2>&1; done
    fi
  else
    timeout 60 "$lab" health --name "$LAB_NAME" --timeout 50 >/dev/null 2>&1
  fi
  sync
  sleep 1
}

# The restore command of A (etcd-dr restore -v) or B (the OpenSSH script)
# with DIR's specs and SNAP, into the array cmd (the lab in env).
tool_cmd() { # a|s|b DIR SNAP (s: A linked with the system's libssh2)
  if [[ $1 == a || $1 == s ]]; then
    cmd=("$([[ $1 == a ]] && echo "$edr" || echo "$edr_sys")" restore -v --yes
         --cluster "$2/cluster.json" --snapshot "$3" "${a_args[@]}")
  else
    cmd=("$repo/scripts/bench/openssh-restore.sh" "$3" "$LAB_KEY" "$LAB_KNOWN_HOSTS"
         "$LAB_INITIAL_CLUSTER" "$LAB_ENDPOINTS" "$LAB_HOST_SERVICE")
  fi
}
run_a() { # DIR SNAP TAG [a|s]: etcd-dr restore -v, peak RSS and CPU too
  local cmd
  tool_cmd "${4:-a}" "$1" "$2"
  timeout 900 /usr/bin/time -v -o "$1/$3.time" "${cmd[@]}" \
    >"$1/$3.out" 2>&1 || { tail -30 "$1/$3.out" >&2; forget_run "$1/$3.out"; return 1; }
  forget_run "$1/$3.out"
}
run_s() { run_a "$1" "$2" "$3" s; }
run_b() { # DIR SNAP TAG
  local cmd
  tool_cmd b "$1" "$2"
  timeout 900 "${cmd[@]}" >"$1/$3.out" 2>&1 || { tail -30 "$1/$3.out" >&2; return 1; }
}
run_c() { # DIR SNAP TAG
  local cp=$work/cp/$3 rc=0 s
  mkdir -p "$cp"
  LC_ALL=C.UTF-8 ANSIBLE_CONFIG="$1/ansible.cfg" ANSIBLE_SSH_CONTROL_PATH_DIR="$cp" ANSIBLE_NOCOLOR=1 \
    timeout 900 ansible-playbook -i "$1/inventory.ini" "$repo/scripts/bench/restore.yml" \
    -e snapshot="$2" -e restore_token="restore-$(date +%s%N)" >"$1/$3.out" 2>&1 || rc=$?
  for s in "$cp"/*; do [[ -S $s ]] && ssh -o ControlPath="$s" -O exit x >/dev/null 2>&1; done
  ((rc == 0)) || { tail -30 "$1/$3.out" >&2; return 1; }
}
# keys in the lab's cluster (in env): a range with limit 1 still counts all
key_count() {
  ETCDCTL_API=3 timeout 60 "$LAB_ETCDCTL" --endpoints "${LAB_ENDPOINTS%%,*}" get / --prefix --keys-only --limit 1 -w json |
    sed -n 's/.*"count":\([0-9]*\).*/\1/p'
}
rss_kb() { sed -n 's/.*Maximum resident set size (kbytes): //p' "$1"; }
# user + system CPU seconds of the command in a /usr/bin/time -v file
cpu_s() { awk -F': ' '/User time|System time/ {t += $2} END {printf "%.2f", t}' "$1"; }

# etcd-dr's per-step times of one `restore -v` output: "STEP SECONDS" for
# the slowest host of each step, plus "total SECONDS".  Reads both forms
# -v has printed: "  m1  push-snapshot  ok  0.26s, ..." and JSON lines
# {"host":"m1","step":"push-snapshot","event":"done","duration_ms":260,...}.
steps_of() {
  awk 'function add(k, v) { if (!(k in m) || v > m[k]) m[k] = v; if (!(k in o)) o[k] = ++n }
       $3 == "ok" && $4 ~ /^[0-9.]+s,?$/ { s = $4; sub(/s,?$/, "", s); add($2, s + 0) }
       /"event":"done"/ && /"step":"/ && /"duration_ms":/ {
         st = $0; sub(/.*"step":"/, "", st); sub(/".*/, "", st)
         d = $0; sub(/.*"duration_ms":/, "", d); sub(/[^0-9].*/, "", d); add(st, d / 1000) }
       /"host":"cluster"/ && /"event":"done"/ && /healthy in [0-9.]+s/ {
         d = $0; sub(/.*healthy in /, "", d); sub(/s.*/, "", d); add("healthy", d + 0) }
       /restored and healthy in/ { t = $NF; sub(/s$/, "", t); print "total", t }
       END { for (k in m) print o[k], k, m[k] }' "$1" | sort -n | sed 's/^[0-9]* //'
}
# push-snapshot of host HOST in a `restore -v` output: "SECONDS" or "SECONDS, DETAIL"
push_of() { # FILE HOST
  awk -v h="$2" '$1 == h && $2 == "push-snapshot" && $3 == "ok" { $1 = $2 = $3 = ""; sub(/^ +/, ""); sub(/s,/, " s,"); print; exit }
    index($0, "\"host\":\"" h "\"") && /"step":"push-snapshot","event":"done"/ {
      d = $0; sub(/.*"duration_ms":/, "", d); sub(/[^0-9].*/, "", d)
      x = $0; x = (x ~ /"detail":"/) ? x : ""; sub(/.*"detail":"/, "", x); sub(/".*/, "", x)
      printf "%.2f s%s\n", d / 1000, (x == "" ? "" : ", " x); exit }' "$1"
}
# etcd-dr keeps a journal per run on the coordinator: remove this run's
forget_run() {
  local id
  id=$(sed -n 's/^etcd-dr: run \([0-9a-z-]*\): .*/\1/p' "$1" | sed -n 1p)
  [[ $id =~ ^[0-9]{8}-[0-9]{6}-[0-9a-f]+$ && -d /var/lib/etcd-dr/runs/$id ]] && rm -rf "/var/lib/etcd-dr/runs/$id"
  return 0
}

a_args=()  # more arguments for etcd-dr restore (the shaped part's --compress)
results_restore=() results_steps=() results_phases=() results_push=() results_rss=() results_status=()
results_cpu=() results_ls2=()

# CPU seconds per program in a `perf record -a` file (cpu-clock at HZ) of a
# command that took WALL seconds: "wall S busy S idle S etcd-dr S agent S
# sshd S ssh S tool S etcd S other S".  Idle is cores x wall - busy: an idle
# core (tickless) is not sampled reliably.
cpu_of() { # PERF_DATA HZ WALL
  perf report -i "$1" -n --no-children --sort comm -g none --stdio 2>/dev/null |
    awk -v hz="$2" -v wall="$3" -v cores="$(nproc)" '/^#/ || NF < 3 { next }
      { c = $3; v = $2 / hz
        g = "other"
        if (c == "swapper") g = "idle"; else if (c == "etcd-dr") g = "etcd-dr"
        else if (c == "etcd-dr-agent") g = "agent"; else if (c == "sshd") g = "sshd"
        else if (c == "ssh" || c == "scp") g = "ssh"; else if (c == "etcd") g = "etcd"
        else if (c == "etcdctl" || c == "etcdutl") g = "tool"
        if (g != "idle") { t[g] += v; busy += v } }
      END { idle = cores * wall - busy; printf "wall %.2f busy %.2f idle %.2f", wall, busy, (idle > 0 ? idle : 0)
            n = split("etcd-dr agent sshd ssh tool etcd other", k, " ")
            for (i = 1; i <= n; i++) printf " %s %.2f", k[i], t[k[i]]; print "" }'
}

# ------------------------------------------------------------ data
# Snapshots are made on a 1-member lab (no replication, quicker), then
# restored onto the N-member labs: a snapshot does not depend on the
# cluster it came from.
big_cached=0
if [[ -n $data_cache && -s $data_cache/big-$rss_mb.db && -s $data_cache/big-$rss_mb.count ]] &&
  { want rss || want status; } && ! want restore && ! want push && ! want cpu; then
  big_cached=1
  ln -s "$(realpath "$data_cache/big-$rss_mb.db")" "$work/big.db"
  big_bytes=$(stat -L -c %s "$work/big.db") big_count=$(cat "$data_cache/big-$rss_mb.count")
  log "big snapshot $big_bytes bytes, $big_count keys, from $data_cache"
fi
if want restore || want push || { { want rss || want status; } && ((!big_cached)); } || want cpu; then
lab_up bch1 1
lab_env bch1
log "data: ~$size_mb MB of 100 kB values"
timeout 900 "$lab" put-data --name bch1 $((size_mb * 10)) 100000 --prefix /bench/ >"$work/put.log" 2>&1 ||
  { cat "$work/put.log" >&2; exit 1; }
timeout 300 "$lab" snapshot --name bch1 "$work/snap.db" >/dev/null 2>&1
snap_bytes=$(stat -c %s "$work/snap.db")
want_sum=$("$lab" checksum --name bch1 --prefix /bench/)
log "snapshot $snap_bytes bytes; $want_sum"

# ------------------------------------------------------------ push
if want push; then
  d=$work/push && write_specs "$d"
  ip=${LAB_HOSTS%% *}
  sshopts=(-i "$LAB_KEY" -o UserKnownHostsFile="$LAB_KNOWN_HOSTS" -o StrictHostKeyChecking=yes -o BatchMode=yes)
  pa=() pb=() pc=() ps=() qa=() qs=()
  for r in $(seq 1 "$rounds"); do
    reset_hosts 1; sample_load
    run_a "$d" "$work/snap.db" "a$r"
    s=$(push_of "$d/a$r.out" m1); s=${s%% s*}
    pa+=("$s") qa+=("$(cpu_s "$d/a$r.time")")
    if ((vs_sys)); then
      reset_hosts 1; sample_load
      run_s "$d" "$work/snap.db" "s$r"
      s=$(push_of "$d/s$r.out" m1); s=${s%% s*}
      ps+=("$s") qs+=("$(cpu_s "$d/s$r.time")")
      log "push round $r: etcd-dr (libssh2 $(libssh2_of "$edr")) ${pa[-1]} s, ${qa[-1]} s CPU; (libssh2 $(libssh2_of "$edr_sys")) ${ps[-1]} s, ${qs[-1]} s CPU"
    fi
    reset_hosts 1; sample_load
    t0=$(now)
    timeout 600 scp -q "${sshopts[@]}" "$work/snap.db" "root@$ip:/var/lib/etcd/snapshot-scp.db"
    t1=$(now); pb+=("$(elapsed "$t0" "$t1")")
    t0=$(now); timeout 60 ssh "${sshopts[@]}" "root@$ip" true; t1=$(now); pc+=("$(elapsed "$t0" "$t1")")
    timeout 60 ssh "${sshopts[@]}" "root@$ip" rm -f /var/lib/etcd/snapshot-scp.db
    log "push round $r: etcd-dr ${pa[-1]} s, scp ${pb[-1]} s (ssh connect+exit ${pc[-1]} s)"
  done
  ma=$(median "${pa[@]}") mb=$(median "${pb[@]}") mc=$(median "${pc[@]}")
  mbs() { awk -v b="$snap_bytes" -v t="$1" 'BEGIN {printf "%.0f", (t > 0 ? b / t / 1e6 : 0)}'; }
  results_push+=("| etcd-dr push-snapshot step (streams, sha-256 checked on the host) | $ma s | $(mbs "$ma") MB/s |")
  results_push+=("| scp, whole command (connect + copy) | $mb s | $(mbs "$mb") MB/s |")
  results_push+=("| scp minus an \`ssh host true\` ($mc s) | $(awk -v a="$mb" -v b="$mc" 'BEGIN {printf "%.2f", a - b}') s | $(mbs "$(awk -v a="$mb" -v b="$mc" 'BEGIN {print a - b}')") MB/s |")
  if ((vs_sys)); then
    ms=$(median "${ps[@]}") cqa=$(median "${qa[@]}") cqs=$(median "${qs[@]}")
    results_ls2+=("| push-snapshot step, 1 host | $ma s, $(mbs "$ma") MB/s | $ms s, $(mbs "$ms") MB/s | $(ratio "$ma" "$ms") |")
    results_ls2+=("| etcd-dr CPU (user + sys) for that 1-host restore | $cqa s | $cqs s | $(ratio "$cqa" "$cqs") |")
  fi
fi

# the big snapshot for rss/status
if { want rss || want status; } && ((!big_cached)); then
  extra=$((rss_mb - size_mb))
  if ((extra > 0)); then
    log "data: ~$extra MB more for a ~$rss_mb MB snapshot"
    timeout 1800 "$lab" put-data --name bch1 $((extra * 10)) 100000 --prefix /big/ >>"$work/put.log" 2>&1 ||
      { cat "$work/put.log" >&2; exit 1; }
  fi
  timeout 900 "$lab" snapshot --name bch1 "$work/big.db" >/dev/null 2>&1
  big_bytes=$(stat -c %s "$work/big.db")
  big_count=$(key_count)
  log "big snapshot $big_bytes bytes, $big_count keys"
  if [[ -n $data_cache ]]; then
    mkdir -p "$data_cache" && cp "$work/big.db" "$data_cache/big-$rss_mb.db"
    echo "$big_count" >"$data_cache/big-$rss_mb.count"
  fi
fi
lab_down bch1
fi

# ------------------------------------------------------------ restore at N members
in_members() { [[ " $members_list " == *" $1 "* ]]; }
# shellcheck disable=SC2046,SC2086 # the lists split into words
for n in $(printf '%s\n' $members_list $(want rss && echo "$rss_members") | awk '!seen[$1]++'); do
  if ! { { want restore || want cpu; } && in_members "$n"; } && ! { want rss && ((n == rss_members)); }; then continue; fi
  name=bch$n
  lab_up "$name" "$n"
  lab_env "$name"
  d=$work/r$n && write_specs "$d"
  if want restore && in_members "$n"; then
    ta=() tb=() tc=() ra=() ts=() qa=() qs=()
    for r in $(seq 1 "$rounds"); do
      for w in a $( ((vs_sys)) && echo s) b c; do
        reset_hosts "$n"; sample_load
        t0=$(now)
        "run_$w" "$d" "$work/snap.db" "$w$r"
        t1=$(now)
        got=$("$lab" checksum --name "$name" --prefix /bench/)
        [[ $got == "$want_sum" ]] || { log "$n members, round $r, $w: data differs after restore ($got)"; exit 1; }
        t=$(elapsed "$t0" "$t1")
        case $w in a) ta+=("$t"); ra+=("$(rss_kb "$d/a$r.time")"); qa+=("$(cpu_s "$d/a$r.time")") ;;
          s) ts+=("$t"); qs+=("$(cpu_s "$d/s$r.time")") ;; b) tb+=("$t") ;; c) tc+=("$t") ;; esac
        log "$n members, round $r: $(case $w in a) echo etcd-dr;; s) echo "etcd-dr (system libssh2)";; b) echo openssh;; c) echo ansible;; esac) $t s"
      done
    done
    ma=$(median "${ta[@]}") mb=$(median "${tb[@]}") mc=$(median "${tc[@]}")
    results_restore+=("| $n | $rounds | $ma s | $mb s | $mc s | $(ratio "$ma" "$mb") | $(ratio "$ma" "$mc") | $(awk -v k="$(median "${ra[@]}")" 'BEGIN {printf "%.1f", k / 1024}') MB |")
    if ((vs_sys)); then
      ms=$(median "${ts[@]}") cqa=$(median "${qa[@]}") cqs=$(median "${qs[@]}")
      results_ls2+=("| restore, $n members, wall | $ma s | $ms s | $(ratio "$ma" "$ms") |")
      results_ls2+=("| etcd-dr CPU (user + sys), $n members | $cqa s | $cqs s | $(ratio "$cqa" "$cqs") |")
    fi
    # where etcd-dr's time goes: per step, slowest host, median over rounds
    for r in $(seq 1 "$rounds"); do steps_of "$d/a$r.out" >"$d/a$r.steps"; done
    while read -r step _; do
      vals=()
      for r in $(seq 1 "$rounds"); do vals+=("$(awk -v s="$step" '$1 == s {print $2}' "$d/a$r.steps")"); done
      results_steps+=("$n $step $(median "${vals[@]}")")
    done <"$d/a1.steps"
    # by phase (wall clock, from -v's JSON lines; nothing with older output)
    python3 "$repo/scripts/bench/phases.py" "$d"/a[0-9]*.out >"$d/phases" || true
    for ph in check prepare apply healthy cleanup; do
      mapfile -t vals < <(awk -v p="$ph" '{for (i = 1; i < NF; i += 2) if ($i == p) print $(i + 1)}' "$d/phases")
      ((${#vals[@]})) && results_phases+=("$n $ph $(median "${vals[@]}")")
    done
  fi
  if want cpu && in_members "$n"; then
    # A and B again, each under `perf record -a` (system-wide, for as long
    # as the command runs): what every program on the machine used, the
    # coordinator and every host's sshd, restore tool and etcd alike
    hz=499 ca=() cb=()
    for r in $(seq 1 "$rounds"); do
      for w in a b; do
        reset_hosts "$n"; sample_load
        tool_cmd "$w" "$d" "$work/snap.db"
        timeout 900 perf record -q -B -a -F "$hz" -o "$d/cpu-$w$r.data" -- \
          /usr/bin/time -f %e -o "$d/cpu-$w$r.wall" "${cmd[@]}" >"$d/cpu-$w$r.out" 2>&1 ||
          { tail -30 "$d/cpu-$w$r.out" >&2; exit 1; }
        [[ $w == a ]] && forget_run "$d/cpu-$w$r.out"
        got=$("$lab" checksum --name "$name" --prefix /bench/)
        [[ $got == "$want_sum" ]] || { log "cpu, $n members, round $r, $w: data differs after restore ($got)"; exit 1; }
        line=$(cpu_of "$d/cpu-$w$r.data" "$hz" "$(tail -1 "$d/cpu-$w$r.wall")")
        if [[ $w == a ]]; then ca+=("$line"); else cb+=("$line"); fi
        log "cpu, $n members, round $r, $w: $line"
      done
    done
    for w in a b; do
      if [[ $w == a ]]; then rows=("${ca[@]}") label="A etcd-dr"; else rows=("${cb[@]}") label="B OpenSSH script"; fi
      cells=""
      for k in wall busy idle etcd-dr agent sshd ssh tool etcd other; do
        mapfile -t vals < <(printf '%s\n' "${rows[@]}" | awk -v k="$k" '{for (i = 1; i < NF; i += 2) if ($i == k) print $(i + 1)}')
        cells+=" $(median "${vals[@]}") |"
      done
      results_cpu+=("| $n | $label |$cells")
    done
  fi
  if want rss && ((n == rss_members)); then
    log "rss: restore of the $big_bytes-byte snapshot to $n hosts${rss_compress:+, --compress $rss_compress}"
    reset_hosts "$n"; sample_load
    # the peak RSS (VmHWM) of every etcd-dr-agent in this lab's hosts (their
    # network namespaces; the pid namespace is this machine's), sampled
    # while the restore runs; an agent may end between pgrep and the read,
    # so nothing in here may fail
    nets=" $(for i in $(seq 1 "$n"); do printf 'net:[%s] ' "$(stat -L -c %i "/run/netns/edr-$name-$i")"; done)"
    (
      set +e
      trap 'exit 0' TERM
      while :; do
        for p in $(pgrep -x etcd-dr-agent); do
          [[ $nets == *" $(readlink "/proc/$p/ns/net") "* ]] || continue
          while read -r k v _; do [[ $k == VmHWM: ]] && echo "$p $v"; done <"/proc/$p/status"
        done 2>/dev/null
        sleep 0.1
      done
    ) >"$d/agent-rss" &
    sampler=$!
    a_args=(${rss_compress:+--compress "$rss_compress"})
    t0=$(now)
    run_a "$d" "$work/big.db" rss
    t1=$(now)
    a_args=()
    kill "$sampler" 2>/dev/null || true; wait "$sampler" 2>/dev/null || true
    cnt=$(key_count)
    [[ $cnt == "$big_count" ]] || { log "rss run: $cnt keys after restore, want $big_count"; exit 1; }
    push=$(for i in $(seq 1 "$n"); do push_of "$d/rss.out" "m$i"; done | paste -sd ';' | sed 's/;/; /g')
    agent=$(awk '$2 > m {m = $2} {p[$1] = 1} END {n = 0; for (k in p) n++; printf "%.1f MB (%d agents)", m / 1024, n}' "$d/agent-rss")
    how=$(sed -n 's/^etcd-dr: \(snapshot route: .*\)/\1/p; s/^etcd-dr: \(compression o[nf]*\):.*/\1/p' "$d/rss.out" | paste -sd ';' | sed 's/;/; /g')
    results_rss+=("| $((big_bytes / 1000000)) MB | $n | ${how:-?} | $(elapsed "$t0" "$t1") s | $(awk -v k="$(rss_kb "$d/rss.time")" 'BEGIN {printf "%.1f", k / 1024}') MB | $agent | $push |")
  fi
  lab_down "$name"
done

# ------------------------------------------------------------ shaped
# The coordinator's link capped (docs/BENCHMARKS.md "Shaped"): tc tbf on the
# lab bridge in the root namespace shapes what this machine sends to every
# lab host together; traffic between hosts is bridged port to port and never
# passes it.  Each data set's snapshot is made once on a 1-member lab per
# size; every run is checked afterwards (the checksum of every key and value
# under the data set's prefix equals the source's).
results_shaped=() results_datasets=()
shape() { # BRIDGE RATE_MBIT|off
  tc qdisc del dev "$1" root 2>/dev/null || true
  [[ $2 == off ]] || tc qdisc add dev "$1" root tbf rate "$2mbit" burst 256kb latency 100ms
}
# a table cell: VALUE[ UNIT], or "-" for what was not measured
cell() { if [[ -n $1 ]]; then echo "$1${2:+ $2}"; else echo -; fi; }
link_label() { [[ $1 == off ]] && echo uncapped || echo "$1 Mbit/s"; }
# the snapshot as the "host" mode finds it on m1 (outside the data dir that
# reset_hosts cleans; placed untimed before the rounds)
host_snap=/var/tmp/edr-bench-snap.db
if want shaped; then
  command -v zstd >/dev/null || apt_install zstd
  declare -A ds_snap=() ds_sum=() ds_prefix=() ds_ratio=()
  for mb in $shaped_sizes; do
    for ds in $datasets; do
      [[ $ds == random || $ds == k8s ]] || { log "--datasets: random or k8s, not '$ds'"; exit 2; }
      key=$ds-$mb prefix=$([[ $ds == k8s ]] && echo /registry/ || echo /bench/)
      ds_prefix[$key]=$prefix ds_snap[$key]=$work/$key.db
      if [[ -n $data_cache && -s $data_cache/$key.db && -s $data_cache/$key.sum ]]; then
        log "data set $ds: ~$mb MB from $data_cache"
        ds_snap[$key]=$data_cache/$key.db ds_sum[$key]=$(cat "$data_cache/$key.sum")
      else
        lab_up bchd 1
        lab_env bchd
        log "data set $ds: ~$mb MB (scripts/bench/dataset.py)"
        timeout 3600 python3 "$repo/scripts/bench/dataset.py" "$ds" "${LAB_ENDPOINTS%%,*}" "$mb" "$prefix" \
          >>"$work/dataset.log" 2>&1 || { tail -5 "$work/dataset.log" >&2; exit 1; }
        timeout 900 "$lab" snapshot --name bchd "$work/$key.db" >/dev/null 2>&1
        ds_sum[$key]=$("$lab" checksum --name bchd --prefix "$prefix")
        lab_down bchd
        if [[ -n $data_cache ]]; then
          mkdir -p "$data_cache" && mv "$work/$key.db" "$data_cache/$key.db"
          echo "${ds_sum[$key]}" >"$data_cache/$key.sum"
          ds_snap[$key]=$data_cache/$key.db
        fi
      fi
      snap=${ds_snap[$key]}
      b=$(stat -c %s "$snap") z=$(zstd -1 -q -c "$snap" | wc -c)
      ds_ratio[$key]=$(awk -v z="$z" -v b="$b" 'BEGIN {printf "%.2f", z / b}')
      results_datasets+=("| $ds | $mb MB | $b | ${ds_sum[$key]%% *} | $z | ${ds_ratio[$key]} |")
      log "data set $ds, $mb MB: snapshot $b bytes, zstd -1 makes it $z bytes (${ds_ratio[$key]})"
    done
  done
  for n in $members_list; do
    name=bch$n
    lab_up "$name" "$n"
    lab_env "$name"
    br=edrb-$name
    d=$work/shaped$n && write_specs "$d"
    ip=${LAB_HOSTS%% *}
    sshopts=(-i "$LAB_KEY" -o UserKnownHostsFile="$LAB_KNOWN_HOSTS" -o StrictHostKeyChecking=yes -o BatchMode=yes)
    for rate in $rates; do
      shape "$br" "$rate"
      for mb in $shaped_sizes; do
        for ds in $datasets; do
          key=$ds-$mb snap=${ds_snap[$ds-$mb]}
          if [[ " $compress_modes " == *" host "* ]]; then
            timeout 900 ssh "${sshopts[@]}" "root@$ip" "cat >$host_snap" <"$snap"
          fi
          declare -A times=()
          floors=() copies=()
          for r in $(seq 1 "$rounds"); do
            for w in $(printf 'a-%s ' $compress_modes) $(for t in $shaped_tools; do [[ $t == openssh ]] && echo b || echo c; done); do
              reset_hosts "$n"; sample_load
              t0=$(now)
              case $w in
                a-host) run_a "$d" "m1:$host_snap" "$key-$rate-$w-$r" ;;
                a-*) a_args=(--compress "${w#a-}"); run_a "$d" "$snap" "$key-$rate-$w-$r"; a_args=() ;;
                b) run_b "$d" "$snap" "$key-$rate-b-$r" ;;
                c) run_c "$d" "$snap" "$key-$rate-c-$r" ;;
              esac
              t1=$(now)
              got=$("$lab" checksum --name "$name" --prefix "${ds_prefix[$key]}")
              [[ $got == "${ds_sum[$key]}" ]] || { log "shaped $(link_label "$rate"), $n members, $key, round $r, $w: data differs after restore ($got)"; exit 1; }
              times[$w]+=" $(elapsed "$t0" "$t1")"
              log "shaped $(link_label "$rate"), $n members, $key, round $r: $w $(elapsed "$t0" "$t1") s$( [[ $w == a-* ]] && sed -n 's/^etcd-dr: \(compression o[nf]*\):.*/, \1/p; s/^etcd-dr: snapshot route: \(.*\)/, route \1/p' "$d/$key-$rate-$w-$r.out" | paste -sd '\0')"
            done
            # one copy of the snapshot through the capped link
            reset_hosts "$n"
            t0=$(now)
            timeout 900 ssh "${sshopts[@]}" "root@$ip" 'cat >/dev/null' <"$snap"
            t1=$(now)
            copies+=("$(elapsed "$t0" "$t1")")
            # + the slowest host's restore, start and election (etcd-dr's steps, plain push)
            steps_of "$d/$key-$rate-a-$(set -- $compress_modes; echo "$1")-$r.out" >"$d/floor.steps"
            floors+=("$(awk -v c="${copies[-1]}" '$1 == "restore" || $1 == "start" || $1 == "healthy" {t += $2} END {printf "%.2f", c + t}' "$d/floor.steps")")
            log "shaped $(link_label "$rate"), $n members, $key, round $r: one copy ${copies[-1]} s, floor ${floors[-1]} s"
          done
          row="| $(link_label "$rate") | $n | $ds | $mb MB (${ds_ratio[$key]}) |"
          first=
          for m in $compress_modes; do
            # shellcheck disable=SC2086
            v=$(median ${times[a-$m]}); row+=" $v s |"; [[ -n $first ]] || first=$v
          done
          # shellcheck disable=SC2086
          vb=$(median ${times[b]:-}) vc=$(median ${times[c]:-}) vf=$(median "${floors[@]}")
          # the ratios are of the default (auto) when it ran, else of the first mode
          best=$first
          # shellcheck disable=SC2086
          [[ " $compress_modes " == *" auto "* ]] && best=$(median ${times[a-auto]})
          row+=" $(cell "$vb" s) | $(cell "$vc" s) | $vf s ($(median "${copies[@]}") s) | $(cell "${vb:+$(ratio "$best" "$vb")}") | $(ratio "$best" "$vf") |"
          results_shaped+=("$row")
          unset times
        done
      done
      shape "$br" off
    done
    lab_down "$name"
  done
fi

# ------------------------------------------------------------ snapshot status
if want status; then
  log "snapshot status on the big snapshot"
  RUNS=$(( quick ? 1 : 3 )) SNAPSHOT="$work/big.db" EDR_BIN="$edr snapshot" \
    timeout 900 "$repo/scripts/bench-snapshot-status.sh" >"$work/status.out" 2>&1 || { cat "$work/status.out" >&2; exit 1; }
  mapfile -t results_status < <(grep '^|' "$work/status.out")
fi

# ------------------------------------------------------------ report
# A markdown table of "MEMBERS ROW SECONDS" lines: one row per ROW (in
# first-seen order), one column per member count.
by_members() { # HEADING LINE...
  local head=$1 cols n; shift
  cols=$(printf '%s\n' "$@" | awk '!seen[$1]++ {print $1}' | paste -sd ' ')
  printf '| %s |' "$head"; for n in $cols; do printf ' %s members |' "$n"; done; echo
  printf '|---|'; for _ in $cols; do printf -- '---|'; done; echo
  printf '%s\n' "$@" | awk -v cols="$cols" '
    { if (!($2 in seen)) { seen[$2] = 1; order[++k] = $2 } v[$1, $2] = $3 }
    END { nc = split(cols, c, " ")
          for (i = 1; i <= k; i++) { printf "| %s |", order[i]; for (j = 1; j <= nc; j++) printf " %s s |", ((c[j], order[i]) in v ? v[c[j], order[i]] : "-"); print "" } }'
}
t_end=$(now)
lmin=$(printf '%s\n' "${loads[@]:-0}" | sort -g | sed -n 1p) lmax=$(printf '%s\n' "${loads[@]:-0}" | sort -g | tail -1)
echo "## run $(date -u '+%F %H:%M UTC'): etcd-dr $built, etcd $version, $(nproc) cores, load average (1 min) $lmin-$lmax before the timed runs, $(elapsed "$t_begin" "$t_end") s in all"
echo
echo "Command: \`scripts/bench.sh${orig_args:+ $orig_args}\` (members $members_list, ${size_mb} MB, $rounds rounds, big snapshot ${rss_mb} MB, start $start, only $only)"
[[ -n ${snap_bytes:-} ]] && echo "Snapshot: $snap_bytes bytes (${size_mb} MB of 100 kB values)."
echo "$ssh_v; ${ansible_v:-no ansible}."
if ((${#results_restore[@]})); then
  echo
  echo "Restore, start: $([[ $start == lost ]] && echo 'quorum lost (a majority of members stopped)' || echo 'healthy cluster'); wall time from start to healthy, medians:"
  echo
  echo "| members | rounds | A etcd-dr | B OpenSSH script | C Ansible | A/B | A/C | etcd-dr peak RSS |"
  echo "|---|---|---|---|---|---|---|---|"
  printf '%s\n' "${results_restore[@]}"
  echo
  echo "etcd-dr's steps (\`restore -v\`), slowest host per step, median over rounds:"
  echo
  by_members step "${results_steps[@]}"
fi
if ((${#results_shaped[@]})); then
  echo
  echo "Shaped: the coordinator's link capped with tc tbf (burst 256kb, latency 100ms) on the lab bridge, host to host uncapped; start: $([[ $start == lost ]] && echo 'quorum lost' || echo 'healthy'); wall time to a healthy cluster with every key checked, medians of $rounds alternating rounds. Data sets (zstd -1 ratio of the whole snapshot):"
  echo
  echo "| data set | size | snapshot bytes | keys | zstd -1 bytes | ratio |"
  echo "|---|---|---|---|---|---|"
  printf '%s\n' "${results_datasets[@]}"
  echo
  printf '| link | members | data | size (ratio) |'
  for m in $compress_modes; do
    if [[ $m == host ]]; then printf ' etcd-dr --snapshot m1:%s |' "$host_snap"; else printf ' etcd-dr --compress %s |' "$m"; fi
  done
  dm=${compress_modes%% *}
  [[ " $compress_modes " == *" auto "* ]] && dm=auto
  echo " OpenSSH script | Ansible | floor (one copy) | etcd-dr $dm / OpenSSH | etcd-dr $dm / floor |"
  printf '|---|---|---|---|'; for _ in $compress_modes; do printf -- '---|'; done; echo "---|---|---|---|---|"
  printf '%s\n' "${results_shaped[@]}"
fi
if ((${#results_phases[@]})); then
  echo
  echo "etcd-dr's phases on the wall clock (a phase ends when its last host finished it), median over rounds:"
  echo
  by_members phase "${results_phases[@]}"
fi
if ((${#results_cpu[@]})); then
  echo
  echo "CPU seconds on the whole machine ($(nproc) cores) during each run, \`perf record -a -F 499\`, medians of $rounds (wall = the command's; busy = sampled CPU of every program; idle = cores x wall - busy; tool = etcdctl/etcdutl; other = the service scripts, pgrep, ...). A run cannot take less than busy / $(nproc):"
  echo
  echo "| members | run | wall | busy | idle | etcd-dr | agent | sshd | ssh+scp | tool | etcd | other |"
  echo "|---|---|---|---|---|---|---|---|---|---|---|---|"
  printf '%s\n' "${results_cpu[@]}"
fi
if ((${#results_push[@]})); then
  echo
  echo "Push to one host ($snap_bytes bytes, 1-member lab), medians of $rounds:"
  echo
  echo "| what | time | throughput |"
  echo "|---|---|---|"
  printf '%s\n' "${results_push[@]}"
fi
if ((${#results_ls2[@]})); then
  la=${EDR_BENCH_LABEL:-libssh2 $(libssh2_of "$edr")} ls=${EDR_BENCH_LABEL_SYSTEM:-libssh2 $(libssh2_of "$edr_sys")}
  echo
  echo "etcd-dr A ($la: $edr) and A' ($ls: $edr_sys), alternating within each round, medians of $rounds (load average during the run: $lmin-$lmax):"
  echo
  echo "| what | A $la | A' $ls | A/A' |"
  echo "|---|---|---|---|"
  printf '%s\n' "${results_ls2[@]}"
fi
if ((${#results_rss[@]})); then
  echo
  echo "Peak RSS of \`etcd-dr restore\` with a big snapshot:"
  echo
  echo "| snapshot | hosts | route, compression | wall | etcd-dr peak RSS | agent peak RSS (largest) | push-snapshot per host |"
  echo "|---|---|---|---|---|---|---|"
  printf '%s\n' "${results_rss[@]}"
fi
if ((${#results_status[@]})); then
  echo
  echo "\`snapshot status\` on the big snapshot ($big_bytes bytes), scripts/bench-snapshot-status.sh:"
  echo
  printf '%s\n' "${results_status[@]}"
fi
