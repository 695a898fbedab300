# The private /tmp: the host's /tmp read-only beneath it, writes kept in the sandbox, every rule still applied.
import os
import re
import shutil
import socket

import pytest

from conftest import PY

NOTE = re.compile(r"srt: the command changed (\d+) files? of the host's /tmp inside its private /tmp "
                  r"\(changes are not kept\): (.*)")


class HostTmp:
    """Files and folders this test makes in the host's /tmp (unique names,
    owned by the test user unless said otherwise), removed at the end."""

    def __init__(self, ctx):
        self.ctx = ctx
        self.base = "/tmp/srt-e2e-tmp-" + ctx.token()
        self.made = []

    def path(self, name):
        return self.base + "-" + name

    def write(self, name, data, mode=0o644, owner=None):
        p = self.path(name)
        self.made.append(p)
        with open(p, "w") as f:
            f.write(data)
        os.chmod(p, mode)
        uid = self.ctx.uid if owner is None else owner
        os.lchown(p, uid, uid)
        return p

    def mkdir(self, name, mode=0o755, owner=None):
        p = self.path(name)
        self.made.append(p)
        os.mkdir(p)
        os.chmod(p, mode)
        uid = self.ctx.uid if owner is None else owner
        os.lchown(p, uid, uid)
        return p

    def note(self, p):
        """A path the sandbox may make on the host (allowWrite): removed too."""
        self.made.append(p)
        return p

    def cleanup(self):
        for p in reversed(self.made):
            if os.path.isdir(p) and not os.path.islink(p):
                shutil.rmtree(p, ignore_errors=True)
            elif os.path.lexists(p):
                os.unlink(p)


@pytest.fixture
def host_tmp(ctx):
    h = HostTmp(ctx)
    yield h
    h.cleanup()


_overlay = {}


def overlay_active(ctx):
    """Is the private /tmp an overlay for this user here? srt falls back to
    an empty tmpfs where overlayfs cannot be mounted (srt run by root while
    bwrap gives srt-init no CAP_DAC_OVERRIDE, an old kernel)."""
    if ctx.user not in _overlay:
        r = ctx.sh("awk '$2==\"/tmp\"{print $3}' /proc/self/mounts")
        assert r.rc == 0, r
        _overlay[ctx.user] = r.out.split()[-1:] == ["overlay"]
    return _overlay[ctx.user]


def kernel_at_least(major, minor):
    rel = os.uname().release.split(".")
    return (int(rel[0]), int(re.match(r"\d+", rel[1]).group())) >= (major, minor)


def need_overlay(ctx):
    """An ordinary user's private /tmp is an overlay from Linux 5.11 on;
    root's only when bwrap gives srt-init CAP_DAC_OVERRIDE."""
    if overlay_active(ctx):
        return
    r = ctx.run(["true"], opts=["--debug"])
    why = " ".join(l for l in r.err.splitlines() if "private /tmp" in l)
    if ctx.uid != 0 and kernel_at_least(5, 11):
        pytest.fail("no overlay for an ordinary user on Linux %s: %s" % (os.uname().release, why))
    pytest.skip("the private /tmp fell back to an empty tmpfs here: %s" % why)


# --- what the host's /tmp shows ----------------------------------------------

def test_private_tmp_is_an_overlay(ctx):
    need_overlay(ctx)
    r = ctx.sh("awk '$2==\"/tmp\"{print $4}' /proc/self/mounts")
    opts = r.out.strip().split(",")
    assert "userxattr" in opts and "redirect_dir=nofollow" in opts, r
    assert "nosuid" in opts and "nodev" in opts, r


def test_host_file_readable_inside(ctx, host_tmp):
    need_overlay(ctx)
    f = host_tmp.write("readme", "from the host\n")
    d = host_tmp.mkdir("proj")
    with open(os.path.join(d, "lib.txt"), "w") as fh:
        fh.write("sibling\n")
    os.lchown(os.path.join(d, "lib.txt"), ctx.uid, ctx.uid)
    r = ctx.run(["sh", "-c", 'cat "$1" && cat "$2"/lib.txt && ls /tmp', "sh", f, d])
    assert r.rc == 0, r
    assert r.out.startswith("from the host\nsibling\n"), r
    assert os.path.basename(f) in r.out, r
    # A project under /tmp reading its siblings, started from inside it.
    r = ctx.run(["cat", "../" + os.path.basename(f)], cwd=d)
    assert r.rc == 0 and r.out == "from the host\n", r


def test_writing_a_host_file_changes_nothing_on_the_host(ctx, host_tmp):
    f = host_tmp.write("data", "host\n")
    r = ctx.run(["sh", "-c", 'echo sandbox >> "$1" && cat "$1"', "sh", f])
    assert r.rc == 0, r
    with open(f) as fh:
        assert fh.read() == "host\n"
    if overlay_active(ctx):
        assert r.out == "host\nsandbox\n", r
        m = NOTE.search(r.err)
        assert m and m.group(1) == "1" and m.group(2) == f, r
        # Read again: nothing was kept.
        r = ctx.run(["cat", f])
        assert r.rc == 0 and r.out == "host\n", r
        assert "changed" not in r.err, r
        # --quiet: not a word.
        r = ctx.run(["-q", "sh", "-c", 'echo sandbox >> "$1"', "sh", f])
        assert r.rc == 0 and r.err == "", r


def test_new_file_inside_does_not_appear_on_host(ctx, host_tmp):
    name = host_tmp.note(host_tmp.path("new"))
    d = host_tmp.mkdir("dir")
    r = ctx.run(["sh", "-c", 'echo x > "$1" && mkdir -p "$2" && echo y > "$2"/inner && mkdir "$1.d" && cat "$1"',
                 "sh", name, d])
    assert r.rc == 0, r
    assert r.out == "x\n", r
    assert not os.path.lexists(name)
    assert not os.path.lexists(name + ".d")
    assert os.listdir(d) == []
    # A new file is the command's own: no note about the host's files.
    assert "changed" not in r.err, r


def test_deleting_a_host_file_inside_leaves_it_on_host(ctx, host_tmp):
    f = host_tmp.write("del", "keep me\n")
    d = host_tmp.mkdir("deldir")
    with open(os.path.join(d, "x"), "w") as fh:
        fh.write("x\n")
    os.lchown(os.path.join(d, "x"), ctx.uid, ctx.uid)
    r = ctx.run(["sh", "-c", 'rm -f "$1"; rm -rf "$2"; test ! -e "$1" && test ! -e "$2" && echo gone',
                 "sh", f, d])
    assert os.path.exists(f) and open(f).read() == "keep me\n"
    assert os.path.exists(os.path.join(d, "x"))
    if overlay_active(ctx):
        assert r.rc == 0 and r.out == "gone\n", r
        m = NOTE.search(r.err)
        assert m and m.group(1) == "2", r
        assert sorted(m.group(2).split(", ")) == sorted([f, d]), r


# --- rules inside the private /tmp -------------------------------------------

def test_deny_read_under_tmp_stays_hidden(ctx, host_tmp):
    f = host_tmp.write("secret", "TOP-SECRET-FILE\n")
    d = host_tmp.mkdir("secretdir")
    with open(os.path.join(d, "key"), "w") as fh:
        fh.write("TOP-SECRET-DIR\n")
    os.lchown(os.path.join(d, "key"), ctx.uid, ctx.uid)
    other = host_tmp.write("public", "public\n")
    s = {"filesystem": {"denyRead": [f, d]}}
    r = ctx.run(["sh", "-c", 'cat "$1"; cat "$2"/key; ls "$2"; cat "$3"', "sh", f, d, other], settings=s)
    assert "TOP-SECRET" not in r.out + r.err, r
    if overlay_active(ctx):
        assert r.out.endswith("public\n"), r
    # Not by moving it away or copying it either.
    r = ctx.run(["sh", "-c", 'mv "$1" /tmp/moved; cp -r "$2" /tmp/copied; cat /tmp/moved /tmp/copied/key "$1"',
                 "sh", f, d], settings=s)
    assert "TOP-SECRET" not in r.out + r.err, r
    assert open(f).read() == "TOP-SECRET-FILE\n"


def test_other_users_private_file_stays_unreadable(ctx, host_tmp):
    if ctx.uid == 0:
        pytest.skip("root owns the file")
    need_overlay(ctx)
    f = host_tmp.write("rootonly", "ROOT-ONLY\n", mode=0o600, owner=0)
    g = host_tmp.write("rootread", "readable\n", mode=0o644, owner=0)
    r = ctx.run(["sh", "-c", 'cat "$1"; cp "$1" /tmp/c; cat /tmp/c; ln "$1" /tmp/l; cat /tmp/l; ls -l "$1"',
                 "sh", f])
    assert "ROOT-ONLY" not in r.out + r.err, r
    assert "Permission denied" in r.err, r
    # Readable, but the permission bits refuse writing it, in the private
    # /tmp as on the host.
    r = ctx.run(["sh", "-c", 'cat "$1" && echo more >> "$1"', "sh", g])
    assert r.out == "readable\n", r
    assert r.rc != 0 and "Permission denied" in r.err, r
    assert open(f).read() == "ROOT-ONLY\n" and open(g).read() == "readable\n"


def test_allow_write_of_a_folder_under_tmp_writes_through(ctx, host_tmp):
    d = host_tmp.mkdir("project")
    with open(os.path.join(d, "old"), "w") as fh:
        fh.write("old\n")
    os.lchown(os.path.join(d, "old"), ctx.uid, ctx.uid)
    elsewhere = host_tmp.note(host_tmp.path("elsewhere"))
    r = ctx.run(["sh", "-c", 'echo new > "$1"/new && echo more >> "$1"/old && echo x > "$2"', "sh", d, elsewhere],
                settings={"filesystem": {"allowWrite": [d]}})
    assert r.rc == 0, r
    assert open(os.path.join(d, "new")).read() == "new\n"
    assert open(os.path.join(d, "old")).read() == "old\nmore\n"
    assert not os.path.lexists(elsewhere)
    assert "changed" not in r.err, r
    # Started inside it, too.
    r = ctx.run(["sh", "-c", "echo here > here"], cwd=d, settings={"filesystem": {"allowWrite": ["."]}})
    assert r.rc == 0, r
    assert open(os.path.join(d, "here")).read() == "here\n"


def test_allow_write_tmp_is_the_hosts(ctx, host_tmp):
    f = host_tmp.write("shared", "host\n")
    name = host_tmp.note(host_tmp.path("made"))
    r = ctx.run(["sh", "-c", 'echo more >> "$1" && echo made > "$2" && awk \'$2=="/tmp"{print $3}\' /proc/self/mounts',
                 "sh", f, name], settings={"filesystem": {"allowWrite": ["/tmp"]}})
    assert r.rc == 0, r
    assert "overlay" not in r.out, r
    assert open(f).read() == "host\nmore\n"
    assert open(name).read() == "made\n"


def test_deny_read_tmp_gives_an_empty_private_tmp(ctx, host_tmp):
    f = host_tmp.write("hidden", "HOST-TMP\n")
    name = host_tmp.note(host_tmp.path("mine"))
    r = ctx.run(["sh", "-c", 'cat "$1"; ls /tmp; echo mine > "$2" && cat "$2"', "sh", f, name],
                settings={"filesystem": {"denyRead": ["/tmp"]}})
    assert "HOST-TMP" not in r.out + r.err, r
    assert os.path.basename(f) not in r.out, r
    assert r.rc == 0 and r.out.endswith("mine\n"), r
    assert not os.path.lexists(name)


# --- unix sockets of the host ------------------------------------------------

def test_host_unix_socket_shows_but_does_not_connect_through_the_overlay(ctx, host_tmp):
    need_overlay(ctx)
    path = host_tmp.note(host_tmp.path("sock"))
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        srv.bind(path)
        os.chmod(path, 0o777)
        srv.listen(4)
        srv.settimeout(10)
        probe = ("import socket,sys\ns=socket.socket(socket.AF_UNIX)\n"
                 "try:\n    s.connect(sys.argv[1]); print('connected')\n"
                 "except OSError as e:\n    print('refused', e.errno)\n")
        # Seen by name; without allowAllUnixSockets no socket can be made.
        r = ctx.run(["sh", "-c", 'test -S "$1" && echo seen; ' + PY + ' -c "$2" "$1"', "sh", path, probe])
        assert r.out.startswith("seen\n"), r
        assert "connected" not in r.out, r
        # With it, the overlay's node is not the host's socket.
        r = ctx.run([PY, "-c", probe, path], settings={"network": {"allowAllUnixSockets": True}})
        assert r.out.startswith("refused"), r
        # Brought in by an allow rule, it is the host's.
        r = ctx.run([PY, "-c", probe, path], settings={"network": {"allowAllUnixSockets": True},
                                                       "filesystem": {"allowRead": [path]}})
        assert r.out == "connected\n", r
        conn, _ = srv.accept()
        conn.close()
    finally:
        srv.close()


def test_overlay_attributes_planted_in_host_tmp_steer_nothing(ctx, host_tmp):
    """Anybody can set user.* attributes on their own files in /tmp. The
    overlay's own (user.overlay.*, with userxattr) planted on the lower
    layer must not redirect a folder or give a file another file's data:
    a folder shows its own entries, a file planted with metacopy and a
    redirect is refused (EPERM) rather than read from elsewhere, and the
    host's files stay as they were."""
    need_overlay(ctx)
    a = host_tmp.mkdir("steer-a")
    b = host_tmp.mkdir("steer-b")
    fa, ga, fb = os.path.join(a, "f"), os.path.join(a, "g"), os.path.join(b, "f")
    for p, text in ((fa, "a's own\n"), (ga, "g's own\n"), (fb, "b's\n")):
        with open(p, "w") as fh:
            fh.write(text)
        os.lchown(p, ctx.uid, ctx.uid)
    try:
        os.setxattr(a, "user.overlay.redirect", ("/" + os.path.basename(b)).encode())
        os.setxattr(fa, "user.overlay.metacopy", b"")
        os.setxattr(fa, "user.overlay.redirect", ("/%s/f" % os.path.basename(b)).encode())
    except OSError as e:
        pytest.skip("the host's /tmp takes no user.* attributes here: %s" % e)
    r = ctx.run(["sh", "-c", 'ls "$1"; cat "$1/g"; cat "$1/f"; echo rc=$?', "sh", a])
    assert "b's" not in r.out, r
    assert r.out.startswith("f\ng\ng's own\n"), r  # a's own entries, a's own data
    assert r.out.endswith("rc=1\n") and "Operation not permitted" in r.err, r
    for p, text in ((fa, "a's own\n"), (ga, "g's own\n"), (fb, "b's\n")):
        with open(p) as fh:
            assert fh.read() == text
