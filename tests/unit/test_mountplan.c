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
#include "linux/bwrap.h"
#include "linux/mountplan.h"
#include "linux/plan_format.h"
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

/* Build a plan from settings JSON in which "ROOT" stands for the temp dir,
 * for a command started in cwd. */
static int plan_in(const char *json_tmpl, const char *cwd, struct mount_plan **ret, struct srt_error *err)
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
	struct policy_env env = { .home = root, .cwd = cwd };
	struct policy *p = NULL;
	r = policy_build(&cfg, &env, &p, err);
	config_free(&cfg);
	if (r < 0)
		return r;
	r = mount_plan_build(p, ret, err);
	policy_free(p);
	return r;
}

/* The same, started in the temp dir. */
static int plan_for(const char *json_tmpl, struct mount_plan **ret, struct srt_error *err)
{
	return plan_in(json_tmpl, root, ret, err);
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

/* Has the plan a note for path rel (under the temp dir) that says text? */
static bool has_note_for(const struct mount_plan *plan, const char *rel, const char *text)
{
	char p[512];
	snprintf(p, sizeof(p), "%s/%s ", root, rel);
	for (size_t i = 0; i < plan->notes.n; i++)
		if (strstr(plan->notes.v[i], p) && strstr(plan->notes.v[i], text))
			return true;
	return false;
}

#define GUARDED " does not exist; the write guard refuses its creation"

/* The ops on paths strictly below the temp dir. */
static size_t ops_below_root(const struct mount_plan *plan)
{
	size_t n = 0, len = strlen(root);
	for (size_t i = 0; i < plan->n_ops; i++)
		if (strncmp(plan->ops[i].path, root, len) == 0 && plan->ops[i].path[len] == '/')
			n++;
	return n;
}

/* A missing protected name in a writable folder: no mount (srt puts
 * nothing in the user's folder), a note, and the write guard's to refuse. */
static void test_writable_root_protects_missing_names(void **state)
{
	(void)state;
	struct mount_plan *plan = NULL;
	struct srt_error err = { 0 };
	assert_int_equal(plan_for("{\"filesystem\": {\"allowWrite\": [\"ROOT\"]}}", &plan, &err), 0);

	const struct mount_op *w = find_op(plan, "");
	assert_non_null(w);
	assert_int_equal(w->kind, MOUNT_BIND_RW);

	/* Nothing below the writable root is mounted: no placeholder for the
	 * missing names, no anchor on the folders on their way. */
	assert_int_equal(ops_below_root(plan), 0);
	static const char *const missing[] = {
		".bashrc", ".bash_profile", ".zshrc", ".zprofile", ".profile", ".gitconfig", ".gitmodules",
		".ripgreprc", ".mcp.json", ".vscode", ".idea", ".claude/commands", ".claude/agents", ".sandbox",
		".git/hooks", ".git/config",
	};
	for (size_t i = 0; i < sizeof(missing) / sizeof(missing[0]); i++) {
		assert_null(find_op(plan, missing[i]));
		if (!has_note_for(plan, missing[i], GUARDED))
			fail_msg("no note for the missing %s", missing[i]);
	}
	/* Nor for the folders on the way to the two-component names. */
	assert_null(find_op(plan, ".claude"));
	assert_null(find_op(plan, ".git"));
	assert_int_equal(plan->guarded_missing, sizeof(missing) / sizeof(missing[0]));
	assert_true(plan->private_tmp);
	mount_plan_free(plan);

	/* allowGitConfig: .git/config is not protected, so not guarded. */
	assert_int_equal(plan_for("{\"filesystem\": {\"allowWrite\": [\"ROOT\"], \"allowGitConfig\": true}}",
				  &plan, &err), 0);
	assert_false(has_note_for(plan, ".git/config", GUARDED));
	assert_true(has_note_for(plan, ".git/hooks", GUARDED));
	assert_int_equal(plan->guarded_missing, sizeof(missing) / sizeof(missing[0]) - 1);
	mount_plan_free(plan);
}

/* Existing protected paths are still read-only binds, inside the writable
 * root and after it; the folders above them get no anchor; a repository
 * below the root is not looked for at all (the write guard protects its
 * hooks and config at every depth). */
static void test_existing_repo_gets_ro_hooks_and_no_anchors(void **state)
{
	(void)state;
	mkdirp(".git/hooks");
	mkfile(".git/config");
	mkfile(".bashrc");
	mkdirp("sub/.git/hooks");
	mkfile("sub/.bashrc");
	struct mount_plan *plan = NULL;
	struct srt_error err = { 0 };
	assert_int_equal(plan_for("{\"filesystem\": {\"allowWrite\": [\"ROOT\"]}}", &plan, &err), 0);

	const struct mount_op *w = find_op(plan, "");
	assert_non_null(w);
	assert_int_equal(w->kind, MOUNT_BIND_RW);
	assert_null(find_op(plan, ".git")); /* no anchor */
	const struct mount_op *hooks = find_op(plan, ".git/hooks");
	assert_non_null(hooks);
	assert_int_equal(hooks->kind, MOUNT_BIND_RO);
	assert_true(op_index(plan, w) < op_index(plan, hooks));
	const struct mount_op *cfg = find_op(plan, ".git/config");
	assert_non_null(cfg);
	assert_int_equal(cfg->kind, MOUNT_BIND_RO);
	const struct mount_op *rc = find_op(plan, ".bashrc");
	assert_non_null(rc);
	assert_int_equal(rc->kind, MOUNT_BIND_RO);
	assert_true(op_index(plan, w) < op_index(plan, rc));
	assert_false(has_note_for(plan, ".bashrc", GUARDED));
	assert_false(has_note_for(plan, ".git/hooks", GUARDED));

	/* The nested repository: neither anchored nor bound (depth 0). */
	assert_null(find_op(plan, "sub"));
	assert_null(find_op(plan, "sub/.git"));
	assert_null(find_op(plan, "sub/.git/hooks"));
	assert_null(find_op(plan, "sub/.bashrc"));
	assert_int_equal(ops_below_root(plan), 3);
	/* 16 names, of which .bashrc, .git/hooks and .git/config exist. */
	assert_int_equal(plan->guarded_missing, 13);
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

/* A protected name that is a link (planted by anybody: another user in a
 * shared /tmp, or an earlier sandbox) does not stop srt: what it points to
 * is protected instead; a dangling one's missing target is the write
 * guard's, like any missing protected path. */
static void test_symlinked_protected_name_protects_its_target(void **state)
{
	(void)state;
	char target[512], link[512];
	snprintf(target, sizeof(target), "%s/elsewhere", root);
	snprintf(link, sizeof(link), "%s/.bashrc", root);
	assert_int_equal(symlink(target, link), 0);
	struct mount_plan *plan = NULL;
	struct srt_error err = { 0 };
	assert_int_equal(plan_for("{\"filesystem\": {\"allowWrite\": [\"ROOT\"]}}", &plan, &err), 0);
	assert_null(find_op(plan, "elsewhere"));
	assert_null(find_op(plan, ".bashrc"));
	assert_true(has_note_for(plan, "elsewhere", GUARDED));
	assert_int_equal(ops_below_root(plan), 0);
	mount_plan_free(plan);

	/* The target exists: it is bound read-only, the link is not. */
	mkfile("elsewhere");
	assert_int_equal(plan_for("{\"filesystem\": {\"allowWrite\": [\"ROOT\"]}}", &plan, &err), 0);
	const struct mount_op *t = find_op(plan, "elsewhere");
	assert_non_null(t);
	assert_int_equal(t->kind, MOUNT_BIND_RO);
	assert_null(find_op(plan, ".bashrc"));
	assert_false(has_note_for(plan, "elsewhere", GUARDED));
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

static void test_deny_read_missing_in_writable_folder(void **state)
{
	(void)state;
	mkdirp("w");
	mkdirp("ro");
	struct mount_plan *plan = NULL;
	struct srt_error err = { 0 };
	assert_int_equal(plan_for("{\"filesystem\": {\"allowWrite\": [\"ROOT/w\"], "
				  "\"denyRead\": [\"ROOT/w/later.key\", \"ROOT/w/new/deep/secret\", \"ROOT/ro/missing\"]}}",
				  &plan, &err), 0);
	/* The path itself: no mount, the write guard refuses its creation. */
	assert_null(find_op(plan, "w/later.key"));
	assert_true(has_note_for(plan, "w/later.key", GUARDED));
	assert_true(has_note_for(plan, "w/later.key", "filesystem.denyRead"));
	/* Nor the first missing folder on its way: no placeholder folder. */
	assert_null(find_op(plan, "w/new"));
	assert_null(find_op(plan, "w/new/deep"));
	assert_null(find_op(plan, "w/new/deep/secret"));
	assert_true(has_note_for(plan, "w/new/deep/secret", GUARDED));
	/* The writable folder is mounted, and nothing inside it. */
	assert_int_equal(find_op(plan, "w")->kind, MOUNT_BIND_RW);
	/* Where nothing can be created, nothing needs guarding. */
	assert_null(find_op(plan, "ro/missing"));
	assert_false(has_note_for(plan, "ro/missing", GUARDED));
	/* The two in w, and the built-in names of the writable root w. */
	assert_true(plan->guarded_missing >= 2);
	size_t with_w = plan->guarded_missing;
	mount_plan_free(plan);
	assert_int_equal(plan_for("{\"filesystem\": {\"allowWrite\": [\"ROOT/w\"], \"denyRead\": [\"ROOT/ro/missing\"]}}",
				  &plan, &err), 0);
	assert_int_equal(plan->guarded_missing + 2, with_w);
	mount_plan_free(plan);

	/* A real file there: hidden as usual, no note. */
	mkfile("w/later.key");
	assert_int_equal(plan_for("{\"filesystem\": {\"allowWrite\": [\"ROOT/w\"], \"denyRead\": [\"ROOT/w/later.key\"]}}",
				  &plan, &err), 0);
	assert_int_equal(find_op(plan, "w/later.key")->kind, MOUNT_HIDE_FILE);
	assert_true(op_index(plan, find_op(plan, "w")) < op_index(plan, find_op(plan, "w/later.key")));
	assert_false(has_note_for(plan, "w/later.key", GUARDED));
	mount_plan_free(plan);
}

/* A missing denyWrite path in a writable folder: no mount either. */
static void test_deny_write_missing_in_writable_folder(void **state)
{
	(void)state;
	mkdirp("w");
	struct mount_plan *plan = NULL;
	struct srt_error err = { 0 };
	assert_int_equal(plan_for("{\"filesystem\": {\"allowWrite\": [\"ROOT/w\"], "
				  "\"denyWrite\": [\"ROOT/w/later.txt\", \"ROOT/w/a/b\"]}}",
				  &plan, &err), 0);
	assert_int_equal(find_op(plan, "w")->kind, MOUNT_BIND_RW);
	assert_null(find_op(plan, "w/later.txt"));
	assert_null(find_op(plan, "w/a"));
	assert_null(find_op(plan, "w/a/b"));
	assert_true(has_note_for(plan, "w/later.txt", GUARDED));
	assert_true(has_note_for(plan, "w/a/b", GUARDED));
	assert_true(has_note_for(plan, "w/a/b", "filesystem.denyWrite"));
	mount_plan_free(plan);

	/* Once they exist: read-only binds, after the writable folder. */
	mkfile("w/later.txt");
	mkdirp("w/a/b");
	assert_int_equal(plan_for("{\"filesystem\": {\"allowWrite\": [\"ROOT/w\"], "
				  "\"denyWrite\": [\"ROOT/w/later.txt\", \"ROOT/w/a/b\"]}}",
				  &plan, &err), 0);
	const struct mount_op *w = find_op(plan, "w");
	const struct mount_op *f = find_op(plan, "w/later.txt");
	const struct mount_op *d = find_op(plan, "w/a/b");
	assert_non_null(f);
	assert_non_null(d);
	assert_int_equal(f->kind, MOUNT_BIND_RO);
	assert_int_equal(d->kind, MOUNT_BIND_RO);
	assert_true(op_index(plan, w) < op_index(plan, f));
	assert_true(op_index(plan, w) < op_index(plan, d));
	assert_null(find_op(plan, "w/a")); /* no anchor */
	assert_false(has_note_for(plan, "w/later.txt", GUARDED));
	assert_false(has_note_for(plan, "w/a/b", GUARDED));
	mount_plan_free(plan);
}

static void test_deny_read_dangling_link_in_writable_folder_fails_closed(void **state)
{
	(void)state;
	mkdirp("w");
	char target[512], link[512];
	snprintf(target, sizeof(target), "%s/nowhere", root);
	snprintf(link, sizeof(link), "%s/w/secret", root);
	assert_int_equal(symlink(target, link), 0);
	struct mount_plan *plan = NULL;
	struct srt_error err = { 0 };
	int r = plan_for("{\"filesystem\": {\"allowWrite\": [\"ROOT/w\"], \"denyRead\": [\"ROOT/w/secret\"]}}",
			 &plan, &err);
	assert_true(r < 0);
	assert_non_null(strstr(err.message, "w/secret"));
	assert_non_null(strstr(err.message, "symbolic link"));
}

/* A policy built by hand, so that rules sharing a path can come in any
 * order (policy_build sorts them by kind; the plan must not depend on it). */
static struct policy_path_rule hand_rule(const char *rel, enum policy_path_kind kind, bool exists, bool is_dir,
					 const char *source)
{
	char p[512];
	snprintf(p, sizeof(p), "%s%s%s", root, *rel ? "/" : "", rel);
	return (struct policy_path_rule){ .path = strdup(p), .kind = kind, .exists = exists, .is_dir = is_dir,
					  .source = strdup(source) };
}

/* A write-protected path that is a link inside a writable folder: a mount
 * cannot cover a link, and the write guard refuses replacing it and
 * writing through it, so the plan is made (unlike a denyRead there). The
 * policy refuses such a settings entry; a hand-made policy has one. */
static void test_deny_write_link_in_writable_folder_is_guarded(void **state)
{
	(void)state;
	mkdirp("w");
	mkfile("target");
	char target[512], link[512];
	snprintf(target, sizeof(target), "%s/target", root);
	snprintf(link, sizeof(link), "%s/w/link", root);
	assert_int_equal(symlink(target, link), 0);
	struct policy_path_rule rules[2];
	rules[0] = hand_rule("w", POLICY_ALLOW_WRITE, true, true, "allowWrite w");
	rules[1] = hand_rule("w/link", POLICY_DENY_WRITE, true, false, "denyWrite w/link");
	rules[1].is_symlink = true;
	struct policy p = { .rules = rules, .n_rules = 2, .sorted = true, .tmp_is_host = true };
	struct mount_plan *plan = NULL;
	struct srt_error err = { 0 };
	assert_int_equal(mount_plan_build(&p, &plan, &err), 0);
	assert_int_equal(find_op(plan, "w")->kind, MOUNT_BIND_RW);
	assert_null(find_op(plan, "w/link"));
	assert_true(has_note_for(plan, "w/link", "is a symbolic link; the write guard refuses"));
	assert_true(has_note_for(plan, "w/link", "denyWrite w/link"));
	assert_int_equal(plan->guarded_missing, 1);
	mount_plan_free(plan);

	/* A denyRead on the same link still fails closed. */
	rules[1].kind = POLICY_DENY_READ;
	plan = NULL;
	assert_true(mount_plan_build(&p, &plan, &err) < 0);
	assert_null(plan);
	assert_non_null(strstr(err.message, "symbolic link"));
	for (size_t i = 0; i < 2; i++) {
		free(rules[i].path);
		free(rules[i].source);
	}
}

/* The plan as one string: every op with its kind, path, flags and reason. */
static char *plan_text(const struct mount_plan *plan)
{
	size_t cap = 64, len = 0;
	char *s = malloc(cap);
	assert_non_null(s);
	s[0] = '\0';
	for (size_t i = 0; i < plan->n_ops; i++) {
		const struct mount_op *op = &plan->ops[i];
		char line[1200];
		int n = snprintf(line, sizeof(line), "%d %s %d %s\n", (int)op->kind, op->path, op->host_rw_root,
				 op->why);
		assert_true(n > 0 && (size_t)n < sizeof(line));
		while (len + (size_t)n + 1 > cap) {
			cap *= 2;
			s = realloc(s, cap);
			assert_non_null(s);
		}
		memcpy(s + len, line, (size_t)n + 1);
		len += (size_t)n;
	}
	return s;
}

static void test_rules_on_one_path_in_any_order(void **state)
{
	(void)state;
	mkdirp("d/x");       /* a hidden folder, and a folder in it */
	mkdirp("w/f");       /* a writable folder, and a folder in it */
	/* Two groups of rules sharing a path, each in every order:
	 *   d/x: allowRead, allowWrite, denyWrite inside denyRead d: the
	 *        allowRead brings it back, read-only (the denyWrite decides
	 *        writing);
	 *   w/f: denyRead, allowRead, denyWrite inside allowWrite w: hidden
	 *        (deny wins a tie), and the denyRead says why. */
	static const enum policy_path_kind gx[3] = { POLICY_ALLOW_READ, POLICY_ALLOW_WRITE, POLICY_DENY_WRITE };
	static const enum policy_path_kind gf[3] = { POLICY_DENY_READ, POLICY_ALLOW_READ, POLICY_DENY_WRITE };
	static const char *const names[] = { "denyRead", "allowRead", "allowWrite", "denyWrite" };
	static const int perms[6][3] = { { 0, 1, 2 }, { 0, 2, 1 }, { 1, 0, 2 }, { 1, 2, 0 }, { 2, 0, 1 }, { 2, 1, 0 } };
	char *first = NULL;
	for (int a = 0; a < 6; a++) {
		for (int b = 0; b < 6; b++) {
			struct policy_path_rule rules[8];
			size_t n = 0;
			/* In path order, as the policy keeps them; only the order
			 * among equal paths changes. */
			rules[n++] = hand_rule("d", POLICY_DENY_READ, true, true, "denyRead d");
			for (int k = 0; k < 3; k++) {
				char src[64];
				snprintf(src, sizeof(src), "%s d/x", names[gx[perms[a][k]]]);
				rules[n++] = hand_rule("d/x", gx[perms[a][k]], true, true, src);
			}
			rules[n++] = hand_rule("w", POLICY_ALLOW_WRITE, true, true, "allowWrite w");
			for (int k = 0; k < 3; k++) {
				char src[64];
				snprintf(src, sizeof(src), "%s w/f", names[gf[perms[b][k]]]);
				rules[n++] = hand_rule("w/f", gf[perms[b][k]], true, true, src);
			}
			struct policy p = { .rules = rules, .n_rules = n, .sorted = true, .tmp_is_host = true };
			struct mount_plan *plan = NULL;
			struct srt_error err = { 0 };
			assert_int_equal(mount_plan_build(&p, &plan, &err), 0);

			const struct mount_op *x = find_op(plan, "d/x");
			if (!x || x->kind != MOUNT_BIND_RO || strcmp(x->why, "allowRead d/x") != 0)
				fail_msg("order %d/%d: d/x is %s (%s)", a, b, x ? "not a read-only bind" : "not mounted",
					 x ? x->why : "");
			const struct mount_op *f = find_op(plan, "w/f");
			if (!f || f->kind != MOUNT_HIDE_DIR || strcmp(f->why, "denyRead w/f") != 0)
				fail_msg("order %d/%d: w/f is %s (%s)", a, b, f ? "not hidden" : "not mounted",
					 f ? f->why : "");
			/* policy_explain_path agrees, whatever the order. */
			struct policy_verdict v;
			char path[512];
			snprintf(path, sizeof(path), "%s/d/x/y", root);
			assert_int_equal(policy_explain_path(&p, path, false, &v), 0);
			if (!v.allowed || !strstr(v.rule, "allowRead: "))
				fail_msg("order %d/%d: read d/x/y: %s", a, b, v.rule);
			policy_verdict_clear(&v);
			assert_int_equal(policy_explain_path(&p, path, true, &v), 0);
			assert_false(v.allowed);
			policy_verdict_clear(&v);
			snprintf(path, sizeof(path), "%s/w/f/y", root);
			assert_int_equal(policy_explain_path(&p, path, false, &v), 0);
			if (v.allowed || !strstr(v.rule, "denyRead: "))
				fail_msg("order %d/%d: read w/f/y: %s", a, b, v.rule);
			policy_verdict_clear(&v);

			char *text = plan_text(plan);
			if (!first)
				first = text;
			else {
				if (strcmp(first, text) != 0)
					fail_msg("order %d/%d gives another plan:\n%s\nthan:\n%s", a, b, text, first);
				free(text);
			}
			mount_plan_free(plan);
			for (size_t i = 0; i < n; i++) {
				free(rules[i].path);
				free(rules[i].source);
			}
		}
	}
	free(first);
}

static void test_deny_read_root_fails_closed(void **state)
{
	(void)state;
	/* policy_build refuses denyRead "/" (see test_policy.c); a policy
	 * that has one anyway must not become a plan that hides nothing. */
	mkdirp("sec");
	struct policy_path_rule rules[2];
	rules[0] = (struct policy_path_rule){ .path = strdup("/"), .kind = POLICY_DENY_READ, .exists = true,
					      .is_dir = true, .source = strdup("denyRead /") };
	rules[1] = hand_rule("sec", POLICY_DENY_READ, true, true, "denyRead sec");
	struct policy p = { .rules = rules, .n_rules = 2, .sorted = true, .tmp_is_host = true };
	struct mount_plan *plan = NULL;
	struct srt_error err = { 0 };
	assert_true(mount_plan_build(&p, &plan, &err) < 0);
	assert_null(plan);
	assert_non_null(strstr(err.message, "denyRead /"));
	assert_non_null(strstr(err.message, "whole file system"));
	for (size_t i = 0; i < 2; i++) {
		free(rules[i].path);
		free(rules[i].source);
	}
}

/* The private /tmp: the host's /tmp shows beneath it, read-only, so the
 * rules about paths in the host's /tmp need mounts again. The temp dir is
 * inside /tmp; cwd "/" keeps the built-in rule for the current directory
 * out of the way (plan_in). */
static bool has_note(const struct mount_plan *plan, const char *text)
{
	for (size_t i = 0; i < plan->notes.n; i++)
		if (strstr(plan->notes.v[i], text))
			return true;
	return false;
}

static void test_private_tmp_shows_the_hosts(void **state)
{
	(void)state;
	mkdirp("sub");
	mkfile("sub/f");
	struct mount_plan *plan = NULL;
	struct srt_error err = { 0 };
	assert_int_equal(plan_in("{}", "/", &plan, &err), 0);
	assert_true(plan->private_tmp);
	assert_true(plan->tmp_overlay);
	/* Nothing in the host's /tmp needs a mount to be seen. */
	for (size_t i = 0; i < plan->n_ops; i++)
		assert_false(strncmp(plan->ops[i].path, "/tmp/", 5) == 0);
	mount_plan_free(plan);

	/* allowWrite "/tmp" is the host's /tmp itself, as ever. */
	assert_int_equal(plan_in("{\"filesystem\": {\"allowWrite\": [\"/tmp\"]}}", "/", &plan, &err), 0);
	assert_false(plan->private_tmp);
	assert_false(plan->tmp_overlay);
	mount_plan_free(plan);
}

static void test_deny_read_in_private_tmp_is_hidden(void **state)
{
	(void)state;
	mkdirp("secret/open");
	mkfile("key.pem");
	mkfile("other");
	struct mount_plan *plan = NULL;
	struct srt_error err = { 0 };
	assert_int_equal(plan_in("{\"filesystem\": {\"denyRead\": [\"ROOT/secret\", \"ROOT/key.pem\", \"ROOT/missing\"], "
				 "\"allowRead\": [\"ROOT/secret/open\"]}}", "/", &plan, &err), 0);
	assert_true(plan->tmp_overlay);
	const struct mount_op *s = find_op(plan, "secret");
	assert_non_null(s);
	assert_int_equal(s->kind, MOUNT_HIDE_DIR);
	const struct mount_op *k = find_op(plan, "key.pem");
	assert_non_null(k);
	assert_int_equal(k->kind, MOUNT_HIDE_FILE);
	/* Brought back inside the hidden folder: the host's, read-only. */
	const struct mount_op *o = find_op(plan, "secret/open");
	assert_non_null(o);
	assert_int_equal(o->kind, MOUNT_BIND_RO);
	assert_true(op_index(plan, s) < op_index(plan, o));
	/* Missing: nothing to hide. */
	assert_null(find_op(plan, "missing"));
	assert_null(find_op(plan, "other"));
	mount_plan_free(plan);
}

static void test_allow_rules_in_private_tmp(void **state)
{
	(void)state;
	mkdirp("proj/secret");
	mkdirp("ro");
	struct mount_plan *plan = NULL;
	struct srt_error err = { 0 };
	assert_int_equal(plan_in("{\"filesystem\": {\"allowWrite\": [\"ROOT/proj\"], \"denyRead\": [\"ROOT/proj/secret\"], "
				 "\"allowRead\": [\"ROOT/ro\"]}}", "/", &plan, &err), 0);
	assert_true(plan->tmp_overlay);
	/* allowWrite: the host's folder, writable, bound over the overlay
	 * (from bwrap's copy of the host tree: its parent is not writable). */
	const struct mount_op *w = find_op(plan, "proj");
	assert_non_null(w);
	assert_int_equal(w->kind, MOUNT_BIND_RW);
	assert_true(w->host_rw_root);
	const struct mount_op *h = find_op(plan, "proj/secret");
	assert_non_null(h);
	assert_int_equal(h->kind, MOUNT_HIDE_DIR);
	assert_true(op_index(plan, w) < op_index(plan, h));
	/* allowRead: the host's folder itself, read-only, as in the empty
	 * /tmp that srt-init falls back to where overlayfs cannot be had. */
	const struct mount_op *r = find_op(plan, "ro");
	assert_non_null(r);
	assert_int_equal(r->kind, MOUNT_BIND_RO);
	mount_plan_free(plan);
}

static void test_deny_read_tmp_keeps_it_empty(void **state)
{
	(void)state;
	mkdirp("pub");
	mkfile("secret");
	struct mount_plan *plan = NULL;
	struct srt_error err = { 0 };
	assert_int_equal(plan_in("{\"filesystem\": {\"denyRead\": [\"/tmp\", \"ROOT/secret\"], \"allowRead\": [\"ROOT/pub\"]}}",
				 "/", &plan, &err), 0);
	assert_true(plan->private_tmp);
	assert_false(plan->tmp_overlay);
	/* First of all: srt-init reads a hidden /tmp as "no host's /tmp
	 * beneath", and what is brought back comes after it. */
	assert_true(plan->n_ops > 0);
	assert_int_equal(plan->ops[0].kind, MOUNT_HIDE_DIR);
	assert_string_equal(plan->ops[0].path, "/tmp");
	assert_null(find_op(plan, "secret"));
	const struct mount_op *pub = find_op(plan, "pub");
	assert_non_null(pub);
	assert_int_equal(pub->kind, MOUNT_BIND_RO);
	mount_plan_free(plan);
}

/* A link in the host's /tmp that another user made and that leads nowhere
 * (the policy follows the others): a mount cannot cover the link, and
 * would follow it wherever its owner points it by the time srt-init
 * mounts (a dangling one would stop the run). What it leads to keeps its
 * own rules. One of the user's own is followed, as anywhere else. */
static void test_deny_read_of_others_link_in_private_tmp(void **state)
{
	(void)state;
	if (geteuid() != 0)
		skip();
	mkfile("target");
	char target[512], theirs[512], mine[512];
	snprintf(target, sizeof(target), "%s/target", root);
	snprintf(theirs, sizeof(theirs), "%s/theirs", root);
	snprintf(mine, sizeof(mine), "%s/mine", root);
	assert_int_equal(symlink("/nonexistent/srt-test", theirs), 0);
	assert_int_equal(lchown(theirs, 65534, 65534), 0);
	assert_int_equal(symlink(target, mine), 0);
	struct mount_plan *plan = NULL;
	struct srt_error err = { 0 };
	assert_int_equal(plan_in("{\"filesystem\": {\"denyRead\": [\"ROOT/theirs\", \"ROOT/mine\"]}}", "/", &plan, &err), 0);
	assert_null(find_op(plan, "theirs"));
	assert_true(has_note(plan, "is a symbolic link of uid 65534 in the host's /tmp"));
	const struct mount_op *m = find_op(plan, "target");
	assert_non_null(m);
	assert_int_equal(m->kind, MOUNT_HIDE_FILE);
	mount_plan_free(plan);
}

/* The plan's text form: the private /tmp first, then the operations on
 * paths inside it, so that the overlay is there when the rules apply. */
static void test_private_tmp_comes_first_in_the_plan_text(void **state)
{
	(void)state;
	mkdirp("secret");
	mkdirp("proj");
	struct mount_plan *plan = NULL;
	struct srt_error err = { 0 };
	assert_int_equal(plan_in("{\"filesystem\": {\"denyRead\": [\"ROOT/secret\"], \"allowWrite\": [\"ROOT/proj\"]}}",
				 "/", &plan, &err), 0);
	int fd = -1;
	assert_int_equal(bwrap_write_plan(plan, &fd, &err), 0);
	char buf[8192];
	ssize_t n = pread(fd, buf, sizeof(buf), 0);
	close(fd);
	assert_true(n > 0);
	struct plan_record recs[64];
	long k = plan_parse(buf, (size_t)n, recs, 64);
	assert_true(k > 2);
	assert_int_equal(recs[0].op, 'T');
	assert_string_equal(recs[0].path, "/tmp");
	bool hid = false, bound = false;
	for (long i = 1; i < k; i++) {
		assert_int_not_equal(recs[i].op, 'T');
		if (recs[i].op == 'h' && strstr(recs[i].path, "/secret"))
			hid = true;
		if (recs[i].op == 'w' && strstr(recs[i].path, "/proj"))
			bound = true;
	}
	assert_true(hid && bound);
	/* Masked credential files: last, with their content in hex. */
	const struct bwrap_cover cv[] = { { .path = "/home/u/.netrc", .data = "pw \001\xff\n", .len = 6 },
					  { .path = "/e", .data = "", .len = 0 } };
	assert_int_equal(bwrap_write_plan_covers(plan, cv, 2, &fd, &err), 0);
	n = pread(fd, buf, sizeof(buf), 0);
	close(fd);
	long k2 = plan_parse(buf, (size_t)n, recs, 64);
	assert_int_equal(k2, k + 2);
	assert_int_equal(recs[k].op, 'C');
	assert_string_equal(recs[k].path, "/home/u/.netrc");
	assert_string_equal(recs[k].hex, "70772001ff0a");
	assert_string_equal(recs[k + 1].hex, "");
	assert_null(recs[0].hex);
	/* odd or non-hex content is refused */
	static const char odd[] = "C/x\0abc\0", upper[] = "C/x\0AB\0", none[] = "C/x\0";
	assert_int_equal(plan_parse(odd, sizeof(odd) - 1, recs, 64), -EINVAL);
	assert_int_equal(plan_parse(upper, sizeof(upper) - 1, recs, 64), -EINVAL);
	assert_int_equal(plan_parse(none, sizeof(none) - 1, recs, 64), -EINVAL);
	mount_plan_free(plan);
}

static void test_tmp_report_read_checks_every_length(void **state)
{
	(void)state;
	char p[64];
	int32_t status = 3;
	uint32_t err = 0, changed = 3;
	memcpy(p, &status, 4);
	memcpy(p + 4, &err, 4);
	memcpy(p + 8, &changed, 4);
	memcpy(p + 12, "/tmp/a\0/tmp/b\0/tmp/cut", 22); /* no NUL after the last */
	struct mount_tmp_report t;
	assert_int_equal(mount_tmp_report_read(p, 8, &t), -EINVAL); /* the status alone */
	assert_int_equal(mount_tmp_report_read(p, 12 + 22, &t), 0);
	assert_int_equal(t.changed, 3);
	size_t off = 0;
	assert_string_equal(mount_tmp_report_next(&t, &off), "/tmp/a");
	assert_string_equal(mount_tmp_report_next(&t, &off), "/tmp/b");
	/* Cut off by the payload's end: not returned. */
	assert_null(mount_tmp_report_next(&t, &off));
	assert_null(mount_tmp_report_next(&t, &off));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tmp_report_read_checks_every_length),
		cmocka_unit_test_setup_teardown(test_writable_root_protects_missing_names, setup, teardown),
		cmocka_unit_test_setup_teardown(test_existing_repo_gets_ro_hooks_and_no_anchors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_allow_git_config, setup, teardown),
		cmocka_unit_test_setup_teardown(test_deny_read_and_allow_read, setup, teardown),
		cmocka_unit_test_setup_teardown(test_symlinked_protected_name_protects_its_target, setup, teardown),
		cmocka_unit_test_setup_teardown(test_deny_write_inside_allow_write, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cwd_in_private_tmp_is_read_only, setup, teardown),
		cmocka_unit_test_setup_teardown(test_deny_read_missing_in_writable_folder, setup, teardown),
		cmocka_unit_test_setup_teardown(test_deny_write_missing_in_writable_folder, setup, teardown),
		cmocka_unit_test_setup_teardown(test_deny_read_dangling_link_in_writable_folder_fails_closed, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_deny_write_link_in_writable_folder_is_guarded, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rules_on_one_path_in_any_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_deny_read_root_fails_closed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_private_tmp_shows_the_hosts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_deny_read_in_private_tmp_is_hidden, setup, teardown),
		cmocka_unit_test_setup_teardown(test_allow_rules_in_private_tmp, setup, teardown),
		cmocka_unit_test_setup_teardown(test_deny_read_tmp_keeps_it_empty, setup, teardown),
		cmocka_unit_test_setup_teardown(test_deny_read_of_others_link_in_private_tmp, setup, teardown),
		cmocka_unit_test_setup_teardown(test_private_tmp_comes_first_in_the_plan_text, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
