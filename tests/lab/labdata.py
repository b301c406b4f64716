#!/usr/bin/python3
"""Bulk data for the etcd-dr test lab, through etcd's gRPC JSON gateway.

  labdata.py put      ENDPOINT COUNT SIZE PREFIX [THREADS]
  labdata.py checksum ENDPOINT PREFIX
  labdata.py verify   ENDPOINT COUNT SIZE PREFIX

put:      writes keys PREFIX000000 .. PREFIX{COUNT-1:06d} (zero padded to at
          least 6 digits), each value exactly SIZE bytes, deterministic
          (a function of the key only, hex text, not compressible), batched
          in transactions of <= 128 puts / ~1 MiB, several connections.
checksum: prints "COUNT SHA256" over every key under PREFIX in key order
          (sha256 of key, NUL, value, NUL for each pair): equal before a
          disaster and after a restore iff the data came back exactly.
verify:   checks that exactly the keys/values `put` writes are there.

ENDPOINT is a client URL such as http://10.250.3.1:2379, or https:// with
the CA and client certificate in LABDATA_CACERT, LABDATA_CERT, LABDATA_KEY.
Works with etcd 3.4 and 3.5 (/v3/kv/txn, /v3/kv/range).
Only the standard library is used.
"""
import base64
import hashlib
import http.client
import json
import os
import ssl
import sys
import threading
import time
import urllib.parse

MAX_OPS = int(__import__("os").environ.get("LABDATA_MAX_OPS", "128"))
MAX_TXN_BYTES = 1 << 20  # stay well under the default 1.5 MiB request limit


def b64(b):
    return base64.b64encode(b).decode("ascii")


def key_of(prefix, i, count):
    width = max(6, len(str(count - 1)))
    return prefix + ("%0*d" % (width, i)).encode()


def value_of(key, size):
    # deterministic, key-dependent, hex text (so it survives any transport)
    if size <= 0:
        return b""
    return hashlib.shake_256(key).hexdigest((size + 1) // 2)[:size].encode()


def prefix_end(p):
    b = bytearray(p)
    while b:
        if b[-1] < 0xFF:
            b[-1] += 1
            return bytes(b)
        b.pop()
    return b"\0"


class Client:
    def __init__(self, endpoint, timeout=30):
        u = urllib.parse.urlsplit(endpoint)
        if u.scheme not in ("http", "https"):
            raise SystemExit("labdata: only http:// and https:// endpoints are supported: %s" % endpoint)
        self.host, self.port = u.hostname, u.port or 2379
        self.tls = None
        if u.scheme == "https":
            # client-certificate TLS (the kubeadm lab): LABDATA_CACERT, _CERT, _KEY
            self.tls = ssl.create_default_context(cafile=os.environ.get("LABDATA_CACERT"))
            if os.environ.get("LABDATA_CERT"):
                self.tls.load_cert_chain(os.environ["LABDATA_CERT"], os.environ.get("LABDATA_KEY"))
        self.timeout = timeout
        self.conn = None

    def post(self, path, body):
        data = json.dumps(body).encode()
        for attempt in range(5):
            try:
                if self.conn is None:
                    if self.tls:
                        self.conn = http.client.HTTPSConnection(self.host, self.port, timeout=self.timeout,
                                                                context=self.tls)
                    else:
                        self.conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
                self.conn.request("POST", path, body=data, headers={"Content-Type": "application/json"})
                r = self.conn.getresponse()
                out = r.read()
                if r.status != 200:
                    raise RuntimeError("HTTP %d from %s: %s" % (r.status, path, out[:300]))
                return json.loads(out)
            except (OSError, http.client.HTTPException) as e:
                if self.conn:
                    self.conn.close()
                self.conn = None
                if attempt == 4:
                    raise RuntimeError("%s:%s%s: %s" % (self.host, self.port, path, e))
                time.sleep(0.2 * (attempt + 1))


def cmd_put(endpoint, count, size, prefix, threads=4):
    per_txn = max(1, min(MAX_OPS, MAX_TXN_BYTES // max(1, (size * 4) // 3 + 64)))
    batches = [(s, min(count, s + per_txn)) for s in range(0, count, per_txn)]
    lock = threading.Lock()
    errors = []
    nxt = [0]

    def worker():
        c = Client(endpoint)
        while True:
            with lock:
                if errors or nxt[0] >= len(batches):
                    return
                lo, hi = batches[nxt[0]]
                nxt[0] += 1
            ops = []
            for i in range(lo, hi):
                k = key_of(prefix, i, count)
                ops.append({"request_put": {"key": b64(k), "value": b64(value_of(k, size))}})
            try:
                c.post("/v3/kv/txn", {"success": ops})
            except Exception as e:  # noqa: BLE001
                with lock:
                    errors.append(str(e))
                return

    t0 = time.time()
    ts = [threading.Thread(target=worker) for _ in range(max(1, threads))]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    if errors:
        raise SystemExit("labdata: put failed: %s" % errors[0])
    dt = time.time() - t0
    mb = count * size / 1e6
    print("put %d keys x %d bytes (%.1f MB) under %r in %.1f s (%d txns)"
          % (count, size, mb, prefix.decode(errors="replace"), dt, len(batches)), file=sys.stderr)


def scan(endpoint, prefix):
    c = Client(endpoint)
    start = prefix
    end = prefix_end(prefix) if prefix else b"\0"
    while True:
        r = c.post("/v3/kv/range", {"key": b64(start), "range_end": b64(end), "limit": 2000})
        kvs = r.get("kvs", [])
        for kv in kvs:
            yield base64.b64decode(kv["key"]), base64.b64decode(kv.get("value", ""))
        if not r.get("more") or not kvs:
            return
        start = base64.b64decode(kvs[-1]["key"]) + b"\0"


def cmd_checksum(endpoint, prefix):
    h = hashlib.sha256()
    n = 0
    for k, v in scan(endpoint, prefix):
        h.update(k + b"\0" + v + b"\0")
        n += 1
    print("%d %s" % (n, h.hexdigest()))


def cmd_verify(endpoint, count, size, prefix):
    seen = 0
    bad = 0
    expect = {key_of(prefix, i, count) for i in range(count)}
    for k, v in scan(endpoint, prefix):
        if k not in expect:
            bad += 1
            if bad <= 5:
                print("unexpected key %r" % k, file=sys.stderr)
            continue
        expect.discard(k)
        seen += 1
        if v != value_of(k, size):
            bad += 1
            if bad <= 5:
                print("wrong value for %r (%d bytes)" % (k, len(v)), file=sys.stderr)
    for k in sorted(expect)[:5]:
        print("missing key %r" % k, file=sys.stderr)
    if bad or expect:
        raise SystemExit("labdata: verify FAILED: %d ok, %d missing, %d wrong/unexpected"
                         % (seen, len(expect), bad))
    print("verify ok: %d keys" % seen, file=sys.stderr)


def main(a):
    try:
        if len(a) >= 5 and a[0] == "put":
            cmd_put(a[1], int(a[2]), int(a[3]), a[4].encode(), int(a[5]) if len(a) > 5 else 4)
        elif len(a) == 3 and a[0] == "checksum":
            cmd_checksum(a[1], a[2].encode())
        elif len(a) == 5 and a[0] == "verify":
            cmd_verify(a[1], int(a[2]), int(a[3]), a[4].encode())
        else:
            raise SystemExit(__doc__)
    except RuntimeError as e:
        raise SystemExit("labdata: %s" % e)


if __name__ == "__main__":
    main(sys.argv[1:])
