/* Unit tests for proxy_server_direct (the connect broker's transparent connections): decisions, asking, the guard, dialing, cancelling and closing, with a proxy_server on a libuv loop in a thread and origins on 127.0.0.1 and ::1. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdbool.h>
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

#define SETTINGS "/etc/test-direct.json"
#define WAIT_MS 10000

/* --- policies ----------------------------------------------------------- */

static struct net_policy *build_policy(const char *json)
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

static struct net_policy *build_list(const char *const *list)
{
	struct net_policy *np = NULL;
	struct srt_error err = { 0 };
	if (net_policy_build_list(list, "sandbox test", &np, &err) != 0)
		fail_msg("list build failed: %s", err.message);
	return np;
}

/* --- the server on its loop thread ---------------------------------------- */

struct rec {
	bool allowed;
	char host[256];
	uint16_t port;
	char address[64];
	char rule[1024];
	char via[16];
	char error[128];
	bool has_closed_by;
	uint64_t up, down;
};

/* One direct request, as the test sees it. */
struct req {
	struct proxy_direct *d;
	int ret;                /* proxy_server_direct's result */
	int n_done;             /* done calls */
	int fd;
	int err;
	bool has_rule;
	char rule[1024];
};

enum { ASK_BLOCKING = 1, ASK_ASYNC = 2 };

static struct fx {
	uv_loop_t loop;
	uv_async_t stop;
	uv_async_t call;
	pthread_t thread;
	struct proxy_server *srv;
	struct proxy_hooks hooks;

	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct rec ev[16];
	int n_ev;
	bool wrong_thread;      /* a callback off the loop thread */
	bool done_inside;       /* done called from inside proxy_server_direct */
	bool in_direct;
	bool closed;            /* on_closed ran */

	/* A function for the loop thread (run_on_loop). */
	void (*fn)(void *);
	void *fn_arg;
	bool fn_done;

	/* ask */
	bool ask_answer;
	char ask_reason[128];
	int n_asked;
	struct proxy_ask *q;    /* ask_async: the question held */
} F;

static void on_event(void *data, const struct proxy_event *e)
{
	struct fx *f = data;
	pthread_mutex_lock(&f->mu);
	if (!pthread_equal(pthread_self(), f->thread))
		f->wrong_thread = true;
	if (f->n_ev < (int)(sizeof(f->ev) / sizeof(f->ev[0]))) {
		struct rec *r = &f->ev[f->n_ev++];
		memset(r, 0, sizeof(*r));
		r->allowed = e->allowed;
		snprintf(r->host, sizeof(r->host), "%s", e->host);
		r->port = e->port;
		snprintf(r->address, sizeof(r->address), "%s", e->address);
		snprintf(r->rule, sizeof(r->rule), "%s", e->rule);
		snprintf(r->via, sizeof(r->via), "%s", e->via);
		snprintf(r->error, sizeof(r->error), "%s", e->error ? e->error : "");
		r->has_closed_by = e->closed_by != NULL;
		r->up = e->bytes_up;
		r->down = e->bytes_down;
	}
	pthread_cond_broadcast(&f->cv);
	pthread_mutex_unlock(&f->mu);
}

static void on_closed(void *data)
{
	struct fx *f = data;
	pthread_mutex_lock(&f->mu);
	f->closed = true;
	pthread_mutex_unlock(&f->mu);
}

static bool ask_hook(void *data, const char *host, uint16_t port, char *reason, size_t reason_size)
{
	(void)host;
	(void)port;
	struct fx *f = data;
	pthread_mutex_lock(&f->mu);
	bool answer = f->ask_answer;
	if (!answer)
		snprintf(reason, reason_size, "%s", f->ask_reason);
	f->n_asked++;
	pthread_mutex_unlock(&f->mu);
	return answer;
}

/* Holds the question; the test answers it (or not). */
static bool ask_async_hook(void *data, struct proxy_ask *q, const char *host, uint16_t port)
{
	(void)host;
	(void)port;
	struct fx *f = data;
	pthread_mutex_lock(&f->mu);
	f->q = q;
	f->n_asked++;
	pthread_cond_broadcast(&f->cv);
	pthread_mutex_unlock(&f->mu);
	return true;
}

/* The ask timeout of ASK_ASYNC servers. */
static unsigned ask_timeout_ms = 200;

static unsigned short_timeout(void *data)
{
	(void)data;
	return ask_timeout_ms;
}

static void done_cb(void *data, int fd, int err, const char *rule)
{
	struct req *r = data;
	pthread_mutex_lock(&F.mu);
	if (!pthread_equal(pthread_self(), F.thread))
		F.wrong_thread = true;
	if (F.in_direct)
		F.done_inside = true;
	r->n_done++;
	r->fd = fd;
	r->err = err;
	r->has_rule = rule != NULL;
	snprintf(r->rule, sizeof(r->rule), "%s", rule ? rule : "");
	pthread_cond_broadcast(&F.cv);
	pthread_mutex_unlock(&F.mu);
}

static void on_stop(uv_async_t *a)
{
	struct fx *f = a->data;
	proxy_server_close(f->srv);
	uv_close((uv_handle_t *)&f->call, NULL);
	uv_close((uv_handle_t *)a, NULL);
}

static void on_call(uv_async_t *a)
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
static void run_on_loop(void (*fn)(void *), void *arg)
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

static void *loop_main(void *arg)
{
	struct fx *f = arg;
	uv_run(&f->loop, UV_RUN_DEFAULT);
	return NULL;
}

static void fx_start(const struct net_policy *np, const struct net_policy *extra, int ask, unsigned max_connections)
{
	struct fx *f = &F;
	memset(f, 0, sizeof(*f));
	pthread_mutex_init(&f->mu, NULL);
	pthread_cond_init(&f->cv, NULL);
	f->hooks = (struct proxy_hooks){
		.data = f,
		.extra = extra,
		.ask = (ask & ASK_BLOCKING) ? ask_hook : NULL,
		.ask_async = (ask & ASK_ASYNC) ? ask_async_hook : NULL,
		.ask_timeout = (ask & ASK_ASYNC) ? short_timeout : NULL,
		.on_event = on_event,
		.on_closed = on_closed,
	};
	assert_int_equal(uv_loop_init(&f->loop), 0);
	struct proxy_options o = { .policy = np, .hooks = &f->hooks };
	proxy_limits_default(&o.limits);
	o.limits.connect_timeout_ms = 5000;
	if (max_connections)
		o.limits.max_connections = max_connections;
	assert_int_equal(proxy_server_new(&f->loop, &o, &f->srv), 0);
	uv_async_init(&f->loop, &f->stop, on_stop);
	f->stop.data = f;
	uv_async_init(&f->loop, &f->call, on_call);
	f->call.data = f;
	assert_int_equal(pthread_create(&f->thread, NULL, loop_main, f), 0);
}

/* Close the server and run the loop to its end: every handle closed. */
static void fx_stop(void)
{
	struct fx *f = &F;
	uv_async_send(&f->stop);
	pthread_join(f->thread, NULL);
	assert_int_equal(uv_loop_close(&f->loop), 0);
	assert_true(f->closed);
	assert_false(f->wrong_thread);
	assert_false(f->done_inside);
	/* The mutex stays: results are read after the loop has ended. */
}

struct direct_args {
	const char *host;
	uint16_t port;
	int family;
	struct req *r;
	bool cancel;            /* cancel at once, in the same loop turn */
};

static void call_direct(void *arg)
{
	struct direct_args *a = arg;
	F.in_direct = true;
	a->r->ret = proxy_server_direct(F.srv, a->host, a->port, a->family, done_cb, a->r, &a->r->d);
	F.in_direct = false;
	if (a->cancel && a->r->ret == 0)
		proxy_direct_cancel(a->r->d);
}

static void call_cancel(void *arg)
{
	struct req *r = arg;
	proxy_direct_cancel(r->d);
}

/* Start a direct request; returns proxy_server_direct's result. */
static int direct(const char *host, uint16_t port, int family, struct req *r)
{
	memset(r, 0, sizeof(*r));
	r->fd = -2;
	struct direct_args a = { .host = host, .port = port, .family = family, .r = r };
	run_on_loop(call_direct, &a);
	return r->ret;
}

/* Wait for r's done call. */
static void wait_done(struct req *r)
{
	struct timespec dl;
	clock_gettime(CLOCK_REALTIME, &dl);
	dl.tv_sec += WAIT_MS / 1000;
	pthread_mutex_lock(&F.mu);
	while (r->n_done == 0 && pthread_cond_timedwait(&F.cv, &F.mu, &dl) == 0)
		;
	int n = r->n_done;
	pthread_mutex_unlock(&F.mu);
	assert_int_equal(n, 1);
}

static int wait_events(int n)
{
	struct timespec dl;
	clock_gettime(CLOCK_REALTIME, &dl);
	dl.tv_sec += WAIT_MS / 1000;
	pthread_mutex_lock(&F.mu);
	while (F.n_ev < n && pthread_cond_timedwait(&F.cv, &F.mu, &dl) == 0)
		;
	int got = F.n_ev;
	pthread_mutex_unlock(&F.mu);
	return got;
}

static struct proxy_ask *wait_question(void)
{
	struct timespec dl;
	clock_gettime(CLOCK_REALTIME, &dl);
	dl.tv_sec += WAIT_MS / 1000;
	pthread_mutex_lock(&F.mu);
	while (!F.q && pthread_cond_timedwait(&F.cv, &F.mu, &dl) == 0)
		;
	struct proxy_ask *q = F.q;
	F.q = NULL;
	pthread_mutex_unlock(&F.mu);
	assert_non_null(q);
	return q;
}

static struct rec event_at(int i)
{
	pthread_mutex_lock(&F.mu);
	struct rec r = F.ev[i];
	pthread_mutex_unlock(&F.mu);
	return r;
}

static int event_count(void)
{
	pthread_mutex_lock(&F.mu);
	int n = F.n_ev;
	pthread_mutex_unlock(&F.mu);
	return n;
}

static int done_count(const struct req *r)
{
	pthread_mutex_lock(&F.mu);
	int n = r->n_done;
	pthread_mutex_unlock(&F.mu);
	return n;
}

static void assert_prefix(const char *s, const char *prefix)
{
	if (strncmp(s, prefix, strlen(prefix)) != 0)
		fail_msg("'%s' does not start with '%s'", s, prefix);
}

/* --- origins ---------------------------------------------------------------- */

/* Accepts one connection and echoes what it reads until end of stream. */
struct origin {
	int lfd;
	uint16_t port;
	pthread_t th;
	size_t echoed;
};

static void *origin_main(void *arg)
{
	struct origin *o = arg;
	int fd = accept(o->lfd, NULL, NULL);
	if (fd < 0)
		return NULL;
	struct timeval tv = { .tv_sec = WAIT_MS / 1000 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	char buf[4096];
	for (;;) {
		ssize_t n = read(fd, buf, sizeof(buf));
		if (n <= 0)
			break;
		if (write(fd, buf, (size_t)n) != n)
			break;
		o->echoed += (size_t)n;
	}
	close(fd);
	return NULL;
}

/* Returns false when family's loopback cannot be bound (no ::1). */
static bool origin_start(struct origin *o, int family)
{
	memset(o, 0, sizeof(*o));
	o->lfd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(o->lfd >= 0);
	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof(ss));
	socklen_t len;
	if (family == AF_INET) {
		struct sockaddr_in *a = (struct sockaddr_in *)&ss;
		a->sin_family = AF_INET;
		a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		len = sizeof(*a);
	} else {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
		a->sin6_family = AF_INET6;
		a->sin6_addr = in6addr_loopback;
		len = sizeof(*a);
	}
	if (bind(o->lfd, (struct sockaddr *)&ss, len) < 0) {
		close(o->lfd);
		return false;
	}
	assert_int_equal(listen(o->lfd, 8), 0);
	assert_int_equal(getsockname(o->lfd, (struct sockaddr *)&ss, &len), 0);
	o->port = ntohs(family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port :
					    ((struct sockaddr_in6 *)&ss)->sin6_port);
	assert_int_equal(pthread_create(&o->th, NULL, origin_main, o), 0);
	return true;
}

static void origin_join(struct origin *o)
{
	shutdown(o->lfd, SHUT_RDWR); /* an accept() still waiting returns */
	pthread_join(o->th, NULL);
	close(o->lfd);
}

/* A port of 127.0.0.1 where nothing listens. */
static uint16_t closed_port(void)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	socklen_t len = sizeof(a);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	close(fd);
	return ntohs(a.sin_port);
}

/* The socket handed over works: bytes go to the origin and come back. */
static void assert_echo(int fd)
{
	int fl = fcntl(fd, F_GETFL);
	assert_true(fl >= 0 && (fl & O_NONBLOCK));
	assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	assert_int_equal(fcntl(fd, F_SETFL, fl & ~O_NONBLOCK), 0);
	struct timeval tv = { .tv_sec = WAIT_MS / 1000 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	static const char msg[] = "hello through a handed-over socket";
	assert_int_equal(write(fd, msg, sizeof(msg)), (ssize_t)sizeof(msg));
	char buf[sizeof(msg)];
	size_t got = 0;
	while (got < sizeof(buf)) {
		ssize_t n = read(fd, buf + got, sizeof(buf) - got);
		assert_true(n > 0);
		got += (size_t)n;
	}
	assert_memory_equal(buf, msg, sizeof(msg));
}

static bool localhost_resolves(void)
{
	struct addrinfo hints = { .ai_family = AF_INET, .ai_socktype = SOCK_STREAM };
	struct addrinfo *res = NULL;
	if (getaddrinfo("localhost", NULL, &hints, &res) != 0)
		return false;
	freeaddrinfo(res);
	return true;
}

#define ALLOW_LOOPBACK "{\"network\": {\"allowedDomains\": [\"127.0.0.1\", \"[::1]\"]," \
		       " \"deniedDomains\": [\"evil.test\"], \"deniedDomainReasons\": {\"evil.test\": \"known bad\"}}}"

/* --- tests ------------------------------------------------------------------ */

/* An allowed IP literal: the connected socket, then one event. */
static void test_allowed_literal(void **state)
{
	(void)state;
	struct net_policy *np = build_policy(ALLOW_LOOPBACK);
	fx_start(np, NULL, 0, 0);
	struct origin o;
	assert_true(origin_start(&o, AF_INET));
	struct req r;
	assert_int_equal(direct("127.0.0.1", o.port, AF_INET, &r), 0);
	wait_done(&r);
	assert_int_equal(r.err, 0);
	assert_false(r.has_rule);
	assert_true(r.fd >= 0);
	assert_int_equal(wait_events(1), 1);
	struct rec e = event_at(0);
	assert_true(e.allowed);
	assert_string_equal(e.via, "transparent");
	assert_string_equal(e.host, "127.0.0.1");
	assert_int_equal(e.port, o.port);
	assert_string_equal(e.address, "127.0.0.1");
	assert_prefix(e.rule, "allowedDomains: 127.0.0.1 (" SETTINGS ":");
	assert_string_equal(e.error, "");
	assert_false(e.has_closed_by);
	assert_int_equal(e.up, 0);
	assert_int_equal(e.down, 0);
	/* The server is closed; the socket is the program's now. */
	fx_stop();
	assert_echo(r.fd);
	close(r.fd);
	origin_join(&o);
	assert_int_equal(o.echoed, sizeof("hello through a handed-over socket"));
	assert_int_equal(event_count(), 1);
	net_policy_free(np);
}

/* ::1 for an AF_INET6 socket, where the host has IPv6 loopback. */
static void test_allowed_ipv6(void **state)
{
	(void)state;
	struct origin o;
	if (!origin_start(&o, AF_INET6))
		skip();
	struct net_policy *np = build_policy(ALLOW_LOOPBACK);
	fx_start(np, NULL, 0, 0);
	struct req r;
	assert_int_equal(direct("::1", o.port, AF_INET6, &r), 0);
	wait_done(&r);
	assert_int_equal(r.err, 0);
	assert_true(r.fd >= 0);
	assert_echo(r.fd);
	close(r.fd);
	assert_int_equal(wait_events(1), 1);
	struct rec e = event_at(0);
	assert_true(e.allowed);
	assert_string_equal(e.host, "::1");
	assert_string_equal(e.address, "::1");
	assert_string_equal(e.via, "transparent");
	fx_stop();
	origin_join(&o);
	net_policy_free(np);
}

/* deniedDomains (with its reason) and the default deny: ECONNREFUSED with
 * the event's rule; nothing is dialed. */
static void test_denied(void **state)
{
	(void)state;
	struct net_policy *np = build_policy(ALLOW_LOOPBACK);
	fx_start(np, NULL, 0, 0);
	struct req r;
	assert_int_equal(direct("evil.test", 443, AF_INET, &r), 0);
	wait_done(&r);
	assert_int_equal(r.fd, -1);
	assert_int_equal(r.err, ECONNREFUSED);
	assert_true(r.has_rule);
	assert_prefix(r.rule, "deniedDomains: evil.test (" SETTINGS ":");
	assert_int_equal(wait_events(1), 1);
	struct rec e = event_at(0);
	assert_false(e.allowed);
	assert_string_equal(e.via, "transparent");
	assert_string_equal(e.host, "evil.test");
	assert_int_equal(e.port, 443);
	assert_string_equal(e.address, "");
	assert_string_equal(e.rule, r.rule);

	assert_int_equal(direct("nowhere.test", 80, AF_INET6, &r), 0);
	wait_done(&r);
	assert_int_equal(r.err, ECONNREFUSED);
	assert_string_equal(r.rule, "no allowedDomains entry matches");
	assert_int_equal(wait_events(2), 2);
	e = event_at(1);
	assert_false(e.allowed);
	assert_string_equal(e.via, "transparent");
	assert_string_equal(e.rule, "no allowedDomains entry matches");

	/* Not a host at all. */
	struct req bad;
	assert_int_equal(direct("a b", 80, AF_INET, &bad), -EINVAL);
	assert_int_equal(direct("127.0.0.1", 0, AF_INET, &bad), -EINVAL);
	assert_int_equal(direct("127.0.0.1", 80, AF_UNIX, &bad), -EINVAL);
	fx_stop();
	assert_int_equal(event_count(), 2);
	assert_int_equal(bad.n_done, 0);
	net_policy_free(np);
}

/* Allowed, but nothing listens: ECONNREFUSED without a rule; the event is
 * the allowed one, with its error. */
static void test_refused_by_server(void **state)
{
	(void)state;
	struct net_policy *np = build_policy(ALLOW_LOOPBACK);
	fx_start(np, NULL, 0, 0);
	uint16_t port = closed_port();
	struct req r;
	assert_int_equal(direct("127.0.0.1", port, AF_INET, &r), 0);
	wait_done(&r);
	assert_int_equal(r.fd, -1);
	assert_int_equal(r.err, ECONNREFUSED);
	assert_false(r.has_rule);
	assert_int_equal(wait_events(1), 1);
	struct rec e = event_at(0);
	assert_true(e.allowed);
	assert_string_equal(e.via, "transparent");
	assert_string_equal(e.address, "127.0.0.1");
	assert_string_equal(e.error, "connection refused");
	assert_true(e.has_closed_by);
	fx_stop();
	assert_int_equal(event_count(), 1);
	net_policy_free(np);
}

/* Names: resolved on the host, every address guarded. The extra list's
 * localhost entry lifts the loopback class (and the name is dialed); a
 * name the policy's guard refuses is a denial with the guard's rule. */
static void test_guard(void **state)
{
	(void)state;
	if (!localhost_resolves())
		skip();
	static const char *const list[] = { "localhost", NULL };
	struct net_policy *extra = build_list(list);
	struct net_policy *np = build_policy("{\"network\": {\"allowedDomains\": [\"example.com\"]}}");
	fx_start(np, extra, 0, 0);
	struct origin o;
	assert_true(origin_start(&o, AF_INET));
	struct req r;
	/* An AF_INET6 socket still gets the IPv4 address, after any IPv6 one. */
	assert_int_equal(direct("localhost", o.port, AF_INET6, &r), 0);
	wait_done(&r);
	assert_int_equal(r.err, 0);
	assert_true(r.fd >= 0);
	assert_echo(r.fd);
	close(r.fd);
	origin_join(&o);
	assert_int_equal(wait_events(1), 1);
	struct rec e = event_at(0);
	assert_true(e.allowed);
	assert_string_equal(e.host, "localhost");
	assert_string_equal(e.address, "127.0.0.1");
	assert_string_equal(e.rule, "allowedDomains: localhost (sandbox test: allowedDomains[0])");
	assert_string_equal(e.via, "transparent");
	fx_stop();
	net_policy_free(np);

	/* The policy's deniedResolvedAddresses are not lifted by the list. */
	np = build_policy("{\"network\": {\"allowedDomains\": [\"example.com\"],"
			  " \"deniedResolvedAddresses\": [\"127.0.0.0/8\", \"::1\"]}}");
	fx_start(np, extra, 0, 0);
	assert_int_equal(direct("localhost", 9, AF_INET, &r), 0);
	wait_done(&r);
	assert_int_equal(r.fd, -1);
	assert_int_equal(r.err, ECONNREFUSED);
	assert_prefix(r.rule, "resolved address ");
	assert_int_equal(wait_events(1), 1);
	e = event_at(0);
	assert_false(e.allowed);
	assert_string_equal(e.via, "transparent");
	assert_string_equal(e.rule, r.rule);
	fx_stop();
	net_policy_free(np);
	net_policy_free(extra);

	/* Allowed by asking, without an entry that lifts loopback: the
	 * guard refuses. */
	np = build_policy("{\"network\": {\"allowedDomains\": [\"example.com\"]}}");
	fx_start(np, NULL, ASK_BLOCKING, 0);
	F.ask_answer = true;
	assert_int_equal(direct("localhost", 9, AF_INET, &r), 0);
	wait_done(&r);
	assert_int_equal(r.err, ECONNREFUSED);
	assert_string_equal(r.rule, "resolved address 127.0.0.1 is loopback");
	assert_int_equal(wait_events(1), 1);
	e = event_at(0);
	assert_false(e.allowed);
	assert_string_equal(e.rule, "resolved address 127.0.0.1 is loopback");
	fx_stop();
	net_policy_free(np);
}

/* The blocking ask hook: allowed (dialed), denied with a reason. */
static void test_ask(void **state)
{
	(void)state;
	struct net_policy *np = build_policy("{\"network\": {\"allowedDomains\": [\"example.com\"]}}");
	fx_start(np, NULL, ASK_BLOCKING, 0);
	struct origin o;
	assert_true(origin_start(&o, AF_INET));
	F.ask_answer = true;
	struct req r;
	assert_int_equal(direct("127.0.0.1", o.port, AF_INET, &r), 0);
	wait_done(&r);
	assert_int_equal(r.err, 0);
	assert_true(r.fd >= 0);
	assert_echo(r.fd);
	close(r.fd);
	origin_join(&o);
	assert_int_equal(wait_events(1), 1);
	struct rec e = event_at(0);
	assert_true(e.allowed);
	assert_string_equal(e.rule, "asked: allowed");
	assert_string_equal(e.via, "transparent");

	pthread_mutex_lock(&F.mu);
	F.ask_answer = false;
	snprintf(F.ask_reason, sizeof(F.ask_reason), "not today");
	pthread_mutex_unlock(&F.mu);
	assert_int_equal(direct("asked.test", 443, AF_INET, &r), 0);
	wait_done(&r);
	assert_int_equal(r.err, ECONNREFUSED);
	assert_string_equal(r.rule, "asked: not today");
	assert_int_equal(wait_events(2), 2);
	e = event_at(1);
	assert_false(e.allowed);
	assert_string_equal(e.rule, "asked: not today");
	assert_string_equal(e.host, "asked.test");
	assert_int_equal(F.n_asked, 2);
	fx_stop();
	net_policy_free(np);
}

/* The asynchronous hook, left without an answer: the ask timeout denies. */
static void test_ask_timeout(void **state)
{
	(void)state;
	struct net_policy *np = build_policy("{\"network\": {\"allowedDomains\": [\"example.com\"]}}");
	ask_timeout_ms = 200;
	fx_start(np, NULL, ASK_ASYNC, 0);
	struct req r;
	assert_int_equal(direct("slow.test", 443, AF_INET, &r), 0);
	struct proxy_ask *q = wait_question();
	wait_done(&r);
	assert_int_equal(r.err, ECONNREFUSED);
	assert_string_equal(r.rule, "asked: no answer in time");
	assert_int_equal(wait_events(1), 1);
	assert_false(event_at(0).allowed);
	proxy_ask_answer(q, true, NULL); /* too late: only frees it */
	fx_stop();
	net_policy_free(np);
}

/* Cancelled before an outcome (in the same turn, and while asking): done
 * is never called, nothing leaks, no event; max_connections counts a
 * request under way. */
static void test_cancel(void **state)
{
	(void)state;
	struct net_policy *np = build_policy(ALLOW_LOOPBACK);
	ask_timeout_ms = WAIT_MS;
	fx_start(np, NULL, ASK_ASYNC, 1);
	struct req r;
	memset(&r, 0, sizeof(r));
	struct direct_args a = { .host = "127.0.0.1", .port = 9, .family = AF_INET, .r = &r, .cancel = true };
	run_on_loop(call_direct, &a);
	assert_int_equal(r.ret, 0);
	usleep(100 * 1000); /* its close callbacks run */

	struct req held, full;
	assert_int_equal(direct("held.test", 443, AF_INET, &held), 0);
	struct proxy_ask *q = wait_question();
	/* One under way, at max_connections 1. */
	assert_int_equal(direct("127.0.0.1", 9, AF_INET, &full), -ECONNREFUSED);
	run_on_loop(call_cancel, &held);
	proxy_ask_answer(q, true, NULL);
	usleep(100 * 1000);
	assert_int_equal(done_count(&held), 0);
	assert_int_equal(done_count(&r), 0);
	assert_int_equal(event_count(), 0);

	/* The count went with them: there is room again. */
	uint16_t port = closed_port();
	struct req again;
	assert_int_equal(direct("127.0.0.1", port, AF_INET, &again), 0);
	wait_done(&again);
	assert_int_equal(again.err, ECONNREFUSED);
	fx_stop();
	assert_int_equal(done_count(&held), 0);
	assert_int_equal(done_count(&r), 0);
	assert_int_equal(full.n_done, 0);
	net_policy_free(np);
}

/* The server closes with a request under way: done(-1, ECONNREFUSED), and
 * the server frees itself once it is gone. */
static void test_server_close(void **state)
{
	(void)state;
	struct net_policy *np = build_policy(ALLOW_LOOPBACK);
	ask_timeout_ms = WAIT_MS;
	fx_start(np, NULL, ASK_ASYNC, 0);
	struct req r;
	assert_int_equal(direct("held.test", 443, AF_INET, &r), 0);
	struct proxy_ask *q = wait_question();
	fx_stop();
	assert_int_equal(r.n_done, 1);
	assert_int_equal(r.fd, -1);
	assert_int_equal(r.err, ECONNREFUSED);
	assert_false(r.has_rule);
	proxy_ask_answer(q, true, NULL); /* after the server: only frees it */
	net_policy_free(np);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_allowed_literal),
		cmocka_unit_test(test_allowed_ipv6),
		cmocka_unit_test(test_denied),
		cmocka_unit_test(test_refused_by_server),
		cmocka_unit_test(test_guard),
		cmocka_unit_test(test_ask),
		cmocka_unit_test(test_ask_timeout),
		cmocka_unit_test(test_cancel),
		cmocka_unit_test(test_server_close),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
