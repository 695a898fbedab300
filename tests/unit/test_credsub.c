/* Unit tests for the credential stand-in scanner (every split point, overlapping prefixes, several credentials, growth and shrinkage, report-only patterns) and the extract-pattern translation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/credregex.h"
#include "proxy/credsub.h"

#define PAT(s, r, c) { .standin = (const uint8_t *)(s), .standin_len = sizeof(s) - 1, \
		       .real = (const uint8_t *)(r), .real_len = sizeof(r) - 1, .cred = (c) }

static char *oneshot(const struct credsub_pat *p, size_t n, const bool *inject, const char *in)
{
	struct credsub_out o = { 0 };
	assert_int_equal(credsub_oneshot(p, n, inject, (const uint8_t *)in, strlen(in), &o, NULL), 0);
	assert_int_equal(credsub_out_append(&o, "", 1), 0);
	char *s = strdup((char *)o.p);
	credsub_out_free(&o);
	return s;
}

/* Fed as two pieces cut at every position, and byte by byte: the same as
 * whole. */
static void check_splits(const struct credsub_pat *p, size_t n, const bool *inject, const char *in, const char *want)
{
	size_t len = strlen(in);
	char *whole = oneshot(p, n, inject, in);
	assert_string_equal(whole, want);
	free(whole);
	for (size_t cut = 0; cut <= len; cut++) {
		struct credsub s;
		struct credsub_out o = { 0 };
		assert_int_equal(credsub_init(&s, p, n, inject), 0);
		assert_int_equal(credsub_feed(&s, (const uint8_t *)in, cut, &o), 0);
		assert_true(s.hold_len < s.maxlen);
		assert_int_equal(credsub_feed(&s, (const uint8_t *)in + cut, len - cut, &o), 0);
		assert_int_equal(credsub_finish(&s, &o), 0);
		assert_int_equal(o.len, strlen(want));
		assert_memory_equal(o.p, want, o.len);
		credsub_free(&s);
		credsub_out_free(&o);
	}
	struct credsub s;
	struct credsub_out o = { 0 };
	assert_int_equal(credsub_init(&s, p, n, inject), 0);
	for (size_t i = 0; i < len; i++)
		assert_int_equal(credsub_feed(&s, (const uint8_t *)in + i, 1, &o), 0);
	assert_int_equal(credsub_finish(&s, &o), 0);
	assert_int_equal(o.len, strlen(want));
	assert_memory_equal(o.p, want, o.len);
	credsub_free(&s);
	credsub_out_free(&o);
}

static void test_basic(void **state)
{
	(void)state;
	const struct credsub_pat p[] = { PAT("srtmask_abc", "REAL", 0) };
	const bool yes[] = { true }, no[] = { false };
	check_splits(p, 1, yes, "Authorization: Bearer srtmask_abc\r\n", "Authorization: Bearer REAL\r\n");
	check_splits(p, 1, yes, "srtmask_abcsrtmask_abc", "REALREAL");
	check_splits(p, 1, yes, "srtmask_ab", "srtmask_ab");        /* a prefix at the end stays */
	check_splits(p, 1, yes, "xsrtmask_abx", "xsrtmask_abx");
	check_splits(p, 1, no, "a srtmask_abc b", "a srtmask_abc b"); /* report-only: unchanged */
	check_splits(p, 1, yes, "", "");
}

static void test_growth_and_shrink(void **state)
{
	(void)state;
	const struct credsub_pat p[] = { PAT("SI", "a-much-longer-real-value", 0), PAT("LONGSTANDIN", "s", 1) };
	const bool yes[] = { true, true };
	check_splits(p, 2, yes, "[SI][LONGSTANDIN]SILONGSTANDIN", "[a-much-longer-real-value][s]a-much-longer-real-values");
}

static void test_overlapping_prefixes(void **state)
{
	(void)state;
	/* "aab" inside "aaab": the scan must not lose the second 'a'. */
	const struct credsub_pat p[] = { PAT("aab", "X", 0) };
	const bool yes[] = { true };
	check_splits(p, 1, yes, "aaab aab aaaab", "aX X aaX");
	/* Two stand-ins sharing a prefix, one a prefix of the other: longest wins. */
	const struct credsub_pat q[] = { PAT("tok", "1", 0), PAT("token", "2", 1) };
	const bool both[] = { true, true };
	check_splits(q, 2, both, "tokentoktoke", "211e");
}

static void test_multiple_credentials(void **state)
{
	(void)state;
	const struct credsub_pat p[] = { PAT("srtmask_one", "ONE", 0), PAT("srtmask_two", "TWO", 1),
					 PAT("srtmask_three", "THREE", 2) };
	const bool mixed[] = { true, false, true };
	check_splits(p, 3, mixed, "a=srtmask_one&b=srtmask_two&c=srtmask_three&d=srtmask_on",
		     "a=ONE&b=srtmask_two&c=THREE&d=srtmask_on");
	struct credsub_out o = { 0 };
	bool seen[3];
	const char *in = "x srtmask_two y srtmask_three";
	assert_int_equal(credsub_oneshot(p, 3, mixed, (const uint8_t *)in, strlen(in), &o, seen), 0);
	assert_false(seen[0]);
	assert_true(seen[1]);
	assert_true(seen[2]);
	credsub_out_free(&o);
}

static void test_real_not_rescanned(void **state)
{
	(void)state;
	/* A real value that holds a stand-in is not scanned again. */
	const struct credsub_pat p[] = { PAT("AB", "xABx", 0) };
	const bool yes[] = { true };
	check_splits(p, 1, yes, "ABAB", "xABxxABx");
}

static void test_large_body(void **state)
{
	(void)state;
	/* A 1 MiB body with stand-ins at 64 KiB boundaries, fed in 64 KiB
	 * pieces (and at odd sizes). */
	const char *si = "srtmask_0123456789abcdefghijklmnopqrstuv";
	const char *real = "the-real-value-is-longer-than-the-stand-in-0123456789";
	const struct credsub_pat p[] = { { .standin = (const uint8_t *)si, .standin_len = strlen(si),
					   .real = (const uint8_t *)real, .real_len = strlen(real) } };
	const bool yes[] = { true };
	size_t len = 1 << 20;
	char *body = malloc(len);
	assert_non_null(body);
	memset(body, 'x', len);
	size_t at[] = { 0, 65535, 131072 - 20, 262144 - 1, 500000, len - strlen(si) };
	for (size_t i = 0; i < sizeof(at) / sizeof(at[0]); i++)
		memcpy(body + at[i], si, strlen(si));
	size_t want_len = len + 6 * (strlen(real) - strlen(si));
	size_t pieces[] = { 65536, 4096, 1, 65535, 7 };
	for (size_t k = 0; k < sizeof(pieces) / sizeof(pieces[0]); k++) {
		struct credsub s;
		struct credsub_out o = { 0 };
		assert_int_equal(credsub_init(&s, p, 1, yes), 0);
		for (size_t off = 0; off < len; off += pieces[k]) {
			size_t n = len - off < pieces[k] ? len - off : pieces[k];
			assert_int_equal(credsub_feed(&s, (const uint8_t *)body + off, n, &o), 0);
		}
		assert_int_equal(credsub_finish(&s, &o), 0);
		assert_int_equal(o.len, want_len);
		assert_int_equal(s.replaced, 6);
		assert_null(memmem(o.p, o.len, si, strlen(si)));
		credsub_free(&s);
		credsub_out_free(&o);
	}
	free(body);
}

static void test_extract_patterns(void **state)
{
	(void)state;
	regex_t re;
	const char *why = NULL;
	char buf[256];
	assert_int_equal(credregex_compile("token:\\s*(\\S+)", &re, &why, buf, sizeof(buf)), 0);
	regmatch_t m[2];
	assert_int_equal(regexec(&re, "x token:  abc123 y", 2, m, 0), 0);
	assert_int_equal(m[1].rm_so, 10);
	assert_int_equal(m[1].rm_eo, 16);
	regfree(&re);
	assert_int_equal(credregex_compile("id=(\\d+)", &re, &why, buf, sizeof(buf)), 0);
	assert_int_equal(regexec(&re, "id=d42", 2, m, 0), REG_NOMATCH); /* \d is a digit, not 'd' */
	assert_int_equal(regexec(&re, "id=42", 2, m, 0), 0);
	regfree(&re);
	assert_int_equal(credregex_compile("\"key\":\\s*\"([^\"\\s]+)\"", &re, &why, buf, sizeof(buf)), 0);
	assert_int_equal(regexec(&re, "{\"key\": \"s3cr3t\"}", 2, m, 0), 0);
	assert_int_equal(m[1].rm_eo - m[1].rm_so, 6);
	regfree(&re);
	/* Patterns whose compiled form would explode are refused early. */
	assert_int_equal(credregex_compile("((((((((((((((((a+)+)+)+)+)+)+)+)+)+)+)+)+)+)+)+(b)", &re, &why, buf, sizeof(buf)), -EINVAL);
	assert_non_null(strstr(why, "repeats too much"));
	assert_int_equal(credregex_compile("(a{100}){100}(b)", &re, &why, buf, sizeof(buf)), -EINVAL);
	assert_int_equal(credregex_compile("(a++)", &re, &why, buf, sizeof(buf)), -EINVAL);
	assert_int_equal(credregex_compile("x{2,5}(\\w{1,64})", &re, &why, buf, sizeof(buf)), 0);
	regfree(&re);
	const char *refused[] = { "(?:a)(b)", "a(b*?)", "no group", "(a", "(\\bx)", "([\\S])", "(a)\\1", "(x)\\u0041",
				  "([\\]])", "(?<n>x)" };
	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		why = NULL;
		assert_int_equal(credregex_compile(refused[i], &re, &why, buf, sizeof(buf)), -EINVAL);
		assert_non_null(why);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_basic),
		cmocka_unit_test(test_growth_and_shrink),
		cmocka_unit_test(test_overlapping_prefixes),
		cmocka_unit_test(test_multiple_credentials),
		cmocka_unit_test(test_real_not_rescanned),
		cmocka_unit_test(test_large_body),
		cmocka_unit_test(test_extract_patterns),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
