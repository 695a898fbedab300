# The features together: masked credentials over TLS that srt terminates, TLS termination and credentials through a parent proxy, live updates of excludeDomains and injectHosts over --control-fd, and credentials with a mitmProxy; checked where the user meets them (what the origin or the parent received, the events file, stderr, the exit status).
#
# The TLS origins are those of test_tls.py (a test root that srt's
# SSL_CERT_FILE names as the host's trust store), the parents those of
# parent_proxy.py; every address is a loopback one.
import json
import os
import re
import secrets
import subprocess

import pytest

import netutil
import test_control_fd as tcf
import test_credentials as tcr
import test_tls as tt
from conftest import PY
from parent_proxy import HTTPParent, SOCKSParent, make_ca

# Made per run: a file that holds a fixed test value (a copy of these
# tests under the host's /tmp, which nobody's sandbox sees) is no leak.
SECRET = "ghp_" + secrets.token_hex(18)      # 40 bytes: its stand-in is as long
SHORT = "pw" + secrets.token_hex(3)[:5]      # 7, shorter than a stand-in: the body is re-framed
STANDIN = tcr.STANDIN
NO_NAMES = {}                  # srt's /etc/hosts: localhost only (the parent resolves)
NOPYC = {"PYTHONDONTWRITEBYTECODE": "1"}


@pytest.fixture
def net(ctx):
    n = netutil.Net(ctx)
    yield n
    n.close()


@pytest.fixture
def pki(ctx):
    return tt.PKI(ctx, os.path.join(ctx.root, "pki"))


@pytest.fixture
def parents():
    made = []

    def make(kind=None, **kw):
        p = (kind or RecordingParent)(**kw)
        made.append(p)
        return p
    yield make
    for p in made:
        p.stop()


class _Recorded:
    """A socket whose traffic is kept: what the parent relayed."""

    def __init__(self, sock, log):
        self.sock, self.log = sock, log

    def fileno(self):
        return self.sock.fileno()

    def recv(self, n):
        data = self.sock.recv(n)
        self.log.append(("from-origin", data))
        return data

    def sendall(self, data):
        self.log.append(("to-origin", bytes(data)))
        return self.sock.sendall(data)

    def shutdown(self, how):
        return self.sock.shutdown(how)

    def close(self):
        return self.sock.close()


class _Recording:
    """Keeps every byte a parent of parent_proxy.py relayed between srt
    and the origin."""

    def __init__(self, **kw):
        self.log = []
        super().__init__(**kw)

    def dial(self, host, port):
        return _Recorded(super().dial(host, port), self.log)

    def relayed(self):
        with self.lock:
            return b"".join(d for _, d in self.log)


class RecordingParent(_Recording, HTTPParent):
    pass


class RecordingSOCKSParent(_Recording, SOCKSParent):
    pass


def origin(net, pki, name, **kw):
    return tt.origin(net, pki, names=(name,), name=name, **kw)


def settings(ports, creds, *more, tls=None, **net_extra):
    """tlsTerminate on, good.test and other.test allowed (and the origins'
    loopback ports, for srt's resolved-address guard)."""
    n = {"allowedDomains": ["good.test", "other.test"] + ["127.0.0.1:%d" % p for p in ports] + list(more),
         "tlsTerminate": tls if tls is not None else {}}
    n.update(net_extra)
    return {"network": n, "credentials": creds}


def token_cred(inject=("good.test",), name="GITHUB_TOKEN", **extra):
    c = {"name": name, "mode": "mask"}
    if inject is not None:
        c["injectHosts"] = list(inject)
    c.update(extra)
    return c


def run_json(net, pki, code, *args, settings=None, env=None, hosts=None, timeout=90, opts=()):
    """Code inside (srtnet imported), with --events; returns (emitted,
    result, events, events file text). srt's trust store is the test root."""
    path = os.path.join(net.ctx.root, "events-%s.jsonl" % net.ctx.token())
    e = dict(NOPYC, SSL_CERT_FILE=pki.cert_path)
    e.update(env or {})
    r = net.py(code, *args, settings=settings, env=e, hosts=hosts, opts=["--events", path] + list(opts), timeout=timeout)
    text = open(path).read() if os.path.exists(path) else ""
    evs = [json.loads(l) for l in text.splitlines() if l]
    out = None
    for line in reversed(r.out.splitlines()):
        if line.startswith(netutil.JSON_MARK):
            out = json.loads(line[len(netutil.JSON_MARK):])
            break
    assert out is not None, r
    return out, r, evs, text


def cred_violations(evs):
    return [e for e in evs if e.get("event") == "violation" and e.get("operation") == "credential"]


def never_leaked(r, events_text, *secrets):
    for s in secrets:
        assert s not in r.out and s not in r.err, (s, r)
        assert s not in events_text, s


def header(req, name):
    return [v for k, v in req["headers"] if k.lower() == name.lower()]


# A request body with stand-ins straddling every 16 KiB boundary (a TLS
# record's worth of plaintext) and so every 64 KiB one as well; defined
# as text, to be built the same way inside and here.
BODY_SRC = r'''
def straddling_body(tok, pw, size=300000):
    body = bytearray(b"x" * size)
    k = 1
    while 16384 * k + 64 < size:
        at = 16384 * k - 1 - (2 * k) % 39      # the boundary falls inside the stand-in
        t = (tok if k % 3 else pw).encode()
        body[at:at + len(t)] = t
        k += 1
    body[size - len(tok):] = tok.encode()      # and the very end
    return bytes(body)
'''
exec(BODY_SRC)


def swapped(body, tok, pw):
    """What the inject host should get: each stand-in replaced by its value."""
    return body.replace(tok.encode(), SECRET.encode()).replace(pw.encode(), SHORT.encode())


# --- 1. credentials over terminated TLS ------------------------------------------

CLIENTS = BODY_SRC + r'''
import subprocess, requests
P, O = int(sys.argv[1]), int(sys.argv[2])
tok, pw = os.environ["GITHUB_TOKEN"], os.environ["PW"]
body = straddling_body(tok, pw)
out = {"tok": tok, "pw": pw}
for name, host, port in (("good", "good.test", P), ("other", "other.test", O)):
    url = "https://%s:%d/hello" % (host, port)
    c = subprocess.run(["curl", "-sS", "--fail", "-H", "Authorization: Bearer " + tok, "--data-binary", "@-",
                        url], input=body, capture_output=True)
    out["curl_" + name] = [c.returncode, c.stdout.decode(), c.stderr.decode()]
    r = requests.post(url, headers={"Authorization": "Bearer " + tok, "X-Pw": pw}, data=body)
    out["requests_" + name] = [r.status_code, r.text]
emit(out)
'''


def test_curl_and_requests_injected_only_at_the_inject_host(net, pki):
    good, other = origin(net, pki, "good.test"), origin(net, pki, "other.test")
    s = settings([good.port, other.port], {"envVars": [token_cred(), token_cred(name="PW")]})
    res, r, evs, text = run_json(net, pki, CLIENTS, good.port, other.port, settings=s,
                                 env={"GITHUB_TOKEN": SECRET, "PW": SHORT})
    tok, pw = res["tok"], res["pw"]
    assert STANDIN.fullmatch(tok) and STANDIN.fullmatch(pw), res
    for k in ("curl_good", "curl_other"):
        assert res[k][0] == 0 and res[k][1] == "hello from %s.test\n" % k[5:], (k, res, r)
    assert res["requests_good"] == [200, "hello from good.test\n"], res
    assert res["requests_other"] == [200, "hello from other.test\n"], res
    # The inject host got the real values, in the head and all through the
    # body (the shorter one made it chunked).
    assert len(good.requests) == 2 and len(other.requests) == 2, (good.requests, other.requests)
    real_body = swapped(straddling_body(tok, pw), tok, pw)  # noqa: F821 (BODY_SRC)
    for q in good.requests:
        assert header(q, "Authorization") == ["Bearer " + SECRET], q["headers"]
        assert q["body"] == real_body, "the body the inject host got differs"
        assert tok.encode() not in q["body"] and pw.encode() not in q["body"]
    assert header(good.requests[1], "X-Pw") == [SHORT], good.requests[1]["headers"]
    assert "chunked" in header(good.requests[0], "Transfer-Encoding")[0], good.requests[0]["headers"]
    # The other host: the stand-ins, unchanged, and violations naming it.
    sent_body = straddling_body(tok, pw)  # noqa: F821
    for q in other.requests:
        assert header(q, "Authorization") == ["Bearer " + tok], q["headers"]
        assert q["body"] == sent_body, "the body the other host got was changed"
        assert SECRET.encode() not in q["body"] and SHORT.encode() not in q["body"]
    v = cred_violations(evs)
    assert {(e["target"], e["rule"].split(":")[0]) for e in v} == {
        ("other.test:%d" % other.port, "credentials.envVars[0] GITHUB_TOKEN"),
        ("other.test:%d" % other.port, "credentials.envVars[1] PW")}, v
    assert all("not one of its injectHosts" in e["rule"] for e in v), v
    # stderr says it too, naming the credential and the host
    assert re.search(r"credential.*GITHUB_TOKEN.*other\.test|other\.test.*credential.*GITHUB_TOKEN", r.err), r.err
    never_leaked(r, text, SECRET, SHORT)
    assert good.snis and set(good.snis) == {"good.test"} and set(other.snis) == {"other.test"}


RECORDS = BODY_SRC + r'''
import ssl
P = int(sys.argv[1])
tok, pw = os.environ["GITHUB_TOKEN"], os.environ["PW"]
body = straddling_body(tok, pw)
c, r = connect("good.test", P)
c.sock = ssl.create_default_context().wrap_socket(c.sock, server_hostname="good.test")
c.send("POST /hello HTTP/1.1\r\nHost: good.test:%d\r\nX-Token: %s\r\nContent-Length: %d\r\n\r\n"
       % (P, tok, len(body)))
# one TLS record per 16 KiB of the body: a stand-in at each boundary is
# cut across two records
for i in range(0, len(body), 16384):
    c.sock.sendall(body[i:i + 16384])
res = read_response(c, "POST")
res.update(tok=tok, pw=pw)
emit(res)
'''


def test_stand_ins_cut_across_tls_records(net, pki):
    good = origin(net, pki, "good.test")
    s = settings([good.port], {"envVars": [token_cred(), token_cred(name="PW")]})
    res, r, evs, text = run_json(net, pki, RECORDS, good.port, settings=s,
                                 env={"GITHUB_TOKEN": SECRET, "PW": SHORT})
    assert res["status"] == 200, (res, r)
    q = good.requests[0]
    assert header(q, "X-Token") == [SECRET], q["headers"]
    tok, pw = res["tok"], res["pw"]
    assert q["body"] == swapped(straddling_body(tok, pw), tok, pw)  # noqa: F821
    assert not cred_violations(evs), evs
    never_leaked(r, text, SECRET, SHORT)


CHUNKED_TLS = BODY_SRC + r'''
import ssl, subprocess
P = int(sys.argv[1])
tok, pw = os.environ["GITHUB_TOKEN"], os.environ["PW"]
body = straddling_body(tok, pw)
c, r = connect("good.test", P)
c.sock = ssl.create_default_context().wrap_socket(c.sock, server_hostname="good.test")
c.send("POST /hello HTTP/1.1\r\nHost: good.test:%d\r\nTransfer-Encoding: chunked\r\n\r\n" % P)
# chunks of 1000 bytes (stand-ins cut across chunks), several per TLS record
raw = b"".join(b"%x\r\n" % len(body[i:i + 1000]) + body[i:i + 1000] + b"\r\n" for i in range(0, len(body), 1000))
raw += b"0\r\n\r\n"
for i in range(0, len(raw), 16384):
    c.sock.sendall(raw[i:i + 16384])
first = read_response(c, "POST").get("status")
# curl with Expect: 100-continue (its way for big bodies): the body after the wait
e = subprocess.run(["curl", "-sS", "--fail", "-o", "/dev/null", "-H", "Expect: 100-continue", "--data-binary", "@-",
                    "https://good.test:%d/hello" % P], input=body, capture_output=True)
emit({"tok": tok, "pw": pw, "chunked": first, "expect": [e.returncode, e.stderr.decode()]})
'''


def test_chunked_and_expect_continue_bodies_over_tls(net, pki):
    good = origin(net, pki, "good.test")
    s = settings([good.port], {"envVars": [token_cred(), token_cred(name="PW")]})
    res, r, evs, text = run_json(net, pki, CHUNKED_TLS, good.port, settings=s,
                                 env={"GITHUB_TOKEN": SECRET, "PW": SHORT})
    assert res["chunked"] == 200 and res["expect"][0] == 0, (res, r)
    want = swapped(straddling_body(res["tok"], res["pw"]), res["tok"], res["pw"])  # noqa: F821
    assert [q["body"] == want for q in good.requests] == [True, True], [len(q["body"]) for q in good.requests]
    assert not cred_violations(evs), evs
    never_leaked(r, text, SECRET, SHORT)


KEEPALIVE = r'''
import ssl
P, O = int(sys.argv[1]), int(sys.argv[2])
tok = os.environ["GITHUB_TOKEN"]
def tunnel(host, port):
    c, r = connect(host, port)
    c.sock = ssl.create_default_context().wrap_socket(c.sock, server_hostname=host)
    return c
def req(c, host, port):
    return exchange(c, "GET /hello HTTP/1.1\r\nHost: %s:%d\r\nX-Token: %s\r\n\r\n" % (host, port, tok))["status"]
a = tunnel("good.test", P)
b = tunnel("other.test", O)
emit({"tok": tok,
      # the inject host first, then another on the same tunnel
      "a": [req(a, "good.test", P), req(a, "other.test", O), req(a, "good.test", P)],
      # a tunnel to the other host first, then the inject host in it
      "b": [req(b, "other.test", O), req(b, "good.test", P)]})
'''


def test_keep_alive_in_one_tunnel_second_request_to_another_host(net, pki):
    good, other = origin(net, pki, "good.test"), origin(net, pki, "other.test")
    s = settings([good.port, other.port], {"envVars": [token_cred()]}, requireHostMatch=False)
    # --debug: what srt says about each request names no value either
    res, r, evs, text = run_json(net, pki, KEEPALIVE, good.port, other.port, settings=s,
                                 env={"GITHUB_TOKEN": SECRET}, opts=["--debug"])
    assert "GITHUB_TOKEN" in r.err and "not replaced" in r.err, r
    assert res["a"] == [200, 200, 200] and res["b"] == [200, 200], (res, r)
    tok = res["tok"]
    # Every request that reached good.test carries the real value, every
    # one that reached other.test the stand-in: where the request went
    # decides, not which tunnel carried it.
    assert [header(q, "X-Token") for q in good.requests] == [[SECRET]] * 3, good.requests
    assert [header(q, "X-Token") for q in other.requests] == [[tok]] * 2, other.requests
    v = cred_violations(evs)
    assert v and {e["target"] for e in v} == {"other.test:%d" % other.port}, v
    never_leaked(r, text, SECRET)


def test_keep_alive_with_host_match_refuses_the_second_host(net, pki):
    """requireHostMatch (the default): the second request naming another
    host is refused; neither host gets it."""
    good, other = origin(net, pki, "good.test"), origin(net, pki, "other.test")
    s = settings([good.port, other.port], {"envVars": [token_cred()]})
    code = KEEPALIVE.replace('"b": [req(b, "other.test", O), req(b, "good.test", P)]', '"b": []')
    res, r, evs, text = run_json(net, pki, code, good.port, other.port, settings=s,
                                 env={"GITHUB_TOKEN": SECRET})
    assert res["a"][:2] == [200, 421], (res, r)
    assert [header(q, "X-Token") for q in good.requests] == [[SECRET]], good.requests
    assert other.requests == [], other.requests
    never_leaked(r, text, SECRET)


PIPELINED = r'''
import ssl
P, O = int(sys.argv[1]), int(sys.argv[2])
tok = os.environ["GITHUB_TOKEN"]
c, r = connect("good.test", P)
c.sock = ssl.create_default_context().wrap_socket(c.sock, server_hostname="good.test")
body = "a=" + tok
# one write: a POST to the inject host, then a GET to the other host with
# the stand-in in its head, then one more to the inject host
c.send("POST /hello HTTP/1.1\r\nHost: good.test:%d\r\nContent-Length: %d\r\n\r\n%s"
       "GET /hello HTTP/1.1\r\nHost: other.test:%d\r\nX-Token: %s\r\n\r\n"
       "GET /hello HTTP/1.1\r\nHost: good.test:%d\r\nX-Token: %s\r\n\r\n"
       % (P, len(body), body, O, tok, P, tok))
emit({"tok": tok, "st": [read_response(c, "POST").get("status"), read_response(c).get("status"),
                         read_response(c).get("status")]})
'''


def test_pipelined_requests_to_two_hosts_in_one_tunnel(net, pki):
    good, other = origin(net, pki, "good.test"), origin(net, pki, "other.test")
    s = settings([good.port, other.port], {"envVars": [token_cred()]}, requireHostMatch=False)
    res, r, evs, text = run_json(net, pki, PIPELINED, good.port, other.port, settings=s,
                                 env={"GITHUB_TOKEN": SECRET})
    assert res["st"] == [200, 200, 200], (res, r)
    tok = res["tok"]
    assert good.requests[0]["body"] == ("a=" + SECRET).encode(), good.requests
    assert header(good.requests[1], "X-Token") == [SECRET], good.requests
    assert [header(q, "X-Token") for q in other.requests] == [[tok]], other.requests
    assert [e["target"] for e in cred_violations(evs)] == ["other.test:%d" % other.port], evs
    never_leaked(r, text, SECRET)


def test_transparent_mode_terminated_and_injected(net, pki):
    """A program that ignores the proxy variables: its direct connection
    is terminated in the transparent mode, and injected the same way."""
    netutil.need("curl")
    alt = tt.ALT
    good = origin(net, pki, "good.test", host=alt)
    other = origin(net, pki, "other.test", host=alt)
    s = {"network": {"allowedDomains": ["good.test", "other.test", "%s:%d" % (alt, good.port),
                                        "%s:%d" % (alt, other.port)],
                     "mode": "transparent", "tlsTerminate": {}},
         "credentials": {"envVars": [token_cred()]}}
    code = ("import subprocess\n"
            "P, O = int(sys.argv[1]), int(sys.argv[2]); tok = os.environ['GITHUB_TOKEN']\n"
            "out = [tok]\n"
            "for url in ('https://good.test:%d/hello' % P, 'https://other.test:%d/hello' % O):\n"
            "    c = subprocess.run(['curl', '-sS', '--fail', '--noproxy', '*', '-H', 'X-Token: ' + tok, url],\n"
            "                       capture_output=True)\n"
            "    out.append([c.returncode, c.stdout.decode(), c.stderr.decode()])\n"
            "emit(out)\n")
    (tok, a, b), r, evs, text = run_json(net, pki, code, good.port, other.port, settings=s,
                                         hosts={n: alt for n in netutil.TEST_NAMES}, env={"GITHUB_TOKEN": SECRET})
    assert a[0] == 0 and b[0] == 0, (a, b, r)
    assert [header(q, "X-Token") for q in good.requests] == [[SECRET]], good.requests
    assert [header(q, "X-Token") for q in other.requests] == [[tok]], other.requests
    assert [e["target"] for e in cred_violations(evs)] == ["other.test:%d" % other.port], evs
    assert [e.get("via") for e in evs if e.get("event") == "connection"].count("tls") == 2, evs
    never_leaked(r, text, SECRET)


@pytest.mark.xfail(strict=True, reason=(
    "responses are not scanned: an inject host that sends back what it received (an echo, an API "
    "that reflects the Authorization header or the request body) hands the real value to the "
    "sandbox, which may then send it anywhere. Closing this needs the real value replaced by the "
    "stand-in in the inject host's responses (heads and bodies, and it cannot see compressed ones)."))
def test_reflected_real_value_does_not_reach_the_sandbox(net, pki):
    good = origin(net, pki, "good.test")
    s = settings([good.port], {"envVars": [token_cred()]})
    code = ("import requests\n"
            "tok = os.environ['GITHUB_TOKEN']\n"
            "back = requests.post('https://good.test:%d/echo' % int(sys.argv[1]), data='t=' + tok).text\n"
            "emit({'tok': tok, 'same': back == 't=' + tok})\n")
    res, r, evs, text = run_json(net, pki, code, good.port, settings=s, env={"GITHUB_TOKEN": SECRET})
    assert good.requests[0]["body"] == ("t=" + SECRET).encode()
    assert res["same"], "the sandbox got back something other than its own stand-in"


def test_excluded_inject_host_is_an_opaque_tunnel_and_gets_the_stand_in(net, pki):
    good = origin(net, pki, "good.test")
    s = settings([good.port], {"envVars": [token_cred()]}, tls={"excludeDomains": ["good.test"]})
    code = tt.PEEK.replace('"GET %s HTTP/1.1\\r\\nHost: %s\\r\\n\\r\\n" % (path, hosthdr)',
                           '"GET %s HTTP/1.1\\r\\nHost: %s\\r\\nX-Token: %s\\r\\n\\r\\n" '
                           '% (path, hosthdr, os.environ["GITHUB_TOKEN"])')
    assert code != tt.PEEK
    code = code.replace("emit(out)", "out['tok'] = os.environ['GITHUB_TOKEN']\nemit(out)")
    res, r, evs, text = run_json(net, pki, code, "good.test", good.port, "good.test", "/hello",
                                 "good.test:%d" % good.port, settings=s, env={"GITHUB_TOKEN": SECRET})
    # srt said so at the start: nothing can be injected there.
    assert ("GITHUB_TOKEN: injectHosts entry 'good.test' is in network.tlsTerminate.excludeDomains" in r.err), r
    # The origin's own certificate: srt did not terminate.
    assert res["issuer"]["commonName"] == "srt test root", res
    assert res["resp"]["status"] == 200, res
    assert [header(q, "X-Token") for q in good.requests] == [[res["tok"]]], good.requests
    never_leaked(r, text, SECRET)


def test_excluded_inject_host_named_inside_another_terminated_tunnel(net, pki):
    """requireHostMatch off: a request for an excluded inject host inside a
    tunnel srt terminates for another host goes to that host over srt's own
    verified TLS, and is injected as injectHosts says (the client pinned
    nothing there: it spoke TLS with srt's leaf for the other host)."""
    good, other = origin(net, pki, "good.test"), origin(net, pki, "other.test")
    s = settings([good.port, other.port], {"envVars": [token_cred(["other.test"])]},
                 tls={"excludeDomains": ["other.test"]}, requireHostMatch=False)
    code = KEEPALIVE.replace('"b": [req(b, "other.test", O), req(b, "good.test", P)]', '"b": []')
    res, r, evs, text = run_json(net, pki, code, good.port, other.port, settings=s, env={"GITHUB_TOKEN": SECRET})
    tok = res["tok"]
    assert res["a"] == [200, 200, 200], (res, r)
    assert [header(q, "X-Token") for q in other.requests] == [[SECRET]], other.requests
    assert [header(q, "X-Token") for q in good.requests] == [[tok]] * 2, good.requests
    assert set(other.snis) == {"other.test"}, other.snis
    never_leaked(r, text, SECRET)


def test_plain_http_without_allow_plaintext_is_not_injected(net, pki):
    """With tlsTerminate (and no allowPlaintextInject) srt runs; a plain
    HTTP request to the inject host keeps its stand-in and is reported."""
    plain = net.origin("good")
    s = settings([plain.port], {"envVars": [token_cred()]})
    code = ("P = int(sys.argv[1]); tok = os.environ['GITHUB_TOKEN']\n"
            "r = http(request('good.test', P, '/hello', method='POST', headers=['X-Token: ' + tok], body='t=' + tok))\n"
            "emit([r['status'], tok])\n")
    (status, tok), r, evs, text = run_json(net, pki, code, plain.port, settings=s, env={"GITHUB_TOKEN": SECRET})
    assert status == 200, r
    q = plain.requests[0]
    assert header(q, "X-Token") == [tok] and q["body"] == ("t=" + tok).encode(), q
    v = cred_violations(evs)
    assert len(v) == 1 and v[0]["target"] == "good.test:%d" % plain.port, v
    assert "not over TLS terminated by srt" in v[0]["rule"], v
    never_leaked(r, text, SECRET)


def test_real_value_is_nowhere_inside_with_tls_terminate(net, pki):
    good = origin(net, pki, "good.test")
    s = settings([good.port], {"envVars": [token_cred(), token_cred(name="PW")]})
    path = os.path.join(net.ctx.root, "events-look.jsonl")
    r = net.py(tcr.LOOK_EVERYWHERE, SECRET[::-1], SHORT[::-1], settings=s, opts=["--events", path],
               env={"GITHUB_TOKEN": SECRET, "PW": SHORT, "SSL_CERT_FILE": pki.cert_path})
    assert r.rc == 0 and "FOUND []" in r.out, r
    # /proc/self/environ and env, with the stand-ins there
    # (cat opens it: a file opened by the shell before exec reads empty)
    r = net.sh("cat /proc/self/environ | tr '\\0' '\\n' | grep -E '^(GITHUB_TOKEN|PW)='; env | grep -c srtmask_",
               settings=s, env={"GITHUB_TOKEN": SECRET, "PW": SHORT, "SSL_CERT_FILE": pki.cert_path})
    assert re.search(r"^GITHUB_TOKEN=srtmask_\w+$", r.out, re.M) and re.search(r"^PW=srtmask_\w+$", r.out, re.M), r
    assert r.out.strip().endswith("2"), r
    never_leaked(r, open(path).read() if os.path.exists(path) else "", SECRET, SHORT)


# --- 2. TLS termination through a parent proxy ---------------------------------

THROUGH_PARENT = r'''
import subprocess
P = int(sys.argv[1])
tok = os.environ["GITHUB_TOKEN"]
url = "https://good.test:%d/hello" % P
out = {"tok": tok}
c = subprocess.run(["curl", "-sS", "-v", "--fail", "-H", "X-Token: " + tok, "--data-binary", "t=" + tok, url],
                   capture_output=True)
out["curl"] = [c.returncode, c.stdout.decode(), "srt ephemeral CA" in c.stderr.decode()]
c = subprocess.run(["curl", "-sS", "-v", "--fail", "--socks5-hostname", "127.0.0.1:1080", "-H", "X-Token: " + tok,
                    url], capture_output=True)
out["socks"] = [c.returncode, c.stdout.decode(), "srt ephemeral CA" in c.stderr.decode()]
emit(out)
'''


@pytest.mark.parametrize("scheme", ["http", "https", "socks5h"])
def test_terminated_tls_through_an_authenticating_parent(net, pki, parents, scheme):
    good = origin(net, pki, "good.test")
    env = {"GITHUB_TOKEN": SECRET}
    if scheme == "https":
        # TLS to the parent too: srt's trust store holds the parent's CA
        # and the origin's root.
        ca, cert, key = make_ca(net.ctx.mkdir(os.path.join(net.ctx.root, "parent-ca")))
        with open(ca) as f1, open(pki.cert_path) as f2:
            env["SSL_CERT_FILE"] = net.ctx.write(os.path.join(net.ctx.root, "trust.pem"), f1.read() + f2.read())
        p = parents(RecordingParent, user="corp", password="pa55", tls=(cert, key))
    else:
        p = parents(RecordingParent if scheme == "http" else RecordingSOCKSParent, user="corp", password="pa55")
    url = "%s://corp:pa55@127.0.0.1:%d" % (scheme, p.port)
    s = settings([], {"envVars": [token_cred()]}, parentProxy={"http": url, "https": url})
    res, r, evs, text = run_json(net, pki, THROUGH_PARENT, good.port, settings=s, hosts=NO_NAMES, env=env,
                                 opts=["--debug"])
    tok = res["tok"]
    # Both clients (the HTTP proxy and SOCKS5) got srt's leaf and the answer.
    assert res["curl"] == [0, "hello from good.test\n", True], (res, r)
    assert res["socks"] == [0, "hello from good.test\n", True], (res, r)
    # The origin got both requests, the real value injected (srt could not
    # resolve good.test: they came through the parent).
    assert len(good.requests) == 2, good.requests
    assert [header(q, "X-Token") for q in good.requests] == [[SECRET]] * 2, good.requests
    assert good.requests[0]["body"] == ("t=" + SECRET).encode()
    assert set(good.snis) == {"good.test"}, good.snis
    # The parent saw CONNECTs to the origin, authenticated, and nothing
    # else: no request in plain text, no value in clear among the bytes
    # it relayed (TLS only).
    if scheme != "socks5h":
        assert [(q["method"], q["target"]) for q in p.requests] == [("CONNECT", "good.test:%d" % good.port)] * 2, \
            p.requests
        assert all(q["auth"] and q["auth"].startswith("Basic ") for q in p.requests), p.requests
    else:
        assert [(q["host"], q["port"], q["auth"]) for q in p.requests] == [
            ("good.test", good.port, ("corp", "pa55"))] * 2, p.requests
    relayed = p.relayed()
    assert relayed and relayed[:1] == b"\x16", relayed[:20]  # a TLS handshake record first
    for clear in (SECRET.encode(), tok.encode(), b"/hello", b"HTTP/1.1", b"X-Token"):
        assert clear not in relayed, clear
    assert not cred_violations(evs), evs
    never_leaked(r, text, SECRET, "pa55", "corp:")


def test_non_inject_host_through_the_parent_gets_the_stand_in(net, pki, parents):
    other = origin(net, pki, "other.test")
    p = parents()
    url = "http://127.0.0.1:%d" % p.port
    s = settings([], {"envVars": [token_cred()]}, parentProxy={"http": url})
    code = ("P = int(sys.argv[1]); tok = os.environ['GITHUB_TOKEN']\n"
            "import requests\n"
            "emit([requests.get('https://other.test:%d/hello' % P, headers={'X-Token': tok}).status_code, tok])\n")
    (status, tok), r, evs, text = run_json(net, pki, code, other.port, settings=s, hosts=NO_NAMES,
                                           env={"GITHUB_TOKEN": SECRET})
    assert status == 200, r
    assert [header(q, "X-Token") for q in other.requests] == [[tok]], other.requests
    assert [q["method"] for q in p.requests] == ["CONNECT"], p.requests
    assert tok.encode() not in p.relayed()
    assert [e["target"] for e in cred_violations(evs)] == ["other.test:%d" % other.port], evs
    never_leaked(r, text, SECRET)


def test_parent_intercepting_tls_never_gets_the_value(net, pki, parents):
    """A parent that answers the tunnel with a certificate srt's trust store
    does not hold (an intercepting proxy, or anyone on the way): srt
    refuses the server (502) and sends no request, so nothing to inject."""
    stranger = tt.PKI(net.ctx, os.path.join(net.ctx.root, "stranger"), cn="intercepting CA")
    cert, key = stranger.leaf(names=("good.test",))
    fake = tt.TLSOrigin(cert, key, name="interceptor")
    net.servers.append(fake)
    p = parents()
    s = settings([], {"envVars": [token_cred()]}, parentProxy={"http": "http://127.0.0.1:%d" % p.port})
    code = ("P = int(sys.argv[1]); tok = os.environ['GITHUB_TOKEN']\n"
            "import subprocess\n"
            "c = subprocess.run(['curl', '-sS', '-i', '-H', 'X-Token: ' + tok, '--data-binary', 't=' + tok,\n"
            "                    'https://good.test:%d/hello' % P], capture_output=True)\n"
            "emit([c.stdout.decode(), tok])\n")
    (out, tok), r, evs, text = run_json(net, pki, code, fake.port, settings=s, hosts=NO_NAMES,
                                        env={"GITHUB_TOKEN": SECRET})
    assert "HTTP/1.1 502" in out and "unable to get local issuer certificate" in out, (out, r)
    assert fake.requests == [], fake.requests
    assert SECRET.encode() not in p.relayed() and tok.encode() not in p.relayed()
    never_leaked(r, text, SECRET)


def test_masked_file_over_terminated_tls(net, pki, ctx):
    good, other = origin(net, pki, "good.test"), origin(net, pki, "other.test")
    f = ctx.write(os.path.join(ctx.home, ".config/tool/creds"), "user = me\ntoken = %s\n" % SECRET)
    s = settings([good.port, other.port], {"files": [{"path": "~/.config/tool/creds", "mode": "mask",
                                                      "extract": "token = (\\S+)", "injectHosts": ["good.test"]}]})
    code = ("import re, subprocess\n"
            "tok = re.search(r'token = (\\S+)', open(sys.argv[3]).read()).group(1)\n"
            "for port, host in ((int(sys.argv[1]), 'good.test'), (int(sys.argv[2]), 'other.test')):\n"
            "    subprocess.run(['curl', '-sS', '--fail', '-o', '/dev/null', '-H', 'X-Token: ' + tok,\n"
            "                    'https://%s:%d/hello' % (host, port)], check=True)\n"
            "emit(tok)\n")
    tok, r, evs, text = run_json(net, pki, code, good.port, other.port, f, settings=s)
    assert STANDIN.fullmatch(tok), r
    assert [header(q, "X-Token") for q in good.requests] == [[SECRET]], good.requests
    assert [header(q, "X-Token") for q in other.requests] == [[tok]], other.requests
    v = cred_violations(evs)
    assert [e["target"] for e in v] == ["other.test:%d" % other.port] and "files[0]" in v[0]["rule"], v
    never_leaked(r, text, SECRET)


# --- 3. --control-fd ------------------------------------------------------------

# Orders (one JSON answer each):
#   tls HOST PORT    CONNECT, TLS with the default context (srt's bundle),
#                    GET /hello with X-Token: $GITHUB_TOKEN; the issuer's CN
#   ktls HOST PORT   the same on one terminated tunnel kept open (the first
#                    ktls opens it)
#   tok              the stand-in
TLS_DRIVER = r'''
import ssl
kept = None
emit({"ready": True})
for line in sys.stdin:
    w = line.split()
    if not w:
        continue
    if w[0] == "tls":
        host, port = w[1], int(w[2])
        c, r = connect(host, port)
        if r.get("status") != 200:
            emit({"connect": r.get("status")})
            continue
        try:
            c.sock = ssl.create_default_context().wrap_socket(c.sock, server_hostname=host)
        except (ssl.SSLError, OSError) as e:
            emit({"handshake": str(e)})
            continue
        issuer = dict(x[0] for x in c.sock.getpeercert()["issuer"])["commonName"]
        resp = exchange(c, "GET /hello HTTP/1.1\r\nHost: %s:%d\r\nX-Token: %s\r\n\r\n"
                        % (host, port, os.environ["GITHUB_TOKEN"]))
        c.close()
        emit({"issuer": issuer, "status": resp.get("status")})
    elif w[0] == "ktls":
        host, port = w[1], int(w[2])
        if kept is None:
            kept, r = connect(host, port)
            kept.sock = ssl.create_default_context().wrap_socket(kept.sock, server_hostname=host)
        resp = exchange(kept, "GET /hello HTTP/1.1\r\nHost: %s:%d\r\nX-Token: %s\r\n\r\n"
                        % (host, port, os.environ["GITHUB_TOKEN"]))
        emit({"status": resp.get("status"), "reason": resp.get("reason")})
    elif w[0] == "tok":
        emit({"tok": os.environ["GITHUB_TOKEN"]})
'''


class TLSSession(tcf.Session):
    """test_control_fd's Session with TLS_DRIVER, a masked GITHUB_TOKEN and
    srt's trust store at the test root."""

    def __init__(self, net, pki, settings, opts=()):
        self.net = net
        self.r, self.w = os.pipe()
        self.events_path = os.path.join(net.ctx.root, "events-%s.jsonl" % net.ctx.token())
        opts = ["--control-fd", str(self.r), "--events", self.events_path] + list(opts)
        prelude = "import sys\nsys.path.insert(0, %r)\nfrom srtnet import *\n" % net.libdir
        argv = net.argv([PY, "-c", prelude + TLS_DRIVER], settings=settings, hosts=tcf.HOSTS, opts=opts)
        env = net.ctx.env(dict(NOPYC, SSL_CERT_FILE=pki.cert_path, GITHUB_TOKEN=SECRET))
        self.proc = subprocess.Popen(argv, cwd=net.ctx.proj, env=env, pass_fds=(self.r,), stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.proc.buf = b""
        self.proc.argv = argv
        net.ctx.procs.append(self.proc)
        self.lines = 0
        first = self.answer()
        assert first == {"ready": True}, first

    def events_text(self):
        try:
            with open(self.events_path) as f:
                return f.read()
        except FileNotFoundError:
            return ""


def ctl_settings(ports, inject=("good.test",), tls=None, **net_extra):
    n = {"allowedDomains": ["good.test", "other.test"] + [tcf.lift(p) for p in ports],
         "tlsTerminate": tls if tls is not None else {}}
    n.update(net_extra)
    return {"network": n, "credentials": {"envVars": [token_cred(inject)]}}


def test_control_fd_exclude_domains_follow_the_lines(net, pki):
    good = origin(net, pki, "good.test", host=tcf.ALT)
    s = TLSSession(net, pki, ctl_settings([good.port]))
    first = s.order("tls", "good.test", good.port)
    assert first["issuer"].startswith("srt ephemeral CA") and first["status"] == 200, first
    e = s.send(ctl_settings([good.port], tls={"excludeDomains": ["good.test"]}))
    assert e["event"] == "config.reloaded", e
    opaque = s.order("tls", "good.test", good.port)
    assert opaque == {"issuer": "srt test root", "status": 200}, opaque
    e = s.send(ctl_settings([good.port]))
    assert e["event"] == "config.reloaded", e
    again = s.order("tls", "good.test", good.port)
    assert again["issuer"].startswith("srt ephemeral CA") and again["status"] == 200, again
    tok = s.order("tok")["tok"]
    rc, err = s.finish()
    assert rc == 0, err
    # terminated: the real value; opaque: the stand-in as the client sent it
    tokens = [header(q, "X-Token")[0] for q in good.requests]
    assert tokens[-2:] == [tok, SECRET] and tokens[0] == SECRET, tokens
    assert SECRET not in err and SECRET not in s.events_text()


def test_control_fd_inject_hosts_follow_the_lines(net, pki):
    good, other = origin(net, pki, "good.test", host=tcf.ALT), origin(net, pki, "other.test", host=tcf.ALT)
    ports = [good.port, other.port]
    s = TLSSession(net, pki, ctl_settings(ports))
    assert s.order("tls", "good.test", good.port)["status"] == 200
    assert s.order("tls", "other.test", other.port)["status"] == 200
    e = s.send(ctl_settings(ports, inject=["other.test"]))
    assert e["event"] == "config.reloaded", e
    assert s.order("tls", "good.test", good.port)["status"] == 200
    assert s.order("tls", "other.test", other.port)["status"] == 200
    tok = s.order("tok")["tok"]
    rc, err = s.finish()
    assert rc == 0, err
    assert [header(q, "X-Token")[0] for q in good.requests] == [SECRET, tok], good.requests
    assert [header(q, "X-Token")[0] for q in other.requests] == [tok, SECRET], other.requests
    v = cred_violations(s.events())
    # before the line: other.test; after it: good.test
    assert [e["target"] for e in v] == ["other.test:%d" % other.port, "good.test:%d" % good.port], v
    assert SECRET not in err and SECRET not in s.events_text()


def test_control_fd_lines_reach_requests_in_an_open_tunnel(net, pki):
    """A tunnel opened before a line: each request in it is decided, and
    injected, by the settings in force when it comes."""
    good = origin(net, pki, "good.test", host=tcf.ALT)
    s = TLSSession(net, pki, ctl_settings([good.port]))
    assert s.order("ktls", "good.test", good.port)["status"] == 200
    assert s.send(ctl_settings([good.port], inject=["other.test"]))["event"] == "config.reloaded"
    assert s.order("ktls", "good.test", good.port)["status"] == 200
    line = ctl_settings([good.port], inject=["other.test"], deniedDomains=["good.test"])
    assert s.send(line)["event"] == "config.reloaded"
    r = s.order("ktls", "good.test", good.port)
    assert r["status"] == 403 and "denied by deniedDomains" in r["reason"], r
    tok = s.order("tok")["tok"]
    rc, err = s.finish()
    assert rc == 0, err
    assert [header(q, "X-Token")[0] for q in good.requests] == [SECRET, tok], good.requests
    v = cred_violations(s.events())
    assert [e["target"] for e in v] == ["good.test:%d" % good.port], v
    assert SECRET not in err and SECRET not in s.events_text()


def test_control_fd_refuses_lines_changing_ca_mode_or_parent(net, pki):
    good = origin(net, pki, "good.test", host=tcf.ALT)
    mine = tt.PKI(net.ctx, os.path.join(net.ctx.root, "mine"), cn="my own CA")
    other_ca = tt.PKI(net.ctx, os.path.join(net.ctx.root, "other-ca"), cn="another CA")
    tls = {"caCertPath": mine.cert_path, "caKeyPath": mine.key_path}
    start = ctl_settings([good.port], tls=tls)
    s = TLSSession(net, pki, start)
    assert s.order("tls", "good.test", good.port) == {"issuer": "my own CA", "status": 200}
    ca_line = ctl_settings([good.port], tls={"caCertPath": other_ca.cert_path, "caKeyPath": other_ca.key_path})
    mode_line = ctl_settings([good.port], tls=tls)
    mode_line["credentials"]["envVars"][0]["mode"] = "deny"
    del mode_line["credentials"]["envVars"][0]["injectHosts"]
    plain_line = json.loads(json.dumps(start))
    plain_line["credentials"]["allowPlaintextInject"] = True
    parent_line = ctl_settings([good.port], tls=tls, parentProxy={"http": "http://127.0.0.1:9"})
    for key, line in [("network.tlsTerminate", ca_line), ("credentials", mode_line), ("credentials", plain_line),
                      ("network.parentProxy", parent_line)]:
        e = s.send(line)
        assert e["event"] == "config.rejected", (key, e)
        assert "%s differs" % key in e["error"] and "cannot change while the command runs" in e["error"], (key, e)
    # injectHosts may change, but not to something that is no host
    bad = ctl_settings([good.port], inject=["https://good.test/"], tls=tls)
    e = s.send(bad)
    assert e["event"] == "config.rejected", e
    assert "credentials.envVars[0].injectHosts[0]: 'https://good.test/' is not a domain pattern" in e["error"], e
    # Nothing changed: srt's leaf from the same CA, the value injected, direct.
    assert s.order("tls", "good.test", good.port) == {"issuer": "my own CA", "status": 200}
    rc, err = s.finish()
    assert rc == 0, err
    assert [header(q, "X-Token")[0] for q in good.requests] == [SECRET, SECRET], good.requests
    assert err.count("the line is ignored, the settings in force stay") == 5, err
    assert SECRET not in err and SECRET not in s.events_text()


# --- 4. mitmProxy and credentials ---------------------------------------------------

def test_mitm_proxy_with_tls_terminate_carries_only_tls(net, pki, parents):
    """A tunnel to a mitmProxy domain that srt terminates: srt's TLS to the
    origin goes through the user's proxy (a CONNECT over its socket), the
    value is injected inside it, the proxy relays TLS only."""
    path = os.path.join(net.ctx.root, "mitm.sock")
    m = parents(unix_path=path)
    good = origin(net, pki, "good.test")
    s = settings([], {"envVars": [token_cred()]}, mitmProxy={"socketPath": path, "domains": ["good.test"]})
    code = ("import requests\n"
            "tok = os.environ['GITHUB_TOKEN']\n"
            "r = requests.post('https://good.test:%d/hello' % int(sys.argv[1]), headers={'X-Token': tok}, "
            "data='t=' + tok)\n"
            "emit([r.status_code, tok])\n")
    (status, tok), r, evs, text = run_json(net, pki, code, good.port, settings=s, hosts=NO_NAMES,
                                           env={"GITHUB_TOKEN": SECRET})
    assert status == 200, r
    assert [(q["method"], q["target"]) for q in m.requests] == [("CONNECT", "good.test:%d" % good.port)], m.requests
    assert [header(q, "X-Token") for q in good.requests] == [[SECRET]], good.requests
    assert good.requests[0]["body"] == ("t=" + SECRET).encode()
    relayed = m.relayed()
    for clear in (SECRET.encode(), tok.encode(), b"X-Token"):
        assert clear not in relayed, clear
    never_leaked(r, text, SECRET)


def test_mitm_proxy_gets_the_real_value_only_for_inject_hosts(net, pki, parents):
    """The user's own proxy is on the way to its domains by configuration:
    a request for an inject host reaches it with the real value (as it
    would reach the host), one for another of its domains with the
    stand-in, reported."""
    path = os.path.join(net.ctx.root, "mitm.sock")
    m = parents(kind=HTTPParent, unix_path=path, answer="answered by mitm\n")
    s = {"network": {"allowedDomains": ["*.mitm.test"],
                     "mitmProxy": {"socketPath": path, "domains": ["*.mitm.test"]}},
         "credentials": {"allowPlaintextInject": True, "envVars": [token_cred(["api.mitm.test"])]}}
    code = ("tok = os.environ['GITHUB_TOKEN']\n"
            "a = get('api.mitm.test', 80, headers=['X-Token: ' + tok])\n"
            "b = get('other.mitm.test', 80, headers=['X-Token: ' + tok])\n"
            "emit([a['status'], b['status'], tok])\n")
    (a, b, tok), r, evs, text = run_json(net, pki, code, settings=s, hosts=NO_NAMES, env={"GITHUB_TOKEN": SECRET})
    assert a == 200 and b == 200, r
    got = {q["host"]: q["headers"].get("x-token") for q in m.requests}
    assert got == {"api.mitm.test": SECRET, "other.mitm.test": tok}, m.requests
    assert [e["target"] for e in cred_violations(evs)] == ["other.mitm.test:80"], evs
    never_leaked(r, text, SECRET)
