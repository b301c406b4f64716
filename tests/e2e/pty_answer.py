#!/usr/bin/env python3
"""pty_answer.py ANSWERS CMD... - run CMD on a pseudo-terminal (stdin and
stderr are a terminal, as for an operator), answer the 'Type "yes"'
questions with ANSWERS (comma-separated, in order; the last one repeats), print everything CMD wrote and then
"EXIT <status> ASKED <number of questions>"; exit 0.
With PTY_PASSPHRASE set, also type it at each "Enter passphrase for key"
prompt (as on a real terminal it is not echoed back) and print
"PASSPHRASE ASKED <number>" before the EXIT line."""
import os, pty, sys, select, time
answers = sys.argv[1].split(",")
args = sys.argv[2:]
pid, fd = pty.fork()
if pid == 0:
    os.execv(args[0], args)
out = b""
asked = 0
passphrase = os.environ.get("PTY_PASSPHRASE")
pass_asked = 0
deadline = time.time() + 120
while time.time() < deadline:
    r, _, _ = select.select([fd], [], [], 0.5)
    if fd in r:
        try:
            data = os.read(fd, 65536)
        except OSError:
            break
        if not data:
            break
        out += data
        while out.count(b'Type "yes"') > asked:
            os.write(fd, answers[min(asked, len(answers) - 1)].encode() + b"\n")
            asked += 1
        while passphrase is not None and out.count(b"Enter passphrase for key") > pass_asked:
            os.write(fd, passphrase.encode() + b"\n")
            pass_asked += 1
_, status = os.waitpid(pid, 0)
sys.stdout.write(out.decode(errors="replace"))
if passphrase is not None:
    print("\nPASSPHRASE ASKED", pass_asked)
print("\nEXIT", os.waitstatus_to_exitcode(status), "ASKED", asked)
