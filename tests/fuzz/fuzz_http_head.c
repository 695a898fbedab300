/* libFuzzer target: the HTTP request-head parser (one-shot against byte-by-byte), the drop list and the chunk-size line parser. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/http_head.h"

static struct http_request one, inc;

/* Feeding the head in pieces must give the same answer as feeding it
 * whole: a parser whose result depends on how TCP split the bytes is a
 * smuggling bug. Pieces are cut where the input's own bytes say, so the
 * fuzzer explores splits too. */
static int parse_in_pieces(const uint8_t *data, size_t size)
{
	http_request_init(&inc);
	size_t have = 0;
	size_t step = size ? (size_t)(data[0] % 7) + 1 : 1;
	for (;;) {
		have = have + step > size ? size : have + step;
		int r = http_request_parse(&inc, (const char *)data, have);
		if (r != 0 || have == size)
			return r;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *buf = (const char *)data;
	http_request_init(&one);
	int r = http_request_parse(&one, buf, size);
	if (r > (int)size || r > HTTP_HEAD_MAX)
		abort();
	if (r == 0 && size > HTTP_HEAD_MAX)
		abort();
	if (r < 0 && r != -EBADMSG && r != -E2BIG && r != -ENAMETOOLONG && r != -EPROTONOSUPPORT)
		abort();

	int r2 = parse_in_pieces(data, size);
	/* An over-long line may be noticed before the malformed byte that
	 * follows it; both are refusals. Everything else must agree exactly. */
	if ((r > 0 || r2 > 0 || r == 0 || r2 == 0) && r != r2)
		abort();

	if (r > 0) {
		if (one.nfields > HTTP_FIELDS_MAX || one.port == 0 || (unsigned)one.version_minor > 1)
			abort();
		if (one.framing != inc.framing || one.content_length != inc.content_length ||
		    one.nfields != inc.nfields || strcmp(one.host.text, inc.host.text) != 0)
			abort();
		for (size_t i = 0; i < one.nfields; i++) {
			struct http_field f = one.fields[i];
			if (f.name.len == 0 || f.name.off + f.name.len > (size_t)r ||
			    f.value.off + f.value.len > (size_t)r)
				abort();
			for (size_t k = 0; k < f.value.len; k++) {
				unsigned char c = data[f.value.off + k];
				if ((c < 0x20 && c != '\t') || c == 0x7f)
					abort();
			}
		}
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
