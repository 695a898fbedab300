/* srt_runtime_execute and srt_runtime_execute_shell: status, captured
 * output, and the violations a command causes (a write outside allowWrite,
 * a connection to a name in deniedDomains through the proxy). */
#include "common.h"

int main(void)
{
	struct tree t;
	struct srt_error e;
	struct srt_result *res = NULL;
	srt_runtime *rt = NULL;
	int r;
	char cmd[2048], path[600];

	plan(32);
	tree_make(&t);
	struct srt_runtime_options o = tree_options(&t);
	const char *const aw[] = { ".", NULL };
	const char *const dd[] = { "blocked.test", NULL };
	struct srt_config cfg = { .size = sizeof(cfg) };
	cfg.allow_write = aw;
	cfg.denied_domains = dd;
	rt = runtime_new_or_bail(&cfg, &o);
	struct recorder rec;
	recorder_init(&rec);
	uint64_t token = 0;
	r = srt_runtime_subscribe(rt, recorder_fn, &rec, &token);
	ok(r == 0 && token != 0, "subscribe returns 0 and a token (%d, %llu)", r, (unsigned long long)token);

	/* echo hi */
	memset(&e, 0, sizeof(e));
	r = srt_runtime_execute_shell(rt, "echo hi", NULL, &res, &e);
	if (!ok(r == 0, "execute_shell(\"echo hi\") returns 0"))
		diag_err("srt_runtime_execute_shell", r, &e);
	ok(r == 0 && res->status == 0 && res->out && res->out_len == 3 && memcmp(res->out, "hi\n", 3) == 0,
	   "status 0, stdout \"hi\\n\"");
	if (r == 0 && !(res->status == 0 && res->out_len == 3))
		diag_result(res);
	ok(r == 0 && res->sandbox_id != 0 && res->err && res->err_len == 0, "a sandbox id, empty stderr (NUL-terminated)");
	uint64_t first_id = res->sandbox_id;
	if (r == 0)
		result_clear(&res);

	/* exit 3 */
	r = srt_runtime_execute_shell(rt, "exit 3", NULL, &res, &e);
	ok(r == 0 && res->status == 3, "exit 3 -> status 3 (r %d, status %d)", r, r == 0 ? res->status : -1);
	ok(r == 0 && res->sandbox_id != first_id && res->sandbox_id != 0, "each sandbox has its own id (%llu, %llu)",
	   (unsigned long long)first_id, (unsigned long long)res->sandbox_id);
	if (r == 0)
		result_clear(&res);

	/* stderr */
	r = srt_runtime_execute_shell(rt, "echo out; echo err >&2; echo more-err >&2", NULL, &res, &e);
	ok(r == 0 && res->status == 0 && res->out_len == 4 && strcmp(res->out, "out\n") == 0 && res->err_len == 13 &&
	   strcmp(res->err, "err\nmore-err\n") == 0, "stdout and stderr captured apart");
	if (r == 0 && !(res->out_len == 4 && res->err_len == 13))
		diag_result(res);
	if (r == 0)
		result_clear(&res);

	/* binary-safe output */
	r = srt_runtime_execute_shell(rt, "printf 'a\\0b'", NULL, &res, &e);
	ok(r == 0 && res->out_len == 3 && memcmp(res->out, "a\0b", 3) == 0, "binary stdout kept (out_len %zu)",
	   r == 0 ? res->out_len : 0);
	if (r == 0)
		result_clear(&res);

	/* signals: 128 + N */
	r = srt_runtime_execute_shell(rt, "kill -TERM $$", NULL, &res, &e);
	ok(r == 0 && res->status == 143, "killed by SIGTERM -> 143 (got %d)", r == 0 ? res->status : -1);
	if (r == 0)
		result_clear(&res);

	/* argv, no shell; 127 for a missing command */
	const char *const argv1[] = { "/bin/echo", "a b", "$HOME", NULL };
	r = srt_runtime_execute(rt, argv1, NULL, &res, &e);
	ok(r == 0 && res->status == 0 && res->out && strcmp(res->out, "a b $HOME\n") == 0,
	   "execute(argv) passes arguments untouched (out \"%s\")", r == 0 && res->out ? res->out : "");
	if (r == 0)
		result_clear(&res);
	const char *const argv2[] = { "/nonexistent/srt-lib-no-such-command", NULL };
	r = srt_runtime_execute(rt, argv2, NULL, &res, &e);
	ok(r == 0 && res->status == 127, "a missing command -> status 127 (r %d, status %d)", r, r == 0 ? res->status : -1);
	if (r == 0)
		result_clear(&res);

	/* stdin is /dev/null */
	r = srt_runtime_execute_shell(rt, "cat; echo end", NULL, &res, &e);
	ok(r == 0 && res->status == 0 && res->out && strcmp(res->out, "end\n") == 0, "stdin is /dev/null");
	if (r == 0)
		result_clear(&res);

	/* cwd: the runtime's by default, the sandbox's when given */
	r = srt_runtime_execute_shell(rt, "pwd", NULL, &res, &e);
	snprintf(path, sizeof(path), "%s\n", t.proj);
	ok(r == 0 && res->out && strcmp(res->out, path) == 0, "default folder is the runtime's cwd (\"%s\")",
	   r == 0 && res->out ? res->out : "");
	if (r == 0)
		result_clear(&res);
	struct srt_sandbox_options so = { .size = sizeof(so) };
	so.cwd = t.ro;
	struct srt_execute_options xo = { .size = sizeof(xo), .sandbox = &so };
	r = srt_runtime_execute_shell(rt, "pwd", &xo, &res, &e);
	snprintf(path, sizeof(path), "%s\n", t.ro);
	ok(r == 0 && res->out && strcmp(res->out, path) == 0, "srt_sandbox_options.cwd is the command's folder (\"%s\")",
	   r == 0 && res->out ? res->out : "");
	if (r == 0)
		result_clear(&res);

	/* a write inside allowWrite works and is no violation */
	srt_runtime_clear_violations(rt);
	r = srt_runtime_execute_shell(rt, "echo data > written.txt", NULL, &res, &e);
	snprintf(path, sizeof(path), "%s/written.txt", t.proj);
	ok(r == 0 && res->status == 0 && access(path, F_OK) == 0, "a write inside allowWrite lands on the host");
	if (r == 0)
		result_clear(&res);
	ok(srt_runtime_violation_count(rt) == 0, "an allowed write is no violation (count %zu)",
	   srt_runtime_violation_count(rt));

	/* a write outside allowWrite fails inside and is a violation */
	char denied[600];
	snprintf(denied, sizeof(denied), "%s/denied.txt", t.ro);
	snprintf(cmd, sizeof(cmd), "echo data > '%s'", denied);
	r = srt_runtime_execute_shell(rt, cmd, NULL, &res, &e);
	bool ran = r == 0;
	ok(ran && res->status != 0 && access(denied, F_OK) != 0, "a write outside allowWrite fails (status %d)",
	   ran ? res->status : -1);
	ok(ran && res->err && (strstr(res->err, "Read-only file system") || strstr(res->err, "Permission denied")),
	   "the command sees EROFS or EACCES (stderr \"%s\")", ran && res->err ? res->err : "");
	struct found_violation fv;
	int ms = find_violation(rt, SRT_VIOLATION_FILESYSTEM, 0, denied, 3000, &fv);
	if (ok(ms >= 0, "a filesystem violation for %s is stored", denied)) {
		if (ms > 0)
			diag("it appeared %d ms after execute returned", ms);
		ok(strcmp(fv.operation, "write") == 0 || strcmp(fv.operation, "create") == 0,
		   "operation \"write\" or \"create\" (got \"%s\")", fv.operation);
		ok(ran && fv.sandbox_id == res->sandbox_id, "its sandbox id is the result's (%llu vs %llu)",
		   (unsigned long long)fv.sandbox_id, (unsigned long long)res->sandbox_id);
		ok(fv.source == SRT_SOURCE_OBSERVER, "source is the observer (got %d)", (int)fv.source);
		ok(fv.rule[0] != '\0' && fv.command[0] != '\0' && fv.pid > 0 && fv.seq > 0 && fv.time_ns > 0,
		   "rule, command, pid, seq and time are filled (rule \"%s\", command \"%s\", pid %d, seq %llu)",
		   fv.rule, fv.command, fv.pid, (unsigned long long)fv.seq);
	} else {
		dump_violations(rt);
		skip(4, "no violation");
	}
	size_t n = recorder_wait(&rec, SRT_EVENT_VIOLATION, ran ? res->sandbox_id : 0, 1, 3000);
	ok(n >= 1, "a VIOLATION event for it was delivered (%zu)", n);
	if (ran)
		result_clear(&res);

	/* a connection through the proxy to a name in deniedDomains */
	srt_runtime_clear_violations(rt);
	snprintf(cmd, sizeof(cmd), CURL_VIA_PROXY "http://blocked.test/");
	r = srt_runtime_execute_shell(rt, cmd, NULL, &res, &e);
	ran = r == 0;
	ok(ran && res->out && strstr(res->out, "code=403"), "the proxy answers 403 for a denied name");
	if (ran && !(res->out && strstr(res->out, "code=403")))
		diag_result(res);
	ms = find_violation(rt, SRT_VIOLATION_NETWORK, 0, "blocked.test:80", 3000, &fv);
	if (ok(ms >= 0, "a network violation for blocked.test:80 is stored")) {
		if (ms > 0)
			diag("it appeared %d ms after execute returned", ms);
		ok(strstr(fv.rule, "deniedDomains") != NULL, "its rule mentions deniedDomains (\"%s\")", fv.rule);
		ok(ran && fv.sandbox_id == res->sandbox_id, "its sandbox id is the result's (%llu vs %llu)",
		   (unsigned long long)fv.sandbox_id, (unsigned long long)res->sandbox_id);
		ok(fv.source == SRT_SOURCE_PROXY, "source is the proxy (got %d)", (int)fv.source);
		ok(fv.operation[0] != '\0', "operation filled (\"%s\")", fv.operation);
	} else {
		dump_violations(rt);
		skip(4, "no violation");
	}
	struct rec_event ce;
	bool got = recorder_wait(&rec, SRT_EVENT_CONNECTION, ran ? res->sandbox_id : 0, 1, 3000) >= 1 &&
		   recorder_find_conn(&rec, ran ? res->sandbox_id : 0, 80, 0, &ce);
	ok(got && strcmp(ce.host, "blocked.test") == 0 && strstr(ce.rule, "deniedDomains"),
	   "a refused CONNECTION event for blocked.test:80 (host \"%s\", rule \"%s\")", got ? ce.host : "",
	   got ? ce.rule : "");
	if (!got)
		recorder_dump(&rec);
	if (ran)
		result_clear(&res);

	r = srt_runtime_unsubscribe(rt, token);
	ok(r == 0, "unsubscribe returns 0 (%d)", r);
	srt_runtime_free(rt);
	recorder_free(&rec);
	tree_remove(&t);
	return done_testing();
}
