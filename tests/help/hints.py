#!/usr/bin/env python3
"""hints.py --etcd-dr PATH - what a tired operator's typo gets, word for word.

Each case runs the built etcd-dr with a mistake (a misspelt command, verb,
option or spec field, a pasted ETCD_INITIAL_CLUSTER, a name given twice, a
URL with a path or no scheme, a client port in a peer URL) and compares the
exit status and the whole of stderr with what docs/spec.md and the README
promise: a short usage line and the hint, never the whole help.  Contacts
nothing (plan without --check).
"""
import argparse, json, os, subprocess, sys, tempfile

ap = argparse.ArgumentParser()
ap.add_argument("--etcd-dr", required=True)
edr = ap.parse_args().etcd_dr
tmp = tempfile.mkdtemp(prefix="edr-hints.")


def spec(obj):
    path = os.path.join(tmp, "s%d.json" % len(os.listdir(tmp)))
    with open(path, "w") as f:
        json.dump(obj, f)
    return path


M = [{"name": "a", "peer_urls": ["http://10.0.0.1:2380"]}]
cases = [
    (["restroe"], 2,
     "etcd-dr: error: unknown command 'restroe' (did you mean 'restore'?)\n"
     "usage: etcd-dr COMMAND [OPTIONS]; 'etcd-dr --help' lists the commands.\n"),
    (["frobnicate"], 2,
     "etcd-dr: error: unknown command 'frobnicate'\n"
     "usage: etcd-dr COMMAND [OPTIONS]; 'etcd-dr --help' lists the commands.\n"),
    (["snapshot", "restore", "snap.db"], 2,
     "etcd-dr: error: 'snapshot restore' is etcdutl's; etcd-dr restores every member "
     "at once with 'etcd-dr restore --snapshot FILE --cluster FILE'\n"),
    (["snapshot", "stauts", "snap.db"], 2,
     "etcd-dr: error: unknown snapshot verb 'stauts' (did you mean 'status'?)\n"
     "usage: etcd-dr snapshot status|verify|save ...; 'etcd-dr snapshot --help' "
     "describes each.\n"),
    (["restore", "--clsuter", "c.json"], 2,
     "etcd-dr: error: unknown option '--clsuter' (did you mean '--cluster'?)\n"
     "usage: etcd-dr restore (--cluster FILE | --initial-cluster SPEC) --snapshot FILE\n"
     "'etcd-dr restore --help' lists every option.\n"),
    (["plan", "--cluster"], 2,
     "etcd-dr: error: option '--cluster' needs a value\n"
     "usage: etcd-dr plan (--cluster FILE | --initial-cluster SPEC) [OPTIONS]\n"
     "'etcd-dr plan --help' lists every option.\n"),
    (["status", "-x"], 2,
     "etcd-dr: error: unknown option '-x'\n"
     "usage: etcd-dr status (--cluster FILE | --initial-cluster SPEC) [OPTIONS]\n"
     "'etcd-dr status --help' lists every option.\n"),
    (["snapshot", "save", "--ouptut", "f.db"], 2,
     "etcd-dr: error: unknown option '--ouptut' (did you mean '--output'?)\n"
     "usage: etcd-dr snapshot save -o FILE (--cluster FILE | --initial-cluster SPEC)\n"
     "'etcd-dr snapshot save --help' lists every option.\n"),
    (["plan", "--cluster", spec({"members": [{"name": "a", "peerURLs": ["http://a:1"]}]})], 2,
     "etcd-dr: error: {0}: member 'a': unknown field 'peerURLs' (did you mean 'peer_urls'?)\n"),
    (["plan", "--cluster", spec({"members": [{"name": "a", "peer_url": ["http://a:1"]}]})], 2,
     "etcd-dr: error: {0}: member 'a': unknown field 'peer_url' (did you mean 'peer_urls'?)\n"),
    (["plan", "--cluster", spec({"sshUser": "x", "members": M})], 2,
     "etcd-dr: error: {0}: unknown field 'sshUser' (did you mean 'ssh_user'?)\n"),
    (["plan", "--initial-cluster", "m1=http://10.0.0.1:2380/peer"], 2,
     "etcd-dr: error: --initial-cluster: member 'm1': field 'peer_urls': "
     "'http://10.0.0.1:2380/peer' is not an http(s)://host:port URL: it has a path "
     "('/peer'): a peer or client URL is scheme://host:port\n"),
    (["plan", "--initial-cluster", "m1=10.0.0.1:2380"], 2,
     "etcd-dr: error: --initial-cluster: member 'm1': field 'peer_urls': '10.0.0.1:2380' "
     "is not an http(s)://host:port URL: it has no scheme: write http://10.0.0.1:2380 or "
     "https://10.0.0.1:2380\n"),
    (["plan", "--initial-cluster", "m1=http://10.0.0.1"], 2,
     "etcd-dr: error: --initial-cluster: member 'm1': field 'peer_urls': "
     "'http://10.0.0.1' is not an http(s)://host:port URL: it has no port (etcd's are "
     "2380 for peers and 2379 for clients)\n"),
]
passed = failed = 0
for args, want_rc, want_err in cases:
    want_err = want_err.replace("{0}", args[-1])
    p = subprocess.run([edr] + args, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    ok = p.returncode == want_rc and p.stderr == want_err
    passed += ok
    failed += not ok
    print("%s %s" % ("ok  " if ok else "FAIL", " ".join(args)))
    if not ok:
        print("  exit %d (want %d)\n  got:  %r\n  want: %r" % (p.returncode, want_rc,
                                                              p.stderr, want_err))

# Pasted as it stands in an env file: accepted, same plan as the bare string.
bare = "m1=http://10.0.0.1:2380,m2=http://10.0.0.2:2380,m3=http://10.0.0.3:2380"
outs = []
for s in (bare, 'ETCD_INITIAL_CLUSTER="%s"' % bare, "--initial-cluster=%s" % bare):
    p = subprocess.run([edr, "plan", "--initial-cluster", s, "--run-id", "R1", "--format",
                        "json"], capture_output=True, text=True)
    outs.append((p.returncode, p.stdout))
ok = outs[0][0] == 0 and all(o == outs[0] for o in outs) and \
    [h["member"] for h in json.loads(outs[0][1])["hosts"]] == ["m1", "m2", "m3"]
passed += ok
failed += not ok
print("%s ETCD_INITIAL_CLUSTER=\"...\" and --initial-cluster=... pasted as they stand" %
      ("ok  " if ok else "FAIL"))

# One name on two hosts: etcd reads it as one member with two peer URLs
# (a multi-homed host); more often a typo, so it is said before anything.
p = subprocess.run([edr, "plan", "--initial-cluster",
                    "m1=http://10.0.0.1:2380,m1=http://10.0.0.2:2380,m2=http://10.0.0.3:2380"],
                   capture_output=True, text=True)
ok = p.returncode == 0 and p.stderr.startswith(
    "etcd-dr: warning: member 'm1' is named twice, on two hosts ('10.0.0.1' and "
    "'10.0.0.2'): taken as one member with two peer URLs, as etcd reads it; if a name "
    "was typed twice, fix it\n")
passed += ok
failed += not ok
print("%s a name given two hosts is flagged" % ("ok  " if ok else "FAIL"))

# A client port in a peer URL is a warning, not an error.
p = subprocess.run([edr, "plan", "--initial-cluster", "m1=http://10.0.0.1:2379"],
                   capture_output=True, text=True)
ok = p.returncode == 0 and p.stderr.startswith(
    "etcd-dr: warning: member 'm1': peer URL 'http://10.0.0.1:2379' has port 2379, etcd's "
    "client port: is it the client URL? (peers listen on 2380 by default)\n")
passed += ok
failed += not ok
print("%s a client port in a peer URL is warned about" % ("ok  " if ok else "FAIL"))
print("hints.py: %d passed, %d failed" % (passed, failed))
sys.exit(1 if failed else 0)
