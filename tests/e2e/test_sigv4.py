# AWS SigV4 re-signing, end to end without the proxy: a plain-Python AWS
# client signs with the masked key pair, the re-signer (build/tests/sigv4_tool,
# the proxy's module as a stdin/stdout filter) signs again with the real pair,
# and a fake AWS endpoint on loopback checks the result with the real key, as
# AWS would. The client and the re-signer run as the test user (root or
# nobody); the endpoint listens on 127.0.0.1 only.
import hashlib
import http.client
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile

import pytest

from conftest import DROP, PY, TMP_BASE

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import fake_aws  # noqa: E402
import sigv4_ref  # noqa: E402

MASKED = {"akid": "SRTMASKEDAKIDE2E00001", "secret": "masked/e2e+Secret0123456789abcdefghijkl",
          "token": "masked-e2e-session-token"}
REAL = {"akid": "AKIAE2EREALKEY000001", "secret": "real/e2e+Secret9876543210ZYXWVUTSRQPONM",
        "token": "REAL/e2e+session//token=="}
HOST = "s3.amazonaws.com"


@pytest.fixture(scope="module")
def tools():
    """The re-signer and the client scripts, copied where nobody can run them."""
    srt = os.environ.get("SRT_BIN", "/work/main/build/srt")
    tool = os.path.join(os.path.dirname(os.path.realpath(srt)), "tests", "sigv4_tool")
    if not os.path.exists(tool):
        pytest.skip("no %s (build the tests)" % tool)
    d = tempfile.mkdtemp(prefix="srt-e2e-sigv4-", dir=TMP_BASE)
    os.chmod(d, 0o755)
    shutil.copy2(tool, d)
    for name in ("sigv4_client.py", "sigv4_ref.py"):
        shutil.copy2(os.path.join(HERE, name), d)
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(params=["root", "nobody"])
def user(request):
    return request.param


@pytest.fixture
def aws():
    a = fake_aws.FakeAws({REAL["akid"]: (REAL["secret"], REAL["token"])})
    yield a
    a.close()


def as_user(user, argv):
    return (DROP + argv) if user == "nobody" else argv


def client_request(tools, user, key, mode="header", method="GET", path="/bucket/key", data=None,
                   service="s3", chunk_size=8192, token=True, host=HOST):
    argv = [PY, os.path.join(tools, "sigv4_client.py"), "--akid", key["akid"], "--secret", key["secret"],
            "--region", "us-east-1", "--service", service, "--mode", mode, "--method", method,
            "--chunk-size", str(chunk_size), "--print-request"]
    if token:
        argv += ["--token", key["token"]]
    if data is not None:
        argv += ["--data-size", str(data)]
    argv.append("http://%s%s" % (host, path))
    r = subprocess.run(as_user(user, argv), capture_output=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return r.stdout


def resign(tools, user, raw, *opts):
    argv = [os.path.join(tools, "sigv4_tool"),
            "--masked-akid", MASKED["akid"], "--real-akid", REAL["akid"],
            "--masked-secret", MASKED["secret"], "--real-secret", REAL["secret"],
            "--masked-token", MASKED["token"], "--real-token", REAL["token"]] + list(opts)
    r = subprocess.run(as_user(user, argv), input=raw, capture_output=True, timeout=60)
    return r.returncode, r.stdout, r.stderr.decode()


def send_raw(port, raw):
    s = socket.create_connection(("127.0.0.1", port), timeout=30)
    try:
        s.sendall(raw)
        method = raw.split(b" ", 1)[0].decode()
        resp = http.client.HTTPResponse(s, method=method)
        resp.begin()
        return resp.status, json.loads(resp.read() or b"{}")
    finally:
        s.close()


def expected_data(n):
    return bytes((i * 7 + 3) % 256 for i in range(n))


CASES = [
    # mode, method, path, body size, service
    ("header", "GET", "/bucket/dir/a%20b.txt?list-type=2&prefix=x%2Fy", None, "s3"),
    ("header", "PUT", "/bucket/upload.bin", 5000, "s3"),
    ("unsigned", "PUT", "/bucket/unsigned.bin", 3000, "s3"),
    ("presigned", "GET", "/bucket/report.pdf?versionId=7", None, "s3"),
    ("streaming", "PUT", "/bucket/stream.bin", 50000, "s3"),
    ("header", "POST", "/", 40, "sts"),
    ("header", "GET", "/prod/./a%20b//c/../d?z=1&a=2", None, "execute-api"),
]


def test_reference_client_and_endpoint_agree(tools, user, aws):
    """The client signed with the real key is accepted; with the masked one
    AWS does not know the key."""
    for mode, method, path, size, service in CASES:
        raw = client_request(tools, user, REAL, mode, method, path, size, service)
        status, body = send_raw(aws.port, raw)
        assert status == 200, (mode, path, body)
        assert body["akid"] == REAL["akid"]
        if size:
            assert body["body_sha256"] == hashlib.sha256(expected_data(size)).hexdigest(), (mode, body)
        raw = client_request(tools, user, MASKED, mode, method, path, size, service)
        status, body = send_raw(aws.port, raw)
        assert status == 403 and body["reason"] == "unknown access key id", (mode, body)


@pytest.mark.parametrize("mode,method,path,size,service", CASES)
def test_masked_request_resigned_and_accepted(tools, user, aws, mode, method, path, size, service):
    raw = client_request(tools, user, MASKED, mode, method, path, size, service)
    rc, out, err = resign(tools, user, raw, "--presigned", "resign", "--streaming", "resign")
    assert rc == 0, err
    # The stand-ins are gone from what goes upstream; the real token is there.
    assert MASKED["akid"].encode() not in out and MASKED["token"].encode() not in out
    assert REAL["akid"].encode() in out
    status, body = send_raw(aws.port, out)
    assert status == 200, (body, out[:2000])
    assert body["akid"] == REAL["akid"]
    want = expected_data(size) if size else b""
    assert body["body_sha256"] == hashlib.sha256(want).hexdigest()
    assert aws.records[-1]["ok"] and aws.records[-1]["kind"] == ("presigned" if mode == "presigned" else
                                                                   "streaming" if mode == "streaming" else "header")


@pytest.mark.parametrize("feed", ["1", "7", "8191", "100000"])
def test_streaming_body_fed_in_pieces(tools, user, aws, feed):
    raw = client_request(tools, user, MASKED, "streaming", "PUT", "/bucket/pieces.bin", 30000, chunk_size=4096)
    rc, out, err = resign(tools, user, raw, "--streaming", "resign", "--feed", feed)
    assert rc == 0, err
    assert len(out) == len(raw)
    status, body = send_raw(aws.port, out)
    assert status == 200, body
    assert body["body_len"] == 30000


def test_forged_signature_refused(tools, user, aws):
    """Signed with the masked key id but not the masked secret: refused, and
    nothing reaches the endpoint."""
    forged = dict(MASKED, secret="guessed-secret")
    for mode in ("header", "presigned", "streaming"):
        raw = client_request(tools, user, forged, mode, "PUT" if mode == "streaming" else "GET",
                             "/bucket/forged", 100 if mode == "streaming" else None)
        rc, out, err = resign(tools, user, raw, "--presigned", "resign", "--streaming", "resign")
        assert rc == 3, (mode, err)
        assert "does not verify with the masked secret" in err
        assert out == b""
    # A streaming body whose chunk was changed after signing.
    raw = client_request(tools, user, MASKED, "streaming", "PUT", "/bucket/x", 100)
    i = raw.index(b"\r\n\r\n") + 100
    bad = raw[:i] + bytes([raw[i] ^ 1]) + raw[i + 1:]
    rc, out, err = resign(tools, user, bad, "--streaming", "resign")
    assert rc == 3 and "chunk signature does not verify" in err, err
    assert aws.records == []


@pytest.mark.parametrize("mode", ["presigned", "streaming"])
def test_switches_deny_and_passthrough(tools, user, aws, mode):
    method = "PUT" if mode == "streaming" else "GET"
    size = 100 if mode == "streaming" else None
    raw = client_request(tools, user, MASKED, mode, method, "/bucket/sw", size)
    # Default: denied, naming the switch.
    rc, out, err = resign(tools, user, raw)
    assert rc == 3 and ("credentials.sigv4.%s" % mode) in err, err
    # passthrough: forwarded as it was; AWS refuses the masked key.
    rc, out, err = resign(tools, user, raw, "--" + mode, "passthrough")
    assert rc == 2 and out == raw
    status, body = send_raw(aws.port, out)
    assert status == 403 and body["reason"] == "unknown access key id"


def test_other_keys_left_alone(tools, user, aws):
    """A request signed with a key that is not masked (the sandbox's own, or
    another account's) is forwarded byte for byte."""
    other = {"akid": "AKIAOTHERACCOUNT0001", "secret": "other-secret", "token": "t"}
    raw = client_request(tools, user, other, "header", "GET", "/bucket/k")
    rc, out, err = resign(tools, user, raw)
    assert rc == 1 and out == raw
    raw = client_request(tools, user, REAL, "header", "GET", "/bucket/k")
    rc, out, err = resign(tools, user, raw)
    assert rc == 1 and out == raw
    assert send_raw(aws.port, out)[0] == 200


def test_https_endpoint(tools, user):
    """The endpoint also speaks TLS (with its own test CA), as the upstream
    of a terminating proxy will."""
    if not shutil.which("openssl"):
        pytest.skip("no openssl command")
    d = tempfile.mkdtemp(prefix="tls-", dir=tools)
    os.chmod(d, 0o755)
    cert, key = os.path.join(d, "cert.pem"), os.path.join(d, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                    "-nodes", "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True)
    a = fake_aws.FakeAws({REAL["akid"]: (REAL["secret"], REAL["token"])}, certfile=cert, keyfile=key)
    try:
        argv = [PY, os.path.join(tools, "sigv4_client.py"), "--akid", REAL["akid"], "--secret", REAL["secret"],
                "--token", REAL["token"], "--cafile", cert, "--method", "PUT", "--data", "hello",
                "https://127.0.0.1:%d/bucket/tls" % a.port]
        os.chmod(cert, 0o644)
        env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
        r = subprocess.run(as_user(user, argv), capture_output=True, timeout=60, env=env)
        assert r.returncode == 0, (r.stdout, r.stderr)
        assert r.stdout.startswith(b"200 ")
        assert a.records[-1]["ok"] and a.records[-1]["body_len"] == 5
    finally:
        a.close()
        shutil.rmtree(d, ignore_errors=True)
