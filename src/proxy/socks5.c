/* SOCKS5 server side wire format (RFC 1928, RFC 1929): incremental parsers and reply builders, no I/O. */
#include "proxy/socks5.h"

#include <errno.h>
#include <string.h>

static int socks5_fail(uint8_t *reply_code, uint8_t code, int err)
{
	if (reply_code)
		*reply_code = code;
	return err;
}

/*
 * Greeting (client -> server), RFC 1928 section 3:
 *
 *   +-----+----------+----------------+
 *   | VER | NMETHODS | METHODS        |
 *   +-----+----------+----------------+
 *   |  1  |    1     | NMETHODS bytes |
 *   +-----+----------+----------------+
 *   VER = 0x05, NMETHODS >= 1
 */
int socks5_parse_greeting(const uint8_t *buf, size_t len, uint8_t *ret_method, uint8_t *reply_code)
{
	if (len < 1)
		return 0;
	if (buf[0] != SOCKS5_VERSION)
		return socks5_fail(reply_code, SOCKS5_REP_GENERAL_FAILURE, -EBADMSG);
	if (len < 2)
		return 0;
	size_t nmethods = buf[1];
	if (nmethods == 0)
		return socks5_fail(reply_code, SOCKS5_REP_GENERAL_FAILURE, -EBADMSG);
	if (len < 2 + nmethods)
		return 0;

	/* No-auth is preferred: credentials would be ignored anyway, so asking
	 * for them only costs the client a round trip. */
	uint8_t method = SOCKS5_METHOD_NONE_ACCEPTABLE;
	for (size_t i = 0; i < nmethods; i++) {
		uint8_t m = buf[2 + i];
		if (m == SOCKS5_METHOD_NO_AUTH)
			method = SOCKS5_METHOD_NO_AUTH;
		else if (m == SOCKS5_METHOD_USERPASS && method != SOCKS5_METHOD_NO_AUTH)
			method = SOCKS5_METHOD_USERPASS;
	}
	if (ret_method)
		*ret_method = method;
	return (int)(2 + nmethods);
}

/*
 * Username/password sub-negotiation (client -> server), RFC 1929 section 2:
 *
 *   +-----+------+----------+------+----------+
 *   | VER | ULEN |  UNAME   | PLEN |  PASSWD  |
 *   +-----+------+----------+------+----------+
 *   |  1  |  1   | 1 to 255 |  1   | 0 to 255 |
 *   +-----+------+----------+------+----------+
 *   VER = 0x01, ULEN >= 1 (PLEN may be 0: some clients send a user only)
 */
int socks5_parse_auth(const uint8_t *buf, size_t len, uint8_t *reply_code)
{
	if (len < 1)
		return 0;
	if (buf[0] != SOCKS5_AUTH_VERSION)
		return socks5_fail(reply_code, SOCKS5_AUTH_FAILURE, -EBADMSG);
	if (len < 2)
		return 0;
	size_t ulen = buf[1];
	if (ulen == 0)
		return socks5_fail(reply_code, SOCKS5_AUTH_FAILURE, -EBADMSG);
	size_t plen_at = 2 + ulen;
	if (len < plen_at + 1)
		return 0;
	size_t plen = buf[plen_at];
	size_t total = plen_at + 1 + plen;
	if (len < total)
		return 0;
	return (int)total;
}

/*
 * Request (client -> server), RFC 1928 section 4:
 *
 *   +-----+-----+-------+------+----------+----------+
 *   | VER | CMD |  RSV  | ATYP | DST.ADDR | DST.PORT |
 *   +-----+-----+-------+------+----------+----------+
 *   |  1  |  1  | X'00' |  1   | Variable |    2     |
 *   +-----+-----+-------+------+----------+----------+
 *   VER = 0x05, CMD = 0x01 (0x02 and 0x03 exist but are refused), RSV = 0x00
 *   DST.ADDR by ATYP:
 *     0x01  4 bytes IPv4
 *     0x03  LEN:1 NAME:LEN, 1 <= LEN, no NUL byte in NAME
 *     0x04  16 bytes IPv6
 *   DST.PORT network order, != 0
 *
 * The NUL check matters: a name like "allowed.com\0.evil" must not reach a
 * string-based suffix match as "allowed.com" (a known srt bypass).
 */
int socks5_parse_request(const uint8_t *buf, size_t len, struct socks5_request *ret_req, uint8_t *reply_code)
{
	if (len < 1)
		return 0;
	if (buf[0] != SOCKS5_VERSION)
		return socks5_fail(reply_code, SOCKS5_REP_GENERAL_FAILURE, -EBADMSG);
	if (len < 2)
		return 0;
	uint8_t cmd = buf[1];
	if (cmd != SOCKS5_CMD_CONNECT)
		return socks5_fail(reply_code, SOCKS5_REP_COMMAND_NOT_SUPPORTED, -EOPNOTSUPP);
	if (len < 3)
		return 0;
	if (buf[2] != 0x00)
		return socks5_fail(reply_code, SOCKS5_REP_GENERAL_FAILURE, -EBADMSG);
	if (len < 4)
		return 0;
	uint8_t atyp = buf[3];

	size_t addr_at = 4, addr_len;
	switch (atyp) {
	case SOCKS5_ATYP_IPV4:
		addr_len = 4;
		break;
	case SOCKS5_ATYP_IPV6:
		addr_len = 16;
		break;
	case SOCKS5_ATYP_DOMAIN:
		if (len < 5)
			return 0;
		addr_len = buf[4];
		addr_at = 5;
		if (addr_len == 0)
			return socks5_fail(reply_code, SOCKS5_REP_GENERAL_FAILURE, -EBADMSG);
		/* Refuse a NUL as soon as it arrives rather than at the end. */
		size_t have = len - addr_at < addr_len ? len - addr_at : addr_len;
		if (memchr(buf + addr_at, 0, have))
			return socks5_fail(reply_code, SOCKS5_REP_GENERAL_FAILURE, -EBADMSG);
		break;
	default:
		return socks5_fail(reply_code, SOCKS5_REP_ATYP_NOT_SUPPORTED, -EAFNOSUPPORT);
	}

	size_t port_at = addr_at + addr_len;
	size_t total = port_at + 2;
	if (len < total)
		return 0;
	uint16_t port = (uint16_t)((buf[port_at] << 8) | buf[port_at + 1]);
	if (port == 0)
		return socks5_fail(reply_code, SOCKS5_REP_GENERAL_FAILURE, -EBADMSG);

	if (ret_req) {
		memset(ret_req, 0, sizeof(*ret_req));
		ret_req->cmd = cmd;
		ret_req->atyp = atyp;
		ret_req->port = port;
		if (atyp == SOCKS5_ATYP_IPV4)
			memcpy(ret_req->ipv4, buf + addr_at, 4);
		else if (atyp == SOCKS5_ATYP_IPV6)
			memcpy(ret_req->ipv6, buf + addr_at, 16);
		else
			memcpy(ret_req->host, buf + addr_at, addr_len); /* addr_len <= 255, NUL from memset */
	}
	return (int)total;
}

int socks5_build_method(uint8_t *out, size_t cap, uint8_t method)
{
	if (!out)
		return -EINVAL;
	if (cap < 2)
		return -ENOSPC;
	out[0] = SOCKS5_VERSION;
	out[1] = method;
	return 2;
}

int socks5_build_auth_status(uint8_t *out, size_t cap, uint8_t status)
{
	if (!out)
		return -EINVAL;
	if (cap < 2)
		return -ENOSPC;
	out[0] = SOCKS5_AUTH_VERSION;
	out[1] = status;
	return 2;
}

/*
 * Reply (server -> client), RFC 1928 section 6:
 *
 *   VER:1 REP:1 RSV:1=0x00 ATYP:1 BND.ADDR:4|16 BND.PORT:2
 */
int socks5_build_reply(uint8_t *out, size_t cap, uint8_t rep, uint8_t bnd_atyp,
		       const uint8_t *bnd_addr, uint16_t bnd_port)
{
	if (!out)
		return -EINVAL;
	size_t addr_len;
	if (!bnd_addr) {
		/* Clients ignore BND for CONNECT; the zero address says nothing
		 * about the host's interfaces. */
		bnd_atyp = SOCKS5_ATYP_IPV4;
		bnd_port = 0;
		addr_len = 4;
	} else if (bnd_atyp == SOCKS5_ATYP_IPV4) {
		addr_len = 4;
	} else if (bnd_atyp == SOCKS5_ATYP_IPV6) {
		addr_len = 16;
	} else {
		return -EINVAL;
	}
	size_t total = 4 + addr_len + 2;
	if (cap < total)
		return -ENOSPC;
	out[0] = SOCKS5_VERSION;
	out[1] = rep;
	out[2] = 0x00;
	out[3] = bnd_atyp;
	if (bnd_addr)
		memcpy(out + 4, bnd_addr, addr_len);
	else
		memset(out + 4, 0, addr_len);
	out[4 + addr_len] = (uint8_t)(bnd_port >> 8);
	out[4 + addr_len + 1] = (uint8_t)(bnd_port & 0xff);
	return (int)total;
}
