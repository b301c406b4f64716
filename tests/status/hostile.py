#!/usr/bin/env python3
"""hostile.py ETCD_DR - a member that answers `etcd-dr status` with terminal
escape sequences (a fake etcd gateway on loopback: /health's reason, the
status's version, /version, an alarm name) must not reach the terminal:
the table and notes show the bytes escaped (\\xNN) and no control
character but newline, no C1 control, no bidirectional override; the JSON
output still parses.  Exit 0 when all holds, 1 with the reasons."""
import http.server, json, os, re, subprocess, sys, tempfile, threading

ESC = "\x1b]2;pwn\x07\x1b[2J\u009b1m\u202e"
ANSWERS = {
    "/health": (503, {"health": "false", "reason": ESC + "NO LEADER"}),
    "/version": (200, {"etcdserver": ESC + "3.5.9", "etcdcluster": "3.5.0"}),
    "/v3/maintenance/status": (200, {
        "header": {"cluster_id": "1", "member_id": "2", "revision": "5", "raft_term": "1"},
        "version": ESC + "3.5.9", "dbSize": "4096", "leader": "2", "raftIndex": "9",
        "raftTerm": "1", "raftAppliedIndex": "9", "errors": [ESC + "corrupt"]}),
    "/v3/maintenance/alarm": (200, {"header": {}, "alarms": [{"memberID": "2", "alarm": ESC}]}),
}


class Fake(http.server.BaseHTTPRequestHandler):
    def answer(self):
        code, body = ANSWERS.get(self.path.split("?")[0], (404, {}))
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        self.answer()

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.answer()

    def log_message(self, *a):
        pass


srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Fake)
threading.Thread(target=srv.serve_forever, daemon=True).start()
port = srv.server_address[1]
fails = []
with tempfile.TemporaryDirectory() as d:
    spec = os.path.join(d, "cluster.json")
    json.dump({"members": [{"name": "m1", "peer_urls": ["http://127.0.0.1:1"],
                            "client_urls": ["http://127.0.0.1:%d" % port]}]}, open(spec, "w"))
    bad = re.compile(rb"[\x00-\x09\x0b-\x1f\x7f]|\xc2[\x80-\x9f]|\xe2\x80[\xaa-\xae]|\xe2\x81[\xa6-\xa9]")
    for fmt in ("table", "json"):
        p = subprocess.run([sys.argv[1], "status", "--cluster", spec, "--no-ssh", "-w", fmt],
                           stdin=subprocess.DEVNULL, capture_output=True, timeout=60)
        for name, out in (("stdout", p.stdout), ("stderr", p.stderr)):
            m = bad.search(out)
            if m:
                fails.append("-w %s: %s holds %r: %r" % (fmt, name, m.group(),
                                                         out[max(0, m.start() - 30):m.start() + 30]))
        if fmt == "table":
            want = rb"\x1b]2;pwn\x07\x1b[2J\xc2\x9b1m\xe2\x80\xae"
            if want not in p.stdout:
                fails.append("-w table: the hostile reason is not shown escaped:\n" +
                             p.stdout.decode(errors="replace"))
        else:
            try:
                j = json.loads(p.stdout)
                if not j["members"][0]["health_reason"].startswith("\x1b]2;pwn"):
                    fails.append("-w json: health_reason lost: %r" % j["members"][0])
            except (ValueError, KeyError, IndexError) as e:
                fails.append("-w json: %s: %r" % (e, p.stdout[:300]))
srv.shutdown()
for f in fails:
    print("FAIL:", f)
print("status hostile: %d failures" % len(fails))
sys.exit(1 if fails else 0)
