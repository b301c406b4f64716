#!/usr/bin/env bash
# Install what building and testing etcd-dr needs, from Debian's packages only.
# Idempotent: `apt-get update` and `apt-get install` run only when something is
# missing. Package maintainer scripts are not allowed to start services (a
# temporary /usr/sbin/policy-rc.d answering 101), and any etcd/sshd that the
# install started anyway in this (root) network namespace is stopped.
# Then fetches etcd 3.5 with scripts/get-etcd.sh, and builds libssh2 1.11 from
# Debian trixie's source package with scripts/get-libssh2.sh (bookworm's 1.10
# cannot sign with rsa-sha2; CMake links the 1.11 build by default).
# Adds Debian's arm64 architecture for the aarch64 agent's cross build
# (gcc-aarch64-linux-gnu and the arm64 static libraries it links;
# cmake/agent-aarch64.cmake) and qemu-user-static, which runs its tests.
#
#   scripts/deps.sh            install + fetch etcd 3.5 + build libssh2 1.11
#   EDR_DEPS_EXTRA="pkg ..."   additional packages to require
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

log() { printf 'deps: %s\n' "$*" >&2; }
die() { printf 'deps: error: %s\n' "$*" >&2; exit 1; }

[[ $(id -u) -eq 0 ]] || die "must run as root (installs Debian packages); try: sudo $0"
command -v dpkg-query >/dev/null && command -v apt-get >/dev/null \
    || die "this script needs a Debian-based system (apt-get, dpkg-query)"

export DEBIAN_FRONTEND=noninteractive

pkgs=(
    # build
    cmake gcc make pkg-config libc6-dev binutils git
    libssh2-1-dev libuv1-dev libjansson-dev libssl-dev libcurl4-openssl-dev
    libyaml-dev    # YAML cluster specs (orchestrator/plan/spec_yaml.c)
    libzstd-dev    # compressed pushes: libzstd.a in the static agent
    clang
    dpkg-dev xz-utils    # dpkg-source: unpacks and checks trixie's libssh2 source package
    # test lab (tests/lab/lab.sh)
    openssh-server openssh-client iproute2 etcd-server etcd-client
    psmisc procps util-linux sudo passwd coreutils findutils
    nftables    # status_agent.sh, save_ssh.sh: block a lab host's client port
    curl ca-certificates openssl python3 file
    # tests/help (the man page must render without warnings)
    groff-base
    # tests/help/install.sh: the zsh completion script, run in zsh
    zsh
    # tests/playbooks (docs/playbook.schema.json)
    python3-jsonschema
    # the aarch64 agent (cmake/agent-aarch64.cmake): Debian's cross compiler,
    # the arm64 static libraries the agent links, qemu-user for its tests
    gcc-aarch64-linux-gnu libc6-dev-arm64-cross libjansson-dev:arm64 libssl-dev:arm64
    libzstd-dev:arm64
    qemu-user-static
)
# shellcheck disable=SC2206
[[ -n ${EDR_DEPS_EXTRA:-} ]] && pkgs+=(${EDR_DEPS_EXTRA})

# The arm64 -dev packages are multiarch: apt sees them once dpkg knows the
# architecture (the apt-get update below then fetches its lists).
if ! grep -qx arm64 <<<"$(dpkg --print-foreign-architectures)"; then
    log "adding the arm64 architecture (the aarch64 agent's static libraries)"
    dpkg --add-architecture arm64
fi

# A name without ":arch" is the native package (or an arch: all one); with
# the arm64 -dev packages installed too, dpkg-query lists both, one a line.
native=$(dpkg --print-architecture)
missing=()
for p in "${pkgs[@]}"; do
    want=$native
    [[ $p == *:* ]] && want=${p##*:}
    st=$(dpkg-query -W -f='${Status} ${Architecture}\n' "$p" 2>/dev/null || true)
    grep -qxE "install ok installed ($want|all)" <<<"$st" || missing+=("$p")
done

# pids of etcd/sshd processes in our network namespace right now
daemon_pids() {
    local myns p ns
    myns=$(readlink /proc/self/ns/net)
    for p in $(pgrep -x 'etcd|sshd' || true); do
        ns=$(readlink "/proc/$p/ns/net" 2>/dev/null || true)
        [[ $ns == "$myns" ]] && echo "$p"
    done
    return 0
}

if ((${#missing[@]})); then
    log "missing packages: ${missing[*]}"
    before=" $(daemon_pids | tr '\n' ' ') "

    prc=/usr/sbin/policy-rc.d
    prc_backup=
    if [[ -e $prc ]]; then
        prc_backup=$(mktemp /tmp/edr-policy-rc.d.XXXXXX)
        cp -p "$prc" "$prc_backup"
    fi
    restore_prc() {
        if [[ -n $prc_backup ]]; then
            cp -p "$prc_backup" "$prc" && rm -f "$prc_backup"
        else
            rm -f "$prc"
        fi
    }
    trap restore_prc EXIT
    printf '#!/bin/sh\n# temporary, from etcd-dr scripts/deps.sh: start no services\nexit 101\n' >"$prc"
    chmod 755 "$prc"

    apt_o=(-o DPkg::Lock::Timeout=600 -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold)
    log "apt-get update"
    if ! apt-get "${apt_o[@]}" -q update >&2; then
        log "warning: apt-get update reported errors (an unreachable extra source?); trying the install anyway"
    fi
    log "apt-get install ${missing[*]}"
    apt-get "${apt_o[@]}" -q -y install --no-install-recommends "${missing[@]}" >&2 \
        || die "apt-get install failed for: ${missing[*]}"

    restore_prc
    trap - EXIT

    # Whatever the install started anyway (a postinst ignoring policy-rc.d):
    # stop it, by pid, only processes that were not there before.
    for p in $(daemon_pids); do
        [[ $before == *" $p "* ]] && continue
        log "stopping $(cat /proc/"$p"/comm 2>/dev/null || echo '?') (pid $p) started by the package install"
        kill "$p" 2>/dev/null || true
    done
    sleep 0.5
    for p in $(daemon_pids); do
        [[ $before == *" $p "* ]] && continue
        kill -9 "$p" 2>/dev/null || true
    done
else
    log "all ${#pkgs[@]} Debian packages present"
fi

# The lab runs etcd as user etcd (Debian's etcd-server creates it).
if ! getent passwd etcd >/dev/null; then
    log "creating system user etcd"
    getent group etcd >/dev/null || groupadd --system etcd
    useradd --system --gid etcd --home-dir /var/lib/etcd --no-create-home \
        --shell /usr/sbin/nologin etcd
fi

"$here/get-etcd.sh" >/dev/null
log "etcd 3.4: $(/usr/bin/etcd --version 2>/dev/null | sed -n 1p || echo missing)"
log "etcd 3.5: $("$here/get-etcd.sh")"
"$here/get-libssh2.sh" >/dev/null
log "libssh2 1.11 (static, for EDR_LIBSSH2=bundled): $("$here/get-libssh2.sh")"
log "done"
