/* Placeholders: mount points created on the host for protected paths that do not exist yet, and the guardian that removes them. */
#include "linux/placeholder.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "linux/proto.h"

/* The mark: an exact modification time no tool writes by accident
 * (1980-01-01 00:00:01.271828182 UTC). File systems that keep whole
 * seconds only store .0, which is accepted too. */
#define MARK_SEC 315532801
#define MARK_NSEC 271828182

enum { GUARD_RESULT = 10, GUARD_WATCH = 11, GUARD_FINISH = 12, GUARD_DONE = 13 };

bool placeholder_is_marked(const struct stat *st)
{
	if (st->st_mtim.tv_sec != MARK_SEC)
		return false;
	if (st->st_mtim.tv_nsec != MARK_NSEC && st->st_mtim.tv_nsec != 0)
		return false;
	if (S_ISREG(st->st_mode))
		return st->st_size == 0;
	return S_ISDIR(st->st_mode);
}

struct held {
	char *path;
	int fd;
	bool dir;
};

static bool same_file(int fd, const char *path)
{
	struct stat a, b;
	if (fstat(fd, &a) < 0 || lstat(path, &b) < 0)
		return false;
	return a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

/* Create or adopt one placeholder and hold a shared lock on it. Returns
 * the fd, or -1 when an ordinary file or directory took the name (then
 * there is nothing of ours to hold, and the mount covers the real thing),
 * or a negative errno below -1. */
static int hold_one(const char *path, bool dir)
{
	for (int attempt = 0; attempt < 20; attempt++) {
		int fd;
		bool created = false;
		if (dir) {
			if (mkdir(path, 0555) == 0)
				created = true;
			else if (errno != EEXIST)
				return -errno;
			fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		} else {
			fd = open(path, O_RDONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0444);
			if (fd >= 0)
				created = true;
			else if (errno == EEXIST)
				fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
			else
				return -errno;
		}
		if (fd < 0) {
			if (errno == ENOENT)
				continue; /* removed under us: try again */
			if (errno == ELOOP || errno == ENOTDIR)
				return -ELOOP;
			return -errno;
		}
		if (created) {
			struct timespec ts[2] = { { MARK_SEC, MARK_NSEC }, { MARK_SEC, MARK_NSEC } };
			if (futimens(fd, ts) < 0) {
				int e = errno;
				close(fd);
				dir ? rmdir(path) : unlink(path);
				return -e;
			}
		} else {
			struct stat st;
			if (fstat(fd, &st) < 0 || !placeholder_is_marked(&st)) {
				close(fd);
				return -1; /* a real file: not ours */
			}
		}
		if (flock(fd, LOCK_SH) < 0) {
			int e = errno;
			close(fd);
			return -e;
		}
		/* The last user may have removed it between our open and lock. */
		if (same_file(fd, path))
			return fd;
		close(fd);
	}
	return -EAGAIN;
}

/* Remove the placeholder if we are its last user. */
static void remove_one(struct held *h)
{
	if (h->fd < 0)
		return;
	/* Only the last run that uses a placeholder gets the exclusive lock. */
	if (flock(h->fd, LOCK_EX | LOCK_NB) == 0 && same_file(h->fd, h->path)) {
		struct stat st;
		if (fstat(h->fd, &st) == 0 && placeholder_is_marked(&st)) {
			if (h->dir)
				rmdir(h->path);
			else
				unlink(h->path);
		}
	}
}

static void release_one(struct held *h)
{
	remove_one(h);
	if (h->fd >= 0)
		close(h->fd);
	h->fd = -1;
}

static void wait_exited(int pidfd)
{
	struct pollfd pfd = { .fd = pidfd, .events = POLLIN };
	while (poll(&pfd, 1, -1) < 0 && errno == EINTR)
		;
}

static void send_result(int sock, int code, const char *msg)
{
	char buf[600];
	int n = snprintf(buf, sizeof(buf), "%d %s", code, msg);
	if (n < 0)
		n = 0;
	if ((size_t)n >= sizeof(buf))
		n = sizeof(buf) - 1;
	proto_send(sock, GUARD_RESULT, buf, (uint32_t)n, NULL, 0);
}

static void guardian_main(int sock, const struct mount_plan *plan)
{
	size_t n = 0;
	for (size_t i = 0; i < plan->n_ops; i++)
		if (plan->ops[i].kind == MOUNT_PLACEHOLDER)
			n++;
	struct held *held = calloc(n, sizeof(*held));
	int watched[PROTO_MAX_FDS * 4];
	size_t n_watched = 0;
	if (!held) {
		send_result(sock, -ENOMEM, "out of memory");
		_exit(1);
	}
	size_t k = 0;
	for (size_t i = 0; i < plan->n_ops; i++) {
		const struct mount_op *op = &plan->ops[i];
		if (op->kind != MOUNT_PLACEHOLDER)
			continue;
		held[k] = (struct held){ .path = op->path, .fd = -1, .dir = op->placeholder_dir };
		int fd = hold_one(op->path, op->placeholder_dir);
		if (fd < -1) {
			char msg[512];
			snprintf(msg, sizeof(msg), "cannot create placeholder %s for %s: %s", op->path, op->why,
				 strerror(-fd));
			for (size_t j = 0; j < k; j++)
				release_one(&held[j]);
			send_result(sock, fd, msg);
			_exit(1);
		}
		held[k++].fd = fd;
	}
	send_result(sock, 0, "ok");

	/* Collect what to wait for until srt says it is done or is gone
	 * (end of stream). */
	bool finish = false;
	while (!finish) {
		uint32_t type;
		static char payload[PROTO_MAX_PAYLOAD];
		int fds[PROTO_MAX_FDS];
		size_t nfds = 0;
		int r = proto_recv(sock, &type, payload, NULL, fds, &nfds, NULL);
		if (r == -EPIPE || (r < 0 && r != -EBADMSG))
			break;
		if (r == 0 && type == GUARD_FINISH)
			finish = true;
		for (size_t j = 0; j < nfds; j++) {
			if (type == GUARD_WATCH && n_watched < sizeof(watched) / sizeof(watched[0]))
				watched[n_watched++] = fds[j];
			else
				close(fds[j]);
		}
	}
	for (size_t j = 0; j < n_watched; j++)
		wait_exited(watched[j]);
	/* Unlink everything first: the names are what a person sees.
	 * Closing the last fd of an unlinked inode frees it, which costs far
	 * more (about 30 us each on ext4 here) than the unlinks. */
	for (size_t j = 0; j < k; j++)
		remove_one(&held[j]);
	for (size_t j = 0; j < k; j++)
		if (held[j].fd >= 0)
			close(held[j].fd);
	if (finish)
		proto_send(sock, GUARD_DONE, NULL, 0, NULL, 0);
	_exit(0);
}

int guardian_start(const struct mount_plan *plan, struct guardian *g, struct srt_error *err)
{
	g->sock = -1;
	bool any = false;
	for (size_t i = 0; i < plan->n_ops; i++)
		any |= plan->ops[i].kind == MOUNT_PLACEHOLDER;
	if (!any)
		return 0;

	int sv[2];
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return srt_error_set(err, -errno, "socketpair: %s", strerror(errno));
	pid_t pid = fork();
	if (pid < 0) {
		int e = errno;
		close(sv[0]);
		close(sv[1]);
		return srt_error_set(err, -e, "fork: %s", strerror(e));
	}
	if (pid == 0) {
		close(sv[0]);
		/* Fork again so that the guardian is nobody's child: it may
		 * outlive srt's interest in it (closing the inodes), and a
		 * long-lived caller must not collect zombies. */
		pid_t g2 = fork();
		if (g2 != 0)
			_exit(g2 < 0 ? 1 : 0);
		/* Out of the terminal's process group: ^C must not stop the
		 * cleanup; only the end of srt's socket does. */
		setsid();
		/* Hold nothing of the caller's: a pipe on our stdout would keep
		 * a reader waiting for as long as we wait for the sandbox. */
		int s = fcntl(sv[1], F_DUPFD_CLOEXEC, 3);
		int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
		if (s < 0 || devnull < 0)
			_exit(1);
		for (int fd = 0; fd < 3; fd++)
			dup2(devnull, fd);
		for (int fd = 3; fd < s; fd++)
			close(fd);
		close_range((unsigned)s + 1, ~0u, 0);
		sv[1] = s;
		sigset_t all;
		sigfillset(&all);
		sigprocmask(SIG_BLOCK, &all, NULL);
		guardian_main(sv[1], plan);
	}
	close(sv[1]);
	int status = 0;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	g->sock = sv[0];
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		close(g->sock);
		g->sock = -1;
		return srt_error_set(err, -ECHILD, "cannot start the placeholder guardian");
	}

	uint32_t type = 0, len = 0;
	static char payload[PROTO_MAX_PAYLOAD + 1];
	int r = proto_recv(g->sock, &type, payload, &len, NULL, NULL, NULL);
	if (r < 0 || type != GUARD_RESULT) {
		guardian_finish(g);
		return srt_error_set(err, r < 0 ? r : -EPROTO, "the placeholder guardian failed");
	}
	payload[len] = '\0';
	int code = atoi(payload);
	if (code != 0) {
		const char *msg = strchr(payload, ' ');
		srt_error_set(err, code, "%s", msg ? msg + 1 : payload);
		guardian_finish(g);
		return code;
	}
	return 0;
}

int guardian_watch(struct guardian *g, int pidfd)
{
	if (g->sock < 0)
		return 0;
	return proto_send(g->sock, GUARD_WATCH, NULL, 0, &pidfd, 1);
}

void guardian_finish(struct guardian *g)
{
	if (g->sock < 0)
		return;
	/* Ask for the removal and wait until the guardian is gone (its end
	 * of the socket closes when it exits): when srt returns, neither a
	 * placeholder nor a process of ours is left. */
	if (proto_send(g->sock, GUARD_FINISH, NULL, 0, NULL, 0) == 0) {
		for (;;) {
			uint32_t type = 0;
			static char payload[PROTO_MAX_PAYLOAD];
			if (proto_recv(g->sock, &type, payload, NULL, NULL, NULL, NULL) < 0)
				break;
		}
	}
	close(g->sock);
	g->sock = -1;
}
