/* The violation observer: a seccomp user-notification filter that traps the
 * calls a policy may refuse (writes, exec, connect, AF_UNIX sockets), and the
 * supervisor side that reads each call's arguments and reports it.
 *
 * Report only: the observer answers CONTINUE, so the kernel carries on with
 * the call as if nothing had happened, and the mounts and the enforcement
 * filter decide. The one exception is socket(AF_UNIX) when Unix sockets are
 * denied: the enforcement filter leaves that call to the notify filter
 * (its ERRNO would hide it from us), and the observer always refuses it with
 * EPERM. See docs/internals/linux-sandbox.md, "Observer". */
#ifndef SRT_LINUX_OBSERVER_H
#define SRT_LINUX_OBSERVER_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <uv.h>

enum observer_mode {
	OBSERVER_WRITES = 0, /* writes, exec, connect, (denied) AF_UNIX sockets */
	OBSERVER_READS = 1,  /* the above and read-only opens */
	OBSERVER_BASIC = 2,  /* exec, connect, (denied) AF_UNIX sockets: calls rare
			      * enough to cost nothing measurable */
};

struct sandbox_observe_options {
	enum observer_mode mode;
	bool deny_unix_sockets; /* socket(AF_UNIX) trapped and refused (no connect broker) */
	/* The connect broker (linux/netbroker.h) serves this sandbox: trap
	 * sendto() with an address, sendmsg() and sendmmsg() too (connect()
	 * is always trapped). */
	bool broker_net;
	bool killable_wait;     /* the filter was loaded waiting killably (PROTO_HELLO_KILLABLE):
				 * the broker may answer with a descriptor in two steps */
};

/* Whether this kernel can run the observer: seccomp user notification
 * with SECCOMP_USER_NOTIF_FLAG_CONTINUE (Linux 5.5). Probed without loading
 * anything (one seccomp() call that fails with EFAULT when the flags are
 * known); false also when a filter of ours refuses seccomp(). A kernel
 * that says no runs without the observer: nothing is reported, nothing is
 * weaker. */
bool observer_supported(void);

/* Build the notify filter and write it as classic BPF (struct sock_filter
 * records) into a new sealed memfd, like sandbox_seccomp_export. srt-init
 * loads it with SECCOMP_FILTER_FLAG_NEW_LISTENER and hands the listener to
 * the supervisor. Other architectures than the native one are let through
 * (the enforcement filter kills them). Returns 0, or a negative errno with
 * a message in errbuf (-EOPNOTSUPP: libseccomp or the kernel knows no
 * user notification). */
int sandbox_seccomp_export_notify(const struct sandbox_observe_options *o, int *ret_fd, char *errbuf,
				  size_t errlen);

enum observed_op {
	OBS_READ, OBS_WRITE, OBS_CREATE, OBS_UNLINK, OBS_RENAME, OBS_MKDIR, OBS_RMDIR, OBS_LINK,
	OBS_SYMLINK, OBS_TRUNCATE, OBS_CHMOD, OBS_CHOWN, OBS_UTIMES, OBS_MKNOD, OBS_XATTR, OBS_EXEC,
	OBS_CONNECT, OBS_SOCKET, OBS_SEND,
};

/* One observed call. Pointers are valid only during the callback.
 *
 * Paths: absolute, lexically normalized (no ".", "..", "//", no trailing
 * "/"), as the sandbox sees them; a relative path is resolved against the
 * caller's working directory or the directory fd it passed. Symbolic links
 * are not followed.
 *
 * Two-path calls: rename/renameat/renameat2 call back twice, first with the
 * source then with the destination, both op "rename", write true (the
 * source's folder loses an entry, the destination's gains one).
 * link/linkat and symlink/symlinkat call back once, with the new name: the
 * existing file (the link's target) is neither written nor needed
 * writable. */
struct observed_call {
	enum observed_op op;
	const char *operation;   /* "read" "write" "create" "unlink" "rename" "mkdir" "rmdir" "link"
				  * "symlink" "truncate" "chmod" "chown" "utimes" "mknod" "setxattr"
				  * "exec" "connect" "socket" "send" */
	bool write;              /* the op needs write access to path */
	const char *path;        /* file ops; OBS_CONNECT, OBS_SEND: a unix socket the connect
				  * broker refused (rule says why); NULL otherwise */
	const struct sockaddr *addr; /* OBS_CONNECT, OBS_SEND: AF_INET or AF_INET6 (any address,
				      * loopback included: the caller decides) */
	socklen_t addr_len;
	int domain;              /* OBS_SOCKET: AF_UNIX */
	bool libc_probe;         /* OBS_SOCKET: the C library's own try at nscd, not
				  * the program's (see observer_libc_probe) */
	pid_t pid;               /* the calling thread's id in the supervisor's pid namespace
				  * (the process id for a single-threaded caller) */
	const char *syscall;     /* the system call's name ("openat", "renameat2", ...) */
	/* Set when the write guard answered the call: */
	bool guarded;            /* result is what the call returned */
	int result;              /* the errno it got (0: success) */
	const char *rule;        /* the guard refused it, and why; NULL: the kernel decided */
};

typedef void (*observer_fn)(void *data, const struct observed_call *c);

/* Called on the broker's thread with each decoded call before it is
 * reported, while the caller still waits in the call (so what it looks at
 * in the caller's file system is as the call will find it): false drops
 * it there (a call the policy plainly allows), so that the loop's thread
 * is not woken for it. data must stay unchanged while the observer
 * lives. */
typedef bool (*observer_keep_fn)(void *data, const struct observed_call *c);

const char *observed_op_name(enum observed_op op);

struct observer;

/* Serve the listener notif_fd (owned from now on, also on error) with a
 * broker (linux/broker.h): each notification is read and answered on the
 * broker's thread (CONTINUE; EPERM for socket), then reported to fn on the
 * loop's thread, unless keep (may be NULL) drops it. opts (NULL: mode
 * READS, every call the filter traps reported, read-only opens included)
 * and guard (NULL: none; owned from now on, also on error: the write guard,
 * linux/writeguard.h, judged and carried out on the broker's thread) are in
 * force before the broker reads its first notification, so the sandbox's
 * command may already be running. Returns 0 or a negative errno.
 *
 * Keep it open while the sandbox lives: once the listener is closed, the
 * kernel fails every trapped call with ENOSYS. Its thread stops by itself
 * when the last process under the filter is gone. */
struct wguard;
struct nbroker;
/* nb: the connect broker (linux/netbroker.h), or NULL; owned from now on,
 * also on error, like guard. */
int observer_new(uv_loop_t *loop, int notif_fd, observer_fn fn, observer_keep_fn keep, void *data,
		 const struct sandbox_observe_options *opts, struct wguard *guard, struct nbroker *nb,
		 struct observer **ret);


/* Stop (waiting for the broker's thread), report what it read, close the
 * listener. On the loop's thread; the observer is freed at once, the
 * broker once the loop has run the close callbacks. NULL is ignored. */
void observer_close(struct observer *o);

/* ---- Decoding, exposed for the unit test and the fuzzer ----------------- */

/* Where the decoder reads the caller's memory and resolves fds. */
struct observer_source {
	void *data;
	/* Copy up to len bytes at addr into buf: bytes copied (may be short
	 * at the end of a mapping), or -1. */
	ssize_t (*read_mem)(void *data, uint64_t addr, void *buf, size_t len);
	/* The path of fd (AT_FDCWD: the working directory) as the caller sees
	 * it, into buf (not NUL-terminated): its length, or -1. */
	ssize_t (*fd_path)(void *data, int fd, char *buf, size_t len);
};

/* What the notify filter traps and how each call is decoded: one table,
 * shared by the filter (seccomp_filter.c) and the decoder, so they cannot
 * disagree. */
enum observer_trap {
	OBS_TRAP_ALWAYS,      /* every call */
	OBS_TRAP_OPEN_FLAGS,  /* calls whose flags (argument arg) ask for writing;
			       * every call in mode READS */
	OBS_TRAP_UNIX_SOCKET, /* socket(AF_UNIX, ...) (family: argument arg), only
			       * when Unix sockets are denied; always refused */
	OBS_TRAP_SEND,        /* with the connect broker: every call */
	OBS_TRAP_SEND_ADDR,   /* with the connect broker: calls whose argument arg (an
			       * address pointer) is not NULL */
};

/* Open flags that make the filter trap an open in mode WRITES. O_APPEND is
 * not one: without O_WRONLY/O_RDWR it opens for reading. O_TMPFILE needs
 * O_WRONLY or O_RDWR. */
#define OBSERVER_OPEN_WRITE_FLAGS (O_WRONLY | O_RDWR | O_CREAT | O_TRUNC)

/* How a trapped call's arguments are read. */
enum observer_decode_kind {
	OBS_DEC_OPEN,       /* dirfd, path, flags (open flags in a register) */
	OBS_DEC_CREAT,      /* path: always a create */
	OBS_DEC_OPENAT2,    /* dirfd, path, flags = the struct open_how argument, its size follows */
	OBS_DEC_PATH,       /* dirfd, path; flags: AT_* flags (AT_EMPTY_PATH: the dirfd itself) */
	OBS_DEC_PATH_NULL,  /* like OBS_DEC_PATH, and a NULL path means the dirfd itself (utimensat) */
	OBS_DEC_UNLINKAT,   /* dirfd, path, flags with AT_REMOVEDIR */
	OBS_DEC_TWO,        /* dirfd, path, dirfd2, path2: both reported */
	OBS_DEC_CONNECT,    /* fd, address, length */
	OBS_DEC_SOCKET,     /* family */
	OBS_DEC_NONE,       /* the connect broker reports it */
};

struct observer_syscall {
	const char *name;       /* libseccomp's name */
	int fallback_nr;        /* when libseccomp does not know the name; -1: none */
	enum observer_trap trap;
	int arg;                /* OBS_TRAP_OPEN_FLAGS, OBS_TRAP_UNIX_SOCKET: the argument */
	/* decoding: see observer.c */
	unsigned char decode;
	unsigned char op;
	signed char dirfd, path, dirfd2, path2, flags;
};

/* The table, and the count in *n. */
const struct observer_syscall *observer_syscall_table(size_t *n);

/* The native syscall number of s, resolved with libseccomp (or its
 * fallback number); -1 when the native architecture has no such call
 * (open, rename... on aarch64). */
int observer_syscall_nr(const struct observer_syscall *s);

/* The table resolved for the native architecture, once. */
struct observer_syscalls;
const struct observer_syscalls *observer_syscalls_native(void);

/* The table's entry for native call nr, or NULL. */
const struct observer_syscall *observer_syscall_lookup(const struct observer_syscalls *sc, int nr);

#define OBSERVER_MAX_CALLS 2

/* Decode one trapped call (nr and args of the native architecture) into at
 * most OBSERVER_MAX_CALLS observed calls, using scratch for the strings.
 * Returns how many were filled (0: nothing to report). */
struct observer_scratch {
	char path[2][PATH_MAX + 1];
	char tmp[PATH_MAX + 1];
	char base[PATH_MAX + 1];
	struct sockaddr_storage addr;
};
int observer_decode(const struct observer_syscalls *sc, enum observer_mode mode, int nr,
		    const uint64_t args[6], const struct observer_source *src, struct observer_scratch *s,
		    struct observed_call out[OBSERVER_MAX_CALLS]);

/* ---- The C library's own AF_UNIX probe --------------------------------------
 *
 * glibc looks up users and groups (getpwuid, getgrnam: bash without $SHELL,
 * ls -l, id, ssh, git...) by asking nscd first: socket(AF_UNIX,
 * SOCK_STREAM|SOCK_CLOEXEC|SOCK_NONBLOCK, 0), then a connect() to
 * /var/run/nscd/socket, and it goes on with /etc/passwd when either fails.
 * Refused, it is no loss; reported, it would be a violation in nearly every
 * sandbox. The observer marks the call libc_probe when, on x86-64, it has
 * exactly those arguments and both the syscall instruction and the address
 * it returns to (the top of the stack: libc's socket() is a stub without a
 * frame) lie in libc's own code, as /proc/PID/syscall and /proc/PID/maps
 * show them. A program's own socket() returns into the program (or libuv,
 * or Python), whatever flags it passes, and stays a violation. The call is
 * refused either way. */

/* /proc/PID/syscall of a task blocked in a call: "NR A0 .. A5 SP PC".
 * Returns 0 and fills the three, or -1 (another form, "running", "-1 SP
 * PC", garbage). s is NUL-terminated. */
int observer_parse_syscall_line(const char *s, long *nr, uint64_t *sp, uint64_t *pc);

/* One line of /proc/PID/maps: "START-END PERMS OFFSET DEV INODE [PATH]".
 * Returns 0 with the range, whether it is executable, and the path (a
 * pointer into line, without the newline; "" for none) in path/path_len,
 * or -1. */
int observer_parse_maps_line(const char *line, uint64_t *start, uint64_t *end, bool *exec,
			     const char **path, size_t *path_len);

/* Whether path names the C library: basename libc.so.6 or libc-2.*.so. */
bool observer_is_libc(const char *path, size_t len);

/* Join base (absolute) and rel (when rel is relative) and normalize
 * lexically into out. Returns the length, or -1 when base is not absolute
 * or the result does not fit in outlen. */
ssize_t observer_normalize(const char *base, const char *rel, char *out, size_t outlen);

#endif
