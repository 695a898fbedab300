# Shared helpers for the black-box tests: find srt, make per-test folders, run srt as root or nobody.
import fcntl
import itertools
import json
import os
import re
import select
import shutil
import signal
import stat
import struct
import subprocess
import tempfile
import termios
import time

import pytest

SRT = os.environ.get("SRT_BIN", os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "build", "srt")))
NOBODY = 65534
# Not /tmp: the sandbox gets a private /tmp, so a project under the host's
# /tmp would not be visible inside.
TMP_BASE = os.environ.get("SRT_E2E_TMPDIR", "/var/tmp")
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
PY = "/usr/bin/python3"
DROP = ["setpriv", "--reuid=%d" % NOBODY, "--regid=%d" % NOBODY, "--clear-groups"]

_counter = itertools.count()


def token():
    """A string unique to this test run, to find processes by their command line."""
    return "srte2e%dx%d" % (os.getpid(), next(_counter))


# --- finding the binary ------------------------------------------------------

def _nobody_can_run(path):
    r = subprocess.run(DROP + ["test", "-x", path], capture_output=True)
    return r.returncode == 0


@pytest.fixture(scope="session")
def srt_bin():
    if not os.path.exists(SRT):
        pytest.fail("srt binary not found at %s (build it, or set SRT_BIN)" % SRT)
    if _nobody_can_run(SRT):
        yield SRT
        return
    # The build folder is not reachable by nobody: run copies of srt and its
    # helpers (srt looks for them next to itself) from a 0755 folder.
    d = tempfile.mkdtemp(prefix="srt-e2e-bin-", dir=TMP_BASE)
    os.chmod(d, 0o755)
    src = os.path.dirname(os.path.realpath(SRT))
    for name in ("srt", "srt-init", "srt-empty"):
        p = os.path.join(src, name)
        if os.path.exists(p):
            shutil.copy2(p, os.path.join(d, name))
    yield os.path.join(d, "srt")
    shutil.rmtree(d, ignore_errors=True)


# --- results -----------------------------------------------------------------

class Result:
    def __init__(self, argv, rc, stdout, stderr):
        self.argv = argv
        self.rc = rc
        self.stdout = stdout
        self.stderr = stderr
        self.out = stdout.decode("utf-8", "replace")
        self.err = stderr.decode("utf-8", "replace")

    def __repr__(self):
        return "\n<srt run>\n  argv: %r\n  exit: %r\n  stdout: %s\n  stderr: %s\n" % (
            self.argv, self.rc, self.out[-3000:], self.err[-3000:])


# --- processes ---------------------------------------------------------------

def procs_matching(text):
    """PIDs of live (non-zombie) processes whose command line contains text."""
    found = []
    me = os.getpid()
    for d in os.listdir("/proc"):
        if not d.isdigit() or int(d) == me:
            continue
        try:
            with open("/proc/%s/cmdline" % d, "rb") as f:
                cmd = f.read()
            with open("/proc/%s/stat" % d) as f:
                st = f.read()
        except OSError:
            continue
        if text.encode() in cmd:
            state = st.rsplit(")", 1)[1].split()[0]
            if state != "Z":
                found.append(int(d))
    return found


@pytest.fixture(scope="session", autouse=True)
def subreaper():
    """Make the test process a child subreaper: whatever srt leaves behind
    (a helper that outlives it, a sandbox that escaped --die-with-parent)
    becomes our child, where stray_children() finds it."""
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
    yield


def stray_children(known=()):
    """Live children of this process other than known PIDs; zombies among
    them (orphans that ended) are reaped on the way."""
    me = os.getpid()
    kids = set()
    for tid in os.listdir("/proc/%d/task" % me):
        try:
            with open("/proc/%d/task/%s/children" % (me, tid)) as f:
                kids.update(int(x) for x in f.read().split())
        except OSError:
            pass
    live = []
    for pid in sorted(kids - set(known)):
        try:
            with open("/proc/%d/stat" % pid) as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state == "Z":
            try:
                os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                pass
            continue
        try:
            with open("/proc/%d/cmdline" % pid, "rb") as f:
                live.append((pid, f.read().replace(b"\0", b" ").decode("utf-8", "replace")))
        except OSError:
            pass
    return live


def wait_until(pred, timeout, step=0.02):
    end = time.monotonic() + timeout
    while True:
        v = pred()
        if v or time.monotonic() >= end:
            return v
        time.sleep(step)


def tree_listing(root):
    """Every path under root with its type, to compare before and after."""
    out = set()
    for dirpath, dirnames, filenames in os.walk(root):
        for n in dirnames + filenames:
            p = os.path.join(dirpath, n)
            try:
                st = os.lstat(p)
            except OSError:
                continue
            out.add((os.path.relpath(p, root), stat.S_IFMT(st.st_mode)))
    return out


SCRATCH_DIRS = ["/tmp", "/var/tmp", "/dev/shm", "/run"]


def scratch_listing(uid):
    """Top-level entries of the shared scratch folders that srt might have
    made: those owned by the test user (when not root), or whose names say
    srt or bwrap. Other work on the machine may create files in /tmp."""
    out = set()
    for d in SCRATCH_DIRS:
        try:
            names = os.listdir(d)
        except OSError:
            continue
        for n in names:
            p = os.path.join(d, n)
            if n.startswith("srt-e2e-"):
                continue
            try:
                st = os.lstat(p)
            except OSError:
                continue
            if (uid != 0 and st.st_uid == uid) or re.search(r"srt|bwrap|sandbox", n, re.I):
                out.add(p)
    return out


# --- the per-test context ----------------------------------------------------

class Ctx:
    """One test's world: a root folder (owned by the test user) holding a
    HOME and a project folder that is the working directory of srt."""

    def __init__(self, user, srt):
        self.user = user
        self.uid = 0 if user == "root" else NOBODY
        self.srt = srt
        self.root = tempfile.mkdtemp(prefix="srt-e2e-", dir=TMP_BASE)
        os.chmod(self.root, 0o755)
        self.home = os.path.join(self.root, "home")
        self.proj = os.path.join(self.root, "proj")
        os.mkdir(self.home, 0o755)
        os.mkdir(self.proj, 0o755)
        self.own(self.root)
        self.own(self.home)
        self.own(self.proj)
        self.procs = []
        self.tokens = []
        self._n = 0

    # files -------------------------------------------------------------------
    def p(self, rel):
        """A path: absolute stays, relative is inside the project."""
        return rel if os.path.isabs(rel) else os.path.join(self.proj, rel)

    def own(self, path):
        os.lchown(path, self.uid, self.uid)

    def mkdir(self, rel, mode=0o755):
        path = self.p(rel)
        parts = []
        d = path
        while not os.path.exists(d):
            parts.append(d)
            d = os.path.dirname(d)
        for d in reversed(parts):
            os.mkdir(d, mode)
            os.chmod(d, mode)
            self.own(d)
        return path

    def write(self, rel, data="", mode=0o644):
        path = self.p(rel)
        self.mkdir(os.path.dirname(path))
        with open(path, "wb") as f:
            f.write(data.encode() if isinstance(data, str) else data)
        os.chmod(path, mode)
        self.own(path)
        return path

    def read(self, rel):
        with open(self.p(rel), "rb") as f:
            return f.read().decode("utf-8", "replace")

    def exists(self, rel):
        return os.path.lexists(self.p(rel))

    def symlink(self, target, rel):
        path = self.p(rel)
        self.mkdir(os.path.dirname(path))
        os.symlink(target, path)
        self.own(path)
        return path

    def settings(self, obj, path=None):
        """Write a settings file (dict as JSON, str as is) outside the project
        unless path says otherwise; return its path."""
        if path is None:
            self._n += 1
            path = os.path.join(self.root, "settings-%d.json" % self._n)
        text = obj if isinstance(obj, str) else json.dumps(obj, indent=2)
        return self.write(path, text)

    # running -----------------------------------------------------------------
    def env(self, extra=None):
        e = {"PATH": PATH, "HOME": self.home, "LANG": "C.UTF-8",
             "USER": self.user, "LOGNAME": self.user, "TERM": "dumb"}
        # A sanitizer build of srt must see the run's sanitizer options.
        for k in ("ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS"):
            if k in os.environ:
                e[k] = os.environ[k]
        if extra:
            e.update(extra)
        return e

    def argv(self, args, settings=None, settings_file=None, opts=()):
        prefix = DROP if self.uid else []
        a = prefix + [self.srt] + list(opts)
        if settings is not None:
            settings_file = self.settings(settings)
        if settings_file is not None:
            a += ["--settings", settings_file]
        return a + list(args)

    def run(self, args, settings=None, settings_file=None, opts=(), cwd=None,
            input=None, timeout=60, env=None):
        argv = self.argv(args, settings, settings_file, opts)
        if isinstance(input, str):
            input = input.encode()
        try:
            cp = subprocess.run(argv, cwd=cwd or self.proj, env=self.env(env),
                                input=input if input is not None else b"",
                                capture_output=True, timeout=timeout)
        except subprocess.TimeoutExpired as e:
            pytest.fail("timed out after %ss: %r\nstdout: %r\nstderr: %r" % (
                timeout, argv, e.stdout, e.stderr))
        return Result(argv, cp.returncode, cp.stdout, cp.stderr)

    def sh(self, script, **kw):
        """srt -c SCRIPT"""
        return self.run(["-c", script], **kw)

    def py(self, code, *args, **kw):
        """Run python3 code inside the sandbox."""
        return self.run([PY, "-c", code] + list(args), **kw)

    def start(self, args, settings=None, settings_file=None, opts=(), cwd=None,
              env=None, stdin=subprocess.DEVNULL):
        argv = self.argv(args, settings, settings_file, opts)
        proc = subprocess.Popen(argv, cwd=cwd or self.proj, env=self.env(env),
                                stdin=stdin, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE)
        proc.buf = b""
        proc.argv = argv
        self.procs.append(proc)
        return proc

    @staticmethod
    def wait_output(proc, text, timeout=10):
        """Read proc's stdout until text appears; fail with what came."""
        want = text.encode() if isinstance(text, str) else text
        end = time.monotonic() + timeout
        fd = proc.stdout.fileno()
        while want not in proc.buf:
            left = end - time.monotonic()
            if left <= 0:
                break
            r, _, _ = select.select([fd], [], [], left)
            if not r:
                break
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            proc.buf += chunk
        if want not in proc.buf:
            err = b""
            if proc.poll() is not None:
                err = proc.stderr.read()
            pytest.fail("no %r from %r within %ss; stdout so far %r; exit %r; stderr %r" % (
                want, proc.argv, timeout, proc.buf, proc.poll(), err))
        return proc.buf

    @staticmethod
    def finish(proc, timeout=10):
        """Wait for proc, return a Result with everything it printed."""
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
            pytest.fail("srt did not end within %ss: %r" % (timeout, proc.argv))
        return Result(proc.argv, proc.returncode, proc.buf + out, err)

    def token(self):
        t = token()
        self.tokens.append(t)
        return t

    def cleanup(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
            try:
                p.communicate(timeout=5)
            except Exception:
                pass
        for t in self.tokens:
            for pid in procs_matching(t):
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
        shutil.rmtree(self.root, onerror=_force_remove)


def _force_remove(func, path, exc):
    try:
        os.chmod(os.path.dirname(path), 0o755)
        if os.path.isdir(path) and not os.path.islink(path):
            os.chmod(path, 0o755)
            shutil.rmtree(path, ignore_errors=True)
        else:
            os.unlink(path)
    except OSError:
        pass


@pytest.fixture(params=["root", "nobody"])
def user(request):
    return request.param


@pytest.fixture
def ctx(user, srt_bin):
    c = Ctx(user, srt_bin)
    yield c
    c.cleanup()
    # Nothing srt started may outlive it (we are the subreaper of orphans).
    left = wait_until(lambda: not stray_children(), 2.0) or stray_children()
    if left is not True:
        for pid, _ in left:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        pytest.fail("processes left behind by srt: %r" % (left,))


def run_srt(ctx, args, settings=None, **kw):
    """run_srt(ctx, args, settings=dict|None, cwd=..., ...) -> Result"""
    return ctx.run(args, settings=settings, **kw)


# --- terminals ---------------------------------------------------------------

class PtyProc:
    """A program on the slave side of a new pty, driven from the master."""

    def __init__(self, argv, env, cwd):
        self.argv = argv
        self.buf = b""
        fd, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
        pid = os.fork()
        if pid == 0:
            try:
                os.close(fd)
                os.setsid()
                fcntl.ioctl(slave, termios.TIOCSCTTY, 0)
                for n in (0, 1, 2):
                    os.dup2(slave, n)
                if slave > 2:
                    os.close(slave)
                os.chdir(cwd)
                os.execvpe(argv[0], argv, env)
            finally:
                os._exit(120)
        os.close(slave)
        self.pid = pid
        self.fd = fd
        self.status = None
        self.all = b""

    def send(self, data):
        os.write(self.fd, data.encode() if isinstance(data, str) else data)

    def _read(self, timeout):
        r, _, _ = select.select([self.fd], [], [], timeout)
        if not r:
            return False
        try:
            chunk = os.read(self.fd, 65536)
        except OSError:
            chunk = b""
        if not chunk:
            return None
        self.buf += chunk
        self.all += chunk
        return True

    def expect(self, pattern, timeout=10):
        """Wait until the output after the last match matches pattern."""
        rx = re.compile(pattern.encode() if isinstance(pattern, str) else pattern)
        end = time.monotonic() + timeout
        while True:
            m = rx.search(self.buf)
            if m:
                self.buf = self.buf[m.end():]
                return m
            left = end - time.monotonic()
            if left <= 0 or self._read(left) is None:
                pytest.fail("pty: no %r from %r; got %r" % (pattern, self.argv, self.buf))

    def wait(self, timeout=10):
        end = time.monotonic() + timeout
        while self.status is None:
            pid, st = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.status = os.waitstatus_to_exitcode(st)
                break
            if time.monotonic() > end:
                pytest.fail("pty: %r did not end; output %r" % (self.argv, self.buf))
            self._read(0.05)
        return self.status

    def close(self):
        if self.status is None:
            try:
                os.kill(self.pid, signal.SIGKILL)
                os.waitpid(self.pid, 0)
            except OSError:
                pass
        try:
            os.close(self.fd)
        except OSError:
            pass


@pytest.fixture
def pty_run(ctx):
    started = []

    def start(args, settings=None, opts=(), env=None):
        argv = ctx.argv(args, settings=settings, opts=opts)
        e = ctx.env(dict({"TERM": "xterm"}, **(env or {})))
        p = PtyProc(argv, e, ctx.proj)
        started.append(p)
        return p

    yield start
    for p in started:
        p.close()
