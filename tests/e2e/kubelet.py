#!/usr/bin/env python3
"""kubelet.py - the lab's stand-in for kubelet's static pods (Debian ships no
kubelet).  Run inside one lab host's namespaces, it looks at the manifests
directory every INTERVAL seconds, as kubelet's fileCheckFrequency does, and:

- when etcd.yaml is there and no etcd runs from it: starts the manifest's
  `command:` (its first word, `etcd`, is the "image": the lab's etcd binary
  given with --image), as root like kubeadm's pod, output appended to LOG;
- when etcd.yaml changed: stops the running etcd and starts the new command;
- when etcd.yaml is gone: stops etcd (SIGTERM, SIGKILL after the pod's
  30 s grace period);
- when etcd exited on its own: starts it again after a back-off (a pod's
  restartPolicy Always).

Only the command list is read, in the layout kubeadm writes (`- command:`
then one `- item` per line); the rest of the pod is ignored.  One line per
action in EVENTS, so a test can see what "kubelet" did and when.

    kubelet.py --manifests DIR --image ETCD --interval S --log FILE --events FILE
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


class Pod:
    def __init__(self, a):
        self.a = a
        self.proc = None
        self.digest = None
        self.backoff_until = 0.0
        self.log = open(a.log, "ab", buffering=0)

    def event(self, what):
        with open(self.a.events, "a") as f:
            f.write("%.3f %s\n" % (time.time(), what))

    def start(self, text, digest):
        cmd = command_of(text)
        if not cmd or os.path.basename(cmd[0]) != "etcd":
            self.event("refused: manifest has no etcd command")
            self.digest = digest
            return
        argv = [self.a.image] + cmd[1:]
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
        path = os.path.join(self.a.manifests, "etcd.yaml")
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
    p.add_argument("--image", required=True)
    p.add_argument("--interval", type=float, default=20.0)
    p.add_argument("--log", required=True)
    p.add_argument("--events", required=True)
    a = p.parse_args()
    pod = Pod(a)
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(1))
    pod.event("kubelet up, looking at %s every %gs" % (a.manifests, a.interval))
    while not stopping:
        pod.sync()
        time.sleep(a.interval)
    pod.stop("kubelet stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
