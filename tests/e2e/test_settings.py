# Settings files: where they are found, both formats, every kind of error, project settings and trust.
import os
import re

import pytest

MARK = "command-ran-srt-e2e"


def assert_refused(r, *words):
    """srt failed before running the command, and said why."""
    assert r.rc == 125, r
    assert MARK not in r.out, r
    for w in words:
        assert w in r.err, (w, r)


def run_with_text(ctx, text, name="bad.json"):
    f = ctx.write(os.path.join(ctx.root, name), text)
    return f, ctx.run(["echo", MARK], settings_file=f)


# --- which file --------------------------------------------------------------

def test_defaults_without_any_file(ctx):
    r = ctx.run(["echo", MARK])
    assert r.rc == 0 and MARK in r.out, r


def test_home_settings_file_is_used(ctx):
    w = ctx.mkdir("w")
    ctx.settings({"filesystem": {"allowWrite": [w]}}, path=os.path.join(ctx.home, ".srt-settings.json"))
    r = ctx.sh("echo hi > w/f")
    assert r.rc == 0, r
    assert ctx.read("w/f") == "hi\n"


def test_home_settings_file_invalid_is_error(ctx):
    f = ctx.settings('{"filesystem": ', path=os.path.join(ctx.home, ".srt-settings.json"))
    r = ctx.run(["echo", MARK])
    assert_refused(r, f)


def test_named_file_wins_over_home_file(ctx):
    ctx.mkdir("w")
    ctx.settings({"filesystem": {"allowWrite": ["w"]}}, path=os.path.join(ctx.home, ".srt-settings.json"))
    r = ctx.sh("echo hi > w/f", settings={})
    assert r.rc != 0, r
    assert not ctx.exists("w/f")


# --- file errors -------------------------------------------------------------

def test_missing_file(ctx):
    f = os.path.join(ctx.root, "nope.json")
    r = ctx.run(["echo", MARK], settings_file=f)
    assert_refused(r, f)


def test_file_is_a_directory(ctx):
    d = ctx.mkdir(os.path.join(ctx.root, "dir.json"))
    r = ctx.run(["echo", MARK], settings_file=d)
    assert_refused(r, d)


def test_unreadable_file(ctx):
    if ctx.uid == 0:
        pytest.skip("root reads any file")
    f = ctx.settings({})
    os.chown(f, 0, 0)
    os.chmod(f, 0o600)
    r = ctx.run(["echo", MARK], settings_file=f)
    assert_refused(r, f)


def test_empty_file(ctx):
    f, r = run_with_text(ctx, "")
    assert_refused(r, f)


def test_whitespace_only_file(ctx):
    f, r = run_with_text(ctx, "  \n\n")
    assert_refused(r, f)


def test_not_json_names_line_and_column(ctx):
    f, r = run_with_text(ctx, '{\n  "filesystem": {\n    "allowWrite": [,]\n  }\n}\n')
    assert_refused(r, f)
    assert re.search(r":3:\d+|line 3", r.err), r


def test_trailing_garbage(ctx):
    f, r = run_with_text(ctx, '{}\n{}\n')
    assert_refused(r, f)


def test_top_level_not_object(ctx):
    f, r = run_with_text(ctx, '["filesystem"]')
    assert_refused(r, f)


# --- schema errors -----------------------------------------------------------

@pytest.mark.parametrize("doc,path", [
    ({"filesystem": {"allowWrite": "src"}}, "filesystem.allowWrite"),
    ({"filesystem": {"allowWrite": [42]}}, "filesystem.allowWrite"),
    ({"filesystem": {"denyRead": [{"literal": True}]}}, "filesystem.denyRead"),
    ({"filesystem": {"allowGitConfig": "yes"}}, "filesystem.allowGitConfig"),
    ({"filesystem": []}, "filesystem"),
    ({"network": {"allowedDomains": "x.com"}}, "network.allowedDomains"),
    ({"mandatoryDenySearchDepth": 0}, "mandatoryDenySearchDepth"),
    ({"mandatoryDenySearchDepth": 11}, "mandatoryDenySearchDepth"),
    ({"mandatoryDenySearchDepth": "3"}, "mandatoryDenySearchDepth"),
    ({"allowNestedUserNamespaces": 1}, "allowNestedUserNamespaces"),
    ({"permissions": {"allow": "Read(.)"}}, "permissions.allow"),
    ({"network": {"httpProxyPort": 70000}}, "network.httpProxyPort"),
    ({"network": {"socksProxyPort": -1}}, "network.socksProxyPort"),
    ({"network": {"strictAllowlist": "yes"}}, "network.strictAllowlist"),
], ids=lambda v: v if isinstance(v, str) else None)
def test_schema_error_names_key_path(ctx, doc, path):
    f = ctx.settings(doc)
    r = ctx.run(["echo", MARK], settings_file=f)
    assert_refused(r, f, path)


def test_schema_error_has_line(ctx):
    f, r = run_with_text(ctx, '{\n  "filesystem": {\n    "allowWrite": 7\n  }\n}\n')
    assert_refused(r, f, "filesystem.allowWrite")
    assert re.search(r":3:\d+|line 3", r.err), r


def test_unknown_key_suggests_close_one(ctx):
    f = ctx.settings({"filesystem": {"allowwrite": ["."]}})
    r = ctx.run(["echo", MARK], settings_file=f)
    assert_refused(r, f, "allowwrite", "allowWrite")
    assert "did you mean" in r.err.lower(), r


def test_unknown_top_level_key(ctx):
    f = ctx.settings({"fileSystem": {}})
    r = ctx.run(["echo", MARK], settings_file=f)
    assert_refused(r, f, "fileSystem")


def test_unknown_key_far_from_anything(ctx):
    f = ctx.settings({"zzzqqq": 1})
    r = ctx.run(["echo", MARK], settings_file=f)
    assert_refused(r, f, "zzzqqq")


@pytest.mark.parametrize("doc,key", [
    ({"network": {"filterRequest": {}}}, "filterRequest"),
], ids=["filterRequest"])
def test_unsupported_protective_keys_refused(ctx, doc, key):
    f = ctx.settings(doc)
    r = ctx.run(["echo", MARK], settings_file=f)
    assert_refused(r, f, key)
    assert "support" in r.err.lower(), r


def test_tuning_keys_accepted_with_debug_note(ctx):
    f = ctx.settings({"ripgrep": {"command": "rg", "args": []}})
    r = ctx.run(["echo", MARK], settings_file=f)
    assert r.rc == 0 and MARK in r.out, r
    r = ctx.run(["echo", MARK], settings_file=f, opts=["--debug"])
    assert r.rc == 0 and MARK in r.out, r
    assert "ripgrep" in r.err, r


# --- network.timeouts ----------------------------------------------------------

@pytest.mark.parametrize("value,col,words", [
    ("0", 18, ["more than 0", "found 0"]),
    ("-5", 18, ["found -5"]),
    ("604801", 18, ["at most 604800", "found 604801"]),
    ('"30"', 18, ["found a string"]),
    ("true", 18, ["found true"]),
    ("0.0001", 18, ["less than a millisecond"]),
], ids=["zero", "negative", "too-large", "string", "bool", "below-1ms"])
def test_bad_timeout_names_file_line_column_and_key(ctx, value, col, words):
    text = '{\n  "network": {\n    "timeouts": {\n      "connect": %s\n    }\n  }\n}\n' % value
    f, r = run_with_text(ctx, text)
    assert_refused(r, "%s:4:%d: network.timeouts.connect: " % (f, col), *words)


def test_unknown_timeout_key_suggests(ctx):
    f, r = run_with_text(ctx, '{"network": {"timeouts": {"conect": 5}}}')
    assert_refused(r, "%s:1:27: unknown key 'network.timeouts.conect'" % f, "did you mean 'connect'")


def test_timeouts_accepted_and_shown_by_check(ctx):
    doc = {"network": {"timeouts": {"requestHead": 0.5, "connect": 10, "keepAliveIdle": 0,
                                    "response": 0, "tunnelIdle": 1.25}}}
    f = ctx.settings(doc)
    r = ctx.run(["echo", MARK], settings_file=f)
    assert r.rc == 0 and MARK in r.out, r
    r = ctx.run(["check"], settings_file=f)
    assert r.rc == 0, r
    lines = {l.split()[1]: l for l in r.out.splitlines() if l.strip().startswith("timeout ")}
    assert "0.5 s" in lines["requestHead"] and f in lines["requestHead"], r
    assert "10 s" in lines["connect"], r
    assert "never" in lines["keepAliveIdle"] and "never" in lines["response"], r
    assert "1.25 s" in lines["tunnelIdle"] and "network.timeouts.tunnelIdle" in lines["tunnelIdle"], r


def test_check_shows_default_timeouts(ctx):
    r = ctx.run(["check"], settings={})
    assert r.rc == 0, r
    assert re.search(r"timeout requestHead +30 s +<- default", r.out), r
    assert re.search(r"timeout tunnelIdle +600 s +<- default", r.out), r


def test_request_head_timeout_reaches_the_proxy(ctx):
    """A client that sends nothing is let go after requestHead, not the
    default 30 s."""
    code = ("import socket, time\n"
            "s = socket.create_connection(('127.0.0.1', 3128))\n"
            "s.settimeout(20)\n"
            "t = time.monotonic()\n"
            "while s.recv(4096):\n"
            "    pass\n"
            "print('closed after %.2f' % (time.monotonic() - t))\n")
    r = ctx.py(code, settings={"network": {"timeouts": {"requestHead": 0.5}}})
    assert r.rc == 0, r
    m = re.search(r"closed after ([0-9.]+)", r.out)
    assert m and 0.3 <= float(m.group(1)) < 10, r


def test_project_timeouts_apply_untrusted_and_win(ctx):
    """Timeouts widen nothing: an untrusted project sets them, and its value
    wins over the user file's (it is read second)."""
    pf = ctx.write(".sandbox/settings.json", '{"network": {"timeouts": {"connect": 7}}}')
    s = ctx.settings({"network": {"timeouts": {"connect": 3, "response": 9}}},
                     path=os.path.join(ctx.home, ".srt-settings.json"))
    r = ctx.run(["check"])
    assert r.rc == 0, r
    assert re.search(r"timeout connect +7 s +<- %s:1:38: network\.timeouts\.connect" % re.escape(pf), r.out), r
    assert re.search(r"timeout response +9 s +<- %s:" % re.escape(s), r.out), r
    assert "ignored project settings" not in r.out, r


def test_bad_project_timeout_is_error(ctx):
    pf = ctx.write(".sandbox/settings.json", '{"network": {"timeouts": {"requestHead": 0}}}')
    r = ctx.run(["echo", MARK])
    assert_refused(r, "%s:1:42: network.timeouts.requestHead" % pf)


# --- srt's format ------------------------------------------------------------

def test_full_srt_format_accepted(ctx):
    doc = {
        "filesystem": {"denyRead": ["~/.ssh"], "allowRead": [], "allowWrite": ["."],
                       "denyWrite": [".env"], "allowGitConfig": False},
        "network": {"allowedDomains": ["example.com", "*.example.org"],
                    "deniedDomains": ["bad.example.com"],
                    "allowUnixSockets": ["/run/x.sock"], "allowAllUnixSockets": False,
                    "allowLocalBinding": False, "httpProxyPort": 3128, "socksProxyPort": 1080,
                    "deniedResolvedAddresses": ["10.0.0.0/8"],
                    "deniedDomainReasons": {"bad.example.com": "blocked by policy"},
                    "strictAllowlist": True},
        "mandatoryDenySearchDepth": 3,
        "allowNestedUserNamespaces": False,
        "enableWeakerNestedSandbox": False,
        "ignoreViolations": {"*": ["/usr/bin"]},
    }
    r = ctx.run(["echo", MARK], settings=doc)
    assert r.rc == 0 and MARK in r.out, r


def test_literal_path_entry(ctx):
    ctx.mkdir("lit[1]")
    r = ctx.sh("echo hi > 'lit[1]/f'",
               settings={"filesystem": {"allowWrite": [{"path": "lit[1]", "literal": True}]}})
    assert r.rc == 0, r
    assert ctx.read("lit[1]/f") == "hi\n"


@pytest.mark.parametrize("entry", ["https://x.com", "*.com", "x.com/path", "exa mple.com", ""])
def test_bad_domain_entry_named(ctx, entry):
    f = ctx.settings({"network": {"allowedDomains": ["ok.example.com", entry]}})
    r = ctx.run(["echo", MARK], settings_file=f)
    assert_refused(r, f)
    if entry:
        assert entry in r.err, r


def test_bad_denied_domain_entry(ctx):
    f = ctx.settings({"network": {"deniedDomains": ["*.com"]}})
    r = ctx.run(["echo", MARK], settings_file=f)
    assert_refused(r, f, "*.com")


# --- paths -------------------------------------------------------------------

@pytest.mark.parametrize("entry,target", [
    ("w", "w/f"),
    ("./w", "w/f"),
    ("w/**", "w/f"),
    ("x/../w", "w/f"),
    ("w//", "w/f"),
    ("~/hw", "~/hw/f"),
])
def test_path_forms(ctx, entry, target):
    ctx.mkdir("w")
    ctx.mkdir(os.path.join(ctx.home, "hw"))
    host = target.replace("~", ctx.home) if target.startswith("~") else ctx.p(target)
    r = ctx.run(["sh", "-c", 'echo hi > "$1"', "sh", host],
                settings={"filesystem": {"allowWrite": [entry]}})
    assert r.rc == 0, r
    with open(host) as fh:
        assert fh.read() == "hi\n"


# --- the Elixir port's format ------------------------------------------------

def test_elixir_format(ctx):
    ctx.mkdir("src")
    ctx.write("src/.env", "SECRET=1\n")
    ctx.write(os.path.join(ctx.home, ".ssh/id_test"), "PRIVATE-KEY-CONTENT\n")
    doc = {
        "sandbox": {"enabled": True, "network": {"httpProxyPort": 8888, "socksProxyPort": 1080}},
        "permissions": {
            "allow": ["Edit(./src)", "Read(.)", "WebFetch(domain:github.com)"],
            "deny": ["Read(~/.ssh)", "Edit(./src/.env)", "WebFetch(domain:malicious.com)"],
        },
    }
    f = ctx.settings(doc)
    r = ctx.sh("echo ok > src/new", settings_file=f)
    assert r.rc == 0, r
    assert ctx.read("src/new") == "ok\n"
    r = ctx.sh("echo bad >> src/.env", settings_file=f)
    assert r.rc != 0, r
    assert ctx.read("src/.env") == "SECRET=1\n"
    r = ctx.sh("cat ~/.ssh/id_test", settings_file=f)
    assert "PRIVATE-KEY-CONTENT" not in r.out, r
    r = ctx.sh("echo no > outside", settings_file=f)
    assert r.rc != 0, r
    assert not ctx.exists("outside")


@pytest.mark.parametrize("perm", ["Edit(", "Frobnicate(x)", "WebFetch(github.com)"])
def test_elixir_malformed_permission_named(ctx, perm):
    f = ctx.settings({"permissions": {"allow": ["Read(.)", perm]}})
    r = ctx.run(["echo", MARK], settings_file=f)
    assert_refused(r, f, perm)


def test_elixir_unix_socket_and_tcp_accepted(ctx):
    f = ctx.settings({"permissions": {"allow": ["UnixSocket(/run/x.sock)",
                                                 "WebFetch(tcp:localhost:5432)"]}})
    r = ctx.run(["echo", MARK], settings_file=f)
    assert r.rc == 0 and MARK in r.out, r


# --- project settings --------------------------------------------------------

def _project(ctx):
    ctx.write("secret.txt", "PROJECT-SECRET\n")
    return ctx.write(".sandbox/settings.json",
                     '{"filesystem": {"denyRead": ["secret.txt"], "allowWrite": ["."]}}')


def test_project_denies_apply_allows_ignored(ctx):
    pf = _project(ctx)
    r = ctx.sh("cat secret.txt")
    assert "PROJECT-SECRET" not in r.out, r
    r = ctx.sh("echo x > newfile")
    assert r.rc != 0, r
    assert not ctx.exists("newfile")
    r = ctx.run(["check"])
    assert r.rc == 0, r
    assert pf in r.out, r
    assert "ignored" in r.out.lower(), r


def test_project_allows_with_trust(ctx):
    _project(ctx)
    r = ctx.sh("echo x > newfile; cat secret.txt", opts=["--trust-project-settings"])
    assert ctx.exists("newfile"), r
    assert "PROJECT-SECRET" not in r.out, r
    # The project settings file itself stays protected.
    r = ctx.sh("echo '{}' > .sandbox/settings.json", opts=["--trust-project-settings"])
    assert r.rc != 0, r
    assert "denyRead" in ctx.read(".sandbox/settings.json")


def test_project_settings_on_top_of_user_settings(ctx):
    _project(ctx)
    ctx.mkdir("w")
    s = ctx.settings({"filesystem": {"allowWrite": ["w"]}})
    r = ctx.sh("echo x > w/f; cat secret.txt", settings_file=s)
    assert ctx.exists("w/f"), r
    assert "PROJECT-SECRET" not in r.out, r


def test_invalid_project_settings_is_error(ctx):
    pf = ctx.write(".sandbox/settings.json", '{"filesystem": {"denyRead": [}')
    r = ctx.run(["echo", MARK])
    assert_refused(r, pf)


# --- finding the project file ------------------------------------------------

import json  # noqa: E402 (for the tests below)


def _repo_with_project(ctx, doc):
    """The project folder as a git repository root holding .sandbox/settings.json,
    and a working folder two levels below it."""
    ctx.mkdir(".git")
    ctx.write("secret.txt", "PROJECT-SECRET\n")
    pf = ctx.write(".sandbox/settings.json", doc if isinstance(doc, str) else json.dumps(doc))
    return pf, ctx.mkdir("sub/dir")


def test_project_file_found_from_a_subfolder(ctx):
    pf, sub = _repo_with_project(ctx, {"filesystem": {"denyRead": ["./secret.txt"]}})
    for target in ("../../secret.txt", ctx.p("secret.txt")):
        r = ctx.run(["cat", target], cwd=sub)
        assert r.rc != 0 and "PROJECT-SECRET" not in r.out, r
    # srt check and srt explain find the same file.
    r = ctx.run(["check"], cwd=sub)
    assert r.rc == 0 and pf in r.out, r
    r = ctx.run(["explain", "../../secret.txt"], cwd=sub)
    assert r.rc == 1, r
    assert "read %s: denied: denyRead: %s" % (ctx.p("secret.txt"), ctx.p("secret.txt")) in r.out, r
    assert "%s:1:" % pf in r.out, r


def test_project_file_above_the_repository_root_is_not_used(ctx):
    ctx.write("secret.txt", "PROJECT-SECRET\n")
    ctx.write(os.path.join(ctx.root, ".sandbox/settings.json"),
              json.dumps({"filesystem": {"denyRead": [ctx.p("secret.txt")]}}))
    sub = ctx.mkdir("sub")
    # No .git below it: the search goes up and finds it.
    r = ctx.run(["cat", ctx.p("secret.txt")], cwd=sub)
    assert "PROJECT-SECRET" not in r.out, r
    # proj is a repository: the search stops at its root.
    ctx.mkdir(".git")
    r = ctx.run(["cat", ctx.p("secret.txt")], cwd=sub)
    assert r.rc == 0 and "PROJECT-SECRET" in r.out, r
    r = ctx.run(["check"], cwd=sub)
    assert r.rc == 0 and ".sandbox" not in r.out.split("\n\n")[0], r


def test_project_relative_paths_mean_the_project_folder(ctx):
    pf, sub = _repo_with_project(ctx, {"filesystem": {"allowWrite": ["./build"]}})
    ctx.mkdir("build")
    ctx.mkdir("sub/dir/build")
    r = ctx.sh("echo x > %s/f; echo y > build/f" % ctx.p("build"), cwd=sub, opts=["--trust-project-settings"])
    assert ctx.read("build/f") == "x\n", r
    assert not ctx.exists("sub/dir/build/f"), r


def test_project_trusted_dirs_name_the_project_folder(ctx):
    pf, sub = _repo_with_project(ctx, {"filesystem": {"allowWrite": ["."]}})
    ctx.settings({"trustedProjectDirs": [ctx.proj]}, path=os.path.join(ctx.home, ".srt-settings.json"))
    r = ctx.sh("echo x > %s" % ctx.p("made"), cwd=sub)
    assert r.rc == 0 and ctx.exists("made"), r
    assert "ignored" not in r.err, r
    # Trusting the working folder below does not trust the project.
    ctx.settings({"trustedProjectDirs": [sub]}, path=os.path.join(ctx.home, ".srt-settings.json"))
    r = ctx.sh("echo x > %s" % ctx.p("made2"), cwd=sub)
    assert r.rc != 0 and not ctx.exists("made2"), r


def test_ignored_project_allows_named_on_stderr(ctx):
    pf, sub = _repo_with_project(ctx, {"filesystem": {"allowWrite": ["./build"]},
                                       "network": {"deniedDomains": ["y.example"],
                                                   "allowedDomains": ["a.example", "x.com"]}})
    line = ("srt: ignored 3 allow rules of the untrusted project settings %s: "
            "filesystem.allowWrite[0] \"./build\", network.allowedDomains[0] \"a.example\", "
            "network.allowedDomains[1] \"x.com\" "
            "(trust the project with --trust-project-settings or trustedProjectDirs)\n" % pf)
    for cwd in (ctx.proj, sub):
        r = ctx.run(["echo", MARK], cwd=cwd)
        assert r.rc == 0 and MARK in r.out, r
        assert r.err.count(line) == 1, r
    # --quiet drops it; so does trust, which leaves nothing ignored.
    r = ctx.run(["echo", MARK], cwd=sub, opts=["--quiet"])
    assert r.rc == 0 and "ignored" not in r.err, r
    r = ctx.run(["echo", MARK], cwd=sub, opts=["--trust-project-settings"])
    assert r.rc == 0 and "ignored" not in r.err, r


def test_many_ignored_project_allows_are_counted(ctx):
    doc = {"network": {"allowedDomains": ["d%d.example" % i for i in range(7)]}}
    pf = ctx.write(".sandbox/settings.json", json.dumps(doc))
    r = ctx.run(["echo", MARK])
    assert r.rc == 0, r
    lines = [l for l in r.err.splitlines() if "ignored" in l]
    assert len(lines) == 1, r
    assert lines[0].startswith("srt: ignored 7 allow rules of the untrusted project settings %s: " % pf), r
    assert "\"d2.example\" and 4 more (trust the project" in lines[0], r
    assert "d3.example" not in lines[0], r


def test_project_file_of_another_user_is_ignored(ctx):
    other = 65534 if ctx.uid == 0 else 4242
    # Broken, so that using it would stop srt: it is not the user's to break.
    pf, sub = _repo_with_project(ctx, '{"filesystem": {"denyRead": [}')
    os.chown(pf, other, other)
    for opts in ((), ("--quiet",)):
        r = ctx.run(["cat", ctx.p("secret.txt")], cwd=sub, opts=opts)
        assert r.rc == 0 and "PROJECT-SECRET" in r.out, r
        assert ("srt: ignored the project settings %s: %s belongs to uid %d" % (pf, pf, other)) in r.err, r
    # The same for a .sandbox folder of someone else's.
    os.chown(pf, ctx.uid, ctx.uid)
    os.chown(os.path.dirname(pf), other, other)
    r = ctx.run(["echo", MARK], cwd=sub)
    assert r.rc == 0 and MARK in r.out, r
    assert "belongs to uid %d" % other in r.err, r


def test_project_file_of_root_is_used(ctx):
    pf, sub = _repo_with_project(ctx, {"filesystem": {"denyRead": ["./secret.txt"]}})
    os.chown(pf, 0, 0)
    os.chown(os.path.dirname(pf), 0, 0)
    r = ctx.run(["cat", ctx.p("secret.txt")], cwd=sub)
    assert r.rc != 0 and "PROJECT-SECRET" not in r.out, r
    assert "ignored" not in r.err, r
