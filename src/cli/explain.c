/* srt explain: would the sandbox allow this read, write or connection, and which rule decides? */
#include "cli/cli.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "linux/mountplan.h"
#include "policy/netpolicy.h"
#include "runtime.h"
#include "policy/path.h"

#define EXIT_ALLOWED 0
#define EXIT_DENIED 1
#define EXIT_SRT_FAILED 125

#define EXPLAIN_DEFAULT_PORT 443

static bool is_scheme_char(char c, bool first)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
		return true;
	return !first && ((c >= '0' && c <= '9') || c == '+' || c == '-' || c == '.');
}

static int refuse(const char **why, const char *reason)
{
	if (why)
		*why = reason;
	return -EINVAL;
}

/* HOST, HOST:PORT, [V6]:PORT, or a bare IPv6 address (two colons or more
 * and no brackets: there is no port to split off). */
static int parse_host(const char *s, size_t len, uint16_t default_port, struct cli_explain_arg *ret,
		      const char **why)
{
	size_t colons = 0;
	for (size_t i = 0; i < len; i++)
		colons += s[i] == ':';
	struct proxy_host h;
	uint16_t port = default_port;
	int r;
	if (colons >= 2 && len > 0 && s[0] != '[') {
		r = proxy_host_canonical(s, len, &h, why);
		if (r < 0)
			return r;
		if (h.kind == PROXY_HOST_NAME)
			return refuse(why, "not a host name, IP address or HOST:PORT");
	} else {
		r = proxy_authority_parse(s, len, default_port, &h, &port, why);
		if (r < 0)
			return r;
	}
	ret->kind = CLI_EXPLAIN_HOST;
	ret->host = h;
	ret->port = port;
	return 0;
}

int cli_explain_classify(const char *arg, bool exists, struct cli_explain_arg *ret, const char **why)
{
	const char *unused;
	if (!why)
		why = &unused;
	*why = NULL;
	if (!arg || !*arg)
		return refuse(why, "empty argument");
	if (arg[0] == '/' || arg[0] == '.' || arg[0] == '~') {
		ret->kind = CLI_EXPLAIN_PATH;
		return 0;
	}
	/* http://host[:port][/...] and https://...: the authority. */
	size_t n = 0;
	while (is_scheme_char(arg[n], n == 0))
		n++;
	if (n > 0 && strncmp(arg + n, "://", 3) == 0) {
		uint16_t port;
		if (n == 4 && strncasecmp(arg, "http", 4) == 0)
			port = 80;
		else if (n == 5 && strncasecmp(arg, "https", 5) == 0)
			port = 443;
		else
			return refuse(why, "only http:// and https:// URLs name a host to explain");
		const char *auth = arg + n + 3;
		size_t alen = strcspn(auth, "/?#");
		if (alen == 0)
			return refuse(why, "the URL names no host");
		return parse_host(auth, alen, port, ret, why);
	}
	if (strchr(arg, '/') || exists) {
		ret->kind = CLI_EXPLAIN_PATH;
		return 0;
	}
	return parse_host(arg, strlen(arg), EXPLAIN_DEFAULT_PORT, ret, why);
}

int cli_explain_format_target(const struct cli_explain_arg *a, char *buf, size_t size)
{
	return snprintf(buf, size, a->host.kind == PROXY_HOST_IPV6 ? "[%s]:%u" : "%s:%u", a->host.text,
			(unsigned)a->port);
}

static const char explain_usage[] =
	"Usage: srt explain [--settings FILE] [--trust-project-settings] PATH [--write]\n"
	"       srt explain [--settings FILE] [--trust-project-settings] HOST[:PORT]\n"
	"\n"
	"Say whether the sandbox would let a command read PATH (or write, create or\n"
	"delete it, with --write), or connect to HOST:PORT (port 443 unless given;\n"
	"[IPv6]:PORT), and which rule decides, with the settings file, line and\n"
	"column it came from. PATH is anything starting with '/', '.' or '~',\n"
	"containing a '/', existing, or given with --write; anything else is a\n"
	"host (or an http:// or https:// URL).\n"
	"Exit status: 0 allowed, 1 denied, 125 bad settings or arguments.\n";

static int fail(const char *fmt, const char *arg)
{
	fputs("srt: explain: ", stderr);
	fprintf(stderr, fmt, arg);
	fputc('\n', stderr);
	return EXIT_SRT_FAILED;
}

/* Paths may hold any byte but NUL: control characters (and backslashes)
 * are printed as \xNN so that the answer stays one line. */
static void put_text(const char *s)
{
	for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
		if (*c < 0x20 || *c == 0x7f || *c == '\\')
			printf("\\x%02x", *c);
		else
			putchar(*c);
	}
}

static int explain_path(const struct policy *p, const char *arg, bool write, const char *home, const char *cwd)
{
	const char *why = NULL;
	_cleanup_free_ char *norm = path_normalize(arg, home, cwd, &why);
	if (!norm)
		return why ? fail("invalid path: %s", why) : fail("%s", "out of memory");
	/* The sandbox's /dev and /proc are its own: the host's links there
	 * (/proc/self, /dev/fd) say nothing about them. */
	bool special = path_is_inside(norm, "/dev") || path_is_inside(norm, "/proc");
	_cleanup_free_ char *resolved = special ? strdup(norm) : policy_resolve_path(norm, true);
	if (!resolved)
		return fail("%s", "out of memory");
	struct policy_verdict v;
	int r = policy_explain_path(p, resolved, write, &v);
	if (r < 0)
		return fail("%s", r == -ENOMEM ? "out of memory" : "cannot explain this path");
	printf("%s ", write ? "write" : "read");
	put_text(norm);
	if (strcmp(norm, resolved) != 0) {
		fputs(" -> ", stdout);
		put_text(resolved);
	}
	/* rule and source are one line already */
	printf(": %s: %s (%s)\n", v.allowed ? "allowed" : "denied", v.rule, v.source ? v.source : "default");
	bool allowed = v.allowed;
	policy_verdict_clear(&v);
	return allowed ? EXIT_ALLOWED : EXIT_DENIED;
}

static bool is_loopback_host(const struct proxy_host *h)
{
	if (h->kind == PROXY_HOST_NAME)
		return strcmp(h->text, "localhost") == 0;
	if (h->kind == PROXY_HOST_IPV4)
		return strcmp(h->text, "127.0.0.1") == 0;
	return strcmp(h->text, "::1") == 0;
}

static int explain_host(const struct policy *p, const struct config *cfg, const struct cli_explain_arg *a)
{
	struct net_policy *np = NULL;
	struct srt_error err = { 0 };
	if (net_policy_build(p, cfg, &np, &err) < 0)
		return fail("%s", err.message);
	struct net_decision d;
	net_policy_decide(np, &a->host, a->port, &d);
	char target[300];
	cli_explain_format_target(a, target, sizeof(target));
	bool allowed = d.verdict == NET_ALLOW;
	printf("connect %s: %s: %s (%s)\n", target, allowed ? "allowed" : "denied", d.rule,
	       d.rule_source ? d.rule_source : "default");
	if (d.reason) {
		fputs("  reason: ", stdout);
		put_text(d.reason);
		putchar('\n');
	}

	if (a->host.kind != PROXY_HOST_NAME) {
		/* IP literals are decided by the lists alone; the guard judges
		 * the addresses that allowed names resolve to. */
		struct sockaddr_storage ss;
		memset(&ss, 0, sizeof(ss));
		if (a->host.kind == PROXY_HOST_IPV4) {
			struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
			s4->sin_family = AF_INET;
			s4->sin_port = htons(a->port);
			inet_pton(AF_INET, a->host.text, &s4->sin_addr);
		} else {
			struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
			s6->sin6_family = AF_INET6;
			s6->sin6_port = htons(a->port);
			inet_pton(AF_INET6, a->host.text, &s6->sin6_addr);
		}
		const char *cls = net_policy_guard(np, (const struct sockaddr *)&ss, a->port);
		if (cls)
			printf("  address guard: a name resolving to %s would be refused (%s)\n", a->host.text, cls);
		else
			printf("  address guard: a name resolving to %s would pass\n", a->host.text);
	}
	if (allowed && is_loopback_host(&a->host)) {
		uint16_t ports[64];
		size_t n = net_policy_loopback_ports(np, ports, ARRAY_SIZE(ports));
		for (size_t i = 0; i < n && i < ARRAY_SIZE(ports); i++)
			if (ports[i] == a->port)
				printf("  also reachable directly inside the sandbox at 127.0.0.1:%u and [::1]:%u "
				       "(host loopback service)\n", (unsigned)a->port, (unsigned)a->port);
	}
	if (cfg->network.http_proxy_port)
		printf("  note: network.httpProxyPort %d: the HTTP proxy forwards to your own proxy, which decides "
		       "instead\n", cfg->network.http_proxy_port);
	if (cfg->network.socks_proxy_port)
		printf("  note: network.socksProxyPort %d: the SOCKS5 proxy forwards to your own proxy, which "
		       "decides instead\n", cfg->network.socks_proxy_port);
	net_policy_free(np);
	return allowed ? EXIT_ALLOWED : EXIT_DENIED;
}

int cli_explain(int argc, char **argv, const char *settings, bool trust_project)
{
	const char *arg = NULL;
	bool write = false, options_done = false;
	for (int i = 0; i < argc; i++) {
		const char *a = argv[i];
		if (!options_done && a[0] == '-' && a[1] != '\0') {
			if (strcmp(a, "--") == 0) {
				options_done = true;
			} else if (strcmp(a, "-s") == 0 || strcmp(a, "--settings") == 0) {
				if (i + 1 >= argc)
					return fail("%s needs a FILE argument (see srt explain --help)", a);
				settings = argv[++i];
			} else if (strncmp(a, "--settings=", 11) == 0) {
				settings = a + 11;
			} else if (strcmp(a, "--trust-project-settings") == 0) {
				trust_project = true;
			} else if (strcmp(a, "-w") == 0 || strcmp(a, "--write") == 0) {
				write = true;
			} else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
				fputs(explain_usage, stdout);
				return 0;
			} else {
				return fail("unknown option '%s' (see srt explain --help)", a);
			}
			continue;
		}
		if (arg)
			return fail("takes one PATH or HOST[:PORT], found another: '%s'", a);
		arg = a;
	}
	if (!arg) {
		fputs(explain_usage, stderr);
		return EXIT_SRT_FAILED;
	}

	char cwd[PATH_MAX];
	if (!getcwd(cwd, sizeof(cwd)))
		return fail("cannot determine the current directory: %s", strerror(errno));
	struct stat st;
	bool exists = arg[0] && lstat(arg, &st) == 0;
	struct cli_explain_arg what;
	const char *why = NULL;
	if (cli_explain_classify(arg, exists, &what, &why) < 0) {
		fprintf(stderr, "srt: explain: '%s' is neither a path nor a HOST[:PORT]: %s\n", arg,
			why ? why : "invalid");
		return EXIT_SRT_FAILED;
	}
	/* Only paths are written: with --write, a plain name is a file in the
	 * current folder, whether it exists or not. */
	if (write && what.kind != CLI_EXPLAIN_PATH) {
		if (strstr(arg, "://"))
			return fail("--write applies to paths; '%s' is a URL", arg);
		what.kind = CLI_EXPLAIN_PATH;
	}

	const char *home = runtime_home_dir();
	struct config cfg;
	struct srt_error err = { 0 };
	struct config_load_options lo = {
		.settings_path = settings,
		.home = home,
		.cwd = cwd,
		.trust_project_settings = trust_project,
	};
	config_init(&cfg);
	if (config_load(&cfg, &lo, &err) < 0) {
		config_free(&cfg);
		fprintf(stderr, "srt: %s\n", err.message);
		return EXIT_SRT_FAILED;
	}
	struct policy *p = NULL;
	struct policy_env env = { .home = home, .cwd = cwd };
	if (policy_build(&cfg, &env, &p, &err) < 0) {
		config_free(&cfg);
		fprintf(stderr, "srt: %s\n", err.message);
		return EXIT_SRT_FAILED;
	}
	int status;
	if (what.kind == CLI_EXPLAIN_PATH) {
		/* A policy the mounts cannot enforce runs nothing: say so, as
		 * srt check does. */
		struct mount_plan *plan = NULL;
		if (mount_plan_build(p, &plan, &err) < 0) {
			fprintf(stderr, "srt: %s\n", err.message);
			status = EXIT_SRT_FAILED;
		} else {
			mount_plan_free(plan);
			status = explain_path(p, arg, write, home, cwd);
		}
	} else {
		status = explain_host(p, &cfg, &what);
	}
	policy_free(p);
	config_free(&cfg);
	fflush(stdout);
	return status;
}
