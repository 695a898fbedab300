/* HTTP/1.x request heads as a forward proxy receives them (RFC 9110, RFC 9112): incremental parser, framing, hop-by-hop headers, chunk-size lines; no I/O. */
#include "proxy/http_head.h"

#include <errno.h>
#include <string.h>

/*
 * What is accepted (RFC 9112 sections 2-7, RFC 9110 section 5), narrowed to
 * what a forward proxy needs and to one reading of every message:
 *
 *   request-head   = *( CRLF ) request-line *( field-line CRLF ) CRLF
 *   request-line   = method SP request-target SP HTTP-version CRLF
 *   method         = 1*32tchar
 *   request-target = authority-form        ; CONNECT only: host ":" port
 *                  / absolute-form         ; every other method:
 *                                          ; "http://" authority path-abempty [ "?" query ]
 *   HTTP-version   = "HTTP/1.1" / "HTTP/1.0"
 *   field-line     = field-name ":" OWS field-value OWS
 *   field-name     = 1*tchar
 *   field-value    = *( VCHAR / SP / HTAB / obs-text )     ; obs-text = %x80-FF
 *   OWS            = *( SP / HTAB )
 *   tchar          = "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" / "-" / "."
 *                  / "^" / "_" / "`" / "|" / "~" / DIGIT / ALPHA
 *
 * Refused with 400, because two parties could read them differently (the
 * request smuggling shapes) or because a proxy cannot serve them:
 *   - a line ending in LF without CR (bare LF), or a CR anywhere else: RFC
 *     9112 lets a recipient accept bare LF, but then we and the upstream
 *     could disagree about where the head ends;
 *   - a line starting with SP or HTAB (obsolete line folding, or whitespace
 *     before the first field);
 *   - whitespace between a field name and its colon, a field without colon;
 *   - NUL, CR, other control characters or DEL in a field value;
 *   - origin-form ("/path") and asterisk-form ("*") targets: a proxy needs
 *     the host in the target; schemes other than http (TLS goes through
 *     CONNECT); a fragment ('#'); bytes outside %x21-7E in the target;
 *   - CONNECT with an absolute-form target or without a port, a
 *     non-CONNECT request with an authority-form target;
 *   - more than one Content-Length field (even with equal values), a
 *     Content-Length that is not 1*DIGIT or does not fit 64 bits;
 *   - more than one Transfer-Encoding field, or one whose value is not
 *     exactly "chunked" (case-insensitive): a request body we would have to
 *     decode in another coding is not worth the ambiguity;
 *   - both Content-Length and Transfer-Encoding;
 *   - Transfer-Encoding in an HTTP/1.0 request (RFC 9112 section 6.1);
 *   - a body on CONNECT (Transfer-Encoding, or Content-Length other than 0);
 *   - more than one Host field (RFC 9112 section 3.2).
 * Any number of empty lines before the request line are skipped (RFC 9112
 * section 2.2), within the head limit.
 */

static bool is_tchar(unsigned char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
		return true;
	return c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static char lower(char c)
{
	return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

static bool mem_equal_nocase(const char *a, const char *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (lower(a[i]) != lower(b[i]))
			return false;
	return true;
}

bool http_span_equal(const char *buf, struct http_span s, const char *name)
{
	size_t n = strlen(name);
	return s.len == n && mem_equal_nocase(buf + s.off, name, n);
}

void http_request_init(struct http_request *r)
{
	memset(r, 0, sizeof(*r));
}

static bool is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

static int parse_version(const char *v, size_t n, int *minor)
{
	if (n == 8 && memcmp(v, "HTTP/1.", 7) == 0 && (v[7] == '0' || v[7] == '1')) {
		*minor = v[7] - '0';
		return 0;
	}
	/* Well-formed but another version: 505 tells the client what is wrong. */
	if (n == 8 && memcmp(v, "HTTP/", 5) == 0 && is_digit((unsigned char)v[5]) && v[6] == '.' &&
	    is_digit((unsigned char)v[7]))
		return -EPROTONOSUPPORT;
	return -EBADMSG;
}

/* The request line without its CRLF: line[0..n) at buffer offset off. */
static int parse_request_line(struct http_request *r, const char *buf, size_t off, size_t n)
{
	const char *line = buf + off;
	size_t i = 0;
	while (i < n && is_tchar((unsigned char)line[i]))
		i++;
	if (i == 0 || i > HTTP_METHOD_MAX || i >= n || line[i] != ' ')
		return -EBADMSG;
	size_t mlen = i;

	size_t t0 = ++i;
	while (i < n && line[i] != ' ') {
		unsigned char c = (unsigned char)line[i];
		if (c < 0x21 || c > 0x7e || c == '#')
			return -EBADMSG;
		i++;
	}
	size_t tlen = i - t0;
	if (tlen == 0 || i >= n)
		return -EBADMSG;
	i++;
	int minor = 0;
	int err = parse_version(line + i, n - i, &minor);
	if (err < 0)
		return err;

	const char *target = line + t0;
	bool connect = mlen == 7 && memcmp(line, "CONNECT", 7) == 0;
	struct proxy_host host;
	uint16_t port;
	struct http_span path = { 0, 0 };
	if (connect) {
		if (proxy_authority_parse(target, tlen, 0, &host, &port, NULL) < 0)
			return -EBADMSG;
	} else {
		static const char scheme[] = "http://";
		size_t sl = sizeof(scheme) - 1;
		if (tlen <= sl || !mem_equal_nocase(target, scheme, sl))
			return -EBADMSG;
		size_t a = sl;
		while (a < tlen && target[a] != '/' && target[a] != '?')
			a++;
		if (proxy_authority_parse(target + sl, a - sl, 80, &host, &port, NULL) < 0)
			return -EBADMSG;
		path.off = off + t0 + a;
		path.len = tlen - a;
	}

	memcpy(r->method, line, mlen);
	r->method[mlen] = '\0';
	r->connect = connect;
	r->host = host;
	r->port = port;
	r->path = path;
	r->version_minor = minor;
	return 0;
}

/* 1*DIGIT that fits 64 bits. */
static int parse_content_length(const char *v, size_t n, uint64_t *ret)
{
	if (n == 0)
		return -EBADMSG;
	uint64_t x = 0;
	for (size_t i = 0; i < n; i++) {
		if (!is_digit((unsigned char)v[i]))
			return -EBADMSG;
		unsigned d = (unsigned)(v[i] - '0');
		if (x > (UINT64_MAX - d) / 10)
			return -EBADMSG;
		x = x * 10 + d;
	}
	*ret = x;
	return 0;
}

/* A field line without its CRLF: buf[off..off+n), n > 0. */
static int parse_field_line(struct http_request *r, const char *buf, size_t off, size_t n)
{
	const char *line = buf + off;
	if (line[0] == ' ' || line[0] == '\t')
		return -EBADMSG;
	size_t i = 0;
	while (i < n && is_tchar((unsigned char)line[i]))
		i++;
	if (i == 0 || i >= n || line[i] != ':')
		return -EBADMSG;
	struct http_span name = { off, i };

	i++;
	while (i < n && (line[i] == ' ' || line[i] == '\t'))
		i++;
	size_t v0 = i, vend = i;
	for (; i < n; i++) {
		unsigned char c = (unsigned char)line[i];
		if ((c < 0x20 && c != '\t') || c == 0x7f)
			return -EBADMSG;
		if (c != ' ' && c != '\t')
			vend = i + 1;
	}
	struct http_span value = { off + v0, vend - v0 };

	if (r->nfields >= HTTP_FIELDS_MAX)
		return -E2BIG;

	if (http_span_equal(buf, name, "content-length")) {
		if (r->seen_cl)
			return -EBADMSG;
		r->seen_cl = true;
		if (parse_content_length(buf + value.off, value.len, &r->content_length) < 0)
			return -EBADMSG;
	} else if (http_span_equal(buf, name, "transfer-encoding")) {
		if (r->seen_te)
			return -EBADMSG;
		r->seen_te = true;
		if (!http_span_equal(buf, value, "chunked"))
			return -EBADMSG;
	} else if (http_span_equal(buf, name, "host")) {
		if (r->seen_host)
			return -EBADMSG;
		r->seen_host = true;
	}
	if (r->seen_cl && r->seen_te)
		return -EBADMSG;

	r->fields[r->nfields].name = name;
	r->fields[r->nfields].value = value;
	r->nfields++;
	return 0;
}

/* The next element of a comma-separated list in buf[*i..end), OWS trimmed;
 * empty elements are skipped (RFC 9110 section 5.6.1). */
static bool list_next(const char *buf, size_t *i, size_t end, struct http_span *elem)
{
	while (*i < end) {
		size_t s = *i;
		while (*i < end && buf[*i] != ',')
			(*i)++;
		size_t e = *i;
		if (*i < end)
			(*i)++;
		while (s < e && (buf[s] == ' ' || buf[s] == '\t'))
			s++;
		while (e > s && (buf[e - 1] == ' ' || buf[e - 1] == '\t'))
			e--;
		if (e > s) {
			elem->off = s;
			elem->len = e - s;
			return true;
		}
	}
	return false;
}

static int finish_head(struct http_request *r, const char *buf)
{
	if (r->seen_te && r->version_minor == 0)
		return -EBADMSG;
	if (r->connect && (r->seen_te || (r->seen_cl && r->content_length != 0)))
		return -EBADMSG;
	if (r->seen_te)
		r->framing = HTTP_BODY_CHUNKED;
	else if (r->seen_cl && !r->connect)
		r->framing = HTTP_BODY_LENGTH;
	else
		r->framing = HTTP_BODY_NONE;
	if (r->framing != HTTP_BODY_LENGTH)
		r->content_length = 0;

	bool close = false, keep = false;
	for (size_t f = 0; f < r->nfields; f++) {
		if (!http_span_equal(buf, r->fields[f].name, "connection"))
			continue;
		struct http_span v = r->fields[f].value, e;
		size_t i = v.off;
		while (list_next(buf, &i, v.off + v.len, &e)) {
			if (http_span_equal(buf, e, "close"))
				close = true;
			else if (http_span_equal(buf, e, "keep-alive"))
				keep = true;
		}
	}
	r->keep_alive = !close && (r->version_minor == 1 || keep);
	return 0;
}

/* An incomplete line that is already too long, or a head already over the
 * limit, is refused without waiting for its end. */
static int check_limits(const struct http_request *r, size_t line_len, size_t head_len)
{
	if (!r->seen_request_line && line_len > HTTP_REQUEST_LINE_MAX)
		return -ENAMETOOLONG;
	if (r->seen_request_line && line_len > HTTP_FIELD_LINE_MAX)
		return -E2BIG;
	if (head_len > HTTP_HEAD_MAX)
		return -E2BIG;
	return 0;
}

int http_request_parse(struct http_request *r, const char *buf, size_t len)
{
	if (len < r->scan || r->scan < r->pos)
		return -EINVAL;
	for (;;) {
		const char *lf = len > r->scan ? memchr(buf + r->scan, '\n', len - r->scan) : NULL;
		if (!lf) {
			r->scan = len;
			return check_limits(r, len - r->pos, len);
		}
		size_t e = (size_t)(lf - buf);
		int err = check_limits(r, e + 1 - r->pos, e + 1);
		if (err < 0)
			return err;
		if (e == r->pos || buf[e - 1] != '\r')
			return -EBADMSG;
		size_t n = e - 1 - r->pos;
		if (memchr(buf + r->pos, '\r', n))
			return -EBADMSG;

		if (!r->seen_request_line) {
			if (n > 0) {
				if ((err = parse_request_line(r, buf, r->pos, n)) < 0)
					return err;
				r->seen_request_line = true;
			}
		} else if (n == 0) {
			if ((err = finish_head(r, buf)) < 0)
				return err;
			r->pos = r->scan = e + 1;
			r->head_len = e + 1;
			return (int)r->head_len;
		} else if ((err = parse_field_line(r, buf, r->pos, n)) < 0) {
			return err;
		}
		r->pos = r->scan = e + 1;
	}
}

int http_error_status(int err)
{
	switch (err) {
	case -E2BIG:
		return 431;
	case -ENAMETOOLONG:
		return 414;
	case -EPROTONOSUPPORT:
		return 505;
	default:
		return 400;
	}
}

static bool name_is_hop_by_hop(const char *buf, struct http_span name)
{
	static const char *const hop[] = {
		"connection", "keep-alive", "proxy-connection", "te", "trailer", "upgrade", "host",
	};
	for (size_t i = 0; i < sizeof(hop) / sizeof(hop[0]); i++)
		if (http_span_equal(buf, name, hop[i]))
			return true;
	static const char proxy[] = "proxy-";
	return name.len >= sizeof(proxy) - 1 && mem_equal_nocase(buf + name.off, proxy, sizeof(proxy) - 1);
}

static bool is_framing(const char *buf, struct http_span name)
{
	return http_span_equal(buf, name, "content-length") || http_span_equal(buf, name, "transfer-encoding");
}

/* Is name listed in any Connection field? */
static bool named_in_connection(const struct http_request *r, const char *buf, struct http_span name)
{
	for (size_t f = 0; f < r->nfields; f++) {
		if (!http_span_equal(buf, r->fields[f].name, "connection"))
			continue;
		struct http_span v = r->fields[f].value, e;
		size_t i = v.off;
		while (list_next(buf, &i, v.off + v.len, &e))
			if (e.len == name.len && mem_equal_nocase(buf + e.off, buf + name.off, e.len))
				return true;
	}
	return false;
}

size_t http_fields_to_drop(const struct http_request *r, const char *buf, bool reframe, bool *drop)
{
	size_t count = 0;
	for (size_t f = 0; f < r->nfields; f++) {
		struct http_span name = r->fields[f].name;
		bool d;
		/* The framing fields are decided by reframe alone: a client that
		 * names Content-Length in Connection must not get its body read by
		 * the upstream as the next request. */
		if (is_framing(buf, name))
			d = reframe;
		else
			d = name_is_hop_by_hop(buf, name) || named_in_connection(r, buf, name);
		drop[f] = d;
		count += d;
	}
	return count;
}

static int chunk_more(size_t len)
{
	return len >= HTTP_CHUNK_LINE_MAX ? -E2BIG : 0;
}

/*
 *   chunk-size-line = chunk-size *( BWS ";" BWS ext-name [ BWS "=" BWS ext-val ] ) CRLF
 *   chunk-size      = 1*HEXDIG
 *   ext-name        = token
 *   ext-val         = token / quoted-string
 *   quoted-string   = DQUOTE *( qdtext / "\" ( HTAB / SP / VCHAR / obs-text ) ) DQUOTE
 *   qdtext          = HTAB / SP / %x21 / %x23-5B / %x5D-7E / obs-text
 *   BWS             = *( SP / HTAB )
 * Whitespace not followed by ';' is refused; so is any CR not followed by
 * LF and any LF not preceded by CR.
 */
int http_chunk_size_parse(const char *buf, size_t len, uint64_t max_size, uint64_t *ret_size)
{
	const unsigned char *p = (const unsigned char *)buf;
	size_t i = 0;
	uint64_t size = 0;
	for (; i < len; i++) {
		unsigned char c = p[i];
		unsigned d;
		if (c >= '0' && c <= '9')
			d = c - '0';
		else if (c >= 'a' && c <= 'f')
			d = c - 'a' + 10;
		else if (c >= 'A' && c <= 'F')
			d = c - 'A' + 10;
		else
			break;
		if (size > (UINT64_MAX >> 4))
			return -EBADMSG;
		size = (size << 4) | d;
		if (size > max_size)
			return -EBADMSG;
	}
	if (i == 0)
		return len == 0 ? 0 : -EBADMSG;

#define NEED(k) do { if (i + (k) > len) return chunk_more(len); } while (0)
	for (;;) {
		NEED(1);
		size_t ws0 = i;
		while (p[i] == ' ' || p[i] == '\t') {
			i++;
			NEED(1);
		}
		if (p[i] == '\r') {
			if (i != ws0)
				return -EBADMSG;
			NEED(2);
			if (p[i + 1] != '\n')
				return -EBADMSG;
			if (i + 2 > HTTP_CHUNK_LINE_MAX)
				return -E2BIG;
			*ret_size = size;
			return (int)(i + 2);
		}
		if (p[i] != ';')
			return -EBADMSG;
		i++;
		NEED(1);
		while (p[i] == ' ' || p[i] == '\t') {
			i++;
			NEED(1);
		}
		size_t n0 = i;
		while (is_tchar(p[i])) {
			i++;
			NEED(1);
		}
		if (i == n0)
			return -EBADMSG;
		size_t ws = i;
		while (p[i] == ' ' || p[i] == '\t') {
			i++;
			NEED(1);
		}
		if (p[i] != '=') {
			/* BWS then the next ';' or CRLF: go round again from the
			 * whitespace, which the loop head skips. */
			i = ws;
			continue;
		}
		i++;
		NEED(1);
		while (p[i] == ' ' || p[i] == '\t') {
			i++;
			NEED(1);
		}
		if (p[i] == '"') {
			i++;
			for (;;) {
				NEED(1);
				unsigned char c = p[i];
				if (c == '"') {
					i++;
					break;
				}
				if (c == '\\') {
					NEED(2);
					c = p[i + 1];
					if ((c < 0x20 && c != '\t') || c == 0x7f)
						return -EBADMSG;
					i += 2;
					continue;
				}
				if ((c < 0x20 && c != '\t') || c == 0x7f)
					return -EBADMSG;
				i++;
			}
		} else {
			size_t v0 = i;
			while (is_tchar(p[i])) {
				i++;
				NEED(1);
			}
			if (i == v0)
				return -EBADMSG;
		}
	}
#undef NEED
}
