# credentials: denied and masked environment variables and files, stand-ins swapped by the proxy only where allowed, violations for the others, secrets never in the sandbox nor in events; settings errors.
#
# Network cases run srt in netutil's private mount namespace (test names
# resolve to loopback); every address used is a loopback one.
import base64
import json
import os
import re
import secrets
import socket
import subprocess
import time

import pytest

import netutil
from conftest import PY

MARK = "command-ran-srt-e2e"
STANDIN = re.compile(r"srtmask_[a-z0-9]{32,}")
# Fresh each run: a fixed value would also be found in copies of this very
# file that the sandbox may read (a checkout under /tmp).
SECRET = "ghp_" + secrets.token_hex(18)                   # 40 bytes
SHORT = "h" + secrets.token_hex(3)                        # shorter than a stand-in
OTHER = "npm_" + secrets.token_hex(13)


@pytest.fixture
def net(ctx):
    n = netutil.Net(ctx)
    yield n
    n.close()


def creds(env=(), files=(), plaintext=True, **extra):
    c = {}
    if env:
        c["envVars"] = list(env)
    if files:
        c["files"] = list(files)
    if plaintext is not None:
        c["allowPlaintextInject"] = plaintext
    c.update(extra)
    return c


def settings(credentials, *allowed):
    return {"network": {"allowedDomains": list(allowed)}, "credentials": credentials}


def events_of(path):
    with open(path) as f:
        return [json.loads(l) for l in f.read().splitlines() if l]


# What the sandbox can see: its environment, /proc (itself and pid 1), and
# every file it can read in the usual scratch places. look(ctx, secrets...)
LOOK_EVERYWHERE = r'''
import os, sys
# given reversed, so that the command line does not hold them
secrets = [s[::-1].encode() for s in sys.argv[1:]]
found = []
def check(name, data):
    for s in secrets:
        if s in data:
            found.append(name)
for k, v in os.environ.items():
    check("env " + k, v.encode())
for p in ("/proc/self/environ", "/proc/self/cmdline", "/proc/1/environ", "/proc/1/cmdline"):
    try:
        check(p, open(p, "rb").read())
    except OSError:
        pass
for top in ("/tmp", "/dev", "/dev/shm", "/run", os.getcwd(), os.environ.get("HOME", "/")):
    for d, dirs, files in os.walk(top):
        if d.startswith("/proc") or d.startswith("/sys"):
            continue
        for f in files:
            p = os.path.join(d, f)
            try:
                if os.path.isfile(p) and os.path.getsize(p) < (4 << 20):
                    check(p, open(p, "rb").read())
            except OSError:
                pass
print("FOUND", found)
'''


# --- environment variables ---------------------------------------------------

def test_env_deny_removes_the_variable(ctx):
    s = settings(creds([{"name": "NPM_TOKEN", "mode": "deny"}], plaintext=None))
    # cat reads its own environ (a redirection would open the shell's, which
    # reads as empty once tr has replaced it).
    r = ctx.run(["sh", "-c", "env; echo ---; cat /proc/self/environ | tr '\\0' '\\n'; echo " + MARK], settings=s,
                env={"NPM_TOKEN": OTHER, "KEEP": "kept"})
    assert r.rc == 0 and MARK in r.out, r
    assert "NPM_TOKEN" not in r.out and OTHER not in r.out, r
    env_part, environ_part = r.out.split("---\n", 1)
    assert "KEEP=kept" in env_part and "KEEP=kept" in environ_part, r
    r = ctx.py(LOOK_EVERYWHERE, OTHER[::-1], settings=s, env={"NPM_TOKEN": OTHER})
    assert "FOUND []" in r.out, r


def test_env_mask_shows_a_stand_in_and_never_the_value(ctx):
    s = settings(creds([{"name": "GITHUB_TOKEN", "mode": "mask"}, {"name": "SHORT_PW", "mode": "mask"},
                        {"name": "SAME_AS_GITHUB", "mode": "mask"}]))
    env = {"GITHUB_TOKEN": SECRET, "SHORT_PW": SHORT, "SAME_AS_GITHUB": SECRET}
    r = ctx.run(["sh", "-c", 'echo "G=$GITHUB_TOKEN"; echo "S=$SHORT_PW"; echo "T=$SAME_AS_GITHUB"'],
                settings=s, env=env)
    assert r.rc == 0, r
    vals = dict(l.split("=", 1) for l in r.out.splitlines() if "=" in l)
    for k in "GST":
        assert STANDIN.fullmatch(vals[k]), r
    # as long as the real value when that is longer (lengths stay), else
    # the stand-in's own 40
    assert len(vals["G"]) == len(SECRET), r
    assert len(vals["S"]) == 40, r
    # unique per secret, even for the same value
    assert len({vals["G"], vals["S"], vals["T"]}) == 3, r
    assert SECRET not in r.out and SHORT not in r.out, r
    # unique per run
    r2 = ctx.run(["sh", "-c", 'echo "G=$GITHUB_TOKEN"'], settings=s, env=env)
    assert r2.out.strip() != "G=" + vals["G"], (r, r2)
    r = ctx.py(LOOK_EVERYWHERE, SECRET[::-1], SHORT[::-1], settings=s, env=env)
    assert "FOUND []" in r.out, r


def test_env_mask_extract_masks_only_the_group(ctx):
    s = settings(creds([{"name": "DATABASE_URL", "mode": "mask", "extract": "://[^:/]+:([^@]+)@"}]))
    r = ctx.run(["sh", "-c", 'echo "$DATABASE_URL"'], settings=s,
                env={"DATABASE_URL": "postgres://app:%s@db.internal:5432/main" % SECRET})
    assert r.rc == 0, r
    m = re.fullmatch(r"postgres://app:(srtmask_[a-z0-9]+)@db\.internal:5432/main", r.out.strip())
    assert m, r
    assert SECRET not in r.out


def test_env_mask_unset_variable_is_skipped(ctx):
    s = settings(creds([{"name": "NOT_SET_HERE", "mode": "mask"}]))
    r = ctx.run(["sh", "-c", 'echo "[${NOT_SET_HERE-unset}]"'], settings=s)
    assert r.rc == 0 and "[unset]" in r.out, r


def test_extract_no_match_policies(ctx):
    env = {"V": "nothing to find here"}
    base = {"name": "V", "mode": "mask", "extract": "key=(\\w+)"}
    r = ctx.run(["sh", "-c", 'echo "[$V]"'], settings=settings(creds([dict(base)])), env=env)
    assert r.rc == 0 and "[nothing to find here]" in r.out and "warning" in r.err, r
    r = ctx.run(["sh", "-c", 'echo "[${V-unset}]"'],
                settings=settings(creds([dict(base, onExtractNoMatch="deny")])), env=env)
    assert r.rc == 0 and "[unset]" in r.out, r
    r = ctx.run(["echo", MARK], settings=settings(creds([dict(base, onExtractNoMatch="error")])), env=env)
    assert r.rc == 125 and MARK not in r.out and "credentials.envVars[0]" in r.err, r


# --- files ---------------------------------------------------------------------

def test_file_deny_makes_it_unreadable(ctx):
    f = ctx.write(os.path.join(ctx.home, ".npmrc"), "//registry/:_authToken=%s\n" % OTHER)
    s = settings(creds(files=[{"path": "~/.npmrc", "mode": "deny"}], plaintext=None))
    r = ctx.run(["sh", "-c", "cat %s; echo rc=$?" % f], settings=s)
    assert OTHER not in r.out, r
    assert "rc=1" in r.out, r


def test_extract_pattern_that_would_hang_srt_is_refused_in_time(ctx):
    # A pattern glibc's matcher takes quadratic time on (an untrusted
    # project may bring both it and the file): srt refuses it after its
    # budget instead of hanging at its start.
    f = ctx.write(os.path.join(ctx.home, ".slow"), "a" * 200000)
    env = {"SLOW_VAR": "a" * 100000}  # under the kernel's 128 KiB for one string
    for c in (creds(files=[{"path": "~/.slow", "mode": "mask", "extract": "(a*)c"}]),
              creds(env=[{"name": "SLOW_VAR", "mode": "mask", "extract": "(a*)c"}])):
        t0 = time.monotonic()
        r = ctx.run(["echo", MARK], settings=settings(c), env=env)
        took = time.monotonic() - t0
        assert r.rc == 125 and MARK not in r.out, r
        assert "takes more than 3 s" in r.err and "make the pattern simpler" in r.err, r
        assert took < 30, took
    assert ctx.read(f) == "a" * 200000


def test_file_mask_whole_and_extract(ctx):
    tok = ctx.write(os.path.join(ctx.home, ".config/tool/token"), SECRET + "\n")
    netrc = ctx.write(os.path.join(ctx.home, ".netrc"),
                      "machine a.test login me password %s\nmachine b.test login you password %s\n"
                      % (SHORT, OTHER))
    s = settings(creds(files=[{"path": "~/.config/tool/token", "mode": "mask"},
                              {"path": "~/.netrc", "mode": "mask", "extract": "password[ \\t]+(\\S+)"}]))
    r = ctx.run(["sh", "-c", "cat %s; echo ---; cat %s; echo ---; echo x >> %s; echo write=$?"
                 % (tok, netrc, tok)], settings=s)
    assert r.out.count("---\n") == 2, r
    token_part, netrc_part, rest = r.out.split("---\n")
    assert STANDIN.fullmatch(token_part.rstrip("\n")) and token_part.endswith("\n"), r
    assert len(token_part) == len(SECRET) + 1, r
    lines = netrc_part.splitlines()
    assert re.fullmatch(r"machine a\.test login me password srtmask_[a-z0-9]{32,}", lines[0]), r
    assert re.fullmatch(r"machine b\.test login you password srtmask_[a-z0-9]{32,}", lines[1]), r
    assert "write=0" not in rest, r  # read-only
    for secret in (SECRET, SHORT, OTHER):
        assert secret not in r.out, r
    r = ctx.py(LOOK_EVERYWHERE, SECRET[::-1], SHORT[::-1], OTHER[::-1], settings=s)
    assert "FOUND []" in r.out, r
    # the host's files are as they were
    assert ctx.read(tok) == SECRET + "\n"


def test_file_mask_of_a_link_covers_its_target(ctx):
    real = ctx.write(os.path.join(ctx.home, "dotfiles/token"), SECRET)
    link = ctx.symlink(real, os.path.join(ctx.home, ".token"))
    s = settings(creds(files=[{"path": "~/.token", "mode": "mask"}]))
    r = ctx.run(["sh", "-c", "cat %s; echo; cat %s" % (link, real)], settings=s)
    assert SECRET not in r.out, r
    assert len(STANDIN.findall(r.out)) == 2, r


# --- the proxy: injection and violations ----------------------------------------

INJECT = r'''
P, O = int(sys.argv[1]), int(sys.argv[2])
tok = os.environ["GITHUB_TOKEN"]
res = []
res.append(http(request("good.test", P, "/hello?t=" + tok, method="POST",
                        headers=["Authorization: Bearer " + tok], body="token=%s&x=1" % tok)))
res.append(http(request("other.test", O, "/hello?t=" + tok, method="POST",
                        headers=["Authorization: Bearer " + tok], body="token=%s&x=1" % tok)))
emit([res, tok])
'''


def test_injected_for_inject_host_and_reported_elsewhere(net, ctx):
    good = net.origin("good")
    other = net.origin("other")
    ev = os.path.join(ctx.root, "events.jsonl")
    s = settings(creds([{"name": "GITHUB_TOKEN", "mode": "mask", "injectHosts": ["good.test"]}]),
                 "good.test", "other.test", "127.0.0.1:%d" % good.port, "127.0.0.1:%d" % other.port)
    (res, standin), r = net.py_json(INJECT, good.port, other.port, settings=s, env={"GITHUB_TOKEN": SECRET},
                                    opts=["--events", ev])
    assert STANDIN.fullmatch(standin), r
    assert res[0]["status"] == 200 and res[1]["status"] == 200, r
    g = good.requests[0]
    assert g["target"].endswith("/hello?t=" + SECRET), g
    assert ["Authorization", "Bearer " + SECRET] in g["headers"], g
    assert g["body"] == ("token=%s&x=1" % SECRET).encode(), g
    # the same length: Content-Length kept
    assert dict((k.lower(), v) for k, v in g["headers"]).get("content-length") == str(len(g["body"])), g
    o = other.requests[0]
    assert standin in o["target"] and SECRET not in o["target"], o
    assert ["Authorization", "Bearer " + standin] in o["headers"], o
    assert o["body"] == ("token=%s&x=1" % standin).encode(), o
    # a violation names the credential and the host, never the value
    assert "credential" in r.err and "other.test" in r.err and "GITHUB_TOKEN" in r.err, r
    assert SECRET not in r.err and SECRET not in r.out, r
    evs = events_of(ev)
    v = [e for e in evs if e.get("event") == "violation" and e.get("operation") == "credential"]
    assert v and all("other.test" in e["target"] for e in v), evs
    assert "GITHUB_TOKEN" in v[0]["rule"], v
    with open(ev) as f:
        assert SECRET not in f.read()


def test_plain_http_not_injected_without_allow_plaintext(net, ctx):
    s = settings(creds([{"name": "GITHUB_TOKEN", "mode": "mask"}], plaintext=None), "good.test")
    r = net.run(["echo", MARK], settings=s, env={"GITHUB_TOKEN": SECRET})
    assert r.rc == 125 and MARK not in r.out, r
    assert "allowPlaintextInject" in r.err and "tlsTerminate" in r.err, r
    assert SECRET not in r.err


def test_shorter_real_value_reframes_body_as_chunked(net, ctx):
    good = net.origin("good")
    s = settings(creds([{"name": "PW", "mode": "mask"}]), "good.test", "127.0.0.1:%d" % good.port)
    code = ("P = int(sys.argv[1]); pw = os.environ['PW']\n"
            "emit(http(request('good.test', P, '/echo', method='PUT', body='{\"password\": \"%s\"}' % pw)))\n")
    res, r = net.py_json(code, good.port, settings=s, env={"PW": SHORT})
    assert res["status"] == 200, r
    g = good.requests[0]
    assert g["body"] == ('{"password": "%s"}' % SHORT).encode(), g
    assert "chunked" in dict((k.lower(), v) for k, v in g["headers"]).get("transfer-encoding", ""), g


BIG = r'''
P = int(sys.argv[1]); tok = os.environ["GITHUB_TOKEN"]
size = 1 << 20
body = bytearray(b"x" * size)
for at in (0, 65535, 131072 - 20, 262143, 524288 - 1, size - len(tok)):
    body[at:at + len(tok)] = tok.encode()
c = Conn()
head = ("POST http://good.test:%d/echo HTTP/1.1\r\nHost: good.test:%d\r\nContent-Length: %d\r\n\r\n"
        % (P, P, size)).encode()
c.send(head)
# odd pieces, so that stand-ins straddle what the proxy reads
for i in range(0, size, 65535):
    c.send(bytes(body[i:i + 65535]))
resp = read_response(c, "POST")
emit({"status": resp.get("status"), "len": len(resp.get("body", "")), "tok": tok})
'''


def test_body_with_stand_ins_straddling_buffer_boundaries(net, ctx):
    good = net.origin("good")
    s = settings(creds([{"name": "GITHUB_TOKEN", "mode": "mask", "injectHosts": ["good.test"]}]),
                 "good.test", "127.0.0.1:%d" % good.port)
    res, r = net.py_json(BIG, good.port, settings=s, env={"GITHUB_TOKEN": SECRET}, timeout=120)
    assert res["status"] == 200, r
    body = good.requests[0]["body"]
    size = 1 << 20
    want = bytearray(b"x" * size)
    for at in (0, 65535, 131072 - 20, 262143, 524288 - 1, size - len(SECRET)):
        want[at:at + len(SECRET)] = SECRET.encode()
    assert len(body) == size
    assert body == bytes(want)
    assert res["tok"].encode() not in body


KEEPALIVE = r'''
P, O = int(sys.argv[1]), int(sys.argv[2]); tok = os.environ["GITHUB_TOKEN"]
c = Conn()
a = exchange(c, request("good.test", P, "/hello", headers=["X-Token: " + tok]))
b = exchange(c, request("other.test", O, "/hello", headers=["X-Token: " + tok]))
emit([a.get("status"), b.get("status"), tok])
'''


def test_keep_alive_second_request_to_another_host_not_injected(net, ctx):
    good = net.origin("good")
    other = net.origin("other")
    s = settings(creds([{"name": "GITHUB_TOKEN", "mode": "mask", "injectHosts": ["good.test"]}]),
                 "good.test", "other.test", "127.0.0.1:%d" % good.port, "127.0.0.1:%d" % other.port)
    res, r = net.py_json(KEEPALIVE, good.port, other.port, settings=s, env={"GITHUB_TOKEN": SECRET})
    assert res[0] == 200 and res[1] == 200, r
    assert ["X-Token", SECRET] in good.requests[0]["headers"]
    assert ["X-Token", res[2]] in other.requests[0]["headers"]
    assert "other.test" in r.err and "credential" in r.err, r


def test_credential_not_laundered_through_another_credentials_host(net, ctx):
    """A's stand-in sent to B's inject host stays A's stand-in."""
    good = net.origin("good")
    s = settings(creds([{"name": "A", "mode": "mask", "injectHosts": ["other.test"]},
                        {"name": "B", "mode": "mask", "injectHosts": ["good.test"]}]),
                 "good.test", "127.0.0.1:%d" % good.port)
    code = ("P = int(sys.argv[1])\n"
            "emit([http(request('good.test', P, '/hello', headers=['X-A: ' + os.environ['A'], "
            "'X-B: ' + os.environ['B']]))['status'], os.environ['A']])\n")
    res, r = net.py_json(code, good.port, settings=s, env={"A": SECRET, "B": OTHER})
    h = good.requests[0]["headers"]
    assert ["X-A", res[1]] in h and ["X-B", OTHER] in h, h
    assert SECRET not in json.dumps(h)


def test_jwt_whole_and_claims(net, ctx):
    def seg(obj):
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()
    jwt = "%s.%s.%s" % (seg({"alg": "HS256", "typ": "JWT"}), seg({"sub": "user-1", "sk": SECRET, "n": 3}),
                        "c2lnbmF0dXJlLW9mLXRoZS1yZWFsLXRva2Vu")
    good = net.origin("good")
    s = settings(creds([{"name": "TOKEN_JWT", "mode": "mask", "decode": "jwt"},
                        {"name": "CLAIMS_JWT", "mode": "mask", "decode": "jwt", "maskClaims": ["sk"]}]),
                 "good.test", "127.0.0.1:%d" % good.port)
    code = ("P = int(sys.argv[1]); a = os.environ['TOKEN_JWT']; b = os.environ['CLAIMS_JWT']\n"
            "st = http(request('good.test', P, '/hello', headers=['X-A: ' + a, 'X-B: ' + b]))['status']\n"
            "emit([st, a, b])\n")
    res, r = net.py_json(code, good.port, settings=s, env={"TOKEN_JWT": jwt, "CLAIMS_JWT": jwt})
    st, a, b = res
    assert st == 200, r
    assert jwt not in a and jwt not in b and SECRET not in r.out, r

    def dec(part):
        return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    ha, pa, _ = a.split(".")
    assert "alg" in dec(ha) and STANDIN.fullmatch(dec(pa)["sub"]), a
    hb, pb, _ = b.split(".")
    claims = dec(pb)
    assert claims["sub"] == "user-1" and claims["n"] == 3 and STANDIN.fullmatch(claims["sk"]), claims
    h = dict(good.requests[0]["headers"])
    assert h["X-A"] == jwt and h["X-B"] == jwt, h


# --- srt itself -------------------------------------------------------------------

def test_supervisor_not_dumpable_while_secrets_are_held(ctx):
    """With a masked credential srt is not dumpable (the user's other
    processes cannot read its memory or environment) and makes no core
    file; the sandbox keeps its own core limit."""
    s = settings(creds([{"name": "GITHUB_TOKEN", "mode": "mask"}]))
    p = ctx.start(["sh", "-c", "ulimit -c; echo started; sleep 30"], settings=s,
                  env={"GITHUB_TOKEN": SECRET})
    out = ctx.wait_output(p, "started").decode()
    # the srt process is the one we started (setpriv execs srt)
    with open("/proc/%d/limits" % p.pid) as f:
        core = [l for l in f if l.startswith("Max core file size")][0].split()
    assert core[4] == "0", core
    assert out.splitlines()[0] == subprocess.run(["sh", "-c", "ulimit -c"], capture_output=True,
                                                 text=True).stdout.strip(), out
    if ctx.user != "root":  # root reads any process's memory
        r = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "cat",
                            "/proc/%d/environ" % p.pid], capture_output=True)
        assert r.returncode != 0 and SECRET.encode() not in r.stdout, r
    p.kill()


# --- settings errors ----------------------------------------------------------------

@pytest.mark.parametrize("doc,words", [
    ({"credentials": {"envVars": [{"name": "A", "mode": "hide"}]}}, ["credentials.envVars[0].mode", "hide"]),
    ({"credentials": {"envVars": [{"name": "A", "mode": "mask", "extract": "a(b"}]}},
     ["credentials.envVars[0].extract", "regular expression"]),
    ({"credentials": {"files": [{"path": "/x", "mode": "mask", "extract": "nogroup"}]}},
     ["credentials.files[0].extract", "capturing group"]),
    ({"credentials": {"files": [{"path": "/x", "mode": "mask", "extract": "(?<k>a)"}]}},
     ["credentials.files[0].extract", "(?...)"]),
    ({"credentials": {"envVars": [{"name": "A", "mode": "mask", "maskClaims": ["x"]}]}}, ["maskClaims", "decode"]),
    ({"credentials": {"envVars": [{"name": "A", "mode": "mask", "injectHosts": []}]}}, ["injectHosts", "empty"]),
    ({"credentials": {"envVars": [{"name": "1A", "mode": "deny"}]}}, ["credentials.envVars[0].name"]),
    ({"credentials": {"envVar": []}}, ["credentials.envVar", "envVars"]),
    ({"credentials": {"allowPlaintextInject": True,
                      "envVars": [{"name": "A", "mode": "mask", "injectHosts": ["https://x.test"]}]}},
     ["credentials.envVars[0].injectHosts[0]", "not a domain pattern"]),
    ({"credentials": {"allowPlaintextInject": True, "envVars": [{"name": "A", "mode": "deny"}],
                      "awsPairs": [{"accessKeyIdVar": "A", "secretAccessKeyVar": "B"}]}},
     ["credentials.awsPairs[0]", "'A'"]),
    ({"credentials": {"sigv4": {"presigned": "yes"}}}, ["credentials.sigv4.presigned"]),
], ids=["mode", "bad-regex", "no-group", "named-group", "claims-without-decode", "empty-inject", "bad-name",
        "typo", "bad-inject-host", "aws-pair-not-masked", "sigv4"])
def test_settings_errors(ctx, doc, words):
    f = ctx.settings(doc)
    r = ctx.run(["echo", MARK], settings_file=f)
    assert r.rc == 125, r
    assert MARK not in r.out, r
    assert f in r.err, r
    for w in words:
        assert w in r.err, (w, r)


def test_settings_error_names_the_line(ctx):
    f = ctx.settings('{\n  "credentials": {\n    "envVars": [\n      {"name": "A", "mode": "mask", '
                     '"extract": "(a"}\n    ]\n  }\n}\n')
    r = ctx.run(["echo", MARK], settings_file=f)
    assert r.rc == 125 and "%s:4:" % f in r.err, r


# --- srt non-dumpable: the observer and the connect broker still work -------------

def test_observer_and_connect_broker_work_with_secrets_held(net, ctx):
    """With a secret held srt is non-dumpable; it still takes descriptors
    from the sandbox (pidfd_getfd: srt is the caller, not the target) and
    still sees its calls."""
    import test_transparent as tt
    e = net.echo(host=tt.ALT)
    s = settings(creds([{"name": "GITHUB_TOKEN", "mode": "mask"}]), "good.test", tt.lift(e.port))
    s["network"]["mode"] = "transparent"
    res, r, evs = tt.run_t(net, tt.BY_NAME, e.port, settings=s, opts=["--observe", "writes"],
                           env={"GITHUB_TOKEN": SECRET, "PYTHONDONTWRITEBYTECODE": "1"})
    assert r.rc == 0 and res["back"] == "ping by name\n", r
    ev = os.path.join(ctx.root, "ev2.jsonl")
    r = ctx.run(["sh", "-c", "echo x > /etc/srt-cred-test; true"], settings=s, env={"GITHUB_TOKEN": SECRET},
                opts=["--observe", "writes", "--events", ev])
    v = [x for x in events_of(ev) if x.get("event") == "violation" and x.get("kind") == "filesystem"]
    assert v and v[0]["target"] == "/etc/srt-cred-test", (r, v)


def test_file_mask_duplicates(ctx):
    f = ctx.write(os.path.join(ctx.home, ".config/app.ini"),
                  "password = %s\n# old: %s\n" % (SECRET, SECRET))
    base = {"path": "~/.config/app.ini", "mode": "mask", "extract": "password = (\\S+)"}
    r = ctx.run(["cat", f], settings=settings(creds(files=[dict(base)])))
    assert r.out.count(SECRET) == 1, r     # the comment's copy stays without maskDuplicates
    r = ctx.run(["cat", f], settings=settings(creds(files=[dict(base, maskDuplicates=True)])))
    assert SECRET not in r.out, r
    standins = STANDIN.findall(r.out)
    assert len(standins) == 2 and standins[0] == standins[1], r


def test_every_credential_in_a_body_is_reported(net, ctx):
    other = net.origin("other")
    ev = os.path.join(ctx.root, "events.jsonl")
    s = settings(creds([{"name": "A", "mode": "mask", "injectHosts": ["good.test"]},
                        {"name": "B", "mode": "mask", "injectHosts": ["good.test"]}]),
                 "other.test", "127.0.0.1:%d" % other.port)
    code = ("P = int(sys.argv[1])\n"
            "body = 'x' * 70000 + os.environ['A'] + 'y' * 70000 + os.environ['B']\n"
            "emit(http(request('other.test', P, '/hello', method='POST', body=body))['status'])\n")
    res, r = net.py_json(code, other.port, settings=s, env={"A": SECRET, "B": OTHER}, opts=["--events", ev])
    assert res == 200, r
    v = [e for e in events_of(ev) if e.get("operation") == "credential"]
    assert sorted("envVars[0] A" in e["rule"] for e in v) == [False, True], v
    assert all("request body" in e["rule"] for e in v), v
    assert SECRET not in other.requests[0]["body"].decode() and OTHER not in other.requests[0]["body"].decode()


def test_check_lists_credentials_without_values(ctx):
    f = ctx.settings(settings(creds([{"name": "GITHUB_TOKEN", "mode": "mask", "injectHosts": ["api.github.com"]},
                                     {"name": "NPM_TOKEN", "mode": "deny"}]), "api.github.com"))
    r = ctx.run(["check"], settings_file=f, env={"GITHUB_TOKEN": SECRET, "NPM_TOKEN": OTHER})
    assert r.rc == 0, r
    assert re.search(r"envVars\[0\] GITHUB_TOKEN +masked, injected at api\.github\.com +<- %s:" % re.escape(f), r.out), r
    assert re.search(r"envVars\[1\] NPM_TOKEN +denied", r.out), r
    assert SECRET not in r.out + r.err and OTHER not in r.out + r.err, r
    bad = ctx.settings({"credentials": {"allowPlaintextInject": True,
                                        "envVars": [{"name": "A", "mode": "mask", "injectHosts": ["*"]}]}})
    r = ctx.run(["check"], settings_file=bad)
    assert r.rc == 125 and "credentials.envVars[0].injectHosts[0]" in r.err, r


CHUNKED = r'''
P = int(sys.argv[1]); tok = os.environ["GITHUB_TOKEN"].encode()
# the stand-in cut across chunks at every position, one request each
statuses = []
c = Conn()
for cut in range(1, len(tok)):
    body = b"a=" + tok + b"&z=1"
    at = 2 + cut
    chunks = [body[:at], body[at:]]
    raw = ("POST http://good.test:%d/echo HTTP/1.1\r\nHost: good.test:%d\r\nTransfer-Encoding: chunked\r\n\r\n"
           % (P, P)).encode()
    for ch in chunks:
        raw += b"%x\r\n" % len(ch) + ch + b"\r\n"
    raw += b"0\r\n\r\n"
    c.send(raw)
    statuses.append(read_response(c, "POST").get("status"))
emit(statuses)
'''


def test_chunked_body_with_stand_in_cut_across_chunks(net, ctx):
    good = net.origin("good")
    s = settings(creds([{"name": "GITHUB_TOKEN", "mode": "mask", "injectHosts": ["good.test"]}]),
                 "good.test", "127.0.0.1:%d" % good.port)
    res, r = net.py_json(CHUNKED, good.port, settings=s, env={"GITHUB_TOKEN": SECRET})
    assert res == [200] * (len(SECRET) - 1), r
    bodies = [q["body"] for q in good.requests]
    assert bodies == [("a=%s&z=1" % SECRET).encode()] * (len(SECRET) - 1), bodies[:3]


# --- project settings ------------------------------------------------------------

def test_untrusted_project_credentials_apply_relative_to_the_project(ctx):
    """An untrusted project's deny and mask entries apply (they protect
    more); its allowPlaintextInject does not, so its masking needs the
    user's. Its relative paths are its own folder's, also when srt runs in
    a subfolder."""
    ctx.write("config/token", SECRET + "\n")
    ctx.write("config/other", OTHER + "\n")
    ctx.write(".sandbox/settings.json", json.dumps({"credentials": {
        "allowPlaintextInject": True,
        "envVars": [{"name": "NPM_TOKEN", "mode": "deny"}],
        "files": [{"path": "config/token", "mode": "deny"}, {"path": "./config/other", "mode": "mask"}]}}))
    sub = ctx.mkdir("sub/dir")
    script = 'echo "[${NPM_TOKEN-unset}]"; cat ../../config/token; cat ../../config/other; echo ' + MARK
    r = ctx.run(["sh", "-c", script], cwd=sub, env={"NPM_TOKEN": OTHER})
    assert r.rc == 125 and MARK not in r.out and "allowPlaintextInject" in r.err, r
    user = ctx.settings({"credentials": {"allowPlaintextInject": True}})
    r = ctx.run(["sh", "-c", script], cwd=sub, env={"NPM_TOKEN": OTHER}, settings_file=user)
    assert MARK in r.out and "[unset]" in r.out, r
    assert SECRET not in r.out and OTHER not in r.out, r
    assert STANDIN.search(r.out), r


def test_inject_host_not_allowed_draws_a_warning(ctx):
    s = settings(creds([{"name": "T", "mode": "mask", "injectHosts": ["api.good.test", "nowhere.test"]}]),
                 "*.good.test")
    r = ctx.run(["echo", MARK], settings=s, env={"T": SECRET})
    assert r.rc == 0 and MARK in r.out, r
    assert "'nowhere.test' is not reachable through network.allowedDomains" in r.err, r
    assert "api.good.test" not in r.err, r


# --- review: attacks ----------------------------------------------------------------

LINKED = r'''
P = int(sys.argv[1]); path = sys.argv[2]
try:
    data = open(path).read()
except OSError as e:
    data = "unreadable: %s" % e
st = http(request("good.test", P, "/echo", method="POST", body="k=" + data.strip()))["status"]
emit([st, data])
'''


def test_masked_file_linking_into_a_denied_folder_is_refused(net, ctx):
    """A project can ship (or an earlier sandboxed run can leave) a masked
    path as a link to a file the sandbox may not read. srt reads masked files
    unsandboxed: following that link would turn the denied file into a
    credential the proxy injects. srt refuses to run instead."""
    good = net.origin("good")
    key = ctx.write(os.path.join(ctx.home, ".ssh/id_test"), SECRET + "\n")
    env_file = os.path.join(ctx.proj, ".env")
    ctx.symlink(key, env_file)
    s = settings(creds(files=[{"path": env_file, "mode": "mask"}]), "good.test", "127.0.0.1:%d" % good.port)
    s["filesystem"] = {"denyRead": [os.path.join(ctx.home, ".ssh")]}
    r = net.py(LINKED, good.port, env_file, settings=s)
    assert SECRET not in r.out, r
    assert all(SECRET.encode() not in q["body"] for q in good.requests), good.requests
    assert r.rc == 125 and ".env" in r.err and "may not read" in r.err, r


def test_masked_file_of_a_read_denied_path_is_refused(ctx):
    """A mask entry (an untrusted project's, say) for a file the settings
    deny reading would lower deny to mask: refused."""
    key = ctx.write(os.path.join(ctx.home, ".ssh/id_test"), SECRET + "\n")
    s = settings(creds(files=[{"path": key, "mode": "mask"}]), "good.test")
    s["filesystem"] = {"denyRead": [key]}
    r = ctx.run(["sh", "-c", "cat %s; echo %s" % (key, MARK)], settings=s)
    assert r.rc == 125 and MARK not in r.out and "may not read" in r.err, r
    assert SECRET not in r.out + r.err, r


def test_one_file_masked_by_two_entries_through_a_link_is_refused(ctx):
    """A link to a file masked with narrow injectHosts, itself masked with
    laxer ones, would launder the secret to the laxer hosts."""
    real = ctx.write(os.path.join(ctx.home, ".config/gh/token"), SECRET + "\n")
    env_file = os.path.join(ctx.proj, ".env")
    ctx.symlink(real, env_file)
    s = settings(creds(files=[{"path": real, "mode": "mask", "injectHosts": ["api.good.test"]},
                              {"path": env_file, "mode": "mask"}]), "good.test", "api.good.test")
    r = ctx.run(["sh", "-c", "cat %s; echo %s" % (env_file, MARK)], settings=s)
    assert r.rc == 125 and MARK not in r.out and "masked by" in r.err, r
    assert SECRET not in r.out + r.err, r


PROBE_BOTH = r'''
P, O = int(sys.argv[1]), int(sys.argv[2]); tok = os.environ["GITHUB_TOKEN"]
a = http(request("good.test", P, "/hello", headers=["X-Token: " + tok]))["status"]
b = http(request("other.test", O, "/hello", headers=["X-Token: " + tok]))["status"]
emit([a, b, tok])
'''


def test_untrusted_project_cannot_widen_a_users_inject_hosts(net, ctx):
    """The user masks GITHUB_TOKEN for good.test; an untrusted project's
    entry for the same variable names other.test (or no injectHosts: every
    allowed host). The real value still goes to good.test only."""
    good = net.origin("good")
    other = net.origin("other")
    for proj_entry in ({"name": "GITHUB_TOKEN", "mode": "mask", "injectHosts": ["other.test"]},
                       {"name": "GITHUB_TOKEN", "mode": "mask"}):
        good.requests.clear()
        other.requests.clear()
        ctx.write(".sandbox/settings.json", json.dumps({"credentials": {"envVars": [proj_entry]}}))
        s = settings(creds([{"name": "GITHUB_TOKEN", "mode": "mask", "injectHosts": ["good.test"]}]),
                     "good.test", "other.test", "127.0.0.1:%d" % good.port, "127.0.0.1:%d" % other.port)
        res, r = net.py_json(PROBE_BOTH, good.port, other.port, settings=s, env={"GITHUB_TOKEN": SECRET})
        assert res[0] == 200 and res[1] == 200, r
        assert ["X-Token", SECRET] in good.requests[0]["headers"], (proj_entry, good.requests)
        assert ["X-Token", res[2]] in other.requests[0]["headers"], (proj_entry, other.requests)


TRACE = r'''
P = int(sys.argv[1]); tok = os.environ["GITHUB_TOKEN"]
res = [http(request("good.test", P, "/hello", method=m, headers=["Authorization: Bearer " + tok]))["status"]
       for m in ("TRACE", "trace", "GET")]
emit([res, tok])
'''


def test_trace_request_is_never_injected(net, ctx):
    """A TRACE is answered with the request as received: injecting into one
    would show the command the real value."""
    good = net.origin("good")
    s = settings(creds([{"name": "GITHUB_TOKEN", "mode": "mask", "injectHosts": ["good.test"]}]),
                 "good.test", "127.0.0.1:%d" % good.port)
    (res, tok), r = net.py_json(TRACE, good.port, settings=s, env={"GITHUB_TOKEN": SECRET})
    auth = [dict(q["headers"]).get("Authorization") for q in good.requests]
    assert [q["method"] for q in good.requests] == ["TRACE", "trace", "GET"], good.requests
    assert auth == ["Bearer " + tok, "Bearer " + tok, "Bearer " + SECRET], auth
    assert "TRACE" in r.err and "credential" in r.err, r


def test_masked_file_linking_to_srts_own_environment_is_refused(net, ctx):
    """A project's .env that is a link to /proc/self/environ would be read
    by srt as srt's own environment: every variable, denied ones included."""
    good = net.origin("good")
    env_file = os.path.join(ctx.proj, ".env")
    ctx.symlink("/proc/self/environ", env_file)
    s = settings(creds([{"name": "NPM_TOKEN", "mode": "deny"}], files=[{"path": env_file, "mode": "mask"}]),
                 "good.test", "127.0.0.1:%d" % good.port)
    r = net.py(LINKED, good.port, env_file, settings=s, env={"NPM_TOKEN": OTHER})
    assert r.rc == 125 and ".env" in r.err, r
    assert OTHER not in r.out + r.err, r
    assert all(OTHER.encode() not in q["body"] for q in good.requests), good.requests


def test_check_shows_entries_that_change_nothing_and_refused_masks(ctx):
    """srt check says which of two entries for one variable decides (the
    other's injectHosts never apply), and refuses a masked file a run would
    refuse."""
    f = ctx.settings(settings(creds([{"name": "GITHUB_TOKEN", "mode": "mask", "injectHosts": ["good.test"]},
                                     {"name": "GITHUB_TOKEN", "mode": "mask", "injectHosts": ["other.test"]}]),
                              "good.test", "other.test"))
    r = ctx.run(["check"], settings_file=f, env={"GITHUB_TOKEN": SECRET})
    assert r.rc == 0, r
    assert re.search(r"envVars\[0\] GITHUB_TOKEN +masked, injected at good\.test +<-", r.out), r
    assert re.search(r"envVars\[1\] GITHUB_TOKEN +masked \(no effect: another entry for GITHUB_TOKEN decides\)",
                     r.out), r
    key = ctx.write(os.path.join(ctx.home, ".ssh/id_test"), SECRET + "\n")
    env_file = ctx.symlink(key, os.path.join(ctx.proj, ".env"))
    s = settings(creds(files=[{"path": env_file, "mode": "mask"}]), "good.test")
    s["filesystem"] = {"denyRead": [os.path.join(ctx.home, ".ssh")]}
    r = ctx.run(["check"], settings_file=ctx.settings(s))
    assert r.rc == 125 and "may not read" in r.err and SECRET not in r.out + r.err, r


def test_masked_file_in_a_writable_folder_cannot_be_moved_out_from_under_its_cover(ctx):
    """The cover is a mount on the file's name: renaming or removing the
    name in a writable folder would leave the real file uncovered (at the
    new name, or for the next run, which finds nothing to mask). Masked
    files are write-protected as denyWrite entries are, the write guard
    included, and a missing one cannot be created (a link planted for the
    next run)."""
    env_file = ctx.write(".env", "API_KEY=%s\n" % SECRET)
    later = os.path.join(ctx.proj, ".netrc")
    s = settings(creds(files=[{"path": env_file, "mode": "mask"}, {"path": later, "mode": "mask"}]), "good.test")
    s["filesystem"] = {"allowWrite": [ctx.proj]}
    tricks = ("mv .env moved; ln .env linked; cp -l .env hard; rm -f .env; ln -s /proc/self/environ .netrc; "
              "echo x > .netrc; echo API_KEY=x > .env; touch made; ls -a; cat moved linked hard .env 2>&1; echo " + MARK)
    r = ctx.run(["sh", "-c", tricks], settings=s, cwd=ctx.proj)
    assert MARK in r.out and SECRET not in r.out, r
    assert "made" in r.out, r  # the folder stays writable
    assert ctx.read(env_file) == "API_KEY=%s\n" % SECRET
    assert not os.path.lexists(later)
    for name in ("moved", "linked", "hard"):
        assert not os.path.lexists(os.path.join(ctx.proj, name)), name
    # and the next run still sees the stand-in only
    r = ctx.py(LOOK_EVERYWHERE, SECRET[::-1], settings=s, cwd=ctx.proj)
    assert "FOUND []" in r.out, r
    assert SECRET not in r.out, r
