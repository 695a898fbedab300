/* Unit tests for proxy_server_direct (the connect broker's transparent connections): decisions, asking, the guard, dialing, cancelling and closing, with a proxy_server on a libuv loop in a thread (proxy_harness.h) and origins on 127.0.0.1 and ::1. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>

#define SETTINGS "/etc/test-direct.json"
#include "proxy_harness.h"

#include <poll.h>

/* --- the server and its direct requests ----------------------------------- */

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

/* Under F's lock, like F's fields. */
static bool in_direct;          /* on the loop thread, inside proxy_server_direct */
static bool done_inside;        /* done called from inside proxy_server_direct */
static int questions_taken;     /* of AQ, by wait_question */

static void done_cb(void *data, int fd, int err, const char *rule)
{
	struct req *r = data;
	pthread_mutex_lock(&F.mu);
	if (!pthread_equal(pthread_self(), F.thread))
		F.wrong_thread = true;
	if (in_direct)
		done_inside = true;
	r->n_done++;
	r->fd = fd;
	r->err = err;
	r->has_rule = rule != NULL;
	snprintf(r->rule, sizeof(r->rule), "%s", rule ? rule : "");
	pthread_cond_broadcast(&F.cv);
	pthread_mutex_unlock(&F.mu);
}

static void fx_start(const struct net_policy *np, const struct net_policy *extra, int ask, unsigned max_connections)
{
	struct fx *f = &F;
	fx_init();
	in_direct = done_inside = false;
	questions_taken = 0;
	aq_reset();
	f->hooks.extra = extra;
	f->hooks.ask = (ask & ASK_BLOCKING) ? ask_hook : NULL;
	f->hooks.ask_async = (ask & ASK_ASYNC) ? ask_async_hook : NULL;
	f->hooks.ask_timeout = (ask & ASK_ASYNC) ? short_timeout : NULL;
	struct proxy_options o = fx_options(np);
	if (max_connections)
		o.limits.max_connections = max_connections;
	assert_int_equal(proxy_server_new(&f->loop, &o, &f->srv), 0);
	fx_run();
}

/* fx_start with the policy of json, which the caller frees after fx_stop. */
static struct net_policy *fx_start_json(const char *json, const struct net_policy *extra, int ask,
					unsigned max_connections)
{
	struct net_policy *np = build_policy(json);
	fx_start(np, extra, ask, max_connections);
	return np;
}

/* Close the server and run the loop to its end: every handle closed. */
static void fx_stop(void)
{
	fx_join();
	assert_true(F.closed);
	assert_false(done_inside);
}

struct direct_args {
	const char *host;
	uint16_t port;
	int family;
	struct req *r;
	bool cancel;            /* cancel at once, in the same loop turn */
	bool early;             /* proxy_direct_early */
};

static void call_direct(void *arg)
{
	struct direct_args *a = arg;
	in_direct = true;
	a->r->ret = proxy_server_direct(F.srv, a->host, a->port, a->family, done_cb, a->r, &a->r->d);
	in_direct = false;
	if (a->early && a->r->ret == 0)
		proxy_direct_early(a->r->d);
	if (a->cancel && a->r->ret == 0)
		proxy_direct_cancel(a->r->d);
}

static void call_cancel(void *arg)
{
	struct req *r = arg;
	proxy_direct_cancel(r->d);
}

/* A request handed over once its dial is under way. */
static void direct_done_early(const char *host, uint16_t port, int family, struct req *r)
{
	memset(r, 0, sizeof(*r));
	r->fd = -2;
	struct direct_args a = { .host = host, .port = port, .family = family, .r = r, .early = true };
	run_on_loop(call_direct, &a);
	assert_int_equal(r->ret, 0);
	assert_int_equal(wait_count(&F.mu, &F.cv, &r->n_done, 1), 1);
}

/* Start a direct request (cancelled at once when cancel); returns
 * proxy_server_direct's result. */
static int direct_call(const char *host, uint16_t port, int family, struct req *r, bool cancel)
{
	memset(r, 0, sizeof(*r));
	r->fd = -2;
	struct direct_args a = { .host = host, .port = port, .family = family, .r = r, .cancel = cancel };
	run_on_loop(call_direct, &a);
	return r->ret;
}

static int direct(const char *host, uint16_t port, int family, struct req *r)
{
	return direct_call(host, port, family, r, false);
}

/* Wait for r's done call. */
static void wait_done(struct req *r)
{
	assert_int_equal(wait_count(&F.mu, &F.cv, &r->n_done, 1), 1);
}

/* The next question the ask_async hook holds. */
static struct proxy_ask *wait_question(void)
{
	return aq_wait(questions_taken++);
}

/* A request for host:443 whose question the ask_async hook holds; returns
 * the question. */
static struct proxy_ask *direct_held(const char *host, struct req *r)
{
	assert_int_equal(direct(host, 443, AF_INET, r), 0);
	return wait_question();
}

static int done_count(const struct req *r)
{
	return locked_int(&r->n_done);
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
	set_timeouts(fd);
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
	int port;
	o->lfd = try_listen_on(family == AF_INET ? "127.0.0.1" : "::1", &port);
	if (o->lfd < 0)
		return false;
	o->port = (uint16_t)port;
	assert_int_equal(pthread_create(&o->th, NULL, origin_main, o), 0);
	return true;
}

static void origin_join(struct origin *o)
{
	shutdown(o->lfd, SHUT_RDWR); /* an accept() still waiting returns */
	pthread_join(o->th, NULL);
	close(o->lfd);
}

#define ECHO_MSG "hello through a handed-over socket"

/* The socket handed over works: bytes go to the origin and come back. */
static void assert_echo(int fd)
{
	int fl = fcntl(fd, F_GETFL);
	assert_true(fl >= 0 && (fl & O_NONBLOCK));
	assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	assert_int_equal(fcntl(fd, F_SETFL, fl & ~O_NONBLOCK), 0);
	set_timeouts(fd);
	static const char msg[] = ECHO_MSG;
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

/* --- outcomes --------------------------------------------------------------- */

/* A request under way (proxy_server_direct returned 0), then its done call. */
static void direct_done(const char *host, uint16_t port, int family, struct req *r)
{
	assert_int_equal(direct(host, port, family, r), 0);
	wait_done(r);
}

/* r got a connected socket, which echoes through its origin; closed after. */
static void assert_connected(const struct req *r)
{
	assert_int_equal(r->err, 0);
	assert_true(r->fd >= 0);
	assert_echo(r->fd);
	close(r->fd);
}

static void assert_refused(const struct req *r)
{
	assert_int_equal(r->fd, -1);
	assert_int_equal(r->err, ECONNREFUSED);
}

/* The n-th event (from 1): host allowed, dialed at address. */
static struct rec allowed_event(int n, const char *host, const char *address)
{
	struct rec e = nth_event(n);
	assert_true(e.allowed);
	assert_string_equal(e.via, "transparent");
	assert_string_equal(e.host, host);
	assert_string_equal(e.address, address);
	return e;
}

/* The n-th event (from 1): a denial by rule. */
static struct rec denied_event(int n, const char *rule)
{
	struct rec e = nth_event(n);
	assert_false(e.allowed);
	assert_string_equal(e.via, "transparent");
	assert_string_equal(e.rule, rule);
	return e;
}

/* host at o's port from a family socket: connected and echoed, o done;
 * returns the n-th event, the allowed one. */
static struct rec expect_echoed(struct origin *o, const char *host, int family, const char *address, int n)
{
	struct req r;
	direct_done(host, o->port, family, &r);
	assert_connected(&r);
	origin_join(o);
	return allowed_event(n, host, address);
}

/* host:port refused by a rule, which the n-th event names too; returns r's rule. */
static const char *expect_denied(const char *host, uint16_t port, int family, struct req *r, int n)
{
	direct_done(host, port, family, r);
	assert_refused(r);
	assert_true(r->has_rule);
	denied_event(n, r->rule);
	return r->rule;
}

#define ALLOW_LOOPBACK "{\"network\": {\"allowedDomains\": [\"127.0.0.1\", \"[::1]\"]," \
		       " \"deniedDomains\": [\"evil.test\"], \"deniedDomainReasons\": {\"evil.test\": \"known bad\"}}}"

/* --- tests ------------------------------------------------------------------ */

/* An allowed IP literal: the connected socket, then one event. */
static void test_allowed_literal(void **state)
{
	(void)state;
	struct net_policy *np = fx_start_json(ALLOW_LOOPBACK, NULL, 0, 0);
	struct origin o;
	assert_true(origin_start(&o, AF_INET));
	struct req r;
	direct_done("127.0.0.1", o.port, AF_INET, &r);
	assert_false(r.has_rule);
	struct rec e = allowed_event(1, "127.0.0.1", "127.0.0.1");
	assert_int_equal(e.port, o.port);
	assert_prefix(e.rule, "allowedDomains: 127.0.0.1 (" SETTINGS ":");
	assert_string_equal(e.error, "");
	assert_false(e.has_closed_by);
	assert_int_equal(e.up, 0);
	assert_int_equal(e.down, 0);
	/* The server is closed; the socket is the program's now. */
	fx_stop();
	assert_connected(&r);
	origin_join(&o);
	assert_int_equal(o.echoed, sizeof(ECHO_MSG));
	assert_int_equal(event_count(), 1);
	net_policy_free(np);
}

/* A non-blocking program's request: the socket comes while its connect is
 * under way (EINPROGRESS); it becomes writable with SO_ERROR 0 and echoes.
 * To a closed port: it comes as well, and SO_ERROR says ECONNREFUSED. */
static void test_early_hand_over(void **state)
{
	(void)state;
	struct net_policy *np = fx_start_json(ALLOW_LOOPBACK, NULL, 0, 0);
	struct origin o;
	assert_true(origin_start(&o, AF_INET));
	struct req r;
	direct_done_early("127.0.0.1", o.port, AF_INET, &r);
	assert_int_equal(r.err, EINPROGRESS);
	assert_true(r.fd >= 0);
	struct pollfd p = { .fd = r.fd, .events = POLLOUT };
	assert_int_equal(poll(&p, 1, 10000), 1);
	int soerr = -1;
	socklen_t sl = sizeof(soerr);
	assert_int_equal(getsockopt(r.fd, SOL_SOCKET, SO_ERROR, &soerr, &sl), 0);
	assert_int_equal(soerr, 0);
	assert_echo(r.fd);
	close(r.fd);
	origin_join(&o);

	int closed = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t al = sizeof(a);
	assert_int_equal(bind(closed, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(getsockname(closed, (struct sockaddr *)&a, &al), 0);
	direct_done_early("127.0.0.1", ntohs(a.sin_port), AF_INET, &r);
	assert_int_equal(r.err, EINPROGRESS);
	assert_true(r.fd >= 0);
	p = (struct pollfd){ .fd = r.fd, .events = POLLOUT };
	assert_int_equal(poll(&p, 1, 10000), 1);
	sl = sizeof(soerr);
	assert_int_equal(getsockopt(r.fd, SOL_SOCKET, SO_ERROR, &soerr, &sl), 0);
	assert_int_equal(soerr, ECONNREFUSED);
	close(r.fd);
	close(closed);
	fx_stop();
	net_policy_free(np);
}

/* ::1 for an AF_INET6 socket, where the host has IPv6 loopback. */
static void test_allowed_ipv6(void **state)
{
	(void)state;
	struct origin o;
	if (!origin_start(&o, AF_INET6))
		skip();
	struct net_policy *np = fx_start_json(ALLOW_LOOPBACK, NULL, 0, 0);
	expect_echoed(&o, "::1", AF_INET6, "::1", 1);
	fx_stop();
	net_policy_free(np);
}

/* deniedDomains (with its reason) and the default deny: ECONNREFUSED with
 * the event's rule; nothing is dialed. */
static void test_denied(void **state)
{
	(void)state;
	struct net_policy *np = fx_start_json(ALLOW_LOOPBACK, NULL, 0, 0);
	struct req r;
	assert_prefix(expect_denied("evil.test", 443, AF_INET, &r, 1), "deniedDomains: evil.test (" SETTINGS ":");
	struct rec e = event_at(0);
	assert_string_equal(e.host, "evil.test");
	assert_int_equal(e.port, 443);
	assert_string_equal(e.address, "");

	assert_string_equal(expect_denied("nowhere.test", 80, AF_INET6, &r, 2), "no allowedDomains entry matches");

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
	struct net_policy *np = fx_start_json(ALLOW_LOOPBACK, NULL, 0, 0);
	struct req r;
	direct_done("127.0.0.1", closed_port(), AF_INET, &r);
	assert_refused(&r);
	assert_false(r.has_rule);
	struct rec e = allowed_event(1, "127.0.0.1", "127.0.0.1");
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
	struct net_policy *extra = build_localhost_list();
	struct net_policy *np = fx_start_json(ALLOW_EXAMPLE, extra, 0, 0);
	struct origin o;
	assert_true(origin_start(&o, AF_INET));
	/* An AF_INET6 socket still gets the IPv4 address, after any IPv6 one. */
	struct rec e = expect_echoed(&o, "localhost", AF_INET6, "127.0.0.1", 1);
	assert_string_equal(e.rule, "allowedDomains: localhost (sandbox test: allowedDomains[0])");
	fx_stop();
	net_policy_free(np);

	/* The policy's deniedResolvedAddresses are not lifted by the list. */
	np = fx_start_json(ALLOW_EXAMPLE_DENY_LOOPBACK, extra, 0, 0);
	struct req r;
	assert_prefix(expect_denied("localhost", 9, AF_INET, &r, 1), "resolved address ");
	fx_stop();
	net_policy_free(np);
	net_policy_free(extra);

	/* Allowed by asking, without an entry that lifts loopback: the
	 * guard refuses. */
	np = fx_start_json(ALLOW_EXAMPLE, NULL, ASK_BLOCKING, 0);
	F.ask_answer = true;
	assert_string_equal(expect_denied("localhost", 9, AF_INET, &r, 1), "resolved address 127.0.0.1 is loopback");
	fx_stop();
	net_policy_free(np);
}

/* The blocking ask hook: allowed (dialed), denied with a reason. */
static void test_ask(void **state)
{
	(void)state;
	struct net_policy *np = fx_start_json(ALLOW_EXAMPLE, NULL, ASK_BLOCKING, 0);
	struct origin o;
	assert_true(origin_start(&o, AF_INET));
	F.ask_answer = true;
	struct rec e = expect_echoed(&o, "127.0.0.1", AF_INET, "127.0.0.1", 1);
	assert_string_equal(e.rule, "asked: allowed");

	pthread_mutex_lock(&F.mu);
	F.ask_answer = false;
	snprintf(F.ask_reason, sizeof(F.ask_reason), "not today");
	pthread_mutex_unlock(&F.mu);
	struct req r;
	assert_string_equal(expect_denied("asked.test", 443, AF_INET, &r, 2), "asked: not today");
	assert_string_equal(event_at(1).host, "asked.test");
	assert_int_equal(F.n_asked, 2);
	fx_stop();
	net_policy_free(np);
}

/* The asynchronous hook, left without an answer: the ask timeout denies. */
static void test_ask_timeout(void **state)
{
	(void)state;
	ask_timeout_ms = 200;
	struct net_policy *np = fx_start_json(ALLOW_EXAMPLE, NULL, ASK_ASYNC, 0);
	struct req r;
	struct proxy_ask *q = direct_held("slow.test", &r);
	wait_done(&r);
	assert_refused(&r);
	assert_string_equal(r.rule, "asked: no answer in time");
	denied_event(1, r.rule);
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
	ask_timeout_ms = WAIT_MS;
	struct net_policy *np = fx_start_json(ALLOW_LOOPBACK, NULL, ASK_ASYNC, 1);
	struct req r;
	assert_int_equal(direct_call("127.0.0.1", 9, AF_INET, &r, true), 0);
	usleep(100 * 1000); /* its close callbacks run */

	struct req held, full;
	struct proxy_ask *q = direct_held("held.test", &held);
	/* One under way, at max_connections 1. */
	assert_int_equal(direct("127.0.0.1", 9, AF_INET, &full), -ECONNREFUSED);
	run_on_loop(call_cancel, &held);
	proxy_ask_answer(q, true, NULL);
	usleep(100 * 1000);
	assert_int_equal(done_count(&held), 0);
	assert_int_equal(done_count(&r), 0);
	assert_int_equal(event_count(), 0);

	/* The count went with them: there is room again. */
	struct req again;
	direct_done("127.0.0.1", closed_port(), AF_INET, &again);
	assert_refused(&again);
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
	ask_timeout_ms = WAIT_MS;
	struct net_policy *np = fx_start_json(ALLOW_LOOPBACK, NULL, ASK_ASYNC, 0);
	struct req r;
	struct proxy_ask *q = direct_held("held.test", &r);
	fx_stop();
	assert_int_equal(r.n_done, 1);
	assert_refused(&r);
	assert_false(r.has_rule);
	proxy_ask_answer(q, true, NULL); /* after the server: only frees it */
	net_policy_free(np);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_allowed_literal),
		cmocka_unit_test(test_early_hand_over),
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
