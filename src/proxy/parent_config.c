/* network.parentProxy and network.mitmProxy, with the caller's HTTP_PROXY / HTTPS_PROXY / NO_PROXY as the fallback, -> struct proxy_upstream. */
#include "proxy/parent_config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *env_first(const char *(*get)(const char *), const char *a, const char *b, const char **which)
{
	const char *v = get(a);
	if (v && *v) {
		*which = a;
		return v;
	}
	v = get(b);
	if (v && *v) {
		*which = b;
		return v;
	}
	return NULL;
}

static const char *plain_getenv(const char *name)
{
	return getenv(name);
}

/* A URL from the settings (checked when read: an error here is one of
 * memory) or the environment (a bad one is ignored with a warning, as
 * tools do with a broken HTTPS_PROXY: srt then connects directly). */
static int take_url(const struct config_string *cs, const char *env, const char *env_name, struct parent_url *out,
		    struct strv *warnings, struct srt_error *err)
{
	const char *why = NULL;
	if (cs->value) {
		if (parent_url_parse(cs->value, out, &why) < 0) {
			parent_url_clear(out);
			return srt_error_set(err, -EINVAL, "%s:%d:%d: %s: %s", cs->pos.file, cs->pos.line, cs->pos.column,
					     cs->pos.key, why);
		}
		return 0;
	}
	if (!env)
		return 0;
	if (parent_url_parse(env, out, &why) < 0) {
		parent_url_clear(out);
		if (warnings)
			strv_pushf(warnings, "ignoring %s (not used as a parent proxy): %s", env_name, why);
		return 0;
	}
	return 0;
}

int proxy_upstream_from_config_env(const struct config *cfg, const char *(*get)(const char *),
				   struct proxy_upstream **ret, struct strv *warnings, struct srt_error *err)
{
	*ret = NULL;
	if (!get)
		get = plain_getenv;
	struct proxy_upstream *u = calloc(1, sizeof(*u));
	if (!u)
		return srt_error_set(err, -ENOMEM, "out of memory");
	const char *http_name = NULL, *https_name = NULL, *no_name = NULL;
	const char *env_http = env_first(get, "HTTP_PROXY", "http_proxy", &http_name);
	const char *env_https = env_first(get, "HTTPS_PROXY", "https_proxy", &https_name);
	const char *env_no = env_first(get, "NO_PROXY", "no_proxy", &no_name);
	const struct config_string *http = &cfg->network.parent_proxy.http;
	const struct config_string *https = &cfg->network.parent_proxy.https;
	const struct config_string *nop = &cfg->network.parent_proxy.no_proxy;
	int r;
	if ((r = take_url(http, env_http, http_name, &u->http, warnings, err)) < 0 ||
	    (r = take_url(https, env_https, https_name, &u->https, warnings, err)) < 0)
		goto fail;
	const char *why = NULL;
	size_t bad = 0;
	if (nop->value) {
		if ((r = no_proxy_parse(nop->value, true, &u->no_proxy, &why, &bad)) < 0) {
			srt_error_set(err, r, "%s:%d:%d: %s: entry %zu: %s", nop->pos.file, nop->pos.line, nop->pos.column,
				      nop->pos.key, bad + 1, why);
			goto fail;
		}
	} else if (env_no && (u->http.scheme || u->https.scheme)) {
		if ((r = no_proxy_parse(env_no, false, &u->no_proxy, &why, &bad)) < 0) {
			if (r == -ENOMEM) {
				srt_error_set(err, r, "out of memory");
				goto fail;
			}
			if (warnings)
				strv_pushf(warnings, "ignoring %s: entry %zu: %s", no_name, bad + 1, why);
		}
	}
	const struct config_string *sock = &cfg->network.mitm_proxy.socket_path;
	const struct config_list *doms = &cfg->network.mitm_proxy.domains;
	if (sock->value || doms->n) {
		if (!sock->value) {
			const struct config_pos *p = &doms->items[0].pos;
			r = srt_error_set(err, -EINVAL, "%s:%d:%d: network.mitmProxy: socketPath is missing (domains "
					  "need a socket to go to)", p->file, p->line, p->column);
			goto fail;
		}
		if (doms->n == 0) {
			r = srt_error_set(err, -EINVAL, "%s:%d:%d: network.mitmProxy: domains is missing or empty",
					  sock->pos.file, sock->pos.line, sock->pos.column);
			goto fail;
		}
		if ((r = parent_url_unix(sock->value, &u->mitm, &why)) < 0) {
			srt_error_set(err, r, "%s:%d:%d: %s: %s", sock->pos.file, sock->pos.line, sock->pos.column,
				      sock->pos.key, why);
			goto fail;
		}
		u->mitm_domains = calloc(doms->n, sizeof(*u->mitm_domains));
		if (!u->mitm_domains) {
			r = srt_error_set(err, -ENOMEM, "out of memory");
			goto fail;
		}
		for (size_t i = 0; i < doms->n; i++) {
			const struct config_entry *e = &doms->items[i];
			if ((r = domain_pattern_parse(e->value, false, &u->mitm_domains[i], &why)) < 0) {
				srt_error_set(err, r, "%s:%d:%d: %s: '%s': %s", e->pos.file, e->pos.line, e->pos.column,
					      e->pos.key, e->value, r == -ENOMEM ? "out of memory" : why);
				goto fail;
			}
			u->n_mitm_domains++;
		}
	}
	if (!u->http.scheme && !u->https.scheme && !u->mitm.scheme) {
		proxy_upstream_free(u);
		return 0;
	}
	*ret = u;
	return 0;
fail:
	proxy_upstream_free(u);
	return r;
}

int proxy_upstream_from_config(const struct config *cfg, struct proxy_upstream **ret, struct strv *warnings,
			       struct srt_error *err)
{
	return proxy_upstream_from_config_env(cfg, NULL, ret, warnings, err);
}
