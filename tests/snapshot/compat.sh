#!/usr/bin/env bash
# compat.sh BIN OUTDIR - make real snapshots with etcd 3.4 (and 3.5 when
# available) on loopback, then check that `BIN status -w table|json|simple|
# fields` prints what etcdctl 3.4 and etcdutl 3.5 print, that the extra
# figures (trailer, live keys, compaction, members) are right, and that
# `BIN verify` accepts every sound file.  BIN is "etcd-dr snapshot" (one
# argument, split on spaces) or the edr-snapshot test driver (the same
# code).  Fixtures go to OUTDIR.
set -uo pipefail
read -ra bin <<<"$1"; out=$2
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
trap etcd_stop_all EXIT
load=$here/etcdload.py
export ETCDCTL_API=3
fails=0
bad() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }

rm -rf "$out"; mkdir -p "$out"
ctl34=/usr/bin/etcdctl
bin35=$(edr_etcd35_bindir)
[[ -x $ctl34 && -x /usr/bin/etcd ]] || { echo "SKIP: etcd 3.4 not installed (apt-get install etcd-server etcd-client)"; exit 77; }
[[ -n $bin35 ]] || echo "note: etcdutl 3.5 not found; comparing with etcdctl 3.4 only" >&2

# save NAME: snapshot the running member into OUTDIR/NAME.db and remember
# its live key count and revision for the extra-figure checks.
save() {
  "$ctl34" --endpoints "$ETCD_EP" ${AUTH:-} snapshot save "$out/$1.db" >/dev/null 2>&1 ||
    { bad "snapshot save $1"; return; }
  python3 "$load" "$ETCD_EP" count >"$out/$1.live" 2>/dev/null || true
}

# --- fixtures made by etcd 3.4 ------------------------------------------
etcd_start /usr/bin/etcd "$out/e34" || exit 1
python3 "$load" "$ETCD_EP" put k 10 20 && save small
python3 "$load" "$ETCD_EP" put t 300 50 del t 0 120 && save tombstones
hot=(); for i in $(seq 200); do hot+=(put hot 1 30); done
python3 "$load" "$ETCD_EP" "${hot[@]}" compact && save compacted
echo "$(python3 "$load" "$ETCD_EP" revision)" >"$out/compacted.rev"
python3 "$load" "$ETCD_EP" put big 40 102400 && save large
python3 "$load" "$ETCD_EP" lease put m 3000 100 && save manykeys
# auth fills the auth, authUsers and authRoles buckets
"$ctl34" --endpoints "$ETCD_EP" user add root:pw >/dev/null 2>&1 &&
  "$ctl34" --endpoints "$ETCD_EP" role add reader >/dev/null 2>&1 &&
  "$ctl34" --endpoints "$ETCD_EP" user grant-role root reader >/dev/null 2>&1 &&
  "$ctl34" --endpoints "$ETCD_EP" auth enable >/dev/null 2>&1 || bad "auth setup"
AUTH="--user root:pw" save buckets
cp "$out/manykeys.live" "$out/buckets.live"
etcd_stop "$ETCD_PID"
cp "$out/e34/data/member/snap/db" "$out/copied.db"
cp "$out/buckets.live" "$out/copied.live"

# --- a fixture made by etcd 3.5 (stores the raft term too) -----------------
if [[ -n $bin35 ]]; then
  if etcd_start "$bin35/etcd" "$out/e35"; then
    python3 "$load" "$ETCD_EP" put a 50 20 del a 0 10 compact put a 5 30 &&
      "$bin35/etcdctl" --endpoints "$ETCD_EP" snapshot save "$out/v35.db" >/dev/null 2>&1 || bad "3.5 fixture"
    python3 "$load" "$ETCD_EP" count >"$out/v35.live"
    etcd_stop "$ETCD_PID"
  else
    bad "start etcd 3.5"
  fi
fi

# --- compare ------------------------------------------------------------
# same NAME FORMAT TOOL... : our output must begin with each tool's output.
compare() {
  local f=$1 w=$2 got want n tool
  got=$("${bin[@]}" status -w "$w" "$f" 2>"$out/err") || { bad "$f -w $w: exit $? ($(cat "$out/err"))"; return; }
  shift 2
  for tool in "$@"; do
    want=$($tool snapshot status -w "$w" "$f" 2>/dev/null) || { bad "$tool failed on $f"; continue; }
    case $w in
      json) # etcd's object, then our extra fields
        [[ ${got:0:${#want}-1} == "${want%\}}" && ${got:${#want}-1:1} == , ]] ||
          bad "$f -w json: '$got' does not extend $tool's '$want'" ;;
      simple)
        [[ $got == "$want" ]] || bad "$f -w simple: '$got', $tool says '$want'" ;;
      *)
        n=$(printf '%s\n' "$want" | wc -l)
        [[ $(sed -n "1,${n}p" <<<"$got") == "$want" ]] ||
          bad "$f -w $w: differs from $tool:"$'\n'"$got"$'\n'"--- $tool:"$'\n'"$want" ;;
    esac
  done
}

tools=("$ctl34")
[[ -n $bin35 ]] && tools+=("$bin35/etcdutl")
for f in "$out"/*.db; do
  name=$(basename "$f" .db)
  for w in table json simple fields; do compare "$f" "$w" "${tools[@]}"; done
  table=$("${bin[@]}" status "$f" 2>&1)
  trailer=valid; [[ $name == copied ]] && trailer=absent
  grep -qx "SHA-256 TRAILER: $trailer" <<<"$table" || bad "$name: trailer not '$trailer'"
  if [[ -s $out/$name.live ]]; then
    grep -qx "LIVE KEYS: $(cat "$out/$name.live")" <<<"$table" ||
      bad "$name: live keys: want $(cat "$out/$name.live"), got: $(grep LIVE <<<"$table")"
  fi
  grep -q '^  [0-9a-f]* name=t peerURLs=http://127.0.0.1:' <<<"$table" || bad "$name: member 't' not listed"
  if [[ $name == copied ]]; then
    "${bin[@]}" verify "$f" >/dev/null 2>"$out/err" && bad "verify accepted $name without --skip-hash-check"
    grep -q -- --skip-hash-check "$out/err" || bad "verify $name: no hint about --skip-hash-check"
    "${bin[@]}" verify --skip-hash-check "$f" >/dev/null 2>&1 || bad "verify --skip-hash-check rejected $name"
  else
    "${bin[@]}" verify "$f" >/dev/null 2>"$out/err" || bad "verify rejected $name: $(cat "$out/err")"
  fi
  echo "checked $name: $(sed -n 4p <<<"$table")"
done
want=$(cat "$out/compacted.rev")
grep -q "^COMPACTED REVISION: $want (scheduled $want)" <<<"$("${bin[@]}" status "$out/compacted.db")" ||
  bad "compacted: revision $want not reported"
# Over 100 KB, the large values live on overflow pages: the reader must
# have followed them (TOTAL SIZE alone would not show it).
[[ $("${bin[@]}" status -w simple "$out/large.db" | cut -d, -f3) -ge 40 ]] || bad "large: keys missing"

[[ $fails -eq 0 ]] && echo "compat: all passed" || echo "compat: $fails failures" >&2
exit $((fails > 0))
