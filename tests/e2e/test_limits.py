# The descriptor limit: at any RLIMIT_NOFILE srt runs the command, or says before running anything that the limit is too low and what to raise it to.
import re
import subprocess

import pytest

import netutil
from conftest import Result
from netutil import need

# Every limit from 20 to 72 (below 64 srt once moved descriptors out of
# reach), a few far lower ones (srt refuses them before it makes its event
# loop), and two ordinary ones.
LIMITS = [4, 6, 8, 12, 16] + list(range(20, 73)) + [100, 128]

TOO_LOW = re.compile(r"^srt: the open-file limit \(RLIMIT_NOFILE\) is (\d+)(?: \(hard limit (\d+)\))?; "
                     r"srt needs at least (\d+): raise it \(ulimit (-S?n) (\d+)\)$")

# ok only with srt's connect helper in place: srt-init opens it while it
# holds every bind source, and skips it when no descriptor is left.
SCRIPT = "test -x /dev/.srt-connect && echo ok; ulimit -Sn; ulimit -Hn; exit 7"

VARIANTS = {
    "default": None,
    # Placeholders and binds: more descriptors in srt-init and the guardian.
    "writable": {"filesystem": {"allowWrite": ["."]}},
    # Two more listeners (127.0.0.1 and ::1) for a host loopback service.
    "loopback": {"network": {"allowedDomains": ["127.0.0.1:40009"]}},
}


def run_limited(ctx, soft, hard, args, settings=None, settings_file=None):
    need("prlimit")
    argv = ctx.argv(args, settings=settings, settings_file=settings_file)
    i = argv.index(ctx.srt)
    argv[i:i] = ["prlimit", "--nofile=%d:%d" % (soft, hard)]
    try:
        cp = subprocess.run(argv, cwd=ctx.proj, env=ctx.env(), stdin=subprocess.DEVNULL,
                            capture_output=True, timeout=20)
    except subprocess.TimeoutExpired as e:
        pytest.fail("srt under prlimit --nofile=%d:%d did not end: %r\nstdout %r\nstderr %r" % (
            soft, hard, argv, e.stdout, e.stderr))
    return Result(argv, cp.returncode, cp.stdout, cp.stderr)


def refused(r, soft, hard, only_soft=False):
    """The number a refusal asks for (None when the message names the limit
    but no number: an earlier step ran out of descriptors). Fails on
    anything but a plain refusal that names the limit; only_soft: one that
    asks for a higher soft limit alone."""
    assert r.rc == 125, r
    assert r.out == "", r  # nothing ran
    lines = r.err.strip().splitlines()
    assert len(lines) == 1, r
    m = TOO_LOW.match(lines[0])
    if not m:
        assert "RLIMIT_NOFILE" in lines[0] and ("is %d" % soft) in lines[0], r
        return None
    assert int(m.group(1)) == soft, r
    assert m.group(2) is None if soft == hard else int(m.group(2)) == hard, r
    needed = int(m.group(3))
    assert int(m.group(5)) == needed, r
    assert m.group(4) == ("-Sn" if only_soft else "-n"), r
    assert needed > soft, r
    return needed


def ran(r, soft, hard):
    assert r.rc == 7, r
    # The command keeps the limit srt was started with.
    assert r.out == "ok\n%d\n%d\n" % (soft, hard), r
    assert "RLIMIT_NOFILE" not in r.err, r


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_every_limit_runs_the_command_or_says_which_limit(ctx, variant):
    settings_file = ctx.settings(VARIANTS[variant]) if VARIANTS[variant] else None
    worked, asked = [], set()
    for n in LIMITS:
        r = run_limited(ctx, n, n, ["-c", SCRIPT], settings_file=settings_file)
        if r.rc == 7:
            ran(r, n, n)
            worked.append(n)
        else:
            needed = refused(r, n, n)
            assert not worked, "refused %d after %r worked: %r" % (n, worked, r)
            if needed is not None:
                asked.add(needed)
    # One number asked for, and it is where srt starts to work.
    assert len(asked) == 1, (asked, worked)
    (needed,) = asked
    assert worked == [n for n in LIMITS if n >= needed], (needed, worked)
    if needed not in LIMITS:
        ran(run_limited(ctx, needed, needed, ["-c", SCRIPT], settings_file=settings_file), needed, needed)


def test_soft_limit_below_a_high_hard_one(ctx):
    # srt itself runs at the hard limit: the soft one need only be enough
    # for bwrap and srt-init to start, and the command keeps it.
    both = refused(run_limited(ctx, 4, 4, ["-c", SCRIPT]), 4, 4)
    soft = refused(run_limited(ctx, 4, 4096, ["-c", SCRIPT]), 4, 4096, only_soft=True)
    assert soft < both
    ran(run_limited(ctx, soft, 4096, ["-c", SCRIPT]), soft, 4096)
    assert refused(run_limited(ctx, soft - 1, 4096, ["-c", SCRIPT]), soft - 1, 4096, only_soft=True) == soft
    for n in (20, 64):
        ran(run_limited(ctx, n, 4096, ["-c", SCRIPT]), n, 4096)
    # A hard limit too low asks for both.
    r = run_limited(ctx, soft, both - 1, ["-c", SCRIPT])
    assert refused(r, soft, both - 1) == both


@pytest.fixture
def net(ctx):
    n = netutil.Net(ctx)
    yield n
    n.close()


GET = "P = int(sys.argv[1])\nemit([get('good.test', P), get('good.test', P)])"


def test_proxy_works_at_the_lowest_limit(net):
    o = net.origin("good")
    p = o.port
    settings = {"network": {"allowedDomains": ["good.test", "127.0.0.1:%d" % p]}}
    need("prlimit")
    r = net.run(["true"], settings=settings, wrapper=["prlimit", "--nofile=12:12"])
    needed = refused(r, 12, 12)
    wrapper = ["prlimit", "--nofile=%d:%d" % (needed, needed)]
    res, r = net.py_json(GET, p, settings=settings, wrapper=wrapper)
    for resp in res:
        assert resp.get("status") == 200 and resp["body"] == "hello from good\n", (res, r)
    assert r.rc == 0, r
    assert len(o.requests) == 2, o.requests
    r = net.run(["true"], settings=settings, wrapper=["prlimit", "--nofile=%d:%d" % (needed - 1, needed - 1)])
    assert refused(r, needed - 1, needed - 1) == needed
