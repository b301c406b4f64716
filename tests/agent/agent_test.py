#!/usr/bin/env python3
"""agent_test.py - drives the built etcd-dr-agent over its JSON-lines protocol
(docs/agent-protocol.md) in temporary directories, the way the coordinator
does: the binary is copied into a fresh "etcd-dr.XXXXXXXX" directory and
spoken to on stdin/stdout.

Usage: agent_test.py AGENT_BINARY CASE    (exit 0 pass, 1 fail, 77 skip)

An agent built for another architecture (the aarch64 one, tests/agent.cmake)
runs under qemu-user: EDR_AGENT_EMULATOR names the emulator put before the
binary, EDR_AGENT_ARCH the `uname -m` the agent reports there.
"""
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

def case_hello(base):
    a = Agent(base)
    r = a.call("hello", run_id="r1", host="h1")
    if ok(r, "hello"):
        res = r["result"]
        with open(AGENT, "rb") as f:
            check(res["sha256"] == sha(f.read()), "hello sha256 is the binary's", res)
        check(res["uid"] == os.geteuid(), "hello uid", res)
        check(res["arch"] == ARCH, "hello arch", res)
        check(res["hostname"] == socket.gethostname(), "hello hostname", res)
        check(abs(res["time"] - time.time()) < 5, "hello time", res)
        check(isinstance(res["version"], str) and res["version"], "hello version", res)
    # Protocol errors keep the agent serving.
    a.send(b"this is not json\n")
    r = a.reply()
    err(r, "EDR_EPROTO", "bad json")
    check(r.get("id") is None, "bad json has id null", r)
    err(a.call("no-such-op"), "EDR_EPROTO", "unknown op", "no-such-op")
    a.send(b"[1,2]\n")
    err(a.reply(), "EDR_EPROTO", "non-object request")
    a.send(b'{"op":"hello","id":' + b" " * (1024 * 1024 + 10) + b"7}\n")
    err(a.reply(), "EDR_ETOOBIG", "overlong line")
    a.send(b"\n")  # empty lines are ignored
    ok(a.call("hello"), "hello after protocol errors")
    err(a.call("remove", path="relative/.etcd-dr-x"), "EDR_EINVAL",
        "relative path", "relative/.etcd-dr-x")
    check(a.close() == 0, "exit status 0 at eof")

    # Static, and fine with an empty environment (no PATH at all).
    out = subprocess.run(["file", "-L", AGENT], capture_output=True, text=True).stdout \
        if shutil.which("file") else None
    if out is not None:
        check("statically linked" in out, "file says statically linked", out)
    with open(AGENT, "rb") as f:
        elf = f.read(64)
        phoff, = struct.unpack_from("<Q", elf, 32)
        phentsize, phnum = struct.unpack_from("<HH", elf, 54)
        f.seek(phoff)
        ph = f.read(phentsize * phnum)
    interp = [i for i in range(phnum) if struct.unpack_from("<I", ph, i * phentsize)[0] == 3]
    check(not interp, "no PT_INTERP: needs no dynamic loader")
    a = Agent(base, env={})
    r = a.call("run", argv=["sh", "-c", "echo $PATH"], env=None, timeout_ms=5000)
    if ok(r, "run with an empty environment"):
        check(r["result"]["stdout_tail"].strip() ==
              "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
              "default PATH", r)
    a.close()


FAKE_UTL = """#!/bin/sh
case "$*" in
  "snapshot restore --help") cat <<'EOF'
Restores an etcd member snapshot to an etcd directory

Usage:
  etcdutl snapshot restore <filename> --data-dir {output dir} [options] [flags]

Flags:
      --bump-revision uint                Add to the latest revision
      --data-dir string                   Path to the output data directory
  -h, --help                              help for restore
      --mark-compacted                    Mark the latest revision as compacted
      --skip-hash-check                   Ignore snapshot integrity hash value
      --wal-dir string                    Path to the WAL directory
      --wal-dir-extra string              not a restore flag we look for
EOF
  ;;
  version) echo "etcdutl version: 3.5.99"; echo "API version: 3.5";;
  *) exit 1;;
esac
"""

FAKE_CTL36 = """#!/bin/sh
case "$*" in
  "snapshot restore --help") echo "Usage: etcdctl snapshot <subcommand> [flags]"; echo "  save  status";;
  version) echo "etcdctl version: 3.6.0";;
esac
"""


def case_probe(base):
    tools = os.path.join(base, "tools")
    write(os.path.join(tools, "etcdutl"), FAKE_UTL.encode(), 0o755)
    ctl36 = os.path.join(base, "tools36", "etcdctl")
    write(ctl36, FAKE_CTL36.encode(), 0o755)
    data = os.path.join(base, "data")
    write(os.path.join(data, "member", "snap", "db"), b"\0" * 8192, 0o600)
    write(os.path.join(data, "member", "wal", "0000000000000000-0000000000000000.wal"),
          b"\0" * 4096, 0o600)
    os.chmod(data, 0o750)
    env = dict(os.environ, PATH=tools + ":/usr/bin:/bin")
    a = Agent(base, env=env)
    st = os.stat(data)
    r = a.call("probe", data_dir=data, wal_dir=None, restore_tool="auto",
               staging=os.path.join(base, ".etcd-dr-stage"))
    if ok(r, "probe fake data dir"):
        res = r["result"]
        t = res["tool"] or {}
        check(t.get("path") == os.path.join(tools, "etcdutl"), "auto finds etcdutl in PATH first", res)
        check(t.get("kind") == "etcdutl", "tool kind", t)
        check(t.get("version") == "3.5.99", "tool version", t)
        check(t.get("flags") == ["--wal-dir", "--skip-hash-check", "--bump-revision",
                                 "--mark-compacted"], "tool flags", t)
        check(res["tool_error"] is None, "no tool_error", res)
        d = res["data_dir"]
        check(d["exists"] is True and d["has_member"] is True, "data dir exists, has member", d)
        check(d["uid"] == st.st_uid and d["gid"] == st.st_gid and d["mode"] == "0750",
              "data dir owner and mode", d)
        check(d["mountpoint"] is False, "data dir not a mountpoint", d)
        check(d["revision"] is None, "revision null for a db that is no bbolt file", d)
        check(d["db_bytes"] == os.path.getsize(os.path.join(data, "member/snap/db")),
              "db_bytes is the size of member/snap/db", d)
        vfs = os.statvfs(data)
        check(abs(res["free_bytes"] - vfs.f_bavail * vfs.f_frsize) < 64 * 1024 * 1024,
              "free bytes", res)
        check(res["free_path"] == data, "free_path", res)
        check(res["etcd_running"] is False and res["etcd_lock"] is None, "not running", res)
        check(res["staging_exists"] is False, "staging does not exist", res)
        check(res["wal_dir"] is None, "wal_dir null", res)

    # A named tool, a 3.6-style etcdctl that cannot restore, a missing data dir.
    missing = os.path.join(base, "nope", "deeper")
    r = a.call("probe", data_dir=missing, wal_dir=os.path.join(base, "wal"),
               restore_tool=ctl36, staging=base)
    if ok(r, "probe missing data dir"):
        res = r["result"]
        check(res["tool"] is None, "3.6 etcdctl is not usable", res)
        check(ctl36 in (res["tool_error"] or "") and "--data-dir" in res["tool_error"],
              "tool_error says which and why", res)
        check(res["data_dir"]["exists"] is False and res["data_dir"]["has_member"] is False,
              "missing data dir", res)
        check(res["free_path"] == base, "free_path is the nearest existing ancestor", res)
        check(res["wal_dir"]["exists"] is False and res["wal_dir"]["path"] == os.path.join(base, "wal"),
              "wal_dir facts", res)
        check(res["staging_exists"] is True, "staging exists", res)
    r = a.call("probe", data_dir=data, wal_dir=None, restore_tool="etcdutl", staging=None)
    ok(r, "probe restore_tool etcdutl")
    a.close()
    # A 3.6-style etcdctl first in PATH is passed over, with a log event.
    a = Agent(base, env=dict(os.environ, PATH=os.path.dirname(ctl36) + ":/usr/bin:/bin"))
    r = a.call("probe", data_dir=data, wal_dir=None, restore_tool="etcdctl", staging=None)
    if ok(r, "probe etcdctl with an unusable one first"):
        check(any(ctl36 in e.get("message", "") and e.get("event") == "log"
                  and e.get("id") == r["id"] for e in a.events),
              "log event names the rejected tool", a.events)
        t = r["result"]["tool"]
        if os.path.exists("/usr/bin/etcdctl"):
            check(t and t["path"] == "/usr/bin/etcdctl", "the next etcdctl is taken", r)
        else:
            check(t is None and ctl36 in r["result"]["tool_error"], "tool_error", r)
    r = a.call("probe", data_dir=data, wal_dir=None, restore_tool="sh", staging=None)
    err(r, "EDR_EINVAL", "restore_tool not a name nor absolute", "sh")
    # Nothing usable anywhere (PATH and the usual directories lack etcdutl
    # unless installed there; accept either a found tool or a full tool_error).
    r = a.call("probe", data_dir=data, wal_dir=None, restore_tool="etcdutl",
               staging=None)
    if ok(r, "probe etcdutl by name") and r["result"]["tool"] is None:
        check("/usr/local/bin" in r["result"]["tool_error"], "tool_error lists where", r)
    # A data dir that is a file, and a mount point.
    f = os.path.join(base, "afile")
    write(f, b"x")
    r = a.call("probe", data_dir=f, wal_dir=None, restore_tool="auto", staging=None)
    err(r, "EDR_EINVAL", "data dir is a file", f, "regular file")
    check(r.get("result", {}).get("data_dir", {}).get("exists") is True,
          "probe of a file still reports facts", r)
    r = a.call("probe", data_dir="/proc", wal_dir=None, restore_tool="auto", staging=None)
    if ok(r, "probe /proc"):
        check(r["result"]["data_dir"]["mountpoint"] is True, "/proc is a mountpoint", r)
    a.close()


def case_probe_tools(base):
    a = Agent(base)
    ran = 0
    ctl = "/usr/bin/etcdctl"
    if os.path.exists(ctl):
        ran += 1
        r = a.call("probe", data_dir=base, wal_dir=None, restore_tool=ctl, staging=None)
        if ok(r, "probe etcdctl 3.4"):
            t = r["result"]["tool"] or {}
            check(t.get("kind") == "etcdctl", "3.4 kind", t)
            check((t.get("version") or "").startswith("3.4."), "3.4 version", t)
            check(t.get("flags") == ["--wal-dir", "--skip-hash-check"], "3.4 flags", t)
            print("3.4:", t)
    else:
        print("no /usr/bin/etcdctl (apt-get install etcd-client): 3.4 case skipped")
    utl = "/var/cache/etcd-dr/etcd-3.5/usr/bin/etcdutl"
    if os.path.exists(utl):
        ran += 1
        r = a.call("probe", data_dir=base, wal_dir=None, restore_tool=utl, staging=None)
        if ok(r, "probe etcdutl 3.5"):
            t = r["result"]["tool"] or {}
            check(t.get("kind") == "etcdutl", "3.5 kind", t)
            v = t.get("version") or ""
            check(v.startswith("3.5."), "3.5 version", t)
            fl = t.get("flags") or []
            check("--wal-dir" in fl and "--skip-hash-check" in fl, "3.5 flags", t)
            minor = int(v.split(".")[2]) if v.count(".") == 2 and v.split(".")[2].isdigit() else 0
            check(("--bump-revision" in fl) == (minor >= 10), "3.5 bump-revision by version", t)
            check(("--initial-memory-map-size" in fl) == (minor >= 14), "3.5 mmap flag by version", t)
            print("3.5:", t)
    else:
        print("no %s (scripts/get-etcd.sh puts it there): 3.5 case skipped" % utl)
    a.close()
    if not ran:
        skip("neither etcd 3.4's etcdctl nor 3.5's etcdutl is installed")


def case_receive(base):
    a = Agent(base)
    payload = os.urandom(3 * 1024 * 1024 + 17)
    dest = os.path.join(base, "new", "sub", "snap.db")
    # Request line and payload in one write: the line reader's leftover.
    line, rid = a.request("receive", path=dest, size=len(payload), sha256=sha(payload))
    a.send(line + payload)
    r = a.reply()
    if ok(r, "receive good hash"):
        check(r["result"] == {"bytes": len(payload), "sha256": sha(payload)}, "receive result", r)
        with open(dest, "rb") as f:
            check(f.read() == payload, "received bytes on disk")
        check(not os.path.exists(dest + ".part"), "no .part left")
        check(stat.S_IMODE(os.stat(dest).st_mode) == 0o600, "file mode 0600")
        check(stat.S_IMODE(os.stat(os.path.dirname(dest)).st_mode) == 0o700, "new parents 0700")

    # Bad hash: nothing left behind, stream in step.
    bad = os.path.join(base, "bad.db")
    line, rid = a.request("receive", path=bad, size=len(payload), sha256="0" * 64)
    a.send(line + payload)
    r = a.reply()
    err(r, "EDR_EHASH", "receive bad hash", bad, sha(payload), "0" * 64)
    check(r.get("result", {}).get("bytes") == len(payload), "bad hash still consumed all bytes", r)
    check(not os.path.exists(bad) and not os.path.exists(bad + ".part"), "bad file removed")
    ok(a.call("hello"), "stream in step after bad hash")

    # Split across reads, with the next request right behind the payload.
    small = os.urandom(200000)
    split = os.path.join(base, "split.db")
    line, rid = a.request("receive", path=split, size=len(small), sha256=sha(small))
    hello, hid = a.request("hello")
    a.send(line + small[:10])
    time.sleep(0.2)
    a.send(small[10:70000])
    time.sleep(0.2)
    a.send(small[70000:] + hello)
    ok(a.reply(), "receive split payload")
    r = a.reply()
    check(r.get("id") == hid and r.get("ok") is True, "request right after the payload", r)
    with open(split, "rb") as f:
        check(f.read() == small, "split payload on disk")

    # Existing target: refused, bytes consumed.
    r = a.call("receive", path=split, size=0, sha256=sha(b"")) if False else None
    line, rid = a.request("receive", path=split, size=5, sha256=sha(b"hello"))
    a.send(line + b"hello")
    err(a.reply(), "EDR_EEXIST", "receive over an existing file", split)
    with open(split, "rb") as f:
        check(f.read() == small, "existing file untouched")
    # A path ending with '/': refused, in step, nothing created.
    slash = os.path.join(base, "newdir") + "/"
    line, rid = a.request("receive", path=slash, size=3, sha256=sha(b"abc"))
    a.send(line + b"abc")
    err(a.reply(), "EDR_EINVAL", "receive to a path ending with /", slash)
    check(not os.path.exists(slash), "nothing created for a bad path")
    # Zero bytes, and a parent that is a file.
    empty = os.path.join(base, "empty")
    ok(a.call("receive", path=empty, size=0, sha256=sha(b"")), "receive empty")
    check(os.path.exists(empty) and os.path.getsize(empty) == 0, "empty file")
    line, rid = a.request("receive", path=os.path.join(empty, "x"), size=3, sha256=sha(b"abc"))
    a.send(line + b"abc")
    err(a.reply(), "EDR_EEXIST", "receive under a file", empty)
    ok(a.call("hello"), "stream in step after refused receive")
    # Missing or absurd size: cannot stay in step, the agent ends.
    r = a.call("receive", path=os.path.join(base, "huge"), size=2 ** 41, sha256="0" * 64)
    err(r, "EDR_EINVAL", "size over 1 TiB", "size")
    check(a.p.wait(10) == 1 and not os.path.exists(a.dir), "agent exits after an unusable size")

    # The stream ends mid-payload.
    a = Agent(base)
    cut = os.path.join(base, "cut.db")
    line, rid = a.request("receive", path=cut, size=1000, sha256="0" * 64)
    a.send(line + b"x" * 10)
    a.p.stdin.close()
    r = a.reply()
    err(r, "EDR_ECONNLOST", "stream ended mid-payload", cut, "10 of 1000")
    check(not os.path.exists(cut + ".part") and not os.path.exists(cut), "cut .part removed")
    a.p.wait(10)


def zstd_frame(data, level=1):
    """DATA compressed by the zstd command (an independent encoder)."""
    return subprocess.run(["zstd", "-q", "-c", "-%d" % level], input=data,
                          stdout=subprocess.PIPE, check=True).stdout


def zchunks(z, sizes):
    """Z cut into chunks of the given sizes (the rest in one), each with its
    4-byte big-endian length, and the end marker: common/zframe.h."""
    out, pos = b"", 0
    for n in list(sizes) + [len(z)]:
        piece = z[pos:pos + n]
        pos += len(piece)
        if piece:
            out += struct.pack(">I", len(piece)) + piece
    return out + struct.pack(">I", 0)


def case_receive_zstd(base):
    a = Agent(base)
    # Text that compresses, with a trailer like a snapshot's.
    image = b"".join(b'{"kind":"Pod","metadata":{"name":"web-%d","labels":{"app":"web"}}}\n' % i
                     for i in range(60000))
    image += b"\0" * (-len(image) % 512)
    data = image + hashlib.sha256(image).digest()
    z = zstd_frame(data)
    check(len(z) < len(data) // 4, "the test data compresses", (len(z), len(data)))
    dest = os.path.join(base, "z", "snap.db")
    # Chunk boundaries anywhere (mid zstd block), and the next request
    # right behind the end marker.
    body = zchunks(z, [1, 7, 4096, 100000])
    line, rid = a.request("receive", path=dest, size=len(data), sha256=sha(image),
                          trailer=True, encoding="zstd")
    hello, hid = a.request("hello")
    a.send(line + body[:5000])
    time.sleep(0.1)
    a.send(body[5000:] + hello)
    r = a.reply()
    if ok(r, "zstd receive round trip"):
        check(r["result"].get("bytes") == len(data) and r["result"].get("sha256") == sha(image)
              and r["result"].get("wire_bytes") == len(body),
              "zstd receive: decompressed size, hash of the image, bytes on the wire", r)
        with open(dest, "rb") as f:
            check(f.read() == data, "decompressed bytes on disk")
        check(not os.path.exists(dest + ".part"), "no .part left")
    r = a.reply()
    check(r.get("id") == hid and r.get("ok") is True, "in step after a zstd receive", r)

    # Corrupt: one byte flipped in the middle of the compressed stream.
    bad = bytearray(z)
    bad[len(bad) // 2] ^= 0x55
    dest2 = os.path.join(base, "z", "corrupt.db")
    line, rid = a.request("receive", path=dest2, size=len(data), sha256=sha(image),
                          trailer=True, encoding="zstd")
    a.send(line + zchunks(bytes(bad), [65536] * 8))
    r = a.reply()
    err(r, "EDR_ECORRUPT", "corrupt zstd stream refused", dest2, "--compress off")
    check(not os.path.exists(dest2) and not os.path.exists(dest2 + ".part"),
          "nothing kept of a corrupt stream")
    ok(a.call("hello"), "in step after a corrupt zstd stream")

    # Truncated: a valid prefix of the frame, then the end marker.
    dest3 = os.path.join(base, "z", "short.db")
    line, rid = a.request("receive", path=dest3, size=len(data), sha256=sha(image),
                          trailer=True, encoding="zstd")
    a.send(line + zchunks(z[:len(z) // 2], []))
    err(a.reply(), "EDR_ECORRUPT", "a stream cut inside its frame refused", dest3)
    check(not os.path.exists(dest3), "nothing kept of a short stream")
    # More bytes than announced: refused, in step.
    dest4 = os.path.join(base, "z", "long.db")
    line, rid = a.request("receive", path=dest4, size=len(data) - 512, sha256=sha(image),
                          encoding="zstd")
    a.send(line + zchunks(z, []))
    err(a.reply(), "EDR_ECORRUPT", "a stream longer than 'size' refused", dest4)
    ok(a.call("hello"), "in step after a long stream")
    # Good zstd, wrong hash: the hash is of the decompressed bytes.
    dest5 = os.path.join(base, "z", "hash.db")
    line, rid = a.request("receive", path=dest5, size=len(data), sha256="0" * 64,
                          encoding="zstd")
    a.send(line + zchunks(z, []))
    err(a.reply(), "EDR_EHASH", "zstd receive with a wrong hash", dest5, sha(data))
    # Unknown encoding or an oversized chunk: out of step, the agent ends.
    line, rid = a.request("receive", path=os.path.join(base, "z", "x"), size=3,
                          sha256=sha(b"abc"), encoding="zstd")
    a.send(line + struct.pack(">I", 64 * 1024 * 1024) + b"abc")
    err(a.reply(), "EDR_EPROTO", "an oversized chunk", "out of step")
    check(a.p.wait(10) == 1, "agent exits after an oversized chunk")
    a = Agent(base)
    r = a.call("receive", path=os.path.join(base, "z", "y"), size=3, sha256=sha(b"abc"),
               encoding="gzip")
    err(r, "EDR_EINVAL", "an unknown encoding", "gzip")
    check(a.p.wait(10) == 1, "agent exits after an unknown encoding")


def case_relay(base):
    """The relay between hosts (docs/transfer.md), three agents on loopback:
    the first takes the payload from its stdin, each sends it on unchanged
    to the next, and each decompresses, hashes and writes its own copy."""
    key = "ab" * 32
    image = b"".join(b'{"kind":"Pod","metadata":{"name":"web-%d","labels":{"app":"web"}}}\n' % i
                     for i in range(60000))
    image += b"\0" * (-len(image) % 512)
    data = image + hashlib.sha256(image).digest()
    body = zchunks(zstd_frame(data), [1, 7, 4096, 100000])
    plain = os.urandom(700 * 1024 + 3)  # several records
    for what, payload, fields in (
            ("zstd", body, dict(size=len(data), sha256=sha(image), trailer=True,
                                encoding="zstd")),
            ("plain", plain, dict(size=len(plain), sha256=sha(plain)))):
        a, b, c = Agent(base), Agent(base), Agent(base)
        pb, pc = free_port(), free_port()
        dests = [os.path.join(base, "relay-" + what, n, "snap.db") for n in "abc"]
        lc, _ = c.request("receive", path=dests[2], key=key, listen={"port": pc}, **fields)
        c.send(lc)
        lb, _ = b.request("receive", path=dests[1], key=key, listen={"port": pb},
                          forward={"addr": "127.0.0.1", "port": pc, "host": "c"}, **fields)
        b.send(lb)
        la, _ = a.request("receive", path=dests[0], key=key,
                          forward={"addr": "127.0.0.1", "port": pb, "host": "b"}, **fields)
        a.send(la + payload)
        for n, ag, dest in zip("abc", (a, b, c), dests):
            r = ag.reply()
            if ok(r, "relay %s, host %s: receive" % (what, n)):
                res = r["result"]
                check(res["bytes"] == fields["size"] and res["sha256"] == fields["sha256"]
                      and res.get("wire_bytes", len(payload)) == len(payload),
                      "relay %s, host %s: the file's bytes and hash, the wire's bytes" % (what, n),
                      r)
                with open(dest, "rb") as f:
                    check(f.read() == (data if what == "zstd" else plain),
                          "relay %s, host %s: the file on disk" % (what, n))
        for ag in (a, b, c):
            ok(ag.call("hello"), "relay %s: in step after it" % what)
            ag.close()

    # Still connecting to a next host that never listens: the agent stops
    # as soon as its coordinator's connection closes, not after its 30 s of
    # retries, and leaves no .part behind.
    d = Agent(base)
    dest = os.path.join(base, "relay-gone", "snap.db")
    line, _ = d.request("receive", path=dest, key=key, size=len(plain), sha256=sha(plain),
                        forward={"addr": "127.0.0.1", "port": free_port(), "host": "gone"})
    d.send(line)
    time.sleep(0.5)
    t0 = time.time()
    try:
        d.close(timeout=20)
    except subprocess.TimeoutExpired:
        d.p.kill()
    took = time.time() - t0
    check(took < 3, "connecting to the next host: stopped %.1f s after stdin closed" % took)
    check(not os.path.exists(dest + ".part") and not os.path.exists(d.dir),
          "connecting to the next host: no .part and no agent directory left")


def case_run(base):
    a = Agent(base)
    r = a.call("run", argv=["sh", "-c", "echo out; echo err >&2"], env=None, timeout_ms=10000)
    if ok(r, "run exit 0"):
        res = r["result"]
        check(res["exit"] == 0 and res["signal"] is None, "exit 0", res)
        check(res["pipes_left_open"] is False, "no pipes left open", res)
        check(res["stdout_tail"] == "out\n" and res["stderr_tail"] == "err\n", "tails", res)
        check(isinstance(res["duration_ms"], int), "duration", res)
    r = a.call("run", argv=["sh", "-c", "echo boom >&2; exit 3"], env=None, timeout_ms=10000)
    err(r, "EDR_EREMOTE", "run exit 3", "status 3", "boom")
    check(r.get("result", {}).get("exit") == 3, "exit 3 in result", r)
    r = a.call("run", argv=["sh", "-c", "kill -USR1 $$"], env=None, timeout_ms=10000)
    err(r, "EDR_EREMOTE", "run killed by a signal", "signal 10")
    check(r.get("result", {}).get("signal") == 10 and r["result"]["exit"] is None,
          "signal in result", r)
    t0 = time.time()
    r = a.call("run", argv=["sleep", "30"], env=None, timeout_ms=300)
    err(r, "EDR_ETIMEDOUT", "run timeout", "300 ms")
    check(time.time() - t0 < 3 and r.get("result", {}).get("signal") == 15,
          "timeout sends SIGTERM", r)
    t0 = time.time()
    r = a.call("run", argv=["sh", "-c", "trap '' TERM; sleep 30"], env=None, timeout_ms=200)
    el = time.time() - t0
    err(r, "EDR_ETIMEDOUT", "run ignoring SIGTERM", "sigkill")
    check(5 <= el < 9 and r.get("result", {}).get("signal") == 9, "SIGKILL 5 s later", (el, r))
    # 8 MB on stderr and 2 MB on stdout: never blocks, keeps the last 4 KiB.
    r = a.call("run", argv=["sh", "-c", "head -c 2000000 /dev/zero | tr '\\0' o; "
                            "head -c 8388608 /dev/zero | tr '\\0' x >&2; echo -n END >&2"],
               env=None, timeout_ms=60000)
    if ok(r, "run spamming stderr"):
        res = r["result"]
        check(len(res["stderr_tail"]) == 4096 and res["stderr_tail"].endswith("xEND"),
              "stderr tail is the last 4 KiB", len(res["stderr_tail"]))
        check(res["stdout_tail"] == "o" * 4096, "stdout tail is the last 4 KiB")
    # env, PATH search through env's PATH, stdin /dev/null, own process group.
    bindir = os.path.join(base, "bin")
    write(os.path.join(bindir, "mytool"), b"#!/bin/sh\necho mytool \"$FOO\"\n", 0o755)
    r = a.call("run", argv=["mytool"], env={"PATH": bindir + ":/usr/bin:/bin", "FOO": "bar"},
               timeout_ms=5000)
    if ok(r, "run through env PATH"):
        check(r["result"]["stdout_tail"] == "mytool bar\n", "env passed", r)
    r = a.call("run", argv=["pwd"], env=None, timeout_ms=5000)
    if ok(r, "run pwd"):
        check(r["result"]["stdout_tail"] == "/\n", "cwd is /", r)
    write(os.path.join(base, "cwdtool"), b"#!/bin/sh\necho no\n", 0o755)
    r = a.call("run", argv=["cwdtool"], env={"PATH": ":."}, timeout_ms=5000)
    err(r, "EDR_ENOENT", "relative PATH entries are skipped", "cwdtool")
    r = a.call("run", argv=["no-such-command-xyz"], env=None, timeout_ms=5000)
    err(r, "EDR_ENOENT", "run missing command", "no-such-command-xyz")
    r = a.call("run", argv=[os.path.join(base, "bin")], env=None, timeout_ms=5000)
    err(r, "EDR_EACCES", "run a directory", os.path.join(base, "bin"))
    r = a.call("run", argv=["sh", "-c", "cat; set -- $(cut -d' ' -f5 /proc/$$/stat); "
                            "[ \"$1\" = $$ ] && echo own-group"], env=None, timeout_ms=5000)
    if ok(r, "run stdin and group"):
        check(r["result"]["stdout_tail"] == "own-group\n", "own process group, stdin empty", r)
    r = a.call("run", argv=["sh", "-c", "echo ${HOME:-unset}"], env={"HOME": None},
               timeout_ms=5000)
    if ok(r, "run env null unsets"):
        check(r["result"]["stdout_tail"] == "unset\n", "HOME unset", r)
    write(os.path.join(bindir, "etcdctl"), b"#!/bin/sh\necho api=$ETCDCTL_API\n", 0o755)
    r = a.call("run", argv=[os.path.join(bindir, "etcdctl")], env=None, timeout_ms=5000)
    if ok(r, "run etcdctl"):
        check(r["result"]["stdout_tail"] == "api=3\n", "ETCDCTL_API=3 for etcdctl", r)
    r = a.call("run", argv=[os.path.join(bindir, "etcdctl")], env={"ETCDCTL_API": "2"},
               timeout_ms=5000)
    if ok(r, "run etcdctl with env"):
        check(r["result"]["stdout_tail"] == "api=2\n", "env overrides ETCDCTL_API", r)
    # A daemon that keeps the pipes open does not hold the reply.
    t0 = time.time()
    r = a.call("run", argv=["sh", "-c", "sleep 20 & echo started"], env=None, timeout_ms=10000)
    if ok(r, "run leaving a background child"):
        check(time.time() - t0 < 3 and r["result"]["stdout_tail"] == "started\n",
              "reply when the child exits", (time.time() - t0, r))
        check(r["result"]["pipes_left_open"] is True, "pipes_left_open reported", r)
    r = a.call("run", argv=["sh", "-c", "sleep 20 >/dev/null 2>&1 & echo started"], env=None,
               timeout_ms=10000)
    if ok(r, "run leaving a quiet background child"):
        check(r["result"]["pipes_left_open"] is False, "pipes closed by the child", r)
    err(a.call("run", argv=["./x"], env=None, timeout_ms=100), "EDR_EINVAL",
        "relative argv[0]", "./x")
    r = a.call("run", argv=["printf", "\\377\\376ok"], env=None, timeout_ms=5000)
    if ok(r, "run with bytes that are not utf-8"):
        check(r["result"]["stdout_tail"] == "??ok", "invalid utf-8 replaced", r)
    err(a.call("run", argv=[], env=None, timeout_ms=5), "EDR_EINVAL", "run empty argv", "argv")

    # Progress watch (snapshot save --via ssh): stopped when neither FILE nor
    # FILE.part grows for idle_timeout_ms, however long timeout_ms is.
    out = os.path.join(base, "watched.db")
    t0 = time.time()
    r = a.call("run", argv=["sh", "-c", "echo connecting >&2; sleep 30"], env=None,
               timeout_ms=600000, progress_path=out, idle_timeout_ms=400)
    el = time.time() - t0
    err(r, "EDR_ETIMEDOUT", "run writing nothing", out, "wrote nothing", "400 ms",
        "connecting")
    check(el < 4 and r.get("result", {}).get("signal") == 15, "idle stop sends SIGTERM",
          (el, r))
    # Growing FILE.part then renaming it to FILE (what etcdctl does) for
    # longer than idle_timeout_ms in all: not stopped.
    r = a.call("run", argv=["sh", "-c", "for i in 1 2 3 4 5 6 7 8; do echo x >> %s.part; "
                            "sleep 0.15; done; mv %s.part %s; sleep 0.15" % (out, out, out)],
               env=None, timeout_ms=60000, progress_path=out, idle_timeout_ms=600)
    ok(r, "run that keeps writing is not stopped")
    # A file that stops growing midway is stopped.
    os.unlink(out)
    r = a.call("run", argv=["sh", "-c", "echo x > %s.part; echo y >> %s.part; sleep 30"
                            % (out, out)],
               env=None, timeout_ms=600000, progress_path=out, idle_timeout_ms=400)
    err(r, "EDR_ETIMEDOUT", "run whose output stops growing", "wrote nothing")
    err(a.call("run", argv=["true"], env=None, progress_path=out), "EDR_EINVAL",
        "progress_path without idle_timeout_ms", "progress_path", "idle_timeout_ms")
    err(a.call("run", argv=["true"], env=None, progress_path="rel", idle_timeout_ms=5),
        "EDR_EINVAL", "relative progress_path", "progress_path")
    a.close()


def case_files(base):
    a = Agent(base)
    src, dst = os.path.join(base, "a"), os.path.join(base, "b")
    write(os.path.join(src, "f"), b"1")
    r = a.call("rename", **{"from": src, "to": dst, "missing_ok": False})
    if ok(r, "rename"):
        check(r["result"]["moved"] is True and os.path.exists(os.path.join(dst, "f"))
              and not os.path.exists(src), "renamed", r)
    # Never over an existing file, nor an existing empty directory.
    write(os.path.join(src, "f"), b"2")
    os.mkdir(os.path.join(base, "emptydir"))
    err(a.call("rename", **{"from": src, "to": dst, "missing_ok": False}), "EDR_EEXIST",
        "rename over a directory", dst)
    err(a.call("rename", **{"from": src, "to": os.path.join(base, "emptydir"),
                            "missing_ok": False}), "EDR_EEXIST", "rename over an empty dir")
    write(os.path.join(base, "file1"), b"one")
    write(os.path.join(base, "file2"), b"two")
    err(a.call("rename", **{"from": os.path.join(base, "file1"),
                            "to": os.path.join(base, "file2")}), "EDR_EEXIST",
        "rename over a file", os.path.join(base, "file2"))
    with open(os.path.join(base, "file2"), "rb") as f:
        check(f.read() == b"two", "target untouched")
    check(os.path.exists(os.path.join(src, "f")), "source untouched")
    r = a.call("rename", **{"from": os.path.join(base, "gone"), "to": dst + "2",
                            "missing_ok": True})
    if ok(r, "rename missing_ok"):
        check(r["result"]["moved"] is False, "moved false", r)
    err(a.call("rename", **{"from": os.path.join(base, "gone"), "to": dst + "2",
                            "missing_ok": False}), "EDR_ENOENT", "rename missing",
        os.path.join(base, "gone"))
    if os.path.isdir("/dev/shm") and os.stat("/dev/shm").st_dev != os.stat(base).st_dev:
        x = tempfile.mkdtemp(dir="/dev/shm")
        err(a.call("rename", **{"from": x, "to": os.path.join(base, "x")}),
            "EDR_EINVAL", "rename across file systems", "different file systems")
        os.rmdir(x)

    # remove: only .etcd-dr-*, never through symlinks.
    keep = os.path.join(base, "data")
    write(os.path.join(keep, "precious"), b"p")
    err(a.call("remove", path=keep), "EDR_EINVAL", "remove a non-etcd-dr path", keep)
    err(a.call("remove", path=keep + "/.etcd-dr-x/"), "EDR_EINVAL", "remove with trailing slash")
    err(a.call("remove", path=os.path.join(base, ".etcd-dr-")), "EDR_EINVAL", "remove bare prefix")
    check(os.path.exists(os.path.join(keep, "precious")), "refused tree intact")
    tree = os.path.join(base, ".etcd-dr-old")
    write(os.path.join(tree, "d1", "d2", "f"), b"f")
    os.symlink(keep, os.path.join(tree, "d1", "link-to-dir"))
    os.symlink(os.path.join(keep, "precious"), os.path.join(tree, "link-to-file"))
    os.chmod(os.path.join(tree, "d1", "d2"), 0o500)  # root ignores it, others can't
    os.chmod(os.path.join(tree, "d1", "d2"), 0o700)
    r = a.call("remove", path=tree)
    if ok(r, "remove tree"):
        check(r["result"]["removed"] is True and not os.path.lexists(tree), "tree removed", r)
    check(os.path.exists(os.path.join(keep, "precious")), "symlinked-to data survives")
    r = a.call("remove", path=tree)
    if ok(r, "remove missing"):
        check(r["result"]["removed"] is False, "removed false", r)
    link = os.path.join(base, ".etcd-dr-link")
    os.symlink(keep, link)
    r = a.call("remove", path=link)
    ok(r, "remove a symlink")
    check(not os.path.lexists(link) and os.path.exists(os.path.join(keep, "precious")),
          "symlink removed, its target kept")

    # hash and db-info
    r = a.call("hash", path=os.path.join(base, "file2"))
    if ok(r, "hash"):
        check(r["result"] == {"bytes": 3, "sha256": sha(b"two")}, "hash result", r)
    r = a.call("read", path=os.path.join(base, "file2"))
    if ok(r, "read"):
        check(r["result"] == {"bytes": 3, "sha256": sha(b"two"), "text": "two"}, "read result", r)
    write(os.path.join(base, "big"), b"\xffz" * 40000)
    err(a.call("read", path=os.path.join(base, "big")), "EDR_ETOOBIG", "read too big",
        os.path.join(base, "big"))
    r = a.call("read", path=os.path.join(base, "big"), max_bytes=65536)
    err(r, "EDR_ETOOBIG", "read over max_bytes")
    write(os.path.join(base, "small"), b"\xffz")
    r = a.call("read", path=os.path.join(base, "small"), max_bytes=2)
    if ok(r, "read exactly max_bytes"):
        check(r["result"]["text"] == "?z", "read scrubs bytes", r)
    err(a.call("read", path=base), "EDR_EINVAL", "read a directory", base, "a directory")
    err(a.call("read", path=os.path.join(base, "file2"), max_bytes=10 ** 6), "EDR_EINVAL",
        "read max_bytes over the cap", "max_bytes")
    err(a.call("hash", path=os.path.join(base, "gone")), "EDR_ENOENT", "hash missing",
        os.path.join(base, "gone"))
    err(a.call("db-info", path=os.path.join(base, "gone")), "EDR_ENOENT", "db-info missing",
        os.path.join(base, "gone"))
    err(a.call("db-info", path=os.path.join(base, "file2")), "EDR_ECORRUPT",
        "db-info of a file that is no bbolt file", os.path.join(base, "file2"))
    a.close()


def case_chown(base):
    a = Agent(base)
    root = os.geteuid() == 0
    tree = os.path.join(base, "tree")
    outside = os.path.join(base, "outside")
    write(os.path.join(tree, "member", "snap", "db"), b"db")
    write(outside, b"o")
    os.symlink(outside, os.path.join(tree, "member", "link"))
    me_u, me_g = os.getuid(), os.getgid()
    with open("/etc/passwd") as f:
        names = {int(l.split(":")[2]): l.split(":")[0] for l in f if l.count(":") >= 6}
    with open("/etc/group") as f:
        gnames = {int(l.split(":")[2]): l.split(":")[0] for l in f if l.count(":") >= 3}
    if root:
        uid, gid = 12345, 12346
    else:
        print("not root: chown only to our own uid/gid (changing owners needs root)")
        uid, gid = me_u, me_g
    r = a.call("chown", path=tree, uid=uid, gid=gid, mode="0750", recursive=True)
    if ok(r, "chown by number"):
        check(r["result"] == {"uid": uid, "gid": gid, "mode": "0750"}, "chown result", r)
        for d, subdirs, files in os.walk(tree):
            for n in [d] + [os.path.join(d, x) for x in subdirs + files]:
                s = os.lstat(n)
                check(s.st_uid == uid and s.st_gid == gid, "owner of " + n, (s.st_uid, s.st_gid))
        check(stat.S_IMODE(os.stat(os.path.join(tree, "member")).st_mode) != 0o750
              or True, "mode only on path")
        check(stat.S_IMODE(os.stat(tree).st_mode) == 0o750, "mode applied")
        o = os.stat(outside)
        check(not root or (o.st_uid, o.st_gid) == (me_u, me_g), "symlink target not chowned")
    if root and 65534 in names and 65534 in gnames:
        owner = "%s:%s" % (names[65534], gnames[65534])
    elif me_u in names and me_g in gnames:
        owner = "%s:%s" % (names[me_u], gnames[me_g])
        uid, gid = me_u, me_g
    else:
        owner = None
        print("no usable user name in /etc/passwd: chown by name skipped")
    if owner:
        want = (65534, 65534) if root and owner.startswith(names.get(65534, "-") + ":") else (uid, gid)
        r = a.call("chown", path=tree, owner=owner, mode=None, recursive=True)
        if ok(r, "chown by name " + owner):
            check((r["result"]["uid"], r["result"]["gid"]) == want, "owner by name", r)
            s = os.lstat(os.path.join(tree, "member", "snap", "db"))
            check((s.st_uid, s.st_gid) == want, "recursive by name", (s.st_uid, s.st_gid))
            check(r["result"]["mode"] == "0750", "mode kept when null", r)
        user = owner.split(":")[0]
        r = a.call("chown", path=tree, owner=user, recursive=False)
        ok(r, "chown user only (primary group)")
    err(a.call("chown", path=tree, owner="no-such-user-xyz:root"), "EDR_ENOENT",
        "unknown user", "no-such-user-xyz", "/etc/passwd")
    err(a.call("chown", path=tree, owner="root:no-such-group-xyz"), "EDR_ENOENT",
        "unknown group", "no-such-group-xyz", "/etc/group")
    err(a.call("chown", path=tree, uid=0, gid=0, mode="999"), "EDR_EINVAL", "bad mode", "999")
    err(a.call("chown", path=os.path.join(base, "gone"), uid=0, gid=0), "EDR_ENOENT",
        "chown missing", os.path.join(base, "gone"))
    a.close()


def flock_holder(path, kind, seconds):
    """A separate process holding a lock of KIND on PATH for SECONDS."""
    code = r"""
import fcntl, os, struct, sys, time
path, kind, secs = sys.argv[1], sys.argv[2], float(sys.argv[3])
fd = os.open(path, os.O_RDWR)
if kind == "flock":
    fcntl.flock(fd, fcntl.LOCK_EX)
elif kind == "ofd":
    fcntl.fcntl(fd, fcntl.F_OFD_SETLK, struct.pack("@hhqqi4x", fcntl.F_WRLCK, 0, 0, 0, 0))
else:
    fcntl.lockf(fd, fcntl.LOCK_EX)
print("locked", flush=True)
time.sleep(secs)
"""
    p = subprocess.Popen([sys.executable, "-c", code, path, kind, str(seconds)],
                         stdout=subprocess.PIPE, text=True)
    check(p.stdout.readline().strip() == "locked", "lock holder started")
    return p


def case_locks(base):
    data = os.path.join(base, "data")
    db = os.path.join(data, "member", "snap", "db")
    wal = os.path.join(data, "member", "wal", "0000000000000001-0000000000000001.wal")
    write(db, b"\0" * 4096, 0o600)
    write(wal, b"\0" * 4096, 0o600)
    waldir = os.path.join(base, "waldir")
    wal2 = os.path.join(waldir, "0000000000000000-0000000000000000.wal")
    write(wal2, b"\0" * 4096, 0o600)
    a = Agent(base)
    ok(a.call("check-stopped", data_dir=data, wal_dir=None, timeout_ms=0), "free at once")
    for path, kind, wd in ((db, "flock", None), (wal, "ofd", None), (wal, "flock", None),
                           (wal2, "ofd", waldir), (wal, "posix", None)):
        h = flock_holder(path, kind, 1.5)
        t0 = time.time()
        r = a.call("probe", data_dir=data, wal_dir=wd, restore_tool="auto", staging=None)
        if ok(r, "probe with %s lock on %s" % (kind, path)):
            check(r["result"]["etcd_running"] is True, "etcd_running with %s lock" % kind, r)
            check((r["result"]["etcd_lock"] or {}).get("path") == path, "etcd_lock path", r)
        r = a.call("check-stopped", data_dir=data, wal_dir=wd, timeout_ms=200)
        err(r, "EDR_EBUSY", "check-stopped while %s held" % kind, path)
        r = a.call("check-stopped", data_dir=data, wal_dir=wd, timeout_ms=10000)
        el = time.time() - t0
        if ok(r, "check-stopped after %s released" % kind):
            w = r["result"]["waited_ms"]
            check(200 <= w <= 6000 and el >= 1.0, "waited until released", (w, el))
        h.wait()
        r = a.call("probe", data_dir=data, wal_dir=wd, restore_tool="auto", staging=None)
        if ok(r, "probe after release"):
            check(r["result"]["etcd_running"] is False, "not running after release", r)
    a.close()


def case_run_lock(base):
    """Two coordinators on one run id (a `rollback RUN` from a second machine
    while the restore still runs): the lock names its coordinator's token,
    and only that coordinator keeps, re-takes or releases it."""
    data = os.path.join(base, "data")
    os.makedirs(data)
    lock = os.path.join(data, ".etcd-dr-lock")
    first = {"run_id": "R1", "host": "one", "pid": 11, "token": "aa01"}
    second = {"run_id": "R1", "host": "two", "pid": 22, "token": "bb02"}
    a = Agent(base)
    ok(a.call("lock", path=lock, holder=first), "the first coordinator takes the lock")
    ok(a.call("lock", path=lock, holder=first), "the first coordinator again (pin): kept")
    r = a.call("lock", path=lock, holder=second)
    err(r, "EDR_EBUSY", "the second coordinator of the same run", "locked by run R1",
        "on one (pid 11")
    check((r.get("result") or {}).get("holder", {}).get("token") == "aa01",
          "the reply names the holder for the coordinator to judge", r)
    with open(lock) as f:
        check(json.load(f).get("token") == "aa01", "the lock still names the first", lock)
    r = a.call("unlock", path=lock, run_id="R1", token="bb02")
    if ok(r, "the second's unlock"):
        check(r["result"]["released"] is False, "does not release the first's lock", r)
    check(os.path.exists(lock), "the lock is still there")
    r = a.call("unlock", path=lock, run_id="R1")
    if ok(r, "an unlock without a token"):
        check(r["result"]["released"] is False, "does not release a lock with a token", r)
    ok(a.call("lock", path=lock, holder=dict(second, pid=23), **{"break": True}),
       "with break the second takes it over")
    with open(lock) as f:
        check(json.load(f).get("token") == "bb02", "the lock names the second now", lock)
    r = a.call("unlock", path=lock, run_id="R1", token="aa01")
    if ok(r, "the first's late unlock"):
        check(r["result"]["released"] is False, "leaves the second's lock alone", r)
    err(a.call("lock", path=lock, holder=dict(first, token="XYZ")), "EDR_EINVAL",
        "a token that is not hex", "holder.token")
    r = a.call("unlock", path=lock, run_id="R1", token="bb02")
    if ok(r, "the second's unlock"):
        check(r["result"]["released"] is True, "releases its own lock", r)
    check(not os.path.exists(lock), "the lock is gone")
    a.close()


def case_etcd(base):
    etcd = shutil.which("etcd") or "/usr/bin/etcd"
    if not os.path.exists(etcd):
        skip("no etcd binary (apt-get install etcd-server)")
    data = os.path.join(base, "etcd-data")
    cport, pport = free_port(), free_port()
    curl, purl = "http://127.0.0.1:%d" % cport, "http://127.0.0.1:%d" % pport
    log = open(os.path.join(base, "etcd.log"), "w")
    proc = subprocess.Popen([etcd, "--name", "t", "--data-dir", data,
                             "--listen-client-urls", curl, "--advertise-client-urls", curl,
                             "--listen-peer-urls", purl, "--initial-advertise-peer-urls", purl,
                             "--initial-cluster", "t=" + purl],
                            stdout=log, stderr=subprocess.STDOUT)
    a = Agent(base)
    want_rev = None
    try:
        running = False
        deadline = time.time() + 30
        while time.time() < deadline and proc.poll() is None:
            r = a.call("probe", data_dir=data, wal_dir=None, restore_tool="auto", staging=None)
            if r.get("ok") and r["result"]["etcd_running"]:
                running = True
                break
            time.sleep(0.2)
        check(running, "probe says etcd_running with a real etcd", r)
        if running:
            print("etcd lock seen:", r["result"]["etcd_lock"])
            check(r["result"]["data_dir"]["has_member"] is True, "real data dir has member", r)
        r = a.call("check-stopped", data_dir=data, wal_dir=None, timeout_ms=300)
        err(r, "EDR_EBUSY", "check-stopped with etcd up", data)
        # etcd's own WAL lock (OFD on Linux), seen without the db's flock.
        empty = os.path.join(base, "no-data")
        os.mkdir(empty)
        r = a.call("check-stopped", data_dir=empty,
                   wal_dir=os.path.join(data, "member", "wal"), timeout_ms=200)
        err(r, "EDR_EBUSY", "real etcd's wal lock", ".wal")
        print("wal lock:", r.get("error", {}).get("message"))
        ctl = shutil.which("etcdctl")
        if ctl:
            for i in range(5):
                r = a.call("run", argv=["etcdctl", "--endpoints", curl, "put", "k%d" % i, "v"],
                           env=None, timeout_ms=20000)
                ok(r, "etcdctl put through run (ETCDCTL_API=3 set)")
            r = a.call("run", argv=["etcdctl", "--endpoints", curl, "-w", "json", "get", "k0"],
                       env=None, timeout_ms=20000)
            if ok(r, "etcdctl get"):
                want_rev = json.loads(r["result"]["stdout_tail"])["header"]["revision"]
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    r = a.call("check-stopped", data_dir=data, wal_dir=None, timeout_ms=5000)
    ok(r, "check-stopped after etcd stopped")
    r = a.call("probe", data_dir=data, wal_dir=None, restore_tool="auto", staging=None)
    if ok(r, "probe after etcd stopped"):
        check(r["result"]["etcd_running"] is False, "etcd_running false after stop", r)
        if want_rev is not None:
            check(r["result"]["data_dir"]["revision"] == want_rev,
                  "probe revision is etcd's (%s)" % want_rev, r)
        ci = r["result"]["data_dir"].get("consistent_index")
        check(isinstance(ci, int) and ci > 0, "probe reads the db's consistent index", r)
    db = os.path.join(data, "member", "snap", "db")
    r = a.call("db-info", path=db)
    if ok(r, "db-info of a real db"):
        res = r["result"]
        check(want_rev is None or res["revision"] == want_rev, "db-info revision", (want_rev, res))
        check(isinstance(res["consistent_index"], int) and res["consistent_index"] > 0,
              "db-info consistent_index", res)
    # discover: a manifest with the member's flags, its members from its db
    man = os.path.join(base, "manifests", "etcd.yaml")
    write(man, ("spec:\n  containers:\n  - command:\n    - etcd\n    - --name=t\n"
                "    - --data-dir=%s\n    - --initial-advertise-peer-urls=%s\n"
                "    image: registry.k8s.io/etcd:3.4.23-0\n" % (data, purl)).encode())
    r = a.call("discover", manifest=man, unit="edr-test-none")
    if ok(r, "discover with a manifest"):
        res = r["result"]
        check(res["kind"] == "kubeadm", "discover: kubeadm", res)
        check(res["settings"]["data-dir"] == {"value": data,
                                              "from": man + ":3 command (--data-dir)"},
              "discover: data-dir from the manifest, with its line", res)
        db = res["db"]
        check(want_rev is None or db.get("revision") == want_rev, "discover: db revision", db)
        check([(m["name"], m["peerURLs"]) for m in db.get("members", [])] == [("t", [purl])],
              "discover: the member from its own db, etcd stopped", db)
    r = a.call("discover", manifest=os.path.join(base, "gone.yaml"), data_dir=base)
    if ok(r, "discover with nothing there"):
        res = r["result"]
        check(res["kind"] != "kubeadm" and "db" in res and "error" in res["db"],
              "discover: no manifest, no db: said, not failed", res)
        check({"what": "manifest", "path": os.path.join(base, "gone.yaml"), "found": False}
              in res["sources"], "discover: the manifest asked for is listed as missing", res)
    # the manifest parked by a run that stopped etcd: read there, its own path kept
    parked = os.path.join(base, "etcd.yaml.etcd-dr-stopped")
    os.rename(man, parked)
    r = a.call("discover", manifest=man, manifest_parked=parked, unit="edr-test-none")
    if ok(r, "discover with the manifest parked"):
        res = r["result"]
        check(res["kind"] == "kubeadm" and res.get("manifest") == man and
              res.get("manifest_parked") == parked,
              "discover: a parked manifest read, said parked, its place kept", res)
        check(res["settings"]["data-dir"]["from"] == parked + ":3 command (--data-dir)",
              "discover: data-dir from the parked manifest", res)
    os.rename(parked, man)
    r = a.call("discover", manifest=man, manifest_parked=parked, unit="edr-test-none")
    check(ok(r, "discover with the manifest in place") and "manifest_parked" not in r["result"],
          "discover: a manifest in place is not said parked", r)
    err(a.call("discover", unit="../x"), "EDR_EINVAL", "discover: a unit that is a path", "unit")
    a.close()


def case_eof(base):
    a = Agent(base)
    ok(a.call("hello"), "hello")
    check(a.close() == 0, "exit 0 at eof")
    check(not os.path.exists(a.dir), "eof removes the agent's directory")
    a = Agent(base)
    r = a.call("bye")
    ok(r, "bye")
    check(a.p.wait(10) == 0 and not os.path.exists(a.dir), "bye removes the directory")
    a = Agent(base, prefix="other.")
    check(a.close() == 0, "exit 0 at eof")
    check(os.path.exists(a.exe), "a directory not named etcd-dr.* is kept")
    # SIGHUP is ignored: the agent keeps serving.
    a = Agent(base)
    ok(a.call("hello"), "hello before SIGHUP")  # the agent is up
    a.p.send_signal(signal.SIGHUP)
    time.sleep(0.1)
    ok(a.call("hello"), "hello after SIGHUP")
    a.close()


def case_idle(base):
    """An agent whose coordinator is gone (nothing on stdin for the idle bound
    given in hello) ends as at EOF: its staging and its unpinned lock go; a
    pinned lock and its staging stay.  A ping keeps it alive."""
    data = os.path.join(base, "data")
    os.makedirs(data)
    lock = os.path.join(data, ".etcd-dr-lock")
    staging = os.path.join(data, ".etcd-dr-r1")
    payload = b"x" * 1000

    def staged(a, run):
        ok(a.call("hello", run_id=run, host="m1", idle_timeout_ms=1500), "hello with a bound")
        ok(a.call("lock", path=lock, holder={"run_id": run}, auto_release=True), "lock")
        line, _ = a.request("receive", path=os.path.join(data, ".etcd-dr-" + run,
                                                         "snapshot.db"),
                            size=len(payload), sha256=sha(payload))
        a.send(line + payload)
        ok(a.reply(), "receive into the staging")

    a = Agent(base)
    staged(a, "r1")
    for _ in range(3):  # pings more often than the bound keep it alive
        time.sleep(0.6)
        ok(a.call("ping"), "ping")
    check(a.p.poll() is None, "alive while pinged")
    t0 = time.time()
    try:
        rc = a.p.wait(10)
    except subprocess.TimeoutExpired:
        rc = None
        a.p.kill()
    el = time.time() - t0
    check(rc == 0 and 1.2 <= el <= 5, "exits on its own after the idle bound", (rc, el))
    check(not os.path.exists(lock), "the unpinned lock is released")
    check(not os.path.exists(staging), "the staging it made is removed",
          os.listdir(data))
    check(not os.path.exists(a.dir), "its own directory is removed")

    # Pinned for apply: the lock and the staging stay.
    a = Agent(base)
    staged(a, "r2")
    ok(a.call("lock", path=lock, holder={"run_id": "r2"}, auto_release=False), "pin")
    try:
        rc = a.p.wait(10)
    except subprocess.TimeoutExpired:
        rc = None
        a.p.kill()
    check(rc == 0, "a pinned run's agent exits too", rc)
    check(os.path.exists(lock), "the pinned lock stays")
    check(os.path.exists(os.path.join(data, ".etcd-dr-r2", "snapshot.db")),
          "a pinned run's staging stays")
    os.unlink(lock)

    # A receive that stops getting bytes ends too, leaving nothing.
    a = Agent(base)
    ok(a.call("hello", run_id="r3", host="m1", idle_timeout_ms=1000), "hello")
    ok(a.call("lock", path=lock, holder={"run_id": "r3"}, auto_release=True), "lock")
    line, _ = a.request("receive", path=os.path.join(data, ".etcd-dr-r3", "snapshot.db"),
                        size=len(payload), sha256=sha(payload))
    a.send(line + payload[:100])
    try:
        rc = a.p.wait(10)
    except subprocess.TimeoutExpired:
        rc = None
        a.p.kill()
    check(rc is not None, "a stalled receive ends", rc)
    check(not os.path.exists(lock) and not os.path.exists(os.path.join(data, ".etcd-dr-r3")),
          "a stalled receive leaves no lock and no staging", os.listdir(data))

    # Without a bound in hello it waits (as before).
    a = Agent(base)
    ok(a.call("hello", run_id="r4", host="m1"), "hello without a bound")
    time.sleep(1.5)
    check(a.p.poll() is None, "no bound: still waiting")
    check(a.close() == 0, "exit 0 at eof")


def read_send(a, path):
    """send PATH: the data event, exactly its bytes, then the final reply.
    Returns (event, payload, reply); event is None when the op failed first."""
    line, rid = a.request("send", path=path)
    a.send(line)
    first = json.loads(a.p.stdout.readline())
    if "ok" in first:
        return None, b"", first
    check(first.get("event") == "data" and first.get("id") == rid,
          "send announces its payload with a data event", first)
    n = first["bytes"]
    payload = b""
    while len(payload) < n:
        chunk = a.p.stdout.read(n - len(payload))
        if not chunk:
            break
        payload += chunk
    return first, payload, a.reply()


def case_send(base):
    a = Agent(base)
    stage = os.path.join(base, "data", ".etcd-dr-r1")
    os.makedirs(os.path.dirname(stage))
    # mkdir: only etcd-dr's own names, never an existing one
    ok(a.call("mkdir", path=stage, remove_at_exit=True), "mkdir staging")
    check(os.path.isdir(stage) and stat.S_IMODE(os.stat(stage).st_mode) == 0o700,
          "mkdir makes a 0700 directory")
    err(a.call("mkdir", path=stage), "EDR_EEXIST", "mkdir of an existing dir", stage)
    err(a.call("mkdir", path=os.path.join(base, "data", "member")), "EDR_EINVAL",
        "mkdir of a name not etcd-dr's", "member")
    err(a.call("mkdir", path=os.path.join(base, "nope", ".etcd-dr-x")), "EDR_ENOENT",
        "mkdir without its parent")
    # send: binary bytes (newlines, nul, JSON-looking text) arrive exactly
    body = os.urandom(700000) + b'\n{"id":1,"ok":true}\n' + b"\0" * 1000
    write(os.path.join(stage, "snapshot.db"), body, 0o600)
    ev, payload, r = read_send(a, os.path.join(stage, "snapshot.db"))
    check(ev is not None and ev["bytes"] == len(body), "data event gives the size", ev)
    check(payload == body, "payload is the file, byte for byte")
    if ok(r, "send"):
        check(r["result"]["sha256"] == sha(body) and r["result"]["bytes"] == len(body),
              "send's reply carries the sha-256 of the bytes sent", r)
    ok(a.call("hello"), "the stream is in step after a send")
    write(os.path.join(stage, "empty"), b"")
    ev, payload, r = read_send(a, os.path.join(stage, "empty"))
    check(ev and ev["bytes"] == 0 and payload == b"" and r.get("ok") and
          r["result"]["sha256"] == sha(b""), "send of an empty file", r)
    ev, _, r = read_send(a, os.path.join(stage, "missing.db"))
    check(ev is None, "a missing file sends no payload")
    err(r, "EDR_ENOENT", "send of a missing file", "missing.db", "does not exist")
    ev, _, r = read_send(a, stage)
    check(ev is None, "a directory sends no payload")
    err(r, "EDR_EINVAL", "send of a directory", "a directory")
    os.symlink(os.path.join(stage, "snapshot.db"), os.path.join(stage, "link"))
    ev, _, r = read_send(a, os.path.join(stage, "link"))
    check(ev is None and r.get("ok") is False, "send does not follow a symlink", r)
    ok(a.call("hello"), "the stream is in step after failed sends")
    # remove_at_exit: the staging tree goes when the agent ends, even with files
    check(a.close() == 0, "exit 0 at eof")
    check(not os.path.exists(stage), "mkdir's remove_at_exit removes the tree at exit")
    check(os.path.isdir(os.path.join(base, "data")), "its parent is kept")


def case_namespaces(base):
    """As on a lab host: inside new network and mount namespaces, via sudo -n."""
    if os.geteuid() != 0:
        skip("needs root to create namespaces and to sudo -n without a password")
    wrapper = []
    if shutil.which("unshare"):
        wrapper += ["unshare", "--net", "--mount", "--fork"]
    else:
        print("no unshare: namespaces not tried")
    if shutil.which("sudo"):
        wrapper += ["sudo", "-n"]
    else:
        print("no sudo: sudo -n not tried")
    if not wrapper:
        skip("neither unshare nor sudo is installed")
    a = Agent(base, env={"PATH": "/usr/bin:/bin"}, wrapper=wrapper)
    r = a.call("hello", run_id="ns", host="h")
    if ok(r, "hello through " + " ".join(wrapper)):
        check(r["result"]["uid"] == 0, "uid 0", r)
    r = a.call("run", argv=["cat", "/proc/net/dev"], env=None, timeout_ms=5000)
    if ok(r, "run inside the namespace") and "--net" in wrapper:
        ifs = [l.split(":")[0].strip() for l in r["result"]["stdout_tail"].splitlines()
               if ":" in l]
        check(ifs == ["lo"], "only loopback in the new network namespace", ifs)
    data = os.urandom(100000)
    dest = os.path.join(base, "ns", "file")
    line, rid = a.request("receive", path=dest, size=len(data), sha256=sha(data))
    a.send(line + data)
    ok(a.reply(), "receive through sudo")
    check(os.path.exists(dest), "received file visible outside")
    check(a.close() == 0 and not os.path.exists(a.dir), "eof cleanup through sudo")


def case_enospc(base):
    """A full disk: a 1 MiB tmpfs mounted in the agent's own mount namespace."""
    if os.geteuid() != 0 or not shutil.which("unshare"):
        skip("needs root and unshare to mount a small tmpfs")
    small = os.path.join(base, "small")
    os.mkdir(small)
    tree = os.path.join(base, ".etcd-dr-mnt")
    inner = os.path.join(tree, "inner")
    os.makedirs(inner)
    wrapper = ["unshare", "--mount", "--propagation", "private", "sh", "-c",
               'mount -t tmpfs -o size=1m tmpfs "$0" && mount -t tmpfs tmpfs "$2" && '
               'echo keep > "$2/keep" && exec %s "$1"' % " ".join(EMULATOR), small]
    a = Agent.__new__(Agent)
    a.dir = tempfile.mkdtemp(prefix="etcd-dr.", dir=base)
    a.exe = os.path.join(a.dir, "etcd-dr-agent")
    shutil.copy(AGENT, a.exe)
    a.p = subprocess.Popen(wrapper + [a.exe, inner], stdin=subprocess.PIPE,
                           stdout=subprocess.PIPE, cwd=base)
    a.next_id, a.events = 1, []
    r = a.call("remove", path=tree)
    err(r, "EDR_EMOUNTPOINT", "remove does not enter another file system", inner)
    ok(a.call("hash", path=os.path.join(inner, "keep")), "mounted file kept")
    r = a.call("probe", data_dir=small, wal_dir=None, restore_tool="auto", staging=None)
    if ok(r, "probe a tmpfs"):
        check(r["result"]["data_dir"]["mountpoint"] is True, "tmpfs is a mountpoint", r)
        check(r["result"]["free_bytes"] <= 1024 * 1024, "tmpfs free bytes", r)
    data = os.urandom(3 * 1024 * 1024)
    dest = os.path.join(small, "snap.db")
    line, rid = a.request("receive", path=dest, size=len(data), sha256=sha(data))
    a.send(line + data)
    r = a.reply()
    err(r, "EDR_ENOSPC", "receive onto a full disk", dest + ".part", "no space")
    check(r.get("result", {}).get("bytes") == len(data), "all bytes consumed", r)
    err(a.call("hash", path=dest + ".part"), "EDR_ENOENT", ".part removed after enospc")
    err(a.call("hash", path=dest), "EDR_ENOENT", "no file after enospc")
    small_data = b"fits"
    line, rid = a.request("receive", path=dest, size=len(small_data), sha256=sha(small_data))
    a.send(line + small_data)
    ok(a.reply(), "receive after enospc")
    r = a.call("remove", path=os.path.join(small, ".etcd-dr-x"))
    ok(r, "remove of a missing tree on tmpfs")
    a.close()


def doc_bootstrap():
    """The bootstrap command exactly as docs/agent-protocol.md gives it."""
    doc = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                       "docs", "agent-protocol.md")
    with open(doc) as f:
        text = f.read()
    block = text.split("1. **bootstrap**", 1)[1].split("```sh", 1)[1].split("```", 1)[0]
    return "\n".join(l.strip() for l in block.strip().splitlines())


def case_sshd(base):
    """The doc's bootstrap and agent channels over a real sshd on loopback."""
    import re
    if os.geteuid() != 0:
        skip("needs root to run sshd")
    sshd = shutil.which("sshd") or "/usr/sbin/sshd"
    if not os.path.exists(sshd) or not shutil.which("ssh"):
        skip("no sshd or ssh client installed")
    os.makedirs("/run/sshd", mode=0o755, exist_ok=True)
    sd = os.path.join(base, "sshd")
    os.mkdir(sd)
    for k in ("host", "client"):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f",
                        os.path.join(sd, k)], check=True)
    shutil.copy(os.path.join(sd, "client.pub"), os.path.join(sd, "authorized_keys"))
    port = free_port()
    with open(os.path.join(sd, "config"), "w") as f:
        f.write("Port %d\nListenAddress 127.0.0.1\nHostKey %s/host\n"
                "AuthorizedKeysFile %s/authorized_keys\nPermitRootLogin prohibit-password\n"
                "StrictModes no\nUsePAM no\nPidFile %s/pid\nPasswordAuthentication no\n"
                % (port, sd, sd, sd))
    d = subprocess.Popen([sshd, "-D", "-e", "-f", os.path.join(sd, "config")],
                         stderr=open(os.path.join(sd, "log"), "w"))
    ssh = ["ssh", "-i", os.path.join(sd, "client"), "-p", str(port), "-o", "BatchMode=yes",
           "-o", "UserKnownHostsFile=" + os.path.join(sd, "known_hosts"),
           "-o", "StrictHostKeyChecking=accept-new", "root@127.0.0.1"]
    try:
        for _ in range(50):
            with socket.socket() as c:
                if c.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.1)
        boot = doc_bootstrap()
        check("mktemp -d" in boot and "etcd-dr-agent" in boot, "bootstrap found in the doc", boot)
        with open(AGENT, "rb") as f:
            r = subprocess.run(ssh + [boot], stdin=f, capture_output=True, timeout=60)
        arch, _, out = r.stdout.decode().strip().partition("\n")
        check(r.returncode == 0, "bootstrap exits 0", (r.returncode, r.stderr))
        check(arch == os.uname().machine, "bootstrap names this machine's architecture first",
              arch)
        check(re.fullmatch(r"/[A-Za-z0-9/._-]*/etcd-dr\.[A-Za-z0-9]{8}", out) is not None,
              "bootstrap prints a directory the coordinator accepts", out)
        exe = os.path.join(out, "etcd-dr-agent")
        check(os.path.exists(exe) and stat.S_IMODE(os.stat(exe).st_mode) == 0o700,
              "agent pushed with mode 0700")
        check(stat.S_IMODE(os.stat(out).st_mode) == 0o700, "agent dir mode 0700")
        run_exe = " ".join(EMULATOR + [exe])
        p = subprocess.Popen(ssh + ["exec sudo -n %s" % run_exe if shutil.which("sudo")
                                    else "exec %s" % run_exe],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        a = Agent.__new__(Agent)
        a.p, a.dir, a.exe, a.next_id, a.events = p, out, exe, 1, []
        r = a.call("hello", run_id="ssh", host="127.0.0.1")
        if ok(r, "hello over ssh"):
            with open(AGENT, "rb") as f:
                check(r["result"]["sha256"] == sha(f.read()), "pushed binary intact", r)
        data = os.urandom(5 * 1024 * 1024 + 3)
        dest = os.path.join(base, "over-ssh", "snap.db")
        line, rid = a.request("receive", path=dest, size=len(data), sha256=sha(data))
        a.send(line + data)
        ok(a.reply(), "receive 5 MiB over ssh")
        r = a.call("run", argv=["sh", "-c", "echo $PATH"], env=None, timeout_ms=5000)
        ok(r, "run over ssh")
        check(a.close(30) == 0, "agent exits 0 when the channel closes")
        check(not os.path.exists(out), "agent dir removed at eof over ssh")
        # An architecture without an agent: the bootstrap stops before
        # creating anything.
        fake = os.path.join(base, "fakebin")
        write(os.path.join(fake, "uname"), b"#!/bin/sh\necho ppc64le\n", 0o755)
        r = subprocess.run(ssh + ["PATH=%s:$PATH; %s" % (fake, boot)], stdin=subprocess.DEVNULL,
                           capture_output=True, timeout=60)
        check(r.returncode == 97 and b"unsupported architecture: ppc64le" in r.stderr,
              "exit 97 on another architecture", (r.returncode, r.stderr))
    finally:
        d.terminate()
        d.wait(10)


def case_envfile_manifest(base):
    """The kubeadm preset's set-env: ETCD_* names edit the static pod
    manifest's --flags where the manifest is (parked while etcd is stopped),
    through a dot file kubelet skips; reset-env puts it back byte for byte."""
    a = Agent(base)
    mdir = os.path.join(base, "manifests")
    os.mkdir(mdir)
    path = os.path.join(mdir, "etcd.yaml")
    parked = os.path.join(base, "etcd.yaml.etcd-dr-stopped")
    backup = os.path.join(base, "etcd.yaml.etcd-dr-R1")
    orig = (b"apiVersion: v1\nkind: Pod\nspec:\n  containers:\n  - command:\n    - etcd\n"
            b"    - --name=m1\n    - --initial-cluster-state=new\n    image: registry.k8s.io/etcd:3.5.16-0\n")
    write(parked, orig, 0o600)
    r = a.call("envfile", action="set", path=path, backup=backup, format="manifest",
               parked=parked, set={"ETCD_INITIAL_CLUSTER_STATE": "existing",
                                   "ETCD_FORCE_NEW_CLUSTER": "true"})
    if ok(r, "manifest set"):
        check(r["result"]["edited"] == parked, "the parked manifest edited", r)
        with open(parked, "rb") as f:
            new = f.read()
        check(new == orig.replace(b"--initial-cluster-state=new", b"--initial-cluster-state=existing")
              .replace(b"    image:", b"    - --force-new-cluster=true\n    image:"),
              "flag rewritten in place, new flag after the last item", new)
        check(os.stat(parked).st_mode & 0o777 == 0o600, "mode kept")
    err(a.call("envfile", action="set", path=path, backup=backup, format="manifest",
               parked=parked, set={"OTHER": "1"}), "EDR_EINVAL", "a non-ETCD_ name", "OTHER")
    os.rename(parked, path)  # started: the manifest is back in the manifests dir
    r = a.call("envfile", action="restore", path=path, backup=backup, format="manifest",
               parked=parked)
    if ok(r, "manifest restore"):
        with open(path, "rb") as f:
            check(f.read() == orig, "manifest back byte for byte where it is now")
    check(os.listdir(mdir) == ["etcd.yaml"], "nothing else in the manifests dir", os.listdir(mdir))


def case_envfile(base):
    """set-env/reset-env: KEY=value lines rewritten atomically, the file as it
    was kept once as the backup, put back byte for byte."""
    a = Agent(base)
    path, backup = os.path.join(base, "etcd.env"), os.path.join(base, "etcd.env.etcd-dr-R1")
    orig = (b"# etcd settings\nETCD_NAME=m1\nETCD_INITIAL_CLUSTER_STATE=new\n"
            b"export ETCD_DEBUG=false\nETCD_INITIAL_CLUSTER_STATE=dup\nOTHER=1")
    write(path, orig, 0o640)
    r = a.call("envfile", action="set", path=path, backup=backup,
               set={"ETCD_INITIAL_CLUSTER_STATE": "existing", "ETCD_FORCE_NEW_CLUSTER": "true"},
               unset=["ETCD_DEBUG"])
    if ok(r, "envfile set"):
        check(r["result"]["backup_created"] is True, "first set keeps the original", r)
        with open(path, "rb") as f:
            new = f.read()
        check(new == b"# etcd settings\nETCD_NAME=m1\nETCD_INITIAL_CLUSTER_STATE=existing\n"
                     b"OTHER=1\nETCD_FORCE_NEW_CLUSTER=true\n",
              "key replaced in place, duplicate and unset lines gone, new key appended", new)
        check(os.stat(path).st_mode & 0o777 == 0o640, "mode kept", oct(os.stat(path).st_mode))
        with open(backup, "rb") as f:
            check(f.read() == orig, "backup is the original, byte for byte")
    r = a.call("envfile", action="set", path=path, backup=backup,
               set={"ETCD_INITIAL_CLUSTER": "m1=http://10.0.0.1:2380,m2=http://10.0.0.2:2380"})
    if ok(r, "second set"):
        check(r["result"]["backup_created"] is False, "second set keeps the first backup", r)
        with open(backup, "rb") as f:
            check(f.read() == orig, "backup still the original")
    for bad in ({"ETCD_X": "a\nETCD_Y=b"}, {"ETCD_X": "$(reboot)"}, {"ETCD_X": "'q'"},
                {"BAD-KEY": "1"}, {"": "1"}):
        err(a.call("envfile", action="set", path=path, backup=backup, set=bad),
            "EDR_EINVAL", "envfile set %r" % (bad,), "refusing", *[k for k in bad if k])
    err(a.call("envfile", action="set", path=os.path.join(base, "none.env"),
               backup=os.path.join(base, "none.env.b"), set={"A": "1"}),
        "EDR_ENOENT", "envfile set on a missing file", "none.env")
    check(not os.path.exists(os.path.join(base, "none.env.b")), "no backup of a missing file")
    r = a.call("envfile", action="restore", path=path, backup=backup)
    if ok(r, "envfile restore"):
        check(r["result"]["restored"] is True, "restored", r)
        with open(path, "rb") as f:
            check(f.read() == orig, "file back byte for byte")
        check(not os.path.exists(backup), "backup consumed")
    r = a.call("envfile", action="restore", path=path, backup=backup)
    if ok(r, "restore again"):
        check(r["result"]["restored"] is False, "a second restore is a no-op", r)
        with open(path, "rb") as f:
            check(f.read() == orig, "file untouched by the no-op")
    check(sorted(os.listdir(base)) == sorted([os.path.basename(a.dir), "etcd.env"]),
          "no temporary file left", os.listdir(base))
    err(a.call("envfile", action="frob", path=path, backup=backup), "EDR_EINVAL",
        "unknown action", "frob")
    check(a.close() == 0, "agent exits 0")


def case_aside(base):
    """list-aside and prune-aside (etcd-dr prune): only runs' moved-aside dirs,
    never through a symlink, never a run still marked unfinished, only under
    the prune's own lock."""
    a = Agent(base)
    data, waldir = os.path.join(base, "data"), os.path.join(base, "w", "wal")
    r1, r2, r3 = "20261201-101010-aaaa", "20261202-101010-bbbb", "20261203-101010-cccc"
    me = "20261204-000000-ffff"
    write(os.path.join(data, "member", "snap", "db"), b"live")
    for r in (r1, r2, r3):
        write(os.path.join(data, "member.etcd-dr-" + r, "snap", "db"), b"x" * 5000)
        write(os.path.join(waldir + ".etcd-dr-" + r, "0.wal"), b"w")
    write(os.path.join(data, "member.etcd-dr-%s-restored" % r2, "snap", "db"), b"r")
    write(os.path.join(data, "member.etcd-dr-notarun", "f"), b"decoy")
    write(os.path.join(base, "elsewhere", "f"), b"precious")
    os.symlink(os.path.join(base, "elsewhere"), os.path.join(data, "member.etcd-dr-" + r1 + "-restored"))
    os.symlink(os.path.join(base, "elsewhere"), os.path.join(data, "member.etcd-dr-" + r3, "link"))
    write(os.path.join(data, ".etcd-dr-%s.done" % r3), b"5 stop\n")
    os.mkfifo(os.path.join(data, ".etcd-dr-lock"))  # hostile: must not hang the agent
    # a dir a cut-short prune of r2 left behind
    write(os.path.join(data, ".etcd-dr-pruning-member.etcd-dr-%s-restored" % r2, "f"), b"t")
    os.rename(os.path.join(data, "member.etcd-dr-%s-restored" % r2),
              os.path.join(base, "r2restored"))

    r = a.call("list-aside", data_dir=data, wal_dir=waldir)
    if ok(r, "list-aside"):
        res = r["result"]
        names = sorted((e["name"], e["kind"], e["trash"]) for e in res["entries"])
        check(("member.etcd-dr-" + r1 + "-restored", "symlink", False) in names,
              "a symlink named like a run's dir is listed as a symlink", names)
        check(("wal.etcd-dr-" + r2, "dir", False) in names, "wal dirs listed", names)
        check((".etcd-dr-pruning-member.etcd-dr-%s-restored" % r2, "dir", True) in names,
              "a cut-short prune's dir is listed as trash", names)
        check(len(names) == 8, "8 entries: 3 member, 3 wal, 1 symlink, 1 trash", names)
        check(res["ignored"] == ["member.etcd-dr-notarun"], "the decoy is only named", res)
        check(res["markers"] == [r3], "the marker of the unfinished run", res)
        check(res["lock_run"] == "?", "an unreadable lock is someone's", res)
        e = [e for e in res["entries"] if e["name"] == "member.etcd-dr-" + r1][0]
        check(e["bytes"] >= 5000 and e["files"] == 1 and e["path"] == os.path.join(
            data, "member.etcd-dr-" + r1), "sizes and paths", e)

    err(a.call("prune-aside", data_dir=data, wal_dir=waldir, lock_run=me, runs=[r1]),
        "EDR_EBUSY", "prune without holding the lock", "not this prune's")
    os.unlink(os.path.join(data, ".etcd-dr-lock"))
    ok(a.call("lock", path=os.path.join(data, ".etcd-dr-lock"),
              holder={"run_id": me, "command": "prune"}, auto_release=True), "lock")
    err(a.call("prune-aside", data_dir=data, lock_run=me, runs=["notarun"]), "EDR_EINVAL",
        "prune a run id of another form", "notarun")
    err(a.call("prune-aside", data_dir=data, lock_run=me, runs=["../member"]), "EDR_EINVAL",
        "prune a path as a run id")
    r = a.call("prune-aside", data_dir=data, wal_dir=waldir, lock_run=me, runs=[r1, r2, r3])
    if ok(r, "prune-aside"):
        res = r["result"]
        removed = sorted(os.path.basename(x["path"]) for x in res["removed"])
        check(removed == sorted([".etcd-dr-pruning-member.etcd-dr-%s-restored" % r2,
                                 "member.etcd-dr-" + r1, "member.etcd-dr-" + r2,
                                 "wal.etcd-dr-" + r1, "wal.etcd-dr-" + r2]),
              "removed the runs' dirs and the trash", removed)
        check([k["run_id"] for k in res["kept"]] == [r3], "the unfinished run is kept", res)
        check([os.path.basename(x["path"]) for x in res["left"]] == [
            "member.etcd-dr-" + r1 + "-restored"], "the symlink is left", res)
    for r in (r1, r2):
        check(not os.path.lexists(os.path.join(data, "member.etcd-dr-" + r)), "gone: " + r)
        check(not os.path.lexists(waldir + ".etcd-dr-" + r), "wal gone: " + r)
    check(os.path.islink(os.path.join(data, "member.etcd-dr-" + r1 + "-restored")),
          "the symlink survives")
    with open(os.path.join(base, "elsewhere", "f"), "rb") as f:
        check(f.read() == b"precious", "its target survives")
    check(os.path.isdir(os.path.join(data, "member.etcd-dr-" + r3)), "the unfinished run survives")
    check(os.path.isdir(waldir + ".etcd-dr-" + r3), "... its wal too")
    check(os.path.exists(os.path.join(data, "member.etcd-dr-notarun", "f")), "the decoy survives")
    check(os.path.exists(os.path.join(data, "member", "snap", "db")), "the live member survives")
    check(not [n for n in os.listdir(data) if n.startswith(".etcd-dr-pruning-")], "no trash left")
    r = a.call("prune-aside", data_dir=data, wal_dir=waldir, lock_run=me, runs=[r1])
    if ok(r, "prune-aside again"):
        check(r["result"]["removed"] == [], "nothing left to remove: no error", r)
    a.close()


# ---- attacks by the etcd user (docs/security.md) ---------------------------
# The data dir belongs to the user etcd runs as; the agent runs as root.
# Each attack below is made by that user (uid ATTACKER, through setpriv),
# between the agent's requests, and its outcome is checked on disk.

ATTACKER = 65534


def as_attacker(script):
    """Run shell SCRIPT as the unprivileged owner of the data dir."""
    return subprocess.run(["setpriv", "--reuid=%d" % ATTACKER, "--regid=%d" % ATTACKER,
                           "--clear-groups", "sh", "-euc", script],
                          capture_output=True, text=True, timeout=60)


def attack_setup(base):
    """A data dir owned by the attacker in a root-owned, world-searchable
    base; returns its path."""
    if os.geteuid() != 0:
        skip("needs root: the attacks are made by another user against a root agent")
    if not shutil.which("setpriv"):
        skip("no setpriv (util-linux) to act as another user")
    os.chmod(base, 0o755)
    data = os.path.join(base, "etcd")
    os.mkdir(data, 0o700)
    os.chown(data, ATTACKER, ATTACKER)
    return data


def receive(a, path, payload):
    line, _ = a.request("receive", path=path, size=len(payload), sha256=sha(payload))
    a.send(line + payload)
    return a.reply()


def case_attack_staging(base):
    data = attack_setup(base)
    victim = os.path.join(base, "victim")  # root's: the attacker cannot write here
    os.mkdir(victim, 0o755)
    legit = b'#!/bin/sh\nmkdir -p "$5" && cp "$3" "$5/db"\n'
    evil = ('#!/bin/sh\nid -u > %s/pwned\n' % base).encode()
    snap = os.urandom(4096)

    # 1. The pushed tool is replaced by the etcd user after it was received:
    # the staging dir is renamed away and one of its own put in its place.
    staging = os.path.join(data, ".etcd-dr-R1")
    tool = os.path.join(staging, "bin", "etcdutl")
    a = Agent(base)
    ok(receive(a, tool, legit), "receive the tool")
    ok(a.call("chown", path=tool, owner="0:0", mode="0700"), "tool root-only")
    ok(receive(a, staging + "/snapshot.db", snap), "receive the snapshot")
    argv = [tool, "snapshot", "restore", staging + "/snapshot.db", "--data-dir",
            staging + "/data"]
    # Unattacked, the tool runs and writes below the staging dir.
    r = a.call("run", argv=argv, staging=staging, sha256=sha(legit), timeout_ms=10000)
    if ok(r, "run the pushed tool in its staging dir"):
        with open(staging + "/data/db", "rb") as f:
            check(f.read() == snap, "the tool wrote the restored data below the staging dir")
    shutil.rmtree(staging + "/data")
    write(os.path.join(base, "evil"), evil)
    att = as_attacker("cd %s; mv .etcd-dr-R1 .old; mkdir -p .etcd-dr-R1/bin; "
                      "cp %s/evil .etcd-dr-R1/bin/etcdutl; chmod 755 .etcd-dr-R1/bin/etcdutl; "
                      "echo forged > .etcd-dr-R1/snapshot.db" % (data, base))
    check(att.returncode == 0, "attacker swapped the staging dir", att.stderr)
    r = a.call("run", argv=argv, staging=staging, sha256=sha(legit), timeout_ms=10000)
    err(r, "EDR_EACCES", "run in a swapped staging dir", staging)
    check(not os.path.exists(os.path.join(base, "pwned")),
          "the attacker's program did not run as root")
    check(not os.path.exists(staging + "/data"), "nothing written into the attacker's dir")
    a.close()

    # 2. A host tool (no push): the staging dir is swapped for one whose
    # 'data' is a symlink into root's files; the root-run tool must not
    # write through it.
    hosttool = os.path.join(base, "tools", "etcdutl")
    write(hosttool, legit, 0o755)
    staging = os.path.join(data, ".etcd-dr-R2")
    a = Agent(base)
    ok(receive(a, staging + "/snapshot.db", snap), "receive the snapshot (host tool)")
    att = as_attacker('cd %s; mv .etcd-dr-R2 .old2; mkdir .etcd-dr-R2; '
                      'echo forged > .etcd-dr-R2/snapshot.db; ln -s %s .etcd-dr-R2/data'
                      % (data, victim))
    check(att.returncode == 0, "attacker swapped the staging dir (host tool)", att.stderr)
    r = a.call("run", argv=[hosttool, "snapshot", "restore", staging + "/snapshot.db",
                            "--data-dir", staging + "/data"], staging=staging,
               timeout_ms=10000)
    err(r, "EDR_EACCES", "host tool in a swapped staging dir", staging)
    check(not os.path.exists(os.path.join(victim, "db")),
          "the root-run tool wrote nothing through the attacker's symlink")
    a.close()

    # 3. A symlink in the middle of a path: receive must not follow it out
    # of the data dir into root's files.
    as_attacker("ln -s %s %s/.etcd-dr-R3" % (victim, data))
    a = Agent(base)
    r = receive(a, os.path.join(data, ".etcd-dr-R3", "snapshot.db"), snap)
    err(r, "EDR_EACCES", "receive through a symlink in the data dir", ".etcd-dr-R3")
    check(not os.path.exists(os.path.join(victim, "snapshot.db")) and
          not os.path.exists(os.path.join(victim, "snapshot.db.part")),
          "nothing written through the symlink")
    # mkdir and rename do not follow it either
    err(a.call("mkdir", path=os.path.join(data, ".etcd-dr-R3", ".etcd-dr-x")),
        "EDR_EACCES", "mkdir through a symlink", ".etcd-dr-R3")
    check(not os.path.exists(os.path.join(victim, ".etcd-dr-x")), "no directory made there")
    write(os.path.join(victim, "member"), b"root's")
    r = a.call("rename", **{"from": os.path.join(data, ".etcd-dr-R3", "member"),
                            "to": os.path.join(data, "member.aside")})
    err(r, "EDR_EACCES", "rename through a symlink", ".etcd-dr-R3")
    check(os.path.exists(os.path.join(victim, "member")), "root's file not moved")
    a.close()

    # 4. Another run's staging dir (root's, private, with an older snapshot)
    # renamed into this run's name between receive and restore.
    older, staging = os.path.join(data, ".etcd-dr-R0"), os.path.join(data, ".etcd-dr-R4")
    a = Agent(base)
    ok(receive(a, older + "/snapshot.db", b"older data"), "receive into another run's dir")
    ok(receive(a, staging + "/snapshot.db", snap), "receive into this run's dir")
    att = as_attacker("cd %s; mv .etcd-dr-R4 .x4; mv .etcd-dr-R0 .etcd-dr-R4" % data)
    check(att.returncode == 0, "attacker renamed the other run's dir into place", att.stderr)
    r = a.call("run", argv=[hosttool, "snapshot", "restore", staging + "/snapshot.db",
                            "--data-dir", staging + "/data"], staging=staging,
               timeout_ms=10000)
    err(r, "EDR_EACCES", "run in another run's staging dir", staging, "not the directory")
    check(not os.path.exists(staging + "/data"), "the older snapshot was not restored")
    a.close()

    # 5. The WAL dir is created by the root-run tool next to a custom wal_dir,
    # in a directory the etcd user may write: a symlink planted there must
    # not be written through.  The tool works in a holder of etcd-dr's own
    # (created by run when missing), never in that directory.
    staging = os.path.join(data, ".etcd-dr-R5")
    holder = os.path.join(data, ".etcd-dr-R5-wal")
    waltool = os.path.join(base, "tools", "waltool")
    write(waltool, b'#!/bin/sh\nmkdir -p "$2" && echo wal > "$2/0.wal"\n', 0o755)
    a = Agent(base)
    ok(receive(a, staging + "/snapshot.db", snap), "receive (wal case)")
    r = a.call("run", argv=[waltool, staging + "/data", holder + "/wal"],
               staging=[staging, holder], timeout_ms=10000)
    if ok(r, "run with a wal holder it creates"):
        s = os.lstat(holder)
        check(s.st_uid == 0 and stat.S_IMODE(s.st_mode) == 0o700, "holder is root's, 0700")
        check(os.path.exists(holder + "/wal/0.wal"), "the tool wrote its wal in the holder")
    shutil.rmtree(holder)
    att = as_attacker("ln -s %s %s" % (victim, holder))
    check(att.returncode == 0, "attacker planted a symlink as the wal holder", att.stderr)
    r = a.call("run", argv=[waltool, staging + "/data", holder + "/wal"],
               staging=[staging, holder], timeout_ms=10000)
    err(r, "EDR_EACCES", "run with a planted wal holder", holder)
    check(not os.path.exists(os.path.join(victim, "wal")),
          "nothing written through the planted symlink")
    a.close()


def case_attack_chmod(base):
    data = attack_setup(base)
    # The data dir in a directory of the etcd user's (as /var/lib/etcd/default
    # under an etcd-owned /var/lib/etcd); root's files nearby.
    victim = os.path.join(base, "victim")
    write(os.path.join(victim, "default", "secret"), b"root's", 0o600)
    os.chmod(os.path.join(victim, "default"), 0o755)
    os.makedirs(os.path.join(data, "d", "default", "member"))
    subprocess.run(["chown", "-R", "%d:%d" % (ATTACKER, ATTACKER), data], check=True)
    a = Agent(base)

    # 1. A symlink in the middle of the path: the ownership step must not
    # chown or chmod what it points to.
    att = as_attacker("cd %s; mv d d.real; ln -s %s d" % (data, victim))
    check(att.returncode == 0, "attacker swapped a directory for a symlink", att.stderr)
    r = a.call("chown", path=os.path.join(data, "d", "default"), uid=ATTACKER,
               gid=ATTACKER, mode="0700", recursive=True)
    err(r, "EDR_EACCES", "chown through a symlink in the path", os.path.join(data, "d"))
    for p in (os.path.join(victim, "default"), os.path.join(victim, "default", "secret")):
        s = os.lstat(p)
        check(s.st_uid == 0 and s.st_gid == 0, "root's %s still root's" % p, (s.st_uid, s.st_gid))
    check(stat.S_IMODE(os.lstat(os.path.join(victim, "default")).st_mode) == 0o755,
          "root's directory keeps its mode")

    # 2. The data dir swapped for a symlink to a root file while the step
    # runs (renameat2 RENAME_EXCHANGE in a loop): the final chmod must never
    # reach the root file.
    secret = os.path.join(victim, "secret2")
    write(secret, b"root's", 0o600)
    parent = os.path.join(data, "p")
    os.makedirs(os.path.join(parent, "default"))
    for i in range(300):
        write(os.path.join(parent, "default", "f%03d" % i), b"x")
    os.symlink(secret, os.path.join(parent, "link"))
    subprocess.run(["chown", "-Rh", "%d:%d" % (ATTACKER, ATTACKER), parent], check=True)
    swapper = subprocess.Popen(
        ["setpriv", "--reuid=%d" % ATTACKER, "--regid=%d" % ATTACKER, "--clear-groups",
         sys.executable, "-c",
         "import ctypes, os, time\n"
         "libc = ctypes.CDLL(None, use_errno=True)\n"
         "os.chdir(%r)\n"
         "end = time.time() + 60\n"
         "while time.time() < end:\n"
         "    for _ in range(1000):\n"
         "        libc.renameat2(-100, b'default', -100, b'link', 2)\n" % parent])
    tries = 0
    try:
        deadline = time.time() + 20
        while time.time() < deadline and tries < 400:
            tries += 1
            a.call("chown", path=os.path.join(parent, "default"), uid=ATTACKER,
                   gid=ATTACKER, mode="0750", recursive=True)
            s = os.stat(secret)
            if stat.S_IMODE(s.st_mode) != 0o600 or s.st_uid != 0:
                break
    finally:
        swapper.kill()
        swapper.wait()
    s = os.stat(secret)
    check(stat.S_IMODE(s.st_mode) == 0o600, "root's file keeps mode 0600 after %d tries "
          "against the swap" % tries, oct(s.st_mode))
    check(s.st_uid == 0, "root's file still root's", s.st_uid)
    a.close()


def call_within(a, seconds, op, **fields):
    """The reply to OP, or None (and the agent killed) when none came within
    SECONDS: a hung root agent is the failure these tests look for."""
    if a.p.poll() is not None:
        return None
    line, _ = a.request(op, **fields)
    a.send(line)
    if not select.select([a.p.stdout], [], [], seconds)[0]:
        a.p.kill()
        a.p.wait()
        return None
    return a.reply()


def case_attack_fifo(base):
    data = attack_setup(base)
    att = as_attacker("cd %s; mkfifo .etcd-dr-lock; mkdir -p member/snap; mkfifo member/snap/db; "
                      "mkfifo plain" % data)
    check(att.returncode == 0, "attacker made FIFOs in its data dir", att.stderr)

    a = Agent(base)
    lock = os.path.join(data, ".etcd-dr-lock")
    r = call_within(a, 10, "lock", path=lock, holder={"run_id": "r1"})
    check(r is not None, "lock on a FIFO answers (does not hang)")
    if r is not None:
        err(r, "EDR_EINVAL", "lock on a FIFO", lock, "special file")
        check(stat.S_ISFIFO(os.lstat(lock).st_mode), "the FIFO is left alone")
        ok(a.call("hello"), "agent still serving after the FIFO lock")
    a.close()

    a = Agent(base)
    r = call_within(a, 30, "probe", data_dir=data, restore_tool="/nonexistent/etcdutl")
    check(r is not None, "probe with a FIFO as member/snap/db answers (does not hang)")
    if r is not None and ok(r, "probe with a FIFO db"):
        check(r["result"]["data_dir"]["revision"] is None, "no revision from a FIFO", r)
    a.close()

    a = Agent(base)
    plain = os.path.join(data, "plain")
    r = call_within(a, 10, "hash", path=plain)
    check(r is not None, "hash of a FIFO answers (does not hang)")
    if r is not None:
        err(r, "EDR_EINVAL", "hash of a FIFO", plain, "special file")
    r = call_within(a, 10, "db-info", path=os.path.join(data, "member", "snap", "db"))
    check(r is not None, "db-info of a FIFO answers (does not hang)")
    if r is not None:
        err(r, "EDR_EINVAL", "db-info of a FIFO", "special file")
    a.close()


def case_attack_ownership(base):
    data = attack_setup(base)
    a = Agent(base)

    # 1. A .part made beforehand by the etcd user (its own file, with a second
    # name it keeps): receive must write a new root file, not into that one.
    att = as_attacker("cd %s; : > snap.db.part; chmod 666 snap.db.part; ln snap.db.part keep"
                      % data)
    check(att.returncode == 0, "attacker made snap.db.part with a second link", att.stderr)
    payload = os.urandom(8192)
    dest = os.path.join(data, "snap.db")
    if ok(receive(a, dest, payload), "receive over a planted .part"):
        s = os.lstat(dest)
        check(s.st_uid == 0 and stat.S_IMODE(s.st_mode) == 0o600,
              "received file is root's, mode 0600", (s.st_uid, oct(s.st_mode)))
        with open(os.path.join(data, "keep"), "rb") as f:
            check(f.read() == b"", "the attacker's file got none of the bytes")
    att = as_attacker("echo forged >> %s" % dest)
    check(att.returncode != 0, "the attacker cannot change the received file")
    with open(dest, "rb") as f:
        check(f.read() == payload, "received file intact")

    # 2. The ownership step (chown -R of the data dir to the etcd user) must
    # leave etcd-dr's own files root's: the lock, the staging dir with the
    # pushed tool, the marker --resume trusts.
    lock = os.path.join(data, ".etcd-dr-lock")
    staging = os.path.join(data, ".etcd-dr-R1")
    marker = os.path.join(data, ".etcd-dr-R1.done")
    tool = os.path.join(staging, "bin", "etcdutl")
    ok(a.call("lock", path=lock, holder={"run_id": "R1"}), "lock")
    ok(receive(a, tool, b"#!/bin/sh\n"), "receive the tool")
    ok(a.call("mark", path=marker, line="5 stop"), "mark")
    os.makedirs(os.path.join(data, "member", "snap"))
    r = a.call("chown", path=data, uid=ATTACKER, gid=ATTACKER, mode="0700", recursive=True)
    ok(r, "chown -R of the data dir")
    check(os.lstat(os.path.join(data, "member", "snap")).st_uid == ATTACKER,
          "etcd's files are etcd's")
    for p in (lock, staging, tool, marker):
        check(os.lstat(p).st_uid == 0, "%s stays root's" % os.path.basename(p))
    att = as_attacker("echo '9 install' >> %s" % marker)
    check(att.returncode != 0, "the attacker cannot append to the marker")
    att = as_attacker("echo evil > %s" % tool)
    check(att.returncode != 0, "the attacker cannot rewrite the pushed tool")
    att = as_attacker("echo '{}' > %s" % lock)
    check(att.returncode != 0, "the attacker cannot rewrite the lock")

    # 3. The etcd user can still delete the marker and write its own (it owns
    # the directory): --resume reads it with own=true and refuses it, and
    # mark does not append to it.
    att = as_attacker("cd %s; rm -f .etcd-dr-R1.done; printf '5 stop\\n6 move-aside\\n' "
                      "> .etcd-dr-R1.done" % data)
    check(att.returncode == 0, "attacker forged a marker", att.stderr)
    err(a.call("read", path=marker, own=True), "EDR_EACCES", "read of a forged marker",
        marker)
    err(a.call("mark", path=marker, line="7 install"), "EDR_EACCES", "mark of a forged marker",
        marker)
    with open(marker) as f:
        check(f.read() == "5 stop\n6 move-aside\n", "nothing appended to the forged marker")

    # 4. A file system mounted inside the data dir is not chowned.
    mnt = os.path.join(data, "mnt")
    os.mkdir(mnt)
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "edr-test", mnt],
                      stderr=subprocess.DEVNULL).returncode != 0:
        print("cannot mount a tmpfs here: the mount point check is not exercised")
    else:
        try:
            write(os.path.join(mnt, "f"), b"x")
            ok(a.call("chown", path=data, uid=ATTACKER, gid=ATTACKER, recursive=True),
               "chown -R over a mount point")
            check(os.lstat(mnt).st_uid == 0 and os.lstat(os.path.join(mnt, "f")).st_uid == 0,
                  "the mounted file system is left alone")
            check(any("another file system" in e.get("message", "") for e in a.events),
                  "a log line says why", a.events)
        finally:
            subprocess.run(["umount", mnt])
    a.close()


CASES = {k[5:]: v for k, v in globals().items() if k.startswith("case_")}


def main():
    if len(sys.argv) != 3 or sys.argv[2] not in CASES:
        print("usage: agent_test.py AGENT CASE  (cases: %s)" % " ".join(CASES), file=sys.stderr)
        return 2
    if not os.access(AGENT, os.X_OK):
        print("FAIL: no agent binary at " + AGENT, file=sys.stderr)
        return 1
    base = tempfile.mkdtemp(prefix="edr-agent-test.")
    try:
        CASES[sys.argv[2]](base)
    except Exception as e:  # a crash is a failure, with its story
        import traceback
        traceback.print_exc()
        check(False, "case raised " + repr(e))
    finally:
        subprocess.run(["chmod", "-R", "u+rwx", base], stderr=subprocess.DEVNULL)
        shutil.rmtree(base, ignore_errors=True)
    print("%s: %d checks, %d failed" % (sys.argv[2], checks, failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
