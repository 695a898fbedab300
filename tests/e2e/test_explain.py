# srt explain: what it says about paths and hosts, and that it says what the sandbox really does.
import json
import os

import pytest

from conftest import PY

# One settings file with every kind of rule, written by hand so that the
# line and column of each entry are known.
SETTINGS = """{
  "filesystem": {
    "allowWrite": ["./out", "./missing"],
    "denyWrite": ["./out/frozen", "./out/locked.txt", "./out/later"],
    "denyRead": ["./secret", "./key.pem", "./out/hush"],
    "allowRead": ["./secret/pub"]
  },
  "network": {
    "allowedDomains": ["good.test", "*.example.com", "127.0.0.1:5432", "192.0.2.1"],
    "deniedDomains": ["evil.test", "10.0.0.1"],
    "deniedDomainReasons": {"evil.test": "exfiltration risk"}
  }
}
"""


def pos(text, needle):
    """FILE-relative "LINE:COL" of needle (a JSON string with its quotes)."""
    for n, line in enumerate(text.splitlines(), 1):
        if needle in line:
            return "%d:%d" % (n, line.index(needle) + 1)
    raise AssertionError(needle)


def project(ctx):
    """The project tree the settings talk about; returns the settings path."""
    ctx.write("readme.txt", "hello\n")
    ctx.mkdir("out")
    ctx.mkdir("out/repo/.git")                 # a nested repository
    ctx.write("out/wt/.git", "gitdir: /x\n")   # a worktree: .git is a file
    ctx.mkdir("out/frozen")
    ctx.write("out/locked.txt", "locked\n")
    ctx.write("out/existing.txt", "old\n")
    ctx.mkdir("secret")
    ctx.write("secret/id_rsa", "KEY\n")
    ctx.mkdir("secret/pub")
    ctx.write("secret/pub/known_hosts", "hosts\n")
    ctx.write("key.pem", "PEM\n")
    return ctx.settings(SETTINGS)


def explain(ctx, settings, *args, **kw):
    return ctx.run(["explain"] + list(args), settings_file=settings, **kw)


def line_of(r):
    assert r.err == "", r
    lines = r.out.splitlines()
    assert lines, r
    return lines[0]


# --- agreement with the sandbox -------------------------------------------------

PROBE = r"""
import json, os, sys
out = {}
for mode, p in json.loads(sys.argv[1]):
    try:
        if mode == "w":
            d = os.path.dirname(p)
            if d:
                os.makedirs(d, exist_ok=True)
            os.close(os.open(p, os.O_WRONLY | os.O_CREAT, 0o644))
        else:
            with open(p, "rb") as f:
                f.read(1)
        out[mode + p] = "ok"
    except OSError as e:
        out[mode + p] = e.strerror
print(json.dumps(out))
"""


def check_agreement(ctx, settings, probes):
    """Ask srt explain about each probe, then run every probe inside one
    sandbox (explain speaks of a sandbox that starts now: the probes create
    files); the two must agree. Returns {probe: explain line}."""
    said = {}
    allowed = {}
    for mode, p in probes:
        args = [p] + (["--write"] if mode == "w" else [])
        e = explain(ctx, settings, *args)
        assert e.rc in (0, 1), e
        said[(mode, p)] = line_of(e)
        allowed[(mode, p)] = e.rc == 0
    r = ctx.run([PY, "-c", PROBE, json.dumps(probes)], settings_file=settings)
    assert r.rc == 0, r
    real = json.loads(r.out)
    mismatches = []
    for mode, p in probes:
        if (real[mode + p] == "ok") != allowed[(mode, p)]:
            mismatches.append("%s: sandbox %s, explain: %s" % (p, real[mode + p], said[(mode, p)]))
    assert not mismatches, "\n".join(mismatches)
    return said


def test_explain_agrees_with_sandbox(ctx):
    settings = project(ctx)
    t = ctx.token()
    probes = [
        ("w", "out/new.txt"),                  # allowWrite
        ("w", "out/existing.txt"),
        ("w", "out/frozen/x"),                 # denyWrite folder inside allowWrite
        ("w", "out/locked.txt"),               # denyWrite file
        ("w", "out/later"),                    # denyWrite, missing: a placeholder
        ("w", "out/.bashrc"),                  # built-in protection
        ("w", "out/.vscode/settings.json"),
        ("w", "out/.git/hooks/pre-commit"),
        ("w", "out/.git/HEAD"),                # .git missing: held read-only
        ("w", "out/hush"),                     # denyRead of a missing path
        ("r", "out/hush"),
        ("w", "out/repo/.git/objects/ab"),     # an existing .git: only its hooks and config
        ("w", "out/repo/.git/hooks/pre-push"),
        ("w", "out/repo/.git/config"),
        ("w", "out/wt/.git"),                  # a .git file: held read-only
        ("w", "out/wt/file"),
        ("w", "missing/x"),                    # allowWrite of a missing folder
        ("w", "readme.txt"),                   # default
        ("w", "newfile"),
        ("w", "secret/pub/known_hosts"),       # allowRead inside denyRead: read-only
        ("w", "secret/new"),                   # inside a hidden folder
        ("w", "/tmp/%s" % t),                  # the private /tmp
        ("w", "/tmp/%s-d/x" % t),
        ("w", "/dev/null"),
        ("w", "/dev/shm/%s" % t),
        ("w", "/dev/.srt-connect"),
        ("w", "/proc/self/comm"),
        ("w", "/etc/srt-e2e-%s" % t),
        ("r", "readme.txt"),
        ("r", "out/locked.txt"),
        ("r", "secret/id_rsa"),                # denyRead folder
        ("r", "secret/pub/known_hosts"),       # allowRead inside it
        ("r", "key.pem"),                      # denyRead file
        ("r", "/etc/passwd"),
        ("r", "/dev/null"),
        ("r", "/dev/srt-e2e-no-such-device"),
        ("r", "/proc/self/status"),
    ]
    said = check_agreement(ctx, settings, probes)
    assert not os.path.exists("/tmp/%s" % t)
    assert not os.path.exists("/etc/srt-e2e-%s" % t)
    # A few of the reasons, as the user reads them.
    assert "denied: denyWrite: ./out/frozen (" in said[("w", "out/frozen/x")]
    assert "built-in protection: .bashrc (shell startup file) (built-in)" in said[("w", "out/.bashrc")]
    assert "private /tmp (the host's /tmp read-only beneath it" in said[("w", "/tmp/%s" % t)]
    assert "does not exist yet; srt creates it when a command runs" in said[("w", "missing/x")]
    assert "denied: new repository: filesystem.allowNewRepositories is not set" in said[("w", "out/.git/HEAD")]


def test_explain_agrees_in_private_tmp_and_hidden_home(ctx):
    ctx.mkdir(os.path.join(ctx.home, ".ssh"))
    ctx.write(os.path.join(ctx.home, ".ssh", "id_rsa"), "KEY\n")
    ctx.write(os.path.join(ctx.home, ".ssh", "known_hosts"), "hosts\n")
    ctx.write(os.path.join(ctx.home, "notes"), "notes\n")
    settings = ctx.settings({"filesystem": {"denyRead": ["~/.ssh"],
                                            "allowRead": ["~/.ssh/known_hosts"],
                                            "allowWrite": ["~/notes"]}})
    probes = [
        ("r", os.path.join(ctx.home, ".ssh", "id_rsa")),
        ("r", os.path.join(ctx.home, ".ssh", "known_hosts")),
        ("w", os.path.join(ctx.home, ".ssh", "known_hosts")),
        ("w", os.path.join(ctx.home, ".ssh", "config")),
        ("w", os.path.join(ctx.home, "notes")),
        ("w", os.path.join(ctx.home, "other")),
        ("w", "/tmp/%s/deep/file" % ctx.token()),
    ]
    check_agreement(ctx, settings, probes)


# denyRead "/" would hide the command itself: srt refuses such settings
# (exit 125, naming the entry) rather than run with a rule it cannot apply
# or with the other denyRead entries switched off.
ROOT_DENY_SETTINGS = """{
  "filesystem": {
    "denyRead": ["./sec", "/"],
    "allowRead": ["/usr", "/etc", "/bin", "/lib", "/lib64"]
  }
}
"""


def test_explain_refuses_deny_read_root(ctx):
    ctx.write("sec/k", "TOPSECRET\n")
    ctx.write("readme.txt", "hello\n")
    settings = ctx.settings(ROOT_DENY_SETTINGS)
    for args in (["sec/k"], ["readme.txt"], ["/etc/passwd"], ["readme.txt", "--write"]):
        r = explain(ctx, settings, *args)
        assert r.rc == 125, r
        assert r.out == "", r
        assert "%s:%s: filesystem.denyRead[1]: denyRead '/' would hide the whole file system" % (
            settings, pos(ROOT_DENY_SETTINGS, '"/"')) in r.err, r


def test_deny_read_root_keeps_inner_denies(ctx):
    """The reviewer's case: denyRead ["/", "./sec"] once printed sec/k.
    Now nothing runs, and the error says which entry and what to do."""
    ctx.write("sec/k", "TOPSECRET\n")
    settings = ctx.settings(ROOT_DENY_SETTINGS)
    r = ctx.run(["cat", "sec/k"], settings_file=settings)
    assert r.rc == 125, r
    assert "TOPSECRET" not in r.out + r.err, r
    want = "%s:%s: filesystem.denyRead[1]: denyRead '/' would hide the whole file system, including " \
           "the command; list the folders to hide, and allowRead what the command needs" % (
               settings, pos(ROOT_DENY_SETTINGS, '"/"'))
    assert want in r.err, r
    r = ctx.run(["check"], settings_file=settings)
    assert r.rc == 125, r
    assert want in r.err, r


# A denyRead path that does not exist yet, inside a writable folder: srt
# holds a placeholder there (read-only, unreadable) so that the command can
# neither create it nor read what appears there.
MISSING_DENY_SETTINGS = """{
  "filesystem": {
    "allowWrite": ["./w"],
    "denyRead": ["./w/later.key", "./w/new/deep/secret"]
  }
}
"""


def test_explain_agrees_on_missing_deny_read_in_writable_folder(ctx):
    ctx.mkdir("w")
    settings = ctx.settings(MISSING_DENY_SETTINGS)
    probes = [
        ("w", "w/later.key"),
        ("r", "w/later.key"),
        ("w", "w/new/deep/secret"),
        ("r", "w/new/deep/secret"),
        ("w", "w/new/x"),
        ("w", "w/other"),
        ("r", "w/other"),
    ]
    said = check_agreement(ctx, settings, probes)
    key = "denyRead: ./w/later.key (%s:%s: filesystem.denyRead[0])" % (
        settings, pos(MISSING_DENY_SETTINGS, '"./w/later.key"'))
    assert said[("r", "w/later.key")].endswith("denied: " + key), said
    assert said[("w", "w/later.key")].endswith("denied: " + key), said
    # No placeholder holds w/new: the folders on the way can be made, the
    # denied path itself cannot (the write guard refuses its creation).
    assert ": allowed: " in said[("w", "w/new/x")], said
    assert "denied: denyRead: ./w/new/deep/secret (" in said[("w", "w/new/deep/secret")], said
    assert "denied: denyRead: ./w/new/deep/secret (" in said[("r", "w/new/deep/secret")], said
    assert not ctx.exists("w/later.key") and not ctx.exists("w/new/deep/secret")
    assert ctx.exists("w/other")


def test_explain_proc_sys_agrees(ctx):
    """Kernel settings: explain says the sandbox may not change them, and it
    cannot, also when srt runs as root (uid 0 inside is the host's root).
    The write puts back the value already there."""
    settings = ctx.settings({})
    p = "/proc/sys/kernel/core_pattern"
    code = ("import os, sys\n"
            "print(os.access(sys.argv[1], os.W_OK))\n"
            "k = '/proc/sys/kernel/printk_ratelimit'\n"
            "v = open(k).read()\n"
            "try:\n with open(k, 'w') as f: f.write(v)\n print('wrote')\n"
            "except OSError as e:\n print('refused', e.errno)\n")
    r = ctx.run([PY, "-c", code, p], settings_file=settings)
    assert r.rc == 0, r
    assert r.out.splitlines()[0] == "False", r
    assert "refused" in r.out, r
    e = explain(ctx, settings, p, "--write")
    assert e.rc == 1, e


# --- what it prints: file system -------------------------------------------------

def test_default_deny_write(ctx):
    settings = project(ctx)
    r = explain(ctx, settings, "/etc/passwd", "--write")
    assert r.rc == 1, r
    assert r.out == "write /etc/passwd: denied: no allowWrite entry covers /etc/passwd (default)\n", r
    r = explain(ctx, settings, "/etc/passwd")
    assert r.rc == 0, r
    assert r.out == "read /etc/passwd: allowed: no denyRead entry covers /etc/passwd (default)\n", r


def test_allow_write_names_file_line_column(ctx):
    settings = project(ctx)
    r = explain(ctx, settings, "out/sub/file.txt", "--write")
    assert r.rc == 0, r
    want = "write %s: allowed: allowWrite: ./out (%s:%s: filesystem.allowWrite[0])\n" % (
        ctx.p("out/sub/file.txt"), settings, pos(SETTINGS, '"./out"'))
    assert r.out == want, r


def test_deny_write_inside_allow_write(ctx):
    settings = project(ctx)
    r = explain(ctx, settings, "./out/frozen/a", "-w")
    assert r.rc == 1, r
    assert r.out == "write %s: denied: denyWrite: ./out/frozen (%s:%s: filesystem.denyWrite[0])\n" % (
        ctx.p("out/frozen/a"), settings, pos(SETTINGS, '"./out/frozen"')), r


def test_deny_read_and_allow_read_inside(ctx):
    settings = project(ctx)
    r = explain(ctx, settings, "secret/id_rsa")
    assert r.rc == 1, r
    assert r.out == "read %s: denied: denyRead: ./secret (%s:%s: filesystem.denyRead[0])\n" % (
        ctx.p("secret/id_rsa"), settings, pos(SETTINGS, '"./secret"')), r
    r = explain(ctx, settings, "secret/pub/known_hosts")
    assert r.rc == 0, r
    assert r.out == "read %s: allowed: allowRead: ./secret/pub (%s:%s: filesystem.allowRead[0])\n" % (
        ctx.p("secret/pub/known_hosts"), settings, pos(SETTINGS, '"./secret/pub"')), r


def test_tilde_path_uses_home(ctx):
    ctx.mkdir(os.path.join(ctx.home, ".ssh"))
    text = '{"filesystem": {"denyRead": ["~/.ssh"]}}'
    settings = ctx.settings(text)
    r = explain(ctx, settings, "~/.ssh/id_rsa")
    assert r.rc == 1, r
    assert r.out == "read %s/.ssh/id_rsa: denied: denyRead: ~/.ssh (%s:1:%d: filesystem.denyRead[0])\n" % (
        ctx.home, settings, text.index('"~/.ssh"') + 1), r


def test_builtin_protection(ctx):
    settings = project(ctx)
    r = explain(ctx, settings, "out/.bashrc", "--write")
    assert r.rc == 1, r
    assert r.out == "write %s: denied: built-in protection: .bashrc (shell startup file) (built-in)\n" % (
        ctx.p("out/.bashrc")), r
    r = explain(ctx, settings, "out/.git/hooks/post-checkout", "--write")
    assert r.rc == 1, r
    assert "(built-in)" in r.out and "denied" in r.out, r
    # The settings file itself.
    r = explain(ctx, settings, settings, "--write")
    assert r.rc == 1, r
    assert "built-in protection: settings file srt loaded (built-in)" in r.out, r


def test_private_tmp(ctx):
    settings = project(ctx)
    r = explain(ctx, settings, "/tmp/x/y", "--write")
    assert r.rc == 0, r
    assert r.out == ("write /tmp/x/y: allowed: private /tmp (the host's /tmp read-only beneath it; what the "
                     "command writes there stays in the sandbox) (built-in)\n"), r
    r = ctx.run(["explain", "/tmp/x", "--write"], settings=({"filesystem": {"allowWrite": ["/tmp"]}}))
    assert r.rc == 0, r
    assert "allowed: allowWrite: /tmp (" in r.out, r


def test_dev_null(ctx):
    settings = project(ctx)
    r = explain(ctx, settings, "/dev/null", "--write")
    assert r.rc == 0, r
    assert r.out == "write /dev/null: allowed: the sandbox's own device /dev/null (built-in)\n", r
    r = explain(ctx, settings, "/dev/nvidia0")
    assert r.rc == 1, r
    assert "not in the sandbox's own /dev" in r.out, r


def test_symlink_is_judged_where_it_lands(ctx):
    settings = project(ctx)
    ctx.symlink(ctx.p("readme.txt"), "out/link")
    r = explain(ctx, settings, "out/link", "--write")
    assert r.rc == 1, r
    assert r.out.startswith("write %s -> %s: denied: " % (ctx.p("out/link"), ctx.p("readme.txt"))), r


def test_existing_relative_name_is_a_path(ctx):
    settings = project(ctx)
    r = explain(ctx, settings, "readme.txt")
    assert r.rc == 0, r
    assert r.out.startswith("read %s: allowed" % ctx.p("readme.txt")), r


def test_settings_before_explain_and_help(ctx):
    settings = project(ctx)
    r = ctx.run(["--settings", settings, "explain", "--write", "out/x"])
    assert r.rc == 0, r
    r = ctx.run(["explain", "--help"])
    assert r.rc == 0, r
    assert "srt explain" in r.out, r


# --- what it prints: hosts -------------------------------------------------------

def test_host_allowed(ctx):
    settings = project(ctx)
    r = explain(ctx, settings, "good.test")
    assert r.rc == 0, r
    assert r.out == "connect good.test:443: allowed: allowedDomains: good.test (%s:%s: network.allowedDomains[0])\n" % (
        settings, pos(SETTINGS, '"good.test"')), r
    r = explain(ctx, settings, "API.Example.COM.:8443")
    assert r.rc == 0, r
    assert r.out.startswith("connect api.example.com:8443: allowed: allowedDomains: *.example.com ("), r
    r = explain(ctx, settings, "https://good.test/some/path")
    assert r.rc == 0, r
    assert r.out.startswith("connect good.test:443: allowed"), r


def test_host_denied_by_list_with_reason(ctx):
    settings = project(ctx)
    r = explain(ctx, settings, "evil.test")
    assert r.rc == 1, r
    assert r.out == ("connect evil.test:443: denied: deniedDomains: evil.test (%s:%s: network.deniedDomains[0])\n"
                     "  reason: exfiltration risk\n") % (settings, pos(SETTINGS, '"evil.test"')), r


def test_host_default_deny_with_port(ctx):
    settings = project(ctx)
    r = explain(ctx, settings, "example.com:80")
    assert r.rc == 1, r
    assert r.out == "connect example.com:80: denied: no allowedDomains entry matches (default)\n", r


def test_ip_literals_and_guard(ctx):
    settings = project(ctx)
    r = explain(ctx, settings, "192.0.2.1:22")
    assert r.rc == 0, r
    assert r.out.splitlines() == [
        "connect 192.0.2.1:22: allowed: allowedDomains: 192.0.2.1 (%s:%s: network.allowedDomains[3])" % (
            settings, pos(SETTINGS, '"192.0.2.1"')),
        "  address guard: a name resolving to 192.0.2.1 would pass"], r
    r = explain(ctx, settings, "127.1")  # inet_aton form: 127.0.0.1
    assert r.rc == 1, r
    assert r.out.splitlines() == [
        "connect 127.0.0.1:443: denied: no allowedDomains entry matches (default)",
        "  address guard: a name resolving to 127.0.0.1 would be refused (loopback)"], r
    r = explain(ctx, settings, "127.0.0.1:5432")
    assert r.rc == 0, r
    assert "host loopback service" in r.out, r
    r = explain(ctx, settings, "[::1]:8080")
    assert r.rc == 1, r
    assert r.out.startswith("connect [::1]:8080: denied"), r
    assert "refused (loopback)" in r.out, r
    r = explain(ctx, settings, "::ffff:10.0.0.1")
    assert r.rc == 1, r
    assert r.out.splitlines()[0].startswith("connect 10.0.0.1:443: denied: deniedDomains: 10.0.0.1 ("), r
    assert "refused (deniedDomains IP literal)" in r.out, r


# --- errors ----------------------------------------------------------------------

@pytest.mark.parametrize("args,needle", [
    ([], "Usage: srt explain"),
    (["a.test", "b.test"], "takes one"),
    (["--nope", "a.test"], "unknown option '--nope'"),
    (["https://good.test", "--write"], "--write applies to paths"),
    (["bad host"], "neither a path nor a HOST[:PORT]"),
    (["a..b"], "neither a path nor a HOST[:PORT]"),
    (["good.test:99999"], "neither a path nor a HOST[:PORT]"),
    (["ftp://good.test"], "only http:// and https://"),
    (["~other/x"], "invalid path"),
    (["--settings"], "needs a FILE"),
])
def test_bad_arguments(ctx, args, needle):
    settings = project(ctx)
    r = explain(ctx, settings, *args)
    assert r.rc == 125, r
    assert r.out == "", r
    assert needle in r.err, r


def test_bad_settings_name_file_and_line(ctx):
    settings = ctx.settings('{\n  "filesystem": {\n    "allowWrite": ["./out",]\n  }\n}\n')
    r = explain(ctx, settings, "/etc/passwd")
    assert r.rc == 125, r
    assert r.out == "", r
    assert "%s:3:" % settings in r.err, r
    settings = ctx.settings('{\n  "network": {\n    "allowedDomains": ["https://x.test"]\n  }\n}\n')
    r = explain(ctx, settings, "x.test")
    assert r.rc == 125, r
    assert "%s:3:" % settings in r.err, r
