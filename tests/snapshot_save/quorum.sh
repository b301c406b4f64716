#!/usr/bin/env bash
# quorum.sh VERSION ETCD_DR - the disaster case: a 3-member etcd VERSION
# cluster loses 2 members, so the last one's /health is false.  Without
# --member, save refuses (no healthy member; the message lists each one
# and points to --member); with --member it takes the snapshot from the
# survivor, which holds every key written before, and the file is sound.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
[[ $# -eq 2 ]] || { echo "usage: $0 VERSION ETCD_DR" >&2; exit 2; }
EDR=$2
etcd_bins "$1"
save_workdir

start_cluster() {
  local try i ic members
  for try in 1 2 3; do
    local -a cp=() pids=()
    ic="" members=""
    for i in 1 2 3; do
      cp[i]=$((20000 + RANDOM % 30000))
      ic+="${ic:+,}m$i=http://127.0.0.1:$((cp[i] + 1))"
    done
    for i in 1 2 3; do
      "$ETCD" --name "m$i" --data-dir "$W/m$i.etcd" \
        --listen-client-urls "http://127.0.0.1:${cp[i]}" --advertise-client-urls "http://127.0.0.1:${cp[i]}" \
        --listen-peer-urls "http://127.0.0.1:$((cp[i] + 1))" \
        --initial-advertise-peer-urls "http://127.0.0.1:$((cp[i] + 1))" \
        --initial-cluster "$ic" --initial-cluster-token "edr-save-q-$$" >>"$W/m$i.log" 2>&1 &
      pids[i]=$!
      echo "${pids[i]}" >>"$W/pids"
      SAVE_PIDS+=("${pids[i]}")
      members+="${members:+,}{\"name\":\"m$i\",\"peer_urls\":[\"http://127.0.0.1:$((cp[i] + 1))\"],"
      members+="\"client_urls\":[\"http://127.0.0.1:${cp[i]}\"],\"data_dir\":\"/var/lib/etcd-m$i\"}"
    done
    for _ in $(seq 200); do
      local up=0
      for i in 1 2 3; do
        grep -q '"health":"true"' <<<"$(curl -s "http://127.0.0.1:${cp[i]}/health" 2>/dev/null)" && up=$((up + 1))
      done
      if [[ $up -eq 3 ]]; then
        C1=http://127.0.0.1:${cp[1]} P1=${pids[1]} P2=${pids[2]} P3=${pids[3]}
        echo "{\"members\":[$members]}" >"$W/cluster.json"
        return 0
      fi
      sleep 0.1
    done
    for i in 1 2 3; do etcd_kill "${pids[i]}"; rm -rf "$W/m$i.etcd"; done
  done
  echo "could not start a 3-member cluster (see $W/m*.log)" >&2
  return 1
}

start_cluster || exit 1
put_keys "$C1" 30 3 || { bad "cannot put keys"; exit 1; }
rev=$(current_revision "$C1")
echo "3-member etcd $1 cluster, revision $rev; killing m2 and m3"
etcd_kill "$P2"
etcd_kill "$P3"
for _ in $(seq 100); do
  grep -q '"health":"true"' <<<"$(curl -s "$C1/health")" || break
  sleep 0.2
done
grep -q '"health":"true"' <<<"$(curl -s "$C1/health")" && { bad "m1 still healthy without quorum"; exit 1; }

"$EDR" snapshot save -o "$W/none.db" --cluster "$W/cluster.json" --timeout 2000 >/dev/null 2>"$W/err"
rc=$?
[[ $rc -eq 4 ]] && grep -q "no healthy member" "$W/err" && grep -q "member 'm1' ($C1)" "$W/err" &&
  grep -q -- "--member" "$W/err" && [[ ! -e $W/none.db && ! -e $W/none.db.part ]] &&
  ok "quorum lost, no --member: exit 4, $(tail -1 "$W/err")" || bad "quorum lost, no --member: exit $rc, $(cat "$W/err")"

if "$EDR" snapshot save -o "$W/m1.db" --cluster "$W/cluster.json" --member m1 >"$W/out" 2>"$W/err"; then
  grep -q "not healthy" "$W/err" && ok "--member m1 without quorum: saved, with a warning" ||
    bad "--member m1 without quorum: no warning: $(cat "$W/err")"
  check_file "$W/m1.db" "$rev"
else
  bad "--member m1 without quorum: $(cat "$W/err")"
fi

[[ $fails -eq 0 ]] && echo "PASS" || echo "$fails failure(s)"
exit $((fails > 0))
