#!/usr/bin/env python3
"""kubelet.py - the lab's stand-in for kubelet's static pods (Debian ships no
kubelet).  Run inside one lab host's namespaces, it looks at the manifests
directory every INTERVAL seconds, as kubelet's fileCheckFrequency does, and
for each manifest NAME.yaml in it (dot files are skipped, as kubelet does):

- when it is there and its pod does not run: starts the manifest's
  `command:`, its first word mapped to an "image" given with
  --image WORD=PATH (etcd: the lab's etcd binary), as root like kubeadm's
  pods, output appended to LOG;
- when it changed: stops the pod and starts the new command;
- when it is gone: stops the pod (SIGTERM, SIGKILL after the pod's 30 s
  grace period);
- when the pod exited on its own: starts it again after a back-off (a
  pod's restartPolicy Always).

Only the command list is read, in the layout kubeadm writes (`- command:`
then one `- item` per line); the rest of the pod is ignored.  One line per
action in EVENTS ("TIME NAME started pid N", ...), so a test can see what
"kubelet" did and when.

    kubelet.py --manifests DIR --image etcd=PATH [--image WORD=PATH]...
               --interval S --log FILE --events FILE
"""
import argparse
import hashlib
import os
import signal
import subprocess
import sys
import time


def command_of(text):
    """The container's command list, or None."""
    out, indent = None, None
    for line in text.splitlines():
        stripped = line.strip()
        if out is None:
            if stripped in ("command:", "- command:"):
                out, indent = [], len(line) - len(line.lstrip())
            continue
        if not stripped:
            continue
        lead = len(line) - len(line.lstrip())
        if stripped.startswith("- ") and lead >= indent:
            item = stripped[2:].strip()
            if len(item) >= 2 and item[0] == item[-1] and item[0] in "\"'":
                item = item[1:-1]
            out.append(item)
        else:
            break
    return out


def event(a, what):
    with open(a.events, "a") as f:
        f.write("%.3f %s\n" % (time.time(), what))


class Pod:
    def __init__(self, a, name, log):
        self.a = a
        self.name = name
        self.proc = None
        self.digest = None
        self.backoff_until = 0.0
        self.log = log

    def event(self, what):
        event(self.a, "%s %s" % (self.name, what))

    def start(self, text, digest):
        cmd = command_of(text)
        image = cmd and self.a.images.get(os.path.basename(cmd[0]))
        if not image:
            self.event("refused: no command whose first word is an image given with --image")
            self.digest = digest
            return
        argv = [image] + cmd[1:]
        self.log.write(("=== %s kubelet start: %s\n" % (time.strftime("%F %T"), " ".join(argv))).encode())
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=self.log,
                                     stderr=self.log, start_new_session=True)
        self.digest = digest
        self.event("started pid %d" % self.proc.pid)

    def stop(self, why):
        if not self.proc:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.event("stopped pid %d (%s)" % (self.proc.pid, why))
        self.proc = None

    def sync(self):
        path = os.path.join(self.a.manifests, self.name + ".yaml")
        try:
            with open(path, "rb") as f:
                data = f.read()
        except FileNotFoundError:
            self.stop("manifest removed")
            self.digest = None
            return
        digest = hashlib.sha256(data).hexdigest()
        if self.proc and digest != self.digest:
            self.stop("manifest changed")
        if self.proc and self.proc.poll() is not None:
            self.event("exited pid %d status %d" % (self.proc.pid, self.proc.returncode))
            self.proc = None
            self.backoff_until = time.time() + 2 * self.a.interval
        if not self.proc and time.time() >= self.backoff_until:
            self.start(data.decode("utf-8", "replace"), digest)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--manifests", required=True)
    p.add_argument("--image", action="append", required=True)
    p.add_argument("--interval", type=float, default=20.0)
    p.add_argument("--log", required=True)
    p.add_argument("--events", required=True)
    a = p.parse_args()
    a.images = dict(i.split("=", 1) for i in a.image)
    log = open(a.log, "ab", buffering=0)
    pods = {}
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(1))
    event(a, "kubelet up, looking at %s every %gs" % (a.manifests, a.interval))
    while not stopping:
        names = {f[:-5] for f in os.listdir(a.manifests) if f.endswith(".yaml") and not f.startswith(".")}
        for n in names | set(pods):
            pods.setdefault(n, Pod(a, n, log)).sync()
        time.sleep(a.interval)
    for pod in pods.values():
        pod.stop("kubelet stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
