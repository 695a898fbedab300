/* parentserve: the parent proxy of bench/parentproxy. A minimal HTTP
 * CONNECT proxy, the kind a corporate network puts in front of the
 * internet, standing in for one on loopback.
 *
 *   parentserve LISTEN_PORT     (0: pick a free one, printed on stdout)
 *
 * Listens on 127.0.0.1:LISTEN_PORT. For each client, one thread reads the
 * request head: "CONNECT HOST:PORT HTTP/1.x", or an absolute-form request
 * "METHOD http://HOST:PORT/PATH HTTP/1.x". It resolves every HOST to
 * 127.0.0.1 (names included: the parent resolves, and this one knows only
 * loopback) and connects there; for CONNECT it answers "200 Connection
 * established", for an absolute-form request it sends the head on in
 * origin form, without its Proxy-* fields (anything else: 400 or 502 and
 * close); then it copies each direction in its own thread as
 * bench/relay.c does. Built by
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
#include <strings.h>
#include <stdbool.h>
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
	char host[256], method[16];
	unsigned port = 0;
	int path_at = 0;
	bool connect_req = strncmp(head, "CONNECT ", 8) == 0;
	if (connect_req) {
		if (sscanf(head, "CONNECT %255[^: ]:%u HTTP/1.", host, &port) != 2)
			port = 0;
	} else if (sscanf(head, "%15[A-Z] http://%255[^:/ ]:%u%n", method, host, &port, &path_at) != 3 ||
		   head[path_at] != '/') {
		port = 0;
	}
	if (port == 0 || port > 65535)
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
	size_t rest = len - (size_t)(end + 4 - head);
	if (connect_req) {
		static const char ok[] = "HTTP/1.1 200 Connection established\r\n\r\n";
		if (write(c, ok, sizeof ok - 1) != (ssize_t)(sizeof ok - 1) ||
		    (rest && write(u, end + 4, rest) != (ssize_t)rest)) {
			close(u);
			close(c);
			return NULL;
		}
	} else {
		/* METHOD /PATH..., the fields but Proxy-*, then what followed. */
		char out[8192 + 64];
		int n = snprintf(out, sizeof out, "%s ", method);
		char *line_end = strstr(head, "\r\n");
		memcpy(out + n, head + path_at, (size_t)(line_end - head - path_at) + 2);
		n += (int)(line_end - head - path_at) + 2;
		for (char *f = line_end + 2; f < end + 2;) {
			char *fe = strstr(f, "\r\n");
			if (strncasecmp(f, "proxy-", 6) != 0) {
				memcpy(out + n, f, (size_t)(fe - f) + 2);
				n += (int)(fe - f) + 2;
			}
			f = fe + 2;
		}
		memcpy(out + n, "\r\n", 2);
		n += 2;
		if (write(u, out, (size_t)n) != n || (rest && write(u, end + 4, rest) != (ssize_t)rest)) {
			close(u);
			close(c);
			return NULL;
		}
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
