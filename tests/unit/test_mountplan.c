/* Unit tests: policy -> mount plan (which paths are bound, hidden, protected, and in what order). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config/config.h"
#include "linux/mountplan.h"
#include "linux/placeholder.h"
#include "policy/policy.h"

static char root[256];

static void mkfile(const char *rel)
{
	char p[512];
	snprintf(p, sizeof(p), "%s/%s", root, rel);
	int fd = open(p, O_CREAT | O_WRONLY | O_TRUNC, 0644);
	assert_true(fd >= 0);
	close(fd);
}

static void mkdirp(const char *rel)
{
	char p[512];
	snprintf(p, sizeof(p), "%s/%s", root, rel);
	for (char *s = p + strlen(root) + 1; *s; s++)
		if (*s == '/') {
			*s = '\0';
			mkdir(p, 0755);
			*s = '/';
		}
	mkdir(p, 0755);
}

static int setup(void **state)
{
	(void)state;
	snprintf(root, sizeof(root), "/tmp/srt-test-plan-XXXXXX");
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

/* Build a plan from settings JSON in which "ROOT" stands for the temp dir. */
static int plan_for(const char *json_tmpl, struct mount_plan **ret, struct srt_error *err)
{
	char json[4096];
	const char *s = json_tmpl;
	char *o = json;
	while (*s) {
		if (strncmp(s, "ROOT", 4) == 0) {
			o += sprintf(o, "%s", root);
			s += 4;
		} else {
			*o++ = *s++;
		}
	}
	*o = '\0';
	struct config cfg;
	config_init(&cfg);
	int r = config_parse_text(&cfg, "test.json", json, strlen(json), CONFIG_ORIGIN_USER, true, err);
	if (r < 0) {
		config_free(&cfg);
		return r;
	}
	struct policy_env env = { .home = root, .cwd = root };
	struct policy *p = NULL;
	r = policy_build(&cfg, &env, &p, err);
	config_free(&cfg);
	if (r < 0)
		return r;
	r = mount_plan_build(p, ret, err);
	policy_free(p);
	return r;
}

static const struct mount_op *find_op(const struct mount_plan *plan, const char *rel)
{
	char p[512];
	snprintf(p, sizeof(p), "%s%s%s", root, *rel ? "/" : "", rel);
	for (size_t i = 0; i < plan->n_ops; i++)
		if (strcmp(plan->ops[i].path, p) == 0)
			return &plan->ops[i];
	return NULL;
}

static size_t op_index(const struct mount_plan *plan, const struct mount_op *op)
{
	return (size_t)(op - plan->ops);
}

static void test_writable_root_protects_missing_names(void **state)
{
	(void)state;
	struct mount_plan *plan = NULL;
	struct srt_error err = { 0 };
	assert_int_equal(plan_for("{\"filesystem\": {\"allowWrite\": [\"ROOT\"]}}", &plan, &err), 0);

	const struct mount_op *w = find_op(plan, "");
	assert_non_null(w);
	assert_int_equal(w->kind, MOUNT_BIND_RW);

	const struct mount_op *b = find_op(plan, ".bashrc");
	assert_non_null(b);
	assert_int_equal(b->kind, MOUNT_PLACEHOLDER);
	assert_false(b->placeholder_dir);
	assert_true(op_index(plan, w) < op_index(plan, b));

	const struct mount_op *v = find_op(plan, ".vscode");
	assert_non_null(v);
	assert_int_equal(v->kind, MOUNT_PLACEHOLDER);
	assert_true(v->placeholder_dir);

	/* .claude/commands and .claude/agents: their first missing part. */
	const struct mount_op *c = find_op(plan, ".claude");
	assert_non_null(c);
	assert_true(c->placeholder_dir);
	assert_null(find_op(plan, ".claude/commands"));

	/* No repository yet: .git itself is held so hooks cannot appear. */
	const struct mount_op *g = find_op(plan, ".git");
	assert_non_null(g);
	assert_int_equal(g->kind, MOUNT_PLACEHOLDER);
	assert_true(plan->private_tmp);
	mount_plan_free(plan);
}

static void test_existing_repo_gets_anchor_and_ro_hooks(void **state)
{
	(void)state;
	mkdirp(".git/hooks");
	mkfile(".git/config");
	mkfile(".bashrc");
	mkdirp("sub/.git/hooks");
	struct mount_plan *plan = NULL;
	struct srt_error err = { 0 };
	assert_int_equal(plan_for("{\"filesystem\": {\"allowWrite\": [\"ROOT\"]}}", &plan, &err), 0);

	const struct mount_op *git = find_op(plan, ".git");
	assert_non_null(git);
	assert_int_equal(git->kind, MOUNT_BIND_RW); /* anchor: cannot be renamed */
	const struct mount_op *hooks = find_op(plan, ".git/hooks");
	assert_non_null(hooks);
	assert_int_equal(hooks->kind, MOUNT_BIND_RO);
	assert_true(op_index(plan, git) < op_index(plan, hooks));
	const struct mount_op *cfg = find_op(plan, ".git/config");
	assert_non_null(cfg);
	assert_int_equal(cfg->kind, MOUNT_BIND_RO);
	const struct mount_op *rc = find_op(plan, ".bashrc");
	assert_non_null(rc);
	assert_int_equal(rc->kind, MOUNT_BIND_RO);

	/* The nested repository: anchors sub and sub/.git, hooks read-only. */
	assert_non_null(find_op(plan, "sub"));
	assert_int_equal(find_op(plan, "sub")->kind, MOUNT_BIND_RW);
	assert_int_equal(find_op(plan, "sub/.git/hooks")->kind, MOUNT_BIND_RO);
	mount_plan_free(plan);
}

static void test_allow_git_config(void **state)
{
	(void)state;
	mkdirp(".git/hooks");
	mkfile(".git/config");
	struct mount_plan *plan = NULL;
	struct srt_error err = { 0 };
	assert_int_equal(plan_for("{\"filesystem\": {\"allowWrite\": [\"ROOT\"], \"allowGitConfig\": true}}",
				  &plan, &err), 0);
	assert_null(find_op(plan, ".git/config"));
	assert_int_equal(find_op(plan, ".git/hooks")->kind, MOUNT_BIND_RO);
	mount_plan_free(plan);
}

static void test_deny_read_and_allow_read(void **state)
{
	(void)state;
	mkdirp("secret/open/closed");
	mkfile("secret/a");
	mkfile("key.pem");
	struct mount_plan *plan = NULL;
	struct srt_error err = { 0 };
	assert_int_equal(plan_for("{\"filesystem\": {\"denyRead\": [\"ROOT/secret\", \"ROOT/key.pem\", "
				  "\"ROOT/secret/open/closed\"], \"allowRead\": [\"ROOT/secret/open\"]}}",
				  &plan, &err), 0);
	const struct mount_op *s = find_op(plan, "secret");
	assert_non_null(s);
	assert_int_equal(s->kind, MOUNT_HIDE_DIR);
	const struct mount_op *k = find_op(plan, "key.pem");
	assert_non_null(k);
	assert_int_equal(k->kind, MOUNT_HIDE_FILE);
	const struct mount_op *o = find_op(plan, "secret/open");
	assert_non_null(o);
	assert_int_equal(o->kind, MOUNT_BIND_RO);
	const struct mount_op *c = find_op(plan, "secret/open/closed");
	assert_non_null(c);
	assert_int_equal(c->kind, MOUNT_HIDE_DIR);
	assert_true(op_index(plan, s) < op_index(plan, o));
	assert_true(op_index(plan, o) < op_index(plan, c));
	mount_plan_free(plan);
}

static void test_symlinked_protected_name_fails_closed(void **state)
{
	(void)state;
	char target[512], link[512];
	snprintf(target, sizeof(target), "%s/elsewhere", root);
	snprintf(link, sizeof(link), "%s/.bashrc", root);
	assert_int_equal(symlink(target, link), 0);
	struct mount_plan *plan = NULL;
	struct srt_error err = { 0 };
	int r = plan_for("{\"filesystem\": {\"allowWrite\": [\"ROOT\"]}}", &plan, &err);
	assert_true(r < 0);
	assert_non_null(strstr(err.message, ".bashrc"));
	assert_non_null(strstr(err.message, "symbolic link"));
}

static void test_marked_placeholder_is_adopted(void **state)
{
	(void)state;
	mkfile(".zshrc");
	char p[512];
	snprintf(p, sizeof(p), "%s/.zshrc", root);
	struct timespec ts[2] = { { 315532801, 271828182 }, { 315532801, 271828182 } };
	assert_int_equal(utimensat(AT_FDCWD, p, ts, 0), 0);
	struct stat st;
	assert_int_equal(lstat(p, &st), 0);
	assert_true(placeholder_is_marked(&st));
	struct mount_plan *plan = NULL;
	struct srt_error err = { 0 };
	assert_int_equal(plan_for("{\"filesystem\": {\"allowWrite\": [\"ROOT\"]}}", &plan, &err), 0);
	/* Another run's placeholder: held (and locked) like our own, so that
	 * run's cleanup cannot pull it from under us. */
	assert_int_equal(find_op(plan, ".zshrc")->kind, MOUNT_PLACEHOLDER);
	mount_plan_free(plan);
}

static void test_deny_write_inside_allow_write(void **state)
{
	(void)state;
	mkdirp("out/keep");
	struct mount_plan *plan = NULL;
	struct srt_error err = { 0 };
	assert_int_equal(plan_for("{\"filesystem\": {\"allowWrite\": [\"ROOT/out\"], \"denyWrite\": [\"ROOT/out/keep\"]}}",
				  &plan, &err), 0);
	assert_int_equal(find_op(plan, "out")->kind, MOUNT_BIND_RW);
	assert_int_equal(find_op(plan, "out/keep")->kind, MOUNT_BIND_RO);
	/* Outside the writable folder nothing needs protecting. */
	assert_null(find_op(plan, ".bashrc"));
	mount_plan_free(plan);
}

static void test_cwd_in_private_tmp_is_read_only(void **state)
{
	(void)state;
	/* Started from a folder inside /tmp with no rule for it: the private
	 * /tmp shows it, but writing stays denied like everywhere else. */
	struct mount_plan *plan = NULL;
	struct srt_error err = { 0 };
	assert_int_equal(plan_for("{}", &plan, &err), 0);
	assert_true(plan->private_tmp);
	const struct mount_op *cwd = find_op(plan, "");
	assert_non_null(cwd);
	assert_int_equal(cwd->kind, MOUNT_BIND_RO);
	mount_plan_free(plan);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_writable_root_protects_missing_names, setup, teardown),
		cmocka_unit_test_setup_teardown(test_existing_repo_gets_anchor_and_ro_hooks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_allow_git_config, setup, teardown),
		cmocka_unit_test_setup_teardown(test_deny_read_and_allow_read, setup, teardown),
		cmocka_unit_test_setup_teardown(test_symlinked_protected_name_fails_closed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_marked_placeholder_is_adopted, setup, teardown),
		cmocka_unit_test_setup_teardown(test_deny_write_inside_allow_write, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cwd_in_private_tmp_is_read_only, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
