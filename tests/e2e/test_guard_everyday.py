import pytest
# Everyday work inside a project under the write guard: git, tar, make and mkdir -p go through as on the host, and nothing is reported.
import os
import tarfile

from conftest import PY
from test_guard import GIT_ID, fs_settings, git_out, host, repo, template  # noqa: F401 (template: fixture)


def run(ctx, script, **kw):
    """script in the sandbox (allowWrite ["."]); it must succeed and be reported as nothing."""
    r = ctx.sh("set -e\n" + script, settings=fs_settings(**kw), env=GIT_ID)
    assert r.rc == 0, r
    assert "violation" not in r.err and "Permission denied" not in r.err, r
    return r


def dirty(ctx, template):
    """A repository with a staged, a modified and an untracked file."""
    repo(ctx, template)
    ctx.write("staged.txt", "s\n")
    host(ctx, ["git", "add", "staged.txt"])
    ctx.write("README", "changed\n")
    ctx.write("untracked.txt", "u\n")


def test_git_status_same_inside_and_outside(ctx, template):
    dirty(ctx, template)
    rc, outside = host(ctx, ["git", "status"])
    assert rc == 0, outside
    r = run(ctx, "git status")
    assert r.out == outside, (outside, r)
    r = run(ctx, "git status --porcelain=v2 --branch")
    assert r.out.strip() == git_out(ctx, "status", "--porcelain=v2", "--branch"), r


def test_git_add_and_commit(ctx, template):
    dirty(ctx, template)
    run(ctx, "git add -A && git commit -q -m inside && git commit -q --amend -m inside-amended")
    assert git_out(ctx, "log", "-1", "--format=%s") == "inside-amended"
    assert git_out(ctx, "status", "--porcelain") == ""
    assert git_out(ctx, "show", "HEAD:untracked.txt") == "u"


def test_git_branch_checkout_merge(ctx, template):
    repo(ctx, template)
    run(ctx, """git checkout -q -b topic; echo t > t.txt; git add t.txt; git commit -q -m topic
        git checkout -q main; echo m > m.txt; git add m.txt; git commit -q -m mainline
        git merge -q --no-edit topic; git branch -q old topic; git switch -q -c other; git switch -q main""")
    assert git_out(ctx, "log", "-1", "--format=%s %p").startswith("Merge branch 'topic'")
    assert set(git_out(ctx, "branch", "--format=%(refname:short)").split()) == {"main", "topic", "old", "other"}


def test_git_delete_branch_and_tag(ctx, template):
    # Deleting a ref rewrites packed-refs (through packed-refs.new in git 2.39).
    repo(ctx, template)
    for args in (["branch", "packed"], ["tag", "packed-tag"], ["pack-refs", "--all"],
                 ["branch", "loose"], ["tag", "loose-tag"]):
        git_out(ctx, *args)
    # git branch -d also drops the branch's section from .git/config,
    # which stays protected: the branch goes, git warns, srt reports the
    # refused config.lock, and the config is unchanged.
    before = ctx.read(".git/config")
    r = ctx.sh("set -e\ngit branch -d packed loose; git tag -d packed-tag loose-tag",
               settings=fs_settings(), env=GIT_ID)
    assert r.rc == 0, r
    assert "Update of config-file failed" in r.err, r
    denied = [l for l in r.err.splitlines() if " denied " in l]
    assert denied and all(l.rstrip().split(" (")[0].endswith(".git/config.lock") for l in denied), r
    assert ctx.read(".git/config") == before
    assert git_out(ctx, "branch", "--format=%(refname:short)") == "main"
    assert git_out(ctx, "tag") == ""


def test_git_rebase(ctx, template):
    repo(ctx, template)
    run(ctx, """git checkout -q -b topic HEAD~1; echo t > t.txt; git add t.txt; git commit -q -m on-topic
        git rebase -q main; git checkout -q main; git merge -q --ff-only topic
        git checkout -q -b t2 HEAD~2; echo u > u.txt; git add u.txt; git commit -q -m u
        git rebase -q --onto main HEAD~1; git revert --no-edit HEAD >/dev/null
        git checkout -q -b t3 HEAD~2; git cherry-pick t2~1 >/dev/null""")
    subjects = git_out(ctx, "log", "--format=%s", "topic").split("\n")
    assert subjects[:3] == ["on-topic", "second", "first"], subjects
    assert not ctx.exists(".git/rebase-merge") and not ctx.exists(".git/rebase-apply")


def test_git_stash(ctx, template):
    dirty(ctx, template)
    run(ctx, """git stash -q; test -z "$(git status --porcelain --untracked-files=no)"
        git stash list | grep -q 'stash@{0}'; git stash pop -q; git stash -q -u; git stash drop -q
        echo again >> README; git stash -q; git stash apply -q; git stash clear""")
    assert git_out(ctx, "stash", "list") == ""
    assert ctx.read("README") == "hello\nmore\nagain\n"


def test_git_fetch_and_pull(ctx, template):
    repo(ctx, template)
    git_out(ctx, "checkout", "-q", "-b", "feature")
    ctx.write("f.txt", "f\n")
    git_out(ctx, "add", "f.txt")
    git_out(ctx, "commit", "-q", "-m", "feature")
    git_out(ctx, "push", "-q", "origin", "feature")
    git_out(ctx, "checkout", "-q", "main")
    git_out(ctx, "branch", "-q", "-D", "feature")
    run(ctx, "git fetch -q origin; git pull -q --no-rebase origin feature; git fetch -q --prune origin")
    assert git_out(ctx, "log", "-1", "--format=%s") == "feature"
    assert ctx.exists(".git/FETCH_HEAD")


def test_git_gc(ctx, template):
    repo(ctx, template)
    git_out(ctx, "branch", "b")
    run(ctx, "git gc -q --prune=now; git repack -q -a -d; git count-objects -v >/dev/null; git fsck --no-progress")
    assert git_out(ctx, "rev-list", "--count", "b") == "2"


def test_tar_extract_into_project(ctx):
    src = os.path.join(ctx.root, "src")
    for rel, data in (("pkg/README", "r\n"), ("pkg/src/a.c", "int a;\n"), ("pkg/bin/run", "#!/bin/sh\n")):
        ctx.write(os.path.join(src, rel), data, mode=0o755 if "bin" in rel else 0o644)
    archive = os.path.join(ctx.root, "a.tar.gz")
    with tarfile.open(archive, "w:gz") as t:
        t.add(os.path.join(src, "pkg"), arcname="pkg")
    os.chmod(archive, 0o644)
    run(ctx, 'tar xzf "%s"; tar xzf "%s" -C pkg; ls pkg/pkg/src/a.c' % (archive, archive))
    assert ctx.read("pkg/src/a.c") == "int a;\n"
    assert os.stat(ctx.p("pkg/bin/run")).st_mode & 0o777 == 0o755


def test_make(ctx):
    ctx.write("Makefile", "all: build/out.txt\n"
              "build/out.txt: in.txt\n\tmkdir -p build\n\tcp in.txt $@\n\ttouch -r in.txt $@\n"
              "clean:\n\trm -rf build\n")
    ctx.write("in.txt", "data\n")
    run(ctx, "make -s; make -s clean; make -s; make -s")
    assert ctx.read("build/out.txt") == "data\n"


def test_npm_install_of_local_packages(ctx):
    # npm writes node_modules (renames, links for bin/), package.json and
    # package-lock.json; its cache goes to the private /tmp. A package with
    # a bin entry gets its link in node_modules/.bin.
    lib = os.path.join(ctx.root, "libs", "left-pad-local")
    ctx.write(os.path.join(lib, "package.json"),
              '{"name": "left-pad-local", "version": "1.0.0", "bin": {"lpl": "cli.js"}}\n')
    ctx.write(os.path.join(lib, "index.js"), "module.exports = (s, n) => s.padStart(n);\n")
    ctx.write(os.path.join(lib, "cli.js"), "#!/usr/bin/env node\nconsole.log('lpl');\n", mode=0o755)
    for d in (os.path.join(ctx.root, "libs"), lib):
        os.chmod(d, 0o755)
    ctx.write("package.json", '{"name": "proj", "version": "0.0.1"}\n')
    run(ctx, 'export npm_config_cache=/tmp/npm-cache npm_config_update_notifier=false\n'
             'npm install --offline --no-audit --no-fund --install-links "%s" >/dev/null\n'
             'node -e "console.log(require(\'left-pad-local\')(\'x\', 3))" | grep -qx "  x"\n'
             'test -x node_modules/.bin/lpl' % lib)
    assert ctx.exists("node_modules/left-pad-local/index.js")
    assert ctx.exists("package-lock.json")
    assert "left-pad-local" in ctx.read("package.json")


def test_mkdir_p_of_existing_folders_reports_nothing(ctx, template):
    repo(ctx, template)
    for d in ("src/a", ".vscode", ".claude/commands", "node_modules/x/.idea"):
        ctx.mkdir(d)
    r = run(ctx, "mkdir -p src/a .git .git/refs/heads .git/objects .git/hooks .vscode .claude/commands "
                 "node_modules/x/.idea .; install -d src .git")
    assert r.err == "", r


def test_everyday_leaves_the_host_repository_healthy(ctx, template):
    repo(ctx, template)
    run(ctx, "echo x >> README; git commit -q -am x; git checkout -q -b b; git checkout -q main")
    rc, out = host(ctx, ["git", "fsck", "--no-progress", "--strict"])
    assert rc == 0 and out == "", out
    rc, out = host(ctx, ["git", "status", "--porcelain", "--ignored"])
    assert rc == 0 and out == "", out


SIGNAL_STORM = r'''
import os, signal, sys
hits = [0]
def on_alarm(sig, frame):
    hits[0] += 1
def again(fn, *a):
    # A trapped call that a handler interrupts before srt has it gives
    # EINTR, also unlink's (the kernel's rule for seccomp notification).
    while True:
        try:
            return fn(*a)
        except InterruptedError:
            pass
signal.signal(signal.SIGALRM, on_alarm)
signal.setitimer(signal.ITIMER_REAL, 0.00005, 0.00005)
before = sorted(os.listdir("/proc/self/fd"))
spurious = 0
for i in range(int(sys.argv[1])):
    try:
        fd = os.open("x.lock", os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        spurious += 1
        again(os.unlink, "x.lock")
        continue
    os.close(fd)
    again(os.unlink, "x.lock")
signal.setitimer(signal.ITIMER_REAL, 0, 0)
after = sorted(os.listdir("/proc/self/fd"))
print(hits[0], spurious, before == after)
'''


def test_lock_files_under_a_signal_storm(ctx):
    # A program whose signal handler runs 20,000 times a second (timers,
    # profilers, Go's preemption) creates and removes a lock file: every
    # O_EXCL create must succeed once, exactly as without srt, and no
    # descriptor may appear in the program. The guard performs the call
    # itself; a signal that ended the caller's wait after that would make
    # the retried call fail (EEXIST, ENOENT) and leave the descriptor.
    r = ctx.run([PY, "-c", SIGNAL_STORM, "3000"], settings=fs_settings(), timeout=120)
    assert r.rc == 0, r
    hits, spurious, same_fds = r.out.split()
    assert int(hits) > 300, r          # the storm did happen
    assert spurious == "0", r
    assert same_fds == "True", r
    assert not os.path.exists(os.path.join(ctx.proj, "x.lock")), r
    assert "denied" not in r.err, r


FIFO_ALARM = r'''
import os, signal
class Late(Exception):
    pass
def on_alarm(sig, frame):
    raise Late()
os.mkfifo("ff")
signal.signal(signal.SIGALRM, on_alarm)
signal.alarm(1)
try:
    open("ff", "w")
    print("opened")
except Late:
    print("interrupted")
'''


def test_fifo_open_without_reader_is_interrupted_by_a_handled_signal(ctx):
    # Opening a FIFO for writing waits for a reader; the guard waits for it
    # on the caller's behalf. A signal the program handles (a timeout, ^C
    # in Python) must still end that wait, as it does without srt.
    r = ctx.run([PY, "-c", FIFO_ALARM], settings=fs_settings(), timeout=30)
    assert r.rc == 0 and r.out == "interrupted\n", r
