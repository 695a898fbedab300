/* The syscall broker: one thread per sandbox that serves the seccomp
 * user-notification listener srt-init hands over, answers each trapped call,
 * and passes what it learned to the event loop.
 *
 * Why a thread of its own: a trapped call waits until it is answered, so
 * the answer must not queue behind the proxies' work on the event loop,
 * and the kernel's synchronous wake-up (SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP)
 * only pays when the thread that answers is the one waiting on the
 * listener itself, not an epoll set. See docs/internals/linux-sandbox.md,
 * "The broker". */
#ifndef SRT_LINUX_BROKER_H
#define SRT_LINUX_BROKER_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <uv.h>

struct broker;

/* One trapped call, as the kernel reported it. */
struct broker_notif {
	uint64_t id;
	pid_t pid;         /* the calling thread, in the supervisor's pid namespace; 0: unknown */
	int nr;
	uint32_t arch;
	uint64_t args[6];
};

/* How to answer it. The zero value is CONTINUE: the kernel carries on with
 * the call as the caller made it. That is only right where nothing the
 * caller can still change (its memory, the file system) decides the
 * answer; see docs/internals/linux-sandbox.md, "The write guard". */
struct broker_reply {
	int error;         /* > 0: fail the call with this errno */
	bool value;        /* true: the call returns val (it was carried out by the supervisor) */
	int64_t val;
	bool sent;         /* answered already (broker_addfd): nothing more to send */
};

/* Called on the broker's thread for every trapped call; fills *reply
 * (zeroed before). Must not block for long: the caller waits. */
typedef void (*broker_handle_fn)(void *data, struct broker *b, const struct broker_notif *n,
				 struct broker_reply *reply);

/* A report for the event loop: embed this first in a struct of yours,
 * allocated on the broker's thread and handed over with broker_post. */
struct broker_item {
	struct broker_item *next;
};

/* Called on the loop's thread with each posted item, in order; it owns the
 * item from then on. */
typedef void (*broker_deliver_fn)(void *data, struct broker_item *item);

/* Serve notif_fd (owned from now on, also on error) on a new thread.
 * Returns 0 or a negative errno. Must be called on the loop's thread. */
int broker_new(uv_loop_t *loop, int notif_fd, broker_handle_fn handle, broker_deliver_fn deliver, void *data,
	       struct broker **ret);

/* From the broker's thread (the handle callback): queue item for deliver
 * on the loop's thread. */
void broker_post(struct broker *b, struct broker_item *item);

/* From the handle callback: is the call still waiting for its answer? What
 * was read from the caller (its memory, /proc/PID/...) is the caller's
 * only if so: otherwise its pid may be another process's by now. */
bool broker_id_valid(struct broker *b, uint64_t id);

/* From the handle callback: install fd (the broker's, still its own
 * afterwards) in the caller as the result of its call, which this answers
 * at once: the caller's call returns the new descriptor's number,
 * close-on-exec when cloexec. Returns that number, or a negative errno
 * (then the call may not be answered yet; set reply->error). Set
 * reply->sent after a success.
 * Atomically (SECCOMP_ADDFD_FLAG_SEND, Linux 5.14), unless
 * broker_set_killable said so: then the descriptor, then the answer. */
int broker_addfd(struct broker *b, uint64_t id, int fd, bool cloexec);

/* The filter was loaded with SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV (Linux
 * 5.19): a caller whose call we received leaves it only by dying, so a
 * descriptor installed before the answer can never be left behind in a
 * process that goes on (a signal handler's interruption would otherwise
 * restart the call and keep the first descriptor). */
void broker_set_killable(struct broker *b);

/* The listener, for a thread that answers a call later (it dups it: the
 * broker may be gone by then). */
int broker_listener(struct broker *b);

/* Stop the thread and wait for it, deliver what it posted, close the
 * listener; the broker frees itself once the loop has run the close
 * callbacks. On the loop's thread; NULL is ignored. Once the listener is
 * closed, the kernel fails every trapped call with ENOSYS: close it when
 * the sandbox has ended. */
void broker_close(struct broker *b);

#endif
