/* The seccomp filter of the sandbox: built by the supervisor with libseccomp,
 * loaded by srt-init into itself before it starts the command. */
#ifndef SRT_LINUX_SECCOMP_H
#define SRT_LINUX_SECCOMP_H

#include <stdbool.h>
#include <stddef.h>

struct sandbox_seccomp_options {
	bool allow_unix_sockets;     /* network.allowAllUnixSockets */
	bool allow_nested_userns;    /* allowNestedUserNamespaces */
};

/* Build the filter and write it as classic BPF (struct sock_filter
 * records, as PR_SET_SECCOMP takes them) into a new sealed memfd, returned
 * in *ret_fd. Returns 0, or a negative errno with a message in errbuf.
 * Every rule is required: a rule that cannot be added is an error, never
 * a gap. Built in srt while bwrap sets up the namespaces, so that srt-init
 * only loads it and needs no libseccomp. */
int sandbox_seccomp_export(const struct sandbox_seccomp_options *opts, int *ret_fd, char *errbuf, size_t errlen);

#endif
