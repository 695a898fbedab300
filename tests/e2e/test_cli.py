# The command line: argv handling, options, exit statuses, stdio, srt check.
import os
import re

from conftest import PY


# --- running a command -------------------------------------------------------

def test_runs_argv_exactly_without_shell(ctx):
    r = ctx.run(["printf", "%s|", "a b", "", "$HOME", "*", "'q'", ";echo no"])
    assert r.rc == 0, r
    assert r.out == "a b||$HOME|*|'q'|;echo no|", r


def test_dash_c_runs_string_with_bash(ctx):
    r = ctx.run(["-c", "echo $((6*7)) ${BASH_VERSION:+bash}; exit 3"])
    assert r.rc == 3, r
    assert r.out.split() == ["42", "bash"], r


def test_dash_c_extra_words_become_positional(ctx):
    r = ctx.run(["-c", 'echo "$0|$1|$2"', "name", "one", "-V"])
    assert r.rc == 0, r
    assert r.out.strip() == "name|one|-V", r


def test_options_after_command_go_to_command(ctx):
    r = ctx.run(["sh", "-c", 'echo "$0 $1"', "x", "-V"])
    assert r.rc == 0, r
    assert r.out.strip() == "x -V", r
    r = ctx.run(["echo", "-V", "--help", "--settings", "nope", "-d"])
    assert r.rc == 0, r
    assert r.out.strip() == "-V --help --settings nope -d", r
    assert "srt 0" not in r.out


def test_double_dash_runs_dash_named_command(ctx):
    r = ctx.run(["--", "-weird"])
    assert r.rc == 127, r


def test_double_dash_check_is_a_command(ctx):
    r = ctx.run(["--", "check"])
    assert r.rc == 127, r
    assert "settings files" not in r.out, r


def test_unknown_option_is_srt_error(ctx):
    r = ctx.run(["--no-such-option", "echo", "ran"])
    assert r.rc == 125, r
    assert "ran" not in r.out
    assert "no-such-option" in r.err, r


def test_version(ctx):
    for opt in ("-V", "--version"):
        r = ctx.run([opt])
        assert r.rc == 0, r
        assert re.match(r"srt \d+\.\d+\.\d+", r.out), r


def test_help_mentions_exit_statuses(ctx):
    for opt in ("-h", "--help"):
        r = ctx.run([opt])
        assert r.rc == 0, r
        for code in ("125", "126", "127"):
            assert code in r.out, (code, r)
        assert "-c" in r.out and "--settings" in r.out, r


def test_debug_goes_to_stderr_only(ctx):
    plain = ctx.run(["echo", "hi"])
    dbg = ctx.run(["echo", "hi"], opts=["-d"])
    assert plain.rc == 0 and dbg.rc == 0, (plain, dbg)
    assert dbg.out == "hi\n", dbg
    assert dbg.err.strip(), dbg
    dbg = ctx.run(["echo", "hi"], opts=["--debug"])
    assert dbg.rc == 0 and dbg.out == "hi\n", dbg


def test_debug_does_not_change_sandbox_environment(ctx):
    plain = ctx.run(["env", "-0"])
    dbg = ctx.run(["env", "-0"], opts=["--debug"])
    assert plain.rc == 0 and dbg.rc == 0, (plain, dbg)
    keys = lambda r: sorted(kv.split("=", 1)[0] for kv in r.out.split("\0") if kv)
    assert keys(plain) == keys(dbg), (plain, dbg)
    assert not [k for k in keys(dbg) if "DEBUG" in k.upper()], dbg


# --- exit statuses -----------------------------------------------------------

def test_exit_status_of_command(ctx):
    assert ctx.run(["true"]).rc == 0
    assert ctx.run(["false"]).rc == 1
    r = ctx.sh("exit 7")
    assert r.rc == 7, r
    r = ctx.sh("exit 255")
    assert r.rc == 255, r


def test_exit_status_killed_by_signal(ctx):
    r = ctx.sh("kill -TERM $$")
    assert r.rc == 143, r
    r = ctx.sh("kill -9 $$")
    assert r.rc == 137, r
    r = ctx.py("import os, signal; os.kill(os.getpid(), signal.SIGSEGV)")
    assert r.rc == 128 + 11, r


def test_not_found_is_127(ctx):
    r = ctx.run(["no-such-command-srt-e2e"])
    assert r.rc == 127, r
    assert "no-such-command-srt-e2e" in r.err, r
    r = ctx.run(["/nonexistent/dir/cmd"])
    assert r.rc == 127, r


def test_not_executable_is_126(ctx):
    ctx.write("script.sh", "#!/bin/sh\necho ran\n", mode=0o644)
    r = ctx.run(["./script.sh"])
    assert r.rc == 126, r
    assert "ran" not in r.out
    r = ctx.run([ctx.proj])  # a directory
    assert r.rc == 126, r


def test_path_search_behaves_as_execvp(ctx):
    # srt-init looks the command up itself (one execve per name that
    # exists, not one per folder of $PATH): the outcome must be execvp's.
    ctx.write("b1/pick", "#!/bin/sh\necho first\n", mode=0o644)   # not executable
    ctx.write("b2/pick", "#!/bin/sh\necho second\n", mode=0o755)
    ctx.write("b2/noshebang", 'echo "plain $1"\n', mode=0o755)
    ctx.write("b3/pick", "#!/bin/sh\necho third\n", mode=0o755)
    os.makedirs(os.path.join(ctx.proj, "empty"), exist_ok=True)
    b = lambda *d: ":".join([os.path.join(ctx.proj, x) for x in d] + ["/usr/bin", "/bin"])
    # Folders without the name are passed over, a file that cannot be
    # executed too; the first that runs wins.
    r = ctx.run(["pick"], env={"PATH": b("empty", "nowhere", "b1", "b2", "b3")})
    assert (r.rc, r.out) == (0, "second\n"), r
    # Only a file that cannot be executed: 126, EACCES.
    r = ctx.run(["pick"], env={"PATH": b("b1")})
    assert r.rc == 126 and "Permission denied" in r.err, r
    # No #! line: run by sh, with its arguments.
    r = ctx.run(["noshebang", "x"], env={"PATH": b("b2")})
    assert (r.rc, r.out) == (0, "plain x\n"), r
    r = ctx.run(["./b2/noshebang", "y"])  # by path, too
    assert (r.rc, r.out) == (0, "plain y\n"), r
    # An empty entry is the current folder.
    r = ctx.run(["pick"], env={"PATH": ":/usr/bin"}, cwd=os.path.join(ctx.proj, "b3"))
    assert (r.rc, r.out) == (0, "third\n"), r
    r = ctx.run(["no-such-command-srt-e2e"], env={"PATH": b("empty", "b1", "b2")})
    assert r.rc == 127 and "command not found" in r.err, r


def test_missing_bwrap_is_125_and_command_not_run(ctx):
    s = {"bwrapPath": "/nonexistent/bwrap", "filesystem": {"allowWrite": [ctx.proj]}}
    r = ctx.run(["touch", "marker"], settings=s)
    assert r.rc == 125, r
    assert "bwrap" in r.err or "bubblewrap" in r.err, r
    assert not ctx.exists("marker"), r


def test_no_command_is_error(ctx):
    r = ctx.run([])
    assert r.rc == 125, r


# --- stdio ---------------------------------------------------------------

def test_stdin_stdout_binary_safe(ctx):
    data = os.urandom(1 << 20)
    r = ctx.run(["cat"], input=data)
    assert r.rc == 0, r.err
    assert len(r.stdout) == len(data)
    assert r.stdout == data


def test_stdout_and_stderr_separate(ctx):
    # bash (no $SHELL here) looks up the user: glibc's nscd probe is
    # refused but no violation, so no summary follows on stderr
    r = ctx.run(["-c", "echo to-out; echo to-err >&2; printf '\\0\\377' >&2"])
    assert r.rc == 0, r
    assert r.stdout == b"to-out\n", r
    assert r.stderr.endswith(b"to-err\n\x00\xff"), r
    assert b"to-out" not in r.stderr


def test_stdin_eof_reaches_command(ctx):
    r = ctx.run(["wc", "-c"], input=b"x" * 12345)
    assert r.rc == 0, r
    assert r.out.strip() == "12345", r


# --- srt check ---------------------------------------------------------------

def test_check_prints_rules_with_origin(ctx):
    w = ctx.mkdir("writable")
    s = ctx.settings({"filesystem": {"allowWrite": [w], "denyRead": ["~/.ssh"]}})
    r = ctx.run(["check", "--settings", s])
    assert r.rc == 0, r
    lines = r.out.splitlines()
    hits = [i for i, l in enumerate(lines) if w in l and s not in l]
    assert hits, r
    # The file a rule came from is printed on the rule's line or beside it.
    assert any(s in " ".join(lines[max(0, i - 1):i + 2]) for i in hits), r
    assert os.path.join(ctx.home, ".ssh") in r.out, r


def test_check_settings_before_subcommand(ctx):
    s = ctx.settings({"filesystem": {"allowWrite": ["w"]}})
    r = ctx.run(["check"], settings_file=s)
    assert r.rc == 0, r
    assert s in r.out, r


def test_check_invalid_settings_is_125(ctx):
    s = ctx.settings({"filesystem": {"allowWrite": 5}})
    r = ctx.run(["check", "--settings", s])
    assert r.rc == 125, r
    assert s in r.err, r


def test_check_defaults(ctx):
    r = ctx.run(["check"])
    assert r.rc == 0, r
    assert r.out.strip(), r


def test_check_does_not_run_anything(ctx):
    r = ctx.run(["check", "touch", "x"])
    assert r.rc != 0, r
    assert not ctx.exists("x")


def test_python_inside(ctx):
    # The other tests lean on python3 inside the sandbox.
    r = ctx.py("print(6*7)")
    assert r.rc == 0 and r.out == "42\n", r


def test_unusable_bwrap_is_125(ctx):
    for fake in ("/bin/false", "/bin/echo", "/dev/null"):
        s = {"bwrapPath": fake, "filesystem": {"allowWrite": [ctx.proj]}}
        r = ctx.run(["touch", "marker"], settings=s)
        assert r.rc == 125, (fake, r)
        assert r.err.strip(), r
        assert not ctx.exists("marker"), r


def test_arguments_exact_bytes(ctx):
    import subprocess
    long_arg = "x" * 100000
    odd = b"\xff\xfe-not-utf8"
    argv = ctx.argv([PY, "-c", "import sys,os; sys.stdout.buffer.write(b'|'.join(os.fsencode(a) for a in sys.argv[1:]))",
                     long_arg, odd, "tab\there", "nl\nthere"])
    cp = subprocess.run(argv, cwd=ctx.proj, env=ctx.env(), capture_output=True, timeout=30)
    assert cp.returncode == 0, cp.stderr
    assert cp.stdout == b"|".join([long_arg.encode(), odd, b"tab\there", b"nl\nthere"])


def test_broken_pipe_gives_141(ctx):
    import subprocess
    p = ctx.start(["yes"])
    p.stdout.read(4096)
    p.stdout.close()
    assert p.wait(timeout=10) == 141


def test_environment_passes_through(ctx):
    r = ctx.run(["sh", "-c", 'echo "$SRT_E2E_VAR|$HOME"'], env={"SRT_E2E_VAR": "a b=c"})
    assert r.rc == 0, r
    assert r.out == "a b=c|%s\n" % ctx.home, r


# --- srt check: the network section ------------------------------------------

def network_section(out):
    lines = out.splitlines()
    start = next(i for i, l in enumerate(lines) if l.startswith("network"))
    end = next((i for i in range(start + 1, len(lines)) if not lines[i].startswith("  ")), len(lines))
    return lines[start:end]


def test_check_network_none_only_when_nothing_is_allowed(ctx):
    for settings in ({}, {"network": {"deniedDomains": ["evil.test"]}},
                     {"network": {"allowedDomains": ["good.test"], "deniedDomains": ["*"]}}):
        r = ctx.run(["check"], settings=settings)
        assert r.rc == 0, r
        sec = network_section(r.out)
        assert sec[0].startswith("network: none"), (settings, sec)
        assert any(re.match(r"  HTTP proxy +127\.0\.0\.1:3128 inside: srt's, refuses every host$", l) for l in sec), sec
        # timeouts stay in the section
        assert any(re.match(r"  timeout requestHead +30 s +<- default", l) for l in sec), sec
    assert any("allowed domain good.test (refused anyway: deniedDomains \"*\")" in l for l in sec), sec


def test_check_network_lists_what_is_reachable(ctx):
    s = ctx.settings({"network": {"allowedDomains": ["good.test", "localhost:5432"],
                                  "deniedDomains": ["evil.test"],
                                  "deniedResolvedAddresses": ["10.0.0.0/8"],
                                  "allowUnixSockets": ["/run/x.sock"]}})
    r = ctx.run(["check", "--settings", s])
    assert r.rc == 0, r
    sec = network_section(r.out)
    text = "\n".join(sec)
    assert "none" not in sec[0], sec
    assert sec[0].startswith("network: only as listed below"), sec
    assert re.search(r"  HTTP proxy +127\.0\.0\.1:3128 inside: srt's, to the allowed domains only", text), sec
    assert re.search(r"  SOCKS5 proxy +127\.0\.0\.1:1080 inside: srt's, to the allowed domains only", text), sec
    assert re.search(r"  allowed domain good\.test  <- %s:\d+:\d+: network\.allowedDomains\[0\]" % re.escape(s), text), sec
    assert re.search(r"  denied domain  evil\.test  <- ", text), sec
    assert re.search(r"  host port +5432: 127\.0\.0\.1:5432 and \[::1\]:5432 inside are the host's  <- %s:\d+:\d+: "
                     r"network\.allowedDomains\[1\]" % re.escape(s), text), sec
    assert re.search(r"  denied address 10\.0\.0\.0/8  <- %s" % re.escape(s), text), sec
    assert re.search(r"  unix socket +/run/x\.sock: may be connected to  <- %s:\d+:\d+: network\.allowUnixSockets\[0\]"
                     % re.escape(s), text), sec
    assert re.search(r"  timeout tunnelIdle +600 s +<- default", text), sec


def test_check_network_own_proxies_and_host_ports_count_as_reachable(ctx):
    r = ctx.run(["check"], settings={"network": {"httpProxyPort": 8888}})
    sec = network_section(r.out)
    assert r.rc == 0 and sec[0].startswith("network: only as listed below"), r
    assert any(re.match(r"  HTTP proxy +127\.0\.0\.1:3128 inside: yours, forwarded to the host's 127\.0\.0\.1:8888", l)
               for l in sec), sec
    assert any(re.match(r"  SOCKS5 proxy +127\.0\.0\.1:1080 inside: srt's, refuses every host$", l) for l in sec), sec
    # a host loopback port is reachable inside, unless deniedDomains refuses it
    r = ctx.run(["check"], settings={"network": {"allowedDomains": ["127.0.0.1:5432"]}})
    sec = network_section(r.out)
    assert r.rc == 0 and sec[0].startswith("network: only as listed below"), r
    assert any(l.startswith("  host port      5432: ") for l in sec), sec
    r = ctx.run(["check"], settings={"network": {"allowedDomains": ["127.0.0.1:5432"], "deniedDomains": ["*"]}})
    sec = network_section(r.out)
    assert r.rc == 0 and sec[0].startswith("network: none"), r
    assert not any(l.startswith("  host port") for l in sec), sec


# --- srt inside srt ----------------------------------------------------------

def inner_srt(ctx):
    """srt for the sandbox to run: copies of srt and its helpers in the
    test's folder, since the build folder may be under /tmp, which the
    sandbox replaces with a private one."""
    import shutil
    d = os.path.join(ctx.root, "inner-bin")
    os.mkdir(d)
    os.chmod(d, 0o755)
    src = os.path.dirname(os.path.realpath(ctx.srt))
    for name in ("srt", "srt-init", "srt-empty"):
        p = os.path.join(src, name)
        if os.path.exists(p):
            shutil.copy2(p, os.path.join(d, name))
    return os.path.join(d, "srt")


def test_srt_inside_srt_says_which_setting_nesting_needs(ctx):
    inner = "%s -c 'echo inner ran'" % inner_srt(ctx)
    r = ctx.run(["-c", inner])
    assert r.rc == 125, r
    assert "inner ran" not in r.out, r
    assert "srt is running inside an srt sandbox, which refuses nested user namespaces" in r.err, r
    assert '"allowNestedUserNamespaces": true in the outer srt\'s settings' in r.err, r


def test_srt_inside_srt_with_nested_user_namespaces(ctx):
    outer = ctx.settings({"allowNestedUserNamespaces": True})
    inner_settings = ctx.settings({"enableWeakerNestedSandbox": True})
    srt = inner_srt(ctx)
    r = ctx.run(["-c", "%s -c 'echo inner ran'" % srt], settings_file=outer)
    assert r.rc == 125 and "inner ran" not in r.out, r
    assert "refuses nested user namespaces" not in r.err, r
    if ctx.user == "root":
        # The outer sandbox holds no capabilities: uid 0 cannot be mapped.
        assert "srt is running as root inside an srt sandbox" in r.err, r
        assert "run the outer srt as an ordinary user" in r.err, r
        return
    # A fresh /proc cannot be mounted under the outer sandbox's /proc...
    assert "where a fresh /proc cannot be mounted" in r.err, r
    assert '"enableWeakerNestedSandbox": true in the inner srt\'s settings' in r.err, r
    # ...and with the outer one's /proc the inner sandbox runs.
    r = ctx.run(["-c", "%s --settings %s -c 'echo inner ran; touch x'" % (srt, inner_settings)],
                settings_file=outer)
    assert r.rc == 1 and r.out == "inner ran\n", r
    assert not ctx.exists("x"), r
