/* Reads the server name (SNI) from the first bytes of a TLS stream, so a CONNECT tunnel can be checked against its host; no I/O. */
#ifndef SRT_PROXY_SNI_H
#define SRT_PROXY_SNI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The longest server name we return (a DNS name is at most 253 characters
 * plus an optional trailing dot; 255 leaves room and matches SOCKS). */
#define SNI_NAME_MAX 255

/* The largest TLS plaintext record (RFC 8446 section 5.1) and so the most
 * bytes sni_read() ever needs: header + payload. A caller that has buffered
 * this much and still gets SNI_NEED_MORE has a bug; it never happens. */
#define SNI_RECORD_MAX 16384
#define SNI_PEEK_MAX (5 + SNI_RECORD_MAX)

enum sni_status {
	SNI_FOUND,       /* a host_name was found and copied out */
	SNI_NO_SNI,      /* a well-formed ClientHello without a host_name */
	SNI_NEED_MORE,   /* a valid prefix: call again with more bytes */
	SNI_NOT_TLS,     /* not a TLS handshake starting with a ClientHello */
	SNI_MALFORMED,   /* a ClientHello that breaks its own lengths or the RFCs */
	SNI_UNSUPPORTED, /* a ClientHello split over more than one record: legal TLS,
			  * but we read a single record only; the caller should fail
			  * closed, since splitting is also a way to hide the name */
};

/*
 * Examine buf[0..len), the first bytes a client sent into a tunnel.
 *
 * The whole ClientHello must sit in the first record (which is what every
 * mainstream TLS stack sends), so at most SNI_PEEK_MAX bytes are ever
 * needed: NEED_MORE is returned only while len is below the end of that
 * record. A record longer than 16 KiB is MALFORMED (RFC 8446 forbids it);
 * a ClientHello longer than its record is UNSUPPORTED.
 *
 * NOT_TLS: the first byte is not 0x16 (handshake) or the first handshake
 * message is not a ClientHello (1). Everything else after a 0x16 that does
 * not parse is MALFORMED, so that a client cannot slip past the check with a
 * hello that the server would still accept.
 *
 * On SNI_FOUND, ret_name (SNI_NAME_MAX + 1 bytes) receives the name,
 * NUL-terminated, bytes as sent. A name that is empty, longer than 255
 * bytes, or contains a NUL, control character, space or DEL is MALFORMED;
 * so are two server_name extensions or two host_name entries (a server
 * might believe the other one). ret_name is untouched otherwise.
 */
enum sni_status sni_read(const uint8_t *buf, size_t len, char *ret_name);

/* Does the SNI name the host? ASCII case-insensitive, one trailing dot
 * ignored on either side; NULL or empty names never match. */
bool sni_matches_host(const char *sni, const char *host);

/* A short constant description of a status, for logs and violations. */
const char *sni_status_name(enum sni_status status);

#endif
