/* The syscall broker: a thread that serves a sandbox's seccomp notification listener and hands reports to the event loop. */
#include "linux/broker.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef SECCOMP_IOCTL_NOTIF_SET_FLAGS
#define SECCOMP_IOCTL_NOTIF_SET_FLAGS SECCOMP_IOW(4, __u64)
#endif
#ifndef SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP
#define SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP (1UL << 0)
#endif
#ifndef SECCOMP_ADDFD_FLAG_SEND
#define SECCOMP_ADDFD_FLAG_SEND (1UL << 1)
#endif

struct broker {
	int fd;                 /* the listener */
	int stop_fd;            /* eventfd: written to stop the thread */
	pthread_t thread;
	bool thread_started;
	broker_handle_fn handle;
	broker_deliver_fn deliver;
	void *data;
	uv_async_t async;
	pthread_mutex_t lock;   /* guards the queue */
	struct broker_item *head, *tail;
	struct seccomp_notif *req; /* the thread's own */
	size_t req_size;
	struct seccomp_notif_resp *resp;
	size_t resp_size;
	bool killable;          /* atomic: see broker_set_killable */
};

/* ---- The thread ------------------------------------------------------------ */

static void send_reply(struct broker *b, uint64_t id, const struct broker_reply *r)
{
	memset(b->resp, 0, b->resp_size);
	b->resp->id = id;
	if (r->error > 0)
		b->resp->error = -r->error;
	else if (r->value)
		b->resp->val = r->val;
	else
		b->resp->flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE;
	if (ioctl(b->fd, SECCOMP_IOCTL_NOTIF_SEND, b->resp) == 0)
		return;
	/* ENOENT: the caller is gone (killed, or its call interrupted).
	 * EINVAL on a CONTINUE: a kernel without it (observer_supported said
	 * no and we were started anyway): fail the call rather than leave it
	 * waiting for ever. */
	if (errno == EINVAL && r->error <= 0 && !r->value) {
		memset(b->resp, 0, b->resp_size);
		b->resp->id = id;
		b->resp->error = -ENOSYS;
		(void)ioctl(b->fd, SECCOMP_IOCTL_NOTIF_SEND, b->resp);
	}
}

static void serve_one(struct broker *b)
{
	memset(b->req, 0, b->req_size);
	if (ioctl(b->fd, SECCOMP_IOCTL_NOTIF_RECV, b->req) < 0)
		return; /* ENOENT: the caller was killed meanwhile; EINTR */
	const struct seccomp_notif *q = b->req;
	struct broker_notif n = {
		.id = q->id,
		.pid = (pid_t)q->pid,
		.nr = q->data.nr,
		.arch = q->data.arch,
	};
	for (int i = 0; i < 6; i++)
		n.args[i] = q->data.args[i];
	struct broker_reply r = { 0 };
	b->handle(b->data, b, &n, &r);
	if (!r.sent)
		send_reply(b, n.id, &r);
}

static void *broker_main(void *arg)
{
	struct broker *b = arg;
	/* poll() first, RECV then: RECV would block when nothing is pending
	 * whatever O_NONBLOCK says, with no way to stop it. poll() keeps the
	 * synchronous wake-up (the listener wakes its pollers on the caller's
	 * CPU); an epoll set would not. */
	struct pollfd p[2] = {
		{ .fd = b->fd, .events = POLLIN },
		{ .fd = b->stop_fd, .events = POLLIN },
	};
	for (;;) {
		int r = poll(p, 2, -1);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (p[1].revents)
			break;
		if (p[0].revents & POLLIN)
			serve_one(b);
		else if (p[0].revents & (POLLHUP | POLLERR | POLLNVAL))
			break; /* no process uses the filter any more */
	}
	return NULL;
}

/* ---- The loop's side ------------------------------------------------------- */

static struct broker_item *take_all(struct broker *b)
{
	pthread_mutex_lock(&b->lock);
	struct broker_item *list = b->head;
	b->head = b->tail = NULL;
	pthread_mutex_unlock(&b->lock);
	return list;
}

static void deliver_all(struct broker *b)
{
	struct broker_item *it = take_all(b);
	while (it) {
		struct broker_item *next = it->next;
		it->next = NULL;
		b->deliver(b->data, it);
		it = next;
	}
}

static void on_async(uv_async_t *a)
{
	deliver_all(a->data);
}

void broker_post(struct broker *b, struct broker_item *item)
{
	item->next = NULL;
	pthread_mutex_lock(&b->lock);
	if (b->tail)
		b->tail->next = item;
	else
		b->head = item;
	b->tail = item;
	pthread_mutex_unlock(&b->lock);
	uv_async_send(&b->async);
}

int broker_listener(struct broker *b)
{
	return b->fd;
}

void broker_set_killable(struct broker *b)
{
	__atomic_store_n(&b->killable, true, __ATOMIC_RELAXED);
}

int broker_addfd(struct broker *b, uint64_t id, int fd, bool cloexec)
{
	bool killable = __atomic_load_n(&b->killable, __ATOMIC_RELAXED);
	struct seccomp_notif_addfd a = {
		.id = id,
		/* Atomic hand-over and answer, unless the caller can no longer
		 * leave its call: then the descriptor first, and the answer
		 * with the kernel's synchronous wake-up, which the atomic form
		 * does not take (about 8 against 20 to 50 microseconds a call
		 * here, bench/guard's floor rows). */
		.flags = killable ? 0 : SECCOMP_ADDFD_FLAG_SEND,
		.srcfd = (uint32_t)fd,
		.newfd_flags = cloexec ? O_CLOEXEC : 0,
	};
	int r;
	do
		r = ioctl(b->fd, SECCOMP_IOCTL_NOTIF_ADDFD, &a);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return -errno;
	if (killable) {
		struct seccomp_notif_resp resp = { .id = id, .val = r };
		int s;
		do
			s = ioctl(b->fd, SECCOMP_IOCTL_NOTIF_SEND, &resp);
		while (s < 0 && errno == EINTR);
		if (s < 0)
			return -errno; /* the caller was killed meanwhile */
	}
	return r;
}

bool broker_id_valid(struct broker *b, uint64_t id)
{
	return ioctl(b->fd, SECCOMP_IOCTL_NOTIF_ID_VALID, &id) == 0;
}

static void broker_free(struct broker *b)
{
	if (b->fd >= 0)
		close(b->fd);
	if (b->stop_fd >= 0)
		close(b->stop_fd);
	pthread_mutex_destroy(&b->lock);
	free(b->req);
	free(b->resp);
	free(b);
}

static void on_async_closed(uv_handle_t *h)
{
	broker_free(h->data);
}

int broker_new(uv_loop_t *loop, int notif_fd, broker_handle_fn handle, broker_deliver_fn deliver, void *data,
	       struct broker **ret)
{
	*ret = NULL;
	if (notif_fd < 0)
		return -EBADF;
	struct broker *b = calloc(1, sizeof(*b));
	if (!b) {
		close(notif_fd);
		return -ENOMEM;
	}
	b->fd = notif_fd;
	b->handle = handle;
	b->deliver = deliver;
	b->data = data;
	pthread_mutex_init(&b->lock, NULL);
	/* The kernel's structs may be larger than our headers' (and RECV
	 * wants its buffer zeroed). */
	struct seccomp_notif_sizes sizes = { 0 };
	if (syscall(SYS_seccomp, SECCOMP_GET_NOTIF_SIZES, 0, &sizes) < 0)
		memset(&sizes, 0, sizeof(sizes));
	b->req_size = sizes.seccomp_notif > sizeof(*b->req) ? sizes.seccomp_notif : sizeof(*b->req);
	b->resp_size = sizes.seccomp_notif_resp > sizeof(*b->resp) ? sizes.seccomp_notif_resp : sizeof(*b->resp);
	b->req = calloc(1, b->req_size);
	b->resp = calloc(1, b->resp_size);
	b->stop_fd = eventfd(0, EFD_CLOEXEC);
	if (!b->req || !b->resp || b->stop_fd < 0) {
		int e = b->stop_fd < 0 ? -errno : -ENOMEM;
		broker_free(b);
		return e;
	}
	/* Linux 6.6: wake the caller and us on the current CPU, as for a
	 * synchronous call: a trapped call costs a fraction. */
	(void)ioctl(notif_fd, SECCOMP_IOCTL_NOTIF_SET_FLAGS, SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP);
	int e = uv_async_init(loop, &b->async, on_async);
	if (e < 0) {
		broker_free(b);
		return e;
	}
	b->async.data = b;
	/* Reports alone do not keep the loop running: whatever is still
	 * queued when the sandbox ends is delivered by broker_close. */
	uv_unref((uv_handle_t *)&b->async);
	/* The thread takes none of the process's signals: they belong to the
	 * loop (the CLI's signalfd) or to the library's host. */
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	e = pthread_create(&b->thread, NULL, broker_main, b);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (e) {
		uv_close((uv_handle_t *)&b->async, on_async_closed);
		return -e;
	}
	b->thread_started = true;
	pthread_setname_np(b->thread, "srt-broker");
	*ret = b;
	return 0;
}

void broker_close(struct broker *b)
{
	if (!b)
		return;
	if (b->thread_started) {
		uint64_t one = 1;
		while (write(b->stop_fd, &one, sizeof(one)) < 0 && errno == EINTR)
			;
		pthread_join(b->thread, NULL);
		b->thread_started = false;
	}
	/* What the thread posted before it stopped is still news. */
	deliver_all(b);
	uv_close((uv_handle_t *)&b->async, on_async_closed);
}
