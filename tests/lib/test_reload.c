/* Reloading settings: network lists apply from the next connection, also in
 * a sandbox that is already running; file-system rules apply to sandboxes
 * started later; a bad reload keeps the old settings; CONFIG_RELOADED. */
#include "common.h"

struct job {
	srt_runtime *rt;
	char cmd[2048];
	int r;
	struct srt_result *res;
	struct srt_error err;
};

static void *run_job(void *arg)
{
	struct job *j = arg;
	j->r = srt_runtime_execute_shell(j->rt, j->cmd, NULL, &j->res, &j->err);
	return NULL;
}

/* Run a fetch of the server in a new sandbox; returns the HTTP code seen. */
static int fetch(srt_runtime *rt, uint16_t port)
{
	char cmd[1024];
	struct srt_result *res;
	struct srt_error e;
	snprintf(cmd, sizeof(cmd), CURL_VIA_PROXY "http://127.0.0.1:%u/", port);
	int r = srt_runtime_execute_shell(rt, cmd, NULL, &res, &e);
	if (r < 0) {
		diag_err("srt_runtime_execute_shell", r, &e);
		return -1;
	}
	int code = -1;
	const char *c = res->out ? strstr(res->out, "code=") : NULL;
	if (c)
		code = atoi(c + 5);
	if (code != 200 && code != 403)
		diag_result(res);
	result_clear(&res);
	return code;
}

int main(void)
{
	struct tree t;
	struct srt_error e;
	srt_runtime *rt = NULL;
	int r;
	char json[1024], path[600];

	plan(21);
	tree_make(&t);
	struct http_server s;
	http_server_start(&s, "reloaded");
	struct srt_runtime_options o = tree_options(&t);
	memset(&e, 0, sizeof(e));
	r = srt_runtime_new_from_json("{\"filesystem\":{\"allowWrite\":[\".\"]},\"network\":{\"allowedDomains\":[]}}",
				      NULL, &o, &rt, &e);
	if (r < 0) {
		diag_err("srt_runtime_new_from_json", r, &e);
		printf("Bail out! no runtime\n");
		return 1;
	}
	struct recorder rec;
	recorder_init(&rec);
	srt_runtime_subscribe(rt, recorder_fn, &rec, NULL);

	/* A sandbox that fetches, waits for ./go, and fetches again. */
	struct job j = { .rt = rt };
	snprintf(j.cmd, sizeof(j.cmd),
		 CURL_VIA_PROXY "http://127.0.0.1:%u/; "
		 "i=0; while [ ! -e go ] && [ $i -lt 400 ]; do sleep 0.05; i=$((i+1)); done; "
		 CURL_VIA_PROXY "http://127.0.0.1:%u/",
		 s.port, s.port);
	pthread_t th;
	pthread_create(&th, NULL, run_job, &j);
	size_t n = recorder_wait(&rec, SRT_EVENT_CONNECTION, 0, 1, 15000);
	ok(n >= 1, "the running sandbox's first connection was decided");
	snprintf(json, sizeof(json), "{\"filesystem\":{\"allowWrite\":[\".\"]},\"network\":{\"allowedDomains\":[\"127.0.0.1:%u\"]}}",
		 s.port);
	memset(&e, 0, sizeof(e));
	r = srt_runtime_reload_json(rt, json, NULL, &e);
	if (!ok(r == 0, "reload_json adding 127.0.0.1:%u", s.port))
		diag_err("srt_runtime_reload_json", r, &e);
	ok(recorder_wait(&rec, SRT_EVENT_CONFIG_RELOADED, 0, 1, 3000) == 1, "a CONFIG_RELOADED event");
	pthread_mutex_lock(&rec.lock);
	const char *rj = NULL;
	for (size_t i = 0; i < rec.n; i++)
		if (rec.ev[i].type == SRT_EVENT_CONFIG_RELOADED)
			rj = rec.ev[i].json;
	ok(rj && strstr(rj, "\"event\":\"config.reloaded\"") && strstr(rj, "\"source\":\"<json>\""),
	   "its JSON names the reload's source: %s", rj ? rj : "(none)");
	pthread_mutex_unlock(&rec.lock);
	snprintf(path, sizeof(path), "%s/go", t.proj);
	write_file(path, "");
	pthread_join(th, NULL);
	if (ok(j.r == 0, "the running sandbox ended")) {
		const char *first = j.res->out ? strstr(j.res->out, "code=") : NULL;
		const char *second = first ? strstr(first + 1, "code=") : NULL;
		ok(first && strncmp(first, "code=403", 8) == 0, "before the reload: 403");
		ok(second && strncmp(second, "code=200", 8) == 0 && strstr(j.res->out, "reloaded"),
		   "after the reload, in the same sandbox: 200");
		if (!(second && strncmp(second, "code=200", 8) == 0))
			diag_result(j.res);
		result_clear(&j.res);
	} else {
		diag_err("srt_runtime_execute_shell", j.r, &j.err);
		skip(2, "no sandbox");
	}
	ok(fetch(rt, s.port) == 200, "a new sandbox after the reload: 200");

	/* A bad reload keeps the old settings. */
	memset(&e, 0, sizeof(e));
	size_t reloads = recorder_count(&rec, SRT_EVENT_CONFIG_RELOADED, 0);
	r = srt_runtime_reload_json(rt, "{\"network\":{\"allowedDomains\":[\"http://bad/\"]}}", "reload-text", &e);
	ok(r < 0 && e.code == r && strstr(e.message, "reload-text"), "a bad reload fails and names its source (%d): \"%s\"",
	   r, e.message);
	ok(fetch(rt, s.port) == 200, "after a bad reload the old settings stay: 200");
	sleep_ms(100);
	ok(recorder_count(&rec, SRT_EVENT_CONFIG_RELOADED, 0) == reloads, "no CONFIG_RELOADED for a failed reload");

	/* reload_config: no domain -> denied again. */
	const char *const aw[] = { ".", NULL };
	struct srt_config cfg = { .size = sizeof(cfg) };
	cfg.allow_write = aw;
	memset(&e, 0, sizeof(e));
	r = srt_runtime_reload_config(rt, &cfg, &e);
	if (!ok(r == 0, "reload_config without domains"))
		diag_err("srt_runtime_reload_config", r, &e);
	ok(fetch(rt, s.port) == 403, "then: 403");

	/* reload_file, with a file-system change too: ro becomes writable. */
	snprintf(path, sizeof(path), "%s/settings.json", t.root);
	snprintf(json, sizeof(json),
		 "{\"filesystem\":{\"allowWrite\":[\".\", \"%s\"]},\n \"network\":{\"allowedDomains\":[\"127.0.0.1:%u\"]}}\n",
		 t.ro, s.port);
	write_file(path, json);
	memset(&e, 0, sizeof(e));
	r = srt_runtime_reload_file(rt, path, &e);
	if (!ok(r == 0, "reload_file"))
		diag_err("srt_runtime_reload_file", r, &e);
	ok(fetch(rt, s.port) == 200, "then: 200");
	char cmd[1024];
	snprintf(cmd, sizeof(cmd), "echo new > '%s/now-writable'", t.ro);
	struct srt_result *res;
	r = srt_runtime_execute_shell(rt, cmd, NULL, &res, &e);
	snprintf(path, sizeof(path), "%s/now-writable", t.ro);
	ok(r == 0 && res->status == 0 && access(path, F_OK) == 0, "a new allowWrite applies to the next sandbox");
	if (r == 0 && res->status != 0)
		diag_result(res);
	if (r == 0)
		result_clear(&res);

	/* a bad file: file:line */
	snprintf(path, sizeof(path), "%s/bad.json", t.root);
	write_file(path, "{\n\"network\": {\n\"allowedDomains\": 7}}\n");
	memset(&e, 0, sizeof(e));
	r = srt_runtime_reload_file(rt, path, &e);
	char want[700];
	snprintf(want, sizeof(want), "%s:3", path);
	ok(r < 0 && strstr(e.message, want), "a bad reload_file names %s (%d): \"%s\"", want, r, e.message);
	ok(fetch(rt, s.port) == 200, "and the settings stay");

	/* A host loopback service (127.0.0.1:PORT reached directly inside):
	 * a reload that drops its entry refuses the running sandbox's next
	 * connection to it; one that brings it back allows it again. */
	snprintf(path, sizeof(path), "%s/go2", t.proj);
	unlink(path);
	struct job j2 = { .rt = rt };
	snprintf(j2.cmd, sizeof(j2.cmd),
		 "f() { curl -sS --max-time 10 --noproxy '*' -o /dev/null -w 'code=%%{http_code}\\n' "
		 "http://127.0.0.1:%u/; }; f; i=0; while [ ! -e go2 ] && [ $i -lt 400 ]; do sleep 0.05; i=$((i+1)); done; "
		 "f; rm go2; i=0; while [ ! -e go2 ] && [ $i -lt 400 ]; do sleep 0.05; i=$((i+1)); done; f",
		 s.port);
	size_t conns = recorder_count(&rec, SRT_EVENT_CONNECTION, 0);
	pthread_create(&th, NULL, run_job, &j2);
	recorder_wait(&rec, SRT_EVENT_CONNECTION, 0, conns + 1, 15000);
	snprintf(json, sizeof(json), "{\"filesystem\":{\"allowWrite\":[\".\"]},\"network\":{\"allowedDomains\":[]}}");
	r = srt_runtime_reload_json(rt, json, "drop", &e);
	ok(r == 0, "reload dropping the host service's entry (%d %s)", r, e.message);
	write_file(path, "");
	for (int w = 0; w < 400 && access(path, F_OK) == 0; w++)
		sleep_ms(25);
	snprintf(json, sizeof(json), "{\"filesystem\":{\"allowWrite\":[\".\"]},\"network\":{\"allowedDomains\":[\"127.0.0.1:%u\"]}}",
		 s.port);
	r = srt_runtime_reload_json(rt, json, "back", &e);
	ok(r == 0, "reload bringing it back (%d %s)", r, e.message);
	write_file(path, "");
	pthread_join(th, NULL);
	if (j2.r == 0 && j2.res->out) {
		const char *c1 = strstr(j2.res->out, "code=");
		const char *c2 = c1 ? strstr(c1 + 1, "code=") : NULL;
		const char *c3 = c2 ? strstr(c2 + 1, "code=") : NULL;
		ok(c1 && c2 && c3 && strncmp(c1, "code=200", 8) == 0 && strncmp(c2, "code=000", 8) == 0 &&
			   strncmp(c3, "code=200", 8) == 0,
		   "the running sandbox's connections to the host service: 200, refused, 200");
		if (!(c2 && strncmp(c2, "code=000", 8) == 0))
			diag_result(j2.res);
		result_clear(&j2.res);
	} else {
		diag_err("srt_runtime_execute_shell", j2.r, &j2.err);
		skip(1, "no sandbox");
	}

	srt_runtime_free(rt);
	recorder_free(&rec);
	http_server_stop(&s);
	tree_remove(&t);
	return done_testing();
}
