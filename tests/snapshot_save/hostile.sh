#!/usr/bin/env bash
# hostile.sh ETCD_DR - `snapshot save` against a member that is not what it
# claims (tests/snapshot_save/hostile_gateway.py on loopback): every transfer
# is bounded and leaves nothing behind.
#   - a stream that goes on past the size its first message announced stops
#     there, at once, not when the disk is full;
#   - a size larger than the free space fails before it is written;
#   - a stream that never ends, and one that trickles just fast enough never
#     to stall, stop at --deadline;
#   - SIGINT during such a stream ends the save at once (exit 130);
#   each time: exit status, the message naming the endpoint and the reason,
#   no FILE and no FILE.part.
EDR=${1:?usage: hostile.sh ETCD_DR}
here=$(cd "$(dirname "$0")" && pwd)
GW_PID=
stop_gateway() { [[ -z $GW_PID ]] || kill "$GW_PID" 2>/dev/null; }
NAME=hostile STOP=stop_gateway
. "$here/check.sh"

gateway() { # gateway MODE: start it, set URL
  [[ -n $GW_PID ]] && kill "$GW_PID" 2>/dev/null && wait "$GW_PID" 2>/dev/null
  rm -f "$W/port"
  python3 "$here/hostile_gateway.py" "$1" "$W/port" &
  GW_PID=$!
  local i
  for i in $(seq 100); do [[ -s $W/port ]] && break; sleep 0.1; done
  URL=http://127.0.0.1:$(cat "$W/port")
}

save() { # save MODE [ARGS...]: run it; RC, ERR, SECS
  gateway "$1"
  shift
  rm -rf "$W/out" && mkdir -p "$W/out"
  local t0=$SECONDS
  "$EDR" snapshot save --endpoint "$URL" -o "$W/out/s.db" "$@" 2>"$W/err" >/dev/null
  RC=$?
  SECS=$((SECONDS - t0))
  ERR=$(cat "$W/err")
}
nothing_left() { [[ -z $(ls -A "$W/out") ]]; }

save overlong --deadline 60
check "overlong: exit 4 (got $RC)" test "$RC" = 4
check "overlong: stopped at the announced size" \
  grep -q "snapshot from endpoint '$URL' failed after .*: the stream goes on past the 114720 bytes its first message announced" "$W/err"
check "overlong: no file, no .part" nothing_left

save huge --deadline 60
check "huge: exit 1, a local failure: not enough free disk here (got $RC)" test "$RC" = 1
check "huge: refused before writing it" grep -q "it announced 1.1 PB and only .* is free for '$W/out/s.db.part'" "$W/err"
check "huge: no file, no .part" nothing_left

for mode in endless trickle; do
  save "$mode" --deadline 2
  check "$mode: exit 4 (got $RC)" test "$RC" = 4
  check "$mode: stopped by --deadline" grep -q "snapshot from endpoint '$URL' took longer than 2 s in all after .* of 1.1 GB (--deadline" "$W/err"
  check "$mode: stopped within seconds of the deadline (took ${SECS}s)" test "$SECS" -le 15
  check "$mode: no file, no .part" nothing_left
done

# Ctrl-C in the middle of a stream that would run for an hour.
gateway endless
rm -rf "$W/out" && mkdir -p "$W/out"
"$EDR" snapshot save --endpoint "$URL" -o "$W/out/s.db" 2>"$W/err" >/dev/null &
pid=$!
for i in $(seq 100); do [[ -s $W/out/s.db.part ]] && break; sleep 0.1; done
check "sigint: the stream had begun" test -s "$W/out/s.db.part"
kill -INT "$pid"
t0=$SECONDS
for i in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
check "sigint: the save ended within seconds" test $((SECONDS - t0)) -le 5
kill -9 "$pid" 2>/dev/null
wait "$pid"
RC=$?
check "sigint: exit 130 (got $RC)" test "$RC" = 130
check "sigint: the message says it was interrupted" grep -q "snapshot from endpoint '$URL' interrupted after" "$W/err"
check "sigint: no file, no .part" nothing_left
