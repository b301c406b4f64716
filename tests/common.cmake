# The shared code's small types (common/): the growable string, the
# error carrier and the growable array.  Pure logic, no root (label unit).
edr_unit_test(test_str LIBS edr_common PkgConfig::LIBUV)
edr_unit_test(test_array LIBS edr_common PkgConfig::LIBUV)
# The chunked transfer decoder, alone and in front of the snapshot stream
# decoder, as the agent's etcd-snapshot op reads etcd's answer.
edr_unit_test(test_httpchunk LIBS edr_common PkgConfig::LIBUV)
edr_unit_test(test_jsonwipe LIBS edr_common)
