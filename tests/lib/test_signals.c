/* The host program's signal setup does not reach the sandbox: a program
 * that ignores SIGCHLD, reaps every child itself or blocks and ignores
 * signals still gets the command's status from execute, and a wrapped argv
 * it spawns still ends. execute and wrap on the runtime's own thread (in
 * an event callback) are refused with -EDEADLK instead of hanging. reset
 * restores what creation set: sandboxing enabled, violations from seq 1.
 *
 * A hang fails the program (alarm) rather than blocking the suite. */
#include "common.h"

#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>

extern char **environ;

static volatile sig_atomic_t reaped;

/* A host that reaps every child it has, as simple programs do. */
static void reap_all(int sig)
{
	(void)sig;
	int e = errno;
	while (waitpid(-1, NULL, WNOHANG) > 0)
		reaped++;
	errno = e;
}

static int exec_status(srt_runtime *rt, const char *cmd)
{
	struct srt_error e;
	struct srt_result *res = NULL;
	memset(&e, 0, sizeof(e));
	int r = srt_runtime_execute_shell(rt, cmd, NULL, &res, &e);
	if (r < 0) {
		diag_err("srt_runtime_execute_shell", r, &e);
		return -1000;
	}
	int st = res->status;
	if (st != 0 && st != 3 && st != 4 && st != 5 && st != 143)
		diag_result(res);
	srt_result_free(res);
	return st;
}

/* From a SANDBOX_START callback (the runtime's thread). */
struct reentry {
	int exec_r, wrap_r;
	char exec_msg[1024];
	bool called;
};

static srt_runtime *g_rt;

static void on_start_rt(const struct srt_event *ev, void *data)
{
	struct reentry *re = data;
	if (ev->type != SRT_EVENT_SANDBOX_START || re->called)
		return;
	re->called = true;
	struct srt_result *res = NULL;
	struct srt_error e;
	memset(&e, 0, sizeof(e));
	re->exec_r = srt_runtime_execute_shell(g_rt, "true", NULL, &res, &e);
	snprintf(re->exec_msg, sizeof(re->exec_msg), "%s", e.message);
	if (re->exec_r == 0)
		result_clear(&res);
	char **argv = NULL;
	re->wrap_r = srt_runtime_wrap_shell(g_rt, "true", NULL, &argv, NULL, NULL);
	srt_argv_free(argv);
}

int main(void)
{
	struct tree t;
	struct srt_error e;
	struct srt_result *res = NULL;
	srt_runtime *rt = NULL;
	int r, st;

	alarm(240);
	plan(15);
	tree_make(&t);
	struct srt_runtime_options o = tree_options(&t);
	const char *const aw[] = { ".", NULL };
	struct srt_config cfg = { .size = sizeof(cfg) };
	cfg.allow_write = aw;
	rt = runtime_new_or_bail(&cfg, &o);
	g_rt = rt;

	/* SIGCHLD ignored: children are reaped by the kernel, and bwrap
	 * would inherit the disposition and never learn its child ended. */
	signal(SIGCHLD, SIG_IGN);
	int64_t t0 = now_ms();
	st = exec_status(rt, "exit 3");
	ok(st == 3, "SIGCHLD ignored: execute \"exit 3\" gives status 3 (%d, %lld ms)", st,
	   (long long)(now_ms() - t0));
	st = exec_status(rt, "kill -TERM $$");
	ok(st == 143, "SIGCHLD ignored: a command killed by SIGTERM gives 143 (%d)", st);

	/* ... and a wrapped argv spawned under it (posix_spawn without
	 * attributes: the launcher inherits SIG_IGN) ends; its stdout closes. */
	char **argv = NULL;
	memset(&e, 0, sizeof(e));
	r = srt_runtime_wrap_shell(rt, "echo wrapped", NULL, &argv, NULL, &e);
	char out[256] = "";
	bool eof = false;
	if (r == 0) {
		int p[2];
		if (pipe2(p, O_CLOEXEC) < 0)
			die("pipe");
		posix_spawn_file_actions_t fa;
		posix_spawn_file_actions_init(&fa);
		posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
		posix_spawn_file_actions_adddup2(&fa, p[1], 1);
		pid_t pid;
		int se = posix_spawn(&pid, argv[0], &fa, NULL, argv, environ);
		posix_spawn_file_actions_destroy(&fa);
		close(p[1]);
		if (se == 0) {
			fcntl(p[0], F_SETFL, O_NONBLOCK);
			size_t have = 0;
			int64_t end = now_ms() + 30000;
			while (now_ms() < end) {
				ssize_t n = read(p[0], out + have, sizeof(out) - 1 - have);
				if (n == 0) {
					eof = true;
					break;
				}
				if (n > 0)
					have += (size_t)n;
				else
					sleep_ms(10);
			}
			out[have] = '\0';
		} else {
			diag("posix_spawn: %s", strerror(se));
		}
		close(p[0]);
		srt_argv_free(argv);
	} else {
		diag_err("srt_runtime_wrap_shell", r, &e);
	}
	ok(eof && strcmp(out, "wrapped\n") == 0, "SIGCHLD ignored: a wrapped argv runs and ends (eof %d, \"%s\")", eof,
	   out);
	signal(SIGCHLD, SIG_DFL);

	/* A SIGCHLD handler that reaps every child. */
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = reap_all;
	sa.sa_flags = SA_RESTART;
	sigaction(SIGCHLD, &sa, NULL);
	st = exec_status(rt, "exit 4");
	ok(st == 4, "a host reaping every child (waitpid(-1)) still gets status 4 (%d)", st);
	signal(SIGCHLD, SIG_DFL);

	/* Signals blocked and SIGTERM, SIGINT, SIGPIPE ignored by the host. */
	sigset_t all, old;
	sigfillset(&all);
	sigprocmask(SIG_BLOCK, &all, &old);
	signal(SIGTERM, SIG_IGN);
	signal(SIGINT, SIG_IGN);
	signal(SIGPIPE, SIG_IGN);
	st = exec_status(rt, "exit 5");
	ok(st == 5, "signals blocked and ignored: status 5 (%d)", st);
	st = exec_status(rt, "kill -TERM $$");
	ok(st == 143, "signals blocked and ignored: SIGTERM still ends the command, 143 (%d)", st);
	signal(SIGTERM, SIG_DFL);
	signal(SIGINT, SIG_DFL);
	signal(SIGPIPE, SIG_DFL);
	sigprocmask(SIG_SETMASK, &old, NULL);

	/* execute and wrap from the runtime's thread: refused, not a hang. */
	struct reentry re;
	memset(&re, 0, sizeof(re));
	uint64_t tok = 0;
	srt_runtime_subscribe(rt, on_start_rt, &re, &tok);
	t0 = now_ms();
	st = exec_status(rt, "exit 0");
	int64_t took = now_ms() - t0;
	srt_runtime_unsubscribe(rt, tok);
	ok(st == 0 && took < 8000, "execute whose SANDBOX_START callback calls execute ends (%d, %lld ms)", st,
	   (long long)took);
	ok(re.called && re.exec_r == -EDEADLK, "execute in an event callback returns -EDEADLK (%d)", re.exec_r);
	ok(re.exec_msg[0] != '\0', "with a message: %s", re.exec_msg);
	ok(re.called && re.wrap_r == -EDEADLK, "wrap in an event callback returns -EDEADLK (%d)", re.wrap_r);

	/* reset: sandboxing enabled again, as at creation */
	memset(&e, 0, sizeof(e));
	r = srt_runtime_reload_json(rt, "{\"sandbox\":{\"enabled\":false}}", NULL, &e);
	ok(r == 0 && !srt_sandboxing_enabled(rt), "reload with sandbox.enabled false disables (%d)", r);
	memset(&e, 0, sizeof(e));
	r = srt_runtime_execute_shell(rt, "true", NULL, &res, &e);
	ok(r == -ENOTSUP, "execute is refused then (%d)", r);
	if (r == 0)
		result_clear(&res);
	srt_runtime_reset(rt);
	ok(srt_sandboxing_enabled(rt), "reset enables sandboxing again");
	st = exec_status(rt, "exit 0");
	ok(st == 0, "execute works after reset (%d)", st);

	/* reset: violations numbered from 1 again */
	char cmd[1024], target[600];
	snprintf(cmd, sizeof(cmd), "echo x > '%s/denied' 2>/dev/null; exit 0", t.ro);
	snprintf(target, sizeof(target), "%s/denied", t.ro);
	exec_status(rt, cmd);
	struct found_violation fv;
	memset(&fv, 0, sizeof(fv));
	int w1 = find_violation(rt, SRT_VIOLATION_FILESYSTEM, 0, target, 5000, &fv);
	uint64_t seq1 = fv.seq;
	exec_status(rt, cmd);
	find_violation(rt, SRT_VIOLATION_FILESYSTEM, 0, target, 5000, &fv);
	srt_runtime_reset(rt);
	exec_status(rt, cmd);
	memset(&fv, 0, sizeof(fv));
	int w2 = find_violation(rt, SRT_VIOLATION_FILESYSTEM, 0, target, 5000, &fv);
	ok(w1 >= 0 && w2 >= 0 && seq1 >= 1 && fv.seq == 1, "after reset the first violation has seq 1 (%llu, then %llu)",
	   (unsigned long long)seq1, (unsigned long long)fv.seq);
	if (fv.seq != 1)
		dump_violations(rt);

	srt_runtime_free(rt);
	tree_remove(&t);
	return done_testing();
}
