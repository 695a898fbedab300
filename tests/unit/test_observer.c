/* The observer: a child loads the exported notify filter, hands the
 * listener to the parent, which serves it with observer_new on a libuv loop
 * and checks what the callback saw. Also the decoder alone, with a fake
 * memory, and the enforcement filter's AF_UNIX rules. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <linux/filter.h>
#include <linux/openat2.h>
#include <linux/seccomp.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>

#include <cmocka.h>

#include "linux/observer.h"
#include "linux/proto.h"

/* The test's own message: the child waits for it before its calls. */
#define TEST_GO 2u
#include "linux/seccomp_filter.h"

/* ---- Running a probe under the filters ------------------------------------ */

#define MAX_SEEN 64

struct seen {
	enum observed_op op;
	char operation[16];
	bool write;
	char path[PATH_MAX + 1];
	bool has_path;
	struct sockaddr_storage addr;
	socklen_t addr_len;
	int domain;
	bool libc_probe;
	pid_t pid;
};

struct run {
	struct seen seen[MAX_SEEN];
	size_t n;
	uv_poll_t child_watch;
	uv_timer_t timeout;
	bool timed_out;
	bool child_done;
};

static void on_call(void *data, const struct observed_call *c)
{
	struct run *r = data;
	if (r->n >= MAX_SEEN)
		return;
	struct seen *s = &r->seen[r->n++];
	memset(s, 0, sizeof(*s));
	s->op = c->op;
	snprintf(s->operation, sizeof(s->operation), "%s", c->operation);
	s->write = c->write;
	if (c->path) {
		snprintf(s->path, sizeof(s->path), "%s", c->path);
		s->has_path = true;
	}
	if (c->addr) {
		assert_true(c->addr_len <= sizeof(s->addr));
		memcpy(&s->addr, c->addr, c->addr_len);
		s->addr_len = c->addr_len;
	}
	s->domain = c->domain;
	s->libc_probe = c->libc_probe;
	s->pid = c->pid;
}

static void on_child(uv_poll_t *w, int status, int events)
{
	(void)status;
	(void)events;
	struct run *r = w->data;
	r->child_done = true;
	uv_poll_stop(w);
	uv_timer_stop(&r->timeout);
}

static void on_timeout(uv_timer_t *t)
{
	struct run *r = t->data;
	r->timed_out = true;
	uv_poll_stop(&r->child_watch);
}

static void close_quietly(uv_handle_t *h)
{
	(void)h;
}

static int load_bpf(int fd, unsigned flags)
{
	static struct sock_filter insns[BPF_MAXINSNS];
	struct stat st;
	if (fstat(fd, &st) < 0 || st.st_size <= 0 || (size_t)st.st_size > sizeof(insns) ||
	    pread(fd, insns, (size_t)st.st_size, 0) != st.st_size)
		return -1;
	struct sock_fprog prog = { .len = (unsigned short)(st.st_size / (off_t)sizeof(insns[0])), .filter = insns };
	return (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, &prog);
}

static char tmpdir[PATH_MAX];

/* Fork a child that loads the enforcement filter (when eopts) and the
 * notify filter for oopts, passes the listener up, waits for the go and
 * runs probe in tmpdir; serve it until it exits. Returns the child's exit
 * status; *ret_pid its pid. */
static int observe_child(const struct sandbox_observe_options *oopts, const struct sandbox_seccomp_options *eopts,
			 int (*probe)(void), struct run *r, pid_t *ret_pid)
{
	char err[256];
	int nfd = -1, efd = -1;
	assert_int_equal(sandbox_seccomp_export_notify(oopts, &nfd, err, sizeof(err)), 0);
	if (eopts)
		assert_int_equal(sandbox_seccomp_export(eopts, &efd, err, sizeof(err)), 0);
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(sv[0]);
		if (chdir(tmpdir) < 0 || prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
			_exit(100);
		if (efd >= 0 && load_bpf(efd, 0) < 0)
			_exit(101);
		int listener = load_bpf(nfd, SECCOMP_FILTER_FLAG_NEW_LISTENER);
		if (listener < 0)
			_exit(102);
		if (proto_send(sv[1], PROTO_HELLO, NULL, 0, &listener, 1) < 0)
			_exit(103);
		close(listener);
		uint32_t type;
		static char payload[PROTO_MAX_PAYLOAD];
		if (proto_recv(sv[1], &type, payload, NULL, NULL, NULL, NULL) < 0 || type != TEST_GO)
			_exit(104);
		_exit(probe());
	}
	close(sv[1]);
	close(nfd);
	if (efd >= 0)
		close(efd);
	uint32_t type = 0;
	static char payload[PROTO_MAX_PAYLOAD];
	int fds[PROTO_MAX_FDS];
	size_t nfds = 0;
	assert_int_equal(proto_recv(sv[0], &type, payload, NULL, fds, &nfds, NULL), 0);
	assert_int_equal(type, PROTO_HELLO);
	assert_int_equal(nfds, 1);

	uv_loop_t loop;
	assert_int_equal(uv_loop_init(&loop), 0);
	struct observer *o = NULL;
	memset(r, 0, sizeof(*r));
	assert_int_equal(observer_new(&loop, fds[0], on_call, NULL, r, oopts, NULL, NULL, &o), 0);
	int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	assert_true(pidfd >= 0);
	r->child_watch.data = r;
	r->timeout.data = r;
	uv_poll_init(&loop, &r->child_watch, pidfd);
	uv_poll_start(&r->child_watch, UV_READABLE, on_child);
	uv_timer_init(&loop, &r->timeout);
	uv_timer_start(&r->timeout, on_timeout, 20000, 0);
	assert_int_equal(proto_send(sv[0], TEST_GO, NULL, 0, NULL, 0), 0);
	while (!r->child_done && !r->timed_out)
		uv_run(&loop, UV_RUN_ONCE);
	assert_false(r->timed_out);
	/* Once the child is gone the listener hangs up: the observer stops
	 * polling by itself, so the loop ends with only it left. */
	uv_close((uv_handle_t *)&r->child_watch, close_quietly);
	uv_close((uv_handle_t *)&r->timeout, close_quietly);
	alarm(20);
	uv_run(&loop, UV_RUN_DEFAULT);
	alarm(0);
	observer_close(o);
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&loop), 0);
	close(pidfd);
	close(sv[0]);
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	*ret_pid = pid;
	return WEXITSTATUS(status);
}

static const struct seen *find(const struct run *r, const char *op, const char *rel)
{
	char want[PATH_MAX * 2];
	if (rel)
		snprintf(want, sizeof(want), "%s%s%s", tmpdir, rel[0] ? "/" : "", rel);
	for (size_t i = 0; i < r->n; i++) {
		if (strcmp(r->seen[i].operation, op) != 0)
			continue;
		if (!rel || (r->seen[i].has_path && strcmp(r->seen[i].path, want) == 0))
			return &r->seen[i];
	}
	return NULL;
}

static size_t count_op(const struct run *r, enum observed_op op)
{
	size_t n = 0;
	for (size_t i = 0; i < r->n; i++)
		n += r->seen[i].op == op;
	return n;
}

static void dump(const struct run *r)
{
	for (size_t i = 0; i < r->n; i++)
		fprintf(stderr, "  seen: %s %s\n", r->seen[i].operation, r->seen[i].has_path ? r->seen[i].path : "-");
}

static int setup_tmp(void **state)
{
	(void)state;
	char t[] = "/tmp/srt-observer.XXXXXX";
	if (!mkdtemp(t))
		return -1;
	if (!realpath(t, tmpdir))
		return -1;
	return 0;
}

static int teardown_tmp(void **state)
{
	(void)state;
	char cmd[PATH_MAX + 16];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

/* ---- The probes: each bit of the exit status is one failed expectation -- */

static long raw_socket(uint64_t family)
{
	return syscall(SYS_socket, family, SOCK_STREAM, 0);
}

static int probe_writes(void)
{
	int fail = 0;
	int fd = open("f1", O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0)
		fail |= 1;
	else
		close(fd);
	fd = open("f1", O_RDONLY | O_CLOEXEC); /* not reported in mode WRITES */
	if (fd < 0)
		fail |= 2;
	else
		close(fd);
	if (mkdir("./sub//", 0755) < 0) /* normalized: TMP/sub */
		fail |= 4;
	int dirfd = open("sub", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	fd = dirfd >= 0 ? openat(dirfd, "g", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644) : -1;
	if (fd < 0)
		fail |= 8;
	else
		close(fd);
	if (dirfd >= 0)
		close(dirfd);
	if (unlink("f1") < 0)
		fail |= 16;
	fd = creat("f2", 0644);
	if (fd < 0)
		fail |= 32;
	else
		close(fd);
	if (rename("f2", "sub/f3") < 0)
		fail |= 64;
	if (symlink("sub/f3", "lnk") < 0)
		fail |= 128;
	if (unlinkat(AT_FDCWD, "sub/g", 0) < 0)
		fail |= 256;
	char *argv[] = { "missing", NULL };
	char *envp[] = { NULL };
	if (execve("./missing", argv, envp) == 0 || errno != ENOENT)
		fail |= 512;
	/* Loopback only: port 9 refuses at once. */
	int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0) {
		fail |= 1024;
	} else {
		struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(9) };
		a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		(void)connect(s, (struct sockaddr *)&a, sizeof(a));
		close(s);
	}
	/* Refused by the observer, also with high bits above the family. */
	if (socket(AF_UNIX, SOCK_STREAM, 0) >= 0 || errno != EPERM)
		fail |= 2048;
	if (raw_socket(AF_UNIX | (1ULL << 32)) >= 0 || errno != EPERM)
		fail |= 4096;
	if (rmdir("sub/") < 0 && errno != ENOTEMPTY)
		fail |= 8192;
	if (truncate("lnk", 0) < 0)
		fail |= 16384;
	return fail ? 1 + __builtin_ctz((unsigned)fail) : 0; /* the first failed step */
}

static void reports_writes(void **state)
{
	(void)state;
	struct sandbox_observe_options o = { .mode = OBSERVER_WRITES, .deny_unix_sockets = true };
	struct run r;
	pid_t pid;
	int st = observe_child(&o, NULL, probe_writes, &r, &pid);
	if (st || getenv("OBSERVER_TEST_DUMP"))
		dump(&r);
	assert_int_equal(st, 0);
	const struct seen *s;
	assert_non_null(s = find(&r, "create", "f1"));
	assert_true(s->write);
	assert_int_equal(s->pid, pid);
	assert_int_equal(s->op, OBS_CREATE);
	assert_null(find(&r, "read", NULL)); /* no read-only open in mode WRITES */
	assert_non_null(s = find(&r, "mkdir", "sub"));
	assert_true(s->write);
	assert_non_null(find(&r, "create", "sub/g")); /* resolved against the dirfd */
	assert_non_null(find(&r, "unlink", "f1"));
	assert_non_null(find(&r, "create", "f2"));
	assert_non_null(find(&r, "rename", "f2"));
	assert_non_null(find(&r, "rename", "sub/f3"));
	assert_int_equal(count_op(&r, OBS_RENAME), 2);
	assert_non_null(find(&r, "symlink", "lnk"));
	assert_non_null(find(&r, "unlink", "sub/g"));
	assert_non_null(s = find(&r, "exec", "missing"));
	assert_false(s->write);
	assert_non_null(find(&r, "rmdir", "sub"));
	assert_non_null(find(&r, "truncate", "lnk"));
	assert_non_null(s = find(&r, "connect", NULL));
	assert_false(s->has_path);
	assert_int_equal(s->addr.ss_family, AF_INET);
	const struct sockaddr_in *in = (const struct sockaddr_in *)&s->addr;
	assert_int_equal(ntohs(in->sin_port), 9);
	assert_int_equal(ntohl(in->sin_addr.s_addr), INADDR_LOOPBACK);
	assert_int_equal(count_op(&r, OBS_SOCKET), 2);
	assert_non_null(s = find(&r, "socket", NULL));
	assert_int_equal(s->domain, AF_UNIX);
	assert_false(s->write);
}

static int probe_reads(void)
{
	int fail = 0;
	int fd = open("r1", O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0)
		return 1;
	close(fd);
	fd = open("r1", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		fail |= 2;
	else
		close(fd);
	struct open_how how = { .flags = O_RDONLY | O_CLOEXEC };
	fd = (int)syscall(SYS_openat2, AT_FDCWD, "./r1", &how, sizeof(how));
	if (fd >= 0)
		close(fd);
	else if (errno != ENOSYS)
		fail |= 4;
	/* With unix sockets allowed nothing traps socket(). */
	int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		fail |= 8;
	else
		close(s);
	return fail;
}

static void reports_reads(void **state)
{
	(void)state;
	struct sandbox_observe_options o = { .mode = OBSERVER_READS, .deny_unix_sockets = false };
	struct run r;
	pid_t pid;
	int st = observe_child(&o, NULL, probe_reads, &r, &pid);
	if (st)
		dump(&r);
	assert_int_equal(st, 0);
	const struct seen *s;
	assert_non_null(s = find(&r, "read", "r1"));
	assert_false(s->write);
	assert_int_equal(s->pid, pid);
	assert_true(count_op(&r, OBS_READ) >= 2); /* open and openat2 (and the loader's) */
	assert_non_null(find(&r, "create", "r1"));
	assert_int_equal(count_op(&r, OBS_SOCKET), 0);
}

static int probe_openat2_writes(void)
{
	struct open_how how = { .flags = O_RDONLY | O_CLOEXEC };
	int fd = (int)syscall(SYS_openat2, AT_FDCWD, ".", &how, sizeof(how));
	if (fd < 0)
		return errno == ENOSYS ? 0 : 1;
	close(fd);
	how.flags = O_WRONLY | O_CREAT | O_CLOEXEC;
	how.mode = 0644;
	fd = (int)syscall(SYS_openat2, AT_FDCWD, "o2", &how, sizeof(how));
	if (fd < 0)
		return 2;
	close(fd);
	return 0;
}

/* openat2 is trapped always (its flags are in memory); in mode WRITES only
 * writing ones are reported. */
static void openat2_in_writes_mode(void **state)
{
	(void)state;
	struct sandbox_observe_options o = { .mode = OBSERVER_WRITES, .deny_unix_sockets = true };
	struct run r;
	pid_t pid;
	int st = observe_child(&o, NULL, probe_openat2_writes, &r, &pid);
	assert_int_equal(st, 0);
	assert_int_equal(count_op(&r, OBS_READ), 0);
	if (r.n)
		assert_non_null(find(&r, "create", "o2"));
}

/* The enforcement filter without its AF_UNIX rule, with the notify filter:
 * the observer refuses. */
static int probe_unix_refused(void)
{
	if (socket(AF_UNIX, SOCK_STREAM, 0) >= 0 || errno != EPERM)
		return 1;
	if (raw_socket(AF_UNIX | (1ULL << 32)) >= 0 || errno != EPERM)
		return 2;
	int s = socket(AF_INET, SOCK_STREAM, 0);
	if (s < 0)
		return 3;
	close(s);
	return 0;
}

static void unix_refused_by_observer(void **state)
{
	(void)state;
	struct sandbox_observe_options o = { .mode = OBSERVER_WRITES, .deny_unix_sockets = true };
	struct sandbox_seccomp_options e = { .observer_handles_unix = true };
	struct run r;
	pid_t pid;
	assert_int_equal(observe_child(&o, &e, probe_unix_refused, &r, &pid), 0);
	assert_int_equal(count_op(&r, OBS_SOCKET), 2);
}

/* glibc's nscd probe against the program's own calls with the same
 * arguments: only the former is marked. */
static int probe_libc_probe(void)
{
	int fail = 0;
	/* glibc asks nscd first (socket(AF_UNIX, STREAM|CLOEXEC|NONBLOCK)),
	 * refused, then reads /etc/passwd and /etc/group. */
	(void)getpwuid(0);
	(void)getgrgid(0);
	if (socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0) >= 0 || errno != EPERM)
		fail |= 1;
	if (syscall(SYS_socket, AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0) >= 0 || errno != EPERM)
		fail |= 2;
	return fail;
}

static void libc_probe_marked(void **state)
{
	(void)state;
	struct sandbox_observe_options o = { .mode = OBSERVER_BASIC, .deny_unix_sockets = true };
	struct sandbox_seccomp_options e = { .observer_handles_unix = true };
	struct run r;
	pid_t pid;
	assert_int_equal(observe_child(&o, &e, probe_libc_probe, &r, &pid), 0);
	size_t probes = 0, own = 0;
	for (size_t i = 0; i < r.n; i++) {
		if (r.seen[i].op != OBS_SOCKET)
			continue;
		assert_int_equal(r.seen[i].domain, AF_UNIX);
		if (r.seen[i].libc_probe)
			probes++;
		else
			own++;
	}
	/* the two calls of the program's own */
	assert_int_equal(own, 2);
#if defined(__x86_64__)
	/* getpwuid and getgrgid: glibc tries at least once (twice per
	 * lookup, glibc 2.36) */
	assert_true(probes >= 1);
#else
	assert_int_equal(probes, 0);
#endif
}

static void procfs_parsers(void **state)
{
	(void)state;
	long nr;
	uint64_t sp, pc;
	assert_int_equal(observer_parse_syscall_line("41 0x1 0x80801 0x0 0x7f 0x0 0x0 0x7ffd1000 0x7f0010adc7\n",
						     &nr, &sp, &pc), 0);
	assert_int_equal(nr, 41);
	assert_int_equal(sp, 0x7ffd1000);
	assert_int_equal(pc, 0x7f0010adc7);
	assert_int_equal(observer_parse_syscall_line("running\n", &nr, &sp, &pc), -1);
	assert_int_equal(observer_parse_syscall_line("-1 0x7ffd1000 0x7f0010adc7\n", &nr, &sp, &pc), -1);
	assert_int_equal(observer_parse_syscall_line("41 0x1 0x2 0x3 0x4 0x5 0x6 0x7\n", &nr, &sp, &pc), -1);
	assert_int_equal(observer_parse_syscall_line("41 0x1 0x2 0x3 0x4 0x5 0x6 0x7 0x8 0x9\n", &nr, &sp, &pc), -1);
	assert_int_equal(observer_parse_syscall_line("41 0x1 0x2 0x3 0x4 0x5 0x6 0x7 0x1ffffffffffffffff\n", &nr,
						     &sp, &pc), -1);

	uint64_t a, b;
	bool x;
	const char *path;
	size_t len;
	const char *l1 = "7f3a1c028000-7f3a1c17d000 r-xp 00028000 08:01 1835060                    "
			 "/usr/lib/x86_64-linux-gnu/libc.so.6\n";
	assert_int_equal(observer_parse_maps_line(l1, &a, &b, &x, &path, &len), 0);
	assert_int_equal(a, 0x7f3a1c028000);
	assert_int_equal(b, 0x7f3a1c17d000);
	assert_true(x);
	assert_int_equal(len, strlen("/usr/lib/x86_64-linux-gnu/libc.so.6"));
	assert_true(observer_is_libc(path, len));
	const char *l2 = "7ffd1000-7ffd2000 rw-p 00000000 00:00 0                          [stack]\n";
	assert_int_equal(observer_parse_maps_line(l2, &a, &b, &x, &path, &len), 0);
	assert_false(x);
	assert_false(observer_is_libc(path, len));
	/* no path at all */
	assert_int_equal(observer_parse_maps_line("1000-2000 r-xp 00000000 00:00 0\n", &a, &b, &x, &path, &len), 0);
	assert_int_equal(len, 0);
	assert_false(observer_is_libc(path, len));
	assert_int_equal(observer_parse_maps_line("2000-1000 r-xp 00000000 00:00 0\n", &a, &b, &x, &path, &len), -1);
	assert_int_equal(observer_parse_maps_line("1000-2000 r-x 00000000 00:00 0\n", &a, &b, &x, &path, &len), -1);
	assert_int_equal(observer_parse_maps_line("", &a, &b, &x, &path, &len), -1);

	const char *libc[] = { "/lib/x86_64-linux-gnu/libc.so.6", "libc.so.6", "/lib/libc-2.31.so" };
	for (size_t i = 0; i < sizeof(libc) / sizeof(libc[0]); i++)
		assert_true(observer_is_libc(libc[i], strlen(libc[i])));
	const char *other[] = { "/tmp/libc.so.6x", "/usr/lib/libcrypt.so.1", "/lib/libc-2.so", "libc.so.6/x", "" };
	for (size_t i = 0; i < sizeof(other) / sizeof(other[0]); i++)
		assert_false(observer_is_libc(other[i], strlen(other[i])));
}

/* ---- The enforcement filter alone ------------------------------------------ */

static int in_filtered_child(const struct sandbox_seccomp_options *o, int (*probe)(void))
{
	char err[256];
	int fd = -1;
	assert_int_equal(sandbox_seccomp_export(o, &fd, err, sizeof(err)), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 || load_bpf(fd, 0) < 0)
			_exit(101);
		_exit(probe());
	}
	close(fd);
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	return WEXITSTATUS(status);
}

static int probe_unix_allowed(void)
{
	long s = socket(AF_UNIX, SOCK_STREAM, 0);
	return s >= 0 ? 0 : 1;
}

/* socket(AF_UNIX | 1 << 32): the kernel takes the low half; so must the
 * rule (libseccomp's EQ compared the upper half with 0). */
static void enforcement_ignores_high_bits(void **state)
{
	(void)state;
	struct sandbox_seccomp_options e = { 0 };
	assert_int_equal(in_filtered_child(&e, probe_unix_refused), 0);
	/* The rule is left to the notify filter when asked. */
	e.observer_handles_unix = true;
	assert_int_equal(in_filtered_child(&e, probe_unix_allowed), 0);
}

/* ---- The decoder with a fake memory ----------------------------------------- */

struct fake {
	uint64_t base;
	const unsigned char *mem;
	size_t len;
	const char *cwd;
	const char *fd5;
};

static ssize_t fake_read(void *data, uint64_t addr, void *buf, size_t len)
{
	struct fake *f = data;
	if (addr < f->base || addr >= f->base + f->len)
		return -1;
	size_t off = (size_t)(addr - f->base);
	size_t n = f->len - off < len ? f->len - off : len;
	memcpy(buf, f->mem + off, n);
	return (ssize_t)n;
}

static ssize_t fake_fd_path(void *data, int fd, char *buf, size_t len)
{
	struct fake *f = data;
	const char *p = fd == AT_FDCWD ? f->cwd : fd == 5 ? f->fd5 : NULL;
	if (!p)
		return -1;
	size_t n = strlen(p) < len ? strlen(p) : len;
	memcpy(buf, p, n);
	return (ssize_t)n;
}

static int nr_of(const char *name)
{
	size_t n;
	const struct observer_syscall *t = observer_syscall_table(&n);
	for (size_t i = 0; i < n; i++)
		if (strcmp(t[i].name, name) == 0)
			return observer_syscall_nr(&t[i]);
	return -1;
}

static struct observer_scratch scratch;

static int decode(struct fake *f, const char *call, enum observer_mode mode, uint64_t a0, uint64_t a1,
		  uint64_t a2, uint64_t a3, uint64_t a4, struct observed_call out[OBSERVER_MAX_CALLS])
{
	struct observer_source src = { .data = f, .read_mem = fake_read, .fd_path = fake_fd_path };
	uint64_t args[6] = { a0, a1, a2, a3, a4, 0 };
	return observer_decode(observer_syscalls_native(), mode, nr_of(call), args, &src, &scratch, out);
}

static void decoder(void **state)
{
	(void)state;
	static unsigned char mem[3 * PATH_MAX];
	const uint64_t B = 0x10000;
	struct fake f = { .base = B, .mem = mem, .len = sizeof(mem), .cwd = "/home/u/./proj/", .fd5 = "/data/x" };
	struct observed_call out[OBSERVER_MAX_CALLS];
	memset(mem, 0, sizeof(mem));
	strcpy((char *)mem, "../a//b/./c/");
	strcpy((char *)mem + 100, "");
	strcpy((char *)mem + 200, "/etc/../../x");

	assert_int_equal(decode(&f, "mkdirat", OBSERVER_WRITES, (uint32_t)AT_FDCWD, B, 0, 0, 0, out), 1);
	assert_string_equal(out[0].path, "/home/u/a/b/c");
	assert_string_equal(out[0].operation, "mkdir");
	assert_string_equal(out[0].syscall, "mkdirat");
	assert_int_equal(decode(&f, "mkdirat", OBSERVER_WRITES, 5, B, 0, 0, 0, out), 1);
	assert_string_equal(out[0].path, "/data/a/b/c");
	/* A dirfd that names no path (a pipe, a closed fd): nothing. */
	assert_int_equal(decode(&f, "mkdirat", OBSERVER_WRITES, 7, B, 0, 0, 0, out), 0);
	/* Absolute paths ignore the dirfd; ".." stops at the root. */
	assert_int_equal(decode(&f, "mkdirat", OBSERVER_WRITES, 7, B + 200, 0, 0, 0, out), 1);
	assert_string_equal(out[0].path, "/x");
	/* "" is the dirfd only with AT_EMPTY_PATH. */
	assert_int_equal(decode(&f, "fchownat", OBSERVER_WRITES, 5, B + 100, 0, 0, 0, out), 0);
	assert_int_equal(decode(&f, "fchownat", OBSERVER_WRITES, 5, B + 100, 0, 0, 0x1000, out), 1);
	assert_string_equal(out[0].path, "/data/x");
	assert_string_equal(out[0].operation, "chown");
	assert_int_equal(decode(&f, "execveat", OBSERVER_WRITES, 5, B + 100, 0, 0, 0x1000, out), 1);
	assert_string_equal(out[0].operation, "exec");
	assert_false(out[0].write);
	/* utimensat(fd, NULL): the fd itself; AT_FDCWD with NULL: nothing. */
	assert_int_equal(decode(&f, "utimensat", OBSERVER_WRITES, 5, 0, 0, 0, 0, out), 1);
	assert_string_equal(out[0].path, "/data/x");
	assert_int_equal(decode(&f, "utimensat", OBSERVER_WRITES, (uint32_t)AT_FDCWD, 0, 0, 0, 0, out), 0);
	/* unlinkat with AT_REMOVEDIR is an rmdir. */
	assert_int_equal(decode(&f, "unlinkat", OBSERVER_WRITES, 5, B, 0x200, 0, 0, out), 1);
	assert_string_equal(out[0].operation, "rmdir");
	/* renameat2: both paths, source first. */
	assert_int_equal(decode(&f, "renameat2", OBSERVER_WRITES, 5, B, (uint32_t)AT_FDCWD, B + 200, 0, out), 2);
	assert_string_equal(out[0].path, "/data/a/b/c");
	assert_string_equal(out[1].path, "/x");
	/* linkat: the new name only. */
	assert_int_equal(decode(&f, "linkat", OBSERVER_WRITES, 5, B, 5, B + 200, 0, out), 1);
	assert_string_equal(out[0].path, "/x");
	assert_string_equal(out[0].operation, "link");

	/* Opens: flags decide. */
	assert_int_equal(decode(&f, "openat", OBSERVER_WRITES, 5, B + 200, O_RDONLY, 0, 0, out), 0);
	assert_int_equal(decode(&f, "openat", OBSERVER_READS, 5, B + 200, O_RDONLY, 0, 0, out), 1);
	assert_string_equal(out[0].operation, "read");
	assert_int_equal(decode(&f, "openat", OBSERVER_WRITES, 5, B + 200, O_RDWR, 0, 0, out), 1);
	assert_string_equal(out[0].operation, "write");
	assert_int_equal(decode(&f, "openat", OBSERVER_WRITES, 5, B + 200, O_RDONLY | O_TRUNC, 0, 0, out), 1);
	assert_string_equal(out[0].operation, "write");
	assert_int_equal(decode(&f, "openat", OBSERVER_WRITES, 5, B + 200, O_WRONLY | O_CREAT, 0, 0, out), 1);
	assert_string_equal(out[0].operation, "create");
	assert_int_equal(decode(&f, "openat", OBSERVER_WRITES, 5, B + 200, O_PATH | O_WRONLY, 0, 0, out), 0);
	/* High bits of the flags register are not flags. */
	assert_int_equal(decode(&f, "openat", OBSERVER_WRITES, 5, B + 200, 1ULL << 40, 0, 0, out), 0);

	/* openat2: the struct. Too small: nothing (the kernel refuses it). */
	struct open_how how = { .flags = O_WRONLY | O_CREAT };
	memcpy(mem + 300, &how, sizeof(how));
	assert_int_equal(decode(&f, "openat2", OBSERVER_WRITES, 5, B, B + 300, sizeof(how), 0, out), 1);
	assert_string_equal(out[0].operation, "create");
	assert_int_equal(decode(&f, "openat2", OBSERVER_WRITES, 5, B, B + 300, sizeof(how) - 1, 0, out), 0);
	assert_int_equal(decode(&f, "openat2", OBSERVER_WRITES, 5, B, B + sizeof(mem) - 8, sizeof(how), 0, out), 0);

	/* A path without its NUL within PATH_MAX bytes: nothing. */
	memset(mem + 400, 'a', PATH_MAX + 10);
	assert_int_equal(decode(&f, "mkdirat", OBSERVER_WRITES, 5, B + 400, 0, 0, 0, out), 0);
	/* One that runs into the end of the mapping: nothing. */
	memset(mem + sizeof(mem) - 16, 'b', 16);
	assert_int_equal(decode(&f, "mkdirat", OBSERVER_WRITES, 5, B + sizeof(mem) - 16, 0, 0, 0, out), 0);
	/* The longest path: PATH_MAX - 1 characters and the NUL. */
	memset(mem + 400, 0, PATH_MAX + 10);
	mem[400] = '/';
	memset(mem + 401, 'c', PATH_MAX - 2);
	assert_int_equal(decode(&f, "mkdirat", OBSERVER_WRITES, 5, B + 400, 0, 0, 0, out), 1);
	assert_int_equal(strlen(out[0].path), PATH_MAX - 1);
	/* NULL: nothing. */
	assert_int_equal(decode(&f, "mkdirat", OBSERVER_WRITES, 5, 0, 0, 0, 0, out), 0);

	/* connect: AF_INET and AF_INET6 only, whole addresses only. */
	struct sockaddr_in6 a6 = { .sin6_family = AF_INET6, .sin6_port = htons(443) };
	a6.sin6_addr = in6addr_loopback;
	memcpy(mem + 500, &a6, sizeof(a6));
	assert_int_equal(decode(&f, "connect", OBSERVER_WRITES, 3, B + 500, sizeof(a6), 0, 0, out), 1);
	assert_int_equal(out[0].addr->sa_family, AF_INET6);
	assert_int_equal(out[0].addr_len, sizeof(a6));
	assert_null(out[0].path);
	assert_int_equal(decode(&f, "connect", OBSERVER_WRITES, 3, B + 500, 10, 0, 0, out), 0);
	struct sockaddr_un_like { sa_family_t f; char p[20]; } un = { AF_UNIX, "/run/x" };
	memcpy(mem + 600, &un, sizeof(un));
	assert_int_equal(decode(&f, "connect", OBSERVER_WRITES, 3, B + 600, sizeof(un), 0, 0, out), 0);
	/* socket: AF_UNIX reported, the low half of the register counts. */
	assert_int_equal(decode(&f, "socket", OBSERVER_WRITES, AF_UNIX | (1ULL << 32), 1, 0, 0, 0, out), 1);
	assert_int_equal(out[0].domain, AF_UNIX);
	assert_int_equal(decode(&f, "socket", OBSERVER_WRITES, AF_INET, 1, 0, 0, 0, out), 0);
	/* Unknown numbers: nothing. */
	uint64_t args[6] = { 0 };
	struct observer_source src = { .data = &f, .read_mem = fake_read, .fd_path = fake_fd_path };
	assert_int_equal(observer_decode(observer_syscalls_native(), OBSERVER_READS, 100000, args, &src, &scratch, out), 0);
	assert_int_equal(observer_decode(observer_syscalls_native(), OBSERVER_READS, -1, args, &src, &scratch, out), 0);
}

static void normalize(void **state)
{
	(void)state;
	char out[64];
	assert_int_equal(observer_normalize("/", "", out, sizeof(out)), 1);
	assert_string_equal(out, "/");
	assert_true(observer_normalize("/a/b", "../../..", out, sizeof(out)) == 1);
	assert_string_equal(out, "/");
	assert_true(observer_normalize("/a/b", "c/./d/../e/", out, sizeof(out)) > 0);
	assert_string_equal(out, "/a/b/c/e");
	assert_true(observer_normalize("/ignored", "//x//y/", out, sizeof(out)) > 0);
	assert_string_equal(out, "/x/y");
	assert_true(observer_normalize("/a", "...", out, sizeof(out)) > 0);
	assert_string_equal(out, "/a/...");
	assert_int_equal(observer_normalize("relative", "x", out, sizeof(out)), -1);
	assert_int_equal(observer_normalize(NULL, "x", out, sizeof(out)), -1);
	assert_int_equal(observer_normalize("/", "0123456789", out, 11), -1);
	assert_int_equal(observer_normalize("/", "0123456789", out, 12), 11);
	assert_int_equal(observer_normalize("/", "x", out, 1), -1);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	if (!observer_supported()) {
		fprintf(stderr, "observer: seccomp user notification with CONTINUE is not available here\n");
		const struct CMUnitTest offline[] = {
			cmocka_unit_test(decoder),
			cmocka_unit_test(normalize),
			cmocka_unit_test(enforcement_ignores_high_bits),
		};
		return cmocka_run_group_tests(offline, NULL, NULL);
	}
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(decoder),
		cmocka_unit_test(normalize),
		cmocka_unit_test(enforcement_ignores_high_bits),
		cmocka_unit_test(reports_writes),
		cmocka_unit_test(reports_reads),
		cmocka_unit_test(openat2_in_writes_mode),
		cmocka_unit_test(unix_refused_by_observer),
		cmocka_unit_test(libc_probe_marked),
		cmocka_unit_test(procfs_parsers),
	};
	return cmocka_run_group_tests(tests, setup_tmp, teardown_tmp);
}
