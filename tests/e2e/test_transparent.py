# Transparent network mode (--network transparent, network.mode): programs that ignore the proxy variables connect by name (Python sockets and asyncio, Node's fetch and node:net, git://, ssh); placeholder addresses from srt's DNS; denials by name (resolve) and by port (ECONNREFUSED); a placeholder reused on another port; a connect() whose address another thread keeps changing; proxy mode unchanged.
#
# srt runs in netutil's private mount namespace, where every test name
# resolves to 127.0.0.2 for srt on the host. The origins listen on
# 127.0.0.2, and an allowedDomains entry 127.0.0.2:PORT lets srt through
# the resolved-address guard to that port (test_network.py does the same).
# A program that went around srt would not find them: the sandbox's own
# 127.0.0.1:PORT is where srt-init forwards to the host's 127.0.0.1:PORT,
# and nothing of the host listens on 127.0.0.2 inside the sandbox. Every
# address used is a loopback one, besides the placeholders srt hands out
# inside the sandbox.
import errno
import ipaddress
import json
import os
import shutil
import signal
import socket
import subprocess
import threading
import time

import pytest

import netutil
from conftest import DROP, PY, wait_until
from netutil import need

ALT = "127.0.0.2"
HOSTS = {n: ALT for n in netutil.TEST_NAMES}
TRANSPARENT = ["--network", "transparent"]
NOPYC = {"PYTHONDONTWRITEBYTECODE": "1"}
PLACEHOLDERS = [ipaddress.ip_network("198.18.0.0/15"), ipaddress.ip_network("fd53:7274:7300::/96")]
GIT_DAEMON = "/usr/lib/git-core/git-daemon"
SSHD = os.environ.get("SRT_E2E_SSHD", "/usr/sbin/sshd")


@pytest.fixture
def net(ctx):
    n = netutil.Net(ctx)
    yield n
    n.close()


def settings(*allowed, denied=(), mode=None):
    net = {"allowedDomains": list(allowed)}
    if denied:
        net["deniedDomains"] = list(denied)
    if mode is not None:
        net["mode"] = mode
    return {"network": net}


def lift(port, addr=ALT):
    """The entry that lets srt dial a loopback origin (address guard)."""
    return "%s:%d" % (addr, port)


def placeholder(text):
    a = ipaddress.ip_address(text)
    return any(a in n for n in PLACEHOLDERS)


def free_port(host=ALT):
    s = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    s.bind((host, 0))
    port = s.getsockname()[1]
    s.close()
    return port


def events_of(path):
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [json.loads(line) for line in f.read().splitlines() if line]


def violations(evs):
    return [e for e in evs if e.get("event") == "violation"]


def run_t(net, code, *args, opts=TRANSPARENT, hosts=None, **kw):
    """Python code inside the sandbox (srtnet imported), in transparent mode
    unless opts say otherwise, with --events. Returns (what the code
    emitted, result, events)."""
    path = os.path.join(net.ctx.root, "events-%s.jsonl" % net.ctx.token())
    kw.setdefault("env", NOPYC)
    r = net.py(code, *args, opts=list(opts) + ["--events", path], hosts=HOSTS if hosts is None else hosts, **kw)
    evs = events_of(path)
    for line in reversed(r.out.splitlines()):
        if line.startswith(netutil.JSON_MARK):
            return json.loads(line[len(netutil.JSON_MARK):]), r, evs
    pytest.fail("the script inside the sandbox printed no result:%r" % (r,))


def run_cmd(net, args, opts=TRANSPARENT, **kw):
    """A command inside the sandbox, transparent mode, with --events.
    Returns (result, events)."""
    path = os.path.join(net.ctx.root, "events-%s.jsonl" % net.ctx.token())
    kw.setdefault("hosts", HOSTS)
    r = net.run(args, opts=list(opts) + ["--events", path], **kw)
    return r, events_of(path)


# Connect by name, send a line, read the echo.
BY_NAME = r'''
P = int(sys.argv[1])
s = socket.create_connection(("good.test", P), timeout=10)
peer = s.getpeername()
s.sendall(b"ping by name\n")
back = b""
while not back.endswith(b"\n"):
    d = s.recv(100)
    if not d:
        break
    back += d
s.close()
emit({"peer": [peer[0], peer[1]], "back": back.decode()})
'''


# --- 1. create_connection by name ------------------------------------------------

@pytest.mark.parametrize("how", ["cli", "settings"])
def test_create_connection_by_name(net, how):
    e = net.echo(host=ALT)
    p = e.port
    if how == "cli":
        res, r, evs = run_t(net, BY_NAME, p, settings=settings("good.test", lift(p)))
    else:
        res, r, evs = run_t(net, BY_NAME, p, settings=settings("good.test", lift(p), mode="transparent"), opts=())
    assert r.rc == 0, r
    assert res["back"] == "ping by name\n", r
    assert e.wait_idle(), "the connection is still open after srt ended"
    assert e.all_received() == b"ping by name\n"
    assert e.connections == 1
    assert violations(evs) == [], evs
    # --events reports it as a connection srt's connect broker made.
    conns = [c for c in evs if c.get("event") == "connection"]
    assert [(c["decision"], c["host"], c["port"], c["via"]) for c in conns] == \
        [("allowed", "good.test", p, "transparent")], evs


# --- 2. a loopback literal stays the sandbox's own --------------------------------

LOOPBACK_INSIDE = r'''
P = int(sys.argv[1])
out = {}
try:
    socket.create_connection(("127.0.0.1", P), timeout=5).close()
    out["before"] = "connected"
except OSError as e:
    out["before"] = e.errno
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", P))
srv.listen(4)
for name in ("127.0.0.1", "localhost"):
    c = socket.create_connection((name, P), timeout=5)
    a, _ = srv.accept()
    a.sendall(b"the server inside\n")
    out[name] = c.recv(100).decode()
    a.close()
    c.close()
emit(out)
'''


def test_loopback_literal_stays_inside(net):
    """127.0.0.1:PORT is the sandbox's own loopback, even with 127.0.0.1
    (any port) in allowedDomains: a server started inside answers, the
    host's server on that port never sees a connection."""
    host_srv = net.echo(host="127.0.0.1")
    p = host_srv.port
    res, r, evs = run_t(net, LOOPBACK_INSIDE, p, settings=settings("good.test", "127.0.0.1"))
    assert r.rc == 0, r
    assert res["before"] == errno.ECONNREFUSED, r
    assert res["127.0.0.1"] == "the server inside\n", r
    assert res["localhost"] == "the server inside\n", r
    assert host_srv.connections == 0


# --- 3. getaddrinfo, then connect to what it returned -------------------------------

GAI_CONNECT = r'''
P = int(sys.argv[1])
infos = socket.getaddrinfo("good.test", P, type=socket.SOCK_STREAM)
out = {"addrs": [], "echo": []}
for fam, typ, proto, _, sa in infos:
    out["addrs"].append(sa[0])
    s = socket.socket(fam, typ, proto)
    s.settimeout(10)
    s.connect(sa)
    s.sendall(b"go-style %s\n" % sa[0].encode())
    out["echo"].append(s.recv(100).decode())
    s.close()
emit(out)
'''


def test_getaddrinfo_then_connect(net):
    e = net.echo(host=ALT)
    p = e.port
    res, r, evs = run_t(net, GAI_CONNECT, p, settings=settings("good.test", lift(p)))
    assert r.rc == 0, r
    assert res["addrs"], r
    for a in res["addrs"]:
        assert placeholder(a), (a, r)
    assert res["echo"] == ["go-style %s\n" % a for a in res["addrs"]], r
    assert e.connections == len(res["addrs"])


def test_ipv6_placeholder(net):
    """A name whose host address is IPv6 only gets an fd53:7274:7300::/96
    address, and a connect to it reaches the host's [::1] origin."""
    if not netutil.have_ipv6_loopback():
        pytest.skip("no IPv6 loopback on the host")
    e = net.echo(host="::1")
    p = e.port
    res, r, evs = run_t(net, GAI_CONNECT, p, settings=settings("good.test", "[::1]:%d" % p),
                        hosts={"good.test": "::1"})
    assert r.rc == 0, r
    assert res["addrs"], r
    for a in res["addrs"]:
        assert ":" in a and placeholder(a), (a, r)
    assert res["echo"] == ["go-style %s\n" % a for a in res["addrs"]], r
    assert e.connections == len(res["addrs"])


# --- 4. Node ------------------------------------------------------------------------

NODE_FETCH = r'''
const p = process.env.PORT;
fetch(`http://good.test:${p}/hello`).then(r => r.text()).then(
  t => { process.stdout.write("BODY " + t); process.exit(0); },
  e => { console.log("ERROR " + (e.cause && e.cause.code) + " " + e); process.exit(3); });
'''

NODE_NET = r'''
const net = require("node:net");
const s = net.connect({ host: "good.test", port: Number(process.env.PORT) }, () => s.write("node ping\n"));
let got = "";
s.setTimeout(10000, () => { console.log("TIMEOUT"); process.exit(4); });
s.on("data", d => { got += d; if (got.endsWith("\n")) { console.log("ECHO " + got.trim()); s.end(); } });
s.on("error", e => { console.log("ERROR " + e.code); process.exit(3); });
s.on("close", () => process.exit(got ? 0 : 5));
'''


def test_node_fetch(net):
    need("node")
    o = net.origin("good", host=ALT)
    p = o.port
    r, evs = run_cmd(net, ["node", "-e", NODE_FETCH], settings=settings("good.test", lift(p)),
                     env={"PORT": str(p)})
    assert r.rc == 0 and r.out == "BODY hello from good\n", r
    assert len(o.requests) == 1, o.requests
    # Straight to the origin (origin form), not through srt's HTTP proxy.
    req = o.requests[0]
    assert req["target"] == "/hello", req
    assert dict((k.lower(), v) for k, v in req["headers"]).get("host") == "good.test:%d" % p, req


def test_node_net_connect_by_name(net):
    need("node")
    e = net.echo(host=ALT)
    p = e.port
    r, evs = run_cmd(net, ["node", "-e", NODE_NET], settings=settings("good.test", lift(p)), env={"PORT": str(p)})
    assert r.rc == 0 and r.out == "ECHO node ping\n", r
    assert e.all_received() == b"node ping\n"


# --- 5. non-blocking connects --------------------------------------------------------

NONBLOCKING = r'''
import asyncio
P = int(sys.argv[1])

async def main():
    rd, wr = await asyncio.wait_for(asyncio.open_connection("good.test", P), 10)
    wr.write(b"asyncio ping\n")
    await wr.drain()
    line = await asyncio.wait_for(rd.readline(), 10)
    wr.close()
    await wr.wait_closed()
    return line.decode()

out = {"asyncio": asyncio.run(main())}
fam, typ, proto, _, sa = socket.getaddrinfo("good.test", P, type=socket.SOCK_STREAM)[0]
s = socket.socket(fam, typ, proto)
s.setblocking(False)
out["connect_ex"] = s.connect_ex(sa)
_, w, _ = select.select([], [s], [], 10)
out["writable"] = bool(w)
out["so_error"] = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
s.sendall(b"raw ping\n")
r, _, _ = select.select([s], [], [], 10)
out["raw"] = s.recv(100).decode() if r else "nothing within 10 s"
out["still_nonblocking"] = s.getblocking() is False and (os.get_blocking(s.fileno()) is False)
s.close()
emit(out)
'''


def test_nonblocking_connects(net):
    e = net.echo(host=ALT)
    p = e.port
    res, r, evs = run_t(net, NONBLOCKING, p, settings=settings("good.test", lift(p)))
    assert r.rc == 0, r
    assert res["asyncio"] == "asyncio ping\n", r
    assert res["connect_ex"] in (0, errno.EINPROGRESS), r
    assert res["writable"] and res["so_error"] == 0, r
    assert res["raw"] == "raw ping\n", r
    assert res["still_nonblocking"], r
    assert e.connections == 2


# --- 6. denials ------------------------------------------------------------------------

DENIED = r'''
import errno
P1, P2 = int(sys.argv[1]), int(sys.argv[2])
out = {}
try:
    socket.create_connection(("good.test", P2), timeout=10).close()
    out["blocking"] = "connected"
except OSError as e:
    out["blocking"] = e.errno
fam, typ, proto, _, sa = socket.getaddrinfo("good.test", P2, type=socket.SOCK_STREAM)[0]
s = socket.socket(fam, typ, proto)
s.setblocking(False)
rc = s.connect_ex(sa)
if rc == errno.EINPROGRESS:
    select.select([], [s], [], 10)
    rc = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
out["nonblocking"] = rc
s.close()
c = socket.create_connection(("good.test", P1), timeout=10)
c.sendall(b"allowed port\n")
out["allowed"] = c.recv(100).decode()
c.close()
for name in ("evil.test", "other.test"):
    try:
        out[name] = ["resolved", [a[4][0] for a in socket.getaddrinfo(name, P1, type=socket.SOCK_STREAM)]]
    except socket.gaierror as e:
        out[name] = ["gaierror", e.errno]
emit(out)
'''


def test_denied_name_and_denied_port(net):
    o1 = net.echo(host=ALT)
    o2 = net.echo(host=ALT)
    s = settings("good.test:%d" % o1.port, "evil.test", lift(o1.port), lift(o2.port), denied=["evil.test"])
    res, r, evs = run_t(net, DENIED, o1.port, o2.port, settings=s)
    assert r.rc == 0, r
    # No address for a name the settings refuse (deniedDomains, or no
    # entry): srt's DNS says the name does not exist.
    assert res["evil.test"] == ["gaierror", socket.EAI_NONAME], r
    assert res["other.test"] == ["gaierror", socket.EAI_NONAME], r
    # good.test resolves (allowed on one port) but the other port is refused.
    assert res["blocking"] == errno.ECONNREFUSED, r
    assert res["nonblocking"] == errno.ECONNREFUSED, r
    assert res["allowed"] == "allowed port\n", r
    assert o2.connections == 0
    assert o1.connections == 1
    v = violations(evs)
    resolves = {e["target"] for e in v if e["operation"] == "resolve"}
    assert {"evil.test", "other.test"} <= resolves, v
    assert all(e["kind"] == "network" for e in v), v
    port_refusals = [e for e in v if e["target"] == "good.test:%d" % o2.port]
    assert port_refusals, v
    assert "good.test:%d" % o1.port not in {e["target"] for e in v}, v
    assert "good.test:%d" % o2.port in r.err, r  # the summary names it (the first refusal)


# --- 7. one placeholder, another port ------------------------------------------------------

SAME_ADDRESS = r'''
ports = [int(a) for a in sys.argv[1:]]
addr = socket.getaddrinfo("good.test", ports[0], socket.AF_INET, socket.SOCK_STREAM)[0][4][0]
out = {"addr": addr, "ports": {}}
for p in ports:
    try:
        c = socket.create_connection((addr, p), timeout=10)
        c.sendall(b"port %d\n" % p)
        out["ports"][str(p)] = c.recv(100).decode()
        c.close()
    except OSError as e:
        out["ports"][str(p)] = e.errno
emit(out)
'''


def test_placeholder_on_another_port_is_judged_by_that_port(net):
    o1, o2, o3 = net.echo(host=ALT), net.echo(host=ALT), net.echo(host=ALT)
    s = settings("good.test", lift(o1.port), lift(o2.port), lift(o3.port), denied=["good.test:%d" % o3.port])
    res, r, evs = run_t(net, SAME_ADDRESS, o1.port, o2.port, o3.port, settings=s)
    assert r.rc == 0, r
    assert placeholder(res["addr"]), r
    assert res["ports"] == {str(o1.port): "port %d\n" % o1.port, str(o2.port): "port %d\n" % o2.port,
                            str(o3.port): errno.ECONNREFUSED}, r
    assert o3.connections == 0
    assert {e["target"] for e in violations(evs)} == {"good.test:%d" % o3.port}, evs


# --- 8. the address changes under connect() ----------------------------------------------

RACE = r'''
import ctypes, errno, threading
P_OK, P_BAD, N = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
addr = socket.getaddrinfo("good.test", P_OK, socket.AF_INET, socket.SOCK_STREAM)[0][4][0]

def sin(port):
    return struct.pack("=HH4s8x", socket.AF_INET, socket.htons(port), socket.inet_aton(addr))

ok_b, bad_b = sin(P_OK), sin(P_BAD)
buf = ctypes.create_string_buffer(ok_b, 16)
libc = ctypes.CDLL(None, use_errno=True)
libc.connect.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_uint32]
stop = threading.Event()
flips = [0]

def flipper():
    n = 0
    while not stop.is_set():
        ctypes.memmove(buf, bad_b, 16)
        ctypes.memmove(buf, ok_b, 16)
        n += 1
    flips[0] = n

sys.setswitchinterval(0.0002)
t = threading.Thread(target=flipper)
t.start()
out = {"ok": 0, "peers": {}, "errors": {}}
try:
    for i in range(N):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        # ctypes lets go of the GIL during the call: the flipper runs on.
        rc = libc.connect(s.fileno(), ctypes.addressof(buf), 16)
        if rc == 0:
            out["ok"] += 1
            try:
                peer = str(s.getpeername()[1])
            except OSError as e:
                peer = "getpeername: %d" % e.errno
            out["peers"][peer] = out["peers"].get(peer, 0) + 1
        else:
            e = str(ctypes.get_errno())
            out["errors"][e] = out["errors"].get(e, 0) + 1
        s.close()
finally:
    stop.set()
    t.join()
out["flips"] = flips[0]
emit(out)
'''

RACE_ROUNDS = 400


def test_connect_address_rewritten_by_another_thread(net):
    good = net.echo(host=ALT)
    bad = net.echo(host=ALT)
    # good.test is allowed on one port only; srt could dial the other (its
    # guard is lifted there), so only the port rule keeps it out.
    s = settings("good.test:%d" % good.port, lift(good.port), lift(bad.port))
    res, r, evs = run_t(net, RACE, good.port, bad.port, RACE_ROUNDS, settings=s, opts=TRANSPARENT + ["-q"],
                        timeout=240)
    assert r.rc == 0, r
    assert bad.connections == 0, res
    assert res["ok"] + sum(res["errors"].values()) == RACE_ROUNDS, res
    assert set(res["peers"]) <= {str(good.port)}, res
    assert set(res["errors"]) <= {str(errno.ECONNREFUSED)}, res
    # Both addresses were in play: some connects went through, some were refused.
    assert res["ok"] > 0 and res["errors"].get(str(errno.ECONNREFUSED), 0) > 0, res
    assert res["flips"] > RACE_ROUNDS, res
    # The origin may still be accepting what the last rounds opened.
    wait_until(lambda: good.connections >= res["ok"], 10)
    assert good.connections == res["ok"], res


# --- 9. git:// ----------------------------------------------------------------------------

def _make_bare_repo(ctx, base):
    env = {"HOME": ctx.home, "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "GIT_CONFIG_NOSYSTEM": "1",
           "GIT_AUTHOR_NAME": "e2e", "GIT_AUTHOR_EMAIL": "e2e@good.test",
           "GIT_COMMITTER_NAME": "e2e", "GIT_COMMITTER_EMAIL": "e2e@good.test"}
    src = os.path.join(ctx.root, "gitsrc")
    os.mkdir(src)
    with open(os.path.join(src, "README"), "w") as f:
        f.write("cloned over git://\n")
    for cmd in (["git", "init", "-q", src],
                ["git", "-C", src, "add", "README"],
                ["git", "-C", src, "commit", "-qm", "transparent e2e commit"],
                ["git", "clone", "-q", "--bare", src, os.path.join(base, "repo.git")]):
        subprocess.run(cmd, env=env, check=True, capture_output=True)
    return env


class Daemon:
    """A host server process started for one test (its own session, ended
    with its whole process group). Its stderr is collected in .log."""

    def __init__(self, argv, env, ready, timeout=10):
        self.log = b""
        self.proc = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, start_new_session=True)
        self._t = threading.Thread(target=self._read, daemon=True)
        self._t.start()
        end = time.monotonic() + timeout
        while not ready(self):
            if self.proc.poll() is not None or time.monotonic() > end:
                self.stop()
                pytest.fail("%r did not start: exit %r, log %r" % (argv, self.proc.returncode, self.log))
            time.sleep(0.05)

    def _read(self):
        while True:
            d = self.proc.stderr.read1(65536) if hasattr(self.proc.stderr, "read1") else self.proc.stderr.read(1)
            if not d:
                return
            self.log += d

    def stop(self):
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
            except OSError:
                pass
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        self._t.join(5)
        # What the server started for a connection ends with it.
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except OSError:
            pass


def _listening(host, port):
    def ready(_d):
        try:
            socket.create_connection((host, port), timeout=1).close()
            return True
        except OSError:
            return False
    return ready


@pytest.fixture
def git_daemon(net):
    need("git")
    if not os.path.exists(GIT_DAEMON):
        pytest.skip("%s is not installed (Debian package git)" % GIT_DAEMON)
    base = os.path.join(net.ctx.root, "gitbase")
    os.mkdir(base)
    env = _make_bare_repo(net.ctx, base)
    port = free_port()
    d = Daemon([GIT_DAEMON, "--export-all", "--base-path=" + base, "--listen=" + ALT, "--port=%d" % port,
                "--reuseaddr", "--informative-errors", "--verbose"], env, _listening(ALT, port))
    d.port = port
    yield d
    d.stop()


def test_git_clone_over_git_protocol(net, git_daemon):
    p = git_daemon.port
    r, evs = run_cmd(net, ["sh", "-c", 'd=$(mktemp -d) && git clone -q "git://good.test:$1/repo" "$d/clone" && '
                           'cat "$d/clone/README" && git -C "$d/clone" log --format=%s; echo "rc=$?"; '
                           'git ls-remote "git://other.test:$1/repo" >/dev/null 2>&1; echo "other=$?"', "sh", str(p)],
                     settings=settings("good.test:%d" % p, lift(p)), env={"GIT_TERMINAL_PROMPT": "0"})
    assert r.out.splitlines() == ["cloned over git://", "transparent e2e commit", "rc=0", "other=128"], \
        (r, git_daemon.log)
    assert b"/repo" in git_daemon.log, git_daemon.log
    # The name refused; nothing about the allowed one.
    assert "other.test" in {e["target"] for e in violations(evs)}, evs
    assert not [e for e in violations(evs) if "good.test" in e["target"]], evs


# --- ssh ---------------------------------------------------------------------------------------
# An sshd of the host (Debian's openssh-server) on 127.0.0.2, as the test's
# user, with a throwaway host key and configuration under the test's
# folder. It runs in a private mount namespace where /etc/passwd gives the
# test's user a shell (nobody has nologin) and a home, and the privilege
# separation user and folder sshd needs as root exist; nothing of the
# host's files changes.

SSHD_NS = ('mount -t tmpfs -o mode=755 tmpfs /run && mkdir -m 755 /run/sshd && '
           'mount --bind "$1" /etc/passwd && mount --bind "$2" /etc/shadow && shift 2 && exec "$@"')


def _keygen(ctx, path):
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "srt-e2e", "-f", path],
                   check=True, capture_output=True)
    for f in (path, path + ".pub"):
        ctx.own(f)
    os.chmod(path, 0o600)


def _ns_passwd(ctx, user):
    """/etc/passwd and /etc/shadow for sshd's namespace."""
    with open("/etc/passwd") as f:
        lines = f.read().splitlines()
    out, uids, have_sshd = [], set(), False
    for line in lines:
        parts = line.split(":")
        if len(parts) < 7:
            out.append(line)
            continue
        uids.add(parts[2])
        if parts[0] == user:
            parts[5], parts[6] = ctx.home, "/bin/sh"
        have_sshd = have_sshd or parts[0] == "sshd"
        out.append(":".join(parts))
    if not have_sshd:
        uid = next(u for u in range(64999, 1000, -1) if str(u) not in uids)
        out.append("sshd:x:%d:65534::/run/sshd:/usr/sbin/nologin" % uid)
    passwd = os.path.join(ctx.root, "ns-passwd")
    with open(passwd, "w") as f:
        f.write("\n".join(out) + "\n")
    os.chmod(passwd, 0o644)
    # An account whose password is locked may not log in, even by key.
    shadow = os.path.join(ctx.root, "ns-shadow")
    names = [line.split(":")[0] for line in out]
    with open(shadow, "w") as f:
        f.write("".join("%s:*:20000:0:99999:7:::\n" % n for n in names))
    os.chmod(shadow, 0o600)
    ctx.own(shadow)  # an sshd that cannot read it takes the account as locked
    return passwd, shadow


@pytest.fixture
def sshd(net):
    if not os.path.exists(SSHD):
        pytest.skip("sshd is not installed (%s: Debian package openssh-server)" % SSHD)
    need("ssh", "ssh-keygen")
    ctx = net.ctx
    d = ctx.mkdir(os.path.join(ctx.root, "sshd"))
    host_key = os.path.join(d, "host_ed25519")
    _keygen(ctx, host_key)
    client_key = os.path.join(ctx.root, "client_ed25519")
    _keygen(ctx, client_key)
    with open(client_key + ".pub") as f:
        ctx.write(os.path.join(d, "authorized_keys"), f.read())
    port = free_port()
    cfg = ctx.write(os.path.join(d, "sshd_config"), "\n".join([
        "ListenAddress %s:%d" % (ALT, port),
        "HostKey " + host_key,
        "PidFile none",
        "AuthorizedKeysFile " + os.path.join(d, "authorized_keys"),
        "StrictModes no",
        "PubkeyAuthentication yes",
        "PasswordAuthentication no",
        "KbdInteractiveAuthentication no",
        "PermitRootLogin prohibit-password",
        "AllowUsers " + ctx.user,
        "UseDNS no",
        "PrintMotd no",
        "PrintLastLog no",
        "LogLevel VERBOSE",
    ]) + "\n")
    passwd, shadow = _ns_passwd(ctx, ctx.user)
    drop = DROP if ctx.uid else []
    argv = ["unshare", "--mount", "--propagation", "private", "sh", "-c", SSHD_NS, "sh", passwd, shadow] + \
        drop + [SSHD, "-D", "-e", "-f", cfg]
    daemon = Daemon(argv, {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C"},
                    lambda dm: b"Server listening on" in dm.log)
    daemon.port = port
    daemon.client_key = client_key
    yield daemon
    daemon.stop()


def test_ssh_by_name(net, sshd):
    p = sshd.port
    ssh = ["ssh", "-F", "/dev/null", "-p", str(p), "-i", sshd.client_key, "-o", "IdentitiesOnly=yes",
           "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "BatchMode=yes",
           "-o", "ConnectTimeout=10", "-o", "LogLevel=ERROR", "-l", net.ctx.user]
    r, evs = run_cmd(net, ["sh", "-c", '"$@" good.test true; echo "rc=$?"; "$@" good.test echo remote ran',
                           "sh"] + ssh, settings=settings("good.test:%d" % p, lift(p)))
    assert r.out.splitlines() == ["rc=0", "remote ran"], (r, sshd.log)
    assert violations(evs) == [], evs


# --- what stays as in proxy mode ------------------------------------------------------------

ENVIRONMENT = r'''
import subprocess
P = int(sys.argv[1])
g = subprocess.run(["getent", "hosts", "good.test"], capture_output=True, text=True)
emit({"env": dict(os.environ), "resolv": open("/etc/resolv.conf").read(), "hosts": open("/etc/hosts").read(),
      "getent": g.stdout.split(), "proxy": get("good.test", P)})
'''


def test_proxies_and_their_variables_stay(net):
    o = net.origin("good", host=ALT)
    p = o.port
    res, r, evs = run_t(net, ENVIRONMENT, p, settings=settings("good.test", lift(p)))
    assert r.rc == 0, r
    http = "http://127.0.0.1:3128"
    socks = "socks5h://127.0.0.1:1080"
    want = {"HTTP_PROXY": http, "HTTPS_PROXY": http, "http_proxy": http, "https_proxy": http,
            "ALL_PROXY": socks, "all_proxy": socks, "NO_PROXY": "localhost,127.0.0.1,::1"}
    assert {k: res["env"].get(k) for k in want} == want, r
    assert [l.split() for l in res["resolv"].splitlines() if l.startswith("nameserver")] == \
        [["nameserver", "127.0.0.1"]], res["resolv"]
    assert "good.test" not in res["hosts"], res["hosts"]
    assert len(res["getent"]) == 2 and res["getent"][1] == "good.test" and placeholder(res["getent"][0]), res
    # The HTTP proxy still answers, by the same rules.
    assert res["proxy"].get("status") == 200 and res["proxy"]["body"] == "hello from good\n", res
    assert len(o.requests) == 1, o.requests
    conns = [c for c in evs if c.get("event") == "connection"]
    assert [(c["decision"], c["host"], c["port"], c["via"]) for c in conns] == [("allowed", "good.test", p, "http")], evs


def test_own_hostname_resolves(net):
    """The sandbox keeps the host's hostname. A program that looks it up
    (git does, for the name in its reflog) finds it in proxy mode, where
    /etc/hosts is the host's: the same in transparent mode, and no
    violation."""
    name = socket.gethostname()
    hosts = dict(HOSTS, **{name: "127.0.0.1"})
    script = 'hostname; getent hosts "$(hostname)"; echo "rc=$?"'
    s = settings("good.test")
    proxy, pevs = run_cmd(net, ["sh", "-c", script], opts=(), hosts=hosts, settings=s)
    assert proxy.out.splitlines()[0] == name and proxy.out.splitlines()[-1] == "rc=0", proxy
    r, evs = run_cmd(net, ["sh", "-c", script], hosts=hosts, settings=s)
    assert r.out.splitlines()[0] == name, r
    assert r.out.splitlines()[-1] == "rc=0", r
    assert [e for e in violations(evs) if e["target"].startswith(name)] == [], evs


# --- 10. proxy mode unchanged ------------------------------------------------------------------

PROXY_MODE = r'''
P = int(sys.argv[1])
out = {}
try:
    socket.create_connection(("good.test", P), timeout=5).close()
    out["direct"] = "connected"
except socket.gaierror as e:
    out["direct"] = "gaierror %s" % e.errno
except OSError as e:
    out["direct"] = e.errno
out["proxy"] = get("good.test", P)
emit(out)
'''


@pytest.mark.parametrize("how", ["default", "settings proxy", "--network proxy over settings"])
def test_proxy_mode_unchanged(net, how):
    """Without transparent mode a program that ignores the proxy variables
    finds nothing at the name's address, while the proxy reaches the same
    origin by the same settings."""
    o = net.origin("good", host=ALT)
    p = o.port
    allowed = ("good.test", lift(p))
    if how == "default":
        s, opts = settings(*allowed), ()
    elif how == "settings proxy":
        s, opts = settings(*allowed, mode="proxy"), ()
    else:
        s, opts = settings(*allowed, mode="transparent"), ["--network", "proxy"]
    res, r, evs = run_t(net, PROXY_MODE, p, settings=s, opts=opts)
    assert r.rc == 0, r
    assert res["direct"] == errno.ECONNREFUSED or str(res["direct"]).startswith("gaierror"), r
    assert res["proxy"].get("status") == 200 and res["proxy"]["body"] == "hello from good\n", r
    assert o.connections == 1 and len(o.requests) == 1, o.requests


def test_bad_network_mode_refused(ctx):
    f = ctx.settings(settings("good.test", mode="direct"))
    r = ctx.run(["echo", "ran"], settings_file=f)
    assert r.rc == 125 and "ran" not in r.out, r
    assert "direct" in r.err and f in r.err, r
    r = ctx.run(["echo", "ran"], opts=["--network", "direct"])
    assert r.rc == 125 and "ran" not in r.out and "direct" in r.err, r


# --- the host socket srt put in place cannot be pointed elsewhere ---------------

RECONNECT = r'''
import ctypes, errno
P, HOSTP = int(sys.argv[1]), int(sys.argv[2])
libc = ctypes.CDLL(None, use_errno=True)
out = {}
s = socket.create_connection(("good.test", P), timeout=10)
out["first"] = "connected"
# AF_UNSPEC dissolves a TCP connection: the socket would be free to connect again.
unspec = (ctypes.c_ushort * 8)(0)
r = libc.connect(s.fileno(), ctypes.byref(unspec), 16)
out["unspec"] = 0 if r == 0 else errno.errorcode.get(ctypes.get_errno())
for host in ("127.0.0.1", "127.0.0.2"):
    try:
        s.connect((host, HOSTP))
        out[host] = "connected"
    except OSError as e:
        out[host] = errno.errorcode.get(e.errno, e.errno)
# TCP fast open: a send with an address connects an unconnected socket.
try:
    s.sendto(b"x", 0x20000000, ("127.0.0.1", HOSTP))  # MSG_FASTOPEN
    out["fastopen"] = "sent"
except OSError as e:
    out["fastopen"] = errno.errorcode.get(e.errno, e.errno)
emit(out)
'''


def test_placed_socket_cannot_be_reconnected(net):
    """The socket srt dialed lives in the host's network: were the program
    able to disconnect it (connect AF_UNSPEC) and connect it again, or to
    send with an address (TCP fast open), it would reach the host's
    network unjudged, its loopback services included."""
    e = net.echo(host=ALT)
    secret = net.echo(host="127.0.0.1")
    res, r, evs = run_t(net, RECONNECT, e.port, secret.port, settings=settings("good.test", lift(e.port)))
    assert r.rc == 0, r
    assert res["first"] == "connected", r
    assert res["unspec"] == "EISCONN", r
    assert res["127.0.0.1"] in ("EISCONN", "ECONNREFUSED"), r
    assert res["127.0.0.2"] in ("EISCONN", "ECONNREFUSED"), r
    assert res["fastopen"] in ("EISCONN", "EPIPE", "ENOTCONN"), r
    assert secret.connections == 0, r
