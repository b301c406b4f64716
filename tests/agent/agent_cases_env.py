"""agent_cases_env.py - the agent among the host's surroundings: network
namespaces, a full disk, the sshd bootstrap, env files and manifests,
old runs' moved-aside dirs."""
# pylint: disable=wildcard-import,unused-wildcard-import
import gzip

from agent_lib import *  # noqa: F401,F403


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
            packed = gzip.compress(f.read(), 9, mtime=0)
        # A cut gzip stream: exit 96, no directory printed.
        r = subprocess.run(ssh + [boot], input=packed[:len(packed) // 2], capture_output=True,
                           timeout=60)
        check(r.returncode == 96 and r.stdout.decode().count("\n") == 1,
              "a cut gzip stream fails the bootstrap (exit 96)", (r.returncode, r.stdout))
        r = subprocess.run(ssh + [boot], input=packed, capture_output=True, timeout=60)
        arch, _, out = r.stdout.decode().strip().partition("\n")
        check(r.returncode == 0, "bootstrap exits 0", (r.returncode, r.stderr))
        check(arch == os.uname().machine + " gzip",
              "bootstrap names this machine's architecture first, and that it has gzip", arch)
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
