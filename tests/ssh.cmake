# The SSH layer's known_hosts reader, without a network: hashed lines with
# overlong salts and hashes (libcrypto's decode interposed to measure it).
add_executable(test_ssh_known_hosts ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_ssh_known_hosts.c)
target_include_directories(test_ssh_known_hosts PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/unit)
target_link_libraries(test_ssh_known_hosts PRIVATE edr_transport ${CMAKE_DL_LIBS})
add_test(NAME test_ssh_known_hosts COMMAND test_ssh_known_hosts)
set_tests_properties(test_ssh_known_hosts PROPERTIES LABELS unit)
