# Signals sent to srt reach the command; srt exits with the command's status; SIGKILL of srt ends the sandbox.
import os
import signal
import subprocess
import time

import pytest

from conftest import PY, procs_matching, wait_until

FORWARDED = [signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT]

TRAP = r'''
import os, signal, sys, time
def got(n, f):
    # os.write, not print: the handler may run while print() still holds
    # stdout's buffer (right after "ready"), and print would then fail.
    os.write(1, ("got " + signal.Signals(n).name + "\n").encode())
    os._exit(0)
signal.signal(signal.%s, got)
print("ready", flush=True)
# Short sleeps, not one long one: CPython runs a handler only between
# bytecodes, so a signal taken just before a long sleep() begins would wait
# for the whole sleep.
end = time.monotonic() + 30
while time.monotonic() < end:
    time.sleep(0.05)
print("timeout", flush=True)
sys.exit(3)
'''


@pytest.mark.parametrize("sig", FORWARDED, ids=lambda s: s.name)
def test_signal_reaches_command_that_handles_it(ctx, sig):
    p = ctx.start([PY, "-c", TRAP % sig.name])
    ctx.wait_output(p, "ready")
    p.send_signal(sig)
    r = ctx.finish(p)
    assert "got " + sig.name in r.out, r
    assert r.rc == 0, r


@pytest.mark.parametrize("sig", FORWARDED, ids=lambda s: s.name)
def test_unhandled_signal_gives_128_plus_n(ctx, sig):
    p = ctx.start(["sh", "-c", "echo ready; exec sleep 30"])
    ctx.wait_output(p, "ready")
    t0 = time.monotonic()
    p.send_signal(sig)
    r = ctx.finish(p)
    assert r.rc == 128 + sig, r
    assert time.monotonic() - t0 < 5, r


def test_sigterm_to_shell_string(ctx):
    p = ctx.start(["-c", "trap 'echo trapped; exit 0' TERM; echo ready; while :; do sleep 0.05; done"])
    ctx.wait_output(p, "ready")
    p.send_signal(signal.SIGTERM)
    r = ctx.finish(p)
    assert "trapped" in r.out, r
    assert r.rc == 0, r


def test_handled_signal_then_own_status(ctx):
    code = TRAP.replace("os._exit(0)", "os._exit(42)", 1) % "SIGTERM"
    p = ctx.start([PY, "-c", code])
    ctx.wait_output(p, "ready")
    p.send_signal(signal.SIGTERM)
    r = ctx.finish(p)
    assert r.rc == 42, r


def test_sigkill_of_srt_ends_sandbox(ctx):
    t = ctx.token()
    script = ("sh -c 'exec -a %s-child sleep 1000' & "
              "(exec -a %s-grandchild sleep 1000) & "
              "echo ready; exec -a %s-main sleep 1000") % (t, t, t)
    p = ctx.start(["bash", "-c", script])
    ctx.wait_output(p, "ready")
    assert wait_until(lambda: len(procs_matching(t + "-")) >= 3, 3), procs_matching(t)
    p.kill()
    p.wait()
    t0 = time.monotonic()
    left = wait_until(lambda: not procs_matching(t), 1.0)
    assert left, ("still running %.1fs after SIGKILL of srt" % (time.monotonic() - t0),
                  [open("/proc/%d/cmdline" % x, "rb").read() for x in procs_matching(t)])


def test_sigkill_of_srt_ends_bwrap(ctx):
    t = ctx.token()
    p = ctx.start(["bash", "-c", "echo ready; exec -a %s sleep 1000" % t])
    ctx.wait_output(p, "ready")
    kids = [int(x) for x in open("/proc/%d/task/%d/children" % (p.pid, p.pid)).read().split()]
    assert kids, "srt has no child process"
    p.kill()
    p.wait()

    def gone():
        return all(not os.path.exists("/proc/%d" % k) or
                   open("/proc/%d/stat" % k).read().rsplit(")", 1)[1].split()[0] == "Z"
                   for k in kids)
    assert wait_until(gone, 1.0), "srt's children survive it"
    assert wait_until(lambda: not procs_matching(t), 1.0)

