#!/usr/bin/env python3
"""tamper_proxy.py LISTEN_IP PORT TARGET_IP OFFSET - a TCP proxy for the
relay test: every connection to LISTEN_IP:PORT is passed on to
TARGET_IP:PORT both ways, and the byte at OFFSET of what the client sends
(counted per connection) is flipped on the way: a byte changed between two
hosts.  Connections shorter than OFFSET (the check phase's) pass intact."""
import socket
import sys
import threading
import time

listen_ip, port, target, offset = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])


def pipe(src, dst, flip):
    seen = 0
    try:
        while True:
            b = src.recv(65536)
            if not b:
                break
            if flip and seen <= offset < seen + len(b):
                b = bytearray(b)
                b[offset - seen] ^= 0x01
                b = bytes(b)
            seen += len(b)
            dst.sendall(b)
    except OSError:
        pass
    for s in (src, dst):
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind((listen_ip, port))
srv.listen(8)
while True:
    c, _ = srv.accept()
    u = None
    for _ in range(100):  # the target's listener may open a little later
        try:
            u = socket.create_connection((target, port), timeout=10)
            break
        except OSError:
            time.sleep(0.1)
    if u is None:
        c.close()
        continue
    u.settimeout(None)
    threading.Thread(target=pipe, args=(c, u, True), daemon=True).start()
    threading.Thread(target=pipe, args=(u, c, False), daemon=True).start()
