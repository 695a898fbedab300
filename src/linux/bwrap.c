/* mount plan + launch options -> bubblewrap's argument list, passed through a memfd with --args. */
#include "linux/bwrap.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

/* Arguments accumulate in memory and go out in one write. */
struct argbuf {
	char *data;
	size_t len, cap;
	int failed;
};

/* n bytes of s and the NUL after them (s may hold NULs before). */
static void argn(struct argbuf *b, const char *s, size_t len)
{
	size_t n = len + 1;
	if (b->failed)
		return;
	if (b->len + n > b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 4096;
		while (cap < b->len + n)
			cap *= 2;
		char *d = realloc(b->data, cap);
		if (!d) {
			b->failed = -ENOMEM;
			return;
		}
		b->data = d;
		b->cap = cap;
	}
	memcpy(b->data + b->len, s, n);
	b->len += n;
}

static void arg(struct argbuf *b, const char *s)
{
	argn(b, s, strlen(s));
}

static void arg2(struct argbuf *b, const char *a, const char *c)
{
	arg(b, a);
	arg(b, c);
}

static void arg3(struct argbuf *b, const char *a, const char *c, const char *d)
{
	arg(b, a);
	arg(b, c);
	arg(b, d);
}

int bwrap_find(const char *configured, char **ret, struct srt_error *err)
{
	if (configured) {
		if (access(configured, X_OK) == 0)
			return (*ret = strdup(configured)) ? 0 : -ENOMEM;
		return srt_error_set(err, -ENOENT,
				     "bubblewrap not found at %s (bwrapPath in the settings): %s",
				     configured, strerror(errno));
	}
	const char *path = getenv("PATH");
	if (!path || !*path)
		path = "/usr/bin:/bin";
	const char *p = path;
	while (*p) {
		const char *end = strchr(p, ':');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		if (len > 0) {
			char *cand = str_printf("%.*s/bwrap", (int)len, p);
			if (!cand)
				return -ENOMEM;
			if (access(cand, X_OK) == 0) {
				*ret = cand;
				return 0;
			}
			free(cand);
		}
		if (!end)
			break;
		p = end + 1;
	}
	if (access("/usr/bin/bwrap", X_OK) == 0)
		return (*ret = strdup("/usr/bin/bwrap")) ? 0 : -ENOMEM;
	return srt_error_set(err, -ENOENT,
			     "bubblewrap (bwrap) is not installed; install it with: apt-get install bubblewrap "
			     "(Fedora: dnf install bubblewrap)");
}

static int read_int_file(const char *path)
{
	char buf[32];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	return atoi(buf);
}

/* Whether this process runs in an srt sandbox: an ancestor is srt-init.
 * The command cannot rename its ancestors (a task's comm is written only
 * by its own threads), and the walk up the parents also works when /proc
 * is the host's (enableWeakerNestedSandbox), where PID 1 is not srt-init.
 * A process that names itself srt-init only changes a message. */
static bool inside_srt_sandbox(void)
{
	/* From /proc/self, not getppid(): the host's /proc numbers processes
	 * in the host's PID namespace, not in ours. */
	int pid = 0;
	for (int depth = 0; depth < 64; depth++) {
		char path[64], buf[512];
		if (depth == 0)
			snprintf(path, sizeof(path), "/proc/self/stat");
		else if (pid > 0)
			snprintf(path, sizeof(path), "/proc/%d/stat", pid);
		else
			return false;
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			return false;
		ssize_t n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (n <= 0)
			return false;
		buf[n] = '\0';
		/* "PID (COMM) STATE PPID ...": COMM may hold spaces and ')' */
		char *open_paren = strchr(buf, '('), *close_paren = strrchr(buf, ')');
		if (!open_paren || !close_paren || close_paren < open_paren)
			return false;
		if (close_paren - open_paren - 1 == 8 && memcmp(open_paren + 1, "srt-init", 8) == 0)
			return true;
		char state;
		if (sscanf(close_paren + 1, " %c %d", &state, &pid) != 2)
			return false;
	}
	return false;
}

/* What stops a nested sandbox, tried in a child that ends at once
 * (unshare of a user namespace needs a single-threaded caller, and must
 * not change srt itself), in the order bwrap and srt-init meet them:
 * 1 when the outer sandbox refuses new user namespaces, 2 when one can be
 * made but our uid cannot be mapped into it (root in the outer sandbox:
 * mapping uid 0 needs CAP_SETFCAP, which the outer sandbox dropped), 0
 * when both work, -1 when the test itself failed. */
static int nested_sandbox_probe(void)
{
	char map[64];
	int len = snprintf(map, sizeof(map), "%u %u 1\n", (unsigned)geteuid(), (unsigned)geteuid());
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		if (unshare(CLONE_NEWUSER) < 0)
			_exit(1);
		int fd = open("/proc/self/uid_map", O_WRONLY | O_CLOEXEC);
		if (fd < 0 || write(fd, map, (size_t)len) != len)
			_exit(2);
		_exit(0);
	}
	int status;
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -1;
	return WIFEXITED(status) && WEXITSTATUS(status) <= 2 ? WEXITSTATUS(status) : -1;
}

const char *bwrap_userns_hint(bool host_proc)
{
	if (inside_srt_sandbox()) {
		int probe = nested_sandbox_probe();
		if (probe == 1)
			return "srt is running inside an srt sandbox, which refuses nested user namespaces; "
			       "to run srt in it, set \"allowNestedUserNamespaces\": true in the outer srt's settings";
		if (probe == 2)
			return "srt is running as root inside an srt sandbox, which holds no capabilities, "
			       "so uid 0 cannot be mapped into a nested sandbox; run the outer srt as an "
			       "ordinary user";
		/* Every srt sandbox has read-only mounts over parts of its /proc
		 * (/proc/sys, /proc/bus, ...): the kernel refuses a fresh /proc
		 * in a user namespace whose only /proc view has such locked
		 * mounts on it. */
		if (probe == 0 && !host_proc)
			return "srt is running inside an srt sandbox, where a fresh /proc cannot be mounted; "
			       "set \"enableWeakerNestedSandbox\": true in the inner srt's settings "
			       "(the inner sandbox then shares the outer one's /proc)";
		return NULL;
	}
	if (read_int_file("/proc/sys/user/max_user_namespaces") == 0)
		return "user namespaces are disabled (user.max_user_namespaces = 0); "
		       "enable them with: sysctl -w user.max_user_namespaces=15000";
	if (read_int_file("/proc/sys/kernel/unprivileged_userns_clone") == 0)
		return "unprivileged user namespaces are disabled; "
		       "enable them with: sysctl -w kernel.unprivileged_userns_clone=1";
	if (read_int_file("/proc/sys/kernel/apparmor_restrict_unprivileged_userns") == 1)
		return "AppArmor restricts unprivileged user namespaces (Ubuntu 24.04 and later); "
		       "allow bwrap with an AppArmor profile, or run: "
		       "sysctl -w kernel.apparmor_restrict_unprivileged_userns=0";
	return NULL;
}

int bwrap_write_plan(const struct mount_plan *plan, int *ret_fd, struct srt_error *err)
{
	return bwrap_write_plan_covers(plan, NULL, 0, ret_fd, err);
}

int bwrap_write_plan_covers(const struct mount_plan *plan, const struct bwrap_cover *covers, size_t n_covers,
			    int *ret_fd, struct srt_error *err)
{
	struct argbuf b = { 0 };
	char rec[2] = { 0, 0 };
	/* srt-init mounts the private /tmp after it opened the sources of
	 * the binds, so host paths below /tmp can still be brought in. */
	if (plan->private_tmp)
		arg(&b, "T/tmp");
	for (size_t i = 0; i < plan->n_ops; i++) {
		const struct mount_op *op = &plan->ops[i];
		switch (op->kind) {
		case MOUNT_BIND_RW: rec[0] = 'w'; break;
		case MOUNT_BIND_RO: rec[0] = 'r'; break;
		case MOUNT_HIDE_DIR: rec[0] = 'h'; break;
		case MOUNT_HIDE_FILE: rec[0] = 'f'; break;
		}
		/* op byte and path as one NUL-terminated record */
		char *r = str_printf("%c%s", rec[0], op->path);
		if (!r) {
			free(b.data);
			return srt_error_set(err, -ENOMEM, "out of memory");
		}
		arg(&b, r);
		free(r);
	}
	/* Hidden directories become read-only after everything inside them
	 * was mounted: innermost first. */
	for (size_t i = plan->n_ops; i-- > 0;)
		if (plan->ops[i].kind == MOUNT_HIDE_DIR) {
			char *r = str_printf("R%s", plan->ops[i].path);
			if (!r) {
				free(b.data);
				return srt_error_set(err, -ENOMEM, "out of memory");
			}
			arg(&b, r);
			free(r);
		}
	/* Last: they cover whatever the sandbox would see at these paths once
	 * every other mount is made. */
	if (plan->resolver_files) {
		arg(&b, "N/etc/resolv.conf");
		arg(&b, "H/etc/hosts");
	}
	/* Masked credential files: 'C' path NUL, then the content in hex. */
	for (size_t i = 0; i < n_covers && !b.failed; i++) {
		size_t plen = strlen(covers[i].path);
		char *r = malloc(1 + plen + 1 + 2 * covers[i].len + 1);
		if (!r) {
			b.failed = -ENOMEM;
			break;
		}
		r[0] = 'C';
		memcpy(r + 1, covers[i].path, plen + 1);
		static const char hex[] = "0123456789abcdef";
		char *h = r + 1 + plen + 1;
		for (size_t k = 0; k < covers[i].len; k++) {
			h[2 * k] = hex[(unsigned char)covers[i].data[k] >> 4];
			h[2 * k + 1] = hex[(unsigned char)covers[i].data[k] & 15];
		}
		h[2 * covers[i].len] = '\0';
		argn(&b, r, 1 + plen + 1 + 2 * covers[i].len);
		free(r);
	}
	if (b.failed) {
		free(b.data);
		return srt_error_set(err, -ENOMEM, "out of memory");
	}
	int fd = memfd_create("srt-mount-plan", MFD_CLOEXEC);
	if (fd < 0) {
		free(b.data);
		return srt_error_set(err, -errno, "memfd_create: %s", strerror(errno));
	}
	int r = fd_write_all(fd, b.data, b.len);
	free(b.data);
	if (r < 0) {
		close(fd);
		return srt_error_set(err, r, "writing the mount plan: %s", strerror(-r));
	}
	*ret_fd = fd;
	return 0;
#undef TAIL_PUSH
}

int bwrap_write_args(const struct mount_plan *plan, const struct bwrap_launch *l,
		     int *ret_fd, struct strv *tail, struct srt_error *err)
{
#define TAIL_PUSH(x) do { if (strv_push(tail, (x)) < 0) b.failed = -ENOMEM; } while (0)
	struct argbuf b = { 0 };
	char num[32];
	/* Created first: srt-init must learn its number to close it. */
	int fd = memfd_create("srt-bwrap-args", MFD_CLOEXEC);
	if (fd < 0)
		return srt_error_set(err, -errno, "memfd_create: %s", strerror(errno));

	/* Namespaces: all of them, required (not "-try"): a sandbox without one
	 * of them is weaker than asked for, so bwrap failing is right. */
	arg(&b, "--unshare-user");
	arg(&b, "--unshare-ipc");
	arg(&b, "--unshare-pid");
	arg(&b, "--unshare-net");
	arg(&b, "--unshare-uts");
	arg(&b, "--unshare-cgroup");
	arg(&b, "--die-with-parent");
	arg(&b, "--as-pid-1");
	/* srt-init mounts the plan itself and then drops these for good. */
	arg2(&b, "--cap-drop", "ALL");
	arg2(&b, "--cap-add", "CAP_SYS_ADMIN");
	arg2(&b, "--cap-add", "CAP_SETPCAP");
	arg2(&b, "--cap-add", "CAP_NET_BIND_SERVICE"); /* listeners on ports below 1024 */

	arg3(&b, plan->root_writable ? "--bind" : "--ro-bind", "/", "/");
	arg2(&b, "--dev", "/dev");
	for (size_t i = 0; l->strip_env && l->strip_env[i]; i++)
		arg2(&b, "--unsetenv", l->strip_env[i]);
	if (plan->host_proc)
		arg3(&b, "--bind", "/proc", "/proc");
	else
		arg2(&b, "--proc", "/proc");

	for (size_t i = 0; i < plan->n_ops; i++)
		if (plan->ops[i].host_rw_root)
			arg3(&b, "--bind", plan->ops[i].path, plan->ops[i].path);
	/* The environment is the command's business, changed by srt-init in
	 * the command's process (not by bwrap, which changes its own and so
	 * srt-init's: see srt-init's --env). */

	snprintf(num, sizeof(num), "/proc/self/fd/%d", l->init_fd);
	TAIL_PUSH("--");
	TAIL_PUSH(num);
	snprintf(num, sizeof(num), "%d", l->sock_fd);
	TAIL_PUSH("--sock");
	TAIL_PUSH(num);
	snprintf(num, sizeof(num), "%d", l->init_fd);
	TAIL_PUSH("--close");
	TAIL_PUSH(num);
	snprintf(num, sizeof(num), "%d", l->args_fd);
	TAIL_PUSH("--close");
	TAIL_PUSH(num);
	TAIL_PUSH("--plan-from-sock");
	for (size_t i = 0; i < l->n_listen; i++) {
		TAIL_PUSH("--listen");
		TAIL_PUSH(l->listen[i]);
	}
	if (l->dns)
		TAIL_PUSH("--dns");
	if (l->helper) {
		TAIL_PUSH("--helper");
		TAIL_PUSH(l->helper);
	}
	if (l->cwd) {
		TAIL_PUSH("--chdir");
		TAIL_PUSH(l->cwd);
	}
	snprintf(num, sizeof(num), "%lu", l->ignore_mask);
	TAIL_PUSH("--ignore-mask");
	TAIL_PUSH(num);
	if (l->shell)
		TAIL_PUSH("--shell");
	if (l->clearenv)
		TAIL_PUSH("--clearenv");
	for (size_t i = 0; l->env_edits && l->env_edits[i]; i++) {
		TAIL_PUSH("--env");
		TAIL_PUSH(l->env_edits[i]);
	}
	/* Denied credentials: gone whatever the caller set. */
	for (size_t i = 0; l->unset_env && l->unset_env[i]; i++) {
		TAIL_PUSH("--env");
		TAIL_PUSH(l->unset_env[i]);
	}
	/* Ours last: the proxy variables win over the caller's. */
	for (size_t i = 0; l->setenv && l->setenv[i] && l->setenv[i + 1]; i += 2) {
		TAIL_PUSH("--env");
		if (strv_pushf(tail, "%s=%s", l->setenv[i], l->setenv[i + 1]) < 0)
			b.failed = -ENOMEM;
	}
	TAIL_PUSH("--");
	for (size_t i = 0; l->command[i]; i++)
		TAIL_PUSH(l->command[i]);

	if (b.failed) {
		free(b.data);
		close(fd);
		return srt_error_set(err, b.failed, "out of memory");
	}
	int r = fd_write_all(fd, b.data, b.len);
	free(b.data);
	if (r < 0) {
		close(fd);
		return srt_error_set(err, r, "writing bwrap arguments: %s", strerror(-r));
	}
	lseek(fd, 0, SEEK_SET);
	*ret_fd = fd;
	return 0;
#undef TAIL_PUSH
}
