#!/usr/bin/env python3
"""exit_codes.py --etcd-dr PATH --source DIR - docs/exit-codes.md is true of
every command: the statuses each command's --help names are exactly the
ones the page's second table gives it, every status there is in the first
table, and the statuses that need no cluster are produced for real: 2 for a
bad option in every command, 3 for a snapshot rejected (restore, plan,
snapshot verify and status), 4 for a host or member that could not be asked
(plan --check, status, snapshot save), 8 for a quorum lost.  Only
127.0.0.1 is contacted: a closed port, or a socket that accepts and never
answers.
"""
import argparse, os, re, socket, subprocess, sys, tempfile

ap = argparse.ArgumentParser()
ap.add_argument("--etcd-dr", required=True)
ap.add_argument("--source", required=True)
a = ap.parse_args()
edr = os.path.abspath(a.etcd_dr)
tmp = tempfile.mkdtemp(prefix="edr-exit.")
env = {k: v for k, v in os.environ.items() if not k.startswith("ETCDCTL_")}
env.update(HOME=tmp, XDG_STATE_HOME=tmp)
passed = failed = 0


def check(name, ok, detail=""):
    global passed, failed
    passed, failed = passed + bool(ok), failed + (not ok)
    print(("ok   " if ok else "FAIL ") + name + ("" if ok or not detail else "\n" + detail))


def run(args):
    return subprocess.run([edr] + args, capture_output=True, text=True, env=env, cwd=tmp,
                          stdin=subprocess.DEVNULL, timeout=60)


page = open(os.path.join(a.source, "docs/exit-codes.md")).read()
tables = re.findall(r"((?:^\|.*\|\n)+)", page, re.M)
meanings = {int(m) for m in re.findall(r"^\| (\d+) \|", tables[0], re.M)}
per_cmd = {}
for row in tables[1].splitlines()[2:]:
    cells = [c.strip() for c in row.strip("|").split("|")]
    for cmd in re.findall(r"`([a-z ]+)`", cells[0]):
        per_cmd[cmd] = {int(n) for n in re.findall(r"\b(\d+)\b", cells[1])}
check("the page gives every command a row",
      set(per_cmd) == {"restore", "run", "rollback", "plan", "prune", "status",
                       "snapshot status", "snapshot verify", "snapshot save", "completion",
                       "discover"},
      "  rows: %s" % sorted(per_cmd))
for cmd, codes in sorted(per_cmd.items()):
    check("%s: every status it names has a meaning in the first table" % cmd,
          codes <= meanings, "  %s not in %s" % (codes - meanings, meanings))
    p = run(cmd.split() + ["--help"])
    foot = p.stdout[p.stdout.rfind("Exit status"):]
    said = {int(n) for n in re.findall(r"(?:^|[;:(,] ?|\s)(\d+) (?=[a-z])", foot)}
    check("%s --help names exactly its statuses %s" % (cmd, sorted(codes)), said == codes,
          "  --help names %s\n%s" % (sorted(said), foot))

# 2: a bad option, in every command
for cmd in per_cmd:
    p = run(cmd.split() + ["--no-such-option"])
    check("%s --no-such-option: exit 2, 'etcd-dr: error: ' first (rc %d)" % (cmd, p.returncode),
          p.returncode == 2 and p.stderr.startswith("etcd-dr: error: "), p.stderr)

# 3: a snapshot rejected
bad = os.path.join(tmp, "bad.db")
with open(bad, "wb") as f:
    f.write(b"not a snapshot" * 100)
IC = ["--initial-cluster", "m1=http://127.0.0.1:2380"]
for args in (["snapshot", "verify", bad], ["snapshot", "status", bad],
             ["plan", "--snapshot", os.path.join(tmp, "missing.db")] + IC,
             ["restore", "--yes", "--snapshot", bad, "--known-hosts", "/dev/null"] + IC):
    p = run(args)
    check("%s: exit 3 (rc %d)" % (" ".join(args[:2]), p.returncode),
          p.returncode == 3 and p.stderr.startswith("etcd-dr: error: "), p.stderr)

# 4: could not ask; 8: quorum lost
closed = socket.socket()
closed.bind(("127.0.0.1", 0))
dead_port = closed.getsockname()[1]  # bound, never listening: refused
mute = socket.socket()
mute.bind(("127.0.0.1", 0))
mute.listen(16)                      # accepts, never answers
mute_port = mute.getsockname()[1]
cases = [
    (["plan", "--check", "--ssh-port", str(dead_port), "--known-hosts", "/dev/null"] + IC, 4),
    (["snapshot", "save", "-o", os.path.join(tmp, "s.db"), "--endpoint",
      "http://127.0.0.1:%d" % dead_port], 4),
]
with open(os.path.join(tmp, "dead.json"), "w") as f:
    f.write('{"members": [{"name": "m1", "peer_urls": ["http://127.0.0.1:2380"], '
            '"client_urls": ["http://127.0.0.1:%d"]}]}' % dead_port)
with open(os.path.join(tmp, "mute.json"), "w") as f:
    f.write('{"members": [{"name": "m1", "peer_urls": ["http://127.0.0.1:2380"], '
            '"client_urls": ["http://127.0.0.1:%d"]}]}' % mute_port)
cases += [
    (["status", "--no-ssh", "--timeout", "300ms", "--cluster",
      os.path.join(tmp, "dead.json")], 8),
    (["status", "--no-ssh", "--timeout", "300ms", "--cluster",
      os.path.join(tmp, "mute.json")], 4),
    (["plan", "--run-id", "R"] + IC, 0),
]
for args, want in cases:
    p = run(args)
    check("%s: exit %d (rc %d)" % (" ".join(args[:2]), want, p.returncode),
          p.returncode == want and (want == 0 or want == 8 or
                                    p.stderr.startswith("etcd-dr: error: ")
                                    or "NOT READY" in p.stdout or "UNKNOWN" in p.stdout),
          p.stdout[-400:] + p.stderr)
closed.close()
mute.close()

print("exit_codes: %d passed, %d failed" % (passed, failed))
sys.exit(1 if failed else 0)
