# The shared code's small types (common/): the growable string, the
# error carrier and the growable array.  Pure logic, no root (label unit).
add_executable(test_str ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_str.c)
target_include_directories(test_str PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/unit)
target_link_libraries(test_str PRIVATE edr_common PkgConfig::LIBUV)
add_test(NAME test_str COMMAND test_str)
set_tests_properties(test_str PROPERTIES LABELS unit)
add_executable(test_array ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_array.c)
target_include_directories(test_array PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/unit)
target_link_libraries(test_array PRIVATE edr_common PkgConfig::LIBUV)
add_test(NAME test_array COMMAND test_array)
set_tests_properties(test_array PROPERTIES LABELS unit)
