/* network.tlsTerminate from the settings: the CA (loaded or made), the excluded domains, the limits, and the trust bundle the sandbox is pointed at. */
#ifndef SRT_PROXY_TLS_CONFIG_H
#define SRT_PROXY_TLS_CONFIG_H

#include <stddef.h>

#include "config/config.h"
#include "proxy/tls.h"
#include "util/util.h"

/* Where the bundle appears inside the sandbox (srt-init writes it there,
 * read-only), and the variables that name it. */
#define TLS_BUNDLE_PATH "/dev/.srt-ca-bundle.pem"
extern const char *const tls_bundle_vars[];
extern const size_t tls_bundle_n_vars;

struct tls_setup {
	struct tls_terminate t;
	struct net_policy *exclude;
	char *bundle;        /* PEM text */
	size_t bundle_len;
};

/* Build from cfg->network.tls (enabled). home expands "~/". Errors name
 * the file, line and key of the value at fault (an unreadable or invalid
 * CA, an invalid excludeDomains entry, refuseOpaqueTunnels without
 * tlsTerminate); notes (extra CA files skipped, shown under --debug) are
 * added to notes when it is not NULL. Returns 0 or a negative errno with
 * err set. */
int tls_setup_build(const struct config *cfg, const char *home, struct strv *notes, struct tls_setup **ret,
		    struct srt_error *err);
void tls_setup_free(struct tls_setup *s);

/* tlsTerminate.excludeDomains alone, as an allow list (*ret NULL when
 * empty): built for every settings load, --control-fd lines included, and
 * attached to its network policy (net_policy_attach_tls_exclude), so that
 * a reload changes which new tunnels are terminated. */
int tls_exclude_build(const struct config *cfg, struct net_policy **ret, struct srt_error *err);

/* What cannot be enforced is refused: network.refuseOpaqueTunnels without
 * network.tlsTerminate (every tunnel would stay opaque). */
int tls_settings_check(const struct config *cfg, struct srt_error *err);

#endif
