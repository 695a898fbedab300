/* Unit tests for the proxy's HTTP head parsers: request targets, framing, smuggling shapes, limits, every split point, drop lists, chunk-size lines; response status lines, framing and keep-alive, 1xx, HEAD; trailer sections. */
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

/* cmocka's assertions do not tell GCC that they stop the test, so after
 * malloc and assert_non_null its -O2 flow analysis still sees a NULL
 * buffer (-Warray-bounds, -Wformat-overflow under -Werror). */
static void *xmalloc(size_t n)
{
	void *p = malloc(n);
	if (!p)
		abort();
	return p;
}

static struct http_request req;
static struct http_response resp;

/* The parser the helpers drive. The trailer parser keeps no state, so
 * "fresh" means nothing to it. */
enum parser { REQUEST, RESPONSE, RESPONSE_TO_HEAD, TRAILER };

static int feed(enum parser p, bool fresh, const char *buf, size_t len)
{
	switch (p) {
	case REQUEST:
		if (fresh)
			http_request_init(&req);
		return http_request_parse(&req, buf, len);
	case RESPONSE:
	case RESPONSE_TO_HEAD:
		if (fresh)
			http_response_init(&resp);
		return http_response_parse(&resp, buf, len, p == RESPONSE_TO_HEAD);
	case TRAILER:
		break;
	}
	return http_trailer_parse(buf, len);
}

/* A complete head must be consumed exactly, the body after it left alone,
 * and every strict prefix must ask for more: fed whole from a fresh parser,
 * and fed one byte at a time to one parser; both must read the same. */
static void feed_ok(enum parser p, const char *head, size_t len)
{
	char *buf = xmalloc(len + 4);
	memcpy(buf, head, len);
	memcpy(buf + len, "BODY", 4);
	for (size_t i = 0; i < len; i++)
		if (feed(p, true, buf, i) != 0)
			fail_msg("prefix %zu of \"%s\" not incomplete", i, head);
	feed(p, true, buf, 0);
	for (size_t i = 0; i < len; i++)
		assert_int_equal(feed(p, false, buf, i), 0);
	assert_int_equal(feed(p, false, buf, len + 4), (int)len);

	struct http_request *req1 = xmalloc(sizeof(*req1));
	struct http_response *resp1 = xmalloc(sizeof(*resp1));
	*req1 = req;
	*resp1 = resp;
	assert_int_equal(feed(p, true, buf, len + 4), (int)len);
	assert_int_equal(req1->nfields, req.nfields);
	assert_string_equal(req1->host.text, req.host.text);
	assert_int_equal(resp1->nfields, resp.nfields);
	assert_int_equal(resp1->status, resp.status);
	assert_int_equal(resp1->framing, resp.framing);
	assert_int_equal(resp1->content_length, resp.content_length);
	assert_int_equal(resp1->keep_alive, resp.keep_alive);
	free(resp1);
	free(req1);
	free(buf);
}

static void feed_err(enum parser p, const char *head, size_t len, int err)
{
	int r = feed(p, true, head, len);
	if (r != err)
		fail_msg("\"%s\": %d, expected %d", head, r, err);
	/* Byte by byte the error comes at the latest with the last byte. */
	feed(p, true, head, 0);
	for (size_t i = 1; i <= len; i++) {
		r = feed(p, false, head, i);
		if (r != 0)
			break;
	}
	assert_int_equal(r, err);
}

static void parse_ok_n(const char *head, size_t len)
{
	feed_ok(REQUEST, head, len);
}

static void parse_ok(const char *head)
{
	feed_ok(REQUEST, head, strlen(head));
}

static void parse_err_n(const char *head, size_t len, int err)
{
	feed_err(REQUEST, head, len, err);
}

static void parse_err(const char *head, int err)
{
	feed_err(REQUEST, head, strlen(head), err);
}

static void resp_ok(const char *head)
{
	feed_ok(RESPONSE, head, strlen(head));
}

static void resp_err(const char *head, int err)
{
	feed_err(RESPONSE, head, strlen(head), err);
}

static const char *g_buf;

static const char *value_in(const struct http_field *fields, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (http_span_equal(g_buf, fields[i].name, name)) {
			static char out[256];
			struct http_span v = fields[i].value;
			memcpy(out, g_buf + v.off, v.len);
			out[v.len] = '\0';
			return out;
		}
	return NULL;
}

static const char *field_value(const char *name)
{
	return value_in(req.fields, req.nfields, name);
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

/* start + fields + the final CRLF must be refused as malformed. */
static void refuse_after(enum parser p, const char *start, const char *fields)
{
	char h[512];
	int n = snprintf(h, sizeof(h), "%s%s\r\n", start, fields);
	assert_true(n > 0 && (size_t)n < sizeof(h));
	feed_err(p, h, (size_t)n, -EBADMSG);
}

static const char req_line[] = "POST http://a.com/ HTTP/1.1\r\n";
static const char status_line[] = "HTTP/1.1 200 OK\r\n";

/* Field lines that no head parser reads: not CRLF, folded, a bad name or
 * value. Refused after a request line, a status line, and as trailers. */
static const char *const bad_lines[] = {
	"X: a\n",
	"X: a\rb\r\n",
	"X: a\r\n\n",
	"X: 1\r\n\tfolded\r\n",
	"X: 1\r\n folded\r\n",
	"X: 1\r\nTransfer-Encoding:\r\n chunked\r\n",
	" Host: a.com\r\n",
	"Content-Length : 5\r\n",
	"Transfer-Encoding : chunked\r\n",
	"Transfer-Encoding\t: chunked\r\n",
	"X: a\x01" "b\r\n",
	"X: a\x7f\r\n",
	"Transfer-Encoding: chunked\x0b\r\n",
	"No-Colon\r\n",
	": empty-name\r\n",
	"X\"y: 1\r\n",
};

/* Framing that two readers could take two ways: refused in requests and
 * in responses, whatever the status or the request method. */
static const char *const bad_framing[] = {
	"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n",
	"Transfer-Encoding: chunked\r\nContent-Length: 5\r\n",
	"Content-Length: 5\r\nContent-Length: 6\r\n",
	"Content-Length: 5, 6\r\n",
	"Content-Length: +5\r\n",
	"Content-Length: -1\r\n",
	"Content-Length: 0x10\r\n",
	"Content-Length: 5 5\r\n",
	"Content-Length:\r\n",
	"Content-Length: ,\r\n",
	"Content-Length: 18446744073709551616\r\n",
	"Transfer-Encoding:\r\n",
	"Transfer-Encoding: chunked, chunked\r\n",
	"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n",
	"Transfer-Encoding: chunked;x=1\r\n",
	"Transfer-Encoding: gzip;q=\"a,chunked\"\r\n",
};

/* What only requests refuse: repeats, other codings. */
static const char *const bad_request_framing[] = {
	"Content-Length: 5\r\nContent-Length: 5\r\n",
	"Content-Length: 5, 5\r\n",
	"Transfer-Encoding: identity\r\n",
	"Transfer-Encoding: chunked, identity\r\n",
	"Transfer-Encoding: gzip, chunked\r\n",
	"Transfer-Encoding: xchunked\r\n",
	"Host: a.com\r\nHost: b.com\r\n",
};

/* What only responses refuse: codings a list split could misread. */
static const char *const bad_response_framing[] = {
	"Content-Length: 5\r\nContent-Length: 5, 6\r\n",
	"Transfer-Encoding: gzip\r\nContent-Length: 5\r\n",
	"Transfer-Encoding: , \r\n",
	"Transfer-Encoding: chunked ;x=1\r\n",
	"Transfer-Encoding: gzip;q=\"a\", chunked\r\n",
	"Transfer-Encoding: gz ip, chunked\r\n",
	"Transfer-Encoding: \"chunked\"\r\n",
};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static void test_refused_everywhere(void **state)
{
	(void)state;
	for (size_t i = 0; i < COUNT(bad_lines); i++) {
		refuse_after(REQUEST, req_line, bad_lines[i]);
		refuse_after(RESPONSE, status_line, bad_lines[i]);
		refuse_after(TRAILER, "", bad_lines[i]);
	}
	for (size_t i = 0; i < COUNT(bad_framing); i++) {
		refuse_after(REQUEST, req_line, bad_framing[i]);
		refuse_after(RESPONSE, status_line, bad_framing[i]);
		refuse_after(RESPONSE_TO_HEAD, status_line, bad_framing[i]);
		refuse_after(RESPONSE, "HTTP/1.1 304 Not Modified\r\n", bad_framing[i]);
	}
	for (size_t i = 0; i < COUNT(bad_request_framing); i++)
		refuse_after(REQUEST, req_line, bad_request_framing[i]);
	for (size_t i = 0; i < COUNT(bad_response_framing); i++)
		refuse_after(RESPONSE, status_line, bad_response_framing[i]);
}

static void test_smuggling(void **state)
{
	(void)state;
	parse_err_n("POST http://a.com/ HTTP/1.1\r\nX: a\0b\r\n\r\n",
		    sizeof("POST http://a.com/ HTTP/1.1\r\nX: a\0b\r\n\r\n") - 1, -EBADMSG);
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
	char *h = xmalloc(cap);

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

static bool dropped_in(const struct http_field *fields, size_t n, const char *head, const bool *drop,
		       const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (http_span_equal(head, fields[i].name, name))
			return drop[i];
	fail_msg("no field %s", name);
	return false;
}

static bool dropped(const char *head, const bool *drop, const char *name)
{
	return dropped_in(req.fields, req.nfields, head, drop, name);
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

static void resp_framing(const char *head, enum http_resp_framing framing, uint64_t length, bool keep)
{
	resp_ok(head);
	assert_int_equal(resp.framing, framing);
	assert_int_equal(resp.content_length, length);
	assert_int_equal(resp.keep_alive, keep);
}

static void test_response_status_line(void **state)
{
	(void)state;
	const char *h = "HTTP/1.1 200 OK\r\n"
			"Content-Type: text/plain\r\n"
			"Content-Length:  5 \r\n"
			"X-Empty:\r\n"
			"\r\n";
	g_buf = h;
	resp_ok(h);
	assert_int_equal(resp.status, 200);
	assert_int_equal(resp.version_minor, 1);
	assert_int_equal(resp.nfields, 3);
	assert_int_equal(resp.head_len, strlen(h));
	assert_string_equal(value_in(resp.fields, resp.nfields, "content-length"), "5");
	assert_string_equal(value_in(resp.fields, resp.nfields, "x-empty"), "");

	/* Without SP and reason (servers send it), with an empty reason, with
	 * HTAB, SP and obs-text in the reason. */
	resp_ok("HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n");
	assert_int_equal(resp.status, 200);
	resp_ok("HTTP/1.0 404 \r\n\r\n");
	assert_int_equal(resp.status, 404);
	assert_int_equal(resp.version_minor, 0);
	resp_ok("HTTP/1.1 599 Tr\xc3\xa8s \t loin\r\n\r\n");
	assert_int_equal(resp.status, 599);
	resp_ok("HTTP/1.1 100 Continue\r\n\r\n");
	assert_int_equal(resp.status, 100);

	resp_err("HTTP/1.1 101 Switching Protocols\r\n", -EBADMSG);
	resp_err("HTTP/1.1 099 Low\r\n", -EBADMSG);
	resp_err("HTTP/1.1 000 Zero\r\n", -EBADMSG);
	resp_err("HTTP/1.1 600 High\r\n", -EBADMSG);
	resp_err("HTTP/1.1 20 OK\r\n", -EBADMSG);
	resp_err("HTTP/1.1 2000 OK\r\n", -EBADMSG);
	resp_err("HTTP/1.1 200OK\r\n", -EBADMSG);
	resp_err("HTTP/1.1 2x0 OK\r\n", -EBADMSG);
	resp_err("HTTP/1.1 -20 OK\r\n", -EBADMSG);
	resp_err("HTTP/1.1  200 OK\r\n", -EBADMSG);
	resp_err("HTTP/1.1\t200 OK\r\n", -EBADMSG);
	resp_err("HTTP/1.1 200\tOK\r\n", -EBADMSG);
	resp_err("HTTP/1.1\r\n", -EBADMSG);
	resp_err("HTTP/1.1 \r\n", -EBADMSG);
	resp_err(" HTTP/1.1 200 OK\r\n", -EBADMSG);
	resp_err("http/1.1 200 OK\r\n", -EBADMSG);
	resp_err("HTTP/1.10 200 OK\r\n", -EBADMSG);
	resp_err("HTTP/2 200\r\n", -EBADMSG);
	resp_err("HTTP/1.1 200 O\x01K\r\n", -EBADMSG);
	resp_err("HTTP/1.1 200 OK\x7f\r\n", -EBADMSG);
	feed_err(RESPONSE, "HTTP/1.1 200 O\0K\r\n", sizeof("HTTP/1.1 200 O\0K\r\n") - 1, -EBADMSG);
	/* No empty lines before the status line, unlike requests. */
	resp_err("\r\nHTTP/1.1 200 OK\r\n", -EBADMSG);
	resp_err("GET http://a.com/ HTTP/1.1\r\n", -EBADMSG);

	resp_err("HTTP/2.0 200 OK\r\n", -EPROTONOSUPPORT);
	resp_err("HTTP/1.2 200 OK\r\n", -EPROTONOSUPPORT);
	resp_err("HTTP/0.9 200 OK\r\n", -EPROTONOSUPPORT);
}

static void test_response_framing(void **state)
{
	(void)state;
	resp_framing("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", HTTP_RESP_LENGTH, 5, true);
	resp_framing("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", HTTP_RESP_LENGTH, 0, true);
	resp_framing("HTTP/1.1 500 Oops\r\ncontent-length:\t18446744073709551615 \r\n\r\n", HTTP_RESP_LENGTH,
		     UINT64_MAX, true);
	/* The same length repeated reads as that length. */
	resp_framing("HTTP/1.1 200 OK\r\nContent-Length: 7\r\nContent-Length: 007\r\n\r\n", HTTP_RESP_LENGTH, 7,
		     true);
	resp_framing("HTTP/1.1 200 OK\r\nContent-Length: 7, 7,7\r\n\r\n", HTTP_RESP_LENGTH, 7, true);

	resp_framing("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", HTTP_RESP_CHUNKED, 0, true);
	resp_framing("HTTP/1.1 200 OK\r\nTransfer-Encoding: CHUNKED\r\n\r\n", HTTP_RESP_CHUNKED, 0, true);
	resp_framing("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", HTTP_RESP_CHUNKED, 0, true);
	resp_framing("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n",
		     HTTP_RESP_CHUNKED, 0, true);
	resp_framing("HTTP/1.1 200 OK\r\nTransfer-Encoding: x-new ; a=b;c, ,chunked\r\n\r\n", HTTP_RESP_CHUNKED, 0,
		     true);
	/* The last coding is not chunked: only the close ends the body. */
	resp_framing("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", HTTP_RESP_CLOSE, 0, false);
	resp_framing("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", HTTP_RESP_CLOSE, 0, false);
	resp_framing("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: br\r\n\r\n",
		     HTTP_RESP_CLOSE, 0, false);
	resp_framing("HTTP/1.1 200 OK\r\nTransfer-Encoding: identity\r\n\r\n", HTTP_RESP_CLOSE, 0, false);

	/* Neither field: delimited by close, whatever the version. */
	resp_framing("HTTP/1.1 200 OK\r\n\r\n", HTTP_RESP_CLOSE, 0, false);
	resp_framing("HTTP/1.0 200 OK\r\n\r\n", HTTP_RESP_CLOSE, 0, false);
	resp_framing("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\n\r\n", HTTP_RESP_CLOSE, 0, false);
	resp_framing("HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\n", HTTP_RESP_LENGTH, 3, false);

	/* No body whatever the fields say. */
	resp_framing("HTTP/1.1 204 No Content\r\nContent-Length: 10\r\n\r\n", HTTP_RESP_NONE, 0, true);
	resp_framing("HTTP/1.1 204 No Content\r\n\r\n", HTTP_RESP_NONE, 0, true);
	resp_framing("HTTP/1.1 304 Not Modified\r\nContent-Length: 1234\r\n\r\n", HTTP_RESP_NONE, 0, true);
	resp_framing("HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n", HTTP_RESP_NONE, 0, true);
	resp_framing("HTTP/1.0 304 Not Modified\r\n\r\n", HTTP_RESP_NONE, 0, false);
	resp_framing("HTTP/1.1 205 Reset Content\r\nContent-Length: 0\r\n\r\n", HTTP_RESP_LENGTH, 0, true);

	/* Still checked where there is no body. */
	resp_err("HTTP/1.1 304 Not Modified\r\nContent-Length: x\r\n\r\n", -EBADMSG);
	resp_err("HTTP/1.1 204 No Content\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n", -EBADMSG);
}

static void test_response_head_and_interim(void **state)
{
	(void)state;
	const char *heads[] = {
		"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
		"HTTP/1.1 200 OK\r\n\r\n",
		"HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\n\r\n",
	};
	for (size_t i = 0; i < sizeof(heads) / sizeof(heads[0]); i++) {
		feed_ok(RESPONSE_TO_HEAD, heads[i], strlen(heads[i]));
		assert_int_equal(resp.framing, HTTP_RESP_NONE);
		assert_int_equal(resp.content_length, 0);
		assert_true(resp.keep_alive);
	}
	feed_ok(RESPONSE_TO_HEAD, "HTTP/1.0 200 OK\r\nContent-Length: 5\r\n\r\n",
		strlen("HTTP/1.0 200 OK\r\nContent-Length: 5\r\n\r\n"));
	assert_int_equal(resp.framing, HTTP_RESP_NONE);
	assert_false(resp.keep_alive);
	feed_err(RESPONSE_TO_HEAD, "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
		 strlen("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n"), -EBADMSG);

	/* Interim responses are whole heads without a body; the final one
	 * follows them on the same connection. */
	resp_framing("HTTP/1.1 100 Continue\r\n\r\n", HTTP_RESP_NONE, 0, true);
	resp_framing("HTTP/1.1 102 Processing\r\nContent-Length: 5\r\n\r\n", HTTP_RESP_NONE, 0, true);
	resp_framing("HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n\r\n", HTTP_RESP_NONE, 0, true);

	const char *seq = "HTTP/1.1 100 Continue\r\n\r\n"
			  "HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"
			  "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi";
	size_t off = 0;
	int statuses[] = { 100, 103, 200 };
	for (size_t i = 0; i < 3; i++) {
		http_response_init(&resp);
		int n = http_response_parse(&resp, seq + off, strlen(seq) - off, false);
		assert_true(n > 0);
		assert_int_equal(resp.status, statuses[i]);
		off += (size_t)n;
	}
	assert_int_equal(resp.framing, HTTP_RESP_LENGTH);
	assert_string_equal(seq + off, "hi");
}

static void test_response_refusals(void **state)
{
	(void)state;
	/* Beyond the tables of test_refused_everywhere. */
	resp_err("HTTP/1.1 200 OK\n", -EBADMSG);
	resp_err("HTTP/1.1 200 O\rK\r\n", -EBADMSG);
	refuse_after(RESPONSE, status_line, "X : 1\r\n");
	refuse_after(RESPONSE, status_line, "X(: 1\r\n");
	feed_err(RESPONSE, "HTTP/1.1 200 OK\r\nX: a\0b\r\n\r\n", sizeof("HTTP/1.1 200 OK\r\nX: a\0b\r\n\r\n") - 1,
		 -EBADMSG);
	resp_err("HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n", -EBADMSG);
	resp_err("HTTP/1.0 304 Not Modified\r\nTransfer-Encoding: chunked\r\n", -EBADMSG);

	/* Limits, as for requests. */
	size_t cap = HTTP_HEAD_MAX + 2 * HTTP_FIELD_LINE_MAX;
	char *b = xmalloc(cap);
	size_t n = (size_t)sprintf(b, "HTTP/1.1 200 OK\r\n");
	for (int i = 0; i < HTTP_FIELDS_MAX; i++)
		n += (size_t)sprintf(b + n, "X-%d: v\r\n", i);
	strcpy(b + n, "\r\n");
	feed_ok(RESPONSE, b, n + 2);
	assert_int_equal(resp.nfields, HTTP_FIELDS_MAX);
	strcpy(b + n, "X-last: v\r\n\r\n");
	resp_err(b, -E2BIG);

	n = (size_t)sprintf(b, "HTTP/1.1 200 ");
	memset(b + n, 'r', HTTP_FIELD_LINE_MAX);
	http_response_init(&resp);
	assert_int_equal(http_response_parse(&resp, b, HTTP_FIELD_LINE_MAX, false), 0);
	assert_int_equal(http_response_parse(&resp, b, HTTP_FIELD_LINE_MAX + 1, false), -E2BIG);

	n = (size_t)sprintf(b, "HTTP/1.1 200 OK\r\nX: ");
	memset(b + n, 'v', HTTP_FIELD_LINE_MAX);
	http_response_init(&resp);
	assert_int_equal(http_response_parse(&resp, b, n + HTTP_FIELD_LINE_MAX, false), -E2BIG);

	n = (size_t)sprintf(b, "HTTP/1.1 200 OK\r\n");
	while (n < HTTP_HEAD_MAX + 100) {
		n += (size_t)sprintf(b + n, "X: ");
		memset(b + n, 'v', 8000);
		n += 8000;
		n += (size_t)sprintf(b + n, "\r\n");
	}
	http_response_init(&resp);
	assert_int_equal(http_response_parse(&resp, b, HTTP_HEAD_MAX, false), 0);
	assert_int_equal(http_response_parse(&resp, b, HTTP_HEAD_MAX + 1, false), -E2BIG);
	free(b);

	/* The buffer may only grow between calls. */
	const char *g = "HTTP/1.1 200 OK\r\nX: 1\r\n";
	http_response_init(&resp);
	assert_int_equal(http_response_parse(&resp, g, strlen(g), false), 0);
	assert_int_equal(http_response_parse(&resp, g, 5, false), -EINVAL);
}

static void test_response_keep_alive(void **state)
{
	(void)state;
	resp_framing("HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n", HTTP_RESP_LENGTH, 1, true);
	resp_framing("HTTP/1.1 200 OK\r\nConnection: Close\r\nContent-Length: 1\r\n\r\n", HTTP_RESP_LENGTH, 1,
		     false);
	resp_framing("HTTP/1.1 200 OK\r\nConnection: x, close\r\nConnection: keep-alive\r\nContent-Length: 1\r\n\r\n",
		     HTTP_RESP_LENGTH, 1, false);
	resp_framing("HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\n", HTTP_RESP_LENGTH, 1, false);
	resp_framing("HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 1\r\n\r\n", HTTP_RESP_LENGTH, 1,
		     true);
	resp_framing("HTTP/1.0 204 No Content\r\nConnection: keep-alive\r\n\r\n", HTTP_RESP_NONE, 0, true);
	resp_framing("HTTP/1.1 200 OK\r\nConnection: keep-alive\r\nTransfer-Encoding: gzip\r\n\r\n",
		     HTTP_RESP_CLOSE, 0, false);
}

static void test_response_drop(void **state)
{
	(void)state;
	const char *h = "HTTP/1.1 200 OK\r\n"
			"Connection: keep-alive, X-Hop, content-length\r\n"
			"Keep-Alive: timeout=5\r\n"
			"Proxy-Connection: keep-alive\r\n"
			"Proxy-Authenticate: Basic\r\n"
			"TE: trailers\r\n"
			"Trailer: X-T\r\n"
			"Upgrade: h2c\r\n"
			"x-hop: 1\r\n"
			"Content-Length: 3\r\n"
			"Host: a.com\r\n"
			"Set-Cookie: a=b\r\n"
			"\r\n";
	resp_ok(h);
	bool drop[HTTP_FIELDS_MAX];
	assert_int_equal(http_response_fields_to_drop(&resp, h, drop), 8);
	const char *gone[] = { "connection", "keep-alive", "proxy-connection", "proxy-authenticate",
			       "te", "trailer", "upgrade", "x-hop" };
	for (size_t i = 0; i < sizeof(gone) / sizeof(gone[0]); i++)
		assert_true(dropped_in(resp.fields, resp.nfields, h, drop, gone[i]));
	/* The client reads the body as the server framed it. */
	assert_false(dropped_in(resp.fields, resp.nfields, h, drop, "content-length"));
	assert_false(dropped_in(resp.fields, resp.nfields, h, drop, "host"));
	assert_false(dropped_in(resp.fields, resp.nfields, h, drop, "set-cookie"));

	h = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: transfer-encoding\r\n\r\n";
	resp_ok(h);
	assert_int_equal(http_response_fields_to_drop(&resp, h, drop), 1);
	assert_false(dropped_in(resp.fields, resp.nfields, h, drop, "transfer-encoding"));
}

static void trailer_ok(const char *t)
{
	feed_ok(TRAILER, t, strlen(t));
}

static void trailer_err(const char *t, int err)
{
	feed_err(TRAILER, t, strlen(t), err);
}

static void test_trailer(void **state)
{
	(void)state;
	trailer_ok("\r\n");
	trailer_ok("X-Checksum: abc\r\n\r\n");
	trailer_ok("X-A: 1\r\nx-b:\r\nContent-Length: 9\r\n\r\n");
	assert_int_equal(http_trailer_parse("", 0), 0);
	assert_int_equal(http_trailer_parse("\r", 1), 0);
	assert_int_equal(http_trailer_parse("\r\nHTTP/1.1 200 OK\r\n", 19), 2);

	/* Beyond the bad_lines table. */
	trailer_err("\n", -EBADMSG);
	trailer_err("\r\r\n", -EBADMSG);
	trailer_err("X 1\r\n", -EBADMSG);
	trailer_err("0\r\n", -EBADMSG);
	feed_err(TRAILER, "X: \0\r\n\r\n", sizeof("X: \0\r\n\r\n") - 1, -EBADMSG);

	size_t cap = HTTP_HEAD_MAX + 2 * HTTP_FIELD_LINE_MAX;
	char *b = xmalloc(cap);
	size_t n = 0;
	for (int i = 0; i < HTTP_FIELDS_MAX; i++)
		n += (size_t)sprintf(b + n, "X-%d: v\r\n", i);
	strcpy(b + n, "\r\n");
	feed_ok(TRAILER, b, n + 2);
	strcpy(b + n, "X-last: v\r\n\r\n");
	trailer_err(b, -E2BIG);

	memcpy(b, "X: ", 3);
	memset(b + 3, 'v', HTTP_FIELD_LINE_MAX);
	assert_int_equal(http_trailer_parse(b, HTTP_FIELD_LINE_MAX), 0);
	assert_int_equal(http_trailer_parse(b, HTTP_FIELD_LINE_MAX + 1), -E2BIG);

	n = 0;
	while (n < HTTP_HEAD_MAX + 100) {
		n += (size_t)sprintf(b + n, "X: ");
		memset(b + n, 'v', 8000);
		n += 8000;
		n += (size_t)sprintf(b + n, "\r\n");
	}
	assert_int_equal(http_trailer_parse(b, HTTP_HEAD_MAX), 0);
	assert_int_equal(http_trailer_parse(b, HTTP_HEAD_MAX + 1), -E2BIG);
	free(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_absolute_form),
		cmocka_unit_test(test_connect),
		cmocka_unit_test(test_bad_request_lines),
		cmocka_unit_test(test_line_endings),
		cmocka_unit_test(test_smuggling),
		cmocka_unit_test(test_refused_everywhere),
		cmocka_unit_test(test_keep_alive),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_incremental_misuse),
		cmocka_unit_test(test_drop),
		cmocka_unit_test(test_chunk_size),
		cmocka_unit_test(test_response_status_line),
		cmocka_unit_test(test_response_framing),
		cmocka_unit_test(test_response_head_and_interim),
		cmocka_unit_test(test_response_refusals),
		cmocka_unit_test(test_response_keep_alive),
		cmocka_unit_test(test_response_drop),
		cmocka_unit_test(test_trailer),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
