/* Canonical form of a host that a client asks the proxies for (CONNECT target, http:// URL, SOCKS domain), so that policy matching sees one spelling per host. */
#include "proxy/host.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <string.h>

static int refuse(const char **why, const char *reason)
{
	if (why)
		*why = reason;
	return -EINVAL;
}

static bool is_hex(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static bool is_name_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '_' || c == '.';
}

/* The characters the issue names get their own reason, because they are the
 * ones used in bypass attempts (a NUL cutting a suffix check short, '@'
 * turning an allowed name into userinfo) and the reason ends up in the
 * violation record. */
static const char *bad_char_reason(unsigned char c)
{
	if (c == '\0')
		return "NUL byte in host";
	if (c < 0x20 || c == 0x7f)
		return "control character in host";
	if (c == ' ')
		return "space in host";
	if (c == '@')
		return "'@' (user information) in host";
	if (c == '/' || c == '\\')
		return "path separator in host";
	if (c == '%')
		return "'%' (percent-encoding or zone id) in host";
	return NULL;
}

/* in[0..len) holds only hex digits, ':' and '.', checked by the caller. */
static int canonical_ipv6(const char *in, size_t len, struct proxy_host *ret, const char **why)
{
	char buf[INET6_ADDRSTRLEN];
	if (len == 0 || len >= sizeof(buf))
		return refuse(why, "not an IPv6 address");
	memcpy(buf, in, len);
	buf[len] = '\0';
	struct in6_addr a;
	if (inet_pton(AF_INET6, buf, &a) != 1)
		return refuse(why, "not an IPv6 address");

	struct proxy_host h = { 0 };
	/* A mapped address reaches the IPv4 host, so it must meet the IPv4
	 * entries and the IPv4 address guard, not slip past both as "IPv6". */
	if (IN6_IS_ADDR_V4MAPPED(&a)) {
		if (!inet_ntop(AF_INET, &a.s6_addr[12], h.text, sizeof(h.text)))
			return refuse(why, "not an IPv6 address");
		h.kind = PROXY_HOST_IPV4;
	} else {
		if (!inet_ntop(AF_INET6, &a, h.text, sizeof(h.text)))
			return refuse(why, "not an IPv6 address");
		h.kind = PROXY_HOST_IPV6;
	}
	*ret = h;
	return 0;
}

/* "123" or "0x1f" (or "0x", which inet_aton reads as 0): a label that
 * URL parsers and inet_aton read as a number. */
static bool label_is_numeric(const char *s, size_t n)
{
	if (n >= 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		for (size_t i = 2; i < n; i++)
			if (!is_hex((unsigned char)s[i]))
				return false;
		return true;
	}
	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return true;
}

int proxy_host_canonical(const char *in, size_t len, struct proxy_host *ret, const char **why)
{
	if (!in || len == 0)
		return refuse(why, "empty host");

	bool bracket = in[0] == '[';
	bool colon = false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)in[i];
		const char *r = bad_char_reason(c);
		if (r)
			return refuse(why, r);
		if (c == ':')
			colon = true;
		else if (!is_name_char(c) && !(bracket && (c == '[' || c == ']')))
			return refuse(why, "character not allowed in a host name");
	}

	if (bracket || colon) {
		const char *a = in;
		size_t n = len;
		if (bracket) {
			if (len < 2 || in[len - 1] != ']')
				return refuse(why, "'[' without a closing ']'");
			a = in + 1;
			n = len - 2;
		}
		for (size_t i = 0; i < n; i++)
			if (!is_hex((unsigned char)a[i]) && a[i] != ':' && a[i] != '.')
				return refuse(why, "not an IPv6 address");
		return canonical_ipv6(a, n, ret, why);
	}

	/* One trailing dot names the same host, fully qualified. */
	size_t n = len;
	if (n > 1 && in[n - 1] == '.')
		n--;
	if (n > PROXY_HOST_NAME_MAX)
		return refuse(why, "host name longer than 253 characters");

	char buf[PROXY_HOST_NAME_MAX + 1];
	for (size_t i = 0; i < n; i++) {
		char c = in[i];
		buf[i] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
	}
	buf[n] = '\0';

	struct proxy_host h = { 0 };
	/* The dialer's resolver (getaddrinfo) reads these forms with
	 * inet_aton, so the policy must read them the same way: "127.1" is an
	 * address, never a name that a name entry could match. */
	struct in_addr a4;
	if (inet_aton(buf, &a4) == 1) {
		if (!inet_ntop(AF_INET, &a4, h.text, sizeof(h.text)))
			return refuse(why, "bad IPv4 address");
		h.kind = PROXY_HOST_IPV4;
		*ret = h;
		return 0;
	}

	size_t start = 0;
	for (size_t i = 0; i <= n; i++) {
		if (i < n && buf[i] != '.')
			continue;
		size_t l = i - start;
		if (l == 0)
			return refuse(why, "empty label in host name");
		if (l > PROXY_HOST_LABEL_MAX)
			return refuse(why, "label longer than 63 characters in host name");
		if (buf[start] == '-' || buf[i - 1] == '-')
			return refuse(why, "label starting or ending with '-' in host name");
		if (i == n && label_is_numeric(buf + start, l))
			return refuse(why, "numeric host that is not a valid IPv4 address");
		start = i + 1;
	}

	memcpy(h.text, buf, n + 1);
	h.kind = PROXY_HOST_NAME;
	*ret = h;
	return 0;
}

static int parse_port(const char *s, size_t n, uint16_t *ret, const char **why)
{
	if (n == 0)
		return refuse(why, "empty port");
	if (n > 5)
		return refuse(why, "port out of range 1..65535");
	unsigned v = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return refuse(why, "port is not a decimal number");
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	if (v == 0 || v > 65535)
		return refuse(why, "port out of range 1..65535");
	*ret = (uint16_t)v;
	return 0;
}

int proxy_authority_parse(const char *in, size_t len, uint16_t default_port,
			  struct proxy_host *ret_host, uint16_t *ret_port, const char **why)
{
	if (!in || len == 0)
		return refuse(why, "empty host");

	size_t hlen;
	if (in[0] == '[') {
		const char *close = memchr(in, ']', len);
		if (!close)
			return refuse(why, "'[' without a closing ']'");
		hlen = (size_t)(close - in) + 1;
		if (hlen < len && in[hlen] != ':')
			return refuse(why, "characters after ']' that are not a port");
	} else {
		const char *c = memchr(in, ':', len);
		hlen = c ? (size_t)(c - in) : len;
		if (c && memchr(c + 1, ':', len - hlen - 1))
			return refuse(why, "an IPv6 address must be in brackets, like [::1]");
	}

	uint16_t port = default_port;
	int r;
	if (hlen < len) {
		if ((r = parse_port(in + hlen + 1, len - hlen - 1, &port, why)) < 0)
			return r;
	} else if (default_port == 0) {
		return refuse(why, "port required");
	}

	struct proxy_host h;
	if ((r = proxy_host_canonical(in, hlen, &h, why)) < 0)
		return r;
	*ret_host = h;
	*ret_port = port;
	return 0;
}
