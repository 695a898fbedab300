/* A sandbox lives as long as its command, whichever thread started it and
 * whether that thread still exists; and it never outlives the process that
 * owns its runtime.
 *
 * Parent-death signals (PR_SET_PDEATHSIG, bubblewrap's --die-with-parent)
 * fire when the parent *thread* exits, not the parent process: a wrapped
 * argv spawned from a worker thread that then ends must not take its
 * sandbox with it. Here 200 wrapped sandboxes are spawned from threads that
 * end while their sandboxes run (half right after posix_spawn, half as
 * soon as the command printed its first line), 20 at a time, and the main
 * thread collects every status: each must be the command's own. The same
 * for execute from short-lived threads. Then the other half of the
 * promise: a caller that signals the process it spawned still ends that
 * sandbox, srt_runtime_free ends it, and when a host process that runs
 * sandboxes is SIGKILLed, or executes another program, within a few
 * seconds no process of them may be left (found by a token in their
 * command lines, through /proc). */
#include "common.h"

#include <dirent.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>

extern char **environ;

#define TOTAL 200
#define AT_ONCE 20
#define EXECUTED 40
#define HOST_SANDBOXES 4

/* A status as srt(1) reports it: the code, or 128+N for signal N. */
static int srt_status(int st)
{
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* Wait for pid at most timeout_ms, then SIGKILL it. Returns its status as
 * srt(1) does, or -1 when it had to be killed or could not be waited for. */
static int wait_status(pid_t pid, int timeout_ms)
{
	int64_t end = now_ms() + timeout_ms;
	int st;
	for (;;) {
		pid_t p = waitpid(pid, &st, WNOHANG);
		if (p == pid)
			return srt_status(st);
		if (p < 0 && errno != EINTR)
			return -1;
		if (now_ms() > end) {
			kill(pid, SIGKILL);
			waitpid(pid, NULL, 0);
			return -1;
		}
		sleep_ms(5);
	}
}

/* Read one line from fd within timeout_ms. */
static bool read_line(int fd, char *buf, size_t size, int timeout_ms)
{
	size_t have = 0;
	int64_t end = now_ms() + timeout_ms;
	while (have + 1 < size) {
		int left = (int)(end - now_ms());
		struct pollfd p = { .fd = fd, .events = POLLIN };
		if (left <= 0 || poll(&p, 1, left) <= 0)
			break;
		ssize_t n = read(fd, buf + have, 1);
		if (n <= 0)
			break;
		if (buf[have++] == '\n')
			break;
	}
	buf[have] = '\0';
	return have > 0 && buf[have - 1] == '\n';
}

/* Spawn a wrapped argv with stdin from /dev/null and stdout to a pipe
 * whose read end is returned in *out. */
static int spawn_wrapped(char **argv, pid_t *pid, int *out)
{
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0)
		return errno;
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, p[1], 1);
	int e = posix_spawn(pid, argv[0], &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(p[1]);
	if (e)
		close(p[0]);
	else
		*out = p[0];
	return e;
}

/* ---- wrapped, from threads that end ----------------------------------------- */

struct job {
	srt_runtime *rt;
	int n;              /* the status its command exits with */
	bool wait_started;  /* end the thread once the command runs, not at once */
	pid_t pid;          /* 0: not spawned */
	char msg[600];
};

/* Wrap, spawn, and end the thread while the sandbox runs. */
static void *spawn_then_exit(void *arg)
{
	struct job *j = arg;
	char cmd[128], **argv = NULL;
	struct srt_error e;
	memset(&e, 0, sizeof(e));
	/* Nobody reads the output of a sandbox whose thread ends at once. */
	snprintf(cmd, sizeof(cmd), "%ssleep 0.2; exit %d", j->wait_started ? "echo up; " : "", j->n);
	int r = srt_runtime_wrap_shell(j->rt, cmd, NULL, &argv, NULL, &e);
	if (r < 0) {
		snprintf(j->msg, sizeof(j->msg), "wrap: %d %.500s", r, e.message);
		return NULL;
	}
	int out = -1;
	r = spawn_wrapped(argv, &j->pid, &out);
	if (r) {
		snprintf(j->msg, sizeof(j->msg), "posix_spawn: %s", strerror(r));
		j->pid = 0;
	} else {
		char line[64];
		/* By the time the command runs, everything on the way there
		 * (bwrap included) has set up whatever ties it to its parent. */
		if (j->wait_started && !read_line(out, line, sizeof(line), 30000))
			snprintf(j->msg, sizeof(j->msg), "no first line from the command (\"%s\")", line);
		close(out);
	}
	srt_argv_free(argv);
	return NULL;
}

/* ---- executed, from threads that end ---------------------------------------- */

struct exec_job {
	srt_runtime *rt;
	int n;
	int status;
	char msg[600];
};

static void *execute_then_exit(void *arg)
{
	struct exec_job *j = arg;
	char cmd[64];
	struct srt_result *res = NULL;
	struct srt_error e;
	memset(&e, 0, sizeof(e));
	snprintf(cmd, sizeof(cmd), "sleep 0.2; exit %d", j->n);
	int r = srt_runtime_execute_shell(j->rt, cmd, NULL, &res, &e);
	j->status = r < 0 ? -1 : res->status;
	if (r < 0)
		snprintf(j->msg, sizeof(j->msg), "execute: %d %.500s", r, e.message);
	else if (res->status != j->n)
		snprintf(j->msg, sizeof(j->msg), "status %d, stderr \"%.400s\"", res->status, res->err ? res->err : "");
	result_clear(&res);
	return NULL;
}

/* ---- finding processes by a token in their command line --------------------- */

/* Wait up to timeout_ms until no process carries token. Returns how many
 * are left, and in *ms how long it took. */
static int wait_token_gone(const char *token, int timeout_ms, int64_t *ms, char *sample, size_t size)
{
	int64_t t0 = now_ms();
	int n;
	while ((n = processes_with_token(token, sample, size)) > 0 && now_ms() - t0 < timeout_ms)
		sleep_ms(20);
	*ms = now_ms() - t0;
	return n;
}

/* ---- a host process that is killed ------------------------------------------ */

/* The host: a runtime of its own, HOST_SANDBOXES wrapped sandboxes running
 * `token`-marked commands, "ready" on `report` once all of them run; then
 * it waits to be killed. The runtime folder is made under xdg, whose name
 * carries the token too, so that the launchers' command lines show it. */
static void __attribute__((noreturn)) host_main(const struct srt_config *cfg, const struct srt_runtime_options *o,
					      const char *xdg, const char *token, int report, bool exec_after)
{
	setenv("XDG_RUNTIME_DIR", xdg, 1);
	srt_runtime *rt = NULL;
	struct srt_error e;
	memset(&e, 0, sizeof(e));
	if (srt_runtime_new_from_config(cfg, o, &rt, &e) < 0) {
		dprintf(report, "no runtime: %s\n", e.message);
		_exit(1);
	}
	for (int k = 0; k < HOST_SANDBOXES; k++) {
		char cmd[256], **argv = NULL, line[64];
		/* Quiet: once the runtime is gone, the observer's calls fail. */
		snprintf(cmd, sizeof(cmd), "echo up; exec 2>/dev/null; while :; do sleep 1; done; : %s", token);
		pid_t pid;
		int out = -1;
		if (srt_runtime_wrap_shell(rt, cmd, NULL, &argv, NULL, &e) < 0 || spawn_wrapped(argv, &pid, &out) != 0 ||
		    !read_line(out, line, sizeof(line), 30000)) {
			dprintf(report, "sandbox %d did not start: %s\n", k, e.message);
			_exit(1);
		}
		srt_argv_free(argv);
	}
	dprintf(report, "ready\n");
	if (exec_after) {
		/* The process lives on as another program; the runtime is gone. */
		char *const sl[] = { "sleep", "60", NULL };
		execv("/bin/sleep", sl);
		_exit(1);
	}
	for (;;)
		pause();
}

/* Start a host; true once it says it runs its sandboxes. */
static bool host_start(const struct srt_config *cfg, const struct srt_runtime_options *o, const char *xdg,
		       const char *token, bool exec_after, pid_t *host)
{
	int rp[2];
	if (mkdir(xdg, 0700) < 0 || pipe2(rp, O_CLOEXEC) < 0)
		die("mkdir/pipe");
	fflush(stdout);
	*host = fork();
	if (*host < 0)
		die("fork");
	if (*host == 0) {
		close(rp[0]);
		host_main(cfg, o, xdg, token, rp[1], exec_after);
	}
	close(rp[1]);
	char line[600];
	bool ready = read_line(rp[0], line, sizeof(line), 60000) && strcmp(line, "ready\n") == 0;
	close(rp[0]);
	if (!ready)
		diag("the host said \"%s\"", line);
	return ready;
}

/* Kill whatever still carries token, should a check have failed: nothing
 * of the test may stay behind. */
static void kill_token(const char *token)
{
	for (int i = 0; i < 50 && processes_with_token(token, NULL, 0) > 0; i++) {
		DIR *d = opendir("/proc");
		struct dirent *de;
		while (d && (de = readdir(d))) {
			char path[300], buf[8192];
			snprintf(path, sizeof(path), "/proc/%s/cmdline", de->d_name);
			int fd = open(path, O_RDONLY | O_CLOEXEC);
			ssize_t len = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;
			if (fd >= 0)
				close(fd);
			if (len <= 0)
				continue;
			for (ssize_t k = 0; k < len; k++)
				if (!buf[k])
					buf[k] = ' ';
			buf[len] = '\0';
			if (strstr(buf, token))
				kill(atoi(de->d_name), SIGKILL);
		}
		if (d)
			closedir(d);
		sleep_ms(100);
	}
}

/* ---- main ---------------------------------------------------------------------- */

int main(void)
{
	struct tree t;
	char token[64], sample[400];
	int64_t ms;

	plan(10);
	signal(SIGPIPE, SIG_IGN);
	tree_make(&t);
	struct srt_runtime_options o = tree_options(&t);
	const char *const aw[] = { ".", NULL };
	struct srt_config cfg = { .size = sizeof(cfg) };
	cfg.allow_write = aw;
	srt_runtime *rt = runtime_new_or_bail(&cfg, &o);

	/* 200 wrapped sandboxes, each spawned from a thread that ends. */
	static struct job jobs[TOTAL];
	int64_t t0 = now_ms();
	int started = 0, own = 0, killed_now = 0, killed_started = 0, other = 0;
	char first_bad[700] = "";
	for (int b = 0; b < TOTAL; b += AT_ONCE) {
		pthread_t th[AT_ONCE];
		for (int i = b; i < b + AT_ONCE; i++) {
			jobs[i] = (struct job){ .rt = rt, .n = 1 + i % 120, .wait_started = i % 2 == 0 };
			if (pthread_create(&th[i - b], NULL, spawn_then_exit, &jobs[i]) != 0)
				die("pthread_create");
		}
		for (int i = b; i < b + AT_ONCE; i++)
			pthread_join(th[i - b], NULL);
		/* Every thread that spawned these is gone now. */
		for (int i = b; i < b + AT_ONCE; i++) {
			struct job *j = &jobs[i];
			if (!j->pid) {
				if (!first_bad[0])
					snprintf(first_bad, sizeof(first_bad), "sandbox %d: %s", i, j->msg);
				continue;
			}
			started++;
			int st = wait_status(j->pid, 30000);
			if (st == j->n) {
				own++;
			} else {
				if (st == 128 + SIGKILL && j->wait_started)
					killed_started++;
				else if (st == 128 + SIGKILL)
					killed_now++;
				else
					other++;
				if (!first_bad[0])
					snprintf(first_bad, sizeof(first_bad), "sandbox %d: status %d, not %d %s", i, st,
						 j->n, j->msg);
			}
		}
	}
	diag("%d wrapped sandboxes in %lld ms: %d returned their own status, SIGKILLed: %d whose thread ended at "
	     "once, %d whose thread ended once the command ran; %d other",
	     TOTAL, (long long)(now_ms() - t0), own, killed_now, killed_started, other);
	if (first_bad[0])
		diag("first failure: %s", first_bad);
	ok(started == TOTAL, "%d wrapped argvs spawned from threads that then ended (%d)", TOTAL, started);
	ok(killed_now + killed_started == 0, "no sandbox was killed when its thread ended (%d, %d)", killed_now,
	   killed_started);
	ok(own == TOTAL, "each of the %d returned its own status (%d did)", TOTAL, own);

	/* execute from threads that end when it returns. */
	static struct exec_job ejobs[EXECUTED];
	int eown = 0;
	first_bad[0] = '\0';
	for (int b = 0; b < EXECUTED; b += AT_ONCE) {
		pthread_t th[AT_ONCE];
		for (int i = b; i < b + AT_ONCE; i++) {
			ejobs[i] = (struct exec_job){ .rt = rt, .n = 1 + i % 120 };
			if (pthread_create(&th[i - b], NULL, execute_then_exit, &ejobs[i]) != 0)
				die("pthread_create");
		}
		for (int i = b; i < b + AT_ONCE; i++) {
			pthread_join(th[i - b], NULL);
			if (ejobs[i].status == ejobs[i].n)
				eown++;
			else if (!first_bad[0])
				snprintf(first_bad, sizeof(first_bad), "execute %d: %s", i, ejobs[i].msg);
		}
	}
	if (first_bad[0])
		diag("first failure: %s", first_bad);
	ok(eown == EXECUTED, "%d executes from short-lived threads, each its own status (%d)", EXECUTED, eown);

	/* The caller ends a wrapped sandbox by signalling what it spawned. */
	const int sigs[] = { SIGTERM, SIGKILL };
	for (size_t s = 0; s < sizeof(sigs) / sizeof(sigs[0]); s++) {
		snprintf(token, sizeof(token), "srt-lifetime-sig%d-%d", sigs[s], (int)getpid());
		char cmd[256], **argv = NULL, line[64];
		snprintf(cmd, sizeof(cmd), "echo up; while :; do sleep 1; done; : %s", token);
		pid_t pid;
		int out = -1, st = -2, left = -1;
		struct srt_error e;
		memset(&e, 0, sizeof(e));
		if (srt_runtime_wrap_shell(rt, cmd, NULL, &argv, NULL, &e) == 0 && spawn_wrapped(argv, &pid, &out) == 0) {
			if (read_line(out, line, sizeof(line), 30000)) {
				kill(pid, sigs[s]);
				st = wait_status(pid, 10000);
				left = wait_token_gone(token, 5000, &ms, sample, sizeof(sample));
			}
			close(out);
		} else {
			diag_err("srt_runtime_wrap_shell", -1, &e);
		}
		srt_argv_free(argv);
		ok(st == 128 + sigs[s] && left == 0,
		   "%s to the spawned process ends it with that signal (status %d) and its sandbox (%d left%s%s)",
		   strsignal(sigs[s]), st, left, left > 0 ? ": " : "", left > 0 ? sample : "");
	}
	/* A running wrapped sandbox when the runtime is freed. */
	snprintf(token, sizeof(token), "srt-lifetime-free-%d", (int)getpid());
	{
		char cmd[256], **argv = NULL, line[64];
		snprintf(cmd, sizeof(cmd), "echo up; while :; do sleep 1; done; : %s", token);
		pid_t pid = 0;
		int out = -1, st = -2, left = -1;
		struct srt_error e;
		memset(&e, 0, sizeof(e));
		if (srt_runtime_wrap_shell(rt, cmd, NULL, &argv, NULL, &e) == 0 && spawn_wrapped(argv, &pid, &out) == 0) {
			if (read_line(out, line, sizeof(line), 30000)) {
				srt_runtime_free(rt);
				rt = NULL;
				st = wait_status(pid, 10000);
				left = wait_token_gone(token, 5000, &ms, sample, sizeof(sample));
			}
			close(out);
		} else {
			diag_err("srt_runtime_wrap_shell", -1, &e);
		}
		srt_argv_free(argv);
		ok(st == 128 + SIGKILL && left == 0,
		   "srt_runtime_free ends a running wrapped sandbox (status %d, %d processes left%s%s)", st, left,
		   left > 0 ? ": " : "", left > 0 ? sample : "");
		kill_token(token);
	}
	srt_runtime_free(rt);

	/* A host process that runs sandboxes is SIGKILLed: none outlives it. */
	snprintf(token, sizeof(token), "srt-lifetime-host-%d", (int)getpid());
	char xdg[400];
	snprintf(xdg, sizeof(xdg), "%s/%s", t.root, token);
	pid_t host;
	bool ready = host_start(&cfg, &o, xdg, token, false, &host);
	int running = processes_with_token(token, sample, sizeof(sample));
	ok(ready && running >= 2 * HOST_SANDBOXES, "the host runs %d sandboxes (%d processes carry the token)",
	   HOST_SANDBOXES, running);
	kill(host, SIGKILL);
	waitpid(host, NULL, 0);
	int left = wait_token_gone(token, 5000, &ms, sample, sizeof(sample));
	ok(left == 0, "the host SIGKILLed: no process of its sandboxes is left after %lld ms (%d left%s%s)",
	   (long long)ms, left, left > 0 ? ": " : "", left > 0 ? sample : "");
	kill_token(token);

	/* A host that executes another program: its process lives on, its
	 * runtime does not, and neither may its sandboxes. */
	snprintf(token, sizeof(token), "srt-lifetime-exec-%d", (int)getpid());
	snprintf(xdg, sizeof(xdg), "%s/%s", t.root, token);
	ready = host_start(&cfg, &o, xdg, token, true, &host);
	left = ready ? wait_token_gone(token, 5000, &ms, sample, sizeof(sample)) : -1;
	bool alive = waitpid(host, NULL, WNOHANG) == 0;
	ok(ready && left == 0 && alive,
	   "the host executed another program: no process of its sandboxes is left after %lld ms (%d left%s%s; "
	   "host %s)",
	   (long long)ms, left, left > 0 ? ": " : "", left > 0 ? sample : "", alive ? "alive" : "gone");
	kill(host, SIGKILL);
	waitpid(host, NULL, 0);
	kill_token(token);

	tree_remove(&t);
	return done_testing();
}
