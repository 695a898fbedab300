/* Unit tests: config -> policy, and the decisions it makes about paths and domains. */
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
#include "policy/netpolicy.h"
#include "policy/path.h"
#include "policy/policy.h"
#include "proxy/host.h"

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

static bool has_policy_note(const struct policy *p, const char *text)
{
	for (size_t i = 0; i < p->notes.n; i++)
		if (strstr(p->notes.v[i], text))
			return true;
	return false;
}

/* The writable root alone is scanned for the built-in names: below it the
 * write guard protects them at every depth when a command runs, so the
 * policy has no rule there, whatever mandatoryDenySearchDepth says. */
static void test_builtin_scan_looks_at_the_root_only(void **state)
{
	(void)state;
	char path[300];
	static const char *const dirs[] = { "sub", "sub/.git", "sub/.git/hooks", "a", "a/b", "a/b/.vscode" };
	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", root, dirs[i]);
		assert_int_equal(mkdir(path, 0755), 0);
	}
	snprintf(path, sizeof(path), "%s/sub/.bashrc", root);
	close(open(path, O_CREAT | O_WRONLY, 0644));
	static const char *const depths[] = { "", ", \"mandatoryDenySearchDepth\": 10" };
	for (size_t d = 0; d < 2; d++) {
		struct policy *p = NULL;
		struct srt_error err = { 0 };
		char json[512];
		snprintf(json, sizeof(json), "{\"filesystem\": {\"allowWrite\": [\"%s\"]}%s}", root, depths[d]);
		assert_int_equal(build(json, &p, &err), 0);
		/* The root's names, missing or not. */
		snprintf(path, sizeof(path), "%s/.bashrc", root);
		assert_false(policy_path_writable(p, path));
		snprintf(path, sizeof(path), "%s/.git/hooks", root);
		assert_false(policy_path_writable(p, path));
		/* Nothing below: no rule in sub or a. */
		char sub[300], a[300];
		snprintf(sub, sizeof(sub), "%s/sub", root);
		snprintf(a, sizeof(a), "%s/a", root);
		for (size_t i = 0; i < p->n_rules; i++)
			if (path_is_inside(p->rules[i].path, sub) || path_is_inside(p->rules[i].path, a))
				fail_msg("a rule below the root: %s (%s)", p->rules[i].path, p->rules[i].source);
		snprintf(path, sizeof(path), "%s/sub/.git/hooks/pre-commit", root);
		const struct policy_path_rule *r = policy_write_rule(p, path);
		assert_non_null(r);
		assert_int_equal(r->kind, POLICY_ALLOW_WRITE);
		/* The setting is accepted, and said to do nothing. */
		assert_int_equal(p->mandatory_deny_search_depth, d ? 10 : 3);
		assert_true(has_policy_note(p, "mandatoryDenySearchDepth (10) no longer limits anything") == (d == 1));
		assert_false(has_policy_note(p, "mandatoryDenySearchDepth (3)"));
		policy_free(p);
	}
}

static void test_allow_new_repositories_reaches_the_policy(void **state)
{
	(void)state;
	struct policy *p = NULL;
	struct srt_error err = { 0 };
	assert_int_equal(build("{}", &p, &err), 0);
	assert_false(p->allow_new_repositories);
	policy_free(p);
	assert_int_equal(build("{\"filesystem\": {\"allowNewRepositories\": true}}", &p, &err), 0);
	assert_true(p->allow_new_repositories);
	assert_false(p->allow_git_config);
	policy_free(p);
}

static void test_unix_socket_rules(void **state)
{
	(void)state;
	char json[1024], link[300], real[300];
	/* A link to a folder, as /var/run -> /run: an entry through it also
	 * matches the real path the sandbox resolves. */
	snprintf(real, sizeof(real), "%s/run", root);
	snprintf(link, sizeof(link), "%s/varrun", root);
	assert_int_equal(mkdir(real, 0755), 0);
	assert_int_equal(symlink(real, link), 0);
	snprintf(json, sizeof(json),
		 "{\"network\": {\"allowUnixSockets\": [\"%s/docker.sock\", \"%s/agents/**\", \"~/.gnupg/S.*\"]},"
		 " \"permissions\": {\"allow\": [\"UnixSocket(/srv/bus)\"]}}",
		 link, root);
	struct policy *p = NULL;
	struct srt_error err = { 0 };
	assert_int_equal(build(json, &p, &err), 0);
	assert_int_equal(p->n_unix_sockets, 4);
	char path[400];
	snprintf(path, sizeof(path), "%s/docker.sock", real);
	const struct policy_unix_rule *u = policy_unix_socket_rule(p, path);
	assert_non_null(u);
	assert_non_null(strstr(u->source, "network.allowUnixSockets[0]"));
	snprintf(path, sizeof(path), "%s/docker.sock", link);
	assert_non_null(policy_unix_socket_rule(p, path));
	snprintf(path, sizeof(path), "%s/docker.sock.evil", real);
	assert_null(policy_unix_socket_rule(p, path));
	/* DIR followed by slash-star-star covers every depth below DIR, not DIR's neighbours. */
	snprintf(path, sizeof(path), "%s/agents/a.sock", root);
	assert_non_null(policy_unix_socket_rule(p, path));
	snprintf(path, sizeof(path), "%s/agents/deep/er/b.sock", root);
	assert_non_null(policy_unix_socket_rule(p, path));
	snprintf(path, sizeof(path), "%s/agents-other/a.sock", root);
	assert_null(policy_unix_socket_rule(p, path));
	/* ~ and a glob in the last component */
	assert_non_null(policy_unix_socket_rule(p, "/home/u/.gnupg/S.gpg-agent"));
	assert_null(policy_unix_socket_rule(p, "/home/u/.gnupg/private/S.x"));
	/* the permission form */
	assert_non_null(policy_unix_socket_rule(p, "/srv/bus"));
	assert_null(policy_unix_socket_rule(p, "/srv/bus2"));
	policy_free(p);
	/* none listed: nothing matches */
	assert_int_equal(build("{}", &p, &err), 0);
	assert_null(policy_unix_socket_rule(p, "/run/docker.sock"));
	policy_free(p);
	/* a bad entry names its position */
	assert_int_not_equal(build("{\"network\": {\"allowUnixSockets\": [\"~nobody/x\"]}}", &p, &err), 0);
	assert_non_null(strstr(err.message, "network.allowUnixSockets[0]"));
	/* An entry through a link in a writable folder: a sandbox could have
	 * planted it to point the entry at another socket next time. */
	char w[300], planted[340];
	snprintf(w, sizeof(w), "%s/proj", root);
	snprintf(planted, sizeof(planted), "%s/sockets", w);
	assert_int_equal(mkdir(w, 0755), 0);
	assert_int_equal(symlink(real, planted), 0);
	snprintf(json, sizeof(json),
		 "{\"filesystem\": {\"allowWrite\": [\"%s\"]}, \"network\": {\"allowUnixSockets\": [\"%s/app.sock\"]}}",
		 w, planted);
	memset(&err, 0, sizeof(err));
	assert_int_equal(build(json, &p, &err), -ELOOP);
	assert_non_null(strstr(err.message, "network.allowUnixSockets"));
	assert_non_null(strstr(err.message, planted));
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


/* ---- policy_explain_path ------------------------------------------------ */

/* Outside /tmp: the private /tmp would change what the sandbox sees. */
static int setup_vartmp(void **state)
{
	(void)state;
	snprintf(root, sizeof(root), "/var/tmp/srt-test-explain-XXXXXX");
	assert_non_null(mkdtemp(root));
	return 0;
}

static void mkpath(const char *rel, bool dir)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", root, rel);
	if (dir)
		assert_int_equal(mkdir(path, 0755), 0);
	else
		close(open(path, O_CREAT | O_WRONLY, 0644));
}

static struct policy *build_fmt(const char *fmt)
{
	/* fmt's %s are all the root */
	char json[2048];
	snprintf(json, sizeof(json), fmt, root, root, root, root, root, root);
	struct policy *p = NULL;
	struct srt_error err = { 0 };
	int r = build(json, &p, &err);
	if (r < 0)
		fail_msg("build: %s", err.message);
	return p;
}

/* Explain root-relative (or absolute) path; check the verdict, that the
 * rule contains want_rule and the source want_source (NULL: the default). */
static void expect(const struct policy *p, const char *rel, bool write, bool allowed, const char *want_rule,
		   const char *want_source)
{
	char path[512];
	if (rel[0] == '/')
		snprintf(path, sizeof(path), "%s", rel);
	else
		snprintf(path, sizeof(path), "%s/%s", root, rel);
	struct policy_verdict v;
	assert_int_equal(policy_explain_path(p, path, write, &v), 0);
	if (v.allowed != allowed || !strstr(v.rule, want_rule) ||
	    (want_source ? !v.source || !strstr(v.source, want_source) : v.source != NULL))
		fail_msg("%s %s: got %s: %s (%s); want %s: ...%s... (%s)", write ? "write" : "read", path,
			 v.allowed ? "allowed" : "denied", v.rule, v.source ? v.source : "default",
			 allowed ? "allowed" : "denied", want_rule, want_source ? want_source : "default");
	assert_null(strchr(v.rule, '\n'));
	policy_verdict_clear(&v);
	assert_null(v.rule);
}

static void test_explain_defaults(void **state)
{
	(void)state;
	struct policy *p = build_fmt("{}");
	expect(p, "/etc/passwd", true, false, "no allowWrite entry covers /etc/passwd", NULL);
	expect(p, "/etc/passwd", false, true, "no denyRead entry covers /etc/passwd", NULL);
	expect(p, "/", true, false, "no allowWrite entry covers /", NULL);
	expect(p, "/tmp", true, true, "private /tmp (the host's /tmp read-only beneath it", "built-in");
	expect(p, "/tmp/a/b", true, true, "private /tmp (the host's /tmp read-only beneath it", "built-in");
	expect(p, "/tmp/a/b", false, true, "private /tmp", "built-in");
	/* The settings file srt loaded is protected wherever it is. */
	expect(p, "/etc/test-settings.json", true, false, "built-in protection: settings file", "built-in");
	struct policy_verdict v;
	assert_int_equal(policy_explain_path(p, "relative/path", false, &v), -EINVAL);
	assert_int_equal(policy_explain_path(p, "", true, &v), -EINVAL);
	policy_free(p);
	/* The host's /tmp shows beneath the private one: a denyRead there
	 * still hides what it names. */
	p = build_fmt("{\"filesystem\": {\"denyRead\": [\"/tmp/srt-test-secret\"]}}");
	expect(p, "/tmp/srt-test-secret", false, false, "denyRead: /tmp/srt-test-secret", "filesystem.denyRead[0]");
	expect(p, "/tmp/srt-test-other", false, true, "private /tmp", "built-in");
	policy_free(p);
}

static void test_explain_dev_and_proc(void **state)
{
	(void)state;
	/* Rules about /dev and /proc mean nothing there: they are the sandbox's own. */
	struct policy *p = build_fmt("{\"filesystem\": {\"denyWrite\": [\"/dev/null\"], \"denyRead\": [\"/proc/self\"]}}");
	expect(p, "/dev/null", true, true, "the sandbox's own device /dev/null", "built-in");
	expect(p, "/dev/tty", true, true, "device /dev/tty", "built-in");
	expect(p, "/dev/shm/x", true, true, "/dev/shm", "built-in");
	expect(p, "/dev/pts/0", true, true, "terminals", "built-in");
	expect(p, "/dev/sda", false, false, "not in the sandbox's own /dev", "built-in");
	expect(p, "/dev/sda", true, true, "the host's devices are not there", "built-in");
	expect(p, "/dev/.srt-connect", true, false, "proxy-connect helper", "built-in");
	expect(p, "/dev/.srt-connect", false, true, "proxy-connect helper", "built-in");
	expect(p, "/dev", false, true, "the sandbox's own /dev", "built-in");
	expect(p, "/proc/self/status", false, true, "the sandbox's own /proc", "built-in");
	expect(p, "/proc/self/comm", true, true, "a process's own entries", "built-in");
	expect(p, "/proc/1/comm", true, true, "a process's own entries", "built-in");
	expect(p, "/proc/sys/kernel/core_pattern", true, false, "kernel settings", "built-in");
	expect(p, "/proc/12x/comm", true, false, "kernel settings", "built-in");
	policy_free(p);
	p = build_fmt("{\"enableWeakerNestedSandbox\": true}");
	expect(p, "/proc/1/status", false, true, "the host's /proc (enableWeakerNestedSandbox)", "built-in");
	policy_free(p);
}

static void test_explain_allow_write(void **state)
{
	(void)state;
	mkpath("out", true);
	mkpath("out/sub", true);
	mkpath("out/frozen", true);
	mkpath("out/locked.txt", false);
	struct policy *p = build_fmt("{\"filesystem\": {\"allowWrite\": [\"./out\"],\n"
				     "  \"denyWrite\": [\"./out/frozen\", \"./out/locked.txt\", \"./out/later\"]}}");
	expect(p, "out/sub/new.txt", true, true, "allowWrite: ./out", "/etc/test-settings.json:1:");
	expect(p, "out/sub/new.txt", true, true, "allowWrite: ./out", "filesystem.allowWrite[0]");
	expect(p, "out", true, true, "allowWrite: ./out", "filesystem.allowWrite[0]");
	expect(p, "other.txt", true, false, "no allowWrite entry covers", NULL);
	/* denyWrite inside allowWrite: existing folder, existing file, missing path. */
	expect(p, "out/frozen/x", true, false, "denyWrite: ./out/frozen", "/etc/test-settings.json:2:");
	expect(p, "out/frozen/x", true, false, "denyWrite: ./out/frozen", "filesystem.denyWrite[0]");
	expect(p, "out/frozen", false, true, "allowWrite: ./out", "filesystem.allowWrite[0]");
	expect(p, "out/locked.txt", true, false, "denyWrite: ./out/locked.txt", "filesystem.denyWrite[1]");
	expect(p, "out/later", true, false, "denyWrite: ./out/later", "filesystem.denyWrite[2]");
	expect(p, "out/later/deeper", true, false, "denyWrite: ./out/later", "filesystem.denyWrite[2]");
	policy_free(p);
}

static void test_explain_deny_read_and_allow_read(void **state)
{
	(void)state;
	mkpath("secret", true);
	mkpath("secret/pub", true);
	mkpath("secret/pub/inner", true);
	mkpath("key.pem", false);
	struct policy *p = build_fmt("{\"filesystem\": {\n"
				     "\"denyRead\": [\"./secret\", \"./key.pem\", \"./secret/pub/inner\", \"./nothere\"],\n"
				     "\"allowRead\": [\"./secret/pub\"]}}");
	expect(p, "secret/id_rsa", false, false, "denyRead: ./secret", "filesystem.denyRead[0]");
	expect(p, "secret", false, false, "denyRead: ./secret", "/etc/test-settings.json:2:");
	expect(p, "secret/id_rsa", true, false, "denyRead: ./secret", "filesystem.denyRead[0]");
	expect(p, "key.pem", false, false, "denyRead: ./key.pem", "filesystem.denyRead[1]");
	expect(p, "key.pem", true, false, "denyRead: ./key.pem", "filesystem.denyRead[1]");
	expect(p, "secret/pub/known_hosts", false, true, "allowRead: ./secret/pub", "filesystem.allowRead[0]");
	expect(p, "secret/pub/known_hosts", true, false, "denyRead: ./secret", "filesystem.denyRead[0]");
	expect(p, "secret/pub/inner/x", false, false, "denyRead: ./secret/pub/inner", "filesystem.denyRead[2]");
	/* Missing, in a read-only place: nothing can appear there. */
	expect(p, "nothere", false, false, "denyRead: ./nothere", "filesystem.denyRead[3]");
	expect(p, "elsewhere", false, true, "no denyRead entry covers", NULL);
	policy_free(p);
}

static void test_explain_builtin_protection(void **state)
{
	(void)state;
	mkpath("proj", true);
	mkpath("proj/.vscode", true);
	mkpath("repo", true);
	mkpath("repo/.git", true);
	mkpath("wt", true);
	mkpath("wt/.git", false); /* a worktree: .git is a file */
	struct policy *p = build_fmt("{\"filesystem\": {\"allowWrite\": [\"%s/proj\", \"%s/repo\", \"%s/wt\"]}}");
	expect(p, "proj/.bashrc", true, false, "built-in protection: .bashrc (shell startup file)", "built-in");
	expect(p, "proj/.bashrc", false, true, "allowWrite: ", "filesystem.allowWrite[0]");
	expect(p, "proj/.vscode/settings.json", true, false, "built-in protection: .vscode (editor settings)",
	       "built-in");
	expect(p, "proj/.git/hooks/pre-commit", true, false, "built-in protection: .git/hooks (git hooks)",
	       "built-in");
	/* .git does not exist: its protected parts are still named (nothing
	 * is mounted for them: the write guard refuses creating them, and
	 * creating .git itself, at run time; see test_guard.c). */
	expect(p, "proj/.git/hooks", true, false, "built-in protection: .git/hooks (git hooks)", "built-in");
	expect(p, "proj/.git/config", true, false, "built-in protection: .git/config", "built-in");
	expect(p, "proj/src/main.c", true, true, "allowWrite: ", "filesystem.allowWrite[0]");
	/* An existing .git: only the protected parts. */
	expect(p, "repo/.git/objects/ab", true, true, "allowWrite: ", "filesystem.allowWrite[1]");
	expect(p, "repo/.git/config", true, false, "built-in protection: .git/config", "built-in");
	/* A .git file: no folder below it, no mount; the write guard refuses
	 * rewriting it at run time (test_guard.c). What would be below it
	 * stays named. */
	expect(p, "wt/.git/hooks/post-checkout", true, false, "built-in protection: .git/hooks", "built-in");
	expect(p, "wt/other", true, true, "allowWrite: ", "filesystem.allowWrite[2]");
	policy_free(p);

	p = build_fmt("{\"filesystem\": {\"allowWrite\": [\"%s/repo\"], \"allowGitConfig\": true}}");
	expect(p, "repo/.git/config", true, true, "allowWrite: ", "filesystem.allowWrite[0]");
	policy_free(p);
}

static void test_explain_rules_without_effect(void **state)
{
	(void)state;
	mkpath("w", true);
	struct policy *p = build_fmt("{\"filesystem\": {\"allowWrite\": [\"./out\", \"./w\", \"./none/out\"],"
				     " \"denyRead\": [\"./w/secret\"]}}");
	/* allowWrite of a missing folder whose parent is there: made when a
	 * command runs (explain makes nothing). */
	expect(p, "out/x", true, true, "does not exist yet; srt creates it when a command runs",
	       "filesystem.allowWrite[0]");
	char made[512];
	snprintf(made, sizeof(made), "%s/out", root);
	assert_int_equal(access(made, F_OK), -1);
	/* Its parent missing too: no effect. */
	expect(p, "none/out/x", true, false, "allowWrite: ./none/out has no effect", "filesystem.allowWrite[2]");
	expect(p, "none/out/x", true, false, "does not exist", "filesystem.allowWrite[2]");
	policy_free(p);
}

static void test_explain_missing_deny_read_in_writable_folder(void **state)
{
	(void)state;
	mkpath("w", true);
	struct policy *p = build_fmt("{\"filesystem\": {\"allowWrite\": [\"./w\"],"
				     " \"denyRead\": [\"./w/secret\", \"./w/new/deep/key\"]}}");
	/* Missing: the write guard refuses its creation, so the command can
	 * neither read nor create it. */
	expect(p, "w/secret", false, false, "denyRead: ./w/secret", "filesystem.denyRead[0]");
	expect(p, "w/secret", true, false, "denyRead: ./w/secret", "filesystem.denyRead[0]");
	expect(p, "w/secret/x", true, false, "denyRead: ./w/secret", "filesystem.denyRead[0]");
	/* The missing folders on its way are not held: the command may make
	 * them and write beside the denied path (the guard refuses moving
	 * them away or making them links once they hold it). */
	expect(p, "w/new/x", true, true, "allowWrite: ./w", "filesystem.allowWrite[0]");
	expect(p, "w/new/deep/other", true, true, "allowWrite: ./w", "filesystem.allowWrite[0]");
	expect(p, "w/new/deep/key", false, false, "denyRead: ./w/new/deep/key", "filesystem.denyRead[1]");
	expect(p, "w/new/deep/key", true, false, "denyRead: ./w/new/deep/key", "filesystem.denyRead[1]");
	expect(p, "w/other", true, true, "allowWrite: ./w", "filesystem.allowWrite[0]");
	policy_free(p);
}

static void test_deny_read_root_is_refused(void **state)
{
	(void)state;
	static const char *const entries[] = { "/", "/..", "//", "/tmp/.." };
	for (size_t i = 0; i < sizeof(entries) / sizeof(entries[0]); i++) {
		char json[256];
		snprintf(json, sizeof(json), "{\"filesystem\": {\"denyRead\": [\"/home/u/.ssh\",\n  \"%s\"]}}",
			 entries[i]);
		struct policy *p = NULL;
		struct srt_error err = { 0 };
		int r = build(json, &p, &err);
		assert_int_equal(r, -EINVAL);
		assert_null(p);
		char want[256];
		snprintf(want, sizeof(want), "/etc/test-settings.json:2:3: filesystem.denyRead[1]: denyRead '%s'",
			 entries[i]);
		if (!strstr(err.message, want) || !strstr(err.message, "would hide the whole file system"))
			fail_msg("%s: %s", entries[i], err.message);
	}
	/* Through a link to it. */
	char link[300], json[600];
	snprintf(link, sizeof(link), "%s/rootlink", root);
	assert_int_equal(symlink("/", link), 0);
	snprintf(json, sizeof(json), "{\"filesystem\": {\"denyRead\": [\"%s\"]}}", link);
	struct policy *p = NULL;
	struct srt_error err = { 0 };
	assert_int_equal(build(json, &p, &err), -EINVAL);
	assert_non_null(strstr(err.message, "would hide the whole file system"));
	/* Other rules about "/" stay accepted. */
	assert_int_equal(build("{\"filesystem\": {\"allowRead\": [\"/\"], \"denyWrite\": [\"/\"]}}", &p, &err), 0);
	policy_free(p);
}

static void test_explain_private_tmp(void **state)
{
	(void)state;
	/* root is in /tmp here. */
	mkpath("proj", true);
	mkpath("ro", true);
	mkpath("ro/f", false);
	struct policy *p = build_fmt("{\"filesystem\": {\"allowWrite\": [\"%s/proj\"], \"allowRead\": [\"%s/ro\"],"
				     " \"denyWrite\": [\"/tmp/foo\"]}}");
	expect(p, "proj/a", true, true, "allowWrite: ", "filesystem.allowWrite[0]");
	expect(p, "proj/.bashrc", true, false, "built-in protection: .bashrc", "built-in");
	expect(p, "ro/f", false, true, "allowRead: ", "filesystem.allowRead[0]");
	/* the current folder (root) was brought in read-only first */
	expect(p, "ro/f", true, false, ", read-only", "built-in");
	/* Everything else in /tmp is the sandbox's own, whatever the rules say. */
	expect(p, "/tmp/foo", true, true, "private /tmp (the host's /tmp read-only beneath it", "built-in");
	expect(p, "/tmp/elsewhere/x", true, true, "private /tmp", "built-in");
	policy_free(p);

	p = build_fmt("{\"filesystem\": {\"allowWrite\": [\"/tmp\"]}}");
	expect(p, "/tmp/x", true, true, "allowWrite: /tmp", "filesystem.allowWrite[0]");
	expect(p, "/tmp/.bashrc", true, false, "built-in protection: .bashrc", "built-in");
	policy_free(p);
}

static void test_explain_cwd_in_private_tmp(void **state)
{
	(void)state;
	/* build() runs with root (in /tmp) as the current folder. */
	struct policy *p = build_fmt("{}");
	expect(p, "file", false, true, "the current folder", "built-in");
	expect(p, "file", true, false, "the current folder (the host's, inside the private /tmp), read-only",
	       "built-in");
	policy_free(p);
}

static void test_net_decision_by_default(void **state)
{
	(void)state;
	struct policy *p = build_fmt("{\"network\": {\"allowedDomains\": [\"good.test\"], \"deniedDomains\": [\"evil.test\"]}}");
	struct config cfg;
	config_init(&cfg);
	struct net_policy *np = NULL;
	struct srt_error err = { 0 };
	assert_int_equal(net_policy_build(p, &cfg, &np, &err), 0);
	struct proxy_host h;
	struct net_decision d;
	assert_int_equal(proxy_host_canonical("other.test", 10, &h, NULL), 0);
	net_policy_decide(np, &h, 443, &d);
	assert_int_equal(d.verdict, NET_DENY);
	assert_true(d.by_default);
	assert_null(d.rule_source);
	assert_int_equal(proxy_host_canonical("evil.test", 9, &h, NULL), 0);
	net_policy_decide(np, &h, 443, &d);
	assert_int_equal(d.verdict, NET_DENY);
	assert_false(d.by_default);
	assert_int_equal(proxy_host_canonical("good.test", 9, &h, NULL), 0);
	net_policy_decide(np, &h, 443, &d);
	assert_int_equal(d.verdict, NET_ALLOW);
	assert_false(d.by_default);
	net_policy_free(np);
	config_free(&cfg);
	policy_free(p);
}

/* ---- symbolic links a sandbox could have planted ------------------------ */

static void lnpath(const char *target, const char *rel)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", root, rel);
	assert_int_equal(symlink(target, path), 0);
}

/* Build from settings text with every %s replaced by the root; returns
 * the result of policy_build, err filled. file_name: when not NULL, the
 * settings are taken as loaded from a file of that name (as config_load
 * records it), real_name being its resolved path. */
static int build_named(const char *fmt, const char *file_name, const char *real_name, struct policy **ret,
		       struct srt_error *err)
{
	char json[2048];
	snprintf(json, sizeof(json), fmt, root, root, root, root, root, root);
	struct config cfg;
	config_init(&cfg);
	int r = config_parse_text(&cfg, real_name ? real_name : "/etc/test-settings.json", json, strlen(json),
				  CONFIG_ORIGIN_USER, true, err);
	if (r == 0 && file_name)
		assert_int_equal(strv_push(&cfg.file_names, file_name), 0);
	if (r == 0) {
		struct policy_env env = { .home = "/home/u", .cwd = root };
		r = policy_build(&cfg, &env, ret, err);
	}
	config_free(&cfg);
	return r;
}

static bool writable_at(const struct policy *p, const char *rel)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", root, rel);
	return policy_path_writable(p, path);
}

static bool readable_at(const struct policy *p, const char *rel)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", root, rel);
	return policy_path_readable(p, path);
}

static void test_allow_write_through_planted_link_is_refused(void **state)
{
	(void)state;
	struct policy *p = NULL;
	struct srt_error err = { 0 };
	char want[600];
	lnpath("/etc", "dist");
	int r = build_named("{\"filesystem\": {\"allowWrite\": [\".\", \"./dist\"]}}", NULL, NULL, &p, &err);
	assert_int_equal(r, -ELOOP);
	/* the entry, with file, line, column and key; the link, where it
	 * points, the writable folder it lies in, and what to do */
	assert_non_null(strstr(err.message, "/etc/test-settings.json:1:"));
	assert_non_null(strstr(err.message, "filesystem.allowWrite[1]: allowWrite './dist'"));
	snprintf(want, sizeof(want), "symbolic link %s/dist (-> /etc)", root);
	assert_non_null(strstr(err.message, want));
	snprintf(want, sizeof(want), "writable folder %s (allowWrite '.'", root);
	assert_non_null(strstr(err.message, want));
	assert_non_null(strstr(err.message, "Remove the link"));

	/* A dangling link is no better: it leads where a write would land. */
	lnpath("missing/sub", "dangling");
	memset(&err, 0, sizeof(err));
	r = build_named("{\"filesystem\": {\"allowWrite\": [\"%s\", \"%s/dangling/x\"]}}", NULL, NULL, &p, &err);
	assert_int_equal(r, -ELOOP);
	assert_non_null(strstr(err.message, "dangling (-> missing/sub)"));
}

static void test_allow_write_link_outside_writable_folders_is_fine(void **state)
{
	(void)state;
	struct policy *p = NULL;
	struct srt_error err = { 0 };
	mkpath("real", true);
	lnpath("real", "alias");
	/* /home/u/proj -> /data/proj with /home/u not writable */
	assert_int_equal(build_named("{\"filesystem\": {\"allowWrite\": [\"%s/alias\"]}}", NULL, NULL, &p, &err), 0);
	assert_true(writable_at(p, "real/x"));
	policy_free(p);
	/* The same through another writable folder than the one the link is in. */
	mkpath("w", true);
	assert_int_equal(build_named("{\"filesystem\": {\"allowWrite\": [\"%s/w\", \"%s/alias/sub\"]}}", NULL, NULL,
				     &p, &err), 0);
	policy_free(p);
	/* A link reached through such an alias, but lying in a writable
	 * folder, is refused all the same. */
	lnpath("/etc", "real/dist");
	int r = build_named("{\"filesystem\": {\"allowWrite\": [\"%s/alias\", \"%s/alias/dist\"]}}", NULL, NULL,
			    &p, &err);
	assert_int_equal(r, -ELOOP);
	assert_non_null(strstr(err.message, "real/dist (-> /etc)"));
}

static void test_deny_entries_through_planted_link_are_refused(void **state)
{
	(void)state;
	struct policy *p = NULL;
	struct srt_error err = { 0 };
	mkpath("proj", true);
	mkpath("secrets", true);
	mkpath("secrets/k", false);
	lnpath("../secrets", "proj/sec");
	lnpath("../secrets/k", "proj/a.key");
	static const char *const cases[] = {
		"{\"filesystem\": {\"allowWrite\": [\"%s/proj\"], \"denyRead\": [\"%s/proj/sec\"]}}",
		"{\"filesystem\": {\"allowWrite\": [\"%s/proj\"], \"denyWrite\": [\"%s/proj/sec\"]}}",
		"{\"filesystem\": {\"allowWrite\": [\"%s/proj\"], \"allowRead\": [\"%s/proj/sec\"]}}",
		"{\"filesystem\": {\"allowWrite\": [\"%s/proj\"], \"denyRead\": [\"%s/proj/*.key\"]}}",
	};
	static const char *const keys[] = { "denyRead[0]: denyRead", "denyWrite[0]: denyWrite",
					    "allowRead[0]: allowRead", "denyRead[0]: denyRead '" };
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memset(&err, 0, sizeof(err));
		int r = build_named(cases[i], NULL, NULL, &p, &err);
		assert_int_equal(r, -ELOOP);
		assert_non_null(strstr(err.message, keys[i]));
		assert_non_null(strstr(err.message, "symbolic link"));
	}
	/* With nothing writable, nothing could have planted the link. */
	assert_int_equal(build_named("{\"filesystem\": {\"denyRead\": [\"%s/proj/sec\"]}}", NULL, NULL, &p, &err), 0);
	assert_false(readable_at(p, "secrets/k"));
	policy_free(p);
}

static void test_protected_name_links_protect_their_targets(void **state)
{
	(void)state;
	struct policy *p = NULL;
	struct srt_error err = { 0 };
	mkpath("proj", true);
	mkpath("proj/realgit", true);
	mkpath("proj/realgit/hooks", true);
	mkpath("proj/cl", true);
	mkpath("proj/sub", true);
	lnpath("realgit", "proj/.git");
	lnpath("nowhere", "proj/.vscode");
	lnpath("/etc/hostname", "proj/.bashrc");
	lnpath("cl", "proj/.claude");
	lnpath("loop", "proj/loop");
	lnpath("loop", "proj/.zshrc");
	/* another user's link (a shared /tmp): not followed */
	lnpath("foreign", "proj/.idea");
	char idea[512];
	snprintf(idea, sizeof(idea), "%s/proj/.idea", root);
	bool chowned = geteuid() == 0 && lchown(idea, 12345, 12345) == 0;
	/* srt runs */
	int r = build_named("{\"filesystem\": {\"allowWrite\": [\"%s/proj\"]}}", NULL, NULL, &p, &err);
	if (r < 0)
		fail_msg("build: %s", err.message);
	/* .git -> realgit: realgit's hooks and config, as for a real .git */
	assert_false(writable_at(p, "proj/realgit/hooks/pre-commit"));
	assert_false(writable_at(p, "proj/realgit/config"));
	assert_true(writable_at(p, "proj/realgit/HEAD"));
	/* a dangling .vscode: where it leads is held */
	assert_false(writable_at(p, "proj/nowhere"));
	assert_false(writable_at(p, "proj/nowhere/tasks.json"));
	/* .claude -> cl: cl's commands and agents, as for a real .claude */
	assert_false(writable_at(p, "proj/cl/commands/x.md"));
	assert_false(writable_at(p, "proj/cl/agents/x.md"));
	assert_true(writable_at(p, "proj/cl/other"));
	assert_true(writable_at(p, "proj/foreign") == chowned);
	/* outside every writable folder: nothing to add; no rule is a link */
	assert_null(policy_write_rule(p, "/etc/hostname"));
	for (size_t i = 0; i < p->n_rules; i++)
		assert_false(p->rules[i].is_symlink);
	/* explain names the link */
	char path[512];
	snprintf(path, sizeof(path), "%s/proj/realgit/hooks/pre-commit", root);
	struct policy_verdict v;
	assert_int_equal(policy_explain_path(p, path, true, &v), 0);
	assert_false(v.allowed);
	assert_non_null(strstr(v.rule, "built-in protection"));
	assert_non_null(strstr(v.rule, "/proj/.git leads"));
	policy_verdict_clear(&v);
	policy_free(p);

	/* allowGitConfig lifts the config the link leads to, not the hooks */
	assert_int_equal(build_named("{\"filesystem\": {\"allowWrite\": [\"%s/proj\"], \"allowGitConfig\": true}}",
				     NULL, NULL, &p, &err), 0);
	assert_true(writable_at(p, "proj/realgit/config"));
	assert_false(writable_at(p, "proj/realgit/hooks/pre-commit"));
	policy_free(p);
}

static void test_settings_file_links(void **state)
{
	(void)state;
	struct policy *p = NULL;
	struct srt_error err = { 0 };
	char name[512], real[512];
	mkpath("home", true);
	mkpath("home/dotfiles", true);
	mkpath("home/dotfiles/srt.json", false);
	mkpath("home/plain.json", false);
	lnpath("dotfiles/srt.json", "home/.srt-settings.json");
	lnpath("home/dotfiles/srt.json", "outlink.json");
	snprintf(real, sizeof(real), "%s/home/dotfiles/srt.json", root);
	const char *json = "{\"filesystem\": {\"allowWrite\": [\"%s/home\"]}}";

	/* A link in a writable folder: the sandbox could repoint it. */
	snprintf(name, sizeof(name), "%s/home/.srt-settings.json", root);
	int r = build_named(json, name, real, &p, &err);
	assert_int_equal(r, -ELOOP);
	assert_non_null(strstr(err.message, "settings file"));
	assert_non_null(strstr(err.message, ".srt-settings.json (-> dotfiles/srt.json)"));
	assert_non_null(strstr(err.message, "Replace the link"));

	/* A link outside: fine, and the file it leads to is read-only. */
	snprintf(name, sizeof(name), "%s/outlink.json", root);
	assert_int_equal(build_named(json, name, real, &p, &err), 0);
	assert_false(writable_at(p, "home/dotfiles/srt.json"));
	assert_true(writable_at(p, "home/dotfiles/other.json"));
	policy_free(p);

	/* A plain file in a writable folder is read-only. */
	snprintf(name, sizeof(name), "%s/home/plain.json", root);
	assert_int_equal(build_named(json, name, name, &p, &err), 0);
	assert_false(writable_at(p, "home/plain.json"));
	policy_free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_defaults, setup, teardown),
		cmocka_unit_test_setup_teardown(test_most_specific_rule_wins, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tie_goes_to_deny, setup, teardown),
		cmocka_unit_test_setup_teardown(test_relative_and_home_paths, setup, teardown),
		cmocka_unit_test_setup_teardown(test_writable_root_gets_builtin_protection, setup, teardown),
		cmocka_unit_test_setup_teardown(test_builtin_scan_looks_at_the_root_only, setup, teardown),
		cmocka_unit_test_setup_teardown(test_allow_new_repositories_reaches_the_policy, setup, teardown),
		cmocka_unit_test_setup_teardown(test_glob_expands_existing_matches, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_domain_names_its_position, setup, teardown),
		cmocka_unit_test_setup_teardown(test_allow_write_glob_is_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_explain_defaults, setup_vartmp, teardown),
		cmocka_unit_test_setup_teardown(test_explain_dev_and_proc, setup_vartmp, teardown),
		cmocka_unit_test_setup_teardown(test_explain_allow_write, setup_vartmp, teardown),
		cmocka_unit_test_setup_teardown(test_explain_deny_read_and_allow_read, setup_vartmp, teardown),
		cmocka_unit_test_setup_teardown(test_explain_builtin_protection, setup_vartmp, teardown),
		cmocka_unit_test_setup_teardown(test_explain_rules_without_effect, setup_vartmp, teardown),
		cmocka_unit_test_setup_teardown(test_explain_missing_deny_read_in_writable_folder, setup_vartmp, teardown),
		cmocka_unit_test_setup_teardown(test_deny_read_root_is_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_explain_private_tmp, setup, teardown),
		cmocka_unit_test_setup_teardown(test_explain_cwd_in_private_tmp, setup, teardown),
		cmocka_unit_test_setup_teardown(test_net_decision_by_default, setup_vartmp, teardown),
		cmocka_unit_test_setup_teardown(test_allow_write_through_planted_link_is_refused, setup_vartmp, teardown),
		cmocka_unit_test_setup_teardown(test_allow_write_link_outside_writable_folders_is_fine, setup_vartmp,
						teardown),
		cmocka_unit_test_setup_teardown(test_deny_entries_through_planted_link_are_refused, setup_vartmp, teardown),
		cmocka_unit_test_setup_teardown(test_protected_name_links_protect_their_targets, setup_vartmp, teardown),
		cmocka_unit_test_setup_teardown(test_settings_file_links, setup_vartmp, teardown),
		cmocka_unit_test_setup_teardown(test_unix_socket_rules, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
