/* libFuzzer target: upstream proxies: proxy URLs, noProxy lists, the parent's CONNECT response head, SOCKS5 replies, and the handshake state machine fed in pieces. The first byte picks the parser. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/parent.h"

static void check_url(const char *text)
{
	struct parent_url u;
	const char *why = NULL;
	if (parent_url_parse(text, &u, &why) < 0) {
		if (!why)
			abort();
		return;
	}
	/* The name for messages carries no credentials, and no control or
	 * non-ASCII byte; it parses back to the same place. */
	if (strchr(u.name, '@'))
		abort();
	for (const unsigned char *c = (const unsigned char *)u.name; *c; c++)
		if (*c < 0x20 || *c >= 0x7f)
			abort();
	for (size_t i = 0; i < u.user_len; i++)
		if ((unsigned char)u.user[i] < 0x20 || u.user[i] == 0x7f || u.user[i] == ':')
			abort();
	for (size_t i = 0; i < u.pass_len; i++)
		if ((unsigned char)u.pass[i] < 0x20 || u.pass[i] == 0x7f)
			abort();
	if (u.user_len > PARENT_CRED_MAX || u.pass_len > PARENT_CRED_MAX || u.port == 0)
		abort();
	struct parent_url back;
	if (parent_url_parse(u.name, &back, NULL) < 0 || back.port != u.port || back.scheme != u.scheme ||
	    strcmp(back.host.text, u.host.text) != 0 || back.has_auth)
		abort();
	/* Its CONNECT request is one head: no CR or LF inside a line. */
	struct proxy_host h;
	if (proxy_host_canonical("a.test", 6, &h, NULL) == 0) {
		size_t n = 0;
		char *req = parent_connect_request(&u, &h, 443, &n);
		if (!req)
			abort();
		char *end = strstr(req, "\r\n\r\n");
		if (!end || (size_t)(end - req) + 4 != n)
			abort();
		for (char *p = req; p < end; p++)
			if ((*p == '\r' && p[1] != '\n') || (*p == '\n' && p[-1] != '\r'))
				abort();
		free(req);
	}
	parent_url_clear(&u);
}

static void check_no_proxy(const char *text)
{
	struct no_proxy np;
	const char *why = NULL;
	size_t bad = 0;
	if (no_proxy_parse(text, true, &np, &why, &bad) == 0)
		no_proxy_free(&np);
	if (no_proxy_parse(text, false, &np, &why, &bad) < 0)
		return;
	static const char *const hosts[] = { "a.test", "b.a.test", "127.0.0.1", "10.1.2.3", "::1", "2001:db8::1",
					     "localhost", "example.com" };
	for (size_t i = 0; i < sizeof(hosts) / sizeof(hosts[0]); i++) {
		struct proxy_host h;
		if (proxy_host_canonical(hosts[i], strlen(hosts[i]), &h, NULL) == 0)
			(void)no_proxy_match(&np, &h);
	}
	no_proxy_free(&np);
}

static void check_http_head(const uint8_t *d, size_t n)
{
	int status = -1;
	int r = parent_parse_http_head(d, n, &status);
	if (r > 0) {
		if ((size_t)r > n || status < 100 || status > 599)
			abort();
		size_t cuts[] = { 0, (size_t)r / 2, (size_t)r - 1, (size_t)status % (size_t)r };
		for (size_t i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++) {
			int s2;
			if (parent_parse_http_head(d, cuts[i], &s2) != 0)
				abort();
		}
	}
}

static void check_socks_reply(const uint8_t *d, size_t n)
{
	uint8_t rep;
	int r = parent_parse_socks_reply(d, n, &rep);
	if (r > 0) {
		if ((size_t)r > n)
			abort();
		for (int i = 0; i < r; i++)
			if (parent_parse_socks_reply(d, (size_t)i, &rep) != 0)
				abort();
	}
}

/* The handshake with the answer cut where the data says. */
static void check_handshake(const uint8_t *d, size_t n)
{
	if (n < 2)
		return;
	static const char *const urls[] = { "http://u:p@p:1", "socks5h://p:1", "socks5h://al:pw@p:1", "socks5://p:1" };
	struct parent_url u;
	if (parent_url_parse(urls[d[0] % 4], &u, NULL) < 0)
		abort();
	size_t step = (size_t)(d[1] % 16) + 1;
	d += 2;
	n -= 2;
	struct proxy_host h;
	if (proxy_host_canonical("target.test", 11, &h, NULL) < 0)
		abort();
	struct parent_hs hs;
	char *out = NULL;
	size_t out_len = 0;
	if (parent_hs_start(&hs, &u, &h, NULL, 443, &out, &out_len) != PARENT_SEND)
		abort();
	free(out);
	size_t off = 0, have = 0;
	for (int guard = 0; guard < 100000; guard++) {
		have = have + step < n - off ? have + step : n - off;
		size_t used = 0;
		out = NULL;
		int r = parent_hs_feed(&hs, d + off, have, &used, &out, &out_len);
		if (used > have)
			abort();
		off += used;
		have -= used;
		if (r == PARENT_SEND) {
			if (!out || out_len == 0)
				abort();
			free(out);
			continue;
		}
		if (out)
			abort();
		if (r != PARENT_MORE) {
			char msg[160];
			parent_hs_describe(&hs, r, msg, sizeof(msg));
			break;
		}
		if (off + have >= n)
			break;
	}
	parent_url_clear(&u);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1 || size > 70000)
		return 0;
	uint8_t which = data[0] % 5;
	data++;
	size--;
	if (which <= 1) {
		char *text = malloc(size + 1);
		if (!text)
			return 0;
		memcpy(text, data, size);
		text[size] = '\0';
		if (which == 0)
			check_url(text);
		else
			check_no_proxy(text);
		free(text);
	} else if (which == 2) {
		check_http_head(data, size);
	} else if (which == 3) {
		check_socks_reply(data, size);
	} else {
		check_handshake(data, size);
	}
	return 0;
}
