/* libsandbox_runtime: the public API (include/sandbox_runtime.h) on top of the runtime, with a thread of its own and a socket that wrapped sandboxes connect back to. */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <pwd.h>
#include <seccomp.h>
#include <signal.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>
#include <linux/seccomp.h>

#include "events.h"
#include "linux/bwrap.h"
#include "linux/observer.h"
#include "linux/proto.h"
#include "runtime.h"
#include "sandbox_runtime.h"
#include "settings_json.h"

extern char **environ;

const char *srt_version(void)
{
	return SRT_VERSION;
}

/* ---- Arguments and errors ------------------------------------------------ */

/* A caller reusing one struct srt_error must never read an old message as
 * the answer to a call that succeeded: every public function taking one
 * clears it on entry and again on success. */
static void error_clear(struct srt_error *err)
{
	if (err) {
		err->code = 0;
		err->message[0] = '\0';
	}
}

/* The end of a public call: cleared on success; on failure the code is r,
 * with a message even when the step that failed left none. */
static int error_done(struct srt_error *err, int r, const char *fn)
{
	if (r >= 0) {
		error_clear(err);
		return r;
	}
	if (err) {
		if (!err->message[0])
			srt_error_set(err, r, "%s: %s", fn, strerror(-r));
		err->code = r;
		runtime_resource_explain(err, r); /* which limit, for -EMFILE, -ENFILE, -ENOMEM */
	}
	return r;
}

/* Values outside the enums are refused rather than read as the default:
 * an observe of 42 is a caller's bug, not a wish for the default. */
static bool observe_valid(enum srt_observe v)
{
	switch (v) {
	case SRT_OBSERVE_DEFAULT:
	case SRT_OBSERVE_OFF:
	case SRT_OBSERVE_READS:
	case SRT_OBSERVE_WRITES:
		return true;
	}
	return false;
}

static bool violation_kind_valid(enum srt_violation_kind k)
{
	switch (k) {
	case SRT_VIOLATION_ANY:
	case SRT_VIOLATION_FILESYSTEM:
	case SRT_VIOLATION_NETWORK:
	case SRT_VIOLATION_UNIX_SOCKET:
	case SRT_VIOLATION_PROCESS:
		return true;
	}
	return false;
}

/* A folder argument (what names it in the message): absolute, since a
 * relative one would silently depend on the caller's current folder at
 * some later moment, and a folder now, so that a sandbox is not started
 * only for its command to fail with status 125. */
static int check_folder(const char *what, const char *path, struct srt_error *err)
{
	if (path[0] != '/')
		return srt_error_set(err, -EINVAL, "%s is \"%s\": not an absolute path", what, path);
	struct stat st;
	if (stat(path, &st) < 0) {
		int e = errno;
		return srt_error_set(err, -e, "%s is \"%s\": %s", what, path, strerror(e));
	}
	if (!S_ISDIR(st.st_mode))
		return srt_error_set(err, -ENOTDIR, "%s is \"%s\": not a folder", what, path);
	return 0;
}

/* ---- Structs the caller passes in (sandbox_runtime.h, ABI) ----------------------- */

/* The caller's struct src, of the size it says, as the library's own
 * struct dst (lsize bytes): what a shorter struct leaves out is zero (the
 * default of every field); what a longer one has past the library's struct
 * must be zero, since a field this library does not know cannot be
 * honoured. dst->size becomes lsize. A size past SRT_STRUCT_SIZE_MAX is
 * refused unread (-E2BIG), as openat2 and clone3 do past a page. */
#define SRT_STRUCT_SIZE_MAX 4096u
static int struct_in(void *dst, size_t lsize, const void *src, size_t ver0, const char *name, struct srt_error *err)
{
	size_t usize;
	memcpy(&usize, src, sizeof(usize));
	if (usize < ver0)
		return srt_error_set(err, -EINVAL,
				     "struct %s.size is %zu: less than its smallest layout (%zu bytes); set it to "
				     "sizeof(struct %s)",
				     name, usize, ver0, name);
	/* No struct grows that large: a garbage size, not to be read. */
	if (usize > SRT_STRUCT_SIZE_MAX)
		return srt_error_set(err, -E2BIG,
				     "struct %s.size is %zu: more than %u bytes, larger than any layout; set it to "
				     "sizeof(struct %s)",
				     name, usize, SRT_STRUCT_SIZE_MAX, name);
	if (usize > lsize) {
		const unsigned char *past = (const unsigned char *)src + lsize;
		for (size_t i = 0; i < usize - lsize; i++)
			if (past[i])
				return srt_error_set(err, -E2BIG,
						     "struct %s.size is %zu, larger than this library's (%zu bytes, "
						     "version %s), and byte %zu is not zero: a field this library "
						     "does not know is set",
						     name, usize, lsize, SRT_VERSION, lsize + i);
	}
	memset(dst, 0, lsize);
	memcpy(dst, src, usize < lsize ? usize : lsize);
	memcpy(dst, &lsize, sizeof(lsize));
	return 0;
}

static int runtime_options_in(const struct srt_runtime_options *uo, struct srt_runtime_options *buf,
			      const struct srt_runtime_options **ret, struct srt_error *err)
{
	*ret = NULL;
	if (!uo)
		return 0;
	int r = struct_in(buf, sizeof(*buf), uo, SRT_RUNTIME_OPTIONS_SIZE_VER0, "srt_runtime_options", err);
	if (r == 0)
		*ret = buf;
	return r;
}

static int config_in(const struct srt_config *uc, struct srt_config *buf, struct srt_error *err)
{
	if (!uc)
		return srt_error_set(err, -EINVAL, "cfg is NULL");
	return struct_in(buf, sizeof(*buf), uc, SRT_CONFIG_SIZE_VER0, "srt_config", err);
}

/* *so (the caller's, or NULL) as the library's struct, in *buf. */
static int sandbox_options_in(const struct srt_sandbox_options *so, struct srt_sandbox_options *buf,
			      const struct srt_sandbox_options **ret, struct srt_error *err)
{
	*ret = NULL;
	if (!so)
		return 0;
	int r = struct_in(buf, sizeof(*buf), so, SRT_SANDBOX_OPTIONS_SIZE_VER0, "srt_sandbox_options", err);
	if (r == 0)
		*ret = buf;
	return r;
}

/* What every srt_runtime_new_* checks before any work. */
static int check_new_args(const struct srt_runtime_options *opts, srt_runtime **ret, struct srt_error *err)
{
	if (!ret)
		return srt_error_set(err, -EINVAL, "ret is NULL");
	if (!opts)
		return 0;
	if (!observe_valid(opts->observe))
		return srt_error_set(err, -EINVAL,
				     "srt_runtime_options.observe is %d: not an enum srt_observe value "
				     "(SRT_OBSERVE_DEFAULT, SRT_OBSERVE_OFF, SRT_OBSERVE_READS, SRT_OBSERVE_WRITES)",
				     (int)opts->observe);
	/* home need not exist ("~/.ssh" in denyRead is fine without one). */
	if (opts->home && opts->home[0] != '/')
		return srt_error_set(err, -EINVAL, "srt_runtime_options.home is \"%s\": not an absolute path",
				     opts->home);
	if (opts->cwd)
		return check_folder("srt_runtime_options.cwd", opts->cwd, err);
	return 0;
}

/* A sandbox prepared by wrap, waiting for its launcher (on o->pending);
 * then, once a launcher said its token, until the runtime freed the
 * sandbox (on o->live, sb NULL). */
struct pending {
	char token[33];
	uint64_t id;
	struct sandbox *sb;
	bool waited;               /* execute's: wait_finished frees it */
	bool done;                 /* live: the sandbox was freed, with status */
	int status;                /* as srt(1), from srt-init; -1 unknown */
	/* execute's timeout or cancel: the sandbox must end now (kill); the
	 * runtime's thread acted on it (killed); once the sandbox is freed,
	 * its PID 1 as a pidfd, for execute to wait on (-1: none). */
	bool kill, killed;
	int pidfd;
	struct pending *next;
};

/* A launcher connection that has not said which sandbox it is: a poll and
 * a timeout, freed when both are closed. */
struct attaching {
	struct srt_runtime *o;
	int fd;
	uv_poll_t w;
	uv_timer_t timeout;
	int handles;               /* open handles */
	struct attaching *next;
};

/* Unattached connections at most, and how long each may stay silent. */
#define ATTACHING_MAX 32
#define ATTACHING_TIMEOUT_MS 10000
/* After accept failed for want of descriptors: when to try again. */
#define LISTEN_RETRY_MS 100

struct srt_runtime {
	struct runtime rt;
	uv_loop_t loop;
	uv_async_t wake;
	uv_timer_t listen_retry;
	pthread_t thread;
	pthread_mutex_t lock;      /* started, stopping, thread, pending, live, platform */
	bool started, stopping, loop_ready;
	int listen_fd;
	uv_poll_t listen_watch;
	char *rundir, *sockpath;
	int rundir_lock;           /* flock(LOCK_SH) on rundir while the runtime lives; -1: none */
	struct pending *pending;
	struct pending *live;      /* attached, not yet freed: what execute waits on */
	struct attaching *attaching;   /* loop thread only */
	size_t n_attaching;
	/* The platform can run sandboxes (as of the last load of settings);
	 * with the current settings' sandbox.enabled, srt_sandboxing_enabled. */
	bool platform;
	pthread_cond_t done_cond;  /* a sandbox left live */
	/* Public calls in progress that srt_runtime_free must outlive
	 * (call_enter); free waits on calls_cond for them to leave. */
	unsigned calls;
	pthread_cond_t calls_cond;
	/* An eventfd, made with the thread (srt_runtime_start), that free
	 * makes readable for good: executions in progress poll it and leave
	 * at once, whatever still holds their output open. */
	int stop_fd;
	/* What reset reloads, and what every generation gets on top: the
	 * runtime folder hidden. */
	char *src_path, *src_text, *src_name;
	char *extra;
};

/* ---- Creation ----------------------------------------------------------- */

static bool platform_ok(void);

/* The runtime folder, made when the runtime is, for the socket launchers
 * connect to: $XDG_RUNTIME_DIR/srt/PID.XXXXXX, or /tmp/srt-UID/PID.XXXXXX,
 * 0700, locked while the runtime lives (runtime_dir_make); or, when
 * /tmp/srt-UID is not ours, /tmp/srt-XXXXXX, which is never reclaimed.
 * Sandboxes run as the same user and may read by default: every generation
 * of settings hides the parent folder (o->extra), so that a sandbox sees
 * neither this runtime's folder nor that of another runtime of the user,
 * made before or after it. */
static int make_rundir_in(srt_runtime *o, const char *parent, bool shared)
{
	struct sockaddr_un sa;
	if (shared) {
		/* Ours alone, or not used: in /tmp another user could have
		 * made it first. */
		struct stat st;
		if (mkdir(parent, 0700) < 0 && errno != EEXIST)
			return -errno;
		if (lstat(parent, &st) < 0)
			return -errno;
		if (!S_ISDIR(st.st_mode) || st.st_uid != getuid() || (st.st_mode & 077))
			return -EPERM;
	}
	/* Folders left there by runtimes that are gone (their lock is free)
	 * go first; ours is locked before it can be taken for one. */
	if (shared)
		runtime_dir_reclaim(parent);
	char *dir = shared ? runtime_dir_make(parent, &o->rundir_lock) : str_printf("%s/srt-XXXXXX", parent);
	if (!dir)
		return shared ? -errno : -ENOMEM;
	if (!shared && !mkdtemp(dir)) {
		int e = errno;
		free(dir);
		return -e;
	}
	char real[PATH_MAX];
	o->rundir = realpath(dir, real) ? strdup(real) : NULL;
	o->sockpath = o->rundir ? str_printf("%s/sock", o->rundir) : NULL;
	char *hide = NULL;
	if (o->rundir)
		hide = shared ? strndup(o->rundir, (size_t)(strrchr(o->rundir, '/') - o->rundir)) : strdup(o->rundir);
	/* literal: the name is that name, not a glob; jansson escapes it. */
	json_t *x = hide ? json_pack("{s:{s:[{s:s,s:b}]}}", "filesystem", "denyRead", "path", hide, "literal", 1)
			 : NULL;
	o->extra = x ? json_dumps(x, JSON_COMPACT) : NULL;
	json_decref(x);
	int r = 0;
	if (!o->rundir || !o->sockpath || !hide)
		r = -ENOMEM;
	else if (strlen(o->sockpath) >= sizeof(sa.sun_path))
		r = -ENAMETOOLONG;
	else if (!o->extra)
		r = -EILSEQ; /* not UTF-8 */
	free(hide);
	if (r < 0) {
		rmdir(dir);
		if (o->rundir_lock >= 0)
			close(o->rundir_lock);
		o->rundir_lock = -1;
		free(o->rundir);
		free(o->sockpath);
		free(o->extra);
		o->rundir = o->sockpath = o->extra = NULL;
	}
	free(dir);
	return r;
}

static int make_rundir(srt_runtime *o, struct srt_error *err)
{
	const char *base = getenv("XDG_RUNTIME_DIR");
	struct stat st;
	if (base && base[0] == '/' && stat(base, &st) == 0 && S_ISDIR(st.st_mode) && st.st_uid == getuid() &&
	    access(base, W_OK) == 0) {
		char *parent = str_printf("%s/srt", base);
		int r = parent ? make_rundir_in(o, parent, true) : -ENOMEM;
		free(parent);
		if (r == 0)
			return 0;
	}
	char parent[64];
	snprintf(parent, sizeof(parent), "/tmp/srt-%u", (unsigned)getuid());
	int r = make_rundir_in(o, parent, true);
	if (r < 0) /* /tmp/srt-UID is not ours: a folder of its own, hidden alone */
		r = make_rundir_in(o, "/tmp", false);
	if (r < 0)
		return srt_error_set(err, r, "cannot create the runtime folder in /tmp: %s", strerror(-r));
	return 0;
}

/* A generation of settings from the runtime's source, or from the given
 * one, with the runtime folder hidden. */
static int load_settings(srt_runtime *o, const char *path, const char *text, const char *name, const char *home,
			 const char *cwd, struct settings **ret, struct srt_error *err)
{
	const struct settings_source src = { .path = path, .text = text, .name = name, .home = home, .cwd = cwd,
					     .extra = o->extra, .extra_name = "runtime folder" };
	return settings_load(&src, ret, err);
}

/* Install a generation; whether sandboxes can run follows it. */
static void install_settings(srt_runtime *o, struct settings *s, const char *source)
{
	bool platform = platform_ok();
	pthread_mutex_lock(&o->lock);
	o->platform = platform;
	pthread_mutex_unlock(&o->lock);
	runtime_replace_settings_from(&o->rt, s, source);
}

static bool sandboxing_enabled(srt_runtime *o, bool *platform)
{
	pthread_mutex_lock(&o->lock);
	bool p = o->platform;
	pthread_mutex_unlock(&o->lock);
	if (platform)
		*platform = p;
	return p && runtime_settings(&o->rt)->cfg.enabled;
}

static int runtime_new(const char *path, const char *text, const char *name, const struct srt_runtime_options *opts,
		       srt_runtime **ret, struct srt_error *err)
{
	if (!ret)
		return srt_error_set(err, -EINVAL, "no place for the runtime (ret is NULL)");
	char cwd[PATH_MAX];
	const char *c = opts && opts->cwd ? opts->cwd : getcwd(cwd, sizeof(cwd));
	if (!c)
		return srt_error_set(err, -errno, "cannot determine the current directory: %s", strerror(errno));
	const char *home = opts && opts->home ? opts->home : runtime_home_dir();
	srt_runtime *o = calloc(1, sizeof(*o));
	if (!o)
		return srt_error_set(err, -ENOMEM, "out of memory");
	o->listen_fd = -1;
	o->rundir_lock = -1;
	struct settings *s = NULL;
	int r = make_rundir(o, err);
	if (r == 0)
		r = load_settings(o, path, text, name, home, c, &s, err);
	if (r == 0 && (r = runtime_init(&o->rt, opts, s, err)) < 0)
		settings_free_chain(s);
	if (r < 0) {
		if (o->rundir)
			rmdir(o->rundir);
		if (o->rundir_lock >= 0)
			close(o->rundir_lock);
		free(o->rundir);
		free(o->sockpath);
		free(o->extra);
		free(o);
		return r;
	}
	pthread_mutex_init(&o->lock, NULL);
	pthread_cond_init(&o->done_cond, NULL);
	pthread_cond_init(&o->calls_cond, NULL);
	o->rt.home = strdup(home);
	o->rt.cwd = strdup(c);
	o->src_path = path ? strdup(path) : NULL;
	o->src_text = text ? strdup(text) : NULL;
	o->src_name = name ? strdup(name) : NULL;
	o->platform = platform_ok();
	if (!o->rt.home || !o->rt.cwd || (path && !o->src_path) || (text && !o->src_text) || (name && !o->src_name)) {
		srt_runtime_free(o);
		return srt_error_set(err, -ENOMEM, "out of memory");
	}
	*ret = o;
	return 0;
}

int srt_runtime_new_from_file(const char *path, const struct srt_runtime_options *uo, srt_runtime **ret,
			      struct srt_error *err)
{
	error_clear(err);
	struct srt_runtime_options buf;
	const struct srt_runtime_options *opts = NULL;
	int r = path ? runtime_options_in(uo, &buf, &opts, err) : srt_error_set(err, -EINVAL, "path is NULL");
	if (r == 0)
		r = check_new_args(opts, ret, err);
	if (r == 0)
		r = runtime_new(path, NULL, NULL, opts, ret, err);
	return error_done(err, r, "srt_runtime_new_from_file");
}

int srt_runtime_new_from_json(const char *json, const char *name, const struct srt_runtime_options *uo,
			      srt_runtime **ret, struct srt_error *err)
{
	error_clear(err);
	struct srt_runtime_options buf;
	const struct srt_runtime_options *opts = NULL;
	int r = json ? runtime_options_in(uo, &buf, &opts, err) : srt_error_set(err, -EINVAL, "json is NULL");
	if (r == 0)
		r = check_new_args(opts, ret, err);
	if (r == 0)
		r = runtime_new(NULL, json, name ? name : "<json>", opts, ret, err);
	return error_done(err, r, "srt_runtime_new_from_json");
}

static int add_list(json_t *obj, const char *key, const char *const *list)
{
	if (!list)
		return 0;
	json_t *a = json_array();
	if (!a || json_object_set_new(obj, key, a) < 0)
		return -ENOMEM;
	for (size_t i = 0; list[i]; i++)
		if (json_array_append_new(a, json_string(list[i])) < 0)
			return -EINVAL; /* not UTF-8 */
	return 0;
}

/* The struct becomes settings text in the srt format, so that it is
 * checked exactly as a file would be, with "<config>" in messages. The
 * code is returned, not read back from err, which may be NULL. */
static int config_json(const struct srt_config *c, char **ret, struct srt_error *err)
{
	if (c->network_mode != SRT_NETWORK_PROXY && c->network_mode != SRT_NETWORK_TRANSPARENT)
		return srt_error_set(err, -EINVAL,
				     "<config>: network_mode is %d: not an enum srt_network_mode value "
				     "(SRT_NETWORK_PROXY, SRT_NETWORK_TRANSPARENT)", (int)c->network_mode);
	json_t *root = json_object(), *fs = json_object(), *net = json_object();
	int r = -ENOMEM;
	if (!root || !fs || !net) {
		json_decref(fs);
		json_decref(net);
		goto out;
	}
	json_object_set_new(root, "filesystem", fs);
	json_object_set_new(root, "network", net);
	if (add_list(fs, "denyRead", c->deny_read) < 0 || add_list(fs, "allowRead", c->allow_read) < 0 ||
	    add_list(fs, "allowWrite", c->allow_write) < 0 || add_list(fs, "denyWrite", c->deny_write) < 0 ||
	    add_list(net, "allowedDomains", c->allowed_domains) < 0 ||
	    add_list(net, "deniedDomains", c->denied_domains) < 0 ||
	    add_list(net, "allowUnixSockets", c->allow_unix_sockets) < 0) {
		json_decref(root);
		return srt_error_set(err, -EINVAL, "<config>: a string is not valid UTF-8");
	}
	if (c->allow_git_config)
		json_object_set_new(fs, "allowGitConfig", json_true());
	if (c->allow_all_unix_sockets)
		json_object_set_new(net, "allowAllUnixSockets", json_true());
	if (c->allow_local_binding)
		json_object_set_new(net, "allowLocalBinding", json_true());
	if (c->network_mode == SRT_NETWORK_TRANSPARENT)
		json_object_set_new(net, "mode", json_string("transparent"));
	if ((*ret = json_dumps(root, JSON_INDENT(1) | JSON_PRESERVE_ORDER)))
		r = 0;
out:
	json_decref(root);
	return r < 0 ? srt_error_set(err, r, "out of memory") : 0;
}

int srt_runtime_new_from_config(const struct srt_config *ucfg, const struct srt_runtime_options *uo,
				srt_runtime **ret, struct srt_error *err)
{
	error_clear(err);
	char *text = NULL;
	struct srt_config cfg;
	struct srt_runtime_options buf;
	const struct srt_runtime_options *opts = NULL;
	int r = config_in(ucfg, &cfg, err);
	if (r == 0)
		r = runtime_options_in(uo, &buf, &opts, err);
	if (r == 0)
		r = check_new_args(opts, ret, err);
	if (r == 0)
		r = config_json(&cfg, &text, err);
	if (r == 0)
		r = runtime_new(NULL, text, "<config>", opts, ret, err);
	free(text);
	return error_done(err, r, "srt_runtime_new_from_config");
}

/* ---- The runtime's thread ------------------------------------------------- */

static void attaching_closed(uv_handle_t *h)
{
	struct attaching *a = h->data;
	if (--a->handles > 0)
		return;
	if (a->fd >= 0)
		close(a->fd);
	free(a);
}

static void on_listen(uv_poll_t *w, int status, int events);

static void attaching_drop(struct attaching *a)
{
	for (struct attaching **pp = &a->o->attaching; *pp; pp = &(*pp)->next)
		if (*pp == a) {
			*pp = a->next;
			/* A slot is free: the launchers waiting in the backlog
			 * (on_listen stopped at ATTACHING_MAX) are taken again. */
			if (a->o->n_attaching-- == ATTACHING_MAX && !uv_is_closing((uv_handle_t *)&a->o->listen_watch))
				uv_poll_start(&a->o->listen_watch, UV_READABLE, on_listen);
			break;
		}
	uv_close((uv_handle_t *)&a->w, attaching_closed);
	uv_close((uv_handle_t *)&a->timeout, attaching_closed);
}

/* A sandbox that a launcher attached to is gone (freed, or dropped before
 * it was served), status as srt-init reported it (-1: unknown): execute
 * waiting on it may go on. */
static void live_done(srt_runtime *o, uint64_t id, int status, int init_pidfd)
{
	pthread_mutex_lock(&o->lock);
	for (struct pending **pp = &o->live; *pp; pp = &(*pp)->next)
		if ((*pp)->id == id) {
			struct pending *p = *pp;
			if (p->waited) {
				p->done = true;
				p->status = status;
				if (p->kill && init_pidfd >= 0)
					p->pidfd = fcntl(init_pidfd, F_DUPFD_CLOEXEC, 3);
			} else {
				*pp = p->next;
				if (p->pidfd >= 0)
					close(p->pidfd);
				free(p);
			}
			break;
		}
	pthread_cond_broadcast(&o->done_cond);
	pthread_mutex_unlock(&o->lock);
}

/* srt-init's socket closed: finish the sandbox (sandbox.exit comes once
 * its proxy closed). */
static void sandbox_ended(struct sandbox *sb)
{
	sandbox_finish(sb, -1);
}

static void sandbox_freed(struct sandbox *sb)
{
	live_done(sb->owner, sb->id, sb->final_status, sb->init_pidfd);
}

/* After the sandbox's process ended: wait until the runtime has finished
 * it too (events sent, proxy closed), so that the
 * next sandbox does not meet this one's leftovers. A sandbox that never
 * connected is dropped here. Returns the status srt-init reported, or -1;
 * *ret_pidfd (may be NULL) gets the pidfd of a killed sandbox's PID 1, or -1. */
static int wait_finished(srt_runtime *o, uint64_t id, int *ret_pidfd)
{
	if (ret_pidfd)
		*ret_pidfd = -1;
	struct sandbox *unstarted = NULL;
	int status = -1;
	pthread_mutex_lock(&o->lock);
	for (struct pending **pp = &o->pending; *pp; pp = &(*pp)->next)
		if ((*pp)->id == id) {
			struct pending *p = *pp;
			*pp = p->next;
			unstarted = p->sb;
			free(p);
			break;
		}
	/* A bound, should the runtime never finish it (it always should). */
	struct timespec deadline;
	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += 10;
	while (!unstarted) {
		struct pending **pp = &o->live;
		while (*pp && (*pp)->id != id)
			pp = &(*pp)->next;
		struct pending *p = *pp;
		if (!p)
			break;
		if (p->done) {
			status = p->status;
			if (ret_pidfd)
				*ret_pidfd = p->pidfd;
			else if (p->pidfd >= 0)
				close(p->pidfd);
			*pp = p->next;
			free(p);
			break;
		}
		if (pthread_cond_timedwait(&o->done_cond, &o->lock, &deadline) == ETIMEDOUT) {
			p->waited = false; /* live_done frees it */
			break;
		}
	}
	pthread_mutex_unlock(&o->lock);
	sandbox_free_unstarted(unstarted);
	return status;
}

static int memfd_of(const char *name, const void *data, size_t len)
{
	int fd = memfd_create(name, MFD_CLOEXEC);
	if (fd < 0)
		return -errno;
	int r = fd_write_all(fd, data, len);
	if (r < 0) {
		close(fd);
		return r;
	}
	return fd;
}

/* The launcher said its token: hand it bwrap's arguments, then serve the
 * connection as that sandbox's. */
static void on_attach(uv_poll_t *w, int status, int events)
{
	struct attaching *a = w->data;
	srt_runtime *o = a->o;
	(void)events;
	uint32_t type = 0, len = 0;
	char payload[PROTO_MAX_PAYLOAD + 1];
	int fds[PROTO_MAX_FDS];
	size_t nfds = 0;
	int r = status < 0 ? status : proto_recv(a->fd, &type, payload, &len, fds, &nfds, NULL);
	if (r == -EAGAIN)
		return;
	for (size_t i = 0; r == 0 && i < nfds; i++)
		close(fds[i]);
	struct sandbox *sb = NULL;
	uint64_t id = 0;
	if (r == 0 && type == PROTO_ATTACH && len == 32) {
		payload[len] = '\0';
		pthread_mutex_lock(&o->lock);
		for (struct pending **pp = &o->pending; *pp; pp = &(*pp)->next)
			if (strcmp((*pp)->token, payload) == 0 && !(*pp)->kill) {
				/* From now on execute waits for it to be freed. */
				struct pending *p = *pp;
				*pp = p->next;
				sb = p->sb;
				id = p->id;
				p->sb = NULL;
				p->next = o->live;
				o->live = p;
				break;
			}
		pthread_mutex_unlock(&o->lock);
	}
	if (!sb) {
		attaching_drop(a); /* closing tells the launcher */
		return;
	}
	int fd = steal_fd(&a->fd);
	attaching_drop(a);

	/* The command line as one NUL-separated memfd. */
	size_t total = 0;
	for (size_t i = 0; i < sb->argv.n; i++)
		total += strlen(sb->argv.v[i]) + 1;
	char *flat = malloc(total ? total : 1);
	int argv_fd = -ENOMEM;
	if (flat) {
		size_t off = 0;
		for (size_t i = 0; i < sb->argv.n; i++) {
			size_t n = strlen(sb->argv.v[i]) + 1;
			memcpy(flat + off, sb->argv.v[i], n);
			off += n;
		}
		argv_fd = memfd_of("srt-bwrap-argv", flat, total);
		free(flat);
	}
	char *init_path = runtime_helper_path("srt-init");
	int init_fd = init_path ? open(init_path, O_RDONLY | O_CLOEXEC) : -1;
	free(init_path);
	bool launched = argv_fd >= 0 && init_fd >= 0 &&
			proto_send(fd, PROTO_LAUNCH, NULL, 0, (int[]){ init_fd, sb->args_fd, argv_fd }, 3) == 0;
	if (init_fd >= 0)
		close(init_fd);
	if (argv_fd >= 0)
		close(argv_fd);
	struct srt_error err = { 0 };
	sb->owner = o;
	sb->on_end = sandbox_ended;
	sb->on_freed = sandbox_freed;
	if (!launched) {
		close(fd); /* the launcher fails (125) rather than wait */
		sandbox_free_unstarted(sb);
		live_done(o, id, -1, -1);
		return;
	}
	close(sb->args_fd);
	sb->args_fd = -1;
	if (sandbox_attach(sb, fd, &err) < 0) { /* it closed fd */
		sandbox_free_unstarted(sb);
		live_done(o, id, -1, -1);
	}
}

static void on_attach_timeout(uv_timer_t *t)
{
	attaching_drop(t->data);
}

static void on_listen(uv_poll_t *w, int status, int events);

static void on_listen_retry(uv_timer_t *t)
{
	srt_runtime *o = t->data;
	if (uv_poll_start(&o->listen_watch, UV_READABLE, on_listen) < 0)
		uv_timer_start(&o->listen_retry, on_listen_retry, LISTEN_RETRY_MS, 0);
}

static void on_listen(uv_poll_t *w, int status, int events)
{
	srt_runtime *o = w->data;
	(void)status;
	(void)events;
	for (;;) {
		/* At most ATTACHING_MAX unattached connections: the next ones
		 * wait in the backlog (then in connect) until one leaves, so
		 * that a burst of launchers is served, not refused. */
		if (o->n_attaching >= ATTACHING_MAX) {
			uv_poll_stop(&o->listen_watch);
			return;
		}
		int fd = accept4(o->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK) {
				/* Out of descriptors (EMFILE, ENFILE) or memory:
				 * the listener stays readable, so polling it again
				 * now would spin. Try again in a moment. */
				uv_poll_stop(&o->listen_watch);
				uv_timer_start(&o->listen_retry, on_listen_retry, LISTEN_RETRY_MS, 0);
			}
			return;
		}
		/* Launchers run as this user; the folder is 0700 anyway. */
		struct ucred cred;
		socklen_t cl = sizeof(cred);
		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &cl) < 0 || cred.uid != getuid()) {
			close(fd);
			continue;
		}
		int one = 1; /* srt-init's messages carry its pid */
		setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &one, sizeof(one));
		struct attaching *a = calloc(1, sizeof(*a));
		if (!a || uv_poll_init(&o->loop, &a->w, fd) < 0) {
			free(a);
			close(fd);
			continue;
		}
		a->o = o;
		a->fd = fd;
		a->w.data = a;
		a->timeout.data = a;
		uv_timer_init(&o->loop, &a->timeout);
		a->handles = 2;
		a->next = o->attaching;
		o->attaching = a;
		o->n_attaching++;
		if (uv_poll_start(&a->w, UV_READABLE | UV_DISCONNECT, on_attach) < 0 ||
		    uv_timer_start(&a->timeout, on_attach_timeout, ATTACHING_TIMEOUT_MS, 0) < 0)
			attaching_drop(a);
	}
}

/* The sandboxes of executions that timed out or were cancelled
 * (kill_sandbox): killed (PID 1, so the whole PID namespace) and finished
 * (their connection closed, so that one not started yet never starts). */
static void kill_requested(srt_runtime *o)
{
	for (;;) {
		uint64_t id = 0;
		pthread_mutex_lock(&o->lock);
		for (struct pending *p = o->live; p && !id; p = p->next)
			if (p->kill && !p->killed) {
				p->killed = true;
				id = p->id;
			}
		pthread_mutex_unlock(&o->lock);
		if (!id)
			return;
		for (struct sandbox *sb = o->rt.sandboxes; sb; sb = sb->next)
			if (sb->id == id) {
				if (sb->init_pidfd >= 0)
					syscall(SYS_pidfd_send_signal, sb->init_pidfd, SIGKILL, NULL, 0);
				sandbox_finish(sb, -1);
				break;
			}
	}
}

static void on_wake(uv_async_t *h)
{
	srt_runtime *o = h->data;
	kill_requested(o);
	pthread_mutex_lock(&o->lock);
	bool stopping = o->stopping;
	pthread_mutex_unlock(&o->lock);
	if (!stopping)
		return;
	/* End every sandbox still running, and stop serving. */
	while (o->rt.sandboxes) {
		struct sandbox *sb = o->rt.sandboxes;
		if (sb->init_pidfd >= 0)
			syscall(SYS_pidfd_send_signal, sb->init_pidfd, SIGKILL, NULL, 0);
		sandbox_finish(sb, -1);
	}
	while (o->attaching)
		attaching_drop(o->attaching);
	uv_close((uv_handle_t *)&o->listen_watch, NULL);
	uv_close((uv_handle_t *)&o->listen_retry, NULL);
	uv_close((uv_handle_t *)&o->wake, NULL);
}

static void *loop_thread(void *arg)
{
	srt_runtime *o = arg;
	uv_run(&o->loop, UV_RUN_DEFAULT);
	return NULL;
}

/* The socket launchers connect to, in the runtime folder. */
static int make_socket(srt_runtime *o, struct srt_error *err)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	strcpy(sa.sun_path, o->sockpath); /* its length was checked when the folder was made */
	unlink(o->sockpath);
	o->listen_fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (o->listen_fd < 0 || bind(o->listen_fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(o->listen_fd, 64) < 0) {
		int e = errno;
		if (o->listen_fd >= 0)
			close(o->listen_fd);
		o->listen_fd = -1;
		unlink(o->sockpath);
		return srt_error_set(err, -e, "cannot listen on %s: %s", o->sockpath, strerror(e));
	}
	return 0;
}

int srt_runtime_start(srt_runtime *o, struct srt_error *err)
{
	error_clear(err);
	if (!o)
		return srt_error_set(err, -EINVAL, "rt is NULL");
	pthread_mutex_lock(&o->lock);
	int r = 0;
	if (o->started || o->stopping) {
		r = o->stopping ? srt_error_set(err, -ESHUTDOWN, "the runtime is being freed") : 0;
		pthread_mutex_unlock(&o->lock);
		return r;
	}
	if ((r = make_socket(o, err)) < 0)
		goto out;
	if ((o->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0) {
		r = srt_error_set(err, -errno, "cannot make an eventfd: %s", strerror(errno));
		goto fail_socket;
	}
	if (uv_loop_init(&o->loop) < 0) {
		r = srt_error_set(err, -ENOMEM, "cannot create the event loop");
		goto fail_socket;
	}
	o->wake.data = o;
	o->listen_watch.data = o;
	o->listen_retry.data = o;
	int e;
	if ((e = uv_async_init(&o->loop, &o->wake, on_wake)) < 0) {
		r = srt_error_set(err, e, "cannot create the event loop: %s", uv_strerror(e));
		goto fail_loop;
	}
	uv_timer_init(&o->loop, &o->listen_retry);
	if ((e = uv_poll_init(&o->loop, &o->listen_watch, o->listen_fd)) < 0) {
		r = srt_error_set(err, e, "cannot watch %s: %s", o->sockpath, uv_strerror(e));
		uv_close((uv_handle_t *)&o->wake, NULL);
		uv_close((uv_handle_t *)&o->listen_retry, NULL);
		goto fail_handles;
	}
	if ((e = uv_poll_start(&o->listen_watch, UV_READABLE, on_listen)) < 0) {
		r = srt_error_set(err, e, "cannot watch %s: %s", o->sockpath, uv_strerror(e));
		goto fail_close;
	}
	o->rt.loop = &o->loop;
	/* The thread must not take the caller's signals (SIGCHLD, SIGINT...). */
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	e = pthread_create(&o->thread, NULL, loop_thread, o);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (e) {
		r = srt_error_set(err, -e, "cannot start the runtime's thread: %s", strerror(e));
		o->rt.loop = NULL;
		goto fail_close;
	}
	o->loop_ready = true;
	o->started = true;
	goto out;

	/* Back to the state before the call, so that a later call can try
	 * again and srt_runtime_free finds nothing half made. */
fail_close:
	uv_close((uv_handle_t *)&o->wake, NULL);
	uv_close((uv_handle_t *)&o->listen_retry, NULL);
	uv_close((uv_handle_t *)&o->listen_watch, NULL);
fail_handles:
	uv_run(&o->loop, UV_RUN_DEFAULT); /* the close callbacks */
fail_loop:
	uv_loop_close(&o->loop);
fail_socket:
	if (o->stop_fd >= 0)
		close(o->stop_fd);
	o->stop_fd = -1;
	close(o->listen_fd);
	o->listen_fd = -1;
	unlink(o->sockpath);
out:
	pthread_mutex_unlock(&o->lock);
	return r;
}

/* ---- Lifecycle ---------------------------------------------------------------- */

/* Whether this thread runs one of the runtime's callbacks: the loop's
 * thread (event callbacks), an ask callback, or an event dispatched on the
 * thread of a call (CONFIG_RELOADED). Freeing there would free what the
 * callback's caller still uses, and waiting there (for the loop, for
 * callbacks to end) would wait for this very thread. */
static bool in_callback(srt_runtime *o)
{
	pthread_mutex_lock(&o->lock);
	bool self = o->started && pthread_equal(pthread_self(), o->thread);
	pthread_mutex_unlock(&o->lock);
	return self || runtime_in_callback(&o->rt);
}

/* A public call that may still be running on another thread when
 * srt_runtime_free is called (execute blocks for as long as its command
 * runs): free cancels what it waits for, then waits for every such call to
 * leave before it frees anything. Once free has begun, none may enter
 * (-ESHUTDOWN, as srt_runtime_start says). */
static int call_enter(srt_runtime *o, struct srt_error *err)
{
	pthread_mutex_lock(&o->lock);
	bool stopping = o->stopping;
	if (!stopping)
		o->calls++;
	pthread_mutex_unlock(&o->lock);
	return stopping ? srt_error_set(err, -ESHUTDOWN, "srt_runtime_free has begun on another thread") : 0;
}

/* Whether free began while the call ran. */
static bool call_cancelled(srt_runtime *o)
{
	pthread_mutex_lock(&o->lock);
	bool stopping = o->stopping;
	pthread_mutex_unlock(&o->lock);
	return stopping;
}

/* The last touch of o by a call that entered: free may release it as soon
 * as the lock is let go. */
static void call_leave(srt_runtime *o)
{
	pthread_mutex_lock(&o->lock);
	if (--o->calls == 0)
		pthread_cond_broadcast(&o->calls_cond);
	pthread_mutex_unlock(&o->lock);
}

static int reload(srt_runtime *o, const char *path, const char *text, const char *name, struct srt_error *err)
{
	/* The new settings' CONFIG_RELOADED would be dispatched from inside
	 * a dispatch, and a free requested meanwhile could not wait for it. */
	if (in_callback(o))
		return srt_error_set(err, -EDEADLK,
				     "called from a callback of this runtime (event or ask): reload from another thread");
	int r = call_enter(o, err);
	if (r < 0)
		return r;
	struct settings *s = NULL;
	r = load_settings(o, path, text, name, o->rt.home, o->rt.cwd, &s, err);
	if (r == 0)
		install_settings(o, s, path ? path : name);
	call_leave(o);
	return r;
}

int srt_runtime_reload_file(srt_runtime *o, const char *path, struct srt_error *err)
{
	error_clear(err);
	int r;
	if (!o)
		r = srt_error_set(err, -EINVAL, "rt is NULL");
	else if (!path)
		r = srt_error_set(err, -EINVAL, "path is NULL");
	else
		r = reload(o, path, NULL, NULL, err);
	return error_done(err, r, "srt_runtime_reload_file");
}

int srt_runtime_reload_json(srt_runtime *o, const char *json, const char *name, struct srt_error *err)
{
	error_clear(err);
	int r;
	if (!o)
		r = srt_error_set(err, -EINVAL, "rt is NULL");
	else if (!json)
		r = srt_error_set(err, -EINVAL, "json is NULL");
	else
		r = reload(o, NULL, json, name ? name : "<json>", err);
	return error_done(err, r, "srt_runtime_reload_json");
}

int srt_runtime_reload_config(srt_runtime *o, const struct srt_config *ucfg, struct srt_error *err)
{
	error_clear(err);
	char *text = NULL;
	struct srt_config cfg;
	int r;
	if (!o)
		r = srt_error_set(err, -EINVAL, "rt is NULL");
	else if ((r = config_in(ucfg, &cfg, err)) < 0)
		;
	else if ((r = config_json(&cfg, &text, err)) == 0)
		r = reload(o, NULL, text, "<config>", err);
	free(text);
	return error_done(err, r, "srt_runtime_reload_config");
}

void srt_runtime_reset(srt_runtime *o)
{
	/* In a callback, removing the subscribers would wait for the
	 * callbacks of this very dispatch, which run after this one on this
	 * thread: refused, as reload is (there is no code to return). */
	if (!o || in_callback(o) || call_enter(o, NULL) < 0)
		return;
	event_hub_unsubscribe_all(&o->rt.hub);
	srt_runtime_set_ask(o, NULL, NULL);
	pthread_mutex_lock(&o->rt.lock);
	o->rt.ask_timeout_ms = 0; /* the default again */
	pthread_mutex_unlock(&o->rt.lock);
	/* The settings of creation, loaded again from their source (a file is
	 * read again). Should that fail now (the file is gone or broken), the
	 * current settings stay. The reload's event goes to no subscriber. */
	struct settings *s = NULL;
	if (load_settings(o, o->src_path, o->src_text, o->src_name, o->rt.home, o->rt.cwd, &s, NULL) == 0)
		install_settings(o, s, NULL);
	/* Last: nothing recorded before this stays, and seq starts at 1. */
	event_hub_reset(&o->rt.hub);
	call_leave(o);
}

int srt_runtime_config_json(srt_runtime *o, char **ret_json, struct srt_error *err)
{
	error_clear(err);
	int r;
	if (!o)
		r = srt_error_set(err, -EINVAL, "rt is NULL");
	else if (!ret_json)
		r = srt_error_set(err, -EINVAL, "ret_json is NULL");
	else if ((r = call_enter(o, err)) == 0) {
		/* runtime_settings takes the runtime's lock; the generation
		 * it returns stays valid after a concurrent reload, since
		 * generations are kept until the runtime is freed (which
		 * waits for this call: call_enter). */
		r = settings_json(runtime_settings(&o->rt), o->rt.observe, ret_json);
		call_leave(o);
	}
	return error_done(err, r, "srt_runtime_config_json");
}

bool srt_sandboxing_enabled(const srt_runtime *o)
{
	/* Only the locks inside change. */
	return o && sandboxing_enabled((srt_runtime *)o, NULL);
}

/* The rest of srt_runtime_free, once stopping is set and the loop told:
 * on the caller's thread, or on a thread of its own when free was called
 * from a callback. */
static void free_finish(srt_runtime *o)
{
	pthread_mutex_lock(&o->lock);
	bool started = o->started;
	pthread_mutex_unlock(&o->lock);
	if (started)
		pthread_join(o->thread, NULL);
	if (o->loop_ready) {
		uv_run(&o->loop, UV_RUN_DEFAULT);
		uv_loop_close(&o->loop);
	}
	/* A launcher still queued on the socket fails now rather than wait
	 * for an answer that will never come: the execute that spawned it
	 * can end. */
	if (o->listen_fd >= 0)
		close(o->listen_fd);
	o->listen_fd = -1;
	if (o->sockpath)
		unlink(o->sockpath);
	/* Their sandboxes are gone: they return -ECANCELED, and no longer
	 * touch o once they have left. */
	pthread_mutex_lock(&o->lock);
	while (o->calls > 0)
		pthread_cond_wait(&o->calls_cond, &o->lock);
	pthread_mutex_unlock(&o->lock);
	if (started)
		close(o->stop_fd);
	while (o->pending) {
		struct pending *p = o->pending;
		o->pending = p->next;
		sandbox_free_unstarted(p->sb);
		free(p);
	}
	while (o->live) { /* their sandboxes were freed above, with the loop */
		struct pending *p = o->live;
		o->live = p->next;
		if (p->pidfd >= 0)
			close(p->pidfd);
		free(p);
	}
	if (o->rundir)
		rmdir(o->rundir);
	if (o->rundir_lock >= 0) /* after: a folder left behind is reclaimed */
		close(o->rundir_lock);
	free(o->sockpath);
	free(o->rundir);
	free(o->src_path);
	free(o->src_text);
	free(o->src_name);
	free(o->extra);
	runtime_destroy(&o->rt);
	pthread_cond_destroy(&o->done_cond);
	pthread_cond_destroy(&o->calls_cond);
	pthread_mutex_destroy(&o->lock);
	free(o);
}

static void *free_thread(void *arg)
{
	free_finish(arg);
	return NULL;
}

void srt_runtime_free(srt_runtime *o)
{
	if (!o)
		return;
	bool deferred = in_callback(o);
	pthread_mutex_lock(&o->lock);
	bool first = !o->stopping;
	o->stopping = true;
	bool started = o->started;
	pthread_mutex_unlock(&o->lock);
	/* A callback run by a free in progress (a sandbox's exit) asking for
	 * it again: that free finishes the job. */
	if (!first)
		return;
	/* From now on no call enters, and the loop ends every sandbox: the
	 * executions in progress return. */
	if (started) {
		uv_async_send(&o->wake);
		uint64_t one = 1;
		ssize_t n = write(o->stop_fd, &one, sizeof(one)); /* cannot fail: written once */
		(void)n;
	}
	if (!deferred) {
		free_finish(o);
		return;
	}
	/* In a callback, this thread is one the rest waits for (the loop's,
	 * or an ask the loop waits for, or a call that dispatched the event):
	 * another thread finishes once the callback has returned. Should no
	 * thread start, the runtime stays stopped and is never freed: a leak
	 * rather than memory freed under a running callback. */
	pthread_attr_t at;
	pthread_t t;
	sigset_t all, old;
	sigfillset(&all);
	pthread_attr_init(&at);
	pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	pthread_create(&t, &at, free_thread, o);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_attr_destroy(&at);
}

/* ---- Sandboxes ------------------------------------------------------------------ */

/* What wrap and execute check before a sandbox is prepared: argv (or, for
 * the _shell forms, command) and the folder the command will run in, which
 * must still be there: the runtime's folder may have been removed since the
 * runtime was made. so is the library's struct (sandbox_options_in). */
static int check_sandbox_args(const srt_runtime *o, const char *const *argv, const char *command, bool shell,
			      const struct srt_sandbox_options *so, struct srt_error *err)
{
	if (!o)
		return srt_error_set(err, -EINVAL, "rt is NULL");
	if (shell && !command)
		return srt_error_set(err, -EINVAL, "command is NULL");
	if (!shell && !argv)
		return srt_error_set(err, -EINVAL, "argv is NULL");
	if (!shell && !argv[0])
		return srt_error_set(err, -EINVAL, "argv is empty (argv[0] is NULL)");
	if (so && so->cwd)
		return check_folder("srt_sandbox_options.cwd", so->cwd, err);
	return check_folder("the runtime's cwd", o->rt.cwd, err);
}

/* env, env_replace: execute's changes to the command's environment, made
 * by bwrap inside the sandbox (sandbox_spec): the launcher and bwrap run on
 * the host with the caller's own environment, so that nothing the caller
 * passes for the command (LD_PRELOAD=...) acts outside the sandbox. */
static int wrap(srt_runtime *o, char *const *command, bool shell, const struct srt_sandbox_options *so,
		const char *const *env, bool env_replace, bool waited, char ***ret_argv, uint64_t *ret_id,
		struct srt_error *err)
{
	if (!o || !command || !command[0] || !ret_argv)
		return srt_error_set(err, -EINVAL, "no runtime or no command");
	bool platform = false;
	if (!sandboxing_enabled(o, &platform))
		return srt_error_set(err, -ENOTSUP, "sandboxing is not enabled (%s)",
				     platform ? "the settings say sandbox.enabled: false"
					      : "this platform cannot run sandboxes: see srt_platform_info");
	/* The runtime's thread (an event callback) would wait for itself:
	 * it is the one that serves the launcher. */
	pthread_mutex_lock(&o->lock);
	bool self = o->started && pthread_equal(pthread_self(), o->thread);
	pthread_mutex_unlock(&o->lock);
	if (self)
		return srt_error_set(err, -EDEADLK,
				     "called on the runtime's own thread (from an event callback): the sandbox "
				     "could never start; call from another thread");
	int r = srt_runtime_start(o, err);
	if (r < 0)
		return r;
	const struct sandbox_spec spec = {
		.command = command,
		.shell = shell,
		.cwd = so && so->cwd ? so->cwd : o->rt.cwd,
		.allowed_domains = so ? so->allowed_domains : NULL,
		.allow_unix_sockets = so ? so->allow_unix_sockets : NULL,
		.env = env,
		.env_replace = env_replace,
		.init_fd = 3,
		.sock_fd = 4,
		.args_fd = 5,
	};
	struct sandbox *sb = NULL;
	if ((r = sandbox_prepare(&o->rt, &spec, &sb, err)) < 0)
		return r;
	if ((r = sandbox_prepare_finish(sb, err)) < 0) {
		sandbox_free_unstarted(sb);
		return r;
	}
	struct pending *p = calloc(1, sizeof(*p));
	uint8_t raw[16];
	if (!p || getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw)) {
		free(p);
		sandbox_free_unstarted(sb);
		return srt_error_set(err, -EIO, "cannot make a token");
	}
	for (size_t i = 0; i < sizeof(raw); i++)
		snprintf(p->token + 2 * i, 3, "%02x", raw[i]);
	p->sb = sb;
	p->id = sb->id;
	p->waited = waited;
	p->pidfd = -1;
	char *init_path = runtime_helper_path("srt-init");
	char **argv = calloc(5, sizeof(*argv));
	if (!init_path || !argv || !(argv[0] = init_path) || !(argv[1] = strdup("launch")) ||
	    !(argv[2] = strdup(o->sockpath)) || !(argv[3] = strdup(p->token))) {
		if (argv)
			srt_argv_free(argv);
		else
			free(init_path);
		free(p);
		sandbox_free_unstarted(sb);
		return srt_error_set(err, -ENOMEM, "out of memory");
	}
	uint64_t id = sb->id;
	pthread_mutex_lock(&o->lock);
	p->next = o->pending;
	o->pending = p;
	pthread_mutex_unlock(&o->lock);
	*ret_argv = argv;
	if (ret_id)
		*ret_id = id;
	return 0;
}

/* ---- Executing ------------------------------------------------------------------ */

struct srt_execution {
	int efd;                   /* an eventfd, readable once cancelled */
	atomic_bool canceled;
};

struct srt_execution *srt_execution_new(void)
{
	struct srt_execution *e = calloc(1, sizeof(*e));
	if (!e)
		return NULL;
	e->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (e->efd < 0) {
		free(e);
		return NULL;
	}
	atomic_init(&e->canceled, false);
	return e;
}

/* Async-signal-safe: an atomic store and a write. */
int srt_execution_cancel(struct srt_execution *e)
{
	if (!e)
		return -EINVAL;
	atomic_store(&e->canceled, true);
	uint64_t one = 1;
	ssize_t n = write(e->efd, &one, sizeof(one)); /* EAGAIN only when already readable */
	(void)n;
	return 0;
}

void srt_execution_free(struct srt_execution *e)
{
	if (!e)
		return;
	close(e->efd);
	free(e);
}

/* The caller's execute options, checked, in the library's layout. */
struct exec_plan {
	struct srt_execute_options o;
	struct srt_sandbox_options so_buf;
	const struct srt_sandbox_options *so;   /* NULL or &so_buf */
};

static int execute_options_in(const struct srt_execute_options *uo, struct exec_plan *x, struct srt_error *err)
{
	memset(x, 0, sizeof(*x));
	x->o.size = sizeof(x->o);
	int r;
	if (uo && (r = struct_in(&x->o, sizeof(x->o), uo, SRT_EXECUTE_OPTIONS_SIZE_VER0, "srt_execute_options",
				 err)) < 0)
		return r;
	const struct srt_execute_options *o = &x->o;
	if ((r = sandbox_options_in(o->sandbox, &x->so_buf, &x->so, err)) < 0)
		return r;
	switch (o->stdin_kind) {
	case SRT_STDIN_NULL:
		break;
	case SRT_STDIN_BYTES:
		if (o->stdin_len && !o->stdin_data)
			return srt_error_set(err, -EINVAL,
					     "srt_execute_options.stdin_data is NULL, with stdin_len %zu (SRT_STDIN_BYTES)",
					     o->stdin_len);
		break;
	case SRT_STDIN_FD:
		if (o->stdin_fd < 0)
			return srt_error_set(err, -EINVAL,
					     "srt_execute_options.stdin_fd is %d: not a descriptor (SRT_STDIN_FD)",
					     o->stdin_fd);
		if (fcntl(o->stdin_fd, F_GETFD) < 0)
			return srt_error_set(err, -EBADF,
					     "srt_execute_options.stdin_fd is %d: not an open descriptor (SRT_STDIN_FD)",
					     o->stdin_fd);
		break;
	default:
		return srt_error_set(err, -EINVAL,
				     "srt_execute_options.stdin_kind is %d: not an enum srt_stdin_kind value "
				     "(SRT_STDIN_NULL, SRT_STDIN_BYTES, SRT_STDIN_FD)",
				     (int)o->stdin_kind);
	}
	for (size_t i = 0; o->env && o->env[i]; i++) {
		const char *e = o->env[i];
		if (!e[0])
			return srt_error_set(err, -EINVAL,
					     "srt_execute_options.env[%zu] is \"\": an entry is NAME=VALUE, or NAME to "
					     "remove it",
					     i);
		if (e[0] == '=')
			return srt_error_set(err, -EINVAL,
					     "srt_execute_options.env[%zu] is \"%.200s\": no name before '='", i, e);
	}
	return 0;
}

static int execute(srt_runtime *o, char *const *command, bool shell, const struct exec_plan *x,
		   struct srt_result **ret, struct srt_error *err);

/* wrap and execute, counted (call_enter) so that a free on another thread
 * waits for them. */
static int sandbox_call(srt_runtime *o, char *const *command, bool shell, const struct srt_sandbox_options *so,
			const struct exec_plan *x, struct srt_result **ret, char ***ret_argv, uint64_t *ret_id,
			struct srt_error *err)
{
	int r = call_enter(o, err);
	if (r < 0)
		return r;
	r = x ? execute(o, command, shell, x, ret, err)
	      : wrap(o, command, shell, so, NULL, false, false, ret_argv, ret_id, err);
	/* The sandbox was ended by free, whatever status it reported. */
	if (x && call_cancelled(o)) {
		srt_result_free(*ret);
		*ret = NULL;
		r = srt_error_set(err, -ECANCELED, "the runtime was freed (srt_runtime_free): the sandbox was ended");
	}
	call_leave(o);
	return r;
}

int srt_runtime_wrap(srt_runtime *o, const char *const *argv, const struct srt_sandbox_options *so,
		     char ***ret_argv, uint64_t *ret_id, struct srt_error *err)
{
	error_clear(err);
	struct srt_sandbox_options buf;
	int r = sandbox_options_in(so, &buf, &so, err);
	if (r == 0)
		r = check_sandbox_args(o, argv, NULL, false, so, err);
	if (r == 0 && !ret_argv)
		r = srt_error_set(err, -EINVAL, "ret_argv is NULL");
	if (r == 0)
		r = sandbox_call(o, (char *const *)argv, false, so, NULL, NULL, ret_argv, ret_id, err);
	return error_done(err, r, "srt_runtime_wrap");
}

int srt_runtime_wrap_shell(srt_runtime *o, const char *command, const struct srt_sandbox_options *so,
			   char ***ret_argv, uint64_t *ret_id, struct srt_error *err)
{
	error_clear(err);
	struct srt_sandbox_options buf;
	int r = sandbox_options_in(so, &buf, &so, err);
	if (r == 0)
		r = check_sandbox_args(o, NULL, command, true, so, err);
	if (r == 0 && !ret_argv)
		r = srt_error_set(err, -EINVAL, "ret_argv is NULL");
	if (r == 0) {
		char *const cmd[] = { (char *)command, NULL };
		r = sandbox_call(o, cmd, true, so, NULL, NULL, ret_argv, ret_id, err);
	}
	return error_done(err, r, "srt_runtime_wrap_shell");
}

void srt_argv_free(char **argv)
{
	if (!argv)
		return;
	for (size_t i = 0; argv[i]; i++)
		free(argv[i]);
	free(argv);
}

#define CAPTURE_MAX (64u * 1024 * 1024)

struct capture {
	char *buf;
	size_t len, cap;
	size_t max;                /* keep at most this much */
	bool truncated;            /* more came */
};

static void capture_read(int fd, struct capture *c, bool *open_)
{
	char tmp[65536];
	ssize_t n = read(fd, tmp, sizeof(tmp));
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n <= 0) {
		*open_ = false;
		return;
	}
	size_t take = (size_t)n;
	if (take > c->max - c->len) {
		take = c->max - c->len;
		c->truncated = true;
	}
	if (take == 0)
		return;
	if (c->len + take + 1 > c->cap) {
		size_t cap = c->cap ? c->cap : 4096;
		while (cap < c->len + take + 1)
			cap = cap > SIZE_MAX / 2 ? SIZE_MAX : cap * 2;
		char *b = realloc(c->buf, cap);
		if (!b) {
			c->truncated = true; /* what does not fit is dropped */
			return;
		}
		c->buf = b;
		c->cap = cap;
	}
	memcpy(c->buf + c->len, tmp, take);
	c->len += take;
}

/* The signals bwrap (and srt-init after it) must get with their default
 * action, whatever the host program ignores: SIGCHLD above all, or bwrap
 * never learns that its child ended. */
static const int default_signals[] = { SIGCHLD, SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGPIPE };

/* Run argv (the launcher) with stdin, stdout, stderr from fds and the
 * caller's environment. Returns the pid or a negative errno. */
static pid_t spawn_wrapped(char *const *argv, const int fds[3])
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	posix_spawn_file_actions_init(&fa);
	posix_spawnattr_init(&at);
	for (int i = 0; i < 3; i++)
		posix_spawn_file_actions_adddup2(&fa, fds[i], i);
	sigset_t dfl, none;
	sigemptyset(&dfl);
	sigemptyset(&none);
	for (size_t i = 0; i < ARRAY_SIZE(default_signals); i++)
		sigaddset(&dfl, default_signals[i]);
	posix_spawnattr_setsigdefault(&at, &dfl);
	posix_spawnattr_setsigmask(&at, &none);
	posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
	pid_t pid = -1;
	int e = posix_spawn(&pid, argv[0], &fa, &at, argv, environ);
	posix_spawnattr_destroy(&at);
	posix_spawn_file_actions_destroy(&fa);
	return e ? -e : pid;
}

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

/* The launcher just spawned, as a pidfd: signalled and waited for by it,
 * never by number. -1 when it is no longer our child (a host that ignores
 * SIGCHLD reaped it already: its pid may be another process's by now).
 * *by_pid: no pidfd could be had although it is our child (no pidfd_open,
 * as under valgrind; out of descriptors; no P_PIDFD): then, only then, its
 * pid is used as it is. */
static int launcher_pidfd(pid_t pid, bool *by_pid)
{
	*by_pid = false;
	int fd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (fd < 0) {
		/* ESRCH: gone, so reaped by the host, its pid free for others. */
		*by_pid = errno != ESRCH;
		return -1;
	}
	siginfo_t si;
	memset(&si, 0, sizeof(si));
	if (waitid((idtype_t)P_PIDFD, (id_t)fd, &si, WEXITED | WNOHANG | WNOWAIT) < 0) {
		/* ECHILD: not our child (any more); else (a kernel without
		 * P_PIDFD) our child, as far as anyone can tell. */
		*by_pid = errno != ECHILD;
		close(fd);
		return -1;
	}
	return fd;
}

/* fd, or a copy of it above 2 (the original closed): the child moves it
 * to 0, 1 or 2, which must not overwrite another. */
static int fd_above_stdio(int fd)
{
	if (fd < 0 || fd > 2)
		return fd;
	int d = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	int e = errno;
	close(fd);
	errno = e;
	return d;
}

/* After a timeout or cancel, how long the output may take to close. */
#define KILL_DRAIN_MS 5000

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* End an execution's sandbox now (timeout, cancel): the launcher we
 * spawned, and, through the runtime's thread, the sandbox itself (its PID
 * 1, so every process in it, and its connection, so that a sandbox not
 * started yet never starts). */
static void kill_sandbox(srt_runtime *o, uint64_t id, int launcher_fd, pid_t launcher_pid)
{
	pthread_mutex_lock(&o->lock);
	struct pending *lists[] = { o->pending, o->live };
	for (size_t i = 0; i < ARRAY_SIZE(lists); i++)
		for (struct pending *p = lists[i]; p; p = p->next)
			if (p->id == id)
				p->kill = true;
	/* Once free has begun, its loop ends every sandbox and then closes
	 * (the wake with it): the wake is sent under the lock, or not at all. */
	if (!o->stopping)
		uv_async_send(&o->wake);
	pthread_mutex_unlock(&o->lock);
	if (launcher_fd >= 0)
		syscall(SYS_pidfd_send_signal, launcher_fd, SIGKILL, NULL, 0);
	else if (launcher_pid > 0)
		kill(launcher_pid, SIGKILL); /* no pidfd_open here: ours, not reaped yet */
}

/* Once a killed sandbox's PID 1 has ended, the kernel has ended every
 * other process of its PID namespace: wait for that, so that nothing of
 * it outlives the call (a bound, should it never come). */
static void wait_pidfd(int pidfd)
{
	if (pidfd < 0)
		return;
	int64_t end = mono_ms() + 10000;
	for (;;) {
		struct pollfd p = { .fd = pidfd, .events = POLLIN };
		int64_t left = end - mono_ms();
		if (left <= 0 || poll(&p, 1, (int)left) > 0 || (errno != EINTR))
			break;
	}
	close(pidfd);
}

static int execute(srt_runtime *o, char *const *command, bool shell, const struct exec_plan *x,
		   struct srt_result **ret, struct srt_error *err)
{
	const struct srt_execute_options *xo = &x->o;
	*ret = NULL;
	struct srt_result *res = calloc(1, sizeof(*res));
	if (!res)
		return srt_error_set(err, -ENOMEM, "out of memory");
	res->size = sizeof(*res);
	char **argv = NULL;
	uint64_t id = 0;
	int r = wrap(o, command, shell, x->so, xo->env, xo->env_replace, true, &argv, &id, err);
	if (r < 0) {
		free(res);
		return r;
	}
	int out[2] = { -1, -1 }, errp[2] = { -1, -1 }, in[2] = { -1, -1 }, lfd = -1;
	struct capture co = { .max = xo->max_output ? xo->max_output : CAPTURE_MAX };
	struct capture ce = { .max = co.max };
	int e = 0;
	if (pipe2(out, O_CLOEXEC) < 0 || pipe2(errp, O_CLOEXEC) < 0)
		e = errno;
	else if (xo->stdin_kind == SRT_STDIN_BYTES) {
		if (pipe2(in, O_CLOEXEC) < 0 || fcntl(in[1], F_SETFL, O_NONBLOCK) < 0)
			e = errno;
	} else if (xo->stdin_kind == SRT_STDIN_FD) {
		/* A copy of the caller's: it is never closed or moved. */
		if ((in[0] = fcntl(xo->stdin_fd, F_DUPFD_CLOEXEC, 3)) < 0)
			e = errno;
	} else if ((in[0] = open("/dev/null", O_RDONLY | O_CLOEXEC)) < 0) {
		e = errno;
	}
	if (!e && ((in[0] = fd_above_stdio(in[0])) < 0 || (out[1] = fd_above_stdio(out[1])) < 0 ||
		   (errp[1] = fd_above_stdio(errp[1])) < 0))
		e = errno;
	if (e) {
		r = srt_error_set(err, -e, "cannot make the pipes: %s", strerror(e));
		wait_finished(o, id, NULL); /* drops the prepared sandbox */
		goto out;
	}
	pid_t pid = spawn_wrapped(argv, (int[]){ in[0], out[1], errp[1] });
	if (pid < 0) {
		r = srt_error_set(err, pid, "cannot run %s: %s", argv[0], strerror(-pid));
		wait_finished(o, id, NULL);
		goto out;
	}
	bool by_pid = false;
	lfd = launcher_pidfd(pid, &by_pid);
	close(in[0]);
	close(out[1]);
	close(errp[1]);
	in[0] = out[1] = errp[1] = -1;

	/* stdin bytes go in as the pipe takes them, between reads of the
	 * output: neither side ever waits for the other. A command that
	 * stops reading (closes stdin, ends) makes the write fail with EPIPE:
	 * SIGPIPE is blocked meanwhile and, when this write raised it,
	 * taken back, so that the program never sees it. */
	const unsigned char *in_data = xo->stdin_data;
	size_t in_off = 0, in_len = xo->stdin_kind == SRT_STDIN_BYTES ? xo->stdin_len : 0;
	sigset_t pipe_set, old_mask;
	bool pipe_pending = false, raised_pipe = false, masked = false;
	sigemptyset(&pipe_set);
	sigaddset(&pipe_set, SIGPIPE);
	if (in[1] >= 0) {
		masked = pthread_sigmask(SIG_BLOCK, &pipe_set, &old_mask) == 0;
		sigset_t pend;
		pipe_pending = sigpending(&pend) == 0 && sigismember(&pend, SIGPIPE);
		if (in_len == 0) {
			close(in[1]);
			in[1] = -1;
		}
	}
	int64_t deadline = -1;
	if (xo->timeout_ms)
		deadline = xo->timeout_ms > (uint64_t)(INT64_MAX / 2) ? INT64_MAX / 2 : mono_ms() + (int64_t)xo->timeout_ms;
	int cancel_fd = xo->cancel ? xo->cancel->efd : -1;
	bool killed = false, timed_out = false, canceled = false;
	/* Once killed, the pipes close as the sandbox's processes die; a
	 * descriptor passed out of the sandbox (over an allowed unix socket)
	 * could keep one open: the output stops being read after a while. */
	int64_t drain_end = INT64_MAX;
	/* A handle cancelled between the check on entry and now. */
	if (xo->cancel && atomic_load(&xo->cancel->canceled)) {
		canceled = killed = true;
		kill_sandbox(o, id, lfd, by_pid ? pid : 0);
		drain_end = mono_ms() + KILL_DRAIN_MS;
	}
	bool oo = true, eo = true;
	while (oo || eo) {
		struct pollfd p[5] = { { .fd = oo ? out[0] : -1, .events = POLLIN },
				       { .fd = eo ? errp[0] : -1, .events = POLLIN },
				       { .fd = in[1], .events = POLLOUT },
				       { .fd = killed ? -1 : cancel_fd, .events = POLLIN },
				       { .fd = o->stop_fd, .events = POLLIN } };
		int wait = -1;
		int64_t until = killed ? drain_end : deadline;
		if (until >= 0 && until != INT64_MAX) {
			int64_t left = until - mono_ms();
			if (killed && left <= 0)
				break;
			wait = left <= 0 ? 0 : left > INT_MAX ? INT_MAX : (int)left;
		}
		if (poll(p, 5, wait) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		/* srt_runtime_free has begun: its loop ends the sandbox, and the
		 * call leaves now (-ECANCELED), not once the output closes: a
		 * descriptor held outside the sandbox would keep free waiting. */
		if (p[4].revents) {
			if (!killed)
				kill_sandbox(o, id, lfd, by_pid ? pid : 0);
			killed = canceled = true;
			break;
		}
		if (!killed && ((deadline >= 0 && mono_ms() >= deadline) || p[3].revents)) {
			if (p[3].revents)
				canceled = true;
			else
				timed_out = true;
			killed = true;
			kill_sandbox(o, id, lfd, by_pid ? pid : 0);
			drain_end = mono_ms() + KILL_DRAIN_MS;
		}
		if (in[1] >= 0 && (p[2].revents || killed)) {
			while (!killed && in_off < in_len) {
				size_t chunk = in_len - in_off > 65536 ? 65536 : in_len - in_off;
				ssize_t n = write(in[1], in_data + in_off, chunk);
				if (n > 0) {
					in_off += (size_t)n;
					continue;
				}
				if (n < 0 && errno == EINTR)
					continue;
				if (n < 0 && errno == EPIPE)
					raised_pipe = true;
				if (n < 0 && errno == EAGAIN)
					break;
				in_off = in_len; /* the command does not read any more */
			}
			if (killed || in_off >= in_len) {
				close(in[1]);
				in[1] = -1;
			}
		}
		if (p[0].revents)
			capture_read(out[0], &co, &oo);
		if (p[1].revents)
			capture_read(errp[0], &ce, &eo);
	}
	if (in[1] >= 0) {
		close(in[1]);
		in[1] = -1;
	}
	if (masked) {
		if (raised_pipe && !pipe_pending) {
			const struct timespec zero = { 0, 0 };
			sigtimedwait(&pipe_set, NULL, &zero);
		}
		pthread_sigmask(SIG_SETMASK, &old_mask, NULL);
	}
	int status = 0;
	pid_t w = -1;
	int we = ECHILD;
	if (lfd >= 0) {
		siginfo_t si;
		int k;
		while ((k = waitid((idtype_t)P_PIDFD, (id_t)lfd, &si, WEXITED)) < 0 && errno == EINTR)
			;
		if (k == 0) {
			w = pid;
			status = si.si_code == CLD_EXITED ? (si.si_status & 0xff) << 8 : (si.si_status & 0x7f);
		} else {
			we = errno;
		}
	} else if (by_pid) {
		while ((w = waitpid(pid, &status, 0)) < 0 && errno == EINTR)
			;
		we = errno;
	}
	int pidfd = -1;
	int reported = wait_finished(o, id, &pidfd);
	wait_pidfd(pidfd);
	if (killed) {
		res->status = timed_out ? 124 : 128 + SIGKILL;
		res->timed_out = timed_out;
		res->canceled = canceled;
	} else if (w == pid) {
		res->status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	} else if (we == ECHILD && reported >= 0) {
		/* The host took the status (it ignores SIGCHLD, or reaps every
		 * child): srt-init's report is the same number. */
		res->status = reported;
	} else {
		r = srt_error_set(err, w < 0 ? -we : -ECHILD,
				  "cannot learn the sandbox's status (pid %d): %s%s", (int)pid, strerror(w < 0 ? we : ECHILD),
				  we == ECHILD ? " (the program ignores SIGCHLD or reaps every child, and srt-init "
						 "reported none)"
					       : "");
		goto out;
	}
	res->out = co.buf ? co.buf : calloc(1, 1);
	res->out_len = co.len;
	res->err = ce.buf ? ce.buf : calloc(1, 1);
	res->err_len = ce.len;
	co.buf = ce.buf = NULL;
	if (!res->out || !res->err) {
		r = srt_error_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	res->out[res->out_len] = '\0';
	res->err[res->err_len] = '\0';
	res->out_truncated = co.truncated;
	res->err_truncated = ce.truncated;
	res->sandbox_id = id;
	*ret = res;
	res = NULL;
	r = 0;
out:
	if (lfd >= 0)
		close(lfd);
	srt_result_free(res);
	free(co.buf);
	free(ce.buf);
	for (size_t i = 0; i < 2; i++) {
		if (out[i] >= 0)
			close(out[i]);
		if (errp[i] >= 0)
			close(errp[i]);
		if (in[i] >= 0)
			close(in[i]);
	}
	srt_argv_free(argv);
	return r;
}

/* The checks before any sandbox: options, then arguments, then the
 * cancel handle (cancelled already: nothing runs). */
static int execute_entry(srt_runtime *o, const char *const *argv, const char *command, bool shell,
			 const struct srt_execute_options *uo, struct srt_result **ret, struct srt_error *err)
{
	if (ret)
		*ret = NULL;
	struct exec_plan x;
	int r = execute_options_in(uo, &x, err);
	if (r == 0)
		r = check_sandbox_args(o, argv, command, shell, x.so, err);
	if (r == 0 && !ret)
		r = srt_error_set(err, -EINVAL, "ret is NULL");
	if (r == 0 && x.o.cancel && atomic_load(&x.o.cancel->canceled))
		r = srt_error_set(err, -ECANCELED,
				  "srt_execute_options.cancel was cancelled before the call: nothing ran");
	if (r == 0) {
		char *const cmd[] = { (char *)command, NULL };
		r = sandbox_call(o, shell ? cmd : (char *const *)argv, shell, NULL, &x, ret, NULL, NULL, err);
	}
	return r;
}

int srt_runtime_execute(srt_runtime *o, const char *const *argv, const struct srt_execute_options *xo,
			struct srt_result **ret, struct srt_error *err)
{
	error_clear(err);
	int r = execute_entry(o, argv, NULL, false, xo, ret, err);
	return error_done(err, r, "srt_runtime_execute");
}

int srt_runtime_execute_shell(srt_runtime *o, const char *command, const struct srt_execute_options *xo,
			      struct srt_result **ret, struct srt_error *err)
{
	error_clear(err);
	int r = execute_entry(o, NULL, command, true, xo, ret, err);
	return error_done(err, r, "srt_runtime_execute_shell");
}

void srt_result_free(struct srt_result *r)
{
	if (!r)
		return;
	free(r->out);
	free(r->err);
	free(r);
}

/* ---- Violations, events, ask ------------------------------------------------------ */

/* No struct srt_error here: a bad argument is -EINVAL alone. */
int srt_runtime_violations(srt_runtime *o, enum srt_violation_kind kind, struct srt_violation_list **ret)
{
	if (!o || !ret || !violation_kind_valid(kind))
		return -EINVAL;
	return event_hub_list(&o->rt.hub, kind, ret);
}

size_t srt_runtime_violation_count(srt_runtime *o)
{
	return o ? event_hub_count(&o->rt.hub) : 0;
}

void srt_runtime_clear_violations(srt_runtime *o)
{
	if (o)
		event_hub_clear(&o->rt.hub);
}

int srt_runtime_subscribe(srt_runtime *o, srt_event_fn fn, void *data, uint64_t *ret_token)
{
	if (!o)
		return -EINVAL;
	return event_hub_subscribe(&o->rt.hub, fn, data, ret_token);
}

int srt_runtime_unsubscribe(srt_runtime *o, uint64_t token)
{
	if (!o)
		return -EINVAL;
	return event_hub_unsubscribe(&o->rt.hub, token);
}

void srt_runtime_set_ask(srt_runtime *o, srt_ask_fn fn, void *data)
{
	if (!o)
		return;
	pthread_mutex_lock(&o->rt.lock);
	o->rt.ask = fn;
	o->rt.ask_async = NULL;
	o->rt.ask_data = data;
	pthread_mutex_unlock(&o->rt.lock);
}

int srt_runtime_set_ask_async(srt_runtime *o, srt_ask_async_fn fn, void *data)
{
	if (!o)
		return -EINVAL;
	pthread_mutex_lock(&o->rt.lock);
	o->rt.ask = NULL;
	o->rt.ask_async = fn;
	o->rt.ask_data = data;
	pthread_mutex_unlock(&o->rt.lock);
	return 0;
}

/* A request is the proxy's question itself: it lives until answered,
 * whatever happens to its connection or the runtime. */
int srt_ask_reply(struct srt_ask_request *req, bool allow, const char *reason)
{
	if (!req)
		return -EINVAL;
	proxy_ask_answer((struct proxy_ask *)req, allow, reason);
	return 0;
}

int srt_runtime_set_ask_timeout(srt_runtime *o, unsigned timeout_ms)
{
	if (!o || timeout_ms == 0 || timeout_ms > 604800000u)
		return -EINVAL;
	pthread_mutex_lock(&o->rt.lock);
	o->rt.ask_timeout_ms = timeout_ms;
	pthread_mutex_unlock(&o->rt.lock);
	return 0;
}

/* ---- Platform ---------------------------------------------------------------------- */

/* bwrap --version, first line. */
static void bwrap_version(char *buf, size_t size)
{
	buf[0] = '\0';
	char *path = NULL;
	if (bwrap_find(NULL, &path, NULL) < 0)
		return;
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0) {
		free(path);
		return;
	}
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, p[1], 1);
	posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
	char *const args[] = { path, "--version", NULL };
	pid_t pid;
	int e = posix_spawn(&pid, path, &fa, NULL, args, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(p[1]);
	if (e == 0) {
		size_t off = 0;
		ssize_t n;
		while (off + 1 < size && (n = read(p[0], buf + off, size - 1 - off)) > 0)
			off += (size_t)n;
		buf[off] = '\0';
		buf[strcspn(buf, "\n")] = '\0';
		while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
			;
	}
	close(p[0]);
	free(path);
}

static bool userns_allowed(char *why, size_t size)
{
	FILE *f = fopen("/proc/sys/kernel/unprivileged_userns_clone", "r");
	if (f) {
		int v = 1;
		if (fscanf(f, "%d", &v) == 1 && v == 0 && getuid() != 0) {
			snprintf(why, size, "unprivileged user namespaces are off (kernel.unprivileged_userns_clone=0)\n");
			fclose(f);
			return false;
		}
		fclose(f);
	}
	f = fopen("/proc/sys/user/max_user_namespaces", "r");
	if (f) {
		long v = 1;
		if (fscanf(f, "%ld", &v) == 1 && v == 0) {
			snprintf(why, size, "user namespaces are off (user.max_user_namespaces=0)\n");
			fclose(f);
			return false;
		}
		fclose(f);
	}
	return true;
}

/* The library's struct, filled. */
static void platform_info(struct srt_platform_info *out)
{
	memset(out, 0, sizeof(*out));
	out->size = sizeof(*out);
	snprintf(out->platform, sizeof(out->platform), "linux");
	struct utsname u;
	if (uname(&u) == 0)
		snprintf(out->kernel, sizeof(out->kernel), "%.63s", u.release);
	bwrap_version(out->bwrap, sizeof(out->bwrap));
	const struct scmp_version *sv = seccomp_version();
	if (sv)
		snprintf(out->libseccomp, sizeof(out->libseccomp), "%u.%u.%u", sv->major, sv->minor, sv->micro);
	snprintf(out->libuv, sizeof(out->libuv), "%s", uv_version_string());
	snprintf(out->jansson, sizeof(out->jansson), "%s", jansson_version_str());
	out->observer_supported = observer_supported();
	size_t off = 0;
	if (!out->bwrap[0])
		off += (size_t)snprintf(out->missing + off, sizeof(out->missing) - off,
					"bubblewrap (bwrap) is not installed (Debian: apt install bubblewrap)\n");
	char why[160] = "";
	if (!userns_allowed(why, sizeof(why)) && off < sizeof(out->missing))
		off += (size_t)snprintf(out->missing + off, sizeof(out->missing) - off, "%s", why);
	char *init = runtime_helper_path("srt-init");
	if (init && access(init, R_OK) < 0 && off < sizeof(out->missing))
		off += (size_t)snprintf(out->missing + off, sizeof(out->missing) - off,
					"srt-init is missing at %s\n", init);
	free(init);
	out->supported = off == 0;
}

/* Written up to the caller's size and no further; what the caller's
 * struct has past the library's is zeroed (a field this library does not
 * fill); size becomes what was filled. */
int srt_platform_info(struct srt_platform_info *out)
{
	size_t usize;
	if (!out)
		return -EINVAL;
	memcpy(&usize, out, sizeof(usize));
	if (usize < SRT_PLATFORM_INFO_SIZE_VER0)
		return -EINVAL;
	if (usize > SRT_STRUCT_SIZE_MAX)
		return -E2BIG;
	struct srt_platform_info pi;
	platform_info(&pi);
	size_t n = usize < sizeof(pi) ? usize : sizeof(pi);
	memcpy(out, &pi, n);
	if (usize > n)
		memset((char *)out + n, 0, usize - n);
	memcpy(out, &n, sizeof(n));
	return 0;
}

static bool platform_ok(void)
{
	struct srt_platform_info pi;
	platform_info(&pi);
	return pi.supported;
}
