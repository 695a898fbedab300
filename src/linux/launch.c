/* srt-init launch: what a program using the library spawns. Connects to the runtime, receives bwrap's arguments and executes bwrap. */
#include "linux/launch.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "linux/proto.h"
#include "util/util.h"

#define LAUNCH_MAX_ARGV (64u * 1024 * 1024)

static int fail(const char *what, int e)
{
	fprintf(stderr, "srt: cannot start the sandbox: %s%s%s\n", what, e ? ": " : "", e ? strerror(e) : "");
	return 125;
}

/*
 * argv: SOCKET TOKEN. The connection becomes srt-init's socket to the
 * supervisor (fd 4 in bwrap), the runtime's first message after LAUNCH (the
 * mount plan) waits in it for srt-init; srt-init is fd 3 and bwrap's --args
 * memfd fd 5, as the runtime wrote them into bwrap's arguments.
 */
int launch_main(int argc, char **argv)
{
	if (argc != 2)
		return fail("usage: srt-init launch SOCKET TOKEN", 0);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (strlen(argv[0]) >= sizeof(sa.sun_path))
		return fail("socket path too long", 0);
	strcpy(sa.sun_path, argv[0]);
	int sock = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (sock < 0)
		return fail("socket", errno);
	if (connect(sock, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return fail("the runtime is gone", errno);
	size_t tlen = strlen(argv[1]);
	if (tlen > PROTO_MAX_PAYLOAD)
		return fail("bad token", 0);
	int r = proto_send(sock, PROTO_ATTACH, argv[1], (uint32_t)tlen, NULL, 0);
	if (r < 0)
		return fail("the runtime is gone", -r);
	static char payload[PROTO_MAX_PAYLOAD];
	uint32_t type = 0;
	int fds[PROTO_MAX_FDS];
	size_t nfds = 0;
	r = proto_recv(sock, &type, payload, NULL, fds, &nfds, NULL);
	if (r < 0 || type != PROTO_LAUNCH || nfds != 3)
		return fail("the runtime refused (the token was used already, or its runtime was freed)", 0);

	struct stat st;
	if (fstat(fds[2], &st) < 0 || st.st_size <= 0 || (unsigned long long)st.st_size > LAUNCH_MAX_ARGV)
		return fail("bad command line from the runtime", 0);
	size_t len = (size_t)st.st_size, off = 0;
	char *buf = malloc(len + 1);
	if (!buf)
		return fail("out of memory", 0);
	while (off < len) {
		ssize_t n = pread(fds[2], buf + off, len - off, (off_t)off);
		if (n <= 0)
			return fail("cannot read the command line", n < 0 ? errno : 0);
		off += (size_t)n;
	}
	buf[len] = '\0';
	size_t n_args = 0;
	for (size_t i = 0; i < len; i++)
		if (buf[i] == '\0')
			n_args++;
	if (buf[len - 1] != '\0' || n_args == 0)
		return fail("bad command line from the runtime", 0);
	char **args = calloc(n_args + 1, sizeof(*args));
	if (!args)
		return fail("out of memory", 0);
	for (size_t i = 0, k = 0; k < n_args; k++) {
		args[k] = buf + i;
		i += strlen(buf + i) + 1;
	}
	close(fds[2]);

	/* fd 3: srt-init, 4: the connection, 5: the --args memfd, nothing
	 * else above stderr. */
	int keep[] = { fds[0], sock, fds[1] };
	int e = fd_place(keep, 3, 3);
	if (e < 0)
		return fail(e == -EMFILE ? "fcntl (the open-file limit, RLIMIT_NOFILE, is too low)" : "fcntl", -e);
	/* Whoever spawned us may ignore or block signals (a program that
	 * ignores SIGCHLD, a shell's background job): bwrap needs SIGCHLD to
	 * learn that its child ended, and the sandbox must be stoppable. */
	static const int dfl[] = { SIGCHLD, SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGPIPE };
	for (size_t i = 0; i < sizeof(dfl) / sizeof(dfl[0]); i++)
		signal(dfl[i], SIG_DFL);
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	execv(args[0], args);
	return fail(args[0], errno);
}
