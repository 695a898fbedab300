/* Name lookups off the loop, on threads the lookups own: none outlives its lookup, so none outlives the runtime. */
#ifndef SRT_PROXY_RESOLVE_H
#define SRT_PROXY_RESOLVE_H

#include <netdb.h>
#include <uv.h>

struct resolve_req;

/* On the loop's thread, once: status 0 and res (the caller's: resolve_free)
 * or a negative EAI_ code (getaddrinfo(3)) and res NULL. */
typedef void (*resolve_cb)(void *data, int status, struct addrinfo *res);

/* Look host up with hints on a worker thread and call cb on loop's thread.
 * The request keeps loop alive (an open handle) until cb has run or it
 * was cancelled and its thread has ended. Lookups run at most
 * RESOLVE_THREADS at a time in the process; the others wait their turn.
 * Returns 0 with *ret, or -ENOMEM, -EAGAIN (no thread could be made and
 * none runs), -EINVAL. Loop thread only. */
int resolve_start(uv_loop_t *loop, const char *host, const struct addrinfo *hints, resolve_cb cb, void *data,
		  struct resolve_req **ret);

/* cb will not be called; the request frees itself (a lookup in progress is
 * left to finish on its thread, which is joined on loop's thread). Loop
 * thread only; NULL is a no-op. */
void resolve_cancel(struct resolve_req *r);

/* Free a result resolve_cb got (a copy of getaddrinfo's, not for
 * freeaddrinfo). NULL is a no-op. */
void resolve_free(struct addrinfo *res);

#define RESOLVE_THREADS 16

/* A successful lookup is remembered for this long, process-wide, and
 * answered again without a thread (a program that connects to one name
 * many times asks once per RESOLVE_CACHE_MS): at most RESOLVE_CACHE_MAX
 * names and hints. Failures are not remembered. */
#define RESOLVE_CACHE_MS 5000
#define RESOLVE_CACHE_MAX 256

#endif
