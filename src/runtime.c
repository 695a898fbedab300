/* The supervisor's lifecycle: start a sandbox for a command, serve it, and return its exit status. */
#include "runtime.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <stdlib.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>

#include "linux/bwrap.h"
#include "linux/mountplan.h"
#include "linux/placeholder.h"
#include "linux/seccomp_filter.h"
#include "linux/proto.h"
#include "policy/netpolicy.h"
#include "proxy/server.h"

static const int forwarded[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2 };

struct supervisor {
	uv_loop_t loop;
	uv_poll_t sig_watch;
	uv_poll_t sock_watch;
	int sigfd;
	int sock;
	bool sock_open;
	pid_t bwrap_pid;
	int bwrap_status;
	bool bwrap_done;
	pid_t init_pid;
	int init_pidfd;
	bool started;        /* the init said hello and got GO */
	int pending[8];
	size_t n_pending;
	struct guardian *guard;
	bool debug;
	struct proxy_server *proxy;
	struct listen_spec *listens;
	size_t n_listens;
};

/* One listener srt-init makes inside the sandbox, and what serves it. */
struct listen_spec {
	char addr[64];                  /* "127.0.0.1:3128", "[::1]:5432" */
	enum proxy_kind kind;
	struct sockaddr_storage target; /* FORWARD: the host address */
	socklen_t target_len;
};

static void loopback_target(struct listen_spec *l, int family, uint16_t port)
{
	memset(&l->target, 0, sizeof(l->target));
	if (family == AF_INET6) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&l->target;
		a->sin6_family = AF_INET6;
		a->sin6_addr = in6addr_loopback;
		a->sin6_port = htons(port);
		l->target_len = sizeof(*a);
	} else {
		struct sockaddr_in *a = (struct sockaddr_in *)&l->target;
		a->sin_family = AF_INET;
		a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		a->sin_port = htons(port);
		l->target_len = sizeof(*a);
	}
}

/* The listeners of a sandbox: our two proxies (or forwarders to the user's
 * own proxies on the host), and each host loopback service the policy
 * allows, on 127.0.0.1 and ::1. */
static int plan_listeners(const struct runtime_net *n, struct listen_spec **ret, size_t *ret_n,
			  struct srt_error *err)
{
	size_t n_lo = n->policy ? net_policy_loopback_ports(n->policy, NULL, 0) : 0;
	uint16_t *ports = calloc(n_lo ? n_lo : 1, sizeof(*ports));
	struct listen_spec *v = calloc(2 + 2 * n_lo, sizeof(*v));
	if (!ports || !v) {
		free(ports);
		free(v);
		return srt_error_set(err, -ENOMEM, "out of memory");
	}
	if (n_lo)
		net_policy_loopback_ports(n->policy, ports, n_lo);
	size_t k = 0;
	snprintf(v[k].addr, sizeof(v[k].addr), "127.0.0.1:%u", (unsigned)n->http_port);
	v[k].kind = n->external_http_port ? PROXY_KIND_FORWARD : PROXY_KIND_HTTP;
	if (n->external_http_port)
		loopback_target(&v[k], AF_INET, n->external_http_port);
	k++;
	snprintf(v[k].addr, sizeof(v[k].addr), "127.0.0.1:%u", (unsigned)n->socks_port);
	v[k].kind = n->external_socks_port ? PROXY_KIND_FORWARD : PROXY_KIND_SOCKS;
	if (n->external_socks_port)
		loopback_target(&v[k], AF_INET, n->external_socks_port);
	k++;
	for (size_t i = 0; i < n_lo; i++) {
		if (ports[i] == n->http_port || ports[i] == n->socks_port) {
			int r = srt_error_set(err, -EADDRINUSE,
					      "network.allowedDomains: the host loopback port %u cannot be reached "
					      "directly inside the sandbox: srt's %s proxy listens there (choose "
					      "other proxy ports)", (unsigned)ports[i],
					      ports[i] == n->http_port ? "HTTP" : "SOCKS5");
			free(ports);
			free(v);
			return r;
		}
		snprintf(v[k].addr, sizeof(v[k].addr), "127.0.0.1:%u", (unsigned)ports[i]);
		v[k].kind = PROXY_KIND_FORWARD;
		loopback_target(&v[k++], AF_INET, ports[i]);
		snprintf(v[k].addr, sizeof(v[k].addr), "[::1]:%u", (unsigned)ports[i]);
		v[k].kind = PROXY_KIND_FORWARD;
		loopback_target(&v[k++], AF_INET6, ports[i]);
	}
	free(ports);
	*ret = v;
	*ret_n = k;
	return 0;
}

/* The command's environment: where the proxies are, the way tools look
 * for them. Set in bwrap's process just before it is executed. */
static void set_proxy_environment(const struct runtime_net *n)
{
	char http[64], socks[64];
	snprintf(http, sizeof(http), "http://127.0.0.1:%u", (unsigned)n->http_port);
	snprintf(socks, sizeof(socks), "socks5h://127.0.0.1:%u", (unsigned)n->socks_port);
	static const char *const http_vars[] = { "HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy",
						  "GRPC_PROXY", "grpc_proxy", "DOCKER_HTTP_PROXY",
						  "DOCKER_HTTPS_PROXY" };
	static const char *const socks_vars[] = { "ALL_PROXY", "all_proxy", "FTP_PROXY", "ftp_proxy" };
	for (size_t i = 0; i < sizeof(http_vars) / sizeof(http_vars[0]); i++)
		setenv(http_vars[i], http, 1);
	for (size_t i = 0; i < sizeof(socks_vars) / sizeof(socks_vars[0]); i++)
		setenv(socks_vars[i], socks, 1);
	setenv("NO_PROXY", "localhost,127.0.0.1,::1", 1);
	setenv("no_proxy", "localhost,127.0.0.1,::1", 1);
	setenv("SANDBOX_RUNTIME", "1", 1);
	char port[8];
	snprintf(port, sizeof(port), "%u", (unsigned)n->http_port);
	setenv("CLOUDSDK_PROXY_TYPE", "http", 1);
	setenv("CLOUDSDK_PROXY_ADDRESS", "127.0.0.1", 1);
	setenv("CLOUDSDK_PROXY_PORT", port, 1);
	/* ssh (and git over ssh) ignore the variables above: give git an ssh
	 * whose ProxyCommand is srt's own CONNECT client, which srt-init
	 * exposes inside the sandbox at /dev/.srt-connect. */
	char cmd[160];
	snprintf(cmd, sizeof(cmd),
		 "ssh -o ProxyCommand='/dev/.srt-connect proxy-connect --proxy 127.0.0.1:%u %%h %%p'",
		 (unsigned)n->http_port);
	setenv("GIT_SSH_COMMAND", cmd, 1);
}

char *runtime_helper_path(const char *name)
{
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n > 0) {
		exe[n] = '\0';
		char *slash = strrchr(exe, '/');
		if (slash) {
			*slash = '\0';
			char *cand = str_printf("%s/%s", exe, name);
			if (cand && access(cand, F_OK) == 0)
				return cand;
			free(cand);
		}
	}
	return str_printf("%s/%s", SRT_LIBEXECDIR, name);
}

static int pidfd_open_(pid_t pid)
{
	return (int)syscall(SYS_pidfd_open, pid, 0);
}

static void deliver(struct supervisor *s, int sig)
{
	if (s->init_pidfd >= 0 && syscall(SYS_pidfd_send_signal, s->init_pidfd, sig, NULL, 0) == 0)
		return;
	if (s->init_pid > 0)
		kill(s->init_pid, sig);
}

static void stop_watching_sock(struct supervisor *s)
{
	if (s->sock_open) {
		uv_poll_stop(&s->sock_watch);
		s->sock_open = false;
	}
}

static void on_sock(uv_poll_t *w, int status, int events)
{
	struct supervisor *s = w->data;
	(void)events;
	if (status < 0) {
		stop_watching_sock(s);
		return;
	}
	uint32_t type = 0, len = 0;
	static uint32_t payload[PROTO_MAX_PAYLOAD / sizeof(uint32_t)];
	int fds[PROTO_MAX_FDS];
	size_t nfds = 0;
	pid_t pid = 0;
	int r = proto_recv(s->sock, &type, payload, &len, fds, &nfds, &pid);
	if (r == -EAGAIN)
		return;
	if (r < 0) {
		/* End of stream: srt-init started the command (and closed its
		 * end) or died before that. */
		stop_watching_sock(s);
		return;
	}
	if (type == PROTO_LISTEN && !s->started) {
		/* The listeners srt-init made inside the sandbox: serve them. */
		for (size_t i = 0; i < nfds; i++) {
			uint32_t idx = (i + 1) * sizeof(uint32_t) <= len ? payload[i] : UINT32_MAX;
			if (!s->proxy || idx >= s->n_listens) {
				close(fds[i]);
				continue;
			}
			const struct listen_spec *l = &s->listens[idx];
			if (proxy_server_listen(s->proxy, l->kind, fds[i], (const struct sockaddr *)&l->target,
						l->target_len) < 0 && s->debug)
				fprintf(stderr, "srt: cannot serve %s\n", l->addr);
		}
		return;
	}
	for (size_t i = 0; i < nfds; i++)
		close(fds[i]);
	if (type == PROTO_HELLO && !s->started && pid > 0) {
		s->init_pid = pid;
		s->init_pidfd = pidfd_open_(pid);
		if (s->init_pidfd >= 0 && s->guard)
			guardian_watch(s->guard, s->init_pidfd);
		/* Signals that came before: they reach the init before GO, so it
		 * ends without starting the command. */
		for (size_t i = 0; i < s->n_pending; i++)
			deliver(s, s->pending[i]);
		s->n_pending = 0;
		s->started = proto_send(s->sock, PROTO_GO, NULL, 0, NULL, 0) == 0;
		if (s->debug)
			fprintf(stderr, "srt: sandbox init is pid %d; command started\n", (int)pid);
	}
}

static void reap(struct supervisor *s)
{
	int status;
	pid_t p;
	/* Only bwrap: the placeholder guardian is our child too, and
	 * guardian_finish waits for it. */
	if (!s->bwrap_done && (p = waitpid(s->bwrap_pid, &status, WNOHANG)) == s->bwrap_pid) {
		s->bwrap_status = status;
		s->bwrap_done = true;
	}
	if (s->bwrap_done) {
		uv_poll_stop(&s->sig_watch);
		stop_watching_sock(s);
	}
}

static void on_signal(uv_poll_t *w, int status, int events)
{
	struct supervisor *s = w->data;
	(void)status;
	(void)events;
	struct signalfd_siginfo si;
	while (read(s->sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		int sig = (int)si.ssi_signo;
		if (sig == SIGCHLD)
			continue; /* reaped below */
		/* The terminal sends ^C to the whole foreground process group,
		 * the command included: forwarding it would deliver it twice. */
		if (si.ssi_code == SI_KERNEL)
			continue;
		if (s->debug)
			fprintf(stderr, "srt: forwarding signal %d\n", sig);
		if (s->started || s->init_pid > 0)
			deliver(s, sig);
		else if (s->n_pending < sizeof(s->pending) / sizeof(s->pending[0]))
			s->pending[s->n_pending++] = sig;
	}
	reap(s);
}

static unsigned long ignored_signals(void)
{
	unsigned long mask = 0;
	for (size_t i = 0; i < sizeof(forwarded) / sizeof(forwarded[0]); i++) {
		struct sigaction sa;
		if (sigaction(forwarded[i], NULL, &sa) == 0 && sa.sa_handler == SIG_IGN)
			mask |= 1ul << forwarded[i];
	}
	return mask;
}

static void print_debug(const struct runtime_run_options *o, const struct mount_plan *plan, const char *bwrap)
{
	fprintf(stderr, "srt: bwrap: %s\n", bwrap);
	for (size_t i = 0; i < o->policy->notes.n; i++)
		fprintf(stderr, "srt: note: %s\n", o->policy->notes.v[i]);
	for (size_t i = 0; i < o->policy->unmatched_globs.n; i++)
		fprintf(stderr, "srt: note: %s\n", o->policy->unmatched_globs.v[i]);
	mount_plan_print(plan, stderr);
}

int runtime_run(const struct runtime_run_options *o, int *ret_status, struct srt_error *err)
{
	const struct policy *p = o->policy;
	struct mount_plan *plan = NULL;
	struct guardian guard = { .sock = -1, .pid = 0 };
	struct supervisor s = { .sigfd = -1, .sock = -1, .init_pidfd = -1, .debug = o->debug };
	_cleanup_free_ char *bwrap = NULL;
	_cleanup_free_ char *init_path = NULL;
	int init_fd = -1, args_fd = -1, plan_fd = -1, filter_fd = -1, sv[2] = { -1, -1 };
	bool loop_ready = false;
	struct strv bwrap_argv = { 0 };
	char **listen_addrs = NULL;
	sigset_t mask, oldmask;
	int r;

	sigemptyset(&mask);
	sigaddset(&mask, SIGCHLD);
	for (size_t i = 0; i < sizeof(forwarded) / sizeof(forwarded[0]); i++)
		sigaddset(&mask, forwarded[i]);
	unsigned long ignore_mask = ignored_signals();
	sigprocmask(SIG_BLOCK, &mask, &oldmask);

	if ((r = bwrap_find(p->bwrap_path, &bwrap, err)) < 0)
		goto out;
	init_path = runtime_helper_path("srt-init");
	if (!init_path) {
		r = srt_error_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	init_fd = open(init_path, O_RDONLY | O_CLOEXEC);
	if (init_fd < 0) {
		r = srt_error_set(err, -errno, "cannot open srt-init at %s: %s (is srt installed completely?)",
				  init_path, strerror(errno));
		goto out;
	}

	if ((r = mount_plan_build(p, &plan, err)) < 0)
		goto out;
	if (o->debug)
		print_debug(o, plan, bwrap);
	if (p->enable_weaker_nested_sandbox)
		fprintf(stderr, "srt: warning: enableWeakerNestedSandbox: the sandbox sees the host's /proc "
				"(every process on this machine, their command lines and environments where "
				"permissions allow); use it only inside a container that already isolates you\n");

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
		r = srt_error_set(err, -errno, "socketpair: %s", strerror(errno));
		goto out;
	}
	int one = 1;
	setsockopt(sv[0], SOL_SOCKET, SO_PASSCRED, &one, sizeof(one));

	/* In bwrap these three are 3, 4, 5 and nothing else above stderr
	 * is open: a descriptor srt inherited (a writable file, a socket)
	 * must not reach the sandbox. */
	enum { CHILD_INIT_FD = 3, CHILD_SOCK_FD, CHILD_ARGS_FD };
	struct bwrap_launch l = {
		.init_fd = CHILD_INIT_FD,
		.sock_fd = CHILD_SOCK_FD,
		.args_fd = CHILD_ARGS_FD,
		.cwd = o->cwd,
		.shell = o->shell,
		.ignore_mask = ignore_mask,
		.command = o->command,
	};
	if ((r = plan_listeners(&o->net, &s.listens, &s.n_listens, err)) < 0)
		goto out;
	listen_addrs = calloc(s.n_listens + 1, sizeof(*listen_addrs));
	if (!listen_addrs) {
		r = srt_error_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < s.n_listens; i++)
		listen_addrs[i] = s.listens[i].addr;
	l.listen = listen_addrs;
	l.n_listen = s.n_listens;
	l.helper = init_path;
	if ((r = strv_push(&bwrap_argv, bwrap)) < 0 || (r = strv_push(&bwrap_argv, "--args")) < 0 ||
	    (r = strv_push(&bwrap_argv, "")) < 0) {
		r = srt_error_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	if ((r = bwrap_write_args(plan, &l, &args_fd, &bwrap_argv, err)) < 0)
		goto out;

	s.sigfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	if (s.sigfd < 0) {
		r = srt_error_set(err, -errno, "signalfd: %s", strerror(errno));
		goto out;
	}

	char args_num[16];
	snprintf(args_num, sizeof(args_num), "%d", CHILD_ARGS_FD);
	free(bwrap_argv.v[2]);
	bwrap_argv.v[2] = args_num;
	pid_t parent = getpid();
	pid_t pid = fork();
	if (pid < 0) {
		r = srt_error_set(err, -errno, "fork: %s", strerror(errno));
		goto out;
	}
	if (pid == 0) {
		/* bwrap's own process must not die from the terminal's ^C before
		 * the command had its say: srt-init decides what the command's
		 * signals look like. */
		/* No PR_SET_PDEATHSIG here: bwrap arms it itself once its child
		 * exists (--die-with-parent). Armed earlier, a SIGKILL of srt
		 * killed bwrap between its clone and its handshake with the
		 * child, which then waited forever on an eventfd. Until GO the
		 * sandbox ends on its own when srt is gone: srt-init sees the
		 * socketpair close. */
		if (getppid() != parent)
			_exit(125);
		for (size_t i = 0; i < sizeof(forwarded) / sizeof(forwarded[0]); i++)
			signal(forwarded[i], SIG_IGN);
		sigprocmask(SIG_SETMASK, &oldmask, NULL);
		int keep[] = { init_fd, sv[1], args_fd };
		int high[3];
		for (size_t i = 0; i < 3; i++)
			if ((high[i] = fcntl(keep[i], F_DUPFD_CLOEXEC, 64)) < 0)
				_exit(125);
		for (size_t i = 0; i < 3; i++)
			if (dup2(high[i], CHILD_INIT_FD + (int)i) < 0) /* dup2 clears CLOEXEC */
				_exit(125);
		close_range(CHILD_ARGS_FD + 1, ~0u, 0);
		set_proxy_environment(&o->net);
		execv(bwrap, bwrap_argv.v);
		fprintf(stderr, "srt: cannot execute %s: %s\n", bwrap, strerror(errno));
		_exit(125);
	}
	s.bwrap_pid = pid;
	/* The proxies need a descriptor or two per connection; the command
	 * got our limit as it was (bwrap is already forked). */
	struct rlimit nofile;
	if (getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur < nofile.rlim_max) {
		nofile.rlim_cur = nofile.rlim_max;
		setrlimit(RLIMIT_NOFILE, &nofile);
	}
	close(sv[1]);
	sv[1] = -1;
	close(args_fd);
	args_fd = -1;
	close(init_fd);
	init_fd = -1;

	/* While bwrap builds the namespaces, make the placeholders (slow on
	 * some file systems: 0.3 ms each was seen) and then hand srt-init the
	 * plan; it waits for it before mounting anything. */
	const struct sandbox_seccomp_options sopts = {
		.allow_unix_sockets = p->allow_all_unix_sockets,
		.allow_nested_userns = p->allow_nested_user_namespaces,
	};
	char serr[256] = "";
	if ((r = sandbox_seccomp_export(&sopts, &filter_fd, serr, sizeof(serr))) < 0)
		srt_error_set(err, r, "%s", serr);
	if (r < 0 || (r = guardian_start(plan, &guard, err)) < 0 ||
	    (r = bwrap_write_plan(plan, &plan_fd, err)) < 0 ||
	    (r = proto_send(sv[0], PROTO_PLAN, NULL, 0, (int[]){ plan_fd, filter_fd }, 2)) < 0) {
		if (r != -ENOMEM && err && !err->code)
			srt_error_set(err, r, "cannot hand the mount plan to srt-init: %s", strerror(-r));
		kill(pid, SIGKILL);
		while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
			;
		goto out;
	}
	close(plan_fd);
	plan_fd = -1;
	close(filter_fd);
	filter_fd = -1;
	s.guard = &guard;
	{
		int bfd = pidfd_open_(pid);
		if (bfd >= 0) {
			guardian_watch(&guard, bfd);
			close(bfd);
		}
	}

	s.sock = sv[0];
	fcntl(s.sock, F_SETFL, fcntl(s.sock, F_GETFL) | O_NONBLOCK);
	if (uv_loop_init(&s.loop) < 0) {
		/* Cannot serve the sandbox: end it rather than leave it unserved. */
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		r = srt_error_set(err, -ENOMEM, "cannot create the event loop");
		goto out;
	}
	loop_ready = true;
	if (o->net.policy) {
		struct proxy_options po = { .policy = o->net.policy, .debug = o->debug };
		proxy_limits_default(&po.limits);
		if (proxy_server_new(&s.loop, &po, &s.proxy) < 0) {
			kill(pid, SIGKILL);
			waitpid(pid, NULL, 0);
			r = srt_error_set(err, -ENOMEM, "cannot start the proxies");
			goto out;
		}
	}
	s.sig_watch.data = &s;
	s.sock_watch.data = &s;
	uv_poll_init(&s.loop, &s.sig_watch, s.sigfd);
	uv_poll_start(&s.sig_watch, UV_READABLE, on_signal);
	uv_poll_init(&s.loop, &s.sock_watch, s.sock);
	uv_poll_start(&s.sock_watch, UV_READABLE | UV_DISCONNECT, on_sock);
	s.sock_open = true;
	reap(&s); /* in case bwrap died before the signalfd watch began */
	while (!s.bwrap_done)
		uv_run(&s.loop, UV_RUN_ONCE);

	if (!s.started) {
		const char *hint = bwrap_userns_hint();
		if (WIFEXITED(s.bwrap_status))
			r = srt_error_set(err, -ECHILD,
					  "the sandbox could not be set up (bubblewrap exited with status %d)%s%s",
					  WEXITSTATUS(s.bwrap_status), hint ? ": " : "", hint ? hint : "");
		else
			r = srt_error_set(err, -ECHILD, "the sandbox could not be set up (bubblewrap was killed by signal %d)",
					  WTERMSIG(s.bwrap_status));
		goto out;
	}
	if (WIFEXITED(s.bwrap_status))
		*ret_status = WEXITSTATUS(s.bwrap_status);
	else
		*ret_status = 128 + WTERMSIG(s.bwrap_status);
	r = 0;
out:
	if (loop_ready) {
		proxy_server_close(s.proxy);
		s.proxy = NULL;
		uv_close((uv_handle_t *)&s.sig_watch, NULL);
		uv_close((uv_handle_t *)&s.sock_watch, NULL);
		uv_run(&s.loop, UV_RUN_DEFAULT);
		uv_loop_close(&s.loop);
	}
	guardian_finish(&guard);
	if (s.init_pidfd >= 0)
		close(s.init_pidfd);
	if (s.sigfd >= 0)
		close(s.sigfd);
	if (sv[0] >= 0)
		close(sv[0]);
	if (sv[1] >= 0)
		close(sv[1]);
	if (init_fd >= 0)
		close(init_fd);
	if (args_fd >= 0)
		close(args_fd);
	if (plan_fd >= 0)
		close(plan_fd);
	if (filter_fd >= 0)
		close(filter_fd);
	if (bwrap_argv.v && bwrap_argv.n > 2)
		bwrap_argv.v[2] = NULL; /* points at a stack buffer */
	strv_clear(&bwrap_argv);
	mount_plan_free(plan);
	free(listen_addrs);
	free(s.listens);
	sigprocmask(SIG_SETMASK, &oldmask, NULL);
	return r;
}
