/* Unit tests for the transparent mode's DNS responder: real queries over UDP and TCP on loopback, answered on a loop thread. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <uv.h>

#include "proxy/dns.h"
#include "proxy/dns_server.h"

/* Every lookup the tests make is of a numeric name ("127.0.0.1"), which
 * getaddrinfo answers without asking anyone: nothing leaves loopback. */
#define V4_ONLY "127.0.0.1"

struct fixture {
	uv_loop_t loop;
	uv_async_t stop;
	pthread_t thread;
	struct dns_server *s;
	int udp_port, tcp_port;
	/* Written on the loop thread, read after the answer came. */
	pthread_mutex_t lock;
	int judged;
	int refused;
	char refused_name[1100];
	char refused_rule[256];
};

static int judge(void *data, const char *name, char *rule, size_t rule_size)
{
	struct fixture *f = data;
	pthread_mutex_lock(&f->lock);
	f->judged++;
	pthread_mutex_unlock(&f->lock);
	if (strcmp(name, "evil.test") == 0 || strcmp(name, "www.evil.test") == 0) {
		snprintf(rule, rule_size, "deniedDomains: evil.test");
		return 0;
	}
	/* Names under .ask.invalid: only a question could allow them. */
	size_t n = strlen(name);
	if (n >= 12 && strcmp(name + n - 12, ".ask.invalid") == 0)
		return 2;
	return 1;
}

static void on_refused(void *data, const char *name, const char *rule)
{
	struct fixture *f = data;
	pthread_mutex_lock(&f->lock);
	f->refused++;
	snprintf(f->refused_name, sizeof(f->refused_name), "%s", name);
	snprintf(f->refused_rule, sizeof(f->refused_rule), "%s", rule);
	pthread_mutex_unlock(&f->lock);
}

static void on_stop(uv_async_t *a)
{
	struct fixture *f = a->data;
	dns_server_close(f->s);
	uv_close((uv_handle_t *)a, NULL);
}

static void *run_loop(void *arg)
{
	struct fixture *f = arg;
	uv_run(&f->loop, UV_RUN_DEFAULT);
	return NULL;
}

static int bound_socket(int type, int *port)
{
	int fd = socket(AF_INET, type | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	assert_true(fd >= 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	socklen_t len = sizeof(a);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	*port = ntohs(a.sin_port);
	if (type == SOCK_STREAM)
		assert_int_equal(listen(fd, 16), 0);
	return fd;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	pthread_mutex_init(&f->lock, NULL);
	assert_int_equal(uv_loop_init(&f->loop), 0);
	struct dns_server_hooks h = { .data = f, .judge = judge, .on_refused = on_refused };
	assert_int_equal(dns_server_new(&f->loop, &h, &f->s), 0);
	assert_int_equal(dns_server_listen_udp(f->s, bound_socket(SOCK_DGRAM, &f->udp_port)), 0);
	assert_int_equal(dns_server_listen_tcp(f->s, bound_socket(SOCK_STREAM, &f->tcp_port)), 0);
	f->stop.data = f;
	uv_async_init(&f->loop, &f->stop, on_stop);
	assert_int_equal(pthread_create(&f->thread, NULL, run_loop, f), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	uv_async_send(&f->stop);
	pthread_join(f->thread, NULL);
	/* Everything closed: the loop ended with nothing left on it. */
	assert_int_equal(uv_loop_close(&f->loop), 0);
	pthread_mutex_destroy(&f->lock);
	free(f);
	return 0;
}

/* ---- The client side --------------------------------------------------------- */

/* A standard query for name (dotted), or raw labels when labels is set. */
static size_t make_query(uint8_t *out, uint16_t id, const char *name, uint16_t qtype)
{
	uint8_t *p = out;
	*p++ = (uint8_t)(id >> 8);
	*p++ = (uint8_t)id;
	*p++ = 0x01; /* RD */
	*p++ = 0x00;
	*p++ = 0; *p++ = 1; /* QDCOUNT */
	memset(p, 0, 6);
	p += 6;
	const char *s = name;
	while (*s) {
		const char *dot = strchr(s, '.');
		size_t n = dot ? (size_t)(dot - s) : strlen(s);
		*p++ = (uint8_t)n;
		memcpy(p, s, n);
		p += n;
		s += n + (dot ? 1 : 0);
	}
	*p++ = 0;
	*p++ = (uint8_t)(qtype >> 8);
	*p++ = (uint8_t)qtype;
	*p++ = 0; *p++ = 1; /* IN */
	return (size_t)(p - out);
}

struct reply {
	uint16_t id;
	int rcode;
	int ancount;
	bool tc;
	uint16_t rtype;      /* of the one answer record */
	uint32_t ttl;
	uint8_t rdata[16];
	size_t rdlen;
};

/* Read what the answer says; the answer records follow the copied
 * question (qlen bytes of the query past the header). */
static void read_reply(const uint8_t *b, size_t len, size_t qlen, struct reply *r)
{
	assert_true(len >= 12);
	memset(r, 0, sizeof(*r));
	r->id = (uint16_t)(b[0] << 8 | b[1]);
	assert_true(b[2] & 0x80); /* QR */
	r->tc = b[2] & 0x02;
	r->rcode = b[3] & 0x0f;
	r->ancount = b[6] << 8 | b[7];
	if (r->ancount == 1) {
		const uint8_t *a = b + qlen;
		assert_true(qlen + 12 <= len);
		assert_int_equal(a[0], 0xc0); /* a pointer to the question's name */
		r->rtype = (uint16_t)(a[2] << 8 | a[3]);
		r->ttl = (uint32_t)a[6] << 24 | (uint32_t)a[7] << 16 | (uint32_t)a[8] << 8 | a[9];
		r->rdlen = (size_t)(a[10] << 8 | a[11]);
		assert_true(r->rdlen <= 16 && qlen + 12 + r->rdlen <= len);
		memcpy(r->rdata, a + 12, r->rdlen);
	}
}

static int client(int type, int port)
{
	int fd = socket(AF_INET, type | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	struct timeval tv = { .tv_sec = 10 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
				 .sin_port = htons((uint16_t)port) };
	assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	return fd;
}

static void udp_ask(struct fixture *f, const char *name, uint16_t qtype, struct reply *r)
{
	uint8_t q[512], b[2048];
	size_t ql = make_query(q, 0x1234, name, qtype);
	int fd = client(SOCK_DGRAM, f->udp_port);
	assert_int_equal(send(fd, q, ql, 0), (ssize_t)ql);
	ssize_t n = recv(fd, b, sizeof(b), 0);
	close(fd);
	assert_true(n > 0);
	read_reply(b, (size_t)n, ql, r);
	assert_int_equal(r->id, 0x1234);
}

static void read_all(int fd, uint8_t *b, size_t n)
{
	size_t off = 0;
	while (off < n) {
		ssize_t k = recv(fd, b + off, n - off, 0);
		assert_true(k > 0);
		off += (size_t)k;
	}
}

/* One framed answer from a TCP connection; its length. */
static size_t tcp_read_answer(int fd, uint8_t *b)
{
	uint8_t len[2];
	read_all(fd, len, 2);
	size_t n = (size_t)(len[0] << 8 | len[1]);
	read_all(fd, b, n);
	return n;
}

static uint32_t handed_v4(const struct reply *r)
{
	uint32_t a;
	memcpy(&a, r->rdata, 4);
	return ntohl(a);
}

/* ---- Tests ---------------------------------------------------------------------- */

static void test_a_query_gets_a_handed_out_address(void **state)
{
	struct fixture *f = *state;
	struct reply r;
	udp_ask(f, V4_ONLY, DNS_TYPE_A, &r);
	assert_int_equal(r.rcode, DNS_RCODE_NOERROR);
	assert_int_equal(r.ancount, 1);
	assert_int_equal(r.rtype, DNS_TYPE_A);
	assert_int_equal(r.rdlen, 4);
	assert_int_equal(r.ttl, DNS_SERVER_TTL);
	/* 198.18.0.0/15, never the network address */
	uint32_t a = handed_v4(&r);
	assert_int_equal(a >> 17, (198u << 24 | 18u << 16) >> 17);
	assert_int_not_equal(a, 198u << 24 | 18u << 16);

	/* The same name, the same address; and the address names it. */
	struct reply again;
	udp_ask(f, V4_ONLY, DNS_TYPE_A, &again);
	assert_int_equal(handed_v4(&again), a);
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(a) };
	/* The map is the loop thread's; the loop is idle between queries. */
	const char *name = dns_server_name_of(f->s, (struct sockaddr *)&sa);
	assert_non_null(name);
	assert_string_equal(name, V4_ONLY);
	assert_true(dns_server_in_range(f->s, (struct sockaddr *)&sa));
	struct sockaddr_in6 mapped = { .sin6_family = AF_INET6 };
	mapped.sin6_addr.s6_addr[10] = 0xff;
	mapped.sin6_addr.s6_addr[11] = 0xff;
	memcpy(&mapped.sin6_addr.s6_addr[12], &sa.sin_addr, 4);
	name = dns_server_name_of(f->s, (struct sockaddr *)&mapped);
	assert_non_null(name);
	assert_string_equal(name, V4_ONLY);
	sa.sin_addr.s_addr = htonl(a + 1);
	assert_null(dns_server_name_of(f->s, (struct sockaddr *)&sa));
	assert_true(dns_server_in_range(f->s, (struct sockaddr *)&sa));
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_false(dns_server_in_range(f->s, (struct sockaddr *)&sa));
	assert_int_equal(f->refused, 0);
}

/* A name only a question could allow is answered without a host lookup
 * (the name must not leave before the question is asked): .invalid never
 * resolves (RFC 6761), so an answer with addresses can only come from the
 * placeholders; both families get one. */
static void test_askable_name_is_not_looked_up(void **state)
{
	struct fixture *f = *state;
	struct reply r;
	udp_ask(f, "exfil.ask.invalid", DNS_TYPE_A, &r);
	assert_int_equal(r.rcode, DNS_RCODE_NOERROR);
	assert_int_equal(r.ancount, 1);
	assert_int_equal(handed_v4(&r) >> 17, (198u << 24 | 18u << 16) >> 17);
	udp_ask(f, "exfil.ask.invalid", DNS_TYPE_AAAA, &r);
	assert_int_equal(r.rcode, DNS_RCODE_NOERROR);
	assert_int_equal(r.ancount, 1);
	assert_int_equal(r.rtype, DNS_TYPE_AAAA);
	assert_int_equal(f->refused, 0);
}

static void test_family_the_name_lacks_and_other_types_are_empty(void **state)
{
	struct fixture *f = *state;
	struct reply r;
	/* 127.0.0.1 has no IPv6 address: AAAA answers NOERROR, no record. */
	udp_ask(f, V4_ONLY, DNS_TYPE_AAAA, &r);
	assert_int_equal(r.rcode, DNS_RCODE_NOERROR);
	assert_int_equal(r.ancount, 0);
	static const uint16_t others[] = { 15 /* MX */, 16 /* TXT */, 33 /* SRV */, DNS_TYPE_ANY, 65 /* HTTPS */ };
	for (size_t i = 0; i < sizeof(others) / sizeof(others[0]); i++) {
		udp_ask(f, V4_ONLY, others[i], &r);
		assert_int_equal(r.rcode, DNS_RCODE_NOERROR);
		assert_int_equal(r.ancount, 0);
	}
	assert_int_equal(f->refused, 0);
}

static void test_refused_name_is_nxdomain_and_reported(void **state)
{
	struct fixture *f = *state;
	struct reply r;
	udp_ask(f, "www.evil.test", DNS_TYPE_A, &r);
	assert_int_equal(r.rcode, DNS_RCODE_NXDOMAIN);
	assert_int_equal(r.ancount, 0);
	pthread_mutex_lock(&f->lock);
	assert_int_equal(f->refused, 1);
	assert_string_equal(f->refused_name, "www.evil.test");
	assert_string_equal(f->refused_rule, "deniedDomains: evil.test");
	pthread_mutex_unlock(&f->lock);
	/* Other types too: the name does not exist for the sandbox. */
	udp_ask(f, "evil.test", 16, &r);
	assert_int_equal(r.rcode, DNS_RCODE_NXDOMAIN);
	assert_int_equal(f->refused, 2);
}

static void test_name_that_is_no_host_name(void **state)
{
	struct fixture *f = *state;
	/* A label with a space: never judged, never looked up. */
	uint8_t q[64], b[512];
	size_t ql = make_query(q, 7, "a b.test", DNS_TYPE_A);
	int fd = client(SOCK_DGRAM, f->udp_port);
	assert_int_equal(send(fd, q, ql, 0), (ssize_t)ql);
	ssize_t n = recv(fd, b, sizeof(b), 0);
	close(fd);
	assert_true(n > 0);
	struct reply r;
	read_reply(b, (size_t)n, ql, &r);
	assert_int_equal(r.rcode, DNS_RCODE_NXDOMAIN);
	assert_int_equal(f->judged, 0);
	assert_int_equal(f->refused, 1);
	assert_string_equal(f->refused_name, "a\\032b.test");
	assert_string_equal(f->refused_rule, "not a host name");
}

static void test_malformed_queries(void **state)
{
	struct fixture *f = *state;
	uint8_t q[64], b[512];
	int fd = client(SOCK_DGRAM, f->udp_port);
	/* An opcode other than QUERY: NOTIMP. */
	size_t ql = make_query(q, 9, V4_ONLY, DNS_TYPE_A);
	q[2] |= 2 << 3; /* STATUS */
	assert_int_equal(send(fd, q, ql, 0), (ssize_t)ql);
	ssize_t n = recv(fd, b, sizeof(b), 0);
	assert_true(n >= 12);
	assert_int_equal(b[3] & 0x0f, DNS_RCODE_NOTIMP);
	/* Two questions: FORMERR. */
	ql = make_query(q, 10, V4_ONLY, DNS_TYPE_A);
	q[5] = 2;
	assert_int_equal(send(fd, q, ql, 0), (ssize_t)ql);
	n = recv(fd, b, sizeof(b), 0);
	assert_true(n >= 12);
	assert_int_equal(b[0] << 8 | b[1], 10);
	assert_int_equal(b[3] & 0x0f, DNS_RCODE_FORMERR);
	/* An answer (QR set) and a runt get nothing at all; the next query
	 * still does. */
	ql = make_query(q, 11, V4_ONLY, DNS_TYPE_A);
	q[2] |= 0x80;
	assert_int_equal(send(fd, q, ql, 0), (ssize_t)ql);
	assert_int_equal(send(fd, q, 5, 0), 5);
	ql = make_query(q, 12, V4_ONLY, DNS_TYPE_A);
	assert_int_equal(send(fd, q, ql, 0), (ssize_t)ql);
	n = recv(fd, b, sizeof(b), 0);
	assert_true(n >= 12);
	assert_int_equal(b[0] << 8 | b[1], 12);
	assert_int_equal(b[3] & 0x0f, DNS_RCODE_NOERROR);
	close(fd);
	assert_int_equal(f->refused, 0);
}

static void test_tcp_two_queries_in_one_segment(void **state)
{
	struct fixture *f = *state;
	uint8_t q[1024], b[1024];
	size_t l1 = make_query(q + 2, 1, V4_ONLY, DNS_TYPE_A);
	dns_tcp_put_len(q, l1);
	size_t l2 = make_query(q + 2 + l1 + 2, 2, "evil.test", DNS_TYPE_A);
	dns_tcp_put_len(q + 2 + l1, l2);
	int fd = client(SOCK_STREAM, f->tcp_port);
	assert_int_equal(send(fd, q, 4 + l1 + l2, 0), (ssize_t)(4 + l1 + l2));
	/* Answers may come in any order (RFC 7766 6.2.1.1): by id. */
	bool seen[3] = { false };
	for (int i = 0; i < 2; i++) {
		size_t n = tcp_read_answer(fd, b);
		struct reply r;
		uint16_t id = (uint16_t)(b[0] << 8 | b[1]);
		assert_true(id == 1 || id == 2);
		read_reply(b, n, id == 1 ? l1 : l2, &r);
		seen[id] = true;
		if (id == 1) {
			assert_int_equal(r.rcode, DNS_RCODE_NOERROR);
			assert_int_equal(r.ancount, 1);
			assert_int_equal(r.rtype, DNS_TYPE_A);
		} else {
			assert_int_equal(r.rcode, DNS_RCODE_NXDOMAIN);
		}
	}
	assert_true(seen[1] && seen[2]);
	close(fd);
}

static void test_tcp_query_split_across_segments(void **state)
{
	struct fixture *f = *state;
	uint8_t q[512], b[1024];
	size_t l = make_query(q + 2, 77, V4_ONLY, DNS_TYPE_A);
	dns_tcp_put_len(q, l);
	int fd = client(SOCK_STREAM, f->tcp_port);
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, 1 /* TCP_NODELAY */, &one, sizeof(one));
	/* The length prefix cut in half, then the message in two parts. */
	const size_t cuts[] = { 1, 5, l + 2 };
	size_t off = 0;
	for (size_t i = 0; i < 3; i++) {
		assert_int_equal(send(fd, q + off, cuts[i] - off, 0), (ssize_t)(cuts[i] - off));
		off = cuts[i];
		usleep(20000);
	}
	size_t n = tcp_read_answer(fd, b);
	struct reply r;
	read_reply(b, n, l, &r);
	assert_int_equal(r.id, 77);
	assert_int_equal(r.rcode, DNS_RCODE_NOERROR);
	assert_int_equal(r.ancount, 1);

	/* The connection takes further queries. */
	l = make_query(q + 2, 78, V4_ONLY, DNS_TYPE_AAAA);
	dns_tcp_put_len(q, l);
	assert_int_equal(send(fd, q, l + 2, 0), (ssize_t)(l + 2));
	n = tcp_read_answer(fd, b);
	read_reply(b, n, l, &r);
	assert_int_equal(r.id, 78);
	assert_int_equal(r.rcode, DNS_RCODE_NOERROR);
	assert_int_equal(r.ancount, 0);
	close(fd);
}

static void test_tcp_message_too_long_closes(void **state)
{
	struct fixture *f = *state;
	uint8_t q[2] = { 0xff, 0xff }, b[16];
	int fd = client(SOCK_STREAM, f->tcp_port);
	assert_int_equal(send(fd, q, 2, 0), 2);
	/* No query of ours is that long: the connection ends. */
	assert_int_equal(recv(fd, b, sizeof(b), 0), 0);
	close(fd);
}

/* More lookups at once than the bound: the ones past it get SERVFAIL at
 * once, the others their answers. All queries arrive in one segment, so
 * the server reads them in one go, before any lookup can finish. */
static void test_inflight_cap(void **state)
{
	struct fixture *f = *state;
	enum { N = DNS_SERVER_MAX_INFLIGHT + 6 };
	uint8_t q[DNS_SERVER_QUERY_MAX], b[1024];
	size_t off = 0, ql = 0;
	for (int i = 0; i < N; i++) {
		ql = make_query(q + off + 2, (uint16_t)(i + 1), V4_ONLY, DNS_TYPE_A);
		dns_tcp_put_len(q + off, ql);
		off += 2 + ql;
	}
	assert_true(off <= sizeof(q));
	int fd = client(SOCK_STREAM, f->tcp_port);
	assert_int_equal(send(fd, q, off, 0), (ssize_t)off);
	int servfail = 0, answered = 0;
	for (int i = 0; i < N; i++) {
		size_t n = tcp_read_answer(fd, b);
		struct reply r;
		read_reply(b, n, ql, &r);
		if (r.rcode == DNS_RCODE_SERVFAIL)
			servfail++;
		else if (r.rcode == DNS_RCODE_NOERROR && r.ancount == 1)
			answered++;
	}
	assert_int_equal(servfail, N - DNS_SERVER_MAX_INFLIGHT);
	assert_int_equal(answered, DNS_SERVER_MAX_INFLIGHT);
	close(fd);

	/* Once they are done, the slots are free again. */
	struct reply r;
	udp_ask(f, V4_ONLY, DNS_TYPE_A, &r);
	assert_int_equal(r.rcode, DNS_RCODE_NOERROR);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_a_query_gets_a_handed_out_address, setup, teardown),
		cmocka_unit_test_setup_teardown(test_askable_name_is_not_looked_up, setup, teardown),
		cmocka_unit_test_setup_teardown(test_family_the_name_lacks_and_other_types_are_empty, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refused_name_is_nxdomain_and_reported, setup, teardown),
		cmocka_unit_test_setup_teardown(test_name_that_is_no_host_name, setup, teardown),
		cmocka_unit_test_setup_teardown(test_malformed_queries, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tcp_two_queries_in_one_segment, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tcp_query_split_across_segments, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tcp_message_too_long_closes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_inflight_cap, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
