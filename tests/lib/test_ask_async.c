/* The asynchronous ask callback: 100 questions pending at once hold no
 * thread and slow no other sandbox (an allowed fetch, with a name lookup,
 * takes its normal time); answered later from another thread, half
 * allowed and half denied, each client sees its own answer; a question
 * nobody answers is denied at the ask timeout; blocking callbacks that
 * wait do not hold up name lookups either. */
#include "common.h"

#define N_PENDING 100

struct pending {
	pthread_mutex_t lock;
	pthread_cond_t cv;
	struct srt_ask_request *req[N_PENDING + 8];
	uint16_t port[N_PENDING + 8];
	uint64_t sandbox[N_PENDING + 8];
	int n;
	/* Blocking callback: how many are inside, and whether they may go. */
	int blocked;
	bool release;
};

static struct pending P = { .lock = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER };

/* Runs on the runtime's thread: keep the request and return at once. */
static void ask_async(struct srt_ask_request *req, uint64_t sandbox_id, const char *host, uint16_t port, void *data)
{
	(void)host, (void)data;
	pthread_mutex_lock(&P.lock);
	if (P.n < (int)(sizeof(P.req) / sizeof(P.req[0]))) {
		P.req[P.n] = req;
		P.port[P.n] = port;
		P.sandbox[P.n] = sandbox_id;
		P.n++;
	} else {
		srt_ask_reply(req, false, "too many");
	}
	pthread_cond_broadcast(&P.cv);
	pthread_mutex_unlock(&P.lock);
}

/* A blocking callback that waits until released (a person thinking). */
static bool ask_blocking(uint64_t sandbox_id, const char *host, uint16_t port, char *reason, size_t reason_size,
			 void *data)
{
	(void)sandbox_id, (void)host, (void)port, (void)data;
	pthread_mutex_lock(&P.lock);
	P.blocked++;
	pthread_cond_broadcast(&P.cv);
	while (!P.release)
		pthread_cond_wait(&P.cv, &P.lock);
	pthread_mutex_unlock(&P.lock);
	snprintf(reason, reason_size, "blocking-no");
	return false;
}

/* Wait until *counter reaches want (under P.lock); returns what it is. */
static int wait_count(int *counter, int want, int timeout_ms)
{
	struct timespec dl;
	clock_gettime(CLOCK_REALTIME, &dl);
	dl.tv_sec += timeout_ms / 1000;
	pthread_mutex_lock(&P.lock);
	while (*counter < want && pthread_cond_timedwait(&P.cv, &P.lock, &dl) == 0)
		;
	int n = *counter;
	pthread_mutex_unlock(&P.lock);
	return n;
}

struct job {
	srt_runtime *rt;
	char cmd[4096];
	struct srt_result *res;
	int r;
	pthread_t thread;
};

static void *job_main(void *arg)
{
	struct job *j = arg;
	struct srt_error e;
	j->r = srt_runtime_execute_shell(j->rt, j->cmd, NULL, &j->res, &e);
	if (j->r < 0)
		diag_err("srt_runtime_execute_shell", j->r, &e);
	return NULL;
}

/* An allowed fetch through a name (the proxy resolves it), timed. */
static int64_t fetch_allowed(srt_runtime *rt, uint16_t port, bool *good)
{
	char cmd[512];
	struct srt_result *res;
	struct srt_error e;
	snprintf(cmd, sizeof(cmd), CURL_VIA_PROXY "'http://localhost:%u/'", port);
	int64_t t0 = now_ms();
	int r = srt_runtime_execute_shell(rt, cmd, NULL, &res, &e);
	int64_t took = now_ms() - t0;
	*good = r == 0 && res->out && strstr(res->out, "fast\ncode=200");
	if (r < 0)
		diag_err("srt_runtime_execute_shell", r, &e);
	else if (!*good)
		diag_result(res);
	if (r == 0)
		result_clear(&res);
	return took;
}

struct answers {
	uint16_t allow_port;
	int from, to;
};

/* Answer questions [from, to) from a thread of the caller's: the ones
 * for allow_port allowed, the others denied with a reason. */
static void *answer_main(void *arg)
{
	struct answers *a = arg;
	for (int i = a->from; i < a->to; i++) {
		pthread_mutex_lock(&P.lock);
		struct srt_ask_request *req = P.req[i];
		bool allow = P.port[i] == a->allow_port;
		pthread_mutex_unlock(&P.lock);
		srt_ask_reply(req, allow, allow ? NULL : "denied-by-the-other-thread");
	}
	return NULL;
}

int main(void)
{
	struct tree t;
	plan(14);
	tree_make(&t);
	struct http_server sa, sb, sf;
	http_server_start(&sa, "a");
	http_server_start(&sb, "b");
	http_server_start(&sf, "fast");
	char fast_entry[64];
	snprintf(fast_entry, sizeof(fast_entry), "localhost:%u", sf.port);
	const char *const ad[] = { fast_entry, NULL };
	struct srt_config cfg = { .size = sizeof(cfg) };
	cfg.allowed_domains = ad;
	struct srt_runtime_options o = tree_options(&t);
	srt_runtime *rt = runtime_new_or_bail(&cfg, &o);

	ok(srt_runtime_set_ask_async(rt, ask_async, NULL) == 0, "srt_runtime_set_ask_async");
	bool good;
	int64_t base = fetch_allowed(rt, sf.port, &good);
	ok(good, "an allowed fetch with nobody asked: %lld ms", (long long)base);

	/* 100 questions at once from one sandbox: 50 to server a, 50 to b,
	 * each client's output in a file of its own. */
	struct job j = { .rt = rt };
	snprintf(j.cmd, sizeof(j.cmd),
		 "cd /tmp && for i in $(seq 1 %d); do "
		 "curl -sS --max-time 50 --noproxy '' -x \"${HTTP_PROXY:-http://127.0.0.1:3128}\" -w '\\ncode=%%{http_code}\\n' "
		 "http://127.0.0.1:%u/ >o.a$i 2>&1 & "
		 "curl -sS --max-time 50 --noproxy '' -x \"${HTTP_PROXY:-http://127.0.0.1:3128}\" -w '\\ncode=%%{http_code}\\n' "
		 "http://127.0.0.1:%u/ >o.b$i 2>&1 & "
		 "done; wait; for f in o.*; do printf '%%s: ' $f; tr '\\n' ' ' <$f; echo; done",
		 N_PENDING / 2, sa.port, sb.port);
	pthread_create(&j.thread, NULL, job_main, &j);
	int n = wait_count(&P.n, N_PENDING, 30000);
	ok(n == N_PENDING, "%d questions pending at once (%d)", N_PENDING, n);

	int64_t during = fetch_allowed(rt, sf.port, &good);
	int64_t limit = base * 3 > 2000 ? base * 3 : 2000;
	ok(good && during < limit, "meanwhile another sandbox's allowed fetch takes %lld ms (alone: %lld; limit %lld)",
	   (long long)during, (long long)base, (long long)limit);
	ok(http_server_hits(&sa) == 0 && http_server_hits(&sb) == 0, "no pending client reached its server");

	struct answers ans = { .allow_port = sa.port, .from = 0, .to = N_PENDING };
	pthread_t at;
	pthread_create(&at, NULL, answer_main, &ans);
	pthread_join(at, NULL);
	pthread_join(j.thread, NULL);
	int a200 = 0, b403 = 0, wrong = 0;
	if (j.r == 0 && j.res->out) {
		for (char *line = j.res->out, *nl; *line; line = nl) {
			nl = strchr(line, '\n');
			if (nl)
				*nl++ = '\0';
			else
				nl = line + strlen(line);
			if (strncmp(line, "o.a", 3) == 0 && strstr(line, "code=200") && strstr(line, " a "))
				a200++;
			else if (strncmp(line, "o.b", 3) == 0 && strstr(line, "code=403") &&
				 strstr(line, "denied-by-the-other-thread"))
				b403++;
			else if (*line) {
				if (wrong++ < 5)
					diag("unexpected: %s", line);
			}
		}
	}
	ok(a200 == N_PENDING / 2, "answered from another thread: the %d allowed clients got 200 (%d)", N_PENDING / 2,
	   a200);
	ok(b403 == N_PENDING / 2 && wrong == 0, "and the %d denied ones 403 with the reason (%d; %d unexpected)",
	   N_PENDING / 2, b403, wrong);
	ok(http_server_hits(&sa) == N_PENDING / 2 && http_server_hits(&sb) == 0,
	   "only the allowed reached their server (%d, %d)", http_server_hits(&sa), http_server_hits(&sb));
	if (j.r == 0)
		result_clear(&j.res);

	/* Nobody answers: the timeout denies. */
	ok(srt_runtime_set_ask_timeout(rt, 300) == 0, "srt_runtime_set_ask_timeout(300)");
	struct srt_result *res;
	struct srt_error e;
	char cmd[512];
	snprintf(cmd, sizeof(cmd), CURL_VIA_PROXY "'http://127.0.0.1:%u/'", sb.port);
	int before = wait_count(&P.n, 0, 0);
	int64_t t0 = now_ms();
	int r = srt_runtime_execute_shell(rt, cmd, NULL, &res, &e);
	int64_t took = now_ms() - t0;
	bool denied = r == 0 && res->out && strstr(res->out, "code=403") && strstr(res->out, "no answer in time");
	ok(denied && wait_count(&P.n, before + 1, 0) == before + 1, "a question nobody answers is denied at the timeout (%lld ms)",
	   (long long)took);
	if (r == 0 && !denied)
		diag_result(res);
	if (r == 0)
		result_clear(&res);
	/* Its late answer only frees the request. */
	pthread_mutex_lock(&P.lock);
	struct srt_ask_request *late = P.n > before ? P.req[before] : NULL;
	pthread_mutex_unlock(&P.lock);
	ok(late && srt_ask_reply(late, true, NULL) == 0, "a late answer is accepted and dropped");
	srt_runtime_set_ask_timeout(rt, 60000);

	/* Blocking callbacks that wait hold no thread that resolves names. */
	srt_runtime_set_ask(rt, ask_blocking, NULL);
	struct job jb = { .rt = rt };
	snprintf(jb.cmd, sizeof(jb.cmd),
		 "for i in 1 2 3 4 5 6 7 8; do "
		 "curl -sS --max-time 50 --noproxy '' -x \"${HTTP_PROXY:-http://127.0.0.1:3128}\" -o /dev/null -w 'code=%%{http_code}\\n' "
		 "http://127.0.0.1:%u/ & done; wait",
		 sb.port);
	pthread_create(&jb.thread, NULL, job_main, &jb);
	n = wait_count(&P.blocked, 8, 30000);
	during = fetch_allowed(rt, sf.port, &good);
	ok(n == 8 && good && during < limit,
	   "with %d blocking calls waiting, an allowed fetch takes %lld ms", n, (long long)during);
	pthread_mutex_lock(&P.lock);
	P.release = true;
	pthread_cond_broadcast(&P.cv);
	pthread_mutex_unlock(&P.lock);
	pthread_join(jb.thread, NULL);
	int n403 = 0;
	for (char *p = jb.r == 0 && jb.res->out ? jb.res->out : ""; (p = strstr(p, "code=403")); p++)
		n403++;
	ok(n403 == 8, "released, each of them is refused (%d)", n403);
	if (jb.r == 0)
		result_clear(&jb.res);
	ok(http_server_hits(&sb) == 0, "server b was never reached");

	srt_runtime_free(rt);
	http_server_stop(&sa);
	http_server_stop(&sb);
	http_server_stop(&sf);
	tree_remove(&t);
	return done_testing();
}
