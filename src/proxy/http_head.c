/* HTTP/1.x heads as a forward proxy sees them (RFC 9110, RFC 9112): request heads, response heads, trailer sections; incremental parsers, framing, hop-by-hop headers, chunk-size lines; no I/O. */
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
 * Inside a terminated TLS tunnel (origin_form) the target is origin-form
 * instead ("/" path [ "?" query ], RFC 9112 section 3.2.1), with exactly
 * one Host field holding host [ ":" port ] (443 by default); refused there:
 * any other target form, CONNECT, a missing or empty Host, a Host that is
 * not a valid authority (userinfo, bad port).
 * Any number of empty lines before the request line are skipped (RFC 9112
 * section 2.2), within the head limit.
 *
 * Response heads come from the upstream, which the sandboxed program may
 * control, and are relayed to a client that reuses the connection, so
 * where a response ends must not be in doubt either (RFC 9112 sections 4,
 * 6.3):
 *
 *   response-head  = status-line *( field-line CRLF ) CRLF
 *   status-line    = HTTP-version SP 3DIGIT [ SP reason-phrase ] CRLF
 *   reason-phrase  = *( HTAB / SP / VCHAR / obs-text )
 *
 * The line, field and limit rules are those of requests; besides, refused
 * with -EBADMSG:
 *   - an empty line before the status line (a server has no reason to send
 *     one; it would mean we lost count of the previous body);
 *   - a status line of another shape, or a status outside 100..599. "HTTP/1.1
 *     200" without SP and reason is accepted although RFC 9112 requires the
 *     SP: servers send it, and where the line ends is not in doubt;
 *   - 101: the proxy never forwards Upgrade, so a switch of protocols
 *     answers a request it did not send;
 *   - both Content-Length and Transfer-Encoding, even where the status or
 *     HEAD means no body: RFC 9112 lets Transfer-Encoding win, but the pair
 *     is the response-splitting shape and only a broken server sends it;
 *   - Content-Length values that differ, or one that is not 1*DIGIT or does
 *     not fit 64 bits, checked even where there is no body. The same value
 *     repeated, in several fields or as a list ("5, 5"), is accepted as
 *     that value (RFC 9110 section 8.6): intermediaries produce it, and
 *     every reader that accepts it reads the same length;
 *   - Transfer-Encoding in an HTTP/1.0 response (RFC 9112 section 6.1: its
 *     framing is faulty), without any coding, with a coding that is not a
 *     token, with quoted parameters (a list split on the commas inside
 *     them would read other codings), with chunked carrying parameters or
 *     listed twice (RFC 9112 section 7: at most once, no parameters).
 * Framing (RFC 9112 section 6.3): the answer to HEAD, 1xx, 204 and 304 have
 * no body whatever the fields say; otherwise Transfer-Encoding, chunked if
 * its last coding is chunked, else delimited by close (other codings,
 * known or not, are relayed as they are); otherwise Content-Length;
 * otherwise delimited by close.
 *
 * Trailer sections (after the last chunk, RFC 9112 section 7.1.2) are
 * *( field-line CRLF ) CRLF with the same line and field rules; any field
 * name is accepted, since the proxy drops them.
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

void http_response_init(struct http_response *r)
{
	memset(r, 0, sizeof(*r));
}

static bool is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

static bool is_ows(char c)
{
	return c == ' ' || c == '\t';
}

/* Does s[0..n) hold a byte that neither a field value nor a reason phrase
 * may hold: a control character other than HTAB, or DEL? */
static bool has_ctl(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if ((c < 0x20 && c != '\t') || c == 0x7f)
			return true;
	}
	return false;
}

/* Narrow buf[*s..*e) to leave out leading and trailing OWS. */
static void trim_ows(const char *buf, size_t *s, size_t *e)
{
	while (*s < *e && is_ows(buf[*s]))
		(*s)++;
	while (*e > *s && is_ows(buf[*e - 1]))
		(*e)--;
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

/* The request line without its CRLF. */
static int parse_request_line(void *ctx, const char *buf, struct http_span l)
{
	struct http_request *r = ctx;
	size_t off = l.off, n = l.len;
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
	memset(&host, 0, sizeof(host));
	port = 0;
	if (r->origin_form) {
		/* The host comes from the Host field. */
		if (connect || target[0] != '/')
			return -EBADMSG;
		path.off = off + t0;
		path.len = tlen;
	} else if (connect) {
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
	if (!r->origin_form) {
		r->host = host;
		r->port = port;
	}
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

/*
 * A field line without its CRLF, line.len > 0, checked and appended to
 * fields[*nfields] (or only counted when fields is NULL). A line starting
 * with SP or HTAB (obsolete line folding) fails the token test.
 */
static int add_field(const char *buf, struct http_span l, struct http_field *fields, size_t *nfields)
{
	const char *line = buf + l.off;
	size_t i = 0;
	while (i < l.len && is_tchar((unsigned char)line[i]))
		i++;
	if (i == 0 || i >= l.len || line[i] != ':')
		return -EBADMSG;
	if (has_ctl(line + i + 1, l.len - i - 1))
		return -EBADMSG;
	if (*nfields >= HTTP_FIELDS_MAX)
		return -E2BIG;
	size_t v0 = l.off + i + 1, vend = l.off + l.len;
	trim_ows(buf, &v0, &vend);
	if (fields) {
		fields[*nfields].name = (struct http_span){ l.off, i };
		fields[*nfields].value = (struct http_span){ v0, vend - v0 };
	}
	(*nfields)++;
	return 0;
}

static int request_field(void *ctx, const char *buf, struct http_span line)
{
	struct http_request *r = ctx;
	int err = add_field(buf, line, r->fields, &r->nfields);
	if (err < 0)
		return err;
	struct http_span name = r->fields[r->nfields - 1].name;
	struct http_span value = r->fields[r->nfields - 1].value;

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
		if (r->origin_form &&
		    (value.len == 0 || proxy_authority_parse(buf + value.off, value.len, 443, &r->host, &r->port, NULL) < 0))
			return -EBADMSG;
	}
	if (r->seen_cl && r->seen_te)
		return -EBADMSG;
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
		trim_ows(buf, &s, &e);
		if (e > s) {
			elem->off = s;
			elem->len = e - s;
			return true;
		}
	}
	return false;
}

/* Is the option name[0..n) listed in any Connection field? */
static bool connection_lists(const struct http_field *fields, size_t nfields, const char *buf, const char *name,
			     size_t n)
{
	for (size_t f = 0; f < nfields; f++) {
		if (!http_span_equal(buf, fields[f].name, "connection"))
			continue;
		struct http_span v = fields[f].value, e;
		size_t i = v.off;
		while (list_next(buf, &i, v.off + v.len, &e))
			if (e.len == n && mem_equal_nocase(buf + e.off, name, n))
				return true;
	}
	return false;
}

/* Whether the sender keeps the connection (RFC 9112 section 9.3). */
static bool wants_keep_alive(const struct http_field *fields, size_t nfields, const char *buf, int version_minor)
{
	if (connection_lists(fields, nfields, buf, "close", 5))
		return false;
	return version_minor == 1 || connection_lists(fields, nfields, buf, "keep-alive", 10);
}

static int request_finish(void *ctx, const char *buf)
{
	struct http_request *r = ctx;
	if (r->origin_form && !r->seen_host)
		return -EBADMSG;
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
	r->keep_alive = wants_keep_alive(r->fields, r->nfields, buf, r->version_minor);
	return 0;
}

/* An incomplete line that is already too long, or a head already over the
 * limit, is refused without waiting for its end. */
static int check_limits(size_t line_len, size_t line_max, int line_err, size_t head_len)
{
	if (line_len > line_max)
		return line_err;
	if (head_len > HTTP_HEAD_MAX)
		return -E2BIG;
	return 0;
}

/*
 * The next line of buf[0..len) at the cursor. Returns 1 with the line,
 * CRLF left out, in *line and the cursor past it; 0 when its LF has not
 * arrived (the cursor remembers how far the search went); or -EBADMSG for
 * a bare LF or CR, line_err for a line over line_max, -E2BIG for a head
 * over HTTP_HEAD_MAX.
 */
static int next_line(struct http_head_cursor *cur, const char *buf, size_t len, size_t line_max, int line_err,
		     struct http_span *line)
{
	const char *lf = len > cur->scan ? memchr(buf + cur->scan, '\n', len - cur->scan) : NULL;
	if (!lf) {
		cur->scan = len;
		return check_limits(len - cur->pos, line_max, line_err, len);
	}
	size_t e = (size_t)(lf - buf);
	int err = check_limits(e + 1 - cur->pos, line_max, line_err, e + 1);
	if (err < 0)
		return err;
	if (e == cur->pos || buf[e - 1] != '\r')
		return -EBADMSG;
	size_t n = e - 1 - cur->pos;
	if (memchr(buf + cur->pos, '\r', n))
		return -EBADMSG;
	*line = (struct http_span){ cur->pos, n };
	cur->pos = cur->scan = e + 1;
	return 1;
}

/* What one kind of head is made of; ctx is the parser's struct. */
struct head_syntax {
	size_t start_max;   /* the start line's limit, CRLF included */
	int start_err;      /* the error for a start line over it */
	bool skip_empty;    /* empty lines before the start line are skipped */
	int (*start)(void *ctx, const char *buf, struct http_span line);  /* NULL: none */
	int (*field)(void *ctx, const char *buf, struct http_span line);
	int (*finish)(void *ctx, const char *buf);                        /* NULL: none */
};

/* Every head goes through this one loop, so requests, responses and
 * trailers end at the same place by the same rules. Returns the head's
 * length, also stored in *head_len, 0 or an error, as
 * http_request_parse(). */
static int parse_head(const struct head_syntax *syn, void *ctx, struct http_head_cursor *cur, size_t *head_len,
		      const char *buf, size_t len)
{
	if (len < cur->scan || cur->scan < cur->pos)
		return -EINVAL;
	if (!syn->start)
		cur->seen_start_line = true;
	for (;;) {
		struct http_span line;
		int err = cur->seen_start_line ? next_line(cur, buf, len, HTTP_FIELD_LINE_MAX, -E2BIG, &line)
					       : next_line(cur, buf, len, syn->start_max, syn->start_err, &line);
		if (err <= 0)
			return err;
		if (!cur->seen_start_line) {
			if (line.len == 0 && syn->skip_empty)
				continue;
			if ((err = syn->start(ctx, buf, line)) < 0)
				return err;
			cur->seen_start_line = true;
		} else if (line.len == 0) {
			if (syn->finish && (err = syn->finish(ctx, buf)) < 0)
				return err;
			*head_len = cur->pos;
			return (int)cur->pos;
		} else if ((err = syn->field(ctx, buf, line)) < 0) {
			return err;
		}
	}
}

int http_request_parse(struct http_request *r, const char *buf, size_t len)
{
	static const struct head_syntax syn = {
		.start_max = HTTP_REQUEST_LINE_MAX,
		.start_err = -ENAMETOOLONG,
		.skip_empty = true,
		.start = parse_request_line,
		.field = request_field,
		.finish = request_finish,
	};
	return parse_head(&syn, r, &r->cur, &r->head_len, buf, len);
}

/* The status line without its CRLF. */
static int parse_status_line(void *ctx, const char *buf, struct http_span l)
{
	struct http_response *r = ctx;
	const char *line = buf + l.off;
	const char *sp = memchr(line, ' ', l.len);
	if (!sp)
		return -EBADMSG;
	size_t i = (size_t)(sp - line);
	int minor = 0;
	int err = parse_version(line, i, &minor);
	if (err < 0)
		return err;
	i++;
	if (l.len - i < 3 || !is_digit((unsigned char)line[i]) || !is_digit((unsigned char)line[i + 1]) ||
	    !is_digit((unsigned char)line[i + 2]))
		return -EBADMSG;
	int status = (line[i] - '0') * 100 + (line[i + 1] - '0') * 10 + (line[i + 2] - '0');
	i += 3;
	if (i < l.len && line[i] != ' ')
		return -EBADMSG;
	if (has_ctl(line + i, l.len - i))
		return -EBADMSG;
	if (status < 100 || status > 599 || status == 101)
		return -EBADMSG;
	r->status = status;
	r->version_minor = minor;
	return 0;
}

/* A Content-Length value: a list of equal lengths (usually one). */
static int response_content_length(struct http_response *r, const char *buf, struct http_span v)
{
	struct http_span e;
	size_t i = v.off;
	bool any = false;
	while (list_next(buf, &i, v.off + v.len, &e)) {
		uint64_t x;
		if (parse_content_length(buf + e.off, e.len, &x) < 0)
			return -EBADMSG;
		if (r->seen_cl && x != r->content_length)
			return -EBADMSG;
		r->content_length = x;
		r->seen_cl = true;
		any = true;
	}
	return any ? 0 : -EBADMSG;
}

/*
 * A Transfer-Encoding value: transfer-coding *( OWS "," OWS transfer-coding ),
 * each a token with optional parameters after ';'. Only whether the last
 * coding is chunked matters; the parameters of other codings are left
 * alone but for quoted strings.
 */
static int response_transfer_encoding(struct http_response *r, const char *buf, struct http_span v)
{
	if (r->version_minor == 0)
		return -EBADMSG;
	r->seen_te = true;
	struct http_span e;
	size_t i = v.off;
	bool any = false;
	while (list_next(buf, &i, v.off + v.len, &e)) {
		const char *c = buf + e.off;
		size_t k = 0;
		while (k < e.len && is_tchar((unsigned char)c[k]))
			k++;
		if (k == 0)
			return -EBADMSG;
		size_t p = k;
		while (p < e.len && is_ows(c[p]))
			p++;
		if (p < e.len && (c[p] != ';' || memchr(c + p, '"', e.len - p)))
			return -EBADMSG;
		bool chunked = k == 7 && mem_equal_nocase(c, "chunked", 7);
		if (chunked && (k < e.len || r->te_chunked))
			return -EBADMSG;
		r->te_chunked |= chunked;
		r->te_last_chunked = chunked;
		any = true;
	}
	return any ? 0 : -EBADMSG;
}

static int response_field(void *ctx, const char *buf, struct http_span line)
{
	struct http_response *r = ctx;
	int err = add_field(buf, line, r->fields, &r->nfields);
	if (err < 0)
		return err;
	struct http_field f = r->fields[r->nfields - 1];
	if (http_span_equal(buf, f.name, "content-length"))
		err = response_content_length(r, buf, f.value);
	else if (http_span_equal(buf, f.name, "transfer-encoding"))
		err = response_transfer_encoding(r, buf, f.value);
	if (err == 0 && r->seen_cl && r->seen_te)
		err = -EBADMSG;
	return err;
}

static int response_finish(void *ctx, const char *buf)
{
	struct http_response *r = ctx;
	if (r->head_request || r->status < 200 || r->status == 204 || r->status == 304)
		r->framing = HTTP_RESP_NONE;
	else if (r->seen_te)
		r->framing = r->te_last_chunked ? HTTP_RESP_CHUNKED : HTTP_RESP_CLOSE;
	else if (r->seen_cl)
		r->framing = HTTP_RESP_LENGTH;
	else
		r->framing = HTTP_RESP_CLOSE;
	if (r->framing != HTTP_RESP_LENGTH)
		r->content_length = 0;
	r->keep_alive = r->framing != HTTP_RESP_CLOSE &&
			wants_keep_alive(r->fields, r->nfields, buf, r->version_minor);
	return 0;
}

int http_response_parse(struct http_response *r, const char *buf, size_t len, bool request_method_head)
{
	/* A status line is held to the field-line limit: a long reason
	 * phrase is no reason for a separate error. */
	static const struct head_syntax syn = {
		.start_max = HTTP_FIELD_LINE_MAX,
		.start_err = -E2BIG,
		.start = parse_status_line,
		.field = response_field,
		.finish = response_finish,
	};
	r->head_request = request_method_head;
	return parse_head(&syn, r, &r->cur, &r->head_len, buf, len);
}

static int trailer_field(void *ctx, const char *buf, struct http_span line)
{
	return add_field(buf, line, NULL, ctx);
}

int http_trailer_parse(const char *buf, size_t len)
{
	static const struct head_syntax syn = { .field = trailer_field };
	struct http_head_cursor cur = { 0 };
	size_t nfields = 0, head_len;
	return parse_head(&syn, &nfields, &cur, &head_len, buf, len);
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
		"connection", "keep-alive", "proxy-connection", "te", "trailer", "upgrade",
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

/* The drop list of either direction: hop-by-hop fields, fields named in
 * Connection, Host when drop_host; the framing fields are decided by
 * drop_framing alone, since a sender that names Content-Length in
 * Connection must not get its body read as the next message. */
static size_t mark_drops(const struct http_field *fields, size_t nfields, const char *buf, bool drop_host,
			 bool drop_framing, bool *drop)
{
	size_t count = 0;
	for (size_t f = 0; f < nfields; f++) {
		struct http_span name = fields[f].name;
		bool d;
		if (is_framing(buf, name))
			d = drop_framing;
		else
			d = name_is_hop_by_hop(buf, name) || (drop_host && http_span_equal(buf, name, "host")) ||
			    connection_lists(fields, nfields, buf, buf + name.off, name.len);
		drop[f] = d;
		count += d;
	}
	return count;
}

size_t http_fields_to_drop(const struct http_request *r, const char *buf, bool reframe, bool *drop)
{
	return mark_drops(r->fields, r->nfields, buf, true, reframe, drop);
}

size_t http_response_fields_to_drop(const struct http_response *r, const char *buf, bool *drop)
{
	return mark_drops(r->fields, r->nfields, buf, false, false, drop);
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
