/* Placeholders: mount points created on the host for protected paths that do not exist yet, and the guardian that removes them. */
#include "linux/placeholder.h"

#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <stdio.h>
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

enum { GUARD_HOLD = 10, GUARD_WATCH = 11, GUARD_FINISH = 12, GUARD_DONE = 13 };

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

/* The name a placeholder is made under before it gets its real one: in the
 * same folder, unique to this srt (its pid) and this placeholder (index). */
static int temp_name(char *buf, size_t size, const char *path, pid_t owner, size_t index)
{
	const char *slash = strrchr(path, '/');
	if (!slash)
		return -EINVAL;
	int n = snprintf(buf, size, "%.*s/.srt-placeholder.%d.%zu", (int)(slash - path), path, (int)owner, index);
	return n > 0 && (size_t)n < size ? 0 : -ENAMETOOLONG;
}

/* Adopt the placeholder at path (made by another run): open it, check the
 * mark, take the shared lock. Returns the fd, -1 when an ordinary file or
 * folder has that name, -ENOENT when it vanished, or a negative errno. */
static int adopt(const char *path, bool dir)
{
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK | (dir ? O_DIRECTORY : 0));
	if (fd < 0) {
		if (errno == ELOOP || errno == ENOTDIR)
			return -ELOOP;
		return -errno;
	}
	struct stat st;
	if (fstat(fd, &st) < 0 || !placeholder_is_marked(&st)) {
		close(fd);
		return -1; /* a real file: not ours */
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
	return -ENOENT;
}

/* Create or adopt one placeholder and hold a shared lock on it. It is made
 * complete (marked, locked) under a temporary name and then renamed into
 * place without replacing anything, so a placeholder never exists without
 * its mark: a SIGKILL at any moment leaves only things the guardian
 * recognises. Returns the fd, or -1 when an ordinary file or directory
 * took the name (the mount covers the real thing then), or a negative
 * errno below -1. */
static int hold_one(const char *path, bool dir, pid_t owner, size_t index)
{
	char tmp[PATH_MAX];
	int r = temp_name(tmp, sizeof(tmp), path, owner, index);
	if (r < 0)
		return r;
	for (int attempt = 0; attempt < 20; attempt++) {
		struct stat st;
		if (lstat(path, &st) == 0) {
			r = adopt(path, dir);
			if (r == -ENOENT)
				continue;
			return r;
		}
		int fd;
		if (dir) {
			if (mkdir(tmp, 0555) < 0 && errno != EEXIST)
				return -errno;
			fd = open(tmp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		} else {
			unlink(tmp);
			fd = open(tmp, O_RDONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0444);
		}
		if (fd < 0)
			return errno == ENOTDIR ? -ENOTDIR : -errno;
		struct timespec ts[2] = { { MARK_SEC, MARK_NSEC }, { MARK_SEC, MARK_NSEC } };
		if (futimens(fd, ts) < 0 || flock(fd, LOCK_SH) < 0) {
			int e = errno;
			close(fd);
			dir ? rmdir(tmp) : unlink(tmp);
			return -e;
		}
		if (renameat2(AT_FDCWD, tmp, AT_FDCWD, path, RENAME_NOREPLACE) == 0)
			return fd;
		int e = errno;
		close(fd);
		dir ? rmdir(tmp) : unlink(tmp);
		if (e != EEXIST)
			return -e;
		/* Another run was quicker: adopt theirs. */
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

static void wait_exited(int pidfd)
{
	struct pollfd pfd = { .fd = pidfd, .events = POLLIN };
	while (poll(&pfd, 1, -1) < 0 && errno == EINTR)
		;
}

/* Take a placeholder no run holds any more: the one we were never handed
 * because srt died while making them. Only a marked one, and only if
 * nobody else holds it (see remove_one). */
static void adopt_by_path(struct held *h)
{
	h->fd = open(h->path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK | (h->dir ? O_DIRECTORY : 0));
}

static void guardian_main(int sock, const struct mount_plan *plan, pid_t owner)
{
	size_t n = 0;
	for (size_t i = 0; i < plan->n_ops; i++)
		if (plan->ops[i].kind == MOUNT_PLACEHOLDER)
			n++;
	struct held *held = calloc(n ? n : 1, sizeof(*held));
	int watched[PROTO_MAX_FDS * 4];
	size_t n_watched = 0;
	if (!held)
		_exit(1);
	size_t k = 0;
	for (size_t i = 0; i < plan->n_ops; i++)
		if (plan->ops[i].kind == MOUNT_PLACEHOLDER)
			held[k++] = (struct held){ .path = plan->ops[i].path, .fd = -1,
						   .dir = plan->ops[i].placeholder_dir };

	/* Collect the placeholders' fds (their locks are now ours too) and
	 * what to wait for, until srt says it is done or is gone. */
	bool finish = false;
	while (!finish) {
		uint32_t type, len = 0;
		static uint32_t payload[PROTO_MAX_PAYLOAD / sizeof(uint32_t)];
		int fds[PROTO_MAX_FDS];
		size_t nfds = 0;
		int r = proto_recv(sock, &type, payload, &len, fds, &nfds, NULL);
		if (r == -EPIPE || (r < 0 && r != -EBADMSG))
			break;
		if (r == 0 && type == GUARD_FINISH)
			finish = true;
		for (size_t j = 0; j < nfds; j++) {
			if (r == 0 && type == GUARD_WATCH && n_watched < sizeof(watched) / sizeof(watched[0])) {
				watched[n_watched++] = fds[j];
			} else if (r == 0 && type == GUARD_HOLD && (j + 1) * sizeof(uint32_t) <= len &&
				   payload[j] < k && held[payload[j]].fd < 0) {
				held[payload[j]].fd = fds[j];
			} else {
				close(fds[j]);
			}
		}
	}
	for (size_t j = 0; j < n_watched; j++)
		wait_exited(watched[j]);
	for (size_t j = 0; j < k; j++) {
		/* What srt was making when it died: the temporary names are
		 * ours alone. */
		char tmp[PATH_MAX];
		if (temp_name(tmp, sizeof(tmp), held[j].path, owner, j) == 0)
			held[j].dir ? rmdir(tmp) : unlink(tmp);
		if (held[j].fd < 0)
			adopt_by_path(&held[j]);
	}
	/* Unlink everything first, then close: the names are what a person
	 * sees; freeing the unlinked inodes is the slower part. */
	for (size_t j = 0; j < k; j++)
		remove_one(&held[j]);
	for (size_t j = 0; j < k; j++)
		if (held[j].fd >= 0)
			close(held[j].fd);
	if (finish)
		proto_send(sock, GUARD_DONE, NULL, 0, NULL, 0);
	_exit(0);
}

/* The sandbox runs with our uid and no capabilities: where the host
 * refuses us a new name in a folder we do not own (we cannot chmod it), or
 * the file system is read-only, the sandbox cannot create it either. */
static bool host_refuses_creation(const char *path, int err)
{
	if (err == -EROFS)
		return true;
	if (err != -EACCES && err != -EPERM)
		return false;
	char parent[PATH_MAX];
	size_t len = strlen(path);
	if (len >= sizeof(parent))
		return false;
	memcpy(parent, path, len + 1);
	char *slash = strrchr(parent, '/');
	if (!slash)
		return false;
	if (slash == parent)
		slash[1] = '\0';
	else
		*slash = '\0';
	struct stat st;
	return stat(parent, &st) == 0 && st.st_uid != geteuid();
}

static int send_held(struct guardian *g, const int *fds, const uint32_t *idx, size_t n)
{
	int r = n ? proto_send(g->sock, GUARD_HOLD, idx, (uint32_t)(n * sizeof(*idx)), fds, n) : 0;
	for (size_t i = 0; i < n; i++)
		close(fds[i]);
	return r;
}

int guardian_start(struct mount_plan *plan, struct guardian *g, struct srt_error *err)
{
	g->sock = -1;
	g->pid = 0;
	bool any = false;
	for (size_t i = 0; i < plan->n_ops; i++)
		any |= plan->ops[i].kind == MOUNT_PLACEHOLDER;
	if (!any)
		return 0;

	/* The guardian exists before the first placeholder does, so that no
	 * moment leaves one without somebody to remove it. */
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
		sigset_t all;
		sigfillset(&all);
		sigprocmask(SIG_BLOCK, &all, NULL);
		/* Temporary names carry the guardian's pid: unique to this
		 * sandbox, also among the sandboxes of one library process. */
		guardian_main(s, plan, getpid());
	}
	pid_t owner = pid;
	close(sv[1]);
	g->pid = pid;
	g->sock = sv[0];

	/* Make (or adopt) each placeholder with its shared lock, and hand
	 * the fds over: the open file descriptions, and so the locks, live
	 * on in the guardian if srt is killed. */
	int fds[PROTO_MAX_FDS];
	uint32_t idx[PROTO_MAX_FDS];
	size_t nb = 0;
	uint32_t k = 0;
	for (size_t i = 0; i < plan->n_ops; i++) {
		struct mount_op *op = &plan->ops[i];
		if (op->kind != MOUNT_PLACEHOLDER)
			continue;
		int fd = hold_one(op->path, op->placeholder_dir, owner, k);
		/* A placeholder file for a denyRead comes with a hidden file on
		 * top (mountplan.c): it must fit what is really there now. */
		struct mount_op *hide = i + 1 < plan->n_ops && plan->ops[i + 1].kind == MOUNT_HIDE_FILE &&
					strcmp(plan->ops[i + 1].path, op->path) == 0 ? &plan->ops[i + 1] : NULL;
		if (fd < -1 && host_refuses_creation(op->path, fd)) {
			op->unneeded = true;
			if (hide)
				hide->unneeded = true; /* nothing there, nothing can appear */
			k++;
			continue;
		}
		if (hide) {
			struct stat st;
			bool dir = fd >= 0 ? fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)
					   : stat(op->path, &st) == 0 && S_ISDIR(st.st_mode);
			if (dir && fd >= 0)
				hide->unneeded = true; /* another run's empty folder: shows nothing */
			else if (dir)
				hide->kind = MOUNT_HIDE_DIR; /* a real folder took the name */
		}
		if (fd < -1) {
			int code = fd;
			send_held(g, fds, idx, nb);
			guardian_finish(g);
			return srt_error_set(err, code, "cannot create placeholder %s for %s: %s", op->path, op->why,
					     strerror(-code));
		}
		if (fd >= 0) {
			fds[nb] = fd;
			idx[nb++] = k;
		}
		k++;
		if (nb == PROTO_MAX_FDS) {
			send_held(g, fds, idx, nb);
			nb = 0;
		}
	}
	send_held(g, fds, idx, nb);
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
	if (g->pid > 0)
		while (waitpid(g->pid, NULL, 0) < 0 && errno == EINTR)
			;
	g->pid = 0;
}
