#!/usr/bin/env bash
# The whole test suite, from a fresh Debian machine, as root: install what is
# missing (scripts/deps.sh), build with ASan and UBSan (-Werror), and run
# every test with ctest: unit tests, the agent's tests, the bbolt reader's
# corpus and fuzz run, and the end-to-end tests on a lab of real hosts.
#
#   scripts/test.sh                 everything
#   scripts/test.sh -L unit         only tests labelled unit (ctest arguments)
#   EDR_BUILD_DIR=dir               build directory (default build-test)
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
