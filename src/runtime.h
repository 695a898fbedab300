/* The supervisor: one runtime (settings, events, the loop that serves sandboxes) and the sandboxes it starts and serves. */
#ifndef SRT_RUNTIME_H
#define SRT_RUNTIME_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <uv.h>

#include "config/config.h"
#include "events.h"
#include "linux/mountplan.h"
#include "policy/policy.h"
#include "proxy/server.h"

struct dns_server;
struct net_policy;
struct observer;
struct mount_plan;

/* One settings generation: what reload replaces. Kept until the runtime is
 * freed, since sandboxes and connections in flight may still use it. */
struct tls_setup;

struct settings {
	struct config cfg;
	struct policy *policy;
	struct net_policy *net;
	/* Parent proxy and mitmProxy routes (NULL: every connection direct). */
	struct proxy_upstream *upstream;
	struct tls_setup *tls;   /* network.tlsTerminate, or NULL */
	/* srt's own (one sandbox, started right after the load): policy is
	 * what that sandbox runs with. A library runtime resolves the paths
	 * again for each sandbox (sandbox.policy), as srt does for each run. */
	bool cli;
	struct settings *older;
};

struct runtime {
	uv_loop_t *loop;               /* serves every sandbox (one thread) */
	struct event_hub hub;
	pthread_mutex_t lock;          /* cur, ask, next_id */
	struct settings *cur;
	enum srt_observe observe;
	bool debug;
	char *home, *cwd;
	srt_ask_fn ask;                /* at most one of ask, ask_async is set */
	srt_ask_async_fn ask_async;
	void *ask_data;
	unsigned ask_timeout_ms;       /* 0: PROXY_ASK_TIMEOUT_MS */
	uint64_t next_id;
	struct sandbox *sandboxes;     /* served now (loop thread only) */
};

/* Load settings into a new generation: text (named name in messages), or
 * the file path. cli: as srt does, path (NULL: ~/.srt-settings.json) and
 * then the project's .sandbox/settings.json (found upwards from cwd, see
 * config_load) on top; else path alone.
 * home and cwd expand "~" and relative paths. Returns 0 or a negative errno
 * with err. */
struct settings_source {
	const char *path, *text, *name;
	const char *home, *cwd;
	bool cli, trust_project;
	const char *extra, *extra_name;   /* settings text merged last (srt's own additions) */
	/* cli: this text in place of the settings file (path), named
	 * user_text_name; skip_project: no project file on top. */
	const char *user_text, *user_text_name;
	bool skip_project;
	/* Settings for a running command (srt --control-fd's lines), which
	 * start and make nothing: their filesystem rules must be those in
	 * force (check), so only their network lists are built (policy_env's
	 * network_only), and the open-file limit is not checked again. */
	bool live;
	/* cli: the project file as read before (config_load_options). */
	const char *project_dir, *project_text;
	size_t project_len;
	/* Called once the settings are read, before anything is resolved or
	 * made on the host: a negative errno with err refuses them. NULL: none. */
	int (*check)(const struct config *cfg, void *data, struct srt_error *err);
	void *check_data;
};
int settings_load(const struct settings_source *src, struct settings **ret, struct srt_error *err);
void settings_free_chain(struct settings *s);

int runtime_init(struct runtime *rt, const struct srt_runtime_options *o, struct settings *s,
		 struct srt_error *err);
void runtime_destroy(struct runtime *rt);
/* The current settings (the caller holds no lock after; generations live as
 * long as the runtime). */
struct settings *runtime_settings(struct runtime *rt);
/* Install a new generation and tell the subscribers. */
void runtime_replace_settings(struct runtime *rt, struct settings *s);
/* The same, with where the settings came from for the event's source
 * ("control fd 3 line 2"; NULL: none). */
void runtime_replace_settings_from(struct runtime *rt, struct settings *s, const char *source);
/* Free the older generations that nothing uses any more: not the one in
 * force, not keep, not one a running sandbox started with, none a
 * connection of its proxies still holds. Loop thread only, and only where
 * no other thread holds a generation (srt's command line: each
 * --control-fd line would otherwise keep its settings until srt exits). */
void runtime_prune_settings(struct runtime *rt, const struct settings *keep);
/* Whether this thread is inside one of rt's callbacks (an event, ask). */
bool runtime_in_callback(const struct runtime *rt);

/* One listener srt-init makes inside the sandbox, and what serves it. */
struct listen_spec {
	char addr[64];                  /* "127.0.0.1:3128", "[::1]:5432" */
	enum proxy_kind kind;
	struct sockaddr_storage target; /* FORWARD: the host address */
	socklen_t target_len;
	bool service;                   /* FORWARD to a host loopback service (not the user's proxy) */
	bool served;                    /* srt serves it: bound inside for the sandbox's whole life */
};

struct sandbox {
	struct runtime *rt;
	struct settings *settings;      /* the generation it started with */
	/* Its paths, resolved as the sandbox starts (a folder made or
	 * replaced by a link since the settings were loaded is seen as it is
	 * now); own_policy when it is the sandbox's alone. */
	const struct policy *policy;
	struct policy *own_policy;
	uint64_t id;
	char *command;                  /* as text, for events */
	struct listen_spec *listens;
	size_t n_listens;
	struct net_policy *extra;       /* per-sandbox allowedDomains, or NULL */
	struct policy_unix_rules extra_unix; /* per-sandbox allowUnixSockets */
	struct proxy_hooks hooks;
	struct proxy_server *proxy;
	struct creds *creds;            /* credentials (creds.h), or NULL */
	/* network.mode transparent: the DNS responder at 127.0.0.1:53 inside
	 * (loop thread; NULL in proxy mode and once the sandbox ended). */
	struct dns_server *dns;
	struct observer *obs;
	int sock;                       /* to srt-init; -1 before it is attached */
	uv_poll_t sock_watch;
	bool sock_open;
	bool watch_made;
	pid_t init_pid;
	int init_pidfd;
	bool started;                   /* srt-init said hello and got GO */
	bool guard_on;                  /* the write guard serves this sandbox */
	bool net_broker_on;             /* the connect broker serves this sandbox */
	struct direct_queue *direct_q;  /* transparent mode: connects handed over by the broker */
	bool tmp_overlay_known;         /* srt-init said (HELLO) what the private /tmp's devices are */
	dev_t tmp_overlay_dev;          /* its file system's device, as the kernel names its sockets */
	uint64_t tmp_overlay_mnt;       /* its mount id */
	dev_t tmp_upper_dev;            /* the device its upper layer's files show */
	bool ended;
	int exit_status;                /* from PROTO_EXIT; -1 unknown */
	int64_t start_ns;
	size_t n_violations;
	struct seen {                   /* the violations reported */
		uint64_t hash;
		char *key;
	} *seen;
	size_t n_seen, cap_seen;
	/* Prepared for launch. */
	struct mount_plan *plan;        /* until sandbox_prepare_finish */
	int plan_fd, filter_fd, notify_fd, args_fd;
	int bundle_fd;                 /* network.tlsTerminate: the trust bundle (memfd) for srt-init, or -1 */
	struct strv argv;               /* bwrap's command line */
	/* The CLI's signal forwarding. */
	int pending[8];
	size_t n_pending;
	void (*on_end)(struct sandbox *sb);   /* srt-init's socket closed */
	/* On the loop thread, right before sb is freed, after sandbox.exit
	 * (sandbox_finish starts that; it completes once the proxy is closed). */
	void (*on_freed)(struct sandbox *sb);
	void *owner;
	int refs;                       /* after sandbox_finish: what still holds sb */
	int final_status;
	int64_t end_ns;
	struct sandbox *next;
};

struct sandbox_spec {
	char *const *command;   /* argv; with shell, command[0] is the -c string */
	bool shell;
	const char *cwd;
	unsigned long ignore_mask;
	const char *const *allowed_domains;   /* per-sandbox extra list */
	const char *const *allow_unix_sockets; /* per-sandbox extra list */
	/* Changes to the command's environment ("NAME=VALUE", "NAME" to
	 * remove; env_replace: start from nothing), made inside the sandbox:
	 * the host-side processes (launcher, bwrap) keep the caller's. */
	const char *const *env;
	bool env_replace;
	/* The fd numbers bwrap will have them at. */
	int init_fd, sock_fd, args_fd;
};

/* Everything for one sandbox that does not need it to run yet, in two
 * steps (the CLI runs the second while bwrap starts): the mount plan,
 * listeners and bwrap's arguments; then the filters, the placeholders (and
 * their guardian) and the plan for srt-init. Called on any thread. */
int sandbox_prepare(struct runtime *rt, const struct sandbox_spec *spec, struct sandbox **ret,
		    struct srt_error *err);
int sandbox_prepare_finish(struct sandbox *sb, struct srt_error *err);
/* Start serving srt-init's socket on the loop (loop thread). Sends the
 * plan first. */
int sandbox_attach(struct sandbox *sb, int sock, struct srt_error *err);
/* Stop serving and free (loop thread; the loop must run afterwards for the
 * close callbacks, which emit sandbox.exit when it had started and free
 * it). status: as srt(1), or -1 for what srt-init said (PROTO_EXIT). */
void sandbox_finish(struct sandbox *sb, int status);
void sandbox_free_unstarted(struct sandbox *sb);

struct runtime_run_options {
	char *const *command;   /* argv; with shell, command[0] is the -c string */
	bool shell;
	const char *cwd;
	bool quiet;             /* --quiet: no word about the private /tmp's changes */
};

/* The CLI: run one command in a sandbox of rt (whose loop is this
 * thread's) and wait for it, forwarding SIGINT, SIGTERM, SIGHUP, SIGQUIT
 * (and SIGUSR1/2). On success *ret_status is the status srt should exit
 * with: the command's own, 128+N when it was killed by signal N, 126/127
 * when it could not be executed. Returns a negative errno with err filled
 * when the sandbox could not be set up; the command did not run then. */
int runtime_run(struct runtime *rt, const struct runtime_run_options *o, int *ret_status,
		struct srt_error *err);

/* Where srt's helper files live: the folder of the running srt when it
 * holds them (a build tree), else next to the library, else the install's
 * libexec folder. */
char *runtime_helper_path(const char *name);

/* Make a library runtime's folder in parent (a folder of this user's,
 * 0700), 0700: "PID.XXXXXX", with flock(LOCK_SH) held on *lock_fd
 * (close-on-exec) taken before it had that name; the runtime keeps
 * *lock_fd open for its whole life. When no lock or rename can be had,
 * the folder is "new.XXXXXX" (never reclaimed) and *lock_fd may be -1.
 * The path, malloc'd, or NULL with errno set (nothing made). */
char *runtime_dir_make(const char *parent, int *lock_fd);
/* Remove the folders "PID.XXXXXX" in parent (a folder of this user's,
 * 0700) whose lock is free, that is whose runtime is gone, whatever the
 * PID: never a live one's (in any PID namespace), another user's, or
 * anything reached through a symbolic link. Errors are ignored. */
void runtime_dir_reclaim(const char *parent);
/* Whether name is one runtime_dir_make gives: "PID.XXXXXX" as printed
 * (no sign, space or leading zero; six letters or digits). Names in the
 * runtime parent are read from the file system: fuzzed (fuzz_proto). */
bool runtime_dir_name(const char *name);

/* err's message, for r -EMFILE, -ENFILE or -ENOMEM, completed with the
 * limit that was reached (RLIMIT_NOFILE and its value, fs.file-max,
 * RLIMIT_AS). Returns r. */
int runtime_resource_explain(struct srt_error *err, int r);

/* $HOME when it is absolute, else the user's home from the password
 * database, else "/". */
const char *runtime_home_dir(void);

/* Command text for events: argv joined with spaces. */
char *command_text(char *const *argv, bool shell);

#endif
