/* The supervisor: one runtime (settings, events, the loop that serves sandboxes) and the sandboxes it starts and serves. */
#include "runtime.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>

#include "creds.h"
#include "linux/bwrap.h"
#include "linux/callerfs.h"
#include "linux/mountplan.h"
#include "linux/observer.h"
#include "linux/netbroker.h"
#include "linux/writeguard.h"
#include "linux/proto.h"
#include "linux/seccomp_filter.h"
#include "policy/netpolicy.h"
#include "proxy/dns_server.h"
#include "proxy/extra.h"
#include "proxy/parent_config.h"
#include "proxy/tls_config.h"

/* ---- The descriptor limit -------------------------------------------------- */

/*
 * What srt needs below RLIMIT_NOFILE to start a sandbox and serve it, so
 * that a limit too low is refused before anything runs, in words that name
 * it, instead of failing on the way: bwrap hangs, listeners or the
 * observer's descriptor are lost from a truncated SCM_RIGHTS message, srt
 * reports a "Broken pipe". Counted from the code, and checked by
 * tests/e2e/test_limits.py: the number srt asks for is where it works.
 */
enum {
	NOFILE_LOOP = 6,       /* libuv's loop: epoll, two pipes, an eventfd */
	NOFILE_PRE_FORK = 5,   /* bwrap's arguments, srt-init, the socketpair, the signalfd */
	NOFILE_RUN = 4,        /* srt-init's socket, the signalfd, the observer's listener, srt-init's pidfd */
	NOFILE_CONNECTION = 4, /* one proxied connection: the client, a name lookup's files and sockets */
	NOFILE_BWRAP = 9,      /* bwrap with the 3 descriptors it gets (measured: at 8 it hangs) */
	NOFILE_INIT = 7,       /* srt-init: stdio, its socket, the plan, the two filters */
	NOFILE_GUARD = 4,      /* the write guard, while it serves a call: the caller's root, a
				* folder, the object, a working directory */
};

/* Open descriptors below limit. A low limit, where it matters, is probed
 * number by number (listing /proc/self/fd takes a descriptor, which may be
 * the one missing); a high one from the listing. */
static unsigned nofile_used(rlim_t limit)
{
	unsigned n = 0;
	if (limit <= 4096) {
		for (int fd = 0; fd < (int)limit; fd++)
			if (fcntl(fd, F_GETFD) >= 0)
				n++;
		return n;
	}
	DIR *d = opendir("/proc/self/fd");
	if (!d) /* out of descriptors: every one below the limit is taken */
		return errno == EMFILE && limit <= UINT_MAX ? (unsigned)limit : 0;
	for (struct dirent *e; (e = readdir(d));) {
		char *end;
		unsigned long fd = strtoul(e->d_name, &end, 10);
		if (e->d_name[0] != '.' && *end == '\0' && fd < limit && (int)fd != dirfd(d))
			n++;
	}
	closedir(d);
	return n;
}

struct nofile_demand {
	unsigned used;         /* open as runtime_run begins: stdio, the loop, --events, inherited ones */
	size_t listeners;      /* handed over by srt-init */
	size_t bind_sources;   /* srt-init holds them all at once */
};

/* What the mount plan adds to d. */
static void nofile_plan_demand(const struct mount_plan *plan, struct nofile_demand *d)
{
	for (size_t i = 0; i < plan->n_ops; i++) {
		enum mount_op_kind k = plan->ops[i].kind;
		d->bind_sources += k == MOUNT_BIND_RW || k == MOUNT_BIND_RO;
	}
}

/* The lowest hard RLIMIT_NOFILE that serves d: srt runs at the hard
 * limit, srt-init raises its soft one to it for the listeners and mounts. */
static size_t nofile_needed(const struct nofile_demand *d)
{
	size_t batch_l = d->listeners < PROTO_MAX_FDS ? d->listeners : PROTO_MAX_FDS;
	/* srt: before the fork; then, with srt-init's socket, the signalfd
	 * and the two filters, the plan and bwrap's pidfd; serving, with
	 * room for one connection and the write guard's call. */
	size_t need = d->used + NOFILE_PRE_FORK;
	size_t prepare = d->used + 4 + 2;
	size_t run = d->used + NOFILE_RUN + d->listeners + NOFILE_CONNECTION + NOFILE_GUARD;
	/* srt-init: a batch of listeners with the plan still open; then every
	 * bind source, the connect helper and a file to mount. */
	size_t init_listen = NOFILE_INIT + batch_l, init_plan = NOFILE_INIT - 1 + d->bind_sources + 2;
	const size_t each[] = { prepare, run, init_listen, init_plan };
	for (size_t i = 0; i < ARRAY_SIZE(each); i++)
		if (each[i] > need)
			need = each[i];
	return need;
}

/* Refuse a limit rl below what d needs: the hard one below
 * nofile_needed(d), or the soft one, where bwrap and srt-init start (and
 * the command stays), below soft_needed or what they need. With the hard
 * limit too low the number asked for is for both at once, as `ulimit -n`
 * sets them. */
static int nofile_check(const struct nofile_demand *d, const struct rlimit *rl, size_t soft_needed,
			struct srt_error *err)
{
	if (soft_needed < NOFILE_BWRAP)
		soft_needed = NOFILE_BWRAP;
	size_t hard_needed = nofile_needed(d);
	if (rl->rlim_max >= hard_needed && rl->rlim_cur >= soft_needed) /* RLIM_INFINITY is the largest */
		return 0;
	unsigned long long cur = rl->rlim_cur, max = rl->rlim_max;
	if (cur == max)
		return srt_error_set(err, -EMFILE,
				     "the open-file limit (RLIMIT_NOFILE) is %llu; srt needs at least %zu: "
				     "raise it (ulimit -n %zu)", cur, hard_needed, hard_needed);
	if (max >= hard_needed)
		return srt_error_set(err, -EMFILE,
				     "the open-file limit (RLIMIT_NOFILE) is %llu (hard limit %llu); srt needs at "
				     "least %zu: raise it (ulimit -Sn %zu)", cur, max, soft_needed, soft_needed);
	size_t need = hard_needed > soft_needed ? hard_needed : soft_needed;
	return srt_error_set(err, -EMFILE,
			     "the open-file limit (RLIMIT_NOFILE) is %llu (hard limit %llu); srt needs at least "
			     "%zu: raise it (ulimit -n %zu)", cur, max, need, need);
}

/* A descriptor (or memory) srt could not have: say which limit, not only
 * what failed. Returns r. */
static int nofile_explain(struct srt_error *err, int r)
{
	if (!err || (r != -EMFILE && r != -ENFILE && r != -ENOMEM) || strstr(err->message, "RLIMIT_") ||
	    strstr(err->message, "fs.file-max"))
		return r;
	char old[sizeof(err->message)];
	memcpy(old, err->message, sizeof(old));
	struct rlimit rl;
	if (r == -ENFILE)
		snprintf(err->message, sizeof(err->message), "%.*s (the system's table of open files is full: "
			 "fs.file-max)", (int)sizeof(err->message) - 64, old);
	else if (r == -EMFILE && getrlimit(RLIMIT_NOFILE, &rl) == 0)
		snprintf(err->message, sizeof(err->message), "%.*s (out of descriptors: the open-file limit, "
			 "RLIMIT_NOFILE, is %llu)", (int)sizeof(err->message) - 96, old,
			 (unsigned long long)rl.rlim_cur);
	else if (r == -ENOMEM && getrlimit(RLIMIT_AS, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
		snprintf(err->message, sizeof(err->message), "%.*s (out of memory: the address-space limit, "
			 "RLIMIT_AS, is %llu bytes)", (int)sizeof(err->message) - 96, old,
			 (unsigned long long)rl.rlim_cur);
	else if (r == -ENOMEM && getrlimit(RLIMIT_AS, &rl) == 0)
		snprintf(err->message, sizeof(err->message), "%.*s (out of memory; the address-space limit, "
			 "RLIMIT_AS, is unlimited)", (int)sizeof(err->message) - 96, old);
	return r;
}

int runtime_resource_explain(struct srt_error *err, int r)
{
	return nofile_explain(err, r);
}

/* ---- Settings ------------------------------------------------------------ */

static int read_settings_file(const char *path, char **ret, size_t *ret_len, struct srt_error *err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return srt_error_set(err, -errno, "%s: cannot open settings file: %s", path, strerror(errno));
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > (off_t)CONFIG_MAX_FILE_SIZE) {
		close(fd);
		return srt_error_set(err, -EINVAL, "%s: not a regular file of at most %u bytes", path,
				     CONFIG_MAX_FILE_SIZE);
	}
	size_t len = (size_t)st.st_size, off = 0;
	char *buf = malloc(len + 1);
	if (!buf) {
		close(fd);
		return srt_error_set(err, -ENOMEM, "out of memory");
	}
	while (off < len) {
		ssize_t n = read(fd, buf + off, len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		off += (size_t)n;
	}
	close(fd);
	buf[off] = '\0';
	*ret = buf;
	*ret_len = off;
	return 0;
}

int settings_load(const struct settings_source *src, struct settings **ret, struct srt_error *err)
{
	const char *path = src->path, *text = src->text, *name = src->name;
	const char *home = src->home, *cwd = src->cwd;
	struct settings *s = calloc(1, sizeof(*s));
	if (!s)
		return srt_error_set(err, -ENOMEM, "out of memory");
	config_init(&s->cfg);
	int r;
	if (text) {
		r = config_parse_text(&s->cfg, name ? name : "<json>", text, strlen(text), CONFIG_ORIGIN_USER,
				      true, err);
	} else if (path && !src->cli) {
		/* A library runtime from one file: that file only. */
		char *buf = NULL;
		size_t len = 0;
		char abs[PATH_MAX];
		const char *shown = realpath(path, abs) ? abs : path;
		r = read_settings_file(path, &buf, &len, err);
		if (r == 0)
			r = config_parse_text(&s->cfg, shown, buf, len, CONFIG_ORIGIN_USER, true, err);
		free(buf);
	} else {
		struct config_load_options lo = {
			.settings_path = path,
			.home = home,
			.cwd = cwd,
			.trust_project_settings = src->trust_project,
			.settings_text = src->user_text,
			.settings_text_name = src->user_text_name,
			.skip_project = src->skip_project,
			.project_dir = src->project_dir,
			.project_text = src->project_text,
			.project_len = src->project_len,
		};
		r = config_load(&s->cfg, &lo, err);
	}
	if (r == 0 && src->extra)
		r = config_parse_text(&s->cfg, src->extra_name, src->extra, strlen(src->extra), CONFIG_ORIGIN_USER,
				      true, err);
	if (r == 0 && src->check)
		r = src->check(&s->cfg, src->check_data, err);
	if (r < 0) {
		settings_free_chain(s);
		return nofile_explain(err, r);
	}
	/* A library runtime with sandbox.enabled: false exists, and refuses
	 * to start sandboxes (srt refuses the settings: policy_build). */
	s->cli = src->cli;
	if (!src->cli && !s->cfg.enabled) {
		*ret = s;
		return 0;
	}
	struct policy_env env = { .home = home, .cwd = cwd, .create_missing_writable = !src->live,
				  .network_only = src->live };
	if ((r = policy_build(&s->cfg, &env, &s->policy, err)) < 0 ||
	    (r = net_policy_build(s->policy, &s->cfg, &s->net, err)) < 0 ||
	    (r = proxy_upstream_from_config(&s->cfg, &s->upstream, &s->cfg.warnings, err)) < 0 ||
	    (r = tls_settings_check(&s->cfg, err)) < 0 ||
	    /* A --control-fd line changes the lists only: the running
	     * sandbox keeps the CA it started with (po.tls). */
	    (s->cfg.network.tls.enabled && !src->live &&
	     (r = tls_setup_build(&s->cfg, home, &s->policy->notes, &s->tls, err)) < 0)) {
		settings_free_chain(s);
		return nofile_explain(err, r);
	}
	if (s->cfg.network.tls.enabled) {
		struct net_policy *ex = NULL;
		if ((r = tls_exclude_build(&s->cfg, &ex, err)) < 0) {
			settings_free_chain(s);
			return r;
		}
		net_policy_attach_tls_exclude(s->net, ex);
	}
	/* srt makes its loop next, at the soft limit (libuv aborts when it
	 * cannot). The mount plan is made later (runtime_run looks again
	 * then); made here too only to ask for the right number at once. */
	/* What starting a sandbox needs: a --control-fd line (live) starts
	 * nothing, and the run holds more descriptors by then (listeners,
	 * connections) than the start counts on. */
	struct rlimit rl;
	if (src->cli && !src->live && getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		struct nofile_demand d = {
			.used = nofile_used(rl.rlim_max) + NOFILE_LOOP,
			.listeners = 2 + 2 * net_policy_loopback_ports(s->net, NULL, 0),
		};
		size_t soft_needed = nofile_used(rl.rlim_cur) + NOFILE_LOOP;
		struct mount_plan *plan = NULL;
		if (nofile_check(&d, &rl, soft_needed, NULL) < 0 && mount_plan_build(s->policy, &plan, NULL) == 0) {
			nofile_plan_demand(plan, &d);
			mount_plan_free(plan);
		}
		if ((r = nofile_check(&d, &rl, soft_needed, err)) < 0) {
			settings_free_chain(s);
			return r;
		}
	}
	*ret = s;
	return 0;
}

void settings_free_chain(struct settings *s)
{
	while (s) {
		struct settings *older = s->older;
		net_policy_free(s->net);
		proxy_upstream_free(s->upstream);
		policy_free(s->policy);
		tls_setup_free(s->tls);
		config_free(&s->cfg);
		free(s);
		s = older;
	}
}

int runtime_init(struct runtime *rt, const struct srt_runtime_options *o, struct settings *s,
		 struct srt_error *err)
{
	memset(rt, 0, sizeof(*rt));
	if (event_hub_init(&rt->hub, o ? o->max_violations : 0) < 0 ||
	    event_hub_set_ignore(&rt->hub, &s->cfg) < 0) {
		event_hub_destroy(&rt->hub);
		return srt_error_set(err, -ENOMEM, "out of memory");
	}
	pthread_mutex_init(&rt->lock, NULL);
	rt->cur = s;
	rt->observe = o ? o->observe : SRT_OBSERVE_DEFAULT;
	rt->next_id = 1;
	return 0;
}

void runtime_destroy(struct runtime *rt)
{
	settings_free_chain(rt->cur);
	rt->cur = NULL;
	event_hub_destroy(&rt->hub);
	pthread_mutex_destroy(&rt->lock);
	free(rt->home);
	free(rt->cwd);
}

struct settings *runtime_settings(struct runtime *rt)
{
	pthread_mutex_lock(&rt->lock);
	struct settings *s = rt->cur;
	pthread_mutex_unlock(&rt->lock);
	return s;
}

void runtime_replace_settings(struct runtime *rt, struct settings *s)
{
	runtime_replace_settings_from(rt, s, NULL);
}

void runtime_replace_settings_from(struct runtime *rt, struct settings *s, const char *source)
{
	/* One critical section: two reloads at once must not pair one's
	 * ignore rules with the other's settings. (Generations are kept
	 * until the runtime is freed: a sandbox or a connection may still
	 * use an older one.) */
	pthread_mutex_lock(&rt->lock);
	if (event_hub_set_ignore(&rt->hub, &s->cfg) < 0)
		fprintf(stderr, "srt: out of memory: ignoreViolations of the new settings not applied\n");
	s->older = rt->cur;
	rt->cur = s;
	pthread_mutex_unlock(&rt->lock);
	struct srt_config_change ch = { .source = source };
	struct srt_event ev = { .type = SRT_EVENT_CONFIG_RELOADED, .config = &ch };
	event_hub_emit(&rt->hub, &ev);
}

static bool generation_used(const struct runtime *rt, const struct settings *g)
{
	for (const struct sandbox *sb = rt->sandboxes; sb; sb = sb->next)
		if (sb->settings == g || (g->net && sb->proxy && proxy_server_uses_policy(sb->proxy, g->net)))
			return true;
	return false;
}

void runtime_prune_settings(struct runtime *rt, const struct settings *keep)
{
	pthread_mutex_lock(&rt->lock);
	struct settings **pp = &rt->cur->older;
	while (*pp) {
		struct settings *g = *pp;
		if (g == keep || generation_used(rt, g)) {
			pp = &g->older;
			continue;
		}
		*pp = g->older;
		g->older = NULL;
		settings_free_chain(g);
	}
	pthread_mutex_unlock(&rt->lock);
}

/* ---- Runtime folders ------------------------------------------------------ */

/*
 * A library runtime's folder is "PID.XXXXXX" (PID: the process that made
 * it, as this PID namespace sees it, for people reading the name; nothing
 * is decided from it). The runtime holds flock(LOCK_SH) on a descriptor
 * of the folder for as long as it lives (close-on-exec: sandboxes and
 * spawned programs do not inherit it), and a folder is left behind only
 * by a process that is gone: the next runtime removes a folder of that
 * name whose lock it can take (LOCK_EX|LOCK_NB), holding it while it
 * removes. flock holds across PID namespaces (a runtime in a container or
 * under unshare -p sharing /tmp) and boots, where a pid says nothing.
 *
 * The folder is made as "new.XXXXXX", a name the reclaimer never
 * considers, locked, and only then renamed (RENAME_NOREPLACE) to
 * "PID.XXXXXX": a folder with the reclaimable name is locked from the
 * moment it has that name, so a concurrent reclaimer cannot take one that
 * is still being set up. When the lock or the rename cannot be had, the
 * folder keeps its first name: it works, and is never reclaimed.
 */

char *runtime_dir_make(const char *parent, int *lock_fd)
{
	*lock_fd = -1;
	char *dir = str_printf("%s/new.XXXXXX", parent);
	if (!dir) {
		errno = ENOMEM;
		return NULL;
	}
	if (!mkdtemp(dir)) {
		int e = errno;
		free(dir);
		errno = e;
		return NULL;
	}
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return dir;
	if (flock(fd, LOCK_SH | LOCK_NB) < 0) { /* nobody else locks it: never waits */
		close(fd);
		return dir;
	}
	*lock_fd = fd;
	const char *suffix = strrchr(dir, '.') + 1;
	char *named = str_printf("%s/%d.%s", parent, (int)getpid(), suffix);
	if (named && renameat2(AT_FDCWD, dir, AT_FDCWD, named, RENAME_NOREPLACE) == 0) {
		free(dir);
		return named;
	}
	free(named);
	return dir;
}

bool runtime_dir_name(const char *name)
{
	int pid = 0, used = 0;
	char suffix[7] = "";
	if (sscanf(name, "%9d.%6[A-Za-z0-9]%n", &pid, suffix, &used) != 2 || name[used] != '\0' || pid <= 0 ||
	    strlen(suffix) != 6)
		return false;
	/* No leading zeros, signs or spaces. */
	char canon[NAME_MAX + 1];
	snprintf(canon, sizeof(canon), "%d.%s", pid, suffix);
	return strcmp(canon, name) == 0;
}

/* Remove the folder name in dirfd parent when it is a folder of ours (not
 * a link: nothing is followed) whose lock is free, and holds no folder:
 * its socket and whatever else it holds are unlinked, links as links. The
 * lock is held until the folder is gone. */
static void runtime_dir_remove(int parent, const char *name)
{
	struct stat st, st2;
	if (fstatat(parent, name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISDIR(st.st_mode) || st.st_uid != getuid())
		return;
	int fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return;
	/* The folder looked at above, not one put in its place since; and no
	 * runtime holds it (any failure: it stays). */
	if (fstat(fd, &st2) < 0 || st2.st_dev != st.st_dev || st2.st_ino != st.st_ino ||
	    flock(fd, LOCK_EX | LOCK_NB) < 0) {
		close(fd);
		return;
	}
	/* Still there under that name: another reclaimer may have removed it
	 * between our open and our lock. */
	if (fstatat(parent, name, &st, AT_SYMLINK_NOFOLLOW) < 0 || st.st_dev != st2.st_dev || st.st_ino != st2.st_ino) {
		close(fd);
		return;
	}
	DIR *d = fdopendir(fd);
	if (!d) {
		close(fd);
		return;
	}
	for (struct dirent *e; (e = readdir(d));) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		struct stat es;
		if (fstatat(dirfd(d), e->d_name, &es, AT_SYMLINK_NOFOLLOW) == 0 && !S_ISDIR(es.st_mode))
			unlinkat(dirfd(d), e->d_name, 0);
	}
	unlinkat(parent, name, AT_REMOVEDIR); /* fails, and stays, when something is left */
	closedir(d); /* and the lock with it */
}

void runtime_dir_reclaim(const char *parent)
{
	int fd = open(parent, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return;
	struct stat st;
	if (fstat(fd, &st) < 0 || st.st_uid != getuid() || (st.st_mode & 077)) {
		close(fd);
		return;
	}
	DIR *d = fdopendir(fd);
	if (!d) {
		close(fd);
		return;
	}
	/* Names first: removing while reading would make readdir skip. */
	struct strv names = { 0 };
	for (struct dirent *e; (e = readdir(d));)
		if (runtime_dir_name(e->d_name) && strv_push(&names, e->d_name) < 0)
			break;
	for (size_t i = 0; i < names.n; i++)
		runtime_dir_remove(dirfd(d), names.v[i]);
	strv_clear(&names);
	closedir(d);
}

/* ---- Helpers --------------------------------------------------------------- */

static int helper_anchor;

/* name in folder dir, when it exists there. */
static char *helper_in(const char *dir, const char *tail, const char *name)
{
	char *cand = str_printf("%s%s%s", dir, tail, name);
	if (cand && access(cand, F_OK) == 0)
		return cand;
	free(cand);
	return NULL;
}

char *runtime_helper_path(const char *name)
{
	char exe[PATH_MAX], self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	exe[n > 0 ? n : 0] = '\0';
	/* In the library (a program of someone else's): only next to the
	 * library, in a build tree, or <libdir>/../libexec/sandbox-runtime of
	 * its install; never the program's own folder. */
	Dl_info info;
	if (dladdr(&helper_anchor, &info) && info.dli_fname && info.dli_fname[0] == '/' &&
	    realpath(info.dli_fname, self) && strcmp(self, exe) != 0) {
		char *slash = strrchr(self, '/');
		if (slash) {
			*slash = '\0';
			const char *tail[] = { "/", "/../libexec/sandbox-runtime/", "/../../libexec/sandbox-runtime/" };
			for (size_t i = 0; i < ARRAY_SIZE(tail); i++) {
				char *c = helper_in(self, tail[i], name);
				if (c)
					return c;
			}
		}
		return str_printf("%s/%s", SRT_LIBEXECDIR, name);
	}
	/* srt: its own folder when it holds them (a build tree). */
	char *slash = exe[0] ? strrchr(exe, '/') : NULL;
	if (slash) {
		*slash = '\0';
		char *c = helper_in(exe, "/", name);
		if (c)
			return c;
	}
	return str_printf("%s/%s", SRT_LIBEXECDIR, name);
}

const char *runtime_home_dir(void)
{
	const char *h = getenv("HOME");
	if (h && *h == '/')
		return h;
	struct passwd *pw = getpwuid(getuid());
	return pw && pw->pw_dir ? pw->pw_dir : "/";
}

char *command_text(char *const *argv, bool shell)
{
	if (shell)
		return strdup(argv[0]);
	size_t len = 1;
	for (size_t i = 0; argv[i]; i++)
		len += strlen(argv[i]) + 1;
	char *s = malloc(len);
	if (!s)
		return NULL;
	s[0] = '\0';
	for (size_t i = 0; argv[i]; i++) {
		if (i)
			strcat(s, " ");
		strcat(s, argv[i]);
	}
	return s;
}

static int pidfd_open_(pid_t pid)
{
	return (int)syscall(SYS_pidfd_open, pid, 0);
}

/* ---- Listeners and environment -------------------------------------------- */

static void loopback_target(struct listen_spec *l, int family, uint16_t port)
{
	memset(&l->target, 0, sizeof(l->target));
	if (family == AF_INET6) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&l->target;
		a->sin6_family = AF_INET6;
		a->sin6_addr = in6addr_loopback;
		a->sin6_port = htons(port);
		l->target_len = sizeof(*a);
	} else {
		struct sockaddr_in *a = (struct sockaddr_in *)&l->target;
		a->sin_family = AF_INET;
		a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		a->sin_port = htons(port);
		l->target_len = sizeof(*a);
	}
}

struct net_ports {
	uint16_t http_port, socks_port;            /* ours, inside the sandbox */
	uint16_t external_http, external_socks;    /* the user's own proxies on the host, or 0 */
};

static void net_ports(const struct config *cfg, struct net_ports *p)
{
	p->http_port = (uint16_t)(cfg->network.listen_http_port ? cfg->network.listen_http_port : 3128);
	p->socks_port = (uint16_t)(cfg->network.listen_socks_port ? cfg->network.listen_socks_port : 1080);
	p->external_http = (uint16_t)cfg->network.http_proxy_port;
	p->external_socks = (uint16_t)cfg->network.socks_proxy_port;
}

/* The listeners of a sandbox: our two proxies (or forwarders to the user's
 * own proxies on the host), and each host loopback service the policy
 * allows, on 127.0.0.1 and ::1. */
static int plan_listeners(const struct net_policy *np, const struct net_ports *n, struct listen_spec **ret,
			  size_t *ret_n, struct srt_error *err)
{
	size_t n_lo = np ? net_policy_loopback_ports(np, NULL, 0) : 0;
	uint16_t *ports = calloc(n_lo ? n_lo : 1, sizeof(*ports));
	struct listen_spec *v = calloc(2 + 2 * n_lo, sizeof(*v));
	if (!ports || !v) {
		free(ports);
		free(v);
		return srt_error_set(err, -ENOMEM, "out of memory");
	}
	if (n_lo)
		net_policy_loopback_ports(np, ports, n_lo);
	size_t k = 0;
	snprintf(v[k].addr, sizeof(v[k].addr), "127.0.0.1:%u", (unsigned)n->http_port);
	v[k].kind = n->external_http ? PROXY_KIND_FORWARD : PROXY_KIND_HTTP;
	if (n->external_http)
		loopback_target(&v[k], AF_INET, n->external_http);
	k++;
	snprintf(v[k].addr, sizeof(v[k].addr), "127.0.0.1:%u", (unsigned)n->socks_port);
	v[k].kind = n->external_socks ? PROXY_KIND_FORWARD : PROXY_KIND_SOCKS;
	if (n->external_socks)
		loopback_target(&v[k], AF_INET, n->external_socks);
	k++;
	for (size_t i = 0; i < n_lo; i++) {
		if (ports[i] == n->http_port || ports[i] == n->socks_port) {
			int r = srt_error_set(err, -EADDRINUSE,
					      "network.allowedDomains: the host loopback port %u cannot be reached "
					      "directly inside the sandbox: srt's %s proxy listens there (choose "
					      "other proxy ports)", (unsigned)ports[i],
					      ports[i] == n->http_port ? "HTTP" : "SOCKS5");
			free(ports);
			free(v);
			return r;
		}
		snprintf(v[k].addr, sizeof(v[k].addr), "127.0.0.1:%u", (unsigned)ports[i]);
		v[k].kind = PROXY_KIND_FORWARD;
		v[k].service = true;
		loopback_target(&v[k++], AF_INET, ports[i]);
		snprintf(v[k].addr, sizeof(v[k].addr), "[::1]:%u", (unsigned)ports[i]);
		v[k].kind = PROXY_KIND_FORWARD;
		v[k].service = true;
		loopback_target(&v[k++], AF_INET6, ports[i]);
	}
	free(ports);
	*ret = v;
	*ret_n = k;
	return 0;
}

/* The command's environment: where the proxies are, the way tools look for
 * them (bwrap --setenv pairs). */
static int proxy_environment(const struct net_ports *n, struct strv *env)
{
	char http[64], socks[64], port[8], cmd[160];
	snprintf(http, sizeof(http), "http://127.0.0.1:%u", (unsigned)n->http_port);
	snprintf(socks, sizeof(socks), "socks5h://127.0.0.1:%u", (unsigned)n->socks_port);
	snprintf(port, sizeof(port), "%u", (unsigned)n->http_port);
	/* ssh (and git over ssh) ignore the variables: give git an ssh whose
	 * ProxyCommand is srt's own CONNECT client, which srt-init exposes
	 * inside the sandbox at /dev/.srt-connect. Multiplexing is off: a
	 * ControlMaster from ~/.ssh/config needs a unix socket, which the
	 * sandbox may not create. */
	snprintf(cmd, sizeof(cmd),
		 "ssh -o ControlMaster=no -o ControlPath=none "
		 "-o ProxyCommand='/dev/.srt-connect proxy-connect --proxy 127.0.0.1:%u %%h %%p'",
		 (unsigned)n->http_port);
	static const char *const http_vars[] = { "HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy",
						  "GRPC_PROXY", "grpc_proxy", "DOCKER_HTTP_PROXY",
						  "DOCKER_HTTPS_PROXY" };
	static const char *const socks_vars[] = { "ALL_PROXY", "all_proxy", "FTP_PROXY", "ftp_proxy" };
	int r = 0;
	for (size_t i = 0; i < ARRAY_SIZE(http_vars) && r == 0; i++)
		if ((r = strv_push(env, http_vars[i])) == 0)
			r = strv_push(env, http);
	for (size_t i = 0; i < ARRAY_SIZE(socks_vars) && r == 0; i++)
		if ((r = strv_push(env, socks_vars[i])) == 0)
			r = strv_push(env, socks);
	const char *fixed[] = { "NO_PROXY", "localhost,127.0.0.1,::1", "no_proxy", "localhost,127.0.0.1,::1",
				"SANDBOX_RUNTIME", "1", "CLOUDSDK_PROXY_TYPE", "http",
				"CLOUDSDK_PROXY_ADDRESS", "127.0.0.1", "CLOUDSDK_PROXY_PORT", port,
				"GIT_SSH_COMMAND", cmd };
	for (size_t i = 0; i < ARRAY_SIZE(fixed) && r == 0; i++)
		r = strv_push(env, fixed[i]);
	return r;
}

/* ---- Violations from the proxies and the observer ------------------------- */

/* Has this sandbox reported kind/op/target before? A program retrying a
 * refused call (or every lookup of a user trying nscd's unix socket) is one
 * violation, not hundreds. Remembers up to SEEN_MAX distinct ones, by
 * their text (a hash alone could be made to collide by the sandbox, to
 * hide a later report behind an earlier one); past that, repeats are
 * reported again (the store's bound and dropped count apply). */
#define SEEN_MAX 4096

static bool seen_before(struct sandbox *sb, enum srt_violation_kind kind, const char *op, const char *target)
{
	_cleanup_free_ char *key = str_printf("%d %s %s", (int)kind, op, target);
	if (!key)
		return false;
	uint64_t h = 1469598103934665603ull;
	for (const char *p = key; *p; p++)
		h = (h ^ (uint8_t)*p) * 1099511628211ull;
	for (size_t i = 0; i < sb->n_seen; i++)
		if (sb->seen[i].hash == h && strcmp(sb->seen[i].key, key) == 0)
			return true;
	if (sb->n_seen < SEEN_MAX) {
		if (sb->n_seen == sb->cap_seen) {
			size_t cap = sb->cap_seen ? 2 * sb->cap_seen : 16;
			struct seen *v = realloc(sb->seen, cap * sizeof(*v));
			if (!v)
				return false;
			sb->seen = v;
			sb->cap_seen = cap;
		}
		sb->seen[sb->n_seen++] = (struct seen){ .hash = h, .key = steal_pointer(&key) };
	}
	return false;
}

static void record(struct sandbox *sb, enum srt_violation_kind kind, enum srt_violation_source src,
		   const char *op, const char *target, const char *rule, pid_t pid)
{
	if (seen_before(sb, kind, op, target))
		return;
	struct srt_violation v = {
		.kind = kind,
		.operation = op,
		.target = target,
		.rule = rule,
		.sandbox_id = sb->id,
		.command = sb->command,
		.pid = pid,
		.source = src,
	};
	if (event_hub_violation(&sb->rt->hub, &v))
		sb->n_violations++;
}

static const struct net_policy *sb_policy(void *data)
{
	struct sandbox *sb = data;
	const struct net_policy *np = runtime_settings(sb->rt)->net;
	/* Settings reloaded to sandbox.enabled: false keep the lists the
	 * sandbox started with. */
	return np ? np : sb->settings->net;
}

/* The runtime whose blocking ask callback this thread (one of the proxy's
 * ask threads) is running: a call that waits for that runtime's loop or
 * its sandboxes must refuse there. */
static _Thread_local const struct runtime *asking;

bool runtime_in_callback(const struct runtime *rt)
{
	return asking == rt || event_hub_in_callback(&rt->hub);
}

/* A blocking srt_ask_fn, on a thread of the proxy's (proxy_hooks.ask). */
static bool sb_ask(void *data, const char *host, uint16_t port, char *reason, size_t reason_size)
{
	struct sandbox *sb = data;
	pthread_mutex_lock(&sb->rt->lock);
	srt_ask_fn fn = sb->rt->ask;
	void *fd = sb->rt->ask_data;
	pthread_mutex_unlock(&sb->rt->lock);
	if (!fn) {
		snprintf(reason, reason_size, "no allowedDomains entry matches");
		return false;
	}
	const struct runtime *outer = asking;
	asking = sb->rt;
	bool allow = fn(sb->id, host, port, reason, reason_size, fd);
	asking = outer;
	return allow;
}

/* On the loop thread: an srt_ask_async_fn takes the question itself (the
 * request is the proxy's question: srt_ask_reply answers it); a blocking
 * one is left to sb_ask; with neither, nobody is asked. */
static bool sb_ask_async(void *data, struct proxy_ask *q, const char *host, uint16_t port)
{
	struct sandbox *sb = data;
	pthread_mutex_lock(&sb->rt->lock);
	srt_ask_async_fn afn = sb->rt->ask_async;
	bool blocking = sb->rt->ask != NULL;
	void *fd = sb->rt->ask_data;
	pthread_mutex_unlock(&sb->rt->lock);
	if (afn) {
		afn((struct srt_ask_request *)q, sb->id, host, port, fd);
		return true;
	}
	if (blocking)
		return false;
	proxy_ask_answer(q, false, "no allowedDomains entry matches");
	return true;
}

static unsigned sb_ask_timeout(void *data)
{
	struct sandbox *sb = data;
	pthread_mutex_lock(&sb->rt->lock);
	unsigned ms = sb->rt->ask_timeout_ms;
	pthread_mutex_unlock(&sb->rt->lock);
	return ms;
}

static void sb_on_event(void *data, const struct proxy_event *pe)
{
	struct sandbox *sb = data;
	struct srt_connection c = {
		.sandbox_id = sb->id,
		.allowed = pe->allowed,
		.host = pe->host,
		.port = pe->port,
		.address = pe->address ? pe->address : "",
		.rule = pe->rule,
		.via = pe->via,
		.bytes_up = pe->bytes_up,
		.bytes_down = pe->bytes_down,
		.duration_ns = pe->duration_ns,
		.error = pe->error,
		.closed_by = pe->closed_by,
		.timeout = pe->timeout,
		.bytes_missing = pe->bytes_missing,
	};
	struct srt_event ev = { .type = SRT_EVENT_CONNECTION, .connection = &c };
	event_hub_emit(&sb->rt->hub, &ev);
	if (!pe->allowed) {
		char target[300];
		bool v6 = strchr(pe->host, ':') != NULL;
		snprintf(target, sizeof(target), v6 ? "[%s]:%u" : "%s:%u", pe->host, (unsigned)pe->port);
		record(sb, SRT_VIOLATION_NETWORK, SRT_SOURCE_PROXY, "connect", target, pe->rule, 0);
	}
}

/* credentials: the settings in force now (generations live as long as the
 * runtime), for injectHosts changed by a reload; the sandbox's own when
 * the reload turned sandboxing off. */
static const struct config *sb_cred_settings(void *data)
{
	struct sandbox *sb = data;
	const struct settings *s = runtime_settings(sb->rt);
	return s && s->policy ? &s->cfg : &sb->settings->cfg;
}

/* credentials: a stand-in went to a host where it may not be injected (an
 * exfiltration attempt, or a misconfiguration): a network violation
 * "credential" at host:port whose rule names the credential, never its
 * value. Once per sandbox, credential and host. */
static void sb_on_credential(void *data, const char *credential, const char *host, uint16_t port, const char *where,
			     const char *why)
{
	struct sandbox *sb = data;
	char target[300];
	bool v6 = strchr(host, ':') != NULL;
	snprintf(target, sizeof(target), v6 ? "[%s]:%u" : "%s:%u", host, (unsigned)port);
	/* where "sigv4": an AWS request signed with the masked key was refused */
	bool sigv4 = strcmp(where, "sigv4") == 0;
	_cleanup_free_ char *key = str_printf("%s %s%s", target, credential, sigv4 ? " sigv4" : "");
	if (!key || seen_before(sb, SRT_VIOLATION_NETWORK, "credential", key))
		return;
	_cleanup_free_ char *rule =
		sigv4 ? str_printf("credentials.%s: an AWS SigV4 request signed with its stand-in was refused: %s",
				   credential, why) :
			str_printf("credentials.%s: its stand-in was sent in the request %s and not "
				   "replaced: %s", credential, where, why);
	if (!rule)
		return;
	struct srt_violation v = {
		.kind = SRT_VIOLATION_NETWORK,
		.operation = "credential",
		.target = target,
		.rule = rule,
		.sandbox_id = sb->id,
		.command = sb->command,
		.source = SRT_SOURCE_PROXY,
	};
	if (event_hub_violation(&sb->rt->hub, &v))
		sb->n_violations++;
}

/* The DNS responder's question (transparent mode): may name be reached on
 * some port? As the proxies decide, port aside: the settings' lists (as
 * reloaded), then the sandbox's own list, then whoever may be asked. */
static int sb_dns_judge(void *data, const char *name, char *rule, size_t rule_size)
{
	struct sandbox *sb = data;
	struct proxy_host h;
	const char *why = NULL;
	if (proxy_host_canonical(name, strlen(name), &h, &why) < 0) {
		snprintf(rule, rule_size, "not a host name%s%s", why ? ": " : "", why ? why : "");
		return 0;
	}
	/* A name a parent proxy resolves gets its placeholder without a
	 * lookup on the host, which may not resolve outside names at all. */
	int allowed = proxy_upstream_route(sb->settings->upstream, &h, 0, false) ? 2 : 1;
	struct net_decision d;
	net_policy_decide_any_port(sb_policy(sb), &h, &d);
	if (d.verdict == NET_ALLOW)
		return allowed;
	if (d.by_default && sb->extra) {
		struct net_decision x;
		net_policy_decide_any_port(sb->extra, &h, &x);
		if (x.verdict == NET_ALLOW)
			return allowed;
	}
	if (d.by_default) {
		pthread_mutex_lock(&sb->rt->lock);
		bool askable = sb->rt->ask || sb->rt->ask_async;
		pthread_mutex_unlock(&sb->rt->lock);
		if (askable)
			return 2; /* looked up only once asked, at connect time */
	}
	snprintf(rule, rule_size, "%s", d.rule);
	return 0;
}

static void sb_dns_refused(void *data, const char *name, const char *rule)
{
	struct sandbox *sb = data;
	if (sb->rt->debug)
		fprintf(stderr, "srt: dns: %s: refused (%s)\n", name, rule);
	record(sb, SRT_VIOLATION_NETWORK, SRT_SOURCE_PROXY, "resolve", name, rule, 0);
}

/* The DNS sockets srt-init made (PROTO_DNS): bind those it could not (see
 * srt-init's send_dns_sockets), then serve them. */
static void serve_dns_sockets(struct sandbox *sb, const uint32_t *bound, uint32_t len, int *fds, size_t nfds)
{
	for (size_t i = 0; i < nfds; i++) {
		int fd = fds[i];
		if (!sb->dns || i >= 2) {
			close(fd);
			continue;
		}
		struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(53),
					 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
		int r = 0;
		if (((i + 1) * sizeof(uint32_t) > len || !bound[i]) &&
		    (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || (i == 1 && listen(fd, SOMAXCONN) < 0)))
			r = -errno;
		if (r == 0)
			r = i == 0 ? dns_server_listen_udp(sb->dns, fd) : dns_server_listen_tcp(sb->dns, fd);
		else
			close(fd);
		if (r < 0)
			fprintf(stderr, "srt: cannot answer names inside the sandbox (%s 127.0.0.1:53): %s\n",
				i == 0 ? "UDP" : "TCP", strerror(-r));
	}
}

static bool is_loopback(const struct sockaddr *a)
{
	if (a->sa_family == AF_INET)
		return (ntohl(((const struct sockaddr_in *)a)->sin_addr.s_addr) >> 24) == 127;
	if (a->sa_family == AF_INET6) {
		const struct in6_addr *x = &((const struct sockaddr_in6 *)a)->sin6_addr;
		if (IN6_IS_ADDR_LOOPBACK(x))
			return true;
		return IN6_IS_ADDR_V4MAPPED(x) && x->s6_addr[12] == 127;
	}
	return false;
}

/* Does a TCP socket listen at a's address and port in the network
 * namespace of /proc/<pid> (pid 0: ours)? Reads /proc/PID/net/tcp or tcp6:
 * "sl local_address rem_address st ...", addresses as the kernel's words
 * in hex, st 0A for LISTEN. Wildcard listeners count. */
static bool tcp_listening(pid_t pid, const struct sockaddr *a)
{
	bool v6 = a->sa_family == AF_INET6;
	char path[64];
	if (pid > 0)
		snprintf(path, sizeof(path), "/proc/%d/net/tcp%s", (int)pid, v6 ? "6" : "");
	else
		snprintf(path, sizeof(path), "/proc/self/net/tcp%s", v6 ? "6" : "");
	FILE *f = fopen(path, "re");
	if (!f)
		return false;
	uint8_t want[16] = { 0 };
	unsigned port;
	size_t alen;
	if (v6) {
		const struct sockaddr_in6 *x = (const struct sockaddr_in6 *)a;
		memcpy(want, &x->sin6_addr, 16);
		port = ntohs(x->sin6_port);
		alen = 16;
	} else {
		const struct sockaddr_in *x = (const struct sockaddr_in *)a;
		memcpy(want, &x->sin_addr, 4);
		port = ntohs(x->sin_port);
		alen = 4;
	}
	char line[512];
	bool found = false;
	while (!found && fgets(line, sizeof(line), f)) {
		char local[64];
		unsigned lport, st;
		if (sscanf(line, " %*[0-9]: %63[0-9A-Fa-f]:%x %*[0-9A-Fa-f]:%*x %x", local, &lport, &st) != 3)
			continue;
		if (st != 0x0A || lport != port || strlen(local) != 2 * alen)
			continue;
		/* Each 32-bit word is printed as a number: its bytes in
		 * memory order are the word's little-endian bytes here. */
		uint8_t got[16];
		for (size_t w = 0; w < alen / 4; w++) {
			unsigned long word = strtoul((char[9]){ local[8 * w], local[8 * w + 1], local[8 * w + 2],
								 local[8 * w + 3], local[8 * w + 4], local[8 * w + 5],
								 local[8 * w + 6], local[8 * w + 7], 0 }, NULL, 16);
			uint32_t word32 = (uint32_t)word;
			memcpy(got + 4 * w, &word32, 4);
		}
		static const uint8_t zero[16];
		found = memcmp(got, want, alen) == 0 || memcmp(got, zero, alen) == 0;
	}
	fclose(f);
	return found;
}

/* Does path exist (as anything, links not followed) in pid's view? */
static bool caller_path_exists(pid_t pid, const char *path)
{
	int root = callerfs_open_root(pid);
	if (root < 0)
		return false;
	struct caller_target t;
	bool there = false;
	if (callerfs_resolve(root, -1, path, &t) == 0) {
		struct stat st;
		there = t.name[0] == '\0' || fstatat(t.parent, t.name, &st, AT_SYMLINK_NOFOLLOW) == 0;
		close(t.parent);
	}
	close(root);
	return there;
}

/* Is address a one of srt's own listeners inside the sandbox (its proxies, the
 * host services it forwards)? Those stay bound there while the sandbox
 * lives (srt holds them; the sandbox never gets them), so a connect there
 * reaches a listener inside: on_observed's look at /proc would find it
 * and report nothing. Runs on the broker's thread: listens is fixed
 * before the broker starts (PROTO_LISTEN comes before HELLO). */
static bool own_listener(const struct sandbox *sb, const struct sockaddr *a)
{
	char host[INET6_ADDRSTRLEN], addr[INET6_ADDRSTRLEN + 16];
	if (a->sa_family == AF_INET) {
		const struct sockaddr_in *x = (const struct sockaddr_in *)a;
		if (!inet_ntop(AF_INET, &x->sin_addr, host, sizeof(host)))
			return false;
		snprintf(addr, sizeof(addr), "%s:%u", host, (unsigned)ntohs(x->sin_port));
	} else if (a->sa_family == AF_INET6) {
		const struct sockaddr_in6 *x = (const struct sockaddr_in6 *)a;
		if (!inet_ntop(AF_INET6, &x->sin6_addr, host, sizeof(host)))
			return false;
		snprintf(addr, sizeof(addr), "[%s]:%u", host, (unsigned)ntohs(x->sin6_port));
	} else {
		return false;
	}
	for (size_t i = 0; i < sb->n_listens; i++)
		if (sb->listens[i].served && strcmp(sb->listens[i].addr, addr) == 0)
			return true;
	return false;
}

/* On the broker's thread: is c worth a look on the loop's? A path the
 * sandbox's own (unchanging) policy allows is not; the other kinds are
 * judged there, except the loopback calls on_observed would drop: a
 * datagram, or a connect to one of srt's own listeners (every request a
 * program sends through srt's proxies; the look at /proc it saves reads
 * every socket of the sandbox, TIME_WAIT ones included, on the loop's
 * thread, which also serves the proxies). */
static bool observed_keep(void *data, const struct observed_call *c)
{
	const struct sandbox *sb = data;
	if (c->guarded && !(c->op == OBS_CONNECT || c->op == OBS_SEND))
		return true;
	if (c->op == OBS_CONNECT || c->op == OBS_SEND) {
		if (c->path || !c->addr || !is_loopback(c->addr))
			return true;
		return c->op == OBS_CONNECT && !own_listener(sb, c->addr);
	}
	if (c->op == OBS_SOCKET || !c->path)
		return true;
	const struct policy *p = sb->policy;
	if (c->write ? policy_path_writable(p, c->path) : policy_path_readable(p, c->path))
		return false;
	if (c->pid <= 0)
		return true;
	switch (c->op) {
	case OBS_MKDIR:
		/* A name that is there fails with EEXIST, read-only or not
		 * (mkdir -p of /usr/lib): nothing was refused. */
		return !caller_path_exists(c->pid, c->path);
	case OBS_WRITE:
	case OBS_UNLINK:
	case OBS_RMDIR:
	case OBS_TRUNCATE:
	case OBS_CHMOD:
	case OBS_CHOWN:
	case OBS_UTIMES:
	case OBS_XATTR:
		/* On a name that is not there: ENOENT (touch tries utimes
		 * after its create failed), nothing was refused. */
		return caller_path_exists(c->pid, c->path);
	default:
		return true;
	}
}

static void on_observed(void *data, const struct observed_call *c)
{
	struct sandbox *sb = data;
	switch (c->op) {
	case OBS_CONNECT:
	case OBS_SEND: {
		/* A unix socket the connect broker refused. */
		if (c->path) {
			record(sb, SRT_VIOLATION_UNIX_SOCKET, SRT_SOURCE_OBSERVER, c->operation, c->path,
			       c->rule ? c->rule : "network.allowUnixSockets does not list it", c->pid);
			return;
		}
		if (!c->addr || (c->addr->sa_family != AF_INET && c->addr->sa_family != AF_INET6))
			return;
		/* Loopback is the sandbox's own: a server inside is fine. A
		 * port where nothing listens inside but a service of the host
		 * does is a try to reach the host directly. */
		bool host_service = false;
		if (is_loopback(c->addr)) {
			if (c->op == OBS_SEND)
				return; /* a datagram stays in the sandbox's loopback */
			if (tcp_listening(c->pid, c->addr) || !tcp_listening(0, c->addr))
				return;
			host_service = true;
		}
		char host[INET6_ADDRSTRLEN] = "?", target[INET6_ADDRSTRLEN + 16];
		unsigned port;
		if (c->addr->sa_family == AF_INET) {
			const struct sockaddr_in *a = (const struct sockaddr_in *)c->addr;
			inet_ntop(AF_INET, &a->sin_addr, host, sizeof(host));
			port = ntohs(a->sin_port);
			snprintf(target, sizeof(target), "%s:%u", host, port);
		} else {
			const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)c->addr;
			inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof(host));
			port = ntohs(a->sin6_port);
			snprintf(target, sizeof(target), "[%s]:%u", host, port);
		}
		char rule[200];
		if (host_service)
			snprintf(rule, sizeof(rule), "a service of the host: the sandbox reaches it only when "
				 "allowedDomains lists %s", target);
		else
			snprintf(rule, sizeof(rule), "direct connection: the sandbox reaches the network only "
				 "through srt's proxies (HTTP_PROXY, ALL_PROXY)");
		record(sb, SRT_VIOLATION_NETWORK, SRT_SOURCE_OBSERVER, c->operation, target, rule, c->pid);
		return;
	}
	case OBS_SOCKET:
		/* glibc's nscd probe: refused, never missed, and in nearly
		 * every sandbox. */
		if (c->libc_probe)
			return;
		record(sb, SRT_VIOLATION_UNIX_SOCKET, SRT_SOURCE_OBSERVER, "socket", "AF_UNIX",
		       "network.allowAllUnixSockets is not set", c->pid);
		return;
	default:
		break;
	}
	if (!c->path)
		return;
	/* Refused by the write guard: its rule says why. */
	if (c->guarded && c->rule) {
		record(sb, SRT_VIOLATION_FILESYSTEM, SRT_SOURCE_OBSERVER, c->operation, c->path, c->rule, c->pid);
		return;
	}
	/* The common case, allowed by a rule: no look at the host's file
	 * system (policy_explain_path's walk) for it. */
	const struct policy *p = sb->policy;
	if (c->write ? policy_path_writable(p, c->path) : policy_path_readable(p, c->path))
		return;
	struct policy_verdict v = { 0 };
	if (policy_explain_path(sb->policy, c->path, c->write, &v) < 0)
		return;
	if (!v.allowed) {
		char *rule = v.source ? str_printf("%s (%s)", v.rule, v.source) : NULL;
		record(sb, c->op == OBS_EXEC ? SRT_VIOLATION_PROCESS : SRT_VIOLATION_FILESYSTEM,
		       SRT_SOURCE_OBSERVER, c->operation, c->path, rule ? rule : v.rule, c->pid);
		free(rule);
	}
	policy_verdict_clear(&v);
}

/* ---- Preparing a sandbox ---------------------------------------------------- */

static enum observer_mode observer_mode_of(enum srt_observe o)
{
	return o == SRT_OBSERVE_READS ? OBSERVER_READS : o == SRT_OBSERVE_WRITES ? OBSERVER_WRITES : OBSERVER_BASIC;
}

static void sandbox_free(struct sandbox *sb)
{
	creds_free(sb->creds);
	free(sb->command);
	mount_plan_free(sb->plan);
	for (size_t i = 0; i < sb->n_seen; i++)
		free(sb->seen[i].key);
	free(sb->seen);
	free(sb->listens);
	net_policy_free(sb->extra);
	policy_unix_rules_clear(&sb->extra_unix);
	policy_free(sb->own_policy);
	strv_clear(&sb->argv);
	int *fds[] = { &sb->plan_fd, &sb->filter_fd, &sb->notify_fd, &sb->args_fd, &sb->init_pidfd, &sb->bundle_fd };
	for (size_t i = 0; i < ARRAY_SIZE(fds); i++)
		if (*fds[i] >= 0)
			close(*fds[i]);
	free(sb);
}

void sandbox_free_unstarted(struct sandbox *sb)
{
	if (!sb)
		return;
	sandbox_free(sb);
}

/* The paths of sb's settings as the file system is now, as srt resolves
 * them for each run: "~" and relative entries, links on the way, globs,
 * allowWrite folders made since (and made here when their parent exists),
 * a folder replaced by a link into another writable one (refused). srt's
 * own sandbox takes the policy it loaded a moment ago. */
static int sandbox_resolve_policy(struct sandbox *sb, struct srt_error *err)
{
	const struct settings *s = sb->settings;
	if (s->cli || !sb->rt->cwd) {
		sb->policy = s->policy;
		return 0;
	}
	const struct runtime *rt = sb->rt;
	const struct policy_env env = {
		.home = rt->home ? rt->home : runtime_home_dir(),
		.cwd = rt->cwd,
		.create_missing_writable = true,
	};
	int r = policy_build(&s->cfg, &env, &sb->own_policy, err);
	if (r < 0)
		return nofile_explain(err, r);
	sb->policy = sb->own_policy;
	return 0;
}

static int sandbox_prepare_(struct runtime *rt, const struct sandbox_spec *spec, struct sandbox **ret,
			    struct srt_error *err);

/* The core size limit before credentials turned it off. */
static struct rlimit core_before;
static bool core_saved;

/* A secret in srt's memory (a masked credential's real value, the key of
 * the CA that signs what the sandbox trusts): srt may not be dumped (no
 * core file, no ptrace by the user's other processes). With
 * fs.suid_dumpable = 2 a non-dumpable process still dumps (for root): no
 * core at all. The sandbox gets its own limit back (see
 * bwrap_child_main). */
static int hold_secrets(const char *what, struct srt_error *err)
{
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
		return srt_error_set(err, -errno, "%s: cannot make srt non-dumpable (PR_SET_DUMPABLE): %s", what,
				     strerror(errno));
	struct rlimit core;
	if (getrlimit(RLIMIT_CORE, &core) == 0 && core.rlim_cur != 0) {
		if (!core_saved) {
			core_before = core;
			core_saved = true;
		}
		core.rlim_cur = 0;
		if (setrlimit(RLIMIT_CORE, &core) < 0)
			return srt_error_set(err, -errno, "%s: cannot turn core dumps off (RLIMIT_CORE): %s", what,
					     strerror(errno));
	}
	return 0;
}

/* credentials: read the secrets (into sb->creds, this process's memory
 * only), mint their stand-ins, and hide the masked files that fell back to
 * deny. With a secret in memory, srt may not be dumped (no core file, no
 * ptrace by the user's other processes). */
static int sandbox_credentials(struct sandbox *sb, struct mount_plan *plan, struct srt_error *err)
{
	const struct runtime *rt = sb->rt;
	struct strv warnings = { 0 };
	int r = creds_build(&sb->settings->cfg, rt->home ? rt->home : runtime_home_dir(), rt->cwd, &sb->creds,
			    &warnings, err);
	for (size_t i = 0; i < warnings.n; i++)
		fprintf(stderr, "srt: warning: %s\n", warnings.v[i]);
	strv_clear(&warnings);
	if (r < 0 || !sb->creds)
		return r;
	if ((r = creds_check_covers(sb->creds, sb->policy, err)) < 0)
		return r;
	size_t n_pats = 0;
	creds_patterns(sb->creds, &n_pats);
	if (n_pats > 0 && (r = hold_secrets("credentials", err)) < 0)
		return r;
	for (const char *const *h = creds_file_hide(sb->creds); h && *h; h++) {
		struct mount_op *v = realloc(plan->ops, (plan->n_ops + 1) * sizeof(*v));
		char *copy = v ? strdup(*h) : NULL;
		if (v)
			plan->ops = v;
		if (!copy)
			return srt_error_set(err, -ENOMEM, "out of memory");
		plan->ops[plan->n_ops++] = (struct mount_op){ .kind = MOUNT_HIDE_FILE, .path = copy,
							      .why = "credentials.files (nothing to mask: denied)" };
	}
	return 0;
}

int sandbox_prepare(struct runtime *rt, const struct sandbox_spec *spec, struct sandbox **ret,
		    struct srt_error *err)
{
	return nofile_explain(err, sandbox_prepare_(rt, spec, ret, err));
}

/* network.tlsTerminate: the trust bundle goes to srt-init in a sealed
 * memfd (it writes it read-only at TLS_BUNDLE_PATH), and the variables
 * that tools read name it. */
static int tls_bundle_prepare(struct sandbox *sb, struct strv *env, struct srt_error *err)
{
	const struct tls_setup *t = sb->settings->tls;
	int fd = memfd_create("srt-ca-bundle", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0)
		return srt_error_set(err, -errno, "memfd_create: %s", strerror(errno));
	int r = fd_write_all(fd, t->bundle, t->bundle_len);
	if (r < 0) {
		close(fd);
		return srt_error_set(err, r, "writing the trust bundle: %s", strerror(-r));
	}
	fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL);
	sb->bundle_fd = fd;
	for (size_t i = 0; i < tls_bundle_n_vars; i++)
		if (strv_push(env, tls_bundle_vars[i]) < 0 || strv_push(env, TLS_BUNDLE_PATH) < 0)
			return srt_error_set(err, -ENOMEM, "out of memory");
	return 0;
}

/*
 * The mitmProxy is a proxy with the host's network: a sandbox that could
 * connect to its socket itself would skip every list. Refuse a sandbox
 * whose unix socket rules (allowAllUnixSockets, an allowUnixSockets entry,
 * the library's per-sandbox list) would let it reach the socket, by the
 * path as written, with its folder's links resolved, or the socket's own.
 */
static int mitm_out_of_reach(const struct sandbox *sb, struct srt_error *err)
{
	const struct proxy_upstream *u = sb->settings->upstream;
	if (!u || u->mitm.scheme != PARENT_UNIX)
		return 0;
	const struct config_string *cs = &sb->settings->cfg.network.mitm_proxy.socket_path;
	_cleanup_free_ char *where = cs->value ? policy_pos_text(&cs->pos) : NULL;
	const char *w = where ? where : "network.mitmProxy.socketPath";
	if (sb->policy->allow_all_unix_sockets)
		return srt_error_set(err, -EPERM,
				     "%s: the mitmProxy socket %s would be reachable from inside the sandbox "
				     "(allowAllUnixSockets lets it connect to any unix socket): refused",
				     w, u->mitm.path);
	char paths[3][PATH_MAX];
	size_t n = 0;
	snprintf(paths[n++], sizeof(paths[0]), "%s", u->mitm.path);
	if (realpath(u->mitm.path, paths[n]))
		n++;
	char dir[PATH_MAX];
	snprintf(dir, sizeof(dir), "%s", u->mitm.path);
	char *slash = strrchr(dir, '/');
	if (slash) {
		*slash = '\0';
		char rdir[PATH_MAX];
		if (realpath(dir[0] ? dir : "/", rdir) &&
		    (size_t)snprintf(paths[n], sizeof(paths[0]), "%s/%s", strcmp(rdir, "/") ? rdir : "", slash + 1) <
			    sizeof(paths[0]))
			n++;
	}
	/* srt connects to the path on the host at each request: a command
	 * that may create or delete the socket, or any folder (or link) on
	 * its way, could put a link to another unix socket of the host there
	 * (a container engine's) and have srt carry its requests to it. The
	 * private /tmp is the sandbox's own: what it writes there is not the
	 * host's. */
	for (size_t i = 0; i < n; i++) {
		/* Each folder on the way as written (its links can be
		 * replaced), and as the links lead. */
		for (int as_written = 0; as_written < 2; as_written++) {
			_cleanup_free_ char *cur = as_written ? strdup(paths[i]) : policy_resolve_path(paths[i], false);
			if (!cur)
				return srt_error_set(err, -ENOMEM, "out of memory");
			while (cur[0] == '/' && cur[1]) {
				_cleanup_free_ char *res = policy_resolve_path(cur, false);
				struct policy_verdict v = { 0 };
				if (!res || policy_explain_path(sb->policy, res, true, &v) < 0) {
					policy_verdict_clear(&v);
					return srt_error_set(err, -ENOMEM, "out of memory");
				}
				bool replaceable = v.allowed && !(v.rule && strncmp(v.rule, "private /tmp", 12) == 0);
				if (replaceable) {
					int r = srt_error_set(err, -EPERM,
							      "%s: the mitmProxy socket %s could be replaced from inside "
							      "the sandbox (%s is writable there: %s%s%s): refused",
							      w, u->mitm.path, res, v.source ? v.source : "",
							      v.source ? ": " : "", v.rule ? v.rule : "allowWrite");
					policy_verdict_clear(&v);
					return r;
				}
				policy_verdict_clear(&v);
				char *last = strrchr(cur, '/');
				last[last == cur ? 1 : 0] = '\0';
			}
		}
	}
	for (size_t i = 0; i < n; i++) {
		const struct policy_unix_rule *r = policy_unix_socket_rule(sb->policy, paths[i]);
		if (!r)
			r = policy_unix_rules_match(&sb->extra_unix, paths[i]);
		if (r)
			return srt_error_set(err, -EPERM,
					     "%s: the mitmProxy socket %s would be reachable from inside the sandbox "
					     "(%s \"%s\" matches it): refused",
					     w, u->mitm.path, r->source ? r->source : "allowUnixSockets", r->text);
	}
	return 0;
}

static int sandbox_prepare_(struct runtime *rt, const struct sandbox_spec *spec, struct sandbox **ret,
			    struct srt_error *err)
{
	struct sandbox *sb = calloc(1, sizeof(*sb));
	if (!sb)
		return srt_error_set(err, -ENOMEM, "out of memory");
	sb->rt = rt;
	sb->sock = sb->init_pidfd = sb->plan_fd = sb->filter_fd = sb->notify_fd = sb->args_fd = -1;
	sb->bundle_fd = -1;
	sb->exit_status = -1;
	sb->settings = runtime_settings(rt);
	if (!sb->settings->policy) {
		free(sb);
		return srt_error_set(err, -ENOTSUP, "sandboxing is not enabled (the settings say sandbox.enabled: false)");
	}
	int r;
	if ((r = sandbox_resolve_policy(sb, err)) < 0) {
		free(sb);
		return r;
	}
	pthread_mutex_lock(&rt->lock);
	sb->id = rt->next_id++;
	pthread_mutex_unlock(&rt->lock);
	const struct policy *p = sb->policy;
	struct mount_plan *plan = NULL;
	_cleanup_free_ char *bwrap = NULL;
	_cleanup_free_ char *init_path = NULL;
	struct strv env = { 0 };
	char **listen_addrs = NULL;
	struct net_ports ports;

	net_ports(&sb->settings->cfg, &ports);
	if (!(sb->command = command_text(spec->command, spec->shell))) {
		r = srt_error_set(err, -ENOMEM, "out of memory");
		goto fail;
	}
	if (spec->allowed_domains && spec->allowed_domains[0] &&
	    (r = net_policy_build_list(spec->allowed_domains, "sandbox options", &sb->extra, err)) < 0)
		goto fail;
	if ((r = policy_unix_rules_build(spec->allow_unix_sockets, "sandbox options",
					 rt->home ? rt->home : runtime_home_dir(), spec->cwd, &sb->extra_unix, err)) < 0)
		goto fail;
	if ((r = mitm_out_of_reach(sb, err)) < 0)
		goto fail;
	if ((r = bwrap_find(p->bwrap_path, &bwrap, err)) < 0)
		goto fail;
	if (!(init_path = runtime_helper_path("srt-init"))) {
		r = srt_error_set(err, -ENOMEM, "out of memory");
		goto fail;
	}
	if (access(init_path, R_OK) < 0) {
		r = srt_error_set(err, -errno, "cannot open srt-init at %s: %s (is srt installed completely?)",
				  init_path, strerror(errno));
		goto fail;
	}
	if ((r = mount_plan_build(p, &plan, err)) < 0)
		goto fail;
	if ((r = sandbox_credentials(sb, plan, err)) < 0)
		goto fail;
	if (sb->settings->tls && (r = hold_secrets("network.tlsTerminate", err)) < 0)
		goto fail;
	if (rt->debug) {
		fprintf(stderr, "srt: bwrap: %s\n", bwrap);
		for (size_t i = 0; i < p->notes.n; i++)
			fprintf(stderr, "srt: note: %s\n", p->notes.v[i]);
		for (size_t i = 0; i < p->unmatched_globs.n; i++)
			fprintf(stderr, "srt: note: %s\n", p->unmatched_globs.v[i]);
		mount_plan_print(plan, stderr);
		size_t n_covers = 0;
		const struct creds_cover *cv = sb->creds ? creds_covers(sb->creds, &n_covers) : NULL;
		for (size_t i = 0; i < n_covers; i++)
			fprintf(stderr, "  masked       %s  <- credentials.files (its secrets as stand-ins, read-only)\n",
				cv[i].path);
	}
	if (p->enable_weaker_nested_sandbox)
		fprintf(stderr, "srt: warning: enableWeakerNestedSandbox: the sandbox sees the host's /proc "
				"(every process on this machine, their command lines and environments where "
				"permissions allow); use it only inside a container that already isolates you\n");
	if ((r = plan_listeners(sb->settings->net, &ports, &sb->listens, &sb->n_listens, err)) < 0)
		goto fail;
	if (!(listen_addrs = calloc(sb->n_listens + 1, sizeof(*listen_addrs)))) {
		r = srt_error_set(err, -ENOMEM, "out of memory");
		goto fail;
	}
	for (size_t i = 0; i < sb->n_listens; i++)
		listen_addrs[i] = sb->listens[i].addr;
	if (proxy_environment(&ports, &env) < 0) {
		r = srt_error_set(err, -ENOMEM, "out of memory");
		goto fail;
	}
	if (sb->settings->tls && (r = tls_bundle_prepare(sb, &env, err)) < 0)
		goto fail;
	/* Masked credentials: their stand-ins, after the caller's edits. */
	for (char *const *kv = sb->creds ? creds_env_set(sb->creds) : NULL; kv && kv[0] && kv[1]; kv += 2)
		if (strv_push(&env, kv[0]) < 0 || strv_push(&env, kv[1]) < 0) {
			r = srt_error_set(err, -ENOMEM, "out of memory");
			goto fail;
		}
	struct bwrap_launch l = {
		.init_fd = spec->init_fd,
		.sock_fd = spec->sock_fd,
		.args_fd = spec->args_fd,
		.cwd = spec->cwd,
		.shell = spec->shell,
		.ignore_mask = spec->ignore_mask,
		.command = spec->command,
		.listen = listen_addrs,
		.n_listen = sb->n_listens,
		.dns = p->transparent,
		.helper = init_path,
		.env_edits = spec->env,
		.clearenv = spec->env_replace,
		.setenv = env.v,
		.strip_env = sb->creds ? creds_env_strip(sb->creds) : NULL,
		.unset_env = sb->creds ? creds_env_unset(sb->creds) : NULL,
	};
	char args_num[16];
	snprintf(args_num, sizeof(args_num), "%d", spec->args_fd);
	if (strv_push(&sb->argv, bwrap) < 0 || strv_push(&sb->argv, "--args") < 0 ||
	    strv_push(&sb->argv, args_num) < 0) {
		r = srt_error_set(err, -ENOMEM, "out of memory");
		goto fail;
	}
	if ((r = bwrap_write_args(plan, &l, &sb->args_fd, &sb->argv, err)) < 0)
		goto fail;

	sb->plan = steal_pointer(&plan);
	free(listen_addrs);
	strv_clear(&env);
	*ret = sb;
	return 0;
fail:
	mount_plan_free(plan);
	free(listen_addrs);
	strv_clear(&env);
	sandbox_free_unstarted(sb);
	return r;
}

/* Does the sandbox write anywhere the host keeps? Then the write guard
 * must serve it: writable folders hold what the host runs later. The
 * private /tmp alone needs none (everything there is the sandbox's, and
 * gone with it). */
static bool guard_needed(const struct policy *p)
{
	for (size_t i = 0; i < p->n_rules; i++) {
		const struct policy_path_rule *r = &p->rules[i];
		if (r->kind == POLICY_ALLOW_WRITE && r->exists)
			return true;
	}
	return false;
}

/* SRT_WRITE_GUARD=off: for benchmarks that measure the guard's cost. */
static bool guard_disabled_by_env(void)
{
	const char *v = getenv("SRT_WRITE_GUARD");
	return v && strcmp(v, "off") == 0;
}

static int sandbox_prepare_finish_(struct sandbox *sb, struct srt_error *err);

/*
 * A library sandbox is started and served on the runtime's thread, with
 * descriptors of the process that the caller's other threads use too:
 * should they run out there (a truncated SCM_RIGHTS message from srt-init,
 * no memfd for bwrap's arguments, no descriptor for the write guard), the
 * sandbox would fail to start with status 125, or not be guarded. So the
 * room it needs is asked for here, on the caller's thread, where running
 * out is an error the caller can act on: the open descriptors are counted
 * against the soft RLIMIT_NOFILE (the system's table, ENFILE, is not
 * known in advance: it fails where it happens, and is said so).
 */
enum {
	NOFILE_LIB_CALLER = 8,   /* execute: the pipes of stdin, stdout, stderr; /dev/null; the launcher's pidfd */
	NOFILE_LIB_ATTACH = 3,   /* the launcher's connection, bwrap's arguments, srt-init */
	NOFILE_LIB_HELLO = 5,    /* the notification listener, srt-init's pidfd, the broker's eventfd and epoll */
};

static int nofile_headroom(const struct sandbox *sb, struct srt_error *err)
{
	size_t need = NOFILE_LIB_CALLER + NOFILE_LIB_ATTACH + NOFILE_LIB_HELLO + sb->n_listens + NOFILE_GUARD +
		      NOFILE_CONNECTION;
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur == RLIM_INFINITY)
		return 0;
	/* Counted, not taken: descriptors taken here, even for a moment,
	 * would be missing on the caller's other threads and the runtime's
	 * (accept, the proxies). */
	size_t used = nofile_used(rl.rlim_cur);
	size_t n = rl.rlim_cur > used ? (size_t)(rl.rlim_cur - used) : 0;
	if (n >= need)
		return 0;
	return srt_error_set(err, -EMFILE, "cannot start the sandbox: out of descriptors: the open-file limit, "
			     "RLIMIT_NOFILE, is %llu; starting and serving the sandbox takes %zu free "
			     "descriptors, and this process has %zu", (unsigned long long)rl.rlim_cur, need, n);
}

int sandbox_prepare_finish(struct sandbox *sb, struct srt_error *err)
{
	return nofile_explain(err, sandbox_prepare_finish_(sb, err));
}

static int sandbox_prepare_finish_(struct sandbox *sb, struct srt_error *err)
{
	struct runtime *rt = sb->rt;
	const struct policy *p = sb->policy;
	int r;
	/* The filters: the observer's (when this kernel can run it), and
	 * the enforcing one, which leaves AF_UNIX sockets to the observer
	 * when that refuses (and reports) them. */
	char serr[256] = "";
	sb->guard_on = guard_needed(p);
	if (sb->guard_on && guard_disabled_by_env()) {
		fprintf(stderr, "srt: SRT_WRITE_GUARD=off: the write guard is off; the sandbox can write git's "
			"config and hooks and start-up files in its writable folders (for benchmarks only)\n");
		sb->guard_on = false;
	}
	/* Unix sockets by path go through the connect broker unless all
	 * are allowed. A kernel that cannot run it keeps them refused at
	 * socket(), as the enforcement filter does without an observer. */
	sb->net_broker_on = (!p->allow_all_unix_sockets || p->transparent) && observer_supported() &&
			    nbroker_supported();
	if (p->transparent && !sb->net_broker_on)
		return srt_error_set(err, -ENOTSUP,
				     "network.mode \"transparent\" needs seccomp user notification and pidfd_getfd "
				     "(Linux 5.9 or later), which this system does not offer");
	bool observe = (rt->observe != SRT_OBSERVE_OFF || sb->guard_on || sb->net_broker_on) && observer_supported();
	if (sb->guard_on && (!observe || !wguard_supported()))
		return srt_error_set(err, -ENOTSUP,
				     "the write guard needs seccomp user notification with descriptor hand-over "
				     "(Linux 5.14 or later), which this system does not offer: srt does not run a "
				     "command with writable folders unguarded");
	if (observe) {
		enum observer_mode mode = observer_mode_of(rt->observe);
		if (sb->guard_on && mode == OBSERVER_BASIC)
			mode = OBSERVER_WRITES;
		const struct sandbox_observe_options oo = {
			.mode = mode,
			.deny_unix_sockets = !p->allow_all_unix_sockets && !sb->net_broker_on,
			.broker_net = sb->net_broker_on && !p->allow_all_unix_sockets,
		};
		if (sandbox_seccomp_export_notify(&oo, &sb->notify_fd, serr, sizeof(serr)) < 0) {
			if (sb->guard_on)
				return srt_error_set(err, -ENOTSUP, "the write guard cannot start: %s", serr);
			sb->net_broker_on = false; /* unix sockets stay refused */
			/* Only reports are lost: run without the observer. */
			if (rt->debug)
				fprintf(stderr, "srt: no observer: %s\n", serr);
			observe = false;
		}
	}
	const struct sandbox_seccomp_options sopts = {
		.allow_unix_sockets = p->allow_all_unix_sockets,
		.allow_nested_userns = p->allow_nested_user_namespaces,
		.observer_handles_unix = observe && !p->allow_all_unix_sockets,
	};
	if ((r = sandbox_seccomp_export(&sopts, &sb->filter_fd, serr, sizeof(serr))) < 0)
		return srt_error_set(err, r, "%s", serr);
	{
		size_t n_covers = 0;
		const struct creds_cover *cv = sb->creds ? creds_covers(sb->creds, &n_covers) : NULL;
		struct bwrap_cover *covers = n_covers ? calloc(n_covers, sizeof(*covers)) : NULL;
		if (n_covers && !covers)
			return srt_error_set(err, -ENOMEM, "out of memory");
		for (size_t i = 0; i < n_covers; i++)
			covers[i] = (struct bwrap_cover){ .path = cv[i].path, .data = cv[i].data, .len = cv[i].len };
		r = bwrap_write_plan_covers(sb->plan, covers, n_covers, &sb->plan_fd, err);
		free(covers);
		if (r < 0)
			return r;
	}
	mount_plan_free(sb->plan);
	sb->plan = NULL;
	if (!sb->settings->cli && (r = nofile_headroom(sb, err)) < 0)
		return r;
	return 0;
}

/* ---- Serving a sandbox -------------------------------------------------------- */

static void deliver(struct sandbox *sb, int sig)
{
	if (sb->init_pidfd >= 0 && syscall(SYS_pidfd_send_signal, sb->init_pidfd, sig, NULL, 0) == 0)
		return;
	if (sb->init_pid > 0)
		kill(sb->init_pid, sig);
}

static void stop_watching_sock(struct sandbox *sb)
{
	if (sb->sock_open) {
		uv_poll_stop(&sb->sock_watch);
		sb->sock_open = false;
		if (sb->on_end)
			sb->on_end(sb);
	}
}

/* ---- Transparent mode: connects the connect broker hands over --------------
 *
 * The broker's thread passes each connect() of a TCP socket to an address
 * outside the sandbox's loopback (nbroker_options.direct); here, on the
 * loop's thread, the address becomes a name again (the DNS responder
 * handed it out) or stays a literal, and the proxy server decides and
 * dials it exactly as a CONNECT request (proxy_server_direct); the host
 * socket it dialed replaces the program's (nbroker_direct_finish). */

static void sandbox_unref(struct sandbox *sb);

struct direct_job {
	struct direct_job *next;
	struct nbroker_direct *req;
	struct proxy_direct *pd;
	struct direct_queue *q;
};

/* Connects being decided and dialed at once, per sandbox: each holds
 * three of srt's descriptors until answered (the program's socket, the
 * listener's duplicate, the dial). Past it: EAGAIN. */
#define DIRECT_JOBS_MAX 1024

struct direct_queue {
	struct sandbox *sb;
	int n_jobs;                  /* atomic: queued and under way */
	pthread_mutex_t lock;
	struct direct_job *queued;   /* from the broker's thread */
	struct direct_job *inflight; /* the loop's: being decided or dialed */
	bool closing;
	uv_async_t async;
};

static void direct_fail(struct nbroker_direct *req, int err)
{
	(void)nbroker_direct_finish(req, -1, err);
}

static void direct_job_end(struct direct_queue *q, struct direct_job *j)
{
	free(j);
	__atomic_sub_fetch(&q->n_jobs, 1, __ATOMIC_RELAXED);
}

/* On the broker's thread. */
static void direct_post(void *data, struct nbroker_direct *req)
{
	struct direct_queue *q = data;
	if (__atomic_add_fetch(&q->n_jobs, 1, __ATOMIC_RELAXED) > DIRECT_JOBS_MAX) {
		__atomic_sub_fetch(&q->n_jobs, 1, __ATOMIC_RELAXED);
		direct_fail(req, EAGAIN);
		return;
	}
	struct direct_job *j = calloc(1, sizeof(*j));
	pthread_mutex_lock(&q->lock);
	bool closing = q->closing;
	if (j && !closing) {
		j->req = req;
		j->q = q;
		j->next = q->queued;
		q->queued = j;
	}
	pthread_mutex_unlock(&q->lock);
	if (!j || closing) {
		free(j);
		__atomic_sub_fetch(&q->n_jobs, 1, __ATOMIC_RELAXED);
		direct_fail(req, ECONNREFUSED);
		return;
	}
	uv_async_send(&q->async);
}

static void inflight_remove(struct direct_queue *q, struct direct_job *j)
{
	for (struct direct_job **pp = &q->inflight; *pp; pp = &(*pp)->next)
		if (*pp == j) {
			*pp = j->next;
			return;
		}
}

static void on_direct_done(void *data, int fd, int err, const char *rule)
{
	(void)rule; /* the proxy's event reports a refusal */
	struct direct_job *j = data;
	inflight_remove(j->q, j);
	(void)nbroker_direct_finish(j->req, fd, fd >= 0 ? err : (err ? err : ECONNREFUSED));
	direct_job_end(j->q, j);
}

static void direct_start(struct direct_queue *q, struct direct_job *j)
{
	struct sandbox *sb = q->sb;
	struct nbroker_direct *req = j->req;
	const struct sockaddr *a = (const struct sockaddr *)&req->addr;
	char host[INET6_ADDRSTRLEN] = "";
	uint16_t port = 0;
	if (a->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)a;
		inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
		port = ntohs(in->sin_port);
	} else {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)a;
		inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
		port = ntohs(in6->sin6_port);
	}
	const char *name = sb->dns ? dns_server_name_of(sb->dns, a) : NULL;
	if (!name && sb->dns && dns_server_in_range(sb->dns, a)) {
		char target[INET6_ADDRSTRLEN + 16];
		snprintf(target, sizeof(target), a->sa_family == AF_INET6 ? "[%s]:%u" : "%s:%u", host, (unsigned)port);
		record(sb, SRT_VIOLATION_NETWORK, SRT_SOURCE_OBSERVER, "connect", target,
		       "an address srt's DNS never handed out", req->tid);
		direct_fail(req, ECONNREFUSED);
		direct_job_end(q, j);
		return;
	}
	if (!sb->proxy || proxy_server_direct(sb->proxy, name ? name : host, port, req->family, on_direct_done, j,
					      &j->pd) < 0) {
		direct_fail(req, ECONNREFUSED);
		direct_job_end(q, j);
		return;
	}
	if (req->nonblocking)
		proxy_direct_early(j->pd);
	j->next = q->inflight;
	q->inflight = j;
}

static void on_direct_async(uv_async_t *a)
{
	struct direct_queue *q = a->data;
	pthread_mutex_lock(&q->lock);
	struct direct_job *list = q->queued;
	q->queued = NULL;
	pthread_mutex_unlock(&q->lock);
	/* In arrival order. */
	struct direct_job *rev = NULL;
	while (list) {
		struct direct_job *n = list->next;
		list->next = rev;
		rev = list;
		list = n;
	}
	while (rev) {
		struct direct_job *n = rev->next;
		rev->next = NULL;
		direct_start(q, rev);
		rev = n;
	}
}

static int direct_queue_new(struct sandbox *sb, struct direct_queue **ret)
{
	struct direct_queue *q = calloc(1, sizeof(*q));
	if (!q)
		return -ENOMEM;
	q->sb = sb;
	pthread_mutex_init(&q->lock, NULL);
	int r = uv_async_init(sb->rt->loop, &q->async, on_direct_async);
	if (r < 0) {
		pthread_mutex_destroy(&q->lock);
		free(q);
		return r;
	}
	q->async.data = q;
	*ret = q;
	return 0;
}

static void on_direct_queue_closed(uv_handle_t *h)
{
	struct direct_queue *q = h->data;
	struct sandbox *sb = q->sb;
	pthread_mutex_destroy(&q->lock);
	free(q);
	sandbox_unref(sb);
}

/* After the broker's thread is gone (observer_close): what is queued or
 * under way ends (its callers are gone with the sandbox). */
static void direct_queue_close(struct direct_queue *q)
{
	pthread_mutex_lock(&q->lock);
	q->closing = true;
	struct direct_job *list = q->queued;
	q->queued = NULL;
	pthread_mutex_unlock(&q->lock);
	while (list) {
		struct direct_job *n = list->next;
		direct_fail(list->req, ECONNREFUSED);
		direct_job_end(q, list);
		list = n;
	}
	while (q->inflight) {
		struct direct_job *j = q->inflight;
		q->inflight = j->next;
		proxy_direct_cancel(j->pd);
		direct_fail(j->req, ECONNREFUSED);
		direct_job_end(q, j);
	}
	q->sb->refs++;
	uv_close((uv_handle_t *)&q->async, on_direct_queue_closed);
}

/* The pid a pidfd names, in our pid namespace (its fdinfo), or -1. */
static pid_t pidfd_pid(int pidfd)
{
	char p[64];
	long v;
	snprintf(p, sizeof(p), "/proc/self/fdinfo/%d", pidfd);
	return proc_field(p, "Pid", 10, &v) == 0 && v > 0 && v <= INT32_MAX ? (pid_t)v : -1;
}

static void on_hello(struct sandbox *sb, pid_t pid, int notif_fd, int diag_fd, int init_pidfd, uint32_t hello_flags)
{
	sb->init_pid = pid;
	/* Ours by pid unless srt-init gave its own (the same process: it
	 * is still there, waiting for nothing, and pid names it). */
	if (init_pidfd >= 0 && pidfd_pid(init_pidfd) == pid)
		sb->init_pidfd = init_pidfd;
	else {
		if (init_pidfd >= 0)
			close(init_pidfd);
		sb->init_pidfd = pidfd_open_(pid);
	}
	/* srt-init starts the command right after its hello, without waiting
	 * for us: the observer and the guard are whole before the broker
	 * reads their first notification. */
	struct wguard *g = NULL;
	if (sb->guard_on && notif_fd >= 0) {
		const char *home = sb->rt->home ? sb->rt->home : runtime_home_dir();
		const struct wguard_options go = { .policy = sb->policy, .home = home };
		if (wguard_new(&go, &g) < 0)
			g = NULL;
	}
	struct nbroker *nb = NULL;
	if (sb->policy->transparent && notif_fd >= 0 && !sb->direct_q && direct_queue_new(sb, &sb->direct_q) < 0)
		sb->direct_q = NULL;
	if (sb->net_broker_on && notif_fd >= 0) {
		const struct nbroker_options no = {
			.policy = sb->policy,
			.diag_fd = diag_fd,
			.tmp_overlay = sb->tmp_overlay_known,
			.tmp_overlay_dev = sb->tmp_overlay_dev,
			.tmp_overlay_mnt = sb->tmp_overlay_mnt,
			.tmp_upper_dev = sb->tmp_upper_dev,
			.extra = &sb->extra_unix,
			.unix_all = sb->policy->allow_all_unix_sockets,
			.direct = sb->direct_q ? direct_post : NULL,
			.direct_data = sb->direct_q,
		};
		diag_fd = -1;
		if (nbroker_new(&no, &nb) < 0)
			nb = NULL;
	}
	if (diag_fd >= 0)
		close(diag_fd);
	enum observer_mode mode = observer_mode_of(sb->rt->observe);
	if (sb->guard_on && mode == OBSERVER_BASIC)
		mode = OBSERVER_WRITES;
	const struct sandbox_observe_options oo = {
		.mode = mode,
		.deny_unix_sockets = !sb->policy->allow_all_unix_sockets && !sb->net_broker_on,
		.broker_net = sb->net_broker_on && !sb->policy->allow_all_unix_sockets,
		.killable_wait = hello_flags & PROTO_HELLO_KILLABLE,
	};
	if (notif_fd >= 0) {
		if ((sb->guard_on && !g) || (sb->net_broker_on && !nb)) {
			close(notif_fd);
			wguard_free(g);
			nbroker_free(nb);
		} else if (observer_new(sb->rt->loop, notif_fd, on_observed, observed_keep, sb, &oo, g, nb,
					&sb->obs) < 0 && sb->rt->debug)
			fprintf(stderr, "srt: the observer could not start: violations are reported by the proxies only\n");
	}
	if ((sb->guard_on || (sb->net_broker_on && notif_fd >= 0)) && !sb->obs) {
		/* Fail closed: the sandbox ends at once, and until then every
		 * call the guard or the connect broker would judge fails (no
		 * listener: ENOSYS). */
		fprintf(stderr, "srt: the %s could not start; the command does not run\n",
			sb->guard_on ? "write guard" : "connect broker");
		deliver(sb, SIGKILL);
		return;
	}
	sb->started = true;
	for (size_t i = 0; i < sb->n_pending; i++)
		deliver(sb, sb->pending[i]);
	sb->n_pending = 0;
	sb->start_ns = events_now_ns();
	struct srt_sandbox_info info = { .id = sb->id, .command = sb->command, .pid = pid, .status = -1 };
	struct srt_event ev = { .type = SRT_EVENT_SANDBOX_START, .sandbox = &info };
	event_hub_emit(&sb->rt->hub, &ev);
	if (sb->rt->debug)
		fprintf(stderr, "srt: sandbox init is pid %d; command started\n", (int)pid);
}

/* The sandbox runtime_run (srt's own run) serves on this thread: the one
 * whose report on the private /tmp srt prints (unless --quiet). */
static _Thread_local const struct sandbox *cli_sandbox;
static _Thread_local bool cli_quiet;

/* srt-init's report on the private /tmp after the status in PROTO_EXIT
 * (layout: MOUNT_TMP_REPORT_HEAD): why it fell back to an empty tmpfs (for
 * --debug), and which files of the host's /tmp the command changed in its
 * own copy. The names come from the host's /tmp, where anyone may choose
 * them: escaped for the terminal. */
static void print_tmp_report(const struct sandbox *sb, const char *p, uint32_t len)
{
	struct mount_tmp_report t;
	if (mount_tmp_report_read(p, len, &t) < 0)
		return;
	if (t.fallback_errno && sb->rt->debug)
		fprintf(stderr, "srt: note: the private /tmp is an empty tmpfs, without the host's /tmp beneath: "
			"overlayfs could not be mounted there (%s%s)\n", strerror((int)t.fallback_errno),
			t.fallback_errno == EPERM && geteuid() == 0 ? "; run by root, srt-init would need CAP_DAC_OVERRIDE"
								     : "");
	if (!t.changed || sb != cli_sandbox || cli_quiet)
		return;
	fprintf(stderr, "srt: the command changed %u file%s of the host's /tmp inside its private /tmp "
		"(changes are not kept):", t.changed, t.changed == 1 ? "" : "s");
	uint32_t shown = 0;
	size_t off = 0;
	for (const char *q; shown < t.changed && (q = mount_tmp_report_next(&t, &off)); shown++) {
		_cleanup_free_ char *e = str_escape_invalid(q, true);
		fprintf(stderr, "%s %s", shown ? "," : "", e ? e : "?");
	}
	if (shown < t.changed)
		fprintf(stderr, "%s and %u more", shown ? "," : "", t.changed - shown);
	fputc('\n', stderr);
}

static void on_sock(uv_poll_t *w, int status, int events)
{
	struct sandbox *sb = w->data;
	(void)events;
	if (status < 0) {
		stop_watching_sock(sb);
		return;
	}
	uint32_t type = 0, len = 0;
	static _Thread_local uint32_t payload[PROTO_MAX_PAYLOAD / sizeof(uint32_t)];
	int fds[PROTO_MAX_FDS];
	size_t nfds = 0;
	pid_t pid = 0;
	int r = proto_recv(sb->sock, &type, payload, &len, fds, &nfds, &pid);
	if (r == -EAGAIN)
		return;
	if (r < 0) {
		/* End of stream: srt-init ended (or died before it started). */
		stop_watching_sock(sb);
		return;
	}
	if (type == PROTO_LISTEN && !sb->started) {
		/* The listeners srt-init made inside the sandbox: serve them. */
		for (size_t i = 0; i < nfds; i++) {
			uint32_t idx = (i + 1) * sizeof(uint32_t) <= len ? payload[i] : UINT32_MAX;
			if (!sb->proxy || idx >= sb->n_listens) {
				close(fds[i]);
				continue;
			}
			const struct listen_spec *l = &sb->listens[idx];
			/* A host service's connections follow the lists in force
			 * (a reload may drop its port). */
			int lr = l->service ? proxy_server_listen_service(sb->proxy, fds[i],
									   (const struct sockaddr *)&l->target,
									   l->target_len)
					    : proxy_server_listen(sb->proxy, l->kind, fds[i],
								  (const struct sockaddr *)&l->target, l->target_len);
			if (lr < 0 && sb->rt->debug)
				fprintf(stderr, "srt: cannot serve %s\n", l->addr);
			sb->listens[idx].served = lr >= 0;
		}
		return;
	}
	if (type == PROTO_DNS && !sb->started) {
		serve_dns_sockets(sb, payload, len, fds, nfds);
		return;
	}
	if (type == PROTO_HELLO && !sb->started) {
		uint32_t hf = len >= sizeof(uint32_t) ? payload[0] : 0;
		int got[3] = { -1, -1, -1 }; /* listener, diag, pidfd */
		size_t k = 0;
		const uint32_t bits[3] = { PROTO_HELLO_LISTENER, PROTO_HELLO_DIAG, PROTO_HELLO_PIDFD };
		for (size_t i = 0; i < 3; i++)
			if ((hf & bits[i]) && k < nfds)
				got[i] = fds[k++];
		for (size_t i = k; i < nfds; i++)
			close(fds[i]);
		/* The credentials name srt-init unless an srt above ours
		 * carried the message out (then the sender is not in our pid
		 * namespace: pid 0): its pidfd says who it is. */
		if (pid <= 0 && got[2] >= 0)
			pid = pidfd_pid(got[2]);
		if (pid <= 0) {
			for (size_t i = 0; i < 3; i++)
				if (got[i] >= 0)
					close(got[i]);
			return;
		}
		if ((hf & PROTO_HELLO_TMP_OVERLAY) && len >= 7 * sizeof(uint32_t)) {
			sb->tmp_overlay_dev = makedev(payload[1], payload[2]);
			sb->tmp_overlay_mnt = (uint64_t)payload[3] | (uint64_t)payload[4] << 32;
			sb->tmp_upper_dev = makedev(payload[5], payload[6]);
			sb->tmp_overlay_known = true;
		}
		on_hello(sb, pid, got[0], got[1], got[2], hf);
		return;
	}
	for (size_t i = 0; i < nfds; i++)
		close(fds[i]);
	if (type == PROTO_EXIT && sb->started && len >= sizeof(int32_t)) {
		sb->exit_status = (int)(int32_t)payload[0];
		print_tmp_report(sb, (const char *)payload, len);
	}
}

static void on_proxy_closed(void *data);

int sandbox_attach(struct sandbox *sb, int sock, struct srt_error *err)
{
	struct runtime *rt = sb->rt;
	int fds[4] = { sb->plan_fd, sb->filter_fd, sb->notify_fd, sb->bundle_fd };
	size_t nfds = sb->notify_fd >= 0 ? 3 : 2;
	/* Whether srt-init may leave AF_UNIX alone should its notify filter
	 * not load (srt inside srt): the enforcing filter's own choice. */
	uint32_t flags = (sb->policy->allow_all_unix_sockets ? PROTO_PLAN_ALLOW_UNIX : 0) |
			 (sb->guard_on ? PROTO_PLAN_NEED_LISTENER : 0);
	if (sb->bundle_fd >= 0) {
		/* The trust bundle comes last. */
		fds[nfds++] = sb->bundle_fd;
		flags |= PROTO_PLAN_CA_BUNDLE;
	}
	int r = proto_send(sock, PROTO_PLAN, &flags, sizeof(flags), fds, nfds);
	if (r < 0) {
		close(sock);
		return srt_error_set(err, r, "cannot hand the mount plan to srt-init: %s", strerror(-r));
	}
	for (size_t i = 0; i < 3; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	if (sb->bundle_fd >= 0)
		close(sb->bundle_fd);
	sb->plan_fd = sb->filter_fd = sb->notify_fd = sb->bundle_fd = -1;
	sb->sock = sock;
	fcntl(sock, F_SETFL, fcntl(sock, F_GETFL) | O_NONBLOCK);
	sb->hooks = (struct proxy_hooks){
		.data = sb,
		.policy = sb_policy,
		.extra = sb->extra,
		.ask_async = sb_ask_async,
		.ask = sb_ask,
		.ask_timeout = sb_ask_timeout,
		.on_event = sb_on_event,
		.on_closed = on_proxy_closed,
		.on_credential = sb_on_credential,
		.cred_settings = sb_cred_settings,
	};
	struct proxy_options po = { .policy = sb->settings->net, .debug = rt->debug, .hooks = &sb->hooks,
				    .upstream = sb->settings->upstream,
				    .tls = sb->settings->tls ? &sb->settings->tls->t : NULL,
				    .creds = sb->creds };
	proxy_limits_default(&po.limits);
	/* network.timeouts of the generation the sandbox started with: a
	 * reload changes the rules of running sandboxes, not their proxies. */
	const struct config *cfg = &sb->settings->cfg;
	const struct {
		const struct config_timeout *from;
		unsigned *to;
	} timeouts[] = {
		{ &cfg->network.timeouts.request_head, &po.limits.head_timeout_ms },
		{ &cfg->network.timeouts.connect, &po.limits.connect_timeout_ms },
		{ &cfg->network.timeouts.keep_alive_idle, &po.limits.idle_timeout_ms },
		{ &cfg->network.timeouts.response, &po.limits.response_timeout_ms },
		{ &cfg->network.timeouts.tunnel_idle, &po.limits.tunnel_idle_timeout_ms },
	};
	for (size_t i = 0; i < ARRAY_SIZE(timeouts); i++)
		if (timeouts[i].from->set)
			*timeouts[i].to = timeouts[i].from->ms;
	if (proxy_server_new(rt->loop, &po, &sb->proxy) < 0) {
		close(sock);
		sb->sock = -1;
		return srt_error_set(err, -ENOMEM, "cannot start the proxies");
	}
	if (sb->policy->transparent) {
		const struct dns_server_hooks dh = { .data = sb, .judge = sb_dns_judge, .on_refused = sb_dns_refused };
		int dr = dns_server_new(rt->loop, &dh, &sb->dns);
		/* Without it no name resolves inside: narrower, not wider. */
		if (dr < 0)
			fprintf(stderr, "srt: cannot answer names inside the sandbox: %s\n", strerror(-dr));
	}
	sb->sock_watch.data = sb;
	uv_poll_init(rt->loop, &sb->sock_watch, sock);
	sb->watch_made = true;
	uv_poll_start(&sb->sock_watch, UV_READABLE | UV_DISCONNECT, on_sock);
	sb->sock_open = true;
	sb->next = rt->sandboxes;
	rt->sandboxes = sb;
	return 0;
}

/* A finished sandbox lives on until its socket watch and its proxy are
 * closed (the proxy's connections report on their way out, into sb's
 * hooks); then sandbox.exit, which so comes after every other event of
 * the sandbox, and the owner's on_freed. */
static void sandbox_unref(struct sandbox *sb)
{
	if (--sb->refs > 0)
		return;
	if (sb->started) {
		struct srt_sandbox_info info = {
			.id = sb->id,
			.command = sb->command,
			.pid = sb->init_pid,
			.status = sb->final_status,
			.duration_ns = sb->end_ns - sb->start_ns,
		};
		struct srt_event ev = { .type = SRT_EVENT_SANDBOX_EXIT, .sandbox = &info };
		event_hub_emit(&sb->rt->hub, &ev);
	}
	if (sb->on_freed)
		sb->on_freed(sb);
	sandbox_free(sb);
}

static void on_watch_closed(uv_handle_t *h)
{
	sandbox_unref(h->data);
}

static void on_proxy_closed(void *data)
{
	sandbox_unref(data);
}

void sandbox_finish(struct sandbox *sb, int status)
{
	struct runtime *rt = sb->rt;
	if (sb->ended)
		return;
	sb->ended = true;
	sb->end_ns = events_now_ns();
	sb->final_status = status >= 0 ? status : sb->exit_status;
	for (struct sandbox **pp = &rt->sandboxes; *pp; pp = &(*pp)->next)
		if (*pp == sb) {
			*pp = sb->next;
			break;
		}
	sb->on_end = NULL;
	stop_watching_sock(sb);
	sb->refs = 1;
	if (sb->obs)
		observer_close(sb->obs);
	sb->obs = NULL;
	if (sb->direct_q)
		direct_queue_close(sb->direct_q);
	sb->direct_q = NULL;
	if (sb->sock >= 0)
		close(sb->sock);
	sb->sock = -1;
	if (sb->watch_made) {
		sb->refs++;
		uv_close((uv_handle_t *)&sb->sock_watch, on_watch_closed);
	}
	if (sb->proxy) {
		sb->refs++;
		proxy_server_close(sb->proxy);
		sb->proxy = NULL;
	}
	/* It calls no hook once closed, so sb need not wait for it. */
	dns_server_close(sb->dns);
	sb->dns = NULL;
	sandbox_unref(sb);
}

/* ---- The CLI: one sandbox, this thread's loop, signals forwarded ------------- */

static const int forwarded[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2 };

struct bwrap_child {
	pid_t parent;
	const sigset_t *oldmask;
	const struct sigaction *pipe_old;
	int keep[3];
	int first;
	bool nofile_raised;
	const struct rlimit *nofile;
	char *const *argv;
};

/* "srt: WHAT WHAT2: strerror(e)SUFFIX" and exit 125. */
static void child_fail(const char *what, const char *what2, int e, const char *suffix)
{
	/* No stdio: the child shares srt's memory until it executes. */
	const char *es = strerror(e);
	struct iovec v[7] = {
		{ (void *)"srt: ", 5 }, { (void *)what, strlen(what) }, { (void *)what2, strlen(what2) },
		{ (void *)": ", 2 }, { (void *)es, strlen(es) }, { (void *)suffix, strlen(suffix) }, { (void *)"\n", 1 },
	};
	(void)writev(STDERR_FILENO, v, 7);
	_exit(125);
}

/* In the child, until execv: only system calls, no allocation, no stdio. */
static int bwrap_child_main(void *arg)
{
	const struct bwrap_child *bc = arg;
	/* bwrap's own process must not die from the terminal's ^C before
	 * the command had its say: srt-init decides what the command's
	 * signals look like. No PR_SET_PDEATHSIG here: bwrap arms it
	 * itself once its child exists (--die-with-parent); until GO the
	 * sandbox ends on its own when srt is gone (srt-init sees the
	 * socketpair close). */
	if (getppid() != bc->parent)
		_exit(125);
	/* Every handler of srt's back to the default: one must never run in
	 * this child, on srt's memory. */
	for (int sig = 1; sig < NSIG; sig++) {
		struct sigaction sa;
		if (sig == SIGKILL || sig == SIGSTOP || syscall(SYS_rt_sigaction, sig, NULL, &sa, _NSIG / 8) < 0)
			continue;
		if (sa.sa_handler != SIG_DFL && sa.sa_handler != SIG_IGN)
			signal(sig, SIG_DFL);
	}
	for (size_t i = 0; i < ARRAY_SIZE(forwarded); i++)
		signal(forwarded[i], SIG_IGN);
	sigaction(SIGPIPE, bc->pipe_old, NULL);
	int e = fd_place(bc->keep, 3, bc->first);
	if (e < 0)
		child_fail("cannot hand descriptors to bubblewrap", "", -e,
			   e == -EMFILE ? " (the open-file limit, RLIMIT_NOFILE, is too low)" : "");
	if (bc->nofile_raised)
		setrlimit(RLIMIT_NOFILE, bc->nofile);
	if (core_saved)
		setrlimit(RLIMIT_CORE, &core_before);
	sigprocmask(SIG_SETMASK, bc->oldmask, NULL);
	execv(bc->argv[0], bc->argv);
	child_fail("cannot execute ", bc->argv[0], errno, "");
	return 125;
}

/* bwrap could not be handed what it needs: stop it, and when it was gone
 * already (it could not make the namespaces: the plan met a closed
 * socket), say why, as when it fails later. */
static void bwrap_failed_early(struct runtime *rt, pid_t pid, int r, struct srt_error *err)
{
	int st = 0;
	bool gone = (r == -EPIPE || r == -ECONNRESET) && waitpid(pid, &st, 0) == pid;
	if (!gone) {
		kill(pid, SIGKILL);
		while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
			;
		return;
	}
	if (WIFEXITED(st) && WEXITSTATUS(st) != 0) {
		const struct policy *hp = runtime_settings(rt)->policy;
		const char *hint = bwrap_userns_hint(hp && hp->enable_weaker_nested_sandbox);
		srt_error_set(err, -ECHILD, "the sandbox could not be set up (bubblewrap exited with status %d)%s%s",
			      WEXITSTATUS(st), hint ? ": " : "", hint ? hint : "");
	}
}

/* Start bwrap: its pid, or a negative errno. */
static pid_t spawn_bwrap(struct bwrap_child *bc)
{
	const size_t stack_size = 64 * 1024;
	void *stack = mmap(NULL, stack_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
	if (stack == MAP_FAILED)
		return -errno;
	/* No signal handler may run in the child before it resets them. */
	sigset_t all, saved;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &saved);
	pid_t pid = clone(bwrap_child_main, (char *)stack + stack_size, CLONE_VM | CLONE_VFORK | SIGCHLD, bc);
	int e = errno;
	pthread_sigmask(SIG_SETMASK, &saved, NULL);
	munmap(stack, stack_size);
	return pid < 0 ? -e : pid;
}


struct cli_run {
	struct sandbox *sb;
	uv_poll_t sig_watch;
	int sigfd;
	pid_t bwrap_pid;
	int bwrap_status;
	bool bwrap_done;
};

static void cli_reap(struct cli_run *c)
{
	int status;
	/* Only bwrap. */
	if (!c->bwrap_done && waitpid(c->bwrap_pid, &status, WNOHANG) == c->bwrap_pid) {
		c->bwrap_status = status;
		c->bwrap_done = true;
	}
	if (c->bwrap_done)
		uv_poll_stop(&c->sig_watch);
}

static void cli_on_signal(uv_poll_t *w, int status, int events)
{
	struct cli_run *c = w->data;
	struct sandbox *sb = c->sb;
	(void)status;
	(void)events;
	struct signalfd_siginfo si;
	while (read(c->sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		int sig = (int)si.ssi_signo;
		if (sig == SIGCHLD)
			continue; /* reaped below */
		/* The terminal sends ^C to the whole foreground process group,
		 * the command included: forwarding it would deliver it twice. */
		if (si.ssi_code == SI_KERNEL)
			continue;
		if (sb->rt->debug)
			fprintf(stderr, "srt: forwarding signal %d\n", sig);
		if (sb->started || sb->init_pid > 0)
			deliver(sb, sig);
		else if (sb->n_pending < ARRAY_SIZE(sb->pending))
			sb->pending[sb->n_pending++] = sig;
	}
	cli_reap(c);
}

static unsigned long ignored_signals(void)
{
	unsigned long mask = 0;
	for (size_t i = 0; i < ARRAY_SIZE(forwarded); i++) {
		struct sigaction sa;
		if (sigaction(forwarded[i], NULL, &sa) == 0 && sa.sa_handler == SIG_IGN)
			mask |= 1ul << forwarded[i];
	}
	return mask;
}

int runtime_run(struct runtime *rt, const struct runtime_run_options *o, int *ret_status, struct srt_error *err)
{
	struct cli_run c = { .sigfd = -1 };
	_cleanup_free_ char *init_path = NULL;
	int init_fd = -1, sv[2] = { -1, -1 };
	sigset_t mask, oldmask;
	int r;

	sigemptyset(&mask);
	sigaddset(&mask, SIGCHLD);
	for (size_t i = 0; i < ARRAY_SIZE(forwarded); i++)
		sigaddset(&mask, forwarded[i]);
	unsigned long ignore_mask = ignored_signals();
	sigprocmask(SIG_BLOCK, &mask, &oldmask);
	/* A client in the sandbox that hangs up while the proxy writes to it
	 * must end that connection, not srt: every write and splice then
	 * fails with EPIPE instead. bwrap (and so the command) gets the
	 * disposition srt was started with. */
	struct sigaction pipe_ign = { .sa_handler = SIG_IGN }, pipe_old;
	sigemptyset(&pipe_ign.sa_mask);
	sigaction(SIGPIPE, &pipe_ign, &pipe_old);
	/* srt runs at the hard descriptor limit (the proxies need a descriptor
	 * or two per connection); bwrap, and so the command, gets back the
	 * limit srt was started with. */
	struct rlimit started_nofile = { RLIM_INFINITY, RLIM_INFINITY };
	bool nofile_raised = false;
	if (getrlimit(RLIMIT_NOFILE, &started_nofile) == 0 && started_nofile.rlim_cur < started_nofile.rlim_max) {
		struct rlimit raised = { started_nofile.rlim_max, started_nofile.rlim_max };
		nofile_raised = setrlimit(RLIMIT_NOFILE, &raised) == 0;
	}
	unsigned nofile_in_use = nofile_used(started_nofile.rlim_max);

	/* In bwrap these three are 3, 4, 5 and nothing else above stderr
	 * is open: a descriptor srt inherited (a writable file, a socket)
	 * must not reach the sandbox. */
	enum { CHILD_INIT_FD = 3, CHILD_SOCK_FD, CHILD_ARGS_FD };
	const struct sandbox_spec spec = {
		.command = o->command,
		.shell = o->shell,
		.cwd = o->cwd,
		.ignore_mask = ignore_mask,
		.init_fd = CHILD_INIT_FD,
		.sock_fd = CHILD_SOCK_FD,
		.args_fd = CHILD_ARGS_FD,
	};
	if ((r = sandbox_prepare(rt, &spec, &c.sb, err)) < 0)
		goto out;
	/* Before anything runs or is made on the host. */
	struct nofile_demand demand = { .used = nofile_in_use, .listeners = c.sb->n_listens };
	nofile_plan_demand(c.sb->plan, &demand);
	if ((r = nofile_check(&demand, &started_nofile, 0, err)) < 0)
		goto out;
	init_path = runtime_helper_path("srt-init");
	init_fd = init_path ? open(init_path, O_RDONLY | O_CLOEXEC) : -1;
	if (init_fd < 0) {
		r = srt_error_set(err, -errno, "cannot open srt-init at %s: %s (is srt installed completely?)",
				  init_path ? init_path : "?", strerror(errno));
		goto out;
	}
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
		r = srt_error_set(err, -errno, "socketpair: %s", strerror(errno));
		goto out;
	}
	int one = 1;
	setsockopt(sv[0], SOL_SOCKET, SO_PASSCRED, &one, sizeof(one));
	c.sigfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	if (c.sigfd < 0) {
		r = srt_error_set(err, -errno, "signalfd: %s", strerror(errno));
		goto out;
	}

	/* bwrap starts in a child that shares our memory until it executes
	 * (CLONE_VM | CLONE_VFORK, as posix_spawn does): a fork would copy
	 * our page tables first, the dearest part of srt's start-up. */
	struct bwrap_child bc = {
		.parent = getpid(),
		.oldmask = &oldmask,
		.pipe_old = &pipe_old,
		.keep = { init_fd, sv[1], c.sb->args_fd },
		.first = CHILD_INIT_FD,
		.nofile_raised = nofile_raised,
		.nofile = &started_nofile,
		.argv = c.sb->argv.v,
	};
	pid_t pid = spawn_bwrap(&bc);
	if (pid < 0) {
		r = srt_error_set(err, pid, "cannot start bubblewrap: %s", strerror(-pid));
		goto out;
	}
	c.bwrap_pid = pid;
	close(sv[1]);
	sv[1] = -1;
	close(init_fd);
	init_fd = -1;
	/* bwrap's alone: one descriptor fewer for the run. */
	close(c.sb->args_fd);
	c.sb->args_fd = -1;
	/* While bwrap builds the namespaces: the filters, the plan.
	 * srt-init waits for the plan before it mounts anything. */
	if ((r = sandbox_prepare_finish(c.sb, err)) < 0 || (r = sandbox_attach(c.sb, steal_fd(&sv[0]), err)) < 0) {
		bwrap_failed_early(rt, pid, r, err);
		r = err ? err->code : r;
		goto out;
	}
	struct sandbox *sb = c.sb;
	cli_sandbox = sb;
	cli_quiet = o->quiet;
	c.sig_watch.data = &c;
	uv_poll_init(rt->loop, &c.sig_watch, c.sigfd);
	uv_poll_start(&c.sig_watch, UV_READABLE, cli_on_signal);
	cli_reap(&c); /* in case bwrap died before the signalfd watch began */
	/* Until bwrap has exited: reaped by us, since an init that reaps
	 * nobody (a container's) would keep it and, through it, srt-init
	 * and the sandbox's session keyring. */
	while (!c.bwrap_done)
		uv_run(rt->loop, UV_RUN_ONCE);
	uv_close((uv_handle_t *)&c.sig_watch, NULL);

	int status = WIFEXITED(c.bwrap_status) ? WEXITSTATUS(c.bwrap_status) : 128 + WTERMSIG(c.bwrap_status);
	bool started = sb->started;
	c.sb = NULL;
	sandbox_finish(sb, started ? status : -1);
	uv_run(rt->loop, UV_RUN_DEFAULT);
	cli_sandbox = NULL;
	if (!started) {
		const struct policy *hp = runtime_settings(rt)->policy;
		const char *hint = bwrap_userns_hint(hp && hp->enable_weaker_nested_sandbox);
		if (WIFEXITED(c.bwrap_status))
			r = srt_error_set(err, -ECHILD,
					  "the sandbox could not be set up (bubblewrap exited with status %d)%s%s",
					  WEXITSTATUS(c.bwrap_status), hint ? ": " : "", hint ? hint : "");
		else
			r = srt_error_set(err, -ECHILD, "the sandbox could not be set up (bubblewrap was killed by signal %d)",
					  WTERMSIG(c.bwrap_status));
		goto out;
	}
	*ret_status = status;
	r = 0;
out:
	if (c.sb)
		sandbox_free_unstarted(c.sb);
	if (c.sigfd >= 0)
		close(c.sigfd);
	for (size_t i = 0; i < 2; i++)
		if (sv[i] >= 0)
			close(sv[i]);
	if (init_fd >= 0)
		close(init_fd);
	sigaction(SIGPIPE, &pipe_old, NULL);
	sigprocmask(SIG_SETMASK, &oldmask, NULL);
	return nofile_explain(err, r);
}
