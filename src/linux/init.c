/* srt-init: PID 1 inside the sandbox. Applies seccomp, greets the supervisor, runs the command, reaps, forwards signals. */
#include <dirent.h>
#include <errno.h>
#include <linux/netlink.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/keyctl.h>
#include <linux/nsfs.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "linux/launch.h"
#include "linux/mountplan.h"
#include "linux/plan_format.h"
#include "linux/proto.h"
#include "cli/cli.h"

/*
 * argv: srt-init [--sock FD] [--close FD]... [--plan-from-sock] [--chdir DIR]
 *                [--listen ADDR:PORT]... [--dns] [--helper PATH] [--ignore-mask N] [--shell]
 *                [--clearenv] [--env NAME=VALUE | --env NAME]...
 *                -- COMMAND [ARG...]
 *
 * --clearenv and --env change the command's environment, in the command's
 * process just before it executes (never ours: we run with capabilities
 * and no filter yet, and LD_PRELOAD or GLIBC_TUNABLES must not reach
 * that): NAME=VALUE sets, NAME removes, in order.
 *
 * With --plan-from-sock the first message on the socket is PROTO_PLAN with
 * two memfds: the mount plan, and the seccomp filter as classic BPF.
 * Each --listen address ("127.0.0.1:3128", "[::1]:5432") becomes a
 * listening TCP socket in the sandbox's network namespace, handed to the
 * supervisor (PROTO_LISTEN) before HELLO; we keep none of them. --dns
 * (network.mode transparent) adds a UDP and a TCP socket for 127.0.0.1:53
 * (PROTO_DNS).
 *
 * Written by the supervisor, never by a user; anything else is refused.
 * Exit status: the command's, 128+N when it was killed by signal N, 125
 * when the sandbox could not be set up, 126/127 when the command cannot be
 * executed / found.
 */

/* Signals the supervisor forwards to us and we forward to the command. */
static const int forwarded[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2 };

static void noop_handler(int sig)
{
	(void)sig;
}

static void die(int status, const char *fmt, const char *arg)
{
	fprintf(stderr, "srt: ");
	fprintf(stderr, fmt, arg);
	fputc('\n', stderr);
	exit(status);
}

/*
 * The mount plan (its format: linux/plan_format.h) comes from the
 * supervisor in a memfd.
 *
 * We run it ourselves rather than through bwrap's arguments: bwrap rescans
 * the mount table for every bind (quadratic: 1,000 binds took 1.9 s here)
 * and refuses more than 9,000 arguments. Direct syscalls keep thousands of
 * mounts in milliseconds.
 */
#define EMPTY_FILE "/dev/.srt-empty"
#define CONNECT_HELPER "/dev/.srt-connect"
#define RESOLVER_FILE "/dev/.srt-resolver"
#define CA_BUNDLE_FILE "/dev/.srt-ca-bundle.pem"

/* network.tlsTerminate: the trust bundle (PROTO_PLAN_CA_BUNDLE), or -1. */
static int ca_bundle_fd = -1;

/* The transparent mode's resolver files (plan ops 'N' and 'H'). */
static const char RESOLV_CONF[] =
	"# srt: network.mode transparent: srt answers names inside the sandbox\n"
	"nameserver 127.0.0.1\n"
	"options edns0 trust-ad\n";
static const char HOSTS[] =
	"127.0.0.1\tlocalhost\n"
	"::1\tlocalhost ip6-localhost ip6-loopback\n";

/* A remount inside a user namespace must repeat the flags the mount came
 * with (nosuid, nodev, ...): the kernel locks them. */
static unsigned long locked_flags(const struct statvfs *sv)
{
	unsigned long f = 0;
	if (sv->f_flag & ST_NOSUID) f |= MS_NOSUID;
	if (sv->f_flag & ST_NODEV) f |= MS_NODEV;
	if (sv->f_flag & ST_NOEXEC) f |= MS_NOEXEC;
	if (sv->f_flag & ST_NOATIME) f |= MS_NOATIME;
	if (sv->f_flag & ST_NODIRATIME) f |= MS_NODIRATIME;
	if (sv->f_flag & ST_RELATIME) f |= MS_RELATIME;
	return f;
}

static int remount_ro(const char *path)
{
	struct statvfs sv;
	if (statvfs(path, &sv) < 0)
		return -1;
	return mount(NULL, path, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | locked_flags(&sv), NULL);
}

static int make_mount_point(const char *path, bool dir);

/* Bind src onto dst; a bind keeps the flags of the mount it came from,
 * so a remount is needed only when that is not what we want (thousands
 * of anchors in writable trees need none). */
static int bind_onto(const char *src, const char *dst, bool ro, bool dir)
{
	if (mount(src, dst, NULL, MS_BIND | MS_REC, NULL) < 0) {
		if (errno != ENOENT || make_mount_point(dst, dir) < 0 ||
		    mount(src, dst, NULL, MS_BIND | MS_REC, NULL) < 0)
			return -1;
	}
	struct statvfs sv;
	if (statvfs(dst, &sv) < 0)
		return -1;
	if (!!(sv.f_flag & ST_RDONLY) == ro)
		return 0;
	unsigned long f = MS_REMOUNT | MS_BIND | locked_flags(&sv) | (ro ? MS_RDONLY : 0);
	return mount(NULL, dst, NULL, f, NULL);
}

/* Inside a tmpfs (a hidden folder, the private /tmp) the destination of a
 * re-exposed path does not exist yet: make the mount point. */
static int make_mount_point(const char *path, bool dir)
{
	struct stat st;
	if (lstat(path, &st) == 0)
		return 0;
	char tmp[PATH_MAX];
	size_t len = strlen(path);
	if (len >= sizeof(tmp))
		return -1;
	memcpy(tmp, path, len + 1);
	for (char *s = tmp + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(tmp, 0755) < 0 && errno != EEXIST)
			return -1;
		*s = '/';
	}
	if (dir)
		return mkdir(path, 0755) < 0 && errno != EEXIST ? -1 : 0;
	int fd = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
	if (fd < 0)
		return -1;
	close(fd);
	return 0;
}

/* Does our user namespace own the mount namespace we are in? Then we may
 * mount here directly (bwrap started by root): a second namespace would
 * cost a copy of the mount table and its teardown at exit. */
static bool own_mount_namespace(void)
{
	int mnt = open("/proc/self/ns/mnt", O_RDONLY | O_CLOEXEC);
	if (mnt < 0)
		return false;
	int owner = ioctl(mnt, NS_GET_USERNS);
	close(mnt);
	if (owner < 0)
		return false;
	struct stat a, b;
	bool same = fstat(owner, &a) == 0 && stat("/proc/self/ns/user", &b) == 0 &&
		    a.st_dev == b.st_dev && a.st_ino == b.st_ino;
	close(owner);
	return same;
}

/*
 * The private /tmp (op 'T'): an overlay with the host's /tmp as its
 * read-only lower layer and its upper layer and work dir on a fresh tmpfs.
 * What the command writes there (new files, changes, deletions as
 * whiteouts) stays in that tmpfs and goes with the sandbox; the host's
 * /tmp is never written.
 *
 * Every user can set user.* attributes on their own files in the host's
 * /tmp, so nothing there may steer the overlay:
 *   userxattr              the overlay's own attributes are user.overlay.*
 *                          (trusted.* is out of reach in a user namespace);
 *                          it also turns off the next two unless asked for
 *   redirect_dir=nofollow  no redirect is made, none in the lower layer is
 *                          followed (one could name another lower path)
 *   metacopy=off           copy-up copies the data too; no lower attribute
 *                          can make a file take its data from elsewhere
 *   index=off, nfs_export=off
 *                          no index of lower inodes, no file handles decoded
 *   xino=off               inode numbers as the layers have them
 *
 * Whose credentials: overlayfs does its own work in the upper layer
 * (copy-up, whiteouts) with the credentials of whoever created it, in a
 * work dir of mode 0, so the creator needs CAP_DAC_OVERRIDE. When bwrap
 * gave srt-init none, a child creates the overlay in a user namespace of
 * its own that maps only the user's uid and gid: it holds every
 * capability there, and a capability reaches only files whose owner and
 * group both have an id in that namespace, i.e. the user's own files, of
 * which the user is the owner anyway (in the sandbox's user namespace,
 * with CAP_DAC_OVERRIDE from bwrap, the reach is the same: it maps the
 * user alone). uid 0 cannot be mapped so without CAP_SETFCAP: srt run by
 * root then falls back to the empty tmpfs. Files of other users (root's,
 * for an ordinary user) are reached by their permission bits alone, as
 * the command would; the command's own permission is checked first, on
 * the lower file's owner and mode, and the kernel (6.2 and later) refuses
 * to copy up a file whose owner has no id there. The child hands the
 * overlay over as a detached mount, which srt-init moves onto /tmp; its
 * staging tmpfs is mounted in the child's mount namespace only, so
 * nothing in the sandbox reaches the upper layer but through the overlay.
 */
#define TMP_STAGE "/dev/.srt-tmp"

static const char *const tmp_overlay_options[][2] = {
	{ "userxattr", NULL },
	{ "redirect_dir", "nofollow" },
	{ "metacopy", "off" },
	{ "index", "off" },
	{ "nfs_export", "off" },
	{ "xino", "off" },
};

static char tmp_path[PATH_MAX];     /* where 'T' mounted, "" before */
static dev_t tmp_dev;               /* its file system, for on_private_tmp() */
static int tmp_lower_fd = -1;       /* the host's /tmp (O_PATH), with the overlay */
static int tmp_upper_fd = -1;       /* the overlay's upper layer (O_PATH), detached */
static uint32_t tmp_fallback_errno; /* why an empty tmpfs replaced the overlay */

static int write_text(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t len = (ssize_t)strlen(text), n = write(fd, text, (size_t)len);
	int e = errno;
	close(fd);
	errno = n < 0 ? e : EIO;
	return n == len ? 0 : -1;
}

static bool has_effective_cap(int cap)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
	struct __user_cap_data_struct data[2];
	memset(data, 0, sizeof(data));
	return syscall(SYS_capget, &hdr, data) == 0 && (data[cap / 32].effective & (1u << (cap % 32)));
}

/* What the child (see above) hands back: it shares our memory and our
 * descriptor table, and we wait until it has exited. */
struct tmp_overlay_job {
	const char *path;
	bool own_userns;  /* the child is in a user namespace of its own */
	uid_t uid;
	gid_t gid;
	int mnt;      /* the overlay, detached */
	int upper;    /* its upper layer, O_PATH */
	int err;
};

/* Runs in a mount namespace of its own (and a user namespace, see
 * own_userns), on a stack of its own, with our memory: system calls and
 * snprintf only. Not instrumented by AddressSanitizer, which cannot tell
 * that stack from a corrupt one and warns on the child's _exit. */
__attribute__((no_sanitize_address))
static int tmp_overlay_child(void *arg)
{
	struct tmp_overlay_job *j = arg;
	char map[64];
	int fs = -1;
	if (j->own_userns) {
		if (write_text("/proc/self/setgroups", "deny") < 0)
			goto fail;
		snprintf(map, sizeof(map), "%u %u 1", (unsigned)j->uid, (unsigned)j->uid);
		if (write_text("/proc/self/uid_map", map) < 0)
			goto fail;
		snprintf(map, sizeof(map), "%u %u 1", (unsigned)j->gid, (unsigned)j->gid);
		if (write_text("/proc/self/gid_map", map) < 0)
			goto fail;
	}
	if (mount("tmpfs", TMP_STAGE, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0700") < 0)
		goto fail;
	/* The upper layer's root is the overlay's root: /tmp's mode. */
	if (mkdir(TMP_STAGE "/upper", 0700) < 0 || chmod(TMP_STAGE "/upper", 01777) < 0 ||
	    mkdir(TMP_STAGE "/work", 0700) < 0)
		goto fail;
	fs = fsopen("overlay", FSOPEN_CLOEXEC);
	if (fs < 0 || fsconfig(fs, FSCONFIG_SET_STRING, "source", "overlay", 0) < 0 ||
	    fsconfig(fs, FSCONFIG_SET_STRING, "lowerdir", j->path, 0) < 0 ||
	    fsconfig(fs, FSCONFIG_SET_STRING, "upperdir", TMP_STAGE "/upper", 0) < 0 ||
	    fsconfig(fs, FSCONFIG_SET_STRING, "workdir", TMP_STAGE "/work", 0) < 0)
		goto fail;
	for (size_t i = 0; i < sizeof(tmp_overlay_options) / sizeof(tmp_overlay_options[0]); i++) {
		const char *k = tmp_overlay_options[i][0], *v = tmp_overlay_options[i][1];
		if (fsconfig(fs, v ? FSCONFIG_SET_STRING : FSCONFIG_SET_FLAG, k, v, 0) < 0)
			goto fail;
	}
	if (fsconfig(fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0)
		goto fail;
	j->mnt = fsmount(fs, FSMOUNT_CLOEXEC, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV);
	if (j->mnt < 0)
		goto fail;
	j->upper = open(TMP_STAGE "/upper", O_PATH | O_DIRECTORY | O_CLOEXEC);
	close(fs);
	_exit(0);
fail:
	j->err = errno ? errno : EIO;
	if (fs >= 0)
		close(fs);
	_exit(1);
}

/* Returns 0, or an errno when no overlay could be mounted: the caller then
 * mounts the empty tmpfs of old, which shows less and lets nothing more be
 * written. */
static int mount_tmp_overlay(const char *path)
{
	/* Option values end at ',' (and lowerdir's layers at ':'). */
	if (strpbrk(path, ",:\\"))
		return EINVAL;
	/* Holding CAP_DAC_OVERRIDE ourselves, the child needs no user
	 * namespace. Without it, uid 0 cannot be mapped into one: that
	 * takes CAP_SETFCAP. */
	struct tmp_overlay_job job = { .path = path, .own_userns = !has_effective_cap(CAP_DAC_OVERRIDE),
				       .uid = geteuid(), .gid = getegid(), .mnt = -1, .upper = -1 };
	if (job.own_userns && job.uid == 0)
		return EPERM;
	int lower = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (lower < 0)
		return errno;
	if (mkdir(TMP_STAGE, 0700) < 0) {
		int e = errno;
		close(lower);
		return e;
	}
	/* Like vfork: no copy of our memory, and we go on as soon as the
	 * child has exited its memory, before its namespaces are torn down
	 * (which takes longer than all of its work); PID 1's loop reaps it. */
	static char stack[64 * 1024] __attribute__((aligned(16)));
	pid_t pid = clone(tmp_overlay_child, stack + sizeof(stack),
			  CLONE_VM | CLONE_VFORK | CLONE_FILES | CLONE_NEWNS | (job.own_userns ? CLONE_NEWUSER : 0) |
			  SIGCHLD, &job);
	int e = pid < 0 ? errno : job.mnt < 0 ? (job.err ? job.err : EIO) : 0;
	if (!e && move_mount(job.mnt, "", AT_FDCWD, path, MOVE_MOUNT_F_EMPTY_PATH) < 0)
		e = errno;
	if (!e && job.upper >= 0) {
		/* For the report at exit; without them there is just no report. */
		tmp_upper_fd = steal_fd(&job.upper);
		tmp_lower_fd = steal_fd(&lower);
	}
	if (job.mnt >= 0)
		close(job.mnt);
	if (job.upper >= 0)
		close(job.upper);
	if (lower >= 0)
		close(lower);
	rmdir(TMP_STAGE);
	return e;
}

/* Is path inside the private /tmp, on its own file system (not on a host
 * path bound into it)? Its deepest existing folder tells. */
static bool on_private_tmp(const char *path)
{
	size_t tl = strlen(tmp_path), len = strlen(path);
	if (!tl || len >= PATH_MAX || strncmp(path, tmp_path, tl) != 0 || path[tl] != '/')
		return false;
	char dir[PATH_MAX];
	memcpy(dir, path, len + 1);
	struct stat st;
	for (;;) {
		char *slash = strrchr(dir, '/');
		if (!slash || (size_t)(slash - dir) < tl)
			return false;
		*slash = '\0';
		if (lstat(dir, &st) == 0)
			return S_ISDIR(st.st_mode) && st.st_dev == tmp_dev;
	}
}

struct plan_op {
	char op;
	const char *path;
	int src;      /* O_PATH fd of the source, opened before any mount */
	const char *hex; /* 'C': the content */
};

static void expose_connect_helper(int src);
static void expose_ca_bundle(int src);
static void protect_proc(void);

/*
 * Cover path with a read-only file holding text: what the sandbox sees
 * there, whatever the host has. open_tree and move_mount without
 * MOVE_MOUNT_T_SYMLINKS mount onto a symbolic link itself (the host's
 * /etc/resolv.conf often links to systemd-resolved's stub file, or to
 * nothing at all), never onto what it leads to. A path that does not
 * exist stays so: a mount needs something to cover, and the resolver's
 * default without resolv.conf is the nameserver on 127.0.0.1, ours.
 */
static void cover_fail(const char *what, const char *detail)
{
	fprintf(stderr, "srt-init: cannot set up %s: %s\n", what, detail);
	exit(125);
}

static void cover_with_bytes(const char *path, const char *text, size_t len, mode_t mode, const char *what)
{
	struct stat st;
	if (lstat(path, &st) < 0) {
		if (errno == ENOENT)
			return;
		cover_fail(what, strerror(errno));
	}
	if (S_ISDIR(st.st_mode)) {
		fprintf(stderr, "srt-init: cannot set up %s: %s is a directory\n", what, path);
		exit(125);
	}
	int fd = open(RESOLVER_FILE, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, mode);
	size_t off = 0;
	while (fd >= 0 && off < len) {
		ssize_t n = write(fd, text + off, len - off);
		if (n <= 0)
			break;
		off += (size_t)n;
	}
	if (fd < 0 || off != len || close(fd) < 0)
		die(125, "srt-init: cannot write " RESOLVER_FILE ": %s", strerror(errno));
	int r = -1;
	int tree = open_tree(AT_FDCWD, RESOLVER_FILE, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
	if (tree >= 0) {
		r = move_mount(tree, "", AT_FDCWD, path, MOVE_MOUNT_F_EMPTY_PATH);
		close(tree);
	} else if (errno == ENOSYS && !S_ISLNK(st.st_mode)) {
		/* Before Linux 5.2: a plain bind, which would follow a link. */
		r = mount(RESOLVER_FILE, path, NULL, MS_BIND, NULL);
	}
	/* The path now leads into the new mount: remounting it reaches no link. */
	if (r < 0 || remount_ro(path) < 0)
		cover_fail(what, strerror(errno));
	unlink(RESOLVER_FILE);
}

static void cover_with_text(const char *path, const char *text)
{
	cover_with_bytes(path, text, strlen(text), 0644, "the sandbox's resolver files");
}

/* A masked credential file ('C'): hex decoded in place. */
static void cover_with_hex(const char *path, const char *hex)
{
	size_t n = strlen(hex) / 2;
	char *data = malloc(n + 1);
	if (!data)
		die(125, "srt-init: out of memory%s", "");
	for (size_t i = 0; i < n; i++) {
		int hi = hex[2 * i] <= '9' ? hex[2 * i] - '0' : hex[2 * i] - 'a' + 10;
		int lo = hex[2 * i + 1] <= '9' ? hex[2 * i + 1] - '0' : hex[2 * i + 1] - 'a' + 10;
		data[i] = (char)(hi << 4 | lo);
	}
	cover_with_bytes(path, data, n, 0444, "a masked credential file");
	free(data);
}

static void apply_plan(int fd, const char *helper)
{
	struct stat st;
	if (fstat(fd, &st) < 0 || st.st_size < 0 || (unsigned long long)st.st_size > PLAN_MAX_BYTES)
		die(125, "srt-init: bad mount plan%s", "");
	size_t len = (size_t)st.st_size;
	char *buf = malloc(len + 1);
	if (!buf)
		die(125, "srt-init: out of memory%s", "");
	size_t off = 0;
	while (off < len) {
		ssize_t n = pread(fd, buf + off, len - off, (off_t)off);
		if (n <= 0)
			die(125, "srt-init: cannot read the mount plan%s", "");
		off += (size_t)n;
	}
	buf[len] = '\0';
	close(fd);

	size_t cap = plan_count(buf, len);
	struct plan_record *recs = calloc(cap ? cap : 1, sizeof(*recs));
	struct plan_op *ops = calloc(cap ? cap : 1, sizeof(*ops));
	if (!recs || !ops)
		die(125, "srt-init: out of memory%s", "");
	long parsed = plan_parse(buf, len, recs, cap);
	if (parsed < 0)
		die(125, "srt-init: malformed mount plan%s", "");
	size_t n_ops = (size_t)parsed;
	for (size_t i = 0; i < n_ops; i++)
		ops[i] = (struct plan_op){ .op = recs[i].op, .path = recs[i].path, .src = -1, .hex = recs[i].hex };
	free(recs);

	/* Our own mount namespace, owned by the user namespace we hold
	 * capabilities in (for an unprivileged caller bwrap nests a second
	 * user namespace, which does not own bwrap's mount namespace). */
	if (!own_mount_namespace()) {
		if (unshare(CLONE_NEWNS) < 0)
			die(125, "srt-init: cannot create a mount namespace: %s", strerror(errno));
		if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
			die(125, "srt-init: cannot make mounts private: %s", strerror(errno));
	}

	/* Sources are opened while the whole host view is still there: a
	 * path re-exposed inside a hidden folder is covered by the time it is
	 * bound. bwrap binds from its copy of the old root for the same
	 * reason. */
	for (size_t i = 0; i < n_ops; i++) {
		if (ops[i].op != 'w' && ops[i].op != 'r')
			continue;
		ops[i].src = open(ops[i].path, O_PATH | O_CLOEXEC);
		if (ops[i].src < 0) {
			fprintf(stderr, "srt: cannot set up the sandbox: %s: %s\n", ops[i].path, strerror(errno));
			exit(125);
		}
	}

	/* Opened while the whole host view is there too (and in our mount
	 * namespace: /proc/self/exe names a mount of srt's, which cannot be
	 * bound here). */
	int helper_fd = helper ? open(helper, O_PATH | O_CLOEXEC) : -1;

	/* A plan that hides the private /tmp itself (denyRead /tmp) wants it
	 * without the host's beneath: the empty tmpfs, writable as ever,
	 * rather than the overlay made unreadable and read-only. */
	const char *tmp_op_path = NULL;
	bool tmp_empty = false;
	for (size_t i = 0; i < n_ops; i++)
		if (ops[i].op == 'T')
			tmp_op_path = ops[i].path;
	for (size_t i = 0; i < n_ops && tmp_op_path; i++)
		if (ops[i].op == 'h' && strcmp(ops[i].path, tmp_op_path) == 0)
			tmp_empty = true;

	bool empty_made = false;
	for (size_t i = 0; i < n_ops; i++) {
		const char *path = ops[i].path;
		char src[64];
		int r;
		switch (ops[i].op) {
		case 'w':
		case 'r':
			if (fstat(ops[i].src, &st) < 0) {
				r = -1;
				break;
			}
			snprintf(src, sizeof(src), "/proc/self/fd/%d", ops[i].src);
			r = bind_onto(src, path, ops[i].op == 'r', S_ISDIR(st.st_mode));
			close(ops[i].src);
			break;
		case 'h':
			if (tmp_empty && strcmp(path, tmp_op_path) == 0) {
				r = 0; /* the empty private /tmp is that already */
				break;
			}
			r = mount("tmpfs", path, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=64k");
			/* In the private /tmp, a folder of the host's may be gone
			 * since the plan was made, and the empty fallback has none:
			 * a mount point made there is the sandbox's own. */
			if (r < 0 && errno == ENOENT && on_private_tmp(path) && make_mount_point(path, true) == 0)
				r = mount("tmpfs", path, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=64k");
			break;
		case 'T':
			r = -1;
			if (!tmp_empty && strlen(path) < sizeof(tmp_path)) {
				tmp_fallback_errno = (uint32_t)mount_tmp_overlay(path);
				r = tmp_fallback_errno ? -1 : 0;
			}
			if (r < 0)
				r = mount("tmpfs", path, "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777");
			if (r == 0 && stat(path, &st) == 0) {
				strcpy(tmp_path, path);
				tmp_dev = st.st_dev;
			}
			break;
		case 'f':
			if (!empty_made) {
				int e = open(EMPTY_FILE, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0);
				if (e < 0)
					die(125, "srt-init: cannot create " EMPTY_FILE ": %s", strerror(errno));
				close(e);
				empty_made = true;
			}
			r = bind_onto(EMPTY_FILE, path, true, false);
			break;
		case 'C':
			cover_with_hex(path, ops[i].hex);
			r = 0;
			break;
		case 'N':
		case 'H':
			if (ops[i].op == 'N') {
				cover_with_text(path, RESOLV_CONF);
			} else {
				/* The sandbox's own name is its own loopback's, as
				 * Debian writes it (127.0.1.1): programs that look
				 * it up (git, sudo, Java) find it without asking
				 * srt's DNS, which would refuse it. */
				char hosts[sizeof(HOSTS) + 2 * HOST_NAME_MAX + 64];
				char name[HOST_NAME_MAX + 1] = "";
				bool plain = gethostname(name, sizeof(name)) == 0 && name[0];
				for (const char *c = name; plain && *c; c++)
					plain = (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
						(*c >= '0' && *c <= '9') || *c == '-' || *c == '.';
				name[HOST_NAME_MAX] = '\0';
				if (plain && strcmp(name, "localhost") != 0)
					snprintf(hosts, sizeof(hosts), "%s127.0.1.1\t%s\n::1\t%s\n", HOSTS, name, name);
				else
					snprintf(hosts, sizeof(hosts), "%s", HOSTS);
				cover_with_text(path, hosts);
			}
			r = 0;
			break;
		default: /* 'R' */
			r = tmp_empty && strcmp(path, tmp_op_path) == 0 ? 0 : remount_ro(path);
			break;
		}
		if (r < 0) {
			fprintf(stderr, "srt: cannot set up the sandbox: mount (%c) %s: %s\n", ops[i].op, path,
				strerror(errno));
			exit(125);
		}
	}
	if (helper_fd >= 0)
		expose_connect_helper(helper_fd);
	if (ca_bundle_fd >= 0)
		expose_ca_bundle(ca_bundle_fd);
	protect_proc();
	/* The binds keep the empty file; nobody needs its name any more. */
	if (empty_made)
		unlink(EMPTY_FILE);
	free(ops);
	free(buf);
}

/* The kernel's knobs under /proc: read-only, whatever bwrap did. A
 * sandbox run by root maps uid 0 to the host's root, and the permission
 * bits of /proc/sys (core_pattern, sysrq) would let it write them. */
static void protect_proc(void)
{
	static const char *const knobs[] = { "/proc/sys", "/proc/sysrq-trigger", "/proc/irq", "/proc/bus" };
	for (size_t i = 0; i < sizeof(knobs) / sizeof(knobs[0]); i++) {
		struct stat st;
		struct statvfs sv;
		if (lstat(knobs[i], &st) < 0 || (statvfs(knobs[i], &sv) == 0 && (sv.f_flag & ST_RDONLY)))
			continue;
		if (bind_onto(knobs[i], knobs[i], true, S_ISDIR(st.st_mode)) < 0)
			die(125, "srt-init: cannot make %s read-only", knobs[i]);
	}
	/* /proc/keys is not per namespace: it lists every key the reader's
	 * uid may view, the caller's too (serial, description, owner), even
	 * though the sandbox cannot reach them (see
	 * join_own_session_keyring). Empty it, as container runtimes do. */
	struct stat st;
	if (lstat("/proc/keys", &st) == 0 && bind_onto("/dev/null", "/proc/keys", true, false) < 0)
		die(125, "srt-init: cannot hide /proc/keys: %s", strerror(errno));
}

/*
 * A session keyring of the sandbox's own, which the command inherits and
 * which goes away with the last process holding it. Otherwise the command
 * shares the caller's: the seccomp filter refuses every keyring call the
 * command makes, but the kernel still searches the session keyring on its
 * behalf (request_key from NFS, CIFS, AFS, fscrypt v1 keys). Joined before
 * that filter is loaded, since it refuses keyctl to us as well.
 */
static void join_own_session_keyring(void)
{
	if (syscall(SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, NULL) >= 0)
		return;
	int e = errno;
	/* A kernel built without keys: there is no keyring to share. EPERM:
	 * a seccomp filter above us (an outer srt sandbox, a container's
	 * default profile) refuses keyring calls to everything below it,
	 * and the keyring we keep is that sandbox's or container's, not the
	 * user's: srt must still run there. */
	if (e == ENOSYS || e == EPERM)
		return;
	/* Any other failure (a full key quota) would leave the command in
	 * the caller's session keyring: run nothing. */
	if (e == EDQUOT)
		die(125, "srt-init: cannot create the sandbox's session keyring: the user's key quota is full "
			 "(/proc/sys/kernel/keys)%s", "");
	die(125, "srt-init: cannot create the sandbox's session keyring: %s", strerror(e));
}

static void drop_capabilities(void)
{
	/* The bounding set first (that needs CAP_SETPCAP), so that executing
	 * a program as uid 0 inside cannot regain anything. */
	for (int cap = 0; cap <= 63; cap++)
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EINVAL)
			die(125, "srt-init: cannot drop capabilities: %s", strerror(errno));
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0)
		die(125, "srt-init: cannot clear ambient capabilities: %s", strerror(errno));
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
	struct __user_cap_data_struct data[2];
	memset(data, 0, sizeof(data));
	if (syscall(SYS_capset, &hdr, data) < 0)
		die(125, "srt-init: cannot drop capabilities: %s", strerror(errno));
}

#define MAX_LISTEN 1024

static void listen_failed(const char *spec, int e)
{
	fprintf(stderr, "srt: cannot listen on %s inside the sandbox: %s\n", spec, strerror(e));
	exit(125);
}

/* One listening socket at "a.b.c.d:port" or "[v6]:port"; -1 when IPv6 is
 * not available here (a ::1 listener is a courtesy, not a promise). */
static int make_listener(const char *spec)
{
	struct sockaddr_storage ss;
	socklen_t slen;
	memset(&ss, 0, sizeof(ss));
	char host[64];
	const char *colon = strrchr(spec, ':');
	size_t hl = colon ? (size_t)(colon - spec) : 0;
	char *end = NULL;
	unsigned long port = colon ? strtoul(colon + 1, &end, 10) : 0;
	if (!colon || hl == 0 || hl >= sizeof(host) || !end || *end || port == 0 || port > 65535)
		die(125, "srt-init: bad listening address %s", spec);
	memcpy(host, spec, hl);
	host[hl] = '\0';
	if (host[0] == '[' && hl > 2 && host[hl - 1] == ']') {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
		host[hl - 1] = '\0';
		if (inet_pton(AF_INET6, host + 1, &a->sin6_addr) != 1)
			die(125, "srt-init: bad listening address %s", spec);
		a->sin6_family = AF_INET6;
		a->sin6_port = htons((uint16_t)port);
		slen = sizeof(*a);
	} else {
		struct sockaddr_in *a = (struct sockaddr_in *)&ss;
		if (inet_pton(AF_INET, host, &a->sin_addr) != 1)
			die(125, "srt-init: bad listening address %s", spec);
		a->sin_family = AF_INET;
		a->sin_port = htons((uint16_t)port);
		slen = sizeof(*a);
	}
	int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		if (ss.ss_family == AF_INET6 && errno == EAFNOSUPPORT)
			return -1;
		listen_failed(spec, errno);
	}
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (ss.ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, slen) < 0) {
		int e = errno;
		if (e == EACCES && port < 1024)
			die(125, "cannot listen on %s inside the sandbox: a port below 1024 needs srt to run as "
				 "root (the sandbox of another user holds no capability in its network namespace)",
			    spec);
		close(fd);
		if (ss.ss_family == AF_INET6 && (e == EADDRNOTAVAIL || e == EAFNOSUPPORT))
			return -1;
		listen_failed(spec, e);
	}
	if (listen(fd, SOMAXCONN) < 0)
		listen_failed(spec, errno);
	return fd;
}

/* Make every listener, hand them over in batches, keep none. */
static void send_listeners(int sock, const char *const *addrs, size_t n)
{
	int fds[PROTO_MAX_FDS];
	uint32_t idx[PROTO_MAX_FDS];
	size_t nb = 0;
	for (size_t i = 0; i < n; i++) {
		int fd = make_listener(addrs[i]);
		if (fd >= 0) {
			fds[nb] = fd;
			idx[nb++] = (uint32_t)i;
		}
		if (nb == PROTO_MAX_FDS || (i + 1 == n && nb > 0)) {
			int r = proto_send(sock, PROTO_LISTEN, idx, (uint32_t)(nb * sizeof(idx[0])), fds, nb);
			if (r == -EPIPE || r == -ECONNRESET)
				exit(125);
			if (r < 0)
				die(125, "srt-init: cannot reach the supervisor: %s", strerror(-r));
			for (size_t k = 0; k < nb; k++)
				close(fds[k]);
			nb = 0;
		}
	}
}

/*
 * The DNS responder's sockets at 127.0.0.1:53 of the sandbox's network
 * namespace. bwrap run by another user than root makes that namespace in
 * a user namespace above ours, so our CAP_NET_BIND_SERVICE does not reach
 * port 53 there: such a socket goes over unbound, and the supervisor binds
 * it (its user owns that user namespace, which gives it the capability).
 * The command starts after HELLO, so nothing in the sandbox can take the
 * port first.
 */
static void send_dns_sockets(int sock)
{
	static const int types[2] = { SOCK_DGRAM, SOCK_STREAM };
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(53),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int fds[2];
	uint32_t bound[2];
	for (size_t i = 0; i < 2; i++) {
		fds[i] = socket(AF_INET, types[i] | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
		if (fds[i] < 0)
			listen_failed("127.0.0.1:53 (DNS)", errno);
		int one = 1;
		if (types[i] == SOCK_STREAM)
			setsockopt(fds[i], SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		bound[i] = 1;
		if (bind(fds[i], (struct sockaddr *)&a, sizeof(a)) < 0) {
			if (errno != EACCES)
				listen_failed("127.0.0.1:53 (DNS)", errno);
			bound[i] = 0;
		} else if (types[i] == SOCK_STREAM && listen(fds[i], SOMAXCONN) < 0) {
			listen_failed("127.0.0.1:53 (DNS)", errno);
		}
	}
	int r = proto_send(sock, PROTO_DNS, bound, sizeof(bound), fds, 2);
	if (r == -EPIPE || r == -ECONNRESET)
		exit(125);
	if (r < 0)
		die(125, "srt-init: cannot reach the supervisor: %s", strerror(-r));
	close(fds[0]);
	close(fds[1]);
}

/* Read a filter the supervisor built (classic BPF, see seccomp_filter.h)
 * from its memfd, which is closed. */
static struct sock_fprog read_filter(int fd)
{
	static struct sock_filter insns[BPF_MAXINSNS];
	struct stat st;
	if (fstat(fd, &st) < 0 || st.st_size <= 0 || st.st_size % (off_t)sizeof(insns[0]) != 0 ||
	    (unsigned long long)st.st_size > sizeof(insns))
		die(125, "srt-init: bad seccomp filter%s", "");
	size_t len = (size_t)st.st_size, off = 0;
	while (off < len) {
		ssize_t n = pread(fd, (char *)insns + off, len - off, (off_t)off);
		if (n <= 0)
			die(125, "srt-init: cannot read the seccomp filter%s", "");
		off += (size_t)n;
	}
	close(fd);
	return (struct sock_fprog){ .len = (unsigned short)(len / sizeof(insns[0])), .filter = insns };
}

/* Load the supervisor's seccomp filter into ourselves; what we fork
 * inherits it. */
static void load_filter(int fd)
{
	struct sock_fprog prog = read_filter(fd);
	if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0) < 0)
		die(125, "srt-init: cannot load the seccomp filter: %s", strerror(errno));
}

#if defined(__x86_64__)
#define NATIVE_AUDIT_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define NATIVE_AUDIT_ARCH AUDIT_ARCH_AARCH64
#endif

/* socket(AF_UNIX, ...) -> EPERM, as the enforcement filter does without an
 * observer (it left the rule to the notify filter). Only the low half of
 * the family counts, as for the kernel. Other architectures are the
 * enforcement filter's (it kills them). */
static void refuse_unix_sockets(void)
{
#ifdef NATIVE_AUDIT_ARCH
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	const unsigned arg0_low = offsetof(struct seccomp_data, args[0]);
#else
	const unsigned arg0_low = offsetof(struct seccomp_data, args[0]) + 4;
#endif
	struct sock_filter insns[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, NATIVE_AUDIT_ARCH, 0, 5),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_socket, 0, 3),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, arg0_low),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AF_UNIX, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA)),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { .len = (unsigned short)(sizeof(insns) / sizeof(insns[0])), .filter = insns };
	if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0) == 0)
		return;
	die(125, "srt-init: cannot refuse Unix sockets: %s", strerror(errno));
#else
	die(125, "srt-init: cannot refuse Unix sockets without the observer on this architecture%s", "");
#endif
}

/* A thread without the notify filter, to send HELLO (see main). */
struct hello_sender {
	int sock;
	int go[2];          /* a pipe: main writes when the message is ready */
	bool started;
	pthread_t thread;
	uint32_t words[7];
	int fds[3];
	size_t n_fds;
	int result;
};

static void *hello_sender_main(void *arg)
{
	struct hello_sender *hs = arg;
	char c;
	ssize_t n;
	do
		n = read(hs->go[0], &c, 1);
	while (n < 0 && errno == EINTR);
	hs->result = n == 1 ? proto_send(hs->sock, PROTO_HELLO, hs->words, sizeof(hs->words), hs->fds, hs->n_fds) :
			      -EPIPE;
	return NULL;
}

static void hello_sender_start(struct hello_sender *hs)
{
	if (pipe2(hs->go, O_CLOEXEC) < 0)
		die(125, "srt-init: pipe: %s", strerror(errno));
	int r = pthread_create(&hs->thread, NULL, hello_sender_main, hs);
	if (r)
		die(125, "srt-init: cannot start a thread: %s", strerror(r));
	hs->started = true;
}

static int hello_sender_finish(struct hello_sender *hs, const uint32_t words[7], const int *fds, size_t n_fds)
{
	memcpy(hs->words, words, sizeof(hs->words));
	for (size_t i = 0; i < n_fds && i < 3; i++)
		hs->fds[i] = fds[i];
	hs->n_fds = n_fds;
	ssize_t n;
	do
		n = write(hs->go[1], "x", 1);
	while (n < 0 && errno == EINTR);
	close(hs->go[1]);
	pthread_join(hs->thread, NULL);
	close(hs->go[0]);
	return hs->result;
}

/* The observer's notify filter (observer.h). Loaded last, right before
 * HELLO: a call of ours it traps would wait for an answer, and the
 * supervisor can answer only once it has the listener. After HELLO we only
 * fork; the command's execve is trapped and waits for the supervisor. Returns the listener (O_CLOEXEC), or -1
 * when the kernel refuses one: older than 5.0, or a filter above us has a
 * listener already (srt inside srt): one per chain. Then there is no
 * observer, which only reports; but the enforcement filter left
 * socket(AF_UNIX) to it, so unless Unix sockets are allowed we refuse them
 * here. */
#ifndef SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV
#define SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV (1UL << 5)
#endif

static int load_notify_filter(int fd, bool allow_unix, bool *killable)
{
	struct sock_fprog prog = read_filter(fd);
	/* Linux 5.19: once the supervisor has a call, only a fatal signal
	 * ends the caller's wait (broker.h, broker_set_killable). */
	long listener = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER,
				SECCOMP_FILTER_FLAG_NEW_LISTENER | SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV, &prog);
	*killable = listener >= 0;
	if (listener < 0 && errno == EINVAL)
		listener = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER, &prog);
	if (listener >= 0)
		return (int)listener;
	if (!allow_unix)
		refuse_unix_sockets();
	return -1;
}

/* The host's /tmp entries the command changed or deleted in its private
 * /tmp: what the upper layer holds that the host's /tmp has too. A walk
 * of the upper layer that descends only into folders both have, and
 * looks at no more than this many entries (it runs while srt waits). */
#define TMP_REPORT_MAX_ENTRIES 10000
#define TMP_REPORT_MAX_DEPTH 32

struct tmp_report {
	char *buf;        /* the payload's room for paths */
	size_t len, cap;
	uint32_t n;       /* found, listed or not */
	size_t seen;
};

static void tmp_report_add(struct tmp_report *t, const char *rel, const char *name)
{
	t->n++;
	int n = snprintf(t->buf + t->len, t->cap - t->len, "%s%s/%s", tmp_path, rel, name);
	if (n >= 0 && (size_t)n < t->cap - t->len)
		t->len += (size_t)n + 1;
	else
		t->cap = t->len; /* full: later paths are only counted */
}

/* upper: a folder of the upper layer (consumed); lower: the same folder
 * of the host's /tmp; rel: its path below /tmp ("" or "/a/b"). */
static void tmp_walk(int upper, int lower, char *rel, size_t rel_len, int depth, struct tmp_report *t)
{
	DIR *d = fdopendir(upper);
	if (!d) {
		close(upper);
		return;
	}
	struct dirent *de;
	while ((de = readdir(d)) && t->seen < TMP_REPORT_MAX_ENTRIES) {
		const char *name = de->d_name;
		if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
			continue;
		t->seen++;
		struct stat ust, lst;
		if (fstatat(lower, name, &lst, AT_SYMLINK_NOFOLLOW) < 0)
			continue; /* the command's own */
		if (fstatat(dirfd(d), name, &ust, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		/* A folder both have is a copy made to hold a change inside
		 * (look there), unless it is opaque: the host's was deleted
		 * and this one made in its place. A whiteout (a character
		 * device 0:0) is a deletion; anything else replaced the host's. */
		if (S_ISDIR(ust.st_mode) && S_ISDIR(lst.st_mode)) {
			int sub = openat(dirfd(d), name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (sub < 0)
				continue;
			char opaque = 0;
			if (fgetxattr(sub, "user.overlay.opaque", &opaque, 1) == 1 && opaque == 'y') {
				close(sub);
				tmp_report_add(t, rel, name);
				continue;
			}
			size_t nl = strlen(name);
			int lsub = depth < TMP_REPORT_MAX_DEPTH && rel_len + 1 + nl < PATH_MAX ?
				   openat(lower, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) : -1;
			if (lsub < 0) {
				close(sub);
				continue;
			}
			rel[rel_len] = '/';
			memcpy(rel + rel_len + 1, name, nl + 1);
			tmp_walk(sub, lsub, rel, rel_len + 1 + nl, depth + 1, t);
			rel[rel_len] = '\0';
			close(lsub);
			continue;
		}
		tmp_report_add(t, rel, name);
	}
	closedir(d);
}

/* Tell the supervisor the status we are about to exit with, and what
 * became of the private /tmp (the layout: MOUNT_TMP_REPORT_HEAD), then
 * exit. The supervisor may be gone: ignored. */
static void __attribute__((noreturn)) exit_reporting(int sock, int status)
{
	if (sock >= 0) {
		/* Never wait for a supervisor that does not read. */
		int fl = fcntl(sock, F_GETFL);
		if (fl >= 0)
			fcntl(sock, F_SETFL, fl | O_NONBLOCK);
		static char msg[PROTO_MAX_PAYLOAD];
		int32_t st = status;
		uint32_t head[2] = { tmp_fallback_errno, 0 };
		_Static_assert(sizeof(st) + sizeof(head) == MOUNT_TMP_REPORT_HEAD, "PROTO_EXIT's /tmp report");
		struct tmp_report t = { .buf = msg + MOUNT_TMP_REPORT_HEAD,
					.cap = sizeof(msg) - MOUNT_TMP_REPORT_HEAD };
		/* What the command left behind dies with us anyway; now, and
		 * reaped, so that the private /tmp holds still and PROTO_EXIT
		 * comes when nothing of the sandbox runs any more. */
		if (getpid() == 1) {
			kill(-1, SIGKILL);
			while (waitpid(-1, NULL, __WALL) > 0 || errno == EINTR)
				;
		}
		if (tmp_upper_fd >= 0) {
			int upper = openat(tmp_upper_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
			static char rel[PATH_MAX];
			rel[0] = '\0';
			if (upper >= 0)
				tmp_walk(upper, tmp_lower_fd, rel, 0, 0, &t);
			head[1] = t.n;
		}
		memcpy(msg, &st, sizeof(st));
		memcpy(msg + sizeof(st), head, sizeof(head));
		(void)proto_send(sock, PROTO_EXIT, msg, (uint32_t)(MOUNT_TMP_REPORT_HEAD + t.len), NULL, 0);
	}
	exit(status);
}

/* The file at path has no #! line (ENOEXEC): run it with sh, as execvp
 * does. Returns with errno set. */
static void exec_as_script(const char *path, char **cmd)
{
	size_t argc = 0;
	while (cmd[argc])
		argc++;
	char **sh = calloc(argc + 2, sizeof(*sh));
	if (!sh) {
		errno = ENOEXEC;
		return;
	}
	sh[0] = "sh";
	sh[1] = (char *)path;
	for (size_t i = 1; i <= argc; i++)
		sh[i + 1] = cmd[i];
	execv("/bin/sh", sh);
	free(sh);
}

/* execvp(cmd[0], cmd), with one execve per name that exists: the observer
 * traps every execve (to report hidden programs), and execvp tries one in
 * each folder of $PATH, a round trip to the supervisor each. A folder
 * without the name is passed over with a stat; a name that exists is
 * tried as execvp tries it. Returns with errno set, as execvp does. */
static void exec_search(char **cmd)
{
	const char *file = cmd[0];
	if (!*file) {
		errno = ENOENT;
		return;
	}
	if (strchr(file, '/')) {
		execv(file, cmd);
		if (errno == ENOEXEC)
			exec_as_script(file, cmd);
		return;
	}
	const char *path = getenv("PATH");
	if (!path)
		path = "/bin:/usr/bin"; /* glibc's default */
	size_t flen = strlen(file);
	bool eacces = false;
	static char full[PATH_MAX];
	for (const char *p = path;; p++) {
		const char *end = strchrnul(p, ':');
		size_t dlen = (size_t)(end - p);
		if (dlen + 1 + flen + 1 <= sizeof(full)) {
			/* An empty entry is the current folder. */
			memcpy(full, dlen ? p : ".", dlen ? dlen : 1);
			size_t n = dlen ? dlen : 1;
			full[n] = '/';
			memcpy(full + n + 1, file, flen + 1);
			struct stat st;
			if (stat(full, &st) == 0) {
				execv(full, cmd);
				if (errno == ENOEXEC) {
					exec_as_script(full, cmd);
					return;
				}
			}
			switch (errno) {
			case EACCES:
				eacces = true;
				break;
			case ENOENT:
			case ENOTDIR:
			case ESTALE:
			case ENODEV:
			case ETIMEDOUT:
				break;
			default:
				return;
			}
		}
		if (!*end)
			break;
		p = end;
	}
	/* Not found, or found but not executable: execvp itself now, whose
	 * execve in every folder the observer sees, so that a program
	 * hidden by a denyRead folder on $PATH is reported as it was. Only
	 * a command that fails pays for it. */
	execvp(file, cmd);
	if (errno != ENOENT && errno != EACCES)
		return;
	errno = eacces ? EACCES : errno;
}

static int exec_command(char **cmd, bool shell)
{
	if (shell) {
		/* cmd[-2], cmd[-1] are ours (see main): room for "bash -c". */
		char **argv = cmd - 2;
		argv[0] = "bash";
		argv[1] = "-c";
		execv("/bin/bash", argv);
		argv[0] = "sh";
		execv("/bin/sh", argv);
		fprintf(stderr, "srt: no shell to run -c: neither /bin/bash nor /bin/sh can be executed: %s\n",
			strerror(errno));
		return 127;
	}
	exec_search(cmd);
	int e = errno;
	if (e == ENOENT || (e == ENOTDIR && !strchr(cmd[0], '/'))) {
		fprintf(stderr, "srt: %s: command not found\n", cmd[0]);
		return 127;
	}
	fprintf(stderr, "srt: %s: cannot execute: %s\n", cmd[0], strerror(e));
	return 126;
}

/* Our own binary at CONNECT_HELPER inside the sandbox, read-only, so that
 * ssh's ProxyCommand can run `CONNECT_HELPER proxy-connect HOST PORT`
 * wherever srt is installed (its own folder may be hidden: a denyRead, or
 * the private /tmp). */
static void expose_connect_helper(int src)
{
	int fd = open(CONNECT_HELPER, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0);
	if (fd < 0)
		die(125, "srt-init: cannot create " CONNECT_HELPER ": %s", strerror(errno));
	close(fd);
	char path[64];
	snprintf(path, sizeof(path), "/proc/self/fd/%d", src);
	if (bind_onto(path, CONNECT_HELPER, true, false) < 0)
		die(125, "srt-init: cannot expose " CONNECT_HELPER ": %s", strerror(errno));
	close(src);
}

/* The trust bundle at CA_BUNDLE_FILE: its own file in /dev, read-only
 * (a mount of its own, which the command cannot undo). */
static void expose_ca_bundle(int src)
{
	int fd = open(CA_BUNDLE_FILE, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0444);
	if (fd < 0)
		die(125, "srt-init: cannot create " CA_BUNDLE_FILE ": %s", strerror(errno));
	char buf[65536];
	off_t off = 0;
	for (;;) {
		ssize_t n = pread(src, buf, sizeof(buf), off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			die(125, "srt-init: cannot read the trust bundle: %s", strerror(errno));
		if (n == 0)
			break;
		for (ssize_t w = 0; w < n;) {
			ssize_t k = write(fd, buf + w, (size_t)(n - w));
			if (k < 0 && errno == EINTR)
				continue;
			if (k < 0)
				die(125, "srt-init: cannot write " CA_BUNDLE_FILE ": %s", strerror(errno));
			w += k;
		}
		off += n;
	}
	close(fd);
	close(src);
	if (bind_onto(CA_BUNDLE_FILE, CA_BUNDLE_FILE, true, false) < 0)
		die(125, "srt-init: cannot expose " CA_BUNDLE_FILE ": %s", strerror(errno));
}

int main(int argc, char **argv)
{
	/* Run as ssh's ProxyCommand inside the sandbox (see above). */
	if (argc >= 2 && strcmp(argv[1], "proxy-connect") == 0)
		return cli_proxy_connect(argc - 2, argv + 2);
	/* What a program using the library spawns (srt_runtime_wrap). */
	if (argc >= 2 && strcmp(argv[1], "launch") == 0)
		return launch_main(argc - 2, argv + 2);
	int sock = -1;
	int plan_fd = -1;
	bool plan_from_sock = false;
	const char *cwd = NULL;
	unsigned long ignore_mask = 0;
	bool shell = false;
	int filter_fd = -1;
	int notify_fd = -1;         /* the observer's filter */
	bool allow_unix = false;    /* PROTO_PLAN_ALLOW_UNIX */
	bool need_listener = false; /* PROTO_PLAN_NEED_LISTENER */
	static const char *listen_addrs[MAX_LISTEN];
	const char *helper = NULL;
	size_t n_listen = 0;
	bool dns = false;
	bool clear_env = false;
	char **env_ops = calloc((size_t)argc + 1, sizeof(*env_ops));
	size_t n_env = 0;
	if (!env_ops)
		die(125, "srt-init: out of memory%s", "");
	int i;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0) {
			i++;
			break;
		} else if (strcmp(argv[i], "--sock") == 0 && i + 1 < argc) {
			sock = atoi(argv[++i]);
		} else if (strcmp(argv[i], "--close") == 0 && i + 1 < argc) {
			/* fds the supervisor handed bwrap for us: not the command's */
			int fd = atoi(argv[++i]);
			if (fd > 2)
				close(fd);
		} else if (strcmp(argv[i], "--helper") == 0 && i + 1 < argc) {
			helper = argv[++i];
		} else if (strcmp(argv[i], "--listen") == 0 && i + 1 < argc) {
			if (n_listen < MAX_LISTEN)
				listen_addrs[n_listen++] = argv[++i];
			else
				die(125, "srt-init: too many listening addresses%s", "");
		} else if (strcmp(argv[i], "--dns") == 0) {
			dns = true;
		} else if (strcmp(argv[i], "--plan-from-sock") == 0) {
			plan_from_sock = true;
		} else if (strcmp(argv[i], "--chdir") == 0 && i + 1 < argc) {
			cwd = argv[++i];
		} else if (strcmp(argv[i], "--ignore-mask") == 0 && i + 1 < argc) {
			ignore_mask = strtoul(argv[++i], NULL, 10);
		} else if (strcmp(argv[i], "--shell") == 0) {
			shell = true;
		} else if (strcmp(argv[i], "--clearenv") == 0) {
			clear_env = true;
		} else if (strcmp(argv[i], "--env") == 0 && i + 1 < argc && argv[i + 1][0] && argv[i + 1][0] != '=') {
			env_ops[n_env++] = argv[++i];
		} else {
			die(125, "srt-init: unknown argument %s", argv[i]);
		}
	}
	/* At least two of our own words precede the command, so a shell
	 * command can borrow their slots. */
	if (i >= argc || i < 3)
		die(125, "srt-init: no command%s", "");
	char **cmd = argv + i;

	if (getpid() != 1)
		die(125, "srt-init: must run as PID 1 of a new PID namespace%s", "");
	/* bwrap passed it without close-on-exec; the command must not get it. */
	if (sock >= 0)
		fcntl(sock, F_SETFD, FD_CLOEXEC);

	/* We were executed as /proc/self/fd/N: give ps a real name. */
	prctl(PR_SET_NAME, "srt-init", 0, 0, 0);
	/* The supervisor sends the plan once the placeholders it names exist
	 * (it made them while bwrap was setting up). */
	if (plan_from_sock) {
		uint32_t type = 0;
		static char payload[PROTO_MAX_PAYLOAD];
		int fds[PROTO_MAX_FDS];
		size_t nfds = 0;
		uint32_t plan_len = 0;
		int r = sock >= 0 ? proto_recv(sock, &type, payload, &plan_len, fds, &nfds, NULL) : -EBADF;
		if (r < 0)
			exit(125); /* the supervisor is gone or failed: run nothing */
		uint32_t flags = 0;
		if (plan_len == sizeof(uint32_t))
			memcpy(&flags, payload, sizeof(flags));
		if (type == PROTO_PLAN && (flags & PROTO_PLAN_CA_BUNDLE) && nfds >= 3) {
			ca_bundle_fd = fds[nfds - 1];
			nfds--;
		}
		if (type != PROTO_PLAN || (nfds != 2 && nfds != 3) ||
		    (plan_len != 0 && plan_len != sizeof(uint32_t)))
			die(125, "srt-init: expected the mount plan and seccomp filter from the supervisor%s", "");
		plan_fd = fds[0];
		filter_fd = fds[1];
		notify_fd = nfds == 3 ? fds[2] : -1;
		allow_unix = flags & PROTO_PLAN_ALLOW_UNIX;
		need_listener = flags & PROTO_PLAN_NEED_LISTENER;
	}

	/* Every bind source stays open until it is mounted: lift the soft
	 * limit for that, and give the command the limit we were given. */
	struct rlimit nofile;
	bool nofile_raised = false;
	if (plan_fd >= 0 && getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur < nofile.rlim_max) {
		struct rlimit raised = { nofile.rlim_max, nofile.rlim_max };
		nofile_raised = setrlimit(RLIMIT_NOFILE, &raised) == 0;
	}
	/* The listeners while srt-init holds its capabilities: a port below
	 * 1024 needs CAP_NET_BIND_SERVICE (which a root srt's sandbox has). */
	if (sock >= 0 && n_listen > 0)
		send_listeners(sock, listen_addrs, n_listen);
	if (sock >= 0 && dns)
		send_dns_sockets(sock);
	if (plan_fd >= 0)
		apply_plan(plan_fd, helper);
	if (nofile_raised)
		setrlimit(RLIMIT_NOFILE, &nofile);
	/* After the mounts: the old directory may lie under one of them. */
	if (cwd && chdir(cwd) < 0)
		die(125, "the current directory %s is not visible inside the sandbox", cwd);
	drop_capabilities();

	/* Nobody inside may ptrace us or read our memory. */
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
		die(125, "srt-init: PR_SET_DUMPABLE: %s", strerror(errno));
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		die(125, "srt-init: PR_SET_NO_NEW_PRIVS: %s", strerror(errno));

	/* PID 1 only receives signals it has a handler for, so install one,
	 * then block them and collect them synchronously. */
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	struct sigaction sa = { .sa_handler = noop_handler };
	sigemptyset(&sa.sa_mask);
	for (size_t k = 0; k < sizeof(forwarded) / sizeof(forwarded[0]); k++) {
		sigaction(forwarded[k], &sa, NULL);
		sigaddset(&set, forwarded[k]);
	}
	sigaction(SIGCHLD, &sa, NULL);
	sigset_t oldset;
	sigprocmask(SIG_BLOCK, &set, &oldset);

	/* Never run the command without the filter. */
	if (filter_fd < 0)
		die(125, "srt-init: no seccomp filter was given%s", "");
	join_own_session_keyring();
	load_filter(filter_fd);

	if (sock >= 0) {
		/* The command starts at once: the supervisor has everything it
		 * needs to judge its calls before it reads the first one, and a
		 * trapped call waits for it meanwhile. */
		bool killable = false;
		/* HELLO hands the listener over with sendmsg, which the notify
		 * filter traps (the connect broker carries sends out): the
		 * listener's supervisor would have to answer the very call
		 * that brings it the listener. A filter is the loading
		 * thread's own, so a thread started before it sends HELLO. */
		/* The private /tmp's overlay: the kernel names a socket bound
		 * there by the overlay's device, while stat() shows a file
		 * there with a device of its layer's (the connect broker
		 * matches the two by the mount). Before the notify filter: it
		 * traps the probe's open. */
		uint32_t words[7] = { 0 };
		struct statx sx;
		struct stat ust;
		int probe = -1;
		/* A file of the upper layer (one without a name) shows the
		 * upper layer's device: a file with another (the host's /tmp
		 * beneath) was never bound in here. */
		if (tmp_upper_fd >= 0 && statx(AT_FDCWD, tmp_path, 0, STATX_MNT_ID, &sx) == 0 &&
		    (sx.stx_mask & STATX_MNT_ID) &&
		    (probe = open(tmp_path, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600)) >= 0 && fstat(probe, &ust) == 0) {
			words[0] |= PROTO_HELLO_TMP_OVERLAY;
			words[1] = sx.stx_dev_major;
			words[2] = sx.stx_dev_minor;
			words[3] = (uint32_t)sx.stx_mnt_id;
			words[4] = (uint32_t)(sx.stx_mnt_id >> 32);
			words[5] = major(ust.st_dev);
			words[6] = minor(ust.st_dev);
		}
		if (probe >= 0)
			close(probe);
		struct hello_sender hs = { .sock = sock, .go = { -1, -1 } };
		if (notify_fd >= 0)
			hello_sender_start(&hs);
		int listener = notify_fd >= 0 ? load_notify_filter(notify_fd, allow_unix, &killable) : -1;
		/* The command starts right after HELLO: without the listener
		 * the write guard could not see it, so it must not start. */
		if (listener < 0 && need_listener)
			die(125, "srt-init: the write guard cannot start: the kernel refused a seccomp listener%s",
			    " (another one is in use above srt: a supervisor, a container runtime's interception, "
			    "srt inside srt); the command does not run");
		uint32_t hello = killable ? PROTO_HELLO_KILLABLE : 0;
		hello |= words[0];
		/* With the listener, a sock_diag socket of the sandbox's
		 * network namespace: the connect broker tells the sockets bound
		 * in here by it. */
		int hfds[3];
		size_t nh = 0;
		if (listener >= 0) {
			hfds[nh++] = listener;
			hello |= PROTO_HELLO_LISTENER;
			int diag = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
			if (diag >= 0) {
				hfds[nh++] = diag;
				hello |= PROTO_HELLO_DIAG;
			}
		}
		/* Our pid for the supervisor, should the credentials the kernel
		 * attaches name another process (an srt above this one carries
		 * our sends out). */
		int self = (int)syscall(SYS_pidfd_open, getpid(), 0);
		if (self >= 0) {
			hfds[nh++] = self;
			hello |= PROTO_HELLO_PIDFD;
		}
		words[0] = hello;
		int r = hs.started ? hello_sender_finish(&hs, words, hfds, nh) :
				     proto_send(sock, PROTO_HELLO, words, sizeof(words), hfds, nh);
		for (size_t i = 0; i < nh; i++)
			close(hfds[i]);
		if (r == -EPIPE || r == -ECONNRESET)
			exit(125); /* srt is gone (killed): run nothing, quietly */
		if (r < 0)
			die(125, "srt-init: cannot reach the supervisor: %s", strerror(-r));
		/* sock stays open for PROTO_EXIT; the command does not inherit
		 * it (close-on-exec, set above). */
	}

	/* Signals that arrived before the command existed end the sandbox. */
	sigset_t pending;
	sigpending(&pending);
	for (size_t k = 0; k < sizeof(forwarded) / sizeof(forwarded[0]); k++)
		if (sigismember(&pending, forwarded[k]) &&
		    (forwarded[k] == SIGINT || forwarded[k] == SIGTERM ||
		     forwarded[k] == SIGHUP || forwarded[k] == SIGQUIT))
			exit_reporting(sock, 128 + forwarded[k]);

	pid_t child = fork();
	if (child < 0)
		die(125, "srt-init: fork: %s", strerror(errno));
	if (child == 0) {
		struct sigaction dfl = { .sa_handler = SIG_DFL };
		sigemptyset(&dfl.sa_mask);
		for (size_t k = 0; k < sizeof(forwarded) / sizeof(forwarded[0]); k++) {
			int sig = forwarded[k];
			bool ign = sig < (int)(8 * sizeof(ignore_mask)) && (ignore_mask & (1ul << sig));
			struct sigaction ign_sa = { .sa_handler = SIG_IGN };
			sigemptyset(&ign_sa.sa_mask);
			sigaction(sig, ign ? &ign_sa : &dfl, NULL);
		}
		sigaction(SIGCHLD, &dfl, NULL);
		sigprocmask(SIG_SETMASK, &oldset, NULL);
		if (clear_env)
			clearenv();
		for (size_t k = 0; k < n_env; k++) {
			char *eq = strchr(env_ops[k], '=');
			if (!eq) {
				unsetenv(env_ops[k]);
				continue;
			}
			*eq = '\0';
			setenv(env_ops[k], eq + 1, 1);
			*eq = '=';
		}
		_exit(exec_command(cmd, shell));
	}

	for (;;) {
		siginfo_t si;
		int sig = sigwaitinfo(&set, &si);
		if (sig < 0)
			continue;
		if (sig == SIGCHLD) {
			int status;
			pid_t p;
			while ((p = waitpid(-1, &status, WNOHANG)) > 0) {
				if (p != child)
					continue;
				/* Exiting as PID 1 kills whatever the command left behind. */
				if (WIFEXITED(status))
					exit_reporting(sock, WEXITSTATUS(status));
				if (WIFSIGNALED(status))
					exit_reporting(sock, 128 + WTERMSIG(status));
			}
			continue;
		}
		/* A signal the terminal sent (SI_KERNEL) already reached the
		 * command, which shares our process group; forward only the
		 * ones sent with kill() from outside. */
		if (si.si_code == SI_KERNEL)
			continue;
		kill(child, sig);
	}
}
