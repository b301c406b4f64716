#!/usr/bin/env python3
"""hostile_gateway.py MODE PORTFILE - a fake etcd gateway on 127.0.0.1 that
answers /health like a healthy member and /v3/maintenance/snapshot with a
stream that never ends, for `snapshot save`'s bounds (tests/snapshot_save/
hostile.sh).  It prints its port to PORTFILE and serves until killed, or for
at most 120 s.

  MODE overlong  the first message announces 64 KiB and the stream goes on
  MODE endless   the first message announces 1 GiB and the stream goes on
  MODE trickle   1 GiB announced, then one small message every 0.5 s
  MODE huge      1 PiB announced (more than any disk here)
"""
import base64, http.server, json, os, socketserver, sys, threading, time

mode, portfile = sys.argv[1], sys.argv[2]
blob = base64.b64encode(os.urandom(48 * 1024)).decode()


class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def do_GET(self):
        body = b'{"health":"true"}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        first = True
        end = time.time() + 60
        try:
            while time.time() < end:
                res = {"blob": blob if mode != "trickle" else blob[:64]}
                announce = {"overlong": 64 << 10, "endless": 1 << 30,
                            "trickle": 1 << 30, "huge": 1 << 50}[mode]
                if first:
                    res["remaining_bytes"] = str(announce)
                first = False
                line = (json.dumps({"result": res}, separators=(",", ":")) + "\n").encode()
                self.wfile.write(b"%x\r\n%s\r\n" % (len(line), line))
                if mode == "trickle":
                    self.wfile.flush()
                    time.sleep(0.5)
        except (BrokenPipeError, ConnectionResetError):
            pass


class S(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True


srv = S(("127.0.0.1", 0), H)
with open(portfile + ".tmp", "w") as f:
    f.write(str(srv.server_address[1]))
os.rename(portfile + ".tmp", portfile)
threading.Timer(120, srv.shutdown).start()
srv.serve_forever()
