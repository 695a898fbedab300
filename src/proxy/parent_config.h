/* network.parentProxy and network.mitmProxy, with the caller's HTTP_PROXY / HTTPS_PROXY / NO_PROXY as the fallback, -> struct proxy_upstream. */
#ifndef SRT_PROXY_PARENT_CONFIG_H
#define SRT_PROXY_PARENT_CONFIG_H

#include "config/config.h"
#include "proxy/parent.h"

/*
 * Each of parentProxy's http, https and noProxy that the settings leave
 * unset is taken from srt's own environment (the caller's: srt sets these
 * variables for the sandbox only, pointing at itself): HTTP_PROXY (or
 * http_proxy), HTTPS_PROXY (or https_proxy), NO_PROXY (or no_proxy). A
 * malformed variable is ignored with a line in warnings. https falls back
 * to http for tunnels (CONNECT, SOCKS5, transparent); plain-HTTP requests
 * use http only. *ret is NULL when nothing routes anywhere but direct.
 * Returns 0 or a negative errno with err (a malformed value of the
 * settings, named with its place; mitmProxy without socketPath or
 * domains; a bad mitmProxy domain).
 */
int proxy_upstream_from_config(const struct config *cfg, struct proxy_upstream **ret, struct strv *warnings,
			       struct srt_error *err);

/* The same with get() instead of getenv() (tests). */
int proxy_upstream_from_config_env(const struct config *cfg, const char *(*get)(const char *),
				   struct proxy_upstream **ret, struct strv *warnings, struct srt_error *err);

#endif
