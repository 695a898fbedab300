# Helpers for the network tests: srt in a private mount namespace where the
# test names (*.test) resolve to loopback, loopback servers in this process,
# and a small client library for the scripts that run inside the sandbox.
import json
import os
import select
import shutil
import socket
import struct
import subprocess
import threading

import pytest

from conftest import PY, Result

HTTP_PROXY_PORT = 3128
SOCKS_PROXY_PORT = 1080

# Names the sandboxed commands ask for; all resolve to 127.0.0.1 for srt's
# supervisor (and inside the sandbox, which sees the same /etc/hosts). A name
# that is not here (nowhere.test) does not resolve at all.
TEST_NAMES = ["good.test", "other.test", "sub.good.test", "deep.sub.good.test",
              "bad.good.test", "evil.test", "www.evil.test"]

# Runs as root in a new mount namespace (private propagation, so nothing
# reaches the host's mount table): put the scratch hosts and resolv.conf over
# the real ones, then exec the rest (setpriv for nobody, then srt).
NS_SCRIPT = ('mount --bind "$1" /etc/hosts && mount --bind "$2" /etc/resolv.conf '
             '&& shift 2 && exec "$@"')

JSON_MARK = "SRTNET-JSON "


def _udp_port_free(addr, port):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.bind((addr, port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def choose_nameserver():
    """A loopback address with nothing on UDP port 53, for the scratch
    resolv.conf: a lookup of a name that is not in the scratch hosts file
    then fails at once and never leaves loopback (a resolver on the host's
    127.0.0.1:53 could forward it)."""
    for addr in ("127.0.0.1", "127.53.0.1", "127.0.53.53"):
        if _udp_port_free(addr, 53):
            return addr
    pytest.skip("something listens on UDP port 53 of loopback; lookups of unknown names could leave it")


def have_ipv6_loopback():
    try:
        s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    except OSError:
        return False
    try:
        s.bind(("::1", 0))
        return True
    except OSError:
        return False
    finally:
        s.close()


def closed_port():
    """A loopback port where nothing listens, kept so while the returned
    socket is open (bound, never listening: a connect is refused)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    return s, s.getsockname()[1]


# --- loopback servers ----------------------------------------------------------

class Server:
    """A TCP server on 127.0.0.1 (or ::1), port 0, one thread per connection.
    Subclasses implement handle(conn, index)."""

    def __init__(self, host="127.0.0.1"):
        fam = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(fam, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.lock = threading.Condition()
        self.conns = []        # every accepted socket
        self.peers = []        # (host, port) of each
        self.received = []     # bytes received on each connection
        self.active = 0
        self.threads = []
        self._wake_r, self._wake_w = os.pipe()
        self._stopped = False
        self._acceptor = threading.Thread(target=self._accept_loop, daemon=True)
        self._acceptor.start()

    def _accept_loop(self):
        while True:
            r, _, _ = select.select([self.sock, self._wake_r], [], [])
            if self._wake_r in r:
                return
            try:
                conn, peer = self.sock.accept()
            except OSError:
                continue
            with self.lock:
                index = len(self.conns)
                self.conns.append(conn)
                self.peers.append(peer)
                self.received.append(b"")
                self.active += 1
            t = threading.Thread(target=self._run, args=(conn, index), daemon=True)
            self.threads.append(t)
            t.start()

    def _run(self, conn, index):
        try:
            self.handle(conn, index)
        except (OSError, ValueError):
            pass  # a peer that broke off, or bytes that are not a request
        finally:
            try:
                conn.close()
            except OSError:
                pass
            with self.lock:
                self.active -= 1
                self.lock.notify_all()

    def recv(self, conn, index, n=65536):
        data = conn.recv(n)
        if data:
            with self.lock:
                self.received[index] += data
                self.lock.notify_all()
        return data

    def handle(self, conn, index):
        raise NotImplementedError

    @property
    def connections(self):
        with self.lock:
            return len(self.conns)

    def all_received(self):
        with self.lock:
            return b"".join(self.received)

    def wait_idle(self, timeout=10):
        """Wait until every connection accepted so far has ended (the peer
        closed it): then everything sent to us has been recorded."""
        with self.lock:
            return self.lock.wait_for(lambda: self.active == 0, timeout)

    def stop(self):
        if self._stopped:
            return
        self._stopped = True
        os.write(self._wake_w, b"x")
        self._acceptor.join(5)
        self.sock.close()
        with self.lock:
            conns = list(self.conns)
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        for t in self.threads:
            t.join(5)
        os.close(self._wake_r)
        os.close(self._wake_w)


class EchoServer(Server):
    """Sends back whatever it receives; records it too."""

    def handle(self, conn, index):
        while True:
            data = self.recv(conn, index)
            if not data:
                return
            conn.sendall(data)


class LineRecorder(Server):
    """Reads one line (an SSH banner, say), records it, and hangs up."""

    def handle(self, conn, index):
        conn.settimeout(15)
        while b"\n" not in self.received[index]:
            if not self.recv(conn, index):
                return


class HTTPOrigin(Server):
    """A small HTTP/1.1 origin server with keep-alive that records every
    complete request it gets (method, target, headers as received, decoded
    body, which connection). Paths:
      /hello            200 "hello from NAME"
      /echo             200 with the request body as its body
      /headers          200 with the received header lines as JSON
      /reset            200 announcing 1 MB, 64 KiB of it, then a TCP reset
      anything else     a file under docroot (query ignored), or 404."""

    def __init__(self, name="origin", docroot=None, host="127.0.0.1"):
        self.name = name
        self.docroot = docroot
        self.requests = []
        super().__init__(host)

    def handle(self, conn, index):
        conn.settimeout(30)
        f = conn.makefile("rb")
        try:
            self._serve(conn, index, f)
        finally:
            f.close()  # else the socket is not really closed (and /reset sends no RST)

    def _serve(self, conn, index, f):
        while True:
            line = f.readline(70000)
            if not line:
                return
            with self.lock:
                self.received[index] += line
            if line in (b"\r\n", b"\n"):
                continue
            try:
                method, target, version = line.decode("latin-1").rstrip("\r\n").split(" ", 2)
            except ValueError:
                return
            headers = []
            while True:
                h = f.readline(70000)
                if h in (b"\r\n", b"\n", b""):
                    break
                name, _, value = h.decode("latin-1").partition(":")
                headers.append([name.strip(), value.strip()])
            hmap = {}
            for k, v in headers:
                hmap.setdefault(k.lower(), v)
            body = b""
            if "chunked" in hmap.get("transfer-encoding", "").lower():
                while True:
                    size_line = f.readline(5000)
                    if not size_line.endswith(b"\n"):
                        return  # incomplete: not a request
                    size = int(size_line.split(b";")[0].strip(), 16)
                    if size == 0:
                        while f.readline(70000) not in (b"\r\n", b"\n", b""):
                            pass  # trailer section
                        break
                    chunk = f.read(size)
                    if len(chunk) != size or f.readline(3) not in (b"\r\n", b"\n"):
                        return
                    body += chunk
            elif "content-length" in hmap:
                n = int(hmap["content-length"])
                body = f.read(n)
                if len(body) != n:
                    return
            path = target
            if path.startswith("http://"):
                slash = path.find("/", len("http://"))
                path = "/" if slash < 0 else path[slash:]
            path_only = path.split("?", 1)[0]
            with self.lock:
                self.requests.append({"conn": index, "peer": self.peers[index][1], "method": method,
                                      "target": target, "path": path, "version": version,
                                      "headers": headers, "body": body})
                self.lock.notify_all()
            close = "close" in hmap.get("connection", "").lower() or version == "HTTP/1.0"
            if path_only == "/reset":
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
                             b"Content-Length: 1048576\r\n\r\n" + b"x" * 65536)
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                return
            status, ctype, payload = self.route(method, path_only, headers, body)
            head = "HTTP/1.1 %s\r\nContent-Type: %s\r\nContent-Length: %d\r\n" % (status, ctype, len(payload))
            if close:
                head += "Connection: close\r\n"
            conn.sendall(head.encode() + b"\r\n" + (b"" if method == "HEAD" else payload))
            if close:
                return

    def route(self, method, path, headers, body):
        if path == "/hello":
            return "200 OK", "text/plain", ("hello from %s\n" % self.name).encode()
        if path == "/echo":
            return "200 OK", "application/octet-stream", body
        if path == "/headers":
            return "200 OK", "application/json", json.dumps(headers).encode()
        if self.docroot and ".." not in path.split("/"):
            p = os.path.join(self.docroot, path.lstrip("/"))
            if os.path.isfile(p):
                with open(p, "rb") as fh:
                    return "200 OK", "application/octet-stream", fh.read()
        return "404 Not Found", "text/plain", b"not found\n"

    def requests_for(self, path):
        with self.lock:
            return [r for r in self.requests if r["path"].split("?", 1)[0] == path]

    def wait_requests(self, n, timeout=10):
        with self.lock:
            return self.lock.wait_for(lambda: len(self.requests) >= n, timeout)


class UDPServer:
    """A UDP socket on loopback that records datagrams; answer(data) may
    return a reply to send back (a fake DNS server, say)."""

    def __init__(self, host="127.0.0.1", port=0, answer=None):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((host, port))
        self.port = self.sock.getsockname()[1]
        self.answer = answer
        self.lock = threading.Condition()
        self.datagrams = []
        self._wake_r, self._wake_w = os.pipe()
        self._t = threading.Thread(target=self._loop, daemon=True)
        self._t.start()

    def _loop(self):
        while True:
            r, _, _ = select.select([self.sock, self._wake_r], [], [])
            if self.sock in r:
                try:
                    data, peer = self.sock.recvfrom(65536)
                except OSError:
                    continue
                with self.lock:
                    self.datagrams.append(data)
                    self.lock.notify_all()
                if self.answer and not data.startswith(b"srt-e2e-marker-"):
                    reply = self.answer(data)
                    if reply:
                        self.sock.sendto(reply, peer)
            if self._wake_r in r:
                return

    def received(self):
        with self.lock:
            return list(self.datagrams)

    def clear(self):
        with self.lock:
            del self.datagrams[:]

    def sync(self, timeout=10):
        """Send a marker datagram from here and wait until it is recorded:
        the socket queue is in order, so whatever reached the socket before
        has been recorded too. Returns the datagrams before the marker."""
        marker = b"srt-e2e-marker-%d" % len(self.datagrams)
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            s.sendto(marker, self.sock.getsockname())
        finally:
            s.close()
        with self.lock:
            if not self.lock.wait_for(lambda: marker in self.datagrams, timeout):
                pytest.fail("the UDP server did not get a datagram sent from the host")
            got = self.datagrams[:self.datagrams.index(marker)]
            return [d for d in got if not d.startswith(b"srt-e2e-marker-")]

    def stop(self):
        if self._t is None:
            return
        os.write(self._wake_w, b"x")
        self._t.join(5)
        self._t = None
        self.sock.close()
        os.close(self._wake_r)
        os.close(self._wake_w)


def dns_answer_loopback(query):
    """Answer any DNS A query with 127.0.0.1 (other types: no data)."""
    if len(query) < 12:
        return None
    qd = query[12:]
    i = 0
    while i < len(qd) and qd[i]:
        i += 1 + qd[i]
    question = qd[:i + 5]
    qtype = struct.unpack(">H", question[-4:-2])[0] if len(question) >= 5 else 0
    answers = b""
    if qtype == 1:
        answers = b"\xc0\x0c" + struct.pack(">HHIH", 1, 1, 60, 4) + bytes([127, 0, 0, 1])
    head = query[:2] + struct.pack(">HHHHH", 0x8180, 1, 1 if answers else 0, 0, 0)
    return head + question + answers


# --- srt in a namespace where the test names resolve to loopback ---------------

class Net:
    """Runs srt for ctx's user in a private mount namespace whose /etc/hosts
    maps the test names to 127.0.0.1 and whose resolv.conf points at a
    loopback address where no DNS server listens. Also owns the loopback
    servers a test starts (stopped at teardown)."""

    def __init__(self, ctx):
        self.ctx = ctx
        self.nameserver = choose_nameserver()
        self.servers = []
        self.keep = []
        self.libdir = ctx.mkdir(os.path.join(ctx.root, "netlib"))
        ctx.write(os.path.join(self.libdir, "srtnet.py"), INSIDE_LIB)
        self._n = 0

    # servers -----------------------------------------------------------------
    def origin(self, name="origin", **kw):
        s = HTTPOrigin(name, **kw)
        self.servers.append(s)
        return s

    def echo(self, **kw):
        s = EchoServer(**kw)
        self.servers.append(s)
        return s

    def line_recorder(self, **kw):
        s = LineRecorder(**kw)
        self.servers.append(s)
        return s

    def udp(self, **kw):
        s = UDPServer(**kw)
        self.servers.append(s)
        return s

    def closed_port(self):
        s, port = closed_port()
        self.keep.append(s)
        return port

    def close(self):
        for s in self.servers:
            s.stop()
        for s in self.keep:
            s.close()

    # files ---------------------------------------------------------------------
    def _files(self, hosts):
        if hosts is None:
            hosts = TEST_NAMES
        if not isinstance(hosts, dict):
            hosts = {n: "127.0.0.1" for n in hosts}
        lines = ["127.0.0.1 localhost", "::1 localhost ip6-localhost ip6-loopback"]
        lines += ["%s %s" % (addr, name) for name, addr in hosts.items()]
        self._n += 1
        h = self.ctx.write(os.path.join(self.ctx.root, "hosts-%d" % self._n), "\n".join(lines) + "\n")
        r = self.ctx.write(os.path.join(self.ctx.root, "resolv-%d.conf" % self._n),
                           "nameserver %s\noptions timeout:1 attempts:1\n" % self.nameserver)
        return h, r

    def wrap(self, argv, hosts=None):
        """argv (already starting with setpriv for nobody) run as root in the
        namespace."""
        h, r = self._files(hosts)
        return ["unshare", "--mount", "--propagation", "private", "sh", "-c", NS_SCRIPT, "sh", h, r] + argv

    def argv(self, args, settings=None, hosts=None, opts=(), wrapper=()):
        """wrapper: a command put right in front of srt (after setpriv for
        nobody), e.g. ["prlimit", "--nofile=120:120"]."""
        a = self.ctx.argv(args, settings=settings, opts=opts)
        if wrapper:
            i = a.index(self.ctx.srt)
            a[i:i] = list(wrapper)
        return self.wrap(a, hosts)

    # running -------------------------------------------------------------------
    def run(self, args, settings=None, hosts=None, input=None, timeout=60, env=None, opts=(),
            srt=True, wrapper=()):
        """Run srt ARGS (or ARGS alone with srt=False, as the test user) in the
        namespace; return a conftest.Result."""
        if srt:
            argv = self.argv(args, settings, hosts, opts, wrapper)
        else:
            drop = self.ctx.argv([])[:-1]  # setpriv ... for nobody, nothing for root
            argv = self.wrap(drop + list(args), hosts)
        if isinstance(input, str):
            input = input.encode()
        try:
            cp = subprocess.run(argv, cwd=self.ctx.proj, env=self.ctx.env(env),
                                input=input if input is not None else b"",
                                capture_output=True, timeout=timeout)
        except subprocess.TimeoutExpired as e:
            pytest.fail("timed out after %ss: %r\nstdout: %r\nstderr: %r" % (timeout, argv, e.stdout, e.stderr))
        return Result(argv, cp.returncode, cp.stdout, cp.stderr)

    def start(self, args, settings=None, hosts=None, env=None, opts=(), stdin=subprocess.DEVNULL,
              wrapper=()):
        argv = self.argv(args, settings, hosts, opts, wrapper)
        proc = subprocess.Popen(argv, cwd=self.ctx.proj, env=self.ctx.env(env), stdin=stdin,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        proc.buf = b""
        proc.argv = argv
        self.ctx.procs.append(proc)
        return proc

    def sh(self, script, *args, **kw):
        return self.run(["sh", "-c", script, "sh"] + [str(a) for a in args], **kw)

    def py(self, code, *args, **kw):
        """Python code inside the sandbox, with the client library below
        imported (from srtnet import *)."""
        prelude = "import sys\nsys.path.insert(0, %r)\nfrom srtnet import *\n" % self.libdir
        return self.run([PY, "-c", prelude + code] + [str(a) for a in args], **kw)

    def py_json(self, code, *args, **kw):
        """Like py; the code calls emit(obj) once. Returns (obj, result)."""
        r = self.py(code, *args, **kw)
        for line in reversed(r.out.splitlines()):
            if line.startswith(JSON_MARK):
                return json.loads(line[len(JSON_MARK):]), r
        pytest.fail("the script inside the sandbox printed no result:%r" % (r,))


def need(*programs):
    for p in programs:
        if shutil.which(p) is None:
            pytest.skip("%s is not installed" % p)


# --- the client library the scripts inside the sandbox import ------------------

INSIDE_LIB = r'''
# Client side of the network tests, run inside the sandbox (python stdlib only).
import json, os, select, socket, ssl, struct, sys  # os too: the test scripts use it

HTTP_PROXY = ("127.0.0.1", 3128)
SOCKS_PROXY = ("127.0.0.1", 1080)
TIMEOUT = 10


def emit(obj):
    sys.stdout.write("SRTNET-JSON " + json.dumps(obj) + "\n")
    sys.stdout.flush()


class Conn:
    """A client connection with a read buffer. EOF and reset both count as
    the peer having closed."""

    def __init__(self, addr=HTTP_PROXY, timeout=TIMEOUT):
        self.sock = socket.create_connection(addr, timeout=timeout)
        self.buf = b""
        self.eof = False

    def send(self, data):
        if isinstance(data, str):
            data = data.encode("latin-1")
        self.sock.sendall(data)

    def _fill(self):
        if self.eof:
            return False
        try:
            chunk = self.sock.recv(65536)
        except socket.timeout:
            raise
        except OSError:
            chunk = b""
        if not chunk:
            self.eof = True
            return False
        self.buf += chunk
        return True

    def readline(self):
        while b"\n" not in self.buf:
            if not self._fill():
                line, self.buf = self.buf, b""
                return line
        i = self.buf.index(b"\n") + 1
        line, self.buf = self.buf[:i], self.buf[i:]
        return line

    def readn(self, n):
        while len(self.buf) < n and self._fill():
            pass
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def read_all(self):
        while self._fill():
            pass
        data, self.buf = self.buf, b""
        return data

    def wait_closed(self):
        """True when the peer closes (EOF or reset) within the timeout;
        whatever else came is discarded."""
        try:
            self.read_all()
            return True
        except socket.timeout:
            return False

    def close(self):
        self.sock.close()


def read_response(c, method="GET"):
    """One response: {"status", "version", "reason", "headers" (lower-case
    names), "body" (latin-1 text)}; status None when the connection closed
    first, with "error"."""
    try:
        line = c.readline()
        if not line:
            return {"status": None, "error": "connection closed before any response"}
        parts = line.decode("latin-1").rstrip("\r\n").split(" ", 2)
        try:
            status = int(parts[1])
        except (IndexError, ValueError):
            return {"status": None, "error": "not a status line: %r" % line}
        headers = {}
        while True:
            h = c.readline()
            if h in (b"\r\n", b"\n", b""):
                break
            name, _, value = h.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        if 100 <= status < 200:
            return read_response(c, method)
        body = b""
        if method in ("HEAD", "CONNECT") and 200 <= status < 300 or status in (204, 304) or method == "HEAD":
            pass
        elif "chunked" in headers.get("transfer-encoding", "").lower():
            while True:
                size = int(c.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while c.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                body += c.readn(size)
                c.readline()
        elif "content-length" in headers:
            body = c.readn(int(headers["content-length"]))
        else:
            body = c.read_all()
        return {"status": status, "version": parts[0], "reason": parts[2] if len(parts) > 2 else "",
                "headers": headers, "body": body.decode("latin-1")}
    except socket.timeout:
        return {"status": None, "error": "timed out waiting for the response"}
    except OSError as e:
        return {"status": None, "error": "error: %s" % e}


def request(host, port, path="/hello", method="GET", headers=(), body=None, version="1.1",
            target=None):
    """The bytes of a proxy request in absolute form, with Host."""
    authority = "%s:%d" % (host, port)
    if target is None:
        target = "http://%s%s" % (authority, path)
    lines = ["%s %s HTTP/%s" % (method, target, version), "Host: " + authority] + list(headers)
    if body is not None:
        lines.append("Content-Length: %d" % len(body))
    data = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    if body is not None:
        data += body if isinstance(body, bytes) else body.encode("latin-1")
    return data


def exchange(c, raw, method="GET"):
    try:
        c.send(raw)
    except OSError as e:
        return {"status": None, "error": "send failed: %s" % e}
    return read_response(c, method)


def http(raw, method="GET", check_close=False):
    """One request on a new proxy connection. With check_close, also says
    whether the proxy then closed the connection."""
    try:
        c = Conn()
    except OSError as e:
        return {"status": None, "error": "cannot connect to the HTTP proxy: %s" % e}
    r = exchange(c, raw, method)
    if check_close:
        r["closed_after"] = c.wait_closed()
    c.close()
    return r


def get(host, port, path="/hello", **kw):
    return http(request(host, port, path, **kw))


def connect(host, port):
    """CONNECT host:port; returns (conn or None, response)."""
    try:
        c = Conn()
    except OSError as e:
        return None, {"status": None, "error": "cannot connect to the HTTP proxy: %s" % e}
    authority = "%s:%d" % (host, port)
    r = exchange(c, "CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n" % (authority, authority), "CONNECT")
    return c, r


def echo_ok(c, payload=b"ping through the sandbox\n"):
    try:
        c.send(payload)
        return c.readn(len(payload)) == payload
    except OSError:
        return False


def send_until_answered(c, data, piece=4096):
    """Send data in pieces, stopping as soon as the peer answers or closes."""
    for i in range(0, len(data), piece):
        r, _, _ = select.select([c.sock], [], [], 0)
        if r:
            return
        try:
            c.send(data[i:i + piece])
        except OSError:
            return


# SOCKS5 ---------------------------------------------------------------------

def socks_open(methods=b"\x00", user=b"user", password=b"secret"):
    """Greeting (and RFC 1929 sub-negotiation when the proxy picks it).
    Returns (conn or None, {"method", "auth"})."""
    try:
        c = Conn(SOCKS_PROXY)
    except OSError as e:
        return None, {"error": "cannot connect to the SOCKS proxy: %s" % e}
    info = {}
    try:
        c.send(bytes([5, len(methods)]) + methods)
        sel = c.readn(2)
        info["method"] = sel[1] if len(sel) == 2 else None
        if info["method"] == 2:
            c.send(b"\x01" + bytes([len(user)]) + user + bytes([len(password)]) + password)
            st = c.readn(2)
            info["auth"] = st[1] if len(st) == 2 else None
    except OSError as e:
        info["error"] = str(e)
    return c, info


def socks_request(c, host, port, cmd=1):
    """Send a request (host: str name, IPv4 or IPv6 text, or bytes for a raw
    domain) and return REP, or None when the proxy closed without a reply."""
    if isinstance(host, bytes):
        addr = b"\x03" + bytes([len(host)]) + host
    else:
        try:
            addr = b"\x01" + socket.inet_pton(socket.AF_INET, host)
        except OSError:
            try:
                addr = b"\x04" + socket.inet_pton(socket.AF_INET6, host)
            except OSError:
                h = host.encode()
                addr = b"\x03" + bytes([len(h)]) + h
    try:
        c.send(bytes([5, cmd, 0]) + addr + struct.pack(">H", port))
        head = c.readn(4)
        if len(head) < 4:
            return None
        atyp = head[3]
        n = {1: 4, 4: 16}.get(atyp)
        if n is None:
            n = c.readn(1)[0] if atyp == 3 else 0
        c.readn(n + 2)
        return head[1]
    except (OSError, IndexError):
        return None


def socks(host, port, cmd=1, methods=b"\x00"):
    """A whole SOCKS exchange; returns (conn or None, {"method", "auth", "rep"})."""
    c, info = socks_open(methods)
    if c is None or info.get("method") not in (0, 2):
        return c, info
    info["rep"] = socks_request(c, host, port, cmd)
    return c, info


# TLS --------------------------------------------------------------------------

def client_hello(server_name):
    """The first bytes a TLS client sends: a ClientHello whose SNI is
    server_name (None: no SNI)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(incoming, outgoing, server_hostname=server_name)
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return outgoing.read()
'''


# --- faults: servers that send fast, stop short, stall or trickle --------------
# For the tests of how the proxies end connections (test_proxy_faults.py).
# Bodies are slices of one endless byte stream, pattern(n, offset), that both
# this process and the scripts inside the sandbox can make: a byte lost,
# doubled or moved changes the SHA-256 of what arrived.

import hashlib  # noqa: E402
import time  # noqa: E402

# Defined once as text: run here, and written into the sandbox's module.
PATTERN_SRC = r'''
def _pattern_block():
    import hashlib
    out = b"".join(hashlib.sha256(b"srt-e2e-pattern-%d" % i).digest() for i in range(2048))
    return out[:65521]  # a prime length: no alignment with reads of 2^k bytes


PATTERN_BLOCK = _pattern_block()


def pattern(n, offset=0):
    """Bytes offset .. offset+n of the test stream."""
    size = len(PATTERN_BLOCK)
    start = offset % size
    reps = (start + n) // size + 1
    return (PATTERN_BLOCK * reps)[start:start + n]
'''

exec(PATTERN_SRC)

_pattern_cache = {}
_pattern_cache_lock = threading.Lock()


def pattern_cached(n):
    """pattern(n), kept for the next caller (servers send the same sizes
    again and again)."""
    with _pattern_cache_lock:
        data = _pattern_cache.get(n)
        if data is None:
            data = pattern(n)  # noqa: F821 (defined by PATTERN_SRC)
            _pattern_cache[n] = data
        return data


def pattern_sha256(n):
    return hashlib.sha256(pattern_cached(n)).hexdigest()


class _HeadReader(Server):
    """A server of HTTP/1.1 requests (absolute or origin form, no request
    bodies) that calls respond(conn, index, method, path) for each; respond
    returns False to end the connection."""

    def handle(self, conn, index):
        conn.settimeout(30)
        f = conn.makefile("rb")
        try:
            while True:
                line = f.readline(70000)
                if not line:
                    return
                if line in (b"\r\n", b"\n"):
                    continue
                with self.lock:
                    self.received[index] += line
                while True:
                    h = f.readline(70000)
                    if h in (b"\r\n", b"\n", b""):
                        break
                try:
                    method, target, _ = line.decode("latin-1").split(" ", 2)
                except ValueError:
                    return
                path = target
                if path.startswith("http://"):
                    slash = path.find("/", len("http://"))
                    path = "/" if slash < 0 else path[slash:]
                if not self.respond(conn, index, method, path):
                    return
        finally:
            f.close()  # else the socket stays open after conn.close()

    def respond(self, conn, index, method, path):
        raise NotImplementedError


class BodyServer(_HeadReader):
    """Sends bodies as fast as the connection takes them, keep-alive:
      /body/N   200, Content-Length N, the bytes pattern(N)
      /hello    200 "hello\\n"
    Records the requests' paths in .paths."""

    def __init__(self, host="127.0.0.1"):
        self.paths = []
        super().__init__(host)

    def respond(self, conn, index, method, path):
        with self.lock:
            self.paths.append(path)
        if path.startswith("/body/"):
            body = pattern_cached(int(path[len("/body/"):]))
        elif path == "/hello":
            body = b"hello\n"
        else:
            conn.sendall(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
            return True
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
                     b"Content-Length: %d\r\n\r\n" % len(body))
        conn.sendall(memoryview(body))
        return True


class CutBodyServer(_HeadReader):
    """Announces a body and closes (FIN) before the end of it:
      /cut/ANNOUNCED/SENT/PIECES   200 with Content-Length ANNOUNCED, then
                                   pattern(SENT) in PIECES writes 5 ms apart
                                   (1: head and body in one write), then
                                   shutdown(SHUT_WR) and close.
      /stream/SENT/PIECES          no head at all (for tunnels): the bytes,
                                   then the same close.
    .cuts lists (connection, announced, sent) as each was sent."""

    def __init__(self, host="127.0.0.1"):
        self.cuts = []
        super().__init__(host)

    def respond(self, conn, index, method, path):
        parts = path.strip("/").split("/")
        if parts[0] == "cut":
            announced, sent, pieces = int(parts[1]), int(parts[2]), int(parts[3])
            head = (b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
                    b"Content-Length: %d\r\n\r\n" % announced)
        else:
            announced, sent, pieces = None, int(parts[1]), int(parts[2])
            head = b""
        body = pattern_cached(sent)
        if pieces <= 1:
            conn.sendall(head + body)
        else:
            if head:
                conn.sendall(head)
            step = -(-sent // pieces)
            for i in range(0, sent, step):
                time.sleep(0.005)
                conn.sendall(memoryview(body)[i:i + step])
        conn.shutdown(socket.SHUT_WR)  # a FIN now, whatever else holds the socket
        with self.lock:
            self.cuts.append((index, announced, sent))
        return False


class SilentServer(Server):
    """Reads a request head and never answers: the connection stays open
    until the peer closes it (or the server stops). .heads counts the heads
    that arrived."""

    def __init__(self, host="127.0.0.1"):
        self.heads = 0
        super().__init__(host)

    def handle(self, conn, index):
        counted = False
        while True:
            data = self.recv(conn, index)
            if not data:
                return
            if not counted and b"\r\n\r\n" in self.received[index]:
                counted = True
                with self.lock:
                    self.heads += 1


class PacedHTTPServer(_HeadReader):
    """Answers late and slowly, keep-alive:
      /paced/HEAD_MS/N/EVERY_MS   the head after HEAD_MS ms, announcing N
                                  bytes of pattern(N), then one byte every
                                  EVERY_MS ms (all at once when 0)."""

    def respond(self, conn, index, method, path):
        parts = path.strip("/").split("/")
        if parts[0] != "paced":
            conn.sendall(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
            return True
        head_ms, n, every_ms = int(parts[1]), int(parts[2]), int(parts[3])
        body = pattern_cached(n)
        time.sleep(head_ms / 1000.0)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
                     b"Content-Length: %d\r\n\r\n" % n)
        if every_ms == 0:
            conn.sendall(body)
            return True
        for i in range(n):
            time.sleep(every_ms / 1000.0)
            conn.sendall(body[i:i + 1])
        return True


class PacedLineServer(Server):
    """A tunnel's far end for traffic in one direction at a time. Bytes
    collect into lines; a line "tick N MS" makes it send "." N times, MS ms
    apart, then "end\\n"; any other line is answered with "alive\\n"."""

    def handle(self, conn, index):
        conn.settimeout(30)
        buf = b""
        while True:
            data = self.recv(conn, index)
            if not data:
                return
            buf += data
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                words = line.split()
                if len(words) == 3 and words[0] == b"tick":
                    for _ in range(int(words[1])):
                        time.sleep(int(words[2]) / 1000.0)
                        conn.sendall(b".")
                    conn.sendall(b"end\n")
                else:
                    conn.sendall(b"alive\n")


def install_inside_module(net, name, text):
    """Write a module next to srtnet for the scripts inside the sandbox
    (import NAME after net.py's prelude)."""
    net.ctx.write(os.path.join(net.libdir, name + ".py"), text)


# The client side of the fault tests, written into the sandbox as
# srtfaults.py (python stdlib only). PROTOS are the ways a transfer goes:
# the HTTP proxy in absolute form, a CONNECT tunnel, a SOCKS5 tunnel, and a
# direct connection to a host loopback service the settings list.
FAULTS_INSIDE_LIB = PATTERN_SRC + r'''

import hashlib, select, socket, struct, time

HTTP_PROXY = ("127.0.0.1", 3128)
SOCKS_PROXY = ("127.0.0.1", 1080)
PROTOS = ("http", "connect", "socks5", "direct")


def sha(data):
    return hashlib.sha256(data).hexdigest()


def read_head(s, buf=b""):
    """Read an HTTP head; returns (head, bytes after it)."""
    while b"\r\n\r\n" not in buf:
        d = s.recv(65536)
        if not d:
            raise EOFError("closed before the end of a head, after %r" % buf[:300])
        buf += d
    i = buf.index(b"\r\n\r\n") + 4
    return buf[:i], buf[i:]


def head_status(head):
    return int(head.split(b" ", 2)[1])


def head_length(head):
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value.strip())
    return None


def recvn(s, n):
    out = b""
    while len(out) < n:
        d = s.recv(n - len(out))
        if not d:
            raise EOFError("closed after %d of %d bytes" % (len(out), n))
        out += d
    return out


def open_tunnel(proto, port, host="127.0.0.1", timeout=10):
    """A socket that reaches host:port through proto (connect, socks5 or
    direct), set up and ready for the far end's protocol."""
    if proto == "direct":
        return socket.create_connection((host, port), timeout=timeout)
    if proto == "connect":
        s = socket.create_connection(HTTP_PROXY, timeout=timeout)
        s.sendall(b"CONNECT %s:%d HTTP/1.1\r\nHost: %s:%d\r\n\r\n" % (host.encode(), port, host.encode(), port))
        head, rest = read_head(s)
        if head_status(head) != 200 or rest:
            s.close()
            raise OSError("CONNECT answered %r" % head)
        return s
    if proto == "socks5":
        s = socket.create_connection(SOCKS_PROXY, timeout=timeout)
        s.sendall(b"\x05\x01\x00")
        if recvn(s, 2) != b"\x05\x00":
            s.close()
            raise OSError("SOCKS5 greeting refused")
        s.sendall(b"\x05\x01\x00\x01" + socket.inet_aton(host) + struct.pack(">H", port))
        reply = recvn(s, 4)
        recvn(s, {1: 4, 4: 16}.get(reply[3], 0) + 2)
        if reply[1] != 0:
            s.close()
            raise OSError("SOCKS5 reply %d" % reply[1])
        return s
    raise ValueError(proto)


def open_get(proto, port, path, host="127.0.0.1", timeout=10):
    """A socket on which GET path from host:port has been sent through
    proto: http (absolute form to the HTTP proxy) or a tunnel."""
    if proto == "http":
        s = socket.create_connection(HTTP_PROXY, timeout=timeout)
        s.sendall(b"GET http://%s:%d%s HTTP/1.1\r\nHost: %s:%d\r\n\r\n"
                  % (host.encode(), port, path.encode(), host.encode(), port))
        return s
    s = open_tunnel(proto, port, host, timeout)
    s.sendall(b"GET %s HTTP/1.1\r\nHost: %s:%d\r\n\r\n" % (path.encode(), host.encode(), port))
    return s


def drop(s, how):
    """End a connection in the middle of a transfer: "rst" resets it
    (SO_LINGER 0); "fin" takes what already arrived and closes it (a FIN;
    what still comes is then answered with a reset by the kernel)."""
    if how == "rst":
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    else:
        s.setblocking(False)
        try:
            while s.recv(1 << 20):
                pass
        except OSError:
            pass
    s.close()


def abort_download(proto, port, how, size=4 << 20, take=64 << 10, host="127.0.0.1"):
    """Start a download of size bytes, read about take bytes of it, drop
    the connection. Returns how many body bytes came (raises on a failed
    start)."""
    s = open_get(proto, port, "/body/%d" % size, host)
    try:
        head, got = read_head(s)
        if head_status(head) != 200:
            raise OSError("answered %r" % head)
        n = len(got)
        while n < take:
            d = s.recv(65536)
            if not d:
                raise EOFError("closed after %d body bytes" % n)
            n += len(d)
    except BaseException:
        s.close()
        raise
    drop(s, how)
    return n


def download(proto, port, size, host="127.0.0.1", pace=None, timeout=10):
    """GET /body/size through proto, read all of it. pace, when given, is
    called after each MiB (it may sleep). Returns {"status", "length",
    "sha256", "error"} of the body."""
    out = {"status": None, "length": 0, "sha256": None, "error": None}
    h = hashlib.sha256()
    s = None
    n = 0
    try:
        s = open_get(proto, port, "/body/%d" % size, host, timeout)
        head, got = read_head(s)
        out["status"] = head_status(head)
        want = head_length(head)
        if want is None:
            raise OSError("no Content-Length in %r" % head)
        h.update(got)
        n = len(got)
        buf = bytearray(1 << 20)
        view = memoryview(buf)
        mark = 1 << 20
        while n < want:
            k = s.recv_into(view, min(len(buf), want - n))
            if not k:
                raise EOFError("closed after %d of %d bytes" % (n, want))
            h.update(view[:k])
            n += k
            if pace and n >= mark:
                mark += 1 << 20
                pace(n)
        out["length"] = n
    except (OSError, EOFError, ValueError) as e:
        out["error"] = "%s: %s" % (type(e).__name__, e)
        out["length"] = n
    finally:
        if s is not None:
            s.close()
    out["sha256"] = h.hexdigest()
    return out


def full_ok(res, size):
    return res["status"] == 200 and res["length"] == size and res["sha256"] == sha(pattern(size)) \
        and res["error"] is None
'''
