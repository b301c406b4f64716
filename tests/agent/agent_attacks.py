"""agent_attacks.py - the etcd user (or any unprivileged user) attacking
the root agent: staging dir, chmod, fifo and ownership races; each case
runs the attack as uid 65534 and checks the agent refuses it."""
# pylint: disable=wildcard-import,unused-wildcard-import
from agent_lib import *  # noqa: F401,F403


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
