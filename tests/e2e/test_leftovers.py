# Nothing remains after srt returns, by any path: no processes, no entries in the project, no scratch files; concurrent runs keep each other's protection.
import json
import os
import signal
import stat
import struct
import subprocess
import time

import pytest

from conftest import PY, procs_matching, scratch_listing, stray_children, tree_listing, wait_until

PROTECTED_NEW = [".bashrc", ".profile", ".mcp.json", ".vscode/tasks.json", ".idea/x.xml",
                 ".claude/commands/c.md", ".git/hooks/pre-commit", ".git/config"]

# Waits for a line on stdin, then tries to create protected files and prints the outcome.
PROBE = r'''
import json, os, sys
print("ready", flush=True)
sys.stdin.readline()
res = {}
for p in json.loads(sys.argv[1]):
    try:
        d = os.path.dirname(p)
        if d:
            try: os.makedirs(d, exist_ok=True)
            except OSError: pass
        with open(p, "a") as f: f.write("pwned\n")
        res[p] = "ok"
    except OSError as e:
        res[p] = e.strerror
print(json.dumps(res), flush=True)
'''


def settings(ctx):
    return ctx.settings({"filesystem": {"allowWrite": [ctx.proj], "denyWrite": ["later.txt"],
                                        "denyRead": ["not-yet-there"]}})


class Snapshot:
    def __init__(self, ctx):
        self.ctx = ctx
        self.tree = self.now_tree()
        self.scratch = scratch_listing(ctx.uid)

    def now_tree(self):
        return {x for x in tree_listing(self.ctx.root) if not x[0].startswith("settings-")}

    def diff(self, command_made=()):
        """What changed since the snapshot, but for the empty folders in
        command_made (relative to the root), which the command itself may
        have made with mkdir."""
        tree = self.now_tree()
        scratch = scratch_listing(self.ctx.uid)
        known = [p.pid for p in self.ctx.procs if p.poll() is None]
        added = set()
        for rel, kind in tree - self.tree:
            if rel in command_made and kind == stat.S_IFDIR and not os.listdir(os.path.join(self.ctx.root, rel)):
                continue
            added.add((rel, kind))
        return {"added": sorted(added), "removed": sorted(self.tree - tree),
                "new scratch": sorted(scratch - self.scratch),
                "processes left": stray_children(known)}

    def clean(self, command_made=()):
        d = self.diff(command_made)
        return not any(d.values())


def prepare(ctx):
    ctx.write("README", "hi\n")
    ctx.write(".git/HEAD", "ref: refs/heads/main\n")
    ctx.mkdir("sub/.git")
    ctx.write("sub/file", "x\n")
    return settings(ctx)


def test_nothing_left_after_normal_exit(ctx):
    s = prepare(ctx)
    snap = Snapshot(ctx)
    t = ctx.token()
    r = ctx.run(["bash", "-c", "(exec -a %s sleep 30) & echo done" % t], settings_file=s, timeout=20)
    assert r.rc == 0 and "done" in r.out, r
    assert not procs_matching(t)
    assert snap.clean(), snap.diff()


def test_nothing_left_with_defaults(ctx):
    ctx.write("README", "hi\n")
    snap = Snapshot(ctx)
    r = ctx.run(["true"])
    assert r.rc == 0, r
    assert snap.clean(), snap.diff()


def test_nothing_left_after_failing_command(ctx):
    s = prepare(ctx)
    snap = Snapshot(ctx)
    r = ctx.run(["no-such-command-srt-e2e"], settings_file=s)
    assert r.rc == 127, r
    assert snap.clean(), snap.diff()


def test_nothing_left_after_settings_error(ctx):
    prepare(ctx)
    bad = ctx.settings({"filesystem": {"allowWrite": [ctx.proj], "denyRead": 3}})
    snap = Snapshot(ctx)
    r = ctx.run(["true"], settings_file=bad)
    assert r.rc == 125, r
    assert snap.clean(), snap.diff()


def test_nothing_left_after_missing_bwrap(ctx):
    prepare(ctx)
    bad = ctx.settings({"filesystem": {"allowWrite": [ctx.proj]}, "bwrapPath": "/nonexistent/bwrap"})
    snap = Snapshot(ctx)
    r = ctx.run(["true"], settings_file=bad)
    assert r.rc == 125, r
    assert snap.clean(), snap.diff()


def test_nothing_left_after_sigterm(ctx):
    s = prepare(ctx)
    snap = Snapshot(ctx)
    t = ctx.token()
    p = ctx.start(["bash", "-c", "echo ready; exec -a %s sleep 100" % t], settings_file=s)
    ctx.wait_output(p, "ready")
    p.send_signal(signal.SIGTERM)
    r = ctx.finish(p)
    assert r.rc == 143, r
    assert not procs_matching(t)
    assert snap.clean(), snap.diff()


def test_nothing_left_after_sigkill_of_srt(ctx):
    s = prepare(ctx)
    snap = Snapshot(ctx)
    t = ctx.token()
    p = ctx.start(["bash", "-c", "echo ready; exec -a %s sleep 100" % t], settings_file=s)
    ctx.wait_output(p, "ready")
    p.kill()
    p.wait()
    assert wait_until(lambda: not procs_matching(t), 1.0), "sandbox survives SIGKILL of srt"
    assert wait_until(snap.clean, 2.0), snap.diff()


def test_nothing_left_after_sigkill_of_srt_group(ctx):
    # Killing srt and everything it started at once (as a terminal closing
    # or a supervisor's kill of a process group can do).
    s = prepare(ctx)
    snap = Snapshot(ctx)
    t = ctx.token()
    argv = ctx.argv(["bash", "-c", "echo ready; exec -a %s sleep 100" % t], settings_file=s)
    p = subprocess.Popen(argv, cwd=ctx.proj, env=ctx.env(), stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, start_new_session=True)
    p.buf = b""
    p.argv = argv
    ctx.procs.append(p)
    ctx.wait_output(p, "ready")
    os.killpg(p.pid, signal.SIGKILL)
    p.wait()
    assert wait_until(lambda: not procs_matching(t), 1.0)
    assert wait_until(snap.clean, 2.0), snap.diff()


def test_tmp_files_do_not_reach_host(ctx):
    snap = Snapshot(ctx)
    r = ctx.sh("mkdir -p /tmp/srt-junk && echo x > /tmp/srt-junk/f && mkfifo /tmp/srt-fifo")
    assert r.rc == 0, r
    assert not os.path.exists("/tmp/srt-junk")
    assert snap.clean(), snap.diff()


# --- concurrent runs ---------------------------------------------------------

def run_probe(ctx, s):
    p = ctx.start([PY, "-c", PROBE, json.dumps(PROTECTED_NEW)], settings_file=s, stdin=subprocess.PIPE)
    ctx.wait_output(p, "ready")
    return p


# The probe's makedirs may make .claude (on the way to .claude/commands): an
# empty folder, allowed, and the command's doing. srt itself adds nothing.
PROBE_MADE = ("proj/.claude",)


def release(ctx, p):
    p.stdin.write(b"go\n")
    p.stdin.close()
    p.stdin = None  # communicate() must not flush a closed pipe
    r = ctx.finish(p)
    assert r.rc == 0, r
    res = json.loads(r.out.splitlines()[-1])
    return sorted(k for k, v in res.items() if v == "ok"), r


def test_second_run_does_not_weaken_first(ctx):
    s = prepare(ctx)
    snap = Snapshot(ctx)
    a = run_probe(ctx, s)
    r = ctx.run(["true"], settings_file=s)  # B runs to completion while A runs
    assert r.rc == 0, r
    ok, r = release(ctx, a)
    assert ok == [], r
    assert snap.clean(PROBE_MADE), snap.diff(PROBE_MADE)


def test_first_run_ending_does_not_weaken_second(ctx):
    s = prepare(ctx)
    snap = Snapshot(ctx)
    a = run_probe(ctx, s)
    b = run_probe(ctx, s)
    ok, r = release(ctx, a)  # A ends first
    assert ok == [], r
    time.sleep(0.2)
    ok, r = release(ctx, b)
    assert ok == [], r
    assert snap.clean(PROBE_MADE), snap.diff(PROBE_MADE)


def test_first_run_killed_does_not_weaken_second(ctx):
    s = prepare(ctx)
    snap = Snapshot(ctx)
    a = run_probe(ctx, s)
    b = run_probe(ctx, s)
    a.kill()
    a.wait()
    time.sleep(0.5)
    ok, r = release(ctx, b)
    assert ok == [], r
    assert wait_until(lambda: snap.clean(PROBE_MADE), 2.0), snap.diff(PROBE_MADE)


def test_many_concurrent_runs(ctx):
    s = prepare(ctx)
    snap = Snapshot(ctx)
    procs = [ctx.start(["sh", "-c", "sleep 0.%d; echo x >> .bashrc 2>/dev/null && echo BAD; true" % i],
                       settings_file=s) for i in range(6)]
    for p in procs:
        r = ctx.finish(p, timeout=30)
        assert r.rc == 0 and "BAD" not in r.out, r
    assert snap.clean(), snap.diff()


# --- nothing of srt's in the project while it runs, the user's files survive ---

def test_no_entries_appear_during_run_and_user_files_survive(ctx):
    # srt makes nothing in the writable folders for protected paths that do
    # not exist (the write guard judges each call instead): listed from the
    # host while the sandbox runs, the project and home are as they were.
    # What the user makes there meanwhile, protected names and denied paths
    # included, is theirs, and stays when srt ends.
    prepare(ctx)
    s = ctx.settings({"filesystem": {"allowWrite": [ctx.proj, "~"], "denyWrite": ["later.txt"],
                                     "denyRead": ["not-yet-there", "~/.ssh/id_new"]}})
    snap = Snapshot(ctx)
    p = ctx.start(["sh", "-c", "echo ready; exec sleep 1"], settings_file=s)
    ctx.wait_output(p, "ready")
    d = snap.diff()
    assert d["added"] == [] and d["removed"] == [], d
    mine = {".bashrc": "mine\n", ".gitmodules": "", ".vscode/settings.json": "mine\n",
            ".claude/settings.json": "mine\n", ".git/hooks/pre-commit": "mine\n",
            "later.txt": "mine\n", "not-yet-there": "mine\n",
            os.path.join(ctx.home, ".profile"): "mine\n", os.path.join(ctx.home, ".ssh/id_new"): "mine\n"}
    for rel, text in mine.items():
        ctx.write(rel, text)
    r = ctx.finish(p, timeout=20)
    assert r.rc == 0, r
    time.sleep(0.2)
    for rel, text in mine.items():
        assert ctx.exists(rel) and ctx.read(rel) == text, rel


# --- signals while the sandbox is being set up ---------------------------------

@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGKILL], ids=lambda s: s.name)
def test_signal_during_startup_leaves_nothing(ctx, sig):
    s = prepare(ctx)
    snap = Snapshot(ctx)
    for delay in (0, 0.002, 0.005, 0.01, 0.02, 0.04):
        t = ctx.token()
        p = ctx.start(["bash", "-c", "exec -a %s sleep 100" % t], settings_file=s)
        time.sleep(delay)
        p.send_signal(sig)
        try:
            rc = p.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pytest.fail("srt did not end within 5s after %s at %.3fs" % (sig.name, delay))
        assert rc != 0, (delay, rc)
        assert wait_until(lambda: not procs_matching(t), 1.0), (delay, procs_matching(t))
        assert wait_until(snap.clean, 2.0), (delay, snap.diff())


# --- not even for a moment: an inotify watch on the project -------------------

class _Inotify:
    """A minimal inotify reader (ctypes): the names created, moved in or
    removed in the watched folders."""
    IN_CREATE, IN_DELETE, IN_MOVED_FROM, IN_MOVED_TO = 0x100, 0x200, 0x40, 0x80

    def __init__(self, folders):
        import ctypes
        import ctypes.util
        self.libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
        self.fd = self.libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        assert self.fd >= 0
        self.wd = {}
        mask = self.IN_CREATE | self.IN_DELETE | self.IN_MOVED_FROM | self.IN_MOVED_TO
        for f in folders:
            wd = self.libc.inotify_add_watch(self.fd, f.encode(), mask)
            assert wd >= 0, f
            self.wd[wd] = f

    def events(self):
        out = []
        while True:
            try:
                buf = os.read(self.fd, 65536)
            except BlockingIOError:
                return out
            i = 0
            while i < len(buf):
                wd, mask, _cookie, n = struct.unpack_from("iIII", buf, i)
                name = buf[i + 16:i + 16 + n].split(b"\0", 1)[0].decode(errors="replace")
                out.append((self.wd.get(wd, "?"), name, mask))
                i += 16 + n

    def close(self):
        os.close(self.fd)


def test_inotify_sees_no_entry_of_srts_in_the_project(ctx):
    # Every entry that appears in the project or its .git while sandboxes
    # start, run and end (even one made and removed at once) is reported by
    # inotify; a command that writes nothing must leave none.
    prepare(ctx)
    os.makedirs(ctx.p(".git"), exist_ok=True)
    s = ctx.settings({"filesystem": {"allowWrite": [ctx.proj], "denyWrite": ["later.txt"],
                                     "denyRead": ["not-yet-there"]}})
    w = _Inotify([ctx.proj, ctx.p(".git")])
    try:
        for _ in range(3):
            r = ctx.run(["true"], settings_file=s)
            assert r.rc == 0, r
        assert w.events() == []
    finally:
        w.close()
