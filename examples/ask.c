/* ask: let a person decide about hosts the settings do not mention.
 *
 *   ask [-a HOST]... COMMAND
 *
 * Runs COMMAND (with bash -c) in a sandbox with no allowedDomains. Each
 * connection through the sandbox's proxies to a host that neither
 * allowedDomains nor deniedDomains decides calls the ask callback, and the
 * connection waits for its answer:
 *   - with a terminal (/dev/tty), the callback asks there: y allows, anything
 *     else refuses;
 *   - without one, it allows the hosts given with -a and refuses the rest.
 * A refusal carries a reason, which the command's client sees in the body of
 * the proxy's 403 answer. Answers are not remembered: the next connection
 * asks again (remember them yourself if you want to).
 *
 * Build: cc -o ask ask.c $(pkg-config --cflags --libs sandbox-runtime) -pthread
 * Try:   ./ask 'curl -sS https://example.com/ | head -n 5'
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <sandbox_runtime.h>

struct asker {
	pthread_mutex_t lock;   /* one question on the terminal at a time */
	FILE *tty;              /* NULL: no terminal, use the list */
	char **allowed;         /* -a hosts, NULL-terminated */
};

/* An srt_ask_fn. It runs on a worker thread of the runtime, possibly on
 * several at once, and may block as long as it needs. */
static bool ask_host(uint64_t sandbox_id, const char *host, uint16_t port, char *reason, size_t reason_size,
		     void *data)
{
	struct asker *a = data;
	bool allow = false;
	pthread_mutex_lock(&a->lock);
	if (a->tty) {
		char answer[16] = "";
		fprintf(a->tty, "sandbox %llu wants to connect to %s:%u. Allow? [y/N] ", (unsigned long long)sandbox_id,
			host, port);
		fflush(a->tty);
		if (fgets(answer, sizeof(answer), a->tty))
			allow = answer[0] == 'y' || answer[0] == 'Y';
	} else {
		for (char **h = a->allowed; *h && !allow; h++)
			allow = strcasecmp(*h, host) == 0;
	}
	pthread_mutex_unlock(&a->lock);
	if (!allow)
		snprintf(reason, reason_size, "%s was refused by %s", host, a->tty ? "the user" : "ask's list");
	return allow;
}

int main(int argc, char **argv)
{
	char *allowed[64];
	size_t n = 0;
	int opt;
	while ((opt = getopt(argc, argv, "+a:h")) != -1) {
		if (opt == 'a' && n < 63) {
			allowed[n++] = optarg;
		} else {
			fprintf(stderr, "usage: %s [-a HOST]... COMMAND\n", argv[0]);
			return 2;
		}
	}
	allowed[n] = NULL;
	if (optind != argc - 1) {
		fprintf(stderr, "usage: %s [-a HOST]... COMMAND\n", argv[0]);
		return 2;
	}

	struct asker a = { .allowed = allowed };
	pthread_mutex_init(&a.lock, NULL);
	a.tty = fopen("/dev/tty", "r+");

	/* No allowedDomains: every host is undecided, so every connection asks. */
	srt_runtime *rt = NULL;
	struct srt_error err;
	struct srt_config cfg = { .size = sizeof(cfg) };
	if (srt_runtime_new_from_config(&cfg, NULL, &rt, &err) < 0) {
		fprintf(stderr, "ask: %s\n", err.message);
		return 125;
	}
	srt_runtime_set_ask(rt, ask_host, &a);

	/* The command's output is captured, and printed when it ends: the
	 * terminal is free for the questions meanwhile. */
	struct srt_result *res = NULL;
	if (srt_runtime_execute_shell(rt, argv[optind], NULL, &res, &err) < 0) {
		fprintf(stderr, "ask: %s\n", err.message);
		srt_runtime_free(rt);
		return 125;
	}
	fwrite(res->out, 1, res->out_len, stdout);
	fwrite(res->err, 1, res->err_len, stderr);
	int status = res->status;
	srt_result_free(res);

	/* Free the runtime before what the callback uses goes away. */
	srt_runtime_free(rt);
	if (a.tty)
		fclose(a.tty);
	return status;
}
