/* srt's command line: parse options, load settings, run the command in a sandbox, exit with its status. */
#include <errno.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "config/config.h"
#include "policy/netpolicy.h"
#include "policy/policy.h"
#include "runtime.h"

#define EXIT_SRT_FAILED 125

static const char usage_text[] =
	"Usage: srt [OPTIONS] [--] COMMAND [ARG...]\n"
	"       srt [OPTIONS] -c STRING [NAME [ARG...]]\n"
	"       srt check [--settings FILE] [--debug] [--trust-project-settings]\n"
	"       srt proxy-connect [--proxy ADDR:PORT] HOST PORT\n"
	"\n"
	"Run COMMAND (argv as given, no shell) or STRING (with bash, else sh) in a\n"
	"sandbox: reads allowed except denyRead paths, writes denied except\n"
	"allowWrite paths, built-in protection of shell, git and editor config\n"
	"files, network only through srt's proxies to allowedDomains, own\n"
	"PID/IPC/UTS/user/cgroup namespaces, seccomp.\n"
	"\n"
	"Options (they end at the first word that is not an option):\n"
	"  -s, --settings FILE         settings file (default: ~/.srt-settings.json;\n"
	"                              ./.sandbox/settings.json is read on top)\n"
	"  -c STRING                   run STRING with bash (or sh)\n"
	"      --trust-project-settings  let ./.sandbox/settings.json widen the\n"
	"                              sandbox (its deny rules always apply)\n"
	"  -d, --debug                 diagnostics on stderr (the plan of mounts)\n"
	"  -h, --help                  this help\n"
	"  -V, --version               print the version\n"
	"\n"
	"  srt check                   validate the settings and print the effective\n"
	"                              policy, each rule with the file it came from\n"
	"  srt proxy-connect HOST PORT open a tunnel through the sandbox's HTTP\n"
	"                              proxy on stdin/stdout (ssh's ProxyCommand)\n"
	"\n"
	"Exit status:\n"
	"  the command's own status; 128+N when it was killed by signal N;\n"
	"  125 when srt failed and the command did not run (bad settings, missing\n"
	"      bubblewrap, a rule that cannot be enforced);\n"
	"  126 when the command cannot be executed; 127 when it is not found.\n"
	"SIGINT, SIGTERM, SIGHUP and SIGQUIT sent to srt are forwarded to the command.\n"
	"See srt(1).\n";

static int fail(const char *fmt, const char *arg)
{
	fputs("srt: ", stderr);
	fprintf(stderr, fmt, arg);
	fputc('\n', stderr);
	return EXIT_SRT_FAILED;
}

static const char *home_dir(void)
{
	const char *h = getenv("HOME");
	if (h && *h == '/')
		return h;
	struct passwd *pw = getpwuid(getuid());
	return pw && pw->pw_dir ? pw->pw_dir : "/";
}

/* Options shared by running and `srt check`. */
struct cli_options {
	const char *settings;
	bool debug;
	bool trust_project;
	const char *shell_string;
	bool help, version;
};

/* Parse options starting at argv[*i]; stops at the first non-option word
 * (or after "--"). Returns 0, or 125 after printing a usage error. */
static int parse_options(int argc, char **argv, int *i, struct cli_options *o, bool allow_c)
{
	while (*i < argc) {
		const char *a = argv[*i];
		if (strcmp(a, "--") == 0) {
			(*i)++;
			return 0;
		}
		if (a[0] != '-' || a[1] == '\0')
			return 0;
		if (strcmp(a, "-s") == 0 || strcmp(a, "--settings") == 0) {
			if (*i + 1 >= argc)
				return fail("%s needs a FILE argument (see srt --help)", a);
			o->settings = argv[++*i];
		} else if (strncmp(a, "--settings=", 11) == 0) {
			o->settings = a + 11;
		} else if (strcmp(a, "-d") == 0 || strcmp(a, "--debug") == 0) {
			o->debug = true;
		} else if (strcmp(a, "--trust-project-settings") == 0) {
			o->trust_project = true;
		} else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			o->help = true;
		} else if (strcmp(a, "-V") == 0 || strcmp(a, "--version") == 0) {
			o->version = true;
		} else if (allow_c && strcmp(a, "-c") == 0) {
			if (*i + 1 >= argc)
				return fail("%s needs a STRING argument (see srt --help)", a);
			o->shell_string = argv[++*i];
			(*i)++;
			return 0; /* what follows -c STRING belongs to the shell */
		} else {
			return fail("unknown option '%s' (see srt --help)", a);
		}
		(*i)++;
	}
	return 0;
}

static int load_policy(const struct cli_options *o, const char *cwd, struct config *cfg,
		       struct policy **ret)
{
	struct srt_error err = { 0 };
	const char *home = home_dir();
	struct config_load_options lo = {
		.settings_path = o->settings,
		.home = home,
		.cwd = cwd,
		.trust_project_settings = o->trust_project,
	};
	config_init(cfg);
	if (config_load(cfg, &lo, &err) < 0)
		return fail("%s", err.message);
	struct policy_env env = { .home = home, .cwd = cwd };
	if (policy_build(cfg, &env, ret, &err) < 0)
		return fail("%s", err.message);
	return 0;
}

int main(int argc, char **argv)
{
	struct cli_options o = { 0 };
	int i = 1;
	int r = parse_options(argc, argv, &i, &o, true);
	if (r)
		return r;
	if (o.help) {
		fputs(usage_text, stdout);
		return 0;
	}
	if (o.version) {
		printf("srt %s\n", SRT_VERSION);
		return 0;
	}

	bool is_check = !o.shell_string && i < argc && strcmp(argv[i], "check") == 0 &&
			(i == 1 || strcmp(argv[i - 1], "--") != 0);
	if (!o.shell_string && i == 1 && i < argc && strcmp(argv[i], "proxy-connect") == 0)
		return cli_proxy_connect(argc - i - 1, argv + i + 1);
	if (is_check) {
		i++;
		r = parse_options(argc, argv, &i, &o, false);
		if (r)
			return r;
		if (o.help) {
			fputs(usage_text, stdout);
			return 0;
		}
		if (i < argc)
			return fail("srt check takes no arguments, found '%s'", argv[i]);
	} else if (!o.shell_string && i >= argc) {
		fputs(usage_text, stderr);
		return EXIT_SRT_FAILED;
	}

	char cwd[PATH_MAX];
	if (!getcwd(cwd, sizeof(cwd)))
		return fail("cannot determine the current directory: %s", strerror(errno));

	struct config cfg;
	struct policy *policy = NULL;
	r = load_policy(&o, cwd, &cfg, &policy);
	if (r) {
		config_free(&cfg);
		return r;
	}
	if (is_check) {
		r = cli_check_print(&cfg, policy, o.debug, stdout);
		policy_free(policy);
		config_free(&cfg);
		return r;
	}
	if (o.debug)
		for (size_t k = 0; k < cfg.files.n; k++)
			fprintf(stderr, "srt: settings: %s\n", cfg.files.v[k]);

	/* The shell string takes the place of argv[0]; arguments after it
	 * become $0, $1, ... as with sh -c. */
	char **command = o.shell_string ? argv + i - 1 : argv + i;
	if (o.shell_string)
		command[0] = (char *)o.shell_string;

	struct net_policy *net = NULL;
	struct srt_error nerr = { 0 };
	if (net_policy_build(policy, &cfg, &net, &nerr) < 0) {
		policy_free(policy);
		config_free(&cfg);
		return fail("%s", nerr.message);
	}
	struct runtime_run_options ro = {
		.policy = policy,
		.net = {
			.policy = net,
			.http_port = (uint16_t)(cfg.network.listen_http_port ? cfg.network.listen_http_port : 3128),
			.socks_port = (uint16_t)(cfg.network.listen_socks_port ? cfg.network.listen_socks_port : 1080),
			.external_http_port = (uint16_t)cfg.network.http_proxy_port,
			.external_socks_port = (uint16_t)cfg.network.socks_proxy_port,
		},
		.command = command,
		.shell = o.shell_string != NULL,
		.debug = o.debug,
		.cwd = cwd,
	};
	struct srt_error err = { 0 };
	int status = EXIT_SRT_FAILED;
	r = runtime_run(&ro, &status, &err);
	net_policy_free(net);
	policy_free(policy);
	config_free(&cfg);
	if (r < 0)
		return fail("%s", err.message);
	return status;
}
