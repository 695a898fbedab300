/* tclient: the client side of bench/transparent, a program that ignores
 * proxy variables: it looks a name up itself and connects directly.
 *
 *   tclient get  NAME PORT BYTES     one GET /bytes/BYTES; prints "BYTES SECONDS"
 *   tclient seq  NAME PORT COUNT     COUNT times: getaddrinfo (first time
 *                                    only), socket, connect, close; prints the
 *                                    median microseconds of socket+connect+close
 *   tclient hold NAME PORT COUNT     opens COUNT connections, prints "ready N",
 *                                    holds them until stdin reaches end of file
 *
 * Built by bench/transparent with `cc -O2`; not part of the project build. */
#define _GNU_SOURCE
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static struct addrinfo *lookup(const char *name, const char *port)
{
	struct addrinfo hints = { .ai_family = AF_INET, .ai_socktype = SOCK_STREAM }, *res = NULL;
	int r = getaddrinfo(name, port, &hints, &res);
	if (r != 0) {
		fprintf(stderr, "tclient: %s: %s\n", name, gai_strerror(r));
		exit(1);
	}
	return res;
}

static int dial(const struct addrinfo *ai)
{
	int s = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0 || connect(s, ai->ai_addr, ai->ai_addrlen) < 0) {
		perror("tclient: connect");
		exit(1);
	}
	return s;
}

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	if (argc < 5) {
		fprintf(stderr, "usage: tclient get|seq|hold NAME PORT N\n");
		return 2;
	}
	long n = atol(argv[4]);
	struct addrinfo *ai = lookup(argv[2], argv[3]);
	if (strcmp(argv[1], "get") == 0) {
		int s = dial(ai);
		char req[256];
		int l = snprintf(req, sizeof(req), "GET /bytes/%ld HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", n);
		double t0 = now();
		if (write(s, req, (size_t)l) != l)
			return 1;
		static char buf[1 << 20];
		long total = 0;
		ssize_t k;
		while ((k = read(s, buf, sizeof(buf))) > 0)
			total += k;
		double t1 = now();
		printf("%ld %.6f\n", total, t1 - t0);
		return total > n ? 0 : 1;
	}
	if (strcmp(argv[1], "seq") == 0) {
		double *us = calloc((size_t)n, sizeof(double));
		for (long i = -20; i < n; i++) {
			double t0 = now();
			int s = dial(ai);
			close(s);
			double t1 = now();
			if (i >= 0)
				us[i] = (t1 - t0) * 1e6;
		}
		qsort(us, (size_t)n, sizeof(double), cmp);
		printf("%.1f\n", us[n / 2]);
		return 0;
	}
	if (strcmp(argv[1], "hold") == 0) {
		struct rlimit rl;
		if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
			rl.rlim_cur = rl.rlim_max;
			setrlimit(RLIMIT_NOFILE, &rl);
		}
		for (long i = 0; i < n; i++)
			(void)dial(ai);
		printf("ready %ld\n", n);
		fflush(stdout);
		char c;
		while (read(0, &c, 1) > 0)
			;
		return 0;
	}
	return 2;
}
