"""agent_cases_host.py - what the agent does on the host: run a process,
file operations, chown, locks (the host lock and the run lock), etcd's
own checks, end of input, the idle bound."""
# pylint: disable=wildcard-import,unused-wildcard-import
from agent_lib import *  # noqa: F401,F403


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


def start_etcd(base):
    """A one-member etcd on loopback in BASE/etcd-data: (process, client URL, peer URL,
    data dir)."""
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
    return proc, curl, purl, data


def case_etcd(base):
    proc, curl, purl, data = start_etcd(base)
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


def wait_etcd_up(a, proc, curl):
    """Ask /health through the agent's etcd-http until etcd at CURL answers
    (30 s at most); False, with a failed check, when it does not."""
    up, r = False, None
    deadline = time.time() + 30
    while time.time() < deadline and proc.poll() is None and not up:
        r = a.call("etcd-http", url=curl, method="GET", path="/health", timeout_ms=1000)
        up = r.get("ok") and r["result"]["code"] == 200
        if not up:
            time.sleep(0.2)
    return check(up, "etcd answers /health through etcd-http", r)


def case_etcd_auth(base):
    """etcd-http against a real etcd with authentication enabled (docs/auth.md):
    the status needs no token, a key range does; the token from
    /v3/auth/authenticate goes out as the Authorization header."""
    import base64
    import urllib.request
    proc, curl, _, _ = start_etcd(base)

    def gw(path, body, token=None):  # this test's own request, to set etcd up
        q = urllib.request.Request(curl + path, data=json.dumps(body).encode(),
                                   headers={"Authorization": token} if token else {})
        with urllib.request.urlopen(q, timeout=5) as r:
            return json.loads(r.read())

    a = Agent(base)
    try:
        if not wait_etcd_up(a, proc, curl):
            return
        key = base64.b64encode(b"/k").decode()
        gw("/v3/kv/put", {"key": key, "value": base64.b64encode(b"v").decode()})
        gw("/v3/auth/user/add", {"name": "root", "password": "s3cret-pw"})
        gw("/v3/auth/role/add", {"name": "root"})
        gw("/v3/auth/user/grant", {"user": "root", "role": "root"})
        gw("/v3/auth/enable", {})
        rng = json.dumps({"key": key})
        r = a.call("etcd-http", url=curl, method="POST", path="/v3/maintenance/status", body="{}")
        check(r.get("ok") and r["result"]["code"] == 200, "status needs no token", r)
        r = a.call("etcd-http", url=curl, method="POST", path="/v3/kv/range", body=rng)
        check(r.get("ok") and r["result"]["code"] != 200 and
              "user name is empty" in r["result"]["body"], "a range without a token is refused", r)
        r = a.call("etcd-http", url=curl, method="POST", path="/v3/auth/authenticate",
                   body=json.dumps({"name": "root", "password": "wrong"}))
        check(r.get("ok") and r["result"]["code"] == 400 and
              "authentication failed" in r["result"]["body"], "a wrong password: 400", r)
        r = a.call("etcd-http", url=curl, method="POST", path="/v3/auth/authenticate",
                   body=json.dumps({"name": "root", "password": "s3cret-pw"}))
        token = json.loads(r["result"]["body"]).get("token", "") if r.get("ok") else ""
        check(token != "", "a token for root", r)
        r = a.call("etcd-http", url=curl, method="POST", path="/v3/kv/range", body=rng,
                   authorization=token)
        kvs = json.loads(r["result"]["body"]).get("kvs", []) if r.get("ok") else []
        check(r.get("ok") and r["result"]["code"] == 200 and len(kvs) == 1 and
              kvs[0]["value"] == base64.b64encode(b"v").decode(),
              "with the token as the Authorization header, the range answers", r)
        r = a.call("etcd-http", url=curl, method="POST", path="/v3/kv/range", body=rng,
                   authorization="garbage")
        check(r.get("ok") and r["result"]["code"] == 401, "a bad token: 401", r)
        r = a.call("etcd-http", url=curl, method="POST", path="/v3/kv/range", body=rng,
                   authorization=token + "\r\nX-Evil: 1")
        err(r, "EDR_EINVAL", "a token with a line break", "authorization")
        check(token not in json.dumps(r), "the refusal does not quote the token", r)
    finally:
        a.close()
        proc.terminate()
        proc.wait(10)


def case_etcd_http(base):
    """etcd-http: a plain http:// URL is asked with a socket by both builds;
    an https:// URL gets TLS from the full agent and, from
    etcd-dr-agent-notls, a refusal that says it was built without tls."""
    import http.server
    import threading

    class H(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = b'{"health":"true"}'
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    srv = http.server.HTTPServer(("127.0.0.1", 0), H)
    port = srv.server_address[1]
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    a = Agent(base)
    try:
        r = a.call("etcd-http", url="http://127.0.0.1:%d" % port, method="GET", path="/health",
                   timeout_ms=5000)
        if ok(r, "etcd-http over plain http"):
            check(r["result"]["code"] == 200 and r["result"]["body"] == '{"health":"true"}',
                  "etcd-http: the member's answer", r)
        r = a.call("etcd-http", url="https://127.0.0.1:%d" % port, method="GET",
                   path="/health", timeout_ms=5000)
        msg = r.get("error", {}).get("message", "")
        if os.path.basename(AGENT).endswith("-notls"):
            err(r, "EDR_ETLS", "https from the agent built without tls", "built without tls",
                "--health-via here")
        else:
            # OpenSSL's own words ("wrong version number"), not the refusal
            check(r.get("error", {}).get("code") == "EDR_ETLS" and "without tls" not in msg,
                  "https to a plain http port: a tls failure from the full agent", r)
    finally:
        a.close()
        srv.shutdown()


def case_etcd_snapshot(base):
    """etcd-snapshot (snapshot save --via ssh): the agent takes a snapshot from
    a real etcd's client URL into a staging file: the file is what etcd sent
    (its image, then the SHA-256 of it), PATH.part gone; an existing PATH, a
    named TLS file that is missing, a refused port; with authentication
    enabled: refused without a user (etcd's words), a wrong password said so,
    done with the user; and from a fake gateway: an answer that goes past its
    announced size, one that stops (the idle bound), one cut short, etcd's
    error line and an HTTP error, each a failure with no file left."""
    import base64
    import hashlib
    import http.server
    import socketserver
    import threading
    import urllib.request
    proc, curl, _, _ = start_etcd(base)
    stage = os.path.join(base, ".etcd-dr-snap")
    os.mkdir(stage, 0o700)
    a = Agent(base)

    def gone(p):
        return not os.path.exists(p) and not os.path.exists(p + ".part")

    def sound(p):
        b = open(p, "rb").read()
        return len(b) % 512 == 32 and hashlib.sha256(b[:-32]).digest() == b[-32:]

    try:
        if not wait_etcd_up(a, proc, curl):
            return
        for i in range(50):
            q = urllib.request.Request(curl + "/v3/kv/put", data=json.dumps(
                {"key": base64.b64encode(b"key%d" % i).decode(), "value": "dg=="}).encode())
            urllib.request.urlopen(q, timeout=5).read()
        out = os.path.join(stage, "snapshot.db")
        # as the coordinator asks: the step's timeout_ms (an hour) bounds the whole
        r = a.call("etcd-snapshot", url=curl, path=out, idle_timeout_ms=5000,
                   connect_timeout_ms=5000, timeout_ms=3600000)
        if ok(r, "etcd-snapshot from a real etcd"):
            check(sound(out), "the file has etcd's sha-256 trailer over its image")
            check(r["result"]["bytes"] == os.path.getsize(out), "bytes is the file's size", r)
            check(not os.path.exists(out + ".part"), "no .part left")
            check(os.stat(out).st_mode & 0o777 == 0o600, "mode 0600")
        err(a.call("etcd-snapshot", url=curl, path=out), "EDR_EEXIST", "an existing path",
            "already exists")
        p2 = os.path.join(stage, "two.db")
        err(a.call("etcd-snapshot", url=curl, path=p2, cacert="/nonexistent/ca.crt"),
            "EDR_ETLS", "a missing CA file", "cannot read the CA certificate '/nonexistent/ca.crt'")
        check(gone(p2), "nothing written for a missing CA file")
        err(a.call("etcd-snapshot", url="http://127.0.0.1:%d" % free_port(), path=p2),
            "EDR_ECONNREFUSED", "a refused port", "connection refused")
        check(gone(p2), "nothing written for a refused port")
        err(a.call("etcd-snapshot", url=curl, path=p2, user="root"), "EDR_EINVAL",
            "a user without a password", "'user' and 'password'")

        def gw(path, body):
            q = urllib.request.Request(curl + path, data=json.dumps(body).encode())
            with urllib.request.urlopen(q, timeout=5) as resp:
                return resp.read()
        gw("/v3/auth/user/add", {"name": "root", "password": "s3cret-pw"})
        gw("/v3/auth/role/add", {"name": "root"})
        gw("/v3/auth/user/grant", {"user": "root", "role": "root"})
        gw("/v3/auth/enable", {})
        err(a.call("etcd-snapshot", url=curl, path=p2), "EDR_EETCDAUTH", "no user, auth enabled",
            "refused the snapshot: http 500: auth: user name is empty")
        check(gone(p2), "nothing written without a user")
        r = a.call("etcd-snapshot", url=curl, path=p2, user="root", password="wrong")
        err(r, "EDR_EETCDAUTH", "a wrong password",
            "authentication as 'root' failed: etcdserver: authentication failed, invalid user ID")
        check("wrong" not in json.dumps(r), "the refusal does not quote the password", r)
        check(gone(p2), "nothing written with a wrong password")
        r = a.call("etcd-snapshot", url=curl, path=p2, user="root", password="s3cret-pw")
        if ok(r, "etcd-snapshot as root"):
            check(sound(p2), "as root: a sound file")
    finally:
        a.close()
        proc.terminate()
        proc.wait(10)

    # ---- a fake gateway for what a real one does only when broken ----------
    blob = base64.b64encode(os.urandom(4096)).decode()

    class H(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        mode = ""

        def log_message(self, *args):
            pass

        def chunk(self, line):
            self.wfile.write(b"%x\r\n%s\r\n" % (len(line), line))
            self.wfile.flush()

        def do_POST(self):
            self.rfile.read(int(self.headers.get("Content-Length", "0")))
            m = H.mode
            if m == "http500":
                body = b'{"error":"boom","code":2,"message":"etcdserver: boom"}'
                self.send_response(500)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                return
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            first = json.dumps({"result": {"remaining_bytes": "8192", "blob": blob}}).encode()
            try:
                self.chunk(first + b"\n")
                if m == "overlong":
                    for _ in range(10):
                        self.chunk(json.dumps({"result": {"blob": blob}}).encode() + b"\n")
                elif m == "stall":
                    time.sleep(3)
                elif m == "errline":
                    self.chunk(b'{"error":{"grpc_code":2,"http_code":500,"message":'
                               b'"etcdserver: mvcc: database space exceeded"}}\n')
                    self.wfile.write(b"0\r\n\r\n")
                elif m == "cut":
                    self.wfile.write(b"400\r\n{\"resu")
                self.wfile.flush()
            except (BrokenPipeError, ConnectionResetError):
                pass
            self.close_connection = True

    class S(socketserver.ThreadingMixIn, http.server.HTTPServer):
        daemon_threads = True

    srv = S(("127.0.0.1", 0), H)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    url = "http://127.0.0.1:%d" % srv.server_address[1]
    a = Agent(base)
    try:
        cases = [("overlong", "EDR_ETOOBIG", "goes on past the"),
                 ("stall", "EDR_ETIMEDOUT", "no data for 1000 ms"),
                 ("errline", "EDR_EREMOTE", "database space exceeded"),
                 ("cut", "EDR_ECONNLOST", "ended early"),
                 ("http500", "EDR_EREMOTE", "refused the snapshot: http 500: etcdserver: boom")]
        for i, (mode, code, needle) in enumerate(cases):
            H.mode = mode
            p = os.path.join(stage, "fake%d.db" % i)
            t0 = time.time()
            r = a.call("etcd-snapshot", url=url, path=p, idle_timeout_ms=1000)
            err(r, code, "a gateway that is " + mode, needle)
            check(gone(p), "%s: no file and no .part" % mode)
            check(time.time() - t0 < 10, "%s: ended in time" % mode)
    finally:
        a.close()
        srv.shutdown()


def case_etcd_tls_name(base):
    """A member whose client URL names its host (https://etcd-test.invalid:PORT)
    and whose certificate is for that name: the coordinator resolves the name and
    sends the address as addr; the agent connects there and still checks the
    certificate against the URL's name.  etcd-snapshot and etcd-http against a
    real etcd over https: done; a name the certificate does not carry: a tls
    failure; no addr: the agent resolves no names; an addr that is not an IP
    address: refused."""
    import hashlib
    etcd = shutil.which("etcd") or "/usr/bin/etcd"
    if not os.path.exists(etcd):
        skip("no etcd binary (apt-get install etcd-server)")
    if os.path.basename(AGENT).endswith("-notls"):
        skip("the agent built without tls")
    pki = os.path.join(base, "pki")
    os.mkdir(pki)
    mk = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "health", "mkcerts.sh")
    subprocess.run(["sh", mk, pki, "etcd-test.invalid"], check=True)
    ca = os.path.join(pki, "ca.pem")
    cport, pport = free_port(), free_port()
    here = "https://127.0.0.1:%d" % cport
    purl = "http://127.0.0.1:%d" % pport
    log = open(os.path.join(base, "etcd.log"), "w")
    proc = subprocess.Popen([etcd, "--name", "t", "--data-dir", os.path.join(base, "etcd-data"),
                             "--listen-client-urls", here, "--advertise-client-urls", here,
                             "--listen-peer-urls", purl, "--initial-advertise-peer-urls", purl,
                             "--initial-cluster", "t=" + purl,
                             "--cert-file", os.path.join(pki, "server.pem"),
                             "--key-file", os.path.join(pki, "server-key.pem")],
                            stdout=log, stderr=subprocess.STDOUT)
    url = "https://etcd-test.invalid:%d" % cport
    stage = os.path.join(base, ".etcd-dr-snap")
    os.mkdir(stage, 0o700)
    a = Agent(base)
    try:
        up, r = False, None
        deadline = time.time() + 30
        while time.time() < deadline and proc.poll() is None and not up:
            r = a.call("etcd-http", url=url, addr="127.0.0.1", cacert=ca, method="GET",
                       path="/health", timeout_ms=1000)
            up = r.get("ok") and r["result"]["code"] == 200
            if not up:
                time.sleep(0.2)
        if not check(up, "etcd-http to the name at addr 127.0.0.1: /health answers", r):
            return
        out = os.path.join(stage, "snapshot.db")
        r = a.call("etcd-snapshot", url=url, addr="127.0.0.1", cacert=ca, path=out,
                   idle_timeout_ms=5000, connect_timeout_ms=5000, timeout_ms=60000)
        if ok(r, "etcd-snapshot to the name at addr 127.0.0.1"):
            b = open(out, "rb").read()
            check(len(b) % 512 == 32 and hashlib.sha256(b[:-32]).digest() == b[-32:],
                  "the file has etcd's sha-256 trailer over its image")
        p2 = os.path.join(stage, "two.db")
        other = "https://etcd-other.invalid:%d" % cport
        err(a.call("etcd-snapshot", url=other, addr="127.0.0.1", cacert=ca, path=p2),
            "EDR_ETLS", "a name the certificate does not carry", "certificate verify failed",
            "hostname mismatch")
        err(a.call("etcd-http", url=other, addr="127.0.0.1", cacert=ca, method="GET",
                   path="/health"),
            "EDR_ETLS", "etcd-http: a name the certificate does not carry", "hostname mismatch")
        err(a.call("etcd-snapshot", url=url, cacert=ca, path=p2), "EDR_ERESOLVE",
            "a name without addr", "the agent resolves no host names", "with an IP address")
        err(a.call("etcd-snapshot", url=url, addr="etcd-test.invalid", cacert=ca, path=p2),
            "EDR_EINVAL", "an addr that is not an IP address", "is not an IP address")
        check(not os.path.exists(p2) and not os.path.exists(p2 + ".part"),
              "nothing written by the failures")
    finally:
        a.close()
        proc.terminate()
        proc.wait(10)
