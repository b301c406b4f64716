# Help that matches: docs/etcd-dr.1, every command's --help, docs/*.md and
# what the program accepts agree, both ways (tests/help/check_help.py says
# what exactly is checked).  Unit: runs the built etcd-dr with bad or no
# cluster options only, so it contacts nothing; needs groff (groff-base).
find_package(Python3 COMPONENTS Interpreter REQUIRED)
add_test(NAME help_matches
         COMMAND Python3::Interpreter ${CMAKE_CURRENT_SOURCE_DIR}/help/check_help.py
                 --etcd-dr $<TARGET_FILE:etcd-dr> --source ${CMAKE_SOURCE_DIR})
set_tests_properties(help_matches PROPERTIES LABELS unit TIMEOUT 120)
# What a typo gets, word for word: did-you-mean for commands, verbs,
# options and spec fields; --initial-cluster pasted from an env file; a name
# given two hosts; a URL's problem named (tests/help/hints.py).
add_test(NAME cli_hints
         COMMAND Python3::Interpreter ${CMAKE_CURRENT_SOURCE_DIR}/help/hints.py
                 --etcd-dr $<TARGET_FILE:etcd-dr>)
set_tests_properties(cli_hints PROPERTIES LABELS unit TIMEOUT 60)
# The option table as a user meets it, word for word: durations, -w,
# ETCDCTL_* with flags winning, playbooks by name, the error prefix
# (tests/help/options.py).  Contacts only closed ports on 127.0.0.1.
add_test(NAME cli_options
         COMMAND Python3::Interpreter ${CMAKE_CURRENT_SOURCE_DIR}/help/options.py
                 --etcd-dr $<TARGET_FILE:etcd-dr>)
set_tests_properties(cli_options PROPERTIES LABELS unit TIMEOUT 120)
# docs/exit-codes.md is true of every command: each --help names exactly
# its statuses, and 2, 3, 4, 8 are produced for real on 127.0.0.1.
add_test(NAME exit_codes
         COMMAND Python3::Interpreter ${CMAKE_CURRENT_SOURCE_DIR}/help/exit_codes.py
                 --etcd-dr $<TARGET_FILE:etcd-dr> --source ${CMAKE_SOURCE_DIR})
set_tests_properties(exit_codes PROPERTIES LABELS unit TIMEOUT 120)
# cmake --install into a temporary prefix: binaries, playbooks found by
# name from the prefix, docs, man page, bash and zsh completion that
# complete a command, an option, a value and a playbook (needs zsh).
add_test(NAME install_layout
         COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/help/install.sh ${CMAKE_COMMAND}
                 ${CMAKE_BINARY_DIR})
set_tests_properties(install_layout PROPERTIES LABELS unit TIMEOUT 120)
