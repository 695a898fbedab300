# Attacks on the write guard: what a hostile command plants in a project for the user's next git, shell, editor or agent run on the host, checked by using the project on the host afterwards.
#
# Each test runs an attack in the sandbox (allowWrite ["."], the project as
# working directory), then, once srt has returned, does what the owner of the
# project would do on the host (git status, diff, log on a terminal, add,
# commit, checkout, fetch, push, their own alias), as that user, and checks
# that nothing the attack planted ran: the attack's program only touches a
# marker file outside every writable folder (ctx.root/PWNED), which the
# sandbox cannot reach. To see that a test can fail, run it with SRT_BIN set
# to a stand-in that runs the command without a sandbox.
import hashlib
import errno
import os
import select
import shutil
import subprocess
import sys
import tempfile
import time

import pytest

from conftest import DROP, PATH, PY, TMP_BASE, tree_listing

GIT_ID = {"GIT_AUTHOR_NAME": "User", "GIT_AUTHOR_EMAIL": "user@example.invalid",
          "GIT_COMMITTER_NAME": "User", "GIT_COMMITTER_EMAIL": "user@example.invalid",
          "GIT_CONFIG_NOSYSTEM": "1"}

PYVER = "python%d.%d" % sys.version_info[:2]


# --- the project -----------------------------------------------------------------

@pytest.fixture(scope="session")
def template():
    """A repository with two commits, copied into each test's project."""
    d = tempfile.mkdtemp(prefix="srt-e2e-guardtpl-", dir=TMP_BASE)
    w = os.path.join(d, "w")
    os.mkdir(w)
    env = dict(GIT_ID, PATH=PATH, HOME=d, LANG="C.UTF-8")

    def g(*args):
        subprocess.run(["git"] + list(args), cwd=w, env=env, check=True, capture_output=True)

    g("init", "-q", "-b", "main")
    with open(os.path.join(w, "README"), "w") as f:
        f.write("hello\n")
    g("add", "README")
    g("commit", "-q", "-m", "first")
    with open(os.path.join(w, "README"), "a") as f:
        f.write("more\n")
    g("commit", "-q", "-am", "second")
    yield w
    shutil.rmtree(d, ignore_errors=True)


def own_tree(ctx, top):
    ctx.own(top)
    for dirpath, dirnames, filenames in os.walk(top):
        for n in dirnames + filenames:
            os.lchown(os.path.join(dirpath, n), ctx.uid, ctx.uid)


def origin(ctx, template):
    """A bare repository outside the project: the remote the user fetches from."""
    o = os.path.join(ctx.root, "origin.git")
    if not os.path.exists(o):
        shutil.copytree(os.path.join(template, ".git"), o, symlinks=True)
        cfg = os.path.join(o, "config")
        with open(cfg) as f:
            text = f.read()
        with open(cfg, "w") as f:
            f.write(text.replace("bare = false", "bare = true"))
        own_tree(ctx, o)
    return o


def repo(ctx, template, rel="."):
    """Copy the template repository into the project (or a folder of it),
    with the user's global config (an alias they use) and a remote."""
    dst = os.path.normpath(ctx.mkdir(rel))
    shutil.copytree(os.path.join(template, ".git"), os.path.join(dst, ".git"), symlinks=True)
    shutil.copy2(os.path.join(template, "README"), os.path.join(dst, "README"))
    with open(os.path.join(dst, ".git", "config"), "a") as f:
        f.write('[remote "origin"]\n\turl = %s\n\tfetch = +refs/heads/*:refs/remotes/origin/*\n'
                % origin(ctx, template))
    own_tree(ctx, dst)
    gc = os.path.join(ctx.home, ".gitconfig")
    if not os.path.exists(gc):
        ctx.write(gc, "[alias]\n\tlg = log --oneline -3\n")
    return dst


def mark(ctx):
    return os.path.join(ctx.root, "PWNED")


# --- the host side -----------------------------------------------------------------

def host(ctx, args, cwd=".", env=None, tty=False, timeout=10):
    """Run args on the host as the owner of the project, outside srt; with
    tty, stdout and stderr are a terminal (git starts its pager then).
    Returns (exit status, output)."""
    argv = (DROP if ctx.uid else []) + list(args)
    e = dict(GIT_ID, PATH=PATH, HOME=ctx.home, LANG="C.UTF-8", TERM="dumb",
             EDITOR="true", PAGER="cat", GIT_TERMINAL_PROMPT="0")
    e.update(env or {})
    cwd = ctx.p(cwd)
    if not tty:
        cp = subprocess.run(argv, cwd=cwd, env=e, stdin=subprocess.DEVNULL,
                            capture_output=True, timeout=timeout)
        return cp.returncode, (cp.stdout + cp.stderr).decode("utf-8", "replace")
    m, s = os.openpty()
    p = subprocess.Popen(argv, cwd=cwd, env=e, stdin=subprocess.DEVNULL, stdout=s, stderr=s)
    os.close(s)
    out = b""
    end = time.monotonic() + timeout
    while True:
        r, _, _ = select.select([m], [], [], max(0, end - time.monotonic()))
        if not r:
            break
        try:
            chunk = os.read(m, 65536)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    os.close(m)
    try:
        rc = p.wait(timeout=5)
    except subprocess.TimeoutExpired:
        p.kill()
        rc = p.wait()
    return rc, out.decode("utf-8", "replace")


def git_out(ctx, *args, cwd="."):
    rc, out = host(ctx, ["git"] + list(args), cwd=cwd)
    assert rc == 0, (args, out)
    return out.strip()


# What the user does in the project after the run: each could start code that
# a planted config, hook, driver, alias, pager or editor names.
USER_COMMANDS = [
    (["git", "status"], False),
    (["git", "diff"], False),
    (["git", "log", "-1"], True),
    (["git", "lg"], False),
    (["git", "add", "-A"], False),
    (["git", "commit", "-q", "-m", "user work"], False),
    (["git", "commit", "--allow-empty"], False),  # starts the editor
    (["git", "checkout", "-q", "-b", "user-branch"], False),
    (["git", "checkout", "-q", "main"], False),
    (["git", "fetch", "-q", "origin"], False),
    (["git", "push", "-q", "origin", "HEAD:refs/heads/user-push"], False),
]


def user_works_in(ctx, where=".", env=None):
    """The user's git commands in where, on the host; the planted program must not run."""
    log = []
    for args, tty in USER_COMMANDS:
        rc, out = host(ctx, args, cwd=where, env=env, tty=tty)
        log.append("$ %s  -> %d\n%s" % (" ".join(args), rc, out[-400:]))
        assert not os.path.lexists(mark(ctx)), "planted program ran on the host:\n" + "\n".join(log)
    return log


# --- the sandbox side --------------------------------------------------------------

# The attacker's tools, made in the project first: evil.sh touches the marker;
# evilhooks/ holds it under hook names; evil.cfg is a git config that runs it
# every way git can; $E, $H, $C name them.
PROLOGUE = r'''M=%s; E="$PWD/evil.sh"; H="$PWD/evilhooks"; C="$PWD/evil.cfg"
printf '#!/bin/sh\ntouch %%s\nexit 0\n' "$M" > evil.sh; chmod 755 evil.sh
mkdir -p evilhooks; for h in pre-commit commit-msg post-commit post-checkout pre-push post-merge; do cp evil.sh "evilhooks/$h"; done
printf '[core]\n\tfsmonitor = %%s\n\thooksPath = %%s\n\tpager = %%s\n\teditor = %%s\n\tsshCommand = %%s\n[alias]\n\tlg = !%%s\n' "$E" "$H" "$E" "$E" "$E" "$E" > evil.cfg
'''


def fs_settings(new_repos=False, **extra):
    fs = {"allowWrite": ["."]}
    if new_repos:
        fs["allowNewRepositories"] = True
    fs.update(extra)
    return {"filesystem": fs}


def attack(ctx, script, args=(), new_repos=False, env=None, **extra):
    """Run script (after PROLOGUE; args are $1...) in the sandbox from the project folder."""
    e = dict(GIT_ID)
    e.update(env or {})
    r = ctx.run(["-c", PROLOGUE % mark(ctx) + script, "sh"] + list(args),
                settings=fs_settings(new_repos, **extra), env=e)
    assert r.rc != 125, r  # srt ran the command
    assert ctx.exists("evil.sh") and ctx.exists("evil.cfg"), r  # the attack could start
    return r


def denied(r):
    """The sandbox saw EACCES from the guard (not EROFS from a read-only
    mount) and srt reported the refusal."""
    assert "Permission denied" in r.err, r
    assert "Read-only file system" not in r.err, r
    assert "violation" in r.err, r


def listing(ctx, rel):
    return tree_listing(ctx.p(rel))


# --- .git/config: every key that runs code ------------------------------------------

CONFIG_ATTACKS = {
    "fsmonitor": r'''git config core.fsmonitor "$E"; printf '[core]\n\tfsmonitor = %s\n' "$E" >> .git/config''',
    "hooksPath": r'''git config core.hooksPath "$H"; printf '[core]\n\thooksPath = %s\n' "$H" >> .git/config''',
    "pager": r'''git config core.pager "$E"; printf '[core]\n\tpager = %s\n' "$E" >> .git/config''',
    "editor": r'''git config core.editor "$E"; printf '[core]\n\teditor = %s\n' "$E" >> .git/config''',
    "sshCommand": r'''git config core.sshCommand "$E"; git config remote.origin.url ssh://127.0.0.1/x.git
        printf '[core]\n\tsshCommand = %s\n[remote "origin"]\n\turl = ssh://127.0.0.1/x.git\n' "$E" >> .git/config''',
    "include.path": r'''git config include.path "$C"; printf '[include]\n\tpath = %s\n' "$C" >> .git/config''',
    "includeIf": r'''git config 'includeIf.gitdir:/.path' "$C"
        printf '[includeIf "gitdir:/"]\n\tpath = %s\n' "$C" >> .git/config''',
    "alias": r'''git config alias.lg "!$E"; printf '[alias]\n\tlg = !%s\n' "$E" >> .git/config''',
    "filter": r'''echo '* filter=x' > .gitattributes; git config filter.x.clean "$E"; git config filter.x.smudge "$E"
        printf '[filter "x"]\n\tclean = %s\n\tsmudge = %s\n' "$E" "$E" >> .git/config''',
    "diff": r'''echo '* diff=x' > .gitattributes; echo change >> README; git config diff.x.command "$E"
        printf '[diff "x"]\n\tcommand = %s\n\ttextconv = %s\n' "$E" "$E" >> .git/config''',
}


@pytest.mark.parametrize("key", sorted(CONFIG_ATTACKS))
def test_git_config_keys_that_run_code(ctx, template, key):
    repo(ctx, template)
    before = ctx.read(".git/config")
    r = attack(ctx, CONFIG_ATTACKS[key])
    assert ctx.read(".git/config") == before, r
    assert not ctx.exists(".git/config.lock"), r
    denied(r)
    user_works_in(ctx)


def test_config_worktree(ctx, template):
    repo(ctx, template)
    git_out(ctx, "config", "core.repositoryformatversion", "1")
    git_out(ctx, "config", "extensions.worktreeConfig", "true")
    r = attack(ctx, r'''git config --worktree core.fsmonitor "$E"; cat "$C" > .git/config.worktree
        cp "$C" x.cfg; mv x.cfg .git/config.worktree''')
    assert not ctx.exists(".git/config.worktree"), r
    denied(r)
    user_works_in(ctx)


def test_rename_onto_git_config(ctx, template):
    repo(ctx, template)
    before = ctx.read(".git/config")
    r = attack(ctx, r'''cat .git/config "$C" > c1; mv -f c1 .git/config
        cat .git/config "$C" > c2; python3 -c 'import os; os.replace("c2", ".git/config")'
        mv .git/config old-config; cat old-config "$C" > .git/config
        cat .git/config "$C" > .git/config.lock && mv .git/config.lock .git/config''')
    assert ctx.read(".git/config") == before, r
    assert not ctx.exists("old-config"), r
    denied(r)
    user_works_in(ctx)


def test_hard_link_to_git_config(ctx, template):
    repo(ctx, template)
    before = ctx.read(".git/config")
    ino = os.stat(ctx.p(".git/config")).st_ino
    r = attack(ctx, r'''ln .git/config cfg; cat "$C" >> cfg
        python3 -c 'import os; os.link(".git/config", "cfg2"); open("cfg2", "a").write(open("evil.cfg").read())'
        ''')
    assert ctx.read(".git/config") == before, r
    assert os.stat(ctx.p(".git/config")).st_nlink == 1, r
    for n in ("cfg", "cfg2"):
        assert not ctx.exists(n) or os.stat(ctx.p(n)).st_ino != ino, r
    denied(r)
    user_works_in(ctx)


# --- hooks ------------------------------------------------------------------------

def test_hooks_planted(ctx, template):
    repo(ctx, template)
    before = listing(ctx, ".git/hooks")
    r = attack(ctx, r'''cp "$E" .git/hooks/pre-commit; cat "$E" > .git/hooks/post-checkout; chmod +x .git/hooks/post-checkout
        cp "$E" t && mv t .git/hooks/pre-push; cp .git/hooks/pre-commit.sample .git/hooks/commit-msg
        mv .git/hooks/post-update.sample .git/hooks/post-commit
        python3 -c 'import os; fd = os.open(".git/hooks/post-merge", os.O_WRONLY | os.O_CREAT, 0o755); os.write(fd, open("evil.sh", "rb").read())' ''')
    assert listing(ctx, ".git/hooks") == before, r
    denied(r)
    user_works_in(ctx)


def test_disabled_hook_enabled_through_a_descriptor(ctx, template):
    # A hook the user keeps disabled (not executable) in a nested
    # repository, below the read-only mounts at the top: opened for
    # reading (allowed), then made executable or given attributes through
    # the descriptor.
    repo(ctx, template)
    sub = repo(ctx, template, "a/b/sub")
    hook = "a/b/sub/.git/hooks/pre-commit"
    ctx.write(hook, "#!/bin/sh\ntouch %s\nexit 0\n" % mark(ctx), mode=0o644)
    code = ("import os\n"
            "fd = os.open(%r, os.O_RDONLY)\n"
            "for f in (lambda: os.fchmod(fd, 0o755), lambda: os.setxattr(fd, 'user.x', b'1'),\n"
            "          lambda: os.removexattr(fd, 'user.y')):\n"
            "    try:\n"
            "        f()\n"
            "    except OSError as e:\n"
            "        print(e, file=__import__('sys').stderr)\n") % hook
    ctx.write("fd_attack.py", code)
    r = attack(ctx, "python3 fd_attack.py")
    assert os.stat(ctx.p(hook)).st_mode & 0o111 == 0, r
    assert r.err.count("[Errno 13] Permission denied") == 3, r
    denied(r)
    user_works_in(ctx, sub)


def test_hooks_folder_renamed_away_and_recreated(ctx, template):
    repo(ctx, template)
    before = listing(ctx, ".git/hooks")
    ino = os.stat(ctx.p(".git/hooks")).st_ino
    r = attack(ctx, r'''python3 -c 'import os; os.rename(".git/hooks", "hk2"); os.rename("hk2", ".git/hooks")'
        mv .git/hooks .git/hooks.old; mkdir .git/hooks; cp "$E" .git/hooks/pre-commit
        mv .git/hooks hk; cp "$E" hk/pre-commit; cp "$E" hk/post-checkout; mv hk .git/hooks
        cp -r "$H" newhooks; rm -rf .git/hooks; mv newhooks .git/hooks''')
    assert os.stat(ctx.p(".git/hooks")).st_ino == ino, r
    assert listing(ctx, ".git/hooks") == before, r
    assert not ctx.exists(".git/hooks.old") and not ctx.exists("hk") and not ctx.exists("hk2"), r
    denied(r)
    user_works_in(ctx)


# --- replacing the git folder ----------------------------------------------------

def test_git_folder_renamed_away_and_replaced(ctx, template):
    repo(ctx, template)
    ino = os.stat(ctx.p(".git")).st_ino
    before = ctx.read(".git/config")
    r = attack(ctx, r'''mv .git old.git; git init -q; cat "$C" >> .git/config; cp "$E" .git/hooks/pre-commit
        cp -r .git g2 && cat "$C" >> g2/config; cp "$E" g2/hooks/pre-commit; mv -T g2 .git
        python3 -c 'import os; os.rename(".git", "g3")'
        printf 'gitdir: %s/g2\n' "$PWD" > .git''')
    assert os.stat(ctx.p(".git")).st_ino == ino, r
    assert ctx.read(".git/config") == before, r
    assert not ctx.exists("old.git") and not ctx.exists("g3"), r
    denied(r)
    user_works_in(ctx)


def test_git_folder_loses_head_objects_refs(ctx, template):
    # Without them it is no longer a git folder: its config would be an
    # ordinary file, and putting them back a new repository.
    repo(ctx, template)
    before = ctx.read(".git/config")
    r = attack(ctx, r'''mv .git/HEAD HEAD.old; mv .git/refs refs.old; mv .git/objects objects.old
        cat "$C" >> .git/config; mv refs.old .git/refs; mv objects.old .git/objects; mv HEAD.old .git/HEAD''')
    for n in ("HEAD", "refs", "objects"):
        assert ctx.exists(".git/" + n), (n, r)
    assert ctx.read(".git/config") == before, r
    denied(r)
    assert git_out(ctx, "rev-list", "--count", "HEAD") == "2"
    user_works_in(ctx)


def test_commondir_to_attacker_folder(ctx, template):
    repo(ctx, template)
    r = attack(ctx, r'''mkdir evilc && cp -r .git/objects .git/refs evilc/ && cp "$C" evilc/config
        echo "$PWD/evilc" > .git/commondir; echo ../evilc > t && mv t .git/commondir''')
    assert not ctx.exists(".git/commondir"), r
    denied(r)
    user_works_in(ctx)


def test_new_worktree_entry_with_commondir(ctx, template):
    repo(ctx, template)
    r = attack(ctx, r'''mkdir evilc && cp -r .git/objects .git/refs evilc/ && cp "$C" evilc/config
        mkdir -p .git/worktrees/x; echo "$PWD/evilc" > .git/worktrees/x/commondir
        echo "$PWD/wt/.git" > .git/worktrees/x/gitdir; echo ref: refs/heads/main > .git/worktrees/x/HEAD
        mkdir -p wt; echo "gitdir: $PWD/.git/worktrees/x" > wt/.git''')
    # (an empty .git/worktrees may be made: the folder on the way)
    assert not ctx.exists(".git/worktrees/x"), r
    assert not ctx.exists("wt/.git"), r
    denied(r)
    user_works_in(ctx, "wt")
    assert git_out(ctx, "rev-parse", "--git-dir", cwd="wt") == ctx.p(".git")


def test_existing_worktree_commondir_and_config(ctx, template):
    repo(ctx, template)
    git_out(ctx, "worktree", "add", "-q", "-b", "wt2", "wt2")
    before = listing(ctx, ".git/worktrees")
    texts = {n: ctx.read(".git/worktrees/wt2/" + n) for n in ("commondir", "gitdir")}
    r = attack(ctx, r'''mkdir evilc && cp -r .git/objects .git/refs evilc/ && cp "$C" evilc/config
        echo "$PWD/evilc" > .git/worktrees/wt2/commondir; echo "$PWD/x" > .git/worktrees/wt2/gitdir
        cat "$C" > .git/worktrees/wt2/config.worktree; mkdir .git/worktrees/wt2/hooks
        cp "$E" .git/worktrees/wt2/hooks/pre-commit''')
    for n, t in texts.items():
        assert ctx.read(".git/worktrees/wt2/" + n) == t, (n, r)
    assert listing(ctx, ".git/worktrees") == before, r
    denied(r)
    user_works_in(ctx, "wt2")


def test_git_worktree_add_is_a_new_repository(ctx, template):
    repo(ctx, template)
    r = attack(ctx, r'''git worktree add -q -b w wt && cd wt && cat "$C" >> "$(git rev-parse --git-dir)/config.worktree"''')
    assert len(git_out(ctx, "worktree", "list", "--porcelain").split("\n\n")) == 1, r
    assert not ctx.exists(".git/worktrees/wt"), r
    assert not ctx.exists("wt/.git"), r
    assert "allowNewRepositories" in r.err, r


# --- other files in the git folder ---------------------------------------------------

def _blob_id(data):
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def test_objects_alternates_outside(ctx, template):
    repo(ctx, template)
    blob = _blob_id(b"attacker object\n")
    r = attack(ctx, r'''git init -q --bare /tmp/s && echo attacker object | git -C /tmp/s hash-object -w --stdin
        mkdir store && cp -r /tmp/s/objects/* store/
        echo "$PWD/store" > .git/objects/info/alternates; echo "$PWD/store" > .git/objects/info/http-alternates
        echo /tmp/s/objects >> .git/objects/info/alternates''')
    assert os.path.exists(ctx.p("store/%s/%s" % (blob[:2], blob[2:]))), r  # the attack was well-formed
    rc, out = host(ctx, ["git", "cat-file", "-e", blob])
    assert rc != 0, (out, r)
    assert not ctx.exists(".git/objects/info/alternates"), r
    assert not ctx.exists(".git/objects/info/http-alternates"), r
    denied(r)


def test_info_exclude_hides_a_file(ctx, template):
    repo(ctx, template)
    before = ctx.read(".git/info/exclude")
    r = attack(ctx, r'''cp "$E" backdoor.sh; echo backdoor.sh >> .git/info/exclude
        cp .git/info/exclude x; echo '*.sh' >> x; mv x .git/info/exclude''')
    assert "?? backdoor.sh" in git_out(ctx, "status", "--porcelain"), r
    assert ctx.read(".git/info/exclude") == before, r
    denied(r)


def test_info_attributes(ctx, template):
    repo(ctx, template)
    r = attack(ctx, r'''echo '* filter=x diff=x merge=x' > .git/info/attributes''')
    assert git_out(ctx, "check-attr", "-a", "README") == "", r
    assert not ctx.exists(".git/info/attributes"), r
    denied(r)


def test_info_grafts_rewrite_history(ctx, template):
    repo(ctx, template)
    r = attack(ctx, r'''git rev-parse HEAD > .git/info/grafts''')
    assert git_out(ctx, "rev-list", "--count", "HEAD") == "2", r
    assert not ctx.exists(".git/info/grafts"), r
    denied(r)


def test_branches_remotes_description(ctx, template):
    repo(ctx, template)
    desc = ctx.read(".git/description")
    r = attack(ctx, r'''mkdir -p .git/branches .git/remotes; echo "$PWD/elsewhere.git" > .git/branches/evil
        printf 'URL: %s/elsewhere.git\nPull: refs/heads/main:refs/heads/main\n' "$PWD" > .git/remotes/evil2
        echo pwned > .git/description''')
    assert git_out(ctx, "remote") == "origin", r
    assert ctx.read(".git/description") == desc, r
    assert not ctx.exists(".git/remotes"), r
    denied(r)


def test_unknown_names_in_git_folder(ctx, template):
    repo(ctx, template)
    before = listing(ctx, ".git")
    r = attack(ctx, r'''echo x > .git/foo; mkdir .git/evil; echo x > .git/config2; echo x > .git/info/evil
        ln -s "$E" .git/link; mkfifo .git/fifo; cp "$C" .git/modules; echo "$PWD/x" > .git/gitdir''')
    assert listing(ctx, ".git") == before, r
    denied(r)


def test_new_submodule_git_folder(ctx, template):
    repo(ctx, template)
    r = attack(ctx, r'''mkdir -p .git/modules/lib && cp -r .git/objects .git/refs .git/HEAD .git/modules/lib/
        cp "$C" .git/modules/lib/config; mkdir -p lib; echo 'gitdir: ../.git/modules/lib' > lib/.git''')
    assert not ctx.exists(".git/modules/lib"), r
    assert not ctx.exists("lib/.git"), r
    denied(r)
    user_works_in(ctx, "lib")


def test_git_everyday_work_in_git_folder_is_allowed(ctx, template):
    # objects/, refs/, logs/, index, HEAD, ORIG_HEAD, MERGE_HEAD,
    # COMMIT_EDITMSG, packed-refs and their locks: what commit, branch,
    # merge, rebase, stash, tag and gc write.
    repo(ctx, template)
    before = ctx.read(".git/config")
    hooks = listing(ctx, ".git/hooks")
    r = ctx.sh("""set -e
        echo more >> README; git add -A; git commit -q -m inside1
        git branch b1; git checkout -q -b b2; echo y > f; git add f; git commit -q -m inside2
        git checkout -q main; echo z > g; git add g; git commit -q -m inside3
        git merge -q --no-edit b2; git checkout -q b1; git rebase -q main; git checkout -q main
        echo w >> README; git stash -q; git stash pop -q; git commit -q -am inside4
        git tag t1; git pack-refs --all; git gc -q --prune=now; git fsck --no-progress; echo OK""",
               settings=fs_settings(), env=GIT_ID)
    assert r.rc == 0 and "OK" in r.out, r
    assert "violation" not in r.err, r
    log = git_out(ctx, "log", "--format=%s")
    for m in ("inside1", "inside2", "inside3", "inside4", "Merge branch 'b2'"):
        assert m in log, (m, log)
    assert git_out(ctx, "status", "--porcelain") == ""
    assert ctx.exists(".git/packed-refs") and ctx.exists(".git/ORIG_HEAD"), r
    assert ctx.read(".git/config") == before
    assert listing(ctx, ".git/hooks") == hooks


def test_rebase_todo_exec_line(ctx, template):
    # A rebase stopped at "edit": the todo is writable, but an exec line in it
    # would run when the user continues the rebase on the host.
    repo(ctx, template)
    r = attack(ctx, r'''GIT_SEQUENCE_EDITOR='sed -i 1s/^pick/edit/' git rebase -q -i HEAD~1
        T=.git/rebase-merge/git-rebase-todo; test -f $T || exit 3
        cp $T t; printf 'exec %s\n' "$E" >> t; mv t $T
        printf 'x %s\n' "$E" >> $T''')
    assert r.rc != 3, r  # the rebase stopped as planned
    assert ctx.exists(".git/rebase-merge"), r
    # The rename carrying an exec line in was refused; the line appended
    # in place was turned into a comment once the sandbox ended.
    assert "rebase todo" in r.err and "Permission denied" in r.err, r
    todo = ctx.read(".git/rebase-merge/git-rebase-todo")
    assert "# srt: refused: x " in todo, todo
    rc, out = host(ctx, ["git", "rebase", "--continue"])
    assert not os.path.lexists(mark(ctx)), (out, r)


# --- new repositories --------------------------------------------------------------

@pytest.mark.parametrize("sub", ["sub", "a/b/c/d/e/sub"], ids=["depth1", "depth6"])
def test_git_init_refused(ctx, template, sub):
    repo(ctx, template)
    ctx.mkdir(sub)
    r = attack(ctx, r'''git init -q %s && cd %s && cat "$C" >> .git/config && git commit -q --allow-empty -m x''' % (sub, sub))
    assert r.rc != 0, r
    assert "allowNewRepositories" in r.err, r
    assert not ctx.exists(sub + "/.git"), r
    assert git_out(ctx, "rev-parse", "--show-toplevel", cwd=sub) == ctx.proj
    user_works_in(ctx, sub)


def git_still_the_projects(ctx, r, folders):
    """No .git was made in folders: git there still uses the project's,
    and the user's git commands there run nothing planted."""
    for d in folders:
        assert not ctx.exists(d + "/.git"), (d, r)
    denied(r)
    for d in folders:
        assert git_out(ctx, "rev-parse", "--git-dir", cwd=d) == ctx.p(".git"), d
        user_works_in(ctx, d)


def test_git_file_in_subfolder(ctx, template):
    repo(ctx, template)
    other = repo(ctx, template, os.path.join(ctx.root, "other"))  # the user's other repository
    ctx.mkdir("sub")
    ctx.mkdir("sub2")
    r = attack(ctx, r'''printf 'gitdir: %s/.git\n' "$1" > sub/.git
        mkdir -p pl/objects pl/refs/heads; cp "$C" pl/config; cp .git/refs/heads/main pl/refs/heads/
        cp -r .git/objects pl/; echo ref: refs/heads/main > pl/HEAD
        printf 'gitdir: /tmp\n' > t; mv t sub2/.git; printf 'gitdir: %s/pl\n' "$PWD" > sub2/.git''', [other])
    git_still_the_projects(ctx, r, ("sub", "sub2"))


def test_git_symlink_in_subfolder(ctx, template):
    repo(ctx, template)
    other = repo(ctx, template, os.path.join(ctx.root, "other"))
    ctx.mkdir("sub")
    ctx.mkdir("sub2")
    r = attack(ctx, r'''ln -s "$1/.git" sub/.git
        mkdir -p pl/refs/heads; cp "$C" pl/config; cp .git/refs/heads/main pl/refs/heads/
        cp -r .git/objects pl/; echo ref: refs/heads/main > pl/HEAD
        ln -s ../pl sub2/.git; ln -s ../pl t && mv t sub2/.git''', [other])
    git_still_the_projects(ctx, r, ("sub", "sub2"))


def test_bare_repository_in_subfolder(ctx, template):
    repo(ctx, template)
    for d in ("b1", "b2", "b3"):
        ctx.mkdir(d)
    r = attack(ctx, r'''mkdir -p b1/objects b1/refs; cp "$C" b1/config; echo ref: refs/heads/main > b1/HEAD
        echo ref: refs/heads/main > b2/HEAD; cp "$C" b2/config; cp -r .git/objects b2/; cp -r .git/refs b2/
        echo ref: refs/heads/main > b3/HEAD; cp "$C" b3/config; echo "$PWD/.git" > b3/commondir''')
    denied(r)
    for d in ("b1", "b2", "b3"):
        assert git_out(ctx, "rev-parse", "--git-dir", cwd=d) == ctx.p(".git"), (d, r)
        user_works_in(ctx, d)


def test_gitlink_to_new_repository(ctx, template):
    # A sub-repository registered as a submodule: git status in the project
    # root runs git status in it, and so its fsmonitor.
    repo(ctx, template)
    r = attack(ctx, r'''git init -q sub && (cd sub && cat "$C" >> .git/config && git -c core.hooksPath=/dev/null commit -q --allow-empty -m s)
        git add sub; git commit -q -m addsub
        printf '[submodule "sub"]\n\tpath = sub\n\turl = ./sub\n' > .gitmodules''')
    assert not ctx.exists("sub/.git") and not ctx.exists(".gitmodules"), r
    denied(r)
    user_works_in(ctx)


def test_gitlink_to_existing_nested_repository(ctx, template):
    repo(ctx, template)
    repo(ctx, template, "vendor/lib")
    before = ctx.read("vendor/lib/.git/config")
    hooks = listing(ctx, "vendor/lib/.git/hooks")
    r = attack(ctx, r'''git add vendor/lib; git commit -q -m vendor
        cat "$C" >> vendor/lib/.git/config; cp "$E" vendor/lib/.git/hooks/pre-commit''')
    assert ctx.read("vendor/lib/.git/config") == before, r
    assert listing(ctx, "vendor/lib/.git/hooks") == hooks, r
    denied(r)
    user_works_in(ctx)
    user_works_in(ctx, "vendor/lib")


def test_git_submodule_add(ctx, template):
    repo(ctx, template)
    r = attack(ctx, r'''git -c protocol.file.allow=always submodule add -q "$1" lib
        git -C lib config core.fsmonitor "$E"; git commit -q -m lib''', [origin(ctx, template)])
    assert not ctx.exists(".gitmodules") and not ctx.exists(".git/modules/lib") and not ctx.exists("lib/.git"), r
    denied(r)
    user_works_in(ctx)


# --- links ---------------------------------------------------------------------------

def test_symlink_to_git_folder(ctx, template):
    repo(ctx, template)
    before = ctx.read(".git/config")
    hooks = listing(ctx, ".git/hooks")
    r = attack(ctx, r'''ln -s .git x; cat "$C" >> x/config; cp "$E" x/hooks/pre-commit
        ln -s .git/hooks y; cp "$E" y/post-checkout; ln -s .git/config z; cat "$C" >> z
        ln -s "$PWD/.git" /tmp/g; cat "$C" >> /tmp/g/config; cp "$E" /tmp/g/hooks/pre-push''')
    assert ctx.read(".git/config") == before, r
    assert listing(ctx, ".git/hooks") == hooks, r
    denied(r)
    user_works_in(ctx)


def test_symlink_in_place_of_missing_protected_name(ctx, template):
    repo(ctx, template)
    r = attack(ctx, r'''ln -s "$E" .git/hooks/pre-commit; ln -s "$E" .git/hooks/post-checkout
        ln -s ../evil.cfg .git/config.worktree; mkdir -p pl/commands; echo evil > pl/commands/x.md
        echo '{}' > pl/settings.json; echo '{}' > pl/tasks.json
        ln -s pl .claude; ln -s pl .vscode; ln -s evil.sh .bashrc; ln -s evil.cfg .gitconfig
        mkdir -p a/.claude; ln -s ../../pl a/.claude/commands''')
    for n in (".git/hooks/pre-commit", ".git/hooks/post-checkout", ".git/config.worktree", ".claude",
              ".vscode", ".bashrc", ".gitconfig", "a/.claude/commands"):
        assert not ctx.exists(n), (n, r)
    denied(r)
    user_works_in(ctx)


FLIP = r'''
import os, sys, time
os.makedirs("harmless", exist_ok=True)
if os.fork() == 0:
    end = time.time() + 1.0
    i = 0
    while time.time() < end:
        try:
            os.symlink(".git" if i % 2 else "harmless", "l%d" % i)
            os.rename("l%d" % i, "link")
        except OSError:
            pass
        i += 1
    os._exit(0)
cfg, hook = open("evil.cfg").read(), open("evil.sh").read()
end = time.time() + 1.0
n = 0
while time.time() < end:
    for p, data in (("link/config", cfg), ("link/hooks/pre-commit", hook), ("link/hooks/post-checkout", hook)):
        try:
            fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o755)
            os.write(fd, data.encode())
            os.close(fd)
            n += 1
        except OSError:
            pass
os.wait()
print("writes", n)
'''


def test_symlink_swapped_between_check_and_use(ctx, template):
    repo(ctx, template)
    before = ctx.read(".git/config")
    hooks = listing(ctx, ".git/hooks")
    r = attack(ctx, 'python3 -c "$1"', [FLIP])
    assert r.rc == 0 and "writes" in r.out, r
    assert int(r.out.split()[-1]) > 0, r  # the writes through the harmless side went through
    assert ctx.read(".git/config") == before, r
    assert listing(ctx, ".git/hooks") == hooks, r
    user_works_in(ctx)


# Two sandboxes at once on one project: one renames folders and flips a link,
# the other writes through them.
RENAMER = r'''
import os, time
os.makedirs("harmless", exist_ok=True)
os.makedirs("stage", exist_ok=True)
print("go", flush=True)
end = time.time() + 1.0
i = 0
while time.time() < end:
    try:
        os.symlink(".git" if i % 2 else "harmless", "l%d" % i)
        os.rename("l%d" % i, "link")
    except OSError:
        pass
    for a, b in (("sub", "s2"), ("s2", "sub"), ("stage", ".claude"), (".claude", "stage"),
                 ("sub/.git", "sub/g"), ("sub/g", "sub/.git")):
        try:
            os.rename(a, b)
        except OSError:
            pass
    i += 1
print("flips", i)
'''

WRITER = r'''
import os, time
cfg, hook = open("evil.cfg").read(), open("evil.sh").read()
end = time.time() + 1.0
while time.time() < end:
    for p, data in (("link/config", cfg), ("link/hooks/pre-commit", hook), ("s2/.git/config", cfg),
                    ("sub/.git/hooks/pre-commit", hook), ("sub/g/config", cfg),
                    ("stage/settings.json", "{}"), (".claude/settings.json", "{}")):
        try:
            fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o755)
            os.write(fd, data.encode())
            os.close(fd)
        except OSError:
            pass
print("done")
'''


def test_concurrent_sandboxes_race_one_folder(ctx, template):
    repo(ctx, template)
    repo(ctx, template, "sub")
    keep = {d: (ctx.read(d + "/.git/config"), listing(ctx, d + "/.git/hooks")) for d in (".", "sub")}
    s = ctx.settings(fs_settings())
    ctx.run(["-c", PROLOGUE % mark(ctx)], settings_file=s)  # the tools, before the race
    a = ctx.start(["-c", 'python3 -c "$1"', "sh", RENAMER], settings_file=s, env=GIT_ID)
    ctx.wait_output(a, "go")
    b = ctx.start(["-c", 'python3 -c "$1"', "sh", WRITER], settings_file=s, env=GIT_ID)
    ra, rb = ctx.finish(a), ctx.finish(b)
    assert ra.rc == 0 and rb.rc == 0 and "done" in rb.out, (ra, rb)
    for d, (cfg, hooks) in keep.items():
        assert ctx.read(d + "/.git/config") == cfg, (d, ra, rb)
        assert listing(ctx, d + "/.git/hooks") == hooks, (d, ra, rb)
    assert ctx.exists("sub/.git") and not ctx.exists("s2"), (ra, rb)
    assert not ctx.exists(".claude"), (ra, rb)
    user_works_in(ctx)
    user_works_in(ctx, "sub")


# --- protected names at any depth ---------------------------------------------------

NAMES = [".bashrc", ".zshrc", ".profile", ".gitmodules", ".mcp.json", ".vscode/tasks.json",
         ".idea/workspace.xml", ".claude/settings.json", ".claude/commands/x.md", ".claude/hooks/pre.sh",
         ".claude/skills/x/SKILL.md", ".hg/hgrc"]


@pytest.mark.parametrize("where", ["", "a/", "a/b/c/d/e/f/"], ids=["top", "depth1", "depth6"])
def test_protected_names_at_any_depth(ctx, where):
    if where:
        ctx.mkdir(where.rstrip("/"))
    script = ""
    for n in NAMES:
        p = where + n
        script += ('mkdir -p "$(dirname %s)"; echo evil > %s; cp "$E" %s; echo evil > t && mv -f t %s; '
                   'ln -s "$E" %s\n' % (p, p, p, p, p))
    r = attack(ctx, script)
    for n in NAMES:
        assert not ctx.exists(where + n), (n, r)
    for d in (".vscode", ".idea"):
        assert not ctx.exists(where + d), (d, r)
    denied(r)


def test_ancestors_of_protected_names_cannot_move(ctx):
    files = [".claude/settings.json", ".claude/commands/a.md", ".vscode/tasks.json",
             "deep/x/y/.claude/settings.json"]
    for f in files:
        ctx.write(f, "{}\n")
    inodes = {d: os.stat(ctx.p(d)).st_ino for d in (".claude", ".vscode", "deep/x/y/.claude")}
    r = attack(ctx, r'''mv .claude c2 && mkdir .claude && echo evil > .claude/settings.json
        mv .vscode x; mkdir -p v && echo evil > v/tasks.json && mv -T v .vscode
        cp -r .claude c3; echo evil > c3/settings.json; rm -rf .claude; mv -T c3 .claude
        mv deep/x/y/.claude deep/c; rm -rf deep/x/y/.claude
        ln -s c3 l && mv -T l .claude''')
    for f in files:
        assert ctx.read(f) == "{}\n", (f, r)
    for d, ino in inodes.items():
        assert os.lstat(ctx.p(d)).st_ino == ino, (d, r)
    for n in ("c2", "x", "deep/c"):
        assert not ctx.exists(n), (n, r)
    denied(r)


def test_folders_holding_protected_paths(ctx, template):
    # With allowNewRepositories: a folder holding a nested repository
    # cannot be moved, so a new repository cannot take its place.
    repo(ctx, template)
    repo(ctx, template, "pkg/sub")
    sub_git = os.stat(ctx.p("pkg/sub/.git")).st_ino
    r = attack(ctx, r'''mv pkg p2 && mkdir -p pkg && git init -q pkg/sub && cat "$C" >> pkg/sub/.git/config
        mv pkg/sub pkg/s2 && git init -q pkg/sub && cat "$C" >> pkg/sub/.git/config''', new_repos=True)
    assert os.stat(ctx.p("pkg/sub/.git")).st_ino == sub_git, r
    for n in ("p2", "pkg/s2"):
        assert not ctx.exists(n), (n, r)
    denied(r)
    user_works_in(ctx, "pkg/sub")


def test_moved_protected_names_stay_protected(ctx, template):
    # A folder holding protected names (no repository) may be moved: the
    # names stay protected where they land, and none can be made anew
    # where they were, repositories allowed or not.
    repo(ctx, template)
    ctx.write("deep/x/y/.claude/settings.json", "{}\n")
    ctx.write("w/.vscode/tasks.json", "{}\n")
    r = attack(ctx, r'''mv deep d2 && mv w w2 || exit 3
        mkdir -p deep/x/y/.claude w/.vscode
        cp "$E" deep/x/y/.claude/settings.json; cp "$E" w/.vscode/tasks.json
        cat "$E" >> d2/x/y/.claude/settings.json; cat "$E" >> w2/.vscode/tasks.json
        mv d2/x/y/.claude/settings.json d2/x/y/.claude/s; exit 0''', new_repos=True)
    assert r.rc == 0, r
    assert ctx.read("d2/x/y/.claude/settings.json") == "{}\n", r
    assert ctx.read("w2/.vscode/tasks.json") == "{}\n", r
    assert not ctx.exists("deep/x/y/.claude/settings.json") and not ctx.exists("w/.vscode/tasks.json"), r
    assert not ctx.exists("d2/x/y/.claude/s"), r
    denied(r)


# --- start-up files in $HOME ----------------------------------------------------------

HOME_FILES = [".ssh/authorized_keys", ".config/git/config", ".local/bin/ls",
              ".local/lib/%s/site-packages/evil.pth" % PYVER, ".npmrc", ".cargo/config.toml",
              ".bash_aliases", ".gnupg/gpg.conf", ".pyenv/shims/python3", ".local/share/direnv/allow/x"]


@pytest.mark.parametrize("name", HOME_FILES, ids=lambda n: n.replace("/", "_"))
def test_home_startup_files(ctx, template, name):
    # The project is $HOME (srt passes the caller's HOME on).
    repo(ctx, template)
    r = attack(ctx, r'''printf 'import os; os.system("touch %%s")\n' "$M" > p.pth
        case "%(n)s" in *.pth) S=p.pth;; */config) S=evil.cfg;; *) S=evil.sh;; esac
        T=~/%(n)s; mkdir -p "$(dirname "$T")"; cp "$S" "$T"; cat "$S" >> "$T"
        cp "$S" t && mv -f t "$T"; ln -s "$PWD/$S" "$T"; ln "$S" "$T"''' % {"n": name},
               env={"HOME": ctx.proj})
    assert not ctx.exists(name), r
    denied(r)
    home = {"HOME": ctx.proj, "PATH": ctx.p(".local/bin") + ":" + PATH}
    for args in (["git", "status"], ["ls"], ["python3", "-c", "pass"]):
        out = host(ctx, args, env=home)
        assert not os.path.lexists(mark(ctx)), (args, out, r)


def test_home_names_elsewhere_are_ordinary(ctx):
    # The same names in a project that is not $HOME can be written.
    names = [".ssh/authorized_keys", ".config/git/config", ".local/bin/ls", ".npmrc", ".cargo/config.toml"]
    r = attack(ctx, "".join('mkdir -p "$(dirname %s)" && cp "$E" %s || exit 1\n' % (n, n) for n in names))
    assert r.rc == 0, r
    for n in names:
        assert ctx.exists(n), (n, r)


def test_home_config_git_protected_when_config_is_writable(ctx, template):
    # allowWrite ["~/.config"] still keeps ~/.config/git.
    repo(ctx, template)
    ctx.mkdir(os.path.join(ctx.home, ".config"))
    r = attack(ctx, r'''mkdir -p ~/.config/git; cp "$C" ~/.config/git/config; echo ok > ~/.config/other''',
               allowWrite=[".", "~/.config"])
    assert not os.path.exists(os.path.join(ctx.home, ".config/git/config")), r
    assert os.path.exists(os.path.join(ctx.home, ".config/other")), r
    denied(r)
    user_works_in(ctx)


# --- deny rules on paths that do not exist yet ---------------------------------------

def test_deny_write_path_that_does_not_exist_yet(ctx):
    r = attack(ctx, r'''mkdir -p conf; echo evil > conf/x; echo evil > t; mv t conf/x; ln -s ../evil.sh conf/x
        rmdir conf; mkdir el; ln -s el conf; echo evil > conf/x
        mkdir c2; echo evil > c2/x; mv -T c2 conf''', denyWrite=["./conf/x"])
    assert not ctx.exists("conf/x"), r
    assert not os.path.islink(ctx.p("conf")), r
    assert not ctx.exists("el/x") or not os.path.islink(ctx.p("conf")), r
    denied(r)


def test_deny_read_path_that_does_not_exist_yet(ctx):
    s = fs_settings(denyRead=["./secrets"])
    r = ctx.sh("ls -A; mkdir secrets", settings=s)
    assert "secrets" not in r.out, r  # no placeholder
    assert r.rc != 0, r
    assert "File exists" not in r.err and "Permission denied" in r.err, r
    assert not ctx.exists("secrets"), r
    r = attack(ctx, r'''echo x > secrets; mkdir d && echo k > d/key && mv -T d secrets; ln -s /etc secrets
        python3 -c 'import os; os.mkdir("secrets")' ''', denyRead=["./secrets"])
    assert not ctx.exists("secrets"), r
    denied(r)


# --- allowNewRepositories and the private /tmp -----------------------------------------

def test_allow_new_repositories(ctx, template):
    repo(ctx, template)
    r = ctx.sh("git init -q sub && cd sub && git commit -q --allow-empty -m x && echo ok",
               settings=fs_settings(new_repos=True), env=GIT_ID)
    assert r.rc == 0 and "ok" in r.out, r
    assert git_out(ctx, "log", "--format=%s", cwd="sub") == "x"


def test_allow_new_repositories_keeps_existing_git_folder(ctx, template):
    repo(ctx, template)
    ino = os.stat(ctx.p(".git")).st_ino
    before = ctx.read(".git/config")
    r = attack(ctx, r'''mv .git old.git; cp -r .git g2; cat "$C" >> g2/config; cp "$E" g2/hooks/pre-commit
        mv -T g2 .git; rm -rf .git/hooks; git init -q; cat "$C" >> .git/config''', new_repos=True)
    assert os.stat(ctx.p(".git")).st_ino == ino, r
    assert ctx.read(".git/config") == before, r
    denied(r)
    user_works_in(ctx)


def test_allow_new_repositories_cannot_take_an_old_ones_place(ctx, template):
    repo(ctx, template)
    repo(ctx, template, "vendor/lib")
    ino = os.stat(ctx.p("vendor/lib/.git")).st_ino
    r = attack(ctx, r'''git init -q newr && cat "$C" >> newr/.git/config && cp "$E" newr/.git/hooks/pre-commit
        mv vendor v2 && mv v2 vendor
        { mv vendor/lib old && mv -T newr vendor/lib; } || { mv vendor/lib/.git vendor/lib/g && mv -T newr/.git vendor/lib/.git; }''',
               new_repos=True)
    assert os.stat(ctx.p("vendor/lib/.git")).st_ino == ino, r
    denied(r)
    user_works_in(ctx, "vendor/lib")


def test_repositories_in_private_tmp(ctx, template):
    repo(ctx, template)
    r = ctx.sh("git init -q /tmp/r && git -C /tmp/r commit -q --allow-empty -m x && "
               "git clone -q \"$PWD\" /tmp/c && git -C /tmp/c log --format=%s && "
               "git -C /tmp/c config core.fsmonitor /bin/true && echo ok",
               settings=fs_settings(), env=GIT_ID)
    assert r.rc == 0 and "second" in r.out and "ok" in r.out, r


# --- no placeholders -------------------------------------------------------------------

def test_no_placeholders_during_the_run(ctx):
    p = ctx.start(["-c", "ls -A; echo READY; sleep 1"], settings=fs_settings())
    out = ctx.wait_output(p, "READY")
    during = sorted(os.listdir(ctx.proj))
    r = ctx.finish(p)
    assert r.rc == 0, r
    assert during == [], (during, r)
    assert out.split(b"READY")[0].strip() == b"", r
    assert os.listdir(ctx.proj) == [], r


def test_no_placeholders_in_git_status(ctx, template):
    repo(ctx, template)
    before = tree_listing(ctx.proj) - {x for x in tree_listing(ctx.proj) if x[0] == ".git/index"}
    r = ctx.sh("git status --porcelain --ignored --untracked-files=all; echo END", settings=fs_settings(), env=GIT_ID)
    assert r.rc == 0 and r.out.strip() == "END", r
    after = tree_listing(ctx.proj)
    assert {x for x in after if x[0] != ".git/index"} == before, r


# --- links with protected names do not stop srt ---------------------------------------------

LINK_SETS = {
    "dangling": [(".git", "nowhere"), ("a/.vscode", "/nonexistent/x"), ("b/.claude", "gone")],
    "loops": [(".git", "."), ("a/b/.git", "../.."), (".vscode", ".vscode"), ("c/.idea", "../c")],
    "outside": [(".git", "@root"), ("a/.vscode", "/etc"), ("a/.git", "/usr")],
}


@pytest.mark.parametrize("kind", sorted(LINK_SETS))
def test_protected_name_links_do_not_stop_srt(ctx, kind):
    links = [(n, t.replace("@root", ctx.root)) for n, t in LINK_SETS[kind]]
    for n, t in links:
        ctx.symlink(t, n)
    r = ctx.sh("echo ran; exit 7", settings=fs_settings())
    assert r.rc == 7 and "ran" in r.out, r
    for n, t in links:
        assert os.readlink(ctx.p(n)) == t


# --- what a review found: each must hold -----------------------------------------

def test_rebase_strategy_and_sequencer_opts(ctx, template):
    # git runs git-merge-<strategy> at --continue, and a strategy with a '/'
    # is a path: a program the command planted in the work tree.
    repo(ctx, template)
    ctx.write("git-merge-x/keep", "")
    r = attack(ctx, r'''GIT_SEQUENCE_EDITOR='sed -i 1s/^pick/edit/' git rebase -q -i HEAD~1
        test -d .git/rebase-merge || exit 3
        cp "$E" evil; chmod 755 evil
        echo "x/../evil" > .git/rebase-merge/strategy
        echo "x/../evil" > s.tmp; mv s.tmp .git/rebase-merge/strategy
        mkdir -p .git/sequencer; printf '[options]\n\tstrategy = x/../evil\n' > .git/sequencer/opts''')
    assert r.rc != 3, r
    assert "merge strategy" in r.err, r
    # What was written in place is gone once the sandbox ended.
    if ctx.exists(".git/rebase-merge/strategy"):
        assert "evil" not in ctx.read(".git/rebase-merge/strategy"), r
    if ctx.exists(".git/sequencer/opts"):
        assert "# srt: refused:" in ctx.read(".git/sequencer/opts"), r
    host(ctx, ["git", "rebase", "--continue"])
    assert not os.path.lexists(mark(ctx)), r


def test_replace_refs_in_packed_refs(ctx, template):
    # A refs/replace/ entry swaps objects unseen (as info/grafts would),
    # written as a loose ref or into packed-refs.
    repo(ctx, template)
    before = git_out(ctx, "log", "--format=%s")
    r = attack(ctx, r'''A=$(git rev-parse HEAD); B=$(git rev-parse HEAD~1)
        git replace "$A" "$B"
        printf '%s refs/replace/%s\n' "$B" "$A" >> .git/packed-refs
        cp .git/packed-refs p.new 2>/dev/null || : ; printf '%s refs/replace/%s\n' "$B" "$A" >> p.new
        mv p.new .git/packed-refs''')
    assert git_out(ctx, "log", "--format=%s") == before, r
    assert "refs/replace" not in (ctx.read(".git/packed-refs") if ctx.exists(".git/packed-refs") else ""), r
    denied(r)


def test_supervisors_own_proc_is_out_of_reach(ctx):
    # /proc/self/.. would lead from the caller's own /proc entries to the
    # supervisor's; an O_CREAT makes a read go through the guard.
    ctx.write("probe.py", (
        "import os\n"
        "for p in ('/proc/self/../self/maps', '/proc/self/../self/mem', '/proc/thread-self/../../self/environ',\n"
        "          '/proc/self/./comm', '/proc/self/fd/../maps'):\n"
        "    try:\n"
        "        fd = os.open(p, os.O_RDWR | os.O_CREAT)\n"
        "        print('OPENED', p, os.read(fd, 64))\n"
        "    except OSError as e:\n"
        "        print('refused', p, e.strerror)\n"
        "fd = os.open('/proc/self/comm', os.O_WRONLY)\n"
        "os.write(fd, b'renamed')\n"
        "print('comm', open('/proc/self/comm').read().strip())\n"))
    r = ctx.run(["python3", "probe.py"], settings=fs_settings())
    assert r.rc == 0, r
    assert "OPENED" not in r.out, r
    assert "comm renamed" in r.out, r


def test_openat2_is_answered_enosys(ctx, template):
    # openat2 keeps its flags in memory, where another thread can change
    # them after a look: every openat2 gets ENOSYS, and nothing is made.
    repo(ctx, template, "sub")
    ctx.write("o2.py", (
        "import ctypes, os, struct\n"
        "libc = ctypes.CDLL(None, use_errno=True)\n"
        "how = struct.pack('QQQ', os.O_WRONLY | os.O_CREAT, 0o644, 0)\n"
        "buf = ctypes.create_string_buffer(how)\n"
        "for p in (b'sub/.zshrc', b'sub/.git/hooks/post-checkout', b'ok.txt'):\n"
        "    r = libc.syscall(437, -100, p, buf, 24)\n"
        "    print(p.decode(), r, ctypes.get_errno())\n"))
    r = ctx.run(["python3", "o2.py"], settings=fs_settings())
    assert r.rc == 0, r
    for name in ("sub/.zshrc", "sub/.git/hooks/post-checkout", "ok.txt"):
        assert "%s -1 %d" % (name, errno.ENOSYS) in r.out, r
        assert not ctx.exists(name), r


def test_fifo_reopened_through_a_descriptor_does_not_hang_srt(ctx):
    # A FIFO opened for writing through /dev/fd/N with no reader: the
    # command waits (as it would), srt serves the other calls, and once
    # the command is killed srt ends.
    ctx.write("fifo.py", (
        "import os, threading, time\n"
        "os.mkfifo('ff')\n"
        "o = os.open('ff', os.O_PATH)\n"
        "def writer():\n"
        "    os.open('/dev/fd/%d' % o, os.O_WRONLY)\n"
        "threading.Thread(target=writer, daemon=True).start()\n"
        "time.sleep(0.3)\n"
        "open('after.txt', 'w').write('x')\n"
        "print('served', flush=True)\n"
        "os._exit(0)\n"))
    r = ctx.run(["python3", "fifo.py"], settings=fs_settings(), timeout=20)
    assert r.rc == 0 and "served" in r.out, r
    assert ctx.read("after.txt") == "x"


def test_rename_whiteout_is_refused(ctx, template):
    repo(ctx, template)
    ctx.write("wo.py", (
        "import ctypes\n"
        "libc = ctypes.CDLL(None, use_errno=True)\n"
        "open('.git/index.tmpx', 'w').close() if False else None\n"
        "open('a.txt', 'w').write('a')\n"
        "r = libc.renameat2(-100, b'a.txt', -100, b'b.txt', 4)\n"
        "print(r, ctypes.get_errno())\n"))
    r = ctx.run(["python3", "wo.py"], settings=fs_settings())
    assert r.out.split() == ["-1", str(errno.EINVAL)], r
    assert ctx.exists("a.txt") and not ctx.exists("b.txt"), r


def test_todo_check_at_the_end_follows_no_link(ctx, template):
    # The todo is looked at again when the sandbox has ended: through the
    # folder it was in, never its path, which the command can by then
    # have pointed at a repository outside every writable folder.
    repo(ctx, template, "sub")
    other = repo(ctx, template, os.path.join(ctx.root, "outside"))
    ctx.write(os.path.join(other, ".git/rebase-merge/git-rebase-todo"), "exec echo user-own-line\n")
    r = attack(ctx, r'''cd sub; GIT_SEQUENCE_EDITOR='sed -i 1s/^pick/edit/' git rebase -q -i HEAD~1; cd ..
        printf 'x %%s\n' "$E" >> sub/.git/rebase-merge/git-rebase-todo
        mv sub sub_old && ln -s %s sub''' % other)
    assert ctx.read(os.path.join(other, ".git/rebase-merge/git-rebase-todo")) == "exec echo user-own-line\n", r
    assert "# srt: refused: x " in ctx.read("sub_old/.git/rebase-merge/git-rebase-todo"), r


def test_strategy_and_opts_tricks_git_still_honours(ctx, template):
    # The whole strategy file is the value ("ort\nx/evil" names a path);
    # a key may follow "[options]" on its line.
    repo(ctx, template)
    d = "git-merge-ort\nx"
    os.makedirs(ctx.p(d), exist_ok=True)
    r = attack(ctx, r'''GIT_SEQUENCE_EDITOR='sed -i 1s/^pick/edit/' git rebase -q -i HEAD~1
        test -d .git/rebase-merge || exit 3
        printf 'ort\nx/evil\n' > s.tmp; mv s.tmp .git/rebase-merge/strategy
        printf 'ort\nx/evil\n' > .git/rebase-merge/strategy
        mkdir -p .git/sequencer; printf '[options] strategy = x/evil\n' > o.new; mv o.new .git/sequencer/opts
        printf '[options] strategy = x/evil\n' > .git/sequencer/opts''')
    assert r.rc != 3, r
    assert "merge strategy" in r.err, r
    assert ctx.read(".git/rebase-merge/strategy") == "", r
    assert ctx.read(".git/sequencer/opts").startswith("# srt: refused: "), r
    host(ctx, ["git", "rebase", "--continue"])
    assert not os.path.lexists(mark(ctx)), r


def test_thousands_of_exec_lines_are_all_neutralized(ctx, template):
    # Written in place, checked when the sandbox ends: every line, in one
    # pass, however many.
    repo(ctx, template)
    r = attack(ctx, r'''GIT_SEQUENCE_EDITOR='sed -i 1s/^pick/edit/' git rebase -q -i HEAD~1
        test -d .git/rebase-merge || exit 3
        python3 -c 'import sys; open(".git/rebase-merge/git-rebase-todo", "a").write("".join("exec %s\n" % sys.argv[1] for _ in range(5000)))' "$E"
        ''')
    assert r.rc != 3, r
    todo = ctx.read(".git/rebase-merge/git-rebase-todo")
    lines = [l for l in todo.splitlines() if "evil.sh" in l]
    assert len(lines) == 5000 and all(l.startswith("# srt: refused: exec") for l in lines), r
    host(ctx, ["git", "rebase", "--continue"], timeout=60)
    assert not os.path.lexists(mark(ctx)), r


def test_index_entry_into_the_git_folder(ctx, template):
    # An index entry renamed to .git/hooks/pre-commit: the host's
    # "git checkout ." (throwing away the command's changes) would write
    # the hook. Renamed into place it is refused; written in place, the
    # index is set aside once the sandbox ends.
    repo(ctx, template)
    ctx.write("forge.py", (
        "import hashlib, sys\n"
        "d = open('.git/index', 'rb').read()[:-20].replace(b'AAAA/hooks/pre-commit', b'.git/hooks/pre-commit')\n"
        "open(sys.argv[1], 'wb').write(d + hashlib.sha1(d).digest())\n"))
    r = attack(ctx, r'''mkdir -p AAAA/hooks; cp "$E" AAAA/hooks/pre-commit
        git add AAAA/hooks/pre-commit; rm -rf AAAA
        python3 forge.py i.new && mv i.new .git/index
        python3 forge.py .git/index''')
    assert "index" in r.err and "Permission denied" in r.err, r
    assert ctx.exists(".git/index.srt-refused"), r
    hooks = listing(ctx, ".git/hooks")
    host(ctx, ["git", "checkout", "."])
    assert listing(ctx, ".git/hooks") == hooks, r
    host(ctx, ["git", "reset", "-q"])  # what the report tells the user
    user_works_in(ctx)


def test_existing_object_keeps_its_content(ctx, template):
    # A loose object rewritten under its own name would change what the
    # host's git shows and checks out for a commit the user made.
    repo(ctx, template)
    blob = git_out(ctx, "rev-parse", "HEAD:README")
    obj = ".git/objects/%s/%s" % (blob[:2], blob[2:])
    with open(ctx.p(obj), "rb") as f:
        before = f.read()
    r = attack(ctx, r'''B=%s; O=.git/objects/${B%%${B#??}}/${B#??}
        printf 'evil\n' > x; Z=$(git hash-object -w x); Zo=.git/objects/${Z%%${Z#??}}/${Z#??}
        cp "$Zo" t1 && mv -f t1 "$O"; cp "$Zo" t2; ln -f t2 "$O"
        chmod u+w "$O"; cat "$Zo" > "$O"; python3 -c 'import os,sys; os.rename(sys.argv[1], sys.argv[2])' "$Zo" "$O"''' % blob)
    with open(ctx.p(obj), "rb") as f:
        assert f.read() == before, r
    assert host(ctx, ["git", "show", "HEAD:README"])[1] == ctx.read("README"), r
    denied(r)


def test_folder_on_path_inside_the_project(ctx, template):
    # The user's PATH names a folder of the project: a program planted
    # there would run instead of the real one at the user's next command.
    repo(ctx, template)
    ctx.mkdir("tools/bin")
    path = ctx.p("tools/bin") + ":" + PATH
    r = attack(ctx, r'''cp "$E" tools/bin/ls; cp "$E" tools/bin/git; ln -s "$E" tools/bin/python3
        mv tools/bin tools/old && mkdir tools/bin && cp "$E" tools/bin/ls; chmod +x tools/bin/* 2>/dev/null; true''',
               env={"PATH": path})
    assert os.listdir(ctx.p("tools/bin")) == [], r
    for args in (["ls"], ["git", "status"]):
        host(ctx, args, env={"PATH": path})
        assert not os.path.lexists(mark(ctx)), (args, r)
    denied(r)


def test_no_command_without_the_listener(ctx):
    # A seccomp listener above srt (a supervisor, a container runtime's
    # syscall interception, srt inside srt) makes the kernel refuse srt's
    # own: then the write guard cannot see the command, which must not
    # start at all, not even for the moment srt needs to notice.
    argv = ctx.argv(["sh", "-c", "echo x > .bashrc; echo x > .gitmodules; echo ran"],
                    settings={"filesystem": {"allowWrite": ["."]}})
    i = argv.index(ctx.srt)
    argv[i:i] = [PY, os.path.join(os.path.dirname(os.path.abspath(__file__)), "listener_above.py")]
    cp = subprocess.run(argv, cwd=ctx.proj, env=ctx.env(), stdin=subprocess.DEVNULL,
                        capture_output=True, timeout=60)
    out, err = cp.stdout.decode(), cp.stderr.decode()
    assert cp.returncode == 125, (cp.returncode, out, err)
    assert "ran" not in out, (out, err)
    assert "seccomp listener" in err, err
    assert not ctx.exists(".bashrc") and not ctx.exists(".gitmodules")
