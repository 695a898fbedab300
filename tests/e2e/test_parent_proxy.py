# Parent proxies (network.parentProxy, the caller's HTTPS_PROXY / NO_PROXY) and custom proxy servers (network.mitmProxy): what the parent sees, authentication, refusals, noProxy, the allow list deciding first, and what the sandbox never sees.
#
# The parents are Python servers of this process on 127.0.0.1 (parent_proxy.py)
# that resolve every *.test name to 127.0.0.1 themselves. srt runs in the
# namespace of netutil.Net; with hosts={} no *.test name resolves there, so a
# request that works through the parent proves srt sent the name, not an
# address. Nothing here uses an address outside loopback.
import json
import os
import socket

import pytest

import netutil
from parent_proxy import HTTPParent, SOCKSParent, make_ca

HELLO = "hello from good\n"
NOPYC = {"PYTHONDONTWRITEBYTECODE": "1"}
NO_NAMES = {}  # srt's /etc/hosts: localhost only


@pytest.fixture
def net(ctx):
    n = netutil.Net(ctx)
    yield n
    n.close()


@pytest.fixture
def parents():
    made = []

    def make(kind=HTTPParent, **kw):
        p = kind(**kw)
        made.append(p)
        return p
    yield make
    for p in made:
        p.stop()


def settings(*allowed, parent=None, denied=(), **extra):
    net = {"allowedDomains": list(allowed)}
    if denied:
        net["deniedDomains"] = list(denied)
    if parent is not None:
        net["parentProxy"] = parent
    net.update(extra)
    return {"network": net}


def events_of(path):
    with open(path) as f:
        return [json.loads(l) for l in f.read().splitlines() if l]


def run_py(net, code, *args, settings=None, hosts=NO_NAMES, env=None, opts=()):
    """Code inside the sandbox (srtnet imported); returns (emitted, result, events)."""
    path = os.path.join(net.ctx.root, "ev-%s.jsonl" % net.ctx.token())
    e = dict(NOPYC)
    e.update(env or {})
    r = net.py(code, *args, settings=settings, hosts=hosts, env=e, opts=["--events", path] + list(opts))
    out = None
    for line in reversed(r.out.splitlines()):
        if line.startswith("SRTNET-JSON "):
            out = json.loads(line[len("SRTNET-JSON "):])
            break
    assert out is not None, r
    return out, r, events_of(path)


def conns(evs):
    return [e for e in evs if e["event"] == "connection"]


def assert_parent_failed(resp, parent_name, status=502, detail=None):
    assert resp.get("status") == status, resp
    assert resp["headers"].get("x-proxy-error") == "parent-proxy-failed", resp
    assert ("parent proxy " + parent_name) in resp["reason"], resp
    assert resp["reason"].isascii() and resp["reason"].isprintable(), resp
    if detail:
        assert detail in resp["reason"], resp


GET_AND_TUNNEL = (
    "P, E = int(sys.argv[1]), int(sys.argv[2])\n"
    "r = get('good.test', P)\n"
    "c, t = connect('good.test', E)\n"
    "t['echo'] = echo_ok(c) if c and t.get('status') == 200 else None\n"
    "emit([r, t])\n")


# --- HTTP parents ------------------------------------------------------------

def test_http_parent_carries_plain_http_and_tunnels_by_name(net, parents):
    o, e = net.origin("good"), net.echo()
    p = parents()
    url = "http://127.0.0.1:%d" % p.port
    (r, t), res, evs = run_py(net, GET_AND_TUNNEL, o.port, e.port, settings=settings("good.test", parent={"http": url}))
    assert r.get("status") == 200 and r["body"] == HELLO, (r, res)
    assert t.get("status") == 200 and t["echo"] is True, (t, res)
    # srt could not resolve good.test (hosts={}): the parent got the name,
    # plain HTTP as an absolute-form request, the tunnel as CONNECT.
    assert [(q["method"], q["target"]) for q in p.requests] == [
        ("GET", "good.test:%d" % o.port), ("CONNECT", "good.test:%d" % e.port)], p.requests
    assert p.requests[0]["url"] == "http://good.test:%d/hello" % o.port, p.requests
    assert p.requests[0]["headers"].get("host") == "good.test:%d" % o.port, p.requests
    assert all(q["auth"] is None for q in p.requests), p.requests
    assert len(o.requests_for("/hello")) == 1
    ok = [c for c in conns(evs) if c["decision"] == "allowed"]
    assert len(ok) == 2 and all(c["address"] == "127.0.0.1" and not c.get("error") for c in ok), ok


def test_http_parent_basic_auth_credentials_never_shown(net, parents):
    o, e = net.origin("good"), net.echo()
    user, password = "us@er", "p:a ss/%\u00e9"
    p = parents(user=user, password=password)
    url = "http://us%%40er:p%%3Aa%%20ss%%2F%%25%%C3%%A9@127.0.0.1:%d/" % p.port
    code = GET_AND_TUNNEL.replace("emit([r, t])", "emit([r, t, dict(os.environ)])")
    (r, t, env), res, evs = run_py(net, code, o.port, e.port, settings=settings("good.test", parent={"https": url}),
                                   opts=["--debug"])
    # https is used for tunnels, and plain HTTP goes direct without http:
    # here only the tunnel goes through the parent (with no resolvable
    # name, the plain request fails).
    assert t.get("status") == 200 and t["echo"] is True, (t, res)
    assert r.get("status") == 502, r
    assert len(p.requests) == 1 and p.requests[0]["auth"].startswith("Basic "), p.requests
    # With http too, plain HTTP carries the credentials in absolute form.
    (r, t, env), res3, evs3 = run_py(net, code, o.port, e.port, opts=["--debug"],
                                     settings=settings("good.test", parent={"https": url, "http": url}))
    assert r.get("status") == 200 and r["body"] == HELLO, (r, res3)
    assert p.requests[1]["method"] == "GET" and p.requests[1]["auth"] == p.requests[0]["auth"], p.requests
    # The origin never sees the parent's credentials.
    assert all("proxy-authorization" not in q["headers"] for q in o.requests), o.requests
    # Wrong password: the parent's 407 becomes srt's 502, naming the parent.
    p.password = "other"
    code = "c, t = connect('good.test', %d)\nemit(t)\n" % e.port
    t2, res2, evs2 = run_py(net, code, settings=settings("good.test", parent={"https": url}), opts=["--debug"])
    assert_parent_failed(t2, "http://127.0.0.1:%d" % p.port, detail="407")
    failed = [c for c in conns(evs2) if c["decision"] == "allowed"]
    assert len(failed) == 1 and "407" in failed[0]["error"] and "parent proxy" in failed[0]["error"], failed
    # Wrong password on plain HTTP: the parent's 407 is srt's 502 too.
    code = "emit(get('good.test', %d))\n" % o.port
    r4, res4, evs4 = run_py(net, code, settings=settings("good.test", parent={"http": url}), opts=["--debug"])
    assert_parent_failed(r4, "http://127.0.0.1:%d" % p.port, detail="407")
    assert "proxy-authenticate" not in r4["headers"], r4
    everything = (res.out + res.err + res2.out + res2.err + res3.err + res4.err + json.dumps(evs) + json.dumps(evs2)
                  + json.dumps(evs3) + json.dumps(evs4) + json.dumps(t2) + json.dumps(r4))
    for secret in ("us%40er", "p%3Aa", "us@er", "p:a ss", "dXNAZXI6"):
        assert secret not in everything, secret
    assert env.get("HTTPS_PROXY") == "http://127.0.0.1:3128", env
    assert not any("p%3Aa" in v or "us%40er" in v for v in env.values()), env


@pytest.mark.parametrize("status", [403, 407, 502])
def test_http_parent_refusal_is_502_naming_the_parent(net, parents, status):
    e = net.echo()
    p = parents(refuse=status)
    code = ("E = int(sys.argv[1])\n"
            "c, t = connect('good.test', E)\n"
            "s, info = socks('good.test', E)\n"
            "emit([t, info])\n")
    (t, info), res, evs = run_py(net, code, e.port, settings=settings("good.test", parent={"http": "127.0.0.1:%d" % p.port}))
    assert_parent_failed(t, "http://127.0.0.1:%d" % p.port, detail="HTTP %d" % status)
    assert "parent proxy" in t["body"], t
    assert info.get("rep") == {403: 0x02, 407: 0x02, 502: 0x04}[status], info
    assert e.connections == 0
    failed = [c for c in conns(evs) if c["decision"] == "allowed"]
    assert len(failed) == 2 and all(str(status) in c["error"] for c in failed), failed


def test_parent_that_allows_connect_to_443_only_still_carries_plain_http(net, parents):
    o = net.origin("good")
    p = parents(refuse_connect_ports=[o.port])
    code = "P = int(sys.argv[1])\nc, t = connect('good.test', P)\nemit([get('good.test', P), t])\n"
    (r, t), res, evs = run_py(net, code, o.port, settings=settings("good.test", parent={"http": "http://127.0.0.1:%d" % p.port}))
    assert r.get("status") == 200 and r["body"] == HELLO, (r, res)
    assert_parent_failed(t, "http://127.0.0.1:%d" % p.port, detail="HTTP 403")


def test_plain_http_gets_the_parents_own_answers(net, parents):
    p = parents()
    # The parent cannot reach the target (nothing listens there): its own
    # 502 page reaches the client, as it would without srt.
    port = net.closed_port()
    r, res, evs = run_py(net, "emit(get('good.test', int(sys.argv[1])))\n", port,
                         settings=settings("good.test", parent={"http": "http://127.0.0.1:%d" % p.port}))
    assert r.get("status") == 502 and "x-proxy-error" not in r["headers"], r


def test_parent_down_is_502_and_socks_general_failure(net, parents):
    e = net.echo()
    port = net.closed_port()
    code = ("E = int(sys.argv[1])\n"
            "c, t = connect('good.test', E)\n"
            "r = get('good.test', E)\n"
            "s, info = socks('good.test', E)\n"
            "emit([t, r, info])\n")
    (t, r, info), res, evs = run_py(net, code, e.port, settings=settings("good.test", parent={"http": "http://127.0.0.1:%d" % port}))
    for resp in (t, r):
        assert_parent_failed(resp, "http://127.0.0.1:%d" % port, detail="connection refused")
    assert info.get("rep") == 0x01, info
    assert e.connections == 0


def test_parent_that_hangs_is_504(net, parents):
    p = parents(hang=True)
    code = ("c, t = connect('good.test', 443)\n"
            "s, info = socks('good.test', 443)\n"
            "emit([t, info])\n")
    s = settings("good.test", parent={"http": "http://127.0.0.1:%d" % p.port}, timeouts={"connect": 1})
    (t, info), res, evs = run_py(net, code, settings=s)
    assert_parent_failed(t, "http://127.0.0.1:%d" % p.port, status=504, detail="in time")
    assert info.get("rep") == 0x06, info
    failed = [c for c in conns(evs) if c["decision"] == "allowed"]
    assert failed and all(c.get("timeout") == "connect" for c in failed), failed


def test_allow_list_decides_before_the_parent(net, parents):
    p = parents()
    code = ("c, t = connect('evil.test', 443)\n"
            "r = get('other.test', 80)\n"
            "s, info = socks('evil.test', 443)\n"
            "emit([t, r, info])\n")
    (t, r, info), res, evs = run_py(net, code, settings=settings("good.test", denied=["evil.test"],
                                                                 parent={"http": "http://127.0.0.1:%d" % p.port}))
    assert t.get("status") == 403 and t["headers"].get("x-proxy-error") == "blocked-by-allowlist", t
    assert r.get("status") == 403, r
    assert info.get("rep") == 0x02, info
    assert p.connections == 0 and p.requests == []


def test_parent_is_not_reachable_from_inside(net, parents):
    p = parents()
    code = ("P = int(sys.argv[1])\n"
            "import socket\n"
            "try:\n"
            "    socket.create_connection(('127.0.0.1', P), timeout=3).close(); direct = 'connected'\n"
            "except OSError as e:\n"
            "    direct = 'refused'\n"
            "c, t = connect('127.0.0.1', P)\n"
            "emit([direct, t])\n")
    (direct, t), res, evs = run_py(net, code, p.port, settings=settings("good.test", parent={"http": "http://127.0.0.1:%d" % p.port}))
    assert direct == "refused", res
    assert t.get("status") == 403, t
    assert p.connections == 0


# --- HTTPS parents ---------------------------------------------------------------

@pytest.fixture
def test_ca(net):
    d = net.ctx.mkdir(os.path.join(net.ctx.root, "ca"))
    return make_ca(d)


def test_https_parent_verified_with_the_host_trust_store(net, parents, test_ca):
    o, e = net.origin("good"), net.echo()
    ca, cert, key = test_ca
    p = parents(tls=(cert, key), user="u", password="pw")
    env = {"SSL_CERT_FILE": ca}
    for url, hosts in (("https://u:pw@127.0.0.1:%d" % p.port, NO_NAMES),
                       ("https://u:pw@parent.test:%d" % p.port, {"parent.test": "127.0.0.1"})):
        (r, t), res, evs = run_py(net, GET_AND_TUNNEL, o.port, e.port, env=env, hosts=hosts,
                                  settings=settings("good.test", parent={"http": url}))
        assert r.get("status") == 200 and r["body"] == HELLO, (r, res)
        assert t.get("status") == 200 and t["echo"] is True, (t, res)
    assert [q["target"] for q in p.requests] == ["good.test:%d" % o.port, "good.test:%d" % e.port] * 2, p.requests
    assert all(q["auth"] == "Basic dTpwdw==" for q in p.requests), p.requests


def test_https_parent_with_an_untrusted_or_wrong_certificate_is_refused(net, parents, test_ca):
    ca, cert, key = test_ca
    p = parents(tls=(cert, key))
    code = "c, t = connect('good.test', 443)\nemit(t)\n"
    # Not in the trust store (no SSL_CERT_FILE): the system's roots only.
    t, res, evs = run_py(net, code, settings=settings("good.test", parent={"https": "https://127.0.0.1:%d" % p.port}))
    assert_parent_failed(t, "https://127.0.0.1:%d" % p.port, detail="certificate")
    # The same for a plain-HTTP request (absolute form, inside the TLS).
    r, res, evs = run_py(net, "emit(get('good.test', 80))\n",
                         settings=settings("good.test", parent={"http": "https://127.0.0.1:%d" % p.port}))
    assert_parent_failed(r, "https://127.0.0.1:%d" % p.port, detail="certificate")
    # Trusted CA, but the name in the URL is not the certificate's.
    t, res, evs = run_py(net, code, env={"SSL_CERT_FILE": ca}, hosts={"other.test": "127.0.0.1"},
                         settings=settings("good.test", parent={"https": "https://other.test:%d" % p.port}))
    assert_parent_failed(t, "https://other.test:%d" % p.port, detail="certificate")
    assert p.requests == []  # no CONNECT ever went out in the clear or to a wrong peer
    assert p.handshakes_failed >= 2


def test_https_parent_refusal_and_plain_http_parent_speaking_tls(net, parents, test_ca):
    ca, cert, key = test_ca
    refusing = parents(tls=(cert, key), refuse=403)
    code = "c, t = connect('good.test', 443)\nemit(t)\n"
    t, res, evs = run_py(net, code, env={"SSL_CERT_FILE": ca},
                         settings=settings("good.test", parent={"https": "https://127.0.0.1:%d" % refusing.port}))
    assert_parent_failed(t, "https://127.0.0.1:%d" % refusing.port, detail="HTTP 403")
    # An https:// URL for a parent that speaks plain HTTP (it waits for a
    # request head that never comes): no TLS handshake within the connect
    # timeout.
    plain = parents()
    t, res, evs = run_py(net, code, env={"SSL_CERT_FILE": ca},
                         settings=settings("good.test", parent={"https": "https://127.0.0.1:%d" % plain.port},
                                           timeouts={"connect": 1}))
    assert_parent_failed(t, "https://127.0.0.1:%d" % plain.port, status=504, detail="no TLS handshake in time")
    # One that answers plain HTTP: the handshake fails at once.
    talker = parents(refuse=400)
    talker.handle = lambda conn: (conn.sendall(b"HTTP/1.1 400 Bad Request\r\n\r\n"), conn.close())
    t, res, evs = run_py(net, code, env={"SSL_CERT_FILE": ca},
                         settings=settings("good.test", parent={"https": "https://127.0.0.1:%d" % talker.port}))
    assert_parent_failed(t, "https://127.0.0.1:%d" % talker.port, detail="TLS")


# --- SOCKS5 parents ------------------------------------------------------------

def test_socks5h_parent_gets_the_name_with_and_without_auth(net, parents):
    o, e = net.origin("good"), net.echo()
    anon = parents(SOCKSParent)
    authed = parents(SOCKSParent, user="alice", password="s3cr:t")
    for p, url in ((anon, "socks5h://127.0.0.1:%d" % anon.port),
                   (authed, "socks5h://alice:s3cr%%3At@127.0.0.1:%d" % authed.port)):
        (r, t), res, evs = run_py(net, GET_AND_TUNNEL, o.port, e.port, settings=settings("good.test", parent={"http": url}))
        assert r.get("status") == 200 and r["body"] == HELLO, (r, res)
        assert t.get("status") == 200 and t["echo"] is True, (t, res)
        assert [(q["host"], q["atyp"]) for q in p.requests] == [("good.test", 3), ("good.test", 3)], p.requests
        assert "s3cr" not in res.err + json.dumps(evs)
    assert authed.requests[0]["auth"] == ("alice", "s3cr:t")


def test_socks5h_parent_refusals(net, parents):
    bad_auth = parents(SOCKSParent, user="alice", password="right")
    refusing = parents(SOCKSParent, refuse=0x05)
    code = "c, t = connect('good.test', 443)\ns, info = socks('good.test', 443)\nemit([t, info])\n"
    (t, info), res, evs = run_py(net, code, settings=settings("good.test", parent={"http": "socks5h://alice:wrong@127.0.0.1:%d" % bad_auth.port}))
    assert_parent_failed(t, "socks5h://127.0.0.1:%d" % bad_auth.port, detail="user name and password")
    assert info.get("rep") == 0x01, info
    (t, info), res, evs = run_py(net, code, settings=settings("good.test", parent={"http": "socks5h://127.0.0.1:%d" % refusing.port}))
    assert_parent_failed(t, "socks5h://127.0.0.1:%d" % refusing.port, detail="SOCKS5 5")
    assert info.get("rep") == 0x05, info


def test_socks5_parent_srt_resolves_and_guards(net, parents):
    e = net.echo()
    p = parents(SOCKSParent)
    code = "c, t = connect('good.test', int(sys.argv[1]))\nt['echo'] = echo_ok(c) if t.get('status') == 200 else None\nemit(t)\n"
    url = "socks5://127.0.0.1:%d" % p.port
    # good.test resolves (for srt) to 127.0.0.1: loopback, refused by the
    # guard unless an allowedDomains IP entry lifts it.
    t, res, evs = run_py(net, code, e.port, settings=settings("good.test", parent={"http": url}), hosts=None)
    assert t.get("status") == 403 and "refused address" in t["reason"], t
    assert p.connections == 0
    t, res, evs = run_py(net, code, e.port, settings=settings("good.test", "127.0.0.1:%d" % e.port, parent={"http": url}),
                         hosts=None)
    assert t.get("status") == 200 and t["echo"] is True, (t, res)
    assert [(q["host"], q["atyp"]) for q in p.requests] == [("127.0.0.1", 1)], p.requests


# --- noProxy and the environment ---------------------------------------------------

def test_no_proxy_hosts_are_dialed_directly(net, parents):
    o = net.origin("good")
    p = parents()
    code = ("P = int(sys.argv[1])\n"
            "emit([get(h, P) for h in ('good.test', 'direct.test', 'a.corp.test', '127.0.0.1')])\n")
    s = settings("good.test", "direct.test", "*.corp.test", "127.0.0.1:%d" % o.port,
                 parent={"http": "http://127.0.0.1:%d" % p.port, "noProxy": " direct.test:8080, .corp.test "})
    # srt resolves direct.test and a.corp.test itself (its hosts file maps
    # them to 127.0.0.1, which the IP entry lets it dial).
    out, res, evs = run_py(net, code, o.port, settings=s,
                           hosts={"direct.test": "127.0.0.1", "a.corp.test": "127.0.0.1"})
    assert [r.get("status") for r in out] == [200, 200, 200, 200], (out, res)
    assert [q["host"] for q in p.requests] == ["good.test"], p.requests
    assert len(o.requests_for("/hello")) == 4


def test_host_environment_is_the_fallback(net, parents):
    o, e = net.origin("good"), net.echo()
    p = parents(user="envuser", password="envpass")
    code = GET_AND_TUNNEL.replace("emit([r, t])", "d = get('direct.test', P)\nemit([r, t, d, dict(os.environ)])")
    env = {"HTTPS_PROXY": "http://envuser:envpass@127.0.0.1:%d" % p.port,
           "http_proxy": "envuser:envpass@127.0.0.1:%d" % p.port, "NO_PROXY": "direct.test"}
    (r, t, d, inside), res, evs = run_py(net, code, o.port, e.port,
                                          settings=settings("good.test", "direct.test", "127.0.0.1:%d" % o.port),
                                          hosts={"direct.test": "127.0.0.1"}, env=env)
    assert r.get("status") == 200 and t.get("status") == 200 and t["echo"], (r, t, res)
    assert d.get("status") == 200, (d, res)
    assert [q["target"] for q in p.requests] == ["good.test:%d" % o.port, "good.test:%d" % e.port], p.requests
    # The sandbox still sees srt's own proxy.
    for k in ("HTTPS_PROXY", "HTTP_PROXY", "https_proxy", "http_proxy"):
        assert inside.get(k) == "http://127.0.0.1:3128", inside
    assert inside.get("NO_PROXY") == "localhost,127.0.0.1,::1", inside
    assert "envpass" not in json.dumps(inside) + res.err + json.dumps(evs), res


def test_settings_win_over_the_environment_and_bad_variables_are_ignored(net, parents):
    e = net.echo()
    p = parents()
    code = "c, t = connect('good.test', int(sys.argv[1]))\nemit(t)\n"
    env = {"HTTPS_PROXY": "ftp://127.0.0.1:1", "HTTP_PROXY": "http://a\x01b@127.0.0.1:1"}
    t, res, evs = run_py(net, code, e.port, settings=settings("good.test", "127.0.0.1:%d" % e.port), env=env,
                         hosts={"good.test": "127.0.0.1"})
    assert t.get("status") == 200, (t, res)  # direct: the variables were not usable
    assert "ignoring HTTPS_PROXY" in res.err and "ignoring HTTP_PROXY" in res.err, res
    assert "a\x01b" not in res.err
    env = {"HTTPS_PROXY": "http://127.0.0.1:1"}
    t, res, evs = run_py(net, code, e.port, settings=settings("good.test", parent={"https": "http://127.0.0.1:%d" % p.port}),
                         env=env)
    assert t.get("status") == 200, (t, res)
    assert len(p.requests) == 1


# --- mitmProxy -------------------------------------------------------------------

def test_mitm_proxy_gets_its_domains_over_a_unix_socket(net, parents):
    o = net.origin("good")
    path = os.path.join(net.ctx.root, "mitm.sock")
    m = parents(unix_path=path, answer="answered by mitm\n")
    code = ("P = int(sys.argv[1]); SOCK = sys.argv[2]\n"
            "import socket\n"
            "try:\n"
            "    u = socket.socket(socket.AF_UNIX); u.connect(SOCK); inside = 'connected'\n"
            "except OSError as e:\n"
            "    inside = 'refused'\n"
            "emit([get('api.mitm.test', 80), get('good.test', P), get('evil.mitm.test', 80), inside])\n")
    s = settings("*.mitm.test", "good.test", "127.0.0.1:%d" % o.port, denied=["evil.mitm.test"],
                 mitmProxy={"socketPath": path, "domains": ["*.mitm.test"]})
    (mitm, direct, denied, inside), res, evs = run_py(net, code, o.port, path, settings=s,
                                                      hosts={"good.test": "127.0.0.1"})
    assert mitm.get("status") == 200 and mitm["body"] == "answered by mitm\n", (mitm, res)
    assert direct.get("status") == 200 and direct["body"] == HELLO, (direct, res)
    assert denied.get("status") == 403, denied
    assert inside == "refused", res
    # Plain HTTP in absolute form, as to any HTTP proxy; no credentials.
    assert [(q["method"], q["url"]) for q in m.requests] == [("GET", "http://api.mitm.test/hello")], m.requests
    assert m.requests[0]["headers"].get("host") == "api.mitm.test", m.requests
    assert m.requests[0]["auth"] is None, m.requests
    # A tunnel as CONNECT.
    code = "c, t = connect('api.mitm.test', 443)\nemit(t)\n"
    t, res, evs = run_py(net, code, settings=s)
    assert t.get("status") == 200, t
    assert [(q["method"], q["target"]) for q in m.requests[1:]] == [("CONNECT", "api.mitm.test:443")], m.requests


def test_mitm_proxy_missing_socket_is_502_naming_it(net):
    path = os.path.join(net.ctx.root, "absent.sock")
    s = settings("*.mitm.test", mitmProxy={"socketPath": path, "domains": ["*.mitm.test"]})
    r, res, evs = run_py(net, "emit(get('api.mitm.test', 80))\n", settings=s)
    assert r.get("status") == 502, r
    assert r["headers"].get("x-proxy-error") == "parent-proxy-failed", r
    assert "mitmProxy socket " + path in r["reason"] and "No such file" in r["reason"], r


# --- settings ----------------------------------------------------------------------

@pytest.mark.parametrize("value,says", [
    ("ftp://proxy.test:21", "unsupported scheme"),
    ("http://user:pa%0d%0ass@proxy.test:3128", "control character"),
    ("http://proxy.test:3128/path", "path"),
    ("http://proxy.test:99999", "port"),
    ("http://us%zzer@proxy.test", "%-escape"),
    ("http://:3128", "host"),
])
def test_bad_parent_urls_are_refused_with_their_place(ctx, value, says):
    r = ctx.run(["true"], settings={"network": {"parentProxy": {"https": value}}})
    assert r.rc == 125, r
    assert "network.parentProxy.https" in r.err and says in r.err, r
    assert ":1:" in r.err or ":2:" in r.err or "settings" in r.err, r
    assert "pa\r" not in r.err and "pa%0d" not in r.err, r


@pytest.mark.parametrize("mitm,says", [
    ({"socketPath": "relative.sock", "domains": ["a.test"]}, "absolute path"),
    ({"domains": ["a.test"]}, "socketPath is missing"),
    ({"socketPath": "/run/x.sock"}, "domains is missing"),
    ({"socketPath": "/run/x.sock", "domains": ["https://a.test"]}, "network.mitmProxy.domains[0]"),
    ({"socketPath": "/run/x.sock", "domains": ["a.test"], "extra": 1}, "unknown key"),
])
def test_bad_mitm_settings_are_refused(ctx, mitm, says):
    r = ctx.run(["true"], settings={"network": {"mitmProxy": mitm}})
    assert r.rc == 125, r
    assert says in r.err, r


def test_no_proxy_setting_is_checked(ctx):
    r = ctx.run(["true"], settings={"network": {"parentProxy": {"http": "http://127.0.0.1:1", "noProxy": "ok.test, 10.0.0.0/99"}}})
    assert r.rc == 125 and "network.parentProxy.noProxy" in r.err and "entry 2" in r.err, r


def test_project_settings_cannot_name_a_parent_unless_trusted(ctx):
    ctx.write(".sandbox/settings.json", json.dumps(
        {"network": {"parentProxy": {"http": "http://127.0.0.1:1"},
                     "mitmProxy": {"socketPath": "/run/docker.sock", "domains": ["a.test"]}}}))
    r = ctx.run(["true"])
    assert r.rc == 0, r
    assert "network.parentProxy.http" in r.err and "untrusted project settings" in r.err, r
    assert "network.mitmProxy.socketPath" in r.err, r


# --- the transparent mode -----------------------------------------------------------

TRANSPARENT_CODE = r'''
import errno, select, socket
P = int(sys.argv[1])
out = {}
s = socket.create_connection(("good.test", P), timeout=10)
s.sendall(b"blocking ping\n")
out["blocking"] = s.recv(100).decode()
s.close()
fam, typ, proto, _, sa = socket.getaddrinfo("good.test", P, type=socket.SOCK_STREAM)[0]
n = socket.socket(fam, typ, proto)
n.setblocking(False)
rc = n.connect_ex(sa)
if rc == errno.EINPROGRESS:
    select.select([], [n], [], 10)
    rc = n.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
out["so_error"] = rc
n.setblocking(True)
n.settimeout(10)
n.sendall(b"nonblocking ping\n")
out["nonblocking"] = n.recv(100).decode()
emit(out)
'''


@pytest.mark.parametrize("kind", ["http", "https", "socks5h"])
def test_transparent_mode_goes_through_the_parent(net, parents, kind, tmp_path_factory):
    e = net.echo()
    env = {}
    if kind == "https":
        d = net.ctx.mkdir(os.path.join(net.ctx.root, "ca"))
        ca, cert, key = make_ca(d)
        p = parents(tls=(cert, key))
        env["SSL_CERT_FILE"] = ca
    else:
        p = parents(SOCKSParent) if kind == "socks5h" else parents()
    url = "%s://127.0.0.1:%d" % (kind, p.port)
    s = settings("good.test", parent={"https": url}, mode="transparent")
    out, res, evs = run_py(net, TRANSPARENT_CODE, e.port, settings=s, env=env)
    assert out == {"blocking": "blocking ping\n", "so_error": 0, "nonblocking": "nonblocking ping\n"}, (out, res)
    assert [q["host"] for q in p.requests] == ["good.test", "good.test"], p.requests
    ok = [c for c in conns(evs) if c["via"] == "transparent"]
    assert len(ok) == 2 and all(c["decision"] == "allowed" and not c.get("error") for c in ok), ok


def test_check_shows_the_routes_without_credentials(ctx):
    s = {"network": {"allowedDomains": ["a.test"],
                     "parentProxy": {"http": "http://alice:s3cret@proxy.test:3128", "noProxy": ".corp.test"},
                     "mitmProxy": {"socketPath": "/run/mitm.sock", "domains": ["*.m.test", "n.test"]}}}
    r = ctx.run(["check"], settings=s, env={"HTTPS_PROXY": "socks5h://bob:hunter2@127.0.0.1:1080"})
    assert r.rc == 0, r
    assert "parent proxy   http://proxy.test:3128 (with a user and password) for plain-HTTP requests  <- " in r.out, r
    assert "network.parentProxy.http" in r.out, r
    assert ("parent proxy   socks5h://127.0.0.1:1080 (with a user and password) for tunnels "
            "(CONNECT, SOCKS5, transparent)  <- HTTPS_PROXY") in r.out, r
    assert "no proxy       loopback and network.parentProxy.noProxy" in r.out, r
    assert "custom proxy   mitmProxy socket /run/mitm.sock for 2 domain patterns" in r.out, r
    for secret in ("alice", "s3cret", "bob", "hunter2"):
        assert secret not in r.out + r.err, secret


# --- what a parent may send -------------------------------------------------------------

def test_bytes_after_the_parents_answer_reach_the_client(net, parents):
    """A server that speaks first (ssh, smtp), through a parent that sends
    its first bytes in the same segment as its 200."""
    p = parents()
    p.handle = lambda conn: (read_head_only(conn), conn.sendall(b"HTTP/1.1 200 OK\r\n\r\nSSH-2.0-banner\r\n"),
                             conn.recv(100), conn.close())
    code = "c, t = connect('good.test', 22)\nt['banner'] = c.readline().decode() if t.get('status') == 200 else None\nemit(t)\n"
    t, res, evs = run_py(net, code, settings=settings("good.test", parent={"http": "http://127.0.0.1:%d" % p.port}))
    assert t.get("status") == 200 and t["banner"] == "SSH-2.0-banner\r\n", (t, res)


@pytest.mark.parametrize("answer,says", [
    (b"SSH-2.0-not-a-proxy\r\n\r\n", "malformed answer"),
    (b"HTTP/1.1 200 OK\r\nX: " + b"a" * 20000, "malformed answer"),
    (b"HTTP/1.1 200 OK\r\n", "closed the connection during the handshake"),
])
def test_a_parent_that_answers_nonsense_is_502(net, parents, answer, says):
    p = parents()
    p.handle = lambda conn: (read_head_only(conn), conn.sendall(answer), conn.close())
    code = "c, t = connect('good.test', 443)\nemit(t)\n"
    t, res, evs = run_py(net, code, settings=settings("good.test", parent={"http": "http://127.0.0.1:%d" % p.port}))
    assert_parent_failed(t, "http://127.0.0.1:%d" % p.port, detail=says)


def test_keep_alive_through_the_parent_each_request_decided(net, parents):
    o = net.origin("good")
    p = parents()
    code = ("P = int(sys.argv[1])\n"
            "c = Conn()\n"
            "r1 = exchange(c, request('good.test', P))\n"
            "r2 = exchange(c, request('good.test', P, path='/hello?again'))\n"
            "r3 = exchange(c, request('evil.test', P))\n"
            "emit([r1, r2, r3])\n")
    (r1, r2, r3), res, evs = run_py(net, code, o.port, settings=settings("good.test", parent={"http": "http://127.0.0.1:%d" % p.port}))
    assert r1.get("status") == 200 and r2.get("status") == 200, (r1, r2, res)
    assert r3.get("status") == 403, r3
    assert [q["url"] for q in p.requests] == ["http://good.test:%d/hello" % o.port], p.requests
    assert p.connections == 1  # the second request reused the connection to the parent
    assert "evil.test" not in json.dumps(p.requests)


def read_head_only(conn):
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(4096)
        if not chunk:
            break
        data += chunk
    return data


@pytest.mark.parametrize("unix", ["path", "folder", "all"])
def test_mitm_proxy_socket_stays_out_of_reach_whatever_allows_unix_sockets(net, parents, unix):
    # The mitmProxy is a proxy with the host's network: a sandbox that could
    # connect to it would skip every list. An allowUnixSockets entry (or
    # allowAllUnixSockets) that would let it in is refused before anything runs.
    path = os.path.join(net.ctx.root, "mitm-%s.sock" % unix)
    m = parents(unix_path=path, answer="answered by mitm\n")
    code = ("SOCK = sys.argv[1]\n"
            "import socket\n"
            "try:\n"
            "    u = socket.socket(socket.AF_UNIX); u.connect(SOCK)\n"
            "    u.sendall(b'GET http://elsewhere.test/ HTTP/1.1\\r\\nHost: elsewhere.test\\r\\n\\r\\n')\n"
            "    inside = u.recv(4096).decode('latin-1')\n"
            "except OSError as e:\n"
            "    inside = 'refused: %s' % e\n"
            "emit(inside)\n")
    extra = {"mitmProxy": {"socketPath": path, "domains": ["*.mitm.test"]}}
    if unix == "path":
        extra["allowUnixSockets"] = [path]
    elif unix == "folder":
        extra["allowUnixSockets"] = [os.path.dirname(path) + "/**"]
    else:
        extra["allowAllUnixSockets"] = True
    s = settings("*.mitm.test", **extra)
    r = net.py(code, path, settings=s, hosts=NO_NAMES, env=NOPYC)
    assert m.requests == [], (m.requests, r)
    assert r.rc == 125, r
    assert "mitmProxy" in r.err, r


def _held_by_a_process(port):
    """Whether some process still holds the 127.0.0.1 TCP socket with this
    local port (an orphaned one, closed by its owner, shows inode 0)."""
    with open("/proc/net/tcp") as f:
        for line in f.read().splitlines()[1:]:
            cols = line.split()
            if int(cols[1].split(":")[1], 16) == port and cols[9] != "0":
                return True
    return False


def test_https_parent_that_never_closes_does_not_keep_srts_sockets(net, parents, test_ca):
    # A silent parent keeps every finished tunnel's TLS connection open: once
    # the tunnel is gone (here: the client closed, then tunnelIdle), srt
    # must not keep its socket (and TLS state) for it, or a command that
    # opens tunnels in a loop runs srt out of descriptors.
    import threading
    import time
    ca, cert, key = test_ca
    p = parents(tls=(cert, key), hold=True)
    flag = os.path.join(net.ctx.root, "fds-checked-%s" % net.ctx.token())
    code = ("import os, time\n"
            "FLAG = sys.argv[1]\n"
            "got = []\n"
            "for i in range(3):\n"
            "    c, t = connect('good.test', 443)\n"
            "    got.append(t.get('status'))\n"
            "    if c: c.close()\n"
            "end = time.time() + 40\n"
            "while not os.path.exists(FLAG) and time.time() < end:\n"
            "    time.sleep(0.05)\n"
            "emit(got)\n")
    out = {}

    def run():
        out["r"] = net.py(code, flag, env=dict(NOPYC, SSL_CERT_FILE=ca), hosts=NO_NAMES,
                          settings=settings("good.test", parent={"https": "https://127.0.0.1:%d" % p.port},
                                           timeouts={"tunnelIdle": 1}))
    th = threading.Thread(target=run)
    th.start()
    try:
        end = time.time() + 30
        while time.time() < end and not (len(p.requests) == 3 and all(q.get("eof") for q in p.requests)):
            time.sleep(0.05)
        assert len(p.requests) == 3 and all(q.get("eof") for q in p.requests), p.requests
        ports = [q["peer_port"] for q in p.requests]
        end = time.time() + 20
        while time.time() < end and any(_held_by_a_process(pt) for pt in ports):
            time.sleep(0.1)
        held = [pt for pt in ports if _held_by_a_process(pt)]
    finally:
        with open(flag, "w"):
            pass
        th.join()
    r = out["r"]
    assert '[200, 200, 200]' in r.out, r
    assert held == [], (held, r)


@pytest.mark.parametrize("where", ["folder", "above"])
def test_mitm_proxy_socket_the_sandbox_could_replace_is_refused(net, parents, where):
    # srt connects to the socket path on the host at each request: if the
    # command may write where it lies, it can put a link to any other unix
    # socket of the host there (a container engine's, say), and srt would
    # carry the command's requests to it. Refused before anything runs.
    d = os.path.join(net.ctx.root, "w-%s-%s" % (where, net.ctx.token()))
    os.makedirs(os.path.join(d, "mitm"))
    os.chmod(d, 0o777)
    os.chmod(os.path.join(d, "mitm"), 0o777)
    path = os.path.join(d, "mitm", "mitm.sock")
    m = parents(unix_path=path, answer="answered by mitm\n")
    victim_path = os.path.join(net.ctx.root, "victim-%s.sock" % net.ctx.token())
    victim = parents(unix_path=victim_path, answer="answered by the victim\n")
    code = ("import os\n"
            "SOCK, VICTIM = sys.argv[1], sys.argv[2]\n"
            "try:\n"
            "    os.unlink(SOCK); os.symlink(VICTIM, SOCK)\n"
            "except OSError as e:\n"
            "    pass\n"
            "emit(get('api.mitm.test', 80))\n")
    s = settings("*.mitm.test", mitmProxy={"socketPath": path, "domains": ["*.mitm.test"]})
    s["filesystem"] = {"allowWrite": [os.path.dirname(path) if where == "folder" else d]}
    r = net.py(code, path, victim_path, settings=s, hosts=NO_NAMES, env=NOPYC)
    assert victim.requests == [], (victim.requests, r)
    assert r.rc == 125, r
    assert "mitmProxy" in r.err and "allowWrite" in r.err, r
