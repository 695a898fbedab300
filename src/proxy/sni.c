/* Reads the server name (SNI) from the first bytes of a TLS stream, so a CONNECT tunnel can be checked against its host; no I/O. */
#include "proxy/sni.h"

#include <string.h>

/* A window onto bytes that are known to be present. Every read checks the
 * window's own end, and a window is only ever carved out of its parent after
 * checking the parent's end, so a length is always checked against both its
 * enclosing length and the buffer. */
struct sni_span {
	const uint8_t *p;
	size_t len;
	size_t pos;
};

static size_t span_left(const struct sni_span *s)
{
	return s->len - s->pos;
}

static bool span_u8(struct sni_span *s, size_t *ret)
{
	if (span_left(s) < 1)
		return false;
	*ret = s->p[s->pos];
	s->pos += 1;
	return true;
}

static bool span_u16(struct sni_span *s, size_t *ret)
{
	if (span_left(s) < 2)
		return false;
	*ret = ((size_t)s->p[s->pos] << 8) | s->p[s->pos + 1];
	s->pos += 2;
	return true;
}

static bool span_skip(struct sni_span *s, size_t n)
{
	if (span_left(s) < n)
		return false;
	s->pos += n;
	return true;
}

/* Carve the next n bytes out of s as a window of their own. */
static bool span_sub(struct sni_span *s, size_t n, struct sni_span *ret)
{
	if (span_left(s) < n)
		return false;
	*ret = (struct sni_span){ .p = s->p + s->pos, .len = n, .pos = 0 };
	s->pos += n;
	return true;
}

/*
 * server_name extension data (RFC 6066 section 3):
 *
 *   ServerNameList := list_len:2 ServerName*        list_len == rest, >= 1 entry
 *   ServerName     := name_type:1 name_len:2 name   (type 0 = host_name)
 *
 * Unknown name types are skipped by their length (every type defined so
 * far has one); at most one host_name is allowed.
 */
static enum sni_status sni_read_server_name(struct sni_span *ext, char *ret_name)
{
	size_t list_len;
	struct sni_span list;
	if (!span_u16(ext, &list_len) || list_len != span_left(ext) || list_len == 0)
		return SNI_MALFORMED;
	if (!span_sub(ext, list_len, &list))
		return SNI_MALFORMED;

	const uint8_t *name = NULL;
	size_t name_len = 0;
	while (span_left(&list) > 0) {
		size_t type, len;
		if (!span_u8(&list, &type) || !span_u16(&list, &len) || len > span_left(&list))
			return SNI_MALFORMED;
		if (type == 0) {
			if (name)
				return SNI_MALFORMED;
			name = list.p + list.pos;
			name_len = len;
		}
		span_skip(&list, len);
	}
	if (!name)
		return SNI_NO_SNI;
	/* "." alone names no host (the root, trailing dot stripped). */
	if (name_len == 0 || name_len > SNI_NAME_MAX || (name_len == 1 && name[0] == '.'))
		return SNI_MALFORMED;
	for (size_t i = 0; i < name_len; i++)
		if (name[i] <= 0x20 || name[i] == 0x7f)
			return SNI_MALFORMED;
	memcpy(ret_name, name, name_len);
	ret_name[name_len] = '\0';
	return SNI_FOUND;
}

/*
 * ClientHello body (RFC 8446 section 4.1.2, RFC 5246 section 7.4.1.2):
 *
 *   legacy_version:2 random:32
 *   session_id_len:1 (<= 32) session_id
 *   cipher_suites_len:2 (even, >= 2) cipher_suites
 *   compression_len:1 (>= 1) compression_methods
 *   [ extensions_len:2 (== rest of body) Extension* ]
 *   Extension := type:2 len:2 data:len
 */
static enum sni_status sni_read_client_hello(struct sni_span *hello, char *ret_name)
{
	size_t n;
	if (!span_skip(hello, 2 + 32))
		return SNI_MALFORMED;
	if (!span_u8(hello, &n) || n > 32 || !span_skip(hello, n))
		return SNI_MALFORMED;
	if (!span_u16(hello, &n) || n == 0 || n % 2 != 0 || !span_skip(hello, n))
		return SNI_MALFORMED;
	if (!span_u8(hello, &n) || n == 0 || !span_skip(hello, n))
		return SNI_MALFORMED;
	if (span_left(hello) == 0)
		return SNI_NO_SNI; /* extensions are optional before TLS 1.3 */

	struct sni_span exts;
	if (!span_u16(hello, &n) || n != span_left(hello) || !span_sub(hello, n, &exts))
		return SNI_MALFORMED;

	/* Walk every extension even after the name is found: a second
	 * server_name, or a broken length further on, must still be refused. */
	enum sni_status result = SNI_NO_SNI;
	bool seen = false;
	while (span_left(&exts) > 0) {
		size_t type, len;
		struct sni_span ext;
		if (!span_u16(&exts, &type) || !span_u16(&exts, &len) || !span_sub(&exts, len, &ext))
			return SNI_MALFORMED;
		if (type != 0)
			continue;
		if (seen)
			return SNI_MALFORMED;
		seen = true;
		result = sni_read_server_name(&ext, ret_name);
		if (result == SNI_MALFORMED)
			return result;
	}
	return result;
}

/*
 * Record and handshake headers (RFC 8446 sections 5.1 and 4):
 *
 *   offset 0  content_type:1   0x16 handshake, else NOT_TLS
 *          1  legacy_version:2 0x03 0x?? (0x0301 in practice)
 *          3  length:2         1 .. 16384
 *          5  msg_type:1       0x01 ClientHello, else NOT_TLS
 *          6  length:3         <= record length - 4, else UNSUPPORTED
 *          9  ClientHello body
 *
 * Each verdict is given as soon as the byte that decides it has arrived.
 */
enum sni_status sni_read(const uint8_t *buf, size_t len, char *ret_name)
{
	if (len < 1)
		return SNI_NEED_MORE;
	if (buf[0] != 0x16)
		return SNI_NOT_TLS;
	if (len < 2)
		return SNI_NEED_MORE;
	if (buf[1] != 0x03)
		return SNI_MALFORMED;
	if (len < 5)
		return SNI_NEED_MORE;
	size_t record_len = ((size_t)buf[3] << 8) | buf[4];
	if (record_len == 0 || record_len > SNI_RECORD_MAX)
		return SNI_MALFORMED;
	if (len < 6)
		return SNI_NEED_MORE;
	if (buf[5] != 0x01)
		return SNI_NOT_TLS;
	if (record_len < 4)
		return SNI_UNSUPPORTED; /* even the handshake header is split */
	if (len < 9)
		return SNI_NEED_MORE;
	size_t hello_len = ((size_t)buf[6] << 16) | ((size_t)buf[7] << 8) | buf[8];
	if (hello_len > record_len - 4)
		return SNI_UNSUPPORTED;
	if (len - 9 < hello_len)
		return SNI_NEED_MORE;

	struct sni_span hello = { .p = buf + 9, .len = hello_len, .pos = 0 };
	char name[SNI_NAME_MAX + 1];
	enum sni_status result = sni_read_client_hello(&hello, name);
	if (result == SNI_FOUND && ret_name)
		memcpy(ret_name, name, strlen(name) + 1);
	return result;
}

static char sni_ascii_lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

bool sni_matches_host(const char *sni, const char *host)
{
	if (!sni || !host)
		return false;
	size_t a = strlen(sni), b = strlen(host);
	if (a > 0 && sni[a - 1] == '.')
		a--;
	if (b > 0 && host[b - 1] == '.')
		b--;
	if (a == 0 || a != b)
		return false;
	/* ASCII only: the locale must not decide whether two names are equal. */
	for (size_t i = 0; i < a; i++)
		if (sni_ascii_lower(sni[i]) != sni_ascii_lower(host[i]))
			return false;
	return true;
}

const char *sni_status_name(enum sni_status status)
{
	switch (status) {
	case SNI_FOUND:
		return "server name found";
	case SNI_NO_SNI:
		return "no server name";
	case SNI_NEED_MORE:
		return "incomplete ClientHello";
	case SNI_NOT_TLS:
		return "not a TLS ClientHello";
	case SNI_MALFORMED:
		return "malformed ClientHello";
	case SNI_UNSUPPORTED:
		return "ClientHello split over several records";
	}
	return "unknown";
}
