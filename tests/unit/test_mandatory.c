/* Unit tests for the built-in protected paths and the scan that finds them in a writable folder. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "policy/mandatory.h"

static char root[256];

static void mk(const char *rel, bool dir)
{
	char p[512];
	snprintf(p, sizeof(p), "%s/%s", root, rel);
	for (char *s = p + strlen(root) + 1; *s; s++) {
		if (*s == '/') {
			*s = '\0';
			mkdir(p, 0755);
			*s = '/';
		}
	}
	if (dir) {
		assert_true(mkdir(p, 0755) == 0 || errno == EEXIST);
	} else {
		int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		assert_true(fd >= 0);
		close(fd);
	}
}

static void ln(const char *target, const char *rel)
{
	char p[512];
	snprintf(p, sizeof(p), "%s/%s", root, rel);
	assert_int_equal(symlink(target, p), 0);
}

static int setup_tree(void **state)
{
	(void)state;
	snprintf(root, sizeof(root), "/tmp/srt-test-mandatory-XXXXXX");
	if (!mkdtemp(root))
		return -1;
	/* root: a repository with hooks, a .bashrc, no .zshrc */
	mk(".git/hooks", true);
	mk(".bashrc", false);
	/* nested repositories at levels 1..4; only some have hooks */
	mk("a/.git/hooks", true);
	mk("a/b/.git", true);
	mk("a/b/c/.git/hooks", true);
	mk("a/b/c/.git/config", false);
	mk("a/b/c/d/.git/hooks", true);
	/* protected files and folders below the root */
	mk("a/.zshrc", false);
	mk("a/b/c/.mcp.json", false);
	mk("a/b/c/d/.bashrc", false);   /* level 5 entry: too deep for 3 */
	mk("p/.vscode/.bashrc", false); /* inside a protected folder */
	mk("p/.claude/commands", true);
	mk("p/.claude/other", true);
	mk("p/.idea", false);           /* a file with a folder's name */
	ln("/nonexistent", "p/.profile"); /* a dangling symlink still counts */
	/* skipped places */
	mk("node_modules/pkg/.git/hooks", true);
	mk("node_modules/.bashrc", false);
	mk("q/.git", false);            /* a gitfile is not a repository here */
	ln("a", "lnk");
	mk("a/.git/sub/.bashrc", false); /* inside .git: not looked at */
	return 0;
}

static int teardown_tree(void **state)
{
	(void)state;
	char cmd[300];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	return system(cmd) == 0 ? 0 : -1;
}

struct seen {
	char *path[256];
	bool exists[256];
	size_t n;
	int stop_after;
};

static int collect(const char *path, bool exists, void *userdata)
{
	struct seen *s = userdata;
	assert_true(s->n < 256);
	s->exists[s->n] = exists;
	s->path[s->n++] = strdup(path);
	if (s->stop_after > 0 && (int)s->n >= s->stop_after)
		return 5;
	return 0;
}

static void seen_free(struct seen *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->path[i]);
	s->n = 0;
}

/* 0 when rel was not reported, else 1 + whether it was said to exist. */
static int lookup(const struct seen *s, const char *rel)
{
	char p[512];
	snprintf(p, sizeof(p), "%s/%s", root, rel);
	int found = 0;
	for (size_t i = 0; i < s->n; i++) {
		if (strcmp(s->path[i], p) == 0) {
			if (found)
				fail_msg("%s reported twice", p);
			found = 1 + s->exists[i];
		}
	}
	return found;
}

#define REPORTED_EXISTING(s, rel) assert_int_equal(lookup((s), (rel)), 2)
#define REPORTED_MISSING(s, rel) assert_int_equal(lookup((s), (rel)), 1)
#define NOT_REPORTED(s, rel) assert_int_equal(lookup((s), (rel)), 0)

static void scan(int depth, bool allow_git_config, struct seen *s)
{
	memset(s, 0, sizeof(*s));
	assert_int_equal(mandatory_scan(root, depth, allow_git_config, collect, s), 0);
	/* No path twice. */
	for (size_t i = 0; i < s->n; i++)
		for (size_t j = i + 1; j < s->n; j++)
			if (strcmp(s->path[i], s->path[j]) == 0)
				fail_msg("%s reported twice", s->path[i]);
}

static void test_lists(void **state)
{
	(void)state;
	size_t n = 0;
	for (; mandatory_deny_files[n]; n++)
		;
	assert_int_equal(n, 9);
	for (n = 0; mandatory_deny_dirs[n]; n++)
		;
	assert_int_equal(n, 7);
}

static void test_root_gets_every_name(void **state)
{
	(void)state;
	struct seen s;
	scan(3, false, &s);
	REPORTED_EXISTING(&s, ".bashrc");
	REPORTED_MISSING(&s, ".zshrc");
	REPORTED_MISSING(&s, ".mcp.json");
	REPORTED_MISSING(&s, ".gitmodules");
	REPORTED_MISSING(&s, ".vscode");
	REPORTED_MISSING(&s, ".claude/commands");
	REPORTED_MISSING(&s, ".claude/agents");
	REPORTED_MISSING(&s, ".sandbox");
	REPORTED_EXISTING(&s, ".git/hooks");
	REPORTED_MISSING(&s, ".git/config");
	for (size_t i = 0; mandatory_deny_files[i]; i++)
		assert_true(lookup(&s, mandatory_deny_files[i]));
	for (size_t i = 0; mandatory_deny_dirs[i]; i++)
		assert_true(lookup(&s, mandatory_deny_dirs[i]));
	seen_free(&s);

	scan(3, true, &s);
	NOT_REPORTED(&s, ".git/config");
	REPORTED_EXISTING(&s, ".git/hooks");
	seen_free(&s);
}

static void test_nested_repositories_by_depth(void **state)
{
	(void)state;
	struct seen s;
	scan(3, false, &s);
	REPORTED_EXISTING(&s, "a/.git/hooks");
	REPORTED_MISSING(&s, "a/.git/config");
	REPORTED_MISSING(&s, "a/b/.git/hooks");   /* a hook folder could be created */
	REPORTED_MISSING(&s, "a/b/.git/config");
	REPORTED_EXISTING(&s, "a/b/c/.git/hooks");
	REPORTED_EXISTING(&s, "a/b/c/.git/config");
	NOT_REPORTED(&s, "a/b/c/d/.git/hooks");   /* level 4 > 3 */
	NOT_REPORTED(&s, "a/b/c/d/.bashrc");
	seen_free(&s);

	scan(4, false, &s);
	REPORTED_EXISTING(&s, "a/b/c/d/.git/hooks");
	REPORTED_EXISTING(&s, "a/b/c/d/.bashrc");
	seen_free(&s);

	scan(1, false, &s);
	REPORTED_EXISTING(&s, "a/.git/hooks");
	REPORTED_EXISTING(&s, "a/.zshrc");
	NOT_REPORTED(&s, "a/b/.git/hooks");
	seen_free(&s);

	scan(0, false, &s);
	NOT_REPORTED(&s, "a/.git/hooks");
	REPORTED_EXISTING(&s, ".bashrc");
	seen_free(&s);

	scan(3, true, &s);
	REPORTED_EXISTING(&s, "a/b/c/.git/hooks");
	NOT_REPORTED(&s, "a/b/c/.git/config");
	NOT_REPORTED(&s, "a/.git/config");
	seen_free(&s);
}

static void test_existing_entries_below_root(void **state)
{
	(void)state;
	struct seen s;
	scan(3, false, &s);
	REPORTED_EXISTING(&s, "a/.zshrc");
	REPORTED_EXISTING(&s, "a/b/c/.mcp.json");
	REPORTED_EXISTING(&s, "p/.vscode");
	NOT_REPORTED(&s, "p/.vscode/.bashrc");   /* covered by .vscode as a whole */
	REPORTED_EXISTING(&s, "p/.claude/commands");
	NOT_REPORTED(&s, "p/.claude/agents");    /* missing below the root: not listed */
	NOT_REPORTED(&s, "p/.claude/other");
	NOT_REPORTED(&s, "p/.claude");
	REPORTED_EXISTING(&s, "p/.idea");
	REPORTED_EXISTING(&s, "p/.profile");
	NOT_REPORTED(&s, "a/.bashrc");           /* only what exists */
	seen_free(&s);
}

static void test_skipped_places(void **state)
{
	(void)state;
	struct seen s;
	scan(10, false, &s);
	NOT_REPORTED(&s, "node_modules/pkg/.git/hooks");
	NOT_REPORTED(&s, "node_modules/.bashrc");
	NOT_REPORTED(&s, "q/.git/hooks");
	NOT_REPORTED(&s, "lnk/.git/hooks");
	NOT_REPORTED(&s, "lnk/.zshrc");
	NOT_REPORTED(&s, "a/.git/sub/.bashrc");
	/* Everything reported lies inside the root. */
	for (size_t i = 0; i < s.n; i++)
		assert_true(strncmp(s.path[i], root, strlen(root)) == 0 && s.path[i][strlen(root)] == '/');
	seen_free(&s);
}

static void test_stop_and_errors(void **state)
{
	(void)state;
	struct seen s;
	memset(&s, 0, sizeof(s));
	s.stop_after = 3;
	assert_int_equal(mandatory_scan(root, 3, false, collect, &s), 5);
	assert_int_equal(s.n, 3);
	seen_free(&s);

	/* A stop from inside the walk, after the root's list. */
	memset(&s, 0, sizeof(s));
	s.stop_after = 18;
	assert_int_equal(mandatory_scan(root, 3, false, collect, &s), 5);
	assert_int_equal(s.n, 18);
	seen_free(&s);

	char missing[300];
	snprintf(missing, sizeof(missing), "%s/none", root);
	assert_int_equal(mandatory_scan(missing, 3, false, collect, &s), -ENOENT);
	snprintf(missing, sizeof(missing), "%s/.bashrc", root);
	assert_int_equal(mandatory_scan(missing, 3, false, collect, &s), -ENOTDIR);
	assert_int_equal(mandatory_scan("relative", 3, false, collect, &s), -EINVAL);
	assert_int_equal(s.n, 0);
}

static void test_trailing_slash_root(void **state)
{
	(void)state;
	char with_slash[300];
	snprintf(with_slash, sizeof(with_slash), "%s/", root);
	struct seen s;
	memset(&s, 0, sizeof(s));
	assert_int_equal(mandatory_scan(with_slash, 1, false, collect, &s), 0);
	REPORTED_EXISTING(&s, ".bashrc"); /* not root + "//.bashrc" */
	seen_free(&s);
}

/* Submodule git folders (.git/modules/<name>, names with slashes, nested
 * submodules) have hooks and a config too; a .git file (worktree,
 * submodule checkout) names a git folder elsewhere and is itself kept. */
static void test_submodules_and_gitfiles(void **state)
{
	(void)state;
	mk(".git/modules/sub/HEAD", false);
	mk(".git/modules/sub/config", false);
	mk(".git/modules/libs/foo/HEAD", false);            /* name "libs/foo" */
	mk(".git/modules/libs/foo/modules/inner/HEAD", false); /* nested submodule */
	mk(".git/modules/libs/foo/modules/inner/hooks", true);
	mk("sub/.git", false);                               /* its checkout: a gitfile */
	struct seen s = { 0 };
	assert_int_equal(mandatory_scan(root, 3, false, collect, &s), 0);
	REPORTED_MISSING(&s, ".git/modules/sub/hooks");
	REPORTED_EXISTING(&s, ".git/modules/sub/config");
	REPORTED_MISSING(&s, ".git/modules/libs/foo/hooks");
	REPORTED_MISSING(&s, ".git/modules/libs/foo/config");
	REPORTED_EXISTING(&s, ".git/modules/libs/foo/modules/inner/hooks");
	REPORTED_EXISTING(&s, "sub/.git");
	REPORTED_EXISTING(&s, "q/.git");
	NOT_REPORTED(&s, ".git/modules/libs/hooks");         /* "libs" is no git folder */
	seen_free(&s);
	/* allowGitConfig lifts the configs, not the hooks */
	assert_int_equal(mandatory_scan(root, 3, true, collect, &s), 0);
	NOT_REPORTED(&s, ".git/modules/sub/config");
	REPORTED_MISSING(&s, ".git/modules/sub/hooks");
	seen_free(&s);
}

/* Run the rest of a test in a fresh folder below the shared tree: root
 * names it until root_leave. */
static char saved_root[256];

static void root_enter(const char *name)
{
	memcpy(saved_root, root, sizeof(root));
	char sub[512];
	int n = snprintf(sub, sizeof(sub), "%s/%s", saved_root, name);
	assert_true(n > 0 && (size_t)n < sizeof(root));
	assert_int_equal(mkdir(sub, 0755), 0);
	memcpy(root, sub, (size_t)n + 1);
}

static void root_leave(void)
{
	memcpy(root, saved_root, sizeof(root));
}

static void test_links_with_protected_names(void **state)
{
	(void)state;
	root_enter("links");
	mk("realgit/hooks", true);
	mk("realgit/modules/sub/HEAD", false);
	ln("realgit", ".git");               /* the head of .git/hooks, .git/config */
	ln("elsewhere", ".claude");          /* dangling */
	ln("/etc/hostname", ".bashrc");
	mk("a/b", true);
	ln("../../realgit", "a/.git");       /* below root: reported as a name */
	ln("x", "a/.claude");
	ln("y", "a/b/.vscode");
	struct seen s = { 0 };
	assert_int_equal(mandatory_scan(root, 3, false, collect, &s), 0);
	/* The links, not paths through them: the caller judges where they lead. */
	REPORTED_EXISTING(&s, ".git");
	NOT_REPORTED(&s, ".git/hooks");
	NOT_REPORTED(&s, ".git/config");
	NOT_REPORTED(&s, ".git/modules/sub/hooks");
	REPORTED_EXISTING(&s, ".claude");
	NOT_REPORTED(&s, ".claude/commands");
	NOT_REPORTED(&s, ".claude/agents");
	REPORTED_EXISTING(&s, ".bashrc");
	REPORTED_EXISTING(&s, "a/.git");
	REPORTED_EXISTING(&s, "a/.claude");
	REPORTED_EXISTING(&s, "a/b/.vscode");
	seen_free(&s);
	/* With allowGitConfig the .git link is still reported, once. */
	assert_int_equal(mandatory_scan(root, 3, true, collect, &s), 0);
	REPORTED_EXISTING(&s, ".git");
	seen_free(&s);
	root_leave();
}

static void test_link_target(void **state)
{
	(void)state;
	root_enter("targets");
	mk("g/hooks", true);
	mk("g/modules/sub/HEAD", false);
	mk("g/modules/sub/config", false);
	mk("c/commands", true);
	mk("gitfile", false);
	char t[512];
	struct seen s = { 0 };

	snprintf(t, sizeof(t), "%s/g", root);
	assert_int_equal(mandatory_scan_link_target(".git", t, false, collect, &s), 0);
	REPORTED_EXISTING(&s, "g/hooks");
	REPORTED_MISSING(&s, "g/config");
	REPORTED_MISSING(&s, "g/modules/sub/hooks");
	REPORTED_EXISTING(&s, "g/modules/sub/config");
	assert_int_equal(s.n, 4);
	seen_free(&s);
	assert_int_equal(mandatory_scan_link_target(".git", t, true, collect, &s), 0);
	REPORTED_EXISTING(&s, "g/hooks");
	NOT_REPORTED(&s, "g/config");
	seen_free(&s);

	/* Missing, or a file: the entries, as missing paths. */
	snprintf(t, sizeof(t), "%s/nothing", root);
	assert_int_equal(mandatory_scan_link_target(".git", t, false, collect, &s), 0);
	REPORTED_MISSING(&s, "nothing/hooks");
	REPORTED_MISSING(&s, "nothing/config");
	seen_free(&s);
	snprintf(t, sizeof(t), "%s/gitfile", root);
	assert_int_equal(mandatory_scan_link_target(".git", t, false, collect, &s), 0);
	REPORTED_MISSING(&s, "gitfile/hooks");
	seen_free(&s);

	snprintf(t, sizeof(t), "%s/c/", root);
	assert_int_equal(mandatory_scan_link_target(".claude", t, false, collect, &s), 0);
	REPORTED_EXISTING(&s, "c/commands");
	REPORTED_MISSING(&s, "c/agents");
	assert_int_equal(s.n, 2);
	seen_free(&s);

	/* Any other name: the target itself. */
	snprintf(t, sizeof(t), "%s/c", root);
	assert_int_equal(mandatory_scan_link_target(".vscode", t, false, collect, &s), 0);
	REPORTED_EXISTING(&s, "c");
	seen_free(&s);
	snprintf(t, sizeof(t), "%s/dangling", root);
	assert_int_equal(mandatory_scan_link_target("hooks", t, false, collect, &s), 0);
	REPORTED_MISSING(&s, "dangling");
	assert_int_equal(s.n, 1);
	seen_free(&s);

	assert_int_equal(mandatory_scan_link_target(".git", "relative", false, collect, &s), -EINVAL);
	root_leave();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lists),
		cmocka_unit_test(test_root_gets_every_name),
		cmocka_unit_test(test_nested_repositories_by_depth),
		cmocka_unit_test(test_existing_entries_below_root),
		cmocka_unit_test(test_skipped_places),
		cmocka_unit_test(test_stop_and_errors),
		cmocka_unit_test(test_trailing_slash_root),
		cmocka_unit_test(test_links_with_protected_names),
		cmocka_unit_test(test_link_target),
		cmocka_unit_test(test_submodules_and_gitfiles), /* last: it adds to the tree */
	};
	return cmocka_run_group_tests(tests, setup_tree, teardown_tree);
}
