/* Per-sandbox extra allow lists: a net_policy that holds only an allowedDomains list, for proxy_hooks.extra. */
#ifndef SRT_PROXY_EXTRA_H
#define SRT_PROXY_EXTRA_H

#include "policy/netpolicy.h"
#include "util/util.h"

/*
 * Build a net_policy from allowed_domains (a NULL-terminated array; NULL
 * means an empty list). Every entry is validated as a settings entry of
 * allowedDomains is (domain_pattern_parse: names, wildcards, localhost, IP
 * literals, each with an optional :port; "*" is refused). An invalid entry
 * is an error naming "ORIGIN_NAME: allowedDomains[I]: invalid domain 'X':
 * WHY". The rules' sources are "ORIGIN_NAME: allowedDomains[I]", so a
 * decision made by the list names where the entry came from.
 *
 * The result has no deniedDomains, no deniedDomainReasons and no
 * deniedResolvedAddresses. Its guard (net_policy_guard) refuses the usual
 * classes unless one of its own IP or localhost entries lifts them. Free
 * with net_policy_free. Returns 0 or a negative errno with err set; *ret is
 * written only on success.
 */
int net_policy_build_list(const char *const *allowed_domains, const char *origin_name, struct net_policy **ret,
			  struct srt_error *err);

#endif
