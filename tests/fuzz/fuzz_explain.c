/* libFuzzer target: srt explain's argument classifier (PATH vs HOST[:PORT] vs URL) and policy_explain_path on arbitrary paths. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "config/config.h"
#include "policy/policy.h"

static struct policy *policy;

/* A policy with every kind of rule, on paths that do not exist (building
 * it touches nothing; explaining only looks). */
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	static const char json[] =
		"{\"filesystem\": {\"allowWrite\": [\"/srt-fuzz-none/w\", \"/tmp/srt-fuzz-none\"],"
		" \"denyWrite\": [\"/srt-fuzz-none/w/frozen\"],"
		" \"denyRead\": [\"/srt-fuzz-none/w/secret\", \"/etc/shadow\"],"
		" \"allowRead\": [\"/srt-fuzz-none/w/secret/pub\", \"/usr\"]}}";
	struct config cfg;
	struct srt_error err = { 0 };
	config_init(&cfg);
	if (config_parse_text(&cfg, "/srt-fuzz-none/settings.json", json, sizeof(json) - 1, CONFIG_ORIGIN_USER,
			      true, &err) < 0)
		abort();
	struct policy_env env = { .home = "/srt-fuzz-none/home", .cwd = "/srt-fuzz-none/w" };
	if (policy_build(&cfg, &env, &policy, &err) < 0)
		abort();
	config_free(&cfg);
	return 0;
}

static void check_line(const char *s)
{
	if (!s || !*s)
		abort();
	for (const unsigned char *c = (const unsigned char *)s; *c; c++)
		if (*c < 0x20 || *c == 0x7f)
			abort();
}

static void fuzz_classify(const char *arg, bool exists)
{
	struct cli_explain_arg a, b;
	memset(&a, 0xAA, sizeof(a));
	const char *why = NULL;
	int r = cli_explain_classify(arg, exists, &a, &why);
	if (r < 0) {
		if (r != -EINVAL || !why)
			abort();
		return;
	}
	if (r != 0)
		abort();
	/* The same answer twice. */
	memset(&b, 0x55, sizeof(b));
	if (cli_explain_classify(arg, exists, &b, NULL) != 0 || b.kind != a.kind)
		abort();
	bool path_like = arg[0] == '/' || arg[0] == '.' || arg[0] == '~' || strchr(arg, '/');
	if (a.kind == CLI_EXPLAIN_PATH) {
		/* Only what looks like a path, or exists, is a path. */
		if (!path_like && !exists)
			abort();
		return;
	}
	if (a.kind != CLI_EXPLAIN_HOST)
		abort();
	/* Something that starts like a path is never taken for a host. */
	if (arg[0] == '/' || arg[0] == '.' || arg[0] == '~')
		abort();
	if (strchr(arg, '/') && !strstr(arg, "://"))
		abort();
	if (a.port == 0)
		abort();
	if (memcmp(&a.host, &b.host, sizeof(a.host)) != 0 || a.port != b.port)
		abort();
	size_t n = strnlen(a.host.text, sizeof(a.host.text));
	if (n == 0 || n == sizeof(a.host.text))
		abort();
	/* What explain prints as the target reads back as the same target. */
	char target[300];
	int len = cli_explain_format_target(&a, target, sizeof(target));
	if (len <= 0 || (size_t)len >= sizeof(target))
		abort();
	memset(&b, 0x55, sizeof(b));
	why = NULL;
	if (cli_explain_classify(target, false, &b, &why) != 0)
		abort();
	if (b.kind != CLI_EXPLAIN_HOST || b.port != a.port || b.host.kind != a.host.kind ||
	    strcmp(b.host.text, a.host.text) != 0)
		abort();
}

static void fuzz_explain_path(const char *path)
{
	for (int write = 0; write <= 1; write++) {
		struct policy_verdict v;
		int r = policy_explain_path(policy, path, write, &v);
		if (r == -EINVAL) {
			if (path[0] == '/' && strlen(path) < 4096)
				abort();
			continue;
		}
		if (r != 0)
			abort();
		check_line(v.rule);
		if (v.source)
			check_line(v.source);
		policy_verdict_clear(&v);
		if (v.rule || v.source)
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	/* argv strings hold no NUL: cut at the first one. */
	char *arg = malloc(size);
	if (!arg)
		return 0;
	memcpy(arg, data + 1, size - 1);
	arg[size - 1] = '\0';
	fuzz_classify(arg, data[0] & 1);
	if (arg[0] == '/' && (data[0] & 2))
		fuzz_explain_path(arg);
	free(arg);
	return 0;
}
