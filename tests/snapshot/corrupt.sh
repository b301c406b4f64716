#!/usr/bin/env bash
# corrupt.sh BIN OUTDIR TEST_BBOLT [FIXTURE_DIR] - (BIN as in compat.sh:
# "etcd-dr snapshot" or the edr-snapshot driver) every file of a corpus of
# truncated and corrupted bbolt files must fail cleanly: `verify` exits 3
# (a snapshot rejected, docs/exit-codes.md) with a message, `status` exits 0
# or 3 (3 when the damage is on a page it reads), and nothing crashes or trips ASan/UBSan.  The corpus is made at
# test time (mutate.py) from the hand-built image test_bbolt writes and, when
# FIXTURE_DIR is given, from the real snapshots compat.sh made.
set -uo pipefail
read -ra bin <<<"$1"; out=$2 tb=$3 fixtures=${4:-}
here=$(cd "$(dirname "$0")" && pwd)
# Sanitizer reports must not pass for a clean exit 1.
export ASAN_OPTIONS=exitcode=99:detect_leaks=1 UBSAN_OPTIONS=exitcode=98:print_stacktrace=1
rm -rf "$out"; mkdir -p "$out/corpus"
"$tb" --write-image "$out/hand.db" || exit 1
bases=("$out/hand.db")
if [[ -n $fixtures ]]; then
  for f in small tombstones large buckets v35; do
    [[ -f $fixtures/$f.db ]] && bases+=("$fixtures/$f.db")
  done
  [[ ${#bases[@]} -gt 1 ]] || { echo "no fixtures in '$fixtures'"; exit 1; }
fi
for b in "${bases[@]}"; do python3 "$here/mutate.py" "$b" "$out/corpus" || exit 1; done

fails=0 total=0
bad() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }
while read -r name want; do
  f=$out/corpus/$name
  total=$((total + 1))
  "${bin[@]}" verify --skip-hash-check "$f" >/dev/null 2>"$out/err"; rc=$?
  if [[ $want != trailer ]]; then
    [[ $rc -eq 3 ]] || bad "$name: verify exit $rc: $(head -c 300 "$out/err")"
    [[ -s $out/err ]] || bad "$name: verify gave no message"
  fi
  grep -qE 'Sanitizer|runtime error' "$out/err" && bad "$name: sanitizer: $(head -5 "$out/err")"
  if [[ $name != hand-* ]]; then # without the flag the trailer speaks first
    "${bin[@]}" verify "$f" >/dev/null 2>"$out/err"; rc=$?
    [[ $rc -eq 3 ]] || bad "$name: verify (with hash check) exit $rc"
  fi
  "${bin[@]}" status -w json "$f" >/dev/null 2>"$out/err"; rc=$?
  case $want:$rc in
    fail:3|any:0|any:3|trailer:0) ;;
    *) bad "$name: status exit $rc (want $want): $(head -c 300 "$out/err")" ;;
  esac
  [[ $rc -eq 3 && ! -s $out/err ]] && bad "$name: status failed silently"
  grep -qE 'Sanitizer|runtime error' "$out/err" && bad "$name: sanitizer: $(head -5 "$out/err")"
done <"$out/corpus/MANIFEST"
# A sample of what users read.
for n in hand-p4-child-cycle hand-meta0-checksum hand-cut20000; do
  [[ -f $out/corpus/$n ]] && "${bin[@]}" verify --skip-hash-check "$out/corpus/$n" 2>&1 | sed -n 1,2p
done
echo "corrupt: $total files, $fails failures"
exit $((fails > 0))
