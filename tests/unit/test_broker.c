/* Unit tests for linux/broker.c and callerfs's carrying out: a child under
 * a notify filter makes file calls that the broker's thread resolves in its
 * view, refuses or carries out (new descriptors handed over with ADDFD),
 * including while another thread of the child keeps rewriting the path. */
#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>

#include <cmocka.h>

#include "linux/broker.h"
#include "linux/callerfs.h"
#include "linux/proto.h"

/* The test's own message: the child waits for it before its calls. */
#define TEST_GO 2u

static char dir[256];

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/var/tmp/srt-test-broker-XXXXXX");
	assert_non_null(mkdtemp(dir));
	assert_int_equal(chmod(dir, 0755), 0);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	char cmd[300];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
	return 0;
}

/* ---- The child: the calls it makes, and what it expects ------------------- */

#define RACE_ROUNDS 3000

static volatile char race_path[32] = "race.txt";
static volatile int racing = 1;

static void *flip(void *arg)
{
	(void)arg;
	/* Rewrites the path while the other thread's calls wait for the
	 * broker: a check followed by CONTINUE would let ".bashrc" through. */
	static const char a[] = ".bashrc", b[] = "race.txt";
	while (racing) {
		/* Through the volatile array, byte by byte: plain stores the
		 * compiler could drop as overwritten. */
		for (size_t i = 0; i < sizeof(a); i++)
			race_path[i] = a[i];
		for (volatile int i = 0; i < 300; i++)
			;
		for (size_t i = 0; i < sizeof(b); i++)
			race_path[i] = b[i];
		for (volatile int i = 0; i < 300; i++)
			;
	}
	return NULL;
}

static int child_calls(void)
{
	umask(027);
	int fd = openat(AT_FDCWD, "a.txt", O_CREAT | O_WRONLY | O_TRUNC, 0666);
	if (fd < 0) {
		fprintf(stderr, "openat: %s\n", strerror(errno));
		return 10;
	}
	if (write(fd, "hi\n", 3) != 3)
		return 11;
	if (fcntl(fd, F_GETFD) != 0)
		return 12; /* no O_CLOEXEC asked for: none set */
	close(fd);
	fd = openat(AT_FDCWD, "c.txt", O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
	if (fd < 0 || fcntl(fd, F_GETFD) != FD_CLOEXEC)
		return 13;
	close(fd);
	if (mkdirat(AT_FDCWD, "d", 0777) < 0)
		return 20;
	if (mkdirat(AT_FDCWD, "d", 0777) == 0 || errno != EEXIST)
		return 21;
	if (symlinkat("a.txt", AT_FDCWD, "l") < 0)
		return 30;
	if (syscall(SYS_renameat2, AT_FDCWD, "a.txt", AT_FDCWD, "d/b.txt", 0) < 0)
		return 40;
	if (unlinkat(AT_FDCWD, "l", 0) < 0)
		return 50;
	if (unlinkat(AT_FDCWD, "l", 0) == 0 || errno != ENOENT)
		return 51;
	/* Refused by the rule: EACCES, and nothing made. */
	fd = openat(AT_FDCWD, ".bashrc", O_CREAT | O_WRONLY, 0644);
	if (fd >= 0 || errno != EACCES)
		return 60;
	if (mkdirat(AT_FDCWD, "d/.bashrc", 0755) == 0 || errno != EACCES)
		return 61;
	if (syscall(SYS_renameat2, AT_FDCWD, "c.txt", AT_FDCWD, ".bashrc", 0) == 0 || errno != EACCES)
		return 62;
	/* The race. */
	pthread_t t;
	if (pthread_create(&t, NULL, flip, NULL) != 0)
		return 80;
	for (int i = 0; i < RACE_ROUNDS; i++) {
		fd = openat(AT_FDCWD, (const char *)race_path, O_CREAT | O_WRONLY, 0644);
		if (fd >= 0)
			close(fd);
	}
	racing = 0;
	pthread_join(t, NULL);
	return 0;
}

static int install_filter(void)
{
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_openat, 5, 0),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_mkdirat, 4, 0),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_symlinkat, 3, 0),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_renameat2, 2, 0),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_unlinkat, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_USER_NOTIF),
	};
	struct sock_fprog prog = { .len = sizeof(f) / sizeof(f[0]), .filter = f };
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return -1;
	return (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER, &prog);
}

/* ---- The broker's side ------------------------------------------------------ */

struct served {
	int calls, performed, refused;
	bool rights_failed;
};

static int read_str(pid_t pid, uint64_t addr, char *buf, size_t len)
{
	struct iovec l = { .iov_base = buf, .iov_len = len - 1 };
	struct iovec r = { .iov_base = (void *)(uintptr_t)addr, .iov_len = len - 1 };
	ssize_t n = process_vm_readv(pid, &l, 1, &r, 1, 0);
	if (n <= 0) {
		/* The string may end before a page it does not reach: a
		 * shorter read. */
		r.iov_len = l.iov_len = 64;
		n = process_vm_readv(pid, &l, 1, &r, 1, 0);
		if (n <= 0)
			return -EFAULT;
	}
	buf[n] = '\0';
	return memchr(buf, '\0', (size_t)n + 1) ? 0 : -ENAMETOOLONG;
}

/* Resolve (dirfd, path at addr) of the caller, from one copy of the string. */
static int target(pid_t pid, int root, int dirfd, uint64_t addr, struct caller_target *t)
{
	char path[PATH_MAX];
	int r = read_str(pid, addr, path, sizeof(path));
	if (r < 0)
		return r;
	int base = path[0] == '/' ? -1 : callerfs_open_dirfd(pid, (int)(int32_t)dirfd);
	if (path[0] != '/' && base < 0)
		return base;
	r = callerfs_resolve(root, base, path, t);
	if (base >= 0)
		close(base);
	return r;
}

/* The rule of this test: no name ".bashrc" is made, anywhere. */
static bool refused_name(const struct caller_target *t)
{
	return strcmp(t->name, ".bashrc") == 0;
}

static void handle(void *data, struct broker *b, const struct broker_notif *n, struct broker_reply *reply)
{
	struct served *s = data;
	static __thread bool rights;
	if (!rights) {
		if (callerfs_thread_take_caller_rights() < 0)
			s->rights_failed = true;
		rights = true;
	}
	s->calls++;
	int root = callerfs_open_root(n->pid);
	if (root < 0) {
		reply->error = -root;
		return;
	}
	mode_t um = 022;
	struct caller_target t = { .parent = -1 }, t2 = { .parent = -1 };
	int r = 0;
	if (n->nr == SYS_openat) {
		if ((r = target(n->pid, root, (int)n->args[0], n->args[1], &t)) < 0)
			goto out;
		if (refused_name(&t)) {
			r = -EACCES;
			goto out;
		}
		if ((r = callerfs_umask(n->pid, &um)) < 0)
			goto out;
		int fd = callerfs_openat(&t, (int)n->args[2], (mode_t)n->args[3], um);
		if (fd < 0) {
			r = fd;
			goto out;
		}
		int got = broker_addfd(b, n->id, fd, (n->args[2] & O_CLOEXEC) != 0);
		close(fd);
		if (got < 0) {
			r = got;
			goto out;
		}
		reply->sent = true;
		s->performed++;
		goto done;
	} else if (n->nr == SYS_mkdirat) {
		if ((r = target(n->pid, root, (int)n->args[0], n->args[1], &t)) < 0)
			goto out;
		if (refused_name(&t)) {
			r = -EACCES;
			goto out;
		}
		if ((r = callerfs_umask(n->pid, &um)) < 0)
			goto out;
		r = callerfs_mkdirat(&t, (mode_t)n->args[2], um);
	} else if (n->nr == SYS_symlinkat) {
		char to[PATH_MAX];
		if ((r = read_str(n->pid, n->args[0], to, sizeof(to))) < 0 ||
		    (r = target(n->pid, root, (int)n->args[1], n->args[2], &t)) < 0)
			goto out;
		if (refused_name(&t)) {
			r = -EACCES;
			goto out;
		}
		r = callerfs_symlinkat(to, &t);
	} else if (n->nr == SYS_renameat2) {
		if ((r = target(n->pid, root, (int)n->args[0], n->args[1], &t)) < 0 ||
		    (r = target(n->pid, root, (int)n->args[2], n->args[3], &t2)) < 0)
			goto out;
		if (refused_name(&t) || refused_name(&t2)) {
			r = -EACCES;
			goto out;
		}
		r = callerfs_renameat2(&t, &t2, (unsigned)n->args[4]);
	} else if (n->nr == SYS_unlinkat) {
		if ((r = target(n->pid, root, (int)n->args[0], n->args[1], &t)) < 0)
			goto out;
		r = callerfs_unlinkat(&t, (int)n->args[2]);
	} else {
		r = -ENOSYS;
	}
out:
	if (r < 0) {
		reply->error = -r;
		if (r == -EACCES)
			s->refused++;
	} else {
		reply->value = true;
		reply->val = r;
		s->performed++;
	}
done:
	if (t.parent >= 0)
		close(t.parent);
	if (t2.parent >= 0)
		close(t2.parent);
	close(root);
}

static void deliver(void *data, struct broker_item *item)
{
	(void)data;
	(void)item;
}

static void test_calls_carried_out_in_the_callers_place(void **state)
{
	(void)state;
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(sv[0]);
		if (chdir(dir) < 0)
			_exit(2);
		/* As in a sandbox: no capability (the broker's thread holds
		 * none either, and may only act for a caller that holds no more
		 * than it does). */
		struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
		struct __user_cap_data_struct caps[2];
		memset(caps, 0, sizeof(caps));
		if (syscall(SYS_capset, &hdr, caps) < 0)
			_exit(6);
		int nfd = install_filter();
		if (nfd < 0)
			_exit(3);
		if (proto_send(sv[1], PROTO_HELLO, NULL, 0, &nfd, 1) < 0)
			_exit(4);
		close(nfd);
		uint32_t type;
		static char payload[PROTO_MAX_PAYLOAD];
		if (proto_recv(sv[1], &type, payload, NULL, NULL, NULL, NULL) < 0 || type != TEST_GO)
			_exit(5);
		_exit(child_calls());
	}
	close(sv[1]);
	uint32_t type = 0;
	static char payload[PROTO_MAX_PAYLOAD];
	int fds[PROTO_MAX_FDS];
	size_t nfds = 0;
	assert_int_equal(proto_recv(sv[0], &type, payload, NULL, fds, &nfds, NULL), 0);
	assert_int_equal(type, PROTO_HELLO);
	assert_int_equal(nfds, 1);

	uv_loop_t loop;
	assert_int_equal(uv_loop_init(&loop), 0);
	struct served s = { 0 };
	struct broker *b = NULL;
	assert_int_equal(broker_new(&loop, fds[0], handle, deliver, &s, &b), 0);
	assert_int_equal(proto_send(sv[0], TEST_GO, NULL, 0, NULL, 0), 0);
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	broker_close(b);
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&loop), 0);
	close(sv[0]);

	assert_false(s.rights_failed);
	assert_true(WIFEXITED(status));
	if (WEXITSTATUS(status) != 0)
		fail_msg("the child's step %d failed", WEXITSTATUS(status));
	/* What the caller sees happened on the disk, with its umask. */
	char p[512];
	struct stat st;
	snprintf(p, sizeof(p), "%s/d/b.txt", dir);
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0640);
	assert_int_equal(st.st_size, 3);
	snprintf(p, sizeof(p), "%s/d", dir);
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0750);
	snprintf(p, sizeof(p), "%s/l", dir);
	assert_int_equal(lstat(p, &st), -1);
	/* Never made, although the path said so for part of the time. */
	snprintf(p, sizeof(p), "%s/.bashrc", dir);
	assert_int_equal(lstat(p, &st), -1);
	snprintf(p, sizeof(p), "%s/d/.bashrc", dir);
	assert_int_equal(lstat(p, &st), -1);
	snprintf(p, sizeof(p), "%s/race.txt", dir);
	assert_int_equal(stat(p, &st), 0);
	/* The race really raced: some of its opens read ".bashrc" (and were
	 * refused), others "race.txt" (and made it). */
	if (s.refused <= 3)
		fail_msg("the path never read .bashrc during the race (%d refusals)", s.refused);
	assert_true(s.performed > 10);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_calls_carried_out_in_the_callers_place, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
