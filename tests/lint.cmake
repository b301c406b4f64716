# Lints of the shell in tests/ and scripts/ (tests/lint/*.sh say what each
# one checks).  Unit: they read files only.
add_test(NAME lint_pipes
         COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/lint/pipes.sh ${CMAKE_SOURCE_DIR})
set_tests_properties(lint_pipes PROPERTIES LABELS unit TIMEOUT 60)
