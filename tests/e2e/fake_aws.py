"""A fake AWS endpoint for the tests: an HTTP (or HTTPS) server on loopback
that checks each request's Signature Version 4 with the REAL key, as AWS
would (Authorization header, presigned query, aws-chunked streaming bodies
and their chunk signatures, the session token), and records every verdict.

Accepted: 200 with {"ok": true, "kind", "akid", "body_len", "body_sha256"}
(the body as decoded: an aws-chunked body's data). Refused: 403 with
{"ok": false, "reason"}.

In a test:
    aws = FakeAws({"AKIA...": ("secret", "token-or-None")})
    aws.port; ...; aws.records; aws.close()
From a shell:
    python3 fake_aws.py --akid AKIA... --secret S [--token T] [--port N]
        [--cert C --key K] [--log FILE]     (prints "PORT n", then serves)
"""
import argparse
import hashlib
import json
import os
import ssl
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sigv4_ref  # noqa: E402

BODY_MAX = 64 * 1024 * 1024


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "FakeAWS/1"

    def log_message(self, fmt, *args):
        pass

    def _read_body(self):
        te = self.headers.get("Transfer-Encoding")
        if te is not None:
            if te.strip().lower() != "chunked":
                raise ValueError("unsupported transfer-encoding")
            out = []
            total = 0
            while True:
                line = self.rfile.readline(4096)
                size = int(line.split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline(4096) not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(out)
                total += size
                if total > BODY_MAX:
                    raise ValueError("body too large")
                out.append(self.rfile.read(size))
                self.rfile.readline(4096)
        n = int(self.headers.get("Content-Length") or 0)
        if n > BODY_MAX:
            raise ValueError("body too large")
        return self.rfile.read(n) if n else b""

    def _handle(self):
        fake = self.server.fake
        try:
            body = self._read_body()
        except (ValueError, OSError) as e:
            self._answer(400, {"ok": False, "reason": str(e)})
            return
        headers = list(self.headers.items())
        ok, reason, info = sigv4_ref.verify(self.command, self.path, headers, body, fake.keys)
        data = info.get("body", b"") if ok else b""
        rec = {"ok": ok, "reason": reason, "kind": info.get("kind"), "akid": info.get("akid"),
               "method": self.command, "target": self.path,
               "body_len": len(data), "body_sha256": hashlib.sha256(data).hexdigest(),
               "host": self.headers.get("Host")}
        fake.record(rec)
        if ok:
            self._answer(200, {"ok": True, "kind": rec["kind"], "akid": rec["akid"],
                               "body_len": rec["body_len"], "body_sha256": rec["body_sha256"]})
        else:
            self._answer(403, {"ok": False, "reason": reason})

    def _answer(self, status, obj):
        data = (json.dumps(obj) + "\n").encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = do_PATCH = _handle


class FakeAws:
    def __init__(self, keys, host="127.0.0.1", port=0, certfile=None, keyfile=None, log=None):
        """keys: {access key id: (secret, session token or None)}."""
        self.keys = dict(keys)
        self.records = []
        self._lock = threading.Lock()
        self._log = log
        self.server = ThreadingHTTPServer((host, port), _Handler)
        self.server.daemon_threads = True
        self.server.fake = self
        if certfile:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(certfile, keyfile)
            self.server.socket = ctx.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def record(self, rec):
        with self._lock:
            self.records.append(rec)
            if self._log:
                with open(self._log, "a") as f:
                    f.write(json.dumps(rec) + "\n")

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--akid", required=True)
    ap.add_argument("--secret", required=True)
    ap.add_argument("--token")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--cert")
    ap.add_argument("--key")
    ap.add_argument("--log")
    a = ap.parse_args()
    if a.host not in ("127.0.0.1", "::1") and not a.host.startswith("127."):
        ap.error("loopback addresses only")
    fake = FakeAws({a.akid: (a.secret, a.token)}, a.host, a.port, a.cert, a.key, a.log)
    print("PORT %d" % fake.port, flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        fake.close()


if __name__ == "__main__":
    main()
