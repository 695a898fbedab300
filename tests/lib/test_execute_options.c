/* struct srt_execute_options: stdin (bytes, a descriptor), the
 * environment (add, override, remove, replace), timeout_ms, max_output and
 * the cancel handle, and the options a caller gets wrong. */
#include "common.h"

#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>

static srt_runtime *rt;
static struct tree t;

/* Run cmd with o; *res is the result (NULL on failure). */
static int run(const char *cmd, const struct srt_execute_options *o, struct srt_result **res, struct srt_error *e)
{
	memset(e, 0, sizeof(*e));
	int r = srt_runtime_execute_shell(rt, cmd, o, res, e);
	if (r < 0)
		diag_err("srt_runtime_execute_shell", r, e);
	return r;
}

static bool out_is(const struct srt_result *res, const char *want)
{
	return res && res->out && res->out_len == strlen(want) && memcmp(res->out, want, res->out_len) == 0;
}

/* ---- stdin ------------------------------------------------------------------ */

static void stdin_cases(void)
{
	struct srt_error e;
	struct srt_result *res = NULL;

	/* 1 MiB, far more than a pipe holds, echoed back by cat: the library
	 * writes while it reads, or both sides would wait for ever. */
	size_t n = 1024 * 1024;
	unsigned char *data = malloc(n);
	if (!data)
		die("malloc");
	for (size_t i = 0; i < n; i++)
		data[i] = (unsigned char)(i * 7 + i / 251);
	struct srt_execute_options o = { .size = sizeof(o), .stdin_kind = SRT_STDIN_BYTES, .stdin_data = data,
					 .stdin_len = n, .timeout_ms = 60000 };
	int64_t t0 = now_ms();
	int r = run("cat", &o, &res, &e);
	ok(r == 0 && res->status == 0 && res->out_len == n && memcmp(res->out, data, n) == 0 && !res->timed_out,
	   "1 MiB of stdin bytes come back whole from cat (%zu bytes, %lld ms)", r == 0 ? res->out_len : 0,
	   (long long)(now_ms() - t0));
	result_clear(&res);

	/* A command that never reads: no deadlock, no SIGPIPE for us. */
	t0 = now_ms();
	r = run("exit 7", &o, &res, &e);
	ok(r == 0 && res->status == 7 && now_ms() - t0 < 30000,
	   "1 MiB offered to a command that never reads: status 7, the call returns, no SIGPIPE here (%lld ms)",
	   (long long)(now_ms() - t0));
	result_clear(&res);
	free(data);

	/* zero bytes: end of file at once */
	o.stdin_data = NULL;
	o.stdin_len = 0;
	r = run("wc -c", &o, &res, &e);
	ok(r == 0 && res->status == 0 && res->out && atoi(res->out) == 0, "zero stdin bytes: end of file at once (\"%s\")",
	   r == 0 && res->out ? res->out : "");
	result_clear(&res);

	/* the default: /dev/null */
	r = run("cat; echo end", NULL, &res, &e);
	ok(r == 0 && out_is(res, "end\n"), "no options: stdin is empty");
	result_clear(&res);

	/* a descriptor of ours: a pipe with a line in it, still open after */
	int p[2];
	if (pipe(p) < 0)
		die("pipe");
	if (write(p[1], "from-fd\n", 8) != 8)
		die("write");
	close(p[1]);
	struct srt_execute_options of = { .size = sizeof(of), .stdin_kind = SRT_STDIN_FD, .stdin_fd = p[0] };
	r = run("cat", &of, &res, &e);
	ok(r == 0 && out_is(res, "from-fd\n"), "stdin from the caller's descriptor");
	if (r == 0 && !out_is(res, "from-fd\n"))
		diag_result(res);
	ok(fcntl(p[0], F_GETFD) >= 0, "the caller's descriptor is still open afterwards");
	close(p[0]);
	result_clear(&res);
}

/* ---- environment -------------------------------------------------------------- */

static bool has_line(const struct srt_result *res, const char *line)
{
	if (!res || !res->out)
		return false;
	size_t n = strlen(line);
	for (const char *s = res->out; (s = strstr(s, line)); s += n)
		if ((s == res->out || s[-1] == '\n') && (s[n] == '\n' || s[n] == '\0'))
			return true;
	return false;
}

static void env_cases(void)
{
	struct srt_error e;
	struct srt_result *res = NULL;
	setenv("SRT_T_KEEP", "inherited", 1);
	setenv("SRT_T_OVERRIDE", "old", 1);
	setenv("SRT_T_UNSET", "present", 1);
	const char *const env[] = { "SRT_T_ADDED=new value", "SRT_T_OVERRIDE=new", "SRT_T_UNSET",
				    "HTTP_PROXY=http://elsewhere.test:1", NULL };
	struct srt_execute_options o = { .size = sizeof(o), .env = env };
	int r = run("env", &o, &res, &e);
	ok(r == 0 && has_line(res, "SRT_T_ADDED=new value"), "an entry NAME=VALUE adds a variable");
	ok(r == 0 && has_line(res, "SRT_T_OVERRIDE=new") && !has_line(res, "SRT_T_OVERRIDE=old"),
	   "an entry overrides an inherited variable");
	ok(r == 0 && res->out && !strstr(res->out, "SRT_T_UNSET="), "an entry NAME without '=' removes it");
	ok(r == 0 && has_line(res, "SRT_T_KEEP=inherited"), "the rest of the program's environment is inherited");
	ok(r == 0 && res->out && strstr(res->out, "\nHTTP_PROXY=http://127.0.0.1:") &&
		   !strstr(res->out, "elsewhere.test"),
	   "the sandbox's own proxy variables win over the caller's entries");
	if (r == 0 && !has_line(res, "SRT_T_ADDED=new value"))
		diag_result(res);
	result_clear(&res);

	const char *const only[] = { "PATH=/usr/bin:/bin", "SRT_T_ONLY=1", NULL };
	struct srt_execute_options oe = { .size = sizeof(oe), .env = only, .env_replace = true };
	r = run("env", &oe, &res, &e);
	ok(r == 0 && has_line(res, "SRT_T_ONLY=1") && res->out && !strstr(res->out, "SRT_T_KEEP") &&
		   has_line(res, "SANDBOX_RUNTIME=1"),
	   "env_replace: only the given entries (and the sandbox's own variables)");
	if (r == 0 && !has_line(res, "SRT_T_ONLY=1"))
		diag_result(res);
	result_clear(&res);

	/* env_replace with no entries: an empty environment still runs */
	struct srt_execute_options oz = { .size = sizeof(oz), .env_replace = true };
	r = run("echo ${SRT_T_KEEP:-gone}", &oz, &res, &e);
	ok(r == 0 && out_is(res, "gone\n"), "env_replace with no entries: nothing inherited, the command runs");
	result_clear(&res);
	unsetenv("SRT_T_KEEP");
	unsetenv("SRT_T_OVERRIDE");
	unsetenv("SRT_T_UNSET");

	/* The entries are the command's alone: a program the library runs on
	 * the host side (the launcher, bwrap) never gets them, or
	 * LD_PRELOAD=/a/library/the/sandbox/wrote would run it outside the
	 * sandbox. LD_DEBUG makes every dynamic loader say what it loads. */
	const char *const dbg[] = { "LD_DEBUG=files", NULL };
	struct srt_execute_options od = { .size = sizeof(od), .env = dbg };
	r = run("/bin/true", &od, &res, &e);
	ok(r == 0 && res->err && strstr(res->err, "file=libc.so"), "LD_DEBUG reaches the command's loader");
	ok(r == 0 && res->err && !strstr(res->err, "bwrap") && !strstr(res->err, "srt-init"),
	   "and no loader on the host side (bwrap), nor the sandbox's first process (srt-init, when dynamic)");
	if (r != 0 || !res->err || strstr(res->err, "bwrap") || strstr(res->err, "srt-init") ||
	    !strstr(res->err, "file=libc.so"))
		diag_result(res);
	result_clear(&res);
}

/* ---- timeout ------------------------------------------------------------------ */

static void timeout_cases(void)
{
	struct srt_error e;
	struct srt_result *res = NULL;
	char token[64], cmd[512], sample[400];
	snprintf(token, sizeof(token), "srt-timeout-%d", (int)getpid());
	/* a shell that stays (not the last command: no exec), one in the
	 * background that init inherits, and the command itself */
	snprintf(cmd, sizeof(cmd),
		 "echo before; (sh -c 'sleep 60; true' %s &); sh -c 'sleep 60; true' %s; echo never", token, token);
	struct srt_execute_options o = { .size = sizeof(o), .timeout_ms = 1500 };
	int64_t t0 = now_ms();
	int r = run(cmd, &o, &res, &e);
	int64_t took = now_ms() - t0;
	ok(r == 0 && res->timed_out && res->status == 124 && !res->canceled,
	   "sleep 60 with timeout_ms 1500: returns 0, timed_out, status 124 (r %d, status %d)", r,
	   r == 0 ? res->status : -1);
	ok(took >= 1400 && took < 10000, "it ended after the timeout, not the command (%lld ms)", (long long)took);
	ok(r == 0 && out_is(res, "before\n"), "the output captured until then is kept");
	int left = processes_with_token(token, sample, sizeof(sample));
	ok(left == 0, "when it returns, no process of the sandbox is left (%d%s%s)", left, left > 0 ? ": " : "",
	   left > 0 ? sample : "");
	result_clear(&res);

	/* a timeout while 1 MiB of stdin waits to be written to a command
	 * that does not read */
	size_t n = 1024 * 1024;
	char *data = calloc(1, n);
	struct srt_execute_options os = { .size = sizeof(os), .timeout_ms = 800, .stdin_kind = SRT_STDIN_BYTES,
					  .stdin_data = data, .stdin_len = n };
	t0 = now_ms();
	r = run("sleep 60", &os, &res, &e);
	ok(r == 0 && res->timed_out && res->status == 124 && now_ms() - t0 < 10000,
	   "the timeout also ends a command that never reads its stdin (%lld ms)", (long long)(now_ms() - t0));
	result_clear(&res);
	free(data);

	/* a command faster than its timeout is not marked */
	struct srt_execute_options oq = { .size = sizeof(oq), .timeout_ms = 60000 };
	r = run("echo quick; exit 3", &oq, &res, &e);
	ok(r == 0 && !res->timed_out && res->status == 3 && out_is(res, "quick\n"),
	   "a command that ends in time: its own status, timed_out false");
	result_clear(&res);
}

/* ---- output cap ---------------------------------------------------------------- */

static void cap_cases(void)
{
	struct srt_error e;
	struct srt_result *res = NULL;
	struct srt_execute_options o = { .size = sizeof(o), .max_output = 1000 };
	int r = run("head -c 300000 /dev/zero | tr '\\0' a; head -c 10 /dev/zero | tr '\\0' b >&2", &o, &res, &e);
	bool all_a = r == 0 && res->out_len == 1000;
	for (size_t i = 0; all_a && i < res->out_len; i++)
		all_a = res->out[i] == 'a';
	ok(r == 0 && res->status == 0 && all_a && res->out_truncated && res->out[1000] == '\0',
	   "max_output 1000: exactly the first 1000 bytes of stdout, out_truncated (%zu, %d)",
	   r == 0 ? res->out_len : 0, r == 0 ? res->out_truncated : -1);
	ok(r == 0 && res->err_len == 10 && !res->err_truncated, "stderr under the cap: whole, not truncated");
	result_clear(&res);

	r = run("head -c 1000 /dev/zero | tr '\\0' a; head -c 1001 /dev/zero >&2", &o, &res, &e);
	ok(r == 0 && res->out_len == 1000 && !res->out_truncated && res->err_len == 1000 && res->err_truncated,
	   "exactly the cap is not truncated, one byte more is (out %zu %d, err %zu %d)", r == 0 ? res->out_len : 0,
	   r == 0 ? res->out_truncated : -1, r == 0 ? res->err_len : 0, r == 0 ? res->err_truncated : -1);
	result_clear(&res);
}

/* ---- cancel ------------------------------------------------------------------- */

struct canceller {
	struct srt_execution *ex;
	int delay_ms;
	int r;
};

static void *cancel_later(void *arg)
{
	struct canceller *c = arg;
	sleep_ms(c->delay_ms);
	c->r = srt_execution_cancel(c->ex);
	return NULL;
}

struct runner {
	const char *cmd;
	const struct srt_execute_options *o;
	struct srt_result *res;
	struct srt_error e;
	int r;
};

static void *run_thread(void *arg)
{
	struct runner *x = arg;
	x->r = run(x->cmd, x->o, &x->res, &x->e);
	return NULL;
}

static void cancel_cases(void)
{
	struct srt_error e;
	struct srt_result *res = NULL;
	char token[64], cmd[512], sample[400];
	snprintf(token, sizeof(token), "srt-cancel-%d", (int)getpid());
	snprintf(cmd, sizeof(cmd), "echo started; sh -c 'sleep 60; true' %s", token);

	struct srt_execution *ex = srt_execution_new();
	ok(ex != NULL, "srt_execution_new gives a handle");
	if (!ex) {
		skip(9, "no handle");
		return;
	}
	/* Cancelled from another thread while the command runs. */
	struct srt_execute_options o = { .size = sizeof(o), .cancel = ex };
	struct canceller c = { .ex = ex, .delay_ms = 1500, .r = 1 };
	pthread_t th;
	pthread_create(&th, NULL, cancel_later, &c);
	int64_t t0 = now_ms();
	int r = run(cmd, &o, &res, &e);
	int64_t took = now_ms() - t0;
	pthread_join(th, NULL);
	ok(c.r == 0 && r == 0 && res->canceled && !res->timed_out && res->status == 137,
	   "cancelled from another thread: returns 0, canceled, status 137 (cancel %d, r %d, status %d)", c.r, r,
	   r == 0 ? res->status : -1);
	ok(took >= 1400 && took < 10000, "it returned soon after the cancel (%lld ms)", (long long)took);
	ok(r == 0 && out_is(res, "started\n"), "with the output captured so far");
	int left = processes_with_token(token, sample, sizeof(sample));
	ok(left == 0, "no process of the sandbox is left (%d%s%s)", left, left > 0 ? ": " : "", left > 0 ? sample : "");
	result_clear(&res);

	/* The handle stays cancelled: a new execution does not start. */
	char marker[400], mcmd[600];
	snprintf(marker, sizeof(marker), "%s/ran-after-cancel", t.proj);
	snprintf(mcmd, sizeof(mcmd), "touch '%s'", marker);
	memset(&res, 0x5a, sizeof(res));
	r = run(mcmd, &o, &res, &e);
	ok(r == -ECANCELED && e.code == -ECANCELED && strstr(e.message, "cancel") && res == NULL,
	   "a handle cancelled before the call: -ECANCELED, *ret NULL (\"%s\")", e.message);
	ok(access(marker, F_OK) < 0, "and nothing ran");
	ok(srt_execution_cancel(ex) == 0, "cancelling twice is harmless");
	srt_execution_free(ex);

	/* One handle, two executions at once: one cancel ends both. */
	ex = srt_execution_new();
	struct srt_execute_options o2 = { .size = sizeof(o2), .cancel = ex };
	struct runner a = { .cmd = "sleep 60", .o = &o2 }, b = { .cmd = "sleep 61", .o = &o2 };
	pthread_t ta, tb;
	pthread_create(&ta, NULL, run_thread, &a);
	pthread_create(&tb, NULL, run_thread, &b);
	sleep_ms(1500);
	t0 = now_ms();
	srt_execution_cancel(ex);
	pthread_join(ta, NULL);
	pthread_join(tb, NULL);
	ok(a.r == 0 && b.r == 0 && a.res->canceled && b.res->canceled && now_ms() - t0 < 10000,
	   "one handle shared by two executions: one cancel ends both (%lld ms)", (long long)(now_ms() - t0));
	result_clear(&a.res);
	result_clear(&b.res);
	srt_execution_free(ex);

	/* Cancels that land while the sandbox is still being set up (before
	 * or while its launcher connects): each call returns promptly and
	 * nothing of the sandbox stays. */
	char tok3[64], cmd3[256];
	snprintf(tok3, sizeof(tok3), "srt-early-%d", (int)getpid());
	snprintf(cmd3, sizeof(cmd3), "sh -c 'sleep 60; true' %s", tok3);
	int good = 0, slow = 0;
	for (int i = 0; i < 12; i++) {
		struct srt_execution *x = srt_execution_new();
		struct srt_execute_options oc = { .size = sizeof(oc), .cancel = x };
		struct canceller cc = { .ex = x, .delay_ms = i * 4, .r = 1 };
		pthread_t tc;
		pthread_create(&tc, NULL, cancel_later, &cc);
		int64_t s0 = now_ms();
		memset(&e, 0, sizeof(e));
		r = srt_runtime_execute_shell(rt, cmd3, &oc, &res, &e);
		if (now_ms() - s0 > 10000)
			slow++;
		pthread_join(tc, NULL);
		if ((r == 0 && res->canceled && res->status == 137) || r == -ECANCELED)
			good++;
		else
			diag("early cancel %d: r %d (%s)", i, r, e.message);
		result_clear(&res);
		srt_execution_free(x);
	}
	left = processes_with_token(tok3, sample, sizeof(sample));
	ok(good == 12 && slow == 0 && left == 0,
	   "12 cancels early in the set-up: each call canceled or -ECANCELED (%d), none slow (%d), nothing left (%d%s%s)",
	   good, slow, left, left > 0 ? ": " : "", left > 0 ? sample : "");

	ok(srt_execution_cancel(NULL) == -EINVAL, "srt_execution_cancel(NULL): -EINVAL");
	srt_execution_free(NULL);
}

/* ---- misuse -------------------------------------------------------------------- */

static void refused(const char *what, int r, int want, const struct srt_error *e, const struct srt_result *res,
		    const char *needle)
{
	bool good = r == want && e->code == want && strstr(e->message, needle) && res == NULL;
	ok(good, "%s: %d (%s), message names %s: \"%s\"", what, want, strerror(-want), needle, e->message);
	if (!good)
		diag("got %d", r);
}

static void misuse_cases(void)
{
	struct srt_error e;
	struct srt_result *res;
	int r;

	struct srt_execute_options o = { .size = sizeof(o), .stdin_kind = (enum srt_stdin_kind)7 };
	res = (struct srt_result *)&o;
	r = run("true", &o, &res, &e);
	refused("stdin_kind 7", r, -EINVAL, &e, res, "stdin_kind");

	o.stdin_kind = SRT_STDIN_FD;
	o.stdin_fd = -1;
	res = (struct srt_result *)&o;
	r = run("true", &o, &res, &e);
	refused("SRT_STDIN_FD with stdin_fd -1", r, -EINVAL, &e, res, "stdin_fd");

	/* zero-initialised options do not mean descriptor 0 */
	struct srt_execute_options z = { .size = sizeof(z) };
	r = run("cat; echo end", &z, &res, &e);
	ok(r == 0 && out_is(res, "end\n"), "zero-initialised options: stdin is empty, not descriptor 0");
	result_clear(&res);

	int closed = open("/dev/null", O_RDONLY | O_CLOEXEC);
	close(closed);
	o.stdin_fd = closed;
	r = run("true", &o, &res, &e);
	refused("SRT_STDIN_FD with a closed descriptor", r, -EBADF, &e, res, "stdin_fd");

	struct srt_execute_options ob = { .size = sizeof(ob), .stdin_kind = SRT_STDIN_BYTES, .stdin_len = 5 };
	r = run("true", &ob, &res, &e);
	refused("SRT_STDIN_BYTES with stdin_data NULL and stdin_len 5", r, -EINVAL, &e, res, "stdin_data");

	const char *const empty[] = { "A=1", "", NULL };
	struct srt_execute_options oe = { .size = sizeof(oe), .env = empty };
	r = run("true", &oe, &res, &e);
	refused("an empty env entry", r, -EINVAL, &e, res, "env[1]");

	const char *const noname[] = { "=value", NULL };
	oe.env = noname;
	r = run("true", &oe, &res, &e);
	refused("an env entry starting with '='", r, -EINVAL, &e, res, "env[0]");

	r = srt_runtime_execute(rt, (const char *const[]){ "true", NULL }, &oe, NULL, &e);
	ok(r == -EINVAL, "ret NULL: -EINVAL (%d)", r);
}

/* ---- unix sockets of the host, per sandbox --------------------------------- */

static void *accept_all(void *arg)
{
	int l = *(int *)arg;
	for (;;) {
		int c = accept(l, NULL, NULL);
		if (c < 0)
			return NULL;
		(void)write(c, "hi\n", 3);
		close(c);
	}
}

static void unix_socket_cases(void)
{
	struct srt_error e;
	struct srt_result *res = NULL;
	/* A host server in the tree's folder, which the sandbox sees. */
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	if (strlen(t.root) + sizeof("/host.sock") > sizeof(a.sun_path))
		die("the tree's folder is too long for a unix socket");
	memcpy(a.sun_path, t.root, strlen(t.root));
	memcpy(a.sun_path + strlen(t.root), "/host.sock", sizeof("/host.sock"));
	int l = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(l, 8) < 0)
		die("host unix server");
	pthread_t th;
	if (pthread_create(&th, NULL, accept_all, &l))
		die("pthread_create");
	char cmd[600];
	snprintf(cmd, sizeof(cmd),
		 "python3 -c 'import socket,sys\ns=socket.socket(socket.AF_UNIX)\ntry:\n s.connect(sys.argv[1]); "
		 "print(s.recv(9).decode(), end=\"\")\nexcept OSError as x:\n print(\"refused\", x.errno)' %s", a.sun_path);
	const char *const list[] = { a.sun_path, NULL };
	struct srt_sandbox_options so = { .size = sizeof(so), .allow_unix_sockets = list };
	struct srt_execute_options o = { .size = sizeof(o), .sandbox = &so, .timeout_ms = 60000 };
	int r = run(cmd, &o, &res, &e);
	ok(r == 0 && out_is(res, "hi\n"), "allow_unix_sockets of this sandbox: it connects to the host's socket");
	result_clear(&res);
	struct srt_execute_options plain = { .size = sizeof(plain), .timeout_ms = 60000 };
	r = run(cmd, &plain, &res, &e);
	ok(r == 0 && out_is(res, "refused 13\n"), "another sandbox of the runtime, without it: EACCES");
	result_clear(&res);
	const char *const bad[] = { "relative/no/cwd/~x", "~nobody/x", NULL };
	so.allow_unix_sockets = bad;
	r = run(cmd, &o, &res, &e);
	ok(r == -EINVAL && !res && strstr(e.message, "allowUnixSockets[1]"),
	   "a bad entry: -EINVAL naming it (\"%s\")", e.message);
	result_clear(&res);
	shutdown(l, SHUT_RDWR);
	close(l);
	pthread_join(th, NULL);
	unlink(a.sun_path);
}

int main(void)
{
	plan(46);
	tree_make(&t);
	struct srt_runtime_options o = tree_options(&t);
	const char *const aw[] = { ".", NULL };
	struct srt_config cfg = { .size = sizeof(cfg) };
	cfg.allow_write = aw;
	rt = runtime_new_or_bail(&cfg, &o);
	stdin_cases();
	env_cases();
	timeout_cases();
	cap_cases();
	cancel_cases();
	misuse_cases();
	unix_socket_cases();
	srt_runtime_free(rt);
	tree_remove(&t);
	return done_testing();
}
