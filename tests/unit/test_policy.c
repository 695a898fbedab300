/* Unit tests: config -> policy, and the decisions it makes about paths and domains. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config/config.h"
#include "policy/policy.h"

static char root[256];

static int setup(void **state)
{
	(void)state;
	snprintf(root, sizeof(root), "/tmp/srt-test-policy-XXXXXX");
	assert_non_null(mkdtemp(root));
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	char cmd[300];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	return system(cmd) == 0 ? 0 : -1;
}

static int build(const char *json, struct policy **ret, struct srt_error *err)
{
	struct config cfg;
	config_init(&cfg);
	int r = config_parse_text(&cfg, "/etc/test-settings.json", json, strlen(json), CONFIG_ORIGIN_USER, true, err);
	if (r == 0) {
		struct policy_env env = { .home = "/home/u", .cwd = root };
		r = policy_build(&cfg, &env, ret, err);
	}
	config_free(&cfg);
	return r;
}

static void test_defaults(void **state)
{
	(void)state;
	struct policy *p = NULL;
	struct srt_error err = { 0 };
	assert_int_equal(build("{}", &p, &err), 0);
	assert_true(policy_path_readable(p, "/etc/passwd"));
	assert_false(policy_path_writable(p, "/etc/passwd"));
	assert_false(policy_path_writable(p, "/srv/project"));
	assert_true(policy_path_writable(p, "/tmp/x")); /* the private /tmp */
	assert_false(p->tmp_is_host);
	policy_free(p);
}

static void test_most_specific_rule_wins(void **state)
{
	(void)state;
	struct policy *p = NULL;
	struct srt_error err = { 0 };
	assert_int_equal(build("{\"filesystem\": {"
			       "\"denyRead\": [\"/home/u/.ssh\", \"/home/u/.ssh/keep/inner\"],"
			       "\"allowRead\": [\"/home/u/.ssh/keep\"],"
			       "\"allowWrite\": [\"/srv/out\"], \"denyWrite\": [\"/srv/out/frozen\"]}}",
			       &p, &err), 0);
	assert_false(policy_path_readable(p, "/home/u/.ssh/id_rsa"));
	assert_true(policy_path_readable(p, "/home/u/.ssh/keep/known_hosts"));
	assert_false(policy_path_readable(p, "/home/u/.ssh/keep/inner/x"));
	assert_true(policy_path_readable(p, "/home/u/.sshx"));
	assert_true(policy_path_writable(p, "/srv/out/a"));
	assert_false(policy_path_writable(p, "/srv/out/frozen/a"));
	assert_false(policy_path_writable(p, "/srv/outside"));

	const struct policy_path_rule *r = policy_write_rule(p, "/srv/out/frozen/a");
	assert_non_null(r);
	assert_int_equal(r->kind, POLICY_DENY_WRITE);
	/* The rule knows where it came from: file, line, column and key. */
	assert_non_null(strstr(r->source, "/etc/test-settings.json:"));
	assert_non_null(strstr(r->source, "denyWrite"));
	policy_free(p);
}

static void test_tie_goes_to_deny(void **state)
{
	(void)state;
	struct policy *p = NULL;
	struct srt_error err = { 0 };
	assert_int_equal(build("{\"filesystem\": {\"allowWrite\": [\"/srv/x\"], \"denyWrite\": [\"/srv/x\"]}}",
			       &p, &err), 0);
	assert_false(policy_path_writable(p, "/srv/x/y"));
	policy_free(p);
}

static void test_relative_and_home_paths(void **state)
{
	(void)state;
	struct policy *p = NULL;
	struct srt_error err = { 0 };
	assert_int_equal(build("{\"filesystem\": {\"allowWrite\": [\"./out/**\"], \"denyRead\": [\"~/.aws\"]}}",
			       &p, &err), 0);
	char out[300];
	snprintf(out, sizeof(out), "%s/out/file", root);
	assert_true(policy_path_writable(p, out));
	assert_false(policy_path_readable(p, "/home/u/.aws/credentials"));
	policy_free(p);
}

static void test_writable_root_gets_builtin_protection(void **state)
{
	(void)state;
	struct policy *p = NULL;
	struct srt_error err = { 0 };
	char json[512];
	snprintf(json, sizeof(json), "{\"filesystem\": {\"allowWrite\": [\"%s\"]}}", root);
	assert_int_equal(build(json, &p, &err), 0);
	char path[300];
	snprintf(path, sizeof(path), "%s/.bashrc", root);
	assert_false(policy_path_writable(p, path));
	snprintf(path, sizeof(path), "%s/.vscode/tasks.json", root);
	assert_false(policy_path_writable(p, path));
	snprintf(path, sizeof(path), "%s/.git/hooks/pre-commit", root);
	assert_false(policy_path_writable(p, path));
	snprintf(path, sizeof(path), "%s/.git/config", root);
	assert_false(policy_path_writable(p, path));
	snprintf(path, sizeof(path), "%s/src/main.c", root);
	assert_true(policy_path_writable(p, path));
	snprintf(path, sizeof(path), "%s/.bashrc", root);
	const struct policy_path_rule *r = policy_write_rule(p, path);
	assert_true(r->mandatory);
	policy_free(p);
}

static void test_glob_expands_existing_matches(void **state)
{
	(void)state;
	char path[300];
	snprintf(path, sizeof(path), "%s/a.secret", root);
	close(open(path, O_CREAT | O_WRONLY, 0644));
	snprintf(path, sizeof(path), "%s/b.txt", root);
	close(open(path, O_CREAT | O_WRONLY, 0644));
	struct policy *p = NULL;
	struct srt_error err = { 0 };
	assert_int_equal(build("{\"filesystem\": {\"denyRead\": [\"./*.secret\"]}}", &p, &err), 0);
	snprintf(path, sizeof(path), "%s/a.secret", root);
	assert_false(policy_path_readable(p, path));
	snprintf(path, sizeof(path), "%s/b.txt", root);
	assert_true(policy_path_readable(p, path));
	policy_free(p);
}

static void test_bad_domain_names_its_position(void **state)
{
	(void)state;
	struct policy *p = NULL;
	struct srt_error err = { 0 };
	int r = build("{\n  \"network\": {\n    \"allowedDomains\": [\"ok.example\", \"https://x.example\"]\n  }\n}", &p, &err);
	assert_true(r < 0);
	assert_non_null(strstr(err.message, "/etc/test-settings.json:3:"));
	assert_non_null(strstr(err.message, "https://x.example"));
	r = build("{\"network\": {\"allowedDomains\": [\"*.com\"]}}", &p, &err);
	assert_true(r < 0);
	assert_non_null(strstr(err.message, "*.com"));
}

static void test_allow_write_glob_is_refused(void **state)
{
	(void)state;
	struct policy *p = NULL;
	struct srt_error err = { 0 };
	int r = build("{\"filesystem\": {\"allowWrite\": [\"./out/*.log\"]}}", &p, &err);
	assert_true(r < 0);
	assert_non_null(strstr(err.message, "allowWrite"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_defaults, setup, teardown),
		cmocka_unit_test_setup_teardown(test_most_specific_rule_wins, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tie_goes_to_deny, setup, teardown),
		cmocka_unit_test_setup_teardown(test_relative_and_home_paths, setup, teardown),
		cmocka_unit_test_setup_teardown(test_writable_root_gets_builtin_protection, setup, teardown),
		cmocka_unit_test_setup_teardown(test_glob_expands_existing_matches, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_domain_names_its_position, setup, teardown),
		cmocka_unit_test_setup_teardown(test_allow_write_glob_is_refused, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
