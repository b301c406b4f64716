# The bbolt reader and `etcd-dr snapshot status|verify`.
#   test_bbolt            unit: hand-built tiny bbolt images (label unit)
#   snapshot_corrupt      unit: a corpus of truncated and corrupted copies of
#                         a hand-built image must fail cleanly
#   snapshot_hostile      unit: member entries crafted with terminal escapes
#                         reach the terminal escaped (the binary users run)
#   snapshot_compat       etcd: real etcd 3.4 (and 3.5) on loopback makes
#                         snapshots; our output must equal etcdctl 3.4's and
#                         etcdutl 3.5's (label etcd: needs etcd installed)
#   snapshot_corrupt_real etcd: the corrupt corpus made from those snapshots
# Run under -DEDR_SANITIZE=ON too: corrupt.sh fails on any sanitizer report.
set(EDR_SNAP_DIR ${CMAKE_SOURCE_DIR}/tests/snapshot)

# cmd_snapshot() alone, built from the shipped source (see driver.c).
add_executable(edr-snapshot ${EDR_SNAP_DIR}/driver.c
               ${CMAKE_SOURCE_DIR}/orchestrator/cmd/cmd_snapshot.c)
target_include_directories(edr-snapshot PRIVATE ${CMAKE_SOURCE_DIR}/orchestrator/cmd)
target_link_libraries(edr-snapshot PRIVATE edr_common)

edr_unit_test(test_bbolt LIBS edr_common)

add_test(NAME snapshot_corrupt
         COMMAND ${EDR_SNAP_DIR}/corrupt.sh $<TARGET_FILE:edr-snapshot>
                 ${CMAKE_CURRENT_BINARY_DIR}/snapshot-corrupt
                 $<TARGET_FILE:test_bbolt>)
set_tests_properties(snapshot_corrupt PROPERTIES LABELS unit TIMEOUT 300)

add_test(NAME snapshot_hostile
         COMMAND ${EDR_SNAP_DIR}/hostile.sh "$<TARGET_FILE:etcd-dr> snapshot"
                 $<TARGET_FILE:test_bbolt> ${CMAKE_CURRENT_BINARY_DIR}/snapshot-hostile)
set_tests_properties(snapshot_hostile PROPERTIES LABELS unit TIMEOUT 60)

set(EDR_SNAP_FIXTURES ${CMAKE_CURRENT_BINARY_DIR}/snapshot-fixtures)
# The binary users run, the way they run it.
add_test(NAME snapshot_compat
         COMMAND ${EDR_SNAP_DIR}/compat.sh "$<TARGET_FILE:etcd-dr> snapshot"
                 ${EDR_SNAP_FIXTURES})
set_tests_properties(snapshot_compat PROPERTIES LABELS etcd TIMEOUT 900
                     SKIP_RETURN_CODE 77 FIXTURES_SETUP snapshot_fixtures)

add_test(NAME snapshot_corrupt_real
         COMMAND ${EDR_SNAP_DIR}/corrupt.sh $<TARGET_FILE:edr-snapshot>
                 ${CMAKE_CURRENT_BINARY_DIR}/snapshot-corrupt-real
                 $<TARGET_FILE:test_bbolt> ${EDR_SNAP_FIXTURES})
set_tests_properties(snapshot_corrupt_real PROPERTIES LABELS etcd TIMEOUT 900
                     FIXTURES_REQUIRED snapshot_fixtures)
