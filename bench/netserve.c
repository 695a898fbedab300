/* netserve: a loopback HTTP/1.1 origin server for bench/network.
 *
 *   netserve PORT        (PORT 0: pick a free one)
 *
 * Listens on 127.0.0.1:PORT and prints the port on the first line of
 * stdout. One thread, epoll, non-blocking sockets, keep-alive, pipelining.
 *
 *   GET /bytes/N   200, N bytes of body ('x'), sent with sendfile(2) from a
 *                  16 MiB memfd, so a large body costs no copy in user space
 *   GET /pattern/N 200, N bytes of body where byte i is i % 251, also with
 *                  sendfile(2) (from a second memfd, made at the first such
 *                  request), so a client can check every byte cheaply: a
 *                  lost, repeated or misplaced piece shows (251 is prime,
 *                  so no power-of-two shift keeps the pattern)
 *   GET /small     200, a 3-byte body ("ok\n")
 *   anything else  404
 *
 * Any method and request target are accepted; an absolute-form target
 * ("http://host:port/path") is reduced to its path. Request bodies are not
 * read (the benchmarks send none). "Connection: close" (or HTTP/1.0
 * without keep-alive) closes the connection after the response.
 *
 * Idle connections cost a small struct each (no buffer unless a request
 * arrives in pieces), so 10,000 and more are cheap; RLIMIT_NOFILE's soft
 * limit is raised to the hard limit at start. Built by bench/network with
 * `cc -O2 -pthread`; not part of the project build. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <unistd.h>

#include "nofile.h"

#define BODY_FILE_SIZE (16u << 20)  /* memfd size; bodies cycle over it */
#define PATTERN_PERIOD 251u
#define PATTERN_FILE_SIZE (PATTERN_PERIOD * 65536u)  /* whole periods: cycles seamlessly */
#define MAX_HEAD 16384              /* longest request head accepted */
#define READ_CHUNK 65536

struct conn {
	int fd;
	bool writing;      /* a response is being sent; input waits */
	bool close_after;  /* close once the response is out */
	uint16_t out_len, out_off;
	uint64_t body_left;  /* bytes of /bytes/N body still to send */
	uint64_t body_sent;
	bool pattern;        /* the body comes from the pattern memfd */
	char *pend;          /* unparsed input, only when some is left over */
	uint32_t pend_len, pend_cap;
	char out[192];       /* status line + headers (+ small body) */
};

static int ep;
static int body_fd;
static int pattern_fd = -1;  /* made at the first GET /pattern/N */
static struct conn **conns;
static size_t nconns_max;
/* input: a kept partial head (<= MAX_HEAD) + one read (<= READ_CHUNK) */
static char rbuf[MAX_HEAD + READ_CHUNK];

static void die(const char *what)
{
	fprintf(stderr, "netserve: %s: %s\n", what, strerror(errno));
	exit(1);
}

/* The /pattern/N body source: byte i is i % PATTERN_PERIOD. */
static int make_pattern_file(void)
{
	int fd = memfd_create("netserve-pattern", MFD_CLOEXEC);
	if (fd < 0)
		die("memfd_create");
	static char chunk[PATTERN_PERIOD * 4096];
	for (size_t i = 0; i < sizeof chunk; i++)
		chunk[i] = (char)(i % PATTERN_PERIOD);
	for (size_t off = 0; off < PATTERN_FILE_SIZE; off += sizeof chunk)
		if (pwrite(fd, chunk, sizeof chunk, (off_t)off) != (ssize_t)sizeof chunk)
			die("write memfd");
	return fd;
}

static void set_events(struct conn *c, uint32_t events)
{
	struct epoll_event ev = {.events = events, .data.fd = c->fd};
	if (epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev) < 0)
		die("epoll_ctl MOD");
}

static void conn_close(struct conn *c)
{
	conns[c->fd] = NULL;
	close(c->fd);
	free(c->pend);
	free(c);
}

/* Case-insensitive search for a header line "name:" whose value contains
 * token, within the head [p, end). */
static bool header_has(const char *p, const char *end, const char *name, const char *token)
{
	size_t nlen = strlen(name), tlen = strlen(token);
	const char *line = memchr(p, '\n', (size_t)(end - p));
	while (line && line + 1 < end) {
		line++;
		const char *eol = memchr(line, '\n', (size_t)(end - line));
		if (!eol)
			eol = end;
		if ((size_t)(eol - line) > nlen && strncasecmp(line, name, nlen) == 0 && line[nlen] == ':') {
			for (const char *v = line + nlen + 1; v + tlen <= eol; v++)
				if (strncasecmp(v, token, tlen) == 0)
					return true;
		}
		line = eol < end ? eol : NULL;
	}
	return false;
}

/* Sets up the response to the request head [p, end) (end just past the
 * blank line). */
static void start_response(struct conn *c, const char *p, const char *end)
{
	const char *sp1 = memchr(p, ' ', (size_t)(end - p));
	const char *target = sp1 ? sp1 + 1 : end;
	const char *sp2 = memchr(target, ' ', (size_t)(end - target));
	const char *tend = sp2 ? sp2 : end;
	bool head = sp1 && sp1 - p == 4 && memcmp(p, "HEAD", 4) == 0;
	bool http10 = sp2 && end - sp2 >= 9 && memcmp(sp2 + 1, "HTTP/1.0", 8) == 0;

	/* absolute-form: skip "scheme://authority" */
	if (tend - target > 3 && target[0] != '/') {
		const char *s = memchr(target, ':', (size_t)(tend - target));
		if (s && tend - s > 3 && s[1] == '/' && s[2] == '/') {
			const char *slash = memchr(s + 3, '/', (size_t)(tend - s - 3));
			target = slash ? slash : tend;
		}
	}
	size_t tlen = (size_t)(tend - target);

	c->close_after = http10 ? !header_has(p, end, "connection", "keep-alive")
	                        : header_has(p, end, "connection", "close");
	const char *conn_hdr = c->close_after ? "Connection: close\r\n" : "";
	int n;
	c->body_left = 0;
	c->body_sent = 0;
	c->pattern = false;
	size_t plen = 0;  /* length of the "/bytes/" or "/pattern/" prefix */
	if (tlen > 7 && memcmp(target, "/bytes/", 7) == 0)
		plen = 7;
	else if (tlen > 9 && memcmp(target, "/pattern/", 9) == 0) {
		plen = 9;
		c->pattern = true;
		if (pattern_fd < 0)
			pattern_fd = make_pattern_file();
	}
	if (plen) {
		char num[24];
		size_t l = tlen - plen < sizeof num - 1 ? tlen - plen : sizeof num - 1;
		memcpy(num, target + plen, l);
		num[l] = 0;
		unsigned long long len = strtoull(num, NULL, 10);
		n = snprintf(c->out, sizeof c->out,
		             "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
		             "Content-Length: %llu\r\n%s\r\n", len, conn_hdr);
		c->body_left = head ? 0 : len;
	} else if (tlen == 6 && memcmp(target, "/small", 6) == 0) {
		n = snprintf(c->out, sizeof c->out,
		             "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
		             "Content-Length: 3\r\n%s\r\n%s", conn_hdr, head ? "" : "ok\n");
	} else {
		n = snprintf(c->out, sizeof c->out,
		             "HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\n"
		             "Content-Length: 10\r\n%s\r\n%s", conn_hdr, head ? "" : "not found\n");
	}
	c->out_len = (uint16_t)n;
	c->out_off = 0;
	c->writing = true;
}

/* Sends what it can of the current response. Returns 1 when the response
 * is complete, 0 when the socket is full, -1 when the connection failed. */
static int send_some(struct conn *c)
{
	while (c->out_off < c->out_len) {
		ssize_t w = send(c->fd, c->out + c->out_off, c->out_len - c->out_off,
		                 MSG_NOSIGNAL | (c->body_left ? MSG_MORE : 0));
		if (w < 0)
			return errno == EAGAIN ? 0 : -1;
		c->out_off += (uint16_t)w;
	}
	int src = c->pattern ? pattern_fd : body_fd;
	uint64_t src_size = c->pattern ? PATTERN_FILE_SIZE : BODY_FILE_SIZE;
	while (c->body_left) {
		off_t off = (off_t)(c->body_sent % src_size);
		size_t want = (size_t)(src_size - (uint64_t)off);
		if (want > c->body_left)
			want = (size_t)c->body_left;
		ssize_t w = sendfile(c->fd, src, &off, want);
		if (w < 0)
			return errno == EAGAIN ? 0 : -1;
		if (w == 0)
			return -1;
		c->body_left -= (uint64_t)w;
		c->body_sent += (uint64_t)w;
	}
	c->writing = false;
	return 1;
}

/* Keeps [p, p+len) for later: a partial request head (at most MAX_HEAD
 * bytes), or requests that wait for the current response to go out. */
static bool keep_pending(struct conn *c, const char *p, size_t len, size_t limit)
{
	c->pend_len = 0;
	if (len == 0) {  /* nothing left: an idle connection keeps no buffer */
		free(c->pend);
		c->pend = NULL;
		c->pend_cap = 0;
		return true;
	}
	if (len > limit)
		return false;
	if (c->pend_cap < len) {
		char *np = realloc(c->pend, len);
		if (!np)
			return false;
		c->pend = np;
		c->pend_cap = (uint32_t)len;
	}
	memmove(c->pend, p, len);
	c->pend_len = (uint32_t)len;
	return true;
}

/* Answers the complete requests in [p, p+len) one after the other; keeps
 * what is left. Returns false when the connection was closed. */
static bool serve(struct conn *c, const char *p, size_t len)
{
	for (;;) {
		const char *end = memmem(p, len, "\r\n\r\n", 4);
		if (!end) {
			if (!keep_pending(c, p, len, MAX_HEAD)) {
				conn_close(c);
				return false;
			}
			return true;
		}
		end += 4;
		start_response(c, p, end);
		len -= (size_t)(end - p);
		p = end;
		int r = send_some(c);
		if (r < 0 || (r == 1 && c->close_after)) {
			conn_close(c);
			return false;
		}
		if (r == 0) {
			if (!keep_pending(c, p, len, sizeof rbuf)) {
				conn_close(c);
				return false;
			}
			set_events(c, EPOLLOUT);
			return true;
		}
	}
}

static void on_readable(struct conn *c)
{
	/* a partial head kept from before goes in front of the new bytes */
	size_t have = c->pend_len;
	if (have)
		memcpy(rbuf, c->pend, have);
	ssize_t n = recv(c->fd, rbuf + have, READ_CHUNK, 0);
	if (n == 0 || (n < 0 && errno != EAGAIN)) {
		conn_close(c);
		return;
	}
	if (n < 0)
		return;
	c->pend_len = 0;
	serve(c, rbuf, have + (size_t)n);
}

static void on_writable(struct conn *c)
{
	int r = send_some(c);
	if (r < 0 || (r == 1 && c->close_after)) {
		conn_close(c);
		return;
	}
	if (r == 0)
		return;
	set_events(c, EPOLLIN);
	if (c->pend_len) {
		size_t len = c->pend_len;
		memcpy(rbuf, c->pend, len);
		c->pend_len = 0;
		serve(c, rbuf, len);
	}
}

static void accept_all(int lfd)
{
	static bool warned;
	for (;;) {
		int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EAGAIN || errno == EINTR || errno == ECONNABORTED)
				return;
			if ((errno == EMFILE || errno == ENFILE) && !warned) {
				warned = true;
				fprintf(stderr, "netserve: accept: %s (connections wait in the backlog)\n",
				        strerror(errno));
			}
			return;
		}
		if ((size_t)fd >= nconns_max) {
			close(fd);
			continue;
		}
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
		struct conn *c = calloc(1, sizeof *c);
		if (!c) {
			close(fd);
			continue;
		}
		c->fd = fd;
		conns[fd] = c;
		struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};
		if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0)
			die("epoll_ctl ADD");
	}
}

static int make_body_file(void)
{
	int fd = memfd_create("netserve-body", MFD_CLOEXEC);
	if (fd < 0)
		die("memfd_create");
	static char chunk[1 << 20];
	memset(chunk, 'x', sizeof chunk);
	for (size_t off = 0; off < BODY_FILE_SIZE; off += sizeof chunk)
		if (pwrite(fd, chunk, sizeof chunk, (off_t)off) != (ssize_t)sizeof chunk)
			die("write memfd");
	return fd;
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: netserve PORT   (0: pick a free port, printed on stdout)\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	raise_nofile();
	struct rlimit rl;
	getrlimit(RLIMIT_NOFILE, &rl);
	nconns_max = rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > (1u << 22) ? (1u << 22) : rl.rlim_cur;
	conns = calloc(nconns_max, sizeof *conns);
	if (!conns)
		die("calloc");
	body_fd = make_body_file();

	int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (lfd < 0)
		die("socket");
	int one = 1;
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[1])),
	                         .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	if (bind(lfd, (struct sockaddr *)&sa, sizeof sa) < 0)
		die("bind");
	if (listen(lfd, 65535) < 0)
		die("listen");
	socklen_t sl = sizeof sa;
	getsockname(lfd, (struct sockaddr *)&sa, &sl);
	printf("%u\n", ntohs(sa.sin_port));
	fflush(stdout);

	ep = epoll_create1(EPOLL_CLOEXEC);
	if (ep < 0)
		die("epoll_create1");
	struct epoll_event lev = {.events = EPOLLIN, .data.fd = lfd};
	if (epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &lev) < 0)
		die("epoll_ctl ADD");

	struct epoll_event evs[512];
	for (;;) {
		int n = epoll_wait(ep, evs, 512, -1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			die("epoll_wait");
		}
		for (int i = 0; i < n; i++) {
			int fd = evs[i].data.fd;
			if (fd == lfd) {
				accept_all(lfd);
				continue;
			}
			struct conn *c = conns[fd];
			if (!c)
				continue;
			if (c->writing)
				on_writable(c);
			else
				on_readable(c);
		}
	}
}
