/* Creating runtimes: from a file, from JSON text, from a struct; errors that
 * name where the problem is; srt_version, srt_platform_info and
 * srt_sandboxing_enabled. */
#include "common.h"

int main(void)
{
	struct tree t;
	struct srt_error e;
	srt_runtime *rt;
	int r;
	char path[512];

	plan(30);
	tree_make(&t);
	struct srt_runtime_options o = tree_options(&t);

	/* version and platform */
	const char *v = srt_version();
	ok(v && strcmp(v, "0.1.0") == 0, "srt_version is \"0.1.0\" (got \"%s\")", v ? v : "(null)");

	struct srt_platform_info pi;
	memset(&pi, 0x55, sizeof(pi));
	pi.size = sizeof(pi);
	r = srt_platform_info(&pi);
	ok(r == 0, "srt_platform_info returns 0 (got %d)", r);
	ok(strcmp(pi.platform, "linux") == 0 && pi.supported,
	   "platform \"linux\", supported (platform \"%.16s\", supported %d, missing \"%.512s\")", pi.platform,
	   pi.supported, pi.missing);
	ok(pi.kernel[0] && strncmp(pi.bwrap, "bubblewrap", 10) == 0 && pi.libseccomp[0] && pi.libuv[0] &&
	   pi.jansson[0] && pi.missing[0] == '\0',
	   "platform info filled (kernel \"%.64s\", bwrap \"%.128s\", libseccomp \"%.32s\", libuv \"%.32s\", "
	   "jansson \"%.32s\")", pi.kernel, pi.bwrap, pi.libseccomp, pi.libuv, pi.jansson);
	r = srt_platform_info(NULL);
	ok(r < 0, "srt_platform_info(NULL) is negative (got %d)", r);

	/* from a file */
	snprintf(path, sizeof(path), "%s/settings.json", t.root);
	write_file(path, "{\n  \"filesystem\": {\"allowWrite\": [\".\"], \"denyRead\": [\"~/.ssh\"]},\n"
			 "  \"network\": {\"allowedDomains\": [\"example.com\"]}\n}\n");
	rt = NULL;
	memset(&e, 0, sizeof(e));
	r = srt_runtime_new_from_file(path, &o, &rt, &e);
	if (!ok(r == 0 && rt, "new_from_file with valid settings"))
		diag_err("srt_runtime_new_from_file", r, &e);
	ok(rt && srt_sandboxing_enabled(rt), "sandboxing enabled for a file runtime");
	srt_runtime_free(rt);

	/* bad file: unknown key on line 3 */
	snprintf(path, sizeof(path), "%s/bad.json", t.root);
	write_file(path, "{\n  \"filesystem\": {\n    \"allowwrite\": [\".\"]\n  }\n}\n");
	rt = NULL;
	memset(&e, 0, sizeof(e));
	r = srt_runtime_new_from_file(path, &o, &rt, &e);
	char want[600];
	snprintf(want, sizeof(want), "%s:3", path);
	ok(r < 0 && e.code == r, "new_from_file with an unknown key: negative code, err.code the same (%d, %d)", r,
	   e.code);
	if (!ok(strstr(e.message, want) && strstr(e.message, "allowwrite"),
		"the message names file:line and the key (want \"%s\"): \"%s\"", want, e.message))
		diag_err("srt_runtime_new_from_file", r, &e);

	/* a JSON syntax error in a file: file:line:column */
	snprintf(path, sizeof(path), "%s/syntax.json", t.root);
	write_file(path, "{\n  \"network\": {\"allowedDomains\": [\"a.com\",]}\n}\n");
	memset(&e, 0, sizeof(e));
	rt = NULL;
	r = srt_runtime_new_from_file(path, &o, &rt, &e);
	snprintf(want, sizeof(want), "%s:2:", path);
	ok(r < 0 && !rt && strstr(e.message, want), "JSON syntax error in a file names %s<col> (%d): \"%s\"", want, r,
	   e.message);

	/* a file that does not exist */
	snprintf(path, sizeof(path), "%s/missing.json", t.root);
	memset(&e, 0, sizeof(e));
	rt = NULL;
	r = srt_runtime_new_from_file(path, &o, &rt, &e);
	ok(r == -ENOENT && !rt && strstr(e.message, path), "missing file: -ENOENT and the path (%d): \"%s\"", r,
	   e.message);

	/* from JSON */
	memset(&e, 0, sizeof(e));
	rt = NULL;
	r = srt_runtime_new_from_json("{\"filesystem\":{\"allowWrite\":[\".\"]}}", NULL, &o, &rt, &e);
	if (!ok(r == 0 && rt, "new_from_json with valid settings"))
		diag_err("srt_runtime_new_from_json", r, &e);
	srt_runtime_free(rt);

	memset(&e, 0, sizeof(e));
	rt = NULL;
	r = srt_runtime_new_from_json("{\"filesystem\":{\"allowWrite\":5}}", NULL, &o, &rt, &e);
	ok(r < 0 && !rt && e.code == r && strstr(e.message, "<json>") && strstr(e.message, "allowWrite"),
	   "bad JSON settings without a name: message names \"<json>\" and the key (%d): \"%s\"", r, e.message);

	memset(&e, 0, sizeof(e));
	rt = NULL;
	r = srt_runtime_new_from_json("{\n\"network\": {\"allowedDomains\": [\"http://x.com/\"]}}", "inline-settings", &o,
				      &rt, &e);
	ok(r < 0 && !rt && strstr(e.message, "inline-settings:2"),
	   "bad JSON settings with a name: message names \"inline-settings:2\" (%d): \"%s\"", r, e.message);

	memset(&e, 0, sizeof(e));
	rt = NULL;
	r = srt_runtime_new_from_json("{\"network\": ", NULL, &o, &rt, &e);
	ok(r < 0 && !rt && strstr(e.message, "<json>:1:"), "truncated JSON: \"<json>:1:<col>\" (%d): \"%s\"", r,
	   e.message);

	/* opts may be NULL */
	memset(&e, 0, sizeof(e));
	rt = NULL;
	r = srt_runtime_new_from_json("{}", NULL, NULL, &rt, &e);
	if (!ok(r == 0 && rt, "new_from_json(\"{}\") with opts NULL"))
		diag_err("srt_runtime_new_from_json", r, &e);
	srt_runtime_free(rt);

	/* err may be NULL */
	rt = NULL;
	r = srt_runtime_new_from_json("[]", NULL, NULL, &rt, NULL);
	ok(r < 0 && !rt, "bad settings with err NULL: negative code, no runtime (%d)", r);

	/* from a struct */
	const char *const aw[] = { ".", NULL };
	const char *const dr[] = { "~/.ssh", NULL };
	const char *const ad[] = { "example.com", "*.example.org", "localhost:5432", NULL };
	const char *const dd[] = { "blocked.test", NULL };
	struct srt_config cfg = { .size = sizeof(cfg) };
	cfg.allow_write = aw;
	cfg.deny_read = dr;
	cfg.allowed_domains = ad;
	cfg.denied_domains = dd;
	memset(&e, 0, sizeof(e));
	rt = NULL;
	r = srt_runtime_new_from_config(&cfg, &o, &rt, &e);
	if (!ok(r == 0 && rt, "new_from_config with valid settings"))
		diag_err("srt_runtime_new_from_config", r, &e);
	ok(rt && srt_sandboxing_enabled(rt), "sandboxing enabled for a struct runtime");
	srt_runtime_free(rt);

	struct srt_config empty = { .size = sizeof(empty) };
	memset(&e, 0, sizeof(e));
	rt = NULL;
	r = srt_runtime_new_from_config(&empty, NULL, &rt, &e);
	if (!ok(r == 0 && rt, "new_from_config with a zeroed struct"))
		diag_err("srt_runtime_new_from_config", r, &e);
	srt_runtime_free(rt);

	const char *const bad_aw[] = { ".", "", NULL };
	struct srt_config bad = { .size = sizeof(bad) };
	bad.allow_write = bad_aw;
	memset(&e, 0, sizeof(e));
	rt = NULL;
	r = srt_runtime_new_from_config(&bad, &o, &rt, &e);
	ok(r < 0 && !rt && e.code == r && strncmp(e.message, "<config>: filesystem.allowWrite[1]", 34) == 0,
	   "empty allowWrite entry: \"<config>: filesystem.allowWrite[1]...\" (%d): \"%s\"", r, e.message);

	const char *const bad_ad[] = { "http://x.com/", NULL };
	struct srt_config bad2 = { .size = sizeof(bad2) };
	bad2.allowed_domains = bad_ad;
	memset(&e, 0, sizeof(e));
	rt = NULL;
	r = srt_runtime_new_from_config(&bad2, &o, &rt, &e);
	ok(r < 0 && !rt && strncmp(e.message, "<config>: network.allowedDomains[0]", 35) == 0,
	   "a URL in allowedDomains: \"<config>: network.allowedDomains[0]...\" (%d): \"%s\"", r, e.message);

	const char *const bad_dd[] = { "*.com", NULL };
	struct srt_config bad3 = { .size = sizeof(bad3) };
	bad3.denied_domains = bad_dd;
	memset(&e, 0, sizeof(e));
	rt = NULL;
	r = srt_runtime_new_from_config(&bad3, &o, &rt, &e);
	ok(r < 0 && !rt && strncmp(e.message, "<config>: network.deniedDomains[0]", 34) == 0,
	   "\"*.com\" in deniedDomains: names network.deniedDomains[0] (%d): \"%s\"", r, e.message);

	/* NULL arguments */
	rt = NULL;
	r = srt_runtime_new_from_config(NULL, NULL, &rt, NULL);
	ok(r < 0 && !rt, "new_from_config(NULL) is negative (%d)", r);
	r = srt_runtime_new_from_file(NULL, NULL, &rt, NULL);
	ok(r < 0 && !rt, "new_from_file(NULL) is negative (%d)", r);

	/* sandbox.enabled: false */
	memset(&e, 0, sizeof(e));
	rt = NULL;
	r = srt_runtime_new_from_json("{\"sandbox\":{\"enabled\":false}}", NULL, &o, &rt, &e);
	if (ok(r == 0 && rt, "new_from_json with sandbox.enabled false")) {
		ok(!srt_sandboxing_enabled(rt), "srt_sandboxing_enabled is false");
		struct srt_result *res = NULL;
		memset(&e, 0, sizeof(e));
		r = srt_runtime_execute_shell(rt, "echo ran", NULL, &res, &e);
		ok(r == -ENOTSUP, "execute_shell refuses with -ENOTSUP (got %d: \"%s\")", r, e.message);
		if (r == 0)
			result_clear(&res);
		char **argv = NULL;
		uint64_t id = 0;
		const char *const cmd[] = { "true", NULL };
		r = srt_runtime_wrap(rt, cmd, NULL, &argv, &id, &e);
		ok(r == -ENOTSUP && !argv, "wrap refuses with -ENOTSUP (got %d)", r);
		if (argv)
			srt_argv_free(argv);
		srt_runtime_free(rt);
	} else {
		diag_err("srt_runtime_new_from_json", r, &e);
		skip(3, "no runtime");
	}

	/* free(NULL) is a no-op */
	srt_runtime_free(NULL);
	ok(true, "srt_runtime_free(NULL) is a no-op");

	tree_remove(&t);
	return done_testing();
}
