/* srt check: print the effective policy with the origin of every rule. */
#include "cli/cli.h"

#include <string.h>

#include "linux/mountplan.h"
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

int cli_check_print(const struct config *cfg, const struct policy *p, bool debug, FILE *out)
{
	fprintf(out, "settings files:\n");
	if (cfg->files.n == 0)
		fprintf(out, "  (none: built-in defaults)\n");
	for (size_t i = 0; i < cfg->files.n; i++)
		fprintf(out, "  %s\n", cfg->files.v[i]);

	fprintf(out, "\nfilesystem (reads allowed and writes denied unless a rule says otherwise;\n"
		     "the most specific rule decides, deny wins a tie):\n");
	fprintf(out, "  /tmp is %s\n", p->tmp_is_host ? "the host's /tmp (allowWrite)" : "private to the sandbox");
	print_rules(p, out, false);
	fprintf(out, "\nbuilt-in protection (never writable):\n");
	print_rules(p, out, true);
	fprintf(out, "  .git/config is %s\n", p->allow_git_config ? "writable (allowGitConfig)" : "protected");

	fprintf(out, "\nnetwork: none (the sandbox has only its own loopback)\n");
	for (size_t i = 0; i < p->n_allowed_domains; i++)
		fprintf(out, "  allowed domain %s  <- %s\n", p->allowed_domains[i].text, p->allowed_domains[i].source);
	for (size_t i = 0; i < p->n_denied_domains; i++)
		fprintf(out, "  denied domain  %s  <- %s\n", p->denied_domains[i].text, p->denied_domains[i].source);
	struct proxy_limits lim;
	proxy_limits_default(&lim);
	print_timeout(out, "requestHead", &cfg->network.timeouts.request_head, lim.head_timeout_ms);
	print_timeout(out, "connect", &cfg->network.timeouts.connect, lim.connect_timeout_ms);
	print_timeout(out, "keepAliveIdle", &cfg->network.timeouts.keep_alive_idle, lim.idle_timeout_ms);
	print_timeout(out, "response", &cfg->network.timeouts.response, lim.response_timeout_ms);
	print_timeout(out, "tunnelIdle", &cfg->network.timeouts.tunnel_idle, lim.tunnel_idle_timeout_ms);

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
