# Process isolation: capabilities, no_new_privs, namespaces, srt-init as PID 1, orphan reaping.
import os
import time
import socket

import pytest

NAMESPACES = ["user", "pid", "net", "ipc", "uts", "cgroup", "mnt"]


def test_no_capabilities_and_no_new_privs(ctx):
    r = ctx.run(["cat", "/proc/self/status"])
    assert r.rc == 0, r
    fields = dict(l.split(":", 1) for l in r.out.splitlines() if ":" in l)
    for cap in ("CapEff", "CapPrm", "CapInh", "CapAmb"):
        assert fields[cap].strip() == "0000000000000000", (cap, r)
    assert fields["NoNewPrivs"].strip() == "1", r


def test_own_namespaces(ctx):
    r = ctx.run(["sh", "-c", 'for n in "$@"; do readlink /proc/self/ns/$n; done', "sh"] + NAMESPACES)
    assert r.rc == 0, r
    inside = r.out.split()
    assert len(inside) == len(NAMESPACES), r
    for name, ns in zip(NAMESPACES, inside):
        host = os.readlink("/proc/self/ns/" + name)
        assert ns != host, (name, ns, host)


def test_pid_namespace_and_init(ctx):
    r = ctx.sh("echo $$; cat /proc/1/comm; tr '\\0' ' ' < /proc/1/cmdline; echo; ls /proc | grep -c '^[0-9]'")
    assert r.rc == 0, r
    lines = r.out.splitlines()
    assert int(lines[0]) < 10, r
    assert "srt-init" in lines[1] or "srt-init" in lines[2], r
    assert int(lines[3]) < 10, r


def test_host_processes_invisible(ctx):
    r = ctx.sh("ps -e -o comm= 2>/dev/null || ls /proc")
    assert r.rc == 0, r
    assert "pytest" not in r.out and "python3 -m pytest" not in r.out, r
    r = ctx.run(["cat", "/proc/%d/cmdline" % os.getpid()])
    assert "pytest" not in r.out, r


def test_orphans_reaped(ctx):
    # A daemonized grandchild that outlives the command: srt still returns,
    # and nothing is left behind.
    t = ctx.token()
    r = ctx.sh("(setsid sh -c 'exec -a %s sleep 30' >/dev/null 2>&1 &) ; sleep 0.2; echo started" % t, timeout=20)
    assert r.rc == 0 and "started" in r.out, r
    from conftest import procs_matching, wait_until
    assert wait_until(lambda: not procs_matching(t), 1.0), "orphan left running"


def test_nothing_runs_once_srt_returned(ctx):
    # A hostile command leaves writers behind (one in a new session) that
    # keep appending through descriptors they already hold. The moment
    # srt returns they are gone: the file no longer grows and no process
    # of the sandbox is left, with no grace period.
    t = ctx.token()
    s = {"filesystem": {"allowWrite": ["."]}}
    script = ("for i in 1 2 3; do (exec -a %s sh -c 'exec 3>>grow; while :; do echo x >&3; done' &) ; done; "
              "(setsid sh -c 'exec 3>>grow; while :; do echo y >&3; done' &) ; "
              "sleep 0.3; echo started" % t)
    r = ctx.sh(script, settings=s, timeout=20)
    assert r.rc == 0 and "started" in r.out, r
    from conftest import procs_matching
    assert not procs_matching(t), "a writer outlived srt"
    p = os.path.join(ctx.proj, "grow")
    size = os.path.getsize(p)
    assert size > 0, "the writers never wrote"
    time.sleep(0.3)
    assert os.path.getsize(p) == size, "the file still grew after srt returned"


def test_zombies_do_not_accumulate(ctx):
    code = ("import os,time\n"
            "for i in range(20):\n"
            "  if os.fork()==0:\n"
            "    if os.fork()==0: os._exit(0)\n"
            "    os._exit(0)\n"
            "  os.wait()\n"
            "time.sleep(0.3)\n"
            "z=[p for p in os.listdir('/proc') if p.isdigit() and open('/proc/%s/stat'%p).read().rsplit(')',1)[1].split()[0]=='Z']\n"
            "print('zombies', len(z))\n")
    r = ctx.py(code)
    assert r.rc == 0, r
    assert r.out.strip() == "zombies 0", r


def test_hostname_namespace(ctx):
    host = socket.gethostname()
    ctx.sh("hostname srt-e2e-changed 2>/dev/null; true")
    assert socket.gethostname() == host


def test_only_loopback(ctx):
    r = ctx.py("import socket; print([n for i,n in socket.if_nameindex()])")
    assert r.rc == 0, r
    assert r.out.strip() == "['lo']", r


def test_loopback_works_inside(ctx):
    code = ("import socket\n"
            "s=socket.socket(); s.bind(('127.0.0.1',0)); s.listen()\n"
            "c=socket.create_connection(s.getsockname()); a,_=s.accept()\n"
            "c.sendall(b'ping'); print(a.recv(4).decode())\n")
    r = ctx.py(code)
    assert r.rc == 0 and r.out.strip() == "ping", r


def test_init_not_dumpable_or_traceable(ctx):
    r = ctx.sh("cat /proc/1/environ >/dev/null 2>&1 && echo READABLE || echo refused")
    assert "refused" in r.out, r


def test_works_with_closed_stdin(ctx):
    import subprocess
    argv = ctx.argv(["echo", "ok"])
    cp = subprocess.run(argv, cwd=ctx.proj, env=ctx.env(), stdin=subprocess.DEVNULL,
                        capture_output=True, timeout=30)
    assert cp.returncode == 0 and cp.stdout == b"ok\n", cp


def test_inherited_descriptors_do_not_reach_sandbox(ctx):
    # Only stdin, stdout and stderr pass through: a write descriptor to a
    # host file that the caller happened to leave open must not let the
    # sandbox write outside its allowed paths.
    import subprocess
    victim = ctx.write(os.path.join(ctx.root, "victim"), "orig\n")
    fd = os.open(victim, os.O_WRONLY | os.O_APPEND)
    saved = None
    try:
        try:
            saved = os.dup(9)
        except OSError:
            pass
        os.dup2(fd, 9)
        argv = ctx.argv(["sh", "-c", "echo pwned >&9; ls /proc/self/fd"])
        cp = subprocess.run(argv, cwd=ctx.proj, env=ctx.env(), stdin=subprocess.DEVNULL,
                            capture_output=True, timeout=30, pass_fds=(9,))
    finally:
        os.close(fd)
        if saved is not None:
            os.dup2(saved, 9)
            os.close(saved)
        else:
            os.close(9)
    assert ctx.read(victim) == "orig\n", cp
    fds = sorted(int(x) for x in cp.stdout.split())
    assert 9 not in fds, cp
