/* Unit tests for the network policy: host decisions, the resolved-address guard, loopback ports and CIDRs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config/config.h"
#include "policy/netpolicy.h"
#include "policy/policy.h"
#include "proxy/host.h"

#define SETTINGS "/etc/test-net.json"

/* config text -> policy -> net policy. The policy is returned too (when
 * ret_p is not NULL) so that tests can compare with domain_pattern_match. */
static int build_full(const char *json, struct net_policy **ret, struct policy **ret_p, struct srt_error *err)
{
	struct config cfg;
	config_init(&cfg);
	struct policy *p = NULL;
	int r = config_parse_text(&cfg, SETTINGS, json, strlen(json), CONFIG_ORIGIN_USER, true, err);
	if (r == 0) {
		struct policy_env env = { .home = "/home/u", .cwd = "/" };
		r = policy_build(&cfg, &env, &p, err);
	}
	if (r == 0)
		r = net_policy_build(p, &cfg, ret, err);
	config_free(&cfg);
	if (r == 0 && ret_p)
		*ret_p = p;
	else
		policy_free(p);
	return r;
}

static struct net_policy *build(const char *json)
{
	struct net_policy *np = NULL;
	struct srt_error err = { 0 };
	if (build_full(json, &np, NULL, &err) != 0)
		fail_msg("build failed: %s", err.message);
	return np;
}

static void decide(const struct net_policy *np, const char *host, uint16_t port, struct net_decision *d)
{
	struct proxy_host h;
	const char *why = NULL;
	if (proxy_host_canonical(host, strlen(host), &h, &why) != 0)
		fail_msg("host '%s' refused: %s", host, why);
	net_policy_decide(np, &h, port, d);
}

static void expect(const struct net_policy *np, const char *host, uint16_t port, enum net_verdict v,
		   const char *rule)
{
	struct net_decision d;
	decide(np, host, port, &d);
	if (d.verdict != v || strcmp(d.rule, rule) != 0)
		fail_msg("%s:%u: got %s (%s), expected %s (%s)", host, port, d.verdict == NET_ALLOW ? "allow" : "deny",
			 d.rule, v == NET_ALLOW ? "allow" : "deny", rule);
}

#define NO_MATCH "no allowedDomains entry matches"

static void test_decide_names(void **state)
{
	(void)state;
	struct net_policy *np = build("{\"network\": {"
				      "\"allowedDomains\": [\"github.com\", \"*.example.com\", \"api.test:443\","
				      " \"Mixed.Case.Test.\"],"
				      "\"deniedDomains\": [\"evil.example.com\", \"*.bad.example.com\"]}}");
	expect(np, "github.com", 443, NET_ALLOW, "allowedDomains: github.com");
	expect(np, "GitHub.COM.", 80, NET_ALLOW, "allowedDomains: github.com");
	expect(np, "www.github.com", 443, NET_DENY, NO_MATCH);
	expect(np, "github.co", 443, NET_DENY, NO_MATCH);
	expect(np, "xgithub.com", 443, NET_DENY, NO_MATCH);
	/* A wildcard covers subdomains at any depth, never the apex. */
	expect(np, "a.example.com", 443, NET_ALLOW, "allowedDomains: *.example.com");
	expect(np, "a.b.c.example.com", 443, NET_ALLOW, "allowedDomains: *.example.com");
	expect(np, "example.com", 443, NET_DENY, NO_MATCH);
	expect(np, "aexample.com", 443, NET_DENY, NO_MATCH);
	/* Deny wins over allow, whichever is more specific. */
	expect(np, "evil.example.com", 443, NET_DENY, "deniedDomains: evil.example.com");
	expect(np, "x.evil.example.com", 443, NET_ALLOW, "allowedDomains: *.example.com");
	expect(np, "x.bad.example.com", 443, NET_DENY, "deniedDomains: *.bad.example.com");
	expect(np, "bad.example.com", 443, NET_ALLOW, "allowedDomains: *.example.com");
	/* Ports. */
	expect(np, "api.test", 443, NET_ALLOW, "allowedDomains: api.test:443");
	expect(np, "api.test", 80, NET_DENY, NO_MATCH);
	/* The rule is the entry as written; matching is not. */
	expect(np, "mixed.case.test", 1, NET_ALLOW, "allowedDomains: Mixed.Case.Test.");

	struct net_decision d;
	decide(np, "a.example.com", 443, &d);
	assert_non_null(d.rule_source);
	assert_non_null(strstr(d.rule_source, SETTINGS ":"));
	assert_non_null(strstr(d.rule_source, "network.allowedDomains[1]"));
	assert_null(d.reason);
	decide(np, "nowhere.test", 443, &d);
	assert_null(d.rule_source);
	assert_null(d.reason);
	net_policy_free(np);
}

static void test_decide_host_not_canonical(void **state)
{
	(void)state;
	struct net_policy *np = build("{\"network\": {\"allowedDomains\": [\"*.example.com\", \"github.com\"]}}");
	/* Hosts that proxy_host_canonical would refuse, handed in directly:
	 * an empty label must not turn into a wildcard match. */
	const char *bad[] = { ".example.com", "x..example.com", "", ".", "x.example.com:443" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct proxy_host h = { .kind = PROXY_HOST_NAME };
		snprintf(h.text, sizeof(h.text), "%s", bad[i]);
		struct net_decision d;
		net_policy_decide(np, &h, 443, &d);
		if (d.verdict != NET_DENY)
			fail_msg("'%s' allowed by %s", bad[i], d.rule);
	}
	/* Upper case and one trailing dot are folded even here. */
	struct proxy_host h = { .kind = PROXY_HOST_NAME };
	snprintf(h.text, sizeof(h.text), "GITHUB.com.");
	struct net_decision d;
	net_policy_decide(np, &h, 443, &d);
	assert_int_equal(d.verdict, NET_ALLOW);
	net_policy_free(np);
}

static void test_decide_ip_spellings(void **state)
{
	(void)state;
	struct net_policy *np = build("{\"network\": {"
				      "\"allowedDomains\": [\"10.0.0.1\", \"[2001:db8::1]:8443\", \"[::ffff:192.0.2.7]\","
				      " \"localhost\", \"[0:0::1]\"],"
				      "\"deniedDomains\": [\"10.0.0.2\"]}}");
	expect(np, "10.0.0.1", 80, NET_ALLOW, "allowedDomains: 10.0.0.1");
	expect(np, "10.1", 80, NET_ALLOW, "allowedDomains: 10.0.0.1");
	expect(np, "0x0a.0.0.1", 80, NET_ALLOW, "allowedDomains: 10.0.0.1");
	expect(np, "167772161", 80, NET_ALLOW, "allowedDomains: 10.0.0.1");
	expect(np, "[::ffff:10.0.0.1]", 80, NET_ALLOW, "allowedDomains: 10.0.0.1");
	expect(np, "10.0.0.2", 80, NET_DENY, "deniedDomains: 10.0.0.2");
	expect(np, "10.0.0.3", 80, NET_DENY, NO_MATCH);
	/* An IPv4-mapped entry is its IPv4 address. */
	expect(np, "192.0.2.7", 443, NET_ALLOW, "allowedDomains: [::ffff:192.0.2.7]");
	/* IPv6: one key whatever the spelling, and the port counts. */
	expect(np, "[2001:db8:0:0:0:0:0:1]", 8443, NET_ALLOW, "allowedDomains: [2001:db8::1]:8443");
	expect(np, "2001:DB8::1", 8443, NET_ALLOW, "allowedDomains: [2001:db8::1]:8443");
	expect(np, "[2001:db8::1]", 443, NET_DENY, NO_MATCH);
	expect(np, "[::1]", 443, NET_ALLOW, "allowedDomains: [0:0::1]");
	/* A name entry never matches an IP host, nor an IP entry a name. */
	expect(np, "127.0.0.1", 443, NET_DENY, NO_MATCH);
	expect(np, "localhost", 443, NET_ALLOW, "allowedDomains: localhost");
	net_policy_free(np);
}

static void test_deny_any_and_ports(void **state)
{
	(void)state;
	struct net_policy *np = build("{\"network\": {"
				      "\"allowedDomains\": [\"a.test:80\", \"a.test:443\", \"*.w.test:8080\", \"*.w.test:9090\","
				      " \"10.0.0.1\", \"mail.test\"],"
				      "\"deniedDomains\": [\"*:25\"]}}");
	expect(np, "a.test", 80, NET_ALLOW, "allowedDomains: a.test:80");
	expect(np, "a.test", 443, NET_ALLOW, "allowedDomains: a.test:443");
	expect(np, "a.test", 8443, NET_DENY, NO_MATCH);
	expect(np, "x.w.test", 9090, NET_ALLOW, "allowedDomains: *.w.test:9090");
	expect(np, "x.w.test", 8080, NET_ALLOW, "allowedDomains: *.w.test:8080");
	expect(np, "x.w.test", 80, NET_DENY, NO_MATCH);
	/* "*:25" refuses port 25 for names and addresses alike. */
	expect(np, "mail.test", 25, NET_DENY, "deniedDomains: *:25");
	expect(np, "10.0.0.1", 25, NET_DENY, "deniedDomains: *:25");
	expect(np, "[2001:db8::5]", 25, NET_DENY, "deniedDomains: *:25");
	expect(np, "mail.test", 587, NET_ALLOW, "allowedDomains: mail.test");
	net_policy_free(np);

	np = build("{\"network\": {\"allowedDomains\": [\"a.test\", \"1.2.3.4\"],"
		   " \"deniedDomains\": [\"*\", \"a.test\"], \"deniedDomainReasons\": {\"a.test\": \"no\"}}}");
	/* The most specific deny names the decision (and its reason). */
	struct net_decision d;
	decide(np, "a.test", 443, &d);
	assert_int_equal(d.verdict, NET_DENY);
	assert_string_equal(d.rule, "deniedDomains: a.test");
	assert_string_equal(d.reason, "no");
	expect(np, "b.test", 443, NET_DENY, "deniedDomains: *");
	expect(np, "1.2.3.4", 443, NET_DENY, "deniedDomains: *");
	net_policy_free(np);
}

/* The DNS responder's question: may the host be reached on some port? */
static void expect_any_port(const struct net_policy *np, const char *host, enum net_verdict v, bool by_default,
			    const char *rule)
{
	struct proxy_host h;
	const char *why = NULL;
	if (proxy_host_canonical(host, strlen(host), &h, &why) != 0)
		fail_msg("host '%s' refused: %s", host, why);
	struct net_decision d;
	net_policy_decide_any_port(np, &h, &d);
	if (d.verdict != v || d.by_default != by_default || strcmp(d.rule, rule) != 0)
		fail_msg("%s: got %s%s (%s), expected %s%s (%s)", host, d.verdict == NET_ALLOW ? "allow" : "deny",
			 d.by_default ? " by default" : "", d.rule, v == NET_ALLOW ? "allow" : "deny",
			 by_default ? " by default" : "", rule);
}

static void test_decide_any_port(void **state)
{
	(void)state;
	struct net_policy *np = build("{\"network\": {"
				      "\"allowedDomains\": [\"a.test:80\", \"a.test:443\", \"*.w.test:8080\", \"b.test:443\","
				      " \"10.0.0.1\", \"mail.test\", \"*.deny.test\", \"c.test\"],"
				      "\"deniedDomains\": [\"*:25\", \"b.test:443\", \"x.deny.test\", \"c.test:22\"],"
				      "\"deniedDomainReasons\": {\"x.deny.test\": \"why\"}}}");
	expect_any_port(np, "a.test", NET_ALLOW, false, "allowedDomains: a.test:80");
	expect_any_port(np, "x.w.test", NET_ALLOW, false, "allowedDomains: *.w.test:8080");
	expect_any_port(np, "10.0.0.1", NET_ALLOW, false, "allowedDomains: 10.0.0.1");
	/* "*:25" refuses one port only. */
	expect_any_port(np, "mail.test", NET_ALLOW, false, "allowedDomains: mail.test");
	/* Its only allowed port is refused: no port is left, but nothing
	 * refuses every port either. */
	expect_any_port(np, "b.test", NET_DENY, true, NO_MATCH);
	/* A port refused, the others allowed. */
	expect_any_port(np, "c.test", NET_ALLOW, false, "allowedDomains: c.test");
	/* A deny entry without a port refuses every port, whatever allows. */
	struct proxy_host h;
	const char *why;
	assert_int_equal(proxy_host_canonical("x.deny.test", 11, &h, &why), 0);
	struct net_decision d;
	net_policy_decide_any_port(np, &h, &d);
	assert_int_equal(d.verdict, NET_DENY);
	assert_false(d.by_default);
	assert_string_equal(d.rule, "deniedDomains: x.deny.test");
	assert_string_equal(d.reason, "why");
	expect_any_port(np, "y.deny.test", NET_ALLOW, false, "allowedDomains: *.deny.test");
	expect_any_port(np, "nowhere.test", NET_DENY, true, NO_MATCH);
	expect_any_port(np, "w.test", NET_DENY, true, NO_MATCH);
	net_policy_free(np);

	np = build("{\"network\": {\"allowedDomains\": [\"a.test\"], \"deniedDomains\": [\"*\"]}}");
	expect_any_port(np, "a.test", NET_DENY, false, "deniedDomains: *");
	net_policy_free(np);
	np = build("{\"network\": {}}");
	expect_any_port(np, "a.test", NET_DENY, true, NO_MATCH);
	net_policy_free(np);
}

static void test_reasons(void **state)
{
	(void)state;
	struct net_policy *np = build("{\"network\": {\"allowedDomains\": [\"evil.test\", \"plain.test\", \"other.test\","
				      " \"*.example.com\", \"10.9.9.9\"],"
				      "\"deniedDomains\": [\"Evil.Test.\", \"*.bad.example.com\", \"plain.test\", \"10.9.9.9\"],"
				      "\"deniedDomainReasons\": {\"evil.test\": \"evil is refused\","
				      " \"*.BAD.example.com.\": \"bad subdomains\", \"other.test\": \"unused\","
				      " \"10.9.9.9\": \"that address\"}}}");
	struct net_decision d;
	decide(np, "evil.test", 443, &d);
	assert_int_equal(d.verdict, NET_DENY);
	assert_string_equal(d.rule, "deniedDomains: Evil.Test.");
	assert_string_equal(d.reason, "evil is refused");
	assert_non_null(strstr(d.rule_source, "network.deniedDomains[0]"));
	decide(np, "x.bad.example.com", 443, &d);
	assert_string_equal(d.reason, "bad subdomains");
	decide(np, "plain.test", 443, &d);
	assert_int_equal(d.verdict, NET_DENY);
	assert_null(d.reason);
	decide(np, "10.9.9.9", 443, &d);
	assert_string_equal(d.reason, "that address");
	/* Allow decisions never carry a reason. */
	decide(np, "other.test", 443, &d);
	assert_int_equal(d.verdict, NET_ALLOW);
	assert_null(d.reason);
	net_policy_free(np);
}

/* The decision by a linear scan with domain_pattern_match, to compare the
 * hash tables with. Returns the verdict; *deny_hit / *allow_hit tell
 * whether rule (when not NULL) names an entry that matches. */
static enum net_verdict reference(const struct policy *p, const struct proxy_host *h, uint16_t port,
				  const char *rule, bool *rule_ok)
{
	*rule_ok = false;
	bool denied = false;
	char want[400];
	for (size_t i = 0; i < p->n_denied_domains; i++) {
		if (!domain_pattern_match(&p->denied_domains[i].pattern, h->text, port))
			continue;
		denied = true;
		snprintf(want, sizeof(want), "deniedDomains: %s", p->denied_domains[i].text);
		if (rule && strcmp(rule, want) == 0)
			*rule_ok = true;
	}
	if (denied)
		return NET_DENY;
	bool allowed = false;
	for (size_t i = 0; i < p->n_allowed_domains; i++) {
		if (!domain_pattern_match(&p->allowed_domains[i].pattern, h->text, port))
			continue;
		allowed = true;
		snprintf(want, sizeof(want), "allowedDomains: %s", p->allowed_domains[i].text);
		if (rule && strcmp(rule, want) == 0)
			*rule_ok = true;
	}
	if (!allowed && rule && strcmp(rule, NO_MATCH) == 0)
		*rule_ok = true;
	return allowed ? NET_ALLOW : NET_DENY;
}

struct buf {
	char *s;
	size_t n, cap;
};

static void buf_add(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	for (;;) {
		va_start(ap, fmt);
		int n = vsnprintf(b->s + b->n, b->cap - b->n, fmt, ap);
		va_end(ap);
		assert_true(n >= 0);
		if ((size_t)n < b->cap - b->n) {
			b->n += (size_t)n;
			return;
		}
		b->cap = b->cap * 2 + (size_t)n + 64;
		b->s = realloc(b->s, b->cap);
		assert_non_null(b->s);
	}
}

#define N_BIG 10000

/* Entry i of a generated list; the same i gives related allow and deny
 * entries so that the lists overlap. */
static void gen_entry(struct buf *b, bool deny, unsigned i)
{
	const char *sep = i ? ", " : "";
	switch (i % 6) {
	case 0: buf_add(b, "%s\"h%u.z%u.%s.test\"", sep, i, i % 97, deny ? "d" : "a"); break;
	case 1: buf_add(b, "%s\"*.w%u.test\"", sep, deny ? i / 3 : i); break;
	case 2: buf_add(b, "%s\"p%u.test:%u\"", sep, i % 500, 1000 + i % 7); break;
	case 3: buf_add(b, "%s\"10.%u.%u.%u\"", sep, (i >> 16) & 255, (i >> 8) & 255, i & 255); break;
	case 4: buf_add(b, "%s\"[2001:db8::%x]:%u\"", sep, deny ? i / 2 : i, 443 + i % 2); break;
	default: buf_add(b, "%s\"*.s%u.w%u.test\"", sep, i % 300, (i / 6) % 50); break;
	}
}

/* A host to ask about for query q: hits, near misses and misses. */
static void gen_host(char *out, size_t n, unsigned q)
{
	unsigned i = (q * 2654435761u) % (N_BIG + 200);
	switch (q % 9) {
	case 0: snprintf(out, n, "h%u.z%u.%s.test", i, i % 97, q & 1 ? "d" : "a"); break;
	case 1: snprintf(out, n, "x%u.w%u.test", q, i); break;
	case 2: snprintf(out, n, "w%u.test", i); break; /* an apex */
	case 3: snprintf(out, n, "p%u.test", i % 520); break;
	case 4: snprintf(out, n, "10.%u.%u.%u", (i >> 16) & 255, (i >> 8) & 255, i & 255); break;
	case 5: snprintf(out, n, "[2001:db8::%x]", i); break;
	case 6: snprintf(out, n, "a.b.s%u.w%u.test", i % 310, i % 55); break;
	case 7: snprintf(out, n, "[::ffff:10.%u.%u.%u]", (i >> 16) & 255, (i >> 8) & 255, i & 255); break;
	default: snprintf(out, n, "miss%u.example", q); break;
	}
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void test_ten_thousand_entries(void **state)
{
	(void)state;
	struct buf b = { 0 };
	buf_add(&b, "{\"network\": {\"allowedDomains\": [");
	for (unsigned i = 0; i < N_BIG; i++)
		gen_entry(&b, false, i);
	buf_add(&b, "], \"deniedDomains\": [");
	for (unsigned i = 0; i < N_BIG; i++)
		gen_entry(&b, true, i);
	buf_add(&b, "]}}");

	struct net_policy *np = NULL;
	struct policy *p = NULL;
	struct srt_error err = { 0 };
	if (build_full(b.s, &np, &p, &err) != 0)
		fail_msg("build failed: %s", err.message);
	free(b.s);
	assert_int_equal(p->n_allowed_domains, N_BIG);
	assert_int_equal(p->n_denied_domains, N_BIG);

	/* Every decision agrees with a linear scan, and its rule names an
	 * entry that matches. */
	unsigned n_allow = 0, n_deny_rule = 0;
	for (unsigned q = 0; q < 600; q++) {
		char host[128];
		gen_host(host, sizeof(host), q);
		struct proxy_host h;
		assert_int_equal(proxy_host_canonical(host, strlen(host), &h, NULL), 0);
		uint16_t ports[] = { 443, (uint16_t)(1000 + q % 7), 444 };
		for (size_t k = 0; k < 3; k++) {
			struct net_decision d;
			net_policy_decide(np, &h, ports[k], &d);
			bool rule_ok;
			enum net_verdict want = reference(p, &h, ports[k], d.rule, &rule_ok);
			if (d.verdict != want || !rule_ok)
				fail_msg("%s:%u: got %s (%s), linear scan says %s", host, ports[k],
					 d.verdict == NET_ALLOW ? "allow" : "deny", d.rule,
					 want == NET_ALLOW ? "allow" : "deny");
			n_allow += d.verdict == NET_ALLOW;
			n_deny_rule += d.verdict == NET_DENY && strncmp(d.rule, "deniedDomains:", 14) == 0;
		}
	}
	/* The generated queries exercise all three outcomes. */
	assert_true(n_allow > 50);
	assert_true(n_deny_rule > 50);

	/* Lookups do not scan the lists: 200,000 of them take well under the
	 * seconds a linear scan of 20,000 entries each would need, even under
	 * sanitizers. */
	double t0 = now();
	unsigned allowed = 0;
	for (unsigned q = 0; q < 200000; q++) {
		char host[128];
		gen_host(host, sizeof(host), q);
		struct proxy_host h;
		if (proxy_host_canonical(host, strlen(host), &h, NULL) != 0)
			continue;
		struct net_decision d;
		net_policy_decide(np, &h, 443, &d);
		allowed += d.verdict == NET_ALLOW;
	}
	double dt = now() - t0;
	assert_true(allowed > 0);
	if (dt > 10.0)
		fail_msg("200,000 decisions took %.1f s", dt);
	net_policy_free(np);
	policy_free(p);
}

static const struct sockaddr *sa(const char *text, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
	if (inet_pton(AF_INET, text, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		return (struct sockaddr *)ss;
	}
	if (inet_pton(AF_INET6, text, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		return (struct sockaddr *)ss;
	}
	fail_msg("bad address in test: %s", text);
	return NULL;
}

static void expect_guard(const struct net_policy *np, const char *addr, uint16_t port, const char *cls)
{
	struct sockaddr_storage ss;
	const char *got = net_policy_guard(np, sa(addr, &ss), port);
	if (!cls && got)
		fail_msg("%s port %u refused as '%s', expected allowed", addr, port, got);
	if (cls && (!got || strcmp(got, cls) != 0))
		fail_msg("%s port %u: got '%s', expected '%s'", addr, port, got ? got : "(allowed)", cls);
}

static void test_guard_classes(void **state)
{
	(void)state;
	struct net_policy *np = build("{}");
	struct { const char *addr, *cls; } cases[] = {
		{ "127.0.0.1", "loopback" },
		{ "127.255.255.254", "loopback" },
		{ "::1", "loopback" },
		{ "::ffff:127.0.0.1", "loopback" },
		{ "0.0.0.0", "unspecified (0.0.0.0/8)" },
		{ "0.1.2.3", "unspecified (0.0.0.0/8)" },
		{ "::ffff:0.0.0.0", "unspecified (0.0.0.0/8)" },
		{ "::", "unspecified (::)" },
		{ "169.254.0.1", "link-local" },
		{ "169.254.255.255", "link-local" },
		{ "fe80::1", "link-local" },
		{ "febf:ffff::1", "link-local" },
		{ "224.0.0.1", "multicast" },
		{ "239.255.255.250", "multicast" },
		{ "ff02::1", "multicast" },
		{ "::ffff:224.0.0.251", "multicast" },
		{ "255.255.255.255", "broadcast" },
		{ "169.254.169.254", "cloud metadata endpoint" },
		{ "::ffff:169.254.169.254", "cloud metadata endpoint" },
		{ "100.100.100.200", "cloud metadata endpoint" },
		{ "fd00:ec2::254", "cloud metadata endpoint" },
		/* Neighbours of the classes are fine. */
		{ "128.0.0.1", NULL },
		{ "1.0.0.0", NULL },
		{ "169.253.255.255", NULL },
		{ "169.255.0.0", NULL },
		{ "223.255.255.255", NULL },
		{ "240.0.0.1", NULL },
		{ "255.255.255.254", NULL },
		{ "100.100.100.201", NULL },
		{ "fec0::1", NULL },
		{ "fd00:ec2::253", NULL },
		{ "::2", NULL },
		{ "2001:db8::1", NULL },
		{ "::ffff:192.0.2.1", NULL },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		/* A class that happens to be this host's address is refused
		 * anyway, just under another name. */
		struct sockaddr_storage ss;
		const char *got = net_policy_guard(np, sa(cases[i].addr, &ss), 443);
		if (!cases[i].cls && got && strcmp(got, "an address of this host") == 0)
			continue;
		expect_guard(np, cases[i].addr, 443, cases[i].cls);
	}
	/* Not an internet address at all. */
	struct sockaddr un = { .sa_family = AF_UNIX };
	assert_non_null(net_policy_guard(np, &un, 443));
	assert_non_null(net_policy_guard(np, NULL, 443));
	net_policy_free(np);
}

static void test_guard_lift(void **state)
{
	(void)state;
	struct net_policy *np = build("{\"network\": {\"allowedDomains\": [\"127.0.0.1:8080\", \"169.254.169.254\","
				      " \"[fe80::1]:22\", \"10.1.2.3\", \"localhost:5432\"],"
				      " \"deniedDomains\": [\"10.1.2.3\"],"
				      " \"deniedResolvedAddresses\": [\"169.254.0.0/16\"]}}");
	expect_guard(np, "127.0.0.1", 8080, NULL);
	expect_guard(np, "::ffff:127.0.0.1", 8080, NULL);
	expect_guard(np, "127.0.0.1", 8081, "loopback");
	expect_guard(np, "127.0.0.2", 8080, "loopback");
	/* "localhost" stands for 127.0.0.1 and ::1, at its port. */
	expect_guard(np, "127.0.0.1", 5432, NULL);
	expect_guard(np, "::1", 5432, NULL);
	expect_guard(np, "::1", 5433, "loopback");
	expect_guard(np, "127.0.0.2", 5432, "loopback");
	/* The lift beats every class, and the user's deniedResolvedAddresses. */
	expect_guard(np, "169.254.169.254", 80, NULL);
	expect_guard(np, "169.254.1.1", 80, "deniedResolvedAddresses 169.254.0.0/16");
	expect_guard(np, "fe80::1", 22, NULL);
	expect_guard(np, "fe80::1", 23, "link-local");
	/* Allowed and denied at once: the allowance of that exact address wins
	 * here (decide refuses a request for the literal itself). */
	expect_guard(np, "10.1.2.3", 443, NULL);
	net_policy_free(np);

	np = build("{\"network\": {\"allowedDomains\": [\"localhost\"]}}");
	expect_guard(np, "127.0.0.1", 1, NULL);
	expect_guard(np, "::1", 65535, NULL);
	expect_guard(np, "127.0.0.53", 53, "loopback");
	net_policy_free(np);
}

static void test_guard_user_refusals(void **state)
{
	(void)state;
	struct net_policy *np = build("{\"network\": {\"deniedDomains\": [\"192.0.2.9\", \"[2001:db8::9]:443\"],"
				      " \"deniedResolvedAddresses\": [\"198.51.100.0/24\", \"198.51.100.128/25\","
				      " \"2001:db8:1::/48\", \"::ffff:203.0.113.0/120\", \"192.0.2.77\", \"::/0\"]}}");
	expect_guard(np, "192.0.2.9", 443, "deniedDomains IP literal");
	expect_guard(np, "::ffff:192.0.2.9", 80, "deniedDomains IP literal");
	expect_guard(np, "2001:db8::9", 443, "deniedDomains IP literal");
	expect_guard(np, "2001:db8::9", 80, "deniedResolvedAddresses ::/0"); /* not the literal's port */
	expect_guard(np, "198.51.100.1", 443, "deniedResolvedAddresses 198.51.100.0/24");
	/* The most specific range names the refusal. */
	expect_guard(np, "198.51.100.200", 443, "deniedResolvedAddresses 198.51.100.128/25");
	expect_guard(np, "198.51.101.1", 443, NULL);
	expect_guard(np, "2001:db8:1:ffff::1", 443, "deniedResolvedAddresses 2001:db8:1::/48");
	expect_guard(np, "2001:db8:0:ffff::1", 443, "deniedResolvedAddresses ::/0");
	/* A mapped range is an IPv4 range, met by both spellings. */
	expect_guard(np, "203.0.113.5", 443, "deniedResolvedAddresses ::ffff:203.0.113.0/120");
	expect_guard(np, "::ffff:203.0.113.5", 443, "deniedResolvedAddresses ::ffff:203.0.113.0/120");
	expect_guard(np, "192.0.2.77", 443, "deniedResolvedAddresses 192.0.2.77");
	expect_guard(np, "192.0.2.78", 443, NULL);
	/* "::/0" refuses every IPv6 address, and no IPv4 address whatever its
	 * spelling: mapped addresses are judged as IPv4. */
	expect_guard(np, "2001:db8:2::1", 443, "deniedResolvedAddresses ::/0");
	expect_guard(np, "::ffff:198.51.101.1", 443, NULL);
	net_policy_free(np);
}

static void test_guard_host_addresses(void **state)
{
	(void)state;
	struct net_policy *np = build("{}");
	struct ifaddrs *ifa = NULL;
	assert_int_equal(getifaddrs(&ifa), 0);
	size_t checked = 0;
	for (struct ifaddrs *i = ifa; i; i = i->ifa_next) {
		if (!i->ifa_addr || (i->ifa_addr->sa_family != AF_INET && i->ifa_addr->sa_family != AF_INET6))
			continue;
		const char *got = net_policy_guard(np, i->ifa_addr, 443);
		/* Refused always; the generic class names it when one fits. */
		if (!got)
			fail_msg("an address of interface %s is allowed", i->ifa_name);
		checked++;
		char text[INET6_ADDRSTRLEN];
		if (i->ifa_addr->sa_family == AF_INET) {
			const struct sockaddr_in *s4 = (const struct sockaddr_in *)i->ifa_addr;
			inet_ntop(AF_INET, &s4->sin_addr, text, sizeof(text));
			if (strncmp(text, "127.", 4) != 0 && strncmp(text, "169.254.", 8) != 0)
				assert_string_equal(got, "an address of this host");
			/* The mapped spelling is the same address. */
			char mapped[64];
			snprintf(mapped, sizeof(mapped), "::ffff:%s", text);
			struct sockaddr_storage ss;
			assert_string_equal(net_policy_guard(np, sa(mapped, &ss), 443), got);
		} else {
			const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)i->ifa_addr;
			if (!IN6_IS_ADDR_LOOPBACK(&s6->sin6_addr) && !IN6_IS_ADDR_LINKLOCAL(&s6->sin6_addr) &&
			    !IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr))
				assert_string_equal(got, "an address of this host");
		}
	}
	freeifaddrs(ifa);
	assert_true(checked > 0); /* at least lo */
	net_policy_free(np);
}

static void test_loopback_ports(void **state)
{
	(void)state;
	struct net_policy *np = build("{\"network\": {\"allowedDomains\": [\"localhost:5432\", \"127.0.0.1:8080\","
				      " \"[::1]:8080\", \"127.9.9.9:22\", \"[::ffff:127.0.0.1]:6379\", \"localhost\","
				      " \"127.0.0.1\", \"10.0.0.1:3306\", \"db.test:5433\", \"LocalHost.:11211\"]}}");
	uint16_t ports[8];
	size_t n = net_policy_loopback_ports(np, ports, 8);
	assert_int_equal(n, 5);
	uint16_t want[] = { 22, 5432, 6379, 8080, 11211 };
	for (size_t i = 0; i < n; i++)
		assert_int_equal(ports[i], want[i]);
	/* Fewer places than ports: the first ones, and the full count. */
	memset(ports, 0, sizeof(ports));
	assert_int_equal(net_policy_loopback_ports(np, ports, 2), 5);
	assert_int_equal(ports[0], 22);
	assert_int_equal(ports[1], 5432);
	assert_int_equal(ports[2], 0);
	assert_int_equal(net_policy_loopback_ports(np, NULL, 0), 5);
	net_policy_free(np);

	np = build("{\"network\": {\"allowedDomains\": [\"localhost\", \"github.com:443\"]}}");
	assert_int_equal(net_policy_loopback_ports(np, NULL, 0), 0);
	net_policy_free(np);
}

/* A host loopback service is reached with no proxy in between: a
 * deniedDomains entry that refuses it (`*`, the name, the address, with or
 * without its port) must keep its listener out of the sandbox. */
static void test_loopback_ports_denied(void **state)
{
	(void)state;
	static const char *const denies[] = { "*", "localhost", "127.0.0.1", "[::1]", "localhost:5432",
					      "127.0.0.1:5432" };
	for (size_t i = 0; i < sizeof(denies) / sizeof(denies[0]); i++) {
		char text[256];
		snprintf(text, sizeof(text),
			 "{\"network\": {\"allowedDomains\": [\"localhost:5432\", \"127.0.0.1:6379\"],"
			 " \"deniedDomains\": [\"%s\"]}}", denies[i]);
		struct net_policy *np = build(text);
		uint16_t ports[4] = { 0 };
		size_t n = net_policy_loopback_ports(np, ports, 4);
		if (strchr(denies[i], ':') && denies[i][0] != '[') {
			/* Only that port is refused. */
			assert_int_equal(n, 1);
			assert_int_equal(ports[0], 6379);
		} else {
			assert_int_equal(n, 0);
		}
		net_policy_free(np);
	}
}

static void expect_cidr(const char *text, int family, const char *addr, unsigned prefix)
{
	struct net_cidr c;
	const char *why = NULL;
	if (net_cidr_parse(text, &c, &why) != 0)
		fail_msg("'%s' refused: %s", text, why);
	assert_int_equal(c.family, family);
	assert_int_equal(c.prefix, prefix);
	uint8_t want[16] = { 0 };
	assert_int_equal(inet_pton(family, addr, want), 1);
	if (memcmp(c.addr, want, family == AF_INET ? 4 : 16) != 0)
		fail_msg("'%s': wrong network address (want %s)", text, addr);
}

static void expect_cidr_refused(const char *text, const char *why_part)
{
	struct net_cidr c = { .family = 99 };
	const char *why = NULL;
	int r = net_cidr_parse(text, &c, &why);
	if (r == 0)
		fail_msg("'%s' accepted", text);
	assert_int_equal(r, -EINVAL);
	assert_non_null(why);
	if (why_part && !strstr(why, why_part))
		fail_msg("'%s': reason '%s' does not mention '%s'", text, why, why_part);
	assert_int_equal(c.family, 99);
}

static void test_cidr_parse(void **state)
{
	(void)state;
	expect_cidr("10.0.0.0/8", AF_INET, "10.0.0.0", 8);
	expect_cidr("10.1.2.3/8", AF_INET, "10.0.0.0", 8); /* host bits cleared */
	expect_cidr("10.1.2.3", AF_INET, "10.1.2.3", 32);
	expect_cidr("10.1.2.3/32", AF_INET, "10.1.2.3", 32);
	expect_cidr("255.255.255.255/0", AF_INET, "0.0.0.0", 0);
	expect_cidr("192.168.130.7/17", AF_INET, "192.168.128.0", 17);
	expect_cidr("fd00::/8", AF_INET6, "fd00::", 8);
	expect_cidr("fdff:1:2::3/9", AF_INET6, "fd80::", 9);
	expect_cidr("::1", AF_INET6, "::1", 128);
	expect_cidr("::/0", AF_INET6, "::", 0);
	expect_cidr("2001:DB8::ffff/127", AF_INET6, "2001:db8::fffe", 127);
	/* IPv4-mapped with a prefix of 96 or more is an IPv4 range. */
	expect_cidr("::ffff:10.1.2.3/104", AF_INET, "10.0.0.0", 8);
	expect_cidr("::ffff:10.1.2.3", AF_INET, "10.1.2.3", 32);
	expect_cidr("::ffff:0.0.0.0/96", AF_INET, "0.0.0.0", 0);
	expect_cidr("::ffff:10.1.2.3/95", AF_INET6, "::fffe:0:0", 95);

	expect_cidr_refused("", "empty");
	expect_cidr_refused("/8", "missing address");
	expect_cidr_refused("10.0.0.0/", "missing prefix");
	expect_cidr_refused("10.0.0.0/8/8", "'/'");
	expect_cidr_refused("10.0.0.0/33", "out of range");
	expect_cidr_refused("10.0.0.0/100", "out of range");
	expect_cidr_refused("10.0.0.0/4294967304", "out of range");
	expect_cidr_refused("::/129", "out of range");
	expect_cidr_refused("10.0.0.0/08", "leading zero");
	expect_cidr_refused("10.0.0.0/00", "leading zero");
	expect_cidr_refused("10.0.0.0/+8", "decimal");
	expect_cidr_refused("10.0.0.0/-8", "decimal");
	expect_cidr_refused("10.0.0.0/0x8", "decimal");
	expect_cidr_refused("10.0.0.0 /8", "whitespace");
	expect_cidr_refused(" 10.0.0.0/8", "whitespace");
	expect_cidr_refused("10.0.0.0/8\n", "whitespace");
	expect_cidr_refused("10.0.0", "not an IPv4");
	expect_cidr_refused("10.0.0.256", "not an IPv4");
	expect_cidr_refused("010.0.0.1", "not an IPv4");
	expect_cidr_refused("0x7f.0.0.1", "not an IPv4");
	expect_cidr_refused("example.com/8", "not an IPv4");
	expect_cidr_refused("[::1]/128", "not an IPv4");
	expect_cidr_refused("fe80::1%eth0/64", "not an IPv4");
	expect_cidr_refused("1:2:3:4:5:6:7:8:9/64", "not an IPv4");
	expect_cidr_refused("0000000000000000000000000000000000000000000000000000000000000001", "not an IPv4");
	expect_cidr_refused(NULL, "empty");
}

static void test_cidr_contains(void **state)
{
	(void)state;
	struct net_cidr c;
	struct sockaddr_storage ss;
	assert_int_equal(net_cidr_parse("192.168.128.0/17", &c, NULL), 0);
	assert_true(net_cidr_contains(&c, sa("192.168.128.0", &ss)));
	assert_true(net_cidr_contains(&c, sa("192.168.255.255", &ss)));
	assert_true(net_cidr_contains(&c, sa("::ffff:192.168.200.1", &ss)));
	assert_false(net_cidr_contains(&c, sa("192.168.127.255", &ss)));
	assert_false(net_cidr_contains(&c, sa("192.169.128.0", &ss)));
	assert_false(net_cidr_contains(&c, sa("::c0a8:8001", &ss))); /* IPv4-compatible is not IPv4 */

	assert_int_equal(net_cidr_parse("0.0.0.0/0", &c, NULL), 0);
	assert_true(net_cidr_contains(&c, sa("1.2.3.4", &ss)));
	assert_false(net_cidr_contains(&c, sa("2001:db8::1", &ss)));

	assert_int_equal(net_cidr_parse("2001:db8::/32", &c, NULL), 0);
	assert_true(net_cidr_contains(&c, sa("2001:db8:ffff::1", &ss)));
	assert_false(net_cidr_contains(&c, sa("2001:db9::1", &ss)));
	assert_false(net_cidr_contains(&c, sa("32.1.13.184", &ss)));

	assert_int_equal(net_cidr_parse("::1", &c, NULL), 0);
	assert_true(net_cidr_contains(&c, sa("::1", &ss)));
	assert_false(net_cidr_contains(&c, sa("::", &ss)));

	/* IPv6 ranges never meet IPv4 addresses, mapped or not. */
	assert_int_equal(net_cidr_parse("::/0", &c, NULL), 0);
	assert_true(net_cidr_contains(&c, sa("2001:db8::1", &ss)));
	assert_false(net_cidr_contains(&c, sa("8.8.8.8", &ss)));
	assert_false(net_cidr_contains(&c, sa("::ffff:8.8.8.8", &ss)));
	/* A mapped IPv6 range built by hand is still its IPv4 range. */
	struct net_cidr m = { .family = AF_INET6, .prefix = 120 };
	assert_int_equal(inet_pton(AF_INET6, "::ffff:10.0.0.0", m.addr), 1);
	assert_true(net_cidr_contains(&m, sa("10.0.0.77", &ss)));
	assert_true(net_cidr_contains(&m, sa("::ffff:10.0.0.77", &ss)));
	assert_false(net_cidr_contains(&m, sa("10.0.1.77", &ss)));

	struct sockaddr un = { .sa_family = AF_UNIX };
	assert_false(net_cidr_contains(&c, &un));
	assert_false(net_cidr_contains(&c, NULL));

	/* Every prefix length: the first and last address are in, the ones
	 * either side are out. */
	for (unsigned len = 1; len <= 32; len++) {
		char text[32];
		snprintf(text, sizeof(text), "172.16.0.0/%u", len);
		assert_int_equal(net_cidr_parse(text, &c, NULL), 0);
		uint32_t base = ntohl(*(uint32_t *)c.addr);
		uint32_t last = base | (len == 32 ? 0 : (0xffffffffu >> len));
		struct sockaddr_in s4 = { .sin_family = AF_INET };
		s4.sin_addr.s_addr = htonl(base);
		assert_true(net_cidr_contains(&c, (struct sockaddr *)&s4));
		s4.sin_addr.s_addr = htonl(last);
		assert_true(net_cidr_contains(&c, (struct sockaddr *)&s4));
		s4.sin_addr.s_addr = htonl(last + 1);
		if (last != 0xffffffffu)
			assert_false(net_cidr_contains(&c, (struct sockaddr *)&s4));
		s4.sin_addr.s_addr = htonl(base - 1);
		if (base != 0)
			assert_false(net_cidr_contains(&c, (struct sockaddr *)&s4));
	}
}

static void test_bad_range_names_its_position(void **state)
{
	(void)state;
	struct net_policy *np = NULL;
	struct srt_error err = { 0 };
	int r = build_full("{\n  \"network\": {\n    \"deniedResolvedAddresses\": [\"10.0.0.0/8\",\n"
			   "      \"10.0.0.0/33\"]\n  }\n}", &np, NULL, &err);
	assert_int_equal(r, -EINVAL);
	assert_null(np);
	if (!strstr(err.message, SETTINGS ":4:7: network.deniedResolvedAddresses[1]: "
			"invalid address range '10.0.0.0/33': prefix length out of range"))
		fail_msg("message: %s", err.message);
}

static void test_outlives_policy_and_config(void **state)
{
	(void)state;
	/* build() frees the config and the policy before returning: every
	 * string a decision hands out belongs to the net policy. */
	struct net_policy *np = build("{\"network\": {\"allowedDomains\": [\"a.test\"], \"deniedDomains\": [\"b.test\"],"
				      " \"deniedDomainReasons\": {\"b.test\": \"because\"},"
				      " \"deniedResolvedAddresses\": [\"192.0.2.0/24\"]}}");
	struct net_decision d;
	decide(np, "b.test", 443, &d);
	assert_string_equal(d.rule, "deniedDomains: b.test");
	assert_string_equal(d.reason, "because");
	assert_non_null(strstr(d.rule_source, "network.deniedDomains[0]"));
	expect_guard(np, "192.0.2.1", 443, "deniedResolvedAddresses 192.0.2.0/24");
	net_policy_free(np);
	net_policy_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_decide_names),
		cmocka_unit_test(test_decide_host_not_canonical),
		cmocka_unit_test(test_decide_ip_spellings),
		cmocka_unit_test(test_deny_any_and_ports),
		cmocka_unit_test(test_decide_any_port),
		cmocka_unit_test(test_reasons),
		cmocka_unit_test(test_ten_thousand_entries),
		cmocka_unit_test(test_guard_classes),
		cmocka_unit_test(test_guard_lift),
		cmocka_unit_test(test_guard_user_refusals),
		cmocka_unit_test(test_guard_host_addresses),
		cmocka_unit_test(test_loopback_ports),
		cmocka_unit_test(test_loopback_ports_denied),
		cmocka_unit_test(test_cidr_parse),
		cmocka_unit_test(test_cidr_contains),
		cmocka_unit_test(test_bad_range_names_its_position),
		cmocka_unit_test(test_outlives_policy_and_config),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
