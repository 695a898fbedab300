/* Canonical form of a host that a client asks the proxies for (CONNECT target, http:// URL, SOCKS domain), so that policy matching sees one spelling per host. */
#ifndef SRT_PROXY_HOST_H
#define SRT_PROXY_HOST_H

#include <stddef.h>
#include <stdint.h>

/* A DNS name is at most 253 characters without its trailing dot. */
#define PROXY_HOST_NAME_MAX 253
#define PROXY_HOST_LABEL_MAX 63

enum proxy_host_kind {
	PROXY_HOST_NAME,  /* a DNS name, to be matched against name entries */
	PROXY_HOST_IPV4,  /* an IPv4 literal in any inet_aton form, or IPv4-mapped IPv6 */
	PROXY_HOST_IPV6,  /* any other IPv6 literal */
};

struct proxy_host {
	enum proxy_host_kind kind;
	/* NUL-terminated. NAME: lower case, no trailing dot. IPV4: dotted quad.
	 * IPV6: inet_ntop text, no brackets. This is the form
	 * domain_pattern_match() expects. */
	char text[256];
};

/*
 * Canonicalize the host in[0..len) (not NUL-terminated; may contain NUL
 * bytes, which are refused). Accepted:
 *   - a name of labels [A-Za-z0-9_-] (1..63 characters, not starting or
 *     ending with '-') separated by '.', at most 253 characters, with one
 *     optional trailing dot; upper case is folded;
 *   - any IPv4 form inet_aton accepts: 127.0.0.1, 127.1, 0x7f.0.0.1,
 *     2130706433, 017700000001 (all the same address). A name whose last
 *     label is numeric (decimal or 0x-hex) but is not such an address, like
 *     1.2.3.256 or foo.123, is refused: resolvers and URL parsers disagree
 *     about what it means;
 *   - an IPv6 literal, bracketed ("[::1]") or not, without a zone id;
 *     IPv4-mapped addresses (::ffff:1.2.3.4) become PROXY_HOST_IPV4.
 * Refused with -EINVAL and *why (a static string, when why is not NULL):
 * empty input, NUL, control characters, space, '@', '/', '\', '%', any other
 * character outside the set above, empty labels, over-long labels or names.
 * Returns 0 with *ret filled; on error *ret is untouched.
 */
int proxy_host_canonical(const char *in, size_t len, struct proxy_host *ret, const char **why);

/*
 * Split an authority "host:port" or "[ipv6]:port" (in[0..len), not
 * NUL-terminated) and canonicalize the host. The port is 1..5 decimal
 * digits with a value in 1..65535. When the authority has no port,
 * default_port is used if it is not 0; with default_port 0 the port is
 * required (CONNECT). An unbracketed IPv6 address is refused here (its
 * colons would be ambiguous with the port).
 * Returns 0, or -EINVAL with *why; outputs are untouched on error.
 */
int proxy_authority_parse(const char *in, size_t len, uint16_t default_port,
			  struct proxy_host *ret_host, uint16_t *ret_port, const char **why);

#endif
