#!/usr/bin/env python3
"""hostile.py BASE OUT - copy the hand-built bbolt image BASE (test_bbolt
--write-image) to OUT with its one member entry made hostile, in place
(same lengths, so the file stays sound): a key that is not UTF-8 and holds
an escape sequence, a name and a peer URL full of terminal controls (ESC
sequences that set the window title and clear the screen, BEL, a C1 CSI, a
right-to-left override).  What `etcd-dr snapshot status` prints of it must
show those bytes, escaped, and obey none."""
import sys

base, out = sys.argv[1], sys.argv[2]
data = bytearray(open(base, "rb").read())
key = b"8e9e05c52164694d"
val = (b'{"id":10276657743932975437,"peerURLs":["http://localhost:2380"],'
       b'"name":"default"}')
for old in (key, val):
    if data.count(old) != 1:
        sys.exit("hostile.py: the base image does not hold the member entry once")
new_key = b"\xff\xfe\x1b[2J" + b"a" * 10
new_val = (b'{"id":1,"peerURLs":["\\u001b]2;pwn\\u0007"],'
           b'"name":"\\u001b[2J\\u009b1m\\u202ex"}')
new_val = new_val[:-1] + b" " * (len(val) - len(new_val)) + b"}"
assert len(new_key) == len(key) and len(new_val) == len(val), (len(new_val), len(val))
data[data.index(key):data.index(key) + len(key)] = new_key
data[data.index(val):data.index(val) + len(val)] = new_val
open(out, "wb").write(bytes(data))
