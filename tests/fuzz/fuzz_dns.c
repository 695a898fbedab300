/* libFuzzer target: the DNS query parser against a reference written apart, every answer built from what it read, and the address map with names from the input. */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "proxy/dns.h"

#define CHECK(x)                  \
	do {                      \
		if (!(x))         \
			abort();  \
	} while (0)

static unsigned be16(const uint8_t *p)
{
	return (unsigned)p[0] << 8 | p[1];
}

/* ---- What the parser should say, from RFC 1035 and 6891 read afresh ---------- */

struct ref {
	int ret;
	char name[300];
	size_t name_len;
	bool plain;
	size_t question_end;
	bool edns;
	unsigned udp, version;
	bool dnssec_ok;
};

static bool ref_plain_byte(uint8_t c)
{
	return memchr("abcdefghijklmnopqrstuvwxyz0123456789-_", c, 38) != NULL;
}

static void ref_parse(const uint8_t *d, size_t n, struct ref *r)
{
	memset(r, 0, sizeof(*r));
	if (n < 12 || (d[2] & 0x80)) {
		r->ret = -EINVAL;
		return;
	}
	if (d[2] & 0x78) {
		r->ret = -ENOTSUP;
		return;
	}
	r->ret = -EBADMSG;
	if (be16(d + 4) != 1)
		return;
	/* First find where the name ends, then read it. */
	size_t end = 12;
	while (end < n && d[end] != 0 && d[end] < 64)
		end += 1 + d[end];
	if (end >= n || d[end] != 0 || end + 1 - 12 > 255 || n - (end + 1) < 4)
		return;
	r->plain = end > 12;
	for (size_t p = 12; p < end; p += 1 + d[p]) {
		if (p > 12)
			r->name[r->name_len++] = '.';
		for (size_t i = 1; i <= d[p]; i++) {
			uint8_t c = d[p + i];
			if (c >= 'A' && c <= 'Z')
				c += 32;
			r->plain = r->plain && ref_plain_byte(c);
			r->name[r->name_len++] = (char)c;
		}
	}
	r->question_end = end + 5;
	if (be16(d + 6) || be16(d + 8) || be16(d + 10) > 1)
		return;
	size_t p = r->question_end;
	if (be16(d + 10) == 1) {
		if (n - p < 11 || d[p] != 0 || be16(d + p + 1) != 41)
			return;
		size_t rdlen = be16(d + p + 9);
		size_t o = p + 11;
		if (n - o < rdlen)
			return;
		size_t opt_end = o + rdlen;
		while (o + 4 <= opt_end)
			o += 4 + be16(d + o + 2);
		if (o != opt_end)
			return;
		r->edns = true;
		r->udp = be16(d + p + 3);
		r->version = d[p + 6];
		r->dnssec_ok = d[p + 7] >> 7;
		p = opt_end;
	}
	if (p != n) {
		r->edns = false;
		return;
	}
	r->ret = 0;
}

/* ---- A response reader, apart from the module ---------------------------------- */

struct resp {
	unsigned id, flags, qd, an, ns, ar;
	size_t qname_end;
	uint8_t opt_ext;
	bool has_opt, opt_do;
};

/* Skips a name, following at most 8 pointers, each strictly backwards. */
static bool skip_name(const uint8_t *b, size_t len, size_t *pos)
{
	size_t p = *pos;
	bool jumped = false;
	for (int hops = 0;;) {
		if (p >= len)
			return false;
		if ((b[p] & 0xc0) == 0xc0) {
			if (p + 1 >= len || ++hops > 8)
				return false;
			size_t to = (size_t)(b[p] & 0x3f) << 8 | b[p + 1];
			if (to >= p)
				return false;
			if (!jumped)
				*pos = p + 2;
			jumped = true;
			p = to;
			continue;
		}
		if (b[p] & 0xc0)
			return false;
		if (b[p] == 0)
			break;
		p += 1 + b[p];
	}
	if (!jumped)
		*pos = p + 1;
	return true;
}

static bool read_response(const uint8_t *b, size_t len, struct resp *r, const uint8_t (*addrs)[16], size_t addr_len, uint32_t ttl)
{
	if (len < 12)
		return false;
	r->id = be16(b);
	r->flags = be16(b + 2);
	r->qd = be16(b + 4);
	r->an = be16(b + 6);
	r->ns = be16(b + 8);
	r->ar = be16(b + 10);
	if (!(r->flags & 0x8000) || r->qd > 1 || r->ns || r->ar > 1)
		return false;
	size_t pos = 12;
	if (r->qd) {
		if (!skip_name(b, len, &pos) || len - pos < 4)
			return false;
		pos += 4;
	}
	r->qname_end = pos;
	for (unsigned i = 0; i < r->an; i++) {
		/* Our answers always point at the question's name. */
		if (len - pos < 12 || be16(b + pos) != 0xc00c)
			return false;
		unsigned type = be16(b + pos + 2), rdlen = be16(b + pos + 10);
		uint32_t t = (uint32_t)be16(b + pos + 6) << 16 | be16(b + pos + 8);
		if (type != (addr_len == 4 ? 1u : 28u) || be16(b + pos + 4) != 1 || t != ttl || rdlen != addr_len)
			return false;
		pos += 12;
		if (len - pos < rdlen || memcmp(b + pos, addrs[i], rdlen) != 0)
			return false;
		pos += rdlen;
	}
	if (r->ar) {
		if (len - pos < 11 || b[pos] != 0 || be16(b + pos + 1) != 41 || be16(b + pos + 3) != 1232 ||
		    b[pos + 6] != 0 || (b[pos + 7] & 0x7f) || b[pos + 8] || be16(b + pos + 9))
			return false;
		r->has_opt = true;
		r->opt_ext = b[pos + 5];
		r->opt_do = b[pos + 7] >> 7;
		pos += 11;
	}
	return pos == len;
}

#define N_ADDRS_MAX 4096
static uint8_t addr_pool[N_ADDRS_MAX][16];
static uint8_t out[DNS_TCP_MAX + 16];
static uint8_t again[DNS_TCP_MAX + 16];

/* One answer: built, read back, and built again into exactly its length. */
static void check_one(const uint8_t *data, size_t size, const struct dns_query *q, int rc, size_t n_addrs,
		      size_t al, uint32_t ttl, size_t max)
{
	const uint8_t (*addrs)[16] = n_addrs ? (const uint8_t (*)[16])addr_pool : NULL;
	size_t len = dns_build_response(data, size, q, rc, addrs, n_addrs, al, ttl, max, out, sizeof(out));
	bool valid = rc >= 0 && rc <= 4095 && (rc <= 15 || q->edns) && (n_addrs == 0 || q->question_end != 0);
	CHECK(valid == (len > 0));
	if (!len)
		return;
	size_t limit = max < 512 ? 512 : max > DNS_TCP_MAX ? DNS_TCP_MAX : max;
	CHECK(len <= limit);
	CHECK(len <= sizeof(out));
	struct resp r = { 0 };
	CHECK(read_response(out, len, &r, addrs, al, ttl));
	CHECK(r.id == q->id);
	CHECK(((r.flags >> 11) & 15) == q->opcode);
	CHECK(r.flags & 0x0400);                       /* AA */
	CHECK(!!(r.flags & 0x0100) == q->rd);          /* RD */
	CHECK(r.flags & 0x0080);                       /* RA */
	CHECK((r.flags & 0x0070) == 0);                /* Z, AD, CD */
	CHECK((int)(r.flags & 15) == (rc & 15));
	CHECK(r.qd == (q->question_end ? 1u : 0u));
	CHECK(r.has_opt == q->edns);
	if (r.has_opt)
		CHECK(r.opt_ext == (rc >> 4) && r.opt_do == q->edns_do);
	if (q->question_end)
		CHECK(memcmp(out + 12, data + 12, q->question_end - 12) == 0);
	size_t whole = 12 + (q->question_end ? q->question_end - 12 : 0) + n_addrs * (12 + al) + (q->edns ? 11 : 0);
	bool tc = (r.flags & 0x0200) != 0;
	CHECK(tc == (whole > limit));
	CHECK(r.an == (tc ? 0 : n_addrs));
	CHECK(len == (tc ? whole - n_addrs * (12 + al) : whole));
	/* Exactly len bytes are needed, and the same ones come out. */
	CHECK(dns_build_response(data, size, q, rc, addrs, n_addrs, al, ttl, max, again, len - 1) == 0);
	CHECK(dns_build_response(data, size, q, rc, addrs, n_addrs, al, ttl, max, again, len) == len);
	CHECK(memcmp(out, again, len) == 0);
	/* TCP framing round trip. */
	uint8_t pre[2];
	dns_tcp_put_len(pre, len);
	CHECK(dns_tcp_frame_len(pre, 2) == 2 + len);
}

static void check_answers(const uint8_t *data, size_t size, const struct dns_query *q, int parsed)
{
	if (addr_pool[0][0] == 0) {
		for (size_t i = 0; i < N_ADDRS_MAX; i++) {
			const uint8_t a[16] = { 198, 18, (uint8_t)(i >> 8), (uint8_t)i, 0xfd, 0x53, 0x72, 0x74, 0x73,
						0, 0, 0, 0, 0, (uint8_t)(i >> 8), (uint8_t)i };
			memcpy(addr_pool[i], a, 16);
		}
	}
	const int rcodes[] = { 0, 1, 2, 3, 4, 5, 15, 16, 4095, 4096, -1 };
	const size_t maxes[] = { dns_udp_limit(q), 512, 0, 1232, DNS_TCP_MAX, (size_t)-1 };
	uint32_t ttl = size >= 4 ? (uint32_t)be16(data) << 16 | be16(data + 2) : 5;

	for (size_t ri = 0; ri < sizeof(rcodes) / sizeof(rcodes[0]); ri++)
		for (size_t n_addrs = 0; n_addrs <= 3; n_addrs++)
			for (size_t al = 4; al <= 16; al += 12)
				for (size_t mi = 0; mi < sizeof(maxes) / sizeof(maxes[0]); mi++)
					check_one(data, size, q, rcodes[ri], n_addrs, al, ttl, maxes[mi]);

	/* Around the truncation point: the most answers that fit, and one more. */
	if (q->question_end) {
		size_t base = q->question_end + (q->edns ? 11 : 0);
		for (size_t al = 4; al <= 16; al += 12) {
			for (size_t mi = 0; mi < sizeof(maxes) / sizeof(maxes[0]); mi++) {
				size_t limit = maxes[mi] < 512 ? 512 : maxes[mi] > DNS_TCP_MAX ? DNS_TCP_MAX : maxes[mi];
				size_t k = (limit - base) / (12 + al);
				CHECK(k + 1 <= N_ADDRS_MAX);
				check_one(data, size, q, DNS_RCODE_NOERROR, k, al, ttl, maxes[mi]);
				check_one(data, size, q, DNS_RCODE_NOERROR, k + 1, al, ttl, maxes[mi]);
			}
		}
	}
	/* An error answer is what the caller sends for a refused query. */
	if (parsed == -EBADMSG || parsed == -ENOTSUP) {
		size_t len = dns_build_response(q->question_end ? data : NULL, size, q,
						parsed == -EBADMSG ? DNS_RCODE_FORMERR : DNS_RCODE_NOTIMP, NULL, 0, 0, 0, 512,
						out, sizeof(out));
		CHECK(len >= 12 && len <= 512);
	}
}

/* ---- The map -------------------------------------------------------------------- */

struct given {
	char name[DNS_NAME_MAX + 1];
	uint8_t v4[4], v6[16];
};

static void check_map(const uint8_t *data, size_t size, const struct dns_query *q, bool have_q)
{
	/* Small maps (from the first byte), sometimes in a prefix from the input. */
	struct dns_map_options o = { .capacity = size ? 1 + data[0] % 16 : 4 };
	if (size >= 24 && (data[1] & 1)) {
		memcpy(o.v4, data + 2, 4);
		o.v4_len = data[6] % 33;
		memcpy(o.v6, data + 7, 16);
		o.v6_len = data[23] % 129;
	}
	struct dns_map *m = NULL;
	if (dns_map_new(&o, &m) < 0) {
		CHECK(m == NULL);
		o = (struct dns_map_options){ .capacity = size ? 1 + data[0] % 16 : 4 };
		CHECK(dns_map_new(&o, &m) == 0);
	}
	static struct given given[32];
	size_t n_given = 0;

	/* Names: the question's, then the input cut at each NUL, twice over. */
	char name[DNS_NAME_MAX + 2];
	for (int round = 0; round < 2; round++) {
		if (have_q && q->name_len > 0 && q->name_len == strlen(q->name)) {
			uint8_t v4[4], v6[16];
			int r = dns_map_assign(m, q->name, v4, v6);
			CHECK(r == 0 || r == -ENOSPC);
		}
		size_t start = 0;
		for (size_t i = 0; i <= size; i++) {
			if (i < size && data[i] != 0)
				continue;
			size_t len = i - start;
			if (len > DNS_NAME_MAX + 1)
				len = DNS_NAME_MAX + 1;
			memcpy(name, data + start, len);
			name[len] = '\0';
			start = i + 1;
			uint8_t v4[4], v6[16];
			memset(v4, 0xaa, 4);
			int r = dns_map_assign(m, name, v4, v6);
			if (len == 0 || len > DNS_NAME_MAX) {
				CHECK(r == -EINVAL);
				continue;
			}
			CHECK(r == 0 || r == -ENOSPC);
			if (r < 0) {
				CHECK(v4[0] == 0xaa);
				continue;
			}
			CHECK(dns_map_in_range(m, AF_INET, v4) && dns_map_in_range(m, AF_INET6, v6));
			const char *back = dns_map_name(m, AF_INET, v4);
			CHECK(back && strcmp(back, name) == 0);
			CHECK(dns_map_name(m, AF_INET6, v6) == back);
			uint8_t mapped[16] = { [10] = 0xff, [11] = 0xff };
			memcpy(mapped + 12, v4, 4);
			CHECK(dns_map_name(m, AF_INET6, mapped) == back);
			/* Same name, same pair; another name, another pair. */
			for (size_t g = 0; g < n_given; g++) {
				bool same = strcmp(given[g].name, name) == 0;
				CHECK(same == (memcmp(given[g].v4, v4, 4) == 0));
				CHECK(same == (memcmp(given[g].v6, v6, 16) == 0));
			}
			if (n_given < sizeof(given) / sizeof(given[0])) {
				memcpy(given[n_given].name, name, len + 1);
				memcpy(given[n_given].v4, v4, 4);
				memcpy(given[n_given].v6, v6, 16);
				n_given++;
			}
		}
	}
	/* Any address from the input: a name found is one that maps back to it. */
	for (size_t i = 0; i + 16 <= size; i += 16) {
		const char *n4 = dns_map_name(m, AF_INET, data + i);
		const char *n6 = dns_map_name(m, AF_INET6, data + i);
		if (n4) {
			uint8_t v4[4];
			CHECK(dns_map_in_range(m, AF_INET, data + i));
			CHECK(dns_map_assign(m, n4, v4, NULL) == 0 && memcmp(v4, data + i, 4) == 0);
		}
		if (n6) {
			uint8_t v4[4], v6[16];
			CHECK(dns_map_in_range(m, AF_INET6, data + i));
			CHECK(dns_map_assign(m, n6, v4, v6) == 0);
			CHECK(memcmp(v6, data + i, 16) == 0 || memcmp(v4, data + i + 12, 4) == 0);
		}
	}
	dns_map_free(m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dns_query q;
	memset(&q, 0xa5, sizeof(q));
	int r = dns_parse_query(data, size, &q);
	struct ref ref;
	ref_parse(data, size, &ref);
	CHECK(r == ref.ret);
	if (r != -EINVAL) {
		CHECK(q.id == be16(data));
		CHECK(q.opcode == ((data[2] >> 3) & 15));
		CHECK(q.rd == (data[2] & 1));
		CHECK(q.question_end == ref.question_end);
		CHECK(q.edns == ref.edns);
	}
	if (r == 0 || (r == -EBADMSG && q.question_end)) {
		CHECK(q.name_len == ref.name_len && q.name_len <= DNS_NAME_MAX);
		CHECK(memcmp(q.name, ref.name, q.name_len) == 0 && q.name[q.name_len] == '\0');
		CHECK(q.name_plain == ref.plain);
		CHECK(q.qtype == be16(data + q.question_end - 4));
		CHECK(q.qclass == be16(data + q.question_end - 2));
	} else if (r != -EINVAL) {
		CHECK(q.name_len == 0 && q.name[0] == '\0' && !q.name_plain);
	}
	if (r == 0 && q.edns) {
		CHECK(q.edns_udp_size == ref.udp && q.edns_version == ref.version && q.edns_do == ref.dnssec_ok);
		size_t lim = dns_udp_limit(&q);
		CHECK(lim >= 512 && lim <= 1232);
	}
	if (r != -EINVAL)
		check_answers(data, size, &q, r);
	CHECK(dns_tcp_frame_len(data, size) == (size < 2 ? 0 : 2 + be16(data)));
	check_map(data, size, &q, r == 0);
	return 0;
}
