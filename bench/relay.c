/* relay: the baseline for bench/network. A minimal TCP relay that only
 * copies bytes between two sockets, the least any proxy has to do.
 *
 *   relay LISTEN_PORT UPSTREAM_PORT     (LISTEN_PORT 0: pick a free one)
 *
 * Listens on 127.0.0.1:LISTEN_PORT (the port is printed on the first line
 * of stdout); for each accepted client it connects to
 * 127.0.0.1:UPSTREAM_PORT and copies each direction in its own thread with
 * a 256 KiB buffer: read, write it all, and on end of file shutdown(SHUT_WR)
 * the other side; both sockets are closed when both directions are done.
 * Nothing else: no parsing, no policy, no event loop. Built by
 * bench/network with `cc -O2 -pthread`; not part of the project build. */
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
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "nofile.h"

#define BUF_SIZE (256 * 1024)

struct pair {
	int client, upstream;
	atomic_int running;  /* directions still copying */
};

struct direction {
	struct pair *pair;
	int from, to;
};

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

static int start(struct pair *p, int from, int to, pthread_attr_t *attr)
{
	struct direction *d = malloc(sizeof *d);
	if (!d)
		return -1;
	*d = (struct direction){p, from, to};
	pthread_t t;
	if (pthread_create(&t, attr, copy, d) != 0) {
		free(d);
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: relay LISTEN_PORT UPSTREAM_PORT   (0: pick a free port, printed on stdout)\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	raise_nofile();
	struct sockaddr_in up = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[2])),
	                         .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[1])),
	                         .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int one = 1;
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(lfd, 4096) < 0) {
		fprintf(stderr, "relay: listen: %s\n", strerror(errno));
		return 1;
	}
	socklen_t sl = sizeof sa;
	getsockname(lfd, (struct sockaddr *)&sa, &sl);
	printf("%u\n", ntohs(sa.sin_port));
	fflush(stdout);

	/* the buffer is on the heap: a small stack is enough */
	pthread_attr_t attr;
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
		int u = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (u < 0 || connect(u, (struct sockaddr *)&up, sizeof up) < 0) {
			if (u >= 0)
				close(u);
			close(c);
			continue;
		}
		/* no Nagle delay on small writes, as any proxy would */
		setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
		setsockopt(u, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
		struct pair *p = malloc(sizeof *p);
		if (!p) {
			close(c);
			close(u);
			continue;
		}
		p->client = c;
		p->upstream = u;
		atomic_init(&p->running, 2);
		if (start(p, c, u, &attr) < 0) {
			close(c);
			close(u);
			free(p);
			continue;
		}
		if (start(p, u, c, &attr) < 0) {
			/* the first thread ends when the sockets are shut down */
			shutdown(c, SHUT_RDWR);
			shutdown(u, SHUT_RDWR);
			if (atomic_fetch_sub(&p->running, 1) == 1) {
				close(c);
				close(u);
				free(p);
			}
		}
	}
}
