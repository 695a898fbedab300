# Nothing remains after srt returns, by any path: no processes, no placeholders, no scratch files; concurrent runs keep each other's protection.
import json
import os
import signal
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

    def diff(self):
        tree = self.now_tree()
        scratch = scratch_listing(self.ctx.uid)
        known = [p.pid for p in self.ctx.procs if p.poll() is None]
        return {"added": sorted(tree - self.tree), "removed": sorted(self.tree - tree),
                "new scratch": sorted(scratch - self.scratch),
                "processes left": stray_children(known)}

    def clean(self):
        d = self.diff()
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
    assert snap.clean(), snap.diff()


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
    assert snap.clean(), snap.diff()


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
    assert wait_until(snap.clean, 2.0), snap.diff()


def test_many_concurrent_runs(ctx):
    s = prepare(ctx)
    snap = Snapshot(ctx)
    procs = [ctx.start(["sh", "-c", "sleep 0.%d; echo x >> .bashrc 2>/dev/null && echo BAD; true" % i],
                       settings_file=s) for i in range(6)]
    for p in procs:
        r = ctx.finish(p, timeout=30)
        assert r.rc == 0 and "BAD" not in r.out, r
    assert snap.clean(), snap.diff()


# --- the user's own files are never removed ---------------------------------

def test_user_file_replacing_placeholder_survives(ctx):
    s = settings(ctx)
    p = ctx.start(["sh", "-c", "echo ready; exec sleep 30"], settings_file=s)
    ctx.wait_output(p, "ready")
    # While the sandbox runs, the user makes real files on the host where
    # srt may have put placeholders: by replacing, and by writing in place.
    for name, how in ((".bashrc", "replace"), (".profile", "inplace"), (".mcp.json", "replace")):
        path = ctx.p(name)
        if how == "replace" or not os.path.exists(path):
            if os.path.lexists(path):
                os.unlink(path)
            ctx.write(name, "mine %s\n" % name)
        else:
            os.chmod(path, 0o644)
            with open(path, "w") as f:
                f.write("mine %s\n" % name)
    os.makedirs(ctx.p(".vscode"), exist_ok=True)
    try:
        os.chmod(ctx.p(".vscode"), 0o755)
    except OSError:
        pass
    ctx.write(".vscode/settings.json", "mine\n")
    p.send_signal(signal.SIGTERM)
    ctx.finish(p)
    time.sleep(0.2)
    for name in (".bashrc", ".profile", ".mcp.json"):
        assert ctx.exists(name) and ctx.read(name) == "mine %s\n" % name, name
    assert ctx.read(".vscode/settings.json") == "mine\n"


def test_user_empty_file_created_during_run_survives(ctx):
    # An empty file the user creates is not a placeholder, even if empty.
    s = settings(ctx)
    p = ctx.start(["sh", "-c", "echo ready; exec sleep 30"], settings_file=s)
    ctx.wait_output(p, "ready")
    if os.path.lexists(ctx.p(".gitmodules")):
        os.unlink(ctx.p(".gitmodules"))
    ctx.write(".gitmodules", "")
    p.send_signal(signal.SIGTERM)
    ctx.finish(p)
    time.sleep(0.2)
    assert ctx.exists(".gitmodules")



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
