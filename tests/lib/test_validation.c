/* Arguments the library refuses, and the codes sandbox_runtime(3) lists
 * under ERRORS. A bad argument (an enum value outside its enum, a relative
 * or missing folder, a NULL pointer) returns its negative errno with a
 * message naming the argument and its value, and changes nothing: no
 * runtime, no sandbox, no out-parameter written, no settings replaced. A
 * success after a failure leaves struct srt_error cleared.
 *
 * documented[] lists every (function, code) pair of the manual's ERRORS
 * section (tests/api/check_api.py fails when the two differ) and provokes
 * each one a test can; the others say why they cannot be. */
#include "common.h"

#include <signal.h>
#include <sys/wait.h>

/* What the cases share: a tree, a runtime of it, paths that are wrong in
 * each way the library must notice. */
struct ctx {
	struct tree t;
	struct srt_runtime_options opts;
	srt_runtime *rt;           /* sandboxing enabled, writes to proj/ */
	srt_runtime *off;          /* sandbox.enabled: false */
	char settings[400];        /* valid settings */
	char file[400];            /* a regular file, not a folder */
	char under_file[420];      /* file/x: a path through a file */
	char missing[400];         /* nothing there */
	char locked[400];          /* a folder of mode 0 */
	char behind_lock[420];     /* locked/inner: not searchable unless root */
	char unreadable[400];      /* settings of mode 0 */
	bool root;
};

static void error_stale(struct srt_error *e)
{
	e->code = -12345;
	snprintf(e->message, sizeof(e->message), "stale message");
}

static bool error_cleared(const struct srt_error *e)
{
	return e->code == 0 && e->message[0] == '\0';
}

/* A refused call: the code wanted, err.code the same, and each of the
 * words (NULL-terminated) in the message. */
static bool refused(const char *what, int r, int want, const struct srt_error *e, ...)
{
	bool good = r == want && (!e || e->code == r);
	va_list ap;
	va_start(ap, e);
	for (const char *w; e && (w = va_arg(ap, const char *));)
		if (!strstr(e->message, w)) {
			diag("the message lacks \"%s\"", w);
			good = false;
		}
	va_end(ap);
	return ok(good, "%s: %d (want %d): \"%s\"", what, r, want, e ? e->message : "(no struct srt_error)");
}

/* ---- provoking the documented codes ------------------------------------------ */

/* Each returns the code of one call that should fail with it. *skip, when
 * set, says why this run cannot provoke it (permissions do not stop root). */
typedef int (*provoke_fn)(struct ctx *c, struct srt_error *e, const char **skip);

#define AS_ROOT_SKIP                                                                                     \
	do {                                                                                             \
		if (c->root) {                                                                           \
			*skip = "root searches and reads whatever the mode";                            \
			return 0;                                                                        \
		}                                                                                        \
	} while (0)

static int p_platform_null(struct ctx *c, struct srt_error *e, const char **skip)
{
	(void)c, (void)e, (void)skip;
	return srt_platform_info(NULL);
}

static int p_platform_e2big(struct ctx *c, struct srt_error *e, const char **skip)
{
	(void)c, (void)e, (void)skip;
	/* A size past the bound is refused before anything is written. */
	static struct srt_platform_info info;
	info.size = 4097;
	return srt_platform_info(&info);
}

/* srt_runtime_new_* with opts->cwd set to path. */
enum new_form { NEW_FILE, NEW_JSON, NEW_CONFIG };

static int new_with_cwd(struct ctx *c, enum new_form f, const char *cwd, struct srt_error *e)
{
	struct srt_runtime_options o = c->opts;
	o.cwd = cwd;
	srt_runtime *rt = NULL;
	int r = f == NEW_FILE ? srt_runtime_new_from_file(c->settings, &o, &rt, e)
		: f == NEW_JSON ? srt_runtime_new_from_json("{}", NULL, &o, &rt, e)
				: srt_runtime_new_from_config(&(struct srt_config){ .size = sizeof(struct srt_config) }, &o, &rt, e);
	srt_runtime_free(rt);
	return r;
}

static int p_new_file_einval(struct ctx *c, struct srt_error *e, const char **skip)
{
	(void)skip;
	struct srt_runtime_options o = c->opts;
	o.observe = (enum srt_observe)42;
	srt_runtime *rt = NULL;
	int r = srt_runtime_new_from_file(c->settings, &o, &rt, e);
	srt_runtime_free(rt);
	return r;
}

static int p_new_file_enoent(struct ctx *c, struct srt_error *e, const char **skip)
{
	(void)skip;
	srt_runtime *rt = NULL;
	int r = srt_runtime_new_from_file(c->missing, &c->opts, &rt, e);
	srt_runtime_free(rt);
	return r;
}

static int p_new_file_enotdir(struct ctx *c, struct srt_error *e, const char **skip)
{
	(void)skip;
	return new_with_cwd(c, NEW_FILE, c->file, e);
}

static int p_new_file_eacces(struct ctx *c, struct srt_error *e, const char **skip)
{
	AS_ROOT_SKIP;
	srt_runtime *rt = NULL;
	int r = srt_runtime_new_from_file(c->unreadable, &c->opts, &rt, e);
	srt_runtime_free(rt);
	return r;
}

static int p_new_json_einval(struct ctx *c, struct srt_error *e, const char **skip)
{
	(void)skip;
	srt_runtime *rt = NULL;
	int r = srt_runtime_new_from_json("{\"filesystem\": ", "truncated", &c->opts, &rt, e);
	srt_runtime_free(rt);
	return r;
}

static int p_new_json_enoent(struct ctx *c, struct srt_error *e, const char **skip)
{
	(void)skip;
	return new_with_cwd(c, NEW_JSON, c->missing, e);
}

static int p_new_json_enotdir(struct ctx *c, struct srt_error *e, const char **skip)
{
	(void)skip;
	return new_with_cwd(c, NEW_JSON, c->file, e);
}

static int p_new_json_eacces(struct ctx *c, struct srt_error *e, const char **skip)
{
	AS_ROOT_SKIP;
	return new_with_cwd(c, NEW_JSON, c->behind_lock, e);
}

static int p_new_config_einval(struct ctx *c, struct srt_error *e, const char **skip)
{
	(void)skip;
	static const char *const bad[] = { "exa mple.com", NULL };
	srt_runtime *rt = NULL;
	int r = srt_runtime_new_from_config(&(struct srt_config){ .size = sizeof(struct srt_config), .allowed_domains = bad }, &c->opts, &rt, e);
	srt_runtime_free(rt);
	return r;
}

static int p_new_config_enoent(struct ctx *c, struct srt_error *e, const char **skip)
{
	(void)skip;
	return new_with_cwd(c, NEW_CONFIG, c->missing, e);
}

static int p_new_config_enotdir(struct ctx *c, struct srt_error *e, const char **skip)
{
	(void)skip;
	return new_with_cwd(c, NEW_CONFIG, c->file, e);
}

static int p_new_config_eacces(struct ctx *c, struct srt_error *e, const char **skip)
{
	AS_ROOT_SKIP;
	return new_with_cwd(c, NEW_CONFIG, c->behind_lock, e);
}

static int p_start_einval(struct ctx *c, struct srt_error *e, const char **skip)
{
	(void)c, (void)skip;
	return srt_runtime_start(NULL, e);
}

static int p_reload_file_einval(struct ctx *c, struct srt_error *e, const char **skip)
{
	(void)skip;
	return srt_runtime_reload_file(c->rt, NULL, e);
}

static int p_reload_file_enoent(struct ctx *c, struct srt_error *e, const char **skip)
{
	(void)skip;
	return srt_runtime_reload_file(c->rt, c->missing, e);
}

static int p_reload_file_enotdir(struct ctx *c, struct srt_error *e, const char **skip)
{
	(void)skip;
	return srt_runtime_reload_file(c->rt, c->under_file, e);
}

static int p_reload_file_eacces(struct ctx *c, struct srt_error *e, const char **skip)
{
	AS_ROOT_SKIP;
	return srt_runtime_reload_file(c->rt, c->unreadable, e);
}

static int p_reload_json_einval(struct ctx *c, struct srt_error *e, const char **skip)
{
	(void)skip;
	return srt_runtime_reload_json(c->rt, "{\"filesystem\": {\"allowwrite\": []}}", NULL, e);
}

static int p_reload_config_einval(struct ctx *c, struct srt_error *e, const char **skip)
{
	(void)skip;
	static const char *const bad[] = { "exa mple.com", NULL };
	return srt_runtime_reload_config(c->rt, &(struct srt_config){ .size = sizeof(struct srt_config), .denied_domains = bad }, e);
}

/* wrap, wrap_shell, execute, execute_shell: one call of the form named. */
enum run_form { WRAP, WRAP_SHELL, EXECUTE, EXECUTE_SHELL };

static int run_form(srt_runtime *rt, enum run_form f, const struct srt_sandbox_options *so, struct srt_error *e)
{
	static const char *const argv[] = { "true", NULL };
	char **out = NULL;
	struct srt_result *res = NULL;
	struct srt_execute_options xo = { .size = sizeof(xo), .sandbox = so };
	int r;
	switch (f) {
	case WRAP:
		r = srt_runtime_wrap(rt, argv, so, &out, NULL, e);
		break;
	case WRAP_SHELL:
		r = srt_runtime_wrap_shell(rt, "true", so, &out, NULL, e);
		break;
	case EXECUTE:
		r = srt_runtime_execute(rt, argv, &xo, &res, e);
		result_clear(&res);
		break;
	default:
		r = srt_runtime_execute_shell(rt, "true", &xo, &res, e);
		result_clear(&res);
		break;
	}
	srt_argv_free(out);
	return r;
}

static int run_in(struct ctx *c, enum run_form f, const char *cwd, struct srt_error *e)
{
	struct srt_sandbox_options so = { .size = sizeof(so), .cwd = cwd };
	return run_form(c->rt, f, &so, e);
}

/* The form called from a SANDBOX_START callback, on the runtime's thread. */
struct reentry {
	srt_runtime *rt;
	enum run_form form;
	bool called;
	int r;
	struct srt_error e;
};

static void on_start_reenter(const struct srt_event *ev, void *data)
{
	struct reentry *re = data;
	if (ev->type != SRT_EVENT_SANDBOX_START || re->called)
		return;
	re->called = true;
	re->r = run_form(re->rt, re->form, NULL, &re->e);
}

static int reenter(struct ctx *c, enum run_form f, struct srt_error *e)
{
	struct reentry re = { .rt = c->rt, .form = f };
	uint64_t tok = 0;
	srt_runtime_subscribe(c->rt, on_start_reenter, &re, &tok);
	struct srt_result *res = NULL;
	struct srt_error e2;
	int r = srt_runtime_execute_shell(c->rt, "true", NULL, &res, &e2);
	result_clear(&res);
	srt_runtime_unsubscribe(c->rt, tok); /* waits for the callback */
	if (r < 0) {
		diag_err("srt_runtime_execute_shell", r, &e2);
		return r;
	}
	*e = re.e;
	return re.called ? re.r : 0;
}

/* A program that ignores SIGCHLD gets no status from waitpid; a sandbox
 * whose bubblewrap exits at once (bwrapPath: false) reports none either. */
static int no_status(struct ctx *c, enum run_form f, struct srt_error *e)
{
	char json[600];
	snprintf(json, sizeof(json), "{\"bwrapPath\": \"%s\"}",
		 access("/usr/bin/false", X_OK) == 0 ? "/usr/bin/false" : "/bin/false");
	srt_runtime *rt = NULL;
	int r = srt_runtime_new_from_json(json, "no-bwrap", &c->opts, &rt, e);
	if (r < 0)
		return r;
	struct sigaction ign = { .sa_handler = SIG_IGN }, old;
	sigaction(SIGCHLD, &ign, &old);
	r = run_form(rt, f, NULL, e);
	sigaction(SIGCHLD, &old, NULL);
	srt_runtime_free(rt);
	return r;
}

#define RUN_PROVOKERS(F, name)                                                                           \
	static int p_##name##_einval(struct ctx *c, struct srt_error *e, const char **skip)              \
	{                                                                                                \
		(void)skip;                                                                              \
		return run_in(c, F, "relative/folder", e);                                               \
	}                                                                                                \
	static int p_##name##_enoent(struct ctx *c, struct srt_error *e, const char **skip)              \
	{                                                                                                \
		(void)skip;                                                                              \
		return run_in(c, F, c->missing, e);                                                      \
	}                                                                                                \
	static int p_##name##_enotdir(struct ctx *c, struct srt_error *e, const char **skip)             \
	{                                                                                                \
		(void)skip;                                                                              \
		return run_in(c, F, c->file, e);                                                         \
	}                                                                                                \
	static int p_##name##_eacces(struct ctx *c, struct srt_error *e, const char **skip)              \
	{                                                                                                \
		AS_ROOT_SKIP;                                                                            \
		return run_in(c, F, c->behind_lock, e);                                                  \
	}                                                                                                \
	static int p_##name##_enotsup(struct ctx *c, struct srt_error *e, const char **skip)             \
	{                                                                                                \
		(void)skip;                                                                              \
		return run_form(c->off, F, NULL, e);                                                     \
	}                                                                                                \
	static int p_##name##_edeadlk(struct ctx *c, struct srt_error *e, const char **skip)             \
	{                                                                                                \
		(void)skip;                                                                              \
		return reenter(c, F, e);                                                                 \
	}

RUN_PROVOKERS(WRAP, wrap)
RUN_PROVOKERS(WRAP_SHELL, wrap_shell)
RUN_PROVOKERS(EXECUTE, execute)
RUN_PROVOKERS(EXECUTE_SHELL, execute_shell)

/* The sandbox options of a newer program: 8 bytes more, not zero. */
static int run_newer(struct ctx *c, enum run_form f, struct srt_error *e)
{
	struct {
		struct srt_sandbox_options so;
		uint64_t future;
	} big;
	memset(&big, 0, sizeof(big));
	big.so.size = sizeof(big);
	big.future = 1;
	return run_form(c->rt, f, &big.so, e);
}

/* An execution with these options (stdin_fd, cancel). */
static int run_with(struct ctx *c, bool shell, const struct srt_execute_options *xo, struct srt_error *e)
{
	static const char *const argv[] = { "true", NULL };
	struct srt_result *res = NULL;
	int r = shell ? srt_runtime_execute_shell(c->rt, "true", xo, &res, e) : srt_runtime_execute(c->rt, argv, xo, &res, e);
	result_clear(&res);
	return r;
}

static int closed_fd(void)
{
	int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	close(fd);
	return fd;
}

static int run_cancelled(struct ctx *c, bool shell, struct srt_error *e)
{
	struct srt_execution *x = srt_execution_new();
	srt_execution_cancel(x);
	struct srt_execute_options xo = { .size = sizeof(xo), .cancel = x };
	int r = run_with(c, shell, &xo, e);
	srt_execution_free(x);
	return r;
}

#define SIZE_PROVOKERS(F, name, shell)                                                                    \
	static int p_##name##_e2big(struct ctx *c, struct srt_error *e, const char **skip)               \
	{                                                                                                \
		(void)skip;                                                                              \
		return run_newer(c, F, e);                                                               \
	}
#define EXEC_PROVOKERS(F, name, shell)                                                                    \
	SIZE_PROVOKERS(F, name, shell)                                                                   \
	static int p_##name##_ebadf(struct ctx *c, struct srt_error *e, const char **skip)               \
	{                                                                                                \
		(void)skip;                                                                              \
		struct srt_execute_options xo = { .size = sizeof(xo), .stdin_kind = SRT_STDIN_FD,         \
						  .stdin_fd = closed_fd() };                              \
		return run_with(c, shell, &xo, e);                                                       \
	}                                                                                                \
	static int p_##name##_ecanceled(struct ctx *c, struct srt_error *e, const char **skip)           \
	{                                                                                                \
		(void)skip;                                                                              \
		return run_cancelled(c, shell, e);                                                       \
	}

SIZE_PROVOKERS(WRAP, wrap, false)
SIZE_PROVOKERS(WRAP_SHELL, wrap_shell, true)
EXEC_PROVOKERS(EXECUTE, execute, false)
EXEC_PROVOKERS(EXECUTE_SHELL, execute_shell, true)

/* srt_runtime_new_* with the options of a newer program. */
static int new_newer(struct ctx *c, enum new_form f, struct srt_error *e)
{
	struct {
		struct srt_runtime_options o;
		uint64_t future;
	} big;
	memset(&big, 0, sizeof(big));
	big.o = c->opts;
	big.o.size = sizeof(big);
	big.future = 1;
	srt_runtime *rt = NULL;
	int r = f == NEW_FILE ? srt_runtime_new_from_file(c->settings, &big.o, &rt, e)
		: f == NEW_JSON ? srt_runtime_new_from_json("{}", NULL, &big.o, &rt, e)
				: srt_runtime_new_from_config(&(struct srt_config){ .size = sizeof(struct srt_config) },
							      &big.o, &rt, e);
	srt_runtime_free(rt);
	return r;
}

static int p_new_file_e2big(struct ctx *c, struct srt_error *e, const char **skip)
{
	(void)skip;
	return new_newer(c, NEW_FILE, e);
}

static int p_new_json_e2big(struct ctx *c, struct srt_error *e, const char **skip)
{
	(void)skip;
	return new_newer(c, NEW_JSON, e);
}

static int p_new_config_e2big(struct ctx *c, struct srt_error *e, const char **skip)
{
	(void)skip;
	return new_newer(c, NEW_CONFIG, e);
}

static int p_reload_config_e2big(struct ctx *c, struct srt_error *e, const char **skip)
{
	(void)skip;
	struct {
		struct srt_config cfg;
		uint64_t future;
	} big;
	memset(&big, 0, sizeof(big));
	big.cfg.size = sizeof(big);
	big.future = 1;
	return srt_runtime_reload_config(c->rt, &big.cfg, e);
}

static int p_execution_cancel_einval(struct ctx *c, struct srt_error *e, const char **skip)
{
	(void)c, (void)e, (void)skip;
	return srt_execution_cancel(NULL);
}

static int p_execute_echild(struct ctx *c, struct srt_error *e, const char **skip)
{
	(void)skip;
	return no_status(c, EXECUTE, e);
}

static int p_execute_shell_echild(struct ctx *c, struct srt_error *e, const char **skip)
{
	(void)skip;
	return no_status(c, EXECUTE_SHELL, e);
}

static int p_violations_einval(struct ctx *c, struct srt_error *e, const char **skip)
{
	(void)e, (void)skip;
	struct srt_violation_list *l = NULL;
	int r = srt_runtime_violations(c->rt, (enum srt_violation_kind)99, &l);
	srt_violation_list_free(l);
	return r;
}

static void ignore_event(const struct srt_event *ev, void *data)
{
	(void)ev, (void)data;
}

static int p_subscribe_einval(struct ctx *c, struct srt_error *e, const char **skip)
{
	(void)e, (void)skip;
	return srt_runtime_subscribe(c->rt, NULL, NULL, NULL);
}

static int p_unsubscribe_einval(struct ctx *c, struct srt_error *e, const char **skip)
{
	(void)c, (void)e, (void)skip;
	return srt_runtime_unsubscribe(NULL, 1);
}

static int p_unsubscribe_enoent(struct ctx *c, struct srt_error *e, const char **skip)
{
	(void)e, (void)skip;
	uint64_t tok = 0;
	int r = srt_runtime_subscribe(c->rt, ignore_event, NULL, &tok);
	if (r < 0)
		return r;
	srt_runtime_unsubscribe(c->rt, tok);
	return srt_runtime_unsubscribe(c->rt, tok); /* already ended */
}

static int p_config_json_einval(struct ctx *c, struct srt_error *e, const char **skip)
{
	(void)c, (void)skip;
	return srt_runtime_config_json(NULL, NULL, e);
}

static int p_set_ask_async_einval(struct ctx *c, struct srt_error *e, const char **skip)
{
	(void)c, (void)e, (void)skip;
	return srt_runtime_set_ask_async(NULL, NULL, NULL);
}

static int p_ask_reply_einval(struct ctx *c, struct srt_error *e, const char **skip)
{
	(void)c, (void)e, (void)skip;
	return srt_ask_reply(NULL, true, NULL);
}

static int p_set_ask_timeout_einval(struct ctx *c, struct srt_error *e, const char **skip)
{
	(void)e, (void)skip;
	return srt_runtime_set_ask_timeout(c->rt, 0);
}

#define NO_ENOMEM "out of memory cannot be caused from here"
#define RACING_FREE "only a call that begins while srt_runtime_free runs"
#define IN_RESOURCES "provoked by tests/lib/test_resources.c (a planted link; a low RLIMIT_NOFILE)"
#define MISUSE "provoked by tests/lib/test_misuse.c"

/* The manual's ERRORS, one row per function and code. err: the function
 * takes a struct srt_error, which must then carry the code and a message. */
static const struct documented {
	const char *function;
	const char *code;
	int value;
	bool err;
	provoke_fn provoke;        /* NULL: see why */
	const char *why;
} documented[] = {
	{ "srt_platform_info", "EINVAL", EINVAL, false, p_platform_null, "out is NULL" },
	{ "srt_platform_info", "E2BIG", E2BIG, false, p_platform_e2big, "out->size is above 4096" },

	{ "srt_runtime_new_from_file", "EINVAL", EINVAL, true, p_new_file_einval, "observe is 42" },
	{ "srt_runtime_new_from_file", "ENOENT", ENOENT, true, p_new_file_enoent, "the file does not exist" },
	{ "srt_runtime_new_from_file", "ENOTDIR", ENOTDIR, true, p_new_file_enotdir, "opts->cwd is a file" },
	{ "srt_runtime_new_from_file", "EACCES", EACCES, true, p_new_file_eacces, "the file is of mode 0" },
	{ "srt_runtime_new_from_file", "ENOMEM", ENOMEM, true, NULL, NO_ENOMEM },
	{ "srt_runtime_new_from_file", "E2BIG", E2BIG, true, p_new_file_e2big, "opts of a newer program, its field set" },
	{ "srt_runtime_new_from_json", "EINVAL", EINVAL, true, p_new_json_einval, "truncated JSON" },
	{ "srt_runtime_new_from_json", "ENOENT", ENOENT, true, p_new_json_enoent, "opts->cwd does not exist" },
	{ "srt_runtime_new_from_json", "ENOTDIR", ENOTDIR, true, p_new_json_enotdir, "opts->cwd is a file" },
	{ "srt_runtime_new_from_json", "EACCES", EACCES, true, p_new_json_eacces, "opts->cwd behind a folder of mode 0" },
	{ "srt_runtime_new_from_json", "ENOMEM", ENOMEM, true, NULL, NO_ENOMEM },
	{ "srt_runtime_new_from_json", "E2BIG", E2BIG, true, p_new_json_e2big, "opts of a newer program, its field set" },
	{ "srt_runtime_new_from_config", "EINVAL", EINVAL, true, p_new_config_einval, "a bad domain" },
	{ "srt_runtime_new_from_config", "ENOENT", ENOENT, true, p_new_config_enoent, "opts->cwd does not exist" },
	{ "srt_runtime_new_from_config", "ENOTDIR", ENOTDIR, true, p_new_config_enotdir, "opts->cwd is a file" },
	{ "srt_runtime_new_from_config", "EACCES", EACCES, true, p_new_config_eacces, "opts->cwd behind a folder of mode 0" },
	{ "srt_runtime_new_from_config", "ENOMEM", ENOMEM, true, NULL, NO_ENOMEM },
	{ "srt_runtime_new_from_config", "E2BIG", E2BIG, true, p_new_config_e2big, "opts of a newer program, its field set" },

	{ "srt_runtime_start", "EINVAL", EINVAL, true, p_start_einval, "rt is NULL" },
	{ "srt_runtime_start", "ESHUTDOWN", ESHUTDOWN, true, NULL, RACING_FREE },
	{ "srt_runtime_start", "ENOMEM", ENOMEM, true, NULL, NO_ENOMEM },

	{ "srt_runtime_reload_file", "EINVAL", EINVAL, true, p_reload_file_einval, "path is NULL" },
	{ "srt_runtime_reload_file", "ENOENT", ENOENT, true, p_reload_file_enoent, "the file does not exist" },
	{ "srt_runtime_reload_file", "ENOTDIR", ENOTDIR, true, p_reload_file_enotdir, "a path through a file" },
	{ "srt_runtime_reload_file", "EACCES", EACCES, true, p_reload_file_eacces, "the file is of mode 0" },
	{ "srt_runtime_reload_file", "ENOMEM", ENOMEM, true, NULL, NO_ENOMEM },
	{ "srt_runtime_reload_file", "EDEADLK", EDEADLK, true, NULL, MISUSE },
	{ "srt_runtime_reload_file", "ESHUTDOWN", ESHUTDOWN, true, NULL, RACING_FREE },
	{ "srt_runtime_reload_json", "EINVAL", EINVAL, true, p_reload_json_einval, "an unknown key" },
	{ "srt_runtime_reload_json", "ENOMEM", ENOMEM, true, NULL, NO_ENOMEM },
	{ "srt_runtime_reload_json", "EDEADLK", EDEADLK, true, NULL, MISUSE },
	{ "srt_runtime_reload_json", "ESHUTDOWN", ESHUTDOWN, true, NULL, RACING_FREE },
	{ "srt_runtime_reload_config", "EINVAL", EINVAL, true, p_reload_config_einval, "a bad domain" },
	{ "srt_runtime_reload_config", "ENOMEM", ENOMEM, true, NULL, NO_ENOMEM },
	{ "srt_runtime_reload_config", "EDEADLK", EDEADLK, true, NULL, MISUSE },
	{ "srt_runtime_reload_config", "ESHUTDOWN", ESHUTDOWN, true, NULL, RACING_FREE },
	{ "srt_runtime_reload_config", "E2BIG", E2BIG, true, p_reload_config_e2big, "cfg of a newer program, its field set" },

	{ "srt_runtime_config_json", "EINVAL", EINVAL, true, p_config_json_einval, "rt is NULL" },
	{ "srt_runtime_config_json", "ENOMEM", ENOMEM, true, NULL, NO_ENOMEM },
	{ "srt_runtime_config_json", "ESHUTDOWN", ESHUTDOWN, true, NULL, RACING_FREE },

	{ "srt_runtime_wrap", "EINVAL", EINVAL, true, p_wrap_einval, "a relative o->cwd" },
	{ "srt_runtime_wrap", "ENOENT", ENOENT, true, p_wrap_enoent, "o->cwd does not exist" },
	{ "srt_runtime_wrap", "ENOTDIR", ENOTDIR, true, p_wrap_enotdir, "o->cwd is a file" },
	{ "srt_runtime_wrap", "EACCES", EACCES, true, p_wrap_eacces, "o->cwd behind a folder of mode 0" },
	{ "srt_runtime_wrap", "ENOTSUP", ENOTSUP, true, p_wrap_enotsup, "sandbox.enabled: false" },
	{ "srt_runtime_wrap", "EDEADLK", EDEADLK, true, p_wrap_edeadlk, "in an event callback" },
	{ "srt_runtime_wrap", "ESHUTDOWN", ESHUTDOWN, true, NULL, RACING_FREE },
	{ "srt_runtime_wrap", "ELOOP", ELOOP, true, NULL, IN_RESOURCES },
	{ "srt_runtime_wrap", "EMFILE", EMFILE, true, NULL, IN_RESOURCES },
	{ "srt_runtime_wrap", "ENOMEM", ENOMEM, true, NULL, NO_ENOMEM },
	{ "srt_runtime_wrap", "E2BIG", E2BIG, true, p_wrap_e2big, "o of a newer program, its field set" },
	{ "srt_runtime_wrap_shell", "EINVAL", EINVAL, true, p_wrap_shell_einval, "a relative o->cwd" },
	{ "srt_runtime_wrap_shell", "ENOENT", ENOENT, true, p_wrap_shell_enoent, "o->cwd does not exist" },
	{ "srt_runtime_wrap_shell", "ENOTDIR", ENOTDIR, true, p_wrap_shell_enotdir, "o->cwd is a file" },
	{ "srt_runtime_wrap_shell", "EACCES", EACCES, true, p_wrap_shell_eacces, "o->cwd behind a folder of mode 0" },
	{ "srt_runtime_wrap_shell", "ENOTSUP", ENOTSUP, true, p_wrap_shell_enotsup, "sandbox.enabled: false" },
	{ "srt_runtime_wrap_shell", "EDEADLK", EDEADLK, true, p_wrap_shell_edeadlk, "in an event callback" },
	{ "srt_runtime_wrap_shell", "ESHUTDOWN", ESHUTDOWN, true, NULL, RACING_FREE },
	{ "srt_runtime_wrap_shell", "ELOOP", ELOOP, true, NULL, IN_RESOURCES },
	{ "srt_runtime_wrap_shell", "EMFILE", EMFILE, true, NULL, IN_RESOURCES },
	{ "srt_runtime_wrap_shell", "ENOMEM", ENOMEM, true, NULL, NO_ENOMEM },
	{ "srt_runtime_wrap_shell", "E2BIG", E2BIG, true, p_wrap_shell_e2big, "o of a newer program, its field set" },
	{ "srt_runtime_execute", "EINVAL", EINVAL, true, p_execute_einval, "a relative o->cwd" },
	{ "srt_runtime_execute", "ENOENT", ENOENT, true, p_execute_enoent, "o->cwd does not exist" },
	{ "srt_runtime_execute", "ENOTDIR", ENOTDIR, true, p_execute_enotdir, "o->cwd is a file" },
	{ "srt_runtime_execute", "EACCES", EACCES, true, p_execute_eacces, "o->cwd behind a folder of mode 0" },
	{ "srt_runtime_execute", "ENOTSUP", ENOTSUP, true, p_execute_enotsup, "sandbox.enabled: false" },
	{ "srt_runtime_execute", "EDEADLK", EDEADLK, true, p_execute_edeadlk, "in an event callback" },
	{ "srt_runtime_execute", "ESHUTDOWN", ESHUTDOWN, true, NULL, RACING_FREE },
	{ "srt_runtime_execute", "ELOOP", ELOOP, true, NULL, IN_RESOURCES },
	{ "srt_runtime_execute", "EMFILE", EMFILE, true, NULL, IN_RESOURCES },
	{ "srt_runtime_execute", "ECANCELED", ECANCELED, true, p_execute_ecanceled, "a cancel handle cancelled before" },
	{ "srt_runtime_execute", "EBADF", EBADF, true, p_execute_ebadf, "stdin_fd is closed" },
	{ "srt_runtime_execute", "ENOMEM", ENOMEM, true, NULL, NO_ENOMEM },
	{ "srt_runtime_execute", "E2BIG", E2BIG, true, p_execute_e2big, "o of a newer program, its field set" },
	{ "srt_runtime_execute_shell", "EINVAL", EINVAL, true, p_execute_shell_einval, "a relative o->cwd" },
	{ "srt_runtime_execute_shell", "ENOENT", ENOENT, true, p_execute_shell_enoent, "o->cwd does not exist" },
	{ "srt_runtime_execute_shell", "ENOTDIR", ENOTDIR, true, p_execute_shell_enotdir, "o->cwd is a file" },
	{ "srt_runtime_execute_shell", "EACCES", EACCES, true, p_execute_shell_eacces, "o->cwd behind a folder of mode 0" },
	{ "srt_runtime_execute_shell", "ENOTSUP", ENOTSUP, true, p_execute_shell_enotsup, "sandbox.enabled: false" },
	{ "srt_runtime_execute_shell", "EDEADLK", EDEADLK, true, p_execute_shell_edeadlk, "in an event callback" },
	{ "srt_runtime_execute_shell", "ESHUTDOWN", ESHUTDOWN, true, NULL, RACING_FREE },
	{ "srt_runtime_execute_shell", "ELOOP", ELOOP, true, NULL, IN_RESOURCES },
	{ "srt_runtime_execute_shell", "EMFILE", EMFILE, true, NULL, IN_RESOURCES },
	{ "srt_runtime_execute_shell", "ECANCELED", ECANCELED, true, p_execute_shell_ecanceled, "a cancel handle cancelled before" },
	{ "srt_runtime_execute_shell", "EBADF", EBADF, true, p_execute_shell_ebadf, "stdin_fd is closed" },
	{ "srt_runtime_execute_shell", "ENOMEM", ENOMEM, true, NULL, NO_ENOMEM },
	{ "srt_runtime_execute_shell", "E2BIG", E2BIG, true, p_execute_shell_e2big, "o of a newer program, its field set" },
	{ "srt_runtime_execute", "ECHILD", ECHILD, true, p_execute_echild, "SIGCHLD ignored, bwrapPath false" },
	{ "srt_runtime_execute_shell", "ECHILD", ECHILD, true, p_execute_shell_echild, "SIGCHLD ignored, bwrapPath false" },

	{ "srt_runtime_violations", "EINVAL", EINVAL, false, p_violations_einval, "kind is 99" },
	{ "srt_runtime_violations", "ENOMEM", ENOMEM, false, NULL, NO_ENOMEM },
	{ "srt_runtime_subscribe", "EINVAL", EINVAL, false, p_subscribe_einval, "fn is NULL" },
	{ "srt_runtime_subscribe", "ENOMEM", ENOMEM, false, NULL, NO_ENOMEM },
	{ "srt_runtime_unsubscribe", "EINVAL", EINVAL, false, p_unsubscribe_einval, "rt is NULL" },
	{ "srt_runtime_unsubscribe", "ENOENT", ENOENT, false, p_unsubscribe_enoent, "a token already ended" },
	{ "srt_runtime_set_ask_async", "EINVAL", EINVAL, false, p_set_ask_async_einval, "rt is NULL" },
	{ "srt_ask_reply", "EINVAL", EINVAL, false, p_ask_reply_einval, "req is NULL" },
	{ "srt_execution_cancel", "EINVAL", EINVAL, false, p_execution_cancel_einval, "e is NULL" },
	{ "srt_runtime_set_ask_timeout", "EINVAL", EINVAL, false, p_set_ask_timeout_einval, "timeout_ms is 0" },
};

#define N_DOCUMENTED ((int)(sizeof(documented) / sizeof(documented[0])))

static void walk_documented(struct ctx *c)
{
	for (int i = 0; i < N_DOCUMENTED; i++) {
		const struct documented *d = &documented[i];
		if (!d->provoke) {
			char why[300];
			snprintf(why, sizeof(why), "%s -%s: %s", d->function, d->code, d->why);
			skip(1, why);
			continue;
		}
		struct srt_error e;
		error_stale(&e);
		const char *why = NULL;
		int r = d->provoke(c, &e, &why);
		if (why) {
			char text[300];
			snprintf(text, sizeof(text), "%s -%s: %s", d->function, d->code, why);
			skip(1, text);
			continue;
		}
		bool good = r == -d->value && (!d->err || (e.code == r && e.message[0] && strcmp(e.message, "stale message")));
		ok(good, "%s -%s (%s): %d%s%s", d->function, d->code, d->why, r, d->err ? ": " : "",
		   d->err ? e.message : "");
	}
}

/* ---- the cases of the report ------------------------------------------------- */

/* 13 cases. */
static void runtime_options(struct ctx *c)
{
	struct srt_error e;
	srt_runtime *const sentinel = (srt_runtime *)&e;
	srt_runtime *rt;
	struct srt_runtime_options o;
	int r;

	o = c->opts;
	o.observe = (enum srt_observe)42;
	rt = sentinel;
	error_stale(&e);
	r = srt_runtime_new_from_config(&(struct srt_config){ .size = sizeof(struct srt_config) }, &o, &rt, &e);
	refused("observe = 42", r, -EINVAL, &e, "observe", "42", NULL);
	ok(rt == sentinel, "observe = 42: *ret not written");

	o.observe = (enum srt_observe)-1;
	r = srt_runtime_new_from_json("{}", NULL, &o, &rt, &e);
	refused("observe = -1", r, -EINVAL, &e, "observe", "-1", NULL);

	o = c->opts;
	o.cwd = "proj";
	r = srt_runtime_new_from_file(c->settings, &o, &rt, &e);
	refused("a relative opts->cwd", r, -EINVAL, &e, "cwd", "\"proj\"", NULL);

	o.cwd = c->missing;
	r = srt_runtime_new_from_config(&(struct srt_config){ .size = sizeof(struct srt_config) }, &o, &rt, &e);
	refused("a missing opts->cwd", r, -ENOENT, &e, "cwd", c->missing, NULL);

	o.cwd = c->file;
	r = srt_runtime_new_from_config(&(struct srt_config){ .size = sizeof(struct srt_config) }, &o, &rt, &e);
	refused("a file as opts->cwd", r, -ENOTDIR, &e, "cwd", c->file, NULL);

	o = c->opts;
	o.home = "home";
	r = srt_runtime_new_from_config(&(struct srt_config){ .size = sizeof(struct srt_config) }, &o, &rt, &e);
	refused("a relative opts->home", r, -EINVAL, &e, "home", "\"home\"", NULL);
	ok(rt == sentinel, "no bad option wrote *ret");

	/* NULL pointers, each named. */
	r = srt_runtime_new_from_file(NULL, &c->opts, &rt, &e);
	refused("new_from_file(path NULL)", r, -EINVAL, &e, "path", NULL);
	r = srt_runtime_new_from_json(NULL, NULL, &c->opts, &rt, &e);
	refused("new_from_json(json NULL)", r, -EINVAL, &e, "json", NULL);
	r = srt_runtime_new_from_config(NULL, &c->opts, &rt, &e);
	refused("new_from_config(cfg NULL)", r, -EINVAL, &e, "cfg", NULL);
	r = srt_runtime_new_from_config(&(struct srt_config){ .size = sizeof(struct srt_config) }, &c->opts, NULL, &e);
	refused("new_from_config(ret NULL)", r, -EINVAL, &e, "ret", NULL);

	/* Without a struct srt_error the code is still the right one (a
	 * string that is not UTF-8 once came back as -ENOMEM). */
	static const char *const not_utf8[] = { "\xff\xfe", NULL };
	r = srt_runtime_new_from_config(&(struct srt_config){ .size = sizeof(struct srt_config), .allow_write = not_utf8 }, &c->opts, &rt, NULL);
	ok(r == -EINVAL && rt == sentinel, "a string that is not UTF-8, err NULL: -EINVAL (%d)", r);
}

/* 4 cases. */
static void violation_kinds(struct ctx *c)
{
	struct srt_violation_list *const sentinel = (struct srt_violation_list *)c, *l = sentinel;
	int r = srt_runtime_violations(c->rt, (enum srt_violation_kind)99, &l);
	ok(r == -EINVAL && l == sentinel, "violations(kind 99): -EINVAL, *ret not written (%d)", r);
	r = srt_runtime_violations(c->rt, (enum srt_violation_kind)-1, &l);
	ok(r == -EINVAL && l == sentinel, "violations(kind -1): -EINVAL (%d)", r);
	r = srt_runtime_violations(c->rt, SRT_VIOLATION_ANY, NULL);
	ok(r == -EINVAL, "violations(ret NULL): -EINVAL (%d)", r);
	r = srt_runtime_violations(NULL, SRT_VIOLATION_ANY, &l);
	ok(r == -EINVAL && l == sentinel, "violations(rt NULL): -EINVAL (%d)", r);
}

/* 16 cases. */
static void sandbox_arguments(struct ctx *c, struct recorder *rec)
{
	struct srt_error e;
	char *dummy[] = { NULL };
	char **argv = dummy;
	uint64_t id = 777;
	static const char *const cmd[] = { "true", NULL };
	static const char *const empty[] = { NULL };
	struct srt_sandbox_options so = { .size = sizeof(so), .cwd = "relative/folder" };
	size_t starts = recorder_count(rec, SRT_EVENT_SANDBOX_START, 0);
	size_t nviol = srt_runtime_violation_count(c->rt);
	int r;

	error_stale(&e);
	r = srt_runtime_wrap(c->rt, cmd, &so, &argv, &id, &e);
	refused("wrap with a relative o->cwd", r, -EINVAL, &e, "cwd", "\"relative/folder\"", NULL);
	so.cwd = c->missing;
	r = srt_runtime_wrap_shell(c->rt, "true", &so, &argv, &id, &e);
	refused("wrap_shell with a missing o->cwd", r, -ENOENT, &e, "cwd", c->missing, NULL);
	ok(argv == dummy && id == 777, "a refused wrap writes neither *ret_argv nor *ret_id");

	struct srt_result *res;
	memset(&res, 0x5a, sizeof(res));
	struct srt_execute_options xo = { .size = sizeof(xo), .sandbox = &so };
	r = srt_runtime_execute_shell(c->rt, "true", &xo, &res, &e);
	refused("execute_shell with a missing o->cwd: an error, not status 125", r, -ENOENT, &e, "cwd", c->missing,
		NULL);
	ok(res == NULL, "a refused execute sets *ret to NULL");
	result_clear(&res);
	so.cwd = c->file;
	r = srt_runtime_execute(c->rt, cmd, &xo, &res, &e);
	refused("execute with a file as o->cwd", r, -ENOTDIR, &e, "cwd", c->file, NULL);

	r = srt_runtime_wrap(c->rt, cmd, NULL, NULL, &id, &e);
	refused("wrap(ret_argv NULL)", r, -EINVAL, &e, "ret_argv", NULL);
	r = srt_runtime_wrap_shell(c->rt, "true", NULL, NULL, NULL, &e);
	refused("wrap_shell(ret_argv NULL)", r, -EINVAL, &e, "ret_argv", NULL);
	r = srt_runtime_wrap(c->rt, NULL, NULL, &argv, &id, &e);
	refused("wrap(argv NULL)", r, -EINVAL, &e, "argv", NULL);
	r = srt_runtime_wrap(c->rt, empty, NULL, &argv, &id, &e);
	refused("wrap(argv empty)", r, -EINVAL, &e, "argv", "empty", NULL);
	r = srt_runtime_wrap_shell(c->rt, NULL, NULL, &argv, &id, &e);
	refused("wrap_shell(command NULL)", r, -EINVAL, &e, "command", NULL);
	r = srt_runtime_execute_shell(c->rt, NULL, NULL, &res, &e);
	refused("execute_shell(command NULL)", r, -EINVAL, &e, "command", NULL);
	r = srt_runtime_execute(c->rt, cmd, NULL, NULL, &e);
	refused("execute(ret NULL)", r, -EINVAL, &e, "ret", NULL);
	r = srt_runtime_wrap(NULL, cmd, NULL, &argv, &id, &e);
	refused("wrap(rt NULL)", r, -EINVAL, &e, "rt", NULL);
	ok(argv == dummy && id == 777, "no refused call wrote *ret_argv or *ret_id");

	/* Nothing started: the runtime serves no sandbox and recorded nothing. */
	sleep_ms(200);
	ok(recorder_count(rec, SRT_EVENT_SANDBOX_START, 0) == starts && srt_runtime_violation_count(c->rt) == nviol,
	   "refused calls start no sandbox and record no violation");
}

/* 9 cases. */
static void reload_and_events(struct ctx *c, struct recorder *rec)
{
	struct srt_error e;
	size_t reloads = recorder_count(rec, SRT_EVENT_CONFIG_RELOADED, 0);
	int r;

	error_stale(&e);
	r = srt_runtime_reload_file(NULL, c->settings, &e);
	refused("reload_file(rt NULL)", r, -EINVAL, &e, "rt", NULL);
	r = srt_runtime_reload_json(c->rt, NULL, NULL, &e);
	refused("reload_json(json NULL)", r, -EINVAL, &e, "json", NULL);
	r = srt_runtime_reload_config(c->rt, NULL, &e);
	refused("reload_config(cfg NULL)", r, -EINVAL, &e, "cfg", NULL);
	r = srt_runtime_reload_json(c->rt, "{\"sandbox\": {\"enabled\": false}, \"bad key\": 1}", "bad", &e);
	refused("a bad reload", r, -EINVAL, &e, "bad", NULL);
	ok(srt_sandboxing_enabled(c->rt) && recorder_count(rec, SRT_EVENT_CONFIG_RELOADED, 0) == reloads,
	   "failed reloads change nothing: the settings stay, no CONFIG_RELOADED");

	r = srt_runtime_start(NULL, &e);
	refused("start(rt NULL)", r, -EINVAL, &e, "rt", NULL);

	uint64_t tok = 4242;
	r = srt_runtime_subscribe(c->rt, NULL, NULL, &tok);
	ok(r == -EINVAL && tok == 4242, "subscribe(fn NULL): -EINVAL, *ret_token not written (%d)", r);
	r = srt_runtime_subscribe(NULL, ignore_event, NULL, &tok);
	ok(r == -EINVAL && tok == 4242, "subscribe(rt NULL): -EINVAL (%d)", r);
	r = srt_runtime_unsubscribe(c->rt, 987654321);
	ok(r == -ENOENT, "unsubscribe of a token never given: -ENOENT (%d)", r);
}

/* 11 cases: a failure, then a success with the same struct. */
static void cleared_after_success(struct ctx *c)
{
	struct srt_error e;
	srt_runtime *rt = NULL;
	int r;
#define CLEARED(call, what)                                                                              \
	do {                                                                                             \
		error_stale(&e);                                                                         \
		r = (call);                                                                              \
		if (!ok(r == 0 && error_cleared(&e), "%s: success clears struct srt_error (%d, %d, \"%s\")", \
			what, r, e.code, e.message))                                                     \
			diag_err(what, r, &e);                                                           \
	} while (0)

	srt_runtime_new_from_file(c->missing, &c->opts, &rt, &e);
	CLEARED(srt_runtime_new_from_file(c->settings, &c->opts, &rt, &e), "new_from_file");
	srt_runtime_free(rt);
	rt = NULL;
	CLEARED(srt_runtime_new_from_json("{}", NULL, &c->opts, &rt, &e), "new_from_json");
	srt_runtime_free(rt);
	rt = NULL;
	CLEARED(srt_runtime_new_from_config(&(struct srt_config){ .size = sizeof(struct srt_config) }, &c->opts, &rt, &e), "new_from_config");
	CLEARED(srt_runtime_start(rt, &e), "start");
	srt_runtime_free(rt);
	CLEARED(srt_runtime_reload_file(c->rt, c->settings, &e), "reload_file");
	CLEARED(srt_runtime_reload_json(c->rt, "{\"filesystem\": {\"allowWrite\": [\".\"]}}", NULL, &e),
		"reload_json");
	static const char *const write[] = { ".", NULL };
	CLEARED(srt_runtime_reload_config(c->rt, &(struct srt_config){ .size = sizeof(struct srt_config), .allow_write = write }, &e), "reload_config");

	static const char *const cmd[] = { "true", NULL };
	char **argv = NULL;
	CLEARED(srt_runtime_wrap(c->rt, cmd, NULL, &argv, NULL, &e), "wrap");
	srt_argv_free(argv);
	argv = NULL;
	CLEARED(srt_runtime_wrap_shell(c->rt, "true", NULL, &argv, NULL, &e), "wrap_shell");
	srt_argv_free(argv);
	struct srt_result *res = NULL;
	CLEARED(srt_runtime_execute(c->rt, cmd, NULL, &res, &e), "execute");
	result_clear(&res);
	CLEARED(srt_runtime_execute_shell(c->rt, "exit 3", NULL, &res, &e), "execute_shell (status 3)");
	result_clear(&res);
#undef CLEARED
}

/* 1 case: what the functions without a code do with NULL. */
static void null_without_code(void)
{
	srt_runtime_reset(NULL);
	srt_runtime_free(NULL);
	srt_argv_free(NULL);
	srt_result_free(NULL);
	srt_violation_list_free(NULL);
	srt_runtime_clear_violations(NULL);
	srt_runtime_set_ask(NULL, NULL, NULL);
	ok(!srt_sandboxing_enabled(NULL) && srt_runtime_violation_count(NULL) == 0,
	   "functions without a code accept NULL (sandboxing_enabled false, violation_count 0)");
}

static void ctx_make(struct ctx *c)
{
	memset(c, 0, sizeof(*c));
	c->root = geteuid() == 0;
	tree_make(&c->t);
	c->opts = tree_options(&c->t);
	snprintf(c->settings, sizeof(c->settings), "%s/settings.json", c->t.root);
	write_file(c->settings, "{\"filesystem\": {\"allowWrite\": [\".\"]}}\n");
	snprintf(c->file, sizeof(c->file), "%s/file", c->t.root);
	write_file(c->file, "not a folder\n");
	snprintf(c->under_file, sizeof(c->under_file), "%s/x", c->file);
	snprintf(c->missing, sizeof(c->missing), "%s/missing", c->t.root);
	snprintf(c->locked, sizeof(c->locked), "%s/locked", c->t.root);
	snprintf(c->behind_lock, sizeof(c->behind_lock), "%s/inner", c->locked);
	if (mkdir(c->locked, 0755) < 0 || mkdir(c->behind_lock, 0755) < 0 || chmod(c->locked, 0) < 0)
		die("locked folder");
	snprintf(c->unreadable, sizeof(c->unreadable), "%s/unreadable.json", c->t.root);
	write_file(c->unreadable, "{}\n");
	if (chmod(c->unreadable, 0) < 0)
		die("chmod");
	c->rt = runtime_new_or_bail(&(struct srt_config){ .size = sizeof(struct srt_config), .allow_write = (const char *const[]){ ".", NULL } },
				    &c->opts);
	struct srt_error e;
	if (srt_runtime_new_from_json("{\"sandbox\": {\"enabled\": false}}", NULL, &c->opts, &c->off, &e) < 0) {
		diag_err("srt_runtime_new_from_json", -1, &e);
		printf("Bail out! no runtime\n");
		exit(1);
	}
}

static void ctx_free(struct ctx *c)
{
	srt_runtime_free(c->rt);
	srt_runtime_free(c->off);
	chmod(c->locked, 0755);
	tree_remove(&c->t);
}

int main(void)
{
	struct ctx c;
	struct recorder rec;

	plan(13 + 4 + 16 + 9 + 11 + 1 + N_DOCUMENTED);
	ctx_make(&c);
	recorder_init(&rec);
	uint64_t tok = 0;
	srt_runtime_subscribe(c.rt, recorder_fn, &rec, &tok);

	runtime_options(&c);
	violation_kinds(&c);
	sandbox_arguments(&c, &rec);
	reload_and_events(&c, &rec);
	cleared_after_success(&c);
	null_without_code();
	walk_documented(&c);

	srt_runtime_unsubscribe(c.rt, tok);
	ctx_free(&c);
	recorder_free(&rec);
	return done_testing();
}
