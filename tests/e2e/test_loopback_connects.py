# Loopback connects inside the sandbox, as the connect broker carries them out and the observer reports them: srt's own proxy listeners and the sandbox's own servers are no violation, a host service is, blocking and non-blocking alike; each program sees the kernel's own answers (the handshake's outcome, SO_ERROR left for it to read).
#
# Every address used is a loopback one.
import json
import os
import socket

from conftest import PY

NOPYC = {"PYTHONDONTWRITEBYTECODE": "1"}

# Non-blocking connect, then wait and read SO_ERROR, as curl and Node do.
NB = """
import errno, os, select, socket
def nb(port, host='127.0.0.1'):
    s = socket.socket()
    s.setblocking(False)
    r = s.connect_ex((host, port))
    if r not in (0, errno.EINPROGRESS):
        return s, r
    select.select([], [s], [], 5)
    return s, s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
"""


def run_ev(ctx, args, settings=None, opts=()):
    path = os.path.join(ctx.root, "events-%s.jsonl" % ctx.token())
    r = ctx.run(args, settings=settings or {}, opts=["--events", path] + list(opts), env=NOPYC)
    with open(path) as f:
        evs = [json.loads(l) for l in f.read().splitlines() if l]
    return r, [e for e in evs if e["event"] == "violation" and e["kind"] == "network"]


def host_listener():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(4)
    return s, s.getsockname()[1]


def test_connects_to_srt_proxies_are_no_violation(ctx):
    # Many connects to srt's own listeners, blocking and not, each one
    # reaching the proxy (it answers a bad request with 400).
    code = NB + (
        "port = int(os.environ['HTTP_PROXY'].rsplit(':', 1)[1])\n"
        "socks = int(os.environ['ALL_PROXY'].rsplit(':', 1)[1])\n"
        "ok = 0\n"
        "for i in range(60):\n"
        "    if i % 2:\n"
        "        s = socket.create_connection(('127.0.0.1', port if i % 3 else socks))\n"
        "        e = 0\n"
        "    else:\n"
        "        s, e = nb(port)\n"
        "        s.setblocking(True)\n"
        "    if e == 0 and s.getpeername()[1] in (port, socks):\n"
        "        ok += 1\n"
        "    s.close()\n"
        "print('ok', ok)\n")
    r, v = run_ev(ctx, [PY, "-c", code])
    assert r.rc == 0 and "ok 60" in r.out, r
    assert v == [], v


def test_nonblocking_connect_to_a_host_service_is_refused_and_reported(ctx):
    srv, port = host_listener()
    try:
        code = NB + ("s, e = nb(%d)\nprint('so_error', errno.errorcode.get(e, e))\n"
                     # the error was the program's to read: once read, gone
                     "print('again', s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR))\n" % port)
        r, v = run_ev(ctx, [PY, "-c", code], opts=["-q"])
    finally:
        srv.close()
    assert r.rc == 0 and "so_error ECONNREFUSED" in r.out and "again 0" in r.out, r
    assert [(e["operation"], e["target"], e["source"]) for e in v] == [
        ("connect", "127.0.0.1:%d" % port, "observer")], v
    assert "allowedDomains" in v[0]["rule"], v


def test_blocking_connect_to_a_host_service_is_refused_and_reported(ctx):
    srv, port = host_listener()
    try:
        code = ("import socket\ns = socket.socket()\n"
                "try:\n s.connect(('127.0.0.1', %d)); print('connected')\n"
                "except OSError as e:\n print('failed', e.errno)\n" % port)
        r, v = run_ev(ctx, [PY, "-c", code], opts=["-q"])
    finally:
        srv.close()
    assert r.rc == 0 and "failed 111" in r.out, r  # ECONNREFUSED
    assert [(e["target"], e["source"]) for e in v] == [("127.0.0.1:%d" % port, "observer")], v


def test_connects_to_servers_inside_work_and_are_no_violation(ctx):
    # The sandbox's own server, on a port where the host listens too:
    # the handshake reached the one inside, nothing was tried on the host.
    srv, port = host_listener()
    srv.close()  # the port number, free again on the host
    srv, hport = host_listener()
    try:
        code = NB + (
            "l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
            "l.bind(('127.0.0.1', %d)); l.listen(64)\n"
            "h = socket.socket(); h.bind(('127.0.0.1', %d)); h.listen(4)\n"
            "got = []\n"
            "for i in range(20):\n"
            "    if i %% 2:\n"
            "        s = socket.create_connection(('127.0.0.1', %d if i %% 4 == 1 else %d)); e = 0\n"
            "    else:\n"
            "        s, e = nb(%d if i %% 4 == 0 else %d); s.setblocking(True)\n"
            "    c, _ = (l if s.getpeername()[1] == %d else h).accept()\n"
            "    s.sendall(b'x%%d' %% i); got.append((e, c.recv(8)))\n"
            "    c.close(); s.close()\n"
            "print('errors', sorted(set(e for e, _ in got)), 'data', len(set(d for _, d in got)))\n"
            % (port, hport, port, hport, port, hport, port))
        r, v = run_ev(ctx, [PY, "-c", code])
    finally:
        srv.close()
    assert r.rc == 0 and "errors [0] data 20" in r.out, r
    assert v == [], v


def test_nonblocking_connect_to_nothing_is_refused_and_not_reported(ctx):
    srv, port = host_listener()
    srv.close()  # nobody listens there, inside or on the host
    code = NB + "s, e = nb(%d)\nprint('so_error', errno.errorcode.get(e, e))\n" % port
    r, v = run_ev(ctx, [PY, "-c", code])
    assert r.rc == 0 and "so_error ECONNREFUSED" in r.out, r
    assert v == [], v
