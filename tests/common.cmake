# The shared code's small types (common/): the growable string, the
# error carrier and the growable array.  Pure logic, no root (label unit).
edr_unit_test(test_str LIBS edr_common PkgConfig::LIBUV)
edr_unit_test(test_array LIBS edr_common PkgConfig::LIBUV)
