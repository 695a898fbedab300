/* Unit tests for linux/callerfs.c: a child process in a user namespace of
 * its own, chrooted into a scratch tree, is the caller; the paths it would
 * pass are resolved from outside, in its view. */
#include <errno.h>
#include <sys/syscall.h>
#include <fcntl.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "linux/callerfs.h"

static char tree[256];
static pid_t child = -1;
static int root_fd = -1, cwd_fd = -1, dir_fd_in_child = -1;

static void mk(const char *fmt, ...)
{
	char rel[PATH_MAX], p[PATH_MAX + 256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(rel, sizeof(rel), fmt, ap);
	va_end(ap);
	snprintf(p, sizeof(p), "%s/%s", tree, rel);
	assert_int_equal(mkdir(p, 0755), 0);
}

static void ln(const char *target, const char *rel)
{
	char p[PATH_MAX + 256];
	snprintf(p, sizeof(p), "%s/%s", tree, rel);
	assert_int_equal(symlink(target, p), 0);
}

/* The tree, as the caller sees it once chrooted:
 *   /a/b/c          folders
 *   /file           a file
 *   /a/abs -> /a/b  an absolute link: means /a/b in the caller's root
 *   /a/rel -> b/c   a relative one
 *   /a/up -> ../..  climbs above the root: stays at it
 *   /a/fd -> /proc/self/fd
 * The caller's working directory is /a; it holds /a/b open as fd 10 and
 * /file as fd 11. */
static int setup(void **state)
{
	(void)state;
	snprintf(tree, sizeof(tree), "/var/tmp/srt-test-callerfs-XXXXXX");
	assert_non_null(mkdtemp(tree));
	mk("a");
	mk("a/b");
	mk("a/b/c");
	mk("proc");
	char f[512];
	snprintf(f, sizeof(f), "%s/file", tree);
	int fd = open(f, O_CREAT | O_WRONLY, 0644);
	assert_true(fd >= 0);
	close(fd);
	ln("/a/b", "a/abs");
	ln("b/c", "a/rel");
	ln("../..", "a/up");
	ln("/proc/self/fd", "a/fd");

	int sync_pipe[2];
	assert_int_equal(pipe(sync_pipe), 0);
	child = fork();
	assert_true(child >= 0);
	if (child == 0) {
		close(sync_pipe[0]);
		/* A user namespace of its own lets it chroot without privilege. */
		if (unshare(CLONE_NEWUSER) < 0 || chroot(tree) < 0 || chdir("/a") < 0)
			_exit(1);
		int d = open("/a/b", O_PATH | O_DIRECTORY);
		int f = open("/file", O_RDONLY);
		if (d < 0 || dup2(d, 10) < 0 || f < 0 || dup2(f, 11) < 0)
			_exit(1);
		char ok = 'y';
		if (write(sync_pipe[1], &ok, 1) != 1)
			_exit(1);
		pause();
		_exit(0);
	}
	close(sync_pipe[1]);
	char c = 0;
	if (read(sync_pipe[0], &c, 1) != 1 || c != 'y') {
		close(sync_pipe[0]);
		waitpid(child, NULL, 0);
		child = -1;
		skip(); /* no user namespaces here */
	}
	close(sync_pipe[0]);
	root_fd = callerfs_open_root(child);
	assert_true(root_fd >= 0);
	cwd_fd = callerfs_open_dirfd(child, AT_FDCWD);
	assert_true(cwd_fd >= 0);
	dir_fd_in_child = callerfs_open_dirfd(child, 10);
	assert_true(dir_fd_in_child >= 0);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	if (child > 0) {
		kill(child, SIGKILL);
		waitpid(child, NULL, 0);
		child = -1;
	}
	if (root_fd >= 0)
		close(root_fd);
	if (cwd_fd >= 0)
		close(cwd_fd);
	if (dir_fd_in_child >= 0)
		close(dir_fd_in_child);
	root_fd = cwd_fd = dir_fd_in_child = -1;
	char cmd[512];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tree);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", tree);
	return 0;
}

/* Is fd the folder rel (in the tree)? */
static void assert_is(int fd, const char *rel)
{
	char p[PATH_MAX + 256];
	snprintf(p, sizeof(p), "%s/%s", tree, rel);
	struct stat a, b;
	assert_int_equal(fstat(fd, &a), 0);
	assert_int_equal(stat(p, &b), 0);
	if (a.st_dev != b.st_dev || a.st_ino != b.st_ino)
		fail_msg("resolved to another folder than %s", rel);
}

static void expect(int base, const char *path, const char *folder, const char *name, bool slash)
{
	struct caller_target t;
	int r = callerfs_resolve(root_fd, base, path, &t);
	if (r != 0)
		fail_msg("%s: %s", path, strerror(-r));
	assert_is(t.parent, folder);
	assert_string_equal(t.name, name);
	assert_int_equal(t.trailing_slash, slash);
	close(t.parent);
}

static void expect_error(int base, const char *path, int err)
{
	struct caller_target t;
	int r = callerfs_resolve(root_fd, base, path, &t);
	if (r == 0)
		close(t.parent);
	if (r != -err)
		fail_msg("%s: expected %s, got %s", path, strerror(err), r ? strerror(-r) : "success");
	assert_int_equal(t.parent, -1);
}

static void test_absolute_paths_in_the_callers_root(void **state)
{
	(void)state;
	expect(-1, "/a/b/new", "a/b", "new", false);
	expect(-1, "/new", "", "new", false);
	expect(-1, "//a//b///new", "a/b", "new", false);
	/* ".." never leaves the caller's root, however many. */
	expect(-1, "/../../../a/new", "a", "new", false);
	/* Links on the way: an absolute one starts again at the caller's
	 * root, not the supervisor's. */
	expect(-1, "/a/abs/new", "a/b", "new", false);
	expect(-1, "/a/rel/new", "a/b/c", "new", false);
	expect(-1, "/a/up/a/new", "a", "new", false);
}

static void test_relative_paths_from_cwd_and_dirfd(void **state)
{
	(void)state;
	expect(cwd_fd, "new", "a", "new", false);
	expect(cwd_fd, "b/c/new", "a/b/c", "new", false);
	expect(cwd_fd, "./b/./new", "a/b", "new", false);
	expect(dir_fd_in_child, "c/new", "a/b/c", "new", false);
	/* Above the base: resolved from the caller's root behind the
	 * base's path, never from the supervisor's. */
	expect(cwd_fd, "../new", "", "new", false);
	expect(cwd_fd, "../../../../a/b/new", "a/b", "new", false);
	expect(dir_fd_in_child, "../../new", "", "new", false);
	expect(cwd_fd, "abs/new", "a/b", "new", false);
	expect(cwd_fd, "up/a/b/new", "a/b", "new", false);
}

static void test_the_final_component_is_not_followed(void **state)
{
	(void)state;
	/* The name is what the call acts on: a link there is judged by the
	 * caller (O_NOFOLLOW or not), not resolved here. */
	expect(cwd_fd, "abs", "a", "abs", false);
	expect(-1, "/a/up", "a", "up", false);
	expect(cwd_fd, "b/", "a", "b", true);
	expect(cwd_fd, "b//", "a", "b", true);
}

static void test_paths_that_name_a_folder(void **state)
{
	(void)state;
	expect(-1, "/", "", "", false);
	expect(cwd_fd, ".", "a", "", false);
	expect(cwd_fd, "..", "", "", false);
	expect(cwd_fd, "b/c/..", "a/b", "", false);
	expect(cwd_fd, "b/.", "a/b", "", false);
	expect(-1, "/a/b/", "a", "b", true);
}

static void test_errors_are_the_kernels(void **state)
{
	(void)state;
	expect_error(cwd_fd, "", ENOENT);
	expect_error(cwd_fd, "missing/new", ENOENT);
	expect_error(-1, "/file/new", ENOTDIR);
	expect_error(-1, "relative/without/base", EBADF);
	char longname[NAME_MAX + 8];
	memset(longname, 'x', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	expect_error(cwd_fd, longname, ENAMETOOLONG);
	char longpath[PATH_MAX + 8];
	memset(longpath, 'a', sizeof(longpath) - 1);
	longpath[sizeof(longpath) - 1] = '\0';
	expect_error(cwd_fd, longpath, ENAMETOOLONG);
}

static void test_magic_links_are_refused(void **state)
{
	(void)state;
	/* /proc/self/fd/N would be the supervisor's descriptors: never
	 * followed for the caller. The tree has no procfs at /proc, so make
	 * the point with the supervisor's own /proc through an absolute
	 * path from its root. */
	struct caller_target t;
	int self_root = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
	assert_true(self_root >= 0);
	int r = callerfs_resolve(self_root, -1, "/proc/self/cwd/x", &t);
	assert_int_equal(r, -ELOOP);
	r = callerfs_resolve(self_root, -1, "/dev/stdout/x", &t);
	assert_true(r == -ELOOP || r == -ENOTDIR);
	close(self_root);
}

static void test_dirfd_that_is_no_folder(void **state)
{
	(void)state;
	assert_int_equal(callerfs_open_dirfd(child, 11), -ENOTDIR);
	assert_int_equal(callerfs_open_dirfd(child, 987), -EBADF);
	assert_int_equal(callerfs_open_dirfd(child, -5), -EBADF);
}

static void test_fd_path(void **state)
{
	(void)state;
	char buf[PATH_MAX];
	ssize_t n = callerfs_fd_path(cwd_fd, buf, sizeof(buf));
	assert_true(n > 0);
	char want[512];
	snprintf(want, sizeof(want), "%s/a", tree);
	assert_string_equal(buf, want);
	assert_int_equal(callerfs_fd_path(cwd_fd, buf, 3), -ENAMETOOLONG);
	int p[2];
	assert_int_equal(pipe(p), 0);
	assert_int_equal(callerfs_fd_path(p[0], buf, sizeof(buf)), -ENOENT);
	close(p[0]);
	close(p[1]);
}

static int object(const char *path, bool follow)
{
	struct caller_target t;
	int r = callerfs_resolve(root_fd, cwd_fd, path, &t);
	if (r < 0)
		return r;
	int fd = callerfs_open_object(root_fd, &t, follow);
	close(t.parent);
	return fd;
}

static void test_objects_judged_where_they_land(void **state)
{
	(void)state;
	/* An absolute link lands in the caller's root, not the supervisor's. */
	int fd = object("/a/abs", true);
	assert_true(fd >= 0);
	assert_is(fd, "a/b");
	close(fd);
	fd = object("rel", true);
	assert_true(fd >= 0);
	assert_is(fd, "a/b/c");
	close(fd);
	/* ".." in a link stops at the caller's root. */
	fd = object("up", true);
	assert_true(fd >= 0);
	assert_is(fd, "");
	close(fd);
	/* Not followed: the link itself. */
	fd = object("abs", false);
	assert_true(fd >= 0);
	struct stat st;
	assert_int_equal(fstatat(fd, "", &st, AT_EMPTY_PATH), 0);
	assert_true(S_ISLNK(st.st_mode));
	close(fd);
	fd = object("/file", true);
	assert_true(fd >= 0);
	assert_is(fd, "file");
	close(fd);
	fd = object(".", true);
	assert_true(fd >= 0);
	assert_is(fd, "a");
	close(fd);
	assert_int_equal(object("missing", true), -ENOENT);
	/* /a/fd leads to /proc/self/fd, which the caller's root (the tree)
	 * does not have: followed there, not into the supervisor's /proc. */
	assert_int_equal(object("/a/fd", true), -ENOENT);
}

static void test_link_names_the_object(void **state)
{
	(void)state;
	int from = object("/file", true);
	assert_true(from >= 0);
	struct caller_target to;
	assert_int_equal(callerfs_resolve(root_fd, cwd_fd, "b/hard", &to), 0);
	assert_int_equal(callerfs_linkat(from, &to), 0);
	assert_int_equal(callerfs_linkat(from, &to), -EEXIST);
	close(to.parent);
	close(from);
	char a[PATH_MAX + 256], b[PATH_MAX + 256];
	snprintf(a, sizeof(a), "%s/file", tree);
	snprintf(b, sizeof(b), "%s/a/b/hard", tree);
	struct stat sa, sb;
	assert_int_equal(stat(a, &sa), 0);
	assert_int_equal(lstat(b, &sb), 0);
	assert_int_equal(sa.st_ino, sb.st_ino);
	assert_int_equal(sa.st_nlink, 2);
}

static void test_umask_parsed_from_status(void **state)
{
	(void)state;
	mode_t m = 0;
	assert_int_equal(callerfs_parse_umask("Name:\tsh\nUmask:\t0027\nState:\tS\n", &m), 0);
	assert_int_equal(m, 027);
	assert_int_equal(callerfs_parse_umask("Name:\tx\nUmask: 0\n", &m), 0);
	assert_int_equal(m, 0);
	/* A name that says Umask is not the field (Name starts the text). */
	assert_int_equal(callerfs_parse_umask("Umask:\t0000\n", &m), -ENOENT);
	assert_int_equal(callerfs_parse_umask("Name:\tx\nUmask:\t0999\n", &m), -EINVAL);
	assert_int_equal(callerfs_parse_umask("Name:\tx\nUmask:\t7777\n", &m), -EINVAL);
	assert_int_equal(callerfs_parse_umask("Name:\tx\n", &m), -ENOENT);
	/* The live one: this process's own. */
	mode_t old = umask(023);
	assert_int_equal(callerfs_umask(getpid(), &m), 0);
	umask(old);
	assert_int_equal(m, 023);
}

static void test_pending_signal_parsed_from_status(void **state)
{
	(void)state;
	const char *head = "Name:\tsh\nSigQ:\t1/100\n";
	char buf[512];
#define STATUS(pnd, shd, blk, ign)                                                                         \
	(snprintf(buf, sizeof(buf), "%sSigPnd:\t%s\nShdPnd:\t%s\nSigBlk:\t%s\nSigIgn:\t%s\nSigCgt:\t0\n", head, \
		  pnd, shd, blk, ign),                                                                      \
	 buf)
	const char *z = "0000000000000000", *alrm = "0000000000002000", *term = "0000000000004000";
	assert_int_equal(callerfs_parse_signal_pending(STATUS(z, z, z, z)), 0);
	assert_int_equal(callerfs_parse_signal_pending(STATUS(z, alrm, z, z)), 1);  /* shared, SIGALRM */
	assert_int_equal(callerfs_parse_signal_pending(STATUS(term, z, z, z)), 1);  /* the thread's own */
	assert_int_equal(callerfs_parse_signal_pending(STATUS(z, alrm, alrm, z)), 0); /* blocked */
	assert_int_equal(callerfs_parse_signal_pending(STATUS(z, alrm, z, alrm)), 0); /* ignored */
	assert_int_equal(callerfs_parse_signal_pending(STATUS(z, "00000000000020", z, z)), -EINVAL);
	assert_int_equal(callerfs_parse_signal_pending(STATUS(z, "00000000000020000", z, z)), -EINVAL);
	assert_int_equal(callerfs_parse_signal_pending("Name:\tx\nSigPnd:\t0000000000000000\n"), -ENOENT);
	/* A name that looks like a field is not one (Name starts the text). */
	assert_int_equal(callerfs_parse_signal_pending("SigPnd:\t0000000000000001\n"), -ENOENT);
#undef STATUS
	/* The live one: this thread, with SIGUSR1 blocked and pending. */
	sigset_t set, old;
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	sigprocmask(SIG_BLOCK, &set, &old);
	assert_int_equal(callerfs_signal_pending((pid_t)syscall(SYS_gettid)), 0);
	raise(SIGUSR1);
	assert_int_equal(callerfs_signal_pending((pid_t)syscall(SYS_gettid)), 0); /* blocked */
	int sig;
	sigwait(&set, &sig);
	sigprocmask(SIG_SETMASK, &old, NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_absolute_paths_in_the_callers_root, setup, teardown),
		cmocka_unit_test_setup_teardown(test_relative_paths_from_cwd_and_dirfd, setup, teardown),
		cmocka_unit_test_setup_teardown(test_the_final_component_is_not_followed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_paths_that_name_a_folder, setup, teardown),
		cmocka_unit_test_setup_teardown(test_errors_are_the_kernels, setup, teardown),
		cmocka_unit_test_setup_teardown(test_magic_links_are_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dirfd_that_is_no_folder, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fd_path, setup, teardown),
		cmocka_unit_test_setup_teardown(test_objects_judged_where_they_land, setup, teardown),
		cmocka_unit_test_setup_teardown(test_link_names_the_object, setup, teardown),
		cmocka_unit_test(test_umask_parsed_from_status),
		cmocka_unit_test(test_pending_signal_parsed_from_status),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
