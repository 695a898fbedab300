/* libFuzzer target: arbitrary bytes as a domain entry and a host (split at the first NUL), parsed and matched. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy/domain.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The parser promises a canonical host: check it, so that a grammar hole
 * shows up as a crash rather than as a pattern that never matches. */
static void check_canonical(const struct domain_pattern *p)
{
	if (p->port < 0 || p->port > 65535)
		abort();
	if (p->kind == DOMAIN_ANY) {
		if (p->host)
			abort();
		return;
	}
	if (!p->host || !*p->host)
		abort();
	size_t n = strlen(p->host);
	if (p->host[n - 1] == '.' || p->host[0] == '.')
		abort();
	for (const char *c = p->host; *c; c++)
		if ((*c >= 'A' && *c <= 'Z') || *c == '/' || *c == '@' || *c == '*' || (unsigned char)*c <= ' ')
			abort();
}

/* A pattern matches its own host (a wildcard: one label more), on its
 * port; a wildcard never matches its apex. */
static void check_self_match(const struct domain_pattern *p)
{
	int port = p->port ? p->port : 443;
	if (p->kind == DOMAIN_ANY) {
		if (!domain_pattern_match(p, "example.com", port))
			abort();
		return;
	}
	if (p->kind == DOMAIN_WILDCARD) {
		char sub[300];
		snprintf(sub, sizeof(sub), "x.%s", p->host);
		if (!domain_pattern_match(p, sub, port) || domain_pattern_match(p, p->host, port))
			abort();
		return;
	}
	if (!domain_pattern_match(p, p->host, port))
		abort();
	if (p->port && domain_pattern_match(p, p->host, p->port == 1 ? 2 : 1))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	bool deny = data[0] & 1;
	int port = (data[0] >> 1) % 4 == 0 ? 443 : (data[0] >> 1);
	data++;
	size--;

	char *buf = malloc(size + 2);
	if (!buf)
		return 0;
	memcpy(buf, data, size);
	buf[size] = '\0';
	buf[size + 1] = '\0';
	const char *entry = buf;
	const char *host = buf + strlen(buf) + 1; /* after the first NUL, or "" */
	if (host > buf + size)
		host = buf + size + 1;

	struct domain_pattern p;
	const char *why = NULL;
	int r = domain_pattern_parse(entry, deny, &p, &why);
	if (r == 0) {
		check_canonical(&p);
		check_self_match(&p);
		(void)domain_pattern_match(&p, host, port);
		domain_pattern_free(&p);
	} else if (!why) {
		abort(); /* a refusal always says why (no allocation fails here) */
	}
	free(buf);
	return 0;
}
