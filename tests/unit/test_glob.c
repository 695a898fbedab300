/* Unit tests for glob matching and the bounded directory walk that expands globs. */
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
#include <time.h>
#include <unistd.h>

#include "policy/glob.h"

/* ---- matching ------------------------------------------------------------ */

#define M(p, s) assert_true(glob_match((p), (s)))
#define N(p, s) assert_false(glob_match((p), (s)))

static void test_has_magic(void **state)
{
	(void)state;
	assert_false(glob_has_magic("/a/b/c"));
	assert_true(glob_has_magic("/a/*"));
	assert_true(glob_has_magic("/a/?"));
	assert_true(glob_has_magic("/a/[bc]"));
	assert_false(glob_has_magic("/a/\\*"));
	assert_false(glob_has_magic("/a/\\[b\\]"));
	assert_true(glob_has_magic("/a/\\\\*")); /* escaped backslash, then a star */
	assert_false(glob_has_magic("/a/b\\"));
	assert_false(glob_has_magic(""));
}

static void test_literal(void **state)
{
	(void)state;
	M("/a/b", "/a/b");
	N("/a/b", "/a/b/c");
	N("/a/b/c", "/a/b");
	N("/a/b", "/a/bc");
	M("/", "/");
	N("/a", "a"); /* absolute never matches relative */
	M("/a//b/", "/a/b");
}

static void test_star(void **state)
{
	(void)state;
	M("/a/*", "/a/b");
	M("/a/*", "/a/.hidden"); /* leading dots are not special */
	N("/a/*", "/a/b/c");     /* '*' never crosses '/' */
	N("/a/*", "/a");
	M("/a/*.env", "/a/.env");
	M("/a/*.env", "/a/prod.env");
	N("/a/*.env", "/a/prod.env.bak");
	M("/a/x*y*z", "/a/xyz");
	M("/a/x*y*z", "/a/x__y__z");
	N("/a/x*y*z", "/a/x__y__");
	M("/*/b", "/a/b");
	N("/*/b", "/a/c/b");
	M("/a/*b", "/a/bbb");
	M("/a/***", "/a/anything");
	M("/a/b**c", "/a/bxxc");  /* "**" inside a component is a plain star */
	N("/a/b**c", "/a/bx/xc");
}

static void test_double_star(void **state)
{
	(void)state;
	/* at the start */
	M("/**/x", "/x");
	M("/**/x", "/a/b/c/x");
	N("/**/x", "/a/b/c/xy");
	/* in the middle */
	M("/a/**/b", "/a/b");
	M("/a/**/b", "/a/x/b");
	M("/a/**/b", "/a/x/y/z/b");
	N("/a/**/b", "/a/x/y/z/c");
	N("/a/**/b", "/b");
	M("/a/**/b/**/c", "/a/1/b/2/3/c");
	M("/a/**/b/**/c", "/a/b/c");
	M("/a/**/b/c", "/a/b/b/c"); /* needs backtracking over components */
	N("/a/**/b/c", "/a/b/c/d");
	/* at the end: zero or more components, including none */
	M("/a/**", "/a");
	M("/a/**", "/a/b/c");
	N("/a/**", "/b");
	M("/**", "/");
	M("/**", "/any/thing");
	M("/a/**/**", "/a");
	M("/a/**/*.env", "/a/.env");
	M("/a/**/*.env", "/a/x/y/.env");
	N("/a/**/*.env", "/a/x/y/.env/z");
}

static void test_question_and_class(void **state)
{
	(void)state;
	M("/a/?", "/a/b");
	N("/a/?", "/a/bc");
	N("/a/?", "/a/");
	N("/a?b", "/a/b"); /* '?' never matches '/' */
	M("/a/[abc]", "/a/b");
	N("/a/[abc]", "/a/d");
	M("/a/[a-c]x", "/a/bx");
	N("/a/[a-c]x", "/a/dx");
	M("/a/[!a-c]", "/a/d");
	N("/a/[!a-c]", "/a/b");
	M("/a/[^a-c]", "/a/d");
	N("/a/[^a-c]", "/a/a");
	M("/a/[]]", "/a/]");      /* ']' first is literal */
	M("/a/[!]]", "/a/x");
	N("/a/[!]]", "/a/]");
	M("/a/[a-]", "/a/-");     /* '-' last is literal */
	M("/a/[a-]", "/a/a");
	M("/a/[.]env", "/a/.env");
	M("/a/[0-9][0-9]", "/a/42");
	N("/a/[0-9][0-9]", "/a/4x");
	M("/a/[\\]]", "/a/]");    /* escaped ']' inside a class */
	/* An unclosed '[' is an ordinary character. */
	M("/a/[b", "/a/[b");
	N("/a/[b", "/a/b");
	M("/a/[]", "/a/[]");
	/* Bytes above 127 compare as unsigned. */
	M("/a/[\x80-\xff]", "/a/\xe9");
}

static void test_escapes(void **state)
{
	(void)state;
	M("/a/\\*", "/a/*");
	N("/a/\\*", "/a/b");
	M("/a/\\?", "/a/?");
	N("/a/\\?", "/a/b");
	M("/a/\\[b]", "/a/[b]");
	N("/a/\\[b]", "/a/b");
	M("/a/x\\y", "/a/xy");
	M("/a/\\\\", "/a/\\");
	M("/a/b\\", "/a/b\\"); /* a trailing backslash is itself */
}

static void test_hostile_patterns_are_fast(void **state)
{
	(void)state;
	char path[4096];
	path[0] = '/';
	memset(path + 1, 'a', sizeof(path) - 2);
	path[sizeof(path) - 1] = '\0';
	char pat[1024];
	size_t n = 0;
	pat[n++] = '/';
	while (n < sizeof(pat) - 4) {
		pat[n++] = '*';
		pat[n++] = 'a';
	}
	pat[n++] = 'b';
	pat[n] = '\0';

	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	N("/*a*a*a*a*a*b", path);
	N(pat, path);
	/* Many "**" against many components. */
	char dpat[2048], dpath[4096];
	n = 0;
	for (int i = 0; i < 300; i++) {
		memcpy(dpat + n, "/**/a", 5);
		n += 5;
	}
	strcpy(dpat + n, "/b");
	n = 0;
	for (int i = 0; i < 2000; i++) {
		memcpy(dpath + n, "/a", 2);
		n += 2;
	}
	dpath[n] = '\0';
	N(dpat, dpath);
	strcpy(dpath + n, "/b");
	M(dpat, dpath);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
	/* Exponential backtracking would take years; quadratic takes ms. */
	if (ms > 2000)
		fail_msg("hostile patterns took %.0f ms", ms);
}

/* ---- expansion ----------------------------------------------------------- */

static char root[256];

static void mk(const char *rel, bool dir)
{
	char p[512];
	snprintf(p, sizeof(p), "%s/%s", root, rel);
	/* Make the parents first. */
	for (char *s = p + strlen(root) + 1; *s; s++) {
		if (*s == '/') {
			*s = '\0';
			mkdir(p, 0755);
			*s = '/';
		}
	}
	if (dir) {
		mkdir(p, 0755);
	} else {
		int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		assert_true(fd >= 0);
		close(fd);
	}
}

static int setup_tree(void **state)
{
	(void)state;
	snprintf(root, sizeof(root), "/tmp/srt-test-glob-XXXXXX");
	if (!mkdtemp(root))
		return -1;
	mk("src/.env", false);
	mk("src/app/prod.env", false);
	mk("src/app/deep/er/x.env", false);
	mk("src/main.c", false);
	mk("docs/a.md", false);
	mk("node_modules/pkg/secret.env", false);
	mk("sub/node_modules/pkg/inner.env", false);
	mk(".git/objects/ab/blob.env", false);
	mk(".git/hooks/pre-commit.env", false);
	mk("[x]/y.env", false);
	mk("star*/z.env", false);
	char link[512];
	snprintf(link, sizeof(link), "%s/link", root);
	if (symlink("src", link) < 0)
		return -1;
	return 0;
}

static int teardown_tree(void **state)
{
	(void)state;
	char cmd[300];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	return system(cmd) == 0 ? 0 : -1;
}

struct found {
	char *paths[64];
	bool is_dir[64];
	size_t n;
	int stop_after; /* return 7 after this many, when > 0 */
};

static int collect(const char *path, bool is_dir, void *userdata)
{
	struct found *f = userdata;
	assert_true(f->n < 64);
	f->is_dir[f->n] = is_dir;
	f->paths[f->n++] = strdup(path);
	if (f->stop_after > 0 && (int)f->n >= f->stop_after)
		return 7;
	return 0;
}

static void found_free(struct found *f)
{
	for (size_t i = 0; i < f->n; i++)
		free(f->paths[i]);
	f->n = 0;
}

static int has(const struct found *f, const char *rel)
{
	char p[512];
	snprintf(p, sizeof(p), "%s/%s", root, rel);
	for (size_t i = 0; i < f->n; i++)
		if (strcmp(f->paths[i], p) == 0)
			return (int)i + 1;
	return 0;
}

static int expand(const char *rel_pattern, struct found *f, const struct glob_walk_limits *lim)
{
	char pat[512];
	snprintf(pat, sizeof(pat), "%s/%s", root, rel_pattern);
	memset(f, 0, sizeof(*f));
	return glob_expand(pat, lim, collect, f);
}

static void test_expand_star_star(void **state)
{
	(void)state;
	struct found f;
	assert_int_equal(expand("**/*.env", &f, NULL), 0);
	assert_true(has(&f, "src/.env"));
	assert_true(has(&f, "src/app/prod.env"));
	assert_true(has(&f, "src/app/deep/er/x.env"));
	assert_true(has(&f, ".git/hooks/pre-commit.env"));
	assert_true(has(&f, "[x]/y.env"));
	assert_true(has(&f, "star*/z.env"));
	/* skipped: node_modules, .git/objects, through a symlink */
	assert_false(has(&f, "node_modules/pkg/secret.env"));
	assert_false(has(&f, "sub/node_modules/pkg/inner.env"));
	assert_false(has(&f, ".git/objects/ab/blob.env"));
	assert_false(has(&f, "link/.env"));
	assert_int_equal(f.n, 6);
	for (size_t i = 0; i < f.n; i++)
		assert_false(f.is_dir[i]);
	found_free(&f);
}

static void test_expand_one_level(void **state)
{
	(void)state;
	struct found f;
	assert_int_equal(expand("*", &f, NULL), 0);
	/* node_modules and a symlink are reported like anything else. */
	int i;
	assert_true((i = has(&f, "node_modules")));
	assert_true(f.is_dir[i - 1]);
	assert_true((i = has(&f, "link")));
	assert_false(f.is_dir[i - 1]); /* a symlink, not a directory */
	assert_true(has(&f, "src"));
	assert_true(has(&f, ".git"));
	assert_int_equal(f.n, 8);
	found_free(&f);

	assert_int_equal(expand("src/*.env", &f, NULL), 0);
	assert_int_equal(f.n, 1);
	assert_true(has(&f, "src/.env"));
	found_free(&f);

	assert_int_equal(expand("s?c/[a-b]pp/*.env", &f, NULL), 0);
	assert_int_equal(f.n, 1);
	assert_true(has(&f, "src/app/prod.env"));
	found_free(&f);
}

static void test_expand_named_heavy_dirs(void **state)
{
	(void)state;
	struct found f;
	assert_int_equal(expand("node_modules/**/*.env", &f, NULL), 0);
	assert_int_equal(f.n, 1);
	assert_true(has(&f, "node_modules/pkg/secret.env"));
	found_free(&f);

	assert_int_equal(expand("**/node_modules/*/*.env", &f, NULL), 0);
	assert_int_equal(f.n, 2);
	assert_true(has(&f, "node_modules/pkg/secret.env"));
	assert_true(has(&f, "sub/node_modules/pkg/inner.env"));
	found_free(&f);

	assert_int_equal(expand(".git/objects/*/*", &f, NULL), 0);
	assert_int_equal(f.n, 1);
	assert_true(has(&f, ".git/objects/ab/blob.env"));
	found_free(&f);

	/* A wildcard standing where "objects" is does not name it. */
	assert_int_equal(expand(".git/*/*/*.env", &f, NULL), 0);
	assert_int_equal(f.n, 0);
	found_free(&f);
}

static void test_expand_literal_prefix_and_escapes(void **state)
{
	(void)state;
	struct found f;
	assert_int_equal(expand("\\[x\\]/*.env", &f, NULL), 0);
	assert_int_equal(f.n, 1);
	assert_true(has(&f, "[x]/y.env"));
	found_free(&f);

	assert_int_equal(expand("star\\*/*", &f, NULL), 0);
	assert_int_equal(f.n, 1);
	assert_true(has(&f, "star*/z.env"));
	found_free(&f);

	/* The prefix may be a symlink the user named. */
	assert_int_equal(expand("link/*.env", &f, NULL), 0);
	assert_int_equal(f.n, 1);
	assert_true(has(&f, "link/.env"));
	found_free(&f);

	/* Nothing there: no matches, no error. */
	assert_int_equal(expand("missing/dir/*", &f, NULL), 0);
	assert_int_equal(f.n, 0);
	assert_int_equal(expand("src/main.c/*", &f, NULL), 0);
	assert_int_equal(f.n, 0);

	/* Not a glob at all: the path itself, when it exists. */
	assert_int_equal(expand("docs/a.md", &f, NULL), 0);
	assert_int_equal(f.n, 1);
	found_free(&f);
	assert_int_equal(expand("docs/none.md", &f, NULL), 0);
	assert_int_equal(f.n, 0);

	assert_int_equal(glob_expand("relative/*", NULL, collect, &f), -EINVAL);
}

static void test_expand_never_deeper_than_pattern(void **state)
{
	(void)state;
	/* The root has 8 entries; deeper levels have more. A walk that
	 * looked below level one would pass the visit limit. */
	struct glob_walk_limits lim = { .max_visited = 8 };
	struct found f;
	assert_int_equal(expand("*", &f, &lim), 0);
	assert_int_equal(f.n, 8);
	found_free(&f);
	/* With a "**" it has to look everywhere, and says so. */
	assert_int_equal(expand("**/*.env", &f, &lim), -E2BIG);
	found_free(&f);
	/* "s*" matches src (3 entries), sub (1) and star* (1): with the
	 * root's 8 that is 13 entries, and nothing deeper. */
	lim.max_visited = 12;
	assert_int_equal(expand("s*/*", &f, &lim), -E2BIG);
	found_free(&f);
	lim.max_visited = 13;
	assert_int_equal(expand("s*/*", &f, &lim), 0);
	found_free(&f);

	/* Where only a literal name can come next, it is looked up, not
	 * listed: the root's 8 entries, then one lookup in each of src, sub,
	 * star* (and "app" in src: not a match for "s*" at level one). */
	lim.max_visited = 11;
	assert_int_equal(expand("s*/.env", &f, &lim), 0);
	assert_int_equal(f.n, 1);
	assert_true(has(&f, "src/.env"));
	found_free(&f);
	lim.max_visited = 10;
	assert_int_equal(expand("s*/.env", &f, &lim), -E2BIG);
	found_free(&f);
	/* Literal components after a "**". */
	lim.max_visited = 0;
	assert_int_equal(expand("src/**/app/**/app/prod.env", &f, &lim), 0);
	assert_int_equal(f.n, 0);
	assert_int_equal(expand("src/**/prod.env", &f, &lim), 0);
	assert_int_equal(f.n, 1);
	found_free(&f);
}

static void test_expand_limits_and_stop(void **state)
{
	(void)state;
	struct glob_walk_limits lim = { .max_matches = 2 };
	struct found f;
	assert_int_equal(expand("**/*.env", &f, &lim), -E2BIG);
	assert_int_equal(f.n, 2); /* the matches so far stand */
	found_free(&f);

	memset(&f, 0, sizeof(f));
	f.stop_after = 1;
	char pat[512];
	snprintf(pat, sizeof(pat), "%s/**/*.env", root);
	assert_int_equal(glob_expand(pat, NULL, collect, &f), 7);
	assert_int_equal(f.n, 1);
	found_free(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_has_magic),
		cmocka_unit_test(test_literal),
		cmocka_unit_test(test_star),
		cmocka_unit_test(test_double_star),
		cmocka_unit_test(test_question_and_class),
		cmocka_unit_test(test_escapes),
		cmocka_unit_test(test_hostile_patterns_are_fast),
		cmocka_unit_test(test_expand_star_star),
		cmocka_unit_test(test_expand_one_level),
		cmocka_unit_test(test_expand_named_heavy_dirs),
		cmocka_unit_test(test_expand_literal_prefix_and_escapes),
		cmocka_unit_test(test_expand_never_deeper_than_pattern),
		cmocka_unit_test(test_expand_limits_and_stop),
	};
	return cmocka_run_group_tests(tests, setup_tree, teardown_tree);
}
