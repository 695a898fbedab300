/* The connect broker: connect() and address-carrying sends, carried out by the supervisor on the caller's own socket. */
#include "linux/netbroker.h"
#include "linux/callerfs.h"
#include "util/util.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <linux/unix_diag.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <linux/seccomp.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#ifndef PIDFD_THREAD
#define PIDFD_THREAD O_EXCL
#endif
#ifndef PIDFD_SIGNAL_THREAD
#define PIDFD_SIGNAL_THREAD (1UL << 0)
#endif
#ifndef SYS_pidfd_getfd
#define SYS_pidfd_getfd 438
#endif
#ifndef SO_NETNS_COOKIE
#define SO_NETNS_COOKIE 71
#endif
#ifndef UIO_MAXIOV
#define UIO_MAXIOV 1024
#endif

/* What one send may carry: a datagram never comes near it (a unix one is
 * bounded by the send buffer, about 200 KiB; UDP by 64 KiB); a stream
 * send of more is carried out in part, and says how much, as a
 * non-blocking send may. */
#define SEND_MAX (1u << 20)
/* Control data of one message (SCM_RIGHTS of up to 253 descriptors fits
 * many times); the kernel's own bound (net.core.optmem_max) is of this
 * size. */
#define CONTROL_MAX 65536
/* sendmmsg: at most this many messages per call, as the kernel. */
#define MMSG_MAX UIO_MAXIOV

/* Socket files found bound in the sandbox, by identity: a file keeps its
 * inode and change time while it exists, and a path cannot be bound
 * again while its file does, so what connecting to such a file reaches
 * stays the sandbox's own socket (or nothing, once it is closed). */
#define OWN_CACHE 16
struct own_file {
	dev_t dev;
	ino_t ino;
	struct timespec ctim;
};

struct nbroker {
	struct own_file own[OWN_CACHE];  /* the broker thread's */
	unsigned own_next;
	bool unix_all;
	/* The supervisor's own network namespace (SO_NETNS_COOKIE): a socket
	 * of it in the sandbox is one srt put in place for the transparent
	 * mode (or one the command inherited), which no call may connect
	 * again. Sockets of the sandbox's namespace, or of namespaces made
	 * inside it (srt inside srt), are the sandbox's. */
	bool have_netns;
	uint64_t host_netns;
	void (*direct)(void *data, struct nbroker_direct *req);
	void *direct_data;
	const struct policy *policy;
	const struct policy_unix_rules *extra;
	bool tmp_overlay;
	dev_t tmp_overlay_dev, tmp_upper_dev;
	uint64_t tmp_overlay_mnt;
	int diag;          /* NETLINK_SOCK_DIAG in the sandbox's network namespace; -1 */
	int root;          /* the caller's root, O_PATH; -1 until the first path */
	bool rights_taken, rights_failed;
	unsigned diag_seq;
};

int nbroker_new(const struct nbroker_options *o, struct nbroker **ret)
{
	*ret = NULL;
	struct nbroker *nb = calloc(1, sizeof(*nb));
	if (!nb) {
		if (o->diag_fd >= 0)
			close(o->diag_fd);
		return -ENOMEM;
	}
	nb->policy = o->policy;
	int probe = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	socklen_t cl = sizeof(nb->host_netns);
	nb->have_netns = probe >= 0 &&
			 getsockopt(probe, SOL_SOCKET, SO_NETNS_COOKIE, &nb->host_netns, &cl) == 0 &&
			 cl == sizeof(nb->host_netns);
	if (probe >= 0)
		close(probe);
	nb->direct = o->direct;
	nb->direct_data = o->direct_data;
	nb->unix_all = o->unix_all;
	nb->extra = o->extra;
	nb->tmp_overlay = o->tmp_overlay;
	nb->tmp_overlay_dev = o->tmp_overlay_dev;
	nb->tmp_overlay_mnt = o->tmp_overlay_mnt;
	nb->tmp_upper_dev = o->tmp_upper_dev;
	nb->diag = o->diag_fd;
	nb->root = -1;
	*ret = nb;
	return 0;
}

void nbroker_free(struct nbroker *nb)
{
	if (!nb)
		return;
	if (nb->diag >= 0)
		close(nb->diag);
	if (nb->root >= 0)
		close(nb->root);
	free(nb);
}

bool nbroker_supported(void)
{
	/* pidfd_getfd (Linux 5.6): EBADF for a bad pidfd when it exists. */
	return syscall(SYS_pidfd_getfd, -1, 0, 0) < 0 && errno == EBADF;
}

bool nbroker_wants(const struct observer_syscall *e)
{
	return e->op == OBS_CONNECT || e->op == OBS_SEND;
}

enum nbroker_unix_addr nbroker_decode_unix(const void *addr, size_t len, char *path, size_t path_size)
{
	const size_t off = offsetof(struct sockaddr_un, sun_path);
	if (len < sizeof(sa_family_t))
		return NB_UNIX_INVALID;
	sa_family_t fam;
	memcpy(&fam, addr, sizeof(fam));
	if (fam != AF_UNIX)
		return NB_UNIX_OTHER_FAMILY;
	if (len > sizeof(struct sockaddr_un))
		return NB_UNIX_INVALID;
	if (len == off)
		return NB_UNIX_UNNAMED;
	const char *p = (const char *)addr + off;
	size_t n = len - off;
	if (p[0] == '\0')
		return NB_UNIX_ABSTRACT;
	/* The kernel reads up to the first NUL or the end. */
	size_t k = strnlen(p, n);
	if (k + 1 > path_size)
		return NB_UNIX_INVALID;
	memcpy(path, p, k);
	path[k] = '\0';
	return NB_UNIX_PATH;
}

/* ---- The caller ---------------------------------------------------------- */

struct caller {
	pid_t tid;
	pid_t tgid;        /* its process */
	int pidfd;         /* the calling thread (or its process) */
	bool thread_pidfd; /* pidfd names the thread itself */
	int mem;           /* /proc/TID/mem, opened on demand */
};

/* The process of thread tid (/proc/TID/status, "Tgid:"), or -1. */
static pid_t tgid_of(pid_t tid)
{
	char p[48];
	long v;
	snprintf(p, sizeof(p), "/proc/%d/status", (int)tid);
	return proc_field(p, "Tgid", 10, &v) == 0 && v > 0 && v <= INT32_MAX ? (pid_t)v : -1;
}

static pid_t caller_tgid(struct caller *c)
{
	if (c->tgid == 0)
		c->tgid = tgid_of(c->tid);
	return c->tgid;
}

static int caller_open(struct caller *c, pid_t tid)
{
	c->tid = tid;
	c->mem = -1;
	c->tgid = 0; /* read when needed (caller_tgid) */
	c->pidfd = (int)syscall(SYS_pidfd_open, tid, PIDFD_THREAD);
	c->thread_pidfd = c->pidfd >= 0;
	/* Before Linux 6.9 a pidfd names a process: its leader's, which
	 * shares the thread's descriptor table (threads always do). */
	if (c->pidfd < 0 && caller_tgid(c) > 0)
		c->pidfd = (int)syscall(SYS_pidfd_open, c->tgid, 0);
	return c->pidfd >= 0 ? 0 : -errno;
}

static void caller_close(struct caller *c)
{
	if (c->pidfd >= 0)
		close(c->pidfd);
	if (c->mem >= 0)
		close(c->mem);
}

/* The caller's descriptor fd, as ours (the same open file). */
static int caller_fd(struct caller *c, uint64_t fd)
{
	if (fd > INT32_MAX)
		return -EBADF;
	int r = (int)syscall(SYS_pidfd_getfd, c->pidfd, (int)fd, 0);
	return r >= 0 ? r : -errno;
}

static ssize_t caller_read(struct caller *c, uint64_t addr, void *buf, size_t len)
{
	if (len == 0)
		return 0;
	struct iovec local = { .iov_base = buf, .iov_len = len };
	struct iovec remote = { .iov_base = (void *)(uintptr_t)addr, .iov_len = len };
	ssize_t n = process_vm_readv(c->tid, &local, 1, &remote, 1, 0);
	if (n >= 0 || errno == EFAULT || errno == ESRCH)
		return n;
	if (c->mem < 0) {
		char p[48];
		snprintf(p, sizeof(p), "/proc/%d/mem", (int)c->tid);
		if ((c->mem = open(p, O_RDWR | O_CLOEXEC)) < 0)
			return -1;
	}
	do
		n = pread(c->mem, buf, len, (off_t)addr);
	while (n < 0 && errno == EINTR);
	return n;
}

/* All of it, or -EFAULT. */
static int caller_read_all(struct caller *c, uint64_t addr, void *buf, size_t len)
{
	return caller_read(c, addr, buf, len) == (ssize_t)len ? 0 : -EFAULT;
}

static int caller_write_all(struct caller *c, uint64_t addr, const void *buf, size_t len)
{
	struct iovec local = { .iov_base = (void *)buf, .iov_len = len };
	struct iovec remote = { .iov_base = (void *)(uintptr_t)addr, .iov_len = len };
	ssize_t n = process_vm_writev(c->tid, &local, 1, &remote, 1, 0);
	if (n == (ssize_t)len)
		return 0;
	if (n < 0 && errno != EFAULT && errno != ESRCH) {
		if (c->mem < 0) {
			char p[48];
			snprintf(p, sizeof(p), "/proc/%d/mem", (int)c->tid);
			c->mem = open(p, O_RDWR | O_CLOEXEC);
		}
		if (c->mem >= 0 && pwrite(c->mem, buf, len, (off_t)addr) == (ssize_t)len)
			return 0;
	}
	return -EFAULT;
}

/* Whether sock is not of the supervisor's (the host's) network namespace
 * (true when that cannot be told: then no host socket was ever put in
 * place, see hand_over's condition). */
static bool in_sandbox_netns(const struct nbroker *nb, int sock)
{
	/* Without the transparent mode srt places no socket of its own: a
	 * socket of another namespace is one the command inherited (its
	 * connect goes where the kernel would have taken it). */
	if (!nb->have_netns || !nb->direct)
		return true;
	uint64_t c = 0;
	socklen_t l = sizeof(c);
	if (getsockopt(sock, SOL_SOCKET, SO_NETNS_COOKIE, &c, &l) < 0 || l != sizeof(c))
		return false; /* cannot tell: treated as the host's */
	return c != nb->host_netns;
}

/* ---- Unix sockets by path ---------------------------------------------------- */

/* Is the socket file (dev, ino) bound by a socket of the sandbox's own
 * network namespace? */
static bool own_known(const struct nbroker *nb, const struct stat *st)
{
	for (unsigned i = 0; i < OWN_CACHE; i++)
		if (nb->own[i].ino == st->st_ino && nb->own[i].dev == st->st_dev && nb->own[i].ino &&
		    nb->own[i].ctim.tv_sec == st->st_ctim.tv_sec && nb->own[i].ctim.tv_nsec == st->st_ctim.tv_nsec)
			return true;
	return false;
}

static bool bound_in_sandbox_diag(struct nbroker *nb, int fd, const struct stat *st);

static bool bound_in_sandbox(struct nbroker *nb, int fd, const struct stat *st)
{
	if (own_known(nb, st))
		return true;
	if (!bound_in_sandbox_diag(nb, fd, st))
		return false;
	nb->own[nb->own_next++ % OWN_CACHE] = (struct own_file){ .dev = st->st_dev, .ino = st->st_ino,
								 .ctim = st->st_ctim };
	return true;
}

static bool bound_in_sandbox_diag(struct nbroker *nb, int fd, const struct stat *st)
{
	if (nb->diag < 0)
		return false;
	struct {
		struct nlmsghdr nlh;
		struct unix_diag_req r;
	} req = {
		.nlh = { .nlmsg_len = sizeof(req), .nlmsg_type = SOCK_DIAG_BY_FAMILY,
			 .nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP, .nlmsg_seq = ++nb->diag_seq },
		.r = { .sdiag_family = AF_UNIX,
		       /* Bound sockets only: listening ones, and datagram ones
			* (which stay in the CLOSE state); connections are many
			* and never the target. */
		       .udiag_states = (1u << 10) | (1u << 7), /* TCP_LISTEN, TCP_CLOSE */
		       .udiag_show = UDIAG_SHOW_VFS },
	};
	if (send(nb->diag, &req, sizeof(req), MSG_NOSIGNAL) != (ssize_t)sizeof(req))
		return false;
	/* The kernel's s_dev: major in the top 12 bits, minor in the low 20.
	 * A socket bound in the private /tmp's overlay is named by the
	 * overlay's device; stat() shows its file with the upper layer's
	 * device and the same inode. Only a file of the upper layer can be
	 * one (the host's /tmp beneath shows another device). */
	dev_t dev = st->st_dev;
	struct statx sx;
	if (nb->tmp_overlay && dev == nb->tmp_upper_dev && statx(fd, "", AT_EMPTY_PATH, STATX_MNT_ID, &sx) == 0 &&
	    (sx.stx_mask & STATX_MNT_ID) && sx.stx_mnt_id == nb->tmp_overlay_mnt)
		dev = nb->tmp_overlay_dev;
	uint32_t want_dev = (uint32_t)((major(dev) << 20) | (minor(dev) & 0xfffff));
	uint32_t want_ino = (uint32_t)st->st_ino;
	bool found = false;
	static _Thread_local char buf[32768] __attribute__((aligned(8)));
	for (;;) {
		ssize_t n = recv(nb->diag, buf, sizeof(buf), 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, (size_t)n); h = NLMSG_NEXT(h, n)) {
			if (h->nlmsg_seq != nb->diag_seq)
				continue;
			if (h->nlmsg_type == NLMSG_DONE || h->nlmsg_type == NLMSG_ERROR)
				return found;
			if (h->nlmsg_type != SOCK_DIAG_BY_FAMILY || h->nlmsg_len < NLMSG_LENGTH(sizeof(struct unix_diag_msg)))
				continue;
			struct unix_diag_msg *m = NLMSG_DATA(h);
			int alen = (int)(h->nlmsg_len - NLMSG_LENGTH(sizeof(*m)));
			for (struct rtattr *a = (struct rtattr *)(m + 1); RTA_OK(a, alen); a = RTA_NEXT(a, alen)) {
				if (a->rta_type != UNIX_DIAG_VFS || RTA_PAYLOAD(a) < (int)sizeof(struct unix_diag_vfs))
					continue;
				struct unix_diag_vfs v;
				memcpy(&v, RTA_DATA(a), sizeof(v));
				if (v.udiag_vfs_ino == want_ino && v.udiag_vfs_dev == want_dev)
					found = true;
			}
		}
	}
}

static int ensure_rights_and_root(struct nbroker *nb, pid_t pid)
{
	if (!nb->rights_taken && !nb->rights_failed) {
		if (callerfs_thread_take_caller_rights() < 0)
			nb->rights_failed = true;
		else
			nb->rights_taken = true;
	}
	if (nb->rights_failed)
		return -EPERM;
	if (nb->root < 0) {
		int fd = callerfs_open_root(pid);
		if (fd < 0)
			return fd;
		nb->root = fd;
	}
	return 0;
}

/* Paths of C libraries' own tries at a name service daemon: refused
 * without a report unless allowed (they fall back to files). */
static bool libc_daemon_path(const char *path)
{
	return strcmp(path, "/run/nscd/socket") == 0 || strcmp(path, "/var/run/nscd/socket") == 0;
}

/* Resolve the path of a unix socket address for the caller, judge it, and
 * on success fill *out with an address that names exactly the file that
 * was judged (/proc/self/fd/N of *obj, which the caller closes). Returns
 * 0, or a negative errno with res filled for the report. */
static int judge_unix_path(struct nbroker *nb, struct caller *c, const char *path, struct sockaddr_un *out,
			   socklen_t *out_len, int *obj, struct nbroker_result *res)
{
	*obj = -1;
	res->unix_path = true;
	snprintf(res->path, sizeof(res->path), "%s", path);
	int r = ensure_rights_and_root(nb, c->tid);
	if (r < 0) {
		res->refused = true;
		res->rule = "the connect broker cannot act for the sandbox";
		return -EACCES;
	}
	int base = -1;
	if (path[0] != '/' && (base = callerfs_open_dirfd(c->tid, AT_FDCWD)) < 0)
		return base;
	struct caller_target t;
	r = callerfs_resolve(nb->root, base, path, &t);
	if (base >= 0)
		close(base);
	if (r < 0)
		return r;
	int fd;
	int tries = 0;
	do
		fd = callerfs_open_object(nb->root, &t, true);
	while (fd == -EAGAIN && ++tries < 8);
	close(t.parent);
	if (fd == -EAGAIN)
		fd = -ELOOP;
	if (fd < 0)
		return fd;
	struct stat st;
	if (fstat(fd, &st) < 0) {
		r = -errno;
		close(fd);
		return r;
	}
	if (!S_ISSOCK(st.st_mode)) {
		close(fd);
		return -ECONNREFUSED; /* what the kernel says of a file that is no socket */
	}
	/* A socket of the sandbox's own (matched by its file's identity):
	 * no rule to read, no path to tell. The sandbox binds sockets only
	 * where it may create files: on a read-only mount the file is the
	 * host's, and the rules alone decide (a false refusal at worst). */
	struct statvfs sv;
	bool ro = fstatvfs(fd, &sv) == 0 && (sv.f_flag & ST_RDONLY);
	if (ro || !bound_in_sandbox(nb, fd, &st)) {
		char where[PATH_MAX];
		ssize_t wl = callerfs_fd_path(fd, where, sizeof(where));
		if (wl <= 0 || (size_t)wl >= sizeof(where)) {
			/* Where it is cannot be told (deleted, too long): the
			 * rules cannot be matched on what would be connected. */
			close(fd);
			res->refused = true;
			res->rule = "the connect broker cannot tell where this socket is";
			return -EACCES;
		}
		where[wl] = '\0';
		snprintf(res->path, sizeof(res->path), "%s", where);
		if (!policy_unix_socket_rule(nb->policy, res->path) && !policy_unix_rules_match(nb->extra, res->path)) {
			close(fd);
			if (!libc_daemon_path(res->path)) {
				res->refused = true;
				res->rule = "network.allowUnixSockets does not list it, and it was not bound in the sandbox";
			}
			return -EACCES;
		}
	}
	memset(out, 0, sizeof(*out));
	out->sun_family = AF_UNIX;
	int k = snprintf(out->sun_path, sizeof(out->sun_path), "/proc/self/fd/%d", fd);
	*out_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + (size_t)k + 1);
	*obj = fd;
	return 0;
}

/* ---- Waiting for a blocking caller --------------------------------------------
 *
 * A blocking connect or send that would wait (a full backlog, a
 * connection under way, a full buffer) is finished on a thread of its own,
 * so that the broker serves the sandbox's other calls meanwhile. The
 * caller's wait ends for a fatal signal only (WAIT_KILLABLE_RECV): a
 * signal it handles gets EINTR, as from the kernel's own wait. */

enum wait_kind { WAIT_CONNECT_RETRY, WAIT_CONNECT_POLL, WAIT_SEND };

struct waiter {
	enum wait_kind kind;
	int listener;
	uint64_t id;
	pid_t tid;
	int sock;          /* ours */
	struct sockaddr_storage addr; /* WAIT_CONNECT_RETRY */
	socklen_t addr_len;
	int obj;           /* the judged socket file that addr names; -1 */
	/* WAIT_SEND: the message, ours */
	struct msghdr msg;
	struct iovec iov;  /* the whole of data */
	struct iovec siov; /* what is left to send */
	void *data;
	void *control;
	int flags;
	int *fds;          /* SCM_RIGHTS copies to close */
	size_t n_fds;
	uint64_t mmsg_len_at; /* sendmmsg's first message: where its msg_len goes (answer 1); 0 */
	pid_t tgid;           /* the caller's process, for SIGPIPE */
	size_t done;          /* a stream send: bytes sent already */
	bool stream;          /* finish the whole stream send (a blocking one does) */
	int backoff_ms;       /* sleeps between tries that found no room: 1 ms, doubling to 40 */
};

#define WAITERS_MAX 1024
static int waiters;

static void waiter_free(struct waiter *w)
{
	if (w->listener >= 0)
		close(w->listener);
	if (w->sock >= 0)
		close(w->sock);
	if (w->obj >= 0)
		close(w->obj);
	for (size_t i = 0; i < w->n_fds; i++)
		close(w->fds[i]);
	free(w->fds);
	free(w->data);
	free(w->control);
	free(w);
	__atomic_sub_fetch(&waiters, 1, __ATOMIC_RELAXED);
}

static void answer(int listener, uint64_t id, int error, int64_t val)
{
	struct seccomp_notif_resp resp = { .id = id };
	if (error)
		resp.error = -error;
	else
		resp.val = val;
	int r;
	do
		r = ioctl(listener, SECCOMP_IOCTL_NOTIF_SEND, &resp);
	while (r < 0 && errno == EINTR);
}

/* Connect without waiting: the socket's own blocking mode is left as the
 * caller set it (the flag is on the open file, which the caller shares). */
static int connect_now_fl(int sock, const struct sockaddr *a, socklen_t len, int fl)
{
	if (fl >= 0 && !(fl & O_NONBLOCK))
		(void)fcntl(sock, F_SETFL, fl | O_NONBLOCK);
	else
		fl = -1;
	int r = connect(sock, a, len);
	int e = r < 0 ? errno : 0;
	if (fl >= 0)
		(void)fcntl(sock, F_SETFL, fl);
	return -e;
}

static int connect_now(int sock, const struct sockaddr *a, socklen_t len, bool blocking)
{
	return connect_now_fl(sock, a, len, blocking ? fcntl(sock, F_GETFL) : -1);
}

static void *waiter_main(void *arg)
{
	struct waiter *w = arg;
	for (;;) {
		uint64_t id = w->id;
		if (ioctl(w->listener, SECCOMP_IOCTL_NOTIF_ID_VALID, &id) < 0)
			break; /* the caller is gone */
		if (callerfs_signal_pending(w->tid) == 1) {
			if (w->done > 0)
				answer(w->listener, w->id, 0, (int64_t)w->done);
			else
				answer(w->listener, w->id, EINTR, 0);
			break;
		}
		int r;
		if (w->kind == WAIT_CONNECT_RETRY) {
			r = connect_now(w->sock, (const struct sockaddr *)&w->addr, w->addr_len, true);
			if (r == -EAGAIN)
				goto sleep;
			if (r == -EINPROGRESS) {
				w->kind = WAIT_CONNECT_POLL;
				continue;
			}
			answer(w->listener, w->id, -r, 0);
			break;
		}
		struct pollfd p = { .fd = w->sock, .events = POLLOUT };
		int pr = poll(&p, 1, 5);
		if (pr < 0 && errno != EINTR) {
			answer(w->listener, w->id, errno, 0);
			break;
		}
		if (pr <= 0)
			continue;
		if (w->kind == WAIT_CONNECT_POLL) {
			int err = 0;
			socklen_t el = sizeof(err);
			if (getsockopt(w->sock, SOL_SOCKET, SO_ERROR, &err, &el) < 0)
				err = errno;
			answer(w->listener, w->id, err, 0);
			break;
		}
		ssize_t n = sendmsg(w->sock, &w->msg, w->flags | MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			goto sleep; /* an unconnected datagram socket polls writable whatever the peer's queue */
		if (n >= 0 && w->stream) {
			/* A blocking stream send ends when all of it is sent. */
			w->done += (size_t)n;
			if (w->done < w->iov.iov_len) {
				w->msg.msg_iov->iov_base = (char *)w->data + w->done;
				w->msg.msg_iov->iov_len = w->iov.iov_len - w->done;
				w->msg.msg_control = NULL; /* the control data went with the first bytes */
				w->msg.msg_controllen = 0;
				w->msg.msg_name = NULL;
				w->msg.msg_namelen = 0;
				continue;
			}
			n = (ssize_t)w->done;
		}
		if (n >= 0 && w->mmsg_len_at) {
			unsigned len32 = (unsigned)n;
			struct iovec l = { .iov_base = &len32, .iov_len = sizeof(len32) };
			struct iovec rm = { .iov_base = (void *)(uintptr_t)w->mmsg_len_at, .iov_len = sizeof(len32) };
			if (process_vm_writev(w->tid, &l, 1, &rm, 1, 0) != (ssize_t)sizeof(len32)) {
				answer(w->listener, w->id, EFAULT, 0);
				break;
			}
			n = 1;
		}
		int e = n < 0 ? errno : 0;
		if (e == EPIPE && !(w->flags & MSG_NOSIGNAL) && w->tgid > 0)
			(void)syscall(SYS_tgkill, w->tgid, w->tid, SIGPIPE);
		answer(w->listener, w->id, e, n < 0 ? 0 : n);
		break;
	sleep:;
		/* A wait that may be long (a peer that does not read) costs
		 * less the longer it lasts; a signal is still seen within
		 * 40 ms. */
		w->backoff_ms = w->backoff_ms ? (w->backoff_ms * 2 > 40 ? 40 : w->backoff_ms * 2) : 1;
		struct timespec ts = { 0, (long)w->backoff_ms * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
	waiter_free(w);
	return NULL;
}

/* Hand w to a thread of its own (taken, also on error). 0 or a negative
 * errno (then the call is not answered yet). */
static int waiter_start(struct broker *b, struct waiter *w)
{
	w->listener = -1;
	if (__atomic_add_fetch(&waiters, 1, __ATOMIC_RELAXED) > WAITERS_MAX) {
		waiter_free(w);
		return -EAGAIN;
	}
	if ((w->listener = fcntl(broker_listener(b), F_DUPFD_CLOEXEC, 3)) < 0) {
		int e = -errno;
		waiter_free(w);
		return e;
	}
	pthread_attr_t at;
	pthread_attr_init(&at);
	pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&at, 64 * 1024);
	pthread_t th;
	int r = pthread_create(&th, &at, waiter_main, w);
	pthread_attr_destroy(&at);
	if (r) {
		waiter_free(w);
		return -r;
	}
	return 0;
}

/* ---- connect ------------------------------------------------------------------ */

static bool is_blocking(int sock)
{
	int fl = fcntl(sock, F_GETFL);
	return fl >= 0 && !(fl & O_NONBLOCK);
}

static int sock_int(int sock, int opt)
{
	int v = -1;
	socklen_t l = sizeof(v);
	if (getsockopt(sock, SOL_SOCKET, opt, &v, &l) < 0)
		return -errno;
	return v;
}

/* ---- Transparent mode: connects dialed by the supervisor ----------------------- */

static bool inet_loopback(const struct sockaddr_storage *ss, socklen_t len)
{
	if (ss->ss_family == AF_INET && len >= sizeof(struct sockaddr_in))
		return (ntohl(((const struct sockaddr_in *)ss)->sin_addr.s_addr) >> 24) == 127;
	if (ss->ss_family == AF_INET6 && len >= 24) { /* SIN6_LEN_RFC2133: no scope id */
		const struct in6_addr *a = &((const struct sockaddr_in6 *)ss)->sin6_addr;
		if (IN6_IS_ADDR_LOOPBACK(a))
			return true;
		return IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127;
	}
	return false;
}

/* Whether the caller's descriptor fd is close-on-exec (/proc/TID/fdinfo);
 * not, when that cannot be read. */
static bool caller_cloexec(pid_t tid, int fd)
{
	char p[64];
	long fl;
	snprintf(p, sizeof(p), "/proc/%d/fdinfo/%d", (int)tid, fd);
	return proc_field(p, "flags", 8, &fl) == 0 && (fl & O_CLOEXEC);
}

static int hand_over(struct nbroker *nb, struct broker *b, const struct broker_notif *n, int sock, int family,
		     const struct sockaddr_storage *ss, socklen_t len)
{
	struct nbroker_direct *q = calloc(1, sizeof(*q));
	if (!q)
		return -ENOMEM;
	q->listener = fcntl(broker_listener(b), F_DUPFD_CLOEXEC, 3);
	if (q->listener < 0) {
		int e = -errno;
		free(q);
		return e;
	}
	q->id = n->id;
	q->tid = n->pid;
	q->caller_fd = (int)n->args[0];
	q->cloexec = caller_cloexec(n->pid, q->caller_fd);
	q->sock = sock;
	q->nonblocking = !is_blocking(sock);
	q->family = family;
	memcpy(&q->addr, ss, sizeof(*ss));
	q->addr_len = len;
	nb->direct(nb->direct_data, q);
	return 0;
}

void nbroker_direct_free(struct nbroker_direct *q)
{
	if (!q)
		return;
	if (q->sock >= 0)
		close(q->sock);
	if (q->listener >= 0)
		close(q->listener);
	free(q);
}

/* SO_RCVBUF or SO_SNDBUF of a fresh TCP socket, read once. */
static int fresh_default(int opt)
{
	static int rcv = -1, snd = -1;
	int *v = opt == SO_RCVBUF ? &rcv : &snd;
	int cur = __atomic_load_n(v, __ATOMIC_RELAXED);
	if (cur >= 0)
		return cur;
	int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), d = 0;
	socklen_t l = sizeof(d);
	if (s < 0 || getsockopt(s, SOL_SOCKET, opt, &d, &l) < 0)
		d = 0;
	if (s >= 0)
		close(s);
	__atomic_store_n(v, d, __ATOMIC_RELAXED);
	return d;
}

/* The options a program sets on a TCP socket before it connects, carried
 * over to the supervisor's socket. */
static void carry_options(int from, int to)
{
	static const struct {
		int level, name;
	} opts[] = {
		{ SOL_SOCKET, SO_KEEPALIVE }, { SOL_SOCKET, SO_RCVBUF }, { SOL_SOCKET, SO_SNDBUF },
		{ SOL_SOCKET, SO_REUSEADDR }, { SOL_SOCKET, SO_OOBINLINE }, { SOL_SOCKET, SO_PRIORITY },
		{ SOL_SOCKET, SO_RCVLOWAT }, { IPPROTO_TCP, TCP_NODELAY }, { IPPROTO_TCP, TCP_KEEPIDLE },
		{ IPPROTO_TCP, TCP_KEEPINTVL }, { IPPROTO_TCP, TCP_KEEPCNT }, { IPPROTO_TCP, TCP_USER_TIMEOUT },
		{ IPPROTO_TCP, TCP_QUICKACK }, { IPPROTO_TCP, TCP_NOTSENT_LOWAT }, { IPPROTO_IP, IP_TOS },
		{ IPPROTO_IPV6, IPV6_TCLASS },
	};
	for (size_t i = 0; i < sizeof(opts) / sizeof(opts[0]); i++) {
		int v;
		socklen_t l = sizeof(v);
		if (getsockopt(from, opts[i].level, opts[i].name, &v, &l) < 0 || l != sizeof(v))
			continue;
		/* Buffer sizes: only what the program set. Setting one turns
		 * the kernel's autotuning off for good, so a size still at a
		 * fresh socket's default (a new network namespace starts with
		 * the host's) is left alone. The kernel reports them doubled:
		 * set what was asked. */
		if (opts[i].level == SOL_SOCKET && (opts[i].name == SO_RCVBUF || opts[i].name == SO_SNDBUF)) {
			if (v == fresh_default(opts[i].name))
				continue;
			v /= 2;
		}
		(void)setsockopt(to, opts[i].level, opts[i].name, &v, sizeof(v));
	}
	struct linger lg;
	socklen_t ll = sizeof(lg);
	if (getsockopt(from, SOL_SOCKET, SO_LINGER, &lg, &ll) == 0 && lg.l_onoff)
		(void)setsockopt(to, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	static const int timeouts[] = { SO_RCVTIMEO, SO_SNDTIMEO };
	for (size_t i = 0; i < sizeof(timeouts) / sizeof(timeouts[0]); i++) {
		struct timeval tv;
		socklen_t tl = sizeof(tv);
		if (getsockopt(from, SOL_SOCKET, timeouts[i], &tv, &tl) == 0 && (tv.tv_sec || tv.tv_usec))
			(void)setsockopt(to, SOL_SOCKET, timeouts[i], &tv, sizeof(tv));
	}
	char cc[16];
	socklen_t cl = sizeof(cc);
	if (getsockopt(from, IPPROTO_TCP, TCP_CONGESTION, cc, &cl) == 0)
		(void)setsockopt(to, IPPROTO_TCP, TCP_CONGESTION, cc, (socklen_t)strnlen(cc, cl));
}

int nbroker_direct_finish(struct nbroker_direct *q, int fd, int err)
{
	int r = 0;
	uint64_t id = q->id;
	if (ioctl(q->listener, SECCOMP_IOCTL_NOTIF_ID_VALID, &id) < 0) {
		r = -ENOENT; /* the caller is gone */
		goto out;
	}
	if (fd >= 0) {
		carry_options(q->sock, fd);
		int fl = fcntl(q->sock, F_GETFL);
		int mine = fcntl(fd, F_GETFL);
		if (fl >= 0 && mine >= 0)
			(void)fcntl(fd, F_SETFL, (mine & ~O_NONBLOCK) | (fl & O_NONBLOCK));
		/* Always in two steps: the atomic form would make connect()
		 * return the descriptor's number instead of 0. Without the
		 * killable wait, a signal between the two leaves the program
		 * a connected socket and a connect() that restarts (EISCONN). */
		struct seccomp_notif_addfd a = {
			.id = q->id,
			.flags = SECCOMP_ADDFD_FLAG_SETFD,
			.srcfd = (uint32_t)fd,
			.newfd = (uint32_t)q->caller_fd,
			.newfd_flags = q->cloexec ? O_CLOEXEC : 0,
		};
		int s;
		do
			s = ioctl(q->listener, SECCOMP_IOCTL_NOTIF_ADDFD, &a);
		while (s < 0 && errno == EINTR);
		if (s < 0) {
			r = -errno;
			err = ENOMEM; /* could not hand it over: the call fails */
		}
	}
	struct seccomp_notif_resp resp = { .id = q->id };
	if (err)
		resp.error = -err;
	int s;
	do
		s = ioctl(q->listener, SECCOMP_IOCTL_NOTIF_SEND, &resp);
	while (s < 0 && errno == EINTR);
	if (s < 0 && r == 0)
		r = -errno;
out:
	if (fd >= 0)
		close(fd);
	nbroker_direct_free(q);
	return r;
}

static void do_connect(struct nbroker *nb, struct broker *b, const struct broker_notif *n, struct caller *c,
		       struct broker_reply *reply, struct nbroker_result *res)
{
	int err = 0, obj = -1;
	int sock = caller_fd(c, n->args[0]);
	if (sock < 0) {
		err = -sock;
		goto out;
	}
	int domain = sock_int(sock, SO_DOMAIN);
	if (domain < 0) {
		err = -domain; /* ENOTSOCK */
		goto out;
	}
	/* A socket of the host's network (one srt dialed for the transparent
	 * mode, connected for good): connecting it again (after a
	 * disconnect with AF_UNSPEC, say) would reach the host's network
	 * unjudged. Refused, as a connected socket's connect is. */
	if (!in_sandbox_netns(nb, sock)) {
		err = EISCONN;
		goto out;
	}
	uint64_t len64 = (uint32_t)n->args[2];
	if (len64 > sizeof(struct sockaddr_storage) || (int32_t)(uint32_t)n->args[2] < 0) {
		err = EINVAL;
		goto out;
	}
	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof(ss));
	socklen_t len = (socklen_t)len64;
	if (len && caller_read_all(c, n->args[1], &ss, len) < 0) {
		err = EFAULT;
		goto out;
	}
	if (!broker_id_valid(b, n->id)) {
		reply->sent = true; /* nobody waits for an answer */
		goto out;
	}
	const struct sockaddr *a = (const struct sockaddr *)&ss;
	struct sockaddr_un judged;
	if (domain == AF_UNIX) {
		char path[sizeof(((struct sockaddr_un *)0)->sun_path) + 1];
		enum nbroker_unix_addr kind = nbroker_decode_unix(&ss, len, path, sizeof(path));
		if (kind == NB_UNIX_INVALID && len >= sizeof(sa_family_t)) {
			/* Never let the kernel read a form we could not. */
			err = EINVAL;
			goto out;
		}
		if (kind == NB_UNIX_PATH && !nb->unix_all) {
			int r = judge_unix_path(nb, c, path, &judged, &len, &obj, res);
			if (r < 0) {
				err = -r;
				goto out;
			}
			a = (const struct sockaddr *)&judged;
		}
	} else if (len >= sizeof(sa_family_t) && (ss.ss_family == AF_INET || ss.ss_family == AF_INET6)) {
		memcpy(&res->addr, &ss, sizeof(ss));
		res->addr_len = len;
		if (nb->direct && nb->have_netns && ss.ss_family == domain && !inet_loopback(&ss, len) &&
		    sock_int(sock, SO_TYPE) == SOCK_STREAM) {
			/* What the kernel would answer before any routing: a
			 * short address, a socket already connected, connecting
			 * or listening. */
			/* Nothing was tried: nothing to report. */
			res->addr.ss_family = AF_UNSPEC;
			if ((domain == AF_INET && len < sizeof(struct sockaddr_in)) || (domain == AF_INET6 && len < 24)) {
				err = EINVAL;
				goto out;
			}
			struct tcp_info ti;
			socklen_t tl = sizeof(ti);
			if (getsockopt(sock, IPPROTO_TCP, TCP_INFO, &ti, &tl) == 0 && ti.tcpi_state != TCP_CLOSE) {
				err = ti.tcpi_state == TCP_SYN_SENT ? EALREADY : EISCONN;
				goto out;
			}
			int r = hand_over(nb, b, n, sock, domain, &ss, len);
			if (r < 0) {
				err = -r;
				goto out;
			}
			sock = -1;
			reply->sent = true;
			res->addr.ss_family = AF_UNSPEC; /* reported by the loop's side */
			goto out;
		}
	}
	int fl = fcntl(sock, F_GETFL);
	bool blocking = fl >= 0 && !(fl & O_NONBLOCK);
	int r = connect_now_fl(sock, a, len, fl);
	bool loopback = a == (const struct sockaddr *)&ss && (ss.ss_family == AF_INET || ss.ss_family == AF_INET6) &&
			inet_loopback(&ss, len);
	bool reached = r == 0;
	if (blocking && r == -EINPROGRESS) {
		/* On loopback (srt's own proxies, every request a program
		 * sends through them) the handshake is done by the time
		 * connect() returns: the caller's blocking connect would not
		 * have slept, so it gets its answer now, as the waiter's first
		 * look would give it, without a thread of its own. */
		struct pollfd p = { .fd = sock, .events = POLLOUT };
		if (poll(&p, 1, 0) == 1) {
			int e = 0;
			socklen_t el = sizeof(e);
			if (getsockopt(sock, SOL_SOCKET, SO_ERROR, &e, &el) < 0)
				e = errno;
			r = -e;
			reached = e == 0;
		}
	} else if (loopback && r == -EINPROGRESS) {
		/* A non-blocking caller learns the outcome itself (SO_ERROR,
		 * which a look of ours would clear): the state is looked at
		 * without touching it. */
		struct tcp_info ti;
		socklen_t tl = sizeof(ti);
		reached = getsockopt(sock, IPPROTO_TCP, TCP_INFO, &ti, &tl) == 0 && tl >= 1 &&
			  ti.tcpi_state == TCP_ESTABLISHED;
	}
	/* A TCP handshake on the sandbox's own loopback was answered by a
	 * listener inside: a server of the sandbox (or srt's proxies), never
	 * a try to reach the host, so nothing to report (the report's look
	 * at /proc/PID/net/tcp would find that listener, at a cost that
	 * grows with every socket the sandbox has had). A UDP connect
	 * reaches nobody: it is left to the report's side. */
	if (loopback && reached && sock_int(sock, SO_TYPE) == SOCK_STREAM)
		res->addr.ss_family = AF_UNSPEC;
	if (blocking && (r == -EAGAIN || r == -EINPROGRESS)) {
		struct waiter *w = calloc(1, sizeof(*w));
		if (!w) {
			err = ENOMEM;
			goto out;
		}
		w->kind = r == -EAGAIN ? WAIT_CONNECT_RETRY : WAIT_CONNECT_POLL;
		w->id = n->id;
		w->tid = n->pid;
		w->sock = sock;
		w->obj = obj;
		memcpy(&w->addr, a, len);
		w->addr_len = len;
		sock = obj = -1;
		int s = waiter_start(b, w);
		if (s < 0) {
			err = -s;
			goto out;
		}
		reply->sent = true;
		goto out;
	}
	err = -r;
out:
	if (sock >= 0)
		close(sock);
	if (obj >= 0)
		close(obj);
	res->error = err;
	if (!reply->sent) {
		if (err)
			reply->error = err;
		else {
			reply->value = true;
			reply->val = 0;
		}
	}
}

/* ---- Sends ------------------------------------------------------------------ */

/* The caller's message (in its memory at addr, the native struct msghdr),
 * copied into one of ours: data gathered into one buffer, control copied
 * with the descriptors of SCM_RIGHTS duplicated and SCM_CREDENTIALS made
 * ours (the kernel takes only the sender's own; it stamps ours anyway).
 * The address is left to the caller of this. Returns 0 or a negative errno. */
struct copied_msg {
	struct sockaddr_storage name;
	socklen_t name_len;
	bool has_name;
	void *data;
	size_t data_len;
	void *control;
	size_t control_len;
	int *fds;
	size_t n_fds;
};

static void copied_msg_clear(struct copied_msg *m)
{
	for (size_t i = 0; i < m->n_fds; i++)
		close(m->fds[i]);
	free(m->fds);
	free(m->data);
	free(m->control);
	memset(m, 0, sizeof(*m));
}

static int copy_data(struct caller *c, const struct iovec *riov, size_t n_iov, struct copied_msg *m)
{
	size_t total = 0;
	for (size_t i = 0; i < n_iov; i++) {
		if (riov[i].iov_len > SSIZE_MAX - total)
			return -EINVAL;
		total += riov[i].iov_len;
	}
	size_t want = total < SEND_MAX ? total : SEND_MAX;
	m->data = malloc(want ? want : 1);
	if (!m->data)
		return -ENOMEM;
	size_t got = 0;
	for (size_t i = 0; i < n_iov && got < want; i++) {
		size_t l = riov[i].iov_len;
		if (l > want - got)
			l = want - got;
		if (l && caller_read_all(c, (uint64_t)(uintptr_t)riov[i].iov_base, (char *)m->data + got, l) < 0)
			return -EFAULT;
		got += l;
	}
	m->data_len = got;
	return 0;
}

static int copy_control(struct caller *c, uint64_t addr, size_t len, struct copied_msg *m)
{
	if (len == 0)
		return 0;
	if (len > CONTROL_MAX)
		return -ENOBUFS;
	m->control = calloc(1, len);
	if (!m->control)
		return -ENOMEM;
	if (caller_read_all(c, addr, m->control, len) < 0)
		return -EFAULT;
	m->control_len = len;
	struct msghdr h = { .msg_control = m->control, .msg_controllen = len };
	for (struct cmsghdr *cm = CMSG_FIRSTHDR(&h); cm; cm = CMSG_NXTHDR(&h, cm)) {
		if (cm->cmsg_len < CMSG_LEN(0) || cm->cmsg_len > len)
			return -EINVAL;
		if (cm->cmsg_level != SOL_SOCKET)
			continue;
		if (cm->cmsg_type == SCM_RIGHTS) {
			size_t k = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
			int *fds = (int *)CMSG_DATA(cm);
			int *grown = realloc(m->fds, (m->n_fds + k + 1) * sizeof(int));
			if (!grown)
				return -ENOMEM;
			m->fds = grown;
			for (size_t i = 0; i < k; i++) {
				int theirs;
				memcpy(&theirs, &fds[i], sizeof(int));
				int ours = caller_fd(c, (uint64_t)(uint32_t)theirs);
				if (ours < 0)
					return -EBADF;
				m->fds[m->n_fds++] = ours;
				memcpy(&fds[i], &ours, sizeof(int));
			}
		} else if (cm->cmsg_type == SCM_CREDENTIALS && cm->cmsg_len >= CMSG_LEN(sizeof(struct ucred))) {
			/* The kernel takes only the sender's own: the caller's
			 * user and group (srt's too, bwrap maps them so), and
			 * srt's pid, since srt sends. */
			struct ucred theirs;
			memcpy(&theirs, CMSG_DATA(cm), sizeof(theirs));
			if (theirs.uid != getuid() || theirs.gid != getgid())
				return -EPERM;
			struct ucred u = { .pid = getpid(), .uid = getuid(), .gid = getgid() };
			memcpy(CMSG_DATA(cm), &u, sizeof(u));
		}
	}
	return 0;
}

/* Send m on sock as the caller asked (flags); the address in m is final.
 * Answers the call (directly or from a waiter). Returns the errno the
 * call got (0: sent, with *sent the count), or -1 when a waiter took
 * it. */
static int send_copied(struct broker *b, const struct broker_notif *n, int sock, struct copied_msg *m, int flags,
		       uint64_t mmsg_len_at, int *obj, struct caller *c, ssize_t *sent)
{
	struct iovec iov = { .iov_base = m->data, .iov_len = m->data_len };
	struct msghdr h = {
		.msg_name = m->has_name ? &m->name : NULL,
		.msg_namelen = m->has_name ? m->name_len : 0,
		.msg_iov = &iov,
		.msg_iovlen = 1,
		.msg_control = m->control,
		.msg_controllen = m->control_len,
	};
	ssize_t r = sendmsg(sock, &h, flags | MSG_DONTWAIT | MSG_NOSIGNAL);
	bool blocking = !(flags & MSG_DONTWAIT) && is_blocking(sock);
	bool stream = sock_int(sock, SO_TYPE) == SOCK_STREAM;
	if (r >= 0 && !(blocking && stream && (size_t)r < m->data_len && n)) {
		*sent = r;
		return 0;
	}
	int e = r < 0 ? errno : EAGAIN;
	if (e == EAGAIN && blocking && n) {
		struct waiter *w = calloc(1, sizeof(*w));
		if (!w)
			return ENOMEM;
		w->kind = WAIT_SEND;
		w->id = n->id;
		w->tid = n->pid;
		w->sock = fcntl(sock, F_DUPFD_CLOEXEC, 3);
		w->obj = -1;
		if (w->sock < 0) {
			free(w);
			return errno;
		}
		w->flags = flags;
		w->mmsg_len_at = mmsg_len_at;
		w->tgid = caller_tgid(c);
		w->stream = stream;
		w->done = r > 0 ? (size_t)r : 0;
		/* The judged socket file its address names stays open for it. */
		w->obj = *obj;
		*obj = -1;
		memcpy(&w->addr, &m->name, sizeof(m->name));
		w->data = m->data;
		w->control = m->control;
		w->fds = m->fds;
		w->n_fds = m->n_fds;
		m->data = m->control = NULL;
		m->fds = NULL;
		m->n_fds = 0;
		w->iov = (struct iovec){ .iov_base = w->data, .iov_len = m->data_len };
		w->siov = (struct iovec){ .iov_base = (char *)w->data + w->done, .iov_len = m->data_len - w->done };
		w->msg = (struct msghdr){
			.msg_name = m->has_name ? &w->addr : NULL,
			.msg_namelen = m->has_name ? m->name_len : 0,
			.msg_iov = &w->siov,
			.msg_iovlen = 1,
			/* Control data went with the first bytes already. */
			.msg_control = w->done ? NULL : w->control,
			.msg_controllen = w->done ? 0 : m->control_len,
		};
		int s = waiter_start(b, w);
		return s < 0 ? -s : -1;
	}
	return e;
}

/* SIGPIPE for the caller, as the kernel would have sent it. */
static void caller_sigpipe(struct caller *c, int flags, int err)
{
	if (err != EPIPE || (flags & MSG_NOSIGNAL))
		return;
	int e = errno;
	if (caller_tgid(c) > 0)
		(void)syscall(SYS_tgkill, c->tgid, c->tid, SIGPIPE);
	errno = e;
}

/* Judge m's address for sock (a unix path: resolved and replaced by the
 * judged file's name). 0 or a negative errno. */
static int judge_name(struct nbroker *nb, struct caller *c, int sock, int domain, struct copied_msg *m, int *obj,
		      struct nbroker_result *res)
{
	*obj = -1;
	if (!m->has_name)
		return 0;
	/* A socket of the host's network (srt's, for the transparent mode)
	 * sends nowhere but to its peer: an address (TCP fast open's, after a
	 * disconnect) would reach the host's network unjudged. */
	if (!in_sandbox_netns(nb, sock))
		return -EISCONN;
	if (domain == AF_UNIX) {
		char path[sizeof(((struct sockaddr_un *)0)->sun_path) + 1];
		enum nbroker_unix_addr kind = nbroker_decode_unix(&m->name, m->name_len, path, sizeof(path));
		if (kind == NB_UNIX_INVALID)
			return -EINVAL; /* never let the kernel read a form we could not */
		if (kind != NB_UNIX_PATH || nb->unix_all)
			return 0;
		struct sockaddr_un judged;
		socklen_t jl;
		int r = judge_unix_path(nb, c, path, &judged, &jl, obj, res);
		if (r < 0)
			return r;
		memset(&m->name, 0, sizeof(m->name));
		memcpy(&m->name, &judged, jl);
		m->name_len = jl;
	} else if (m->name.ss_family == AF_INET || m->name.ss_family == AF_INET6) {
		memcpy(&res->addr, &m->name, sizeof(m->name));
		res->addr_len = m->name_len;
	}
	return 0;
}

/* Read one struct msghdr of the caller at addr into m (name, data,
 * control). 0 or a negative errno. */
static int copy_msghdr(struct caller *c, uint64_t addr, struct copied_msg *m)
{
	struct msghdr h;
	if (caller_read_all(c, addr, &h, sizeof(h)) < 0)
		return -EFAULT;
	if (h.msg_name && h.msg_namelen) {
		if (h.msg_namelen > sizeof(m->name))
			return -EINVAL;
		if (caller_read_all(c, (uint64_t)(uintptr_t)h.msg_name, &m->name, h.msg_namelen) < 0)
			return -EFAULT;
		m->name_len = h.msg_namelen;
		m->has_name = true;
	}
	if (h.msg_iovlen > UIO_MAXIOV)
		return -EMSGSIZE;
	struct iovec *iov = NULL;
	if (h.msg_iovlen) {
		iov = calloc(h.msg_iovlen, sizeof(*iov));
		if (!iov)
			return -ENOMEM;
		if (caller_read_all(c, (uint64_t)(uintptr_t)h.msg_iov, iov, h.msg_iovlen * sizeof(*iov)) < 0) {
			free(iov);
			return -EFAULT;
		}
	}
	int r = copy_data(c, iov, h.msg_iovlen, m);
	free(iov);
	if (r < 0)
		return r;
	return copy_control(c, (uint64_t)(uintptr_t)h.msg_control, h.msg_controllen, m);
}

/* One copied message of sendto or sendmsg: still the caller's call?
 * judged, sent (or handed to a waiter: reply->sent). The errno the call
 * gets, 0 with *val the count. */
static int judge_and_send(struct nbroker *nb, struct broker *b, const struct broker_notif *n, struct caller *c,
			  int domain, int sock, struct copied_msg *m, int *obj, int flags, struct broker_reply *reply,
			  struct nbroker_result *res, int64_t *val)
{
	if (!broker_id_valid(b, n->id)) {
		reply->sent = true; /* nobody waits for an answer */
		return 0;
	}
	int r = judge_name(nb, c, sock, domain, m, obj, res);
	if (r < 0)
		return -r;
	ssize_t sent = 0;
	int err = send_copied(b, n, sock, m, flags, 0, obj, c, &sent);
	if (err < 0) {
		reply->sent = true; /* a waiter answers */
		return 0;
	}
	caller_sigpipe(c, flags, err);
	*val = sent;
	return err;
}

static void do_send(struct nbroker *nb, struct broker *b, const struct broker_notif *n, const char *name,
		    struct caller *c, struct broker_reply *reply, struct nbroker_result *res)
{
	int err = 0;
	int64_t val = 0;
	struct copied_msg m = { 0 };
	int obj = -1;
	int sock = caller_fd(c, n->args[0]);
	if (sock < 0) {
		err = -sock;
		goto out;
	}
	int domain = sock_int(sock, SO_DOMAIN);
	if (domain < 0) {
		err = -domain;
		goto out;
	}
	int r;
	if (strcmp(name, "sendto") == 0) {
		int flags = (int)n->args[3];
		uint32_t alen = (uint32_t)n->args[5];
		if ((int32_t)alen < 0 || alen > sizeof(m.name)) {
			err = EINVAL;
			goto out;
		}
		if (n->args[4] && alen) {
			if (caller_read_all(c, n->args[4], &m.name, alen) < 0) {
				err = EFAULT;
				goto out;
			}
			m.name_len = alen;
			m.has_name = true;
		}
		struct iovec iov = { .iov_base = (void *)(uintptr_t)n->args[1], .iov_len = (size_t)n->args[2] };
		if ((r = copy_data(c, &iov, 1, &m)) < 0) {
			err = -r;
			goto out;
		}
		err = judge_and_send(nb, b, n, c, domain, sock, &m, &obj, flags, reply, res, &val);
		goto out;
	}
	if (strcmp(name, "sendmsg") == 0) {
		int flags = (int)n->args[2];
		if ((r = copy_msghdr(c, n->args[1], &m)) < 0) {
			err = -r;
			goto out;
		}
		err = judge_and_send(nb, b, n, c, domain, sock, &m, &obj, flags, reply, res, &val);
		goto out;
	}
	/* sendmmsg: each message in turn; the count sent, or the first
	 * message's error. A message that would wait ends the call there
	 * (as MSG_DONTWAIT does) unless it is the first. */
	uint64_t vec = n->args[1];
	unsigned vlen = (unsigned)n->args[2];
	int flags = (int)n->args[3];
	if (vlen > MMSG_MAX)
		vlen = MMSG_MAX;
	unsigned done = 0;
	for (unsigned i = 0; i < vlen; i++) {
		uint64_t at = vec + (uint64_t)i * sizeof(struct mmsghdr);
		copied_msg_clear(&m);
		if (obj >= 0) {
			close(obj);
			obj = -1;
		}
		if ((r = copy_msghdr(c, at, &m)) < 0) {
			err = -r;
			break;
		}
		if (!broker_id_valid(b, n->id)) {
			reply->sent = true;
			goto out;
		}
		if ((r = judge_name(nb, c, sock, domain, &m, &obj, res)) < 0) {
			err = -r;
			break;
		}
		ssize_t sent = 0;
		/* Only the first may wait (and then answers alone: one message). */
		err = send_copied(b, i == 0 ? n : NULL, sock, &m, flags | (i ? MSG_DONTWAIT : 0),
				  at + offsetof(struct mmsghdr, msg_len), &obj, c, &sent);
		if (err < 0) {
			reply->sent = true;
			err = 0;
			goto out;
		}
		if (err) {
			caller_sigpipe(c, flags, err);
			break;
		}
		unsigned len32 = (unsigned)sent;
		if (caller_write_all(c, at + offsetof(struct mmsghdr, msg_len), &len32, sizeof(len32)) < 0) {
			err = EFAULT;
			break;
		}
		done++;
	}
	if (done > 0) {
		err = 0;
		val = done;
	}
out:
	copied_msg_clear(&m);
	if (sock >= 0)
		close(sock);
	if (obj >= 0)
		close(obj);
	res->error = err;
	if (!reply->sent) {
		if (err)
			reply->error = err;
		else {
			reply->value = true;
			reply->val = val;
		}
	}
}

void nbroker_handle(struct nbroker *nb, struct broker *b, const struct broker_notif *n,
		    const struct observer_syscall *e, struct broker_reply *reply, struct nbroker_result *res)
{
	res->handled = false;
	res->error = 0;
	res->unix_path = false;
	res->refused = false;
	res->rule = NULL;
	res->path[0] = '\0';
	res->addr.ss_family = AF_UNSPEC;
	res->addr_len = 0;
	res->syscall = e->name;
	res->op = (enum observed_op)e->op;
	res->handled = true;
	struct caller c;
	if (n->pid <= 0) {
		reply->error = EACCES; /* nobody to act for: nothing unjudged */
		res->error = EACCES;
		return;
	}
	if (caller_open(&c, n->pid) < 0) {
		/* Gone, or a kernel without pidfds: nothing is let through
		 * unjudged. */
		reply->error = EACCES;
		res->error = EACCES;
		return;
	}
	if (e->op == OBS_CONNECT)
		do_connect(nb, b, n, &c, reply, res);
	else
		do_send(nb, b, n, e->name, &c, reply, res);
	caller_close(&c);
}
