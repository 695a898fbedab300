"""Helpers shared by the benchmarks in bench/: locating binaries, timing runs,
medians and scratch folders. Standard library only."""
import json
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NPM_SRT_DEFAULT = "/opt/npm-srt/node_modules/.bin/srt"


def srt_binary():
    """The srt under test: $SRT_BIN, else build/srt of this checkout."""
    path = os.environ.get("SRT_BIN") or os.path.join(REPO, "build", "srt")
    path = os.path.abspath(path)
    if not os.access(path, os.X_OK):
        sys.exit(f"bench: {path} not found or not executable; run 'make build' first")
    return path


def bwrap_binary():
    path = shutil.which("bwrap")
    if not path:
        sys.exit("bench: bwrap not found (Debian package bubblewrap)")
    return path


def npm_srt_binary():
    """The TypeScript srt, when installed outside the project ($NPM_SRT)."""
    path = os.environ.get("NPM_SRT", NPM_SRT_DEFAULT)
    if os.access(path, os.X_OK) and shutil.which("node"):
        return path
    return None


def scratch_dir(prefix):
    """A temporary folder outside /tmp (srt gives the sandbox a private /tmp)."""
    base = os.environ.get("BENCH_TMPDIR", "/var/tmp")
    return tempfile.mkdtemp(prefix=prefix, dir=base)


def write_settings(path, settings):
    with open(path, "w") as f:
        json.dump(settings, f, indent=2)
        f.write("\n")


def show(cmd):
    return shlex.join(cmd)


def run_once(cmd, cwd, env=None):
    """Wall time of one run in seconds. Fails loudly if the command fails:
    a benchmark of a command that does not work measures nothing."""
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    elapsed = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.exit(f"bench: command failed with status {proc.returncode} in {cwd}:\n"
                 f"  {show(cmd)}\n{proc.stderr.decode(errors='replace')}")
    return elapsed


def alternate(commands, iterations, warmup=3):
    """Runs each (name, cmd, cwd) in turn, iterations times, rotating which
    goes first so that no command always runs on a warmer machine.
    Returns {name: [seconds, ...]}."""
    for _ in range(warmup):
        for name, cmd, cwd in commands:
            run_once(cmd, cwd)
    times = {name: [] for name, _, _ in commands}
    n = len(commands)
    for i in range(iterations):
        for k in range(n):
            name, cmd, cwd = commands[(i + k) % n]
            times[name].append(run_once(cmd, cwd))
    return times


def median_ms(samples):
    return statistics.median(samples) * 1000.0


def quantile_ms(samples, q):
    s = sorted(samples)
    return s[min(len(s) - 1, int(q * len(s)))] * 1000.0


def verdict(ok):
    return "target met" if ok else "TARGET MISSED"


def library_build_dir(arg=None):
    """The build folder holding libsandbox_runtime.so: arg, else
    $SRT_BUILD_DIR, else build/ of this checkout."""
    d = os.path.abspath(arg or os.environ.get("SRT_BUILD_DIR") or os.path.join(REPO, "build"))
    if not os.path.isdir(d) or not any(f.startswith("libsandbox_runtime.so") for f in os.listdir(d)):
        sys.exit(f"bench: no libsandbox_runtime.so in {d}; run 'make build' first (or --build DIR)")
    return d


def compile_against_library(work, build, name, source):
    """Builds source (C) as work/name with cc -O2, against the public header
    and the library of build (linked with an rpath to it). Returns the
    executable and the command used."""
    cc = shutil.which("cc")
    if not cc:
        sys.exit("bench: cc not found (Debian package gcc)")
    src = os.path.join(work, name + ".c")
    exe = os.path.join(work, name)
    with open(src, "w") as f:
        f.write(source)
    cmd = [cc, "-O2", "-Wall", "-Wextra", "-o", exe, src, "-I", os.path.join(REPO, "include"),
           "-L", build, "-Wl,-rpath," + build, "-lsandbox_runtime", "-pthread"]
    subprocess.run(cmd, check=True)
    return exe, cmd
