/* execute: run one shell command in a sandbox and show what happened.
 *
 *   execute [-s SETTINGS] [-t SECONDS] [-i] COMMAND
 *
 * With -s, the settings come from a file (either format srt reads, see
 * docs/settings.md); without, from a struct built below: the current folder
 * writable, ~/.ssh hidden, no network.
 *
 * -t kills the whole sandbox after SECONDS (status 124, as timeout(1));
 * -i gives the command this program's standard input (otherwise it reads
 * /dev/null).
 *
 * Prints the command's status, its stdout and stderr, then every violation
 * the runtime recorded for it. Exits with the command's status (125 when no
 * sandbox could be started).
 *
 * Build: cc -o execute execute.c $(pkg-config --cflags --libs sandbox-runtime)
 * Try:   ./execute 'echo hi; echo x > /usr/not-here; curl -s http://example.com/'
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sandbox_runtime.h>

static const char *kind_name(enum srt_violation_kind k)
{
	switch (k) {
	case SRT_VIOLATION_FILESYSTEM: return "filesystem";
	case SRT_VIOLATION_NETWORK: return "network";
	case SRT_VIOLATION_UNIX_SOCKET: return "unix-socket";
	case SRT_VIOLATION_PROCESS: return "process";
	default: return "?";
	}
}

int main(int argc, char **argv)
{
	const char *settings = NULL;
	/* Every struct passed to the library starts with its size: the
	 * library reads that much, so a program built against this header
	 * keeps working with later versions of the library. */
	struct srt_execute_options xo = { .size = sizeof(xo) };
	int opt;
	while ((opt = getopt(argc, argv, "+s:t:ih")) != -1) {
		if (opt == 's') {
			settings = optarg;
		} else if (opt == 't') {
			xo.timeout_ms = (uint64_t)(strtod(optarg, NULL) * 1000);
		} else if (opt == 'i') {
			xo.stdin_kind = SRT_STDIN_FD;
			xo.stdin_fd = 0;
		} else {
			fprintf(stderr, "usage: %s [-s SETTINGS] [-t SECONDS] [-i] COMMAND\n", argv[0]);
			return opt == 'h' ? 0 : 2;
		}
	}
	if (optind != argc - 1) {
		fprintf(stderr, "usage: %s [-s SETTINGS] [-t SECONDS] [-i] COMMAND\n", argv[0]);
		return 2;
	}
	const char *command = argv[optind];

	/* 1. A runtime: settings + a violation store + event subscribers. Every
	 * fallible call returns 0 or a negative errno, and fills the optional
	 * struct srt_error with a message naming where the problem is
	 * (file:line:column, or the key). */
	srt_runtime *rt = NULL;
	struct srt_error err;
	int r;
	if (settings) {
		r = srt_runtime_new_from_file(settings, NULL, &rt, &err);
	} else {
		/* Lists are NULL-terminated; "~" and relative paths are resolved
		 * against the runtime's home and cwd (the process's by default). */
		static const char *const allow_write[] = { ".", NULL };
		static const char *const deny_read[] = { "~/.ssh", NULL };
		struct srt_config cfg = { .size = sizeof(cfg) };
		cfg.allow_write = allow_write;
		cfg.deny_read = deny_read;
		r = srt_runtime_new_from_config(&cfg, NULL, &rt, &err);
	}
	if (r < 0) {
		fprintf(stderr, "execute: %s\n", err.message);
		return 125;
	}
	if (!srt_sandboxing_enabled(rt)) {
		/* The platform cannot sandbox, or the settings say
		 * sandbox.enabled: false. The library never runs a command
		 * unsandboxed: execute would return -ENOTSUP. */
		struct srt_platform_info info = { .size = sizeof(info) };
		srt_platform_info(&info);
		fprintf(stderr, "execute: sandboxing is not available here%s%s\n", info.missing[0] ? ": " : "",
			info.missing);
		srt_runtime_free(rt);
		return 125;
	}

	/* 2. Run the command with bash -c (sh -c without bash) and wait for
	 * it. 0 means it ran, whatever its status (also when it timed out).
	 * The result is the library's: free it with srt_result_free. */
	struct srt_result *res = NULL;
	r = srt_runtime_execute_shell(rt, command, &xo, &res, &err);
	if (r < 0) {
		fprintf(stderr, "execute: %s\n", err.message);
		srt_runtime_free(rt);
		return 125;
	}
	printf("sandbox %llu: status %d%s\n", (unsigned long long)res->sandbox_id, res->status,
	       res->timed_out ? " (timed out: the sandbox was killed)" : "");
	printf("--- stdout (%zu bytes)\n", res->out_len);
	fwrite(res->out, 1, res->out_len, stdout);
	printf("--- stderr (%zu bytes)\n", res->err_len);
	fwrite(res->err, 1, res->err_len, stdout);

	/* 3. What the sandbox refused. The list is a copy: it stays valid
	 * whatever other threads do to the runtime. Walk it with
	 * srt_violation_at (a later library's elements may be larger). */
	struct srt_violation_list *list = NULL;
	if (srt_runtime_violations(rt, SRT_VIOLATION_ANY, &list) == 0) {
		printf("--- %zu violation(s)\n", list->n);
		for (size_t i = 0; i < list->n; i++) {
			const struct srt_violation *v = srt_violation_at(list, i);
			if (v->sandbox_id != res->sandbox_id)
				continue;
			printf("%-11s %-8s %s\n            by %s (%s)\n", kind_name(v->kind), v->operation, v->target,
			       v->rule, v->source == SRT_SOURCE_PROXY ? "proxy" : "observer");
		}
		srt_violation_list_free(list);
	}

	int status = res->status;
	srt_result_free(res);
	/* 4. Ends whatever still runs, removes the runtime's folder. */
	srt_runtime_free(rt);
	return status;
}
