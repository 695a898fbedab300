/* The domain grammar of allowedDomains / deniedDomains entries and host matching. */
#ifndef SRT_POLICY_DOMAIN_H
#define SRT_POLICY_DOMAIN_H

#include <stdbool.h>

enum domain_kind {
	DOMAIN_NAME,      /* github.com, localhost */
	DOMAIN_WILDCARD,  /* *.example.com: subdomains only, not the apex */
	DOMAIN_ANY,       /* "*": only allowed in deniedDomains */
	DOMAIN_IPV4,      /* 192.0.2.1 (dotted quad only in entries) */
	DOMAIN_IPV6,      /* [::1] */
};

struct domain_pattern {
	enum domain_kind kind;
	char *host;        /* lower case, no trailing dot; for WILDCARD the part
			      after "*." ; for IPV6 without brackets, canonical
			      text form; NULL for ANY */
	int port;          /* 1..65535, or 0 for any port */
};

/* Parse one entry. Accepts: name, *.name (at least two labels after "*."),
 * localhost, IPv4 dotted quad, [IPv6], each optionally followed by :port;
 * "*" alone only when in_deny_list. Refuses schemes ("https://"), paths,
 * userinfo ("@"), "*.com", empty labels, labels over 63 or names over 253
 * characters, characters outside [A-Za-z0-9.-_], ports outside 1..65535.
 * Returns 0, -ENOMEM, or -EINVAL with *why set to a static reason. */
int domain_pattern_parse(const char *text, bool in_deny_list,
			 struct domain_pattern *ret, const char **why);

/* Does host:port (host already canonical: lower case, no trailing dot,
 * IPv6 without brackets) match the pattern? Case-insensitive. */
bool domain_pattern_match(const struct domain_pattern *p, const char *host, int port);

void domain_pattern_free(struct domain_pattern *p);

#endif
