"""Helpers shared by the long-running network benchmarks (bench/bursts,
bench/soak): building the C helpers, the loopback origin, reading a
process's memory and descriptors from /proc, and talking line by line with
a client that runs inside srt. Standard library only."""
import os
import resource
import select
import shutil
import signal
import subprocess
import sys
import time

sys.dont_write_bytecode = True  # keep bench/ free of __pycache__
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as b  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


def build_helpers(bindir, names):
    """Compiles bench/NAME.c for each name with cc -O2 -pthread into bindir."""
    cc = shutil.which("cc")
    if not cc:
        sys.exit("bench: cc not found (Debian package gcc)")
    os.makedirs(bindir, exist_ok=True)
    for name in names:
        cmd = [cc, "-O2", "-pthread", "-o", os.path.join(bindir, name),
               os.path.join(HERE, name + ".c")]
        proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        if proc.returncode != 0:
            sys.exit(f"bench: {b.show(cmd)} failed:\n{proc.stdout.decode(errors='replace')}")
    return {name: os.path.join(bindir, name) for name in names}


def start_origin(netserve):
    """Starts bench/netserve.c on a free loopback port; returns (proc, port)."""
    proc = subprocess.Popen([netserve, "0"], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE)
    ready, _, _ = select.select([proc.stdout], [], [], 10)
    line = proc.stdout.readline().decode().strip() if ready else ""
    if not line.isdigit():
        stop(proc)
        sys.exit(f"bench: {netserve} did not print its port")
    return proc, int(line)


def stop(proc):
    if proc and proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def status_kib(pid):
    """(VmHWM, VmRSS) in KiB from /proc/PID/status; (0, 0) when it is gone."""
    out = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(("VmHWM:", "VmRSS:")):
                    out[line.split(":")[0]] = int(line.split()[1])
    except OSError:
        pass
    return out.get("VmHWM", 0), out.get("VmRSS", 0)


def fd_count(pid):
    """Open descriptors of PID; -1 when it is gone."""
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return -1


def settled_fd_count(pid, limit=5.0):
    """fd_count once it has not changed for 0.2 s (at most `limit` s)."""
    last, same, end = fd_count(pid), 0, time.monotonic() + limit
    while time.monotonic() < end and same < 2:
        time.sleep(0.1)
        now = fd_count(pid)
        same = same + 1 if now == last else 0
        last = now
    return last


def mib(kib):
    return kib / 1024.0


def raise_hard_nofile(want):
    """Raises the hard RLIMIT_NOFILE to `want` (bounded by fs.nr_open) when
    allowed, so that srt, which lifts its soft limit to the hard one, and
    the client can hold many connections. Returns the hard limit now."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        with open("/proc/sys/fs/nr_open") as f:
            want = min(want, int(f.read()))
    except (OSError, ValueError):
        pass
    if hard != resource.RLIM_INFINITY and hard < want:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (soft, want))
            hard = want
        except (ValueError, OSError):
            pass
    return hard


def describe_exit(code):
    """'status 3' or 'signal 13 (SIGPIPE)' for a Popen returncode."""
    if code is None:
        return "still running"
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = "?"
        return f"signal {-code} ({name})"
    return f"status {code}"


class SrtDied(Exception):
    """The srt process ended before the client said it was done."""


class Session:
    """srt running a client that speaks lines on stdout and waits for lines
    on stdin. stderr goes to a file (read on failure)."""

    def __init__(self, cmd, cwd, stderr_path):
        self.cmd = cmd
        self.stderr_path = stderr_path
        self.err = open(stderr_path, "wb")
        self.t0 = time.monotonic()
        self.proc = subprocess.Popen(cmd, cwd=cwd, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=self.err)
        self.pid = self.proc.pid
        self.buf = b""

    def alive(self):
        return self.proc.poll() is None

    def elapsed(self):
        return time.monotonic() - self.t0

    def line(self, timeout):
        """The next line of the client's output, without its newline.
        Raises SrtDied when srt's output ends (srt exited, or the client
        ended and srt with it), TimeoutError after `timeout` seconds."""
        end = time.monotonic() + timeout
        fd = self.proc.stdout.fileno()
        while b"\n" not in self.buf:
            left = end - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no line from the client within {timeout:g} s")
            ready, _, _ = select.select([fd], [], [], min(left, 1.0))
            if not ready:
                continue
            chunk = os.read(fd, 65536)
            if not chunk:
                try:
                    self.proc.wait(10)
                except subprocess.TimeoutExpired:
                    pass
                raise SrtDied(describe_exit(self.proc.returncode))
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return line.decode(errors="replace")

    def expect(self, word, timeout):
        """The next line starting with `word`, split in fields; other lines
        are passed to `self.other` (printed by default)."""
        while True:
            line = self.line(timeout)
            fields = line.split()
            if fields and fields[0] == word:
                return fields
            self.other(line)

    def other(self, line):
        print(f"  client: {line}")

    def send(self, text="go"):
        """One line to the client; False when it can no longer read."""
        try:
            self.proc.stdin.write((text + "\n").encode())
            self.proc.stdin.flush()
            return True
        except (BrokenPipeError, OSError):
            return False

    def finish(self, timeout):
        """Closes stdin and waits for srt to exit; returns its returncode
        (None when it had to be killed)."""
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            return None

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def stderr_tail(self, n=10):
        self.err.flush()
        try:
            with open(self.stderr_path, "rb") as f:
                lines = f.read().decode(errors="replace").strip().splitlines()
        except OSError:
            return []
        return lines[-n:]

    def close(self):
        self.kill()
        for f in (self.proc.stdin, self.proc.stdout, self.err):
            try:
                f.close()
            except OSError:
                pass
