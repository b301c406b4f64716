# The relay between hosts (docs/transfer.md).
#   test_relay   unit: the stream's AES-256-GCM records; tamper, truncation,
#                replay, reorder, another key
edr_unit_test(test_relay LIBS edr_common)
