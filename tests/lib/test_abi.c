/* The ABI can grow: every struct the caller passes starts with its size,
 * and the library reads exactly that much. A program built against an
 * older header (a struct without its last field) works, with that field at
 * its default, whatever lies in memory past its struct; one built against
 * a newer header (one more field) works while the new field is zero and
 * gets -E2BIG, naming the struct, when it is set. The other layouts are in
 * abi_layouts.h. The structs the library hands out say their size and are
 * walked by stride. */
#include "common.h"
#include "abi_layouts.h"

#include <jansson.h>
#include <sys/mman.h>

/* The other layouts share the current one's prefix: otherwise the cases
 * below would prove nothing. */
#define SAME_PREFIX(alt, cur, field) (offsetof(struct alt, field) == offsetof(struct cur, field))

static bool layouts_match(void)
{
	return SAME_PREFIX(newer_runtime_options, srt_runtime_options, cwd) &&
	       SAME_PREFIX(older_runtime_options, srt_runtime_options, home) &&
	       sizeof(struct older_runtime_options) < sizeof(struct srt_runtime_options) &&
	       sizeof(struct newer_runtime_options) > sizeof(struct srt_runtime_options) &&
	       SAME_PREFIX(newer_config, srt_config, network_mode) &&
	       SAME_PREFIX(older_config, srt_config, allow_unix_sockets) &&
	       sizeof(struct older_config) < sizeof(struct srt_config) &&
	       sizeof(struct newer_config) > sizeof(struct srt_config) &&
	       SAME_PREFIX(newer_sandbox_options, srt_sandbox_options, allow_unix_sockets) &&
	       SAME_PREFIX(older_sandbox_options, srt_sandbox_options, cwd) &&
	       sizeof(struct older_sandbox_options) < sizeof(struct srt_sandbox_options) &&
	       sizeof(struct newer_sandbox_options) > sizeof(struct srt_sandbox_options) &&
	       SAME_PREFIX(newer_execute_options, srt_execute_options, cancel) &&
	       SAME_PREFIX(older_execute_options, srt_execute_options, max_output) &&
	       sizeof(struct older_execute_options) < sizeof(struct srt_execute_options) &&
	       sizeof(struct newer_execute_options) > sizeof(struct srt_execute_options) &&
	       SAME_PREFIX(newer_platform_info, srt_platform_info, missing) &&
	       SAME_PREFIX(older_platform_info, srt_platform_info, jansson) &&
	       sizeof(struct older_platform_info) < sizeof(struct srt_platform_info) &&
	       sizeof(struct newer_platform_info) > sizeof(struct srt_platform_info);
}

static struct tree t;

/* An older struct in memory whose bytes past it are 0xff: a library that
 * read past size would take them for a pointer (and crash) or a flag. */
#define OLDER(type, name)                                   \
	union {                                             \
		struct type s;                              \
		unsigned char raw[sizeof(struct type) + 128]; \
	} name##_buf;                                       \
	memset(&name##_buf, 0xff, sizeof(name##_buf));      \
	memset(&name##_buf.s, 0, sizeof(name##_buf.s));     \
	struct type *name = &name##_buf.s;                  \
	name->size = sizeof(*name)

static bool names(const struct srt_error *e, const char *s)
{
	return strstr(e->message, s) != NULL;
}

static char *run_pwd(srt_runtime *rt, const struct srt_execute_options *o, int *r, struct srt_error *e)
{
	struct srt_result *res = NULL;
	memset(e, 0, sizeof(*e));
	*r = srt_runtime_execute_shell(rt, "pwd", o, &res, e);
	char *out = *r == 0 && res->out ? strdup(res->out) : NULL;
	srt_result_free(res);
	return out;
}

/* "filesystem.allowGitConfig" of the effective settings: 1, 0, or -1. */
static int git_config_allowed(srt_runtime *rt)
{
	char *text = NULL;
	struct srt_error e;
	if (srt_runtime_config_json(rt, &text, &e) < 0)
		return -1;
	json_t *root = json_loads(text, 0, NULL);
	free(text);
	json_t *v = json_object_get(json_object_get(root, "filesystem"), "allowGitConfig");
	int r = json_is_boolean(v) ? json_is_true(v) : -1;
	json_decref(root);
	return r;
}

static void runtime_options_cases(void)
{
	struct srt_error e;
	srt_runtime *rt = NULL;
	char want[400];
	snprintf(want, sizeof(want), "%s\n", t.proj);

	/* older: no cwd, so getcwd() (t.proj, where main went) */
	OLDER(older_runtime_options, old);
	old->home = t.home;
	old->observe = SRT_OBSERVE_WRITES;
	int r = srt_runtime_new_from_json("{}", NULL, (const struct srt_runtime_options *)old, &rt, &e);
	ok(r == 0, "srt_runtime_options of an older program (no cwd): accepted (%d %s)", r, e.message);
	int rr = -1;
	char *pwd = rt ? run_pwd(rt, NULL, &rr, &e) : NULL;
	ok(pwd && strcmp(pwd, want) == 0, "its cwd is the default, the current folder (\"%s\"), not the bytes past it",
	   pwd ? pwd : "");
	free(pwd);
	srt_runtime_free(rt);
	rt = NULL;

	struct newer_runtime_options nw = { .size = sizeof(nw), .home = t.home, .cwd = t.proj };
	r = srt_runtime_new_from_json("{}", NULL, (const struct srt_runtime_options *)&nw, &rt, &e);
	ok(r == 0 && rt, "srt_runtime_options of a newer program, its new field zero: accepted (%d)", r);
	srt_runtime_free(rt);
	rt = NULL;
	nw.future = 1;
	r = srt_runtime_new_from_json("{}", NULL, (const struct srt_runtime_options *)&nw, &rt, &e);
	ok(r == -E2BIG && !rt && names(&e, "srt_runtime_options"),
	   "its new field set: -E2BIG naming the struct (%d: \"%s\")", r, e.message);

	struct srt_runtime_options z = { .size = 0, .cwd = t.proj };
	r = srt_runtime_new_from_json("{}", NULL, &z, &rt, &e);
	ok(r == -EINVAL && !rt && names(&e, "srt_runtime_options.size"), "size 0: -EINVAL naming it (\"%s\")",
	   e.message);
	z.size = SRT_RUNTIME_OPTIONS_SIZE_VER0 - 1;
	r = srt_runtime_new_from_json("{}", NULL, &z, &rt, &e);
	ok(r == -EINVAL && !rt, "a size below SRT_RUNTIME_OPTIONS_SIZE_VER0: -EINVAL (%d)", r);
}

static void config_cases(srt_runtime *base_rt)
{
	struct srt_error e;
	srt_runtime *rt = NULL;
	struct srt_runtime_options o = tree_options(&t);

	/* older: no network_mode. The bytes past the older struct are
	 * 0xff: a library reading them would take them for a mode that
	 * does not exist (and refuse). Its own fields are read:
	 * allow_git_config. */
	OLDER(older_config, old);
	old->allow_git_config = true;
	int r = srt_runtime_new_from_config((const struct srt_config *)old, &o, &rt, &e);
	ok(r == 0 && git_config_allowed(rt) == 1,
	   "srt_config of an older program (no network_mode): accepted, its fields read (%d, %d)", r,
	   rt ? git_config_allowed(rt) : -2);
	srt_runtime_free(rt);
	rt = NULL;

	struct newer_config nw = { .size = sizeof(nw), .allow_git_config = true };
	r = srt_runtime_new_from_config((const struct srt_config *)&nw, &o, &rt, &e);
	ok(r == 0 && git_config_allowed(rt) == 1,
	   "srt_config of a newer program, its new field zero: accepted, its fields read (%d)", r);
	srt_runtime_free(rt);
	rt = NULL;
	nw.future = 0x100;
	r = srt_runtime_new_from_config((const struct srt_config *)&nw, &o, &rt, &e);
	ok(r == -E2BIG && !rt && names(&e, "srt_config"), "its new field set: -E2BIG naming srt_config (\"%s\")",
	   e.message);
	r = srt_runtime_reload_config(base_rt, (const struct srt_config *)&nw, &e);
	ok(r == -E2BIG && names(&e, "srt_config"), "reload_config too (%d)", r);
	struct srt_config z = { .size = 0 };
	r = srt_runtime_reload_config(base_rt, &z, &e);
	ok(r == -EINVAL && names(&e, "srt_config.size"), "size 0: -EINVAL naming it (\"%s\")", e.message);
}

static void sandbox_options_cases(srt_runtime *rt)
{
	struct srt_error e;
	char want[400];
	snprintf(want, sizeof(want), "%s\n", t.proj);

	OLDER(older_sandbox_options, old);
	struct srt_execute_options xo = { .size = sizeof(xo), .sandbox = (const struct srt_sandbox_options *)old };
	int r;
	char *pwd = run_pwd(rt, &xo, &r, &e);
	ok(r == 0 && pwd && strcmp(pwd, want) == 0,
	   "srt_sandbox_options of an older program (no allow_unix_sockets), cwd NULL: the runtime's folder "
	   "(\"%s\")", pwd ? pwd : e.message);
	free(pwd);

	struct newer_sandbox_options nw = { .size = sizeof(nw), .cwd = t.ro };
	xo.sandbox = (const struct srt_sandbox_options *)&nw;
	snprintf(want, sizeof(want), "%s\n", t.ro);
	pwd = run_pwd(rt, &xo, &r, &e);
	ok(r == 0 && pwd && strcmp(pwd, want) == 0,
	   "srt_sandbox_options of a newer program, its new field zero: its cwd is used (\"%s\")", pwd ? pwd : e.message);
	free(pwd);
	nw.future = 1;
	pwd = run_pwd(rt, &xo, &r, &e);
	ok(r == -E2BIG && !pwd && names(&e, "srt_sandbox_options"),
	   "its new field set: -E2BIG naming srt_sandbox_options (\"%s\")", e.message);
	free(pwd);
	char **argv = NULL;
	r = srt_runtime_wrap_shell(rt, "true", (const struct srt_sandbox_options *)&nw, &argv, NULL, &e);
	ok(r == -E2BIG && !argv, "wrap too (%d)", r);
	srt_argv_free(argv);
}

static void execute_options_cases(srt_runtime *rt)
{
	struct srt_error e;
	struct srt_result *res = NULL;

	/* older: no cancel (the bytes past it would be a wild pointer);
	 * the fields it has are honoured */
	OLDER(older_execute_options, old);
	old->max_output = 3;
	old->timeout_ms = 60000;
	int r = srt_runtime_execute_shell(rt, "echo hello", (const struct srt_execute_options *)old, &res, &e);
	ok(r == 0 && res->status == 0 && res->out_len == 3 && memcmp(res->out, "hel", 3) == 0 && res->out_truncated,
	   "srt_execute_options of an older program (no cancel): runs, with its fields (max_output 3: \"%s\")",
	   r == 0 ? res->out : e.message);
	result_clear(&res);

	char marker[400], cmd[600];
	snprintf(marker, sizeof(marker), "%s/abi-newer-ran", t.proj);
	snprintf(cmd, sizeof(cmd), "touch '%s'", marker);
	struct newer_execute_options nw = { .size = sizeof(nw), .max_output = 2 };
	r = srt_runtime_execute_shell(rt, "echo hello", (const struct srt_execute_options *)&nw, &res, &e);
	ok(r == 0 && res->out_len == 2 && memcmp(res->out, "he", 2) == 0,
	   "srt_execute_options of a newer program, its new field zero: runs, with its fields (%d)", r);
	result_clear(&res);
	nw.future = 1;
	r = srt_runtime_execute_shell(rt, cmd, (const struct srt_execute_options *)&nw, &res, &e);
	ok(r == -E2BIG && !res && names(&e, "srt_execute_options") && access(marker, F_OK) < 0,
	   "its new field set: -E2BIG naming srt_execute_options, nothing ran (\"%s\")", e.message);

	struct srt_execute_options z = { .size = 0 };
	r = srt_runtime_execute_shell(rt, cmd, &z, &res, &e);
	ok(r == -EINVAL && names(&e, "srt_execute_options.size") && access(marker, F_OK) < 0,
	   "size 0: -EINVAL naming it, nothing ran (\"%s\")", e.message);
}

static void platform_info_cases(void)
{
	/* older: the library writes no byte past its size */
	OLDER(older_platform_info, old);
	int r = srt_platform_info((struct srt_platform_info *)old);
	bool canary = true;
	for (size_t i = sizeof(*old); i < sizeof(old_buf); i++)
		canary = canary && old_buf.raw[i] == 0xff;
	ok(r == 0 && old->size == sizeof(*old) && strcmp(old->platform, "linux") == 0 && old->jansson[0],
	   "srt_platform_info of an older program (no missing): filled up to its size (size %zu)", old->size);
	ok(canary, "and not a byte past it");

	struct newer_platform_info nw;
	memset(&nw, 0x55, sizeof(nw));
	nw.size = sizeof(nw);
	r = srt_platform_info((struct srt_platform_info *)&nw);
	ok(r == 0 && nw.future == 0 && nw.size == sizeof(struct srt_platform_info) &&
		   strcmp(nw.platform, "linux") == 0 && strlen(nw.missing) < sizeof(nw.missing),
	   "srt_platform_info of a newer program: filled, the field it does not know zeroed, size says how far (%zu)",
	   nw.size);

	struct srt_platform_info z;
	memset(&z, 0, sizeof(z));
	ok(srt_platform_info(&z) == -EINVAL, "size 0: -EINVAL");
}

/* A struct whose size is garbage (larger than any layout will be): -E2BIG
 * before a byte past the size is read or written. Each struct ends a
 * readable page followed by an unmapped one, so that a library reading
 * or zeroing up to the size would crash. */
static void oversize_cases(srt_runtime *rt)
{
	long pg = sysconf(_SC_PAGESIZE);
	char *page = mmap(NULL, 2 * (size_t)pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (page == MAP_FAILED)
		die("mmap");
	munmap(page + pg, (size_t)pg);
	char *end = page + pg;
	struct srt_error e;
	srt_runtime *nrt = NULL;

	struct srt_config *c = (struct srt_config *)(end - sizeof(*c));
	memset(c, 0, sizeof(*c));
	c->size = sizeof(*c) + 4096;
	int r = srt_runtime_new_from_config(c, NULL, &nrt, &e);
	ok(r == -E2BIG && !nrt && names(&e, "srt_config"),
	   "srt_config.size past 4096 (the struct ends a page): -E2BIG naming it, nothing read past (\"%s\")", e.message);

	struct srt_execute_options *xo = (struct srt_execute_options *)(end - sizeof(*xo));
	memset(xo, 0, sizeof(*xo));
	xo->size = (size_t)1 << 40;
	struct srt_result *res = NULL;
	r = srt_runtime_execute_shell(rt, "true", xo, &res, &e);
	ok(r == -E2BIG && !res && names(&e, "srt_execute_options"),
	   "srt_execute_options.size of 2^40: -E2BIG naming it (\"%s\")", e.message);
	result_clear(&res);

	struct srt_platform_info *pi = (struct srt_platform_info *)(end - sizeof(*pi));
	memset(pi, 0, sizeof(*pi));
	pi->size = sizeof(*pi) + 4096;
	r = srt_platform_info(pi);
	ok(r == -E2BIG && pi->size == sizeof(*pi) + 4096 && pi->platform[0] == '\0',
	   "srt_platform_info with a size past 4096: -E2BIG, nothing written (%d)", r);
	munmap(page, (size_t)pg);

	/* The bound itself: 4096, zero past the library's struct, is read. */
	union {
		struct srt_runtime_options s;
		unsigned char raw[4096];
	} big;
	memset(&big, 0, sizeof(big));
	big.s = tree_options(&t);
	big.s.size = sizeof(big);
	r = srt_runtime_new_from_json("{}", NULL, &big.s, &nrt, &e);
	ok(r == 0 && nrt, "a size of exactly 4096, zero past the library's struct: accepted (%d %s)", r, e.message);
	srt_runtime_free(nrt);
}

/* ---- what the library hands out ----------------------------------------------- */

static int bad_sizes;

static void check_sizes(const struct srt_event *ev, void *data)
{
	(void)data;
	if (ev->size < sizeof(struct srt_event) ||
	    (ev->type == SRT_EVENT_VIOLATION && (!ev->violation || ev->violation->size < sizeof(struct srt_violation))))
		__atomic_add_fetch(&bad_sizes, 1, __ATOMIC_SEQ_CST);
}

static void handed_out_cases(srt_runtime *rt)
{
	struct srt_error e;
	struct srt_result *res = NULL;
	uint64_t token = 0;
	srt_runtime_subscribe(rt, check_sizes, NULL, &token);
	char cmd[1000];
	srt_runtime_clear_violations(rt);
	snprintf(cmd, sizeof(cmd), "echo a > '%s/one'; echo b > '%s/two'; exit 0", t.ro, t.ro);
	int r = srt_runtime_execute_shell(rt, cmd, NULL, &res, &e);
	ok(r == 0 && res->size >= sizeof(struct srt_result), "srt_result says its size (%zu)", r == 0 ? res->size : 0);
	result_clear(&res);
	char want[400];
	snprintf(want, sizeof(want), "%s/two", t.ro);
	find_violation(rt, SRT_VIOLATION_FILESYSTEM, 0, want, 5000, NULL);
	struct srt_violation_list *l = NULL;
	r = srt_runtime_violations(rt, SRT_VIOLATION_ANY, &l);
	bool walked = r == 0 && l && l->n >= 2 && l->stride >= sizeof(struct srt_violation);
	for (size_t i = 0; walked && i < l->n; i++) {
		const struct srt_violation *v = srt_violation_at(l, i);
		walked = v && v->size >= sizeof(struct srt_violation) && v->seq > 0 && v->target &&
			 (i == 0 || v->seq > srt_violation_at(l, i - 1)->seq);
	}
	ok(walked, "a violation list is walked with srt_violation_at, each element saying its size (%zu elements, "
		   "stride %zu)",
	   l ? l->n : 0, l ? l->stride : 0);
	ok(l && srt_violation_at(l, l->n) == NULL && srt_violation_at(NULL, 0) == NULL,
	   "srt_violation_at past the end or on NULL: NULL");
	srt_violation_list_free(l);
	srt_runtime_unsubscribe(rt, token);
	ok(bad_sizes == 0, "every event and its violation say their size (%d did not)", bad_sizes);
}

int main(void)
{
	plan(32);
	tree_make(&t);
	if (chdir(t.proj) < 0)
		die("chdir");
	ok(layouts_match(), "abi_layouts.h shares the header's prefixes (older: smaller, newer: larger)");
	struct srt_runtime_options o = tree_options(&t);
	struct srt_config cfg = { .size = sizeof(cfg) };
	srt_runtime *rt = runtime_new_or_bail(&cfg, &o);
	runtime_options_cases();
	config_cases(rt);
	sandbox_options_cases(rt);
	execute_options_cases(rt);
	platform_info_cases();
	oversize_cases(rt);
	handed_out_cases(rt);
	srt_runtime_free(rt);
	tree_remove(&t);
	return done_testing();
}
