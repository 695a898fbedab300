# How the proxies end connections: a client that drops mid-transfer, an upstream that stops short, an upstream that never answers, idle and busy tunnels, and the timeouts of network.timeouts; the connection events that say who closed and why.
#
# srt runs in netutil's private mount namespace; every server here listens on
# 127.0.0.1 with port 0 and the settings list it as "127.0.0.1:PORT". The
# clients are python scripts inside the sandbox (srtnet and srtfaults, see
# netutil). Times are only checked in generous windows around the timeouts
# the settings give.
import collections
import json
import os

import pytest

import netutil
from conftest import PY

MIB = 1 << 20
ANNOUNCED = 1048576

# Python writes bytecode caches where it can: nothing these tests want.
NOPYC = {"PYTHONDONTWRITEBYTECODE": "1"}

CRASH_MARKS = ("AddressSanitizer", "runtime error:", "Segmentation fault", "core dumped",
               "Traceback (most recent call last)")

TIMEOUTS = {"response": 1, "tunnelIdle": 1}


@pytest.fixture
def net(ctx):
    n = netutil.Net(ctx)
    netutil.install_inside_module(n, "srtfaults", netutil.FAULTS_INSIDE_LIB)
    yield n
    n.close()


def settings(*ports, timeouts=None):
    s = {"network": {"allowedDomains": ["127.0.0.1:%d" % p for p in ports]}}
    if timeouts is not None:
        s["network"]["timeouts"] = timeouts
    return s


def run_inside(net, code, *args, settings=None, timeout=90):
    """Run python code inside the sandbox with srtnet and srtfaults
    imported, srt writing events to a fresh file. Returns (result, events,
    the emitted object or None)."""
    path = os.path.join(net.ctx.root, "events-%s.jsonl" % net.ctx.token())
    prelude = ("import sys\nsys.path.insert(0, %r)\nfrom srtnet import *\nfrom srtfaults import *\n"
               % net.libdir)
    r = net.run([PY, "-c", prelude + code] + [str(a) for a in args], settings=settings,
                opts=["--events", path], env=NOPYC, timeout=timeout)
    evs = []
    if os.path.exists(path):
        with open(path) as f:
            evs = [json.loads(line) for line in f.read().splitlines() if line]
    emitted = None
    for line in reversed(r.out.splitlines()):
        if line.startswith(netutil.JSON_MARK):
            emitted = json.loads(line[len(netutil.JSON_MARK):])
            break
    return r, evs, emitted


def need_emitted(obj, r):
    if obj is None:
        pytest.fail("the script inside the sandbox printed no result:%r" % (r,))
    return obj


def no_crash(r):
    for mark in CRASH_MARKS:
        assert mark not in r.err, (mark, r)


def connections(evs, port=None, via=None):
    return [e for e in evs if e["event"] == "connection"
            and (port is None or e.get("port") == port) and (via is None or e.get("via") == via)]


def check_connection_fields(evs):
    """Every connection event carries error, closed_by, timeout and
    bytes_missing (docs/events.md), with their types."""
    for e in connections(evs):
        for key in ("error", "closed_by", "timeout", "bytes_missing"):
            assert key in e, (key, e)
        assert e["error"] is None or isinstance(e["error"], str), e
        assert e["closed_by"] in ("client", "server", "srt", None), e
        assert e["timeout"] is None or isinstance(e["timeout"], str), e
        assert isinstance(e["bytes_missing"], int) and not isinstance(e["bytes_missing"], bool), e
        assert e["bytes_missing"] >= 0, e


# --- a client that drops in the middle ------------------------------------------

DROPS = r'''
P, ROUNDS = int(sys.argv[1]), int(sys.argv[2])
SIZE = 4 << 20
passed, failed = 0, 0


def check(name, cond, detail=""):
    global passed, failed
    if cond:
        passed += 1
    else:
        failed += 1
        print("FAIL %s: %s" % (name, detail), flush=True)


for proto in PROTOS:
    for how in ("fin", "rst"):
        for i in range(ROUNDS):
            name = "%s %s %d" % (proto, how, i)
            try:
                abort_download(proto, P, how, SIZE)
                check("abort " + name, True)
            except Exception as e:
                check("abort " + name, False, repr(e))
            # The same proxy still answers in full.
            r = download(proto, P, 1000)
            check("after " + name, full_ok(r, 1000), r)
        print("survived %s %s x%d" % (proto, how, ROUNDS), flush=True)
for proto in PROTOS:
    r = download(proto, P, SIZE)
    check("full " + proto, full_ok(r, SIZE), r)
print("checks: %d passed, %d failed" % (passed, failed), flush=True)
sys.exit(7)
'''


def test_client_drops_mid_body_and_mid_tunnel(net):
    """A client that closes (FIN) or resets (RST) its connection while a
    4 MiB body or tunnel stream flows to it ends that connection only: srt
    lives on (no SIGPIPE), answers the next request in full, and the
    command's own exit status comes back."""
    srv = netutil.BodyServer()
    net.servers.append(srv)
    rounds = 30
    r, evs, _ = run_inside(net, DROPS, srv.port, rounds, settings=settings(srv.port))
    assert r.rc == 7, r
    n_protos = 4
    want = n_protos * 2 * rounds * 2 + n_protos
    assert "checks: %d passed, 0 failed" % want in r.out, r
    no_crash(r)
    check_connection_fields(evs)
    for via in ("http", "connect", "socks5"):
        conns = [e for e in connections(evs, srv.port, via) if e["decision"] == "allowed"]
        summary = (via, collections.Counter((e["closed_by"], e["error"], e["timeout"]) for e in conns))
        # Nothing here was cut by srt or by the server.
        assert all(e["closed_by"] in ("client", None) and e["timeout"] is None for e in conns), summary
        if via == "http":
            # A body the client did not wait for: the client ended it.
            cut = [e for e in conns if e["bytes_missing"] > 0]
            assert cut and all(e["closed_by"] == "client" for e in cut), summary
        else:
            # Each aborted tunnel (and each complete one) was closed by
            # the client; the last may still be open as the command ends.
            assert len([e for e in conns if e["closed_by"] == "client"]) >= 4 * rounds, summary


PARALLEL = r'''
import threading
P, BIG, ROUNDS = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
LONG = ("http", "socks5")
started = threading.Event()
aborters_done = threading.Event()
long_res = {}
aborts = {"ok": 0, "errors": [], "during": 0}
lock = threading.Lock()


def pace(n):
    started.set()
    if not aborters_done.is_set():
        time.sleep(0.05)  # stay in the middle of the body while the others abort


def long_download(proto):
    long_res[proto] = download(proto, P, BIG, pace=pace, timeout=30)


def aborter(proto):
    started.wait(20)
    for i in range(ROUNDS):
        try:
            abort_download(proto, P, ("fin", "rst")[i % 2])
            with lock:
                aborts["ok"] += 1
                if len(long_res) < len(LONG):
                    aborts["during"] += 1
        except Exception as e:
            with lock:
                aborts["errors"].append("%s %d: %r" % (proto, i, e))


longs = [threading.Thread(target=long_download, args=(p,)) for p in LONG]
for t in longs:
    t.start()
ab = [threading.Thread(target=aborter, args=(p,)) for p in PROTOS]
for t in ab:
    t.start()
for t in ab:
    t.join()
aborters_done.set()
for t in longs:
    t.join()
emit({"long": long_res, "aborts": aborts})
'''


def test_client_drops_in_parallel_while_another_download_runs(net):
    """Connections dropped by their clients while two 64 MiB downloads
    (HTTP proxy and SOCKS5) run on: the long downloads get every byte."""
    srv = netutil.BodyServer()
    net.servers.append(srv)
    big = 64 * MIB
    rounds = 15
    r, evs, res = run_inside(net, PARALLEL, srv.port, big, rounds, settings=settings(srv.port))
    no_crash(r)
    res = need_emitted(res, r)
    assert r.rc == 0, r
    want = netutil.pattern_sha256(big)
    for proto, got in res["long"].items():
        assert got["error"] is None and got["status"] == 200, (proto, got)
        assert got["length"] == big and got["sha256"] == want, (proto, got)
    assert res["aborts"]["errors"] == [], res["aborts"]
    assert res["aborts"]["ok"] == 4 * rounds, res["aborts"]
    assert res["aborts"]["during"] >= 1, res["aborts"]  # they did overlap


# --- an upstream that stops short -----------------------------------------------

CUTS = r'''
P, PLAN, ANN = int(sys.argv[1]), json.loads(sys.argv[2]), int(sys.argv[3])
out = []
bad = 0
for sent, pieces in PLAN:
    rec = {"sent": sent, "pieces": pieces, "status": None, "announced": None, "length": 0,
           "same": False, "closed": False, "error": None}
    s = None
    try:
        s = open_get("http", P, "/cut/%d/%d/%d" % (ANN, sent, pieces))
        head, first = read_head(s)
        rec["status"], rec["announced"] = head_status(head), head_length(head)
        s.settimeout(5)
        chunks = [first]
        while True:
            try:
                d = s.recv(1 << 20)
            except socket.timeout:
                rec["error"] = "still open 5 s after the last byte"
                break
            except OSError as e:
                rec["closed"], rec["error"] = True, "reset: %s" % e
                break
            if not d:
                rec["closed"] = True
                break
            chunks.append(d)
        body = b"".join(chunks)
        rec["length"], rec["same"] = len(body), body == pattern(sent)
    except (OSError, EOFError) as e:
        rec["error"] = repr(e)
    finally:
        if s is not None:
            s.close()
    out.append(rec)
    if not (rec["length"] == sent and rec["same"] and rec["closed"]):
        bad += 1
        if bad >= 3:
            break
emit(out)
'''


def test_upstream_closes_mid_body_every_byte_delivered(net):
    """An upstream that announces 1 MiB, sends 300,000 (or 1,000,000) bytes
    and closes: every byte it sent reaches the client, then the client's
    connection closes; 50 of 50. The event says the server closed and how
    much was missing."""
    srv = netutil.CutBodyServer()
    net.servers.append(srv)
    plan = [(1000000 if i % 5 == 4 else 300000, 1 if i % 2 == 0 else 4) for i in range(50)]
    r, evs, res = run_inside(net, CUTS, srv.port, json.dumps(plan), ANNOUNCED, settings=settings(srv.port))
    no_crash(r)
    res = need_emitted(res, r)
    assert r.rc == 0, r
    good = [x for x in res if x["status"] == 200 and x["announced"] == ANNOUNCED and x["length"] == x["sent"]
            and x["same"] and x["closed"]]
    assert len(good) == len(plan), ("%d of %d complete" % (len(good), len(plan)),
                                     [x for x in res if x not in good][:3])
    check_connection_fields(evs)
    server_closed = [e for e in connections(evs, srv.port, "http") if e["closed_by"] == "server"]
    got = collections.Counter(e["bytes_missing"] for e in server_closed)
    want = collections.Counter(ANNOUNCED - sent for sent, _ in plan)
    assert got == want, (got, want, connections(evs, srv.port)[:3])
    assert all(e["decision"] == "allowed" for e in server_closed), server_closed[:3]


TUNNEL_CUTS = r'''
P, PLAN = int(sys.argv[1]), json.loads(sys.argv[2])
out = []
for proto, sent, pieces in PLAN:
    rec = {"proto": proto, "sent": sent, "length": 0, "same": False, "closed": False, "error": None}
    s = None
    try:
        s = open_tunnel(proto, P)
        s.sendall(b"GET /stream/%d/%d HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n" % (sent, pieces))
        s.settimeout(5)
        chunks = []
        while True:
            try:
                d = s.recv(1 << 20)
            except socket.timeout:
                rec["error"] = "still open 5 s after the last byte"
                break
            except OSError as e:
                rec["closed"], rec["error"] = True, "reset: %s" % e
                break
            if not d:
                rec["closed"] = True
                break
            chunks.append(d)
        body = b"".join(chunks)
        rec["length"], rec["same"] = len(body), body == pattern(sent)
    except (OSError, EOFError) as e:
        rec["error"] = repr(e)
    finally:
        if s is not None:
            s.close()
    out.append(rec)
emit(out)
'''


def test_upstream_closes_mid_stream_in_tunnel_every_byte_delivered(net):
    """The same in CONNECT and SOCKS5 tunnels: what the server sent before
    its FIN all arrives, then the client sees the end."""
    srv = netutil.CutBodyServer()
    net.servers.append(srv)
    plan = [(proto, 1000000 if i % 3 == 2 else 300000, 1 if i % 2 == 0 else 4)
            for i in range(6) for proto in ("connect", "socks5")]
    r, evs, res = run_inside(net, TUNNEL_CUTS, srv.port, json.dumps(plan), settings=settings(srv.port))
    no_crash(r)
    res = need_emitted(res, r)
    assert r.rc == 0, r
    bad = [x for x in res if not (x["length"] == x["sent"] and x["same"] and x["closed"])]
    assert bad == [] and len(res) == len(plan), ("%d of %d incomplete" % (len(bad), len(plan)), bad[:3])


# --- an upstream that never answers -------------------------------------------

STALL = r'''
P = int(sys.argv[1])
t0 = time.monotonic()
r = get("127.0.0.1", P, "/stall")
emit({"r": r, "elapsed": time.monotonic() - t0})
'''


def test_stalled_upstream_gets_504(net):
    """An upstream that reads the request and never answers: with
    timeouts.response 1 the client gets a 504 after about a second, and the
    event says the response timeout ended it."""
    srv = netutil.SilentServer()
    net.servers.append(srv)
    r, evs, res = run_inside(net, STALL, srv.port, settings=settings(srv.port, timeouts=TIMEOUTS))
    no_crash(r)
    res = need_emitted(res, r)
    assert r.rc == 0, r
    assert res["r"].get("status") == 504 and res["r"].get("version") == "HTTP/1.1", res
    assert 0.8 <= res["elapsed"] <= 10, res
    assert srv.heads == 1, srv.heads
    check_connection_fields(evs)
    conns = connections(evs, srv.port, "http")
    assert len(conns) == 1, connections(evs)
    e = conns[0]
    assert e["decision"] == "allowed" and e["timeout"] == "response" and e["closed_by"] == "srt", e


# --- tunnels: idle and busy ---------------------------------------------------

IDLE = r'''
proto, P = sys.argv[1], int(sys.argv[2])
s = open_tunnel(proto, P)
s.sendall(b"ping\n")
echoed = recvn(s, 5) == b"ping\n"
t0 = time.monotonic()
s.settimeout(10)
closed, extra = False, b""
try:
    extra = s.recv(100)
    closed = extra == b""
except socket.timeout:
    pass
except OSError:
    closed = True
emit({"echoed": echoed, "closed": closed, "extra": extra.hex(), "elapsed": time.monotonic() - t0})
'''


@pytest.mark.parametrize("proto", ["connect", "socks5"])
def test_idle_tunnel_closed_after_tunnel_idle(net, proto):
    """A tunnel where nothing moves either way for timeouts.tunnelIdle (1 s)
    is closed by srt: the client sees the end, the event says why."""
    e = net.echo()
    r, evs, res = run_inside(net, IDLE, proto, e.port, settings=settings(e.port, timeouts=TIMEOUTS))
    no_crash(r)
    res = need_emitted(res, r)
    assert r.rc == 0, r
    assert res["echoed"] is True, res
    assert res["closed"] is True and res["extra"] == "", res
    assert 0.8 <= res["elapsed"] <= 10, res
    check_connection_fields(evs)
    conns = connections(evs, e.port, proto)
    assert len(conns) == 1, connections(evs)
    ev = conns[0]
    assert ev["decision"] == "allowed" and ev["timeout"] == "tunnelIdle" and ev["closed_by"] == "srt", ev


BUSY = r'''
E, L, TICKS = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
tunnels = []
for proto in ("connect", "socks5"):
    tunnels.append((proto + " both", open_tunnel(proto, E)))   # a byte each way per tick
    tunnels.append((proto + " up", open_tunnel(proto, L)))     # client to server only
    t = open_tunnel(proto, L)                                 # server to client only
    t.sendall(b"tick %d 300\n" % TICKS)
    tunnels.append((proto + " down", t))
result = {name: None for name, _ in tunnels}
down = {name: b"" for name, _ in tunnels}


def fail(name, why):
    if result[name] is None:
        result[name] = why


t0 = time.monotonic()
for k in range(TICKS):
    time.sleep(max(0.0, t0 + 0.3 * (k + 1) - time.monotonic()))
    for name, s in tunnels:
        if result[name] is not None:
            continue
        try:
            if name.endswith("both"):
                s.sendall(b".")
                if recvn(s, 1) != b".":
                    fail(name, "wrong echo at tick %d" % k)
            elif name.endswith("up"):
                s.sendall(b"x")
            else:
                while select.select([s], [], [], 0)[0]:
                    d = s.recv(100)
                    if not d:
                        fail(name, "closed at tick %d" % k)
                        break
                    down[name] += d
        except (OSError, EOFError) as e:
            fail(name, "tick %d: %r" % (k, e))
busy_for = time.monotonic() - t0
for name, s in tunnels:
    if result[name] is not None:
        continue
    try:
        if name.endswith("both"):
            s.sendall(b"still\n")
            ok = recvn(s, 6) == b"still\n"
        elif name.endswith("up"):
            s.sendall(b"\n")
            ok = recvn(s, 6) == b"alive\n"
        else:
            while not down[name].endswith(b"end\n"):
                d = s.recv(100)
                if not d:
                    raise EOFError("closed after %r" % down[name])
                down[name] += d
            s.sendall(b"ping\n")
            ok = down[name] == b"." * TICKS + b"end\n" and recvn(s, 6) == b"alive\n"
        result[name] = "ok" if ok else "wrong answer at the end (%r)" % down[name]
    except (OSError, EOFError) as e:
        result[name] = "at the end: %r" % e
emit({"result": result, "busy_for": busy_for})
'''


def test_busy_tunnel_not_closed(net):
    """Tunnels with a byte every 0.3 s for 2.7 s (both ways, client to
    server only, server to client only), CONNECT and SOCKS5, tunnelIdle 1:
    none is closed."""
    e = net.echo()
    lines = netutil.PacedLineServer()
    net.servers.append(lines)
    r, evs, res = run_inside(net, BUSY, e.port, lines.port, 9,
                             settings=settings(e.port, lines.port, timeouts=TIMEOUTS))
    no_crash(r)
    res = need_emitted(res, r)
    assert r.rc == 0, r
    assert res["busy_for"] >= 2.5, res
    assert res["result"] == {k: "ok" for k in res["result"]}, res
    assert len(res["result"]) == 6, res
    check_connection_fields(evs)
    assert [x for x in connections(evs) if x["timeout"] is not None] == [], connections(evs)


# --- slow but moving responses -------------------------------------------------

SLOW = r'''
P, PATH, N = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
t0 = time.monotonic()
out = {"status": None, "body_ok": False, "error": None}
try:
    s = open_get("http", P, PATH, timeout=20)
    head, body = read_head(s)
    out["status"] = head_status(head)
    out["head_after"] = time.monotonic() - t0
    body += recvn(s, head_length(head) - len(body))
    out["body_ok"] = body == pattern(N)
    s.close()
except (OSError, EOFError) as e:
    out["error"] = repr(e)
out["elapsed"] = time.monotonic() - t0
emit(out)
'''


def test_slow_body_not_cut(net):
    """timeouts.response 1: a head after 0.5 s and then a body byte every
    0.3 s (2.4 s in all) arrives whole; the response timeout is not a limit
    on the whole response."""
    srv = netutil.PacedHTTPServer()
    net.servers.append(srv)
    r, evs, res = run_inside(net, SLOW, srv.port, "/paced/500/8/300", 8,
                             settings=settings(srv.port, timeouts=TIMEOUTS))
    no_crash(r)
    res = need_emitted(res, r)
    assert r.rc == 0, r
    assert res["status"] == 200 and res["body_ok"] is True, res
    assert res["elapsed"] >= 2.4, res  # it really was slow
    check_connection_fields(evs)
    assert [x for x in connections(evs) if x["timeout"] is not None] == [], connections(evs)


LONG_POLL = r'''
import threading
P, E = int(sys.argv[1]), int(sys.argv[2])
out = {}


def tunnel(proto):
    try:
        s = open_tunnel(proto, E, timeout=20)
        s.sendall(b"first\n")
        first = recvn(s, 6) == b"first\n"
        time.sleep(3.5)
        s.sendall(b"later\n")
        out[proto] = first and recvn(s, 6) == b"later\n"
    except (OSError, EOFError) as e:
        out[proto] = repr(e)


ts = [threading.Thread(target=tunnel, args=(p,)) for p in ("connect", "socks5")]
for t in ts:
    t.start()
t0 = time.monotonic()
try:
    s = open_get("http", P, "/paced/3000/5/0", timeout=20)
    head, body = read_head(s)
    body += recvn(s, head_length(head) - len(body))
    out["http"] = head_status(head) == 200 and body == pattern(5)
except (OSError, EOFError) as e:
    out["http"] = repr(e)
out["elapsed"] = time.monotonic() - t0
for t in ts:
    t.join()
emit(out)
'''


def test_default_timeouts_do_not_cut_long_polls(net):
    """Without network.timeouts: a response whose head comes after 3 s
    arrives (the default response timeout is 300 s), and tunnels idle for
    3.5 s stay open."""
    srv = netutil.PacedHTTPServer()
    net.servers.append(srv)
    e = net.echo()
    r, evs, res = run_inside(net, LONG_POLL, srv.port, e.port, settings=settings(srv.port, e.port))
    no_crash(r)
    res = need_emitted(res, r)
    assert r.rc == 0, r
    assert res["http"] is True and res["elapsed"] >= 3.0, res
    assert res["connect"] is True and res["socks5"] is True, res
    check_connection_fields(evs)
    assert [x for x in connections(evs) if x["timeout"] is not None] == [], connections(evs)


# --- the event fields -----------------------------------------------------------

PLAIN = r'''
P = int(sys.argv[1])
ok = download("http", P, 1000)
denied = get("127.0.0.1", 1)
emit({"ok": full_ok(ok, 1000), "denied": denied.get("status")})
'''


def test_connection_events_say_how_they_ended(net):
    """An allowed exchange that ends normally (the client closes) and a
    refused one: both events carry error, closed_by, timeout and
    bytes_missing; the normal one has no error, no timeout, nothing
    missing."""
    srv = netutil.BodyServer()
    net.servers.append(srv)
    r, evs, res = run_inside(net, PLAIN, srv.port, settings=settings(srv.port))
    res = need_emitted(res, r)
    assert r.rc == 0, r
    assert res == {"ok": True, "denied": 403}, res
    check_connection_fields(evs)
    allowed = [e for e in connections(evs, srv.port) if e["decision"] == "allowed"]
    assert len(allowed) == 1, connections(evs)
    e = allowed[0]
    # The client closed a connection with nothing under way: "client", or
    # null (no exchange was cut).
    assert e["closed_by"] in ("client", None) and e["error"] is None and e["timeout"] is None, e
    assert e["bytes_missing"] == 0, e
    denied = [x for x in connections(evs, 1) if x["decision"] == "denied"]
    assert len(denied) == 1, connections(evs)
