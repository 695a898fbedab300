/* Unit tests for the proxy's hooks: events, per-sandbox allow lists, the policy hook (reload) and the ask callback, with a proxy_server on a libuv loop in a thread (proxy_harness.h), upstreams and clients on 127.0.0.1. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#define SETTINGS "/etc/test-proxy.json"
#include "proxy_harness.h"

/* --- the proxy on its loop thread ---------------------------------------- */

enum { USE_POLICY_HOOK = 1, USE_ASK = 2, NO_HOOKS = 4 };

/* When not 0, fx_start adds a FORWARD listener to 127.0.0.1 at this port. */
static int forward_to;

/* Start a proxy deciding with np (through the policy hook when asked to),
 * with an optional extra list. */
static void fx_start(const struct net_policy *np, const struct net_policy *extra, int flags, unsigned head_timeout_ms)
{
	struct fx *f = &F;
	fx_init();
	f->current = np;
	f->hooks.policy = (flags & USE_POLICY_HOOK) ? policy_hook : NULL;
	f->hooks.extra = extra;
	f->hooks.ask = (flags & USE_ASK) ? ask_hook : NULL;
	struct proxy_options o = fx_options(np);
	if (flags & NO_HOOKS)
		o.hooks = NULL;
	if (head_timeout_ms)
		o.limits.head_timeout_ms = head_timeout_ms;
	assert_int_equal(proxy_server_new(&f->loop, &o, &f->srv), 0);
	int fd = listen_on("127.0.0.1", &f->http_port);
	assert_int_equal(proxy_server_listen(f->srv, PROXY_KIND_HTTP, fd, NULL, 0), 0);
	fd = listen_on("127.0.0.1", &f->socks_port);
	assert_int_equal(proxy_server_listen(f->srv, PROXY_KIND_SOCKS, fd, NULL, 0), 0);
	if (forward_to) {
		struct sockaddr_in t = { .sin_family = AF_INET, .sin_port = htons((uint16_t)forward_to) };
		inet_pton(AF_INET, "127.0.0.1", &t.sin_addr);
		fd = listen_on("127.0.0.1", &f->forward_port);
		assert_int_equal(proxy_server_listen(f->srv, PROXY_KIND_FORWARD, fd, (struct sockaddr *)&t, sizeof(t)), 0);
		forward_to = 0;
	}
	fx_run();
}

/* Nothing to check beyond what fx_join does. */
static void fx_stop(void)
{
	fx_join();
}

/* --- upstream servers ----------------------------------------------------- */

enum up_mode {
	UP_ECHO_N,  /* read n bytes, check them, write n bytes, close */
	UP_HTTP,    /* answer every request head with a fixed response until EOF */
	UP_DRAIN,   /* read until EOF */
};

struct upstream {
	int lfd;
	int port;
	pthread_t th;
	enum up_mode mode;
	size_t n;
	int accepts;            /* connections to serve, one after another */
	/* results */
	size_t got;
	bool data_ok;
	size_t req_bytes[8];    /* UP_HTTP: bytes of each request received */
	int n_reqs;
};

static uint8_t pattern(size_t i, unsigned seed)
{
	return (uint8_t)((i * 7 + seed) & 0xff);
}

static bool write_all(int fd, const void *p, size_t n)
{
	const char *c = p;
	while (n > 0) {
		ssize_t w = send(fd, c, n, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return false;
		c += w;
		n -= (size_t)w;
	}
	return true;
}

static void *upstream_main(void *arg)
{
	struct upstream *u = arg;
	for (int k = 0; k < u->accepts; k++) {
		int fd = accept4(u->lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0)
			return NULL;
		set_timeouts(fd);
		if (u->mode == UP_ECHO_N) {
			u->data_ok = true;
			char buf[65536];
			while (u->got < u->n) {
				size_t want = u->n - u->got < sizeof(buf) ? u->n - u->got : sizeof(buf);
				ssize_t r = recv(fd, buf, want, 0);
				if (r <= 0)
					break;
				for (ssize_t i = 0; i < r; i++)
					if ((uint8_t)buf[i] != pattern(u->got + (size_t)i, 1))
						u->data_ok = false;
				u->got += (size_t)r;
			}
			for (size_t off = 0; off < u->n;) {
				size_t chunk = u->n - off < sizeof(buf) ? u->n - off : sizeof(buf);
				for (size_t i = 0; i < chunk; i++)
					buf[i] = (char)pattern(off + i, 2);
				if (!write_all(fd, buf, chunk))
					break;
				off += chunk;
			}
		} else if (u->mode == UP_HTTP) {
			char buf[8192];
			size_t have = 0;
			for (;;) {
				char *end = have ? memmem(buf, have, "\r\n\r\n", 4) : NULL;
				if (!end) {
					ssize_t r = recv(fd, buf + have, sizeof(buf) - have, 0);
					if (r <= 0)
						break;
					have += (size_t)r;
					continue;
				}
				size_t len = (size_t)(end - buf) + 4;
				if (u->n_reqs < 8)
					u->req_bytes[u->n_reqs] = len;
				u->n_reqs++;
				memmove(buf, buf + len, have - len);
				have -= len;
				static const char resp[] = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";
				if (!write_all(fd, resp, sizeof(resp) - 1))
					break;
			}
		} else {
			char buf[4096];
			while (recv(fd, buf, sizeof(buf), 0) > 0)
				;
		}
		close(fd);
	}
	return NULL;
}

static void upstream_start(struct upstream *u, const char *addr, enum up_mode mode, size_t n, int accepts)
{
	memset(u, 0, sizeof(*u));
	u->lfd = listen_on(addr, &u->port);
	u->mode = mode;
	u->n = n;
	u->accepts = accepts;
	assert_int_equal(pthread_create(&u->th, NULL, upstream_main, u), 0);
}

static void upstream_join(struct upstream *u)
{
	pthread_join(u->th, NULL);
	close(u->lfd);
}

/* --- clients -------------------------------------------------------------- */

static int connect_to(int port)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
	assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	set_timeouts(fd);
	return fd;
}

/* Read one HTTP response (head and Content-Length body) into out (NUL-
 * terminated); returns its status, or -1. *total gets the bytes read. */
static int read_response(int fd, char *out, size_t size, size_t *total)
{
	size_t have = 0;
	char *end = NULL;
	while (!(end = have ? memmem(out, have, "\r\n\r\n", 4) : NULL)) {
		if (have + 1 >= size)
			return -1;
		ssize_t r = recv(fd, out + have, 1, 0); /* byte by byte: leave the rest in the socket */
		if (r <= 0)
			return -1;
		have += (size_t)r;
	}
	out[have] = '\0';
	size_t body = 0;
	const char *cl = strcasestr(out, "\r\nContent-Length:");
	if (cl)
		body = strtoul(cl + 17, NULL, 10);
	if (have + body + 1 > size)
		return -1;
	while (body > 0) {
		ssize_t r = recv(fd, out + have, body, 0);
		if (r <= 0)
			return -1;
		have += (size_t)r;
		body -= (size_t)r;
	}
	out[have] = '\0';
	if (total)
		*total = have;
	int status = -1;
	sscanf(out, "HTTP/1.%*d %d", &status);
	return status;
}

static int http_connect(int fd, const char *authority, char *resp, size_t size)
{
	char req[512];
	int n = snprintf(req, sizeof(req), "CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n", authority, authority);
	assert_true(write_all(fd, req, (size_t)n));
	return read_response(fd, resp, size, NULL);
}

static bool read_n(int fd, void *p, size_t n)
{
	char *c = p;
	while (n > 0) {
		ssize_t r = recv(fd, c, n, 0);
		if (r <= 0)
			return false;
		c += r;
		n -= (size_t)r;
	}
	return true;
}

/* SOCKS5 CONNECT to an IPv4 address or a name; returns the reply code, or
 * -1 when the exchange broke. */
static int socks_connect(int fd, const char *host, uint16_t port)
{
	uint8_t greet[] = { 5, 1, 0 };
	assert_true(write_all(fd, greet, sizeof(greet)));
	uint8_t m[2];
	if (!read_n(fd, m, 2) || m[0] != 5 || m[1] != 0)
		return -1;
	uint8_t req[300];
	size_t n = 0;
	req[n++] = 5;
	req[n++] = 1;
	req[n++] = 0;
	struct in_addr a4;
	if (inet_pton(AF_INET, host, &a4) == 1) {
		req[n++] = 1;
		memcpy(req + n, &a4, 4);
		n += 4;
	} else {
		size_t l = strlen(host);
		req[n++] = 3;
		req[n++] = (uint8_t)l;
		memcpy(req + n, host, l);
		n += l;
	}
	req[n++] = (uint8_t)(port >> 8);
	req[n++] = (uint8_t)port;
	assert_true(write_all(fd, req, n));
	uint8_t rep[10];
	if (!read_n(fd, rep, 10) || rep[0] != 5)
		return -1;
	return rep[1];
}

/* Send n pattern bytes, read n back and check them, then wait for EOF. */
static void exchange_n(int fd, size_t n)
{
	char buf[65536];
	for (size_t off = 0; off < n;) {
		size_t chunk = n - off < sizeof(buf) ? n - off : sizeof(buf);
		for (size_t i = 0; i < chunk; i++)
			buf[i] = (char)pattern(off + i, 1);
		assert_true(write_all(fd, buf, chunk));
		off += chunk;
	}
	size_t got = 0;
	bool ok = true;
	for (;;) {
		ssize_t r = recv(fd, buf, sizeof(buf), 0);
		if (r <= 0)
			break;
		for (ssize_t i = 0; i < r; i++)
			if ((uint8_t)buf[i] != pattern(got + (size_t)i, 2))
				ok = false;
		got += (size_t)r;
	}
	assert_int_equal(got, n);
	assert_true(ok);
}

static void assert_contains(const char *s, const char *part)
{
	if (!strstr(s, part))
		fail_msg("'%s' does not contain '%s'", s, part);
}

/* The status line of resp (up to its CRLF) into out; fails unless it is
 * one line of printable ASCII. */
static void status_line(const char *resp, char *out, size_t size)
{
	const char *end = strstr(resp, "\r\n");
	assert_non_null(end);
	size_t n = (size_t)(end - resp);
	assert_true(n < size);
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)resp[i] < 0x20 || (unsigned char)resp[i] > 0x7e)
			fail_msg("byte 0x%02x at %zu of the status line '%.*s'", (unsigned char)resp[i], i, (int)n, resp);
	memcpy(out, resp, n);
	out[n] = '\0';
}

/* --- tests ---------------------------------------------------------------- */

#define ALLOW_LOOPBACK_IP "{\"network\": {\"allowedDomains\": [\"127.0.0.1\"], \"deniedDomains\": [\"evil.test\"]," \
			  " \"deniedDomainReasons\": {\"evil.test\": \"no evil\"}}}"

/* CONNECT to an allowed upstream, N bytes each way; then a denial. */
static void test_connect_events(void **state)
{
	(void)state;
	struct net_policy *np = build_policy(ALLOW_LOOPBACK_IP);
	fx_start(np, NULL, 0, 0);
	const size_t N = 3 * 1024 * 1024 + 17;
	struct upstream u;
	upstream_start(&u, "127.0.0.1", UP_ECHO_N, N, 1);

	int fd = connect_to(F.http_port);
	char resp[4096], auth[64];
	snprintf(auth, sizeof(auth), "127.0.0.1:%d", u.port);
	assert_int_equal(http_connect(fd, auth, resp, sizeof(resp)), 200);
	exchange_n(fd, N);
	close(fd);
	upstream_join(&u);
	assert_int_equal(u.got, N);
	assert_true(u.data_ok);
	assert_int_equal(wait_events(1), 1);
	struct rec e = event_at(0);
	assert_true(e.allowed);
	assert_string_equal(e.host, "127.0.0.1");
	assert_int_equal(e.port, u.port);
	assert_string_equal(e.address, "127.0.0.1");
	assert_string_equal(e.via, "connect");
	assert_false(e.has_error);
	assert_int_equal(e.up, N);
	assert_int_equal(e.down, N);
	assert_true(e.duration_ns > 0);
	assert_prefix(e.rule, "allowedDomains: 127.0.0.1 (" SETTINGS ":");
	assert_contains(e.rule, "network.allowedDomains[0])");

	/* A denied name: 403 with the reason, one refused event. */
	fd = connect_to(F.http_port);
	assert_int_equal(http_connect(fd, "evil.test:443", resp, sizeof(resp)), 403);
	assert_contains(resp, "X-Proxy-Error: blocked-by-allowlist");
	assert_contains(resp, "no evil");
	char line[256];
	status_line(resp, line, sizeof(line));
	assert_string_equal(line, "HTTP/1.1 403 Forbidden by sandbox: evil.test:443 denied by deniedDomains: no evil");
	close(fd);
	assert_int_equal(wait_events(2), 2);
	e = event_at(1);
	assert_false(e.allowed);
	assert_string_equal(e.host, "evil.test");
	assert_int_equal(e.port, 443);
	assert_string_equal(e.address, "");
	assert_string_equal(e.via, "connect");
	assert_int_equal(e.up, 0);
	assert_int_equal(e.down, 0);
	assert_prefix(e.rule, "deniedDomains: evil.test (" SETTINGS ":");

	/* The default deny, without extra list or ask. */
	fd = connect_to(F.http_port);
	assert_int_equal(http_connect(fd, "nowhere.test:80", resp, sizeof(resp)), 403);
	status_line(resp, line, sizeof(line));
	assert_string_equal(line, "HTTP/1.1 403 Forbidden by sandbox: nowhere.test:80 not in allowedDomains");
	close(fd);
	assert_int_equal(wait_events(3), 3);
	e = event_at(2);
	assert_false(e.allowed);
	assert_string_equal(e.rule, "no allowedDomains entry matches");

	/* Allowed, but nothing listens: allowed=true with the error. */
	int dead_port = closed_port();
	fd = connect_to(F.http_port);
	snprintf(auth, sizeof(auth), "127.0.0.1:%d", dead_port);
	assert_int_equal(http_connect(fd, auth, resp, sizeof(resp)), 502);
	close(fd);
	assert_int_equal(wait_events(4), 4);
	e = event_at(3);
	assert_true(e.allowed);
	assert_true(e.has_error);
	assert_string_equal(e.error, "connection refused");
	assert_string_equal(e.address, "127.0.0.1");
	assert_prefix(e.rule, "allowedDomains: 127.0.0.1");
	/* Not a denial: the status's own phrase. */
	status_line(resp, line, sizeof(line));
	assert_string_equal(line, "HTTP/1.1 502 Bad Gateway");

	/* The longest name there is: cut in the phrase, which still ends
	 * with the cause and stays within 120 bytes. */
	char name[300], *p = name;
	for (int i = 0; i < 3; i++) {
		memset(p, 'a' + i, 63);
		p += 63;
		*p++ = '.';
	}
	memset(p, 'd', 61);
	p[61] = '\0';
	assert_int_equal(strlen(name), 253);
	fd = connect_to(F.http_port);
	char req[1024];
	int n = snprintf(req, sizeof(req), "GET http://%s/ HTTP/1.1\r\nHost: %s\r\n\r\n", name, name);
	assert_true(write_all(fd, req, (size_t)n));
	assert_int_equal(read_response(fd, resp, sizeof(resp), NULL), 403);
	close(fd);
	status_line(resp, line, sizeof(line));
	/* 64 bytes of host at most: 61 of the first label and "...". */
	char want[256];
	snprintf(want, sizeof(want), "HTTP/1.1 403 Forbidden by sandbox: %.61s... not in allowedDomains", name);
	assert_string_equal(line, want);
	assert_true(strlen(line) - strlen("HTTP/1.1 403 ") <= 120);
	assert_contains(resp, name); /* the body has all of it */
	assert_int_equal(wait_events(5), 5);

	fx_stop();
	assert_int_equal(event_count(), 5);
	net_policy_free(np);
}

/* SOCKS5: an allowed IPv4 CONNECT with bytes both ways, a denial (0x02). */
static void test_socks_events(void **state)
{
	(void)state;
	struct net_policy *np = build_policy(ALLOW_LOOPBACK_IP);
	fx_start(np, NULL, 0, 0);
	const size_t N = 100000;
	struct upstream u;
	upstream_start(&u, "127.0.0.1", UP_ECHO_N, N, 1);
	int fd = connect_to(F.socks_port);
	assert_int_equal(socks_connect(fd, "127.0.0.1", (uint16_t)u.port), 0);
	exchange_n(fd, N);
	close(fd);
	upstream_join(&u);
	assert_int_equal(wait_events(1), 1);
	struct rec e = event_at(0);
	assert_true(e.allowed);
	assert_string_equal(e.via, "socks5");
	assert_string_equal(e.host, "127.0.0.1");
	assert_string_equal(e.address, "127.0.0.1");
	assert_int_equal(e.up, N);
	assert_int_equal(e.down, N);

	fd = connect_to(F.socks_port);
	assert_int_equal(socks_connect(fd, "evil.test", 443), 2);
	close(fd);
	assert_int_equal(wait_events(2), 2);
	e = event_at(1);
	assert_false(e.allowed);
	assert_string_equal(e.via, "socks5");
	assert_string_equal(e.host, "evil.test");
	assert_prefix(e.rule, "deniedDomains: evil.test");
	fx_stop();
	assert_int_equal(event_count(), 2);
	net_policy_free(np);
}

/* Absolute-form requests on one kept-alive connection: one event per
 * request, each decided again. */
static void test_http_keepalive_events(void **state)
{
	(void)state;
	struct net_policy *np = build_policy(ALLOW_LOOPBACK_IP);
	fx_start(np, NULL, 0, 0);
	struct upstream u;
	/* Two upstream connections: the denied request in between drops the
	 * kept-alive one. */
	upstream_start(&u, "127.0.0.1", UP_HTTP, 0, 2);
	int fd = connect_to(F.http_port);
	char req[512], resp[4096];
	size_t got[4];
	for (int i = 0; i < 4; i++) {
		const char *host = i == 1 ? "evil.test" : "127.0.0.1";
		int n = i == 1 ? snprintf(req, sizeof(req), "GET http://evil.test/x HTTP/1.1\r\nHost: evil.test\r\n\r\n") :
				 snprintf(req, sizeof(req), "GET http://%s:%d/r%d HTTP/1.1\r\nHost: %s\r\n\r\n", host,
					  u.port, i, host);
		assert_true(write_all(fd, req, (size_t)n));
		assert_int_equal(read_response(fd, resp, sizeof(resp), &got[i]), i == 1 ? 403 : 200);
	}
	close(fd);
	upstream_join(&u);
	assert_int_equal(u.n_reqs, 3);
	assert_int_equal(wait_events(4), 4);
	struct rec e0 = event_at(0), e1 = event_at(1), e2 = event_at(2), e3 = event_at(3);
	assert_true(e0.allowed);
	assert_string_equal(e0.via, "http");
	assert_string_equal(e0.address, "127.0.0.1");
	assert_int_equal(e0.up, u.req_bytes[0]);
	assert_int_equal(e0.down, got[0]);
	assert_false(e1.allowed);
	assert_string_equal(e1.via, "http");
	assert_string_equal(e1.host, "evil.test");
	assert_int_equal(e1.port, 80);
	assert_true(e2.allowed);
	assert_string_equal(e2.address, "127.0.0.1");
	assert_int_equal(e2.up, u.req_bytes[1]);
	assert_int_equal(e2.down, got[2]);
	/* The fourth went over the kept-alive upstream of the third. */
	assert_true(e3.allowed);
	assert_string_equal(e3.address, "127.0.0.1");
	assert_int_equal(e3.up, u.req_bytes[2]);
	assert_int_equal(e3.down, got[3]);
	fx_stop();
	assert_int_equal(event_count(), 4);
	net_policy_free(np);
}

/* The extra list allows what the policy leaves to its default deny, but
 * not what the policy denies. */
static void test_extra_list(void **state)
{
	(void)state;
	struct net_policy *np = build_policy("{\"network\": {\"allowedDomains\": [\"127.0.0.1\"],"
					     " \"deniedDomains\": [\"evil.test\"]}}");
	static const char *const list[] = { "127.0.0.2", "evil.test", NULL };
	struct net_policy *extra = build_list(list);
	fx_start(np, extra, 0, 0);
	struct upstream u;
	upstream_start(&u, "127.0.0.2", UP_ECHO_N, 1000, 1);
	int fd = connect_to(F.http_port);
	char resp[4096], auth[64];
	snprintf(auth, sizeof(auth), "127.0.0.2:%d", u.port);
	assert_int_equal(http_connect(fd, auth, resp, sizeof(resp)), 200);
	exchange_n(fd, 1000);
	close(fd);
	upstream_join(&u);
	assert_int_equal(wait_events(1), 1);
	struct rec e = event_at(0);
	assert_true(e.allowed);
	assert_string_equal(e.host, "127.0.0.2");
	assert_string_equal(e.address, "127.0.0.2");
	assert_string_equal(e.rule, "allowedDomains: 127.0.0.2 (sandbox test: allowedDomains[0])");
	assert_int_equal(e.up, 1000);
	assert_int_equal(e.down, 1000);

	fd = connect_to(F.http_port);
	assert_int_equal(http_connect(fd, "evil.test:443", resp, sizeof(resp)), 403);
	close(fd);
	assert_int_equal(wait_events(2), 2);
	e = event_at(1);
	assert_false(e.allowed);
	assert_prefix(e.rule, "deniedDomains: evil.test");
	fx_stop();
	net_policy_free(extra);
	net_policy_free(np);
}

/* A name allowed by the extra list: its localhost entry lifts the guard;
 * the policy's own deniedResolvedAddresses still refuse (the guard's
 * refusal is the event). */
static void test_extra_guard(void **state)
{
	(void)state;
	struct net_policy *extra = build_localhost_list();
	struct net_policy *np = build_policy(ALLOW_EXAMPLE);
	fx_start(np, extra, 0, 0);
	struct upstream u;
	upstream_start(&u, "127.0.0.1", UP_ECHO_N, 10, 1);
	int fd = connect_to(F.socks_port);
	assert_int_equal(socks_connect(fd, "localhost", (uint16_t)u.port), 0);
	exchange_n(fd, 10);
	close(fd);
	upstream_join(&u);
	assert_int_equal(wait_events(1), 1);
	struct rec e = event_at(0);
	assert_true(e.allowed);
	assert_string_equal(e.host, "localhost");
	assert_string_equal(e.address, "127.0.0.1");
	assert_string_equal(e.rule, "allowedDomains: localhost (sandbox test: allowedDomains[0])");
	fx_stop();
	net_policy_free(np);

	np = build_policy(ALLOW_EXAMPLE_DENY_LOOPBACK);
	fx_start(np, extra, 0, 0);
	fd = connect_to(F.http_port);
	char resp[4096];
	assert_int_equal(http_connect(fd, "localhost:9", resp, sizeof(resp)), 403);
	assert_contains(resp, "X-Proxy-Error: blocked-by-sandbox-runtime");
	char line[256];
	status_line(resp, line, sizeof(line));
	assert_prefix(line, "HTTP/1.1 403 Forbidden by sandbox: localhost:9 resolves to a refused address: "
			    "deniedResolvedAddresses ");
	close(fd);
	assert_int_equal(wait_events(1), 1);
	e = event_at(0);
	assert_false(e.allowed);
	assert_string_equal(e.host, "localhost");
	assert_string_equal(e.address, "");
	assert_prefix(e.rule, "resolved address ");
	assert_contains(e.rule, " is deniedResolvedAddresses ");
	fx_stop();
	assert_int_equal(event_count(), 1);
	net_policy_free(np);
	net_policy_free(extra);
}

/* The policy hook: a reload between two connections is seen by the second. */
static void test_reload(void **state)
{
	(void)state;
	struct net_policy *a = build_policy(ALLOW_LOOPBACK_IP);
	struct net_policy *b = build_policy("{\"network\": {\"deniedDomains\": [\"127.0.0.1\"]}}");
	fx_start(NULL, NULL, USE_POLICY_HOOK, 0);
	__atomic_store_n(&F.current, a, __ATOMIC_SEQ_CST);
	struct upstream u;
	upstream_start(&u, "127.0.0.1", UP_ECHO_N, 10, 1);
	int fd = connect_to(F.socks_port);
	assert_int_equal(socks_connect(fd, "127.0.0.1", (uint16_t)u.port), 0);
	exchange_n(fd, 10);
	close(fd);
	upstream_join(&u);
	assert_int_equal(wait_events(1), 1);
	assert_true(event_at(0).allowed);

	__atomic_store_n(&F.current, b, __ATOMIC_SEQ_CST);
	fd = connect_to(F.socks_port);
	assert_int_equal(socks_connect(fd, "127.0.0.1", 9), 2);
	close(fd);
	assert_int_equal(wait_events(2), 2);
	struct rec e = event_at(1);
	assert_false(e.allowed);
	assert_prefix(e.rule, "deniedDomains: 127.0.0.1");
	assert_true(__atomic_load_n(&F.policy_calls, __ATOMIC_SEQ_CST) >= 2);
	fx_stop();
	net_policy_free(a);
	net_policy_free(b);
}

/* Ask: a denial with its reason, an allowance, and an answer that takes
 * longer than the head timeout. */
static void test_ask(void **state)
{
	(void)state;
	struct net_policy *np = build_policy("{\"network\": {\"deniedDomains\": [\"evil.test\"]}}");
	fx_start(np, NULL, USE_ASK, 100);
	F.ask_answer = false;
	snprintf(F.ask_reason, sizeof(F.ask_reason), "the user said no");
	int fd = connect_to(F.http_port);
	char resp[4096], auth[64];
	assert_int_equal(http_connect(fd, "asked.test:443", resp, sizeof(resp)), 403);
	assert_contains(resp, "the user said no");
	char line[256];
	status_line(resp, line, sizeof(line));
	assert_string_equal(line, "HTTP/1.1 403 Forbidden by sandbox: asked.test:443 denied when asked: the user said no");
	close(fd);
	wait_asked(1);
	assert_string_equal(F.asked_host, "asked.test");
	assert_int_equal(F.asked_port, 443);
	assert_int_equal(wait_events(1), 1);
	struct rec e = event_at(0);
	assert_false(e.allowed);
	assert_string_equal(e.rule, "asked: the user said no");
	assert_string_equal(e.host, "asked.test");

	/* Denied by the policy: not asked. */
	fd = connect_to(F.http_port);
	assert_int_equal(http_connect(fd, "evil.test:443", resp, sizeof(resp)), 403);
	close(fd);
	assert_int_equal(wait_events(2), 2);
	assert_prefix(event_at(1).rule, "deniedDomains: evil.test");
	assert_int_equal(F.n_asked, 1);

	/* Allowed after 400 ms, past the 100 ms head timeout. */
	pthread_mutex_lock(&F.mu);
	F.ask_answer = true;
	F.ask_delay_ms = 400;
	pthread_mutex_unlock(&F.mu);
	struct upstream u;
	upstream_start(&u, "127.0.0.1", UP_ECHO_N, 5000, 1);
	fd = connect_to(F.http_port);
	snprintf(auth, sizeof(auth), "127.0.0.1:%d", u.port);
	assert_int_equal(http_connect(fd, auth, resp, sizeof(resp)), 200);
	exchange_n(fd, 5000);
	close(fd);
	upstream_join(&u);
	assert_int_equal(wait_events(3), 3);
	e = event_at(2);
	assert_true(e.allowed);
	assert_string_equal(e.rule, "asked: allowed");
	assert_string_equal(e.address, "127.0.0.1");
	assert_int_equal(e.up, 5000);
	assert_int_equal(e.down, 5000);
	assert_true(e.duration_ns >= 400 * 1000000LL);

	/* The same over SOCKS5, denied: reply 0x02. */
	pthread_mutex_lock(&F.mu);
	F.ask_answer = false;
	F.ask_delay_ms = 0;
	F.ask_reason[0] = '\0';
	pthread_mutex_unlock(&F.mu);
	fd = connect_to(F.socks_port);
	assert_int_equal(socks_connect(fd, "asked.test", 80), 2);
	close(fd);
	assert_int_equal(wait_events(4), 4);
	e = event_at(3);
	assert_false(e.allowed);
	assert_string_equal(e.via, "socks5");
	assert_string_equal(e.rule, "asked: denied");

	/* An answer with the default rule's text: the default deny as it is. */
	pthread_mutex_lock(&F.mu);
	snprintf(F.ask_reason, sizeof(F.ask_reason), "no allowedDomains entry matches");
	pthread_mutex_unlock(&F.mu);
	fd = connect_to(F.http_port);
	assert_int_equal(http_connect(fd, "asked.test:443", resp, sizeof(resp)), 403);
	assert_contains(resp, "srt: asked.test:443: denied (no allowedDomains entry matches)\n");
	status_line(resp, line, sizeof(line));
	assert_string_equal(line, "HTTP/1.1 403 Forbidden by sandbox: asked.test:443 not in allowedDomains");
	close(fd);
	assert_int_equal(wait_events(5), 5);
	e = event_at(4);
	assert_false(e.allowed);
	assert_string_equal(e.rule, "no allowedDomains entry matches");
	fx_stop();
	assert_int_equal(event_count(), 5);
	net_policy_free(np);
}

/* An ask reason with CR, LF, other control bytes and non-ASCII, longer
 * than a phrase: the status line stays one line of printable ASCII with
 * at most 120 bytes of phrase, and no header line comes from the reason.
 * The same over absolute form, and the connection is still framed. */
static void test_ask_reason_cannot_inject(void **state)
{
	(void)state;
	struct net_policy *np = build_policy(ALLOW_EXAMPLE);
	fx_start(np, NULL, USE_ASK, 0);
	static const char hostile[] = "no\r\nX-Injected: yes\r\n\r\nHTTP/1.1 200 OK\x01\x1b[31m\x7f\xc3\xa9 ";
	size_t hl = sizeof(hostile) - 1;
	memcpy(F.ask_reason, hostile, hl);
	memset(F.ask_reason + hl, 'z', sizeof(F.ask_reason) - 1 - hl);
	F.ask_reason[sizeof(F.ask_reason) - 1] = '\0';
	F.ask_answer = false;

	int fd = connect_to(F.http_port);
	char resp[4096], line[256];
	assert_int_equal(http_connect(fd, "asked.test:443", resp, sizeof(resp)), 403);
	close(fd);
	status_line(resp, line, sizeof(line));
	assert_prefix(line, "HTTP/1.1 403 Forbidden by sandbox: asked.test:443 denied when asked: no");
	assert_contains(line, "X-Injected: yes");
	assert_int_equal(strlen(line) - strlen("HTTP/1.1 403 "), 120);
	char *head_end = strstr(resp, "\r\n\r\n");
	assert_non_null(head_end);
	*head_end = '\0';
	if (strstr(resp, "\r\nX-Injected") || strstr(resp, "\nHTTP/1.1 200"))
		fail_msg("a header line from the reason: '%s'", resp);

	/* Absolute form, kept alive: the next response on the connection is
	 * read where its framing says. */
	fd = connect_to(F.http_port);
	static const char get[] = "GET http://asked.test/ HTTP/1.1\r\nHost: asked.test\r\n\r\n";
	for (int i = 0; i < 2; i++) {
		assert_true(write_all(fd, get, sizeof(get) - 1));
		assert_int_equal(read_response(fd, resp, sizeof(resp), NULL), 403);
		status_line(resp, line, sizeof(line));
		assert_prefix(line, "HTTP/1.1 403 Forbidden by sandbox: asked.test:80 denied when asked: no");
	}
	close(fd);
	fx_stop();
	net_policy_free(np);
}

/* Clients that leave while the ask runs (reset, and a SOCKS5 client's
 * EOF), and a server closed while an ask runs: nothing is freed under the
 * work, and the server serves on. */
static void test_ask_client_leaves(void **state)
{
	(void)state;
	struct net_policy *np = build_policy(ALLOW_LOOPBACK_IP);
	fx_start(np, NULL, USE_ASK, 50);
	pthread_mutex_lock(&F.mu);
	F.ask_answer = true;
	F.ask_delay_ms = 300;
	pthread_mutex_unlock(&F.mu);

	int fd = connect_to(F.http_port);
	const char req[] = "CONNECT asked.test:443 HTTP/1.1\r\nHost: asked.test:443\r\n\r\n";
	assert_true(write_all(fd, req, sizeof(req) - 1));
	usleep(50 * 1000);
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };
	setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(fd); /* a reset */

	fd = connect_to(F.socks_port);
	uint8_t greet[] = { 5, 1, 0 };
	assert_true(write_all(fd, greet, sizeof(greet)));
	uint8_t m[2];
	assert_true(read_n(fd, m, 2));
	uint8_t sreq[] = { 5, 1, 0, 3, 10, 'a', 's', 'k', 'e', 'd', '.', 't', 'e', 's', 't', 0, 80 };
	assert_true(write_all(fd, sreq, sizeof(sreq)));
	usleep(50 * 1000);
	shutdown(fd, SHUT_WR); /* EOF */
	usleep(20 * 1000);
	close(fd);

	wait_asked(2);
	usleep(100 * 1000); /* let the loop run the completions */
	assert_int_equal(event_count(), 0);

	/* Still serving. */
	struct upstream u;
	upstream_start(&u, "127.0.0.1", UP_ECHO_N, 10, 1);
	fd = connect_to(F.socks_port);
	assert_int_equal(socks_connect(fd, "127.0.0.1", (uint16_t)u.port), 0);
	exchange_n(fd, 10);
	close(fd);
	upstream_join(&u);
	assert_int_equal(wait_events(1), 1);
	assert_true(event_at(0).allowed);

	/* Close the server while an ask runs. */
	fd = connect_to(F.http_port);
	assert_true(write_all(fd, req, sizeof(req) - 1));
	usleep(50 * 1000);
	fx_stop();
	assert_int_equal(F.n_asked, 3);
	close(fd);
	net_policy_free(np);
}

/* A TLS ClientHello whose SNI names another host: the tunnel closes, and
 * the allowed connection is reported as refused. */
static size_t build_hello(uint8_t *b, const char *sni)
{
	size_t n = 0, l = strlen(sni);
	uint8_t *rec_len, *hs_len, *ext_len;
	b[n++] = 0x16;
	b[n++] = 3;
	b[n++] = 1;
	rec_len = b + n;
	n += 2;
	b[n++] = 1;
	hs_len = b + n;
	n += 3;
	b[n++] = 3;
	b[n++] = 3;
	memset(b + n, 0xA5, 32);
	n += 32;
	b[n++] = 0;        /* session id */
	b[n++] = 0;
	b[n++] = 2;
	b[n++] = 0x13;
	b[n++] = 0x01;     /* one suite */
	b[n++] = 1;
	b[n++] = 0;        /* null compression */
	ext_len = b + n;
	n += 2;
	size_t ext_start = n;
	b[n++] = 0;
	b[n++] = 0;        /* server_name */
	b[n++] = (uint8_t)((l + 5) >> 8);
	b[n++] = (uint8_t)(l + 5);
	b[n++] = (uint8_t)((l + 3) >> 8);
	b[n++] = (uint8_t)(l + 3);
	b[n++] = 0;
	b[n++] = (uint8_t)(l >> 8);
	b[n++] = (uint8_t)l;
	memcpy(b + n, sni, l);
	n += l;
	size_t e = n - ext_start, h = n - (size_t)(hs_len - b) - 3, r = n - (size_t)(rec_len - b) - 2;
	ext_len[0] = (uint8_t)(e >> 8);
	ext_len[1] = (uint8_t)e;
	hs_len[0] = 0;
	hs_len[1] = (uint8_t)(h >> 8);
	hs_len[2] = (uint8_t)h;
	rec_len[0] = (uint8_t)(r >> 8);
	rec_len[1] = (uint8_t)r;
	return n;
}

static void test_sni_mismatch(void **state)
{
	(void)state;
	struct net_policy *np = build_policy(ALLOW_LOOPBACK_IP);
	fx_start(np, NULL, 0, 0);
	struct upstream u;
	upstream_start(&u, "127.0.0.1", UP_DRAIN, 0, 1);
	int fd = connect_to(F.http_port);
	char resp[4096], auth[64];
	snprintf(auth, sizeof(auth), "127.0.0.1:%d", u.port);
	assert_int_equal(http_connect(fd, auth, resp, sizeof(resp)), 200);
	uint8_t hello[512];
	size_t n = build_hello(hello, "evil.test");
	assert_true(write_all(fd, hello, n));
	char c;
	assert_true(recv(fd, &c, 1, 0) <= 0); /* closed */
	close(fd);
	upstream_join(&u);
	assert_int_equal(wait_events(1), 1);
	struct rec e = event_at(0);
	assert_false(e.allowed);
	assert_string_equal(e.via, "connect");
	assert_string_equal(e.host, "127.0.0.1");
	assert_string_equal(e.rule, "SNI mismatch: the TLS server name (SNI) names another host (evil.test)");
	assert_int_equal(e.up, 0);
	fx_stop();
	assert_int_equal(event_count(), 1);
	net_policy_free(np);
}

/* A FORWARD listener (a host loopback service): no decision, one event. */
static void test_forward(void **state)
{
	(void)state;
	struct net_policy *np = build_policy(ALLOW_LOOPBACK_IP);
	struct upstream u;
	upstream_start(&u, "127.0.0.1", UP_ECHO_N, 70000, 1);
	forward_to = u.port;
	fx_start(np, NULL, 0, 0);
	int fd = connect_to(F.forward_port);
	exchange_n(fd, 70000);
	close(fd);
	upstream_join(&u);
	assert_int_equal(wait_events(1), 1);
	struct rec e = event_at(0);
	assert_true(e.allowed);
	assert_string_equal(e.via, "forward");
	assert_string_equal(e.rule, "forwarded");
	assert_string_equal(e.host, "127.0.0.1");
	assert_int_equal(e.port, u.port);
	assert_string_equal(e.address, "127.0.0.1");
	assert_int_equal(e.up, 70000);
	assert_int_equal(e.down, 70000);
	fx_stop();
	net_policy_free(np);
}

/* No hooks at all: the proxy works as before. */
static void test_no_hooks(void **state)
{
	(void)state;
	struct net_policy *np = build_policy(ALLOW_LOOPBACK_IP);
	fx_start(np, NULL, NO_HOOKS, 0);
	struct upstream u;
	upstream_start(&u, "127.0.0.1", UP_ECHO_N, 1000, 1);
	int fd = connect_to(F.http_port);
	char resp[4096], auth[64];
	snprintf(auth, sizeof(auth), "127.0.0.1:%d", u.port);
	assert_int_equal(http_connect(fd, auth, resp, sizeof(resp)), 200);
	exchange_n(fd, 1000);
	close(fd);
	upstream_join(&u);
	fd = connect_to(F.http_port);
	assert_int_equal(http_connect(fd, "evil.test:443", resp, sizeof(resp)), 403);
	close(fd);
	fx_stop();
	assert_int_equal(event_count(), 0);
	net_policy_free(np);
}

static void test_build_list(void **state)
{
	(void)state;
	static const char *const bad[] = { "good.test", "https://bad.test", NULL };
	struct net_policy *np = NULL;
	struct srt_error err = { 0 };
	assert_int_equal(net_policy_build_list(bad, "sandbox x", &np, &err), -EINVAL);
	assert_null(np);
	assert_prefix(err.message, "sandbox x: allowedDomains[1]: invalid domain 'https://bad.test': ");
	memset(&err, 0, sizeof(err));

	static const char *const star[] = { "*", NULL };
	assert_int_equal(net_policy_build_list(star, "sandbox x", &np, &err), -EINVAL);
	memset(&err, 0, sizeof(err));

	static const char *const good[] = { "*.example.com", "api.test:443", "[::1]:8080", NULL };
	assert_int_equal(net_policy_build_list(good, "s", &np, &err), 0);
	struct proxy_host h;
	const char *why;
	struct net_decision d;
	assert_int_equal(proxy_host_canonical("a.example.com", 13, &h, &why), 0);
	net_policy_decide(np, &h, 443, &d);
	assert_int_equal(d.verdict, NET_ALLOW);
	assert_string_equal(d.rule, "allowedDomains: *.example.com");
	assert_string_equal(d.rule_source, "s: allowedDomains[0]");
	assert_int_equal(proxy_host_canonical("api.test", 8, &h, &why), 0);
	net_policy_decide(np, &h, 80, &d);
	assert_int_equal(d.verdict, NET_DENY);
	assert_null(d.rule_source);
	uint16_t ports[4];
	assert_int_equal(net_policy_loopback_ports(np, ports, 4), 1);
	assert_int_equal(ports[0], 8080);
	net_policy_free(np);

	np = NULL;
	assert_int_equal(net_policy_build_list(NULL, NULL, &np, &err), 0);
	assert_non_null(np);
	net_policy_free(np);
}

/* --- asynchronous asking -------------------------------------------------- */

struct later {
	struct proxy_ask *q;
	bool allow;
	const char *reason;
	int delay_ms;
};

static void *answer_later(void *arg)
{
	struct later *l = arg;
	usleep((useconds_t)l->delay_ms * 1000);
	proxy_ask_answer(l->q, l->allow, l->reason);
	return NULL;
}

/* Asked on the loop thread, answered later from another thread: allowed
 * (past the head timeout), denied with a reason. Lookups and other
 * connections go on meanwhile. */
static void test_ask_async(void **state)
{
	(void)state;
	struct net_policy *np = build_policy("{\"network\": {\"deniedDomains\": [\"evil.test\"]}}");
	fx_start(np, NULL, 0, 100);
	aq_reset();
	F.hooks.ask_async = ask_async_hook;

	struct upstream u;
	upstream_start(&u, "127.0.0.1", UP_ECHO_N, 3000, 1);
	int fd = connect_to(F.http_port);
	char resp[4096], auth[64];
	snprintf(auth, sizeof(auth), "127.0.0.1:%d", u.port);
	char req[256];
	int n = snprintf(req, sizeof(req), "CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n", auth, auth);
	assert_true(write_all(fd, req, (size_t)n));
	struct later l = { .q = aq_wait(0), .allow = true, .delay_ms = 300 };
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, answer_later, &l), 0);
	size_t total = 0;
	assert_int_equal(read_response(fd, resp, sizeof(resp), &total), 200);
	pthread_join(t, NULL);
	exchange_n(fd, 3000);
	close(fd);
	upstream_join(&u);
	assert_int_equal(wait_events(1), 1);
	struct rec e = event_at(0);
	assert_true(e.allowed);
	assert_string_equal(e.rule, "asked: allowed");
	assert_true(e.duration_ns >= 300 * 1000000LL);
	assert_string_equal(AQ.host[0], "127.0.0.1");
	assert_int_equal(AQ.port[0], u.port);

	/* Denied with a reason, over SOCKS5; a second question waits
	 * meanwhile and is denied over HTTP. */
	int fd1 = connect_to(F.socks_port);
	uint8_t greet[] = { 5, 1, 0 }, m[2];
	assert_true(write_all(fd1, greet, sizeof(greet)));
	assert_true(read_n(fd1, m, 2));
	uint8_t sreq[] = { 5, 1, 0, 3, 10, 'a', 's', 'k', 'e', 'd', '.', 't', 'e', 's', 't', 0, 80 };
	assert_true(write_all(fd1, sreq, sizeof(sreq)));
	struct proxy_ask *q1 = aq_wait(1);
	int fd2 = connect_to(F.http_port);
	const char creq[] = "CONNECT other.test:443 HTTP/1.1\r\nHost: other.test:443\r\n\r\n";
	assert_true(write_all(fd2, creq, sizeof(creq) - 1));
	struct proxy_ask *q2 = aq_wait(2);
	assert_string_equal(AQ.host[2], "other.test");
	proxy_ask_answer(q2, false, "the user said no");
	assert_int_equal(read_response(fd2, resp, sizeof(resp), &total), 403);
	assert_contains(resp, "the user said no");
	close(fd2);
	proxy_ask_answer(q1, false, NULL);
	uint8_t rep[10];
	assert_true(read_n(fd1, rep, sizeof(rep)));
	assert_int_equal(rep[1], 2);
	close(fd1);
	assert_int_equal(wait_events(3), 3);
	assert_string_equal(event_at(1).rule, "asked: the user said no");
	assert_string_equal(event_at(2).rule, "asked: denied");
	fx_stop();
	assert_false(AQ.off_loop);
	net_policy_free(np);
}

/* A client that leaves while asked, a question nobody answers (the
 * timeout denies it), a blocking hook past the timeout, and a server
 * closed with a question pending: nothing hangs, late answers are
 * dropped safely. */
static void test_ask_async_gone(void **state)
{
	(void)state;
	struct net_policy *np = build_policy("{\"network\": {\"deniedDomains\": [\"evil.test\"]}}");
	fx_start(np, NULL, USE_ASK, 100);
	aq_reset();
	F.hooks.ask_async = ask_async_hook;
	F.hooks.ask_timeout = short_timeout;

	/* The client leaves (a reset); the answer comes afterwards. */
	int fd = connect_to(F.http_port);
	const char req[] = "CONNECT asked.test:443 HTTP/1.1\r\nHost: asked.test:443\r\n\r\n";
	assert_true(write_all(fd, req, sizeof(req) - 1));
	struct proxy_ask *q0 = aq_wait(0);
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };
	setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(fd);
	usleep(50 * 1000);
	proxy_ask_answer(q0, true, NULL);
	usleep(50 * 1000);
	assert_int_equal(event_count(), 0);

	/* Nobody answers: denied after 200 ms; a late answer is dropped. */
	uint64_t t0 = uv_hrtime();
	fd = connect_to(F.http_port);
	char resp[4096];
	assert_int_equal(http_connect(fd, "asked.test:443", resp, sizeof(resp)), 403);
	uint64_t took = (uv_hrtime() - t0) / 1000000;
	assert_true(took >= 190 && took < 5000);
	assert_contains(resp, "asked: no answer in time");
	close(fd);
	assert_int_equal(wait_events(1), 1);
	assert_false(event_at(0).allowed);
	assert_string_equal(event_at(0).rule, "asked: no answer in time");
	proxy_ask_answer(aq_wait(1), true, NULL);

	/* The blocking hook past the timeout: denied at 200 ms, its late
	 * answer dropped. */
	F.hooks.ask_async = NULL;
	pthread_mutex_lock(&F.mu);
	F.ask_answer = true;
	F.ask_delay_ms = 500;
	pthread_mutex_unlock(&F.mu);
	fd = connect_to(F.http_port);
	assert_int_equal(http_connect(fd, "asked.test:443", resp, sizeof(resp)), 403);
	assert_contains(resp, "asked: no answer in time");
	close(fd);
	wait_asked(1);
	usleep(50 * 1000);
	assert_int_equal(event_count(), 2);

	/* Close the server with an asynchronous question pending: it closes
	 * without an answer, and the answer after it only frees. */
	F.hooks.ask_async = ask_async_hook;
	F.hooks.ask_timeout = NULL; /* 60 s: the close, not the timeout, ends it */
	fd = connect_to(F.http_port);
	assert_true(write_all(fd, req, sizeof(req) - 1));
	struct proxy_ask *q2 = aq_wait(2);
	t0 = uv_hrtime();
	fx_stop();
	assert_true((uv_hrtime() - t0) / 1000000 < 5000);
	proxy_ask_answer(q2, false, "late");
	close(fd);
	assert_false(AQ.off_loop);
	net_policy_free(np);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_build_list),
		cmocka_unit_test(test_connect_events),
		cmocka_unit_test(test_socks_events),
		cmocka_unit_test(test_http_keepalive_events),
		cmocka_unit_test(test_extra_list),
		cmocka_unit_test(test_extra_guard),
		cmocka_unit_test(test_reload),
		cmocka_unit_test(test_ask),
		cmocka_unit_test(test_ask_reason_cannot_inject),
		cmocka_unit_test(test_ask_client_leaves),
		cmocka_unit_test(test_sni_mismatch),
		cmocka_unit_test(test_forward),
		cmocka_unit_test(test_no_hooks),
		cmocka_unit_test(test_ask_async),
		cmocka_unit_test(test_ask_async_gone),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
