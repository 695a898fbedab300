/* srt proxy-connect: a CONNECT client for ssh's ProxyCommand inside the sandbox, so git over ssh needs no socat. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cli/cli.h"

static int usage(const char *why)
{
	fprintf(stderr, "srt proxy-connect: %s\n"
			"usage: srt proxy-connect [--proxy ADDR:PORT] HOST PORT\n", why);
	return 2;
}

static bool write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return false;
		p += w;
		n -= (size_t)w;
	}
	return true;
}

/* Connect to the proxy at spec ("127.0.0.1:3128" or "[::1]:3128"). */
static int dial(const char *spec)
{
	char host[64];
	const char *colon = strrchr(spec, ':');
	if (!colon || (size_t)(colon - spec) >= sizeof(host))
		return -1;
	memcpy(host, spec, (size_t)(colon - spec));
	host[colon - spec] = '\0';
	char *end = NULL;
	unsigned long port = strtoul(colon + 1, &end, 10);
	if (!end || *end || port == 0 || port > 65535)
		return -1;
	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof(ss));
	socklen_t len;
	size_t hl = strlen(host);
	if (host[0] == '[' && hl > 2 && host[hl - 1] == ']') {
		host[hl - 1] = '\0';
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
		if (inet_pton(AF_INET6, host + 1, &a->sin6_addr) != 1)
			return -1;
		a->sin6_family = AF_INET6;
		a->sin6_port = htons((uint16_t)port);
		len = sizeof(*a);
	} else {
		struct sockaddr_in *a = (struct sockaddr_in *)&ss;
		if (inet_pton(AF_INET, host, &a->sin_addr) != 1)
			return -1;
		a->sin_family = AF_INET;
		a->sin_port = htons((uint16_t)port);
		len = sizeof(*a);
	}
	int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&ss, len) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

int cli_proxy_connect(int argc, char **argv)
{
	const char *proxy = "127.0.0.1:3128";
	int i = 0;
	if (i + 1 < argc && strcmp(argv[i], "--proxy") == 0) {
		proxy = argv[i + 1];
		i += 2;
	}
	if (argc - i != 2)
		return usage("needs HOST and PORT");
	const char *host = argv[i], *port = argv[i + 1];
	/* The proxy checks the host; refuse here only what would break the
	 * request line. */
	for (const char *p = host; *p; p++)
		if ((unsigned char)*p <= ' ' || *p == 0x7f)
			return usage("bad HOST");
	for (const char *p = port; *p; p++)
		if (*p < '0' || *p > '9')
			return usage("bad PORT");
	int fd = dial(proxy);
	if (fd < 0) {
		fprintf(stderr, "srt proxy-connect: cannot reach the proxy at %s: %s\n", proxy, strerror(errno));
		return 1;
	}
	bool v6 = strchr(host, ':') != NULL;
	char req[600];
	int n = snprintf(req, sizeof(req), "CONNECT %s%s%s:%s HTTP/1.1\r\nHost: %s%s%s:%s\r\n\r\n", v6 ? "[" : "",
			 host, v6 ? "]" : "", port, v6 ? "[" : "", host, v6 ? "]" : "", port);
	if (n < 0 || (size_t)n >= sizeof(req) || !write_all(fd, req, (size_t)n))
		return usage("HOST too long");
	/* Read the answer head byte by byte: what follows it is the tunnel's. */
	char head[8192];
	size_t hl = 0;
	while (hl < sizeof(head) - 1) {
		ssize_t r = read(fd, head + hl, 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		hl++;
		if (hl >= 4 && memcmp(head + hl - 4, "\r\n\r\n", 4) == 0)
			break;
	}
	head[hl] = '\0';
	if (hl < 12 || strncmp(head, "HTTP/1.", 7) != 0 || strncmp(head + 9, "200", 3) != 0) {
		char *eol = strstr(head, "\r\n");
		if (eol)
			*eol = '\0';
		fprintf(stderr, "srt proxy-connect: the proxy refused %s:%s: %s\n", host, port,
			hl ? head : "no answer");
		return 1;
	}
	/* Relay stdin -> proxy and proxy -> stdout until both ends are done. */
	struct pollfd p[2] = { { .fd = 0, .events = POLLIN }, { .fd = fd, .events = POLLIN } };
	bool in_open = true, net_open = true;
	char buf[65536];
	while (net_open) {
		p[0].fd = in_open ? 0 : -1;
		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			return 1;
		}
		if (in_open && (p[0].revents & (POLLIN | POLLHUP | POLLERR))) {
			ssize_t r = read(0, buf, sizeof(buf));
			if (r > 0) {
				if (!write_all(fd, buf, (size_t)r))
					return 1;
			} else if (r == 0 || errno != EINTR) {
				in_open = false;
				shutdown(fd, SHUT_WR);
			}
		}
		if (p[1].revents & (POLLIN | POLLHUP | POLLERR)) {
			ssize_t r = read(fd, buf, sizeof(buf));
			if (r > 0) {
				if (!write_all(1, buf, (size_t)r))
					return 1;
			} else if (r == 0 || errno != EINTR) {
				net_open = false;
			}
		}
	}
	return 0;
}
