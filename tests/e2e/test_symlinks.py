# Symbolic links a sandboxed command plants for the next run: settings entries, settings files, protected names.
import json
import os

from conftest import tree_listing

MARK = "command-ran-srt-e2e"


def refused(r, *words):
    """srt stopped before running anything (exit 125) and said why."""
    assert r.rc == 125, r
    assert MARK not in r.out, r
    for w in words:
        assert w in r.err, (w, r)


def victim(ctx, name="victim"):
    """A folder outside every writable folder, standing for /etc or ~/.ssh."""
    d = ctx.mkdir(os.path.join(ctx.root, name))
    ctx.write(os.path.join(d, "passwd"), "orig\n")
    return d


# --- (a) settings entries that lead through a planted link ----------------------

def test_allow_write_through_link_planted_by_earlier_run(ctx):
    etc = victim(ctx)
    before = tree_listing(etc)
    text = '{"filesystem": {"allowWrite": [".", "./dist"]}}'
    s = ctx.settings(text)
    # A run with these settings: srt makes the missing ./dist, a writable
    # folder of its own, which the command can neither move away nor
    # replace with a link, however it goes about it.
    r = ctx.run(["sh", "-c", 'mv dist dist.old; ln -s "$1" x; mv x dist; '
                 'rmdir dist; ln -s "$1" dist; mv x dist; true', "sh", etc], settings_file=s)
    assert r.rc == 0, r
    assert not os.path.islink(ctx.p("dist")), r
    assert tree_listing(etc) == before
    # A run with settings that did not name ./dist (or the user) can
    # plant the link.
    r = ctx.run(["sh", "-c", 'rm -rf dist && ln -s "$1" dist', "sh", etc],
                settings={"filesystem": {"allowWrite": ["."]}})
    assert r.rc == 0 and os.path.islink(ctx.p("dist")), r
    # The next run with the first settings: refused before anything runs,
    # naming the entry, the link, where it points and what to do.
    r = ctx.sh("echo pwned > dist/passwd; echo pwned > dist/new; echo %s" % MARK, settings_file=s)
    refused(r, "%s:1:%d: filesystem.allowWrite[1]: allowWrite './dist'" % (s, text.index('"./dist"') + 1),
            "symbolic link %s (-> %s)" % (ctx.p("dist"), etc),
            "writable folder %s (allowWrite '.'" % ctx.proj,
            "Remove the link")
    assert ctx.read(os.path.join(etc, "passwd")) == "orig\n"
    assert tree_listing(etc) == before


def test_allow_write_below_home_through_planted_link(ctx):
    target = victim(ctx, "dotssh")
    before = tree_listing(target)
    s = ctx.settings({"filesystem": {"allowWrite": ["~", "~/.cache/npm"]}})
    r = ctx.run(["ln", "-s", target, os.path.join(ctx.home, ".cache")], settings_file=s)
    assert r.rc == 0, r
    r = ctx.sh("mkdir -p ~/.cache/npm && echo pwned > ~/.cache/npm/x; echo %s" % MARK, settings_file=s)
    refused(r, "allowWrite '~/.cache/npm'", os.path.join(ctx.home, ".cache"), "(-> %s)" % target)
    assert tree_listing(target) == before


def test_allow_write_through_link_outside_writable_folders_is_fine(ctx):
    # /home/u/proj -> /data/proj with /home/u not writable: nothing the
    # sandbox could have planted.
    data = ctx.mkdir(os.path.join(ctx.root, "data"))
    alias = ctx.symlink(data, os.path.join(ctx.root, "alias"))
    r = ctx.sh('echo ok > "%s/f"; echo %s' % (alias, MARK),
               settings={"filesystem": {"allowWrite": [alias]}})
    assert r.rc == 0 and MARK in r.out, r
    assert ctx.read(os.path.join(data, "f")) == "ok\n"


def test_deny_entry_through_planted_link(ctx):
    # The user's link to a secret folder, repointed by a run (with settings
    # that did not deny it) at something harmless: the deny would follow
    # the link and drop its protection. Refused too.
    secret = victim(ctx, "secrets")
    ctx.symlink(secret, "private")
    ctx.mkdir("decoy")
    r = ctx.sh("ln -sfn decoy private", settings={"filesystem": {"allowWrite": ["."]}})
    assert r.rc == 0 and os.readlink(ctx.p("private")) == "decoy", r
    s = {"filesystem": {"allowWrite": ["."], "denyRead": ["./private", secret + "/x"]}}
    r = ctx.sh("cat %s/passwd; echo %s" % (secret, MARK), settings=s)
    refused(r, "denyRead './private'", "symbolic link %s (-> decoy)" % ctx.p("private"))
    assert "orig" not in r.out, r


# --- (b) settings files reached through links -----------------------------------

def test_home_settings_file_link_in_writable_home_is_refused(ctx):
    real = ctx.settings({"filesystem": {"allowWrite": ["~", ctx.proj]}},
                        path=os.path.join(ctx.home, "dotfiles", "srt.json"))
    link = ctx.symlink("dotfiles/srt.json", os.path.join(ctx.home, ".srt-settings.json"))
    before = ctx.read(real)
    r = ctx.sh("ln -sf /dev/null ~/.srt-settings.json; echo {} > ~/dotfiles/srt.json; echo %s" % MARK)
    refused(r, "settings file %s" % link, "symbolic link %s (-> dotfiles/srt.json)" % link,
            "writable folder %s" % ctx.home, "Replace the link")
    assert os.readlink(link) == "dotfiles/srt.json"
    assert ctx.read(real) == before


def test_named_settings_link_in_writable_project_is_refused(ctx):
    real = ctx.settings({"filesystem": {"allowWrite": ["."]}})
    ctx.symlink(real, "link.json")
    r = ctx.run(["echo", MARK], settings_file="./link.json")
    refused(r, "symbolic link %s (-> %s)" % (ctx.p("link.json"), real))


SECRET_READER = "cat %s; echo %s"


def _secret(ctx):
    return ctx.write(os.path.join(ctx.root, "secret.txt"), "TOPSECRET\n")


def test_settings_link_outside_target_inside_cannot_be_changed(ctx):
    # The link is outside every writable folder, the file it names is in the
    # project: the first run cannot rewrite, move or replace either, and the
    # second still loads the user's settings.
    secret = _secret(ctx)
    doc = {"filesystem": {"allowWrite": ["."], "denyRead": [secret]}}
    real = ctx.settings(doc, path=ctx.p("conf/srt.json"))
    link = ctx.symlink(real, os.path.join(ctx.root, "settings-link.json"))
    text = ctx.read(real)
    attack = ('echo "{}" > conf/srt.json; rm -f conf/srt.json; mv conf conf2; mv conf/srt.json x.json; '
              'ln -sf /dev/null "%s"; echo %s' % (link, MARK))
    r = ctx.sh(attack, settings_file=link)
    assert r.rc == 0 and MARK in r.out, r
    assert ctx.read(real) == text
    assert os.readlink(link) == real
    assert not ctx.exists("conf2"), r  # (mv may leave a copy of the file as x.json)
    r = ctx.sh(SECRET_READER % (secret, MARK), settings_file=link)
    assert MARK in r.out and "TOPSECRET" not in r.out, r


def test_home_settings_file_in_writable_home_cannot_be_changed(ctx):
    secret = _secret(ctx)
    f = ctx.settings({"filesystem": {"allowWrite": ["~", "."], "denyRead": [secret]}},
                     path=os.path.join(ctx.home, ".srt-settings.json"))
    text = ctx.read(f)
    r = ctx.sh('echo "{}" > ~/.srt-settings.json; rm -f ~/.srt-settings.json; '
               'mv ~/.srt-settings.json ~/old.json; ln -sf /dev/null ~/.srt-settings.json; echo %s' % MARK)
    assert r.rc == 0 and MARK in r.out, r
    assert not os.path.islink(f) and ctx.read(f) == text
    r = ctx.sh(SECRET_READER % (secret, MARK))
    assert MARK in r.out and "TOPSECRET" not in r.out, r


def test_project_settings_file_cannot_be_changed(ctx):
    secret = _secret(ctx)
    pf = ctx.write(".sandbox/settings.json", json.dumps({"filesystem": {"denyRead": [secret]}}))
    text = ctx.read(pf)
    s = ctx.settings({"filesystem": {"allowWrite": ["."]}})
    r = ctx.sh('echo "{}" > .sandbox/settings.json; rm -rf .sandbox; mv .sandbox sb; echo %s' % MARK,
               settings_file=s)
    assert r.rc == 0 and MARK in r.out, r
    assert ctx.read(pf) == text
    r = ctx.sh(SECRET_READER % (secret, MARK), settings_file=s)
    assert MARK in r.out and "TOPSECRET" not in r.out, r


# --- (d) protected names that are links ----------------------------------------

def test_protected_name_links_do_not_stop_srt(ctx):
    hook = ctx.write("elsewhere/hooks/pre-commit", "orig\n")
    ctx.write("elsewhere/config", "[core]\n")
    ctx.write("elsewhere/HEAD", "ref: refs/heads/main\n")
    ctx.symlink("elsewhere", ".git")
    ctx.symlink("nowhere", ".vscode")
    s = {"filesystem": {"allowWrite": ["."]}}
    r = ctx.sh("echo evil > elsewhere/hooks/pre-commit; echo evil > .git/hooks/pre-commit; "
               "echo evil >> .git/config; rm -f elsewhere/hooks/pre-commit; mv elsewhere/hooks h; "
               "echo '{}' > .vscode; mkdir nowhere; echo main > elsewhere/HEAD; echo %s" % MARK,
               settings=s)
    assert r.rc == 0 and MARK in r.out, r
    assert ctx.read(hook) == "orig\n"
    assert ctx.read("elsewhere/config") == "[core]\n"
    assert not ctx.exists("nowhere"), r
    assert os.path.isdir(ctx.p("elsewhere/hooks")), r  # mv copies at most
    # what no name protects stays writable
    assert ctx.read("elsewhere/HEAD") == "main\n"
    assert os.readlink(ctx.p(".git")) == "elsewhere" and os.readlink(ctx.p(".vscode")) == "nowhere"


def git_would_use(d):
    """Would git take folder d for a git folder? What git's own
    is_git_directory looks at: HEAD, and commondir or objects and refs it
    can search (links followed)."""
    if not os.path.isfile(os.path.join(d, "HEAD")):
        return False
    if os.path.exists(os.path.join(d, "commondir")):
        return True
    return all(os.access(os.path.join(d, n), os.X_OK) for n in ("objects", "refs"))


def test_protected_name_links_below_the_root_and_elsewhere(ctx):
    # A nested repository's .git link into another writable folder, a
    # .bashrc link to a file outside every writable folder, a dangling
    # .git: srt runs, and nothing can be written where they lead, by the
    # link's name or by the real one.
    gitdirs = ctx.mkdir(os.path.join(ctx.root, "gitdirs"))
    g = os.path.join(gitdirs, "g")
    hook = ctx.write(os.path.join(g, "hooks", "post-checkout"), "orig\n")
    config = ctx.write(os.path.join(g, "config"), "[core]\n")
    ctx.write(os.path.join(g, "HEAD"), "ref: refs/heads/main\n")
    ctx.mkdir(os.path.join(g, "objects"))
    ctx.mkdir(os.path.join(g, "refs"))
    ctx.mkdir("sub")
    ctx.symlink(g, "sub/.git")
    # no repository (yet) behind a .git link: writing through the link is
    # still writing .git/hooks
    h = os.path.join(gitdirs, "h")
    hook2 = ctx.write(os.path.join(h, "hooks", "post-checkout"), "orig\n")
    ctx.mkdir("sub2")
    ctx.symlink(h, "sub2/.git")
    outside = ctx.write(os.path.join(ctx.root, "bashrc"), "orig\n")
    ctx.symlink(outside, ".bashrc")
    ctx.mkdir("other")
    ctx.symlink("gitdir", "other/.git")
    s = {"filesystem": {"allowWrite": [".", gitdirs]}}
    r = ctx.sh('echo evil > sub/.git/hooks/post-checkout; echo evil > "%s/hooks/post-checkout"; '
               'echo evil > "%s/hooks/pre-push"; echo evil >> sub/.git/config; echo evil >> "%s/config"; '
               'echo evil > sub2/.git/hooks/post-checkout; echo evil > sub2/.git/hooks/pre-push; '
               'echo evil > sub2/.git/config; echo evil >> .bashrc; '
               # the dangling .git's target: a folder may be made there (git
               # takes it for no repository), never one git would use
               'mkdir -p other/gitdir/hooks; echo evil > other/gitdir/hooks/post-checkout; '
               'mkdir other/gitdir/objects other/gitdir/refs; echo "ref: refs/heads/main" > other/gitdir/HEAD; '
               'echo %s' % (g, g, g, MARK), settings=s)
    assert r.rc == 0 and MARK in r.out, r
    assert ctx.read(hook) == "orig\n"
    assert ctx.read(config) == "[core]\n"
    assert not os.path.exists(os.path.join(g, "hooks", "pre-push")), r
    assert ctx.read(hook2) == "orig\n"
    assert sorted(os.listdir(h)) == ["hooks"] and os.listdir(os.path.join(h, "hooks")) == ["post-checkout"], r
    assert ctx.read(outside) == "orig\n"
    assert not git_would_use(ctx.p("other/.git")), r
    r = ctx.run(["check"], settings=s)
    assert r.rc == 0, r


def test_links_of_another_user_in_a_shared_folder(ctx):
    # A shared writable folder (standing for /tmp) where another user left
    # links with protected names: one dangling, one leading back to the
    # folder itself. srt runs, and nothing of ours is made read-only.
    shared = ctx.mkdir(os.path.join(ctx.root, "shared"))
    os.chmod(shared, 0o1777)
    for target, name in (("x", ".git"), (".", ".vscode")):
        p = os.path.join(shared, name)
        os.symlink(target, p)
        os.lchown(p, 12345, 12345)
    r = ctx.sh('echo ok > "%s/mine"; echo %s' % (shared, MARK), settings={"filesystem": {"allowWrite": [shared]}})
    assert r.rc == 0 and MARK in r.out, r
    assert ctx.read(os.path.join(shared, "mine")) == "ok\n"
