# Filesystem rules: default read-only view, private /tmp, allowWrite/denyWrite, denyRead/allowRead, globs, symlinks, many mounts.
import os
import socket
import subprocess
import time

from conftest import PY

WRITE_ERRORS = ("Read-only file system", "Permission denied")


def assert_write_refused(r):
    assert r.rc != 0, r
    assert any(e in r.err for e in WRITE_ERRORS), r


# --- defaults ----------------------------------------------------------------

def test_reads_allowed_everywhere_by_default(ctx):
    ctx.write("readme.txt", "hello project\n")
    ctx.write(os.path.join(ctx.home, "notes"), "hello home\n")
    r = ctx.sh("cat readme.txt ~/notes /etc/passwd >/dev/null && cat readme.txt ~/notes")
    assert r.rc == 0, r
    assert r.out == "hello project\nhello home\n", r


def test_cwd_not_writable_by_default(ctx):
    ctx.write("existing", "orig\n")
    r = ctx.sh("echo x > newfile")
    assert_write_refused(r)
    assert not ctx.exists("newfile")
    r = ctx.sh("echo x >> existing")
    assert_write_refused(r)
    assert ctx.read("existing") == "orig\n"
    r = ctx.run(["mkdir", "d"])
    assert_write_refused(r)
    r = ctx.run(["rm", "-f", "existing"])
    assert_write_refused(r)
    assert ctx.exists("existing")


def test_home_not_writable_by_default(ctx):
    r = ctx.sh("echo x > ~/newfile")
    assert_write_refused(r)
    assert not os.path.exists(os.path.join(ctx.home, "newfile"))


def test_other_places_not_writable(ctx):
    r = ctx.sh("touch /var/tmp/srt-e2e-should-not-exist")
    assert r.rc != 0, r
    assert not os.path.exists("/var/tmp/srt-e2e-should-not-exist")
    r = ctx.sh("touch /etc/srt-e2e-should-not-exist")
    assert r.rc != 0, r
    assert not os.path.exists("/etc/srt-e2e-should-not-exist")


def test_private_tmp(ctx):
    name = "/tmp/" + ctx.token()
    with open("/tmp/srt-e2e-host-visible-" + ctx.token(), "w") as f:
        host_file = f.name
    try:
        r = ctx.run(["sh", "-c", 'echo inside > "$1" && cat "$1" && ls /tmp', "sh", name])
        assert r.rc == 0, r
        assert r.out.startswith("inside\n"), r
        # What the command writes stays in the sandbox (whether the host's
        # /tmp shows beneath it is test_tmp.py's).
        assert not os.path.exists(name)
    finally:
        os.unlink(host_file)


def test_tmp_is_tmpfs_or_overlay(ctx):
    """The private /tmp: an overlay with the host's /tmp beneath, or an
    empty tmpfs where overlayfs cannot be mounted; never the host's own."""
    r = ctx.run(["sh", "-c", "awk '$2==\"/tmp\"{print $3}' /proc/self/mounts"])
    assert r.rc == 0, r
    types = r.out.split()
    assert types and types[-1] in ("tmpfs", "overlay"), r


def test_no_network_interfaces_but_lo(ctx):
    r = ctx.run(["cat", "/proc/net/dev"])
    assert r.rc == 0, r
    ifaces = [l.split(":")[0].strip() for l in r.out.splitlines()[2:] if ":" in l]
    assert ifaces == ["lo"], r


def test_cannot_reach_host_loopback(ctx):
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.bind(("127.0.0.1", 0))
    srv.listen(5)
    srv.setblocking(False)
    port = srv.getsockname()[1]
    try:
        code = ("import socket,sys\n"
                "s=socket.socket(); s.settimeout(3)\n"
                "try:\n s.connect(('127.0.0.1', int(sys.argv[1]))); print('CONNECTED')\n"
                "except OSError as e: print('FAILED', e)\n")
        r = ctx.py(code, str(port))
        assert "FAILED" in r.out, r
        time.sleep(0.1)
        try:
            c, _ = srv.accept()
            c.close()
            raise AssertionError("the host server got a connection from the sandbox")
        except BlockingIOError:
            pass
    finally:
        srv.close()


def test_cannot_reach_host_loopback_v6(ctx):
    try:
        srv = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        srv.bind(("::1", 0))
    except OSError:
        import pytest
        pytest.skip("no IPv6 loopback on the host")
    srv.listen(5)
    port = srv.getsockname()[1]
    try:
        code = ("import socket,sys\n"
                "s=socket.socket(socket.AF_INET6); s.settimeout(3)\n"
                "try:\n s.connect(('::1', int(sys.argv[1]))); print('CONNECTED')\n"
                "except OSError as e: print('FAILED', e)\n")
        r = ctx.py(code, str(port))
        assert "FAILED" in r.out, r
    finally:
        srv.close()


# --- allowWrite / denyWrite --------------------------------------------------

def test_allow_write_dir(ctx):
    ctx.mkdir("w")
    ctx.write("w/existing", "orig\n")
    r = ctx.sh("echo new > w/f && mkdir w/sub && echo deep > w/sub/g && echo more >> w/existing && rm w/f",
               settings={"filesystem": {"allowWrite": [ctx.p("w")]}})
    assert r.rc == 0, r
    assert ctx.read("w/sub/g") == "deep\n"
    assert ctx.read("w/existing") == "orig\nmore\n"
    assert not ctx.exists("w/f")


def test_allow_write_dir_outside_project(ctx):
    other = ctx.mkdir(os.path.join(ctx.root, "other"))
    r = ctx.run(["sh", "-c", 'echo hi > "$1/f"', "sh", other],
                settings={"filesystem": {"allowWrite": [other]}})
    assert r.rc == 0, r
    assert ctx.read(os.path.join(other, "f")) == "hi\n"


def test_missing_allow_write_folder_is_created_when_its_parent_exists(ctx):
    """~/.cache/tool on a fresh machine: made for the run, so that the
    command can use it; said under --debug. A folder whose parent is
    missing too is not made (and stays unwritable); srt check and srt
    explain make nothing."""
    s = {"filesystem": {"allowWrite": ["./build", "./a/b"]}}
    c = ctx.run(["check"], settings=s)
    assert c.rc == 0 and not ctx.exists("build"), c
    e = ctx.run(["explain", "--write", ctx.p("build/x")], settings=s)
    assert not ctx.exists("build"), e
    r = ctx.sh("echo out > build/x && cat build/x; mkdir -p a/b 2>/dev/null || echo a-refused", settings=s,
               opts=["--debug"])
    assert r.rc == 0 and "out" in r.out and "a-refused" in r.out, r
    assert ctx.read("build/x") == "out\n"
    assert os.path.isdir(ctx.p("build")) and not os.path.islink(ctx.p("build"))
    assert not ctx.exists("a"), r
    assert "created %s (it did not exist)" % ctx.p("build") in r.err, r
    # The next run finds it there and says nothing about it.
    r = ctx.sh("cat build/x", settings=s, opts=["--debug"])
    assert r.rc == 0 and r.out == "out\n" and "created" not in r.err, r


def test_allow_write_single_file(ctx):
    ctx.write("only.txt", "orig\n")
    r = ctx.sh("echo more >> only.txt; echo x > other.txt",
               settings={"filesystem": {"allowWrite": ["only.txt"]}})
    assert ctx.read("only.txt") == "orig\nmore\n", r
    assert not ctx.exists("other.txt"), r


def test_deny_write_inside_allowed(ctx):
    ctx.write("w/locked/f", "orig\n")
    ctx.write("w/lockedfile", "orig\n")
    s = {"filesystem": {"allowWrite": ["w"], "denyWrite": ["w/locked", "w/lockedfile"]}}
    r = ctx.sh("echo x >> w/locked/f", settings=s)
    assert_write_refused(r)
    r = ctx.sh("echo x > w/locked/new", settings=s)
    assert_write_refused(r)
    r = ctx.sh("echo x >> w/lockedfile", settings=s)
    assert_write_refused(r)
    r = ctx.sh("echo x > w/fine", settings=s)
    assert r.rc == 0, r
    assert ctx.read("w/locked/f") == "orig\n"
    assert ctx.read("w/lockedfile") == "orig\n"
    assert not ctx.exists("w/locked/new")


def test_deny_write_nonexistent_path(ctx):
    ctx.mkdir("w")
    s = {"filesystem": {"allowWrite": ["w"], "denyWrite": ["w/later.txt"]}}
    r = ctx.sh("echo x > w/later.txt", settings=s)
    assert r.rc != 0, r
    assert not ctx.exists("w/later.txt"), r


def test_deny_write_cannot_be_renamed_away(ctx):
    ctx.write("w/locked/f", "orig\n")
    s = {"filesystem": {"allowWrite": ["w"], "denyWrite": ["w/locked"]}}
    r = ctx.sh("mv w/locked w/moved", settings=s)
    assert r.rc != 0, r
    assert ctx.read("w/locked/f") == "orig\n"


def test_symlink_out_of_allowed_dir(ctx):
    outside = ctx.mkdir(os.path.join(ctx.root, "outside"))
    ctx.write(os.path.join(outside, "victim"), "orig\n")
    ctx.mkdir("w")
    ctx.symlink(outside, "w/dirlink")
    ctx.symlink(os.path.join(outside, "victim"), "w/filelink")
    s = {"filesystem": {"allowWrite": ["w"]}}
    r = ctx.sh("echo x > w/dirlink/new", settings=s)
    assert r.rc != 0, r
    assert not os.path.exists(os.path.join(outside, "new"))
    r = ctx.sh("echo x >> w/filelink", settings=s)
    assert r.rc != 0, r
    assert ctx.read(os.path.join(outside, "victim")) == "orig\n"


def test_symlink_as_allow_write_entry_judged_where_it_lands(ctx):
    # A link inside the project that points to a directory: allowing the
    # link allows its target, nothing else.
    target = ctx.mkdir(os.path.join(ctx.root, "target"))
    ctx.symlink(target, "link")
    r = ctx.sh("echo x > link/f; echo y > notallowed",
               settings={"filesystem": {"allowWrite": ["link"]}})
    assert not ctx.exists("notallowed"), r


def test_tmp_in_allow_write_is_host_tmp(ctx):
    name = "/tmp/srt-e2e-" + ctx.token()
    try:
        r = ctx.run(["sh", "-c", 'echo hi > "$1"', "sh", name],
                    settings={"filesystem": {"allowWrite": ["/tmp"]}})
        assert r.rc == 0, r
        assert os.path.exists(name)
    finally:
        if os.path.exists(name):
            os.unlink(name)


# --- denyRead / allowRead ----------------------------------------------------

def test_deny_read_file(ctx):
    ctx.write("secret.txt", "TOP-SECRET\n")
    ctx.write("public.txt", "public\n")
    s = {"filesystem": {"denyRead": ["secret.txt"]}}
    r = ctx.run(["cat", "secret.txt"], settings=s)
    assert r.rc != 0, r
    assert "TOP-SECRET" not in r.out + r.err
    r = ctx.run(["cat", "public.txt"], settings=s)
    assert r.rc == 0 and r.out == "public\n", r


def test_deny_read_file_other_ways(ctx):
    ctx.write("secret.txt", "TOP-SECRET\n")
    s = {"filesystem": {"denyRead": [ctx.p("secret.txt")]}}
    r = ctx.sh("grep -r TOP . ; cp secret.txt /tmp/c && cat /tmp/c; "
               "python3 -c 'print(open(\"secret.txt\").read())'", settings=s)
    assert "TOP-SECRET" not in r.out + r.err, r


def test_deny_read_dir_shows_empty_and_refuses_writes(ctx):
    ctx.write("hidden/a", "AAA\n")
    ctx.write("hidden/sub/b", "BBB\n")
    s = {"filesystem": {"denyRead": ["hidden"], "allowWrite": ["."]}}
    r = ctx.run(["ls", "-A", "hidden"], settings=s)
    assert r.out == "", r
    r = ctx.run(["cat", "hidden/a"], settings=s)
    assert r.rc != 0 and "AAA" not in r.out, r
    r = ctx.sh("echo x > hidden/new", settings=s)
    assert r.rc != 0, r
    assert not ctx.exists("hidden/new")
    assert ctx.read("hidden/a") == "AAA\n"


def test_cwd_denied(ctx):
    # Working in a denied folder: srt refuses (125), or the folder is empty.
    ctx.write("secret.txt", "TOP-SECRET\n")
    for denied in (ctx.proj, ctx.root):
        r = ctx.sh("ls -A; cat secret.txt; cat %s/secret.txt" % ctx.proj,
                   settings={"filesystem": {"denyRead": [denied]}})
        assert "TOP-SECRET" not in r.out and "secret.txt" not in r.out, r
        if r.rc == 125:
            assert r.err.strip(), r


def test_deny_read_home_dir(ctx):
    ctx.write(os.path.join(ctx.home, ".ssh/id_rsa"), "PRIVATE\n")
    s = {"filesystem": {"denyRead": ["~/.ssh"]}}
    r = ctx.sh("ls -A ~/.ssh; cat ~/.ssh/id_rsa", settings=s)
    assert "PRIVATE" not in r.out and "id_rsa" not in r.out, r


def test_allow_read_inside_denied(ctx):
    ctx.write("d/priv/x", "PRIVATE\n")
    ctx.write("d/pub/y", "PUBLIC\n")
    ctx.write("d/pub/sec/z", "NESTED-SECRET\n")
    s = {"filesystem": {"denyRead": ["d", "d/pub/sec"], "allowRead": ["d/pub"]}}
    r = ctx.run(["cat", "d/pub/y"], settings=s)
    assert r.rc == 0 and r.out == "PUBLIC\n", r
    r = ctx.run(["cat", "d/priv/x"], settings=s)
    assert r.rc != 0 and "PRIVATE" not in r.out, r
    r = ctx.run(["cat", "d/pub/sec/z"], settings=s)
    assert r.rc != 0 and "NESTED-SECRET" not in r.out, r


def test_deny_read_nonexistent_is_fine(ctx):
    r = ctx.run(["echo", "ok"], settings={"filesystem": {"denyRead": ["no/such/path"]}})
    assert r.rc == 0 and r.out == "ok\n", r


def test_deny_read_missing_path_in_writable_folder(ctx):
    # Not there yet, in a folder the command may write: it can neither
    # create the path nor read it back, and nothing stays behind.
    ctx.mkdir("w")
    s = {"filesystem": {"allowWrite": ["."], "denyRead": ["w/later.key", "new/deep/secret"]}}
    r = ctx.sh("echo TOPSECRET1 > w/later.key; cat w/later.key; "
               "mkdir -p new/deep; echo TOPSECRET2 > new/deep/secret; cat new/deep/secret; "
               "rm -rf w/later.key new; mv w/later.key w/moved; mv w w2; "
               "echo fine > w/other && cat w/other", settings=s)
    assert "TOPSECRET" not in r.out, r
    assert r.out.endswith("fine\n"), r
    assert sorted(os.listdir(ctx.proj)) == ["w"], r
    assert os.listdir(ctx.p("w")) == ["other"], r


def test_deny_read_missing_path_written_by_host_during_run(ctx):
    # srt holds no placeholder there: nothing appears on the host. The
    # command can neither create the path before the host does, nor write,
    # move or remove what the host puts there; the file is the user's
    # afterwards. (That the command can read what the host creates during
    # the run is a documented limit, not asserted either way here.)
    ctx.mkdir("w")
    s = {"filesystem": {"allowWrite": ["w"], "denyRead": ["w/token"]}}
    p = ctx.start(["sh", "-c", "echo planted > w/token; echo ready; read x; "
                   "echo evil >> w/token; echo evil > w/token; mv w/token w/moved; rm -f w/token; "
                   "ln w/token w/hard; echo done"], settings=s, stdin=subprocess.PIPE)
    ctx.wait_output(p, "ready")
    assert os.listdir(ctx.p("w")) == []
    ctx.write("w/token", "HOST-SECRET\n")  # the test user's, 0644: only srt stands in the way
    p.stdin.write(b"go\n")
    p.stdin.close()
    p.stdin = None
    r = ctx.finish(p)
    assert "done" in r.out, r
    assert "Permission denied" in r.err, r
    assert os.listdir(ctx.p("w")) == ["token"], r
    assert ctx.read("w/token") == "HOST-SECRET\n"


def test_deny_read_root_is_refused(ctx):
    # "/" however written: as "/", as "/..", through a link to it.
    ctx.write("sec/k", "TOPSECRET\n")
    ctx.symlink("/", "rootlink")
    for entry in ("/", "/..", "./rootlink", "./root*"):
        text = '{"filesystem": {"allowWrite": ["."], "denyRead": ["./sec", "%s"]}}' % entry
        settings = ctx.settings(text)
        r = ctx.sh("touch ran; cat sec/k", settings_file=settings)
        assert r.rc == 125, r
        assert "TOPSECRET" not in r.out, r
        assert "%s:1:%d: filesystem.denyRead[1]: denyRead '%s'" % (
            settings, text.index('"%s"' % entry) + 1, entry) in r.err, r
        assert "would hide the whole file system" in r.err, r
        assert not ctx.exists("ran")


# --- globs -------------------------------------------------------------------

def test_deny_read_globs(ctx):
    ctx.write("a.secret", "S1\n")
    ctx.write("sub/deeper/b.secret", "S2\n")
    ctx.write("keys/x.key", "K1\n")
    ctx.write("a.txt", "plain\n")
    ctx.write("keys/x.pub", "pub\n")
    s = {"filesystem": {"denyRead": ["**/*.secret", "keys/*.key"]}}
    r = ctx.sh("cat a.secret; cat sub/deeper/b.secret; cat keys/x.key; cat a.txt keys/x.pub", settings=s)
    for secret in ("S1", "S2", "K1"):
        assert secret not in r.out, r
    assert "plain\npub\n" in r.out, r


def test_deny_read_glob_with_question_and_class(ctx):
    ctx.write("f1.log", "L1\n")
    ctx.write("f2.log", "L2\n")
    ctx.write("f3.log", "L3\n")
    ctx.write("fa.log", "LA\n")
    s = {"filesystem": {"denyRead": ["f[12].log", "f?.log"]}}
    r = ctx.sh("cat f1.log f2.log f3.log fa.log", settings=s)
    for x in ("L1", "L2", "L3", "LA"):
        assert x not in r.out, r


def test_deny_write_globs(ctx):
    ctx.write("x.lock", "orig\n")
    ctx.write("sub/y.lock", "orig\n")
    ctx.write("z.txt", "orig\n")
    s = {"filesystem": {"allowWrite": ["."], "denyWrite": ["**/*.lock"]}}
    r = ctx.sh("echo a >> x.lock; echo a >> sub/y.lock; echo a >> z.txt", settings=s)
    assert ctx.read("x.lock") == "orig\n", r
    assert ctx.read("sub/y.lock") == "orig\n", r
    assert ctx.read("z.txt") == "orig\na\n", r


def test_allow_read_glob(ctx):
    ctx.write("d/a.txt", "A\n")
    ctx.write("d/b.bin", "B\n")
    s = {"filesystem": {"denyRead": ["d"], "allowRead": ["d/*.txt"]}}
    r = ctx.sh("cat d/a.txt; cat d/b.bin", settings=s)
    assert "A\n" in r.out and "B\n" not in r.out, r


# --- many rules --------------------------------------------------------------

def test_thousands_of_deny_read_files(ctx):
    n = 3000
    d = ctx.mkdir("many")
    for i in range(n):
        p = os.path.join(d, "f%04d" % i)
        with open(p, "w") as f:
            f.write("SECRET%d\n" % i)
        os.chown(p, ctx.uid, ctx.uid)
    s = {"filesystem": {"denyRead": ["many/f%04d" % i for i in range(n)]}}
    r = ctx.sh("cat many/f0000 many/f1500 many/f2999; echo done", settings=s, timeout=60)
    assert "done" in r.out, r
    assert "SECRET" not in r.out, r
    assert "too long" not in r.err.lower(), r


def test_thousands_of_files_by_glob(ctx):
    d = ctx.mkdir("many")
    for i in range(3000):
        p = os.path.join(d, "f%04d.key" % i)
        with open(p, "w") as f:
            f.write("SECRET%d\n" % i)
    r = ctx.sh("cat many/f0000.key many/f2999.key; echo done",
               settings={"filesystem": {"denyRead": ["many/*.key"]}}, timeout=60)
    assert "done" in r.out, r
    assert "SECRET" not in r.out, r
