/* Shared helpers of the library tests (tests/lib): TAP output, temporary
 * trees, a loopback HTTP server, an event recorder and small waits.
 *
 * The tests link the INSTALLED libsandbox_runtime through pkg-config, as a
 * user would, and include nothing but <sandbox_runtime.h> from the project.
 * Everything is hermetic: temporary folders under /var/tmp (not /tmp: the
 * sandbox has a private /tmp), loopback only, no edits to /etc. Names that
 * must never be reached are put in deniedDomains, which the proxy refuses
 * before any DNS lookup.
 *
 * Each program prints "1..N" first and then one "ok N - name" or
 * "not ok N - name" line per case, with "# ..." diagnostics. */
#ifndef SRT_LIB_TEST_COMMON_H
#define SRT_LIB_TEST_COMMON_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <dirent.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sandbox_runtime.h>

/* ---- TAP ------------------------------------------------------------------ */

static int tap_planned, tap_n, tap_failed;

static inline void plan(int n)
{
	tap_planned = n;
	printf("1..%d\n", n);
	fflush(stdout);
}

static inline void diag(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static inline void diag(const char *fmt, ...)
{
	va_list ap;
	char buf[8192];
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	/* One "# " per line, so that multi-line text stays a comment. */
	for (char *line = buf, *nl; line && *line; line = nl) {
		nl = strchr(line, '\n');
		if (nl)
			*nl++ = '\0';
		printf("# %s\n", line);
	}
	fflush(stdout);
}

/* Report one case; returns cond so that callers can skip what depends on it. */
static inline bool ok(bool cond, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static inline bool ok(bool cond, const char *fmt, ...)
{
	va_list ap;
	char name[512];
	va_start(ap, fmt);
	vsnprintf(name, sizeof(name), fmt, ap);
	va_end(ap);
	tap_n++;
	if (!cond)
		tap_failed++;
	printf("%sok %d - %s\n", cond ? "" : "not ", tap_n, name);
	fflush(stdout);
	return cond;
}

static inline void skip(int n, const char *why)
{
	for (int i = 0; i < n; i++) {
		tap_n++;
		printf("ok %d - # SKIP %s\n", tap_n, why);
	}
	fflush(stdout);
}

/* The exit status of a test program: 0 when every planned case ran and passed. */
static inline int done_testing(void)
{
	if (tap_n != tap_planned)
		diag("planned %d cases, ran %d", tap_planned, tap_n);
	fflush(stdout);
	return tap_failed == 0 && tap_n == tap_planned ? 0 : 1;
}

/* Print the error of a failed call as a diagnostic. */
static inline void diag_err(const char *call, int r, const struct srt_error *e)
{
	diag("%s returned %d (%s): %s", call, r, r < 0 ? strerror(-r) : "-", e->message);
}

/* A runtime made from cfg and o; a test program that cannot have one
 * bails out (TAP "Bail out!", exit 1). */
static inline srt_runtime *runtime_new_or_bail(const struct srt_config *cfg, const struct srt_runtime_options *o)
{
	struct srt_error e;
	srt_runtime *rt = NULL;
	memset(&e, 0, sizeof(e));
	int r = srt_runtime_new_from_config(cfg, o, &rt, &e);
	if (r < 0) {
		diag_err("srt_runtime_new_from_config", r, &e);
		printf("Bail out! no runtime\n");
		exit(1);
	}
	return rt;
}

/* Free a result and forget it (execute gives one on success only). */
static inline void result_clear(struct srt_result **r)
{
	srt_result_free(*r);
	*r = NULL;
}

static inline void diag_result(const struct srt_result *r)
{
	if (!r) {
		diag("no result");
		return;
	}
	diag("status %d, sandbox %llu\nstdout: %.*s\nstderr: %.*s", r->status, (unsigned long long)r->sandbox_id,
	     (int)(r->out_len > 2000 ? 2000 : r->out_len), r->out ? r->out : "",
	     (int)(r->err_len > 2000 ? 2000 : r->err_len), r->err ? r->err : "");
}

/* ---- time ----------------------------------------------------------------- */

static inline int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static inline void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

/* How many processes other than this one have token in their command
 * line (/proc/PID/cmdline); the first one found goes to sample when given.
 * -1 when /proc cannot be read. */
static inline int processes_with_token(const char *token, char *sample, size_t size)
{
	int n = 0;
	if (sample && size)
		sample[0] = '\0';
	DIR *d = opendir("/proc");
	if (!d)
		return -1;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (de->d_name[0] < '1' || de->d_name[0] > '9' || atoi(de->d_name) == getpid())
			continue;
		char path[300], buf[8192];
		snprintf(path, sizeof(path), "/proc/%s/cmdline", de->d_name);
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		ssize_t len = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (len <= 0)
			continue; /* gone, or a zombie */
		for (ssize_t i = 0; i < len; i++)
			if (buf[i] == '\0')
				buf[i] = ' ';
		buf[len] = '\0';
		if (!strstr(buf, token))
			continue;
		if (n++ == 0 && sample)
			snprintf(sample, size, "pid %s: %.300s", de->d_name, buf);
	}
	closedir(d);
	return n;
}

/* ---- temporary trees ------------------------------------------------------ */

/* root/            0755, made by mkdtemp
 *   home/          the runtime's home ("~")
 *   proj/          the runtime's cwd, writable (allowWrite ".")
 *   ro/            readable, never writable: writes there are violations
 *   settings.json  written by tests that need a file */
struct tree {
	char root[256];
	char home[300];
	char proj[300];
	char ro[300];
};

static inline void die(const char *what)
{
	printf("Bail out! %s: %s\n", what, strerror(errno));
	exit(2);
}

static inline void tree_make(struct tree *t)
{
	const char *base = getenv("SRT_LIB_TMPDIR");
	snprintf(t->root, sizeof(t->root), "%s/srt-lib-XXXXXX", base && *base ? base : "/var/tmp");
	if (!mkdtemp(t->root))
		die("mkdtemp");
	if (chmod(t->root, 0755) < 0)
		die("chmod");
	snprintf(t->home, sizeof(t->home), "%s/home", t->root);
	snprintf(t->proj, sizeof(t->proj), "%s/proj", t->root);
	snprintf(t->ro, sizeof(t->ro), "%s/ro", t->root);
	if (mkdir(t->home, 0755) < 0 || mkdir(t->proj, 0755) < 0 || mkdir(t->ro, 0755) < 0)
		die("mkdir");
}

static inline int tree_rm_one(const char *p, const struct stat *st, int flag, struct FTW *f)
{
	(void)st;
	(void)f;
	if (flag == FTW_DP)
		rmdir(p);
	else
		unlink(p);
	return 0;
}

static inline void tree_remove(struct tree *t)
{
	if (getenv("SRT_LIB_KEEP"))
		return;
	nftw(t->root, tree_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static inline void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	if (!f)
		die(path);
	fputs(text, f);
	fclose(f);
}

/* Runtime options for a tree: home and cwd inside it. */
static inline struct srt_runtime_options tree_options(const struct tree *t)
{
	struct srt_runtime_options o = { .size = sizeof(o) };
	o.home = t->home;
	o.cwd = t->proj;
	o.observe = SRT_OBSERVE_WRITES; /* the tests check refused writes: opt-in */
	return o;
}

/* ---- a loopback HTTP server ------------------------------------------------ */

/* Answers every request on 127.0.0.1:port with 200 and body `body`, one
 * request per connection. Counts the requests it answered. */
struct http_server {
	int fd;
	uint16_t port;
	char body[64];
	pthread_t thread;
	pthread_mutex_t lock;
	int hits;
	volatile bool stop;
};

static inline void *http_server_main(void *arg)
{
	struct http_server *s = arg;
	for (;;) {
		int c = accept(s->fd, NULL, NULL);
		if (c < 0) {
			if (s->stop)
				break;
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			break;
		}
		char buf[8192];
		size_t have = 0;
		while (have < sizeof(buf) - 1) {
			ssize_t n = read(c, buf + have, sizeof(buf) - 1 - have);
			if (n <= 0)
				break;
			have += (size_t)n;
			buf[have] = '\0';
			if (strstr(buf, "\r\n\r\n"))
				break;
		}
		char resp[256];
		int len = snprintf(resp, sizeof(resp),
				   "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %zu\r\n"
				   "Connection: close\r\n\r\n%s", strlen(s->body), s->body);
		ssize_t w = write(c, resp, (size_t)len);
		(void)w;
		pthread_mutex_lock(&s->lock);
		s->hits++;
		pthread_mutex_unlock(&s->lock);
		close(c);
	}
	return NULL;
}

static inline void http_server_start(struct http_server *s, const char *body)
{
	memset(s, 0, sizeof(*s));
	pthread_mutex_init(&s->lock, NULL);
	snprintf(s->body, sizeof(s->body), "%s", body);
	s->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s->fd < 0)
		die("socket");
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t alen = sizeof(a);
	if (bind(s->fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(s->fd, 64) < 0 ||
	    getsockname(s->fd, (struct sockaddr *)&a, &alen) < 0)
		die("bind/listen");
	s->port = ntohs(a.sin_port);
	if (pthread_create(&s->thread, NULL, http_server_main, s) != 0)
		die("pthread_create");
}

static inline int http_server_hits(struct http_server *s)
{
	pthread_mutex_lock(&s->lock);
	int n = s->hits;
	pthread_mutex_unlock(&s->lock);
	return n;
}

static inline void http_server_stop(struct http_server *s)
{
	s->stop = true;
	shutdown(s->fd, SHUT_RDWR);
	pthread_join(s->thread, NULL);
	close(s->fd);
}

/* A printf FORMAT fragment (mind the %%) for a shell snippet that fetches a
 * URL through the sandbox's HTTP proxy and prints the body, then the status
 * on a line of its own, "code=NNN".
 * --noproxy '' overrides NO_PROXY (which names 127.0.0.1): without it curl
 * would connect to a loopback target directly instead of via the proxy. */
#define CURL_VIA_PROXY "curl -sS --max-time 20 --noproxy '' -x \"${HTTP_PROXY:-http://127.0.0.1:3128}\" -w '\\ncode=%%{http_code}\\n' "

/* ---- recording events ---------------------------------------------------- */

/* A copy of one event, owned by the recorder. */
struct rec_event {
	enum srt_event_type type;
	uint64_t sandbox_id;
	/* connection */
	bool allowed;
	char host[256];
	uint16_t port;
	char rule[512];
	char via[16];
	/* violation */
	enum srt_violation_kind kind;
	char operation[32];
	char target[512];
	enum srt_violation_source source;
	/* sandbox */
	int status;
	int64_t duration_ns;
	int pid;
	char *json;
};

struct recorder {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct rec_event *ev;
	size_t n, cap;
	int null_json;      /* events whose json was NULL */
};

static inline void recorder_init(struct recorder *r)
{
	memset(r, 0, sizeof(*r));
	pthread_mutex_init(&r->lock, NULL);
	pthread_cond_init(&r->cond, NULL);
}

static inline void recorder_free(struct recorder *r)
{
	for (size_t i = 0; i < r->n; i++)
		free(r->ev[i].json);
	free(r->ev);
	r->ev = NULL;
	r->n = r->cap = 0;
}

static inline void copy_str(char *dst, size_t size, const char *src)
{
	snprintf(dst, size, "%s", src ? src : "");
}

/* An srt_event_fn: records a copy of every event. */
static inline void recorder_fn(const struct srt_event *ev, void *data)
{
	struct recorder *r = data;
	struct rec_event e;
	memset(&e, 0, sizeof(e));
	e.type = ev->type;
	e.status = -2;
	if (ev->connection) {
		e.sandbox_id = ev->connection->sandbox_id;
		e.allowed = ev->connection->allowed;
		copy_str(e.host, sizeof(e.host), ev->connection->host);
		e.port = ev->connection->port;
		copy_str(e.rule, sizeof(e.rule), ev->connection->rule);
		copy_str(e.via, sizeof(e.via), ev->connection->via);
	}
	if (ev->violation) {
		e.sandbox_id = ev->violation->sandbox_id;
		e.kind = ev->violation->kind;
		copy_str(e.operation, sizeof(e.operation), ev->violation->operation);
		copy_str(e.target, sizeof(e.target), ev->violation->target);
		copy_str(e.rule, sizeof(e.rule), ev->violation->rule);
		e.source = ev->violation->source;
	}
	if (ev->sandbox) {
		e.sandbox_id = ev->sandbox->id;
		e.status = ev->sandbox->status;
		e.duration_ns = ev->sandbox->duration_ns;
		e.pid = ev->sandbox->pid;
	}
	e.json = ev->json ? strdup(ev->json) : NULL;
	pthread_mutex_lock(&r->lock);
	if (!ev->json)
		r->null_json++;
	if (r->n == r->cap) {
		size_t cap = r->cap ? r->cap * 2 : 64;
		struct rec_event *p = realloc(r->ev, cap * sizeof(*p));
		if (!p)
			abort();
		r->ev = p;
		r->cap = cap;
	}
	r->ev[r->n++] = e;
	pthread_cond_broadcast(&r->cond);
	pthread_mutex_unlock(&r->lock);
}

/* Count recorded events of a type (0: any) for a sandbox (0: any). */
static inline size_t recorder_count(struct recorder *r, enum srt_event_type type, uint64_t sandbox_id)
{
	size_t c = 0;
	pthread_mutex_lock(&r->lock);
	for (size_t i = 0; i < r->n; i++)
		if ((!type || r->ev[i].type == type) && (!sandbox_id || r->ev[i].sandbox_id == sandbox_id))
			c++;
	pthread_mutex_unlock(&r->lock);
	return c;
}

/* Wait until at least `want` such events were recorded, at most timeout_ms.
 * Returns how many there are. */
static inline size_t recorder_wait(struct recorder *r, enum srt_event_type type, uint64_t sandbox_id, size_t want,
				   int timeout_ms)
{
	int64_t end = now_ms() + timeout_ms;
	size_t c;
	while ((c = recorder_count(r, type, sandbox_id)) < want && now_ms() < end)
		sleep_ms(10);
	return c;
}

/* The first recorded event matching, copied into *out (json not copied). */
static inline bool recorder_find(struct recorder *r, enum srt_event_type type, uint64_t sandbox_id,
				 struct rec_event *out)
{
	bool found = false;
	pthread_mutex_lock(&r->lock);
	for (size_t i = 0; i < r->n; i++)
		if (r->ev[i].type == type && (!sandbox_id || r->ev[i].sandbox_id == sandbox_id)) {
			*out = r->ev[i];
			out->json = NULL;
			found = true;
			break;
		}
	pthread_mutex_unlock(&r->lock);
	return found;
}

/* A connection event of a sandbox to port, if any (allowed: -1 any, 0, 1). */
static inline bool recorder_find_conn(struct recorder *r, uint64_t sandbox_id, uint16_t port, int allowed,
				      struct rec_event *out)
{
	bool found = false;
	pthread_mutex_lock(&r->lock);
	for (size_t i = 0; i < r->n && !found; i++) {
		struct rec_event *e = &r->ev[i];
		if (e->type == SRT_EVENT_CONNECTION && (!sandbox_id || e->sandbox_id == sandbox_id) &&
		    e->port == port && (allowed < 0 || e->allowed == (allowed == 1))) {
			*out = *e;
			out->json = NULL;
			found = true;
		}
	}
	pthread_mutex_unlock(&r->lock);
	return found;
}

static inline void recorder_dump(struct recorder *r)
{
	pthread_mutex_lock(&r->lock);
	diag("%zu events recorded:", r->n);
	for (size_t i = 0; i < r->n; i++)
		diag("  %s", r->ev[i].json ? r->ev[i].json : "(json NULL)");
	pthread_mutex_unlock(&r->lock);
}

/* ---- violations ------------------------------------------------------------ */

static inline const char *kind_name(enum srt_violation_kind k)
{
	switch (k) {
	case SRT_VIOLATION_ANY: return "any";
	case SRT_VIOLATION_FILESYSTEM: return "filesystem";
	case SRT_VIOLATION_NETWORK: return "network";
	case SRT_VIOLATION_UNIX_SOCKET: return "unix_socket";
	case SRT_VIOLATION_PROCESS: return "process";
	}
	return "?";
}

static inline void dump_violations(srt_runtime *rt)
{
	struct srt_violation_list *l = NULL;
	int r = srt_runtime_violations(rt, SRT_VIOLATION_ANY, &l);
	if (r < 0 || !l) {
		diag("srt_runtime_violations returned %d", r);
		return;
	}
	diag("%zu violations stored (%llu dropped):", l->n, (unsigned long long)l->dropped);
	for (size_t i = 0; i < l->n; i++) {
		const struct srt_violation *v = srt_violation_at(l, i);
		diag("  #%llu sandbox %llu %s %s %s rule=\"%s\" source=%d pid=%d command=\"%s\"",
		     (unsigned long long)v->seq, (unsigned long long)v->sandbox_id, kind_name(v->kind),
		     v->operation ? v->operation : "(null)", v->target ? v->target : "(null)",
		     v->rule ? v->rule : "(null)", (int)v->source, v->pid, v->command ? v->command : "(null)");
	}
	srt_violation_list_free(l);
}

/* The first stored violation matching kind, sandbox (0: any) and target
 * (NULL: any), waiting up to timeout_ms for it to appear. Copies the strings
 * into the given buffers. Returns the ms it took to appear, or -1. */
struct found_violation {
	enum srt_violation_kind kind;
	char operation[32];
	char target[512];
	char rule[512];
	char command[512];
	uint64_t sandbox_id;
	uint64_t seq;
	enum srt_violation_source source;
	int pid;
	int64_t time_ns;
};

static inline int find_violation(srt_runtime *rt, enum srt_violation_kind kind, uint64_t sandbox_id,
				 const char *target, int timeout_ms, struct found_violation *out)
{
	int64_t t0 = now_ms();
	for (;;) {
		struct srt_violation_list *l = NULL;
		if (srt_runtime_violations(rt, kind, &l) == 0 && l) {
			for (size_t i = 0; i < l->n; i++) {
				const struct srt_violation *v = srt_violation_at(l, i);
				if (sandbox_id && v->sandbox_id != sandbox_id)
					continue;
				if (target && (!v->target || strcmp(v->target, target) != 0))
					continue;
				if (out) {
					out->kind = v->kind;
					copy_str(out->operation, sizeof(out->operation), v->operation);
					copy_str(out->target, sizeof(out->target), v->target);
					copy_str(out->rule, sizeof(out->rule), v->rule);
					copy_str(out->command, sizeof(out->command), v->command);
					out->sandbox_id = v->sandbox_id;
					out->seq = v->seq;
					out->source = v->source;
					out->pid = v->pid;
					out->time_ns = v->time_ns;
				}
				srt_violation_list_free(l);
				return (int)(now_ms() - t0);
			}
			srt_violation_list_free(l);
		}
		if (now_ms() - t0 >= timeout_ms)
			return -1;
		sleep_ms(20);
	}
}

#endif
