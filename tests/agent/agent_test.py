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
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import agent_lib  # noqa: E402
from agent_lib import AGENT, check  # noqa: E402
import agent_attacks  # noqa: E402
import agent_cases_env  # noqa: E402
import agent_cases_host  # noqa: E402
import agent_cases_io  # noqa: E402


CASES = {k[5:]: v for m in (agent_cases_io, agent_cases_host, agent_cases_env, agent_attacks)
         for k, v in vars(m).items() if k.startswith("case_")}


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
    print("%s: %d checks, %d failed" % (sys.argv[2], agent_lib.checks, agent_lib.failures))
    return 1 if agent_lib.failures else 0


if __name__ == "__main__":
    sys.exit(main())
