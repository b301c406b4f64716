#!/usr/bin/env python3
"""check_schema.py ETCD_DR REPO - docs/playbook.schema.json and etcd-dr agree.

Every shipped playbook and every JSON example in docs/playbooks.md is valid
under the schema; the schema's step kinds are exactly those etcd-dr accepts
(its "unknown kind" error lists them); and playbooks that break the schema in
one way each are refused both by the schema and by `etcd-dr run --dry-run`
(exit 2).  Uses Debian's python3-jsonschema."""
import copy
import glob
import json
import os
import re
import subprocess
import sys
import tempfile

import jsonschema

etcd_dr, repo = sys.argv[1], sys.argv[2]
schema = json.load(open(os.path.join(repo, "docs/playbook.schema.json")))
jsonschema.Draft202012Validator.check_schema(schema)
V = jsonschema.Draft202012Validator(schema)
fails = 0


def check(ok, what):
    global fails
    print(("ok   " if ok else "FAIL ") + what)
    fails += 0 if ok else 1


def errors(doc):
    return [e.message for e in V.iter_errors(doc)]


for path in sorted(glob.glob(os.path.join(repo, "playbooks/*.json"))):
    errs = errors(json.load(open(path)))
    check(not errs, "%s is valid under the schema %s" % (os.path.basename(path), errs[:2]))

# the docs' complete examples (whole playbooks) and block example
doc = open(os.path.join(repo, "docs/playbooks.md")).read()
for i, block in enumerate(re.findall(r"```json\n(.*?)```", doc, re.S)):
    j = json.loads(block)
    if "playbook" in j:
        check(not errors(j), "docs/playbooks.md example %d is valid %s" % (i + 1, errors(j)[:2]))
    elif j.get("target") == "each":
        wrapped = {"playbook": 1, "name": "x", "steps": [j]}
        check(not errors(wrapped), "docs/playbooks.md each-block example is valid %s"
              % errors(wrapped)[:2])

# the same kinds on both sides
kinds_schema = sorted(b["properties"]["kind"]["const"] for b in schema["$defs"]["step"]["oneOf"])
spec = tempfile.NamedTemporaryFile("w", suffix=".json", delete=False)
json.dump({"members": [{"name": "m%d" % i, "peer_urls": ["http://127.0.0.%d:2380" % i]}
                       for i in (1, 2, 3)], "env_file": "/etc/default/etcd"}, spec)
spec.close()


def dry_run(pb):
    f = tempfile.NamedTemporaryFile("w", suffix=".json", delete=False)
    json.dump(pb, f)
    f.close()
    r = subprocess.run([etcd_dr, "run", f.name, "--cluster", spec.name, "--dry-run"],
                       capture_output=True, text=True, stdin=subprocess.DEVNULL)
    os.unlink(f.name)
    return r.returncode, r.stderr


rc, err = dry_run({"playbook": 1, "name": "k", "steps": [{"name": "s", "kind": "nosuch"}]})
m = re.search(r"one of: (.*)", err)
kinds_cli = sorted(k.strip() for k in m.group(1).split(",")) if m else []
check(rc == 2 and kinds_cli == kinds_schema,
      "etcd-dr's step kinds are the schema's: %s vs %s" % (kinds_cli, kinds_schema))

# broken one way each: refused by the schema and by etcd-dr (exit 2)
good = {"playbook": 1, "name": "g", "steps": [
    {"name": "stop", "kind": "stop", "target": "m2"},
    {"name": "wait", "kind": "wait-healthy", "target": "all", "exclude": "m2",
     "others": "allowed"},
    {"name": "each", "target": "each", "steps": [{"name": "env", "kind": "set-env",
                                                  "env": {"ETCD_A": "1"}}]}]}
check(not errors(good) and dry_run(good)[0] == 0, "the reference playbook passes both")
# durations as the command line takes them, accepted by both
timed = copy.deepcopy(good)
timed["steps"][0].update(timeout="90s", retry_delay="500ms")
timed["steps"][1].update(timeout="2m")
timed["steps"].append({"name": "p", "kind": "pause", "seconds": "1m30s"})
check(not errors(timed) and dry_run(timed)[0] == 0,
      "durations with units (90s, 500ms, 2m, 1m30s) pass both: %s" % (errors(timed) or dry_run(timed)[1].strip()[-200:]))
broken = {
    "unknown top-level field": lambda p: p.update(extra=1),
    "version 2": lambda p: p.update(playbook=2),
    "unknown step field": lambda p: p["steps"][0].update(frob=1),
    "a kind's field on another kind": lambda p: p["steps"][0].update(argv=["x"]),
    "bad on_failure": lambda p: p["steps"][0].update(on_failure="retry"),
    "negative timeout": lambda p: p["steps"][0].update(timeout=-1),
    "timeout with an unknown unit": lambda p: p["steps"][0].update(timeout="90x"),
    "pause of words": lambda p: p["steps"].append({"name": "p", "kind": "pause", "seconds": "a while"}),
    "bad step name": lambda p: p["steps"][0].update(name="a b"),
    "bad others": lambda p: p["steps"][1].update(others="maybe"),
    "a block with a kind": lambda p: p["steps"][2].update(kind="stop"),
    "empty block": lambda p: p["steps"][2].update(steps=[]),
    "set-env without env": lambda p: p["steps"][2]["steps"][0].pop("env"),
    "set-env value a shell would run": lambda p: p["steps"][2]["steps"][0].update(
        env={"ETCD_A": "1;touch /tmp/x"}),
    "set-env value with a space": lambda p: p["steps"][2]["steps"][0].update(
        env={"ETCD_A": "a b"}),
    "pause without seconds": lambda p: p["steps"].append({"name": "p", "kind": "pause"}),
    "restore with exclude": lambda p: p["steps"].append(
        {"name": "r", "kind": "restore", "exclude": "m1"}),
    "no steps": lambda p: p.update(steps=[]),
}
for what, breakit in broken.items():
    pb = copy.deepcopy(good)
    breakit(pb)
    rc, err = dry_run(pb)
    check(bool(errors(pb)) and rc == 2, "%s: refused by the schema and by etcd-dr (exit %d: %s)"
          % (what, rc, err.strip().splitlines()[-1][:120] if err.strip() else ""))
os.unlink(spec.name)
print("check_schema.py: %d failed" % fails)
sys.exit(1 if fails else 0)
