#!/usr/bin/env bash
# run.sh SECONDS [BUILD_DIR] - build the bbolt fuzz target with clang and
# run it for SECONDS over a seed corpus: the hand-built image from
# test_bbolt and its truncated/corrupted copies (tests/snapshot/mutate.py),
# plus any files in tests/fuzz/seeds/ and in $EDR_FUZZ_SEEDS (a directory,
# e.g. the build's tests/snapshot-fixtures with real etcd snapshots).  Exit 0 when no crash was found;
# crashes are left as BUILD_DIR/fuzz-out/crash-* (reproduce: fuzz_bbolt FILE).
#
# run.sh SECONDS BUILD_DIR spec|playbook|spec_yaml|etcdconf|snapstream - the same for the
# cluster spec parser (fuzz_spec: seeds in tests/fuzz/seeds-spec/), its YAML
# loader (fuzz_spec_yaml: seeds-spec_yaml/), the playbook
# compiler (fuzz_playbook: seeds in tests/fuzz/seeds-playbook/ and the
# shipped playbooks/*.json) or discover's parsers of env files, units,
# config files, manifests and docker inspect (fuzz_etcdconf: seeds in
# tests/fuzz/seeds-etcdconf/) or what the agent's etcd-snapshot op reads
# from a member, chunk coded (fuzz_snapstream: seeds-snapstream/, the first
# byte the size of the pieces fed); corpus and crashes in BUILD_DIR/fuzz-corpus-NAME
# and BUILD_DIR/fuzz-out-NAME.  A playbook input may end with a line "#vars"
# and NAME=VALUE lines, given as --var.  EDR_FUZZ_VERBOSE=1 fuzz_playbook FILE
# says why an input was refused.
set -euo pipefail
secs=${1:?usage: run.sh SECONDS [BUILD_DIR [bbolt|spec|playbook|spec_yaml|etcdconf|snapstream]]}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${2:-$root/build-fuzz}
target=${3:-bbolt}
cmake -S "$root" -B "$build" -DCMAKE_C_COMPILER=clang -DEDR_FUZZ=ON \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
case $target in
  bbolt) ;;
  spec | playbook | spec_yaml | etcdconf | snapstream)
    cmake --build "$build" -j2 --target "fuzz_$target" >/dev/null
    fuzz=$(find "$build" -name "fuzz_$target" -type f -perm -u+x | sed -n 1p)
    seeds=$build/fuzz-seeds-$target corpus=$build/fuzz-corpus-$target
    out=$build/fuzz-out-$target
    rm -rf "$seeds"; mkdir -p "$seeds" "$corpus" "$out"
    cp "$here/seeds-$target"/* "$seeds"/
    [[ $target == playbook ]] && cp "$root"/playbooks/*.json "$seeds"/
    cd "$out"
    "$fuzz" -max_total_time="$secs" -max_len=16384 -rss_limit_mb=1024 -timeout=10 \
      -dict="$here/$target.dict" -print_final_stats=1 "$corpus" "$seeds" 2>&1 | tail -25
    exit 0 ;;
  *) echo "run.sh: unknown target '$target' (bbolt, spec, playbook, spec_yaml, etcdconf, snapstream)" >&2; exit 2 ;;
esac
cmake --build "$build" -j2 --target fuzz_bbolt test_bbolt >/dev/null
fuzz=$(find "$build" -name fuzz_bbolt -type f -perm -u+x | sed -n 1p)
tb=$(find "$build" -name test_bbolt -type f -perm -u+x | sed -n 1p)
seeds=$build/fuzz-seeds corpus=$build/fuzz-corpus out=$build/fuzz-out
rm -rf "$seeds"; mkdir -p "$seeds" "$corpus" "$out"
"$tb" --write-image "$seeds/hand.db"
python3 "$root/tests/snapshot/mutate.py" "$seeds/hand.db" "$seeds" >/dev/null
rm -f "$seeds/MANIFEST"
for d in "$here/seeds" "${EDR_FUZZ_SEEDS:-}"; do
  [[ -n $d && -d $d ]] && find "$d" -maxdepth 1 -type f -size -200k -exec cp {} "$seeds"/ \;
done
cd "$out"
"$fuzz" -max_total_time="$secs" -max_len=65536 -rss_limit_mb=1024 \
  -timeout=10 -print_final_stats=1 "$corpus" "$seeds" 2>&1 | tail -25
