#!/usr/bin/python3
"""Benchmark data sets for scripts/bench.sh's shaped runs, written to a lab
member through etcd's gRPC JSON gateway (tests/lab/labdata.py's client).

  dataset.py random ENDPOINT MB PREFIX   100 kB values of random bytes: a
                                         snapshot that does not compress
  dataset.py k8s    ENDPOINT MB PREFIX   what a Kubernetes cluster keeps in
                                         etcd, under PREFIX (/registry/)

k8s, by bytes written (deterministic: the same seed every time):
  ~35% objects as JSON (pods, deployments, services, nodes: labels,
       annotations, managedFields, container specs and statuses, uids,
       timestamps, IPs - the repeated field names and varying values of
       real objects);
  ~25% the same kinds of objects as protobuf-like records ("k8s\\0", then
       varint field numbers, lengths and values, binary uids), as the API
       server stores most kinds;
  ~15% secrets: JSON whose data is base64 of random bytes (keys, tokens,
       certificates: they do not compress beyond base64's 3/4);
  ~10% configmaps: configuration text;
  ~15% history: node leases renewed and events updated many times, so the
       db holds many revisions of the same keys (as before a compaction).
MB is about the snapshot's size: random writes MB of values; k8s writes 63%
of it (its many small keys and their revisions fill bbolt's pages less: 76 MB
of such values made a 120 MB snapshot).  Prints what it wrote on stderr.
"""
import json
import os
import random
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "lab"))
import labdata  # noqa: E402

MAX_TXN_BYTES = 900 * 1024
WORDS = ("api web cache db auth billing search queue worker ingest report metrics "
         "gateway frontend backend payments orders users inventory shipping notify "
         "scheduler controller proxy logging monitor storage events analytics").split()
REGISTRIES = ("registry.k8s.io", "docker.io/library", "quay.io/prometheus", "ghcr.io/acme")


class Gen:
    def __init__(self, seed=17):
        self.r = random.Random(seed)
        self.ns = ["default", "kube-system", "monitoring", "ingress-nginx"] + \
            ["team-%s" % w for w in WORDS[:24]]
        self.t = 1_700_000_000

    def uid(self):
        h = "%032x" % self.r.getrandbits(128)
        return "%s-%s-%s-%s-%s" % (h[:8], h[8:12], h[12:16], h[16:20], h[20:])

    def ts(self):
        self.t += self.r.randint(0, 40)
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.t))

    def ip(self):
        return "10.%d.%d.%d" % (self.r.randint(0, 255), self.r.randint(0, 255), self.r.randint(1, 254))

    def name(self):
        return "%s-%s" % (self.r.choice(WORDS), self.r.choice(WORDS))

    def managed(self, fields):
        def f(keys):
            return {("f:%s" % k): ({} if self.r.random() < 0.5 else {".": {}}) for k in keys}
        return [{"manager": m, "operation": op, "apiVersion": "v1", "time": self.ts(),
                 "fieldsType": "FieldsV1", "fieldsV1": {"f:metadata": {"f:labels": f(fields)},
                                                        "f:spec": f(fields[:3]), "f:status": f(fields[1:])}}
                for m, op in (("kube-controller-manager", "Update"), ("kubelet", "Update"),
                              ("kubectl-client-side-apply", "Apply"))[:self.r.randint(1, 3)]]

    def pod(self, ns, app):
        name = "%s-%08x-%05x" % (app, self.r.getrandbits(32), self.r.getrandbits(20))
        labels = {"app": app, "pod-template-hash": "%08x" % self.r.getrandbits(32),
                  "app.kubernetes.io/part-of": self.r.choice(WORDS), "tier": self.r.choice(("frontend", "backend"))}
        containers = [{"name": "%s-%d" % (app, i),
                       "image": "%s/%s:v%d.%d.%d" % (self.r.choice(REGISTRIES), app, self.r.randint(0, 3),
                                                     self.r.randint(0, 30), self.r.randint(0, 9)),
                       "env": [{"name": "%s_%s" % (self.r.choice(WORDS).upper(), self.r.choice(WORDS).upper()),
                                "value": self.name()} for _ in range(self.r.randint(2, 12))],
                       "resources": {"requests": {"cpu": "%dm" % self.r.choice((50, 100, 250, 500)),
                                                  "memory": "%dMi" % self.r.choice((64, 128, 256, 512))}},
                       "ports": [{"containerPort": self.r.choice((80, 443, 8080, 9090)), "protocol": "TCP"}],
                       "volumeMounts": [{"name": "kube-api-access-%05x" % self.r.getrandbits(20),
                                         "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount",
                                         "readOnly": True}]}
                      for i in range(self.r.randint(1, 3))]
        return name, {
            "kind": "Pod", "apiVersion": "v1",
            "metadata": {"name": name, "namespace": ns, "uid": self.uid(),
                         "resourceVersion": str(self.r.randint(10**5, 10**8)),
                         "creationTimestamp": self.ts(), "labels": labels,
                         "annotations": {"kubectl.kubernetes.io/restartedAt": self.ts(),
                                         "prometheus.io/scrape": "true"},
                         "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet",
                                              "name": "%s-%08x" % (app, self.r.getrandbits(32)),
                                              "uid": self.uid(), "controller": True}],
                         "managedFields": self.managed(list(labels))},
            "spec": {"containers": containers, "nodeName": "node-%03d" % self.r.randint(0, 199),
                     "serviceAccountName": app, "restartPolicy": "Always"},
            "status": {"phase": "Running", "podIP": self.ip(), "hostIP": self.ip(),
                       "conditions": [{"type": t, "status": "True", "lastTransitionTime": self.ts()}
                                      for t in ("Initialized", "Ready", "ContainersReady", "PodScheduled")],
                       "containerStatuses": [{"name": c["name"], "ready": True, "restartCount": self.r.randint(0, 5),
                                              "image": c["image"],
                                              "containerID": "containerd://%064x" % self.r.getrandbits(256)}
                                             for c in containers]}}

    def proto(self, obj):
        """A protobuf-like record: "k8s\\0", then (field number, length, value)."""
        out = bytearray(b"k8s\x00")

        def varint(n):
            while True:
                b = n & 0x7F
                n >>= 7
                out.append(b | (0x80 if n else 0))
                if not n:
                    return

        def enc(v, field):
            if isinstance(v, dict):
                for i, (k, x) in enumerate(v.items()):
                    if isinstance(x, str) and len(x) == 36 and x.count("-") == 4:
                        varint((i + 1) << 3 | 2)
                        varint(16)
                        out.extend(bytes.fromhex(x.replace("-", "")))  # uids as 16 bytes
                    else:
                        enc(x, i + 1)
            elif isinstance(v, list):
                for x in v:
                    enc(x, field)
            elif isinstance(v, bool) or isinstance(v, int):
                varint(field << 3)
                varint(int(v))
            else:
                s = str(v).encode()
                varint(field << 3 | 2)
                varint(len(s))
                out.extend(s)
        enc(obj, 1)
        return bytes(out)

    def secret(self, ns):
        name = "%s-token-%05x" % (self.r.choice(WORDS), self.r.getrandbits(20))
        data = {k: labdata.b64(self.r.randbytes(n)) for k, n in
                (("ca.crt", self.r.randint(800, 1600)), ("token", self.r.randint(600, 1200)),
                 ("tls.key", self.r.randint(1200, 3200)))}
        return name, {"kind": "Secret", "apiVersion": "v1", "type": "kubernetes.io/service-account-token",
                      "metadata": {"name": name, "namespace": ns, "uid": self.uid(),
                                   "creationTimestamp": self.ts()}, "data": data}

    def configmap(self, ns):
        name = "%s-config" % self.name()
        lines = ["%s.%s = %s" % (self.r.choice(WORDS), self.r.choice(WORDS),
                                 self.r.choice((self.name(), str(self.r.randint(0, 65535)), self.ip(), "true")))
                 for _ in range(self.r.randint(20, 200))]
        return name, {"kind": "ConfigMap", "apiVersion": "v1",
                      "metadata": {"name": name, "namespace": ns, "uid": self.uid()},
                      "data": {"app.properties": "\n".join(lines)}}

    def lease(self, node):
        return self.proto({"kind": "Lease", "apiVersion": "coordination.k8s.io/v1",
                           "metadata": {"name": node, "namespace": "kube-node-lease", "uid": self.uid(),
                                        "resourceVersion": str(self.r.randint(10**5, 10**8))},
                           "spec": {"holderIdentity": node, "leaseDurationSeconds": 40,
                                    "renewTime": self.ts() + ".%06d" % self.r.randint(0, 999999)}})

    def event(self, ns, name, count):
        return json.dumps({"kind": "Event", "apiVersion": "v1",
                           "metadata": {"name": name, "namespace": ns, "uid": self.uid()},
                           "involvedObject": {"kind": "Pod", "namespace": ns, "name": name.split(".")[0]},
                           "reason": self.r.choice(("Pulled", "Created", "Started", "BackOff", "Unhealthy")),
                           "message": "Container image \"%s\" already present on machine" % self.name(),
                           "count": count, "firstTimestamp": self.ts(), "lastTimestamp": self.ts(),
                           "source": {"component": "kubelet", "host": "node-%03d" % self.r.randint(0, 199)}},
                          separators=(",", ":")).encode()

    def items(self, prefix, total):
        """(key, value) pairs until TOTAL bytes of values were produced."""
        done = 0
        n = 0
        leases = ["node-%03d" % i for i in range(200)]
        events = []
        share = {"json": 0.35, "proto": 0.25, "secret": 0.15, "configmap": 0.10,
                 "lease": 0.08, "event": 0.07}
        got = {k: 0 for k in share}
        while done < total:
            n += 1
            # the kind furthest below its share of the bytes, ties at random
            kind = max(share, key=lambda c: share[c] * (done + 1) - got[c] + self.r.random())
            k = {"json": 0.1, "proto": 0.5, "secret": 0.7, "configmap": 0.8, "lease": 0.9,
                 "event": 0.95}[kind]
            ns = self.r.choice(self.ns)
            app = self.r.choice(WORDS)
            if k < 0.35:
                name, obj = self.pod(ns, app)
                key, val = "pods/%s/%s" % (ns, name), json.dumps(obj, separators=(",", ":")).encode()
            elif k < 0.60:
                name, obj = self.pod(ns, app)
                res = self.r.choice(("deployments", "replicasets", "services", "endpointslices"))
                key, val = "%s/%s/%s" % (res, ns, name), self.proto(obj)
            elif k < 0.75:
                name, obj = self.secret(ns)
                key, val = "secrets/%s/%s" % (ns, name), json.dumps(obj, separators=(",", ":")).encode()
            elif k < 0.85:
                name, obj = self.configmap(ns)
                key, val = "configmaps/%s/%s" % (ns, name), json.dumps(obj, separators=(",", ":")).encode()
            elif k < 0.93:  # a lease renewed: same key, a new revision
                node = self.r.choice(leases)
                key, val = "leases/kube-node-lease/%s" % node, self.lease(node)
            else:  # an event, new or counted again
                if events and self.r.random() < 0.8:
                    ens, ename, c = self.r.choice(events)
                    events.append((ens, ename, c + 1))
                else:
                    ens, ename, c = ns, "%s.%016x" % (self.name(), self.r.getrandbits(64)), 1
                    events.append((ens, ename, c))
                key, val = "events/%s/%s" % (ens, ename), self.event(ens, ename, c)
            done += len(val)
            got[kind] += len(val)
            yield (prefix + key.encode()), val


def put_all(endpoint, pairs, threads=4):
    lock = threading.Lock()
    it = iter(pairs)
    errors = []
    stats = {"keys": 0, "bytes": 0}

    held = []  # a put left for the next transaction (its key was in this one)

    def batch():
        ops, size, keys = [], 0, set()
        with lock:
            while True:
                kv = held.pop() if held else next(it, None)
                if kv is None:
                    break
                k, v = kv
                if k in keys:  # etcd refuses a key twice in one txn
                    held.append(kv)
                    break
                keys.add(k)
                ops.append({"request_put": {"key": labdata.b64(k), "value": labdata.b64(v)}})
                size += len(k) + len(v)
                stats["keys"] += 1
                stats["bytes"] += len(v)
                if size > MAX_TXN_BYTES // 2 or len(ops) >= 100:
                    break
        return ops

    def worker():
        c = labdata.Client(endpoint)
        while not errors:
            ops = batch()
            if not ops:
                return
            try:
                c.post("/v3/kv/txn", {"success": ops})
            except Exception as e:  # noqa: BLE001
                errors.append(str(e))
                return

    ts = [threading.Thread(target=worker) for _ in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    if errors:
        raise SystemExit("dataset: put failed: %s" % errors[0])
    return stats


def random_items(prefix, total, seed=17):
    r = random.Random(seed)
    for i in range((total + 99_999) // 100_000):
        yield prefix + ("%06d" % i).encode(), r.randbytes(100_000)


def main(a):
    if len(a) != 4 or a[0] not in ("random", "k8s"):
        raise SystemExit(__doc__)
    kind, endpoint, mb, prefix = a[0], a[1], int(a[2]), a[3].encode()
    total = mb * 1_000_000 * (63 if kind == "k8s" else 100) // 100
    t0 = time.time()
    pairs = Gen().items(prefix, total) if kind == "k8s" else random_items(prefix, total)
    st = put_all(endpoint, pairs)
    print("dataset %s: %d puts, %.1f MB of values under %r in %.1f s"
          % (kind, st["keys"], st["bytes"] / 1e6, prefix.decode(), time.time() - t0), file=sys.stderr)


if __name__ == "__main__":
    main(sys.argv[1:])
