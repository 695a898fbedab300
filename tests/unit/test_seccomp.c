/* The seccomp filter srt builds for srt-init: loaded into a child, it
 * refuses what the sandbox must not do and lets the rest through. */
#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <cmocka.h>

#include "linux/seccomp_filter.h"

/* Load the exported filter the way srt-init does, in a child, then run
 * probe there; the child's exit status is the probe's result. */
static int in_filtered_child(const struct sandbox_seccomp_options *o, int (*probe)(void))
{
	char err[256];
	int fd = -1;
	assert_int_equal(sandbox_seccomp_export(o, &fd, err, sizeof(err)), 0);
	struct stat st;
	assert_int_equal(fstat(fd, &st), 0);
	assert_true(st.st_size > 0);
	assert_int_equal(st.st_size % (off_t)sizeof(struct sock_filter), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		static struct sock_filter insns[BPF_MAXINSNS];
		if ((size_t)st.st_size > sizeof(insns) || pread(fd, insns, (size_t)st.st_size, 0) != st.st_size)
			_exit(100);
		struct sock_fprog prog = { .len = (unsigned short)(st.st_size / (off_t)sizeof(insns[0])), .filter = insns };
		if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 || prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0) < 0)
			_exit(101);
		_exit(probe());
	}
	close(fd);
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	return WEXITSTATUS(status);
}

/* Each probe exits 0 when the call failed with the expected errno. */
static int probe_unix(void)
{
	return socket(AF_UNIX, SOCK_STREAM, 0) < 0 && errno == EPERM ? 0 : 1;
}

static int probe_unix_allowed(void)
{
	int s = socket(AF_UNIX, SOCK_STREAM, 0);
	return s >= 0 ? 0 : 1;
}

static int probe_inet(void)
{
	int s = socket(AF_INET, SOCK_STREAM, 0);
	return s >= 0 ? 0 : 1;
}

static int probe_clone3(void)
{
	return syscall(SYS_clone3, NULL, 0) < 0 && errno == ENOSYS ? 0 : 1;
}

static int probe_userns(void)
{
	return unshare(CLONE_NEWUSER) < 0 && errno == EPERM ? 0 : 1;
}

static int probe_tiocsti(void)
{
	char c = 'x';
	return ioctl(0, TIOCSTI, &c) < 0 && errno == EPERM ? 0 : 1;
}

static int probe_io_uring(void)
{
	return syscall(SYS_io_uring_setup, 1, NULL) < 0 && errno == EPERM ? 0 : 1;
}

/* Keyrings are not namespaced: every way in is refused, whatever the
 * kernel would have said (ENOSYS without key support). */
static int probe_keyrings(void)
{
	errno = 0;
	if (syscall(SYS_keyctl, 0 /* KEYCTL_GET_KEYRING_ID */, -3 /* @s */, 0) >= 0 || errno != EPERM)
		return 1;
	errno = 0;
	if (syscall(SYS_keyctl, 1 /* KEYCTL_JOIN_SESSION_KEYRING */, NULL) >= 0 || errno != EPERM)
		return 2;
	errno = 0;
	if (syscall(SYS_add_key, "user", "srt-test", "x", (size_t)1, -4 /* @u */) >= 0 || errno != EPERM)
		return 3;
	errno = 0;
	if (syscall(SYS_request_key, "user", "srt-test", NULL, 0) >= 0 || errno != EPERM)
		return 4;
	return 0;
}

/* Calls near the refused ones still go through. */
static int probe_unrelated(void)
{
	if (syscall(SYS_getppid) <= 0)
		return 1;
	char c;
	int fds[2];
	if (pipe(fds) < 0 || write(fds[1], "k", 1) != 1 || read(fds[0], &c, 1) != 1 || c != 'k')
		return 2;
	return 0;
}

static void refuses_by_default(void **state)
{
	(void)state;
	struct sandbox_seccomp_options o = { 0 };
	assert_int_equal(in_filtered_child(&o, probe_unix), 0);
	assert_int_equal(in_filtered_child(&o, probe_clone3), 0);
	assert_int_equal(in_filtered_child(&o, probe_userns), 0);
	assert_int_equal(in_filtered_child(&o, probe_tiocsti), 0);
	assert_int_equal(in_filtered_child(&o, probe_io_uring), 0);
	assert_int_equal(in_filtered_child(&o, probe_inet), 0);
	assert_int_equal(in_filtered_child(&o, probe_keyrings), 0);
	assert_int_equal(in_filtered_child(&o, probe_unrelated), 0);
}

static void options_lift_their_rules(void **state)
{
	(void)state;
	struct sandbox_seccomp_options o = { .allow_unix_sockets = true };
	assert_int_equal(in_filtered_child(&o, probe_unix_allowed), 0);
	assert_int_equal(in_filtered_child(&o, probe_clone3), 0);
	/* No option lifts the keyring rules. */
	struct sandbox_seccomp_options all = { .allow_unix_sockets = true, .allow_nested_userns = true };
	assert_int_equal(in_filtered_child(&all, probe_keyrings), 0);
}

static void export_is_sealed(void **state)
{
	(void)state;
	struct sandbox_seccomp_options o = { 0 };
	char err[256];
	int fd = -1;
	assert_int_equal(sandbox_seccomp_export(&o, &fd, err, sizeof(err)), 0);
	char b = 0;
	assert_true(pwrite(fd, &b, 1, 0) < 0);
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(refuses_by_default),
		cmocka_unit_test(options_lift_their_rules),
		cmocka_unit_test(export_is_sealed),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
