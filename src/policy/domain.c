/* The domain grammar of allowedDomains / deniedDomains entries and host matching. */
#include "policy/domain.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/*
 * entry   := "*"                      (deniedDomains only)
 *          | host [ ":" port ]
 * host    := "*." name                (at least two labels after "*.")
 *          | name | ipv4 | "[" ipv6 "]"
 * name    := label ("." label)* ["."]  labels of [A-Za-z0-9_-], 1..63 chars,
 *                                       not starting or ending with '-';
 *                                       253 characters at most
 * ipv4    := four dotted decimal octets (no other numeric forms)
 * port    := 1..65535 in decimal
 */

static int fail(const char **why, const char *reason)
{
	*why = reason;
	return -EINVAL;
}

static int parse_port(const char *s, int *ret)
{
	if (!*s || strlen(s) > 5)
		return -1;
	int v = 0;
	for (const char *c = s; *c; c++) {
		if (!isdigit((unsigned char)*c))
			return -1;
		v = v * 10 + (*c - '0');
	}
	if (v < 1 || v > 65535 || s[0] == '0')
		return -1;
	*ret = v;
	return 0;
}

static bool valid_name(const char *s, size_t *labels, const char **why)
{
	size_t len = strlen(s);
	if (len == 0 || len > 253) {
		*why = len ? "name is longer than 253 characters" : "empty name";
		return false;
	}
	size_t n = 0;
	const char *p = s;
	while (*p) {
		const char *dot = strchr(p, '.');
		size_t l = dot ? (size_t)(dot - p) : strlen(p);
		if (l == 0) {
			*why = "empty label";
			return false;
		}
		if (l > 63) {
			*why = "label longer than 63 characters";
			return false;
		}
		if (p[0] == '-' || p[l - 1] == '-') {
			*why = "label starts or ends with '-'";
			return false;
		}
		for (size_t i = 0; i < l; i++) {
			unsigned char c = (unsigned char)p[i];
			if (!isalnum(c) && c != '-' && c != '_') {
				*why = "character not allowed in a domain name";
				return false;
			}
		}
		n++;
		p += l;
		if (*p == '.')
			p++;
	}
	*labels = n;
	return true;
}

static bool all_numeric_labels(const char *s)
{
	for (; *s; s++)
		if (!isdigit((unsigned char)*s) && *s != '.')
			return false;
	return true;
}

int domain_pattern_parse(const char *text, bool in_deny_list,
			 struct domain_pattern *ret, const char **why)
{
	memset(ret, 0, sizeof(*ret));
	*why = NULL;
	size_t tlen = strlen(text);
	if (tlen == 0)
		return fail(why, "empty entry");
	if (tlen > 300)
		return fail(why, "entry is too long");
	if (strstr(text, "://"))
		return fail(why, "a scheme is not allowed: write the host name only");
	if (strchr(text, '/'))
		return fail(why, "a path is not allowed: write the host name only");
	if (strchr(text, '@'))
		return fail(why, "user information ('@') is not allowed");
	if (strcmp(text, "*") == 0) {
		if (!in_deny_list)
			return fail(why, "'*' alone is only allowed in deniedDomains");
		ret->kind = DOMAIN_ANY;
		return 0;
	}
	char buf[301];
	memcpy(buf, text, tlen + 1);
	char *host = buf;
	char *port = NULL;
	if (host[0] == '[') {
		char *close = strchr(host, ']');
		if (!close)
			return fail(why, "missing ']' after an IPv6 address");
		*close = '\0';
		host++;
		if (close[1] == ':')
			port = close + 2;
		else if (close[1] != '\0')
			return fail(why, "unexpected text after ']'");
		struct in6_addr a6;
		if (inet_pton(AF_INET6, host, &a6) != 1)
			return fail(why, "not a valid IPv6 address");
		char canon[INET6_ADDRSTRLEN];
		inet_ntop(AF_INET6, &a6, canon, sizeof(canon));
		ret->kind = DOMAIN_IPV6;
		ret->host = strdup(canon);
	} else {
		char *colon = strchr(host, ':');
		if (colon) {
			if (strchr(colon + 1, ':'))
				return fail(why, "an IPv6 address must be written in brackets: [::1]");
			*colon = '\0';
			port = colon + 1;
		}
		size_t hl = strlen(host);
		if (hl > 1 && host[hl - 1] == '.')
			host[--hl] = '\0';
		for (char *c = host; *c; c++)
			*c = (char)tolower((unsigned char)*c);
		bool wildcard = false;
		if (host[0] == '*') {
			if (host[1] != '.')
				return fail(why, "'*' must be followed by '.': *.example.com");
			host += 2;
			wildcard = true;
		}
		if (strchr(host, '*'))
			return fail(why, "'*' is only allowed as the first label");
		size_t labels = 0;
		if (!valid_name(host, &labels, why))
			return -EINVAL;
		struct in_addr a4;
		if (!wildcard && all_numeric_labels(host)) {
			if (labels != 4 || inet_pton(AF_INET, host, &a4) != 1)
				return fail(why, "not a valid IPv4 address (write four decimal numbers)");
			ret->kind = DOMAIN_IPV4;
		} else if (wildcard) {
			if (labels < 2)
				return fail(why, "a wildcard needs at least two labels after '*.' (*.com is too broad)");
			ret->kind = DOMAIN_WILDCARD;
		} else {
			ret->kind = DOMAIN_NAME;
		}
		ret->host = strdup(host);
	}
	if (!ret->host)
		return -ENOMEM;
	if (port && parse_port(port, &ret->port) < 0) {
		domain_pattern_free(ret);
		return fail(why, "port must be a number from 1 to 65535");
	}
	return 0;
}

bool domain_pattern_match(const struct domain_pattern *p, const char *host, int port)
{
	if (p->port && p->port != port)
		return false;
	switch (p->kind) {
	case DOMAIN_ANY:
		return true;
	case DOMAIN_NAME:
	case DOMAIN_IPV4:
	case DOMAIN_IPV6:
		return strcasecmp(p->host, host) == 0;
	case DOMAIN_WILDCARD: {
		size_t hl = strlen(host), pl = strlen(p->host);
		return hl > pl + 1 && host[hl - pl - 1] == '.' && strcasecmp(host + hl - pl, p->host) == 0;
	}
	}
	return false;
}

void domain_pattern_free(struct domain_pattern *p)
{
	if (!p)
		return;
	free(p->host);
	p->host = NULL;
}
