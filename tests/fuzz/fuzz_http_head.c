/* libFuzzer target: the HTTP request- and response-head parsers (one-shot against in pieces; requests also in origin-form, as inside a terminated TLS tunnel), their drop lists, the chunk-size line parser and the trailer-section parser (against the response parser). */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/http_head.h"

static struct http_request one, inc;
static struct http_response rone, rinc;
static bool to_head;

static int step_request(const char *buf, size_t len)
{
	return http_request_parse(&inc, buf, len);
}


static int step_response(const char *buf, size_t len)
{
	return http_response_parse(&rinc, buf, len, to_head);
}

/* Feeding the head in pieces must give the same answer as feeding it
 * whole: a parser whose result depends on how TCP split the bytes is a
 * smuggling bug. Pieces are cut where the input's own bytes say, so the
 * fuzzer explores splits too. The caller prepares the parser step uses. */
static int parse_in_pieces(int (*step)(const char *, size_t), const uint8_t *data, size_t size)
{
	size_t have = 0;
	size_t step_len = size ? (size_t)(data[0] % 7) + 1 : 1;
	for (;;) {
		have = have + step_len > size ? size : have + step_len;
		int r = step((const char *)data, have);
		if (r != 0 || have == size)
			return r;
	}
}

/* What every head parser's result must satisfy; extra is the one error
 * only requests have (414). */
static void check_result(int r, int r2, size_t size, int extra)
{
	if (r > (int)size || r > HTTP_HEAD_MAX)
		abort();
	if (r == 0 && size > HTTP_HEAD_MAX)
		abort();
	if (r < 0 && r != -EBADMSG && r != -E2BIG && r != extra && r != -EPROTONOSUPPORT)
		abort();
	/* An over-long line may be noticed before the malformed byte that
	 * follows it; both are refusals. Everything else must agree exactly. */
	if ((r > 0 || r2 > 0 || r == 0 || r2 == 0) && r != r2)
		abort();
	if (r > 0 && (size < 2 || r < 2))
		abort();
}

/* Fields inside the head, names non-empty, values free of controls. */
static void check_fields(const uint8_t *data, const struct http_field *fields, size_t nfields, size_t head_len)
{
	if (nfields > HTTP_FIELDS_MAX)
		abort();
	for (size_t i = 0; i < nfields; i++) {
		struct http_field f = fields[i];
		if (f.name.len == 0 || f.name.off + f.name.len > head_len || f.value.off + f.value.len > head_len)
			abort();
		for (size_t k = 0; k < f.value.len; k++) {
			unsigned char c = data[f.value.off + k];
			if ((c < 0x20 && c != '\t') || c == 0x7f)
				abort();
		}
	}
}

/* Origin-form (a request inside a terminated TLS tunnel): the same
 * incremental contract, a path that starts with '/', the host from the one
 * Host field, never CONNECT. */
static void check_origin_form(const uint8_t *data, size_t size)
{
	const char *buf = (const char *)data;
	http_request_init(&one);
	one.origin_form = true;
	int r = http_request_parse(&one, buf, size);
	http_request_init(&inc);
	inc.origin_form = true;
	int r2 = parse_in_pieces(step_request, data, size);
	check_result(r, r2, size, -ENAMETOOLONG);
	if (r <= 0)
		return;
	if (one.connect || one.port == 0 || one.host.text[0] == '\0' || !one.seen_host)
		abort();
	if (one.path.len == 0 || one.path.off + one.path.len > (size_t)r || data[one.path.off] != '/')
		abort();
	if (strcmp(one.host.text, inc.host.text) != 0 || one.port != inc.port || one.framing != inc.framing)
		abort();
	check_fields(data, one.fields, one.nfields, (size_t)r);
}

/* The response parser with and without HEAD; returns its result. */
static int check_response(const uint8_t *data, size_t size, bool head)
{
	const char *buf = (const char *)data;
	http_response_init(&rone);
	int r = http_response_parse(&rone, buf, size, head);
	to_head = head;
	http_response_init(&rinc);
	int r2 = parse_in_pieces(step_response, data, size);
	check_result(r, r2, size, -EBADMSG);
	if (r <= 0)
		return r;
	if (rone.head_len != (size_t)r || data[r - 1] != '\n' || data[r - 2] != '\r' || memcmp(buf, "HTTP/1.", 7) != 0)
		abort();
	if (rone.status < 100 || rone.status > 599 || rone.status == 101 || (unsigned)rone.version_minor > 1)
		abort();
	check_fields(data, rone.fields, rone.nfields, (size_t)r);
	bool bodyless = head || rone.status < 200 || rone.status == 204 || rone.status == 304;
	if (bodyless != (rone.framing == HTTP_RESP_NONE))
		abort();
	if (rone.framing != HTTP_RESP_LENGTH && rone.content_length != 0)
		abort();
	if (rone.framing == HTTP_RESP_CLOSE && rone.keep_alive)
		abort();
	if (rone.status != rinc.status || rone.framing != rinc.framing ||
	    rone.content_length != rinc.content_length || rone.keep_alive != rinc.keep_alive ||
	    rone.nfields != rinc.nfields)
		abort();
	bool drop[HTTP_FIELDS_MAX];
	size_t n = http_response_fields_to_drop(&rone, buf, drop);
	if (n > rone.nfields)
		abort();
	for (size_t i = 0; i < rone.nfields; i++) {
		struct http_span name = rone.fields[i].name;
		/* The client must read the body as the server framed it. */
		if (drop[i] && (http_span_equal(buf, name, "content-length") ||
				http_span_equal(buf, name, "transfer-encoding")))
			abort();
		if (!drop[i] && (http_span_equal(buf, name, "connection") || http_span_equal(buf, name, "upgrade")))
			abort();
	}
	return r;
}

/* A trailer section is a response head without its status line: where the
 * response parser accepts "HTTP/1.1 200 OK\r\n" + data, the trailer
 * parser must end at the same byte. */
static void check_trailer(const uint8_t *data, size_t size)
{
	const char *buf = (const char *)data;
	int t = http_trailer_parse(buf, size);
	if (t > (int)size || t > HTTP_HEAD_MAX || (t == 0 && size > HTTP_HEAD_MAX))
		abort();
	if (t < 0 && t != -EBADMSG && t != -E2BIG)
		abort();
	if (t > 0 && (t < 2 || data[t - 1] != '\n' || data[t - 2] != '\r' || http_trailer_parse(buf, (size_t)t - 1) != 0 ||
		      http_trailer_parse(buf, (size_t)t) != t))
		abort();

	static const char status[] = "HTTP/1.1 200 OK\r\n";
	size_t sl = sizeof(status) - 1;
	char *resp = malloc(sl + size + 1);
	if (!resp)
		return;
	memcpy(resp, status, sl);
	memcpy(resp + sl, data, size);
	http_response_init(&rone);
	int r = http_response_parse(&rone, resp, sl + size, false);
	if (r > 0 && t != r - (int)sl)
		abort();
	free(resp);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *buf = (const char *)data;
	http_request_init(&one);
	int r = http_request_parse(&one, buf, size);
	http_request_init(&inc);
	int r2 = parse_in_pieces(step_request, data, size);
	check_result(r, r2, size, -ENAMETOOLONG);

	if (r > 0) {
		if (one.port == 0 || (unsigned)one.version_minor > 1)
			abort();
		if (one.framing != inc.framing || one.content_length != inc.content_length ||
		    one.nfields != inc.nfields || strcmp(one.host.text, inc.host.text) != 0)
			abort();
		check_fields(data, one.fields, one.nfields, (size_t)r);
		if (one.path.off + one.path.len > (size_t)r)
			abort();
		if (one.connect && one.framing != HTTP_BODY_NONE)
			abort();
		bool drop[HTTP_FIELDS_MAX];
		size_t n = http_fields_to_drop(&one, buf, data[0] & 1, drop);
		if (n > one.nfields)
			abort();
		for (size_t i = 0; i < one.nfields; i++)
			if (!drop[i] && (http_span_equal(buf, one.fields[i].name, "proxy-authorization") ||
					 http_span_equal(buf, one.fields[i].name, "connection")))
				abort();
	}

	check_origin_form(data, size);

	/* HEAD changes the framing, never whether or where the head ends. */
	if (check_response(data, size, false) != check_response(data, size, true))
		abort();
	check_trailer(data, size);

	uint64_t sz = 0;
	int c = http_chunk_size_parse(buf, size, UINT64_MAX, &sz);
	if (c > (int)size || c > HTTP_CHUNK_LINE_MAX || (c == 0 && size >= HTTP_CHUNK_LINE_MAX))
		abort();
	if (c > 0) {
		if (data[c - 1] != '\n' || data[c - 2] != '\r')
			abort();
		for (int i = 0; i < c; i++) {
			uint64_t s2;
			if (http_chunk_size_parse(buf, (size_t)i, UINT64_MAX, &s2) != 0)
				abort();
		}
	} else if (c < 0 && c != -EBADMSG && c != -E2BIG) {
		abort();
	}
	return 0;
}
