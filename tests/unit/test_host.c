/* Unit tests for host canonicalization and authority splitting: hostile spellings, numeric IPv4 forms, IPv6. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "proxy/host.h"

static void expect_host_n(const char *in, size_t len, enum proxy_host_kind kind, const char *text)
{
	struct proxy_host h;
	const char *why = NULL;
	int r = proxy_host_canonical(in, len, &h, &why);
	if (r != 0)
		fail_msg("\"%s\" refused: %s", in, why ? why : "?");
	assert_int_equal(h.kind, kind);
	assert_string_equal(h.text, text);
}

static void expect_host(const char *in, enum proxy_host_kind kind, const char *text)
{
	expect_host_n(in, strlen(in), kind, text);
}

static void expect_refused_n(const char *in, size_t len)
{
	struct proxy_host h = { .kind = PROXY_HOST_IPV6, .text = "untouched" };
	const char *why = NULL;
	int r = proxy_host_canonical(in, len, &h, &why);
	if (r != -EINVAL)
		fail_msg("\"%.*s\" not refused (%d, %s)", (int)len, in, r, h.text);
	assert_non_null(why);
	assert_string_equal(h.text, "untouched");
}

static void expect_refused(const char *in)
{
	expect_refused_n(in, strlen(in));
}

static void test_names(void **state)
{
	(void)state;
	expect_host("github.com", PROXY_HOST_NAME, "github.com");
	expect_host("GitHub.COM", PROXY_HOST_NAME, "github.com");
	expect_host("github.com.", PROXY_HOST_NAME, "github.com");
	expect_host("localhost", PROXY_HOST_NAME, "localhost");
	expect_host("_srv.my-host.example", PROXY_HOST_NAME, "_srv.my-host.example");
	expect_host("1password.com", PROXY_HOST_NAME, "1password.com");
	expect_host("a.0x1g", PROXY_HOST_NAME, "a.0x1g");
	/* Only the input's length counts, not a NUL after it. */
	expect_host_n("example.comXYZ", 11, PROXY_HOST_NAME, "example.com");
}

static void test_hostile_names(void **state)
{
	(void)state;
	expect_refused("");
	expect_refused(".");
	expect_refused("github.com..");
	expect_refused("a..b");
	expect_refused(".a.b");
	expect_refused_n("allowed.com\0.evil.com", 21);
	expect_refused_n("evil.com\0", 9);
	expect_refused("allowed.com\r\nX-Injected: 1");
	expect_refused("allowed.com\n");
	expect_refused("allowed.com\t");
	expect_refused("allowed.com evil.com");
	expect_refused("allowed.com@evil.com");
	expect_refused("user@allowed.com");
	expect_refused("allowed.com/evil.com");
	expect_refused("allowed.com\\evil.com");
	expect_refused("allowed%2ecom");
	expect_refused("allowed.com:443");
	expect_refused("*.example.com");
	expect_refused("ex\x7f" "ample.com");
	expect_refused("ex\xc3\xa9mple.com");
	expect_refused("-lead.example.com");
	expect_refused("trail-.example.com");
	expect_refused("[::1");
	expect_refused("::1]");
	expect_refused("[[::1]]");

	char name[300];
	memset(name, 'a', 63);
	strcpy(name + 63, ".com");
	expect_host(name, PROXY_HOST_NAME, name);
	memset(name, 'a', 64);
	strcpy(name + 64, ".com");
	expect_refused(name);

	/* 253 characters accepted (and 254 with a trailing dot), 254 refused. */
	for (int i = 0; i < 253; i++)
		name[i] = (i % 2) ? '.' : 'a';
	name[253] = '\0';
	expect_host(name, PROXY_HOST_NAME, name);
	name[253] = '.';
	name[254] = '\0';
	struct proxy_host h;
	assert_int_equal(proxy_host_canonical(name, 254, &h, NULL), 0);
	assert_int_equal(strlen(h.text), 253);
	name[253] = 'a';
	expect_refused(name);
	memset(name, 'a', sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0';
	expect_refused(name);
}

static void test_ipv4_forms(void **state)
{
	(void)state;
	expect_host("127.0.0.1", PROXY_HOST_IPV4, "127.0.0.1");
	expect_host("127.1", PROXY_HOST_IPV4, "127.0.0.1");
	expect_host("0x7f.0.0.1", PROXY_HOST_IPV4, "127.0.0.1");
	expect_host("0X7F.0.0.1", PROXY_HOST_IPV4, "127.0.0.1");
	expect_host("2130706433", PROXY_HOST_IPV4, "127.0.0.1");
	expect_host("017700000001", PROXY_HOST_IPV4, "127.0.0.1");
	expect_host("0177.0.0.01", PROXY_HOST_IPV4, "127.0.0.1");
	expect_host("169.254.169.254.", PROXY_HOST_IPV4, "169.254.169.254");
	expect_host("0", PROXY_HOST_IPV4, "0.0.0.0");
	/* Numeric-looking but not an address: refused rather than resolved as a name. */
	expect_refused("1.2.3.256");
	expect_refused("1.2.3.4.5");
	expect_refused("4294967296");
	expect_refused("08.1.1.1");
	expect_refused("example.123");
	expect_refused("example.0x1f");
}

static void test_ipv6(void **state)
{
	(void)state;
	expect_host("[::1]", PROXY_HOST_IPV6, "::1");
	expect_host("::1", PROXY_HOST_IPV6, "::1");
	expect_host("[2001:DB8:0:0:0:0:0:1]", PROXY_HOST_IPV6, "2001:db8::1");
	expect_host("[::ffff:1.2.3.4]", PROXY_HOST_IPV4, "1.2.3.4");
	expect_host("[::FFFF:7f00:1]", PROXY_HOST_IPV4, "127.0.0.1");
	expect_refused("[fe80::1%eth0]");
	expect_refused("[fe80::1%25eth0]");
	expect_refused("[]");
	expect_refused("[::g]");
	expect_refused("[example.com]");
	expect_refused("[1.2.3.4]");
	expect_refused("1:2:3:4:5:6:7:8:9");
}

static void expect_authority(const char *in, uint16_t def, enum proxy_host_kind kind, const char *text, uint16_t port)
{
	struct proxy_host h;
	uint16_t p = 0;
	const char *why = NULL;
	int r = proxy_authority_parse(in, strlen(in), def, &h, &p, &why);
	if (r != 0)
		fail_msg("\"%s\" refused: %s", in, why ? why : "?");
	assert_int_equal(h.kind, kind);
	assert_string_equal(h.text, text);
	assert_int_equal(p, port);
}

static void expect_authority_refused_n(const char *in, size_t len, uint16_t def)
{
	struct proxy_host h;
	uint16_t p = 4242;
	const char *why = NULL;
	int r = proxy_authority_parse(in, len, def, &h, &p, &why);
	if (r != -EINVAL)
		fail_msg("\"%s\" not refused", in);
	assert_non_null(why);
	assert_int_equal(p, 4242);
}

static void expect_authority_refused(const char *in, uint16_t def)
{
	expect_authority_refused_n(in, strlen(in), def);
}

static void test_authority(void **state)
{
	(void)state;
	expect_authority("example.com:443", 0, PROXY_HOST_NAME, "example.com", 443);
	expect_authority("Example.com.:1", 0, PROXY_HOST_NAME, "example.com", 1);
	expect_authority("example.com:65535", 0, PROXY_HOST_NAME, "example.com", 65535);
	expect_authority("example.com", 80, PROXY_HOST_NAME, "example.com", 80);
	expect_authority("[::1]:8080", 0, PROXY_HOST_IPV6, "::1", 8080);
	expect_authority("[::1]", 80, PROXY_HOST_IPV6, "::1", 80);
	expect_authority("127.1:22", 0, PROXY_HOST_IPV4, "127.0.0.1", 22);
	expect_authority("[::ffff:10.0.0.1]:443", 0, PROXY_HOST_IPV4, "10.0.0.1", 443);

	expect_authority_refused("example.com", 0);
	expect_authority_refused("example.com:", 0);
	expect_authority_refused("example.com:", 80);
	expect_authority_refused("example.com:0", 0);
	expect_authority_refused("example.com:65536", 0);
	expect_authority_refused("example.com:000443", 0);
	expect_authority_refused("example.com:+443", 0);
	expect_authority_refused("example.com:44 3", 0);
	expect_authority_refused("example.com:443:443", 0);
	expect_authority_refused("::1:443", 0);
	expect_authority_refused("[::1]443", 0);
	expect_authority_refused("[::1", 0);
	expect_authority_refused("user:pw@example.com:443", 0);
	expect_authority_refused("allowed.com@evil.com:443", 0);
	expect_authority_refused(":443", 0);
	expect_authority_refused_n("allowed.com\0:443", 16, 0);
	expect_authority_refused_n("allowed.com:443\0", 16, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_hostile_names),
		cmocka_unit_test(test_ipv4_forms),
		cmocka_unit_test(test_ipv6),
		cmocka_unit_test(test_authority),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
