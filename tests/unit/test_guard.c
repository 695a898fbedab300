/* Unit tests for the write guard's rules: git folders, new repositories, protected names, home start-up files, the rebase todo. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "policy/guard.h"

/* ---- a file system described by facts ------------------------------------ */

struct fact {
	const char *path;
	unsigned bits;
};

static struct fact facts_table[16];
static size_t n_facts;
static unsigned asked_want; /* union of every want asked, to check what was asked */

static void fact(const char *path, unsigned bits)
{
	assert_true(n_facts < sizeof(facts_table) / sizeof(facts_table[0]));
	facts_table[n_facts++] = (struct fact){ path, bits };
}

static unsigned fake_facts(void *data, const char *path, unsigned want)
{
	(void)data;
	asked_want |= want;
	/* The guard asks about absolute normalized folders only. */
	assert_true(path[0] == '/');
	assert_true(strcmp(path, "/") == 0 || path[strlen(path) - 1] != '/');
	assert_null(strstr(path, "//"));
	for (size_t i = 0; i < n_facts; i++)
		if (strcmp(facts_table[i].path, path) == 0)
			return facts_table[i].bits;
	return 0;
}

/* The settings and places of the test at hand. */
static struct {
	const char *root;
	const char *home;
	bool private_tmp;
	bool allow_git_config;
	bool allow_new;
} env;

static int reset(void **state)
{
	(void)state;
	n_facts = 0;
	asked_want = 0;
	env.root = "/proj";
	env.home = "/home/u";
	env.private_tmp = false;
	env.allow_git_config = false;
	env.allow_new = false;
	return 0;
}

/* Ask about path (split at its last slash here, as the broker would have
 * it split) with the current env. */
static struct guard_verdict ask_type(enum guard_op op, const char *path, enum guard_type type)
{
	char parent[4200];
	const char *slash = strrchr(path, '/');
	assert_non_null(slash);
	size_t pl = (size_t)(slash - path);
	if (pl == 0)
		pl = 1;
	memcpy(parent, path, pl);
	parent[pl] = '\0';
	struct guard_request req = {
		.op = op,
		.parent = parent,
		.name = slash + 1,
		.type = type,
		.root = env.root,
		.root_private = env.private_tmp,
		.home = env.home,
		.allow_git_config = env.allow_git_config,
		.allow_new_repositories = env.allow_new,
		.facts = fake_facts,
	};
	struct guard_verdict v;
	memset(&v, 0x55, sizeof(v));
	assert_int_equal(guard_decide(&req, &v), 0);
	if (v.error)
		assert_non_null(v.rule); /* a refusal always says why */
	return v;
}

/* The type the target would have for op: creating ops on missing names,
 * the others on files. */
static enum guard_type default_type(enum guard_op op)
{
	switch (op) {
	case GUARD_OP_CREATE:
	case GUARD_OP_MKDIR:
	case GUARD_OP_MKNOD:
	case GUARD_OP_SYMLINK:
	case GUARD_OP_LINK_TO:
	case GUARD_OP_RENAME_TO:
		return GUARD_TYPE_NONE;
	case GUARD_OP_RMDIR:
		return GUARD_TYPE_DIR;
	default:
		return GUARD_TYPE_FILE;
	}
}

static struct guard_verdict ask(enum guard_op op, const char *path)
{
	return ask_type(op, path, default_type(op));
}

#define ALLOWED(op, path) assert_int_equal(ask((op), (path)).error, 0)
#define REFUSED(op, path) assert_int_equal(ask((op), (path)).error, EACCES)

static void assert_rule_has(struct guard_verdict v, const char *text)
{
	assert_non_null(v.rule);
	if (!strstr(v.rule, text))
		fail_msg("rule \"%s\" does not mention \"%s\"", v.rule, text);
}

/* ---- git folders: everyday work ----------------------------------------- */

static void test_git_everyday_work_is_allowed(void **state)
{
	(void)state;
	/* git commit */
	ALLOWED(GUARD_OP_MKDIR, "/proj/.git/objects/ab");
	ALLOWED(GUARD_OP_CREATE, "/proj/.git/objects/ab/tmp_obj_Xyz");
	ALLOWED(GUARD_OP_LINK_FROM, "/proj/.git/objects/ab/tmp_obj_Xyz");
	ALLOWED(GUARD_OP_LINK_TO, "/proj/.git/objects/ab/cdef0123");
	ALLOWED(GUARD_OP_UNLINK, "/proj/.git/objects/ab/tmp_obj_Xyz");
	ALLOWED(GUARD_OP_CREATE, "/proj/.git/index.lock");
	ALLOWED(GUARD_OP_RENAME_FROM, "/proj/.git/index.lock");
	ALLOWED(GUARD_OP_RENAME_TO, "/proj/.git/index");
	ALLOWED(GUARD_OP_WRITE, "/proj/.git/COMMIT_EDITMSG");
	ALLOWED(GUARD_OP_CREATE, "/proj/.git/refs/heads/main.lock");
	ALLOWED(GUARD_OP_RENAME_TO, "/proj/.git/refs/heads/main");
	ALLOWED(GUARD_OP_MKDIR, "/proj/.git/refs/heads/feature");
	ALLOWED(GUARD_OP_WRITE, "/proj/.git/logs/HEAD");
	ALLOWED(GUARD_OP_CREATE, "/proj/.git/logs/refs/heads/main");
	/* checkout, merge, rebase, cherry-pick, bisect, fetch, gc */
	ALLOWED(GUARD_OP_CREATE, "/proj/.git/HEAD.lock");
	ALLOWED(GUARD_OP_RENAME_TO, "/proj/.git/HEAD");
	ALLOWED(GUARD_OP_WRITE, "/proj/.git/ORIG_HEAD");
	ALLOWED(GUARD_OP_CREATE, "/proj/.git/MERGE_HEAD");
	ALLOWED(GUARD_OP_UNLINK, "/proj/.git/MERGE_HEAD");
	ALLOWED(GUARD_OP_CREATE, "/proj/.git/CHERRY_PICK_HEAD");
	ALLOWED(GUARD_OP_CREATE, "/proj/.git/REVERT_HEAD");
	ALLOWED(GUARD_OP_CREATE, "/proj/.git/FETCH_HEAD");
	ALLOWED(GUARD_OP_CREATE, "/proj/.git/AUTO_MERGE");
	ALLOWED(GUARD_OP_CREATE, "/proj/.git/MERGE_MSG");
	ALLOWED(GUARD_OP_CREATE, "/proj/.git/MERGE_MODE");
	ALLOWED(GUARD_OP_CREATE, "/proj/.git/SQUASH_MSG");
	ALLOWED(GUARD_OP_CREATE, "/proj/.git/BISECT_LOG");
	ALLOWED(GUARD_OP_CREATE, "/proj/.git/packed-refs.lock");
	ALLOWED(GUARD_OP_RENAME_TO, "/proj/.git/packed-refs");
	/* git pack-refs, branch -d, tag -d: the new packed-refs is written
	 * as packed-refs.new, then renamed into place. */
	ALLOWED(GUARD_OP_CREATE, "/proj/.git/packed-refs.new");
	ALLOWED(GUARD_OP_RENAME_FROM, "/proj/.git/packed-refs.new");
	/* git gc's update-server-info: info/refs through a temporary. */
	ALLOWED(GUARD_OP_CREATE, "/proj/.git/info/refs_a1B2c3");
	ALLOWED(GUARD_OP_RENAME_TO, "/proj/.git/info/refs");
	ALLOWED(GUARD_OP_UNLINK, "/proj/.git/info/refs_a1B2c3");
	ALLOWED(GUARD_OP_RENAME_FROM, "/proj/.git/info/refs_a1B2c3");
	ALLOWED(GUARD_OP_MKDIR, "/proj/.git/rebase-merge");
	ALLOWED(GUARD_OP_CREATE, "/proj/.git/rebase-merge/done");
	ALLOWED(GUARD_OP_WRITE, "/proj/.git/rebase-merge/author-script");
	ALLOWED(GUARD_OP_RMDIR, "/proj/.git/rebase-merge");
	ALLOWED(GUARD_OP_CREATE, "/proj/.git/rebase-apply/0001");
	ALLOWED(GUARD_OP_CREATE, "/proj/.git/sequencer/opts");
	ALLOWED(GUARD_OP_CREATE, "/proj/.git/objects/pack/pack-1.pack");
	ALLOWED(GUARD_OP_CREATE, "/proj/.git/objects/info/commit-graph");
	ALLOWED(GUARD_OP_CREATE, "/proj/.git/objects/info/packs");
	ALLOWED(GUARD_OP_CREATE, "/proj/.git/gc.pid");
	ALLOWED(GUARD_OP_CREATE, "/proj/.git/gc.log.lock");
	ALLOWED(GUARD_OP_CREATE, "/proj/.git/shallow.lock");
	ALLOWED(GUARD_OP_RENAME_TO, "/proj/.git/shallow");
	ALLOWED(GUARD_OP_CREATE, "/proj/.git/next-index-1234.lock");
	ALLOWED(GUARD_OP_CREATE, "/proj/.git/index.stash.1234");
	ALLOWED(GUARD_OP_CREATE, "/proj/.git/sharedindex.0123abcd");
	ALLOWED(GUARD_OP_MKDIR, "/proj/.git/info");
	ALLOWED(GUARD_OP_CREATE, "/proj/.git/info/refs");
	ALLOWED(GUARD_OP_CREATE, "/proj/.git/info/sparse-checkout");
	ALLOWED(GUARD_OP_CREATE, "/proj/.git/lfs/objects/ab/cd/abcdef");
	ALLOWED(GUARD_OP_SETATTR, "/proj/.git/index");
	assert_rule_has(ask(GUARD_OP_WRITE, "/proj/.git/index"), "everyday");
	/* Nothing is asked beyond what the git rules need. */
	assert_int_equal(asked_want & ~(unsigned)GUARD_FACT_GIT_DIR, 0);
}

/* ---- git folders: what runs code later ----------------------------------- */

static void test_git_config_and_hooks_are_refused(void **state)
{
	(void)state;
	struct guard_verdict v = ask(GUARD_OP_WRITE, "/proj/.git/config");
	assert_int_equal(v.error, EACCES);
	assert_rule_has(v, ".git/config");
	assert_rule_has(v, "core.fsmonitor");
	REFUSED(GUARD_OP_CREATE, "/proj/.git/config.lock");
	REFUSED(GUARD_OP_RENAME_FROM, "/proj/.git/config.lock");
	REFUSED(GUARD_OP_RENAME_TO, "/proj/.git/config");
	REFUSED(GUARD_OP_UNLINK, "/proj/.git/config");
	REFUSED(GUARD_OP_SETATTR, "/proj/.git/config");
	REFUSED(GUARD_OP_CREATE, "/proj/.git/config.worktree");
	v = ask(GUARD_OP_CREATE, "/proj/.git/hooks/pre-commit");
	assert_int_equal(v.error, EACCES);
	assert_rule_has(v, ".git/hooks");
	REFUSED(GUARD_OP_RENAME_TO, "/proj/.git/hooks/post-checkout");
	REFUSED(GUARD_OP_RENAME_FROM, "/proj/.git/hooks/pre-commit.sample");
	REFUSED(GUARD_OP_SETATTR, "/proj/.git/hooks/pre-commit.sample"); /* chmod +x */
	REFUSED(GUARD_OP_UNLINK, "/proj/.git/hooks/pre-commit");
	assert_int_equal(ask_type(GUARD_OP_RENAME_FROM, "/proj/.git/hooks", GUARD_TYPE_DIR).error, EACCES);
	REFUSED(GUARD_OP_RMDIR, "/proj/.git/hooks");
	REFUSED(GUARD_OP_MKDIR, "/proj/.git/hooks");
	assert_rule_has(ask(GUARD_OP_CREATE, "/proj/.git/commondir"), "commondir");
	REFUSED(GUARD_OP_CREATE, "/proj/.git/gitdir");
	REFUSED(GUARD_OP_LINK_FROM, "/proj/.git/config"); /* a second name would write it */
}

static void test_git_info_alternates_and_unknown(void **state)
{
	(void)state;
	assert_rule_has(ask(GUARD_OP_CREATE, "/proj/.git/info/exclude"), "info/exclude");
	assert_rule_has(ask(GUARD_OP_WRITE, "/proj/.git/info/attributes"), "info/attributes");
	REFUSED(GUARD_OP_CREATE, "/proj/.git/info/grafts");
	REFUSED(GUARD_OP_CREATE, "/proj/.git/info/exclude.lock");
	/* Only refs_ and six characters. */
	REFUSED(GUARD_OP_CREATE, "/proj/.git/info/refs_abc");
	REFUSED(GUARD_OP_CREATE, "/proj/.git/info/refs_abcdefg");
	/* Replacement refs graft history like info/grafts; removing one
	 * only undoes it. */
	assert_rule_has(ask(GUARD_OP_CREATE, "/proj/.git/refs/replace/0123456789abcdef0123456789abcdef01234567"),
			"refs/replace");
	REFUSED(GUARD_OP_MKDIR, "/proj/.git/refs/replace");
	/* Loose objects are written once. */
	ALLOWED(GUARD_OP_CREATE, "/proj/.git/objects/ab/cdef0123456789abcdef0123456789abcdef01");
	ALLOWED(GUARD_OP_LINK_TO, "/proj/.git/objects/ab/cdef0123456789abcdef0123456789abcdef01");
	assert_rule_has(ask_type(GUARD_OP_RENAME_TO, "/proj/.git/objects/ab/cdef0123456789abcdef0123456789abcdef01",
				 GUARD_TYPE_FILE), "object");
	assert_int_equal(ask_type(GUARD_OP_WRITE, "/proj/.git/objects/ab/cdef0123456789abcdef0123456789abcdef01",
				  GUARD_TYPE_FILE).error, EACCES);
	assert_int_equal(ask_type(GUARD_OP_SETATTR, "/proj/.git/objects/ab/cdef0123456789abcdef0123456789abcdef01",
				  GUARD_TYPE_FILE).error, 0); /* git freshens its times */
	assert_int_equal(ask_type(GUARD_OP_UNLINK, "/proj/.git/objects/ab/cdef0123456789abcdef0123456789abcdef01",
				  GUARD_TYPE_FILE).error, 0);
	assert_int_equal(ask_type(GUARD_OP_WRITE, "/proj/.git/objects/pack/pack-1.pack", GUARD_TYPE_FILE).error, 0);
	/* Mercurial and jj settings at every depth. */
	REFUSED(GUARD_OP_WRITE, "/proj/sub/.hg/hgrc");
	REFUSED(GUARD_OP_CREATE, "/proj/.jj/repo/config.toml");
	REFUSED(GUARD_OP_RENAME_TO, "/proj/.git/refs/replace/abc");
	ALLOWED(GUARD_OP_UNLINK, "/proj/.git/refs/replace/abc");
	ALLOWED(GUARD_OP_CREATE, "/proj/.git/refs/replacement-branch");
	REFUSED(GUARD_OP_RMDIR, "/proj/.git/info");
	assert_rule_has(ask(GUARD_OP_CREATE, "/proj/.git/objects/info/alternates"), "alternates");
	REFUSED(GUARD_OP_CREATE, "/proj/.git/objects/info/http-alternates");
	REFUSED(GUARD_OP_CREATE, "/proj/.git/objects/info/alternates.lock");
	assert_int_equal(ask_type(GUARD_OP_RENAME_FROM, "/proj/.git/objects/info", GUARD_TYPE_DIR).error, EACCES);
	REFUSED(GUARD_OP_WRITE, "/proj/.git/description");
	REFUSED(GUARD_OP_CREATE, "/proj/.git/remotes/origin");
	REFUSED(GUARD_OP_CREATE, "/proj/.git/branches/x");
	REFUSED(GUARD_OP_CREATE, "/proj/.git/something-new");
	REFUSED(GUARD_OP_CREATE, "/proj/.git/config_HEAD"); /* *_HEAD is upper case */
	/* Whole areas are not swapped in or out: their content was never looked at. */
	assert_int_equal(ask_type(GUARD_OP_RENAME_TO, "/proj/.git/rebase-merge", GUARD_TYPE_NONE).error, EACCES);
	assert_int_equal(ask_type(GUARD_OP_RENAME_FROM, "/proj/.git/logs", GUARD_TYPE_DIR).error, EACCES);
}

static void test_git_markers_links_and_nodes(void **state)
{
	(void)state;
	/* Without HEAD, objects or refs the folder would no longer look like
	 * a git folder to the caller, and its config would be a plain file. */
	assert_rule_has(ask(GUARD_OP_UNLINK, "/proj/.git/HEAD"), "HEAD");
	REFUSED(GUARD_OP_RENAME_FROM, "/proj/.git/HEAD");
	REFUSED(GUARD_OP_RMDIR, "/proj/.git/objects");
	assert_int_equal(ask_type(GUARD_OP_RENAME_FROM, "/proj/.git/refs", GUARD_TYPE_DIR).error, EACCES);
	REFUSED(GUARD_OP_RENAME_TO, "/proj/.git/objects");
	ALLOWED(GUARD_OP_MKDIR, "/proj/.git/refs");
	/* No links or nodes anywhere in a git folder. */
	assert_rule_has(ask(GUARD_OP_SYMLINK, "/proj/.git/refs/heads/x"), "symbolic links");
	REFUSED(GUARD_OP_SYMLINK, "/proj/.git/objects/ab/cd");
	REFUSED(GUARD_OP_MKNOD, "/proj/.git/index");
}

static void test_git_case_insensitive_refusals(void **state)
{
	(void)state;
	/* On a casefold folder these are the protected names. */
	REFUSED(GUARD_OP_CREATE, "/proj/.GIT/hooks/pre-commit");
	REFUSED(GUARD_OP_MKDIR, "/proj/.Git");
	REFUSED(GUARD_OP_CREATE, "/proj/.git/Hooks/pre-commit");
	REFUSED(GUARD_OP_WRITE, "/proj/.git/CONFIG");
	REFUSED(GUARD_OP_CREATE, "/proj/.git/head");
	REFUSED(GUARD_OP_CREATE, "/proj/.git/Objects/ab/cd");
	REFUSED(GUARD_OP_CREATE, "/proj/.git/objects/info/ALTERNATES");
	env.allow_git_config = true;
	REFUSED(GUARD_OP_WRITE, "/proj/.git/CONFIG"); /* allowed by its exact name only */
	ALLOWED(GUARD_OP_WRITE, "/proj/.git/config");
}

static void test_allow_git_config(void **state)
{
	(void)state;
	env.allow_git_config = true;
	assert_rule_has(ask(GUARD_OP_WRITE, "/proj/.git/config"), "allowGitConfig");
	ALLOWED(GUARD_OP_CREATE, "/proj/.git/config.lock");
	ALLOWED(GUARD_OP_RENAME_TO, "/proj/.git/config");
	ALLOWED(GUARD_OP_CREATE, "/proj/.git/config.worktree");
	/* Only config: hooks and pointers stay protected. */
	REFUSED(GUARD_OP_CREATE, "/proj/.git/hooks/pre-commit");
	REFUSED(GUARD_OP_CREATE, "/proj/.git/commondir");
	REFUSED(GUARD_OP_CREATE, "/proj/.git/worktrees/x/commondir");
}

/* ---- worktrees, submodules, git folders not named .git ------------------- */

static void test_worktrees(void **state)
{
	(void)state;
	/* By structure (the caller does not recognise worktrees/x). */
	ALLOWED(GUARD_OP_RENAME_TO, "/proj/.git/worktrees/x/HEAD");
	ALLOWED(GUARD_OP_CREATE, "/proj/.git/worktrees/x/index.lock");
	ALLOWED(GUARD_OP_WRITE, "/proj/.git/worktrees/x/logs/HEAD");
	ALLOWED(GUARD_OP_CREATE, "/proj/.git/worktrees/x/ORIG_HEAD");
	ALLOWED(GUARD_OP_CREATE, "/proj/.git/worktrees/x/locked");
	ALLOWED(GUARD_OP_CREATE, "/proj/.git/worktrees/x/rebase-merge/done");
	assert_rule_has(ask(GUARD_OP_WRITE, "/proj/.git/worktrees/x/commondir"), "commondir");
	REFUSED(GUARD_OP_WRITE, "/proj/.git/worktrees/x/gitdir");
	REFUSED(GUARD_OP_CREATE, "/proj/.git/worktrees/x/config.worktree");
	REFUSED(GUARD_OP_CREATE, "/proj/.git/worktrees/x/hooks/post-checkout");
	REFUSED(GUARD_OP_MKDIR, "/proj/.git/worktrees/x/worktrees"); /* no nesting */
	REFUSED(GUARD_OP_CREATE, "/proj/.git/locked");                /* main folder: no such file */
	assert_int_equal(ask_type(GUARD_OP_RENAME_FROM, "/proj/.git/worktrees/x", GUARD_TYPE_DIR).error, EACCES);
	REFUSED(GUARD_OP_RMDIR, "/proj/.git/worktrees/x");
	/* Recognised by the caller (HEAD + commondir): the same answers. */
	fact("/proj/.git/worktrees/x", GUARD_FACT_GIT_DIR);
	ALLOWED(GUARD_OP_CREATE, "/proj/.git/worktrees/x/locked");
	ALLOWED(GUARD_OP_CREATE, "/proj/.git/worktrees/x/index.lock");
	REFUSED(GUARD_OP_WRITE, "/proj/.git/worktrees/x/commondir");
	REFUSED(GUARD_OP_WRITE, "/proj/.git/worktrees/x/gitdir");
	REFUSED(GUARD_OP_CREATE, "/proj/.git/worktrees/x/config.worktree");
	/* git worktree add: a new repository. */
	ALLOWED(GUARD_OP_MKDIR, "/proj/.git/worktrees");
	struct guard_verdict v = ask(GUARD_OP_MKDIR, "/proj/.git/worktrees/y");
	assert_int_equal(v.error, EACCES);
	assert_rule_has(v, "allowNewRepositories");
	env.allow_new = true;
	v = ask(GUARD_OP_MKDIR, "/proj/.git/worktrees/y");
	assert_int_equal(v.error, 0);
	assert_int_equal(v.new_repo, GUARD_NEW_REPO_TARGET);
}

static void test_submodules(void **state)
{
	(void)state;
	fact("/proj/.git/modules/sub", GUARD_FACT_GIT_DIR);
	fact("/proj/.git/modules/lib/deep", GUARD_FACT_GIT_DIR);
	/* Inside a submodule's git folder its own everyday rules apply. */
	ALLOWED(GUARD_OP_CREATE, "/proj/.git/modules/sub/objects/ab/cdef");
	ALLOWED(GUARD_OP_RENAME_TO, "/proj/.git/modules/sub/HEAD");
	ALLOWED(GUARD_OP_CREATE, "/proj/.git/modules/lib/deep/refs/heads/x");
	assert_rule_has(ask(GUARD_OP_WRITE, "/proj/.git/modules/sub/config"), ".git/config");
	REFUSED(GUARD_OP_CREATE, "/proj/.git/modules/sub/hooks/post-checkout");
	REFUSED(GUARD_OP_WRITE, "/proj/.git/modules/lib/deep/config");
	REFUSED(GUARD_OP_MKDIR, "/proj/.git/modules/sub/modules/nested");
	/* The modules folder itself: no moving or removing git folders. */
	assert_int_equal(ask_type(GUARD_OP_RENAME_FROM, "/proj/.git/modules/sub", GUARD_TYPE_DIR).error, EACCES);
	REFUSED(GUARD_OP_RMDIR, "/proj/.git/modules/lib");
	REFUSED(GUARD_OP_CREATE, "/proj/.git/modules/lib/config"); /* "lib" is no git folder */
	/* git submodule add / update --init: a new repository. */
	ALLOWED(GUARD_OP_MKDIR, "/proj/.git/modules");
	assert_rule_has(ask(GUARD_OP_MKDIR, "/proj/.git/modules/new"), "allowNewRepositories");
	REFUSED(GUARD_OP_MKDIR, "/proj/.git/modules/lib/other");
	env.allow_new = true;
	struct guard_verdict v = ask(GUARD_OP_MKDIR, "/proj/.git/modules/lib/other");
	assert_int_equal(v.error, 0);
	assert_int_equal(v.new_repo, GUARD_NEW_REPO_TARGET);
	REFUSED(GUARD_OP_WRITE, "/proj/.git/modules/sub/config"); /* existing ones stay protected */
}

static void test_git_folders_elsewhere(void **state)
{
	(void)state;
	/* /proj/.git is a file "gitdir: /proj/gitdirs/p"; the broker resolved
	 * through it, and says what the folder is. */
	fact("/proj/gitdirs/p", GUARD_FACT_GIT_DIR);
	ALLOWED(GUARD_OP_CREATE, "/proj/gitdirs/p/objects/ab/cd");
	ALLOWED(GUARD_OP_CREATE, "/proj/gitdirs/p/index.lock");
	REFUSED(GUARD_OP_WRITE, "/proj/gitdirs/p/config");
	REFUSED(GUARD_OP_CREATE, "/proj/gitdirs/p/hooks/pre-push");
	REFUSED(GUARD_OP_UNLINK, "/proj/gitdirs/p/HEAD");
	/* A bare repository; its folder cannot be moved away either. */
	env.root = "/srv";
	fact("/srv/r.git", GUARD_FACT_GIT_DIR);
	REFUSED(GUARD_OP_CREATE, "/srv/r.git/hooks/update");
	ALLOWED(GUARD_OP_CREATE, "/srv/r.git/refs/heads/main");
	struct guard_verdict v = ask_type(GUARD_OP_RENAME_FROM, "/srv/r.git", GUARD_TYPE_DIR);
	assert_int_equal(v.error, EACCES);
	assert_rule_has(v, "git folder");
	/* A writable root inside a git folder is judged as the part it is. */
	env.root = "/proj/.git/hooks";
	REFUSED(GUARD_OP_CREATE, "/proj/.git/hooks/pre-commit");
	env.root = "/proj/.git/refs";
	ALLOWED(GUARD_OP_CREATE, "/proj/.git/refs/heads/x");
}

/* ---- new repositories ---------------------------------------------------- */

static void test_new_repository_refused_by_default(void **state)
{
	(void)state;
	struct guard_verdict v = ask(GUARD_OP_MKDIR, "/proj/a/b/c/d/e/f/g/.git");
	assert_int_equal(v.error, EACCES);
	assert_rule_has(v, "new repository: filesystem.allowNewRepositories is not set");
	REFUSED(GUARD_OP_MKDIR, "/proj/.git");
	REFUSED(GUARD_OP_CREATE, "/proj/sub/.git"); /* a .git file: "gitdir: ..." */
	REFUSED(GUARD_OP_SYMLINK, "/proj/sub/.git");
	REFUSED(GUARD_OP_LINK_TO, "/proj/sub/.git");
	REFUSED(GUARD_OP_MKNOD, "/proj/sub/.git");
	REFUSED(GUARD_OP_RENAME_TO, "/proj/sub/.git");
	REFUSED(GUARD_OP_MKDIR, "/proj/.git/objects/.git"); /* inside a git folder too */
	assert_int_equal(v.new_repo, GUARD_NEW_REPO_NONE);
	/* mkdir of an existing .git answers what the kernel would (git init
	 * in an existing repository, mkdir -p). */
	assert_int_equal(ask_type(GUARD_OP_MKDIR, "/proj/.git", GUARD_TYPE_DIR).error, EEXIST);
	assert_int_equal(ask_type(GUARD_OP_SYMLINK, "/proj/.git", GUARD_TYPE_FILE).error, EEXIST);
}

static void test_new_repository_with_the_setting(void **state)
{
	(void)state;
	env.allow_new = true;
	struct guard_verdict v = ask(GUARD_OP_MKDIR, "/proj/a/b/c/d/e/f/g/.git");
	assert_int_equal(v.error, 0);
	assert_int_equal(v.new_repo, GUARD_NEW_REPO_TARGET);
	assert_rule_has(v, "allowNewRepositories");
	v = ask(GUARD_OP_CREATE, "/proj/wt/.git");
	assert_int_equal(v.error, 0);
	assert_int_equal(v.new_repo, GUARD_NEW_REPO_TARGET);
	/* Once recorded, all of it is the command's: git init writes config
	 * and hooks. */
	fact("/proj/clone/.git", GUARD_FACT_NEW_REPO);
	ALLOWED(GUARD_OP_CREATE, "/proj/clone/.git/config");
	ALLOWED(GUARD_OP_CREATE, "/proj/clone/.git/hooks/pre-commit.sample");
	ALLOWED(GUARD_OP_SYMLINK, "/proj/clone/.git/whatever");
	ALLOWED(GUARD_OP_RMDIR, "/proj/clone/.git/hooks");
	assert_int_equal(ask_type(GUARD_OP_RMDIR, "/proj/clone/.git", GUARD_TYPE_DIR).error, 0);
	/* A submodule's git folder made inside it is recorded when it becomes
	 * one (clone --recurse-submodules). */
	fact("/proj/clone/.git/modules/s", GUARD_FACT_HAS_OBJECTS | GUARD_FACT_HAS_REFS);
	v = ask(GUARD_OP_RENAME_TO, "/proj/clone/.git/modules/s/HEAD");
	assert_int_equal(v.error, 0);
	assert_int_equal(v.new_repo, GUARD_NEW_REPO_PARENT);
	/* The work tree of a new repository keeps the protected names. */
	REFUSED(GUARD_OP_MKDIR, "/proj/clone/.vscode");
	REFUSED(GUARD_OP_CREATE, "/proj/clone/.gitmodules");
	/* Without the setting the record means nothing. */
	env.allow_new = false;
	REFUSED(GUARD_OP_CREATE, "/proj/clone/.git/config");
}

static void test_existing_dotgit_is_kept(void **state)
{
	(void)state;
	struct guard_verdict v = ask_type(GUARD_OP_RENAME_FROM, "/proj/.git", GUARD_TYPE_DIR);
	assert_int_equal(v.error, EACCES);
	assert_rule_has(v, "existing .git");
	REFUSED(GUARD_OP_RMDIR, "/proj/.git");
	REFUSED(GUARD_OP_UNLINK, "/proj/sub/.git");  /* a .git file */
	REFUSED(GUARD_OP_WRITE, "/proj/sub/.git");   /* repointing gitdir: */
	REFUSED(GUARD_OP_TRUNCATE, "/proj/sub/.git");
	REFUSED(GUARD_OP_LINK_FROM, "/proj/sub/.git");
	REFUSED(GUARD_OP_SETATTR, "/proj/.git");
	assert_int_equal(ask_type(GUARD_OP_RENAME_TO, "/proj/.git", GUARD_TYPE_DIR).error, EACCES);
	assert_int_equal(ask_type(GUARD_OP_CREATE, "/proj/sub/.git", GUARD_TYPE_FILE).error, EACCES);
	/* Even with the setting: only one this run made may go. */
	env.allow_new = true;
	assert_int_equal(ask_type(GUARD_OP_RENAME_FROM, "/proj/.git", GUARD_TYPE_DIR).error, EACCES);
	assert_int_equal(ask_type(GUARD_OP_RENAME_TO, "/proj/.git", GUARD_TYPE_DIR).error, EACCES);
	fact("/proj/new/.git", GUARD_FACT_NEW_REPO);
	assert_int_equal(ask_type(GUARD_OP_RENAME_FROM, "/proj/new/.git", GUARD_TYPE_DIR).error, 0);
	struct guard_verdict r = ask_type(GUARD_OP_RENAME_TO, "/proj/new/.git", GUARD_TYPE_DIR);
	assert_int_equal(r.error, 0);
	assert_int_equal(r.new_repo, GUARD_NEW_REPO_TARGET);
}

static void test_bare_repository(void **state)
{
	(void)state;
	/* The last of HEAD, objects, refs makes a folder a repository git
	 * discovers (cd docs && git status). */
	fact("/proj/docs", GUARD_FACT_HAS_OBJECTS | GUARD_FACT_HAS_REFS);
	struct guard_verdict v = ask(GUARD_OP_CREATE, "/proj/docs/HEAD");
	assert_int_equal(v.error, EACCES);
	assert_rule_has(v, "new repository");
	REFUSED(GUARD_OP_RENAME_TO, "/proj/docs/HEAD");
	fact("/proj/a", GUARD_FACT_HAS_HEAD | GUARD_FACT_HAS_REFS);
	REFUSED(GUARD_OP_MKDIR, "/proj/a/objects");
	fact("/proj/w", GUARD_FACT_HAS_HEAD);
	REFUSED(GUARD_OP_CREATE, "/proj/w/commondir");
	/* Not yet a repository after it: fine (a HEAD file in a project). */
	fact("/proj/b", GUARD_FACT_HAS_OBJECTS);
	ALLOWED(GUARD_OP_CREATE, "/proj/b/HEAD");
	ALLOWED(GUARD_OP_CREATE, "/proj/src/objects");
	/* Inside a git folder of the user's, its own rules decide. */
	fact("/proj/.git/refs/heads/x", GUARD_FACT_HAS_OBJECTS | GUARD_FACT_HAS_REFS);
	ALLOWED(GUARD_OP_CREATE, "/proj/.git/refs/heads/x/HEAD");
	/* With the setting: the parent is the new repository. */
	env.allow_new = true;
	v = ask(GUARD_OP_CREATE, "/proj/docs/HEAD");
	assert_int_equal(v.error, 0);
	assert_int_equal(v.new_repo, GUARD_NEW_REPO_PARENT);
}

/* ---- protected names ----------------------------------------------------- */

static void test_protected_names_at_every_depth(void **state)
{
	(void)state;
	struct guard_verdict v = ask(GUARD_OP_WRITE, "/proj/.bashrc");
	assert_int_equal(v.error, EACCES);
	assert_rule_has(v, ".bashrc");
	REFUSED(GUARD_OP_CREATE, "/proj/a/b/c/d/e/f/g/h/i/.bashrc");
	REFUSED(GUARD_OP_CREATE, "/proj/node_modules/pkg/.zshenv");
	REFUSED(GUARD_OP_RENAME_TO, "/proj/.profile");
	REFUSED(GUARD_OP_RENAME_FROM, "/proj/.profile");
	REFUSED(GUARD_OP_UNLINK, "/proj/x/.gitconfig");
	REFUSED(GUARD_OP_SYMLINK, "/proj/.zshrc");
	REFUSED(GUARD_OP_CREATE, "/proj/deep/er/.mcp.json");
	REFUSED(GUARD_OP_CREATE, "/proj/.gitmodules");
	REFUSED(GUARD_OP_CREATE, "/proj/.ripgreprc");
	REFUSED(GUARD_OP_MKDIR, "/proj/sub/.vscode");
	REFUSED(GUARD_OP_CREATE, "/proj/sub/.vscode/tasks.json");
	REFUSED(GUARD_OP_CREATE, "/proj/a/b/c/d/e/f/.idea/workspace.xml");
	REFUSED(GUARD_OP_CREATE, "/proj/.sandbox/x");
	REFUSED(GUARD_OP_CREATE, "/proj/sub/.claude/settings.json");
	REFUSED(GUARD_OP_CREATE, "/proj/sub/.claude/settings.local.json");
	REFUSED(GUARD_OP_CREATE, "/proj/.claude/commands/deploy.md");
	REFUSED(GUARD_OP_CREATE, "/proj/.claude/agents/a.md");
	REFUSED(GUARD_OP_CREATE, "/proj/.BASHRC"); /* casefold folders */
	REFUSED(GUARD_OP_MKDIR, "/proj/.VSCode");
	REFUSED(GUARD_OP_LINK_FROM, "/proj/.bashrc");
	REFUSED(GUARD_OP_XATTR, "/proj/.vscode/settings.json");
	/* Near misses are ordinary names. */
	ALLOWED(GUARD_OP_CREATE, "/proj/.bashrc.bak");
	ALLOWED(GUARD_OP_CREATE, "/proj/bashrc");
	ALLOWED(GUARD_OP_CREATE, "/proj/.vscode-test");
	ALLOWED(GUARD_OP_CREATE, "/proj/.claude/todos.json");
	ALLOWED(GUARD_OP_MKDIR, "/proj/.claude/projects");
	ALLOWED(GUARD_OP_CREATE, "/proj/.config/app.json");
	ALLOWED(GUARD_OP_CREATE, "/proj/.ssh/authorized_keys"); /* not $HOME */
	ALLOWED(GUARD_OP_WRITE, "/proj/src/main.c");
	assert_null(ask(GUARD_OP_WRITE, "/proj/src/main.c").rule);
	/* A writable root inside a protected folder does not make it writable. */
	env.root = "/home/u/.vscode/extensions";
	REFUSED(GUARD_OP_CREATE, "/home/u/.vscode/extensions/evil/package.json");
}

static void test_ancestors_of_protected_paths(void **state)
{
	(void)state;
	/* .claude holds protected settings: renaming it away, filling a copy
	 * and renaming it back would be writing them. */
	struct guard_verdict v = ask_type(GUARD_OP_RENAME_FROM, "/proj/.claude", GUARD_TYPE_DIR);
	assert_int_equal(v.error, EACCES);
	assert_rule_has(v, ".claude");
	REFUSED(GUARD_OP_RENAME_TO, "/proj/.claude");
	REFUSED(GUARD_OP_RMDIR, "/proj/.claude");
	REFUSED(GUARD_OP_SYMLINK, "/proj/.claude");
	REFUSED(GUARD_OP_CREATE, "/proj/.claude");
	REFUSED(GUARD_OP_SETATTR, "/proj/.claude");
	ALLOWED(GUARD_OP_MKDIR, "/proj/.claude");
	ALLOWED(GUARD_OP_MKDIR, "/proj/sub/.claude");
	/* Protected folders are protected whole. */
	assert_int_equal(ask_type(GUARD_OP_RENAME_FROM, "/proj/.vscode", GUARD_TYPE_DIR).error, EACCES);
	REFUSED(GUARD_OP_RMDIR, "/proj/.vscode");
	assert_int_equal(ask_type(GUARD_OP_RENAME_FROM, "/proj/.claude/commands", GUARD_TYPE_DIR).error, EACCES);
	/* A folder the caller knows holds a protected path or repository. */
	fact("/proj/vendor/lib", GUARD_FACT_HOLDS_PROTECTED);
	v = ask_type(GUARD_OP_RENAME_FROM, "/proj/vendor/lib", GUARD_TYPE_DIR);
	assert_int_equal(v.error, EACCES);
	assert_rule_has(v, "holds");
	assert_int_equal(ask_type(GUARD_OP_RENAME_FROM, "/proj/vendor/other", GUARD_TYPE_DIR).error, 0);
	assert_int_equal(ask_type(GUARD_OP_RENAME_FROM, "/proj/vendor/lib2", GUARD_TYPE_FILE).error, 0);
	ALLOWED(GUARD_OP_UNLINK, "/proj/vendor/lib/file.c");
}

static void test_eexist_for_exclusive_creation(void **state)
{
	(void)state;
	assert_int_equal(ask_type(GUARD_OP_MKDIR, "/proj/.vscode", GUARD_TYPE_DIR).error, EEXIST);
	assert_int_equal(ask_type(GUARD_OP_MKDIR, "/proj/.vscode", GUARD_TYPE_NONE).error, EACCES);
	assert_int_equal(ask_type(GUARD_OP_LINK_TO, "/proj/.bashrc", GUARD_TYPE_FILE).error, EEXIST);
	assert_int_equal(ask_type(GUARD_OP_RENAME_TO, "/proj/.bashrc", GUARD_TYPE_FILE).error, EACCES);
	assert_int_equal(ask_type(GUARD_OP_CREATE, "/proj/.bashrc", GUARD_TYPE_FILE).error, EACCES);
	assert_int_equal(ask_type(GUARD_OP_MKDIR, "/proj/.git/hooks", GUARD_TYPE_DIR).error, EEXIST);
}

/* ---- home start-up files ------------------------------------------------- */

static void test_home_start_up_files(void **state)
{
	(void)state;
	env.root = "/home/u";
	struct guard_verdict v = ask(GUARD_OP_CREATE, "/home/u/.ssh/authorized_keys");
	assert_int_equal(v.error, EACCES);
	assert_rule_has(v, "authorized_keys");
	REFUSED(GUARD_OP_WRITE, "/home/u/.ssh/config");
	REFUSED(GUARD_OP_CREATE, "/home/u/.ssh/rc");
	REFUSED(GUARD_OP_WRITE, "/home/u/.config/git/config");
	REFUSED(GUARD_OP_CREATE, "/home/u/.config/git/attributes");
	REFUSED(GUARD_OP_WRITE, "/home/u/.config/fish/config.fish");
	REFUSED(GUARD_OP_CREATE, "/home/u/.config/fish/conf.d/x.fish");
	REFUSED(GUARD_OP_CREATE, "/home/u/.config/systemd/user/evil.service");
	REFUSED(GUARD_OP_CREATE, "/home/u/.config/autostart/evil.desktop");
	REFUSED(GUARD_OP_CREATE, "/home/u/.local/bin/git");
	REFUSED(GUARD_OP_CREATE, "/home/u/bin/ls");
	REFUSED(GUARD_OP_WRITE, "/home/u/.zshenv");
	REFUSED(GUARD_OP_WRITE, "/home/u/.zlogin");
	REFUSED(GUARD_OP_WRITE, "/home/u/.bash_login");
	REFUSED(GUARD_OP_WRITE, "/home/u/.bash_logout");
	REFUSED(GUARD_OP_WRITE, "/home/u/.claude/settings.json");
	REFUSED(GUARD_OP_WRITE, "/home/u/.claude.json");
	v = ask(GUARD_OP_CREATE, "/home/u/.local/lib/python3.11/site-packages/evil.pth");
	assert_int_equal(v.error, EACCES);
	assert_rule_has(v, ".pth");
	REFUSED(GUARD_OP_CREATE, "/home/u/.local/lib/python3.12/site-packages/sitecustomize.py");
	REFUSED(GUARD_OP_MKDIR, "/home/u/.local/lib/python3.12/site-packages/usercustomize");
	REFUSED(GUARD_OP_CREATE, "/home/u/.local/lib/python3.12/site-packages/EVIL.PTH");
	ALLOWED(GUARD_OP_CREATE, "/home/u/.local/lib/python3.11/site-packages/pkg/__init__.py");
	/* Shells, editors, prompts; programs tools run; version managers. */
	REFUSED(GUARD_OP_CREATE, "/home/u/.bash_aliases");
	REFUSED(GUARD_OP_CREATE, "/home/u/.bashrc.d/evil.sh");
	REFUSED(GUARD_OP_WRITE, "/home/u/.tmux.conf");
	REFUSED(GUARD_OP_CREATE, "/home/u/.vim/plugin/evil.vim");
	REFUSED(GUARD_OP_CREATE, "/home/u/.local/share/nvim/site/plugin/evil.lua");
	REFUSED(GUARD_OP_CREATE, "/home/u/.gnupg/gpg.conf");
	REFUSED(GUARD_OP_WRITE, "/home/u/.aws/config");
	REFUSED(GUARD_OP_WRITE, "/home/u/.kube/config");
	REFUSED(GUARD_OP_CREATE, "/home/u/.local/share/direnv/allow/0123");
	REFUSED(GUARD_OP_CREATE, "/home/u/.pyenv/shims/python");
	REFUSED(GUARD_OP_CREATE, "/home/u/.nvm/versions/node/v20.1.0/bin/node");
	REFUSED(GUARD_OP_CREATE, "/home/u/.ipython/profile_default/startup/00.py");
	ALLOWED(GUARD_OP_CREATE, "/home/u/.aws/credentials-cache");
	ALLOWED(GUARD_OP_CREATE, "/home/u/.nvm/versions/node/v20.1.0/lib/x.js");
	ALLOWED(GUARD_OP_CREATE, "/home/u/.cache/pip/x");
	/* Agent hooks and skills, at every depth. */
	REFUSED(GUARD_OP_CREATE, "/home/u/proj/.claude/hooks/pre.sh");
	REFUSED(GUARD_OP_CREATE, "/home/u/proj/sub/.claude/skills/x/SKILL.md");
	ALLOWED(GUARD_OP_CREATE, "/home/u/.local/lib/python3.11/site-packages/pkg/evil.pth"); /* not read there */
	ALLOWED(GUARD_OP_CREATE, "/home/u/.ssh/known_hosts");
	ALLOWED(GUARD_OP_CREATE, "/home/u/.config/app/settings.json");
	ALLOWED(GUARD_OP_CREATE, "/home/u/.local/share/app/db");
	ALLOWED(GUARD_OP_CREATE, "/home/u/notes.txt");
	/* Folders on the way: mkdir only. */
	ALLOWED(GUARD_OP_MKDIR, "/home/u/.ssh");
	ALLOWED(GUARD_OP_MKDIR, "/home/u/.local/lib/python3.13");
	assert_int_equal(ask_type(GUARD_OP_RENAME_FROM, "/home/u/.ssh", GUARD_TYPE_DIR).error, EACCES);
	REFUSED(GUARD_OP_RENAME_TO, "/home/u/.config");
	REFUSED(GUARD_OP_SYMLINK, "/home/u/.ssh");
	REFUSED(GUARD_OP_RENAME_TO, "/home/u/.local/lib/python3.11/site-packages");
	assert_rule_has(ask(GUARD_OP_SYMLINK, "/home/u/.config"), "on the way");
}

static void test_home_only_when_home_is_written(void **state)
{
	(void)state;
	/* A project's own .ssh folder is ordinary. */
	env.root = "/home/u/proj";
	ALLOWED(GUARD_OP_CREATE, "/home/u/proj/.ssh/authorized_keys");
	ALLOWED(GUARD_OP_CREATE, "/home/u/proj/.local/bin/tool");
	ALLOWED(GUARD_OP_CREATE, "/home/u/proj/bin/tool");
	env.root = "/srv/x";
	ALLOWED(GUARD_OP_CREATE, "/srv/x/.ssh/authorized_keys");
	/* A writable root inside $HOME keeps what it holds protected. */
	env.root = "/home/u/.config";
	REFUSED(GUARD_OP_WRITE, "/home/u/.config/git/config");
	ALLOWED(GUARD_OP_WRITE, "/home/u/.config/app/x");
	env.root = "/home/u/.ssh";
	REFUSED(GUARD_OP_WRITE, "/home/u/.ssh/authorized_keys");
	ALLOWED(GUARD_OP_WRITE, "/home/u/.ssh/known_hosts");
	/* $HOME itself and the folders up to the writable root. */
	env.root = "/home";
	struct guard_verdict v = ask_type(GUARD_OP_RENAME_FROM, "/home/u", GUARD_TYPE_DIR);
	assert_int_equal(v.error, EACCES);
	assert_rule_has(v, "$HOME");
	REFUSED(GUARD_OP_SETATTR, "/home/u");
	REFUSED(GUARD_OP_SYMLINK, "/home/u");
	ALLOWED(GUARD_OP_MKDIR, "/home/u");
	ALLOWED(GUARD_OP_MKDIR, "/home/other");
	env.root = "/";
	assert_int_equal(ask_type(GUARD_OP_RENAME_FROM, "/home", GUARD_TYPE_DIR).error, EACCES);
	assert_int_equal(ask_type(GUARD_OP_RENAME_FROM, "/srv", GUARD_TYPE_DIR).error, 0);
	/* No $HOME: no home rules. */
	env.root = "/home/u";
	env.home = NULL;
	ALLOWED(GUARD_OP_CREATE, "/home/u/.ssh/authorized_keys");
	REFUSED(GUARD_OP_CREATE, "/home/u/.bashrc");
}

/* ---- the private /tmp ---------------------------------------------------- */

static void test_private_tmp_allows_everything(void **state)
{
	(void)state;
	env.private_tmp = true;
	env.root = "/tmp";
	struct guard_verdict v = ask(GUARD_OP_MKDIR, "/tmp/clone/.git");
	assert_int_equal(v.error, 0);
	assert_int_equal(v.new_repo, GUARD_NEW_REPO_NONE);
	assert_rule_has(v, "private /tmp");
	ALLOWED(GUARD_OP_CREATE, "/tmp/clone/.git/hooks/pre-commit");
	ALLOWED(GUARD_OP_WRITE, "/tmp/clone/.git/config");
	ALLOWED(GUARD_OP_CREATE, "/tmp/x/.bashrc");
	ALLOWED(GUARD_OP_MKDIR, "/tmp/.vscode");
	env.root = NULL;
	ALLOWED(GUARD_OP_CREATE, "/tmp/y/.mcp.json");
	assert_int_equal(n_facts, 0);
	assert_int_equal(asked_want, 0);
}

/* ---- the rebase todo ----------------------------------------------------- */

static void test_todo_files_are_flagged(void **state)
{
	(void)state;
	struct guard_verdict v = ask(GUARD_OP_RENAME_TO, "/proj/.git/rebase-merge/git-rebase-todo");
	assert_int_equal(v.error, 0);
	assert_true(v.check_todo);
	assert_true(ask(GUARD_OP_WRITE, "/proj/.git/rebase-merge/git-rebase-todo").check_todo);
	assert_true(ask(GUARD_OP_CREATE, "/proj/.git/sequencer/todo").check_todo);
	assert_true(ask(GUARD_OP_RENAME_TO, "/proj/.git/worktrees/w/rebase-merge/git-rebase-todo").check_todo);
	assert_true(ask(GUARD_OP_RENAME_TO, "/proj/.git/rebase-merge/GIT-REBASE-TODO").check_todo);
	assert_false(ask(GUARD_OP_CREATE, "/proj/.git/rebase-merge/git-rebase-todo.lock").check_todo);
	assert_false(ask(GUARD_OP_UNLINK, "/proj/.git/rebase-merge/git-rebase-todo").check_todo);
	assert_false(ask(GUARD_OP_CREATE, "/proj/.git/rebase-merge/done").check_todo);
	REFUSED(GUARD_OP_LINK_TO, "/proj/.git/rebase-merge/git-rebase-todo");
	REFUSED(GUARD_OP_LINK_FROM, "/proj/.git/sequencer/todo");
	assert_string_equal(guard_todo_files[0], "rebase-merge/git-rebase-todo");
	assert_string_equal(guard_todo_files[1], "sequencer/todo");
	assert_null(guard_todo_files[2]);
}

static size_t todo(const char *s)
{
	return guard_todo_exec_line(s, strlen(s), NULL, 0);
}

static void test_todo_exec_lines(void **state)
{
	(void)state;
	assert_int_equal(todo(""), 0);
	assert_int_equal(todo("pick 1a2b3c one\npick 4d5e6f two\n"), 0);
	assert_int_equal(todo("pick 1a2b3c one\nexec make test\n"), 2);
	assert_int_equal(todo("x make test\n"), 1);
	assert_int_equal(todo("pick a b\n   exec sh -c evil\n"), 2);
	assert_int_equal(todo("\t \tx evil"), 1);     /* no final newline */
	assert_int_equal(todo("pick a\nx\n"), 2);      /* git refuses it, but it is an exec */
	assert_int_equal(todo("x\tevil\n"), 1);
	assert_int_equal(todo("x evil\r\n"), 1);       /* CRLF */
	assert_int_equal(todo("exec\r\n"), 1);
	assert_int_equal(todo("execute evil\n"), 1);   /* git takes exec as a prefix, then fails */
	/* Comments and other commands run nothing. */
	assert_int_equal(todo("# exec evil\n#x evil\n"), 0);
	assert_int_equal(todo("  # x evil\n"), 0);
	assert_int_equal(todo("edit 1a2b --exec evil\n"), 0);
	assert_int_equal(todo("merge -C 1a2b topic # exec evil\n"), 0);
	assert_int_equal(todo("fixup -C 1a2b x\n"), 0);
	assert_int_equal(todo("label x\nreset x\nupdate-ref refs/heads/x\nbreak\ndrop 1a2b\nnoop\n"), 0);
	assert_int_equal(todo("xargs evil\n"), 0);     /* no such command: git stops */
	assert_int_equal(todo("X evil\n"), 0);         /* commands are case-sensitive */
	assert_int_equal(todo("\vexec evil\n"), 0);    /* only spaces and tabs are skipped */
	/* NUL: git stops reading there; looking further is the safe side. */
	const char nul[] = "pick a\0\nexec evil\n";
	assert_int_equal(guard_todo_exec_line(nul, sizeof(nul) - 1, NULL, 0), 2);
	const char xnul[] = "x\0evil\n";
	assert_int_equal(guard_todo_exec_line(xnul, sizeof(xnul) - 1, NULL, 0), 1);
}

/* A version 2 or 4 index (SHA-1) holding paths, in buf: its length. */
static size_t make_index(unsigned char *buf, size_t cap, int version, const char *const *paths, size_t n)
{
	size_t o = 0;
	memcpy(buf, "DIRC", 4);
	buf[4] = 0, buf[5] = 0, buf[6] = 0, buf[7] = (unsigned char)version;
	buf[8] = 0, buf[9] = 0, buf[10] = 0, buf[11] = (unsigned char)n;
	o = 12;
	const char *prev = "";
	for (size_t k = 0; k < n; k++) {
		size_t pl = strlen(paths[k]);
		assert_true(o + 62 + pl + 16 < cap);
		memset(buf + o, 0, 62);
		buf[o + 60] = (unsigned char)(pl >> 8);
		buf[o + 61] = (unsigned char)pl;
		size_t e = o + 62;
		if (version == 4) {
			/* Strip nothing shared: the whole previous path. */
			size_t strip = strlen(prev);
			assert_true(strip < 128);
			buf[e++] = (unsigned char)strip;
			memcpy(buf + e, paths[k], pl + 1);
			o = e + pl + 1;
		} else {
			memcpy(buf + e, paths[k], pl);
			size_t entry = 62 + pl, padded = (entry + 8) & ~(size_t)7;
			memset(buf + o + entry, 0, padded - entry);
			o += padded;
		}
		prev = paths[k];
	}
	memset(buf + o, 0xab, 20); /* the checksum: not checked */
	return o + 20;
}

static void test_index_entries(void **state)
{
	(void)state;
	unsigned char a[4096], b[4096];
	for (int v = 2; v <= 4; v += 2) {
		const char *ok[] = { "README", "src/a.c", ".github/workflows/x.yml", "sub/.gitignore" };
		size_t n = make_index(a, sizeof(a), v, ok, 4);
		assert_int_equal(guard_index_bad_entry((char *)a, n, NULL, 0), 0);
		const char *bad[] = { "README", ".git/hooks/pre-commit" };
		n = make_index(a, sizeof(a), v, bad, 2);
		assert_int_equal(guard_index_bad_entry((char *)a, n, NULL, 0), 2);
		const char *bad2[] = { "sub/.GIT/config", "x" };
		n = make_index(a, sizeof(a), v, bad2, 2);
		assert_int_equal(guard_index_bad_entry((char *)a, n, NULL, 0), 1);
		const char *bad3[] = { "a/../b" };
		n = make_index(a, sizeof(a), v, bad3, 1);
		assert_int_equal(guard_index_bad_entry((char *)a, n, NULL, 0), 1);
		/* One that was there before stays. */
		size_t m = make_index(b, sizeof(b), v, bad, 2);
		n = make_index(a, sizeof(a), v, bad, 2);
		assert_int_equal(guard_index_bad_entry((char *)a, n, (char *)b, m), 0);
	}
	/* Not an index git writes: refused. */
	assert_int_equal(guard_index_bad_entry("DIRC\0\0\0\x09", 8, NULL, 0), 1);
	assert_int_equal(guard_index_bad_entry("garbage", 7, NULL, 0), 1);
	assert_int_equal(guard_index_bad_entry("", 0, NULL, 0), 0);
	assert_int_equal(ask(GUARD_OP_RENAME_TO, "/proj/.git/index").content, GUARD_CONTENT_INDEX);
	assert_int_equal(ask(GUARD_OP_CREATE, "/proj/.git/sharedindex.0123abcd").content, GUARD_CONTENT_INDEX);
	assert_int_equal(ask(GUARD_OP_CREATE, "/proj/.git/index.lock").content, GUARD_CONTENT_NONE);
}

static size_t counted;
static void count_line(void *data, size_t line, size_t start, size_t end)
{
	(void)data;
	(void)start;
	assert_true(end > start);
	assert_int_equal(line, counted + 1);
	counted++;
}

static void test_checked_contents(void **state)
{
	(void)state;
	/* Which files are checked, and how. */
	assert_int_equal(ask(GUARD_OP_RENAME_TO, "/proj/.git/rebase-merge/strategy").content, GUARD_CONTENT_STRATEGY);
	assert_int_equal(ask(GUARD_OP_CREATE, "/proj/.git/rebase-apply/strategy").content, GUARD_CONTENT_STRATEGY);
	assert_int_equal(ask(GUARD_OP_WRITE, "/proj/.git/sequencer/opts").content, GUARD_CONTENT_SEQ_OPTS);
	assert_int_equal(ask(GUARD_OP_RENAME_TO, "/proj/.git/packed-refs").content, GUARD_CONTENT_PACKED_REFS);
	assert_int_equal(ask(GUARD_OP_CREATE, "/proj/.git/rebase-merge/git-rebase-todo").content, GUARD_CONTENT_TODO);
	assert_int_equal(ask(GUARD_OP_CREATE, "/proj/.git/packed-refs.lock").content, GUARD_CONTENT_NONE);
	assert_int_equal(ask(GUARD_OP_UNLINK, "/proj/.git/packed-refs").content, GUARD_CONTENT_NONE);
	REFUSED(GUARD_OP_LINK_TO, "/proj/.git/sequencer/opts");

#define BAD(kind, text) guard_content_bad_line((kind), (text), strlen(text), NULL, 0)
	/* A strategy: git's own only, on the first line. */
	assert_int_equal(BAD(GUARD_CONTENT_STRATEGY, "ort\n"), 0);
	assert_int_equal(BAD(GUARD_CONTENT_STRATEGY, "recursive"), 0);
	assert_int_equal(BAD(GUARD_CONTENT_STRATEGY, ""), 0);
	assert_int_equal(BAD(GUARD_CONTENT_STRATEGY, "x/../evil\n"), 1);
	assert_int_equal(BAD(GUARD_CONTENT_STRATEGY, "mine\n"), 1);
	assert_int_equal(BAD(GUARD_CONTENT_STRATEGY, "ORT\n"), 1);
	/* sequencer/opts: every strategy key, any case, any spacing. */
	assert_int_equal(BAD(GUARD_CONTENT_SEQ_OPTS, "[options]\n\tstrategy = ort\n\tsignoff = true\n"), 0);
	assert_int_equal(BAD(GUARD_CONTENT_SEQ_OPTS, "[options]\n\tsignoff = true\n\tStrategy=x/../evil\n"), 3);
	assert_int_equal(BAD(GUARD_CONTENT_SEQ_OPTS, "[options]\n\tstrategy = \"ort\"\n"), 2);
	assert_int_equal(BAD(GUARD_CONTENT_SEQ_OPTS, "[options]\n\tstrategy-option = theirs\n"), 0);
	/* Tricks git still honours: the whole strategy file is the value,
	 * and a key may follow the section header on its line. */
	assert_int_equal(BAD(GUARD_CONTENT_STRATEGY, "ort\nx/evil\n"), 1);
	assert_int_equal(BAD(GUARD_CONTENT_STRATEGY, "ort\r\n"), 0);
	assert_int_equal(BAD(GUARD_CONTENT_STRATEGY, "ort\n\n"), 1);
	assert_int_equal(BAD(GUARD_CONTENT_SEQ_OPTS, "[options] strategy = x/evil\n"), 1);
	assert_int_equal(BAD(GUARD_CONTENT_SEQ_OPTS, "[options]\n\tgpg-sign = a\\\n\tstrategy = x\n"), 2);
	assert_int_equal(BAD(GUARD_CONTENT_SEQ_OPTS, "[Options]\n"), 1);
	assert_int_equal(BAD(GUARD_CONTENT_SEQ_OPTS, "[options \"a\"]\n"), 1);
	assert_int_equal(BAD(GUARD_CONTENT_SEQ_OPTS, "[options]\n\tno-commit = true\n\tallow-ff = true\n"), 0);
	/* Every refused line, in one pass. */
	{
		char big[5 * 4200 + 1];
		size_t o = 0;
		for (int i = 0; i < 4200; i++)
			o += (size_t)snprintf(big + o, sizeof(big) - o, "x a\n");
		assert_int_equal(guard_content_bad_lines(GUARD_CONTENT_TODO, big, o, NULL, 0, count_line, &counted), 4200);
		assert_int_equal(counted, 4200);
	}
	/* packed-refs: no replacement refs. */
	assert_int_equal(BAD(GUARD_CONTENT_PACKED_REFS, "# pack-refs with: peeled fully-peeled sorted\n"
							 "0123 refs/heads/main\n"), 0);
	assert_int_equal(BAD(GUARD_CONTENT_PACKED_REFS, "0123 refs/heads/main\n4567 refs/replace/0123\n"), 2);
	/* What was there before stays. */
	const char *before = "4567 refs/replace/0123\n";
	assert_int_equal(guard_content_bad_line(GUARD_CONTENT_PACKED_REFS, "4567 refs/replace/0123\n",
						22, before, strlen(before)), 0);
#undef BAD
}

static void test_todo_exec_lines_the_user_wrote(void **state)
{
	(void)state;
	/* git rebase -x "make test" stopped on a conflict before the run. */
	const char *before = "pick a one\nexec make test\npick b two\nexec make test\n";
	const char *after = "pick b two\nexec make test\n";
	assert_int_equal(guard_todo_exec_line(after, strlen(after), before, strlen(before)), 0);
	const char *planted = "pick b two\nexec make test\nexec curl evil | sh\n";
	assert_int_equal(guard_todo_exec_line(planted, strlen(planted), before, strlen(before)), 3);
	const char *respaced = "x   make test\r\n";
	assert_int_equal(guard_todo_exec_line(respaced, strlen(respaced), before, strlen(before)), 0);
	const char *changed = "exec make test; evil\n";
	assert_int_equal(guard_todo_exec_line(changed, strlen(changed), before, strlen(before)), 1);
	/* Only the first 256 distinct commands count. */
	char big[256 * 16 + 64];
	size_t len = 0;
	for (int i = 0; i < 257; i++)
		len += (size_t)snprintf(big + len, sizeof(big) - len, "x c%d\n", i);
	assert_int_equal(guard_todo_exec_line("x c255\n", 7, big, len), 0);
	assert_int_equal(guard_todo_exec_line("x c256\n", 7, big, len), 1);
	assert_int_equal(guard_todo_exec_line(NULL, 0, big, len), 0);
}

/* ---- malformed requests -------------------------------------------------- */

static int ask_raw(enum guard_op op, const char *parent, const char *name, const char *root, bool priv,
		   const char *home, guard_facts_fn facts)
{
	struct guard_request req = {
		.op = op, .parent = parent, .name = name, .type = GUARD_TYPE_NONE,
		.root = root, .root_private = priv, .home = home, .facts = facts,
	};
	struct guard_verdict v = { .error = 12345 };
	int r = guard_decide(&req, &v);
	if (r < 0)
		assert_int_equal(v.error, 12345); /* written only on success */
	return r;
}

static void test_malformed_requests(void **state)
{
	(void)state;
	assert_int_equal(ask_raw(GUARD_OP_CREATE, "/proj", "x", "/proj", false, NULL, fake_facts), 0);
	assert_int_equal(ask_raw(GUARD_OP_CREATE, "/", "x", "/", false, "/", fake_facts), 0);
	assert_int_equal(ask_raw(GUARD_OP_CREATE, "proj", "x", "/", false, NULL, fake_facts), -EINVAL);
	assert_int_equal(ask_raw(GUARD_OP_CREATE, "/proj/", "x", "/", false, NULL, fake_facts), -EINVAL);
	assert_int_equal(ask_raw(GUARD_OP_CREATE, "/proj//a", "x", "/", false, NULL, fake_facts), -EINVAL);
	assert_int_equal(ask_raw(GUARD_OP_CREATE, "/proj/./a", "x", "/", false, NULL, fake_facts), -EINVAL);
	assert_int_equal(ask_raw(GUARD_OP_CREATE, "/proj/..", "x", "/", false, NULL, fake_facts), -EINVAL);
	assert_int_equal(ask_raw(GUARD_OP_CREATE, "", "x", "/", false, NULL, fake_facts), -EINVAL);
	assert_int_equal(ask_raw(GUARD_OP_CREATE, "/proj", "", "/proj", false, NULL, fake_facts), -EINVAL);
	assert_int_equal(ask_raw(GUARD_OP_CREATE, "/proj", ".", "/proj", false, NULL, fake_facts), -EINVAL);
	assert_int_equal(ask_raw(GUARD_OP_CREATE, "/proj", "..", "/proj", false, NULL, fake_facts), -EINVAL);
	assert_int_equal(ask_raw(GUARD_OP_CREATE, "/proj", "a/b", "/proj", false, NULL, fake_facts), -EINVAL);
	assert_int_equal(ask_raw(GUARD_OP_CREATE, "/projx", "a", "/proj", false, NULL, fake_facts), -EINVAL);
	assert_int_equal(ask_raw(GUARD_OP_CREATE, "/etc", "a", "/proj", false, NULL, fake_facts), -EINVAL);
	assert_int_equal(ask_raw(GUARD_OP_CREATE, "/proj", "a", NULL, false, NULL, fake_facts), -EINVAL);
	assert_int_equal(ask_raw(GUARD_OP_CREATE, "/proj", "a", "/proj/", false, NULL, fake_facts), -EINVAL);
	assert_int_equal(ask_raw(GUARD_OP_CREATE, "/proj", "a", "/proj", false, "home", fake_facts), -EINVAL);
	assert_int_equal(ask_raw(GUARD_OP_CREATE, "/proj", "a", "/proj", false, NULL, NULL), -EINVAL);
	assert_int_equal(ask_raw(GUARD_OP_COUNT_, "/proj", "a", "/proj", false, NULL, fake_facts), -EINVAL);
	assert_int_equal(ask_raw(GUARD_OP_CREATE, "/tmp", "a", NULL, true, NULL, fake_facts), 0);

	char name[300];
	memset(name, 'n', sizeof(name));
	name[256] = '\0';
	assert_int_equal(ask_raw(GUARD_OP_CREATE, "/proj", name, "/proj", false, NULL, fake_facts), -ENAMETOOLONG);
	name[255] = '\0';
	assert_int_equal(ask_raw(GUARD_OP_CREATE, "/proj", name, "/proj", false, NULL, fake_facts), 0);
	char parent[4200];
	size_t n = 0;
	while (n + 2 < 4096) {
		parent[n++] = '/';
		parent[n++] = 'a';
	}
	parent[n] = '\0'; /* 4094 bytes, 2047 components */
	assert_int_equal(ask_raw(GUARD_OP_CREATE, parent, name, "/", false, NULL, fake_facts), 0);
	assert_int_equal(ask_raw(GUARD_OP_CREATE, parent, ".bashrc", "/", false, NULL, fake_facts), 0);
	parent[n++] = '/';
	parent[n++] = 'b';
	parent[n] = '\0'; /* 4096 bytes */
	assert_int_equal(ask_raw(GUARD_OP_CREATE, parent, "x", "/", false, NULL, fake_facts), -ENAMETOOLONG);
	struct guard_request req = { .parent = "/p", .name = "x", .root = "/p", .facts = fake_facts,
				     .type = (enum guard_type)99 };
	struct guard_verdict v;
	assert_int_equal(guard_decide(&req, &v), -EINVAL);
	assert_int_equal(guard_decide(NULL, &v), -EINVAL);
}

static void test_op_names(void **state)
{
	(void)state;
	for (int op = 0; op < GUARD_OP_COUNT_; op++) {
		assert_non_null(guard_op_name((enum guard_op)op));
		assert_string_not_equal(guard_op_name((enum guard_op)op), "?");
	}
	assert_string_equal(guard_op_name(GUARD_OP_MKDIR), "mkdir");
	assert_string_equal(guard_op_name((enum guard_op)99), "?");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_git_everyday_work_is_allowed, reset),
		cmocka_unit_test_setup(test_git_config_and_hooks_are_refused, reset),
		cmocka_unit_test_setup(test_git_info_alternates_and_unknown, reset),
		cmocka_unit_test_setup(test_git_markers_links_and_nodes, reset),
		cmocka_unit_test_setup(test_git_case_insensitive_refusals, reset),
		cmocka_unit_test_setup(test_allow_git_config, reset),
		cmocka_unit_test_setup(test_worktrees, reset),
		cmocka_unit_test_setup(test_submodules, reset),
		cmocka_unit_test_setup(test_git_folders_elsewhere, reset),
		cmocka_unit_test_setup(test_new_repository_refused_by_default, reset),
		cmocka_unit_test_setup(test_new_repository_with_the_setting, reset),
		cmocka_unit_test_setup(test_existing_dotgit_is_kept, reset),
		cmocka_unit_test_setup(test_bare_repository, reset),
		cmocka_unit_test_setup(test_protected_names_at_every_depth, reset),
		cmocka_unit_test_setup(test_ancestors_of_protected_paths, reset),
		cmocka_unit_test_setup(test_eexist_for_exclusive_creation, reset),
		cmocka_unit_test_setup(test_home_start_up_files, reset),
		cmocka_unit_test_setup(test_home_only_when_home_is_written, reset),
		cmocka_unit_test_setup(test_private_tmp_allows_everything, reset),
		cmocka_unit_test_setup(test_todo_files_are_flagged, reset),
		cmocka_unit_test_setup(test_todo_exec_lines, reset),
		cmocka_unit_test_setup(test_todo_exec_lines_the_user_wrote, reset),
		cmocka_unit_test_setup(test_checked_contents, reset),
		cmocka_unit_test_setup(test_index_entries, reset),
		cmocka_unit_test_setup(test_malformed_requests, reset),
		cmocka_unit_test_setup(test_op_names, reset),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
