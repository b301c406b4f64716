#!/usr/bin/env python3
"""mutate.py BASE OUTDIR - write a corpus of broken copies of the sound
bbolt file BASE into OUTDIR, and OUTDIR/MANIFEST: one line per file,
"NAME STATUS" where STATUS is "fail" when `snapshot status` must fail too
(the damage is on a page status reads) or "any" when only `verify` must
(a bad meta page that bbolt would skip), or "trailer" for a sound image
whose trailer was cut: only `verify` without --skip-hash-check fails it.
`verify --skip-hash-check` must reject every other file.  The base is trusted: a small walker finds the pages
worth breaking (reachable branch and leaf pages, at most 16, 6 in a big file)."""
import os
import random
import struct
import sys

base, out = sys.argv[1], sys.argv[2]
data = open(base, "rb").read()
os.makedirs(out, exist_ok=True)
stem = os.path.basename(base).rsplit(".", 1)[0]
manifest = open(os.path.join(out, "MANIFEST"), "a")
has_trailer = len(data) % 512 == 32
image = data[:-32] if has_trailer else data

magic, version, ps = struct.unpack_from("<III", image, 16)
root, = struct.unpack_from("<Q", image, 32)
pgid, = struct.unpack_from("<Q", image, 56)


def hdr(pid):
    return struct.unpack_from("<QHHI", image, pid * ps)


reach = []  # (page id, flags)


def walk(pid, depth=0):
    _, flags, count, overflow = hdr(pid)
    reach.append((pid, flags))
    off = pid * ps
    for i in range(count):
        e = off + 16 + 16 * i
        if flags == 1:
            walk(struct.unpack_from("<Q", image, e + 8)[0], depth + 1)
        else:
            f, pos, ks, vs = struct.unpack_from("<IIII", image, e)
            if f & 1:
                v = e + pos + ks
                broot, = struct.unpack_from("<Q", image, v)
                if broot:
                    walk(broot, depth + 1)


walk(root)
n = 0


def emit(name, buf, status):
    global n
    fn = "%s-%s" % (stem, name)
    with open(os.path.join(out, fn), "wb") as f:
        f.write(buf)
    manifest.write("%s %s\n" % (fn, status))
    n += 1


def patch(fmt, off, val):
    b = bytearray(data)
    struct.pack_into(fmt, b, off, val)
    return bytes(b)


# Cuts: inside and at the edges of the meta pages and of pages further on.
size = len(image)
cuts = {0, 1, 15, 16, 79, 80, ps - 1, ps, ps + 80, 2 * ps - 1, 2 * ps,
        2 * ps + 100, size // 2, size - ps, size - ps + 1, size - 1}
cuts |= {random.Random(len(data)).randrange(2 * ps, size) for _ in range(6)}
for c in sorted(x for x in cuts if 0 <= x < size):
    emit("cut%d" % c, data[:c], "fail")
if has_trailer:
    # Sound images without a trailer: only a hash-checking verify fails.
    emit("cuttrailer", data[:-1], "trailer")  # bytes left over
    emit("notrailer", image, "trailer")

# Meta pages: one bad meta is survivable (status may use the other), both not.
for field, off in (("magic", 0), ("version", 4), ("pagesize", 8), ("root", 16),
                   ("pgid", 40), ("txid", 48), ("checksum", 56)):
    b0 = bytearray(data)
    b0[16 + off] ^= 0x41
    emit("meta0-" + field, bytes(b0), "any")
    b1 = bytearray(data)
    b1[ps + 16 + off] ^= 0x41
    emit("meta1-" + field, bytes(b1), "any")
    b0[ps + 16 + off] ^= 0x41
    emit("metaboth-" + field, bytes(b0), "fail")

# Reachable pages: ids, overflow, counts, element offsets, children.
rng = random.Random(7)
cap = 16 if len(data) < (1 << 20) else 6  # big bases: fewer multi-MB copies
pages = reach if len(reach) <= cap else reach[:cap // 2] + rng.sample(reach[cap // 2:], cap // 2)
for pid, flags in pages:
    off = pid * ps
    emit("p%d-id" % pid, patch("<Q", off, pid + 1), "fail")
    emit("p%d-flags" % pid, patch("<H", off + 8, 0x40), "fail")
    emit("p%d-count" % pid, patch("<H", off + 10, 0xFFFF), "fail")
    emit("p%d-hugeoverflow" % pid, patch("<I", off + 12, 0xFFFFFFF0), "fail")
    emit("p%d-pastend" % pid, patch("<I", off + 12, pgid - pid), "fail")
    if hdr(pid)[2] == 0:
        continue
    if flags == 1:
        emit("p%d-child-range" % pid, patch("<Q", off + 24, 0xFFFFFFFFFF), "fail")
        emit("p%d-child-cycle" % pid, patch("<Q", off + 24, pid), "fail")
        emit("p%d-child-meta" % pid, patch("<Q", off + 24, 1), "fail")
        emit("p%d-keysize" % pid, patch("<I", off + 20, 0xFFFFFFFF), "fail")
    else:
        emit("p%d-pos" % pid, patch("<I", off + 20, 0xFFFFFFF0), "fail")
        emit("p%d-ksize" % pid, patch("<I", off + 24, 0x7FFFFFFF), "fail")
        emit("p%d-vsize" % pid, patch("<I", off + 28, 0xFFFFFFFF), "fail")
print("mutate: %d files from %s (%d reachable pages)" % (n, base, len(reach)))
