# TLS termination (network.tlsTerminate): tunnels to allowed hosts are decrypted with a leaf minted by srt's CA, each request is checked and forwarded over a verified TLS connection; the sandbox trusts the CA through the bundle its variables name.
#
# The "internet" is a TLS origin on 127.0.0.1 with its own test CA; srt's
# SSL_CERT_FILE points at that CA (srt's own view of the host's trust store),
# so srt verifies the origin as it would a real one. Inside, clients run
# without extra flags: they find srt's CA through SSL_CERT_FILE and friends.
import datetime
import json
import os
import socket
import ssl
import subprocess
import threading

import pytest

import netutil
from netutil import need

PY_INSIDE = "/usr/bin/python3"
BUNDLE = "/dev/.srt-ca-bundle.pem"
BUNDLE_VARS = ["SSL_CERT_FILE", "NODE_EXTRA_CA_CERTS", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "PIP_CERT",
               "GIT_SSL_CAINFO", "AWS_CA_BUNDLE", "CARGO_HTTP_CAINFO", "DENO_CERT"]

crypto = pytest.importorskip("cryptography")
from cryptography import x509  # noqa: E402
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID  # noqa: E402


# --- a test PKI -------------------------------------------------------------------

def _name(cn):
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _pem_key(key):
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


class PKI:
    """A root CA and leaves it signs, written as PEM files under dir."""

    def __init__(self, ctx, dir, cn="srt test root"):
        self.ctx = ctx
        self.dir = ctx.mkdir(dir)
        self.key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.timezone.utc)
        ski = x509.SubjectKeyIdentifier.from_public_key(self.key.public_key())
        self.cert = (x509.CertificateBuilder().subject_name(_name(cn)).issuer_name(_name(cn))
                     .public_key(self.key.public_key()).serial_number(x509.random_serial_number())
                     .not_valid_before(now - datetime.timedelta(days=1))
                     .not_valid_after(now + datetime.timedelta(days=10))
                     .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                     .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False),
                                    critical=True)
                     .add_extension(ski, critical=False)
                     .sign(self.key, hashes.SHA256()))
        self.cert_path = ctx.write(os.path.join(self.dir, "ca.pem"), self.cert.public_bytes(serialization.Encoding.PEM))
        self.key_path = ctx.write(os.path.join(self.dir, "ca.key"), _pem_key(self.key), mode=0o600)
        self._n = 0

    def leaf(self, names=("good.test",), ips=(), days=(-1, 5), ca=None, cn=None):
        """A leaf for names/ips valid from days[0] to days[1] (relative to
        now); returns (cert path, key path)."""
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.timezone.utc)
        sans = [x509.DNSName(n) for n in names]
        import ipaddress
        sans += [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
        cert = (x509.CertificateBuilder().subject_name(_name(cn or (list(names) + list(ips))[0]))
                .issuer_name(self.cert.subject).public_key(key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(now + datetime.timedelta(days=days[0]))
                .not_valid_after(now + datetime.timedelta(days=days[1]))
                .add_extension(x509.SubjectAlternativeName(sans), critical=False)
                .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
                .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()),
                               critical=False)
                .sign(self.key, hashes.SHA256()))
        self._n += 1
        c = self.ctx.write(os.path.join(self.dir, "leaf-%d.pem" % self._n), cert.public_bytes(serialization.Encoding.PEM))
        k = self.ctx.write(os.path.join(self.dir, "leaf-%d.key" % self._n), _pem_key(key), mode=0o600)
        return c, k


class TLSOrigin(netutil.HTTPOrigin):
    """HTTPOrigin behind TLS (any ALPN offer is recorded, none chosen unless
    http/1.1 is offered). Records the SNI of every handshake."""

    def __init__(self, cert, key, name="tls origin", **kw):
        self.tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.tls.load_cert_chain(cert, key)
        self.tls.set_alpn_protocols(["http/1.1"])
        self.snis = []
        self.handshake_errors = []
        self.tls.sni_callback = lambda sock, name, c: self.snis.append(name)
        super().__init__(name, **kw)

    def route(self, method, path, headers, body):
        # A folder's index.html (pip's simple index).
        if self.docroot and path.endswith("/") and ".." not in path.split("/"):
            p = os.path.join(self.docroot, path.lstrip("/"), "index.html")
            if os.path.isfile(p):
                with open(p, "rb") as fh:
                    return "200 OK", "text/html", fh.read()
        return super().route(method, path, headers, body)

    def handle(self, conn, index):
        conn.settimeout(30)
        try:
            t = self.tls.wrap_socket(conn, server_side=True)
        except (ssl.SSLError, OSError) as e:
            self.handshake_errors.append(str(e))
            return
        f = t.makefile("rb")
        try:
            self._serve(t, index, f)
        finally:
            f.close()
            try:
                t.unwrap()
            except (ssl.SSLError, OSError, ValueError):
                pass


@pytest.fixture
def net(ctx):
    n = netutil.Net(ctx)
    yield n
    n.close()


@pytest.fixture
def pki(ctx):
    return PKI(ctx, os.path.join(ctx.root, "pki"))


def origin(net, pki, **kw):
    cert, key = pki.leaf(**{k: v for k, v in kw.items() if k in ("names", "ips", "days", "cn")})
    s = TLSOrigin(cert, key, name=kw.get("name", "tls origin"), docroot=kw.get("docroot"),
                  host=kw.get("host", "127.0.0.1"))
    net.servers.append(s)
    return s


def tls_settings(port, tls=None, *more, **net_extra):
    n = {"allowedDomains": ["good.test", "127.0.0.1:%d" % port] + list(more),
         "tlsTerminate": tls if tls is not None else {}}
    n.update(net_extra)
    return {"network": n}


def run(net, pki, args, settings, **kw):
    env = dict(kw.pop("env", None) or {})
    env["SSL_CERT_FILE"] = pki.cert_path
    return net.run(args, settings=settings, env=env, **kw)


def events_of(net, pki, args, settings, **kw):
    """Run with --events FILE; return (result, events)."""
    path = os.path.join(net.ctx.root, "events-%d.jsonl" % len(os.listdir(net.ctx.root)))
    r = run(net, pki, args, settings, opts=("--events", path), **kw)
    evs = []
    if os.path.exists(path):
        with open(path) as f:
            evs = [json.loads(l) for l in f if l.strip()]
    return r, evs


# --- the basics --------------------------------------------------------------------

def test_curl_through_terminated_tls(net, pki):
    need("curl")
    o = origin(net, pki)
    r = run(net, pki, ["curl", "-sS", "--fail", "https://good.test:%d/hello" % o.port], tls_settings(o.port))
    assert r.rc == 0, r
    assert r.out == "hello from tls origin\n"
    # srt connected to the origin with TLS itself, with the SNI of the host.
    assert o.snis == ["good.test"], o.snis
    assert len(o.requests) == 1
    assert ["Host", "good.test:%d" % o.port] in o.requests[0]["headers"]


# What a script inside sees of the tunnel's certificate and of one request:
# CONNECT by hand, TLS with the default context (the bundle through
# SSL_CERT_FILE), one GET.
PEEK = r'''
import ssl
host, port, sni, path, hosthdr = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
c, r = connect(host, port)
if r.get("status") != 200:
    emit({"connect": r}); sys.exit(0)
ctx = ssl.create_default_context()
if sni == "-":
    ctx.check_hostname = False
try:
    s = ctx.wrap_socket(c.sock, server_hostname=None if sni == "-" else sni)
except (ssl.SSLError, OSError) as e:
    emit({"handshake": str(e)}); sys.exit(0)
cert = s.getpeercert()
out = {"issuer": dict(x[0] for x in cert["issuer"]), "san": cert.get("subjectAltName"),
       "alpn": s.selected_alpn_protocol(), "version": s.version()}
c.sock = s
out["resp"] = exchange(c, "GET %s HTTP/1.1\r\nHost: %s\r\n\r\n" % (path, hosthdr))
emit(out)
'''


def peek(net, pki, port, settings, sni="good.test", path="/hello", host=None, **kw):
    hosthdr = host or "good.test:%d" % port
    return net.py_json(PEEK, "good.test", port, sni, path, hosthdr, settings=settings,
                       env={"SSL_CERT_FILE": pki.cert_path}, **kw)


def test_the_client_sees_a_leaf_of_srts_ca(net, pki):
    o = origin(net, pki)
    res, r = peek(net, pki, o.port, tls_settings(o.port))
    assert res["issuer"]["commonName"].startswith("srt ephemeral CA"), res
    assert res["issuer"]["organizationName"] == "sandbox-runtime", res
    assert res["san"] == [["DNS", "good.test"]], res
    assert res["resp"]["status"] == 200 and res["resp"]["body"] == "hello from tls origin\n", res
    assert res["version"] in ("TLSv1.2", "TLSv1.3"), res


def test_bundle_and_variables_inside(net, pki):
    o = origin(net, pki)
    script = ("import os\n"
              "out = {v: os.environ.get(v) for v in %r}\n"
              "data = open(%r).read()\n"
              "out['certs'] = data.count('BEGIN CERTIFICATE')\n"
              "out['private'] = 'PRIVATE KEY' in data\n"
              "out['first_is_srt'] = data.index('BEGIN CERTIFICATE') == data.index('-----BEGIN')\n"
              "try:\n"
              "    open(%r, 'a').write('x')\n"
              "    out['writable'] = True\n"
              "except OSError as e:\n"
              "    out['writable'] = e.strerror\n"
              "emit(out)\n") % (BUNDLE_VARS, BUNDLE, BUNDLE)
    res, r = net.py_json(script, settings=tls_settings(o.port), env={"SSL_CERT_FILE": pki.cert_path})
    for v in BUNDLE_VARS:
        assert res[v] == BUNDLE, (v, res)
    # srt's CA first, then the host's roots (here srt's SSL_CERT_FILE: the test root).
    assert res["certs"] == 2, res
    assert res["private"] is False
    assert res["writable"] is not True, res


def test_without_tls_terminate_no_bundle(net, pki):
    o = origin(net, pki)
    r = net.sh("echo ${SSL_CERT_FILE:-unset}; test -e %s && echo there || echo absent" % BUNDLE,
               settings={"network": {"allowedDomains": ["good.test"]}})
    assert r.out.split() == ["unset", "absent"], r


def test_python_requests_and_urllib(net, pki):
    o = origin(net, pki)
    code = ("import json, urllib.request, requests\n"
            "a = requests.get(sys.argv[1]).text\n"
            "b = urllib.request.urlopen(sys.argv[1]).read().decode()\n"
            "s = requests.Session()\n"
            "c = [s.get(sys.argv[1]).text for _ in range(3)]\n"
            "d = s.post(sys.argv[1].replace('/hello', '/echo'), data=b'x' * 300000).content\n"
            "emit({'a': a, 'b': b, 'c': c, 'd': len(d), 'dd': d == b'x' * 300000})\n")
    res, r = net.py_json(code, "https://good.test:%d/hello" % o.port, settings=tls_settings(o.port),
                         env={"SSL_CERT_FILE": pki.cert_path})
    hello = "hello from tls origin\n"
    assert res == {"a": hello, "b": hello, "c": [hello] * 3, "d": 300000, "dd": True}, (res, r)


def test_node_https(net, pki):
    need("node")
    o = origin(net, pki)
    # Node has no proxy support of its own: CONNECT by hand, then its TLS,
    # which trusts srt's CA through NODE_EXTRA_CA_CERTS only.
    js = r"""
const http = require('http'), tls = require('tls'), https = require('https');
const port = Number(process.argv[1]);
const req = http.request({host: '127.0.0.1', port: 3128, method: 'CONNECT', path: 'good.test:' + port});
req.on('connect', (res, socket) => {
  const r = https.get({host: 'good.test', port, path: '/hello', socket, agent: false,
                       createConnection: () => tls.connect({socket, servername: 'good.test'})}, (resp) => {
    let body = '';
    resp.on('data', (d) => body += d);
    resp.on('end', () => {
      const issuer = resp.socket.getPeerCertificate().issuer;
      console.log(JSON.stringify({status: resp.statusCode, body, issuer: issuer.O}));
      process.exit(0);
    });
  });
  r.on('error', (e) => { console.log(JSON.stringify({error: e.message})); process.exit(1); });
});
req.on('error', (e) => { console.log(JSON.stringify({error: e.message})); process.exit(1); });
req.end();
"""
    r = run(net, pki, ["node", "-e", js, str(o.port)], tls_settings(o.port))
    assert r.rc == 0, r
    res = json.loads(r.out.strip().splitlines()[-1])
    assert res == {"status": 200, "body": "hello from tls origin\n", "issuer": "sandbox-runtime"}, res


def test_curl_http2_falls_back_to_http11(net, pki):
    need("curl")
    o = origin(net, pki)
    r = run(net, pki, ["curl", "-sS", "--http2", "-o", "/dev/null", "-w", "%{http_version}",
                       "https://good.test:%d/hello" % o.port], tls_settings(o.port))
    assert r.rc == 0 and r.out == "1.1", r


def test_socks5_tunnels_are_terminated_too(net, pki):
    need("curl")
    o = origin(net, pki)
    r = run(net, pki, ["curl", "-sS", "-v", "--fail", "--socks5-hostname", "127.0.0.1:1080",
                       "https://good.test:%d/hello" % o.port], tls_settings(o.port))
    assert r.rc == 0, r
    assert r.out == "hello from tls origin\n"
    assert "srt ephemeral CA" in r.err, r.err
    assert o.snis == ["good.test"]


def test_big_download_and_upload_intact(net, pki):
    need("curl")
    docroot = net.ctx.mkdir(os.path.join(net.ctx.root, "www"))
    data = os.urandom(24 << 20)
    net.ctx.write(os.path.join(docroot, "big.bin"), data)
    import hashlib
    o = origin(net, pki, docroot=docroot)
    url = "https://good.test:%d" % o.port
    r = run(net, pki, ["sh", "-c", "curl -sS --fail %s/big.bin | sha256sum; "
                       "head -c 5000000 /dev/zero | curl -sS --fail -H 'Transfer-Encoding: chunked' "
                       "--data-binary @- %s/echo | wc -c" % (url, url)], tls_settings(o.port))
    assert r.rc == 0, r
    lines = r.out.split("\n")
    assert lines[0].split()[0] == hashlib.sha256(data).hexdigest(), r
    assert lines[1].strip() == "5000000", r


def test_git_clone_over_https(net, pki):
    need("git")
    docroot = net.ctx.mkdir(os.path.join(net.ctx.root, "www"))
    src = os.path.join(net.ctx.root, "src")
    env = dict(os.environ, GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@t", GIT_COMMITTER_NAME="t",
               GIT_COMMITTER_EMAIL="t@t", HOME=net.ctx.home)
    subprocess.run(["git", "init", "-q", src], check=True, env=env)
    with open(os.path.join(src, "README"), "w") as f:
        f.write("cloned through srt\n")
    subprocess.run(["git", "-C", src, "add", "README"], check=True, env=env)
    subprocess.run(["git", "-C", src, "commit", "-qm", "one"], check=True, env=env)
    bare = os.path.join(docroot, "repo.git")
    subprocess.run(["git", "clone", "-q", "--bare", src, bare], check=True, env=env)
    subprocess.run(["git", "-C", bare, "update-server-info"], check=True, env=env)  # dumb HTTP
    subprocess.run(["chmod", "-R", "a+rX", docroot], check=True)
    o = origin(net, pki, docroot=docroot)
    r = run(net, pki, ["sh", "-c", "git clone -q https://good.test:%d/repo.git /tmp/c && cat /tmp/c/README && "
                       "git ls-remote https://good.test:%d/repo.git | wc -l" % (o.port, o.port)],
            tls_settings(o.port))
    assert r.rc == 0, r
    assert r.out.startswith("cloned through srt\n"), r
    assert all(sni == "good.test" for sni in o.snis) and o.snis, o.snis


def _wheel(path, name="srtpkg", version="1.0"):
    import zipfile
    di = "%s-%s.dist-info" % (name, version)
    files = {"%s/__init__.py" % name: "X = 1\n",
             di + "/METADATA": "Metadata-Version: 2.1\nName: %s\nVersion: %s\n" % (name, version),
             di + "/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"}
    files[di + "/RECORD"] = "".join("%s,,\n" % f for f in files) + di + "/RECORD,,\n"
    with zipfile.ZipFile(path, "w") as z:
        for f, text in files.items():
            z.writestr(f, text)


def test_pip_download_from_an_https_index(net, pki):
    docroot = net.ctx.mkdir(os.path.join(net.ctx.root, "www"))
    net.ctx.mkdir(os.path.join(docroot, "simple", "srtpkg"))
    net.ctx.mkdir(os.path.join(docroot, "files"))
    whl = "srtpkg-1.0-py3-none-any.whl"
    _wheel(os.path.join(docroot, "files", whl))
    os.chmod(os.path.join(docroot, "files", whl), 0o644)
    net.ctx.write(os.path.join(docroot, "simple", "srtpkg", "index.html"),
                  '<html><body><a href="../../files/%s">%s</a></body></html>\n' % (whl, whl))
    o = origin(net, pki, docroot=docroot)
    r = run(net, pki, [PY_INSIDE, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check",
                       "--no-cache-dir", "-q", "-d", "/tmp/dl", "--index-url",
                       "https://good.test:%d/simple/" % o.port, "srtpkg"],
            tls_settings(o.port))
    assert r.rc == 0, r
    assert o.requests_for("/files/" + whl), o.requests


def test_host_mismatch_allowed_goes_to_that_host(net, pki):
    o = origin(net, pki, names=("good.test", "other.test"))
    code = r'''
import ssl
port = int(sys.argv[1])
c, r = connect("good.test", port)
c.sock = ssl.create_default_context().wrap_socket(c.sock, server_hostname="good.test")
a = exchange(c, "GET /hello HTTP/1.1\r\nHost: good.test:%d\r\n\r\n" % port)["status"]
b = exchange(c, "GET /hello HTTP/1.1\r\nHost: other.test:%d\r\n\r\n" % port)["status"]
d = exchange(c, "GET /hello HTTP/1.1\r\nHost: evil.test:%d\r\n\r\n" % port)["status"]
emit([a, b, d])
'''
    s = tls_settings(o.port, None, "other.test", requireHostMatch=False)
    res, r = net.py_json(code, o.port, settings=s, env={"SSL_CERT_FILE": pki.cert_path})
    # other.test is allowed: its own verified connection; evil.test is not.
    assert res == [200, 200, 403], res
    assert o.snis == ["good.test", "other.test"], o.snis


# --- what is refused ------------------------------------------------------------------

def test_expired_upstream_certificate_gives_502(net, pki):
    o = origin(net, pki, days=(-10, -1))
    r, evs = events_of(net, pki, ["curl", "-sS", "-i", "https://good.test:%d/hello" % o.port],
                       tls_settings(o.port))
    assert "HTTP/1.1 502" in r.out, r
    assert "certificate has expired" in r.out, r
    assert not o.requests
    v = [e for e in evs if e["event"] == "violation" and e.get("kind") == "network"]
    assert any("certificate has expired" in json.dumps(e) for e in v), evs


def test_wrong_name_upstream_certificate_gives_502(net, pki):
    o = origin(net, pki, names=("other.test",))
    r = run(net, pki, ["curl", "-sS", "-i", "https://good.test:%d/hello" % o.port], tls_settings(o.port))
    assert "HTTP/1.1 502" in r.out, r
    assert "mismatch" in r.out.lower(), r
    assert not o.requests


def test_name_only_in_the_subject_common_name_is_not_enough(net, pki):
    # No DNS name among the certificate's names: its subject's CN (which
    # names the host) is never looked at.
    o = origin(net, pki, names=(), ips=("127.0.0.2",), cn="good.test")
    r = run(net, pki, ["curl", "-sS", "-i", "https://good.test:%d/hello" % o.port], tls_settings(o.port))
    assert "HTTP/1.1 502" in r.out, r
    assert "mismatch" in r.out.lower(), r
    assert not o.requests


def test_untrusted_upstream_gives_502(net, pki):
    # srt's trust store (SSL_CERT_FILE) does not hold the origin's root.
    o = origin(net, pki)
    other = PKI(net.ctx, os.path.join(net.ctx.root, "pki2"), cn="someone else")
    r = net.run(["curl", "-sS", "-i", "https://good.test:%d/hello" % o.port], settings=tls_settings(o.port),
                env={"SSL_CERT_FILE": other.cert_path})
    assert "HTTP/1.1 502" in r.out, r
    assert "unable to get local issuer certificate" in r.out, r
    assert not o.requests


def test_client_hello_without_sni_gets_the_connect_host(net, pki):
    o = origin(net, pki)
    res, r = peek(net, pki, o.port, tls_settings(o.port), sni="-")
    assert res["san"] == [["DNS", "good.test"]], res
    assert res["resp"]["status"] == 200, res
    assert o.snis == ["good.test"]


def test_sni_naming_another_host_is_refused(net, pki):
    o = origin(net, pki)
    res, r = peek(net, pki, o.port, tls_settings(o.port, None, "other.test"), sni="other.test")
    assert "handshake" in res, res
    assert not o.requests and o.connections <= 1


def test_refusal_reaches_a_client_still_sending_its_body(net, pki):
    # The 421 goes out as soon as srt has the head, while the client still
    # sends 4 MiB: srt reads and drops the rest (a lingering close), so the
    # client's send does not fail on a reset before it reads the answer.
    o = origin(net, pki)
    code = r'''
import ssl
port = int(sys.argv[1])
c, r = connect("good.test", port)
ctx = ssl.create_default_context()
s = ctx.wrap_socket(c.sock, server_hostname="good.test")
s.settimeout(20)
n = 4 << 20
err = None
try:
    s.sendall(b"POST /upload HTTP/1.1\r\nHost: other.test:%d\r\nContent-Length: %d\r\n\r\n" % (port, n))
    s.sendall(b"x" * n)
except OSError as e:
    err = str(e)
got = b""
try:
    while b"\r\n\r\n" not in got:
        b = s.recv(65536)
        if not b:
            break
        got += b
except OSError as e:
    got += ("<%s>" % e).encode()
emit({"head": got.split(b"\r\n")[0].decode("latin-1"), "send_error": err})
'''
    r = run(net, pki, [PY_INSIDE, "-c", "import sys\nsys.path.insert(0, %r)\nfrom srtnet import *\n"
                       % net.libdir + code, str(o.port)], tls_settings(o.port, None, "other.test"))
    res = json.loads(r.out.strip().splitlines()[-1][len("SRTNET-JSON "):])
    assert res["head"].startswith("HTTP/1.1 421"), res
    # What clients do (http.client, requests, curl): a failed send of the
    # body is an error of the request, the answer never read.
    assert res["send_error"] is None, res
    assert not o.requests


def test_host_must_match_the_tunnel(net, pki):
    o = origin(net, pki)
    code = r'''
import ssl
port = int(sys.argv[1])
c, r = connect("good.test", port)
ctx = ssl.create_default_context()
c.sock = ctx.wrap_socket(c.sock, server_hostname="good.test")
a = exchange(c, "GET /hello HTTP/1.1\r\nHost: good.test:%d\r\n\r\n" % port)
b = exchange(c, "GET /hello HTTP/1.1\r\nHost: other.test:%d\r\n\r\n" % port)
closed = c.wait_closed()
emit({"a": a, "b": b, "closed": closed})
'''
    r, evs = events_of(net, pki, [PY_INSIDE, "-c", "import sys\nsys.path.insert(0, %r)\nfrom srtnet import *\n"
                                  % net.libdir + code, str(o.port)],
                       tls_settings(o.port, None, "other.test"))
    res = json.loads(r.out.strip().splitlines()[-1][len("SRTNET-JSON "):])
    assert res["a"]["status"] == 200, res
    assert res["b"]["status"] == 421, res
    assert res["closed"], res
    assert [q["headers"] for q in o.requests if any(h[1].startswith("other.test") for h in q["headers"])] == []
    assert len(o.requests) == 1
    v = [e for e in evs if e["event"] == "violation"]
    assert any("Host mismatch" in json.dumps(e) for e in v), evs


def test_keep_alive_and_origin_form(net, pki):
    o = origin(net, pki)
    code = r'''
import ssl
port = int(sys.argv[1])
c, r = connect("good.test", port)
ctx = ssl.create_default_context()
c.sock = ctx.wrap_socket(c.sock, server_hostname="good.test")
out = []
for i in range(3):
    out.append(exchange(c, "GET /hello HTTP/1.1\r\nHost: good.test:%d\r\n\r\n" % port)["status"])
# absolute-form inside the tunnel is not what a client sends there: refused
out.append(exchange(c, "GET http://good.test:%d/hello HTTP/1.1\r\nHost: good.test:%d\r\n\r\n" % (port, port))["status"])
emit(out)
'''
    res, r = net.py_json(code, o.port, settings=tls_settings(o.port), env={"SSL_CERT_FILE": pki.cert_path})
    assert res == [200, 200, 200, 400], res
    # one connection upstream carried the three requests
    assert {q["conn"] for q in o.requests} == {0} and len(o.requests) == 3


def test_exclude_domains_stay_opaque(net, pki):
    o = origin(net, pki)
    res, r = peek(net, pki, o.port, tls_settings(o.port, {"excludeDomains": ["good.test"]}))
    # the origin's own certificate, from the test root
    assert res["issuer"]["commonName"] == "srt test root", res
    assert res["resp"]["status"] == 200


def test_refuse_opaque_tunnels(net, pki):
    e = net.echo()
    code = ("c, r = connect('good.test', int(sys.argv[1]))\n"
            "emit({'connect': r.get('status'), 'echo': echo_ok(c)})\n")
    res, r = net.py_json(code, e.port, settings=tls_settings(e.port), env={"SSL_CERT_FILE": pki.cert_path})
    assert res == {"connect": 200, "echo": True}, res
    e2 = net.echo()
    res, r = net.py_json(code, e2.port, settings=tls_settings(e2.port, None, refuseOpaqueTunnels=True),
                         env={"SSL_CERT_FILE": pki.cert_path})
    assert res == {"connect": 200, "echo": False}, res
    assert e2.all_received() == b""


def test_ca_key_is_not_readable_inside(net, pki):
    o = origin(net, pki)
    mine = PKI(net.ctx, os.path.join(net.ctx.root, "mine"), cn="my own CA")
    s = tls_settings(o.port, {"caCertPath": mine.cert_path, "caKeyPath": mine.key_path})
    res, r = peek(net, pki, o.port, s)
    assert res["issuer"]["commonName"] == "my own CA", res
    r = run(net, pki, ["sh", "-c", "cat %s; echo rc=$?; grep -rl 'PRIVATE KEY' /dev /tmp /etc/ssl 2>/dev/null; "
                       "cat /proc/*/environ 2>/dev/null | tr '\\0' '\\n' | grep -c PRIVATE" % mine.key_path], s)
    assert "BEGIN PRIVATE KEY" not in r.out, r
    assert "rc=1" in r.out, r


def test_ephemeral_ca_key_is_nowhere_inside(net, pki):
    o = origin(net, pki)
    # Whatever key files the sandbox sees anyway (the host's, as its user
    # may read them), terminating adds none.
    find = ["sh", "-c", "grep -rls 'PRIVATE KEY' /dev /tmp /run /etc /proc/self/environ 2>/dev/null; echo done"]
    with_tls = run(net, pki, find, tls_settings(o.port))
    without = run(net, pki, find, {"network": {"allowedDomains": ["good.test"]}})
    assert with_tls.out == without.out and with_tls.out.endswith("done\n"), (with_tls, without)


def test_handshake_timeout(net, pki):
    o = origin(net, pki)
    code = ("import time\n"
            "c, r = connect('good.test', int(sys.argv[1]))\n"
            "c.send(client_hello('good.test'))\n"
            "t = time.monotonic()\n"
            "closed = c.wait_closed()\n"
            "emit({'closed': closed, 'after': time.monotonic() - t})\n")
    res, r = net.py_json(code, o.port, settings=tls_settings(o.port, {"handshakeTimeoutMs": 300}),
                         env={"SSL_CERT_FILE": pki.cert_path})
    assert res["closed"] and res["after"] < 5, res


def test_max_tunnels(net, pki):
    o = origin(net, pki)
    code = r'''
import ssl
port = int(sys.argv[1])
ctx = ssl.create_default_context()
c1, r = connect("good.test", port)
c1.sock = ctx.wrap_socket(c1.sock, server_hostname="good.test")
c2, r = connect("good.test", port)
try:
    c2.sock = ctx.wrap_socket(c2.sock, server_hostname="good.test")
    second = "handshake done"
except (ssl.SSLError, OSError) as e:
    second = "refused"
first = exchange(c1, "GET /hello HTTP/1.1\r\nHost: good.test:%d\r\n\r\n" % port)["status"]
emit({"first": first, "second": second})
'''
    res, r = net.py_json(code, o.port, settings=tls_settings(o.port, {"maxTunnels": 1}),
                         env={"SSL_CERT_FILE": pki.cert_path})
    assert res == {"first": 200, "second": "refused"}, res


# --- settings -----------------------------------------------------------------------

@pytest.mark.parametrize("tls, expect", [
    ({"caCertPath": "/nonexistent/ca.pem"}, "caCertPath and caKeyPath go together: caKeyPath is missing"),
    ({"caKeyPath": "/nonexistent/ca.key"}, "caCertPath and caKeyPath go together: caCertPath is missing"),
    ({"caCertPath": "/nonexistent/ca.pem", "caKeyPath": "/nonexistent/ca.key"},
     "network.tlsTerminate.caCertPath: cannot read /nonexistent/ca.pem"),
    ({"caCertPath": "relative.pem", "caKeyPath": "/x"}, "expected an absolute path"),
    ({"excludeDomains": ["https://x.test/"]}, "network.tlsTerminate.excludeDomains[0]: invalid domain"),
    ({"maxTunnels": 0}, "network.tlsTerminate.maxTunnels: expected an integer from 1"),
    ({"handshakeTimeoutMs": "5"}, "network.tlsTerminate.handshakeTimeoutMs: expected an integer"),
    ({"bogus": 1}, "unknown key 'network.tlsTerminate.bogus'"),
])
def test_bad_settings_are_refused(net, pki, tls, expect):
    r = run(net, pki, ["true"], tls_settings(1, tls))
    assert r.rc == 125, r
    assert expect in r.err, r
    assert "settings-" in r.err and ":" in r.err  # names the file and line


def test_invalid_ca_files_are_refused(net, pki):
    bad = net.ctx.write(os.path.join(net.ctx.root, "bad.pem"), "not a certificate\n")
    leaf_cert, leaf_key = pki.leaf()
    for tls, expect in [({"caCertPath": bad, "caKeyPath": pki.key_path}, "holds no PEM certificate"),
                        ({"caCertPath": pki.cert_path, "caKeyPath": leaf_key}, "does not belong to the certificate"),
                        ({"caCertPath": leaf_cert, "caKeyPath": leaf_key}, "is not a CA certificate")]:
        r = run(net, pki, ["true"], tls_settings(1, tls))
        assert r.rc == 125 and expect in r.err, (tls, r)


def test_refuse_opaque_tunnels_needs_tls_terminate(net, pki):
    r = net.run(["true"], settings={"network": {"allowedDomains": ["good.test"], "refuseOpaqueTunnels": True}})
    assert r.rc == 125 and "refuseOpaqueTunnels: needs network.tlsTerminate" in r.err, r


def test_silent_client_after_handshake_is_closed(net, pki):
    o = origin(net, pki)
    code = ("import ssl, time\n"
            "c, r = connect('good.test', int(sys.argv[1]))\n"
            "c.sock = ssl.create_default_context().wrap_socket(c.sock, server_hostname='good.test')\n"
            "t = time.monotonic()\n"
            "closed = c.wait_closed()\n"
            "emit({'closed': closed, 'after': time.monotonic() - t})\n")
    s = tls_settings(o.port)
    s["network"]["timeouts"] = {"requestHead": 0.5}
    res, r = net.py_json(code, o.port, settings=s, env={"SSL_CERT_FILE": pki.cert_path})
    assert res["closed"] and res["after"] < 5, res


def test_framing_checks_apply_inside_the_tunnel(net, pki):
    o = origin(net, pki)
    code = r'''
import ssl
port = int(sys.argv[1])
def tunnel():
    c, r = connect("good.test", port)
    c.sock = ssl.create_default_context().wrap_socket(c.sock, server_hostname="good.test")
    return c
out = {}
# Two pipelined requests in one write: both answered, in order.
c = tunnel()
h = "Host: good.test:%d\r\n" % port
c.send(("GET /hello HTTP/1.1\r\n%s\r\nPOST /echo HTTP/1.1\r\n%sContent-Length: 5\r\n\r\nabcde" % (h, h)).encode())
out["pipelined"] = [read_response(c)["body"], read_response(c)["body"]]
# The request-smuggling shape: refused with 400, nothing forwarded.
c = tunnel()
out["cl_te"] = exchange(c, "POST /echo HTTP/1.1\r\n%sContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" % h)["status"]
c = tunnel()
out["no_host"] = exchange(c, "GET /hello HTTP/1.1\r\n\r\n")["status"]
c = tunnel()
out["two_hosts"] = exchange(c, "GET /hello HTTP/1.1\r\n%s%s\r\n" % (h, h))["status"]
c = tunnel()
out["connect"] = exchange(c, "CONNECT evil.test:443 HTTP/1.1\r\n%s\r\n" % h)["status"]
emit(out)
'''
    res, r = net.py_json(code, o.port, settings=tls_settings(o.port), env={"SSL_CERT_FILE": pki.cert_path})
    assert res == {"pipelined": ["hello from tls origin\n", "abcde"], "cl_te": 400, "no_host": 400,
                   "two_hosts": 400, "connect": 400}, res
    assert [q["path"] for q in o.requests] == ["/hello", "/echo"], o.requests


# --- the transparent mode ----------------------------------------------------------------

ALT = "127.0.0.2"  # where the test names lead in the transparent mode's tests


def test_transparent_mode_direct_connections_are_terminated(net, pki):
    need("curl")
    o = origin(net, pki, host=ALT)
    s = {"network": {"allowedDomains": ["good.test", "%s:%d" % (ALT, o.port)], "mode": "transparent",
                     "tlsTerminate": {}}}
    hosts = {n: ALT for n in netutil.TEST_NAMES}
    # curl without the proxy: its connect() goes to srt's placeholder address.
    r, evs = events_of(net, pki, ["curl", "-sS", "-v", "--fail", "--noproxy", "*",
                                  "https://good.test:%d/hello" % o.port], s, hosts=hosts)
    assert r.rc == 0, r
    assert r.out == "hello from tls origin\n", r
    assert "srt ephemeral CA" in r.err, r.err
    assert o.snis == ["good.test"], o.snis
    conns = [e for e in evs if e["event"] == "connection"]
    assert [e["via"] for e in conns] == ["transparent", "tls"], conns
    # A host in excludeDomains is handed over as before: the origin's own certificate.
    s["network"]["tlsTerminate"] = {"excludeDomains": ["good.test"]}
    r = run(net, pki, ["curl", "-sS", "-v", "--fail", "--noproxy", "*", "https://good.test:%d/hello" % o.port], s,
            hosts=hosts)
    assert r.rc == 0, r
    assert "srt test root" in r.err and "srt ephemeral CA" not in r.err, r.err


def test_transparent_mode_node_fetch(net, pki):
    # Node's fetch ignores the proxy variables and connects without
    # blocking; it trusts srt's CA through NODE_EXTRA_CA_CERTS.
    need("node")
    o = origin(net, pki, host=ALT)
    s = {"network": {"allowedDomains": ["good.test", "%s:%d" % (ALT, o.port)], "mode": "transparent",
                     "tlsTerminate": {}}}
    js = ("fetch('https://good.test:' + process.argv[1] + '/hello').then(r => r.text())"
          ".then(t => { process.stdout.write(t); }, e => { console.log('error', e.cause || e); process.exit(1); })")
    r = run(net, pki, ["node", "-e", js, str(o.port)], s, hosts={n: ALT for n in netutil.TEST_NAMES})
    assert r.rc == 0 and r.out == "hello from tls origin\n", r
    assert o.snis == ["good.test"], o.snis


def test_transparent_mode_refuse_opaque(net, pki):
    e = net.echo(host=ALT)
    s = {"network": {"allowedDomains": ["good.test", "%s:%d" % (ALT, e.port)], "mode": "transparent",
                     "tlsTerminate": {}, "refuseOpaqueTunnels": True}}
    code = ("s = socket.create_connection(('good.test', int(sys.argv[1])), timeout=5)\n"
            "s.sendall(b'not tls\\n')\n"
            "try:\n"
            "    back = s.recv(100)\n"
            "except OSError as e:\n"
            "    back = b''\n"
            "emit({'back': back.decode()})\n")
    res, r = net.py_json(code, e.port, settings=s, hosts={n: ALT for n in netutil.TEST_NAMES},
                         env={"SSL_CERT_FILE": pki.cert_path})
    assert res == {"back": ""}, res
    assert e.all_received() == b""


def test_ip_literal_hosts_get_an_ip_leaf(net, pki):
    need("curl")
    o = origin(net, pki, names=(), ips=("127.0.0.1",))
    s = {"network": {"allowedDomains": ["127.0.0.1:%d" % o.port], "tlsTerminate": {}}}
    # Through the proxy (NO_PROXY would send a loopback entry's port direct).
    r = run(net, pki, ["env", "-u", "NO_PROXY", "-u", "no_proxy", "curl", "-sS", "-v", "--fail",
                       "https://127.0.0.1:%d/hello" % o.port], s)
    assert r.rc == 0 and r.out == "hello from tls origin\n", r
    assert "srt ephemeral CA" in r.err and "IP address" in r.err, r.err
    assert o.snis == [None], o.snis  # no SNI for an address


# --- hostile origins ----------------------------------------------------------------

class ScriptedTLSOrigin(netutil.Server):
    """A TLS origin whose every connection runs script(tls_socket) after the
    handshake and after reading one request head."""

    def __init__(self, cert, key, script):
        self.tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.tls.load_cert_chain(cert, key)
        self.script = script
        super().__init__()

    def handle(self, conn, index):
        conn.settimeout(30)
        t = self.tls.wrap_socket(conn, server_side=True)
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = t.recv(65536)
            if not chunk:
                return
            head += chunk
        self.script(t)


# Read a response to the end of the TLS stream; "ragged" when the stream
# ended without close_notify (the client can tell the body was cut).
READ_TO_END = r'''
import ssl
port = int(sys.argv[1])
c, r = connect("good.test", port)
ctx = ssl.create_default_context()
ctx.options &= ~ssl.OP_IGNORE_UNEXPECTED_EOF  # Python sets it by default
s = ctx.wrap_socket(c.sock, server_hostname="good.test", suppress_ragged_eofs=False)
s.sendall(b"GET /cut HTTP/1.1\r\nHost: good.test:%d\r\n\r\n" % port)
data, end = b"", None
while end is None:
    try:
        chunk = s.recv(65536)
    except ssl.SSLEOFError:
        end = "ragged"
        break
    except (ssl.SSLError, OSError) as e:
        end = "error: %s" % e
        break
    if not chunk:
        end = "close_notify"
    data += chunk
emit({"end": end, "data": data.decode("latin-1")})
'''


def test_a_cut_close_delimited_body_is_not_passed_as_whole(net, pki):
    # The origin's body ends with the connection, and the connection ends
    # without close_notify: a truncation (a reset or a FIN injected on the
    # way). The client must not be told the stream ended cleanly, or it
    # takes the part for the whole.
    def cut(t):
        t.sendall(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\npart of the body")
        socket.socket.shutdown(t, socket.SHUT_RDWR)  # the TCP stream ends, no close_notify

    cert, key = pki.leaf()
    o = ScriptedTLSOrigin(cert, key, cut)
    net.servers.append(o)
    res, r = net.py_json(READ_TO_END, o.port, settings=tls_settings(o.port), env={"SSL_CERT_FILE": pki.cert_path})
    assert "part of the body" in res["data"], res
    assert res["end"] != "close_notify", res


def test_a_whole_close_delimited_body_ends_with_close_notify(net, pki):
    def whole(t):
        t.sendall(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nthe whole body")
        t.unwrap()

    cert, key = pki.leaf()
    o = ScriptedTLSOrigin(cert, key, whole)
    net.servers.append(o)
    res, r = net.py_json(READ_TO_END, o.port, settings=tls_settings(o.port), env={"SSL_CERT_FILE": pki.cert_path})
    assert res["end"] == "close_notify" and res["data"].endswith("the whole body"), res


# --- what srt keeps of an injected credential ----------------------------------------

SECRET = "ghp_realSECRETvalue0123456789abcdefghijkl"

# One request carrying the stand-in in a header, through a terminated
# tunnel; then the command stays, so that srt's memory can be read.
SEND_AND_STAY = r'''
import os, ssl, time
port = int(sys.argv[1])
c, r = connect("good.test", port)
c.sock = ssl.create_default_context().wrap_socket(c.sock, server_hostname="good.test")
pad = "p" * int(sys.argv[2])
resp = exchange(c, "GET /hello HTTP/1.1\r\nHost: good.test:%d\r\nX-Pad: %s\r\nX-Probe: %s\r\n\r\n" % (port, pad, os.environ["GITHUB_TOKEN"]))
print("sent", resp["status"], flush=True)
time.sleep(30)
'''


def _srt_below(pid):
    """The srt process among pid and its descendants."""
    srt = os.path.realpath(os.environ["SRT_BIN"])
    parent = {}
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                with open("/proc/%s/stat" % p) as f:
                    parent[int(p)] = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                pass
    for p in parent:
        q = p
        while q > 1 and q != pid:
            q = parent.get(q, 1)
        if q == pid:
            try:
                if os.path.realpath("/proc/%d/exe" % p) == srt:
                    return p
            except OSError:
                pass
    return None


def _memory_holds(pid, needle):
    found = False
    with open("/proc/%d/maps" % pid) as maps, open("/proc/%d/mem" % pid, "rb", 0) as mem:
        for line in maps:
            f = line.split()
            if not f[1].startswith("rw"):
                continue
            lo, hi = (int(x, 16) for x in f[0].split("-"))
            if hi - lo > (1 << 30):
                continue  # a sanitizer's shadow, not a heap
            step = 1 << 22
            for at in range(lo, hi, step):
                try:
                    mem.seek(at)
                    chunk = mem.read(min(step + len(needle), hi - at))
                except (OSError, OverflowError, ValueError):
                    continue
                if needle in chunk:
                    found = True
    return found


@pytest.mark.parametrize("pad", [0, 6000, 12000])
def test_injected_request_head_is_wiped_after_encryption(net, pki, pad):
    # The request head with the real value swapped in is a buffer srt wipes
    # once it is sent; through terminated TLS it is encrypted into another
    # buffer first: the plaintext must be wiped before it is freed, and the
    # wipe must not run over the (smaller) buffer of records instead, which
    # corrupted srt's heap for any head of a few kB (pad).
    o = origin(net, pki)
    s = tls_settings(o.port)
    s["credentials"] = {"envVars": [{"name": "GITHUB_TOKEN", "mode": "mask", "injectHosts": ["good.test"]}]}
    prelude = "import sys\nsys.path.insert(0, %r)\nfrom srtnet import *\n" % net.libdir
    p = net.start([netutil.PY, "-c", prelude + SEND_AND_STAY, str(o.port), str(pad)], settings=s,
                  env={"GITHUB_TOKEN": SECRET, "SSL_CERT_FILE": pki.cert_path})
    out = net.ctx.wait_output(p, "sent").decode()
    if "sent 200" not in out:
        p.kill()
        pytest.fail("no answer: %r; srt said: %r" % (out, p.stderr.read().decode()[-2000:]))
    assert ["X-Probe", SECRET] in o.requests[0]["headers"], o.requests
    pid = _srt_below(p.pid)
    assert pid, "no srt process below %d" % p.pid
    assert _memory_holds(pid, SECRET.encode()), "srt's memory cannot be read"  # the value it injects
    assert not _memory_holds(pid, ("X-Probe: " + SECRET).encode()), "srt's memory still holds the injected head"
    p.kill()


POST_BODY = r'''
import os, ssl
port, pad = int(sys.argv[1]), int(sys.argv[2])
c, r = connect("good.test", port)
c.sock = ssl.create_default_context().wrap_socket(c.sock, server_hostname="good.test")
body = "x" * pad + os.environ["GITHUB_TOKEN"] + "y" * pad
resp = exchange(c, "POST /echo HTTP/1.1\r\nHost: good.test:%d\r\nContent-Length: %d\r\n\r\n%s" % (port, len(body), body))
emit({"status": resp["status"]})
'''


@pytest.mark.parametrize("pad", [10, 30000])
def test_injected_request_body_through_terminated_tls(net, pki, pad):
    # The body's scanner hands its output over in owned buffers wiped by
    # their size: the same hazard as the head's once they are encrypted.
    o = origin(net, pki)
    s = tls_settings(o.port)
    s["credentials"] = {"envVars": [{"name": "GITHUB_TOKEN", "mode": "mask", "injectHosts": ["good.test"]}]}
    res, r = net.py_json(POST_BODY, o.port, pad, settings=s, env={"GITHUB_TOKEN": SECRET, "SSL_CERT_FILE": pki.cert_path})
    assert res["status"] == 200, (res, r.err[-2000:])
    assert o.requests[0]["body"] == ("x" * pad + SECRET + "y" * pad).encode()
