# AWS SigV4 re-signing through the proxy: the sandbox holds a masked AWS key
# pair (credentials.envVars masks AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and
# AWS_SESSION_TOKEN, which pair up by themselves), a plain-Python client
# inside signs with it, srt terminates the TLS tunnel and signs the request
# again with the real pair, and a fake AWS endpoint (TLS, on 127.0.0.1, its
# own test CA, which srt trusts through its SSL_CERT_FILE) checks the result
# with the real key, as AWS would.
import json
import os
import shutil

import pytest

import netutil

pytest.importorskip("cryptography")
from test_tls import PKI  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
import fake_aws  # noqa: E402

REAL = {"AWS_ACCESS_KEY_ID": "AKIAE2EREALKEY0000001",
        "AWS_SECRET_ACCESS_KEY": "real/e2e+Secret9876543210ZYXWVUTSRQPONM0",
        "AWS_SESSION_TOKEN": "REAL/e2e+session//token=="}


@pytest.fixture
def net(ctx):
    n = netutil.Net(ctx)
    for name in ("sigv4_client.py", "sigv4_ref.py"):
        shutil.copy2(os.path.join(HERE, name), n.libdir)
        os.chmod(os.path.join(n.libdir, name), 0o644)
    yield n
    n.close()


@pytest.fixture
def aws(ctx):
    pki = PKI(ctx, os.path.join(ctx.root, "pki"))
    cert, key = pki.leaf(names=("good.test", "other.test"))
    a = fake_aws.FakeAws({REAL["AWS_ACCESS_KEY_ID"]: (REAL["AWS_SECRET_ACCESS_KEY"], REAL["AWS_SESSION_TOKEN"])},
                         certfile=cert, keyfile=key)
    a.pki = pki
    a.leaf = (cert, key)
    yield a
    a.close()


def settings(port, sigv4=None, inject=("good.test",), token=True):
    env = [{"name": "AWS_ACCESS_KEY_ID", "mode": "mask", "injectHosts": list(inject)},
           {"name": "AWS_SECRET_ACCESS_KEY", "mode": "mask", "injectHosts": list(inject)}]
    if token:
        env.append({"name": "AWS_SESSION_TOKEN", "mode": "mask", "injectHosts": list(inject)})
    c = {"envVars": env}
    if sigv4 is not None:
        c["sigv4"] = sigv4
    return {"network": {"allowedDomains": ["good.test", "other.test", "127.0.0.1:%d" % port], "tlsTerminate": {}},
            "credentials": c}


# Inside: each case is [mode, method, host, service, body size, secret override
# or null, chunk size]; one result per case: status and the answer's JSON.
CLIENT = r'''
import json, os
import sigv4_client as C
port = int(sys.argv[1])
cases = json.loads(sys.argv[2])
out = []
env = {k: os.environ.get(k) for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")}
for mode, method, host, service, size, secret, chunk in cases:
    scheme = "http" if mode.startswith("plain-") else "https"
    mode = mode[len("plain-"):] if scheme == "http" else mode
    url = "%s://%s:%d/bucket/some%%20key.txt?x-id=1" % (scheme, host, port)
    body = bytes((i * 7 + 3) % 256 for i in range(size))
    m, t, h, b = C.build(mode, method, url, body, env["AWS_ACCESS_KEY_ID"], secret or env["AWS_SECRET_ACCESS_KEY"],
                         "us-east-1", service, env["AWS_SESSION_TOKEN"], chunk_size=chunk)
    try:
        status, reason, data = C.send(url, m, t, h, b)
        out.append({"status": status, "text": data.decode("utf-8", "replace")})
    except Exception as e:
        out.append({"status": 0, "text": repr(e)})
environ = open("/proc/self/environ", "rb").read().decode("utf-8", "replace")
emit({"env": env, "environ": environ, "results": out})
'''


def run(net, aws, cases, sigv4=None, inject=("good.test",), token=True):
    ev = os.path.join(net.ctx.root, "events-%d.jsonl" % len(os.listdir(net.ctx.root)))
    env = dict(REAL)
    if not token:
        del env["AWS_SESSION_TOKEN"]
    env["SSL_CERT_FILE"] = aws.pki.cert_path
    res, r = net.py_json(CLIENT, aws.port, json.dumps(cases), settings=settings(aws.port, sigv4, inject, token),
                         env=env, opts=["--events", ev])
    assert r.rc == 0, r  # (a sanitizer build exits 86 on a finding)
    with open(ev) as f:
        text = f.read()
    evs = [json.loads(l) for l in text.splitlines() if l]
    # the real values: never inside, never in events or srt's messages (the
    # fake's answers name the key id it verified: those are the server's)
    for v in REAL.values():
        assert v not in json.dumps(res["env"]) and v not in res["environ"] and v not in text and v not in r.err, r
    return res, r, evs


def cred_violations(evs):
    return [e for e in evs if e.get("event") == "violation" and e.get("operation") == "credential"]


def test_header_signed_requests_are_resigned(net, aws):
    res, r, evs = run(net, aws, [
        ["header", "GET", "good.test", "s3", 0, None, 0],           # no body
        ["header", "PUT", "good.test", "s3", 5000, None, 0],        # x-amz-content-sha256: hex
        ["unsigned", "PUT", "good.test", "s3", 5000, None, 0],      # UNSIGNED-PAYLOAD
        ["header", "POST", "good.test", "sqs", 200000, None, 0],    # hash not declared: gathered
    ])
    env = res["env"]
    assert env["AWS_ACCESS_KEY_ID"].startswith("srtmask_") and env["AWS_SESSION_TOKEN"].startswith("srtmask_"), res
    assert [x["status"] for x in res["results"]] == [200, 200, 200, 200], (res, r)
    assert len(aws.records) == 4 and all(x["ok"] for x in aws.records), aws.records
    # signed with the real key id, the body intact
    assert all(x["akid"] == REAL["AWS_ACCESS_KEY_ID"] for x in aws.records), aws.records
    assert [x["body_len"] for x in aws.records] == [0, 5000, 5000, 200000], aws.records
    assert not cred_violations(evs), evs


def test_session_token_is_swapped(net, aws):
    res, r, evs = run(net, aws, [["header", "GET", "good.test", "s3", 0, None, 0]])
    assert res["results"][0]["status"] == 200, (res, r)
    # the fake checks X-Amz-Security-Token against the real token
    assert aws.records and aws.records[0]["ok"], aws.records


def test_without_a_session_token(net, aws):
    plain = fake_aws.FakeAws({REAL["AWS_ACCESS_KEY_ID"]: (REAL["AWS_SECRET_ACCESS_KEY"], None)},
                             certfile=aws.leaf[0], keyfile=aws.leaf[1])
    plain.pki = aws.pki
    try:
        res, r, evs = run(net, plain, [["header", "PUT", "good.test", "s3", 10, None, 0]], token=False)
        assert res["env"]["AWS_SESSION_TOKEN"] is None, res
        assert res["results"][0]["status"] == 200, (res, r)
        assert plain.records and plain.records[0]["ok"], plain.records
    finally:
        plain.close()


def test_presigned_and_streaming_denied_by_default(net, aws):
    res, r, evs = run(net, aws, [
        ["presigned", "GET", "good.test", "s3", 0, None, 0],
        ["streaming", "PUT", "good.test", "s3", 100000, None, 16384],
    ])
    for x in res["results"]:
        assert x["status"] == 403 and "AWS SigV4" in x["text"] and "AWS_ACCESS_KEY_ID" in x["text"], res
    assert "presigned" in res["results"][0]["text"], res
    assert aws.records == [], aws.records
    v = cred_violations(evs)
    assert v and all("AWS_ACCESS_KEY_ID" in e["rule"] and "good.test" in e["target"] for e in v), evs
    assert any("AWS SigV4 request signed with its stand-in was refused" in e["rule"] and "presigned" in e["rule"]
               for e in v), v


def test_presigned_and_streaming_resigned_when_asked(net, aws):
    res, r, evs = run(net, aws, [
        ["presigned", "GET", "good.test", "s3", 0, None, 0],
        ["streaming", "PUT", "good.test", "s3", 100000, None, 16384],
    ], sigv4={"presigned": "resign", "streaming": "resign"})
    assert [x["status"] for x in res["results"]] == [200, 200], (res, r)
    assert [x["kind"] for x in aws.records] == ["presigned", "streaming"] or all(x["ok"] for x in aws.records), \
        aws.records
    assert all(x["ok"] and x["akid"] == REAL["AWS_ACCESS_KEY_ID"] for x in aws.records), aws.records
    assert aws.records[1]["body_len"] == 100000, aws.records
    assert not cred_violations(evs), evs


def test_passthrough_forwards_unsigned(net, aws):
    res, r, evs = run(net, aws, [["presigned", "GET", "good.test", "s3", 0, None, 0]],
                      sigv4={"presigned": "passthrough"})
    # forwarded as it was: AWS (the fake) refuses the masked key's signature
    assert res["results"][0]["status"] == 403 and "AWS SigV4" not in res["results"][0]["text"], res
    assert len(aws.records) == 1 and not aws.records[0]["ok"], aws.records


def test_forged_signature_is_refused(net, aws):
    res, r, evs = run(net, aws, [["header", "GET", "good.test", "s3", 0, "forged/Secret0123456789abcdefghijklmnop", 0]])
    x = res["results"][0]
    assert x["status"] == 403 and "AWS SigV4" in x["text"], res
    assert aws.records == [], aws.records
    assert any("was refused" in e["rule"] for e in cred_violations(evs)), evs


def test_masked_key_to_a_host_outside_inject_hosts(net, aws):
    res, r, evs = run(net, aws, [["header", "GET", "other.test", "s3", 0, None, 0]])
    # forwarded unchanged (not re-signed): the fake sees the stand-in
    assert res["results"][0]["status"] == 403, res
    assert len(aws.records) == 1 and aws.records[0]["akid"] == res["env"]["AWS_ACCESS_KEY_ID"], aws.records
    v = cred_violations(evs)
    assert v and all("other.test" in e["target"] for e in v), evs
    assert any("AWS_ACCESS_KEY_ID" in e["rule"] for e in v), v


def test_body_too_large_to_gather_is_refused(net, aws):
    res, r, evs = run(net, aws, [["header", "POST", "good.test", "sqs", 9 * 1024 * 1024, None, 0]])
    x = res["results"][0]
    # refused with 413 (the client may see the answer or a reset while still sending)
    assert x["status"] in (413, 0), res
    if x["status"] == 413:
        assert "8 MiB" in x["text"], res
    assert aws.records == [], aws.records


def test_plain_http_is_not_resigned(net, aws):
    plain = fake_aws.FakeAws({REAL["AWS_ACCESS_KEY_ID"]: (REAL["AWS_SECRET_ACCESS_KEY"], REAL["AWS_SESSION_TOKEN"])})
    plain.pki = aws.pki
    try:
        res, r, evs = run(net, plain, [["plain-header", "GET", "good.test", "s3", 0, None, 0]])
        # not over TLS srt terminated (and no allowPlaintextInject): forwarded
        # as it was, the stand-in key id and all, and reported
        assert res["results"][0]["status"] == 403, res
        assert len(plain.records) == 1 and plain.records[0]["akid"] == res["env"]["AWS_ACCESS_KEY_ID"], plain.records
        assert any("AWS_ACCESS_KEY_ID" in e["rule"] for e in cred_violations(evs)), evs
    finally:
        plain.close()


def test_streaming_small_and_large_chunks(net, aws):
    # 1000-byte chunks (chunk heads straddle every read), and a 10 MiB upload
    # in 1 MiB chunks: streamed, not held whole (more than the 8 MiB gathering bound)
    res, r, evs = run(net, aws, [
        ["streaming", "PUT", "good.test", "s3", 300000, None, 1000],
        ["streaming", "PUT", "good.test", "s3", 10 * 1024 * 1024, None, 1024 * 1024],
    ], sigv4={"streaming": "resign"})
    assert [x["status"] for x in res["results"]] == [200, 200], (res, r)
    assert [x["body_len"] for x in aws.records] == [300000, 10 * 1024 * 1024], aws.records
    assert all(x["ok"] and x["kind"] == "streaming" for x in aws.records), aws.records


KEEP_ALIVE = r'''
import http.client, os, ssl, urllib.parse
import sigv4_client as C, sigv4_ref as R
port = int(sys.argv[1])
env = {k: os.environ.get(k) for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")}
proxy = urllib.parse.urlsplit(os.environ["HTTPS_PROXY"])
conn = http.client.HTTPSConnection(proxy.hostname, proxy.port, timeout=30, context=ssl.create_default_context())
conn.set_tunnel("good.test", port)
conn.connect()
out = []
for mode, method, size in (("header", "PUT", 100), ("header", "POST", 3000), ("header", "GET", 0), ("presigned", "GET", 0)):
    url = "https://good.test:%d/bucket/k" % port
    body = b"x" * size
    service = "sqs" if method == "POST" else "s3"
    m, t, h, b = C.build(mode, method, url, body, env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"],
                         "us-east-1", service, env["AWS_SESSION_TOKEN"])
    try:
        conn.sock.sendall(R.build_raw(m, t, h, b))
        resp = http.client.HTTPResponse(conn.sock, method=m)
        resp.begin()
        out.append([resp.status, resp.read().decode()])
    except Exception as e:
        out.append([0, repr(e)])
        break
emit({"env": env, "environ": "", "results": out})
'''


def test_keep_alive_resigned_then_refused(net, aws):
    # one connection: re-signed (declared hash), re-signed (gathered body),
    # re-signed (no body), then refused (presigned): the refusal closes it
    env = dict(REAL)
    env["SSL_CERT_FILE"] = aws.pki.cert_path
    res, r = net.py_json(KEEP_ALIVE, aws.port, settings=settings(aws.port), env=env)
    assert r.rc == 0, r
    st = [x[0] for x in res["results"]]
    assert st == [200, 200, 200, 403], (res, r)
    assert len(aws.records) == 3 and all(x["ok"] for x in aws.records), aws.records
    assert [x["body_len"] for x in aws.records] == [100, 3000, 0], aws.records
