/* The ask callback: called for connections no rule decides, with the
 * sandbox id, host and port; false with a reason -> the client sees 403
 * with the reason in the body; true -> allowed. Not called for
 * deniedDomains; answers are not remembered; removed with NULL. */
#include "common.h"

struct asker {
	pthread_mutex_t lock;
	int calls;
	bool allow;
	int delay_ms;
	uint64_t last_id;
	char last_host[256];
	uint16_t last_port;
};

static bool ask_fn(uint64_t sandbox_id, const char *host, uint16_t port, char *reason, size_t reason_size, void *data)
{
	struct asker *a = data;
	pthread_mutex_lock(&a->lock);
	a->calls++;
	a->last_id = sandbox_id;
	copy_str(a->last_host, sizeof(a->last_host), host);
	a->last_port = port;
	bool allow = a->allow;
	int delay = a->delay_ms;
	pthread_mutex_unlock(&a->lock);
	if (delay)
		sleep_ms(delay);
	if (!allow && reason && reason_size)
		snprintf(reason, reason_size, "refused-by-the-ask-callback");
	return allow;
}

static int asker_calls(struct asker *a)
{
	pthread_mutex_lock(&a->lock);
	int n = a->calls;
	pthread_mutex_unlock(&a->lock);
	return n;
}

static bool run(srt_runtime *rt, const char *url, struct srt_result **res)
{
	char cmd[1024];
	struct srt_error e;
	snprintf(cmd, sizeof(cmd), CURL_VIA_PROXY "'%s'", url);
	int r = srt_runtime_execute_shell(rt, cmd, NULL, res, &e);
	if (r < 0) {
		diag_err("srt_runtime_execute_shell", r, &e);
		return false;
	}
	return true;
}

static bool has(const struct srt_result *res, const char *s)
{
	return res->out && strstr(res->out, s);
}

int main(void)
{
	struct tree t;
	struct srt_result *res = NULL;
	srt_runtime *rt = NULL;
	char url[256];

	plan(17);
	tree_make(&t);
	struct http_server s;
	http_server_start(&s, "asked");
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/", s.port);
	struct srt_runtime_options o = tree_options(&t);
	const char *const dd[] = { "blocked.test", NULL };
	struct srt_config cfg = { .size = sizeof(cfg) };
	cfg.denied_domains = dd;
	rt = runtime_new_or_bail(&cfg, &o);
	struct asker a = { .allow = false };
	pthread_mutex_init(&a.lock, NULL);
	srt_runtime_set_ask(rt, ask_fn, &a);

	/* deny with a reason */
	bool ran = run(rt, url, &res);
	ok(ran && asker_calls(&a) == 1, "the callback is called once for an undecided host (%d calls)", asker_calls(&a));
	ok(ran && a.last_id == res->sandbox_id && strcmp(a.last_host, "127.0.0.1") == 0 && a.last_port == s.port,
	   "with the sandbox id, host and port (%llu \"%s\" %u; want %llu \"127.0.0.1\" %u)",
	   (unsigned long long)a.last_id, a.last_host, a.last_port, ran ? (unsigned long long)res->sandbox_id : 0ULL,
	   s.port);
	ok(ran && has(res, "code=403") && has(res, "refused-by-the-ask-callback"),
	   "false with a reason: 403 with the reason in the body");
	if (ran && !(has(res, "code=403") && has(res, "refused-by-the-ask-callback")))
		diag_result(res);
	ok(http_server_hits(&s) == 0, "the server was not reached");
	ok(ran && find_violation(rt, SRT_VIOLATION_NETWORK, res->sandbox_id, NULL, 2000, NULL) >= 0,
	   "the refusal is a network violation of that sandbox");
	if (ran)
		result_clear(&res);

	/* a name: asked as written, denied, never resolved */
	ran = run(rt, "http://undecided.test:8080/", &res);
	ok(ran && asker_calls(&a) == 2 && strcmp(a.last_host, "undecided.test") == 0 && a.last_port == 8080,
	   "a name is asked as written (\"%s\" %u)", a.last_host, a.last_port);
	ok(ran && has(res, "code=403"), "and refused");
	if (ran)
		result_clear(&res);

	/* allow, after a while: the connection waits for the answer */
	pthread_mutex_lock(&a.lock);
	a.allow = true;
	a.delay_ms = 700;
	pthread_mutex_unlock(&a.lock);
	ran = run(rt, url, &res);
	ok(ran && asker_calls(&a) == 3, "called again: answers are not remembered (%d calls)", asker_calls(&a));
	ok(ran && has(res, "asked\ncode=200"), "true (after 0.7 s): allowed, 200 from the server");
	if (ran && !has(res, "asked\ncode=200"))
		diag_result(res);
	ok(http_server_hits(&s) == 1, "the server was reached once (%d)", http_server_hits(&s));
	if (ran)
		result_clear(&res);

	/* denied again (not remembered) */
	pthread_mutex_lock(&a.lock);
	a.allow = false;
	a.delay_ms = 0;
	pthread_mutex_unlock(&a.lock);
	ran = run(rt, url, &res);
	ok(ran && asker_calls(&a) == 4 && has(res, "code=403"), "asked again and refused");
	if (ran)
		result_clear(&res);

	/* deniedDomains wins without asking */
	ran = run(rt, "http://blocked.test/", &res);
	ok(ran && asker_calls(&a) == 4, "not called for a deniedDomains name (%d calls)", asker_calls(&a));
	ok(ran && has(res, "code=403"), "which is refused");
	if (ran)
		result_clear(&res);

	/* removed: undecided is refused without asking */
	srt_runtime_set_ask(rt, NULL, NULL);
	ran = run(rt, url, &res);
	ok(ran && asker_calls(&a) == 4, "set_ask(NULL): not called any more (%d calls)", asker_calls(&a));
	ok(ran && has(res, "code=403") && !has(res, "refused-by-the-ask-callback"), "and the host is refused");
	if (ran)
		result_clear(&res);

	/* reset removes it too */
	srt_runtime_set_ask(rt, ask_fn, &a);
	srt_runtime_reset(rt);
	ran = run(rt, url, &res);
	ok(ran && asker_calls(&a) == 4 && has(res, "code=403"), "reset removes the ask callback (%d calls)",
	   asker_calls(&a));
	if (ran)
		result_clear(&res);
	ok(http_server_hits(&s) == 1, "the server was reached only when allowed (%d)", http_server_hits(&s));

	srt_runtime_free(rt);
	http_server_stop(&s);
	tree_remove(&t);
	return done_testing();
}
