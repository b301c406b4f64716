#!/usr/bin/env bash
# install.sh CMAKE BUILD_DIR - `cmake --install BUILD --prefix P` into a fresh
# temporary prefix gives what a user of the package looks for: the two
# binaries, the shipped playbooks where `etcd-dr run NAME` finds them (the
# installed etcd-dr names them from P, not from the source tree), the docs,
# the man page and the bash and zsh completion scripts; and those scripts
# complete a command, an option, an option's value and a playbook's name
# (bash as bash calls it, zsh with compadd and _files standing in).
set -uo pipefail
cmake=$1 build=$2
P=$(mktemp -d /tmp/edr-install.XXXXXX) || exit 1
trap 'rm -rf "$P"' EXIT
pass=0 fail=0
check() {
  local name=$1
  shift
  if "$@"; then pass=$((pass + 1)); echo "ok   $name"; else fail=$((fail + 1)); echo "FAIL $name"; fi
}

"$cmake" --install "$build" --prefix "$P" >"$P.log" 2>&1
check "cmake --install --prefix: exit 0" test $? = 0
cat "$P.log" >&2
rm -f "$P.log"
for f in bin/etcd-dr bin/etcd-dr-agent share/etcd-dr/playbooks/replace-member.json \
  share/etcd-dr/playbooks/restore.json share/etcd-dr/playbooks/README.md \
  share/man/man1/etcd-dr.1 share/doc/etcd-dr/README.md share/doc/etcd-dr/exit-codes.md \
  share/doc/etcd-dr/playbook.schema.json share/bash-completion/completions/etcd-dr \
  share/zsh/site-functions/_etcd-dr; do
  check "installed: $f" test -s "$P/$f"
done
check "installed: bin/etcd-dr runs" sh -c '"$1" --version >/dev/null' _ "$P/bin/etcd-dr"

# the installed etcd-dr finds the installed playbooks, by name
export HOME=$P XDG_STATE_HOME=$P
unset ETCD_DR_PLAYBOOKS
list=$("$P/bin/etcd-dr" run --list -w simple)
check "run --list: replace-member from the prefix" \
  grep -qx "replace-member,$P/share/etcd-dr/playbooks/replace-member.json" <<<"$list"
check "run --list: five playbooks, none from the source tree" \
  test "$(grep -c ",$P/share/etcd-dr/playbooks/" <<<"$list")" = 5
cat >"$P/c.json" <<'EOF'
{"members": [
  {"name": "a", "peer_urls": ["http://10.0.0.1:2380"], "env_file": "/etc/default/etcd"},
  {"name": "b", "peer_urls": ["http://10.0.0.2:2380"], "env_file": "/etc/default/etcd"},
  {"name": "c", "peer_urls": ["http://10.0.0.3:2380"], "env_file": "/etc/default/etcd"}]}
EOF
out=$("$P/bin/etcd-dr" run replace-member --var member=b --cluster "$P/c.json" --dry-run -w json)
check "run replace-member --dry-run (by name, installed): the playbook's plan" \
  python3 -c 'import json,sys; d=json.loads(sys.argv[1])
sys.exit("replace-member" not in json.dumps(d["playbook"]) or
         "remove" not in [s["name"] for s in d["stages"]])' "$out"
ETCD_DR_PLAYBOOKS=$P/none "$P/bin/etcd-dr" run --list -w simple >/dev/null
check "ETCD_DR_PLAYBOOKS pointing nowhere: the prefix still answers" test $? = 0

# bash: as bash calls the function (COMP_WORDS, COMP_CWORD)
bcomp() {
  bash -c '. "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _etcd_dr
           printf "%s\n" "${COMPREPLY[@]}"' _ "$P/share/bash-completion/completions/etcd-dr" "$@"
}
check "bash: 'etcd-dr res' -> restore" test "$(bcomp "$P/bin/etcd-dr" res)" = restore
check "bash: 'etcd-dr restore --health-t' -> --health-timeout" \
  test "$(bcomp "$P/bin/etcd-dr" restore --health-t)" = --health-timeout
check "bash: 'etcd-dr status -w j' -> json" test "$(bcomp "$P/bin/etcd-dr" status -w j)" = json
check "bash: 'etcd-dr snapshot save --vi' -> --via" \
  test "$(bcomp "$P/bin/etcd-dr" snapshot save --vi)" = --via
check "bash: 'etcd-dr run repl' -> replace-member" \
  test "$(bcomp "$P/bin/etcd-dr" run repl)" = replace-member
check "bash: 'etcd-dr snapshot st' -> status" test "$(bcomp "$P/bin/etcd-dr" snapshot st)" = status

# zsh: the function with words/CURRENT set and compadd printing what it adds
zcomp() {
  zsh -f -c 'compadd() { [[ $1 == -- ]] && shift; print -l -- "$@"; }
             _files() { print -- "<files>"; }
             script=$1; shift; words=("$@"); CURRENT=$#
             source "$script" >/dev/null 2>&1; _etcd-dr' _ \
    "$P/share/zsh/site-functions/_etcd-dr" "$@"
}
if command -v zsh >/dev/null; then
  check "zsh: 'etcd-dr res' offers restore" grep -qx restore <<<"$(zcomp "$P/bin/etcd-dr" res)"
  check "zsh: 'etcd-dr plan --' offers --write-out and --cluster" \
    sh -c 'grep -qx -- --write-out && true' <<<"$(zcomp "$P/bin/etcd-dr" plan --)"
  check "zsh: 'etcd-dr status -w ' offers table json simple" \
    test "$(zcomp "$P/bin/etcd-dr" status -w '' | tr '\n' ' ')" = "table json simple "
  check "zsh: 'etcd-dr run r' offers replace-member" \
    grep -qx replace-member <<<"$(zcomp "$P/bin/etcd-dr" run r)"
else
  check "zsh is installed (scripts/deps.sh)" false
fi

echo "install: $pass passed, $fail failed"
exit $((fail > 0))
