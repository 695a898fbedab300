/* libFuzzer target: CIDR parsing and containment, and the network policy's decisions and guard checked against a linear scan. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "policy/netpolicy.h"
#include "policy/policy.h"
#include "proxy/host.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The deniedResolvedAddresses of the fixed policy below, parsed here
 * too for the reference check. */
static const char *const ranges[] = {
	"10.0.0.0/8", "192.0.2.0/28", "2001:db8::/48", "::ffff:198.51.100.0/120", "fd00::/8", "203.0.113.7",
};
#define N_RANGES (sizeof(ranges) / sizeof(ranges[0]))

static const char settings[] =
	"{\"network\": {"
	"\"allowedDomains\": [\"example.com\", \"*.example.com\", \"api.test:443\", \"*.a.b.test:8080\","
	" \"10.0.0.1\", \"[2001:db8::1]:443\", \"localhost:5432\", \"127.0.0.1:8080\", \"[::ffff:192.0.2.1]\","
	" \"x-y_z.test\", \"*.co.uk\", \"10.0.0.3:80\", \"[fe80::1]\"],"
	"\"deniedDomains\": [\"bad.example.com\", \"*.evil.example.com\", \"*:25\", \"10.0.0.2\","
	" \"[2001:db8::2]\", \"api.test:8443\", \"Bad.Co.UK.\"],"
	"\"deniedDomainReasons\": {\"bad.example.com\": \"bad\", \"bad.co.uk\": \"also bad\"},"
	"\"deniedResolvedAddresses\": [\"10.0.0.0/8\", \"192.0.2.0/28\", \"2001:db8::/48\","
	" \"::ffff:198.51.100.0/120\", \"fd00::/8\", \"203.0.113.7\"]}}";

static struct policy *pol;
static struct net_policy *np;
static struct net_cidr ref_ranges[N_RANGES];

static void init(void)
{
	if (np)
		return;
	struct config cfg;
	config_init(&cfg);
	struct srt_error err = { 0 };
	struct policy_env env = { .home = "/nonexistent", .cwd = "/" };
	if (config_parse_text(&cfg, "/fuzz/settings.json", settings, strlen(settings), CONFIG_ORIGIN_USER, true,
			      &err) < 0 ||
	    policy_build(&cfg, &env, &pol, &err) < 0 || net_policy_build(pol, &cfg, &np, &err) < 0) {
		fprintf(stderr, "fuzz_cidr: cannot build the policy: %s\n", err.message);
		abort();
	}
	config_free(&cfg);
	for (size_t i = 0; i < N_RANGES; i++)
		if (net_cidr_parse(ranges[i], &ref_ranges[i], NULL) < 0)
			abort();
}

/* Bit i (0 = most significant) of an address. */
static bool bit(const uint8_t *a, unsigned i)
{
	return (a[i / 8] >> (7 - i % 8)) & 1;
}

static void flip(uint8_t *a, unsigned i)
{
	a[i / 8] ^= (uint8_t)(1u << (7 - i % 8));
}

static void to_sockaddr(int family, const uint8_t *a, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (family == AF_INET) {
		struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
		s4->sin_family = AF_INET;
		memcpy(&s4->sin_addr, a, 4);
	} else {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
		s6->sin6_family = AF_INET6;
		memcpy(&s6->sin6_addr, a, 16);
	}
}

/* Containment bit by bit, the slow way, on the address as given (the
 * caller passes IPv4 for IPv4-mapped addresses). */
static bool slow_contains(const struct net_cidr *c, int family, const uint8_t *a)
{
	if (c->family != family)
		return false;
	for (unsigned i = 0; i < c->prefix; i++)
		if (bit(a, i) != bit(c->addr, i))
			return false;
	return true;
}

/* Bytes, not struct in6_addr: fuzzer input is not aligned. */
static bool is_mapped(const uint8_t *a)
{
	static const uint8_t prefix[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
	return memcmp(a, prefix, sizeof(prefix)) == 0;
}

static bool is_v6_loopback(const uint8_t *a)
{
	static const uint8_t lo[16] = { [15] = 1 };
	return memcmp(a, lo, sizeof(lo)) == 0;
}

static void check_in(const struct net_cidr *c, const uint8_t *a, bool in)
{
	struct sockaddr_storage ss;
	to_sockaddr(c->family, a, &ss);
	if (c->family == AF_INET6 && is_mapped(a))
		in = false;
	if (net_cidr_contains(c, (struct sockaddr *)&ss) != in)
		abort();
}

static void fuzz_cidr(const char *text, const uint8_t *rest, size_t rest_len)
{
	struct net_cidr c;
	const char *why = NULL;
	if (net_cidr_parse(text, &c, &why) < 0) {
		if (!why)
			abort();
		return;
	}
	unsigned bits = c.family == AF_INET ? 32 : c.family == AF_INET6 ? 128 : 0;
	if (!bits || c.prefix > bits)
		abort();
	for (unsigned i = c.prefix; i < bits; i++)
		if (bit(c.addr, i))
			abort(); /* host bits must be clear */
	if (c.family == AF_INET && memcmp(c.addr + 4, "\0\0\0\0\0\0\0\0\0\0\0\0", 12) != 0)
		abort();
	if (c.family == AF_INET6 && c.prefix >= 96 && is_mapped(c.addr))
		abort(); /* should have become IPv4 */

	/* The network address and the last address are in; flipping a prefix
	 * bit leaves the range. An IPv6 address in the mapped block
	 * (::ffff:0:0/96) is judged as IPv4 and is never in an IPv6 range. */
	uint8_t a[16];
	memcpy(a, c.addr, 16);
	check_in(&c, a, true);
	for (unsigned i = c.prefix; i < bits; i++)
		flip(a, i);
	check_in(&c, a, true);
	if (c.prefix > 0) {
		flip(a, c.prefix - 1);
		check_in(&c, a, false);
	}

	/* Printing the range and parsing it again gives the same range. */
	char addr_text[INET6_ADDRSTRLEN], again[INET6_ADDRSTRLEN + 8];
	if (!inet_ntop(c.family, c.addr, addr_text, sizeof(addr_text)))
		abort();
	snprintf(again, sizeof(again), "%s/%u", addr_text, c.prefix);
	struct net_cidr c2;
	if (net_cidr_parse(again, &c2, NULL) < 0 || c2.family != c.family || c2.prefix != c.prefix ||
	    memcmp(c2.addr, c.addr, 16) != 0)
		abort();

	/* An arbitrary address after the text agrees with the slow check. */
	if (rest_len == 4 || rest_len == 16) {
		int family = rest_len == 4 ? AF_INET : AF_INET6;
		struct sockaddr_storage ss;
		to_sockaddr(family, rest, &ss);
		uint8_t judged[16] = { 0 };
		int jf = family;
		memcpy(judged, rest, rest_len);
		if (family == AF_INET6 && is_mapped(rest)) {
			jf = AF_INET;
			memcpy(judged, rest + 12, 4);
		}
		if (net_cidr_contains(&c, (struct sockaddr *)&ss) != slow_contains(&c, jf, judged))
			abort();
	}
}

static void fuzz_decide(const uint8_t *in, size_t len, uint16_t port)
{
	struct proxy_host h;
	if (proxy_host_canonical((const char *)in, len, &h, NULL) < 0)
		return;
	struct net_decision d;
	net_policy_decide(np, &h, port, &d);
	if (!d.rule)
		abort();

	/* The linear scan: a deny match denies, then an allow match allows;
	 * the rule given must name one of the entries that match. */
	char want[400];
	bool denied = false, allowed = false, named = false;
	for (size_t i = 0; i < pol->n_denied_domains; i++) {
		if (!domain_pattern_match(&pol->denied_domains[i].pattern, h.text, port))
			continue;
		denied = true;
		snprintf(want, sizeof(want), "deniedDomains: %s", pol->denied_domains[i].text);
		named |= strcmp(want, d.rule) == 0;
	}
	if (!denied) {
		for (size_t i = 0; i < pol->n_allowed_domains; i++) {
			if (!domain_pattern_match(&pol->allowed_domains[i].pattern, h.text, port))
				continue;
			allowed = true;
			snprintf(want, sizeof(want), "allowedDomains: %s", pol->allowed_domains[i].text);
			named |= strcmp(want, d.rule) == 0;
		}
		if (!allowed)
			named = strcmp(d.rule, "no allowedDomains entry matches") == 0 && !d.rule_source;
	}
	if ((d.verdict == NET_ALLOW) != allowed || !named)
		abort();
	if (d.reason && d.verdict != NET_DENY)
		abort();
}

static void fuzz_guard(const uint8_t *in, size_t len, uint16_t port)
{
	if (len != 4 && len != 16)
		return;
	int family = len == 4 ? AF_INET : AF_INET6;
	struct sockaddr_storage ss;
	to_sockaddr(family, in, &ss);
	const char *cls = net_policy_guard(np, (struct sockaddr *)&ss, port);

	/* Judged as IPv4 when mapped. */
	int jf = family;
	uint8_t judged[16] = { 0 };
	memcpy(judged, in, len);
	if (family == AF_INET6 && is_mapped(in)) {
		jf = AF_INET;
		memcpy(judged, in + 12, 4);
	}
	bool in_range = false;
	for (size_t i = 0; i < N_RANGES; i++)
		in_range |= slow_contains(&ref_ranges[i], jf, judged);

	if (!cls) {
		/* Only an allowedDomains IP entry can let a refused range or
		 * a loopback address through. */
		char text[INET6_ADDRSTRLEN];
		if (!inet_ntop(jf, judged, text, sizeof(text)))
			abort();
		bool lifted = false;
		for (size_t i = 0; i < pol->n_allowed_domains; i++) {
			const struct domain_pattern *p = &pol->allowed_domains[i].pattern;
			if (p->kind == DOMAIN_NAME && strcmp(p->host, "localhost") == 0) {
				bool lo = jf == AF_INET ? memcmp(judged, "\x7f\0\0\x01", 4) == 0
							: is_v6_loopback(judged);
				lifted |= lo && (p->port == 0 || p->port == port);
			} else if (p->kind == DOMAIN_IPV4 || p->kind == DOMAIN_IPV6) {
				lifted |= domain_pattern_match(p, text, port);
			}
		}
		bool loopback = jf == AF_INET ? judged[0] == 127
					      : is_v6_loopback(judged);
		if ((in_range || loopback) && !lifted)
			abort();
		return;
	}
	const char *prefix = "deniedResolvedAddresses ";
	if (strncmp(cls, prefix, strlen(prefix)) == 0) {
		struct net_cidr c;
		if (net_cidr_parse(cls + strlen(prefix), &c, NULL) < 0 || !slow_contains(&c, jf, judged))
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 3)
		return 0;
	init();
	unsigned mode = data[0] % 3;
	uint16_t port = (uint16_t)(data[1] << 8 | data[2]);
	data += 3;
	size -= 3;

	if (mode == 0) {
		/* Text up to the first NUL, then optionally raw address bytes. */
		char *buf = malloc(size + 1);
		if (!buf)
			return 0;
		memcpy(buf, data, size);
		buf[size] = '\0';
		size_t tlen = strlen(buf);
		const uint8_t *rest = tlen < size ? data + tlen + 1 : data + size;
		fuzz_cidr(buf, rest, size - (size_t)(rest - data));
		free(buf);
	} else if (mode == 1) {
		fuzz_decide(data, size, port);
	} else {
		fuzz_guard(data, size, port);
	}
	return 0;
}
