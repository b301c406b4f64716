#!/usr/bin/env bash
# pipes.sh - a lint for the shell in tests/ and scripts/: no pipe into a
# reader that may stop reading before its writer is done (grep -q, grep -m,
# grep -l, head, sed with q, awk with exit).  The writer then dies of SIGPIPE
# or not, depending on timing, and under `set -o pipefail` the pipeline fails
# although the reader found what it looked for: a test or script that takes
# the wrong branch at random.  Capture, then match, so that the reader never
# stops a writer:
#   grep -q PAT <<<"$(cmd)"        instead of   cmd | grep -q PAT
#   cmd | sed -n 1p                instead of   cmd | head -1
# The rule holds in every shell file, with or without pipefail (a file may
# be sourced by one that sets it).  Exit 0 when clean; otherwise each
# offending line, and exit 1.
#
# Usage: pipes.sh [SOURCE_DIR]   (default: the repository holding this file)
set -uo pipefail
src=${1:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}

# A single | (not ||), then a reader that may exit early.
readers='(?<![|])\|(?![|])\s*(grep\b[^|]*?\s-(\w*[qml]\w*|-quiet|-silent|-max-count\S*|-files-with\S*)(\s|$)|head\b|sed\b[^|]*?(\bq\b|;q\b|\dq\b)|awk\b[^|]*\bexit\b)'

files=()
while IFS= read -r -d '' f; do
  case $f in
    *.sh | *.cmake) files+=("$f") ;;
    *) [[ $(sed -n 1p "$f" 2>/dev/null) == '#!'*sh* ]] && files+=("$f") ;;
  esac
done < <(find "$src/tests" "$src/scripts" -type f ! -path "$src/tests/lint/pipes.sh" -print0)

hits=$(grep -nHP -- "$readers" "${files[@]}" | grep -vP '^[^:]+:\d+:\s*#')
if [[ -n $hits ]]; then
  printf '%s\n' "$hits"
  n=$(grep -c . <<<"$hits")
  echo "pipes: $n line(s) pipe into a reader that may exit early (SIGPIPE under pipefail);" \
    "capture, then match: grep -q PAT <<<\"\$(cmd)\", or sed -n 1p for head -1" >&2
  exit 1
fi
echo "pipes: ${#files[@]} shell files, no pipe into an early-exiting reader"
