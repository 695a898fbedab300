# srt --control-fd N: new settings, one JSON object per line, while the command runs: the network lists change for new connections (proxy and transparent DNS), a tunnel opened before keeps going, bad lines and lines that change what cannot change are refused and change nothing, end of input keeps the last settings, the descriptor never reaches the sandbox.
#
# The origins listen on 127.0.0.2; the test names resolve to it (netutil's
# private mount namespace), and allowedDomains entries 127.0.0.2:PORT let
# srt dial it (the resolved-address guard), as in test_transparent.py.
# Only loopback addresses are used.
import json
import os
import re
import select
import subprocess
import time

import pytest

import netutil
from conftest import PY

ALT = "127.0.0.2"
HOSTS = {n: ALT for n in netutil.TEST_NAMES}
NOPYC = {"PYTHONDONTWRITEBYTECODE": "1"}

# The command: reads orders on stdin, answers each with one JSON line.
#   get HOST PORT      a GET through the HTTP proxy, on a new connection
#   open HOST PORT     CONNECT through the proxy; the first tunnel opened is kept
#   echo               a line through that tunnel (to an echo server)
#   keep HOST PORT     a GET through the proxy on one kept-alive connection
#   resolve HOST       getaddrinfo inside (transparent mode: srt's DNS)
#   dial HOST PORT     a direct connect by name and one line echoed (transparent mode)
#   dialaddr ADDR PORT the same to an address (one srt's DNS handed out earlier)
#   inject PATH TEXT   write TEXT as a line into the file or FIFO at PATH
#   fds                the descriptors open in this process
#   deep N             N folders, one in the other, from the current folder
#   chmod MODE PATH    chmod (MODE in octal)
DRIVER = r'''
import socket
tunnel = None
kept = None
emit({"ready": True})
for line in sys.stdin:
    w = line.split()
    if not w:
        continue
    if w[0] == "get":
        r = get(w[1], int(w[2]))
        emit({"status": r.get("status"), "body": r.get("body"), "reason": r.get("reason")})
    elif w[0] == "open":
        c, r = connect(w[1], int(w[2]))
        if tunnel is None and r.get("status") == 200:
            tunnel = c  # the first tunnel opened is the one kept
        emit({"status": r.get("status")})
    elif w[0] == "keep":
        if kept is None:
            kept = Conn()
        r = exchange(kept, request(w[1], int(w[2])))
        emit({"status": r.get("status"), "reason": r.get("reason")})
    elif w[0] == "echo":
        emit({"ok": bool(tunnel) and echo_ok(tunnel)})
    elif w[0] == "resolve":
        try:
            emit({"addrs": sorted({a[4][0] for a in socket.getaddrinfo(w[1], 80, proto=socket.IPPROTO_TCP)})})
        except socket.gaierror as e:
            emit({"error": str(e)})
    elif w[0] == "dial":
        try:
            s = socket.create_connection((w[1], int(w[2])), timeout=10)
            s.sendall(b"by name\n")
            emit({"back": s.recv(100).decode()})
            s.close()
        except OSError as e:
            emit({"error": str(e)})
    elif w[0] == "dialaddr":
        try:
            s = socket.create_connection((w[1], int(w[2])), timeout=10)
            s.sendall(b"by address\n")
            emit({"back": s.recv(100).decode()})
            s.close()
        except OSError as e:
            emit({"error": str(e)})
    elif w[0] == "inject":
        try:
            fd = os.open(w[1], os.O_WRONLY | os.O_NONBLOCK)
            os.write(fd, b" ".join(x.encode() for x in w[2:]) + b"\n")
            os.close(fd)
            emit({"written": True})
        except OSError as e:
            emit({"error": str(e)})
    elif w[0] == "fds":
        emit({"fds": sorted(int(x) for x in os.listdir("/proc/self/fd"))})
    elif w[0] == "chmod":
        os.chmod(w[2], int(w[1], 8))
        emit({"done": True})
    elif w[0] == "deep":
        d = "deep"
        for _ in range(int(w[1])):
            os.mkdir(d)
            d = os.path.join(d, "d")
        emit({"made": True})
'''


@pytest.fixture
def net(ctx):
    n = netutil.Net(ctx)
    yield n
    n.close()


def lift(port):
    return "%s:%d" % (ALT, port)


def allow(*domains, **extra):
    net = {"allowedDomains": list(domains)}
    net.update(extra)
    return {"network": net}


class Session:
    """srt running DRIVER with the read end of a pipe (or of the FIFO at
    fifo) as --control-fd, and --events to a file."""

    def __init__(self, net, settings, opts=(), fifo=None):
        self.net = net
        if fifo:
            self.r = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
            self.w = os.open(fifo, os.O_WRONLY)
            os.set_blocking(self.r, True)
        else:
            self.r, self.w = os.pipe()
        self.events_path = os.path.join(net.ctx.root, "events-%s.jsonl" % net.ctx.token())
        opts = ["--control-fd", str(self.r), "--events", self.events_path] + list(opts)
        prelude = "import sys\nsys.path.insert(0, %r)\nfrom srtnet import *\n" % net.libdir
        argv = net.argv([PY, "-c", prelude + DRIVER], settings=settings, hosts=HOSTS, opts=opts)
        self.proc = subprocess.Popen(argv, cwd=net.ctx.proj, env=net.ctx.env(NOPYC), pass_fds=(self.r,),
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.proc.buf = b""
        self.proc.argv = argv
        net.ctx.procs.append(self.proc)
        self.lines = 0
        first = self.answer()
        assert first == {"ready": True}, first

    def order(self, *words):
        self.proc.stdin.write((" ".join(str(w) for w in words) + "\n").encode())
        self.proc.stdin.flush()
        return self.answer()

    def answer(self, timeout=20):
        fd = self.proc.stdout.fileno()
        end = time.monotonic() + timeout
        mark = netutil.JSON_MARK.encode()
        while True:
            while b"\n" in self.proc.buf:
                line, self.proc.buf = self.proc.buf.split(b"\n", 1)
                if line.startswith(mark):
                    return json.loads(line[len(mark):])
            left = end - time.monotonic()
            r, _, _ = select.select([fd], [], [], max(left, 0))
            chunk = os.read(fd, 65536) if r else b""
            if not chunk:
                err = self.proc.stderr.read() if self.proc.poll() is not None else b""
                pytest.fail("no answer from the command; exit %r; stderr %r" % (self.proc.poll(), err))
            self.proc.buf += chunk

    def events(self):
        try:
            with open(self.events_path) as f:
                return [json.loads(x) for x in f.read().splitlines() if x]
        except FileNotFoundError:
            return []

    def send_raw(self, data):
        """Bytes on the control channel; returns the numbers of the lines they complete."""
        os.write(self.w, data)
        n = data.count(b"\n")
        first = self.lines + 1
        self.lines += n
        return list(range(first, self.lines + 1))

    def send(self, obj):
        """One settings line; waits until srt has taken it. Returns its event."""
        text = obj if isinstance(obj, str) else json.dumps(obj)
        (number,) = self.send_raw(text.encode() + b"\n")
        return self.wait_event(number)

    def wait_event(self, number, timeout=20):
        source = "control fd %d line %d" % (self.r, number)
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            for e in self.events():
                if e.get("event") in ("config.reloaded", "config.rejected") and e.get("source") == source:
                    return e
            time.sleep(0.02)
        pytest.fail("no config event for %s; events %r" % (source, self.events()))

    def close_control(self):
        if self.w >= 0:
            os.close(self.w)
            self.w = -1

    def finish(self, timeout=20):
        self.close_control()
        try:  # closes the command's stdin: its loop ends
            out, err = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.communicate()
            pytest.fail("srt did not end after its command's input closed")
        os.close(self.r)
        return self.proc.returncode, err.decode("utf-8", "replace")


# --- the lists change for new connections --------------------------------------------

def test_denied_host_becomes_allowed_and_allowed_becomes_denied(net):
    origin = net.origin("good", host=ALT)
    echo = net.echo(host=ALT)
    base = [lift(origin.port), lift(echo.port), "other.test"]
    s = Session(net, allow(*base))
    r = s.order("get", "good.test", origin.port)
    assert r["status"] == 403, r
    assert "not in allowedDomains" in r["reason"], r

    ev = s.send(allow(*base, "good.test"))
    assert ev["event"] == "config.reloaded", ev
    r = s.order("get", "good.test", origin.port)
    assert r["status"] == 200 and r["body"] == "hello from good\n", r

    # A tunnel opened now, then the host denied: the tunnel keeps its
    # decision; a new connection gets the new one.
    assert s.order("open", "good.test", echo.port)["status"] == 200
    assert s.order("echo") == {"ok": True}
    ev = s.send(allow(*base, deniedDomains=["good.test"]))
    assert ev["event"] == "config.reloaded", ev
    r = s.order("get", "good.test", origin.port)
    assert r["status"] == 403 and "denied by deniedDomains" in r["reason"], r
    assert s.order("open", "good.test", echo.port)["status"] == 403
    assert s.order("echo") == {"ok": True}  # the first tunnel, still open
    # Removed from the list (not denied): the default deny again.
    s.send(allow(*base))
    r = s.order("get", "good.test", origin.port)
    assert r["status"] == 403 and "not in allowedDomains" in r["reason"], r

    rc, err = s.finish()
    assert rc == 0, err
    evs = s.events()
    reloaded = [e for e in evs if e["event"] == "config.reloaded"]
    assert [e["source"] for e in reloaded] == ["control fd %d line %d" % (s.r, n) for n in (1, 2, 3)], evs
    assert not [e for e in evs if e["event"] == "config.rejected"], evs
    # The refusals of the updated lists are violations as any other, and
    # the rule names the line it came from.
    assert any(e["event"] == "violation" and e["target"].startswith("good.test:")
               and ("deniedDomains: good.test (control fd %d line 2:" % s.r) in e["rule"] for e in evs), evs


def test_kept_alive_connection_judges_each_request_anew(net):
    """Plain HTTP through the proxy is decided per request: on a kept-alive
    connection, the request after the update gets the new lists."""
    origin = net.origin("good", host=ALT)
    s = Session(net, allow(lift(origin.port), "good.test"))
    assert s.order("keep", "good.test", origin.port)["status"] == 200
    s.send(allow(lift(origin.port), deniedDomains=["good.test"]))
    r = s.order("keep", "good.test", origin.port)
    assert r["status"] == 403 and "denied by deniedDomains" in r["reason"], r
    rc, err = s.finish()
    assert rc == 0, err
    assert len(origin.requests_for("/hello")) == 1


def test_ignore_violations_follow_the_line(net):
    origin = net.origin("good", host=ALT)
    s = Session(net, allow(lift(origin.port)))
    assert s.order("get", "evil.test", origin.port)["status"] == 403
    e = s.send({"network": {"allowedDomains": [lift(origin.port)]}, "ignoreViolations": {"*": ["other.test"]}})
    assert e["event"] == "config.reloaded", e
    assert s.order("get", "other.test", origin.port)["status"] == 403
    rc, err = s.finish()
    assert rc == 0, err
    targets = [e["target"] for e in s.events() if e["event"] == "violation"]
    assert targets == ["evil.test:%d" % origin.port], targets


def test_deny_reasons_and_wildcards_follow_the_line(net):
    origin = net.origin("good", host=ALT)
    s = Session(net, allow(lift(origin.port), "*.good.test"))
    assert s.order("get", "sub.good.test", origin.port)["status"] == 200
    s.send(allow(lift(origin.port), "*.good.test", deniedDomains=["sub.good.test"],
                 deniedDomainReasons={"sub.good.test": "closed for the test"}))
    r = s.order("get", "sub.good.test", origin.port)
    assert r["status"] == 403, r
    assert "closed for the test" in r["body"], r
    assert s.order("get", "deep.sub.good.test", origin.port)["status"] == 200
    rc, err = s.finish()
    assert rc == 0, err


# --- lines that are refused --------------------------------------------------------

def test_invalid_lines_are_reported_and_change_nothing(net):
    origin = net.origin("good", host=ALT)
    s = Session(net, allow(lift(origin.port), "good.test"))
    e1 = s.send("{not json")
    e2 = s.send({"network": {"allowedDomains": []}, "filesystem": {"alowWrite": ["."]}})
    e3 = s.send({"network": {"allowedDomains": ["http://x/"]}})
    e4 = s.send("[1, 2]")
    for e in (e1, e2, e3, e4):
        assert e["event"] == "config.rejected", e
    assert "alowWrite" in e2["error"] and "allowWrite" in e2["error"], e2
    # Nothing of them was applied: good.test is still allowed.
    assert s.order("get", "good.test", origin.port)["status"] == 200
    # Blank lines are no settings and no error.
    s.send_raw(b"\n   \r\n")
    s.send(allow(lift(origin.port)))
    assert s.order("get", "good.test", origin.port)["status"] == 403
    rc, err = s.finish()
    assert rc == 0, err
    for n in (1, 2, 3, 4):
        assert "srt: control fd %d line %d" % (s.r, n) in err, err
    assert err.count("the line is ignored, the settings in force stay") == 4, err
    assert "line 5" not in err and "line 6" not in err, err


def test_a_setting_that_cannot_change_refuses_the_line(net, ctx):
    origin = net.origin("good", host=ALT)
    ctx.mkdir("out")
    fs = {"allowWrite": ["./out"], "denyRead": ["~/secret"]}
    start = {"network": {"allowedDomains": [lift(origin.port)]}, "filesystem": fs}
    s = Session(net, start)
    fresh = os.path.join(ctx.root, "made-by-a-refused-line")
    changed = [
        ("filesystem.allowWrite", {"network": {"allowedDomains": [lift(origin.port), "good.test"]},
                                   "filesystem": {"allowWrite": ["./out", fresh], "denyRead": ["~/secret"]}}),
        ("filesystem.denyRead", {"network": {"allowedDomains": ["good.test"]}, "filesystem": {"allowWrite": ["./out"]}}),
        ("network.allowUnixSockets", {"network": {"allowedDomains": ["good.test"], "allowUnixSockets": ["/run/x.sock"]},
                                      "filesystem": fs}),
        ("network.allowLocalBinding", {"network": {"allowedDomains": [], "allowLocalBinding": True}, "filesystem": fs}),
        ("network.mode", {"network": {"allowedDomains": [], "mode": "transparent"}, "filesystem": fs}),
        ("network.timeouts.connect", {"network": {"allowedDomains": [], "timeouts": {"connect": 3}}, "filesystem": fs}),
        ("network.httpProxyPort", {"network": {"allowedDomains": [], "httpProxyPort": 8080}, "filesystem": fs}),
    ]
    for key, line in changed:
        e = s.send(line)
        assert e["event"] == "config.rejected", (key, e)
        assert key in e["error"] and "cannot change while the command runs" in e["error"], (key, e)
    assert not os.path.exists(fresh)
    assert s.order("get", "good.test", origin.port)["status"] == 403
    # The whole settings object again, with the same filesystem part (as
    # the TypeScript srt's callers send it) and a new list: applied.
    e = s.send({"network": {"allowedDomains": [lift(origin.port), "good.test"]}, "filesystem": fs})
    assert e["event"] == "config.reloaded", e
    assert s.order("get", "good.test", origin.port)["status"] == 200
    rc, err = s.finish()
    assert rc == 0, err
    assert "filesystem.allowWrite differs from the settings in force" in err, err


def test_a_new_host_port_is_refused(net):
    """A host loopback port (127.0.0.1:PORT) gets its listener inside when
    the sandbox starts: one that was not there cannot be added."""
    origin = net.origin("good", host=ALT)
    port = net.closed_port()
    s = Session(net, allow(lift(origin.port)))
    e = s.send(allow(lift(origin.port), "127.0.0.1:%d" % port))
    assert e["event"] == "config.rejected", e
    assert "host port %d" % port in e["error"], e
    rc, err = s.finish()
    assert rc == 0, err


def test_a_host_port_can_be_dropped_and_brought_back(net):
    """The listener of a host loopback service stays inside; whether a
    connection through it is forwarded follows the lists."""
    echo = net.echo()  # on the host's 127.0.0.1
    entry = "127.0.0.1:%d" % echo.port
    s = Session(net, allow(entry))
    assert s.order("dial", "127.0.0.1", echo.port) == {"back": "by name\n"}
    assert s.send(allow())["event"] == "config.reloaded"
    r = s.order("dial", "127.0.0.1", echo.port)
    assert r.get("back", "") == "" or "error" in r, r
    assert s.send(allow(entry))["event"] == "config.reloaded"
    assert s.order("dial", "127.0.0.1", echo.port) == {"back": "by name\n"}
    rc, err = s.finish()
    assert rc == 0, err
    assert any(e["event"] == "violation" and e["target"] == entry for e in s.events()), s.events()


def test_too_long_line_is_skipped_and_the_next_one_applies(net):
    origin = net.origin("good", host=ALT)
    s = Session(net, allow(lift(origin.port)))
    big = json.dumps(allow(lift(origin.port), "good.test", *(["x%d.test" % i for i in range(80000)])))
    assert len(big) > 1024 * 1024
    (n,) = s.send_raw(big.encode() + b"\n")
    e = s.wait_event(n)
    assert e["event"] == "config.rejected" and "longer than 1048576 bytes" in e["error"], e
    assert s.order("get", "good.test", origin.port)["status"] == 403
    e = s.send(allow(lift(origin.port), "good.test"))
    assert e["event"] == "config.reloaded", e
    assert s.order("get", "good.test", origin.port)["status"] == 200
    rc, err = s.finish()
    assert rc == 0, err


# --- the channel itself ----------------------------------------------------------------

def test_end_of_input_keeps_the_last_settings(net):
    origin = net.origin("good", host=ALT)
    s = Session(net, allow(lift(origin.port)))
    # A last line without its newline counts when the channel ends.
    os.write(s.w, json.dumps(allow(lift(origin.port), "good.test")).encode())
    s.close_control()
    e = s.wait_event(1)
    assert e["event"] == "config.reloaded", e
    for _ in range(2):
        assert s.order("get", "good.test", origin.port)["status"] == 200
    rc, err = s.finish()
    assert rc == 0, err
    assert "control fd" not in err, err


def test_descriptor_not_in_the_sandbox_and_left_blocking(net):
    s = Session(net, allow("good.test"))
    fds = s.order("fds")["fds"]
    # stdin, stdout, stderr and the listing's own descriptor.
    assert len(fds) <= 4 and s.r not in fds[:3], fds
    assert set(fds[:3]) == {0, 1, 2}, fds
    # srt did not make the caller's pipe non-blocking.
    assert os.get_blocking(s.r) and os.get_blocking(s.w)
    rc, err = s.finish()
    assert rc == 0, err


def test_a_named_fifo_cannot_be_written_from_inside(net, ctx):
    """Anybody who can open a FIFO may write to it, even through a
    read-only mount: srt hides the control channel's FIFO inside, so the
    command cannot send itself settings, even from a writable folder."""
    origin = net.origin("good", host=ALT)
    fifo = os.path.join(ctx.proj, "ctl")
    os.mkfifo(fifo)
    ctx.own(fifo)
    s = Session(net, {"network": {"allowedDomains": [lift(origin.port)]}, "filesystem": {"allowWrite": ["."]}},
                fifo=fifo)
    line = json.dumps(allow(lift(origin.port), "good.test"))
    r = s.order("inject", fifo, line)
    assert "error" in r, r
    r = s.order("inject", os.path.join(ctx.proj, ".", "ctl"), line)
    assert "error" in r, r
    assert s.order("get", "good.test", origin.port)["status"] == 403
    # The caller's own lines still count.
    e = s.send({"network": {"allowedDomains": [lift(origin.port), "good.test"]}, "filesystem": {"allowWrite": ["."]}})
    assert e["event"] == "config.reloaded" and e["source"] == "control fd %d line 1" % s.r, e
    assert s.order("get", "good.test", origin.port)["status"] == 200
    rc, err = s.finish()
    assert rc == 0, err
    assert [e["source"] for e in s.events() if e["event"].startswith("config.")] == ["control fd %d line 1" % s.r]


def test_a_regular_file_as_the_channel(net, ctx):
    origin = net.origin("good", host=ALT)
    path = ctx.write("updates.jsonl",
                     "{bad\n" + json.dumps({"network": {"allowedDomains": [lift(origin.port), "good.test"]},
                                             "filesystem": {"allowWrite": ["."]}}) + "\n")
    fd = os.open(path, os.O_RDONLY)
    try:
        prelude = "import sys\nsys.path.insert(0, %r)\nfrom srtnet import *\n" % net.libdir
        # The file is hidden inside too (it could grow).
        code = (prelude + "import time\ntime.sleep(0.3)\nemit(get('good.test', %d))\n" % origin.port +
                "try:\n    open('updates.jsonl', 'a')\nexcept OSError as e:\n    print('append refused:', e.errno)\n")
        argv = net.argv([PY, "-c", code], settings={"network": {"allowedDomains": [lift(origin.port)]},
                                                    "filesystem": {"allowWrite": ["."]}}, hosts=HOSTS,
                        opts=["--control-fd", str(fd)])
        cp = subprocess.run(argv, cwd=ctx.proj, env=ctx.env(NOPYC), pass_fds=(fd,), capture_output=True, timeout=60)
    finally:
        os.close(fd)
    out = cp.stdout.decode()
    assert cp.returncode == 0, cp
    assert '"status": 200' in out, cp
    assert "append refused: 13" in out, cp
    assert ("control fd %d line 1" % fd) in cp.stderr.decode(), cp


@pytest.mark.parametrize("arg,why", [
    ("9", "srt was not started with that descriptor open"),
    ("abc", "takes a descriptor number"),
    ("-3", "takes a descriptor number"),
    ("1", "0, 1 and 2 are the command's"),
    ("", "takes a descriptor number"),
    ("write-end", "not open for reading"),
    # The command reads its standard input: it could take the lines.
    ("stdin", "the command's standard input"),
    ("/dev/zero", "cannot be watched"),
])
def test_bad_descriptor_refused(ctx, arg, why):
    marker = os.path.join(ctx.root, "ran")
    r, w = os.pipe()
    try:
        z = os.open("/dev/zero", os.O_RDONLY)
        fd = {"write-end": str(w), "stdin": str(r), "/dev/zero": str(z)}.get(arg, arg)
        argv = ctx.argv(["sh", "-c", "touch %s" % marker], opts=["--control-fd", fd])
        cp = subprocess.run(argv, cwd=ctx.proj, env=ctx.env(), pass_fds=(r, w, z), capture_output=True, timeout=60,
                            stdin=r if arg == "stdin" else subprocess.DEVNULL)
    finally:
        os.close(r)
        os.close(w)
        os.close(z)
    assert cp.returncode == 125, cp
    err = cp.stderr.decode()
    assert err.startswith("srt: ") and why in err, err
    assert not os.path.exists(marker)


def test_option_needs_an_argument(ctx):
    r = ctx.run(["--control-fd"])
    assert r.rc == 125 and "--control-fd needs a descriptor number" in r.err, r
    r = ctx.run(["--control-fd=x7", "true"])
    assert r.rc == 125 and "not 'x7'" in r.err, r
    r = ctx.run(["--help"])
    assert r.rc == 0 and "--control-fd N" in r.out, r


def test_a_line_applies_at_the_lowest_open_file_limit(ctx):
    """The open-file limit srt checks at the start is what starting the
    sandbox needs: a line starts nothing, and is not refused because of
    the descriptors the run holds by then (listeners, connections)."""
    netutil.need("prlimit")
    events = os.path.join(ctx.root, "events-limit.jsonl")
    r, w = os.pipe()

    def argv(n, args):
        a = ctx.argv(args, settings=allow("a.test"), opts=["--control-fd", str(r), "--events", events])
        i = a.index(ctx.srt)
        a[i:i] = ["prlimit", "--nofile=%d:%d" % (n, n)]
        return a

    try:
        # The lowest limit srt starts at (each refusal names a number; a
        # later step may name a higher one).
        n = 12
        for _ in range(10):
            cp = subprocess.run(argv(n, ["true"]), cwd=ctx.proj, env=ctx.env(), pass_fds=(r,),
                                stdin=subprocess.DEVNULL, capture_output=True, timeout=60)
            if cp.returncode == 0:
                break
            m = re.search(r"srt needs at least (\d+)", cp.stderr.decode())
            assert cp.returncode == 125 and m and int(m.group(1)) > n, cp
            n = int(m.group(1))
        assert cp.returncode == 0, cp
        p = subprocess.Popen(argv(n, ["sh", "-c", "read x"]), cwd=ctx.proj, env=ctx.env(),
                             pass_fds=(r,), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        ctx.procs.append(p)
        os.write(w, json.dumps(allow("a.test", "b.test")).encode() + b"\n")
        got = None
        end = time.monotonic() + 20
        while got is None and time.monotonic() < end and p.poll() is None:
            time.sleep(0.05)
            try:
                with open(events) as f:
                    got = next((e for e in map(json.loads, f.read().splitlines())
                                if e.get("event", "").startswith("config.")), None)
            except FileNotFoundError:
                pass
        out, err = p.communicate(b"\n", timeout=20)
    finally:
        os.close(r)
        os.close(w)
    assert p.returncode == 0, err
    assert got is not None and got["event"] == "config.reloaded", (got, err)


def test_the_command_cannot_make_lines_fail_through_the_file_system(net):
    """The filesystem rules of a line are those in force (a line may not
    change them): the file system, which the command changes at will, is
    not looked at again. A tree too deep for a denyRead glob's expansion
    must not make every later line fail, which would keep the command's
    access to a domain the caller takes away."""
    origin = net.origin("good", host=ALT)
    fs = {"allowWrite": ["."], "denyRead": ["**/.env"]}
    s = Session(net, {"network": {"allowedDomains": [lift(origin.port), "good.test"]}, "filesystem": fs})
    assert s.order("get", "good.test", origin.port)["status"] == 200
    assert s.order("deep", 300) == {"made": True}
    e = s.send({"network": {"allowedDomains": [lift(origin.port)]}, "filesystem": fs})
    assert e["event"] == "config.reloaded", e
    assert s.order("get", "good.test", origin.port)["status"] == 403
    rc, err = s.finish()
    assert rc == 0, err


def test_the_command_cannot_make_lines_fail_through_the_project_file(net, ctx):
    """The project file is read for a line as it was read at the start:
    the command cannot make it unreadable (its folder is writable, so it
    may chmod it) and so make every later line fail."""
    origin = net.origin("good", host=ALT)
    ctx.write(".sandbox/settings.json", json.dumps({"network": {"deniedDomains": ["evil.test"]}}))
    fs = {"allowWrite": ["."]}
    s = Session(net, {"network": {"allowedDomains": [lift(origin.port), "good.test", "evil.test"]}, "filesystem": fs})
    assert s.order("get", "good.test", origin.port)["status"] == 200
    assert s.order("get", "evil.test", origin.port)["status"] == 403
    mode = os.stat(ctx.proj).st_mode & 0o7777
    assert s.order("chmod", "0", ".") == {"done": True}
    try:
        e = s.send({"network": {"allowedDomains": [lift(origin.port), "evil.test"]}, "filesystem": fs})
    finally:
        os.chmod(ctx.proj, mode)
    assert e["event"] == "config.reloaded", e
    assert s.order("get", "good.test", origin.port)["status"] == 403
    # The project's deny rule still applies to the line.
    r = s.order("get", "evil.test", origin.port)
    assert r["status"] == 403 and "denied by deniedDomains" in r["reason"], r
    rc, err = s.finish()
    assert rc == 0, err


# --- transparent mode: srt's DNS answers follow the lists ----------------------------

def test_transparent_dns_follows_the_lists(net):
    echo = net.echo(host=ALT)
    s = Session(net, allow(lift(echo.port)), opts=["--network", "transparent"])
    r = s.order("resolve", "good.test")
    assert "error" in r, r
    s.send(allow(lift(echo.port), "good.test"))
    r = s.order("resolve", "good.test")
    assert r.get("addrs"), r
    placeholder = r["addrs"][0]
    assert s.order("dial", "good.test", echo.port) == {"back": "by name\n"}
    assert s.order("dialaddr", placeholder, echo.port) == {"back": "by address\n"}
    s.send(allow(lift(echo.port), deniedDomains=["good.test"]))
    r = s.order("resolve", "good.test")
    assert "error" in r, r
    # The address handed out while the name was allowed leads nowhere now.
    r = s.order("dialaddr", placeholder, echo.port)
    assert "error" in r, r
    assert echo.connections == 2
    rc, err = s.finish()
    assert rc == 0, err
