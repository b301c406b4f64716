#!/usr/bin/env bash
# Fetch Debian trixie's libssh2 source package (1.11: rsa-sha2-256/512
# signatures, AES-GCM, strict key exchange) and build it as a static library
# into a cache dir, without touching the system's apt sources, lists or
# package cache (scripts/trixie-apt.sh).  Bookworm ships 1.10, which cannot
# sign with rsa-sha2; CMake's EDR_LIBSSH2=bundled (cmake/libssh2.cmake) links
# what this script builds.
#
#   scripts/get-libssh2.sh [CACHE_DIR]   (default: $EDR_LIBSSH2_DIR or
#                                         /var/cache/etcd-dr/libssh2-1.11)
#
# CACHE_DIR/src keeps the source package as apt fetched it (.dsc, orig
# tarball, Debian's patches); CACHE_DIR/prefix holds lib/libssh2.a and the
# headers.  apt verifies the download against trixie's signed Release file;
# dpkg-source checks every file against the .dsc's hashes again when it
# unpacks (also from the cache) and applies Debian's patches; then the fixes
# in scripts/libssh2-patches/ (each says what it fixes and where upstream
# fixed it) are applied.  Idempotent: with a prefix built from the same
# source package and patches, nothing is fetched or built.  Prints the prefix on
# stdout (everything else goes to stderr).
set -euo pipefail

dest=${1:-${EDR_LIBSSH2_DIR:-/var/cache/etcd-dr/libssh2-1.11}}
prefix=$dest/prefix
patches=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/libssh2-patches

# What a build is made of: the source package's .dsc and our patches.
recipe() {
    local f
    for f in "$dest"/src/libssh2_*.dsc "$patches"/*.patch; do
        [[ -r $f ]] && printf '%s %s\n' "$(sha256sum <"$f" | cut -d' ' -f1)" "$(basename "$f")"
    done
    return 0
}

log() { printf 'get-libssh2: %s\n' "$*" >&2; }
die() { printf 'get-libssh2: error: %s\n' "$*" >&2; exit 1; }

is_ok() {
    [[ -r $prefix/lib/libssh2.a && -r $prefix/include/libssh2.h ]] || return 1
    local v
    v=$(sed -n 's/^#define LIBSSH2_VERSION[[:space:]]*"\(.*\)"/\1/p' "$prefix/include/libssh2.h")
    [[ $v == 1.1[1-9]* ]] || return 1
    [[ -r $prefix/edr-recipe && $(recipe) == "$(cat "$prefix/edr-recipe")" ]]
}

if is_ok; then
    echo "$prefix"
    exit 0
fi

[[ $(id -u) -eq 0 || -w $(dirname "$dest") ]] \
    || die "cannot write $(dirname "$dest"); run as root (apt-get source, writing $dest)"
for t in apt-get dpkg-source patch sha256sum cmake cc flock; do
    command -v "$t" >/dev/null || die "$t not found (scripts/deps.sh installs it)"
done

mkdir -p "$dest"
# Serialise concurrent callers on one lock next to the cache.
exec 9>"$dest/.lock"
flock -w 600 9 || die "timed out waiting for $dest/.lock"
if is_ok; then          # somebody else built it while we waited
    echo "$prefix"
    exit 0
fi

work=$(mktemp -d /tmp/edr-get-libssh2.XXXXXX)
trap 'rm -rf "$work"' EXIT

if ! compgen -G "$dest/src/libssh2_*.dsc" >/dev/null; then
    # shellcheck source=trixie-apt.sh
    . "$(dirname "${BASH_SOURCE[0]}")/trixie-apt.sh"
    log "fetching the libssh2 source package from $(trixie_mirror) (suite trixie)"
    trixie_apt_init "$work/apt" deb-src
    apt-get "${TRIXIE_APT_OPTS[@]}" update >&2 \
        || die "apt-get update for trixie (deb-src) failed (mirror $(trixie_mirror))"
    mkdir -p "$work/dl"
    (cd "$work/dl" && apt-get "${TRIXIE_APT_OPTS[@]}" source --download-only libssh2 >&2) \
        || die "apt-get source --download-only libssh2 (trixie) failed"
    rm -rf "$dest/src.new"
    mkdir -p "$dest/src.new"
    cp "$work"/dl/libssh2_* "$dest/src.new/"
    rm -rf "$dest/src"
    mv "$dest/src.new" "$dest/src"
fi

dsc=$(compgen -G "$dest/src/libssh2_*.dsc" | sed -n 1p)
log "unpacking $(basename "$dsc") (hashes checked against the .dsc, Debian's patches applied)"
(cd "$work" && dpkg-source --no-copy -x "$dsc" tree >"$work/unpack.log" 2>&1) \
    || die "dpkg-source -x $dsc failed: the cached source package does not match its .dsc; remove $dest/src and run again"

for p in "$patches"/*.patch; do
    [[ -r $p ]] || continue
    log "applying $(basename "$p")"
    patch -d "$work/tree" -p1 --forward --batch <"$p" >>"$work/unpack.log" 2>&1 \
        || die "patch $(basename "$p") does not apply to $(basename "$dsc"); see $work/unpack.log"
done

log "building a static libssh2 (OpenSSL backend, no zlib; log in $dest/build.log)"
cat "$work/unpack.log" >"$dest/build.log"
cmake -S "$work/tree" -B "$work/build" -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_INSTALL_PREFIX="$dest/prefix.new" -DCMAKE_INSTALL_LIBDIR=lib \
    -DBUILD_SHARED_LIBS=OFF -DBUILD_STATIC_LIBS=ON -DCMAKE_POSITION_INDEPENDENT_CODE=ON \
    -DBUILD_EXAMPLES=OFF -DBUILD_TESTING=OFF -DLINT=OFF \
    -DCRYPTO_BACKEND=OpenSSL -DENABLE_ZLIB_COMPRESSION=OFF >>"$dest/build.log" 2>&1 \
    || die "configuring libssh2 failed (needs libssl-dev); see $dest/build.log"
cmake --build "$work/build" -j2 >>"$dest/build.log" 2>&1 || die "building libssh2 failed; see $dest/build.log"
rm -rf "$dest/prefix.new"
cmake --install "$work/build" >>"$dest/build.log" 2>&1 || die "installing libssh2 into $dest/prefix.new failed"
recipe >"$dest/prefix.new/edr-recipe"
rm -rf "$prefix"
mv "$dest/prefix.new" "$prefix"

is_ok || die "the build in $prefix is not libssh2 >= 1.11"
log "libssh2 $(sed -n 's/^#define LIBSSH2_VERSION[[:space:]]*"\(.*\)"/\1/p' "$prefix/include/libssh2.h") in $prefix"
echo "$prefix"
