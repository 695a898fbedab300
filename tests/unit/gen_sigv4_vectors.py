#!/usr/bin/env python3
"""Writes tests/unit/data/sigv4_vectors.h: requests signed with a masked AWS
key pair and the Authorization value (or presigned target) the same request
must carry once re-signed with the real pair, both computed by the
independent Python signer tests/e2e/sigv4_ref.py.

    python3 tests/unit/gen_sigv4_vectors.py > tests/unit/data/sigv4_vectors.h
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "e2e"))
import sigv4_ref as r  # noqa: E402

MASKED = ("SRTMASKEDAKID0000001", "masked/Secret+0123456789abcdefghijklmn", "masked-session-token")
REAL = ("AKIAREALKEY000000001", "real/Secret+ABCDEFGHIJ0123456789zyxwvut", "REAL//session+token==")
DATE = "20240229T235959Z"


def header_case(name, method, target, base, body, region, service, token, payload=None, sign_token=True):
    mk, ms, mt = MASKED
    rk, rs, rt = REAL
    h_in, _ = r.sign_headers(method, target, list(base), body, mk, ms, region, service, DATE,
                             token=mt if token else None, payload=payload, sign_token=sign_token)
    h_out, _ = r.sign_headers(method, target, list(base), body, rk, rs, region, service, DATE,
                              token=rt if token else None, payload=payload, sign_token=True)
    auth = [v for k, v in h_out if k == "Authorization"][0]
    # The module keeps the sandbox's field order and adds only what is
    # missing; check the verifier agrees with the value it will see.
    return name, r.build_raw(method, target, h_in).decode("latin-1"), body, auth


def presigned_case(name, method, target, host, region, service, token):
    mk, ms, mt = MASKED
    rk, rs, rt = REAL
    t_in = r.presign(method, target, host, mk, ms, region, service, DATE, token=mt if token else None)
    t_out = r.presign(method, target, host, rk, rs, region, service, DATE, token=rt if token else None)
    return name, r.build_raw(method, t_in, [("Host", host)]).decode("latin-1"), b"", t_out


def c_str(s):
    if isinstance(s, bytes):
        s = s.decode("latin-1")
    out = '"'
    for ch in s:
        o = ord(ch)
        if ch == '"' or ch == "\\":
            out += "\\" + ch
        elif ch == "\r":
            out += "\\r"
        elif ch == "\n":
            out += "\\n\"\n\t\""
        elif 32 <= o < 127:
            out += ch
        else:
            out += "\\%03o" % o
    return out + '"'


def main():
    form = b"Action=GetCallerIdentity&Version=2011-06-15"
    put = b"the quick brown fox\n" * 50
    cases = [
        header_case("s3_get_query_token", "GET", "/my-bucket/photos/2024/a%20b.jpg?list-type=2&prefix=a%2Fb&delimiter=%2F",
                    [("Host", "my-bucket.s3.eu-west-1.amazonaws.com"), ("Range", "bytes=0-9")],
                    b"", "eu-west-1", "s3", True),
        header_case("sts_post_form", "POST", "/",
                    [("Host", "sts.amazonaws.com"), ("Content-Type", "application/x-www-form-urlencoded; charset=utf-8"),
                     ("Content-Length", str(len(form)))], form, "us-east-1", "sts", True),
        header_case("apigw_path_normalised", "GET", "/prod/./a%20b//c/../d/?b=2&a=%7e&a=1&z=x+y&e=",
                    [("Host", "abc123.execute-api.eu-central-1.amazonaws.com"), ("Accept", "application/json")],
                    b"", "eu-central-1", "execute-api", False),
        header_case("s3_put_signed_payload", "PUT", "/bucket/dir/obj.txt",
                    [("Host", "s3.amazonaws.com"), ("Content-Length", str(len(put))), ("Content-Type", "text/plain")],
                    put, "us-east-1", "s3", True),
        header_case("spaces_and_repeats", "GET", "/bucket/key",
                    [("Host", "s3.amazonaws.com"), ("X-Amz-Meta-Note", "  two   spaces\tand tab  "),
                     ("X-Amz-Meta-Note", "second"), ("My-Header", "a  b   c")],
                    b"", "us-east-1", "s3", False),
        header_case("unsigned_payload_put", "PUT", "/bucket/upload.bin",
                    [("Host", "s3.amazonaws.com"), ("Content-Length", str(len(put)))],
                    put, "us-east-1", "s3", True, payload=r.UNSIGNED),
        header_case("token_not_signed_by_sandbox", "GET", "/",
                    [("Host", "dynamodb.us-east-1.amazonaws.com")],
                    b"", "us-east-1", "dynamodb", True, sign_token=False),
        presigned_case("presigned_s3_token", "GET", "/bucket/report%20final.pdf?versionId=3",
                       "bucket.s3.amazonaws.com", "us-east-1", "s3", True),
        presigned_case("presigned_sts_no_token", "GET", "/?Action=GetCallerIdentity&Version=2011-06-15",
                       "sts.amazonaws.com", "us-east-1", "sts", False),
        header_case("streaming_unsigned_trailer", "PUT", "/bucket/flex.bin",
                    [("Host", "s3.amazonaws.com"), ("Content-Encoding", "aws-chunked"),
                     ("X-Amz-Trailer", "x-amz-checksum-crc32"), ("X-Amz-Decoded-Content-Length", "5"),
                     ("Transfer-Encoding", "chunked")],
                    b"", "us-east-1", "s3", True, payload=r.STREAMING_UNSIGNED_TRAILER),
        header_case("absolute_form", "GET", "https://s3.amazonaws.com/bucket/k?acl",
                    [("Host", "s3.amazonaws.com")], b"", "us-east-1", "s3", False),
    ]
    print("/* Generated by tests/unit/gen_sigv4_vectors.py from tests/e2e/sigv4_ref.py; do not edit. */")
    print(f"#define VEC_MASKED_AKID {c_str(MASKED[0])}")
    print(f"#define VEC_MASKED_SECRET {c_str(MASKED[1])}")
    print(f"#define VEC_MASKED_TOKEN {c_str(MASKED[2])}")
    print(f"#define VEC_REAL_AKID {c_str(REAL[0])}")
    print(f"#define VEC_REAL_SECRET {c_str(REAL[1])}")
    print(f"#define VEC_REAL_TOKEN {c_str(REAL[2])}")
    print("struct sigv4_vector {\n\tconst char *name;\n\tconst char *request;\n\tconst char *body;\n"
          "\tsize_t body_len;\n\tbool presigned;\n\tconst char *expect; /* Authorization value, or the target */\n};")
    print("static const struct sigv4_vector sigv4_vectors[] = {")
    for name, req, body, expect in cases:
        print(f"\t{{{c_str(name)},\n\t {c_str(req)},\n\t {c_str(body)}, {len(body)},")
        print(f"\t {'true' if name.startswith('presigned') else 'false'},\n\t {c_str(expect)}}},")
    print("};")


if __name__ == "__main__":
    main()
