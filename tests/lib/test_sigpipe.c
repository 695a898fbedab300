/* A host program that leaves SIGPIPE at its default action survives
 * clients in the sandbox that drop their connections while the runtime's
 * proxy writes to them (response bodies and tunnels, closed with FIN or
 * reset): the runtime lives in this process, so a SIGPIPE it let through
 * would kill the program. The command's status stays its own, the proxy
 * keeps serving, and SIGPIPE is still at its default afterwards.
 *
 * The origin (a 4 MiB body) and a tunnel echo are served from threads of
 * this program on 127.0.0.1; the clients are a python script in the
 * sandbox. A hang fails the program (alarm) rather than blocking the suite. */
#include "common.h"

#include <jansson.h>
#include <signal.h>

#define BODY_SIZE (4 << 20)

/* Byte i of every body: the python side makes the same bytes. */
static unsigned char body_byte(size_t i)
{
	return (unsigned char)((i % 251) + (i / 251));
}

/* ---- the origin and the echo, on loopback --------------------------------- */

struct lo_server {
	int fd;
	uint16_t port;
	pthread_t thread;
	void *(*serve)(void *); /* one connection: gets the fd (intptr_t) */
};

/* Every send here is MSG_NOSIGNAL: this program keeps SIGPIPE at its
 * default, and the runtime may close our connections at any moment. */
static bool send_all(int fd, const void *p, size_t n)
{
	const char *c = p;
	while (n > 0) {
		ssize_t w = send(fd, c, n, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return false;
		c += w;
		n -= (size_t)w;
	}
	return true;
}

static unsigned char *body;

/* GET /body/N: N bytes of body_byte, Connection: close. Anything else: 404. */
static void *serve_body(void *arg)
{
	int c = (int)(intptr_t)arg;
	char head[8192];
	size_t have = 0;
	head[0] = '\0';
	while (have < sizeof(head) - 1 && !strstr(head, "\r\n\r\n")) {
		ssize_t n = recv(c, head + have, sizeof(head) - 1 - have, 0);
		if (n <= 0)
			goto out;
		have += (size_t)n;
		head[have] = '\0';
	}
	const char *p = strstr(head, "/body/");
	long n = p ? strtol(p + 6, NULL, 10) : -1;
	if (n < 0 || n > BODY_SIZE) {
		const char *nf = "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
		send_all(c, nf, strlen(nf));
		goto out;
	}
	char resp[256];
	int len = snprintf(resp, sizeof(resp),
			   "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: %ld\r\n"
			   "Connection: close\r\n\r\n", n);
	if (send_all(c, resp, (size_t)len))
		send_all(c, body, (size_t)n);
out:
	close(c);
	return NULL;
}

static void *serve_echo(void *arg)
{
	int c = (int)(intptr_t)arg;
	char buf[65536];
	for (;;) {
		ssize_t n = recv(c, buf, sizeof(buf), 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0 || !send_all(c, buf, (size_t)n))
			break;
	}
	close(c);
	return NULL;
}

static void *accept_loop(void *arg)
{
	struct lo_server *s = arg;
	for (;;) {
		int c = accept4(s->fd, NULL, NULL, SOCK_CLOEXEC);
		if (c < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			break; /* shut down */
		}
		pthread_t t;
		if (pthread_create(&t, NULL, s->serve, (void *)(intptr_t)c) != 0) {
			close(c);
			continue;
		}
		pthread_detach(t);
	}
	return NULL;
}

static void lo_server_start(struct lo_server *s, void *(*serve)(void *))
{
	memset(s, 0, sizeof(*s));
	s->serve = serve;
	s->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s->fd < 0)
		die("socket");
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t alen = sizeof(a);
	if (bind(s->fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(s->fd, 64) < 0 ||
	    getsockname(s->fd, (struct sockaddr *)&a, &alen) < 0)
		die("bind/listen");
	s->port = ntohs(a.sin_port);
	if (pthread_create(&s->thread, NULL, accept_loop, s) != 0)
		die("pthread_create");
}

static void lo_server_stop(struct lo_server *s)
{
	shutdown(s->fd, SHUT_RDWR);
	pthread_join(s->thread, NULL);
	close(s->fd);
}

/* ---- the clients in the sandbox -------------------------------------------- */

/* argv: body port, echo port, rounds of aborts (0: only the full download).
 * Prints "abort-error ..." for a transfer that failed to start, "aborted
 * N" after the aborts, "full N ok|bad" after the last download (read by
 * its Content-Length: the proxy keeps the client's connection open), and
 * exits 42: its own status. */
static const char client_py[] =
	"import os, select, socket, struct, sys\n"
	"B, E, ROUNDS = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])\n"
	"SIZE = 4 << 20\n"
	"hp = os.environ.get('HTTP_PROXY', 'http://127.0.0.1:3128').rstrip('/').rsplit('/', 1)[-1]\n"
	"PROXY = (hp.rsplit(':', 1)[0], int(hp.rsplit(':', 1)[1]))\n"
	"base = bytes(range(251))\n"
	"rot = [bytes((x + k) % 256 for x in range(256)) for k in range(256)]\n"
	"EXPECT = b''.join(base.translate(rot[k % 256]) for k in range(SIZE // 251 + 1))[:SIZE]\n"
	"def head(s, buf=b''):\n"
	"    while b'\\r\\n\\r\\n' not in buf:\n"
	"        d = s.recv(65536)\n"
	"        if not d:\n"
	"            raise EOFError('closed in the head')\n"
	"        buf += d\n"
	"    i = buf.index(b'\\r\\n\\r\\n') + 4\n"
	"    return buf[:i], buf[i:]\n"
	"def tunnel(port):\n"
	"    s = socket.create_connection(PROXY, timeout=10)\n"
	"    s.sendall(b'CONNECT 127.0.0.1:%d HTTP/1.1\\r\\nHost: 127.0.0.1:%d\\r\\n\\r\\n' % (port, port))\n"
	"    h, rest = head(s)\n"
	"    if not h.startswith(b'HTTP/1.1 200') or rest:\n"
	"        raise OSError('CONNECT answered %r' % h)\n"
	"    return s\n"
	"def get(kind, n):\n"
	"    if kind == 'http':\n"
	"        s = socket.create_connection(PROXY, timeout=10)\n"
	"        s.sendall(b'GET http://127.0.0.1:%d/body/%d HTTP/1.1\\r\\nHost: 127.0.0.1:%d\\r\\n\\r\\n' % (B, n, B))\n"
	"    else:\n"
	"        s = tunnel(B)\n"
	"        s.sendall(b'GET /body/%d HTTP/1.1\\r\\nHost: 127.0.0.1:%d\\r\\n\\r\\n' % (n, B))\n"
	"    h, got = head(s)\n"
	"    if not h.startswith(b'HTTP/1.1 200'):\n"
	"        raise OSError('answered %r' % h)\n"
	"    return s, got\n"
	"def drop(s, how):\n"
	"    if how == 'rst':\n"
	"        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))\n"
	"    else:\n"
	"        s.setblocking(False)\n"
	"        try:\n"
	"            while s.recv(1 << 20):\n"
	"                pass\n"
	"        except OSError:\n"
	"            pass\n"
	"    s.close()\n"
	"def abort(kind, how):\n"
	"    if kind == 'echo':\n"
	"        s = tunnel(E)\n"
	"        s.setblocking(False)\n"
	"        out, sent, got = EXPECT, 0, 0\n"
	"        while got < 65536:\n"
	"            r, w, _ = select.select([s], [s] if sent < len(out) else [], [], 10)\n"
	"            if not r and not w:\n"
	"                raise OSError('echo stalled')\n"
	"            if w:\n"
	"                try:\n"
	"                    sent += s.send(out[sent:sent + 262144])\n"
	"                except BlockingIOError:\n"
	"                    pass\n"
	"            if r:\n"
	"                d = s.recv(65536)\n"
	"                if not d:\n"
	"                    raise EOFError('echo closed')\n"
	"                got += len(d)\n"
	"    else:\n"
	"        s, got = get(kind, SIZE)\n"
	"        n = len(got)\n"
	"        while n < 65536:\n"
	"            d = s.recv(65536)\n"
	"            if not d:\n"
	"                raise EOFError('closed after %d bytes' % n)\n"
	"            n += len(d)\n"
	"    drop(s, how)\n"
	"aborted = 0\n"
	"for i in range(ROUNDS):\n"
	"    kind, how = ('http', 'connect', 'echo')[i % 3], ('fin', 'rst')[i % 2]\n"
	"    try:\n"
	"        abort(kind, how)\n"
	"        aborted += 1\n"
	"    except Exception as e:\n"
	"        print('abort-error %d %s %s: %r' % (i, kind, how, e), flush=True)\n"
	"print('aborted %d' % aborted, flush=True)\n"
	"try:\n"
	"    s, data = get('http', SIZE)\n"
	"    s.settimeout(20)\n"
	"    while len(data) < SIZE:\n"
	"        d = s.recv(1 << 20)\n"
	"        if not d:\n"
	"            break\n"
	"        data += d\n"
	"    s.close()\n"
	"    print('full %d %s' % (len(data), 'ok' if data == EXPECT else 'bad'), flush=True)\n"
	"except Exception as e:\n"
	"    print('full error %r' % e, flush=True)\n"
	"sys.exit(42)\n";

/* The command: print the shell's ignored signals (what the command starts
 * with), then run the client ($0, a file in the test's tree). */
static const char client_sh[] = "grep '^SigIgn:' /proc/self/status; exec /usr/bin/python3 \"$0\" \"$@\"";
static char client_path[400];

static int run_client(srt_runtime *rt, uint16_t bport, uint16_t eport, int rounds, struct srt_result **res)
{
	char b[16], e[16], n[16];
	snprintf(b, sizeof(b), "%u", bport);
	snprintf(e, sizeof(e), "%u", eport);
	snprintf(n, sizeof(n), "%d", rounds);
	const char *const argv[] = { "/bin/sh", "-c", client_sh, client_path, b, e, n, NULL };
	struct srt_error err;
	memset(&err, 0, sizeof(err));
	int r = srt_runtime_execute(rt, argv, NULL, res, &err);
	if (r < 0)
		diag_err("srt_runtime_execute", r, &err);
	return r;
}

/* SIGPIPE's action in this process is the default, and it is not blocked. */
static bool sigpipe_default(void)
{
	struct sigaction sa;
	sigset_t cur;
	if (sigaction(SIGPIPE, NULL, &sa) < 0 || pthread_sigmask(SIG_SETMASK, NULL, &cur) != 0)
		return false;
	return sa.sa_handler == SIG_DFL && !(sa.sa_flags & SA_SIGINFO) && !sigismember(&cur, SIGPIPE);
}

/* Connection events whose JSON says closed_by "client", decision
 * "allowed"; with dump, each connection event as a diagnostic. */
static int client_closed_events(struct recorder *rec, bool dump)
{
	int n = 0;
	pthread_mutex_lock(&rec->lock);
	for (size_t i = 0; i < rec->n; i++) {
		if (rec->ev[i].type != SRT_EVENT_CONNECTION || !rec->ev[i].json)
			continue;
		if (dump)
			diag("  %s", rec->ev[i].json);
		json_t *o = json_loads(rec->ev[i].json, 0, NULL);
		const char *by = json_string_value(json_object_get(o, "closed_by"));
		const char *decision = json_string_value(json_object_get(o, "decision"));
		if (by && decision && strcmp(by, "client") == 0 && strcmp(decision, "allowed") == 0)
			n++;
		json_decref(o);
	}
	pthread_mutex_unlock(&rec->lock);
	return n;
}

int main(void)
{
	enum { ROUNDS = 20 };
	struct tree t;
	struct srt_result *res = NULL;

	plan(10);
	alarm(240);

	/* What a plain C program has: SIGPIPE at its default. A launcher that
	 * ignored or blocked it would hide the failure this test is about. */
	struct sigaction dfl = { .sa_handler = SIG_DFL };
	sigemptyset(&dfl.sa_mask);
	struct sigaction before;
	sigaction(SIGPIPE, NULL, &before);
	if (before.sa_handler != SIG_DFL) {
		diag("SIGPIPE was ignored or caught when the test started: set to its default");
		sigaction(SIGPIPE, &dfl, NULL);
	}
	sigset_t pipe_set;
	sigemptyset(&pipe_set);
	sigaddset(&pipe_set, SIGPIPE);
	pthread_sigmask(SIG_UNBLOCK, &pipe_set, NULL);
	ok(sigpipe_default(), "SIGPIPE is at its default action and not blocked in the test program");

	if (access("/usr/bin/python3", X_OK) != 0) {
		skip(9, "no /usr/bin/python3 for the clients in the sandbox");
		return done_testing();
	}

	body = malloc(BODY_SIZE);
	if (!body)
		die("malloc");
	for (size_t i = 0; i < BODY_SIZE; i++)
		body[i] = body_byte(i);
	struct lo_server bs, es;
	lo_server_start(&bs, serve_body);
	lo_server_start(&es, serve_echo);
	diag("origin on 127.0.0.1:%u, echo on 127.0.0.1:%u", bs.port, es.port);

	tree_make(&t);
	snprintf(client_path, sizeof(client_path), "%s/client.py", t.root);
	write_file(client_path, client_py);
	struct srt_runtime_options o = tree_options(&t);
	o.observe = SRT_OBSERVE_DEFAULT;
	char a1[32], a2[32];
	snprintf(a1, sizeof(a1), "127.0.0.1:%u", bs.port);
	snprintf(a2, sizeof(a2), "127.0.0.1:%u", es.port);
	const char *const ad[] = { a1, a2, NULL };
	struct srt_config cfg = { .size = sizeof(cfg) };
	cfg.allowed_domains = ad;
	srt_runtime *rt = runtime_new_or_bail(&cfg, &o);
	struct recorder rec;
	recorder_init(&rec);
	uint64_t token = 0;
	if (srt_runtime_subscribe(rt, recorder_fn, &rec, &token) != 0)
		diag("subscribe failed: the event case will fail");

	/* 20 downloads and tunnels dropped mid-stream, then a whole one. */
	int r = run_client(rt, bs.port, es.port, ROUNDS, &res);
	bool ran = r == 0;
	ok(ran, "execute of the dropping client returns 0 (this program is still alive)");
	ok(ran && res->status == 42, "the command's status is its own: 42 (got %d)", ran ? res->status : -1);
	char want[64];
	snprintf(want, sizeof(want), "aborted %d\n", ROUNDS);
	bool aborted = ran && res->out && strstr(res->out, want) && !strstr(res->out, "abort-error");
	ok(aborted, "all %d transfers started and were dropped mid-stream", ROUNDS);
	snprintf(want, sizeof(want), "full %d ok\n", BODY_SIZE);
	ok(ran && res->out && strstr(res->out, want), "a full download after them arrives whole");
	/* SigIgn is a hex mask, bit N-1 for signal N. */
	const char *ign = ran && res->out ? strstr(res->out, "SigIgn:") : NULL;
	unsigned long long mask = ign ? strtoull(ign + 7, NULL, 16) : ~0ULL;
	ok(ign && !(mask & (1ULL << (SIGPIPE - 1))), "the command starts with SIGPIPE at its default (SigIgn %llx)",
	   mask);
	if (ran && !(res->status == 42 && aborted))
		diag_result(res);
	if (ran)
		result_clear(&res);

	recorder_wait(&rec, SRT_EVENT_SANDBOX_EXIT, 0, 1, 3000);
	int by_client = client_closed_events(&rec, false);
	ok(by_client >= 1, "connection events say the client closed (%d of them)", by_client);
	if (by_client < 1)
		client_closed_events(&rec, true);

	ok(sigpipe_default(), "SIGPIPE is still at its default in this program after the command");

	/* The runtime still serves a new sandbox. */
	r = run_client(rt, bs.port, es.port, 0, &res);
	snprintf(want, sizeof(want), "full %d ok\n", BODY_SIZE);
	ok(r == 0 && res->status == 42 && res->out && strstr(res->out, want),
	   "a new command in the same runtime downloads the whole body (status %d)", r == 0 ? res->status : -1);
	if (r == 0 && !(res->out && strstr(res->out, want)))
		diag_result(res);
	if (r == 0)
		result_clear(&res);

	srt_runtime_unsubscribe(rt, token);
	srt_runtime_free(rt);
	ok(sigpipe_default(), "SIGPIPE is still at its default after the runtime is freed");
	recorder_free(&rec);
	lo_server_stop(&bs);
	lo_server_stop(&es);
	/* body stays: a server thread may still be finishing a send. */
	tree_remove(&t);
	return done_testing();
}
