/* violations: cause violations on purpose, then inspect the store.
 *
 *   violations
 *
 * Runs one command in a sandbox that
 *   - writes to /usr/srt-example (read-only inside the sandbox, whatever the
 *     user: no path is writable unless allowWrite names it), and
 *   - fetches http://denied.example/ through the sandbox's HTTP proxy:
 *     denied.example is in deniedDomains, which the proxy refuses before
 *     any DNS lookup, so nothing leaves this machine.
 * While it runs, a subscriber prints each event as it arrives. Afterwards
 * the program lists the stored violations by kind, counts them, clears the
 * store and counts again.
 *
 * Build: cc -o violations violations.c $(pkg-config --cflags --libs sandbox-runtime)
 */
#include <stdio.h>
#include <string.h>

#include <sandbox_runtime.h>

static void on_event(const struct srt_event *ev, void *data)
{
	(void)data;
	switch (ev->type) {
	case SRT_EVENT_VIOLATION:
		printf("event: violation %s %s\n", ev->violation->operation, ev->violation->target);
		break;
	case SRT_EVENT_CONNECTION:
		printf("event: connection to %s:%u %s\n", ev->connection->host, ev->connection->port,
		       ev->connection->allowed ? "allowed" : "refused");
		break;
	case SRT_EVENT_SANDBOX_START:
		printf("event: sandbox %llu started: %s\n", (unsigned long long)ev->sandbox->id, ev->sandbox->command);
		break;
	case SRT_EVENT_SANDBOX_EXIT:
		printf("event: sandbox %llu exited with %d after %.1f ms\n", (unsigned long long)ev->sandbox->id,
		       ev->sandbox->status, (double)ev->sandbox->duration_ns / 1e6);
		break;
	default:
		break;
	}
	fflush(stdout);
}

static void list_kind(srt_runtime *rt, enum srt_violation_kind kind, const char *name)
{
	struct srt_violation_list *l = NULL;
	if (srt_runtime_violations(rt, kind, &l) < 0)
		return;
	printf("%s: %zu\n", name, l->n);
	/* srt_violation_at, not l->v[i]: a later library's elements may be
	 * larger than this program's struct srt_violation. */
	for (size_t i = 0; i < l->n; i++) {
		const struct srt_violation *v = srt_violation_at(l, i);
		printf("  #%llu %s %s\n      rule: %s\n      command: %s (pid %d)\n", (unsigned long long)v->seq,
		       v->operation, v->target, v->rule, v->command, v->pid);
	}
	srt_violation_list_free(l);
}

int main(void)
{
	static const char *const denied[] = { "denied.example", NULL };
	struct srt_config cfg = { .size = sizeof(cfg) };
	cfg.denied_domains = denied;

	/* Refused writes are reported only when asked for: each observed
	 * write costs a round trip to the runtime. */
	struct srt_runtime_options opts = { .size = sizeof(opts), .observe = SRT_OBSERVE_WRITES };

	srt_runtime *rt = NULL;
	struct srt_error err;
	if (srt_runtime_new_from_config(&cfg, &opts, &rt, &err) < 0) {
		fprintf(stderr, "violations: %s\n", err.message);
		return 1;
	}
	uint64_t token;
	srt_runtime_subscribe(rt, on_event, NULL, &token);

	/* curl reads HTTP_PROXY/http_proxy, which point at the sandbox's proxy. */
	struct srt_result *res = NULL;
	if (srt_runtime_execute_shell(rt,
				      "echo data > /usr/srt-example; "
				      "curl -s -o /dev/null -w 'HTTP %{http_code}\\n' http://denied.example/",
				      NULL, &res, &err) < 0) {
		fprintf(stderr, "violations: %s\n", err.message);
		srt_runtime_free(rt);
		return 1;
	}
	printf("status %d\nstdout: %sstderr: %s\n", res->status, res->out, res->err);
	srt_result_free(res);

	/* No more events from here on. */
	srt_runtime_unsubscribe(rt, token);

	list_kind(rt, SRT_VIOLATION_FILESYSTEM, "filesystem");
	list_kind(rt, SRT_VIOLATION_NETWORK, "network");
	list_kind(rt, SRT_VIOLATION_UNIX_SOCKET, "unix sockets");
	list_kind(rt, SRT_VIOLATION_PROCESS, "process");
	printf("stored: %zu\n", srt_runtime_violation_count(rt));

	srt_runtime_clear_violations(rt);
	printf("after clear: %zu\n", srt_runtime_violation_count(rt));

	srt_runtime_free(rt);
	return 0;
}
