/* The seccomp filter of the sandbox: built by the supervisor with libseccomp,
 * loaded by srt-init into itself before it starts the command. */
#ifndef SRT_LINUX_SECCOMP_H
#define SRT_LINUX_SECCOMP_H

#include <stdbool.h>
#include <stddef.h>

struct sandbox_seccomp_options {
	bool allow_unix_sockets;     /* network.allowAllUnixSockets */
	bool allow_nested_userns;    /* allowNestedUserNamespaces */
	/* The observer's notify filter traps socket(AF_UNIX) and always
	 * refuses it: leave the AF_UNIX rule out here, or its ERRNO would
	 * hide the call from the observer (ERRNO takes precedence over
	 * USER_NOTIF). Only with a notify filter built with
	 * deny_unix_sockets; srt-init refuses AF_UNIX itself when that
	 * filter cannot be loaded. */
	bool observer_handles_unix;
};

/* Build the filter and write it as classic BPF (struct sock_filter
 * records, as PR_SET_SECCOMP takes them) into a new sealed memfd, returned
 * in *ret_fd. Returns 0, or a negative errno with a message in errbuf.
 * Every rule is required: a rule that cannot be added is an error, never
 * a gap. Built in srt while bwrap sets up the namespaces, so that srt-init
 * only loads it and needs no libseccomp. */
int sandbox_seccomp_export(const struct sandbox_seccomp_options *opts, int *ret_fd, char *errbuf, size_t errlen);

#endif
