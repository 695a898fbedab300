/* Unit tests for the proxy's HTTP request-head parser: targets, framing, smuggling shapes, limits, every split point, drop list, chunk-size lines. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/http_head.h"

static struct http_request req;

/* A complete head must be consumed exactly, the body after it left alone,
 * and every strict prefix must ask for more: fed whole from a fresh parser,
 * and fed one byte at a time to one parser. */
static void parse_ok_n(const char *head, size_t len)
{
	char *buf = malloc(len + 4);
	assert_non_null(buf);
	memcpy(buf, head, len);
	memcpy(buf + len, "BODY", 4);
	for (size_t i = 0; i < len; i++) {
		http_request_init(&req);
		if (http_request_parse(&req, buf, i) != 0)
			fail_msg("prefix %zu of \"%s\" not incomplete", i, head);
	}
	http_request_init(&req);
	for (size_t i = 0; i < len; i++)
		assert_int_equal(http_request_parse(&req, buf, i), 0);
	assert_int_equal(http_request_parse(&req, buf, len + 4), (int)len);

	struct http_request *whole = malloc(sizeof(*whole));
	assert_non_null(whole);
	http_request_init(whole);
	assert_int_equal(http_request_parse(whole, buf, len + 4), (int)len);
	assert_int_equal(whole->nfields, req.nfields);
	assert_string_equal(whole->host.text, req.host.text);
	free(whole);
	free(buf);
}

static void parse_ok(const char *head)
{
	parse_ok_n(head, strlen(head));
}

static void parse_err_n(const char *head, size_t len, int err)
{
	http_request_init(&req);
	int r = http_request_parse(&req, head, len);
	if (r != err)
		fail_msg("\"%s\": %d, expected %d", head, r, err);
	/* Byte by byte the error comes at the latest with the last byte. */
	http_request_init(&req);
	for (size_t i = 1; i <= len; i++) {
		r = http_request_parse(&req, head, i);
		if (r != 0)
			break;
	}
	assert_int_equal(r, err);
}

static void parse_err(const char *head, int err)
{
	parse_err_n(head, strlen(head), err);
}

static const char *g_buf;

static const char *field_value(const char *name)
{
	for (size_t i = 0; i < req.nfields; i++)
		if (http_span_equal(g_buf, req.fields[i].name, name)) {
			static char out[256];
			struct http_span v = req.fields[i].value;
			memcpy(out, g_buf + v.off, v.len);
			out[v.len] = '\0';
			return out;
		}
	return NULL;
}

static void test_absolute_form(void **state)
{
	(void)state;
	const char *h = "GET http://Example.COM/a/b?c=d HTTP/1.1\r\n"
			"Host: example.com\r\n"
			"Accept:   */*  \r\n"
			"X-Empty:\r\n"
			"\r\n";
	g_buf = h;
	parse_ok(h);
	assert_string_equal(req.method, "GET");
	assert_false(req.connect);
	assert_int_equal(req.host.kind, PROXY_HOST_NAME);
	assert_string_equal(req.host.text, "example.com");
	assert_int_equal(req.port, 80);
	assert_int_equal(req.path.len, strlen("/a/b?c=d"));
	assert_memory_equal(h + req.path.off, "/a/b?c=d", req.path.len);
	assert_int_equal(req.version_minor, 1);
	assert_int_equal(req.nfields, 3);
	assert_string_equal(field_value("accept"), "*/*");
	assert_string_equal(field_value("x-empty"), "");
	assert_int_equal(req.framing, HTTP_BODY_NONE);
	assert_true(req.keep_alive);

	h = "HEAD HTTP://127.1:8080 HTTP/1.0\r\n\r\n";
	parse_ok(h);
	assert_int_equal(req.host.kind, PROXY_HOST_IPV4);
	assert_string_equal(req.host.text, "127.0.0.1");
	assert_int_equal(req.port, 8080);
	assert_int_equal(req.path.len, 0);
	assert_false(req.keep_alive);

	h = "GET http://[::1]:81?q HTTP/1.1\r\n\r\n";
	parse_ok(h);
	assert_string_equal(req.host.text, "::1");
	assert_int_equal(req.port, 81);
	assert_memory_equal(h + req.path.off, "?q", 2);

	/* Empty lines before the request line are skipped. */
	parse_ok("\r\n\r\nGET http://a.com/ HTTP/1.1\r\n\r\n");
	assert_string_equal(req.host.text, "a.com");
}

static void test_connect(void **state)
{
	(void)state;
	parse_ok("CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n");
	assert_true(req.connect);
	assert_string_equal(req.host.text, "example.com");
	assert_int_equal(req.port, 443);
	assert_int_equal(req.framing, HTTP_BODY_NONE);
	parse_ok("CONNECT [2001:db8::1]:22 HTTP/1.0\r\nContent-Length: 0\r\n\r\n");
	assert_int_equal(req.host.kind, PROXY_HOST_IPV6);
	assert_int_equal(req.framing, HTTP_BODY_NONE);

	parse_err("CONNECT example.com HTTP/1.1\r\n", -EBADMSG);
	parse_err("CONNECT example.com:0 HTTP/1.1\r\n", -EBADMSG);
	parse_err("CONNECT http://example.com:443/ HTTP/1.1\r\n", -EBADMSG);
	parse_err("CONNECT example.com:443 HTTP/1.1\r\nContent-Length: 5\r\n\r\n", -EBADMSG);
	parse_err("CONNECT example.com:443 HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", -EBADMSG);
	parse_err("connect example.com:443 HTTP/1.1\r\n", -EBADMSG);
	parse_err("GET example.com:443 HTTP/1.1\r\n", -EBADMSG);
}

static void test_bad_request_lines(void **state)
{
	(void)state;
	parse_err("GET /index.html HTTP/1.1\r\n", -EBADMSG);
	parse_err("OPTIONS * HTTP/1.1\r\n", -EBADMSG);
	parse_err("GET https://example.com/ HTTP/1.1\r\n", -EBADMSG);
	parse_err("GET ftp://example.com/ HTTP/1.1\r\n", -EBADMSG);
	parse_err("GET http:// HTTP/1.1\r\n", -EBADMSG);
	parse_err("GET http:///x HTTP/1.1\r\n", -EBADMSG);
	parse_err("GET http://a.com/#frag HTTP/1.1\r\n", -EBADMSG);
	parse_err("GET  http://a.com/ HTTP/1.1\r\n", -EBADMSG);
	parse_err("GET http://a.com/  HTTP/1.1\r\n", -EBADMSG);
	parse_err("GET http://a.com/ HTTP/1.1 \r\n", -EBADMSG);
	parse_err("GET\thttp://a.com/ HTTP/1.1\r\n", -EBADMSG);
	parse_err("GET http://a.com/ http/1.1\r\n", -EBADMSG);
	parse_err("GET http://a.com/ HTTP/1.10\r\n", -EBADMSG);
	parse_err("GET http://a.com/\r\n", -EBADMSG);
	parse_err("GET http://a.com/ HTTP/2.0\r\n", -EPROTONOSUPPORT);
	parse_err("GET http://a.com/ HTTP/0.9\r\n", -EPROTONOSUPPORT);
	parse_err("G(T http://a.com/ HTTP/1.1\r\n", -EBADMSG);
	parse_err("GET http://a.com/\xff HTTP/1.1\r\n", -EBADMSG);
	/* Hostile hosts in the target. */
	parse_err("GET http://allowed.com@evil.com/ HTTP/1.1\r\n", -EBADMSG);
	parse_err("GET http://user:pw@allowed.com/ HTTP/1.1\r\n", -EBADMSG);
	parse_err("GET http://allowed.com\\@evil.com/ HTTP/1.1\r\n", -EBADMSG);
	parse_err("GET http://allowed%2ecom/ HTTP/1.1\r\n", -EBADMSG);
	parse_err("CONNECT allowed.com@evil.com:443 HTTP/1.1\r\n", -EBADMSG);
	parse_err_n("CONNECT allowed.com\0.evil.com:443 HTTP/1.1\r\n",
		    sizeof("CONNECT allowed.com\0.evil.com:443 HTTP/1.1\r\n") - 1, -EBADMSG);
	parse_err("CONNECT allowed.com\r:443 HTTP/1.1\r\n", -EBADMSG);
	parse_err("CONNECT 1.2.3.256:443 HTTP/1.1\r\n", -EBADMSG);
	parse_ok("CONNECT 0x7f.1:443 HTTP/1.1\r\n\r\n");
	assert_int_equal(req.host.kind, PROXY_HOST_IPV4);
	assert_string_equal(req.host.text, "127.0.0.1");
	parse_ok("CONNECT 2130706433:443 HTTP/1.1\r\n\r\n");
	assert_string_equal(req.host.text, "127.0.0.1");
}

static void test_line_endings(void **state)
{
	(void)state;
	parse_err("GET http://a.com/ HTTP/1.1\n", -EBADMSG);
	parse_err("GET http://a.com/ HTTP/1.1\r\nHost: a\n\r\n", -EBADMSG);
	parse_err("GET http://a.com/ HTTP/1.1\r\nHost: a\r\n\n", -EBADMSG);
	parse_err("GET http://a.com/ HTTP/1.1\r\nX: a\rb\r\n", -EBADMSG);
	parse_err("\n", -EBADMSG);
}

static void test_smuggling(void **state)
{
	(void)state;
	const char *p = "POST http://a.com/ HTTP/1.1\r\n";
	char h[512];
#define SMUGGLE(fields, err) do { \
		strcpy(h, p); strcat(h, fields); strcat(h, "\r\n"); \
		parse_err(h, err); \
	} while (0)
	SMUGGLE("Content-Length: 5\r\nTransfer-Encoding: chunked\r\n", -EBADMSG);
	SMUGGLE("Transfer-Encoding: chunked\r\nContent-Length: 5\r\n", -EBADMSG);
	SMUGGLE("Content-Length: 5\r\nContent-Length: 5\r\n", -EBADMSG);
	SMUGGLE("Content-Length: 5\r\nContent-Length: 6\r\n", -EBADMSG);
	SMUGGLE("Content-Length: 5, 5\r\n", -EBADMSG);
	SMUGGLE("Content-Length: +5\r\n", -EBADMSG);
	SMUGGLE("Content-Length: -1\r\n", -EBADMSG);
	SMUGGLE("Content-Length: 0x10\r\n", -EBADMSG);
	SMUGGLE("Content-Length: 5 5\r\n", -EBADMSG);
	SMUGGLE("Content-Length:\r\n", -EBADMSG);
	SMUGGLE("Content-Length: 18446744073709551616\r\n", -EBADMSG);
	SMUGGLE("Content-Length : 5\r\n", -EBADMSG);
	SMUGGLE("Transfer-Encoding : chunked\r\n", -EBADMSG);
	SMUGGLE("Transfer-Encoding\t: chunked\r\n", -EBADMSG);
	SMUGGLE("Transfer-Encoding: identity\r\n", -EBADMSG);
	SMUGGLE("Transfer-Encoding: chunked, identity\r\n", -EBADMSG);
	SMUGGLE("Transfer-Encoding: gzip, chunked\r\n", -EBADMSG);
	SMUGGLE("Transfer-Encoding: xchunked\r\n", -EBADMSG);
	SMUGGLE("Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n", -EBADMSG);
	SMUGGLE("Transfer-Encoding: chunked\x0b\r\n", -EBADMSG);
	SMUGGLE("X: 1\r\nTransfer-Encoding:\r\n chunked\r\n", -EBADMSG);
	SMUGGLE("X: 1\r\n\tfolded\r\n", -EBADMSG);
	SMUGGLE(" Host: a.com\r\n", -EBADMSG);
	SMUGGLE("Host: a.com\r\nHost: b.com\r\n", -EBADMSG);
	SMUGGLE("X: a\x01" "b\r\n", -EBADMSG);
	SMUGGLE("X: a\x7f\r\n", -EBADMSG);
	SMUGGLE("No-Colon\r\n", -EBADMSG);
	SMUGGLE(": empty-name\r\n", -EBADMSG);
	SMUGGLE("X\"y: 1\r\n", -EBADMSG);
	parse_err_n("POST http://a.com/ HTTP/1.1\r\nX: a\0b\r\n\r\n",
		    sizeof("POST http://a.com/ HTTP/1.1\r\nX: a\0b\r\n\r\n") - 1, -EBADMSG);
#undef SMUGGLE
	parse_err("POST http://a.com/ HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", -EBADMSG);

	parse_ok("POST http://a.com/ HTTP/1.1\r\nContent-Length: 007\r\n\r\n");
	assert_int_equal(req.framing, HTTP_BODY_LENGTH);
	assert_int_equal(req.content_length, 7);
	parse_ok("POST http://a.com/ HTTP/1.1\r\ncontent-length:\t18446744073709551615 \r\n\r\n");
	assert_int_equal(req.content_length, UINT64_MAX);
	parse_ok("POST http://a.com/ HTTP/1.1\r\nTransfer-Encoding: Chunked\r\n\r\n");
	assert_int_equal(req.framing, HTTP_BODY_CHUNKED);
	parse_ok("POST http://a.com/ HTTP/1.1\r\nX: caf\xc3\xa9\r\n\r\n");
}

static void test_keep_alive(void **state)
{
	(void)state;
	parse_ok("GET http://a.com/ HTTP/1.1\r\nConnection: Upgrade, CLOSE\r\n\r\n");
	assert_false(req.keep_alive);
	parse_ok("GET http://a.com/ HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
	assert_true(req.keep_alive);
	parse_ok("GET http://a.com/ HTTP/1.0\r\n\r\n");
	assert_false(req.keep_alive);
}

static void test_limits(void **state)
{
	(void)state;
	size_t cap = HTTP_HEAD_MAX + 2 * HTTP_REQUEST_LINE_MAX;
	char *h = malloc(cap);
	assert_non_null(h);

	/* 100 fields accepted, 101 refused with 431. */
	size_t n = (size_t)sprintf(h, "GET http://a.com/ HTTP/1.1\r\n");
	for (int i = 0; i < HTTP_FIELDS_MAX; i++)
		n += (size_t)sprintf(h + n, "X-%d: v\r\n", i);
	strcpy(h + n, "\r\n");
	parse_ok_n(h, n + 2);
	assert_int_equal(req.nfields, HTTP_FIELDS_MAX);
	strcpy(h + n, "X-last: v\r\n\r\n");
	parse_err(h, -E2BIG);
	assert_int_equal(http_error_status(-E2BIG), 431);

	/* A head over 64 KiB: 431, noticed before its end arrives. */
	n = (size_t)sprintf(h, "GET http://a.com/ HTTP/1.1\r\n");
	while (n < HTTP_HEAD_MAX + 100) {
		n += (size_t)sprintf(h + n, "X: ");
		memset(h + n, 'v', 8000);
		n += 8000;
		n += (size_t)sprintf(h + n, "\r\n");
	}
	http_request_init(&req);
	assert_int_equal(http_request_parse(&req, h, n), -E2BIG);
	http_request_init(&req);
	assert_int_equal(http_request_parse(&req, h, HTTP_HEAD_MAX + 1), -E2BIG);

	/* An over-long field line, still incomplete. */
	n = (size_t)sprintf(h, "GET http://a.com/ HTTP/1.1\r\nX: ");
	memset(h + n, 'v', HTTP_FIELD_LINE_MAX);
	http_request_init(&req);
	assert_int_equal(http_request_parse(&req, h, n + HTTP_FIELD_LINE_MAX), -E2BIG);

	/* An over-long request line: 414. */
	n = (size_t)sprintf(h, "GET http://a.com/");
	memset(h + n, 'p', HTTP_REQUEST_LINE_MAX);
	http_request_init(&req);
	assert_int_equal(http_request_parse(&req, h, n + HTTP_REQUEST_LINE_MAX), -ENAMETOOLONG);
	assert_int_equal(http_error_status(-ENAMETOOLONG), 414);

	/* Empty lines alone still count. */
	for (size_t i = 0; i + 1 < cap; i += 2)
		memcpy(h + i, "\r\n", 2);
	http_request_init(&req);
	assert_int_equal(http_request_parse(&req, h, HTTP_HEAD_MAX + 2), -E2BIG);

	/* A method longer than 32 characters. */
	memset(h, 'M', 33);
	strcpy(h + 33, " http://a.com/ HTTP/1.1\r\n");
	parse_err(h, -EBADMSG);
	assert_int_equal(http_error_status(-EBADMSG), 400);
	assert_int_equal(http_error_status(-EPROTONOSUPPORT), 505);
	free(h);
}

static void test_incremental_misuse(void **state)
{
	(void)state;
	const char *h = "GET http://a.com/ HTTP/1.1\r\nX: 1\r\n";
	http_request_init(&req);
	assert_int_equal(http_request_parse(&req, h, strlen(h)), 0);
	assert_int_equal(http_request_parse(&req, h, 5), -EINVAL);
}

static bool dropped(const char *head, const bool *drop, const char *name)
{
	for (size_t i = 0; i < req.nfields; i++)
		if (http_span_equal(head, req.fields[i].name, name))
			return drop[i];
	fail_msg("no field %s", name);
	return false;
}

static void test_drop(void **state)
{
	(void)state;
	const char *h = "POST http://a.com/ HTTP/1.1\r\n"
			"Host: a.com\r\n"
			"Connection: keep-alive, X-Secret, content-length, ,\r\n"
			"Keep-Alive: timeout=5\r\n"
			"Proxy-Connection: keep-alive\r\n"
			"Proxy-Authorization: Basic eDp5\r\n"
			"Proxy-Anything: 1\r\n"
			"TE: trailers\r\n"
			"Trailer: X-T\r\n"
			"Upgrade: websocket\r\n"
			"x-secret: 1\r\n"
			"Content-Length: 3\r\n"
			"Accept: */*\r\n"
			"User-Agent: t\r\n"
			"\r\n";
	parse_ok(h);
	bool drop[HTTP_FIELDS_MAX];
	size_t n = http_fields_to_drop(&req, h, false, drop);
	assert_int_equal(n, 10);
	const char *gone[] = { "host", "connection", "keep-alive", "proxy-connection", "proxy-authorization",
			       "proxy-anything", "te", "trailer", "upgrade", "x-secret" };
	for (size_t i = 0; i < sizeof(gone) / sizeof(gone[0]); i++)
		assert_true(dropped(h, drop, gone[i]));
	/* Named in Connection, but dropping it would make the upstream read
	 * the body as the next request. */
	assert_false(dropped(h, drop, "content-length"));
	assert_false(dropped(h, drop, "accept"));
	assert_false(dropped(h, drop, "user-agent"));

	n = http_fields_to_drop(&req, h, true, drop);
	assert_int_equal(n, 11);
	assert_true(dropped(h, drop, "content-length"));

	h = "POST http://a.com/ HTTP/1.1\r\nTransfer-Encoding: chunked\r\nConnection: transfer-encoding\r\n\r\n";
	parse_ok(h);
	http_fields_to_drop(&req, h, false, drop);
	assert_false(dropped(h, drop, "transfer-encoding"));
	http_fields_to_drop(&req, h, true, drop);
	assert_true(dropped(h, drop, "transfer-encoding"));
}

static void chunk_ok(const char *line, uint64_t size)
{
	size_t len = strlen(line);
	uint64_t got = 1234;
	for (size_t i = 0; i < len; i++) {
		if (http_chunk_size_parse(line, i, UINT64_MAX, &got) != 0)
			fail_msg("prefix %zu of \"%s\" not incomplete", i, line);
		assert_int_equal(got, 1234);
	}
	char buf[256];
	memcpy(buf, line, len);
	memcpy(buf + len, "data", 4);
	assert_int_equal(http_chunk_size_parse(buf, len + 4, UINT64_MAX, &got), (int)len);
	assert_int_equal(got, size);
}

static void chunk_err(const char *line, uint64_t max, int err)
{
	uint64_t got = 1234;
	assert_int_equal(http_chunk_size_parse(line, strlen(line), max, &got), err);
	assert_int_equal(got, 1234);
}

static void test_chunk_size(void **state)
{
	(void)state;
	chunk_ok("0\r\n", 0);
	chunk_ok("1a\r\n", 26);
	chunk_ok("FFFF\r\n", 65535);
	chunk_ok("000000000000000000000010\r\n", 16);
	chunk_ok("ffffffffffffffff\r\n", UINT64_MAX);
	chunk_ok("5;name\r\n", 5);
	chunk_ok("5 ; name = value ;x=\"q\\\"uo;ted\"\r\n", 5);
	chunk_err("5;x=y\t\r\n", UINT64_MAX, -EBADMSG);
	chunk_err("5;x \r\n", UINT64_MAX, -EBADMSG);
	chunk_ok("5;a;b;c=d\r\n", 5);

	chunk_err("\r\n", UINT64_MAX, -EBADMSG);
	chunk_err("g\r\n", UINT64_MAX, -EBADMSG);
	chunk_err("-1\r\n", UINT64_MAX, -EBADMSG);
	chunk_err("0x10\r\n", UINT64_MAX, -EBADMSG);
	chunk_err("10000000000000000\r\n", UINT64_MAX, -EBADMSG);
	chunk_err("101\r\n", 0x100, -EBADMSG);
	chunk_err("5\n", UINT64_MAX, -EBADMSG);
	chunk_err("5\rx", UINT64_MAX, -EBADMSG);
	chunk_err("5 \r\n", UINT64_MAX, -EBADMSG);
	chunk_err("5;\r\n", UINT64_MAX, -EBADMSG);
	chunk_err("5;a=\r\n", UINT64_MAX, -EBADMSG);
	chunk_err("5;a\n", UINT64_MAX, -EBADMSG);
	chunk_err("5;a=\"x\ny\"\r\n", UINT64_MAX, -EBADMSG);
	chunk_err("5;a=\"x\x01\"\r\n", UINT64_MAX, -EBADMSG);
	chunk_err("5;a=b c\r\n", UINT64_MAX, -EBADMSG);

	static char big[HTTP_CHUNK_LINE_MAX + 8];
	memset(big, '0', sizeof(big));
	uint64_t got;
	assert_int_equal(http_chunk_size_parse(big, HTTP_CHUNK_LINE_MAX - 1, UINT64_MAX, &got), 0);
	assert_int_equal(http_chunk_size_parse(big, HTTP_CHUNK_LINE_MAX, UINT64_MAX, &got), -E2BIG);
	memcpy(big + HTTP_CHUNK_LINE_MAX - 1, "\r\n", 2);
	assert_int_equal(http_chunk_size_parse(big, HTTP_CHUNK_LINE_MAX + 1, UINT64_MAX, &got), -E2BIG);
	memcpy(big + HTTP_CHUNK_LINE_MAX - 2, "\r\n", 2);
	assert_int_equal(http_chunk_size_parse(big, HTTP_CHUNK_LINE_MAX, UINT64_MAX, &got), HTTP_CHUNK_LINE_MAX);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_absolute_form),
		cmocka_unit_test(test_connect),
		cmocka_unit_test(test_bad_request_lines),
		cmocka_unit_test(test_line_endings),
		cmocka_unit_test(test_smuggling),
		cmocka_unit_test(test_keep_alive),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_incremental_misuse),
		cmocka_unit_test(test_drop),
		cmocka_unit_test(test_chunk_size),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
