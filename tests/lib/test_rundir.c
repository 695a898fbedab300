/* The runtime folder and its socket, which wrapped sandboxes' launchers
 * connect to: made when the runtime is; hidden inside every sandbox (also
 * with network.allowAllUnixSockets, after reload and reset); the socket
 * bounds what unattached connections can take (at most 32, 10 s each);
 * running out of descriptors neither spins the runtime's thread nor
 * leaves a launcher waiting forever; a failed start can be retried.
 *
 * XDG_RUNTIME_DIR points into the test's tree, which sandboxes can read
 * (the host's /tmp, the other place for the folder, is private in them). */
#include "common.h"

#include <dirent.h>
#include <libgen.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/un.h>
#include <sys/wait.h>

static int count_fds(void)
{
	int n = 0;
	DIR *d = opendir("/proc/self/fd");
	if (!d)
		return -1;
	for (struct dirent *de; (de = readdir(d));)
		n += de->d_name[0] != '.';
	closedir(d);
	return n - 1; /* the DIR's own */
}

static int connect_to(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof(sa.sun_path))
		return -1;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Whether the runtime closed its end of fd within ms. */
static bool closed_within(int fd, int ms)
{
	int64_t end = now_ms() + ms;
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int left = (int)(end - now_ms());
		if (left < 0)
			left = 0;
		int n = poll(&p, 1, left);
		if (n > 0) {
			char buf[64];
			ssize_t r = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
			if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR))
				return true;
			if (p.revents & (POLLHUP | POLLERR))
				return true;
		}
		if (now_ms() >= end)
			return false;
	}
}

/* Take every descriptor but `spare`, with RLIMIT_NOFILE lowered to
 * `limit`: the runtime's thread shares them. */
struct fill {
	int fds[4096];
	int n;
	struct rlimit old;
};

static void fill_fds(struct fill *f, rlim_t limit, int spare)
{
	f->n = 0;
	getrlimit(RLIMIT_NOFILE, &f->old);
	struct rlimit l = f->old;
	l.rlim_cur = limit;
	if (setrlimit(RLIMIT_NOFILE, &l) < 0)
		die("setrlimit");
	int fd;
	while (f->n < (int)(sizeof(f->fds) / sizeof(f->fds[0])) && (fd = open("/dev/null", O_RDONLY | O_CLOEXEC)) >= 0)
		f->fds[f->n++] = fd;
	for (int i = 0; i < spare && f->n > 0; i++)
		close(f->fds[--f->n]);
}

static void unfill_fds(struct fill *f)
{
	while (f->n > 0)
		close(f->fds[--f->n]);
	setrlimit(RLIMIT_NOFILE, &f->old);
}

static double cpu_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

static bool has(const struct srt_result *r, const char *s)
{
	return r->out && strstr(r->out, s);
}

/* What a sandbox sees of the runtime folder, of another runtime's socket
 * and of a socket beside them. */
static bool probe(srt_runtime *rt, const char *rundir, const char *sock2, const char *other, struct srt_result *res)
{
	char cmd[4096];
	struct srt_error e;
	snprintf(cmd, sizeof(cmd),
		 "ls -A '%s' 2>&1; test -S '%s/sock' && echo SOCK-VISIBLE; test -S '%s' && echo SOCK2-VISIBLE; "
		 "test -S '%s' && echo OTHER-VISIBLE; exit 0",
		 rundir, rundir, sock2, other);
	memset(&e, 0, sizeof(e));
	memset(res, 0, sizeof(*res));
	int r = srt_runtime_execute_shell(rt, cmd, NULL, res, &e);
	if (r < 0) {
		diag_err("srt_runtime_execute_shell", r, &e);
		return false;
	}
	return true;
}

int main(void)
{
	struct tree t;
	struct srt_error e;
	struct srt_result res;
	srt_runtime *rt = NULL;
	int r;

	alarm(240);
	signal(SIGPIPE, SIG_IGN);
	plan(21);
	tree_make(&t);
	char xdg[400], other[500], rundir[1024] = "", sock[1100];
	snprintf(xdg, sizeof(xdg), "%s/xdg", t.root);
	if (mkdir(xdg, 0700) < 0)
		die("mkdir xdg");
	setenv("XDG_RUNTIME_DIR", xdg, 1);
	/* A socket that sandboxes may see: the probe's control. */
	snprintf(other, sizeof(other), "%s/other.sock", xdg);
	int other_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_un osa = { .sun_family = AF_UNIX };
	if (strlen(other) >= sizeof(osa.sun_path))
		die("path too long");
	memcpy(osa.sun_path, other, strlen(other) + 1);
	if (other_fd < 0 || bind(other_fd, (struct sockaddr *)&osa, sizeof(osa)) < 0 || listen(other_fd, 4) < 0)
		die("bind other.sock");

	struct srt_runtime_options o = tree_options(&t);
	/* A runtime started and freed first: what libuv keeps for the whole
	 * process (its signal lock pipe) exists before descriptors are
	 * counted below. */
	srt_runtime *warm = NULL;
	if (srt_runtime_new_from_json("{}", NULL, &o, &warm, NULL) == 0 && srt_runtime_start(warm, NULL) == 0)
		srt_runtime_free(warm);
	else
		printf("Bail out! no warm-up runtime\n");
	const char *const aw[] = { ".", NULL };
	struct srt_config cfg = { 0 };
	cfg.allow_write = aw;
	cfg.allow_all_unix_sockets = true;
	rt = runtime_new_or_bail(&cfg, &o);

	/* Made at creation, in $XDG_RUNTIME_DIR, 0700. */
	char parent[500];
	snprintf(parent, sizeof(parent), "%s/srt", xdg);
	DIR *d = opendir(parent);
	int n_dirs = 0;
	for (struct dirent *de; d && (de = readdir(d));)
		if (de->d_name[0] != '.') {
			snprintf(rundir, sizeof(rundir), "%s/%s", parent, de->d_name);
			n_dirs++;
		}
	if (d)
		closedir(d);
	struct stat st, pst;
	ok(n_dirs == 1 && stat(rundir, &st) == 0 && S_ISDIR(st.st_mode) && (st.st_mode & 07777) == 0700 &&
	   stat(parent, &pst) == 0 && (pst.st_mode & 07777) == 0700,
	   "the runtime folder exists after creation, 0700, in $XDG_RUNTIME_DIR/srt, 0700 (%s)", rundir);
	snprintf(sock, sizeof(sock), "%s/sock", rundir[0] ? rundir : "/nonexistent");

	/* A start that fails leaves nothing behind, and can be retried: a
	 * folder where the socket goes makes bind fail. */
	int fds_before = count_fds();
	bool blocked = mkdir(sock, 0700) == 0;
	memset(&e, 0, sizeof(e));
	r = srt_runtime_start(rt, &e);
	int fds_after = count_fds();
	ok(blocked && r < 0 && e.message[0], "start fails when the socket cannot be made (%d: %s)", r, e.message);
	ok(fds_after == fds_before, "and leaves no descriptor open (%d, then %d)", fds_before, fds_after);
	rmdir(sock);
	/* No thread for the loop (RLIMIT_NPROC; root is not bound by it):
	 * the loop's handles are closed again, so that free does not wait
	 * on them. */
	if (getuid() != 0) {
		struct rlimit old_np, np;
		getrlimit(RLIMIT_NPROC, &old_np);
		np = old_np;
		np.rlim_cur = 0;
		fds_before = count_fds();
		bool lowered = setrlimit(RLIMIT_NPROC, &np) == 0;
		memset(&e, 0, sizeof(e));
		r = srt_runtime_start(rt, &e);
		setrlimit(RLIMIT_NPROC, &old_np);
		fds_after = count_fds();
		ok(lowered && r < 0 && fds_after == fds_before,
		   "start fails without a thread and leaves no descriptor (%d: %s; %d, then %d)", r, e.message,
		   fds_before, fds_after);
	} else {
		skip(1, "root is not bound by RLIMIT_NPROC");
	}
	memset(&e, 0, sizeof(e));
	r = srt_runtime_start(rt, &e);
	if (!ok(r == 0, "start again succeeds"))
		diag_err("srt_runtime_start", r, &e);

	/* The wrapped argv names the socket in that folder: from here on,
	 * the folder is the one the argv names. */
	char **argv = NULL;
	memset(&e, 0, sizeof(e));
	r = srt_runtime_wrap_shell(rt, "true", NULL, &argv, NULL, &e);
	char real[1100] = "", tmp[1100], made[PATH_MAX] = "";
	if (r == 0 && argv[1] && argv[2]) {
		snprintf(sock, sizeof(sock), "%s", argv[2]);
		snprintf(tmp, sizeof(tmp), "%s", argv[2]);
		snprintf(real, sizeof(real), "%s", dirname(tmp));
	} else {
		printf("Bail out! no wrapped argv\n");
		return 1;
	}
	if (!realpath(rundir, made))
		made[0] = '\0';
	ok(strcmp(made, real) == 0, "the launcher's socket is in that folder (%s)", real);
	srt_argv_free(argv);

	/* A second runtime, made after the first: its folder too. */
	srt_runtime *rt2 = NULL;
	char sock2[1100] = "";
	argv = NULL;
	if (srt_runtime_new_from_json("{}", NULL, &o, &rt2, NULL) == 0 &&
	    srt_runtime_wrap_shell(rt2, "true", NULL, &argv, NULL, NULL) == 0)
		snprintf(sock2, sizeof(sock2), "%s", argv[2]);
	srt_argv_free(argv);

	/* Hidden inside: the folder looks empty, the socket is not there; a
	 * socket beside it is. */
	bool ran = probe(rt, real, sock2, other, &res);
	ok(ran && !has(&res, "sock") && !has(&res, "SOCK-VISIBLE"), "a sandbox does not see the runtime's socket");
	ok(ran && sock2[0] && access(sock2, F_OK) == 0 && !has(&res, "SOCK2-VISIBLE"),
	   "nor that of another runtime made after it (%s)", sock2);
	ok(ran && has(&res, "OTHER-VISIBLE"), "but sees another socket in $XDG_RUNTIME_DIR (the probe works)");
	if (ran && (has(&res, "SOCK-VISIBLE") || has(&res, "SOCK2-VISIBLE") || !has(&res, "OTHER-VISIBLE")))
		diag_result(&res);
	if (ran)
		srt_result_free(&res);

	/* After a reload that allows reading $XDG_RUNTIME_DIR explicitly. */
	char json[1200];
	snprintf(json, sizeof(json),
		 "{\"filesystem\":{\"allowWrite\":[\".\"],\"allowRead\":[\"%s\"]},"
		 "\"network\":{\"allowAllUnixSockets\":true}}", xdg);
	memset(&e, 0, sizeof(e));
	r = srt_runtime_reload_json(rt, json, "reload", &e);
	if (r < 0)
		diag_err("srt_runtime_reload_json", r, &e);
	ran = r == 0 && probe(rt, real, sock2, other, &res);
	ok(ran && !has(&res, "SOCK-VISIBLE") && !has(&res, "SOCK2-VISIBLE") && has(&res, "OTHER-VISIBLE"),
	   "hidden after reload too");
	if (ran)
		srt_result_free(&res);
	srt_runtime_reset(rt);
	ran = probe(rt, real, sock2, other, &res);
	ok(ran && !has(&res, "SOCK-VISIBLE") && !has(&res, "SOCK2-VISIBLE") && has(&res, "OTHER-VISIBLE"),
	   "hidden after reset too");
	srt_runtime_free(rt2);
	if (ran)
		srt_result_free(&res);

	/* At most 32 unattached connections: the others are closed at once. */
	int conns[40], n_conn = 0, n_closed = 0;
	for (int i = 0; i < 40; i++)
		if ((conns[i] = connect_to(sock)) >= 0)
			n_conn++;
	sleep_ms(300);
	for (int i = 0; i < 40; i++)
		if (conns[i] >= 0 && closed_within(conns[i], 0))
			n_closed++;
	ok(n_conn == 40 && n_closed == 8, "of 40 silent connections, the 8 beyond 32 are closed (%d of %d)", n_closed,
	   n_conn);
	for (int i = 0; i < 40; i++)
		if (conns[i] >= 0)
			close(conns[i]);
	sleep_ms(100);
	memset(&e, 0, sizeof(e));
	memset(&res, 0, sizeof(res));
	r = srt_runtime_execute_shell(rt, "exit 7", NULL, &res, &e);
	ok(r == 0 && res.status == 7, "once they are gone, sandboxes start again (%d, %d)", r, r == 0 ? res.status : -1);
	if (r < 0)
		diag_err("srt_runtime_execute_shell", r, &e);
	else
		srt_result_free(&res);

	/* A silent connection is closed after 10 s. */
	int c = connect_to(sock);
	int64_t t0 = now_ms();
	bool gone = c >= 0 && closed_within(c, 13000);
	int64_t took = now_ms() - t0;
	ok(gone && took >= 9000, "a silent connection is closed after about 10 s (%lld ms)", (long long)took);
	if (c >= 0)
		close(c);
	sleep_ms(300); /* the runtime closes its end */

	/* No descriptor left for accept: the runtime's thread does not spin,
	 * and accepts once there are descriptors again. */
	struct fill f;
	int base = count_fds();
	fill_fds(&f, (rlim_t)(base + 64), 1);
	c = connect_to(sock); /* takes the last one */
	sleep_ms(100);
	double c0 = cpu_ms();
	sleep_ms(600);
	double spent = cpu_ms() - c0;
	bool connected = c >= 0;
	unfill_fds(&f);
	ok(connected && spent < 200, "out of descriptors, the runtime does not spin (%.0f ms of CPU in 600 ms)", spent);
	bool accepted = false;
	if (connected) {
		uint32_t junk[2] = { 999, 0 };
		ssize_t w = send(c, junk, sizeof(junk), MSG_NOSIGNAL);
		accepted = w == (ssize_t)sizeof(junk) && closed_within(c, 3000);
		close(c);
	}
	ok(accepted, "with descriptors again, the connection is accepted (and refused: not an attach)");

	/* The attach itself fails for want of descriptors: the launcher is
	 * told (closed), not left waiting; the runtime serves on. */
	argv = NULL;
	memset(&e, 0, sizeof(e));
	r = srt_runtime_wrap_shell(rt, "true", NULL, &argv, NULL, &e);
	bool told = false;
	if (r == 0) {
		struct {
			uint32_t type, len;
			char token[32];
		} msg = { 6 /* PROTO_ATTACH */, 32, { 0 } };
		memcpy(msg.token, argv[3], 32);
		base = count_fds();
		fill_fds(&f, (rlim_t)(base + 64), 2);
		c = connect_to(sock); /* one left for the runtime's accept */
		ssize_t w = c >= 0 ? send(c, &msg, sizeof(msg), MSG_NOSIGNAL) : -1;
		told = w == (ssize_t)sizeof(msg) && closed_within(c, 5000);
		unfill_fds(&f);
		if (c >= 0)
			close(c);
		srt_argv_free(argv);
	} else {
		diag_err("srt_runtime_wrap_shell", r, &e);
	}
	ok(told, "an attach that fails for want of descriptors closes the connection");
	memset(&e, 0, sizeof(e));
	memset(&res, 0, sizeof(res));
	t0 = now_ms();
	r = srt_runtime_execute_shell(rt, "exit 9", NULL, &res, &e);
	ok(r == 0 && res.status == 9, "the runtime serves on (%d, %d, %lld ms)", r, r == 0 ? res.status : -1,
	   (long long)(now_ms() - t0));
	if (r < 0)
		diag_err("srt_runtime_execute_shell", r, &e);
	else
		srt_result_free(&res);

	/* Another user cannot attach: SO_PEERCRED is checked. (As root: the
	 * folders are opened up for the case, since their mode would stop
	 * the connect before the runtime sees it.) */
	if (getuid() == 0) {
		bool opened = chmod(xdg, 0711) == 0 && chmod(parent, 0711) == 0 && chmod(real, 0711) == 0 &&
			      chmod(sock, 0777) == 0;
		pid_t pid = fork();
		if (pid == 0) {
			if (setgid(65534) < 0 || setuid(65534) < 0)
				_exit(3);
			int fd = connect_to(sock);
			_exit(fd < 0 ? 2 : closed_within(fd, 3000) ? 0 : 1);
		}
		int ws = 0;
		waitpid(pid, &ws, 0);
		int code = WIFEXITED(ws) ? WEXITSTATUS(ws) : -1;
		chmod(sock, 0755);
		chmod(real, 0700);
		chmod(parent, 0700);
		chmod(xdg, 0700);
		ok(opened && code == 0, "another user's connection is closed at once (%d)", code);
	} else {
		skip(1, "needs root to act as another user");
	}

	/* free: nothing left in $XDG_RUNTIME_DIR but the control */
	srt_runtime_free(rt);
	ok(access(real, F_OK) < 0, "srt_runtime_free removes the runtime folder");
	close(other_fd);
	unlink(other);

	/* creation fails cleanly when settings are bad: no folder is left */
	rt = NULL;
	memset(&e, 0, sizeof(e));
	r = srt_runtime_new_from_json("{\"filesystem\":{\"allowWrite\":3}}", NULL, &o, &rt, &e);
	d = opendir(parent);
	n_dirs = 0;
	for (struct dirent *de; d && (de = readdir(d));)
		n_dirs += de->d_name[0] != '.';
	if (d)
		closedir(d);
	ok(r < 0 && !rt && n_dirs == 0, "a runtime refused at creation leaves no folder (%d, %d left)", r, n_dirs);

	tree_remove(&t);
	return done_testing();
}
