/* The write guard's rules: which names inside writable folders may be created, written, renamed or removed. */
#ifndef SRT_POLICY_GUARD_H
#define SRT_POLICY_GUARD_H

/*
 * This comment is the reference for the rules; docs/internals points here.
 *
 * WHAT THE GUARD IS FOR
 *
 * Inside an allowWrite folder the command may write anything, except what
 * the host would later run, read as configuration, or use to decide which
 * configuration to read: git's hooks and config, shell and session start-up
 * files, editor and agent project settings. The supervisor's seccomp
 * broker traps every call that creates, writes, renames, removes or changes
 * the attributes of a name, resolves the target itself in the caller's
 * view (a parent directory, links resolved, plus the final name), asks
 * guard_decide(), and carries the call out or refuses it. The guard
 * itself does no I/O: every fact about the file system comes from the
 * request or from the caller's facts callback, so it can be unit-tested and
 * fuzzed, and the broker alone decides how to learn those facts safely.
 *
 * The private /tmp (root_private): everything is allowed there. Nothing
 * written there outlives the run, and what the command plants there only
 * ever runs inside the sandbox (a rename to the host's folders crosses a
 * mount and fails with EXDEV).
 *
 * Everywhere else (any folder the host keeps), four families of rules apply;
 * the first that refuses decides.
 *
 * 1. REPOSITORIES ARE NOT CREATED (unless filesystem.allowNewRepositories)
 *
 * git walks up from its working directory and uses the first .git (folder,
 * or file naming a folder with "gitdir:") or bare repository it meets; a
 * repository made by the command comes with hooks and a config the command
 * wrote (core.fsmonitor, core.hooksPath, aliases run code), waiting for the
 * user's next git command there, or their shell prompt's. So by default:
 *  - no name ".git" may be created, whatever it is (folder, file, link,
 *    node) and however (mkdir, open, symlink, link, rename onto it): git
 *    init, git clone, git submodule add, git worktree add in a new folder;
 *  - an existing .git cannot be replaced, renamed, removed or written (a
 *    .git file names the git folder: rewriting it swaps in other hooks), so
 *    no new one can take its place;
 *  - no folder may be turned into a bare repository, which git also
 *    discovers: creating HEAD, objects, refs or commondir in a folder that
 *    would then have HEAD and either commondir or both objects and refs
 *    (outside the user's git folders: inside one, family 2 decides);
 *  - inside a git folder, no new submodule git folder (modules/<name>) or
 *    linked-worktree folder (worktrees/<id>).
 * With allowNewRepositories the four are allowed, and the caller records
 * the new repository (guard_verdict.new_repo) so that everything inside it
 * is the command's to write, config and hooks included: git init and git
 * clone must write them. The user who turns the setting on accepts that a
 * repository the command created may run the command's code when they use
 * git in it. Replacing or removing a .git that existed before the run stays
 * refused even then.
 *
 * 2. INSIDE A GIT FOLDER: GIT'S EVERYDAY WORK ONLY
 *
 * A git folder is a folder named .git (by its name alone), or any folder
 * the caller says is one (GUARD_FACT_GIT_DIR: the folder a .git file names,
 * a bare repository, a submodule's folder in modules/, a linked worktree's
 * in worktrees/), unless the caller says it was created in this run
 * (GUARD_FACT_NEW_REPO, with allowNewRepositories): then all of it is
 * writable. The innermost git folder around the target decides. In a git
 * folder that existed before the run, only what git's everyday commands
 * (commit, fetch, pull, merge, rebase, cherry-pick, revert, stash, bisect,
 * gc, repack, sparse-checkout, notes, rerere) write is writable; everything
 * else is refused, names unknown to these rules included (fail closed):
 *
 *   writable                                 why it is safe
 *   objects/ (but objects/info/alternates    content, addressed by its hash
 *     and http-alternates)
 *   refs/ logs/ packed-refs reftable/        which commit a name points at
 *   HEAD, *_HEAD (ORIG_HEAD, FETCH_HEAD,     state of a command in progress
 *     MERGE_HEAD, CHERRY_PICK_HEAD, ...),
 *     AUTO_MERGE, BISECT_*, MERGE_MSG,
 *     MERGE_MODE, MERGE_RR, MERGE_AUTOSTASH,
 *     SQUASH_MSG, COMMIT_EDITMSG, TAG_EDITMSG,
 *     NOTES_EDITMSG, NOTES_MERGE_*, EDIT_DESCRIPTION, GITGUI_MSG
 *   rebase-merge/ rebase-apply/ sequencer/   idem; but see the todo below
 *   index, index.*, next-index-*,            the staging area
 *     sharedindex.*
 *   shallow                                  git fetch in a shallow clone
 *                                            rewrites it; it can hide
 *                                            history, not run anything
 *   gc.pid gc.log gitk.cache rr-cache/ lfs/  caches and logs
 *   info/refs info/sparse-checkout           git repack (and so gc) and
 *                                            git sparse-checkout write them
 *                                            (the latter also sets
 *                                            core.sparseCheckout in config,
 *                                            once: allowGitConfig)
 *   locked (in worktrees/<id>)               git worktree lock
 *   X.lock for every writable X              git's lock files
 *
 *   refused                                  what it would let the command do
 *   config, config.worktree (and .lock)      run code: core.fsmonitor,
 *                                            core.hooksPath, core.sshCommand,
 *                                            aliases, filter and diff drivers,
 *                                            credential helpers (writable
 *                                            with filesystem.allowGitConfig)
 *   hooks/                                   run code at the next commit,
 *                                            checkout, merge, push
 *   commondir, gitdir                        point git at another git folder,
 *                                            with its own config and hooks
 *   modules/ (but inside an existing         the submodules' git folders:
 *     submodule's git folder, where these      replacing one is a new
 *     rules apply again)                       repository
 *   worktrees/ (but inside an existing       idem for linked worktrees;
 *     worktrees/<id>, where they apply         their commondir and gitdir
 *     again, locked included)                  stay refused
 *   info/exclude                             hides files from git status and
 *                                            git add, invisibly (a .gitignore
 *                                            in the work tree shows in diffs);
 *                                            no everyday command writes it
 *   info/attributes                          selects filter, diff and merge
 *                                            drivers for paths; the drivers
 *                                            themselves come from config,
 *                                            which stays protected, so this
 *                                            cannot run new code, but no
 *                                            everyday command writes it and
 *                                            it would re-aim drivers the user
 *                                            configured (say a global
 *                                            textconv) at other files
 *   info/grafts                              rewrites ancestry invisibly
 *   objects/info/alternates,                 points object lookups at another
 *     http-alternates                          store; no everyday command
 *                                            writes them
 *   description                              only gitweb and hook scripts read
 *                                            it, and no everyday command
 *                                            writes it: nothing to allow
 *   branches/ remotes/                       legacy remote definitions: where
 *                                            git fetch and git push go
 *   anything else                            unknown: refused
 *
 * Also refused in a git folder: symbolic links and device nodes (git
 * makes none there; a link would redirect what git writes later), and
 * removing or moving away HEAD, objects or refs at its top (without them
 * the folder is no longer recognised as a git folder, and its config could
 * then be written as an ordinary file; making it one again is a new
 * repository).
 *
 * The rebase todo (rebase-merge/git-rebase-todo, sequencer/todo) is
 * writable, but an "exec" line in it runs a shell command when someone
 * continues the rebase on the host. That is a question of content, which
 * the guard cannot see at the time of the call: guard_verdict.check_todo
 * tells the caller to run guard_todo_exec_line() on the content being
 * renamed into place (git writes the todo to a .lock file and renames it),
 * and, because a descriptor opened earlier can still write after any
 * check, on every todo file once the sandbox's processes are gone.
 *
 * 3. PROTECTED NAMES, AT EVERY DEPTH
 *
 * These names are protected in every folder, at any depth (no search
 * depth: a name costs nothing to check), node_modules included. Tools read
 * them from whatever folder a user opens as a project, or a shell reads them
 * from $HOME or $ZDOTDIR, which may be any folder:
 *   files   .bashrc .bash_profile .bash_login .bash_logout .zshrc .zprofile
 *           .zshenv .zlogin .zlogout .profile .gitconfig .gitmodules
 *           .ripgreprc .mcp.json
 *   folders .vscode .idea .sandbox .claude/commands .claude/agents
 *           .claude/settings.json .claude/settings.local.json
 *           .claude/hooks .claude/skills
 * The cost of "every depth": writing such a name anywhere in a writable
 * folder fails with EACCES, e.g. extracting an archive or package that
 * ships a .vscode folder, or checking out a cloned repository that has a
 * .gitmodules (clone into /tmp instead).
 *
 * 4. HOME START-UP FILES, RELATIVE TO $HOME
 *
 * When the target lies in $HOME (whichever writable folder holds it, so
 * allowWrite: ["~/.config"] still keeps ~/.config/git protected), these
 * are protected; the same names elsewhere are ordinary:
 *   .ssh/authorized_keys .ssh/authorized_keys2 .ssh/config .ssh/rc
 *   .ssh/environment                              log-in and ssh
 *   .config/git/ .config/fish/ .config/systemd/user/ .config/autostart/
 *   .config/environment.d/ .config/nvim/          start-up of git, fish,
 *                                                 sessions, editors
 *   .pam_environment .xprofile .xsession .xsessionrc .xinitrc
 *   .vimrc .gvimrc .exrc .emacs .emacs.el .emacs.d/init.el
 *   .emacs.d/early-init.el
 *   bin/ .local/bin/ .cargo/bin/ go/bin/          on PATH: a program there
 *                                                 runs instead of the real one
 *   in .local/lib/pythonX.Y/site-packages/ (any pythonX.Y): files ending
 *   in .pth, and names starting with sitecustomize or usercustomize
 *                                                 run by every python start
 *   .cargo/config .cargo/config.toml .npmrc .yarnrc .yarnrc.yml
 *                                                 run code through build tools
 *   .claude.json                                  user-scope MCP servers
 *   .bash_aliases .bashrc.d/ .inputrc .tmux.conf .config/tmux/ .vim/
 *   .config/vim/ .local/share/nvim/site/ .local/state/nvim/trust
 *   .emacs.d/init.elc .config/emacs/ .config/starship.toml
 *   .oh-my-zsh/custom/ .ipython/profile_default/startup/
 *   .config/Code/User/ .local/share/applications/
 *                                                 read by every shell,
 *                                                 editor, prompt, desktop
 *   .gnupg/gpg.conf .gnupg/gpg-agent.conf .aws/config .kube/config
 *   .docker/config.json .gradle/init.d/ .gradle/init.gradle
 *   .m2/settings.xml .hgrc .config/jj/ .config/pip/ .pip/ .pypirc
 *   .terraformrc .config/mise/ .local/state/mise/ .local/share/direnv/
 *   .config/direnv/                               name programs tools run,
 *                                                 or trust project code
 *   .pyenv/shims/ .pyenv/versions/X/bin/ .nvm/versions/X/Y/bin/
 *   .rustup/toolchains/X/bin/ .bun/bin/ .deno/bin/ .volta/bin/
 *                                                 on PATH
 * (pip install --user of a package that ships a .pth file fails.)
 *
 * "Protected" means: the name cannot be created (in any way: a file, a
 * folder, a link, a node, a hard link, a rename onto it), written,
 * truncated, have its mode, owner, times or extended attributes changed,
 * be renamed away, be hard-linked elsewhere (a second name would write the
 * same file), or be removed; and neither can anything below it.
 *
 * ANCESTORS: the folders on the way to a protected path, inside the
 * pattern (.claude for .claude/settings.json; ~/.ssh, ~/.config,
 * ~/.config/systemd, ~/.local/lib/python3.11 ...), $HOME itself and every
 * folder between the writable root and $HOME, can be created with mkdir
 * (an empty folder holds nothing) and nothing else: not renamed away or
 * onto (renaming .claude away, filling a copy and renaming it back is
 * writing .claude/settings.json), not removed, not made a link (a .claude
 * link would send the tool's reads elsewhere), not chmod'ed. Beyond those,
 * a git folder (GUARD_FACT_GIT_DIR on the folder being moved: a bare
 * repository, the folder a .git file names) and a folder that the caller
 * knows holds a protected path or a git folder (GUARD_FACT_HOLDS_PROTECTED:
 * the supervisor answers it from the sandbox's own deny rules, $HOME,
 * and, with allowNewRepositories, a bounded look for a .git below) cannot
 * be renamed away either: with
 * allowNewRepositories a new repository could otherwise take the old one's
 * place under its old name.
 *
 * CASE: Linux names are case-sensitive, but a writable folder may lie on a
 * case-insensitive file system (vfat, exfat) or in an ext4 casefold folder
 * (chattr +F), where .GIT is .git. The guard compares the protected names
 * (.git, the protected names, the refused names inside a git folder)
 * without regard to ASCII case, and the names it allows inside a git folder
 * with it (HEAD, not head), so both mistakes fall on the refusing side. Not
 * covered: non-ASCII case folding (the Kelvin sign folds to k in a casefold
 * folder) and names that such file systems treat as equal for other
 * reasons (trailing dots or spaces on vfat).
 *
 * KNOWN LIMITS (for the caller): a file that already had several hard
 * links before the run is protected under its protected name only; a write
 * through a descriptor opened before a check is not seen by the guard (the
 * todo check above); facts the caller gets wrong are decided as given.
 */

#include <stdbool.h>
#include <stddef.h>

/* The call, seen from the name it acts on. A call that acts on two names
 * (rename, link) is two questions; both must be allowed. */
enum guard_op {
	GUARD_OP_CREATE,      /* a new regular file: open with O_CREAT, creat, mknod S_IFREG */
	GUARD_OP_MKDIR,
	GUARD_OP_MKNOD,       /* a fifo, socket or device node */
	GUARD_OP_SYMLINK,     /* the link's own name (where it points is judged when used) */
	GUARD_OP_LINK_FROM,   /* link(2): the existing file that gets a second name */
	GUARD_OP_LINK_TO,     /* link(2): the new name */
	GUARD_OP_RENAME_FROM, /* rename(2): the name that goes away */
	GUARD_OP_RENAME_TO,   /* rename(2): the destination, existing or not; for
			       * RENAME_EXCHANGE ask both names as FROM and as TO */
	GUARD_OP_UNLINK,
	GUARD_OP_RMDIR,
	GUARD_OP_WRITE,       /* open of an existing file for writing (O_WRONLY, O_RDWR, O_TRUNC) */
	GUARD_OP_TRUNCATE,
	GUARD_OP_SETATTR,     /* chmod, chown, utimes */
	GUARD_OP_XATTR,       /* setxattr, removexattr */
	GUARD_OP_COUNT_
};

/* What the final name is at the time of the question (lstat: a link is a
 * link). */
enum guard_type {
	GUARD_TYPE_NONE,      /* missing */
	GUARD_TYPE_FILE,
	GUARD_TYPE_DIR,
	GUARD_TYPE_SYMLINK,
	GUARD_TYPE_OTHER,
};

/* Facts about one folder, answered by the caller (see guard_facts_fn). */
enum {
	/* A git folder: HEAD, and commondir or both objects/ and refs/ (what
	 * git's own is_git_directory looks for). */
	GUARD_FACT_GIT_DIR = 1u << 0,
	/* A repository this run created, as the guard allowed it
	 * (guard_verdict.new_repo): record it by identity (device and inode
	 * of the folder or .git file, taken after the call), never by path: a
	 * folder renamed into that path afterwards must not inherit it. */
	GUARD_FACT_NEW_REPO = 1u << 1,
	/* Entries present in the folder (for the bare-repository rule). */
	GUARD_FACT_HAS_HEAD = 1u << 2,
	GUARD_FACT_HAS_OBJECTS = 1u << 3,
	GUARD_FACT_HAS_REFS = 1u << 4,
	GUARD_FACT_HAS_COMMONDIR = 1u << 5,
	/* The folder holds, at some depth, a git folder or a protected path
	 * the caller knows of (a deny rule of the sandbox, $HOME below it,
	 * a .git found by a bounded look). Names protected at every depth
	 * need no answer: they stay protected wherever they are moved, and
	 * none can be made anew where they were. */
	GUARD_FACT_HOLDS_PROTECTED = 1u << 6,
};

/* Answer the facts in `want` (other bits are ignored) about the folder at
 * path (absolute, normalized; the target's parent, one of its ancestors up
 * to "/", or, for a rename of a folder, the target itself). Answer for the
 * very folder the call will act on (from the descriptors the resolution
 * opened, not by resolving path again). When a fact cannot be learnt,
 * answer the refusing side: set GIT_DIR, HAS_* and HOLDS_PROTECTED, clear
 * NEW_REPO. Ancestors above the writable root cannot change during the run,
 * so their answers may be cached. */
typedef unsigned (*guard_facts_fn)(void *data, const char *path, unsigned want);

enum guard_new_repo {
	GUARD_NEW_REPO_NONE,
	GUARD_NEW_REPO_TARGET, /* parent/name becomes a repository (.git, modules/x, worktrees/x) */
	GUARD_NEW_REPO_PARENT, /* parent becomes a bare repository */
};

struct guard_request {
	enum guard_op op;
	const char *parent;        /* absolute, normalized, links resolved, as the sandbox sees it */
	const char *name;          /* the final component: not empty, ".", ".." or with a '/'
				    * (a call on a folder named "." or "/": ask with that
				    * folder's own parent and name) */
	enum guard_type type;      /* of parent/name now */
	const char *root;          /* the writable root that holds parent (absolute, normalized);
				    * may be NULL when root_private */
	bool root_private;         /* the target is in the sandbox's private /tmp */
	const char *home;          /* $HOME, absolute, normalized; NULL: none */
	bool allow_git_config;     /* filesystem.allowGitConfig */
	bool allow_new_repositories; /* filesystem.allowNewRepositories */
	guard_facts_fn facts;      /* required */
	void *facts_data;
};

/* Files inside a git folder that git's everyday work writes, but whose
 * content can make the host run code or rewrite history later. */
enum guard_content {
	GUARD_CONTENT_NONE,
	/* rebase-merge/git-rebase-todo, sequencer/todo: an exec line runs a
	 * shell command at git rebase --continue. */
	GUARD_CONTENT_TODO,
	/* rebase-merge/strategy (and rebase-apply's): git runs
	 * git-merge-<strategy>, and a strategy with a '/' is a path to a
	 * program. Only git's own strategies: ort, recursive, resolve,
	 * octopus, ours, subtree; the whole file is the value. */
	GUARD_CONTENT_STRATEGY,
	/* sequencer/opts (git config syntax): its strategy key, the same;
	 * and the file must look exactly as git writes it. */
	GUARD_CONTENT_SEQ_OPTS,
	/* packed-refs: a refs/replace/ line swaps objects unseen, as
	 * info/grafts would. */
	GUARD_CONTENT_PACKED_REFS,
	/* index, sharedindex.*: git's checkout writes every entry, so an
	 * entry whose path goes into a .git folder (or uses "." or "..")
	 * would have the host's git write hooks or config. */
	GUARD_CONTENT_INDEX,
};

struct guard_verdict {
	/* 0: allowed. Refused: EACCES; or EEXIST when the call creates a name
	 * exclusively (mkdir, mknod, symlink, link) and the name exists: what
	 * the kernel would answer, so that mkdir -p and git init in an
	 * existing repository go on (a caller may skip reporting those). */
	int error;
	/* Static text naming the rule and why, as a user would read it
	 * ("protected: .git/config (git runs code it names: ...)"); for an
	 * allowed call the rule that allowed it, or NULL when no built-in
	 * rule concerns the name. */
	const char *rule;
	/* Allowed as a new repository: record it (GUARD_FACT_NEW_REPO) after
	 * carrying the call out. */
	enum guard_new_repo new_repo;
	/* The target is a rebase todo: check its content (guard_todo_exec_line)
	 * before carrying out a rename or link onto it, and again when the
	 * sandbox has ended. */
	bool check_todo;
	/* The file's content decides (check_todo included): see
	 * guard_content_bad_line. GUARD_CONTENT_NONE: it does not. */
	enum guard_content content;
};

/* Decide one call. Returns 0 and fills *ret_verdict (written only on
 * success), or -EINVAL for a malformed request (relative or unnormalized
 * paths, a bad name, parent outside root, no facts callback, an unknown
 * op or type) and -ENAMETOOLONG for a parent longer than 4095 bytes or a
 * name longer than 255: the caller refuses the call then. Pure: no I/O
 * beyond the facts callback, no allocation, no global state.
 *
 * Questions asked: GIT_DIR (and NEW_REPO with allowNewRepositories) about
 * the parent, then each ancestor upwards until one is a git folder (a
 * folder named .git needs no question without allowNewRepositories), so
 * up to "/" for a file in a work tree; HAS_* about the parent when the
 * name is HEAD, objects, refs or commondir outside the user's git folders; NEW_REPO
 * about an existing .git target; GIT_DIR, HOLDS_PROTECTED (and NEW_REPO)
 * about a folder being renamed away. None in the private /tmp. */
int guard_decide(const struct guard_request *req, struct guard_verdict *ret_verdict);

/* "create", "mkdir", ... for reports; "?" for an unknown op. */
const char *guard_op_name(enum guard_op op);

/* Paths of the rebase todo files relative to a git folder
 * ("rebase-merge/git-rebase-todo", "sequencer/todo"), NULL-terminated: for
 * the check once the sandbox has ended. */
extern const char *const guard_todo_files[];

/* The 1-based number of the first line of a rebase todo (content of len
 * bytes, NULs included) that runs a shell command, or 0 when none does.
 *
 * git reads the todo line by line (lines end at '\n'), skips spaces and
 * tabs, and takes the first word as the command: pick, reword, edit,
 * squash, fixup, exec, break, drop, label, reset, merge, update-ref, noop,
 * or their one-letter forms. Only exec (x) runs a command: the rest of the
 * line, by the shell. merge -C, fixup -C, edit and the others do not. A
 * comment line starts with core.commentChar ('#' unless configured): it is
 * never taken for exec here, since it cannot start with "exec" or "x"
 * unless that character were 'e' or 'x', and then the line is reported,
 * which is the safe mistake. Reported: a line whose first word starts with
 * "exec" (git takes "exec" as a prefix, then wants a blank), or is "x"
 * alone or followed by a blank, '\r' or the end.
 *
 * before (the same file as it was when the sandbox started, or NULL)
 * holds exec lines the user put there themselves (a rebase -x stopped on a
 * conflict, which the command continues): a line whose command text is
 * byte for byte one of before's is not reported. Only the first 256
 * distinct commands of before count. */
size_t guard_todo_exec_line(const char *todo, size_t len, const char *before, size_t before_len);

/* The 1-based number of the first line of content (len bytes) of a file
 * of the given kind that the rules refuse, or 0: an exec line
 * (GUARD_CONTENT_TODO, as guard_todo_exec_line), a strategy that is not
 * one of git's own (STRATEGY: the first line; SEQ_OPTS: every line whose
 * key is strategy, any case, quoted or not), a refs/replace/ line
 * (PACKED_REFS). A line that is byte for byte in before (what the file
 * held when the sandbox first wrote it, or NULL) is not refused. */
size_t guard_content_bad_line(enum guard_content kind, const char *content, size_t len, const char *before,
			      size_t before_len);

/* Every refused line at once, in order, in one pass: fn(data, its number,
 * its first byte, the byte after it (its '\n' or the end)). Returns how
 * many. A STRATEGY file is one value (git reads the whole file less one
 * trailing newline): refused whole, as line 1 spanning the file.
 * sequencer/opts must look exactly as git writes it ("[options]", then
 * tab-indented "key = value" lines): any other line is refused. */
typedef void (*guard_bad_line_fn)(void *data, size_t line, size_t start, size_t end);

/* An index (git's format, versions 2 to 4, SHA-1 or SHA-256): 1 + the
 * number of the first entry whose path has a ".git" component (any
 * case), a "." or ".." or empty component, or a leading '/', and that
 * before (the index as it was, or NULL) does not hold too; 1 when the
 * content is not an index git writes; 0 when every entry is fine. For
 * GUARD_CONTENT_INDEX, guard_content_bad_lines reports the whole file
 * as one line. */
size_t guard_index_bad_entry(const char *content, size_t len, const char *before, size_t before_len);
size_t guard_content_bad_lines(enum guard_content kind, const char *content, size_t len, const char *before,
			       size_t before_len, guard_bad_line_fn fn, void *data);

#endif
