/* Paths resolved as a trapped caller sees them: its root, its working directory or dirfd, the kernel's own walk. */
#include "linux/callerfs.h"

#include <errno.h>
#include <stdint.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/openat2.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

/* EAGAIN: a rename or a mount anywhere on the machine while a walk
 * confined by RESOLVE_IN_ROOT or RESOLVE_BENEATH was under way (the kernel
 * cannot then vouch for its ".." steps): walk again, a bounded number of
 * times, since the sandbox itself can keep renaming. */
#define OPENAT2_TRIES 64

int callerfs_openat2(int dirfd, const char *path, const struct open_how *how)
{
	int fd, tries = 0;
	do
		fd = (int)syscall(SYS_openat2, dirfd, path, how, sizeof(*how));
	while (fd < 0 && (errno == EINTR || (errno == EAGAIN && ++tries < OPENAT2_TRIES)));
	return fd < 0 ? -errno : fd;
}

static int openat2_(int dirfd, const char *path, const struct open_how *how)
{
	return callerfs_openat2(dirfd, path, how);
}

int callerfs_open_root(pid_t pid)
{
	char p[48];
	snprintf(p, sizeof(p), "/proc/%d/root", (int)pid);
	int fd = open(p, O_PATH | O_DIRECTORY | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

int callerfs_open_dirfd(pid_t pid, int dirfd)
{
	char p[64];
	if (dirfd == AT_FDCWD)
		snprintf(p, sizeof(p), "/proc/%d/cwd", (int)pid);
	else if (dirfd >= 0)
		snprintf(p, sizeof(p), "/proc/%d/fd/%d", (int)pid, dirfd);
	else
		return -EBADF;
	/* Following this magic link is the point: it is the caller's own
	 * descriptor, reopened as a path. O_DIRECTORY: a dirfd that is a
	 * file fails here as the caller's call would. */
	int fd = open(p, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT && dirfd != AT_FDCWD ? -EBADF : -errno;
	return fd;
}

ssize_t callerfs_fd_path(int fd, char *buf, size_t len)
{
	char p[48];
	snprintf(p, sizeof(p), "/proc/self/fd/%d", fd);
	if (len == 0)
		return -ENAMETOOLONG;
	ssize_t n = readlink(p, buf, len);
	if (n < 0)
		return -errno;
	if ((size_t)n >= len)
		return -ENAMETOOLONG;
	buf[n] = '\0';
	/* A folder removed since: its name is no path any more. */
	if (n >= 10 && strcmp(buf + n - 10, " (deleted)") == 0)
		return -ENOENT;
	if (buf[0] != '/')
		return -ENOENT; /* "pipe:[..]", "anon_inode:..": not a place */
	return n;
}

/* The caller's view of fd's path: fd's path as the supervisor sees it, less
 * the caller's root when the supervisor can reach that root (a chroot);
 * a sandbox's root is a mount the supervisor cannot reach and sees as "/".
 * Into buf; its length or a negative errno. */
static ssize_t caller_view_path(int root, int fd, char *buf, size_t len)
{
	char rootp[PATH_MAX];
	ssize_t n = callerfs_fd_path(fd, buf, len);
	if (n < 0)
		return n;
	ssize_t r = callerfs_fd_path(root, rootp, sizeof(rootp));
	if (r < 0)
		return r;
	if (r == 1)
		return n;
	if (n < r || memcmp(buf, rootp, (size_t)r) != 0 || (buf[r] != '/' && buf[r] != '\0'))
		return -EXDEV; /* outside the caller's root */
	if (n == r) {
		buf[0] = '/';
		buf[1] = '\0';
		return 1;
	}
	memmove(buf, buf + r, (size_t)(n - r) + 1);
	return n - r;
}

/* Open folder dir (relative to base, or absolute) in the caller's view. */
static int open_folder(int root, int base, const char *dir, bool absolute)
{
	struct open_how how = {
		.flags = O_PATH | O_DIRECTORY | O_CLOEXEC,
		.resolve = RESOLVE_NO_MAGICLINKS | (absolute ? RESOLVE_IN_ROOT : RESOLVE_BENEATH),
	};
	if (absolute)
		return openat2_(root, dir, &how);
	if (base < 0)
		return -EBADF;
	/* Most relative paths stay below their base: one walk from it. */
	int fd = openat2_(base, dir, &how);
	if (fd != -EXDEV)
		return fd;
	/* ".." above the base, or an absolute link on the way: walk again
	 * from the caller's root, behind the base's path. The base may have
	 * been renamed between the two (the caller's own race): what is
	 * checked and changed is then the folder found here, never another. */
	char full[PATH_MAX];
	ssize_t n = caller_view_path(root, base, full, sizeof(full));
	if (n < 0)
		return (int)n;
	size_t blen = (size_t)n;
	if (blen + 1 + strlen(dir) + 1 > sizeof(full))
		return -ENAMETOOLONG;
	full[blen] = '/';
	strcpy(full + blen + 1, dir);
	how.resolve = RESOLVE_NO_MAGICLINKS | RESOLVE_IN_ROOT;
	return openat2_(root, full, &how);
}

int callerfs_resolve(int root, int base, const char *path, struct caller_target *ret)
{
	ret->parent = -1;
	ret->name[0] = '\0';
	ret->trailing_slash = false;
	size_t len = strnlen(path, PATH_MAX);
	if (len == 0)
		return -ENOENT;
	if (len >= PATH_MAX)
		return -ENAMETOOLONG;
	char buf[PATH_MAX];
	memcpy(buf, path, len + 1);
	bool absolute = buf[0] == '/';
	while (len > 1 && buf[len - 1] == '/') {
		buf[--len] = '\0';
		ret->trailing_slash = true;
	}
	/* Split off the final component. */
	char *slash = strrchr(buf, '/');
	const char *dir, *name;
	if (!slash) {
		dir = ".";
		name = buf;
	} else if (slash == buf) {
		dir = "/";
		name = buf + 1;
	} else {
		*slash = '\0';
		dir = buf;
		name = slash + 1;
	}
	/* "/", ".", "..", "a/..": the path names a folder, with no name in
	 * it to create or remove; the folder itself is the answer. */
	if (name[0] == '\0' || strcmp(name, ".") == 0 || strcmp(name, "..") == 0) {
		if (slash && slash != buf)
			*slash = '/';
		dir = buf;
		name = "";
	}
	size_t nlen = strlen(name);
	if (nlen > NAME_MAX)
		return -ENAMETOOLONG;
	int fd = open_folder(root, base, dir, absolute);
	if (fd < 0)
		return fd;
	ret->parent = fd;
	memcpy(ret->name, name, nlen + 1);
	return 0;
}

/* ---- Carrying a call out for the caller ------------------------------------ */

int callerfs_thread_take_caller_rights(void)
{
	/* A file-system context of this thread's own: its umask (and cwd)
	 * are then its alone. */
	if (unshare(CLONE_FS) < 0)
		return -errno;
	/* Every capability of this thread, gone: capset on pid 0 changes the
	 * calling thread only. */
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
	struct __user_cap_data_struct data[2];
	memset(data, 0, sizeof(data));
	if (syscall(SYS_capset, &hdr, data) < 0)
		return -errno;
	return 0;
}

int callerfs_umask(pid_t pid, mode_t *ret)
{
	char p[48], buf[4096];
	snprintf(p, sizeof(p), "/proc/%d/status", (int)pid);
	int fd = open(p, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ssize_t n;
	do
		n = read(fd, buf, sizeof(buf) - 1);
	while (n < 0 && errno == EINTR);
	int e = n < 0 ? -errno : 0;
	close(fd);
	if (e)
		return e;
	buf[n] = '\0';
	return callerfs_parse_umask(buf, ret);
}

int callerfs_parse_umask(const char *status, mode_t *ret)
{
	/* "Umask:\t0022" comes early (Linux 4.7 and later), on a line of its
	 * own: the one field before it that the caller chooses, Name, has its
	 * newlines escaped by the kernel. */
	const char *u = strstr(status, "\nUmask:");
	if (!u)
		return -ENOENT;
	u += 7;
	while (*u == ' ' || *u == '\t')
		u++;
	unsigned v = 0;
	int digits = 0;
	for (; *u >= '0' && *u <= '7' && digits < 5; u++, digits++)
		v = v * 8 + (unsigned)(*u - '0');
	/* The whole field, and nothing else on its line. */
	if (digits == 0 || v > 0777 || (*u != '\n' && *u != '\0'))
		return -EINVAL;
	*ret = (mode_t)v;
	return 0;
}

/* A 64-bit mask of /proc/PID/status, "\nKey:\t<16 hex digits>\n". */
static int parse_sigmask(const char *status, const char *key, uint64_t *ret)
{
	const char *u = strstr(status, key);
	if (!u)
		return -ENOENT;
	u += strlen(key);
	while (*u == ' ' || *u == '\t')
		u++;
	uint64_t v = 0;
	int digits = 0;
	for (;; u++, digits++) {
		int d;
		if (*u >= '0' && *u <= '9')
			d = *u - '0';
		else if (*u >= 'a' && *u <= 'f')
			d = *u - 'a' + 10;
		else
			break;
		if (digits == 16)
			return -EINVAL;
		v = v << 4 | (uint64_t)d;
	}
	if (digits != 16 || (*u != '\n' && *u != '\0'))
		return -EINVAL;
	*ret = v;
	return 0;
}

int callerfs_parse_signal_pending(const char *status)
{
	/* Each on a line of its own, after Name (whose newlines the kernel
	 * escapes): the caller chooses none of them. */
	uint64_t pnd, shd, blk, ign;
	int r;
	if ((r = parse_sigmask(status, "\nSigPnd:", &pnd)) < 0 || (r = parse_sigmask(status, "\nShdPnd:", &shd)) < 0 ||
	    (r = parse_sigmask(status, "\nSigBlk:", &blk)) < 0 || (r = parse_sigmask(status, "\nSigIgn:", &ign)) < 0)
		return r;
	return ((pnd | shd) & ~blk & ~ign) != 0;
}

int callerfs_signal_pending(pid_t tid)
{
	char p[64];
	snprintf(p, sizeof(p), "/proc/%d/status", (int)tid);
	int fd = open(p, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	static _Thread_local char buf[4096];
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	int e = errno;
	close(fd);
	if (n < 0)
		return -e;
	buf[n] = '\0';
	return callerfs_parse_signal_pending(buf);
}

/* Run one creating call under the caller's umask: this thread's alone
 * (callerfs_thread_take_caller_rights). */
#define WITH_UMASK(um, expr)                                   \
	({                                                     \
		mode_t old_ = umask(um);                       \
		__typeof__(expr) r_ = (expr);                  \
		int e_ = errno;                                \
		umask(old_);                                   \
		errno = e_;                                    \
		r_;                                            \
	})

int callerfs_openat(const struct caller_target *t, int flags, mode_t mode, mode_t um)
{
	if (t->parent < 0)
		return -EBADF;
	const char *name = t->name[0] ? t->name : ".";
	int f = (flags | O_NOCTTY | O_CLOEXEC) & ~O_PATH;
	/* The final name is not followed: whoever judged it followed its links
	 * already, and one swapped in since must not lead elsewhere (an
	 * absolute link would start at the supervisor's root). */
	f |= O_NOFOLLOW;
	bool wants_block = !(flags & O_NONBLOCK);
	/* Never wait here: a FIFO with no reader (whatever the name was
	 * when it was looked at: it may have been swapped for one since). */
	if ((flags & O_ACCMODE) == O_WRONLY)
		f |= O_NONBLOCK;
	/* The umask matters only when a file is made. */
	int fd = (flags & O_CREAT) ? WITH_UMASK(um, openat(t->parent, name, f, mode)) : openat(t->parent, name, f, mode);
	if (fd < 0)
		return errno == ENXIO && (f & O_NONBLOCK) && wants_block ? -EAGAIN : -errno;
	/* The file status flags belong to the open file the caller gets:
	 * give back the blocking it asked for (F_SETFL takes only the
	 * status flags of what it is given). */
	if (wants_block && (f & O_NONBLOCK) && fcntl(fd, F_SETFL, f & ~O_NONBLOCK) < 0) {
		int e = -errno;
		close(fd);
		return e;
	}
	return fd;
}

int callerfs_mkdirat(const struct caller_target *t, mode_t mode, mode_t um)
{
	if (t->parent < 0)
		return -EBADF;
	if (!t->name[0])
		return -EEXIST; /* "/", ".", "..": there */
	return WITH_UMASK(um, mkdirat(t->parent, t->name, mode)) < 0 ? -errno : 0;
}

int callerfs_mknodat(const struct caller_target *t, mode_t mode, dev_t dev, mode_t um)
{
	if (t->parent < 0)
		return -EBADF;
	if (!t->name[0])
		return -EEXIST;
	return WITH_UMASK(um, mknodat(t->parent, t->name, mode, dev)) < 0 ? -errno : 0;
}

int callerfs_symlinkat(const char *target, const struct caller_target *t)
{
	if (t->parent < 0)
		return -EBADF;
	if (!t->name[0])
		return -EEXIST;
	return symlinkat(target, t->parent, t->name) < 0 ? -errno : 0;
}

int callerfs_unlinkat(const struct caller_target *t, int flags)
{
	if (t->parent < 0)
		return -EBADF;
	if (!t->name[0])
		return (flags & AT_REMOVEDIR) ? -EBUSY : -EISDIR; /* what rmdir("/") and unlink(".") give */
	return unlinkat(t->parent, t->name, flags) < 0 ? -errno : 0;
}

int callerfs_renameat2(const struct caller_target *from, const struct caller_target *to, unsigned flags)
{
	if (from->parent < 0 || to->parent < 0)
		return -EBADF;
	if (!from->name[0] || !to->name[0])
		return -EBUSY; /* renaming "/", "." or "..": the kernel's answer */
	return renameat2(from->parent, from->name, to->parent, to->name, flags) < 0 ? -errno : 0;
}

int callerfs_open_object(int root, const struct caller_target *t, bool follow)
{
	if (t->parent < 0)
		return -EBADF;
	struct open_how how = {
		.flags = O_PATH | O_CLOEXEC | (follow ? 0 : O_NOFOLLOW),
		.resolve = RESOLVE_NO_MAGICLINKS,
	};
	if (!t->name[0])
		return openat2_(t->parent, ".", &how);
	/* Not a link, or not to be followed: the name in its folder. */
	struct stat st;
	if (fstatat(t->parent, t->name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	if (!follow || !S_ISLNK(st.st_mode)) {
		/* Not followed even if a link was swapped in since: one the
		 * kernel followed here would start at the supervisor's root. */
		how.flags |= O_NOFOLLOW;
		int fd = openat2_(t->parent, t->name, &how);
		if (fd < 0 || !follow)
			return fd;
		struct stat now;
		if (fstat(fd, &now) < 0 || S_ISLNK(now.st_mode)) {
			close(fd);
			return -EAGAIN; /* swapped for a link while we looked: the caller tries again */
		}
		return fd;
	}
	/* A link to follow: from the caller's root, behind its folder's
	 * path, so that an absolute target starts there and ".." stops
	 * there (the kernel's walk, not ours). */
	char full[PATH_MAX];
	ssize_t n = caller_view_path(root, t->parent, full, sizeof(full));
	if (n < 0)
		return (int)n;
	size_t nl = strlen(t->name);
	if ((size_t)n + 1 + nl + 1 > sizeof(full))
		return -ENAMETOOLONG;
	full[n] = '/';
	memcpy(full + n + 1, t->name, nl + 1);
	how.resolve |= RESOLVE_IN_ROOT;
	return openat2_(root, full, &how);
}

int callerfs_linkat(int from, const struct caller_target *to)
{
	if (from < 0 || to->parent < 0)
		return -EBADF;
	if (!to->name[0])
		return -EEXIST;
	/* The object itself, through its descriptor: linkat's AT_EMPTY_PATH
	 * wants a capability the caller lacks, the /proc form does not. */
	char p[48];
	snprintf(p, sizeof(p), "/proc/self/fd/%d", from);
	return linkat(AT_FDCWD, p, to->parent, to->name, AT_SYMLINK_FOLLOW) < 0 ? -errno : 0;
}
