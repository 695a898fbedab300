/* The DNS responder of the transparent network mode: query parser, response builder and the map of handed-out addresses; no I/O, no policy. */
#include "proxy/dns.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>

/* Header bits (RFC 1035 4.1.1): flags byte 2 is QR OPCODE(4) AA TC RD,
 * byte 3 is RA Z AD CD RCODE(4). */
#define DNS_F2_QR 0x80
#define DNS_F2_AA 0x04
#define DNS_F2_TC 0x02
#define DNS_F2_RD 0x01
#define DNS_F3_RA 0x80

/* OPT record: root owner (1) + TYPE + CLASS + TTL + RDLENGTH. */
#define DNS_OPT_LEN (1 + 2 + 2 + 4 + 2)
/* An answer: owner pointer + TYPE + CLASS + TTL + RDLENGTH, then the address. */
#define DNS_RR_FIXED (2 + 2 + 2 + 4 + 2)

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)((p[0] << 8) | p[1]);
}

static void put16(uint8_t *p, unsigned v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, v >> 16);
	put16(p + 2, v & 0xffff);
}

/*
 * The question (RFC 1035 4.1.2), starting at msg[12]:
 *
 *   QNAME  := label* 0x00            at most 255 bytes in all
 *   label  := len:1 (1..63) byte{len}
 *   QTYPE:2 QCLASS:2
 *
 * A length byte with either of its top bits set (a compression pointer,
 * 0b11, or the retired extended label types, 0b01 and 0b10) is refused, so
 * no pointer is ever followed and the loop reads each byte once. The wire
 * limit of 255 bytes is exactly 253 characters of dotted text.
 */
static int dns_read_question(const uint8_t *msg, size_t len, struct dns_query *q)
{
	size_t pos = DNS_HEADER_LEN;
	size_t wire = 0;
	size_t out = 0;
	bool plain = true;
	for (;;) {
		if (pos >= len)
			return -EBADMSG;
		uint8_t c = msg[pos++];
		if (c == 0)
			break;
		if (c & 0xc0)
			return -EBADMSG;
		/* This label, its length byte and the final 0 must fit in 255. */
		if (wire + 1 + c + 1 > 255 || c > len - pos)
			return -EBADMSG;
		wire += 1 + (size_t)c;
		if (out > 0)
			q->name[out++] = '.';
		for (size_t i = 0; i < c; i++) {
			uint8_t b = msg[pos + i];
			if (b >= 'A' && b <= 'Z')
				b = (uint8_t)(b - 'A' + 'a');
			if (!((b >= 'a' && b <= 'z') || (b >= '0' && b <= '9') || b == '-' || b == '_'))
				plain = false;
			q->name[out++] = (char)b;
		}
		pos += c;
	}
	if (len - pos < 4)
		return -EBADMSG;
	q->name[out] = '\0';
	q->name_len = out;
	q->name_plain = plain && out > 0;
	q->qtype = get16(msg + pos);
	q->qclass = get16(msg + pos + 2);
	q->question_end = pos + 4;
	return 0;
}

/*
 * The OPT pseudo-record (RFC 6891 6.1.2), the only additional record a
 * query may carry here:
 *
 *   NAME 0x00  TYPE 41  CLASS udp_size:2  TTL ext_rcode:1 version:1 DO:1 Z:15
 *   RDLENGTH:2  RDATA := (code:2 len:2 data{len})*   exactly RDLENGTH bytes
 *
 * Anything else in that place (another type, a named owner, TSIG) is
 * malformed for us. Returns the offset after the record.
 */
static int dns_read_opt(const uint8_t *msg, size_t len, size_t pos, struct dns_query *q, size_t *ret_end)
{
	if (len - pos < DNS_OPT_LEN || msg[pos] != 0 || get16(msg + pos + 1) != DNS_TYPE_OPT)
		return -EBADMSG;
	uint16_t udp_size = get16(msg + pos + 3);
	uint8_t version = msg[pos + 6];
	bool dnssec_ok = (msg[pos + 7] & 0x80) != 0;
	size_t rdlen = get16(msg + pos + 9);
	pos += DNS_OPT_LEN;
	if (rdlen > len - pos)
		return -EBADMSG;
	size_t end = pos + rdlen;
	while (pos < end) {
		if (end - pos < 4)
			return -EBADMSG;
		size_t olen = get16(msg + pos + 2);
		pos += 4;
		if (olen > end - pos)
			return -EBADMSG;
		pos += olen;
	}
	q->edns = true;
	q->edns_udp_size = udp_size;
	q->edns_version = version;
	q->edns_do = dnssec_ok;
	*ret_end = end;
	return 0;
}

/*
 * The header (RFC 1035 4.1.1):
 *
 *   ID:2  QR:1 OPCODE:4 AA:1 TC:1 RD:1  RA:1 Z:1 AD:1 CD:1 RCODE:4
 *   QDCOUNT:2  ANCOUNT:2  NSCOUNT:2  ARCOUNT:2
 *
 * then the question, then at most the OPT record, then nothing.
 */
int dns_parse_query(const uint8_t *msg, size_t len, struct dns_query *q)
{
	if (!msg || !q || len < DNS_HEADER_LEN)
		return -EINVAL;
	memset(q, 0, sizeof(*q));
	q->id = get16(msg);
	q->opcode = (msg[2] >> 3) & 0x0f;
	q->rd = (msg[2] & DNS_F2_RD) != 0;
	if (msg[2] & DNS_F2_QR)
		return -EINVAL;
	if (q->opcode != 0)
		return -ENOTSUP;
	if (get16(msg + 4) != 1)
		return -EBADMSG;
	int r = dns_read_question(msg, len, q);
	if (r < 0) {
		q->name[0] = '\0';
		q->name_len = 0;
		q->name_plain = false;
		return r;
	}
	if (get16(msg + 6) != 0 || get16(msg + 8) != 0)
		return -EBADMSG;
	size_t end = q->question_end;
	switch (get16(msg + 10)) {
	case 0:
		break;
	case 1:
		r = dns_read_opt(msg, len, end, q, &end);
		if (r < 0)
			return r;
		break;
	default:
		return -EBADMSG;
	}
	if (end != len) {
		q->edns = false;
		q->edns_udp_size = 0;
		q->edns_version = 0;
		q->edns_do = false;
		return -EBADMSG;
	}
	return 0;
}

size_t dns_udp_limit(const struct dns_query *q)
{
	if (!q || !q->edns)
		return DNS_UDP_PLAIN_MAX;
	if (q->edns_udp_size < DNS_UDP_PLAIN_MAX)
		return DNS_UDP_PLAIN_MAX;
	if (q->edns_udp_size > DNS_UDP_EDNS_MAX)
		return DNS_UDP_EDNS_MAX;
	return q->edns_udp_size;
}

size_t dns_build_response(const uint8_t *msg, size_t qlen, const struct dns_query *q, int rcode,
			  const uint8_t (*addrs)[16], size_t n_addrs, size_t addr_len, uint32_t ttl,
			  size_t max_size, uint8_t *out, size_t out_cap)
{
	if (!q || !out || rcode < 0 || rcode > 0xfff || (rcode > 0x0f && !q->edns))
		return 0;
	size_t qsection = 0;
	if (q->question_end != 0) {
		/* The smallest question is the root name: 1 + 4 bytes. */
		if (!msg || q->question_end < DNS_HEADER_LEN + 5 || q->question_end > qlen ||
		    q->question_end - DNS_HEADER_LEN > 255 + 4)
			return 0;
		qsection = q->question_end - DNS_HEADER_LEN;
	}
	if (n_addrs > 0 && (!addrs || qsection == 0 || (addr_len != 4 && addr_len != 16)))
		return 0;
	if (max_size < DNS_UDP_PLAIN_MAX)
		max_size = DNS_UDP_PLAIN_MAX;
	if (max_size > DNS_TCP_MAX)
		max_size = DNS_TCP_MAX;

	size_t base = DNS_HEADER_LEN + qsection + (q->edns ? DNS_OPT_LEN : 0);
	/* base is at most 12 + 259 + 11, well below 512: the truncated answer
	 * always fits max_size. n_addrs is checked before it is multiplied. */
	size_t rr = DNS_RR_FIXED + addr_len;
	bool truncated = n_addrs > (max_size - base) / rr;
	size_t n = truncated ? 0 : n_addrs;
	size_t total = base + n * rr;
	if (total > out_cap)
		return 0;

	put16(out, q->id);
	out[2] = (uint8_t)(DNS_F2_QR | ((q->opcode & 0x0f) << 3) | DNS_F2_AA | (truncated ? DNS_F2_TC : 0) |
			   (q->rd ? DNS_F2_RD : 0));
	out[3] = (uint8_t)(DNS_F3_RA | (rcode & 0x0f));
	put16(out + 4, qsection ? 1 : 0);
	put16(out + 6, (unsigned)n);
	put16(out + 8, 0);
	put16(out + 10, q->edns ? 1 : 0);
	size_t pos = DNS_HEADER_LEN;
	if (qsection) {
		memcpy(out + pos, msg + DNS_HEADER_LEN, qsection);
		pos += qsection;
	}
	for (size_t i = 0; i < n; i++) {
		put16(out + pos, 0xc000 | DNS_HEADER_LEN);
		put16(out + pos + 2, addr_len == 4 ? DNS_TYPE_A : DNS_TYPE_AAAA);
		put16(out + pos + 4, DNS_CLASS_IN);
		put32(out + pos + 6, ttl);
		put16(out + pos + 10, (unsigned)addr_len);
		memcpy(out + pos + DNS_RR_FIXED, addrs[i], addr_len);
		pos += rr;
	}
	if (q->edns) {
		out[pos] = 0;
		put16(out + pos + 1, DNS_TYPE_OPT);
		put16(out + pos + 3, DNS_UDP_EDNS_MAX);
		out[pos + 5] = (uint8_t)(rcode >> 4);
		out[pos + 6] = 0;
		out[pos + 7] = q->edns_do ? 0x80 : 0;
		out[pos + 8] = 0;
		put16(out + pos + 9, 0);
		pos += DNS_OPT_LEN;
	}
	return pos;
}

size_t dns_tcp_frame_len(const uint8_t *buf, size_t len)
{
	if (!buf || len < 2)
		return 0;
	return 2 + (size_t)get16(buf);
}

void dns_tcp_put_len(uint8_t out[2], size_t msg_len)
{
	put16(out, msg_len > DNS_TCP_MAX ? DNS_TCP_MAX : (unsigned)msg_len);
}

/* ---- The address map ------------------------------------------------------ */

/* SipHash-2-4 (Aumasson and Bernstein), 64-bit output. */
#define ROTL64(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND                                                               \
	do {                                                                   \
		v0 += v1; v1 = ROTL64(v1, 13); v1 ^= v0; v0 = ROTL64(v0, 32);  \
		v2 += v3; v3 = ROTL64(v3, 16); v3 ^= v2;                       \
		v0 += v3; v3 = ROTL64(v3, 21); v3 ^= v0;                       \
		v2 += v1; v1 = ROTL64(v1, 17); v1 ^= v2; v2 = ROTL64(v2, 32);  \
	} while (0)

static uint64_t get64le(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

static uint64_t siphash24(const uint8_t key[16], const uint8_t *data, size_t len)
{
	uint64_t k0 = get64le(key), k1 = get64le(key + 8);
	uint64_t v0 = k0 ^ 0x736f6d6570736575ULL;
	uint64_t v1 = k1 ^ 0x646f72616e646f6dULL;
	uint64_t v2 = k0 ^ 0x6c7967656e657261ULL;
	uint64_t v3 = k1 ^ 0x7465646279746573ULL;
	size_t whole = len - len % 8;
	for (size_t i = 0; i < whole; i += 8) {
		uint64_t m = get64le(data + i);
		v3 ^= m;
		SIPROUND;
		SIPROUND;
		v0 ^= m;
	}
	uint64_t b = (uint64_t)len << 56;
	for (size_t i = 0; i < len % 8; i++)
		b |= (uint64_t)data[whole + i] << (8 * i);
	v3 ^= b;
	SIPROUND;
	SIPROUND;
	v0 ^= b;
	v2 ^= 0xff;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	return v0 ^ v1 ^ v2 ^ v3;
}

/* A slot of the open-addressing table: the name's offset (0: empty) and the
 * low 32 bits of its hash, which place it and spare most string compares. */
struct dns_slot {
	uint32_t off;
	uint32_t hash;
};

struct dns_map {
	uint8_t v4[4];
	unsigned v4_len;
	uint8_t v6[16];
	unsigned v6_len;
	size_t capacity;
	size_t count;            /* names held: offsets 1..count are handed out */
	char **names;            /* names[off - 1]; grown by doubling up to capacity */
	size_t names_cap;
	struct dns_slot *slots;  /* a power of two of them, at most half full */
	size_t n_slots;
	uint8_t key[16];
};

static uint32_t get32(const uint8_t *p)
{
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static const uint8_t dns_v4_mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

/* Do a and b agree on their first bits bits? */
static bool prefix_match(const uint8_t *a, const uint8_t *b, unsigned bits)
{
	size_t whole = bits / 8;
	if (memcmp(a, b, whole) != 0)
		return false;
	unsigned rest = bits % 8;
	if (rest == 0)
		return true;
	uint8_t mask = (uint8_t)(0xff << (8 - rest));
	return ((a[whole] ^ b[whole]) & mask) == 0;
}

/* Are the bits of a after its first bits all zero? */
static bool host_bits_zero(const uint8_t *a, size_t size, unsigned bits)
{
	for (size_t i = bits / 8; i < size; i++) {
		unsigned keep = i == bits / 8 ? bits % 8 : 0;
		uint8_t mask = (uint8_t)(0xff >> keep);
		if (a[i] & mask)
			return false;
	}
	return true;
}

/* How many offsets past the network address a prefix holds, capped (the
 * cap is far below 2^32, so this never needs more than 64 bits). */
static size_t prefix_room(unsigned host_bits, size_t cap)
{
	if (host_bits >= 32)
		return cap;
	size_t room = ((size_t)1 << host_bits) - 1;
	return room < cap ? room : cap;
}

int dns_map_new(const struct dns_map_options *o, struct dns_map **ret)
{
	if (!ret)
		return -EINVAL;
	static const uint8_t def4[4] = DNS_MAP_DEFAULT_V4;
	static const uint8_t def6[16] = DNS_MAP_DEFAULT_V6;
	struct dns_map_options opt = { .capacity = 0 };
	if (o)
		opt = *o;
	if (opt.v4_len == 0) {
		memcpy(opt.v4, def4, 4);
		opt.v4_len = DNS_MAP_DEFAULT_V4_LEN;
	}
	if (opt.v6_len == 0) {
		memcpy(opt.v6, def6, 16);
		opt.v6_len = DNS_MAP_DEFAULT_V6_LEN;
	}
	if (opt.v4_len > 31 || opt.v6_len > 127 || !host_bits_zero(opt.v4, 4, opt.v4_len) ||
	    !host_bits_zero(opt.v6, 16, opt.v6_len) ||
	    prefix_match(opt.v6, dns_v4_mapped, opt.v6_len < 96 ? opt.v6_len : 96))
		return -EINVAL;
	size_t room = prefix_room(32 - opt.v4_len, DNS_MAP_CAPACITY_MAX);
	room = prefix_room(128 - opt.v6_len, room);
	size_t capacity = opt.capacity;
	if (capacity == 0)
		capacity = DNS_MAP_DEFAULT_CAPACITY < room ? DNS_MAP_DEFAULT_CAPACITY : room;
	else if (capacity > room)
		return -EINVAL;

	struct dns_map *m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	memcpy(m->v4, opt.v4, 4);
	m->v4_len = opt.v4_len;
	memcpy(m->v6, opt.v6, 16);
	m->v6_len = opt.v6_len;
	m->capacity = capacity;
	m->n_slots = 64;
	m->slots = calloc(m->n_slots, sizeof(*m->slots));
	if (!m->slots) {
		free(m);
		return -ENOMEM;
	}
	ssize_t got = getrandom(m->key, sizeof(m->key), 0);
	if (got != (ssize_t)sizeof(m->key)) {
		int err = got < 0 ? -errno : -EIO;
		dns_map_free(m);
		return err;
	}
	*ret = m;
	return 0;
}

void dns_map_free(struct dns_map *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->count; i++)
		free(m->names[i]);
	free(m->names);
	free(m->slots);
	free(m);
}

/* The slot holding name, or the empty slot where it would go. */
static struct dns_slot *dns_map_slot(const struct dns_map *m, const char *name, size_t len, uint32_t hash)
{
	size_t mask = m->n_slots - 1;
	for (size_t i = hash & mask;; i = (i + 1) & mask) {
		struct dns_slot *s = &m->slots[i];
		if (s->off == 0)
			return s;
		if (s->hash == hash && strncmp(m->names[s->off - 1], name, len + 1) == 0)
			return s;
	}
}

static int dns_map_grow_slots(struct dns_map *m)
{
	size_t n = m->n_slots * 2;
	struct dns_slot *slots = calloc(n, sizeof(*slots));
	if (!slots)
		return -ENOMEM;
	for (size_t i = 0; i < m->n_slots; i++) {
		struct dns_slot s = m->slots[i];
		if (s.off == 0)
			continue;
		size_t j = s.hash & (n - 1);
		while (slots[j].off != 0)
			j = (j + 1) & (n - 1);
		slots[j] = s;
	}
	free(m->slots);
	m->slots = slots;
	m->n_slots = n;
	return 0;
}

static void dns_map_addrs(const struct dns_map *m, uint32_t off, uint8_t *ret_v4, uint8_t *ret_v6)
{
	/* The host bits of each prefix are zero and off fits in them (or, for
	 * an IPv6 prefix shorter than /96, in its last 32 bits): no carry. */
	if (ret_v4)
		put32(ret_v4, get32(m->v4) + off);
	if (ret_v6) {
		memcpy(ret_v6, m->v6, 12);
		put32(ret_v6 + 12, get32(m->v6 + 12) + off);
	}
}

int dns_map_assign(struct dns_map *m, const char *name, uint8_t ret_v4[4], uint8_t ret_v6[16])
{
	if (!m || !name)
		return -EINVAL;
	size_t len = strnlen(name, DNS_NAME_MAX + 1);
	if (len == 0 || len > DNS_NAME_MAX)
		return -EINVAL;
	uint32_t hash = (uint32_t)siphash24(m->key, (const uint8_t *)name, len);
	struct dns_slot *s = dns_map_slot(m, name, len, hash);
	if (s->off != 0) {
		dns_map_addrs(m, s->off, ret_v4, ret_v6);
		return 0;
	}
	if (m->count >= m->capacity)
		return -ENOSPC;
	if (m->count == m->names_cap) {
		size_t cap = m->names_cap ? m->names_cap * 2 : 64;
		if (cap > m->capacity)
			cap = m->capacity;
		char **names = realloc(m->names, cap * sizeof(*names));
		if (!names)
			return -ENOMEM;
		m->names = names;
		m->names_cap = cap;
	}
	if ((m->count + 1) * 2 > m->n_slots) {
		if (dns_map_grow_slots(m) < 0)
			return -ENOMEM;
		s = dns_map_slot(m, name, len, hash);
	}
	char *copy = malloc(len + 1);
	if (!copy)
		return -ENOMEM;
	memcpy(copy, name, len + 1);
	m->names[m->count++] = copy;
	s->off = (uint32_t)m->count;
	s->hash = hash;
	dns_map_addrs(m, s->off, ret_v4, ret_v6);
	return 0;
}

/* The offset of addr within its prefix, or -1 when outside; an
 * IPv4-mapped IPv6 address counts as IPv4. */
static int64_t dns_map_offset(const struct dns_map *m, int family, const void *addr)
{
	if (!m || !addr)
		return -1;
	const uint8_t *a = addr;
	if (family == AF_INET6 && memcmp(a, dns_v4_mapped, 12) == 0) {
		family = AF_INET;
		a += 12;
	}
	if (family == AF_INET) {
		if (!prefix_match(a, m->v4, m->v4_len))
			return -1;
		return get32(a) - get32(m->v4);
	}
	if (family == AF_INET6) {
		if (!prefix_match(a, m->v6, m->v6_len))
			return -1;
		/* Offsets only ever live in the last 32 bits. */
		if (memcmp(a, m->v6, 12) != 0)
			return INT64_MAX;
		return get32(a + 12) - get32(m->v6 + 12);
	}
	return -1;
}

const char *dns_map_name(const struct dns_map *m, int family, const void *addr)
{
	int64_t off = dns_map_offset(m, family, addr);
	if (off <= 0 || (uint64_t)off > m->count)
		return NULL;
	return m->names[off - 1];
}

bool dns_map_in_range(const struct dns_map *m, int family, const void *addr)
{
	return dns_map_offset(m, family, addr) >= 0;
}
