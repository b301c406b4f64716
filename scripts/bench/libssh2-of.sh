# libssh2-of.sh - sourced by the benchmarks (scripts/bench.sh,
# scripts/bench-bastion.sh): libssh2_of BINARY prints the libssh2 version
# an etcd-dr binary runs with ("1.11.1"), static inside it or the shared
# library it loads, read from libssh2's SSH banner string.
libssh2_of() {
  local v so
  banner() { strings "$1" | sed -n 's/^SSH-2.0-libssh2_\([0-9][0-9.]*\)$/\1/p' | sed -n 1p; }
  v=$(banner "$1")
  so=$(ldd "$1" 2>/dev/null | awk '$1 ~ /^libssh2\.so/ {print $3}')
  [[ -z $v && -n $so ]] && v=$(banner "$so")
  echo "${v:-unknown}"
}
