/* A settings generation as JSON: the data of srt check, for programs. */
#include "settings_json.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy/netpolicy.h"

static const char *kind_key(enum policy_path_kind k)
{
	switch (k) {
	case POLICY_DENY_READ: return "denyRead";
	case POLICY_ALLOW_READ: return "allowRead";
	case POLICY_ALLOW_WRITE: return "allowWrite";
	case POLICY_DENY_WRITE: return "denyWrite";
	}
	return "?";
}

static const char *observe_text(enum srt_observe o)
{
	switch (o) {
	case SRT_OBSERVE_DEFAULT: return "default";
	case SRT_OBSERVE_OFF: return "off";
	case SRT_OBSERVE_READS: return "reads";
	case SRT_OBSERVE_WRITES: return "writes";
	}
	return "?";
}

/* json_string of NULL is NULL, which the set_new calls would take for an
 * allocation failure: absent texts become JSON null instead. */
static json_t *str_or_null(const char *s)
{
	return s ? json_string(s) : json_null();
}

/* Appends and sets steal their value and report failure (out of memory, or
 * NULL from a constructor that failed) with -1: each step below is checked
 * once, with every failure leading to -ENOMEM. */
static int add(json_t *arr, json_t *v)
{
	return json_array_append_new(arr, v) == 0 ? 0 : -ENOMEM;
}

static int set(json_t *obj, const char *key, json_t *v)
{
	return json_object_set_new(obj, key, v) == 0 ? 0 : -ENOMEM;
}

static int add_strv(json_t *arr, const struct strv *v)
{
	for (size_t i = 0; i < v->n; i++)
		if (add(arr, json_string(v->v[i])) < 0)
			return -ENOMEM;
	return 0;
}

static json_t *path_rules(const struct policy *p)
{
	json_t *arr = json_array();
	for (size_t i = 0; arr && p && i < p->n_rules; i++) {
		const struct policy_path_rule *r = &p->rules[i];
		json_t *o = json_pack("{s:s, s:s, s:o, s:o, s:b, s:b, s:s}", "kind", kind_key(r->kind), "path",
				      r->path, "entry", str_or_null(r->text), "pattern", str_or_null(r->pattern),
				      "exists", r->exists, "builtIn", r->mandatory, "source", r->source ? r->source : "");
		if (add(arr, o) < 0) {
			json_decref(arr);
			return NULL;
		}
	}
	return arr;
}

static json_t *domain_rules(const struct policy_domain_rule *d, size_t n)
{
	json_t *arr = json_array();
	for (size_t i = 0; arr && i < n; i++)
		if (add(arr, json_pack("{s:s, s:s}", "domain", d[i].text ? d[i].text : "", "source",
				       d[i].source ? d[i].source : "")) < 0) {
			json_decref(arr);
			return NULL;
		}
	return arr;
}

/* The value the proxies use (the configured one, else their own default)
 * and where it came from, as srt check shows it. */
static int add_timeout(json_t *obj, const char *key, const struct config_timeout *t, unsigned default_ms)
{
	char *source = t->set ? policy_pos_text(&t->pos) : NULL;
	if (t->set && !source)
		return -ENOMEM;
	int r = set(obj, key, json_pack("{s:I, s:s}", "ms", (json_int_t)(t->set ? t->ms : default_ms), "source",
					source ? source : "default"));
	free(source);
	return r;
}

/* One of the two proxy listeners inside the sandbox, as srt check's "HTTP
 * proxy" and "SOCKS5 proxy" lines: srt's own, or a forwarder to the user's
 * proxy on the host (httpProxyPort, socksProxyPort), which then decides
 * alone. */
static json_t *listener(const char *proxy, int listen_port, int default_port, const char *listen_key,
			int host_port, const char *host_key)
{
	char inside[32], host[32];
	snprintf(inside, sizeof(inside), "127.0.0.1:%d", listen_port ? listen_port : default_port);
	snprintf(host, sizeof(host), "127.0.0.1:%d", host_port);
	return json_pack("{s:s, s:s, s:s, s:s, s:o, s:s}", "proxy", proxy, "address", inside, "addressSource",
			 listen_port ? listen_key : "default", "servedBy", host_port ? "host" : "srt", "hostAddress",
			 host_port ? json_string(host) : json_null(), "hostSource", host_port ? host_key : "default");
}

/* The host loopback services the sandbox reaches (srt check's "host port"
 * lines): each port at 127.0.0.1 and [::1] inside is the host's. */
static json_t *host_ports(const struct settings *s)
{
	json_t *arr = json_array();
	size_t n = s->net ? net_policy_loopback_ports(s->net, NULL, 0) : 0;
	uint16_t *ports = n ? calloc(n, sizeof(*ports)) : NULL;
	if (!arr || (n && !ports)) {
		json_decref(arr);
		free(ports);
		return NULL;
	}
	if (n)
		net_policy_loopback_ports(s->net, ports, n);
	for (size_t i = 0; i < n; i++) {
		char v4[32], v6[32];
		snprintf(v4, sizeof(v4), "127.0.0.1:%u", (unsigned)ports[i]);
		snprintf(v6, sizeof(v6), "[::1]:%u", (unsigned)ports[i]);
		const char *src = policy_loopback_source(s->policy, ports[i]);
		if (add(arr, json_pack("{s:i, s:[s,s], s:s}", "port", (int)ports[i], "inside", v4, v6, "source",
				       src ? src : "network.allowedDomains")) < 0) {
			json_decref(arr);
			arr = NULL;
			break;
		}
	}
	free(ports);
	return arr;
}

int settings_json(const struct settings *s, enum srt_observe observe, char **ret)
{
	const struct policy *p = s->policy;
	const struct config *cfg = &s->cfg;
	int r = -ENOMEM;
	json_t *root = json_object(), *fs = json_object(), *net = json_object(), *tmo = json_object(),
	       *files = json_array(), *notes = json_array(), *ignored = json_array();
	if (!root || !fs || !net || !tmo || !files || !notes || !ignored)
		goto out;
	/* The containers are linked in (json_object_set keeps our reference)
	 * before they are filled, so that every failure below ends alike. */
	if (set(root, "enabled", json_boolean(cfg->enabled)) < 0 ||
	    json_object_set(root, "settingsFiles", files) < 0 ||
	    set(root, "observe", json_string(observe_text(observe))) < 0 || json_object_set(root, "filesystem", fs) < 0 ||
	    json_object_set(root, "network", net) < 0 || json_object_set(root, "notes", notes) < 0 ||
	    json_object_set(root, "ignored", ignored) < 0)
		goto out;
	if (add_strv(files, &cfg->files) < 0)
		goto out;
	/* A library runtime with sandbox.enabled: false has no policy: no
	 * rule is in force, and the lists say so by being empty. */
	if (set(fs, "tmpIsHost", json_boolean(p && p->tmp_is_host)) < 0 ||
	    set(fs, "allowGitConfig", json_boolean(p && p->allow_git_config)) < 0 ||
	    set(fs, "allowNewRepositories", json_boolean(p && p->allow_new_repositories)) < 0 ||
	    set(fs, "rules", path_rules(p)) < 0 ||
	    set(net, "allowedDomains", domain_rules(p ? p->allowed_domains : NULL, p ? p->n_allowed_domains : 0)) < 0 ||
	    set(net, "deniedDomains", domain_rules(p ? p->denied_domains : NULL, p ? p->n_denied_domains : 0)) < 0 ||
	    json_object_set(net, "timeouts", tmo) < 0)
		goto out;
	/* The listeners inside: what the ports settings say even with
	 * sandbox.enabled: false (they are settings, not policy). */
	const int http_host = cfg->network.http_proxy_port, socks_host = cfg->network.socks_proxy_port;
	json_t *listeners = json_pack("[o, o]",
				      listener("http", cfg->network.listen_http_port, 3128, "sandbox.network.httpProxyPort",
					       http_host, "network.httpProxyPort"),
				      listener("socks5", cfg->network.listen_socks_port, 1080,
					       "sandbox.network.socksProxyPort", socks_host, "network.socksProxyPort"));
	if (set(net, "listeners", listeners) < 0 || set(net, "hostPorts", host_ports(s)) < 0)
		goto out;
	struct proxy_limits lim;
	proxy_limits_default(&lim);
	if (add_timeout(tmo, "requestHead", &cfg->network.timeouts.request_head, lim.head_timeout_ms) < 0 ||
	    add_timeout(tmo, "connect", &cfg->network.timeouts.connect, lim.connect_timeout_ms) < 0 ||
	    add_timeout(tmo, "keepAliveIdle", &cfg->network.timeouts.keep_alive_idle, lim.idle_timeout_ms) < 0 ||
	    add_timeout(tmo, "response", &cfg->network.timeouts.response, lim.response_timeout_ms) < 0 ||
	    add_timeout(tmo, "tunnelIdle", &cfg->network.timeouts.tunnel_idle, lim.tunnel_idle_timeout_ms) < 0)
		goto out;
	if (p && (add_strv(notes, &p->unmatched_globs) < 0 || add_strv(notes, &p->notes) < 0 ||
		  add_strv(ignored, &p->ignored) < 0))
		goto out;
	char *text = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER);
	if (text) {
		*ret = text;
		r = 0;
	}
out:
	json_decref(fs), json_decref(net), json_decref(tmo), json_decref(files), json_decref(notes),
		json_decref(ignored);
	json_decref(root);
	return r;
}
