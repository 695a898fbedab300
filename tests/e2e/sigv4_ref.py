"""AWS Signature Version 4, written from AWS's public description with hashlib
and hmac only: canonical requests, signing keys, Authorization values,
presigned query strings and aws-chunked chunk signatures.

Used by the tests as an independent reference: sigv4_client.py signs with
it, fake_aws.py verifies with it, and the unit tests' vectors for
src/proxy/sigv4.c are checked against it (tests/unit/gen_sigv4_vectors.py).
"""
import hashlib
import hmac
import re
import urllib.parse

ALGORITHM = "AWS4-HMAC-SHA256"
UNSIGNED = "UNSIGNED-PAYLOAD"
STREAMING = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
STREAMING_UNSIGNED_TRAILER = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


def sha256_hex(data):
    if isinstance(data, str):
        data = data.encode()
    return hashlib.sha256(data).hexdigest()


def _hmac(key, msg):
    if isinstance(msg, str):
        msg = msg.encode()
    return hmac.new(key, msg, hashlib.sha256).digest()


def signing_key(secret, date, region, service):
    k = _hmac(("AWS4" + secret).encode(), date)
    k = _hmac(k, region)
    k = _hmac(k, service)
    return _hmac(k, "aws4_request")


def _encode(raw_bytes, keep_slash=False):
    return urllib.parse.quote(raw_bytes, safe="/~" if keep_slash else "~")


_BAD_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")


def _decode(text):
    """Percent-decode to bytes; text with a malformed escape is taken as is."""
    if _BAD_ESCAPE.search(text):
        return text.encode()
    return urllib.parse.unquote_to_bytes(text)


def canonical_uri(path, service):
    if path == "":
        return "/"
    if service == "s3":
        return path
    out = []
    for seg in path.split("/"):
        if seg in ("", "."):
            continue
        if seg == "..":
            if out:
                out.pop()
        else:
            out.append(seg)
    norm = "/" + "/".join(out)
    if out and path.endswith("/"):
        norm += "/"
    return _encode(norm.encode(), keep_slash=True)


def canonical_query(query, skip=None):
    pairs = []
    for part in query.split("&"):
        if part == "":
            continue
        name, _, value = part.partition("=")
        dn = _decode(name)
        if skip is not None and dn == skip.encode():
            continue
        pairs.append((_encode(dn), _encode(_decode(value))))
    pairs.sort()
    return "&".join(f"{k}={v}" for k, v in pairs)


def trimall(value):
    return re.sub(r"[ \t]+", " ", value.strip(" \t"))


def canonical_request(method, path, query, headers, signed, payload_hash, service, skip=None):
    """headers: list of (name, value) as sent; signed: lowercase names."""
    names = sorted(signed)
    lines = []
    for n in names:
        vals = [trimall(v) for k, v in headers if k.lower() == n]
        if not vals:
            raise KeyError(f"signed header {n} missing")
        lines.append(f"{n}:{','.join(vals)}\n")
    return "\n".join([
        method,
        canonical_uri(path, service),
        canonical_query(query, skip),
        "".join(lines),
        ";".join(names),
        payload_hash,
    ])


def string_to_sign(amz_date, scope, creq):
    return "\n".join([ALGORITHM, amz_date, scope, sha256_hex(creq)])


def signature(secret, date, region, service, sts):
    return hmac.new(signing_key(secret, date, region, service), sts.encode(), hashlib.sha256).hexdigest()


def split_target(target):
    """origin-form or absolute-form -> (prefix, path, query or None)."""
    prefix = ""
    m = re.match(r"^(https?://[^/?]*)", target, re.I)
    if m:
        prefix = m.group(1)
        target = target[len(prefix):]
    path, sep, query = target.partition("?")
    return prefix, path, (query if sep else None)


def sign_headers(method, target, headers, body, akid, secret, region, service, amz_date,
                 token=None, payload=None, sign_token=True):
    """Header-form SigV4. headers: list of (name, value), must hold Host.
    payload: None (sha256 of body), "UNSIGNED-PAYLOAD", a STREAMING-* value.
    Adds x-amz-date (and the token); returns (headers, signature)."""
    headers = [(k, v) for k, v in headers if k.lower() not in ("authorization",)]
    headers.append(("X-Amz-Date", amz_date))
    if token is not None:
        headers.append(("X-Amz-Security-Token", token))
    if payload is None:
        payload_hash = sha256_hex(body)
    else:
        payload_hash = payload
    if service == "s3" or payload is not None:
        headers.append(("X-Amz-Content-Sha256", payload_hash))
    signed = sorted({k.lower() for k, _ in headers if sign_token or k.lower() != "x-amz-security-token"})
    _, path, query = split_target(target)
    creq = canonical_request(method, path, query or "", headers, signed, payload_hash, service)
    date = amz_date[:8]
    scope = f"{date}/{region}/{service}/aws4_request"
    sig = signature(secret, date, region, service, string_to_sign(amz_date, scope, creq))
    headers.append(("Authorization", f"{ALGORITHM} Credential={akid}/{scope}, "
                    f"SignedHeaders={';'.join(signed)}, Signature={sig}"))
    return headers, sig


def presign(method, target, host, akid, secret, region, service, amz_date, expires=3600, token=None):
    """A presigned request target (X-Amz-* query parameters), signing Host only."""
    prefix, path, query = split_target(target)
    date = amz_date[:8]
    scope = f"{date}/{region}/{service}/aws4_request"
    params = [] if not query else [query]
    params.append("X-Amz-Algorithm=" + ALGORITHM)
    params.append("X-Amz-Credential=" + _encode(f"{akid}/{scope}".encode()))
    params.append("X-Amz-Date=" + amz_date)
    params.append(f"X-Amz-Expires={expires}")
    if token is not None:
        params.append("X-Amz-Security-Token=" + _encode(token.encode()))
    params.append("X-Amz-SignedHeaders=host")
    q = "&".join(params)
    payload = UNSIGNED if service == "s3" else EMPTY_SHA256
    creq = canonical_request(method, path, q, [("Host", host)], ["host"], payload, service)
    sig = signature(secret, date, region, service, string_to_sign(amz_date, scope, creq))
    return f"{prefix}{path or '/'}?{q}&X-Amz-Signature={sig}"


def chunk_signature(key, amz_date, scope, prev, data):
    sts = "\n".join(["AWS4-HMAC-SHA256-PAYLOAD", amz_date, scope, prev, EMPTY_SHA256, sha256_hex(data)])
    return hmac.new(key, sts.encode(), hashlib.sha256).hexdigest()


def aws_chunked(data, chunk_size, secret, region, service, amz_date, seed):
    """The aws-chunked body for data, chained from the seed signature."""
    date = amz_date[:8]
    scope = f"{date}/{region}/{service}/aws4_request"
    key = signing_key(secret, date, region, service)
    out = []
    prev = seed
    pieces = [data[i:i + chunk_size] for i in range(0, len(data), chunk_size)] + [b""]
    for p in pieces:
        prev = chunk_signature(key, amz_date, scope, prev, p)
        out.append(b"%x;chunk-signature=%s\r\n" % (len(p), prev.encode()) + p + b"\r\n")
    return b"".join(out)


def chunked_length(data_len, chunk_size):
    total = 0
    n = data_len
    while True:
        c = min(n, chunk_size)
        total += len(b"%x" % c) + len(";chunk-signature=") + 64 + 2 + c + 2
        if c == 0:
            return total
        n -= c


# --- verification (what an AWS endpoint does) ---------------------------

_AUTH = re.compile(r"^AWS4-HMAC-SHA256 +(.*)$")


def parse_authorization(value):
    m = _AUTH.match(value)
    if not m:
        return None
    parts = {}
    for item in m.group(1).split(","):
        k, sep, v = item.strip().partition("=")
        if not sep or k in parts:
            return None
        parts[k] = v
    if set(parts) != {"Credential", "SignedHeaders", "Signature"}:
        return None
    cred = parts["Credential"].split("/")
    if len(cred) != 5 or cred[4] != "aws4_request":
        return None
    return {"akid": cred[0], "date": cred[1], "region": cred[2], "service": cred[3],
            "signed": parts["SignedHeaders"].split(";"), "signature": parts["Signature"].lower()}


def verify(method, target, headers, body, keys):
    """Check a request as AWS would. keys: {akid: (secret, token or None)}.
    Returns (ok, reason, info); info has kind, akid, and for streaming the
    decoded body."""
    hmap = {}
    for k, v in headers:
        hmap.setdefault(k.lower(), []).append(v)
    _, path, query = split_target(target)
    query = query or ""
    params = {}
    for part in query.split("&"):
        if part:
            n, _, v = part.partition("=")
            params.setdefault(urllib.parse.unquote(n), []).append(urllib.parse.unquote(v))
    if "X-Amz-Signature" in params:
        try:
            cred = params["X-Amz-Credential"][0].split("/")
            akid, date, region, service = cred[0], cred[1], cred[2], cred[3]
            amz_date = params["X-Amz-Date"][0]
            signed = params["X-Amz-SignedHeaders"][0].split(";")
            sig = params["X-Amz-Signature"][0].lower()
        except (KeyError, IndexError):
            return False, "malformed presigned query", {}
        if akid not in keys:
            return False, "unknown access key id", {"akid": akid}
        secret, token = keys[akid]
        if token is not None and params.get("X-Amz-Security-Token", [None])[0] != token:
            return False, "wrong or missing session token", {"akid": akid}
        csha = hmap.get("x-amz-content-sha256", [None])[0]
        payload = csha if csha else (UNSIGNED if service == "s3" else sha256_hex(body))
        try:
            creq = canonical_request(method, path, query, headers, signed, payload, service, skip="X-Amz-Signature")
        except KeyError as e:
            return False, str(e), {}
        scope = f"{date}/{region}/{service}/aws4_request"
        want = signature(secret, date, region, service, string_to_sign(amz_date, scope, creq))
        if not hmac.compare_digest(want, sig):
            return False, "presigned signature mismatch", {"akid": akid}
        return True, "ok", {"kind": "presigned", "akid": akid, "body": body}
    auths = hmap.get("authorization", [])
    if len(auths) != 1:
        return False, "no single Authorization", {}
    a = parse_authorization(auths[0])
    if a is None:
        return False, "malformed Authorization", {}
    if a["akid"] not in keys:
        return False, "unknown access key id", {"akid": a["akid"]}
    secret, token = keys[a["akid"]]
    if token is not None:
        if hmap.get("x-amz-security-token") != [token]:
            return False, "wrong or missing session token", {"akid": a["akid"]}
        if "x-amz-security-token" not in a["signed"]:
            return False, "session token not signed", {"akid": a["akid"]}
    amz_date = hmap.get("x-amz-date", [None])[0]
    if amz_date is None:
        return False, "no x-amz-date", {}
    csha = hmap.get("x-amz-content-sha256", [None])[0]
    if csha is None:
        payload = sha256_hex(body)
    else:
        payload = csha
        if csha not in (UNSIGNED, STREAMING, STREAMING_UNSIGNED_TRAILER) and csha != sha256_hex(body):
            return False, "x-amz-content-sha256 does not match the body", {"akid": a["akid"]}
    try:
        creq = canonical_request(method, path, query, headers, a["signed"], payload, a["service"])
    except KeyError as e:
        return False, str(e), {}
    scope = f"{a['date']}/{a['region']}/{a['service']}/aws4_request"
    want = signature(secret, a["date"], a["region"], a["service"], string_to_sign(amz_date, scope, creq))
    if not hmac.compare_digest(want, a["signature"]):
        return False, "signature mismatch", {"akid": a["akid"]}
    info = {"kind": "header", "akid": a["akid"], "body": body}
    if csha == STREAMING:
        key = signing_key(secret, a["date"], a["region"], a["service"])
        ok, reason, data = verify_chunked(body, key, amz_date, scope, want)
        if not ok:
            return False, reason, {"akid": a["akid"]}
        dl = hmap.get("x-amz-decoded-content-length", [None])[0]
        if dl is not None and int(dl) != len(data):
            return False, "x-amz-decoded-content-length mismatch", {"akid": a["akid"]}
        info.update(kind="streaming", body=data)
    elif csha == STREAMING_UNSIGNED_TRAILER:
        info.update(kind="streaming-unsigned-trailer")
    return True, "ok", info


_CHUNK = re.compile(rb"([0-9a-fA-F]+);chunk-signature=([0-9a-f]{64})\r\n")


def verify_chunked(body, key, amz_date, scope, seed):
    prev = seed
    pos = 0
    data = []
    while True:
        m = _CHUNK.match(body, pos)
        if not m:
            return False, "malformed chunk header", b""
        size = int(m.group(1), 16)
        start = m.end()
        chunk = body[start:start + size]
        if len(chunk) != size or body[start + size:start + size + 2] != b"\r\n":
            return False, "truncated chunk", b""
        want = chunk_signature(key, amz_date, scope, prev, chunk)
        if not hmac.compare_digest(want, m.group(2).decode()):
            return False, "chunk signature mismatch", b""
        prev = want
        data.append(chunk)
        pos = start + size + 2
        if size == 0:
            if pos != len(body):
                return False, "bytes after the final chunk", b""
            return True, "ok", b"".join(data)


def parse_raw(raw):
    """Raw HTTP/1.1 request bytes -> (method, target, headers, rest)."""
    end = raw.index(b"\r\n\r\n")
    lines = raw[:end].decode("latin-1").split("\r\n")
    method, target, _ = lines[0].split(" ", 2)
    headers = []
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers.append((k, v.strip(" \t")))
    return method, target, headers, raw[end + 4:]


def build_raw(method, target, headers, body=b""):
    head = f"{method} {target} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers) + "\r\n"
    return head.encode("latin-1") + body
