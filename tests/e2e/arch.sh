#!/usr/bin/env bash
# arch.sh - a mixed cluster: member 2's host is an aarch64 machine, the
# others x86-64.  The coordinator asks each host's `uname -m` and pushes the
# agent built for it; the restore must bring every key back.
#
# What is real and what is staged: the lab hosts share this x86-64 kernel,
# so host 2 says "aarch64" through a `uname` in its own /usr/local/bin (which
# only it sees).  Everything after that is real: the agent pushed there is
# the cross-built aarch64 binary, and it runs on that host as aarch64 code
# through the kernel's binfmt_misc and Debian's qemu-user-static (registered
# here when the machine has not done it), which is why it reports "aarch64"
# from its own uname(2) in its hello; the coordinator checks its sha-256
# against the aarch64 build (the one without tls: the members are http).
# Then the same restore from an etcd-dr that has no aarch64 agent beside it:
# refused on host 2, by name, nothing changed.
. "$(dirname "$0")/lib.sh"
LAB=earch
need_root
A64=$(dirname "$ETCD_DR")/etcd-dr-agent-aarch64
X64=$(dirname "$ETCD_DR")/etcd-dr-agent
if [[ ! -x $A64 ]]; then
  echo "arch.sh: skipped: no $A64 (configure with -DEDR_AGENT_AARCH64=ON)"
  trap - EXIT
  exit 77
fi

# binfmt_misc: Debian registers qemu-aarch64 through systemd-binfmt when
# qemu-user-static is installed; a container without systemd has to do it.
conf=/usr/lib/binfmt.d/qemu-aarch64.conf
bm=/proc/sys/fs/binfmt_misc
if [[ ! -e $bm/qemu-aarch64 && -r $conf ]]; then
  [[ -e $bm/register ]] || mount -t binfmt_misc binfmt_misc "$bm" 2>/dev/null
  [[ -e $bm/register ]] && grep -v '^#' "$conf" >"$bm/register" 2>/dev/null
fi
if [[ $(sed -n 1p "$bm/qemu-aarch64" 2>/dev/null) != enabled ]]; then
  echo "arch.sh: skipped: binfmt_misc has no enabled qemu-aarch64 (install qemu-user-static)"
  trap - EXIT
  exit 77
fi

lab_up 3 3.5
want=$(snapshot_then_disaster /arch/ 200 500)

on_host 2 sh -c 'cat > /usr/local/bin/uname && chmod 755 /usr/local/bin/uname' <<'SH'
#!/bin/sh
# lab host 2 is an aarch64 machine (tests/e2e/arch.sh)
case "$*" in -m) echo aarch64 ;; *) exec /bin/uname "$@" ;; esac
SH
check "m2 says aarch64 over ssh" test "$(lab ssh 2 uname -m)" = aarch64
check "m1 says x86_64 over ssh" test "$(lab ssh 1 uname -m)" = x86_64
write_spec "$WORK/cluster.json"

restore_from "$WORK/cluster.json" "$WORK/snap.db" /arch/ "$want"
report=$(sed -n 's/^report: //p' "$WORK/err")
# http members, health asked from here: every host gets the build without tls
check "report: m2 ran the aarch64 agent without tls (its own uname), m1 and m3 the x86-64 one" \
  python3 - "$report" "$(sha256sum <"$A64-notls" | cut -d' ' -f1)" \
  "$(sha256sum <"$X64-notls" | cut -d' ' -f1)" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
a64, x64 = sys.argv[2], sys.argv[3]
for h in r["hosts"]:
    s = [s for s in h["steps"] if s["kind"] == "push-agent"][0]
    want = (("aarch64", a64, "etcd-dr-agent-aarch64-notls") if h["member"] == "m2"
            else ("x86_64", x64, "etcd-dr-agent-notls"))
    assert (s["arch"], s["sha256"], s["agent"]) == want, (h["member"], s)
PY

# An etcd-dr with only the x86-64 agent beside it.
mkdir -p "$WORK/x64only"
cp "$ETCD_DR" "$X64" "$WORK/x64only/"
lab disaster >/dev/null 2>&1
before=$(all_states)
"$WORK/x64only/etcd-dr" restore --yes --cluster "$WORK/cluster.json" --snapshot "$WORK/snap.db" \
  >"$WORK/out2" 2>"$WORK/err2"
rc=$?
check "without an aarch64 agent: exit 4, a prepare-phase refusal (got $rc)" test "$rc" = 4
check "the message names the host, its architecture and the missing agent" \
  contains "$(cat "$WORK/err2")" "m2 ($(host_ip 2)): push-agent: the host is aarch64 and there is no aarch64 agent here (etcd-dr-agent-aarch64 next to etcd-dr, or --agent FILE); build it with Debian's cross toolchain: scripts/deps.sh installs it, then cmake builds etcd-dr-agent-aarch64"
[[ $rc == 4 ]] || cat "$WORK/err2"
check "nothing changed on any host" test "$(all_states)" = "$before"
for i in 1 2 3; do
  check "m$i: no agent left" test -z "$(leftovers "$i")"
done
