/* srt --control-fd N: new settings, one JSON object per line, read on the loop while the command runs. */
#ifndef SRT_CLI_CONTROL_H
#define SRT_CLI_CONTROL_H

#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

#include "runtime.h"

/* The longest line taken, in bytes; a longer one is reported and skipped. */
#define CONTROL_LINE_MAX (1024u * 1024u)

/* --control-fd's argument: a descriptor number (decimal digits only), 3 or
 * more, open for reading, not a folder. Marks it close-on-exec (nothing
 * srt starts inherits it). Returns 0 with *ret_fd, or -1 with a message
 * (no "srt: " prefix) in msg. */
int control_fd_parse(const char *arg, int *ret_fd, char *msg, size_t msg_size);

struct control;

/* Read fd on rt's loop (without keeping the loop alive: the command's end
 * ends srt) and apply each line: the line is a whole settings object read
 * in place of the settings file of base (base->path), with the project
 * file (when one was used at the start) and base->extra on top, exactly as
 * at the start; it must leave every setting that cannot change while the
 * command runs as it is (see control.c), and then replaces rt's settings
 * for what is decided from now on (runtime_replace_settings_from: new
 * connections, DNS answers). A line that cannot be applied is reported on
 * stderr and as a config.rejected event; the settings in force stay.
 * The descriptor is read without changing its flags (no O_NONBLOCK on
 * what the caller shares). base is copied; its strings must outlive c. */
int control_start(uv_loop_t *loop, struct runtime *rt, int fd, const struct settings_source *base, bool debug,
		  struct control **ret, struct srt_error *err);
/* Stop reading; c is freed once the loop has run its close callbacks. */
void control_stop(struct control *c);

/* The first setting that differs between old and new among those that
 * cannot change while the command runs (the mounts, the seccomp filter,
 * the listeners and the proxies' timeouts are made once): its key, or
 * NULL when they all agree. Exposed for the unit tests. */
const char *control_fixed_key_changed(const struct config *old, const struct config *new);

/* The same for the sections read when the sandbox starts whose fields are
 * compared as JSON, in the settings file's text (start) and a line's
 * (line): credentials, network.tlsTerminate, network.parentProxy,
 * network.mitmProxy, without what may change (tlsTerminate.excludeDomains,
 * the injectHosts of each credential). An absent section differs from a
 * present one. Its key, or NULL. NULL start or line: {}. */
const char *control_json_key_changed(const char *start, size_t start_len, const char *line, size_t line_len);

#endif
