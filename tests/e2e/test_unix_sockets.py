# Unix sockets through srt's connect broker: real clients (docker, ssh-add, git signing with gpg, multiprocessing, node) against host servers listed in allowUnixSockets or UnixSocket(...), servers bound inside the sandbox, refusals (EACCES and a violation), symlinks and a symlink swap race, datagrams, abstract names, socketpair and SCM_RIGHTS.
#
# The host servers (unix_server.py, ssh-agent, gpg-agent) run outside the
# sandbox as the test's user, in a folder that user owns under the test's
# scratch folder; they log what reaches them, which is what the tests check.
# Everything stays on this machine: unix sockets in the scratch folder,
# abstract names, socketpairs.
import json
import os
import select
import shutil
import socket
import stat
import subprocess
import threading
import time

import pytest

from conftest import DROP, PY, procs_matching, wait_until

HERE = os.path.dirname(os.path.abspath(__file__))
SERVER_SCRIPT = os.path.join(HERE, "unix_server.py")
NOPYC = {"PYTHONDONTWRITEBYTECODE": "1"}
EACCES_TEXT = "Permission denied"
DOCKER_VERSION = "27.0.3-srt-e2e"  # what unix_server.py's fake engine reports


def need(*programs):
    for p in programs:
        if shutil.which(p) is None:
            pytest.skip("%s is not installed (scripts/deps.sh installs it)" % p)


# --- the host side -------------------------------------------------------------

class Server:
    """One unix_server.py process: a listening socket and its log."""

    def __init__(self, host, mode, name):
        self.host = host
        self.mode = mode
        self.name = name
        if mode == "abstract":
            self.address = "srt-e2e-abstract-" + host.ctx.token()
            self.path = None
        else:
            self.address = self.path = os.path.normpath(os.path.join(host.dir, name + ".sock"))
        self.log_path = os.path.normpath(os.path.join(host.dir, name + ".log"))
        self.markers = 0
        self.proc = host.start([PY, host.script, mode, self.address, self.log_path, name],
                               stdout=subprocess.PIPE)
        self._wait_ready()

    def _wait_ready(self, timeout=10):
        fd = self.proc.stdout.fileno()
        got = b""
        end = time.monotonic() + timeout
        while b"ready\n" not in got:
            left = end - time.monotonic()
            r, _, _ = select.select([fd], [], [], max(left, 0))
            chunk = os.read(fd, 4096) if r else b""
            if not chunk:
                err = b""
                if self.proc.poll() is not None:
                    err = self.proc.stderr.read() if self.proc.stderr else b""
                pytest.fail("server %s did not start: %r %r" % (self.name, got, err))
            got += chunk

    def events(self):
        try:
            with open(self.log_path) as f:
                return [json.loads(l) for l in f.read().splitlines() if l]
        except FileNotFoundError:
            return []

    def settle(self, timeout=10):
        """Send a marker from the host and wait until the server logged it:
        everything that reached the server before it is then in the log.
        Returns the events before the marker."""
        self.markers += 1
        marker = "marker %d from the test\n" % self.markers
        if self.mode == "dgram":
            s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            s.sendto(marker.encode(), self.path)
            s.close()
            is_marker = lambda e: e["event"] == "datagram" and e["data"] == marker
        else:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.settimeout(timeout)
            s.connect("\0" + self.address if self.mode == "abstract" else self.path)
            s.sendall(marker.encode())
            s.shutdown(socket.SHUT_WR)
            while s.recv(4096):
                pass
            s.close()
            is_marker = lambda e: e["event"] == "data" and e["data"] == marker
        found = wait_until(lambda: any(is_marker(e) for e in self.events()), timeout)
        assert found, (self.name, self.events())
        evs = self.events()
        cut = [i for i, e in enumerate(evs) if is_marker(e)][0]
        before = evs[:cut]
        # Earlier markers, and the accept of this one (the last accept
        # before its data), are the test's own.
        if self.mode != "dgram":
            accepts = [i for i, e in enumerate(before) if e["event"] == "accept"]
            del before[accepts[-1]]
        own = [e for e in before if e["event"] in ("data", "datagram") and e["data"].startswith("marker ")]
        for e in own:
            before.remove(e)
        if self.mode != "dgram":
            for _ in own:
                before.remove({"event": "accept"})
        return before

    def accepted(self):
        return sum(1 for e in self.settle() if e["event"] == "accept")

    def received(self):
        return [e["data"] for e in self.settle() if e["event"] in ("data", "datagram")]


class Host:
    """Programs outside the sandbox, run as the test's user in a folder it
    owns (nobody cannot enter root's temporary folders)."""

    def __init__(self, ctx):
        self.ctx = ctx
        self.dir = ctx.mkdir(os.path.join(ctx.root, "host"))
        # A copy the user can read wherever the checkout is.
        self.script = os.path.join(ctx.root, "unix_server.py")
        shutil.copy(SERVER_SCRIPT, self.script)
        os.chmod(self.script, 0o644)
        self.procs = []
        self.cleanups = []

    def argv(self, argv):
        return (DROP if self.ctx.uid else []) + list(argv)

    def run(self, argv, env=None, check=True, timeout=60, input=None):
        cp = subprocess.run(self.argv(argv), cwd=self.dir, env=self.ctx.env(env), input=input,
                            capture_output=True, timeout=timeout)
        if check and cp.returncode != 0:
            pytest.fail("host command failed: %r -> %d\n%s%s" % (
                argv, cp.returncode, cp.stdout.decode(errors="replace"), cp.stderr.decode(errors="replace")))
        return cp

    def start(self, argv, env=None, stdout=subprocess.DEVNULL):
        p = subprocess.Popen(self.argv(argv), cwd=self.dir, env=self.ctx.env(env),
                             stdin=subprocess.DEVNULL, stdout=stdout, stderr=subprocess.PIPE)
        self.procs.append(p)
        return p

    def server(self, mode, name):
        return Server(self, mode, name)

    def close(self):
        for f in reversed(self.cleanups):
            try:
                f()
            except Exception:
                pass
        for p in self.procs:
            if p.poll() is None:
                p.kill()
            try:
                p.communicate(timeout=5)
            except Exception:
                pass


@pytest.fixture
def host(ctx):
    h = Host(ctx)
    yield h
    h.close()


# --- runs and violations -------------------------------------------------------

def run_ev(ctx, args, settings, env=None, **kw):
    """Run srt with --events into a fresh file; return (result, events)."""
    path = os.path.join(ctx.root, "events-%s.jsonl" % ctx.token())
    e = dict(NOPYC)
    e.update(env or {})
    r = ctx.run(args, settings=settings, opts=["--events", path], env=e, **kw)
    evs = []
    if os.path.exists(path):
        with open(path) as f:
            evs = [json.loads(l) for l in f.read().splitlines() if l]
    return r, evs


def unix_violations(evs):
    return [e for e in evs if e.get("event") == "violation" and e.get("kind") == "unix_socket"]


def assert_connect_refused_reported(r, evs, path, operations=("connect",)):
    """A unix_socket violation for path (the resolved socket) in the events
    and in the summary on stderr."""
    v = [e for e in unix_violations(evs) if e["target"] == path]
    assert v, (path, evs, r)
    assert v[0]["operation"] in operations, (v, r)
    assert v[0]["pid"] > 0, (v, r)
    assert "srt:   unix_socket  denied %s %s (" % (v[0]["operation"], path) in r.err, r


def listed(*paths, filesystem_allow_write=False, **extra):
    """Settings that list these sockets (and make the project writable)."""
    net = {"allowUnixSockets": list(paths)}
    net.update(extra)
    s = {"network": net}
    if filesystem_allow_write:
        s["filesystem"] = {"allowWrite": ["."]}
    return s


# Run inside the sandbox by python: small clients that print JSON.
CLIENT = r'''
import errno, json, os, socket, sys, threading
def ename(e):
    if isinstance(e, TimeoutError):
        return "timeout"
    return errno.errorcode.get(e.errno, str(e.errno))
def stream(path, send=b"from sandbox\n"):
    """Connect, say something, read until the server closes: 'ok:<reply>' or the errno name."""
    try:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    except OSError as e:
        return "socket:" + ename(e)
    s.settimeout(10)
    try:
        s.connect(path)
        s.sendall(send)
        s.shutdown(socket.SHUT_WR)
        got = b""
        while True:
            c = s.recv(4096)
            if not c:
                break
            got += c
        return "ok:" + got.decode()
    except OSError as e:
        return ename(e)
    finally:
        s.close()
def attempt(f):
    try:
        r = f()
        return "ok" if r is None or isinstance(r, int) else "ok:" + (r.decode() if isinstance(r, bytes) else str(r))
    except OSError as e:
        return ename(e)
def emit(x):
    print(json.dumps(x))
    sys.stdout.flush()
'''


def client(ctx, body, *args, settings=None, env=None, timeout=60):
    """Run CLIENT + body inside; return (json value printed, result, events)."""
    r, evs = run_ev(ctx, [PY, "-c", CLIENT + body] + [str(a) for a in args], settings,
                    env=env, timeout=timeout)
    lines = r.out.strip().splitlines()
    try:
        val = json.loads(lines[-1])
    except (IndexError, ValueError):
        pytest.fail("no JSON from the sandboxed client: %r" % (r,))
    return val, r, evs


# --- docker against a fake Docker Engine API ---------------------------------

def need_docker_cli():
    # Debian 12 ships the docker CLI only inside docker.io, the whole engine
    # (with containerd, runc and iptables, about 150 MB): scripts/deps.sh
    # does not install it, Docker's Python SDK below covers the same path.
    if shutil.which("docker") is None:
        pytest.skip("no docker CLI here (Debian 12 has it only in the docker.io engine package)")


def test_docker_version_through_listed_socket(ctx, host):
    need_docker_cli()
    d = host.server("docker", "docker")
    r, evs = run_ev(ctx, ["docker", "version"], listed(d.path),
                    env={"DOCKER_HOST": "unix://" + d.path})
    assert r.rc == 0, r
    assert "Server: srt e2e fake engine" in r.out, r
    assert DOCKER_VERSION in r.out, r
    assert unix_violations(evs) == [], evs
    paths = [e["path"] for e in d.events() if e["event"] == "request"]
    assert any(p.endswith("/version") for p in paths), paths


def test_docker_version_refused_when_socket_not_listed(ctx, host):
    need_docker_cli()
    d = host.server("docker", "docker")
    other = host.server("stream", "other")
    r, evs = run_ev(ctx, ["docker", "version"], listed(other.path),
                    env={"DOCKER_HOST": "unix://" + d.path})
    assert r.rc != 0, r
    assert DOCKER_VERSION not in r.out, r
    assert "permission denied" in (r.out + r.err).lower(), r
    assert_connect_refused_reported(r, evs, d.path)
    assert [e for e in d.events() if e["event"] == "request"] == []


SDK = r'''
import docker
try:
    # version="auto" asks the server for its API version right away
    c = docker.APIClient(base_url="unix://" + sys.argv[1], version="auto", timeout=10)
    emit(c.version()["Version"])
except Exception as e:
    emit("error: %s: %s" % (type(e).__name__, e))
'''


def need_docker_sdk():
    if subprocess.run([PY, "-c", "import docker"], capture_output=True).returncode != 0:
        pytest.skip("python3-docker is not installed (scripts/deps.sh installs it)")


def test_docker_python_sdk_through_listed_socket(ctx, host):
    """Docker's Python SDK (Debian's python3-docker), a second real client."""
    need_docker_sdk()
    d = host.server("docker", "docker")
    val, r, evs = client(ctx, SDK, d.path, settings=listed(d.path))
    assert val == DOCKER_VERSION, r
    assert unix_violations(evs) == [], evs
    assert any(e["path"].endswith("/version") for e in d.events()), d.events()


def test_docker_python_sdk_refused_when_socket_not_listed(ctx, host):
    need_docker_sdk()
    d = host.server("docker", "docker")
    val, r, evs = client(ctx, SDK, d.path, settings={})
    assert val.startswith("error:") and EACCES_TEXT in val, r
    assert_connect_refused_reported(r, evs, d.path)
    assert d.events() == [], d.events()


# --- ssh-add against a real ssh-agent ----------------------------------------

@pytest.fixture
def agent(ctx, host):
    """A real ssh-agent in the foreground holding one fresh key."""
    need("ssh-agent", "ssh-add", "ssh-keygen")
    sock = os.path.join(host.dir, "agent.sock")
    host.start(["ssh-agent", "-D", "-a", sock])
    assert wait_until(lambda: os.path.exists(sock), 10), "ssh-agent did not start"
    key = os.path.join(host.dir, "id_e2e")
    host.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "srt-e2e-key", "-f", key])
    host.run(["ssh-add", "-q", key], env={"SSH_AUTH_SOCK": sock})
    listing = host.run(["ssh-add", "-l"], env={"SSH_AUTH_SOCK": sock}).stdout.decode()
    assert "srt-e2e-key" in listing, listing
    return sock, listing


def test_ssh_add_lists_key_through_listed_agent(ctx, agent):
    sock, listing = agent
    r, evs = run_ev(ctx, ["ssh-add", "-l"], listed(sock), env={"SSH_AUTH_SOCK": sock})
    assert r.rc == 0, r
    assert r.out == listing, r
    assert unix_violations(evs) == [], evs


def test_ssh_add_refused_when_agent_not_listed(ctx, agent):
    sock, listing = agent
    r, evs = run_ev(ctx, ["ssh-add", "-l"], {}, env={"SSH_AUTH_SOCK": sock})
    assert r.rc != 0, r
    assert "srt-e2e-key" not in r.out, r
    assert EACCES_TEXT in r.err, r
    assert_connect_refused_reported(r, evs, sock)


# --- git commit -S with gpg through gpg-agent --------------------------------

@pytest.fixture
def gpg_home(ctx, host):
    """A throw-away GNUPGHOME with a fresh signing key and its gpg-agent,
    started outside the sandbox; returns (GNUPGHOME, fingerprint, agent socket)."""
    need("gpg", "gpg-agent", "gpgconf", "git")
    home = ctx.mkdir(os.path.join(host.dir, "gnupg"), mode=0o700)
    env = {"GNUPGHOME": home}

    def stop_agent():
        host.run(["gpgconf", "--kill", "gpg-agent"], env=env, check=False, timeout=10)
        if not wait_until(lambda: not procs_matching(home), 5):
            for pid in procs_matching(home):
                try:
                    os.kill(pid, 9)
                except OSError:
                    pass
    host.cleanups.append(stop_agent)
    # The agent detaches (it is our child again as the subreaper's orphan,
    # and stop_agent ends it); its output goes to a file so that the pipes
    # of this call close.
    with open(os.path.join(host.dir, "gpg-agent.out"), "wb") as out:
        cp = subprocess.run(host.argv(["gpg-agent", "--homedir", home, "--daemon"]), cwd=host.dir,
                            env=ctx.env(env), stdin=subprocess.DEVNULL, stdout=out, stderr=out, timeout=30)
    assert cp.returncode == 0, open(os.path.join(host.dir, "gpg-agent.out")).read()
    host.run(["gpg", "--batch", "--passphrase", "", "--quick-gen-key",
              "SRT E2E <e2e@srt.test>", "ed25519", "sign", "never"], env=env)
    cols = host.run(["gpg", "--batch", "--with-colons", "--list-secret-keys"], env=env).stdout.decode()
    fpr = [l.split(":")[9] for l in cols.splitlines() if l.startswith("fpr:")][0]
    sock = host.run(["gpgconf", "--list-dirs", "agent-socket"], env=env).stdout.decode().strip()
    assert os.path.exists(sock), sock
    return home, fpr, sock


def git_repo(ctx, host):
    """A repository made on the host (the sandbox may not create one), with
    one staged file."""
    host.run(["git", "init", "-q", ctx.proj])
    ctx.write("signed.txt", "signed in the sandbox\n")
    host.run(["git", "-C", ctx.proj, "add", "signed.txt"])


def commit_signed(ctx, fpr, settings, home):
    return run_ev(ctx, ["git", "-c", "user.name=SRT E2E", "-c", "user.email=e2e@srt.test",
                        "-c", "gpg.program=gpg", "-c", "user.signingkey=" + fpr,
                        "commit", "-q", "-S", "-m", "signed in the sandbox"],
                  settings, env={"GNUPGHOME": home})


def elixir_settings(ctx, sock):
    allow = ["Edit(%s)" % ctx.proj]
    if sock:
        allow.append("UnixSocket(%s)" % sock)
    return {"sandbox": {"enabled": True}, "permissions": {"allow": allow}}


def test_git_commit_signed_through_listed_gpg_agent(ctx, host, gpg_home):
    home, fpr, sock = gpg_home
    git_repo(ctx, host)
    r, evs = commit_signed(ctx, fpr, elixir_settings(ctx, sock), home)
    assert r.rc == 0, r
    assert unix_violations(evs) == [], evs
    # On the host, after the sandbox is gone: the commit is there and its
    # signature is good, made by this key.
    v = host.run(["git", "-C", ctx.proj, "verify-commit", "HEAD"], env={"GNUPGHOME": home}, check=False)
    assert v.returncode == 0, v
    assert b"Good signature" in v.stderr, v
    show = host.run(["git", "-C", ctx.proj, "log", "-1", "--format=%G?%n%GF%n%s"],
                    env={"GNUPGHOME": home}).stdout.decode().splitlines()
    assert show == ["G", fpr, "signed in the sandbox"], show


def test_git_commit_signing_refused_when_agent_not_listed(ctx, host, gpg_home):
    home, fpr, sock = gpg_home
    git_repo(ctx, host)
    r, evs = commit_signed(ctx, fpr, elixir_settings(ctx, None), home)
    assert r.rc != 0, r
    assert "gpg failed to sign" in r.err, r
    assert_connect_refused_reported(r, evs, sock)
    head = host.run(["git", "-C", ctx.proj, "rev-parse", "--verify", "-q", "HEAD"], check=False)
    assert head.returncode != 0, head  # no commit was made


# --- servers bound inside the sandbox -----------------------------------------

MANAGER = r'''
import multiprocessing as mp
def work(d, l):
    d["child"] = os.getpid()
    l.append("from the child")
with mp.Manager() as m:
    d = m.dict()
    l = m.list()
    p = mp.Process(target=work, args=(d, l))
    p.start()
    p.join()
    emit({"address": m.address, "child": d.get("child") == p.pid, "list": list(l), "exit": p.exitcode})
'''


def test_multiprocessing_manager(ctx):
    val, r, evs = client(ctx, MANAGER, settings={})
    assert r.rc == 0, r
    assert val["address"].startswith("/tmp/"), val
    assert val == {"address": val["address"], "child": True, "list": ["from the child"], "exit": 0}, r
    assert unix_violations(evs) == [], evs


NODE = r'''
const net = require("net");
const p = "/tmp/srt-e2e-node-" + process.pid + ".sock";
const fail = (what) => (e) => { console.log(what + " " + e.code); process.exit(3); };
const srv = net.createServer((c) => {
  let got = "";
  c.on("data", (d) => { got += d; if (got.endsWith("\n")) c.end("echo " + got); });
});
srv.on("error", fail("server"));
srv.listen(p, () => {
  const c = net.connect(p, () => c.write("ping from node\n"));
  let reply = "";
  c.on("data", (d) => { reply += d; });
  c.on("error", fail("client"));
  c.on("end", () => { console.log(JSON.stringify(reply)); srv.close(); });
});
'''


def test_node_server_and_client_in_tmp(ctx):
    need("node")
    r, evs = run_ev(ctx, ["node", "-e", NODE], {})
    assert r.rc == 0, r
    assert r.out == '"echo ping from node\\n"\n', r
    assert unix_violations(evs) == [], evs


PROJECT_SERVER = r'''
path = os.path.join(os.getcwd(), "run", "srv.sock")
try:
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(path)
    srv.listen(4)
except OSError as e:
    emit("server: " + ename(e))
    sys.exit(0)
def serve():
    c, _ = srv.accept()
    got = b""
    while not got.endswith(b"\n"):
        got += c.recv(100)
    c.sendall(b"echo " + got)
    c.close()
t = threading.Thread(target=serve)
t.start()
pid = os.fork()
if pid == 0:  # the client is another process
    r = stream(path, b"hello project\n")
    with open(os.path.join(os.getcwd(), "run", "client.out"), "w") as f:
        f.write(r)
    os._exit(0)
os.waitpid(pid, 0)
t.join()
emit(open(os.path.join(os.getcwd(), "run", "client.out")).read())
'''


def test_python_server_in_writable_project_folder(ctx):
    ctx.mkdir("run")
    val, r, evs = client(ctx, PROJECT_SERVER, settings={"filesystem": {"allowWrite": ["."]}})
    assert val == "ok:echo hello project\n", r
    assert unix_violations(evs) == [], evs
    # the socket the sandbox bound is a real one in the project
    st = os.lstat(ctx.p("run/srv.sock"))
    assert stat.S_ISSOCK(st.st_mode), st


# --- host sockets: listed, not listed, globs, symlinks -----------------------

def test_unlisted_host_socket_refused_listed_one_works(ctx, host):
    ok = host.server("stream", "listed")
    no = host.server("stream", "other")
    val, r, evs = client(ctx, "emit([stream(sys.argv[1]), stream(sys.argv[2])])", ok.path, no.path,
                         settings=listed(ok.path))
    assert val == ["ok:hello from listed\n", "EACCES"], r
    assert_connect_refused_reported(r, evs, no.path)
    assert [e["target"] for e in unix_violations(evs)] == [no.path], evs
    assert no.accepted() == 0
    assert ok.received() == ["from sandbox\n"]


def test_glob_entry_covers_the_folder_only(ctx, host):
    a = host.server("stream", "a")
    sub = ctx.mkdir(os.path.join(host.dir, "deep", "er"))
    b_path = os.path.join(sub, "b.sock")
    b = host.server("stream", "deep/er/b")
    assert b.path == b_path
    ctx.mkdir(os.path.join(ctx.root, "elsewhere"))
    c = host.server("stream", "../elsewhere/c")
    val, r, evs = client(ctx, "emit([stream(p) for p in sys.argv[1:]])", a.path, b.path, c.path,
                         settings=listed(host.dir + "/**"))
    assert val == ["ok:hello from a\n", "ok:hello from deep/er/b\n", "EACCES"], r
    assert_connect_refused_reported(r, evs, c.path)
    assert c.accepted() == 0


def test_symlink_to_listed_socket_is_followed(ctx, host):
    ok = host.server("stream", "listed")
    no = host.server("stream", "other")
    to_ok = ctx.symlink(ok.path, os.path.join(ctx.home, "ok.sock"))
    to_no = ctx.symlink(no.path, os.path.join(ctx.home, "no.sock"))
    dir_link = ctx.symlink(host.dir, os.path.join(ctx.home, "hostdir"))
    val, r, evs = client(ctx, "emit([stream(p) for p in sys.argv[1:]])",
                         to_ok, os.path.join(dir_link, "listed.sock"), to_no,
                         settings=listed(ok.path))
    assert val == ["ok:hello from listed\n", "ok:hello from listed\n", "EACCES"], r
    # the violation names the socket, not the link
    assert_connect_refused_reported(r, evs, no.path)
    assert no.accepted() == 0
    assert ok.accepted() == 2


REPOINT = r'''
link = sys.argv[1]
res = [stream(link)]
try:
    os.unlink(link)
    os.symlink(sys.argv[2], link)
    res.append("repointed")
except OSError as e:
    res.append("repoint: " + ename(e))
res.append(stream(link))
emit(res)
'''


def test_listed_link_in_writable_folder_is_refused(ctx, host):
    """A listed path that is a symlink in a writable folder is a link the
    sandbox could have planted or could repoint: srt refuses to run with
    such an entry (exit 125) and names the link and the path to write
    instead; nothing connects."""
    ok = host.server("stream", "listed")
    no = host.server("stream", "other")
    link = ctx.symlink(ok.path, "agent.sock")
    r = ctx.run([PY, "-c", CLIENT + REPOINT, link, no.path], settings=listed(link, filesystem_allow_write=True))
    assert r.rc == 125, r
    assert "network.allowUnixSockets" in r.err and link in r.err and ok.path in r.err, r
    assert "writable folder" in r.err, r
    assert ok.accepted() == 0 and no.accepted() == 0
    assert os.readlink(link) == ok.path  # nothing ran to repoint it


RACE = r'''
n = int(sys.argv[2])
out = {"ok": 0, "EACCES": 0}
for i in range(n):
    s = None
    try:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(sys.argv[1])
        out["ok"] += 1
    except OSError as e:
        out[ename(e)] = out.get(ename(e), 0) + 1
    finally:
        if s is not None:
            s.close()
emit(out)
'''


def test_symlink_swapped_during_connects_never_reaches_forbidden_socket(ctx, host):
    ok = host.server("stream", "allowed")
    no = host.server("stream", "forbidden")
    link = os.path.join(host.dir, "swap.sock")
    tmp = os.path.join(host.dir, "swap.sock.new")
    os.symlink(ok.path, link)
    stop = threading.Event()
    swaps = [0]

    def swapper():
        # Bounded: stops when the run ends, or after 120 s at most.
        end = time.monotonic() + 120
        targets = (no.path, ok.path)
        while not stop.is_set() and time.monotonic() < end:
            os.symlink(targets[swaps[0] % 2], tmp)
            os.replace(tmp, link)
            swaps[0] += 1

    t = threading.Thread(target=swapper, daemon=True)
    t.start()
    try:
        val, r, evs = client(ctx, RACE, link, 3000, settings=listed(ok.path), timeout=150)
    finally:
        stop.set()
        t.join()
    assert r.rc == 0, r
    assert swaps[0] > 100, swaps
    assert set(val) == {"ok", "EACCES"}, (val, r)  # no other outcome
    assert val["ok"] > 0 and val["EACCES"] > 0, val  # both targets were seen
    assert no.accepted() == 0, val
    assert ok.accepted() == val["ok"], val  # every connect that succeeded reached the allowed server
    targets = {e["target"] for e in unix_violations(evs)}
    assert targets == {no.path}, evs


def test_allow_all_unix_sockets_keeps_its_meaning(ctx, host):
    srv = host.server("stream", "any")
    val, r, evs = client(ctx, "emit(stream(sys.argv[1]))", srv.path,
                         settings={"network": {"allowAllUnixSockets": True}})
    assert val == "ok:hello from any\n", r
    assert unix_violations(evs) == [], evs
    assert srv.received() == ["from sandbox\n"]


# --- datagrams -----------------------------------------------------------------

DGRAM_TO = r'''
path = sys.argv[1]
res = {}
try:
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    t = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
except OSError as e:
    emit("socket: " + ename(e))
    sys.exit(0)
res["socketpair sendto"] = attempt(lambda: a.sendto(b"socketpair sendto", path))
res["socketpair sendmsg"] = attempt(lambda: a.sendmsg([b"socketpair sendmsg"], [], 0, path))
res["socket sendto"] = attempt(lambda: s.sendto(b"socket sendto", path))
res["socket sendmsg"] = attempt(lambda: s.sendmsg([b"socket sendmsg"], [], 0, path))
res["connect"] = attempt(lambda: t.connect(path))
res["send after connect"] = attempt(lambda: t.send(b"send after connect"))
emit(res)
'''

DGRAM_KEYS = ["socketpair sendto", "socketpair sendmsg", "socket sendto", "socket sendmsg"]


def test_datagrams_to_unlisted_host_socket_refused(ctx, host):
    d = host.server("dgram", "dgram")
    val, r, evs = client(ctx, DGRAM_TO, d.path, settings={})
    assert isinstance(val, dict), r
    for k in DGRAM_KEYS + ["connect"]:
        assert val[k] == "EACCES", (k, val, r)
    assert val["send after connect"] != "ok", val
    assert d.received() == [], d.events()  # nothing was delivered
    assert_connect_refused_reported(r, evs, d.path, operations=("connect", "send", "sendto", "sendmsg"))


def test_datagrams_to_listed_host_socket_delivered(ctx, host):
    d = host.server("dgram", "dgram")
    val, r, evs = client(ctx, DGRAM_TO, d.path, settings=listed(d.path))
    assert isinstance(val, dict), r
    for k in DGRAM_KEYS + ["connect", "send after connect"]:
        assert val[k] == "ok", (k, val, r)
    assert sorted(d.received()) == sorted(DGRAM_KEYS + ["send after connect"]), d.events()
    assert unix_violations(evs) == [], evs


DGRAM_INSIDE = r'''
path = "/tmp/srt-e2e-dgram-%d.sock" % os.getpid()
try:
    rx = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    rx.bind(path)
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
except OSError as e:
    emit("socket: " + ename(e))
    sys.exit(0)
rx.settimeout(5)
res = {}
res["socketpair sendto"] = attempt(lambda: a.sendto(b"1", path))
res["socket sendto"] = attempt(lambda: s.sendto(b"2", path))
res["socket sendmsg"] = attempt(lambda: s.sendmsg([b"3"], [], 0, path))
got = []
for _ in range(3):
    try:
        got.append(rx.recv(100).decode())
    except OSError as e:
        got.append(ename(e))
res["received"] = sorted(got)
os.unlink(path)
emit(res)
'''


def test_datagrams_between_sockets_of_the_sandbox(ctx):
    val, r, evs = client(ctx, DGRAM_INSIDE, settings={})
    assert val == {"socketpair sendto": "ok", "socket sendto": "ok", "socket sendmsg": "ok",
                   "received": ["1", "2", "3"]}, r
    assert unix_violations(evs) == [], evs


# --- abstract names ---------------------------------------------------------------

ABSTRACT = r'''
name = "\0" + sys.argv[1]
res = {"host": stream(name)}
# The same name is free in the sandbox: a server of its own can take it.
try:
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(name)
    srv.listen(1)
except OSError as e:
    res["bind"] = ename(e)
    emit(res)
    sys.exit(0)
def serve():
    c, _ = srv.accept()
    c.sendall(b"hello from inside\n")
    while c.recv(100):  # until the client is done
        pass
    c.close()
t = threading.Thread(target=serve)
t.start()
res["inside"] = stream(name)
t.join()
emit(res)
'''


def test_abstract_names_are_private_to_the_sandbox(ctx, host):
    srv = host.server("abstract", "abstract")
    val, r, evs = client(ctx, ABSTRACT, srv.address, settings={})
    assert val == {"host": "ECONNREFUSED", "inside": "ok:hello from inside\n"}, r
    assert srv.accepted() == 0


# --- socketpair and SCM_RIGHTS ------------------------------------------------------

PAIRS = r'''
res = {}
for kind in ("SOCK_STREAM", "SOCK_DGRAM", "SOCK_SEQPACKET"):
    try:
        a, b = socket.socketpair(socket.AF_UNIX, getattr(socket, kind))
        a.sendall(b"ping")
        assert b.recv(10) == b"ping"
        # pass the write end of a pipe, write through the received one
        r, w = os.pipe()
        socket.send_fds(a, [b"fd"], [w])
        os.close(w)
        msg, fds, _, _ = socket.recv_fds(b, 10, 1)
        os.write(fds[0], ("through %s" % kind).encode())
        os.close(fds[0])
        got = os.read(r, 100).decode()
        os.close(r)
        res[kind] = [msg.decode(), got]
    except OSError as e:
        res[kind] = ename(e)
emit(res)
'''


def test_socketpair_of_each_type_passes_a_descriptor(ctx):
    val, r, evs = client(ctx, PAIRS, settings={})
    assert val == {k: ["fd", "through %s" % k] for k in ("SOCK_STREAM", "SOCK_DGRAM", "SOCK_SEQPACKET")}, r
    assert unix_violations(evs) == [], evs


# --- a socket of the sandbox's own, replaced at its path by one of the host ---

REPLACED = r'''
import time
path = os.path.join(os.getcwd(), "run", "own.sock")
ready = os.path.join(os.getcwd(), "run", "ready")
bound = os.path.join(os.getcwd(), "run", "bound")
srv = socket.socket(socket.AF_UNIX)
srv.bind(path)
srv.listen(4)
res = [attempt(lambda: socket.socket(socket.AF_UNIX).connect(path))]
srv.close()
os.unlink(path)
open(ready, "w").close()
for _ in range(1000):
    if os.path.exists(bound):
        break
    time.sleep(0.01)
res.append(attempt(lambda: socket.socket(socket.AF_UNIX).connect(path)))
emit(res)
'''


def test_own_socket_replaced_by_a_host_socket_is_refused(ctx):
    """srt remembers which socket files the sandbox bound; a host process
    that binds a new socket at the same path (after the sandbox's is gone)
    must not inherit that: the second connect is refused."""
    run = ctx.mkdir("run")
    os.chmod(run, 0o777)
    path = os.path.join(run, "own.sock")
    host_srv = []

    def host_side():
        for _ in range(1000):
            if os.path.exists(os.path.join(run, "ready")):
                break
            time.sleep(0.01)
        s = socket.socket(socket.AF_UNIX)
        s.bind(path)
        s.listen(4)
        host_srv.append(s)
        open(os.path.join(run, "bound"), "w").close()

    t = threading.Thread(target=host_side)
    t.start()
    try:
        val, r, evs = client(ctx, REPLACED, settings={"filesystem": {"allowWrite": ["."]}})
    finally:
        t.join()
        for s in host_srv:
            s.close()
    assert val == ["ok", "EACCES"], r
    assert [e["target"] for e in unix_violations(evs)] == [path], evs
