/* The harness of the proxy_server unit tests (test_proxy_hooks.c,
 * test_proxy_direct.c): policies from settings text, one server at a time
 * on a libuv loop in a thread (F), hooks that record events and answer
 * questions, waits with a deadline, and loopback sockets.
 *
 * The including file defines SETTINGS, the settings file's name that the
 * rules of build_policy's policies cite, and includes cmocka first. A
 * test starts F with fx_init, its own hooks, fx_options, proxy_server_new
 * and fx_run; it ends it with fx_join. */
#ifndef SRT_TEST_PROXY_HARNESS_H
#define SRT_TEST_PROXY_HARNESS_H

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "config/config.h"
#include "policy/netpolicy.h"
#include "policy/policy.h"
#include "proxy/extra.h"
#include "proxy/server.h"

#ifndef SETTINGS
#error "define SETTINGS before including proxy_harness.h"
#endif

#define WAIT_MS 10000

/* --- policies ----------------------------------------------------------- */

static inline bool localhost_resolves(void)
{
	struct addrinfo hints = { .ai_family = AF_INET, .ai_socktype = SOCK_STREAM };
	struct addrinfo *res = NULL;
	if (getaddrinfo("localhost", NULL, &hints, &res) != 0)
		return false;
	freeaddrinfo(res);
	return true;
}

static inline struct net_policy *build_policy(const char *json)
{
	struct config cfg;
	config_init(&cfg);
	struct policy *p = NULL;
	struct net_policy *np = NULL;
	struct srt_error err = { 0 };
	int r = config_parse_text(&cfg, SETTINGS, json, strlen(json), CONFIG_ORIGIN_USER, true, &err);
	if (r == 0) {
		struct policy_env env = { .home = "/home/u", .cwd = "/" };
		r = policy_build(&cfg, &env, &p, &err);
	}
	if (r == 0)
		r = net_policy_build(p, &cfg, &np, &err);
	policy_free(p);
	config_free(&cfg);
	if (r != 0)
		fail_msg("policy build failed: %s", err.message);
	return np;
}

static inline struct net_policy *build_list(const char *const *list)
{
	struct net_policy *np = NULL;
	struct srt_error err = { 0 };
	if (net_policy_build_list(list, "sandbox test", &np, &err) != 0)
		fail_msg("list build failed: %s", err.message);
	return np;
}

/* The extra list { "localhost" }; skips the test where localhost does not
 * resolve. */
static inline struct net_policy *build_localhost_list(void)
{
	if (!localhost_resolves())
		skip();
	static const char *const list[] = { "localhost", NULL };
	return build_list(list);
}

#define ALLOW_EXAMPLE "{\"network\": {\"allowedDomains\": [\"example.com\"]}}"
/* example.com allowed, and loopback refused however a name resolves. */
#define ALLOW_EXAMPLE_DENY_LOOPBACK "{\"network\": {\"allowedDomains\": [\"example.com\"]," \
				    " \"deniedResolvedAddresses\": [\"127.0.0.0/8\", \"::1\"]}}"

/* --- the server on its loop thread ---------------------------------------- */

/* One event, as on_event copied it. */
struct rec {
	bool allowed;
	char host[256];
	uint16_t port;
	char address[64];
	char rule[1024];
	char via[16];
	bool has_error;
	char error[128];
	bool has_closed_by;
	uint64_t up, down;
	int64_t duration_ns;
};

static struct fx {
	uv_loop_t loop;
	uv_async_t stop;
	uv_async_t call;
	pthread_t thread;
	struct proxy_server *srv;
	struct proxy_hooks hooks;
	int http_port, socks_port, forward_port; /* listeners, when the test made them */

	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct rec ev[64];
	int n_ev;
	bool wrong_thread;      /* on_event or policy off the loop thread, or ask on it */
	bool closed;            /* on_closed ran */

	const struct net_policy *current; /* what the policy hook returns (atomic) */
	int policy_calls;

	/* A function for the loop thread (run_on_loop). */
	void (*fn)(void *);
	void *fn_arg;
	bool fn_done;

	/* ask */
	bool ask_answer;
	char ask_reason[128];
	int ask_delay_ms;
	int n_asked;            /* calls that returned */
	char asked_host[256];
	uint16_t asked_port;
} F;

/* Questions handed over by the ask_async hook, answered by the test. */
static struct {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct proxy_ask *q[16];
	char host[16][256];
	uint16_t port[16];
	int n;
	bool off_loop;          /* the hook ran off the loop thread */
} AQ = { .mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER };

/* The ask timeout that short_timeout gives. */
static unsigned ask_timeout_ms = 200;

static inline void on_event(void *data, const struct proxy_event *e)
{
	struct fx *f = data;
	pthread_mutex_lock(&f->mu);
	if (!pthread_equal(pthread_self(), f->thread))
		f->wrong_thread = true;
	if (f->n_ev < (int)(sizeof(f->ev) / sizeof(f->ev[0]))) {
		struct rec *r = &f->ev[f->n_ev++];
		memset(r, 0, sizeof(*r));
		r->allowed = e->allowed;
		snprintf(r->host, sizeof(r->host), "%s", e->host ? e->host : "(null)");
		r->port = e->port;
		snprintf(r->address, sizeof(r->address), "%s", e->address ? e->address : "(null)");
		snprintf(r->rule, sizeof(r->rule), "%s", e->rule ? e->rule : "(null)");
		snprintf(r->via, sizeof(r->via), "%s", e->via ? e->via : "(null)");
		r->has_error = e->error != NULL;
		snprintf(r->error, sizeof(r->error), "%s", e->error ? e->error : "");
		r->has_closed_by = e->closed_by != NULL;
		r->up = e->bytes_up;
		r->down = e->bytes_down;
		r->duration_ns = e->duration_ns;
	}
	pthread_cond_broadcast(&f->cv);
	pthread_mutex_unlock(&f->mu);
}

static inline void on_closed(void *data)
{
	struct fx *f = data;
	pthread_mutex_lock(&f->mu);
	f->closed = true;
	pthread_mutex_unlock(&f->mu);
}

static inline const struct net_policy *policy_hook(void *data)
{
	struct fx *f = data;
	if (!pthread_equal(pthread_self(), f->thread))
		f->wrong_thread = true;
	__atomic_add_fetch(&f->policy_calls, 1, __ATOMIC_SEQ_CST);
	return __atomic_load_n(&f->current, __ATOMIC_SEQ_CST);
}

/* The blocking hook: F.ask_answer (with F.ask_reason) after F.ask_delay_ms. */
static inline bool ask_hook(void *data, const char *host, uint16_t port, char *reason, size_t reason_size)
{
	struct fx *f = data;
	if (pthread_equal(pthread_self(), f->thread))
		f->wrong_thread = true;
	pthread_mutex_lock(&f->mu);
	int delay = f->ask_delay_ms;
	bool answer = f->ask_answer;
	snprintf(f->asked_host, sizeof(f->asked_host), "%s", host);
	f->asked_port = port;
	if (!answer)
		snprintf(reason, reason_size, "%s", f->ask_reason);
	pthread_mutex_unlock(&f->mu);
	if (delay > 0)
		usleep((useconds_t)delay * 1000);
	pthread_mutex_lock(&f->mu);
	f->n_asked++;
	pthread_cond_broadcast(&f->cv);
	pthread_mutex_unlock(&f->mu);
	return answer;
}

/* The asynchronous hook: holds the question in AQ; the test answers it (or not). */
static inline bool ask_async_hook(void *data, struct proxy_ask *q, const char *host, uint16_t port)
{
	struct fx *f = data;
	pthread_mutex_lock(&AQ.mu);
	if (!pthread_equal(pthread_self(), f->thread))
		AQ.off_loop = true;
	if (AQ.n < 16) {
		AQ.q[AQ.n] = q;
		snprintf(AQ.host[AQ.n], sizeof(AQ.host[0]), "%s", host);
		AQ.port[AQ.n] = port;
		AQ.n++;
	}
	pthread_cond_broadcast(&AQ.cv);
	pthread_mutex_unlock(&AQ.mu);
	return true;
}

static inline unsigned short_timeout(void *data)
{
	(void)data;
	return ask_timeout_ms;
}

static inline void on_stop(uv_async_t *a)
{
	struct fx *f = a->data;
	proxy_server_close(f->srv);
	uv_close((uv_handle_t *)&f->call, NULL);
	uv_close((uv_handle_t *)a, NULL);
}

static inline void on_call(uv_async_t *a)
{
	struct fx *f = a->data;
	pthread_mutex_lock(&f->mu);
	void (*fn)(void *) = f->fn;
	void *arg = f->fn_arg;
	f->fn = NULL;
	pthread_mutex_unlock(&f->mu);
	if (fn)
		fn(arg);
	pthread_mutex_lock(&f->mu);
	f->fn_done = true;
	pthread_cond_broadcast(&f->cv);
	pthread_mutex_unlock(&f->mu);
}

/* Run fn(arg) on the loop thread and wait for it. */
static inline void run_on_loop(void (*fn)(void *), void *arg)
{
	struct fx *f = &F;
	pthread_mutex_lock(&f->mu);
	f->fn = fn;
	f->fn_arg = arg;
	f->fn_done = false;
	pthread_mutex_unlock(&f->mu);
	uv_async_send(&f->call);
	pthread_mutex_lock(&f->mu);
	while (!f->fn_done)
		pthread_cond_wait(&f->cv, &f->mu);
	pthread_mutex_unlock(&f->mu);
}

static inline void *loop_main(void *arg)
{
	struct fx *f = arg;
	uv_run(&f->loop, UV_RUN_DEFAULT);
	return NULL;
}

/* A fresh F and its loop, with hooks that record events and the close;
 * the test adds hooks of its own. */
static inline void fx_init(void)
{
	struct fx *f = &F;
	memset(f, 0, sizeof(*f));
	pthread_mutex_init(&f->mu, NULL);
	pthread_cond_init(&f->cv, NULL);
	f->hooks = (struct proxy_hooks){
		.data = f,
		.on_event = on_event,
		.on_closed = on_closed,
	};
	assert_int_equal(uv_loop_init(&f->loop), 0);
}

/* Options deciding with np through F.hooks: the default limits, with a
 * 5 s connect timeout. */
static inline struct proxy_options fx_options(const struct net_policy *np)
{
	struct proxy_options o = { .policy = np, .hooks = &F.hooks };
	proxy_limits_default(&o.limits);
	o.limits.connect_timeout_ms = 5000;
	return o;
}

/* The loop's thread, once F.srv is made (and listening). */
static inline void fx_run(void)
{
	struct fx *f = &F;
	uv_async_init(&f->loop, &f->stop, on_stop);
	f->stop.data = f;
	uv_async_init(&f->loop, &f->call, on_call);
	f->call.data = f;
	assert_int_equal(pthread_create(&f->thread, NULL, loop_main, f), 0);
}

/* Close the server and run the loop to its end: every handle closed. The
 * mutex stays: results are read after the loop has ended. */
static inline void fx_join(void)
{
	struct fx *f = &F;
	uv_async_send(&f->stop);
	pthread_join(f->thread, NULL);
	assert_int_equal(uv_loop_close(&f->loop), 0);
	assert_false(f->wrong_thread);
}

/* --- waits and results -------------------------------------------------- */

/* Wait until *count (under mu, signalled on cv) reaches n, or WAIT_MS;
 * returns *count. */
static inline int wait_count(pthread_mutex_t *mu, pthread_cond_t *cv, const int *count, int n)
{
	struct timespec dl;
	clock_gettime(CLOCK_REALTIME, &dl);
	dl.tv_sec += WAIT_MS / 1000;
	pthread_mutex_lock(mu);
	while (*count < n && pthread_cond_timedwait(cv, mu, &dl) == 0)
		;
	int got = *count;
	pthread_mutex_unlock(mu);
	return got;
}

/* *p, read under F's lock. */
static inline int locked_int(const int *p)
{
	pthread_mutex_lock(&F.mu);
	int n = *p;
	pthread_mutex_unlock(&F.mu);
	return n;
}

/* Wait until n events have arrived; returns how many there are. */
static inline int wait_events(int n)
{
	return wait_count(&F.mu, &F.cv, &F.n_ev, n);
}

static inline void wait_asked(int n)
{
	assert_int_equal(wait_count(&F.mu, &F.cv, &F.n_asked, n), n);
}

static inline struct rec event_at(int i)
{
	pthread_mutex_lock(&F.mu);
	struct rec r = F.ev[i];
	pthread_mutex_unlock(&F.mu);
	return r;
}

static inline int event_count(void)
{
	return locked_int(&F.n_ev);
}

/* Wait for the n-th event (n counts from 1), with no more before it; returns it. */
static inline struct rec nth_event(int n)
{
	assert_int_equal(wait_events(n), n);
	return event_at(n - 1);
}

static inline void aq_reset(void)
{
	pthread_mutex_lock(&AQ.mu);
	AQ.n = 0;
	AQ.off_loop = false;
	pthread_mutex_unlock(&AQ.mu);
}

/* Wait for question i and take it. */
static inline struct proxy_ask *aq_wait(int i)
{
	wait_count(&AQ.mu, &AQ.cv, &AQ.n, i + 1);
	pthread_mutex_lock(&AQ.mu);
	struct proxy_ask *q = AQ.n > i ? AQ.q[i] : NULL;
	pthread_mutex_unlock(&AQ.mu);
	assert_non_null(q);
	return q;
}

static inline void assert_prefix(const char *s, const char *prefix)
{
	if (strncmp(s, prefix, strlen(prefix)) != 0)
		fail_msg("'%s' does not start with '%s'", s, prefix);
}

/* --- loopback sockets ----------------------------------------------------- */

static inline void set_timeouts(int fd)
{
	struct timeval tv = { .tv_sec = WAIT_MS / 1000 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

/* A socket listening on addr (an IPv4 or IPv6 literal) at a free port, put
 * in *port; -1 when addr cannot be bound (a host without ::1). */
static inline int try_listen_on(const char *addr, int *port)
{
	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof(ss));
	struct sockaddr_in *a4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&ss;
	socklen_t len;
	if (inet_pton(AF_INET, addr, &a4->sin_addr) == 1) {
		a4->sin_family = AF_INET;
		len = sizeof(*a4);
	} else {
		assert_int_equal(inet_pton(AF_INET6, addr, &a6->sin6_addr), 1);
		a6->sin6_family = AF_INET6;
		len = sizeof(*a6);
	}
	int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, len) < 0) {
		close(fd);
		return -1;
	}
	assert_int_equal(listen(fd, 64), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&ss, &len), 0);
	*port = ntohs(ss.ss_family == AF_INET ? a4->sin_port : a6->sin6_port);
	return fd;
}

static inline int listen_on(const char *addr, int *port)
{
	int fd = try_listen_on(addr, port);
	assert_true(fd >= 0);
	return fd;
}

/* A port of 127.0.0.1 where nothing listens. */
static inline uint16_t closed_port(void)
{
	int port;
	close(listen_on("127.0.0.1", &port));
	return (uint16_t)port;
}

#endif
