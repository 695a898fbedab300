/* network.tlsTerminate from the settings: the CA (loaded or made), the excluded domains, the limits, and the trust bundle the sandbox is pointed at. */
#include "proxy/tls_config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy/domain.h"
#include "proxy/extra.h"

const char *const tls_bundle_vars[] = {
	"SSL_CERT_FILE", "NODE_EXTRA_CA_CERTS", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "PIP_CERT",
	"GIT_SSL_CAINFO", "AWS_CA_BUNDLE", "CARGO_HTTP_CAINFO", "DENO_CERT",
};
const size_t tls_bundle_n_vars = sizeof(tls_bundle_vars) / sizeof(tls_bundle_vars[0]);

static int pos_error(struct srt_error *err, int code, const struct config_pos *pos, const char *what)
{
	return srt_error_set(err, code, "%s:%d:%d: %s: %s", pos->file ? pos->file : "<settings>", pos->line,
			     pos->column, pos->key ? pos->key : "network.tlsTerminate", what);
}

static char *expand(const char *path, const char *home)
{
	if (path[0] == '~' && path[1] == '/')
		return home ? str_printf("%s%s", home, path + 1) : NULL;
	return strdup(path);
}

int tls_exclude_build(const struct config *cfg, struct net_policy **ret, struct srt_error *err)
{
	const struct config_tls *c = &cfg->network.tls;
	*ret = NULL;
	if (c->exclude_domains.n == 0)
		return 0;
	/* Each entry as allowedDomains takes it ("*" aside). */
	const char **names = calloc(c->exclude_domains.n + 1, sizeof(*names));
	if (!names)
		return srt_error_set(err, -ENOMEM, "out of memory");
	int r;
	for (size_t i = 0; i < c->exclude_domains.n; i++) {
		const struct config_entry *e = &c->exclude_domains.items[i];
		struct domain_pattern dp;
		const char *dwhy = NULL;
		r = domain_pattern_parse(e->value, false, &dp, &dwhy);
		if (r < 0) {
			char text[600];
			snprintf(text, sizeof(text), "invalid domain '%s': %s", e->value, dwhy ? dwhy : "out of memory");
			free(names);
			return pos_error(err, r, &e->pos, text);
		}
		domain_pattern_free(&dp);
		names[i] = e->value;
	}
	r = net_policy_build_list(names, "network.tlsTerminate", ret, err);
	free(names);
	return r;
}

int tls_setup_build(const struct config *cfg, const char *home, struct strv *notes, struct tls_setup **ret,
		    struct srt_error *err)
{
	const struct config_tls *c = &cfg->network.tls;
	struct tls_setup *s = calloc(1, sizeof(*s));
	if (!s)
		return srt_error_set(err, -ENOMEM, "out of memory");
	char why[512] = "";
	int r;
	if (c->ca_cert.path) {
		char *cert = expand(c->ca_cert.path, home), *key = expand(c->ca_key.path, home);
		r = cert && key ? tls_ca_load(cert, key, &s->t.ca, why, sizeof(why)) : -ENOMEM;
		/* Which of the two it was about: the message names its file. */
		bool about_key = key && strstr(why, key) != NULL;
		free(cert);
		free(key);
		if (r < 0) {
			r = pos_error(err, r == -ENOMEM ? -ENOMEM : -EINVAL, about_key ? &c->ca_key.pos : &c->ca_cert.pos,
				      why[0] ? why : "cannot load the CA");
			tls_setup_free(s);
			return r;
		}
	} else if ((r = tls_ca_new_ephemeral(&s->t.ca, why, sizeof(why))) < 0) {
		r = pos_error(err, r, &c->pos, why[0] ? why : "cannot make a CA");
		tls_setup_free(s);
		return r;
	}
	if ((r = tls_exclude_build(cfg, &s->exclude, err)) < 0) {
		tls_setup_free(s);
		return r;
	}
	s->t.exclude = s->exclude;
	s->t.max_tunnels = c->max_tunnels.set ? c->max_tunnels.value : TLS_DEFAULT_MAX_TUNNELS;
	s->t.handshake_timeout_ms = c->handshake_ms.set ? c->handshake_ms.value : TLS_DEFAULT_HANDSHAKE_TIMEOUT_MS;
	s->t.refuse_opaque = cfg->network.refuse_opaque_tunnels;
	s->t.require_host_match = !cfg->network.host_mismatch_allowed;
	/* The bundle: the CA, the host's roots, the extra files. */
	char **extra = calloc(c->extra_ca_certs.n + 1, sizeof(*extra));
	if (!extra) {
		tls_setup_free(s);
		return srt_error_set(err, -ENOMEM, "out of memory");
	}
	bool ok = true;
	for (size_t i = 0; i < c->extra_ca_certs.n && ok; i++)
		ok = (extra[i] = expand(c->extra_ca_certs.items[i].value, home)) != NULL;
	char *skipped = NULL;
	if (ok)
		s->bundle = tls_bundle_text(s->t.ca, (const char *const *)extra, c->extra_ca_certs.n, &skipped);
	for (size_t i = 0; i < c->extra_ca_certs.n; i++)
		free(extra[i]);
	free(extra);
	if (!s->bundle) {
		free(skipped);
		tls_setup_free(s);
		return srt_error_set(err, -ENOMEM, "out of memory");
	}
	if (skipped && notes) {
		char *save = NULL;
		for (char *line = strtok_r(skipped, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
			strv_pushf(notes, "network.tlsTerminate.extraCaCertPaths: %s: missing, unreadable or without a "
					  "PEM certificate; skipped", line);
	}
	free(skipped);
	s->bundle_len = strlen(s->bundle);
	*ret = s;
	return 0;
}

void tls_setup_free(struct tls_setup *s)
{
	if (!s)
		return;
	tls_ca_free(s->t.ca);
	net_policy_free(s->exclude);
	free(s->bundle);
	free(s);
}

int tls_settings_check(const struct config *cfg, struct srt_error *err)
{
	if (!cfg->network.refuse_opaque_tunnels)
		return 0;
	if (!cfg->network.tls.enabled)
		return srt_error_set(err, -EINVAL,
				     "network.refuseOpaqueTunnels: needs network.tlsTerminate (without it every tunnel "
				     "is opaque)");
	return 0;
}
