# The relay between hosts (docs/transfer.md).
#   test_relay   unit: the stream's AES-256-GCM records; tamper, truncation,
#                replay, reorder, another key
add_executable(test_relay ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_relay.c)
target_link_libraries(test_relay PRIVATE edr_common)
add_test(NAME test_relay COMMAND test_relay)
set_tests_properties(test_relay PROPERTIES LABELS unit)
