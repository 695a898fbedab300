/* Misuse that must neither crash nor hang: srt_runtime_free, reset and
 * reload from an event callback or the ask callback (reload: -EDEADLK;
 * reset: nothing; free: the runtime frees itself once the callback has
 * returned), and srt_runtime_free while executions run on other threads
 * (they return -ECANCELED, their sandboxes are gone, then it frees). */
#include "common.h"

#include <dirent.h>
#include <signal.h>

/* The runtime folders are made under $XDG_RUNTIME_DIR/srt: pointing it at a
 * folder of the test shows when a runtime has really been freed (its
 * folder is removed last but one), even one that frees itself on a thread
 * of its own. */
static char xdg[400], xdg_srt[420];

static int rundirs(void)
{
	DIR *d = opendir(xdg_srt);
	if (!d)
		return 0;
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

/* Whether every runtime folder went away within ms; then a moment for the
 * freeing thread's last frees, so that a leak checker sees none. */
static bool rundirs_gone(int ms)
{
	int64_t end = now_ms() + ms;
	while (rundirs() > 0 && now_ms() < end)
		sleep_ms(20);
	sleep_ms(200);
	return rundirs() == 0;
}


/* ---- from an event callback ---------------------------------------------- */

struct misuser {
	srt_runtime *rt;
	enum srt_event_type on;   /* the event that triggers it */
	bool do_free;
	pthread_mutex_t lock;
	int fired;                /* times it ran the calls */
	int events;               /* events seen of type on */
	int reload_r;
	char reload_msg[256];
};

static void misuser_calls(struct misuser *m)
{
	struct srt_error e;
	memset(&e, 0, sizeof(e));
	int r = srt_runtime_reload_json(m->rt, "{}", "from-a-callback", &e);
	srt_runtime_reset(m->rt);
	if (m->do_free)
		srt_runtime_free(m->rt);
	pthread_mutex_lock(&m->lock);
	m->fired++;
	m->reload_r = r;
	copy_str(m->reload_msg, sizeof(m->reload_msg), e.message);
	pthread_mutex_unlock(&m->lock);
}

static void misuse_fn(const struct srt_event *ev, void *data)
{
	struct misuser *m = data;
	if (ev->type != m->on)
		return;
	pthread_mutex_lock(&m->lock);
	bool first = m->events++ == 0;
	pthread_mutex_unlock(&m->lock);
	if (first)
		misuser_calls(m);
}

static void misuser_init(struct misuser *m, srt_runtime *rt, enum srt_event_type on, bool do_free)
{
	memset(m, 0, sizeof(*m));
	pthread_mutex_init(&m->lock, NULL);
	m->rt = rt;
	m->on = on;
	m->do_free = do_free;
	m->reload_r = 1;
}

static int misuser_get(struct misuser *m, int *events, int *reload_r)
{
	pthread_mutex_lock(&m->lock);
	int fired = m->fired;
	if (events)
		*events = m->events;
	if (reload_r)
		*reload_r = m->reload_r;
	pthread_mutex_unlock(&m->lock);
	return fired;
}

static void event_callback_cases(const struct tree *t)
{
	struct srt_runtime_options o = tree_options(t);
	struct srt_config cfg = { .size = sizeof(cfg) };
	struct srt_result *res = NULL;
	struct srt_error e;
	int events = 0, rr = 0;

	/* reload and reset on the runtime's thread: refused, the runtime
	 * goes on as before. */
	srt_runtime *rt = runtime_new_or_bail(&cfg, &o);
	struct misuser m;
	misuser_init(&m, rt, SRT_EVENT_SANDBOX_START, false);
	srt_runtime_subscribe(rt, misuse_fn, &m, NULL);
	int r = srt_runtime_execute_shell(rt, "true", NULL, &res, &e);
	ok(r == 0 && res->status == 0, "execute with a callback calling reload and reset (%d, status %d)", r, res->status);
	result_clear(&res);
	int fired = misuser_get(&m, &events, &rr);
	ok(fired == 1 && rr == -EDEADLK, "reload from an event callback: -EDEADLK (%d: %s)", rr, m.reload_msg);
	r = srt_runtime_execute_shell(rt, "true", NULL, &res, &e);
	result_clear(&res);
	misuser_get(&m, &events, NULL);
	ok(r == 0 && events == 2, "reset from an event callback does nothing: the subscriber stays (%d events)", events);
	r = srt_runtime_reload_json(rt, "{}", "after", &e);
	ok(r == 0, "reload from the program's thread still works (%d)", r);
	srt_runtime_free(rt);
	ok(rundirs() == 0, "freed from the program's thread");

	/* free on the runtime's thread, while execute waits: the runtime
	 * frees itself once the callback has returned. */
	rt = runtime_new_or_bail(&cfg, &o);
	misuser_init(&m, rt, SRT_EVENT_SANDBOX_START, true);
	srt_runtime_subscribe(rt, misuse_fn, &m, NULL);
	int64_t t0 = now_ms();
	r = srt_runtime_execute_shell(rt, "sleep 30", NULL, &res, &e);
	int64_t took = now_ms() - t0;
	ok(r == -ECANCELED && e.code == r && took < 10000,
	   "free from an event callback: the execute waiting returns -ECANCELED in %lld ms (%d: %s)", (long long)took,
	   r, e.message);
	result_clear(&res);
	ok(misuser_get(&m, NULL, &rr) == 1 && rr == -EDEADLK, "the callback returned from free (reload before it: %d)",
	   rr);
	bool gone = rundirs_gone(10000);
	ok(gone, "and the runtime freed itself after the callback (%d folders left)", rundirs());

	/* An event dispatched on the program's thread (CONFIG_RELOADED, by
	 * reload): free there is deferred too, until reload has returned. */
	rt = runtime_new_or_bail(&cfg, &o);
	misuser_init(&m, rt, SRT_EVENT_CONFIG_RELOADED, true);
	srt_runtime_subscribe(rt, misuse_fn, &m, NULL);
	r = srt_runtime_reload_json(rt, "{}", "outer", &e);
	ok(r == 0 && misuser_get(&m, NULL, &rr) == 1 && rr == -EDEADLK,
	   "free from a CONFIG_RELOADED callback on the reloading thread: the reload returns (%d, inner %d)", r, rr);
	gone = rundirs_gone(10000);
	ok(gone, "and the runtime freed itself after it (%d folders left)", rundirs());
}

/* ---- from the ask callback --------------------------------------------------- */

struct asker {
	srt_runtime *rt;
	bool do_free;
	pthread_mutex_t lock;
	int calls;
	int reload_r;
};

static bool ask_fn(uint64_t sandbox_id, const char *host, uint16_t port, char *reason, size_t reason_size, void *data)
{
	struct asker *a = data;
	(void)sandbox_id;
	(void)host;
	(void)port;
	struct srt_error e;
	int r = srt_runtime_reload_json(a->rt, "{}", "from-ask", &e);
	srt_runtime_reset(a->rt);
	if (a->do_free)
		srt_runtime_free(a->rt);
	pthread_mutex_lock(&a->lock);
	a->calls++;
	a->reload_r = r;
	pthread_mutex_unlock(&a->lock);
	snprintf(reason, reason_size, "misuse");
	return false;
}

static void ask_cases(const struct tree *t)
{
	struct srt_runtime_options o = tree_options(t);
	struct srt_config cfg = { .size = sizeof(cfg) };
	struct srt_result *res = NULL;
	struct srt_error e;
	const char *cmd = CURL_VIA_PROXY "'http://undecided.test/'; sleep 30";

	for (int do_free = 0; do_free <= 1; do_free++) {
		srt_runtime *rt = runtime_new_or_bail(&cfg, &o);
		struct asker a = { .rt = rt, .do_free = do_free, .reload_r = 1 };
		pthread_mutex_init(&a.lock, NULL);
		srt_runtime_set_ask(rt, ask_fn, &a);
		/* Without free the command ends by itself after the answer. */
		char text[512];
		snprintf(text, sizeof(text), do_free ? cmd : CURL_VIA_PROXY "'http://undecided.test/'");
		int64_t t0 = now_ms();
		int r = srt_runtime_execute_shell(rt, text, NULL, &res, &e);
		int64_t took = now_ms() - t0;
		pthread_mutex_lock(&a.lock);
		int calls = a.calls, rr = a.reload_r;
		pthread_mutex_unlock(&a.lock);
		if (!do_free) {
			ok(r == 0 && res->out && strstr(res->out, "code=403") && calls == 1 && rr == -EDEADLK,
			   "reload from the ask callback: -EDEADLK, and reset there returns (%d, %d calls, reload %d)", r,
			   calls, rr);
			result_clear(&res);
			/* reset did nothing: the callback is still set. */
			r = srt_runtime_execute_shell(rt, text, NULL, &res, &e);
			pthread_mutex_lock(&a.lock);
			calls = a.calls;
			pthread_mutex_unlock(&a.lock);
			ok(r == 0 && calls == 2, "reset from the ask callback does nothing (%d calls)", calls);
			result_clear(&res);
			srt_runtime_free(rt);
			ok(rundirs() == 0, "freed from the program's thread");
		} else {
			ok(r == -ECANCELED && calls == 1 && took < 15000,
			   "free from the ask callback: no hang, execute returns -ECANCELED in %lld ms (%d: %s)",
			   (long long)took, r, e.message);
			result_clear(&res);
			bool gone = rundirs_gone(10000);
			ok(gone, "and the runtime freed itself once the callback returned (%d left)", rundirs());
		}
		pthread_mutex_destroy(&a.lock);
	}
}

/* ---- free while executions run ------------------------------------------------ */

struct runner {
	srt_runtime *rt;
	char cmd[128];
	pthread_t thread;
	int r;
	struct srt_error e;
	int64_t ended_ms;
};

static void *runner_main(void *arg)
{
	struct runner *x = arg;
	struct srt_result *res = NULL;
	x->r = srt_runtime_execute_shell(x->rt, x->cmd, NULL, &res, &x->e);
	x->ended_ms = now_ms();
	result_clear(&res);
	return NULL;
}

static void free_while_executing(const struct tree *t)
{
	struct srt_runtime_options o = tree_options(t);
	struct srt_config cfg = { .size = sizeof(cfg) };
	char token[64];
	snprintf(token, sizeof(token), "srt-misuse-%d-%lld", (int)getpid(), (long long)now_ms());
	srt_runtime *rt = runtime_new_or_bail(&cfg, &o);
	struct runner x[3];
	for (int i = 0; i < 3; i++) {
		memset(&x[i], 0, sizeof(x[i]));
		x[i].rt = rt;
		/* Two commands: the shell stays, with the token in its
		 * command line, while sleep runs. */
		snprintf(x[i].cmd, sizeof(x[i].cmd), "sleep 30; : %s", token);
		if (pthread_create(&x[i].thread, NULL, runner_main, &x[i]) != 0)
			die("pthread_create");
	}
	int64_t end = now_ms() + 20000;
	int seen;
	while ((seen = processes_with_token(token, NULL, 0)) < 3 && now_ms() < end)
		sleep_ms(50);
	ok(seen >= 3, "three sandboxes run (%d processes with the token)", seen);
	int64_t t0 = now_ms();
	srt_runtime_free(rt);
	int64_t freed = now_ms();
	ok(freed - t0 < 10000, "free with three executions running returns in %lld ms", (long long)(freed - t0));
	int cancelled = 0;
	int64_t last = 0;
	for (int i = 0; i < 3; i++) {
		pthread_join(x[i].thread, NULL);
		if (x[i].r == -ECANCELED && x[i].e.code == x[i].r)
			cancelled++;
		else
			diag("execute %d returned %d: %s", i, x[i].r, x[i].e.message);
		if (x[i].ended_ms > last)
			last = x[i].ended_ms;
	}
	ok(cancelled == 3, "each execute returned -ECANCELED (%d of 3)", cancelled);
	ok(last <= freed, "they returned before free did (%lld ms before)", (long long)(freed - last));
	end = now_ms() + 3000;
	int left;
	while ((left = processes_with_token(token, NULL, 0)) != 0 && now_ms() < end)
		sleep_ms(50);
	ok(left == 0, "no process of the sandboxes is left (%d)", left);
	ok(rundirs() == 0, "the runtime folder is gone");
}

int main(void)
{
	struct tree t;

	/* A hang is a failure, not a stuck test run. */
	alarm(240);
	plan(21);
	tree_make(&t);
	snprintf(xdg, sizeof(xdg), "%s/xdg", t.root);
	snprintf(xdg_srt, sizeof(xdg_srt), "%s/srt", xdg);
	if (mkdir(xdg, 0700) < 0)
		die("mkdir xdg");
	setenv("XDG_RUNTIME_DIR", xdg, 1);

	event_callback_cases(&t);
	ask_cases(&t);
	free_while_executing(&t);

	tree_remove(&t);
	return done_testing();
}
