/* The DNS responder of the transparent network mode: query parser and response builder; no I/O, no policy. */
#include "proxy/dns.h"

#include <errno.h>
#include <string.h>

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
