/* Unit tests for settings path normalization and the inside-a-directory test. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "policy/path.h"

#define HOME "/home/u"
#define CWD "/srv/project"

static void expect_norm(const char *in, const char *want)
{
	const char *why = "unset";
	char *got = path_normalize(in, HOME, CWD, &why);
	if (!got)
		fail_msg("path_normalize(\"%s\") refused: %s", in, why ? why : "(oom)");
	if (strcmp(got, want) != 0)
		fail_msg("path_normalize(\"%s\") = \"%s\", want \"%s\"", in, got, want);
	assert_null(why);
	free(got);
}

static void expect_refused(const char *in, const char *why_part)
{
	const char *why = NULL;
	char *got = path_normalize(in, HOME, CWD, &why);
	if (got)
		fail_msg("path_normalize(\"%s\") = \"%s\", want refusal", in, got);
	assert_non_null(why);
	if (!strstr(why, why_part))
		fail_msg("reason \"%s\" does not mention \"%s\"", why, why_part);
}

static void test_absolute(void **state)
{
	(void)state;
	expect_norm("/", "/");
	expect_norm("/etc/passwd", "/etc/passwd");
	expect_norm("//etc///passwd//", "/etc/passwd");
	expect_norm("/a/./b/.", "/a/b");
	expect_norm("/a/b/../c", "/a/c");
}

static void test_dotdot_stops_at_root(void **state)
{
	(void)state;
	expect_norm("/a/../../b", "/b");
	expect_norm("/..", "/");
	expect_norm("/../../..", "/");
	expect_norm("/a/b/c/../../..", "/");
	expect_norm("/a/..b/c", "/a/..b/c"); /* "..b" is a name */
	expect_norm("/a/.../c", "/a/.../c");
}

static void test_home(void **state)
{
	(void)state;
	expect_norm("~", HOME);
	expect_norm("~/", HOME);
	expect_norm("~/.ssh", HOME "/.ssh");
	expect_norm("~/../x", "/home/x");
	expect_norm("~//a//", HOME "/a");
	expect_norm("/x/~/y", "/x/~/y"); /* only a leading ~ expands */
	expect_refused("~root/.ssh", "~user");
	expect_refused("~u", "~user");

	const char *why = NULL;
	assert_null(path_normalize("~/x", NULL, CWD, &why));
	assert_non_null(why);
	why = NULL;
	assert_null(path_normalize("~/x", "relative/home", CWD, &why));
	assert_non_null(why);

	/* A home of "/" does not make "//x". */
	char *p = path_normalize("~/x", "/", CWD, &why);
	assert_non_null(p);
	assert_string_equal(p, "/x");
	free(p);
}

static void test_relative(void **state)
{
	(void)state;
	expect_norm(".", CWD);
	expect_norm("./x/", CWD "/x");
	expect_norm("x", CWD "/x");
	expect_norm("../other", "/srv/other");
	expect_norm("../../../../..", "/");
	expect_norm("a/../b/./c//", CWD "/b/c");

	const char *why = NULL;
	assert_null(path_normalize("x", HOME, NULL, &why));
	assert_non_null(why);
}

static void test_trailing_star_star(void **state)
{
	(void)state;
	expect_norm("x/**", CWD "/x");
	expect_norm("/a/b/**", "/a/b");
	expect_norm("/a/b/**/", "/a/b");
	expect_norm("/a/**/**", "/a");
	expect_norm("/**", "/");
	expect_norm("~/**", HOME);
	/* Only a whole trailing component; other globs stay. */
	expect_norm("/a/b**", "/a/b**");
	expect_norm("/a/*", "/a/*");
	expect_norm("/a/**/b", "/a/**/b");
	expect_norm("/a/**/*.env", "/a/**/*.env");
	expect_norm("/a/[ab]?/\\*", "/a/[ab]?/\\*");
}

static void test_refusals(void **state)
{
	(void)state;
	expect_refused("", "empty");
	const char *why = NULL;
	assert_null(path_normalize(NULL, HOME, CWD, &why));
	assert_non_null(why);
}

static void test_length_limit(void **state)
{
	(void)state;
	/* 4095 bytes is the longest accepted result. */
	char *in = malloc(5000);
	assert_non_null(in);
	in[0] = '/';
	memset(in + 1, 'a', 4094);
	in[4095] = '\0';
	expect_norm(in, in);
	in[4095] = 'a';
	in[4096] = '\0';
	expect_refused(in, "4095");

	/* Long text that folds to something short is fine. */
	size_t n = 0;
	in[n++] = '/';
	while (n + 5 < 4990) {
		memcpy(in + n, "a/../", 5);
		n += 5;
	}
	strcpy(in + n, "z");
	expect_norm(in, "/z");
	free(in);

	/* A relative path that only passes the limit once joined. */
	char *rel = malloc(4096);
	assert_non_null(rel);
	memset(rel, 'b', 4090);
	rel[4090] = '\0';
	const char *why = NULL;
	assert_null(path_normalize(rel, HOME, CWD, &why));
	assert_non_null(why);
	free(rel);
}

static void test_is_inside(void **state)
{
	(void)state;
	assert_true(path_is_inside("/a/b", "/a"));
	assert_true(path_is_inside("/a", "/a"));
	assert_true(path_is_inside("/a/b/c", "/a/b"));
	assert_false(path_is_inside("/ab", "/a"));
	assert_false(path_is_inside("/a", "/a/b"));
	assert_false(path_is_inside("/b", "/a"));
	assert_true(path_is_inside("/anything", "/"));
	assert_true(path_is_inside("/", "/"));
	assert_true(path_is_inside("/a/b", "/a/")); /* tolerant of a trailing slash */
	assert_false(path_is_inside("/a", NULL));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_absolute),
		cmocka_unit_test(test_dotdot_stops_at_root),
		cmocka_unit_test(test_home),
		cmocka_unit_test(test_relative),
		cmocka_unit_test(test_trailing_star_star),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_length_limit),
		cmocka_unit_test(test_is_inside),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
