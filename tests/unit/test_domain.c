/* Unit tests for the allowedDomains / deniedDomains grammar and host matching. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy/domain.h"

static void expect_parse(const char *text, bool deny, enum domain_kind kind, const char *host, int port)
{
	struct domain_pattern p;
	const char *why = NULL;
	int r = domain_pattern_parse(text, deny, &p, &why);
	if (r != 0)
		fail_msg("\"%s\" refused: %s", text, why ? why : "?");
	assert_int_equal(p.kind, kind);
	if (host)
		assert_string_equal(p.host, host);
	else
		assert_null(p.host);
	assert_int_equal(p.port, port);
	domain_pattern_free(&p);
}

static void expect_refused(const char *text, bool deny, const char *why_part)
{
	struct domain_pattern p = { .kind = DOMAIN_NAME, .host = (char *)"untouched", .port = 42 };
	const char *why = NULL;
	int r = domain_pattern_parse(text, deny, &p, &why);
	if (r == 0)
		fail_msg("\"%s\" accepted as host \"%s\"", text, p.host ? p.host : "(null)");
	assert_int_equal(r, -EINVAL);
	assert_non_null(why);
	if (why_part && !strstr(why, why_part))
		fail_msg("\"%s\": reason \"%s\" does not mention \"%s\"", text, why, why_part);
	/* ret_ is written only on success */
	assert_string_equal(p.host, "untouched");
	assert_int_equal(p.port, 42);
}

static void test_names(void **state)
{
	(void)state;
	expect_parse("github.com", false, DOMAIN_NAME, "github.com", 0);
	expect_parse("GitHub.COM", false, DOMAIN_NAME, "github.com", 0);
	expect_parse("github.com.", false, DOMAIN_NAME, "github.com", 0);
	expect_parse("localhost", false, DOMAIN_NAME, "localhost", 0);
	expect_parse("a-b.c_d.example", false, DOMAIN_NAME, "a-b.c_d.example", 0);
	expect_parse("123.example.com", false, DOMAIN_NAME, "123.example.com", 0);
	expect_parse("x.y1", false, DOMAIN_NAME, "x.y1", 0);
}

static void test_ports(void **state)
{
	(void)state;
	expect_parse("github.com:443", false, DOMAIN_NAME, "github.com", 443);
	expect_parse("github.com.:443", false, DOMAIN_NAME, "github.com", 443);
	expect_parse("localhost:1", false, DOMAIN_NAME, "localhost", 1);
	expect_parse("localhost:65535", false, DOMAIN_NAME, "localhost", 65535);
	expect_parse("*.example.com:8080", false, DOMAIN_WILDCARD, "example.com", 8080);
	expect_parse("10.0.0.1:22", false, DOMAIN_IPV4, "10.0.0.1", 22);
	expect_parse("[::1]:8443", false, DOMAIN_IPV6, "::1", 8443);
	expect_refused("github.com:0", false, "1..65535");
	expect_refused("github.com:65536", false, "1..65535");
	expect_refused("github.com:100000", false, "1..65535");
	expect_refused("github.com:", false, "empty port");
	expect_refused("github.com:-1", false, "number");
	expect_refused("github.com:+80", false, "number");
	expect_refused("github.com:8o", false, "number");
	expect_refused("github.com:80:80", false, "brackets");
}

static void test_wildcards(void **state)
{
	(void)state;
	expect_parse("*.example.com", false, DOMAIN_WILDCARD, "example.com", 0);
	expect_parse("*.EXAMPLE.com.", false, DOMAIN_WILDCARD, "example.com", 0);
	expect_parse("*.co.uk", false, DOMAIN_WILDCARD, "co.uk", 0);
	expect_refused("*.com", false, "two labels");
	expect_refused("*.com.", false, "two labels");
	expect_refused("*.", false, NULL);
	expect_refused("*..com", false, "empty label");
	expect_refused("*example.com", false, "first label");
	expect_refused("a.*.example.com", false, "first label");
	expect_refused("**.example.com", false, "first label");
	expect_refused("*.*.example.com", false, "first label");
	expect_refused("example.*", false, "first label");
}

static void test_any(void **state)
{
	(void)state;
	expect_parse("*", true, DOMAIN_ANY, NULL, 0);
	expect_parse("*:25", true, DOMAIN_ANY, NULL, 25);
	expect_refused("*", false, "deniedDomains");
	expect_refused("*:443", false, "deniedDomains");
}

static void test_ip_literals(void **state)
{
	(void)state;
	expect_parse("127.0.0.1", false, DOMAIN_IPV4, "127.0.0.1", 0);
	expect_parse("192.0.2.255", false, DOMAIN_IPV4, "192.0.2.255", 0);
	expect_parse("[::1]", false, DOMAIN_IPV6, "::1", 0);
	expect_parse("[2001:DB8:0:0:0:0:0:1]", false, DOMAIN_IPV6, "2001:db8::1", 0);
	expect_parse("[::ffff:192.0.2.1]", false, DOMAIN_IPV6, "::ffff:192.0.2.1", 0);
	/* Numeric forms other than a dotted quad would be IPv4 to a resolver. */
	expect_refused("127.1", false, "dotted-quad");
	expect_refused("2130706433", false, "dotted-quad");
	expect_refused("0x7f.0.0.1", false, NULL);
	expect_refused("017700000001", false, "dotted-quad");
	expect_refused("01.2.3.4", false, "dotted-quad");
	expect_refused("256.1.1.1", false, "dotted-quad");
	expect_refused("1.2.3.4.5", false, "dotted-quad");
	expect_refused("*.0.0.1", false, NULL);
	/* IPv6 needs brackets, and a real address inside them. */
	expect_refused("::1", false, "brackets");
	expect_refused("2001:db8::1", false, "brackets");
	expect_refused("[::1", false, "]");
	expect_refused("[]", false, "IPv6");
	expect_refused("[example.com]", false, "IPv6");
	expect_refused("[127.0.0.1]", false, "IPv6");
	expect_refused("[fe80::1%eth0]", false, NULL);
	expect_refused("[::1]x", false, "after the host");
	expect_refused("[::1]:", false, "empty port");
}

static void test_refusals(void **state)
{
	(void)state;
	expect_refused("", false, "empty");
	expect_refused("https://github.com", false, "scheme");
	expect_refused("github.com/path", false, "path");
	expect_refused("user@github.com", false, "'@'");
	expect_refused("user:pw@github.com", false, "'@'");
	expect_refused(".github.com", false, "empty label");
	expect_refused("github..com", false, "empty label");
	expect_refused("github.com..", false, "empty label");
	expect_refused(".", false, NULL);
	expect_refused(":443", false, "empty host");
	expect_refused("-github.com", false, "'-'");
	expect_refused("github-.com", false, "'-'");
	expect_refused("git hub.com", false, "character");
	expect_refused("github.com\t", false, "character");
	expect_refused("gith%75b.com", false, "character");
	expect_refused("a\\b.com", false, "character");
	expect_refused("caf\xc3\xa9.com", false, "character");
	expect_refused("ex!ample.com", false, "character");

	char label[80];
	memset(label, 'a', 64);
	strcpy(label + 64, ".com");
	expect_refused(label, false, "63");
	strcpy(label + 63, ".com"); /* 63 is still fine */
	expect_parse(label, false, DOMAIN_NAME, label, 0);

	/* 253 characters is the longest name; 254 is refused. */
	char name[300];
	size_t n = 0;
	while (n < 253) {
		size_t take = 253 - n >= 10 ? 9 : 253 - n;
		memset(name + n, 'b', take);
		n += take;
		if (n < 253)
			name[n++] = '.';
	}
	name[n] = '\0';
	assert_int_equal(strlen(name), 253);
	name[252] = 'c'; /* do not end on a numeric or dotted label */
	expect_parse(name, false, DOMAIN_NAME, name, 0);
	strcpy(name + 253, "x");
	expect_refused(name, false, "253");

	char huge[2000];
	memset(huge, 'a', sizeof(huge) - 1);
	huge[sizeof(huge) - 1] = '\0';
	expect_refused(huge, false, "too long");
}

static bool match(const char *entry, const char *host, int port)
{
	struct domain_pattern p;
	const char *why = NULL;
	if (domain_pattern_parse(entry, true, &p, &why) != 0)
		fail_msg("\"%s\" refused: %s", entry, why);
	bool m = domain_pattern_match(&p, host, port);
	domain_pattern_free(&p);
	return m;
}

static void test_match_names(void **state)
{
	(void)state;
	assert_true(match("github.com", "github.com", 443));
	assert_true(match("GitHub.com", "github.com", 443));
	assert_true(match("github.com", "GITHUB.COM", 443));
	assert_true(match("github.com", "github.com.", 80));
	assert_true(match("github.com.", "github.com", 80));
	assert_false(match("github.com", "api.github.com", 443));
	assert_false(match("github.com", "github.co", 443));
	assert_false(match("github.com", "xgithub.com", 443));
	assert_false(match("github.com", "github.com..", 443));
	assert_false(match("github.com", "", 443));
	assert_true(match("localhost", "localhost", 3000));
}

static void test_match_wildcards(void **state)
{
	(void)state;
	assert_true(match("*.example.com", "a.example.com", 443));
	assert_true(match("*.example.com", "a.b.example.com", 443));
	assert_true(match("*.example.com", "A.EXAMPLE.com.", 443));
	assert_false(match("*.example.com", "example.com", 443)); /* not the apex */
	assert_false(match("*.example.com", "example.com.", 443));
	assert_false(match("*.example.com", "badexample.com", 443)); /* label boundary */
	assert_false(match("*.example.com", "a.example.com.evil", 443));
	assert_false(match("*.example.com", ".example.com", 443));
	assert_false(match("*.example.com", "a..example.com", 443));
	assert_false(match("*.example.com", "::ffff:a.example.com", 443));
}

static void test_match_ports(void **state)
{
	(void)state;
	assert_true(match("github.com", "github.com", 1));
	assert_true(match("github.com:443", "github.com", 443));
	assert_false(match("github.com:443", "github.com", 80));
	assert_true(match("*.example.com:8080", "x.example.com", 8080));
	assert_false(match("*.example.com:8080", "x.example.com", 8081));
	assert_true(match("*", "anything.at.all", 1));
	assert_true(match("*:25", "mail.example.com", 25));
	assert_false(match("*:25", "mail.example.com", 587));
	assert_true(match("[::1]:8443", "::1", 8443));
	assert_false(match("[::1]:8443", "::1", 443));
}

static void test_match_ip(void **state)
{
	(void)state;
	assert_true(match("127.0.0.1", "127.0.0.1", 80));
	assert_false(match("127.0.0.1", "127.0.0.2", 80));
	assert_false(match("127.0.0.1", "localhost", 80));
	assert_false(match("localhost", "127.0.0.1", 80));
	/* IPv4-mapped IPv6 is the IPv4 address. */
	assert_true(match("127.0.0.1", "::ffff:127.0.0.1", 80));
	assert_true(match("[::ffff:127.0.0.1]", "127.0.0.1", 80));
	assert_true(match("[::1]", "::1", 80));
	assert_true(match("[::1]", "[::1]", 80));
	assert_true(match("[2001:db8::1]", "2001:DB8:0::1", 80));
	assert_false(match("[::1]", "::2", 80));
	assert_false(match("[::1]", "127.0.0.1", 80));
	/* Names never match addresses, and addresses never match names. */
	assert_false(match("*.0.2.1.example.com", "192.0.2.1", 80));
	assert_false(match("127.0.0.1", "127.0.0.1.nip.io", 80));
}

static void test_pattern_free(void **state)
{
	(void)state;
	domain_pattern_free(NULL);
	struct domain_pattern p;
	const char *why;
	assert_int_equal(domain_pattern_parse("a.example.com", false, &p, &why), 0);
	domain_pattern_free(&p);
	domain_pattern_free(&p); /* twice is harmless */
	assert_false(domain_pattern_match(NULL, "x.com", 1));
	assert_false(domain_pattern_match(&p, "a.example.com", 1)); /* freed: no host */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_ports),
		cmocka_unit_test(test_wildcards),
		cmocka_unit_test(test_any),
		cmocka_unit_test(test_ip_literals),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_match_names),
		cmocka_unit_test(test_match_wildcards),
		cmocka_unit_test(test_match_ports),
		cmocka_unit_test(test_match_ip),
		cmocka_unit_test(test_pattern_free),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
