/* SOCKS5 server side wire format (RFC 1928, RFC 1929): incremental parsers and reply builders, no I/O. */
#ifndef SRT_PROXY_SOCKS5_H
#define SRT_PROXY_SOCKS5_H

#include <stddef.h>
#include <stdint.h>

#define SOCKS5_VERSION 0x05
#define SOCKS5_AUTH_VERSION 0x01 /* RFC 1929 sub-negotiation version */

/* METHOD values in the greeting and the method selection. */
#define SOCKS5_METHOD_NO_AUTH 0x00
#define SOCKS5_METHOD_USERPASS 0x02
#define SOCKS5_METHOD_NONE_ACCEPTABLE 0xFF

/* CMD values. Only CONNECT is served; the others are answered 0x07. */
#define SOCKS5_CMD_CONNECT 0x01
#define SOCKS5_CMD_BIND 0x02
#define SOCKS5_CMD_UDP_ASSOCIATE 0x03

/* ATYP values. */
#define SOCKS5_ATYP_IPV4 0x01
#define SOCKS5_ATYP_DOMAIN 0x03
#define SOCKS5_ATYP_IPV6 0x04

/* REP values of the request reply (RFC 1928 section 6). */
#define SOCKS5_REP_SUCCEEDED 0x00
#define SOCKS5_REP_GENERAL_FAILURE 0x01
#define SOCKS5_REP_NOT_ALLOWED 0x02
#define SOCKS5_REP_NETWORK_UNREACHABLE 0x03
#define SOCKS5_REP_HOST_UNREACHABLE 0x04
#define SOCKS5_REP_CONNECTION_REFUSED 0x05
#define SOCKS5_REP_TTL_EXPIRED 0x06
#define SOCKS5_REP_COMMAND_NOT_SUPPORTED 0x07
#define SOCKS5_REP_ATYP_NOT_SUPPORTED 0x08

/* STATUS values of the RFC 1929 reply. */
#define SOCKS5_AUTH_SUCCESS 0x00
#define SOCKS5_AUTH_FAILURE 0x01

/* The longest message of each kind, so a caller can size its input buffer
 * and know that a parser still answering "need more" at this size is broken. */
#define SOCKS5_GREETING_MAX (2 + 255)
#define SOCKS5_AUTH_MAX (1 + 1 + 255 + 1 + 255)
#define SOCKS5_REQUEST_MAX (4 + 1 + 255 + 2)
#define SOCKS5_REPLY_MAX (4 + 16 + 2)

/* A parsed request. Exactly one of host / ipv4 / ipv6 is meaningful, as atyp
 * says; the others are zero. */
struct socks5_request {
	uint8_t cmd;           /* always SOCKS5_CMD_CONNECT on success */
	uint8_t atyp;          /* SOCKS5_ATYP_* */
	char host[256];        /* ATYP_DOMAIN: the raw name, NUL-terminated, 1..255 bytes, no NUL inside */
	uint8_t ipv4[4];       /* ATYP_IPV4, network order */
	uint8_t ipv6[16];      /* ATYP_IPV6, network order */
	uint16_t port;         /* host order, never 0 */
};

/*
 * The three parsers share one contract, so that a caller can feed them
 * whatever has arrived so far (buf[0..len)) and call again when more comes:
 *
 *   > 0  the message is complete and valid; that many bytes were consumed
 *        (bytes after them belong to the next message); ret_* are written.
 *     0  the bytes so far are a valid prefix; call again with more.
 *   < 0  the bytes can never become a valid message; *reply_code (when not
 *        NULL) receives the code to answer with before closing, and ret_*
 *        are left untouched:
 *          -EBADMSG      malformed                     (0x01 general failure)
 *          -EOPNOTSUPP   BIND, UDP ASSOCIATE, unknown  (0x07)
 *          -EAFNOSUPPORT unknown ATYP                  (0x08)
 *
 * Malformed input is reported as soon as the offending byte has arrived, not
 * only when the message is complete: a hostile client cannot park a
 * connection by announcing more bytes after a bad one.
 */

/* The greeting: VER NMETHODS METHODS. ret_method receives the method to
 * select: no-auth when offered, else username/password when offered, else
 * SOCKS5_METHOD_NONE_ACCEPTABLE (a well-formed greeting still: the caller
 * sends that selection and closes). Malformed: VER != 5, NMETHODS == 0. */
int socks5_parse_greeting(const uint8_t *buf, size_t len, uint8_t *ret_method, uint8_t *reply_code);

/* The RFC 1929 username/password sub-negotiation: VER ULEN UNAME PLEN PASSWD.
 * The credentials are not returned: the sandbox's listener already says who
 * the client is, so they are accepted and ignored. Malformed: VER != 1,
 * ULEN == 0. reply_code is SOCKS5_AUTH_FAILURE on error. */
int socks5_parse_auth(const uint8_t *buf, size_t len, uint8_t *reply_code);

/* The request: VER CMD RSV ATYP DST.ADDR DST.PORT. Only CONNECT succeeds.
 * Malformed: VER != 5, RSV != 0, an empty domain, a domain with a NUL byte,
 * port 0. */
int socks5_parse_request(const uint8_t *buf, size_t len, struct socks5_request *ret_req, uint8_t *reply_code);

/* Builders. Each writes into out (cap bytes) and returns the number of bytes
 * written, or -ENOSPC when cap is too small, or -EINVAL for a bad argument. */

/* VER METHOD (2 bytes). */
int socks5_build_method(uint8_t *out, size_t cap, uint8_t method);

/* RFC 1929 VER STATUS (2 bytes). */
int socks5_build_auth_status(uint8_t *out, size_t cap, uint8_t status);

/* VER REP RSV ATYP BND.ADDR BND.PORT. bnd_atyp is SOCKS5_ATYP_IPV4 (bnd_addr
 * holds 4 bytes) or SOCKS5_ATYP_IPV6 (16 bytes); bnd_addr NULL means
 * 0.0.0.0:0, which is what clients get unless the caller knows better.
 * Domain BND.ADDR is refused (-EINVAL): we never need to send one. */
int socks5_build_reply(uint8_t *out, size_t cap, uint8_t rep, uint8_t bnd_atyp,
		       const uint8_t *bnd_addr, uint16_t bnd_port);

#endif
