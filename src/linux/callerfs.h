/* The file system as a trapped caller sees it: the broker resolves a path
 * argument once, from its own copy, in the caller's root and working
 * directory, and acts on what it resolved.
 *
 * Why: a decision taken on a path string and followed by CONTINUE is no
 * decision, since the kernel reads the string again (the caller's other
 * threads can change it) and walks the path again (the caller can swap a
 * symlink or rename a folder on the way). Resolving the parent folder to a
 * descriptor pins what the rules are checked on; the call is then carried
 * out on that descriptor with the final name (mkdirat, openat, renameat2,
 * ...), so what was checked is what is changed. See DESIGN.md, "The
 * syscall broker". */
#ifndef SRT_LINUX_CALLERFS_H
#define SRT_LINUX_CALLERFS_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* The caller's root, as an O_PATH descriptor (/proc/PID/root). Every
 * process of a sandbox has the same root (the command cannot chroot: it
 * holds no capability), so the broker opens it once per sandbox. Returns
 * the fd or a negative errno. */
int callerfs_open_root(pid_t pid);

/* The working directory of pid (dirfd AT_FDCWD) or its descriptor dirfd,
 * as an O_PATH descriptor; -ENOTDIR when dirfd is no directory. */
int callerfs_open_dirfd(pid_t pid, int dirfd);

struct caller_target {
	int parent;                 /* O_PATH|O_DIRECTORY, the caller's view; -1 when none */
	char name[NAME_MAX + 1];    /* the final component, never "." or ".."; "" when the
				     * path names a folder by "/", "." or ".." (parent is
				     * that folder then) */
	bool trailing_slash;        /* "a/b/": the final component must be a folder */
};

/*
 * Resolve (dirfd, path) of the caller pid to its parent folder and final
 * name. root: callerfs_open_root's descriptor; base: the caller's dirfd or
 * working directory opened with callerfs_open_dirfd (ignored for an
 * absolute path; may be -1 then).
 *
 * The folders on the way are resolved by the kernel (openat2) in the
 * caller's root: ".." never leaves it, an absolute symbolic link starts
 * again at it, and magic links (/proc/PID/fd/N, /proc/self/cwd, and so
 * /dev/stdout) are refused with -ELOOP: they would be resolved for the
 * supervisor, not for the caller. The final component is not followed:
 * whether the call follows it is the caller's business (O_NOFOLLOW,
 * AT_SYMLINK_NOFOLLOW), and the rules judge a link where it lands.
 *
 * Returns 0 and fills *ret (ret->parent is the caller's to close), or a
 * negative errno: -ENOENT (empty path, missing folder), -ENOTDIR,
 * -ENAMETOOLONG, -ELOOP, -EACCES as the kernel says. */
int callerfs_resolve(int root, int base, const char *path, struct caller_target *ret);

/* The path of fd as the caller sees it (the caller's root is "/"), into
 * buf: its length, or a negative errno (-ENOENT for a deleted folder,
 * -ENAMETOOLONG). */
ssize_t callerfs_fd_path(int fd, char *buf, size_t len);

#endif
