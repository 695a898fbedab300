/* The domain grammar of allowedDomains / deniedDomains entries and host matching. */
#include "policy/domain.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/*
 * entry    = "*" [":" port]                  (deniedDomains only)
 *          | "*." name [":" port]            (name has two labels or more)
 *          | name [":" port]
 *          | ipv4 [":" port]                 (dotted quad, no leading zeros)
 *          | "[" ipv6 "]" [":" port]
 * name     = label *("." label) ["."]        (at most 253 bytes without the dot)
 * label    = 1*63(ALPHA / DIGIT / "-" / "_"), not starting or ending with "-"
 * port     = 1*5DIGIT                        (1..65535)
 * A name whose last label is all digits is refused: hosts like "1.2.3" or
 * "0x7f.1" are IPv4 forms to the resolver and would never match as names.
 */

#define DOMAIN_TEXT_MAX 300 /* longer than any valid entry: "[" v6 "]:65535" or a 253-byte name */

static int refuse(const char **why, const char *reason)
{
	*why = reason;
	return -EINVAL;
}

/* Parse ":port" at s (s points at the ':'), or nothing when *s is NUL. */
static int parse_port(const char *s, int *ret, const char **why)
{
	if (*s == '\0') {
		*ret = 0;
		return 0;
	}
	if (*s != ':')
		return refuse(why, "unexpected characters after the host");
	s++;
	if (!*s)
		return refuse(why, "empty port after ':'");
	long v = 0;
	size_t n = 0;
	for (; *s; s++, n++) {
		if (*s < '0' || *s > '9')
			return refuse(why, "port is not a number");
		if (n >= 5)
			return refuse(why, "port is outside 1..65535");
		v = v * 10 + (*s - '0');
	}
	if (v < 1 || v > 65535)
		return refuse(why, "port is outside 1..65535");
	*ret = (int)v;
	return 0;
}

static char lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

/* Check a host name (already lower case, no trailing dot) and count its
 * labels. */
static int check_name(const char *h, size_t *ret_labels, const char **why)
{
	size_t len = strlen(h);
	if (len == 0)
		return refuse(why, "empty host name");
	if (len > 253)
		return refuse(why, "host name is longer than 253 characters");
	size_t labels = 0;
	const char *label = h;
	bool all_digits = true;
	for (const char *p = h;; p++) {
		if (*p == '.' || *p == '\0') {
			size_t n = (size_t)(p - label);
			if (n == 0)
				return refuse(why, "empty label (two dots in a row, or a leading dot)");
			if (n > 63)
				return refuse(why, "a label is longer than 63 characters");
			if (label[0] == '-' || p[-1] == '-')
				return refuse(why, "a label starts or ends with '-'");
			labels++;
			if (*p == '\0')
				break;
			label = p + 1;
			all_digits = true;
			continue;
		}
		char c = *p;
		if (c == '*')
			return refuse(why, "'*' is only allowed as the whole first label (*.example.com)");
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_'))
			return refuse(why, "character not allowed in a host name");
		if (c < '0' || c > '9')
			all_digits = false;
	}
	if (all_digits)
		return refuse(why, "numeric host that is not a dotted-quad IPv4 address");
	*ret_labels = labels;
	return 0;
}

int domain_pattern_parse(const char *text, bool in_deny_list,
			 struct domain_pattern *ret, const char **why)
{
	const char *unused;
	if (!why)
		why = &unused;
	*why = NULL;
	if (!text || !*text)
		return refuse(why, "empty entry");
	size_t tlen = strlen(text);
	if (tlen > DOMAIN_TEXT_MAX)
		return refuse(why, "entry is too long");
	if (strstr(text, "://"))
		return refuse(why, "a URL scheme is not allowed; write the host name only");
	if (strchr(text, '/'))
		return refuse(why, "a path is not allowed; write the host name only");
	if (strchr(text, '@'))
		return refuse(why, "user information ('@') is not allowed");

	struct domain_pattern p = { 0 };
	int r;
	char buf[DOMAIN_TEXT_MAX + 1];

	if (text[0] == '[') {
		const char *close = strchr(text, ']');
		if (!close)
			return refuse(why, "'[' without a closing ']'");
		size_t n = (size_t)(close - text - 1);
		if (n == 0 || n >= INET6_ADDRSTRLEN)
			return refuse(why, "not an IPv6 address inside [...]");
		memcpy(buf, text + 1, n);
		buf[n] = '\0';
		struct in6_addr a;
		if (inet_pton(AF_INET6, buf, &a) != 1)
			return refuse(why, "not an IPv6 address inside [...]");
		if ((r = parse_port(close + 1, &p.port, why)) < 0)
			return r;
		char canon[INET6_ADDRSTRLEN];
		if (!inet_ntop(AF_INET6, &a, canon, sizeof(canon)))
			return refuse(why, "not an IPv6 address inside [...]");
		p.kind = DOMAIN_IPV6;
		if (!(p.host = strdup(canon)))
			return -ENOMEM;
		*ret = p;
		return 0;
	}

	/* host[:port]; more than one ':' is an unbracketed IPv6 address. */
	const char *colon = strchr(text, ':');
	if (colon && strchr(colon + 1, ':'))
		return refuse(why, "an IPv6 address must be in brackets, like [::1]");
	size_t hlen = colon ? (size_t)(colon - text) : tlen;
	if ((r = parse_port(text + hlen, &p.port, why)) < 0)
		return r;
	for (size_t i = 0; i < hlen; i++)
		buf[i] = lower(text[i]);
	buf[hlen] = '\0';
	/* One trailing dot: the same name, fully qualified. Not for "*.",
	 * which is no name at all. */
	if (hlen > 1 && buf[hlen - 1] == '.' && buf[hlen - 2] != '*')
		buf[--hlen] = '\0';

	if (strcmp(buf, "*") == 0) {
		if (!in_deny_list)
			return refuse(why, "'*' alone is only allowed in deniedDomains");
		p.kind = DOMAIN_ANY;
		*ret = p;
		return 0;
	}

	const char *name = buf;
	if (buf[0] == '*') {
		if (buf[1] != '.')
			return refuse(why, "'*' is only allowed as the whole first label (*.example.com)");
		name = buf + 2;
		p.kind = DOMAIN_WILDCARD;
	} else {
		p.kind = DOMAIN_NAME;
	}

	/* A dotted quad is an address, not a name. */
	struct in_addr a4;
	if (p.kind == DOMAIN_NAME && inet_pton(AF_INET, name, &a4) == 1) {
		char canon[INET_ADDRSTRLEN];
		if (!inet_ntop(AF_INET, &a4, canon, sizeof(canon)))
			return refuse(why, "bad IPv4 address");
		p.kind = DOMAIN_IPV4;
		if (!(p.host = strdup(canon)))
			return -ENOMEM;
		*ret = p;
		return 0;
	}

	size_t labels = 0;
	if ((r = check_name(name, &labels, why)) < 0)
		return r;
	if (p.kind == DOMAIN_WILDCARD && labels < 2)
		return refuse(why, "a wildcard needs at least two labels after '*.' (*.example.com, not *.com)");
	if (!(p.host = strdup(name)))
		return -ENOMEM;
	*ret = p;
	return 0;
}

/* The host's address as IPv6 bytes (IPv4 as IPv4-mapped, so that the two
 * spellings of one IPv4 address compare equal). False for names. */
static bool host_addr(const char *host, struct in6_addr *ret)
{
	struct in_addr a4;
	if (inet_pton(AF_INET, host, &a4) == 1) {
		memset(ret, 0, sizeof(*ret));
		ret->s6_addr[10] = 0xff;
		ret->s6_addr[11] = 0xff;
		memcpy(&ret->s6_addr[12], &a4, 4);
		return true;
	}
	char buf[INET6_ADDRSTRLEN + 2];
	size_t n = strlen(host);
	if (n >= 2 && host[0] == '[' && host[n - 1] == ']') {
		if (n - 2 >= sizeof(buf))
			return false;
		memcpy(buf, host + 1, n - 2);
		buf[n - 2] = '\0';
		host = buf;
	}
	return inet_pton(AF_INET6, host, ret) == 1;
}

bool domain_pattern_match(const struct domain_pattern *p, const char *host, int port)
{
	if (!p || !host)
		return false;
	if (p->port != 0 && p->port != port)
		return false;
	if (p->kind == DOMAIN_ANY)
		return true;
	if (!p->host)
		return false;

	size_t hlen = strlen(host);
	if (hlen > 0 && host[hlen - 1] == '.')
		hlen--;
	if (hlen == 0)
		return false;

	if (p->kind == DOMAIN_IPV4 || p->kind == DOMAIN_IPV6) {
		struct in6_addr want, got;
		char buf[INET6_ADDRSTRLEN + 2];
		if (hlen >= sizeof(buf))
			return false;
		memcpy(buf, host, hlen);
		buf[hlen] = '\0';
		return host_addr(p->host, &want) && host_addr(buf, &got) &&
		       memcmp(&want, &got, sizeof(want)) == 0;
	}

	/* Names never match an IP literal, whatever its spelling, nor a host
	 * with an empty label (".x.example.com" is not a subdomain). */
	if (memchr(host, ':', hlen) || host[0] == '.')
		return false;
	for (size_t i = 1; i < hlen; i++)
		if (host[i] == '.' && host[i - 1] == '.')
			return false;
	size_t plen = strlen(p->host);
	if (p->kind == DOMAIN_NAME)
		return hlen == plen && strncasecmp(host, p->host, plen) == 0;
	/* Wildcard: a subdomain, ending in "." + suffix; never the apex. */
	return hlen > plen + 1 && host[hlen - plen - 1] == '.' &&
	       strncasecmp(host + hlen - plen, p->host, plen) == 0;
}

void domain_pattern_free(struct domain_pattern *p)
{
	if (!p)
		return;
	free(p->host);
	p->host = NULL;
}
