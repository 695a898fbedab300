/* The write guard's rules: which names inside writable folders may be created, written, renamed or removed. */
#include "policy/guard.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>

/* Bounds: a path the kernel accepts (PATH_MAX with its NUL) for the
 * parent, a component (NAME_MAX) for the name. */
#define GUARD_PARENT_MAX 4095
#define GUARD_NAME_MAX 255
#define GUARD_FULL_MAX (GUARD_PARENT_MAX + 1 + GUARD_NAME_MAX)
/* "/a/b/..." has at most one component per two bytes. */
#define GUARD_COMPS_MAX (GUARD_FULL_MAX / 2 + 1)

/* ---- rule texts ----------------------------------------------------------
 * Static, one line each, as a user would read them in a report. */

static const char R_PRIVATE_TMP[] = "private /tmp (not the host's)";
static const char R_NEW_REPO_ALLOWED[] = "new repository: filesystem.allowNewRepositories is set";
static const char R_NEW_REPO_INSIDE[] = "inside a repository created during this run";
static const char R_NEW_REPO[] = "new repository: filesystem.allowNewRepositories is not set";
static const char R_NEW_BARE[] =
	"new repository: HEAD with objects and refs (or commondir) makes a folder a repository git uses; "
	"filesystem.allowNewRepositories is not set";
static const char R_NEW_MODULE[] =
	"new repository: a submodule's git folder (.git/modules); filesystem.allowNewRepositories is not set";
static const char R_NEW_WORKTREE[] =
	"new repository: a linked worktree's git folder (.git/worktrees); filesystem.allowNewRepositories is not set";
static const char R_DOTGIT_EXISTING[] =
	"protected: an existing .git cannot be written, replaced, moved or removed "
	"(a new one could take its place; a .git file names the git folder git uses)";
static const char R_GIT_DIR_MOVE[] = "protected: a git folder cannot be moved (its config and hooks would go with it)";
static const char R_HOLDS[] = "protected: the folder holds a git folder or protected path, so it cannot be moved";

static const char R_GIT_EVERYDAY[] = "git's everyday work (objects, refs, logs, index, HEAD, state of a command in progress)";
static const char R_GIT_TODO[] = "git's everyday work: the rebase todo (its content is checked for exec lines)";
static const char R_GIT_OBJECT[] =
	"protected: an existing git object cannot be changed (its content would no longer match its name)";
static const char R_GIT_CONTENT[] =
	"git's everyday work: a file whose content is checked (a merge strategy, packed refs)";
static const char R_GIT_CONTENT_LINK[] =
	"protected: a git file whose content is checked cannot be hard-linked (a second name would change it unchecked)";
static const char R_GIT_TODO_LINK[] =
	"protected: the rebase todo cannot be hard-linked (a second name would change it unchecked)";
static const char R_GIT_CONFIG[] =
	"protected: .git/config (git runs code it names: core.fsmonitor, core.hooksPath, core.sshCommand, aliases, filters)";
static const char R_GIT_CONFIG_ALLOWED[] = "filesystem.allowGitConfig: the repository's config is writable";
static const char R_GIT_HOOKS[] = "protected: .git/hooks (git runs them at the next commit, checkout, merge or push)";
static const char R_GIT_POINTERS[] =
	"protected: .git/commondir and gitdir (they point git at another git folder, with its own config and hooks)";
static const char R_GIT_MODULES[] = "protected: .git/modules (the submodules' git folders, with their config and hooks)";
static const char R_GIT_WORKTREES[] = "protected: .git/worktrees (linked worktrees' git folders: commondir, gitdir, config)";
static const char R_GIT_EXCLUDE[] =
	"protected: .git/info/exclude (hides files from git status and git add, unseen; no everyday git command writes it)";
static const char R_GIT_ATTRIBUTES[] =
	"protected: .git/info/attributes (selects filter and diff drivers for paths; no everyday git command writes it)";
static const char R_GIT_GRAFTS[] = "protected: .git/info/grafts (rewrites ancestry unseen)";
static const char R_GIT_REPLACE[] =
	"protected: .git/refs/replace (replacement objects rewrite history unseen, like grafts; no everyday git command "
	"writes them)";
static const char R_GIT_INFO[] = "protected: .git/info (only info/refs and info/sparse-checkout are git's everyday work)";
static const char R_GIT_ALTERNATES[] =
	"protected: .git/objects/info/alternates (points object lookups at another store; no everyday git command writes it)";
static const char R_GIT_MARKERS[] =
	"protected: HEAD, objects and refs make a git folder one; they cannot be removed, moved away or replaced whole";
static const char R_GIT_AREA_MOVE[] =
	"protected: git's own folders (logs, rebase-merge, sequencer...) cannot be moved or replaced whole";
static const char R_GIT_NODES[] =
	"protected: no symbolic links or device nodes inside a git folder (git makes none; a link would redirect its writes)";
static const char R_GIT_REMOTES[] = "protected: .git/branches and .git/remotes (legacy remote definitions: where git fetches and pushes)";
static const char R_GIT_OTHER[] =
	"protected: inside a git folder only git's everyday files are writable (objects, refs, logs, index, HEAD...)";

static const char R_ANCESTOR_CLAUDE[] =
	"protected: .claude holds agent settings and commands (it can be created, not moved, removed, linked or replaced)";
static const char R_ANCESTOR_HOME[] =
	"protected: a folder on the way to a home start-up file (~/.ssh, ~/.config, ~/.local...): it can be created, "
	"not moved, removed, linked or replaced";
static const char R_HOME_ITSELF[] = "protected: $HOME and the folders above it cannot be moved, removed, linked or replaced";

/* ---- name tables -----------------------------------------------------------
 * A pattern is components separated by '/', each compared without regard
 * to ASCII case, '*' matching any run of bytes within a component. */

struct name_rule {
	const char *pattern;
	const char *why;
};

/* Protected in every folder at any depth (see guard.h, family 3). The git
 * entries of mandatory.c (.git/hooks, .git/config) are the git folder
 * rules' business. */
static const struct name_rule every_depth[] = {
	{ ".bashrc", "protected: .bashrc (shell start-up file)" },
	{ ".bash_profile", "protected: .bash_profile (shell start-up file)" },
	{ ".bash_login", "protected: .bash_login (shell start-up file)" },
	{ ".bash_logout", "protected: .bash_logout (shell start-up file)" },
	{ ".zshrc", "protected: .zshrc (shell start-up file)" },
	{ ".zprofile", "protected: .zprofile (shell start-up file)" },
	{ ".zshenv", "protected: .zshenv (shell start-up file)" },
	{ ".zlogin", "protected: .zlogin (shell start-up file)" },
	{ ".zlogout", "protected: .zlogout (shell start-up file)" },
	{ ".profile", "protected: .profile (shell start-up file)" },
	{ ".gitconfig", "protected: .gitconfig (git config runs code: core.fsmonitor, core.hooksPath, aliases)" },
	{ ".gitmodules", "protected: .gitmodules (submodule URLs and paths)" },
	{ ".ripgreprc", "protected: .ripgreprc (ripgrep configuration: --pre runs a command)" },
	{ ".mcp.json", "protected: .mcp.json (MCP servers: commands an agent starts)" },
	{ ".vscode", "protected: .vscode (editor project settings: tasks and launch configurations run code)" },
	{ ".idea", "protected: .idea (IDE project settings: run configurations run code)" },
	{ ".sandbox", "protected: .sandbox (sandbox settings)" },
	{ ".claude/commands", "protected: .claude/commands (agent commands)" },
	{ ".claude/agents", "protected: .claude/agents (agent definitions)" },
	{ ".claude/settings.json", "protected: .claude/settings.json (agent settings: hooks run commands)" },
	{ ".claude/settings.local.json", "protected: .claude/settings.local.json (agent settings: hooks run commands)" },
	{ ".claude/hooks", "protected: .claude/hooks (scripts the agent's settings run)" },
	{ ".hg/hgrc", "protected: .hg/hgrc (Mercurial hooks and extensions run code)" },
	{ ".jj/repo/config.toml", "protected: .jj/repo/config.toml (jj settings name programs it runs)" },
	{ ".claude/skills", "protected: .claude/skills (agent skills: instructions and scripts it runs)" },
};

/* Protected relative to $HOME only (family 4). */
static const struct name_rule home_rules[] = {
	{ ".ssh/authorized_keys", "protected: ~/.ssh/authorized_keys (who may log in, and what runs when they do)" },
	{ ".ssh/authorized_keys2", "protected: ~/.ssh/authorized_keys2 (who may log in, and what runs when they do)" },
	{ ".ssh/config", "protected: ~/.ssh/config (ProxyCommand and LocalCommand run code)" },
	{ ".ssh/rc", "protected: ~/.ssh/rc (runs at every ssh log-in)" },
	{ ".ssh/environment", "protected: ~/.ssh/environment (environment of every ssh log-in)" },
	{ ".config/git", "protected: ~/.config/git (git's user config runs code: core.fsmonitor, aliases)" },
	{ ".config/fish", "protected: ~/.config/fish (fish start-up files)" },
	{ ".config/systemd/user", "protected: ~/.config/systemd/user (user services start with the session)" },
	{ ".config/autostart", "protected: ~/.config/autostart (programs start with the desktop session)" },
	{ ".config/environment.d", "protected: ~/.config/environment.d (environment of the user's services)" },
	{ ".config/nvim", "protected: ~/.config/nvim (editor start-up files)" },
	{ ".pam_environment", "protected: ~/.pam_environment (log-in environment)" },
	{ ".xprofile", "protected: ~/.xprofile (desktop session start-up file)" },
	{ ".xsession", "protected: ~/.xsession (desktop session start-up file)" },
	{ ".xsessionrc", "protected: ~/.xsessionrc (desktop session start-up file)" },
	{ ".xinitrc", "protected: ~/.xinitrc (desktop session start-up file)" },
	{ ".vimrc", "protected: ~/.vimrc (editor start-up file)" },
	{ ".gvimrc", "protected: ~/.gvimrc (editor start-up file)" },
	{ ".exrc", "protected: ~/.exrc (editor start-up file)" },
	{ ".emacs", "protected: ~/.emacs (editor start-up file)" },
	{ ".emacs.el", "protected: ~/.emacs.el (editor start-up file)" },
	{ ".emacs.d/init.el", "protected: ~/.emacs.d/init.el (editor start-up file)" },
	{ ".emacs.d/early-init.el", "protected: ~/.emacs.d/early-init.el (editor start-up file)" },
	{ "bin", "protected: ~/bin (on PATH: a program there runs instead of the real one)" },
	{ ".local/bin", "protected: ~/.local/bin (on PATH: a program there runs instead of the real one)" },
	{ ".cargo/bin", "protected: ~/.cargo/bin (on PATH: a program there runs instead of the real one)" },
	{ "go/bin", "protected: ~/go/bin (on PATH: a program there runs instead of the real one)" },
	{ ".local/lib/python*/site-packages/*.pth", "protected: a .pth file in the user's site-packages (every python start runs it)" },
	{ ".local/lib/python*/site-packages/sitecustomize*", "protected: sitecustomize in the user's site-packages (every python start runs it)" },
	{ ".local/lib/python*/site-packages/usercustomize*", "protected: usercustomize in the user's site-packages (every python start runs it)" },
	{ ".cargo/config", "protected: ~/.cargo/config (build settings name programs cargo runs)" },
	{ ".cargo/config.toml", "protected: ~/.cargo/config.toml (build settings name programs cargo runs)" },
	{ ".npmrc", "protected: ~/.npmrc (node-options and script-shell run code in every npm run)" },
	{ ".yarnrc", "protected: ~/.yarnrc (yarn-path runs code in every yarn run)" },
	{ ".yarnrc.yml", "protected: ~/.yarnrc.yml (yarnPath runs code in every yarn run)" },
	{ ".claude.json", "protected: ~/.claude.json (user-scope MCP servers: commands an agent starts)" },
	/* Read at every shell, editor or terminal multiplexer start. */
	{ ".bash_aliases", "protected: ~/.bash_aliases (sourced by the usual .bashrc)" },
	{ ".bashrc.d", "protected: ~/.bashrc.d (sourced by the usual .bashrc)" },
	{ ".inputrc", "protected: ~/.inputrc (readline start-up file)" },
	{ ".tmux.conf", "protected: ~/.tmux.conf (run-shell runs commands)" },
	{ ".config/tmux", "protected: ~/.config/tmux (run-shell runs commands)" },
	{ ".vim", "protected: ~/.vim (editor plug-ins and start-up files)" },
	{ ".config/vim", "protected: ~/.config/vim (editor start-up files)" },
	{ ".local/share/nvim/site", "protected: ~/.local/share/nvim/site (editor plug-ins)" },
	{ ".local/state/nvim/trust", "protected: ~/.local/state/nvim/trust (which project files the editor runs)" },
	{ ".emacs.d/init.elc", "protected: ~/.emacs.d/init.elc (editor start-up file)" },
	{ ".config/emacs", "protected: ~/.config/emacs (editor start-up files)" },
	{ ".config/starship.toml", "protected: ~/.config/starship.toml (prompt modules run commands)" },
	{ ".oh-my-zsh/custom", "protected: ~/.oh-my-zsh/custom (sourced by every zsh)" },
	{ ".ipython/profile_default/startup", "protected: ~/.ipython/profile_default/startup (run by every IPython)" },
	{ ".config/Code/User", "protected: ~/.config/Code/User (editor user settings: tasks and terminals run code)" },
	{ ".local/share/applications", "protected: ~/.local/share/applications (desktop launchers)" },
	/* Name programs that tools run, or gate project code. */
	{ ".gnupg/gpg.conf", "protected: ~/.gnupg/gpg.conf (agent-program: run at every git signature)" },
	{ ".gnupg/gpg-agent.conf", "protected: ~/.gnupg/gpg-agent.conf (pinentry-program runs)" },
	{ ".aws/config", "protected: ~/.aws/config (credential_process runs a command)" },
	{ ".kube/config", "protected: ~/.kube/config (exec credential plug-ins run commands)" },
	{ ".docker/config.json", "protected: ~/.docker/config.json (credential helpers run)" },
	{ ".gradle/init.d", "protected: ~/.gradle/init.d (init scripts run in every build)" },
	{ ".gradle/init.gradle", "protected: ~/.gradle/init.gradle (runs in every build)" },
	{ ".m2/settings.xml", "protected: ~/.m2/settings.xml (build settings)" },
	{ ".hgrc", "protected: ~/.hgrc (Mercurial hooks and extensions run code)" },
	{ ".config/jj", "protected: ~/.config/jj (jj settings name programs it runs)" },
	{ ".config/pip", "protected: ~/.config/pip (where pip installs from)" },
	{ ".pip", "protected: ~/.pip (where pip installs from)" },
	{ ".pypirc", "protected: ~/.pypirc (where packages are uploaded)" },
	{ ".terraformrc", "protected: ~/.terraformrc (provider sources)" },
	{ ".config/mise", "protected: ~/.config/mise (tasks and trusted project configs)" },
	{ ".local/state/mise", "protected: ~/.local/state/mise (trusted project configs)" },
	{ ".local/share/direnv", "protected: ~/.local/share/direnv (which .envrc files run when you cd)" },
	{ ".config/direnv", "protected: ~/.config/direnv (direnv settings and direnvrc)" },
	/* On PATH through version managers. */
	{ ".pyenv/shims", "protected: ~/.pyenv/shims (on PATH: a program there runs instead of the real one)" },
	{ ".pyenv/versions/*/bin", "protected: a pyenv version's bin (on PATH through its shims)" },
	{ ".nvm/versions/*/*/bin", "protected: an nvm version's bin (on PATH)" },
	{ ".rustup/toolchains/*/bin", "protected: a rustup toolchain's bin (run through ~/.cargo/bin)" },
	{ ".bun/bin", "protected: ~/.bun/bin (on PATH: a program there runs instead of the real one)" },
	{ ".deno/bin", "protected: ~/.deno/bin (on PATH: a program there runs instead of the real one)" },
	{ ".volta/bin", "protected: ~/.volta/bin (on PATH: a program there runs instead of the real one)" },
};

const char *const guard_todo_files[] = {
	"rebase-merge/git-rebase-todo",
	"sequencer/todo",
	NULL,
};

/* ---- the target, split ---------------------------------------------------- */

struct target {
	char path[GUARD_FULL_MAX + 1];
	size_t len;
	size_t n;                          /* components; the last is the name */
	uint16_t off[GUARD_COMPS_MAX];
	uint16_t clen[GUARD_COMPS_MAX];
};

static const char *comp(const struct target *t, size_t i)
{
	return t->path + t->off[i];
}

/* End (exclusive) of the ancestor made of the first k components; k == 0
 * is "/". */
static size_t prefix_end(const struct target *t, size_t k)
{
	return k == 0 ? 1 : (size_t)t->off[k - 1] + t->clen[k - 1];
}

/* Ask the caller about the ancestor made of the first k components (k ==
 * t->n: the target itself). The path is cut in place for the call. */
static unsigned facts_at(const struct guard_request *req, struct target *t, size_t k, unsigned want)
{
	size_t end = prefix_end(t, k);
	char saved = t->path[end];
	t->path[end] = '\0';
	unsigned f = req->facts(req->facts_data, t->path, want);
	t->path[end] = saved;
	return f & want;
}

/* ---- matching ------------------------------------------------------------- */

static unsigned char lower(unsigned char c)
{
	return c >= 'A' && c <= 'Z' ? (unsigned char)(c - 'A' + 'a') : c;
}

/* s[0..n) equals lit exactly. */
static bool eq(const char *s, size_t n, const char *lit)
{
	return strlen(lit) == n && memcmp(s, lit, n) == 0;
}

/* s[0..n) equals lit without regard to ASCII case. */
static bool ci_eq(const char *s, size_t n, const char *lit)
{
	size_t l = strlen(lit);
	if (l != n)
		return false;
	for (size_t i = 0; i < n; i++)
		if (lower((unsigned char)s[i]) != lower((unsigned char)lit[i]))
			return false;
	return true;
}

/* Pattern p[0..pn) with '*' against s[0..n), ASCII case ignored. The usual
 * single-star backtracking: linear in practice, O(pn * n) at worst. */
static bool ci_glob(const char *p, size_t pn, const char *s, size_t n)
{
	size_t pi = 0, si = 0, star = SIZE_MAX, mark = 0;
	while (si < n) {
		if (pi < pn && p[pi] == '*') {
			star = pi++;
			mark = si;
		} else if (pi < pn && lower((unsigned char)p[pi]) == lower((unsigned char)s[si])) {
			pi++;
			si++;
		} else if (star != SIZE_MAX) {
			pi = star + 1;
			si = ++mark;
		} else {
			return false;
		}
	}
	while (pi < pn && p[pi] == '*')
		pi++;
	return pi == pn;
}

enum hit {
	HIT_NONE,
	HIT_PROTECTED, /* the target is the pattern's path or below it */
	HIT_ANCESTOR,  /* the target is a folder on the way to it */
};

/* Does pattern, anchored at component s (< t->n), reach the target? */
static enum hit match_at(const char *pattern, const struct target *t, size_t s)
{
	const char *p = pattern;
	for (size_t i = s;; i++) {
		const char *slash = strchr(p, '/');
		size_t pn = slash ? (size_t)(slash - p) : strlen(p);
		if (i == t->n)
			return HIT_ANCESTOR; /* at least component s matched */
		if (!ci_glob(p, pn, comp(t, i), t->clen[i]))
			return HIT_NONE;
		if (!slash)
			return HIT_PROTECTED;
		p = slash + 1;
	}
}

/* ---- operations ----------------------------------------------------------- */

static bool op_creates(enum guard_op op)
{
	return op == GUARD_OP_CREATE || op == GUARD_OP_MKDIR || op == GUARD_OP_MKNOD || op == GUARD_OP_SYMLINK ||
	       op == GUARD_OP_LINK_TO || op == GUARD_OP_RENAME_TO;
}

/* Calls that fail with EEXIST when the name is there. */
static bool op_exclusive(enum guard_op op)
{
	return op == GUARD_OP_MKDIR || op == GUARD_OP_MKNOD || op == GUARD_OP_SYMLINK || op == GUARD_OP_LINK_TO;
}

static bool op_removes(enum guard_op op)
{
	return op == GUARD_OP_UNLINK || op == GUARD_OP_RMDIR || op == GUARD_OP_RENAME_FROM;
}

const char *guard_op_name(enum guard_op op)
{
	static const char *const names[GUARD_OP_COUNT_] = {
		[GUARD_OP_CREATE] = "create",       [GUARD_OP_MKDIR] = "mkdir",
		[GUARD_OP_MKNOD] = "mknod",         [GUARD_OP_SYMLINK] = "symlink",
		[GUARD_OP_LINK_FROM] = "link-from", [GUARD_OP_LINK_TO] = "link",
		[GUARD_OP_RENAME_FROM] = "rename-from", [GUARD_OP_RENAME_TO] = "rename",
		[GUARD_OP_UNLINK] = "unlink",       [GUARD_OP_RMDIR] = "rmdir",
		[GUARD_OP_WRITE] = "write",         [GUARD_OP_TRUNCATE] = "truncate",
		[GUARD_OP_SETATTR] = "setattr",     [GUARD_OP_XATTR] = "xattr",
	};
	return (unsigned)op < GUARD_OP_COUNT_ ? names[op] : "?";
}

/* ---- the decision --------------------------------------------------------- */

/* What the families found so far; a refusal is returned as soon as one
 * is found, so only the allowing side is kept here. */
struct decision {
	const char *allowed;  /* the last rule that allowed explicitly */
	enum guard_new_repo new_repo;
	bool check_todo;
	enum guard_content content;
};

/* A protected path or ancestor: what may be done to it. */
static const char *judge_hit(enum hit h, enum guard_op op, const char *why, const char *ancestor_why)
{
	if (h == HIT_PROTECTED)
		return why;
	if (h == HIT_ANCESTOR && op != GUARD_OP_MKDIR)
		return ancestor_why; /* a fresh empty folder holds nothing */
	return NULL;
}

/* Family 3: protected names at every depth. */
static const char *every_depth_rule(const struct target *t, enum guard_op op)
{
	const char *ancestor = NULL;
	for (size_t s = 0; s < t->n; s++) {
		if (t->clen[s] == 0 || comp(t, s)[0] != '.')
			continue; /* every pattern starts with a dot */
		for (size_t i = 0; i < sizeof(every_depth) / sizeof(every_depth[0]); i++) {
			enum hit h = match_at(every_depth[i].pattern, t, s);
			if (h == HIT_PROTECTED)
				return every_depth[i].why;
			const char *r = judge_hit(h, op, every_depth[i].why, R_ANCESTOR_CLAUDE);
			if (r)
				ancestor = r; /* the multi-component entries are all below .claude */
		}
	}
	return ancestor;
}

/* Family 4: start-up files relative to $HOME, and $HOME with the folders
 * between the writable root and it. */
static const char *home_rule(const struct target *t, const char *home, enum guard_op op)
{
	if (!home)
		return NULL;
	size_t hl = strlen(home);
	size_t hcomps = 0;
	if (hl == 1) {
		hl = 0; /* "/": every path is in it */
	} else {
		for (size_t i = 0; i < hl; i++)
			hcomps += home[i] == '/';
	}
	/* The target on the way to $HOME (or $HOME itself): parent lies in the
	 * writable root, so the target does too. */
	if (hl > 0 && hl >= t->len && memcmp(home, t->path, t->len) == 0 && (hl == t->len || home[t->len] == '/'))
		return op == GUARD_OP_MKDIR ? NULL : R_HOME_ITSELF;
	if (!(t->len > hl && memcmp(home, t->path, hl) == 0 && t->path[hl] == '/'))
		return NULL;
	if (hcomps >= t->n)
		return NULL;
	const char *ancestor = NULL;
	for (size_t i = 0; i < sizeof(home_rules) / sizeof(home_rules[0]); i++) {
		enum hit h = match_at(home_rules[i].pattern, t, hcomps);
		const char *r = judge_hit(h, op, home_rules[i].why, R_ANCESTOR_HOME);
		if (h == HIT_PROTECTED)
			return r;
		if (r)
			ancestor = r;
	}
	return ancestor;
}

/* Top-level files of a git folder that git's everyday work writes. Exact
 * case: a name that differs only in case is refused, which is the safe side
 * on a case-insensitive file system. */
static bool git_top_file(const char *s, size_t n)
{
	static const char *const exact[] = {
		"HEAD", "AUTO_MERGE", "COMMIT_EDITMSG", "MERGE_MSG", "MERGE_MODE", "MERGE_RR", "MERGE_AUTOSTASH",
		"SQUASH_MSG", "TAG_EDITMSG", "NOTES_EDITMSG", "NOTES_MERGE_PARTIAL", "NOTES_MERGE_REF",
		"EDIT_DESCRIPTION", "GITGUI_MSG", "GITGUI_BCK", "packed-refs", "shallow", "gc.pid", "gc.log",
		"gitk.cache", "index", "packed-refs.new",
	};
	for (size_t i = 0; i < sizeof(exact) / sizeof(exact[0]); i++)
		if (eq(s, n, exact[i]))
			return true;
	/* ORIG_HEAD, FETCH_HEAD, MERGE_HEAD, CHERRY_PICK_HEAD, REVERT_HEAD,
	 * REBASE_HEAD, BISECT_HEAD and those git may add: [A-Z_]+_HEAD. */
	if (n > 5 && memcmp(s + n - 5, "_HEAD", 5) == 0) {
		bool upper = true;
		for (size_t i = 0; i < n - 5; i++)
			if (!((s[i] >= 'A' && s[i] <= 'Z') || s[i] == '_'))
				upper = false;
		if (upper)
			return true;
	}
	/* BISECT_LOG, BISECT_TERMS, BISECT_START...; temporary and split
	 * indexes (index.stash.<pid>, next-index-<pid>.lock, sharedindex.<hash>). */
	static const char *const prefixes[] = { "BISECT_", "index.", "next-index-", "sharedindex." };
	for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++) {
		size_t l = strlen(prefixes[i]);
		if (n > l && memcmp(s, prefixes[i], l) == 0)
			return true;
	}
	return false;
}

/* Folders of a git folder that its everyday work fills; their content is
 * writable (with the exceptions in git_rule). Exact case. */
static bool git_area(const char *s, size_t n)
{
	static const char *const areas[] = {
		"objects", "refs", "logs", "reftable", "rr-cache", "lfs", "rebase-merge", "rebase-apply",
		"sequencer", "NOTES_MERGE_WORKTREE",
	};
	for (size_t i = 0; i < sizeof(areas) / sizeof(areas[0]); i++)
		if (eq(s, n, areas[i]))
			return true;
	return false;
}

/* s[0..n) is stem + ".lock". */
static bool lock_of(const char *s, size_t n, size_t *ret_stem)
{
	if (n > 5 && memcmp(s + n - 5, ".lock", 5) == 0) {
		*ret_stem = n - 5;
		return true;
	}
	return false;
}

/* Same, any case. */
static bool ci_lock_of(const char *s, size_t n, size_t *ret_stem)
{
	if (n > 5 && ci_eq(s + n - 5, 5, ".lock")) {
		*ret_stem = n - 5;
		return true;
	}
	return false;
}

/* A refused top-level name of a git folder: which rule says so. */
static const char *git_refused_why(const char *s, size_t n)
{
	size_t stem = n;
	ci_lock_of(s, n, &stem);
	if (ci_eq(s, stem, "config") || ci_eq(s, stem, "config.worktree"))
		return R_GIT_CONFIG;
	if (ci_eq(s, stem, "hooks"))
		return R_GIT_HOOKS;
	if (ci_eq(s, stem, "commondir") || ci_eq(s, stem, "gitdir"))
		return R_GIT_POINTERS;
	if (ci_eq(s, stem, "modules"))
		return R_GIT_MODULES;
	if (ci_eq(s, stem, "worktrees"))
		return R_GIT_WORKTREES;
	if (ci_eq(s, stem, "info"))
		return R_GIT_INFO;
	if (ci_eq(s, stem, "branches") || ci_eq(s, stem, "remotes"))
		return R_GIT_REMOTES;
	return R_GIT_OTHER;
}

struct git_ctx {
	const struct target *t;
	size_t first;              /* index of the first component inside the git folder */
	enum guard_op op;
	bool allow_git_config;
	bool allow_new;
	bool worktree_admin;       /* inside worktrees/<id>: per-worktree rules */
	enum guard_type type;      /* of the target now */
};

/* A new repository inside a git folder (modules/<name>, worktrees/<id>)
 * is made as a new folder; anything else there is an existing one's, and
 * protected as such. */
static const char *git_new_repo(struct decision *d, const struct git_ctx *g, const char *new_why,
				const char *existing_why)
{
	if (g->op != GUARD_OP_MKDIR)
		return existing_why;
	if (!g->allow_new)
		return new_why;
	d->new_repo = GUARD_NEW_REPO_TARGET;
	d->allowed = R_NEW_REPO_ALLOWED;
	return NULL;
}

/* Family 2: the target is components first..n-1 inside a git folder that
 * existed before the run. Returns the refusing rule or NULL. */
static bool hex(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

/* A file whose content the caller checks (enum guard_content). */
static const char *git_content(struct decision *d, enum guard_op op, enum guard_content kind)
{
	if (op == GUARD_OP_LINK_TO || op == GUARD_OP_LINK_FROM)
		return R_GIT_CONTENT_LINK;
	if (op_creates(op) || op == GUARD_OP_WRITE || op == GUARD_OP_TRUNCATE)
		d->content = kind;
	d->allowed = R_GIT_CONTENT;
	return NULL;
}

static const char *git_rule(struct decision *d, struct git_ctx g)
{
	const struct target *t = g.t;
	size_t m = t->n - g.first;
	const char *c0 = comp(t, g.first);
	size_t n0 = t->clen[g.first];
	enum guard_op op = g.op;

	if (op == GUARD_OP_SYMLINK || op == GUARD_OP_MKNOD)
		return R_GIT_NODES;

	if (m == 1) {
		size_t stem;
		if (eq(c0, n0, "HEAD")) {
			if (op_removes(op))
				return R_GIT_MARKERS;
			d->allowed = R_GIT_EVERYDAY;
			return NULL;
		}
		if (ci_eq(c0, n0, "objects") || ci_eq(c0, n0, "refs") || ci_eq(c0, n0, "head")) {
			/* Missing ones may be made; nothing else, and never in
			 * another case (on a casefold folder that is HEAD). */
			if ((op == GUARD_OP_MKDIR || op == GUARD_OP_SETATTR || op == GUARD_OP_XATTR) &&
			    (eq(c0, n0, "objects") || eq(c0, n0, "refs"))) {
				d->allowed = R_GIT_EVERYDAY;
				return NULL;
			}
			return R_GIT_MARKERS;
		}
		if (eq(c0, n0, "packed-refs"))
			return git_content(d, op, GUARD_CONTENT_PACKED_REFS);
		if (eq(c0, n0, "index") || (n0 > 12 && memcmp(c0, "sharedindex.", 12) == 0))
			return git_content(d, op, GUARD_CONTENT_INDEX);
		if (git_top_file(c0, n0) || (lock_of(c0, n0, &stem) && stem > 0 && git_top_file(c0, stem))) {
			d->allowed = R_GIT_EVERYDAY;
			return NULL;
		}
		if (git_area(c0, n0)) {
			/* A whole folder renamed into place would bring content no
			 * rule looked at (a todo with exec lines). */
			if (op == GUARD_OP_RENAME_TO || op == GUARD_OP_RENAME_FROM)
				return R_GIT_AREA_MOVE;
			d->allowed = R_GIT_EVERYDAY;
			return NULL;
		}
		if (g.worktree_admin && (eq(c0, n0, "locked") || (lock_of(c0, n0, &stem) && eq(c0, stem, "locked")))) {
			d->allowed = R_GIT_EVERYDAY;
			return NULL;
		}
		const char *why = git_refused_why(c0, n0);
		if (why == R_GIT_CONFIG && g.allow_git_config) {
			stem = n0;
			lock_of(c0, n0, &stem);
			if (eq(c0, stem, "config") || eq(c0, stem, "config.worktree")) {
				d->allowed = R_GIT_CONFIG_ALLOWED;
				return NULL;
			}
		}
		/* Folders on the way to writable paths or to new repositories. */
		if (op == GUARD_OP_MKDIR && (eq(c0, n0, "info") || (!g.worktree_admin && (eq(c0, n0, "modules") ||
										       eq(c0, n0, "worktrees"))))) {
			d->allowed = R_GIT_EVERYDAY;
			return NULL;
		}
		return why;
	}

	const char *c1 = comp(t, g.first + 1);
	size_t n1 = t->clen[g.first + 1];
	if (eq(c0, n0, "objects")) {
		/* A loose object is written once, under the hash of its content:
		 * one that is there may go (git prune) or get new times (git
		 * freshens objects it would have written), never new content (it
		 * would no longer be what its name says: history swapped unseen). */
		if (m == 3 && n1 == 2 && g.type != GUARD_TYPE_NONE &&
		    (op == GUARD_OP_WRITE || op == GUARD_OP_TRUNCATE || op == GUARD_OP_RENAME_TO || op == GUARD_OP_CREATE)) {
			const char *c2 = comp(t, g.first + 2);
			size_t n2 = t->clen[g.first + 2];
			if (hex(c1, n1) && (n2 == 38 || n2 == 62) && hex(c2, n2))
				return R_GIT_OBJECT;
		}
		if (ci_eq(c1, n1, "info")) {
			if (m == 2 && (op == GUARD_OP_RENAME_FROM || op == GUARD_OP_RENAME_TO))
				return R_GIT_ALTERNATES; /* the folder that holds them */
			if (m >= 3) {
				const char *c2 = comp(t, g.first + 2);
				size_t n2 = t->clen[g.first + 2], stem = n2;
				ci_lock_of(c2, n2, &stem);
				if (ci_eq(c2, stem, "alternates") || ci_eq(c2, stem, "http-alternates"))
					return R_GIT_ALTERNATES;
			}
		}
		d->allowed = R_GIT_EVERYDAY;
		return NULL;
	}
	if (eq(c0, n0, "rebase-merge") || eq(c0, n0, "sequencer")) {
		bool todo = m == 2 && ci_eq(c1, n1, eq(c0, n0, "sequencer") ? "todo" : "git-rebase-todo");
		if (todo) {
			if (op == GUARD_OP_LINK_TO || op == GUARD_OP_LINK_FROM)
				return R_GIT_TODO_LINK;
			if (op_creates(op) || op == GUARD_OP_WRITE || op == GUARD_OP_TRUNCATE) {
				d->check_todo = true;
				d->content = GUARD_CONTENT_TODO;
			}
			d->allowed = R_GIT_TODO;
			return NULL;
		}
		if (m == 2 && ci_eq(c1, n1, eq(c0, n0, "sequencer") ? "opts" : "strategy"))
			return git_content(d, op, eq(c0, n0, "sequencer") ? GUARD_CONTENT_SEQ_OPTS : GUARD_CONTENT_STRATEGY);
		d->allowed = R_GIT_EVERYDAY;
		return NULL;
	}
	if (eq(c0, n0, "rebase-apply") && m == 2 && ci_eq(c1, n1, "strategy"))
		return git_content(d, op, GUARD_CONTENT_STRATEGY);
	if (eq(c0, n0, "refs") && ci_eq(c1, n1, "replace") && !op_removes(op))
		return R_GIT_REPLACE;
	if (git_area(c0, n0)) {
		d->allowed = R_GIT_EVERYDAY;
		return NULL;
	}
	if (ci_eq(c0, n0, "info")) {
		size_t stem = n1;
		if (eq(c0, n0, "info") && m == 2) {
			lock_of(c1, n1, &stem);
			if (eq(c1, stem, "refs") || eq(c1, stem, "sparse-checkout")) {
				d->allowed = R_GIT_EVERYDAY;
				return NULL;
			}
			/* git update-server-info (run by git gc) writes
			 * info/refs through a temporary refs_XXXXXX. */
			if (n1 == 11 && memcmp(c1, "refs_", 5) == 0) {
				d->allowed = R_GIT_EVERYDAY;
				return NULL;
			}
		}
		stem = n1;
		ci_lock_of(c1, n1, &stem);
		if (ci_eq(c1, stem, "exclude"))
			return R_GIT_EXCLUDE;
		if (ci_eq(c1, stem, "attributes"))
			return R_GIT_ATTRIBUTES;
		if (ci_eq(c1, stem, "grafts"))
			return R_GIT_GRAFTS;
		return R_GIT_INFO;
	}
	if (!g.worktree_admin && eq(c0, n0, "worktrees")) {
		if (m == 2)
			return git_new_repo(d, &g, R_NEW_WORKTREE, R_GIT_WORKTREES);
		/* worktrees/<id>/...: a linked worktree's own git folder, under
		 * the same rules (its refs, logs, index, HEAD, rebase state). */
		g.first += 2;
		g.worktree_admin = true;
		return git_rule(d, g);
	}
	if (!g.worktree_admin && eq(c0, n0, "modules"))
		return git_new_repo(d, &g, R_NEW_MODULE, R_GIT_MODULES);
	return git_refused_why(c0, n0);
}

/* Is p[0..len) absolute and normalized: no empty, "." or ".." component,
 * no trailing slash (but "/")? */
static bool normalized(const char *p, size_t len)
{
	if (len == 0 || p[0] != '/')
		return false;
	if (len == 1)
		return true;
	if (p[len - 1] == '/')
		return false;
	for (size_t i = 0; i < len;) {
		size_t j = i + 1;
		while (j < len && p[j] != '/')
			j++;
		size_t cl = j - i - 1;
		if (cl == 0 || (cl == 1 && p[i + 1] == '.') || (cl == 2 && p[i + 1] == '.' && p[i + 2] == '.'))
			return false;
		i = j;
	}
	return true;
}

/* strlen, but reading no further than max + 1 bytes: a caller's string
 * without a NUL nearby is too long, not read past. */
static size_t bounded_len(const char *s, size_t max)
{
	size_t n = 0;
	while (n <= max && s[n])
		n++;
	return n;
}

static bool valid_path(const char *p)
{
	if (!p)
		return false;
	size_t len = bounded_len(p, GUARD_PARENT_MAX);
	return len <= GUARD_PARENT_MAX && normalized(p, len);
}

/* Is path equal to dir or below it (both normalized)? */
static bool inside(const char *path, size_t plen, const char *dir)
{
	size_t dl = strlen(dir);
	if (dl == 1)
		return true;
	return plen >= dl && memcmp(path, dir, dl) == 0 && (plen == dl || path[dl] == '/');
}

static int split_target(const struct guard_request *req, struct target *t)
{
	size_t pl = bounded_len(req->parent, GUARD_PARENT_MAX);
	size_t nl = bounded_len(req->name, GUARD_NAME_MAX);
	if (pl > GUARD_PARENT_MAX || nl > GUARD_NAME_MAX)
		return -ENAMETOOLONG;
	if (!normalized(req->parent, pl))
		return -EINVAL;
	if (nl == 0 || memchr(req->name, '/', nl) || eq(req->name, nl, ".") || eq(req->name, nl, ".."))
		return -EINVAL;
	if (pl == 1)
		pl = 0; /* "/" + name, not "//" + name */
	memcpy(t->path, req->parent, pl);
	t->path[pl] = '/';
	memcpy(t->path + pl + 1, req->name, nl);
	t->len = pl + 1 + nl;
	t->path[t->len] = '\0';
	t->n = 0;
	for (size_t i = 0; i < t->len;) {
		size_t j = i + 1;
		while (j < t->len && t->path[j] != '/')
			j++;
		t->off[t->n] = (uint16_t)(i + 1);
		t->clen[t->n] = (uint16_t)(j - i - 1);
		t->n++;
		i = j;
	}
	return 0;
}

static bool marker_name(const char *s, size_t n)
{
	return ci_eq(s, n, "HEAD") || ci_eq(s, n, "objects") || ci_eq(s, n, "refs") || ci_eq(s, n, "commondir");
}

static unsigned marker_fact(const char *s, size_t n)
{
	if (ci_eq(s, n, "HEAD"))
		return GUARD_FACT_HAS_HEAD;
	if (ci_eq(s, n, "objects"))
		return GUARD_FACT_HAS_OBJECTS;
	if (ci_eq(s, n, "refs"))
		return GUARD_FACT_HAS_REFS;
	return GUARD_FACT_HAS_COMMONDIR;
}

static bool would_be_git_dir(unsigned f)
{
	return (f & GUARD_FACT_HAS_HEAD) &&
	       ((f & GUARD_FACT_HAS_COMMONDIR) || ((f & GUARD_FACT_HAS_OBJECTS) && (f & GUARD_FACT_HAS_REFS)));
}

static const char *decide(const struct guard_request *req, struct target *t, struct decision *d)
{
	enum guard_op op = req->op;
	/* O_CREAT on a name that is there opens it: a write. */
	if (op == GUARD_OP_CREATE && req->type != GUARD_TYPE_NONE)
		op = GUARD_OP_WRITE;
	size_t last = t->n - 1;
	const char *name = comp(t, last);
	size_t nlen = t->clen[last];
	bool allow_new = req->allow_new_repositories;

	/* The innermost git folder holding the target decides: a folder named
	 * .git is one by its name, others by the caller's answer. A repository
	 * created in this run counts only as the innermost one, so that a git
	 * folder of the user's never becomes writable by being moved into a
	 * new one (moving it is refused too, but the caller may not know every
	 * git folder). */
	size_t dotgit = SIZE_MAX;
	for (size_t i = last; i-- > 0;)
		if (ci_eq(comp(t, i), t->clen[i], ".git")) {
			dotgit = i + 1;
			break;
		}
	bool marker = op_creates(op) && marker_name(name, nlen);
	size_t git = SIZE_MAX; /* the innermost git folder: its number of components */
	bool in_new = false;
	for (size_t k = last;; k--) {
		bool named = k == dotgit;
		if (named && !allow_new) {
			git = k;
			break;
		}
		unsigned f = facts_at(req, t, k, GUARD_FACT_GIT_DIR | (allow_new ? GUARD_FACT_NEW_REPO : 0));
		if (f & GUARD_FACT_NEW_REPO) {
			in_new = true;
			git = k;
			break;
		}
		if (named || (f & GUARD_FACT_GIT_DIR)) {
			git = k;
			break;
		}
		if (k == 0)
			break;
	}

	/* Family 1: repositories. */
	if (ci_eq(name, nlen, ".git")) {
		if (req->type != GUARD_TYPE_NONE) {
			/* Only one this run made may be written, replaced or
			 * removed, wherever it lies. */
			if (!allow_new || !(facts_at(req, t, t->n, GUARD_FACT_NEW_REPO) & GUARD_FACT_NEW_REPO))
				return R_DOTGIT_EXISTING;
			d->allowed = R_NEW_REPO_INSIDE;
			if (op_creates(op))
				d->new_repo = GUARD_NEW_REPO_TARGET; /* the replacement is new in turn */
		} else if (op_creates(op)) {
			if (!allow_new)
				return R_NEW_REPO;
			d->allowed = R_NEW_REPO_ALLOWED;
			d->new_repo = GUARD_NEW_REPO_TARGET;
		}
	}
	if (in_new) {
		if (!d->allowed)
			d->allowed = R_NEW_REPO_INSIDE;
	} else if (git != SIZE_MAX) {
		/* Family 2. A git folder found as worktrees/<id> of another is a
		 * linked worktree's, whichever way it was recognised. */
		bool admin = git >= 2 && eq(comp(t, git - 2), t->clen[git - 2], "worktrees");
		struct git_ctx g = {
			.t = t, .first = git, .op = op, .allow_git_config = req->allow_git_config,
			.allow_new = allow_new, .worktree_admin = admin, .type = req->type,
		};
		const char *r = git_rule(d, g);
		if (r)
			return r;
	}
	/* Family 1 again: a folder turned into a bare repository. Not inside a
	 * git folder of the user's, whose own rules decide what goes there
	 * (and a bare repository in .git/refs is none git would discover);
	 * inside a new repository it records the submodule git folders that
	 * git clone --recurse-submodules makes there. */
	if (marker && git != last && (git == SIZE_MAX || in_new)) {
		unsigned f = facts_at(req, t, last,
				      GUARD_FACT_GIT_DIR | GUARD_FACT_HAS_HEAD | GUARD_FACT_HAS_OBJECTS |
					      GUARD_FACT_HAS_REFS | GUARD_FACT_HAS_COMMONDIR);
		if (!(f & GUARD_FACT_GIT_DIR) && would_be_git_dir(f | marker_fact(name, nlen))) {
			if (!allow_new)
				return R_NEW_BARE;
			d->new_repo = GUARD_NEW_REPO_PARENT;
			d->allowed = R_NEW_REPO_ALLOWED;
		}
	}

	/* Families 3 and 4 hold inside new repositories too: a clone's work
	 * tree is where the user will open an editor. */
	const char *r = every_depth_rule(t, op);
	if (r)
		return r;
	if ((r = home_rule(t, req->home, op)) != NULL)
		return r;

	/* Moving a folder away: a git folder, or one holding protected paths,
	 * would leave its name free for a replacement. */
	if (op == GUARD_OP_RENAME_FROM && req->type == GUARD_TYPE_DIR && !in_new) {
		unsigned f = facts_at(req, t, t->n,
				      GUARD_FACT_GIT_DIR | GUARD_FACT_HOLDS_PROTECTED | (allow_new ? GUARD_FACT_NEW_REPO : 0));
		if (!(f & GUARD_FACT_NEW_REPO)) {
			if (f & GUARD_FACT_GIT_DIR)
				return R_GIT_DIR_MOVE;
			if (f & GUARD_FACT_HOLDS_PROTECTED)
				return R_HOLDS;
		}
	}
	return NULL;
}

int guard_decide(const struct guard_request *req, struct guard_verdict *ret_verdict)
{
	if (!req || !ret_verdict || !req->parent || !req->name || !req->facts)
		return -EINVAL;
	if ((unsigned)req->op >= GUARD_OP_COUNT_ || (unsigned)req->type > GUARD_TYPE_OTHER)
		return -EINVAL;
	if (req->root && !valid_path(req->root))
		return -EINVAL;
	if (!req->root && !req->root_private)
		return -EINVAL;
	if (req->home && !valid_path(req->home))
		return -EINVAL;

	struct target t;
	int r = split_target(req, &t);
	if (r < 0)
		return r;
	if (req->root && !inside(req->parent, strlen(req->parent), req->root))
		return -EINVAL;

	struct decision d = { 0 };
	const char *refused = NULL;
	if (req->root_private)
		d.allowed = R_PRIVATE_TMP;
	else
		refused = decide(req, &t, &d);

	struct guard_verdict v = { 0 };
	if (refused) {
		v.rule = refused;
		v.error = op_exclusive(req->op) && req->type != GUARD_TYPE_NONE ? EEXIST : EACCES;
	} else {
		v.rule = d.allowed;
		v.new_repo = d.new_repo;
		v.check_todo = d.check_todo;
		v.content = d.content;
	}
	*ret_verdict = v;
	return 0;
}

/* ---- the rebase todo ------------------------------------------------------ */

/* The command text of an exec line in line[0..n) (no '\n'), or false. */
static bool todo_exec(const char *line, size_t n, const char **ret_arg, size_t *ret_len)
{
	size_t i = 0;
	while (i < n && (line[i] == ' ' || line[i] == '\t'))
		i++;
	if (n - i >= 4 && memcmp(line + i, "exec", 4) == 0) {
		i += 4;
	} else if (i < n && line[i] == 'x' &&
		   (i + 1 == n || line[i + 1] == ' ' || line[i + 1] == '\t' || line[i + 1] == '\r' || line[i + 1] == '\0')) {
		i += 1;
	} else {
		return false;
	}
	while (i < n && (line[i] == ' ' || line[i] == '\t'))
		i++;
	/* git strips the carriage return of a CRLF line before running it. */
	if (n > i && line[n - 1] == '\r')
		n--;
	*ret_arg = line + i;
	*ret_len = n - i;
	return true;
}

#define TODO_BEFORE_MAX 256

struct span {
	const char *p;
	size_t n;
};

size_t guard_todo_exec_line(const char *todo, size_t len, const char *before, size_t before_len)
{
	/* Without a callback: the first refused line's number. */
	return guard_content_bad_lines(GUARD_CONTENT_TODO, todo, len, before, before_len, NULL, NULL);
}

/* ---- other checked content ------------------------------------------------ */

static bool builtin_strategy(const char *s, size_t n)
{
	static const char *const names[] = { "ort", "recursive", "resolve", "octopus", "ours", "subtree" };
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (eq(s, n, names[i]))
			return true;
	return false;
}

/* Is line [p, p+n) byte for byte a line of before? */
static bool line_in(const char *p, size_t n, const char *before, size_t before_len)
{
	if (!before)
		return false;
	for (size_t i = 0; i < before_len;) {
		const char *nl = memchr(before + i, '\n', before_len - i);
		size_t e = nl ? (size_t)(nl - before) : before_len;
		if (e - i == n && memcmp(before + i, p, n) == 0)
			return true;
		i = e + 1;
	}
	return false;
}


/* A bare key of sequencer/opts as git writes it: letters, digits, '-'. */
static bool opts_key(const char *p, size_t n)
{
	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((p[i] >= 'a' && p[i] <= 'z') || (p[i] >= 'A' && p[i] <= 'Z') || (p[i] >= '0' && p[i] <= '9') ||
		      p[i] == '-'))
			return false;
	return true;
}

/* One line of sequencer/opts, exactly as git writes the file: empty,
 * "[options]", or a tab, a key, " = " and a value. Anything else (a key
 * after a section header on its line, another section, a continued
 * value, a strategy that is not git's own) is refused: the safe side. */
static bool opts_line_bad(const char *p, size_t n)
{
	if (n > 0 && p[n - 1] == '\r')
		n--;
	if (n == 0 || (n == 9 && memcmp(p, "[options]", 9) == 0))
		return false;
	if (p[0] != '\t')
		return true;
	const char *eqs = memchr(p, '=', n);
	if (!eqs || eqs < p + 2 || eqs[-1] != ' ' || (size_t)(eqs - p) + 2 > n || eqs[1] != ' ')
		return true;
	size_t kl = (size_t)(eqs - 1 - (p + 1));
	if (!opts_key(p + 1, kl))
		return true;
	const char *v = eqs + 2;
	size_t vl = n - (size_t)(v - p);
	if (vl > 0 && v[vl - 1] == '\\')
		return true; /* a value continued on the next line */
	if (ci_eq(p + 1, kl, "strategy"))
		return !builtin_strategy(v, vl);
	return false;
}

/* A line (bytes [p, p+n), number line) refused in a file of kind
 * (not TODO, not STRATEGY: those are whole-file or stateful). */
static bool bad_line(enum guard_content kind, const char *p, size_t n)
{
	switch (kind) {
	case GUARD_CONTENT_SEQ_OPTS:
		return opts_line_bad(p, n);
	case GUARD_CONTENT_PACKED_REFS: {
		static const char needle[] = "refs/replace/";
		size_t nl = sizeof(needle) - 1;
		for (size_t i = 0; i + nl <= n; i++)
			if (memcmp(p + i, needle, nl) == 0)
				return true;
		return false;
	}
	default:
		return false;
	}
}

/* The whole strategy file, as git reads it (read_oneliner: the file less
 * one trailing newline): empty, or one of git's own strategies. */
static bool strategy_bad(const char *p, size_t n)
{
	if (n > 0 && p[n - 1] == '\n')
		n--;
	if (n > 0 && p[n - 1] == '\r')
		n--;
	return n > 0 && !builtin_strategy(p, n);
}

/* ---- the index ------------------------------------------------------------- */

static uint32_t be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Does git's checkout of this index path write where it must not: a
 * component that is ".git" (any case), ".", ".." or empty, or a leading
 * '/'? */
static bool index_path_bad(const char *p, size_t n)
{
	if (n == 0 || p[0] == '/')
		return true;
	for (size_t i = 0; i <= n;) {
		const char *sl = memchr(p + i, '/', n - i);
		size_t e = sl ? (size_t)(sl - p) : n;
		size_t cl = e - i;
		if (cl == 0 || (cl == 1 && p[i] == '.') || (cl == 2 && p[i] == '.' && p[i + 1] == '.') ||
		    ci_eq(p + i, cl, ".git"))
			return true;
		i = e + 1;
	}
	return false;
}

/* Walk the entries of an index (versions 2, 3, 4) with hashes of hl
 * bytes; fn(entry number, path, path length) for each; false when the
 * file is not such an index. */
static bool index_walk(const unsigned char *c, size_t len, size_t hl,
		       bool (*fn)(void *data, size_t k, const char *path, size_t n), void *data)
{
	if (len < 12 || memcmp(c, "DIRC", 4) != 0)
		return false;
	uint32_t version = be32(c + 4), count = be32(c + 8);
	if (version < 2 || version > 4)
		return false;
	size_t at = 12;
	char prev[4096];
	size_t prev_len = 0;
	for (uint32_t k = 0; k < count; k++) {
		size_t fixed = 40 + hl + 2;
		if (at + fixed > len)
			return false;
		uint16_t flags = (uint16_t)(c[at + 40 + hl] << 8 | c[at + 40 + hl + 1]);
		if (flags & 0x4000) {
			if (version < 3)
				return false;
			fixed += 2;
		}
		size_t p = at + fixed;
		if (p > len)
			return false;
		const char *path;
		size_t n;
		char buf[4096];
		if (version == 4) {
			/* A varint: how much of the previous path to strip; then
			 * the rest, NUL-terminated. */
			size_t strip = 0;
			unsigned char b;
			int guard = 0;
			do {
				if (p >= len || ++guard > 9)
					return false;
				b = c[p++];
				strip = (strip << 7) | (b & 0x7f);
				if (b & 0x80)
					strip++;
			} while (b & 0x80);
			const unsigned char *z = memchr(c + p, 0, len - p);
			if (!z || strip > prev_len)
				return false;
			size_t tail = (size_t)(z - (c + p));
			size_t keep = prev_len - strip;
			if (keep + tail >= sizeof(buf))
				return false;
			memcpy(buf, prev, keep);
			memcpy(buf + keep, c + p, tail);
			n = keep + tail;
			path = buf;
			at = (size_t)(z - c) + 1;
		} else {
			const unsigned char *z = memchr(c + p, 0, len - p);
			if (!z)
				return false;
			n = (size_t)(z - (c + p));
			path = (const char *)c + p;
			/* 1 to 8 NULs pad the entry to a multiple of eight. */
			size_t entry = fixed + n;
			size_t padded = (entry + 8) & ~(size_t)7;
			if (at + padded > len)
				return false;
			for (size_t i = at + entry; i < at + padded; i++)
				if (c[i])
					return false;
			at += padded;
		}
		if (n >= sizeof(prev) || memchr(path, 0, n))
			return false;
		memcpy(prev, path, n);
		prev_len = n;
		if (!fn(data, k, path, n))
			return true;
	}
	return true;
}

struct index_check {
	const unsigned char *before;
	size_t before_len, before_hl;
	bool before_ok;
	size_t bad;     /* 1 + the first refused entry, 0: none */
};

struct index_find {
	const char *path;
	size_t n;
	bool found;
};

static bool find_entry(void *data, size_t k, const char *path, size_t n)
{
	(void)k;
	struct index_find *f = data;
	if (n == f->n && memcmp(path, f->path, n) == 0)
		f->found = true;
	return !f->found;
}

static bool check_entry(void *data, size_t k, const char *path, size_t n)
{
	struct index_check *ic = data;
	if (!index_path_bad(path, n))
		return true;
	if (ic->before_ok) {
		struct index_find f = { path, n, false };
		index_walk(ic->before, ic->before_len, ic->before_hl, find_entry, &f);
		if (f.found)
			return true;
	}
	ic->bad = k + 1;
	return false;
}

static bool count_entry(void *data, size_t k, const char *path, size_t n)
{
	(void)k;
	(void)path;
	(void)n;
	(*(size_t *)data)++;
	return true;
}

/* Which hash length the file parses with (SHA-1, SHA-256), or 0. */
static size_t index_hash_len(const unsigned char *c, size_t len)
{
	size_t k = 0;
	if (index_walk(c, len, 20, count_entry, &k))
		return 20;
	k = 0;
	if (index_walk(c, len, 32, count_entry, &k))
		return 32;
	return 0;
}

size_t guard_index_bad_entry(const char *content, size_t len, const char *before, size_t before_len)
{
	const unsigned char *c = (const unsigned char *)content;
	if (len == 0)
		return 0;
	size_t hl = index_hash_len(c, len);
	if (!hl)
		return 1; /* not an index git writes: refused */
	struct index_check ic = { .before = (const unsigned char *)before, .before_len = before_len };
	if (before && (ic.before_hl = index_hash_len(ic.before, before_len)) != 0)
		ic.before_ok = true;
	index_walk(c, len, hl, check_entry, &ic);
	return ic.bad;
}

size_t guard_content_bad_lines(enum guard_content kind, const char *content, size_t len, const char *before,
			       size_t before_len, guard_bad_line_fn fn, void *data)
{
	if (kind == GUARD_CONTENT_NONE || !content)
		return 0;
	if (kind == GUARD_CONTENT_INDEX) {
		/* Binary: refused whole. */
		size_t bad = guard_index_bad_entry(content, len, before, before_len);
		if (bad && fn)
			fn(data, bad, 0, len);
		return bad ? (fn ? 1 : bad) : 0;
	}
	if (kind == GUARD_CONTENT_STRATEGY) {
		/* One value, the whole file. */
		if (!strategy_bad(content, len) ||
		    (before && before_len == len && memcmp(before, content, len) == 0))
			return 0;
		if (fn)
			fn(data, 1, 0, len);
		return 1;
	}
	struct span known[TODO_BEFORE_MAX];
	size_t n_known = 0;
	if (kind == GUARD_CONTENT_TODO && before) {
		for (size_t i = 0; i < before_len && n_known < TODO_BEFORE_MAX;) {
			const char *nl = memchr(before + i, '\n', before_len - i);
			size_t e = nl ? (size_t)(nl - before) : before_len;
			const char *arg;
			size_t an;
			if (todo_exec(before + i, e - i, &arg, &an)) {
				bool dup = false;
				for (size_t k = 0; k < n_known && !dup; k++)
					dup = known[k].n == an && memcmp(known[k].p, arg, an) == 0;
				if (!dup)
					known[n_known++] = (struct span){ arg, an };
			}
			i = e + 1;
		}
	}
	size_t line = 0, count = 0;
	for (size_t i = 0; i < len;) {
		const char *nl = memchr(content + i, '\n', len - i);
		size_t e = nl ? (size_t)(nl - content) : len;
		line++;
		bool bad;
		if (kind == GUARD_CONTENT_TODO) {
			const char *arg;
			size_t an;
			bad = todo_exec(content + i, e - i, &arg, &an);
			for (size_t k = 0; bad && k < n_known; k++)
				if (known[k].n == an && memcmp(known[k].p, arg, an) == 0)
					bad = false;
		} else
			bad = bad_line(kind, content + i, e - i) && !line_in(content + i, e - i, before, before_len);
		if (bad) {
			count++;
			if (fn)
				fn(data, line, i, e);
			else
				return line; /* the first is enough */
		}
		i = e + 1;
	}
	return fn ? count : 0;
}

struct first_bad {
	size_t line;
};

static void note_first(void *data, size_t line, size_t start, size_t end)
{
	(void)start;
	(void)end;
	struct first_bad *f = data;
	if (!f->line)
		f->line = line;
}

size_t guard_content_bad_line(enum guard_content kind, const char *content, size_t len, const char *before,
			      size_t before_len)
{
	struct first_bad f = { 0 };
	guard_content_bad_lines(kind, content, len, before, before_len, note_first, &f);
	return f.line;
}
