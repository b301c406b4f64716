# The bbolt reader's libFuzzer target, run for a bounded time over the
# corpus (tests/fuzz/run.sh builds it with clang in its own directory).
find_program(EDR_CLANG clang)
if(EDR_CLANG)
  add_test(NAME fuzz_bbolt_bounded
           COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/run.sh 60
                   ${CMAKE_BINARY_DIR}/fuzz-build)
  set_tests_properties(fuzz_bbolt_bounded PROPERTIES LABELS fuzz TIMEOUT 900)
endif()
# The spec parser's, its YAML loader's and the playbook compiler's targets,
# 30 s each, in their own build directory (they share nothing with a run of
# the bbolt target).
if(EDR_CLANG)
  foreach(t spec playbook spec_yaml etcdconf snapstream)
    add_test(NAME fuzz_${t}_bounded
             COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/run.sh 30
                     ${CMAKE_BINARY_DIR}/fuzz-build-plan ${t})
    set_tests_properties(fuzz_${t}_bounded PROPERTIES LABELS fuzz TIMEOUT 900
                         RESOURCE_LOCK fuzz-build-plan)
  endforeach()
endif()
