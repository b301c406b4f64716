#!/usr/bin/env bash
# The whole test suite, from a fresh Debian machine, as root: install what is
# missing (scripts/deps.sh), build with ASan and UBSan (-Werror), and run
# every test with ctest: unit tests, the agent's tests, the bbolt reader's
# corpus and fuzz run, and the end-to-end tests on a lab of real hosts.
#
# Then a ThreadSanitizer build (its own tree, build-tsan) runs the unit tests
# and the end-to-end tests of status and restore, which cover the run's
# loop, the gates and the leader lookup (ARCHITECTURE.md, the concurrency
# model): any report fails.
#
#   scripts/test.sh                 everything
#   scripts/test.sh -L unit         only tests labelled unit (ctest arguments,
#                                   for the ASan run; the TSan run then runs
#                                   only its unit tests)
#   EDR_BUILD_DIR=dir               build directory (default build-test)
#   EDR_TSAN_BUILD_DIR=dir          the TSan tree (default build-tsan)
#   EDR_TSAN=0                      skip the TSan run
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"

"$repo/scripts/deps.sh"

build=${EDR_BUILD_DIR:-$repo/build-test}
cmake -S "$repo" -B "$build" -DCMAKE_BUILD_TYPE=Debug -DEDR_SANITIZE=ON -DEDR_WERROR=ON \
    -DEDR_FAILPOINTS=ON
cmake --build "$build" -j"$(nproc)"

# Leak and UB reports fail the run; they must never be hidden.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:exitcode=86}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
ctest --test-dir "$build" --output-on-failure "$@"

[[ ${EDR_TSAN:-1} == 0 ]] && exit 0
tsan=${EDR_TSAN_BUILD_DIR:-$repo/build-tsan}
cmake -S "$repo" -B "$tsan" -DCMAKE_BUILD_TYPE=Debug -DEDR_TSAN=ON -DEDR_WERROR=ON
cmake --build "$tsan" -j"$(nproc)"
export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1:exitcode=66:second_deadlock_stack=1}
ctest --test-dir "$tsan" --output-on-failure -L unit
if [[ $# -eq 0 ]]; then
  ctest --test-dir "$tsan" --output-on-failure \
        -R '^(e2e_status_etcd35|e2e_status_agent_etcd35|e2e_restore_etcd35)$'
fi
