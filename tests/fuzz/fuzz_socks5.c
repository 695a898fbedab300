/* libFuzzer target: the SOCKS5 greeting, auth and request parsers, and their incremental contract. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/socks5.h"

/* A complete message must look incomplete at every shorter length: a parser
 * that decided early on a valid message would desynchronize the stream. */
static void check_prefixes(const uint8_t *data, int consumed,
			   int (*parse)(const uint8_t *, size_t))
{
	for (int i = 0; i < consumed; i++)
		if (parse(data, (size_t)i) != 0)
			abort();
}

static int greeting(const uint8_t *d, size_t n)
{
	uint8_t m, code;
	return socks5_parse_greeting(d, n, &m, &code);
}

static int auth(const uint8_t *d, size_t n)
{
	uint8_t code;
	return socks5_parse_auth(d, n, &code);
}

static int request(const uint8_t *d, size_t n)
{
	struct socks5_request req;
	uint8_t code;
	return socks5_parse_request(d, n, &req, &code);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t method = 0x55, code = 0x55;
	int r = socks5_parse_greeting(data, size, &method, &code);
	if (r > (int)size || r > SOCKS5_GREETING_MAX || (r == 0 && size >= SOCKS5_GREETING_MAX))
		abort();
	if (r > 0) {
		if (method != 0x00 && method != 0x02 && method != 0xFF)
			abort();
		check_prefixes(data, r, greeting);
	} else if (r < 0 && code != SOCKS5_REP_GENERAL_FAILURE) {
		abort();
	}

	r = socks5_parse_auth(data, size, &code);
	if (r > (int)size || r > SOCKS5_AUTH_MAX || (r == 0 && size >= SOCKS5_AUTH_MAX))
		abort();
	if (r > 0)
		check_prefixes(data, r, auth);

	struct socks5_request req;
	memset(&req, 0xAA, sizeof(req));
	r = socks5_parse_request(data, size, &req, &code);
	if (r > (int)size || r > SOCKS5_REQUEST_MAX || (r == 0 && size >= SOCKS5_REQUEST_MAX))
		abort();
	if (r > 0) {
		if (req.cmd != SOCKS5_CMD_CONNECT || req.port == 0)
			abort();
		if (req.atyp == SOCKS5_ATYP_DOMAIN) {
			size_t n = strnlen(req.host, sizeof(req.host));
			/* The name ends exactly where its length byte says. */
			if (n == 0 || n == sizeof(req.host) || n != data[4])
				abort();
		} else if (req.atyp != SOCKS5_ATYP_IPV4 && req.atyp != SOCKS5_ATYP_IPV6) {
			abort();
		}
		check_prefixes(data, r, request);
	} else if (r < 0 && code != 0x01 && code != 0x07 && code != 0x08) {
		abort();
	}

	uint8_t out[SOCKS5_REPLY_MAX];
	uint8_t addr[16] = { 0 };
	if (size >= 3) {
		r = socks5_build_reply(out, sizeof(out), data[0], data[1], (data[2] & 1) ? addr : NULL, 80);
		if (r > (int)sizeof(out))
			abort();
	}
	return 0;
}
