/* The seccomp filter srt-init applies to itself before it starts the command. */
#ifndef SRT_LINUX_SECCOMP_H
#define SRT_LINUX_SECCOMP_H

#include <stdbool.h>
#include <stddef.h>

struct sandbox_seccomp_options {
	bool allow_unix_sockets;     /* network.allowAllUnixSockets */
	bool allow_nested_userns;    /* allowNestedUserNamespaces */
};

/* Load the filter into the calling process (it needs no_new_privs set).
 * Returns 0, or a negative errno with a message in errbuf. Every rule is
 * required: a rule that cannot be added is an error, never a gap. */
int sandbox_seccomp_apply(const struct sandbox_seccomp_options *opts, char *errbuf, size_t errlen);

#endif
