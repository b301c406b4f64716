#!/usr/bin/env bash
# hostile.sh BIN TEST_BBOLT OUTDIR - a crafted snapshot (hostile.py: member
# entries holding terminal escape sequences and a key that is not UTF-8)
# must not reach the terminal: every format of `BIN status` and `BIN verify`
# prints no control character but newline, no C1 control and no
# bidirectional override; the table shows the hostile bytes escaped (\xNN),
# never "(null)"; the JSON parses and keeps the id.  BIN as in compat.sh.
set -uo pipefail
read -ra bin <<<"$1"; tb=$2 out=$3
here=$(cd "$(dirname "$0")" && pwd)
fails=0
bad() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }
rm -rf "$out"; mkdir -p "$out"
"$tb" --write-image "$out/hand.db" || exit 1
python3 "$here/hostile.py" "$out/hand.db" "$out/hostile.db" || exit 1

# clean FILE: no byte a terminal would obey (C0 but newline, DEL, C1 in
# UTF-8, U+202A..E and U+2066..9)
clean() {
  python3 - "$1" <<'PY'
import re, sys
b = open(sys.argv[1], "rb").read()
m = re.search(rb"[\x00-\x09\x0b-\x1f\x7f]|\xc2[\x80-\x9f]|\xe2\x80[\xaa-\xae]|\xe2\x81[\xa6-\xa9]", b)
if m:
    print("byte %r at offset %d: %r" % (m.group(), m.start(), b[max(0, m.start() - 20):m.start() + 20]))
    sys.exit(1)
PY
}

for w in table json simple fields; do
  "${bin[@]}" status "$out/hostile.db" -w "$w" >"$out/$w.out" 2>"$out/$w.err"; rc=$?
  [[ $rc == 0 ]] || bad "status -w $w: exit $rc: $(cat "$out/$w.err")"
  clean "$out/$w.out" || bad "status -w $w: a control byte reached stdout"
  clean "$out/$w.err" || bad "status -w $w: a control byte reached stderr"
done
t=$(cat "$out/table.out")
grep -qF -- '  \xff\xfe\x1b[2Jaaaaaaaaaa name=\x1b[2J\xc2\x9b1m\xe2\x80\xaex peerURLs=\x1b]2;pwn\x07' <<<"$t" ||
  bad "status: the member line does not show the hostile bytes escaped: $(grep -a name= <<<"$t" | cat -v)"
grep -qF '(null)' <<<"$t" && bad "status: '(null)' printed for the member id"
python3 - "$out/json.out" <<'PY' || bad "status -w json: not the document expected"
import json, sys
m = json.load(open(sys.argv[1]))["members"][0]
assert m["id"] == "\\xff\\xfe\\x1b[2Jaaaaaaaaaa", m
assert m["name"] == "\x1b[2J\x9b1m\u202ex", m
PY
"${bin[@]}" verify --skip-hash-check "$out/hostile.db" >"$out/verify.out" 2>&1 ||
  bad "verify: the crafted file is structurally sound, yet: $(cat "$out/verify.out")"
clean "$out/verify.out" || bad "verify: a control byte reached the terminal"
echo "hostile: $fails failures"
((fails == 0))
