/* Two sandboxes of one runtime at the same time, each with its own extra
 * allowedDomains (srt_sandbox_options.allowed_domains): A may reach only
 * server A, B only server B. Both servers listen on the host's loopback;
 * the sandboxes reach them through their proxy, which decides with the
 * sandbox's own list (an IP literal with a port in allowedDomains allows
 * that address, the loopback guard included). Every connection and
 * violation must be attributed to the sandbox that made it. */
#include "common.h"

struct job {
	srt_runtime *rt;
	const char *name;
	char allowed[64];
	const char *allowed_list[2];
	char cmd[1024];
	pthread_barrier_t *barrier;
	int r;
	struct srt_result *res;
	struct srt_error err;
};

static void *run_job(void *arg)
{
	struct job *j = arg;
	struct srt_sandbox_options so = { .size = sizeof(so) };
	j->allowed_list[0] = j->allowed;
	j->allowed_list[1] = NULL;
	so.allowed_domains = j->allowed_list;
	struct srt_execute_options xo = { .size = sizeof(xo), .sandbox = &so };
	pthread_barrier_wait(j->barrier);
	j->r = srt_runtime_execute_shell(j->rt, j->cmd, &xo, &j->res, &j->err);
	return NULL;
}

static bool conn(struct recorder *rec, uint64_t id, uint16_t port, int allowed)
{
	struct rec_event e;
	return recorder_find_conn(rec, id, port, allowed, &e);
}

int main(void)
{
	struct tree t;
	struct srt_error e;
	srt_runtime *rt = NULL;
	int r;

	plan(21);
	tree_make(&t);
	struct http_server sa, sb;
	http_server_start(&sa, "srv-A");
	http_server_start(&sb, "srv-B");
	diag("server A on 127.0.0.1:%u, server B on 127.0.0.1:%u", sa.port, sb.port);

	struct srt_runtime_options o = tree_options(&t);
	const char *const aw[] = { ".", NULL };
	const char *const dd[] = { "blocked.test", NULL };
	struct srt_config cfg = { .size = sizeof(cfg) };
	cfg.allow_write = aw;
	cfg.denied_domains = dd;
	rt = runtime_new_or_bail(&cfg, &o);
	struct recorder rec;
	recorder_init(&rec);
	srt_runtime_subscribe(rt, recorder_fn, &rec, NULL);

	pthread_barrier_t barrier;
	pthread_barrier_init(&barrier, NULL, 2);
	struct job ja = { .rt = rt, .name = "A", .barrier = &barrier };
	struct job jb = { .rt = rt, .name = "B", .barrier = &barrier };
	snprintf(ja.allowed, sizeof(ja.allowed), "127.0.0.1:%u", sa.port);
	snprintf(jb.allowed, sizeof(jb.allowed), "127.0.0.1:%u", sb.port);
	/* Each sleeps first, so that both run at the same time, then tries
	 * both servers. */
	snprintf(ja.cmd, sizeof(ja.cmd),
		 "sleep 1; " CURL_VIA_PROXY "http://127.0.0.1:%u/; " CURL_VIA_PROXY "http://127.0.0.1:%u/", sa.port,
		 sb.port);
	snprintf(jb.cmd, sizeof(jb.cmd),
		 "sleep 1; " CURL_VIA_PROXY "http://127.0.0.1:%u/; " CURL_VIA_PROXY "http://127.0.0.1:%u/", sb.port,
		 sa.port);
	pthread_t ta, tb;
	pthread_create(&ta, NULL, run_job, &ja);
	pthread_create(&tb, NULL, run_job, &jb);
	pthread_join(ta, NULL);
	pthread_join(tb, NULL);

	if (!ok(ja.r == 0 && jb.r == 0, "both sandboxes ran (%d, %d)", ja.r, jb.r)) {
		if (ja.r)
			diag_err("execute_shell A", ja.r, &ja.err);
		if (jb.r)
			diag_err("execute_shell B", jb.r, &jb.err);
		skip(20, "sandboxes did not run");
		goto out;
	}
	uint64_t ida = ja.res->sandbox_id, idb = jb.res->sandbox_id;
	diag("sandbox A = %llu, sandbox B = %llu", (unsigned long long)ida, (unsigned long long)idb);
	ok(ida && idb && ida != idb, "distinct sandbox ids");

	/* overlap: both started before either ended */
	recorder_wait(&rec, SRT_EVENT_SANDBOX_EXIT, 0, 2, 3000);
	pthread_mutex_lock(&rec.lock);
	int starts = 0;
	bool overlapped = false;
	for (size_t i = 0; i < rec.n; i++) {
		if (rec.ev[i].type == SRT_EVENT_SANDBOX_START)
			starts++;
		if (rec.ev[i].type == SRT_EVENT_SANDBOX_EXIT) {
			overlapped = starts >= 2;
			break;
		}
	}
	pthread_mutex_unlock(&rec.lock);
	ok(overlapped, "both sandboxes started before either ended");

	char want[64];
	snprintf(want, sizeof(want), "srv-A\ncode=200");
	ok(ja.res->out && strstr(ja.res->out, want), "A reached server A through the proxy");
	ok(ja.res->out && strstr(ja.res->out, "code=403") && !strstr(ja.res->out, "srv-B"), "A was refused server B (403)");
	snprintf(want, sizeof(want), "srv-B\ncode=200");
	ok(jb.res->out && strstr(jb.res->out, want), "B reached server B through the proxy");
	ok(jb.res->out && strstr(jb.res->out, "code=403") && !strstr(jb.res->out, "srv-A"), "B was refused server A (403)");
	if (!(ja.res->out && strstr(ja.res->out, "srv-A\ncode=200") && jb.res->out && strstr(jb.res->out, "srv-B\ncode=200"))) {
		diag_result(ja.res);
		diag_result(jb.res);
	}
	ok(http_server_hits(&sa) == 1 && http_server_hits(&sb) == 1, "each server got exactly one request (%d, %d)",
	   http_server_hits(&sa), http_server_hits(&sb));

	/* connection events, by sandbox */
	recorder_wait(&rec, SRT_EVENT_CONNECTION, 0, 4, 3000);
	ok(conn(&rec, ida, sa.port, 1), "CONNECTION: A -> server A allowed, attributed to A");
	ok(conn(&rec, ida, sb.port, 0), "CONNECTION: A -> server B refused, attributed to A");
	ok(conn(&rec, idb, sb.port, 1), "CONNECTION: B -> server B allowed, attributed to B");
	ok(conn(&rec, idb, sa.port, 0), "CONNECTION: B -> server A refused, attributed to B");
	ok(!conn(&rec, ida, sb.port, 1) && !conn(&rec, idb, sa.port, 1), "no allowed connection to the other's server");
	ok(recorder_count(&rec, SRT_EVENT_CONNECTION, 0) == 4, "exactly 4 CONNECTION events (%zu)",
	   recorder_count(&rec, SRT_EVENT_CONNECTION, 0));
	struct rec_event ce;
	if (recorder_find_conn(&rec, ida, sa.port, 1, &ce))
		ok(strcmp(ce.host, "127.0.0.1") == 0 && strcmp(ce.via, "http") == 0 && ce.rule[0],
		   "allowed connection: host \"127.0.0.1\", via \"http\", a rule (host \"%s\", via \"%s\", rule \"%s\")",
		   ce.host, ce.via, ce.rule);
	else
		ok(false, "allowed connection event of A found");

	/* violations, by sandbox */
	char ta_s[64], tb_s[64];
	snprintf(ta_s, sizeof(ta_s), "127.0.0.1:%u", sa.port);
	snprintf(tb_s, sizeof(tb_s), "127.0.0.1:%u", sb.port);
	ok(find_violation(rt, SRT_VIOLATION_NETWORK, ida, tb_s, 2000, NULL) >= 0,
	   "network violation %s attributed to A", tb_s);
	ok(find_violation(rt, SRT_VIOLATION_NETWORK, idb, ta_s, 2000, NULL) >= 0,
	   "network violation %s attributed to B", ta_s);
	ok(find_violation(rt, SRT_VIOLATION_NETWORK, ida, ta_s, 0, NULL) < 0 &&
	   find_violation(rt, SRT_VIOLATION_NETWORK, idb, tb_s, 0, NULL) < 0,
	   "no violation for a sandbox's own allowed server");
	/* Nothing else: curl's resolver asks nscd first (glibc's probe),
	 * which is refused but no violation. */
	struct srt_violation_list *vl = NULL;
	size_t n_net = srt_runtime_violations(rt, SRT_VIOLATION_ANY, &vl) == 0 && vl ? vl->n : SIZE_MAX;
	srt_violation_list_free(vl);
	ok(n_net == 2, "exactly 2 violations stored, both network ones (%zu)", n_net);
	if (n_net != 2)
		dump_violations(rt);

	/* a third sandbox without extra domains reaches neither */
	struct srt_result *res;
	char cmd[1024];
	snprintf(cmd, sizeof(cmd), CURL_VIA_PROXY "http://127.0.0.1:%u/; " CURL_VIA_PROXY "http://127.0.0.1:%u/",
		 sa.port, sb.port);
	r = srt_runtime_execute_shell(rt, cmd, NULL, &res, &e);
	ok(r == 0 && res->out && !strstr(res->out, "srv-") && strstr(res->out, "code=403"),
	   "a sandbox without options reaches neither server");
	if (r == 0)
		result_clear(&res);
	/* the per-sandbox lists did not leak into the runtime's */
	ok(http_server_hits(&sa) == 1 && http_server_hits(&sb) == 1, "servers still saw one request each (%d, %d)",
	   http_server_hits(&sa), http_server_hits(&sb));
	if (!(http_server_hits(&sa) == 1))
		recorder_dump(&rec);

out:
	if (ja.r == 0)
		result_clear(&ja.res);
	if (jb.r == 0)
		result_clear(&jb.res);
	srt_runtime_free(rt);
	recorder_free(&rec);
	http_server_stop(&sa);
	http_server_stop(&sb);
	pthread_barrier_destroy(&barrier);
	tree_remove(&t);
	return done_testing();
}
