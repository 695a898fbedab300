# Parent proxies for the tests and the bench: an HTTP CONNECT proxy and a SOCKS5 proxy on loopback (or a unix socket), with or without authentication, that can refuse or hang; they record what they were asked and resolve *.test names to 127.0.0.1 themselves.
import base64
import os
import select
import socket
import ssl
import struct
import subprocess
import threading

# Names the parent resolves itself: every *.test name is 127.0.0.1, so a
# request srt sends to the parent by name ends at a loopback server.
def resolve(host):
    if host.endswith(".test") or host == "localhost":
        return "127.0.0.1"
    return host


def make_ca(folder, names=("parent.test",), ips=("127.0.0.1",)):
    """A test CA and a server certificate it signed for names and ips, made
    with the openssl command in folder. Returns (ca.pem, cert.pem, key.pem)."""
    def run(*args):
        subprocess.run(["openssl"] + list(args), cwd=folder, check=True, capture_output=True)
    run("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "2",
        "-subj", "/CN=srt test CA", "-keyout", "ca.key", "-out", "ca.pem",
        "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign")
    san = ",".join(["DNS:%s" % n for n in names] + ["IP:%s" % i for i in ips])
    with open(os.path.join(folder, "ext.cnf"), "w") as f:
        f.write("subjectAltName=%s\nextendedKeyUsage=serverAuth\n" % san)
    run("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-subj", "/CN=parent",
        "-keyout", "server.key", "-out", "server.csr")
    run("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
        "-days", "2", "-extfile", "ext.cnf", "-out", "server.pem")
    for n in ("ca.pem", "server.pem", "server.key"):
        os.chmod(os.path.join(folder, n), 0o644)
    return tuple(os.path.join(folder, n) for n in ("ca.pem", "server.pem", "server.key"))


def pipe(a, b):
    """Relay both ways until both directions ended."""
    socks = [a, b]
    open_dirs = {a: b, b: a}
    try:
        while open_dirs:
            r = [s for s in open_dirs if isinstance(s, ssl.SSLSocket) and s.pending()]
            if not r:
                r, _, _ = select.select(list(open_dirs), [], [], 30)
            if not r:
                return
            for s in r:
                try:
                    data = s.recv(65536)
                except OSError:
                    data = b""
                peer = open_dirs.get(s)
                if peer is None:
                    continue
                if not data:
                    del open_dirs[s]
                    try:
                        peer.shutdown(socket.SHUT_WR)
                    except OSError:
                        pass
                    continue
                peer.sendall(data)
    finally:
        for s in socks:
            try:
                s.close()
            except OSError:
                pass


class ParentBase:
    """Accepts on 127.0.0.1 (port 0) or on a unix socket path; one thread
    per connection. Records every request as a dict in self.requests."""

    def __init__(self, unix_path=None, host="127.0.0.1", tls=None):
        """tls: (cert.pem, key.pem): clients speak TLS to it (an https:// parent)."""
        self.tls = None
        if tls:
            self.tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self.tls.load_cert_chain(*tls)
        self.handshakes_failed = 0
        if unix_path:
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.bind(unix_path)
            os.chmod(unix_path, 0o777)
            self.port = None
        else:
            self.sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self.sock.bind((host, 0))
            self.port = self.sock.getsockname()[1]
        self.sock.listen(128)
        self.requests = []
        self.connections = 0
        self.lock = threading.Lock()
        self._stop_r, self._stop_w = os.pipe()
        self._held = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            r, _, _ = select.select([self.sock, self._stop_r], [], [])
            if self._stop_r in r:
                return
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            with self.lock:
                self.connections += 1
            threading.Thread(target=self._run, args=(conn,), daemon=True).start()

    def _run(self, conn):
        if self.tls:
            try:
                conn.settimeout(10)
                conn = self.tls.wrap_socket(conn, server_side=True)
                conn.settimeout(None)
            except (OSError, ssl.SSLError):
                with self.lock:
                    self.handshakes_failed += 1
                conn.close()
                return
        try:
            self.handle(conn)
        except (OSError, ValueError, struct.error):
            try:
                conn.close()
            except OSError:
                pass

    def record(self, **kw):
        with self.lock:
            self.requests.append(kw)

    def hosts(self):
        with self.lock:
            return [r.get("host") for r in self.requests]

    def dial(self, host, port):
        s = socket.create_connection((resolve(host), port), timeout=10)
        s.settimeout(None)
        return s

    def stop(self):
        os.write(self._stop_w, b"x")
        self.sock.close()
        for c in self._held:
            try:
                c.close()
            except OSError:
                pass


def read_head(conn):
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(4096)
        if not chunk:
            raise ValueError("closed before a request head")
        data += chunk
        if len(data) > 65536:
            raise ValueError("head too large")
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    return lines[0], headers, rest, head


class HTTPParent(ParentBase):
    """An HTTP CONNECT proxy. user/password: Basic auth required (407
    otherwise); refuse: answer every CONNECT with this status; hang:
    accept and never answer; answer: answer the request inside the tunnel
    itself with this body instead of dialing (a mitm-style proxy)."""

    def __init__(self, user=None, password=None, refuse=None, hang=False, answer=None, refuse_connect_ports=(),
                 hold=False, **kw):
        """refuse_connect_ports: CONNECT to these ports is refused with 403
        (squid's default allows CONNECT to 443 only), absolute-form
        requests are served."""
        self.user, self.password, self.refuse, self.hang, self.answer = user, password, refuse, hang, answer
        self.refuse_connect_ports = set(refuse_connect_ports)
        # hold: answer a CONNECT with 200, read until the client's end of
        # stream, then keep the connection open without a word, forever.
        self.hold = hold
        super().__init__(**kw)

    def handle(self, conn):
        if self.hang:
            self._held.append(conn)
            return
        line, headers, rest, raw = read_head(conn)
        parts = line.split(" ")
        method, target = parts[0], parts[1] if len(parts) > 1 else ""
        url = None
        if method != "CONNECT":
            # Absolute form: http://host[:port]/path
            url = target
            if not target.startswith("http://"):
                conn.sendall(b"HTTP/1.1 400 Not a proxy request\r\nContent-Length: 0\r\n\r\n")
                conn.close()
                return
            authority, _, path = target[len("http://"):].partition("/")
            target = authority if ":" in authority.rpartition("]")[2] else authority + ":80"
            path = "/" + path
        host, _, port = target.rpartition(":")
        host = host.strip("[]")
        auth = headers.get("proxy-authorization")
        self.record(method=method, target=target, host=host, port=int(port or 0), auth=auth,
                    head=line, headers=headers, url=url)
        if self.refuse:
            conn.sendall(b"HTTP/1.1 %d Refused by the parent\r\nContent-Length: 0\r\n\r\n" % self.refuse)
            conn.close()
            return
        if self.user is not None:
            want = "Basic " + base64.b64encode(("%s:%s" % (self.user, self.password)).encode()).decode()
            if auth != want:
                conn.sendall(b"HTTP/1.1 407 Proxy Authentication Required\r\n"
                             b"Proxy-Authenticate: Basic realm=\"test\"\r\nContent-Length: 0\r\n\r\n")
                conn.close()
                return
        if method == "CONNECT" and int(port or 0) in self.refuse_connect_ports:
            conn.sendall(b"HTTP/1.1 403 CONNECT to this port is not allowed\r\nContent-Length: 0\r\n\r\n")
            conn.close()
            return
        if method != "CONNECT":
            if self.answer is not None:
                body = self.answer.encode()
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s"
                             % (len(body), body))
                conn.close()
                return
            try:
                up = self.dial(host, int(port))
            except OSError:
                conn.sendall(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
                conn.close()
                return
            # Origin form upstream; Proxy-* fields stay here.
            lines = raw.split(b"\r\n")
            fields = [l for l in lines[1:] if not l.lower().startswith(b"proxy-")]
            up.sendall(("%s %s %s\r\n" % (method, path, parts[2])).encode("latin-1") +
                       b"\r\n".join(fields) + b"\r\n\r\n" + rest)
            pipe(conn, up)
            return
        if self.answer is not None:
            conn.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            inner, inner_headers, _, _ = read_head(conn)
            self.requests[-1]["inner"] = inner
            self.requests[-1]["inner_headers"] = inner_headers
            body = self.answer.encode()
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(body), body))
            conn.close()
            return
        if self.hold:
            self.requests[-1]["peer_port"] = conn.getpeername()[1]
            conn.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            try:
                while conn.recv(4096):
                    pass
            except (OSError, ssl.SSLError):
                pass
            self.requests[-1]["eof"] = True
            self._held.append(conn)
            return
        try:
            up = self.dial(host, int(port))
        except OSError:
            conn.sendall(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
            conn.close()
            return
        conn.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
        if rest:
            up.sendall(rest)
        pipe(conn, up)


class SOCKSParent(ParentBase):
    """A SOCKS5 proxy (CONNECT). user/password: RFC 1929 required; refuse:
    answer every request with this reply code."""

    def __init__(self, user=None, password=None, refuse=None, **kw):
        self.user, self.password, self.refuse = user, password, refuse
        super().__init__(**kw)

    def _read(self, conn, n):
        data = b""
        while len(data) < n:
            chunk = conn.recv(n - len(data))
            if not chunk:
                raise ValueError("closed")
            data += chunk
        return data

    def handle(self, conn):
        ver, n = self._read(conn, 2)
        methods = self._read(conn, n)
        want = 2 if self.user is not None else 0
        if ver != 5 or want not in methods:
            conn.sendall(b"\x05\xff")
            conn.close()
            return
        conn.sendall(bytes([5, want]))
        auth = None
        if want == 2:
            v, ul = self._read(conn, 2)
            user = self._read(conn, ul)
            pl = self._read(conn, 1)[0]
            pw = self._read(conn, pl)
            auth = (user.decode("latin-1"), pw.decode("latin-1"))
            ok = auth == (self.user, self.password)
            conn.sendall(b"\x01\x00" if ok else b"\x01\x01")
            if not ok:
                self.record(host=None, auth=auth, refused="auth")
                conn.close()
                return
        ver, cmd, _, atyp = self._read(conn, 4)
        if atyp == 1:
            host = socket.inet_ntop(socket.AF_INET, self._read(conn, 4))
        elif atyp == 4:
            host = socket.inet_ntop(socket.AF_INET6, self._read(conn, 16))
        else:
            host = self._read(conn, self._read(conn, 1)[0]).decode("latin-1")
        port = struct.unpack(">H", self._read(conn, 2))[0]
        self.record(host=host, port=port, atyp=atyp, auth=auth)
        if self.refuse:
            conn.sendall(bytes([5, self.refuse, 0, 1, 0, 0, 0, 0, 0, 0]))
            conn.close()
            return
        try:
            up = self.dial(host, port)
        except OSError:
            conn.sendall(bytes([5, 5, 0, 1, 0, 0, 0, 0, 0, 0]))
            conn.close()
            return
        conn.sendall(bytes([5, 0, 0, 1, 127, 0, 0, 1, 0, 0]))
        pipe(conn, up)
