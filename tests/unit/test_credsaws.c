/* Unit tests for the AWS key pairs credentials build for SigV4 re-signing: awsPairs, the conventional AWS_* trio, what counts as a pair, the sigv4 policies. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "config/config.h"
#include "creds.h"

#define REAL_AKID "AKIAUNITREALKEY00001"
#define REAL_SECRET "unit/real+Secret0123456789abcdefghijklmn"
#define REAL_TOKEN "unit-real-session-token"

struct built {
	struct config cfg;
	struct creds *c;
	struct strv warnings;
	struct srt_error err;
	int r;
};

static void build(struct built *b, const char *text)
{
	memset(b, 0, sizeof(*b));
	config_init(&b->cfg);
	int r = config_parse_text(&b->cfg, "/home/u/.srt-settings.json", text, strlen(text), CONFIG_ORIGIN_USER, true,
				  &b->err);
	if (r != 0)
		fail_msg("%s", b->err.message);
	b->r = creds_build(&b->cfg, "/home/u", "/home/u/p", &b->c, &b->warnings, &b->err);
}

static void done(struct built *b)
{
	creds_free(b->c);
	strv_clear(&b->warnings);
	config_free(&b->cfg);
}

static void env_set(void)
{
	setenv("AWS_ACCESS_KEY_ID", REAL_AKID, 1);
	setenv("AWS_SECRET_ACCESS_KEY", REAL_SECRET, 1);
	setenv("AWS_SESSION_TOKEN", REAL_TOKEN, 1);
	setenv("MY_KEY", "AKIAUNITOTHERKEY0002", 1);
	setenv("MY_SECRET", "unit/other+Secret0123456789abcdefghijklm", 1);
	unsetenv("MY_TOKEN");
}

#define MASK(n, hosts) "{\"name\": \"" n "\", \"mode\": \"mask\", \"injectHosts\": [" hosts "]}"

static void test_conventional_trio_pairs_itself(void **state)
{
	(void)state;
	env_set();
	struct built b;
	build(&b, "{\"network\": {\"allowedDomains\": [\"s3.amazonaws.com\"]}, \"credentials\": {\"allowPlaintextInject\": "
		  "true, \"envVars\": [" MASK("AWS_ACCESS_KEY_ID", "\"s3.amazonaws.com\"") ", "
		  MASK("AWS_SECRET_ACCESS_KEY", "\"s3.amazonaws.com\"") ", " MASK("AWS_SESSION_TOKEN", "\"s3.amazonaws.com\"") "]}}");
	assert_int_equal(b.r, 0);
	size_t n;
	const struct creds_aws *a = creds_aws_pairs(b.c, &n);
	assert_int_equal(n, 1);
	assert_string_equal(a[0].pair.real_akid, REAL_AKID);
	assert_string_equal(a[0].pair.real_secret, REAL_SECRET);
	assert_string_equal(a[0].pair.real_token, REAL_TOKEN);
	assert_true(strncmp(a[0].pair.masked_akid, CREDS_STANDIN_PREFIX, strlen(CREDS_STANDIN_PREFIX)) == 0);
	assert_non_null(a[0].pair.masked_secret);
	assert_non_null(a[0].pair.masked_token);
	/* the gate is the key id's injectHosts */
	size_t akid;
	assert_true(creds_env_pattern(b.c, "AWS_ACCESS_KEY_ID", &akid));
	assert_int_equal(a[0].akid_pat, akid);
	struct sigv4_opts o;
	creds_sigv4_opts(creds_config(b.c), &o);
	assert_int_equal(o.streaming, SIGV4_DENY);
	assert_int_equal(o.presigned, SIGV4_DENY);
	assert_int_equal(o.sigv4a, SIGV4_DENY);
	done(&b);
}

static void test_explicit_pair_replaces_the_trio(void **state)
{
	(void)state;
	env_set();
	struct built b;
	/* an awsPairs entry naming a conventional variable: no implicit trio */
	build(&b, "{\"credentials\": {\"allowPlaintextInject\": true, \"envVars\": [" MASK("MY_KEY", "\"s3.amazonaws.com\"") ", "
		  MASK("MY_SECRET", "\"s3.amazonaws.com\"") ", " MASK("MY_TOKEN", "\"s3.amazonaws.com\"") ", " MASK("AWS_ACCESS_KEY_ID", "\"s3.amazonaws.com\"") ", "
		  MASK("AWS_SECRET_ACCESS_KEY", "\"s3.amazonaws.com\"") "], \"awsPairs\": [{\"accessKeyIdVar\": \"MY_KEY\", "
		  "\"secretAccessKeyVar\": \"MY_SECRET\", \"sessionTokenVar\": \"MY_TOKEN\"}, {\"accessKeyIdVar\": "
		  "\"AWS_ACCESS_KEY_ID\", \"secretAccessKeyVar\": \"AWS_SECRET_ACCESS_KEY\"}], "
		  "\"sigv4\": {\"streaming\": \"resign\", \"presigned\": \"passthrough\", \"sigv4a\": \"passthrough\"}}}");
	assert_int_equal(b.r, 0);
	size_t n;
	const struct creds_aws *a = creds_aws_pairs(b.c, &n);
	assert_int_equal(n, 2);
	assert_string_equal(a[0].pair.real_akid, "AKIAUNITOTHERKEY0002");
	/* MY_TOKEN is not set: the pair has no token */
	assert_null(a[0].pair.masked_token);
	assert_null(a[0].pair.real_token);
	assert_string_equal(a[1].pair.real_akid, REAL_AKID);
	assert_null(a[1].pair.real_token); /* not named by the entry */
	struct sigv4_opts o;
	creds_sigv4_opts(creds_config(b.c), &o);
	assert_int_equal(o.streaming, SIGV4_RESIGN);
	assert_int_equal(o.presigned, SIGV4_PASSTHROUGH);
	assert_int_equal(o.sigv4a, SIGV4_PASSTHROUGH);
	done(&b);
}

static void test_half_masked_is_no_pair_and_warns(void **state)
{
	(void)state;
	env_set();
	struct built b;
	build(&b, "{\"credentials\": {\"allowPlaintextInject\": true, \"envVars\": [" MASK("AWS_SECRET_ACCESS_KEY", "\"s3.amazonaws.com\"")
		  "]}}");
	assert_int_equal(b.r, 0);
	size_t n;
	creds_aws_pairs(b.c, &n);
	assert_int_equal(n, 0);
	size_t hits = 0;
	for (size_t i = 0; i < b.warnings.n; i++) {
		if (strstr(b.warnings.v[i], "AWS_SECRET_ACCESS_KEY is masked but AWS_ACCESS_KEY_ID is not"))
			hits++;
		assert_null(strstr(b.warnings.v[i], REAL_SECRET));
	}
	assert_int_equal(hits, 1);
	done(&b);

	/* key id masked but not set: no pair, no warning */
	unsetenv("AWS_ACCESS_KEY_ID");
	build(&b, "{\"credentials\": {\"allowPlaintextInject\": true, \"envVars\": [" MASK("AWS_ACCESS_KEY_ID", "\"s3.amazonaws.com\"") ", "
		  MASK("AWS_SECRET_ACCESS_KEY", "\"s3.amazonaws.com\"") "]}}");
	assert_int_equal(b.r, 0);
	creds_aws_pairs(b.c, &n);
	assert_int_equal(n, 0);
	done(&b);

	/* a denied key id is no pair either */
	env_set();
	build(&b, "{\"credentials\": {\"allowPlaintextInject\": true, \"envVars\": [{\"name\": \"AWS_ACCESS_KEY_ID\", "
		  "\"mode\": \"deny\"}, " MASK("AWS_SECRET_ACCESS_KEY", "\"s3.amazonaws.com\"") "]}}");
	assert_int_equal(b.r, 0);
	creds_aws_pairs(b.c, &n);
	assert_int_equal(n, 0);
	done(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_conventional_trio_pairs_itself),
		cmocka_unit_test(test_explicit_pair_replaces_the_trio),
		cmocka_unit_test(test_half_masked_is_no_pair_and_warns),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
