# The SSH layer's known_hosts reader, without a network: hashed lines with
# overlong salts and hashes (libcrypto's decode interposed to measure it).
edr_unit_test(test_ssh_known_hosts LIBS edr_transport ${CMAKE_DL_LIBS})
