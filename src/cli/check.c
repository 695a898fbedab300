/* srt check: print the effective policy with the origin of every rule. */
#include "cli/cli.h"

#include <string.h>

#include "creds.h"
#include "linux/mountplan.h"
#include "policy/domain.h"
#include "policy/netpolicy.h"
#include "proxy/parent_config.h"
#include "proxy/server.h"

static const char *kind_text(enum policy_path_kind k)
{
	switch (k) {
	case POLICY_DENY_READ: return "deny read ";
	case POLICY_ALLOW_READ: return "allow read";
	case POLICY_ALLOW_WRITE: return "allow write";
	case POLICY_DENY_WRITE: return "deny write";
	}
	return "?";
}

static void print_rules(const struct policy *p, FILE *out, bool mandatory)
{
	for (size_t i = 0; i < p->n_rules; i++) {
		const struct policy_path_rule *r = &p->rules[i];
		if (r->mandatory != mandatory)
			continue;
		fprintf(out, "  %-11s %s%s%s%s\n", kind_text(r->kind), r->path,
			r->exists ? "" : " (does not exist yet)",
			r->pattern ? "  from pattern " : "", r->pattern ? r->pattern : "");
		fprintf(out, "              <- %s\n", r->source);
	}
}

/* One line per network.timeouts key: the value the proxies will use, and
 * the file that set it or "default". */
static void print_timeout(FILE *out, const char *key, const struct config_timeout *t, unsigned default_ms)
{
	unsigned ms = t->set ? t->ms : default_ms;
	char value[32];
	if (ms == 0)
		snprintf(value, sizeof(value), "never");
	else if (ms % 1000 == 0)
		snprintf(value, sizeof(value), "%u s", ms / 1000);
	else if (ms % 100 == 0)
		snprintf(value, sizeof(value), "%u.%u s", ms / 1000, ms % 1000 / 100);
	else if (ms % 10 == 0)
		snprintf(value, sizeof(value), "%u.%02u s", ms / 1000, ms % 1000 / 10);
	else
		snprintf(value, sizeof(value), "%u.%03u s", ms / 1000, ms % 1000);
	_cleanup_free_ char *source = t->set ? policy_pos_text(&t->pos) : NULL;
	fprintf(out, "  timeout %-13s %-10s <- %s\n", key, value, source ? source : "default");
}

/* One of the two proxy listeners inside the sandbox: srt's own, or a
 * forwarder to the user's proxy on the host (httpProxyPort,
 * socksProxyPort), which then decides alone. */
static void print_proxy(FILE *out, const char *label, int listen_port, int default_port, int host_port,
			const char *host_key, bool reaches_any)
{
	fprintf(out, "  %-14s 127.0.0.1:%d inside: ", label, listen_port ? listen_port : default_port);
	if (host_port)
		fprintf(out, "yours, forwarded to the host's 127.0.0.1:%d (your proxy decides; the domain lists "
			     "do not apply)  <- %s\n", host_port, host_key);
	else
		fprintf(out, "srt's, %s\n", reaches_any ? "to the allowed domains only" : "refuses every host");
}

/* The network section. Its heading says "none" only when nothing outside
 * the sandbox can be reached: no allowed domain that a deniedDomains "*"
 * leaves standing, no host loopback port, no proxy of the user's. */
/* Where srt's own connections go (network.parentProxy, the environment,
 * network.mitmProxy); never a user name or password. */
static void print_parent(FILE *out, const struct parent_url *u, const char *what, const struct config_string *cs,
			 const char *env_a, const char *env_b)
{
	if (!u->scheme)
		return;
	_cleanup_free_ char *src = cs->value ? policy_pos_text(&cs->pos) : NULL;
	const char *from = src ? src : getenv(env_a) && *getenv(env_a) ? env_a : env_b;
	fprintf(out, "  parent proxy   %s%s for %s  <- %s\n", u->name, u->has_auth ? " (with a user and password)" : "",
		what, from);
}

static void print_parents(const struct config *cfg, FILE *out)
{
	struct proxy_upstream *u = NULL;
	if (proxy_upstream_from_config(cfg, &u, NULL, NULL) < 0 || !u)
		return;
	const struct config_string *http = &cfg->network.parent_proxy.http, *https = &cfg->network.parent_proxy.https;
	print_parent(out, &u->http, u->https.scheme ? "plain-HTTP requests" : "every connection", http, "HTTP_PROXY",
		     "http_proxy");
	print_parent(out, &u->https, "tunnels (CONNECT, SOCKS5, transparent)", https, "HTTPS_PROXY", "https_proxy");
	if (u->http.scheme || u->https.scheme) {
		const struct no_proxy *np = &u->no_proxy;
		if (np->all)
			fprintf(out, "  no proxy       every host (\"*\")\n");
		else
			fprintf(out, "  no proxy       loopback%s%s\n", np->n_names || np->n_cidrs ? " and " : "",
				np->n_names || np->n_cidrs ? (cfg->network.parent_proxy.no_proxy.value ?
							      "network.parentProxy.noProxy" : "NO_PROXY") : "");
	}
	if (u->mitm.scheme) {
		_cleanup_free_ char *src = policy_pos_text(&cfg->network.mitm_proxy.socket_path.pos);
		fprintf(out, "  custom proxy   %s for %zu domain pattern%s  <- %s\n", u->mitm.name, u->n_mitm_domains,
			u->n_mitm_domains == 1 ? "" : "s", src ? src : "network.mitmProxy");
	}
	proxy_upstream_free(u);
}

static int print_network(const struct config *cfg, const struct policy *p, FILE *out)
{
	struct net_policy *np = NULL;
	struct srt_error err = { 0 };
	if (net_policy_build(p, cfg, &np, &err) < 0) {
		fprintf(stderr, "srt: %s\n", err.message);
		return 125;
	}
	size_t n_lo = net_policy_loopback_ports(np, NULL, 0);
	uint16_t lo[64];
	size_t n_lo_shown = net_policy_loopback_ports(np, lo, sizeof(lo) / sizeof(lo[0]));
	if (n_lo_shown > sizeof(lo) / sizeof(lo[0]))
		n_lo_shown = sizeof(lo) / sizeof(lo[0]);
	net_policy_free(np);

	const char *deny_all = NULL;
	for (size_t i = 0; i < p->n_denied_domains && !deny_all; i++)
		if (p->denied_domains[i].pattern.kind == DOMAIN_ANY && p->denied_domains[i].pattern.port == 0)
			deny_all = p->denied_domains[i].source;
	bool domains = p->n_allowed_domains > 0 && !deny_all;
	int http_host = cfg->network.http_proxy_port, socks_host = cfg->network.socks_proxy_port;
	bool srt_proxy = !http_host || !socks_host;
	bool reaches = (domains && srt_proxy) || n_lo > 0 || http_host || socks_host;

	if (reaches)
		fprintf(out, "\nnetwork: only as listed below (the sandbox's one interface is its own loopback):\n");
	else
		fprintf(out, "\nnetwork: none (the sandbox's one interface is its own loopback, and nothing is allowed)\n");
	print_proxy(out, "HTTP proxy", cfg->network.listen_http_port, 3128, http_host, "network.httpProxyPort",
		    domains);
	print_proxy(out, "SOCKS5 proxy", cfg->network.listen_socks_port, 1080, socks_host,
		    "network.socksProxyPort", domains);
	for (size_t i = 0; i < p->n_allowed_domains; i++)
		fprintf(out, "  allowed domain %s%s  <- %s\n", p->allowed_domains[i].text,
			deny_all ? " (refused anyway: deniedDomains \"*\")"
			: !srt_proxy ? " (unused by the proxies: both are yours)" : "",
			p->allowed_domains[i].source);
	for (size_t i = 0; i < p->n_denied_domains; i++)
		fprintf(out, "  denied domain  %s  <- %s\n", p->denied_domains[i].text, p->denied_domains[i].source);
	/* The listeners for these forward every connection to the host's
	 * loopback; a port a deniedDomains entry refuses has none. */
	for (size_t i = 0; i < n_lo_shown; i++) {
		const char *src = policy_loopback_source(p, lo[i]);
		fprintf(out, "  host port      %u: 127.0.0.1:%u and [::1]:%u inside are the host's  <- %s\n",
			(unsigned)lo[i], (unsigned)lo[i], (unsigned)lo[i], src ? src : "network.allowedDomains");
	}
	if (n_lo > n_lo_shown)
		fprintf(out, "  host port      ... and %zu more\n", n_lo - n_lo_shown);
	const struct config_list *addrs = &cfg->network.denied_resolved_addresses;
	for (size_t i = 0; i < addrs->n; i++) {
		_cleanup_free_ char *src = policy_pos_text(&addrs->items[i].pos);
		fprintf(out, "  denied address %s  <- %s\n", addrs->items[i].value, src ? src : "?");
	}
	print_parents(cfg, out);
	/* What the connect broker lets the sandbox reach, as it matches it:
	 * the entry, and its folders' links resolved. */
	for (size_t i = 0; i < p->n_unix_sockets; i++) {
		const struct policy_unix_rule *u = &p->unix_sockets[i];
		if (p->allow_all_unix_sockets)
			fprintf(out, "  unix socket    %s: allowed (as every unix socket: network.allowAllUnixSockets)  <- %s\n",
				u->text, u->source);
		else if (u->resolved)
			fprintf(out, "  unix socket    %s (%s): may be connected to  <- %s\n", u->pattern, u->resolved,
				u->source);
		else
			fprintf(out, "  unix socket    %s: may be connected to  <- %s\n", u->pattern, u->source);
	}
	if (p->n_unix_sockets == 0 && !p->allow_all_unix_sockets)
		fprintf(out, "  unix sockets   only those bound inside the sandbox (network.allowUnixSockets lists "
			"none)\n");
	return 0;
}

/* credentials: each entry (names only, never a value), checked as a run
 * would check it (its variables and masked files are read, then wiped). */
static int print_credentials(const struct config *cfg, const struct policy *p, FILE *out)
{
	if (cfg->credentials.n == 0 && cfg->credentials.n_aws_pairs == 0)
		return 0;
	struct creds *c = NULL;
	struct strv warnings = { 0 };
	struct srt_error err = { 0 };
	char cwd[4096];
	if (creds_build(cfg, p->home, getcwd(cwd, sizeof(cwd)) ? cwd : "/", &c, &warnings, &err) < 0 ||
	    creds_check_covers(c, p, &err) < 0) {
		creds_free(c);
		fprintf(stderr, "srt: %s\n", err.message);
		strv_clear(&warnings);
		return 125;
	}
	fprintf(out, "\ncredentials:%s\n", cfg->credentials.allow_plaintext_inject ?
		" (allowPlaintextInject: real values may go out over plain HTTP)" : "");
	size_t ne = 0, nf = 0;
	for (size_t i = 0; i < cfg->credentials.n; i++) {
		const struct config_credential *e = &cfg->credentials.items[i];
		_cleanup_free_ char *src = policy_pos_text(&e->pos);
		fprintf(out, "  %s[%zu] %-20s %s", e->is_file ? "files" : "envVars", e->is_file ? nf++ : ne++, e->name,
			e->mode == CONFIG_CRED_DENY ? "denied" : "masked");
		/* One entry decides for a variable: its first "deny", else its
		 * first "mask" (as a run does); the others change nothing. */
		const struct config_credential *win = NULL;
		for (size_t k = 0; !e->is_file && k < cfg->credentials.n; k++) {
			const struct config_credential *x = &cfg->credentials.items[k];
			if (x->is_file || strcmp(x->name, e->name) != 0)
				continue;
			if (x->mode == CONFIG_CRED_DENY) {
				win = x;
				break;
			}
			if (!win)
				win = x;
		}
		if (win && win != e) {
			fprintf(out, " (no effect: another entry for %s decides)", e->name);
		} else if (e->mode == CONFIG_CRED_MASK) {
			if (e->extract || e->decode_jwt)
				fprintf(out, " (%s%s%s)", e->extract ? "extract" : "", e->extract && e->decode_jwt ? ", " : "",
					e->decode_jwt ? "decode jwt" : "");
			fprintf(out, ", injected at ");
			if (!e->has_inject_hosts)
				fprintf(out, "the allowedDomains hosts");
			for (size_t k = 0; e->has_inject_hosts && k < e->inject_hosts.n; k++)
				fprintf(out, "%s%s", k ? ", " : "", e->inject_hosts.items[k].value);
		}
		fprintf(out, "  <- %s\n", src ? src : "?");
	}
	for (size_t i = 0; i < warnings.n; i++)
		fprintf(out, "  warning: %s\n", warnings.v[i]);
	strv_clear(&warnings);
	creds_free(c);
	return 0;
}

int cli_check_print(const struct config *cfg, const struct policy *p, bool debug, FILE *out)
{
	fprintf(out, "settings files:\n");
	if (cfg->files.n == 0)
		fprintf(out, "  (none: built-in defaults)\n");
	for (size_t i = 0; i < cfg->files.n; i++)
		fprintf(out, "  %s\n", cfg->files.v[i]);

	fprintf(out, "\nfilesystem (reads allowed and writes denied unless a rule says otherwise;\n"
		     "the most specific rule decides, deny wins a tie):\n");
	fprintf(out, "  /tmp is %s\n",
		p->tmp_is_host ? "the host's /tmp (allowWrite)"
			       : "private to the sandbox (the host's /tmp read-only beneath it where overlayfs "
				 "can be mounted)");
	print_rules(p, out, false);
	fprintf(out, "\nbuilt-in protection (never writable):\n");
	print_rules(p, out, true);
	fprintf(out, "  .git/config is %s\n", p->allow_git_config ? "writable (allowGitConfig)" : "protected");
	fprintf(out, "  write guard: git folders at any depth keep only git's everyday files writable; "
		     "protected names at every depth;\n  new repositories %s\n",
		p->allow_new_repositories ? "allowed (allowNewRepositories: a repository the command creates "
					    "holds the config and hooks it wrote)"
					  : "refused (allowNewRepositories is not set)");
	if (p->home && policy_path_writable(p, p->home))
		fprintf(out, "  warning: the home folder %s is writable: its start-up files (~/.ssh, ~/.config/git, "
			     "~/.local/bin, shell rc files...) are protected by the write guard, everything else in "
			     "it is the command's to change\n", p->home);

	int r = print_network(cfg, p, out);
	if (r)
		return r;
	struct proxy_limits lim;
	proxy_limits_default(&lim);
	print_timeout(out, "requestHead", &cfg->network.timeouts.request_head, lim.head_timeout_ms);
	print_timeout(out, "connect", &cfg->network.timeouts.connect, lim.connect_timeout_ms);
	print_timeout(out, "keepAliveIdle", &cfg->network.timeouts.keep_alive_idle, lim.idle_timeout_ms);
	print_timeout(out, "response", &cfg->network.timeouts.response, lim.response_timeout_ms);
	print_timeout(out, "tunnelIdle", &cfg->network.timeouts.tunnel_idle, lim.tunnel_idle_timeout_ms);
	_cleanup_free_ char *mode_source = cfg->network.mode_pos.file ? policy_pos_text(&cfg->network.mode_pos) : NULL;
	fprintf(out, "  mode %-21s <- %s\n",
		p->transparent ? "transparent (srt answers names at 127.0.0.1:53 inside)" : "proxy",
		mode_source ? mode_source : "default");

	if ((r = print_credentials(cfg, p, out)) != 0)
		return r;

	fprintf(out, "\nprocess: own user, PID, IPC, UTS, network and cgroup namespaces; seccomp:\n");
	fprintf(out, "  new unix sockets %s; nested namespaces and mounts %s\n",
		p->allow_all_unix_sockets ? "allowed (network.allowAllUnixSockets)" : "refused",
		p->allow_nested_user_namespaces ? "allowed (allowNestedUserNamespaces)" : "refused");
	if (p->enable_weaker_nested_sandbox)
		fprintf(out, "  /proc is the host's (enableWeakerNestedSandbox)\n");

	if (p->ignored.n) {
		fprintf(out, "\nignored project settings (not trusted; use --trust-project-settings):\n");
		for (size_t i = 0; i < p->ignored.n; i++)
			fprintf(out, "  %s\n", p->ignored.v[i]);
	}
	if (p->unmatched_globs.n || p->notes.n) {
		fprintf(out, "\nnotes:\n");
		for (size_t i = 0; i < p->unmatched_globs.n; i++)
			fprintf(out, "  %s\n", p->unmatched_globs.v[i]);
		for (size_t i = 0; i < p->notes.n; i++)
			fprintf(out, "  %s\n", p->notes.v[i]);
	}

	struct mount_plan *plan = NULL;
	struct srt_error err = { 0 };
	if (mount_plan_build(p, &plan, &err) < 0) {
		fprintf(stderr, "srt: %s\n", err.message);
		return 125;
	}
	if (debug) {
		fputc('\n', out);
		mount_plan_print(plan, out);
	}
	mount_plan_free(plan);
	return 0;
}
