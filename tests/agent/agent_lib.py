"""agent_lib.py - what every agent test case uses: the agent under test
(AGENT, its emulator and architecture), a running agent spoken to over its
JSON-lines protocol (Agent), and the check counters main() reports."""
import fcntl
import hashlib
import json
import os
import select
import shutil
import signal
import socket
import stat
import struct
import subprocess
import sys
import tempfile
import time

AGENT = os.path.abspath(sys.argv[1]) if len(sys.argv) > 1 else ""
EMULATOR = os.environ.get("EDR_AGENT_EMULATOR", "").split()
ARCH = os.environ.get("EDR_AGENT_ARCH") or os.uname().machine
SKIP = 77
failures = 0
checks = 0


def check(cond, what, detail=None):
    global failures, checks
    checks += 1
    if cond:
        return True
    failures += 1
    print("FAIL: %s%s" % (what, "" if detail is None else ": %r" % (detail,)),
          file=sys.stderr)
    return False


def skip(why):
    print("SKIP: " + why)
    sys.exit(SKIP)


class Agent:
    """One agent process in its own etcd-dr.XXXXXXXX directory."""

    def __init__(self, base, prefix="etcd-dr.", env=None, wrapper=()):
        self.dir = tempfile.mkdtemp(prefix=prefix, dir=base)
        self.exe = os.path.join(self.dir, "etcd-dr-agent")
        shutil.copy(AGENT, self.exe)
        os.chmod(self.exe, 0o700)
        self.p = subprocess.Popen(list(wrapper) + EMULATOR + [self.exe], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, env=env, cwd=base)
        self.next_id = 1
        self.events = []

    def send(self, data):
        self.p.stdin.write(data)
        self.p.stdin.flush()

    def reply(self):
        """The final reply of the current request; events go to self.events."""
        self.events = []
        while True:
            line = self.p.stdout.readline()
            if not line:
                raise RuntimeError("agent closed stdout (exit %r)" % self.p.poll())
            msg = json.loads(line)
            if "event" in msg:
                self.events.append(msg)
                continue
            return msg

    def request(self, op, **fields):
        rid = self.next_id
        self.next_id += 1
        fields.update(op=op, id=rid)
        return (json.dumps(fields) + "\n").encode(), rid

    def call(self, op, **fields):
        line, rid = self.request(op, **fields)
        self.send(line)
        r = self.reply()
        check(r.get("id") == rid, "reply id echoes request id", r)
        return r

    def close(self, timeout=10):
        try:
            self.p.stdin.close()
        except BrokenPipeError:
            pass
        return self.p.wait(timeout)


def ok(r, what):
    return check(r.get("ok") is True, what, r)


def err(r, code, what, *needles):
    good = check(r.get("ok") is False and r.get("error", {}).get("code") == code,
                 what + " fails with " + code, r)
    msg = r.get("error", {}).get("message", "")
    for n in needles:
        good = check(n in msg, "%s: message names %r" % (what, n), msg) and good
    check(msg == msg.lower() or any(c.isupper() for n in needles for c in n),
          what + ": message is lowercase", msg)
    return good


def sha(b):
    return hashlib.sha256(b).hexdigest()


def write(path, data, mode=0o644):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)
    os.chmod(path, mode)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


# ---- cases ------------------------------------------------------------------
