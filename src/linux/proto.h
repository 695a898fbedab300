/* The tiny message format spoken between the supervisor and srt-init over a socketpair. */
#ifndef SRT_LINUX_PROTO_H
#define SRT_LINUX_PROTO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/*
 * The socketpair is SOCK_SEQPACKET, so one send is one message:
 *
 *   message := type:u32 length:u32 payload[length]     (native byte order)
 *   length  <= PROTO_MAX_PAYLOAD
 *
 * File descriptors travel as SCM_RIGHTS with the message (at most
 * PROTO_MAX_FDS). The supervisor sets SO_PASSCRED on its end, so the kernel
 * attaches the sender's pid translated into the supervisor's pid namespace:
 * srt-init cannot lie about who it is.
 */
#define PROTO_MAX_PAYLOAD 4096u
#define PROTO_MAX_FDS 8u

/* PROTO_HELLO's flags. */
#define PROTO_HELLO_KILLABLE 1u /* the notify filter waits killably (WAIT_KILLABLE_RECV) */
/* Which descriptors come, in this order: */
#define PROTO_HELLO_LISTENER 2u /* the notify filter's listener */
#define PROTO_HELLO_DIAG 4u     /* a NETLINK_SOCK_DIAG socket of the sandbox's network namespace */
#define PROTO_HELLO_TMP_OVERLAY 16u /* words 1-6: the private /tmp overlay's device (major, minor),
				     * its mount id (low, high), and the device its upper layer's
				     * files show (major, minor) */
#define PROTO_HELLO_PIDFD 8u    /* srt-init's own pidfd: its pid when the credentials cannot tell
				 * (an srt outside this one carried the message out for it) */

enum proto_type {
	PROTO_HELLO = 1, /* init -> supervisor: filters applied, the command starts; payload one
			  * u32 of PROTO_HELLO_* flags, which also say which fds come: the
			  * observer's listener when its notify filter is loaded (none: no
			  * observer, e.g. an old kernel or a listener above us), a sock_diag
			  * socket, srt-init's pidfd */
	/* 2: unused (once GO; srt-init now starts the command after HELLO) */
	PROTO_PLAN = 3,  /* supervisor -> init: the mount plan and the seccomp filter, two memfds,
			  * and a third, the observer's notify filter, when the observer is on.
			  * payload: empty, or one u32 of PROTO_PLAN_* flags */
	PROTO_EXIT = 5,  /* init -> supervisor, when the command has ended, just before srt-init
			  * exits: payload one i32, the status srt-init exits with, then the
			  * private /tmp's report (MOUNT_TMP_REPORT_HEAD, linux/mountplan.h) */
	PROTO_ATTACH = 6, /* launcher -> library runtime: payload the one-time token (hex text) */
	PROTO_LAUNCH = 7, /* library runtime -> launcher: srt-init (O_RDONLY), bwrap's --args memfd,
			   * and a memfd of bwrap's command line (NUL-separated, argv[0] its path) */
	PROTO_LISTEN = 4, /* init -> supervisor, before HELLO: listening sockets made inside the
			   * sandbox; payload: one u32 per fd, the index of its --listen address */
	PROTO_DNS = 8,    /* init -> supervisor, before HELLO (--dns): a UDP socket and a TCP
			   * socket of the sandbox's network namespace for 127.0.0.1:53; payload:
			   * one u32 per fd, 1 when srt-init bound it (and listens, for TCP), 0
			   * when it may not bind a port below 1024 (the supervisor binds it) */
};

/* PROTO_PLAN flags. Without a flags word, none is set. */
/* network.allowAllUnixSockets: when the notify filter cannot be loaded,
 * srt-init does not refuse socket(AF_UNIX) itself (see
 * sandbox_seccomp_options.observer_handles_unix). */
#define PROTO_PLAN_ALLOW_UNIX 1u
#define PROTO_PLAN_NEED_LISTENER 2u /* the write guard is on: no command without the notify listener */
/* network.tlsTerminate: the last fd is the trust bundle (a sealed memfd), which
 * srt-init writes read-only at /dev/.srt-ca-bundle.pem. */
#define PROTO_PLAN_CA_BUNDLE 4u

/* Send one message. Returns 0 or a negative errno. */
int proto_send(int sock, uint32_t type, const void *payload, uint32_t len,
	       const int *fds, size_t nfds);

/* Receive one message. payload must hold PROTO_MAX_PAYLOAD bytes; fds must
 * hold PROTO_MAX_FDS entries (received fds are O_CLOEXEC). ret_pid, when not
 * NULL, receives the sender's pid from SCM_CREDENTIALS (0 when absent).
 * Returns 0, -EPIPE at end of stream, -EBADMSG for a malformed message, or a
 * negative errno. Refuses (and closes) fds beyond PROTO_MAX_FDS. */
int proto_recv(int sock, uint32_t *ret_type, void *payload, uint32_t *ret_len,
	       int *fds, size_t *ret_nfds, pid_t *ret_pid);

#endif
