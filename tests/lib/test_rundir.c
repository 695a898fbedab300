/* The runtime folder and its socket, which wrapped sandboxes' launchers
 * connect to: made when the runtime is; hidden inside every sandbox (also
 * with network.allowAllUnixSockets, after reload and reset); the socket
 * bounds what unattached connections can take (at most 32 at a time, the
 * others wait their turn; 10 s each);
 * running out of descriptors neither spins the runtime's thread nor
 * leaves a launcher waiting forever; a failed start can be retried; a
 * runtime's folder is locked while it lives, and the folders of runtimes
 * that are gone (their lock free: whatever their pid, which another PID
 * namespace's runtime does not share) are reclaimed, nothing else is.
 *
 * XDG_RUNTIME_DIR points into the test's tree, which sandboxes can read
 * (the host's /tmp, the other place for the folder, is private in them). */
#include "common.h"

#include <dirent.h>
#include <libgen.h>
#include <poll.h>
#include <signal.h>
#include <sched.h>
#include <sys/file.h>
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

/* An execute on a thread of its own. */
struct behind {
	srt_runtime *rt;
	struct srt_error e;
	int r, status;
	bool done;
};

static void *behind_main(void *arg)
{
	struct behind *b = arg;
	struct srt_result *res = NULL;
	b->status = -1;
	b->r = srt_runtime_execute_shell(b->rt, "exit 7", NULL, &res, &b->e);
	if (b->r == 0 && res)
		b->status = res->status;
	srt_result_free(res);
	__atomic_store_n(&b->done, true, __ATOMIC_SEQ_CST);
	return NULL;
}

/* What a sandbox sees of the runtime folder, of another runtime's socket
 * and of a socket beside them. */
static bool probe(srt_runtime *rt, const char *rundir, const char *sock2, const char *other, struct srt_result **res)
{
	char cmd[4096];
	struct srt_error e;
	snprintf(cmd, sizeof(cmd),
		 "ls -A '%s' 2>&1; test -S '%s/sock' && echo SOCK-VISIBLE; test -S '%s' && echo SOCK2-VISIBLE; "
		 "test -S '%s' && echo OTHER-VISIBLE; exit 0",
		 rundir, rundir, sock2, other);
	memset(&e, 0, sizeof(e));
	int r = srt_runtime_execute_shell(rt, cmd, NULL, res, &e);
	if (r < 0) {
		diag_err("srt_runtime_execute_shell", r, &e);
		return false;
	}
	return true;
}

/* ---- folders of runtimes that are gone -------------------------------------- */

/* A runtime's folder is "PID.XXXXXX", locked (flock) while the runtime
 * lives: a later runtime removes one whose lock is free, whatever its pid
 * says, and nothing else. */

/* Whether someone holds a lock on the folder path (-1: cannot tell). */
static int held(const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -1;
	int r = flock(fd, LOCK_EX | LOCK_NB) < 0 ? (errno == EWOULDBLOCK ? 1 : -1) : 0;
	close(fd);
	return r;
}

/* Whether this process has a close-on-exec descriptor of path, and none
 * without. */
static bool own_fd_cloexec(const char *path)
{
	int n_cloexec = 0, n_other = 0;
	DIR *d = opendir("/proc/self/fd");
	for (struct dirent *de; d && (de = readdir(d));) {
		char p[300], link[PATH_MAX];
		snprintf(p, sizeof(p), "/proc/self/fd/%s", de->d_name);
		ssize_t n = readlink(p, link, sizeof(link) - 1);
		if (de->d_name[0] == '.' || n <= 0)
			continue;
		link[n] = '\0';
		if (strcmp(link, path) != 0)
			continue;
		int flags = fcntl(atoi(de->d_name), F_GETFD);
		if (flags >= 0 && (flags & FD_CLOEXEC))
			n_cloexec++;
		else
			n_other++;
	}
	if (d)
		closedir(d);
	return n_cloexec >= 1 && n_other == 0;
}

static bool there(const char *parent, const char *name)
{
	char p[900];
	struct stat st;
	snprintf(p, sizeof(p), "%s/%s", parent, name);
	return lstat(p, &st) == 0;
}

static void make_dir_in(const char *parent, const char *name, const char *sock_text)
{
	char p[900];
	snprintf(p, sizeof(p), "%s/%s", parent, name);
	if (mkdir(p, 0700) < 0)
		die(p);
	if (sock_text) {
		snprintf(p, sizeof(p), "%s/%s/sock", parent, name);
		write_file(p, sock_text);
	}
}

static bool holds_text(const char *path, const char *text)
{
	char buf[256] = "";
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;
	if (fd >= 0)
		close(fd);
	return n >= 0 && strncmp(buf, text, sizeof(buf)) == 0;
}

/* The name of pid's runtime folder in parent ("PID.XXXXXX"), or "". */
static void folder_of(const char *parent, int pid, char *name, size_t size)
{
	char prefix[32];
	snprintf(prefix, sizeof(prefix), "%d.", pid);
	name[0] = '\0';
	DIR *d = opendir(parent);
	for (struct dirent *de; d && (de = readdir(d));)
		if (strncmp(de->d_name, prefix, strlen(prefix)) == 0 && strlen(de->d_name) == strlen(prefix) + 6)
			snprintf(name, size, "%s", de->d_name);
	if (d)
		closedir(d);
}

/* A new runtime, made and freed: it reclaims what it may. */
static void new_runtime(const struct srt_runtime_options *o)
{
	srt_runtime *rt = NULL;
	struct srt_error e;
	memset(&e, 0, sizeof(e));
	int r = srt_runtime_new_from_json("{}", NULL, o, &rt, &e);
	if (r < 0) {
		diag_err("srt_runtime_new_from_json", r, &e);
		printf("Bail out! no runtime\n");
		exit(2);
	}
	srt_runtime_free(rt);
}

/* A child that makes a runtime and waits (its pid, as this namespace sees
 * it, in *pid); with newpid, in a PID namespace of its own, where it is 1.
 * 0, or the errno that stopped it. */
static int runtime_child(const struct srt_runtime_options *o, bool newpid, pid_t *pid)
{
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0)
		die("pipe");
	pid_t c = fork();
	if (c < 0)
		die("fork");
	if (c == 0) {
		int msg[2] = { 0, 0 };
		if (newpid && unshare(CLONE_NEWPID) < 0) {
			msg[0] = errno;
			(void)!write(p[1], msg, sizeof(msg));
			_exit(0);
		}
		pid_t g = newpid ? fork() : 0;
		if (g > 0) { /* the namespace's pid 1 runs on after we go */
			msg[1] = g;
			(void)!write(p[1], msg, sizeof(msg));
			_exit(0);
		}
		srt_runtime *rt = NULL;
		msg[0] = g < 0 ? errno : srt_runtime_new_from_json("{}", NULL, o, &rt, NULL) < 0 ? EIO : 0;
		msg[1] = getpid();
		if (!newpid) /* else: its folder shows when it has made it */
			(void)!write(p[1], msg, sizeof(msg));
		for (;;)
			pause();
	}
	close(p[1]);
	int msg[2] = { -1, 0 };
	ssize_t n = read(p[0], msg, sizeof(msg));
	close(p[0]);
	if (newpid)
		waitpid(c, NULL, 0);
	if (n != (ssize_t)sizeof(msg))
		return EIO;
	*pid = newpid ? msg[1] : c;
	return msg[0];
}

static void test_reclaim(void)
{
	struct tree t;
	tree_make(&t);
	char xdg[400], parent[420], victim[420], keep[450], victim_file[450], p[900];
	snprintf(xdg, sizeof(xdg), "%s/xdg-reclaim", t.root);
	snprintf(parent, sizeof(parent), "%s/srt", xdg);
	snprintf(victim, sizeof(victim), "%s/victim", t.root);
	snprintf(keep, sizeof(keep), "%s/keep", victim);
	snprintf(victim_file, sizeof(victim_file), "%s/victim-file", t.root);
	if (mkdir(xdg, 0700) < 0 || mkdir(parent, 0700) < 0 || mkdir(victim, 0755) < 0)
		die("mkdir xdg-reclaim");
	write_file(keep, "keep");
	write_file(victim_file, "keep");
	setenv("XDG_RUNTIME_DIR", xdg, 1);
	struct srt_runtime_options o = tree_options(&t);

	/* A pid that is no process's here: a child's, reaped. */
	pid_t dead = fork();
	if (dead == 0)
		_exit(0);
	waitpid(dead, NULL, 0);

	/* This runtime's folder: named after this process, locked by a
	 * descriptor sandboxes and spawned programs do not inherit. */
	srt_runtime *rt = NULL;
	if (srt_runtime_new_from_json("{}", NULL, &o, &rt, NULL) < 0) {
		printf("Bail out! no runtime\n");
		exit(2);
	}
	char mine[64], mine_path[1000] = "";
	folder_of(parent, (int)getpid(), mine, sizeof(mine));
	snprintf(mine_path, sizeof(mine_path), "%s/%s", parent, mine);
	char real[PATH_MAX] = "";
	if (!mine[0] || !realpath(mine_path, real))
		real[0] = '\0';
	ok(mine[0] != '\0', "a runtime's folder is PID.XXXXXX, PID its process's (%s)", mine[0] ? mine : "none");
	ok(real[0] && held(real) == 1 && own_fd_cloexec(real),
	   "the runtime holds a lock on its folder, by a close-on-exec descriptor");
	srt_runtime_free(rt);
	ok(mine[0] && !there(parent, mine), "and the folder goes with the runtime");

	/* A live runtime that a pid of this namespace does not name (another
	 * PID namespace's): its folder's lock is held by a live process. */
	char n_held[64];
	snprintf(n_held, sizeof(n_held), "%d.aaaaaa", (int)dead);
	make_dir_in(parent, n_held, "live");
	int hp[2];
	if (pipe2(hp, O_CLOEXEC) < 0)
		die("pipe");
	pid_t holder = fork();
	if (holder == 0) {
		snprintf(p, sizeof(p), "%s/%s", parent, n_held);
		int fd = open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		char c = fd >= 0 && flock(fd, LOCK_SH) == 0 ? 'y' : 'n';
		(void)!write(hp[1], &c, 1);
		for (;;)
			pause();
	}
	close(hp[1]);
	char c = 'n';
	(void)!read(hp[0], &c, 1);
	close(hp[0]);
	/* A live runtime of another process: made by a child that waits. */
	pid_t live = 0;
	int lr = runtime_child(&o, false, &live);
	char n_live[64] = "";
	if (lr == 0)
		folder_of(parent, (int)live, n_live, sizeof(n_live));
	/* Folders whose lock is free: one whose runtime was killed, and one
	 * made by hand, its pid no process's. */
	pid_t gone = 0;
	int gr = runtime_child(&o, false, &gone);
	char n_gone[64] = "";
	if (gr == 0) {
		folder_of(parent, (int)gone, n_gone, sizeof(n_gone));
		kill(gone, SIGKILL);
		waitpid(gone, NULL, 0);
	}
	char n_free[64];
	snprintf(n_free, sizeof(n_free), "%d.bbbbbb", (int)dead);
	make_dir_in(parent, n_free, "old");
	/* Hostile: a link named like a folder, to a folder with a file; a
	 * free folder whose "socket" is a link to a file, and holding a fifo;
	 * a fifo named like a folder; a free folder holding a folder. */
	char n_link[64], n_linkin[64], n_fifo[64], n_nested[64];
	snprintf(n_link, sizeof(n_link), "%d.cccccc", (int)dead);
	snprintf(n_linkin, sizeof(n_linkin), "%d.dddddd", (int)dead);
	snprintf(n_fifo, sizeof(n_fifo), "%d.eeeeee", (int)dead);
	snprintf(n_nested, sizeof(n_nested), "%d.ffffff", (int)dead);
	snprintf(p, sizeof(p), "%s/%s", parent, n_link);
	if (symlink(victim, p) < 0)
		die("symlink");
	make_dir_in(parent, n_linkin, NULL);
	snprintf(p, sizeof(p), "%s/%s/sock", parent, n_linkin);
	if (symlink(victim_file, p) < 0)
		die("symlink sock");
	snprintf(p, sizeof(p), "%s/%s/fifo", parent, n_linkin);
	if (mkfifo(p, 0600) < 0)
		die("mkfifo");
	snprintf(p, sizeof(p), "%s/%s", parent, n_fifo);
	if (mkfifo(p, 0600) < 0)
		die("mkfifo");
	make_dir_in(parent, n_nested, "x");
	snprintf(p, sizeof(p), "%s/%s/inner", parent, n_nested);
	if (mkdir(p, 0700) < 0)
		die("mkdir inner");
	snprintf(p, sizeof(p), "%s/%s/inner/file", parent, n_nested);
	write_file(p, "inner");
	/* Names that are not a runtime's folder: a runtime's before it is
	 * locked, none at all, a leading zero, the older format. */
	const char *odd[] = { "new.gggggg", "XyZ123", "0.hhhhhh", "01.iiiiii", " 1.jjjjjj", "1.kkkkkk.x",
			      "1.2.0123abcd.llllll" };
	for (size_t i = 0; i < sizeof(odd) / sizeof(odd[0]); i++)
		make_dir_in(parent, odd[i], "x");
	/* Another user's, its lock free (root only can make one). */
	bool as_root = getuid() == 0;
	char n_other[64];
	snprintf(n_other, sizeof(n_other), "%d.mmmmmm", (int)dead);
	if (as_root) {
		make_dir_in(parent, n_other, "x");
		snprintf(p, sizeof(p), "%s/%s", parent, n_other);
		if (chown(p, 65534, 65534) < 0)
			die("chown");
	}

	new_runtime(&o);

	snprintf(p, sizeof(p), "%s/%s/sock", parent, n_held);
	ok(c == 'y' && there(parent, n_held) && holds_text(p, "live"),
	   "a folder whose lock is held stays, with its socket, though no process here has its pid (%s)", n_held);
	if (!ok(lr == 0 && n_live[0] && there(parent, n_live), "so does the folder of another process's live runtime "
	    "(%s)", n_live))
		diag("runtime child: %s", strerror(lr));
	ok(gr == 0 && n_gone[0] && !there(parent, n_gone),
	   "the folder of a runtime whose process was killed is removed (%s)", n_gone);
	ok(!there(parent, n_free), "so is a folder whose lock is free, whatever its pid (%s)", n_free);
	struct stat st;
	ok(there(parent, n_link) && stat(keep, &st) == 0 && holds_text(keep, "keep"),
	   "a link named like a folder stays, and is not followed: what it leads to is untouched");
	ok(!there(parent, n_linkin) && holds_text(victim_file, "keep"),
	   "a free folder holding a link and a fifo is removed, and the link's target is untouched");
	snprintf(p, sizeof(p), "%s/%s/inner/file", parent, n_nested);
	ok(there(parent, n_fifo) && there(parent, n_nested) && holds_text(p, "inner"),
	   "a fifo named like a folder stays; so does a folder holding a folder, and what is in it");
	bool odd_stay = true;
	for (size_t i = 0; i < sizeof(odd) / sizeof(odd[0]); i++)
		if (!there(parent, odd[i])) {
			diag("removed: \"%s\"", odd[i]);
			odd_stay = false;
		}
	ok(odd_stay, "folders of other names stay (one being made, older formats, leading zeros)");
	if (as_root)
		ok(there(parent, n_other), "another user's folder stays");
	else
		skip(1, "needs root to make another user's folder");

	/* The other process's runtime goes: its folder is reclaimed. */
	if (lr == 0) {
		kill(live, SIGKILL);
		waitpid(live, NULL, 0);
	}
	kill(holder, SIGKILL);
	waitpid(holder, NULL, 0);
	new_runtime(&o);
	ok(lr == 0 && !there(parent, n_live) && !there(parent, n_held),
	   "once their processes are gone, those folders are reclaimed too");

	/* A live runtime in a PID namespace of its own, where it is pid 1
	 * (another process's here): its folder stays. */
	pid_t nsp = 0;
	int nr = runtime_child(&o, true, &nsp);
	if (nr == EPERM || nr == EINVAL || nr == ENOSPC || nr == EUSERS) {
		skip(2, "cannot make a PID namespace (unshare(CLONE_NEWPID) needs CAP_SYS_ADMIN)");
	} else {
		char n_ns[64] = "";
		/* Its folder appears once it has made its runtime. */
		for (int i = 0; i < 500 && !n_ns[0]; i++) {
			folder_of(parent, 1, n_ns, sizeof(n_ns));
			if (!n_ns[0])
				sleep_ms(10);
		}
		new_runtime(&o);
		if (!ok(nr == 0 && nsp > 0 && n_ns[0] && there(parent, n_ns),
			"the folder of a live runtime in another PID namespace stays (%s, pid %d here)", n_ns, (int)nsp))
			diag("namespace child: %s", strerror(nr));
		if (nsp > 0)
			kill(nsp, SIGKILL);
		for (int i = 0; i < 500 && nsp > 0 && kill(nsp, 0) == 0; i++)
			sleep_ms(10);
		new_runtime(&o);
		ok(nr == 0 && n_ns[0] && !there(parent, n_ns), "and goes once that runtime is gone");
	}

	unsetenv("XDG_RUNTIME_DIR");
	tree_remove(&t);
}

int main(void)
{
	struct tree t;
	struct srt_error e;
	struct srt_result *res = NULL;
	srt_runtime *rt = NULL;
	int r;

	alarm(240);
	signal(SIGPIPE, SIG_IGN);
	plan(21 + 15);
	/* First, before any thread of a runtime exists: forks children that
	 * make runtimes. */
	test_reclaim();
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
	struct srt_config cfg = { .size = sizeof(cfg) };
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
	ok(ran && !has(res, "sock") && !has(res, "SOCK-VISIBLE"), "a sandbox does not see the runtime's socket");
	ok(ran && sock2[0] && access(sock2, F_OK) == 0 && !has(res, "SOCK2-VISIBLE"),
	   "nor that of another runtime made after it (%s)", sock2);
	ok(ran && has(res, "OTHER-VISIBLE"), "but sees another socket in $XDG_RUNTIME_DIR (the probe works)");
	if (ran && (has(res, "SOCK-VISIBLE") || has(res, "SOCK2-VISIBLE") || !has(res, "OTHER-VISIBLE")))
		diag_result(res);
	if (ran)
		result_clear(&res);

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
	ok(ran && !has(res, "SOCK-VISIBLE") && !has(res, "SOCK2-VISIBLE") && has(res, "OTHER-VISIBLE"),
	   "hidden after reload too");
	if (ran)
		result_clear(&res);
	srt_runtime_reset(rt);
	ran = probe(rt, real, sock2, other, &res);
	ok(ran && !has(res, "SOCK-VISIBLE") && !has(res, "SOCK2-VISIBLE") && has(res, "OTHER-VISIBLE"),
	   "hidden after reset too");
	srt_runtime_free(rt2);
	if (ran)
		result_clear(&res);

	/* At most 32 unattached connections are taken: the others wait in
	 * the backlog, and so does a launcher behind them, which starts once
	 * they are gone (a burst of launchers is served, not refused). */
	int conns[40], n_conn = 0, n_closed = 0;
	for (int i = 0; i < 40; i++)
		if ((conns[i] = connect_to(sock)) >= 0)
			n_conn++;
	sleep_ms(300);
	for (int i = 0; i < 40; i++)
		if (conns[i] >= 0 && closed_within(conns[i], 0))
			n_closed++;
	ok(n_conn == 40 && n_closed == 0, "of 40 silent connections none is refused (%d of %d closed)", n_closed,
	   n_conn);
	struct behind job = { .rt = rt };
	pthread_t th;
	bool threaded = pthread_create(&th, NULL, behind_main, &job) == 0;
	sleep_ms(500);
	bool waited = !__atomic_load_n(&job.done, __ATOMIC_SEQ_CST);
	for (int i = 0; i < 40; i++)
		if (conns[i] >= 0)
			close(conns[i]);
	if (threaded)
		pthread_join(th, NULL);
	ok(threaded && waited && job.r == 0 && job.status == 7,
	   "a sandbox started behind them waits, and runs once they are gone (%s; %d, status %d)",
	   waited ? "waited" : "did not wait", job.r, job.status);
	if (job.r < 0)
		diag_err("srt_runtime_execute_shell", job.r, &job.e);

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
	t0 = now_ms();
	r = srt_runtime_execute_shell(rt, "exit 9", NULL, &res, &e);
	ok(r == 0 && res->status == 9, "the runtime serves on (%d, %d, %lld ms)", r, r == 0 ? res->status : -1,
	   (long long)(now_ms() - t0));
	if (r < 0)
		diag_err("srt_runtime_execute_shell", r, &e);
	else
		result_clear(&res);

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
