#!/usr/bin/env bash
# golden.sh ETCD_DR TEST_BBOLT OUTDIR [--update] - what `etcd-dr plan`,
# `etcd-dr run --dry-run` and the plan `etcd-dr rollback -v` prints before it
# contacts anything, for the shipped playbooks and a sample cluster spec
# (cluster.json here), byte for byte as in tests/golden/*.out.  It guards
# refactorings that must not change what an operator reads.  --update
# rewrites the .out files from the current binary (review the diff).
#
# What is made stable rather than compared as it comes (only what varies from
# one run or machine to the next):
#   - the run id: always --run-id golden;
#   - paths: the commands run in OUTDIR/work with relative paths, and HOME is
#     /home/golden (it shows in ~/.ssh/known_hosts);
#   - the snapshot: made at test time from test_bbolt's hand-built image plus
#     its sha-256 trailer, so its size, hash and revision are the same everywhere;
#   - durations: the summary rollback prints after it refuses to start
#     (no agent) has times such as "0.0s"; each is replaced by "T.Ts";
#   - the speed of zstd on this machine in a plan's compression line: "N MB/s".
# Nothing here connects to a host: plan and --dry-run contact nothing, and
# rollback stops before its first connection because --agent names no file.
set -uo pipefail
cli=$1 tb=$2 out=$3 update=${4:-}
here=$(cd "$(dirname "$0")" && pwd)
rm -rf "$out"; mkdir -p "$out/work/snaps" "$out/got"
cd "$out/work" || exit 1
cp "$here/cluster.json" cluster.json
"$tb" --write-image hand.db || exit 1
python3 -c 'import hashlib,sys; d=open("hand.db","rb").read(); open("snap.db","wb").write(d+hashlib.sha256(d).digest())' || exit 1
export HOME=/home/golden ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}

# NAME EXPECTED-EXIT COMMAND...: stdout and stderr, then the exit status.
cases=0
capture() {
  local name=$1 want=$2; shift 2
  "$cli" "$@" >"$out/got/$name.out" 2>&1
  local rc=$?
  echo "exit $rc" >>"$out/got/$name.out"
  cases=$((cases + 1))
  [[ $rc -eq $want ]] || echo "note: $name exited $rc, the golden file says what it should"
}
cp -r "$here/../../playbooks" playbooks; pb=playbooks
for f in text json; do
  capture plan-restore-$f 0 plan --cluster cluster.json --snapshot snap.db --run-id golden --format $f
  capture plan-nosnap-$f 0 plan --initial-cluster 'a=http://127.0.0.1:2380,b=http://[::1]:2381' \
    --ssh-user ops --data-dir /srv/etcd --run-id golden --format $f
  capture run-restore-$f 0 run "$pb/restore.json" --cluster cluster.json --snapshot snap.db \
    --dry-run --run-id golden --format $f
  capture run-restore-kubernetes-$f 0 run "$pb/restore-kubernetes.json" --cluster cluster.json \
    --snapshot snap.db --dry-run --run-id golden --format $f
  capture run-rebuild-from-one-$f 0 run "$pb/rebuild-from-one.json" --cluster cluster.json \
    --var seed=etcd-1 --dry-run --run-id golden --format $f
  capture run-replace-member-$f 0 run "$pb/replace-member.json" --cluster cluster.json \
    --var member=etcd-2 --dry-run --run-id golden --format $f
  capture run-snapshot-rotate-$f 0 run "$pb/snapshot-rotate.json" --cluster cluster.json \
    --var dir=snaps --var keep=3 --dry-run --run-id golden --format $f
done
capture rollback-plan 1 rollback golden --yes --cluster cluster.json -v --agent ./no-such-agent
sed -i -E 's/\b[0-9]+\.[0-9]s\b/T.Ts/g' "$out/got/rollback-plan.out"
sed -i -E 's/\([0-9]+ MB\/s here\)/(N MB\/s here)/' "$out"/got/*.out

if [[ $update == --update ]]; then
  rm -f "$here"/*.out
  cp "$out"/got/*.out "$here"/
  echo "wrote $cases golden files to $here"
  exit 0
fi
fails=0
for g in "$out"/got/*.out; do
  n=$(basename "$g")
  if ! cmp -s "$here/$n" "$g"; then
    echo "FAIL: $n differs from tests/golden/$n:"
    diff -u "$here/$n" "$g" | sed -n 1,40p
    fails=$((fails + 1))
  fi
done
for g in "$here"/*.out; do
  [[ -f $out/got/$(basename "$g") ]] || { echo "FAIL: $(basename "$g") was not produced"; fails=$((fails + 1)); }
done
echo "$cases cases, $fails differ"
[[ $fails -eq 0 ]]
