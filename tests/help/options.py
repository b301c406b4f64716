#!/usr/bin/env python3
"""options.py --etcd-dr PATH - the option table as a user meets it, word for
word: durations with units (and a bare number in the option's old unit),
-w/--write-out and what each command prints with it, etcdctl's ETCDCTL_*
variables with a flag winning over them, a playbook named by name, and the
one error prefix.  Each case compares the exit status and the whole of
stderr (and stdout where it says); nothing is contacted but 127.0.0.1's
closed ports.
"""
import argparse, json, os, re, subprocess, sys, tempfile

ap = argparse.ArgumentParser()
ap.add_argument("--etcd-dr", required=True)
edr = os.path.abspath(ap.parse_args().etcd_dr)
tmp = tempfile.mkdtemp(prefix="edr-options.")
env0 = {k: v for k, v in os.environ.items() if not k.startswith("ETCDCTL_")}
env0.update(HOME=tmp, XDG_STATE_HOME=tmp)

IC = ["--initial-cluster", "a=http://10.0.0.1:2380,b=http://10.0.0.2:2380,c=http://10.0.0.3:2380"]
DEAD = ["--initial-cluster", "m1=http://127.0.0.1:2380", "--no-ssh"]
spec = os.path.join(tmp, "c.json")
with open(spec, "w") as f:
    json.dump({"members": [{"name": n, "peer_urls": ["http://10.0.0.%d:2380" % i],
                            "env_file": "/etc/default/etcd"}
                           for i, n in enumerate("abc", 1)]}, f)

E = "etcd-dr: error: "
cases = [
    # durations
    (["restore", "--health-timeout", "5x", "--snapshot", "s.db"] + IC, {}, 2, None,
     E + "--health-timeout: '5x' is not a duration such as 90s, 2m or 1h (a bare number "
     "is seconds)\n"),
    (["rollback", "R", "--health-timeout", "2d"] + IC, {}, 2, None,
     E + "--health-timeout: '2d' is more than 24h\n"),
    (["status", "--timeout", "1x"] + DEAD, {}, 2, None,
     E + "--timeout: '1x' is not a duration such as 90s, 2m or 1h (a bare number is "
     "milliseconds)\n"),
    (["snapshot", "save", "--deadline", "8d", "-o", "x.db", "--endpoint", "http://127.0.0.1:9"],
     {}, 2, None, E + "--deadline: '8d' is more than 168h\n"),
    # etcdctl's variables: read when no flag says otherwise, never when one does
    (["status"] + DEAD, {"ETCDCTL_DIAL_TIMEOUT": "bogus"}, 2, None,
     E + "ETCDCTL_DIAL_TIMEOUT: 'bogus' is not a duration such as 90s, 2m or 1h (a bare "
     "number is milliseconds)\n"),
    (["status", "--timeout", "300ms", "-w", "simple"] + DEAD, {"ETCDCTL_DIAL_TIMEOUT": "bogus"},
     8, "m1, -, -, unreachable, -, -, -, -, -, -, -, -, -, -, -\n", ""),
    (["snapshot", "save", "-o", "x.db"], {"ETCDCTL_ENDPOINTS": "http://a:2379,http://b:2379"},
     2, None, E + "snapshot save: ETCDCTL_ENDPOINTS names several endpoints "
     "('http://a:2379,http://b:2379'); a snapshot comes from one: give --endpoint URL or "
     "--cluster FILE\n"),
    (["snapshot", "save", "-o", os.path.join(tmp, "x.db")],
     {"ETCDCTL_ENDPOINTS": "http://127.0.0.1:9"}, 4, "",
     E + "cannot reach endpoint 'http://127.0.0.1:9': connection refused (Failed to connect "
     "to 127.0.0.1 port 9 after N ms: Couldn't connect to server)\n"),
    (["status", "--key", "k.pem"] + DEAD, {"ETCDCTL_CERT": ""}, 2, None,
     E + "--key (or ETCDCTL_KEY) needs --cert (or ETCDCTL_CERT)\n"),
    (["status"] + DEAD, {"ETCDCTL_KEY": "k.pem"}, 2, None,
     E + "--key (or ETCDCTL_KEY) needs --cert (or ETCDCTL_CERT)\n"),
    # -w: one flag, what each command can print
    (["plan", "-w", "simple"] + IC, {}, 2, None,
     E + "--write-out: plan prints table or json, not simple\n"),
    (["status", "--write-out", "yaml"] + DEAD, {}, 2, None,
     E + "--write-out: 'yaml' is not table, json, simple or fields\n"),
    (["prune", "--keep", "1", "-w", "simple"] + IC, {}, 2, None,
     E + "--write-out: prune prints table or json, not simple\n"),
    (["plan", "--format", "xml"] + IC, {}, 2, None,
     E + "--format: 'xml' is not table, json, simple or fields\n"),
    # a mistyped option: the hint comes from the same table
    (["restore", "--helth-timeout", "2m"] + IC, {}, 2, None,
     E + "unknown option '--helth-timeout' (did you mean '--health-timeout'?)\n"
     "usage: etcd-dr restore (--cluster FILE | --initial-cluster SPEC) --snapshot FILE\n"
     "'etcd-dr restore --help' lists every option.\n"),
    (["status", "--write-ot", "json"] + DEAD, {}, 2, None,
     E + "unknown option '--write-ot' (did you mean '--write-out'?)\n"
     "usage: etcd-dr status (--cluster FILE | --initial-cluster SPEC) [OPTIONS]\n"
     "'etcd-dr status --help' lists every option.\n"),
    (["rollback", "R", "-w", "json"] + IC, {}, 2, None,
     E + "unknown option '-w'\n"
     "usage: etcd-dr rollback RUN (--cluster FILE | --initial-cluster SPEC) [OPTIONS]\n"
     "'etcd-dr rollback --help' lists every option.\n"),
    # playbooks by name
    (["run", "replce-member", "--var", "member=b"] + IC, {}, 2, None,
     E + "no playbook named 'replce-member': 'etcd-dr run --list' shows the shipped ones "
     "and where they are; a playbook file is named by its path\n"),
    (["run", "--list", "extra"], {}, 2, None,
     E + "unexpected argument 'extra' (--list takes none)\n"),
    # the one prefix, also where the snapshot verbs print their own
    (["snapshot", "status", "--bogus"], {}, 2, None,
     E + "snapshot status: unknown option '--bogus'\n"
     "usage: etcd-dr snapshot status FILE [-w table|json|simple|fields]\n"
     "                               [--skip-hash-check]\n"
     "       etcd-dr snapshot verify FILE [--skip-hash-check]\n"
     "       etcd-dr snapshot save (-o FILE | --dir DIR [--keep N]) ...  (save --help)\n"),
    (["completion", "fish"], {}, 2, "",
     E + "completion: say which shell: bash or zsh\nusage: etcd-dr completion bash|zsh\n"),
]

passed = failed = 0


def run(args, env):
    e = dict(env0)
    e.update(env)
    return subprocess.run([edr] + args, capture_output=True, text=True, env=e, cwd=tmp,
                          stdin=subprocess.DEVNULL, timeout=60)


def check(name, ok, detail=""):
    global passed, failed
    if ok:
        passed += 1
        print("ok   " + name)
    else:
        failed += 1
        print("FAIL " + name + ("\n" + detail if detail else ""))


for args, env, want_rc, want_out, want_err in cases:
    p = run(args, env)
    p.stderr = re.sub(r"after \d+ ms", "after N ms", p.stderr)  # curl's timing
    ok = p.returncode == want_rc and p.stderr == want_err and \
        (want_out is None or p.stdout == want_out)
    check("%s %s" % (" ".join("%s=%s" % kv for kv in env.items()), " ".join(args)), ok,
          "  rc %d (want %d)\n  stdout %r\n  stderr %r\n  want   %r" %
          (p.returncode, want_rc, p.stdout[:300], p.stderr, want_err))


# durations reach the plan: 90s, 1m30s and a bare 90 are the same 90 s
def dry_run_health(value):
    p = run(["run", "replace-member", "--var", "member=b", "--cluster", spec, "--dry-run",
             "-w", "json", "--health-timeout", value], {})
    if p.returncode:
        return "rc %d: %s" % (p.returncode, p.stderr)
    return json.loads(p.stdout).get("health_timeout_ms")


for v in ("90s", "1m30s", "90", "1.5m"):
    got = dry_run_health(v)
    check("--health-timeout %s is 90000 ms in the plan" % v, got == 90000, "  got %r" % got)

# the shipped playbooks by name, from the build dir
p = run(["run", "--list", "-w", "simple"], {})
names = [line.split(",")[0] for line in p.stdout.splitlines()]
check("run --list -w simple names the shipped playbooks",
      p.returncode == 0 and names == ["rebuild-from-one", "replace-member", "restore",
                                      "restore-kubernetes", "snapshot-rotate"],
      "  rc %d %r %r" % (p.returncode, p.stdout, p.stderr))
p = run(["run", "--list"], {})
check("run --list: each playbook, its file, its description",
      p.returncode == 0 and p.stdout.startswith("rebuild-from-one    /") and
      "\n                    Quorum intact, one member lost: remove it, add it back"
      in p.stdout, p.stdout[:600])

# -w json on snapshot save's failure prints nothing on stdout; plan -w json is
# the same document --format json gave
a = run(["plan", "-w", "json", "--run-id", "R1"] + IC, {})
b = run(["plan", "--format", "json", "--run-id", "R1"] + IC, {})
check("plan -w json is --format json's document", a.returncode == 0 and a.stdout == b.stdout
      and json.loads(a.stdout).get("run_id") == "R1", a.stderr + b.stderr)

print("options: %d passed, %d failed" % (passed, failed))
sys.exit(1 if failed else 0)
