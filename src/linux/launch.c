/* srt-init launch: what a program using the library spawns. Connects to the runtime, receives bwrap's arguments, runs bwrap and stays its parent until it ends. */
#include "linux/launch.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "linux/proto.h"
#include "util/util.h"

#define LAUNCH_MAX_ARGV (64u * 1024 * 1024)

static int fail(const char *what, int e)
{
	fprintf(stderr, "srt: cannot start the sandbox: %s%s%s\n", what, e ? ": " : "", e ? strerror(e) : "");
	return 125;
}

/* Signals the caller may send to end the sandbox: passed on to bwrap, so
 * that it ends the way it always did and we report the same status. */
static const int passed_on[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2 };

/* End as bwrap ended: its exit code, or death by the same signal. */
static void __attribute__((noreturn)) exit_like(int status)
{
	if (WIFEXITED(status))
		_exit(WEXITSTATUS(status));
	int sig = WIFSIGNALED(status) ? WTERMSIG(status) : SIGKILL;
	/* bwrap's core, if any, is the one that matters. */
	struct rlimit none = { 0, 0 };
	setrlimit(RLIMIT_CORE, &none);
	signal(sig, SIG_DFL);
	sigset_t s;
	sigemptyset(&s);
	sigaddset(&s, sig);
	sigprocmask(SIG_UNBLOCK, &s, NULL);
	raise(sig);
	_exit(128 + sig);
}

/*
 * Parent of bwrap until it ends. bwrap's --die-with-parent ties bwrap to
 * its parent *thread* (PR_SET_PDEATHSIG fires when the thread that forked
 * it exits, not its process): were bwrap the process the caller spawned,
 * the sandbox would die with the caller's thread that spawned it. We are
 * single-threaded, so bwrap dies with us and only with us, and we stay
 * until the runtime is gone: when the process that owns the runtime exits
 * or is killed (runtime_pidfd), or every end of the runtime's side of the
 * connection is closed (sock: srt_runtime_free, an execve of the host,
 * or no pidfd here), we die, and the parent-death signals take bwrap and
 * the sandbox's PID 1 with us. We do not SIGKILL bwrap ourselves: between
 * its clone and its go-ahead to the child, the child would wait forever;
 * our death reaches bwrap only once it armed the signal, after which it
 * hands over at once, and a bwrap that did not arm it yet finds the
 * runtime gone when srt-init asks for its plan, and ends by itself.
 */
static void __attribute__((noreturn)) supervise(pid_t child, int sfd, int sock, int runtime_pidfd)
{
	for (;;) {
		struct pollfd p[3] = {
			{ .fd = sfd, .events = POLLIN },
			{ .fd = sock, .events = 0 }, /* hang-up only: the data is srt-init's */
			{ .fd = runtime_pidfd, .events = POLLIN },
		};
		if (poll(p, 3, -1) < 0 && errno != EINTR)
			kill(getpid(), SIGKILL); /* blind from now on: as if the runtime were gone */
		struct signalfd_siginfo si;
		while (read(sfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
			if (si.ssi_signo != SIGCHLD) {
				kill(child, (int)si.ssi_signo);
				continue;
			}
			int status;
			if (waitpid(child, &status, WNOHANG) == child)
				exit_like(status);
		}
		if (p[1].revents || p[2].revents)
			kill(getpid(), SIGKILL);
	}
}

/*
 * argv: SOCKET TOKEN. The connection becomes srt-init's socket to the
 * supervisor (fd 4 in bwrap), the runtime's first message after LAUNCH (the
 * mount plan) waits in it for srt-init; srt-init is fd 3 and bwrap's --args
 * memfd fd 5, as the runtime wrote them into bwrap's arguments. We keep the
 * connection too, to learn when the runtime is gone (see supervise).
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
	/* The process that owns the runtime: the one that listens (the
	 * kernel says which, whoever spawned us). Opened before the runtime
	 * answers, so that its answer proves the pid was not reused. Without
	 * it (a kernel before 5.3, or a pid we cannot see) the connection
	 * alone tells us when the runtime is gone. */
	struct ucred cred = { 0 };
	socklen_t cl = sizeof(cred);
	int runtime_pidfd = -1;
	if (getsockopt(sock, SOL_SOCKET, SO_PEERCRED, &cred, &cl) == 0 && cred.pid > 0)
		runtime_pidfd = (int)syscall(SYS_pidfd_open, cred.pid, 0);
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
	 * else above stderr in bwrap; 6, ours alone: the runtime's pidfd. */
	int keep[] = { fds[0], sock, fds[1], runtime_pidfd };
	int e = fd_place(keep, runtime_pidfd >= 0 ? 4 : 3, 3);
	if (e < 0)
		return fail(e == -EMFILE ? "fcntl (the open-file limit, RLIMIT_NOFILE, is too low)" : "fcntl", -e);
	if (runtime_pidfd >= 0) {
		runtime_pidfd = 6;
		fcntl(runtime_pidfd, F_SETFD, FD_CLOEXEC);
	}
	/* Whoever spawned us may ignore or block signals (a program that
	 * ignores SIGCHLD, a shell's background job): bwrap needs SIGCHLD to
	 * learn that its child ended, and the sandbox must be stoppable. */
	static const int dfl[] = { SIGCHLD, SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGPIPE };
	for (size_t i = 0; i < sizeof(dfl) / sizeof(dfl[0]); i++)
		signal(dfl[i], SIG_DFL);
	/* Ours arrive through a signalfd; blocked from before the fork, so
	 * that none sent meanwhile is lost. */
	sigset_t none, mine;
	sigemptyset(&none);
	sigemptyset(&mine);
	sigaddset(&mine, SIGCHLD);
	for (size_t i = 0; i < sizeof(passed_on) / sizeof(passed_on[0]); i++)
		sigaddset(&mine, passed_on[i]);
	sigprocmask(SIG_SETMASK, &mine, NULL);
	int sfd = signalfd(-1, &mine, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sfd < 0)
		return fail("signalfd", errno);
	pid_t child = fork();
	if (child < 0)
		return fail("fork", errno);
	if (child == 0) {
		sigprocmask(SIG_SETMASK, &none, NULL);
		execv(args[0], args);
		_exit(fail(args[0], errno));
	}
	/* srt-init, the --args memfd and the command line are bwrap's alone. */
	free(args);
	free(buf);
	close(3);
	close(5);
	fcntl(4, F_SETFD, FD_CLOEXEC);
	supervise(child, sfd, 4, runtime_pidfd);
}
