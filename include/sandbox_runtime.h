/* sandbox-runtime: the public C API of libsandbox_runtime.
 *
 * A runtime holds one set of settings, a store of violations and the
 * subscribers to its events, and serves every sandbox started from it
 * (their proxies and their observers) on a thread of its own. Sandboxes are
 * started either by the runtime (srt_runtime_execute) or by the caller, from
 * an argv the runtime prepared (srt_runtime_wrap).
 *
 * Threads: every function may be called from any thread, concurrently,
 * except srt_runtime_free, which must be the last call on a runtime (it
 * cancels executions running on other threads and waits for them).
 * Callbacks (events, ask) run on the runtime's threads, never while a lock
 * of the runtime is held: they may call any function here except reload
 * (-EDEADLK there), reset (does nothing there) and free (deferred there:
 * see srt_runtime_free).
 *
 * Ownership: strings and arrays passed in are copied before the function
 * returns, unless said otherwise. What a function hands back is the
 * caller's, with the function named to free it. Pointers inside an event
 * are valid only during the callback.
 *
 * See sandbox_runtime(3).
 */
#ifndef SANDBOX_RUNTIME_H
#define SANDBOX_RUNTIME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Every fallible function returns 0 or a negative errno-style code and, when
 * given a non-NULL struct srt_error, fills it with a message that names the
 * file, line, column or key the problem came from, or the argument and its
 * value ("srt_runtime_options.observe is 42: ..."). On success the function
 * clears it (code 0, message ""). There is no global error state. Which
 * codes each function returns: sandbox_runtime(3), ERRORS. */
struct srt_error {
	int code;           /* the same negative code the function returned */
	char message[1024]; /* NUL-terminated, human readable */
};

/* The library's version, for example "0.1.0". Static storage. */
const char *srt_version(void);

/* ---- Platform --------------------------------------------------------- */

struct srt_platform_info {
	char platform[16];          /* "linux" */
	bool supported;             /* sandboxes can be started here */
	bool observer_supported;    /* seccomp user notification is available */
	char kernel[64];            /* uname release */
	char bwrap[128];            /* "bubblewrap 0.8.0", or "" when not found */
	char libseccomp[32];        /* "2.5.4" */
	char libuv[32];             /* "1.44.2" */
	char jansson[32];           /* "2.14" */
	char missing[512];          /* what is missing or refused, one reason per
				     * line ("" when supported) */
};

/* Fill *out. Returns 0 (the answer is in out->supported), or -EINVAL when
 * out is NULL. Runs bwrap --version once. */
int srt_platform_info(struct srt_platform_info *out);

/* ---- Settings built in code --------------------------------------------- */

/* The fields of the srt settings format (docs/settings.md), for a program
 * that builds its settings rather than reading them. Lists are
 * NULL-terminated arrays of strings, NULL for none. Zero-initialise and set
 * what you need. Errors name the field, as "<config>: filesystem.allowWrite[2]". */
struct srt_config {
	const char *const *deny_read;        /* filesystem.denyRead */
	const char *const *allow_read;       /* filesystem.allowRead */
	const char *const *allow_write;      /* filesystem.allowWrite */
	const char *const *deny_write;       /* filesystem.denyWrite */
	const char *const *allowed_domains;  /* network.allowedDomains */
	const char *const *denied_domains;   /* network.deniedDomains */
	bool allow_all_unix_sockets;         /* network.allowAllUnixSockets */
	bool allow_local_binding;            /* network.allowLocalBinding */
	bool allow_git_config;               /* filesystem.allowGitConfig */
};

/* ---- Runtime ------------------------------------------------------------ */

typedef struct srt_runtime srt_runtime;

/* What the observer reports besides the proxies (docs/events.md). Each
 * trapped call costs a round trip to the runtime's thread (about 10-20
 * microseconds): the default traps only calls rare enough for that not to
 * show; writes and reads are opt-in (bench/observer measures them). Any
 * other value is refused with -EINVAL. */
enum srt_observe {
	SRT_OBSERVE_DEFAULT = 0, /* exec of hidden programs, direct connects, AF_UNIX sockets */
	SRT_OBSERVE_OFF = 1,     /* no observer: only the proxies report */
	SRT_OBSERVE_READS = 2,   /* what WRITES reports, and read-only opens of hidden
				  * (denyRead) paths; traps every open */
	SRT_OBSERVE_WRITES = 3,  /* what DEFAULT reports, and refused writes; traps
				  * every write-intent call */
};

struct srt_runtime_options {
	size_t max_violations;   /* the store keeps the newest N; 0: 1000 */
	enum srt_observe observe;
	const char *home;        /* for "~" in settings, absolute; NULL: $HOME */
	const char *cwd;         /* for relative paths in settings and the
				  * sandboxes' default folder: an absolute path
				  * to a folder; NULL: getcwd() */
};

/* Create a runtime from a settings file (either format), from settings
 * text (name is used in messages, "<json>" when NULL), or from a struct.
 * opts may be NULL. Nothing runs yet. On success *ret is the caller's;
 * free with srt_runtime_free. */
int srt_runtime_new_from_file(const char *path, const struct srt_runtime_options *opts,
			      srt_runtime **ret, struct srt_error *err);
int srt_runtime_new_from_json(const char *json, const char *name, const struct srt_runtime_options *opts,
			      srt_runtime **ret, struct srt_error *err);
int srt_runtime_new_from_config(const struct srt_config *cfg, const struct srt_runtime_options *opts,
				srt_runtime **ret, struct srt_error *err);

/* Start the runtime's thread (it serves proxies and observers). wrap and
 * execute call it when needed; calling it twice is harmless. */
int srt_runtime_start(srt_runtime *rt, struct srt_error *err);

/* Replace the settings. In sandboxes already running, each new connection
 * is decided by the new network lists (allowedDomains, deniedDomains, with
 * the sandbox's own extra entries) and the new ignoreViolations apply to
 * reports; everything else stays as the sandbox started: mounts, seccomp
 * filter, what the observer refuses, listeners and proxy timeouts. The new
 * settings apply whole to sandboxes started after the call. On error the
 * old settings stay. Emits SRT_EVENT_CONFIG_RELOADED. -EDEADLK from a
 * callback of the runtime (event or ask): reload from another thread. */
int srt_runtime_reload_file(srt_runtime *rt, const char *path, struct srt_error *err);
int srt_runtime_reload_json(srt_runtime *rt, const char *json, const char *name, struct srt_error *err);
int srt_runtime_reload_config(srt_runtime *rt, const struct srt_config *cfg, struct srt_error *err);

/* Back to the state after creation: clears the violations (the dropped
 * count too; seq starts again at 1), removes every subscriber and the ask
 * callback, and loads the creation settings again (a file is re-read; when
 * that fails the current settings stay). Sandboxes still running keep
 * being served. From a callback of the runtime it does nothing. */
void srt_runtime_reset(srt_runtime *rt);

/* Whether sandboxes of this runtime are really sandboxed: the platform is
 * supported and the settings do not say sandbox.enabled: false. When false,
 * wrap and execute refuse with -ENOTSUP rather than run unsandboxed. */
bool srt_sandboxing_enabled(const srt_runtime *rt);

/* The settings in force now (the latest reload), as one JSON object: every
 * file-system rule and allowed or denied domain with its origin
 * ("FILE:LINE:COL: filesystem.allowWrite[0]", "built-in: ..."), the proxy
 * timeouts ("default" when not set), the observe mode and the notes; what
 * srt check prints. The shape: sandbox_runtime(3), EFFECTIVE SETTINGS.
 * *ret_json is written only on success and is the caller's: free it with
 * free(). -EINVAL when rt or ret_json is NULL, -ENOMEM. */
int srt_runtime_config_json(srt_runtime *rt, char **ret_json, struct srt_error *err);

/* Stop serving: ends every sandbox still running (SIGKILL), closes the
 * proxies, joins the thread, removes the runtime folder, frees everything.
 * NULL is a no-op. Executions running on other threads return -ECANCELED
 * before anything is freed. From a callback of the runtime (event or ask)
 * it returns at once: the runtime stops, and frees itself on a thread of
 * its own once the callback has returned; do not use it after that. */
void srt_runtime_free(srt_runtime *rt);

/* ---- Sandboxes ---------------------------------------------------------- */

struct srt_sandbox_options {
	/* Extra allowedDomains entries for this sandbox only, on top of the
	 * runtime's settings (its deniedDomains still win). NULL-terminated. */
	const char *const *allowed_domains;
	const char *cwd;          /* the command's folder, an absolute path that
				   * must exist when the call is made (-EINVAL,
				   * -ENOENT, -ENOTDIR); NULL: the runtime's */
};

/* Prepare a sandbox for a command (argv: NULL-terminated; shell: one
 * string run with bash -c, or sh) and return the argv that runs it: spawn
 * it yourself (posix_spawn, fork+exec, an event loop's process API), with
 * the stdin/stdout/stderr you want. It connects back to the runtime over a
 * unix socket in the runtime's private folder, with a one-time token: the
 * runtime serves it (proxies, observer) and attributes its connections and
 * violations to *ret_id (ret_id may be NULL; *ret_argv and *ret_id are
 * written only on success). Its exit status is the command's (srt(1)). It
 * resets SIGCHLD, SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2 and
 * SIGPIPE to their default action and unblocks all signals before the
 * sandbox starts. *ret_argv is the caller's: free with srt_argv_free. A
 * prepared argv that is never run expires when the runtime is freed.
 * -EDEADLK on the runtime's own thread (in an event callback): call it
 * from another thread. */
int srt_runtime_wrap(srt_runtime *rt, const char *const *argv, const struct srt_sandbox_options *o,
		     char ***ret_argv, uint64_t *ret_id, struct srt_error *err);
int srt_runtime_wrap_shell(srt_runtime *rt, const char *command, const struct srt_sandbox_options *o,
			   char ***ret_argv, uint64_t *ret_id, struct srt_error *err);
void srt_argv_free(char **argv);

struct srt_result {
	int status;          /* as srt(1): the command's, 128+N for signal N, 126/127 */
	char *out;           /* captured stdout, NUL-terminated (binary safe with out_len) */
	size_t out_len;
	char *err;           /* captured stderr */
	size_t err_len;
	uint64_t sandbox_id;
};

/* Run a command in a sandbox with stdin from /dev/null, wait for it and
 * capture its output (at most 64 MiB of each; more is discarded). *ret is
 * zeroed first, so srt_result_free on it is harmless even after a failure.
 * Returns 0 when the command ran, whatever its status; a negative errno
 * when no sandbox could be started (a command folder that does not exist
 * is -ENOENT, not status 125), -EDEADLK on the runtime's own thread (in
 * an event callback: the sandbox could never start; call it from another
 * thread), -ECANCELED when srt_runtime_free ended the sandbox while it
 * ran (*ret then holds no result). The sandbox gets default signal actions and no blocked signal,
 * whatever the program ignores or blocks. A program that ignores SIGCHLD
 * or reaps every child itself gets the status the sandbox's init reported
 * (-ECHILD when there is none). Free with srt_result_free. */
int srt_runtime_execute(srt_runtime *rt, const char *const *argv, const struct srt_sandbox_options *o,
			struct srt_result *ret, struct srt_error *err);
int srt_runtime_execute_shell(srt_runtime *rt, const char *command, const struct srt_sandbox_options *o,
			      struct srt_result *ret, struct srt_error *err);
void srt_result_free(struct srt_result *r);

/* ---- Violations ----------------------------------------------------------- */

enum srt_violation_kind {
	SRT_VIOLATION_ANY = 0,          /* for srt_runtime_violations: every kind */
	SRT_VIOLATION_FILESYSTEM = 1,
	SRT_VIOLATION_NETWORK = 2,
	SRT_VIOLATION_UNIX_SOCKET = 3,
	SRT_VIOLATION_PROCESS = 4,
};

enum srt_violation_source {
	SRT_SOURCE_PROXY = 1,     /* a proxy refused a connection */
	SRT_SOURCE_OBSERVER = 2,  /* the observer saw a call the policy refuses */
};

struct srt_violation {
	uint64_t seq;                  /* 1, 2, ... in the order they were recorded */
	int64_t time_ns;               /* CLOCK_REALTIME */
	enum srt_violation_kind kind;
	const char *operation;         /* "read" "write" "create" "unlink" "rename" "exec"
					* "connect" "socket" ... */
	const char *target;            /* absolute path, or "host:port" */
	const char *rule;              /* what decided, with its settings position */
	uint64_t sandbox_id;
	const char *command;           /* the sandbox's command, as text */
	int pid;                       /* the process, in the host's pid namespace (0: unknown) */
	enum srt_violation_source source;
};

struct srt_violation_list {
	struct srt_violation *v;       /* oldest first */
	size_t n;
	uint64_t dropped;              /* recorded but pushed out of the store */
};

/* A copy of the stored violations of one kind (SRT_VIOLATION_ANY: all).
 * -EINVAL (there is no struct srt_error here) when rt or ret is NULL or
 * kind is not a value of the enum. Each distinct refusal (kind, operation,
 * target) is recorded once per sandbox. Free with srt_violation_list_free. */
int srt_runtime_violations(srt_runtime *rt, enum srt_violation_kind kind, struct srt_violation_list **ret);
void srt_violation_list_free(struct srt_violation_list *l);
size_t srt_runtime_violation_count(srt_runtime *rt);   /* stored now */
void srt_runtime_clear_violations(srt_runtime *rt);

/* ---- Events --------------------------------------------------------------- */

enum srt_event_type {
	SRT_EVENT_VIOLATION = 1,       /* a violation was recorded */
	SRT_EVENT_CONNECTION = 2,      /* a proxied connection ended, or was refused */
	SRT_EVENT_SANDBOX_START = 3,
	SRT_EVENT_SANDBOX_EXIT = 4,
	SRT_EVENT_CONFIG_RELOADED = 5,
};

struct srt_connection {
	uint64_t sandbox_id;
	bool allowed;
	const char *host;              /* as asked, e.g. "example.com" */
	uint16_t port;
	const char *address;           /* the address dialed, "" when none */
	const char *rule;              /* what decided */
	const char *via;               /* "http" "connect" "socks5" "forward" */
	uint64_t bytes_up;             /* sandbox -> server */
	uint64_t bytes_down;
	int64_t duration_ns;
	/* NULL / 0 when they do not apply (see docs/events.md). */
	const char *error;             /* allowed, but it failed: "connection refused", "reset by the client", ... */
	const char *closed_by;         /* "client", "server", "srt"; NULL: a kept-alive request that completed */
	const char *timeout;           /* the network.timeouts key that ended it: "connect", "response", "tunnelIdle" */
	uint64_t bytes_missing;        /* of a Content-Length response body, the bytes that never came */
};

struct srt_sandbox_info {
	uint64_t id;
	const char *command;
	int pid;                       /* srt-init's pid on the host, 0 before it is known */
	int status;                    /* SANDBOX_EXIT: as srt(1); -1 when unknown */
	int64_t duration_ns;           /* SANDBOX_EXIT */
};

struct srt_event {
	enum srt_event_type type;
	int64_t time_ns;
	const struct srt_violation *violation;   /* SRT_EVENT_VIOLATION */
	const struct srt_connection *connection; /* SRT_EVENT_CONNECTION */
	const struct srt_sandbox_info *sandbox;  /* SANDBOX_START, SANDBOX_EXIT */
	const char *json;   /* the event as one JSON object, the schema of
			     * srt --events (docs/events.md), without newline */
};

typedef void (*srt_event_fn)(const struct srt_event *ev, void *data);

/* Call fn for every event from now on. *ret_token (may be NULL) names the
 * subscription for srt_runtime_unsubscribe. */
int srt_runtime_subscribe(srt_runtime *rt, srt_event_fn fn, void *data, uint64_t *ret_token);
int srt_runtime_unsubscribe(srt_runtime *rt, uint64_t token);

/* ---- Asking about undecided hosts ---------------------------------------- */

/* Called for a connection no rule decides (neither allowedDomains nor
 * deniedDomains matches), on a thread of the runtime's own (never one that
 * resolves names or serves other sandboxes; up to 64 calls at once, more
 * wait their turn); the connection waits for the answer (it may block, for
 * example to ask a person, up to the ask timeout: see
 * srt_runtime_set_ask_timeout). Return true to allow.
 * To deny with a reason the client sees (in the 403 body), write it to
 * reason (NUL-terminated, at most reason_size bytes). Not called when
 * deniedDomains matches. Answers are not remembered. */
typedef bool (*srt_ask_fn)(uint64_t sandbox_id, const char *host, uint16_t port,
			   char *reason, size_t reason_size, void *data);

/* Set (fn NULL: remove) the ask callback. */
void srt_runtime_set_ask(srt_runtime *rt, srt_ask_fn fn, void *data);

/* A question waiting for its answer: see srt_ask_async_fn. */
struct srt_ask_request;

/* The asynchronous form of srt_ask_fn, for answers that take a while (a
 * person): called for the same connections, on the runtime's own thread,
 * which serves every sandbox: it must return at once. The connection
 * waits for srt_ask_reply(req, ...), which may come from any thread, at
 * any time, also from inside the callback. A pending question holds no
 * thread. host is valid during the call only. */
typedef void (*srt_ask_async_fn)(struct srt_ask_request *req, uint64_t sandbox_id, const char *host,
				 uint16_t port, void *data);

/* Set (fn NULL: remove) an asynchronous ask callback. A runtime has one
 * ask callback: this replaces one set with srt_runtime_set_ask, and
 * srt_runtime_set_ask (also with NULL) replaces this one. Questions
 * already asked keep waiting for their answers. -EINVAL when rt is NULL. */
int srt_runtime_set_ask_async(srt_runtime *rt, srt_ask_async_fn fn, void *data);

/* Answer req: allow, or deny with reason (may be NULL; the client sees it
 * in the 403 body, as with srt_ask_fn). Call it exactly once for every
 * request, from any thread, also when the connection went away meanwhile
 * (the client left, the question timed out, the runtime was freed): the
 * answer is then dropped. It frees req. -EINVAL when req is NULL. */
int srt_ask_reply(struct srt_ask_request *req, bool allow, const char *reason);

/* How long a question (either callback) may wait for its answer, in
 * milliseconds, 1 to 604800000 (a week; -EINVAL otherwise or when rt is
 * NULL); 60000 until set. Past it the connection is denied with rule
 * "asked: no answer in time"; a late answer is dropped. Applies to
 * questions asked after the call. */
int srt_runtime_set_ask_timeout(srt_runtime *rt, unsigned timeout_ms);

#ifdef __cplusplus
}
#endif

#endif
