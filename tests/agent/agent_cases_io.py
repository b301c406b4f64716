"""agent_cases_io.py - the agent's protocol and data path: hello, probe and
the restore tools it finds, receive (plain and zstd), the relay between
hosts, send."""
# pylint: disable=wildcard-import,unused-wildcard-import
from agent_lib import *  # noqa: F401,F403


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

    # relay-listen: a port held by a socket that is bound and not listening
    # (a host's own connection's local port) is said at once; a free one is
    # kept for the relay-check on it, which hears the previous host there.
    held, port = socket.socket(), free_port()
    held.bind(("0.0.0.0", port))
    a = Agent(base)
    r = a.call("relay-listen", port=port)
    if ok(r, "relay-listen on a held port answers"):
        check(r["result"]["listening"] is False and "cannot listen on port %d: address already "
              "in use" % port in r["result"]["error"], "relay-listen: the held port and why", r)
    held.close()
    port = free_port()
    r = a.call("relay-listen", port=port)
    if ok(r, "relay-listen on a free port"):
        check(r["result"]["listening"] is True, "relay-listen: listening", r)
    b = Agent(base)
    lb, _ = b.request("relay-check", key="ab" * 32, wait_ms=5000,
                      forward={"addr": "127.0.0.1", "port": port, "host": "a"})
    b.send(lb)
    r = a.call("relay-check", key="ab" * 32, wait_ms=5000, listen={"port": port})
    if ok(r, "relay-check on relay-listen's socket"):
        check(r["result"]["listen"]["heard"] is True, "relay-check heard on the kept socket", r)
    ok(b.reply(), "relay-check forward")
    a.close()
    b.close()


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
