/* credentials through the library: settings JSON with credentials go through
 * the same parser and sandbox set-up as srt(1): a masked variable shows a
 * stand-in, a denied one is gone even when the caller's own environment
 * edits set it, errors name the key, and the program is non-dumpable once a
 * sandbox held a secret. */
#include "common.h"

#include <sys/prctl.h>

#define SECRET "lib-secret-0123456789abcdefghijklmnopqrstuvwxyz"

struct run {
	srt_runtime *rt;
	const char *script;
	int r;
	struct srt_result *res;
};

static void *run_thread(void *arg)
{
	struct run *x = arg;
	struct srt_error e;
	memset(&e, 0, sizeof(e));
	x->r = srt_runtime_execute_shell(x->rt, x->script, NULL, &x->res, &e);
	if (x->r < 0)
		diag_err("srt_runtime_execute_shell", x->r, &e);
	return NULL;
}

static size_t credential_violations(srt_runtime *rt)
{
	struct srt_violation_list *l = NULL;
	size_t n = 0;
	if (srt_runtime_violations(rt, SRT_VIOLATION_NETWORK, &l) == 0) {
		for (size_t i = 0; i < l->n; i++)
			n += strcmp(srt_violation_at(l, i)->operation, "credential") == 0;
		srt_violation_list_free(l);
	}
	return n;
}

int main(void)
{
	struct tree t;
	struct srt_error e;
	struct srt_result *res = NULL;
	srt_runtime *rt = NULL;
	int r;

	plan(12);
	tree_make(&t);
	struct srt_runtime_options o = tree_options(&t);
	setenv("SRT_LIB_CRED_MASKED", SECRET, 1);
	setenv("SRT_LIB_CRED_DENIED", SECRET, 1);

	/* an error names the key */
	memset(&e, 0, sizeof(e));
	r = srt_runtime_new_from_json("{\"credentials\": {\"envVars\": [{\"name\": \"X\", \"mode\": \"hide\"}]}}",
				      "creds.json", &o, &rt, &e);
	ok(r < 0 && strstr(e.message, "credentials.envVars[0].mode"), "a bad mode is refused, naming the key: \"%s\"",
	   e.message);

	memset(&e, 0, sizeof(e));
	r = srt_runtime_new_from_json("{\"credentials\": {\"allowPlaintextInject\": true, \"envVars\": ["
				      "{\"name\": \"SRT_LIB_CRED_MASKED\", \"mode\": \"mask\"},"
				      "{\"name\": \"SRT_LIB_CRED_DENIED\", \"mode\": \"deny\"}]}}",
				      "creds.json", &o, &rt, &e);
	if (!ok(r == 0 && rt, "a runtime with credentials"))
		diag_err("srt_runtime_new_from_json", r, &e);
	ok(prctl(PR_GET_DUMPABLE) == 1, "dumpable before any sandbox held a secret");

	const char *const edits[] = { "SRT_LIB_CRED_DENIED=" SECRET, NULL };
	struct srt_execute_options xo = { .size = sizeof(xo), .env = edits };
	r = rt ? srt_runtime_execute_shell(rt, "echo \"m=$SRT_LIB_CRED_MASKED\"; echo \"d=${SRT_LIB_CRED_DENIED-unset}\"; "
					   "cat /proc/self/environ /proc/1/environ 2>/dev/null | tr '\\0' '\\n' | "
					   "grep -c " SECRET, &xo, &res, &e) : -1;
	if (!ok(r == 0, "execute ran"))
		diag_err("srt_runtime_execute_shell", r, &e);
	ok(r == 0 && res->out && strstr(res->out, "m=srtmask_"), "the masked variable shows a stand-in (out \"%s\")",
	   r == 0 && res->out ? res->out : "");
	ok(r == 0 && res->out && strstr(res->out, "d=unset"), "the denied variable is gone despite the caller's edit");
	ok(r == 0 && res->out && !strstr(res->out, SECRET) && strstr(res->out, "\n0\n"),
	   "the secret is nowhere in the sandbox's environments");
	if (r == 0)
		result_clear(&res);
	ok(prctl(PR_GET_DUMPABLE) == 0, "non-dumpable once a sandbox held a secret");
	srt_runtime_free(rt);

	/* A reload changes where a running sandbox's credential is injected. */
	struct http_server hs;
	http_server_start(&hs, "hello");
	char json[1024], script[1024], go[600];
	const char *fmt = "{\"network\": {\"allowedDomains\": [\"127.0.0.1:%u\"]}, \"credentials\": {"
			  "\"allowPlaintextInject\": true, \"envVars\": [{\"name\": \"SRT_LIB_CRED_MASKED\", "
			  "\"mode\": \"mask\", \"injectHosts\": [\"%s\"]}]}}";
	snprintf(json, sizeof(json), fmt, hs.port, "127.0.0.1");
	rt = NULL;
	memset(&e, 0, sizeof(e));
	r = srt_runtime_new_from_json(json, "creds.json", &o, &rt, &e);
	if (!ok(r == 0 && rt, "a runtime injecting at 127.0.0.1"))
		diag_err("srt_runtime_new_from_json", r, &e);
	snprintf(go, sizeof(go), "%s/go", t.proj);
	snprintf(script, sizeof(script),
		 CURL_VIA_PROXY "-H \"X-T: $SRT_LIB_CRED_MASKED\" http://127.0.0.1:%u/ ; "
		 "while [ ! -e go ]; do sleep 0.05; done; "
		 CURL_VIA_PROXY "-H \"X-T: $SRT_LIB_CRED_MASKED\" http://127.0.0.1:%u/",
		 hs.port, hs.port);
	struct run x = { .rt = rt, .script = script };
	pthread_t th;
	if (rt && pthread_create(&th, NULL, run_thread, &x) == 0) {
		for (int i = 0; i < 400 && http_server_hits(&hs) < 1; i++)
			sleep_ms(50);
		ok(http_server_hits(&hs) == 1 && credential_violations(rt) == 0,
		   "first request: injected, no credential violation (hits %d)", http_server_hits(&hs));
		snprintf(json, sizeof(json), fmt, hs.port, "elsewhere.example");
		r = srt_runtime_reload_json(rt, json, "creds2.json", &e);
		if (!ok(r == 0, "reloaded with other injectHosts"))
			diag_err("srt_runtime_reload_json", r, &e);
		write_file(go, "");
		pthread_join(th, NULL);
		ok(x.r == 0 && http_server_hits(&hs) == 2 && credential_violations(rt) == 1,
		   "second request after the reload: not injected, one credential violation (hits %d, violations %zu)",
		   http_server_hits(&hs), credential_violations(rt));
		if (x.r == 0)
			result_clear(&x.res);
	} else {
		skip(3, "no runtime or thread");
	}
	srt_runtime_free(rt);
	http_server_stop(&hs);
	tree_remove(&t);
	return done_testing();
}
