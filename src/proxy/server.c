/* The supervisor's proxies: accepts on listeners made inside the sandbox, decides with the network policy, dials, relays. One libuv loop, no threads of its own. */
#include "proxy/server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <malloc.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <openssl/sha.h>

#include "creds.h"
#include "policy/netpolicy.h"
#include "proxy/credsub.h"
#include "proxy/host.h"
#include "proxy/http_head.h"
#include "proxy/parent.h"
#include "proxy/parent_tls.h"
#include "proxy/resolve.h"
#include "proxy/sigv4.h"
#include "proxy/sni.h"
#include "proxy/socks5.h"
#include "proxy/tls.h"

/*
 * Each accepted connection is a `struct conn` with a client side and, once
 * dialed, an upstream side. Every side reads into its own buffer (taken
 * from a pool when data arrives, given back when it is drained, so idle
 * connections hold none). Data read from one side is written to the other
 * straight from that buffer; while such a write is in flight the side does
 * not read: that is the back-pressure, and it bounds every connection to
 * one buffer per direction.
 *
 * HTTP requests in absolute form are forwarded one at a time: the head is
 * rebuilt (hop-by-hop and Proxy-* fields dropped, Host set to the target),
 * the body re-framed (Content-Length kept, chunked re-encoded without
 * extensions or trailers), then the response head is parsed so that its
 * body can be framed the same way and the client connection kept alive.
 * Each request is decided on its own, even on a kept-alive connection.
 */

#define MAX_WRITE_BUFS 64
#define TRAILER_MAX 4096
#define FD_RESERVE 64
/* Free buffers kept for reuse while connections come and go (4 MiB at the
 * default size); all of them go back to the system once it is quiet. */
#define POOL_KEEP 16
#define TRIM_QUIET_MS 500
/* Connections freed since the last trim that make a malloc_trim() worth
 * its walk over the heap. */
#define TRIM_MIN_FREED 64

struct proxy_server;
struct conn;

struct side {
	uv_tcp_t tcp;
	uv_connect_t creq;   /* upstream: the connect request */
	struct conn *conn;
	bool detached;       /* an old upstream, closing: its events are ignored */
	struct proxy_server *srv;
	bool is_client;
	bool reading;
	bool eof;            /* read end of stream */
	bool reset;          /* ... because of a reset or another error */
	bool cut;            /* TLS: closed mid-response, so no close_notify (side_close) */
	bool shut;           /* our writing half is shut down */
	bool closing;
	char *buf;           /* read buffer (pool), or NULL */
	size_t off, len;     /* unconsumed bytes are buf[off..len) */
	bool out_busy;       /* a write of this side's data to the other is in flight */
	bool closed;         /* its handle is closed; a write in flight still holds buf */
	/* A terminated TLS leg (network.tlsTerminate), or NULL: buf then holds
	 * what was decrypted, and what is written to the side is encrypted
	 * first (wreq_send). */
	struct tls_io *tio;
};

enum conn_state {
	ST_HTTP_HEAD,       /* reading a request head */
	ST_SOCKS_GREETING,
	ST_SOCKS_AUTH,
	ST_SOCKS_REQUEST,
	ST_ASKING,          /* a question waits for its answer (struct proxy_ask) */
	ST_RESOLVING,
	ST_CONNECTING,
	ST_PARENT,          /* connected to a parent proxy: its handshake runs (proxy/parent.h) */
	ST_HTTP_FORWARD,    /* request body upstream, then the response back */
	ST_TUNNEL_SNI,      /* tunnel up; the client's first bytes are checked first */
	ST_TUNNEL,
	ST_TLS_HANDSHAKE,   /* terminating: the client's handshake (the server's runs along) */
	ST_TLS_UPSTREAM,    /* terminating: a request waits for the server's handshake */
	ST_CLOSING,
};

enum body_phase { BODY_SIZE, BODY_DATA, BODY_DATA_CRLF, BODY_TRAILER, BODY_DONE };

struct body {
	enum http_resp_framing framing; /* NONE, LENGTH, CHUNKED or CLOSE */
	uint64_t remaining;             /* LENGTH: bytes left; CHUNKED: of the current chunk */
	enum body_phase phase;
};

/* The record of an allowed connection (or kept-alive HTTP request) whose
 * event is sent when it ends; see proxy_hooks.on_event. */
struct evrec {
	bool pending;
	const char *via;
	char host[sizeof(((struct proxy_host *)0)->text)];
	uint16_t port;
	char address[INET6_ADDRSTRLEN];
	char *rule;             /* malloc'd */
	const char *error;      /* static, or valid until the event is sent */
	const char *closed_by;  /* static: "client", "server", "srt", or NULL */
	const char *timeout;    /* static: the network.timeouts key, or NULL */
	uint64_t missing;       /* Content-Length body bytes not passed on */
	uint64_t up, down;
	uint64_t start;         /* uv_hrtime() */
};


struct conn {
	struct proxy_server *srv;
	struct conn *prev, *next;
	enum proxy_kind kind;
	enum conn_state state;
	struct side client;
	struct side *up;        /* current upstream, or NULL */
	uv_timer_t timer;
	struct resolve_req *gai;  /* a name lookup in progress, or NULL */
	bool gai_busy;
	bool connect_busy;
	unsigned handles_open;  /* client, timer, and every upstream not yet closed */
	struct sockaddr_storage cands[8]; /* addresses to try, in order */
	size_t n_cands, next_cand;
	int last_connect_err;

	/* The target of the current request. */
	struct proxy_host host;
	uint16_t port;
	char target[PROXY_HOST_NAME_MAX + 16]; /* "host:port" for messages */
	char up_target[PROXY_HOST_NAME_MAX + 16]; /* what the open upstream is connected to */
	bool up_keep;           /* the upstream may carry another request */

	/* HTTP. Parser state lives on the heap only while a head is parsed. */
	struct http_request *req;
	struct http_response *resp;
	bool client_keep;       /* the client wants the connection kept after this exchange */
	bool head_request;
	struct body req_body, resp_body;
	bool req_done, resp_done;
	bool resp_head_sent;
	bool close_after_write; /* the answer is queued; close once it is written */
	int pending_writes;

	/* SOCKS5. */
	uint8_t socks_method;

	/* Decisions and events. */
	const struct net_policy *np; /* the policy of the current decision (also guards) */
	bool by_extra;          /* the extra list allowed it */
	const char *via;
	uint64_t req_start;     /* accept, or the start of a kept-alive request's head */
	unsigned n_heads;
	char up_address[INET6_ADDRSTRLEN]; /* the open upstream's address */
	const struct net_policy *up_np; /* the policy its address was guarded with */
	bool up_by_extra;
	struct evrec ev;
	struct proxy_ask *ask;  /* the question it waits on, or NULL */

	struct bsplice *bs;     /* a response body moving with splice(), or NULL */
	uint64_t last_active;   /* uv_now() when a byte last moved, for the idle timeouts */

	/* A request of the connect broker (proxy_server_direct), or NULL. */
	struct proxy_direct *direct;

	/* The parent proxy (or mitmProxy socket) this dial goes through, or
	 * NULL: straight to the target. */
	const struct parent_url *parent;
	bool parent_resolved;   /* socks5://: the target's address is in parent_addr */
	bool parent_abs;        /* a plain-HTTP request to an HTTP parent: sent in absolute form, no CONNECT */
	struct sockaddr_storage parent_addr;
	struct parent_hs phs;
	struct parent_tls *ptls; /* https:// parents: the TLS pump of this dial, or NULL */
	char perr[sizeof(((struct parent_url *)0)->name) + 200]; /* the event's error text */
	/* credentials: the request body's stand-in scanner, or NULL. */
	struct credsub *cs;
	bool cs_chunk_out;      /* the body goes upstream chunked (re-framed) */
	struct aws_req *aws;    /* AWS SigV4 re-signing of this request, or NULL */
	bool cs_echo;           /* the request is a TRACE: its server echoes it back, nothing is injected */
	/* A tunnel whose TLS srt terminates (network.tlsTerminate), or NULL.
	 * Its requests then come decrypted from the client's leg and go
	 * through the same path as absolute-form ones: http_head_process,
	 * conn_decide, send_request_head, body_pump, the response head
	 * parser; encryption happens below them, in on_read and wreq_send. */
	struct tls_conn *tls;
};

struct tls_conn {
	struct proxy_host host; /* the tunnel's host (CONNECT / SOCKS5), the leaf's name */
	uint16_t port;
};

/*
 * A transparent connection is a conn without a client: its client side is
 * a TCP handle that never gets a socket (so closing stays the same path as
 * every other conn's), its kind is FORWARD (no client protocol to answer
 * in), and where a proxy would write its answer, done is called instead.
 * The decision, the question, the lookup, the guard and the dial are the
 * proxies' own.
 */
struct proxy_direct {
	struct conn *c;
	proxy_direct_done done; /* NULL once called, or cancelled */
	void *data;
	int family;             /* the program's socket family: tried first */
	bool early;             /* hand over once the dial is under way (proxy_direct_early) */
	/* network.tlsTerminate: the program got one end of a loopback pair
	 * and the conn relays (and may terminate) as a tunnel from then on. */
	bool relayed;
	char *rule;             /* the refusal's rule, as its event gave it (malloc'd) */
};

struct listener {
	struct proxy_server *srv;
	uv_poll_t poll;
	int fd;
	enum proxy_kind kind;
	struct sockaddr_storage target;
	socklen_t target_len;
	bool active;
	bool service;          /* a host loopback service: judged at each accept */
	struct listener *next;
};

struct proxy_server {
	uv_loop_t *loop;
	struct proxy_options o;
	struct listener *listeners;
	struct conn *conns;
	size_t n_conns;         /* conns and spliced tunnels: what max_connections counts */
	struct stunnel *tunnels;
	uv_timer_t retry;       /* resumes accepting after running out of fds */
	bool paused;
	bool closing;
	size_t open_handles;    /* listeners and the retry timer not yet closed */
	struct close_wait *lingers; /* closed clients still read, so that the answer reaches them */
	size_t n_lingers;
	char *pool[POOL_KEEP];  /* free buffers, mmap'd */
	size_t n_pool;
	uv_timer_t trim;        /* gives memory back once a burst is over */
	uint64_t churn;         /* buffers and connections taken or given back */
	uint64_t churn_seen;    /* churn at the trim timer's last look */
	uint64_t freed;         /* connections freed since the last trim */
	/* Answers reach the loop through ask_wake; ask_done (under ask_lock)
	 * holds them until it runs. n_asks: questions whose answer this
	 * server still awaits (loop thread); it holds ask_wake referenced so
	 * that the loop keeps running for them. */
	uv_async_t ask_wake;
	struct proxy_ask *ask_done;
	size_t n_asks;
	bool ask_wake_closing;
	char *tls_raw;          /* encrypted bytes just read, decrypted at once (on_read) */
	size_t n_tls;           /* terminated tunnels */
};

struct wreq {
	uv_write_t req;
	struct side *from;      /* whose buffer the data points into, or NULL */
	struct conn *conn;
	char *owned;            /* a buffer of ours to free when done, or NULL */
	size_t owned_wipe;      /* bytes of owned to wipe first (it may hold a real credential) */
	bool payload;           /* counts toward the event's bytes */
	bool raw;               /* already encrypted for a TLS side (handshake, alerts) */
	size_t consume;         /* bytes of from->buf to mark consumed when done */
	unsigned nbufs;
	uv_buf_t bufs[MAX_WRITE_BUFS];
	char arena[MAX_WRITE_BUFS * 24];
	size_t arena_used;
};

static void conn_close(struct conn *c);
static void conn_process(struct conn *c);
static void side_start_reading(struct side *s);
static void server_maybe_free(struct proxy_server *s);
static void ask_threads_join(void);
static void start_accepting(struct proxy_server *s);
static void on_retry(uv_timer_t *t);
static bool splice_tunnel(struct conn *c);
static void stunnel_close(struct stunnel *t);
static void bsplice_close(struct bsplice *bs);
static bool splice_body(struct conn *c);
static void cred_body_end(struct conn *c);
static void ask_detach(struct conn *c);
static void ask_wake_close(struct proxy_server *s);

void proxy_limits_default(struct proxy_limits *l)
{
	l->head_timeout_ms = 30000;
	l->idle_timeout_ms = 120000;
	l->connect_timeout_ms = 30000;
	l->response_timeout_ms = 300000;
	l->tunnel_idle_timeout_ms = 600000;
	l->max_connections = 16384;
	l->buffer_size = 256 * 1024;
}

/* --- buffers ------------------------------------------------------------ */

/*
 * Buffers are mapped, not malloc'd: glibc serves a 256 KiB malloc from its
 * heap once such a block has been freed (the mmap threshold moves up), and
 * a heap keeps what it took. After a burst of 5,000 connections srt's
 * resident memory then stayed about 40 MB higher, burst after burst. A
 * mapping goes back whole when it is unmapped. The connections' own small
 * structures do live on the heap: when a burst is over (no connection
 * came or went for TRIM_QUIET_MS), the free pages of the heap go back
 * too (malloc_trim: it only returns memory nobody uses, so it is safe in
 * a library's host process).
 */
static void trim_arm(struct proxy_server *s);

static char *pool_get(struct proxy_server *s)
{
	s->churn++;
	if (s->n_pool > 0)
		return s->pool[--s->n_pool];
	void *p = mmap(NULL, s->o.limits.buffer_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	return p == MAP_FAILED ? NULL : p;
}

static void pool_put(struct proxy_server *s, char *b)
{
	s->churn++;
	if (s->n_pool < POOL_KEEP && !s->closing) {
		s->pool[s->n_pool++] = b;
		trim_arm(s);
		return;
	}
	munmap(b, s->o.limits.buffer_size);
}

static void pool_release(struct proxy_server *s)
{
	while (s->n_pool > 0)
		munmap(s->pool[--s->n_pool], s->o.limits.buffer_size);
}

static void on_trim(uv_timer_t *t)
{
	struct proxy_server *s = t->data;
	if (s->churn != s->churn_seen) {
		/* Still busy: look again later. */
		s->churn_seen = s->churn;
		uv_timer_start(&s->trim, on_trim, TRIM_QUIET_MS, 0);
		return;
	}
	pool_release(s);
	if (s->freed >= TRIM_MIN_FREED)
		malloc_trim(0);
	s->freed = 0;
}

/* Something to give back later: look once things are quiet. */
static void trim_arm(struct proxy_server *s)
{
	if (s->closing || uv_is_active((uv_handle_t *)&s->trim))
		return;
	s->churn_seen = s->churn;
	uv_timer_start(&s->trim, on_trim, TRIM_QUIET_MS, 0);
}

/* A connection or tunnel was freed. */
static void trim_note_freed(struct proxy_server *s)
{
	s->churn++;
	s->freed++;
	if (s->freed >= TRIM_MIN_FREED)
		trim_arm(s);
}

/* Drop consumed bytes; give the buffer back when nothing is left. */
static void side_compact(struct side *sd)
{
	if (!sd->buf || sd->out_busy)
		return;
	if (sd->off == sd->len) {
		pool_put(sd->srv, sd->buf);
		sd->buf = NULL;
		sd->off = sd->len = 0;
	} else if (sd->off > 0) {
		memmove(sd->buf, sd->buf + sd->off, sd->len - sd->off);
		sd->len -= sd->off;
		sd->off = 0;
	}
}

static size_t side_avail(const struct side *sd)
{
	return sd->buf ? sd->len - sd->off : 0;
}

/* --- logging ------------------------------------------------------------ */

static void debug_log(struct conn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void debug_log(struct conn *c, const char *fmt, ...)
{
	if (!c->srv->o.debug)
		return;
	char line[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	fprintf(stderr, "srt: proxy: %s\n", line);
}

/* --- events --------------------------------------------------------------- */

static bool ev_wanted(const struct proxy_server *s)
{
	return s->o.hooks && s->o.hooks->on_event;
}

static void ev_send(struct proxy_server *s, const struct evrec *r, bool allowed, const char *rule, bool bytes)
{
	const struct proxy_hooks *h = s->o.hooks;
	if (!h || !h->on_event)
		return;
	struct proxy_event e = {
		.allowed = allowed,
		.host = r->host,
		.port = r->port,
		.address = r->address,
		.rule = rule ? rule : r->rule ? r->rule : "",
		.via = r->via ? r->via : "",
		.error = allowed ? r->error : NULL,
		.closed_by = allowed ? r->closed_by : NULL,
		.timeout = allowed ? r->timeout : NULL,
		.bytes_missing = allowed ? r->missing : 0,
		.bytes_up = bytes ? r->up : 0,
		.bytes_down = bytes ? r->down : 0,
		.duration_ns = (int64_t)(uv_hrtime() - r->start),
	};
	h->on_event(h->data, &e);
}

static void evrec_clear(struct evrec *r)
{
	free(r->rule);
	r->rule = NULL;
	r->pending = false;
	r->error = NULL;
	r->closed_by = NULL;
	r->timeout = NULL;
	r->missing = 0;
}

static void evrec_fill(struct conn *c, struct evrec *r)
{
	r->via = c->via;
	snprintf(r->host, sizeof(r->host), "%s", c->host.text);
	r->port = c->port;
	r->address[0] = '\0';
	r->error = NULL;
	r->closed_by = NULL;
	r->timeout = NULL;
	r->missing = 0;
	r->up = r->down = 0;
	r->start = c->req_start;
}

/* Who ended an allowed connection first, and why; what comes after (the
 * other side closing in turn) does not overwrite it. */
static void evrec_ended(struct evrec *r, const char *who, const char *error)
{
	if (!r->closed_by)
		r->closed_by = who;
	if (error && !r->error)
		r->error = error;
}

static const char *side_name(bool is_client)
{
	return is_client ? "client" : "server";
}

/* What a failed read or write on a socket says about its peer. */
static const char *peer_error(bool is_client, int uv_err)
{
	/* uv_poll reports a socket's POLLERR (a reset) as UV_EBADF. */
	if (uv_err == UV_ECONNRESET || uv_err == UV_EPIPE || uv_err == UV_EBADF)
		return is_client ? "reset by the client" : "reset by the server";
	if (uv_err == UV_ETIMEDOUT)
		return is_client ? "the client's connection timed out" : "the server's connection timed out";
	return uv_strerror(uv_err);
}

/* A write to a peer that had gone raised SIGPIPE. srt ignores it; a
 * library runtime's thread blocks every signal, so there it stays
 * pending on that thread: take it, so that it never reaches anybody. */
static void sigpipe_consume(int uv_err)
{
	if (uv_err != UV_EPIPE)
		return;
	sigset_t pending;
	if (sigpending(&pending) < 0 || !sigismember(&pending, SIGPIPE))
		return;
	sigset_t one;
	sigemptyset(&one);
	sigaddset(&one, SIGPIPE);
	const struct timespec now = { 0, 0 };
	sigtimedwait(&one, NULL, &now);
}

/* Send the event of an allowed request that ended, if one is pending. */
static void ev_end(struct conn *c)
{
	if (!c->ev.pending)
		return;
	c->ev.pending = false;
	ev_send(c->srv, &c->ev, true, NULL, true);
	evrec_clear(&c->ev);
}

/* An allowed request: its event is sent when it ends. Takes rule
 * (malloc'd; NULL when out of memory). */
static void ev_begin(struct conn *c, char *rule)
{
	ev_end(c);
	if (!ev_wanted(c->srv)) {
		free(rule);
		return;
	}
	evrec_fill(c, &c->ev);
	c->ev.rule = rule;
	c->ev.pending = true;
}

/* A refusal: one event with allowed=false, sent before the refusal is
 * written. A request that had been allowed (then refused by the guard or
 * the SNI check) gives its record, which is dropped; keep_bytes keeps its
 * counts. */
static void ev_refuse(struct conn *c, const char *rule, bool keep_bytes)
{
	if (c->direct) {
		free(c->direct->rule);
		c->direct->rule = strdup(rule);
	}
	if (c->ev.pending) {
		c->ev.pending = false;
		ev_send(c->srv, &c->ev, false, rule, keep_bytes);
		evrec_clear(&c->ev);
		return;
	}
	if (!ev_wanted(c->srv))
		return;
	struct evrec r;
	memset(&r, 0, sizeof(r));
	evrec_fill(c, &r);
	ev_send(c->srv, &r, false, rule, false);
}

/* "RULE (SOURCE)", malloc'd. */
static char *rule_text(const struct net_decision *d)
{
	return d->rule_source ? str_printf("%s (%s)", d->rule, d->rule_source) : strdup(d->rule);
}

static void addr_text(const struct sockaddr_storage *ss, char *out, size_t size)
{
	out[0] = '\0';
	if (ss->ss_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)ss)->sin_addr, out, (socklen_t)size);
	else if (ss->ss_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)ss)->sin6_addr, out, (socklen_t)size);
}

/* --- writing -------------------------------------------------------------- */

static void wreq_free_owned(struct wreq *w)
{
	if (w->owned && w->owned_wipe)
		explicit_bzero(w->owned, w->owned_wipe);
	free(w->owned);
}

static void on_written(uv_write_t *req, int status)
{
	struct wreq *w = (struct wreq *)req;
	struct conn *c = w->conn;
	if (status < 0 && status != UV_ECANCELED) {
		const struct side *to = req->handle->data;
		sigpipe_consume(status);
		evrec_ended(&c->ev, side_name(to->is_client), peer_error(to->is_client, status));
	}
	if (w->from && w->from->closed) {
		/* Its side closed while this write was in flight: the buffer
		 * (and a detached upstream) were left for us to free. */
		struct side *f = w->from;
		f->out_busy = false;
		if (f->buf)
			pool_put(f->srv, f->buf);
		f->buf = NULL;
		if (!f->is_client) {
			tls_io_free(f->tio);
			free(f);
		}
	} else if (w->from) {
		w->from->off += w->consume;
		w->from->out_busy = false;
		side_compact(w->from);
	}
	wreq_free_owned(w);
	free(w);
	c->pending_writes--;
	if (status >= 0)
		c->last_active = uv_now(c->srv->loop);
	if (status == UV_ECANCELED) {
		/* A handle of ours is closing; finish what waited for it. */
		if (c->state != ST_CLOSING && c->close_after_write && c->pending_writes == 0)
			conn_close(c);
		return;
	}
	if (status < 0 || c->state == ST_CLOSING) {
		if (c->state != ST_CLOSING || c->pending_writes == 0)
			conn_close(c);
		return;
	}
	if (c->close_after_write && c->pending_writes == 0) {
		conn_close(c);
		return;
	}
	conn_process(c);
}

static struct wreq *wreq_new(struct conn *c)
{
	struct wreq *w = calloc(1, sizeof(*w));
	if (w)
		w->conn = c;
	return w;
}

static bool wreq_add(struct wreq *w, const char *p, size_t n)
{
	if (n == 0)
		return true;
	if (w->nbufs == MAX_WRITE_BUFS)
		return false;
	w->bufs[w->nbufs++] = uv_buf_init((char *)p, (unsigned)n);
	return true;
}

/* Small text (a chunk-size line) copied into the request's arena. */
static bool wreq_add_copy(struct wreq *w, const char *p, size_t n)
{
	if (w->arena_used + n > sizeof(w->arena) || w->nbufs == MAX_WRITE_BUFS)
		return false;
	memcpy(w->arena + w->arena_used, p, n);
	bool ok = wreq_add(w, w->arena + w->arena_used, n);
	w->arena_used += n;
	return ok;
}

/* Encrypt w's bytes for a TLS side: w then carries the records (owned). */
static bool tls_seal(struct wreq *w, struct side *to)
{
	for (unsigned i = 0; i < w->nbufs; i++)
		if (tls_io_write(to->tio, w->bufs[i].base, w->bufs[i].len) < 0)
			return false;
	size_t n = 0;
	char *p = tls_io_take(to->tio, &n);
	if (!p)
		return false;
	/* The plaintext may hold a real credential: wiped as it goes. The
	 * records need no wipe, and owned_wipe (the plaintext's size) must
	 * not be applied to their buffer. */
	wreq_free_owned(w);
	w->owned = p;
	w->owned_wipe = 0;
	w->bufs[0] = uv_buf_init(p, (unsigned)n);
	w->nbufs = 1;
	return true;
}

/* Send w to side `to`. Tries a direct write first; what the socket does not
 * take now is queued. Returns false when the connection must be closed. */
static bool wreq_send(struct wreq *w, struct side *to)
{
	struct conn *c = w->conn;
	if (w->nbufs == 0) {
		if (w->from) {
			w->from->off += w->consume;
			side_compact(w->from);
		}
		wreq_free_owned(w);
		free(w);
		return true;
	}
	if (!to || to->closing || to->shut) {
		wreq_free_owned(w);
		free(w);
		return false;
	}
	size_t plain = 0;
	for (unsigned i = 0; i < w->nbufs; i++)
		plain += w->bufs[i].len;
	if (to->tio && !w->raw && !tls_seal(w, to)) {
		wreq_free_owned(w);
		free(w);
		return false;
	}
	int n = uv_try_write((uv_stream_t *)&to->tcp, w->bufs, w->nbufs);
	size_t total = 0;
	for (unsigned i = 0; i < w->nbufs; i++)
		total += w->bufs[i].len;
	/* Payload bytes count when they are handed over (now or queued);
	 * through TLS, what was there before encryption. */
	if (w->payload && (n >= 0 || n == UV_EAGAIN || n == UV_ENOSYS)) {
		if (to == &c->client)
			c->ev.down += plain;
		else
			c->ev.up += plain;
	}
	if (n >= 0 && (size_t)n == total) {
		if (w->from) {
			w->from->off += w->consume;
			side_compact(w->from);
		}
		wreq_free_owned(w);
		free(w);
		return true;
	}
	if (n < 0 && n != UV_EAGAIN && n != UV_ENOSYS) {
		sigpipe_consume(n);
		evrec_ended(&c->ev, side_name(to->is_client), peer_error(to->is_client, n));
		wreq_free_owned(w);
		free(w);
		return false;
	}
	/* Skip what went out already. */
	size_t skip = n > 0 ? (size_t)n : 0;
	unsigned first = 0;
	while (first < w->nbufs && skip >= w->bufs[first].len)
		skip -= w->bufs[first++].len;
	w->bufs[first].base += skip;
	w->bufs[first].len -= (unsigned)skip;
	if (w->from)
		w->from->out_busy = true;
	c->pending_writes++;
	if (uv_write(&w->req, (uv_stream_t *)&to->tcp, w->bufs + first, w->nbufs - first, on_written) < 0) {
		c->pending_writes--;
		if (w->from)
			w->from->out_busy = false;
		wreq_free_owned(w);
		free(w);
		return false;
	}
	return true;
}

/* Send text we own (an answer, a rebuilt head); payload: count it toward
 * the event's bytes. */
static bool send_owned_as(struct conn *c, struct side *to, char *text, size_t len, bool payload)
{
	struct wreq *w = wreq_new(c);
	if (!w) {
		free(text);
		return false;
	}
	w->owned = text;
	w->payload = payload;
	wreq_add(w, text, len);
	return wreq_send(w, to);
}

static bool send_owned(struct conn *c, struct side *to, char *text, size_t len)
{
	return send_owned_as(c, to, text, len, false);
}

/* Send a few bytes of ours (a SOCKS5 reply), copied. */
static bool send_copy(struct conn *c, const void *p, size_t n)
{
	char *copy = malloc(n);
	if (!copy)
		return false;
	memcpy(copy, p, n);
	return send_owned(c, &c->client, copy, n);
}

/* --- closing -------------------------------------------------------------- */

/* The conn no longer waits for its name lookup: the answer is dropped
 * (resolve_cancel), and the conn may be freed before it comes. */
static void lookup_cancel(struct conn *c)
{
	if (!c->gai_busy)
		return;
	resolve_cancel(c->gai);
	c->gai = NULL;
	c->gai_busy = false;
}

/* Free the conn once every handle of it is closed and no lookup runs (the
 * requests embedded in it are then finished too). */
static void conn_maybe_free(struct conn *c)
{
	struct proxy_server *srv = c->srv;
	if (c->handles_open > 0 || c->gai_busy || c->ask)
		return;
	if (c->prev)
		c->prev->next = c->next;
	else
		srv->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	srv->n_conns--;
	free(c->req);
	free(c->resp);
	parent_tls_release(c->ptls);
	cred_body_end(c);
	evrec_clear(&c->ev);
	tls_io_free(c->client.tio);
	if (c->tls) {
		free(c->tls);
		srv->n_tls--;
	}
	if (c->direct) {
		free(c->direct->rule);
		free(c->direct);
	}
	free(c);
	trim_note_freed(srv);
	if (srv->paused && !srv->closing)
		start_accepting(srv);
	server_maybe_free(srv);
}

static void on_side_closed(uv_handle_t *h)
{
	struct side *sd = h->data;
	struct conn *c = sd->conn;
	sd->closed = true;
	/* A write in flight from our buffer frees it (and us) when done. */
	if (sd->buf && !sd->out_busy) {
		pool_put(sd->srv, sd->buf);
		sd->buf = NULL;
	}
	if (!sd->is_client) {
		if (c->up == sd)
			c->up = NULL;
		if (!sd->out_busy) {
			tls_io_free(sd->tio);
			free(sd);
		}
	}
	c->handles_open--;
	conn_maybe_free(c);
}

static void on_timer_closed(uv_handle_t *h)
{
	struct conn *c = h->data;
	c->handles_open--;
	conn_maybe_free(c);
}

static void side_close(struct side *sd)
{
	if (sd->closing)
		return;
	if (sd->tio && tls_io_ready(sd->tio) && !sd->shut && !sd->reset && !sd->cut) {
		/* Say the session ends (close_notify), if the socket takes it
		 * now: a body delimited by the close is then whole. */
		size_t n = 0;
		tls_io_close_notify(sd->tio);
		char *p = tls_io_take(sd->tio, &n);
		if (p) {
			uv_buf_t b = uv_buf_init(p, (unsigned)n);
			uv_try_write((uv_stream_t *)&sd->tcp, &b, 1);
			free(p);
		}
	}
	sd->closing = true;
	sd->reading = false;
	uv_close((uv_handle_t *)&sd->tcp, on_side_closed);
}

/* An upstream we no longer want (a kept-alive one to another host, or one
 * whose connect failed). */
static void detach_upstream(struct conn *c)
{
	if (!c->up)
		return;
	struct side *u = c->up;
	c->up = NULL;
	u->detached = true;
	side_close(u);
}

/* A transparent request not yet handed over (or relayed). */
static bool direct_pending(const struct conn *c)
{
	return c->direct && !c->direct->relayed;
}

/* Hand a transparent request's outcome to the connect broker, once; fd is
 * ours until then (closed when nobody waits for it any more). */
static void direct_finish(struct conn *c, int fd, int err, const char *rule)
{
	struct proxy_direct *d = c->direct;
	if (!d || !d->done) {
		if (fd >= 0)
			close(fd);
		return;
	}
	proxy_direct_done done = d->done;
	d->done = NULL;
	done(d->data, fd, err, rule);
}

/*
 * A lingering close. An answer that ends a connection (a refusal, an
 * error) often goes out while the client is still sending its request's
 * body: closing the socket with those bytes unread makes the kernel send
 * a reset, and the client's kernel then drops the answer before the client
 * reads it (it sees "connection reset" instead of srt's 403). So the
 * socket outlives the conn by a little: srt stops writing (FIN after the
 * answer, and after the TLS close_notify when there is one) and reads and
 * drops what the client still sends, until it closes, for at most
 * LINGER_MS and LINGER_MAX bytes.
 */
#define LINGER_MS 2000
#define LINGER_MAX (8u << 20)
#define LINGER_MAX_SOCKETS 256 /* at once; beyond, a plain close */

struct close_wait {
	struct proxy_server *srv;
	uv_poll_t poll;
	uv_timer_t timer;
	int fd;
	size_t got;
	int open;               /* handles not yet closed */
	bool ending;
	struct close_wait *next, **pprev;
};

static void on_linger_closed(uv_handle_t *h)
{
	struct close_wait *g = h->data;
	struct proxy_server *s = g->srv;
	s->open_handles--;
	if (--g->open > 0)
		return;
	close(g->fd);
	free(g);
	server_maybe_free(s);
}

static void linger_end(struct close_wait *g)
{
	if (g->ending)
		return;
	g->ending = true;
	g->srv->n_lingers--;
	*g->pprev = g->next;
	if (g->next)
		g->next->pprev = g->pprev;
	uv_close((uv_handle_t *)&g->poll, on_linger_closed);
	uv_close((uv_handle_t *)&g->timer, on_linger_closed);
}

static void on_linger_timer(uv_timer_t *t)
{
	linger_end(t->data);
}

static void on_linger_poll(uv_poll_t *p, int status, int events)
{
	struct close_wait *g = p->data;
	(void)events;
	char buf[16384];
	for (;;) {
		ssize_t n = status < 0 ? -1 : recv(g->fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n <= 0 || (g->got += (size_t)n) >= LINGER_MAX) {
			linger_end(g);
			return;
		}
	}
}

/* fd: a duplicate of a client's socket whose handle is being closed. */
static void linger_start(struct proxy_server *s, int fd)
{
	struct close_wait *g = calloc(1, sizeof(*g));
	if (!g || uv_poll_init(s->loop, &g->poll, fd) < 0) {
		free(g);
		close(fd);
		return;
	}
	g->srv = s;
	g->fd = fd;
	g->poll.data = g;
	uv_timer_init(s->loop, &g->timer);
	g->timer.data = g;
	g->open = 2;
	s->open_handles += 2;
	g->next = s->lingers;
	if (g->next)
		g->next->pprev = &g->next;
	g->pprev = &s->lingers;
	s->lingers = g;
	s->n_lingers++;
	shutdown(fd, SHUT_WR);
	uv_poll_start(&g->poll, UV_READABLE | UV_DISCONNECT, on_linger_poll);
	uv_timer_start(&g->timer, on_linger_timer, LINGER_MS, 0);
}

/* Should the client's socket linger (see above), and which one is it? */
static int linger_fd(struct conn *c)
{
	if (!c->close_after_write || c->kind != PROXY_KIND_HTTP || c->client.eof || c->client.closing ||
	    c->client.reset || c->srv->closing || c->srv->n_lingers >= LINGER_MAX_SOCKETS)
		return -1;
	uv_os_fd_t fd;
	if (uv_fileno((uv_handle_t *)&c->client.tcp, &fd) < 0)
		return -1;
	return fcntl(fd, F_DUPFD_CLOEXEC, 3);
}

static void conn_close(struct conn *c)
{
	if (c->state == ST_CLOSING && c->client.closing)
		return;
	if (c->ev.pending && !c->ev.error &&
	    (c->state == ST_RESOLVING || c->state == ST_CONNECTING || c->state == ST_PARENT)) {
		c->ev.error = "closed before the connection was made";
		evrec_ended(&c->ev, "client", NULL);
	}
	/* A Content-Length body cut short: what was not passed on. */
	if (c->ev.pending && c->resp_head_sent && !c->resp_done && c->resp_body.framing == HTTP_RESP_LENGTH)
		c->ev.missing = c->resp_body.remaining;
	if (c->ev.pending && !c->ev.closed_by)
		c->ev.closed_by = "srt";
	/* A response cut short must not end with a close_notify: the client
	 * would take a body delimited by the close for the whole. */
	if (c->resp_head_sent && !c->resp_done)
		c->client.cut = true;
	ev_end(c);
	/* Closed before an outcome (the server closes): refused. */
	direct_finish(c, -1, ECONNREFUSED, NULL);
	c->state = ST_CLOSING;
	if (c->bs)
		bsplice_close(c->bs);
	lookup_cancel(c);
	ask_detach(c); /* its answer, when it comes, is dropped */
	if (c->up)
		side_close(c->up);
	int keep = linger_fd(c);
	side_close(&c->client);
	if (keep >= 0)
		linger_start(c->srv, keep);
	if (!uv_is_closing((uv_handle_t *)&c->timer))
		uv_close((uv_handle_t *)&c->timer, on_timer_closed);
}

/* Close once what is queued for the client has been written. */
static void close_when_flushed(struct conn *c)
{
	c->close_after_write = true;
	if (c->pending_writes == 0)
		conn_close(c);
}

static void server_maybe_free(struct proxy_server *s)
{
	if (s->closing && !s->conns && !s->tunnels && s->n_asks == 0)
		ask_wake_close(s);
	if (s->closing && s->open_handles == 0 && !s->conns && !s->tunnels) {
		const struct proxy_hooks *h = s->o.hooks;
		if (h && h->on_closed)
			h->on_closed(h->data);
		pool_release(s);
		free(s->tls_raw);
		while (s->listeners) {
			struct listener *l = s->listeners;
			s->listeners = l->next;
			free(l);
		}
		free(s);
		ask_threads_join();
	}
}

/* --- timers --------------------------------------------------------------- */

static void arm_timer(struct conn *c, unsigned ms);
enum deny_cause {
	DENY_NOT_ALLOWED,  /* the default deny: no entry matched */
	DENY_LISTED,       /* a deniedDomains entry matched */
	DENY_ASKED,        /* the ask hook said no */
	DENY_ASK_TIMEOUT,  /* the ask hook did not answer in time */
	DENY_ASK_FAILED,   /* the question could not be asked */
	DENY_ADDRESS,      /* the resolved-address guard */
};
static void deny(struct conn *c, enum deny_cause cause, const char *detail, const char *rule,
		 const char *rule_source, const char *reason);
static void refuse(struct conn *c, int http_status, uint8_t socks_rep, const char *proxy_error, const char *why);
static void parent_timed_out(struct conn *c);
static void parent_dial_failed(struct conn *c);
static bool parent_begin(struct conn *c, struct side *u);
static void parent_tls_begin(struct conn *c, struct side *u);
static void parent_process(struct conn *c);
static void parent_dial(struct conn *c);
static void upstream_ready(struct conn *c, struct side *u);

/* The idle timeouts of an exchange under way (response, tunnelIdle):
 * armed once, re-armed for what is left while bytes move. Returns true
 * when time is up. */
static bool idle_expired(struct conn *c, unsigned limit)
{
	uint64_t idle = uv_now(c->srv->loop) - c->last_active;
	if (idle < limit) {
		arm_timer(c, (unsigned)(limit - idle));
		return false;
	}
	return true;
}

static void on_timeout(uv_timer_t *t)
{
	struct conn *c = t->data;
	const struct proxy_limits *lim = &c->srv->o.limits;
	if (c->state == ST_ASKING) {
		ask_detach(c);
		deny(c, DENY_ASK_TIMEOUT, NULL, "asked: no answer in time", NULL, NULL);
		return;
	}
	if (c->state == ST_HTTP_FORWARD) {
		if (!idle_expired(c, lim->response_timeout_ms))
			return;
		debug_log(c, "%s: nothing from the server for %u ms", c->target, lim->response_timeout_ms);
		c->ev.timeout = "response";
		evrec_ended(&c->ev, "srt", "timed out");
		if (!c->resp_head_sent && !c->bs) {
			/* No response yet: say so, like a dial that timed out. */
			detach_upstream(c);
			c->client_keep = false;
			refuse(c, 504, 0, NULL, "no response from the server in time");
			return;
		}
		conn_close(c);
		return;
	}
	if (c->state == ST_TLS_HANDSHAKE) {
		debug_log(c, "%s: the TLS handshake with the client took too long", c->target);
		c->ev.timeout = "tlsHandshake";
		evrec_ended(&c->ev, "srt", "timed out");
		conn_close(c);
		return;
	}
	if (c->state == ST_TLS_UPSTREAM) {
		debug_log(c, "%s: the TLS handshake with the server took too long", c->target);
		c->ev.timeout = "tlsHandshake";
		detach_upstream(c);
		c->client_keep = false;
		refuse(c, 504, 0, NULL, "the TLS handshake with the server timed out");
		return;
	}
	if (c->state == ST_TUNNEL || c->state == ST_TUNNEL_SNI) {
		if (!idle_expired(c, lim->tunnel_idle_timeout_ms))
			return;
		debug_log(c, "%s: tunnel closed after %u ms without traffic", c->target, lim->tunnel_idle_timeout_ms);
		c->ev.timeout = "tunnelIdle";
		evrec_ended(&c->ev, "srt", "timed out");
		conn_close(c);
		return;
	}
	if (c->parent && (c->state == ST_CONNECTING || c->state == ST_RESOLVING || c->state == ST_PARENT)) {
		parent_timed_out(c);
		return;
	}
	if (c->state == ST_CONNECTING || c->state == ST_RESOLVING) {
		c->ev.timeout = "connect";
		evrec_ended(&c->ev, "srt", NULL);
		debug_log(c, "%s: timed out connecting", c->target);
		if (!c->ev.error)
			c->ev.error = "timed out";
		ev_end(c);
		lookup_cancel(c);
		if (direct_pending(c)) {
			direct_finish(c, -1, ETIMEDOUT, NULL);
		} else if (c->kind == PROXY_KIND_HTTP || c->tls) {
			static const char body[] = "srt: the connection timed out\n";
			char *text = NULL;
			int n = asprintf(&text, "HTTP/1.1 504 Gateway Timeout\r\nContent-Type: text/plain\r\n"
					 "Content-Length: %zu\r\nConnection: close\r\n\r\n%s", sizeof(body) - 1, body);
			if (n > 0 && send_owned(c, &c->client, text, (size_t)n)) {
				if (c->connect_busy)
					detach_upstream(c);
				if (c->pending_writes == 0)
					conn_close(c);
				else
					c->state = ST_CLOSING; /* nothing more happens; close once written */
				return;
			}
		} else if (c->kind == PROXY_KIND_SOCKS) {
			uint8_t rep[SOCKS5_REPLY_MAX];
			int n = socks5_build_reply(rep, sizeof(rep), SOCKS5_REP_TTL_EXPIRED, SOCKS5_ATYP_IPV4, NULL, 0);
			if (n > 0) {
				if (c->connect_busy)
					detach_upstream(c);
				if (send_copy(c, rep, (size_t)n)) {
					if (c->pending_writes == 0)
						conn_close(c);
					else
						c->state = ST_CLOSING;
					return;
				}
			}
		}
	} else {
		debug_log(c, "closing a connection that sent no complete request in time");
	}
	conn_close(c);
}

/* ms 0: no timeout (keepAliveIdle, response and tunnelIdle may be 0). */
static void arm_timer(struct conn *c, unsigned ms)
{
	if (uv_is_closing((uv_handle_t *)&c->timer))
		return;
	if (ms)
		uv_timer_start(&c->timer, on_timeout, ms, 0);
	else
		uv_timer_stop(&c->timer);
}

static void stop_timer(struct conn *c)
{
	if (!uv_is_closing((uv_handle_t *)&c->timer))
		uv_timer_stop(&c->timer);
}

/* Start an idle timeout (0: none) for an exchange that begins now. */
static void arm_idle_timer(struct conn *c, unsigned ms)
{
	c->last_active = uv_now(c->srv->loop);
	arm_timer(c, ms);
}

/* --- answers -------------------------------------------------------------- */

/* Answer an HTTP client with a short text; close afterwards unless keep. */
static void http_answer(struct conn *c, int status, const char *phrase, const char *proxy_error,
			const char *text, bool keep)
{
	char *out = NULL;
	size_t tl = strlen(text);
	int n = asprintf(&out,
			 "HTTP/1.1 %d %s\r\n%s%s%sContent-Type: text/plain; charset=utf-8\r\n"
			 "Content-Length: %zu\r\nConnection: %s\r\n\r\n%s",
			 status, phrase, proxy_error ? "X-Proxy-Error: " : "", proxy_error ? proxy_error : "",
			 proxy_error ? "\r\n" : "", tl, keep ? "keep-alive" : "close", text);
	if (n < 0) {
		conn_close(c);
		return;
	}
	if (!send_owned(c, &c->client, out, (size_t)n)) {
		conn_close(c);
		return;
	}
	if (!keep) {
		c->close_after_write = true;
		if (c->pending_writes == 0)
			conn_close(c);
	}
}

static const char *status_phrase(int status)
{
	switch (status) {
	case 400: return "Bad Request";
	case 403: return "Forbidden";
	case 414: return "URI Too Long";
	case 431: return "Request Header Fields Too Large";
	case 502: return "Bad Gateway";
	case 504: return "Gateway Timeout";
	case 505: return "HTTP Version Not Supported";
	default: return "Error";
	}
}

/* The reason phrase of a denial's status line. Clients show it, not the
 * body: Python's urllib ("HTTP Error 403: PHRASE", "Tunnel connection
 * failed: 403 PHRASE", which pip prints too), wget ("ERROR 403: PHRASE.",
 * "Proxy tunneling failed: PHRASE"). So it says what refused and why:
 *   "Forbidden by sandbox: HOST:PORT CAUSE[: DETAIL]"
 * The host is the sandbox's choice and the detail an ask hook's or the
 * settings' text: every byte outside printable ASCII (CR and LF among
 * them) becomes '?', a long host is cut, and the whole stops at
 * DENY_PHRASE_MAX bytes: the status line stays one short line. */
#define DENY_PHRASE_MAX 120
#define DENY_PHRASE_HOST_MAX 64

static const char *const deny_causes[] = {
	[DENY_NOT_ALLOWED] = "not in allowedDomains",
	[DENY_LISTED] = "denied by deniedDomains",
	[DENY_ASKED] = "denied when asked",
	[DENY_ASK_TIMEOUT] = "asked, no answer in time",
	[DENY_ASK_FAILED] = "asking failed",
	[DENY_ADDRESS] = "resolves to a refused address",
};

/* Append at most limit bytes of s to out (n bytes used), printable ASCII
 * only, within DENY_PHRASE_MAX. */
static void phrase_put(char *out, size_t *n, const char *s, size_t limit)
{
	for (; *s && limit > 0 && *n < DENY_PHRASE_MAX; s++, limit--) {
		unsigned char ch = (unsigned char)*s;
		out[(*n)++] = ch >= 0x20 && ch < 0x7f ? (char)ch : '?';
	}
	out[*n] = '\0';
}

static void deny_phrase(const char *target, enum deny_cause cause, const char *detail,
			char out[DENY_PHRASE_MAX + 1])
{
	size_t n = 0;
	out[0] = '\0';
	phrase_put(out, &n, "Forbidden by sandbox: ", SIZE_MAX);
	if (target && target[0]) {
		if (strlen(target) > DENY_PHRASE_HOST_MAX) {
			phrase_put(out, &n, target, DENY_PHRASE_HOST_MAX - 3);
			phrase_put(out, &n, "...", SIZE_MAX);
		} else {
			phrase_put(out, &n, target, SIZE_MAX);
		}
		phrase_put(out, &n, " ", SIZE_MAX);
	}
	phrase_put(out, &n, (size_t)cause < ARRAY_SIZE(deny_causes) ? deny_causes[cause] : "denied", SIZE_MAX);
	if (detail && detail[0]) {
		phrase_put(out, &n, ": ", SIZE_MAX);
		phrase_put(out, &n, detail, SIZE_MAX);
	}
	while (n > 0 && out[n - 1] == ' ')
		out[--n] = '\0';
}

static void socks_reply(struct conn *c, uint8_t rep, const struct sockaddr *bound, bool close_after)
{
	uint8_t buf[SOCKS5_REPLY_MAX];
	int n;
	if (bound && bound->sa_family == AF_INET6) {
		const struct sockaddr_in6 *a = (const void *)bound;
		n = socks5_build_reply(buf, sizeof(buf), rep, SOCKS5_ATYP_IPV6, a->sin6_addr.s6_addr, ntohs(a->sin6_port));
	} else if (bound && bound->sa_family == AF_INET) {
		const struct sockaddr_in *a = (const void *)bound;
		n = socks5_build_reply(buf, sizeof(buf), rep, SOCKS5_ATYP_IPV4, (const uint8_t *)&a->sin_addr,
				       ntohs(a->sin_port));
	} else {
		n = socks5_build_reply(buf, sizeof(buf), rep, SOCKS5_ATYP_IPV4, NULL, 0);
	}
	if (n <= 0 || !send_copy(c, buf, (size_t)n)) {
		conn_close(c);
		return;
	}
	if (close_after) {
		c->close_after_write = true;
		if (c->pending_writes == 0)
			conn_close(c);
	}
}

/* A refusal, in the client's protocol. A request that was allowed ends
 * here (an upstream failure): its event is sent, with the error. Policy
 * refusals send theirs with ev_refuse() first. phrase: the status line's
 * reason phrase, NULL for the status's usual one. */
static void refuse_phrase(struct conn *c, int http_status, uint8_t socks_rep, const char *proxy_error,
			  const char *why, const char *phrase)
{
	if (c->ev.pending) {
		evrec_ended(&c->ev, "srt", why);
		ev_end(c);
	}
	if (direct_pending(c) || (c->direct && !c->tls)) {
		/* What a connect() of the program says: the SOCKS5 reply
		 * code is already the refusal in a client's terms. */
		int err = socks_rep == SOCKS5_REP_NETWORK_UNREACHABLE ? ENETUNREACH :
			  socks_rep == SOCKS5_REP_HOST_UNREACHABLE ? EHOSTUNREACH :
			  socks_rep == SOCKS5_REP_TTL_EXPIRED ? ETIMEDOUT : ECONNREFUSED;
		const char *rule = socks_rep == SOCKS5_REP_NOT_ALLOWED && c->direct->rule ? c->direct->rule :
				   socks_rep == SOCKS5_REP_NOT_ALLOWED ? why : NULL;
		direct_finish(c, -1, err, rule);
		conn_close(c);
		return;
	}
	if (c->kind == PROXY_KIND_HTTP || c->tls) {
		char *text = NULL;
		if (asprintf(&text, "srt: %s%s%s\n", c->target[0] ? c->target : "", c->target[0] ? ": " : "", why) < 0) {
			conn_close(c);
			return;
		}
		/* A refused request without a body leaves the connection usable. */
		bool keep = c->client_keep && c->req && !c->req->connect && c->req->framing == HTTP_BODY_NONE &&
			    http_status == 403;
		http_answer(c, http_status, phrase ? phrase : status_phrase(http_status), proxy_error, text, keep);
		free(text);
		if (keep && c->state != ST_CLOSING) {
			c->client.off += c->req->head_len;
			free(c->req);
			c->req = NULL;
			c->state = ST_HTTP_HEAD;
			arm_timer(c, c->srv->o.limits.idle_timeout_ms);
			/* A pipelined request may already be here. */
			if (side_avail(&c->client) > 0)
				conn_process(c);
			else
				side_start_reading(&c->client);
		}
	} else if (c->kind == PROXY_KIND_SOCKS) {
		socks_reply(c, socks_rep, NULL, true);
	} else {
		conn_close(c);
	}
}

static void refuse(struct conn *c, int http_status, uint8_t socks_rep, const char *proxy_error, const char *why)
{
	refuse_phrase(c, http_status, socks_rep, proxy_error, why, NULL);
}

/* --- dialing -------------------------------------------------------------- */

static void try_next_address(struct conn *c);
static bool send_request_head(struct conn *c);
static void tls_upstream_start(struct conn *c, struct side *u);
static bool tls_wanted(struct conn *c);
static void direct_relay(struct conn *c, struct side *u);

/* A transparent request's upstream is connected: the broker takes the
 * socket. Its descriptor leaves libuv as a duplicate (the handle then
 * closes its own, as splice_tunnel's do); nothing was read from it. The
 * event is sent now, as srt sees none of its bytes. */
static void direct_connected_as(struct conn *c, struct side *u, int err);

static void direct_connected(struct conn *c, struct side *u)
{
	direct_connected_as(c, u, 0);
}

/* err EINPROGRESS: the dial is under way (proxy_direct_early). */
static void direct_connected_as(struct conn *c, struct side *u, int err)
{
	if (err == 0 && tls_wanted(c)) {
		direct_relay(c, u);
		return;
	}
	uv_os_fd_t ufd;
	int fd = uv_fileno((uv_handle_t *)&u->tcp, &ufd) == 0 ? fcntl(ufd, F_DUPFD_CLOEXEC, 0) : -1;
	stop_timer(c);
	if (fd < 0) {
		debug_log(c, "%s: cannot hand the connection over: %s", c->target, strerror(errno));
		evrec_ended(&c->ev, "srt", "out of descriptors");
		conn_close(c);
		return;
	}
	debug_log(c, "%s: %s, handed over", c->target, err ? "connecting" : "connected");
	ev_end(c);
	detach_upstream(c);
	direct_finish(c, fd, err, NULL);
	conn_close(c);
}

static void on_connected(uv_connect_t *req, int status)
{
	struct side *u = (struct side *)req->handle->data;
	struct conn *c = u->conn;
	if (u->detached) /* given up while connecting */
		return;
	c->connect_busy = false;
	if (c->state == ST_CLOSING)
		return;
	if (status < 0) {
		c->last_connect_err = status;
		detach_upstream(c);
		try_next_address(c);
		return;
	}
	if (c->parent) {
		if (c->parent->scheme == PARENT_HTTPS)
			parent_tls_begin(c, u);
		else
			parent_begin(c, u);
		return;
	}
	upstream_ready(c, u);
}

/* The upstream is connected (through the parent, when there is one): the
 * client's protocol goes on. */
static void upstream_ready(struct conn *c, struct side *u)
{
	if (direct_pending(c)) {
		direct_connected(c, u);
		return;
	}
	stop_timer(c);
	if (c->kind != PROXY_KIND_HTTP || (c->req && c->req->connect))
		arm_idle_timer(c, c->srv->o.limits.tunnel_idle_timeout_ms);
	uv_tcp_nodelay(&u->tcp, 1);
	snprintf(c->up_target, sizeof(c->up_target), "%s", c->target);
	snprintf(c->up_address, sizeof(c->up_address), "%s", c->ev.address);
	c->up_np = c->np;
	c->up_by_extra = c->by_extra;
	c->up_keep = true;
	side_start_reading(u);
	if (c->tls) {
		/* A request inside a terminated tunnel, on a new connection:
		 * TLS first. */
		tls_upstream_start(c, u);
		return;
	}
	if (c->kind == PROXY_KIND_HTTP && c->req && c->req->connect) {
		static const char ok[] = "HTTP/1.1 200 Connection established\r\n\r\n";
		char *copy = strdup(ok);
		c->client.off += c->req->head_len;
		free(c->req);
		c->req = NULL;
		c->state = ST_TUNNEL_SNI;
		if (!copy || !send_owned(c, &c->client, copy, sizeof(ok) - 1)) {
			conn_close(c);
			return;
		}
	} else if (c->kind == PROXY_KIND_SOCKS) {
		struct sockaddr_storage local;
		int len = sizeof(local);
		bool have = uv_tcp_getsockname(&u->tcp, (struct sockaddr *)&local, &len) == 0;
		c->state = ST_TUNNEL_SNI;
		socks_reply(c, SOCKS5_REP_SUCCEEDED, have ? (struct sockaddr *)&local : NULL, false);
	} else if (c->kind == PROXY_KIND_FORWARD) {
		c->state = ST_TUNNEL;
	} else {
		c->state = ST_HTTP_FORWARD;
		if (!c->req || !send_request_head(c)) {
			conn_close(c);
			return;
		}
	}
	conn_process(c);
}

static void dial_failed(struct conn *c)
{
	if (c->parent) {
		parent_dial_failed(c);
		return;
	}
	int e = c->last_connect_err;
	const char *why = e == UV_ECONNREFUSED ? "connection refused" :
			  e == UV_ETIMEDOUT ? "timed out" :
			  e == UV_ENETUNREACH ? "network unreachable" :
			  e == UV_EHOSTUNREACH ? "host unreachable" : uv_strerror(e);
	debug_log(c, "%s: cannot connect: %s", c->target, why);
	c->ev.error = why;
	c->ev.closed_by = e == UV_ECONNREFUSED ? "server" : "srt";
	char msg[128];
	snprintf(msg, sizeof(msg), "cannot connect: %s", why);
	uint8_t rep = e == UV_ECONNREFUSED ? SOCKS5_REP_CONNECTION_REFUSED :
		      e == UV_ENETUNREACH ? SOCKS5_REP_NETWORK_UNREACHABLE :
		      e == UV_ETIMEDOUT ? SOCKS5_REP_TTL_EXPIRED : SOCKS5_REP_HOST_UNREACHABLE;
	c->client_keep = false;
	refuse(c, e == UV_ETIMEDOUT ? 504 : 502, rep, NULL, msg);
}

static void try_next_address(struct conn *c)
{
	if (c->next_cand >= c->n_cands) {
		dial_failed(c);
		return;
	}
	struct side *u = calloc(1, sizeof(*u));
	if (!u) {
		conn_close(c);
		return;
	}
	u->conn = c;
	u->srv = c->srv;
	if (uv_tcp_init(c->srv->loop, &u->tcp) < 0) {
		free(u);
		conn_close(c);
		return;
	}
	c->handles_open++;
	u->tcp.data = u;
	c->up = u;
	c->state = ST_CONNECTING;
	addr_text(&c->cands[c->next_cand], c->ev.address, sizeof(c->ev.address));
	const struct sockaddr *a = (const struct sockaddr *)&c->cands[c->next_cand++];
	int r = uv_tcp_connect(&u->creq, &u->tcp, a, on_connected);
	if (r < 0) {
		c->last_connect_err = r;
		detach_upstream(c);
		try_next_address(c);
		return;
	}
	c->connect_busy = true;
	if (direct_pending(c) && c->direct->early && !tls_wanted(c) && !c->parent) {
		/* The program's socket is non-blocking: it waits for this
		 * dial itself (EINPROGRESS), on this one address. */
		c->connect_busy = false;
		direct_connected_as(c, u, EINPROGRESS);
	}
}

static void start_dial(struct conn *c)
{
	c->next_cand = 0;
	c->last_connect_err = UV_ECONNREFUSED;
	arm_timer(c, c->srv->o.limits.connect_timeout_ms);
	try_next_address(c);
}

/* Dial an IP literal host (no name to resolve) at port. */
static void dial_literal(struct conn *c, const struct proxy_host *h, uint16_t port)
{
	memset(&c->cands[0], 0, sizeof(c->cands[0]));
	if (h->kind == PROXY_HOST_IPV4) {
		struct sockaddr_in *a = (struct sockaddr_in *)&c->cands[0];
		a->sin_family = AF_INET;
		a->sin_port = htons(port);
		inet_pton(AF_INET, h->text, &a->sin_addr);
	} else {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&c->cands[0];
		a->sin6_family = AF_INET6;
		a->sin6_port = htons(port);
		inet_pton(AF_INET6, h->text, &a->sin6_addr);
	}
	c->n_cands = 1;
	start_dial(c);
}

/* The guard for an address of c's request: the policy that decided; for a
 * request the extra list allowed, an IP or localhost entry of that list
 * also lifts the generic classes (never the policy's own refusals: its
 * deniedDomains IP literals and deniedResolvedAddresses). */
static const char *conn_guard(struct conn *c, const struct sockaddr *addr)
{
	const char *cls = net_policy_guard(c->np, addr, c->port);
	const struct proxy_hooks *h = c->srv->o.hooks;
	if (cls && c->by_extra && h && h->extra && strcmp(cls, "deniedDomains IP literal") != 0 &&
	    strncmp(cls, "deniedResolvedAddresses", 23) != 0 && !net_policy_guard(h->extra, addr, c->port))
		return NULL;
	return cls;
}

/* A name lookup of c ended: false when c closed meanwhile (res freed). */
static bool lookup_landed(struct conn *c, struct addrinfo *res)
{
	c->gai_busy = false;
	c->gai = NULL;
	if (c->state != ST_CLOSING)
		return true;
	resolve_free(res);
	conn_maybe_free(c);
	return false;
}

static void on_resolved(void *data, int status, struct addrinfo *res)
{
	struct conn *c = data;
	if (!lookup_landed(c, res))
		return;
	if (status != 0) {
		debug_log(c, "%s: name did not resolve", c->target);
		c->client_keep = false;
		c->ev.error = "name did not resolve";
		refuse(c, 502, SOCKS5_REP_HOST_UNREACHABLE, NULL, "cannot connect: the name did not resolve");
		return;
	}
	c->n_cands = 0;
	const char *refused_class = NULL;
	char refused_addr[INET6_ADDRSTRLEN] = "";
	/* A transparent request tries its socket's family first: two passes,
	 * the second only for it. */
	for (int pass = 0; pass < (c->direct ? 2 : 1); pass++) {
		for (struct addrinfo *ai = res; ai && c->n_cands < sizeof(c->cands) / sizeof(c->cands[0]);
		     ai = ai->ai_next) {
			if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6)
				continue;
			if (c->direct && (ai->ai_family == c->direct->family) != (pass == 0))
				continue;
			const char *cls = conn_guard(c, ai->ai_addr);
			if (cls) {
				if (!refused_class) {
					struct sockaddr_storage ss;
					memset(&ss, 0, sizeof(ss));
					memcpy(&ss, ai->ai_addr, ai->ai_addrlen <= sizeof(ss) ? ai->ai_addrlen : sizeof(ss));
					addr_text(&ss, refused_addr, sizeof(refused_addr));
				}
				refused_class = cls;
				continue;
			}
			memcpy(&c->cands[c->n_cands], ai->ai_addr, ai->ai_addrlen);
			if (ai->ai_family == AF_INET)
				((struct sockaddr_in *)&c->cands[c->n_cands])->sin_port = htons(c->port);
			else
				((struct sockaddr_in6 *)&c->cands[c->n_cands])->sin6_port = htons(c->port);
			c->n_cands++;
		}
	}
	resolve_free(res);
	if (c->n_cands == 0) {
		char why[256];
		snprintf(why, sizeof(why), "denied: the name resolves to a refused address (%s)",
			 refused_class ? refused_class : "none usable");
		debug_log(c, "%s: %s", c->target, why);
		char rule[256];
		if (refused_class)
			snprintf(rule, sizeof(rule), "resolved address %s is %s", refused_addr, refused_class);
		else
			snprintf(rule, sizeof(rule), "the name resolves to no usable address");
		ev_refuse(c, rule, false);
		c->client_keep = false;
		char phrase[DENY_PHRASE_MAX + 1];
		deny_phrase(c->target, DENY_ADDRESS, refused_class ? refused_class : "none usable", phrase);
		refuse_phrase(c, 403, SOCKS5_REP_NOT_ALLOWED, "blocked-by-sandbox-runtime", why, phrase);
		return;
	}
	if (c->parent) {
		/* socks5://: the parent gets the first address that passed. */
		c->parent_addr = c->cands[0];
		c->parent_resolved = true;
		parent_dial(c);
		return;
	}
	start_dial(c);
}

/* An allowed request: resolve (names) and dial. */
static void dial_allowed(struct conn *c)
{
	/* A request inside a terminated tunnel is HTTPS to its origin: it
	 * goes through a parent as a tunnel (CONNECT), never in absolute
	 * form, whose http:// would cross the parent in plain text. */
	bool plain = c->kind == PROXY_KIND_HTTP && c->req && !c->req->connect && !c->tls;
	c->parent = proxy_upstream_route(c->srv->o.upstream, &c->host, c->port, plain);
	c->parent_resolved = false;
	/* Plain HTTP goes to an HTTP parent (or the mitmProxy) as an
	 * absolute-form request, as a client configured with that proxy would
	 * send it: parents commonly allow CONNECT to port 443 only. */
	c->parent_abs = c->parent && plain &&
			(c->parent->scheme == PARENT_HTTP || c->parent->scheme == PARENT_HTTPS ||
			 c->parent->scheme == PARENT_UNIX);
	parent_tls_release(c->ptls);
	c->ptls = NULL;
	/* Through a parent, the parent resolves the name, except socks5://
	 * (the client resolves: srt, with its guard). */
	if (c->parent && (c->parent->scheme != PARENT_SOCKS5 || c->host.kind != PROXY_HOST_NAME)) {
		parent_dial(c);
		return;
	}
	if (c->host.kind == PROXY_HOST_NAME) {
		struct addrinfo hints;
		memset(&hints, 0, sizeof(hints));
		hints.ai_family = AF_UNSPEC;
		hints.ai_socktype = SOCK_STREAM;
		hints.ai_flags = AI_ADDRCONFIG;
		c->state = ST_RESOLVING;
		arm_timer(c, c->srv->o.limits.connect_timeout_ms);
		if (resolve_start(c->srv->loop, c->host.text, &hints, on_resolved, c, &c->gai) < 0) {
			refuse(c, 502, SOCKS5_REP_GENERAL_FAILURE, NULL, "cannot resolve the name");
			return;
		}
		c->gai_busy = true;
		return;
	}
	/* An IP literal allowed by an IP entry: dialed as it is. */
	dial_literal(c, &c->host, c->port);
}

/* --- parent proxies and mitmProxy ------------------------------------------ */

/*
 * An allowed request whose route (proxy_upstream_route) is a parent proxy
 * or the mitmProxy socket dials that instead of its target: the parent's
 * own name is resolved and dialed without the resolved-address guard (the
 * user chose it), then the handshake runs in ST_PARENT (CONNECT, or the
 * SOCKS5 exchange), and once the parent says the tunnel is up the request
 * goes on exactly as after a direct connect (upstream_ready). Every
 * failure names the parent, never its credentials.
 */

/* The parent failed this request. */
static void parent_fail(struct conn *c, int http_status, uint8_t socks_rep, const char *detail)
{
	const struct parent_url *p = c->parent;
	char d[160];
	snprintf(d, sizeof(d), "%s", detail);
	snprintf(c->perr, sizeof(c->perr), "%s%s: %s", p->scheme == PARENT_UNIX ? "" : "parent proxy ", p->name, d);
	debug_log(c, "%s: %s", c->target, c->perr);
	c->ev.error = c->perr;
	lookup_cancel(c);
	detach_upstream(c);
	c->connect_busy = false;
	c->client_keep = false;
	/* The reason phrase says it, printable ASCII only. */
	char phrase[256];
	size_t n = 0;
	const char *parts[] = { status_phrase(http_status), ": ", c->perr };
	for (size_t i = 0; i < ARRAY_SIZE(parts); i++)
		for (const char *q = parts[i]; *q && n + 1 < sizeof(phrase); q++)
			phrase[n++] = (unsigned char)*q >= 0x20 && (unsigned char)*q < 0x7f ? *q : '?';
	phrase[n] = '\0';
	char why[sizeof(c->perr) + 32];
	snprintf(why, sizeof(why), "cannot connect through %s", c->perr);
	/* A transparent program learns a refusal, not a policy denial. */
	if (c->direct && socks_rep == SOCKS5_REP_NOT_ALLOWED)
		socks_rep = SOCKS5_REP_CONNECTION_REFUSED;
	refuse_phrase(c, http_status, socks_rep, "parent-proxy-failed", why, phrase);
}

static void parent_timed_out(struct conn *c)
{
	c->ev.timeout = "connect";
	parent_fail(c, 504, SOCKS5_REP_TTL_EXPIRED,
		    c->state != ST_PARENT ? "timed out connecting" :
		    c->ptls && !parent_tls_ready(c->ptls) ? "no TLS handshake in time" :
		    "no answer to the handshake in time");
}

static void parent_dial_failed(struct conn *c)
{
	int e = c->last_connect_err;
	char d[128];
	snprintf(d, sizeof(d), "cannot connect: %s",
		 e == UV_ECONNREFUSED ? "connection refused" : e == UV_ETIMEDOUT ? "timed out" :
		 e == UV_ENETUNREACH ? "network unreachable" : e == UV_EHOSTUNREACH ? "host unreachable" :
		 uv_strerror(e));
	if (e == UV_ETIMEDOUT)
		c->ev.timeout = "connect";
	parent_fail(c, e == UV_ETIMEDOUT ? 504 : 502,
		    e == UV_ETIMEDOUT ? SOCKS5_REP_TTL_EXPIRED : SOCKS5_REP_GENERAL_FAILURE, d);
}

/* The TLS to an https:// parent is up: an absolute-form request may go. */
static void on_parent_tls_ready(void *data)
{
	struct conn *c = data;
	if (c->state == ST_PARENT && c->parent_abs && c->up)
		upstream_ready(c, c->up);
}

/* Connected to the parent: send the first message of the handshake (for
 * an absolute-form request, the request itself, once any TLS is up). */
static bool parent_begin(struct conn *c, struct side *u)
{
	c->state = ST_PARENT;
	if (c->parent_abs) {
		uv_tcp_nodelay(&u->tcp, 1);
		if (c->ptls && !parent_tls_ready(c->ptls)) {
			side_start_reading(u); /* its end of stream: the TLS failed */
			return true;
		}
		upstream_ready(c, u);
		return true;
	}
	char *out = NULL;
	size_t n = 0;
	int r = parent_hs_start(&c->phs, c->parent, &c->host,
				c->parent_resolved ? (const struct sockaddr *)&c->parent_addr : NULL, c->port, &out, &n);
	if (r != PARENT_SEND) {
		parent_fail(c, 502, SOCKS5_REP_GENERAL_FAILURE, "the handshake cannot be made for this target");
		return false;
	}
	uv_tcp_nodelay(&u->tcp, 1);
	if (!send_owned(c, u, out, n)) {
		conn_close(c);
		return false;
	}
	side_start_reading(u);
	return true;
}

/* What a SOCKS5 client of srt is told when the parent said no. */
static uint8_t parent_socks_rep(const struct parent_hs *hs, int r)
{
	if (r == PARENT_MALFORMED || r == PARENT_AUTH)
		return r == PARENT_AUTH && hs->url->scheme != PARENT_SOCKS5 && hs->url->scheme != PARENT_SOCKS5H ?
			       SOCKS5_REP_NOT_ALLOWED : SOCKS5_REP_GENERAL_FAILURE;
	if (hs->url->scheme == PARENT_SOCKS5 || hs->url->scheme == PARENT_SOCKS5H)
		return hs->status > 0 && hs->status <= SOCKS5_REP_ATYP_NOT_SUPPORTED ? (uint8_t)hs->status :
										      SOCKS5_REP_GENERAL_FAILURE;
	if (hs->status == 403)
		return SOCKS5_REP_NOT_ALLOWED;
	if (hs->status == 504)
		return SOCKS5_REP_TTL_EXPIRED;
	return SOCKS5_REP_HOST_UNREACHABLE;
}

static void parent_process(struct conn *c)
{
	struct side *u = c->up;
	if (!u) {
		conn_close(c);
		return;
	}
	if (c->client.eof && c->kind != PROXY_KIND_HTTP) {
		conn_close(c);
		return;
	}
	while (side_avail(u) > 0) {
		size_t used = 0, n = 0;
		char *out = NULL;
		int r = parent_hs_feed(&c->phs, (const uint8_t *)u->buf + u->off, side_avail(u), &used, &out, &n);
		u->off += used;
		if (r == PARENT_MORE)
			break;
		if (r == PARENT_SEND) {
			if (!send_owned(c, u, out, n)) {
				conn_close(c);
				return;
			}
			continue;
		}
		if (r == PARENT_READY) {
			debug_log(c, "%s: tunnel through %s", c->target, c->parent->name);
			if (c->direct) {
				/* The program gets the socket itself: nothing may
				 * have been read from it past the handshake. */
				if (side_avail(u) > 0) {
					parent_fail(c, 502, SOCKS5_REP_GENERAL_FAILURE,
						    "sent the target's first bytes with its answer");
					return;
				}
				uv_read_stop((uv_stream_t *)&u->tcp);
				u->reading = false;
			}
			upstream_ready(c, u);
			return;
		}
		char d[160];
		parent_hs_describe(&c->phs, r, d, sizeof(d));
		parent_fail(c, c->phs.status == 504 && r == PARENT_REFUSED && c->phs.url->scheme != PARENT_SOCKS5 &&
				       c->phs.url->scheme != PARENT_SOCKS5H ? 504 : 502,
			    parent_socks_rep(&c->phs, r), d);
		return;
	}
	if (u->eof) {
		const char *tls = parent_tls_error(c->ptls);
		parent_fail(c, 502, SOCKS5_REP_GENERAL_FAILURE,
			    tls[0] ? tls : u->reset ? "reset the connection during the handshake" :
						"closed the connection during the handshake");
		return;
	}
	side_start_reading(u);
}

static void on_parent_resolved(void *data, int status, struct addrinfo *res)
{
	struct conn *c = data;
	if (!lookup_landed(c, res))
		return;
	if (status != 0) {
		parent_fail(c, 502, SOCKS5_REP_GENERAL_FAILURE, "its name did not resolve");
		return;
	}
	c->n_cands = 0;
	for (struct addrinfo *ai = res; ai && c->n_cands < ARRAY_SIZE(c->cands); ai = ai->ai_next) {
		if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6)
			continue;
		memcpy(&c->cands[c->n_cands], ai->ai_addr, ai->ai_addrlen);
		if (ai->ai_family == AF_INET)
			((struct sockaddr_in *)&c->cands[c->n_cands])->sin_port = htons(c->parent->port);
		else
			((struct sockaddr_in6 *)&c->cands[c->n_cands])->sin6_port = htons(c->parent->port);
		c->n_cands++;
	}
	resolve_free(res);
	if (c->n_cands == 0) {
		parent_fail(c, 502, SOCKS5_REP_GENERAL_FAILURE, "its name resolves to no usable address");
		return;
	}
	start_dial(c);
}

/* A connected socket of ours (the mitmProxy's, or the plaintext end of
 * an https:// parent's TLS pump) becomes c's upstream; the handshake
 * starts. */
static void parent_adopt(struct conn *c, int fd)
{
	struct side *u = calloc(1, sizeof(*u));
	if (!u || uv_tcp_init(c->srv->loop, &u->tcp) < 0) {
		free(u);
		close(fd);
		conn_close(c);
		return;
	}
	u->conn = c;
	u->srv = c->srv;
	u->tcp.data = u;
	c->handles_open++;
	c->up = u;
	c->state = ST_CONNECTING;
	if (uv_tcp_open(&u->tcp, fd) < 0) {
		close(fd);
		parent_fail(c, 502, SOCKS5_REP_GENERAL_FAILURE, "cannot use the connection");
		return;
	}
	parent_begin(c, u);
}

/* Connected to an https:// parent: TLS first, through a pump whose
 * plaintext end becomes the upstream. */
static void parent_tls_begin(struct conn *c, struct side *u)
{
	uv_os_fd_t ufd;
	int fd = uv_fileno((uv_handle_t *)&u->tcp, &ufd) == 0 ? fcntl(ufd, F_DUPFD_CLOEXEC, 0) : -1;
	detach_upstream(c);
	if (fd < 0) {
		parent_fail(c, 502, SOCKS5_REP_GENERAL_FAILURE, "cannot use the connection");
		return;
	}
	int pfd = parent_tls_start(c->srv->loop, fd, &c->parent->host, on_parent_tls_ready, c, &c->ptls);
	if (pfd < 0) {
		char d[96];
		snprintf(d, sizeof(d), "TLS cannot start: %s", strerror(-pfd));
		parent_fail(c, 502, SOCKS5_REP_GENERAL_FAILURE, d);
		return;
	}
	parent_adopt(c, pfd);
}

/* The mitmProxy: a unix socket of the host, connected at once (a full
 * backlog is a failure, not a wait). */
static void parent_dial_unix(struct conn *c)
{
	struct sockaddr_un sun;
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", c->parent->path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		int e = errno;
		if (fd >= 0)
			close(fd);
		char d[128];
		snprintf(d, sizeof(d), "cannot connect: %s", e == EAGAIN ? "its backlog is full" : strerror(e));
		parent_fail(c, 502, SOCKS5_REP_GENERAL_FAILURE, d);
		return;
	}
	c->ev.address[0] = '\0';
	parent_adopt(c, fd);
}

/* Dial c->parent: its address as given, or its name resolved. */
static void parent_dial(struct conn *c)
{
	const struct parent_url *p = c->parent;
	arm_timer(c, c->srv->o.limits.connect_timeout_ms);
	if (p->scheme == PARENT_UNIX) {
		parent_dial_unix(c);
		return;
	}
	if (p->host.kind == PROXY_HOST_NAME) {
		struct addrinfo hints;
		memset(&hints, 0, sizeof(hints));
		hints.ai_family = AF_UNSPEC;
		hints.ai_socktype = SOCK_STREAM;
		hints.ai_flags = AI_ADDRCONFIG;
		c->state = ST_RESOLVING;
		if (resolve_start(c->srv->loop, p->host.text, &hints, on_parent_resolved, c, &c->gai) < 0) {
			parent_fail(c, 502, SOCKS5_REP_GENERAL_FAILURE, "cannot resolve its name");
			return;
		}
		c->gai_busy = true;
		return;
	}
	dial_literal(c, &p->host, p->port);
}

/* --- deciding --------------------------------------------------------------- */

enum decide_result {
	DECIDE_ALLOW,
	DECIDE_DENY,
	DECIDE_ASK,
};

/* Was d the default deny (no deniedDomains and no allowedDomains entry
 * matched)? */
static bool decision_by_default(const struct net_decision *d)
{
	return d->verdict == NET_DENY && d->by_default;
}

static const char *conn_via(const struct conn *c)
{
	if (c->tls)
		return "tls";
	if (c->direct)
		return "transparent";
	switch (c->kind) {
	case PROXY_KIND_SOCKS: return "socks5";
	case PROXY_KIND_FORWARD: return "forward";
	case PROXY_KIND_HTTP: break;
	}
	return c->req && !c->req->connect ? "http" : "connect";
}

/* Decide for c->host:c->port with the current policy; on its default deny,
 * with the extra list, then (when there is an ask hook) by asking. */
static enum decide_result conn_decide(struct conn *c, struct net_decision *d)
{
	struct proxy_server *s = c->srv;
	const struct proxy_hooks *h = s->o.hooks;
	c->np = h && h->policy ? h->policy(h->data) : s->o.policy;
	c->by_extra = false;
	c->via = conn_via(c);
	net_policy_decide(c->np, &c->host, c->port, d);
	if (d->verdict == NET_ALLOW)
		return DECIDE_ALLOW;
	if (!decision_by_default(d))
		return DECIDE_DENY;
	if (h && h->extra) {
		struct net_decision e;
		net_policy_decide(h->extra, &c->host, c->port, &e);
		if (e.verdict == NET_ALLOW) {
			*d = e;
			c->by_extra = true;
			return DECIDE_ALLOW;
		}
	}
	return h && (h->ask || h->ask_async) ? DECIDE_ASK : DECIDE_DENY;
}

/* A policy refusal. cause and detail make the status line's phrase;
 * rule, rule_source and reason the event and the body. */
static void deny(struct conn *c, enum deny_cause cause, const char *detail, const char *rule,
		 const char *rule_source, const char *reason)
{
	debug_log(c, "%s: denied (%s)", c->target, rule);
	char *text = rule_source ? str_printf("%s (%s)", rule, rule_source) : NULL;
	ev_refuse(c, text ? text : rule, false);
	free(text);
	char why[1024];
	if (reason)
		snprintf(why, sizeof(why), "denied: %s (%s)", reason, rule);
	else
		snprintf(why, sizeof(why), "denied (%s)", rule);
	char phrase[DENY_PHRASE_MAX + 1];
	deny_phrase(c->target, cause, detail, phrase);
	refuse_phrase(c, 403, SOCKS5_REP_NOT_ALLOWED, "blocked-by-allowlist", why, phrase);
}

/* --- asking ----------------------------------------------------------------- */

/*
 * A question has two holders: the conn that waits (loop thread) and
 * whoever answers it (a thread of ours running the blocking hook, or the
 * party the asynchronous hook handed it to). The answer travels to the
 * loop through srv->ask_done and srv->ask_wake, so a pending question
 * holds no thread of libuv's pool: name lookups never queue behind it.
 *
 * A conn stops waiting when its client leaves, at the ask timeout or when
 * the server closes. An asynchronous question is then given up (srv
 * NULL): its answerer frees it, whenever it answers. A blocking one keeps
 * the server, since the hook runs with hooks->data: the server frees
 * itself only after the call has returned.
 *
 * One lock for every server: it guards a few pointer moves, never a call.
 */
static pthread_mutex_t ask_lock = PTHREAD_MUTEX_INITIALIZER;

struct proxy_ask {
	/* Loop thread only. */
	struct conn *c;             /* who waits, NULL once nobody does */
	const char *default_rule;   /* the default deny's rule (owned by the policy) */
	/* Under ask_lock. */
	struct proxy_server *srv;   /* where the answer goes; NULL: the answerer frees it */
	bool answered;
	bool blocking;              /* for the blocking hook, on a thread of ours */
	bool started;               /* blocking: a thread took it */
	struct proxy_ask *next;     /* in srv->ask_done or in the blocking queue */
	bool allowed;
	char reason[512];
	/* Fixed at creation. */
	const struct proxy_hooks *hooks;
	char host[sizeof(((struct proxy_host *)0)->text)];
	uint16_t port;
};

/* Blocking questions wait here for one of at most ASK_THREADS threads
 * (under ask_lock): each may block for as long as a person takes, so
 * they get threads of their own, made when needed and gone when idle.
 * A thread is made with a question of its own (never empty-handed), and
 * when it finds no other, it puts itself on ask_exited before its last
 * answer goes out: the server that takes that answer, or any later one,
 * joins it as it is freed (ask_threads_join), so that no thread of ours
 * outlives the runtime that used it. */
enum { ASK_THREADS = 64 };
static struct proxy_ask *ask_queue, *ask_queue_tail;
static unsigned ask_threads;
static struct ask_exited {
	pthread_t thread;
	struct ask_exited *next;
} *ask_exited;

/* Join the ask threads that have ended, or are about to (loop thread). */
static void ask_threads_join(void)
{
	pthread_mutex_lock(&ask_lock);
	struct ask_exited *list = ask_exited;
	ask_exited = NULL;
	pthread_mutex_unlock(&ask_lock);
	while (list) {
		struct ask_exited *x = list;
		list = x->next;
		pthread_join(x->thread, NULL);
		free(x);
	}
}

/* The loop stays alive while answers are awaited, not longer. */
static void ask_count(struct proxy_server *s, int delta)
{
	size_t before = s->n_asks;
	s->n_asks += (size_t)(ssize_t)delta;
	if (before == 0 && s->n_asks > 0)
		uv_ref((uv_handle_t *)&s->ask_wake);
	else if (before > 0 && s->n_asks == 0)
		uv_unref((uv_handle_t *)&s->ask_wake);
}

/* Under ask_lock: q's answer to its server; false when nobody waits for it
 * any more (the caller frees q). */
static bool ask_post(struct proxy_ask *q, bool allow, const char *reason)
{
	struct proxy_server *srv = q->srv;
	if (!srv)
		return false;
	q->answered = true;
	q->allowed = allow;
	snprintf(q->reason, sizeof(q->reason), "%s", !allow && reason ? reason : "");
	q->next = srv->ask_done;
	srv->ask_done = q;
	uv_async_send(&srv->ask_wake);
	return true;
}

void proxy_ask_answer(struct proxy_ask *q, bool allow, const char *reason)
{
	if (!q)
		return;
	pthread_mutex_lock(&ask_lock);
	bool posted = ask_post(q, allow, reason);
	pthread_mutex_unlock(&ask_lock);
	if (!posted)
		free(q);
}

static void *ask_thread(void *arg)
{
	struct proxy_ask *q = arg;
	for (;;) {
		char reason[sizeof(q->reason)] = "";
		bool allowed = q->hooks->ask(q->hooks->data, q->host, q->port, reason, sizeof(reason));
		reason[sizeof(reason) - 1] = '\0';
		struct ask_exited *me = malloc(sizeof(*me));
		pthread_mutex_lock(&ask_lock);
		struct proxy_ask *next = ask_queue;
		if (next) {
			ask_queue = next->next;
			if (!ask_queue)
				ask_queue_tail = NULL;
			next->next = NULL;
			next->started = true;
		} else {
			ask_threads--;
			if (me) {
				me->thread = pthread_self();
				me->next = ask_exited;
				ask_exited = me;
				me = NULL;
			} else {
				pthread_detach(pthread_self()); /* nobody could join it */
			}
		}
		/* q's server may be freed from here on, joining us. */
		bool posted = ask_post(q, allowed, reason);
		pthread_mutex_unlock(&ask_lock);
		free(me);
		if (!posted)
			free(q);
		if (!next)
			return NULL;
		q = next;
	}
}

/* Run a blocking question on a thread of ours; false when no thread can
 * run it. */
static bool ask_enqueue(struct proxy_ask *q)
{
	bool ok = true, started = false;
	pthread_mutex_lock(&ask_lock);
	q->blocking = true;
	if (ask_threads < ASK_THREADS) {
		/* The caller's signals are not ours to take. */
		sigset_t all, old;
		sigfillset(&all);
		pthread_sigmask(SIG_BLOCK, &all, &old);
		pthread_t t;
		q->started = true;
		started = pthread_create(&t, NULL, ask_thread, q) == 0;
		pthread_sigmask(SIG_SETMASK, &old, NULL);
		if (started)
			ask_threads++;
		else
			q->started = false;
	}
	if (!started && ask_threads == 0) {
		ok = false; /* nobody would ever take it */
	} else if (!started) {
		if (ask_queue_tail)
			ask_queue_tail->next = q;
		else
			ask_queue = q;
		ask_queue_tail = q;
	}
	pthread_mutex_unlock(&ask_lock);
	return ok;
}

/* The conn stops waiting for its question (loop thread). */
static void ask_detach(struct conn *c)
{
	struct proxy_ask *q = c->ask;
	if (!q)
		return;
	struct proxy_server *srv = c->srv;
	c->ask = NULL;
	q->c = NULL;
	bool unqueued = false, handed_over = false;
	pthread_mutex_lock(&ask_lock);
	if (q->blocking && !q->started) {
		/* Not begun: nobody needs to be asked any more. */
		struct proxy_ask **p = &ask_queue, *prev = NULL;
		while (*p && *p != q) {
			prev = *p;
			p = &(*p)->next;
		}
		if (*p) {
			*p = q->next;
			if (ask_queue_tail == q)
				ask_queue_tail = prev;
			unqueued = true;
		}
	} else if (!q->blocking && !q->answered) {
		q->srv = NULL;
		handed_over = true;
	}
	pthread_mutex_unlock(&ask_lock);
	/* Otherwise the answer is on its way (or running): on_ask_wake
	 * frees it. */
	if (unqueued)
		free(q);
	if (unqueued || handed_over)
		ask_count(srv, -1);
}

/* Act on the answer to c's question. */
static void ask_answered(struct conn *c, struct proxy_ask *q)
{
	if (q->allowed) {
		debug_log(c, "%s: allowed (asked: allowed)", c->target);
		ev_begin(c, strdup("asked: allowed"));
		dial_allowed(c);
		return;
	}
	/* An answer that is the default deny's own rule (from a caller with
	 * no one to ask) leaves the default deny as it was. */
	if (strcmp(q->reason, q->default_rule) == 0) {
		deny(c, DENY_NOT_ALLOWED, NULL, q->default_rule, NULL, NULL);
		return;
	}
	/* Strip control characters: the reason goes into a message. */
	for (char *p = q->reason; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = ' ';
	char rule[sizeof(q->reason) + 16];
	snprintf(rule, sizeof(rule), "asked: %s", q->reason[0] ? q->reason : "denied");
	deny(c, DENY_ASKED, q->reason, rule, NULL, NULL);
}

static void on_ask_wake(uv_async_t *a)
{
	struct proxy_server *srv = a->data;
	pthread_mutex_lock(&ask_lock);
	struct proxy_ask *list = srv->ask_done;
	srv->ask_done = NULL;
	pthread_mutex_unlock(&ask_lock);
	/* In the order they were answered. */
	struct proxy_ask *fifo = NULL;
	while (list) {
		struct proxy_ask *n = list->next;
		list->next = fifo;
		fifo = list;
		list = n;
	}
	while (fifo) {
		struct proxy_ask *q = fifo;
		fifo = q->next;
		ask_count(srv, -1);
		struct conn *c = q->c;
		if (c && c->state == ST_ASKING) {
			c->ask = NULL;
			stop_timer(c);
			ask_answered(c, q);
		}
		free(q);
	}
	server_maybe_free(srv);
}

static void on_ask_wake_closed(uv_handle_t *h)
{
	struct proxy_server *s = h->data;
	s->open_handles--;
	server_maybe_free(s);
}

/* Once no answer is awaited any more (every conn gone, no blocking call
 * running): nothing can be sent to ask_wake after this. */
static void ask_wake_close(struct proxy_server *s)
{
	if (s->ask_wake_closing)
		return;
	s->ask_wake_closing = true;
	uv_close((uv_handle_t *)&s->ask_wake, on_ask_wake_closed);
}

static void start_ask(struct conn *c, const struct net_decision *d)
{
	struct proxy_server *srv = c->srv;
	const struct proxy_hooks *h = srv->o.hooks;
	struct proxy_ask *q = calloc(1, sizeof(*q));
	if (!q) {
		conn_close(c);
		return;
	}
	q->c = c;
	q->default_rule = d->rule;
	q->srv = srv;
	q->hooks = h;
	snprintf(q->host, sizeof(q->host), "%s", c->host.text);
	q->port = c->port;
	c->ask = q;
	c->state = ST_ASKING;
	ask_count(srv, 1);
	unsigned ms = h->ask_timeout ? h->ask_timeout(h->data) : 0;
	arm_timer(c, ms ? ms : PROXY_ASK_TIMEOUT_MS);
	if (h->ask_async && h->ask_async(h->data, q, q->host, q->port))
		return;
	if (!h->ask) {
		/* Nobody to ask: the default deny, as without an ask hook. */
		proxy_ask_answer(q, false, d->rule);
		return;
	}
	if (!ask_enqueue(q)) {
		ask_detach(c);
		deny(c, DENY_ASK_FAILED, NULL, "asked: cannot ask", NULL, NULL);
	}
}

/* Act on a decision made by conn_decide. */
static void decided(struct conn *c, enum decide_result r, const struct net_decision *d)
{
	switch (r) {
	case DECIDE_ALLOW:
		debug_log(c, "%s: allowed (%s)", c->target, d->rule);
		ev_begin(c, rule_text(d));
		dial_allowed(c);
		return;
	case DECIDE_ASK:
		start_ask(c, d);
		return;
	case DECIDE_DENY:
		deny(c, decision_by_default(d) ? DENY_NOT_ALLOWED : DENY_LISTED, d->reason, d->rule, d->rule_source,
		     d->reason);
		return;
	}
}

/* Decide for c->host:c->port, then resolve and dial. */
static void decide_and_dial(struct conn *c)
{
	snprintf(c->target, sizeof(c->target), c->host.kind == PROXY_HOST_IPV6 ? "[%s]:%u" : "%s:%u",
		 c->host.text, (unsigned)c->port);
	struct net_decision d;
	enum decide_result r = conn_decide(c, &d);
	decided(c, r, &d);
}

/* --- TLS termination --------------------------------------------------------- */

/*
 * A tunnel (CONNECT or SOCKS5) to an allowed host that is not in
 * tlsTerminate.excludeDomains, whose client starts with a ClientHello, is
 * terminated: the client's leg gets a leaf for the tunnel's host (its SNI
 * must name that host, or be absent), the server's leg is a TLS client to
 * that host, verified. Both handshakes run at once. Then the conn is an
 * HTTP/1.1 forwarder whose requests are in origin-form: each is parsed,
 * checked (its Host must name the tunnel's host) and decided like an
 * absolute-form request, and forwarded over the server's leg by the same
 * code (send_request_head, body_pump, the response parser); a request
 * that needs a new connection dials and makes a new TLS client.
 *
 * Below that code, a TLS side's buffer holds plaintext: on_read decrypts
 * into it, wreq_send encrypts what is written to it. Reads of encrypted
 * bytes are sized so that what they decrypt to always fits the buffer
 * (TLS_READ_SLACK: one record that was partly buffered plus its rest),
 * so no byte ever waits inside the TLS engine for room.
 */

#define TLS_RAW_MAX (128 * 1024)
#define TLS_READ_SLACK (17 * 1024 + 512)
#define TLS_READ_MIN (TLS_READ_SLACK + 4096)
/* What may wait in libuv for a TLS side beyond a buffer of data (a
 * request head of up to HTTP_HEAD_MAX may be queued with a body's buffer,
 * and a bit more for the records): the engine answers some records on its
 * own (a KeyUpdate that asks for one, say) while it reads that same side,
 * so a peer that sends and never reads would make those answers pile up
 * without end. Past this, the side is not read until they are written
 * (on_read, side_start_reading). */
#define TLS_OUT_SLACK (2 * HTTP_HEAD_MAX + 64 * 1024)

static bool tls_out_full(struct side *sd)
{
	return sd->tio && uv_stream_get_write_queue_size((uv_stream_t *)&sd->tcp) >
				  sd->srv->o.limits.buffer_size + TLS_OUT_SLACK;
}

static size_t tls_room(const struct side *sd)
{
	return sd->srv->o.limits.buffer_size - (sd->buf ? sd->len : 0);
}

/* Send what the engine has for the peer (handshake, alerts, tickets). */
static bool tls_flush(struct conn *c, struct side *sd)
{
	size_t n = 0;
	char *p = tls_io_take(sd->tio, &n);
	if (!p)
		return true;
	struct wreq *w = wreq_new(c);
	if (!w) {
		free(p);
		return false;
	}
	w->owned = p;
	w->raw = true;
	wreq_add(w, p, n);
	return wreq_send(w, sd);
}

/* Encrypted bytes from a TLS side: handshake, then decrypt into its
 * buffer. Returns false on a TLS error after the handshake (a handshake
 * that fails is seen by the state's processing). */
static bool tls_input(struct conn *c, struct side *sd, const char *raw, size_t n)
{
	struct tls_io *io = sd->tio;
	if (tls_io_feed(io, raw, n) < 0)
		return false;
	bool ok = true;
	if (!tls_io_ready(io) && tls_io_handshake(io) <= 0) {
		tls_io_keep(io);
		tls_flush(c, sd);
		return true;
	}
	while (ok) {
		if (!sd->buf) {
			sd->buf = pool_get(sd->srv);
			sd->off = sd->len = 0;
			if (!sd->buf) {
				ok = false;
				break;
			}
		}
		size_t room = tls_room(sd);
		if (room == 0)
			break;
		long k = tls_io_read(io, sd->buf + sd->len, room);
		if (k > 0) {
			sd->len += (size_t)k;
			continue;
		}
		if (k == -1)
			sd->eof = true; /* close_notify */
		else if (k < -1)
			ok = false;
		break;
	}
	if (tls_io_keep(io) < 0)
		ok = false;
	if (sd->buf && sd->off == sd->len && !sd->out_busy)
		side_compact(sd);
	return tls_flush(c, sd) && ok;
}

/* Should this tunnel be terminated? */
static bool tls_wanted(struct conn *c)
{
	const struct tls_terminate *t = c->srv->o.tls;
	if (!t || !t->ca || (c->kind == PROXY_KIND_FORWARD && !c->direct))
		return false;
	/* excludeDomains of the settings the connection was decided by (a
	 * reload changes them for new tunnels), else the sandbox's first. */
	const struct net_policy *ex = c->np ? net_policy_tls_exclude(c->np) : t->exclude;
	if (ex) {
		struct net_decision d;
		net_policy_decide(ex, &c->host, c->port, &d);
		if (d.verdict == NET_ALLOW)
			return false;
	}
	return true;
}

/* The client's first bytes are a ClientHello: terminate. */
static void tls_begin(struct conn *c)
{
	struct proxy_server *s = c->srv;
	const struct tls_terminate *t = s->o.tls;
	if (s->n_tls >= t->max_tunnels || s->o.limits.buffer_size < 2 * TLS_READ_MIN) {
		char rule[96];
		snprintf(rule, sizeof(rule), "tlsTerminate.maxTunnels: %u terminated tunnels at once", t->max_tunnels);
		debug_log(c, "%s: tunnel closed: %s", c->target, rule);
		ev_refuse(c, rule, true);
		conn_close(c);
		return;
	}
	if (c->up->out_busy || side_avail(c->up) > 0) {
		/* The server spoke first, and its bytes went to the client as
		 * they were: nothing TLS can be made of that. */
		debug_log(c, "%s: tunnel closed: the server sent data before the client's TLS hello", c->target);
		evrec_ended(&c->ev, "srt", "the server sent data before the client's TLS hello");
		conn_close(c);
		return;
	}
	c->tls = calloc(1, sizeof(*c->tls));
	if (!c->tls) {
		conn_close(c);
		return;
	}
	s->n_tls++;
	c->tls->host = c->host;
	c->tls->port = c->port;
	c->client.tio = tls_io_server(t->ca, c->host.text);
	c->up->tio = tls_io_client(t->ca, c->host.text);
	size_t n = side_avail(&c->client);
	char *hello = n ? malloc(n) : NULL;
	if (!c->client.tio || !c->up->tio || !hello) {
		free(hello);
		evrec_ended(&c->ev, "srt", "cannot set up TLS");
		conn_close(c);
		return;
	}
	debug_log(c, "%s: terminating TLS", c->target);
	/* What was read so far is encrypted: it goes to the engines. */
	memcpy(hello, c->client.buf + c->client.off, n);
	c->client.off = c->client.len;
	side_compact(&c->client);
	c->state = ST_TLS_HANDSHAKE;
	arm_timer(c, t->handshake_timeout_ms);
	tls_io_handshake(c->up->tio);
	bool ok = tls_flush(c, c->up) && tls_input(c, &c->client, hello, n);
	free(hello);
	if (!ok) {
		evrec_ended(&c->ev, "srt", "TLS error");
		conn_close(c);
		return;
	}
	conn_process(c);
}

static void tls_handshake_process(struct conn *c)
{
	struct tls_io *io = c->client.tio;
	if (tls_io_failed(io) || (c->client.eof && !tls_io_ready(io))) {
		const char *why = tls_io_failed(io) ? tls_io_error(io) : "the client closed the connection";
		debug_log(c, "%s: the TLS handshake with the client failed: %s", c->target, why);
		evrec_ended(&c->ev, "client", why);
		conn_close(c);
		return;
	}
	if (!tls_io_ready(io)) {
		side_start_reading(&c->client);
		if (c->up)
			side_start_reading(c->up);
		return;
	}
	/* Now the first request's head, within requestHead. */
	arm_timer(c, c->srv->o.limits.head_timeout_ms);
	c->state = ST_HTTP_HEAD;
	c->client_keep = true;
	conn_process(c);
}

/* The server's leg failed its handshake: the client hears why (502). */
static void tls_upstream_failed(struct conn *c, const char *why)
{
	char rule[256], text[256];
	snprintf(rule, sizeof(rule), "TLS with the server failed: %s", why);
	snprintf(text, sizeof(text), "the TLS connection to the server failed: %s", why);
	debug_log(c, "%s: %s", c->target, rule);
	ev_refuse(c, rule, false);
	detach_upstream(c);
	c->client_keep = false;
	refuse(c, 502, 0, NULL, text);
}

static void tls_upstream_process(struct conn *c)
{
	struct side *u = c->up;
	if (!u || !u->tio) {
		conn_close(c);
		return;
	}
	if (tls_io_failed(u->tio)) {
		tls_upstream_failed(c, tls_io_error(u->tio));
		return;
	}
	if (!tls_io_ready(u->tio)) {
		if (u->eof) {
			tls_upstream_failed(c, "the server closed the connection during the handshake");
			return;
		}
		side_start_reading(u);
		return;
	}
	stop_timer(c);
	c->state = ST_HTTP_FORWARD;
	if (!c->req || !send_request_head(c)) {
		conn_close(c);
		return;
	}
	conn_process(c);
}

/* A new connection for a request in a terminated tunnel. */
static void tls_upstream_start(struct conn *c, struct side *u)
{
	u->tio = tls_io_client(c->srv->o.tls->ca, c->host.text);
	if (!u->tio) {
		evrec_ended(&c->ev, "srt", "cannot set up TLS");
		conn_close(c);
		return;
	}
	c->state = ST_TLS_UPSTREAM;
	arm_timer(c, c->srv->o.tls->handshake_timeout_ms);
	tls_io_handshake(u->tio);
	if (!tls_flush(c, u)) {
		conn_close(c);
		return;
	}
	conn_process(c);
}

/* A connected loopback TCP pair in srt's own network namespace: out[0]
 * for the program, out[1] for us. The listener lives only for this; a
 * stranger's connection accepted first is closed. */
static int tcp_pair(int out[2])
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct sockaddr_in mine, peer;
	socklen_t sl = sizeof(sa), ml = sizeof(mine);
	int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), a = -1, b = -1;
	if (l < 0 || bind(l, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(l, 16) < 0 ||
	    getsockname(l, (struct sockaddr *)&sa, &sl) < 0)
		goto fail;
	a = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (a < 0 || connect(a, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    getsockname(a, (struct sockaddr *)&mine, &ml) < 0)
		goto fail;
	for (int tries = 0; tries < 16 && b < 0; tries++) {
		socklen_t pl = sizeof(peer);
		int x = accept4(l, (struct sockaddr *)&peer, &pl, SOCK_CLOEXEC);
		if (x < 0)
			goto fail;
		if (peer.sin_port == mine.sin_port && peer.sin_addr.s_addr == mine.sin_addr.s_addr)
			b = x;
		else
			close(x);
	}
	if (b < 0)
		goto fail;
	close(l);
	out[0] = a;
	out[1] = b;
	return 0;
fail:
	if (l >= 0)
		close(l);
	if (a >= 0)
		close(a);
	return -1;
}

/* A transparent connection to a host whose TLS srt terminates: the
 * program gets one end of a loopback pair instead of the server's socket,
 * and the conn becomes a tunnel from the other end to the server, checked
 * and terminated as a CONNECT tunnel is. */
static void direct_relay(struct conn *c, struct side *u)
{
	int pair[2];
	stop_timer(c);
	if (tcp_pair(pair) < 0) {
		debug_log(c, "%s: cannot relay the connection: %s", c->target, strerror(errno));
		evrec_ended(&c->ev, "srt", "out of descriptors");
		conn_close(c);
		return;
	}
	if (uv_tcp_open(&c->client.tcp, pair[1]) < 0) {
		close(pair[0]);
		close(pair[1]);
		evrec_ended(&c->ev, "srt", "out of descriptors");
		conn_close(c);
		return;
	}
	uv_tcp_nodelay(&c->client.tcp, 1);
	uv_tcp_nodelay(&u->tcp, 1);
	c->direct->relayed = true;
	debug_log(c, "%s: connected, relayed (TLS termination)", c->target);
	direct_finish(c, pair[0], 0, NULL);
	snprintf(c->up_target, sizeof(c->up_target), "%s", c->target);
	snprintf(c->up_address, sizeof(c->up_address), "%s", c->ev.address);
	c->up_np = c->np;
	c->up_by_extra = c->by_extra;
	c->up_keep = true;
	c->state = ST_TUNNEL_SNI;
	arm_idle_timer(c, c->srv->o.limits.tunnel_idle_timeout_ms);
	side_start_reading(u);
	side_start_reading(&c->client);
}

/* A request in a terminated tunnel must name the tunnel's host in its
 * Host field (requireHostMatch): else 421 Misdirected Request, a
 * violation. Returns false when it was refused. */
static bool tls_host_check(struct conn *c)
{
	const struct tls_conn *t = c->tls;
	if (!c->srv->o.tls->require_host_match ||
	    (c->req->port == t->port && strcmp(c->req->host.text, t->host.text) == 0))
		return true;
	/* The tunnel's own event ends here; the refusal names the Host. */
	if (c->ev.pending)
		ev_end(c);
	char rule[PROXY_HOST_NAME_MAX * 2 + 96];
	snprintf(rule, sizeof(rule), "Host mismatch: the request names %s:%u inside a TLS tunnel to %s:%u",
		 c->req->host.text, (unsigned)c->req->port, t->host.text, (unsigned)t->port);
	c->host = c->req->host;
	c->port = c->req->port;
	snprintf(c->target, sizeof(c->target), c->host.kind == PROXY_HOST_IPV6 ? "[%s]:%u" : "%s:%u",
		 c->host.text, (unsigned)c->port);
	c->via = "tls";
	debug_log(c, "%s: %s", c->target, rule);
	ev_refuse(c, rule, false);
	c->client_keep = false;
	free(c->req);
	c->req = NULL;
	http_answer(c, 421, "Misdirected Request", "blocked-by-sandbox-runtime",
		    "srt: this connection is for another host; open a new one for this host\n", false);
	return false;
}

/* --- tunnels ---------------------------------------------------------------- */

/* Copy what `from` has to `to`. */
static bool relay(struct conn *c, struct side *from, struct side *to)
{
	if (from->out_busy || side_avail(from) == 0)
		return true;
	struct wreq *w = wreq_new(c);
	if (!w)
		return false;
	w->from = from;
	w->payload = true;
	w->consume = side_avail(from);
	wreq_add(w, from->buf + from->off, w->consume);
	return wreq_send(w, to);
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
	(void)status;
	free(req);
}

/* End of stream from `from`: pass it on once everything was written. */
static void pass_eof(struct conn *c, struct side *from, struct side *to)
{
	(void)c;
	if (!from->eof || from->out_busy || side_avail(from) > 0 || !to || to->shut || to->closing)
		return;
	to->shut = true;
	/* shutdown() after queued writes; libuv orders it behind them. */
	uv_shutdown_t *sr = malloc(sizeof(*sr));
	if (!sr || uv_shutdown(sr, (uv_stream_t *)&to->tcp, on_shutdown) < 0)
		free(sr);
}

static void tunnel_process(struct conn *c)
{
	struct side *u = c->up;
	if (!u) {
		conn_close(c);
		return;
	}
	if (c->state == ST_TUNNEL_SNI && side_avail(&c->client) > 0) {
		char name[SNI_NAME_MAX + 1];
		enum sni_status st = sni_read((const uint8_t *)c->client.buf + c->client.off, side_avail(&c->client), name);
		if (st == SNI_NEED_MORE && side_avail(&c->client) < SNI_PEEK_MAX &&
		    c->client.len < c->srv->o.limits.buffer_size && !c->client.eof)
			return; /* keep reading */
		bool ok = st == SNI_NOT_TLS || st == SNI_NO_SNI ||
			  (st == SNI_FOUND && sni_matches_host(name, c->host.text));
		if (ok && (st == SNI_FOUND || st == SNI_NO_SNI) && tls_wanted(c)) {
			tls_begin(c);
			return;
		}
		if (ok && st == SNI_NOT_TLS && tls_wanted(c) && c->srv->o.tls->refuse_opaque) {
			static const char rule[] = "refuseOpaqueTunnels: the tunnel does not carry TLS";
			debug_log(c, "%s: tunnel closed: %s", c->target, rule);
			ev_refuse(c, rule, true);
			conn_close(c);
			return;
		}
		if (!ok) {
			debug_log(c, "%s: tunnel closed: %s", c->target,
				  st == SNI_FOUND ? "the TLS server name (SNI) names another host" : sni_status_name(st));
			char rule[SNI_NAME_MAX + 96];
			if (st == SNI_FOUND)
				snprintf(rule, sizeof(rule), "SNI mismatch: the TLS server name (SNI) names another host (%s)",
					 name);
			else
				snprintf(rule, sizeof(rule), "SNI check failed: %s", sni_status_name(st));
			ev_refuse(c, rule, true);
			conn_close(c);
			return;
		}
		c->state = ST_TUNNEL;
	} else if (c->state == ST_TUNNEL_SNI && c->client.eof) {
		c->state = ST_TUNNEL;
	}
	if (c->state == ST_TUNNEL && !relay(c, &c->client, u)) {
		conn_close(c);
		return;
	}
	if (!relay(c, u, &c->client)) {
		conn_close(c);
		return;
	}
	if (c->state == ST_TUNNEL)
		pass_eof(c, &c->client, u);
	pass_eof(c, u, &c->client);
	if (c->client.eof && u->eof && !c->client.out_busy && !u->out_busy && c->pending_writes == 0 &&
	    side_avail(&c->client) == 0 && side_avail(u) == 0) {
		conn_close(c);
		return;
	}
	/* Nothing buffered and nothing in flight: hand the sockets to the
	 * kernel's splice() from here on. */
	if (c->state == ST_TUNNEL && splice_tunnel(c))
		return;
	/* Read again where there is room and nothing in flight. */
	if (!c->client.out_busy && !c->client.eof)
		side_start_reading(&c->client);
	if (!u->out_busy && !u->eof)
		side_start_reading(u);
}

/* --- spliced tunnels ------------------------------------------------------- */

/*
 * Once a tunnel is established, checked, and has nothing buffered, its two
 * sockets leave libuv's streams: the conn is closed (its handles close
 * their own descriptors) and duplicates of the sockets are watched with
 * uv_poll. Bytes then move with splice() through a pipe per direction,
 * never through user space: on a 2-core machine that moved 1.3-1.5x the
 * bytes of a read()/write() relay. A pipe exists only while its direction
 * has bytes in flight, so idle tunnels hold two descriptors, like any
 * connection; when no pipe can be made (out of descriptors), a small heap
 * buffer carries the bytes instead. Back-pressure is the pipe: a side is
 * read only while its pipe has room, and its pipe is drained when the
 * other side is writable.
 */

#define SPILL_SIZE 65536

#define SPLICE_PIPE_SIZE (1024 * 1024)

struct stunnel {
	struct proxy_server *srv;
	struct stunnel *prev, *next;
	uv_poll_t poll[2];   /* 0: client, 1: upstream */
	int fd[2];
	int pipe[2][2];      /* pipe[i]: bytes read from fd[i], to be written to fd[1 - i] */
	size_t pipe_cap[2];
	size_t in_pipe[2];   /* bytes waiting, in the pipe or in spill */
	bool full[2];        /* the pipe took no more (slots, not bytes): read after a flush */
	char *spill[2];      /* used instead of a pipe when none can be made */
	size_t spill_off[2];
	bool eof[2];         /* fd[i] has no more to read */
	bool shut[2];        /* fd[i]'s writing half is shut down */
	bool closing;
	int open_polls;      /* the two polls and the timer */
	bool debug;
	uv_timer_t timer;    /* tunnelIdle */
	uint64_t last_active; /* uv_now() when a byte last moved */
	char target[PROXY_HOST_NAME_MAX + 16];
	struct evrec ev;     /* the conn's, moved here */
};

static void stunnel_update(struct stunnel *t);

static void on_stunnel_poll_closed(uv_handle_t *h)
{
	struct stunnel *t = h->data;
	if (--t->open_polls > 0)
		return;
	struct proxy_server *srv = t->srv;
	if (t->ev.pending) {
		evrec_ended(&t->ev, "srt", NULL); /* the server closed it: the sandbox ended */
		t->ev.pending = false;
		ev_send(srv, &t->ev, true, NULL, true);
	}
	evrec_clear(&t->ev);
	for (int i = 0; i < 2; i++) {
		close(t->fd[i]);
		if (t->pipe[i][0] >= 0) {
			close(t->pipe[i][0]);
			close(t->pipe[i][1]);
		}
		free(t->spill[i]);
	}
	if (t->prev)
		t->prev->next = t->next;
	else
		srv->tunnels = t->next;
	if (t->next)
		t->next->prev = t->prev;
	srv->n_conns--;
	free(t);
	trim_note_freed(srv);
	if (srv->paused && !srv->closing)
		start_accepting(srv);
	server_maybe_free(srv);
}

static void stunnel_close(struct stunnel *t)
{
	if (t->closing)
		return;
	t->closing = true;
	for (int i = 0; i < 2; i++)
		uv_close((uv_handle_t *)&t->poll[i], on_stunnel_poll_closed);
	uv_close((uv_handle_t *)&t->timer, on_stunnel_poll_closed);
}

/* No byte either way for tunnelIdle: close. The timer is armed once and
 * re-armed for what is left when bytes moved meanwhile. */
static void on_stunnel_timer(uv_timer_t *tm)
{
	struct stunnel *t = tm->data;
	uint64_t limit = t->srv->o.limits.tunnel_idle_timeout_ms;
	uint64_t idle = uv_now(t->srv->loop) - t->last_active;
	if (idle < limit) {
		uv_timer_start(&t->timer, on_stunnel_timer, limit - idle, 0);
		return;
	}
	if (t->debug)
		fprintf(stderr, "srt: proxy: %s: tunnel closed after %u ms without traffic\n", t->target,
			t->srv->o.limits.tunnel_idle_timeout_ms);
	t->ev.timeout = "tunnelIdle";
	evrec_ended(&t->ev, "srt", "timed out");
	stunnel_close(t);
}

/* Move what direction i holds to fd[1 - i]. Returns false on a fatal error. */
static bool stunnel_flush(struct stunnel *t, int i)
{
	while (t->in_pipe[i] > 0) {
		ssize_t n;
		if (t->spill[i])
			n = write(t->fd[1 - i], t->spill[i] + t->spill_off[i], t->in_pipe[i]);
		else
			n = splice(t->pipe[i][0], NULL, t->fd[1 - i], NULL, t->in_pipe[i],
				   SPLICE_F_NONBLOCK | SPLICE_F_MOVE);
		if (n > 0) {
			t->in_pipe[i] -= (size_t)n;
			t->spill_off[i] += (size_t)n;
			t->full[i] = false;
			if (i == 0)
				t->ev.up += (uint64_t)n;
			else
				t->ev.down += (uint64_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return true;
		int e = n < 0 ? -errno : UV_EPIPE;
		sigpipe_consume(e);
		evrec_ended(&t->ev, side_name(i == 1), peer_error(i == 1, e));
		return false;
	}
	/* Drained: give the pipe (or buffer) back until more comes. */
	if (t->spill[i]) {
		free(t->spill[i]);
		t->spill[i] = NULL;
	} else if (t->pipe[i][0] >= 0) {
		close(t->pipe[i][0]);
		close(t->pipe[i][1]);
		t->pipe[i][0] = t->pipe[i][1] = -1;
	}
	if (t->eof[i] && !t->shut[1 - i]) {
		t->shut[1 - i] = true;
		shutdown(t->fd[1 - i], SHUT_WR);
	}
	return true;
}

/* Read from fd[i] while there is room. */
static bool stunnel_fill(struct stunnel *t, int i)
{
	if (t->spill[i])
		return true; /* the buffer is drained first */
	if (t->pipe[i][0] < 0) {
		if (pipe2(t->pipe[i], O_NONBLOCK | O_CLOEXEC) == 0) {
			int size = fcntl(t->pipe[i][1], F_SETPIPE_SZ, SPLICE_PIPE_SIZE);
			t->pipe_cap[i] = size > 0 ? (size_t)size : 65536;
		} else {
			t->pipe[i][0] = t->pipe[i][1] = -1;
			if (errno != EMFILE && errno != ENFILE)
				return false;
			ssize_t n;
			char *buf = malloc(SPILL_SIZE);
			if (!buf)
				return false;
			do
				n = read(t->fd[i], buf, SPILL_SIZE);
			while (n < 0 && errno == EINTR);
			if (n <= 0) {
				free(buf);
				if (n == 0) {
					t->eof[i] = true;
					evrec_ended(&t->ev, side_name(i == 0), NULL);
					return true;
				}
				if (errno == EAGAIN)
					return true;
				evrec_ended(&t->ev, side_name(i == 0), peer_error(i == 0, -errno));
				return false;
			}
			t->spill[i] = buf;
			t->spill_off[i] = 0;
			t->in_pipe[i] = (size_t)n;
			return true;
		}
	}
	while (!t->eof[i] && t->in_pipe[i] < t->pipe_cap[i]) {
		ssize_t n = splice(t->fd[i], NULL, t->pipe[i][1], NULL, t->pipe_cap[i] - t->in_pipe[i],
				   SPLICE_F_NONBLOCK | SPLICE_F_MOVE);
		if (n > 0) {
			t->in_pipe[i] += (size_t)n;
			continue;
		}
		if (n == 0) {
			t->eof[i] = true;
			evrec_ended(&t->ev, side_name(i == 0), NULL);
			break;
		}
		if (errno == EINTR)
			continue;
		/* EAGAIN with bytes in the pipe may mean the pipe has no slot
		 * left: wait for a flush rather than spin on a readable socket. */
		if (errno == EAGAIN && t->in_pipe[i] > 0)
			t->full[i] = true;
		if (errno != EAGAIN)
			evrec_ended(&t->ev, side_name(i == 0), peer_error(i == 0, -errno));
		return errno == EAGAIN;
	}
	return true;
}

static void on_stunnel_poll(uv_poll_t *p, int status, int events)
{
	struct stunnel *t = p->data;
	int i = p == &t->poll[0] ? 0 : 1;
	if (t->closing)
		return;
	if (status < 0) {
		evrec_ended(&t->ev, side_name(i == 0), peer_error(i == 0, status));
		stunnel_close(t);
		return;
	}
	t->last_active = uv_now(t->srv->loop);
	/* fd[i] writable: drain what the other side sent. */
	if ((events & UV_WRITABLE) && !stunnel_flush(t, 1 - i)) {
		stunnel_close(t);
		return;
	}
	if (events & (UV_READABLE | UV_DISCONNECT)) {
		if (!stunnel_fill(t, i) || !stunnel_flush(t, i)) {
			stunnel_close(t);
			return;
		}
	}
	stunnel_update(t);
}

/* Watch for what each socket can do next; close when both directions are
 * done. */
static void stunnel_update(struct stunnel *t)
{
	if (t->closing)
		return;
	if (t->eof[0] && t->eof[1] && t->in_pipe[0] == 0 && t->in_pipe[1] == 0) {
		stunnel_close(t);
		return;
	}
	for (int i = 0; i < 2; i++) {
		int ev = 0;
		if (!t->eof[i] && !t->spill[i] && !t->full[i] && (t->pipe[i][0] < 0 || t->in_pipe[i] < t->pipe_cap[i]))
			ev |= UV_READABLE;
		if (t->in_pipe[1 - i] > 0)
			ev |= UV_WRITABLE;
		if (ev)
			uv_poll_start(&t->poll[i], ev, on_stunnel_poll);
		else
			uv_poll_stop(&t->poll[i]);
	}
}

/* Turn an established, idle tunnel into a spliced one. Returns false when
 * it stays as it is (something buffered, or no descriptor to spare). */
static bool splice_tunnel(struct conn *c)
{
	struct side *u = c->up;
	if (!u || c->pending_writes || c->client.out_busy || u->out_busy || side_avail(&c->client) ||
	    side_avail(u) || c->client.eof || u->eof || c->client.shut || u->shut || c->client.closing ||
	    u->closing)
		return false;
	uv_os_fd_t cfd, ufd;
	if (uv_fileno((uv_handle_t *)&c->client.tcp, &cfd) < 0 || uv_fileno((uv_handle_t *)&u->tcp, &ufd) < 0)
		return false;
	struct stunnel *t = calloc(1, sizeof(*t));
	if (!t)
		return false;
	t->fd[0] = fcntl(cfd, F_DUPFD_CLOEXEC, 0);
	t->fd[1] = t->fd[0] >= 0 ? fcntl(ufd, F_DUPFD_CLOEXEC, 0) : -1;
	if (t->fd[1] < 0) {
		if (t->fd[0] >= 0)
			close(t->fd[0]);
		free(t);
		return false;
	}
	for (int i = 0; i < 2; i++) {
		t->pipe[i][0] = t->pipe[i][1] = -1;
		uv_poll_init(c->srv->loop, &t->poll[i], t->fd[i]);
		t->poll[i].data = t;
	}
	uv_timer_init(c->srv->loop, &t->timer);
	t->timer.data = t;
	t->open_polls = 3;
	t->srv = c->srv;
	t->debug = c->srv->o.debug;
	t->last_active = c->last_active;
	if (c->srv->o.limits.tunnel_idle_timeout_ms)
		on_stunnel_timer(&t->timer); /* arms it for what is left */
	memcpy(t->target, c->target, sizeof(t->target));
	/* The event goes with the bytes: sent when the tunnel ends. */
	t->ev = c->ev;
	c->ev.pending = false;
	c->ev.rule = NULL;
	struct proxy_server *srv = c->srv;
	t->next = srv->tunnels;
	if (srv->tunnels)
		srv->tunnels->prev = t;
	srv->tunnels = t;
	srv->n_conns++; /* the conn's count goes when it is freed */
	conn_close(c);
	stunnel_update(t);
	return true;
}

/* --- spliced response bodies ------------------------------------------------ */

/*
 * A long response body with a Content-Length moves the same way as a
 * tunnel: from duplicates of the two sockets, through a pipe, with
 * splice(). The conn stays as it is (the upstream stream just does not
 * read meanwhile) and takes over again when the body is through. Bodies
 * under SPLICE_BODY_MIN, chunked ones, and any body when no descriptor is
 * free go through body_pump() instead.
 */

#define SPLICE_BODY_MIN (256 * 1024)

struct bsplice {
	struct conn *c;
	uv_poll_t poll[2];   /* 0: upstream (read), 1: client (write) */
	int fd[2];
	int pipe[2];
	size_t cap, in_pipe;
	uint64_t to_read;
	int open_polls;
	bool closing, failed;
	bool full;           /* the pipe took no more: read after a flush */
	bool up_eof;         /* the server ended early: pass on what the pipe holds, then fail */
};

static void on_bsplice_closed(uv_handle_t *h)
{
	struct bsplice *bs = h->data;
	if (--bs->open_polls > 0)
		return;
	struct conn *c = bs->c;
	close(bs->fd[0]);
	close(bs->fd[1]);
	close(bs->pipe[0]);
	close(bs->pipe[1]);
	bool ok = !bs->failed && bs->to_read == 0 && bs->in_pipe == 0;
	c->resp_body.remaining = bs->to_read + bs->in_pipe;
	free(bs);
	c->bs = NULL;
	c->handles_open -= 2;
	if (c->state == ST_CLOSING) {
		conn_maybe_free(c);
		return;
	}
	if (!ok) {
		conn_close(c);
		return;
	}
	c->resp_body.remaining = 0;
	c->resp_body.phase = BODY_DONE;
	conn_process(c);
}

static void bsplice_close(struct bsplice *bs)
{
	if (bs->closing)
		return;
	bs->closing = true;
	for (int i = 0; i < 2; i++)
		uv_close((uv_handle_t *)&bs->poll[i], on_bsplice_closed);
}

static void on_bsplice_poll(uv_poll_t *p, int status, int events)
{
	struct bsplice *bs = p->data;
	struct conn *c = bs->c;
	(void)events;
	if (bs->closing)
		return;
	if (status < 0) {
		evrec_ended(&c->ev, side_name(p == &bs->poll[1]), peer_error(p == &bs->poll[1], status));
		goto fail;
	}
	/* Read while the body has bytes left and the pipe has room. */
	while (bs->to_read > 0 && !bs->up_eof && bs->in_pipe < bs->cap) {
		size_t want = bs->cap - bs->in_pipe;
		if (want > bs->to_read)
			want = (size_t)bs->to_read;
		ssize_t n = splice(bs->fd[0], NULL, bs->pipe[1], NULL, want, SPLICE_F_NONBLOCK | SPLICE_F_MOVE);
		if (n > 0) {
			bs->in_pipe += (size_t)n;
			bs->to_read -= (uint64_t)n;
			c->last_active = uv_now(c->srv->loop);
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN) {
			bs->full = bs->in_pipe > 0; /* maybe out of pipe slots: see stunnel_fill */
			break;
		}
		/* The server ended (or reset) before its body did: what it
		 * sent is still passed on, the client then sees the body cut
		 * short, as it would without srt. */
		evrec_ended(&c->ev, "server", n == 0 ? "the server closed before the end of the body" :
						  peer_error(false, -errno));
		bs->up_eof = true;
	}
	while (bs->in_pipe > 0) {
		ssize_t n = splice(bs->pipe[0], NULL, bs->fd[1], NULL, bs->in_pipe, SPLICE_F_NONBLOCK | SPLICE_F_MOVE);
		if (n > 0) {
			bs->in_pipe -= (size_t)n;
			c->ev.down += (uint64_t)n;
			c->last_active = uv_now(c->srv->loop);
			bs->full = false;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			break;
		int e = n < 0 ? -errno : UV_EPIPE;
		sigpipe_consume(e);
		evrec_ended(&c->ev, "client", peer_error(true, e));
		goto fail;
	}
	if ((bs->to_read == 0 || bs->up_eof) && bs->in_pipe == 0) {
		bs->failed = bs->up_eof;
		bsplice_close(bs);
		return;
	}
	if (bs->to_read > 0 && !bs->up_eof && bs->in_pipe < bs->cap && !bs->full)
		uv_poll_start(&bs->poll[0], UV_READABLE, on_bsplice_poll);
	else
		uv_poll_stop(&bs->poll[0]);
	if (bs->in_pipe > 0)
		uv_poll_start(&bs->poll[1], UV_WRITABLE, on_bsplice_poll);
	else
		uv_poll_stop(&bs->poll[1]);
	return;
fail:
	bs->failed = true;
	bsplice_close(bs);
}

/* Start splicing the rest of a Content-Length response body, when it is
 * long and nothing of it is buffered or being written. */
static bool splice_body(struct conn *c)
{
	struct side *u = c->up;
	if (!u || c->tls || !c->req_done || c->resp_body.framing != HTTP_RESP_LENGTH ||
	    c->resp_body.remaining < SPLICE_BODY_MIN || side_avail(u) || u->out_busy || u->eof ||
	    c->pending_writes || c->client.shut || c->client.closing || u->closing)
		return false;
	uv_os_fd_t ufd, cfd;
	if (uv_fileno((uv_handle_t *)&u->tcp, &ufd) < 0 || uv_fileno((uv_handle_t *)&c->client.tcp, &cfd) < 0)
		return false;
	struct bsplice *bs = calloc(1, sizeof(*bs));
	if (!bs)
		return false;
	bs->fd[0] = fcntl(ufd, F_DUPFD_CLOEXEC, 0);
	bs->fd[1] = bs->fd[0] >= 0 ? fcntl(cfd, F_DUPFD_CLOEXEC, 0) : -1;
	if (bs->fd[1] < 0 || pipe2(bs->pipe, O_NONBLOCK | O_CLOEXEC) < 0) {
		if (bs->fd[0] >= 0)
			close(bs->fd[0]);
		if (bs->fd[1] >= 0)
			close(bs->fd[1]);
		free(bs);
		return false;
	}
	int size = fcntl(bs->pipe[1], F_SETPIPE_SZ, SPLICE_PIPE_SIZE);
	bs->cap = size > 0 ? (size_t)size : 65536;
	bs->c = c;
	bs->to_read = c->resp_body.remaining;
	uv_read_stop((uv_stream_t *)&u->tcp);
	u->reading = false;
	side_compact(u);
	for (int i = 0; i < 2; i++) {
		uv_poll_init(c->srv->loop, &bs->poll[i], bs->fd[i]);
		bs->poll[i].data = bs;
	}
	bs->open_polls = 2;
	c->handles_open += 2;
	c->bs = bs;
	uv_poll_start(&bs->poll[0], UV_READABLE, on_bsplice_poll);
	return true;
}

/* --- credentials ------------------------------------------------------------ */

/*
 * Masked credentials (proxy_options.creds): the sandbox holds stand-ins;
 * a request's head and body are scanned for them on their way upstream.
 * A stand-in is replaced by its real value only when the request goes to
 * one of the credential's injectHosts over a transport it may be injected
 * over; anywhere else it goes on unchanged and is reported
 * (proxy_hooks.on_credential). The body is scanned as it streams (bounded
 * memory, see credsub.h); when replacing may change its length it goes
 * upstream chunked (HTTP/1.1), so nothing is buffered whole.
 */

/* Did this request come over TLS that srt terminated? Then its upstream
 * is TLS too, verified (tls_upstream_start). */
static inline bool conn_over_tls(const struct conn *c)
{
	return c->tls != NULL;
}

static bool cred_transport_ok(const struct conn *c)
{
	return conn_over_tls(c) || creds_plaintext_ok(c->srv->o.creds);
}

static void aws_end(struct conn *c);

static void cred_body_end(struct conn *c)
{
	aws_end(c);
	if (c->cs) {
		credsub_free(c->cs);
		free(c->cs);
		c->cs = NULL;
	}
	c->cs_chunk_out = false;
}

static const struct config *cred_settings_now(const struct conn *c)
{
	const struct proxy_hooks *h = c->srv->o.hooks;
	return h && h->cred_settings ? h->cred_settings(h->data) : NULL;
}

/* Which patterns may be replaced in this request (malloc'd, n entries). */
static bool *cred_inject_flags(struct conn *c, bool in_head, size_t n)
{
	bool *v = calloc(n ? n : 1, sizeof(*v));
	if (!v)
		return NULL;
	/* an AWS request's body goes verbatim (its hash is signed) */
	bool transport = cred_transport_ok(c) && !c->cs_echo && (in_head || !c->aws);
	const struct config *now = cred_settings_now(c);
	for (size_t i = 0; transport && i < n; i++)
		v[i] = creds_may_inject_now(c->srv->o.creds, i, now, &c->host, c->port, c->np, in_head);
	return v;
}

static void cred_report(struct conn *c, size_t i, const char *where)
{
	const struct creds *cr = c->srv->o.creds;
	size_t n;
	const struct credsub_pat *pats = creds_patterns(cr, &n);
	const char *name = creds_name(cr, pats[i].cred);
	const char *why = !cred_transport_ok(c) ? "not over TLS terminated by srt, and credentials.allowPlaintextInject is off" :
			  c->cs_echo ? "a TRACE request, which its server echoes back to the command" :
			  !creds_may_inject_now(cr, i, cred_settings_now(c), &c->host, c->port, c->np, false) ?
			  "the host is not one of its injectHosts" :
			  "its real value holds a line break, which cannot go in a request head";
	debug_log(c, "%s: credential %s: its stand-in in the request %s was not replaced (%s)", c->target, name, where,
		  why);
	const struct proxy_hooks *h = c->srv->o.hooks;
	if (h && h->on_credential)
		h->on_credential(h->data, name, c->host.text, c->port, where, why);
}

/* --- AWS SigV4 re-signing (credentials: awsPairs) ---------------------------
 *
 * A request signed with a masked AWS key pair cannot be repaired by
 * swapping stand-ins: its signature is an HMAC keyed by the secret. Where
 * the pair's access key id may be injected (its injectHosts, over a
 * transport it may be injected over), the head as the sandbox sent it and
 * the head after stand-in substitution go to sigv4_resign() (proxy/sigv4.h):
 * re-signed with the real key, refused (403, a credential violation), or
 * passed by policy. Such a request's body is forwarded verbatim (stand-ins
 * in it are reported, not replaced), so the hash the sandbox declared
 * stays true; when the signature covers a body hash that was not declared,
 * the body is gathered first (at most AWS_BODY_MAX bytes). aws-chunked
 * bodies go through the chunk re-signer as they stream. Elsewhere the
 * access key id's stand-in is only reported, like every other stand-in.
 */

#define AWS_BODY_MAX (8u * 1024 * 1024)

struct aws_req {
	struct sigv4_pair *pairs;  /* the pairs that may be used here (borrowed strings) */
	size_t *cred;              /* per pair: its credential (creds_name) */
	size_t npairs;
	struct sigv4_opts opts;
	char *orig;                /* the head as the sandbox sent it (gathering) */
	size_t orig_len;
	char *fwd;                 /* the head to forward, substituted (gathering; wiped) */
	size_t fwd_len;
	char host[PROXY_HOST_NAME_MAX + 16];
	size_t pair;               /* the pair the request is signed with (index into pairs) */
	bool gather;               /* NEED_BODY: the body is being gathered into body */
	struct credsub_out body;
	struct sigv4_stream *stream;
	bool stream_done;
};

enum aws_step { AWS_GO, AWS_HOLD, AWS_REFUSED, AWS_FAIL };

static void aws_end(struct conn *c)
{
	struct aws_req *a = c->aws;
	if (!a)
		return;
	free(a->pairs);
	free(a->cred);
	free(a->orig);
	if (a->fwd) {
		explicit_bzero(a->fwd, a->fwd_len);
		free(a->fwd);
	}
	credsub_out_free(&a->body);
	sigv4_stream_free(a->stream);
	free(a);
	c->aws = NULL;
}

/* Refuse the request: 403 (413 for a body too large to gather), the
 * reason in the answer and in a credential violation naming the key. */
static void aws_refuse(struct conn *c, size_t pair, int status, const char *reason)
{
	const struct creds *cr = c->srv->o.creds;
	size_t np;
	const struct credsub_pat *pats = creds_patterns(cr, &np);
	const char *name = c->aws && pair < c->aws->npairs && c->aws->cred[pair] < np ?
				   creds_name(cr, pats[c->aws->cred[pair]].cred) :
				   "awsPairs";
	debug_log(c, "%s: credential %s: AWS SigV4 request refused: %s", c->target, name, reason);
	const struct proxy_hooks *h = c->srv->o.hooks;
	if (h && h->on_credential)
		h->on_credential(h->data, name, c->host.text, c->port, "sigv4", reason);
	char why[300];
	snprintf(why, sizeof(why), "AWS SigV4 request signed with the masked credential %s refused: %s", name, reason);
	ev_refuse(c, "credentials (AWS SigV4)", false);
	if (c->up)
		detach_upstream(c);
	c->client_keep = false;
	refuse(c, status, 0, NULL, why);
}

/* Before the body is set up: does the head carry the stand-in access key
 * id of a pair that may be used for this request? Then c->aws is set. */
static bool aws_begin(struct conn *c, const char *head, size_t head_len)
{
	aws_end(c);
	size_t n;
	const struct creds_aws *ps = creds_aws_pairs(c->srv->o.creds, &n);
	if (n == 0 || !cred_transport_ok(c))
		return true;
	const struct config *now = cred_settings_now(c);
	struct aws_req *a = NULL;
	for (size_t i = 0; i < n; i++) {
		const char *akid = ps[i].pair.masked_akid;
		if (!memmem(head, head_len, akid, strlen(akid)) ||
		    !creds_may_inject_now(c->srv->o.creds, ps[i].akid_pat, now, &c->host, c->port, c->np, true))
			continue;
		if (!a) {
			a = calloc(1, sizeof(*a));
			if (!a || !(a->pairs = calloc(n, sizeof(*a->pairs))) || !(a->cred = calloc(n, sizeof(*a->cred)))) {
				if (a) {
					free(a->pairs);
					free(a);
				}
				return false;
			}
		}
		a->pairs[a->npairs] = ps[i].pair;
		a->cred[a->npairs++] = ps[i].akid_pat;
	}
	if (a) {
		creds_sigv4_opts(now ? now : creds_config(c->srv->o.creds), &a->opts);
		c->aws = a;
	}
	return true;
}

/* Act on sigv4_resign's answer for the head in *out (already substituted). */
static enum aws_step aws_apply(struct conn *c, enum sigv4_result r, struct sigv4_out *so, char **out, size_t *len,
			       size_t *wipe)
{
	if (so->kind != SIGV4_KIND_NONE && so->pair < c->aws->npairs)
		c->aws->pair = so->pair;
	switch (r) {
	case SIGV4_NOT_AWS:
	case SIGV4_PASS:
		if (r == SIGV4_PASS)
			debug_log(c, "%s: AWS SigV4 request with a masked key passed through unsigned (credentials.sigv4)",
				  c->target);
		sigv4_out_free(so);
		return AWS_GO;
	case SIGV4_RESIGNED:
		debug_log(c, "%s: AWS SigV4 request re-signed", c->target);
		if (*out) {
			explicit_bzero(*out, *wipe > *len ? *wipe : *len);
			free(*out);
		}
		*out = so->head;
		*len = *wipe = so->head_len;
		so->head = NULL;
		c->aws->stream = so->stream;
		so->stream = NULL;
		sigv4_out_free(so);
		return AWS_GO;
	case SIGV4_NEED_BODY:
		sigv4_out_free(so);
		return AWS_HOLD;
	case SIGV4_REFUSED:
	default: {
		size_t pair = so->pair;
		const char *reason = so->reason ? so->reason : "cannot be re-signed";
		aws_refuse(c, pair, 403, reason);
		sigv4_out_free(so);
		return AWS_REFUSED;
	}
	}
}

/* After the stand-in substitution of the head (*out): re-sign. AWS_HOLD:
 * the body must be gathered first (the head is kept in c->aws). */
static enum aws_step aws_head_hook(struct conn *c, const char *orig, size_t orig_len, const char *host, char **out,
				   size_t *len, size_t *wipe)
{
	struct aws_req *a = c->aws;
	if (!a)
		return AWS_GO;
	snprintf(a->host, sizeof(a->host), "%s", host);
	struct sigv4_out so;
	enum sigv4_result r = sigv4_resign(orig, orig_len, *out, *len, a->host, a->pairs, a->npairs, &a->opts, NULL, &so);
	enum aws_step st = aws_apply(c, r, &so, out, len, wipe);
	if (st == AWS_HOLD) {
		if (!(a->orig = malloc(orig_len)))
			return AWS_FAIL;
		memcpy(a->orig, orig, orig_len);
		a->orig_len = orig_len;
		a->fwd = *out;
		a->fwd_len = *len;
		*out = NULL;
		a->gather = true;
	}
	return st;
}

/* The gathered body is complete: sign, then send head and body. 1: sent,
 * 0: refused (answered), -1: out of memory or a failed write. */
static int aws_gathered(struct conn *c, struct side *to)
{
	struct aws_req *a = c->aws;
	uint8_t h[32];
	SHA256(a->body.p ? a->body.p : (const uint8_t *)"", a->body.len, h);
	struct sigv4_body body = { .client_sha256 = h, .sent_sha256 = h, .verbatim = true };
	struct sigv4_out so;
	enum sigv4_result r = sigv4_resign(a->orig, a->orig_len, a->fwd, a->fwd_len, a->host, a->pairs, a->npairs,
					   &a->opts, &body, &so);
	if (r == SIGV4_NEED_BODY) {
		sigv4_out_free(&so);
		so.pair = a->pair;
		so.reason = "the body's hash was not enough to re-sign it";
		r = SIGV4_REFUSED;
	}
	char *head = a->fwd;
	size_t len = a->fwd_len, wipe = a->fwd_len;
	a->fwd = NULL;
	a->gather = false;
	enum aws_step st = aws_apply(c, r, &so, &head, &len, &wipe);
	if (st != AWS_GO) {
		if (head) {
			explicit_bzero(head, wipe > len ? wipe : len);
			free(head);
		}
		return st == AWS_REFUSED ? 0 : -1;
	}
	char line[24] = "";
	if (c->cs_chunk_out)
		snprintf(line, sizeof(line), "%zx\r\n", a->body.len);
	size_t total = len + strlen(line) + a->body.len + (c->cs_chunk_out ? 7 : 0);
	char *msg = malloc(total ? total : 1);
	if (!msg) {
		explicit_bzero(head, len);
		free(head);
		return -1;
	}
	size_t o = 0;
	memcpy(msg + o, head, len), o += len;
	explicit_bzero(head, wipe > len ? wipe : len);
	free(head);
	if (c->cs_chunk_out && a->body.len)
		memcpy(msg + o, line, strlen(line)), o += strlen(line);
	if (a->body.len)
		memcpy(msg + o, a->body.p, a->body.len), o += a->body.len;
	if (c->cs_chunk_out) {
		if (a->body.len)
			memcpy(msg + o, "\r\n", 2), o += 2;
		memcpy(msg + o, "0\r\n\r\n", 5), o += 5;
	}
	struct wreq *w = wreq_new(c);
	if (!w) {
		explicit_bzero(msg, o);
		free(msg);
		return -1;
	}
	w->owned = msg;
	w->owned_wipe = o;
	w->payload = true;
	wreq_add(w, msg, o);
	return wreq_send(w, to) ? 1 : -1;
}

/* cred_body_pump's output for an AWS request: gathered (NEED_BODY), or
 * through the aws-chunked re-signer. *data is replaced by what to send.
 * Returns false to abort (the request was refused or out of memory;
 * *refused says which). */
static bool aws_body(struct conn *c, struct side *to, struct credsub_out *data, bool last, bool *sent, bool *refused)
{
	struct aws_req *a = c->aws;
	*sent = false;
	*refused = false;
	if (a->gather) {
		if (a->body.len + data->len > AWS_BODY_MAX) {
			aws_refuse(c, a->pair, 413, "the request body is larger than the 8 MiB srt holds to compute its hash; "
					      "declare x-amz-content-sha256 (or UNSIGNED-PAYLOAD) to stream it");
			*refused = true;
			return false;
		}
		if (credsub_out_append(&a->body, data->p, data->len) < 0)
			return false;
		data->len = 0;
		*sent = true;
		if (!last)
			return true;
		int g = aws_gathered(c, to);
		*refused = g == 0;
		return g > 0;
	}
	if (a->stream && (data->len || last)) {
		struct sigv4_buf sb = { 0 };
		const char *reason = "malformed aws-chunked body";
		enum sigv4_stream_status st;
		if (data->len == 0)
			st = a->stream_done ? SIGV4_STREAM_DONE : SIGV4_STREAM_MORE;
		else if (a->stream_done)
			st = SIGV4_STREAM_ERROR, reason = "bytes after the final aws-chunked chunk";
		else
			st = sigv4_stream_feed(a->stream, (const char *)data->p, data->len, &sb, &reason);
		if (st == SIGV4_STREAM_DONE)
			a->stream_done = true;
		if (st == SIGV4_STREAM_ERROR || (last && !a->stream_done)) {
			free(sb.data);
			if (!c->resp_head_sent) {
				aws_refuse(c, a->pair, 403, last && st != SIGV4_STREAM_ERROR ? "the aws-chunked body ended early" : reason);
				*refused = true;
			}
			return false;
		}
		if (data->len) {
			credsub_out_free(data);
			data->p = (uint8_t *)sb.data;
			data->len = sb.len;
			data->cap = sb.cap;
		}
	}
	return true;
}

/* Set up the body's scanner for request r; c->cs_chunk_out says whether
 * the body must go upstream chunked. Returns false when out of memory. */
static bool cred_body_begin(struct conn *c, const struct http_request *r)
{
	cred_body_end(c);
	/* TRACE answers with the request as the server got it (RFC 9110
	 * 9.3.8: no secrets in one): a real value put in would be shown to
	 * the command. Any spelling: some servers ignore the case. */
	c->cs_echo = strcasecmp(r->method, "TRACE") == 0;
	if (!aws_begin(c, c->client.buf + c->client.off, r->head_len))
		return false;
	size_t n;
	const struct credsub_pat *pats = creds_patterns(c->srv->o.creds, &n);
	if (n == 0 || r->framing == HTTP_BODY_NONE || (r->framing == HTTP_BODY_LENGTH && r->content_length == 0))
		return true;
	bool *inject = cred_inject_flags(c, false, n);
	struct credsub *cs = calloc(1, sizeof(*cs));
	if (!inject || !cs || credsub_init(cs, pats, n, inject) < 0) {
		free(inject);
		free(cs);
		return false;
	}
	for (size_t i = 0; i < n; i++)
		if (inject[i] && pats[i].standin_len != pats[i].real_len)
			c->cs_chunk_out = true;
	if (r->framing == HTTP_BODY_CHUNKED)
		c->cs_chunk_out = true;
	free(inject);
	c->cs = cs;
	return true;
}

/*
 * The request head, rebuilt (start line and fields, framing included),
 * before it goes upstream: stand-ins replaced where allowed, the others
 * reported. *wipe: bytes of *out to wipe once sent. AWS SigV4 re-signing
 * hooks in here as well (nothing is re-signed yet). Returns false when out
 * of memory.
 */
static bool cred_head_hook(struct conn *c, char **out, size_t *len, size_t *wipe)
{
	*wipe = 0;
	size_t n;
	const struct credsub_pat *pats = creds_patterns(c->srv->o.creds, &n);
	if (n == 0)
		return true;
	bool *inject = cred_inject_flags(c, true, n);
	bool *seen = calloc(n, sizeof(*seen));
	struct credsub_out o = { 0 };
	if (!inject || !seen || credsub_oneshot(pats, n, inject, (const uint8_t *)*out, *len, &o, seen) < 0) {
		free(inject);
		free(seen);
		credsub_out_free(&o);
		return false;
	}
	for (size_t i = 0; i < n; i++)
		if (seen[i] && !inject[i])
			cred_report(c, i, "head");
	free(inject);
	free(seen);
	free(*out);
	*out = (char *)o.p;
	*len = o.len;
	*wipe = o.cap;
	return true;
}

/* body_pump for a request body with a scanner: decode its framing, scan
 * the data, send what is decided (chunked when c->cs_chunk_out). */
static bool cred_body_pump(struct conn *c, struct side *from, struct side *to, struct body *b, bool *done)
{
	*done = b->phase == BODY_DONE;
	if (*done || from->out_busy)
		return true;
	size_t avail = side_avail(from);
	if (avail == 0)
		return true;
	const char *p = from->buf + from->off;
	size_t used = 0;
	struct credsub_out data = { 0 };
	int fr = 0;
	if (b->framing == HTTP_RESP_LENGTH) {
		size_t n = avail < b->remaining ? avail : (size_t)b->remaining;
		fr = credsub_feed(c->cs, (const uint8_t *)p, n, &data);
		used = n;
		b->remaining -= n;
		if (b->remaining == 0)
			b->phase = BODY_DONE;
	} else {
		while (fr == 0 && used < avail && b->phase != BODY_DONE) {
			if (b->phase == BODY_SIZE) {
				uint64_t size = 0;
				int n = http_chunk_size_parse(p + used, avail - used, UINT64_MAX, &size);
				if (n < 0) {
					credsub_out_free(&data);
					return false;
				}
				if (n == 0)
					break;
				used += (size_t)n;
				b->remaining = size;
				b->phase = size == 0 ? BODY_TRAILER : BODY_DATA;
			} else if (b->phase == BODY_DATA) {
				size_t n = avail - used;
				if (n > b->remaining)
					n = (size_t)b->remaining;
				fr = credsub_feed(c->cs, (const uint8_t *)p + used, n, &data);
				used += n;
				b->remaining -= n;
				if (b->remaining == 0)
					b->phase = BODY_DATA_CRLF;
			} else if (b->phase == BODY_DATA_CRLF) {
				if (avail - used < 2)
					break;
				if (p[used] != '\r' || p[used + 1] != '\n') {
					credsub_out_free(&data);
					return false;
				}
				used += 2;
				b->phase = BODY_SIZE;
			} else {
				size_t tl = avail - used < TRAILER_MAX ? avail - used : TRAILER_MAX;
				int n = http_trailer_parse(p + used, tl);
				if (n < 0 || (n == 0 && tl == TRAILER_MAX)) {
					credsub_out_free(&data);
					return false;
				}
				if (n == 0)
					break;
				used += (size_t)n;
				b->phase = BODY_DONE;
			}
		}
	}
	if (fr == 0 && b->phase == BODY_DONE)
		fr = credsub_finish(c->cs, &data);
	if (fr < 0) {
		credsub_out_free(&data);
		return false;
	}
	for (size_t i = 0; i < c->cs->n; i++)
		if (c->cs->seen[i] && !c->cs->inject[i] && !c->cs->reported[i]) {
			cred_report(c, i, "body");
			c->cs->reported[i] = true;
		}
	if (b->phase == BODY_DONE)
		*done = true;
	if (c->aws) {
		/* AWS SigV4: gathered, or through the chunk re-signer */
		bool sent, refused;
		if (!aws_body(c, to, &data, b->phase == BODY_DONE, &sent, &refused)) {
			credsub_out_free(&data);
			return refused;
		}
		if (sent) {
			credsub_out_free(&data);
			from->off += used;
			side_compact(from);
			return true;
		}
	}
	struct wreq *w = wreq_new(c);
	if (!w) {
		credsub_out_free(&data);
		return false;
	}
	w->from = from;
	w->payload = true;
	w->consume = used;
	w->owned = (char *)data.p;
	w->owned_wipe = data.cap;
	if (c->cs_chunk_out) {
		/* chunk-size line, data, CRLF (and the last chunk) */
		char line[24];
		int ln = snprintf(line, sizeof(line), "%zx\r\n", data.len);
		if (data.len)
			wreq_add_copy(w, line, (size_t)ln), wreq_add(w, w->owned, data.len), wreq_add_copy(w, "\r\n", 2);
		if (b->phase == BODY_DONE)
			wreq_add_copy(w, "0\r\n\r\n", 5);
	} else {
		wreq_add(w, w->owned, data.len);
	}
	return wreq_send(w, to);
}

/* --- HTTP forwarding -------------------------------------------------------- */

/* Move body bytes from `from` to `to` per b; returns false on a framing
 * error or a failed write. Sets *done when the body is complete. */
static bool body_pump(struct conn *c, struct side *from, struct side *to, struct body *b, bool *done)
{
	if (c->cs && b == &c->req_body)
		return cred_body_pump(c, from, to, b, done);
	*done = b->framing == HTTP_RESP_NONE || b->phase == BODY_DONE;
	if (*done || from->out_busy)
		return true;
	if (b->framing == HTTP_RESP_LENGTH && b->remaining == 0) {
		b->phase = BODY_DONE;
		*done = true;
		return true;
	}
	size_t avail = side_avail(from);
	if (avail == 0)
		return true;
	struct wreq *w = wreq_new(c);
	if (!w)
		return false;
	w->from = from;
	w->payload = true;
	const char *p = from->buf + from->off;
	size_t used = 0;
	if (b->framing == HTTP_RESP_LENGTH || b->framing == HTTP_RESP_CLOSE) {
		size_t n = avail;
		if (b->framing == HTTP_RESP_LENGTH && n > b->remaining)
			n = (size_t)b->remaining;
		wreq_add(w, p, n);
		used = n;
		if (b->framing == HTTP_RESP_LENGTH) {
			b->remaining -= n;
			if (b->remaining == 0)
				b->phase = BODY_DONE;
		}
	} else {
		/* Chunked: re-encode each chunk with a plain size line. Leave
		 * room for the last chunk's own two buffers. */
		while (used < avail && b->phase != BODY_DONE && w->nbufs + 4 <= MAX_WRITE_BUFS) {
			if (b->phase == BODY_SIZE) {
				uint64_t size = 0;
				int n = http_chunk_size_parse(p + used, avail - used, UINT64_MAX, &size);
				if (n < 0) {
					free(w);
					return false;
				}
				if (n == 0)
					break;
				used += (size_t)n;
				if (size == 0) {
					b->phase = BODY_TRAILER;
				} else {
					char line[24];
					int ln = snprintf(line, sizeof(line), "%" PRIx64 "\r\n", size);
					wreq_add_copy(w, line, (size_t)ln);
					b->remaining = size;
					b->phase = BODY_DATA;
				}
			} else if (b->phase == BODY_DATA) {
				size_t n = avail - used;
				if (n > b->remaining)
					n = (size_t)b->remaining;
				wreq_add(w, p + used, n);
				used += n;
				b->remaining -= n;
				if (b->remaining == 0)
					b->phase = BODY_DATA_CRLF;
			} else if (b->phase == BODY_DATA_CRLF) {
				if (avail - used < 2)
					break;
				if (p[used] != '\r' || p[used + 1] != '\n') {
					free(w);
					return false;
				}
				used += 2;
				wreq_add_copy(w, "\r\n", 2);
				b->phase = BODY_SIZE;
			} else if (b->phase == BODY_TRAILER) {
				/* Trailers are dropped: we did not announce them. The
				 * parser rescans from the start on every call, so the
				 * section is held to TRAILER_MAX: a peer sending it a
				 * byte at a time then costs milliseconds, not seconds. */
				size_t tl = avail - used < TRAILER_MAX ? avail - used : TRAILER_MAX;
				int n = http_trailer_parse(p + used, tl);
				if (n < 0 || (n == 0 && tl == TRAILER_MAX)) {
					free(w);
					return false;
				}
				if (n == 0)
					break;
				used += (size_t)n;
				wreq_add_copy(w, "0\r\n\r\n", 5);
				b->phase = BODY_DONE;
			}
		}
	}
	w->consume = used;
	if (b->phase == BODY_DONE)
		*done = true;
	return wreq_send(w, to);
}

static bool append(char **out, size_t *len, size_t *cap, const char *p, size_t n)
{
	if (*len + n > *cap) {
		size_t nc = (*cap ? *cap * 2 : 1024);
		while (nc < *len + n)
			nc *= 2;
		char *q = realloc(*out, nc);
		if (!q)
			return false;
		*out = q;
		*cap = nc;
	}
	memcpy(*out + *len, p, n);
	*len += n;
	return true;
}

#define APPEND_STR(s) append(&out, &len, &cap, (s), strlen(s))
#define APPEND_SPAN(sp) append(&out, &len, &cap, base + (sp).off, (sp).len)

/* Send the request head upstream, rebuilt. */
static bool send_request_head(struct conn *c)
{
	struct http_request *r = c->req;
	const char *base = c->client.buf + c->client.off;
	bool drop[HTTP_FIELDS_MAX];
	memset(drop, 0, sizeof(drop));
	http_fields_to_drop(r, base, true, drop);
	char *out = NULL;
	size_t len = 0, cap = 0;
	char host[PROXY_HOST_NAME_MAX + 16];
	if (c->port == (c->tls ? 443 : 80))
		snprintf(host, sizeof(host), c->host.kind == PROXY_HOST_IPV6 ? "[%s]" : "%s", c->host.text);
	else
		snprintf(host, sizeof(host), "%s", c->target);
	/* To an HTTP parent: absolute form, and its credentials. */
	char auth[PARENT_AUTH_FIELD_MAX] = "";
	if (c->parent_abs)
		parent_auth_field(c->parent, auth, sizeof(auth));
	bool ok = APPEND_STR(r->method) && APPEND_STR(" ") &&
		  (!c->parent_abs || (APPEND_STR("http://") && APPEND_STR(host))) &&
		  ((r->path.len > 0 && base[r->path.off] == '/') || APPEND_STR("/")) && APPEND_SPAN(r->path) &&
		  APPEND_STR(" HTTP/1.1\r\nHost: ") && APPEND_STR(host) && APPEND_STR("\r\n") && APPEND_STR(auth);
	explicit_bzero(auth, sizeof(auth));
	for (size_t i = 0; ok && i < r->nfields; i++) {
		if (drop[i])
			continue;
		ok = APPEND_SPAN(r->fields[i].name) && APPEND_STR(": ") && APPEND_SPAN(r->fields[i].value) &&
		     APPEND_STR("\r\n");
	}
	char framing[64] = "";
	ok = ok && cred_body_begin(c, r);
	if (r->framing == HTTP_BODY_LENGTH && !c->cs_chunk_out)
		snprintf(framing, sizeof(framing), "Content-Length: %" PRIu64 "\r\n", r->content_length);
	else if (r->framing == HTTP_BODY_CHUNKED || c->cs_chunk_out)
		snprintf(framing, sizeof(framing), "Transfer-Encoding: chunked\r\n");
	ok = ok && APPEND_STR(framing) && APPEND_STR("\r\n");
	size_t wipe = 0;
	ok = ok && cred_head_hook(c, &out, &len, &wipe);
	/* AWS SigV4 re-signing (credentials section): refused (answered), or
	 * held until the body is gathered */
	enum aws_step aws = ok ? aws_head_hook(c, base, r->head_len, host, &out, &len, &wipe) : AWS_GO;
	if (aws == AWS_REFUSED || aws == AWS_FAIL) {
		if (out)
			explicit_bzero(out, wipe > len ? wipe : len);
		free(out);
		return aws == AWS_REFUSED;
	}
	if (!ok) {
		free(out);
		return false;
	}
	c->client.off += r->head_len;
	c->req_body.framing = r->framing == HTTP_BODY_LENGTH ? HTTP_RESP_LENGTH :
			      r->framing == HTTP_BODY_CHUNKED ? HTTP_RESP_CHUNKED : HTTP_RESP_NONE;
	c->req_body.remaining = r->content_length;
	c->req_body.phase = r->framing == HTTP_BODY_CHUNKED ? BODY_SIZE : BODY_DATA;
	c->req_done = false;
	c->resp_done = false;
	c->resp_head_sent = false;
	c->head_request = strcmp(r->method, "HEAD") == 0;
	c->client_keep = r->keep_alive;
	free(c->req);
	c->req = NULL;
	arm_idle_timer(c, c->srv->o.limits.response_timeout_ms);
	if (aws == AWS_HOLD)
		return true; /* the head goes with the gathered body (aws_gathered) */
	struct wreq *w = wreq_new(c);
	if (!w) {
		free(out);
		return false;
	}
	w->owned = out;
	w->owned_wipe = wipe;
	w->payload = true;
	wreq_add(w, out, len);
	return wreq_send(w, c->up);
}

/* Send the response head to the client, rebuilt. Returns false on error. */
static bool send_response_head(struct conn *c, bool interim)
{
	struct http_response *r = c->resp;
	struct side *u = c->up;
	const char *base = u->buf + u->off;
	bool drop[HTTP_FIELDS_MAX];
	memset(drop, 0, sizeof(drop));
	http_response_fields_to_drop(r, base, drop);
	const char *eol = memchr(base, '\n', r->head_len);
	if (!eol)
		return false;
	size_t status_len = (size_t)(eol - base) + 1;
	char *out = NULL;
	size_t len = 0, cap = 0;
	bool ok = append(&out, &len, &cap, base, status_len);
	for (size_t i = 0; ok && i < r->nfields; i++) {
		if (drop[i])
			continue;
		ok = APPEND_SPAN(r->fields[i].name) && APPEND_STR(": ") && APPEND_SPAN(r->fields[i].value) &&
		     APPEND_STR("\r\n");
	}
	if (!interim) {
		if (r->framing == HTTP_RESP_CLOSE)
			c->client_keep = false;
		ok = ok && APPEND_STR(c->client_keep ? "Connection: keep-alive\r\n" : "Connection: close\r\n");
	}
	ok = ok && APPEND_STR("\r\n");
	if (!ok) {
		free(out);
		return false;
	}
	u->off += r->head_len;
	return send_owned_as(c, &c->client, out, len, true);
}

static void http_exchange_done(struct conn *c)
{
	struct side *u = c->up;
	/* Passed on whole: whoever closed afterwards ended nothing. */
	c->ev.closed_by = NULL;
	ev_end(c);
	bool up_keep = c->resp && c->resp->keep_alive;
	free(c->resp);
	c->resp = NULL;
	if (u && (!up_keep || side_avail(u) > 0 || u->eof))
		detach_upstream(c); /* extra bytes after a response: do not trust it */
	else
		c->up_keep = up_keep;
	if (!c->client_keep) {
		close_when_flushed(c);
		return;
	}
	c->state = ST_HTTP_HEAD;
	arm_timer(c, c->srv->o.limits.idle_timeout_ms);
	side_compact(&c->client);
}

static void http_forward_process(struct conn *c)
{
	struct side *u = c->up;
	if (!u) {
		conn_close(c);
		return;
	}
	bool done;
	if (!c->req_done) {
		if (!body_pump(c, &c->client, u, &c->req_body, &done)) {
			/* A bad chunk in the request body: answer it when no
			 * response has started yet. */
			if (!c->resp_head_sent && c->state != ST_CLOSING) {
				detach_upstream(c);
				c->client_keep = false;
				refuse(c, 400, 0, NULL, "malformed request body (bad chunk)");
			} else {
				conn_close(c);
			}
			return;
		}
		if (c->state == ST_CLOSING)
			return;
		c->req_done = done;
		if (!done && c->client.eof) {
			conn_close(c);
			return;
		}
	}
	/* The response: its head, then its body. */
	while (!c->resp_head_sent && side_avail(u) > 0 && !u->out_busy) {
		if (!c->resp) {
			c->resp = malloc(sizeof(*c->resp));
			if (!c->resp) {
				conn_close(c);
				return;
			}
			http_response_init(c->resp);
		}
		int n = http_response_parse(c->resp, u->buf + u->off, side_avail(u), c->head_request);
		if (n == 0)
			break;
		if (n < 0) {
			debug_log(c, "%s: malformed response from upstream", c->target);
			free(c->resp);
			c->resp = NULL;
			detach_upstream(c);
			c->client_keep = false;
			refuse(c, 502, 0, NULL, "the server sent a malformed response");
			return;
		}
		if (c->parent_abs && c->resp->status == 407 && c->parent->scheme != PARENT_UNIX) {
			/* The parent wants credentials we do not have: its
			 * failure, not the target's answer. */
			free(c->resp);
			c->resp = NULL;
			parent_fail(c, 502, 0, "requires authentication (HTTP 407)");
			return;
		}
		bool interim = c->resp->status >= 100 && c->resp->status < 200;
		if (!send_response_head(c, interim)) {
			conn_close(c);
			return;
		}
		if (interim) {
			free(c->resp);
			c->resp = NULL;
			continue;
		}
		c->resp_head_sent = true;
		c->resp_body.framing = c->resp->framing;
		c->resp_body.remaining = c->resp->content_length;
		c->resp_body.phase = c->resp->framing == HTTP_RESP_CHUNKED ? BODY_SIZE : BODY_DATA;
	}
	if (c->bs)
		return; /* the body moves with splice(); it calls us when done */
	if (c->resp_head_sent && !c->resp_done && splice_body(c))
		return;
	/* A long body ahead: stop reading the upstream, so that what is
	 * buffered drains and the rest can be spliced. */
	bool drain_for_splice = !c->tls && c->resp_head_sent && !c->resp_done && c->req_done &&
				c->resp_body.framing == HTTP_RESP_LENGTH &&
				c->resp_body.remaining >= SPLICE_BODY_MIN + side_avail(u);
	if (drain_for_splice && u->reading) {
		uv_read_stop((uv_stream_t *)&u->tcp);
		u->reading = false;
	}
	if (c->resp_head_sent && !c->resp_done) {
		if (!body_pump(c, u, &c->client, &c->resp_body, &done)) {
			conn_close(c);
			return;
		}
		if (c->state == ST_CLOSING)
			return;
		/* A body that ends with the connection ends with a clean end of
		 * stream only: a reset cut it. */
		if (!done && c->resp_body.framing == HTTP_RESP_CLOSE && u->eof && !u->reset && side_avail(u) == 0 &&
		    !u->out_busy)
			done = true;
		c->resp_done = done;
	}
	if (!c->resp_done && u->eof && side_avail(u) == 0 && !u->out_busy) {
		/* The server ended before its response did. */
		if (!c->resp_head_sent && c->parent_abs) {
			const char *tls = parent_tls_error(c->ptls);
			parent_fail(c, 502, 0, tls[0] ? tls : "closed the connection without a response");
		} else if (!c->resp_head_sent) {
			detach_upstream(c);
			c->client_keep = false;
			refuse(c, 502, 0, NULL, "the server closed the connection without a response");
		} else {
			conn_close(c);
		}
		return;
	}
	if (c->req_done && c->resp_done && !u->out_busy && !c->client.out_busy) {
		http_exchange_done(c);
		if (c->state == ST_HTTP_HEAD)
			conn_process(c);
		return;
	}
	if (!c->req_done && !c->client.out_busy && !c->client.eof)
		side_start_reading(&c->client);
	if (drain_for_splice && !u->out_busy && side_avail(u) == 0 && c->pending_writes == 0) {
		/* Drained (the last write went out at once): splice now, or
		 * read on as before when that cannot be set up. */
		if (splice_body(c))
			return;
		drain_for_splice = false;
	}
	if (!u->out_busy && !u->eof && !drain_for_splice)
		side_start_reading(u);
}

static void http_head_process(struct conn *c)
{
	if (side_avail(&c->client) == 0) {
		if (c->client.eof)
			close_when_flushed(c);
		else
			side_start_reading(&c->client);
		return;
	}
	if (!c->req) {
		c->req = malloc(sizeof(*c->req));
		if (!c->req) {
			conn_close(c);
			return;
		}
		http_request_init(c->req);
		c->req->origin_form = c->tls != NULL;
		if (c->n_heads++ > 0)
			c->req_start = uv_hrtime();
		arm_timer(c, c->srv->o.limits.head_timeout_ms);
	}
	int n = http_request_parse(c->req, c->client.buf + c->client.off, side_avail(&c->client));
	if (n == 0) {
		if (c->client.eof)
			close_when_flushed(c);
		else
			side_start_reading(&c->client);
		return;
	}
	if (n < 0) {
		int status = http_error_status(n);
		debug_log(c, "malformed request (%d)", status);
		free(c->req);
		c->req = NULL;
		c->target[0] = '\0';
		c->client_keep = false;
		refuse(c, status, 0, NULL, status == 431 ? "the request head is too large" :
					   status == 414 ? "the request target is too long" :
					   status == 505 ? "only HTTP/1.0 and HTTP/1.1 are spoken here" :
					   "malformed or ambiguous request");
		return;
	}
	stop_timer(c);
	c->client_keep = c->req->keep_alive;
	if (c->tls && !tls_host_check(c))
		return;
	c->host = c->req->host;
	c->port = c->req->port;
	snprintf(c->target, sizeof(c->target), c->host.kind == PROXY_HOST_IPV6 ? "[%s]:%u" : "%s:%u",
		 c->host.text, (unsigned)c->port);
	struct net_decision d;
	enum decide_result r = conn_decide(c, &d);
	/* Reuse the kept-alive upstream when it goes to the same place and
	 * was dialed under the same decision (not before a reload). */
	if (r == DECIDE_ALLOW && !c->req->connect && c->up && c->up_keep && strcmp(c->up_target, c->target) == 0 &&
	    !c->up->eof && side_avail(c->up) == 0 && c->up_np == c->np && c->up_by_extra == c->by_extra) {
		debug_log(c, "%s: allowed (%s), kept-alive connection", c->target, d.rule);
		ev_begin(c, rule_text(&d));
		snprintf(c->ev.address, sizeof(c->ev.address), "%s", c->up_address);
		if (c->up->tio && !tls_io_ready(c->up->tio)) {
			/* The server's handshake is still under way (or failed). */
			c->state = ST_TLS_UPSTREAM;
			arm_timer(c, c->srv->o.tls->handshake_timeout_ms);
			conn_process(c);
			return;
		}
		c->state = ST_HTTP_FORWARD;
		if (!send_request_head(c)) {
			conn_close(c);
			return;
		}
		conn_process(c);
		return;
	}
	detach_upstream(c);
	decided(c, r, &d);
}

/* --- SOCKS5 --------------------------------------------------------------- */

static void socks_process(struct conn *c)
{
	for (;;) {
		const uint8_t *p = (const uint8_t *)(c->client.buf ? c->client.buf + c->client.off : "");
		size_t avail = side_avail(&c->client);
		uint8_t code = 0;
		int n = 0;
		if (avail == 0)
			break;
		if (c->state == ST_SOCKS_GREETING) {
			uint8_t method = 0;
			n = socks5_parse_greeting(p, avail, &method, &code);
			if (n > 0) {
				uint8_t out[2];
				socks5_build_method(out, sizeof(out), method);
				c->client.off += (size_t)n;
				if (!send_copy(c, out, 2)) {
					conn_close(c);
					return;
				}
				if (method == SOCKS5_METHOD_NONE_ACCEPTABLE) {
					c->close_after_write = true;
					return;
				}
				c->state = method == SOCKS5_METHOD_USERPASS ? ST_SOCKS_AUTH : ST_SOCKS_REQUEST;
				continue;
			}
		} else if (c->state == ST_SOCKS_AUTH) {
			n = socks5_parse_auth(p, avail, &code);
			if (n > 0) {
				uint8_t out[2];
				socks5_build_auth_status(out, sizeof(out), SOCKS5_AUTH_SUCCESS);
				c->client.off += (size_t)n;
				if (!send_copy(c, out, 2)) {
					conn_close(c);
					return;
				}
				c->state = ST_SOCKS_REQUEST;
				continue;
			}
			if (n < 0) {
				uint8_t out[2];
				socks5_build_auth_status(out, sizeof(out), SOCKS5_AUTH_FAILURE);
				send_copy(c, out, 2);
				c->close_after_write = true;
				if (c->pending_writes == 0)
					conn_close(c);
				return;
			}
		} else if (c->state == ST_SOCKS_REQUEST) {
			struct socks5_request req;
			n = socks5_parse_request(p, avail, &req, &code);
			if (n > 0) {
				c->client.off += (size_t)n;
				stop_timer(c);
				c->port = req.port;
				const char *why = NULL;
				int r = 0;
				if (req.atyp == SOCKS5_ATYP_DOMAIN) {
					r = proxy_host_canonical(req.host, strlen(req.host), &c->host, &why);
				} else if (req.atyp == SOCKS5_ATYP_IPV4) {
					char t[INET_ADDRSTRLEN];
					inet_ntop(AF_INET, req.ipv4, t, sizeof(t));
					r = proxy_host_canonical(t, strlen(t), &c->host, &why);
				} else {
					char t[INET6_ADDRSTRLEN];
					inet_ntop(AF_INET6, req.ipv6, t, sizeof(t));
					r = proxy_host_canonical(t, strlen(t), &c->host, &why);
				}
				if (r < 0) {
					debug_log(c, "SOCKS5 request for a bad host: %s", why);
					socks_reply(c, SOCKS5_REP_NOT_ALLOWED, NULL, true);
					return;
				}
				decide_and_dial(c);
				return;
			}
		} else {
			return;
		}
		if (n < 0) {
			debug_log(c, "malformed SOCKS5 message");
			if (c->state == ST_SOCKS_GREETING) {
				conn_close(c);
			} else {
				socks_reply(c, code ? code : SOCKS5_REP_GENERAL_FAILURE, NULL, true);
			}
			return;
		}
		break; /* need more */
	}
	if (c->client.eof)
		conn_close(c);
	else
		side_start_reading(&c->client);
}

/* --- the state machine ------------------------------------------------------ */

static void conn_process(struct conn *c)
{
	switch (c->state) {
	case ST_HTTP_HEAD:
		if (!c->client.out_busy && c->pending_writes == 0)
			side_compact(&c->client);
		http_head_process(c);
		break;
	case ST_SOCKS_GREETING:
	case ST_SOCKS_AUTH:
	case ST_SOCKS_REQUEST:
		socks_process(c);
		break;
	case ST_HTTP_FORWARD:
		http_forward_process(c);
		break;
	case ST_TUNNEL_SNI:
	case ST_TUNNEL:
		tunnel_process(c);
		break;
	case ST_PARENT:
		parent_process(c);
		break;
	case ST_TLS_HANDSHAKE:
		tls_handshake_process(c);
		break;
	case ST_TLS_UPSTREAM:
		tls_upstream_process(c);
		break;
	case ST_ASKING:
	case ST_RESOLVING:
	case ST_CONNECTING:
		/* Hold the client's bytes until the upstream exists. */
		if (c->client.eof && c->kind != PROXY_KIND_HTTP)
			conn_close(c);
		break;
	case ST_CLOSING:
		break;
	}
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	(void)suggested;
	struct side *sd = h->data;
	size_t cap = sd->srv->o.limits.buffer_size;
	if (!sd->buf) {
		sd->buf = pool_get(sd->srv);
		sd->off = sd->len = 0;
	}
	if (!sd->buf) {
		*buf = uv_buf_init(NULL, 0);
		return;
	}
	if (sd->tio) {
		/* Encrypted bytes, no more than what fits decrypted. */
		struct proxy_server *s = sd->srv;
		if (!s->tls_raw)
			s->tls_raw = malloc(TLS_RAW_MAX);
		size_t room = cap - sd->len;
		size_t n = room > TLS_READ_SLACK ? room - TLS_READ_SLACK : 0;
		*buf = uv_buf_init(s->tls_raw, s->tls_raw ? (unsigned)(n < TLS_RAW_MAX ? n : TLS_RAW_MAX) : 0);
		return;
	}
	*buf = uv_buf_init(sd->buf + sd->len, (unsigned)(cap - sd->len));
}

static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
	(void)buf;
	struct side *sd = st->data;
	struct conn *c = sd->conn;
	if (sd->detached || sd->closing)
		return;
	if (nread == 0)
		return;
	if (nread == UV_ENOBUFS && sd->tio) {
		/* No room to decrypt into: read again once there is. */
		uv_read_stop(st);
		sd->reading = false;
		return;
	}
	if (nread < 0) {
		uv_read_stop(st);
		sd->reading = false;
		if (sd->buf && sd->off == sd->len && !sd->out_busy)
			side_compact(sd);
		if (nread == UV_EOF && sd->tio && !sd->eof && !sd->is_client && tls_io_ready(sd->tio))
			sd->reset = true; /* no close_notify: what ends with the close is cut */
		if (nread == UV_EOF) {
			sd->eof = true;
			evrec_ended(&c->ev, side_name(sd->is_client), NULL);
			conn_process(c);
			return;
		}
		/* A reset or another error: nothing more will flow. */
		if (!sd->is_client && c->state == ST_PARENT) {
			sd->eof = sd->reset = true;
			conn_process(c);
			return;
		}
		if (!sd->is_client && c->state == ST_HTTP_FORWARD && !c->resp_head_sent) {
			detach_upstream(c);
			c->client_keep = false;
			refuse(c, 502, 0, NULL, "the server reset the connection");
			return;
		}
		evrec_ended(&c->ev, side_name(sd->is_client), peer_error(sd->is_client, (int)nread));
		if (!sd->is_client && c->state == ST_HTTP_FORWARD) {
			sd->reset = true;
			/* Mid-body: what the server sent before it is still
			 * passed on, as its end of stream would be; the client
			 * then sees the body cut short. */
			sd->eof = true;
			conn_process(c);
			return;
		}
		conn_close(c);
		return;
	}
	if (sd->tio) {
		bool was_eof = sd->eof;
		if (!tls_input(c, sd, buf->base, (size_t)nread)) {
			const char *why = tls_io_error(sd->tio);
			debug_log(c, "%s: TLS error from the %s: %s", c->target, side_name(sd->is_client), why);
			uv_read_stop(st);
			sd->reading = false;
			if (!sd->is_client && c->state == ST_HTTP_FORWARD && !c->resp_head_sent) {
				detach_upstream(c);
				c->client_keep = false;
				refuse(c, 502, 0, NULL, "TLS error from the server");
				return;
			}
			evrec_ended(&c->ev, side_name(sd->is_client), why);
			conn_close(c);
			return;
		}
		c->last_active = uv_now(sd->srv->loop);
		if (sd->eof && !was_eof) {
			/* close_notify: the peer's stream ended. */
			uv_read_stop(st);
			sd->reading = false;
			evrec_ended(&c->ev, side_name(sd->is_client), NULL);
		} else if (tls_room(sd) < TLS_READ_MIN || tls_out_full(sd) || tls_io_failed(sd->tio)) {
			/* (a failed engine takes nothing more: its state's
			 * processing reports it) */
			uv_read_stop(st);
			sd->reading = false;
		}
		conn_process(c);
		return;
	}
	sd->len += (size_t)nread;
	c->last_active = uv_now(sd->srv->loop);
	/* Stop when the buffer is full; processing makes room. */
	if (sd->len == sd->srv->o.limits.buffer_size) {
		uv_read_stop(st);
		sd->reading = false;
	}
	conn_process(c);
}

static void side_start_reading(struct side *sd)
{
	if (sd->reading || sd->eof || sd->closing || sd->out_busy)
		return;
	if (sd->buf && sd->len == sd->srv->o.limits.buffer_size) {
		side_compact(sd);
		if (sd->len == sd->srv->o.limits.buffer_size)
			return;
	}
	if (sd->tio && tls_room(sd) < TLS_READ_MIN) {
		side_compact(sd);
		if (tls_room(sd) < TLS_READ_MIN)
			return;
	}
	if (tls_out_full(sd) || (sd->tio && tls_io_failed(sd->tio)))
		return;
	if (uv_read_start((uv_stream_t *)&sd->tcp, on_alloc, on_read) == 0)
		sd->reading = true;
}

/* --- accepting ---------------------------------------------------------------- */

/* A new connection's timer and its place in the server's list (its client
 * handle made already). */
static void conn_register(struct proxy_server *s, struct conn *c)
{
	c->client.tcp.data = &c->client;
	uv_timer_init(s->loop, &c->timer);
	c->timer.data = c;
	c->handles_open = 2;
	c->next = s->conns;
	if (s->conns)
		s->conns->prev = c;
	s->conns = c;
	s->n_conns++;
}

static void accept_one(struct listener *l, int fd)
{
	struct proxy_server *s = l->srv;
	struct conn *c = calloc(1, sizeof(*c));
	if (!c) {
		close(fd);
		return;
	}
	c->srv = s;
	c->kind = l->kind;
	c->req_start = uv_hrtime();
	c->client.conn = c;
	c->client.srv = s;
	c->client.is_client = true;
	if (uv_tcp_init(s->loop, &c->client.tcp) < 0) {
		close(fd);
		free(c);
		return;
	}
	conn_register(s, c);
	if (uv_tcp_open(&c->client.tcp, fd) < 0) {
		close(fd);
		conn_close(c);
		return;
	}
	uv_tcp_nodelay(&c->client.tcp, 1);
	switch (l->kind) {
	case PROXY_KIND_HTTP:
		c->state = ST_HTTP_HEAD;
		arm_timer(c, s->o.limits.head_timeout_ms);
		side_start_reading(&c->client);
		break;
	case PROXY_KIND_SOCKS:
		c->state = ST_SOCKS_GREETING;
		arm_timer(c, s->o.limits.head_timeout_ms);
		side_start_reading(&c->client);
		break;
	case PROXY_KIND_FORWARD:
		memcpy(&c->cands[0], &l->target, sizeof(l->target));
		c->n_cands = 1;
		if (l->target.ss_family == AF_INET6) {
			char t[INET6_ADDRSTRLEN];
			const struct sockaddr_in6 *a = (const void *)&l->target;
			inet_ntop(AF_INET6, &a->sin6_addr, t, sizeof(t));
			snprintf(c->target, sizeof(c->target), "[%s]:%u", t, ntohs(a->sin6_port));
		} else {
			char t[INET_ADDRSTRLEN];
			const struct sockaddr_in *a = (const void *)&l->target;
			inet_ntop(AF_INET, &a->sin_addr, t, sizeof(t));
			snprintf(c->target, sizeof(c->target), "%s:%u", t, ntohs(a->sin_port));
		}
		debug_log(c, "%s: forwarded", c->target);
		c->port = l->target.ss_family == AF_INET6 ? ntohs(((const struct sockaddr_in6 *)&l->target)->sin6_port) :
							    ntohs(((const struct sockaddr_in *)&l->target)->sin_port);
		c->host.kind = l->target.ss_family == AF_INET6 ? PROXY_HOST_IPV6 : PROXY_HOST_IPV4;
		addr_text(&l->target, c->host.text, sizeof(c->host.text));
		c->via = "forward";
		if (l->service) {
			const struct proxy_hooks *h = s->o.hooks;
			const struct net_policy *np = h && h->policy ? h->policy(h->data) : s->o.policy;
			if (!net_policy_loopback_port(np, c->port)) {
				debug_log(c, "%s: refused (no allowedDomains entry names the port any more)", c->target);
				ev_refuse(c, "no allowedDomains entry matches", false);
				conn_close(c);
				break;
			}
		}
		ev_begin(c, strdup("forwarded"));
		start_dial(c);
		side_start_reading(&c->client);
		break;
	}
}

static void on_listener(uv_poll_t *p, int status, int events)
{
	(void)events;
	struct listener *l = p->data;
	struct proxy_server *s = l->srv;
	if (status < 0)
		return;
	while (s->n_conns < s->o.limits.max_connections) {
		int fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
				/* Out of descriptors: pause, try again soon or when a
				 * connection ends. The pending ones wait in the backlog. */
				s->paused = true;
				for (struct listener *k = s->listeners; k; k = k->next)
					if (k->active)
						uv_poll_stop(&k->poll);
				uv_timer_start(&s->retry, on_retry, 100, 0);
			}
			return;
		}
		accept_one(l, fd);
	}
	/* At the limit: wait until a connection ends. */
	s->paused = true;
	for (struct listener *k = s->listeners; k; k = k->next)
		if (k->active)
			uv_poll_stop(&k->poll);
}

static void start_accepting(struct proxy_server *s)
{
	if (s->closing)
		return;
	s->paused = false;
	for (struct listener *k = s->listeners; k; k = k->next)
		if (k->active)
			uv_poll_start(&k->poll, UV_READABLE, on_listener);
}

static void on_retry(uv_timer_t *t)
{
	start_accepting(t->data);
}

/* --- the server ------------------------------------------------------------- */

int proxy_server_new(uv_loop_t *loop, const struct proxy_options *o, struct proxy_server **ret)
{
	struct proxy_server *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->loop = loop;
	s->o = *o;
	/* Two descriptors per connection (client and upstream; a spliced
	 * tunnel's pipes exist only while bytes are in flight, and fall back
	 * to a buffer when no descriptor is left): hold the number of
	 * connections to what the descriptor limit allows, with a reserve for
	 * srt itself and those pipes, so that accepting pauses before a dial
	 * can fail for want of a descriptor. */
	struct rlimit nofile;
	if (getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur != RLIM_INFINITY) {
		rlim_t budget = nofile.rlim_cur >= FD_RESERVE + 4 ? (nofile.rlim_cur - FD_RESERVE) / 2 : 1;
		if (budget < s->o.limits.max_connections)
			s->o.limits.max_connections = (unsigned)budget;
	}
	uv_timer_init(loop, &s->retry);
	s->retry.data = s;
	uv_timer_init(loop, &s->trim);
	s->trim.data = s;
	uv_unref((uv_handle_t *)&s->trim);
	uv_async_init(loop, &s->ask_wake, on_ask_wake);
	s->ask_wake.data = s;
	uv_unref((uv_handle_t *)&s->ask_wake);
	s->open_handles = 3;
	*ret = s;
	return 0;
}

int proxy_server_listen_service(struct proxy_server *s, int fd, const struct sockaddr *target,
				socklen_t target_len)
{
	int r = proxy_server_listen(s, PROXY_KIND_FORWARD, fd, target, target_len);
	if (r == 0)
		s->listeners->service = true;
	return r;
}

int proxy_server_listen(struct proxy_server *s, enum proxy_kind kind, int fd,
			const struct sockaddr *target, socklen_t target_len)
{
	struct listener *l = calloc(1, sizeof(*l));
	if (!l) {
		close(fd);
		return -ENOMEM;
	}
	l->srv = s;
	l->fd = fd;
	l->kind = kind;
	if (kind == PROXY_KIND_FORWARD) {
		if (!target || target_len > sizeof(l->target)) {
			close(fd);
			free(l);
			return -EINVAL;
		}
		memcpy(&l->target, target, target_len);
		l->target_len = target_len;
	}
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) {
		close(fd);
		free(l);
		return -errno;
	}
	if (uv_poll_init(s->loop, &l->poll, fd) < 0) {
		close(fd);
		free(l);
		return -EINVAL;
	}
	l->poll.data = l;
	l->active = true;
	s->open_handles++;
	l->next = s->listeners;
	s->listeners = l;
	if (!s->paused)
		uv_poll_start(&l->poll, UV_READABLE, on_listener);
	return 0;
}

static void on_listener_closed(uv_handle_t *h)
{
	struct listener *l = h->data;
	close(l->fd);
	l->srv->open_handles--;
	server_maybe_free(l->srv);
}

static void on_retry_closed(uv_handle_t *h)
{
	struct proxy_server *s = h->data;
	s->open_handles--;
	server_maybe_free(s);
}

bool proxy_server_uses_policy(const struct proxy_server *s, const struct net_policy *np)
{
	for (const struct conn *c = s->conns; c; c = c->next)
		if (c->np == np || c->up_np == np)
			return true;
	return false;
}

void proxy_server_close(struct proxy_server *s)
{
	if (!s || s->closing)
		return;
	s->closing = true;
	for (struct listener *l = s->listeners; l; l = l->next)
		if (l->active) {
			l->active = false;
			uv_close((uv_handle_t *)&l->poll, on_listener_closed);
		}
	for (struct conn *c = s->conns; c; c = c->next)
		conn_close(c);
	for (struct stunnel *t = s->tunnels; t; t = t->next)
		stunnel_close(t);
	while (s->lingers)
		linger_end(s->lingers);
	uv_close((uv_handle_t *)&s->retry, on_retry_closed);
	uv_close((uv_handle_t *)&s->trim, on_retry_closed);
}

/* --- transparent connections ------------------------------------------------- */

/* The decision starts from the loop, never inside proxy_server_direct: a
 * refusal decided at once still reaches done later, as the API says. */
static void on_direct_start(uv_timer_t *t)
{
	struct conn *c = t->data;
	decide_and_dial(c);
}

int proxy_server_direct(struct proxy_server *s, const char *host, uint16_t port, int family,
			proxy_direct_done done, void *data, struct proxy_direct **ret)
{
	if (!s || !host || port == 0 || !done || !ret || (family != AF_INET && family != AF_INET6))
		return -EINVAL;
	if (s->closing || s->n_conns >= s->o.limits.max_connections)
		return -ECONNREFUSED;
	struct proxy_host h;
	if (proxy_host_canonical(host, strlen(host), &h, NULL) < 0)
		return -EINVAL;
	struct conn *c = calloc(1, sizeof(*c));
	struct proxy_direct *d = calloc(1, sizeof(*d));
	if (!c || !d) {
		free(c);
		free(d);
		return -ENOMEM;
	}
	d->c = c;
	d->done = done;
	d->data = data;
	d->family = family;
	c->direct = d;
	c->srv = s;
	c->kind = PROXY_KIND_FORWARD;
	c->state = ST_RESOLVING; /* waits, reads nothing, until the decision */
	c->req_start = uv_hrtime();
	c->host = h;
	c->port = port;
	c->client.conn = c;
	c->client.srv = s;
	c->client.is_client = true;
	/* A handle without a socket: closing it is all it is for. */
	if (uv_tcp_init(s->loop, &c->client.tcp) < 0) {
		free(d);
		free(c);
		return -ENOMEM;
	}
	conn_register(s, c);
	uv_timer_start(&c->timer, on_direct_start, 0, 0);
	*ret = d;
	return 0;
}

void proxy_direct_early(struct proxy_direct *d)
{
	if (d)
		d->early = true;
}

void proxy_direct_cancel(struct proxy_direct *d)
{
	if (!d || !d->done)
		return;
	d->done = NULL;
	conn_close(d->c);
}
