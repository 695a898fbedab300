/* netclient: the client side of bench/network's request and tunnel tests.
 *
 *   netclient seq  MODE PORT ORIGIN_PORT COUNT
 *   netclient hold MODE PORT ORIGIN_PORT COUNT [HOLD_SECONDS]
 *
 * Connects to 127.0.0.1:PORT and asks for http://127.0.0.1:ORIGIN_PORT/small
 * (served by netserve: "ok\n"). MODE says how:
 *
 *   direct   PORT is the origin (or a byte relay in front of it):
 *            "GET /small HTTP/1.1"
 *   proxy    PORT is an HTTP proxy, asked in absolute form:
 *            "GET http://127.0.0.1:ORIGIN_PORT/small HTTP/1.1"
 *   connect  PORT is an HTTP proxy: "CONNECT 127.0.0.1:ORIGIN_PORT", which
 *            must answer 200, then "GET /small" through the tunnel
 *
 * seq: COUNT requests one after the other, each on a new connection with
 * "Connection: close"; a request is timed from socket() until the whole
 * response (head and Content-Length body) is in, checked (status 200, body
 * "ok\n") and the socket closed. Prints one line per request, the time in
 * microseconds, once all are done (so printing costs nothing in between).
 * Any failure stops it with a message and status 1.
 *
 * hold: opens COUNT connections at once (at most 256 being set up at any
 * time, non-blocking, one epoll loop), each doing one keep-alive request as
 * above (the CONNECT first in connect mode) that must answer 200, then
 * leaves them idle. Prints "ready OK FAILED SECONDS" when every connection
 * is either idle or failed, then holds them until stdin reaches end of file
 * or HOLD_SECONDS (default 600) pass, and prints "done HELD DROPPED"
 * (DROPPED: idle connections the other side closed meanwhile). The first
 * few failures are described on stderr. Raises its RLIMIT_NOFILE soft limit
 * to the hard limit; stops with status 1 when that is below COUNT + 64.
 *
 *   netclient bursts MODE PORT ORIGIN_PORT COUNT BURSTS BIG INFLIGHT [SOCKS_PORT]
 *
 * bursts (bench/bursts): BURSTS times, opens COUNT connections as hold
 * does, but at most INFLIGHT being set up at a time, each asking for one
 * response and reading all of it: odd-numbered connections GET /bytes/BIG
 * (every byte checked to be 'x'), the others GET /small. MODE may also be socks
 * (PORT is a SOCKS5 proxy: no authentication, CONNECT to 127.0.0.1:
 * ORIGIN_PORT, then the GET) or mix (connection i uses connect, proxy and
 * socks in turn; PORT is the HTTP proxy, SOCKS_PORT the SOCKS5 one).
 * Protocol on stdin/stdout: prints "ready", waits for a line on stdin;
 * then per burst prints "burst K OK FAILED SECONDS BODY_BYTES" once every
 * connection is idle or failed (failed: refused, closed, wrong answer, or
 * no answer within 120 s), closes them all, prints "closed K" and waits
 * for a line on stdin before the next burst. End of file on stdin ends it
 * early; "done" comes last. The first few failures are described on
 * stderr. Raises RLIMIT_NOFILE as hold does.
 *
 * Built by bench/network and bench/bursts with `cc -O2 -pthread`; not part
 * of the project build. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "nofile.h"

enum mode { DIRECT, PROXY, CONNECT };

static enum mode mode;
static struct sockaddr_in target;
static char connect_req[256];
static char get_req[256];
static size_t connect_len, get_len;

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The origin's host in requests: 127.0.0.1, or $NETCLIENT_HOST (a name
 * only a parent proxy resolves: bench/parentproxy). */
static const char *origin_host(void)
{
	const char *h = getenv("NETCLIENT_HOST");
	return h && *h && strlen(h) < 64 ? h : "127.0.0.1";
}

static void build_requests(unsigned origin, bool close_conn)
{
	char prefix[96] = "";  /* absolute form for a proxy */
	const char *host = origin_host();
	if (mode == PROXY)
		snprintf(prefix, sizeof prefix, "http://%s:%u", host, origin);
	connect_len = (size_t)snprintf(connect_req, sizeof connect_req,
	                               "CONNECT %s:%u HTTP/1.1\r\nHost: %s:%u\r\n\r\n",
	                               host, origin, host, origin);
	get_len = (size_t)snprintf(get_req, sizeof get_req,
	                           "GET %s/small HTTP/1.1\r\nHost: %s:%u\r\n%s\r\n",
	                           prefix, host, origin, close_conn ? "Connection: close\r\n" : "");
}

/* Parses a response head in buf[0..len). Returns 0 while incomplete, -1
 * when malformed, else the head's length; *status and *clen (-1 when no
 * Content-Length) are set. */
static long parse_head(const char *buf, size_t len, int *status, long *clen)
{
	const char *end = memmem(buf, len, "\r\n\r\n", 4);
	if (!end)
		return 0;
	if (len < 12 || memcmp(buf, "HTTP/1.", 7) != 0)
		return -1;
	*status = atoi(buf + 9);
	*clen = -1;
	for (const char *p = buf; p && p < end; p = memchr(p, '\n', (size_t)(end - p))) {
		p++;
		if (end - p > 15 && strncasecmp(p, "content-length:", 15) == 0)
			*clen = strtol(p + 15, NULL, 10);
	}
	return end + 4 - buf;
}

static void fail(long i, const char *what)
{
	fprintf(stderr, "netclient: request %ld: %s\n", i + 1, what);
	exit(1);
}

static void send_all(int fd, const char *p, size_t len, long i)
{
	while (len) {
		ssize_t w = send(fd, p, len, MSG_NOSIGNAL);
		if (w <= 0) {
			if (w < 0 && errno == EINTR)
				continue;
			fail(i, strerror(errno));
		}
		p += w;
		len -= (size_t)w;
	}
}

/* Reads one response on a blocking socket (a CONNECT answer when
 * head_only) and checks it; a body must be "ok\n". */
static void read_response(int fd, bool head_only, long i)
{
	char buf[4096];
	size_t len = 0;
	long head = 0, clen = -1;
	int status = 0;
	for (;;) {
		if (head == 0) {
			head = parse_head(buf, len, &status, &clen);
			if (head < 0)
				fail(i, "malformed response head");
			if (head > 0 && status != 200) {
				char msg[128];
				snprintf(msg, sizeof msg, "status %d: %.60s", status, buf);
				fail(i, msg);
			}
			if (head > 0 && head_only) {
				if ((size_t)head != len)
					fail(i, "bytes after the CONNECT answer");
				return;
			}
		}
		if (head > 0 && clen >= 0 && len >= (size_t)(head + clen))
			break;
		if (len == sizeof buf)
			fail(i, "response too long");
		ssize_t n = recv(fd, buf + len, sizeof buf - len, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			fail(i, strerror(errno));
		if (n == 0) {
			if (head > 0 && clen < 0)
				break;  /* body ends at end of file */
			fail(i, "connection closed before the response was complete");
		}
		len += (size_t)n;
	}
	if (len - (size_t)head != 3 || memcmp(buf + head, "ok\n", 3) != 0)
		fail(i, "unexpected body");
}

static int cmd_seq(long count)
{
	double *t = malloc(sizeof *t * (size_t)count);
	if (!t)
		return 1;
	int one = 1;
	for (long i = 0; i < count; i++) {
		double t0 = now();
		int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0)
			fail(i, strerror(errno));
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
		if (connect(fd, (struct sockaddr *)&target, sizeof target) < 0)
			fail(i, strerror(errno));
		if (mode == CONNECT) {
			send_all(fd, connect_req, connect_len, i);
			read_response(fd, true, i);
		}
		send_all(fd, get_req, get_len, i);
		read_response(fd, false, i);
		close(fd);
		t[i] = now() - t0;
	}
	for (long i = 0; i < count; i++)
		printf("%.1f\n", t[i] * 1e6);
	free(t);
	return fflush(stdout) == 0 ? 0 : 1;
}

/* ---- hold ---- */

enum state { S_CONNECTING, S_CONNECT_SENT, S_GET_SENT, S_IDLE, S_FAILED };

struct hc {
	int fd;
	uint8_t state;
	uint16_t len;
	char buf[512];
};

static int ep;
static long failed, idle, reported;

static void hc_fail(struct hc *c, const char *what)
{
	if (reported++ < 5)
		fprintf(stderr, "netclient: connection failed: %s\n", what);
	close(c->fd);
	c->fd = -1;
	c->state = S_FAILED;
	failed++;
}

static bool hc_send(struct hc *c, const char *p, size_t len)
{
	/* a request is far smaller than a fresh socket's buffer */
	ssize_t w = send(c->fd, p, len, MSG_NOSIGNAL);
	if (w != (ssize_t)len) {
		hc_fail(c, w < 0 ? strerror(errno) : "short send");
		return false;
	}
	c->len = 0;
	return true;
}

static bool hc_start(struct hc *c, long idx)
{
	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0) {
		hc_fail(c, strerror(errno));
		return false;
	}
	c->state = S_CONNECTING;
	c->len = 0;
	if (connect(c->fd, (struct sockaddr *)&target, sizeof target) < 0 && errno != EINPROGRESS) {
		hc_fail(c, strerror(errno));
		return false;
	}
	struct epoll_event ev = {.events = EPOLLOUT, .data.u64 = (uint64_t)idx};
	if (epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev) < 0) {
		hc_fail(c, strerror(errno));
		return false;
	}
	return true;
}

/* Advances one connection; returns true when it left the set-up phase
 * (idle or failed). */
static bool hc_event(struct hc *c, long idx, uint32_t events)
{
	if (c->state == S_CONNECTING) {
		int err = 0;
		socklen_t el = sizeof err;
		getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el);
		if (err) {
			hc_fail(c, strerror(err));
			return true;
		}
		if (!(events & EPOLLOUT))
			return false;
		bool tunnel = mode == CONNECT;
		if (!hc_send(c, tunnel ? connect_req : get_req, tunnel ? connect_len : get_len))
			return true;
		c->state = tunnel ? S_CONNECT_SENT : S_GET_SENT;
		struct epoll_event ev = {.events = EPOLLIN, .data.u64 = (uint64_t)idx};
		epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
		return false;
	}
	ssize_t n = recv(c->fd, c->buf + c->len, sizeof c->buf - c->len, 0);
	if (n < 0 && errno == EAGAIN)
		return false;
	if (n <= 0) {
		hc_fail(c, n == 0 ? "closed before the answer" : strerror(errno));
		return true;
	}
	c->len += (uint16_t)n;
	int status;
	long clen;
	long head = parse_head(c->buf, c->len, &status, &clen);
	if (head == 0) {
		if (c->len == sizeof c->buf) {
			hc_fail(c, "response head too long");
			return true;
		}
		return false;
	}
	if (head < 0 || status != 200) {
		char msg[96];
		snprintf(msg, sizeof msg, "%s answered: %.50s",
		         c->state == S_CONNECT_SENT ? "CONNECT" : "GET", c->buf);
		for (char *p = msg; *p; p++)
			if (*p == '\r' || *p == '\n')
				*p = ' ';
		hc_fail(c, msg);
		return true;
	}
	if (c->state == S_CONNECT_SENT) {
		if (head != c->len) {
			hc_fail(c, "bytes after the CONNECT answer");
			return true;
		}
		if (!hc_send(c, get_req, get_len))
			return true;
		c->state = S_GET_SENT;
		return false;
	}
	if (clen < 0 || c->len < head + clen)
		return false;
	if (clen != 3 || memcmp(c->buf + head, "ok\n", 3) != 0) {
		hc_fail(c, "unexpected body");
		return true;
	}
	c->state = S_IDLE;
	idle++;
	return true;
}

static int cmd_hold(long count, double hold_seconds)
{
	struct rlimit rl;
	getrlimit(RLIMIT_NOFILE, &rl);
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
		getrlimit(RLIMIT_NOFILE, &rl);
	}
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < (rlim_t)count + 64) {
		fprintf(stderr, "netclient: RLIMIT_NOFILE is %llu, too low for %ld connections\n",
		        (unsigned long long)rl.rlim_cur, count);
		return 1;
	}
	struct hc *cs = calloc((size_t)count, sizeof *cs);
	ep = epoll_create1(EPOLL_CLOEXEC);
	if (!cs || ep < 0)
		return 1;
	const long max_inflight = 256;
	const double setup_limit = 60.0;
	double t0 = now();
	long next = 0, inflight = 0;
	struct epoll_event evs[256];
	while (next < count || inflight > 0) {
		while (next < count && inflight < max_inflight) {
			if (hc_start(&cs[next], next))
				inflight++;
			next++;
		}
		if (now() - t0 > setup_limit) {
			for (long i = 0; i < next; i++)
				if (cs[i].state != S_IDLE && cs[i].state != S_FAILED)
					hc_fail(&cs[i], "no answer within 60 s");
			failed += count - next;  /* not even tried */
			break;
		}
		int n = epoll_wait(ep, evs, 256, 1000);
		for (int k = 0; k < n; k++) {
			long idx = (long)evs[k].data.u64;
			struct hc *c = &cs[idx];
			if (c->state == S_IDLE || c->state == S_FAILED)
				continue;
			if (hc_event(c, idx, evs[k].events))
				inflight--;
		}
	}
	double setup = now() - t0;
	printf("ready %ld %ld %.3f\n", idle, failed, setup);
	fflush(stdout);

	/* hold: idle connections stay in epoll for input; stdin ends it */
	struct epoll_event sev = {.events = EPOLLIN, .data.u64 = UINT64_MAX};
	epoll_ctl(ep, EPOLL_CTL_ADD, 0, &sev);  /* fails for /dev/null: then the time ends it */
	long dropped = 0;
	double hold_end = now() + hold_seconds;
	for (bool stop = false; !stop;) {
		double left = hold_end - now();
		if (left <= 0)
			break;
		int n = epoll_wait(ep, evs, 256, (int)(left * 1000) + 1);
		for (int k = 0; k < n; k++) {
			if (evs[k].data.u64 == UINT64_MAX) {
				char b[256];
				if (read(0, b, sizeof b) <= 0)
					stop = true;
				continue;
			}
			struct hc *c = &cs[evs[k].data.u64];
			if (c->state != S_IDLE)
				continue;
			char b[512];
			ssize_t r = recv(c->fd, b, sizeof b, 0);
			if (r < 0 && errno == EAGAIN)
				continue;
			/* data or end of file on an idle connection: it is gone */
			epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
			close(c->fd);
			c->fd = -1;
			c->state = S_FAILED;
			dropped++;
		}
	}
	printf("done %ld %ld\n", idle - dropped, dropped);
	fflush(stdout);
	for (long i = 0; i < count; i++)
		if (cs[i].fd >= 0)
			close(cs[i].fd);
	free(cs);
	close(ep);
	return 0;
}

/* ---- bursts ---- */

enum bmode { B_DIRECT, B_PROXY, B_CONNECT, B_SOCKS };
enum bstate { B_CONNECTING, B_GREET_SENT, B_SOCKS_SENT, B_TUNNEL_SENT, B_HEAD, B_BODY, B_IDLE, B_FAILED };

struct bc {
	int fd;
	uint8_t mode, state;
	bool big;
	uint16_t len;
	uint64_t body_left;
	char buf[512];
};

static unsigned b_origin;
static unsigned long long b_big;
static struct sockaddr_in b_socks;
static long b_failed, b_idle, b_reported;
static uint64_t b_bytes;
static char b_scratch[65536];

static void bc_fail(struct bc *c, const char *what)
{
	if (b_reported++ < 5)
		fprintf(stderr, "netclient: connection failed: %s\n", what);
	close(c->fd);
	c->fd = -1;
	c->state = B_FAILED;
	b_failed++;
}

static bool bc_send(struct bc *c, const char *p, size_t len)
{
	ssize_t w = send(c->fd, p, len, MSG_NOSIGNAL);
	if (w != (ssize_t)len) {
		bc_fail(c, w < 0 ? strerror(errno) : "short send");
		return false;
	}
	c->len = 0;
	return true;
}

static bool bc_send_get(struct bc *c)
{
	char req[256], prefix[40] = "", path[40];
	if (c->mode == B_PROXY)
		snprintf(prefix, sizeof prefix, "http://127.0.0.1:%u", b_origin);
	if (c->big)
		snprintf(path, sizeof path, "/bytes/%llu", b_big);
	else
		snprintf(path, sizeof path, "/small");
	int n = snprintf(req, sizeof req, "GET %s%s HTTP/1.1\r\nHost: 127.0.0.1:%u\r\n\r\n", prefix, path,
	                 b_origin);
	c->state = B_HEAD;
	return bc_send(c, req, (size_t)n);
}

static bool bc_start(struct bc *c, long idx, enum bmode mode)
{
	c->mode = (uint8_t)mode;
	c->big = idx % 2 == 1;
	c->len = 0;
	c->body_left = 0;
	c->state = B_CONNECTING;
	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0) {
		bc_fail(c, strerror(errno));
		return false;
	}
	const struct sockaddr_in *to = mode == B_SOCKS ? &b_socks : &target;
	if (connect(c->fd, (const struct sockaddr *)to, sizeof *to) < 0 && errno != EINPROGRESS) {
		bc_fail(c, strerror(errno));
		return false;
	}
	struct epoll_event ev = {.events = EPOLLOUT, .data.u64 = (uint64_t)idx};
	if (epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev) < 0) {
		bc_fail(c, strerror(errno));
		return false;
	}
	return true;
}

/* Body bytes [p, p+n) of connection c; false when it failed. */
static bool bc_body(struct bc *c, const char *p, size_t n)
{
	if (n > c->body_left) {
		bc_fail(c, "more bytes than the Content-Length");
		return false;
	}
	if (c->big) {
		for (size_t k = 0; k < n; k++)
			if (p[k] != 'x') {
				bc_fail(c, "unexpected body byte");
				return false;
			}
	}
	c->body_left -= n;
	b_bytes += n;
	return true;
}

/* Advances one connection; returns true when it left the set-up phase
 * (idle or failed). */
static bool bc_event(struct bc *c, long idx, uint32_t events)
{
	if (c->state == B_CONNECTING) {
		int err = 0;
		socklen_t el = sizeof err;
		getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el);
		if (err) {
			bc_fail(c, strerror(err));
			return true;
		}
		if (!(events & EPOLLOUT))
			return false;
		bool ok;
		if (c->mode == B_SOCKS) {
			ok = bc_send(c, "\x05\x01\x00", 3);
			c->state = B_GREET_SENT;
		} else if (c->mode == B_CONNECT) {
			ok = bc_send(c, connect_req, connect_len);
			c->state = B_TUNNEL_SENT;
		} else {
			ok = bc_send_get(c);
		}
		if (!ok)
			return true;
		struct epoll_event ev = {.events = EPOLLIN, .data.u64 = (uint64_t)idx};
		epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
		return false;
	}
	if (c->state == B_BODY) {
		ssize_t n = recv(c->fd, b_scratch, sizeof b_scratch, 0);
		if (n < 0 && errno == EAGAIN)
			return false;
		if (n <= 0) {
			bc_fail(c, n == 0 ? "closed in the body" : strerror(errno));
			return true;
		}
		if (!bc_body(c, b_scratch, (size_t)n))
			return true;
		if (c->body_left == 0) {
			c->state = B_IDLE;
			b_idle++;
			return true;
		}
		return false;
	}
	ssize_t n = recv(c->fd, c->buf + c->len, sizeof c->buf - c->len, 0);
	if (n < 0 && errno == EAGAIN)
		return false;
	if (n <= 0) {
		bc_fail(c, n == 0 ? "closed before the answer" : strerror(errno));
		return true;
	}
	c->len += (uint16_t)n;
	if (c->state == B_GREET_SENT) {
		if (c->len < 2)
			return false;
		if (c->len != 2 || c->buf[0] != 5 || c->buf[1] != 0) {
			bc_fail(c, "SOCKS5 greeting refused");
			return true;
		}
		unsigned char req[10] = {5, 1, 0, 1, 127, 0, 0, 1, (unsigned char)(b_origin >> 8),
		                         (unsigned char)b_origin};
		if (!bc_send(c, (const char *)req, sizeof req))
			return true;
		c->state = B_SOCKS_SENT;
		return false;
	}
	if (c->state == B_SOCKS_SENT) {
		if (c->len < 5)
			return false;
		const unsigned char *r = (const unsigned char *)c->buf;
		size_t want = r[3] == 1 ? 10 : r[3] == 4 ? 22 : r[3] == 3 ? 7u + r[4] : 0;
		if (r[0] != 5 || r[1] != 0 || want == 0) {
			char msg[64];
			snprintf(msg, sizeof msg, "SOCKS5 CONNECT answered %u", r[1]);
			bc_fail(c, msg);
			return true;
		}
		if (c->len < want)
			return false;
		if (c->len != want) {
			bc_fail(c, "bytes after the SOCKS5 answer");
			return true;
		}
		return !bc_send_get(c);
	}
	int status;
	long clen;
	long head = parse_head(c->buf, c->len, &status, &clen);
	if (head == 0) {
		if (c->len == sizeof c->buf) {
			bc_fail(c, "response head too long");
			return true;
		}
		return false;
	}
	if (head < 0 || status != 200) {
		char msg[96];
		snprintf(msg, sizeof msg, "%s answered: %.50s", c->state == B_TUNNEL_SENT ? "CONNECT" : "GET",
		         c->buf);
		for (char *p = msg; *p; p++)
			if (*p == '\r' || *p == '\n')
				*p = ' ';
		bc_fail(c, msg);
		return true;
	}
	if (c->state == B_TUNNEL_SENT) {
		if (head != c->len) {
			bc_fail(c, "bytes after the CONNECT answer");
			return true;
		}
		return !bc_send_get(c);
	}
	long want = c->big ? (long)b_big : 3;
	if (clen != want) {
		bc_fail(c, "unexpected Content-Length");
		return true;
	}
	if (!c->big) {
		if (c->len < head + clen)
			return false;
		if (c->len != head + clen || memcmp(c->buf + head, "ok\n", 3) != 0) {
			bc_fail(c, "unexpected body");
			return true;
		}
		b_bytes += 3;
		c->state = B_IDLE;
		b_idle++;
		return true;
	}
	c->body_left = (uint64_t)clen;
	if (!bc_body(c, c->buf + head, (size_t)(c->len - head)))
		return true;
	if (c->body_left == 0) {
		c->state = B_IDLE;
		b_idle++;
		return true;
	}
	c->state = B_BODY;
	return false;
}

static bool wait_line(void)
{
	char line[64];
	return fgets(line, sizeof line, stdin) != NULL;
}

static int cmd_bursts(const char *mode_name, long count, long bursts, long max_inflight)
{
	enum bmode fixed = B_CONNECT;
	bool mix = false;
	if (!strcmp(mode_name, "direct"))
		fixed = B_DIRECT;
	else if (!strcmp(mode_name, "proxy"))
		fixed = B_PROXY;
	else if (!strcmp(mode_name, "connect"))
		fixed = B_CONNECT;
	else if (!strcmp(mode_name, "socks"))
		fixed = B_SOCKS;
	else if (!strcmp(mode_name, "mix"))
		mix = true;
	else {
		fprintf(stderr, "netclient: unknown mode %s\n", mode_name);
		return 2;
	}
	raise_nofile();
	struct rlimit rl;
	getrlimit(RLIMIT_NOFILE, &rl);
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < (rlim_t)count + 64) {
		fprintf(stderr, "netclient: RLIMIT_NOFILE is %llu, too low for %ld connections\n",
		        (unsigned long long)rl.rlim_cur, count);
		return 1;
	}
	struct bc *cs = calloc((size_t)count, sizeof *cs);
	ep = epoll_create1(EPOLL_CLOEXEC);
	if (!cs || ep < 0)
		return 1;
	printf("ready\n");
	fflush(stdout);
	if (!wait_line())
		return 0;
	static const enum bmode turn[3] = {B_CONNECT, B_PROXY, B_SOCKS};
	const double burst_limit = 120.0;
	struct epoll_event evs[256];
	for (long k = 1; k <= bursts; k++) {
		b_failed = b_idle = 0;
		b_bytes = 0;
		double t0 = now();
		long next = 0, inflight = 0;
		while (next < count || inflight > 0) {
			while (next < count && inflight < max_inflight) {
				if (bc_start(&cs[next], next, mix ? turn[next % 3] : fixed))
					inflight++;
				next++;
			}
			if (now() - t0 > burst_limit) {
				for (long i = 0; i < next; i++)
					if (cs[i].state != B_IDLE && cs[i].state != B_FAILED)
						bc_fail(&cs[i], "no answer within 120 s");
				for (long i = next; i < count; i++) {  /* not even tried */
					cs[i].fd = -1;
					cs[i].state = B_FAILED;
					b_failed++;
				}
				break;
			}
			int n = epoll_wait(ep, evs, 256, 1000);
			for (int e = 0; e < n; e++) {
				long idx = (long)evs[e].data.u64;
				struct bc *c = &cs[idx];
				if (c->state == B_IDLE || c->state == B_FAILED)
					continue;
				if (bc_event(c, idx, evs[e].events))
					inflight--;
			}
		}
		printf("burst %ld %ld %ld %.3f %llu\n", k, b_idle, b_failed, now() - t0,
		       (unsigned long long)b_bytes);
		fflush(stdout);
		for (long i = 0; i < count; i++)
			if (cs[i].fd >= 0) {
				close(cs[i].fd);
				cs[i].fd = -1;
			}
		printf("closed %ld\n", k);
		fflush(stdout);
		if (!wait_line())
			break;
	}
	printf("done\n");
	fflush(stdout);
	free(cs);
	close(ep);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc >= 2 && !strcmp(argv[1], "bursts")) {
		if (argc < 9 || argc > 10) {
			fprintf(stderr, "usage: netclient bursts MODE PORT ORIGIN_PORT COUNT BURSTS BIG INFLIGHT [SOCKS_PORT]\n"
			                "MODE: direct, proxy, connect, socks, or mix (SOCKS_PORT needed)\n");
			return 2;
		}
		mode = CONNECT;
		target = (struct sockaddr_in){.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[3])),
		                              .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
		b_origin = (unsigned)atoi(argv[4]);
		long count = atol(argv[5]), bursts = atol(argv[6]);
		b_big = strtoull(argv[7], NULL, 10);
		long inflight = atol(argv[8]);
		if (count <= 0 || bursts <= 0 || b_big == 0 || inflight <= 0) {
			fprintf(stderr, "netclient: COUNT, BURSTS, BIG and INFLIGHT must be positive\n");
			return 2;
		}
		bool mix = !strcmp(argv[2], "mix");
		if (mix && argc != 10) {
			fprintf(stderr, "netclient: mode mix needs SOCKS_PORT\n");
			return 2;
		}
		b_socks = target;
		if (mix)
			b_socks.sin_port = htons((uint16_t)atoi(argv[9]));
		build_requests(b_origin, false);
		return cmd_bursts(argv[2], count, bursts, inflight);
	}
	if (argc < 6 || argc > 7 || (strcmp(argv[1], "seq") && strcmp(argv[1], "hold")) ||
	    (argc == 7 && strcmp(argv[1], "hold"))) {
		fprintf(stderr, "usage: netclient seq  MODE PORT ORIGIN_PORT COUNT\n"
		                "       netclient hold MODE PORT ORIGIN_PORT COUNT [HOLD_SECONDS]\n"
		                "MODE: direct, proxy (absolute-form GET) or connect (CONNECT tunnel)\n");
		return 2;
	}
	if (!strcmp(argv[2], "direct"))
		mode = DIRECT;
	else if (!strcmp(argv[2], "proxy"))
		mode = PROXY;
	else if (!strcmp(argv[2], "connect"))
		mode = CONNECT;
	else {
		fprintf(stderr, "netclient: unknown mode %s\n", argv[2]);
		return 2;
	}
	target = (struct sockaddr_in){.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[3])),
	                              .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	unsigned origin = (unsigned)atoi(argv[4]);
	long count = atol(argv[5]);
	if (count <= 0) {
		fprintf(stderr, "netclient: COUNT must be positive\n");
		return 2;
	}
	bool seq = !strcmp(argv[1], "seq");
	build_requests(origin, seq);
	if (seq)
		return cmd_seq(count);
	return cmd_hold(count, argc == 7 ? atof(argv[6]) : 600.0);
}
