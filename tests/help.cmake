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
