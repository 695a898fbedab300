# The seccomp filter as a program inside sees it: refused sockets, namespaces, mounts, io_uring, clone3.
import errno
import platform

import pytest

pytestmark = pytest.mark.skipif(platform.machine() != "x86_64", reason="syscall numbers are x86_64")

# Prints "ok" or the errno name of one attempt.
HEAD = r'''
import ctypes, errno, os, socket, sys
libc = ctypes.CDLL(None, use_errno=True)
def out(f):
    try:
        f()
        print("ok")
    except OSError as e:
        print(errno.errorcode.get(e.errno, e.errno))
def sysc(nr, *args):
    def f():
        r = libc.syscall(nr, *args)
        if r < 0:
            e = ctypes.get_errno()
            raise OSError(e, os.strerror(e))
        if nr == 425: os.close(r)
    return f
'''


def attempt(ctx, body, settings=None):
    r = ctx.py(HEAD + body, settings=settings)
    assert r.rc == 0, r
    return r.out.strip(), r


def test_unix_socket_creation_allowed(ctx):
    # What a unix socket may reach is judged at connect() and send (the
    # connect broker, test_unix_sockets.py); making one is no harm.
    for kind in ("SOCK_STREAM", "SOCK_DGRAM", "SOCK_SEQPACKET"):
        res, r = attempt(ctx, "out(lambda: socket.socket(socket.AF_UNIX, socket.%s).close())" % kind)
        assert res == "ok", (kind, r)


def test_unix_socket_allowed_by_setting(ctx):
    res, r = attempt(ctx, "out(lambda: socket.socket(socket.AF_UNIX).close())",
                     settings={"network": {"allowAllUnixSockets": True}})
    assert res == "ok", r


def test_socketpair_works(ctx):
    res, r = attempt(ctx, "def f():\n a,b=socket.socketpair(); a.send(b'x'); assert b.recv(1)==b'x'\nout(f)")
    assert res == "ok", r


def test_inet_socket_creation_still_works(ctx):
    res, r = attempt(ctx, "out(lambda: socket.socket(socket.AF_INET).close())")
    assert res == "ok", r


def test_vsock_refused(ctx):
    res, r = attempt(ctx, "out(lambda: socket.socket(40, socket.SOCK_STREAM).close())")
    assert res != "ok", r
    assert res == "EPERM", r


def test_user_namespace_refused(ctx):
    # unshare(2) is syscall 272 on x86_64 (os.unshare needs Python 3.12).
    res, r = attempt(ctx, "out(sysc(272, 0x10000000))")
    assert res == "EPERM", r
    r = ctx.run(["unshare", "-U", "true"])
    assert r.rc != 0, r


def test_mount_namespace_refused(ctx):
    res, r = attempt(ctx, "out(sysc(272, 0x00020000))")
    assert res == "EPERM", r


def test_clone_with_namespace_flag_refused(ctx):
    # clone(CLONE_NEWUSER|SIGCHLD) as a raw syscall (56).
    body = ("def f():\n"
            " pid = libc.syscall(56, 0x10000000 | 17, 0, 0, 0, 0)\n"
            " if pid == 0: os._exit(0)\n"
            " if pid < 0:\n"
            "  e = ctypes.get_errno(); raise OSError(e, os.strerror(e))\n"
            " os.waitpid(pid, 0)\n"
            "out(f)")
    res, r = attempt(ctx, body)
    assert res == "EPERM", r


def test_nested_user_namespace_allowed_by_setting(ctx):
    res, r = attempt(ctx, "out(sysc(272, 0x10000000))",
                     settings={"allowNestedUserNamespaces": True})
    assert res == "ok", r


def test_setns_refused(ctx):
    body = "fd = os.open('/proc/self/ns/net', os.O_RDONLY)\nout(sysc(308, fd, 0))"
    res, r = attempt(ctx, body)
    assert res == "EPERM", r


@pytest.mark.parametrize("name,body", [
    ("mount", "out(sysc(165, b'none', b'/tmp', b'tmpfs', 0, None))"),
    ("umount2", "out(sysc(166, b'/tmp', 0))"),
    ("pivot_root", "out(sysc(155, b'/tmp', b'/tmp'))"),
    ("open_tree", "out(sysc(428, -100, b'/tmp', 0))"),
    ("move_mount", "out(sysc(429, -100, b'/tmp', -100, b'/tmp', 0))"),
    ("fsopen", "out(sysc(430, b'tmpfs', 0))"),
    ("fsmount", "out(sysc(432, 0, 0, 0))"),
    ("fsconfig", "out(sysc(431, 0, 0, None, None, 0))"),
])
def test_mount_calls_refused(ctx, name, body):
    res, r = attempt(ctx, body)
    assert res == "EPERM", (name, r)


def test_io_uring_refused(ctx):
    body = "p = ctypes.create_string_buffer(120)\nout(sysc(425, 4, p))\nout(sysc(426, 0, 0, 0, 0, None, 0))\nout(sysc(427, 0, 0, None, 0))"
    res, r = attempt(ctx, body)
    assert res.split() == ["EPERM", "EPERM", "EPERM"], r


def test_clone3_is_enosys(ctx):
    res, r = attempt(ctx, "out(sysc(435, None, 0))")
    assert res == "ENOSYS", r


def test_threads_and_fork_still_work(ctx):
    body = ("import threading, subprocess\n"
            "t = threading.Thread(target=lambda: None); t.start(); t.join()\n"
            "print(subprocess.run(['echo', 'forked'], capture_output=True, text=True).stdout.strip())")
    r = ctx.py(HEAD + body)
    assert r.rc == 0 and r.out.strip() == "forked", r


def test_tiocsti_refused_without_tty(ctx):
    # Even on a non-terminal fd the ioctl is refused before the driver sees it.
    body = "import fcntl, termios\nout(lambda: fcntl.ioctl(0, termios.TIOCSTI, b'x'))"
    res, r = attempt(ctx, body)
    assert res == "EPERM", r


def test_weaker_nested_sandbox_warns(ctx):
    r = ctx.run(["true"], settings={"enableWeakerNestedSandbox": True})
    assert r.rc == 0, r
    assert "proc" in r.err.lower(), r
    assert r.err.strip(), r
