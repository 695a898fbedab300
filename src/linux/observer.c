/* The violation observer: decodes each call that srt-init's notification
 * filter traps (served by the broker's thread) and reports it. */
#include "linux/observer.h"

#include "linux/broker.h"
#include "linux/netbroker.h"
#include "linux/writeguard.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <linux/seccomp.h>
#include <netinet/in.h>
#include <pthread.h>
#include <seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#ifndef O_TMPFILE
#define O_TMPFILE (020000000 | O_DIRECTORY)
#endif
#ifndef AT_EMPTY_PATH
#define AT_EMPTY_PATH 0x1000
#endif
#ifndef AT_REMOVEDIR
#define AT_REMOVEDIR 0x200
#endif
#ifndef SECCOMP_FILTER_FLAG_TSYNC_ESRCH
#define SECCOMP_FILTER_FLAG_TSYNC_ESRCH (1UL << 4)
#endif

/* Calls newer than libseccomp 2.5.4's tables carry their number: since
 * Linux 5.1 new calls have one number on every architecture but alpha. */
#if defined(__x86_64__) || defined(__aarch64__)
#define NR_FCHMODAT2 452
#define NR_SETXATTRAT 463
#define NR_REMOVEXATTRAT 466
#else
#define NR_FCHMODAT2 (-1)
#define NR_SETXATTRAT (-1)
#define NR_REMOVEXATTRAT (-1)
#endif


#define ALWAYS OBS_TRAP_ALWAYS, 0
#define P(name, nr, decode, op, dirfd, path, flags) \
	{ name, nr, ALWAYS, decode, op, dirfd, path, -1, -1, flags }

static const struct observer_syscall table[] = {
	{ "open", -1, OBS_TRAP_OPEN_FLAGS, 1, OBS_DEC_OPEN, OBS_WRITE, -1, 0, -1, -1, 1 },
	{ "openat", -1, OBS_TRAP_OPEN_FLAGS, 2, OBS_DEC_OPEN, OBS_WRITE, 0, 1, -1, -1, 2 },
	{ "openat2", -1, ALWAYS, OBS_DEC_OPENAT2, OBS_WRITE, 0, 1, -1, -1, 2 },
	P("creat", -1, OBS_DEC_CREAT, OBS_CREATE, -1, 0, -1),
	P("unlink", -1, OBS_DEC_PATH, OBS_UNLINK, -1, 0, -1),
	P("unlinkat", -1, OBS_DEC_UNLINKAT, OBS_UNLINK, 0, 1, 2),
	{ "rename", -1, ALWAYS, OBS_DEC_TWO, OBS_RENAME, -1, 0, -1, 1, -1 },
	{ "renameat", -1, ALWAYS, OBS_DEC_TWO, OBS_RENAME, 0, 1, 2, 3, -1 },
	{ "renameat2", -1, ALWAYS, OBS_DEC_TWO, OBS_RENAME, 0, 1, 2, 3, -1 },
	P("mkdir", -1, OBS_DEC_PATH, OBS_MKDIR, -1, 0, -1),
	P("mkdirat", -1, OBS_DEC_PATH, OBS_MKDIR, 0, 1, -1),
	P("rmdir", -1, OBS_DEC_PATH, OBS_RMDIR, -1, 0, -1),
	P("link", -1, OBS_DEC_PATH, OBS_LINK, -1, 1, -1),
	P("linkat", -1, OBS_DEC_PATH, OBS_LINK, 2, 3, -1),
	P("symlink", -1, OBS_DEC_PATH, OBS_SYMLINK, -1, 1, -1),
	P("symlinkat", -1, OBS_DEC_PATH, OBS_SYMLINK, 1, 2, -1),
	P("truncate", -1, OBS_DEC_PATH, OBS_TRUNCATE, -1, 0, -1),
	P("chmod", -1, OBS_DEC_PATH, OBS_CHMOD, -1, 0, -1),
	P("fchmodat", -1, OBS_DEC_PATH, OBS_CHMOD, 0, 1, -1),
	P("fchmodat2", NR_FCHMODAT2, OBS_DEC_PATH, OBS_CHMOD, 0, 1, 3),
	P("chown", -1, OBS_DEC_PATH, OBS_CHOWN, -1, 0, -1),
	P("lchown", -1, OBS_DEC_PATH, OBS_CHOWN, -1, 0, -1),
	P("fchownat", -1, OBS_DEC_PATH, OBS_CHOWN, 0, 1, 4),
	P("utime", -1, OBS_DEC_PATH, OBS_UTIMES, -1, 0, -1),
	P("utimes", -1, OBS_DEC_PATH, OBS_UTIMES, -1, 0, -1),
	P("utimensat", -1, OBS_DEC_PATH_NULL, OBS_UTIMES, 0, 1, 3),
	P("futimesat", -1, OBS_DEC_PATH_NULL, OBS_UTIMES, 0, 1, -1),
	P("mknod", -1, OBS_DEC_PATH, OBS_MKNOD, -1, 0, -1),
	P("mknodat", -1, OBS_DEC_PATH, OBS_MKNOD, 0, 1, -1),
	P("setxattr", -1, OBS_DEC_PATH, OBS_XATTR, -1, 0, -1),
	P("lsetxattr", -1, OBS_DEC_PATH, OBS_XATTR, -1, 0, -1),
	P("removexattr", -1, OBS_DEC_PATH, OBS_XATTR, -1, 0, -1),
	P("lremovexattr", -1, OBS_DEC_PATH, OBS_XATTR, -1, 0, -1),
	P("setxattrat", NR_SETXATTRAT, OBS_DEC_PATH, OBS_XATTR, 0, 1, 2),
	P("removexattrat", NR_REMOVEXATTRAT, OBS_DEC_PATH, OBS_XATTR, 0, 1, 2),
	/* On a descriptor: what it names (a file opened for reading can
	 * still have its mode, owner and attributes changed). */
	P("fchmod", -1, OBS_DEC_PATH_NULL, OBS_CHMOD, 0, -1, -1),
	P("fchown", -1, OBS_DEC_PATH_NULL, OBS_CHOWN, 0, -1, -1),
	P("fsetxattr", -1, OBS_DEC_PATH_NULL, OBS_XATTR, 0, -1, -1),
	P("fremovexattr", -1, OBS_DEC_PATH_NULL, OBS_XATTR, 0, -1, -1),
	P("execve", -1, OBS_DEC_PATH, OBS_EXEC, -1, 0, -1),
	P("execveat", -1, OBS_DEC_PATH, OBS_EXEC, 0, 1, 4),
	P("connect", -1, OBS_DEC_CONNECT, OBS_CONNECT, -1, -1, -1),
	{ "socket", -1, OBS_TRAP_UNIX_SOCKET, 0, OBS_DEC_SOCKET, OBS_SOCKET, -1, -1, -1, -1, -1 },
	{ "sendto", -1, OBS_TRAP_SEND_ADDR, 4, OBS_DEC_NONE, OBS_SEND, -1, -1, -1, -1, -1 },
	{ "sendmsg", -1, OBS_TRAP_SEND, 0, OBS_DEC_NONE, OBS_SEND, -1, -1, -1, -1, -1 },
	{ "sendmmsg", -1, OBS_TRAP_SEND, 0, OBS_DEC_NONE, OBS_SEND, -1, -1, -1, -1, -1 },
};
#undef P
#undef ALWAYS

#define TABLE_N (sizeof(table) / sizeof(table[0]))

const struct observer_syscall *observer_syscall_table(size_t *n)
{
	*n = TABLE_N;
	return table;
}

int observer_syscall_nr(const struct observer_syscall *s)
{
	int nr = seccomp_syscall_resolve_name(s->name);
	if (nr == __NR_SCMP_ERROR)
		return s->fallback_nr >= 0 ? s->fallback_nr : -1;
	/* Negative: a pseudo number, the call does not exist here. */
	return nr >= 0 ? nr : -1;
}

struct observer_syscalls {
	int nr[TABLE_N];
	uint32_t arch;
	int socket_nr;
};

static struct observer_syscalls native;
static pthread_once_t native_once = PTHREAD_ONCE_INIT;

static void resolve_native(void)
{
	native.socket_nr = -1;
	for (size_t i = 0; i < TABLE_N; i++) {
		native.nr[i] = observer_syscall_nr(&table[i]);
		if (table[i].decode == OBS_DEC_SOCKET)
			native.socket_nr = native.nr[i];
	}
	native.arch = seccomp_arch_native();
}

const struct observer_syscall *observer_syscall_lookup(const struct observer_syscalls *sc, int nr)
{
	for (size_t i = 0; i < TABLE_N; i++)
		if (sc->nr[i] == nr && nr >= 0)
			return &table[i];
	return NULL;
}

const struct observer_syscalls *observer_syscalls_native(void)
{
	pthread_once(&native_once, resolve_native);
	return &native;
}

static const char *const op_names[] = {
	[OBS_READ] = "read", [OBS_WRITE] = "write", [OBS_CREATE] = "create", [OBS_UNLINK] = "unlink",
	[OBS_RENAME] = "rename", [OBS_MKDIR] = "mkdir", [OBS_RMDIR] = "rmdir", [OBS_LINK] = "link",
	[OBS_SYMLINK] = "symlink", [OBS_TRUNCATE] = "truncate", [OBS_CHMOD] = "chmod",
	[OBS_CHOWN] = "chown", [OBS_UTIMES] = "utimes", [OBS_MKNOD] = "mknod", [OBS_XATTR] = "setxattr",
	[OBS_EXEC] = "exec", [OBS_CONNECT] = "connect", [OBS_SOCKET] = "socket",
	[OBS_SEND] = "send",
};

const char *observed_op_name(enum observed_op op)
{
	if ((size_t)op < sizeof(op_names) / sizeof(op_names[0]) && op_names[op])
		return op_names[op];
	return "unknown";
}

/* ---- Paths ---------------------------------------------------------------- */

/* Append the components of s to out (n bytes used, "/" at least). */
static bool push_components(const char *s, char *out, size_t *n, size_t cap)
{
	while (*s) {
		while (*s == '/')
			s++;
		if (!*s)
			break;
		const char *e = s;
		while (*e && *e != '/')
			e++;
		size_t len = (size_t)(e - s);
		if (len == 1 && s[0] == '.') {
			/* nothing */
		} else if (len == 2 && s[0] == '.' && s[1] == '.') {
			while (*n > 1 && out[*n - 1] != '/')
				(*n)--;
			if (*n > 1)
				(*n)--;
		} else {
			size_t sep = *n > 1 ? 1 : 0;
			if (*n + sep + len + 1 > cap)
				return false;
			if (sep)
				out[(*n)++] = '/';
			memcpy(out + *n, s, len);
			*n += len;
		}
		s = e;
	}
	return true;
}

ssize_t observer_normalize(const char *base, const char *rel, char *out, size_t outlen)
{
	if (outlen < 2)
		return -1;
	size_t n = 1;
	out[0] = '/';
	if (rel[0] != '/') {
		if (!base || base[0] != '/' || !push_components(base, out, &n, outlen))
			return -1;
	}
	if (!push_components(rel, out, &n, outlen))
		return -1;
	out[n] = '\0';
	return (ssize_t)n;
}

/* ---- Decoding ------------------------------------------------------------- */

static uint64_t untag(uint64_t addr)
{
#ifdef __aarch64__
	/* The tagged address ABI: the kernel ignores the top byte. */
	addr &= 0x00ffffffffffffffULL;
#endif
	return addr;
}

/* The NUL-terminated string at addr, at most PATH_MAX bytes with its NUL
 * (the kernel's limit). Most paths are short: 256 bytes first, the rest
 * only when needed, 4 KiB-aligned pieces that never cross a page. */
static int read_string(const struct observer_source *src, uint64_t addr, char *buf)
{
	addr = untag(addr);
	if (!addr)
		return -1;
	size_t got = 0;
	while (got < PATH_MAX) {
		/* Never across a page: the next one may not be mapped. */
		size_t want = 4096 - (size_t)((addr + got) & 4095);
		if (got == 0 && want > 256)
			want = 256;
		if (want > PATH_MAX - got)
			want = PATH_MAX - got;
		ssize_t n = src->read_mem(src->data, addr + got, buf + got, want);
		if (n <= 0 || (size_t)n > want)
			return -1;
		void *nul = memchr(buf + got, '\0', (size_t)n);
		if (nul)
			return 0;
		got += (size_t)n;
	}
	return -1;
}

static int as_int(uint64_t v)
{
	return (int)(uint32_t)v;
}

/* The path of dirfd (AT_FDCWD: the working directory) into s->base.
 * Returns 0, or -1 when it is no path. */
static int read_base(const struct observer_source *src, struct observer_scratch *s, int dirfd)
{
	if (dirfd < 0 && dirfd != AT_FDCWD)
		return -1;
	ssize_t n = src->fd_path(src->data, dirfd, s->base, sizeof(s->base) - 1);
	if (n <= 0 || (size_t)n >= sizeof(s->base))
		return -1;
	s->base[n] = '\0';
	return s->base[0] == '/' ? 0 : -1; /* pipe:[...], anon_inode:...: not a path */
}

/* The path of dirfd, normalized into out. */
static ssize_t fd_path(const struct observer_source *src, struct observer_scratch *s, int dirfd, char *out)
{
	if (read_base(src, s, dirfd) < 0)
		return -1;
	return observer_normalize(s->base, "", out, PATH_MAX + 1);
}

/* The absolute path of (dirfd, path at addr) into out. empty: AT_EMPTY_PATH
 * was given; null_fd: a NULL path means dirfd itself. */
static ssize_t resolve(const struct observer_source *src, struct observer_scratch *s, int dirfd, uint64_t addr,
		       bool empty, bool null_fd, char *out)
{
	if (untag(addr) == 0) {
		if (!null_fd || dirfd == AT_FDCWD)
			return -1;
		return fd_path(src, s, dirfd, out);
	}
	if (read_string(src, addr, s->tmp) < 0)
		return -1;
	if (s->tmp[0] == '\0')
		return empty ? fd_path(src, s, dirfd, out) : -1;
	if (s->tmp[0] == '/')
		return observer_normalize("/", s->tmp, out, PATH_MAX + 1);
	if (read_base(src, s, dirfd) < 0)
		return -1;
	return observer_normalize(s->base, s->tmp, out, PATH_MAX + 1);
}

/* What an open with these flags does; false: a read not to be reported. */
static bool open_op(uint64_t flags, enum observer_mode mode, enum observed_op *op)
{
	if (flags & O_PATH)
		*op = OBS_READ; /* O_PATH ignores the other flags */
	else if ((flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE)
		*op = OBS_CREATE;
	else if ((flags & O_ACCMODE) != O_RDONLY || (flags & O_TRUNC))
		*op = OBS_WRITE;
	else
		*op = OBS_READ;
	return *op != OBS_READ || mode == OBSERVER_READS;
}

static void fill(struct observed_call *c, const struct observer_syscall *e, enum observed_op op, const char *path)
{
	c->op = op;
	c->operation = observed_op_name(op);
	c->write = op != OBS_READ && op != OBS_EXEC && op != OBS_CONNECT && op != OBS_SOCKET && op != OBS_SEND;
	c->path = path;
	c->syscall = e->name;
}

int observer_decode(const struct observer_syscalls *sc, enum observer_mode mode, int nr,
		    const uint64_t args[6], const struct observer_source *src, struct observer_scratch *s,
		    struct observed_call out[OBSERVER_MAX_CALLS])
{
	const struct observer_syscall *e = NULL;
	if (nr < 0)
		return 0;
	for (size_t i = 0; i < TABLE_N; i++) {
		if (sc->nr[i] == nr) {
			e = &table[i];
			break;
		}
	}
	if (!e)
		return 0;
	memset(out, 0, sizeof(*out) * OBSERVER_MAX_CALLS);
	int dirfd = e->dirfd >= 0 ? as_int(args[(int)e->dirfd]) : AT_FDCWD;
	uint64_t path = e->path >= 0 ? args[(int)e->path] : 0;
	uint64_t flags = e->flags >= 0 ? args[(int)e->flags] : 0;
	enum observed_op op = e->op;

	switch (e->decode) {
	case OBS_DEC_OPEN:
		if (!open_op((uint32_t)flags, mode, &op))
			return 0;
		if (resolve(src, s, dirfd, path, false, false, s->path[0]) < 0)
			return 0;
		break;
	case OBS_DEC_CREAT:
		if (resolve(src, s, dirfd, path, false, false, s->path[0]) < 0)
			return 0;
		break;
	case OBS_DEC_OPENAT2: {
		struct open_how how;
		uint64_t size = args[3];
		/* The kernel refuses a smaller struct; a larger one starts
		 * with ours. */
		if (size < sizeof(how) || size > 4096)
			return 0;
		memset(&how, 0, sizeof(how));
		ssize_t n = src->read_mem(src->data, untag(flags), &how, sizeof(how));
		if (n != (ssize_t)sizeof(how))
			return 0;
		if (!open_op(how.flags, mode, &op))
			return 0;
		if (resolve(src, s, dirfd, path, false, false, s->path[0]) < 0)
			return 0;
		break;
	}
	case OBS_DEC_PATH:
	case OBS_DEC_PATH_NULL:
		if (resolve(src, s, dirfd, path, e->flags >= 0 && (flags & AT_EMPTY_PATH),
			    e->decode == OBS_DEC_PATH_NULL, s->path[0]) < 0)
			return 0;
		break;
	case OBS_DEC_UNLINKAT:
		if (flags & AT_REMOVEDIR)
			op = OBS_RMDIR;
		if (resolve(src, s, dirfd, path, false, false, s->path[0]) < 0)
			return 0;
		break;
	case OBS_DEC_TWO: {
		int dirfd2 = e->dirfd2 >= 0 ? as_int(args[(int)e->dirfd2]) : AT_FDCWD;
		int k = 0;
		if (resolve(src, s, dirfd, path, false, false, s->path[0]) >= 0)
			fill(&out[k++], e, op, s->path[0]);
		if (resolve(src, s, dirfd2, args[(int)e->path2], false, false, s->path[1]) >= 0)
			fill(&out[k++], e, op, s->path[1]);
		return k;
	}
	case OBS_DEC_CONNECT: {
		uint64_t addr = untag(args[1]);
		uint32_t len = (uint32_t)args[2];
		if (!addr || len < sizeof(sa_family_t))
			return 0;
		size_t want = len < sizeof(s->addr) ? len : sizeof(s->addr);
		memset(&s->addr, 0, sizeof(s->addr));
		ssize_t n = src->read_mem(src->data, addr, &s->addr, want);
		if (n < (ssize_t)sizeof(sa_family_t) || (size_t)n > want)
			return 0;
		if (s->addr.ss_family == AF_INET && (size_t)n >= sizeof(struct sockaddr_in))
			out[0].addr_len = sizeof(struct sockaddr_in);
		else if (s->addr.ss_family == AF_INET6 && n >= 24) /* SIN6_LEN_RFC2133: no scope id */
			out[0].addr_len = sizeof(struct sockaddr_in6);
		else
			return 0;
		fill(&out[0], e, op, NULL);
		out[0].addr = (const struct sockaddr *)&s->addr;
		return 1;
	}
	case OBS_DEC_SOCKET:
		if (as_int(args[0]) != AF_UNIX)
			return 0;
		fill(&out[0], e, op, NULL);
		out[0].domain = AF_UNIX;
		return 1;
	default:
		return 0;
	}
	fill(&out[0], e, op, s->path[0]);
	return 1;
}

/* ---- Kernel support ------------------------------------------------------- */

bool observer_supported(void)
{
	/* Flags are checked before the (NULL) program is read: EFAULT means
	 * the kernel knows them. TSYNC_ESRCH came in 5.7, after CONTINUE
	 * (5.5); NEW_LISTENER (5.0) says user notification is there. */
	long r = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER,
			 SECCOMP_FILTER_FLAG_NEW_LISTENER | SECCOMP_FILTER_FLAG_TSYNC_ESRCH, NULL);
	return r < 0 && errno == EFAULT;
}

/* ---- The C library's own AF_UNIX probe ------------------------------------- */

static const char *skip_spaces(const char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	return s;
}

/* A number in base (16: with or without 0x) ending at a space, a tab,
 * '-' or the end; advances *s past it. */
static int parse_u64(const char **s, int base, uint64_t *ret)
{
	const char *p = *s;
	if (base == 16 && p[0] == '0' && p[1] == 'x')
		p += 2;
	uint64_t v = 0;
	size_t digits = 0;
	for (;; p++, digits++) {
		unsigned d;
		if (*p >= '0' && *p <= '9')
			d = (unsigned)(*p - '0');
		else if (base == 16 && *p >= 'a' && *p <= 'f')
			d = (unsigned)(*p - 'a' + 10);
		else
			break;
		if (v > (UINT64_MAX - d) / (unsigned)base)
			return -1;
		v = v * (unsigned)base + d;
	}
	if (digits == 0 || (*p && *p != ' ' && *p != '\t' && *p != '-' && *p != '\n'))
		return -1;
	*s = p;
	*ret = v;
	return 0;
}

int observer_parse_syscall_line(const char *s, long *nr, uint64_t *sp, uint64_t *pc)
{
	uint64_t v[9];
	s = skip_spaces(s);
	for (int i = 0; i < 9; i++) {
		if (parse_u64(&s, i == 0 ? 10 : 16, &v[i]) < 0)
			return -1;
		s = skip_spaces(s);
	}
	if ((*s && *s != '\n') || v[0] > 4095)
		return -1;
	*nr = (long)v[0];
	*sp = v[7];
	*pc = v[8];
	return 0;
}

int observer_parse_maps_line(const char *line, uint64_t *start, uint64_t *end, bool *exec,
			     const char **path, size_t *path_len)
{
	const char *s = line;
	uint64_t a, b, ignored;
	if (parse_u64(&s, 16, &a) < 0 || *s++ != '-' || parse_u64(&s, 16, &b) < 0 || *s++ != ' ' || b < a)
		return -1;
	/* perms: rwxp, four characters */
	for (int i = 0; i < 4; i++)
		if (!s[i] || s[i] == ' ')
			return -1;
	bool x = s[2] == 'x';
	s += 4;
	if (*s++ != ' ' || parse_u64(&s, 16, &ignored) < 0 || *s++ != ' ')
		return -1;
	/* device: MAJOR:MINOR in hex */
	size_t n = strspn(s, "0123456789abcdef:");
	if (n == 0 || s[n] != ' ')
		return -1;
	s += n + 1;
	if (parse_u64(&s, 10, &ignored) < 0)
		return -1;
	s = skip_spaces(s);
	size_t len = strcspn(s, "\n");
	*start = a;
	*end = b;
	*exec = x;
	*path = s;
	*path_len = len;
	return 0;
}

bool observer_is_libc(const char *path, size_t len)
{
	const char *base = path;
	for (size_t i = 0; i < len; i++)
		if (path[i] == '/')
			base = path + i + 1;
	size_t n = len - (size_t)(base - path);
	if (n == 9 && memcmp(base, "libc.so.6", 9) == 0)
		return true;
	return n > 10 && memcmp(base, "libc-2.", 7) == 0 && memcmp(base + n - 3, ".so", 3) == 0;
}

/* ---- Serving the listener ------------------------------------------------- */

struct observer {
	struct broker *broker;
	observer_fn fn;
	observer_keep_fn keep;
	void *data;
	int mode;               /* enum observer_mode; set on the loop's thread, read on the broker's */
	const struct observer_syscalls *sc;
	/* The broker thread's own: */
	struct observer_scratch scratch;
	struct observed_call calls[OBSERVER_MAX_CALLS];
	struct wguard *guard;
	struct wguard_result gres;
	struct nbroker *nb;
	struct nbroker_result nres;
};

/* A report on its way from the broker's thread to the loop's: the call,
 * with copies of what its pointers point at. */
struct report {
	struct broker_item item; /* first */
	struct observed_call call;
	struct sockaddr_storage addr;
	char *rule;
	char path[];
};

/* The caller's memory and fds, through /proc. */
struct live_source {
	pid_t pid;
	int mem;
	bool no_vm_readv;
};

static ssize_t live_read_mem(void *data, uint64_t addr, void *buf, size_t len)
{
	struct live_source *l = data;
	if (addr > (uint64_t)INT64_MAX - len)
		return -1;
	if (!l->no_vm_readv) {
		/* One call, where /proc/PID/mem takes three. */
		struct iovec local = { .iov_base = buf, .iov_len = len };
		struct iovec remote = { .iov_base = (void *)(uintptr_t)addr, .iov_len = len };
		ssize_t n = process_vm_readv(l->pid, &local, 1, &remote, 1, 0);
		if (n >= 0 || errno == EFAULT || errno == ESRCH)
			return n;
		l->no_vm_readv = true; /* refused: try /proc/PID/mem */
	}
	if (l->mem < 0) {
		char p[48];
		snprintf(p, sizeof(p), "/proc/%d/mem", (int)l->pid);
		l->mem = open(p, O_RDONLY | O_CLOEXEC);
		if (l->mem < 0)
			return -1;
	}
	ssize_t n;
	do
		n = pread(l->mem, buf, len, (off_t)addr);
	while (n < 0 && errno == EINTR);
	return n;
}

static ssize_t live_fd_path(void *data, int fd, char *buf, size_t len)
{
	struct live_source *l = data;
	char p[64];
	if (fd == AT_FDCWD)
		snprintf(p, sizeof(p), "/proc/%d/cwd", (int)l->pid);
	else
		snprintf(p, sizeof(p), "/proc/%d/fd/%d", (int)l->pid, fd);
	return readlink(p, buf, len);
}

#if defined(__x86_64__)
/* socket() with glibc's nscd arguments, made by the C library itself (see
 * observer.h): pid waits in the call, so its registers hold still. */
static bool libc_probe(struct live_source *l, int nr, const uint64_t args[6])
{
	if (as_int(args[0]) != AF_UNIX || as_int(args[1]) != (SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK) ||
	    as_int(args[2]) != 0)
		return false;
	char p[48], buf[256];
	snprintf(p, sizeof(p), "/proc/%d/syscall", (int)l->pid);
	int fd = open(p, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	long cnr;
	uint64_t sp, pc, ret;
	if (n <= 0)
		return false;
	buf[n] = '\0';
	if (observer_parse_syscall_line(buf, &cnr, &sp, &pc) < 0 || cnr != nr ||
	    live_read_mem(l, sp, &ret, sizeof(ret)) != (ssize_t)sizeof(ret))
		return false;
	snprintf(p, sizeof(p), "/proc/%d/maps", (int)l->pid);
	FILE *f = fopen(p, "re");
	if (!f)
		return false;
	char *line = NULL;
	size_t cap = 0;
	int pc_libc = -1, ret_libc = -1; /* -1: no mapping seen yet */
	while ((pc_libc < 0 || ret_libc < 0) && getline(&line, &cap, f) > 0) {
		uint64_t a, b;
		bool x;
		const char *path;
		size_t plen;
		if (observer_parse_maps_line(line, &a, &b, &x, &path, &plen) < 0)
			continue;
		bool libc = x && observer_is_libc(path, plen);
		if (pc >= a && pc < b)
			pc_libc = libc;
		if (ret >= a && ret < b)
			ret_libc = libc;
	}
	free(line);
	fclose(f);
	return pc_libc == 1 && ret_libc == 1;
}
#else
/* Elsewhere the return address is in a register /proc does not show. */
static bool libc_probe(struct live_source *l, int nr, const uint64_t args[6])
{
	(void)l;
	(void)nr;
	(void)args;
	return false;
}
#endif

/* A call the guard answered, refused: report it. */
static void post_guarded(struct observer *o, struct broker *b, const struct broker_notif *n,
			 const struct wguard_result *res)
{
	size_t plen = strlen(res->path) + 1;
	struct report *r = calloc(1, sizeof(*r) + plen);
	if (!r)
		return;
	memcpy(r->path, res->path, plen);
	if (res->rule && !(r->rule = strdup(res->rule))) {
		free(r);
		return;
	}
	r->call = (struct observed_call){
		.op = res->op,
		.operation = observed_op_name(res->op),
		.write = true,
		.path = r->path,
		.pid = n->pid,
		.syscall = res->syscall,
		.guarded = true,
		.result = res->error,
		.rule = r->rule,
	};
	(void)o;
	broker_post(b, &r->item);
}

/* A call the connect broker answered: report a refused unix socket, and
 * the address of another family it was carried out with (the loop's side
 * decides whether that is a violation). */
static void post_brokered(struct observer *o, struct broker *b, const struct broker_notif *n,
			  const struct nbroker_result *res)
{
	struct observed_call c = {
		.op = res->op,
		.operation = observed_op_name(res->op),
		.pid = n->pid,
		.syscall = res->syscall,
		.guarded = true,
		.result = res->error,
	};
	if (res->unix_path && res->refused) {
		c.path = res->path;
		c.rule = res->rule;
	} else if (res->addr.ss_family == AF_INET || res->addr.ss_family == AF_INET6) {
		c.addr = (const struct sockaddr *)&res->addr;
		c.addr_len = res->addr_len;
		if (o->keep && !o->keep(o->data, &c))
			return;
	} else {
		return;
	}
	size_t plen = c.path ? strlen(c.path) + 1 : 0;
	struct report *r = calloc(1, sizeof(*r) + plen);
	if (!r)
		return;
	if (c.rule && !(r->rule = strdup(c.rule))) {
		free(r);
		return;
	}
	r->call = c;
	r->call.rule = r->rule;
	if (c.path) {
		memcpy(r->path, c.path, plen);
		r->call.path = r->path;
	}
	if (c.addr) {
		memcpy(&r->addr, &res->addr, sizeof(r->addr));
		r->call.addr = (const struct sockaddr *)&r->addr;
	}
	broker_post(b, &r->item);
}

/* On the broker's thread: decode, answer, and post what to report. */
static void on_notif(void *data, struct broker *b, const struct broker_notif *n, struct broker_reply *reply)
{
	struct observer *o = data;
	bool native_arch = n->arch == o->sc->arch;
	/* The filter traps socket() only for AF_UNIX when Unix sockets are
	 * denied: every socket() that reaches us is refused, whatever else
	 * happens below. */
	if (native_arch && o->sc->socket_nr >= 0 && n->nr == o->sc->socket_nr)
		reply->error = EPERM;
	if (o->nb && native_arch) {
		const struct observer_syscall *e = observer_syscall_lookup(o->sc, n->nr);
		if (e && nbroker_wants(e)) {
			nbroker_handle(o->nb, b, n, e, reply, &o->nres);
			if (o->nres.handled && o->fn)
				post_brokered(o, b, n, &o->nres);
			return;
		}
	}
	if (!native_arch || n->pid <= 0 || !o->fn)
		return;
	struct wguard *guard = __atomic_load_n(&o->guard, __ATOMIC_ACQUIRE);
	if (guard && native_arch && n->pid > 0) {
		const struct observer_syscall *e = observer_syscall_lookup(o->sc, n->nr);
		if (e && wguard_wants(e, n->args)) {
			struct wguard_result *res = &o->gres;
			wguard_handle(guard, b, n, e, reply, res);
			if (res->handled) {
				if (res->rule || res->error == EROFS || res->error == EACCES || res->error == EPERM)
					post_guarded(o, b, n, res);
				return;
			}
		}
	}
	struct live_source l = { .pid = n->pid, .mem = -1 };
	struct observer_source src = { .data = &l, .read_mem = live_read_mem, .fd_path = live_fd_path };
	uint64_t args[6];
	memcpy(args, n->args, sizeof(args));
	enum observer_mode mode = (enum observer_mode)__atomic_load_n(&o->mode, __ATOMIC_RELAXED);
	int k = observer_decode(o->sc, mode, n->nr, args, &src, &o->scratch, o->calls);
	if (k == 1 && o->calls[0].op == OBS_SOCKET)
		o->calls[0].libc_probe = libc_probe(&l, n->nr, args);
	if (l.mem >= 0)
		close(l.mem);
	/* What we read is the caller's only if the caller is still waiting in
	 * this call: otherwise its pid may be another process's by now. */
	if (k <= 0 || !broker_id_valid(b, n->id))
		return;
	for (int i = 0; i < k; i++) {
		struct observed_call *c = &o->calls[i];
		c->pid = n->pid;
		if (o->keep && !o->keep(o->data, c))
			continue;
		size_t plen = c->path ? strlen(c->path) + 1 : 0;
		struct report *r = malloc(sizeof(*r) + plen);
		if (!r)
			return; /* a report lost; the answer is not */
		r->rule = NULL;
		r->call = *c;
		r->call.pid = n->pid;
		if (c->path) {
			memcpy(r->path, c->path, plen);
			r->call.path = r->path;
		}
		if (c->addr) {
			size_t alen = c->addr_len <= sizeof(r->addr) ? c->addr_len : sizeof(r->addr);
			memset(&r->addr, 0, sizeof(r->addr));
			memcpy(&r->addr, c->addr, alen);
			r->call.addr = (const struct sockaddr *)&r->addr;
		}
		broker_post(b, &r->item);
	}
}

/* On the loop's thread. */
static void on_report(void *data, struct broker_item *item)
{
	struct observer *o = data;
	struct report *r = (struct report *)item;
	o->fn(o->data, &r->call);
	free(r->rule);
	free(r);
}

int observer_new(uv_loop_t *loop, int notif_fd, observer_fn fn, observer_keep_fn keep, void *data,
		 const struct sandbox_observe_options *opts, struct wguard *guard, struct nbroker *nb,
		 struct observer **ret)
{
	*ret = NULL;
	if (notif_fd < 0) {
		wguard_free(guard);
		nbroker_free(nb);
		return -EBADF;
	}
	struct observer *o = calloc(1, sizeof(*o));
	if (!o) {
		close(notif_fd);
		wguard_free(guard);
		nbroker_free(nb);
		return -ENOMEM;
	}
	o->nb = nb;
	o->fn = fn;
	o->keep = keep;
	o->data = data;
	o->mode = opts ? (int)opts->mode : OBSERVER_READS;
	o->guard = guard;
	o->sc = observer_syscalls_native();
	/* Mode and guard are in place before the broker's thread exists: it
	 * may find a notification at once. */
	int r = broker_new(loop, notif_fd, on_notif, on_report, o, &o->broker);
	if (r < 0) {
		wguard_free(guard);
		nbroker_free(nb);
		free(o);
		return r;
	}
	if (opts && opts->killable_wait)
		broker_set_killable(o->broker);
	*ret = o;
	return 0;
}

/* On the loop's thread, from wguard_finish. */
static void report_finish(void *data, const char *path, const char *rule)
{
	struct observer *o = data;
	struct observed_call c = {
		.op = OBS_WRITE,
		.operation = observed_op_name(OBS_WRITE),
		.write = true,
		.path = path,
		.syscall = "write",
		.guarded = true,
		.result = EACCES,
		.rule = rule,
	};
	if (o->fn)
		o->fn(o->data, &c);
}

void observer_close(struct observer *o)
{
	if (!o)
		return;
	/* Waits for the thread and delivers what it posted: the observer
	 * is not used after this. */
	broker_close(o->broker);
	wguard_finish(o->guard, report_finish, o);
	wguard_free(o->guard);
	nbroker_free(o->nb);
	free(o);
}
