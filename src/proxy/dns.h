/* The DNS responder of the transparent network mode: query parser, response builder and the map of handed-out addresses; no I/O, no policy. */
#ifndef SRT_PROXY_DNS_H
#define SRT_PROXY_DNS_H

/*
 * Inside the sandbox, /etc/resolv.conf names 127.0.0.1:53 of the sandbox's
 * own network namespace, where the supervisor answers. For a name the
 * policy allows it answers A/AAAA with addresses it hands out itself (the
 * map below) and remembers which name each address stands for, so that a
 * later connect() to that address is judged, and dialed, by name. A denied
 * name gets NXDOMAIN; other record types get NOERROR without records. No
 * name is ever sent on to the host's resolver.
 *
 * Everything here reads bytes a hostile sandbox wrote: every length and
 * offset is checked before use, compression pointers are refused where a
 * query has no reason to use them (so none is ever followed), and the work
 * per message is bounded by its length.
 *
 * Thread-safety: none of these functions keeps hidden state; a dns_map is
 * not locked, so its caller serialises every call on it (the supervisor
 * uses it from its one loop thread).
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DNS_HEADER_LEN 12
#define DNS_LABEL_MAX 63
#define DNS_NAME_MAX 253        /* dotted text, without the trailing dot */
#define DNS_UDP_PLAIN_MAX 512   /* a UDP answer to a query without EDNS (RFC 1035 2.3.4) */
#define DNS_UDP_EDNS_MAX 1232   /* our largest UDP answer: the DNS flag day 2020 size */
#define DNS_TCP_MAX 65535       /* a TCP message's 2-byte length prefix */

/* Record types and the class this module names. */
#define DNS_TYPE_A 1
#define DNS_TYPE_AAAA 28
#define DNS_TYPE_OPT 41
#define DNS_TYPE_ANY 255
#define DNS_CLASS_IN 1

/* RCODE values. BADVERS is an extended code (RFC 6891 6.1.3): it only
 * exists in an answer carrying an OPT record. */
#define DNS_RCODE_NOERROR 0
#define DNS_RCODE_FORMERR 1
#define DNS_RCODE_SERVFAIL 2
#define DNS_RCODE_NXDOMAIN 3
#define DNS_RCODE_NOTIMP 4
#define DNS_RCODE_REFUSED 5
#define DNS_RCODE_BADVERS 16

/* What dns_parse_query() read. */
struct dns_query {
	uint16_t id;
	uint8_t opcode;          /* copied into the answer */
	bool rd;                 /* recursion desired: copied into the answer */
	/* The question name, lowercase (ASCII letters only are folded), dotted,
	 * without the trailing dot; "" for the root. NUL-terminated, name_len
	 * bytes long: the bytes inside a label are kept as sent, so a label may
	 * hold a '.', a NUL or any other byte. */
	char name[DNS_NAME_MAX + 1];
	size_t name_len;
	/* Every byte of every label is one of [a-z0-9_-] (after folding), so
	 * name reads the same as a C string and as dotted labels. When false,
	 * the name is no host name: answer it as denied, never look it up. The
	 * root name is not plain. */
	bool name_plain;
	uint16_t qtype;
	uint16_t qclass;
	/* Where the question ends in the message (12 + name + 4); 0 when the
	 * question was not read. The answer copies msg[12..question_end), so
	 * the name goes back with the case the client chose (a client may
	 * check it, as a defence against spoofing). */
	size_t question_end;
	/* The EDNS OPT record (RFC 6891), when the query had one. */
	bool edns;
	uint16_t edns_udp_size;  /* as sent; a value below 512 means 512 */
	uint8_t edns_version;    /* above 0: answer DNS_RCODE_BADVERS */
	bool edns_do;            /* DNSSEC OK: copied into the answer's OPT */
};

/*
 * Parse msg[0..len), one query as it arrived (a UDP datagram, or a TCP
 * message without its length prefix).
 *
 * Accepted: a standard query: QR 0, OPCODE 0, QDCOUNT 1, ANCOUNT 0,
 * NSCOUNT 0, ARCOUNT 0, or 1 when that record is an OPT record (root
 * owner, its options well-formed), and no byte after the last record.
 * The question name has labels of 1..63 bytes, at most 253 characters in
 * dotted form, and no compression pointer (a client has nothing earlier
 * to point at). The AA, TC, Z, AD, CD and RCODE bits of a query are ignored.
 *
 * Returns 0 with *q filled, or:
 *   -EINVAL    fewer than 12 bytes, or QR 1 (an answer): drop it, unanswered
 *              (answering answers is how reflection loops start).
 *   -ENOTSUP   an OPCODE other than QUERY: answer DNS_RCODE_NOTIMP.
 *   -EBADMSG   anything else malformed: answer DNS_RCODE_FORMERR.
 * On -ENOTSUP and -EBADMSG, *q still holds what the error answer needs:
 * id, opcode, rd, and the question (question_end != 0) when it was read;
 * edns is false, so the error answer has no OPT record.
 */
int dns_parse_query(const uint8_t *msg, size_t len, struct dns_query *q);

/* The largest UDP answer to q: 512 without EDNS, else the client's size,
 * within 512..1232. Over TCP, pass DNS_TCP_MAX instead. */
size_t dns_udp_limit(const struct dns_query *q);

/*
 * Write into out the answer to the query msg[0..qlen) that dns_parse_query()
 * read into q (msg may be NULL when q->question_end is 0).
 *
 * Header: q's id and opcode, QR 1, AA 1, RD as q->rd, RA 1, rcode's low
 * four bits. Question: copied from the query when q->question_end != 0,
 * else none (QDCOUNT 0: the FORMERR or NOTIMP answer to a message whose
 * question could not be read). Answers: n_addrs records, A when addr_len
 * is 4 (each addrs[i][0..4)), AAAA when 16, class IN, the given ttl, owner
 * a compression pointer to the question's name. Additional: an OPT record
 * when q->edns (UDP size 1232, version 0, q's DO bit, the high bits of
 * rcode, no options).
 *
 * When the whole answer would be longer than max_size (taken as at least
 * 512 and at most 65535; see dns_udp_limit()), the answer records are
 * dropped and TC is set, so that the client asks again over TCP.
 *
 * Returns the length written, or 0 when out_cap is too small for it, or
 * for arguments that cannot make an answer: rcode above 4095, or above 15
 * without q->edns; addresses without a question, or with an addr_len
 * other than 4 or 16; a question_end that does not fit qlen.
 */
size_t dns_build_response(const uint8_t *msg, size_t qlen, const struct dns_query *q, int rcode,
			  const uint8_t (*addrs)[16], size_t n_addrs, size_t addr_len, uint32_t ttl,
			  size_t max_size, uint8_t *out, size_t out_cap);

/* DNS over TCP (RFC 1035 4.2.2, RFC 7766) puts a 2-byte big-endian length
 * in front of each message. How many bytes the first message of buf[0..len)
 * takes with its prefix (2 + its length), or 0 when fewer than 2 bytes have
 * arrived; the message is complete once len reaches that, and starts at
 * buf + 2. An answer goes out behind dns_tcp_put_len(). */
size_t dns_tcp_frame_len(const uint8_t *buf, size_t len);
void dns_tcp_put_len(uint8_t out[2], size_t msg_len);

/* ---- The address map -------------------------------------------------------
 *
 * Each name gets one IPv4 and one IPv6 address, at the same offset within
 * each prefix, for the map's whole life. Addresses are never taken back
 * nor given to another name: a connection the sandbox opened to name A
 * must never reach name B. The network address of a prefix (offset 0) is
 * never handed out.
 *
 * Names are kept in a hash table with a random key (SipHash-2-4 under a
 * key from getrandom), so a sandbox cannot choose names that collide, and
 * addresses in an array indexed by offset: every call below is O(1) on
 * average. Memory grows with the names assigned: up to name length + 72
 * bytes each (the name's allocation, its array entry, two to four table
 * slots), so at most 21 MB for 65536 names of 253 characters.
 */

struct dns_map;

/* The defaults: 198.18.0.0/15, the benchmarking range of RFC 2544 that no
 * real host uses, and fd53:7274:7300::/96, a unique-local prefix (RFC 4193)
 * chosen for this ("Srt" in its global ID); both only mean something inside
 * the sandbox's network namespace. */
#define DNS_MAP_DEFAULT_V4 { 198, 18, 0, 0 }
#define DNS_MAP_DEFAULT_V4_LEN 15
#define DNS_MAP_DEFAULT_V6 { 0xfd, 0x53, 0x72, 0x74, 0x73, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 }
#define DNS_MAP_DEFAULT_V6_LEN 96
#define DNS_MAP_DEFAULT_CAPACITY 65536
#define DNS_MAP_CAPACITY_MAX (1u << 24)

struct dns_map_options {
	/* A prefix length of 0 takes the default prefix. Otherwise v4_len is
	 * 1..31 and v6_len 1..127, the address's host bits are zero, and the
	 * IPv6 prefix does not overlap ::ffff:0:0/96 (IPv4-mapped). */
	uint8_t v4[4];
	unsigned v4_len;
	uint8_t v6[16];
	unsigned v6_len;
	/* The most names the map will ever hold, at most DNS_MAP_CAPACITY_MAX;
	 * 0 takes the default, cut down to what the prefixes hold. A capacity
	 * larger than either prefix holds (its size less the network address)
	 * is an error. */
	size_t capacity;
};

/* Make a map (o NULL: all defaults) into *ret, freed with dns_map_free().
 * Returns 0, -EINVAL for bad options, -ENOMEM, or getrandom()'s error. */
int dns_map_new(const struct dns_map_options *o, struct dns_map **ret);

/* Free the map and every name it holds; NULL is a no-op. */
void dns_map_free(struct dns_map *m);

/* The addresses of name (1..253 bytes, compared byte for byte: pass the
 * lowercase form, as dns_parse_query() gives it), handing out the next
 * pair when the name is new. Writes ret_v4 and ret_v6 (each may be NULL)
 * on success only. Returns 0; -EINVAL for a NULL, empty or too long name;
 * -ENOSPC when the map holds capacity names already; -ENOMEM. */
int dns_map_assign(struct dns_map *m, const char *name, uint8_t ret_v4[4], uint8_t ret_v6[16]);

/* The name addr was handed out for, or NULL: an address outside the
 * prefixes, never handed out, or of another family. family is AF_INET
 * (addr: 4 bytes) or AF_INET6 (16 bytes, network order); an IPv4-mapped
 * IPv6 address (::ffff:a.b.c.d) is looked up as its IPv4 address, since a
 * dual-stack socket connects to IPv4 that way. The name lives as long as
 * the map. */
const char *dns_map_name(const struct dns_map *m, int family, const void *addr);

/* Does addr lie within the map's prefixes, handed out or not (network
 * address included)? Same family and IPv4-mapped rules as dns_map_name(). */
bool dns_map_in_range(const struct dns_map *m, int family, const void *addr);

#endif
