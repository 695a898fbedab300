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
 * "*" (or "*:port") only when in_deny_list. Case-insensitive; one trailing
 * dot on the name is ignored. Refuses schemes ("https://"), paths,
 * userinfo ("@"), "*.com", '*' anywhere but as the whole first label, empty
 * labels, labels starting or ending with '-', labels over 63 or names over
 * 253 characters, characters outside [A-Za-z0-9.-_], a name whose last
 * label is all digits (other numeric IPv4 forms such as "127.1" or
 * "0x7f.0.0.1" and dotted quads with leading zeros: write the dotted quad),
 * unbracketed IPv6, IPv6 zone ids, ports outside 1..65535.
 * The grammar is drawn above the parser in domain.c.
 * Returns 0 (ret filled, free with domain_pattern_free), -ENOMEM, or
 * -EINVAL with *why set to a static reason; ret is untouched on error. */
int domain_pattern_parse(const char *text, bool in_deny_list,
			 struct domain_pattern *ret, const char **why);

/* Does host:port (host already canonical: lower case, no trailing dot,
 * IPv6 without brackets) match the pattern? Tolerant anyway: case is
 * ignored, one trailing dot is ignored, brackets around IPv6 are allowed.
 * Port 0 in the pattern is any port. NAME is an exact match; WILDCARD a
 * subdomain at a label boundary, never the apex; IPV4 and IPV6 match only
 * the same address (an IPv4-mapped IPv6 address is its IPv4 address), and
 * names never match IP literals nor IP patterns names. */
bool domain_pattern_match(const struct domain_pattern *p, const char *host, int port);

/* Frees p->host and sets it to NULL; p itself belongs to the caller.
 * NULL is a no-op. */
void domain_pattern_free(struct domain_pattern *p);

#endif
