/* mount plan + launch options -> bubblewrap's argument list, passed through a memfd with --args. */
#ifndef SRT_LINUX_BWRAP_H
#define SRT_LINUX_BWRAP_H

#include <stdbool.h>

#include "linux/mountplan.h"

struct bwrap_launch {
	/* The fd numbers as bwrap will have them (the caller moves them there). */
	int init_fd;                 /* srt-init: executed as /proc/self/fd/N */
	int sock_fd;                 /* srt-init's end of the socketpair */
	int args_fd;                 /* bwrap's --args memfd */
	const char *cwd;
	bool shell;                  /* command[0] is a -c string */
	unsigned long ignore_mask;   /* signals the command starts with ignored */
	char *const *command;
	/* Addresses srt-init listens on inside the sandbox, in order:
	 * "127.0.0.1:3128", "[::1]:5432" (see PROTO_LISTEN). */
	char *const *listen;
	size_t n_listen;
	bool dns;                    /* network.mode transparent: srt-init's --dns (PROTO_DNS) */
	const char *helper;          /* srt-init's path, exposed as /dev/.srt-connect; or NULL */
	/* The caller's changes to the command's environment, made by srt-init
	 * in the command's process just before it executes (srt-init's
	 * --clearenv, --env), never to a process on the host side or to
	 * srt-init: "NAME=VALUE" sets, "NAME" removes; clearenv first empties
	 * it. Then setenv, the same way. */
	const char *const *env_edits;
	bool clearenv;
	char *const *setenv;         /* NAME, VALUE, NAME, VALUE, ..., NULL: the command's environment */
	/* credentials.envVars: names bwrap takes out of the environment it
	 * hands srt-init (--unsetenv), so that not even srt-init holds a real
	 * value; and names srt-init removes from the command's (after
	 * env_edits). NULL-terminated, or NULL. */
	const char *const *strip_env;
	const char *const *unset_env;
};

/* Find bwrap: the configured path, else "bwrap" in PATH, else /usr/bin/bwrap.
 * Fails with an error that says how to install it. *ret is malloc'd. */
int bwrap_find(const char *configured, char **ret, struct srt_error *err);

/* Files the sandbox reads with other content (masked credentials): srt-init
 * covers each path, read-only, with data, after every other mount. */
struct bwrap_cover {
	const char *path;
	const char *data;
	size_t len;
};

/* Serialize the plan's operations for srt-init into a new memfd
 * (close-on-exec; the grammar is in init.c). */
int bwrap_write_plan(const struct mount_plan *plan, int *ret_fd, struct srt_error *err);
/* The same, with covers (n may be 0). */
int bwrap_write_plan_covers(const struct mount_plan *plan, const struct bwrap_cover *covers, size_t n,
			    int *ret_fd, struct srt_error *err);

/* Write bwrap's options (NUL-separated, for --args) into a new memfd and
 * return it rewound in *ret_fd (close-on-exec: the child clears that). The
 * command part (which bwrap wants on its real command line: "--", srt-init
 * and its arguments, the user's command) is appended to tail. */
int bwrap_write_args(const struct mount_plan *plan, const struct bwrap_launch *l,
		     int *ret_fd, struct strv *tail, struct srt_error *err);

/* Why bwrap could not build the sandbox, when we can tell (static text),
 * or NULL: the kernel's settings, or, when srt itself runs in an srt
 * sandbox, what stops a nested one and which setting lifts it. host_proc:
 * the failed sandbox was to bind the host's /proc (enableWeakerNestedSandbox)
 * rather than mount a fresh one. Forks a short-lived child to test. */
const char *bwrap_userns_hint(bool host_proc);

#endif
