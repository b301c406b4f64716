#!/usr/bin/env python3
"""slow_proxy.py - a TCP proxy for the end-to-end tests that answers late once.

It listens on 127.0.0.1 (a free port, written to PORTFILE), forwards every
connection to TARGET (host:port, a real etcd member's client URL), and holds
back the first connection's reply for DELAY seconds.  When it accepts that
connection and when it lets the reply through are logged to LOG as
"accept EPOCH" and "release EPOCH", so a test can check what happened
around that moment.  Every later connection goes straight through.

Used by variants.sh to make etcd-dr's leader lookup (one HTTP ask per
running member, done on a worker thread while the hosts prepare) finish
only after prepare is over, the path where the run waits for it.

  slow_proxy.py --tag TAG TARGET DELAY PORTFILE LOG

TAG only names the process, so a test can remove a proxy left over by an
earlier crashed run of its own (pkill -f "slow_proxy.py --tag TAG").
"""
import os
import socket
import sys
import threading
import time


def pump(src, dst, hold_until=None, log=None):
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            if hold_until is not None:
                wait = hold_until - time.time()
                if wait > 0:
                    time.sleep(wait)
                with open(log, "a") as f:
                    f.write("release %.6f\n" % time.time())
                hold_until = None
            dst.sendall(data)
    except OSError:
        pass
    finally:
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def main():
    if len(sys.argv) != 7 or sys.argv[1] != "--tag":
        sys.exit("usage: slow_proxy.py --tag TAG TARGET DELAY PORTFILE LOG")
    target, delay, portfile, log = sys.argv[3], float(sys.argv[4]), sys.argv[5], sys.argv[6]
    host, port = target.rsplit(":", 1)
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", 0))
    ls.listen(64)
    with open(portfile + ".tmp", "w") as f:
        f.write("%d\n" % ls.getsockname()[1])
    os.rename(portfile + ".tmp", portfile)
    first = True
    while True:
        c, _ = ls.accept()
        now = time.time()
        try:
            u = socket.create_connection((host, int(port)), timeout=5)
            u.settimeout(None)
        except OSError:
            c.close()
            continue
        hold = None
        if first:
            with open(log, "a") as f:
                f.write("accept %.6f\n" % now)
            hold = now + delay
            first = False
        threading.Thread(target=pump, args=(c, u), daemon=True).start()
        threading.Thread(target=pump, args=(u, c, hold, log), daemon=True).start()


if __name__ == "__main__":
    main()
