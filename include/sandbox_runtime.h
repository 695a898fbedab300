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
 * ABI (the openat2/clone3 model): every struct the caller allocates starts
 * with size_t size, which the caller sets to sizeof the struct as its
 * header knows it ({ .size = sizeof(o) }). The library reads exactly that
 * many bytes: a size below the struct's SRT_..._SIZE_VER0 (0 above all) is
 * -EINVAL; a smaller size than the library's (a program built against an
 * older header) leaves the missing fields at their defaults (every field's
 * default is its zero value); a larger one (a newer header than the
 * library) is accepted when the bytes the library does not know are all
 * zero, and is -E2BIG otherwise. A struct the library fills
 * (srt_platform_info) is written up to its size, no further. Structs the
 * library allocates (srt_result, srt_event, srt_violation,
 * srt_violation_list, srt_connection, srt_sandbox_info) only ever grow at
 * their end; srt_result, srt_event and srt_violation carry their size so
 * that a program can tell which fields are there, and violation lists are
 * walked with srt_violation_at, never v[i]. (For maintainers: a field is
 * added at the end only, starting at or past the struct's previous sizeof,
 * so that a grown struct always has a larger size.) The soname is
 * libsandbox_runtime.so.1 since these sizes were added.
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

/* The smallest size each struct accepts: size and its first member. Every
 * later member defaults to zero when a shorter struct leaves it out. */
#define SRT_PLATFORM_INFO_SIZE_VER0 (sizeof(size_t) + 16)
#define SRT_CONFIG_SIZE_VER0 (sizeof(size_t) + sizeof(void *))
#define SRT_RUNTIME_OPTIONS_SIZE_VER0 (2 * sizeof(size_t))
#define SRT_SANDBOX_OPTIONS_SIZE_VER0 (sizeof(size_t) + sizeof(void *))
#define SRT_EXECUTE_OPTIONS_SIZE_VER0 (sizeof(size_t) + sizeof(void *))

struct srt_platform_info {
	size_t size;                /* set by the caller: sizeof(struct srt_platform_info) */
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

/* Fill *out, at most out->size bytes of it (bytes past the library's own
 * struct are zeroed), and set out->size to the number of bytes filled.
 * Returns 0 (the answer is in out->supported), or -EINVAL when out is NULL
 * or out->size is below SRT_PLATFORM_INFO_SIZE_VER0. Runs bwrap --version
 * once. */
int srt_platform_info(struct srt_platform_info *out);

/* ---- Settings built in code --------------------------------------------- */

/* The fields of the srt settings format (docs/settings.md), for a program
 * that builds its settings rather than reading them. Lists are
 * NULL-terminated arrays of strings, NULL for none. Zero-initialise and set
 * what you need, size included. Errors name the field, as
 * "<config>: filesystem.allowWrite[2]". */
enum srt_network_mode {
	SRT_NETWORK_PROXY = 0,       /* "proxy": out through srt's proxies only */
	SRT_NETWORK_TRANSPARENT = 1, /* "transparent": also by the names srt's DNS
				      * responder inside the sandbox hands out */
};

struct srt_config {
	size_t size;                         /* sizeof(struct srt_config) */
	const char *const *deny_read;        /* filesystem.denyRead */
	const char *const *allow_read;       /* filesystem.allowRead */
	const char *const *allow_write;      /* filesystem.allowWrite */
	const char *const *deny_write;       /* filesystem.denyWrite */
	const char *const *allowed_domains;  /* network.allowedDomains */
	const char *const *denied_domains;   /* network.deniedDomains */
	bool allow_all_unix_sockets;         /* network.allowAllUnixSockets */
	bool allow_local_binding;            /* network.allowLocalBinding */
	bool allow_git_config;               /* filesystem.allowGitConfig */
	const char *const *allow_unix_sockets; /* network.allowUnixSockets */
	enum srt_network_mode network_mode;  /* network.mode */
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
	size_t size;             /* sizeof(struct srt_runtime_options) */
	size_t max_violations;   /* the store keeps the newest N; 0: 1000 */
	enum srt_observe observe;
	const char *home;        /* for "~" in settings, absolute; NULL: $HOME */
	const char *cwd;         /* for relative paths in settings and the
				  * sandboxes' default folder: an absolute path
				  * to a folder; NULL: getcwd() */
};

/* Create a runtime from a settings file (either format), from settings
 * text (name is used in messages, "<json>" when NULL), or from a struct.
 * opts may be NULL (the defaults). Nothing runs yet. On success *ret is
 * the caller's; free with srt_runtime_free. -EINVAL or -E2BIG for a bad
 * size of opts or cfg (see ABI above). */
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
 * the sandbox's own extra entries), each new request injects masked
 * credentials by the new injectHosts (the stand-ins stay; a credential the
 * new settings no longer mask, or deny, is injected nowhere), and the new
 * ignoreViolations apply to reports; everything else stays as the sandbox
 * started: mounts, seccomp
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
	size_t size;              /* sizeof(struct srt_sandbox_options) */
	/* Extra allowedDomains entries for this sandbox only, on top of the
	 * runtime's settings (its deniedDomains still win). NULL-terminated. */
	const char *const *allowed_domains;
	const char *cwd;          /* the command's folder, an absolute path that
				   * must exist when the call is made (-EINVAL,
				   * -ENOENT, -ENOTDIR); NULL: the runtime's */
	/* Extra allowUnixSockets entries (absolute paths, globs, a folder
	 * and slash-star-star for every socket below it) for this sandbox
	 * only, on top of the runtime's settings. NULL-terminated. */
	const char *const *allow_unix_sockets;
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
 * from another thread. -EINVAL or -E2BIG for a bad o->size. */
int srt_runtime_wrap(srt_runtime *rt, const char *const *argv, const struct srt_sandbox_options *o,
		     char ***ret_argv, uint64_t *ret_id, struct srt_error *err);
int srt_runtime_wrap_shell(srt_runtime *rt, const char *command, const struct srt_sandbox_options *o,
			   char ***ret_argv, uint64_t *ret_id, struct srt_error *err);
void srt_argv_free(char **argv);

/* ---- Executing: the runtime runs the command and waits ------------------- */

/* A cancel handle for executions, usable from any thread. */
struct srt_execution;

/* A new handle (NULL when out of memory). One handle may serve any number
 * of executions, at once or one after the other: cancelling it cancels
 * every one of them, running or yet to start. */
struct srt_execution *srt_execution_new(void);

/* Cancel: every execution using the handle has its sandbox killed (all of
 * its processes) and returns 0 with result->canceled set and the output
 * captured so far; an execution started with it later fails at once
 * without running anything (see srt_runtime_execute). Safe from any thread
 * and from a signal handler (it only writes to an eventfd); cancelling
 * twice is harmless. -EINVAL when e is NULL. */
int srt_execution_cancel(struct srt_execution *e);

/* Free the handle. NULL is a no-op. Not while an execution uses it. */
void srt_execution_free(struct srt_execution *e);

/* Where the command's standard input comes from. */
enum srt_stdin_kind {
	SRT_STDIN_NULL = 0,   /* /dev/null (the default) */
	SRT_STDIN_BYTES = 1,  /* stdin_data, stdin_len bytes, then end of file */
	SRT_STDIN_FD = 2,     /* stdin_fd, the caller's descriptor (not closed) */
};

struct srt_execute_options {
	size_t size;          /* sizeof(struct srt_execute_options) */
	/* The sandbox: extra allowed domains, folder (NULL: defaults). The
	 * same struct wrap takes, with its own size. */
	const struct srt_sandbox_options *sandbox;
	enum srt_stdin_kind stdin_kind;
	const void *stdin_data;   /* SRT_STDIN_BYTES: copied in as it is written,
				   * never deadlocking against the output */
	size_t stdin_len;
	int stdin_fd;             /* SRT_STDIN_FD: >= 0 */
	/* Environment changes, NULL-terminated: "NAME=VALUE" sets NAME,
	 * "NAME" (no '=') removes it. Applied in order to the program's
	 * environment, or to an empty one with env_replace. The sandbox's own
	 * variables (HTTP_PROXY and the other proxy settings, NO_PROXY,
	 * SANDBOX_RUNTIME) are set after these and win. The changes are made
	 * inside the sandbox only: the processes the library runs on the host
	 * side (its launcher, bwrap) keep the program's environment, so that
	 * no entry (LD_PRELOAD=...) acts outside the sandbox. */
	const char *const *env;
	bool env_replace;
	/* Kill the whole sandbox after this many milliseconds (0: never);
	 * the result says timed_out, with status 124, as timeout(1), and
	 * when the call returns no process of the sandbox is left. */
	uint64_t timeout_ms;
	/* Keep at most this many bytes of stdout, and of stderr (0: 64 MiB);
	 * the rest is read and discarded, and the result says truncated. */
	size_t max_output;
	struct srt_execution *cancel;   /* NULL: not cancellable */
};

/* What an execution gave. Allocated by the library, freed with
 * srt_result_free; it only ever grows at its end, and size says how far
 * (sizeof of the library's struct). */
struct srt_result {
	size_t size;
	int status;          /* as srt(1): the command's, 128+N for signal N, 126/127;
			      * 124 when timed out, 137 when canceled */
	char *out;           /* captured stdout, NUL-terminated (binary safe with out_len) */
	size_t out_len;
	char *err;           /* captured stderr */
	size_t err_len;
	uint64_t sandbox_id;
	bool timed_out;      /* timeout_ms passed: the sandbox was killed */
	bool canceled;       /* srt_execution_cancel: the sandbox was killed */
	bool out_truncated;  /* stdout was longer than max_output */
	bool err_truncated;
};

/* Run a command in a sandbox (argv: NULL-terminated; shell: one string run
 * with bash -c, or sh), wait for it and capture its output; o may be NULL
 * (the defaults: stdin from /dev/null, the program's environment, no
 * timeout, 64 MiB of each output). *ret is set to NULL first, and on
 * success to a result that is the caller's: free with srt_result_free.
 * Returns 0 when the command ran, whatever its status, also when it timed
 * out or was canceled (see the flags); a negative errno when no sandbox
 * could be started (a command folder that does not exist is -ENOENT, not
 * status 125); -EINVAL for a bad option (the message names it: stdin_kind,
 * stdin_fd, env[i], a bad size), -E2BIG for a size larger than the
 * library's with non-zero bytes past it, -EBADF when stdin_fd is not open;
 * -ECANCELED when the cancel handle was cancelled before the call (nothing
 * ran) or when srt_runtime_free ended the sandbox while it ran (no result
 * then); -EDEADLK on the runtime's own thread (in an event callback: the
 * sandbox could never start; call it from another thread). The sandbox
 * gets default signal actions and no blocked signal, whatever the program
 * ignores or blocks. A program that ignores SIGCHLD or reaps every child
 * itself gets the status the sandbox's init reported (-ECHILD when there
 * is none). */
int srt_runtime_execute(srt_runtime *rt, const char *const *argv, const struct srt_execute_options *o,
			struct srt_result **ret, struct srt_error *err);
int srt_runtime_execute_shell(srt_runtime *rt, const char *command, const struct srt_execute_options *o,
			      struct srt_result **ret, struct srt_error *err);
/* NULL is a no-op. */
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

/* Allocated by the library (in an event, or a list); grows at its end only. */
struct srt_violation {
	size_t size;                   /* sizeof of the library's struct: the fields
					* past it do not exist */
	uint64_t seq;                  /* 1, 2, ... in the order they were recorded */
	int64_t time_ns;               /* CLOCK_REALTIME */
	enum srt_violation_kind kind;
	const char *operation;         /* "read" "write" "create" "unlink" "rename" "exec"
					* "connect" "socket" "credential" ... */
	const char *target;            /* absolute path, or "host:port" */
	const char *rule;              /* what decided, with its settings position */
	uint64_t sandbox_id;
	const char *command;           /* the sandbox's command, as text */
	int pid;                       /* the process, in the host's pid namespace (0: unknown) */
	enum srt_violation_source source;
};

struct srt_violation_list {
	/* The violations, oldest first, stride bytes apart: walk them with
	 * srt_violation_at(l, i), never v[i] (a later library's element may
	 * be larger than the struct srt_violation a program was built with). */
	const struct srt_violation *v;
	size_t n;
	size_t stride;
	uint64_t dropped;              /* recorded but pushed out of the store */
};

/* The i-th violation of l, oldest first; NULL when l is NULL or i >= l->n. */
const struct srt_violation *srt_violation_at(const struct srt_violation_list *l, size_t i);

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
	SRT_EVENT_CONFIG_REJECTED = 6, /* srt --control-fd: a line was refused */
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

/* Where new settings came from, and why they were refused. */
struct srt_config_change {
	const char *source;            /* "control fd 3 line 2", a file, a reload's name; NULL: unknown */
	const char *error;             /* CONFIG_REJECTED: the message srt printed; else NULL */
};

struct srt_sandbox_info {
	uint64_t id;
	const char *command;
	int pid;                       /* srt-init's pid on the host, 0 before it is known */
	int status;                    /* SANDBOX_EXIT: as srt(1); -1 when unknown */
	int64_t duration_ns;           /* SANDBOX_EXIT */
};

/* Allocated by the library, valid during the callback; grows at its end
 * only, as do srt_connection and srt_sandbox_info. */
struct srt_event {
	size_t size;                   /* sizeof of the library's struct */
	enum srt_event_type type;
	int64_t time_ns;
	const struct srt_violation *violation;   /* SRT_EVENT_VIOLATION */
	const struct srt_connection *connection; /* SRT_EVENT_CONNECTION */
	const struct srt_sandbox_info *sandbox;  /* SANDBOX_START, SANDBOX_EXIT */
	const char *json;   /* the event as one JSON object, the schema of
			     * srt --events (docs/events.md), without newline */
	const struct srt_config_change *config;  /* CONFIG_RELOADED, CONFIG_REJECTED */
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
