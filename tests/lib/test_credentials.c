/* credentials through the library: settings JSON with credentials go through
 * the same parser and sandbox set-up as srt(1): a masked variable shows a
 * stand-in, a denied one is gone even when the caller's own environment
 * edits set it, errors name the key, and the program is non-dumpable once a
 * sandbox held a secret. */
#include "common.h"

#include <sys/prctl.h>

#define SECRET "lib-secret-0123456789abcdefghijklmnopqrstuvwxyz"

int main(void)
{
	struct tree t;
	struct srt_error e;
	struct srt_result *res = NULL;
	srt_runtime *rt = NULL;
	int r;

	plan(8);
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
	tree_remove(&t);
	return done_testing();
}
