#!/usr/bin/env python3
"""etcdload.py - drive a local etcd through its gRPC gateway (JSON over
HTTP on one keep-alive connection), far faster than one etcdctl process per
request.  Used to build snapshot fixtures and the benchmark's big snapshot.

usage: etcdload.py HOST:PORT OP [ARGS] [OP [ARGS]...]
  put PREFIX N SIZE [LEASE]  put PREFIX0..PREFIX{N-1}, values of SIZE bytes
  del PREFIX FIRST N         delete PREFIX{FIRST}..PREFIX{FIRST+N-1}
  compact                    compact at the current revision (physical)
  lease                      grant a 1-hour lease, put key 'leased' on it
  until-bytes PREFIX SIZE BYTES SECONDS
                             put values of SIZE bytes until the db reaches
                             BYTES or SECONDS pass
  count                      print the number of live keys
  revision                   print the current revision
"""
import base64
import http.client
import json
import os
import sys
import time


def b64(b):
    return base64.b64encode(b).decode()


class Etcd:
    def __init__(self, hostport):
        host, port = hostport.rsplit(":", 1)
        self.conn = http.client.HTTPConnection(host, int(port), timeout=60)

    def call(self, path, body):
        self.conn.request("POST", "/v3/" + path, json.dumps(body),
                          {"Content-Type": "application/json"})
        r = self.conn.getresponse()
        data = r.read()
        if r.status != 200:
            sys.exit("etcdload: %s: HTTP %d: %s" % (path, r.status, data[:200]))
        return json.loads(data)

    def put(self, key, value, lease=None):
        body = {"key": b64(key), "value": b64(value)}
        if lease:
            body["lease"] = lease
        return self.call("kv/put", body)

    def revision(self):
        return int(self.call("kv/range", {"key": b64(b"\0"), "count_only": True})
                   ["header"]["revision"])

    def count(self):
        r = self.call("kv/range", {"key": b64(b"\0"), "range_end": b64(b"\0"),
                                   "count_only": True})
        return int(r.get("count", 0))

    def dbsize(self):
        return int(self.call("maintenance/status", {}).get("dbSize", 0))


def value(n, i):
    # Varied but cheap: a counter pattern, not compressible to nothing.
    seed = ("%08d" % i).encode()
    return (seed * (n // len(seed) + 1))[:n]


def main(argv):
    e = Etcd(argv[1])
    a = argv[2:]
    while a:
        op = a.pop(0)
        if op == "put":
            prefix, n, size = a.pop(0), int(a.pop(0)), int(a.pop(0))
            for i in range(n):
                e.put(("%s%d" % (prefix, i)).encode(), value(size, i))
        elif op == "del":
            prefix, first, n = a.pop(0), int(a.pop(0)), int(a.pop(0))
            for i in range(first, first + n):
                e.call("kv/deleterange", {"key": b64(("%s%d" % (prefix, i)).encode())})
        elif op == "compact":
            e.call("kv/compaction", {"revision": str(e.revision()), "physical": True})
        elif op == "lease":
            lid = e.call("lease/grant", {"TTL": 3600})["ID"]
            e.put(b"leased", b"on a lease", lid)
        elif op == "until-bytes":
            prefix, size, limit, secs = a.pop(0), int(a.pop(0)), int(a.pop(0)), float(a.pop(0))
            end, i = time.time() + secs, 0
            while time.time() < end:
                for _ in range(100):
                    e.put(("%s%08d" % (prefix, i)).encode(), value(size, i))
                    i += 1
                if e.dbsize() >= limit:
                    break
            print("etcdload: wrote %d values of %d bytes, db %d bytes" % (i, size, e.dbsize()),
                  file=sys.stderr)
        elif op == "count":
            print(e.count())
        elif op == "revision":
            print(e.revision())
        else:
            sys.exit("etcdload: unknown op '%s'" % op)


if __name__ == "__main__":
    main(sys.argv)
