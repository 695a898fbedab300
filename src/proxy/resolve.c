/* Name lookups for the proxies: getaddrinfo on threads that are joined on the loop that asked, instead of libuv's process-wide pool, whose threads never end. */
#include "proxy/resolve.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/*
 * A request is queued; a worker thread takes requests from the queue until
 * it is empty, and then ends. The request a worker served last carries
 * the worker's thread (join): its completion, on the loop that asked,
 * joins the thread. So every thread is joined exactly once, by a loop
 * that is still running (its request's handle keeps it so), and once every
 * loop has finished, no worker is left.
 */

struct resolve_req {
	uv_async_t done;           /* the worker's answer, on the loop */
	resolve_cb cb;
	void *data;
	char *host;
	struct addrinfo hints;
	struct addrinfo *res;
	int status;
	bool cancelled;            /* loop thread: cb not to be called */
	bool queued;               /* under lock: in the queue, not taken yet */
	bool join;                 /* the thread below ends after this one */
	pthread_t thread;
	struct resolve_req *next;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct resolve_req *queue, *queue_tail;
static unsigned workers;

static void on_closed(uv_handle_t *h)
{
	struct resolve_req *r = h->data;
	if (r->res)
		freeaddrinfo(r->res);
	free(r->host);
	free(r);
}

static void on_done(uv_async_t *a)
{
	struct resolve_req *r = a->data;
	/* The worker posted this as its last act on r; the one whose last
	 * request r was ends right after. */
	if (r->join)
		pthread_join(r->thread, NULL);
	if (!r->cancelled) {
		struct addrinfo *res = r->res;
		r->res = NULL;
		r->cb(r->data, r->status, res);
	}
	uv_close((uv_handle_t *)&r->done, on_closed);
}

/* Serves its first request, handed over at creation (so that every
 * thread has one to carry its join), then the queue until it is empty. */
static void *worker(void *arg)
{
	struct resolve_req *r = arg;
	for (;;) {
		struct addrinfo *res = NULL;
		int e = getaddrinfo(r->host, NULL, &r->hints, &res);
		r->status = e;
		r->res = e == 0 ? res : NULL;
		pthread_mutex_lock(&lock);
		struct resolve_req *next = queue;
		if (next) {
			queue = next->next;
			if (!queue)
				queue_tail = NULL;
			next->next = NULL;
			next->queued = false;
		} else {
			workers--;
			r->thread = pthread_self();
			r->join = true;
		}
		/* r may be freed on its loop from here on. */
		uv_async_send(&r->done);
		pthread_mutex_unlock(&lock);
		if (!next)
			return NULL;
		r = next;
	}
}

int resolve_start(uv_loop_t *loop, const char *host, const struct addrinfo *hints, resolve_cb cb, void *data,
		  struct resolve_req **ret)
{
	if (!loop || !host || !cb || !ret)
		return -EINVAL;
	struct resolve_req *r = calloc(1, sizeof(*r));
	if (!r || !(r->host = strdup(host))) {
		free(r);
		return -ENOMEM;
	}
	if (hints)
		r->hints = *hints;
	r->hints.ai_canonname = NULL;
	r->hints.ai_addr = NULL;
	r->hints.ai_next = NULL;
	r->cb = cb;
	r->data = data;
	r->done.data = r;
	int e = uv_async_init(loop, &r->done, on_done);
	if (e < 0) {
		free(r->host);
		free(r);
		return e == UV_ENOMEM ? -ENOMEM : e;
	}
	int result = 0;
	bool started = false;
	pthread_mutex_lock(&lock);
	if (workers < RESOLVE_THREADS) {
		/* The caller's signals are not ours to take. */
		sigset_t all, old;
		sigfillset(&all);
		pthread_sigmask(SIG_BLOCK, &all, &old);
		pthread_t t;
		started = pthread_create(&t, NULL, worker, r) == 0;
		pthread_sigmask(SIG_SETMASK, &old, NULL);
		if (started)
			workers++;
	}
	if (!started && workers == 0) {
		result = -EAGAIN; /* nobody would ever take it */
	} else if (!started) {
		if (queue_tail)
			queue_tail->next = r;
		else
			queue = r;
		queue_tail = r;
		r->queued = true;
	}
	pthread_mutex_unlock(&lock);
	if (result < 0) {
		r->cancelled = true;
		uv_close((uv_handle_t *)&r->done, on_closed);
		return result;
	}
	*ret = r;
	return 0;
}

void resolve_cancel(struct resolve_req *r)
{
	if (!r)
		return;
	r->cancelled = true;
	pthread_mutex_lock(&lock);
	bool unqueued = false;
	if (r->queued) {
		struct resolve_req **pp = &queue, *prev = NULL;
		while (*pp && *pp != r) {
			prev = *pp;
			pp = &(*pp)->next;
		}
		if (*pp) {
			*pp = r->next;
			if (queue_tail == r)
				queue_tail = prev;
			r->queued = false;
			unqueued = true;
		}
	}
	pthread_mutex_unlock(&lock);
	/* Taken by a worker: on_done closes it when the answer comes. */
	if (unqueued)
		uv_close((uv_handle_t *)&r->done, on_closed);
}
