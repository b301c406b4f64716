#!/usr/bin/env python3
"""Check that etcd-dr's help, its man page and docs/ agree with each other
and with what the program accepts.

    check_help.py --etcd-dr BUILD/etcd-dr --source SRC_DIR [--no-self-test]

Checked (every failure is one line naming the file, the command and the
option):

 1. docs/etcd-dr.1 renders without a warning (groff -man -Tutf8 -ww), and
    its .TH carries the version `etcd-dr --version` prints.
 2. `etcd-dr --help`, `-h` and `help` exit 0 with the usage on stdout, and
    list exactly the commands the man page has (`.SS "etcd-dr CMD ..."`
    under COMMANDS); `etcd-dr snapshot --help` names every snapshot verb.
 3. For every command of the man page: `etcd-dr CMD --help` and `-h` exit 0,
    print on stdout and nothing on stderr.  The long and short options of
    its help's option lines are exactly the options its man page section
    documents (the .TP tags of its .SS, plus the .TP tags under CLUSTER SPEC
    when the section's text names "CLUSTER SPEC"), both ways, with the same
    "takes an argument or not".  -h/--help are left out of that comparison
    (item 3 checks them).
 4. Every option the man page documents for a command is accepted by it:
    `etcd-dr CMD --opt=1` (or `--opt`, `-x 1`, `-x`) draws no "unrecognized
    option", "unknown option", "doesn't allow an argument" or "requires an
    argument".  Every command run that way names no cluster, so it stops
    at argument checking and contacts nothing (HOME and the state dir point
    into a temporary directory).  And an unknown option exits 2 with such a
    message, before a --help that follows it.
 5. docs/*.md, README.md and the man page's EXAMPLES: every option written
    after `etcd-dr CMD` in a code block or a `code span` is in that
    command's --help; every other --option anywhere in them is in some
    command's --help or in FOREIGN below (etcd's own flags, named in prose).
 6. Self-test: the same checks on copies of the man page with one option
    taken out and one made up must fail and name them.
"""

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile

# --options the docs name that are not etcd-dr's: etcd's, etcdutl's and
# etcdctl's own flags, written in prose.  Anything else a doc names must be
# an etcd-dr option.
FOREIGN = {
    "--name": "etcd's, passed by the restore",
    "--initial-advertise-peer-urls": "etcd's, passed by the restore",
    "--mark-compacted": "etcdutl's, used with --bump-revision",
    "--initial-memory-map-size": "etcdutl's, probed by the agent",
    "--prefix": "etcdctl get's",
    "--count-only": "etcdctl get's",
    "--compat": "docs/snapshot.md says there is no such switch",
    "--build": "cmake's",
    "--install": "cmake's (README: installing)",
    "--auth": "etcd's user/password authentication, named in prose",
    "--client-cert-auth": "etcd's, in test descriptions",
    "--force-new-cluster": "etcd's, set by playbooks through env_file",
    "--initial-cluster-state": "etcd's, set by playbooks through env_file",
    "--endpoints": "etcdctl's, run on a host by snapshot save --via ssh and status",
    "--dial-timeout": "etcdctl's, run on a host by snapshot save --via ssh and status",
    "--command-timeout": "etcdctl's, run on a host by snapshot save --via ssh and status",
    "--advertise-client-urls": "etcd's, read by discover",
    "--trusted-ca-file": "etcd's, read by discover",
    "--cert-file": "etcd's, read by discover",
    "--key-file": "etcd's, read by discover",
    "--type": "docker inspect's, run on a host by discover",
}

# Options of another branch that this one's docs and output already name
# (status prints the command that uses it): accepted in a documented
# command line until that branch is merged; then remove the entry.
PENDING = {}

# The CLUSTER SPEC options that name the cluster: a command that makes a
# spec (discover) takes only the settings listed after them.
NAMES_CLUSTER = {"--cluster", "--initial-cluster", "--discover"}

SCRIPT_DOCS = {"docs/BENCHMARKS.md"}

REJECTED = re.compile(
    r"unrecognized option|unknown option|invalid option|"
    r"doesn't allow an argument|requires an argument|not allow an argument")

LONG = re.compile(r"(?<![\w-])--[a-z0-9][a-z0-9-]*")
SHORT = re.compile(r"(?<![\w-])-[A-Za-z](?![\w-])")
HELP_OPTS = {"-h", "--help"}

problems = []


def fail(msg):
    problems.append(msg)


# ---- running etcd-dr -------------------------------------------------------

class Runner:
    def __init__(self, binary):
        self.binary = binary
        self.tmp = tempfile.mkdtemp(prefix="edr-help-")
        self.env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": self.tmp,
            "USER": os.environ.get("USER", "nobody"),
            "ETCD_DR_STATE_DIR": os.path.join(self.tmp, "state"),
            "XDG_STATE_HOME": os.path.join(self.tmp, "xdg"),
            "LC_ALL": "C",
        }
        self.cache = {}

    def run(self, args):
        key = tuple(args)
        if key not in self.cache:
            cwd = tempfile.mkdtemp(dir=self.tmp)
            try:
                p = subprocess.run([self.binary] + list(args), cwd=cwd, env=self.env,
                                   stdin=subprocess.DEVNULL, capture_output=True,
                                   text=True, errors="replace", timeout=30)
                self.cache[key] = (p.returncode, p.stdout, p.stderr)
            except subprocess.TimeoutExpired:
                self.cache[key] = (None, "", "timed out after 30 s")
        return self.cache[key]

    def close(self):
        shutil.rmtree(self.tmp, ignore_errors=True)


def show(args):
    return "etcd-dr " + " ".join(args)


# ---- roff ------------------------------------------------------------------

def roff_args(line):
    """A macro line's arguments, double quotes honoured."""
    out, cur, inq, had = [], "", False, False
    i = 0
    while i < len(line):
        c = line[i]
        if c == "\\" and i + 1 < len(line):
            cur += line[i:i + 2]
            i += 2
            had = True
            continue
        if c == '"':
            if inq and line[i + 1:i + 2] == '"':
                cur += '"'
                i += 2
                continue
            inq = not inq
            had = True
        elif c in " \t" and not inq:
            if had:
                out.append(cur)
            cur, had = "", False
        else:
            cur += c
            had = True
        i += 1
    if had:
        out.append(cur)
    return out


ESCAPES = [
    (re.compile(r"\\f(\[[^\]]*\]|\(..|.)"), ""),
    (re.compile(r"\\\(aq"), "'"),
    (re.compile(r"\\\(dq"), '"'),
    (re.compile(r"\\\(em"), "--"),
    (re.compile(r"\\\([a-z][a-z]"), ""),
    (re.compile(r"\\[~ ]"), " "),
    (re.compile(r"\\[%&|^c]"), ""),
    (re.compile(r"\\-"), "-"),
    (re.compile(r"\\e"), lambda m: "\\"),
]


def roff_text(line):
    """A source line as the words it prints (fonts and the like dropped)."""
    if line.startswith(".") or line.startswith("'"):
        parts = line[1:].split(None, 1)
        macro = parts[0] if parts else ""
        args = roff_args(parts[1]) if len(parts) > 1 else []
        if macro in ("B", "I", "SM", "SB", "SS", "SH", "SY", "OP"):
            line = " ".join(args)
        elif macro in ("BI", "BR", "IB", "IR", "RB", "RI"):
            line = "".join(args)
        else:
            return ""
    for rx, rep in ESCAPES:
        line = rx.sub(rep, line)
    return line


def opt_tokens(text):
    return LONG.findall(text) + SHORT.findall(text)


def tag_options(tag):
    """Options of a .TP tag or a help line's option column, and whether they
    take an argument: `-w, --write-out FORMAT` -> ({-w, --write-out}, True)."""
    opts = opt_tokens(tag)
    if not opts:
        return {}, False
    last = max(m.end() for m in list(LONG.finditer(tag)) + list(SHORT.finditer(tag)))
    rest = tag[last:].strip()
    return opts, bool(rest) and not rest.startswith("/")


class Man:
    """The parts of docs/etcd-dr.1 the checks need."""

    def __init__(self, text, name="docs/etcd-dr.1"):
        self.name = name
        self.th = ""
        self.commands = {}       # "snapshot status" -> {opt: takes_arg}
        self.cluster_ref = {}    # command -> its text names CLUSTER SPEC ("settings":
                                 # its settings, not the options naming a cluster)
        self.order = []
        self.cluster = {}        # cluster option -> takes_arg
        self.examples = []       # (line number, text) of .EX blocks
        section, command, want_tag, in_ex = None, None, False, False
        for n, raw in enumerate(text.split("\n"), 1):
            if raw.startswith('.\\"') or raw.startswith("'\\\""):
                continue
            if raw.startswith(".TH"):
                self.th = roff_text(".B " + raw[3:].strip())
                continue
            if raw.startswith(".SH"):
                section = roff_text(raw).strip().upper()
                command = None
                continue
            if raw.startswith(".SS") and section == "COMMANDS":
                title = roff_text(raw).strip()
                m = re.match(r"etcd-dr\s+(.+)$", title)
                if not m:
                    fail("%s:%d: command heading '%s' does not read 'etcd-dr COMMAND'"
                         % (name, n, title))
                    command = None
                    continue
                command = " ".join(m.group(1).split())
                self.commands[command] = {}
                self.cluster_ref[command] = False
                self.order.append(command)
                continue
            if raw.startswith(".EX"):
                in_ex = True
                continue
            if raw.startswith(".EE"):
                in_ex = False
                continue
            if in_ex:
                self.examples.append((n, roff_text(raw)))
                continue
            if raw.startswith(".TP"):
                want_tag = True
                continue
            text_line = roff_text(raw)
            if want_tag:
                want_tag = False
                opts, arg = tag_options(text_line)
                target = (self.commands.get(command) if section == "COMMANDS"
                          else self.cluster if section == "CLUSTER SPEC" else None)
                if target is not None:
                    if not opts:
                        fail("%s:%d: .TP tag '%s' under %s names no option"
                             % (name, n, text_line.strip(), command or section))
                    for o in opts:
                        target[o] = arg
                continue
            if section == "COMMANDS" and command and "CLUSTER SPEC" in text_line:
                self.cluster_ref[command] = ("settings" if "settings under CLUSTER SPEC"
                                             in text_line else True)

    def options(self, command):
        """Every option documented for COMMAND (-> takes an argument)."""
        opts = dict(self.commands[command])
        if self.cluster_ref[command]:
            for o, a in self.cluster.items():
                if self.cluster_ref[command] == "settings" and o in NAMES_CLUSTER:
                    continue
                opts.setdefault(o, a)
        return opts


def parse_help(out):
    """Options of a --help text's option lines (indented at most 4 columns,
    starting with '-'), each with whether it takes an argument."""
    opts = {}
    for line in out.split("\n"):
        m = re.match(r"^ {1,4}(-\S.*)$", line)
        if not m:
            continue
        column = re.split(r"\s{2,}", m.group(1).strip(), maxsplit=1)[0]
        # "-q, --quiet / -v, --verbose": groups split by " / "
        for group in column.split(" / "):
            names, arg = tag_options(group)
            for o in names:
                opts[o] = arg
    return opts


# ---- the checks ------------------------------------------------------------

def check_render(source):
    man = os.path.join(source, "docs", "etcd-dr.1")
    groff = shutil.which("groff")
    if not groff:
        fail("groff not found: install groff-base (scripts/deps.sh) to check that "
             "docs/etcd-dr.1 renders")
        return
    p = subprocess.run([groff, "-man", "-Tutf8", "-ww", "-z", man],
                       capture_output=True, text=True, errors="replace")
    if p.returncode or p.stderr.strip():
        for line in (p.stderr.strip() or "exit %d" % p.returncode).split("\n"):
            fail("docs/etcd-dr.1 does not render cleanly (groff -man -ww): " + line)


def check_toplevel(r, man):
    for args in (["--help"], ["-h"], ["help"]):
        rc, out, err = r.run(args)
        if rc != 0 or "Commands:" not in out:
            fail("`%s` exits %s; want 0 and the command list on stdout" % (show(args), rc))
    rc, out, err = r.run(["--help"])
    listed = set(re.findall(r"^  ([a-z][a-z-]*)\s", out, re.M))
    want = {c.split()[0] for c in man.commands}
    for c in sorted(want - listed):
        fail("docs/etcd-dr.1 documents 'etcd-dr %s', but `etcd-dr --help` does not "
             "list command '%s'" % (c, c))
    for c in sorted(listed - want):
        fail("`etcd-dr --help` lists command '%s', but docs/etcd-dr.1 has no "
             "'.SS \"etcd-dr %s ...\"' for it" % (c, c))
    rc, out, err = r.run(["--version"])
    m = re.match(r"etcd-dr (\S+)", out)
    if rc != 0 or not m:
        fail("`etcd-dr --version` exits %s and prints %r" % (rc, out))
    elif "etcd-dr " + m.group(1) not in man.th:
        fail("docs/etcd-dr.1: .TH says '%s', but `etcd-dr --version` says 'etcd-dr %s'"
             % (man.th, m.group(1)))
    rc, out, err = r.run(["no-such-command"])
    if rc != 2:
        fail("`etcd-dr no-such-command` exits %s, want 2" % rc)
    # verbs of a command with verbs (snapshot) in its own --help
    for c in man.commands:
        words = c.split()
        if len(words) < 2:
            continue
        rc, out, err = r.run([words[0], "--help"])
        if rc != 0:
            fail("`etcd-dr %s --help` exits %s, want 0" % (words[0], rc))
        elif not re.search(r"etcd-dr %s\s" % re.escape(c), out):
            fail("docs/etcd-dr.1 documents 'etcd-dr %s', but `etcd-dr %s --help` "
                 "does not show it" % (c, words[0]))


def command_help(r, command):
    """--help of COMMAND checked for exit status and streams; its options."""
    args = command.split() + ["--help"]
    rc, out, err = r.run(args)
    ok = True
    if rc != 0:
        fail("`%s` exits %s, want 0 (stderr: %s)" % (show(args), rc,
                                                     err.strip().split("\n")[0]))
        ok = False
    elif not out.strip():
        fail("`%s` prints nothing on stdout" % show(args))
        ok = False
    elif err.strip():
        fail("`%s` writes to stderr: %s" % (show(args), err.strip().split("\n")[0]))
    short = command.split() + ["-h"]
    rc2, out2, _ = r.run(short)
    if rc2 != 0 or out2 != out:
        fail("`%s` exits %s and does not print what `%s` prints"
             % (show(short), rc2, show(args)))
    return parse_help(out) if ok else None


def compare(man, command, helpopts, manfile="docs/etcd-dr.1"):
    documented = man.options(command)
    where = "'etcd-dr %s'" % command
    helpcmd = "`etcd-dr %s --help`" % command
    for o in sorted(set(documented) - set(helpopts) - HELP_OPTS):
        fail("%s documents %s under %s, but %s does not list it"
             % (manfile, o, where, helpcmd))
    for o in sorted(set(helpopts) - set(documented) - HELP_OPTS):
        fail("%s lists %s, but %s does not document it under %s%s"
             % (helpcmd, o, manfile, where,
                " (nor under CLUSTER SPEC)" if man.cluster_ref[command] else ""))
    for o in sorted(set(documented) & set(helpopts) - HELP_OPTS):
        if documented[o] != helpopts[o]:
            fail("%s: %s under %s %s, but %s shows it %s"
                 % (manfile, o, where,
                    "takes an argument" if documented[o] else "takes no argument",
                    helpcmd, "with one" if helpopts[o] else "without one"))


def accepted(r, command, option, arg):
    """Whether COMMAND accepts OPTION (with a dummy argument when ARG)."""
    if option.startswith("--"):
        args = command.split() + [option + "=1" if arg else option]
    else:
        args = command.split() + ([option, "1"] if arg else [option])
    rc, out, err = r.run(args)
    if rc is None:
        return "`%s` %s" % (show(args), err)
    m = REJECTED.search(err)
    if m:
        return "`%s` says: %s" % (show(args), err.strip().split("\n")[0])
    return None


def check_accepts(r, man, command, manfile="docs/etcd-dr.1"):
    for o, arg in sorted(man.options(command).items()):
        if o in HELP_OPTS:
            continue
        why = accepted(r, command, o, arg)
        if why:
            fail("%s documents %s%s under 'etcd-dr %s', but the program refuses it: %s"
                 % (manfile, o, " with an argument" if arg else "", command, why))
    bogus = "--no-such-option-for-check-help"
    for extra in ([], ["--help"]):
        args = command.split() + [bogus] + extra
        rc, out, err = r.run(args)
        if rc != 2 or not REJECTED.search(err):
            fail("`%s` exits %s (stderr: %s); want 2 and a message naming the "
                 "unknown option" % (show(args), rc, err.strip().split("\n")[0]))


CMD_RX = re.compile(r"(?<![\w/.-])etcd-dr(?![\w-])[ \t]+([a-z][a-z-]*)(?:[ \t]+([a-z][a-z-]*))?")


def doc_contexts(path, text):
    """(line, text) of code: fenced blocks (continuation lines joined) and
    `code spans` of a markdown file."""
    out, fence, pending = [], False, None
    for n, line in enumerate(text.split("\n"), 1):
        if line.lstrip().startswith("```"):
            fence = not fence
            continue
        if fence:
            if pending:
                pn, pt = pending
                line, n = pt + " " + line.strip(), pn
                pending = None
            if line.rstrip().endswith("\\"):
                pending = (n, line.rstrip()[:-1])
                continue
            out.append((n, line, True))
        else:
            for m in re.finditer(r"(`+)(.+?)\1", line):
                out.append((n, m.group(2), True))
            out.append((n, re.sub(r"(`+)(.+?)\1", " ", line), False))
    return out


def command_of(known, w1, w2):
    if w2 and "%s %s" % (w1, w2) in known:
        return "%s %s" % (w1, w2), 2
    if w1 in known:
        return w1, 1
    return None, 0


def check_docs(source, man, helps):
    anyhelp = set(HELP_OPTS)
    for h in helps.values():
        anyhelp |= set(h)
    files = [("README.md", os.path.join(source, "README.md"))]
    ddir = os.path.join(source, "docs")
    for f in sorted(os.listdir(ddir)):
        if f.endswith(".md"):
            files.append(("docs/" + f, os.path.join(ddir, f)))
    contexts = []
    for rel, path in files:
        with open(path, encoding="utf-8") as fh:
            for n, t, code in doc_contexts(path, fh.read()):
                contexts.append((rel, n, t, code))
    for n, t in man.examples:
        contexts.append(("docs/etcd-dr.1 (EXAMPLES)", n, t, True))
    known = set(man.commands)
    for rel, n, t, code in contexts:
        rest = t
        if code:
            # etcd-dr CMD ... : every option up to a comment or the next command
            for m in CMD_RX.finditer(t):
                cmd, used = command_of(known, m.group(1), m.group(2))
                if cmd and cmd not in helps:
                    continue  # its --help failed: said already
                tail = t[m.end(used):]
                tail = re.split(r"\s#|\||;|&&|\$\(|(?<![\w-])etcd-dr(?![\w-])", tail)[0]
                for o in opt_tokens(tail):
                    ok = o in helps[cmd] or o in HELP_OPTS if cmd else o in anyhelp
                    if o == "-vv" or (o in PENDING and o not in anyhelp):
                        continue
                    if not ok:
                        fail("%s:%d: `%s` uses %s, but %s does not list it"
                             % (rel, n, t.strip(), o,
                                "`etcd-dr %s --help`" % cmd if cmd
                                else "no etcd-dr command's --help"))
                rest = rest.replace(m.group(0) + tail, " ")
        # docs/BENCHMARKS.md documents scripts/bench.sh's own options: only
        # its `etcd-dr ...` commands (checked above) must match etcd-dr.
        if rel in SCRIPT_DOCS:
            continue
        for o in LONG.findall(rest):
            if o not in anyhelp and o not in FOREIGN:
                fail("%s:%d: %s is no option of any etcd-dr command's --help (nor a "
                     "known etcd flag, FOREIGN in %s)" % (rel, n, o, os.path.basename(__file__)))


def check_all(r, source, man_text, manfile="docs/etcd-dr.1", docs=True):
    man = Man(man_text, manfile)
    if not man.commands:
        fail("%s: no command sections (.SS \"etcd-dr CMD\") under COMMANDS" % manfile)
        return None
    helps = {}
    for c in man.order:
        h = command_help(r, c)
        if h is None:
            continue
        helps[c] = h
        compare(man, c, h, manfile)
        check_accepts(r, man, c, manfile)
    if docs:
        check_toplevel(r, man)
        check_docs(source, man, helps)
    return man


def self_test(r, source, man_text):
    """The checks must notice an option taken out of, or made up in, the man
    page, and say which and where."""
    global problems
    saved, problems = problems, []
    ok = True
    m = re.search(r'\.SS "etcd\\-dr rollback"\n(?:.*\n)*?\.TP\n\.B \\-\\-break\\-lock\n[^.].*\n',
                  man_text)
    if not m:
        saved.append("self-test: docs/etcd-dr.1 has no --break-lock entry under rollback "
                     "to take out; adjust self_test()")
        problems = saved
        return
    cut = man_text.replace(m.group(0), m.group(0).split(".TP\n.B \\-\\-break\\-lock")[0], 1)
    check_all(r, source, cut, "docs/etcd-dr.1 (self-test copy)", docs=False)
    if not any("--break-lock" in p and "rollback" in p and "does not document" in p
               for p in problems):
        ok = False
        saved.append("self-test: with --break-lock taken out of rollback, the check did "
                     "not say so: %s" % problems)
    problems = []
    made = man_text.replace('.SS "etcd\\-dr plan"\n',
                            '.SS "etcd\\-dr plan"\n.TP\n.BI \\-\\-made\\-up " N"\nNothing.\n', 1)
    check_all(r, source, made, "docs/etcd-dr.1 (self-test copy)", docs=False)
    said = [p for p in problems if "--made-up" in p and "'etcd-dr plan'" in p]
    if not any("does not list it" in p for p in said) or \
            not any("refuses it" in p for p in said):
        ok = False
        saved.append("self-test: with a made-up --made-up under plan, the check did not "
                     "say both that help lacks it and that the program refuses it: %s"
                     % problems)
    problems = saved
    if ok:
        print("self-test: a removed and a made-up option are both caught")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--etcd-dr", required=True, help="the built etcd-dr")
    ap.add_argument("--source", required=True, help="the source tree")
    ap.add_argument("--no-self-test", action="store_true")
    a = ap.parse_args()
    with open(os.path.join(a.source, "docs", "etcd-dr.1"), encoding="utf-8") as fh:
        man_text = fh.read()
    r = Runner(os.path.abspath(a.etcd_dr))
    try:
        check_render(a.source)
        man = check_all(r, a.source, man_text)
        if man and not problems and not a.no_self_test:
            self_test(r, a.source, man_text)
    finally:
        r.close()
    for p in problems:
        print("FAIL: " + p)
    if problems:
        print("%d problem(s): help, docs/etcd-dr.1 and docs/ disagree" % len(problems))
        return 1
    print("ok: %d commands (%s); every documented option is in --help and accepted"
          % (len(man.commands), ", ".join(man.order)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
