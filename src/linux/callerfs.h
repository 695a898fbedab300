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
 * ...), so what was checked is what is changed. See
 * docs/internals/linux-sandbox.md, "The write guard". */
#ifndef SRT_LINUX_CALLERFS_H
#define SRT_LINUX_CALLERFS_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* openat2(2), walked again on EINTR and (a bounded number of times) on
 * EAGAIN, which RESOLVE_IN_ROOT and RESOLVE_BENEATH give when any rename
 * on the machine raced the walk. The fd, or a negative errno. */
struct open_how;
int callerfs_openat2(int dirfd, const char *path, const struct open_how *how);

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

/* The object a resolved target names, as an O_PATH descriptor: for the
 * calls that act on what a path leads to (truncate, chmod, chown, utimes,
 * setxattr, link with AT_SYMLINK_FOLLOW), so that the rules judge a link
 * where it lands and the call changes exactly that. follow: follow a link
 * in the final component too (an absolute one starts again at the
 * caller's root). Returns the fd or a negative errno (-ENOENT, -ELOOP for
 * a magic link or too many links). */
int callerfs_open_object(int root, const struct caller_target *t, bool follow);

/* The path of fd as the caller sees it (the caller's root is "/"), into
 * buf: its length, or a negative errno (-ENOENT for a deleted folder,
 * -ENAMETOOLONG). */
ssize_t callerfs_fd_path(int fd, char *buf, size_t len);

/* ---- Carrying a call out for the caller ------------------------------------
 *
 * What the broker does in the caller's place must be what the kernel would
 * have done for the caller, no more: the same rights and the same umask.
 * The broker's thread takes them once, for good (it does nothing else):
 * it gives up every capability of its own (a root srt holds them all; the
 * command holds none) and gets a file-system context of its own (CLONE_FS),
 * so that setting the caller's umask for a call touches no other thread.
 * The credentials (uid, gids) are the supervisor's, which the command
 * shares: bwrap maps the user to the same ids. */

/* On the broker's thread, once, before it carries anything out. Returns 0
 * or a negative errno (then it must carry nothing out). */
int callerfs_thread_take_caller_rights(void);

/* The umask of process pid (/proc/PID/status, "Umask:"), or a negative
 * errno. */
int callerfs_umask(pid_t pid, mode_t *ret);

/* The same from a /proc/PID/status text (NUL-terminated): 0, -ENOENT (no
 * Umask line), -EINVAL (not an octal mode). */
int callerfs_parse_umask(const char *status, mode_t *ret);

/* From /proc/PID/status: does the thread have a signal pending that it
 * does not block or ignore (SigPnd or ShdPnd, less SigBlk and SigIgn)?
 * 1, 0, or a negative errno (-ENOENT: a field is missing, -EINVAL: not 16
 * hex digits). callerfs_signal_pending reads it for a thread. */
int callerfs_parse_signal_pending(const char *status);
int callerfs_signal_pending(pid_t tid);

/* openat(parent, name, flags, mode) for the caller, with its umask: the new
 * descriptor (in the broker's table, close-on-exec whatever flags say: the
 * caller's own close-on-exec goes with the hand-over) or a negative errno.
 * O_NOFOLLOW is added: the final name is opened as judged, never a
 * link swapped in since (an absolute one would start at the supervisor's
 * root). O_NOCTTY is added: a terminal must not become the broker's (a session
 * leader without a terminal that opens one without O_NOCTTY gets no
 * controlling terminal this way: a known difference). An open for writing
 * of a FIFO with no reader would wait: it is tried without waiting and
 * -EAGAIN says so (the broker may then wait for it on a thread of its
 * own); the descriptor of one that worked keeps the caller's O_NONBLOCK
 * choice. */
int callerfs_openat(const struct caller_target *t, int flags, mode_t mode, mode_t umask);

/* mkdirat, mknodat, symlinkat for the caller, with its umask (the broker's
 * thread holds no capability, so a device node fails with EPERM as it
 * would for the caller). 0 or a negative errno. */
int callerfs_mkdirat(const struct caller_target *t, mode_t mode, mode_t umask);
int callerfs_mknodat(const struct caller_target *t, mode_t mode, dev_t dev, mode_t umask);
int callerfs_symlinkat(const char *target, const struct caller_target *t);

/* unlinkat (flags: AT_REMOVEDIR) and renameat2 (flags: RENAME_NOREPLACE,
 * RENAME_EXCHANGE) on resolved targets. 0 or a negative errno. */
int callerfs_unlinkat(const struct caller_target *t, int flags);
int callerfs_renameat2(const struct caller_target *from, const struct caller_target *to, unsigned flags);

/* linkat for the caller: a new name to for the object from (an
 * O_PATH descriptor from callerfs_open_object, so that what is linked is
 * what the rules judged). 0 or a negative errno. */
int callerfs_linkat(int from, const struct caller_target *to);

#endif
