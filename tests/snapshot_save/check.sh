# check.sh - sourced by the `snapshot save` tests that need no etcd
# (hostile.sh, ssh_name.sh): a work dir $W, removed at exit with whatever
# the test started (the function named by $STOP, called first), and
# check DESCRIPTION COMMAND..., whose count of failures makes the exit
# status.  The test names itself in $NAME before sourcing this.  Bash.
set -uo pipefail
W=$(mktemp -d "/tmp/edr-$NAME.XXXXXX")
STOP=${STOP:-true}
PASSED=0 FAILED=0
cleanup() {
  "$STOP"
  rm -rf "$W"
  echo "$NAME.sh: $PASSED passed, $FAILED failed"
  ((FAILED == 0 && PASSED > 0))
}
trap 'cleanup; exit $?' EXIT
check() { local d=$1; shift; if "$@"; then PASSED=$((PASSED + 1)); echo "ok   $d";
          else FAILED=$((FAILED + 1)); echo "FAIL $d"; sed 's/^/    /' "$W/err"; fi; }
