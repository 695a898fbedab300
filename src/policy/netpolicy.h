/* The network half of the policy: which host:port a sandbox may reach, and which resolved addresses may be dialed. Pure apart from reading this host's interface addresses. */
#ifndef SRT_POLICY_NETPOLICY_H
#define SRT_POLICY_NETPOLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "proxy/host.h"
#include "util/util.h"

struct policy;
struct config;

/* Built once from the policy's allowedDomains / deniedDomains (already
 * parsed and validated by policy_build, with their sources), and the
 * config's network.deniedDomainReasons and network.deniedResolvedAddresses.
 * Lookups are independent of the number of entries: a hash of exact names
 * and IP literals, and a hash of wildcard suffixes probed once per label of
 * the requested host. Immutable once built: safe to share between threads. */
struct net_policy;

enum net_verdict {
	NET_ALLOW,
	NET_DENY,
};

struct net_decision {
	enum net_verdict verdict;
	/* What decided, for messages and violations; owned by the net_policy:
	 *   "deniedDomains: evil.test"
	 *   "allowedDomains: *.example.com"
	 *   "no allowedDomains entry matches"          (default deny, rule_source NULL)
	 */
	const char *rule;
	const char *rule_source;  /* "FILE:LINE:COL network.deniedDomains[2]", or NULL */
	/* deniedDomainReasons text for the deny entry that matched, else NULL. */
	const char *reason;
	/* True when no entry of either list matched: the default deny (rule
	 * "no allowedDomains entry matches", rule_source NULL). A caller that
	 * may widen the policy (a per-sandbox list, asking someone) does so
	 * only then: an explicit deniedDomains match is never overridden. */
	bool by_default;
};

/* Build. cfg supplies deniedDomainReasons and deniedResolvedAddresses
 * (CIDRs: "10.0.0.0/8", "fd00::/8", or a bare address meaning /32 or /128;
 * a malformed one is an error naming its file:line:col and the entry).
 * Returns 0 or a negative errno with err set; *ret written only on success. */
int net_policy_build(const struct policy *p, const struct config *cfg, struct net_policy **ret,
		     struct srt_error *err);
void net_policy_free(struct net_policy *np);

/* Lists of other settings that must follow the network lists through a
 * reload (a --control-fd line, srt_runtime_reload): np takes ownership
 * and frees it with itself. tlsTerminate.excludeDomains, as an allow
 * list; NULL when there is none. */
void net_policy_attach_tls_exclude(struct net_policy *np, struct net_policy *exclude);
const struct net_policy *net_policy_tls_exclude(const struct net_policy *np);

/* Decide for a canonical host (see proxy_host_canonical) and port:
 * a deniedDomains match denies; then an allowedDomains match allows;
 * otherwise deny. Names match name and wildcard entries only; IPv4/IPv6
 * hosts match IP entries only. Entries with a port match that port only.
 * When several entries of one list match, the most specific names the
 * decision: an exact name or address, then the wildcard with the longest
 * suffix, then "*"; among entries with one key, the first written. */
void net_policy_decide(const struct net_policy *np, const struct proxy_host *host, uint16_t port,
		       struct net_decision *out);

/* Decide for host on whatever port: may a connection to it be allowed on
 * some port? NET_ALLOW (rule: an allowedDomains entry that matches on a
 * port no deniedDomains entry refuses); NET_DENY with by_default false
 * when a deniedDomains entry without a port matches (every port is
 * refused: its rule and reason); else the default deny (by_default), which
 * a per-sandbox list or asking may still widen, as for net_policy_decide.
 * An allowedDomains entry without a port counts as allowing some port even
 * when port-specific deniedDomains entries happen to refuse all 65535: a
 * caller that needs the port decides again with net_policy_decide. What
 * the transparent mode's DNS responder asks before it answers a name. */
void net_policy_decide_any_port(const struct net_policy *np, const struct proxy_host *host,
				struct net_decision *out);

/* The resolved-address guard, for a request that was allowed by NAME.
 * Returns NULL when addr may be dialed, else a static description of the
 * class that refuses it:
 *   "loopback", "unspecified (0.0.0.0/8)", "unspecified (::)",
 *   "link-local", "multicast", "broadcast", "cloud metadata endpoint",
 *   "an address of this host", "deniedDomains IP literal",
 *   "deniedResolvedAddresses <cidr as written>" (owned by np), or
 *   "not an IPv4 or IPv6 address" for any other family.
 * The order of the checks is documented above net_policy_guard in
 * netpolicy.c; the user's own refusals are named before generic classes.
 * IPv4-mapped IPv6 addresses are judged as IPv4. An allowedDomains IP
 * literal entry that matches addr (and port, when the entry has one) lifts
 * the guard for it; an allowedDomains "localhost" entry counts as the
 * loopback literals 127.0.0.1 and ::1 for this. port is host order. */
const char *net_policy_guard(const struct net_policy *np, const struct sockaddr *addr, uint16_t port);

/* Host loopback services: the ports of allowedDomains entries that name a
 * loopback address with a port (127.0.0.1:5432, [::1]:8080, localhost:5432).
 * Writes at most max ports (sorted, without duplicates) and returns how many
 * there are in all; ports may be NULL when max is 0. srt-init listens on 127.0.0.1 (and ::1) at each inside
 * the sandbox; the supervisor forwards each connection to the host's
 * 127.0.0.1 (or ::1) at the same port. */
size_t net_policy_loopback_ports(const struct net_policy *np, uint16_t *ports, size_t max);
/* Whether port is one of those. */
bool net_policy_loopback_port(const struct net_policy *np, uint16_t port);

/* Parse one CIDR as above (NUL-terminated). Returns 0 or -EINVAL with *why.
 * family is AF_INET or AF_INET6; addr holds 4 or 16 bytes, host bits
 * cleared; IPv4-mapped IPv6 prefixes (::ffff:a.b.c.d/n with n >= 96) become
 * IPv4. Exposed for the fuzz target and unit tests. */
struct net_cidr {
	int family;
	uint8_t addr[16];
	unsigned prefix;
};
int net_cidr_parse(const char *text, struct net_cidr *ret, const char **why);
bool net_cidr_contains(const struct net_cidr *c, const struct sockaddr *addr);

#endif
