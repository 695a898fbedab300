/* A hostile sandbox cannot put violations or connections on another
 * sandbox of the same runtime: attribution comes from the listener (each
 * sandbox has its own proxies, in its own network namespace) and from the
 * kernel (the observer's notifications), never from what the command
 * says. Sandbox H claims to be V in every way a command can: proxy
 * credentials naming V, headers, fake event lines on stdout and stderr;
 * V runs quietly at the same time. */
#include "common.h"

struct job {
	srt_runtime *rt;
	char cmd[2048];
	pthread_barrier_t *barrier;
	int r;
	struct srt_result *res;
	struct srt_error err;
};

static void *run_job(void *arg)
{
	struct job *j = arg;
	pthread_barrier_wait(j->barrier);
	j->r = srt_runtime_execute_shell(j->rt, j->cmd, NULL, &j->res, &j->err);
	return NULL;
}

int main(void)
{
	struct tree t;
	srt_runtime *rt = NULL;

	plan(7);
	tree_make(&t);
	struct srt_runtime_options o = tree_options(&t);
	const char *const dd[] = { "blocked.test", NULL };
	struct srt_config cfg = { .size = sizeof(cfg) };
	cfg.denied_domains = dd;
	rt = runtime_new_or_bail(&cfg, &o);
	struct recorder rec;
	recorder_init(&rec);
	srt_runtime_subscribe(rt, recorder_fn, &rec, NULL);

	pthread_barrier_t barrier;
	pthread_barrier_init(&barrier, NULL, 2);
	/* V is sandbox 1 or 2: H claims both. */
	struct job jv = { .rt = rt, .barrier = &barrier };
	struct job jh = { .rt = rt, .barrier = &barrier };
	snprintf(jv.cmd, sizeof(jv.cmd), "sleep 2; echo victim done");
	snprintf(jh.cmd, sizeof(jh.cmd),
		 "for id in 1 2; do "
		 "curl -sS --max-time 10 --noproxy '' -x \"http://sandbox-$id:x@127.0.0.1:3128\" "
		 "-H \"X-Sandbox: $id\" -H \"Proxy-Authorization: Basic c2FuZGJveDok\" http://blocked.test/ >/dev/null; "
		 "echo '{\"event\":\"violation\",\"version\":1,\"sandbox\":'$id',\"kind\":\"network\","
		 "\"operation\":\"connect\",\"target\":\"forged:'$id'\",\"source\":\"proxy\"}'; "
		 "echo '{\"event\":\"violation\",\"sandbox\":'$id',\"target\":\"forged:'$id'\"}' >&2; "
		 "done; true");
	pthread_t tv, th;
	pthread_create(&tv, NULL, run_job, &jv);
	pthread_create(&th, NULL, run_job, &jh);
	pthread_join(tv, NULL);
	pthread_join(th, NULL);
	if (!ok(jv.r == 0 && jh.r == 0, "both sandboxes ran (%d, %d)", jv.r, jh.r)) {
		if (jv.r)
			diag_err("execute V", jv.r, &jv.err);
		if (jh.r)
			diag_err("execute H", jh.r, &jh.err);
		skip(6, "sandboxes did not run");
		goto out;
	}
	uint64_t idv = jv.res->sandbox_id, idh = jh.res->sandbox_id;
	diag("victim %llu, hostile %llu", (unsigned long long)idv, (unsigned long long)idh);
	ok(strstr(jv.res->out, "victim done") != NULL, "the victim ran to its end");

	/* What H did is H's: the refused connections are its violations. */
	struct srt_violation_list *l = NULL;
	size_t of_h = 0, of_v = 0, forged = 0;
	if (srt_runtime_violations(rt, SRT_VIOLATION_ANY, &l) == 0) {
		for (size_t i = 0; i < l->n; i++) {
			const struct srt_violation *v = srt_violation_at(l, i);
			if (v->sandbox_id == idh)
				of_h++;
			if (v->sandbox_id == idv)
				of_v++;
			if (strstr(v->target, "forged"))
				forged++;
		}
		srt_violation_list_free(l);
	}
	ok(of_h >= 1, "the hostile sandbox's refused connection is its own violation (%zu)", of_h);
	ok(of_v == 0, "no violation is attributed to the victim (%zu)", of_v);
	ok(forged == 0, "no forged violation was stored (%zu)", forged);

	recorder_wait(&rec, SRT_EVENT_SANDBOX_EXIT, 0, 2, 5000);
	size_t conn_v = recorder_count(&rec, SRT_EVENT_CONNECTION, idv);
	size_t conn_h = recorder_count(&rec, SRT_EVENT_CONNECTION, idh);
	ok(conn_v == 0 && conn_h >= 1, "connection events: victim %zu, hostile %zu", conn_v, conn_h);
	pthread_mutex_lock(&rec.lock);
	size_t fake_events = 0;
	for (size_t i = 0; i < rec.n; i++)
		if (rec.ev[i].json && strstr(rec.ev[i].json, "\"target\":\"forged"))
			fake_events++;
	pthread_mutex_unlock(&rec.lock);
	ok(fake_events == 0, "what the command printed never became an event (%zu)", fake_events);
out:
	result_clear(&jv.res);
	result_clear(&jh.res);
	srt_runtime_free(rt);
	recorder_free(&rec);
	tree_remove(&t);
	return done_testing();
}
