/* srt's command line: parse options, load settings, run the command in a sandbox, exit with its status. */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/control.h"
#include "config/config.h"
#include "policy/netpolicy.h"
#include "policy/policy.h"
#include "events.h"
#include "runtime.h"

#define EXIT_SRT_FAILED 125

static const char usage_text[] =
	"Usage: srt [OPTIONS] [--] COMMAND [ARG...]\n"
	"       srt [OPTIONS] -c STRING [NAME [ARG...]]\n"
	"       srt check [--settings FILE] [--debug] [--trust-project-settings]\n"
	"       srt proxy-connect [--proxy ADDR:PORT] HOST PORT\n"
	"       srt explain [--settings FILE] [--trust-project-settings] PATH [--write]\n"
	"       srt explain [--settings FILE] [--trust-project-settings] HOST[:PORT]\n"
	"\n"
	"Run COMMAND (argv as given, no shell) or STRING (with bash, else sh) in a\n"
	"sandbox: reads allowed except denyRead paths, writes denied except\n"
	"allowWrite paths, built-in protection of shell, git and editor config\n"
	"files, network only through srt's proxies to allowedDomains, own\n"
	"PID/IPC/UTS/user/cgroup namespaces, seccomp.\n"
	"\n"
	"Options (they end at the first word that is not an option):\n"
	"  -s, --settings FILE         settings file (default: ~/.srt-settings.json;\n"
	"                              the project's .sandbox/settings.json, found\n"
	"                              upwards as git finds .git, is read on top)\n"
	"  -c STRING                   run STRING with bash (or sh)\n"
	"      --trust-project-settings  let the project's .sandbox/settings.json\n"
	"                              widen the sandbox (its deny rules always apply)\n"
	"  -d, --debug                 diagnostics on stderr (the plan of mounts)\n"
	"      --events FILE           append every event (violations, connections,\n"
	"                              start, exit) to FILE as JSON Lines; - is stderr\n"
	"  -q, --quiet                 no summary of violations on stderr at the end\n"
	"      --network MODE          proxy (default): the network only through\n"
	"                              srt's proxies; transparent: also by name, with\n"
	"                              srt's DNS inside the sandbox (network.mode)\n"
	"      --control-fd N          read new settings from descriptor N while the\n"
	"                              command runs: one JSON object per line, whose\n"
	"                              network lists apply to new connections\n"
	"      --observe MODE          what is reported besides refused connections:\n"
	"                              basic (default): exec of hidden programs,\n"
	"                              direct connects, unix sockets; writes: also\n"
	"                              refused writes; reads: also reads of hidden\n"
	"                              paths (both slow down file-heavy commands);\n"
	"                              off: the proxies' reports only\n"
	"  -h, --help                  this help\n"
	"  -V, --version               print the version\n"
	"\n"
	"  srt check                   validate the settings and print the effective\n"
	"                              policy, each rule with the file it came from\n"
	"  srt proxy-connect HOST PORT open a tunnel through the sandbox's HTTP\n"
	"                              proxy on stdin/stdout (ssh's ProxyCommand)\n"
	"  srt explain PATH [--write]  would the sandbox let a command read (write)\n"
	"  srt explain HOST[:PORT]     PATH, or connect to HOST (port 443 unless\n"
	"                              given), and which rule decides; one line:\n"
	"                              ACCESS TARGET: allowed|denied: RULE (SOURCE)\n"
	"                              where SOURCE is FILE:LINE:COL: KEY, built-in\n"
	"                              or default; exit 0 allowed, 1 denied\n"
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

/* Options shared by running and `srt check`. */
struct cli_options {
	const char *settings;
	const char *events;
	bool quiet;
	enum srt_observe observe;
	bool debug;
	bool trust_project;
	const char *network;     /* --network: "proxy" or "transparent", or NULL */
	const char *control_fd;  /* --control-fd N, or NULL */
	const char *shell_string;
	bool help, version;
};

static int parse_observe(const char *v, enum srt_observe *ret)
{
	if (strcmp(v, "basic") == 0)
		*ret = SRT_OBSERVE_DEFAULT;
	else if (strcmp(v, "writes") == 0)
		*ret = SRT_OBSERVE_WRITES;
	else if (strcmp(v, "reads") == 0)
		*ret = SRT_OBSERVE_READS;
	else if (strcmp(v, "off") == 0)
		*ret = SRT_OBSERVE_OFF;
	else
		return -EINVAL;
	return 0;
}

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
		} else if (allow_c && (strcmp(a, "--events") == 0 || strcmp(a, "--observe") == 0)) {
			if (*i + 1 >= argc)
				return fail("%s needs an argument (see srt --help)", a);
			const char *v = argv[++*i];
			if (a[2] == 'e')
				o->events = v;
			else if (parse_observe(v, &o->observe) < 0)
				return fail("--observe takes basic, writes, reads or off, not '%s'", v);
		} else if (allow_c && strncmp(a, "--events=", 9) == 0) {
			o->events = a + 9;
		} else if (allow_c && strncmp(a, "--observe=", 10) == 0) {
			if (parse_observe(a + 10, &o->observe) < 0)
				return fail("--observe takes basic, writes, reads or off, not '%s'", a + 10);
		} else if (allow_c && (strcmp(a, "--network") == 0 || strncmp(a, "--network=", 10) == 0)) {
			const char *v = a[9] == '=' ? a + 10 : NULL;
			if (!v && *i + 1 >= argc)
				return fail("%s needs an argument (see srt --help)", a);
			if (!v)
				v = argv[++*i];
			if (strcmp(v, "proxy") != 0 && strcmp(v, "transparent") != 0)
				return fail("--network takes proxy or transparent, not '%s'", v);
			o->network = v;
		} else if (allow_c && (strcmp(a, "--control-fd") == 0 || strncmp(a, "--control-fd=", 13) == 0)) {
			const char *v = a[12] == '=' ? a + 13 : NULL;
			if (!v && *i + 1 >= argc)
				return fail("%s needs a descriptor number (see srt --help)", a);
			o->control_fd = v ? v : argv[++*i];
		} else if (allow_c && (strcmp(a, "-q") == 0 || strcmp(a, "--quiet") == 0)) {
			o->quiet = true;
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
	const char *home = runtime_home_dir();
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

/* Before the command runs: a project file that was not used (its deny
 * rules are lost, so even --quiet says it), and the project allows that
 * were ignored (the sandbox is only narrower than the file asked: --quiet
 * drops it, srt check lists them). */
static void print_settings_notes(const struct config *cfg, bool quiet)
{
	for (size_t k = 0; k < cfg->warnings.n; k++)
		fprintf(stderr, "srt: %s\n", cfg->warnings.v[k]);
	struct strv lines = { 0 };
	if (!quiet && config_ignored_allows_summary(cfg, &lines) == 0)
		for (size_t k = 0; k < lines.n; k++)
			fprintf(stderr, "srt: %s\n", lines.v[k]);
	strv_clear(&lines);
}

/* --events: one JSON object per line, each line in one write(), so that
 * lines from concurrent runs appending to one file stay whole. */
struct events_sink {
	int fd;
	const char *error;
	char *path;    /* the file's real path, NULL for stderr */
};

/* What the command line adds to the settings, merged last: the events
 * file made unwritable, the control channel's file hidden, --network.
 * NULL when nothing (or out of memory, with *oom set). */
static char *command_line_json(const char *events_path, const char *control_path, const char *network, bool *oom)
{
	*oom = false;
	if (!events_path && !control_path && !network)
		return NULL;
	json_t *o = json_object(), *fs = NULL;
	if (!o)
		goto fail;
	if ((events_path || control_path) && json_object_set_new(o, "filesystem", fs = json_object()) < 0)
		goto fail;
	/* literal: a name with * ? [ in it is that name, not a glob */
	if (events_path) {
		json_t *l = json_pack("[{s:s,s:b}]", "path", events_path, "literal", 1);
		if (!l || json_object_set_new(fs, "denyWrite", l) < 0)
			goto fail;
	}
	if (control_path) {
		json_t *l = json_pack("[{s:s,s:b}]", "path", control_path, "literal", 1);
		if (!l || json_object_set_new(fs, "denyRead", l) < 0)
			goto fail;
	}
	if (network) {
		json_t *net = json_pack("{s:s}", "mode", network);
		if (!net || json_object_set_new(o, "network", net) < 0)
			goto fail;
	}
	char *t = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	*oom = !t;
	return t;
fail:
	json_decref(o);
	*oom = true;
	return NULL;
}

/* The name of the control channel's FIFO or file, when it has one that
 * still leads to it: hidden inside the sandbox, since anybody who can open
 * a FIFO may write to it, even on a read-only mount, and a file may grow.
 * NULL for a pipe, a socket, a terminal (or out of memory). */
static char *control_path(int fd)
{
	struct stat st, named;
	char link[64], real[PATH_MAX];
	if (fstat(fd, &st) < 0 || !(S_ISFIFO(st.st_mode) || S_ISREG(st.st_mode)))
		return NULL;
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	ssize_t n = readlink(link, real, sizeof(real) - 1);
	if (n <= 0 || real[0] != '/')
		return NULL;
	real[n] = '\0';
	if (stat(real, &named) < 0 || named.st_dev != st.st_dev || named.st_ino != st.st_ino)
		return NULL;
	return strdup(real);
}

static int open_events(const char *path, struct events_sink *sink)
{
	/* As shells do for redirections: reopening a pipe or a terminal by
	 * /dev/stderr can be refused to another user. */
	if (strcmp(path, "-") == 0 || strcmp(path, "/dev/stderr") == 0 || strcmp(path, "/dev/fd/2") == 0) {
		sink->fd = STDERR_FILENO;
		return 0;
	}
	sink->fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0600);
	if (sink->fd < 0) {
		sink->error = strerror(errno);
		return -1;
	}
	/* A regular file is made read-only inside the sandbox; a pipe, a
	 * terminal or /dev/stderr needs nothing. The name comes from the open
	 * file, not from path again. */
	struct stat st;
	if (fstat(sink->fd, &st) < 0 || !S_ISREG(st.st_mode))
		return 0;
	char link[64], real[PATH_MAX];
	snprintf(link, sizeof(link), "/proc/self/fd/%d", sink->fd);
	ssize_t n = readlink(link, real, sizeof(real) - 1);
	if (n <= 0 || real[0] != '/' || !(sink->path = strndup(real, (size_t)n))) {
		sink->error = "cannot resolve its path";
		close(sink->fd);
		sink->fd = -1;
		return -1;
	}
	return 0;
}

static void write_event(const struct srt_event *ev, void *data)
{
	struct events_sink *sink = data;
	size_t n = strlen(ev->json);
	char *line = malloc(n + 1);
	if (!line)
		return;
	memcpy(line, ev->json, n);
	line[n] = '\n';
	if (fd_write_all(sink->fd, line, n + 1) < 0 && !sink->error) {
		sink->error = strerror(errno);
		fprintf(stderr, "srt: cannot write an event: %s\n", sink->error);
	}
	free(line);
}

/* The summary shows up to this many violations of each kind: a refused
 * connection is never hidden behind a screenful of refused writes. */
#define SUMMARY_PER_KIND 3

/* Network first: a refused host is what a user most often acts on (one
 * allowedDomains entry). Then filesystem, the most numerous, then the
 * rarer two. Kinds this build does not know go last, as "other". */
static const struct {
	enum srt_violation_kind kind;
	const char *name;
} summary_kinds[] = {
	{ SRT_VIOLATION_NETWORK, "network" },
	{ SRT_VIOLATION_FILESYSTEM, "filesystem" },
	{ SRT_VIOLATION_UNIX_SOCKET, "unix_socket" },
	{ SRT_VIOLATION_PROCESS, "process" },
	{ SRT_VIOLATION_ANY, "other" },
};
#define N_SUMMARY_KINDS (sizeof(summary_kinds) / sizeof(summary_kinds[0]))

static size_t summary_group(enum srt_violation_kind k)
{
	for (size_t g = 0; g + 1 < N_SUMMARY_KINDS; g++)
		if (summary_kinds[g].kind == k)
			return g;
	return N_SUMMARY_KINDS - 1;
}

/* A program that looks names up itself (glibc's resolver, under Python,
 * Node's fetch and most others) sends its query to the nameserver of
 * /etc/resolv.conf, port 53, which the sandbox cannot reach: the observer
 * reports the connect(2) it refused (for UDP too: glibc connects its
 * socket). The first such violation, or NULL. The proxies' own refusals
 * to a port 53 are requests that did use them: not counted. */
static const struct srt_violation *dns_attempt(const struct srt_violation_list *l)
{
	for (size_t k = 0; k < l->n; k++) {
		const struct srt_violation *v = srt_violation_at(l, k);
		if (v->kind != SRT_VIOLATION_NETWORK || v->source != SRT_SOURCE_OBSERVER || !v->operation ||
		    (strcmp(v->operation, "connect") != 0 && strcmp(v->operation, "send") != 0) || !v->target)
			continue;
		size_t n = strlen(v->target);
		if (n > 3 && strcmp(v->target + n - 3, ":53") == 0)
			return v;
	}
	return NULL;
}

/* After the violations: why a name lookup failed, and what to use instead. */
static void print_dns_hint(const struct srt_violation_list *l)
{
	const struct srt_violation *v = dns_attempt(l);
	if (!v)
		return;
	_cleanup_free_ char *t = str_escape_invalid(v->target, true);
	fprintf(stderr,
		"srt: a program looked a name up itself (DNS to %s), which the sandbox cannot do: only programs "
		"that use the proxy variables (HTTP_PROXY, ALL_PROXY) reach the network\n"
		"srt: run it with --network transparent (network.mode in the settings), or: for Node 22.21 or "
		"later set NODE_USE_ENV_PROXY=1; for ssh use the ProxyCommand in $GIT_SSH_COMMAND\n",
		t ? t : "?");
}

/* After the command: how many violations, and the first few of each kind
 * (oldest first), each line labelled with its kind. events_path: where
 * --events writes (the real path of a file), or NULL; events: whether
 * --events was given at all. */
static void print_summary(struct event_hub *hub, const char *events_path, bool events)
{
	struct srt_violation_list *l = NULL;
	if (event_hub_list(hub, SRT_VIOLATION_ANY, &l) < 0)
		return;
	uint64_t total = l->n + l->dropped;
	if (total == 0) {
		srt_violation_list_free(l);
		return;
	}
	size_t count[N_SUMMARY_KINDS] = { 0 };
	for (size_t k = 0; k < l->n; k++)
		count[summary_group(srt_violation_at(l, k)->kind)]++;
	bool hidden = l->dropped > 0;
	fprintf(stderr, "srt: %llu violation%s:\n", (unsigned long long)total, total == 1 ? "" : "s");
	for (size_t g = 0; g < N_SUMMARY_KINDS; g++) {
		size_t shown = 0;
		for (size_t k = 0; k < l->n && shown < SUMMARY_PER_KIND; k++) {
			const struct srt_violation *v = srt_violation_at(l, k);
			if (summary_group(v->kind) != g)
				continue;
			/* Paths are the sandbox's choice: no escape sequences to
			 * the terminal. */
			_cleanup_free_ char *t = str_escape_invalid(v->target, true);
			_cleanup_free_ char *r = str_escape_invalid(v->rule, true);
			if (strcmp(v->operation, "credential") == 0) /* passed on, not denied */
				fprintf(stderr, "srt:   %-11s  credential stand-in sent to %s (%s)\n", summary_kinds[g].name,
					t ? t : "?", r ? r : "?");
			else
				fprintf(stderr, "srt:   %-11s  denied %s %s (%s)\n", summary_kinds[g].name, v->operation,
					t ? t : "?", r ? r : "?");
			shown++;
		}
		if (count[g] > shown) {
			fprintf(stderr, "srt:   %-11s  ... and %zu more\n", summary_kinds[g].name, count[g] - shown);
			hidden = true;
		}
	}
	/* The store keeps the newest; what it let go is gone from the list,
	 * kind and all. */
	if (l->dropped)
		fprintf(stderr, "srt:   ... and %llu older ones no longer kept\n", (unsigned long long)l->dropped);
	if (hidden) {
		_cleanup_free_ char *where = events_path ? str_escape_invalid(events_path, true) : NULL;
		if (where)
			fprintf(stderr, "srt: all of them are in %s\n", where);
		else if (events)
			fprintf(stderr, "srt: all of them are in the --events output\n");
		else
			fprintf(stderr, "srt: all of them with --events FILE\n");
	}
	print_dns_hint(l);
	srt_violation_list_free(l);
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
	if (!o.shell_string && i < argc && strcmp(argv[i], "explain") == 0 &&
	    (i == 1 || strcmp(argv[i - 1], "--") != 0))
		return cli_explain(argc - i - 1, argv + i + 1, o.settings, o.trust_project);
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

	if (is_check) {
		struct config cfg;
		struct policy *policy = NULL;
		r = load_policy(&o, cwd, &cfg, &policy);
		if (r == 0)
			r = cli_check_print(&cfg, policy, o.debug, stdout);
		policy_free(policy);
		config_free(&cfg);
		return r;
	}

	/* The shell string takes the place of argv[0]; arguments after it
	 * become $0, $1, ... as with sh -c. */
	char **command = o.shell_string ? argv + i - 1 : argv + i;
	if (o.shell_string)
		command[0] = (char *)o.shell_string;

	struct srt_error err = { 0 };
	/* Checked before srt opens anything of its own. */
	int control_fd = -1;
	if (o.control_fd) {
		char msg[256];
		if (control_fd_parse(o.control_fd, &control_fd, msg, sizeof(msg)) < 0)
			return fail("%s", msg);
	}
	struct events_sink sink = { .fd = -1 };
	if (o.events && open_events(o.events, &sink) < 0)
		return fail("cannot open the events file: %s", sink.error);
	/* The events file is read-only inside, whatever the settings allow:
	 * the command must not write events of its own; nor settings lines. */
	bool oom;
	_cleanup_free_ char *ctl_path = control_fd >= 0 ? control_path(control_fd) : NULL;
	_cleanup_free_ char *extra = command_line_json(sink.path, ctl_path, o.network, &oom);
	if (oom) {
		if (sink.fd > 2)
			close(sink.fd);
		free(sink.path);
		return fail("%s", "out of memory");
	}
	struct settings *settings = NULL;
	const struct settings_source src = {
		.path = o.settings,
		.home = runtime_home_dir(),
		.cwd = cwd,
		.cli = true,
		.trust_project = o.trust_project,
		.extra = extra,
		/* Where a rule of the command line's comes from (the events
		 * file's protection names --events). */
		.extra_name = sink.path ? "--events" : ctl_path ? "--control-fd" : "--network",
	};
	if (settings_load(&src, &settings, &err) < 0) {
		if (sink.fd > 2)
			close(sink.fd);
		free(sink.path);
		return fail("%s", err.message);
	}
	if (o.debug)
		for (size_t k = 0; k < settings->cfg.files.n; k++)
			fprintf(stderr, "srt: settings: %s\n", settings->cfg.files.v[k]);
	print_settings_notes(&settings->cfg, o.quiet);

	uv_loop_t loop;
	struct runtime rt;
	struct srt_runtime_options rto = { .observe = o.observe };
	if (uv_loop_init(&loop) < 0) {
		settings_free_chain(settings);
		free(sink.path);
		return fail("%s", "cannot create the event loop");
	}
	if (runtime_init(&rt, &rto, settings, &err) < 0) {
		settings_free_chain(settings);
		uv_loop_close(&loop);
		free(sink.path);
		return fail("%s", err.message);
	}
	rt.loop = &loop;
	rt.debug = o.debug;
	/* One sandbox per srt: its id is srt's pid, so that runs appending to
	 * one events file stay apart. */
	rt.next_id = (uint64_t)getpid();
	if (sink.fd >= 0)
		event_hub_subscribe(&rt.hub, write_event, &sink, NULL);
	struct control *control = NULL;
	if (control_fd >= 0 && control_start(&loop, &rt, control_fd, &src, o.debug, &control, &err) < 0) {
		runtime_destroy(&rt);
		uv_loop_close(&loop);
		if (sink.fd > 2)
			close(sink.fd);
		free(sink.path);
		return fail("%s", err.message);
	}

	struct runtime_run_options ro = {
		.command = command,
		.shell = o.shell_string != NULL,
		.cwd = cwd,
		.quiet = o.quiet,
	};
	int status = EXIT_SRT_FAILED;
	r = runtime_run(&rt, &ro, &status, &err);
	if (control) {
		control_stop(control);
		uv_run(&loop, UV_RUN_DEFAULT);
	}
	if (r == 0 && !o.quiet)
		print_summary(&rt.hub, sink.path, sink.fd >= 0);
	runtime_destroy(&rt);
	uv_loop_close(&loop);
	if (sink.fd > 2)
		close(sink.fd);
	free(sink.path);
	if (r < 0)
		return fail("%s", err.message);
	return status;
}
