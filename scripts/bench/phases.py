#!/usr/bin/env python3
"""phases.py OUT... - etcd-dr's phases from `etcd-dr restore -v` outputs.

Reads the JSON progress lines that `restore -v` prints
({"host":..., "step":..., "event":"done", "t":"...Z"}) and prints, per
file, how long each phase took on the wall clock, a phase ending when its
last host finished it:  check prepare apply healthy cleanup  (seconds).
Files without JSON lines (older -v output) print nothing.  Used by
scripts/bench.sh.
"""
import datetime
import json
import sys

PHASE = {
    "connect": "check", "push-agent": "check", "probe": "check", "lock": "check",
    "push-snapshot": "prepare", "push-tool": "prepare", "restore": "prepare",
    "hold-lock": "prepare",
    "stop": "apply", "check-stopped": "apply", "move-aside": "apply",
    "move-aside-wal": "apply", "install": "apply", "install-wal": "apply",
    "ownership": "apply", "start": "apply",
    "cleanup": "cleanup", "unlock": "cleanup",
}
ORDER = ["check", "prepare", "apply", "healthy", "cleanup"]


def ts(t):
    return datetime.datetime.strptime(t, "%Y-%m-%dT%H:%M:%S.%fZ").replace(
        tzinfo=datetime.timezone.utc).timestamp()


for path in sys.argv[1:]:
    events = []
    with open(path, errors="replace") as f:
        for line in f:
            line = line.strip()
            if line.startswith("{") and '"t":' in line:
                try:
                    events.append(json.loads(line))
                except ValueError:
                    pass
    events = [e for e in events if "t" in e]
    if not events:
        continue
    t0 = min(ts(e["t"]) for e in events)
    end = {}
    for e in events:
        p = "healthy" if e.get("host") == "cluster" else PHASE.get(e.get("step"))
        if p:
            end[p] = max(end.get(p, 0.0), ts(e["t"]) - t0)
    prev, out = 0.0, []
    for p in ORDER:
        if p in end:
            out.append("%s %.2f" % (p, end[p] - prev))
            prev = end[p]
    print(" ".join(out))
