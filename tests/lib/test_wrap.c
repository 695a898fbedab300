/* srt_runtime_wrap / wrap_shell: the caller spawns the returned argv
 * (posix_spawn here) with its own stdin/stdout; the exit status is the
 * command's; the runtime serves it and attributes its events; the argv's
 * token is single use. */
#include "common.h"

#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>

extern char **environ;

struct spawned {
	pid_t pid;
	int in;   /* write end of the child's stdin, or -1 */
	int out;  /* read end of the child's stdout */
};

static bool spawn(char **argv, struct spawned *s, bool want_stdin)
{
	int po[2], pi[2] = { -1, -1 };
	if (pipe2(po, O_CLOEXEC) < 0 || (want_stdin && pipe2(pi, O_CLOEXEC) < 0))
		die("pipe");
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	if (want_stdin)
		posix_spawn_file_actions_adddup2(&fa, pi[0], 0);
	else
		posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, po[1], 1);
	int r = posix_spawn(&s->pid, argv[0], &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(po[1]);
	if (want_stdin)
		close(pi[0]);
	s->out = po[0];
	s->in = pi[1];
	if (r != 0) {
		diag("posix_spawn(%s): %s", argv[0], strerror(r));
		close(s->out);
		if (s->in >= 0)
			close(s->in);
		return false;
	}
	return true;
}

/* Read all of the child's stdout, wait for it (at most timeout_ms, then
 * SIGKILL). Returns the exit status as srt(1) would: code, or 128+signal. */
static int finish(struct spawned *s, char *out, size_t size, int timeout_ms)
{
	size_t have = 0;
	int64_t end = now_ms() + timeout_ms;
	int fl = fcntl(s->out, F_GETFL);
	fcntl(s->out, F_SETFL, fl | O_NONBLOCK);
	for (;;) {
		ssize_t n = read(s->out, out + have, size - 1 - have);
		if (n > 0) {
			have += (size_t)n;
			if (have == size - 1)
				break;
			continue;
		}
		if (n == 0)
			break;
		if (errno != EAGAIN && errno != EINTR)
			break;
		if (now_ms() > end)
			break;
		sleep_ms(10);
	}
	out[have] = '\0';
	close(s->out);
	int st;
	for (;;) {
		pid_t p = waitpid(s->pid, &st, WNOHANG);
		if (p == s->pid)
			break;
		if (now_ms() > end) {
			diag("pid %d still running after %d ms: killed", (int)s->pid, timeout_ms);
			kill(s->pid, SIGKILL);
			waitpid(s->pid, &st, 0);
			return -1;
		}
		sleep_ms(10);
	}
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

int main(void)
{
	struct tree t;
	struct srt_error e;
	srt_runtime *rt = NULL;
	int r;
	char out[4096];

	plan(20);
	tree_make(&t);
	struct srt_runtime_options o = tree_options(&t);
	const char *const aw[] = { ".", NULL };
	struct srt_config cfg = { .size = sizeof(cfg) };
	cfg.allow_write = aw;
	rt = runtime_new_or_bail(&cfg, &o);
	struct recorder rec;
	recorder_init(&rec);
	srt_runtime_subscribe(rt, recorder_fn, &rec, NULL);
	memset(&e, 0, sizeof(e));
	r = srt_runtime_start(rt, &e);
	ok(r == 0 && srt_runtime_start(rt, NULL) == 0, "srt_runtime_start twice is harmless");

	/* wrap an argv; spawn it; exit status 7 */
	const char *const cmd[] = { "/bin/sh", "-c", "echo wrapped \"$1\"; exit 7", "sh", "arg one", NULL };
	char **argv = NULL;
	uint64_t id = 0;
	memset(&e, 0, sizeof(e));
	r = srt_runtime_wrap(rt, cmd, NULL, &argv, &id, &e);
	if (!ok(r == 0 && argv && argv[0] && id != 0, "wrap returns an argv and an id (%d, %llu)", r,
		(unsigned long long)id)) {
		diag_err("srt_runtime_wrap", r, &e);
		skip(18, "no argv");
		goto out;
	}
	ok(argv[0][0] == '/', "argv[0] is an absolute path (\"%s\")", argv[0]);
	struct spawned sp;
	int st = -1;
	if (spawn(argv, &sp, false))
		st = finish(&sp, out, sizeof(out), 20000);
	ok(st == 7, "spawned with posix_spawn: exit status 7 (got %d)", st);
	ok(strcmp(out, "wrapped arg one\n") == 0, "its stdout is ours, arguments intact (\"%s\")", out);
	recorder_wait(&rec, SRT_EVENT_SANDBOX_EXIT, id, 1, 3000);
	struct rec_event ev;
	ok(recorder_count(&rec, SRT_EVENT_SANDBOX_START, id) == 1, "SANDBOX_START for the wrapped sandbox");
	ok(recorder_find(&rec, SRT_EVENT_SANDBOX_EXIT, id, &ev) && ev.status == 7,
	   "SANDBOX_EXIT for it with status 7 (%d)", recorder_find(&rec, SRT_EVENT_SANDBOX_EXIT, id, &ev) ? ev.status : -99);

	/* the token is single use */
	size_t events_before = recorder_count(&rec, 0, 0);
	size_t viol_before = srt_runtime_violation_count(rt);
	st = -1;
	if (spawn(argv, &sp, false))
		st = finish(&sp, out, sizeof(out), 20000);
	ok(st != 0 && st != 7 && st != -1, "the same argv a second time fails (status %d)", st);
	ok(!strstr(out, "wrapped"), "and the command did not run (stdout \"%s\")", out);
	sleep_ms(300);
	ok(recorder_count(&rec, SRT_EVENT_SANDBOX_START, id) == 1 && recorder_count(&rec, 0, 0) == events_before,
	   "the runtime recorded no event for it (%zu -> %zu events)", events_before, recorder_count(&rec, 0, 0));
	ok(srt_runtime_violation_count(rt) == viol_before, "and no violation (%zu -> %zu)", viol_before,
	   srt_runtime_violation_count(rt));
	if (recorder_count(&rec, 0, 0) != events_before)
		recorder_dump(&rec);
	srt_argv_free(argv);

	/* wrap_shell with stdin wired to us (as an MCP launcher does) */
	argv = NULL;
	id = 0;
	r = srt_runtime_wrap_shell(rt, "read line; echo \"got:$line\"; read line; echo \"got:$line\"", NULL, &argv, &id,
				   &e);
	if (ok(r == 0 && argv, "wrap_shell")) {
		st = -1;
		if (spawn(argv, &sp, true)) {
			ssize_t w = write(sp.in, "one\ntwo\n", 8);
			(void)w;
			close(sp.in);
			st = finish(&sp, out, sizeof(out), 20000);
		}
		ok(st == 0 && strcmp(out, "got:one\ngot:two\n") == 0, "stdin and stdout pass through (%d, \"%s\")", st, out);
		srt_argv_free(argv);
	} else {
		diag_err("srt_runtime_wrap_shell", r, &e);
		skip(1, "no argv");
	}

	/* sandbox options: cwd; violations attributed to the wrapped sandbox */
	struct srt_sandbox_options so = { .size = sizeof(so) };
	so.cwd = t.ro;
	argv = NULL;
	id = 0;
	r = srt_runtime_wrap_shell(rt, "pwd; echo > denied-by-wrap 2>/dev/null; exit 0", &so, &argv, &id, &e);
	if (ok(r == 0 && argv, "wrap_shell with a cwd")) {
		st = -1;
		if (spawn(argv, &sp, false))
			st = finish(&sp, out, sizeof(out), 20000);
		char want[600];
		snprintf(want, sizeof(want), "%s\n", t.ro);
		ok(st == 0 && strcmp(out, want) == 0, "the command ran in the given folder (\"%s\")", out);
		snprintf(want, sizeof(want), "%s/denied-by-wrap", t.ro);
		struct found_violation fv;
		ok(find_violation(rt, SRT_VIOLATION_FILESYSTEM, 0, want, 3000, &fv) >= 0 && fv.sandbox_id == id,
		   "its violation is attributed to the wrapped sandbox's id %llu", (unsigned long long)id);
		srt_argv_free(argv);
	} else {
		diag_err("srt_runtime_wrap_shell", r, &e);
		skip(2, "no argv");
	}

	/* two wraps, spawned together, then waited for */
	char **a1 = NULL, **a2 = NULL;
	uint64_t i1 = 0, i2 = 0;
	const char *const c1[] = { "/bin/sh", "-c", "sleep 0.5; exit 11", NULL };
	const char *const c2[] = { "/bin/sh", "-c", "sleep 0.5; exit 12", NULL };
	int r1 = srt_runtime_wrap(rt, c1, NULL, &a1, &i1, &e);
	int r2 = srt_runtime_wrap(rt, c2, NULL, &a2, &i2, &e);
	ok(r1 == 0 && r2 == 0 && i1 != i2, "two wraps, distinct ids");
	if (r1 == 0 && r2 == 0) {
		struct spawned s1, s2;
		bool ok1 = spawn(a1, &s1, false), ok2 = spawn(a2, &s2, false);
		int st1 = ok1 ? finish(&s1, out, sizeof(out), 20000) : -1;
		int st2 = ok2 ? finish(&s2, out, sizeof(out), 20000) : -1;
		ok(st1 == 11 && st2 == 12, "both ran with their own status (%d, %d)", st1, st2);
		recorder_wait(&rec, SRT_EVENT_SANDBOX_EXIT, i2, 1, 3000);
		recorder_wait(&rec, SRT_EVENT_SANDBOX_EXIT, i1, 1, 3000);
		struct rec_event e1, e2;
		bool f1 = recorder_find(&rec, SRT_EVENT_SANDBOX_EXIT, i1, &e1);
		bool f2 = recorder_find(&rec, SRT_EVENT_SANDBOX_EXIT, i2, &e2);
		ok(f1 && f2 && e1.status == 11 && e2.status == 12, "SANDBOX_EXIT of each with its status (%d, %d)",
		   f1 ? e1.status : -99, f2 ? e2.status : -99);
	} else {
		skip(2, "no argv");
	}
	srt_argv_free(a1);
	srt_argv_free(a2);

	/* a prepared argv expires with the runtime */
	argv = NULL;
	const char *const c3[] = { "/bin/echo", "should-not-run", NULL };
	r = srt_runtime_wrap(rt, c3, NULL, &argv, &id, &e);
	srt_runtime_free(rt);
	rt = NULL;
	st = -1;
	out[0] = '\0';
	if (r == 0 && spawn(argv, &sp, false))
		st = finish(&sp, out, sizeof(out), 20000);
	ok(r == 0 && st != 0 && st != -1 && !strstr(out, "should-not-run"),
	   "an argv spawned after srt_runtime_free fails without running (status %d)", st);
	srt_argv_free(argv);

out:
	srt_runtime_free(rt);
	recorder_free(&rec);
	tree_remove(&t);
	return done_testing();
}
