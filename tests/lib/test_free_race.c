/* srt_runtime_free while an execution's output is held open outside the
 * sandbox: the command (python3, with network.allowAllUnixSockets) passes
 * its stdout and stderr over a unix socket to this program, which keeps
 * them, as a daemon the command handed them to would. Killing the sandbox
 * then closes no pipe: free must not wait for their end of file (the
 * executions leave at once, -ECANCELED), and an execution's timeout or
 * srt_execution_cancel coming while free runs must not touch the runtime's
 * loop once free has closed it (it aborted in libuv). */
#include "common.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>

static struct tree t;
static char sock_path[sizeof(((struct sockaddr_un *)0)->sun_path)];

/* How long the holder keeps what it got: longer than any bound below, so
 * that a free waiting for the end of file is seen waiting (and the test
 * ends even then). */
#define HOLD_MS 8000

/* The command: hands its stdout and stderr to the holder, then stays. */
static const char script[] =
	"import array, socket, sys, time\n"
	"s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)\n"
	"s.connect(sys.argv[1])\n"
	"s.sendmsg([b'x'], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array('i', [1, 2]))])\n"
	"time.sleep(100)\n";

/* ---- the holder: accepts, takes the descriptors, keeps them HOLD_MS -------- */

struct holder {
	int listen_fd;
	pthread_t thread;
	pthread_mutex_t lock;
	int got;                  /* descriptors received */
	volatile bool stop;
};

static void *holder_main(void *arg)
{
	struct holder *h = arg;
	int held[64], n = 0;
	int64_t release = -1;
	while (!h->stop) {
		struct pollfd p = { .fd = h->listen_fd, .events = POLLIN };
		if (release >= 0 && now_ms() >= release) {
			while (n > 0)
				close(held[--n]);
			release = -1;
		}
		if (poll(&p, 1, 50) <= 0)
			continue;
		int c = accept4(h->listen_fd, NULL, NULL, SOCK_CLOEXEC);
		if (c < 0)
			continue;
		char byte;
		union {
			char buf[CMSG_SPACE(2 * sizeof(int))];
			struct cmsghdr align;
		} u;
		struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
		struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof(u.buf) };
		if (recvmsg(c, &m, MSG_CMSG_CLOEXEC) > 0)
			for (struct cmsghdr *cm = CMSG_FIRSTHDR(&m); cm; cm = CMSG_NXTHDR(&m, cm))
				if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS) {
					size_t k = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
					int fds[2];
					memcpy(fds, CMSG_DATA(cm), (k > 2 ? 2 : k) * sizeof(int));
					for (size_t i = 0; i < k && i < 2; i++) {
						if (n < 64)
							held[n++] = fds[i];
						else
							close(fds[i]);
					}
					pthread_mutex_lock(&h->lock);
					h->got += (int)k;
					pthread_mutex_unlock(&h->lock);
					release = now_ms() + HOLD_MS;
				}
		close(c);
	}
	while (n > 0)
		close(held[--n]);
	return NULL;
}

static void holder_start(struct holder *h)
{
	memset(h, 0, sizeof(*h));
	pthread_mutex_init(&h->lock, NULL);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	memcpy(sa.sun_path, sock_path, sizeof(sa.sun_path));
	unlink(sock_path);
	h->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (h->listen_fd < 0 || bind(h->listen_fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    chmod(sock_path, 0777) < 0 || listen(h->listen_fd, 8) < 0)
		die("holder socket");
	if (pthread_create(&h->thread, NULL, holder_main, h) != 0)
		die("pthread_create");
}

static int holder_got(struct holder *h)
{
	pthread_mutex_lock(&h->lock);
	int n = h->got;
	pthread_mutex_unlock(&h->lock);
	return n;
}

static void holder_stop(struct holder *h)
{
	h->stop = true;
	pthread_join(h->thread, NULL);
	close(h->listen_fd);
	unlink(sock_path);
	pthread_mutex_destroy(&h->lock);
}

/* ---- an execution on a thread of its own -------------------------------- */

struct job {
	srt_runtime *rt;
	uint64_t timeout_ms;
	struct srt_execution *cancel;
	pthread_t thread;
	int r;
	bool had_result;
	struct srt_error e;
	int64_t ended;            /* now_ms() when execute returned */
};

static void *job_main(void *arg)
{
	struct job *j = arg;
	const char *argv[] = { "/usr/bin/python3", "-c", script, sock_path, NULL };
	struct srt_execute_options o = { .size = sizeof(o), .timeout_ms = j->timeout_ms, .cancel = j->cancel };
	struct srt_result *res = NULL;
	j->r = srt_runtime_execute(j->rt, argv, &o, &res, &j->e);
	j->had_result = res != NULL;
	srt_result_free(res);
	__atomic_store_n(&j->ended, now_ms(), __ATOMIC_SEQ_CST);
	return NULL;
}

static srt_runtime *runtime_for_holding(void)
{
	struct srt_runtime_options o = tree_options(&t);
	o.observe = SRT_OBSERVE_OFF;
	srt_runtime *rt = NULL;
	struct srt_error e;
	int r = srt_runtime_new_from_json("{\"network\":{\"allowAllUnixSockets\":true}}", "free-race", &o, &rt, &e);
	if (r < 0) {
		diag_err("srt_runtime_new_from_json", r, &e);
		printf("Bail out! no runtime\n");
		exit(1);
	}
	return rt;
}

/* Starts the job and waits until the holder has the command's output (the
 * execution is then in its poll loop). */
static bool job_start_held(struct job *j, struct holder *h)
{
	int before = holder_got(h);
	if (pthread_create(&j->thread, NULL, job_main, j) != 0)
		die("pthread_create");
	int64_t end = now_ms() + 15000;
	while (holder_got(h) < before + 2 && now_ms() < end && !__atomic_load_n(&j->ended, __ATOMIC_SEQ_CST))
		sleep_ms(10);
	bool held = holder_got(h) >= before + 2;
	if (!held)
		diag("the command did not hand its output over (execute: %d %s)", j->r, j->e.message);
	return held;
}

struct freer {
	srt_runtime *rt;
	pthread_t thread;
	int64_t began, ended;
};

static void *freer_main(void *arg)
{
	struct freer *f = arg;
	srt_runtime_free(f->rt);
	__atomic_store_n(&f->ended, now_ms(), __ATOMIC_SEQ_CST);
	return NULL;
}

/* 1. No timeout, no cancel: free returns at once all the same. */
static void held_output(struct holder *h)
{
	struct job j = { .rt = runtime_for_holding() };
	bool held = job_start_held(&j, h);
	int64_t t0 = now_ms();
	srt_runtime_free(j.rt);
	int64_t took = now_ms() - t0;
	pthread_join(j.thread, NULL);
	ok(held && j.r == -ECANCELED && !j.had_result && took < 3000 && j.ended - t0 < 3000,
	   "output held outside the sandbox: srt_runtime_free returns in %lld ms, the execution -ECANCELED in %lld ms, "
	   "not at the end of file (%d: %s)",
	   (long long)took, (long long)(j.ended - t0), j.r, j.e.message);
}

/* 2. The execution's timeout falls while free runs (about two seconds
 * after free began: the command hands its output over first). */
static void timeout_during_free(struct holder *h)
{
	struct job j = { .rt = runtime_for_holding(), .timeout_ms = 2500 };
	bool held = job_start_held(&j, h);
	struct freer f = { .rt = j.rt, .began = now_ms() };
	if (pthread_create(&f.thread, NULL, freer_main, &f) != 0)
		die("pthread_create");
	pthread_join(f.thread, NULL);
	pthread_join(j.thread, NULL);
	/* Past the timeout: one that fired during a free would have hit it. */
	sleep_ms(2500);
	ok(held && j.r == -ECANCELED && !j.had_result && f.ended - f.began < 3000,
	   "an execution with a timeout, output held: free returns in %lld ms, the execution -ECANCELED, no "
	   "crash (%d: %s)",
	   (long long)(f.ended - f.began), j.r, j.e.message);
}

/* 3. srt_execution_cancel while free runs. */
static void cancel_during_free(struct holder *h)
{
	struct job j = { .rt = runtime_for_holding(), .cancel = srt_execution_new() };
	if (!j.cancel)
		die("srt_execution_new");
	bool held = job_start_held(&j, h);
	struct freer f = { .rt = j.rt, .began = now_ms() };
	if (pthread_create(&f.thread, NULL, freer_main, &f) != 0)
		die("pthread_create");
	sleep_ms(500);
	int c = srt_execution_cancel(j.cancel);
	pthread_join(f.thread, NULL);
	pthread_join(j.thread, NULL);
	ok(held && c == 0 && j.r == -ECANCELED && !j.had_result && f.ended - f.began < 3000,
	   "srt_execution_cancel while free runs, output held: free returns in %lld ms, the execution -ECANCELED, "
	   "no crash (%d: %s)",
	   (long long)(f.ended - f.began), j.r, j.e.message);
	srt_execution_free(j.cancel);
}

int main(void)
{
	plan(3);
	tree_make(&t);
	if (snprintf(sock_path, sizeof(sock_path), "%s/hold.sock", t.root) >= (int)sizeof(sock_path)) {
		printf("Bail out! %s: too long a path for a socket\n", t.root);
		return 1;
	}
	if (access("/usr/bin/python3", X_OK) != 0) {
		skip(3, "no /usr/bin/python3 to hand the output over in the sandbox");
		tree_remove(&t);
		return done_testing();
	}
	struct holder h;
	holder_start(&h);
	held_output(&h);
	timeout_during_free(&h);
	cancel_during_free(&h);
	holder_stop(&h);
	tree_remove(&t);
	return done_testing();
}
