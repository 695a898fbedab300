/* HTTP/1.x heads as a forward proxy sees them (RFC 9110, RFC 9112): request heads from the client, response heads and trailer sections from the upstream; incremental parsers, framing, hop-by-hop headers, chunk-size lines; no I/O. */
#ifndef SRT_PROXY_HTTP_HEAD_H
#define SRT_PROXY_HTTP_HEAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proxy/host.h"

/* Limits. A head (request or status line, fields, final CRLF) or a
 * trailer section over HTTP_HEAD_MAX, a field line or a status line over
 * HTTP_FIELD_LINE_MAX or more than HTTP_FIELDS_MAX fields is -E2BIG (431
 * for a request); a request line over HTTP_REQUEST_LINE_MAX is
 * -ENAMETOOLONG (414). Lengths count the line's CRLF. */
#define HTTP_HEAD_MAX (64 * 1024)
#define HTTP_REQUEST_LINE_MAX (16 * 1024)
#define HTTP_FIELD_LINE_MAX (16 * 1024)
#define HTTP_FIELDS_MAX 100
#define HTTP_METHOD_MAX 32
/* A chunk-size line with its extensions and CRLF. */
#define HTTP_CHUNK_LINE_MAX 4096

/* Bytes of the parsed buffer: buf[off .. off+len). Spans stay valid as
 * long as the caller's buffer holds the head unchanged. */
struct http_span {
	size_t off;
	size_t len;
};

struct http_field {
	struct http_span name;   /* a token, case as sent */
	struct http_span value;  /* without leading and trailing OWS; may be empty */
};

enum http_framing {
	HTTP_BODY_NONE,     /* no body (CONNECT, or neither Content-Length nor Transfer-Encoding) */
	HTTP_BODY_LENGTH,   /* Content-Length: content_length bytes (may be 0) */
	HTTP_BODY_CHUNKED,  /* Transfer-Encoding: chunked */
};

/* Where a head parser stands between calls (private to http_head.c). */
struct http_head_cursor {
	size_t pos;    /* start of the first line not yet parsed */
	size_t scan;   /* where the search for that line's LF resumes */
	bool seen_start_line;
};

struct http_request {
	/* Results, meaningful once http_request_parse() returned > 0. */
	char method[HTTP_METHOD_MAX + 1];  /* NUL-terminated token, case as sent */
	bool connect;                      /* method is exactly "CONNECT" */
	struct proxy_host host;            /* the target's host, canonical */
	uint16_t port;                     /* the target's port; 80 when http:// has none */
	/* Absolute-form only: the path-abempty and query after the authority,
	 * as sent; empty or starting with '/' or '?'. The forwarder sends "/"
	 * first when it does not start with '/' (RFC 9112 section 3.2.1).
	 * For CONNECT, len is 0. */
	struct http_span path;
	int version_minor;                 /* 0 or 1: HTTP/1.0 or HTTP/1.1 */
	size_t nfields;
	struct http_field fields[HTTP_FIELDS_MAX];
	enum http_framing framing;
	uint64_t content_length;           /* HTTP_BODY_LENGTH only */
	/* Whether the client wants the connection kept after this exchange:
	 * HTTP/1.1 unless "Connection: close", HTTP/1.0 only with
	 * "Connection: keep-alive". */
	bool keep_alive;
	size_t head_len;                   /* bytes of the head, final CRLF included */

	/* Parser state between calls; set by http_request_init(). */
	struct http_head_cursor cur;
	bool seen_cl, seen_te, seen_host;

	/* Set by the caller after http_request_init(), before parsing: the
	 * request comes inside a TLS tunnel the proxy terminated. Its target
	 * is in origin-form ("/path?query", kept in path) and the host and
	 * port come from its one Host field (port 443 when it names none),
	 * which it must have; absolute-form, authority-form (CONNECT) and
	 * asterisk-form targets are refused (-EBADMSG). */
	bool origin_form;
};

/* Prepare r for a new request head. */
void http_request_init(struct http_request *r);

/*
 * Feed the head received so far: buf[0..len), the same bytes as the last
 * call plus any new ones (the parser resumes where it stopped, so each byte
 * is looked at about once however the head is split).
 *   > 0  the head is complete and valid; that many bytes are the head (the
 *        body or the next request follows); the result fields are filled.
 *     0  a valid prefix; call again with more bytes.
 *   < 0  the head can never become valid; answer and close:
 *          -EBADMSG       malformed or ambiguous            (400)
 *          -E2BIG         head, field line or field count   (431)
 *          -ENAMETOOLONG  request line too long             (414)
 *          -EPROTONOSUPPORT  not HTTP/1.0 or HTTP/1.1       (505)
 * A bad line is reported as soon as its LF has arrived, and an over-long
 * line as soon as it is over the limit, so a client cannot park a
 * connection on a head that is already doomed.
 * What is refused, and why, is written above the parser in http_head.c.
 */
int http_request_parse(struct http_request *r, const char *buf, size_t len);

/* The status code to answer for a negative result of http_request_parse()
 * or http_chunk_size_parse(): 400, 414, 431 or 505. */
int http_error_status(int err);

/*
 * Mark the fields not to forward upstream: drop[i] is set for fields[i]
 * (drop holds at least r->nfields entries). Dropped: the hop-by-hop fields
 * Connection, Keep-Alive, Proxy-Connection, TE, Trailer, Upgrade; every
 * field named in Connection; every Proxy-* field (Proxy-Authorization
 * must not leak upstream); Host, because the forwarder must send the
 * target's authority as Host (RFC 9112 section 3.2.2) so the upstream sees
 * the host the policy allowed; and Transfer-Encoding and Content-Length
 * when reframe is true (the forwarder then writes its own framing).
 * Returns the number of fields marked.
 */
size_t http_fields_to_drop(const struct http_request *r, const char *buf, bool reframe, bool *drop);

/* How the body of a response is delimited (RFC 9112 section 6.3). */
enum http_resp_framing {
	HTTP_RESP_NONE,     /* no body: 1xx, 204, 304, or the answer to HEAD */
	HTTP_RESP_LENGTH,   /* Content-Length bytes (may be 0) */
	HTTP_RESP_CHUNKED,  /* Transfer-Encoding ending in chunked */
	HTTP_RESP_CLOSE,    /* delimited by the server closing the connection */
};

struct http_response {
	/* Results, meaningful once http_response_parse() returned > 0. */
	int status;                        /* 100..599, never 101 */
	int version_minor;                 /* 0 or 1: HTTP/1.0 or HTTP/1.1 */
	size_t nfields;
	struct http_field fields[HTTP_FIELDS_MAX];
	enum http_resp_framing framing;
	uint64_t content_length;           /* HTTP_RESP_LENGTH only, else 0 */
	/* Whether the server keeps the connection after this response:
	 * HTTP/1.1 unless "Connection: close", HTTP/1.0 only with
	 * "Connection: keep-alive"; always false for HTTP_RESP_CLOSE. */
	bool keep_alive;
	size_t head_len;                   /* bytes of the head, final CRLF included */

	/* Parser state between calls; set by http_response_init(). */
	struct http_head_cursor cur;
	bool head_request;                 /* the last call's request_method_head */
	bool seen_cl, seen_te;
	bool te_chunked;                   /* chunked is among the transfer codings */
	bool te_last_chunked;              /* ... and is the last one so far */
};

/* Prepare r for a new response head. */
void http_response_init(struct http_response *r);

/*
 * Feed the response head received so far from the upstream, with the same
 * incremental contract as http_request_parse():
 *   > 0  the head is complete and valid; that many bytes are the head.
 *        A 1xx (interim) response is a complete head with framing
 *        HTTP_RESP_NONE: forward it, then parse the next head after it.
 *     0  a valid prefix; call again with more bytes.
 *   < 0  -EBADMSG (malformed or ambiguous), -E2BIG (over the limits) or
 *        -EPROTONOSUPPORT (not HTTP/1.0 or HTTP/1.1): answer 502, close.
 * request_method_head says the request was HEAD: no body follows whatever
 * the fields say. Framing per RFC 9112 section 6.3; what is refused, and
 * why, is written above the parsers in http_head.c.
 */
int http_response_parse(struct http_response *r, const char *buf, size_t len, bool request_method_head);

/*
 * Mark the response fields not to forward to the client: drop[i] is set
 * for fields[i] (drop holds at least r->nfields entries). Dropped: the
 * hop-by-hop fields Connection, Keep-Alive, Proxy-Connection, TE, Trailer,
 * Upgrade; every field named in Connection; every Proxy-* field. Never
 * Content-Length or Transfer-Encoding, even when named in Connection: the
 * forwarder relays the body as the server framed it, so the client must
 * see the same framing. Returns the number of fields marked.
 */
size_t http_response_fields_to_drop(const struct http_response *r, const char *buf, bool *drop);

/*
 * The trailer section after a last chunk ("0" chunk-size line), in
 * buf[0..len): *( field-line CRLF ) CRLF (RFC 9112 section 7.1.2).
 *   > 0  bytes of the section, its final CRLF included ("\r\n" alone is 2)
 *     0  a valid prefix no longer than HTTP_HEAD_MAX: call again
 *   < 0  -EBADMSG (malformed field line, obsolete line folding, bare CR or
 *        LF) or -E2BIG (over the limits of a head).
 * The fields are checked, not returned: the proxy drops trailers, since it
 * does not announce them to the receiver and their fields must not be
 * merged into the head (RFC 9110 section 6.5.1). Each call scans from
 * buf[0]: call it when new bytes arrived, not in a loop.
 */
int http_trailer_parse(const char *buf, size_t len);

/* Case-insensitive comparison of a span of buf with a NUL-terminated name. */
bool http_span_equal(const char *buf, struct http_span s, const char *name);

/*
 * A chunk-size line: chunk-size [ chunk-ext ] CRLF (RFC 9112 section 7.1),
 * in buf[0..len). Extensions are checked and ignored; the forwarder writes
 * its own size line without them.
 *   > 0  bytes of the line, CRLF included; *ret_size is the chunk size
 *        (0 is the last chunk, after which the trailer section follows)
 *     0  a valid prefix shorter than HTTP_CHUNK_LINE_MAX: call again
 *   < 0  -EBADMSG (not hex, size over 2^64-1 or over max_size, bad
 *        extension, bare CR or LF) or -E2BIG (line too long); both 400.
 */
int http_chunk_size_parse(const char *buf, size_t len, uint64_t max_size, uint64_t *ret_size);

#endif
