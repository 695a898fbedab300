/* Unit tests for the SOCKS5 wire format: parsers (with every split point) and reply builders. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "proxy/socks5.h"

/* Every strict prefix of a complete message must ask for more bytes, and the
 * whole message must be consumed exactly, trailing bytes left alone. */
static void expect_request_ok(const uint8_t *msg, size_t len, struct socks5_request *ret_req)
{
	uint8_t code = 0xEE;
	for (size_t i = 0; i < len; i++) {
		struct socks5_request req = { .port = 4242 };
		assert_int_equal(socks5_parse_request(msg, i, &req, &code), 0);
		assert_int_equal(req.port, 4242); /* untouched */
	}
	uint8_t buf[SOCKS5_REQUEST_MAX + 8];
	memcpy(buf, msg, len);
	memcpy(buf + len, "\x16\x03\x01", 3); /* the tunnel's first bytes, already arrived */
	assert_int_equal(socks5_parse_request(buf, len + 3, ret_req, &code), (int)len);
	assert_int_equal(code, 0xEE);
}

static void expect_request_refused(const uint8_t *msg, size_t len, int err, uint8_t rep)
{
	struct socks5_request req = { .port = 4242 };
	uint8_t code = 0xEE;
	assert_int_equal(socks5_parse_request(msg, len, &req, &code), err);
	assert_int_equal(code, rep);
	assert_int_equal(req.port, 4242);
}

static void test_greeting_no_auth(void **state)
{
	(void)state;
	const uint8_t msg[] = { 0x05, 0x01, 0x00 };
	uint8_t method = 0x77, code = 0xEE;
	for (size_t i = 0; i < sizeof(msg); i++) {
		assert_int_equal(socks5_parse_greeting(msg, i, &method, &code), 0);
		assert_int_equal(method, 0x77);
	}
	assert_int_equal(socks5_parse_greeting(msg, sizeof(msg), &method, &code), 3);
	assert_int_equal(method, SOCKS5_METHOD_NO_AUTH);
}

static void test_greeting_prefers_no_auth(void **state)
{
	(void)state;
	const uint8_t both[] = { 0x05, 0x03, 0x02, 0x80, 0x00, 0x05 };
	uint8_t method = 0x77;
	assert_int_equal(socks5_parse_greeting(both, sizeof(both), &method, NULL), 5);
	assert_int_equal(method, SOCKS5_METHOD_NO_AUTH);

	const uint8_t userpass[] = { 0x05, 0x02, 0x01, 0x02 };
	assert_int_equal(socks5_parse_greeting(userpass, sizeof(userpass), &method, NULL), 4);
	assert_int_equal(method, SOCKS5_METHOD_USERPASS);
}

static void test_greeting_no_acceptable(void **state)
{
	(void)state;
	const uint8_t gssapi[] = { 0x05, 0x01, 0x01 };
	uint8_t method = 0x77;
	assert_int_equal(socks5_parse_greeting(gssapi, sizeof(gssapi), &method, NULL), 3);
	assert_int_equal(method, SOCKS5_METHOD_NONE_ACCEPTABLE);
}

static void test_greeting_malformed(void **state)
{
	(void)state;
	uint8_t method = 0x77, code = 0xEE;
	const uint8_t socks4[] = { 0x04, 0x01, 0x00, 0x50 };
	assert_int_equal(socks5_parse_greeting(socks4, 1, &method, &code), -EBADMSG);
	assert_int_equal(code, SOCKS5_REP_GENERAL_FAILURE);
	const uint8_t zero[] = { 0x05, 0x00 };
	code = 0xEE;
	assert_int_equal(socks5_parse_greeting(zero, sizeof(zero), &method, &code), -EBADMSG);
	assert_int_equal(code, SOCKS5_REP_GENERAL_FAILURE);
	assert_int_equal(method, 0x77);
	/* An HTTP client on the SOCKS port is refused at once. */
	assert_int_equal(socks5_parse_greeting((const uint8_t *)"GET /", 5, &method, NULL), -EBADMSG);
}

static void test_greeting_all_methods(void **state)
{
	(void)state;
	uint8_t msg[SOCKS5_GREETING_MAX];
	msg[0] = 0x05;
	msg[1] = 255;
	for (int i = 0; i < 255; i++)
		msg[2 + i] = (uint8_t)(i + 1); /* 0x01..0xFF: no 0x00 */
	uint8_t method = 0;
	assert_int_equal(socks5_parse_greeting(msg, sizeof(msg) - 1, &method, NULL), 0);
	assert_int_equal(socks5_parse_greeting(msg, sizeof(msg), &method, NULL), SOCKS5_GREETING_MAX);
	assert_int_equal(method, SOCKS5_METHOD_USERPASS);
}

static void test_auth(void **state)
{
	(void)state;
	const uint8_t msg[] = { 0x01, 0x04, 'u', 's', 'e', 'r', 0x06, 's', 'e', 'c', 'r', 'e', 't' };
	uint8_t code = 0xEE;
	for (size_t i = 0; i < sizeof(msg); i++)
		assert_int_equal(socks5_parse_auth(msg, i, &code), 0);
	assert_int_equal(socks5_parse_auth(msg, sizeof(msg), &code), (int)sizeof(msg));
	assert_int_equal(code, 0xEE);

	const uint8_t empty_pass[] = { 0x01, 0x01, 'u', 0x00, 0x05 };
	assert_int_equal(socks5_parse_auth(empty_pass, sizeof(empty_pass), &code), 4);
}

static void test_auth_longest(void **state)
{
	(void)state;
	uint8_t msg[SOCKS5_AUTH_MAX];
	memset(msg, 'a', sizeof(msg));
	msg[0] = 0x01;
	msg[1] = 255;
	msg[2 + 255] = 255;
	assert_int_equal(socks5_parse_auth(msg, sizeof(msg) - 1, NULL), 0);
	assert_int_equal(socks5_parse_auth(msg, sizeof(msg), NULL), SOCKS5_AUTH_MAX);
}

static void test_auth_malformed(void **state)
{
	(void)state;
	uint8_t code = 0xEE;
	const uint8_t bad_ver[] = { 0x05, 0x01, 'u', 0x00 };
	assert_int_equal(socks5_parse_auth(bad_ver, 1, &code), -EBADMSG);
	assert_int_equal(code, SOCKS5_AUTH_FAILURE);
	const uint8_t no_user[] = { 0x01, 0x00, 0x00 };
	code = 0xEE;
	assert_int_equal(socks5_parse_auth(no_user, 2, &code), -EBADMSG);
	assert_int_equal(code, SOCKS5_AUTH_FAILURE);
}

static void test_request_ipv4(void **state)
{
	(void)state;
	const uint8_t msg[] = { 0x05, 0x01, 0x00, 0x01, 10, 1, 2, 3, 0x01, 0xBB };
	struct socks5_request req;
	expect_request_ok(msg, sizeof(msg), &req);
	assert_int_equal(req.cmd, SOCKS5_CMD_CONNECT);
	assert_int_equal(req.atyp, SOCKS5_ATYP_IPV4);
	assert_memory_equal(req.ipv4, ((uint8_t[]){ 10, 1, 2, 3 }), 4);
	assert_int_equal(req.port, 443);
	assert_string_equal(req.host, "");
}

static void test_request_ipv6(void **state)
{
	(void)state;
	const uint8_t msg[] = { 0x05, 0x01, 0x00, 0x04,
				0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01,
				0x1F, 0x90 };
	struct socks5_request req;
	expect_request_ok(msg, sizeof(msg), &req);
	assert_int_equal(req.atyp, SOCKS5_ATYP_IPV6);
	assert_memory_equal(req.ipv6, msg + 4, 16);
	assert_int_equal(req.port, 8080);
}

static void test_request_domain(void **state)
{
	(void)state;
	const uint8_t msg[] = { 0x05, 0x01, 0x00, 0x03, 11, 'e', 'x', 'a', 'm', 'p', 'l', 'e', '.', 'c', 'o', 'm',
				0x00, 0x50 };
	struct socks5_request req;
	expect_request_ok(msg, sizeof(msg), &req);
	assert_int_equal(req.atyp, SOCKS5_ATYP_DOMAIN);
	assert_string_equal(req.host, "example.com");
	assert_int_equal(req.port, 80);
}

static void test_request_longest_domain(void **state)
{
	(void)state;
	uint8_t msg[SOCKS5_REQUEST_MAX];
	memset(msg, 'a', sizeof(msg));
	memcpy(msg, "\x05\x01\x00\x03\xff", 5);
	msg[5 + 255] = 0x00;
	msg[5 + 256] = 0x16;
	struct socks5_request req;
	expect_request_ok(msg, sizeof(msg), &req);
	assert_int_equal(strlen(req.host), 255);
	assert_int_equal(req.port, 22);
}

static void test_request_unsupported_commands(void **state)
{
	(void)state;
	const uint8_t bind[] = { 0x05, 0x02, 0x00, 0x01, 127, 0, 0, 1, 0x00, 0x50 };
	const uint8_t udp[] = { 0x05, 0x03, 0x00, 0x01, 0, 0, 0, 0, 0x00, 0x00 };
	const uint8_t unknown[] = { 0x05, 0x09, 0x00, 0x01, 1, 1, 1, 1, 0x00, 0x50 };
	expect_request_refused(bind, sizeof(bind), -EOPNOTSUPP, SOCKS5_REP_COMMAND_NOT_SUPPORTED);
	expect_request_refused(udp, sizeof(udp), -EOPNOTSUPP, SOCKS5_REP_COMMAND_NOT_SUPPORTED);
	expect_request_refused(unknown, sizeof(unknown), -EOPNOTSUPP, SOCKS5_REP_COMMAND_NOT_SUPPORTED);
	/* Decided as soon as CMD has arrived. */
	expect_request_refused(bind, 2, -EOPNOTSUPP, SOCKS5_REP_COMMAND_NOT_SUPPORTED);
}

static void test_request_unknown_atyp(void **state)
{
	(void)state;
	const uint8_t msg[] = { 0x05, 0x01, 0x00, 0x09, 1, 2, 3, 4, 0x00, 0x50 };
	expect_request_refused(msg, sizeof(msg), -EAFNOSUPPORT, SOCKS5_REP_ATYP_NOT_SUPPORTED);
	expect_request_refused(msg, 4, -EAFNOSUPPORT, SOCKS5_REP_ATYP_NOT_SUPPORTED);
}

static void test_request_nul_in_domain(void **state)
{
	(void)state;
	/* "allowed.com\0.evil": a C string check would see only "allowed.com". */
	const uint8_t msg[] = { 0x05, 0x01, 0x00, 0x03, 17,
				'a', 'l', 'l', 'o', 'w', 'e', 'd', '.', 'c', 'o', 'm', 0x00, '.', 'e', 'v', 'i', 'l',
				0x01, 0xBB };
	expect_request_refused(msg, sizeof(msg), -EBADMSG, SOCKS5_REP_GENERAL_FAILURE);
	/* Refused as soon as the NUL has arrived, without waiting for the rest. */
	expect_request_refused(msg, 5 + 12, -EBADMSG, SOCKS5_REP_GENERAL_FAILURE);
	struct socks5_request req;
	assert_int_equal(socks5_parse_request(msg, 5 + 11, &req, NULL), 0);
}

static void test_request_malformed(void **state)
{
	(void)state;
	const uint8_t bad_ver[] = { 0x04, 0x01, 0x00, 0x50, 1, 2, 3, 4, 0x00 };
	expect_request_refused(bad_ver, sizeof(bad_ver), -EBADMSG, SOCKS5_REP_GENERAL_FAILURE);
	const uint8_t bad_rsv[] = { 0x05, 0x01, 0x01, 0x01, 1, 2, 3, 4, 0x00, 0x50 };
	expect_request_refused(bad_rsv, sizeof(bad_rsv), -EBADMSG, SOCKS5_REP_GENERAL_FAILURE);
	const uint8_t empty_name[] = { 0x05, 0x01, 0x00, 0x03, 0x00, 0x00, 0x50 };
	expect_request_refused(empty_name, sizeof(empty_name), -EBADMSG, SOCKS5_REP_GENERAL_FAILURE);
	const uint8_t port0_v4[] = { 0x05, 0x01, 0x00, 0x01, 1, 2, 3, 4, 0x00, 0x00 };
	expect_request_refused(port0_v4, sizeof(port0_v4), -EBADMSG, SOCKS5_REP_GENERAL_FAILURE);
	const uint8_t port0_name[] = { 0x05, 0x01, 0x00, 0x03, 0x01, 'a', 0x00, 0x00 };
	expect_request_refused(port0_name, sizeof(port0_name), -EBADMSG, SOCKS5_REP_GENERAL_FAILURE);
}

static void test_build_method_and_auth(void **state)
{
	(void)state;
	uint8_t out[2];
	assert_int_equal(socks5_build_method(out, sizeof(out), SOCKS5_METHOD_NO_AUTH), 2);
	assert_memory_equal(out, "\x05\x00", 2);
	assert_int_equal(socks5_build_method(out, sizeof(out), SOCKS5_METHOD_NONE_ACCEPTABLE), 2);
	assert_memory_equal(out, "\x05\xff", 2);
	assert_int_equal(socks5_build_method(out, 1, 0), -ENOSPC);
	assert_int_equal(socks5_build_auth_status(out, sizeof(out), SOCKS5_AUTH_SUCCESS), 2);
	assert_memory_equal(out, "\x01\x00", 2);
	assert_int_equal(socks5_build_auth_status(out, sizeof(out), SOCKS5_AUTH_FAILURE), 2);
	assert_memory_equal(out, "\x01\x01", 2);
	assert_int_equal(socks5_build_auth_status(out, 0, 0), -ENOSPC);
	assert_int_equal(socks5_build_method(NULL, 2, 0), -EINVAL);
}

static void test_build_reply(void **state)
{
	(void)state;
	uint8_t out[SOCKS5_REPLY_MAX];
	assert_int_equal(socks5_build_reply(out, sizeof(out), SOCKS5_REP_SUCCEEDED, 0, NULL, 1234), 10);
	assert_memory_equal(out, "\x05\x00\x00\x01\x00\x00\x00\x00\x00\x00", 10);

	assert_int_equal(socks5_build_reply(out, sizeof(out), SOCKS5_REP_NOT_ALLOWED, 0, NULL, 0), 10);
	assert_memory_equal(out, "\x05\x02\x00\x01\x00\x00\x00\x00\x00\x00", 10);

	const uint8_t v4[4] = { 192, 0, 2, 1 };
	assert_int_equal(socks5_build_reply(out, sizeof(out), SOCKS5_REP_SUCCEEDED, SOCKS5_ATYP_IPV4, v4, 0x1234), 10);
	assert_memory_equal(out, "\x05\x00\x00\x01\xc0\x00\x02\x01\x12\x34", 10);

	uint8_t v6[16] = { 0 };
	v6[15] = 1;
	assert_int_equal(socks5_build_reply(out, sizeof(out), SOCKS5_REP_HOST_UNREACHABLE, SOCKS5_ATYP_IPV6, v6, 443), 22);
	assert_memory_equal(out, "\x05\x04\x00\x04\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\x01\x01\xbb", 22);

	assert_int_equal(socks5_build_reply(out, 21, 0, SOCKS5_ATYP_IPV6, v6, 443), -ENOSPC);
	assert_int_equal(socks5_build_reply(out, 9, 0, 0, NULL, 0), -ENOSPC);
	assert_int_equal(socks5_build_reply(out, sizeof(out), 0, SOCKS5_ATYP_DOMAIN, v4, 0), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_greeting_no_auth),
		cmocka_unit_test(test_greeting_prefers_no_auth),
		cmocka_unit_test(test_greeting_no_acceptable),
		cmocka_unit_test(test_greeting_malformed),
		cmocka_unit_test(test_greeting_all_methods),
		cmocka_unit_test(test_auth),
		cmocka_unit_test(test_auth_longest),
		cmocka_unit_test(test_auth_malformed),
		cmocka_unit_test(test_request_ipv4),
		cmocka_unit_test(test_request_ipv6),
		cmocka_unit_test(test_request_domain),
		cmocka_unit_test(test_request_longest_domain),
		cmocka_unit_test(test_request_unsupported_commands),
		cmocka_unit_test(test_request_unknown_atyp),
		cmocka_unit_test(test_request_nul_in_domain),
		cmocka_unit_test(test_request_malformed),
		cmocka_unit_test(test_build_method_and_auth),
		cmocka_unit_test(test_build_reply),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
