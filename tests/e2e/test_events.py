# Violations and events: each source (observer: writes, reads, exec, direct connects, unix sockets; proxies: denials) in --events and in the summary; ignoreViolations; --quiet; start/exit/connection events; forgery.
#
# Network cases run srt in netutil's private mount namespace (test names
# resolve to loopback); every address used is a loopback one.
import json
import os
import socket

import pytest

import netutil
from conftest import PY


@pytest.fixture
def net(ctx):
    n = netutil.Net(ctx)
    yield n
    n.close()


def events_of(ctx, path):
    assert os.path.exists(path), "no events file at %s" % path
    with open(path) as f:
        lines = [l for l in f.read().splitlines() if l]
    out = []
    for l in lines:
        ev = json.loads(l)  # every line is one JSON object
        assert ev["version"] == 1, ev
        assert ev["time"].endswith("Z"), ev
        out.append(ev)
    return out


def violations(evs, kind=None):
    return [e for e in evs if e["event"] == "violation" and (kind is None or e["kind"] == kind)]


# Python writes bytecode caches where it can: a real, reported, write
# attempt that these tests do not want.
NOPYC = {"PYTHONDONTWRITEBYTECODE": "1"}


WRITES = ["--observe", "writes"]


def run_ev(ctx, args, settings, opts=(), runner=None, **kw):
    """Run srt with --events into a fresh file outside the project; return
    (result, events)."""
    path = os.path.join(ctx.root, "events-%s.jsonl" % ctx.token())
    run = runner or ctx.run
    kw.setdefault("env", NOPYC)
    r = run(args, settings=settings, opts=["--events", path] + list(opts), **kw)
    return r, events_of(ctx, path)


# --- the observer: file system ---------------------------------------------------

def test_denied_write_is_reported_in_events_and_summary(ctx):
    r, evs = run_ev(ctx, ["sh", "-c", "echo x > denied.txt; echo done"], {}, opts=WRITES)
    assert r.rc == 0 and "done" in r.out, r
    target = os.path.join(ctx.proj, "denied.txt")
    v = [e for e in violations(evs, "filesystem") if e["target"] == target]
    assert len(v) == 1, evs
    v = v[0]
    assert v["operation"] in ("create", "write"), v
    assert v["source"] == "observer", v
    assert "allowWrite" in v["rule"] and target in v["rule"], v
    assert v["pid"] > 0, v
    assert "echo x > denied.txt" in v["command"], v
    # the summary after the command, on stderr
    assert "srt: 1 violation:" in r.err, r
    assert "denied %s %s (" % (v["operation"], target) in r.err, r


def test_allowed_write_is_not_a_violation(ctx):
    ctx.mkdir("out")
    r, evs = run_ev(ctx, ["sh", "-c", "echo x > out/ok.txt && mkdir out/d && rm out/ok.txt"],
                    {"filesystem": {"allowWrite": ["./out"]}}, opts=WRITES)
    assert r.rc == 0, r
    assert violations(evs) == [], evs
    assert "violation" not in r.err, r


def test_quiet_suppresses_the_summary_not_the_events(ctx):
    r, evs = run_ev(ctx, ["sh", "-c", "(echo > nope) 2>/dev/null; true"], {}, opts=["--quiet"] + WRITES)
    assert r.rc == 0, r
    assert len(violations(evs, "filesystem")) == 1, evs
    assert "violation" not in r.err, r


def test_each_write_operation_is_named(ctx):
    ctx.write("f", "x")
    ctx.mkdir("d")
    script = ("rm -f f; mv f g; mkdir nd; rmdir d; ln -s f l; chmod 600 f; truncate -s 0 f; "
              "ln f h; touch -m f; true")
    r, evs = run_ev(ctx, ["sh", "-c", script], {}, opts=["-q"] + WRITES)
    ops = {(e["operation"], os.path.basename(e["target"])) for e in violations(evs, "filesystem")}
    for want in [("unlink", "f"), ("rename", "f"), ("mkdir", "nd"), ("rmdir", "d"), ("symlink", "l"),
                 ("chmod", "f"), ("link", "h"), ("utimes", "f")]:
        assert want in ops, (want, sorted(ops))
    assert any(op in (("truncate", "f"), ("write", "f"), ("create", "f")) for op in ops), sorted(ops)


def test_calls_that_fail_on_their_own_are_no_violation(ctx):
    """mkdir -p of folders that exist (EEXIST, read-only or not), and
    utimes, chmod, unlink, truncate of names that do not (ENOENT): nothing
    was refused, so nothing is reported; the real refusals still are."""
    ctx.write("there", "x")
    script = ("mkdir -p /usr/lib /etc %s; mkdir there; rm -f nothere; chmod 600 nothere; "
              "truncate -c -s 0 /etc/nothere-srt; touch -c /etc/nothere-srt; mkdir newdir; true" % ctx.proj)
    r, evs = run_ev(ctx, ["sh", "-c", script], {}, opts=["-q"] + WRITES)
    assert r.rc == 0, r
    got = sorted((e["operation"], e["target"]) for e in violations(evs, "filesystem"))
    assert got == [("mkdir", os.path.join(ctx.proj, "newdir"))], got


def test_relative_paths_resolve_against_cwd_and_dirfd(ctx):
    ctx.mkdir("sub")
    code = ("import os\n"
            "os.chdir('sub')\n"
            "try: open('a.txt', 'w')\nexcept OSError: pass\n"
            "fd = os.open('/etc', os.O_RDONLY)\n"
            "try: os.open('b.txt', os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd)\nexcept OSError: pass\n")
    r, evs = run_ev(ctx, [PY, "-c", code], {}, opts=["-q"] + WRITES)
    targets = {e["target"] for e in violations(evs, "filesystem")}
    assert os.path.join(ctx.proj, "sub", "a.txt") in targets, evs
    assert "/etc/b.txt" in targets, evs


def test_reads_of_denied_paths_reported_only_when_observing_reads(ctx):
    secret = ctx.write(os.path.join(ctx.home, "secret", "key"), "k")
    s = {"filesystem": {"denyRead": ["~/secret"]}}
    r, evs = run_ev(ctx, ["sh", "-c", "cat ~/secret/key; true"], s, opts=["-q"])
    assert [e for e in violations(evs) if e["operation"] == "read"] == [], evs
    r, evs = run_ev(ctx, ["sh", "-c", "cat ~/secret/key; cat /etc/hostname >/dev/null; true"], s,
                    opts=["--observe", "reads"])
    reads = [e for e in violations(evs, "filesystem") if e["operation"] == "read"]
    assert [e["target"] for e in reads] == [secret], evs
    assert "denyRead" in reads[0]["rule"], reads
    assert "denied read %s" % secret in r.err, r


def test_exec_of_hidden_program_is_a_process_violation(ctx):
    tool = ctx.write(os.path.join(ctx.home, "tools", "tool"), "#!/bin/sh\necho ran\n", mode=0o755)
    r, evs = run_ev(ctx, ["sh", "-c", "%s; true" % tool], {"filesystem": {"denyRead": ["~/tools"]}},
                    opts=["-q"])
    assert "ran" not in r.out, r
    v = violations(evs, "process")
    assert [(e["operation"], e["target"]) for e in v] == [("exec", tool)], evs


def test_default_observes_exec_not_writes(ctx):
    """Writes cost a round trip each (bench/observer): reported only with
    --observe writes; exec is observed by default."""
    tool = ctx.write(os.path.join(ctx.home, "tools", "tool"), "#!/bin/sh\necho ran\n", mode=0o755)
    r, evs = run_ev(ctx, ["sh", "-c", "(echo > nope) 2>/dev/null; %s; true" % tool],
                    {"filesystem": {"denyRead": ["~/tools"]}})
    assert [(e["kind"], e["target"]) for e in violations(evs)] == [("process", tool)], evs
    assert "srt: 1 violation:" in r.err and "denied exec %s" % tool in r.err, r


def test_observer_off_reports_nothing_from_the_observer(ctx):
    r, evs = run_ev(ctx, ["sh", "-c", "(echo > nope) 2>/dev/null; true"], {}, opts=["--observe=off"])
    assert violations(evs) == [], evs
    assert r.rc == 0, r


def test_bad_observe_value_refused(ctx):
    r = ctx.run(["true"], opts=["--observe", "sometimes"])
    assert r.rc == 125, r
    assert "--observe" in r.err, r


# --- the observer: sockets -----------------------------------------------------------

def host_unix_server(ctx, name):
    """A unix socket server of the host in the test's folder (which the
    sandbox sees), owned by the test's user; returns (socket, path)."""
    path = os.path.join(ctx.root, name)
    srv = socket.socket(socket.AF_UNIX)
    srv.bind(path)
    ctx.own(path)
    os.chmod(path, 0o777)
    srv.listen(8)
    return srv, path


def test_unix_socket_connect_is_refused_and_reported(ctx):
    srv, path = host_unix_server(ctx, "host-%s.sock" % ctx.token())
    code = ("import socket\n"
            "s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM); print('made')\n"
            "try:\n s.connect(%r); print('connected')\n"
            "except OSError as e:\n print('refused', e.errno)\n" % path)
    try:
        r, evs = run_ev(ctx, [PY, "-c", code], {}, opts=["-q"])
        assert "made" in r.out and "refused 13" in r.out, r  # EACCES
        v = violations(evs, "unix_socket")
        assert [(e["operation"], e["target"]) for e in v] == [("connect", path)], evs
        assert "allowUnixSockets" in v[0]["rule"], v
        r, evs = run_ev(ctx, [PY, "-c", code], {"network": {"allowUnixSockets": [path]}}, opts=["-q"])
        assert "connected" in r.out, r
        assert violations(evs, "unix_socket") == [], evs
        r, evs = run_ev(ctx, [PY, "-c", code], {"network": {"allowAllUnixSockets": True}}, opts=["-q"])
        assert "connected" in r.out, r
        assert violations(evs, "unix_socket") == [], evs
    finally:
        srv.close()


def test_glibc_nscd_probe_is_no_violation(ctx):
    # User and group lookups (bash without $SHELL, id, ls -l) make glibc
    # try nscd's unix socket first: refused, but not the command's doing,
    # so neither an event nor a summary line.
    script = "id -un >/dev/null; id -gn >/dev/null; ls -l / >/dev/null; echo done"
    r, evs = run_ev(ctx, ["bash", "-c", script], {})
    assert r.rc == 0 and r.out == "done\n", r
    assert violations(evs) == [], evs
    assert r.err == "", r  # no summary
    # without --events too, and through srt -c (bash, no $SHELL here)
    r = ctx.run(["-c", script])
    assert r.rc == 0 and r.out == "done\n" and r.err == "", r


def test_program_socket_with_glibc_arguments_is_no_violation(ctx):
    # socket(AF_UNIX) itself is no longer refused: what a unix socket may
    # reach is decided at connect(). The same arguments as glibc's nscd
    # probe, from the program itself, make a socket and no violation.
    code = ("import socket\n"
            "s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_NONBLOCK); print('made')\n")
    r, evs = run_ev(ctx, [PY, "-c", code], {})
    assert r.rc == 0 and "made" in r.out, r
    assert violations(evs, "unix_socket") == [], evs
    assert r.err == "", r


def test_direct_connect_to_a_host_service_is_reported(ctx):
    host_srv = socket.socket()
    host_srv.bind(("127.0.0.1", 0))
    host_srv.listen(1)
    port = host_srv.getsockname()[1]
    try:
        code = ("import socket\n"
                "s = socket.socket()\n"
                "try:\n s.connect(('127.0.0.1', %d)); print('connected')\n"
                "except OSError as e:\n print('failed', e.errno)\n"
                # a server inside the sandbox: connecting to it is fine
                "l = socket.socket(); l.bind(('127.0.0.1', 0)); l.listen(1)\n"
                "c = socket.create_connection(l.getsockname()); print('inside ok')\n" % port)
        r, evs = run_ev(ctx, [PY, "-c", code], {}, opts=["-q"])
    finally:
        host_srv.close()
    assert "failed" in r.out and "inside ok" in r.out, r
    v = violations(evs, "network")
    assert [(e["operation"], e["target"], e["source"]) for e in v] == [
        ("connect", "127.0.0.1:%d" % port, "observer")], evs
    assert "allowedDomains" in v[0]["rule"], v


# --- the proxies -----------------------------------------------------------------------

def test_proxy_denial_and_connections_are_events(net):
    o = net.origin()
    s = {"network": {"allowedDomains": ["good.test", "127.0.0.1:%d" % o.port], "deniedDomains": ["evil.test"]}}
    code = ("r1 = get('good.test', %d)\nr2 = get('evil.test', 80)\nr3 = get('other.test', 81)\n"
            "emit([r1.get('status'), r2.get('status'), r3.get('status')])" % o.port)
    path = os.path.join(net.ctx.root, "ev-%s.jsonl" % net.ctx.token())
    prelude = "import sys\nsys.path.insert(0, %r)\nfrom srtnet import *\n" % net.libdir
    r = net.run([PY, "-c", prelude + code], settings=s, opts=["--events", path], env=NOPYC)
    assert r.rc == 0, r
    assert "[200, 403, 403]" in r.out, r
    evs = events_of(net.ctx, path)
    v = violations(evs, "network")
    assert [(e["target"], e["source"], e["operation"]) for e in v] == [
        ("evil.test:80", "proxy", "connect"), ("other.test:81", "proxy", "connect")], evs
    assert v[0]["rule"].startswith("deniedDomains: evil.test"), v
    assert "network.deniedDomains[0]" in v[0]["rule"], v
    assert "allowedDomains" in v[1]["rule"], v
    conns = [e for e in evs if e["event"] == "connection"]
    ok = [c for c in conns if c["decision"] == "allowed"]
    assert len(ok) == 1, conns
    assert ok[0]["host"] == "good.test" and ok[0]["port"] == o.port, ok
    assert ok[0]["address"] == "127.0.0.1" and ok[0]["via"] == "http", ok
    assert ok[0]["bytes_down"] > 0 and ok[0]["bytes_up"] > 0, ok
    assert ok[0]["duration_ms"] >= 0, ok
    denied = [c for c in conns if c["decision"] == "denied"]
    assert {(c["host"], c["port"]) for c in denied} == {("evil.test", 80), ("other.test", 81)}, conns
    assert "srt: 2 violations:" in r.err, r
    assert "denied connect evil.test:80 (deniedDomains: evil.test" in r.err, r


# --- start, exit, ordering ----------------------------------------------------------------

def test_start_and_exit_events(ctx):
    r, evs = run_ev(ctx, ["sh", "-c", "exit 3"], {})
    assert r.rc == 3, r
    names = [e["event"] for e in evs]
    assert names == ["sandbox.start", "sandbox.exit"], evs
    start, end = evs
    assert start["sandbox"] == end["sandbox"], evs
    assert start["command"] == "sh -c exit 3", start
    assert start["pid"] > 0, start
    assert end["status"] == 3 and end["duration_ms"] >= 0, end
    # a signal: 128+N
    r, evs = run_ev(ctx, ["sh", "-c", "kill -TERM $$"], {})
    assert r.rc == 143, r
    assert evs[-1]["event"] == "sandbox.exit" and evs[-1]["status"] == 143, evs


def test_events_to_stderr_and_appending(ctx):
    r = ctx.run(["sh", "-c", "(echo > x) 2>/dev/null; true"], opts=["--events", "-", "-q"] + WRITES)
    lines = [json.loads(l) for l in r.err.splitlines() if l.startswith("{")]
    assert [e["event"] for e in lines] == ["sandbox.start", "violation", "sandbox.exit"], r
    path = os.path.join(ctx.root, "ev.jsonl")
    ctx.write(path, '{"event":"earlier","version":1,"time":"2026-01-01T00:00:00.000000Z"}\n')
    ctx.run(["true"], opts=["--events", path])
    evs = events_of(ctx, path)
    assert [e["event"] for e in evs] == ["earlier", "sandbox.start", "sandbox.exit"], evs


def test_events_file_that_cannot_be_opened(ctx):
    r = ctx.run(["echo", "ran"], opts=["--events", os.path.join(ctx.root, "no", "such", "dir", "f")])
    assert r.rc == 125 and "ran" not in r.out, r
    assert "events" in r.err, r


# --- ignoreViolations ---------------------------------------------------------------------

def test_ignore_violations(ctx):
    s = {"ignoreViolations": {"*": ["ignored-"], "special": ["other"]}}
    r, evs = run_ev(ctx, ["sh", "-c", "for f in ignored-1 other-1 kept-1; do (echo > $f) 2>/dev/null; done; true"], s,
                    opts=WRITES)
    targets = sorted(os.path.basename(e["target"]) for e in violations(evs))
    assert targets == ["kept-1", "other-1"], evs
    assert "srt: 2 violations:" in r.err, r
    r, evs = run_ev(ctx, ["sh", "-c", "for f in other-2 kept-2; do (echo > $f) 2>/dev/null; done; echo special"], s,
                    opts=["-q"] + WRITES)
    targets = sorted(os.path.basename(e["target"]) for e in violations(evs))
    assert targets == ["kept-2"], evs


# --- forgery ------------------------------------------------------------------------------

def test_command_cannot_forge_events(ctx):
    """The events file is read-only inside the sandbox even in an allowWrite
    folder, and what the command prints never becomes an event."""
    ctx.mkdir("out")
    path = os.path.join(ctx.proj, "out", "events.jsonl")
    fake = json.dumps({"event": "violation", "version": 1, "time": "2026-01-01T00:00:00.000000Z",
                       "sandbox": 99, "kind": "network", "operation": "connect", "target": "forged:1",
                       "rule": "forged", "command": "other", "pid": 1, "source": "proxy"})
    script = "echo '%s' >> %s; echo '%s'; echo '%s' >&2; true" % (fake, path, fake, fake)
    r = ctx.run(["sh", "-c", script], settings={"filesystem": {"allowWrite": ["./out"]}},
                opts=["--events", path, "-q"] + WRITES)
    evs = events_of(ctx, path)
    assert not any(e.get("target") == "forged:1" for e in evs), evs
    v = violations(evs, "filesystem")
    assert [e["target"] for e in v] == [path], evs
    assert "events" in v[0]["rule"] or "--events" in v[0]["rule"], v
    assert all(e["sandbox"] == evs[0]["sandbox"] for e in evs), evs


def test_events_file_with_glob_characters_is_protected(ctx):
    """A name with [ ] * ? is that file, not a pattern: still protected."""
    ctx.mkdir("out")
    path = os.path.join(ctx.proj, "out", "ev[1]*.jsonl")
    script = "echo '{\"event\":\"forged\"}' >> 'out/ev[1]*.jsonl'; true"
    r = ctx.run(["sh", "-c", script], settings={"filesystem": {"allowWrite": ["./out"]}},
                opts=["--events", path, "-q"])
    evs = events_of(ctx, path)
    # Only srt's own lines: the forged one was refused, and reported.
    assert [e["event"] for e in evs] == ["sandbox.start", "violation", "sandbox.exit"], evs
    assert all(e.get("sandbox") == evs[0]["sandbox"] for e in evs), evs
    v = evs[1]
    assert (v["kind"], v["operation"], v["target"]) == ("filesystem", "write", path), v
    assert path in v["rule"] and "--events" in v["rule"], v
    assert "Permission denied" in r.err or "Read-only file system" in r.err, r


def test_events_to_dev_stderr_pipe(ctx):
    r = ctx.run(["true"], opts=["--events", "/dev/stderr"])
    assert r.rc == 0, r
    assert [json.loads(l)["event"] for l in r.err.splitlines()] == ["sandbox.start", "sandbox.exit"], r


def test_invalid_utf8_path_keeps_every_field(ctx):
    r, evs = run_ev(ctx, ["sh", "-c", "(echo > \"$(printf 'bad\\377name')\") 2>/dev/null; true"], {},
                    opts=WRITES)
    v = violations(evs, "filesystem")
    assert len(v) == 1, evs
    assert v[0]["target"] == os.path.join(ctx.proj, "bad\\xffname"), v
    assert "\\xff" in v[0]["rule"], v
    # the summary shows no raw control or invalid bytes either
    assert b"\xff" not in r.stderr, r


# --- the summary ---------------------------------------------------------------------------

SUMMARY_CODE = r"""
import os, socket
for i in range(1, 6):
    try:
        open('denied-%d' % i, 'w')
    except OSError:
        pass
r = get('evil.test', 80)
try:
    socket.socket(socket.AF_UNIX, socket.SOCK_STREAM).connect(os.environ['HOST_SOCK'])
except OSError:
    pass
emit(r.get('status'))
"""


def summary_lines(err):
    return [l for l in err.splitlines() if l.startswith("srt:")]


def test_summary_groups_by_kind_network_first(net):
    """Five refused writes come first, then a refused host: the summary
    still shows the host, first, and says how many of each kind it left
    out."""
    import re
    ctx = net.ctx
    path = os.path.join(ctx.root, "ev-%s.jsonl" % ctx.token())
    prelude = "import sys\nsys.path.insert(0, %r)\nfrom srtnet import *\n" % net.libdir
    s = {"network": {"deniedDomains": ["evil.test"]}}
    srv, sock = host_unix_server(ctx, "host-%s.sock" % ctx.token())
    try:
        r = net.run([PY, "-c", prelude + SUMMARY_CODE], settings=s, opts=["--events", path] + WRITES,
                    env=dict(NOPYC, HOST_SOCK=sock))
    finally:
        srv.close()
    assert r.rc == 0 and "403" in r.out, r
    evs = events_of(ctx, path)
    assert [e["kind"] for e in violations(evs)] == ["filesystem"] * 5 + ["network", "unix_socket"], evs
    lines = summary_lines(r.err)
    p = os.path.join(ctx.proj, "denied-")
    assert lines[0] == "srt: 7 violations:", r
    assert lines[1].startswith("srt:   network      denied connect evil.test:80 (deniedDomains: evil.test"), r
    for i, l in enumerate(lines[2:5], 1):
        assert re.match(r"srt:   filesystem   denied (create|write) %s%d \(" % (re.escape(p), i), l), r
    assert lines[5] == "srt:   filesystem   ... and 2 more", r
    assert lines[6] == ("srt:   unix_socket  denied connect %s (network.allowUnixSockets does not list it, "
                        "and it was not bound in the sandbox)" % sock), r
    assert lines[7] == "srt: all of them are in %s" % path, r
    assert len(lines) == 8, r


def test_summary_without_events_file_says_how_to_see_all(ctx):
    script = "for i in 1 2 3 4; do (echo > d$i) 2>/dev/null; done; true"
    r = ctx.run(["sh", "-c", script], opts=WRITES)
    lines = summary_lines(r.err)
    assert lines[0] == "srt: 4 violations:", r
    assert [l.split()[1] for l in lines[1:4]] == ["filesystem"] * 3, r
    assert lines[4:] == ["srt:   filesystem   ... and 1 more", "srt: all of them with --events FILE"], r
    # nothing left out: no pointer to the rest
    r = ctx.run(["sh", "-c", "(echo > d1) 2>/dev/null; true"], opts=WRITES)
    lines = summary_lines(r.err)
    assert lines[0] == "srt: 1 violation:" and len(lines) == 2, r
    assert lines[1].startswith("srt:   filesystem   denied "), r
    # --quiet: no summary at all
    r = ctx.run(["sh", "-c", script], opts=WRITES + ["-q"])
    assert summary_lines(r.err) == [], r


def test_hidden_command_on_path_is_reported(ctx):
    """srt's own command, found through a $PATH folder that denyRead hides:
    'command not found', and the exec is reported as for any program."""
    tool = ctx.write(os.path.join(ctx.home, "tools", "hiddentool"), "#!/bin/sh\necho ran\n", mode=0o755)
    path = os.path.dirname(tool) + ":/usr/bin:/bin"
    r = ctx.run(["hiddentool"], settings={"filesystem": {"denyRead": ["~/tools"]}}, env={"PATH": path})
    assert r.rc == 127 and "ran" not in r.out, r
    assert "denied exec %s" % tool in r.err, r
