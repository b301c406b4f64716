#!/usr/bin/env bash
# keys.sh [--system-build SRC DIR] - user keys against the lab's real OpenSSH 9.2
# sshd, which refuses ssh-rsa (SHA-1) signatures:
#  - an RSA 3072 key: `status` reaches every host (rsa-sha2-512, libssh2 1.11);
#  - an OpenSSH user certificate (KEY-cert.pub, signed by a CA the hosts'
#    sshd trusts; the key itself is in no authorized_keys): `status` works;
#    from then on m3's sshd allows only aes256-gcm@openssh.com;
#  - an encrypted ed25519 key, passphrase typed on a terminal (a pty): asked
#    once for 3 hosts, never echoed or written to the output, the journal or
#    the report; the restore succeeds;
#  - a wrong passphrase: exit 4, a message naming the key file, asked once,
#    nothing changed on any host (etcd running, same member dirs, no leftovers);
#    ^C at the prompt: exit 130, nothing changed;
#  - no terminal: SSH_ASKPASS with SSH_ASKPASS_REQUIRE=force is used; without
#    askpass and terminal, a message saying so and what to do;
#  - ssh-agent first: an encrypted default key the agent holds is not asked
#    for; an RSA key in the agent works (and 1.10 names it);
#  - with --system-build: etcd-dr built from SRC in DIR with
#    -DEDR_LIBSSH2=system (bookworm's libssh2 1.10) refuses the RSA key with
#    a message naming what is missing and what to do.
. "$(dirname "$0")/lib.sh"
LAB=ekeys
SYSTEM_ETCD_DR=
need_root
if [[ ${1:-} == --system-build ]]; then
  src=$2 dir=$3
  if (cmake -S "$src" -B "$dir" -DCMAKE_BUILD_TYPE=Debug -DEDR_LIBSSH2=system \
        -DBUILD_TESTING=OFF -DEDR_WERROR=ON && cmake --build "$dir" --target etcd-dr -j2) \
      >"$WORK/system-build.log" 2>&1; then
    SYSTEM_ETCD_DR=$dir/etcd-dr
    check "system build: links libssh2 1.10" grep -q "libssh2: system 1.10" "$WORK/system-build.log"
  else
    tail -30 "$WORK/system-build.log"
    fail "build with -DEDR_LIBSSH2=system"
  fi
fi
lab_up 3 3.5
lab put-data 50 100 --prefix /pre/ >/dev/null 2>&1
lab snapshot "$WORK/snap.db" >/dev/null 2>&1
pre=$(checksum_on 1 /pre/)
lab put-data 20 100 --prefix /post/ >/dev/null 2>&1
PTY=(python3 "$E2E_DIR/pty_answer.py")
export ETCD_DR_STATE_DIR=$WORK/state
# The operator's own agent and keys must not help or interfere.
unset SSH_AUTH_SOCK SSH_ASKPASS SSH_ASKPASS_REQUIRE DISPLAY WAYLAND_DISPLAY

# spec_with KEY FILE: the lab spec, authenticating with KEY
spec_with() {
  write_spec "$2"
  sed -i "s|\"identity_file\": \"[^\"]*\"|\"identity_file\": \"$1\"|" "$2"
}
# ssh_ok: members whose ssh column says ok in $WORK/out
ssh_ok() { awk '$2 == "ok" && $1 ~ /^m[0-9]$/' "$WORK/out" | wc -l; }
# status_reaches WHAT SPEC [VAR=VALUE...]: without a terminal, `status`
# exits 0 and every host's ssh column says ok
status_reaches() {
  local what=$1 spec=$2
  shift 2
  env "$@" setsid -w "$ETCD_DR" status --cluster "$spec" >"$WORK/out" 2>&1 </dev/null
  rc=$?
  check "$what: status exit 0 (got $rc)" test "$rc" = 0
  check "$what: ssh ok on the 3 hosts" test "$(ssh_ok)" = 3
  [[ $rc == 0 && $(ssh_ok) == 3 ]] || cat "$WORK/out"
}

ssh-keygen -q -t rsa -b 3072 -N '' -C edr-e2e-rsa -f "$WORK/id_rsa"
PASS='c0rrect horse;battery'
ssh-keygen -q -t ed25519 -N "$PASS" -C edr-e2e-enc -f "$WORK/id_enc"
cat "$WORK/id_rsa.pub" "$WORK/id_enc.pub" >>"$LAB_DIR/authorized_keys"

# ---- RSA 3072, rsa-sha2-512 -----------------------------------------------
spec_with "$WORK/id_rsa" "$WORK/rsa.json"
: >"$WORK/h1-sshd.before"
cp "$LAB_DIR/h1/sshd.log" "$WORK/h1-sshd.before"
status_reaches rsa "$WORK/rsa.json"
new_log=$(diff "$WORK/h1-sshd.before" "$LAB_DIR/h1/sshd.log" | grep '^>' || true)
check "rsa: sshd on m1 accepted the RSA key" contains "$new_log" "Accepted publickey for root"
check "rsa: ... and it was the RSA one" contains "$new_log" "ssh2: RSA SHA256:"

# ---- OpenSSH user certificate ------------------------------------------------
ssh-keygen -q -t ed25519 -N '' -C edr-e2e-ca -f "$WORK/user_ca"
ssh-keygen -q -t ed25519 -N '' -C edr-e2e-cert -f "$WORK/id_cert"
ssh-keygen -q -s "$WORK/user_ca" -I edr-e2e -n root -V -5m:+1h "$WORK/id_cert.pub"
cp "$WORK/user_ca.pub" "$LAB_DIR/user_ca.pub"   # the hosts have their own /tmp
# m3 from here on allows AES-GCM only: what follows (status, the restores)
# reaches it through libssh2 1.11's aes256-gcm@openssh.com
echo "Ciphers aes256-gcm@openssh.com" >>"$LAB_DIR/h3/sshd_config"
for i in 1 2 3; do
  echo "TrustedUserCAKeys $LAB_DIR/user_ca.pub" >>"$LAB_DIR/h$i/sshd_config"
done
sshd_reload 22 1 2 3
ssh_ctr() { # I: OpenSSH's client offering aes128-ctr only
  ssh -i "$LAB_KEY" -o IdentitiesOnly=yes -o IdentityAgent=none -o BatchMode=yes \
    -o UserKnownHostsFile="$LAB_KNOWN_HOSTS" -o StrictHostKeyChecking=yes \
    -o Ciphers=aes128-ctr "root@$(host_ip "$1")" true 2>/dev/null </dev/null
}
refuses_ctr() { ! ssh_ctr "$1"; }
check "m3's sshd now refuses aes128-ctr" refuses_ctr 3
check "m1's sshd still takes aes128-ctr" ssh_ctr 1
spec_with "$WORK/id_cert" "$WORK/cert.json"
status_reaches certificate "$WORK/cert.json"
check "certificate: sshd on m2 accepted it as a certificate" \
  grep -q "Accepted publickey for root .* ED25519-CERT" "$LAB_DIR/h2/sshd.log"

if [[ -n $SYSTEM_ETCD_DR ]]; then
  "$SYSTEM_ETCD_DR" plan --check --cluster "$WORK/rsa.json" >"$WORK/out" 2>&1
  rc=$?
  out=$(cat "$WORK/out")
  check "rsa, libssh2 1.10: plan --check exit 4 (got $rc)" test "$rc" = 4
  check "rsa, libssh2 1.10: names the key as RSA" contains "$out" "'$WORK/id_rsa' (an RSA key"
  check "rsa, libssh2 1.10: says what is missing" contains "$out" "RSA needs libssh2 >= 1.11"
  check "rsa, libssh2 1.10: says what else works" contains "$out" "use an ed25519 or ECDSA key"
  [[ $rc == 4 ]] || echo "$out" | tail -20
fi

# ---- encrypted ed25519, wrong passphrase: nothing touched -------------------
spec_with "$WORK/id_enc" "$WORK/enc.json"
before=$(all_states)
PTY_PASSPHRASE='not the passphrase' "${PTY[@]}" yes "$ETCD_DR" restore \
  --cluster "$WORK/enc.json" --snapshot "$WORK/snap.db" >"$WORK/out" 2>&1
out=$(cat "$WORK/out")
check "wrong passphrase: exit 4, no confirmation asked" contains "$out" "EXIT 4 ASKED 0"
check "wrong passphrase: asked once for 3 hosts" contains "$out" "PASSPHRASE ASKED 1"
check "wrong passphrase: the message names the key file" \
  contains "$out" "wrong passphrase for identity file '$WORK/id_enc'"
check "wrong passphrase: hosts unchanged (etcd running, same member dirs)" \
  test "$before" = "$(all_states)"
for i in 1 2 3; do check "wrong passphrase: nothing left on m$i" test -z "$(leftovers "$i")"; done
check "wrong passphrase: data unchanged" test "$(checksum_on 2 /post/ | cut -d' ' -f1)" = 20
contains "$out" "EXIT 4 ASKED 0" || echo "$out" | tail -20

# ---- ^C at the prompt: the run ends as interrupted, nothing touched ----------
PTY_PASSPHRASE=$'\003' "${PTY[@]}" yes "$ETCD_DR" restore \
  --cluster "$WORK/enc.json" --snapshot "$WORK/snap.db" >"$WORK/out" 2>&1
out=$(cat "$WORK/out")
check "^C at the prompt: exit 130" contains "$out" "EXIT 130 ASKED 0"
check "^C at the prompt: says so" contains "$out" "interrupted at the passphrase prompt"
check "^C at the prompt: hosts unchanged" test "$before" = "$(all_states)"
contains "$out" "EXIT 130 ASKED 0" || echo "$out" | tail -20

# ---- no terminal, no askpass: a clear message, nothing contacted ------------
setsid -w "$ETCD_DR" restore --yes --cluster "$WORK/enc.json" --snapshot "$WORK/snap.db" \
  >"$WORK/out" 2>&1 </dev/null
rc=$?
out=$(cat "$WORK/out")
check "no terminal: exit 4 (got $rc)" test "$rc" = 4
check "no terminal: says the key is encrypted and no terminal" \
  contains "$out" "identity file '$WORK/id_enc' is encrypted and there is no terminal to ask on"
check "no terminal: says what to do" contains "$out" "ssh-add '$WORK/id_enc'"
check "no terminal: hosts unchanged" test "$before" = "$(all_states)"

# ---- SSH_ASKPASS without a terminal ------------------------------------------
printf '#!/bin/sh\necho "$1" >>%s\nprintf "%%s\\n" %q\n' "$WORK/askpass.prompts" "$PASS" \
  >"$WORK/askpass"
chmod 700 "$WORK/askpass"
status_reaches askpass "$WORK/enc.json" SSH_ASKPASS="$WORK/askpass" SSH_ASKPASS_REQUIRE=force
check "askpass: asked once for 3 hosts (status runs them in parallel)" \
  test "$(wc -l <"$WORK/askpass.prompts")" = 1
check "askpass: the prompt names the key" grep -qF "'$WORK/id_enc'" "$WORK/askpass.prompts"

# ---- ssh-agent comes first -----------------------------------------------------
# Without identity_file: an encrypted default key that the agent holds is not
# asked for; an RSA key in the agent signs with rsa-sha2 (1.11) or is named
# as what 1.10 cannot use.
eval "$(ssh-agent -s -a "$WORK/agent.sock")" >/dev/null
BG_PIDS+=("$SSH_AGENT_PID")
printf '#!/bin/sh\necho "$1" >>%s\nexit 1\n' "$WORK/askpass-no.prompts" >"$WORK/askpass-no"
chmod 700 "$WORK/askpass-no"
SSH_ASKPASS=$WORK/askpass SSH_ASKPASS_REQUIRE=force ssh-add -q "$WORK/id_enc" </dev/null 2>/dev/null
mkdir -p "$WORK/home/.ssh" "$WORK/empty"
cp "$WORK/id_enc" "$WORK/home/.ssh/id_ed25519"
cp "$WORK/id_enc.pub" "$WORK/home/.ssh/id_ed25519.pub"
write_spec "$WORK/agent.json"
sed -i 's|"identity_file": "[^"]*", ||' "$WORK/agent.json"
status_reaches "agent holding the encrypted default key" "$WORK/agent.json" HOME="$WORK/home" \
  SSH_AUTH_SOCK="$SSH_AUTH_SOCK" SSH_ASKPASS="$WORK/askpass-no" SSH_ASKPASS_REQUIRE=force
check "agent first: the default key's passphrase was not asked" test ! -e "$WORK/askpass-no.prompts"
ssh-add -q -D 2>/dev/null
ssh-add -q "$WORK/id_rsa" 2>/dev/null
status_reaches "agent holding an RSA key" "$WORK/agent.json" HOME="$WORK/empty" \
  SSH_AUTH_SOCK="$SSH_AUTH_SOCK"
if [[ -n $SYSTEM_ETCD_DR ]]; then
  HOME=$WORK/empty "$SYSTEM_ETCD_DR" plan --check --cluster "$WORK/agent.json" >"$WORK/out" 2>&1
  rc=$?
  out=$(cat "$WORK/out")
  check "agent rsa, libssh2 1.10: plan --check exit 4 (got $rc)" test "$rc" = 4
  check "agent rsa, libssh2 1.10: names the agent's key as RSA" \
    contains "$out" "ssh-agent key 'edr-e2e-rsa' (an RSA key"
  [[ $rc == 4 ]] || echo "$out" | tail -20
fi
kill "$SSH_AGENT_PID" 2>/dev/null
unset SSH_AUTH_SOCK SSH_AGENT_PID

# ---- the right passphrase on a terminal: the restore goes through -------------
PTY_PASSPHRASE=$PASS "${PTY[@]}" yes "$ETCD_DR" restore --cluster "$WORK/enc.json" \
  --snapshot "$WORK/snap.db" >"$WORK/out" 2>&1
out=$(cat "$WORK/out")
check "passphrase on a pty: exit 0, confirmation asked once" contains "$out" "EXIT 0 ASKED 1"
check "passphrase on a pty: asked once for 3 hosts" contains "$out" "PASSPHRASE ASKED 1"
check "passphrase on a pty: the snapshot's data is back" test "$(checksum_on 3 /pre/)" = "$pre"
check "passphrase on a pty: keys written after the snapshot are gone" \
  test "$(checksum_on 3 /post/ | cut -d' ' -f1)" = 0
check "passphrase: never echoed or printed" bash -c "! grep -qF -- '$PASS' '$WORK/out'"
check "passphrase: not in the journal or report" \
  bash -c "! grep -rqF -- '$PASS' '$WORK/state'"
contains "$out" "EXIT 0 ASKED 1" || echo "$out" | tail -30
