/* Per-sandbox extra allow lists, built through net_policy_build from a minimal struct policy. */
#include "proxy/extra.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "policy/domain.h"
#include "policy/policy.h"

static void rules_free(struct policy_domain_rule *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		domain_pattern_free(&v[i].pattern);
		free(v[i].text);
		free(v[i].source);
	}
	free(v);
}

int net_policy_build_list(const char *const *allowed_domains, const char *origin_name, struct net_policy **ret,
			  struct srt_error *err)
{
	const char *origin = origin_name ? origin_name : "<extra>";
	size_t n = 0;
	while (allowed_domains && allowed_domains[n])
		n++;
	struct policy_domain_rule *v = n ? calloc(n, sizeof(*v)) : NULL;
	if (n && !v)
		return srt_error_set(err, -ENOMEM, "out of memory");
	size_t done = 0;
	int r = 0;
	for (size_t i = 0; i < n; i++) {
		const char *why = NULL;
		r = domain_pattern_parse(allowed_domains[i], false, &v[i].pattern, &why);
		if (r < 0) {
			r = srt_error_set(err, r, "%s: allowedDomains[%zu]: invalid domain '%s': %s", origin, i,
					  allowed_domains[i], why ? why : strerror(-r));
			goto out;
		}
		done = i + 1;
		v[i].text = strdup(allowed_domains[i]);
		v[i].source = str_printf("%s: allowedDomains[%zu]", origin, i);
		if (!v[i].text || !v[i].source) {
			r = srt_error_set(err, -ENOMEM, "out of memory");
			goto out;
		}
	}
	/* net_policy_build reads only allowed_domains and denied_domains of a
	 * policy; everything else stays zero. No config: no reasons, no
	 * deniedResolvedAddresses. */
	struct policy p;
	memset(&p, 0, sizeof(p));
	p.allowed_domains = v;
	p.n_allowed_domains = n;
	r = net_policy_build(&p, NULL, ret, err);
out:
	rules_free(v, done);
	return r;
}
