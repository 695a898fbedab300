/* The connect broker: on the broker's thread, every connect() of the
 * sandbox, and every send that can carry an address (sendto with one,
 * sendmsg, sendmmsg), is carried out by the supervisor on the caller's own
 * socket, after the address was copied once and judged.
 *
 * Why the supervisor makes the call instead of answering CONTINUE: the
 * kernel would read the address from the caller's memory again, and the
 * descriptor number again, after the check; the caller's other threads can
 * change either in between (a socket swapped in with dup2, a path turned
 * into another). What is judged here is the socket itself (a duplicate of
 * the caller's, pidfd_getfd) and the copied address; for a unix socket
 * path, the socket file resolved once in the caller's view and then named
 * by its descriptor (/proc/self/fd/N), so a link swapped in during the
 * call leads nowhere new.
 *
 * Rules for unix sockets by path (network.allowUnixSockets, UnixSocket(...)
 * permissions): a socket bound inside this sandbox (listed in its own
 * network namespace) or whose resolved path an entry matches may be
 * reached; any other gets EACCES and a report. Abstract and unnamed
 * sockets are the sandbox's own network namespace's, and pass. Other
 * families are carried out as asked: the sandbox's network namespace has
 * loopback only, so it decides, and the observer reports. See
 * docs/internals/linux-sandbox.md, "The connect broker". */
#ifndef SRT_LINUX_NETBROKER_H
#define SRT_LINUX_NETBROKER_H

#include <limits.h>
#include <stdbool.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "linux/broker.h"
#include "linux/observer.h"
#include "policy/policy.h"

struct nbroker;
struct nbroker_direct;

struct nbroker_options {
	const struct policy *policy; /* the sandbox's, unchanged while it runs */
	/* A NETLINK_SOCK_DIAG socket made in the sandbox's network namespace
	 * (owned from now on, also on error), to tell the sockets bound in
	 * the sandbox; -1: none, then only the allowed paths are reached. */
	int diag_fd;
	/* The private /tmp is an overlay: mount id tmp_overlay_mnt, device
	 * tmp_overlay_dev. The kernel names a socket bound there by that
	 * device; stat() shows its file with a device of the layer's. */
	bool tmp_overlay;
	dev_t tmp_overlay_dev;
	uint64_t tmp_overlay_mnt;
	dev_t tmp_upper_dev;     /* what stat() shows for a file of the upper layer: a socket
				  * bound in the sandbox is there, never beneath */
	const struct policy_unix_rules *extra; /* this sandbox's own entries (the library's);
						* NULL: none. Must outlive the broker. */
	/* Transparent network mode: a connect() of a TCP socket to an
	 * address outside the sandbox's loopback is handed to direct (on the
	 * broker's thread; it must not block), which answers the call later
	 * with nbroker_direct_finish. NULL: carried out in the sandbox's
	 * network namespace, as in proxy mode. */
	void (*direct)(void *data, struct nbroker_direct *req);
	void *direct_data;
	bool unix_all;            /* network.allowAllUnixSockets: no unix socket path is judged */
};

/* A connect() for the transparent mode, answered on another thread. */
struct nbroker_direct {
	uint64_t id;               /* the notification */
	pid_t tid;                 /* the caller */
	int listener;              /* ours (a duplicate): answer through it */
	int caller_fd;             /* the caller's socket's number */
	bool cloexec;              /* ... and whether it is close-on-exec */
	int sock;                  /* ours: the caller's socket (its options, its flags) */
	bool nonblocking;          /* it is non-blocking: answer EINPROGRESS once the dial is under way */
	int family;                /* its family: AF_INET or AF_INET6 */
	struct sockaddr_storage addr; /* where it connects */
	socklen_t addr_len;
};

/* Answer req (and free it): with fd (ours, closed here; -1: none) put in
 * place of the caller's socket, carrying over its file status flags and
 * the options it set, and err (0, or EINPROGRESS for a dial under way); or
 * with err alone. Returns 0, or a negative errno
 * when the caller was gone (nothing happened then). */
int nbroker_direct_finish(struct nbroker_direct *req, int fd, int err);
void nbroker_direct_free(struct nbroker_direct *req);

/* Can this kernel run it: pidfd_getfd (Linux 5.6), besides the observer's
 * user notification? */
bool nbroker_supported(void);

/* Returns 0 or a negative errno. */
int nbroker_new(const struct nbroker_options *o, struct nbroker **ret);
void nbroker_free(struct nbroker *nb);

/* What the broker did with one call, for the report. */
struct nbroker_result {
	bool handled;              /* the broker answered the call */
	int error;                 /* the errno it got; 0: it succeeded */
	bool unix_path;            /* the call named a unix socket by path: path is set */
	bool refused;              /* the rules refused it (rule says why) */
	const char *rule;
	const char *syscall;
	enum observed_op op;       /* OBS_CONNECT or OBS_SEND */
	char path[PATH_MAX];       /* unix_path: the socket as the sandbox sees it (links resolved) */
	/* An address of another family the call was carried out with (for
	 * the observer's report of a direct connection); family AF_UNSPEC
	 * when none. */
	struct sockaddr_storage addr;
	socklen_t addr_len;
};

/* Is this trapped call the connect broker's? */
bool nbroker_wants(const struct observer_syscall *e);

/* Carry out the call (on the broker's thread). Fills *res. */
void nbroker_handle(struct nbroker *nb, struct broker *b, const struct broker_notif *n,
		    const struct observer_syscall *e, struct broker_reply *reply, struct nbroker_result *res);

/* ---- Exposed for the unit test and the fuzzer ------------------------------ */

/* What a unix socket address (as connect() or sendto() got it, len bytes)
 * names. */
enum nbroker_unix_addr {
	NB_UNIX_INVALID,    /* too short or too long: refused (EINVAL) without the kernel */
	NB_UNIX_OTHER_FAMILY, /* not AF_UNIX (AF_UNSPEC dissolves a datagram socket's peer):
			       * the kernel never looks a path up for it */
	NB_UNIX_UNNAMED,    /* only the family: autobind / unnamed */
	NB_UNIX_ABSTRACT,   /* sun_path[0] == 0: the network namespace's own */
	NB_UNIX_PATH,       /* a path, copied NUL-terminated into path */
};

/* Decode a unix socket address. path must hold sizeof(sun_path) + 1
 * bytes; filled for NB_UNIX_PATH. */
enum nbroker_unix_addr nbroker_decode_unix(const void *addr, size_t len, char *path, size_t path_size);

#endif
