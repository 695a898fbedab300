/* mcp_launcher: start an MCP server (stdio transport) in a sandbox.
 *
 *   mcp_launcher [-w WORKDIR] [-d DOMAIN]... -- SERVER [ARG...]
 *
 * The MCP client (an editor, an agent) starts this launcher instead of the
 * server. The launcher builds its settings in code:
 *
 *   - everything readable except ~/.ssh (denyRead), the current folder
 *     re-allowed should a deny ever cover it (allowRead ".");
 *   - nothing writable but WORKDIR (default ./workspace) and a private /tmp;
 *   - the network limited to the -d DOMAIN hosts (none by default);
 *
 * then asks the runtime for a sandboxed argv (srt_runtime_wrap) and spawns
 * it with posix_spawn. The server inherits the launcher's stdin, stdout and
 * stderr: the JSON-RPC messages on stdin/stdout pass through untouched, and
 * the launcher itself writes only to stderr. Every violation and every
 * proxied connection is logged there as one JSON line (the schema of
 * docs/events.md), which MCP clients usually keep in their server log.
 *
 * The launcher exits with the server's status: its exit code, 128+N when a
 * signal N killed it, 125 when no sandbox could be prepared. SIGINT, SIGTERM
 * and SIGHUP sent to the launcher are passed on to the server.
 *
 * Build: cc -o mcp_launcher mcp_launcher.c $(pkg-config --cflags --libs sandbox-runtime)
 * Use, e.g. in an MCP client's configuration:
 *   "command": "/path/to/mcp_launcher",
 *   "args": ["-w", "/home/me/project", "-d", "api.github.com", "--",
 *            "npx", "-y", "@modelcontextprotocol/server-github"]
 */
#include <errno.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sandbox_runtime.h>

extern char **environ;

static volatile sig_atomic_t server_pid;

static void forward_signal(int sig)
{
	if (server_pid > 0)
		kill((pid_t)server_pid, sig);
}

/* An srt_event_fn. It runs on one of the runtime's threads; ev and what it
 * points to are valid only during the call. One write() per line keeps the
 * lines whole even when events of several threads interleave. */
static void log_event(const struct srt_event *ev, void *data)
{
	(void)data;
	if (ev->type != SRT_EVENT_VIOLATION && ev->type != SRT_EVENT_CONNECTION)
		return;
	if (!ev->json)
		return;
	size_t n = strlen(ev->json);
	char *line = malloc(n + 2);
	if (!line)
		return;
	memcpy(line, ev->json, n);
	line[n] = '\n';
	ssize_t w = write(STDERR_FILENO, line, n + 1);
	(void)w;
	free(line);
}

static int usage(const char *argv0)
{
	fprintf(stderr, "usage: %s [-w WORKDIR] [-d DOMAIN]... -- SERVER [ARG...]\n", argv0);
	return 2;
}

int main(int argc, char **argv)
{
	const char *workdir = "./workspace";
	const char **domains = calloc((size_t)argc + 1, sizeof(*domains));
	size_t n_domains = 0;
	int opt;
	if (!domains)
		return 125;
	while ((opt = getopt(argc, argv, "+w:d:h")) != -1) {
		switch (opt) {
		case 'w': workdir = optarg; break;
		case 'd': domains[n_domains++] = optarg; break;
		default: return usage(argv[0]);
		}
	}
	if (optind >= argc)
		return usage(argv[0]);
	domains[n_domains] = NULL;

	/* The settings, built in code. The struct's lists are NULL-terminated
	 * and copied by srt_runtime_new_from_config: they need not outlive
	 * the call. */
	const char *const allow_read[] = { ".", NULL };
	const char *const deny_read[] = { "~/.ssh", NULL };
	const char *const allow_write[] = { workdir, NULL };
	struct srt_config cfg = { .size = sizeof(cfg) };
	cfg.allow_read = allow_read;
	cfg.deny_read = deny_read;
	cfg.allow_write = allow_write;
	cfg.allowed_domains = domains;

	srt_runtime *rt = NULL;
	struct srt_error err;
	if (srt_runtime_new_from_config(&cfg, NULL, &rt, &err) < 0) {
		fprintf(stderr, "mcp_launcher: %s\n", err.message);
		return 125;
	}
	free(domains);

	/* Subscribe before the server starts so that nothing is missed. */
	srt_runtime_subscribe(rt, log_event, NULL, NULL);

	/* The sandboxed argv. It carries a one-time token: the runtime serves
	 * exactly one run of it, and attributes its events to `id`. */
	char **sandboxed = NULL;
	uint64_t id = 0;
	if (srt_runtime_wrap(rt, (const char *const *)&argv[optind], NULL, &sandboxed, &id, &err) < 0) {
		fprintf(stderr, "mcp_launcher: %s\n", err.message);
		srt_runtime_free(rt);
		return 125;
	}

	/* Pass termination signals on to the server. */
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = forward_signal;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);

	/* No file actions: the server gets our stdin, stdout and stderr. */
	pid_t pid;
	int r = posix_spawn(&pid, sandboxed[0], NULL, NULL, sandboxed, environ);
	srt_argv_free(sandboxed);
	if (r != 0) {
		fprintf(stderr, "mcp_launcher: cannot start the sandbox: %s\n", strerror(r));
		srt_runtime_free(rt);
		return 125;
	}
	server_pid = pid;
	fprintf(stderr, "mcp_launcher: server %s started in sandbox %llu (pid %d)\n", argv[optind],
		(unsigned long long)id, (int)pid);

	int st;
	while (waitpid(pid, &st, 0) < 0) {
		if (errno != EINTR) {
			st = 125 << 8;
			break;
		}
	}
	server_pid = 0;
	int status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);

	/* Ends whatever the server left running, stops the proxies. */
	srt_runtime_free(rt);
	return status;
}
