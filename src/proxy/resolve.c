/* Name lookups for the proxies: getaddrinfo on threads that are joined on the loop that asked, instead of libuv's process-wide pool, whose threads never end. */
#include "proxy/resolve.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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

/* ---- Results: our own copies, and a short memory of them ---------------- */

/* One block per node: the node, then its address. */
static struct addrinfo *ai_copy(const struct addrinfo *src)
{
	struct addrinfo *head = NULL, **tail = &head;
	for (const struct addrinfo *a = src; a; a = a->ai_next) {
		if (!a->ai_addr || a->ai_addrlen > sizeof(struct sockaddr_storage))
			continue;
		struct addrinfo *n = calloc(1, sizeof(*n) + a->ai_addrlen);
		if (!n) {
			resolve_free(head);
			return NULL;
		}
		n->ai_flags = a->ai_flags;
		n->ai_family = a->ai_family;
		n->ai_socktype = a->ai_socktype;
		n->ai_protocol = a->ai_protocol;
		n->ai_addrlen = a->ai_addrlen;
		n->ai_addr = (struct sockaddr *)(n + 1);
		memcpy(n->ai_addr, a->ai_addr, a->ai_addrlen);
		*tail = n;
		tail = &n->ai_next;
	}
	return head;
}

void resolve_free(struct addrinfo *res)
{
	while (res) {
		struct addrinfo *next = res->ai_next;
		free(res);
		res = next;
	}
}

struct cache_entry {
	char *host;
	int family, socktype, flags;
	struct addrinfo *res;      /* ours */
	int64_t at_ms;
};

static struct cache_entry cache[RESOLVE_CACHE_MAX]; /* under lock */

static int64_t now_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static bool cache_key(const struct cache_entry *e, const char *host, const struct addrinfo *h)
{
	return e->host && e->family == h->ai_family && e->socktype == h->ai_socktype && e->flags == h->ai_flags &&
	       strcmp(e->host, host) == 0;
}

/* Under lock: a fresh copy of a remembered result, or NULL. */
static struct addrinfo *cache_get(const char *host, const struct addrinfo *h)
{
	int64_t now = now_ms();
	for (size_t i = 0; i < RESOLVE_CACHE_MAX; i++)
		if (cache_key(&cache[i], host, h) && now - cache[i].at_ms < RESOLVE_CACHE_MS)
			return ai_copy(cache[i].res);
	return NULL;
}

/* Under lock: remember res (copied) for host and h, in the entry of the
 * same key or the oldest. */
static void cache_put(const char *host, const struct addrinfo *h, const struct addrinfo *res)
{
	size_t slot = 0;
	for (size_t i = 0; i < RESOLVE_CACHE_MAX; i++) {
		if (cache_key(&cache[i], host, h)) {
			slot = i;
			break;
		}
		if (!cache[i].host || cache[i].at_ms < cache[slot].at_ms)
			slot = i;
		if (!cache[i].host)
			break;
	}
	struct addrinfo *copy = ai_copy(res);
	char *name = strdup(host);
	if (!copy || !name) {
		resolve_free(copy);
		free(name);
		return;
	}
	free(cache[slot].host);
	resolve_free(cache[slot].res);
	cache[slot] = (struct cache_entry){ .host = name, .family = h->ai_family, .socktype = h->ai_socktype,
					    .flags = h->ai_flags, .res = copy, .at_ms = now_ms() };
}

static void on_closed(uv_handle_t *h)
{
	struct resolve_req *r = h->data;
	resolve_free(r->res);
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
		r->res = e == 0 ? ai_copy(res) : NULL;
		if (e == 0 && !r->res)
			r->status = EAI_MEMORY;
		pthread_mutex_lock(&lock);
		if (r->res)
			cache_put(r->host, &r->hints, r->res);
		if (res)
			freeaddrinfo(res);
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
	/* Remembered: answered on the loop's next turn, without a thread. */
	if ((r->res = cache_get(r->host, &r->hints))) {
		pthread_mutex_unlock(&lock);
		r->status = 0;
		uv_async_send(&r->done);
		*ret = r;
		return 0;
	}
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
