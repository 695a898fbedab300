# Kernel keyrings: the sandbox shares none with its caller, and cannot reach the caller's keys.
import json
import os
import platform
import subprocess

import pytest

from conftest import DROP, PY

# add_key, request_key, keyctl
NRS = {"x86_64": (248, 249, 250), "aarch64": (217, 218, 219)}.get(platform.machine())
pytestmark = pytest.mark.skipif(NRS is None, reason="syscall numbers known for x86_64 and aarch64 only")

# Run on the host as the test user: join a session keyring of its own (so
# nothing outside this process changes), put a key with a known payload in
# it, note what the keyrings hold, run srt, note again. Prints one JSON
# object. argv: ADD_KEY REQUEST_KEY KEYCTL TOKEN PAYLOAD WATCH -- SRT_ARGV...
# (in the srt argv, "{token}", "{key}", "{session}" and "{rings}" are
# replaced with TOKEN, the key's serial, the session keyring's and the user
# keyrings'). With
# WATCH=1 the command prints a line, then waits for one on its stdin: the
# keyrings are noted in between too.
HOST = r'''
import ctypes, errno, json, os, subprocess, sys, time
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
ADD_KEY, REQUEST_KEY, KEYCTL = (int(x) for x in sys.argv[1:4])
token, payload, watch = sys.argv[4], sys.argv[5].encode(), sys.argv[6] == "1"
srt_argv = sys.argv[8:]
L = ctypes.c_long

def sc(nr, *a):
    r = libc.syscall(nr, *a)
    if r < 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))
    return r

def ring(serial):
    buf = (ctypes.c_int32 * 4096)()
    n = sc(KEYCTL, L(11), L(serial), buf, L(ctypes.sizeof(buf)))  # KEYCTL_READ
    return sorted(buf[i] for i in range(n // 4))

def read_key(serial):
    buf = ctypes.create_string_buffer(4096)
    n = sc(KEYCTL, L(11), L(serial), buf, L(len(buf)))
    return buf.raw[:n].decode("utf-8", "replace")

def proc_keys():
    """Keys this user may view (without creating any: reading @u would
    create the user keyring), as (serial, type, description: summary),
    for our token and for the user's own keyrings."""
    uid = os.getuid()
    out = []
    with open("/proc/keys") as f:
        for line in f:
            p = line.split(None, 8)
            if len(p) < 9:
                continue
            if token in p[8] or p[8].startswith(("_uid.%d:" % uid, "_uid_ses.%d:" % uid)):
                out.append((p[0], p[7], p[8].strip()))
    return sorted(out)

def session_keyrings():
    """Serials of the anonymous session keyrings this user owns."""
    uid = os.getuid()
    out = []
    with open("/proc/keys") as f:
        for line in f:
            p = line.split(None, 8)
            if len(p) == 9 and p[5] == str(uid) and p[7] == "keyring" and p[8].startswith("_ses:"):
                out.append(int(p[0], 16))
    return sorted(out)

def user_rings():
    uid = os.getuid()
    return [int(s, 16) for s, t, d in proc_keys()
            if t == "keyring" and d.startswith(("_uid.%d:" % uid, "_uid_ses.%d:" % uid))]

try:
    session = sc(KEYCTL, L(1), None)  # KEYCTL_JOIN_SESSION_KEYRING, anonymous
except OSError as e:
    print(json.dumps({"skip": "no keyring support here: %s" % errno.errorcode.get(e.errno, e.errno)}))
    sys.exit(0)
key = sc(ADD_KEY, b"user", (token + "-host").encode(), payload, ctypes.c_size_t(len(payload)), L(-3))
rings = user_rings()
subst = {"{token}": token, "{key}": str(key), "{session}": str(session), "{rings}": ",".join(map(str, rings))}
argv = [subst.get(a, a) for a in srt_argv]

before = {"session": ring(session), "proc_keys": proc_keys()}
ses_before = session_keyrings()
p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
first = b""
ses_during = []
if watch:
    first = p.stdout.readline()
    ses_during = session_keyrings()
out, err = p.communicate(b"\n", timeout=60)
after = {"session": ring(session), "proc_keys": proc_keys()}
# Should a sandbox have added keys to the user keyrings (the failure this
# looks for), take them out again: the user keyrings outlive the test.
for serial, kind, desc in after["proc_keys"]:
    if token in desc and int(serial, 16) != key:
        for r in rings + [session]:
            libc.syscall(KEYCTL, L(9), L(int(serial, 16)), L(r))  # KEYCTL_UNLINK
# The kernel collects an unreferenced keyring from a work queue: soon.
new = set(ses_during) - set(ses_before)
for _ in range(250):
    ses_after = session_keyrings()
    if not new & set(ses_after):
        break
    time.sleep(0.02)
print(json.dumps({
    "rc": p.returncode,
    "out": (first + out).decode("utf-8", "replace"),
    "err": err.decode("utf-8", "replace"),
    "key": key, "session": session, "rings": rings,
    "before": before, "after": after,
    "ses_before": ses_before, "ses_during": ses_during, "ses_after": ses_after,
    "host_reads_key": read_key(key),
}))
'''

# Run inside the sandbox: every way to a keyring. argv: ADD_KEY REQUEST_KEY
# KEYCTL TOKEN KEY SESSION RINGS. Prints one JSON object: attempt -> "ok"
# (with whatever it read) or the errno's name.
INSIDE = r'''
import ctypes, json, os, sys
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
ADD_KEY, REQUEST_KEY, KEYCTL = (int(x) for x in sys.argv[1:4])
token = sys.argv[4]
key, session = int(sys.argv[5]), int(sys.argv[6])
rings = [int(x) for x in sys.argv[7].split(",") if x]
L = ctypes.c_long
res = {}

def attempt(name, nr, *a, buf=None):
    r = libc.syscall(nr, *a)
    if r < 0:
        e = ctypes.get_errno()
        res[name] = __import__("errno").errorcode.get(e, str(e))
    else:
        res[name] = "ok " + (repr(buf.raw[:min(r, len(buf))]) if buf is not None else str(r))

def read(name, serial):
    buf = ctypes.create_string_buffer(4096)
    attempt(name, KEYCTL, L(11), L(serial), buf, L(len(buf)), buf=buf)

def add(name, serial):
    attempt(name, ADD_KEY, b"user", (token + "-in").encode(), b"x", ctypes.c_size_t(1), L(serial))

read("read host key", key)
buf = ctypes.create_string_buffer(4096)
attempt("describe host key", KEYCTL, L(6), L(key), buf, L(len(buf)), buf=buf)
read("list host session", session)
add("add to host session", session)
for i, serial in enumerate(rings):
    read("list host user keyring %d" % i, serial)
    add("add to host user keyring %d" % i, serial)
for name, spec in (("@s", -3), ("@u", -4), ("@us", -5)):
    attempt("id of " + name, KEYCTL, L(0), L(spec), L(1))  # KEYCTL_GET_KEYRING_ID, create
    read("list " + name, spec)
    add("add to " + name, spec)
desc = (token + "-host").encode()
attempt("search @s", KEYCTL, L(10), L(-3), b"user", desc, L(0))
attempt("request_key", REQUEST_KEY, b"user", desc, None, L(0))
attempt("join session", KEYCTL, L(1), None)
attempt("persistent", KEYCTL, L(22), L(-1), L(-4))
try:
    with open("/proc/keys") as f:
        res["/proc/keys"] = f.read()
except OSError as e:
    res["/proc/keys"] = str(e)
print(json.dumps(res))
'''


def run_with_host_key(ctx, args, payload="P", watch=False):
    """Run srt ARGS (as the test user) from a helper that holds a key of
    its own; return the helper's report."""
    token = ctx.token()
    helper = ctx.write(os.path.join(ctx.root, "host_keys.py"), HOST)
    argv = ctx.argv(args)
    prefix = []
    if argv[:len(DROP)] == DROP:
        prefix, argv = DROP, argv[len(DROP):]
    full = (prefix + [PY, helper] + [str(n) for n in NRS] +
            [token, payload, "1" if watch else "0", "--"] + argv)
    cp = subprocess.run(full, cwd=ctx.proj, env=ctx.env(), capture_output=True, timeout=90)
    assert cp.returncode == 0, (full, cp.stdout, cp.stderr)
    report = json.loads(cp.stdout)
    if "skip" in report:
        pytest.skip(report["skip"])
    report["token"] = token
    return report


def inside(*extra):
    return [PY, "-c", INSIDE] + [str(n) for n in NRS] + list(extra)


def test_no_keyring_reachable(ctx):
    payload = "PAYLOAD-%d-%s" % (os.getpid(), ctx.user)
    rep = run_with_host_key(ctx, inside("{token}", "{key}", "{session}", "{rings}"), payload=payload)
    assert rep["rc"] == 0, rep
    # The helper can read its key: there was something to leak.
    assert rep["host_reads_key"] == payload, rep
    res = json.loads(rep["out"])
    for name, outcome in res.items():
        if name != "/proc/keys":
            assert outcome == "EPERM", (name, outcome, rep)
    if ctx.uid == 0:
        # root's user keyrings exist on any host that ran anything: the
        # sandbox could not reach them by serial either.
        assert "add to host user keyring 0" in res, rep
    # /proc/keys would list the caller's keys by description: it is empty.
    assert res["/proc/keys"] == "", rep
    assert payload not in rep["out"] + rep["err"], rep
    assert rep["token"] + "-host" not in rep["out"] + rep["err"], rep
    # Nothing was added anywhere this user can see, the helper's session
    # keyring still holds exactly its key.
    assert rep["after"] == rep["before"], rep
    assert rep["before"]["session"] == [rep["key"]], rep


def test_sandbox_has_own_session_keyring(ctx):
    # While the command runs, a session keyring of this user exists that
    # was not there before (the sandbox's), and it goes away with it.
    rep = run_with_host_key(ctx, ["sh", "-c", "echo ready; read x; echo done"], watch=True)
    assert rep["rc"] == 0 and rep["out"] == "ready\ndone\n", rep
    new = set(rep["ses_during"]) - set(rep["ses_before"])
    assert new, rep
    assert rep["session"] not in new, rep
    assert not new & set(rep["ses_after"]), rep
    assert rep["after"] == rep["before"], rep


def test_exit_status_unchanged(ctx):
    rep = run_with_host_key(ctx, ["sh", "-c", "echo hello; exit 42"])
    assert rep["rc"] == 42 and rep["out"] == "hello\n", rep
    r = ctx.run(["true"])
    assert r.rc == 0, r
    r = ctx.sh("echo out; exit 3")
    assert r.rc == 3 and r.out == "out\n", r
