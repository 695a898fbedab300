/* Unit tests for the DNS responder: its wire format (queries as real resolvers send them, malformed ones, answers read back) and its address map. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "proxy/dns.h"

/* ---- A byte builder for queries ------------------------------------------- */

struct msg {
	uint8_t b[2048];
	size_t n;
};

static void put(struct msg *m, const void *p, size_t len)
{
	assert_true(m->n + len <= sizeof(m->b));
	memcpy(m->b + m->n, p, len);
	m->n += len;
}

static void put8(struct msg *m, unsigned v)
{
	uint8_t x = (uint8_t)v;
	put(m, &x, 1);
}

static void put16(struct msg *m, unsigned v)
{
	put8(m, v >> 8);
	put8(m, v & 0xff);
}

static void put32(struct msg *m, uint32_t v)
{
	put16(m, v >> 16);
	put16(m, v & 0xffff);
}

static void header(struct msg *m, unsigned id, unsigned flags, unsigned qd, unsigned an, unsigned ns, unsigned ar)
{
	m->n = 0;
	put16(m, id);
	put16(m, flags);
	put16(m, qd);
	put16(m, an);
	put16(m, ns);
	put16(m, ar);
}

/* A dotted name as labels; "" is the root. */
static void put_name(struct msg *m, const char *name)
{
	const char *p = name;
	while (*p) {
		const char *dot = strchr(p, '.');
		size_t len = dot ? (size_t)(dot - p) : strlen(p);
		put8(m, (unsigned)len);
		put(m, p, len);
		p += len;
		if (*p == '.')
			p++;
	}
	put8(m, 0);
}

static void question(struct msg *m, const char *name, unsigned qtype)
{
	put_name(m, name);
	put16(m, qtype);
	put16(m, DNS_CLASS_IN);
}

/* An OPT record: version and DO bit, options as raw bytes. */
static void opt(struct msg *m, unsigned udp_size, unsigned version, bool dnssec_ok, const void *options, size_t olen)
{
	put8(m, 0);
	put16(m, DNS_TYPE_OPT);
	put16(m, udp_size);
	put8(m, 0);
	put8(m, version);
	put16(m, dnssec_ok ? 0x8000 : 0);
	put16(m, (unsigned)olen);
	if (olen)
		put(m, options, olen);
}

/* The flags of a standard query with RD, as glibc, c-ares and dnspython
 * send it; glibc with "options trust-ad" and dig add AD (0x0020). */
#define RD 0x0100
#define AD 0x0020

/* ---- A small, separate response reader ---------------------------------------
 * Written from RFC 1035 apart from the module, so that an answer is checked
 * by a reader that does not share its bugs. Names may use pointers (at most
 * 16 hops: a loop is an error). */

struct rr {
	char owner[256];
	uint16_t type, klass;
	uint32_t ttl;
	uint16_t rdlen;
	size_t rdata;  /* offset */
};

struct resp {
	uint16_t id, flags, qd, an, ns, ar;
	char qname[256];
	uint16_t qtype, qclass;
	struct rr ans[256];
	bool has_opt;
	uint16_t opt_udp;
	uint8_t opt_ext_rcode, opt_version;
	bool opt_do;
	uint16_t opt_rdlen;
};

static bool read_name(const uint8_t *b, size_t len, size_t *pos, char *out)
{
	size_t p = *pos, o = 0;
	bool jumped = false;
	int hops = 0;
	for (;;) {
		if (p >= len)
			return false;
		uint8_t c = b[p];
		if ((c & 0xc0) == 0xc0) {
			if (p + 1 >= len || ++hops > 16)
				return false;
			if (!jumped)
				*pos = p + 2;
			jumped = true;
			p = (size_t)((c & 0x3f) << 8 | b[p + 1]);
			continue;
		}
		if (c & 0xc0)
			return false;
		p++;
		if (c == 0)
			break;
		if (p + c > len || o + c + 1 > 255)
			return false;
		if (o)
			out[o++] = '.';
		memcpy(out + o, b + p, c);
		o += c;
		p += c;
	}
	out[o] = '\0';
	if (!jumped)
		*pos = p;
	return true;
}

static uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static bool read_response(const uint8_t *b, size_t len, struct resp *r)
{
	memset(r, 0, sizeof(*r));
	if (len < 12)
		return false;
	r->id = rd16(b);
	r->flags = rd16(b + 2);
	r->qd = rd16(b + 4);
	r->an = rd16(b + 6);
	r->ns = rd16(b + 8);
	r->ar = rd16(b + 10);
	if (!(r->flags & 0x8000) || r->qd > 1 || r->an > 256 || r->ns != 0 || r->ar > 1)
		return false;
	size_t pos = 12;
	if (r->qd) {
		if (!read_name(b, len, &pos, r->qname) || len - pos < 4)
			return false;
		r->qtype = rd16(b + pos);
		r->qclass = rd16(b + pos + 2);
		pos += 4;
	}
	for (unsigned i = 0; i < r->an; i++) {
		struct rr *a = &r->ans[i];
		if (!read_name(b, len, &pos, a->owner) || len - pos < 10)
			return false;
		a->type = rd16(b + pos);
		a->klass = rd16(b + pos + 2);
		a->ttl = (uint32_t)rd16(b + pos + 4) << 16 | rd16(b + pos + 6);
		a->rdlen = rd16(b + pos + 8);
		pos += 10;
		if (len - pos < a->rdlen)
			return false;
		a->rdata = pos;
		pos += a->rdlen;
	}
	if (r->ar) {
		char owner[256];
		if (!read_name(b, len, &pos, owner) || owner[0] || len - pos < 10 || rd16(b + pos) != DNS_TYPE_OPT)
			return false;
		r->has_opt = true;
		r->opt_udp = rd16(b + pos + 2);
		r->opt_ext_rcode = b[pos + 4];
		r->opt_version = b[pos + 5];
		r->opt_do = (b[pos + 6] & 0x80) != 0;
		r->opt_rdlen = rd16(b + pos + 8);
		pos += 10;
		if (len - pos < r->opt_rdlen)
			return false;
		pos += r->opt_rdlen;
	}
	return pos == len;
}

#define F_QR 0x8000
#define F_AA 0x0400
#define F_TC 0x0200
#define F_RD 0x0100
#define F_RA 0x0080

static void expect_query(const struct msg *m, int ret, struct dns_query *q)
{
	assert_int_equal(dns_parse_query(m->b, m->n, q), ret);
}

/* ---- Queries as resolvers send them ------------------------------------------ */

/* glibc's res_mkquery (getaddrinfo, also what Python's socket module and
 * most programs end up in): RD, no EDNS unless "options edns0". */
static void test_glibc_plain(void **state)
{
	(void)state;
	struct msg m;
	header(&m, 0x1a2b, RD, 1, 0, 0, 0);
	question(&m, "example.com", DNS_TYPE_A);
	const uint8_t expect[] = { 0x1a, 0x2b, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0,
				   7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 3, 'c', 'o', 'm', 0, 0, 1, 0, 1 };
	assert_int_equal(m.n, sizeof(expect));
	assert_memory_equal(m.b, expect, sizeof(expect));

	struct dns_query q;
	expect_query(&m, 0, &q);
	assert_int_equal(q.id, 0x1a2b);
	assert_int_equal(q.opcode, 0);
	assert_true(q.rd);
	assert_string_equal(q.name, "example.com");
	assert_int_equal(q.name_len, 11);
	assert_true(q.name_plain);
	assert_int_equal(q.qtype, DNS_TYPE_A);
	assert_int_equal(q.qclass, DNS_CLASS_IN);
	assert_int_equal(q.question_end, sizeof(expect));
	assert_false(q.edns);
	assert_int_equal(dns_udp_limit(&q), 512);

	/* The AAAA query glibc sends alongside, on the same socket. */
	header(&m, 0x1a2c, RD, 1, 0, 0, 0);
	question(&m, "example.com", DNS_TYPE_AAAA);
	expect_query(&m, 0, &q);
	assert_int_equal(q.id, 0x1a2c);
	assert_int_equal(q.qtype, DNS_TYPE_AAAA);
}

/* glibc with "options edns0 trust-ad": AD set, OPT with 1200 bytes. */
static void test_glibc_edns(void **state)
{
	(void)state;
	struct msg m;
	header(&m, 0xbeef, RD | AD, 1, 0, 0, 1);
	question(&m, "pypi.org", DNS_TYPE_AAAA);
	opt(&m, 1200, 0, false, NULL, 0);
	struct dns_query q;
	expect_query(&m, 0, &q);
	assert_int_equal(q.id, 0xbeef);
	assert_true(q.rd);
	assert_string_equal(q.name, "pypi.org");
	assert_int_equal(q.qtype, DNS_TYPE_AAAA);
	assert_int_equal(q.question_end, 12 + 10 + 4);
	assert_true(q.edns);
	assert_int_equal(q.edns_udp_size, 1200);
	assert_int_equal(q.edns_version, 0);
	assert_false(q.edns_do);
	assert_int_equal(dns_udp_limit(&q), 1200);
}

/* c-ares as Node ships it: EDNS on by default with 1232 bytes, and (newer
 * releases) a DNS cookie option; with dns0x20 on, the name's case is
 * randomised and the answer must carry the same case back. */
static void test_cares(void **state)
{
	(void)state;
	struct msg m;
	header(&m, 0x4242, RD, 1, 0, 0, 1);
	question(&m, "ReGiStRy.NpMjS.oRg", DNS_TYPE_A);
	const uint8_t cookie[] = { 0x00, 0x0a, 0x00, 0x08, 1, 2, 3, 4, 5, 6, 7, 8 };
	opt(&m, 1232, 0, false, cookie, sizeof(cookie));
	struct dns_query q;
	expect_query(&m, 0, &q);
	assert_string_equal(q.name, "registry.npmjs.org");
	assert_true(q.name_plain);
	assert_true(q.edns);
	assert_int_equal(q.edns_udp_size, 1232);
	assert_int_equal(dns_udp_limit(&q), 1232);

	const uint8_t addr[1][16] = { { 198, 18, 0, 7 } };
	uint8_t out[512];
	size_t n = dns_build_response(m.b, m.n, &q, DNS_RCODE_NOERROR, addr, 1, 4, 5, dns_udp_limit(&q), out, sizeof(out));
	assert_true(n > 0);
	/* The question goes back byte for byte, mixed case included. */
	assert_memory_equal(out + 12, m.b + 12, q.question_end - 12);
	struct resp r;
	assert_true(read_response(out, n, &r));
	assert_string_equal(r.qname, "ReGiStRy.NpMjS.oRg");
	assert_string_equal(r.ans[0].owner, "ReGiStRy.NpMjS.oRg");
	assert_true(r.has_opt);
}

/* dnspython's make_query: RD, no EDNS by default; want_dnssec adds an OPT
 * with DO and 1232 bytes. Also dig's shape: AD, cookie, 1232. */
static void test_dnspython_and_dig(void **state)
{
	(void)state;
	struct msg m;
	header(&m, 0x0001, RD, 1, 0, 0, 0);
	question(&m, "files.pythonhosted.org", DNS_TYPE_A);
	struct dns_query q;
	expect_query(&m, 0, &q);
	assert_string_equal(q.name, "files.pythonhosted.org");
	assert_false(q.edns);

	header(&m, 0x0002, RD, 1, 0, 0, 1);
	question(&m, "files.pythonhosted.org", DNS_TYPE_AAAA);
	opt(&m, 1232, 0, true, NULL, 0);
	expect_query(&m, 0, &q);
	assert_true(q.edns);
	assert_true(q.edns_do);

	header(&m, 0x9d3c, RD | AD, 1, 0, 0, 1);
	question(&m, "github.com", DNS_TYPE_A);
	const uint8_t cookie[] = { 0x00, 0x0a, 0x00, 0x08, 0xde, 0xad, 0xbe, 0xef, 0xca, 0xfe, 0xba, 0xbe };
	opt(&m, 1232, 0, false, cookie, sizeof(cookie));
	expect_query(&m, 0, &q);
	assert_string_equal(q.name, "github.com");
	assert_true(q.rd);

	/* No RD (a stub asking as a server would, "dig +norec"). */
	header(&m, 0x0003, 0, 1, 0, 0, 0);
	question(&m, "github.com", DNS_TYPE_A);
	expect_query(&m, 0, &q);
	assert_false(q.rd);
}

static void test_names(void **state)
{
	(void)state;
	struct msg m;
	struct dns_query q;

	/* The root (". NS"): an empty name, never plain. */
	header(&m, 1, RD, 1, 0, 0, 0);
	question(&m, "", 2);
	expect_query(&m, 0, &q);
	assert_string_equal(q.name, "");
	assert_int_equal(q.name_len, 0);
	assert_false(q.name_plain);
	assert_int_equal(q.question_end, 12 + 1 + 4);
	assert_int_equal(q.qtype, 2);

	/* Underscores and hyphens are plain (SRV names, host names). */
	header(&m, 1, RD, 1, 0, 0, 0);
	question(&m, "_sip._tcp.my-host.example", 33);
	expect_query(&m, 0, &q);
	assert_string_equal(q.name, "_sip._tcp.my-host.example");
	assert_true(q.name_plain);

	/* Bytes that are no host name are kept, and the name is not plain. */
	static const struct {
		const char *label;
		size_t len;
		const char *text;
		size_t text_len;
	} odd[] = {
		{ "a.b", 3, "a.b.com", 7 },          /* a dot inside a label */
		{ "a\0b", 3, "a\0b.com", 7 },        /* a NUL */
		{ "a b", 3, "a b.com", 7 },
		{ "\xc3\xa9", 2, "\xc3\xa9.com", 6 }, /* UTF-8 stays raw */
		{ "A*", 2, "a*.com", 6 },
		{ "a/", 2, "a/.com", 6 },
	};
	for (size_t i = 0; i < sizeof(odd) / sizeof(odd[0]); i++) {
		header(&m, 1, RD, 1, 0, 0, 0);
		put8(&m, (unsigned)odd[i].len);
		put(&m, odd[i].label, odd[i].len);
		question(&m, "com", DNS_TYPE_A);
		expect_query(&m, 0, &q);
		assert_false(q.name_plain);
		assert_int_equal(q.name_len, odd[i].text_len);
		assert_memory_equal(q.name, odd[i].text, odd[i].text_len + 1);
	}

	/* Case folds for ASCII letters only. */
	header(&m, 1, RD, 1, 0, 0, 0);
	question(&m, "WWW.Example.COM", DNS_TYPE_A);
	expect_query(&m, 0, &q);
	assert_string_equal(q.name, "www.example.com");
}

/* A name of n characters in dotted form, labels of at most label_max. */
static void long_name(char *out, size_t n, size_t label_max)
{
	size_t in_label = 0;
	for (size_t i = 0; i < n; i++) {
		if (in_label == label_max && i + 1 < n) {
			out[i] = '.';
			in_label = 0;
		} else {
			out[i] = (char)('a' + i % 26);
			in_label++;
		}
	}
	out[n] = '\0';
}

static void test_name_limits(void **state)
{
	(void)state;
	struct msg m;
	struct dns_query q;
	char name[400];

	/* A label of 63 bytes is fine; 64 has bit 0x40 set, which is not a
	 * length any more (the retired extended label type). */
	char label[65];
	memset(label, 'x', 64);
	label[63] = '\0';
	header(&m, 1, RD, 1, 0, 0, 0);
	question(&m, label, DNS_TYPE_A);
	expect_query(&m, 0, &q);
	assert_int_equal(q.name_len, 63);
	label[63] = 'x';
	label[64] = '\0';
	header(&m, 1, RD, 1, 0, 0, 0);
	question(&m, label, DNS_TYPE_A);
	expect_query(&m, -EBADMSG, &q);
	assert_int_equal(q.question_end, 0);
	assert_string_equal(q.name, "");

	/* 253 characters (255 bytes on the wire) is the longest name. */
	long_name(name, 253, 63);
	header(&m, 1, RD, 1, 0, 0, 0);
	question(&m, name, DNS_TYPE_A);
	assert_int_equal(m.n, 12 + 255 + 4);
	expect_query(&m, 0, &q);
	assert_int_equal(q.name_len, 253);
	assert_string_equal(q.name, name);
	assert_true(q.name_plain);

	/* One more is refused, however it is cut into labels. */
	for (size_t lm = 1; lm <= 63; lm++) {
		long_name(name, 254, lm);
		header(&m, 1, RD, 1, 0, 0, 0);
		question(&m, name, DNS_TYPE_A);
		expect_query(&m, -EBADMSG, &q);
		long_name(name, 253, lm);
		header(&m, 1, RD, 1, 0, 0, 0);
		question(&m, name, DNS_TYPE_A);
		/* Single-character labels end on a dot at 253: not a name. */
		if (name[252] != '.')
			expect_query(&m, 0, &q);
	}
	long_name(name, 300, 63);
	header(&m, 1, RD, 1, 0, 0, 0);
	question(&m, name, DNS_TYPE_A);
	expect_query(&m, -EBADMSG, &q);
}

/* ---- Malformed queries --------------------------------------------------------- */

static void test_truncated(void **state)
{
	(void)state;
	struct msg m;
	struct dns_query q;
	header(&m, 0x7777, RD, 1, 0, 0, 1);
	question(&m, "example.com", DNS_TYPE_A);
	const uint8_t cookie[] = { 0x00, 0x0a, 0x00, 0x08, 1, 2, 3, 4, 5, 6, 7, 8 };
	opt(&m, 1232, 0, false, cookie, sizeof(cookie));
	expect_query(&m, 0, &q);
	for (size_t len = 0; len < m.n; len++) {
		memset(&q, 0x5a, sizeof(q));
		int r = dns_parse_query(m.b, len, &q);
		if (len < 12) {
			assert_int_equal(r, -EINVAL);
			continue;
		}
		assert_int_equal(r, -EBADMSG);
		/* The id is there for the FORMERR answer; no OPT is claimed. */
		assert_int_equal(q.id, 0x7777);
		assert_false(q.edns);
		/* The question is echoed only once it was read whole. */
		if (len >= 29)
			assert_int_equal(q.question_end, 29);
		else
			assert_int_equal(q.question_end, 0);
	}
	assert_int_equal(dns_parse_query(NULL, 12, &q), -EINVAL);
	assert_int_equal(dns_parse_query(m.b, m.n, NULL), -EINVAL);
}

static void test_counts(void **state)
{
	(void)state;
	struct msg m;
	struct dns_query q;

	header(&m, 9, RD, 0, 0, 0, 0);
	expect_query(&m, -EBADMSG, &q);
	assert_int_equal(q.id, 9);
	assert_int_equal(q.question_end, 0);

	header(&m, 9, RD, 2, 0, 0, 0);
	question(&m, "a.example", DNS_TYPE_A);
	question(&m, "b.example", DNS_TYPE_A);
	expect_query(&m, -EBADMSG, &q);
	assert_int_equal(q.question_end, 0);

	/* Records in the answer or authority sections of a query. */
	header(&m, 9, RD, 1, 1, 0, 0);
	question(&m, "a.example", DNS_TYPE_A);
	put16(&m, 0xc00c);
	put16(&m, DNS_TYPE_A);
	put16(&m, DNS_CLASS_IN);
	put32(&m, 60);
	put16(&m, 4);
	put32(&m, 0x01020304);
	expect_query(&m, -EBADMSG, &q);
	/* The question itself was fine: the FORMERR answer may echo it. */
	assert_int_equal(q.question_end, 12 + 11 + 4);

	header(&m, 9, RD, 1, 0, 1, 0);
	question(&m, "a.example", DNS_TYPE_A);
	expect_query(&m, -EBADMSG, &q);

	/* Two OPT records, and an additional record that is no OPT. */
	header(&m, 9, RD, 1, 0, 0, 2);
	question(&m, "a.example", DNS_TYPE_A);
	opt(&m, 1232, 0, false, NULL, 0);
	opt(&m, 1232, 0, false, NULL, 0);
	expect_query(&m, -EBADMSG, &q);
	assert_false(q.edns);

	header(&m, 9, RD, 1, 0, 0, 1);
	question(&m, "a.example", DNS_TYPE_A);
	put8(&m, 0);
	put16(&m, DNS_TYPE_A);
	put16(&m, DNS_CLASS_IN);
	put32(&m, 0);
	put16(&m, 4);
	put32(&m, 0);
	expect_query(&m, -EBADMSG, &q);

	/* An OPT owned by a name (here a pointer to the question's). */
	header(&m, 9, RD, 1, 0, 0, 1);
	question(&m, "a.example", DNS_TYPE_A);
	put16(&m, 0xc00c);
	put16(&m, DNS_TYPE_OPT);
	put16(&m, 1232);
	put32(&m, 0);
	put16(&m, 0);
	expect_query(&m, -EBADMSG, &q);

	/* ARCOUNT 1 with nothing there. */
	header(&m, 9, RD, 1, 0, 0, 1);
	question(&m, "a.example", DNS_TYPE_A);
	expect_query(&m, -EBADMSG, &q);
}

static void test_opt_options(void **state)
{
	(void)state;
	struct msg m;
	struct dns_query q;
	/* Options must fill RDATA exactly. */
	static const struct {
		uint8_t bytes[16];
		size_t len;
		int ret;
	} cases[] = {
		{ { 0 }, 0, 0 },
		{ { 0, 12, 0, 0 }, 4, 0 },                            /* empty padding */
		{ { 0, 12, 0, 2, 0, 0, 0, 8, 0, 0 }, 10, 0 },         /* padding, ECS-ish empty */
		{ { 0, 10, 0, 8, 1, 2, 3, 4, 5, 6, 7 }, 11, -EBADMSG }, /* cookie one short */
		{ { 0, 10, 0 }, 3, -EBADMSG },                        /* half an option head */
		{ { 0, 10, 0xff, 0xff, 1 }, 5, -EBADMSG },            /* length past RDATA */
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		header(&m, 3, RD, 1, 0, 0, 1);
		question(&m, "a.example", DNS_TYPE_A);
		opt(&m, 1232, 0, false, cases[i].bytes, cases[i].len);
		expect_query(&m, cases[i].ret, &q);
	}
	/* RDLENGTH past the end of the message. */
	header(&m, 3, RD, 1, 0, 0, 1);
	question(&m, "a.example", DNS_TYPE_A);
	opt(&m, 1232, 0, false, NULL, 0);
	m.b[m.n - 1] = 4;
	expect_query(&m, -EBADMSG, &q);
	put(&m, "\0\0\0", 3);
	expect_query(&m, -EBADMSG, &q); /* 3 bytes: no whole option head */
	put8(&m, 0);
	expect_query(&m, 0, &q);        /* option 0, empty */

	/* A tiny or huge UDP size is bounded when answering. */
	header(&m, 3, RD, 1, 0, 0, 1);
	question(&m, "a.example", DNS_TYPE_A);
	opt(&m, 100, 0, false, NULL, 0);
	expect_query(&m, 0, &q);
	assert_int_equal(q.edns_udp_size, 100);
	assert_int_equal(dns_udp_limit(&q), 512);
	m.b[m.n - 8] = 0xff;
	m.b[m.n - 7] = 0xff;
	expect_query(&m, 0, &q);
	assert_int_equal(dns_udp_limit(&q), 1232);
	assert_int_equal(dns_udp_limit(NULL), 512);
}

static void test_trailing_garbage(void **state)
{
	(void)state;
	struct msg m;
	struct dns_query q;
	header(&m, 5, RD, 1, 0, 0, 0);
	question(&m, "example.com", DNS_TYPE_A);
	put8(&m, 0);
	expect_query(&m, -EBADMSG, &q);
	assert_int_equal(q.question_end, 29);

	header(&m, 5, RD, 1, 0, 0, 1);
	question(&m, "example.com", DNS_TYPE_A);
	opt(&m, 1232, 0, false, NULL, 0);
	put(&m, "junk", 4);
	expect_query(&m, -EBADMSG, &q);
	assert_false(q.edns);
}

static void test_pointers(void **state)
{
	(void)state;
	struct msg m;
	struct dns_query q;

	/* A pointer as the whole name, to the header. */
	header(&m, 1, RD, 1, 0, 0, 0);
	put16(&m, 0xc000);
	put16(&m, DNS_TYPE_A);
	put16(&m, DNS_CLASS_IN);
	expect_query(&m, -EBADMSG, &q);

	/* A pointer to itself: a loop for a reader that follows it. */
	header(&m, 1, RD, 1, 0, 0, 0);
	put16(&m, 0xc00c);
	put16(&m, DNS_TYPE_A);
	put16(&m, DNS_CLASS_IN);
	expect_query(&m, -EBADMSG, &q);

	/* A label, then a pointer back to it (an endless name when followed). */
	header(&m, 1, RD, 1, 0, 0, 0);
	put8(&m, 1);
	put8(&m, 'a');
	put16(&m, 0xc00c);
	put16(&m, DNS_TYPE_A);
	put16(&m, DNS_CLASS_IN);
	expect_query(&m, -EBADMSG, &q);

	/* Two pointers pointing at each other. */
	header(&m, 1, RD, 1, 0, 0, 0);
	put16(&m, 0xc00e);
	put16(&m, 0xc00c);
	put16(&m, DNS_TYPE_A);
	put16(&m, DNS_CLASS_IN);
	expect_query(&m, -EBADMSG, &q);

	/* A pointer to a well-formed name further on: still refused. */
	header(&m, 1, RD, 1, 0, 0, 0);
	put16(&m, 0xc012);
	put16(&m, DNS_TYPE_A);
	put16(&m, DNS_CLASS_IN);
	put_name(&m, "example.com");
	expect_query(&m, -EBADMSG, &q);

	/* The other two label types (0b01, 0b10). */
	for (unsigned t = 0x40; t <= 0x80; t += 0x40) {
		header(&m, 1, RD, 1, 0, 0, 0);
		put8(&m, t | 1);
		put8(&m, 'a');
		put8(&m, 0);
		put16(&m, DNS_TYPE_A);
		put16(&m, DNS_CLASS_IN);
		expect_query(&m, -EBADMSG, &q);
	}
	/* The same length bytes followed by as many bytes as a reader that
	 * ignored the top bits would take for a label: still refused. */
	for (unsigned t = 0x40; t <= 0xc0; t += 0x40) {
		header(&m, 1, RD, 1, 0, 0, 0);
		put8(&m, t | 12);
		for (unsigned i = 0; i < (t | 12); i++)
			put8(&m, 'a');
		put8(&m, 0);
		put16(&m, DNS_TYPE_A);
		put16(&m, DNS_CLASS_IN);
		expect_query(&m, -EBADMSG, &q);
	}
	/* A truncated pointer. */
	header(&m, 1, RD, 1, 0, 0, 0);
	put8(&m, 0xc0);
	expect_query(&m, -EBADMSG, &q);
}

static void test_not_queries(void **state)
{
	(void)state;
	struct msg m;
	struct dns_query q;

	/* A response (QR 1) is dropped, even a well-formed one. */
	header(&m, 1, 0x8180, 1, 0, 0, 0);
	question(&m, "example.com", DNS_TYPE_A);
	expect_query(&m, -EINVAL, &q);

	/* Other opcodes: IQUERY (1), STATUS (2), NOTIFY (4), UPDATE (5). */
	const unsigned opcodes[] = { 1, 2, 3, 4, 5, 15 };
	for (size_t i = 0; i < sizeof(opcodes) / sizeof(opcodes[0]); i++) {
		header(&m, 0x2222, RD | opcodes[i] << 11, 1, 0, 0, 0);
		question(&m, "example.com", 6);
		expect_query(&m, -ENOTSUP, &q);
		assert_int_equal(q.id, 0x2222);
		assert_int_equal(q.opcode, opcodes[i]);
		assert_int_equal(q.question_end, 0);
	}
	/* QR 1 outranks the opcode. */
	header(&m, 1, 0x8000 | 2 << 11, 1, 0, 0, 0);
	expect_query(&m, -EINVAL, &q);

	/* Bits a query should not set but which do no harm are ignored. */
	header(&m, 1, RD | 0x0400 | 0x0200 | 0x0040 | 0x0010 | 0x0005, 1, 0, 0, 0);
	question(&m, "example.com", DNS_TYPE_A);
	expect_query(&m, 0, &q);
}

/* ---- Answers ---------------------------------------------------------------------- */

static void test_answer_a(void **state)
{
	(void)state;
	struct msg m;
	struct dns_query q;
	header(&m, 0xabcd, RD, 1, 0, 0, 0);
	question(&m, "example.com", DNS_TYPE_A);
	expect_query(&m, 0, &q);

	const uint8_t addrs[2][16] = { { 198, 18, 0, 1 }, { 198, 18, 0, 2 } };
	uint8_t out[512];
	memset(out, 0xee, sizeof(out));
	size_t n = dns_build_response(m.b, m.n, &q, DNS_RCODE_NOERROR, addrs, 2, 4, 300, dns_udp_limit(&q),
				      out, sizeof(out));
	assert_int_equal(n, 12 + 17 + 2 * 16);

	/* Field by field. */
	assert_int_equal(out[0], 0xab);
	assert_int_equal(out[1], 0xcd);
	assert_int_equal(out[2], 0x85); /* QR, opcode 0, AA, RD */
	assert_int_equal(out[3], 0x80); /* RA, NOERROR */
	const uint8_t counts[] = { 0, 1, 0, 2, 0, 0, 0, 0 };
	assert_memory_equal(out + 4, counts, 8);
	assert_memory_equal(out + 12, m.b + 12, 17);
	const uint8_t rr1[] = { 0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0x01, 0x2c, 0, 4, 198, 18, 0, 1 };
	const uint8_t rr2[] = { 0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0x01, 0x2c, 0, 4, 198, 18, 0, 2 };
	assert_memory_equal(out + 29, rr1, 16);
	assert_memory_equal(out + 45, rr2, 16);
	assert_int_equal(out[n], 0xee);

	/* And read back by a reader of its own. */
	struct resp r;
	assert_true(read_response(out, n, &r));
	assert_int_equal(r.id, 0xabcd);
	assert_int_equal(r.flags, F_QR | F_AA | F_RD | F_RA);
	assert_int_equal(r.qd, 1);
	assert_int_equal(r.an, 2);
	assert_string_equal(r.qname, "example.com");
	assert_int_equal(r.qtype, DNS_TYPE_A);
	assert_int_equal(r.qclass, DNS_CLASS_IN);
	for (int i = 0; i < 2; i++) {
		assert_string_equal(r.ans[i].owner, "example.com");
		assert_int_equal(r.ans[i].type, DNS_TYPE_A);
		assert_int_equal(r.ans[i].klass, DNS_CLASS_IN);
		assert_int_equal(r.ans[i].ttl, 300);
		assert_int_equal(r.ans[i].rdlen, 4);
		assert_memory_equal(out + r.ans[i].rdata, addrs[i], 4);
	}
	assert_false(r.has_opt);

	/* Without RD asked, none in the answer. */
	q.rd = false;
	n = dns_build_response(m.b, m.n, &q, DNS_RCODE_NOERROR, addrs, 1, 4, 300, 512, out, sizeof(out));
	assert_int_equal(out[2], 0x84);
}

static void test_answer_aaaa_edns(void **state)
{
	(void)state;
	struct msg m;
	struct dns_query q;
	header(&m, 0x0102, RD | AD, 1, 0, 0, 1);
	question(&m, "example.org", DNS_TYPE_AAAA);
	opt(&m, 4096, 0, true, NULL, 0);
	expect_query(&m, 0, &q);
	assert_int_equal(dns_udp_limit(&q), 1232);

	const uint8_t addrs[1][16] = { { 0xfd, 0x53, 0x72, 0x74, 0x73, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1 } };
	uint8_t out[1232];
	size_t n = dns_build_response(m.b, m.n, &q, DNS_RCODE_NOERROR, addrs, 1, 16, 0x01020304,
				      dns_udp_limit(&q), out, sizeof(out));
	assert_int_equal(n, 12 + 17 + 28 + 11);
	assert_int_equal(out[3], 0x80); /* AD is not echoed: nothing was validated */
	assert_int_equal(out[11], 1);   /* ARCOUNT */
	const uint8_t rr[] = { 0xc0, 0x0c, 0, 28, 0, 1, 1, 2, 3, 4, 0, 16 };
	assert_memory_equal(out + 29, rr, sizeof(rr));
	assert_memory_equal(out + 41, addrs[0], 16);
	const uint8_t optrr[] = { 0, 0, 41, 0x04, 0xd0, 0, 0, 0x80, 0, 0, 0 };
	assert_memory_equal(out + 57, optrr, sizeof(optrr));

	struct resp r;
	assert_true(read_response(out, n, &r));
	assert_int_equal(r.an, 1);
	assert_int_equal(r.ans[0].type, DNS_TYPE_AAAA);
	assert_int_equal(r.ans[0].ttl, 0x01020304);
	assert_true(r.has_opt);
	assert_int_equal(r.opt_udp, 1232);
	assert_int_equal(r.opt_version, 0);
	assert_int_equal(r.opt_ext_rcode, 0);
	assert_true(r.opt_do);
	assert_int_equal(r.opt_rdlen, 0);

	/* Without DO asked, none in the answer. */
	header(&m, 0x0102, RD, 1, 0, 0, 1);
	question(&m, "example.org", DNS_TYPE_AAAA);
	opt(&m, 1232, 0, false, NULL, 0);
	expect_query(&m, 0, &q);
	n = dns_build_response(m.b, m.n, &q, DNS_RCODE_NOERROR, addrs, 1, 16, 1, 1232, out, sizeof(out));
	assert_true(read_response(out, n, &r));
	assert_false(r.opt_do);
}

static void test_answer_rcodes(void **state)
{
	(void)state;
	struct msg m;
	struct dns_query q;
	header(&m, 0x7a7a, RD, 1, 0, 0, 0);
	question(&m, "denied.example", DNS_TYPE_A);
	expect_query(&m, 0, &q);
	uint8_t out[512];
	for (int rc = 0; rc <= 5; rc++) {
		size_t n = dns_build_response(m.b, m.n, &q, rc, NULL, 0, 0, 0, 512, out, sizeof(out));
		assert_int_equal(n, 12 + 16 + 4);
		struct resp r;
		assert_true(read_response(out, n, &r));
		assert_int_equal(r.id, 0x7a7a);
		assert_int_equal(r.flags & 0x0f, rc);
		assert_int_equal(r.qd, 1);
		assert_int_equal(r.an, 0);
		assert_string_equal(r.qname, "denied.example");
	}
	/* A record type we do not serve: NOERROR, no record. */
	header(&m, 0x7a7b, RD, 1, 0, 0, 0);
	question(&m, "allowed.example", 16);
	expect_query(&m, 0, &q);
	size_t n = dns_build_response(m.b, m.n, &q, DNS_RCODE_NOERROR, NULL, 0, 0, 0, 512, out, sizeof(out));
	struct resp r;
	assert_true(read_response(out, n, &r));
	assert_int_equal(r.flags, F_QR | F_AA | F_RD | F_RA);
	assert_int_equal(r.an, 0);
	assert_int_equal(r.qtype, 16);
}

static void test_answer_errors(void **state)
{
	(void)state;
	struct msg m;
	struct dns_query q;
	uint8_t out[512];
	struct resp r;

	/* FORMERR to a question that could not be read: the header alone. */
	header(&m, 0x3131, RD, 2, 0, 0, 0);
	question(&m, "a.example", DNS_TYPE_A);
	question(&m, "b.example", DNS_TYPE_A);
	expect_query(&m, -EBADMSG, &q);
	size_t n = dns_build_response(m.b, m.n, &q, DNS_RCODE_FORMERR, NULL, 0, 0, 0, 512, out, sizeof(out));
	assert_int_equal(n, 12);
	const uint8_t formerr[] = { 0x31, 0x31, 0x85, 0x81, 0, 0, 0, 0, 0, 0, 0, 0 };
	assert_memory_equal(out, formerr, 12);
	assert_true(read_response(out, n, &r));
	/* The message may be gone: nothing but q is read. */
	assert_int_equal(dns_build_response(NULL, 0, &q, DNS_RCODE_FORMERR, NULL, 0, 0, 0, 512, out, sizeof(out)), 12);

	/* FORMERR with the question echoed when it was readable. */
	header(&m, 0x3132, RD, 1, 0, 0, 1);
	question(&m, "a.example", DNS_TYPE_A);
	opt(&m, 1232, 0, false, "\0\x0a\0\x09", 4);
	expect_query(&m, -EBADMSG, &q);
	n = dns_build_response(m.b, m.n, &q, DNS_RCODE_FORMERR, NULL, 0, 0, 0, 512, out, sizeof(out));
	assert_int_equal(n, 12 + 11 + 4);
	assert_true(read_response(out, n, &r));
	assert_int_equal(r.qd, 1);
	assert_false(r.has_opt);
	assert_int_equal(r.flags & 0x0f, DNS_RCODE_FORMERR);

	/* NOTIMP to an UPDATE: the opcode goes back, no question. */
	header(&m, 0x3133, 5 << 11, 1, 0, 0, 0);
	question(&m, "example.com", 6);
	expect_query(&m, -ENOTSUP, &q);
	n = dns_build_response(m.b, m.n, &q, DNS_RCODE_NOTIMP, NULL, 0, 0, 0, 512, out, sizeof(out));
	assert_int_equal(n, 12);
	assert_int_equal(out[2], 0x80 | 5 << 3 | 0x04);
	assert_int_equal(out[3], 0x84);

	/* BADVERS: EDNS version 1; the high bits go into the OPT record. */
	header(&m, 0x3134, RD, 1, 0, 0, 1);
	question(&m, "a.example", DNS_TYPE_A);
	opt(&m, 1232, 1, false, NULL, 0);
	expect_query(&m, 0, &q);
	assert_int_equal(q.edns_version, 1);
	n = dns_build_response(m.b, m.n, &q, DNS_RCODE_BADVERS, NULL, 0, 0, 0, 1232, out, sizeof(out));
	assert_true(read_response(out, n, &r));
	assert_int_equal(r.flags & 0x0f, 0);
	assert_true(r.has_opt);
	assert_int_equal(r.opt_ext_rcode, 1);
	assert_int_equal(r.opt_version, 0);
}

static void test_answer_bad_args(void **state)
{
	(void)state;
	struct msg m;
	struct dns_query q;
	header(&m, 1, RD, 1, 0, 0, 0);
	question(&m, "a.example", DNS_TYPE_A);
	expect_query(&m, 0, &q);
	const uint8_t addrs[1][16] = { { 198, 18, 0, 1 } };
	uint8_t out[512];
	assert_int_equal(dns_build_response(m.b, m.n, &q, 16, NULL, 0, 0, 0, 512, out, sizeof(out)), 0);
	assert_int_equal(dns_build_response(m.b, m.n, &q, -1, NULL, 0, 0, 0, 512, out, sizeof(out)), 0);
	assert_int_equal(dns_build_response(m.b, m.n, &q, 0, addrs, 1, 8, 0, 512, out, sizeof(out)), 0);
	assert_int_equal(dns_build_response(m.b, m.n, &q, 0, NULL, 1, 4, 0, 512, out, sizeof(out)), 0);
	assert_int_equal(dns_build_response(m.b, m.n - 1, &q, 0, NULL, 0, 0, 0, 512, out, sizeof(out)), 0);
	assert_int_equal(dns_build_response(NULL, m.n, &q, 0, NULL, 0, 0, 0, 512, out, sizeof(out)), 0);
	assert_int_equal(dns_build_response(m.b, m.n, NULL, 0, NULL, 0, 0, 0, 512, out, sizeof(out)), 0);
	assert_int_equal(dns_build_response(m.b, m.n, &q, 0, NULL, 0, 0, 0, 512, NULL, 512), 0);

	/* Addresses need a question to point at. */
	header(&m, 1, RD, 0, 0, 0, 0);
	expect_query(&m, -EBADMSG, &q);
	assert_int_equal(dns_build_response(m.b, m.n, &q, 0, addrs, 1, 4, 0, 512, out, sizeof(out)), 0);

	/* rcode 4095 is the largest; with EDNS. */
	header(&m, 1, RD, 1, 0, 0, 1);
	question(&m, "a.example", DNS_TYPE_A);
	opt(&m, 1232, 0, false, NULL, 0);
	expect_query(&m, 0, &q);
	size_t n = dns_build_response(m.b, m.n, &q, 4095, NULL, 0, 0, 0, 512, out, sizeof(out));
	struct resp r;
	assert_true(read_response(out, n, &r));
	assert_int_equal(r.flags & 0x0f, 15);
	assert_int_equal(r.opt_ext_rcode, 255);
	assert_int_equal(dns_build_response(m.b, m.n, &q, 4096, NULL, 0, 0, 0, 512, out, sizeof(out)), 0);
}

static void test_out_cap(void **state)
{
	(void)state;
	struct msg m;
	struct dns_query q;
	header(&m, 1, RD, 1, 0, 0, 0);
	question(&m, "a.example", DNS_TYPE_A);
	expect_query(&m, 0, &q);
	const uint8_t addrs[3][16] = { { 198, 18, 0, 1 }, { 198, 18, 0, 2 }, { 198, 18, 0, 3 } };
	uint8_t out[512];
	size_t need = 12 + 15 + 3 * 16;
	assert_int_equal(dns_build_response(m.b, m.n, &q, 0, addrs, 3, 4, 1, 512, out, need), need);
	memset(out, 0xee, sizeof(out));
	assert_int_equal(dns_build_response(m.b, m.n, &q, 0, addrs, 3, 4, 1, 512, out, need - 1), 0);
	assert_int_equal(out[0], 0xee); /* nothing written */
	assert_int_equal(dns_build_response(m.b, m.n, &q, 0, addrs, 3, 4, 1, 512, out, 0), 0);
}

/* Answers longer than the client takes: TC set, no answer records. */
static void test_truncation(void **state)
{
	(void)state;
	struct msg m;
	struct dns_query q;
	static uint8_t addrs[200][16];
	for (int i = 0; i < 200; i++) {
		addrs[i][0] = 0xfd;
		addrs[i][15] = (uint8_t)i;
	}
	static uint8_t out[DNS_TCP_MAX];
	struct resp r;

	/* Without EDNS: 512 bytes. 12 + 17 + k * 28 <= 512 gives k = 17. */
	header(&m, 0x5151, RD, 1, 0, 0, 0);
	question(&m, "example.com", DNS_TYPE_AAAA);
	expect_query(&m, 0, &q);
	size_t n = dns_build_response(m.b, m.n, &q, 0, addrs, 17, 16, 60, dns_udp_limit(&q), out, sizeof(out));
	assert_int_equal(n, 12 + 17 + 17 * 28);
	assert_true(read_response(out, n, &r));
	assert_int_equal(r.an, 17);
	assert_int_equal(r.flags & F_TC, 0);
	n = dns_build_response(m.b, m.n, &q, 0, addrs, 18, 16, 60, dns_udp_limit(&q), out, sizeof(out));
	assert_int_equal(n, 12 + 17);
	assert_true(read_response(out, n, &r));
	assert_int_equal(r.an, 0);
	assert_int_equal(r.qd, 1);
	assert_int_equal(r.flags, F_QR | F_AA | F_TC | F_RD | F_RA);
	/* The same over TCP fits. */
	n = dns_build_response(m.b, m.n, &q, 0, addrs, 200, 16, 60, DNS_TCP_MAX, out, sizeof(out));
	assert_true(read_response(out, n, &r));
	assert_int_equal(r.an, 200);
	assert_int_equal(r.flags & F_TC, 0);
	/* A max_size below 512 counts as 512; a huge n_addrs does not overflow. */
	n = dns_build_response(m.b, m.n, &q, 0, addrs, 17, 16, 60, 20, out, sizeof(out));
	assert_true(read_response(out, n, &r));
	assert_int_equal(r.an, 17);
	n = dns_build_response(m.b, m.n, &q, 0, addrs, SIZE_MAX / 2, 16, 60, DNS_TCP_MAX, out, sizeof(out));
	assert_int_equal(n, 12 + 17);
	assert_true(out[2] & 0x02);

	/* With EDNS 1232 asked: 12 + 17 + 11 + k * 28 <= 1232 gives k = 42. */
	header(&m, 0x5152, RD, 1, 0, 0, 1);
	question(&m, "example.com", DNS_TYPE_AAAA);
	opt(&m, 1232, 0, false, NULL, 0);
	expect_query(&m, 0, &q);
	n = dns_build_response(m.b, m.n, &q, 0, addrs, 42, 16, 60, dns_udp_limit(&q), out, sizeof(out));
	assert_int_equal(n, 40 + 42 * 28);
	assert_true(read_response(out, n, &r));
	assert_int_equal(r.an, 42);
	n = dns_build_response(m.b, m.n, &q, 0, addrs, 43, 16, 60, dns_udp_limit(&q), out, sizeof(out));
	assert_true(read_response(out, n, &r));
	assert_int_equal(r.an, 0);
	assert_true(r.flags & F_TC);
	assert_true(r.has_opt); /* the OPT record stays */
}

static void test_tcp_frame(void **state)
{
	(void)state;
	const uint8_t buf[] = { 0x00, 0x1d, 1, 2, 3 };
	assert_int_equal(dns_tcp_frame_len(buf, 0), 0);
	assert_int_equal(dns_tcp_frame_len(buf, 1), 0);
	assert_int_equal(dns_tcp_frame_len(buf, 2), 2 + 29);
	assert_int_equal(dns_tcp_frame_len(buf, sizeof(buf)), 2 + 29);
	const uint8_t big[] = { 0xff, 0xff };
	assert_int_equal(dns_tcp_frame_len(big, 2), 2 + 65535);
	assert_int_equal(dns_tcp_frame_len(NULL, 2), 0);
	uint8_t p[2];
	dns_tcp_put_len(p, 0x1234);
	assert_int_equal(p[0], 0x12);
	assert_int_equal(p[1], 0x34);
	assert_int_equal(dns_tcp_frame_len(p, 2), 2 + 0x1234);
}

/* ---- The address map ------------------------------------------------------------ */

static void test_map_assign(void **state)
{
	(void)state;
	struct dns_map *m = NULL;
	assert_int_equal(dns_map_new(NULL, &m), 0);
	uint8_t a4[4], a6[16], b4[4], b6[16], c4[4], c6[16];

	assert_int_equal(dns_map_assign(m, "example.com", a4, a6), 0);
	/* The first pair is the one after the network address. */
	const uint8_t first4[4] = { 198, 18, 0, 1 };
	const uint8_t first6[16] = { 0xfd, 0x53, 0x72, 0x74, 0x73, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1 };
	assert_memory_equal(a4, first4, 4);
	assert_memory_equal(a6, first6, 16);

	assert_int_equal(dns_map_assign(m, "example.org", b4, b6), 0);
	assert_memory_not_equal(a4, b4, 4);
	assert_memory_not_equal(a6, b6, 16);
	const uint8_t second4[4] = { 198, 18, 0, 2 };
	assert_memory_equal(b4, second4, 4);

	/* The same name, the same pair, however often. */
	for (int i = 0; i < 3; i++) {
		assert_int_equal(dns_map_assign(m, "example.com", c4, c6), 0);
		assert_memory_equal(a4, c4, 4);
		assert_memory_equal(a6, c6, 16);
	}
	assert_int_equal(dns_map_assign(m, "example.com", NULL, NULL), 0);
	assert_int_equal(dns_map_assign(m, "example.com", NULL, c6), 0);
	assert_memory_equal(a6, c6, 16);

	/* Back from address to name. */
	assert_string_equal(dns_map_name(m, AF_INET, a4), "example.com");
	assert_string_equal(dns_map_name(m, AF_INET6, a6), "example.com");
	assert_string_equal(dns_map_name(m, AF_INET, b4), "example.org");
	assert_string_equal(dns_map_name(m, AF_INET6, b6), "example.org");
	/* A dual-stack socket's view of the IPv4 address. */
	uint8_t mapped[16] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
	memcpy(mapped + 12, a4, 4);
	assert_string_equal(dns_map_name(m, AF_INET6, mapped), "example.com");
	assert_true(dns_map_in_range(m, AF_INET6, mapped));

	/* Bad names. */
	char longname[300];
	memset(longname, 'a', sizeof(longname) - 1);
	longname[299] = '\0';
	assert_int_equal(dns_map_assign(m, longname, a4, a6), -EINVAL);
	longname[253] = '\0';
	assert_int_equal(dns_map_assign(m, longname, a4, a6), 0);
	assert_string_equal(dns_map_name(m, AF_INET, a4), longname);
	assert_int_equal(dns_map_assign(m, "", a4, a6), -EINVAL);
	assert_int_equal(dns_map_assign(m, NULL, a4, a6), -EINVAL);
	assert_int_equal(dns_map_assign(NULL, "x", a4, a6), -EINVAL);

	dns_map_free(m);
	dns_map_free(NULL);
}

static void test_map_lookup_misses(void **state)
{
	(void)state;
	struct dns_map *m = NULL;
	assert_int_equal(dns_map_new(NULL, &m), 0);
	uint8_t a4[4], a6[16];
	assert_int_equal(dns_map_assign(m, "one.example", a4, a6), 0);

	/* In the prefixes, never handed out: in range, no name. */
	const uint8_t net4[4] = { 198, 18, 0, 0 };
	const uint8_t next4[4] = { 198, 18, 0, 2 };
	const uint8_t last4[4] = { 198, 19, 255, 255 };
	const uint8_t net6[16] = { 0xfd, 0x53, 0x72, 0x74, 0x73 };
	const uint8_t next6[16] = { 0xfd, 0x53, 0x72, 0x74, 0x73, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2 };
	const uint8_t high6[16] = { 0xfd, 0x53, 0x72, 0x74, 0x73, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff };
	for (int i = 0; i < 3; i++) {
		const uint8_t *a = i == 0 ? net4 : i == 1 ? next4 : last4;
		assert_null(dns_map_name(m, AF_INET, a));
		assert_true(dns_map_in_range(m, AF_INET, a));
		const uint8_t *b = i == 0 ? net6 : i == 1 ? next6 : high6;
		assert_null(dns_map_name(m, AF_INET6, b));
		assert_true(dns_map_in_range(m, AF_INET6, b));
	}

	/* Outside the prefixes. */
	const uint8_t out4[][4] = { { 198, 17, 255, 255 }, { 198, 20, 0, 1 }, { 127, 0, 0, 1 }, { 10, 0, 0, 1 }, { 0, 0, 0, 1 } };
	for (size_t i = 0; i < sizeof(out4) / sizeof(out4[0]); i++) {
		assert_null(dns_map_name(m, AF_INET, out4[i]));
		assert_false(dns_map_in_range(m, AF_INET, out4[i]));
	}
	/* Close to the IPv6 prefix, off in one bit or in the 64 bits above
	 * the last 32. */
	uint8_t near6[16];
	for (int bit = 0; bit < 96; bit++) {
		memcpy(near6, a6, 16);
		near6[bit / 8] ^= (uint8_t)(0x80 >> (bit % 8));
		assert_null(dns_map_name(m, AF_INET6, near6));
		assert_false(dns_map_in_range(m, AF_INET6, near6));
	}
	const uint8_t lo6[16] = { [15] = 1 };
	assert_null(dns_map_name(m, AF_INET6, lo6));
	assert_false(dns_map_in_range(m, AF_INET6, lo6));
	/* Wrong family for the bytes, bad arguments. */
	assert_null(dns_map_name(m, AF_UNIX, a4));
	assert_false(dns_map_in_range(m, AF_UNIX, a4));
	assert_null(dns_map_name(m, AF_INET, NULL));
	assert_null(dns_map_name(NULL, AF_INET, a4));
	assert_false(dns_map_in_range(NULL, AF_INET, a4));
	/* The IPv4-mapped form of an address outside the IPv4 prefix. */
	uint8_t mapped[16] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 127, 0, 0, 1 };
	assert_false(dns_map_in_range(m, AF_INET6, mapped));
	dns_map_free(m);
}

static void test_map_options(void **state)
{
	(void)state;
	struct dns_map *m = (struct dns_map *)0x1;
	struct dns_map_options o = { .v4 = { 10, 77, 0, 0 }, .v4_len = 24, .v6 = { 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10, 0 }, .v6_len = 120 };

	/* Host bits set, lengths out of range, overlap with IPv4-mapped. */
	struct dns_map_options bad = o;
	bad.v4[3] = 1;
	assert_int_equal(dns_map_new(&bad, &m), -EINVAL);
	bad = o;
	bad.v6[15] = 1;
	assert_int_equal(dns_map_new(&bad, &m), -EINVAL);
	bad = o;
	bad.v4_len = 32;
	assert_int_equal(dns_map_new(&bad, &m), -EINVAL);
	bad = o;
	bad.v6_len = 128;
	assert_int_equal(dns_map_new(&bad, &m), -EINVAL);
	bad = o;
	memset(bad.v6, 0, 16);
	bad.v6[10] = bad.v6[11] = 0xff;
	bad.v6_len = 112;
	assert_int_equal(dns_map_new(&bad, &m), -EINVAL);
	bad.v6[10] = bad.v6[11] = 0;
	bad.v6_len = 8; /* ::/8 contains ::ffff:0:0/96 */
	assert_int_equal(dns_map_new(&bad, &m), -EINVAL);
	/* More names than a /24 holds (255 past the network address). */
	bad = o;
	bad.capacity = 256;
	assert_int_equal(dns_map_new(&bad, &m), -EINVAL);
	bad.capacity = DNS_MAP_CAPACITY_MAX + 1;
	bad.v4_len = 1;
	bad.v4[0] = 0;
	bad.v6_len = 64;
	bad.v6[14] = 0;
	assert_int_equal(dns_map_new(&bad, &m), -EINVAL);
	assert_ptr_equal(m, (struct dns_map *)0x1); /* untouched */
	assert_int_equal(dns_map_new(&o, NULL), -EINVAL);

	/* The default capacity is cut down to what the prefixes hold: 255. */
	assert_int_equal(dns_map_new(&o, &m), 0);
	char name[32];
	uint8_t a4[4], a6[16];
	for (int i = 1; i <= 255; i++) {
		snprintf(name, sizeof(name), "h%d.example", i);
		assert_int_equal(dns_map_assign(m, name, a4, a6), 0);
		assert_int_equal(a4[3], i);
		assert_int_equal(a6[15], i);
		assert_int_equal(a6[14], 0x10);
	}
	assert_int_equal(dns_map_assign(m, "one.more", a4, a6), -ENOSPC);
	const uint8_t last4[4] = { 10, 77, 0, 255 };
	assert_string_equal(dns_map_name(m, AF_INET, last4), "h255.example");
	dns_map_free(m);

	/* An IPv6 prefix shorter than /96: offsets sit in the last 32 bits. */
	o.v6_len = 64;
	o.v6[14] = 0;
	o.capacity = 10;
	assert_int_equal(dns_map_new(&o, &m), 0);
	assert_int_equal(dns_map_assign(m, "a.example", a4, a6), 0);
	const uint8_t expect6[16] = { 0xfd, [15] = 1 };
	assert_memory_equal(a6, expect6, 16);
	assert_string_equal(dns_map_name(m, AF_INET6, a6), "a.example");
	uint8_t other6[16];
	memcpy(other6, a6, 16);
	other6[8] = 1; /* same last 32 bits, in the prefix, never handed out */
	assert_null(dns_map_name(m, AF_INET6, other6));
	assert_true(dns_map_in_range(m, AF_INET6, other6));
	dns_map_free(m);
}

static void test_map_full(void **state)
{
	(void)state;
	struct dns_map_options o = { .capacity = 3 };
	struct dns_map *m = NULL;
	assert_int_equal(dns_map_new(&o, &m), 0);
	uint8_t a4[3][4], x4[4], x6[16];
	assert_int_equal(dns_map_assign(m, "a.example", a4[0], NULL), 0);
	assert_int_equal(dns_map_assign(m, "b.example", a4[1], NULL), 0);
	assert_int_equal(dns_map_assign(m, "c.example", a4[2], NULL), 0);
	memset(x4, 0x77, 4);
	assert_int_equal(dns_map_assign(m, "d.example", x4, x6), -ENOSPC);
	assert_int_equal(x4[0], 0x77); /* untouched */
	/* Names already held still resolve, both ways; nothing was recycled. */
	assert_int_equal(dns_map_assign(m, "a.example", x4, NULL), 0);
	assert_memory_equal(x4, a4[0], 4);
	assert_string_equal(dns_map_name(m, AF_INET, a4[2]), "c.example");
	const uint8_t fourth[4] = { 198, 18, 0, 4 };
	assert_null(dns_map_name(m, AF_INET, fourth));
	dns_map_free(m);
}

/* 100 000 names: every one distinct, every one found again both ways.
 * Prints the time taken; asserts nothing about it. */
static void test_map_many(void **state)
{
	(void)state;
	enum { N = 100000 };
	struct dns_map_options o = { .capacity = N };
	struct dns_map *m = NULL;
	assert_int_equal(dns_map_new(&o, &m), 0);
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	char name[64];
	uint8_t a4[4], a6[16];
	for (unsigned i = 0; i < N; i++) {
		snprintf(name, sizeof(name), "host-%u.example.com", i);
		assert_int_equal(dns_map_assign(m, name, a4, a6), 0);
		uint32_t off = (uint32_t)(a4[0] - 198) << 24 | (uint32_t)(a4[1] - 18) << 16 | (uint32_t)a4[2] << 8 | a4[3];
		assert_int_equal(off, i + 1);
	}
	for (unsigned i = 0; i < N; i++) {
		snprintf(name, sizeof(name), "host-%u.example.com", i);
		assert_int_equal(dns_map_assign(m, name, a4, a6), 0);
		const char *back = dns_map_name(m, AF_INET, a4);
		assert_non_null(back);
		assert_string_equal(back, name);
		assert_ptr_equal(dns_map_name(m, AF_INET6, a6), back);
	}
	assert_int_equal(dns_map_assign(m, "one.more", a4, a6), -ENOSPC);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
	printf("dns map: %d names assigned, then each looked up both ways, in %.1f ms\n", N, ms);
	dns_map_free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_glibc_plain),
		cmocka_unit_test(test_glibc_edns),
		cmocka_unit_test(test_cares),
		cmocka_unit_test(test_dnspython_and_dig),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_name_limits),
		cmocka_unit_test(test_truncated),
		cmocka_unit_test(test_counts),
		cmocka_unit_test(test_opt_options),
		cmocka_unit_test(test_trailing_garbage),
		cmocka_unit_test(test_pointers),
		cmocka_unit_test(test_not_queries),
		cmocka_unit_test(test_answer_a),
		cmocka_unit_test(test_answer_aaaa_edns),
		cmocka_unit_test(test_answer_rcodes),
		cmocka_unit_test(test_answer_errors),
		cmocka_unit_test(test_answer_bad_args),
		cmocka_unit_test(test_out_cap),
		cmocka_unit_test(test_truncation),
		cmocka_unit_test(test_tcp_frame),
		cmocka_unit_test(test_map_assign),
		cmocka_unit_test(test_map_lookup_misses),
		cmocka_unit_test(test_map_options),
		cmocka_unit_test(test_map_full),
		cmocka_unit_test(test_map_many),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
