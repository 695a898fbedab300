/* parentserve: the parent proxy of bench/parentproxy. A minimal HTTP
 * CONNECT proxy, the kind a corporate network puts in front of the
 * internet, standing in for one on loopback.
 *
 *   parentserve LISTEN_PORT     (0: pick a free one, printed on stdout)
 *
 * Listens on 127.0.0.1:LISTEN_PORT. For each client, one thread reads the
 * request head, which must be "CONNECT HOST:PORT HTTP/1.x"; it resolves
 * every HOST to 127.0.0.1 (names included: the parent resolves, and this
 * one knows only loopback), connects there, answers "200 Connection
 * established" (anything else: 400 or 502 and close), then copies each
 * direction in its own thread as bench/relay.c does. Built by
 * bench/parentproxy with `cc -O2 -pthread`; not part of the project build. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "nofile.h"

#define BUF_SIZE (256 * 1024)

struct pair {
	int client, upstream;
	atomic_int running;
};

struct direction {
	struct pair *pair;
	int from, to;
};

static pthread_attr_t attr;

static void *copy(void *arg)
{
	struct direction *d = arg;
	char *buf = malloc(BUF_SIZE);
	for (;;) {
		ssize_t n = buf ? read(d->from, buf, BUF_SIZE) : -1;
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		ssize_t off = 0;
		while (off < n) {
			ssize_t w = write(d->to, buf + off, (size_t)(n - off));
			if (w < 0 && errno == EINTR)
				continue;
			if (w <= 0)
				goto done;
			off += w;
		}
	}
done:
	shutdown(d->to, SHUT_WR);
	free(buf);
	struct pair *p = d->pair;
	free(d);
	if (atomic_fetch_sub(&p->running, 1) == 1) {
		close(p->client);
		close(p->upstream);
		free(p);
	}
	return NULL;
}

static void answer(int c, const char *text)
{
	ssize_t r = write(c, text, strlen(text));
	(void)r;
	close(c);
}

/* One client: the CONNECT head, the dial, then the two copy threads (this
 * thread becomes the client -> upstream one). */
static void *serve(void *arg)
{
	int c = (int)(intptr_t)arg;
	char head[8192];
	size_t len = 0;
	char *end = NULL;
	while (!end) {
		if (len == sizeof head - 1)
			return answer(c, "HTTP/1.1 431 Too Large\r\n\r\n"), NULL;
		ssize_t n = read(c, head + len, sizeof head - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return close(c), NULL;
		len += (size_t)n;
		head[len] = '\0';
		end = strstr(head, "\r\n\r\n");
	}
	char host[256];
	unsigned port = 0;
	if (sscanf(head, "CONNECT %255[^: ]:%u HTTP/1.", host, &port) != 2 || port == 0 || port > 65535)
		return answer(c, "HTTP/1.1 400 Bad Request\r\n\r\n"), NULL;
	struct sockaddr_in up = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
	                         .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	int u = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (u < 0 || connect(u, (struct sockaddr *)&up, sizeof up) < 0) {
		if (u >= 0)
			close(u);
		return answer(c, "HTTP/1.1 502 Bad Gateway\r\n\r\n"), NULL;
	}
	int one = 1;
	setsockopt(u, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	static const char ok[] = "HTTP/1.1 200 Connection established\r\n\r\n";
	size_t rest = len - (size_t)(end + 4 - head);
	if (write(c, ok, sizeof ok - 1) != (ssize_t)(sizeof ok - 1) ||
	    (rest && write(u, end + 4, rest) != (ssize_t)rest)) {
		close(u);
		close(c);
		return NULL;
	}
	struct pair *p = malloc(sizeof *p);
	struct direction *down = malloc(sizeof *down), *upd = malloc(sizeof *upd);
	if (!p || !down || !upd) {
		free(p), free(down), free(upd);
		close(u);
		close(c);
		return NULL;
	}
	p->client = c;
	p->upstream = u;
	atomic_init(&p->running, 2);
	*down = (struct direction){p, u, c};
	*upd = (struct direction){p, c, u};
	pthread_t t;
	if (pthread_create(&t, &attr, copy, down) != 0) {
		free(down);
		shutdown(c, SHUT_RDWR);
		shutdown(u, SHUT_RDWR);
		atomic_fetch_sub(&p->running, 1);
	}
	return copy(upd);
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: parentserve LISTEN_PORT   (0: pick a free port, printed on stdout)\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	raise_nofile();
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[1])),
	                         .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int one = 1;
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(lfd, 4096) < 0) {
		fprintf(stderr, "parentserve: listen: %s\n", strerror(errno));
		return 1;
	}
	socklen_t sl = sizeof sa;
	getsockname(lfd, (struct sockaddr *)&sa, &sl);
	printf("%u\n", ntohs(sa.sin_port));
	fflush(stdout);
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, 64 * 1024);
	for (;;) {
		int c = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		if (c < 0) {
			if (errno == EMFILE || errno == ENFILE)
				usleep(1000);
			continue;
		}
		setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
		pthread_t t;
		if (pthread_create(&t, &attr, serve, (void *)(intptr_t)c) != 0)
			close(c);
	}
}
