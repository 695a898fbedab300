/* Upstream proxies: parent proxy URLs, noProxy lists, the mitmProxy route, and the client side of the handshakes srt speaks to them (HTTP CONNECT, SOCKS5). No I/O. */
#include "proxy/parent.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "proxy/socks5.h"

/* ---- URLs ----------------------------------------------------------------- */

static void wipe(void *p, size_t n)
{
	volatile unsigned char *v = p;
	while (n--)
		*v++ = 0;
}

static int hexval(int ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	ch = tolower(ch);
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	return -1;
}

/* Percent-decode in[0..n) into out (at most PARENT_CRED_MAX bytes). */
static int decode_cred(const char *in, size_t n, char *out, size_t *out_len, bool is_user, const char **why)
{
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		int ch = (unsigned char)in[i];
		if (ch == '%') {
			if (i + 2 >= n || hexval(in[i + 1]) < 0 || hexval(in[i + 2]) < 0) {
				*why = "a bad %-escape in the user name or password";
				return -EINVAL;
			}
			ch = hexval(in[i + 1]) * 16 + hexval(in[i + 2]);
			i += 2;
		} else if (ch <= 0x20 || ch == 0x7f || ch == '/' || ch == '?' || ch == '#' || ch == '[' || ch == ']' ||
			   ch == '@') {
			*why = "a character in the user name or password that must be %-escaped";
			return -EINVAL;
		}
		if (ch < 0x20 || ch == 0x7f) {
			*why = "a control character in the user name or password";
			return -EINVAL;
		}
		if (is_user && ch == ':') {
			*why = "a ':' in the user name";
			return -EINVAL;
		}
		if (k >= PARENT_CRED_MAX) {
			*why = "a user name or password longer than 255 bytes";
			return -EINVAL;
		}
		out[k++] = (char)ch;
	}
	out[k] = '\0';
	*out_len = k;
	return 0;
}

static void make_name(struct parent_url *u)
{
	static const char *const schemes[] = {
		[PARENT_HTTP] = "http", [PARENT_HTTPS] = "https", [PARENT_SOCKS5] = "socks5",
		[PARENT_SOCKS5H] = "socks5h",
	};
	if (u->scheme == PARENT_UNIX)
		snprintf(u->name, sizeof(u->name), "mitmProxy socket %s", u->path);
	else
		snprintf(u->name, sizeof(u->name), u->host.kind == PROXY_HOST_IPV6 ? "%s://[%s]:%u" : "%s://%s:%u",
			 schemes[u->scheme], u->host.text, (unsigned)u->port);
}

int parent_url_parse(const char *text, struct parent_url *ret, const char **why)
{
	const char *dummy;
	if (!why)
		why = &dummy;
	if (!text || !*text) {
		*why = "an empty URL";
		return -EINVAL;
	}
	struct parent_url *u = calloc(1, sizeof(*u));
	if (!u) {
		*why = "out of memory";
		return -ENOMEM;
	}
	int r = -EINVAL;
	const char *p = text;
	const char *sep = strstr(p, "://");
	uint16_t default_port = 80;
	u->scheme = PARENT_HTTP;
	if (sep) {
		size_t sl = (size_t)(sep - p);
		if (sl == 4 && strncasecmp(p, "http", 4) == 0) {
			u->scheme = PARENT_HTTP;
		} else if (sl == 5 && strncasecmp(p, "https", 5) == 0) {
			u->scheme = PARENT_HTTPS;
			default_port = 443;
		} else if (sl == 6 && strncasecmp(p, "socks5", 6) == 0) {
			u->scheme = PARENT_SOCKS5;
			default_port = 1080;
		} else if (sl == 7 && strncasecmp(p, "socks5h", 7) == 0) {
			u->scheme = PARENT_SOCKS5H;
			default_port = 1080;
		} else {
			*why = "an unsupported scheme (http, https, socks5 and socks5h are)";
			goto out;
		}
		p = sep + 3;
	}
	/* The authority ends at the first '/', '?' or '#'; only a lone
	 * trailing '/' may follow. */
	size_t alen = strcspn(p, "/?#");
	if (p[alen] && strcmp(p + alen, "/") != 0) {
		*why = "a path, query or fragment (a proxy URL has none)";
		goto out;
	}
	const char *at = memrchr(p, '@', alen);
	const char *hp = p;
	if (at) {
		const char *colon = memchr(p, ':', (size_t)(at - p));
		size_t ul = colon ? (size_t)(colon - p) : (size_t)(at - p);
		if (decode_cred(p, ul, u->user, &u->user_len, true, why) < 0)
			goto out;
		if (colon && decode_cred(colon + 1, (size_t)(at - colon - 1), u->pass, &u->pass_len, false, why) < 0)
			goto out;
		u->has_auth = true;
		hp = at + 1;
	}
	size_t hl = (size_t)(p + alen - hp);
	if (hl == 0) {
		*why = "no host";
		goto out;
	}
	if (proxy_authority_parse(hp, hl, default_port, &u->host, &u->port, why) < 0)
		goto out;
	make_name(u);
	*ret = *u;
	r = 0;
out:
	wipe(u, sizeof(*u));
	free(u);
	return r;
}

int parent_url_unix(const char *path, struct parent_url *ret, const char **why)
{
	const char *dummy;
	if (!why)
		why = &dummy;
	if (!path || path[0] != '/') {
		*why = "not an absolute path";
		return -EINVAL;
	}
	if (strlen(path) > PARENT_PATH_MAX) {
		*why = "a unix socket path longer than 107 bytes";
		return -EINVAL;
	}
	for (const unsigned char *c = (const unsigned char *)path; *c; c++)
		if (*c < 0x20 || *c == 0x7f) {
			*why = "a control character in the path";
			return -EINVAL;
		}
	memset(ret, 0, sizeof(*ret));
	ret->scheme = PARENT_UNIX;
	snprintf(ret->path, sizeof(ret->path), "%s", path);
	make_name(ret);
	return 0;
}

void parent_url_clear(struct parent_url *u)
{
	if (u)
		wipe(u, sizeof(*u));
}

/* ---- noProxy -------------------------------------------------------------- */

static bool all_digits(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!isdigit((unsigned char)*s))
			return false;
	return true;
}

/* One entry (NUL-terminated, trimmed, not empty). */
static int no_proxy_entry(struct no_proxy *np, char *e, const char **why)
{
	if (strcmp(e, "*") == 0) {
		np->all = true;
		return 0;
	}
	if (np->n_names >= NO_PROXY_MAX || np->n_cidrs >= NO_PROXY_MAX) {
		*why = "more than 256 entries";
		return -E2BIG;
	}
	if (strchr(e, '/')) {
		if (net_cidr_parse(e, &np->cidrs[np->n_cidrs], why) < 0)
			return -EINVAL;
		np->n_cidrs++;
		return 0;
	}
	for (char *c = e; *c; c++)
		*c = (char)tolower((unsigned char)*c);
	/* [v6] or [v6]:port */
	if (e[0] == '[') {
		char *close = strchr(e, ']');
		if (!close || (close[1] && (close[1] != ':' || !all_digits(close + 2)))) {
			*why = "a malformed bracketed address";
			return -EINVAL;
		}
		*close = '\0';
		e++;
	}
	/* A bare IP literal: that address. */
	struct in_addr a4;
	struct in6_addr a6;
	if (inet_pton(AF_INET6, e, &a6) == 1 || inet_pton(AF_INET, e, &a4) == 1)
		return net_cidr_parse(e, &np->cidrs[np->n_cidrs++], why) < 0 ? (np->n_cidrs--, -EINVAL) : 0;
	/* host:port: the port is ignored. */
	char *colon = strrchr(e, ':');
	if (colon && all_digits(colon + 1))
		*colon = '\0';
	if (inet_pton(AF_INET, e, &a4) == 1)
		return net_cidr_parse(e, &np->cidrs[np->n_cidrs++], why) < 0 ? (np->n_cidrs--, -EINVAL) : 0;
	if (strncmp(e, "*.", 2) == 0)
		e += 2;
	else if (e[0] == '.')
		e++;
	size_t n = strlen(e);
	if (n > 0 && e[n - 1] == '.')
		e[--n] = '\0';
	struct proxy_host h = { 0 }; /* read below when proxy_host_canonical fails */
	if (n == 0 || proxy_host_canonical(e, n, &h, why) < 0 || h.kind != PROXY_HOST_NAME) {
		if (n == 0)
			*why = "an empty name";
		else if (h.kind != PROXY_HOST_NAME)
			*why = "not a name";
		return -EINVAL;
	}
	char *copy = strdup(h.text);
	if (!copy) {
		*why = "out of memory";
		return -ENOMEM;
	}
	np->names[np->n_names++] = copy;
	return 0;
}

int no_proxy_parse(const char *text, bool strict, struct no_proxy *ret, const char **why, size_t *bad_entry)
{
	const char *dummy;
	if (!why)
		why = &dummy;
	memset(ret, 0, sizeof(*ret));
	if (!text)
		return 0;
	char *copy = strdup(text);
	if (!copy)
		return -ENOMEM;
	size_t index = 0;
	int r = 0;
	for (char *save = NULL, *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save), index++) {
		while (*tok == ' ' || *tok == '\t')
			tok++;
		size_t n = strlen(tok);
		while (n > 0 && (tok[n - 1] == ' ' || tok[n - 1] == '\t'))
			tok[--n] = '\0';
		if (n == 0)
			continue;
		int e = no_proxy_entry(ret, tok, why);
		if (e == -ENOMEM || e == -E2BIG || (e < 0 && strict)) {
			if (bad_entry)
				*bad_entry = index;
			r = e;
			break;
		}
	}
	free(copy);
	if (r < 0)
		no_proxy_free(ret);
	return r;
}

void no_proxy_free(struct no_proxy *np)
{
	if (!np)
		return;
	for (size_t i = 0; i < np->n_names; i++)
		free(np->names[i]);
	memset(np, 0, sizeof(*np));
}

static bool host_sockaddr(const struct proxy_host *h, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (h->kind == PROXY_HOST_IPV4) {
		struct sockaddr_in *a = (struct sockaddr_in *)ss;
		a->sin_family = AF_INET;
		return inet_pton(AF_INET, h->text, &a->sin_addr) == 1;
	}
	if (h->kind == PROXY_HOST_IPV6) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;
		a->sin6_family = AF_INET6;
		return inet_pton(AF_INET6, h->text, &a->sin6_addr) == 1;
	}
	return false;
}

bool no_proxy_match(const struct no_proxy *np, const struct proxy_host *host)
{
	if (host->kind == PROXY_HOST_NAME) {
		size_t hl = strlen(host->text);
		if (strcmp(host->text, "localhost") == 0 ||
		    (hl > 10 && strcmp(host->text + hl - 10, ".localhost") == 0))
			return true;
		if (!np)
			return false;
		if (np->all)
			return true;
		for (size_t i = 0; i < np->n_names; i++) {
			size_t nl = strlen(np->names[i]);
			if (strcmp(host->text, np->names[i]) == 0 ||
			    (hl > nl && host->text[hl - nl - 1] == '.' && strcmp(host->text + hl - nl, np->names[i]) == 0))
				return true;
		}
		return false;
	}
	struct sockaddr_storage ss;
	if (!host_sockaddr(host, &ss))
		return false;
	if (ss.ss_family == AF_INET && ((const uint8_t *)&((struct sockaddr_in *)&ss)->sin_addr)[0] == 127)
		return true;
	if (ss.ss_family == AF_INET6 && IN6_IS_ADDR_LOOPBACK(&((struct sockaddr_in6 *)&ss)->sin6_addr))
		return true;
	if (!np)
		return false;
	if (np->all)
		return true;
	for (size_t i = 0; i < np->n_cidrs; i++)
		if (net_cidr_contains(&np->cidrs[i], (const struct sockaddr *)&ss))
			return true;
	return false;
}

/* ---- routes --------------------------------------------------------------- */

const struct parent_url *proxy_upstream_route(const struct proxy_upstream *u, const struct proxy_host *host,
					      uint16_t port, bool plain_http)
{
	if (!u)
		return NULL;
	if (u->mitm.scheme == PARENT_UNIX)
		for (size_t i = 0; i < u->n_mitm_domains; i++)
			if (domain_pattern_match(&u->mitm_domains[i], host->text, port))
				return &u->mitm;
	const struct parent_url *p = plain_http ? &u->http : (u->https.scheme != PARENT_NONE ? &u->https : &u->http);
	if (p->scheme == PARENT_NONE)
		return NULL;
	if (no_proxy_match(&u->no_proxy, host))
		return NULL;
	return p;
}

void proxy_upstream_free(struct proxy_upstream *u)
{
	if (!u)
		return;
	parent_url_clear(&u->http);
	parent_url_clear(&u->https);
	no_proxy_free(&u->no_proxy);
	for (size_t i = 0; i < u->n_mitm_domains; i++)
		domain_pattern_free(&u->mitm_domains[i]);
	free(u->mitm_domains);
	free(u);
}

/* ---- handshakes ----------------------------------------------------------- */

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static size_t base64(const uint8_t *in, size_t n, char *out)
{
	size_t k = 0;
	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < n ? (uint32_t)in[i + 1] << 8 : 0) |
			     (i + 2 < n ? in[i + 2] : 0);
		out[k++] = b64[(v >> 18) & 63];
		out[k++] = b64[(v >> 12) & 63];
		out[k++] = i + 1 < n ? b64[(v >> 6) & 63] : '=';
		out[k++] = i + 2 < n ? b64[v & 63] : '=';
	}
	out[k] = '\0';
	return k;
}

size_t parent_auth_field(const struct parent_url *u, char *out, size_t size)
{
	out[0] = '\0';
	if (!u->has_auth || u->scheme == PARENT_UNIX || size == 0)
		return 0;
	uint8_t cred[2 * PARENT_CRED_MAX + 2];
	size_t n = 0;
	memcpy(cred, u->user, u->user_len);
	n += u->user_len;
	cred[n++] = ':';
	memcpy(cred + n, u->pass, u->pass_len);
	n += u->pass_len;
	char enc[((2 * PARENT_CRED_MAX + 2) / 3 + 1) * 4 + 1];
	base64(cred, n, enc);
	int k = snprintf(out, size, "Proxy-Authorization: Basic %s\r\n", enc);
	wipe(cred, sizeof(cred));
	wipe(enc, sizeof(enc));
	if (k < 0 || (size_t)k >= size) {
		wipe(out, size);
		out[0] = '\0';
		return 0;
	}
	return (size_t)k;
}

char *parent_connect_request(const struct parent_url *u, const struct proxy_host *host, uint16_t port, size_t *len)
{
	char auth[PARENT_AUTH_FIELD_MAX];
	parent_auth_field(u, auth, sizeof(auth));
	char authority[PROXY_HOST_NAME_MAX + 16];
	snprintf(authority, sizeof(authority), host->kind == PROXY_HOST_IPV6 ? "[%s]:%u" : "%s:%u", host->text,
		 (unsigned)port);
	char *out = NULL;
	int n = asprintf(&out, "CONNECT %s HTTP/1.1\r\nHost: %s\r\n%s\r\n", authority, authority, auth);
	wipe(auth, sizeof(auth));
	if (n < 0)
		return NULL;
	*len = (size_t)n;
	return out;
}

int parent_parse_http_head(const uint8_t *in, size_t len, int *status)
{
	size_t end = 0;
	size_t lim = len < PARENT_HEAD_MAX ? len : PARENT_HEAD_MAX;
	for (size_t i = 0; i < lim; i++) {
		if (in[i] != '\n')
			continue;
		if (i >= 1 && in[i - 1] == '\n') {
			end = i + 1;
			break;
		}
		if (i >= 2 && in[i - 1] == '\r' && in[i - 2] == '\n') {
			end = i + 1;
			break;
		}
	}
	if (end == 0)
		return len >= PARENT_HEAD_MAX ? -1 : 0;
	const char *p = (const char *)in;
	size_t first = 0;
	while (in[first] != '\n')
		first++;
	if (first < 12 || memcmp(p, "HTTP/1.", 7) != 0 || (p[7] != '0' && p[7] != '1') || p[8] != ' ' ||
	    p[9] < '1' || p[9] > '5' || !isdigit((unsigned char)p[10]) || !isdigit((unsigned char)p[11]) ||
	    (p[12] != ' ' && p[12] != '\r' && p[12] != '\n'))
		return -1;
	for (size_t i = 0; i < end; i++) {
		unsigned char ch = in[i];
		if ((ch < 0x20 && ch != '\t' && ch != '\r' && ch != '\n') || ch == 0x7f)
			return -1;
	}
	*status = (p[9] - '0') * 100 + (p[10] - '0') * 10 + (p[11] - '0');
	return (int)end;
}

int parent_parse_socks_reply(const uint8_t *in, size_t len, uint8_t *rep)
{
	if (len < 1)
		return 0;
	if (in[0] != SOCKS5_VERSION)
		return -1;
	if (len < 5)
		return 0;
	if (in[2] != 0)
		return -1;
	size_t need;
	switch (in[3]) {
	case SOCKS5_ATYP_IPV4: need = 4 + 4 + 2; break;
	case SOCKS5_ATYP_IPV6: need = 4 + 16 + 2; break;
	case SOCKS5_ATYP_DOMAIN: need = 4 + 1 + (size_t)in[4] + 2; break;
	default: return -1;
	}
	if (len < need)
		return 0;
	*rep = in[1];
	return (int)need;
}

static int dup_out(const uint8_t *p, size_t n, char **out, size_t *out_len)
{
	*out = malloc(n);
	if (!*out)
		return PARENT_NOMEM;
	memcpy(*out, p, n);
	*out_len = n;
	return PARENT_SEND;
}

static int socks_request(struct parent_hs *hs, char **out, size_t *out_len)
{
	uint8_t m[4 + 1 + 255 + 2];
	size_t n = 0;
	m[n++] = SOCKS5_VERSION;
	m[n++] = SOCKS5_CMD_CONNECT;
	m[n++] = 0;
	m[n++] = hs->atyp;
	if (hs->atyp == SOCKS5_ATYP_DOMAIN)
		m[n++] = (uint8_t)hs->addr_len;
	memcpy(m + n, hs->addr, hs->addr_len);
	n += hs->addr_len;
	m[n++] = (uint8_t)(hs->port >> 8);
	m[n++] = (uint8_t)(hs->port & 0xff);
	hs->phase = PP_SOCKS_REPLY;
	return dup_out(m, n, out, out_len);
}

int parent_hs_start(struct parent_hs *hs, const struct parent_url *u, const struct proxy_host *host,
		    const struct sockaddr *addr, uint16_t port, char **out, size_t *out_len)
{
	memset(hs, 0, sizeof(*hs));
	hs->url = u;
	hs->port = port;
	if (u->scheme == PARENT_HTTP || u->scheme == PARENT_HTTPS || u->scheme == PARENT_UNIX) {
		hs->phase = PP_HTTP_RESPONSE;
		*out = parent_connect_request(u, host, port, out_len);
		return *out ? PARENT_SEND : PARENT_NOMEM;
	}
	if (u->scheme != PARENT_SOCKS5 && u->scheme != PARENT_SOCKS5H)
		return PARENT_MALFORMED;
	if (addr && addr->sa_family == AF_INET) {
		hs->atyp = SOCKS5_ATYP_IPV4;
		memcpy(hs->addr, &((const struct sockaddr_in *)addr)->sin_addr, 4);
		hs->addr_len = 4;
	} else if (addr && addr->sa_family == AF_INET6) {
		hs->atyp = SOCKS5_ATYP_IPV6;
		memcpy(hs->addr, &((const struct sockaddr_in6 *)addr)->sin6_addr, 16);
		hs->addr_len = 16;
	} else if (host->kind == PROXY_HOST_IPV4) {
		hs->atyp = SOCKS5_ATYP_IPV4;
		if (inet_pton(AF_INET, host->text, hs->addr) != 1)
			return PARENT_MALFORMED;
		hs->addr_len = 4;
	} else if (host->kind == PROXY_HOST_IPV6) {
		hs->atyp = SOCKS5_ATYP_IPV6;
		if (inet_pton(AF_INET6, host->text, hs->addr) != 1)
			return PARENT_MALFORMED;
		hs->addr_len = 16;
	} else {
		size_t n = strlen(host->text);
		if (n > 255)
			return PARENT_MALFORMED;
		hs->atyp = SOCKS5_ATYP_DOMAIN;
		memcpy(hs->addr, host->text, n);
		hs->addr_len = n;
	}
	uint8_t g[4] = { SOCKS5_VERSION, 1, SOCKS5_METHOD_NO_AUTH, 0 };
	size_t gn = 3;
	if (u->has_auth) {
		g[1] = 2;
		g[3] = SOCKS5_METHOD_USERPASS;
		gn = 4;
	}
	hs->phase = PP_SOCKS_METHOD;
	return dup_out(g, gn, out, out_len);
}

int parent_hs_feed(struct parent_hs *hs, const uint8_t *in, size_t len, size_t *consumed, char **out,
		   size_t *out_len)
{
	*consumed = 0;
	switch (hs->phase) {
	case PP_HTTP_RESPONSE: {
		int status = 0;
		int n = parent_parse_http_head(in, len, &status);
		if (n == 0)
			return PARENT_MORE;
		if (n < 0)
			return PARENT_MALFORMED;
		hs->status = status;
		*consumed = (size_t)n;
		if (status >= 200 && status < 300) {
			hs->phase = PP_DONE;
			return PARENT_READY;
		}
		return status == 407 ? PARENT_AUTH : PARENT_REFUSED;
	}
	case PP_SOCKS_METHOD: {
		if (len < 2)
			return PARENT_MORE;
		if (in[0] != SOCKS5_VERSION)
			return PARENT_MALFORMED;
		*consumed = 2;
		if (in[1] == SOCKS5_METHOD_NO_AUTH)
			return socks_request(hs, out, out_len);
		if (in[1] == SOCKS5_METHOD_USERPASS && hs->url->has_auth) {
			const struct parent_url *u = hs->url;
			uint8_t m[3 + 2 * PARENT_CRED_MAX];
			size_t n = 0;
			m[n++] = SOCKS5_AUTH_VERSION;
			m[n++] = (uint8_t)u->user_len;
			memcpy(m + n, u->user, u->user_len);
			n += u->user_len;
			m[n++] = (uint8_t)u->pass_len;
			memcpy(m + n, u->pass, u->pass_len);
			n += u->pass_len;
			hs->phase = PP_SOCKS_AUTH;
			int r = dup_out(m, n, out, out_len);
			wipe(m, sizeof(m));
			return r;
		}
		hs->status = in[1];
		return PARENT_AUTH;
	}
	case PP_SOCKS_AUTH:
		if (len < 2)
			return PARENT_MORE;
		if (in[0] != SOCKS5_AUTH_VERSION)
			return PARENT_MALFORMED;
		*consumed = 2;
		if (in[1] != SOCKS5_AUTH_SUCCESS) {
			hs->status = -1;
			return PARENT_AUTH;
		}
		return socks_request(hs, out, out_len);
	case PP_SOCKS_REPLY: {
		uint8_t rep = 0;
		int n = parent_parse_socks_reply(in, len, &rep);
		if (n == 0)
			return PARENT_MORE;
		if (n < 0)
			return PARENT_MALFORMED;
		*consumed = (size_t)n;
		hs->status = rep;
		if (rep == SOCKS5_REP_SUCCEEDED) {
			hs->phase = PP_DONE;
			return PARENT_READY;
		}
		return PARENT_REFUSED;
	}
	case PP_DONE:
		return PARENT_READY;
	}
	return PARENT_MALFORMED;
}

static const char *socks_rep_text(int rep)
{
	switch (rep) {
	case SOCKS5_REP_GENERAL_FAILURE: return "general failure";
	case SOCKS5_REP_NOT_ALLOWED: return "connection not allowed by ruleset";
	case SOCKS5_REP_NETWORK_UNREACHABLE: return "network unreachable";
	case SOCKS5_REP_HOST_UNREACHABLE: return "host unreachable";
	case SOCKS5_REP_CONNECTION_REFUSED: return "connection refused";
	case SOCKS5_REP_TTL_EXPIRED: return "TTL expired";
	case SOCKS5_REP_COMMAND_NOT_SUPPORTED: return "command not supported";
	case SOCKS5_REP_ATYP_NOT_SUPPORTED: return "address type not supported";
	default: return "unknown reply";
	}
}

void parent_hs_describe(const struct parent_hs *hs, int result, char *buf, size_t size)
{
	bool socks = hs->phase == PP_SOCKS_METHOD || hs->phase == PP_SOCKS_AUTH || hs->phase == PP_SOCKS_REPLY;
	switch (result) {
	case PARENT_AUTH:
		if (!socks)
			snprintf(buf, size, "requires authentication (HTTP %d)", hs->status);
		else if (hs->phase == PP_SOCKS_AUTH)
			snprintf(buf, size, "refused the user name and password (SOCKS5)");
		else
			snprintf(buf, size, "offers no authentication method srt can use (SOCKS5 method %d)", hs->status);
		break;
	case PARENT_REFUSED:
		if (socks)
			snprintf(buf, size, "refused: %s (SOCKS5 %d)", socks_rep_text(hs->status), hs->status);
		else
			snprintf(buf, size, "refused the tunnel (HTTP %d)", hs->status);
		break;
	case PARENT_MALFORMED:
		snprintf(buf, size, "sent a malformed answer (%s)", socks ? "SOCKS5" : "HTTP");
		break;
	default:
		snprintf(buf, size, "failed");
		break;
	}
}
