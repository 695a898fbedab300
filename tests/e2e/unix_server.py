# Host-side unix socket servers for test_unix_sockets.py, run outside the
# sandbox as the test's user. Each prints "ready" once it listens and logs
# what it receives to LOG as JSON Lines, so the test sees what reached it.
#
#   unix_server.py stream PATH LOG NAME    accept, log, greet "hello from NAME"
#   unix_server.py abstract ID LOG NAME    the same on the abstract name "\0ID"
#   unix_server.py dgram PATH LOG NAME     log every datagram
#   unix_server.py docker PATH LOG NAME    a fake Docker Engine API over HTTP
#
# A client that sends "marker\n" (or the datagram "marker") is the test's own
# check that everything sent before it has been logged.
import http.server
import json
import os
import socket
import socketserver
import sys
import threading

DOCKER_API = "1.45"
DOCKER_VERSION = "27.0.3-srt-e2e"

_lock = threading.Lock()


def main():
    mode, address, log_path, name = sys.argv[1:5]
    log = open(log_path, "a", buffering=1)

    def note(**ev):
        with _lock:
            log.write(json.dumps(ev) + "\n")
            log.flush()

    if mode == "docker":
        serve_docker(address, note)
    elif mode == "dgram":
        s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        s.bind(address)
        ready()
        while True:
            data, sender = s.recvfrom(65536)
            note(event="datagram", data=data.decode("latin-1"), sender=_text(sender))
    else:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.bind("\0" + address if mode == "abstract" else address)
        s.listen(128)
        ready()
        while True:
            c, _ = s.accept()
            note(event="accept")
            threading.Thread(target=talk, args=(c, name, note), daemon=True).start()


def ready():
    sys.stdout.write("ready\n")
    sys.stdout.flush()


def _text(a):
    return a.decode("latin-1") if isinstance(a, bytes) else a


def talk(c, name, note):
    """Greet, then log what the client sends until it closes."""
    got = b""
    try:
        c.settimeout(5)
        c.sendall(("hello from %s\n" % name).encode())
        while True:
            chunk = c.recv(4096)
            if not chunk:
                break
            got += chunk
    except OSError:
        pass
    finally:
        c.close()
    if got:
        note(event="data", data=got.decode("latin-1"))


def serve_docker(path, note):
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "srt-e2e-fake-docker"

        def address_string(self):
            return "unix"

        def log_message(self, fmt, *args):
            pass

        def reply(self, code, body, ctype="application/json"):
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Api-Version", DOCKER_API)
            self.send_header("Docker-Experimental", "false")
            self.send_header("Ostype", "linux")
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

        def handle_any(self):
            note(event="request", method=self.command, path=self.path)
            route = self.path.split("?", 1)[0]
            parts = route.strip("/").split("/")
            if parts and parts[0].startswith("v") and parts[0][1:].replace(".", "").isdigit():
                parts = parts[1:]
            if parts == ["_ping"]:
                self.reply(200, b"OK", "text/plain; charset=utf-8")
            elif parts == ["version"]:
                self.reply(200, version_body())
            else:
                self.reply(404, {"message": "page not found"})

        do_GET = do_HEAD = do_POST = handle_any

    class Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
        daemon_threads = True

    srv = Server(path, Handler)
    ready()
    srv.serve_forever()


def version_body():
    details = {"ApiVersion": DOCKER_API, "Arch": "amd64", "BuildTime": "2024-07-01T00:00:00.000000000+00:00",
               "Experimental": "false", "GitCommit": "e2e0000", "GoVersion": "go1.21.11",
               "KernelVersion": os.uname().release, "MinAPIVersion": "1.24", "Os": "linux"}
    return {
        "Platform": {"Name": "srt e2e fake engine"},
        "Components": [{"Name": "Engine", "Version": DOCKER_VERSION, "Details": details}],
        "Version": DOCKER_VERSION, "ApiVersion": DOCKER_API, "MinAPIVersion": "1.24",
        "GitCommit": "e2e0000", "GoVersion": "go1.21.11", "Os": "linux", "Arch": "amd64",
        "KernelVersion": os.uname().release, "BuildTime": "2024-07-01T00:00:00.000000000+00:00",
    }


if __name__ == "__main__":
    main()
