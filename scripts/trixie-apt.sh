# shellcheck shell=bash
# Sourced by scripts/get-etcd.sh and scripts/get-libssh2.sh: run Debian's own
# apt-get against trixie through a private sources.list, lists dir and cache
# in a work dir, so the system's apt sources, lists and package cache are
# never touched.  apt checks what it fetches against trixie's signed Release
# file (InRelease, keys from the system's debian-archive-keyring), so a
# downloaded .deb or source package has been verified when apt-get returns.
#
#   trixie_apt_init WORKDIR "deb" | "deb-src"
#       writes WORKDIR/sources.list for the machine's own mirror and sets the
#       array TRIXIE_APT_OPTS; then: apt-get "${TRIXIE_APT_OPTS[@]}" update
#   trixie_mirror     prints the machine's own Debian mirror (not security)

trixie_mirror() {
    local mirror=
    if [[ -r /etc/apt/sources.list.d/debian.sources ]]; then
        mirror=$(sed -n 's/^URIs:[[:space:]]*//p' /etc/apt/sources.list.d/debian.sources | awk '{print $1}' | grep -v security | sed -n 1p || true)
    fi
    if [[ -z $mirror && -r /etc/apt/sources.list ]]; then
        mirror=$(awk '$1=="deb" && $0 !~ /security/ {for(i=2;i<=NF;i++) if ($i ~ /^(https?|file):/) {print $i; exit}}' /etc/apt/sources.list || true)
    fi
    echo "${mirror:-http://deb.debian.org/debian}"
}

trixie_apt_init() {
    local work=$1 kind=$2
    mkdir -p "$work/lists/partial" "$work/cache/archives/partial"
    echo "$kind $(trixie_mirror) trixie main" >"$work/sources.list"
    TRIXIE_APT_OPTS=(-oDir::Etc::SourceList="$work/sources.list" -oDir::Etc::SourceParts=/dev/null
                     -oDir::State::Lists="$work/lists" -oDir::Cache="$work/cache"
                     -oAPT::Sandbox::User=root -qq)
}
