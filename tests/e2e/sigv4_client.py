"""An AWS client for the tests, in plain Python (no SDK): signs a request
with the key it is given (inside a sandbox: the masked one) with Signature
Version 4 -- Authorization header with a signed body hash, UNSIGNED-PAYLOAD,
a presigned URL, or an aws-chunked streaming upload -- and sends it as raw
bytes, so what goes on the wire is exactly what was signed.

Proxies: HTTP_PROXY/HTTPS_PROXY (either case) as curl reads them; https
goes through CONNECT, verified against the default trust store (which
honours SSL_CERT_FILE).

    python3 sigv4_client.py --akid A --secret S [--token T] --region R
        --service SVC [--mode header|unsigned|presigned|streaming]
        [--method M] [--data TEXT | --data-size N] [--chunk-size N]
        [--date YYYYMMDDTHHMMSSZ] [--print-request] URL

Prints the response status and body; exits 0 on 2xx, 1 otherwise.
"""
import argparse
import datetime
import http.client
import os
import ssl
import sys
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sigv4_ref  # noqa: E402


def build(mode, method, url, body, akid, secret, region, service, token=None, amz_date=None,
          chunk_size=64 * 1024, extra_headers=()):
    """Returns (method, target, headers, body) signed as mode asks; target
    is origin-form."""
    u = urllib.parse.urlsplit(url)
    host = u.netloc
    target = (u.path or "/") + ("?" + u.query if u.query else "")
    amz_date = amz_date or datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    headers = [("Host", host)] + list(extra_headers)
    if mode == "presigned":
        t = sigv4_ref.presign(method, target, host, akid, secret, region, service, amz_date, token=token)
        return method, t, headers, body
    if mode == "streaming":
        dlen = sigv4_ref.chunked_length(len(body), chunk_size)
        headers += [("Content-Encoding", "aws-chunked"), ("Content-Length", str(dlen)),
                    ("X-Amz-Decoded-Content-Length", str(len(body)))]
        headers, seed = sigv4_ref.sign_headers(method, target, headers, b"", akid, secret, region, service,
                                               amz_date, token=token, payload=sigv4_ref.STREAMING)
        return method, target, headers, sigv4_ref.aws_chunked(body, chunk_size, secret, region, service,
                                                              amz_date, seed)
    if body or method in ("POST", "PUT", "PATCH"):
        headers.append(("Content-Length", str(len(body))))
    payload = sigv4_ref.UNSIGNED if mode == "unsigned" else None
    headers, _ = sigv4_ref.sign_headers(method, target, headers, body, akid, secret, region, service, amz_date,
                                        token=token, payload=payload)
    return method, target, headers, body


def _proxy_for(scheme):
    for name in (scheme + "_proxy", (scheme + "_proxy").upper()):
        v = os.environ.get(name)
        if v:
            return urllib.parse.urlsplit(v if "://" in v else "http://" + v)
    return None


def send(url, method, target, headers, body, timeout=30, cafile=None):
    """Send the signed request as raw bytes; returns (status, reason, body)."""
    u = urllib.parse.urlsplit(url)
    port = u.port or (443 if u.scheme == "https" else 80)
    proxy = _proxy_for(u.scheme)
    if u.scheme == "https":
        ctx = ssl.create_default_context(cafile=cafile)
        if proxy:
            conn = http.client.HTTPSConnection(proxy.hostname, proxy.port or 80, timeout=timeout, context=ctx)
            conn.set_tunnel(u.hostname, port)
        else:
            conn = http.client.HTTPSConnection(u.hostname, port, timeout=timeout, context=ctx)
    else:
        if proxy:
            conn = http.client.HTTPConnection(proxy.hostname, proxy.port or 80, timeout=timeout)
            target = "http://%s%s" % (u.netloc, target)
        else:
            conn = http.client.HTTPConnection(u.hostname, port, timeout=timeout)
    conn.connect()
    conn.sock.sendall(sigv4_ref.build_raw(method, target, headers, body))
    resp = http.client.HTTPResponse(conn.sock, method=method)
    resp.begin()
    data = resp.read()
    conn.close()
    return resp.status, resp.reason, data


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--akid", required=True)
    ap.add_argument("--secret", required=True)
    ap.add_argument("--token")
    ap.add_argument("--region", default="us-east-1")
    ap.add_argument("--service", default="s3")
    ap.add_argument("--mode", default="header", choices=["header", "unsigned", "presigned", "streaming"])
    ap.add_argument("--method", default="GET")
    ap.add_argument("--data")
    ap.add_argument("--data-size", type=int)
    ap.add_argument("--chunk-size", type=int, default=64 * 1024)
    ap.add_argument("--date")
    ap.add_argument("--cafile")
    ap.add_argument("--print-request", action="store_true", help="print the signed request instead of sending it")
    ap.add_argument("url")
    a = ap.parse_args()
    body = a.data.encode() if a.data is not None else b""
    if a.data_size is not None:
        body = bytes((i * 7 + 3) % 256 for i in range(a.data_size))
    m, t, h, b = build(a.mode, a.method, a.url, body, a.akid, a.secret, a.region, a.service, a.token, a.date,
                       a.chunk_size)
    if a.print_request:
        sys.stdout.buffer.write(sigv4_ref.build_raw(m, t, h, b))
        return 0
    status, reason, data = send(a.url, m, t, h, b, cafile=a.cafile)
    print(status, reason)
    sys.stdout.write(data.decode("utf-8", "replace"))
    return 0 if 200 <= status < 300 else 1


if __name__ == "__main__":
    sys.exit(main())
