/* The DNS responder of the transparent network mode, on the supervisor's loop (see dns_server.h). */
#include "proxy/dns_server.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proxy/dns.h"
#include "proxy/resolve.h"

/* The biggest answer we ever build: the question we copy (at most a
 * header, 255 bytes of name and 4), one AAAA record and an OPT record,
 * with room to spare. */
#define ANSWER_MAX 1024

struct tcp_conn;

/* One query waiting for its host lookup. */
struct job {
	struct dns_server *s;
	struct tcp_conn *conn;          /* TCP: NULL once the connection is gone */
	bool udp;
	struct sockaddr_storage peer;   /* UDP: whom to answer */
	struct resolve_req *req;
	struct dns_query q;
	uint8_t question[DNS_HEADER_LEN + DNS_NAME_MAX + 2 + 4]; /* msg[0..q.question_end) */
	struct job *prev, *next;
};

struct tcp_conn {
	uv_tcp_t tcp;
	uv_timer_t idle;
	struct dns_server *s;
	int handles;                    /* open: tcp and idle; freed at 0 */
	bool closing;
	size_t pending;                 /* its jobs in flight */
	uint8_t buf[2 + DNS_SERVER_QUERY_MAX];
	size_t len;
	struct tcp_conn *prev, *next;
};

struct dns_server {
	uv_loop_t *loop;
	struct dns_server_hooks h;
	struct dns_map *map;
	uv_udp_t udp;
	uv_tcp_t listener;
	bool udp_made, listener_made;
	bool closing;
	int handles;                    /* open handles of the server itself */
	struct job *jobs;
	size_t n_jobs;
	struct tcp_conn *conns;
	size_t n_conns;
	uint8_t udp_buf[DNS_SERVER_QUERY_MAX];
	bool udp_buf_busy;
};

/* ---- Lifetime ---------------------------------------------------------------- */

static void server_maybe_free(struct dns_server *s)
{
	if (!s->closing || s->handles > 0 || s->conns || s->jobs)
		return;
	dns_map_free(s->map);
	free(s);
}

static void server_handle_closed(uv_handle_t *h)
{
	struct dns_server *s = h->data;
	s->handles--;
	server_maybe_free(s);
}

static void job_unlink(struct job *j)
{
	struct dns_server *s = j->s;
	if (j->prev)
		j->prev->next = j->next;
	else
		s->jobs = j->next;
	if (j->next)
		j->next->prev = j->prev;
	s->n_jobs--;
	if (j->conn)
		j->conn->pending--;
}

static void conn_handle_closed(uv_handle_t *h)
{
	struct tcp_conn *c = h->data;
	if (--c->handles > 0)
		return;
	struct dns_server *s = c->s;
	if (c->prev)
		c->prev->next = c->next;
	else
		s->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	s->n_conns--;
	free(c);
	server_maybe_free(s);
}

static void conn_close(struct tcp_conn *c)
{
	if (c->closing)
		return;
	c->closing = true;
	/* Its lookups go on (the answers are dropped): the in-flight bound
	 * counts them until they end, so closing a connection frees no slot
	 * that is still busy. */
	for (struct job *j = c->s->jobs; j; j = j->next)
		if (j->conn == c) {
			j->conn = NULL;
			c->pending--;
		}
	uv_close((uv_handle_t *)&c->tcp, conn_handle_closed);
	uv_close((uv_handle_t *)&c->idle, conn_handle_closed);
}

/* ---- Answers ----------------------------------------------------------------- */

struct udp_out {
	uv_udp_send_t req;
	size_t len;
	uint8_t data[];
};

struct tcp_out {
	uv_write_t req;
	uint8_t data[];
};

static void tcp_written(uv_write_t *req, int status)
{
	(void)status;
	free(req);
}

static void conn_arm_idle(struct tcp_conn *c);

static void send_tcp(struct tcp_conn *c, const uint8_t *msg, size_t len)
{
	if (!c || c->closing)
		return;
	/* A client that asks and never reads would make us hold its answers
	 * without end. */
	if (uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp) + len > DNS_SERVER_TCP_UNSENT_MAX) {
		conn_close(c);
		return;
	}
	struct tcp_out *o = malloc(sizeof(*o) + 2 + len);
	if (!o) {
		conn_close(c);
		return;
	}
	dns_tcp_put_len(o->data, len);
	memcpy(o->data + 2, msg, len);
	uv_buf_t b = uv_buf_init((char *)o->data, (unsigned)(2 + len));
	if (uv_write(&o->req, (uv_stream_t *)&c->tcp, &b, 1, tcp_written) < 0) {
		free(o);
		conn_close(c);
		return;
	}
	conn_arm_idle(c);
}

static void send_udp(struct dns_server *s, const struct sockaddr *peer, const uint8_t *msg, size_t len)
{
	if (!s->udp_made || s->closing)
		return;
	uv_buf_t b = uv_buf_init((char *)msg, (unsigned)len);
	/* Never queued: a socket that cannot take it now drops it, and the
	 * client asks again. */
	(void)uv_udp_try_send(&s->udp, &b, 1, peer);
}

/* Build the answer to q (question: msg[0..qlen)) and send it where the
 * query came from. addr: 4 or 16 bytes, or NULL for none. */
static void answer(struct dns_server *s, bool udp, const struct sockaddr *peer, struct tcp_conn *conn,
		   const uint8_t *msg, size_t qlen, const struct dns_query *q, int rcode, const uint8_t *addr,
		   size_t addr_len)
{
	uint8_t out[ANSWER_MAX];
	uint8_t addrs[1][16];
	size_t n = 0;
	if (addr) {
		memcpy(addrs[0], addr, addr_len);
		n = 1;
	}
	size_t max = udp ? dns_udp_limit(q) : DNS_TCP_MAX;
	size_t len = dns_build_response(q->question_end ? msg : NULL, qlen, q, rcode, n ? addrs : NULL, n,
					n ? addr_len : 0, DNS_SERVER_TTL, max, out, sizeof(out));
	if (len == 0)
		return;
	if (udp)
		send_udp(s, peer, out, len);
	else
		send_tcp(conn, out, len);
}

static void job_answer(struct job *j, int rcode, const uint8_t *addr, size_t addr_len)
{
	answer(j->s, j->udp, (const struct sockaddr *)&j->peer, j->conn, j->question, j->q.question_end, &j->q,
	       rcode, addr, addr_len);
}

/* ---- Queries ----------------------------------------------------------------- */

/* A name for a report: plain names as they are, any other byte as \DDD. */
static void name_text(const struct dns_query *q, char *out, size_t size)
{
	if (q->name_len == 0) {
		snprintf(out, size, ".");
		return;
	}
	size_t k = 0;
	for (size_t i = 0; i < q->name_len && k + 5 < size; i++) {
		unsigned char c = (unsigned char)q->name[i];
		bool plain = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.';
		if (plain)
			out[k++] = (char)c;
		else
			k += (size_t)snprintf(out + k, size - k, "\\%03u", c);
	}
	out[k] = '\0';
}

static void lookup_done(void *data, int status, struct addrinfo *res)
{
	struct job *j = data;
	j->req = NULL;
	bool v4 = false, v6 = false;
	for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
		if (ai->ai_family == AF_INET)
			v4 = true;
		else if (ai->ai_family == AF_INET6)
			v6 = true;
	}
	if (res)
		resolve_free(res);
	if (j->conn || j->udp) {
		int rcode = DNS_RCODE_NOERROR;
		uint8_t a4[4], a6[16];
		const uint8_t *addr = NULL;
		size_t addr_len = 0;
		if (status != 0 && status != EAI_NONAME
#ifdef EAI_NODATA
		    && status != EAI_NODATA
#endif
#ifdef EAI_ADDRFAMILY
		    && status != EAI_ADDRFAMILY
#endif
		)
			rcode = DNS_RCODE_SERVFAIL;
		else if (!v4 && !v6)
			rcode = DNS_RCODE_NXDOMAIN;
		else if ((j->q.qtype == DNS_TYPE_A && v4) || (j->q.qtype == DNS_TYPE_AAAA && v6)) {
			int r = dns_map_assign(j->s->map, j->q.name, a4, a6);
			if (r < 0) {
				rcode = DNS_RCODE_SERVFAIL; /* the map is full, or memory */
			} else if (j->q.qtype == DNS_TYPE_A) {
				addr = a4;
				addr_len = 4;
			} else {
				addr = a6;
				addr_len = 16;
			}
		}
		job_answer(j, rcode, addr, addr_len);
	}
	struct dns_server *s = j->s;
	job_unlink(j);
	free(j);
	server_maybe_free(s);
}

/* One message from the sandbox: msg[0..len). */
static void handle_query(struct dns_server *s, bool udp, const struct sockaddr *peer, struct tcp_conn *conn,
			 const uint8_t *msg, size_t len)
{
	struct dns_query q;
	int r = dns_parse_query(msg, len, &q);
	if (r == -EINVAL)
		return; /* not a query: never answered */
	if (r < 0) {
		answer(s, udp, peer, conn, msg, len, &q, r == -ENOTSUP ? DNS_RCODE_NOTIMP : DNS_RCODE_FORMERR, NULL, 0);
		return;
	}
	if (q.edns && q.edns_version > 0) {
		answer(s, udp, peer, conn, msg, len, &q, DNS_RCODE_BADVERS, NULL, 0);
		return;
	}
	if (q.qclass != DNS_CLASS_IN && q.qclass != 255 /* ANY */) {
		answer(s, udp, peer, conn, msg, len, &q, DNS_RCODE_REFUSED, NULL, 0);
		return;
	}
	char rule[256] = "";
	int verdict = q.name_plain ? s->h.judge(s->h.data, q.name, rule, sizeof(rule)) : 0;
	if (verdict == 0) {
		if (!q.name_plain)
			snprintf(rule, sizeof(rule), "not a host name");
		else if (!rule[0])
			snprintf(rule, sizeof(rule), "no allowedDomains entry matches");
		/* Reported before the answer goes out: whoever sees the
		 * answer can count on the report. */
		if (s->h.on_refused && !s->closing) {
			char text[DNS_NAME_MAX * 4 + 8];
			name_text(&q, text, sizeof(text));
			s->h.on_refused(s->h.data, text, rule);
		}
		answer(s, udp, peer, conn, msg, len, &q, DNS_RCODE_NXDOMAIN, NULL, 0);
		return;
	}
	if (verdict == 2) {
		/* Only a question could allow it: the name must not reach the
		 * host's resolver before that question is asked (at connect
		 * time). Both families get a placeholder; the dial finds what
		 * the name really has. */
		uint8_t a4[4], a6[16];
		const uint8_t *addr = NULL;
		size_t addr_len = 0;
		int rcode = DNS_RCODE_NOERROR;
		if (q.qtype == DNS_TYPE_A || q.qtype == DNS_TYPE_AAAA) {
			if (dns_map_assign(s->map, q.name, a4, a6) < 0)
				rcode = DNS_RCODE_SERVFAIL;
			else if (q.qtype == DNS_TYPE_A) {
				addr = a4;
				addr_len = 4;
			} else {
				addr = a6;
				addr_len = 16;
			}
		}
		answer(s, udp, peer, conn, msg, len, &q, rcode, addr, addr_len);
		return;
	}
	if (s->n_jobs >= DNS_SERVER_MAX_INFLIGHT) {
		answer(s, udp, peer, conn, msg, len, &q, DNS_RCODE_SERVFAIL, NULL, 0);
		return;
	}
	struct job *j = calloc(1, sizeof(*j));
	if (!j) {
		answer(s, udp, peer, conn, msg, len, &q, DNS_RCODE_SERVFAIL, NULL, 0);
		return;
	}
	j->s = s;
	j->udp = udp;
	j->conn = conn;
	j->q = q;
	if (udp)
		memcpy(&j->peer, peer, peer->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in));
	memcpy(j->question, msg, q.question_end);
	/* One entry per address (SOCK_STREAM), every family. */
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM };
	if (resolve_start(s->loop, q.name, &hints, lookup_done, j, &j->req) < 0) {
		answer(s, udp, peer, conn, msg, len, &q, DNS_RCODE_SERVFAIL, NULL, 0);
		free(j);
		return;
	}
	j->next = s->jobs;
	if (s->jobs)
		s->jobs->prev = j;
	s->jobs = j;
	s->n_jobs++;
	if (conn)
		conn->pending++;
}

/* ---- UDP ----------------------------------------------------------------------- */

static void udp_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct dns_server *s = h->data;
	(void)suggested;
	if (s->udp_buf_busy) {
		*buf = uv_buf_init(NULL, 0);
		return;
	}
	s->udp_buf_busy = true;
	*buf = uv_buf_init((char *)s->udp_buf, sizeof(s->udp_buf));
}

static void udp_recv(uv_udp_t *h, ssize_t n, const uv_buf_t *buf, const struct sockaddr *peer, unsigned flags)
{
	struct dns_server *s = h->data;
	if (buf->base == (char *)s->udp_buf)
		s->udp_buf_busy = false;
	/* A datagram cut to the buffer is dropped: no real query is that long. */
	if (n <= 0 || !peer || (flags & UV_UDP_PARTIAL) || s->closing)
		return;
	if (peer->sa_family != AF_INET && peer->sa_family != AF_INET6)
		return;
	handle_query(s, true, peer, NULL, s->udp_buf, (size_t)n);
}

int dns_server_listen_udp(struct dns_server *s, int fd)
{
	if (!s || s->closing || s->udp_made) {
		close(fd);
		return -EINVAL;
	}
	int r = uv_udp_init(s->loop, &s->udp);
	if (r < 0) {
		close(fd);
		return r;
	}
	s->udp.data = s;
	s->udp_made = true;
	s->handles++;
	if ((r = uv_udp_open(&s->udp, fd)) < 0) {
		close(fd);
		return r;
	}
	return uv_udp_recv_start(&s->udp, udp_alloc, udp_recv);
}

/* ---- TCP ----------------------------------------------------------------------- */

static void conn_idle(uv_timer_t *t)
{
	struct tcp_conn *c = t->data;
	/* A lookup in flight is an answer due: not idle. */
	if (c->pending > 0 || uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp) > 0) {
		conn_arm_idle(c);
		return;
	}
	conn_close(c);
}

static void conn_arm_idle(struct tcp_conn *c)
{
	if (!c->closing)
		uv_timer_start(&c->idle, conn_idle, DNS_SERVER_TCP_IDLE_MS, 0);
}

static void conn_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct tcp_conn *c = h->data;
	(void)suggested;
	*buf = uv_buf_init((char *)c->buf + c->len, (unsigned)(sizeof(c->buf) - c->len));
}

static void conn_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf)
{
	struct tcp_conn *c = st->data;
	(void)buf;
	if (n == 0)
		return;
	if (n < 0) {
		conn_close(c);
		return;
	}
	c->len += (size_t)n;
	conn_arm_idle(c);
	/* Every complete message in the buffer: a client may send several
	 * queries in one segment, or one query over several. */
	size_t off = 0;
	while (!c->closing && !c->s->closing) {
		size_t need = dns_tcp_frame_len(c->buf + off, c->len - off);
		if (need == 0 || need > c->len - off) {
			if (need > sizeof(c->buf)) {
				conn_close(c); /* longer than any query we take */
				return;
			}
			break;
		}
		handle_query(c->s, false, NULL, c, c->buf + off + 2, need - 2);
		off += need;
	}
	if (c->closing)
		return;
	memmove(c->buf, c->buf + off, c->len - off);
	c->len -= off;
}

static void on_connection(uv_stream_t *l, int status)
{
	struct dns_server *s = l->data;
	if (status < 0 || s->closing)
		return;
	struct tcp_conn *c = calloc(1, sizeof(*c));
	if (!c || uv_tcp_init(s->loop, &c->tcp) < 0) {
		free(c);
		return;
	}
	c->s = s;
	c->tcp.data = c;
	c->idle.data = c;
	uv_timer_init(s->loop, &c->idle);
	c->handles = 2;
	c->next = s->conns;
	if (s->conns)
		s->conns->prev = c;
	s->conns = c;
	s->n_conns++;
	if (uv_accept(l, (uv_stream_t *)&c->tcp) < 0 || s->n_conns > DNS_SERVER_MAX_TCP ||
	    uv_read_start((uv_stream_t *)&c->tcp, conn_alloc, conn_read) < 0) {
		conn_close(c);
		return;
	}
	conn_arm_idle(c);
}

int dns_server_listen_tcp(struct dns_server *s, int fd)
{
	if (!s || s->closing || s->listener_made) {
		close(fd);
		return -EINVAL;
	}
	int r = uv_tcp_init(s->loop, &s->listener);
	if (r < 0) {
		close(fd);
		return r;
	}
	s->listener.data = s;
	s->listener_made = true;
	s->handles++;
	if ((r = uv_tcp_open(&s->listener, fd)) < 0) {
		close(fd);
		return r;
	}
	/* The backlog srt-init gave it stays; libuv only starts watching. */
	return uv_listen((uv_stream_t *)&s->listener, SOMAXCONN, on_connection);
}

/* ---- The server ------------------------------------------------------------------ */

int dns_server_new(uv_loop_t *loop, const struct dns_server_hooks *h, struct dns_server **ret)
{
	if (!loop || !h || !h->judge || !ret)
		return -EINVAL;
	struct dns_server *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	int r = dns_map_new(NULL, &s->map);
	if (r < 0) {
		free(s);
		return r;
	}
	s->loop = loop;
	s->h = *h;
	*ret = s;
	return 0;
}

const char *dns_server_name_of(const struct dns_server *s, const struct sockaddr *addr)
{
	if (!s || !addr)
		return NULL;
	if (addr->sa_family == AF_INET)
		return dns_map_name(s->map, AF_INET, &((const struct sockaddr_in *)addr)->sin_addr);
	if (addr->sa_family == AF_INET6)
		return dns_map_name(s->map, AF_INET6, &((const struct sockaddr_in6 *)addr)->sin6_addr);
	return NULL;
}

bool dns_server_in_range(const struct dns_server *s, const struct sockaddr *addr)
{
	if (!s || !addr)
		return false;
	if (addr->sa_family == AF_INET)
		return dns_map_in_range(s->map, AF_INET, &((const struct sockaddr_in *)addr)->sin_addr);
	if (addr->sa_family == AF_INET6)
		return dns_map_in_range(s->map, AF_INET6, &((const struct sockaddr_in6 *)addr)->sin6_addr);
	return false;
}

void dns_server_close(struct dns_server *s)
{
	if (!s || s->closing)
		return;
	s->closing = true;
	while (s->jobs) {
		struct job *j = s->jobs;
		resolve_cancel(j->req);
		job_unlink(j);
		free(j);
	}
	for (struct tcp_conn *c = s->conns; c; c = c->next)
		conn_close(c);
	if (s->udp_made)
		uv_close((uv_handle_t *)&s->udp, server_handle_closed);
	if (s->listener_made)
		uv_close((uv_handle_t *)&s->listener, server_handle_closed);
	server_maybe_free(s);
}
