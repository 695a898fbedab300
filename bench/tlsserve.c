/* A loopback HTTPS/1.1 origin for bench/tls: /small answers "ok\n", /big?N sends N bytes in 1 MiB writes; keep-alive; one thread per connection. Usage: tlsserve CERT KEY (prints its port). */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#define CHUNK (1 << 20)

static SSL_CTX *ctx;
static char *chunk;

static void *serve(void *arg)
{
	int fd = (int)(long)arg;
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	SSL *ssl = SSL_new(ctx);
	SSL_set_fd(ssl, fd);
	char head[8192];
	size_t len = 0;
	if (SSL_accept(ssl) != 1)
		goto out;
	for (;;) {
		char *end;
		while (!(end = memmem(head, len, "\r\n\r\n", 4))) {
			if (len == sizeof(head))
				goto out;
			int n = SSL_read(ssl, head + len, (int)(sizeof(head) - len));
			if (n <= 0)
				goto out;
			len += (size_t)n;
		}
		size_t hl = (size_t)(end - head) + 4;
		head[hl - 1] = '\0';
		int close_after = strstr(head, "\nConnection: close") || strstr(head, "\nconnection: close");
		char *sp = strchr(head, ' ');
		if (sp && strncmp(sp + 1, "/big?", 5) == 0) {
			unsigned long long n = strtoull(sp + 6, NULL, 10);
			char h[128];
			int k = snprintf(h, sizeof(h), "HTTP/1.1 200 OK\r\nContent-Length: %llu\r\n\r\n", n);
			if (SSL_write(ssl, h, k) <= 0)
				goto out;
			while (n > 0) {
				int w = n < CHUNK ? (int)n : CHUNK;
				if (SSL_write(ssl, chunk, w) <= 0)
					goto out;
				n -= (unsigned long long)w;
			}
		} else {
			char h[160];
			int k = snprintf(h, sizeof(h), "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n%s\r\nok\n",
					 close_after ? "Connection: close\r\n" : "");
			if (SSL_write(ssl, h, k) <= 0)
				goto out;
		}
		memmove(head, head + hl, len - hl);
		len -= hl;
		if (close_after) {
			SSL_shutdown(ssl);
			break;
		}
	}
out:
	SSL_free(ssl);
	close(fd);
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: tlsserve CERT KEY\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	ctx = SSL_CTX_new(TLS_server_method());
	if (!ctx || SSL_CTX_use_certificate_chain_file(ctx, argv[1]) != 1 ||
	    SSL_CTX_use_PrivateKey_file(ctx, argv[2], SSL_FILETYPE_PEM) != 1) {
		ERR_print_errors_fp(stderr);
		return 1;
	}
	chunk = malloc(CHUNK);
	memset(chunk, 'x', CHUNK);
	int s = socket(AF_INET, SOCK_STREAM, 0);
	int one = 1;
	setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t al = sizeof(a);
	if (bind(s, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(s, 512) < 0 ||
	    getsockname(s, (struct sockaddr *)&a, &al) < 0) {
		perror("tlsserve");
		return 1;
	}
	printf("%u\n", ntohs(a.sin_port));
	fflush(stdout);
	for (;;) {
		int fd = accept(s, NULL, NULL);
		if (fd < 0)
			continue;
		pthread_t t;
		if (pthread_create(&t, NULL, serve, (void *)(long)fd) == 0)
			pthread_detach(t);
		else
			close(fd);
	}
}
