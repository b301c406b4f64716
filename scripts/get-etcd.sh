#!/usr/bin/env bash
# Fetch etcd 3.5 (Debian trixie's etcd-server + etcd-client) into a cache dir,
# without touching the system's apt sources, lists or package cache.
#
#   scripts/get-etcd.sh [CACHE_DIR]      (default: $EDR_ETCD35_DIR or
#                                         /var/cache/etcd-dr/etcd-3.5)
#
# Binaries end up in CACHE_DIR/usr/bin/{etcd,etcdctl,etcdutl}.
# Idempotent: if they are present and `etcd --version` reports 3.5, nothing is
# downloaded. Prints the bin dir on stdout (everything else goes to stderr).
set -euo pipefail

dest=${1:-${EDR_ETCD35_DIR:-/var/cache/etcd-dr/etcd-3.5}}
bindir=$dest/usr/bin

log() { printf 'get-etcd: %s\n' "$*" >&2; }
die() { printf 'get-etcd: error: %s\n' "$*" >&2; exit 1; }

is_ok() {
    local b
    for b in etcd etcdctl etcdutl; do [[ -x $bindir/$b ]] || return 1; done
    # Capture, then match: `cmd | grep -q` under pipefail fails at random
    # when grep exits early and the command dies of SIGPIPE.
    local v
    v=$("$bindir/etcd" --version 2>/dev/null) && [[ $v == *"etcd Version: 3.5."* ]] || return 1
    v=$("$bindir/etcdctl" version 2>/dev/null) && [[ $v == *"etcdctl version: 3.5."* ]] || return 1
    v=$("$bindir/etcdutl" version 2>/dev/null) && [[ $v == *"etcdutl version: 3.5."* ]] || return 1
}

if is_ok; then
    echo "$bindir"
    exit 0
fi

[[ $(id -u) -eq 0 ]] || die "must run as root (apt-get download, writing $dest)"
for t in apt-get dpkg flock; do
    command -v "$t" >/dev/null || die "$t not found"
done

mkdir -p "$(dirname "$dest")"
# Serialise concurrent callers (parallel tests) on one lock next to the cache.
exec 9>"$(dirname "$dest")/.get-etcd.lock"
flock -w 600 9 || die "timed out waiting for $(dirname "$dest")/.get-etcd.lock"
if is_ok; then          # somebody else fetched it while we waited
    echo "$bindir"
    exit 0
fi

# shellcheck source=trixie-apt.sh
. "$(dirname "${BASH_SOURCE[0]}")/trixie-apt.sh"
log "using mirror $(trixie_mirror) (suite trixie) for etcd-server/etcd-client 3.5"

work=$(mktemp -d /tmp/edr-get-etcd.XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/debs"
trixie_apt_init "$work" deb
o=("${TRIXIE_APT_OPTS[@]}")

apt-get "${o[@]}" update >&2 || die "apt-get update for trixie failed (mirror $(trixie_mirror))"
(cd "$work/debs" && apt-get "${o[@]}" download etcd-server etcd-client >&2) \
    || die "apt-get download etcd-server etcd-client (trixie) failed"

stage=$dest.new.$$
rm -rf "$stage"
mkdir -p "$stage"
for f in "$work"/debs/*.deb; do
    log "extracting $(basename "$f")"
    dpkg -x "$f" "$stage"
done
mkdir -p "$stage/debs"
cp "$work"/debs/*.deb "$stage/debs/"

rm -rf "$dest.old"
[[ -e $dest ]] && mv "$dest" "$dest.old"
mv "$stage" "$dest"
rm -rf "$dest.old"

is_ok || die "extracted binaries in $bindir do not run or are not 3.5 ($("$bindir/etcd" --version 2>&1 | sed -n 1p))"
log "$("$bindir/etcd" --version | sed -n 1p); $("$bindir/etcdutl" version | sed -n 1p)"
echo "$bindir"
