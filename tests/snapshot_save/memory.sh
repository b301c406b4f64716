#!/usr/bin/env bash
# memory.sh VERSION ETCD_DR - memory must not grow with the snapshot: the
# maximum RSS (/usr/bin/time -v) of `etcd-dr snapshot save` of a ~50 MB
# snapshot stays under 20 MB and within 8 MB of a ~1 MB snapshot's.  Under
# ASan (a -DEDR_SANITIZE=ON build) the absolute figure means nothing and
# ASan's quarantine of freed blocks is shrunk, so only the growth is
# checked.  Under ThreadSanitizer (-DEDR_TSAN=ON) neither figure means
# anything (its shadow and history grow with the work done): skipped.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
[[ $# -eq 2 ]] || { echo "usage: $0 VERSION ETCD_DR" >&2; exit 2; }
EDR=$2
etcd_bins "$1"
[[ -x /usr/bin/time ]] || { echo "SKIP: /usr/bin/time not installed (apt-get install time)"; exit 77; }
save_workdir
libs=$(ldd "$EDR" 2>/dev/null)
if grep -q libtsan <<<"$libs"; then
  echo "SKIP: a ThreadSanitizer build: its memory figures say nothing about etcd-dr's"
  exit 77
fi
asan=0
if grep -q libasan <<<"$(ldd "$EDR" 2>/dev/null)"; then
  asan=1
  export ASAN_OPTIONS=${ASAN_OPTIONS:-}${ASAN_OPTIONS:+:}quarantine_size_mb=1
fi

etcd_start small || exit 1
small_url=$URL
put_keys "$small_url" 20 1 || { bad "cannot put keys"; exit 1; }
etcd_start big || exit 1
big_url=$URL
put_keys "$big_url" 20 50 || { bad "cannot put keys"; exit 1; }

# rss NAME URL: save, print the max RSS in kB.
rss() {
  /usr/bin/time -v "$EDR" snapshot save -o "$W/$1.db" --endpoint "$2" \
    >/dev/null 2>"$W/$1.time" || { bad "save $1: $(grep error "$W/$1.time")"; echo 0; return; }
  awk -F': ' '/Maximum resident set size/ {print $2}' "$W/$1.time"
}
r_small=$(rss small "$small_url")
r_big=$(rss big "$big_url")
s_small=$(stat -c %s "$W/small.db" 2>/dev/null || echo 0)
s_big=$(stat -c %s "$W/big.db" 2>/dev/null || echo 0)
echo "max RSS: $r_small kB for a $s_small-byte snapshot, $r_big kB for a $s_big-byte one" \
  "$([[ $asan -eq 1 ]] && echo '(ASan build)')"
[[ $s_big -gt 45000000 ]] || bad "the big snapshot is only $s_big bytes"
growth=$((r_big - r_small))
[[ $growth -lt 8192 ]] && ok "RSS grew by $growth kB for $(((s_big - s_small) / 1000000)) MB more snapshot" ||
  bad "RSS grew by $growth kB with the snapshot's size"
if [[ $asan -eq 0 ]]; then
  [[ $r_big -lt 20480 ]] && ok "max RSS $r_big kB < 20 MB" || bad "max RSS $r_big kB >= 20 MB"
fi

[[ $fails -eq 0 ]] && echo "PASS" || echo "$fails failure(s)"
exit $((fails > 0))
