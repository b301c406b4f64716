# What `etcd-dr plan`, `run --dry-run` and `rollback -v` print for the
# shipped playbooks and a sample spec, byte for byte (tests/golden/golden.sh
# says what it makes stable).  Contacts no host; no root.
add_test(NAME golden_plans
         COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/golden/golden.sh $<TARGET_FILE:etcd-dr>
                 $<TARGET_FILE:test_bbolt> ${CMAKE_CURRENT_BINARY_DIR}/golden)
set_tests_properties(golden_plans PROPERTIES LABELS unit)
